/*
 * tls: where libpython's C11 thread-local variables live, as constant offsets from the
 * thread pointer, so the signal handler reads them with one load and never calls
 * __tls_get_addr (which may allocate or lock; cpython-frames.md §2.4).
 *
 * A library loaded at start-up (DT_NEEDED, or the executable itself) has its TLS block in
 * static TLS, at the same distance from the thread pointer in every thread. That distance is
 * found once, in normal context, from the calling thread: the module's TLS block
 * (dl_iterate_phdr's dlpi_tls_data) plus the variable's offset inside it, which comes from
 * decoding an exported accessor's machine code (x86-64: general-dynamic, local-dynamic,
 * initial-exec and local-exec sequences) or, failing that, from the file's .symtab.
 *
 * Loader-private. pyi_tls_thread_pointer_sigsafe() is async-signal-safe; the rest runs in
 * normal context only.
 */
#ifndef PYI_TLS_H
#define PYI_TLS_H

#include <stddef.h>
#include <stdint.h>

#define PYI_TLS_MAX_SEGMENTS 16

/* The loaded module that contains some address, as dl_iterate_phdr describes it. */
struct pyi_tls_module {
	uintptr_t bias;        /* dlpi_addr */
	size_t modid;          /* dlpi_tls_modid; 0 when the module has no TLS */
	uintptr_t block;       /* dlpi_tls_data: the calling thread's block, 0 if none */
	size_t block_size;     /* PT_TLS p_memsz */
	int is_main;           /* the main executable */
	char path[4096];       /* file to read .symtab from */
	unsigned nseg;
	struct {
		uintptr_t start, end;
	} seg[PYI_TLS_MAX_SEGMENTS]; /* PT_LOAD ranges, to bound reads of code and GOT */
};

/* How an accessor reaches its variable, as decoded from its code. */
enum pyi_tls_form {
	PYI_TLS_FORM_TPOFF = 1,    /* local-exec: value is the tp offset itself */
	PYI_TLS_FORM_GOT_TPOFF,    /* initial-exec: the GOT slot holds the tp offset */
	PYI_TLS_FORM_GOT_INDEX,    /* general-dynamic: slot is tls_index {module, offset} */
	PYI_TLS_FORM_GOT_MODULE,   /* local-dynamic: slot is tls_index; value is the offset */
};

struct pyi_tls_access {
	enum pyi_tls_form form;
	intptr_t value;  /* TPOFF: tp offset; GOT_MODULE: offset in the block */
	uintptr_t slot;  /* GOT slot address (all forms but TPOFF) */
};

/* Fills *m for the module containing addr. 0, or -ENOENT. */
int pyi_tls_find_module(uintptr_t addr, struct pyi_tls_module *m);

/*
 * Recognises how the machine code at code[0..len) (which is mapped at code_addr) loads a
 * thread-local pointer into %rax. Pure; returns 0, or -ENOENT when no known sequence is
 * found (and always -ENOENT off x86-64).
 */
int pyi_tls_decode(const unsigned char *code, size_t len, uintptr_t code_addr,
		   struct pyi_tls_access *out);

/*
 * The thread-pointer offset of the variable the function at accessor returns, found by
 * decoding it. 0, or -errno with a reason in why.
 */
int pyi_tls_from_accessor(const struct pyi_tls_module *m, uintptr_t accessor, intptr_t *tpoff,
			  char *why, size_t why_len);

/* The thread-pointer offset of the STT_TLS symbol name, from m's .symtab. 0, or -errno. */
int pyi_tls_from_symtab(const struct pyi_tls_module *m, const char *name, intptr_t *tpoff,
			char *why, size_t why_len);

/*
 * Both of the above: the accessor first (it works on stripped files), then .symtab.
 * accessor may be 0. On success *how says which method answered.
 */
int pyi_tls_locate(const struct pyi_tls_module *m, uintptr_t accessor, const char *name,
		   intptr_t *tpoff, const char **how, char *why, size_t why_len);

/* The calling thread's thread pointer (x86-64: %fs base); 0 where unsupported. */
static inline uintptr_t pyi_tls_thread_pointer_sigsafe(void)
{
#if defined(__x86_64__)
	uintptr_t tp;

	/* The TCB's first word points to itself (glibc and musl), so this is the %fs base. */
	__asm__ volatile("mov %%fs:0, %0" : "=r"(tp));
	return tp;
#else
	return 0;
#endif
}

#endif

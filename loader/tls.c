/*
 * tls: thread-pointer offsets of libpython's thread-locals. See tls.h.
 *
 * The sequences recognised (x86-64, %rax result), by the way the variable was compiled:
 *   general-dynamic  66 48 8d 3d <d32>     data16 lea tls_index(%rip),%rdi
 *                    66 66 48 e8 <r32>     data16 data16 rex.W call __tls_get_addr
 *                    (or 66 48 ff 15 <d32>, call *__tls_get_addr@GOTPCREL(%rip))
 *                    48 8b 00              mov (%rax),%rax
 *                    The pyenv libpython 3.12/3.13 accessors look exactly like this.
 *   local-dynamic    48 8d 3d <d32>; call __tls_get_addr; 48 8b 80 <d32>
 *   initial-exec     48 8b 05 <d32>        mov slot(%rip),%rax     (slot holds the tp offset)
 *                    64 48 8b 00           mov %fs:(%rax),%rax
 *   local-exec       64 48 8b 04 25 <d32>  mov %fs:d32,%rax
 *                    or 64 48 8b 04 25 00000000 (mov %fs:0,%rax) followed by
 *                    48 8b 80 <d32> / 48 8b 40 <d8> / 48 8d 80 <d32>; 48 8b 00
 *                    (what the linker leaves after relaxing the dynamic forms in an
 *                    executable, e.g. a libpython linked statically into python).
 */
#include "loader/tls.h"

#include "loader/elfsym.h"

#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

/* Static TLS sits just below the thread pointer (x86-64 TLS variant II). */
#define STATIC_TLS_SPAN ((intptr_t)1 << 24)
#define CODE_WINDOW 64

struct find_ctx {
	uintptr_t addr;
	unsigned index;
	int found;
	struct pyi_tls_module *m;
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct find_ctx *ctx = data;
	unsigned index = ctx->index++;
	int hit = 0;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && ctx->addr >= start && ctx->addr - start < ph->p_memsz)
			hit = 1;
	}
	if (!hit)
		return 0;

	struct pyi_tls_module *m = ctx->m;
	memset(m, 0, sizeof(*m));
	m->bias = info->dlpi_addr;
	m->modid = info->dlpi_tls_modid;
	m->block = (uintptr_t)info->dlpi_tls_data;
	m->is_main = index == 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_TLS)
			m->block_size = ph->p_memsz;
		if (ph->p_type == PT_LOAD && m->nseg < PYI_TLS_MAX_SEGMENTS) {
			m->seg[m->nseg].start = info->dlpi_addr + ph->p_vaddr;
			m->seg[m->nseg].end = m->seg[m->nseg].start + ph->p_memsz;
			m->nseg++;
		}
	}
	/* The main program's link_map name is empty; its file is /proc/self/exe. */
	const char *path = m->is_main || !info->dlpi_name || !info->dlpi_name[0]
				   ? "/proc/self/exe"
				   : info->dlpi_name;
	snprintf(m->path, sizeof(m->path), "%s", path);
	ctx->found = 1;
	return 1;
}

int pyi_tls_find_module(uintptr_t addr, struct pyi_tls_module *m)
{
	struct find_ctx ctx = { .addr = addr, .m = m };

	dl_iterate_phdr(find_cb, &ctx);
	return ctx.found ? 0 : -ENOENT;
}

/* How many bytes from addr (at most want) lie inside the loaded segment holding addr. */
static size_t mapped_len(const struct pyi_tls_module *m, uintptr_t addr, size_t want)
{
	for (unsigned i = 0; i < m->nseg; i++) {
		if (addr >= m->seg[i].start && addr < m->seg[i].end) {
			size_t room = m->seg[i].end - addr;

			return room < want ? room : want;
		}
	}
	return 0;
}

/* Non-zero when [addr, addr+len) lies inside one of m's loaded segments. */
static int mapped(const struct pyi_tls_module *m, uintptr_t addr, size_t len)
{
	return mapped_len(m, addr, len) == len;
}

static int32_t d32(const unsigned char *p)
{
	int32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Is there room for n bytes at i, and do they equal pat? */
static int match(const unsigned char *code, size_t len, size_t i, const char *pat, size_t n)
{
	return i <= len && n <= len - i && memcmp(code + i, pat, n) == 0;
}

/* A call to __tls_get_addr at i: e8 <r32>, 48 e8 <r32> with prefixes, or ff 15 <d32>.
 * Returns its length, or 0. */
static size_t tls_call_len(const unsigned char *code, size_t len, size_t i)
{
	if (match(code, len, i, "\x66\x66\x48\xe8", 4) || match(code, len, i, "\x66\x48\xff\x15", 4))
		return 8;
	if (match(code, len, i, "\xe8", 1) && len - i >= 5)
		return 5;
	if (match(code, len, i, "\xff\x15", 2) && len - i >= 6)
		return 6;
	return 0;
}

/* After "mov %fs:0,%rax" at i (9 bytes): the instruction that reaches the variable. */
static int decode_after_tp(const unsigned char *code, size_t len, size_t i,
			   struct pyi_tls_access *out)
{
	if (match(code, len, i, "\x48\x8b\x80", 3) && len - i >= 7) {
		out->value = d32(code + i + 3);
	} else if (match(code, len, i, "\x48\x8b\x40", 3) && len - i >= 4) {
		out->value = (int8_t)code[i + 3];
	} else if (match(code, len, i, "\x48\x8d\x80", 3) && len - i >= 7 &&
		   match(code, len, i + 7, "\x48\x8b\x00", 3)) {
		out->value = d32(code + i + 3);
	} else {
		return -ENOENT;
	}
	out->form = PYI_TLS_FORM_TPOFF;
	out->slot = 0;
	return 0;
}

int pyi_tls_decode(const unsigned char *code, size_t len, uintptr_t code_addr,
		   struct pyi_tls_access *out)
{
#if defined(__x86_64__)
	for (size_t i = 0; i < len; i++) {
		/* general-dynamic */
		if (match(code, len, i, "\x66\x48\x8d\x3d", 4) && len - i >= 8) {
			size_t call = tls_call_len(code, len, i + 8);

			if (call == 8 && match(code, len, i + 16, "\x48\x8b\x00", 3)) {
				out->form = PYI_TLS_FORM_GOT_INDEX;
				out->slot = code_addr + i + 8 + (intptr_t)d32(code + i + 4);
				out->value = 0;
				return 0;
			}
		}
		/* local-dynamic */
		if (match(code, len, i, "\x48\x8d\x3d", 3) && len - i >= 7 &&
		    (i == 0 || code[i - 1] != 0x66)) {
			size_t call = tls_call_len(code, len, i + 7);
			size_t j = i + 7 + call;

			if (call && match(code, len, j, "\x48\x8b\x80", 3) && len - j >= 7) {
				out->form = PYI_TLS_FORM_GOT_MODULE;
				out->slot = code_addr + i + 7 + (intptr_t)d32(code + i + 3);
				out->value = d32(code + j + 3);
				return 0;
			}
		}
		/* initial-exec */
		if (match(code, len, i, "\x48\x8b\x05", 3) && len - i >= 7 &&
		    match(code, len, i + 7, "\x64\x48\x8b\x00", 4)) {
			out->form = PYI_TLS_FORM_GOT_TPOFF;
			out->slot = code_addr + i + 7 + (intptr_t)d32(code + i + 3);
			out->value = 0;
			return 0;
		}
		/* local-exec */
		if (match(code, len, i, "\x64\x48\x8b\x04\x25", 5) && len - i >= 9) {
			int32_t disp = d32(code + i + 5);

			if (disp != 0) {
				out->form = PYI_TLS_FORM_TPOFF;
				out->value = disp;
				out->slot = 0;
				return 0;
			}
			if (decode_after_tp(code, len, i + 9, out) == 0)
				return 0;
		}
	}
#else
	(void)code;
	(void)len;
	(void)code_addr;
	(void)out;
#endif
	return -ENOENT;
}

/* tp offset of the variable at offset var_off inside m's block (as seen by this thread). */
static int block_tpoff(const struct pyi_tls_module *m, uint64_t var_off, intptr_t *tpoff,
		       char *why, size_t why_len)
{
	uintptr_t tp = pyi_tls_thread_pointer_sigsafe();

	if (!m->block || !tp) {
		snprintf(why, why_len, "the TLS block of %s is not allocated for this thread",
			 m->path);
		return -ENOENT;
	}
	if (m->block_size && var_off + sizeof(void *) > m->block_size) {
		snprintf(why, why_len, "TLS offset %llu is outside the %zu-byte block of %s",
			 (unsigned long long)var_off, m->block_size, m->path);
		return -ERANGE;
	}
	*tpoff = (intptr_t)(m->block - tp) + (intptr_t)var_off;
	return 0;
}

/* Accepts only offsets inside the static TLS area below the thread pointer. */
static int check_static(intptr_t tpoff, const struct pyi_tls_module *m, char *why,
			size_t why_len)
{
	if (tpoff < -STATIC_TLS_SPAN || tpoff > -(intptr_t)sizeof(void *)) {
		snprintf(why, why_len,
			 "the thread-local in %s is not in static TLS (tp offset %ld); was "
			 "libpython loaded with dlopen?",
			 m->path, (long)tpoff);
		return -ERANGE;
	}
	return 0;
}

int pyi_tls_from_accessor(const struct pyi_tls_module *m, uintptr_t accessor, intptr_t *tpoff,
			  char *why, size_t why_len)
{
	struct pyi_tls_access acc;
	uint64_t slot[2];
	intptr_t off;
	int rc;

	/* The window stops at the end of the segment: a small accessor can be its last bytes. */
	size_t window = accessor ? mapped_len(m, accessor, CODE_WINDOW) : 0;
	if (window == 0) {
		snprintf(why, why_len, "no accessor function to decode in %s", m->path);
		return -ENOENT;
	}
	if (pyi_tls_decode((const unsigned char *)accessor, window, accessor, &acc) != 0) {
		snprintf(why, why_len, "the accessor at %s+%#lx is not a recognised TLS access",
			 m->path, (unsigned long)(accessor - m->bias));
		return -ENOENT;
	}
	if (acc.form != PYI_TLS_FORM_TPOFF) {
		if (!mapped(m, acc.slot, sizeof(slot))) {
			snprintf(why, why_len, "the accessor's GOT slot is outside %s", m->path);
			return -ERANGE;
		}
		memcpy(slot, (const void *)acc.slot, sizeof(slot));
	}
	switch (acc.form) {
	case PYI_TLS_FORM_TPOFF:
		off = acc.value;
		break;
	case PYI_TLS_FORM_GOT_TPOFF:
		off = (intptr_t)slot[0];
		break;
	case PYI_TLS_FORM_GOT_INDEX:
	case PYI_TLS_FORM_GOT_MODULE:
		/* tls_index {ti_module, ti_offset}; the module must be this library. */
		if (slot[0] != m->modid) {
			snprintf(why, why_len, "the accessor's TLS module id %llu is not %s's (%zu)",
				 (unsigned long long)slot[0], m->path, m->modid);
			return -EINVAL;
		}
		rc = block_tpoff(m,
				 acc.form == PYI_TLS_FORM_GOT_INDEX ? slot[1] : (uint64_t)acc.value,
				 &off, why, why_len);
		if (rc)
			return rc;
		break;
	default:
		return -EINVAL;
	}
	rc = check_static(off, m, why, why_len);
	if (rc)
		return rc;
	*tpoff = off;
	return 0;
}

int pyi_tls_from_symtab(const struct pyi_tls_module *m, const char *name, intptr_t *tpoff,
			char *why, size_t why_len)
{
	uint64_t value;
	intptr_t off;
	int rc = pyi_elfsym_tls_value(m->path, name, &value);

	if (rc) {
		snprintf(why, why_len, "%s is not in the symbol table of %s (%s)", name, m->path,
			 rc == -ENOENT ? "stripped?" : strerror(-rc));
		return rc;
	}
	rc = block_tpoff(m, value, &off, why, why_len);
	if (rc)
		return rc;
	rc = check_static(off, m, why, why_len);
	if (rc)
		return rc;
	*tpoff = off;
	return 0;
}

int pyi_tls_locate(const struct pyi_tls_module *m, uintptr_t accessor, const char *name,
		   intptr_t *tpoff, const char **how, char *why, size_t why_len)
{
	char first[160];

	if (pyi_tls_from_accessor(m, accessor, tpoff, first, sizeof(first)) == 0) {
		*how = "decoded accessor";
		return 0;
	}
	int rc = pyi_tls_from_symtab(m, name, tpoff, why, why_len);
	if (rc == 0) {
		*how = "symbol table";
		return 0;
	}
	size_t used = strlen(why);
	if (used + 2 < why_len)
		snprintf(why + used, why_len - used, "; %s", first);
	return rc;
}

/*
 * elfsym: looks a symbol up in an ELF file's own symbol tables (.symtab, then .dynsym), for
 * the symbols dlsym cannot see: libpython's thread-locals are LOCAL STT_TLS symbols that only
 * an unstripped .symtab lists (cpython-frames.md §1, §2.4); and the names an executable
 * imports, which tell CPython's own program from one that embeds it.
 *
 * Loader-private; normal context only (opens and maps the file, then unmaps it). Every
 * offset read from the file is bounds-checked: the file is input, not trusted.
 */
#ifndef PYI_ELFSYM_H
#define PYI_ELFSYM_H

#include <stdint.h>

/*
 * Finds the symbol called name with type STT_TLS in the ELF file at path and stores its
 * st_value (the offset inside the module's TLS block) in *value. Returns 0, -ENOENT when the
 * file has no such symbol (for instance it is stripped), or another -errno.
 */
int pyi_elfsym_tls_value(const char *path, const char *name, uint64_t *value);

/*
 * Whether the dynamic symbol table (.dynsym) of the ELF file at path names a symbol called
 * name, defined there or only referenced: 1 yes, 0 no, or -errno when the file cannot be
 * opened (-ENOENT: there is none) or read as ELF (-ENOEXEC).
 */
int pyi_elfsym_dynamic_names(const char *path, const char *name);

#endif

/*
 * elfsym: symbol lookup in an ELF file's .symtab/.dynsym. See elfsym.h.
 */
#include "loader/elfsym.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Non-zero when [off, off+len) lies inside a file of size size. */
static int in_file(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* What a search looks for: a name, of one symbol type or any (ANY_TYPE). A search that
 * reads the file and does not find it returns NOT_FOUND (a missing file is -ENOENT). */
#define ANY_TYPE (-1)
#define NOT_FOUND 1
struct wanted {
	const char *name;
	int type;
};

/* Searches one symbol table section; 0 with *value set, or NOT_FOUND. */
static int search_table(const unsigned char *file, uint64_t size, const Elf64_Shdr *shdrs,
			unsigned shnum, const Elf64_Shdr *tab, const struct wanted *want,
			uint64_t *value)
{
	const char *name = want->name;
	const Elf64_Shdr *strtab;
	size_t name_len = strlen(name);

	if (tab->sh_entsize != sizeof(Elf64_Sym) || tab->sh_link >= shnum)
		return NOT_FOUND;
	strtab = &shdrs[tab->sh_link];
	if (!in_file(tab->sh_offset, tab->sh_size, size) ||
	    !in_file(strtab->sh_offset, strtab->sh_size, size))
		return NOT_FOUND;

	uint64_t count = tab->sh_size / sizeof(Elf64_Sym);
	for (uint64_t i = 0; i < count; i++) {
		Elf64_Sym sym;

		memcpy(&sym, file + tab->sh_offset + i * sizeof(sym), sizeof(sym));
		if (want->type != ANY_TYPE && ELF64_ST_TYPE(sym.st_info) != want->type)
			continue;
		if (sym.st_name >= strtab->sh_size || strtab->sh_size - sym.st_name <= name_len)
			continue;
		const char *s = (const char *)file + strtab->sh_offset + sym.st_name;
		if (memcmp(s, name, name_len + 1) == 0) {
			*value = sym.st_value;
			return 0;
		}
	}
	return NOT_FOUND;
}

/* Searches the tables of the types in order, first to last. */
static int search_file(const unsigned char *file, uint64_t size, const uint32_t *order,
		       size_t tables, const struct wanted *want, uint64_t *value)
{
	Elf64_Ehdr eh;

	if (size < sizeof(eh))
		return -ENOEXEC;
	memcpy(&eh, file, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shnum > 65000 ||
	    !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), size) ||
	    eh.e_shoff % 8 != 0)
		return -ENOEXEC;

	const Elf64_Shdr *shdrs = (const Elf64_Shdr *)(file + eh.e_shoff);
	for (size_t k = 0; k < tables; k++) {
		for (unsigned i = 0; i < eh.e_shnum; i++) {
			if (shdrs[i].sh_type == order[k] &&
			    search_table(file, size, shdrs, eh.e_shnum, &shdrs[i], want, value) == 0)
				return 0;
		}
	}
	return NOT_FOUND;
}

static int search_path(const char *path, const uint32_t *order, size_t tables,
		       const struct wanted *want, uint64_t *value)
{
	struct stat st;
	void *map = MAP_FAILED;
	int rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
		rc = -ENOEXEC;
		goto out;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	rc = search_file(map, (uint64_t)st.st_size, order, tables, want, value);
out:
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	close(fd);
	return rc;
}

int pyi_elfsym_tls_value(const char *path, const char *name, uint64_t *value)
{
	/* .symtab first: it has the LOCAL symbols; .dynsym only the exported ones. */
	static const uint32_t order[] = { SHT_SYMTAB, SHT_DYNSYM };
	struct wanted want = { name, STT_TLS };
	int rc = search_path(path, order, 2, &want, value);
	return rc == NOT_FOUND ? -ENOENT : rc;
}

int pyi_elfsym_dynamic_names(const char *path, const char *name)
{
	static const uint32_t order[] = { SHT_DYNSYM };
	struct wanted want = { name, ANY_TYPE };
	uint64_t value;
	int rc = search_path(path, order, 1, &want, &value);
	return rc == 0 ? 1 : rc == NOT_FOUND ? 0 : rc;
}

/*
 * detect: recognises the CPython in this process and fills struct pyi_python.
 *
 * Runs once, in normal context, from the agent's constructor: usually before Py_Initialize,
 * so it reads only statically initialised data (Py_Version, Py_GetVersion(), the
 * _Py_DebugOffsets at the start of _PyRuntime) and symbol addresses. In a process without
 * CPython the first dlsym() fails and nothing else is touched: this path runs in every
 * `ls` and `make` started under LD_PRELOAD, so it stays one lookup, silent.
 */
#include "loader/loader.h"

#include "loader/elfsym.h"
#include "loader/layout.h"
#include "loader/tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MINOR 8
#define MAX_MINOR 15
/* 3.15.0b4 inserted thread_state.last_profiled_frame_seq into _Py_DebugOffsets; the field
 * list in layout.c is that of 3.15.0b4 and later (cpython-frames.md §6.1). */
#define FIRST_KNOWN_3_15 0x030f00b4UL

static void *sym(const char *name)
{
	return dlsym(RTLD_DEFAULT, name);
}

/* Parses "3.10.0rc2+ (main, ...) [GCC ...]" into PY_VERSION_HEX form. 0, or -EINVAL. */
static int parse_version(const char *s, unsigned long *hex)
{
	char *end;
	unsigned long major, minor, micro = 0, level = 0xf, serial = 0;

	major = strtoul(s, &end, 10);
	if (end == s || *end != '.')
		return -EINVAL;
	s = end + 1;
	minor = strtoul(s, &end, 10);
	if (end == s)
		return -EINVAL;
	if (*end == '.') {
		s = end + 1;
		micro = strtoul(s, &end, 10);
		if (end == s)
			return -EINVAL;
	}
	if (end[0] == 'a' || end[0] == 'b' || (end[0] == 'r' && end[1] == 'c')) {
		level = end[0] == 'a' ? 0xa : end[0] == 'b' ? 0xb : 0xc;
		s = end + (level == 0xc ? 2 : 1);
		serial = strtoul(s, &end, 10);
	}
	if (major > 0xff || minor > 0xff || micro > 0xff || serial > 0xf)
		return -EINVAL;
	*hex = (major << 24) | (minor << 16) | (micro << 8) | (level << 4) | serial;
	return 0;
}

static void set_version(struct pyi_python *py, unsigned long hex)
{
	static const char *const levels[16] = { [0xa] = "a", [0xb] = "b", [0xc] = "rc" };
	unsigned level = (hex >> 4) & 0xf;

	py->hexversion = hex;
	py->major = (hex >> 24) & 0xff;
	py->minor = (hex >> 16) & 0xff;
	py->micro = (hex >> 8) & 0xff;
	if (levels[level])
		snprintf(py->version, sizeof(py->version), "%u.%u.%u%s%lu", py->major, py->minor,
			 py->micro, levels[level], hex & 0xf);
	else
		snprintf(py->version, sizeof(py->version), "%u.%u.%u", py->major, py->minor,
			 py->micro);
}

/* Py_REF_DEBUG / Py_TRACE_REFS builds export these; release builds do not. */
static const char *debug_build_marker(void)
{
	static const char *const names[] = { "_Py_NegativeRefcount", "_Py_RefTotal",
					     "_Py_PrintReferences", "_Py_ForgetReference" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (sym(names[i]))
			return names[i];
	return NULL;
}

/* 3.13+: the debug cookie, its version and the free-threading flag. */
static int check_cookie(const struct pyi_python *py, const unsigned char *rt, char *why,
			size_t why_len)
{
	uint64_t version, free_threaded;

	if (memcmp(rt, "xdebugpy", 8) != 0) {
		snprintf(why, why_len, "CPython %s: _PyRuntime does not start with the "
			 "_Py_DebugOffsets cookie", py->version);
		return -EINVAL;
	}
	memcpy(&version, rt + 8, sizeof(version));
	memcpy(&free_threaded, rt + 16, sizeof(free_threaded));
	if (version != py->hexversion) {
		snprintf(why, why_len, "CPython %s: _Py_DebugOffsets says version %#llx, "
			 "Py_Version says %#lx", py->version, (unsigned long long)version,
			 py->hexversion);
		return -EINVAL;
	}
	if (free_threaded) {
		snprintf(why, why_len, "CPython %s is a free-threaded build, which is not "
			 "supported (use the default GIL build)", py->version);
		return -ENOTSUP;
	}
	return 0;
}

static int find_layout(struct pyi_python *py, const unsigned char *rt, char *why,
		       size_t why_len)
{
	struct pyi_layout *l = &py->layout;
	char reason[200];

	if (py->minor <= 13) {
		pyi_layout_builtin(py->minor, l);
		if (py->minor == 13) {
			struct pyi_layout dbg;

			/* A patched or unusual 3.13 build would show here, not as a crash later. */
			if (pyi_layout_from_debug(rt, 13, &dbg, reason, sizeof(reason)) ||
			    pyi_layout_compare(l, &dbg, reason, sizeof(reason))) {
				snprintf(why, why_len, "CPython %s: %s", py->version, reason);
				return -EINVAL;
			}
		}
		return 0;
	}
	if (py->minor == 15 && py->hexversion < FIRST_KNOWN_3_15) {
		snprintf(why, why_len, "CPython %s is a pre-release whose layout is not known "
			 "(3.15.0b4 and later are supported)", py->version);
		return -ENOTSUP;
	}
	if (pyi_layout_from_debug(rt, py->minor, l, reason, sizeof(reason))) {
		snprintf(why, why_len, "CPython %s: %s", py->version, reason);
		return -EINVAL;
	}
	return 0;
}

/*
 * One thread-local: its accessor is decoded inside the module that holds the accessor's
 * code (libpython's data, _PyRuntime included, may have been copy-relocated into an
 * executable that refers to it, so data addresses do not identify the module).
 */
static int locate(uintptr_t accessor, uintptr_t libpython_code, const char *name,
		  intptr_t *tpoff, char *why, size_t why_len)
{
	struct pyi_tls_module m;
	const char *how;

	if (pyi_tls_find_module(accessor ? accessor : libpython_code, &m) != 0) {
		snprintf(why, why_len, "no loaded module contains the code of libpython");
		return -ENOENT;
	}
	return pyi_tls_locate(&m, accessor, name, tpoff, &how, why, why_len);
}

/*
 * The thread-locals. 3.12+: _Py_tss_tstate (the attached tstate; optional, it only refines
 * the tstate choice and tells GIL holders apart). 3.14+: _Py_tss_gilstate, the bound tstate
 * that replaced the gilstate TSS key (CPython gh-131185); required.
 */
static int find_tls(struct pyi_python *py, uintptr_t libpython_code, char *why,
		    size_t why_len)
{
	struct pyi_layout *l = &py->layout;
	char reason[400];
	intptr_t off;

	if (py->minor >= 12) {
		uintptr_t acc = (uintptr_t)sym("_PyThreadState_GetCurrent");

		if (!acc)
			acc = (uintptr_t)sym("PyThreadState_GetUnchecked");
		if (locate(acc, libpython_code, "_Py_tss_tstate", &off, reason,
			   sizeof(reason)) == 0) {
			l->have_tls_tstate = 1;
			l->tls_tstate = off;
		}
	}
	if (py->minor < 14) {
		l->tstate_source = PYI_TSTATE_TSS_KEY;
		return 0;
	}

	uintptr_t acc = (uintptr_t)sym("PyGILState_GetThisThreadState");
	if (locate(acc, libpython_code, "_Py_tss_gilstate", &off, reason, sizeof(reason))) {
		snprintf(why, why_len, "CPython %s: cannot locate the thread-local "
			 "_Py_tss_gilstate: %s", py->version, reason);
		return -ENOENT;
	}
	/* When the file still has its symbols, the decoded accessor must agree with them. */
	struct pyi_tls_module m;
	intptr_t from_symtab;
	if (pyi_tls_find_module(acc ? acc : libpython_code, &m) == 0 &&
	    pyi_tls_from_symtab(&m, "_Py_tss_gilstate", &from_symtab, reason,
				sizeof(reason)) == 0 && from_symtab != off) {
		snprintf(why, why_len, "CPython %s: _Py_tss_gilstate is at tp%+ld by its "
			 "accessor but tp%+ld by the symbol table", py->version, (long)off,
			 (long)from_symtab);
		return -EINVAL;
	}
	if (l->have_tls_tstate && l->tls_tstate == off) {
		snprintf(why, why_len, "CPython %s: _Py_tss_gilstate and _Py_tss_tstate resolve "
			 "to the same thread-local", py->version);
		return -EINVAL;
	}
	l->have_tls_gilstate = 1;
	l->tls_gilstate = off;
	l->tstate_source = PYI_TSTATE_TLS;
	return 0;
}

static enum pyi_linetable_kind linetable_kind(unsigned minor)
{
	if (minor <= 9)
		return PYI_LT_LNOTAB;
	if (minor == 10)
		return PYI_LT_LINETABLE;
	return PYI_LT_LOCATIONS;
}

int pyi_loader_detect(struct pyi_python *py, char *why, size_t why_len)
{
	const char *(*get_version)(void);
	const unsigned long *py_version;
	const unsigned char *rt;
	struct pyi_tls_module module;
	unsigned long hex;
	const char *marker;

	memset(py, 0, sizeof(*py));
	if (why_len)
		why[0] = '\0';
	*(void **)&get_version = sym("Py_GetVersion");
	if (!get_version)
		return PYI_LOADER_NOT_PYTHON;

	/* Py_Version (3.11+) is static const data; Py_GetVersion() only formats static
	 * strings, which is safe before Py_Initialize on every version that lacks it. */
	py_version = sym("Py_Version");
	if (py_version) {
		hex = *py_version;
	} else if (parse_version(get_version(), &hex) != 0) {
		snprintf(why, why_len, "cannot parse the CPython version '%.40s'", get_version());
		return PYI_LOADER_UNSUPPORTED;
	}
	set_version(py, hex);
	if (py->major != 3 || py->minor < MIN_MINOR || py->minor > MAX_MINOR) {
		snprintf(why, why_len, "CPython %s is not supported (3.%d to 3.%d are)",
			 py->version, MIN_MINOR, MAX_MINOR);
		return PYI_LOADER_UNSUPPORTED;
	}
	marker = debug_build_marker();
	if (marker) {
		snprintf(why, why_len, "CPython %s is a debug build (it exports %s), which is not "
			 "supported", py->version, marker);
		return PYI_LOADER_UNSUPPORTED;
	}

	struct pyi_layout *l = &py->layout;
	rt = sym("_PyRuntime");
	if (!rt) {
		snprintf(why, why_len, "CPython %s: the symbol _PyRuntime is not exported",
			 py->version);
		return PYI_LOADER_UNSUPPORTED;
	}
	if (py->minor >= 13 && check_cookie(py, rt, why, why_len))
		return PYI_LOADER_UNSUPPORTED;
	if (find_layout(py, rt, why, why_len))
		return PYI_LOADER_UNSUPPORTED;
#if !defined(__x86_64__)
	snprintf(why, why_len, "CPython %s: pyinstr's layouts are for x86-64 only", py->version);
	return PYI_LOADER_UNSUPPORTED;
#endif

	l->runtime = (uintptr_t)rt;
	l->code_type = (uintptr_t)sym("PyCode_Type");
	l->unicode_type = (uintptr_t)sym("PyUnicode_Type");
	l->bytes_type = (uintptr_t)sym("PyBytes_Type");
	l->frame_type = (uintptr_t)sym("PyFrame_Type");
	if (!l->code_type || !l->unicode_type || !l->bytes_type || !l->frame_type) {
		snprintf(why, why_len, "CPython %s: a type object (PyCode_Type, PyUnicode_Type, "
			 "PyBytes_Type, PyFrame_Type) is not exported", py->version);
		return PYI_LOADER_UNSUPPORTED;
	}

	/* libpython is linked into the executable when its code is there (its data may be
	 * in the executable either way, through copy relocations). */
	if (pyi_tls_find_module((uintptr_t)get_version, &module) != 0) {
		snprintf(why, why_len, "CPython %s: no loaded module contains Py_GetVersion",
			 py->version);
		return PYI_LOADER_UNSUPPORTED;
	}
	py->static_libpython = module.is_main;
	/* CPython's own program hands its main() to Py_BytesMain (3.8+), from a shared
	 * libpython or, linked in, one it exports; a program embedding CPython calls
	 * Py_Initialize and the like instead. In CPython's own program, a main thread found
	 * with no frame after it had some is between the interpreter's own steps (start-up's
	 * imports, the main module, finalization), not in C code of the program's. */
	py->program_is_python = pyi_elfsym_dynamic_names("/proc/self/exe", "Py_BytesMain") == 1;
	if (find_tls(py, (uintptr_t)get_version, why, why_len))
		return PYI_LOADER_UNSUPPORTED;
	py->linetable_kind = linetable_kind(py->minor);
	return PYI_LOADER_OK;
}

/*
 * layout: per-version CPython offsets and the addresses found at detection.
 *
 * struct pyi_layout is filled once by pyi_loader_detect() (normal context, before
 * Py_Initialize) and only read afterwards, from any context including the signal handler.
 * Other modules treat it as opaque. All offsets are bytes on x86-64 (LP64) GIL builds;
 * PYI_OFF_NONE marks a field the version does not have.
 *
 * The pyi_layout_* functions are loader-private (detect.c uses them) and run in normal
 * context only.
 */
#ifndef PYI_LAYOUT_H
#define PYI_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define PYI_OFF_NONE (-1)

/* How the interpreter links its frames; decides which walk walk.c runs. */
enum pyi_frame_model {
	PYI_FRAMES_OBJECTS = 1, /* 3.8-3.10: PyFrameObject chain from tstate->frame via f_back */
	PYI_FRAMES_CFRAME = 2,  /* 3.11, 3.12: tstate->cframe->current_frame, _PyInterpreterFrame */
	PYI_FRAMES_DIRECT = 3,  /* 3.13+: tstate->current_frame, _PyInterpreterFrame */
};

/* Where the calling thread's bound PyThreadState is found. */
enum pyi_tstate_source {
	PYI_TSTATE_TSS_KEY = 1, /* pthread_getspecific(_PyRuntime.<gilstate key>), 3.8-3.13 */
	PYI_TSTATE_TLS = 2,     /* *(thread pointer + tls_gilstate), 3.14+ */
};

struct pyi_layout {
	/* Addresses resolved with dlsym. */
	uintptr_t runtime;      /* &_PyRuntime */
	uintptr_t code_type;    /* &PyCode_Type */
	uintptr_t unicode_type; /* &PyUnicode_Type */
	uintptr_t bytes_type;   /* &PyBytes_Type */
	uintptr_t frame_type;   /* &PyFrame_Type (checked on 3.8-3.10 frames) */

	/* _PyRuntime */
	int32_t rt_initialized;      /* int; PYI_OFF_NONE on 3.14+ (not published) */
	int32_t rt_finalizing;       /* PyThreadState * */
	int32_t rt_interpreters_head;
	int32_t rt_tss_key;          /* Py_tss_t {int _is_initialized; pthread_key_t _key} */
	int32_t rt_gil_holder;       /* gilstate.tstate_current, 3.8-3.11 */

	/* PyInterpreterState: the list of interpreters and each one's thread states */
	int32_t interp_next;
	int32_t interp_threads_head; /* tstate_head (3.8-3.10), threads.head (3.11+) */

	/* Thread-local variables of libpython, as offsets from the thread pointer. */
	enum pyi_tstate_source tstate_source;
	int have_tls_gilstate;       /* _Py_tss_gilstate (bound tstate), required on 3.14+ */
	intptr_t tls_gilstate;
	int have_tls_tstate;         /* _Py_tss_tstate (attached tstate), 3.12+ when found */
	intptr_t tls_tstate;

	/* PyThreadState */
	int32_t ts_size;             /* sizeof(PyThreadState) */
	int32_t ts_next;
	int32_t ts_interp;
	int32_t ts_frame;            /* frame (3.8-3.10), cframe (3.11/3.12), current_frame */
	int32_t ts_thread_id;        /* unsigned long, = pthread_self() */
	int32_t ts_native_thread_id; /* unsigned long, = gettid(); PYI_OFF_NONE before 3.11 */
	int32_t cframe_current;      /* _PyCFrame.current_frame (3.11/3.12) */
	int32_t cframe_previous;     /* _PyCFrame.previous (3.11/3.12) */

	/* Frames: PyFrameObject (3.8-3.10) or _PyInterpreterFrame (3.11+). */
	enum pyi_frame_model frames;
	int32_t fr_back;             /* f_back or previous */
	int32_t fr_code;             /* f_code or f_executable */
	int32_t fr_instr;            /* int f_lasti, or prev_instr / instr_ptr */
	int32_t fr_owner;            /* char owner (3.11+) */
	int32_t fr_is_entry;         /* bool is_entry (3.11 only) */
	uint8_t owner_generator;     /* FRAME_OWNED_BY_GENERATOR */
	uint8_t owner_first_shim;    /* owners >= this are not Python frames; 0xff: none */
	uintptr_t code_tag_mask;     /* low bits of f_executable that are tags (3.14+: 3) */

	/* PyObject, PyCodeObject */
	int32_t ob_type;
	int32_t ob_size;             /* PyVarObject.ob_size (code units for code, 3.11+) */
	int32_t co_firstlineno;      /* int */
	int32_t co_filename;
	int32_t co_name;
	int32_t co_qualname;         /* PYI_OFF_NONE before 3.11 */
	int32_t co_linetable;        /* co_lnotab (3.8/3.9), co_linetable (3.10+) */
	int32_t co_code_adaptive;    /* inline bytecode (3.11+) */
	int32_t co_firsttraceable;   /* int, in code units (3.11+) */

	/* PyBytesObject */
	int32_t bytes_size;
	int32_t bytes_data;

	/* PyASCIIObject / PyCompactUnicodeObject / PyUnicodeObject */
	int32_t str_length;          /* Py_ssize_t, in code points */
	int32_t str_state;           /* uint32 bitfield: kind 2-4, compact 5, ascii 6, ready 7 */
	int32_t str_ascii_data;      /* sizeof(PyASCIIObject) */
	int32_t str_compact_data;    /* sizeof(PyCompactUnicodeObject); legacy data pointer */
	int str_has_ready_bit;       /* 3.8-3.11: bit 7 is "ready" and must be set */
};

/*
 * Fills *l with the built-in offsets of CPython 3.<minor> (8 to 13). Addresses, TLS and
 * tstate_source are left for the caller. Returns 0, or -ENOENT for other minors.
 */
int pyi_layout_builtin(unsigned minor, struct pyi_layout *l);

/*
 * Fills *l's offsets from the _Py_DebugOffsets at the start of runtime (3.13, 3.14, 3.15),
 * plus the facts the debug offsets do not carry, and self-checks the result. Returns 0, or
 * -EINVAL with a one-line reason in why.
 */
int pyi_layout_from_debug(const unsigned char *runtime, unsigned minor, struct pyi_layout *l,
			  char *why, size_t why_len);

/*
 * Compares the offsets the walker uses in a and b. Returns 0 when equal, else -EINVAL with
 * the first differing field named in why.
 */
int pyi_layout_compare(const struct pyi_layout *a, const struct pyi_layout *b, char *why,
		       size_t why_len);

#endif

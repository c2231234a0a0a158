/*
 * loader: recognises the CPython running in this process and reads its memory.
 *
 * pyi_loader_detect() runs once, from the agent's constructor, in normal context and before
 * Py_Initialize (it uses only statically initialised data: dlsym, Py_Version, _PyRuntime's
 * debug cookie, Py_GetVersion). It fills a struct pyi_python that nobody writes afterwards.
 *
 * Every function named *_sigsafe may be called from the sampling signal handler: it performs
 * only loads from interpreter memory (each address checked for plausibility first), arithmetic
 * and, where stated, pthread_getspecific. It allocates nothing, takes no lock, calls no Python
 * API and no __tls_get_addr. A plausible address can still be unmapped (CPython 3.11/3.12
 * publish half-initialised frames, cpython-frames.md §7.1), so callers hold the agent's fault
 * guard around every *_sigsafe call.
 *
 * No Python header is used: all version knowledge is data in loader/layout.c.
 */
#ifndef PYI_LOADER_H
#define PYI_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "loader/layout.h"

enum pyi_loader_status {
	PYI_LOADER_OK = 0,
	PYI_LOADER_NOT_PYTHON = 1,  /* not CPython: the agent stays silent and inert */
	PYI_LOADER_UNSUPPORTED = 2, /* CPython we cannot profile: why says so, in one line */
};

/* Line-table encodings; the decoders are in loader/linetable.h. */
enum pyi_linetable_kind {
	PYI_LT_NONE = 0,
	PYI_LT_LNOTAB = 1,    /* 3.8, 3.9: co_lnotab; instr is f_lasti in bytes */
	PYI_LT_LINETABLE = 2, /* 3.10: co_linetable; instr is f_lasti in code units */
	PYI_LT_LOCATIONS = 3, /* 3.11+: location table; instr is in code units */
};

struct pyi_python {
	unsigned major, minor, micro;
	unsigned long hexversion;          /* PY_VERSION_HEX */
	char version[24];                  /* "3.12.1" */
	int static_libpython;              /* libpython is linked into the executable */
	int program_is_python;             /* the executable is CPython's own (python3) */
	enum pyi_linetable_kind linetable_kind;
	struct pyi_layout layout;          /* offsets and addresses, loader-private */
};

/*
 * Recognises the interpreter. Returns PYI_LOADER_OK and fills *py; PYI_LOADER_NOT_PYTHON
 * when this process has no CPython (nothing to say); PYI_LOADER_UNSUPPORTED with a one-line
 * reason in why (no "pyinstr:" prefix, no newline) when it is a CPython we cannot profile.
 */
int pyi_loader_detect(struct pyi_python *py, char *why, size_t why_len);

/* Non-zero while the runtime is initialised and not finalizing. Async-signal-safe. */
int pyi_loader_runtime_live_sigsafe(const struct pyi_python *py);

/* Non-zero once an interpreter was created in this process: from early in Py_Initialize,
 * and still after Py_Finalize. Zero in a program that links libpython but never starts it
 * (perf, for its scripts). Async-signal-safe. */
int pyi_loader_interpreter_started_sigsafe(const struct pyi_python *py);

/*
 * The PyThreadState bound to the calling OS thread (also while it waits with the GIL
 * released), or 0 when it has none or the state fails validation (thread_id must equal
 * pthread_self()). Async-signal-safe (uses pthread_getspecific on 3.8-3.13).
 */
/* tid: the calling thread's kernel id when the caller knows it (saves a system call in the
 * handler), or 0 to ask the kernel. */
uintptr_t pyi_loader_tstate_sigsafe(const struct pyi_python *py, long tid);

/*
 * Whether tstate still belongs to the thread whose pthread_t and kernel id are given (its
 * thread_id, and from 3.11 its native_thread_id, match): for a caller on another thread
 * that kept a thread's state from an earlier look. Async-signal-safe.
 */
int pyi_loader_tstate_of_sigsafe(const struct pyi_python *py, uintptr_t tstate,
				 uintptr_t pthread, long tid);

/*
 * Teaches the loader where glibc keeps a thread's kernel id inside its pthread_t, from
 * threads whose pthread_t and kernel id the caller knows (at least two, all live, created
 * by pthread_create). Needed before 3.11 to tell which thread state belongs to another
 * thread (their states carry only the pthread_t). 0, or -1 when no offset fits them all.
 */
int pyi_loader_learn_pthread_tid(const uintptr_t *pthreads, const long *tids, int n);

/*
 * Finds the thread state of another thread, given its kernel id, by walking every
 * interpreter's list of thread states (no lock can be taken: the caller guards the reads,
 * and the result is validated as pyi_loader_tstate_of_sigsafe does). Stores that thread's
 * pthread_t in *pthread. 0 when none matches. Async-signal-safe; bounded.
 */
uintptr_t pyi_loader_find_tstate_sigsafe(const struct pyi_python *py, long tid,
					 uintptr_t *pthread);

/*
 * Whether tstate (this thread's, from pyi_loader_tstate_sigsafe) holds the GIL: 1 yes, 0 no,
 * -1 unknown. 3.8-3.11 compare with _PyRuntime.gilstate.tstate_current; 3.12+ read the
 * thread's _Py_tss_tstate when detection located it. Async-signal-safe.
 */
int pyi_loader_holds_gil_sigsafe(const struct pyi_python *py, uintptr_t tstate);

/* One frame as the walker found it: a live code object and an instruction offset in the
 * unit that pyi_linetable_line() takes for this version (-1: not started), and the frame's
 * own address (0 for a frame that failed validation). id is the caller's id of the code
 * object when the frame memo knew it (0 otherwise), memo the memo entry that holds this
 * frame, plus one (0: none). */
struct pyi_raw_frame {
	uintptr_t code;
	uintptr_t frame;
	int32_t instr;
	uint32_t id;
	uint32_t memo;
};

/*
 * A thread's frame memo: the frames its walks validated, by frame address. Most of a stack is
 * the same from one sample to the next, and a frame that still runs the code object it ran
 * last time holds that code object alive: the walk then trusts it without reading the code
 * object again (its type, length and first traceable instruction are remembered), and the
 * caller keeps its own id for it here. One table per thread, owned by whoever walks that
 * thread; entries are overwritten freely (a collision only costs a full validation).
 * Limit: a code object freed and another allocated at the same address, then run in a frame
 * at the same address, is taken for the old one.
 */
struct pyi_frame_memo_entry {
	uintptr_t frame;
	uintptr_t code;
	int32_t units;           /* the code's length in code units (3.11+) */
	int32_t first_traceable; /* 3.11+ */
	uint32_t id;             /* the caller's; 0 until it sets one */
	uint32_t walk;           /* the last walk that found the frame here */
};

struct pyi_frame_memo {
	struct pyi_frame_memo_entry *entries;
	uint32_t mask;  /* entries - 1; the count is a power of two */
	uint32_t walks; /* walks so far */
};

enum pyi_walk_flag {
	PYI_WALK_TRUNCATED = 1u << 0, /* more frames beyond max (the root end is missing) */
	PYI_WALK_PARTIAL = 1u << 1,   /* a frame failed validation; stored with code == 0 */
	PYI_WALK_NEW = 1u << 2,       /* some frame came out with id 0 (not in the memo with one) */
};

/*
 * Walks tstate's Python frames, leaf first, into out[0..max). Skips frames that are not
 * Python frames or are incomplete (shim/entry frames, frames before RESUME). memo (may be
 * NULL) is the thread's frame memo, consulted and updated. Returns the number of frames
 * stored; *flags gets PYI_WALK_* bits. Bounded: at most a fixed multiple of max iterations.
 * Async-signal-safe.
 */
int pyi_loader_walk_sigsafe(const struct pyi_python *py, uintptr_t tstate,
			    struct pyi_raw_frame *out, int max, struct pyi_frame_memo *memo,
			    unsigned *flags);

/* The memo entry of out's frame, when it still holds that frame and code; else NULL. */
struct pyi_frame_memo_entry *pyi_frame_memo_entry_of(struct pyi_frame_memo *memo,
						     const struct pyi_raw_frame *out);

/* The fields that identify a code object; compared to detect a freed and reused address. */
struct pyi_code_ident {
	uintptr_t filename;  /* str */
	uintptr_t qualname;  /* str: co_qualname (3.11+) or co_name */
	uintptr_t linetable; /* bytes */
	int32_t first_line;
};

/* Reads code's identity; 0, or -1 when code is not a code object. Async-signal-safe. */
int pyi_loader_code_ident_sigsafe(const struct pyi_python *py, uintptr_t code,
				  struct pyi_code_ident *ident);


/*
 * Copies str object s as UTF-8 into buf (at most cap bytes, cut on a character boundary,
 * no NUL added). Returns the number of bytes, or -1 when s is not a readable str.
 * Async-signal-safe.
 */
int pyi_loader_str_sigsafe(const struct pyi_python *py, uintptr_t s, char *buf, size_t cap);

/* Points data and len at the contents of bytes object b; 0, or -1 when b is not bytes.
 * Async-signal-safe. */
int pyi_loader_bytes_sigsafe(const struct pyi_python *py, uintptr_t b,
			     const unsigned char **data, size_t *len);

#endif

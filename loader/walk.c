/*
 * walk: the loader's signal-handler side: is the runtime live, which PyThreadState is this
 * thread's, what are its Python frames, what identifies a code object.
 *
 * Everything here may run inside the sampling signal handler, on the interrupted thread.
 * It may call only: pthread_getspecific (3.8-3.13 gilstate TSS key; lock-free in glibc,
 * cpython-frames.md §2.2), pthread_self, and the raw gettid system call. It reads
 * interpreter memory only through loader/peek.h, and the thread pointer through
 * loader/tls.h; it never calls into libpython (its accessors use __tls_get_addr) and never
 * allocates. Loops are bounded by the caller's frame budget.
 *
 * The frame chain is walked as cpython-frames.md §3.3 describes: leaf first; frames that are
 * not Python frames (owner >= 3 on 3.12+: C-stack entry frames, 3.14+ interpreter frames) or
 * are incomplete (_PyFrame_IsIncomplete: not yet past RESUME, tested with
 * _co_firsttraceable) are skipped; every code object is type-checked, except one that the
 * caller's frame memo saw in the same frame at an earlier walk (the frame holds it alive; see
 * struct pyi_frame_memo in loader.h).
 */
#include "loader/loader.h"

#include "loader/layout.h"
#include "loader/peek.h"
#include "loader/tls.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NONE PYI_OFF_NONE
/* How far up the C stack an enclosing eval loop's _PyCFrame may be (glibc's default
 * thread stack is 8 MiB). */
#define CSTACK_SPAN ((uintptr_t)8 << 20)

/* The thread's kernel id without going through libc (no errno, no cancellation point). */
static long gettid_raw(void)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "0"((long)SYS_gettid) : "rcx", "r11", "memory");
	return ret;
#else
	return syscall(SYS_gettid);
#endif
}

static int is_code(const struct pyi_layout *L, uintptr_t co)
{
	uintptr_t type;

	return co && pyi_peek_ptr(co + L->ob_type, &type) == 0 && type == L->code_type;
}

int pyi_loader_runtime_live_sigsafe(const struct pyi_python *py)
{
	const struct pyi_layout *L = &py->layout;
	uintptr_t finalizing = 0;

	if (!L->runtime)
		return 0;
	if (L->rt_initialized != NONE) {
		int32_t initialized;

		if (pyi_peek_i32(L->runtime + L->rt_initialized, &initialized) || !initialized)
			return 0;
	} else {
		/* 3.14+ does not publish "initialized"; the main interpreter is linked into
		 * interpreters.head during Py_Initialize and unlinked at the end of finalization. */
		uintptr_t head;

		if (pyi_peek_ptr(L->runtime + L->rt_interpreters_head, &head) || !head)
			return 0;
	}
	return pyi_peek_ptr(L->runtime + L->rt_finalizing, &finalizing) == 0 && !finalizing;
}

int pyi_loader_interpreter_started_sigsafe(const struct pyi_python *py)
{
	const struct pyi_layout *L = &py->layout;
	uintptr_t head = 0, finalizing = 0;
	int32_t initialized = 0;

	if (!L->runtime)
		return 0;
	/* The main interpreter is linked into interpreters.head early in Py_Initialize, before
	 * the runtime says it is initialised; _finalizing is set by Py_FinalizeEx and stays set
	 * unless Py_Initialize runs again. A failed read leaves its value 0. */
	if (L->rt_initialized != NONE)
		pyi_peek_i32(L->runtime + L->rt_initialized, &initialized);
	pyi_peek_ptr(L->runtime + L->rt_interpreters_head, &head);
	pyi_peek_ptr(L->runtime + L->rt_finalizing, &finalizing);
	return initialized || head || finalizing;
}

/* The tstate bound to this OS thread (the "gilstate"), unvalidated. */
static uintptr_t bound_tstate(const struct pyi_layout *L)
{
	uintptr_t ts = 0;

	if (L->tstate_source == PYI_TSTATE_TSS_KEY) {
		/* Py_tss_t {int _is_initialized; pthread_key_t _key}: the key is created during
		 * Py_Initialize and deleted at finalization. */
		int32_t initialized;
		uint32_t key;

		if (pyi_peek_i32(L->runtime + L->rt_tss_key, &initialized) || initialized != 1 ||
		    pyi_peek_u32(L->runtime + L->rt_tss_key + 4, &key))
			return 0;
		return (uintptr_t)pthread_getspecific((pthread_key_t)key);
	}
	if (L->tstate_source == PYI_TSTATE_TLS && L->have_tls_gilstate) {
		uintptr_t tp = pyi_tls_thread_pointer_sigsafe();

		if (tp && pyi_peek_ptr(tp + (uintptr_t)L->tls_gilstate, &ts) == 0)
			return ts;
	}
	return 0;
}

/* The tstate attached to this thread (3.12+ _Py_tss_tstate), 0 if none or unknown. */
static uintptr_t attached_tstate(const struct pyi_layout *L)
{
	uintptr_t tp, ts;

	if (!L->have_tls_tstate)
		return 0;
	tp = pyi_tls_thread_pointer_sigsafe();
	if (!tp || pyi_peek_ptr(tp + (uintptr_t)L->tls_tstate, &ts))
		return 0;
	return ts;
}

/*
 * A tstate is this thread's when its thread_id is pthread_self() (and, 3.11+, its
 * native_thread_id is gettid()). This catches a tstate that is being torn down (3.8-3.11
 * free it before clearing the TSS slot) and a stale one inherited over fork before CPython
 * re-binds it.
 */
static int tstate_belongs(const struct pyi_layout *L, uintptr_t ts, uintptr_t pthread, long tid)
{
	uintptr_t thread_id = 0, native_id = 0, interp = 0;

	if (!ts || pyi_peek_ptr(ts + L->ts_thread_id, &thread_id) || thread_id != pthread)
		return 0;
	if (L->ts_native_thread_id != NONE &&
	    (pyi_peek_ptr(ts + L->ts_native_thread_id, &native_id) ||
	     native_id != (uintptr_t)(tid ? tid : gettid_raw())))
		return 0;
	return pyi_peek_ptr(ts + L->ts_interp, &interp) == 0 && interp != 0;
}

static int tstate_is_ours(const struct pyi_layout *L, uintptr_t ts, long tid)
{
	return tstate_belongs(L, ts, (uintptr_t)pthread_self(), tid);
}

int pyi_loader_tstate_of_sigsafe(const struct pyi_python *py, uintptr_t tstate,
				 uintptr_t pthread, long tid)
{
	return tstate_belongs(&py->layout, tstate, pthread, tid);
}

uintptr_t pyi_loader_tstate_sigsafe(const struct pyi_python *py, long tid)
{
	const struct pyi_layout *L = &py->layout;
	uintptr_t attached = attached_tstate(L);

	/* A thread running a sub-interpreter (or a tstate it created by hand) is attached to a
	 * tstate other than its gilstate one; the attached one holds the running frames. */
	if (attached && tstate_is_ours(L, attached, tid))
		return attached;
	uintptr_t bound = bound_tstate(L);
	return tstate_is_ours(L, bound, tid) ? bound : 0;
}

/* glibc's struct pthread: where the thread's kernel id sits (-1: unknown). Written once by
 * the sampler thread before it first looks for another thread's state. */
static int pthread_tid_offset = -1;

int pyi_loader_learn_pthread_tid(const uintptr_t *pthreads, const long *tids, int n)
{
	/* glibc has kept tid 720 bytes in for years; the scan stays well inside the struct
	 * (over 2 KiB), which pthread_create places at the top of the thread's own mapping. */
	for (int off = 0; n >= 2 && off < 1024; off += 4) {
		int all = 1;
		for (int i = 0; i < n && all; i++) {
			int32_t v;
			all = pyi_peek_i32(pthreads[i] + (uintptr_t)off, &v) == 0 && v == tids[i];
		}
		if (all) {
			pthread_tid_offset = off;
			return 0;
		}
	}
	return -1;
}

/* Enough for thousands of threads; bounds a list that is being changed under us. */
#define FIND_BUDGET 65536

uintptr_t pyi_loader_find_tstate_sigsafe(const struct pyi_python *py, long tid,
					 uintptr_t *pthread)
{
	const struct pyi_layout *L = &py->layout;
	uintptr_t interp = 0;
	int budget = FIND_BUDGET;

	if (pyi_peek_ptr(L->runtime + L->rt_interpreters_head, &interp))
		return 0;
	while (interp && budget > 0) {
		uintptr_t ts = 0;
		if (pyi_peek_ptr(interp + L->interp_threads_head, &ts))
			return 0;
		while (ts && budget-- > 0) {
			uintptr_t thread_id = 0, native_id = 0;
			int32_t owner = 0;
			if (pyi_peek_ptr(ts + L->ts_thread_id, &thread_id))
				return 0;
			if (L->ts_native_thread_id != NONE) {
				if (pyi_peek_ptr(ts + L->ts_native_thread_id, &native_id))
					return 0;
			} else if (pthread_tid_offset >= 0) {
				if (pyi_peek_i32(thread_id + (uintptr_t)pthread_tid_offset, &owner) == 0)
					native_id = (uintptr_t)(long)owner;
			}
			if (native_id == (uintptr_t)tid && tstate_belongs(L, ts, thread_id, tid)) {
				*pthread = thread_id;
				return ts;
			}
			if (pyi_peek_ptr(ts + L->ts_next, &ts))
				return 0;
		}
		if (pyi_peek_ptr(interp + L->interp_next, &interp))
			return 0;
	}
	return 0;
}

int pyi_loader_holds_gil_sigsafe(const struct pyi_python *py, uintptr_t tstate)
{
	const struct pyi_layout *L = &py->layout;
	uintptr_t holder;

	if (!tstate)
		return 0;
	if (L->rt_gil_holder != NONE) {
		/* 3.8-3.11: gilstate.tstate_current is the GIL holder's tstate, or NULL. */
		if (pyi_peek_ptr(L->runtime + L->rt_gil_holder, &holder))
			return -1;
		return holder == tstate;
	}
	if (L->have_tls_tstate) {
		/* 3.12+: _Py_tss_tstate is set while attached, which on GIL builds means while
		 * holding the GIL, and cleared when the thread releases it. */
		return attached_tstate(L) == tstate;
	}
	return -1;
}

struct walk {
	const struct pyi_layout *L;
	struct pyi_raw_frame *out;
	struct pyi_frame_memo *memo;
	int max;
	int n;
	unsigned flags;
	long budget; /* frames (of any kind) still allowed to be visited */
};

/*
 * Where a frame may sit in the memo: two entries. The first keeps neighbours apart (frames are
 * at least 64 bytes apart: 3.11+ data-stack frames, 3.8-3.10 frame objects), the second is a
 * hash, for frames scattered over the heap (3.8-3.10 frame objects, generators), where one
 * entry per frame would see a couple of collisions in every walk of a stack 100 deep: each a
 * frame validated and interned again at every sample.
 */
static struct pyi_frame_memo_entry *memo_first(struct pyi_frame_memo *memo, uintptr_t frame)
{
	/* The high bits keep apart frames a multiple of 64 KiB apart (allocator pools). */
	return &memo->entries[((frame >> 5) ^ (frame >> 16)) & memo->mask];
}

static struct pyi_frame_memo_entry *memo_second(struct pyi_frame_memo *memo, uintptr_t frame)
{
	return &memo->entries[(uint32_t)(((uint64_t)frame * UINT64_C(0x9e3779b97f4a7c15)) >> 40) &
			      memo->mask];
}

/* The entry that holds frame, or NULL. */
static struct pyi_frame_memo_entry *memo_find(struct pyi_frame_memo *memo, uintptr_t frame)
{
	struct pyi_frame_memo_entry *e = memo_first(memo, frame);

	if (e->frame == frame)
		return e;
	e = memo_second(memo, frame);
	return e->frame == frame ? e : NULL;
}

struct pyi_frame_memo_entry *pyi_frame_memo_entry_of(struct pyi_frame_memo *memo,
						     const struct pyi_raw_frame *out)
{
	struct pyi_frame_memo_entry *e;

	if (!memo || !out->memo || out->memo - 1 > memo->mask)
		return NULL;
	e = &memo->entries[out->memo - 1];
	return e->frame == out->frame && e->code == out->code ? e : NULL;
}

/* The memo's entry for frame when it last ran code (its code object need not be read
 * again), or NULL. */
static struct pyi_frame_memo_entry *memo_hit(struct pyi_frame_memo *memo, uintptr_t frame,
					     uintptr_t code)
{
	struct pyi_frame_memo_entry *e;

	if (!memo || !(e = memo_find(memo, frame)) || e->code != code)
		return NULL;
	e->walk = memo->walks;
	return e;
}

/* Remembers a frame whose code object was just validated; returns its entry index + 1. */
static uint32_t memo_store(struct pyi_frame_memo *memo, uintptr_t frame, uintptr_t code,
			   int64_t units, int32_t first_traceable)
{
	struct pyi_frame_memo_entry *e;

	if (!memo)
		return 0;
	/* The frame's own entry; else one this walk has not used (another frame of this stack
	 * must not be pushed out); else the first, its frame moved to its other entry when this
	 * walk has not used that one; else the second. */
	e = memo_find(memo, frame);
	if (!e) {
		uint32_t walk = memo->walks;
		struct pyi_frame_memo_entry *first = memo_first(memo, frame);
		struct pyi_frame_memo_entry *second = memo_second(memo, frame);
		e = first->walk != walk ? first : second;
		if (first->walk == walk && second->walk == walk) {
			struct pyi_frame_memo_entry *other = memo_first(memo, first->frame);
			if (other == first)
				other = memo_second(memo, first->frame);
			if (other->walk != walk) {
				*other = *first;
				e = first;
			}
		}
	}
	e->walk = memo->walks;
	e->frame = frame;
	e->code = code;
	e->units = units > INT32_MAX ? INT32_MAX : (int32_t)units; /* a real code: far less */
	e->first_traceable = first_traceable;
	e->id = 0;
	return (uint32_t)(e - memo->entries) + 1;
}

/* Records a frame that failed validation: code 0 where the frame would have been. */
static inline __attribute__((always_inline)) void add_bad(struct walk *w)
{
	w->flags |= PYI_WALK_PARTIAL | PYI_WALK_NEW;
	if (w->n < w->max) {
		w->out[w->n].code = 0;
		w->out[w->n].frame = 0;
		w->out[w->n].instr = -1;
		w->out[w->n].id = 0;
		w->out[w->n].memo = 0;
		w->n++;
	} else {
		w->flags |= PYI_WALK_TRUNCATED;
	}
}

/* Records a good frame (known: its memo entry, or NULL). Returns 0, or -1 when out is full
 * (the walk stops, truncated). */
static inline __attribute__((always_inline)) int
add(struct walk *w, uintptr_t frame, uintptr_t code, int32_t instr,
    const struct pyi_frame_memo_entry *known, uint32_t memo)
{
	int n = w->n;
	if (n == w->max) {
		w->flags |= PYI_WALK_TRUNCATED;
		return -1;
	}
	struct pyi_raw_frame *out = &w->out[n];
	uint32_t id = known ? known->id : 0;
	out->frame = frame;
	out->code = code;
	out->instr = instr;
	out->id = id;
	out->memo = known ? (uint32_t)(known - w->memo->entries) + 1 : memo;
	if (!id)
		w->flags |= PYI_WALK_NEW;
	w->n = n + 1;
	return 0;
}

/* 3.8-3.10: PyFrameObject chain; every frame is a Python frame. */
static inline __attribute__((always_inline)) void walk_objects_in(struct walk *w, uintptr_t f)
{
	const struct pyi_layout *L = w->L;
	uintptr_t back = 0;

	for (; f; f = back) {
		uintptr_t type, code;
		int32_t lasti;

		if (w->budget-- <= 0) {
			w->flags |= PYI_WALK_TRUNCATED;
			return;
		}
		if (pyi_peek_ptr(f + L->ob_type, &type) || type != L->frame_type ||
		    pyi_peek_ptr(f + L->fr_back, &back)) {
			add_bad(w); /* the chain itself is broken: nothing beyond is reachable */
			return;
		}
		if (back == f) {
			w->flags |= PYI_WALK_PARTIAL; /* a loop: this frame is the last one */
			back = 0;
		}
		const struct pyi_frame_memo_entry *known = NULL;
		uint32_t memo = 0;
		if (pyi_peek_ptr(f + L->fr_code, &code) ||
		    !((known = memo_hit(w->memo, f, code)) || is_code(L, code)) ||
		    pyi_peek_i32(f + L->fr_instr, &lasti)) {
			add_bad(w);
			continue;
		}
		if (!known)
			memo = memo_store(w->memo, f, code, 0, 0);
		if (add(w, f, code, lasti, known, memo))
			return;
	}
}

enum chain_result {
	CHAIN_DONE = 0,
	CHAIN_STALE = 1, /* the first frame cannot belong to this chain: start elsewhere */
};

/*
 * Where a 3.11+ frame's fields lie: the walk checks each frame's address once, for the span
 * [lo, lo + len) that holds them all, and then loads them unchecked. The pointer fields sit at
 * 8-byte offsets in every CPython; a layout where they do not reads no frame (as the checked
 * loads, which refuse a misaligned pointer, did before).
 */
struct frame_fields {
	uintptr_t owner, back, code, instr, is_entry;
	uintptr_t lo, len;
	int has_entry; /* is_entry: 3.11 only */
	int aligned;
};

static struct frame_fields frame_fields_of(const struct pyi_layout *L)
{
	struct frame_fields ff = {
		.owner = (uintptr_t)L->fr_owner, .back = (uintptr_t)L->fr_back,
		.code = (uintptr_t)L->fr_code,   .instr = (uintptr_t)L->fr_instr,
		.has_entry = L->fr_is_entry != NONE,
	};
	uintptr_t lo = ff.owner, hi = ff.owner + 1;
	const uintptr_t ptrs[] = { ff.back, ff.code, ff.instr };

	for (int i = 0; i < 3; i++) {
		lo = ptrs[i] < lo ? ptrs[i] : lo;
		hi = ptrs[i] + 8 > hi ? ptrs[i] + 8 : hi;
	}
	if (ff.has_entry) {
		ff.is_entry = (uintptr_t)L->fr_is_entry;
		lo = ff.is_entry < lo ? ff.is_entry : lo;
		hi = ff.is_entry + 1 > hi ? ff.is_entry + 1 : hi;
	}
	ff.lo = lo;
	ff.len = hi - lo;
	ff.aligned = ((ff.back | ff.code | ff.instr) & 7) == 0;
	return ff;
}

/* The fields the walk needs of the frame at f (entry: 0 where the layout has no is_entry).
 * 0, or -1 when the frame cannot be read. */
static int read_frame(const struct frame_fields *ff, uintptr_t f, uint8_t *owner,
		      uintptr_t *prev, uintptr_t *code, uintptr_t *ip, uint8_t *entry)
{
	if (!ff->aligned || (f & 7) || !pyi_peek_plausible(f + ff->lo, ff->len, 1))
		return -1;
	*owner = pyi_peek_checked_u8(f + ff->owner);
	*prev = pyi_peek_checked_ptr(f + ff->back);
	*code = pyi_peek_checked_ptr(f + ff->code);
	*ip = pyi_peek_checked_ptr(f + ff->instr);
	*entry = ff->has_entry ? pyi_peek_checked_u8(f + ff->is_entry) : 0;
	return 0;
}

/*
 * 3.11+: _PyInterpreterFrame chain from f. When check_root is set (3.11/3.12), a first frame
 * that fails validation, or a chain whose first C-entry frame does not link back to
 * entry_prev, makes the walk return CHAIN_STALE instead of recording anything doubtful.
 */
static inline __attribute__((always_inline)) enum chain_result
walk_frames_in(struct walk *w, uintptr_t f, int check_root, uintptr_t entry_prev)
{
	const struct pyi_layout *L = w->L;
	const struct frame_fields ff = frame_fields_of(L);
	const uint8_t first_shim = L->owner_first_shim, generator = L->owner_generator;
	const uintptr_t untag = ~L->code_tag_mask, adaptive = (uintptr_t)L->co_code_adaptive;
	uintptr_t prev = 0;
	int first = 1;

	for (; f; first = 0, f = prev) {
		uintptr_t code, ip;
		uint8_t owner, entry;
		int32_t first_traceable;
		int64_t units;

		if (w->budget-- <= 0) {
			w->flags |= PYI_WALK_TRUNCATED;
			return CHAIN_DONE;
		}
		/* Owners: 0 thread, 1 generator, 2 frame object, then non-Python ones (3.12+). */
		if (read_frame(&ff, f, &owner, &prev, &code, &ip, &entry) || owner > 4 ||
		    (owner > 2 && owner < first_shim)) {
			if (first && check_root)
				return CHAIN_STALE;
			add_bad(w); /* the chain itself is broken: nothing beyond is reachable */
			return CHAIN_DONE;
		}
		if (check_root) {
			/* The first C-level entry on the chain (3.11: is_entry; 3.12: the CSTACK
			 * entry frame) was pushed by the innermost eval loop, so its previous frame
			 * is the one the enclosing _PyCFrame recorded. */
			if (!ff.has_entry)
				entry = owner >= first_shim;
			if (entry) {
				if (prev != entry_prev)
					return CHAIN_STALE;
				check_root = 0;
			}
		}
		if (prev == f) {
			w->flags |= PYI_WALK_PARTIAL; /* a loop: this frame is the last one */
			prev = 0;
		}
		if (owner >= first_shim)
			continue;

		code &= untag;
		/* Code units: prev_instr (3.11/3.12) is one unit before the first instruction
		 * until the frame starts; instr_ptr (3.13+) is the current instruction. Either
		 * way CPython looks the line up at this unit. */
		const struct pyi_frame_memo_entry *known = memo_hit(w->memo, f, code);
		uint32_t memo = 0;
		int ok;
		/* The first frame of a chain that may be stale (3.11/3.12) is checked in full
		 * whatever the memo says: a stale pointer can lead to a frame the memo knows. */
		if (known && !(first && check_root)) {
			first_traceable = known->first_traceable;
			units = known->units;
			ok = 1;
		} else {
			ok = is_code(L, code) &&
			     pyi_peek_i32(code + L->co_firsttraceable, &first_traceable) == 0 &&
			     pyi_peek_i64(code + L->ob_size, &units) == 0;
		}
		intptr_t bytes = (intptr_t)(ip - (code + adaptive));
		/* No upper bound on first_traceable: a value past the code's end means the frame
		 * can never complete (3.13's __init__ cleanup shim, _Py_InitCleanup, has 3 units
		 * and _co_firsttraceable 4), which the rule below skips. */
		if (!ok || (bytes & 1) || bytes < -2 || bytes / 2 > units || first_traceable < 0) {
			if (first && check_root)
				return CHAIN_STALE;
			add_bad(w);
			continue;
		}
		if (!known)
			memo = memo_store(w->memo, f, code, units, first_traceable);
		int32_t instr = (int32_t)(bytes / 2);
		if (owner != generator && instr < first_traceable)
			continue; /* incomplete: still in the prologue before RESUME */
		if (add(w, f, code, instr, known, memo))
			return CHAIN_DONE;
	}
	return CHAIN_DONE;
}

/* The walks work on a copy of the walk's state that never leaves the function, so the
 * compiler keeps it in registers instead of storing it at every frame. */
static void walk_objects(struct walk *w, uintptr_t f)
{
	struct walk local = *w;

	walk_objects_in(&local, f);
	*w = local;
}

static enum chain_result walk_frames(struct walk *w, uintptr_t f, int check_root,
				     uintptr_t entry_prev)
{
	struct walk local = *w;
	enum chain_result result = walk_frames_in(&local, f, check_root, entry_prev);

	*w = local;
	return result;
}

int pyi_loader_walk_sigsafe(const struct pyi_python *py, uintptr_t tstate,
			    struct pyi_raw_frame *out, int max, struct pyi_frame_memo *memo,
			    unsigned *flags)
{
	const struct pyi_layout *L = &py->layout;
	struct walk w = { .L = L, .out = out, .memo = memo, .max = max, .n = 0, .flags = 0 };

	if (memo)
		memo->walks++;
	uintptr_t root = 0;

	*flags = 0;
	if (!tstate || max <= 0)
		return 0;
	/* Skipped frames (entry shims, incomplete frames) also cost a visit. */
	w.budget = 3L * max + 16;

	if (pyi_peek_ptr(tstate + L->ts_frame, &root)) {
		*flags = PYI_WALK_PARTIAL;
		return 0;
	}
	switch (L->frames) {
	case PYI_FRAMES_OBJECTS:
		walk_objects(&w, root);
		break;
	case PYI_FRAMES_DIRECT:
		walk_frames(&w, root, 0, 0);
		break;
	case PYI_FRAMES_CFRAME: {
		/*
		 * 3.11/3.12 publish a new _PyCFrame (tstate->cframe = &cframe) before setting its
		 * current_frame, so for a moment current_frame is an uninitialised stack slot
		 * (cpython-frames.md §7.1). previous is set before publication; its current_frame
		 * is the caller's frame, which is where the new eval loop's chain continues (the
		 * frame being entered is still incomplete and would be skipped anyway).
		 */
		uintptr_t cframe = root, prev_cframe = 0, fallback = 0;

		root = 0;
		if (!cframe)
			break;
		if (pyi_peek_ptr(cframe + L->cframe_current, &root))
			root = 0;
		/* In the window previous can be as stale as current_frame (3.12.1 writes both
		 * with one store), so it is followed only where a live enclosing _PyCFrame can
		 * be: higher on the same C stack, or the root one embedded in the tstate. */
		if (pyi_peek_ptr(cframe + L->cframe_previous, &prev_cframe) ||
		    !((prev_cframe > cframe && prev_cframe - cframe < CSTACK_SPAN) ||
		      (prev_cframe >= tstate && prev_cframe - tstate < (uintptr_t)L->ts_size)) ||
		    pyi_peek_ptr(prev_cframe + L->cframe_current, &fallback)) {
			prev_cframe = 0;
			fallback = 0;
		}
		if (!prev_cframe) {
			walk_frames(&w, root, 0, 0);
			break;
		}
		if (root && walk_frames(&w, root, 1, fallback) == CHAIN_DONE)
			break;
		w.n = 0;
		w.flags = 0;
		walk_frames(&w, fallback, 0, 0);
		break;
	}
	}
	*flags = w.flags;
	return w.n;
}

int pyi_loader_code_ident_sigsafe(const struct pyi_python *py, uintptr_t code,
				  struct pyi_code_ident *ident)
{
	const struct pyi_layout *L = &py->layout;
	int32_t qualname = L->co_qualname != NONE ? L->co_qualname : L->co_name;

	if (!is_code(L, code) || pyi_peek_ptr(code + L->co_filename, &ident->filename) ||
	    pyi_peek_ptr(code + (uintptr_t)qualname, &ident->qualname) ||
	    pyi_peek_ptr(code + L->co_linetable, &ident->linetable) ||
	    pyi_peek_i32(code + L->co_firstlineno, &ident->first_line))
		return -1;
	return 0;
}

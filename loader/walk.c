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
static struct pyi_frame_memo_entry *memo_hit(struct walk *w, uintptr_t frame, uintptr_t code)
{
	struct pyi_frame_memo_entry *e;

	if (!w->memo || !(e = memo_find(w->memo, frame)) || e->code != code)
		return NULL;
	e->walk = w->memo->walks;
	return e;
}

/* Remembers a frame whose code object was just validated; returns its entry index + 1. */
static uint32_t memo_store(struct walk *w, uintptr_t frame, uintptr_t code, int64_t units,
			   int32_t first_traceable)
{
	struct pyi_frame_memo_entry *e;

	if (!w->memo)
		return 0;
	/* The frame's own entry; else one this walk has not used (another frame of this stack
	 * must not be pushed out); else the first, its frame moved to its other entry when this
	 * walk has not used that one; else the second. */
	e = memo_find(w->memo, frame);
	if (!e) {
		uint32_t walk = w->memo->walks;
		struct pyi_frame_memo_entry *first = memo_first(w->memo, frame);
		struct pyi_frame_memo_entry *second = memo_second(w->memo, frame);
		e = first->walk != walk ? first : second;
		if (first->walk == walk && second->walk == walk) {
			struct pyi_frame_memo_entry *other = memo_first(w->memo, first->frame);
			if (other == first)
				other = memo_second(w->memo, first->frame);
			if (other->walk != walk) {
				*other = *first;
				e = first;
			}
		}
	}
	e->walk = w->memo->walks;
	e->frame = frame;
	e->code = code;
	e->units = units > INT32_MAX ? INT32_MAX : (int32_t)units; /* a real code: far less */
	e->first_traceable = first_traceable;
	e->id = 0;
	return (uint32_t)(e - w->memo->entries) + 1;
}

/* Records a frame that failed validation: code 0 where the frame would have been. */
static void add_bad(struct walk *w)
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
static int add(struct walk *w, uintptr_t frame, uintptr_t code, int32_t instr,
	       const struct pyi_frame_memo_entry *known, uint32_t memo)
{
	if (w->n == w->max) {
		w->flags |= PYI_WALK_TRUNCATED;
		return -1;
	}
	w->out[w->n].frame = frame;
	w->out[w->n].code = code;
	w->out[w->n].instr = instr;
	w->out[w->n].id = known ? known->id : 0;
	w->out[w->n].memo = known ? (uint32_t)(known - w->memo->entries) + 1 : memo;
	if (!w->out[w->n].id)
		w->flags |= PYI_WALK_NEW;
	w->n++;
	return 0;
}

/* 3.8-3.10: PyFrameObject chain; every frame is a Python frame. */
static void walk_objects(struct walk *w, uintptr_t f)
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
		    !((known = memo_hit(w, f, code)) || is_code(L, code)) ||
		    pyi_peek_i32(f + L->fr_instr, &lasti)) {
			add_bad(w);
			continue;
		}
		if (!known)
			memo = memo_store(w, f, code, 0, 0);
		if (add(w, f, code, lasti, known, memo))
			return;
	}
}

enum chain_result {
	CHAIN_DONE = 0,
	CHAIN_STALE = 1, /* the first frame cannot belong to this chain: start elsewhere */
};

/*
 * 3.11+: _PyInterpreterFrame chain from f. When check_root is set (3.11/3.12), a first frame
 * that fails validation, or a chain whose first C-entry frame does not link back to
 * entry_prev, makes the walk return CHAIN_STALE instead of recording anything doubtful.
 */
static enum chain_result walk_frames(struct walk *w, uintptr_t f, int check_root,
				     uintptr_t entry_prev)
{
	const struct pyi_layout *L = w->L;
	uintptr_t prev = 0;
	int first = 1;

	for (; f; first = 0, f = prev) {
		uintptr_t code, ip;
		uint8_t owner;
		int32_t first_traceable;
		int64_t units;

		if (w->budget-- <= 0) {
			w->flags |= PYI_WALK_TRUNCATED;
			return CHAIN_DONE;
		}
		/* Owners: 0 thread, 1 generator, 2 frame object, then non-Python ones (3.12+). */
		if (pyi_peek_u8(f + L->fr_owner, &owner) || pyi_peek_ptr(f + L->fr_back, &prev) ||
		    owner > 4 || (owner > 2 && owner < L->owner_first_shim)) {
			if (first && check_root)
				return CHAIN_STALE;
			add_bad(w); /* the chain itself is broken: nothing beyond is reachable */
			return CHAIN_DONE;
		}
		if (check_root) {
			/* The first C-level entry on the chain (3.11: is_entry; 3.12: the CSTACK
			 * entry frame) was pushed by the innermost eval loop, so its previous frame
			 * is the one the enclosing _PyCFrame recorded. */
			uint8_t entry = 0;

			if (L->fr_is_entry == NONE)
				entry = owner >= L->owner_first_shim;
			else if (pyi_peek_u8(f + L->fr_is_entry, &entry))
				entry = 0;
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
		if (owner >= L->owner_first_shim)
			continue;

		if (pyi_peek_ptr(f + L->fr_code, &code))
			code = 0;
		code &= ~L->code_tag_mask;
		/* Code units: prev_instr (3.11/3.12) is one unit before the first instruction
		 * until the frame starts; instr_ptr (3.13+) is the current instruction. Either
		 * way CPython looks the line up at this unit. */
		intptr_t bytes = 0;
		const struct pyi_frame_memo_entry *known = memo_hit(w, f, code);
		uint32_t memo = 0;
		int ok = pyi_peek_ptr(f + L->fr_instr, &ip) == 0;
		/* The first frame of a chain that may be stale (3.11/3.12) is checked in full
		 * whatever the memo says: a stale pointer can lead to a frame the memo knows. */
		if (ok && known && !(first && check_root)) {
			first_traceable = known->first_traceable;
			units = known->units;
		} else if (ok) {
			ok = is_code(L, code) &&
			     pyi_peek_i32(code + L->co_firsttraceable, &first_traceable) == 0 &&
			     pyi_peek_i64(code + L->ob_size, &units) == 0;
		}
		if (ok) {
			bytes = (intptr_t)(ip - (code + (uintptr_t)L->co_code_adaptive));
			/* No upper bound on first_traceable: a value past the code's end means the
			 * frame can never complete (3.13's __init__ cleanup shim, _Py_InitCleanup,
			 * has 3 units and _co_firsttraceable 4), which the rule below skips. */
			ok = !(bytes & 1) && bytes >= -2 && bytes / 2 <= units &&
			     first_traceable >= 0;
		}
		if (!ok) {
			if (first && check_root)
				return CHAIN_STALE;
			add_bad(w);
			continue;
		}
		if (!known)
			memo = memo_store(w, f, code, units, first_traceable);
		int32_t instr = (int32_t)(bytes / 2);
		if (owner != L->owner_generator && instr < first_traceable)
			continue; /* incomplete: still in the prologue before RESUME */
		if (add(w, f, code, instr, known, memo))
			return CHAIN_DONE;
	}
	return CHAIN_DONE;
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

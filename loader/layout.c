/*
 * layout: the offsets of every supported CPython, as data.
 *
 * 3.8 to 3.13 come from one built-in table per minor version. Each was measured with
 * offsetof() against the installed headers of that version (pyenv 3.8.18, 3.9.18, 3.10.13,
 * 3.11.7, 3.12.1, 3.13.0 and Debian's 3.11.2) and exercised by a walker prototype, as recorded
 * in /work/shared/cpython-frames.md (marked V there); the structs they describe are in the
 * CPython sources named above each table. 3.13 is also cross-checked against its own
 * _Py_DebugOffsets at detection.
 *
 * 3.14 and 3.15 are read at run time from _Py_DebugOffsets, the struct CPython places at
 * offset 0 of _PyRuntime. Its field list changes between minor versions (and between 3.15
 * pre-releases), so the byte position of each value is per minor below (cpython-frames.md
 * §6.2). What the debug offsets do not carry is added from per-version facts (owner enum,
 * stackref tag bits, str state bits, _co_firsttraceable's place), and the result is
 * self-checked before use.
 */
#include "loader/layout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NONE PYI_OFF_NONE

/*
 * Fields shared by the 3.8, 3.9 and 3.10 tables. Sources: Include/cpython/pystate.h
 * (PyThreadState), Include/frameobject.h / Include/cpython/frameobject.h (PyFrameObject),
 * Include/code.h / Include/cpython/code.h (PyCodeObject), Include/cpython/unicodeobject.h of
 * those branches.
 */
#define OLD_COMMON                                                                          \
	.ts_next = 8, .ts_interp = 16, .ts_frame = 24, .ts_thread_id = 176, .ts_native_thread_id = NONE, \
	.cframe_current = NONE, .cframe_previous = NONE, .frames = PYI_FRAMES_OBJECTS,      \
	.fr_back = 24, .fr_code = 32, .fr_owner = NONE, .fr_is_entry = NONE,                \
	.owner_generator = 0xff, .owner_first_shim = 0xff, .code_tag_mask = 0, .ob_type = 8, \
	.ob_size = 16, .co_firstlineno = 40, .co_filename = 104, .co_name = 112,             \
	.co_qualname = NONE, .co_linetable = 120, .co_code_adaptive = NONE,                  \
	.co_firsttraceable = NONE, .bytes_size = 16, .bytes_data = 32, .str_length = 16,     \
	.str_state = 32, .str_ascii_data = 48, .str_compact_data = 72, .str_has_ready_bit = 1

/* CPython v3.8.18: Include/internal/pycore_pystate.h (_PyRuntimeState: initialized @12,
 * _finalizing @16, interpreters.head @32, gilstate.tstate_current @1368, gilstate.autoTSSkey
 * @1392). f_lasti counts bytes. */
static const struct pyi_layout layout_3_8 = {
	OLD_COMMON,
	.rt_initialized = 12, .rt_finalizing = 16, .rt_interpreters_head = 32,
	.interp_next = 0, .interp_threads_head = 8,
	.rt_tss_key = 1392, .rt_gil_holder = 1368,
	.ts_size = 264, .fr_instr = 104,
};

/* CPython v3.9.18: Include/internal/pycore_runtime.h (the gilstate moved up: tstate_current
 * @568, autoTSSkey @584). f_lasti counts bytes. */
static const struct pyi_layout layout_3_9 = {
	OLD_COMMON,
	.rt_initialized = 12, .rt_finalizing = 16, .rt_interpreters_head = 32,
	.interp_next = 0, .interp_threads_head = 8,
	.rt_tss_key = 584, .rt_gil_holder = 568,
	.ts_size = 264, .fr_instr = 104,
};

/* CPython v3.10.13: as 3.9 for the runtime; PyFrameObject lost f_valuestack's neighbour, so
 * f_lasti is @96 and counts code units (PyFrame_GetLineNumber looks up f_lasti*2). */
static const struct pyi_layout layout_3_10 = {
	OLD_COMMON,
	.rt_initialized = 12, .rt_finalizing = 16, .rt_interpreters_head = 32,
	.interp_next = 0, .interp_threads_head = 8,
	.rt_tss_key = 584, .rt_gil_holder = 568,
	.ts_size = 280, .fr_instr = 96,
};

/*
 * CPython v3.11.7 (Debian's 3.11.2 identical): Include/internal/pycore_runtime.h,
 * Include/cpython/pystate.h (cframe @56, thread_id @152, native_thread_id @160; _PyCFrame
 * {use_tracing; current_frame @8; previous @16}), Include/internal/pycore_frame.h
 * (_PyInterpreterFrame: f_code @32, previous @48, prev_instr @56, is_entry @68, owner @69;
 * owners THREAD 0, GENERATOR 1, FRAME_OBJECT 2), Include/cpython/code.h (_co_firsttraceable
 * @168, co_code_adaptive @184).
 */
static const struct pyi_layout layout_3_11 = {
	.rt_initialized = 16, .rt_finalizing = 24, .rt_interpreters_head = 40,
	.interp_next = 0, .interp_threads_head = 16,
	.rt_tss_key = 592, .rt_gil_holder = 576,
	.ts_size = 360, .ts_next = 8, .ts_interp = 16, .ts_frame = 56, .ts_thread_id = 152, .ts_native_thread_id = 160,
	.cframe_current = 8, .cframe_previous = 16,
	.frames = PYI_FRAMES_CFRAME,
	.fr_back = 48, .fr_code = 32, .fr_instr = 56, .fr_owner = 69, .fr_is_entry = 68,
	.owner_generator = 1, .owner_first_shim = 0xff, .code_tag_mask = 0,
	.ob_type = 8, .ob_size = 16,
	.co_firstlineno = 72, .co_filename = 112, .co_name = 120, .co_qualname = 128,
	.co_linetable = 136, .co_code_adaptive = 184, .co_firsttraceable = 168,
	.bytes_size = 16, .bytes_data = 32,
	.str_length = 16, .str_state = 32, .str_ascii_data = 48, .str_compact_data = 72,
	.str_has_ready_bit = 1,
};

/*
 * CPython v3.12.1: Include/internal/pycore_runtime.h (autoTSSkey @1544; tstate_current is
 * gone), Include/cpython/pystate.h (cframe @56, thread_id @136, native_thread_id @144;
 * _PyCFrame {current_frame @0; previous @8}), Include/internal/pycore_frame.h (f_code @0,
 * previous @8, prev_instr @56, owner @70; CSTACK = 3 marks the C entry frame),
 * Include/cpython/code.h (_co_firsttraceable @176, co_code_adaptive @192),
 * Include/cpython/unicodeobject.h (wstr removed: PyASCIIObject is 40 bytes).
 */
static const struct pyi_layout layout_3_12 = {
	.rt_initialized = 16, .rt_finalizing = 24, .rt_interpreters_head = 40,
	.interp_next = 0, .interp_threads_head = 72,
	.rt_tss_key = 1544, .rt_gil_holder = NONE,
	.ts_size = 288, .ts_next = 8, .ts_interp = 16, .ts_frame = 56, .ts_thread_id = 136, .ts_native_thread_id = 144,
	.cframe_current = 0, .cframe_previous = 8,
	.frames = PYI_FRAMES_CFRAME,
	.fr_back = 8, .fr_code = 0, .fr_instr = 56, .fr_owner = 70, .fr_is_entry = NONE,
	.owner_generator = 1, .owner_first_shim = 3, .code_tag_mask = 0,
	.ob_type = 8, .ob_size = 16,
	.co_firstlineno = 68, .co_filename = 112, .co_name = 120, .co_qualname = 128,
	.co_linetable = 136, .co_code_adaptive = 192, .co_firsttraceable = 176,
	.bytes_size = 16, .bytes_data = 32,
	.str_length = 16, .str_state = 32, .str_ascii_data = 40, .str_compact_data = 56,
	.str_has_ready_bit = 0,
};

/*
 * CPython v3.13.0: Include/internal/pycore_runtime.h (initialized @600, _finalizing @608,
 * interpreters.head @632, autoTSSkey @2160), Include/cpython/pystate.h (current_frame @72,
 * thread_id @152, native_thread_id @160), Include/internal/pycore_frame.h (f_executable @0,
 * code or None; previous @8, instr_ptr @56, owner @70, CSTACK = 3), Include/cpython/code.h
 * (_co_firsttraceable @184, co_code_adaptive @200).
 */
static const struct pyi_layout layout_3_13 = {
	.rt_initialized = 600, .rt_finalizing = 608, .rt_interpreters_head = 632,
	.interp_next = 7264, .interp_threads_head = 7344,
	.rt_tss_key = 2160, .rt_gil_holder = NONE,
	.ts_size = 304, .ts_next = 8, .ts_interp = 16, .ts_frame = 72, .ts_thread_id = 152, .ts_native_thread_id = 160,
	.cframe_current = NONE, .cframe_previous = NONE,
	.frames = PYI_FRAMES_DIRECT,
	.fr_back = 8, .fr_code = 0, .fr_instr = 56, .fr_owner = 70, .fr_is_entry = NONE,
	.owner_generator = 1, .owner_first_shim = 3, .code_tag_mask = 0,
	.ob_type = 8, .ob_size = 16,
	.co_firstlineno = 68, .co_filename = 112, .co_name = 120, .co_qualname = 128,
	.co_linetable = 136, .co_code_adaptive = 200, .co_firsttraceable = 184,
	.bytes_size = 16, .bytes_data = 32,
	.str_length = 16, .str_state = 32, .str_ascii_data = 40, .str_compact_data = 56,
	.str_has_ready_bit = 0,
};

int pyi_layout_builtin(unsigned minor, struct pyi_layout *l)
{
	static const struct pyi_layout *const tables[] = {
		[8] = &layout_3_8,   [9] = &layout_3_9,   [10] = &layout_3_10,
		[11] = &layout_3_11, [12] = &layout_3_12, [13] = &layout_3_13,
	};

	if (minor >= sizeof(tables) / sizeof(tables[0]) || !tables[minor])
		return -ENOENT;
	*l = *tables[minor];
	return 0;
}

/*
 * Byte position, inside _Py_DebugOffsets, of each value the walker needs (each value is a
 * uint64_t offset). 3.13: Include/internal/pycore_runtime.h of v3.13.0, read in-process from
 * 3.13.0 (V). 3.14: bloomberg/pystack src/pystack/_pystack/cpython/runtime.h (Python3_14)
 * and CPython's 3.14 Include/internal/pycore_debug_offsets.h (S). 3.15: 3.15.0rc3's
 * pycore_debug_offsets.h as mirrored by third parties; it differs from pystack's 3.15 mirror
 * by thread_state.last_profiled_frame_seq, added in 3.15.0b4 (S).
 */
struct dbg_positions {
	uint16_t rt_size, rt_finalizing, rt_interpreters_head;
	uint16_t interp_size, interp_next, interp_threads_head;
	uint16_t ts_size, ts_prev, ts_next, ts_interp, ts_current_frame;
	uint16_t ts_thread_id, ts_native_thread_id;
	uint16_t fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_owner;
	uint16_t co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno;
	uint16_t co_code_adaptive;
	uint16_t ob_type;
	uint16_t bytes_ob_size, bytes_ob_sval;
	uint16_t str_state, str_length, str_ascii_size;
	uint16_t str_compact_size; /* 0: not published (use ascii + 16) */
};

static const struct dbg_positions dbg_3_13 = {
	.rt_size = 24, .rt_finalizing = 32, .rt_interpreters_head = 40,
	.interp_size = 48, .interp_next = 64, .interp_threads_head = 72,
	.ts_size = 152, .ts_prev = 160, .ts_next = 168, .ts_interp = 176,
	.ts_current_frame = 184, .ts_thread_id = 192, .ts_native_thread_id = 200,
	.fr_size = 224, .fr_previous = 232, .fr_executable = 240, .fr_instr_ptr = 248,
	.fr_owner = 264,
	.co_size = 272, .co_filename = 280, .co_name = 288, .co_qualname = 296,
	.co_linetable = 304, .co_firstlineno = 312, .co_code_adaptive = 344,
	.ob_type = 360,
	.bytes_ob_size = 520, .bytes_ob_sval = 528,
	.str_state = 544, .str_length = 552, .str_ascii_size = 560, .str_compact_size = 0,
};

static const struct dbg_positions dbg_3_14 = {
	.rt_size = 24, .rt_finalizing = 32, .rt_interpreters_head = 40,
	.interp_size = 48, .interp_next = 64, .interp_threads_head = 72,
	.ts_size = 176, .ts_prev = 184, .ts_next = 192, .ts_interp = 200,
	.ts_current_frame = 208, .ts_thread_id = 216, .ts_native_thread_id = 224,
	.fr_size = 248, .fr_previous = 256, .fr_executable = 264, .fr_instr_ptr = 272,
	.fr_owner = 288,
	.co_size = 312, .co_filename = 320, .co_name = 328, .co_qualname = 336,
	.co_linetable = 344, .co_firstlineno = 352, .co_code_adaptive = 384,
	.ob_type = 408,
	.bytes_ob_size = 600, .bytes_ob_sval = 608,
	.str_state = 624, .str_length = 632, .str_ascii_size = 640, .str_compact_size = 0,
};

static const struct dbg_positions dbg_3_15 = {
	.rt_size = 24, .rt_finalizing = 32, .rt_interpreters_head = 40,
	.interp_size = 48, .interp_next = 64, .interp_threads_head = 72,
	.ts_size = 176, .ts_prev = 184, .ts_next = 192, .ts_interp = 200,
	.ts_current_frame = 208, .ts_thread_id = 240, .ts_native_thread_id = 248,
	.fr_size = 312, .fr_previous = 320, .fr_executable = 328, .fr_instr_ptr = 336,
	.fr_owner = 352,
	.co_size = 376, .co_filename = 384, .co_name = 392, .co_qualname = 400,
	.co_linetable = 408, .co_firstlineno = 416, .co_code_adaptive = 448,
	.ob_type = 472,
	.bytes_ob_size = 696, .bytes_ob_sval = 704,
	.str_state = 720, .str_length = 728, .str_ascii_size = 736, .str_compact_size = 744,
};

static uint64_t dbg(const unsigned char *runtime, uint16_t pos)
{
	uint64_t v;

	memcpy(&v, runtime + pos, sizeof(v));
	return v;
}

/* One self-check: the value read must equal want. */
static int expect_eq(const char *name, uint64_t got, uint64_t want, char *why, size_t why_len)
{
	if (got == want)
		return 0;
	snprintf(why, why_len, "_Py_DebugOffsets self-check failed: %s is %llu, expected %llu",
		 name, (unsigned long long)got, (unsigned long long)want);
	return -EINVAL;
}

/* One self-check: lo <= got < hi. */
static int expect_in(const char *name, uint64_t got, uint64_t lo, uint64_t hi, char *why,
		     size_t why_len)
{
	if (got >= lo && got < hi)
		return 0;
	snprintf(why, why_len,
		 "_Py_DebugOffsets self-check failed: %s is %llu, expected %llu to %llu", name,
		 (unsigned long long)got, (unsigned long long)lo, (unsigned long long)hi - 1);
	return -EINVAL;
}

int pyi_layout_from_debug(const unsigned char *runtime, unsigned minor, struct pyi_layout *l,
			  char *why, size_t why_len)
{
	const struct dbg_positions *p;
	int rc = 0;

	switch (minor) {
	case 13: p = &dbg_3_13; break;
	case 14: p = &dbg_3_14; break;
	case 15: p = &dbg_3_15; break;
	default:
		snprintf(why, why_len, "no _Py_DebugOffsets field list for 3.%u", minor);
		return -EINVAL;
	}

	uint64_t rt_size = dbg(runtime, p->rt_size);
	uint64_t ts_size = dbg(runtime, p->ts_size);
	uint64_t interp_size = dbg(runtime, p->interp_size);
	uint64_t fr_size = dbg(runtime, p->fr_size);
	uint64_t co_size = dbg(runtime, p->co_size);
	uint64_t thread_id = dbg(runtime, p->ts_thread_id);
	uint64_t co_filename = dbg(runtime, p->co_filename);
	uint64_t co_adaptive = dbg(runtime, p->co_code_adaptive);
	uint64_t ascii_size = dbg(runtime, p->str_ascii_size);
	uint64_t compact_size = p->str_compact_size ? dbg(runtime, p->str_compact_size)
						    : ascii_size + 16;

	/*
	 * The self-checks. Values that have not moved since 3.11 must read as such (a field list
	 * that is off by one slot fails them), and the others must be sane for their struct.
	 */
	rc = rc ? rc : expect_eq("thread_state.prev", dbg(runtime, p->ts_prev), 0, why, why_len);
	rc = rc ? rc : expect_eq("thread_state.next", dbg(runtime, p->ts_next), 8, why, why_len);
	rc = rc ? rc : expect_eq("thread_state.interp", dbg(runtime, p->ts_interp), 16, why, why_len);
	rc = rc ? rc : expect_eq("thread_state.current_frame", dbg(runtime, p->ts_current_frame),
				 72, why, why_len);
	rc = rc ? rc : expect_eq("interpreter_frame.previous", dbg(runtime, p->fr_previous), 8,
				 why, why_len);
	rc = rc ? rc : expect_eq("interpreter_frame.executable",
				 dbg(runtime, p->fr_executable), 0, why, why_len);
	rc = rc ? rc : expect_eq("pyobject.ob_type", dbg(runtime, p->ob_type), 8, why, why_len);
	rc = rc ? rc : expect_eq("bytes_object.ob_size", dbg(runtime, p->bytes_ob_size), 16, why,
				 why_len);
	rc = rc ? rc : expect_eq("bytes_object.ob_sval", dbg(runtime, p->bytes_ob_sval), 32, why,
				 why_len);
	rc = rc ? rc : expect_eq("unicode_object.length", dbg(runtime, p->str_length), 16, why,
				 why_len);
	rc = rc ? rc : expect_eq("unicode_object.state", dbg(runtime, p->str_state), 32, why,
				 why_len);
	rc = rc ? rc : expect_eq("unicode_object.asciiobject_size", ascii_size, 40, why, why_len);
	rc = rc ? rc : expect_eq("unicode_object.compactunicodeobject_size", compact_size, 56, why,
				 why_len);
	rc = rc ? rc : expect_eq("code_object.name", dbg(runtime, p->co_name), co_filename + 8,
				 why, why_len);
	rc = rc ? rc : expect_eq("code_object.qualname", dbg(runtime, p->co_qualname),
				 co_filename + 16, why, why_len);
	rc = rc ? rc : expect_eq("thread_state.native_thread_id",
				 dbg(runtime, p->ts_native_thread_id), thread_id + 8, why, why_len);
	rc = rc ? rc : expect_in("runtime_state.size", rt_size, 1024, 1u << 24, why, why_len);
	rc = rc ? rc : expect_in("runtime_state.finalizing", dbg(runtime, p->rt_finalizing), 0,
				 rt_size, why, why_len);
	rc = rc ? rc : expect_in("runtime_state.interpreters_head",
				 dbg(runtime, p->rt_interpreters_head), 0, rt_size, why, why_len);
	rc = rc ? rc : expect_in("interpreter_state.size", interp_size, 256, 1u << 24, why,
				 why_len);
	rc = rc ? rc : expect_in("interpreter_state.next", dbg(runtime, p->interp_next), 0,
				 interp_size, why, why_len);
	rc = rc ? rc : expect_in("interpreter_state.threads_head",
				 dbg(runtime, p->interp_threads_head), 0, interp_size, why, why_len);
	rc = rc ? rc : expect_in("thread_state.size", ts_size, 128, 1u << 16, why, why_len);
	rc = rc ? rc : expect_in("thread_state.thread_id", thread_id, 24, ts_size - 8, why, why_len);
	rc = rc ? rc : expect_in("interpreter_frame.size", fr_size, 64, 512, why, why_len);
	rc = rc ? rc : expect_in("interpreter_frame.instr_ptr", dbg(runtime, p->fr_instr_ptr), 16,
				 fr_size, why, why_len);
	/* From 3.11 to 3.15 the owner byte follows instr_ptr and holds the small enum the walker
	 * knows. A later CPython development snapshot moved it into a leading "core" struct
	 * (owner at 16) and turned the values into bit flags; refuse such a layout rather than
	 * guess what its owners mean. */
	rc = rc ? rc : expect_in("interpreter_frame.owner", dbg(runtime, p->fr_owner),
				 dbg(runtime, p->fr_instr_ptr) + 8, fr_size, why, why_len);
	rc = rc ? rc : expect_in("code_object.size", co_size, 128, 4096, why, why_len);
	rc = rc ? rc : expect_in("code_object.filename", co_filename, 24, co_size, why, why_len);
	rc = rc ? rc : expect_in("code_object.linetable", dbg(runtime, p->co_linetable), 24,
				 co_size, why, why_len);
	rc = rc ? rc : expect_in("code_object.firstlineno", dbg(runtime, p->co_firstlineno), 24,
				 co_size, why, why_len);
	/* co_code_adaptive is the trailing char[1]: the struct ends at most 8 bytes after it. */
	rc = rc ? rc : expect_in("code_object.co_code_adaptive", co_adaptive, co_size - 8, co_size,
				 why, why_len);
	if (rc)
		return rc;

	memset(l, 0, sizeof(*l));
	l->rt_initialized = NONE;
	l->rt_finalizing = (int32_t)dbg(runtime, p->rt_finalizing);
	l->rt_interpreters_head = (int32_t)dbg(runtime, p->rt_interpreters_head);
	l->interp_next = (int32_t)dbg(runtime, p->interp_next);
	l->interp_threads_head = (int32_t)dbg(runtime, p->interp_threads_head);
	l->ts_next = 8;
	l->rt_tss_key = NONE;
	l->rt_gil_holder = NONE;
	l->ts_size = (int32_t)ts_size;
	l->ts_interp = (int32_t)dbg(runtime, p->ts_interp);
	l->ts_frame = (int32_t)dbg(runtime, p->ts_current_frame);
	l->ts_thread_id = (int32_t)thread_id;
	l->ts_native_thread_id = (int32_t)dbg(runtime, p->ts_native_thread_id);
	l->cframe_current = NONE;
	l->cframe_previous = NONE;
	l->frames = PYI_FRAMES_DIRECT;
	l->fr_back = (int32_t)dbg(runtime, p->fr_previous);
	l->fr_code = (int32_t)dbg(runtime, p->fr_executable);
	l->fr_instr = (int32_t)dbg(runtime, p->fr_instr_ptr);
	l->fr_owner = (int32_t)dbg(runtime, p->fr_owner);
	l->fr_is_entry = NONE;
	/*
	 * Owner enum (Include/internal/pycore_frame.h, pycore_interpframe_structs.h): THREAD 0,
	 * GENERATOR 1, FRAME_OBJECT 2 in every version; 3 is CSTACK in 3.12/3.13, INTERPRETER
	 * in 3.14 (CSTACK moved to 4) and 3.15 (CSTACK removed; the base frame is INTERPRETER).
	 * So owner >= 3 is never a Python frame.
	 */
	l->owner_generator = 1;
	l->owner_first_shim = 3;
	/*
	 * 3.14+ f_executable is a _PyStackRef: the low two bits are tags (Py_TAG_BITS 3 in
	 * Include/internal/pycore_stackref.h; immortal code objects carry bit 0). Objects are
	 * at least 8-byte aligned, so clearing them gives the pointer.
	 */
	l->code_tag_mask = minor >= 14 ? 3 : 0;
	l->ob_type = 8;
	l->ob_size = 16;
	l->co_firstlineno = (int32_t)dbg(runtime, p->co_firstlineno);
	l->co_filename = (int32_t)co_filename;
	l->co_name = (int32_t)dbg(runtime, p->co_name);
	l->co_qualname = (int32_t)dbg(runtime, p->co_qualname);
	l->co_linetable = (int32_t)dbg(runtime, p->co_linetable);
	l->co_code_adaptive = (int32_t)co_adaptive;
	/*
	 * _co_firsttraceable is not published. On GIL builds from 3.11 through 3.14 the code
	 * object ends with "int _co_firsttraceable; void *co_extra; char co_code_adaptive[]"
	 * (Include/cpython/code.h _PyCode_DEF), so it sits 16 bytes before co_code_adaptive:
	 * 168/184, 176/192, 184/200 (V) and 192/208 (3.14, S). 3.15 keeps the same tail in the
	 * sources read; the walker also range-checks the value it loads.
	 */
	l->co_firsttraceable = (int32_t)co_adaptive - 16;
	l->bytes_size = 16;
	l->bytes_data = 32;
	l->str_length = 16;
	l->str_state = 32;
	l->str_ascii_data = (int32_t)ascii_size;
	l->str_compact_data = (int32_t)compact_size;
	l->str_has_ready_bit = 0;
	return 0;
}

int pyi_layout_compare(const struct pyi_layout *a, const struct pyi_layout *b, char *why,
		       size_t why_len)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
#define FIELD(f) { #f, offsetof(struct pyi_layout, f) }
		FIELD(rt_finalizing),     FIELD(rt_interpreters_head), FIELD(ts_interp),
		FIELD(ts_size),           FIELD(interp_next),          FIELD(interp_threads_head),
		FIELD(ts_next),
		FIELD(ts_frame),          FIELD(ts_thread_id),         FIELD(ts_native_thread_id),
		FIELD(fr_back),           FIELD(fr_code),              FIELD(fr_instr),
		FIELD(fr_owner),          FIELD(ob_type),              FIELD(co_firstlineno),
		FIELD(co_filename),       FIELD(co_name),              FIELD(co_qualname),
		FIELD(co_linetable),      FIELD(co_code_adaptive),     FIELD(co_firsttraceable),
		FIELD(bytes_size),        FIELD(bytes_data),           FIELD(str_length),
		FIELD(str_state),         FIELD(str_ascii_data),       FIELD(str_compact_data),
#undef FIELD
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		int32_t va, vb;

		memcpy(&va, (const char *)a + fields[i].off, sizeof(va));
		memcpy(&vb, (const char *)b + fields[i].off, sizeof(vb));
		if (va != vb) {
			snprintf(why, why_len, "%s is %d in the built-in table but %d in "
				 "_Py_DebugOffsets", fields[i].name, (int)va, (int)vb);
			return -EINVAL;
		}
	}
	return 0;
}

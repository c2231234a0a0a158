/*
 * The loader against a fake CPython 3.14 or 3.15 (tests/probe/fake_cpython.c, same
 * -DFAKE_MINOR): detection from _Py_DebugOffsets and its refusals, the thread-locals, and a
 * walk over hand-made thread state, frames, code, str and bytes objects laid out as those
 * versions lay them out. It checks the loader's plumbing for versions no installed
 * interpreter can exercise; the layouts themselves are the S facts of cpython-frames.md.
 */
#include "loader/layout.h"
#include "loader/linetable.h"
#include "loader/loader.h"
#include "loader/tls.h"

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef FAKE_MINOR
#define FAKE_MINOR 14
#endif

/* From the fake libpython. */
extern char _PyRuntime[];
extern unsigned long Py_Version;
extern char PyCode_Type[], PyUnicode_Type[], PyBytes_Type[];
extern const uint64_t fake_cpython_finalizing, fake_cpython_interpreters_head;
void fake_cpython_set_thread(void *bound, void *attached);
void fake_cpython_reset(void);

/* Offsets of the fake objects: the 3.14/3.15 GIL-build layouts. */
enum {
	TS_SIZE = 840, TS_INTERP = 16, TS_CURRENT_FRAME = 72, TS_THREAD_ID = 152,
	TS_NATIVE_ID = 160,
	FR_SIZE = 88, FR_EXECUTABLE = 0, FR_PREVIOUS = 8, FR_INSTR_PTR = 56, FR_OWNER = 74,
	CO_SIZE = 216, CO_FIRSTLINENO = 68, CO_FILENAME = 112, CO_NAME = 120, CO_QUALNAME = 128,
	CO_LINETABLE = 136, CO_FIRSTTRACEABLE = 192, CO_CODE = 208,
	OWNED_BY_THREAD = 0, OWNED_BY_GENERATOR = 1, OWNED_BY_INTERPRETER = 3,
	OWNED_BY_CSTACK = 4,
};

static unsigned char arena[1 << 18] __attribute__((aligned(64)));
static size_t arena_used;

static uintptr_t alloc(size_t n)
{
	uintptr_t p = (uintptr_t)arena + arena_used;

	arena_used += (n + 63) & ~(size_t)63;
	ck_assert_uint_le(arena_used, sizeof(arena));
	return p;
}

static void set_ptr(uintptr_t at, uintptr_t v)
{
	memcpy((void *)at, &v, sizeof(v));
}

static void set_i64(uintptr_t at, int64_t v)
{
	memcpy((void *)at, &v, sizeof(v));
}

static void set_u32(uintptr_t at, uint32_t v)
{
	memcpy((void *)at, &v, sizeof(v));
}

static uintptr_t make_ascii(const char *s)
{
	size_t n = strlen(s);
	uintptr_t o = alloc(40 + n + 1);

	set_ptr(o + 8, (uintptr_t)PyUnicode_Type);
	set_i64(o + 16, (int64_t)n);
	set_u32(o + 32, 1u << 2 | 1u << 5 | 1u << 6); /* kind 1, compact, ascii */
	memcpy((void *)(o + 40), s, n + 1);
	return o;
}

static uintptr_t make_ucs2(const uint16_t *s, size_t n)
{
	uintptr_t o = alloc(56 + 2 * n + 2);

	set_ptr(o + 8, (uintptr_t)PyUnicode_Type);
	set_i64(o + 16, (int64_t)n);
	set_u32(o + 32, 2u << 2 | 1u << 5); /* kind 2, compact */
	memcpy((void *)(o + 56), s, 2 * n);
	return o;
}

static uintptr_t make_bytes(const unsigned char *p, size_t n)
{
	uintptr_t o = alloc(32 + n + 1);

	set_ptr(o + 8, (uintptr_t)PyBytes_Type);
	set_i64(o + 16, (int64_t)n);
	memcpy((void *)(o + 32), p, n);
	return o;
}

/* A code object of units code units whose unit u is on line first_line + u. */
static uintptr_t make_code(uintptr_t qualname, int first_line, int units, int first_traceable)
{
	unsigned char table[3 * 64];
	uintptr_t co = alloc(CO_SIZE + 2 * (size_t)units);

	ck_assert_int_le(units, 64);
	for (int u = 0; u < units; u++) {
		table[3 * u] = u ? 0xd8 : 0xd0; /* one-line form, +1 (or +0 for the first) */
		table[3 * u + 1] = 0;
		table[3 * u + 2] = 1;
	}
	set_ptr(co + 8, (uintptr_t)PyCode_Type);
	set_i64(co + 16, units);
	set_u32(co + CO_FIRSTLINENO, (uint32_t)first_line);
	set_ptr(co + CO_FILENAME, make_ascii("/src/fake.py"));
	set_ptr(co + CO_NAME, qualname);
	set_ptr(co + CO_QUALNAME, qualname);
	set_ptr(co + CO_LINETABLE, make_bytes(table, 3 * (size_t)units));
	set_u32(co + CO_FIRSTTRACEABLE, (uint32_t)first_traceable);
	return co;
}

/* A frame running code at unit instr; tag is or-ed into f_executable (a _PyStackRef). */
static uintptr_t make_frame(uintptr_t code, unsigned tag, int instr, int owner, uintptr_t prev)
{
	uintptr_t f = alloc(FR_SIZE);

	set_ptr(f + FR_EXECUTABLE, code | tag);
	set_ptr(f + FR_PREVIOUS, prev);
	set_ptr(f + FR_INSTR_PTR, code + CO_CODE + 2 * (uintptr_t)instr);
	*(unsigned char *)(f + FR_OWNER) = (unsigned char)owner;
	return f;
}

static uintptr_t make_tstate(uintptr_t current_frame)
{
	uintptr_t ts = alloc(TS_SIZE);

	set_ptr(ts + TS_INTERP, alloc(64));
	set_ptr(ts + TS_CURRENT_FRAME, current_frame);
	set_ptr(ts + TS_THREAD_ID, (uintptr_t)pthread_self());
	set_ptr(ts + TS_NATIVE_ID, (uintptr_t)syscall(SYS_gettid));
	return ts;
}

static struct pyi_python py;
static char why[512];

static void setup(void)
{
	arena_used = 0;
	fake_cpython_reset();
	fake_cpython_set_thread(NULL, NULL);
	set_ptr((uintptr_t)_PyRuntime + fake_cpython_interpreters_head, alloc(64));
}

static void put_debug(unsigned pos, uint64_t v)
{
	memcpy(_PyRuntime + pos, &v, sizeof(v));
}

/* The leaf's code objects, kept for the walk tests. */
static uintptr_t co_leaf, co_gen, co_root;

/*
 * The chain, leaf first: leaf (complete, untagged) -> an INTERPRETER-owned entry frame
 * (f_executable = None|1, not a code object) -> a frame still before RESUME -> a generator
 * frame at unit 0 (generators are never incomplete) with a tagged code pointer -> a
 * CSTACK-owned frame -> root (tagged). The walk must give leaf, gen, root.
 */
static uintptr_t build_stack(void)
{
	static char none_object[16] __attribute__((aligned(16)));

	co_leaf = make_code(make_ascii("Leaf.method"), 10, 8, 1);
	co_gen = make_code(make_ascii("gen"), 20, 8, 2);
	co_root = make_code(make_ascii("<module>"), 1, 8, 0);
	uintptr_t co_young = make_code(make_ascii("young"), 30, 8, 3);

	uintptr_t root = make_frame(co_root, 1, 2, OWNED_BY_THREAD, 0);
	uintptr_t cstack = make_frame((uintptr_t)none_object, 1, 0, OWNED_BY_CSTACK, root);
	uintptr_t gen = make_frame(co_gen, 1, 0, OWNED_BY_GENERATOR, cstack);
	uintptr_t young = make_frame(co_young, 0, 2, OWNED_BY_THREAD, gen);
	uintptr_t entry =
		make_frame((uintptr_t)none_object, 1, 0, OWNED_BY_INTERPRETER, young);
	uintptr_t leaf = make_frame(co_leaf, 0, 5, OWNED_BY_THREAD, entry);
	return make_tstate(leaf);
}

static void detect_ok(void)
{
	int rc = pyi_loader_detect(&py, why, sizeof(why));

	ck_assert_msg(rc == PYI_LOADER_OK, "detect: %d %s", rc, why);
}

START_TEST(detect_reads_the_layout_from_the_debug_offsets)
{
	detect_ok();
	ck_assert_uint_eq(py.major, 3);
	ck_assert_uint_eq(py.minor, FAKE_MINOR);
	ck_assert_str_eq(py.version, FAKE_MINOR == 14 ? "3.14.0" : "3.15.0");
	ck_assert_int_eq(py.linetable_kind, PYI_LT_LOCATIONS);
	ck_assert_int_eq(py.static_libpython, 0);
	ck_assert_int_eq(py.layout.frames, PYI_FRAMES_DIRECT);
	ck_assert_int_eq(py.layout.fr_owner, FR_OWNER);
	ck_assert_int_eq(py.layout.co_code_adaptive, CO_CODE);
	ck_assert_int_eq(py.layout.co_firsttraceable, CO_FIRSTTRACEABLE);
	ck_assert_uint_eq(py.layout.code_tag_mask, 3);
	ck_assert_int_eq(py.layout.str_compact_data, 56);
	ck_assert_int_eq(py.layout.rt_initialized, PYI_OFF_NONE);
	ck_assert_int_eq(py.layout.tstate_source, PYI_TSTATE_TLS);
}
END_TEST

START_TEST(detect_finds_both_thread_locals_through_their_accessors)
{
	uintptr_t bound = alloc(8), attached = alloc(8), tp = pyi_tls_thread_pointer_sigsafe();

	detect_ok();
	ck_assert(py.layout.have_tls_gilstate && py.layout.have_tls_tstate);
	fake_cpython_set_thread((void *)bound, (void *)attached);
	ck_assert_uint_eq(*(uintptr_t *)(tp + (uintptr_t)py.layout.tls_gilstate), bound);
	ck_assert_uint_eq(*(uintptr_t *)(tp + (uintptr_t)py.layout.tls_tstate), attached);
}
END_TEST

static void refused_with(const char *needle)
{
	int rc = pyi_loader_detect(&py, why, sizeof(why));

	ck_assert_int_eq(rc, PYI_LOADER_UNSUPPORTED);
	ck_assert_msg(strstr(why, needle) != NULL, "why '%s' lacks '%s'", why, needle);
	ck_assert_ptr_null(strchr(why, '\n'));
}

START_TEST(detect_refuses_debug_offsets_that_fail_a_self_check)
{
	put_debug(192, 16); /* thread_state.next must be 8 */
	refused_with("thread_state.next is 16, expected 8");
}
END_TEST

START_TEST(detect_refuses_a_field_list_shifted_by_one_slot)
{
	/* What a 3.15 reader would see on a build whose _Py_DebugOffsets has one more field
	 * before thread_state: every value one slot later. */
	for (unsigned pos = 880; pos >= 176 + 8; pos -= 8) {
		uint64_t v;

		memcpy(&v, _PyRuntime + pos - 8, 8);
		put_debug(pos, v);
	}
	refused_with("self-check failed");
}
END_TEST

START_TEST(detect_refuses_frames_whose_owner_moved_before_instr_ptr)
{
	/* A frame with a leading {f_executable, previous, owner} core, as in a later CPython
	 * development snapshot whose owners are bit flags. */
	put_debug(FAKE_MINOR == 14 ? 288 : 352, 16);
	refused_with("interpreter_frame.owner is 16");
}
END_TEST

START_TEST(detect_refuses_a_free_threaded_build)
{
	put_debug(16, 1);
	refused_with("free-threaded");
}
END_TEST

START_TEST(detect_refuses_a_cookie_whose_version_is_not_py_version)
{
	put_debug(8, 0x030e01f0);
	refused_with("_Py_DebugOffsets says version");
}
END_TEST

START_TEST(detect_refuses_a_runtime_without_the_cookie)
{
	memcpy(_PyRuntime, "xdebugpz", 8);
	refused_with("cookie");
}
END_TEST

START_TEST(detect_refuses_an_early_3_15_pre_release)
{
	if (FAKE_MINOR != 15)
		return;
	Py_Version = 0x030f00b2;
	put_debug(8, Py_Version);
	refused_with("3.15.0b2 is a pre-release");
}
END_TEST

START_TEST(runtime_is_live_between_initialisation_and_finalisation)
{
	detect_ok();
	ck_assert_int_eq(pyi_loader_runtime_live_sigsafe(&py), 1);
	set_ptr((uintptr_t)_PyRuntime + fake_cpython_finalizing, alloc(8));
	ck_assert_int_eq(pyi_loader_runtime_live_sigsafe(&py), 0);
	set_ptr((uintptr_t)_PyRuntime + fake_cpython_finalizing, 0);
	set_ptr((uintptr_t)_PyRuntime + fake_cpython_interpreters_head, 0);
	ck_assert_int_eq(pyi_loader_runtime_live_sigsafe(&py), 0);
}
END_TEST

START_TEST(tstate_is_the_bound_one_when_it_belongs_to_this_thread)
{
	uintptr_t ts = build_stack();

	detect_ok();
	ck_assert_uint_eq(pyi_loader_tstate_sigsafe(&py, 0), 0);
	fake_cpython_set_thread((void *)ts, NULL);
	ck_assert_uint_eq(pyi_loader_tstate_sigsafe(&py, 0), ts);
	ck_assert_int_eq(pyi_loader_holds_gil_sigsafe(&py, ts), 0);
	fake_cpython_set_thread((void *)ts, (void *)ts);
	ck_assert_int_eq(pyi_loader_holds_gil_sigsafe(&py, ts), 1);
	set_ptr(ts + TS_NATIVE_ID, 1); /* another thread's: rejected */
	ck_assert_uint_eq(pyi_loader_tstate_sigsafe(&py, 0), 0);
}
END_TEST

START_TEST(tstate_prefers_an_attached_state_of_this_thread_over_the_bound_one)
{
	uintptr_t main_ts = build_stack(), sub_ts = make_tstate(0);

	detect_ok();
	fake_cpython_set_thread((void *)main_ts, (void *)sub_ts);
	ck_assert_uint_eq(pyi_loader_tstate_sigsafe(&py, 0), sub_ts);
	set_ptr(sub_ts + TS_THREAD_ID, 1);
	ck_assert_uint_eq(pyi_loader_tstate_sigsafe(&py, 0), main_ts);
}
END_TEST

static void *tstate_on_other_thread(void *arg)
{
	return (void *)pyi_loader_tstate_sigsafe(arg, 0);
}

START_TEST(tstate_of_another_thread_is_not_seen)
{
	uintptr_t ts = build_stack();
	pthread_t t;
	void *seen = (void *)1;

	detect_ok();
	fake_cpython_set_thread((void *)ts, (void *)ts);
	ck_assert_int_eq(pthread_create(&t, NULL, tstate_on_other_thread, &py), 0);
	pthread_join(t, &seen);
	ck_assert_ptr_null(seen);
}
END_TEST

START_TEST(walk_untags_code_and_skips_entry_and_incomplete_frames)
{
	uintptr_t ts = build_stack();
	struct pyi_raw_frame out[16];
	unsigned flags = 99;

	detect_ok();
	int n = pyi_loader_walk_sigsafe(&py, ts, out, 16, NULL, &flags);
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(flags, PYI_WALK_NEW); /* no memo: no ids */
	ck_assert_uint_eq(out[0].code, co_leaf);
	ck_assert_int_eq(out[0].instr, 5);
	ck_assert_uint_eq(out[1].code, co_gen);
	ck_assert_int_eq(out[1].instr, 0);
	ck_assert_uint_eq(out[2].code, co_root);
	ck_assert_int_eq(out[2].instr, 2);
}
END_TEST

START_TEST(walk_keeps_the_leaf_end_when_truncating)
{
	uintptr_t ts = build_stack();
	struct pyi_raw_frame out[2];
	unsigned flags;

	detect_ok();
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, out, 2, NULL, &flags), 2);
	ck_assert_uint_eq(flags, PYI_WALK_TRUNCATED | PYI_WALK_NEW);
	ck_assert_uint_eq(out[0].code, co_leaf);
	ck_assert_uint_eq(out[1].code, co_gen);
}
END_TEST

START_TEST(walk_records_a_frame_whose_code_is_not_a_code_object_as_unknown)
{
	uintptr_t ts = build_stack();
	uintptr_t leaf = *(uintptr_t *)(ts + TS_CURRENT_FRAME);
	struct pyi_raw_frame out[16];
	unsigned flags;

	detect_ok();
	set_ptr(leaf + FR_EXECUTABLE, make_ascii("not code"));
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, out, 16, NULL, &flags), 3);
	ck_assert_uint_eq(flags, PYI_WALK_PARTIAL | PYI_WALK_NEW);
	ck_assert_uint_eq(out[0].code, 0);
	ck_assert_uint_eq(out[1].code, co_gen);
}
END_TEST

START_TEST(walk_keeps_a_frame_that_points_to_itself_and_stops_there)
{
	uintptr_t ts = build_stack();
	uintptr_t leaf = *(uintptr_t *)(ts + TS_CURRENT_FRAME);
	struct pyi_raw_frame out[16];
	unsigned flags;

	detect_ok();
	set_ptr(leaf + FR_PREVIOUS, leaf);
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, out, 16, NULL, &flags), 1);
	ck_assert_uint_eq(flags, PYI_WALK_PARTIAL | PYI_WALK_NEW);
	ck_assert_uint_eq(out[0].code, co_leaf);
}
END_TEST

static struct pyi_frame_memo_entry memo_entries[64];
static struct pyi_frame_memo memo = { memo_entries, 63, 0 };

START_TEST(walk_with_a_memo_finds_the_same_frames_and_hands_back_the_callers_ids)
{
	uintptr_t ts = build_stack();
	struct pyi_raw_frame plain[16], out[16];
	unsigned flags, plain_flags;

	detect_ok();
	memset(memo_entries, 0, sizeof(memo_entries));
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, plain, 16, NULL, &plain_flags), 3);
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, out, 16, &memo, &flags), 3);
	ck_assert_uint_eq(flags, plain_flags);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(out[i].code, plain[i].code);
		ck_assert_uint_eq(out[i].frame, plain[i].frame);
		ck_assert_int_eq(out[i].instr, plain[i].instr);
		ck_assert_uint_eq(out[i].id, 0);
		struct pyi_frame_memo_entry *e = pyi_frame_memo_entry_of(&memo, &out[i]);
		ck_assert_ptr_nonnull(e);
		e->id = 70 + (uint32_t)i;
	}
	/* The leaf moves on to its next instruction: read from the frame, not the memo. */
	uintptr_t leaf = *(uintptr_t *)(ts + TS_CURRENT_FRAME);
	set_ptr(leaf + FR_INSTR_PTR, co_leaf + CO_CODE + 2 * 6);
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, out, 16, &memo, &flags), 3);
	ck_assert_uint_eq(flags, 0); /* every frame has its id */
	ck_assert_int_eq(out[0].instr, 6);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(out[i].code, plain[i].code);
		ck_assert_uint_eq(out[i].id, 70 + (uint32_t)i);
	}
}
END_TEST

START_TEST(walk_with_a_memo_validates_a_frame_that_runs_another_code_object)
{
	uintptr_t ts = build_stack();
	uintptr_t leaf = *(uintptr_t *)(ts + TS_CURRENT_FRAME);
	struct pyi_raw_frame out[16];
	unsigned flags;

	detect_ok();
	memset(memo_entries, 0, sizeof(memo_entries));
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, out, 16, &memo, &flags), 3);
	pyi_frame_memo_entry_of(&memo, &out[0])->id = 9;
	/* The same frame now runs a code object still before RESUME (first traceable 3): it is
	 * skipped, as a walk without memo would. */
	uintptr_t other = make_code(make_ascii("other"), 10, 8, 3);
	set_ptr(leaf + FR_EXECUTABLE, other);
	set_ptr(leaf + FR_INSTR_PTR, other + CO_CODE + 2 * 1);
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, out, 16, &memo, &flags), 2);
	ck_assert_uint_eq(out[0].code, co_gen);
	/* Past RESUME it is found, with no id: the caller interns it anew. */
	set_ptr(leaf + FR_INSTR_PTR, other + CO_CODE + 2 * 4);
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, out, 16, &memo, &flags), 3);
	ck_assert_uint_eq(out[0].code, other);
	ck_assert_int_eq(out[0].instr, 4);
	ck_assert_uint_eq(out[0].id, 0);
	ck_assert_uint_eq(flags, PYI_WALK_NEW);
	/* And a frame whose "code" is no code object is unknown, memo or not. */
	set_ptr(leaf + FR_EXECUTABLE, make_ascii("not code"));
	ck_assert_int_eq(pyi_loader_walk_sigsafe(&py, ts, out, 16, &memo, &flags), 3);
	ck_assert_uint_eq(flags, PYI_WALK_PARTIAL | PYI_WALK_NEW);
	ck_assert_uint_eq(out[0].code, 0);
}
END_TEST

START_TEST(code_identity_names_and_lines_come_out_as_utf8)
{
	static const uint16_t name[] = { 'f', 0xe9, 0x51fd, '.', 'x' }; /* "fé函.x" */
	uintptr_t co = make_code(make_ucs2(name, 5), 40, 4, 0);
	struct pyi_code_ident id;
	const unsigned char *table;
	size_t len;
	char buf[64];

	detect_ok();
	ck_assert_int_eq(pyi_loader_code_ident_sigsafe(&py, co, &id), 0);
	ck_assert_int_eq(id.first_line, 40);
	int n = pyi_loader_str_sigsafe(&py, id.qualname, buf, sizeof(buf));
	ck_assert_int_eq(n, 8);
	ck_assert_mem_eq(buf, "f\xc3\xa9\xe5\x87\xbd.x", 8);
	/* Cut on a character boundary: the 3-byte character does not fit in 5 bytes. */
	ck_assert_int_eq(pyi_loader_str_sigsafe(&py, id.qualname, buf, 5), 3);
	n = pyi_loader_str_sigsafe(&py, id.filename, buf, sizeof(buf));
	ck_assert_int_eq(n, 12);
	ck_assert_mem_eq(buf, "/src/fake.py", 12);
	ck_assert_int_eq(pyi_loader_bytes_sigsafe(&py, id.linetable, &table, &len), 0);
	ck_assert_int_eq(pyi_linetable_line(py.linetable_kind, table, len, id.first_line, 3), 43);
	ck_assert_int_eq(pyi_loader_code_ident_sigsafe(&py, id.qualname, &id), -1);
	ck_assert_int_eq(pyi_loader_str_sigsafe(&py, co, buf, sizeof(buf)), -1);
	ck_assert_int_eq(pyi_loader_bytes_sigsafe(&py, co, &table, &len), -1);
}
END_TEST

static Suite *fake_suite(void)
{
	Suite *s = suite_create(FAKE_MINOR == 14 ? "fake CPython 3.14" : "fake CPython 3.15");
	TCase *tc = tcase_create("loader");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, detect_reads_the_layout_from_the_debug_offsets);
	tcase_add_test(tc, detect_finds_both_thread_locals_through_their_accessors);
	tcase_add_test(tc, detect_refuses_debug_offsets_that_fail_a_self_check);
	tcase_add_test(tc, detect_refuses_a_field_list_shifted_by_one_slot);
	tcase_add_test(tc, detect_refuses_frames_whose_owner_moved_before_instr_ptr);
	tcase_add_test(tc, detect_refuses_a_free_threaded_build);
	tcase_add_test(tc, detect_refuses_a_cookie_whose_version_is_not_py_version);
	tcase_add_test(tc, detect_refuses_a_runtime_without_the_cookie);
	tcase_add_test(tc, detect_refuses_an_early_3_15_pre_release);
	tcase_add_test(tc, runtime_is_live_between_initialisation_and_finalisation);
	tcase_add_test(tc, tstate_is_the_bound_one_when_it_belongs_to_this_thread);
	tcase_add_test(tc, tstate_prefers_an_attached_state_of_this_thread_over_the_bound_one);
	tcase_add_test(tc, tstate_of_another_thread_is_not_seen);
	tcase_add_test(tc, walk_untags_code_and_skips_entry_and_incomplete_frames);
	tcase_add_test(tc, walk_keeps_the_leaf_end_when_truncating);
	tcase_add_test(tc, walk_records_a_frame_whose_code_is_not_a_code_object_as_unknown);
	tcase_add_test(tc, walk_keeps_a_frame_that_points_to_itself_and_stops_there);
	tcase_add_test(tc, walk_with_a_memo_finds_the_same_frames_and_hands_back_the_callers_ids);
	tcase_add_test(tc, walk_with_a_memo_validates_a_frame_that_runs_another_code_object);
	tcase_add_test(tc, code_identity_names_and_lines_come_out_as_utf8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fake_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

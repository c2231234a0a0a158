/*
 * fake_cpython: a stand-in libpython for CPython 3.14 or 3.15 (build with -DFAKE_MINOR=14 or
 * 15), for tests/probe/check_fake_cpython.c. No such interpreter is installed here, so this
 * is how the loader's run-time path is exercised: _Py_DebugOffsets at the start of
 * _PyRuntime, the self-checks, the thread-locals found by decoding the accessors, and (with
 * objects the test builds by hand) tagged f_executable and the 3.14+ owner values.
 *
 * It exports what the loader looks up, with the same names and kinds of symbol as a real
 * libpython: Py_GetVersion, Py_Version, _PyRuntime, the type objects, and the accessors
 * PyGILState_GetThisThreadState / _PyThreadState_GetCurrent over file-local thread-locals
 * (LOCAL STT_TLS symbols in .symtab, as in CPython). The values are those of the layouts in
 * /work/shared/cpython-frames.md §3-§6 (marked S there: from source, not from a build).
 */
#include <stdint.h>
#include <string.h>

#ifndef FAKE_MINOR
#define FAKE_MINOR 14
#endif

#define API __attribute__((visibility("default")))

#if FAKE_MINOR == 14
#define FAKE_HEX 0x030e00f0UL
#define FAKE_VERSION "3.14.0 (fake, for pyinstr's tests) [GCC]"
#else
#define FAKE_HEX 0x030f00f0UL
#define FAKE_VERSION "3.15.0 (fake, for pyinstr's tests) [GCC]"
#endif

API char _PyRuntime[65536] __attribute__((aligned(64)));
/* Writable (const in CPython) so a test can pose as a pre-release. */
API unsigned long Py_Version = FAKE_HEX;
API char PyCode_Type[416] __attribute__((aligned(16)));
API char PyUnicode_Type[416] __attribute__((aligned(16)));
API char PyBytes_Type[416] __attribute__((aligned(16)));
API char PyFrame_Type[416] __attribute__((aligned(16)));

static __thread void *_Py_tss_tstate;
static __thread void *_Py_tss_gilstate;

API const char *Py_GetVersion(void)
{
	return FAKE_VERSION;
}

API void *PyGILState_GetThisThreadState(void)
{
	return _Py_tss_gilstate;
}

API void *_PyThreadState_GetCurrent(void)
{
	return _Py_tss_tstate;
}

/* Test hook: bind (gilstate) and attach (tstate) thread states to the calling thread. */
API void fake_cpython_set_thread(void *bound, void *attached)
{
	_Py_tss_gilstate = bound;
	_Py_tss_tstate = attached;
}

/* The runtime offsets the fake promises (the test builds its objects with the same ones). */
API const uint64_t fake_cpython_finalizing = 1000, fake_cpython_interpreters_head = 1008;

static void put(unsigned pos, uint64_t value)
{
	memcpy(_PyRuntime + pos, &value, sizeof(value));
}

/* Fills _Py_DebugOffsets as CPython's _Py_DebugOffsets_INIT would. */
API void fake_cpython_reset(void)
{
	Py_Version = FAKE_HEX;
	memset(_PyRuntime, 0, sizeof(_PyRuntime));
	memcpy(_PyRuntime, "xdebugpy", 8);
	put(8, FAKE_HEX);
	put(16, 0); /* free_threaded */
	put(24, 60000);
	put(32, fake_cpython_finalizing);
	put(40, fake_cpython_interpreters_head);
	put(48, 4096); put(64, 0); put(72, 48); /* interpreter_state: size, next, threads_head */
#if FAKE_MINOR == 14
	/* thread_state */
	put(176, 824); put(184, 0); put(192, 8); put(200, 16); put(208, 72);
	put(216, 152); put(224, 160);
	/* interpreter_frame */
	put(248, 88); put(256, 8); put(264, 0); put(272, 56); put(288, 74);
	/* code_object */
	put(312, 216); put(320, 112); put(328, 120); put(336, 128); put(344, 136);
	put(352, 68); put(384, 208);
	/* pyobject, bytes_object, unicode_object */
	put(408, 8);
	put(600, 16); put(608, 32);
	put(624, 32); put(632, 16); put(640, 40);
#else
	put(176, 840); put(184, 0); put(192, 8); put(200, 16); put(208, 72);
	put(240, 152); put(248, 160);
	put(312, 88); put(320, 8); put(328, 0); put(336, 56); put(352, 74);
	put(376, 216); put(384, 112); put(392, 120); put(400, 128); put(408, 136);
	put(416, 68); put(448, 208);
	put(472, 8);
	put(696, 16); put(704, 32);
	put(720, 32); put(728, 16); put(736, 40); put(744, 56);
#endif
}

__attribute__((constructor)) static void init(void)
{
	fake_cpython_reset();
}

/*
 * pyinstr.h: the run-time API of libpyinstr.so, for a program (or a framework middleware)
 * that profiles only a part of its run. The library is preloaded; call these through
 * dlsym(RTLD_DEFAULT, ...) or, from Python, ctypes.CDLL(None). They run in normal context
 * (never from a signal handler), from any thread, and are serialised internally.
 */
#ifndef PYINSTR_H
#define PYINSTR_H

/* Starts a session writing to output (a path; %p is the pid), or to PYINSTR_OUTPUT when
 * output is NULL or empty. 0, -EALREADY (a session runs), -ENOTSUP (not a CPython the agent
 * profiles), or another -errno (a message on stderr says what). */
int pyinstr_start(const char *output);

/* Ends the session: drains, writes the END record, closes the file. 0, or -ENOENT. */
int pyinstr_stop(void);

/* 1 while a session runs in this process, else 0. */
int pyinstr_is_active(void);

#endif

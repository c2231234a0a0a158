/*
 * agent: the life of libpyinstr.so in a process.
 *
 * The constructor asks the loader whether this process is a CPython it can profile. If it is
 * not, the agent returns at once and stays inert: no thread, no signal handler, no file, no
 * output (DESIGN invariant 1). If it is, the PYINSTR_* configuration is read and a session
 * starts, unless PYINSTR_ENABLED=0 leaves it to the API (pyinstr_start/pyinstr_stop).
 * A process that links libpython has not started its interpreter yet when the constructor
 * runs, and may never (perf links it for its scripts): the session's file waits until an
 * interpreter exists, so such a process gets no file and no output (writer.c, file_due).
 *
 * Sessions end on every exit path we can see: the destructor (normal exit, sys.exit, an
 * uncaught exception), _exit (os._exit) and exec (interposed below). A fork child starts a
 * session of its own that writes its own file, opened only once it has samples.
 * A vfork child shares the parent's memory: every path here checks getpid() against the
 * session's pid and leaves the parent's session alone.
 *
 * fork and fclose are interposed for one reason. CPython 3.12+ os.fork() warns
 * ("This process ... is multi-threaded, use of fork() may lead to deadlocks") when
 * /proc/self/stat counts more than one thread, which the agent's own threads would make true.
 * So around a fork that comes from libpython (os.fork) the agent's threads are stopped, and
 * they start again at the first fclose() of the forking thread after the fork: the one that
 * closes /proc/self/stat once CPython has counted the threads (Modules/posixmodule.c,
 * warn_about_fork_with_threads, 3.12 and 3.13).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/pyinstr.h"
#include "agent/session.h"
#include "common/format.h"
#include "loader/loader.h"

#define PUBLIC __attribute__((visibility("default")))

extern char **environ;

static pthread_mutex_t lifecycle = PTHREAD_MUTEX_INITIALIZER;
static struct pyi_python python;
static struct pyi_config config;
static struct pyi_session session;
static int python_ok;
static int session_active;

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execvp_fn)(const char *, char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef void (*exit_fn)(int);
typedef pid_t (*fork_fn)(void);
typedef int (*fclose_fn)(FILE *);

static execve_fn real_execve;
static execvp_fn real_execvp;
static execvpe_fn real_execvpe;
static fexecve_fn real_fexecve;
static exit_fn real_exit;
static fork_fn real_fork;
static fclose_fn real_fclose;

static void *python_image; /* load address of the object holding libpython */
static _Atomic int resume_pending;
static _Atomic pid_t resume_tid;
/* Set by the fork wrapper for a fork that libpython makes (os.fork): only such a child is a
 * Python program going on; a fork from elsewhere (subprocess on 3.8/3.9 forks from its own
 * extension module) is about to exec, and gets no session of its own. */
static int fork_from_python;

static const char *lookup_env(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

static void print_line(const char *line, void *ctx)
{
	size_t n = strlen(line);
	(void)ctx;
	if (write(2, line, n) < 0)
		return;
	if (n == 0 || line[n - 1] != '\n')
		if (write(2, "\n", 1) < 0)
			return;
}

static int start_locked(const char *output, pid_t fork_of)
{
	struct pyi_config cfg = config;
	int rc;

	if (!python_ok)
		return -ENOTSUP;
	if (session_active)
		return -EALREADY;
	if (output && *output) {
		if (strlen(output) >= sizeof(cfg.output))
			return -ENAMETOOLONG;
		snprintf(cfg.output, sizeof(cfg.output), "%s", output);
	}
	rc = pyi_session_start(&session, &cfg, &python, fork_of);
	if (rc == 0)
		session_active = 1;
	return rc;
}

static void stop_locked(uint32_t reason)
{
	if (!session_active || session.pid != getpid())
		return;
	pyi_session_stop(&session, reason);
	session_active = 0;
}

/* Ends the session before the process image goes away (exit paths the destructor misses). */
static void finish_before_leaving(uint32_t reason)
{
	if (!session_active || session.pid != getpid())
		return; /* no session, or a vfork child sharing the parent's memory */
	/* _exit and exec may be called from a signal handler that interrupted a thread inside
	 * start/stop: rather than wait forever, leave the file as a kill would (it reads up to
	 * the last flush). */
	if (pthread_mutex_trylock(&lifecycle) != 0)
		return;
	stop_locked(reason);
	pthread_mutex_unlock(&lifecycle);
}

PUBLIC int pyinstr_start(const char *output)
{
	pthread_mutex_lock(&lifecycle);
	int rc = start_locked(output, 0);
	pthread_mutex_unlock(&lifecycle);
	return rc;
}

PUBLIC int pyinstr_stop(void)
{
	pthread_mutex_lock(&lifecycle);
	int was_active = session_active && session.pid == getpid();
	stop_locked(PYI_END_API_STOP);
	pthread_mutex_unlock(&lifecycle);
	return was_active ? 0 : -ENOENT;
}

PUBLIC int pyinstr_is_active(void)
{
	return session_active && session.pid == getpid();
}

static void before_fork(void)
{
	pthread_mutex_lock(&lifecycle);
	/* A thread inside fork() is not signalled: a signal restarts clone(), and a large
	 * process's clone can take longer than an interval. */
	if (session_active)
		atomic_store(&session.forking_tid, (pid_t)syscall(SYS_gettid));
}

static void after_fork_parent(void)
{
	if (session_active)
		atomic_store(&session.forking_tid, 0);
	pthread_mutex_unlock(&lifecycle);
}

static void after_fork_child(void)
{
	if (session_active) {
		pid_t parent = session.pid;
		pyi_session_abandon_in_child(&session);
		session_active = 0;
		if (fork_from_python)
			start_locked(NULL, parent);
	}
	fork_from_python = 0;
	pthread_mutex_unlock(&lifecycle);
}

__attribute__((constructor)) static void agent_init(void)
{
	char why[256];
	int rc;

	/* Resolved first, in every process: the wrappers below must pass through even where
	 * the agent stays inert. */
	real_execve = (execve_fn)dlsym(RTLD_NEXT, "execve");
	real_execvp = (execvp_fn)dlsym(RTLD_NEXT, "execvp");
	real_execvpe = (execvpe_fn)dlsym(RTLD_NEXT, "execvpe");
	real_fexecve = (fexecve_fn)dlsym(RTLD_NEXT, "fexecve");
	real_exit = (exit_fn)dlsym(RTLD_NEXT, "_exit");
	real_fork = (fork_fn)dlsym(RTLD_NEXT, "fork");
	real_fclose = (fclose_fn)dlsym(RTLD_NEXT, "fclose");

	rc = pyi_loader_detect(&python, why, sizeof(why));
	if (rc == PYI_LOADER_NOT_PYTHON)
		return;
	pyi_config_defaults(&config);
	pyi_config_load(&config, lookup_env, print_line, NULL);
	pyi_config_check_unknown(environ, print_line, NULL);
	if (rc != PYI_LOADER_OK) {
		if (!config.quiet) {
			char line[400];
			snprintf(line, sizeof(line), "pyinstr: %s; the program runs unprofiled", why);
			print_line(line, NULL);
		}
		return;
	}
	python_ok = 1;
	Dl_info where;
	void *version_fn = dlsym(RTLD_DEFAULT, "Py_GetVersion");
	if (version_fn && dladdr(version_fn, &where))
		python_image = where.dli_fbase;
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	if (config.enabled) {
		pthread_mutex_lock(&lifecycle);
		start_locked(NULL, 0);
		pthread_mutex_unlock(&lifecycle);
	}
}

__attribute__((destructor)) static void agent_fini(void)
{
	finish_before_leaving(PYI_END_EXIT);
}

PUBLIC void _exit(int status)
{
	finish_before_leaving(PYI_END_UNDERSCORE_EXIT);
	if (real_exit)
		real_exit(status);
	syscall(SYS_exit_group, status);
	for (;;)
		;
}

PUBLIC void _Exit(int status)
{
	_exit(status);
}

/* After a failed exec the program goes on; so does profiling, in a file of its own. */
static void resume_after_failed_exec(int was_active)
{
	if (!was_active || session.pid != getpid())
		return;
	int saved = errno;
	pyinstr_start(NULL);
	errno = saved;
}

static int before_exec(void)
{
	int was_active = session_active && session.pid == getpid();
	finish_before_leaving(PYI_END_EXEC);
	if (was_active && session.signo > 0) {
		/* A sampling signal still pending on this thread (it blocks signals) would survive
		 * exec and meet the default action there, which ends the new program. */
		sigset_t pending, ours;
		struct timespec now = {0, 0};
		sigemptyset(&ours);
		sigaddset(&ours, session.signo);
		/* The system call itself: libc's sigtimedwait is ours (agent/sigwait.c), and
		 * leaves this signal out. */
		while (sigpending(&pending) == 0 && sigismember(&pending, session.signo) &&
		       syscall(SYS_rt_sigtimedwait, &ours, NULL, &now, (size_t)(_NSIG / 8)) ==
			       session.signo)
			;
	}
	return was_active;
}

PUBLIC int execve(const char *path, char *const argv[], char *const envp[])
{
	int was_active = before_exec();
	int rc = real_execve ? real_execve(path, argv, envp)
			     : (int)syscall(SYS_execve, path, argv, envp);
	resume_after_failed_exec(was_active);
	return rc;
}

PUBLIC int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

PUBLIC int execvpe(const char *file, char *const argv[], char *const envp[])
{
	if (!real_execvpe) {
		errno = ENOSYS;
		return -1;
	}
	int was_active = before_exec();
	int rc = real_execvpe(file, argv, envp);
	resume_after_failed_exec(was_active);
	return rc;
}

PUBLIC int execvp(const char *file, char *const argv[])
{
	if (!real_execvp) {
		errno = ENOSYS;
		return -1;
	}
	int was_active = before_exec();
	int rc = real_execvp(file, argv);
	resume_after_failed_exec(was_active);
	return rc;
}

PUBLIC int fexecve(int fd, char *const argv[], char *const envp[])
{
	if (!real_fexecve) {
		errno = ENOSYS;
		return -1;
	}
	int was_active = before_exec();
	int rc = real_fexecve(fd, argv, envp);
	resume_after_failed_exec(was_active);
	return rc;
}

int pyi_agent_in_python(const void *address)
{
	Dl_info where;
	return python_image && dladdr(address, &where) && where.dli_fbase == python_image;
}

/* Is this fork os.fork() of a CPython that counts threads afterwards (3.12+)? */
static int fork_is_counted(void *caller)
{
	if (!session_active || session.pid != getpid() || python.hexversion < 0x030c0000)
		return 0;
	return pyi_agent_in_python(caller);
}

PUBLIC pid_t fork(void)
{
	void *caller = __builtin_return_address(0);
	if (!real_fork)
		real_fork = (fork_fn)dlsym(RTLD_NEXT, "fork");
	fork_from_python = pyi_agent_in_python(caller);
	if (!fork_is_counted(caller)) {
		pid_t pid = real_fork();
		if (pid != 0)
			fork_from_python = 0;
		return pid;
	}
	pthread_mutex_lock(&lifecycle);
	int paused = session_active;
	if (paused)
		pyi_session_pause(&session);
	pthread_mutex_unlock(&lifecycle);
	pid_t pid = real_fork();
	if (pid != 0)
		fork_from_python = 0;
	if (pid != 0 && paused) {
		int saved = errno;
		if (pid > 0) {
			atomic_store(&resume_tid, (pid_t)syscall(SYS_gettid));
			atomic_store(&resume_pending, 1); /* seq_cst: after resume_tid */
		} else {
			pthread_mutex_lock(&lifecycle);
			if (session_active)
				pyi_session_resume(&session);
			pthread_mutex_unlock(&lifecycle);
		}
		errno = saved;
	}
	return pid;
}

PUBLIC int fclose(FILE *stream)
{
	if (!real_fclose)
		real_fclose = (fclose_fn)dlsym(RTLD_NEXT, "fclose");
	int rc = real_fclose(stream);
	if (atomic_load(&resume_pending) &&
	    (pid_t)syscall(SYS_gettid) == atomic_load(&resume_tid)) {
		int saved = errno;
		atomic_store(&resume_pending, 0);
		pthread_mutex_lock(&lifecycle);
		if (session_active && session.pid == getpid())
			pyi_session_resume(&session);
		pthread_mutex_unlock(&lifecycle);
		errno = saved;
	}
	return rc;
}

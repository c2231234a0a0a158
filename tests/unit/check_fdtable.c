/*
 * Unit tests for agent/fdtable: a thread that goes private keeps only the descriptor it asks
 * for, the program's closes and opens no longer reach its descriptors (nor its the program's),
 * it holds no copy that would keep a program's pipe open, and what it says still reaches the
 * program's standard error as it stands at that moment. Check runs each test in a process of
 * its own, so each starts from a table of its own.
 */
#include "agent/fdtable.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct shared {
	pthread_barrier_t step;
	int keep_fd;
	int program_fd; /* a descriptor of the program's the thread must not see */
	int rc;
	int saw_program_fd;
	int kept_ok;
	ino_t kept_ino;
	int thread_fd;  /* a descriptor the thread opened in its own table */
	ssize_t read_after;
	const char *say;
};

static int temp_file(void)
{
	char path[] = "/tmp/check_fdtable-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	return fd;
}

static void *keeper(void *arg)
{
	struct shared *sh = arg;
	struct stat st;
	sh->rc = pyi_fdtable_go_private(sh->keep_fd);
	sh->saw_program_fd = fcntl(sh->program_fd, F_GETFD) >= 0;
	sh->kept_ok = fstat(sh->keep_fd, &st) == 0;
	sh->kept_ino = st.st_ino;
	return NULL;
}

START_TEST(fdtable_thread_keeps_only_the_descriptor_it_asks_for)
{
	struct shared sh = {0};
	pthread_t t;
	int keep = temp_file();
	sh.keep_fd = keep;
	sh.program_fd = temp_file();
	ck_assert_int_gt(sh.program_fd, keep);
	ck_assert_int_eq(pthread_create(&t, NULL, keeper, &sh), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(sh.rc, 0);
	ck_assert_msg(!sh.saw_program_fd, "the thread still sees the program's descriptor");
	ck_assert_msg(sh.kept_ok, "the thread lost the descriptor it kept");
	struct stat st;
	ck_assert_int_eq(fstat(keep, &st), 0);
	ck_assert_msg(sh.kept_ino == st.st_ino, "the kept descriptor is another file");
	/* the program's own table is untouched */
	ck_assert_int_ge(fcntl(keep, F_GETFD), 0);
	ck_assert_int_ge(fcntl(sh.program_fd, F_GETFD), 0);
}
END_TEST

static void *opener(void *arg)
{
	struct shared *sh = arg;
	char buf[64];
	sh->rc = pyi_fdtable_go_private(-1);
	sh->thread_fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	pthread_barrier_wait(&sh->step); /* the program closes and reopens now */
	pthread_barrier_wait(&sh->step);
	sh->read_after = read(sh->thread_fd, buf, sizeof(buf));
	close(sh->thread_fd);
	return NULL;
}

START_TEST(fdtable_program_closes_and_opens_do_not_reach_the_thread)
{
	struct shared sh = {0};
	pthread_t t;
	pthread_barrier_init(&sh.step, NULL, 2);
	ck_assert_int_eq(pthread_create(&t, NULL, opener, &sh), 0);
	pthread_barrier_wait(&sh.step);
	ck_assert_int_eq(sh.rc, 0);
	ck_assert_int_ge(sh.thread_fd, 0);
	/* As a daemon library would: close the number the thread holds (here, whatever the
	 * program has under it, set aside first), then open a file of its own under it. */
	int aside = dup(sh.thread_fd);
	close(sh.thread_fd);
	int mine = temp_file();
	ck_assert_int_eq(mine, sh.thread_fd);
	pthread_barrier_wait(&sh.step);
	pthread_join(t, NULL);
	ck_assert_int_gt(sh.read_after, 0);
	ck_assert_int_ge(fcntl(mine, F_GETFD), 0);
	ck_assert_int_eq(write(mine, "x", 1), 1);
	if (aside >= 0)
		dup2(aside, mine);
	pthread_barrier_destroy(&sh.step);
}
END_TEST

static void *holder(void *arg)
{
	struct shared *sh = arg;
	sh->rc = pyi_fdtable_go_private(-1);
	pthread_barrier_wait(&sh->step); /* went private */
	pthread_barrier_wait(&sh->step); /* the program has read its EOF */
	return NULL;
}

START_TEST(fdtable_thread_holds_no_copy_of_the_program_s_pipes)
{
	struct shared sh = {0};
	pthread_t t;
	int p[2];
	char c;
	ck_assert_int_eq(pipe(p), 0);
	pthread_barrier_init(&sh.step, NULL, 2);
	ck_assert_int_eq(pthread_create(&t, NULL, holder, &sh), 0);
	pthread_barrier_wait(&sh.step);
	ck_assert_int_eq(sh.rc, 0);
	close(p[1]);
	/* With the thread still alive: a copy of the write end in its table would block this. */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	ck_assert_int_eq(read(p[0], &c, 1), 0);
	pthread_barrier_wait(&sh.step);
	pthread_join(t, NULL);
	close(p[0]);
	pthread_barrier_destroy(&sh.step);
}
END_TEST

static void *sayer(void *arg)
{
	struct shared *sh = arg;
	sh->rc = pyi_fdtable_go_private(-1);
	pthread_barrier_wait(&sh->step); /* went private */
	pthread_barrier_wait(&sh->step); /* the program moved its standard error */
	pyi_fdtable_say(sh->rc == 0, sh->say);
	return NULL;
}

static void read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
}

START_TEST(fdtable_say_reaches_the_program_s_standard_error_as_it_is_now)
{
	struct shared sh = {.say = "pyinstr: said from a thread of its own\n"};
	pthread_t t;
	int before[2], after[2];
	char got_before[256], got_after[256];
	int saved = dup(2);
	ck_assert_int_eq(pipe(before), 0);
	ck_assert_int_eq(pipe(after), 0);
	ck_assert_int_eq(dup2(before[1], 2), 2);
	pthread_barrier_init(&sh.step, NULL, 2);
	ck_assert_int_eq(pthread_create(&t, NULL, sayer, &sh), 0);
	pthread_barrier_wait(&sh.step);
	ck_assert_int_eq(sh.rc, 0);
	ck_assert_int_eq(dup2(after[1], 2), 2);
	pthread_barrier_wait(&sh.step);
	pthread_join(t, NULL);
	pyi_fdtable_say_pending();
	dup2(saved, 2);
	close(before[1]);
	close(after[1]);
	read_all(before[0], got_before, sizeof(got_before));
	read_all(after[0], got_after, sizeof(got_after));
	ck_assert_str_eq(got_after, sh.say);
	ck_assert_str_eq(got_before, "");
	pthread_barrier_destroy(&sh.step);
}
END_TEST

static Suite *fdtable_suite(void)
{
	Suite *s = suite_create("fdtable");
	TCase *tc = tcase_create("private");

	tcase_add_test(tc, fdtable_thread_keeps_only_the_descriptor_it_asks_for);
	tcase_add_test(tc, fdtable_program_closes_and_opens_do_not_reach_the_thread);
	tcase_add_test(tc, fdtable_thread_holds_no_copy_of_the_program_s_pipes);
	tcase_add_test(tc, fdtable_say_reaches_the_program_s_standard_error_as_it_is_now);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fdtable_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

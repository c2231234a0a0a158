/*
 * Unit tests for loader/elfsym, on this test's own executable: a thread-local found by name
 * and type, a name the dynamic symbols import told from one they lack, and files that are not
 * ELF or not there refused with their error.
 */
#include "loader/elfsym.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SELF "/proc/self/exe"

/* A thread-local of this executable, kept although nothing reads it. */
__attribute__((used)) __thread int elfsym_probe_local;

START_TEST(tls_value_finds_a_thread_local_and_only_a_thread_local)
{
	uint64_t value = UINT64_MAX;

	ck_assert_int_eq(pyi_elfsym_tls_value(SELF, "elfsym_probe_local", &value), 0);
	ck_assert_uint_ne(value, UINT64_MAX);
	/* A function's name is there too, but not as a thread-local. */
	ck_assert_int_eq(pyi_elfsym_tls_value(SELF, "main", &value), -ENOENT);
	ck_assert_int_eq(pyi_elfsym_tls_value(SELF, "no_such_symbol_anywhere", &value),
			 -ENOENT);
}
END_TEST

START_TEST(dynamic_names_tells_what_the_executable_imports)
{
	/* Called from libc: named, undefined, in this executable's .dynsym. */
	ck_assert_int_eq(pyi_elfsym_dynamic_names(SELF, "getenv"), 1);
	/* What CPython's program imports, this one does not. */
	ck_assert_int_eq(pyi_elfsym_dynamic_names(SELF, "Py_BytesMain"), 0);
	/* A local symbol is in .symtab only. */
	ck_assert_int_eq(pyi_elfsym_dynamic_names(SELF, "elfsym_probe_local"), 0);
}
END_TEST

START_TEST(files_that_are_not_elf_are_refused)
{
	uint64_t value;
	char path[4096];
	const char *root = getenv("PYI_TEST_ROOT");

	ck_assert_int_eq(pyi_elfsym_dynamic_names("/nonexistent/pyinstr", "main"), -ENOENT);
	ck_assert_int_eq(pyi_elfsym_tls_value("/nonexistent/pyinstr", "x", &value), -ENOENT);
	ck_assert_int_eq(pyi_elfsym_dynamic_names("/dev/null", "main"), -ENOEXEC);
	snprintf(path, sizeof(path), "%s/Makefile", root ? root : ".");
	ck_assert_int_eq(pyi_elfsym_dynamic_names(path, "main"), -ENOEXEC);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("elfsym");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, tls_value_finds_a_thread_local_and_only_a_thread_local);
	tcase_add_test(tc, dynamic_names_tells_what_the_executable_imports);
	tcase_add_test(tc, files_that_are_not_elf_are_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

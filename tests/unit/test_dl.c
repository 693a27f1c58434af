/* test_dl.c – the lazy library loader (src/dl/lazylib.c) and the four libraries it opens. */
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "pktlog/dl.h"
#include "../../src/dl/lazylib.h"

#define NO_SUCH_LIB "libpktlog-no-such-library.so.7"

static const char *const getpid_only[] = { "getpid" };

/* A library that is not there: the message names the feature and the soname, nothing is
 * marked loaded, and asking again fails the same way (no stale success). */
static void test_missing_library_is_named(void **s)
{
	pl_dl_fn fns[1];
	struct pl_lazylib l = PL_LAZYLIB_INIT(NO_SUCH_LIB, "the test feature", getpid_only, fns, 1);
	char err[512] = "";

	assert_false(pl_lazylib_load(&l, err, sizeof(err)));
	assert_non_null(strstr(err, "the test feature needs " NO_SUCH_LIB ": "));
	assert_false(atomic_load(&l.loaded));
	err[0] = '\0';
	assert_false(pl_lazylib_load(&l, err, sizeof(err)));
	assert_non_null(strstr(err, NO_SUCH_LIB));
}

/* A library without one of the functions: the message names the function. */
static void test_missing_function_is_named(void **s)
{
	static const char *const names[] = { "getpid", "pl_no_such_function" };
	pl_dl_fn fns[2];
	struct pl_lazylib l = PL_LAZYLIB_INIT("libc.so.6", "the test feature", names, fns, 2);
	char err[512] = "";

	assert_false(pl_lazylib_load(&l, err, sizeof(err)));
	assert_non_null(strstr(err, "the test feature needs libc.so.6: "));
	assert_non_null(strstr(err, "pl_no_such_function"));
	assert_false(atomic_load(&l.loaded));
}

static void test_loads_once(void **s)
{
	pl_dl_fn fns[1];
	struct pl_lazylib l = PL_LAZYLIB_INIT("libc.so.6", "the test feature", getpid_only, fns, 1);
	char err[512];

	assert_true(pl_lazylib_load(&l, err, sizeof(err)));
	assert_true(atomic_load(&l.loaded));
	pl_dl_fn first = fns[0];
	assert_true(pl_lazylib_load(&l, err, sizeof(err)));
	assert_true(fns[0] == first);
	assert_int_equal(((pid_t (*)(void))pl_lazylib_fn(&l, 0))(), getpid());
}

/* A shim called while its library cannot be loaded stops the process with a message that
 * names the function and the library, rather than jumping through a NULL pointer. */
static void test_unloadable_shim_aborts_with_message(void **s)
{
	int fds[2], status;
	char out[1024] = "";
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pl_dl_fn fns[1];
		struct pl_lazylib l = PL_LAZYLIB_INIT(NO_SUCH_LIB, "the test feature", getpid_only, fns, 1);

		dup2(fds[1], 2);
		signal(SIGABRT, SIG_DFL);
		pl_lazylib_fn(&l, 0)();
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(out, "getpid: the test feature needs " NO_SUCH_LIB));
}

/* The sonames the Makefile found are the libraries installed here. */
static void test_the_four_libraries_load(void **s)
{
	char err[512] = "";

	assert_true(pl_dl_rdkafka(err, sizeof(err)));
	assert_true(pl_dl_microhttpd(err, sizeof(err)));
	assert_true(pl_dl_sqlite3(err, sizeof(err)));
	assert_true(pl_dl_bpf(err, sizeof(err)));
	assert_string_equal(err, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_library_is_named),
		cmocka_unit_test(test_missing_function_is_named),
		cmocka_unit_test(test_loads_once),
		cmocka_unit_test(test_unloadable_shim_aborts_with_message),
		cmocka_unit_test(test_the_four_libraries_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

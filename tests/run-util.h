/*
 * run-util.h - running other programs from the Check suites
 *
 * The executor and end-to-end suites start real processes (orcrt-executor,
 * clang, llvm-jitlink, lli). These helpers spawn one, capture what it writes
 * and wait for it with a bound, so that a hang fails the test instead of
 * stalling the run.
 */
#ifndef ORCRT_RUN_UTIL_H
#define ORCRT_RUN_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <check.h>

/* What a finished child process did. */
typedef struct {
  /* Exit status, or 128 + the signal number if a signal ended it. */
  int Status;
  /* It was still running after the time allowed, and was killed. */
  bool TimedOut;
  /* Its stdout and stderr, NUL-terminated (the size excludes the NUL). */
  char *Out;
  size_t OutSize;
  char *Err;
  size_t ErrSize;
} orcrt_test_spawn_result;

/*
 * Run the program at Argv[0] (a path, not searched) with arguments Argv
 * (NULL-terminated) and this process's environment plus the "NAME=VALUE"
 * strings of ExtraEnv (NULL-terminated, may be NULL; they win over
 * inherited ones). stdin is an empty pipe (end of file at once, like
 * /dev/null, but a pipe); stdout and stderr are pipes read
 * into R until every process holding them has closed them (so output that
 * a grandchild, such as an executor, flushes as it exits is not lost), then
 * the process is reaped. After TimeoutSeconds in all, the process is killed
 * (SIGKILL) and R->TimedOut set. Returns 0, or -1 if the process could not
 * be started (errno set; R then holds nothing to free).
 */
int orcrt_test_spawn(const char *const *Argv, const char *const *ExtraEnv, double TimeoutSeconds,
                     orcrt_test_spawn_result *R);

/*
 * orcrt_test_spawn() with Input (NUL-terminated, at most a pipe's buffer,
 * 64 KiB; NULL for none) written to the child's stdin pipe before it is
 * closed: the child reads Input, then end of file.
 */
int orcrt_test_spawn_input(const char *const *Argv, const char *const *ExtraEnv,
                           const char *Input, double TimeoutSeconds, orcrt_test_spawn_result *R);

/* Free what R holds (R itself is the caller's). */
void orcrt_test_spawn_result_free(orcrt_test_spawn_result *R);

/*
 * Wait for Pid to end, at most TimeoutSeconds. Returns its status as
 * orcrt_test_spawn_result.Status does, or -1 if it did not end in time (it is
 * then still running and not reaped).
 */
int orcrt_test_wait_pid(int Pid, double TimeoutSeconds);

/*
 * Create a fresh directory "<Parent>/<Prefix>XXXXXX" and return its path
 * (malloc'ed), or NULL with errno set.
 */
char *orcrt_test_make_temp_dir(const char *Parent, const char *Prefix);

/* Remove Path and everything under it. Missing paths are ignored. */
void orcrt_test_remove_tree(const char *Path);

/*
 * A scratch directory for each test case, under the build tree
 * ($ORCRT_TOP_BUILDDIR/tests/scratch.XXXXXX). orcrt_test_scratch_setup and
 * orcrt_test_scratch_teardown are an unchecked fixture: they run in the
 * runner's process, so the directory goes even when the test fails.
 */
void orcrt_test_scratch_setup(void);
void orcrt_test_scratch_teardown(void);

/* "<scratch directory>/Name", kept as with orcrt_test_keep(); fails the
   test if the directory could not be made. */
const char *orcrt_test_scratch_file(const char *Name);

/*
 * The value of environment variable Name, or NULL if it is unset or
 * empty.
 */
const char *orcrt_test_getenv(const char *Name);

/* The orcrt-executor of the build tree (kept as with orcrt_test_keep()). */
const char *orcrt_test_executor_path(void);

/*
 * Keep P, a malloc()ed block a test uses until it ends, and return it; it
 * is freed by orcrt_test_free_kept(), which a test case runs as a checked
 * teardown (so that LeakSanitizer sees no leak). Aborts the test if memory
 * runs out. NULL is returned as is.
 */
void *orcrt_test_keep(void *P);

/* A formatted string kept as with orcrt_test_keep(). */
char *orcrt_test_format(const char *Fmt, ...) __attribute__((format(printf, 1, 2)));

/* Free everything kept so far. */
void orcrt_test_free_kept(void);

/* A TCP connection to 127.0.0.1:Port; the socket, or -1 with errno set. */
int orcrt_test_connect_loopback(int Port);

/*
 * Add Test to S as a test case of its own, Name, for a test that runs
 * programs: it gets a scratch directory (orcrt_test_scratch_setup), the
 * executor settings unset, what it kept freed, and TimeoutSeconds.
 */
void orcrt_test_add_process_case(Suite *S, const char *Name, const TTest *Test,
                                 double TimeoutSeconds);

/*
 * Unset ORCRT_THREADS, ORCRT_MEMORY and ORCRT_LOG, so that the executors a
 * test starts take their settings from the test alone (a checked setup).
 */
void orcrt_test_unset_executor_settings(void);

#endif /* ORCRT_RUN_UTIL_H */

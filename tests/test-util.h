/*
 * test-util.h - shared helpers of the Check suites
 */
#ifndef ORCRT_TEST_UTIL_H
#define ORCRT_TEST_UTIL_H

#include <check.h>
#include <pthread.h>
#include <stdbool.h>

#include <orcrt/orcrt.h>

/* 1 in a build under AddressSanitizer or ThreadSanitizer (as gcc and clang say it). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ORCRT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ORCRT_TEST_SANITIZED 1
#endif
#endif
#ifndef ORCRT_TEST_SANITIZED
#define ORCRT_TEST_SANITIZED 0
#endif
/* 1 under ThreadSanitizer alone. */
#if defined(__SANITIZE_THREAD__)
#define ORCRT_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ORCRT_TEST_TSAN 1
#endif
#endif
#ifndef ORCRT_TEST_TSAN
#define ORCRT_TEST_TSAN 0
#endif

/*
 * A test case added to S, with a timeout in seconds and a checked fixture
 * that fails any test which leaves more descriptors open than it found.
 */
TCase *orcrt_test_case(Suite *S, const char *Name, double TimeoutSeconds);

/* The number of descriptors open in this process. */
int orcrt_test_count_fds(void);

/* The address of S's bootstrap symbol Name (the test fails if it has none). */
orc_rt_ExecutorAddr orcrt_test_bootstrap_addr(orc_rt_SessionRef S, const char *Name);

/* Assert that E is success, printing its message otherwise (consumes E). */
#define ck_assert_no_error(E)                                                                      \
  do {                                                                                             \
    orc_rt_ErrorRef ErrTmp_ = (E);                                                                 \
    ck_assert_msg(ErrTmp_ == NULL, "unexpected error: %s", orc_rt_Error_getMessage(ErrTmp_));      \
  } while (0)

/* Assert that E is an error whose message contains Substr (consumes E). */
void orcrt_test_assert_error(orc_rt_ErrorRef E, const char *Substr, const char *File, int Line);
#define ck_assert_error_contains(E, Substr)                                                        \
  orcrt_test_assert_error((E), (Substr), __FILE__, __LINE__)

/*
 * Results of wrapper calls, as the controller sees them. Each takes R and
 * disposes of it. take_sps_error decodes an SPSError result: NULL for
 * success, else its message (to free). An out-of-band error fails the test.
 */
char *orcrt_test_take_sps_error(orc_rt_WrapperFunctionBuffer *R);
/* Assert that R is SPSError success. */
void orcrt_test_assert_sps_success(orc_rt_WrapperFunctionBuffer R);
/* Assert that R is an SPSError failure whose message contains Substr. */
void orcrt_test_assert_sps_failure(orc_rt_WrapperFunctionBuffer R, const char *Substr);
/* Assert that R is an out-of-band error whose message contains Substr. */
void orcrt_test_assert_out_of_band(orc_rt_WrapperFunctionBuffer R, const char *Substr);

/* Assert that R is SPSError success if Substr is NULL, else a failure holding Substr. */
void orcrt_test_assert_sps_error(orc_rt_WrapperFunctionBuffer R, const char *Substr);
/* Assert that R is an SPSExpected failure whose message contains Substr. */
void orcrt_test_assert_expected_failure(orc_rt_WrapperFunctionBuffer R, const char *Substr);

/*
 * Assert that the trace line Line (Len bytes; no newline) ends in a
 * duration: " " and a number, then ns, µs, ms or s.
 */
void orcrt_test_assert_ends_in_duration(const char *Line, size_t Len);

/*
 * Assert that Err (an executor's whole stderr) is the one line it prints
 * when a session ends in order without a call: the hint that names
 * --llvm= for a controller that rejected the Setup.
 */
void orcrt_test_assert_setup_note(const char *Err);

/*
 * An error reporter (orc_rt_ErrorReporterFn) that appends each message and a
 * ';' to Msgs, under Lock; initialise with ORCRT_TEST_ERROR_LOG_INIT.
 */
typedef struct {
  pthread_mutex_t Lock;
  char Msgs[512];
} orcrt_test_error_log;
#define ORCRT_TEST_ERROR_LOG_INIT                                                                  \
  { PTHREAD_MUTEX_INITIALIZER, "" }
void orcrt_test_error_log_fn(void *Ctx, orc_rt_ErrorRef Err);

/*
 * A one-shot event one thread waits for and another signals (a latch): the
 * synchronisation tests use instead of sleeping.
 */
typedef struct {
  pthread_mutex_t Lock;
  pthread_cond_t Cond;
  unsigned Count;
} orcrt_test_latch;

void orcrt_test_latch_init(orcrt_test_latch *L);
void orcrt_test_latch_destroy(orcrt_test_latch *L);
/* Signal once (increments the count). */
void orcrt_test_latch_signal(orcrt_test_latch *L);
/* Wait until the count reaches N. */
void orcrt_test_latch_wait(orcrt_test_latch *L, unsigned N);
/* The count now. */
unsigned orcrt_test_latch_count(orcrt_test_latch *L);
/* Completion callback signalling the latch passed as Ctx. */
void orcrt_test_latch_signal_fn(void *Ctx);

/* The suites, one per component. */
Suite *orcrt_suite_util(void);
Suite *orcrt_suite_error(void);
Suite *orcrt_suite_buffer(void);
Suite *orcrt_suite_sps(void);
Suite *orcrt_suite_dispatcher(void);
Suite *orcrt_suite_service(void);
Suite *orcrt_suite_session(void);
Suite *orcrt_suite_loopback(void);
Suite *orcrt_suite_memory(void);
Suite *orcrt_suite_jit_ranges(void);
Suite *orcrt_suite_dylib(void);
Suite *orcrt_suite_bootstrap(void);
Suite *orcrt_suite_pipe(void);
Suite *orcrt_suite_executor(void);
Suite *orcrt_suite_e2e(void);
Suite *orcrt_suite_hostile(void);
Suite *orcrt_suite_sandbox(void);
Suite *orcrt_suite_versions(void);
Suite *orcrt_suite_faults(void);
Suite *orcrt_suite_bidir(void);
Suite *orcrt_suite_supervise(void);
Suite *orcrt_suite_listen(void);
Suite *orcrt_suite_perf(void);
Suite *orcrt_suite_perf_e2e(void);

/* Run the given suites; returns the process exit status. */
int orcrt_test_run(Suite *(*const *Suites)(void), size_t NumSuites);

#endif /* ORCRT_TEST_UTIL_H */

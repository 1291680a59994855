/*
 * check-executor.c - runs the suites of the executor side: the pipe
 * transport, the executor's Services, and orcrt-executor itself, driven by
 * the C test controller and by LLVM 19's tools, and the supervision of a
 * Session's end
 */
#include "config.h"

#include "test-util.h"

int main(void) {
  static Suite *(*const Suites[])(void) = {
      orcrt_suite_pipe,      orcrt_suite_memory,   orcrt_suite_jit_ranges, orcrt_suite_dylib,
      orcrt_suite_bootstrap, orcrt_suite_executor, orcrt_suite_e2e,        orcrt_suite_hostile,
      orcrt_suite_sandbox,   orcrt_suite_faults,   orcrt_suite_bidir,      orcrt_suite_supervise,
      orcrt_suite_listen,    orcrt_suite_perf,     orcrt_suite_perf_e2e,
  };
  return orcrt_test_run(Suites, sizeof(Suites) / sizeof(Suites[0]));
}

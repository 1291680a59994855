/*
 * check-core.c - runs the suites of the runtime core
 */
#include "config.h"

#include "test-util.h"

int main(void) {
  static Suite *(*const Suites[])(void) = {
      orcrt_suite_util,       orcrt_suite_error,   orcrt_suite_buffer,  orcrt_suite_sps,
      orcrt_suite_dispatcher, orcrt_suite_service, orcrt_suite_session,
      orcrt_suite_loopback,
  };
  return orcrt_test_run(Suites, sizeof(Suites) / sizeof(Suites[0]));
}

/*
 * check-llvm.c - runs the suite of one LLVM release's controllers driving
 * orcrt-executor (test-versions.c; tests/llvm-release.sh picks the release)
 */
#include "config.h"

#include "test-util.h"

int main(void) {
  static Suite *(*const Suites[])(void) = {orcrt_suite_versions};
  return orcrt_test_run(Suites, sizeof(Suites) / sizeof(Suites[0]));
}

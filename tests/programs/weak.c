/*
 * weak.c - weak references to symbols nobody defines bind to null.
 */
#include <stdio.h>

extern int orcrt_test_nowhere_fn(void) __attribute__((weak));
extern int orcrt_test_nowhere_data __attribute__((weak));

int main(void) {
  printf("weak function is %s\n", orcrt_test_nowhere_fn ? "defined" : "null");
  printf("weak data is %s\n", &orcrt_test_nowhere_data ? "defined" : "null");
  return orcrt_test_nowhere_fn ? orcrt_test_nowhere_fn() : 5;
}

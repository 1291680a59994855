/*
 * crash-null.c - prints a line to stdout (left in stdio's buffer when
 * stdout is a pipe or a file) and one to stderr, then stores through a null
 * pointer from a function of its own, crash_here().
 */
#include <stdio.h>

int *volatile Target; /* null, and the compiler cannot know it */

__attribute__((noinline)) void crash_here(int V) {
  *Target = V;
}

int main(void) {
  printf("before the crash\n");
  fprintf(stderr, "about to crash\n");
  crash_here(42);
  printf("after the crash?\n");
  return 0;
}

/*
 * stderr.c - writes to stdout and stderr and exits non-zero.
 */
#include <stdio.h>

int main(void) {
  printf("to stdout 1\n");
  fprintf(stderr, "to stderr 1\n");
  fputs("to stdout 2, no newline", stdout);
  fprintf(stderr, "to stderr 2: %d %s %.2f\n", 42, "words", 3.25);
  return 3;
}

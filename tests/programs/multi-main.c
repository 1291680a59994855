/*
 * multi-main.c - the first of two objects linked into one with ld -r.
 */
#include <stdio.h>

int multi_fib(int N);
extern const char *MultiGreeting;

int main(void) {
  printf("%s: fib(20) = %d\n", MultiGreeting, multi_fib(20));
  return 0;
}

/*
 * crash-overflow.c - overflows its stack by unbounded recursion, 4 KiB a
 * frame, after a line to stdout. Compiled with -O0, so that the recursion
 * stays a recursion.
 */
#include <stdio.h>

int deeper(volatile char *Up, int N) {
  volatile char Frame[4096];
  Frame[0] = (char)N;
  return deeper(Frame, N + 1) + Up[0];
}

int main(void) {
  printf("recursing\n");
  return deeper((volatile char *)"x", 0);
}

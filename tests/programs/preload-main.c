/*
 * preload-main.c - calls a function only a --preload'ed library defines.
 */
#include <stdio.h>

int orcrt_preload_answer(int X);

int main(void) {
  int A = orcrt_preload_answer(20);
  printf("answer %d\n", A);
  return A;
}

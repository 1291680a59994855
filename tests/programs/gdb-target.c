/*
 * gdb-target.c - built with -g -O0 for the debugger test: gdb must stop in
 * jit_gdb_target, a function that exists only as JIT'd code in the
 * executor, and show the line marked below.
 */
#include <stdio.h>

__attribute__((noinline)) int jit_gdb_target(int X);

__attribute__((noinline)) int jit_gdb_target(int X) {
  int Y = X * 3; /* BREAK HERE */
  return Y + 1;
}

int main(void) {
  int R = jit_gdb_target(13);
  printf("result %d\n", R);
  return R == 40 ? 0 : 1;
}

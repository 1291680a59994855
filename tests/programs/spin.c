/*
 * spin.c - two hot JIT'd functions for the profiler: a floating-point sum
 * and an FNV-style hash, each about an eighth of a second of CPU, called
 * from main. The perf tests name the lines of their loops (13-14 and
 * 20-21) and of the functions (11-16 and 18-23): keep them there.
 */
#include <stdio.h>

static volatile long Size = 30000000;

__attribute__((noinline)) double jit_hot_loop(long N) {
  double S = 0;
  for (long I = 1; I <= N; I++)
    S += 1.0 / ((double)I * (double)I);
  return S;
}

__attribute__((noinline)) long jit_other_work(long N) {
  unsigned long H = 1469598103934665603ul;
  for (long I = 0; I < N; I++)
    H = (H ^ (unsigned long)I) * 1099511628211ul;
  return (long)H;
}

int main(void) {
  double S = 0;
  long H = 0;
  for (int I = 0; I < 4; I++) {
    S += jit_hot_loop(Size);
    H += jit_other_work(Size);
  }
  printf("s=%f h=%ld\n", S, H);
  return 0;
}

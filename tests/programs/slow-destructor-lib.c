/*
 * slow-destructor-lib.c - a shared library whose destructor takes 1.5 s, as
 * one that flushes a cache or joins its threads might, and then says it
 * ran: handed to llvm-jitlink with --preload, it is closed at the end of the
 * session, after the JIT'd main has returned.
 */
#include <stdio.h>
#include <time.h>

int orcrt_preload_answer(int X) {
  return X * 2 + 1;
}

__attribute__((destructor)) static void slow_destructor(void) {
  struct timespec T = {1, 500000000L};
  while (nanosleep(&T, &T) != 0)
    ;
  printf("slow destructor done\n");
  fflush(stdout);
}

/*
 * supervised.c - JIT'd code for the supervise suite. Without arguments it
 * prints 200 numbered lines and returns 0; the output stays in stdio's
 * buffer until the executor flushes it. With an argument "pause" (as
 * llvm-jitlink-19 -args pause passes it, in argv[0]) it prints its process
 * id (the executor's), flushes, and blocks for ever.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  for (int I = 0; I < argc; I++) {
    if (strcmp(argv[I], "pause") != 0)
      continue;
    printf("pid %ld\n", (long)getpid());
    fflush(stdout);
    for (;;)
      pause();
  }
  for (int I = 1; I <= 200; I++)
    printf("line %d of the JIT'd program's output\n", I);
  return 0;
}

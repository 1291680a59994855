/*
 * hello.c - the example contrib/ci/demo.sh runs in orcrt-executor:
 *
 *   clang-19 -c hello.c -o hello.o
 *   llvm-jitlink-19 -oop-executor=orcrt-executor hello.o -args orcrt
 *
 * llvm-jitlink links hello.o into memory it reserves in orcrt-executor and
 * calls main there; main's return value becomes llvm-jitlink's exit status.
 */
#include <stdio.h>

int main(int argc, char **argv) {
  /* Out of process, argv holds exactly the words after -args (no program
     name), so argc may be 0. */
  const char *Who = argc > 0 ? argv[0] : "world";
  printf("Hello, %s! This is JIT'd code running in the executor.\n", Who);
  for (int I = 1; I < argc; I++)
    printf("  argument %d: %s\n", I, argv[I]);
  return 42;
}

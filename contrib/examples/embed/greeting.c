/*
 * greeting.c - JIT'd code that calls into the executor that runs it
 *
 *   clang-19 -c greeting.c
 *   llvm-jitlink-19 -oop-executor=./embed-executor greeting.o
 *
 * embed_kv_get() is not in any library: embed-executor offers it to JIT'd
 * code through its dylib Service, so llvm-jitlink-19 finds it there when it
 * links greeting.o into the executor.
 */
#include <stdio.h>

const char *embed_kv_get(const char *Key);

int main(void) {
  const char *Greeting = embed_kv_get("greeting");
  if (!Greeting) {
    fputs("no greeting in this executor\n", stderr);
    return 1;
  }
  printf("%s\n", Greeting);
  return 0;
}

/*
 * perf-self.c - a JIT'd program that shows what a profiler sees of it: its
 * pid and its parent's (the executor's and the controller's), the line of
 * /proc/self/maps that maps the jitdump of its pid (the marker perf record
 * logs), and the first bytes of one of its functions as they are in memory.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) int jit_square_plus(int X) {
  return X * X + 3;
}

__attribute__((noinline)) int jit_sum(int N) {
  int S = 0;
  for (int I = 0; I < N; I++)
    S += jit_square_plus(I);
  return S;
}

int main(void) {
  char Name[64], Line[4096];
  printf("pid %d ppid %d\n", (int)getpid(), (int)getppid());
  snprintf(Name, sizeof(Name), "/jit-%d.dump", (int)getpid());
  FILE *F = fopen("/proc/self/maps", "r");
  while (F && fgets(Line, sizeof(Line), F))
    if (strstr(Line, Name))
      printf("marker %s", Line);
  if (F)
    fclose(F);
  const unsigned char *Code = (const unsigned char *)jit_square_plus;
  printf("code %p", (const void *)Code);
  for (int I = 0; I < 16; I++)
    printf(" %02x", Code[I]);
  printf("\nsum %d\n", jit_sum(10));
  return 0;
}

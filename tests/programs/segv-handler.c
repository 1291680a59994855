/*
 * segv-handler.c - JIT'd code recovering from its own SIGSEGV in a handler
 * that jumps back with siglongjmp.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>

static sigjmp_buf Back;

static void on_signal(int Sig) {
  siglongjmp(Back, Sig);
}

int main(void) {
  struct sigaction Act = {.sa_handler = on_signal};
  sigemptyset(&Act.sa_mask);
  if (sigaction(SIGSEGV, &Act, NULL) != 0)
    return 1;
  int Sig = sigsetjmp(Back, 1);
  if (Sig == 0) {
    *(volatile int *)16 = 1;
    printf("no fault\n");
    return 2;
  }
  printf("recovered from signal %d\n", Sig);
  fprintf(stderr, "handler ran once\n");
  return Sig;
}

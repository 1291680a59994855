/*
 * raise.c - JIT'd code raising SIGUSR1 to its own handler.
 */
#include <signal.h>
#include <stdio.h>

static volatile sig_atomic_t Got;

static void on_signal(int Sig) {
  Got = Sig;
}

int main(void) {
  if (signal(SIGUSR1, on_signal) == SIG_ERR)
    return 1;
  if (raise(SIGUSR1) != 0)
    return 2;
  printf("handler saw signal %d\n", (int)Got);
  return Got == SIGUSR1 ? 0 : 3;
}

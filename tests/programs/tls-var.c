/*
 * tls-var.c - JIT'd code with __thread variables, run with the ORC
 * runtime, whose TLS support keeps a thread-specific key with a destructor.
 */
#include <stdio.h>

__thread int Counter = 5;
__thread char Name[16] = "tls";

int main(void) {
  Counter += 2;
  Name[3] = '!';
  printf("%s counter %d\n", Name, Counter);
  return Counter;
}

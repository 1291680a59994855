/*
 * crash-call.c - prints a line to stdout, then calls through a pointer to
 * an address nothing is mapped at.
 */
#include <stdint.h>
#include <stdio.h>

void (*volatile Fn)(void) = (void (*)(void))(uintptr_t)0xdead0000;

int main(void) {
  printf("calling a bad pointer\n");
  Fn();
  return 0;
}

/*
 * crash-call.c - prints a line to stdout, then calls through a pointer to
 * an address nothing is mapped at: 0x800, below the lowest
 * address the kernel lets any mapping start at (vm.mmap_min_addr, 4 KiB
 * or more), so not even a sanitizer runtime has anything there.
 */
#include <stdint.h>
#include <stdio.h>

void (*volatile Fn)(void) = (void (*)(void))(uintptr_t)0x800;

int main(void) {
  printf("calling a bad pointer\n");
  Fn();
  return 0;
}

/*
 * close-all-fds.c - closes every descriptor from 3 up, as a daemonising
 * program might, the executor's channel among them; then prints a line
 * that stays buffered until the executor flushes it, and returns
 */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("closing every descriptor from 3 up\n");
  fflush(stdout);
  for (int Fd = 3; Fd < 65536; Fd++)
    close(Fd);
  printf("closed them\n");
  return 0;
}

/*
 * steal-channel.c - closes the descriptors named by the executor's
 * filedescs=IN,OUT argument and puts /dev/null over them, as JIT'd code
 * that tidies up its descriptors might: the session must go on regardless
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  char Cmd[4096];
  int In = -1, Out = -1;
  int F = open("/proc/self/cmdline", O_RDONLY);
  ssize_t N = F >= 0 ? read(F, Cmd, sizeof(Cmd) - 1) : -1;
  if (F >= 0)
    close(F);
  for (ssize_t I = 0; I < N; I += (ssize_t)strlen(Cmd + I) + 1)
    if (sscanf(Cmd + I, "filedescs=%d,%d", &In, &Out) == 2)
      break;
  if (In < 0 || Out < 0) {
    printf("no filedescs= argument\n");
    return 0;
  }
  /* Closed, the numbers come back to the next open()s; then /dev/null goes over both. */
  close(In);
  close(Out);
  int Null = open("/dev/null", O_RDWR);
  int Other = open("/dev/null", O_RDWR);
  if (Null < 0 || Other < 0 || dup2(Null, In) < 0 || dup2(Null, Out) < 0)
    return 1;
  printf("replaced the descriptors of filedescs=\n");
  return 0;
}

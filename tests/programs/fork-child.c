/*
 * fork-child.c - forks a child that outlives main without executing a
 * program: it waits until the FIFO named by its last argument is opened for writing
 * and closed again. It must not keep the controller waiting for the
 * executor's end.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 1)
    return 2;
  fflush(stdout);
  pid_t Pid = fork();
  if (Pid < 0)
    return 1;
  if (Pid == 0) {
    /* Not the controller's output either: only what it inherited of the executor. */
    int Null = open("/dev/null", O_RDWR);
    dup2(Null, 0);
    dup2(Null, 1);
    dup2(Null, 2);
    int Fifo = open(argv[argc - 1], O_RDONLY);
    char Byte;
    while (Fifo >= 0 && read(Fifo, &Byte, 1) > 0)
      ;
    _exit(0);
  }
  printf("forked %s\n", Pid > 0 ? "a child" : "nothing");
  return 0;
}

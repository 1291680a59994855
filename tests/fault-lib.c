/*
 * fault-lib.c - a library the fault-injection tests load into orcrt-executor
 *
 * Functions a test runs with run_as_main (int f(int argc, char **argv)) to
 * stand in for JIT'd code that misbehaves or looks around: code that never
 * returns, code that calls the controller, code that writes to its standard
 * output, code that starts a program and code that checks its descriptors.
 * Results that must outlive the executor go to a file named by argv[0].
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <orcrt/wrapper-function.h>

int orcrt_fault_block(int Argc, char **Argv);
int orcrt_fault_spin(int Argc, char **Argv);
int orcrt_fault_call_controller(int Argc, char **Argv);
int orcrt_fault_print(int Argc, char **Argv);
int orcrt_fault_list_fds(int Argc, char **Argv);
int orcrt_fault_stdio_kinds(int Argc, char **Argv);
int orcrt_fault_answer(int Argc, char **Argv);

/* Append Text to the file at Path. */
static void note(const char *Path, const char *Text) {
  int Fd = open(Path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (Fd < 0)
    return;
  ssize_t Ignored = write(Fd, Text, strlen(Text));
  (void)Ignored;
  close(Fd);
}

/* "started" to argv[0], then block for good (the executor must give up on it). */
int orcrt_fault_block(int Argc, char **Argv) {
  if (Argc >= 1)
    note(Argv[0], "started\n");
  for (;;)
    pause();
}

/* "started" to argv[0], then spin for good without a system call. */
int orcrt_fault_spin(int Argc, char **Argv) {
  volatile unsigned long Count = 0;
  if (Argc >= 1)
    note(Argv[0], "started\n");
  for (;;)
    Count++;
}

/*
 * Call the controller as JIT'd code does through the ORC runtime:
 * argv = { PATH, CTX, FN, TAG } (hex). The call is expected to fail when the
 * controller goes away; what it returned is appended to PATH as one line
 * ("error: MESSAGE" or "result: N bytes"), so a test can see it came back
 * exactly once.
 */
int orcrt_fault_call_controller(int Argc, char **Argv) {
  typedef orc_rt_WrapperFunctionBuffer (*DispatchFn)(void *, const void *, const char *, size_t);
  if (Argc < 4)
    return 2;
  void *Ctx = (void *)(uintptr_t)strtoull(Argv[1], NULL, 16);
  DispatchFn Fn = (DispatchFn)(uintptr_t)strtoull(Argv[2], NULL, 16);
  const void *Tag = (const void *)(uintptr_t)strtoull(Argv[3], NULL, 16);
  note(Argv[0], "calling\n");
  orc_rt_WrapperFunctionBuffer R = Fn(Ctx, Tag, "ping", 4);
  char Line[512];
  if (R.Size == 0 && R.Data.ValuePtr)
    snprintf(Line, sizeof(Line), "error: %s\n", R.Data.ValuePtr);
  else
    snprintf(Line, sizeof(Line), "result: %zu bytes\n", R.Size);
  if (R.Size > sizeof(R.Data.Value) || (R.Size == 0 && R.Data.ValuePtr))
    free(R.Data.ValuePtr);
  note(Argv[0], Line);
  return 0;
}

/* Write to standard output and standard error, through stdio and directly. */
int orcrt_fault_print(int Argc, char **Argv) {
  (void)Argc;
  (void)Argv;
  for (int I = 0; I < 100; I++) {
    printf("line %d of JIT'd output, 8+ bytes\n", I);
    fprintf(stderr, "line %d of JIT'd errors\n", I);
  }
  fflush(stdout);
  ssize_t Ignored = write(1, "12345678", 8);
  Ignored = write(2, "12345678", 8);
  (void)Ignored;
  return 0;
}

/*
 * Start a shell that lists the descriptors it inherited into argv[0]
 * (one number per line). Returns the shell's exit status.
 */
int orcrt_fault_list_fds(int Argc, char **Argv) {
  if (Argc < 1)
    return 2;
  pid_t Pid = fork();
  if (Pid < 0)
    return 3;
  if (Pid == 0) {
    execl("/bin/sh", "sh", "-c", "exec ls /proc/self/fd > \"$0\"", Argv[0], (char *)NULL);
    _exit(127);
  }
  int Status;
  while (waitpid(Pid, &Status, 0) < 0)
    if (errno != EINTR)
      return 4;
  return WIFEXITED(Status) ? WEXITSTATUS(Status) : 128 + WTERMSIG(Status);
}

/*
 * Whether descriptors 0, 1 and 2 are plain stdio (closed, a file, a pipe,
 * /dev/null...) rather than one of the runtime's own (an eventfd, an epoll
 * instance, a memfd of JIT memory): returns 0 if so, else 1 + the first
 * descriptor that is the runtime's.
 */
int orcrt_fault_stdio_kinds(int Argc, char **Argv) {
  (void)Argc;
  (void)Argv;
  for (int Fd = 0; Fd < 3; Fd++) {
    char Link[64], Target[PATH_MAX];
    snprintf(Link, sizeof(Link), "/proc/self/fd/%d", Fd);
    ssize_t N = readlink(Link, Target, sizeof(Target) - 1);
    if (N < 0)
      continue;
    Target[N] = '\0';
    if (strncmp(Target, "anon_inode:", 11) == 0 || strncmp(Target, "/memfd:", 7) == 0)
      return 1 + Fd;
  }
  return 0;
}

/* Return at once with 42. */
int orcrt_fault_answer(int Argc, char **Argv) {
  (void)Argc;
  (void)Argv;
  return 42;
}

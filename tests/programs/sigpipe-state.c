/*
 * sigpipe-state.c - says how SIGPIPE stands for the JIT'd code and for a
 * program it executes: whether it is ignored or blocked here, and whether a
 * shell it starts dies of a SIGPIPE sent to itself
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  struct sigaction Act;
  sigset_t Mask;
  sigaction(SIGPIPE, NULL, &Act);
  sigprocmask(SIG_BLOCK, NULL, &Mask);
  /* Not "default": llvm-jitlink in process has a handler of its own. */
  printf("SIGPIPE here: %s, %s\n", Act.sa_handler == SIG_IGN ? "ignored" : "not ignored",
         sigismember(&Mask, SIGPIPE) ? "blocked" : "unblocked");
  fflush(stdout);
  pid_t Pid = fork();
  if (Pid == 0) {
    execl("/bin/sh", "sh", "-c", "kill -PIPE $$; echo survived", (char *)NULL);
    _exit(127);
  }
  int Status = 0;
  if (Pid < 0 || waitpid(Pid, &Status, 0) != Pid)
    return 1;
  printf("executed shell: %s\n", WIFSIGNALED(Status) && WTERMSIG(Status) == SIGPIPE
                                     ? "ended by SIGPIPE"
                                     : "survived SIGPIPE");
  return 0;
}

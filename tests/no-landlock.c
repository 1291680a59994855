/*
 * no-landlock.c - run a command as on a kernel without Landlock: a seccomp
 * filter makes landlock_create_ruleset(2) fail with ENOSYS for the command
 * and everything it starts (as a container's own profile may), and allows
 * every other call. The sandbox suite runs llvm-jitlink-19 under it to see
 * orcrt-executor --sandbox refuse, and --sandbox=best-effort warn.
 *
 * Usage: no-landlock COMMAND [ARG]...
 */
#include "config.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <unistd.h>

int main(int Argc, char **Argv) {
  if (Argc < 2) {
    fputs("usage: no-landlock COMMAND [ARG]...\n", stderr);
    return 2;
  }
  scmp_filter_ctx Ctx = seccomp_init(SCMP_ACT_ALLOW);
  int Nr = seccomp_syscall_resolve_name("landlock_create_ruleset");
  if (!Ctx || Nr == __NR_SCMP_ERROR || seccomp_rule_add(Ctx, SCMP_ACT_ERRNO(ENOSYS), Nr, 0) < 0 ||
      seccomp_load(Ctx) < 0) {
    fputs("no-landlock: cannot install the filter\n", stderr);
    return 2;
  }
  seccomp_release(Ctx);
  execvp(Argv[1], Argv + 1);
  perror(Argv[1]);
  return 127;
}

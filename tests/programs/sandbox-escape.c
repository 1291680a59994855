/*
 * sandbox-escape.c - JIT'd code that tries to get out of orcrt-executor's
 * sandbox, one way per run: -args CASE [ARG], or SANDBOX_ESCAPE_CASE and
 * SANDBOX_ESCAPE_ARG in the environment (lli-19 -remote-mcjit passes no
 * arguments). It prints "DENIED: ..." and
 * returns 0 when the system refuses, "ESCAPED: ..." and returns 3 when it
 * gets through, "UNCLEAR: ..." and returns 4 when the call fails for
 * another reason. The cases that the sandbox ends (spin, sleep, unlisted)
 * print "started" first and return 5 if they ever come back.
 *
 * Run without the sandbox, every case but those three escapes: that is the
 * control that keeps a test from passing by being broken.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int outcome(int Ok, const char *What) {
  if (Ok) {
    printf("ESCAPED: %s\n", What);
    return 3;
  }
  if (errno == EPERM || errno == EACCES) {
    printf("DENIED: %s: %s\n", What, strerror(errno));
    return 0;
  }
  printf("UNCLEAR: %s: %s\n", What, strerror(errno));
  return 4;
}

static int read_file(const char *Path) {
  char Buf[64];
  int Fd = open(Path, O_RDONLY);
  int Ok = Fd >= 0 && read(Fd, Buf, sizeof(Buf)) > 0;
  if (Fd >= 0)
    close(Fd);
  return outcome(Ok, "read a file");
}

static int write_file(const char *Path) {
  int Fd = open(Path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  int Ok = Fd >= 0 && write(Fd, "x", 1) == 1;
  if (Fd >= 0)
    close(Fd);
  return outcome(Ok, "create a file");
}

static int connect_tcp(const char *Port) {
  struct sockaddr_in A = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)atoi(Port)),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int Fd = socket(AF_INET, SOCK_STREAM, 0);
  int Ok = Fd >= 0 && connect(Fd, (struct sockaddr *)&A, sizeof(A)) == 0;
  int Saved = errno;
  if (Fd >= 0)
    close(Fd);
  errno = Saved;
  return outcome(Ok, "connect to 127.0.0.1");
}

static int exec_shell(void) {
  fflush(stdout);
  execl("/bin/sh", "sh", "-c", "echo ESCAPED: the shell ran", (char *)NULL);
  return outcome(0, "execve /bin/sh");
}

static int run_system(void) {
  fflush(stdout);
  int S = system("echo ESCAPED: system ran a shell");
  if (S == 0)
    return 3;
  errno = EPERM;
  return outcome(0, "system()");
}

static int do_fork(void) {
  pid_t P = fork();
  if (P == 0)
    _exit(0);
  if (P > 0)
    waitpid(P, NULL, 0);
  return outcome(P > 0, "fork");
}

static int trace_parent(void) {
  pid_t Parent = getppid();
  if (ptrace(PTRACE_ATTACH, Parent, NULL, NULL) < 0)
    return outcome(0, "ptrace the parent");
  waitpid(Parent, NULL, 0);
  ptrace(PTRACE_DETACH, Parent, NULL, NULL);
  return outcome(1, "ptrace the parent");
}

/*
 * Write the parent's own bytes back into it, at the start of its stack
 * mapping (found in /proc where the process may read it; else an address
 * that only shows whether the call was refused).
 */
static int write_parent(void) {
  char Path[64], Line[512];
  unsigned long Addr = 0x10000;
  snprintf(Path, sizeof(Path), "/proc/%d/maps", (int)getppid());
  FILE *F = fopen(Path, "r");
  while (F && fgets(Line, sizeof(Line), F))
    if (strstr(Line, "[stack]"))
      Addr = strtoul(Line, NULL, 16);
  if (F)
    fclose(F);
  char Byte = 0;
  struct iovec Local = {.iov_base = &Byte, .iov_len = 1};
  struct iovec Remote = {.iov_base = (void *)Addr, .iov_len = 1};
  if (process_vm_readv(getppid(), &Local, 1, &Remote, 1, 0) != 1 && errno != EFAULT)
    return outcome(0, "process_vm_readv the parent");
  return outcome(process_vm_writev(getppid(), &Local, 1, &Remote, 1, 0) == 1,
                 "process_vm_writev the parent");
}

static int map_wx(void) {
  void *P =
      mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (P != MAP_FAILED) {
    munmap(P, 4096);
    return outcome(1, "mmap writable and executable");
  }
  int R = outcome(0, "mmap writable and executable");
  /* The JIT'd code's own page. */
  uintptr_t Code = (uintptr_t)&map_wx & ~(uintptr_t)4095;
  if (mprotect((void *)Code, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) == 0) {
    mprotect((void *)Code, 4096, PROT_READ | PROT_EXEC);
    return outcome(1, "mprotect JIT'd code writable and executable");
  }
  return R | outcome(0, "mprotect JIT'd code writable and executable");
}

/* Where the allocation goes, so that the compiler cannot drop it. */
static char *volatile Kept;

static int allocate(const char *MiB) {
  size_t Size = (size_t)atol(MiB) << 20;
  char *P = Kept = malloc(Size);
  if (P) {
    P[0] = P[Size - 1] = 1;
    free(Kept);
    return outcome(1, "malloc past the memory limit");
  }
  puts("DENIED: malloc past the memory limit: it returned NULL");
  return 0;
}

static volatile unsigned long Sink;

static int started(void) {
  puts("started");
  fflush(stdout);
  return 5;
}

int main(int Argc, char **Argv) {
  const char *Case = Argc > 1 ? Argv[1] : getenv("SANDBOX_ESCAPE_CASE");
  const char *Arg = Argc > 2 ? Argv[2] : getenv("SANDBOX_ESCAPE_ARG");
  if (!Case)
    Case = "";
  if (!Arg)
    Arg = "";
  if (strcmp(Case, "read") == 0)
    return read_file(Arg);
  if (strcmp(Case, "write") == 0)
    return write_file(Arg);
  if (strcmp(Case, "connect") == 0)
    return connect_tcp(Arg);
  if (strcmp(Case, "exec") == 0)
    return exec_shell();
  if (strcmp(Case, "system") == 0)
    return run_system();
  if (strcmp(Case, "fork") == 0)
    return do_fork();
  if (strcmp(Case, "ptrace") == 0)
    return trace_parent();
  if (strcmp(Case, "vm-write") == 0)
    return write_parent();
  if (strcmp(Case, "kill-parent") == 0)
    return outcome(kill(getppid(), 0) == 0, "signal the parent");
  if (strcmp(Case, "wx") == 0)
    return map_wx();
  if (strcmp(Case, "alloc") == 0)
    return allocate(Arg);
  if (strcmp(Case, "sigsys") == 0)
    return outcome(signal(SIGSYS, SIG_IGN) != SIG_ERR, "replace the SIGSYS handler");
  if (strcmp(Case, "spin") == 0) {
    started();
    for (;;)
      Sink++;
  }
  if (strcmp(Case, "sleep") == 0) {
    started();
    for (;;)
      pause();
  }
  if (strcmp(Case, "unlisted") == 0) {
    started();
    syscall(SYS_mq_open, "/orcrt-none", 0, 0, NULL);
    return 5;
  }
  fprintf(stderr, "unknown case '%s'\n", Case);
  return 2;
}

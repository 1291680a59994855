/*
 * run-util.c - running other programs from the Check suites
 */
#include "config.h"

#include "run-util.h"
#include "test-util.h"

#include <check.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int status_of(int WaitStatus) {
  if (WIFEXITED(WaitStatus))
    return WEXITSTATUS(WaitStatus);
  if (WIFSIGNALED(WaitStatus))
    return 128 + WTERMSIG(WaitStatus);
  return -1;
}

static double now_seconds(void) {
  struct timespec T;
  clock_gettime(CLOCK_MONOTONIC, &T);
  return (double)T.tv_sec + (double)T.tv_nsec / 1e9;
}

int orcrt_test_wait_pid(int Pid, double TimeoutSeconds) {
  int WaitStatus;
#ifdef SYS_pidfd_open
  /* A pidfd becomes readable when the process ends: a bounded wait without
     polling waitpid in a loop. */
  int PidFd = (int)syscall(SYS_pidfd_open, (pid_t)Pid, 0);
  if (PidFd >= 0) {
    double Deadline = now_seconds() + TimeoutSeconds;
    int Ready = 0;
    for (;;) {
      double Left = Deadline - now_seconds();
      if (Left <= 0)
        break;
      struct pollfd P = {.fd = PidFd, .events = POLLIN};
      Ready = poll(&P, 1, (int)(Left * 1000) + 1);
      if (Ready > 0 || (Ready < 0 && errno != EINTR))
        break;
    }
    close(PidFd);
    if (Ready <= 0)
      return -1;
  }
#endif
  /* Without pidfds this wait is bounded only by the test's own timeout. */
  while (waitpid(Pid, &WaitStatus, 0) < 0)
    if (errno != EINTR)
      return -1;
  return status_of(WaitStatus);
}

/* A growing, NUL-terminated buffer a pipe is drained into. */
struct sink {
  int Fd;
  char *Data;
  size_t Size, Cap;
};

/* Read what is available on S->Fd; closes it at EOF. Returns -1 on error. */
static int drain(struct sink *S) {
  if (S->Cap - S->Size < 4096) {
    size_t Cap = S->Cap ? S->Cap * 2 : 8192;
    char *Data = realloc(S->Data, Cap + 1);
    if (!Data)
      return -1;
    S->Data = Data;
    S->Cap = Cap;
  }
  ssize_t N = read(S->Fd, S->Data + S->Size, S->Cap - S->Size);
  if (N < 0)
    return errno == EINTR || errno == EAGAIN ? 0 : -1;
  if (N == 0) {
    close(S->Fd);
    S->Fd = -1;
  }
  S->Size += (size_t)N;
  S->Data[S->Size] = '\0';
  return 0;
}

/* Drain both sinks until both reach EOF, i.e. until every process holding
   the write ends (the child and whatever it started with the same stdout,
   such as an executor that outlives its controller) has closed them; at
   most until Deadline. Returns 0 at EOF, 1 on timeout, -1 on error. */
static int drain_all(struct sink *Out, struct sink *Err, double Deadline) {
  while (Out->Fd >= 0 || Err->Fd >= 0) {
    double Left = Deadline - now_seconds();
    if (Left <= 0)
      return 1;
    struct pollfd P[2] = {{.fd = Out->Fd, .events = POLLIN}, {.fd = Err->Fd, .events = POLLIN}};
    int Ready = poll(P, 2, (int)(Left * 1000) + 1);
    if (Ready < 0 && errno != EINTR)
      return -1;
    if (Ready <= 0)
      continue;
    if ((P[0].revents && drain(Out) < 0) || (P[1].revents && drain(Err) < 0))
      return -1;
  }
  return 0;
}

static void sink_close(struct sink *S) {
  if (S->Fd >= 0)
    close(S->Fd);
  S->Fd = -1;
}

/* environ with the entries of Extra added or replaced; only the array is
   allocated. */
static char **merged_environment(const char *const *Extra) {
  size_t N = 0, M = 0;
  while (environ[N])
    N++;
  while (Extra && Extra[M])
    M++;
  char **Env = calloc(N + M + 1, sizeof(char *));
  if (!Env)
    return NULL;
  size_t K = 0;
  for (size_t I = 0; I < N; I++) {
    const char *Eq = strchr(environ[I], '=');
    size_t NameLen = Eq ? (size_t)(Eq - environ[I]) + 1 : strlen(environ[I]);
    bool Overridden = false;
    for (size_t J = 0; J < M && !Overridden; J++)
      Overridden = strncmp(Extra[J], environ[I], NameLen) == 0;
    if (!Overridden)
      Env[K++] = environ[I];
  }
  for (size_t J = 0; J < M; J++)
    Env[K++] = (char *)Extra[J];
  Env[K] = NULL;
  return Env;
}

int orcrt_test_spawn(const char *const *Argv, const char *const *ExtraEnv, double TimeoutSeconds,
                     orcrt_test_spawn_result *R) {
  return orcrt_test_spawn_input(Argv, ExtraEnv, NULL, TimeoutSeconds, R);
}

int orcrt_test_spawn_input(const char *const *Argv, const char *const *ExtraEnv, const char *Input,
                           double TimeoutSeconds, orcrt_test_spawn_result *R) {
  int InPipe[2] = {-1, -1}, OutPipe[2] = {-1, -1}, ErrPipe[2] = {-1, -1}, Err = 0;
  bool ActionsMade = false;
  char **Env = NULL;
  posix_spawn_file_actions_t Actions;
  pid_t Pid;
  struct sink Out = {.Fd = -1}, ErrSink = {.Fd = -1};

  memset(R, 0, sizeof(*R));
  if (pipe2(InPipe, O_CLOEXEC) < 0 || pipe2(OutPipe, O_CLOEXEC) < 0 ||
      pipe2(ErrPipe, O_CLOEXEC) < 0 || !(Env = merged_environment(ExtraEnv))) {
    Err = errno;
    goto fail;
  }
  if ((Err = posix_spawn_file_actions_init(&Actions)))
    goto fail;
  ActionsMade = true;
  if ((Err = posix_spawn_file_actions_adddup2(&Actions, InPipe[0], 0)) ||
      (Err = posix_spawn_file_actions_adddup2(&Actions, OutPipe[1], 1)) ||
      (Err = posix_spawn_file_actions_adddup2(&Actions, ErrPipe[1], 2)) ||
      (Err = posix_spawn(&Pid, Argv[0], &Actions, NULL, (char *const *)Argv, Env)))
    goto fail;
  /* stdin: a pipe holding Input (it fits in the pipe's buffer, so the write does not block),
     at end of file once the child has its copy. */
  for (size_t Len = Input ? strlen(Input) : 0, Done = 0; Done < Len;) {
    ssize_t W = write(InPipe[1], Input + Done, Len - Done);
    if (W < 0 && errno != EINTR)
      break; /* the child then reads less, and the test says what it got */
    Done += W > 0 ? (size_t)W : 0;
  }
  close(InPipe[0]);
  close(InPipe[1]);
  close(OutPipe[1]);
  close(ErrPipe[1]);
  InPipe[0] = InPipe[1] = OutPipe[1] = ErrPipe[1] = -1;
  Out.Fd = OutPipe[0];
  ErrSink.Fd = ErrPipe[0];
  OutPipe[0] = ErrPipe[0] = -1;

  double Deadline = now_seconds() + TimeoutSeconds;
  int Drained = drain_all(&Out, &ErrSink, Deadline);
  double Left = Deadline - now_seconds();
  R->Status = Drained == 0 ? orcrt_test_wait_pid(Pid, Left > 0 ? Left : 0) : -1;
  if (R->Status < 0) {
    R->TimedOut = true;
    kill(Pid, SIGKILL);
    R->Status = orcrt_test_wait_pid(Pid, 60);
  }
  R->Out = Out.Data ? Out.Data : strdup("");
  R->OutSize = Out.Size;
  R->Err = ErrSink.Data ? ErrSink.Data : strdup("");
  R->ErrSize = ErrSink.Size;
  Out.Data = ErrSink.Data = NULL;
fail:
  if (ActionsMade)
    posix_spawn_file_actions_destroy(&Actions);
  free(Env);
  for (int I = 0; I < 2; I++) {
    if (InPipe[I] >= 0)
      close(InPipe[I]);
    if (OutPipe[I] >= 0)
      close(OutPipe[I]);
    if (ErrPipe[I] >= 0)
      close(ErrPipe[I]);
  }
  sink_close(&Out);
  sink_close(&ErrSink);
  free(Out.Data);
  free(ErrSink.Data);
  if (Err)
    errno = Err;
  return Err ? -1 : 0;
}

void orcrt_test_spawn_result_free(orcrt_test_spawn_result *R) {
  free(R->Out);
  free(R->Err);
  R->Out = R->Err = NULL;
  R->OutSize = R->ErrSize = 0;
}

char *orcrt_test_make_temp_dir(const char *Parent, const char *Prefix) {
  size_t Len = strlen(Parent) + strlen(Prefix) + 16;
  char *Path = malloc(Len);
  if (!Path)
    return NULL;
  snprintf(Path, Len, "%s/%sXXXXXX", Parent, Prefix);
  if (!mkdtemp(Path)) {
    int Saved = errno;
    free(Path);
    errno = Saved;
    return NULL;
  }
  return Path;
}

static int remove_one(const char *Path, const struct stat *St, int Flag, struct FTW *F) {
  (void)St, (void)Flag, (void)F;
  remove(Path);
  return 0;
}

void orcrt_test_remove_tree(const char *Path) {
  nftw(Path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The scratch directory of the running test case. */
static char *Scratch;

void orcrt_test_scratch_setup(void) {
  const char *Build = orcrt_test_getenv("ORCRT_TOP_BUILDDIR");
  char *Parent = NULL;
  if (asprintf(&Parent, "%s/tests", Build ? Build : ".") < 0)
    return;
  Scratch = orcrt_test_make_temp_dir(Parent, "scratch.");
  free(Parent);
}

void orcrt_test_scratch_teardown(void) {
  if (Scratch)
    orcrt_test_remove_tree(Scratch);
  free(Scratch);
  Scratch = NULL;
}

const char *orcrt_test_executor_path(void) {
  const char *Build = orcrt_test_getenv("ORCRT_TOP_BUILDDIR");
  ck_assert_msg(Build != NULL, "ORCRT_TOP_BUILDDIR is not set (run the tests through make check)");
  return orcrt_test_format("%s/src/executor/orcrt-executor", Build);
}

const char *orcrt_test_scratch_file(const char *Name) {
  ck_assert_msg(Scratch != NULL, "could not create the test's scratch directory");
  return orcrt_test_format("%s/%s", Scratch, Name);
}

const char *orcrt_test_getenv(const char *Name) {
  const char *V = getenv(Name);
  return V && *V ? V : NULL;
}

/* What orcrt_test_keep() holds: one test's worth, in the test's process. */
static void **Kept;
static size_t NumKept, CapKept;

void *orcrt_test_keep(void *P) {
  if (!P)
    return NULL;
  if (NumKept == CapKept) {
    size_t Cap = CapKept ? CapKept * 2 : 64;
    void **New = realloc(Kept, Cap * sizeof(*New));
    if (!New)
      abort();
    Kept = New;
    CapKept = Cap;
  }
  Kept[NumKept++] = P;
  return P;
}

char *orcrt_test_format(const char *Fmt, ...) {
  va_list Ap;
  char *S = NULL;
  va_start(Ap, Fmt);
  int N = vasprintf(&S, Fmt, Ap);
  va_end(Ap);
  if (N < 0)
    abort();
  return orcrt_test_keep(S);
}

void orcrt_test_free_kept(void) {
  for (size_t I = 0; I < NumKept; I++)
    free(Kept[I]);
  free(Kept);
  Kept = NULL;
  NumKept = CapKept = 0;
}

void orcrt_test_unset_executor_settings(void) {
  unsetenv("ORCRT_THREADS");
  unsetenv("ORCRT_MEMORY");
  unsetenv("ORCRT_LOG");
  unsetenv("ORCRT_LLVM");
}

int orcrt_test_connect_loopback(int Port) {
  int Fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(Fd, 0);
  struct sockaddr_in A = {.sin_family = AF_INET, .sin_port = htons((uint16_t)Port)};
  A.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(Fd, (struct sockaddr *)&A, sizeof(A)) != 0) {
    int E = errno;
    close(Fd);
    errno = E;
    return -1;
  }
  return Fd;
}

void orcrt_test_add_process_case(Suite *S, const char *Name, const TTest *Test,
                                 double TimeoutSeconds) {
  TCase *TC = orcrt_test_case(S, Name, TimeoutSeconds);
  tcase_add_unchecked_fixture(TC, orcrt_test_scratch_setup, orcrt_test_scratch_teardown);
  tcase_add_checked_fixture(TC, orcrt_test_unset_executor_settings, orcrt_test_free_kept);
  tcase_add_test(TC, Test);
}

/*
 * test-supervise.c - orc_rt_Session_supervise(): the end of a session when
 * JIT'd code may outlive its controller
 *
 * In process, against the loopback controller: the call returns Ended once
 * the Session has shut down, and gives up on a call still running after the
 * grace period (running the deallocation actions left) with Abandoned.
 *
 * End to end, as the issue that moved supervision into the library asked:
 * tests/embed-supervised, an embedding written from the manual pages with no
 * output-holding trick, driven by the real llvm-jitlink-19 (ORCRT_CLANG,
 * ORCRT_LLVM_JITLINK; without them those tests are not registered):
 *  - 50 runs of a JIT'd program that prints, with stdout redirected to a
 *    file read the moment llvm-jitlink returns: no run may lose output;
 *  - llvm-jitlink killed (SIGKILL) while the JIT'd main blocks in pause():
 *    the embedding must exit within 2 s, in each of 5 runs.
 */
#include "config.h"

#include "run-util.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <orcrt/orcrt.h>

#define TAG(Fn) ((orc_rt_ExecutorAddr)(uintptr_t)(Fn))

static double now_ms(void) {
  struct timespec T;
  clock_gettime(CLOCK_MONOTONIC, &T);
  return (double)T.tv_sec * 1000.0 + (double)T.tv_nsec / 1e6;
}

/* ---- in process --------------------------------------------------------------- */

/* A wrapper function standing in for JIT'd code that blocks until released. */
static struct {
  pthread_mutex_t Lock; /* protects Started and Release */
  pthread_cond_t Cond;  /* broadcast when either changes */
  bool Started, Release;
} Blocker = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static void block_wrapper(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                          orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  pthread_mutex_lock(&Blocker.Lock);
  Blocker.Started = true;
  pthread_cond_broadcast(&Blocker.Cond);
  while (!Blocker.Release)
    pthread_cond_wait(&Blocker.Cond, &Blocker.Lock);
  pthread_mutex_unlock(&Blocker.Lock);
  Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromBytes("done", 4));
}

static void blocker_set(bool *Flag) {
  pthread_mutex_lock(&Blocker.Lock);
  *Flag = true;
  pthread_cond_broadcast(&Blocker.Cond);
  pthread_mutex_unlock(&Blocker.Lock);
}

static void blocker_wait_started(void) {
  pthread_mutex_lock(&Blocker.Lock);
  while (!Blocker.Started)
    pthread_cond_wait(&Blocker.Cond, &Blocker.Lock);
  pthread_mutex_unlock(&Blocker.Lock);
}

/* A deallocation action (LLVM's synchronous ABI) that counts its runs. */
static atomic_int DeallocRuns;
static orc_rt_WrapperFunctionBuffer count_action(const char *ArgData, size_t ArgSize) {
  atomic_fetch_add(&DeallocRuns, 1);
  return orc_rt_WrapperFunctionBuffer_fromBytes("\0", 1); /* SPSError: success */
}

static atomic_bool ShutdownRan;
static void on_shutdown(void *Ctx) {
  atomic_store(&ShutdownRan, true);
}

static void discard_result(void *Ctx, orc_rt_WrapperFunctionBuffer Result) {
  orc_rt_WrapperFunctionBuffer_dispose(&Result);
}

/* The Session's log, kept for the tests to search. */
static struct {
  pthread_mutex_t Lock; /* protects Text */
  char Text[4096];
} Log = {PTHREAD_MUTEX_INITIALIZER, ""};

static void capture_log(void *Ctx, orc_rt_LogLevel Level, const char *Msg) {
  pthread_mutex_lock(&Log.Lock);
  size_t Len = strlen(Log.Text);
  snprintf(Log.Text + Len, sizeof(Log.Text) - Len, "%s\n", Msg);
  pthread_mutex_unlock(&Log.Lock);
}

static bool log_contains(const char *Text) {
  pthread_mutex_lock(&Log.Lock);
  bool Found = strstr(Log.Text, Text) != NULL;
  pthread_mutex_unlock(&Log.Lock);
  return Found;
}

typedef struct {
  orc_rt_SessionRef S;
  orc_rt_LoopbackControllerRef LC;
  orc_rt_MemoryServiceRef M;
} env;

/*
 * A Session with a memory Service holding one finalized allocation whose
 * deallocation action is count_action, a notification Service that sets
 * ShutdownRan, block_wrapper, and a loopback controller attached.
 */
static void env_init(env *E) {
  orc_rt_TaskDispatcherRef D;
  orc_rt_MemoryServiceRef M;
  orc_rt_NotificationServiceRef N;
  orc_rt_ExecutorAddr Base;
  uint64_t Page = (uint64_t)sysconf(_SC_PAGESIZE);

  atomic_store(&DeallocRuns, 0);
  atomic_store(&ShutdownRan, false);
  Blocker.Started = Blocker.Release = false;
  Log.Text[0] = '\0';
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &D));
  ck_assert_no_error(orc_rt_Session_create(D, &E->S));
  E->M = NULL;
  orc_rt_Session_setLogFn(E->S, capture_log, NULL);
  orc_rt_Session_setLogLevel(E->S, orc_rt_LogLevel_Warning);
  ck_assert_no_error(orc_rt_NotificationService_add(E->S, &N));
  ck_assert_no_error(orc_rt_NotificationService_onShutdown(N, on_shutdown, NULL));
  ck_assert_no_error(orc_rt_MemoryService_add(E->S, orc_rt_MemoryStrategy_MProtect, &M));
  E->M = M;
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(E->S, NULL, block_wrapper));

  ck_assert_no_error(orc_rt_MemoryService_reserve(M, Page, &Base));
  orc_rt_MemorySegment Seg = {orc_rt_MemProt_Read, Base, Page, "x", 1};
  orc_rt_MemoryActionPair Act = {
      {0, NULL, 0}, {orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)count_action), NULL, 0}};
  orc_rt_MemoryFinalizeRequest Req = {&Seg, 1, &Act, 1};
  ck_assert_no_error(orc_rt_MemoryService_finalize(M, &Req));

  ck_assert_no_error(orc_rt_LoopbackController_create(&E->LC));
  ck_assert_no_error(orc_rt_LoopbackController_attach(E->S, E->LC));
}

/*
 * A deallocation action that takes SLOW_ACTION_MS, as a slow library
 * destructor would (the time it takes is the behaviour under test), and
 * counts its runs in DeallocRuns.
 */
#define SLOW_ACTION_MS 150
static orc_rt_WrapperFunctionBuffer slow_action(const char *ArgData, size_t ArgSize) {
  struct timespec T = {0, SLOW_ACTION_MS * 1000000L};
  while (nanosleep(&T, &T) != 0)
    ;
  atomic_fetch_add(&DeallocRuns, 1);
  return orc_rt_WrapperFunctionBuffer_fromBytes("\0", 1); /* SPSError: success */
}

/* One more allocation in E's Session, with three slow deallocation actions. */
static void add_slow_allocation(env *E) {
  orc_rt_MemoryServiceRef M = E->M;
  uint64_t Page = (uint64_t)sysconf(_SC_PAGESIZE);
  orc_rt_ExecutorAddr Base;
  ck_assert_ptr_nonnull(M);
  ck_assert_no_error(orc_rt_MemoryService_reserve(M, Page, &Base));
  orc_rt_MemorySegment Seg = {orc_rt_MemProt_Read, Base, Page, "x", 1};
  orc_rt_ExecutorAddr Slow = orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)slow_action);
  orc_rt_MemoryActionPair Acts[3] = {
      {{0, NULL, 0}, {Slow, NULL, 0}},
      {{0, NULL, 0}, {Slow, NULL, 0}},
      {{0, NULL, 0}, {Slow, NULL, 0}},
  };
  orc_rt_MemoryFinalizeRequest Req = {&Seg, 1, Acts, 3};
  ck_assert_no_error(orc_rt_MemoryService_finalize(M, &Req));
}

START_TEST(supervise_options_default_to_one_second_grace_and_half_a_second_to_abandon) {
  orc_rt_SuperviseOptions O = {0, 0, 0};
  orc_rt_SuperviseOptions_init(&O);
  ck_assert_uint_eq(O.GraceMs, 1000);
  ck_assert_uint_eq(O.AbandonMs, 500);
  ck_assert_uint_eq(O.CleanupMs, 60000);
}
END_TEST

/*
 * The grace is for code that does not return: a cleanup that takes longer
 * than it (three slow deallocation actions, no call running) runs to its
 * end.
 */
/* Supervise E, with three slow deallocation actions more, with the bounds given (0: default). */
static orc_rt_SuperviseResult supervise_slow_cleanup(env *E, unsigned GraceMs, unsigned CleanupMs) {
  env_init(E);
  add_slow_allocation(E);
  orc_rt_LoopbackController_hangUp(E->LC);
  orc_rt_SuperviseOptions O;
  orc_rt_SuperviseOptions_init(&O);
  O.GraceMs = GraceMs ? GraceMs : O.GraceMs;
  O.CleanupMs = CleanupMs ? CleanupMs : O.CleanupMs;
  return orc_rt_Session_supervise(E->S, &O);
}

START_TEST(supervise_lets_a_slow_cleanup_finish_past_the_grace_period) {
  env E;
  ck_assert_int_eq(supervise_slow_cleanup(&E, SLOW_ACTION_MS / 3, 0), orc_rt_SuperviseResult_Ended);
  ck_assert_int_eq(atomic_load(&DeallocRuns), 1 + 3);
  ck_assert(atomic_load(&ShutdownRan));
  ck_assert_msg(!log_contains("giving up"), "log: %s", Log.Text);
  orc_rt_Session_destroy(E.S);
}
END_TEST

/* The cleanup has a bound of its own, and the message names the cleanup, not JIT'd code. */
START_TEST(supervise_gives_up_on_a_cleanup_past_its_bound) {
  env E;
  ck_assert_int_eq(supervise_slow_cleanup(&E, 0, SLOW_ACTION_MS / 3),
                   orc_rt_SuperviseResult_Abandoned);
  ck_assert_msg(log_contains("the cleanup (deallocation actions, libraries' destructors) still "
                             "running 50 ms after the JIT'd code returned: giving up on it"),
                "log: %s", Log.Text);
  ck_assert_msg(!log_contains("JIT'd code still running"), "log: %s", Log.Text);
  /* The cleanup goes on to its end: every action runs once. */
  orc_rt_Session_destroy(E.S);
  ck_assert_int_eq(atomic_load(&DeallocRuns), 1 + 3);
}
END_TEST

START_TEST(supervise_returns_ended_once_the_session_has_shut_down) {
  env E;
  env_init(&E);
  orc_rt_LoopbackController_hangUp(E.LC);
  ck_assert_int_eq(orc_rt_Session_supervise(E.S, NULL), orc_rt_SuperviseResult_Ended);
  /* Every Service has shut down: the deallocation action ran, once. */
  ck_assert(atomic_load(&ShutdownRan));
  ck_assert_int_eq(atomic_load(&DeallocRuns), 1);
  ck_assert(!log_contains("giving up"));
  orc_rt_Session_destroy(E.S);
  ck_assert_int_eq(atomic_load(&DeallocRuns), 1);
}
END_TEST

START_TEST(supervise_abandons_a_call_running_past_the_grace_period) {
  env E;
  env_init(&E);
  orc_rt_LoopbackController_callWrapper(E.LC, TAG(block_wrapper),
                                        orc_rt_WrapperFunctionBuffer_fromBytes(NULL, 0),
                                        discard_result, NULL);
  blocker_wait_started();
  orc_rt_LoopbackController_hangUp(E.LC);
  orc_rt_SuperviseOptions O;
  orc_rt_SuperviseOptions_init(&O);
  O.GraceMs = 200;
  double T0 = now_ms();
  ck_assert_int_eq(orc_rt_Session_supervise(E.S, &O), orc_rt_SuperviseResult_Abandoned);
  double Took = now_ms() - T0;
  ck_assert_msg(Took >= 200 && Took < 200 + 500 + 1000, "supervise took %.0f ms", Took);
  /* The deallocation action of the memory left ran; the shutdown still waits. */
  ck_assert_int_eq(atomic_load(&DeallocRuns), 1);
  ck_assert(!atomic_load(&ShutdownRan));
  ck_assert(log_contains("JIT'd code still running 200 ms after the controller went away: "
                         "giving up on it"));
  /* The code returns after all: the shutdown, begun by supervise, completes
     (its completion comes after supervise returned), without running the
     action again. */
  blocker_set(&Blocker.Release);
  orc_rt_Session_destroy(E.S);
  ck_assert(atomic_load(&ShutdownRan));
  ck_assert_int_eq(atomic_load(&DeallocRuns), 1);
}
END_TEST

/* ---- end to end: the embedding under llvm-jitlink-19 ----------------------------- */

#define RUNS_WITH_OUTPUT 50
#define RUNS_KILLED 5
#define EXIT_BOUND_MS 2000.0
#define RUN_TIMEOUT 30.0

static const char *required_env(const char *Var) {
  const char *V = orcrt_test_getenv(Var);
  ck_assert_msg(V != NULL, "%s is not set (run the tests through make check)", Var);
  return V;
}

/* tests/programs/supervised.c, compiled into the scratch directory. */
static const char *compile_program(void) {
  const char *Obj = orcrt_test_scratch_file("supervised.o");
  const char *Argv[] = {
      required_env("ORCRT_CLANG"),
      "-c",
      "-O1",
      "-o",
      Obj,
      orcrt_test_format("%s/tests/programs/supervised.c", required_env("ORCRT_TOP_SRCDIR")),
      NULL};
  orcrt_test_spawn_result R;
  ck_assert_msg(orcrt_test_spawn(Argv, NULL, RUN_TIMEOUT, &R) == 0, "cannot run %s", Argv[0]);
  ck_assert_msg(R.Status == 0, "clang failed with status %d:\n%s", R.Status, R.Err);
  orcrt_test_spawn_result_free(&R);
  return Obj;
}

/*
 * Start llvm-jitlink-19 -oop-executor=tests/embed-supervised Obj [-args Arg]
 * with stdin /dev/null and stdout and stderr on OutFd and ErrFd.
 */
static pid_t start_jitlink(const char *Obj, const char *Arg, int OutFd, int ErrFd) {
  const char *Jitlink = required_env("ORCRT_LLVM_JITLINK");
  const char *Exec = orcrt_test_format("-oop-executor=%s/tests/embed-supervised",
                                       required_env("ORCRT_TOP_BUILDDIR"));
  pid_t Pid = fork();
  ck_assert_int_ge(Pid, 0);
  if (Pid == 0) {
    int Null = open("/dev/null", O_RDONLY);
    if (Null < 0 || dup2(Null, 0) < 0 || dup2(OutFd, 1) < 0 || dup2(ErrFd, 2) < 0)
      _exit(126);
    if (Arg)
      execl(Jitlink, Jitlink, Exec, Obj, "-args", Arg, (char *)NULL);
    else
      execl(Jitlink, Jitlink, Exec, Obj, (char *)NULL);
    _exit(127);
  }
  return Pid;
}

/* Wait for Pid (bounded; killed if it hangs) and return its status. */
static int reap(pid_t Pid) {
  int Status = orcrt_test_wait_pid(Pid, RUN_TIMEOUT);
  if (Status < 0) {
    kill(Pid, SIGKILL);
    orcrt_test_wait_pid(Pid, RUN_TIMEOUT);
  }
  return Status;
}

/* The whole of the file at Path, NUL-terminated (kept); *Size its length. */
static const char *file_contents(const char *Path, size_t *Size) {
  FILE *F = fopen(Path, "re");
  char *Text = NULL;
  size_t N = 0;
  ck_assert_msg(F != NULL, "cannot open %s", Path);
  FILE *M = open_memstream(&Text, &N);
  ck_assert_ptr_nonnull(M);
  int C;
  while ((C = getc(F)) != EOF)
    putc(C, M);
  fclose(F);
  fclose(M);
  *Size = N;
  return orcrt_test_keep(Text);
}

START_TEST(supervise_embedding_loses_no_output_in_50_runs) {
  const char *Obj = compile_program();
  const char *OutPath = orcrt_test_scratch_file("out");
  const char *ErrPath = orcrt_test_scratch_file("err");
  char *Expected = NULL;
  size_t ExpectedSize = 0;
  FILE *M = open_memstream(&Expected, &ExpectedSize);
  ck_assert_ptr_nonnull(M);
  for (int I = 1; I <= 200; I++)
    fprintf(M, "line %d of the JIT'd program's output\n", I);
  fclose(M);
  orcrt_test_keep(Expected);

  /* A run that gave up on JIT'd code says so on stderr. */
  setenv("ORCRT_LOG", "warning", 1);
  unsigned Lost = 0;
  int FirstLost = -1;
  size_t FirstLostSize = 0;
  const char *FirstLostErr = "";
  for (int Run = 0; Run < RUNS_WITH_OUTPUT; Run++) {
    int Out = open(OutPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int Err = open(ErrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert(Out >= 0 && Err >= 0);
    pid_t Pid = start_jitlink(Obj, NULL, Out, Err);
    close(Out);
    close(Err);
    int Status = reap(Pid);
    /* At once: what a shell reading the file after the command would see. */
    size_t Size;
    const char *Got = file_contents(OutPath, &Size);
    size_t ErrSize;
    ck_assert_msg(Status == 0, "run %d: llvm-jitlink exit status %d; stderr:\n%s", Run, Status,
                  file_contents(ErrPath, &ErrSize));
    if (Size != ExpectedSize || memcmp(Got, Expected, Size) != 0) {
      if (Lost++ == 0) {
        FirstLost = Run;
        FirstLostSize = Size;
        FirstLostErr = file_contents(ErrPath, &ErrSize);
      }
    }
  }
  fprintf(stderr, "# supervise: %d runs under llvm-jitlink-19, %u with output lost\n",
          RUNS_WITH_OUTPUT, Lost);
  ck_assert_msg(Lost == 0,
                "%u of %d runs lost output (the first, run %d, had %zu of %zu bytes when "
                "llvm-jitlink returned; stderr:\n%s)",
                Lost, RUNS_WITH_OUTPUT, FirstLost, FirstLostSize, ExpectedSize, FirstLostErr);
}
END_TEST

/*
 * Read from Fd until Text has been seen or end of file, at most Ms
 * milliseconds; what was read goes to Buf (NUL-terminated). Returns whether
 * end of file came (Text NULL: wait only for that).
 */
static bool read_until(int Fd, const char *Text, char *Buf, size_t Size, double Ms) {
  size_t Have = strlen(Buf);
  double Deadline = now_ms() + Ms;
  for (;;) {
    if (Text && strstr(Buf, Text))
      return false;
    double Left = Deadline - now_ms();
    struct pollfd P = {.fd = Fd, .events = POLLIN};
    if (Left <= 0 || poll(&P, 1, (int)Left + 1) == 0)
      return false;
    char Junk[256];
    char *To = Have + 1 < Size ? Buf + Have : Junk;
    size_t Room = Have + 1 < Size ? Size - Have - 1 : sizeof(Junk);
    ssize_t N = read(Fd, To, Room);
    if (N < 0 && errno == EINTR)
      continue;
    if (N <= 0)
      return true;
    if (To != Junk) {
      Have += (size_t)N;
      Buf[Have] = '\0';
    }
  }
}

START_TEST(supervise_embedding_exits_within_2s_when_its_controller_is_killed) {
  const char *Obj = compile_program();
  /* Under ThreadSanitizer a process sleeps a second as it exits
     (atexit_sleep_ms): not the embedding's time to measure. */
  const char *Tsan = orcrt_test_getenv("TSAN_OPTIONS");
  setenv("TSAN_OPTIONS",
         orcrt_test_format("%s%satexit_sleep_ms=0", Tsan ? Tsan : "", Tsan ? ":" : ""), 1);
  const char *ErrPath = orcrt_test_scratch_file("err");
  double Slowest = 0;
  for (int Run = 0; Run < RUNS_KILLED; Run++) {
    int Out[2];
    ck_assert_int_eq(pipe2(Out, O_CLOEXEC), 0);
    int Err = open(ErrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(Err, 0);
    pid_t Jitlink = start_jitlink(Obj, "pause", Out[1], Err);
    close(Out[1]);
    close(Err);
    /* The JIT'd main runs, blocked in pause(), and said where. */
    char Buf[256] = "";
    read_until(Out[0], "\n", Buf, sizeof(Buf), RUN_TIMEOUT * 1000);
    long ExecPid = 0;
    if (sscanf(Buf, "pid %ld", &ExecPid) != 1 || ExecPid <= 0) {
      kill(Jitlink, SIGKILL);
      reap(Jitlink);
      close(Out[0]);
      size_t ErrSize;
      ck_abort_msg("run %d: the JIT'd program did not start (stdout \"%s\"); stderr:\n%s", Run, Buf,
                   file_contents(ErrPath, &ErrSize));
    }
    double T0 = now_ms();
    kill(Jitlink, SIGKILL);
    reap(Jitlink);
    /* The embedding holds the pipe's last write end: end of file is its exit. */
    bool Exited = read_until(Out[0], NULL, Buf, sizeof(Buf), 10000);
    double Took = now_ms() - T0;
    close(Out[0]);
    if (!Exited)
      kill((pid_t)ExecPid, SIGKILL);
    ck_assert_msg(Exited,
                  "run %d: the embedding was still running 10 s after its controller "
                  "was killed",
                  Run);
    ck_assert_msg(Took < EXIT_BOUND_MS, "run %d: the embedding took %.0f ms to exit", Run, Took);
    if (Took > Slowest)
      Slowest = Took;
  }
  fprintf(stderr,
          "# supervise: %d runs with the controller killed, the embedding exited within "
          "%.0f ms of it every time\n",
          RUNS_KILLED, Slowest);
}
END_TEST

Suite *orcrt_suite_supervise(void) {
  Suite *S = suite_create("supervise");
  TCase *TC = orcrt_test_case(S, "in_process", 10);
  tcase_add_test(TC, supervise_options_default_to_one_second_grace_and_half_a_second_to_abandon);
  tcase_add_test(TC, supervise_returns_ended_once_the_session_has_shut_down);
  tcase_add_test(TC, supervise_abandons_a_call_running_past_the_grace_period);
  tcase_add_test(TC, supervise_lets_a_slow_cleanup_finish_past_the_grace_period);
  tcase_add_test(TC, supervise_gives_up_on_a_cleanup_past_its_bound);

  if (!orcrt_test_getenv("ORCRT_CLANG") || !orcrt_test_getenv("ORCRT_LLVM_JITLINK")) {
    fprintf(stderr, "supervise: no LLVM 19 tools, skipping the embedding's runs\n");
    return S;
  }
  orcrt_test_add_process_case(S, "embed_output", supervise_embedding_loses_no_output_in_50_runs,
                              300);
  orcrt_test_add_process_case(
      S, "embed_killed", supervise_embedding_exits_within_2s_when_its_controller_is_killed, 120);
  return S;
}

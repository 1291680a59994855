/*
 * test-faults.c - fault injection: controllers that go away at every step,
 * detach racing every kind of call, JIT'd code that never returns, broken
 * standard output, a controller that stops reading, descriptor hygiene
 *
 * Most tests launch the real orcrt-executor with nothing but descriptors
 * 0-2 and its two pipe ends (so that what a child of the JIT'd code inherits
 * is the runtime's doing), drive it with the test controller and then make
 * the controller go away. In every case the executor must end without a
 * signal within 2 s of that (EXIT_BOUND_MS: the controller's wait is bounded
 * by it), and the deallocation actions of what was finalized must have run
 * exactly once (tests/marker.c, linked into tests/fault-lib.c, leaves the
 * trace). The detach races run a Session in this process with the loopback
 * controller.
 */
#include "config.h"

#include "controller.h"
#include "run-util.h"
#include "test-util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <orcrt/bootstrap.h>
#include <orcrt/dylib.h>
#include <orcrt/loopback.h>
#include <orcrt/memory.h>
#include <orcrt/sps.h>

/* How long the executor may take to exit once the controller has gone. */
#define EXIT_BOUND_MS 2000
/* How long anything else may take (a call, the Setup). */
#define CALL_TIMEOUT_MS 20000

/*
 * What a sanitizer adds to the resident set of what the executor keeps:
 * ThreadSanitizer's shadow memory is several times the memory it covers,
 * AddressSanitizer's an eighth (plus redzones; its quarantine of freed
 * memory is turned off for the executor, see launch_mode()).
 */
#if defined(__SANITIZE_THREAD__)
#define SANITIZER_RSS_FACTOR 6
#elif defined(__SANITIZE_ADDRESS__)
#define SANITIZER_RSS_FACTOR 2
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SANITIZER_RSS_FACTOR 6
#elif __has_feature(address_sanitizer)
#define SANITIZER_RSS_FACTOR 2
#endif
#endif
#ifndef SANITIZER_RSS_FACTOR
#define SANITIZER_RSS_FACTOR 1
#endif

/* ---- paths and small helpers ----------------------------------------------- */

static const char *fault_library(void) {
  const char *Dir = orcrt_test_getenv("ORCRT_TOP_BUILDDIR");
  ck_assert_msg(Dir != NULL, "ORCRT_TOP_BUILDDIR is not set (run the tests through make check)");
  return orcrt_test_format("%s/tests/.libs/libfaultlib.so", Dir);
}

/* What the file at Path holds ("" if missing), kept until the test ends. */
static const char *file_text(const char *Path) {
  int Fd = open(Path, O_RDONLY | O_CLOEXEC);
  if (Fd < 0)
    return "";
  /* Read to the end: files under /proc have no size. */
  size_t Size = 0, Cap = 4096;
  char *Text = malloc(Cap);
  ck_assert_ptr_nonnull(Text);
  for (;;) {
    if (Cap - Size < 2048) {
      Text = realloc(Text, Cap *= 2);
      ck_assert_ptr_nonnull(Text);
    }
    ssize_t N = pread(Fd, Text + Size, Cap - Size - 1, (off_t)Size);
    ck_assert_int_ge(N, 0);
    if (N == 0)
      break;
    Size += (size_t)N;
  }
  close(Fd);
  Text[Size] = '\0';
  return orcrt_test_keep(Text);
}

/* ---- an executor with nothing else inherited ----------------------------------- */

/* What the executor's descriptors 1 and 2 are. */
typedef enum {
  STDIO_MEMFD,       /* a memfd each, for the test to read */
  STDIO_CLOSED,      /* not open at all */
  STDIO_BROKEN_PIPE, /* pipes whose read ends are closed */
} stdio_mode;

typedef struct {
  orcrt_tc *TC;
  pid_t Pid;
  int OutFd, ErrFd; /* the memfds of STDIO_MEMFD, else -1 */
  bool Reaped;
} executor;

/*
 * Start orcrt-executor filedescs=R,W with only descriptors 0-2 (as Mode
 * says) and R, W open, the way llvm-jitlink-19 starts it but without the
 * test's own descriptors. Reads the Setup unless SkipSetup.
 */
static void launch_mode(executor *E, stdio_mode Mode, bool SkipSetup) {
  /*
   * What sanitizer builds add to the executor's own behaviour is turned
   * off: freed memory AddressSanitizer keeps aside would count as the
   * executor's, and ThreadSanitizer sleeps a second before a process with
   * threads left exits. (The options mean nothing to other builds.)
   */
  const char *Asan = getenv("ASAN_OPTIONS"), *Tsan = getenv("TSAN_OPTIONS");
  char *AsanOpt = orcrt_test_format("ASAN_OPTIONS=%s%squarantine_size_mb=0", Asan ? Asan : "",
                                    Asan && *Asan ? ":" : "");
  char *TsanOpt = orcrt_test_format("TSAN_OPTIONS=%s%satexit_sleep_ms=0", Tsan ? Tsan : "",
                                    Tsan && *Tsan ? ":" : "");
  size_t NumEnv = 0;
  while (environ[NumEnv])
    NumEnv++;
  char **Envp = orcrt_test_keep(calloc(NumEnv + 3, sizeof(*Envp)));
  ck_assert_ptr_nonnull(Envp);
  size_t J = 0;
  for (size_t I = 0; I < NumEnv; I++)
    if (strncmp(environ[I], "ASAN_OPTIONS=", 13) != 0 &&
        strncmp(environ[I], "TSAN_OPTIONS=", 13) != 0)
      Envp[J++] = environ[I];
  Envp[J++] = AsanOpt;
  Envp[J] = TsanOpt;

  int ToExec[2], FromExec[2], Out[2] = {-1, -1}, Err[2] = {-1, -1};
  const char *Exe = orcrt_test_executor_path();
  E->OutFd = E->ErrFd = -1;
  E->Reaped = false;
  ck_assert_int_eq(pipe2(ToExec, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(FromExec, O_CLOEXEC), 0);
  if (Mode == STDIO_MEMFD) {
    E->OutFd = memfd_create("executor-stdout", MFD_CLOEXEC);
    E->ErrFd = memfd_create("executor-stderr", MFD_CLOEXEC);
    ck_assert(E->OutFd >= 0 && E->ErrFd >= 0);
  } else if (Mode == STDIO_BROKEN_PIPE) {
    ck_assert_int_eq(pipe2(Out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(Err, O_CLOEXEC), 0);
  }
  char *Fds = orcrt_test_format("filedescs=%d,%d", ToExec[0], FromExec[1]);
  char *const Argv[] = {(char *)Exe, Fds, NULL};

  pid_t Pid = fork();
  ck_assert_int_ge(Pid, 0);
  if (Pid == 0) {
    /* Only async-signal-safe calls from here on. */
    if (Mode == STDIO_MEMFD) {
      dup2(E->OutFd, 1);
      dup2(E->ErrFd, 2);
    } else if (Mode == STDIO_BROKEN_PIPE) {
      dup2(Out[1], 1);
      dup2(Err[1], 2);
    } else {
      close(1);
      close(2);
    }
    int Max = (int)sysconf(_SC_OPEN_MAX);
    for (int Fd = 3; Fd < Max && Fd < 65536; Fd++)
      if (Fd != ToExec[0] && Fd != FromExec[1])
        close(Fd);
    fcntl(ToExec[0], F_SETFD, 0);
    fcntl(FromExec[1], F_SETFD, 0);
    execve(Exe, Argv, Envp);
    _exit(127);
  }
  close(ToExec[0]);
  close(FromExec[1]);
  if (Mode == STDIO_BROKEN_PIPE) {
    /* Nobody will ever read what the executor writes there. */
    close(Out[0]);
    close(Out[1]);
    close(Err[0]);
    close(Err[1]);
  }
  E->Pid = Pid;
  ck_assert_int_eq(orcrt_tc_attach_fds(FromExec[0], ToExec[1], &E->TC), 0);
  orcrt_tc_set_timeout(E->TC, CALL_TIMEOUT_MS);
  if (!SkipSetup)
    ck_assert_msg(orcrt_tc_read_setup(E->TC) == 0, "no Setup: %s", orcrt_tc_error(E->TC));
}

static void launch(executor *E) {
  launch_mode(E, STDIO_MEMFD, false);
}

/*
 * The controller goes away (closes both its ends) and the executor must have
 * exited within EXIT_BOUND_MS. Returns its exit status; a signal fails the test.
 */
static int gone_and_exited(executor *E) {
  orcrt_tc_close(E->TC);
  int Status = orcrt_test_wait_pid(E->Pid, EXIT_BOUND_MS / 1000.0);
  if (Status < 0) {
    kill(E->Pid, SIGKILL);
    orcrt_test_wait_pid(E->Pid, 60);
  }
  E->Reaped = true;
  ck_assert_msg(Status >= 0, "the executor did not exit within %d ms of the controller going away",
                EXIT_BOUND_MS);
  ck_assert_msg(Status < 128, "the executor was killed by signal %d", Status - 128);
  return Status;
}

/* What the executor wrote on stderr (STDIO_MEMFD only). */
static const char *stderr_text(executor *E) {
  return file_text(orcrt_test_format("/proc/self/fd/%d", E->ErrFd));
}

static void finish(executor *E) {
  if (!E->Reaped) {
    kill(E->Pid, SIGKILL);
    orcrt_test_wait_pid(E->Pid, 60);
  }
  orcrt_tc_destroy(E->TC);
  if (E->OutFd >= 0)
    close(E->OutFd);
  if (E->ErrFd >= 0)
    close(E->ErrFd);
}

/* ---- calls --------------------------------------------------------------------- */

static orc_rt_ExecutorAddr sym(executor *E, const char *Name) {
  orc_rt_ExecutorAddr A = 0;
  ck_assert_msg(orcrt_tc_lookup(E->TC, Name, &A), "no bootstrap symbol %s", Name);
  return A;
}

static orc_rt_WrapperFunctionBuffer call_bytes(executor *E, orc_rt_ExecutorAddr Tag,
                                               orc_rt_SPSWriter *W) {
  orc_rt_WrapperFunctionBuffer R;
  ck_assert(!orc_rt_SPSWriter_failed(W));
  int Rc = orcrt_tc_call(E->TC, Tag, orc_rt_SPSWriter_data(W), orc_rt_SPSWriter_size(W), &R);
  orc_rt_SPSWriter_dispose(W);
  ck_assert_msg(Rc == 0, "call failed: %s", orcrt_tc_error(E->TC));
  return R;
}

/* An SPSExpected<ExecutorAddr> holding a value. */
static orc_rt_ExecutorAddr expect_addr(orc_rt_WrapperFunctionBuffer R) {
  orc_rt_SPSReader Rd;
  bool HasValue = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  orc_rt_ExecutorAddr A = 0;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
  ck_assert_msg(orc_rt_SPSReader_expected(&Rd, &HasValue, &Msg, &MsgSize), "undecodable result");
  ck_assert_msg(HasValue, "unexpected error: %.*s", (int)MsgSize, Msg);
  ck_assert(orc_rt_SPSReader_addr(&Rd, &A));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return A;
}

/* An SPSError that must be success. */
static void expect_success(orc_rt_WrapperFunctionBuffer R) {
  orc_rt_SPSReader Rd;
  bool IsFailure = true;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
  ck_assert_msg(orc_rt_SPSReader_error(&Rd, &IsFailure, &Msg, &MsgSize), "undecodable result");
  ck_assert_msg(!IsFailure, "unexpected error: %.*s", (int)MsgSize, Msg);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
}

/* An int64 (run_as_main's result). */
static int64_t expect_i64(orc_rt_WrapperFunctionBuffer R) {
  orc_rt_SPSReader Rd;
  int64_t V = 0;
  ck_assert_msg(R.Size == 8, "run_as_main answered %zu bytes", R.Size);
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
  ck_assert(orc_rt_SPSReader_i64(&Rd, &V));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return V;
}

/* ---- a real session, one step at a time ---------------------------------------- */

/*
 * The calls llvm-jitlink-19 makes for a program (PROTOCOL-LLVM19.md §7.1),
 * with the test library standing in for the program: its marker as the
 * allocation's actions (finalize writes "1" then "2"; deallocation "b" then
 * "a", run in reverse) and orcrt_fault_answer as main.
 */
enum step {
  STEP_OPEN,
  STEP_LOOKUP,
  STEP_RESERVE,
  STEP_FINALIZE,
  STEP_EH_REGISTER,
  STEP_RUN_AS_MAIN,
  STEP_EH_DEREGISTER,
  STEP_DEALLOCATE,
  NUM_STEPS,
};

static const char *const StepNames[] = {
    "open",        "lookup",      "reserve",       "finalize",
    "EH register", "run_as_main", "EH deregister", "deallocate",
};

typedef struct {
  executor *E;
  const char *Trace; /* the marker's file */
  orc_rt_ExecutorAddr Handle, Marker, Answer, Base;
} session;

/* "PATH\0TAG", the marker's arguments. */
static void marker_args(orc_rt_SPSWriter *W, const char *Path, const char *Tag) {
  size_t P = strlen(Path), T = strlen(Tag);
  char *Args = malloc(P + 1 + T);
  ck_assert_ptr_nonnull(Args);
  memcpy(Args, Path, P + 1);
  memcpy(Args + P + 1, Tag, T);
  orc_rt_SPSWriter_bytes(W, Args, P + 1 + T);
  free(Args);
}

/* The arguments of step S (the state it needs comes from the earlier steps). */
static void step_call(session *X, enum step S, orc_rt_ExecutorAddr *Tag, orc_rt_SPSWriter *W) {
  executor *E = X->E;
  orc_rt_ExecutorAddr Mem = sym(E, "__llvm_orc_SimpleExecutorMemoryManager_Instance");
  orc_rt_ExecutorAddr Dylib = sym(E, "__llvm_orc_SimpleExecutorDylibManager_Instance");
  orc_rt_ExecutorAddrRange EH = {X->Base + 16, X->Base + 20};
  orc_rt_SPSWriter_init(W);
  switch (S) {
  case STEP_OPEN:
    *Tag = sym(E, "__llvm_orc_SimpleExecutorDylibManager_open_wrapper");
    orc_rt_SPSWriter_addr(W, Dylib);
    orc_rt_SPSWriter_string(W, fault_library());
    orc_rt_SPSWriter_u64(W, 0);
    break;
  case STEP_LOOKUP:
    *Tag = sym(E, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper");
    orc_rt_SPSWriter_addr(W, Dylib);
    orc_rt_SPSWriter_addr(W, X->Handle);
    orc_rt_SPSWriter_seqCount(W, 2);
    orc_rt_SPSWriter_string(W, "orcrt_test_marker");
    orc_rt_SPSWriter_bool(W, true);
    orc_rt_SPSWriter_string(W, "orcrt_fault_answer");
    orc_rt_SPSWriter_bool(W, true);
    break;
  case STEP_RESERVE:
    *Tag = sym(E, "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper");
    orc_rt_SPSWriter_addr(W, Mem);
    orc_rt_SPSWriter_u64(W, 8192);
    break;
  case STEP_FINALIZE:
    /* One read-only page: "data", then zeros (an empty EH frame section at
       +16, with its terminator); two marker action pairs. */
    *Tag = sym(E, "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper");
    orc_rt_SPSWriter_addr(W, Mem);
    orc_rt_SPSWriter_seqCount(W, 1);
    orc_rt_SPSWriter_u8(W, 0x01);
    orc_rt_SPSWriter_addr(W, X->Base);
    orc_rt_SPSWriter_u64(W, 4096);
    orc_rt_SPSWriter_bytes(W, "data", 4);
    orc_rt_SPSWriter_seqCount(W, 2);
    orc_rt_SPSWriter_addr(W, X->Marker);
    marker_args(W, X->Trace, "1");
    orc_rt_SPSWriter_addr(W, X->Marker);
    marker_args(W, X->Trace, "b");
    orc_rt_SPSWriter_addr(W, X->Marker);
    marker_args(W, X->Trace, "2");
    orc_rt_SPSWriter_addr(W, X->Marker);
    marker_args(W, X->Trace, "a");
    break;
  case STEP_EH_REGISTER:
  case STEP_EH_DEREGISTER:
    *Tag = sym(E, S == STEP_EH_REGISTER ? "llvm_orc_registerEHFrameSectionWrapper"
                                        : "llvm_orc_deregisterEHFrameSectionWrapper");
    orc_rt_SPSWriter_addrRange(W, EH);
    break;
  case STEP_RUN_AS_MAIN:
    *Tag = sym(E, "__llvm_orc_bootstrap_run_as_main_wrapper");
    orc_rt_SPSWriter_addr(W, X->Answer);
    orc_rt_SPSWriter_seqCount(W, 0);
    break;
  case STEP_DEALLOCATE:
    *Tag = sym(E, "__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper");
    orc_rt_SPSWriter_addr(W, Mem);
    orc_rt_SPSWriter_seqCount(W, 1);
    orc_rt_SPSWriter_addr(W, X->Base);
    break;
  default:
    ck_abort_msg("no step %d", (int)S);
  }
  ck_assert(!orc_rt_SPSWriter_failed(W));
}

/* Make step S's call and check its answer. */
static void step_run(session *X, enum step S) {
  orc_rt_ExecutorAddr Tag;
  orc_rt_SPSWriter W;
  step_call(X, S, &Tag, &W);
  orc_rt_WrapperFunctionBuffer R = call_bytes(X->E, Tag, &W);
  switch (S) {
  case STEP_OPEN:
    X->Handle = expect_addr(R);
    break;
  case STEP_LOOKUP: {
    orc_rt_SPSReader Rd;
    bool HasValue = false;
    uint64_t Count = 0;
    uint8_t Flags;
    orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
    ck_assert(orc_rt_SPSReader_expected(&Rd, &HasValue, NULL, NULL) && HasValue);
    ck_assert(orc_rt_SPSReader_seqCount(&Rd, 10, &Count) && Count == 2);
    ck_assert(orc_rt_SPSReader_addr(&Rd, &X->Marker) && orc_rt_SPSReader_u8(&Rd, &Flags) &&
              orc_rt_SPSReader_u8(&Rd, &Flags));
    ck_assert(orc_rt_SPSReader_addr(&Rd, &X->Answer));
    ck_assert(X->Marker && X->Answer);
    orc_rt_WrapperFunctionBuffer_dispose(&R);
    break;
  }
  case STEP_RESERVE:
    X->Base = expect_addr(R);
    break;
  case STEP_RUN_AS_MAIN:
    ck_assert_int_eq(expect_i64(R), 42);
    break;
  default:
    expect_success(R);
    break;
  }
}

static void session_start(session *X, executor *E) {
  memset(X, 0, sizeof(*X));
  X->E = E;
  /* Loop tests share a scratch directory: one trace per test process. */
  X->Trace = orcrt_test_scratch_file(orcrt_test_format("trace-%d", (int)getpid()));
}

/* Run the steps before Upto. */
static void steps_before(session *X, enum step Upto) {
  for (int S = 0; S < (int)Upto; S++)
    step_run(X, (enum step)S);
}

/* The deallocation actions ran exactly once if the allocation was finalized. */
static void assert_trace(session *X, bool Finalized) {
  const char *T = file_text(X->Trace);
  if (Finalized)
    ck_assert_msg(strcmp(T, "12ab") == 0, "trace \"%s\", not \"12ab\"", T);
  else
    ck_assert_msg(T[0] == '\0', "trace \"%s\", not empty", T);
}

/* Look a function of the test library up (after STEP_LOOKUP). */
static orc_rt_ExecutorAddr fault_fn(session *X, const char *Name) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(X->E, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_addr(&W, X->Handle);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_string(&W, Name);
  orc_rt_SPSWriter_bool(&W, true);
  orc_rt_WrapperFunctionBuffer R =
      call_bytes(X->E, sym(X->E, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper"), &W);
  orc_rt_SPSReader Rd;
  bool HasValue = false;
  uint64_t Count = 0;
  orc_rt_ExecutorAddr A = 0;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
  ck_assert(orc_rt_SPSReader_expected(&Rd, &HasValue, NULL, NULL) && HasValue);
  ck_assert(orc_rt_SPSReader_seqCount(&Rd, 10, &Count) && Count == 1);
  ck_assert(orc_rt_SPSReader_addr(&Rd, &A) && A != 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return A;
}

/* Send run_as_main(Fn, Args) without waiting for its answer. */
static void send_run_as_main(session *X, orc_rt_ExecutorAddr Fn, const char *const *Args,
                             size_t NumArgs) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, Fn);
  orc_rt_SPSWriter_seqCount(&W, NumArgs);
  for (size_t I = 0; I < NumArgs; I++)
    orc_rt_SPSWriter_string(&W, Args[I]);
  ck_assert(!orc_rt_SPSWriter_failed(&W));
  ck_assert_int_eq(orcrt_tc_send_call(X->E->TC,
                                      sym(X->E, "__llvm_orc_bootstrap_run_as_main_wrapper"),
                                      orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W), NULL),
                   0);
  orc_rt_SPSWriter_dispose(&W);
}

/* ---- the controller goes away ------------------------------------------------------ */

START_TEST(faults_exit_when_controller_closes_before_setup_is_read) {
  executor E;
  launch_mode(&E, STDIO_MEMFD, true);
  ck_assert_int_eq(gone_and_exited(&E), 0);
  orcrt_test_assert_setup_note(stderr_text(&E));
  finish(&E);
}
END_TEST

/* _i: the step during which the controller closes its ends. */
START_TEST(faults_exit_when_controller_closes_during_each_call) {
  enum step Step = (enum step)_i;
  executor E;
  session X;
  launch(&E);
  session_start(&X, &E);
  steps_before(&X, Step);
  orc_rt_ExecutorAddr Tag;
  orc_rt_SPSWriter W;
  step_call(&X, Step, &Tag, &W);
  ck_assert_int_eq(
      orcrt_tc_send_call(E.TC, Tag, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W), NULL), 0);
  orc_rt_SPSWriter_dispose(&W);
  ck_assert_msg(gone_and_exited(&E) == 0, "exit status not 0 after closing during %s",
                StepNames[Step]);
  const char *Err = stderr_text(&E);
  ck_assert_msg(Err[0] == '\0', "stderr after closing during %s: %s", StepNames[Step], Err);
  if (Step == STEP_FINALIZE) {
    /* The finalize may or may not have happened; never half of it. */
    const char *T = file_text(X.Trace);
    ck_assert_msg(T[0] == '\0' || strcmp(T, "12ab") == 0, "trace \"%s\"", T);
  } else {
    assert_trace(&X, Step > STEP_FINALIZE);
  }
  finish(&E);
}
END_TEST

/* _i: the step whose frame the controller leaves half sent. */
START_TEST(faults_exit_one_when_controller_closes_mid_frame_of_each_call) {
  enum step Step = (enum step)_i;
  executor E;
  session X;
  launch(&E);
  session_start(&X, &E);
  steps_before(&X, Step);
  orc_rt_ExecutorAddr Tag;
  orc_rt_SPSWriter W;
  step_call(&X, Step, &Tag, &W);
  size_t N = orc_rt_SPSWriter_size(&W);
  ck_assert_int_eq(
      orcrt_tc_send_header(E.TC, ORCRT_TC_HEADER_SIZE + N, ORCRT_TC_OP_CALL_WRAPPER, 99, Tag), 0);
  ck_assert_int_eq(orcrt_tc_write_raw(E.TC, orc_rt_SPSWriter_data(&W), N / 2), 0);
  orc_rt_SPSWriter_dispose(&W);
  ck_assert_msg(gone_and_exited(&E) == 1, "exit status not 1 after a partial %s frame",
                StepNames[Step]);
  const char *Err = stderr_text(&E);
  ck_assert_msg(strstr(Err, "end of file") != NULL, "stderr: %s", Err);
  assert_trace(&X, Step > STEP_FINALIZE);
  finish(&E);
}
END_TEST

START_TEST(faults_pending_executor_call_completes_once_when_controller_goes) {
  executor E;
  session X;
  launch(&E);
  session_start(&X, &E);
  steps_before(&X, STEP_EH_REGISTER);
  const char *Result = orcrt_test_scratch_file("result");
  orc_rt_ExecutorAddr Fn = fault_fn(&X, "orcrt_fault_call_controller");
  const char *Args[] = {
      Result,
      orcrt_test_format("%" PRIx64, sym(&E, "__llvm_orc_SimpleRemoteEPC_dispatch_ctx")),
      orcrt_test_format("%" PRIx64, sym(&E, "__llvm_orc_SimpleRemoteEPC_dispatch_fn")),
      "5eed",
  };
  send_run_as_main(&X, Fn, Args, 4);
  /* The JIT'd code's call arrives; it is never answered. */
  orcrt_tc_frame F;
  ck_assert_msg(orcrt_tc_read_frame(E.TC, &F) == 0, "%s", orcrt_tc_error(E.TC));
  ck_assert_uint_eq(F.OpC, ORCRT_TC_OP_CALL_WRAPPER);
  ck_assert_uint_eq(F.TagAddr, 0x5eed);
  ck_assert(F.PayloadSize == 4 && memcmp(F.Payload, "ping", 4) == 0);
  orcrt_tc_frame_dispose(&F);
  ck_assert_int_eq(gone_and_exited(&E), 0);
  const char *R = file_text(Result);
  ck_assert_msg(strncmp(R, "calling\nerror: ", 15) == 0, "the call's trace: %s", R);
  ck_assert_msg(strchr(R + 15, '\n') && strchr(R + 15, '\n')[1] == '\0',
                "the call came back more than once: %s", R);
  assert_trace(&X, true);
  finish(&E);
}
END_TEST

/*
 * Wait (bounded) until the test library's function writes "started" to the
 * FIFO at Path (opened for reading by the test first).
 */
static void wait_started(int Fifo) {
  char Buf[16];
  struct pollfd P = {.fd = Fifo, .events = POLLIN};
  ck_assert_msg(poll(&P, 1, CALL_TIMEOUT_MS) == 1, "the JIT'd code did not start");
  ck_assert_int_gt(read(Fifo, Buf, sizeof(Buf)), 0);
}

static void abandon_running_code(const char *Function) {
  executor E;
  session X;
  launch(&E);
  session_start(&X, &E);
  steps_before(&X, STEP_EH_REGISTER);
  const char *Fifo = orcrt_test_scratch_file("started");
  ck_assert_int_eq(mkfifo(Fifo, 0600), 0);
  int F = open(Fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ck_assert_int_ge(F, 0);
  const char *Args[] = {Fifo};
  send_run_as_main(&X, fault_fn(&X, Function), Args, 1);
  wait_started(F);
  /* main never returns; the controller goes away regardless. */
  ck_assert_int_eq(gone_and_exited(&E), 0);
  assert_trace(&X, true);
  close(F);
  finish(&E);
}

START_TEST(faults_exit_when_controller_goes_while_jit_code_blocks) {
  abandon_running_code("orcrt_fault_block");
}
END_TEST

START_TEST(faults_exit_when_controller_goes_while_jit_code_spins) {
  abandon_running_code("orcrt_fault_spin");
}
END_TEST

/* ---- standard output and error ------------------------------------------------------- */

START_TEST(faults_jit_output_with_stdout_and_stderr_closed) {
  executor E;
  session X;
  launch_mode(&E, STDIO_CLOSED, false);
  session_start(&X, &E);
  steps_before(&X, STEP_EH_REGISTER);
  /* Descriptors 1 and 2 must not have become the runtime's own. */
  orc_rt_ExecutorAddr Kinds = fault_fn(&X, "orcrt_fault_stdio_kinds");
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, Kinds);
  orc_rt_SPSWriter_seqCount(&W, 0);
  int64_t Bad = expect_i64(call_bytes(&E, sym(&E, "__llvm_orc_bootstrap_run_as_main_wrapper"), &W));
  ck_assert_msg(Bad == 0, "descriptor %d is one of the runtime's", (int)Bad - 1);
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, fault_fn(&X, "orcrt_fault_print"));
  orc_rt_SPSWriter_seqCount(&W, 0);
  ck_assert_int_eq(
      expect_i64(call_bytes(&E, sym(&E, "__llvm_orc_bootstrap_run_as_main_wrapper"), &W)), 0);
  /* The session is unharmed: the rest of it runs. */
  for (int S = STEP_EH_REGISTER; S < NUM_STEPS; S++)
    step_run(&X, (enum step)S);
  ck_assert_int_eq(gone_and_exited(&E), 0);
  assert_trace(&X, true);
  finish(&E);
}
END_TEST

START_TEST(faults_protocol_error_with_stdout_and_stderr_broken) {
  executor E;
  session X;
  launch_mode(&E, STDIO_BROKEN_PIPE, false);
  session_start(&X, &E);
  steps_before(&X, STEP_EH_REGISTER);
  /* A protocol error whose message cannot be written: the executor's own
     writes never raise SIGPIPE (JIT'd code printing there would die of it,
     as in any process: hostile_yes_into_head_ends_as_in_process). */
  ck_assert_int_eq(orcrt_tc_send_frame(E.TC, 9, 0, 0, NULL, 0), 0);
  ck_assert_int_eq(gone_and_exited(&E), 1);
  assert_trace(&X, true);
  finish(&E);
}
END_TEST

/* ---- descriptors ----------------------------------------------------------------------- */

START_TEST(faults_children_of_jit_code_inherit_only_stdio) {
  executor E;
  session X;
  launch(&E);
  session_start(&X, &E);
  /* Memory reserved and finalized, a library open: the runtime's descriptors exist. */
  steps_before(&X, STEP_EH_REGISTER);
  const char *Listing = orcrt_test_scratch_file("fds");
  const char *Args[] = {Listing};
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, fault_fn(&X, "orcrt_fault_list_fds"));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_string(&W, Args[0]);
  ck_assert_int_eq(
      expect_i64(call_bytes(&E, sym(&E, "__llvm_orc_bootstrap_run_as_main_wrapper"), &W)), 0);
  /* ls's own directory descriptor is 3: nothing else beyond stdio. */
  const char *L = file_text(Listing);
  ck_assert_msg(strcmp(L, "0\n1\n2\n3\n") == 0, "the child inherited descriptors: %s", L);
  ck_assert_int_eq(gone_and_exited(&E), 0);
  assert_trace(&X, true);
  finish(&E);
}
END_TEST

/* ---- a controller that stops reading -------------------------------------------------- */

/* The resident set of process Pid, in KiB (VmRSS). */
static long rss_kib(pid_t Pid) {
  const char *Status = file_text(orcrt_test_format("/proc/%d/status", (int)Pid));
  const char *P = strstr(Status, "VmRSS:");
  ck_assert_msg(P != NULL, "no VmRSS for %d", (int)Pid);
  return strtol(P + 6, NULL, 10);
}

START_TEST(faults_memory_stays_bounded_when_controller_stops_reading) {
  /* Calls whose answers are as large as they are: lookups of a missing,
     required 60 KiB name ("Missing definition for ..."). */
  enum { NAME_SIZE = 60 * 1024 };
  const long LimitKiB = 160 * 1024 * SANITIZER_RSS_FACTOR; /* growth allowed */
  const uint64_t Cap = (uint64_t)1 << 30;                  /* what an unbounded reader would take */
  executor E;
  launch(&E);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(&E, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_string(&W, "");
  orc_rt_SPSWriter_u64(&W, 0);
  orc_rt_ExecutorAddr Process = expect_addr(
      call_bytes(&E, sym(&E, "__llvm_orc_SimpleExecutorDylibManager_open_wrapper"), &W));
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(&E, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_addr(&W, Process);
  orc_rt_SPSWriter_seqCount(&W, 1);
  char *Name = malloc(NAME_SIZE);
  ck_assert_ptr_nonnull(Name);
  memset(Name, 'x', NAME_SIZE);
  orc_rt_SPSWriter_bytes(&W, Name, NAME_SIZE);
  free(Name);
  orc_rt_SPSWriter_bool(&W, true);
  ck_assert(!orc_rt_SPSWriter_failed(&W));

  /* Frames of the call, written non-blocking until the executor stops taking them. */
  orc_rt_ExecutorAddr Tag = sym(&E, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper");
  size_t ArgSize = orc_rt_SPSWriter_size(&W), FrameSize = ORCRT_TC_HEADER_SIZE + ArgSize;
  char *Frame = malloc(FrameSize);
  ck_assert_ptr_nonnull(Frame);
  uint64_t Fields[4] = {FrameSize, ORCRT_TC_OP_CALL_WRAPPER, 0, Tag};
  for (int I = 0; I < 4; I++)
    for (int B = 0; B < 8; B++)
      Frame[8 * I + B] = (char)(Fields[I] >> (8 * B));
  memcpy(Frame + ORCRT_TC_HEADER_SIZE, orc_rt_SPSWriter_data(&W), ArgSize);
  orc_rt_SPSWriter_dispose(&W);

  int Fd = orcrt_tc_write_fd(E.TC);
  long Start = rss_kib(E.Pid), Peak = Start;
  uint64_t Sent = 0;
  size_t Off = 0;
  bool Stalled = false;
  while (Sent < Cap && !Stalled) {
    ssize_t N = write(Fd, Frame + Off, FrameSize - Off);
    if (N > 0) {
      Sent += (uint64_t)N;
      Off = (Off + (size_t)N) % FrameSize;
      continue;
    }
    ck_assert_msg(N < 0 && errno == EAGAIN, "write: %s", strerror(errno));
    long Now = rss_kib(E.Pid);
    Peak = Now > Peak ? Now : Peak;
    ck_assert_msg(Now - Start < LimitKiB,
                  "executor grew by %ld KiB while %" PRIu64 " MiB of calls went unanswered",
                  Now - Start, Sent >> 20);
    /* The executor no longer reads: it waits for its answers to be read. */
    struct pollfd P = {.fd = Fd, .events = POLLOUT};
    Stalled = poll(&P, 1, 1000) == 0;
  }
  free(Frame);
  ck_assert_msg(Stalled, "the executor read %" PRIu64 " MiB of calls nobody took answers for",
                Sent >> 20);
  long End = rss_kib(E.Pid);
  ck_assert_msg(End - Start < LimitKiB, "executor grew by %ld KiB", End - Start);
  fprintf(stderr,
          "# the executor stopped reading after %" PRIu64 " MiB; RSS %ld KiB at the "
          "start, at most %ld KiB\n",
          Sent >> 20, Start, Peak > End ? Peak : End);
  /* It ends in order once the controller closes. */
  ck_assert_int_eq(gone_and_exited(&E), 0);
  finish(&E);
}
END_TEST

/* ---- detach racing each kind of call (in this process) --------------------------------- */

enum race_kind {
  RACE_OPEN,
  RACE_LOOKUP,
  RACE_RESERVE,
  RACE_FINALIZE,
  RACE_RUN_AS_MAIN,
  RACE_DEALLOCATE,
  RACE_EH_REGISTER,
  NUM_RACE_KINDS,
};

#define RACE_CALLS 32

static atomic_int ActionsRun, DeallocsRun, MainsRun;

static orc_rt_WrapperFunctionBuffer race_success(void) {
  orc_rt_WrapperFunctionBuffer R;
  orc_rt_WrapperFunctionBuffer_init(&R);
  R.Data.Value[0] = 0; /* SPSError success */
  R.Size = 1;
  return R;
}

/* Allocation actions for the races: count what ran. */
static orc_rt_WrapperFunctionBuffer race_finalize_action(const char *Args, size_t N) {
  (void)Args;
  (void)N;
  atomic_fetch_add(&ActionsRun, 1);
  return race_success();
}

static orc_rt_WrapperFunctionBuffer race_dealloc_action(const char *Args, size_t N) {
  (void)Args;
  (void)N;
  atomic_fetch_add(&DeallocsRun, 1);
  return race_success();
}

static int race_main(int Argc, char **Argv) {
  (void)Argc;
  (void)Argv;
  atomic_fetch_add(&MainsRun, 1);
  return 7;
}

typedef struct {
  atomic_int Results[RACE_CALLS];
  orcrt_test_latch Done;
} race_results;

typedef struct {
  race_results *Res;
  int Index;
} race_slot;

static void race_on_result(void *Ctx, orc_rt_WrapperFunctionBuffer R) {
  race_slot *Slot = Ctx;
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  atomic_fetch_add(&Slot->Res->Results[Slot->Index], 1);
  orcrt_test_latch_signal(&Slot->Res->Done);
}

typedef struct {
  orc_rt_SessionRef S;
  orc_rt_LoopbackControllerRef LC;
  orc_rt_MemoryServiceRef M;
  orc_rt_DylibServiceRef D;
  orc_rt_ExecutorAddr Bases[RACE_CALLS];
} race_env;

static void race_setup(race_env *R) {
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &D));
  ck_assert_no_error(orc_rt_Session_create(D, &R->S));
  ck_assert_no_error(orc_rt_DylibService_add(R->S, &R->D));
  ck_assert_no_error(orc_rt_MemoryService_add(R->S, orc_rt_MemoryStrategy_MemFD, &R->M));
  ck_assert_no_error(orc_rt_Bootstrap_add(R->S));
  ck_assert_no_error(orc_rt_LoopbackController_create(&R->LC));
  ck_assert_no_error(orc_rt_LoopbackController_attach(R->S, R->LC));
}

/* Allocations finalized with the counting actions, for deallocate and EH register. */
static void race_finalize_all(race_env *R) {
  for (int I = 0; I < RACE_CALLS; I++) {
    ck_assert_no_error(orc_rt_MemoryService_reserve(R->M, 4096, &R->Bases[I]));
    orc_rt_MemorySegment Seg = {orc_rt_MemProt_Read, R->Bases[I], 4096, "data", 4};
    orc_rt_MemoryActionPair Pair = {
        {orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)race_finalize_action), NULL, 0},
        {orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)race_dealloc_action), NULL, 0}};
    orc_rt_MemoryFinalizeRequest Req = {&Seg, 1, &Pair, 1};
    ck_assert_no_error(orc_rt_MemoryService_finalize(R->M, &Req));
  }
}

/* The call number I of kind K. */
static void race_call(race_env *R, enum race_kind K, int I, orc_rt_ExecutorAddr *Fn,
                      orc_rt_SPSWriter *W) {
  orc_rt_ExecutorAddr Mem = orc_rt_ExecutorAddr_fromPtr(R->M);
  orc_rt_ExecutorAddr Dyl = orc_rt_ExecutorAddr_fromPtr(R->D);
  orc_rt_SPSWriter_init(W);
  switch (K) {
  case RACE_OPEN:
    *Fn = orcrt_test_bootstrap_addr(R->S, "__llvm_orc_SimpleExecutorDylibManager_open_wrapper");
    orc_rt_SPSWriter_addr(W, Dyl);
    orc_rt_SPSWriter_string(W, fault_library());
    orc_rt_SPSWriter_u64(W, 0);
    break;
  case RACE_LOOKUP:
    *Fn = orcrt_test_bootstrap_addr(R->S, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper");
    orc_rt_SPSWriter_addr(W, Dyl);
    orc_rt_SPSWriter_addr(W, R->Bases[0]); /* the process handle, see below */
    orc_rt_SPSWriter_seqCount(W, 2);
    orc_rt_SPSWriter_string(W, "printf");
    orc_rt_SPSWriter_bool(W, true);
    orc_rt_SPSWriter_string(W, "no_such_symbol_here");
    orc_rt_SPSWriter_bool(W, false);
    break;
  case RACE_RESERVE:
    *Fn = orcrt_test_bootstrap_addr(R->S, "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper");
    orc_rt_SPSWriter_addr(W, Mem);
    orc_rt_SPSWriter_u64(W, 65536);
    break;
  case RACE_FINALIZE:
    *Fn =
        orcrt_test_bootstrap_addr(R->S, "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper");
    orc_rt_SPSWriter_addr(W, Mem);
    orc_rt_SPSWriter_seqCount(W, 1);
    orc_rt_SPSWriter_u8(W, orc_rt_MemProt_Read);
    orc_rt_SPSWriter_addr(W, R->Bases[I]);
    orc_rt_SPSWriter_u64(W, 4096);
    orc_rt_SPSWriter_bytes(W, "data", 4);
    orc_rt_SPSWriter_seqCount(W, 1);
    orc_rt_SPSWriter_addr(W, orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)race_finalize_action));
    orc_rt_SPSWriter_bytes(W, NULL, 0);
    orc_rt_SPSWriter_addr(W, orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)race_dealloc_action));
    orc_rt_SPSWriter_bytes(W, NULL, 0);
    break;
  case RACE_RUN_AS_MAIN:
    *Fn = orcrt_test_bootstrap_addr(R->S, "__llvm_orc_bootstrap_run_as_main_wrapper");
    orc_rt_SPSWriter_addr(W, orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)race_main));
    orc_rt_SPSWriter_seqCount(W, 1);
    orc_rt_SPSWriter_string(W, "arg");
    break;
  case RACE_DEALLOCATE:
    *Fn = orcrt_test_bootstrap_addr(R->S,
                                    "__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper");
    orc_rt_SPSWriter_addr(W, Mem);
    orc_rt_SPSWriter_seqCount(W, 1);
    orc_rt_SPSWriter_addr(W, R->Bases[I]);
    break;
  case RACE_EH_REGISTER: {
    /* An empty section (its zero terminator) in each finalized page. */
    orc_rt_ExecutorAddrRange EH = {R->Bases[I] + 8, R->Bases[I] + 12};
    *Fn = orcrt_test_bootstrap_addr(R->S, "llvm_orc_registerEHFrameSectionWrapper");
    orc_rt_SPSWriter_addrRange(W, EH);
    break;
  }
  default:
    ck_abort_msg("no race kind %d", (int)K);
  }
  ck_assert(!orc_rt_SPSWriter_failed(W));
}

typedef struct {
  race_env *R;
  enum race_kind K;
  race_results *Res;
  race_slot Slots[RACE_CALLS];
  orcrt_test_latch *Go;
  bool SessionDetach; /* detach the Session itself, not hang the controller up */
} race_caller;

static void *race_caller_main(void *Arg) {
  race_caller *C = Arg;
  orcrt_test_latch_wait(C->Go, 1);
  for (int I = 0; I < RACE_CALLS; I++) {
    orc_rt_ExecutorAddr Fn;
    orc_rt_SPSWriter W;
    race_call(C->R, C->K, I, &Fn, &W);
    C->Slots[I] = (race_slot){C->Res, I};
    orc_rt_LoopbackController_callWrapper(C->R->LC, Fn, orc_rt_SPSWriter_finish(&W), race_on_result,
                                          &C->Slots[I]);
  }
  return NULL;
}

static void *race_detacher_main(void *Arg) {
  race_caller *C = Arg;
  orcrt_test_latch_wait(C->Go, 1);
  if (C->SessionDetach)
    orc_rt_Session_detach(C->R->S, NULL, NULL);
  else
    orc_rt_LoopbackController_hangUp(C->R->LC);
  return NULL;
}

/* _i / 2: the kind of call that detach races; _i % 2: who detaches. */
START_TEST(faults_detach_races_each_kind_of_call) {
  enum race_kind K = (enum race_kind)(_i / 2);
  race_env R = {0};
  race_results Res;
  race_caller C = {&R, K, &Res, {{0}}, NULL, _i % 2 == 1};
  orcrt_test_latch Go;
  atomic_store(&ActionsRun, 0);
  atomic_store(&DeallocsRun, 0);
  atomic_store(&MainsRun, 0);
  for (int I = 0; I < RACE_CALLS; I++)
    atomic_init(&Res.Results[I], 0);
  orcrt_test_latch_init(&Res.Done);
  orcrt_test_latch_init(&Go);
  C.Go = &Go;

  race_setup(&R);
  if (K == RACE_LOOKUP) {
    ck_assert_no_error(orc_rt_DylibService_open(R.D, "", &R.Bases[0]));
  } else if (K == RACE_FINALIZE) {
    for (int I = 0; I < RACE_CALLS; I++)
      ck_assert_no_error(orc_rt_MemoryService_reserve(R.M, 4096, &R.Bases[I]));
  } else if (K == RACE_DEALLOCATE || K == RACE_EH_REGISTER) {
    race_finalize_all(&R);
  }
  int FinalizedBefore = atomic_load(&ActionsRun);

  pthread_t Caller, Detacher;
  ck_assert_int_eq(pthread_create(&Caller, NULL, race_caller_main, &C), 0);
  ck_assert_int_eq(pthread_create(&Detacher, NULL, race_detacher_main, &C), 0);
  orcrt_test_latch_signal(&Go);
  pthread_join(Caller, NULL);
  pthread_join(Detacher, NULL);
  /* Every call is answered (a result or a failure), each exactly once. */
  orcrt_test_latch_wait(&Res.Done, RACE_CALLS);
  orc_rt_Session_destroy(R.S);
  for (int I = 0; I < RACE_CALLS; I++)
    ck_assert_msg(atomic_load(&Res.Results[I]) == 1, "call %d of kind %d answered %d times", I,
                  (int)K, atomic_load(&Res.Results[I]));
  ck_assert_uint_eq(orcrt_test_latch_count(&Res.Done), RACE_CALLS);
  /* Whatever was finalized was deallocated, once. */
  ck_assert_int_eq(atomic_load(&DeallocsRun), atomic_load(&ActionsRun));
  if (K == RACE_DEALLOCATE || K == RACE_EH_REGISTER)
    ck_assert_int_eq(FinalizedBefore, RACE_CALLS);
  ck_assert_int_le(atomic_load(&MainsRun), RACE_CALLS);
  if (K == RACE_OPEN) {
    /* The libraries opened were closed again at shutdown. */
    void *H = dlopen(fault_library(), RTLD_NOW | RTLD_NOLOAD);
    ck_assert_msg(H == NULL, "the library opened in the race stayed loaded");
  }
  orcrt_test_latch_destroy(&Res.Done);
  orcrt_test_latch_destroy(&Go);
}
END_TEST

/* ---- the suite -------------------------------------------------------------------------- */

static TCase *add(Suite *S, const char *Name, double Timeout) {
  TCase *TC = orcrt_test_case(S, Name, Timeout);
  tcase_add_unchecked_fixture(TC, orcrt_test_scratch_setup, orcrt_test_scratch_teardown);
  tcase_add_checked_fixture(TC, orcrt_test_unset_executor_settings, orcrt_test_free_kept);
  return TC;
}

Suite *orcrt_suite_faults(void) {
  Suite *S = suite_create("faults");
  tcase_add_test(add(S, "close_before_setup", 30),
                 faults_exit_when_controller_closes_before_setup_is_read);
  tcase_add_loop_test(add(S, "close_during_call", 60),
                      faults_exit_when_controller_closes_during_each_call, 0, NUM_STEPS);
  tcase_add_loop_test(add(S, "close_mid_frame", 60),
                      faults_exit_one_when_controller_closes_mid_frame_of_each_call, 0, NUM_STEPS);
  tcase_add_test(add(S, "pending_executor_call", 30),
                 faults_pending_executor_call_completes_once_when_controller_goes);
  tcase_add_test(add(S, "jit_code_blocks", 30),
                 faults_exit_when_controller_goes_while_jit_code_blocks);
  tcase_add_test(add(S, "jit_code_spins", 30),
                 faults_exit_when_controller_goes_while_jit_code_spins);
  tcase_add_test(add(S, "stdio_closed", 30), faults_jit_output_with_stdout_and_stderr_closed);
  tcase_add_test(add(S, "stdio_broken", 30), faults_protocol_error_with_stdout_and_stderr_broken);
  tcase_add_test(add(S, "fds_close_on_exec", 30), faults_children_of_jit_code_inherit_only_stdio);
  tcase_add_test(add(S, "stops_reading", 120),
                 faults_memory_stays_bounded_when_controller_stops_reading);
  tcase_add_loop_test(add(S, "detach_races_call", 60), faults_detach_races_each_kind_of_call, 0,
                      2 * NUM_RACE_KINDS);
  return S;
}

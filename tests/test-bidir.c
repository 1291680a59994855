/*
 * test-bidir.c - calls in both directions, shared-memory JIT memory, the
 * debugger and the TCP listener
 *
 * The first part drives orcrt-executor with the C test controller
 * (tests/controller.h). "JIT'd code" that calls the controller is
 * tests/bidir-lib.c, loaded into the executor and called by address: it
 * calls back through the dispatch function the executor publishes, as LLVM's
 * ORC runtime does. The shared-memory tests play the controller's part of
 * -use-shared-memory themselves (open the object, write code into it) and
 * read the executor's /proc/PID/maps. The TCP tests start orcrt-executor
 * listen=:0 and connect to it.
 *
 * The second part runs LLVM 19's llvm-jitlink against orcrt-executor and
 * compares with the in-process run: the ORC runtime (-orc-runtime), shared
 * memory (-use-shared-memory) and TCP (-oop-executor-connect); and gdb
 * stopping in JIT'd code. Without the LLVM tools that part has no tests.
 * Without gdb, or where the system forbids ptrace, the gdb test prints that
 * it was skipped and passes (Check has no "skipped" result).
 */
#include "config.h"

#include "controller.h"
#include "e2e-util.h"
#include "run-util.h"
#include "test-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <orcrt/sps.h>

/* How long the executor may take to exit once it has reason to. */
#define EXIT_TIMEOUT_MS 10000
/* One compile or JIT run (a hang is killed before the case's timeout). */
#define RUN_TIMEOUT 45.0
#define CASE_TIMEOUT 60.0
/* gdb reads the symbols of llvm-jitlink and LLVM before it runs anything. */
#define GDB_TIMEOUT 100.0
#define GDB_CASE_TIMEOUT 120.0

/* An address the tests use as the handler tag of their controller handlers. */
#define TEST_TAG UINT64_C(0x7e57)

extern char **environ;

/* ---- paths ----------------------------------------------------------------- */

static const char *required_env(const char *Var) {
  const char *V = orcrt_test_getenv(Var);
  ck_assert_msg(V != NULL, "%s is not set (run the tests through make check)", Var);
  return V;
}

static const char *build_dir(void) {
  return required_env("ORCRT_TOP_BUILDDIR");
}

static const char *bidir_library(void) {
  return orcrt_test_format("%s/tests/.libs/libbidir.so", build_dir());
}

static const char *marker_library(void) {
  return orcrt_test_format("%s/tests/.libs/libmarker.so", build_dir());
}

static const char *program(const char *Name) {
  return orcrt_test_format("%s/tests/programs/%s", required_env("ORCRT_TOP_SRCDIR"), Name);
}

/* Show a captured stream in a failure message (bounded). */
static const char *shown(const char *S, size_t Size) {
  return Size > 2000 ? orcrt_test_format("%.2000s... (%zu bytes)", S, Size) : S;
}

static int64_t now_ms(void) {
  struct timespec T;
  clock_gettime(CLOCK_MONOTONIC, &T);
  return (int64_t)T.tv_sec * 1000 + T.tv_nsec / 1000000;
}

/* ---- a launched executor (as in test-executor.c) --------------------------- */

typedef struct {
  orcrt_tc *TC;
  int ErrFd; /* the executor's stderr */
} executor;

/* Launch orcrt-executor the llvm-jitlink way, stderr to a memfd, and read its Setup. */
static void launch(executor *E) {
  E->ErrFd = memfd_create("executor-stderr", MFD_CLOEXEC);
  ck_assert_int_ge(E->ErrFd, 0);
  int Saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
  ck_assert_int_ge(Saved, 0);
  ck_assert_int_eq(dup2(E->ErrFd, 2), 2);
  int Rc = orcrt_tc_launch(orcrt_test_executor_path(), NULL, &E->TC);
  int LaunchErrno = errno;
  dup2(Saved, 2);
  close(Saved);
  ck_assert_msg(Rc == 0, "cannot launch %s: %s", orcrt_test_executor_path(), strerror(LaunchErrno));
  orcrt_tc_set_timeout(E->TC, EXIT_TIMEOUT_MS);
  ck_assert_msg(orcrt_tc_read_setup(E->TC) == 0, "no Setup: %s", orcrt_tc_error(E->TC));
}

static const char *stderr_text(executor *E) {
  struct stat St;
  ck_assert_int_eq(fstat(E->ErrFd, &St), 0);
  char *Text = orcrt_test_keep(calloc(1, (size_t)St.st_size + 1));
  ck_assert_ptr_nonnull(Text);
  ck_assert_int_eq(pread(E->ErrFd, Text, (size_t)St.st_size, 0), St.st_size);
  return Text;
}

/* Wait (bounded) for the executor to exit and free the controller; its status. */
static int wait_exit(executor *E) {
  int WaitStatus = 0;
  int Rc = orcrt_tc_wait_exit(E->TC, &WaitStatus);
  ck_assert_msg(Rc == 0, "executor did not exit: %s", orcrt_tc_error(E->TC));
  orcrt_tc_destroy(E->TC);
  E->TC = NULL;
  return WIFEXITED(WaitStatus) ? WEXITSTATUS(WaitStatus) : 128 + WTERMSIG(WaitStatus);
}

/* Close the controller's ends and expect an orderly exit, nothing on stderr. */
static void finish_in_order(executor *E) {
  orcrt_tc_close(E->TC);
  ck_assert_int_eq(wait_exit(E), 0);
  const char *Err = stderr_text(E);
  ck_assert_msg(Err[0] == '\0', "unexpected stderr: %s", Err);
  close(E->ErrFd);
}

static orc_rt_ExecutorAddr sym(orcrt_tc *TC, const char *Name) {
  orc_rt_ExecutorAddr A = 0;
  ck_assert_msg(orcrt_tc_lookup(TC, Name, &A), "no bootstrap symbol %s", Name);
  return A;
}

/* Call the function at Addr with the bytes of W (disposed). */
static orc_rt_WrapperFunctionBuffer call_addr(orcrt_tc *TC, orc_rt_ExecutorAddr Addr,
                                              orc_rt_SPSWriter *W) {
  orc_rt_WrapperFunctionBuffer R;
  ck_assert(!orc_rt_SPSWriter_failed(W));
  int Rc = orcrt_tc_call(TC, Addr, orc_rt_SPSWriter_data(W), orc_rt_SPSWriter_size(W), &R);
  orc_rt_SPSWriter_dispose(W);
  ck_assert_msg(Rc == 0, "call to 0x%" PRIx64 " failed: %s", Addr, orcrt_tc_error(TC));
  return R;
}

static orc_rt_WrapperFunctionBuffer call(orcrt_tc *TC, const char *Name, orc_rt_SPSWriter *W) {
  return call_addr(TC, sym(TC, Name), W);
}

/* An SPSExpected<ExecutorAddr> that must hold a value; *Rd is left after it. */
static orc_rt_ExecutorAddr expect_addr_in(orc_rt_SPSReader *Rd) {
  bool HasValue = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  orc_rt_ExecutorAddr A = 0;
  ck_assert_msg(orc_rt_SPSReader_expected(Rd, &HasValue, &Msg, &MsgSize), "undecodable result");
  ck_assert_msg(HasValue, "unexpected error: %.*s", (int)MsgSize, Msg);
  ck_assert(orc_rt_SPSReader_addr(Rd, &A));
  return A;
}

static orc_rt_ExecutorAddr expect_addr(orc_rt_WrapperFunctionBuffer R) {
  orc_rt_SPSReader Rd;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
  orc_rt_ExecutorAddr A = expect_addr_in(&Rd);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return A;
}

static orc_rt_ExecutorAddr reserve(orcrt_tc *TC, uint64_t Size) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(TC, "__llvm_orc_SimpleExecutorMemoryManager_Instance"));
  orc_rt_SPSWriter_u64(&W, Size);
  return expect_addr(call(TC, "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper", &W));
}

static void deallocate(orcrt_tc *TC, orc_rt_ExecutorAddr Base) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(TC, "__llvm_orc_SimpleExecutorMemoryManager_Instance"));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, Base);
  orcrt_test_assert_sps_error(call(TC, "__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper", &W), NULL);
}

static orc_rt_ExecutorAddr open_library(orcrt_tc *TC, const char *Path) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(TC, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_string(&W, Path);
  orc_rt_SPSWriter_u64(&W, 0);
  return expect_addr(call(TC, "__llvm_orc_SimpleExecutorDylibManager_open_wrapper", &W));
}

/* The address of Name in the library at Path (must be found). */
static orc_rt_ExecutorAddr lookup(orcrt_tc *TC, const char *Path, const char *Name) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(TC, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_addr(&W, open_library(TC, Path));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_string(&W, Name);
  orc_rt_SPSWriter_bool(&W, true);
  orc_rt_WrapperFunctionBuffer R =
      call(TC, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper", &W);
  orc_rt_SPSReader Rd;
  bool HasValue = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  uint64_t Count = 0;
  orc_rt_ExecutorAddr A = 0;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
  ck_assert(orc_rt_SPSReader_expected(&Rd, &HasValue, &Msg, &MsgSize));
  ck_assert_msg(HasValue, "lookup of %s failed: %.*s", Name, (int)MsgSize, Msg);
  ck_assert(orc_rt_SPSReader_seqCount(&Rd, 10, &Count) && Count == 1);
  ck_assert(orc_rt_SPSReader_addr(&Rd, &A));
  ck_assert_msg(A != 0, "%s not found", Name);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return A;
}

/* The session still serves calls: a reservation comes and goes. */
static void assert_still_serving(orcrt_tc *TC) {
  orc_rt_ExecutorAddr Base = reserve(TC, 4096);
  ck_assert(Base != 0);
  deallocate(TC, Base);
}

/* (ctx, fn, tag) of the executor's dispatch, for bidir-lib.c's functions. */
static void write_dispatch(orcrt_tc *TC, orc_rt_SPSWriter *W) {
  orc_rt_SPSWriter_addr(W, sym(TC, "__llvm_orc_SimpleRemoteEPC_dispatch_ctx"));
  orc_rt_SPSWriter_addr(W, sym(TC, "__llvm_orc_SimpleRemoteEPC_dispatch_fn"));
  orc_rt_SPSWriter_addr(W, TEST_TAG);
}

static uint64_t get_le64(const char *P) {
  uint64_t V = 0;
  for (int I = 0; I < 8; I++)
    V |= (uint64_t)(unsigned char)P[I] << (8 * I);
  return V;
}

/* ---- nested calls ---------------------------------------------------------- */

#define NEST_DEPTH 12
#define NEST_THREADS "1"

struct nest {
  orc_rt_ExecutorAddr Nest; /* orcrt_test_bidir_nest in the executor */
  unsigned Handled;
  uint64_t SeqNos[NEST_DEPTH + 1];
  bool Failed;
  char Why[200];
};

/*
 * The controller's handler: JIT'd code (orcrt_test_bidir_nest, Depth D)
 * waits for this answer. Before answering, call the executor: reserve and
 * release memory, as LLVM's controller links more code while the ORC
 * runtime waits, and for D > 0 call the JIT'd code again with D - 1, whose
 * answer is this one's.
 */
static void nest_handler(void *Ctx, orcrt_tc *TC, uint64_t SeqNo, const char *Args, size_t N,
                         orc_rt_WrapperFunctionBuffer *Result) {
  struct nest *NS = Ctx;
  if (N != 32 || NS->Handled > NEST_DEPTH) {
    NS->Failed = true;
    snprintf(NS->Why, sizeof(NS->Why), "handler called with %zu bytes, %u times", N, NS->Handled);
    *Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError("bad call");
    return;
  }
  NS->SeqNos[NS->Handled++] = SeqNo;
  assert_still_serving(TC);
  uint64_t Depth = get_le64(Args + 24);
  if (Depth == 0) {
    *Result = orc_rt_WrapperFunctionBuffer_fromBytes("x", 1);
    return;
  }
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_raw(&W, Args, 24);
  orc_rt_SPSWriter_u64(&W, Depth - 1);
  *Result = call_addr(TC, NS->Nest, &W);
}

START_TEST(bidir_nested_calls_deeper_than_the_pool_complete) {
  /* One worker thread, and the calls nest NEST_DEPTH + 1 deep. */
  setenv("ORCRT_THREADS", NEST_THREADS, 1);
  executor E;
  launch(&E);
  struct nest NS = {.Nest = lookup(E.TC, bidir_library(), "orcrt_test_bidir_nest")};
  ck_assert_int_eq(orcrt_tc_add_handler(E.TC, TEST_TAG, nest_handler, &NS), 0);

  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  write_dispatch(E.TC, &W);
  orc_rt_SPSWriter_u64(&W, NEST_DEPTH);
  orc_rt_WrapperFunctionBuffer R = call_addr(E.TC, NS.Nest, &W);
  ck_assert_msg(!NS.Failed, "%s", NS.Why);

  char Want[2 * (NEST_DEPTH + 1) + 2];
  memset(Want, '(', NEST_DEPTH + 1);
  Want[NEST_DEPTH + 1] = 'x';
  memset(Want + NEST_DEPTH + 2, ')', NEST_DEPTH + 1);
  Want[sizeof(Want) - 1] = '\0';
  ck_assert_uint_eq(R.Size, sizeof(Want) - 1);
  ck_assert_msg(memcmp(orc_rt_WrapperFunctionBuffer_data(&R), Want, R.Size) == 0,
                "answer %.*s, expected %s", (int)R.Size, orc_rt_WrapperFunctionBuffer_data(&R),
                Want);
  orc_rt_WrapperFunctionBuffer_dispose(&R);

  /* A failure of the synchronous ABI's callee (out of band) arrives as an empty answer. */
  ck_assert_int_eq(orcrt_tc_call(E.TC, NS.Nest, "x", 1, &R), 0);
  ck_assert_uint_eq(R.Size, 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R);

  /* Every executor -> controller call had a sequence number of its own, from 0. */
  ck_assert_uint_eq(NS.Handled, NEST_DEPTH + 1);
  for (unsigned I = 0; I < NS.Handled; I++)
    ck_assert_uint_eq(NS.SeqNos[I], I);
  assert_still_serving(E.TC);
  finish_in_order(&E);
}
END_TEST

/* ---- the controller vanishing ---------------------------------------------- */

/* What the file holds ("" if missing), kept until the test ends. */
static const char *file_text(const char *Path) {
  int Fd = open(Path, O_RDONLY | O_CLOEXEC);
  if (Fd < 0)
    return "";
  char *Buf = orcrt_test_keep(calloc(1, 4096));
  ck_assert_ptr_nonnull(Buf);
  ssize_t N = read(Fd, Buf, 4095);
  close(Fd);
  Buf[N > 0 ? N : 0] = '\0';
  return Buf;
}

START_TEST(bidir_blocked_call_fails_once_when_the_controller_vanishes) {
  executor E;
  launch(&E);
  const char *Path = orcrt_test_scratch_file("calls");
  orc_rt_ExecutorAddr CallTwice = lookup(E.TC, bidir_library(), "orcrt_test_bidir_call_twice");

  /* The JIT'd code calls the controller, which reads the call and vanishes. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  write_dispatch(E.TC, &W);
  orc_rt_SPSWriter_raw(&W, Path, strlen(Path));
  ck_assert(!orc_rt_SPSWriter_failed(&W));
  ck_assert_int_eq(orcrt_tc_send_call(E.TC, CallTwice, orc_rt_SPSWriter_data(&W),
                                      orc_rt_SPSWriter_size(&W), NULL),
                   0);
  orc_rt_SPSWriter_dispose(&W);
  orcrt_tc_frame F;
  ck_assert_msg(orcrt_tc_read_frame(E.TC, &F) == 0, "%s", orcrt_tc_error(E.TC));
  ck_assert_uint_eq(F.OpC, ORCRT_TC_OP_CALL_WRAPPER);
  ck_assert_uint_eq(F.TagAddr, TEST_TAG);
  ck_assert_uint_eq(F.PayloadSize, 0);
  orcrt_tc_frame_dispose(&F);
  ck_assert_str_eq(file_text(Path), "");

  /* Gone while the call is blocked: the executor exits in order, promptly. */
  orcrt_tc_close(E.TC);
  ck_assert_int_eq(wait_exit(&E), 0);
  const char *Err = stderr_text(&E);
  ck_assert_msg(Err[0] == '\0', "unexpected stderr: %s", Err);
  close(E.ErrFd);

  /* The blocked call returned once, with an error, and the JIT'd code went
     on: its next call failed at once instead of blocking. */
  const char *Calls = file_text(Path);
  ck_assert_msg(strncmp(Calls, "first: error ", 13) == 0, "calls: %s", Calls);
  ck_assert_msg(strstr(Calls, "disconnected") != NULL, "calls: %s", Calls);
  const char *Second = strstr(Calls, "\nsecond: error ");
  ck_assert_msg(Second != NULL, "calls: %s", Calls);
  ck_assert_msg(strchr(Second + 1, '\n') && strchr(Second + 1, '\n')[1] == '\0',
                "more than two calls returned: %s", Calls);
}
END_TEST

/* ---- shared memory ---------------------------------------------------------- */

#define SHM_INSTANCE "__llvm_orc_ExecutorSharedMemoryMapperService_Instance"

/* x86-64: mov eax, 42; ret */
static const unsigned char Return42[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};

static orc_rt_WrapperFunctionBuffer shm_reserve_raw(orcrt_tc *TC, uint64_t Size) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(TC, SHM_INSTANCE));
  orc_rt_SPSWriter_u64(&W, Size);
  return call(TC, "__llvm_orc_ExecutorSharedMemoryMapperService_Reserve", &W);
}

/* Reserve Size bytes: the base, and the object's name in *Name (kept). */
static orc_rt_ExecutorAddr shm_reserve(orcrt_tc *TC, uint64_t Size, const char **Name) {
  orc_rt_WrapperFunctionBuffer R = shm_reserve_raw(TC, Size);
  orc_rt_SPSReader Rd;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
  orc_rt_ExecutorAddr Base = expect_addr_in(&Rd);
  char *N = NULL;
  ck_assert(orc_rt_SPSReader_stringDup(&Rd, &N));
  *Name = orcrt_test_keep(N);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return Base;
}

typedef struct {
  uint8_t Prot;
  orc_rt_ExecutorAddr Addr;
  uint64_t Size;
} shm_segment;

/* An action pair: ActionFn(Fin) at initialize, ActionFn(Dealloc) at deinitialize. */
typedef struct {
  orc_rt_ExecutorAddr Fn;
  const char *Fin, *Dealloc;
  size_t FinSize, DeallocSize;
} shm_actions;

/* Initialize an allocation of Segs in Reservation, with Actions (may be NULL). */
static orc_rt_WrapperFunctionBuffer shm_initialize(orcrt_tc *TC, orc_rt_ExecutorAddr Reservation,
                                                   const shm_segment *Segs, size_t NumSegs,
                                                   const shm_actions *Actions) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(TC, SHM_INSTANCE));
  orc_rt_SPSWriter_addr(&W, Reservation);
  orc_rt_SPSWriter_seqCount(&W, NumSegs);
  for (size_t I = 0; I < NumSegs; I++) {
    orc_rt_SPSWriter_u8(&W, Segs[I].Prot);
    orc_rt_SPSWriter_addr(&W, Segs[I].Addr);
    orc_rt_SPSWriter_u64(&W, Segs[I].Size);
  }
  orc_rt_SPSWriter_seqCount(&W, Actions ? 1 : 0);
  if (Actions) {
    orc_rt_SPSWriter_addr(&W, Actions->Fn);
    orc_rt_SPSWriter_bytes(&W, Actions->Fin, Actions->FinSize);
    orc_rt_SPSWriter_addr(&W, Actions->Fn);
    orc_rt_SPSWriter_bytes(&W, Actions->Dealloc, Actions->DeallocSize);
  }
  return call(TC, "__llvm_orc_ExecutorSharedMemoryMapperService_Initialize", &W);
}

/* Deinitialize or Release (Which) one address; the SPSError. */
static orc_rt_WrapperFunctionBuffer shm_addresses(orcrt_tc *TC, const char *Which,
                                                  orc_rt_ExecutorAddr Addr) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(TC, SHM_INSTANCE));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, Addr);
  return call(TC, orcrt_test_format("__llvm_orc_ExecutorSharedMemoryMapperService_%s", Which), &W);
}

/* Map the object Name read/write, as the controller does. */
static unsigned char *controller_view(const char *Name, size_t Size) {
  int Fd = shm_open(Name, O_RDWR | O_CLOEXEC, 0);
  ck_assert_msg(Fd >= 0, "shm_open(%s): %s", Name, strerror(errno));
  void *P = mmap(NULL, Size, PROT_READ | PROT_WRITE, MAP_SHARED, Fd, 0);
  close(Fd);
  ck_assert(P != MAP_FAILED);
  return P;
}

static bool shm_exists(const char *Name) {
  int Fd = shm_open(Name, O_RDONLY | O_CLOEXEC, 0);
  if (Fd >= 0)
    close(Fd);
  return Fd >= 0;
}

/* run_as_void_function on Fn: its int32 result, or -1 if refused. */
static int32_t run_void(orcrt_tc *TC, orc_rt_ExecutorAddr Fn) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, Fn);
  orc_rt_WrapperFunctionBuffer R =
      call(TC, "__llvm_orc_bootstrap_run_as_void_function_wrapper", &W);
  int32_t V = -1;
  if (R.Size == 4) {
    orc_rt_SPSReader Rd;
    orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
    ck_assert(orc_rt_SPSReader_i32(&Rd, &V));
  }
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return V;
}

/*
 * The protections of the executor's mappings over [Start, End) as
 * "PERMS@OFFSET" words (e.g. "r--s@0 r-xs@1000 r--s@2000"), failing the test
 * if any page is writable and executable.
 */
static const char *maps_of(pid_t Pid, uint64_t Start, uint64_t End) {
  FILE *F = fopen(orcrt_test_format("/proc/%ld/maps", (long)Pid), "re");
  ck_assert_ptr_nonnull(F);
  char Line[512], *Out = orcrt_test_keep(calloc(1, 4096));
  ck_assert_ptr_nonnull(Out);
  while (fgets(Line, sizeof(Line), F)) {
    unsigned long long Lo, Hi;
    char Perms[8];
    if (sscanf(Line, "%llx-%llx %7s", &Lo, &Hi, Perms) != 3 || Hi <= Start || Lo >= End)
      continue;
    ck_assert_msg(!(Perms[1] == 'w' && Perms[2] == 'x'), "writable and executable: %s", Line);
    size_t Used = strlen(Out);
    snprintf(Out + Used, 4096 - Used, "%s%s@%llx", Used ? " " : "", Perms,
             (Lo > Start ? Lo : Start) - Start);
  }
  fclose(F);
  return Out;
}

START_TEST(bidir_shm_executor_view_is_never_writable_and_executable) {
  executor E;
  launch(&E);
  pid_t Pid = orcrt_tc_pid(E.TC);
  long Page = sysconf(_SC_PAGESIZE);
  const char *Name;
  orc_rt_ExecutorAddr Base = shm_reserve(E.TC, 3 * (uint64_t)Page, &Name);
  orc_rt_ExecutorAddr End = Base + 3 * (uint64_t)Page;
  ck_assert_msg(Name[0] == '/' && strchr(Name + 1, '/') == NULL, "name %s", Name);
  /* Reserved: read-only in the executor. */
  ck_assert_str_eq(maps_of(Pid, Base, End), "r--s@0");

  /* The controller writes code and data through its own view. */
  unsigned char *View = controller_view(Name, 3 * (size_t)Page);
  memcpy(View + Page, Return42, sizeof(Return42));
  memcpy(View, "data", 4);
  shm_segment Segs[] = {{0x01, Base, 4}, {0x05, Base + (uint64_t)Page, sizeof(Return42)}};
  ck_assert_uint_eq(expect_addr(shm_initialize(E.TC, Base, Segs, 2, NULL)), Base);
  /* The name is gone once the allocation is made. */
  ck_assert(!shm_exists(Name));
  const char *Split = orcrt_test_format("r--s@0 r-xs@%lx r--s@%lx", Page, 2 * Page);
  ck_assert_str_eq(maps_of(Pid, Base, End), Split);
  ck_assert_int_eq(run_void(E.TC, Base + (uint64_t)Page), 42);

  /* Deinitialized: read-only again, and no longer callable. */
  orcrt_test_assert_sps_error(shm_addresses(E.TC, "Deinitialize", Base), NULL);
  ck_assert_str_eq(maps_of(Pid, Base, End), "r--s@0");
  ck_assert_int_eq(run_void(E.TC, Base + (uint64_t)Page), -1);
  orcrt_test_assert_sps_error(shm_addresses(E.TC, "Deinitialize", Base), "No allocation entry found");

  /* Reused for new code, as LLVM's slab allocator does. */
  View[Page] = 0x90; /* nop, then mov eax, 42; ret */
  memcpy(View + Page + 1, Return42, sizeof(Return42));
  shm_segment Again[] = {{0x05, Base + (uint64_t)Page, 1 + sizeof(Return42)}};
  ck_assert_uint_eq(expect_addr(shm_initialize(E.TC, Base, Again, 1, NULL)), Base + (uint64_t)Page);
  ck_assert_int_eq(run_void(E.TC, Base + (uint64_t)Page), 42);
  ck_assert_str_eq(maps_of(Pid, Base, End), Split);

  /* Released: unmapped, and unknown from then on. */
  orcrt_test_assert_sps_error(shm_addresses(E.TC, "Release", Base), NULL);
  ck_assert_str_eq(maps_of(Pid, Base, End), "");
  orcrt_test_assert_sps_error(shm_addresses(E.TC, "Release", Base), "No reservation found");
  munmap(View, 3 * (size_t)Page);
  finish_in_order(&E);
}
END_TEST

START_TEST(bidir_shm_refuses_bad_requests) {
  executor E;
  launch(&E);
  long Page = sysconf(_SC_PAGESIZE);
  const char *Name;
  orc_rt_ExecutorAddr Base = shm_reserve(E.TC, 2 * (uint64_t)Page, &Name);

  shm_segment WX[] = {{0x07, Base, 16}};
  orcrt_test_assert_expected_failure(shm_initialize(E.TC, Base, WX, 1, NULL), "writable and executable");
  shm_segment Outside[] = {{0x01, Base + (uint64_t)Page, 2 * (uint64_t)Page}};
  orcrt_test_assert_expected_failure(shm_initialize(E.TC, Base, Outside, 1, NULL), "crosses boundary");
  shm_segment Wrap[] = {{0x01, Base, UINT64_MAX}};
  orcrt_test_assert_expected_failure(shm_initialize(E.TC, Base, Wrap, 1, NULL), "overflows");
  shm_segment Mixed[] = {{0x01, Base, 16}, {0x05, Base + 16, 16}};
  orcrt_test_assert_expected_failure(shm_initialize(E.TC, Base, Mixed, 2, NULL), "another protection");
  orcrt_test_assert_expected_failure(shm_initialize(E.TC, Base, NULL, 0, NULL), "no segments");
  shm_segment Ok[] = {{0x01, Base, 16}};
  orcrt_test_assert_expected_failure(shm_initialize(E.TC, Base + 1, Ok, 1, NULL), "No reservation found");
  /* Nothing above took the pages: this succeeds, and then they are taken. */
  ck_assert_uint_eq(expect_addr(shm_initialize(E.TC, Base, Ok, 1, NULL)), Base);
  shm_segment Overlap[] = {{0x01, Base + 64, 16}};
  orcrt_test_assert_expected_failure(shm_initialize(E.TC, Base, Overlap, 1, NULL), "overlaps allocation");

  orcrt_test_assert_expected_failure(shm_reserve_raw(E.TC, 0), "0 bytes");
  orcrt_test_assert_expected_failure(shm_reserve_raw(E.TC, UINT64_MAX), "too large");
  orcrt_test_assert_sps_error(shm_addresses(E.TC, "Deinitialize", Base + 64), "No allocation entry found");
  orcrt_test_assert_sps_error(shm_addresses(E.TC, "Release", Base + (uint64_t)Page), "No reservation found");

  /* Another instance, and arguments that do not decode (an empty answer). */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E.TC, SHM_INSTANCE) + 8);
  orc_rt_SPSWriter_u64(&W, 4096);
  orcrt_test_assert_expected_failure(call(E.TC, "__llvm_orc_ExecutorSharedMemoryMapperService_Reserve", &W),
                          "Unknown shared memory mapper instance");
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u8(&W, 1);
  orc_rt_WrapperFunctionBuffer R =
      call(E.TC, "__llvm_orc_ExecutorSharedMemoryMapperService_Initialize", &W);
  ck_assert_uint_eq(R.Size, 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  finish_in_order(&E);
}
END_TEST

START_TEST(bidir_shm_runs_actions_and_removes_objects_at_shutdown) {
  executor E;
  launch(&E);
  long Page = sysconf(_SC_PAGESIZE);
  const char *Marks = orcrt_test_scratch_file("marks");
  orc_rt_ExecutorAddr Marker = lookup(E.TC, marker_library(), "orcrt_test_marker");

  /* One reservation with an allocation and its actions, one the controller never opened. */
  const char *Used, *Unused;
  orc_rt_ExecutorAddr Base = shm_reserve(E.TC, (uint64_t)Page, &Used);
  orc_rt_ExecutorAddr Other = shm_reserve(E.TC, (uint64_t)Page, &Unused);
  ck_assert(Other != Base);
  ck_assert(shm_exists(Used) && shm_exists(Unused));
  /* The marker's arguments are "PATH\0TAG". */
  size_t PathSize = strlen(Marks) + 1;
  char *Fin = orcrt_test_keep(malloc(PathSize + 1)),
       *Dealloc = orcrt_test_keep(malloc(PathSize + 1));
  ck_assert(Fin && Dealloc);
  memcpy(Fin, Marks, PathSize);
  memcpy(Dealloc, Marks, PathSize);
  Fin[PathSize] = 'F';
  Dealloc[PathSize] = 'D';
  shm_actions Actions = {Marker, Fin, Dealloc, PathSize + 1, PathSize + 1};
  shm_segment Seg[] = {{0x01, Base, 8}};
  ck_assert_uint_eq(expect_addr(shm_initialize(E.TC, Base, Seg, 1, &Actions)), Base);
  ck_assert_str_eq(file_text(Marks), "F");

  /* The controller goes: everything is released and no object is left. */
  finish_in_order(&E);
  ck_assert_str_eq(file_text(Marks), "FD");
  ck_assert(!shm_exists(Used));
  ck_assert(!shm_exists(Unused));
}
END_TEST

/* ---- processes with captured output (the TCP and LLVM tests) ------------------ */

typedef struct {
  pid_t Pid;
  int OutFd, ErrFd; /* read ends of its stdout and stderr */
} proc;

/* Start Argv[0] (a path) with stdin from /dev/null and stdout, stderr to pipes. */
static void proc_start(proc *P, const char *const *Argv) {
  int Out[2], Err[2];
  ck_assert_int_eq(pipe2(Out, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(Err, O_CLOEXEC), 0);
  posix_spawn_file_actions_t A;
  posix_spawn_file_actions_init(&A);
  posix_spawn_file_actions_addopen(&A, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&A, Out[1], 1);
  posix_spawn_file_actions_adddup2(&A, Err[1], 2);
  fflush(NULL);
  int Rc = posix_spawn(&P->Pid, Argv[0], &A, NULL, (char *const *)Argv, environ);
  posix_spawn_file_actions_destroy(&A);
  close(Out[1]);
  close(Err[1]);
  P->OutFd = Out[0];
  P->ErrFd = Err[0];
  ck_assert_msg(Rc == 0, "cannot start %s: %s", Argv[0], strerror(Rc));
}

/* Read Fd until end of file (at most until Deadline); the text, kept. */
static char *read_all(int Fd, int64_t Deadline, size_t *Size) {
  size_t Cap = 4096, N = 0;
  char *Buf = malloc(Cap + 1);
  ck_assert_ptr_nonnull(Buf);
  for (;;) {
    struct pollfd Pfd = {.fd = Fd, .events = POLLIN};
    int64_t Left = Deadline - now_ms();
    ck_assert_msg(Left > 0, "timed out reading output");
    if (poll(&Pfd, 1, (int)Left) <= 0)
      continue;
    if (N == Cap) {
      char *More = realloc(Buf, 2 * Cap + 1);
      ck_assert_ptr_nonnull(More);
      Buf = More;
      Cap *= 2;
    }
    ssize_t R = read(Fd, Buf + N, Cap - N);
    if (R < 0 && errno == EINTR)
      continue;
    if (R <= 0)
      break;
    N += (size_t)R;
  }
  Buf[N] = '\0';
  if (Size)
    *Size = N;
  return orcrt_test_keep(Buf);
}

/* Read one line from Fd (bounded); the line without its newline, kept. */
static char *read_line(int Fd, int64_t Deadline) {
  char *Line = orcrt_test_keep(calloc(1, 512));
  ck_assert_ptr_nonnull(Line);
  for (size_t N = 0; N < 511;) {
    struct pollfd Pfd = {.fd = Fd, .events = POLLIN};
    int64_t Left = Deadline - now_ms();
    ck_assert_msg(Left > 0, "timed out waiting for a line; so far: %s", Line);
    if (poll(&Pfd, 1, (int)Left) <= 0)
      continue;
    char C;
    ssize_t R = read(Fd, &C, 1);
    if (R < 0 && errno == EINTR)
      continue;
    ck_assert_msg(R == 1, "end of output before a whole line; so far: %s", Line);
    if (C == '\n')
      break;
    Line[N++] = C;
  }
  return Line;
}

/* Wait (bounded) for P to end; its status as orcrt_test_wait_pid() gives it. */
static int proc_wait(proc *P, double Seconds) {
  int Status = orcrt_test_wait_pid(P->Pid, Seconds);
  if (Status < 0) {
    kill(P->Pid, SIGKILL);
    orcrt_test_wait_pid(P->Pid, Seconds);
  }
  ck_assert_msg(Status >= 0, "process %ld did not end in %.0f s", (long)P->Pid, Seconds);
  return Status;
}

static void proc_close(proc *P) {
  close(P->OutFd);
  close(P->ErrFd);
}

/* ---- the TCP listener ---------------------------------------------------------- */

/*
 * Start orcrt-executor with the options Opts (NULL-terminated, may be NULL)
 * and listen=Spec; return its port, read from the line it prints.
 */
static int start_listener(proc *P, const char *const *Opts, const char *Spec,
                          const char *WantHost) {
  const char *Argv[8];
  size_t N = 0;
  Argv[N++] = orcrt_test_executor_path();
  for (; Opts && *Opts; Opts++)
    Argv[N++] = *Opts;
  Argv[N++] = Spec;
  Argv[N] = NULL;
  proc_start(P, Argv);
  const char *Line = read_line(P->ErrFd, now_ms() + EXIT_TIMEOUT_MS);
  const char *Prefix = orcrt_test_format("orcrt-executor: listening on %s:", WantHost);
  ck_assert_msg(strncmp(Line, Prefix, strlen(Prefix)) == 0, "first line: %s", Line);
  int Port = atoi(Line + strlen(Prefix));
  ck_assert_msg(Port > 0 && Port < 65536, "first line: %s", Line);
  return Port;
}

/* Whether every socket of process Pid is close-on-exec; how many it has in *N. */
static bool sockets_close_on_exec(pid_t Pid, int *N) {
  bool All = true;
  *N = 0;
  for (int Fd = 0; Fd < 1024; Fd++) {
    char Target[64];
    ssize_t L =
        readlink(orcrt_test_format("/proc/%ld/fd/%d", (long)Pid, Fd), Target, sizeof(Target) - 1);
    if (L <= 0)
      continue;
    Target[L] = '\0';
    if (strncmp(Target, "socket:", 7) != 0)
      continue;
    (*N)++;
    FILE *F = fopen(orcrt_test_format("/proc/%ld/fdinfo/%d", (long)Pid, Fd), "re");
    ck_assert_ptr_nonnull(F);
    char Line[128];
    unsigned long Flags = 0;
    while (fgets(Line, sizeof(Line), F))
      sscanf(Line, "flags: %lo", &Flags);
    fclose(F);
    All = All && (Flags & O_CLOEXEC);
  }
  return All;
}

START_TEST(bidir_tcp_listener_serves_one_controller_on_loopback) {
  proc P;
  int Port = start_listener(&P, NULL, "listen=:0", "127.0.0.1");
  int Sock = orcrt_test_connect_loopback(Port);
  ck_assert_msg(Sock >= 0, "connect: %s", strerror(errno));
  orcrt_tc *TC;
  ck_assert_int_eq(orcrt_tc_attach_fds(Sock, Sock, &TC), 0);
  orcrt_tc_set_timeout(TC, EXIT_TIMEOUT_MS);
  ck_assert_msg(orcrt_tc_read_setup(TC) == 0, "no Setup: %s", orcrt_tc_error(TC));
  ck_assert(orcrt_tc_lookup(TC, SHM_INSTANCE, NULL));
  assert_still_serving(TC);

  /* One controller: the listening socket is gone, the connection close-on-exec. */
  int Second = orcrt_test_connect_loopback(Port);
  ck_assert_msg(Second < 0 && errno == ECONNREFUSED, "a second connection was accepted");
  int NumSockets;
  ck_assert(sockets_close_on_exec(P.Pid, &NumSockets));
  ck_assert_int_eq(NumSockets, 1); /* the connection, kept open until the Session's end */

  orcrt_tc_close(TC);
  ck_assert_int_eq(proc_wait(&P, EXIT_TIMEOUT_MS / 1000.0), 0);
  orcrt_tc_destroy(TC);
  size_t ErrSize;
  const char *Rest = read_all(P.ErrFd, now_ms() + EXIT_TIMEOUT_MS, &ErrSize);
  ck_assert_msg(ErrSize == 0, "unexpected stderr: %s", Rest);
  proc_close(&P);
}
END_TEST

START_TEST(bidir_tcp_listener_binds_loopback_for_a_bare_port) {
  proc P;
  /* listen=PORT: 127.0.0.1 too; a connection that comes and goes ends the executor. */
  int Port = start_listener(&P, NULL, "listen=0", "127.0.0.1");
  int Sock = orcrt_test_connect_loopback(Port);
  ck_assert_int_ge(Sock, 0);
  orcrt_tc *TC;
  ck_assert_int_eq(orcrt_tc_attach_fds(Sock, Sock, &TC), 0);
  orcrt_tc_set_timeout(TC, EXIT_TIMEOUT_MS);
  ck_assert_msg(orcrt_tc_read_setup(TC) == 0, "no Setup: %s", orcrt_tc_error(TC));
  orcrt_tc_destroy(TC);
  ck_assert_int_eq(proc_wait(&P, EXIT_TIMEOUT_MS / 1000.0), 0);
  proc_close(&P);

  /* An explicit host is used as given. */
  Port = start_listener(&P, NULL, "listen=127.0.0.1:0", "127.0.0.1");
  Sock = orcrt_test_connect_loopback(Port);
  ck_assert_int_ge(Sock, 0);
  close(Sock);
  ck_assert_int_eq(proc_wait(&P, EXIT_TIMEOUT_MS / 1000.0), 0);
  proc_close(&P);
}
END_TEST

START_TEST(bidir_tcp_listen_usage_errors) {
  static const char *const Bad[] = {
      "listen=",      "listen=:",      "listen=http",    "listen=:65536",
      "listen=::1:0", "listen=[::1:0", "listen=host:-1", NULL};
  for (const char *const *B = Bad; *B; B++) {
    const char *Argv[] = {orcrt_test_executor_path(), *B, NULL};
    orcrt_test_spawn_result R;
    ck_assert_int_eq(orcrt_test_spawn(Argv, NULL, RUN_TIMEOUT, &R), 0);
    ck_assert_msg(R.Status == 1, "%s: status %d", *B, R.Status);
    ck_assert_msg(strstr(R.Err, "invalid address") && strstr(R.Err, "listen=[HOST:]PORT"), "%s: %s",
                  *B, R.Err);
    orcrt_test_spawn_result_free(&R);
  }
  const char *Probe[] = {orcrt_test_executor_path(), "--idle-probe=soon", "listen=:0", NULL};
  orcrt_test_spawn_result R;
  ck_assert_int_eq(orcrt_test_spawn(Probe, NULL, RUN_TIMEOUT, &R), 0);
  ck_assert_int_eq(R.Status, 1);
  ck_assert_msg(strstr(R.Err, "invalid idle probe delay 'soon'"), "%s", R.Err);
  orcrt_test_spawn_result_free(&R);

  const char *Help[] = {orcrt_test_executor_path(), "--help", NULL};
  ck_assert_int_eq(orcrt_test_spawn(Help, NULL, RUN_TIMEOUT, &R), 0);
  ck_assert_int_eq(R.Status, 0);
  ck_assert_msg(strstr(R.Out, "listen=[HOST:]PORT") && strstr(R.Out, "127.0.0.1") &&
                    strstr(R.Out, "loopback"),
                "%s", R.Out);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/*
 * llvm-jitlink-19's teardown over TCP, reproduced: its reader thread sits in
 * read() on the socket while another thread close()s it, so no FIN leaves
 * and it waits for the executor to close first. The reader answers calls
 * until it is told it is disconnected, then stops at the next frame. That
 * close() under a read() is the race being reproduced, so the socket is
 * used through raw system calls, which ThreadSanitizer does not watch.
 */
struct stuck_reader {
  int Fd;
  pthread_t Thread;
  pthread_mutex_t Lock;
  bool Disconnected;
  unsigned Answered; /* probes answered before the close */
  bool WokenByProbe; /* the read in progress at the close returned a probe */
  long Tid;
};

static void *stuck_reader_main(void *Arg) {
  struct stuck_reader *SR = Arg;
  pthread_mutex_lock(&SR->Lock);
  SR->Tid = (long)syscall(SYS_gettid);
  pthread_mutex_unlock(&SR->Lock);
  for (;;) {
    unsigned char H[32];
    size_t Got = 0;
    while (Got < sizeof(H)) {
      ssize_t R = syscall(SYS_read, SR->Fd, H + Got, sizeof(H) - Got);
      if (R <= 0)
        return NULL;
      Got += (size_t)R;
    }
    uint64_t Size = get_le64((char *)H), OpC = get_le64((char *)H + 8),
             Seq = get_le64((char *)H + 16), Tag = get_le64((char *)H + 24);
    bool Probe = Size == 32 && OpC == ORCRT_TC_OP_CALL_WRAPPER && Tag == 0;
    /* Under the lock: the descriptor is closed only while this thread reads. */
    pthread_mutex_lock(&SR->Lock);
    bool Stop = SR->Disconnected || !Probe;
    if (SR->Disconnected)
      SR->WokenByProbe = Probe;
    if (!Stop) {
      /* Answer like llvm-jitlink-19 answers a tag it does not know: no bytes. */
      unsigned char Res[32] = {0};
      Res[0] = 32;
      Res[8] = ORCRT_TC_OP_RESULT;
      for (int I = 0; I < 8; I++)
        Res[16 + I] = (unsigned char)(Seq >> (8 * I));
      Stop = syscall(SYS_write, SR->Fd, Res, sizeof(Res)) != (long)sizeof(Res);
      SR->Answered++;
    }
    pthread_mutex_unlock(&SR->Lock);
    if (Stop)
      return NULL;
  }
}

/* Whether thread Tid of this process is blocked in read(Fd). */
static bool blocked_in_read(long Tid, int Fd) {
  FILE *F = fopen(orcrt_test_format("/proc/self/task/%ld/syscall", Tid), "re");
  if (!F)
    return false;
  long Nr = -1;
  unsigned long Arg0 = 0;
  bool In = fscanf(F, "%ld 0x%lx", &Nr, &Arg0) == 2 && Nr == SYS_read && Arg0 == (unsigned long)Fd;
  fclose(F);
  return In;
}

/* Read the next frame from the blocking socket Fd (bounded): its header
   fields; the payload is skipped. */
static void read_raw_frame(int Fd, uint64_t *OpC, uint64_t *Seq) {
  int64_t Deadline = now_ms() + EXIT_TIMEOUT_MS;
  char H[32];
  uint64_t Left = sizeof(H);
  bool InHeader = true;
  while (Left) {
    struct pollfd Pfd = {.fd = Fd, .events = POLLIN};
    ck_assert_msg(now_ms() < Deadline, "timed out reading a frame");
    if (poll(&Pfd, 1, 100) <= 0)
      continue;
    char Skip[4096];
    ssize_t R = read(Fd, InHeader ? H + (sizeof(H) - Left) : Skip,
                     InHeader ? Left : (Left < sizeof(Skip) ? Left : sizeof(Skip)));
    ck_assert_msg(R > 0, "the executor closed the connection");
    Left -= (uint64_t)R;
    if (InHeader && Left == 0) {
      InHeader = false;
      Left = get_le64(H) - 32;
      *OpC = get_le64(H + 8);
      *Seq = get_le64(H + 16);
    }
  }
}

START_TEST(bidir_tcp_probe_ends_a_controller_stuck_in_teardown) {
  proc P;
  const char *Opts[] = {"--idle-probe=20", NULL};
  int Port = start_listener(&P, Opts, "listen=:0", "127.0.0.1");
  struct stuck_reader SR = {.Fd = orcrt_test_connect_loopback(Port), .Tid = -1};
  ck_assert_int_ge(SR.Fd, 0);

  /* The Setup, then one call (to an address that is no wrapper: an error
     answer), after which the executor probes whenever the session is idle. */
  uint64_t OpC = 9, Seq = 9;
  read_raw_frame(SR.Fd, &OpC, &Seq);
  ck_assert_uint_eq(OpC, ORCRT_TC_OP_SETUP);
  unsigned char Call[32] = {32};
  Call[8] = ORCRT_TC_OP_CALL_WRAPPER;
  Call[24] = 1;
  ck_assert_int_eq(write(SR.Fd, Call, sizeof(Call)), (ssize_t)sizeof(Call));
  read_raw_frame(SR.Fd, &OpC, &Seq);
  ck_assert_uint_eq(OpC, ORCRT_TC_OP_RESULT);
  ck_assert_uint_eq(Seq, 0);
  pthread_mutex_init(&SR.Lock, NULL);
  ck_assert_int_eq(pthread_create(&SR.Thread, NULL, stuck_reader_main, &SR), 0);

  /* Once it sits in read(), disconnect and close the descriptor under it. */
  int64_t Deadline = now_ms() + EXIT_TIMEOUT_MS;
  for (bool Closed = false; !Closed;) {
    pthread_mutex_lock(&SR.Lock);
    if (SR.Tid > 0 && blocked_in_read(SR.Tid, SR.Fd)) {
      SR.Disconnected = true;
      syscall(SYS_close, SR.Fd);
      Closed = true;
    }
    pthread_mutex_unlock(&SR.Lock);
    ck_assert_msg(Closed || now_ms() < Deadline, "the reader never blocked in read()");
    if (!Closed)
      sched_yield();
  }

  /* The executor's next probe wakes the read; the socket then closes for good. */
  ck_assert_int_eq(proc_wait(&P, EXIT_TIMEOUT_MS / 1000.0), 0);
  pthread_join(SR.Thread, NULL);
  ck_assert_msg(SR.WokenByProbe, "the stuck read did not return a probe");
  pthread_mutex_destroy(&SR.Lock);
  proc_close(&P);
}
END_TEST

/* ---- LLVM 19's tools -------------------------------------------------------------- */

static void run(const char *const *Argv, const char *const *Env, double Timeout,
                orcrt_test_spawn_result *R) {
  ck_assert_msg(orcrt_test_spawn(Argv, Env, Timeout, R) == 0, "cannot run %s: %m", Argv[0]);
  ck_assert_msg(!R->TimedOut, "%s did not finish within %.0f s; stderr:\n%s", Argv[0], Timeout,
                shown(R->Err, R->ErrSize));
}

/* Compile tests/programs/Src into the scratch directory with Flags. */
static const char *compile(const char *Src, const char *Out, const char *const *Flags) {
  const char *Argv[16];
  size_t N = 0;
  const char *OutPath = orcrt_test_scratch_file(Out);
  Argv[N++] = required_env("ORCRT_CLANG");
  for (; *Flags; Flags++)
    Argv[N++] = *Flags;
  Argv[N++] = "-o";
  Argv[N++] = OutPath;
  Argv[N++] = Src[0] == '/' ? Src : program(Src);
  Argv[N] = NULL;
  orcrt_test_spawn_result R;
  run(Argv, NULL, RUN_TIMEOUT, &R);
  ck_assert_msg(R.Status == 0, "compiling %s failed:\n%s", Src, shown(R.Err, R.ErrSize));
  orcrt_test_spawn_result_free(&R);
  return OutPath;
}

static const char *object(const char *Src) {
  static const char *const Flags[] = {"-c", "-O1", NULL};
  return compile(Src, "prog.o", Flags);
}

/* LLVM's ORC runtime for clang's target, found beside clang's builtins. */
static const char *orc_runtime(void) {
  const char *Argv[] = {required_env("ORCRT_CLANG"), "--rtlib=compiler-rt",
                        "-print-libgcc-file-name", NULL};
  orcrt_test_spawn_result R;
  run(Argv, NULL, RUN_TIMEOUT, &R);
  ck_assert_int_eq(R.Status, 0);
  char *Builtins = orcrt_test_keep(strndup(R.Out, strcspn(R.Out, "\n")));
  orcrt_test_spawn_result_free(&R);
  char *Slash = strrchr(Builtins, '/');
  const char *Prefix = "libclang_rt.builtins-";
  ck_assert_msg(Slash && strncmp(Slash + 1, Prefix, strlen(Prefix)) == 0, "builtins at %s",
                Builtins);
  *Slash = '\0';
  const char *Path = orcrt_test_format("%s/liborc_rt-%s", Builtins, Slash + 1 + strlen(Prefix));
  ck_assert_msg(access(Path, R_OK) == 0, "no ORC runtime at %s (libclang-rt-19-dev)", Path);
  return Path;
}

static void assert_same(const char *What, const orcrt_test_spawn_result *Ref,
                        const orcrt_test_spawn_result *Got) {
  ck_assert_msg(Ref->OutSize == Got->OutSize && memcmp(Ref->Out, Got->Out, Ref->OutSize) == 0,
                "%s: stdout differs.\n--- in process:\n%s\n--- orcrt-executor:\n%s", What,
                shown(Ref->Out, Ref->OutSize), shown(Got->Out, Got->OutSize));
  ck_assert_msg(Ref->ErrSize == Got->ErrSize && memcmp(Ref->Err, Got->Err, Ref->ErrSize) == 0,
                "%s: stderr differs.\n--- in process:\n%s\n--- orcrt-executor:\n%s", What,
                shown(Ref->Err, Ref->ErrSize), shown(Got->Err, Got->ErrSize));
  ck_assert_msg(Ref->Status == Got->Status,
                "%s: exit status differs: %d in process, %d with orcrt-executor", What, Ref->Status,
                Got->Status);
}

/*
 * Run llvm-jitlink-19 with Args in process and through orcrt-executor (Env
 * added to both), assert that they agree, and leave the reference in *Ref.
 */
static void jitlink_both(const char *const *Args, const char *const *Env,
                         orcrt_test_spawn_result *Ref) {
  const char *Argv[32];
  size_t N = 0;
  Argv[N++] = required_env("ORCRT_LLVM_JITLINK");
  Argv[N++] = orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path());
  for (; *Args; Args++)
    Argv[N++] = *Args;
  Argv[N] = NULL;
  const char *What = "llvm-jitlink";
  for (size_t I = 2; I < N; I++)
    What = orcrt_test_format("%s %s", What, Argv[I]);
  orcrt_test_spawn_result Got;
  run(Argv, Env, RUN_TIMEOUT, &Got);
  Argv[1] = Argv[0];
  run(Argv + 1, Env, RUN_TIMEOUT, Ref);
  assert_same(What, Ref, &Got);
  orcrt_test_spawn_result_free(&Got);
}

static void assert_has(const char *What, const char *Text, const char *Substr) {
  ck_assert_msg(strstr(Text, Substr) != NULL, "%s lacks \"%s\":\n%s", What, Substr,
                shown(Text, strlen(Text)));
}

/* What statics.cpp prints, in order, with arguments "two words", "-x", "". */
static const char StaticsOut[] = "constructor(101) runs first\n"
                                 "plain constructor sees 7\n"
                                 "constructing first = 1\n"
                                 "constructing second = 2\n"
                                 " -> 102\n"
                                 "-x -> 101\n"
                                 "first -> 1\n"
                                 "second -> 2\n"
                                 "two words -> 100\n"
                                 "function-local static destroyed\n"
                                 "exit handler two\n"
                                 "exit handler one\n"
                                 "destroying second (table has 5)\n"
                                 "destroying first (table has 5)\n";

/*
 * ASAN_OPTIONS for runs with the ORC runtime: LLVM's runtime never frees its
 * state (it is built to live as long as the process), so an executor built
 * with AddressSanitizer would report the JIT'd program's allocations as
 * leaks at exit. orcrt's own leaks are checked by every other test.
 */
static const char *no_leak_check(void) {
  const char *Old = orcrt_test_getenv("ASAN_OPTIONS");
  return orcrt_test_format("ASAN_OPTIONS=%s%sdetect_leaks=0", Old ? Old : "", Old ? ":" : "");
}

static void run_statics(const char *Threads) {
  const char *Env[] = {no_leak_check(), Threads, NULL};
  const char *Args[] = {orcrt_test_format("-orc-runtime=%s", orc_runtime()),
                        object("statics.cpp"),
                        "-args",
                        "two words",
                        "-x",
                        "",
                        NULL};
  orcrt_test_spawn_result Ref;
  jitlink_both(Args, Env, &Ref);
  ck_assert_str_eq(Ref.Out, StaticsOut);
  ck_assert_str_eq(Ref.Err, "argc 3, 5 entries, sum 306\n");
  ck_assert_int_eq(Ref.Status, 5);
  orcrt_test_spawn_result_free(&Ref);
}

START_TEST(bidir_jitlink_orc_runtime_runs_constructors_destructors_and_exit_handlers) {
  run_statics(NULL);
}
END_TEST

START_TEST(bidir_jitlink_orc_runtime_nests_deeper_than_one_thread) {
  /* run_program blocks the only worker while the runtime asks the
     controller for initializers, and the controller links more code into
     the executor before it answers. */
  run_statics("ORCRT_THREADS=1");
}
END_TEST

START_TEST(bidir_jitlink_shared_memory_runs_c_and_cxx_exceptions) {
  const char *Example =
      orcrt_test_format("%s/contrib/examples/hello.c", required_env("ORCRT_TOP_SRCDIR"));
  const char *Hello[] = {"-use-shared-memory", object(Example), "-args", "a", "b", NULL};
  orcrt_test_spawn_result Ref;
  jitlink_both(Hello, NULL, &Ref);
  ck_assert_int_eq(Ref.Status, 42);
  orcrt_test_spawn_result_free(&Ref);

  static const char *const Debug[] = {"-c", "-O1", "-g", NULL};
  const char *Cxx[] = {"-use-shared-memory", compile("exceptions.cpp", "cxx.o", Debug), NULL};
  jitlink_both(Cxx, NULL, &Ref);
  ck_assert_int_eq(Ref.Status, 12);
  assert_has("stdout", Ref.Out, "std::exception: runtime error at 3\n");
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

START_TEST(bidir_jitlink_orc_runtime_with_shared_memory_catches_cxx_exceptions) {
  /* The runtime registers a graph's unwind tables before the graph is
     initialized; with shared memory its content is already there. */
  const char *Args[] = {"-use-shared-memory", orcrt_test_format("-orc-runtime=%s", orc_runtime()),
                        object("exceptions.cpp"), NULL};
  const char *Env[] = {no_leak_check(), NULL};
  orcrt_test_spawn_result Ref;
  jitlink_both(Args, Env, &Ref);
  ck_assert_int_eq(Ref.Status, 12);
  assert_has("stdout", Ref.Out, "Custom 4: custom at 4\n");
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

/* ---- llvm-jitlink-19 over TCP -------------------------------------------------------- */

/* Remove every "llvm-jitlink error: FD-transport disconnected" line (see below). */
static const char *without_teardown_lines(const char *Err) {
  static const char Line[] = "llvm-jitlink error: FD-transport disconnected\n";
  char *Out = orcrt_test_keep(calloc(1, strlen(Err) + 1));
  ck_assert_ptr_nonnull(Out);
  for (const char *P = Err; *P;) {
    if (strncmp(P, Line, sizeof(Line) - 1) == 0) {
      P += sizeof(Line) - 1;
      continue;
    }
    size_t L = strcspn(P, "\n");
    L += P[L] == '\n';
    strncat(Out, P, L);
    P += L;
  }
  return Out;
}

START_TEST(bidir_jitlink_over_tcp_matches_in_process) {
  const char *Obj = object("exceptions.cpp");
  orcrt_test_spawn_result Ref;
  const char *InProcess[] = {required_env("ORCRT_LLVM_JITLINK"), Obj, "-args", "x", NULL};
  run(InProcess, NULL, RUN_TIMEOUT, &Ref);
  ck_assert_int_eq(Ref.Status, 12);

  proc P;
  int Port = start_listener(&P, NULL, "listen=:0", "127.0.0.1");
  const char *Connect[] = {required_env("ORCRT_LLVM_JITLINK"),
                           orcrt_test_format("-oop-executor-connect=127.0.0.1:%d", Port),
                           Obj,
                           "-args",
                           "x",
                           NULL};
  orcrt_test_spawn_result Got;
  run(Connect, NULL, RUN_TIMEOUT, &Got);
  ck_assert_int_eq(proc_wait(&P, RUN_TIMEOUT), 0);
  int64_t Deadline = now_ms() + EXIT_TIMEOUT_MS;
  size_t OutSize, ErrSize;
  const char *Out = read_all(P.OutFd, Deadline, &OutSize);
  const char *Err = read_all(P.ErrFd, Deadline, &ErrSize);
  proc_close(&P);

  /* The program's output is the executor's; llvm-jitlink's status is main's. */
  ck_assert_msg(OutSize == Ref.OutSize && memcmp(Out, Ref.Out, OutSize) == 0,
                "stdout differs.\n--- in process:\n%s\n--- over TCP:\n%s",
                shown(Ref.Out, Ref.OutSize), shown(Out, OutSize));
  ck_assert_msg(ErrSize == Ref.ErrSize && memcmp(Err, Ref.Err, ErrSize) == 0,
                "stderr differs.\n--- in process:\n%s\n--- executor over TCP:\n%s",
                shown(Ref.Err, Ref.ErrSize), shown(Err, ErrSize));
  ck_assert_int_eq(Got.Status, Ref.Status);
  ck_assert_uint_eq(Got.OutSize, 0);
  /* Nothing of llvm-jitlink's own but the report of the idle probe that
     ended its teardown (LLVM 19 reports its failed answer). */
  ck_assert_msg(without_teardown_lines(Got.Err)[0] == '\0', "llvm-jitlink stderr: %s", Got.Err);
  orcrt_test_spawn_result_free(&Got);
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

/* ---- gdb ---------------------------------------------------------------------------- */

/* gdb on the PATH (or ORCRT_GDB), or NULL. */
static const char *find_gdb(void) {
  const char *Gdb = orcrt_test_getenv("ORCRT_GDB");
  if (Gdb)
    return access(Gdb, X_OK) == 0 ? Gdb : NULL;
  const char *Path = orcrt_test_getenv("PATH");
  while (Path && *Path) {
    size_t L = strcspn(Path, ":");
    const char *Candidate = orcrt_test_format("%.*s/gdb", (int)L, Path);
    if (L && access(Candidate, X_OK) == 0)
      return Candidate;
    Path += L + (Path[L] == ':');
  }
  return NULL;
}

/* The line of tests/programs/Src that holds Marker (1-based). */
static int line_of(const char *Src, const char *Marker) {
  FILE *F = fopen(program(Src), "re");
  ck_assert_ptr_nonnull(F);
  char Line[256];
  int N = 0, Found = 0;
  while (!Found && fgets(Line, sizeof(Line), F)) {
    N++;
    if (strstr(Line, Marker))
      Found = N;
  }
  fclose(F);
  ck_assert_int_gt(Found, 0);
  return Found;
}

/* gdb on llvm-jitlink-19, following it into the executor (Sandboxed: ORCRT_SANDBOX=1). */
static void gdb_stops_in_jitted_function(bool Sandboxed) {
  const char *Gdb = find_gdb();
  if (!Gdb) {
    fprintf(stderr, "bidir: gdb not found: gdb_breakpoint skipped (counted as passed)\n");
    return;
  }
  static const char *const Flags[] = {"-c", "-O0", "-g", NULL};
  const char *Obj = compile("gdb-target.c", "gdb-target.o", Flags);
  /* The program itself, not libtool's wrapper script around it, so that gdb
     follows llvm-jitlink's one fork straight into the executor. */
  const char *Exe = orcrt_test_format("%s/src/executor/.libs/orcrt-executor", build_dir());
  if (access(Exe, X_OK) != 0)
    Exe = orcrt_test_executor_path();
  const char *Libs = orcrt_test_getenv("LD_LIBRARY_PATH");
  const char *Env[] = {orcrt_test_format("LD_LIBRARY_PATH=%s/src/.libs%s%s", build_dir(),
                                         Libs ? ":" : "", Libs ? Libs : ""),
                       /* LeakSanitizer cannot work under ptrace. */
                       "ASAN_OPTIONS=detect_leaks=0",
                       Sandboxed ? orcrt_e2e_SandboxEnv[0] : NULL,
                       Sandboxed ? orcrt_e2e_SandboxEnv[1] : NULL,
                       NULL};
  const char *Argv[] = {Gdb,
                        "-batch",
                        "-nx",
                        "-ex",
                        "set startup-with-shell off",
                        "-ex",
                        "set breakpoint pending on",
                        "-ex",
                        "set follow-fork-mode child",
                        "-ex",
                        "break jit_gdb_target",
                        "-ex",
                        "run",
                        "-ex",
                        "bt 1",
                        "-ex",
                        "continue",
                        "--args",
                        required_env("ORCRT_LLVM_JITLINK"),
                        orcrt_test_format("-oop-executor=%s", Exe),
                        Obj,
                        NULL};
  orcrt_test_spawn_result R;
  run(Argv, Env, GDB_TIMEOUT, &R);
  if (strstr(R.Err, "ptrace: Operation not permitted") ||
      strstr(R.Err, "Could not attach to process")) {
    fprintf(stderr, "bidir: ptrace is not permitted here: gdb_breakpoint skipped (counted as "
                    "passed)\n");
    orcrt_test_spawn_result_free(&R);
    return;
  }
  int Line = line_of("gdb-target.c", "BREAK HERE");
  const char *Where = orcrt_test_format("hit Breakpoint 1, jit_gdb_target (X=13) at ");
  const char *What = orcrt_test_format("gdb output:\n%s\n--- stderr:\n%s", shown(R.Out, R.OutSize),
                                       shown(R.Err, R.ErrSize));
  ck_assert_msg(strstr(R.Out, Where), "no stop in jit_gdb_target; %s", What);
  ck_assert_msg(strstr(R.Out, orcrt_test_format("gdb-target.c:%d\n", Line)),
                "not stopped at line %d; %s", Line, What);
  ck_assert_msg(strstr(R.Out, orcrt_test_format("%d\t  int Y = X * 3; /* BREAK HERE */", Line)),
                "source line not shown; %s", What);
  ck_assert_msg(strstr(R.Out, "#0  jit_gdb_target (X=13) at "), "no backtrace; %s", What);
  ck_assert_msg(strstr(R.Out, "result 40\n"), "the program did not finish; %s", What);
  ck_assert_msg(R.Status == 0, "gdb exited with %d; %s", R.Status, What);
  orcrt_test_spawn_result_free(&R);
}

START_TEST(bidir_gdb_stops_in_jitted_function_by_name) {
  gdb_stops_in_jitted_function(false);
}
END_TEST

/* The sandbox (orcrt-executor(1), SANDBOX) confines the JIT'd code, not a debugger tracing it. */
START_TEST(bidir_gdb_stops_in_jitted_function_in_the_sandbox) {
  gdb_stops_in_jitted_function(true);
}
END_TEST

/* ---- the suite ------------------------------------------------------------------------ */

static void add(Suite *S, const char *Name, const TTest *Test, double Timeout) {
  orcrt_test_add_process_case(S, Name, Test, Timeout);
}

Suite *orcrt_suite_bidir(void) {
  Suite *S = suite_create("bidir");
  add(S, "nested_calls", bidir_nested_calls_deeper_than_the_pool_complete, CASE_TIMEOUT);
  add(S, "controller_vanishes", bidir_blocked_call_fails_once_when_the_controller_vanishes,
      CASE_TIMEOUT);
  add(S, "shm_wx", bidir_shm_executor_view_is_never_writable_and_executable, CASE_TIMEOUT);
  add(S, "shm_bad_requests", bidir_shm_refuses_bad_requests, CASE_TIMEOUT);
  add(S, "shm_shutdown", bidir_shm_runs_actions_and_removes_objects_at_shutdown, CASE_TIMEOUT);
  add(S, "tcp_listener", bidir_tcp_listener_serves_one_controller_on_loopback, CASE_TIMEOUT);
  add(S, "tcp_bare_port", bidir_tcp_listener_binds_loopback_for_a_bare_port, CASE_TIMEOUT);
  add(S, "tcp_usage", bidir_tcp_listen_usage_errors, CASE_TIMEOUT);
  add(S, "tcp_stuck_teardown", bidir_tcp_probe_ends_a_controller_stuck_in_teardown, CASE_TIMEOUT);

  static const char *const Tools[] = {"ORCRT_CLANG", "ORCRT_LLVM_JITLINK"};
  for (size_t I = 0; I < sizeof(Tools) / sizeof(Tools[0]); I++)
    if (!orcrt_test_getenv(Tools[I])) {
      fprintf(stderr, "bidir: %s is not set; no LLVM 19 tools, skipping their tests\n", Tools[I]);
      return S;
    }
  add(S, "jitlink_orc_runtime",
      bidir_jitlink_orc_runtime_runs_constructors_destructors_and_exit_handlers, CASE_TIMEOUT);
  add(S, "jitlink_orc_runtime_one_thread", bidir_jitlink_orc_runtime_nests_deeper_than_one_thread,
      CASE_TIMEOUT);
  add(S, "jitlink_shared_memory", bidir_jitlink_shared_memory_runs_c_and_cxx_exceptions,
      CASE_TIMEOUT);
  add(S, "jitlink_orc_runtime_shared_memory",
      bidir_jitlink_orc_runtime_with_shared_memory_catches_cxx_exceptions, CASE_TIMEOUT);
  add(S, "jitlink_tcp", bidir_jitlink_over_tcp_matches_in_process, CASE_TIMEOUT);
  add(S, "gdb_breakpoint", bidir_gdb_stops_in_jitted_function_by_name, GDB_CASE_TIMEOUT);
  add(S, "gdb_sandbox", bidir_gdb_stops_in_jitted_function_in_the_sandbox, GDB_CASE_TIMEOUT);
  return S;
}

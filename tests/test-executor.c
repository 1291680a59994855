/*
 * test-executor.c - the real orcrt-executor, driven by the C test controller
 *
 * Each test launches src/executor/orcrt-executor the way LLVM 19's
 * controllers do (tests/controller.h) and checks what a controller can see
 * from outside: the Setup frame, answers to calls, the exit status and what
 * the executor writes on stderr (sent to a memfd for the test to read).
 * The marker library (tests/marker.c) gives allocation actions a trace that
 * outlives the executor.
 */
#include "config.h"

#include "controller.h"
#include "llvm19-symbols.h"
#include "run-util.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <orcrt/sps.h>

/* How long the executor may take to exit once it has reason to. */
#define EXIT_TIMEOUT_MS 10000

/* ---- paths and formatting ------------------------------------------------ */

static const char *build_dir(void) {
  const char *Dir = orcrt_test_getenv("ORCRT_TOP_BUILDDIR");
  ck_assert_msg(Dir != NULL, "ORCRT_TOP_BUILDDIR is not set (run the tests through make check)");
  return Dir;
}

static const char *marker_library(void) {
  return orcrt_test_format("%s/tests/.libs/libmarker.so", build_dir());
}

/* ---- a launched executor ------------------------------------------------- */

typedef struct {
  orcrt_tc *TC;
  int ErrFd; /* the executor's stderr */
} executor;

/*
 * Launch orcrt-executor with Style and the words Extra after the
 * descriptors, its stderr going to a memfd, and read its Setup.
 */
static void launch_reading(executor *E, orcrt_tc_launch_style Style, char *const *Extra,
                           unsigned SetupFields) {
  E->ErrFd = memfd_create("executor-stderr", MFD_CLOEXEC);
  ck_assert_int_ge(E->ErrFd, 0);
  /* The child inherits the test's descriptor 2: point it at the memfd just
     for the fork. */
  int Saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
  ck_assert_int_ge(Saved, 0);
  ck_assert_int_eq(dup2(E->ErrFd, 2), 2);
  int Rc = orcrt_tc_launch_ex(orcrt_test_executor_path(), Style, Extra, &E->TC);
  int LaunchErrno = errno;
  dup2(Saved, 2);
  close(Saved);
  ck_assert_msg(Rc == 0, "cannot launch %s: %s", orcrt_test_executor_path(), strerror(LaunchErrno));
  orcrt_tc_set_timeout(E->TC, EXIT_TIMEOUT_MS);
  orcrt_tc_set_setup_fields(E->TC, SetupFields);
  ck_assert_msg(orcrt_tc_read_setup(E->TC) == 0, "no Setup: %s", orcrt_tc_error(E->TC));
}

/* Launch as above and read the Setup as LLVM 19's controllers do. */
static void launch(executor *E, orcrt_tc_launch_style Style, char *const *Extra) {
  launch_reading(E, Style, Extra, 4);
}

static void launch_default(executor *E) {
  launch(E, orcrt_tc_launch_filedescs, NULL);
}

/* Everything the executor wrote on stderr so far (lives until exit). */
static const char *stderr_text(executor *E) {
  struct stat St;
  ck_assert_int_eq(fstat(E->ErrFd, &St), 0);
  char *Text = orcrt_test_keep(calloc(1, (size_t)St.st_size + 1));
  ck_assert_ptr_nonnull(Text);
  ck_assert_int_eq(pread(E->ErrFd, Text, (size_t)St.st_size, 0), St.st_size);
  return Text;
}

/* Wait (bounded) for the executor to exit; returns its exit status, or
   128 + the signal that ended it. Frees the controller. */
static int wait_exit(executor *E) {
  int WaitStatus = 0;
  int Rc = orcrt_tc_wait_exit(E->TC, &WaitStatus);
  ck_assert_msg(Rc == 0, "executor did not exit: %s", orcrt_tc_error(E->TC));
  orcrt_tc_destroy(E->TC);
  E->TC = NULL;
  return WIFEXITED(WaitStatus) ? WEXITSTATUS(WaitStatus) : 128 + WTERMSIG(WaitStatus);
}

/* Close the controller's ends (end of file at a frame boundary) and expect
   an orderly exit with nothing on stderr. */
static void finish_in_order(executor *E) {
  orcrt_tc_close(E->TC);
  ck_assert_int_eq(wait_exit(E), 0);
  const char *Err = stderr_text(E);
  ck_assert_msg(Err[0] == '\0', "unexpected stderr: %s", Err);
  close(E->ErrFd);
}

/* Close the controller's ends before any call: exit 0, and the note that
   the Setup may have been rejected. */
static void finish_without_calls(executor *E) {
  orcrt_tc_close(E->TC);
  ck_assert_int_eq(wait_exit(E), 0);
  orcrt_test_assert_setup_note(stderr_text(E));
  close(E->ErrFd);
}

/* The same, at a log level that adds lines of its own: the note is among them. */
static void finish_without_calls_logged(executor *E) {
  orcrt_tc_close(E->TC);
  ck_assert_int_eq(wait_exit(E), 0);
  const char *Err = stderr_text(E);
  ck_assert_msg(strstr(Err, "the controller closed the channel without a call"), "stderr: %s", Err);
  close(E->ErrFd);
}

/* Expect exit status 1 and exactly one line "orcrt-executor: ...Substr..."
   on stderr. */
static void finish_with_protocol_error(executor *E, const char *Substr) {
  ck_assert_int_eq(wait_exit(E), 1);
  const char *Err = stderr_text(E);
  close(E->ErrFd);
  ck_assert_msg(strncmp(Err, "orcrt-executor: ", 16) == 0, "stderr: %s", Err);
  ck_assert_msg(strstr(Err, Substr) != NULL, "stderr lacks \"%s\": %s", Substr, Err);
  const char *Newline = strchr(Err, '\n');
  ck_assert_msg(Newline && Newline[1] == '\0', "not one line on stderr: %s", Err);
}

static orc_rt_ExecutorAddr sym(executor *E, const char *Name) {
  orc_rt_ExecutorAddr A = 0;
  ck_assert_msg(orcrt_tc_lookup(E->TC, Name, &A), "no bootstrap symbol %s", Name);
  return A;
}

/* Call the bootstrap function Name with the bytes of W (disposed). */
static orc_rt_WrapperFunctionBuffer call(executor *E, const char *Name, orc_rt_SPSWriter *W) {
  orc_rt_WrapperFunctionBuffer R;
  ck_assert(!orc_rt_SPSWriter_failed(W));
  int Rc =
      orcrt_tc_call(E->TC, sym(E, Name), orc_rt_SPSWriter_data(W), orc_rt_SPSWriter_size(W), &R);
  orc_rt_SPSWriter_dispose(W);
  ck_assert_msg(Rc == 0, "call to %s failed: %s", Name, orcrt_tc_error(E->TC));
  return R;
}

/* ---- decoding results ---------------------------------------------------- */

/* An SPSExpected<ExecutorAddr> that must hold a value. */
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

/* ---- the executor's wrappers --------------------------------------------- */

static orc_rt_WrapperFunctionBuffer reserve_raw(executor *E, uint64_t Size) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorMemoryManager_Instance"));
  orc_rt_SPSWriter_u64(&W, Size);
  return call(E, "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper", &W);
}

static orc_rt_ExecutorAddr reserve(executor *E, uint64_t Size) {
  return expect_addr(reserve_raw(E, Size));
}

/* One segment and any number of action pairs (Fn, Args, ArgsSize) x 2. */
typedef struct {
  orc_rt_ExecutorAddr FinalizeFn, DeallocFn;
  const char *FinalizeArgs, *DeallocArgs;
  size_t FinalizeArgsSize, DeallocArgsSize;
} action_pair;

static orc_rt_WrapperFunctionBuffer finalize(executor *E, uint8_t Prot, orc_rt_ExecutorAddr Addr,
                                             uint64_t Size, const void *Content, size_t ContentSize,
                                             const action_pair *Actions, size_t NumActions) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorMemoryManager_Instance"));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_u8(&W, Prot);
  orc_rt_SPSWriter_addr(&W, Addr);
  orc_rt_SPSWriter_u64(&W, Size);
  orc_rt_SPSWriter_bytes(&W, Content, ContentSize);
  orc_rt_SPSWriter_seqCount(&W, NumActions);
  for (size_t I = 0; I < NumActions; I++) {
    orc_rt_SPSWriter_addr(&W, Actions[I].FinalizeFn);
    orc_rt_SPSWriter_bytes(&W, Actions[I].FinalizeArgs, Actions[I].FinalizeArgsSize);
    orc_rt_SPSWriter_addr(&W, Actions[I].DeallocFn);
    orc_rt_SPSWriter_bytes(&W, Actions[I].DeallocArgs, Actions[I].DeallocArgsSize);
  }
  return call(E, "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper", &W);
}

static orc_rt_WrapperFunctionBuffer deallocate(executor *E, orc_rt_ExecutorAddr Base) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorMemoryManager_Instance"));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, Base);
  return call(E, "__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper", &W);
}

static orc_rt_ExecutorAddr open_library(executor *E, const char *Path) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_string(&W, Path);
  orc_rt_SPSWriter_u64(&W, 0);
  return expect_addr(call(E, "__llvm_orc_SimpleExecutorDylibManager_open_wrapper", &W));
}

static orc_rt_WrapperFunctionBuffer lookup_raw(executor *E, orc_rt_ExecutorAddr Handle,
                                               const char *Name) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_addr(&W, Handle);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_string(&W, Name);
  orc_rt_SPSWriter_bool(&W, true);
  return call(E, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper", &W);
}

/* The address of Name in the library with handle Handle (must be found). */
static orc_rt_ExecutorAddr lookup(executor *E, orc_rt_ExecutorAddr Handle, const char *Name) {
  orc_rt_WrapperFunctionBuffer R = lookup_raw(E, Handle, Name);
  orc_rt_SPSReader Rd;
  bool HasValue = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  uint64_t Count = 0;
  orc_rt_ExecutorAddr A = 0;
  uint8_t Flags = 0, TargetFlags = 0;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_data(&R), R.Size);
  ck_assert(orc_rt_SPSReader_expected(&Rd, &HasValue, &Msg, &MsgSize));
  ck_assert_msg(HasValue, "lookup of %s failed: %.*s", Name, (int)MsgSize, Msg);
  ck_assert(orc_rt_SPSReader_seqCount(&Rd, 10, &Count) && Count == 1);
  ck_assert(orc_rt_SPSReader_addr(&Rd, &A) && orc_rt_SPSReader_u8(&Rd, &Flags) &&
            orc_rt_SPSReader_u8(&Rd, &TargetFlags));
  ck_assert_msg(A != 0, "%s not found", Name);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return A;
}

/* The session still serves calls: a reservation comes and goes. */
static void assert_still_serving(executor *E) {
  orc_rt_ExecutorAddr Base = reserve(E, 4096);
  ck_assert(Base != 0);
  orcrt_test_assert_sps_error(deallocate(E, Base), NULL);
}

/* "PATH\0TAG", the arguments of the marker action. */
static const char *marker_args(const char *Path, const char *Tag, size_t *Size) {
  size_t P = strlen(Path), T = strlen(Tag);
  char *Args = orcrt_test_keep(malloc(P + 1 + T));
  ck_assert_ptr_nonnull(Args);
  memcpy(Args, Path, P + 1);
  memcpy(Args + P + 1, Tag, T);
  *Size = P + 1 + T;
  return Args;
}

/* What the marker file holds ("" if missing). */
static const char *marker_text(const char *Path) {
  static char Buf[256];
  int Fd = open(Path, O_RDONLY | O_CLOEXEC);
  if (Fd < 0)
    return "";
  ssize_t N = read(Fd, Buf, sizeof(Buf) - 1);
  close(Fd);
  Buf[N > 0 ? N : 0] = '\0';
  return Buf;
}

/*
 * Reserve a page and finalize it read-only with two marker action pairs:
 * finalize writes "1" then "2", deallocation is to write "b" then "a" (run
 * in reverse order: "a" first). Returns the base.
 */
static orc_rt_ExecutorAddr finalize_with_markers(executor *E, const char *Path) {
  orc_rt_ExecutorAddr Marker = lookup(E, open_library(E, marker_library()), "orcrt_test_marker");
  action_pair Pairs[2];
  Pairs[0].FinalizeFn = Pairs[0].DeallocFn = Pairs[1].FinalizeFn = Pairs[1].DeallocFn = Marker;
  Pairs[0].FinalizeArgs = marker_args(Path, "1", &Pairs[0].FinalizeArgsSize);
  Pairs[0].DeallocArgs = marker_args(Path, "b", &Pairs[0].DeallocArgsSize);
  Pairs[1].FinalizeArgs = marker_args(Path, "2", &Pairs[1].FinalizeArgsSize);
  Pairs[1].DeallocArgs = marker_args(Path, "a", &Pairs[1].DeallocArgsSize);
  orc_rt_ExecutorAddr Base = reserve(E, 4096);
  orcrt_test_assert_sps_error(finalize(E, 0x01, Base, 4096, "data", 4, Pairs, 2), NULL);
  return Base;
}

/* ---- Setup and launch conventions ---------------------------------------- */

START_TEST(executor_setup_lists_required_bootstrap_symbols) {
  executor E;
  launch_default(&E);
  size_t N = orcrt_tc_symbol_count(E.TC);
  for (size_t I = 0; I < ORCRT_LLVM19_NUM_REQUIRED_SYMBOLS; I++) {
    orc_rt_ExecutorAddr A = 0;
    ck_assert_msg(orcrt_tc_lookup(E.TC, orcrt_llvm19_required_symbols[I], &A), "missing %s",
                  orcrt_llvm19_required_symbols[I]);
    ck_assert_msg(A != 0, "%s has address 0", orcrt_llvm19_required_symbols[I]);
  }
  for (size_t I = 0; I < N; I++)
    for (size_t J = I + 1; J < N; J++)
      ck_assert_str_ne(orcrt_tc_symbol_name(E.TC, I), orcrt_tc_symbol_name(E.TC, J));
  finish_without_calls(&E);
}
END_TEST

START_TEST(executor_setup_names_host_triple_and_page_size) {
  executor E;
  launch_default(&E);
  ck_assert_str_eq(orcrt_tc_triple(E.TC), "x86_64-pc-linux-gnu");
  ck_assert_uint_eq(orcrt_tc_page_size(E.TC), (uint64_t)sysconf(_SC_PAGESIZE));
  /* The default Setup's map: the 14-16 view and its padding (setup.c). */
  ck_assert_str_eq(orcrt_tc_bootstrap_map_first_key(E.TC), "__orcrt_setup_pad");
  finish_without_calls(&E);
}
END_TEST

START_TEST(executor_serves_calls_with_filedescs_convention) {
  executor E;
  launch(&E, orcrt_tc_launch_filedescs, NULL);
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_serves_calls_with_bare_descriptor_convention) {
  executor E;
  launch(&E, orcrt_tc_launch_bare_fds, NULL);
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_ignores_words_after_descriptors) {
  char *const Extra[] = {"test-jitloadergdb", "--threads=bogus", "7", NULL};
  executor E;
  launch(&E, orcrt_tc_launch_bare_fds, Extra);
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_exits_zero_at_eof_on_frame_boundary) {
  executor E;
  launch_default(&E);
  orcrt_tc_close_write(E.TC);
  /* It closes its out-fd once it is done... */
  ck_assert_msg(orcrt_tc_wait_eof(E.TC) == 0, "%s", orcrt_tc_error(E.TC));
  /* ...and exits 0, with only the note that no call came. */
  finish_without_calls(&E);
}
END_TEST

START_TEST(executor_exits_zero_on_hangup) {
  static const char Failure[] = {1, 3, 0, 0, 0, 0, 0, 0, 0, 'b', 'y', 'e'};
  executor E;
  launch_default(&E);
  ck_assert_int_eq(orcrt_tc_send_frame(E.TC, ORCRT_TC_OP_HANGUP, 0, 0, Failure, sizeof(Failure)),
                   0);
  ck_assert_msg(orcrt_tc_wait_eof(E.TC) == 0, "%s", orcrt_tc_error(E.TC));
  finish_without_calls(&E);
}
END_TEST

/* ---- the command line ---------------------------------------------------- */

/* Run orcrt-executor with Args (and Env added) without a controller. */
static void run_executor(const char *const *Args, const char *const *Env,
                         orcrt_test_spawn_result *R) {
  const char *Argv[16];
  size_t N = 0;
  Argv[N++] = orcrt_test_executor_path();
  for (; *Args; Args++)
    Argv[N++] = *Args;
  Argv[N] = NULL;
  ck_assert_msg(orcrt_test_spawn(Argv, Env, EXIT_TIMEOUT_MS / 1000.0, R) == 0, "cannot run %s",
                Argv[0]);
  ck_assert_msg(!R->TimedOut, "orcrt-executor did not exit");
}

/* Expect a usage error: status 1, nothing on stdout, the message and the
   hint on stderr. */
static void expect_usage_error(const char *const *Args, const char *const *Env,
                               const char *Message) {
  orcrt_test_spawn_result R;
  run_executor(Args, Env, &R);
  ck_assert_int_eq(R.Status, 1);
  ck_assert_uint_eq(R.OutSize, 0);
  ck_assert_str_eq(
      R.Err, orcrt_test_format("orcrt-executor: %s\nTry 'orcrt-executor --help'.\n", Message));
  orcrt_test_spawn_result_free(&R);
}

START_TEST(executor_help_describes_options_and_exits_zero) {
  static const char *const Words[] = {
      "filedescs=IN,OUT", "IN OUT",    "--threads=N",   "--memory=STRATEGY", "--log-level=LEVEL",
      "--help",           "--version", "ORCRT_THREADS", "ORCRT_MEMORY",      "ORCRT_LOG",
      "Exit status:",     "mprotect",  "--llvm=N",      "ORCRT_LLVM",        "clang-repl-22"};
  const char *Args[] = {"--help", NULL};
  orcrt_test_spawn_result R;
  run_executor(Args, NULL, &R);
  ck_assert_int_eq(R.Status, 0);
  ck_assert_uint_eq(R.ErrSize, 0);
  for (size_t I = 0; I < sizeof(Words) / sizeof(Words[0]); I++)
    ck_assert_msg(strstr(R.Out, Words[I]), "--help does not mention %s", Words[I]);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(executor_version_names_package_version) {
  const char *Args[] = {"-V", NULL};
  orcrt_test_spawn_result R;
  run_executor(Args, NULL, &R);
  ck_assert_int_eq(R.Status, 0);
  ck_assert_str_eq(R.Out, "orcrt-executor (" PACKAGE_NAME ") " PACKAGE_VERSION "\n");
  ck_assert_uint_eq(R.ErrSize, 0);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(executor_without_descriptors_is_usage_error) {
  const char *Args[] = {NULL};
  expect_usage_error(Args, NULL, "no descriptors given (expected filedescs=IN,OUT or IN OUT)");
}
END_TEST

START_TEST(executor_unknown_option_is_usage_error) {
  const char *Args[] = {"--bogus", "0", "1", NULL};
  expect_usage_error(Args, NULL, "unknown option '--bogus'");
}
END_TEST

START_TEST(executor_bad_option_values_are_usage_errors) {
  const char *Threads[] = {"--threads=0", "0", "1", NULL};
  expect_usage_error(Threads, NULL, "invalid thread count '0' (expected 1 to 1024)");
  const char *Memory[] = {"-m", "shm", "0", "1", NULL};
  expect_usage_error(Memory, NULL, "invalid memory strategy 'shm' (expected memfd or mprotect)");
  const char *Log[] = {"--log-level=loud", "0", "1", NULL};
  expect_usage_error(Log, NULL,
                     "invalid log level 'loud' (expected error, warning, info or debug)");
  const char *Missing[] = {"--threads", NULL};
  expect_usage_error(Missing, NULL, "option '--threads' needs an argument");
  const char *LLVM[] = {"--llvm=17", "0", "1", NULL};
  expect_usage_error(LLVM, NULL, "invalid LLVM release '17' (expected 14, 15, 16, 19, 22 or auto)");
}
END_TEST

START_TEST(executor_bad_environment_values_are_usage_errors) {
  const char *Args[] = {"0", "1", NULL};
  const char *Threads[] = {"ORCRT_THREADS=many", NULL};
  expect_usage_error(Args, Threads, "invalid ORCRT_THREADS 'many' (expected 1 to 1024)");
  const char *Memory[] = {"ORCRT_MEMORY=heap", NULL};
  expect_usage_error(Args, Memory, "invalid ORCRT_MEMORY 'heap' (expected memfd or mprotect)");
  const char *Log[] = {"ORCRT_LOG=chatty", NULL};
  expect_usage_error(Args, Log,
                     "invalid ORCRT_LOG 'chatty' (expected error, warning, info or debug)");
  const char *LLVM[] = {"ORCRT_LLVM=19.1", NULL};
  expect_usage_error(Args, LLVM, "invalid ORCRT_LLVM '19.1' (expected 14, 15, 16, 19, 22 or auto)");
}
END_TEST

/*
 * With descriptors 0 (an empty pipe: end of file at once) and 1 (a pipe the
 * test reads), the executor starts, sends its Setup to stdout, sees end of
 * file and exits 0.
 */
START_TEST(executor_command_line_wins_over_environment) {
  const char *Env[] = {"ORCRT_THREADS=many", "ORCRT_MEMORY=heap", "ORCRT_LOG=chatty",
                       "ORCRT_LLVM=18", NULL};
  const char *Args[] = {"-j", "2", "--memory=mprotect", "-l", "error", "--llvm=auto", "0",
                        "1",  NULL};
  orcrt_test_spawn_result R;
  run_executor(Args, Env, &R);
  ck_assert_msg(R.Status == 0, "status %d, stderr: %s", R.Status, R.Err);
  ck_assert_uint_ge(R.OutSize, ORCRT_TC_HEADER_SIZE);
  ck_assert_int_eq(R.Out[8], ORCRT_TC_OP_SETUP);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(executor_rejects_descriptor_that_is_not_open) {
  const char *Args[] = {"filedescs=57,58", NULL};
  expect_usage_error(Args, NULL, "descriptor 57 is not open");
}
END_TEST

START_TEST(executor_rejects_descriptor_open_the_wrong_way) {
  /* 1 is the write end of a pipe, 0 the read end of another. */
  const char *In[] = {"1", "2", NULL};
  expect_usage_error(In, NULL, "descriptor 1 is not open for reading");
  const char *Out[] = {"0", "0", NULL};
  expect_usage_error(Out, NULL, "descriptor 0 is not open for writing");
}
END_TEST

START_TEST(executor_rejects_malformed_descriptor_words) {
  const char *One[] = {"filedescs=3", NULL};
  expect_usage_error(One, NULL, "invalid descriptors 'filedescs=3' (expected filedescs=IN,OUT)");
  const char *Three[] = {"filedescs=3,4,5", NULL};
  expect_usage_error(Three, NULL,
                     "invalid descriptors 'filedescs=3,4,5' (expected filedescs=IN,OUT)");
  const char *Words[] = {"three", "four", NULL};
  expect_usage_error(Words, NULL,
                     "invalid descriptors 'three' (expected filedescs=IN,OUT or IN OUT)");
  const char *Single[] = {"3", NULL};
  expect_usage_error(Single, NULL, "invalid descriptors '3' (expected filedescs=IN,OUT or IN OUT)");
}
END_TEST

/* Whether the mapping holding Base in Pid's address space is a memfd.
   (Anonymous neighbours with the same protection merge into one line.) */
static bool mapping_is_memfd(pid_t Pid, orc_rt_ExecutorAddr Base) {
  FILE *F = fopen(orcrt_test_format("/proc/%d/maps", (int)Pid), "re");
  ck_assert_ptr_nonnull(F);
  char Line[512];
  bool Found = false, Memfd = false;
  while (!Found && fgets(Line, sizeof(Line), F)) {
    unsigned long long Start, End;
    if (sscanf(Line, "%llx-%llx", &Start, &End) == 2 && Start <= Base && Base < End) {
      Found = true;
      Memfd = strstr(Line, "/memfd:") != NULL;
    }
  }
  fclose(F);
  ck_assert_msg(Found, "no mapping holds %#llx", (unsigned long long)Base);
  return Memfd;
}

START_TEST(executor_memory_strategy_defaults_to_memfd) {
  executor E;
  launch_default(&E);
  orc_rt_ExecutorAddr Base = reserve(&E, 65536);
  ck_assert(mapping_is_memfd(orcrt_tc_pid(E.TC), Base));
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_memory_strategy_mprotect_from_environment) {
  ck_assert_int_eq(setenv("ORCRT_MEMORY", "mprotect", 1), 0);
  executor E;
  launch_default(&E);
  orc_rt_ExecutorAddr Base = reserve(&E, 65536);
  ck_assert(!mapping_is_memfd(orcrt_tc_pid(E.TC), Base));
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_log_level_from_environment_reaches_stderr) {
  ck_assert_int_eq(setenv("ORCRT_LOG", "debug", 1), 0);
  executor E;
  launch_default(&E);
  assert_still_serving(&E);
  orcrt_tc_close(E.TC);
  ck_assert_int_eq(wait_exit(&E), 0);
  const char *Err = stderr_text(&E);
  close(E.ErrFd);
  ck_assert_msg(strstr(Err, "orcrt-executor: debug: "), "no debug lines: %s", Err);
}
END_TEST

/* ---- the trace of the session in the log --------------------------------- */

/* The line of Text holding Substr (fails the test if none); kept until the test ends. */
static const char *line_with(const char *Text, const char *Substr) {
  const char *At = strstr(Text, Substr);
  ck_assert_msg(At, "no line with \"%s\" on stderr:\n%s", Substr, Text);
  while (At > Text && At[-1] != '\n')
    At--;
  return orcrt_test_keep(strndup(At, strcspn(At, "\n")));
}

/* Line (from line_with()) starts with Prefix and ends in a duration. */
static void ck_assert_timed_line(const char *Line, const char *Prefix) {
  ck_assert_msg(strncmp(Line, Prefix, strlen(Prefix)) == 0, "\"%s\" does not start with \"%s\"",
                Line, Prefix);
  orcrt_test_assert_ends_in_duration(Line, strlen(Line));
}

START_TEST(executor_debug_log_traces_each_call_by_name_and_ends_with_a_summary) {
  ck_assert_int_eq(setenv("ORCRT_LOG", "debug", 1), 0);
  executor E;
  launch_default(&E);
  orc_rt_ExecutorAddr Base = reserve(&E, 16384);
  orcrt_test_assert_sps_error(finalize(&E, 0x01, Base, 8192, "data", 4, NULL, 0), NULL);
  orc_rt_ExecutorAddr Self = open_library(&E, "");
  ck_assert(lookup(&E, Self, "printf") != 0);
  orcrt_test_assert_expected_failure(lookup_raw(&E, Self, "orcrt_no_such_symbol"),
                                     "Missing definition for orcrt_no_such_symbol");
  /* An entry point called by address, with a range nothing is mapped at. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addrRange(&W, (orc_rt_ExecutorAddrRange){0x1000, 0x1010});
  orc_rt_WrapperFunctionBuffer R = call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W);
  ck_assert_uint_eq(R.Size > 1 ? orc_rt_WrapperFunctionBuffer_constData(&R)[0] : 0, 1);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  orcrt_tc_close(E.TC);
  ck_assert_int_eq(wait_exit(&E), 0);
  const char *Err = stderr_text(&E);
  close(E.ErrFd);

  /* One line a call, by the wrapper's name, with what it was asked and answered, and its time. */
  ck_assert_timed_line(line_with(Err, " reserve 16 KiB → 0x"), "orcrt-executor: debug: #0 reserve");
  ck_assert_timed_line(
      line_with(Err, orcrt_test_format(" finalize 1 segment 8 KiB at 0x%llx → ok ",
                                       (unsigned long long)Base)),
      "orcrt-executor: debug: #1 finalize");
  ck_assert_timed_line(line_with(Err, " open (the executor) → 0x"), "orcrt-executor: debug: #2 open");
  ck_assert_timed_line(line_with(Err, " lookup 1 name (printf) → 1 found "),
                       "orcrt-executor: debug: #3 lookup");
  /* The error answered to the controller, with its message, at warning. */
  ck_assert_timed_line(line_with(Err, " lookup 1 name (orcrt_no_such_symbol) → error: Missing "
                                      "definition for orcrt_no_such_symbol "),
                       "orcrt-executor: warning: #4 lookup");
  /* Called by address: named by its symbol, its arguments and result decoded. */
  ck_assert_timed_line(line_with(Err, " call llvm_orc_registerEHFrameSectionWrapper 0x1000, 16 B → "
                                      "error: "),
                       "orcrt-executor: warning: #5 call");
  /* At the end, the counts. */
  const char *Session = line_with(Err, "summary: session ");
  const char *Counts = strstr(Session, ", 6 calls from the controller, 0 to it");
  ck_assert_msg(Counts, "no call counts: %s", Session);
  orcrt_test_assert_ends_in_duration(Session, (size_t)(Counts - Session)); /* the session's time */
  ck_assert_timed_line(line_with(Err, "summary: from the controller: "),
                       "orcrt-executor: debug: summary: from the controller: 6 calls, 2 errors, ");
  ck_assert_timed_line(line_with(Err, "summary: lookup: "),
                       "orcrt-executor: debug: summary: lookup: 2 calls, 1 error, ");
  ck_assert_timed_line(line_with(Err, "summary: finalize: "),
                       "orcrt-executor: debug: summary: finalize: 1 call, 0 errors, ");
  ck_assert_timed_line(
      line_with(Err, "summary: llvm_orc_registerEHFrameSectionWrapper: "),
      "orcrt-executor: debug: summary: llvm_orc_registerEHFrameSectionWrapper: 1 call, 1 error, ");
  /* No more hex frame lines. */
  ck_assert_msg(!strstr(Err, "tag=0x"), "a frame logged in hex:\n%s", Err);
}
END_TEST

START_TEST(executor_warning_log_holds_only_the_errors_answered_to_the_controller) {
  ck_assert_int_eq(setenv("ORCRT_LOG", "warning", 1), 0);
  executor E;
  launch_default(&E);
  orcrt_test_assert_sps_error(deallocate(&E, 0x7f0000001000),
                              "No allocation entry found for 0x7f0000001000");
  assert_still_serving(&E);
  orcrt_tc_close(E.TC);
  ck_assert_int_eq(wait_exit(&E), 0);
  const char *Err = stderr_text(&E);
  close(E.ErrFd);
  ck_assert_str_eq(Err, "orcrt-executor: warning: #0 deallocate → error: No allocation entry "
                        "found for 0x7f0000001000\n");
}
END_TEST

/* ---- malformed frames: exit 1 with one line on stderr ------------------ */

START_TEST(executor_exits_one_on_frame_smaller_than_header) {
  executor E;
  launch_default(&E);
  ck_assert_int_eq(orcrt_tc_send_header(E.TC, 16, ORCRT_TC_OP_CALL_WRAPPER, 0, 0), 0);
  finish_with_protocol_error(&E, "frame size 16 below header size 32");
}
END_TEST

START_TEST(executor_exits_one_on_frame_over_size_limit) {
  executor E;
  launch_default(&E);
  ck_assert_int_eq(orcrt_tc_send_header(E.TC, (uint64_t)1 << 40, ORCRT_TC_OP_CALL_WRAPPER, 0, 0),
                   0);
  finish_with_protocol_error(&E, "frame size 1099511627776 above the maximum");
}
END_TEST

START_TEST(executor_exits_one_on_unknown_opcode) {
  executor E;
  launch_default(&E);
  ck_assert_int_eq(orcrt_tc_send_frame(E.TC, 4, 0, 0, NULL, 0), 0);
  finish_with_protocol_error(&E, "opcode");
}
END_TEST

START_TEST(executor_exits_one_on_setup_from_controller) {
  executor E;
  launch_default(&E);
  ck_assert_int_eq(orcrt_tc_send_frame(E.TC, ORCRT_TC_OP_SETUP, 0, 0, NULL, 0), 0);
  finish_with_protocol_error(&E, "Setup");
}
END_TEST

START_TEST(executor_exits_one_on_result_for_no_pending_call) {
  executor E;
  launch_default(&E);
  ck_assert_int_eq(orcrt_tc_send_frame(E.TC, ORCRT_TC_OP_RESULT, 77, 0, "\0", 1), 0);
  finish_with_protocol_error(&E, "77");
}
END_TEST

START_TEST(executor_exits_one_on_eof_inside_header) {
  executor E;
  launch_default(&E);
  ck_assert_int_eq(orcrt_tc_write_raw(E.TC, "\x30\0\0\0\0\0\0\0\3\0", 10), 0);
  orcrt_tc_close_write(E.TC);
  finish_with_protocol_error(&E, "end of file");
}
END_TEST

START_TEST(executor_exits_one_on_eof_inside_payload) {
  char Payload[40] = {0};
  executor E;
  launch_default(&E);
  ck_assert_int_eq(orcrt_tc_send_header(E.TC, ORCRT_TC_HEADER_SIZE + 100, ORCRT_TC_OP_CALL_WRAPPER,
                                        0, sym(&E, orcrt_llvm19_required_symbols[9])),
                   0);
  ck_assert_int_eq(orcrt_tc_write_raw(E.TC, Payload, sizeof(Payload)), 0);
  orcrt_tc_close_write(E.TC);
  finish_with_protocol_error(&E, "end of file");
}
END_TEST

/* ---- malformed calls: answered with an error, the session goes on ------- */

START_TEST(executor_answers_undecodable_arguments_with_empty_result) {
  executor E;
  launch_default(&E);
  orc_rt_WrapperFunctionBuffer R;
  ck_assert_int_eq(orcrt_tc_call(E.TC,
                                 sym(&E, "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper"),
                                 "\1\2\3", 3, &R),
                   0);
  /* LLVM 19 has no wire form for an out-of-band error: an empty payload. */
  ck_assert_uint_eq(R.Size, 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_refuses_reserve_of_2_pow_60) {
  executor E;
  launch_default(&E);
  orc_rt_WrapperFunctionBuffer R = reserve_raw(&E, (uint64_t)1 << 60);
  orcrt_test_assert_expected_failure(R, "Could not reserve");
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_refuses_finalize_outside_every_reservation) {
  executor E;
  launch_default(&E);
  orc_rt_ExecutorAddr Base = reserve(&E, 4096);
  /* Just past the reservation, and far from anything. */
  orcrt_test_assert_sps_error(finalize(&E, 0x03, Base + 4096, 16, "x", 1, NULL, 0),
               "Attempt to finalize unrecognized allocation");
  orcrt_test_assert_sps_error(finalize(&E, 0x03, 0x1000, 16, "x", 1, NULL, 0),
               "Attempt to finalize unrecognized allocation 0x1000");
  orcrt_test_assert_sps_error(deallocate(&E, Base), NULL);
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_refuses_content_larger_than_segment) {
  char Content[64];
  memset(Content, 0xab, sizeof(Content));
  executor E;
  launch_default(&E);
  orc_rt_ExecutorAddr Base = reserve(&E, 4096);
  orcrt_test_assert_sps_error(finalize(&E, 0x03, Base, 16, Content, sizeof(Content), NULL, 0),
               "exceeds segment size");
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_refuses_unknown_dylib_handle) {
  executor E;
  launch_default(&E);
  orcrt_test_assert_expected_failure(lookup_raw(&E, 0x12345678, "printf"), "Unknown dylib handle 0x12345678");
  /* A handle the executor did issue still works. */
  ck_assert(lookup(&E, open_library(&E, ""), "printf") != 0);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_refuses_deallocate_of_unknown_allocation) {
  executor E;
  launch_default(&E);
  orcrt_test_assert_sps_error(deallocate(&E, 0x7f0000001000), "No allocation entry found for 0x7f0000001000");
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_refuses_double_deallocate) {
  executor E;
  launch_default(&E);
  orc_rt_ExecutorAddr Base = reserve(&E, 8192);
  orcrt_test_assert_sps_error(finalize(&E, 0x01, Base, 4096, "abc", 3, NULL, 0), NULL);
  orcrt_test_assert_sps_error(deallocate(&E, Base), NULL);
  orcrt_test_assert_sps_error(deallocate(&E, Base), "No allocation entry found for");
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_refuses_call_to_address_outside_jit_code) {
  executor E;
  launch_default(&E);
  orc_rt_ExecutorAddr Base = reserve(&E, 4096);
  orcrt_test_assert_sps_error(finalize(&E, 0x03, Base, 4096, "\xc3", 1, NULL, 0), NULL);
  /* Neither an arbitrary address nor writable data is called. */
  orc_rt_WrapperFunctionBuffer R;
  ck_assert_int_eq(orcrt_tc_call(E.TC, 0x1000, "", 0, &R), 0);
  ck_assert_uint_eq(R.Size, 0);
  ck_assert_int_eq(orcrt_tc_call(E.TC, Base, "", 0, &R), 0);
  ck_assert_uint_eq(R.Size, 0);
  assert_still_serving(&E);
  finish_in_order(&E);
}
END_TEST

/* ---- allocation actions at the end --------------------------------------- */

START_TEST(executor_runs_deallocation_actions_at_eof_in_reverse_order) {
  const char *Path = orcrt_test_scratch_file("trace");
  executor E;
  launch_default(&E);
  finalize_with_markers(&E, Path);
  ck_assert_str_eq(marker_text(Path), "12");
  orcrt_tc_close_write(E.TC);
  /* The controller waits for the out-fd to close; by then the actions ran. */
  ck_assert_msg(orcrt_tc_wait_eof(E.TC) == 0, "%s", orcrt_tc_error(E.TC));
  ck_assert_str_eq(marker_text(Path), "12ab");
  finish_in_order(&E);
}
END_TEST

START_TEST(executor_runs_deallocation_actions_once_on_deallocate) {
  const char *Path = orcrt_test_scratch_file("trace");
  executor E;
  launch_default(&E);
  orc_rt_ExecutorAddr Base = finalize_with_markers(&E, Path);
  orcrt_test_assert_sps_error(deallocate(&E, Base), NULL);
  ck_assert_str_eq(marker_text(Path), "12ab");
  finish_in_order(&E);
  ck_assert_str_eq(marker_text(Path), "12ab");
}
END_TEST

/* ---- a controller that goes away ----------------------------------------- */

START_TEST(executor_exits_promptly_when_controller_vanishes_mid_frame) {
  executor E;
  launch_default(&E);
  ck_assert_int_eq(orcrt_tc_send_header(E.TC, ORCRT_TC_HEADER_SIZE + 16, ORCRT_TC_OP_CALL_WRAPPER,
                                        0, sym(&E, orcrt_llvm19_required_symbols[9])),
                   0);
  ck_assert_int_eq(orcrt_tc_write_raw(E.TC, "12345678", 8), 0);
  orcrt_tc_close(E.TC);
  finish_with_protocol_error(&E, "end of file");
}
END_TEST

START_TEST(executor_exits_promptly_when_controller_vanishes_with_calls_in_flight) {
  const char *Path = orcrt_test_scratch_file("trace");
  executor E;
  launch_default(&E);
  finalize_with_markers(&E, Path);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(&E, "__llvm_orc_SimpleExecutorMemoryManager_Instance"));
  orc_rt_SPSWriter_u64(&W, 1 << 20);
  ck_assert(!orc_rt_SPSWriter_failed(&W));
  for (int I = 0; I < 64; I++)
    ck_assert_int_eq(orcrt_tc_send_call(E.TC,
                                        sym(&E, "__llvm_orc_SimpleExecutorMemoryManager_"
                                                "reserve_wrapper"),
                                        orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W), NULL),
                     0);
  orc_rt_SPSWriter_dispose(&W);
  /* Gone without reading a single answer. */
  orcrt_tc_close(E.TC);
  finish_in_order(&E);
  ck_assert_str_eq(marker_text(Path), "12ab");
}
END_TEST

/*
 * Start orcrt-executor ("R W") as the child of a middle process that plays
 * the controller's part of parent, while the test holds the pipe ends. The
 * middle process exits when the test writes to *Go. The test process is made
 * a subreaper, so the orphaned executor becomes its child.
 */
static void launch_orphanable(executor *E, int *Go, pid_t *Middle, pid_t *Exec) {
  int ToExec[2], FromExec[2], GoPipe[2], PidPipe[2];
  ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  ck_assert_int_eq(pipe2(ToExec, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(FromExec, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(GoPipe, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(PidPipe, O_CLOEXEC), 0);
  const char *Exe = orcrt_test_executor_path();
  char *R = orcrt_test_format("%d", ToExec[0]), *W = orcrt_test_format("%d", FromExec[1]);
  char *const Argv[] = {(char *)Exe, R, W, NULL};
  E->ErrFd = memfd_create("executor-stderr", MFD_CLOEXEC);
  ck_assert_int_ge(E->ErrFd, 0);

  pid_t M = fork();
  ck_assert_int_ge(M, 0);
  if (M == 0) {
    /* The middle process: only async-signal-safe calls. */
    pid_t X = fork();
    if (X == 0) {
      dup2(E->ErrFd, 2);
      fcntl(ToExec[0], F_SETFD, 0);
      fcntl(FromExec[1], F_SETFD, 0);
      execv(Exe, Argv);
      _exit(127);
    }
    ssize_t Ignored = write(PidPipe[1], &X, sizeof(X));
    char Byte;
    Ignored = read(GoPipe[0], &Byte, 1);
    (void)Ignored;
    _exit(0);
  }
  close(ToExec[0]);
  close(FromExec[1]);
  close(GoPipe[0]);
  close(PidPipe[1]);
  ck_assert_int_eq(read(PidPipe[0], Exec, sizeof(*Exec)), sizeof(*Exec));
  close(PidPipe[0]);
  ck_assert_int_gt(*Exec, 0);
  *Go = GoPipe[1];
  *Middle = M;
  ck_assert_int_eq(orcrt_tc_attach_fds(FromExec[0], ToExec[1], &E->TC), 0);
  orcrt_tc_set_timeout(E->TC, EXIT_TIMEOUT_MS);
  ck_assert_msg(orcrt_tc_read_setup(E->TC) == 0, "no Setup: %s", orcrt_tc_error(E->TC));
}

/* Let the middle process exit and reap it. */
static void end_middle(int Go, pid_t Middle) {
  ck_assert_int_eq(write(Go, "x", 1), 1);
  close(Go);
  ck_assert_int_eq(orcrt_test_wait_pid(Middle, EXIT_TIMEOUT_MS / 1000.0), 0);
}

START_TEST(executor_dies_with_controller_that_leaves_pipes_open) {
  executor E;
  int Go;
  pid_t Middle, Exec;
  launch_orphanable(&E, &Go, &Middle, &Exec);
  assert_still_serving(&E);
  /* The parent dies while the test still holds both pipe ends open: no end
     of file will ever come, so the executor must go by itself. */
  end_middle(Go, Middle);
  int Status = orcrt_test_wait_pid(Exec, EXIT_TIMEOUT_MS / 1000.0);
  if (Status < 0)
    kill(Exec, SIGKILL), orcrt_test_wait_pid(Exec, 60);
  ck_assert_msg(Status == 128 + SIGKILL, "executor ended with %d, not SIGKILL", Status);
  orcrt_tc_destroy(E.TC);
  close(E.ErrFd);
}
END_TEST

START_TEST(executor_finishes_in_order_when_controller_exits_after_closing) {
  const char *Path = orcrt_test_scratch_file("trace");
  executor E;
  int Go;
  pid_t Middle, Exec;
  launch_orphanable(&E, &Go, &Middle, &Exec);
  finalize_with_markers(&E, Path);
  /* As lli-19 does: close the pipes, then exit at once without waiting. */
  orcrt_tc_close(E.TC);
  end_middle(Go, Middle);
  int Status = orcrt_test_wait_pid(Exec, EXIT_TIMEOUT_MS / 1000.0);
  if (Status < 0)
    kill(Exec, SIGKILL), orcrt_test_wait_pid(Exec, 60);
  ck_assert_msg(Status == 0, "executor ended with %d", Status);
  ck_assert_str_eq(marker_text(Path), "12ab");
  orcrt_tc_destroy(E.TC);
  close(E.ErrFd);
}
END_TEST

/* ---- LLVM releases --------------------------------------------------------- */

/*
 * Look "printf" up in the executor's own handle through the lookup wrapper
 * at Lookup; returns the whole result, which holds one entry.
 */
static orc_rt_WrapperFunctionBuffer lookup_printf_at(executor *E, orc_rt_ExecutorAddr Lookup) {
  orc_rt_ExecutorAddr H = open_library(E, "");
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_addr(&W, H);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_string(&W, "printf");
  orc_rt_SPSWriter_bool(&W, true);
  orc_rt_WrapperFunctionBuffer R;
  ck_assert_int_eq(
      orcrt_tc_call(E->TC, Lookup, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W), &R), 0);
  orc_rt_SPSWriter_dispose(&W);
  return R;
}

/* A lookup result of one entry: Expected's tag, the count, then the entry of EntrySize. */
static void assert_printf_entry(orc_rt_WrapperFunctionBuffer R, size_t EntrySize) {
  const unsigned char *P = (const unsigned char *)orc_rt_WrapperFunctionBuffer_data(&R);
  ck_assert_uint_eq(R.Size, 1 + 8 + EntrySize);
  ck_assert_uint_eq(P[0], 1);
  uint64_t Addr = 0;
  memcpy(&Addr, P + 9, 8);
  /* Another process, the same libc: printf at the same offset in its page. */
  ck_assert_uint_ne(Addr, 0);
  ck_assert_uint_eq(Addr & 0xfff, (uint64_t)(uintptr_t)printf & 0xfff);
  if (EntrySize == 10)
    ck_assert_uint_eq(P[17], 0x10); /* Exported */
  orc_rt_WrapperFunctionBuffer_dispose(&R);
}

/*
 * End E in order at log level info: the log must say the controller speaks
 * Wire's wire, and not Other's.
 */
static void finish_naming_wire(executor *E, const char *Wire, const char *Other) {
  orcrt_tc_close(E->TC);
  ck_assert_int_eq(wait_exit(E), 0);
  const char *Err = stderr_text(E);
  ck_assert_msg(strstr(Err, orcrt_test_format("info: the controller speaks %s's wire", Wire)),
                "stderr: %s", Err);
  ck_assert_msg(!strstr(Err, orcrt_test_format("%s's wire", Other)), "stderr: %s", Err);
  close(E->ErrFd);
}

/*
 * The default Setup, read as LLVM 14-16 read it: the pad first, then their
 * own symbols, whose lookup answers with bare addresses, and the first call
 * to it names the wire in the log.
 */
START_TEST(executor_default_setup_serves_llvm14_view) {
  setenv("ORCRT_LOG", "info", 1);
  executor E;
  launch_reading(&E, orcrt_tc_launch_filedescs, NULL, 3);
  ck_assert_str_eq(orcrt_tc_symbol_name(E.TC, 0), "__orcrt_setup_pad");
  orc_rt_ExecutorAddr A = 0;
  /* lli 14-16 need the EH-frame entry points under these names. */
  ck_assert(orcrt_tc_lookup(E.TC, "__llvm_orc_bootstrap_register_ehframe_section_wrapper", &A));
  ck_assert(orcrt_tc_lookup(E.TC, "__llvm_orc_bootstrap_deregister_ehframe_section_wrapper", &A));
  ck_assert(!orcrt_tc_lookup(E.TC, "llvm_orc_registerEHFrameSectionWrapper", &A));
  assert_printf_entry(
      lookup_printf_at(&E, sym(&E, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper")), 8);
  finish_naming_wire(&E, "LLVM 14-16", "LLVM 19");
}
END_TEST

/* The same Setup read as LLVM 19 reads it: another lookup, with flags. */
START_TEST(executor_default_setup_serves_llvm19_view) {
  setenv("ORCRT_LOG", "info", 1);
  executor E;
  launch_reading(&E, orcrt_tc_launch_filedescs, NULL, 3);
  orc_rt_ExecutorAddr Old = sym(&E, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper");
  finish_without_calls_logged(&E);
  launch_default(&E);
  orc_rt_ExecutorAddr New = sym(&E, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper");
  ck_assert_uint_ne(Old, New);
  orc_rt_ExecutorAddr A = 0;
  ck_assert(orcrt_tc_lookup(E.TC, "llvm_orc_registerEHFrameSectionWrapper", &A));
  ck_assert(!orcrt_tc_lookup(E.TC, "__llvm_orc_bootstrap_register_ehframe_section_wrapper", &A));
  assert_printf_entry(lookup_printf_at(&E, New), 10);
  finish_naming_wire(&E, "LLVM 19", "LLVM 14-16");
}
END_TEST

/* ORCRT_LLVM=14: LLVM 14-16's plain 3-field Setup, without the pad. */
START_TEST(executor_llvm14_setup_has_only_the_old_layout) {
  setenv("ORCRT_LLVM", "14", 1);
  executor E;
  launch_reading(&E, orcrt_tc_launch_filedescs, NULL, 3);
  orc_rt_ExecutorAddr A = 0;
  ck_assert(!orcrt_tc_lookup(E.TC, "__orcrt_setup_pad", &A));
  ck_assert(orcrt_tc_lookup(E.TC, "__llvm_orc_SimpleRemoteEPC_dispatch_ctx", &A));
  assert_printf_entry(
      lookup_printf_at(&E, sym(&E, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper")), 8);
  /* Nothing follows the symbols: a 3-field reader consumed the whole payload. */
  size_t Size;
  orcrt_tc_setup_payload(E.TC, &Size);
  size_t Used = 8 + strlen(orcrt_tc_triple(E.TC)) + 8 + 8;
  for (size_t I = 0; I < orcrt_tc_symbol_count(E.TC); I++)
    Used += 8 + strlen(orcrt_tc_symbol_name(E.TC, I)) + 8;
  ck_assert_uint_eq(Size, Used);
  finish_in_order(&E);
}
END_TEST

/*
 * ORCRT_LLVM=19: the plain 4-field Setup of LLVM 19's names only; a
 * controller that reads it and leaves without a call gets the note naming
 * the option.
 */
START_TEST(executor_llvm19_setup_is_plain_and_names_the_option) {
  setenv("ORCRT_LLVM", "19", 1);
  executor E;
  launch_default(&E);
  ck_assert_uint_eq(orcrt_tc_bootstrap_map_count(E.TC), 0);
  orc_rt_ExecutorAddr A = 0;
  ck_assert(orcrt_tc_lookup(E.TC, "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper", &A));
  ck_assert(!orcrt_tc_lookup(E.TC, "__llvm_orc_bootstrap_register_ehframe_section_wrapper", &A));
  orcrt_tc_close(E.TC);
  ck_assert_int_eq(wait_exit(&E), 0);
  const char *Err = stderr_text(&E);
  orcrt_test_assert_setup_note(Err);
  ck_assert_msg(strstr(Err, "LLVM 19's"), "stderr: %s", Err);
  close(E.ErrFd);
}
END_TEST

/* --llvm=16 on the command line: the 3-field Setup (its symbol count where 19 has the map's). */
START_TEST(executor_llvm_option_chooses_the_setup) {
  const char *Args[] = {"--llvm=16", "0", "1", NULL};
  orcrt_test_spawn_result R;
  run_executor(Args, NULL, &R);
  ck_assert_int_eq(R.Status, 0);
  orcrt_test_assert_setup_note(R.Err);
  ck_assert_msg(strstr(R.Err, "LLVM 16's"), "stderr: %s", R.Err);
  ck_assert_uint_ge(R.OutSize, ORCRT_TC_HEADER_SIZE + 8);
  uint64_t TripleLen = 0, Count = 0;
  memcpy(&TripleLen, R.Out + ORCRT_TC_HEADER_SIZE, 8);
  ck_assert_uint_ge(R.OutSize, ORCRT_TC_HEADER_SIZE + 8 + TripleLen + 16);
  memcpy(&Count, R.Out + ORCRT_TC_HEADER_SIZE + 8 + TripleLen + 8, 8);
  ck_assert_uint_gt(Count, 10); /* symbols, not an empty bootstrap map */
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/*
 * LLVM 22's names: in the default Setup beside 19's (both read the 4-field
 * view), alone under ORCRT_LLVM=22.
 */
START_TEST(executor_llvm22_names_join_the_4field_view) {
  static const char *const Only22[] = {
      "__llvm_orc_SimpleExecutorDylibManager_resolve_wrapper",
      "__llvm_orc_SimpleExecutorMemoryManager_initialize_wrapper",
      "__llvm_orc_SimpleExecutorMemoryManager_deinitialize_wrapper",
      "__llvm_orc_SimpleExecutorMemoryManager_release_wrapper",
      "__llvm_orc_bootstrap_mem_read_uint8s_wrapper",
      "__llvm_orc_bootstrap_mem_read_strings_wrapper",
      "__llvm_orc_bootstrap_mem_write_pointers_wrapper",
      "llvm_orc_registerEHFrameAllocAction",
      "llvm_orc_deregisterEHFrameAllocAction",
      "llvm_orc_registerJITLoaderGDBAllocAction"};
  static const char *const Only19[] = {"__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper",
                                       "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper",
                                       "llvm_orc_registerEHFrameSectionWrapper"};
  for (int Plain = 0; Plain <= 1; Plain++) {
    if (Plain)
      setenv("ORCRT_LLVM", "22", 1);
    executor E;
    launch_default(&E);
    orc_rt_ExecutorAddr A = 0;
    for (size_t I = 0; I < sizeof(Only22) / sizeof(Only22[0]); I++)
      ck_assert_msg(orcrt_tc_lookup(E.TC, Only22[I], &A), "no %s", Only22[I]);
    for (size_t I = 0; I < sizeof(Only19) / sizeof(Only19[0]); I++)
      ck_assert_msg(orcrt_tc_lookup(E.TC, Only19[I], &A) == !Plain, "%s", Only19[I]);
    ck_assert_uint_eq(orcrt_tc_bootstrap_map_count(E.TC) == 0, Plain);
    finish_without_calls(&E);
  }
}
END_TEST

static void add(Suite *S, const char *Name, const TTest *Test) {
  TCase *TC = orcrt_test_case(S, Name, 30);
  tcase_add_unchecked_fixture(TC, orcrt_test_scratch_setup, orcrt_test_scratch_teardown);
  tcase_add_checked_fixture(TC, orcrt_test_unset_executor_settings, orcrt_test_free_kept);
  tcase_add_test(TC, Test);
}

Suite *orcrt_suite_executor(void) {
  Suite *S = suite_create("executor");
  add(S, "setup_symbols", executor_setup_lists_required_bootstrap_symbols);
  add(S, "setup_triple", executor_setup_names_host_triple_and_page_size);
  add(S, "launch_filedescs", executor_serves_calls_with_filedescs_convention);
  add(S, "launch_bare", executor_serves_calls_with_bare_descriptor_convention);
  add(S, "launch_extra_words", executor_ignores_words_after_descriptors);
  add(S, "eof_exit_zero", executor_exits_zero_at_eof_on_frame_boundary);
  add(S, "hangup_exit_zero", executor_exits_zero_on_hangup);
  add(S, "help", executor_help_describes_options_and_exits_zero);
  add(S, "version", executor_version_names_package_version);
  add(S, "usage_no_descriptors", executor_without_descriptors_is_usage_error);
  add(S, "usage_unknown_option", executor_unknown_option_is_usage_error);
  add(S, "usage_bad_values", executor_bad_option_values_are_usage_errors);
  add(S, "usage_bad_environment", executor_bad_environment_values_are_usage_errors);
  add(S, "command_line_wins", executor_command_line_wins_over_environment);
  add(S, "fd_not_open", executor_rejects_descriptor_that_is_not_open);
  add(S, "fd_wrong_way", executor_rejects_descriptor_open_the_wrong_way);
  add(S, "fd_malformed", executor_rejects_malformed_descriptor_words);
  add(S, "memory_memfd", executor_memory_strategy_defaults_to_memfd);
  add(S, "memory_mprotect", executor_memory_strategy_mprotect_from_environment);
  add(S, "log_debug", executor_log_level_from_environment_reaches_stderr);
  add(S, "log_trace", executor_debug_log_traces_each_call_by_name_and_ends_with_a_summary);
  add(S, "log_errors", executor_warning_log_holds_only_the_errors_answered_to_the_controller);
  add(S, "frame_too_small", executor_exits_one_on_frame_smaller_than_header);
  add(S, "frame_too_large", executor_exits_one_on_frame_over_size_limit);
  add(S, "frame_opcode", executor_exits_one_on_unknown_opcode);
  add(S, "frame_setup", executor_exits_one_on_setup_from_controller);
  add(S, "frame_result", executor_exits_one_on_result_for_no_pending_call);
  add(S, "frame_eof_header", executor_exits_one_on_eof_inside_header);
  add(S, "frame_eof_payload", executor_exits_one_on_eof_inside_payload);
  add(S, "call_undecodable", executor_answers_undecodable_arguments_with_empty_result);
  add(S, "call_huge_reserve", executor_refuses_reserve_of_2_pow_60);
  add(S, "call_outside_reservation", executor_refuses_finalize_outside_every_reservation);
  add(S, "call_content_too_large", executor_refuses_content_larger_than_segment);
  add(S, "call_unknown_handle", executor_refuses_unknown_dylib_handle);
  add(S, "call_unknown_allocation", executor_refuses_deallocate_of_unknown_allocation);
  add(S, "call_double_deallocate", executor_refuses_double_deallocate);
  add(S, "call_bad_target", executor_refuses_call_to_address_outside_jit_code);
  add(S, "dealloc_at_eof", executor_runs_deallocation_actions_at_eof_in_reverse_order);
  add(S, "dealloc_once", executor_runs_deallocation_actions_once_on_deallocate);
  add(S, "vanish_mid_frame", executor_exits_promptly_when_controller_vanishes_mid_frame);
  add(S, "vanish_in_flight", executor_exits_promptly_when_controller_vanishes_with_calls_in_flight);
  add(S, "parent_dies_pipes_open", executor_dies_with_controller_that_leaves_pipes_open);
  add(S, "parent_exits_after_close",
      executor_finishes_in_order_when_controller_exits_after_closing);
  add(S, "wire_default_llvm14", executor_default_setup_serves_llvm14_view);
  add(S, "wire_default_llvm19", executor_default_setup_serves_llvm19_view);
  add(S, "wire_llvm14", executor_llvm14_setup_has_only_the_old_layout);
  add(S, "wire_llvm19", executor_llvm19_setup_is_plain_and_names_the_option);
  add(S, "wire_option", executor_llvm_option_chooses_the_setup);
  add(S, "wire_llvm22", executor_llvm22_names_join_the_4field_view);
  return S;
}

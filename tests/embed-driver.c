/*
 * embed-driver.c - drive the embedding example with the test controller
 *
 *   embed-driver EXECUTOR
 *
 * EXECUTOR is contrib/examples/embed/embed-executor built against the
 * installed liborcrt (tests/embed-check.sh does that in make installcheck).
 * The driver launches it the way llvm-jitlink-19 does and checks from the
 * outside that it is a complete executor with a Service and a wrapper
 * function of its own: LLVM's bootstrap symbols and its own in the Setup,
 * answers of its wrapper that depend on state its Service keeps, its symbol
 * for JIT'd code in the dylib Service, and the Service's report at shutdown
 * on stderr. Prints TAP; exits 1 if a test failed.
 */
#include "config.h"

#include "controller.h"
#include "llvm19-symbols.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <orcrt/sps.h>

static const char Seeded[] = "hello from the embedding executor";
static const char Report[] = "kv: shut down with 2 key(s) after 4 put(s)";

static int Tests, Failures;

static void result(bool Ok, const char *Fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(bool Ok, const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  printf("%s %d - ", Ok ? "ok" : "not ok", ++Tests);
  vprintf(Fmt, Ap);
  putchar('\n');
  va_end(Ap);
  Failures += !Ok;
  fflush(stdout);
}

static void diag(const char *Fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  fputs("# ", stdout);
  vprintf(Fmt, Ap);
  putchar('\n');
  va_end(Ap);
}

static void bail_out(orcrt_tc *TC, const char *What) {
  printf("Bail out! %s: %s\n", What, TC ? orcrt_tc_error(TC) : "no controller");
  exit(1);
}

/* An SPS (String, String) argument buffer. */
static orc_rt_WrapperFunctionBuffer two_strings(const char *A, const char *B) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_string(&W, A);
  orc_rt_SPSWriter_string(&W, B);
  return orc_rt_SPSWriter_finish(&W);
}

/*
 * Call Fn with Args (consumed) and decode an SPS Expected<String> into Out
 * (malloc()ed; the error message if *HasValue is false). Returns false if
 * the call fails or the result does not decode.
 */
static bool call_expected_string(orcrt_tc *TC, orc_rt_ExecutorAddr Fn,
                                 orc_rt_WrapperFunctionBuffer Args, bool *HasValue, char **Out) {
  orc_rt_WrapperFunctionBuffer Res;
  orc_rt_SPSReader R;
  const char *Msg;
  size_t MsgSize;
  bool Ok;

  if (orcrt_tc_call(TC, Fn, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size, &Res) < 0)
    bail_out(TC, "a call failed");
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Res), Res.Size);
  Ok = orc_rt_SPSReader_expected(&R, HasValue, &Msg, &MsgSize);
  if (Ok && *HasValue)
    Ok = orc_rt_SPSReader_stringDup(&R, Out);
  else if (Ok)
    Ok = (*Out = strndup(Msg, MsgSize)) != NULL;
  Ok = Ok && orc_rt_SPSReader_remaining(&R) == 0;
  orc_rt_WrapperFunctionBuffer_dispose(&Res);
  return Ok;
}

/* Store Value under Key and check the previous value the wrapper returns. */
static void check_put(orcrt_tc *TC, orc_rt_ExecutorAddr Put, const char *Key, const char *Value,
                      const char *Previous, const char *Why) {
  bool HasValue = false;
  char *Got = NULL;
  bool Ok = call_expected_string(TC, Put, two_strings(Key, Value), &HasValue, &Got);
  result(Ok && HasValue && strcmp(Got, Previous) == 0, "embed_kv_put(%s, %s) returns \"%s\": %s",
         Key, Value, Previous, Why);
  if (!(Ok && HasValue))
    diag("got %s: %s", Ok ? "an error" : "no decodable result", Got ? Got : "");
  else if (strcmp(Got, Previous) != 0)
    diag("got \"%s\"", Got);
  free(Got);
}

/* Look Name up in the process through the dylib Service, as llvm-jitlink-19 does. */
static orc_rt_ExecutorAddr lookup(orcrt_tc *TC, const char *Name) {
  orc_rt_ExecutorAddr Instance, Open, Lookup, Handle = 0, Addr = 0;
  orc_rt_WrapperFunctionBuffer Res;
  orc_rt_SPSWriter W;
  orc_rt_SPSReader R;
  bool HasValue = false;
  const char *Msg;
  size_t MsgSize;
  uint64_t Count = 0;

  if (!orcrt_tc_lookup(TC, "__llvm_orc_SimpleExecutorDylibManager_Instance", &Instance) ||
      !orcrt_tc_lookup(TC, "__llvm_orc_SimpleExecutorDylibManager_open_wrapper", &Open) ||
      !orcrt_tc_lookup(TC, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper", &Lookup))
    return 0;

  /* open: (Instance, String Path, uint64 Mode) -> Expected<ExecutorAddr> */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, Instance);
  orc_rt_SPSWriter_string(&W, "");
  orc_rt_SPSWriter_u64(&W, 0);
  orc_rt_WrapperFunctionBuffer Args = orc_rt_SPSWriter_finish(&W);
  if (orcrt_tc_call(TC, Open, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size, &Res) < 0)
    bail_out(TC, "dylib open failed");
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Res), Res.Size);
  if (!orc_rt_SPSReader_expected(&R, &HasValue, &Msg, &MsgSize) || !HasValue ||
      !orc_rt_SPSReader_addr(&R, &Handle))
    Handle = 0;
  orc_rt_WrapperFunctionBuffer_dispose(&Res);
  if (!Handle)
    return 0;

  /* lookup: (Instance, Handle, Sequence<(String, bool)>)
       -> Expected<Sequence<(ExecutorAddr, (uint8, uint8))>> */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, Instance);
  orc_rt_SPSWriter_addr(&W, Handle);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_string(&W, Name);
  orc_rt_SPSWriter_bool(&W, false);
  Args = orc_rt_SPSWriter_finish(&W);
  if (orcrt_tc_call(TC, Lookup, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size, &Res) < 0)
    bail_out(TC, "dylib lookup failed");
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Res), Res.Size);
  if (!orc_rt_SPSReader_expected(&R, &HasValue, &Msg, &MsgSize) || !HasValue ||
      !orc_rt_SPSReader_seqCount(&R, 10, &Count) || Count != 1 || !orc_rt_SPSReader_addr(&R, &Addr))
    Addr = 0;
  orc_rt_WrapperFunctionBuffer_dispose(&Res);
  return Addr;
}

int main(int argc, char **argv) {
  orcrt_tc *TC = NULL;
  orc_rt_ExecutorAddr Put = 0, Addr;
  orc_rt_WrapperFunctionBuffer Res;
  char ErrPath[] = "/tmp/orcrt-embed-stderr.XXXXXX";
  int ErrFd, Saved, Status = 0;

  if (argc != 2) {
    fprintf(stderr, "usage: %s EXECUTOR\n", argv[0]);
    return 2;
  }
  printf("1..9\n");

  /* The executor's stderr goes to a file, to read the Service's report;
     ORCRT_LOG=info lets the Session's log show it. */
  ErrFd = mkstemp(ErrPath);
  if (ErrFd < 0 || unlink(ErrPath) < 0)
    bail_out(NULL, "cannot create a file for the executor's stderr");
  setenv("ORCRT_LOG", "info", 1);
  fflush(stderr);
  Saved = dup(2);
  dup2(ErrFd, 2);
  int Launched = orcrt_tc_launch(argv[1], NULL, &TC);
  dup2(Saved, 2);
  close(Saved);
  if (Launched < 0 || orcrt_tc_read_setup(TC) < 0)
    bail_out(TC, "cannot start the executor");

  /* 1: a complete executor: what LLVM 19's controllers look for. */
  int Missing = 0;
  for (size_t I = 0; I < ORCRT_LLVM19_NUM_REQUIRED_SYMBOLS; I++)
    if (!orcrt_tc_lookup(TC, orcrt_llvm19_required_symbols[I], &Addr)) {
      diag("missing %s", orcrt_llvm19_required_symbols[I]);
      Missing++;
    }
  result(Missing == 0, "the Setup lists the bootstrap symbols LLVM 19's controllers require");

  /* 2: and its own wrapper function. */
  result(orcrt_tc_lookup(TC, "embed_kv_put_wrapper", &Put) && Put != 0,
         "the Setup lists the executor's own wrapper, embed_kv_put_wrapper");
  if (!Put)
    bail_out(TC, "no embed_kv_put_wrapper");

  /* 3, 4: answers that depend on what the Service holds. */
  check_put(TC, Put, "greeting", "hi", Seeded, "the value the executor seeded its Service with");
  check_put(TC, Put, "greeting", "bonjour", "hi", "the Service keeps state across calls");

  /* 5: a bad request gets an error in the result, and the session goes on. */
  bool HasValue = true;
  char *Msg = NULL;
  bool Ok = call_expected_string(TC, Put, two_strings("", "x"), &HasValue, &Msg);
  result(Ok && !HasValue && strstr(Msg, "empty") != NULL,
         "an empty key is answered with an Expected error");
  if (Msg)
    diag("answer: %s", Msg);
  free(Msg);

  /* 6: arguments that do not decode get an out-of-band error (an empty
     payload on the wire), as from LLVM's wrappers; the next call works. */
  if (orcrt_tc_call(TC, Put, "\x05", 1, &Res) < 0)
    bail_out(TC, "a call failed");
  result(Res.Size == 0, "arguments that do not decode are answered with an empty payload");
  orc_rt_WrapperFunctionBuffer_dispose(&Res);
  check_put(TC, Put, "other", "value", "", "a new key had no value");

  /* 8: JIT'd code finds embed_kv_get, offered through the dylib Service. */
  Addr = lookup(TC, "embed_kv_get");
  orc_rt_ExecutorAddr None = lookup(TC, "embed_kv_no_such_function");
  result(Addr != 0 && None == 0,
         "the dylib Service resolves embed_kv_get for JIT'd code, and not an unknown name");

  /* The end: the controller closes, the executor shuts down in order. */
  orcrt_tc_close(TC);
  if (orcrt_tc_wait_exit(TC, &Status) < 0)
    bail_out(TC, "the executor did not exit");
  char Err[4096];
  ssize_t N = pread(ErrFd, Err, sizeof(Err) - 1, 0);
  Err[N > 0 ? N : 0] = '\0';
  close(ErrFd);
  bool Clean = WIFEXITED(Status) && WEXITSTATUS(Status) == 0;
  bool Reported = strstr(Err, Report) != NULL;
  printf("%s %d - the executor exits 0 and its Service reports at shutdown: \"%s\"\n",
         Clean && Reported ? "ok" : "not ok", ++Tests, Report);
  Failures += !(Clean && Reported);
  if (!(Clean && Reported)) {
    diag("exit status 0x%x; stderr:", (unsigned)Status);
    for (char *Line = strtok(Err, "\n"); Line; Line = strtok(NULL, "\n"))
      diag("  %s", Line);
  }
  orcrt_tc_destroy(TC);
  return Failures ? 1 : 0;
}

/*
 * e2e-util.c - what the end-to-end suites share: compiling a program with
 * an LLVM release's clang, running it under that release's llvm-jitlink in
 * process and with -oop-executor=orcrt-executor, or under its lli with
 * lli-child-target and with orcrt-executor, and comparing the runs byte
 * for byte (e2e-util.h)
 *
 * The tools are those the environment names: ORCRT_CLANG,
 * ORCRT_LLVM_JITLINK, ORCRT_LLI and ORCRT_LLI_CHILD_TARGET.
 */
#include "config.h"

#include "e2e-util.h"
#include "run-util.h"
#include "test-util.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

double orcrt_e2e_RunTimeout = ORCRT_E2E_RUN_TIMEOUT;

const char *const orcrt_e2e_SandboxEnv[] = {"ORCRT_SANDBOX=1",
                                            ORCRT_TEST_SANITIZED ? "ORCRT_MAX_MEMORY=0" : NULL, NULL};
/* What the programs a test runs read on stdin (NULL: nothing, end of file at once). */
const char *orcrt_e2e_StdinInput;

const char *orcrt_e2e_no_leak_check(void) {
  const char *Old = orcrt_test_getenv("ASAN_OPTIONS");
  return orcrt_test_format("ASAN_OPTIONS=%s%sdetect_leaks=0", Old ? Old : "", Old ? ":" : "");
}

const char *orcrt_e2e_required_env(const char *Var) {
  const char *Path = orcrt_test_getenv(Var);
  ck_assert_msg(Path != NULL, "%s is not set (run the tests through make check)", Var);
  return Path;
}

const char *orcrt_e2e_program(const char *Name) {
  return orcrt_test_format("%s/tests/programs/%s", orcrt_e2e_required_env("ORCRT_TOP_SRCDIR"),
                           Name);
}

/* LLVM's ORC runtime for this target, where clang-19 keeps it. */
const char *orcrt_e2e_orc_runtime(void) {
  const char *Argv[] = {orcrt_e2e_required_env("ORCRT_CLANG"),
                        "-print-file-name=liborc_rt-x86_64.a", NULL};
  orcrt_test_spawn_result R;
  orcrt_e2e_run(Argv, NULL, &R);
  ck_assert_msg(R.Status == 0 && R.OutSize > 1, "clang cannot name the ORC runtime");
  const char *Path = orcrt_test_format("%.*s", (int)(R.OutSize - 1), R.Out);
  orcrt_test_spawn_result_free(&R);
  ck_assert_msg(Path[0] == '/' && access(Path, R_OK) == 0,
                "no ORC runtime at \"%s\" (install libclang-rt-19-dev)", Path);
  return Path;
}

/* Show a captured stream in a failure message (bounded). */
const char *orcrt_e2e_shown(const char *S, size_t Size) {
  return Size > 2000 ? orcrt_test_format("%.2000s... (%zu bytes)", S, Size) : S;
}

void orcrt_e2e_run(const char *const *Argv, const char *const *Env, orcrt_test_spawn_result *R) {
  ck_assert_msg(orcrt_test_spawn_input(Argv, Env, orcrt_e2e_StdinInput, orcrt_e2e_RunTimeout, R) ==
                    0,
                "cannot run %s: %m", Argv[0]);
  if (R->TimedOut) {
    /* The whole command, so that a hang says which executor it had. */
    const char *Command = Argv[0];
    for (size_t I = 1; Argv[I]; I++)
      Command = orcrt_test_format("%s %s", Command, Argv[I]);
    ck_abort_msg("%s did not finish within %.0f s; stdout:\n%s\nstderr:\n%s", Command,
                 orcrt_e2e_RunTimeout, orcrt_e2e_shown(R->Out, R->OutSize),
                 orcrt_e2e_shown(R->Err, R->ErrSize));
  }
}

/* Run a tool that must succeed (a compiler, a linker). */
void orcrt_e2e_run_ok(const char *const *Argv) {
  orcrt_test_spawn_result R;
  orcrt_e2e_run(Argv, NULL, &R);
  ck_assert_msg(R.Status == 0, "%s failed with status %d:\n%s", Argv[0], R.Status,
                orcrt_e2e_shown(R.Err, R.ErrSize));
  orcrt_test_spawn_result_free(&R);
}

/* Compile tests/programs/Src (or Src itself if absolute) into the scratch
   directory with Flags (NULL-terminated, e.g. "-c" or "-S", "-emit-llvm"). */
const char *orcrt_e2e_compile(const char *Src, const char *Out, const char *const *Flags) {
  const char *Argv[24];
  size_t N = 0;
  const char *OutPath = orcrt_test_scratch_file(Out);
  Argv[N++] = orcrt_e2e_required_env("ORCRT_CLANG");
  for (; *Flags; Flags++)
    Argv[N++] = *Flags;
  Argv[N++] = "-o";
  Argv[N++] = OutPath;
  Argv[N++] = Src[0] == '/' ? Src : orcrt_e2e_program(Src);
  Argv[N] = NULL;
  ck_assert(N < sizeof(Argv) / sizeof(Argv[0]));
  orcrt_e2e_run_ok(Argv);
  return OutPath;
}

const char *const orcrt_e2e_ObjectFlags[] = {"-c", "-O1", NULL};
const char *const orcrt_e2e_IRFlags[] = {"-S", "-emit-llvm", "-O1", NULL};

const char *orcrt_e2e_object(const char *Src, const char *Out) {
  return orcrt_e2e_compile(Src, Out, orcrt_e2e_ObjectFlags);
}

const char *orcrt_e2e_ir(const char *Src, const char *Out) {
  return orcrt_e2e_compile(Src, Out, orcrt_e2e_IRFlags);
}

/* Link objects into one relocatable object (ld -r, through the compiler
   driver): llvm-jitlink-19 out of process can orcrt_e2e_run main before another
   orcrt_e2e_object it calls is finalized (PROTOCOL-LLVM19.md, section 12). */
const char *orcrt_e2e_link_relocatable(const char *Out, const char *const *Objects) {
  const char *Argv[16];
  size_t N = 0;
  const char *OutPath = orcrt_test_scratch_file(Out);
  Argv[N++] = orcrt_e2e_required_env("ORCRT_CLANG");
  Argv[N++] = "-r";
  Argv[N++] = "-o";
  Argv[N++] = OutPath;
  for (; *Objects; Objects++)
    Argv[N++] = *Objects;
  Argv[N] = NULL;
  orcrt_e2e_run_ok(Argv);
  return OutPath;
}

const char *orcrt_e2e_shared_library(const char *Src, const char *Out) {
  static const char *const Flags[] = {"-shared", "-fPIC", "-O1", NULL};
  return orcrt_e2e_compile(Src, Out, Flags);
}

void orcrt_e2e_assert_same(const char *What, const char *RefName,
                           const orcrt_test_spawn_result *Ref, const orcrt_test_spawn_result *Got) {
  ck_assert_msg(Ref->OutSize == Got->OutSize && memcmp(Ref->Out, Got->Out, Ref->OutSize) == 0,
                "%s: stdout differs.\n--- %s:\n%s\n--- orcrt-executor:\n%s", What, RefName,
                orcrt_e2e_shown(Ref->Out, Ref->OutSize), orcrt_e2e_shown(Got->Out, Got->OutSize));
  ck_assert_msg(Ref->ErrSize == Got->ErrSize && memcmp(Ref->Err, Got->Err, Ref->ErrSize) == 0,
                "%s: stderr differs.\n--- %s:\n%s\n--- orcrt-executor:\n%s", What, RefName,
                orcrt_e2e_shown(Ref->Err, Ref->ErrSize), orcrt_e2e_shown(Got->Err, Got->ErrSize));
  ck_assert_msg(Ref->Status == Got->Status,
                "%s: exit status differs: %d with %s, %d with orcrt-executor", What, Ref->Status,
                RefName, Got->Status);
}

/*
 * llvm-jitlink's own teardown race (LLVM 14 to 22 have it). Out of process, most often with
 * -orc-runtime on a loaded machine, llvm-jitlink-19 can tear its session
 * down while its listener thread still reads from the executor: it closes
 * the descriptor under the thread's read(), which then fails with EBADF
 * instead of seeing the executor's end of file, and work still in flight
 * finds its resource tracker gone. It exits with status 1 after printing
 *   llvm-jitlink error: Resource tracker 0x55d4... became defunct
 * or
 *   llvm-jitlink-19: Bad file descriptor
 * or, when the race comes after main has returned (seen with LLVM 15's
 * controller and the ORC runtime), with main's status, all of the output,
 * and the first of those lines;
 * or, when the session goes under a link still applying its lookup
 * results, it crashes (status 139) with LLVM's crash banner and a stack in
 * llvm::jitlink::JITLinkerBase::applyLookupResult. It does so whatever
 * the executor: with LLVM's own llvm-jitlink-executor, 4 runs in 240 of
 * tls-var.c with -orc-runtime, six at once on two CPUs (one of them the
 * crash), and orcrt-executor about as often. Such a run says nothing about
 * the executor, so orcrt_e2e_jitlink_both() runs the whole command again,
 * RACE_ATTEMPTS times at most, and only after a run that reports one of
 * those and is otherwise exactly what the race leaves: the controller's
 * status (1, 139 with the crash, or main's with all of main's output), the reference's stdout and
 * stderr cut short (the race may come before main or after it), and after them only the
 * controller's own lines ("llvm-jitlink error: ...", "ARGV0: ..." where ARGV0 is how it was
 * started; with the crash, the banner and the stack's frames). Anything else fails at once: any
 * other difference, another crash, a plain "disconnecting" (which an executor that crashes shows
 * too). Every attempt is printed on stderr, and the last one must match the reference exactly.
 */
#define RACE_ATTEMPTS 3

static bool orcrt_e2e_starts_with(const char *S, size_t Len, const char *Prefix) {
  size_t N = strlen(Prefix);
  return Len >= N && memcmp(S, Prefix, N) == 0;
}

static bool orcrt_e2e_ends_with(const char *S, size_t Len, const char *Suffix) {
  size_t N = strlen(Suffix);
  return Len >= N && memcmp(S + Len - N, Suffix, N) == 0;
}

/* Whether R is a run of llvm-jitlink-19 that its teardown race ended, as described above,
   given the reference orcrt_e2e_run Ref; Controller is the orcrt_e2e_program's argv[0], which
   starts its own error lines. */
bool orcrt_e2e_controller_raced(const char *Controller, const orcrt_test_spawn_result *Ref,
                                const orcrt_test_spawn_result *R) {
  const char *Own = orcrt_test_format("%s: ", Controller);
  const char *Ebadf = orcrt_test_format("%sBad file descriptor", Own);
  /* After main: the program's own status, with all of its output. */
  bool AfterMain = R->Status == Ref->Status && R->OutSize == Ref->OutSize;
  if ((R->Status != 1 && R->Status != 128 + 11 && !AfterMain) || R->OutSize > Ref->OutSize ||
      memcmp(R->Out, Ref->Out, R->OutSize) != 0)
    return false;
  /* The whole lines R's stderr shares with the reference's. */
  size_t Start = 0;
  for (size_t I = 0; I < R->ErrSize && I < Ref->ErrSize && R->Err[I] == Ref->Err[I]; I++)
    if (R->Err[I] == '\n' || I + 1 == Ref->ErrSize)
      Start = I + 1;
  bool Reported = false, Defunct = false, Crashed = false, InLinker = false;
  for (const char *Line = R->Err + Start; *Line;) {
    const char *End = strchr(Line, '\n');
    size_t Len = End ? (size_t)(End - Line) : strlen(Line);
    if (orcrt_e2e_starts_with(Line, Len, "llvm-jitlink error: Resource tracker 0x") &&
        orcrt_e2e_ends_with(Line, Len, " became defunct"))
      Reported = Defunct = true;
    else if (Len == strlen(Ebadf) && orcrt_e2e_starts_with(Line, Len, Ebadf))
      Reported = true;
    else if (orcrt_e2e_starts_with(Line, Len,
                                   "PLEASE submit a bug report to https://github.com/llvm/"))
      Crashed = true;
    else if (Crashed && Len > 4 && Line[0] == ' ' && Line[1] == '#' && Line[2] >= '0' &&
             Line[2] <= '9') {
      /* a frame of the controller's stack */
      static const char Apply[] = "llvm::jitlink::JITLinkerBase::applyLookupResult(";
      if (memmem(Line, Len, Apply, sizeof(Apply) - 1))
        InLinker = true;
    } else if (Crashed && Len > 4 && Line[0] == '#' && Line[1] >= '0' && Line[1] <= '9')
      ; /* frames from #10 on */
    else if (!orcrt_e2e_starts_with(Line, Len, "llvm-jitlink error: ") &&
             !orcrt_e2e_starts_with(Line, Len, Own))
      return false; /* not the controller's own error line */
    Line += Len + (End ? 1 : 0);
  }
  if (R->Status == 1)
    return Reported && !Crashed;
  if (R->Status == 128 + 11)
    return Crashed && InLinker;
  return Defunct && !Crashed;
}

/*
 * Run llvm-jitlink-19 with Args out of process through orcrt-executor and
 * then in process (Env added to the environment of both), assert that the
 * runs agree, and leave the reference run in *Ref (the caller frees it).
 * An out-of-process run that llvm-jitlink-19's teardown race ended is run
 * again (see RACE_ATTEMPTS).
 */
void orcrt_e2e_jitlink_both(const char *const *Args, const char *const *Env,
                            orcrt_test_spawn_result *Ref) {
  const char *Argv[32];
  size_t N = 0;
  Argv[N++] = orcrt_e2e_required_env("ORCRT_LLVM_JITLINK");
  Argv[N++] = orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path());
  for (; *Args; Args++)
    Argv[N++] = *Args;
  Argv[N] = NULL;
  ck_assert(N < sizeof(Argv) / sizeof(Argv[0]));
  /* The same command without -oop-executor. */
  const char *InProcess[32];
  InProcess[0] = Argv[0];
  memcpy(InProcess + 1, Argv + 2, (N - 1) * sizeof(Argv[0]));

  orcrt_test_spawn_result Got;
  orcrt_e2e_run(Argv, Env, &Got);
  orcrt_e2e_run(InProcess, Env, Ref);
  const char *What = "llvm-jitlink";
  for (size_t I = 2; I < N; I++)
    What = orcrt_test_format("%s %s", What, Argv[I]);
  for (int Attempt = 1; Attempt < RACE_ATTEMPTS && orcrt_e2e_controller_raced(Argv[0], Ref, &Got);
       Attempt++) {
    fprintf(stderr, "e2e: %s: the controller's teardown race (attempt %d):\n%s", What, Attempt,
            orcrt_e2e_shown(Got.Err, Got.ErrSize));
    orcrt_test_spawn_result_free(&Got);
    orcrt_e2e_run(Argv, Env, &Got);
  }
  orcrt_e2e_assert_same(What, "in process", Ref, &Got);
  orcrt_test_spawn_result_free(&Got);
}

/*
 * Run the IR file Ll with lli-19 -remote-mcjit, once with LLVM's
 * lli-child-target and once with orcrt-executor, and compare as above.
 */
void orcrt_e2e_lli_both(const char *Ll, const char *const *Env, orcrt_test_spawn_result *Ref) {
  const char *Argv[] = {orcrt_e2e_required_env("ORCRT_LLI"),
                        "-jit-kind=mcjit",
                        "-remote-mcjit",
                        orcrt_test_format("-mcjit-remote-process=%s",
                                          orcrt_e2e_required_env("ORCRT_LLI_CHILD_TARGET")),
                        Ll,
                        NULL};
  orcrt_test_spawn_result Got;
  orcrt_e2e_run(Argv, Env, Ref);
  Argv[3] = orcrt_test_format("-mcjit-remote-process=%s", orcrt_test_executor_path());
  orcrt_e2e_run(Argv, Env, &Got);
  orcrt_e2e_assert_same(orcrt_test_format("lli %s", Ll), "lli-child-target", Ref, &Got);
  orcrt_test_spawn_result_free(&Got);
}

void orcrt_e2e_assert_outcome(const orcrt_test_spawn_result *R, int Status, const char *OutSubstr,
                              const char *ErrSubstr) {
  ck_assert_msg(R->Status == Status, "expected exit status %d, got %d; stderr:\n%s", Status,
                R->Status, orcrt_e2e_shown(R->Err, R->ErrSize));
  if (OutSubstr)
    ck_assert_msg(strstr(R->Out, OutSubstr), "stdout lacks \"%s\":\n%s", OutSubstr,
                  orcrt_e2e_shown(R->Out, R->OutSize));
  if (ErrSubstr)
    ck_assert_msg(strstr(R->Err, ErrSubstr), "stderr lacks \"%s\":\n%s", ErrSubstr,
                  orcrt_e2e_shown(R->Err, R->ErrSize));
}

/* Compile Src, run it both ways under llvm-jitlink with Extra arguments
   after the orcrt_e2e_object, and check the reference outcome. */
void orcrt_e2e_jitlink_program(const char *Src, const char *const *Extra, const char *const *Env,
                               int Status, const char *OutSubstr, const char *ErrSubstr) {
  const char *Args[16];
  size_t N = 0;
  Args[N++] = orcrt_e2e_object(Src, "prog.o");
  for (; Extra && *Extra; Extra++)
    Args[N++] = *Extra;
  Args[N] = NULL;
  orcrt_test_spawn_result Ref;
  orcrt_e2e_jitlink_both(Args, Env, &Ref);
  orcrt_e2e_assert_outcome(&Ref, Status, OutSubstr, ErrSubstr);
  orcrt_test_spawn_result_free(&Ref);
}

void orcrt_e2e_lli_program(const char *Src, int Status, const char *OutSubstr) {
  orcrt_test_spawn_result Ref;
  orcrt_e2e_lli_both(orcrt_e2e_ir(Src, "prog.ll"), NULL, &Ref);
  orcrt_e2e_assert_outcome(&Ref, Status, OutSubstr,
                           "remote mcjit does not support lazy compilation\n");
  orcrt_test_spawn_result_free(&Ref);
}

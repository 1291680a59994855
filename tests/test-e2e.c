/*
 * test-e2e.c - orcrt-executor driven by LLVM 19's own controllers
 *
 * Each program of tests/programs/ is compiled by the test with clang-19 into
 * a temporary directory under the build tree and run twice, and the two runs
 * must agree byte for byte on stdout, stderr and the exit status:
 *  - llvm-jitlink-19 in process, against llvm-jitlink-19
 *    -oop-executor=orcrt-executor;
 *  - lli-19 -remote-mcjit with LLVM's own lli-child-target, against the same
 *    with orcrt-executor.
 * The reference run is also checked against what the program is known to
 * print, so that two runs broken the same way do not pass.
 *
 * The tools come from configure (ORCRT_CLANG, ORCRT_LLVM_JITLINK, ORCRT_LLI,
 * ORCRT_LLI_CHILD_TARGET); without them the suite has no tests. The SQLite
 * test runs only when configure was given --with-sqlite-src (ORCRT_SQLITE_SRC).
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

/*
 * How long one compile or one JIT run may take before it counts as hung and
 * is killed: less than the test case's own timeout, so that the test kills
 * what it started rather than Check killing the test and leaving them.
 */
#define CASE_TIMEOUT 60.0
#define SQLITE_RUN_TIMEOUT 500.0
#define SQLITE_CASE_TIMEOUT 600.0

/* orcrt_e2e_controller_raced() takes exactly what the race leaves, and nothing else. */
START_TEST(e2e_race_filter_takes_only_the_controllers_race) {
  static char RefOut[] = "line 1\nline 2\n", RefErr[] = "warning\n";
  const orcrt_test_spawn_result Ref = {0, false, RefOut, strlen(RefOut), RefErr, strlen(RefErr)};
  static const struct {
    int Status;
    const char *Out, *Err;
    bool Raced;
  } Cases[] = {
      {1, "line 1\n", "warning\nllvm-jitlink error: disconnecting\n"
                      "llvm-jitlink error: Resource tracker 0x7fc1a001ea10 became defunct\n"
                      "llvm-jitlink-19: Bad file descriptor\n", true},
      {1, "", "llvm-jitlink-19: Bad file descriptor\n", true},
      {1, RefOut, "warning\nllvm-jitlink error: Resource tracker 0x1 became defunct\n", true},
      /* a plain disconnect: an executor that crashed looks the same */
      {1, "", "llvm-jitlink error: disconnecting\nllvm-jitlink-19: disconnecting\n", false},
      {0, RefOut, "warning\nllvm-jitlink-19: Bad file descriptor\n", false},
      /* after main returned: its status and all its output, then the tracker's report */
      {0, RefOut, "warning\nllvm-jitlink error: Resource tracker 0x1 became defunct\n", true},
      {0, "line 1\n", "warning\nllvm-jitlink error: Resource tracker 0x1 became defunct\n", false},
      {3, RefOut, "warning\nllvm-jitlink error: Resource tracker 0x1 became defunct\n", false},
      {1, "line 1\nother\n", "llvm-jitlink-19: Bad file descriptor\n", false},
      {1, RefOut, "warning\norcrt-executor: crashed\nllvm-jitlink-19: Bad file descriptor\n", false},
      {1, RefOut, "warn\nllvm-jitlink-19: Bad file descriptor\n", false},
      {1, RefOut, "warning\nllvm-jitlink-19: Bad file descriptor, and more\n", false},
      {139, "", "llvm-jitlink error: disconnecting\n"
                "PLEASE submit a bug report to https://github.com/llvm/llvm-project/issues/ and "
                "include the crash backtrace.\n"
                " #0 0x00007f6281eb73c6 llvm::sys::PrintStackTrace(llvm::raw_ostream&, int)\n"
                " #6 0x00007f6283b43f9b llvm::jitlink::JITLinkerBase::applyLookupResult(llvm::"
                "DenseMap<...>) (/lib/x86_64-linux-gnu/libLLVM.so.19.1+0x2b43f9b)\n"
                "#10 0x00007f6283c5385e (/lib/x86_64-linux-gnu/libLLVM.so.19.1+0x2c5385e)\n",
       true},
      /* a crash elsewhere, a crash with status 1, a banner and nothing else */
      {139, "", "PLEASE submit a bug report to https://github.com/llvm/llvm-project/issues/\n"
                " #0 0x00007f6281eb73c6 llvm::sys::PrintStackTrace(llvm::raw_ostream&, int)\n",
       false},
      {1, "", "PLEASE submit a bug report to https://github.com/llvm/llvm-project/issues/\n"
              " #6 0x1 llvm::jitlink::JITLinkerBase::applyLookupResult(x)\n", false},
      {139, "", "llvm-jitlink-19: Bad file descriptor\n", false},
  };
  for (size_t I = 0; I < sizeof(Cases) / sizeof(Cases[0]); I++) {
    orcrt_test_spawn_result R = {Cases[I].Status,      false,
                                 (char *)Cases[I].Out, strlen(Cases[I].Out),
                                 (char *)Cases[I].Err, strlen(Cases[I].Err)};
    ck_assert_msg(orcrt_e2e_controller_raced("llvm-jitlink-19", &Ref, &R) == Cases[I].Raced,
                  "case %zu: %s", I,
                  Cases[I].Raced ? "not taken for the race" : "taken for the race");
  }
}
END_TEST

/* ---- llvm-jitlink-19 ----------------------------------------------------- */

START_TEST(e2e_jitlink_runs_the_bundled_example) {
  const char *Example =
      orcrt_test_format("%s/contrib/examples/hello.c", orcrt_e2e_required_env("ORCRT_TOP_SRCDIR"));
  const char *Extra[] = {"-args", "orcrt", "two words", NULL};
  orcrt_e2e_jitlink_program(Example, Extra, NULL, 42, "Hello, orcrt!", NULL);
}
END_TEST

START_TEST(e2e_jitlink_passes_arguments_and_negative_status) {
  const char *Extra[] = {"-args", "-3", "hello", "two words", "", NULL};
  orcrt_e2e_jitlink_program("args.c", Extra, NULL, 253, "argv[2]=\"two words\"\nargv[3]=\"\"\n",
                            NULL);
}
END_TEST

START_TEST(e2e_jitlink_runs_main_without_arguments) {
  orcrt_e2e_jitlink_program("args.c", NULL, NULL, 0, "argc=0\nargv[argc] is NULL\n", NULL);
}
END_TEST

START_TEST(e2e_jitlink_zero_fills_bss_and_copies_data) {
  orcrt_e2e_jitlink_program("bigdata.c", NULL, NULL, 0, "0 non-zero pages", NULL);
}
END_TEST

START_TEST(e2e_jitlink_resolves_libm) {
  orcrt_e2e_jitlink_program("mathlib.c", NULL, NULL, 0, "sqrt 2.000000000", NULL);
}
END_TEST

START_TEST(e2e_jitlink_runs_threads) {
  orcrt_e2e_jitlink_program("threads.c", NULL, NULL, 0, "8 threads, total 1799986, joined 280",
                            NULL);
}
END_TEST

START_TEST(e2e_jitlink_binds_weak_undefined_to_null) {
  orcrt_e2e_jitlink_program("weak.c", NULL, NULL, 5, "weak function is null\nweak data is null\n",
                            NULL);
}
END_TEST

START_TEST(e2e_jitlink_throws_and_catches_cxx_exceptions) {
  orcrt_e2e_jitlink_program("exceptions.cpp", NULL, NULL, 12,
                            "std::exception: runtime error at 3\n"
                            "level3(4)\nCustom 4: custom at 4\n",
                            NULL);
}
END_TEST

START_TEST(e2e_jitlink_runs_cxx_exceptions_with_mprotect_memory) {
  const char *Env[] = {"ORCRT_MEMORY=mprotect", NULL};
  orcrt_e2e_jitlink_program("exceptions.cpp", NULL, Env, 12, "out_of_range from std::vector::at\n",
                            NULL);
}
END_TEST

START_TEST(e2e_jitlink_runs_big_data_with_mprotect_memory) {
  const char *Env[] = {"ORCRT_MEMORY=mprotect", NULL};
  orcrt_e2e_jitlink_program("bigdata.c", NULL, Env, 0, "0 out of place", NULL);
}
END_TEST

START_TEST(e2e_jitlink_runs_object_with_debug_info) {
  static const char *const Flags[] = {"-c", "-O1", "-g", NULL};
  const char *Args[] = {orcrt_e2e_compile("debuginfo.c", "debuginfo.o", Flags), NULL};
  orcrt_test_spawn_result Ref;
  orcrt_e2e_jitlink_both(Args, NULL, &Ref);
  orcrt_e2e_assert_outcome(&Ref, 11, "distance 11\n", NULL);
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

START_TEST(e2e_jitlink_links_without_running_under_noexec) {
  const char *Args[] = {"-noexec", orcrt_e2e_object("args.c", "args.o"), NULL};
  orcrt_test_spawn_result Ref;
  orcrt_e2e_jitlink_both(Args, NULL, &Ref);
  orcrt_e2e_assert_outcome(&Ref, 0, NULL, NULL);
  ck_assert_uint_eq(Ref.OutSize, 0);
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

START_TEST(e2e_jitlink_preloads_a_shared_library) {
  const char *Lib = orcrt_e2e_shared_library("preload-lib.c", "libpreload.so");
  const char *Extra[] = {orcrt_test_format("--preload=%s", Lib), NULL};
  orcrt_e2e_jitlink_program("preload-main.c", Extra, NULL, 41, "answer 41\n", NULL);
}
END_TEST

START_TEST(e2e_jitlink_forwards_stderr_and_status) {
  orcrt_e2e_jitlink_program("stderr.c", NULL, NULL, 3, "to stdout 1\nto stdout 2, no newline",
                            "to stderr 1\nto stderr 2: 42 words 3.25\n");
}
END_TEST

START_TEST(e2e_jitlink_fails_on_undefined_function) {
  orcrt_e2e_jitlink_program("undefined.c", NULL, NULL, 1, NULL,
                            "Symbols not found: [ no_such_function_xyz ]");
}
END_TEST

START_TEST(e2e_jitlink_runs_objects_linked_with_ld_r) {
  const char *Objects[] = {orcrt_e2e_object("multi-main.c", "multi-main.o"),
                           orcrt_e2e_object("multi-util.c", "multi-util.o"), NULL};
  const char *Args[] = {orcrt_e2e_link_relocatable("multi.o", Objects), NULL};
  orcrt_test_spawn_result Ref;
  orcrt_e2e_jitlink_both(Args, NULL, &Ref);
  orcrt_e2e_assert_outcome(&Ref, 0, "from the other object: fib(20) = 6765", NULL);
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

START_TEST(e2e_jitlink_runs_sqlite) {
  /* Compiling the amalgamation takes a while. */
  orcrt_e2e_RunTimeout = SQLITE_RUN_TIMEOUT;
  const char *Src = orcrt_e2e_required_env("ORCRT_SQLITE_SRC");
  const char *Include = orcrt_test_format("-I%s", Src);
  const char *DriverFlags[] = {"-c", "-O1", Include, NULL};
  const char *Objects[] = {
      orcrt_e2e_compile("sqlite-driver.c", "driver.o", DriverFlags),
      orcrt_e2e_compile(orcrt_test_format("%s/sqlite3.c", Src), "sqlite3.o", orcrt_e2e_ObjectFlags),
      NULL};
  const char *Args[] = {orcrt_e2e_link_relocatable("sqlite.o", Objects), NULL};
  /* Then again with the executor sandboxed (orcrt-executor(1), SANDBOX): unchanged. */
  const char *const *Envs[] = {NULL, orcrt_e2e_SandboxEnv};
  for (size_t I = 0; I < sizeof(Envs) / sizeof(Envs[0]); I++) {
    orcrt_test_spawn_result Ref;
    orcrt_e2e_jitlink_both(Args, Envs[I], &Ref);
    orcrt_e2e_assert_outcome(
        &Ref, 0, "count(*)=20000 sum(value)=99995000.0 sum(tag)=59997 max(id)=20000\n", NULL);
    orcrt_test_spawn_result_free(&Ref);
  }
}
END_TEST

START_TEST(e2e_jitlink_runs_thread_data_destructors_of_jit_code) {
  orcrt_e2e_jitlink_program("tls-key.c", NULL, NULL, 3, "value 42 set\n", NULL);
}
END_TEST

START_TEST(e2e_jitlink_runs_thread_locals_with_the_orc_runtime) {
  /* The ORC runtime never frees its state: an executor built with AddressSanitizer would
     report the JIT'd orcrt_e2e_program's allocations as leaks at exit. */
  const char *Old = orcrt_test_getenv("ASAN_OPTIONS");
  const char *Env[] = {
      orcrt_test_format("ASAN_OPTIONS=%s%sdetect_leaks=0", Old ? Old : "", Old ? ":" : ""), NULL};
  const char *PicFlags[] = {"-c", "-O1", "-fPIC", NULL};
  const char *Args[] = {orcrt_e2e_compile("tls-var.c", "prog.o", PicFlags),
                        orcrt_test_format("-orc-runtime=%s", orcrt_e2e_orc_runtime()), NULL};
  orcrt_test_spawn_result Ref;
  orcrt_e2e_jitlink_both(Args, Env, &Ref);
  orcrt_e2e_assert_outcome(&Ref, 7, "tls! counter 7\n", NULL);
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

START_TEST(e2e_jitlink_runs_a_sigsegv_handler_of_jit_code) {
  orcrt_e2e_jitlink_program("segv-handler.c", NULL, NULL, 11, "recovered from signal 11\n",
                            "handler ran once\n");
}
END_TEST

START_TEST(e2e_jitlink_delivers_a_raised_signal_to_jit_code) {
  orcrt_e2e_jitlink_program("raise.c", NULL, NULL, 0, "handler saw signal 10\n", NULL);
}
END_TEST

/*
 * C++ iostreams. Without the ORC runtime nothing runs the object's own
 * std::ios_base::Init, and on GCC 12 libstdc++ does not construct std::cout
 * itself: the executor must (dylib.c), as llvm-jitlink's in-process run
 * has them from its own C++. With the ORC runtime the object's Init runs
 * too, beside the executor's.
 *
 * Not under lli-19 -remote-mcjit: there LLVM's own lli-child-target crashes
 * on every program that uses std::cout (a call to address 0 from the JIT'd
 * code; in process, lli-19's MCJIT crashes too), so there is no reference
 * behaviour to compare with.
 */

/* A C++ program of tests/programs/, what it reads and what it must do. */
struct cxx_case {
  const char *Src, *Stdin;
  int Status;
  const char *Out, *Err;
};

static const struct cxx_case IostreamCases[] = {
    {"iostream.cpp", NULL, 3, "Hello from std::cout\n42 3.14 ff\nlast words, no newline",
     "to std::cerr 7\nto std::clog\n"},
    {"iostream-cin.cpp", "  a title, with spaces  \n1 2 3\n\n40 -6\n", 5,
     "title: [  a title, with spaces  ]\n5 numbers, sum 40, at end of file\n", ""},
    {"iostream-sstream.cpp", NULL, 3,
     "formatted: pi=3.25, n=17, s=xxx\nparsed: alpha+beta+gamma total 42\n"
     "round trip: 42 words (5 chars)\n",
     "stderr via std::cerr: 3 names\n"},
};

/*
 * Each of the N Cases under llvm-jitlink both ways, with the ORC runtime if
 * OrcRuntime, and Extra (if not NULL) before the object; Var (if not NULL)
 * in the environment too.
 */
static void jitlink_cxx_cases(const struct cxx_case *Cases, size_t N, bool OrcRuntime,
                              const char *Extra, const char *Var) {
  /* The ORC runtime never frees its state (see the thread-locals test). */
  const char *Env[] = {orcrt_e2e_no_leak_check(), Var, NULL};
  const char *PicFlags[] = {"-c", "-O1", "-fPIC", NULL};
  for (size_t I = 0; I < N; I++) {
    const struct cxx_case *C = &Cases[I];
    const char *Args[4], **A = Args;
    if (Extra)
      *A++ = Extra;
    *A++ = orcrt_e2e_compile(C->Src, "prog.o", PicFlags);
    if (OrcRuntime)
      *A++ = orcrt_test_format("-orc-runtime=%s", orcrt_e2e_orc_runtime());
    *A = NULL;
    orcrt_test_spawn_result Ref;
    orcrt_e2e_StdinInput = C->Stdin;
    orcrt_e2e_jitlink_both(Args, Env, &Ref);
    ck_assert_msg(Ref.Status == C->Status, "%s: exit status %d, not %d", C->Src, Ref.Status,
                  C->Status);
    ck_assert_msg(strcmp(Ref.Out, C->Out) == 0, "%s: stdout is not \"%s\":\n%s", C->Src, C->Out,
                  orcrt_e2e_shown(Ref.Out, Ref.OutSize));
    ck_assert_msg(strcmp(Ref.Err, C->Err) == 0, "%s: stderr is not \"%s\":\n%s", C->Src, C->Err,
                  orcrt_e2e_shown(Ref.Err, Ref.ErrSize));
    orcrt_test_spawn_result_free(&Ref);
  }
}

static void jitlink_iostream_cases(bool OrcRuntime) {
  jitlink_cxx_cases(IostreamCases, sizeof(IostreamCases) / sizeof(IostreamCases[0]), OrcRuntime,
                    NULL, NULL);
}

START_TEST(e2e_jitlink_runs_cxx_iostream_programs) {
  jitlink_iostream_cases(false);
}
END_TEST

START_TEST(e2e_jitlink_runs_cxx_iostream_programs_with_the_orc_runtime) {
  jitlink_iostream_cases(true);
}
END_TEST

/*
 * C++ exceptions with the ORC runtime, which registers each object's
 * .eh_frame itself. LLVM 19's controller has it do so before the finalize
 * that copies the section out of process: the executor resolves the
 * runtime's libunwind entry points to a registrar that waits for the
 * content (eh-frame.c). The runs log warnings too: none may appear.
 */
static const struct cxx_case OrcRuntimeThrowCases[] = {
    {"exceptions.cpp", NULL, 12,
     "level3(0)\nstd::exception: runtime error at 0\nlevel3(1)\nCustom 1: custom at 1\n"
     "level3(2)\nlevel2 caught int 2 with guard 2\nsomething else\n"
     "level3(3)\nstd::exception: runtime error at 3\nlevel3(4)\nCustom 4: custom at 4\n"
     "level3(5)\nlevel2 caught int 5 with guard 5\nsomething else\n"
     "out_of_range from std::vector::at\nsum 12\n",
     ""},
    {"exceptions-static-init.cpp", NULL, 3,
     "leaving parse\nstatic Config(\"42\"): value 42\n"
     "leaving parse\nstatic Config(\"forty-two\"): value -1, caught not a number: \"forty-two\"\n"
     "leaving parse\nmain caught not a number: \"x\"\nleaving parse\nparsed 7\n"
     "leaving parse\nmain caught not a number: \"\"\n"
     "leaving parse\nmain caught out_of_range from std::stoi\n"
     "good 42, bad -1, caught 3, unwound 6\n",
     ""},
};
#define NUM_ORC_RUNTIME_THROW_CASES (sizeof(OrcRuntimeThrowCases) / sizeof(OrcRuntimeThrowCases[0]))

START_TEST(e2e_jitlink_throws_and_catches_cxx_exceptions_with_the_orc_runtime) {
  jitlink_cxx_cases(OrcRuntimeThrowCases, NUM_ORC_RUNTIME_THROW_CASES, true, NULL,
                    "ORCRT_LOG=warning");
}
END_TEST

START_TEST(e2e_jitlink_throws_with_the_orc_runtime_in_mprotect_and_shared_memory) {
  jitlink_cxx_cases(OrcRuntimeThrowCases, NUM_ORC_RUNTIME_THROW_CASES, true, NULL,
                    "ORCRT_MEMORY=mprotect");
  jitlink_cxx_cases(OrcRuntimeThrowCases, NUM_ORC_RUNTIME_THROW_CASES, true, "-use-shared-memory",
                    "ORCRT_LOG=warning");
}
END_TEST

/* Programs that throw nothing run with the ORC runtime as before: C, and C++ around main. */
static const struct cxx_case OrcRuntimeQuietCases[] = {
    {"mathlib.c", NULL, 0,
     "sin 0.479425539\ncos 0.877582562\npow 0.105112052\nsqrt 2.000000000\n"
     "exp 1.648721271\nlog -0.693147181\natan2 0.244978663\n",
     ""},
    {"statics.cpp", NULL, 2,
     "constructor(101) runs first\nplain constructor sees 7\n"
     "constructing first = 1\nconstructing second = 2\nfirst -> 1\nsecond -> 2\n"
     "function-local static destroyed\nexit handler two\nexit handler one\n"
     "destroying second (table has 2)\ndestroying first (table has 2)\n",
     "argc 0, 2 entries, sum 3\n"},
};

START_TEST(e2e_jitlink_runs_programs_without_throws_with_the_orc_runtime_quietly) {
  jitlink_cxx_cases(OrcRuntimeQuietCases,
                    sizeof(OrcRuntimeQuietCases) / sizeof(OrcRuntimeQuietCases[0]), true, NULL,
                    "ORCRT_LOG=warning");
}
END_TEST

/*
 * Crash reports (orc_rt_CrashReport_install(3)): run Object under
 * llvm-jitlink-19 with orcrt-executor started by a shell script that
 * records the executor's own exit status, as a shell sees it (128 + the
 * signal: it dies of the signal), without a core dump. No reference run:
 * in process, llvm-jitlink crashes with its own stack dump.
 */
static void jitlink_crash(const char *Object, orcrt_test_spawn_result *R) {
  const char *Script = orcrt_test_scratch_file("executor.sh");
  const char *StatusFile = orcrt_test_scratch_file("executor-status");
  FILE *F = fopen(Script, "w");
  ck_assert_msg(F != NULL, "cannot write %s: %m", Script);
  fprintf(F, "#!/bin/sh\nulimit -c 0\n'%s' \"$@\"\necho $? > '%s'\n", orcrt_test_executor_path(),
          StatusFile);
  ck_assert_int_eq(fclose(F), 0);
  ck_assert_int_eq(chmod(Script, 0755), 0);
  const char *Argv[] = {orcrt_e2e_required_env("ORCRT_LLVM_JITLINK"),
                        orcrt_test_format("-oop-executor=%s", Script), Object, NULL};
  orcrt_e2e_run(Argv, NULL, R);
  ck_assert_msg(R->Status != 0, "llvm-jitlink did not fail; stderr:\n%s",
                orcrt_e2e_shown(R->Err, R->ErrSize));
  F = fopen(StatusFile, "r");
  ck_assert_msg(F != NULL, "the executor's status was not recorded; stderr:\n%s",
                orcrt_e2e_shown(R->Err, R->ErrSize));
  int Status = -1;
  ck_assert_int_eq(fscanf(F, "%d", &Status), 1);
  fclose(F);
  ck_assert_msg(Status == 128 + SIGSEGV, "the executor ended with %d, not by SIGSEGV; stderr:\n%s",
                Status, orcrt_e2e_shown(R->Err, R->ErrSize));
}

/* Compile Src with Flags, run it as jitlink_crash() does, and check its stdout is Out. */
static void jitlink_crash_program(const char *Src, const char *const *Flags, const char *Out,
                                  orcrt_test_spawn_result *R) {
  jitlink_crash(orcrt_e2e_compile(Src, "crash.o", Flags), R);
  /* Written with printf to a pipe: only in stdio's buffer when the signal came. */
  ck_assert_msg(strcmp(R->Out, Out) == 0, "stdout is \"%s\", not \"%s\"", R->Out, Out);
}

static const char *const DebugFlags[] = {"-c", "-O1", "-g", NULL};

static void assert_err_has(const orcrt_test_spawn_result *R, const char *Substr) {
  ck_assert_msg(strstr(R->Err, Substr), "stderr lacks \"%s\":\n%s", Substr,
                orcrt_e2e_shown(R->Err, R->ErrSize));
}

#define SEGV_AT_NULL                                                                               \
  "orcrt-executor: fatal signal SIGSEGV (11, address not mapped) at address 0x0\n"

START_TEST(e2e_jitlink_reports_a_null_dereference_and_flushes_stdout) {
  orcrt_test_spawn_result R;
  jitlink_crash_program("crash-null.c", DebugFlags, "before the crash\n", &R);
  assert_err_has(&R, "about to crash\n" SEGV_AT_NULL "orcrt-executor:   pc 0x");
  /* Named from the debug object llvm-jitlink registered for the -g object. */
  assert_err_has(&R, ": in JIT'd code, in crash_here+0x");
  assert_err_has(&R, " bytes into the R-X segment of the allocation at 0x");
  assert_err_has(&R, "orcrt-executor:   address 0x0: not JIT memory\n"
                     "orcrt-executor: flushed stdout; ending by SIGSEGV\n");
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(e2e_jitlink_reports_a_crash_in_unnamed_jit_code) {
  orcrt_test_spawn_result R;
  jitlink_crash(orcrt_e2e_object("crash-null.c", "crash.o"), &R);
  assert_err_has(&R, SEGV_AT_NULL);
  /* No debug info, and the crash is before main in the code: nothing names it. */
  assert_err_has(&R, ": in JIT'd code, no JIT'd symbol known, 0x");
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(e2e_jitlink_reports_a_call_through_a_bad_pointer) {
  orcrt_test_spawn_result R;
  jitlink_crash_program("crash-call.c", DebugFlags, "calling a bad pointer\n", &R);
  assert_err_has(&R, "orcrt-executor: fatal signal SIGSEGV (11, address not mapped) at address "
                     "0x800\norcrt-executor:   pc 0x800: not JIT memory\n");
#if defined(__x86_64__)
  assert_err_has(&R, "?: in JIT'd code, in main+0x");
#endif
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(e2e_jitlink_reports_a_stack_overflow) {
  static const char *const Flags[] = {"-c", "-O0", "-g", NULL};
  orcrt_test_spawn_result R;
  jitlink_crash_program("crash-overflow.c", Flags, "recursing\n", &R);
  /* Only on the alternate signal stack can the handler run at all. */
  assert_err_has(&R, "orcrt-executor: fatal signal SIGSEGV (11, ");
  assert_err_has(&R, ": in JIT'd code, in deeper+0x");
  assert_err_has(&R, ": not JIT memory (next to the stack pointer: a stack overflow?)\n");
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/*
 * The debug trace (orcrt-executor(1), DIAGNOSTICS) of a real session: the
 * JIT'd main is named from the debug object llvm-jitlink registers for -g.
 */
START_TEST(e2e_jitlink_debug_trace_names_each_call_and_the_jit_main) {
  const char *Obj = orcrt_e2e_compile(
      orcrt_test_format("%s/contrib/examples/hello.c", orcrt_e2e_required_env("ORCRT_TOP_SRCDIR")),
      "hello.o", DebugFlags);
  const char *Argv[] = {orcrt_e2e_required_env("ORCRT_LLVM_JITLINK"),
                        orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()), Obj,
                        NULL};
  const char *const Env[] = {"ORCRT_LOG=debug", NULL};
  orcrt_test_spawn_result R;
  orcrt_e2e_run(Argv, Env, &R);
  ck_assert_msg(R.Status == 42, "llvm-jitlink ended with %d; stderr:\n%s", R.Status,
                orcrt_e2e_shown(R.Err, R.ErrSize));
  assert_err_has(&R, " lookup 1 name (printf) \xe2\x86\x92 1 found ");
  assert_err_has(&R, " finalize 2 segments ");
  assert_err_has(&R, " call llvm_orc_registerJITLoaderGDBWrapper 0x");
  assert_err_has(&R, " run_as_main main (JIT'd) argc=0 \xe2\x86\x92 42 ");
  assert_err_has(&R, "orcrt-executor: debug: summary: run_as_main: 1 call, 0 errors, ");
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* ---- lli-19 -remote-mcjit ------------------------------------------------- */

START_TEST(e2e_lli_runs_the_bundled_example) {
  orcrt_e2e_lli_program(
      orcrt_test_format("%s/contrib/examples/hello.c", orcrt_e2e_required_env("ORCRT_TOP_SRCDIR")),
      42, "Hello, world!");
}
END_TEST

START_TEST(e2e_lli_runs_main_without_arguments) {
  orcrt_e2e_lli_program("args.c", 0, "argc=0\n");
}
END_TEST

START_TEST(e2e_lli_zero_fills_bss_and_copies_data) {
  orcrt_e2e_lli_program("bigdata.c", 0, "0 non-zero pages");
}
END_TEST

START_TEST(e2e_lli_resolves_libm) {
  orcrt_e2e_lli_program("mathlib.c", 0, "cos 0.877582562\n");
}
END_TEST

START_TEST(e2e_lli_runs_threads) {
  orcrt_e2e_lli_program("threads.c", 0, "joined 280\n");
}
END_TEST

START_TEST(e2e_lli_throws_and_catches_cxx_exceptions) {
  orcrt_e2e_lli_program("exceptions.cpp", 12, "level2 caught int 2 with guard 2\n");
}
END_TEST

START_TEST(e2e_lli_forwards_stderr_and_status) {
  orcrt_e2e_lli_program("stderr.c", 3, "to stdout 2, no newline");
}
END_TEST

START_TEST(e2e_lli_runs_with_mprotect_memory) {
  const char *Env[] = {"ORCRT_MEMORY=mprotect", NULL};
  orcrt_test_spawn_result Ref;
  orcrt_e2e_lli_both(orcrt_e2e_ir("exceptions.cpp", "prog.ll"), Env, &Ref);
  orcrt_e2e_assert_outcome(&Ref, 12, "sum 12\n", NULL);
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

START_TEST(e2e_lli_runs_thread_data_destructors_of_jit_code) {
  orcrt_e2e_lli_program("tls-key.c", 3, "value 42 set\n");
}
END_TEST

START_TEST(e2e_lli_runs_a_sigsegv_handler_of_jit_code) {
  orcrt_e2e_lli_program("segv-handler.c", 11, "recovered from signal 11\n");
}
END_TEST

START_TEST(e2e_lli_delivers_a_raised_signal_to_jit_code) {
  orcrt_e2e_lli_program("raise.c", 0, "handler saw signal 10\n");
}
END_TEST

static void add(Suite *S, const char *Name, const TTest *Test, double Timeout) {
  orcrt_test_add_process_case(S, Name, Test, Timeout);
}

Suite *orcrt_suite_e2e(void) {
  Suite *S = suite_create("e2e");
  TCase *Filter = tcase_create("race_filter");
  tcase_add_test(Filter, e2e_race_filter_takes_only_the_controllers_race);
  suite_add_tcase(S, Filter);
  static const char *const Tools[] = {"ORCRT_CLANG", "ORCRT_LLVM_JITLINK", "ORCRT_LLI",
                                      "ORCRT_LLI_CHILD_TARGET"};
  for (size_t I = 0; I < sizeof(Tools) / sizeof(Tools[0]); I++)
    if (!orcrt_test_getenv(Tools[I])) {
      fprintf(stderr, "e2e: %s is not set; configure found no LLVM 19 tools, skipping\n", Tools[I]);
      return S;
    }

  add(S, "jitlink_example", e2e_jitlink_runs_the_bundled_example, CASE_TIMEOUT);
  add(S, "jitlink_args", e2e_jitlink_passes_arguments_and_negative_status, CASE_TIMEOUT);
  add(S, "jitlink_no_args", e2e_jitlink_runs_main_without_arguments, CASE_TIMEOUT);
  add(S, "jitlink_bigdata", e2e_jitlink_zero_fills_bss_and_copies_data, CASE_TIMEOUT);
  add(S, "jitlink_libm", e2e_jitlink_resolves_libm, CASE_TIMEOUT);
  add(S, "jitlink_threads", e2e_jitlink_runs_threads, CASE_TIMEOUT);
  add(S, "jitlink_weak", e2e_jitlink_binds_weak_undefined_to_null, CASE_TIMEOUT);
  add(S, "jitlink_cxx", e2e_jitlink_throws_and_catches_cxx_exceptions, CASE_TIMEOUT);
  add(S, "jitlink_cxx_mprotect", e2e_jitlink_runs_cxx_exceptions_with_mprotect_memory,
      CASE_TIMEOUT);
  add(S, "jitlink_bigdata_mprotect", e2e_jitlink_runs_big_data_with_mprotect_memory, CASE_TIMEOUT);
  add(S, "jitlink_debuginfo", e2e_jitlink_runs_object_with_debug_info, CASE_TIMEOUT);
  add(S, "jitlink_noexec", e2e_jitlink_links_without_running_under_noexec, CASE_TIMEOUT);
  add(S, "jitlink_preload", e2e_jitlink_preloads_a_shared_library, CASE_TIMEOUT);
  add(S, "jitlink_stderr", e2e_jitlink_forwards_stderr_and_status, CASE_TIMEOUT);
  add(S, "jitlink_undefined", e2e_jitlink_fails_on_undefined_function, CASE_TIMEOUT);
  add(S, "jitlink_ld_r", e2e_jitlink_runs_objects_linked_with_ld_r, CASE_TIMEOUT);
  if (orcrt_test_getenv("ORCRT_SQLITE_SRC"))
    add(S, "jitlink_sqlite", e2e_jitlink_runs_sqlite, SQLITE_CASE_TIMEOUT);
  add(S, "lli_example", e2e_lli_runs_the_bundled_example, CASE_TIMEOUT);
  add(S, "lli_no_args", e2e_lli_runs_main_without_arguments, CASE_TIMEOUT);
  add(S, "lli_bigdata", e2e_lli_zero_fills_bss_and_copies_data, CASE_TIMEOUT);
  add(S, "lli_libm", e2e_lli_resolves_libm, CASE_TIMEOUT);
  add(S, "lli_threads", e2e_lli_runs_threads, CASE_TIMEOUT);
  add(S, "lli_cxx", e2e_lli_throws_and_catches_cxx_exceptions, CASE_TIMEOUT);
  add(S, "lli_stderr", e2e_lli_forwards_stderr_and_status, CASE_TIMEOUT);
  add(S, "lli_mprotect", e2e_lli_runs_with_mprotect_memory, CASE_TIMEOUT);
  add(S, "jitlink_tls_key", e2e_jitlink_runs_thread_data_destructors_of_jit_code, CASE_TIMEOUT);
  add(S, "jitlink_tls_orc_runtime", e2e_jitlink_runs_thread_locals_with_the_orc_runtime,
      CASE_TIMEOUT);
  add(S, "jitlink_sigsegv", e2e_jitlink_runs_a_sigsegv_handler_of_jit_code, CASE_TIMEOUT);
  add(S, "jitlink_raise", e2e_jitlink_delivers_a_raised_signal_to_jit_code, CASE_TIMEOUT);
  add(S, "lli_tls_key", e2e_lli_runs_thread_data_destructors_of_jit_code, CASE_TIMEOUT);
  add(S, "lli_sigsegv", e2e_lli_runs_a_sigsegv_handler_of_jit_code, CASE_TIMEOUT);
  add(S, "lli_raise", e2e_lli_delivers_a_raised_signal_to_jit_code, CASE_TIMEOUT);
  add(S, "jitlink_iostreams", e2e_jitlink_runs_cxx_iostream_programs, CASE_TIMEOUT);
  add(S, "jitlink_iostreams_orc_runtime",
      e2e_jitlink_runs_cxx_iostream_programs_with_the_orc_runtime, CASE_TIMEOUT);
  add(S, "jitlink_cxx_orc_runtime",
      e2e_jitlink_throws_and_catches_cxx_exceptions_with_the_orc_runtime, CASE_TIMEOUT);
  add(S, "jitlink_cxx_orc_runtime_memory",
      e2e_jitlink_throws_with_the_orc_runtime_in_mprotect_and_shared_memory, CASE_TIMEOUT);
  add(S, "jitlink_quiet_orc_runtime",
      e2e_jitlink_runs_programs_without_throws_with_the_orc_runtime_quietly, CASE_TIMEOUT);
  add(S, "jitlink_crash_null", e2e_jitlink_reports_a_null_dereference_and_flushes_stdout,
      CASE_TIMEOUT);
  add(S, "jitlink_crash_unnamed", e2e_jitlink_reports_a_crash_in_unnamed_jit_code, CASE_TIMEOUT);
  add(S, "jitlink_crash_bad_call", e2e_jitlink_reports_a_call_through_a_bad_pointer, CASE_TIMEOUT);
  add(S, "jitlink_crash_overflow", e2e_jitlink_reports_a_stack_overflow, CASE_TIMEOUT);
  add(S, "jitlink_debug_trace", e2e_jitlink_debug_trace_names_each_call_and_the_jit_main,
      CASE_TIMEOUT);
  return S;
}

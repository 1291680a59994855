/*
 * test-versions.c - orcrt-executor driven by the controllers of one LLVM
 * release, the one $ORCRT_LLVM_RELEASE names (14, 15, 16, 19 or 22), with
 * its tools in $ORCRT_LLVM_ROOT/llvm-N/bin (tests/llvm-release.sh runs it
 * once per release and skips a release that is not installed)
 *
 * Each program is compiled by that release's clang, run under its
 * llvm-jitlink in process and with -oop-executor=orcrt-executor, and under
 * its lli -remote-mcjit with its lli-child-target and with orcrt-executor;
 * the runs must agree byte for byte, and the reference must do what the
 * program is known to do. Then what only the release has: shared memory,
 * the ORC runtime, -noexec, clang-repl (22). And the choice of wire: the
 * executor names the wire it detected, ORCRT_LLVM=N serves the release,
 * and a wrong ORCRT_LLVM makes the controller reject the Setup with a
 * note from the executor naming the option.
 */
#include "config.h"

#include "e2e-util.h"
#include "run-util.h"
#include "test-util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CASE_TIMEOUT 60.0

static int Release;

/* A tool of the release under test. */
static const char *tool(const char *Name) {
  return orcrt_test_format("%s/llvm-%d/bin/%s", orcrt_e2e_required_env("ORCRT_LLVM_ROOT"), Release,
                           Name);
}

/* The file name of the release's ORC runtime, which changed with 16; NULL if not installed. */
static const char *orc_runtime(void) {
  static const char *const Names[] = {"liborc_rt-x86_64.a", "libclang_rt.orc-x86_64.a"};
  for (size_t I = 0; I < sizeof(Names) / sizeof(Names[0]); I++) {
    const char *Argv[] = {tool("clang"), orcrt_test_format("-print-file-name=%s", Names[I]), NULL};
    orcrt_test_spawn_result R;
    orcrt_e2e_run(Argv, NULL, &R);
    const char *Path = orcrt_test_format("%.*s", R.OutSize ? (int)R.OutSize - 1 : 0, R.Out);
    orcrt_test_spawn_result_free(&R);
    if (Path[0] == '/' && access(Path, R_OK) == 0)
      return Path;
  }
  /* clang-14/15 name it under lib/linux/ of their resource directory, which -print-file-name
   * misses. */
  const char *Argv[] = {
      "find",
      orcrt_test_format("%s/llvm-%d/lib/clang", orcrt_e2e_required_env("ORCRT_LLVM_ROOT"), Release),
      "-name", "*orc*x86_64.a", NULL};
  orcrt_test_spawn_result R;
  orcrt_e2e_run(Argv, NULL, &R);
  const char *Nl = memchr(R.Out, '\n', R.OutSize);
  const char *Path = Nl ? orcrt_test_format("%.*s", (int)(Nl - R.Out), R.Out) : NULL;
  orcrt_test_spawn_result_free(&R);
  return Path;
}

/* How the executor's log names the wire of this release. */
static const char *wire_name(void) {
  return Release <= 16 ? "LLVM 14-16" : orcrt_test_format("LLVM %d", Release);
}

/* Run Argv (a controller with orcrt-executor) with Env; its result in *R. */
static void run_oop(const char *const *Argv, const char *const *Env, orcrt_test_spawn_result *R) {
  orcrt_e2e_run(Argv, Env, R);
}

/* ---- llvm-jitlink ---------------------------------------------------------------------- */

START_TEST(versions_jitlink_passes_arguments_and_exit_status) {
  const char *Extra[] = {"-args", "-3", "hello", "two words", "", NULL};
  orcrt_e2e_jitlink_program("args.c", Extra, NULL, 253, "argv[2]=\"two words\"\nargv[3]=\"\"\n",
                            NULL);
}
END_TEST

START_TEST(versions_jitlink_resolves_libm) {
  orcrt_e2e_jitlink_program("mathlib.c", NULL, NULL, 0, "sqrt 2.000000000", NULL);
}
END_TEST

START_TEST(versions_jitlink_runs_object_with_debug_info) {
  static const char *const Flags[] = {"-c", "-O1", "-g", NULL};
  const char *Args[] = {orcrt_e2e_compile("debuginfo.c", "debuginfo.o", Flags), NULL};
  orcrt_test_spawn_result Ref;
  orcrt_e2e_jitlink_both(Args, NULL, &Ref);
  orcrt_e2e_assert_outcome(&Ref, 11, "distance 11\n", NULL);
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

START_TEST(versions_jitlink_throws_and_catches_cxx_exceptions) {
  orcrt_e2e_jitlink_program("exceptions.cpp", NULL, NULL, 12,
                            "std::exception: runtime error at 3\n"
                            "level3(4)\nCustom 4: custom at 4\n",
                            NULL);
}
END_TEST

/* Static constructors and destructors, run by the release's ORC runtime. */
START_TEST(versions_jitlink_runs_the_orc_runtime) {
  const char *Rt = orc_runtime();
  ck_assert_msg(Rt, "no ORC runtime for LLVM %d (see doc/protocol/packages.md)", Release);
  /* The ORC runtime never frees its state: ASan would report it as leaks at exit. */
  const char *Env[] = {orcrt_e2e_no_leak_check(), NULL};
  const char *Extra[] = {orcrt_test_format("-orc-runtime=%s", Rt), "-args", "x", NULL};
  orcrt_e2e_jitlink_program("statics.cpp", Extra, Env, 3, "destroying first (table has 3)\n", NULL);
}
END_TEST

/* -noexec: links without running, out of process too up to 19; 22's controller refuses it. */
START_TEST(versions_jitlink_noexec) {
  const char *Obj = orcrt_e2e_object("args.c", "args.o");
  if (Release < 22) {
    const char *Args[] = {"-noexec", Obj, NULL};
    orcrt_test_spawn_result Ref;
    orcrt_e2e_jitlink_both(Args, NULL, &Ref);
    orcrt_e2e_assert_outcome(&Ref, 0, NULL, NULL);
    ck_assert_uint_eq(Ref.OutSize, 0);
    orcrt_test_spawn_result_free(&Ref);
    return;
  }
  const char *Argv[] = {tool("llvm-jitlink"), "-noexec",
                        orcrt_test_format("-oop-executor=%s", tool("llvm-jitlink-executor")), Obj,
                        NULL};
  orcrt_test_spawn_result Ref, R;
  run_oop(Argv, NULL, &Ref);
  orcrt_e2e_assert_outcome(&Ref, 1, NULL, "-noexec cannot be used with oop-executor");
  Argv[2] = orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path());
  run_oop(Argv, NULL, &R);
  orcrt_e2e_assert_same("llvm-jitlink -noexec", "llvm-jitlink-executor", &Ref, &R);
  orcrt_test_spawn_result_free(&Ref);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* The shared-memory mapper: -use-shared-memory in 16 and 19, --use-memmgr= in 22. */
START_TEST(versions_jitlink_uses_shared_memory) {
  static const char *const Memmgrs[] = {"--use-memmgr=shared", "--use-memmgr=simple-remote"};
  const char *Example =
      orcrt_test_format("%s/contrib/examples/hello.c", orcrt_e2e_required_env("ORCRT_TOP_SRCDIR"));
  size_t N = Release == 22 ? 2 : 1;
  for (size_t I = 0; I < N; I++) {
    const char *Extra[] = {Release == 22 ? Memmgrs[I] : "-use-shared-memory", "-args", "orcrt",
                           NULL};
    orcrt_e2e_jitlink_program(Example, Extra, NULL, 42, "Hello, orcrt!", NULL);
  }
}
END_TEST

/* ---- lli -remote-mcjit ---------------------------------------------------------------- */

START_TEST(versions_lli_runs_the_bundled_example) {
  orcrt_e2e_lli_program(
      orcrt_test_format("%s/contrib/examples/hello.c", orcrt_e2e_required_env("ORCRT_TOP_SRCDIR")),
      42, "Hello, world!");
}
END_TEST

START_TEST(versions_lli_resolves_libm) {
  orcrt_e2e_lli_program("mathlib.c", 0, "sqrt 2.000000000");
}
END_TEST

START_TEST(versions_lli_throws_and_catches_cxx_exceptions) {
  orcrt_e2e_lli_program("exceptions.cpp", 12, "level2 caught int 2 with guard 2\n");
}
END_TEST

/* ---- the wire ----------------------------------------------------------------------------- */

/* The executor tells the release's wire from the controller's calls, with either tool. */
START_TEST(versions_executor_names_the_wire_it_detected) {
  const char *Obj = orcrt_e2e_object("args.c", "args.o");
  const char *Ll = orcrt_e2e_ir("args.c", "args.ll");
  const char *Env[] = {"ORCRT_LOG=info", NULL};
  const char *Want = orcrt_test_format("info: the controller speaks %s's wire", wire_name());
  const char *JitLink[] = {tool("llvm-jitlink"),
                           orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()), Obj,
                           NULL};
  const char *Lli[] = {tool("lli"),
                       "-jit-kind=mcjit",
                       "-remote-mcjit",
                       orcrt_test_format("-mcjit-remote-process=%s", orcrt_test_executor_path()),
                       Ll,
                       NULL};
  const char *const *Runs[] = {JitLink, Lli};
  for (size_t I = 0; I < 2; I++) {
    orcrt_test_spawn_result R;
    run_oop(Runs[I], Env, &R);
    orcrt_e2e_assert_outcome(&R, 0, "argc=0\n", Want);
    /* One line names a wire: this one. */
    const char *First = strstr(R.Err, "the controller speaks ");
    ck_assert_msg(First && !strstr(First + 1, "the controller speaks "), "not one wire named:\n%s",
                  R.Err);
    orcrt_test_spawn_result_free(&R);
  }
}
END_TEST

/*
 * The explicit choice always wins: ORCRT_LLVM=N of the release's own
 * number serves it, and so does --llvm=N, over a wrong ORCRT_LLVM; another
 * family's makes the controller reject the Setup, and the executor's note
 * names the option.
 */
START_TEST(versions_explicit_release_wins) {
  const char *Obj = orcrt_e2e_object("args.c", "args.o");
  const char *Own[] = {orcrt_test_format("ORCRT_LLVM=%d", Release), NULL};
  const char *Args[] = {Obj, "-args", "a", NULL};
  orcrt_test_spawn_result Ref;
  orcrt_e2e_jitlink_both(Args, Own, &Ref);
  orcrt_e2e_assert_outcome(&Ref, 0, "argc=1\n", NULL);
  orcrt_test_spawn_result_free(&Ref);

  /* --llvm=N, given through a wrapper (the controller passes fixed arguments), beats ORCRT_LLVM. */
  int Other = Release == 19 ? 22 : 19;
  const char *Wrapper = orcrt_test_scratch_file("orcrt-executor-llvm");
  FILE *F = fopen(Wrapper, "w");
  ck_assert_ptr_nonnull(F);
  fprintf(F, "#!/bin/sh\nexec '%s' --llvm=%d \"$@\"\n", orcrt_test_executor_path(), Release);
  ck_assert_int_eq(fclose(F), 0);
  ck_assert_int_eq(chmod(Wrapper, 0755), 0);
  const char *Beaten[] = {orcrt_test_format("ORCRT_LLVM=%d", Other), NULL};
  const char *ByOption[] = {tool("llvm-jitlink"),
                            orcrt_test_format("-oop-executor=%s", Wrapper),
                            Obj,
                            "-args",
                            "a",
                            NULL};
  orcrt_test_spawn_result O;
  run_oop(ByOption, Beaten, &O);
  orcrt_e2e_assert_outcome(&O, 0, "argc=1\n", NULL);
  orcrt_test_spawn_result_free(&O);

  /* A wrong release: the controller rejects the Setup, and the executor names the option. */
  const char *Wrong[] = {orcrt_test_format("ORCRT_LLVM=%d", Other), NULL};
  const char *Argv[] = {tool("llvm-jitlink"),
                        orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()), Obj,
                        NULL};
  orcrt_test_spawn_result R;
  run_oop(Argv, Wrong, &R);
  orcrt_e2e_assert_outcome(&R, 1, NULL, "not found in bootstrap symbols map");
  ck_assert_msg(strstr(R.Err, "orcrt-executor: the controller closed the channel without a call") &&
                    strstr(R.Err, "--llvm=N"),
                "no note naming --llvm:\n%s", R.Err);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* ---- clang-repl (22) ----------------------------------------------------------------------- */

/* Run clang-repl-22 on Session with the executor Exe and the ORC runtime. */
static void repl(const char *Exe, const char *Session, orcrt_test_spawn_result *R) {
  const char *Argv[] = {tool("clang-repl"), orcrt_test_format("--oop-executor=%s", Exe),
                        orcrt_test_format("--orc-runtime=%s", orc_runtime()), NULL};
  const char *Env[] = {orcrt_e2e_no_leak_check(), NULL};
  orcrt_e2e_StdinInput = Session;
  orcrt_e2e_run(Argv, Env, R);
  orcrt_e2e_StdinInput = NULL;
}

/*
 * Remove the empty line clang-repl writes of its own at exit into the
 * stdout it shares with its executor (there must be one): where it falls
 * among the program's lines depends on when each process flushes, and
 * varies between runs of the same executor (doc/protocol/clang-repl-22.md).
 */
static void drop_repl_empty_line(orcrt_test_spawn_result *R) {
  char *At = NULL;
  if (R->OutSize && R->Out[0] == '\n')
    At = R->Out;
  else if ((At = strstr(R->Out, "\n\n")))
    At++;
  ck_assert_msg(At, "no empty line from clang-repl:\n%s", R->Out);
  memmove(At, At + 1, R->OutSize - (size_t)(At - R->Out)); /* the NUL too */
  R->OutSize--;
}

/*
 * A C++ session, out of process in orcrt-executor, as with LLVM 22's own
 * executor: declarations, printf, std::vector, an exception thrown and
 * caught, a static object's constructor and destructor, 64 MiB of static
 * and of heap memory. No bare expression: its printing needs a function
 * clang-repl-22 does not have out of process, and the failed
 * materialization deadlocks clang-repl-22 itself about once in 150 runs,
 * with LLVM's executor as with orcrt's (doc/protocol/clang-repl-22.md).
 */
START_TEST(versions_repl_session_is_the_same_as_with_llvm_executor) {
  static const char Session[] =
      "#include <cstdio>\n"
      "#include <vector>\n"
      "#include <stdexcept>\n"
      "int add(int a, int b) { return a + b; }\n"
      "printf(\"add=%d\\n\", add(2, 3));\n"
      "std::vector<int> v = {1, 2, 3};\n"
      "v.push_back(4);\n"
      "printf(\"size=%zu sum=%d\\n\", v.size(), v[0] + v[1] + v[2] + v[3]);\n"
      "try { throw std::runtime_error(\"boom\"); } catch (const std::exception &e) "
      "{ printf(\"caught %s\\n\", e.what()); }\n"
      "struct S { int id; S(int i) : id(i) { printf(\"ctor %d\\n\", id); } "
      "~S() { printf(\"dtor %d\\n\", id); } };\n"
      "static S s1(1);\n"
      "static char big[64 * 1024 * 1024];\n"
      "big[sizeof(big) - 1] = 7; "
      "printf(\"big last=%d first=%d\\n\", big[sizeof(big) - 1], big[0]);\n"
      "char *p = new char[64 * 1024 * 1024]; p[12345] = 9; "
      "printf(\"new[] ok %d\\n\", p[12345]); delete[] p;\n"
      "int x = 42;\n"
      "%quit\n";
  orcrt_test_spawn_result Ref, Got;
  repl(tool("llvm-jitlink-executor"), Session, &Ref);
  repl(orcrt_test_executor_path(), Session, &Got);
  drop_repl_empty_line(&Ref);
  drop_repl_empty_line(&Got);
  orcrt_e2e_assert_outcome(&Ref, 0,
                           "add=5\nsize=4 sum=10\ncaught boom\nctor 1\nbig last=7 first=0\n"
                           "new[] ok 9\ndtor 1\n", NULL);
  orcrt_e2e_assert_same("clang-repl-22 session", "llvm-jitlink-executor", &Ref, &Got);
  orcrt_test_spawn_result_free(&Ref);
  orcrt_test_spawn_result_free(&Got);
}
END_TEST

/*
 * Text without the lines orcrt-executor writes of its own ("orcrt-executor:
 * ...") and with every 0x-prefixed or 16-digit hexadecimal number (an
 * address) replaced by "ADDR".
 */
static const char *normalized(const char *Text) {
  char *Out = orcrt_test_keep(calloc(1, strlen(Text) + 1));
  ck_assert_ptr_nonnull(Out);
  char *O = Out;
  for (const char *Line = Text; *Line;) {
    const char *End = strchr(Line, '\n');
    size_t Len = End ? (size_t)(End - Line + 1) : strlen(Line);
    if (strncmp(Line, "orcrt-executor: ", 16) != 0) {
      for (size_t I = 0; I < Len;) {
        size_t Hex = 0, Skip = Line[I] == '0' && Line[I + 1] == 'x' ? 2 : 0;
        while (I + Skip + Hex < Len && strchr("0123456789abcdef", Line[I + Skip + Hex]) &&
               Line[I + Skip + Hex])
          Hex++;
        if ((Skip && Hex) || Hex == 16) {
          O = stpcpy(O, "ADDR");
          I += Skip + Hex;
        } else {
          *O++ = Line[I++];
        }
      }
    }
    Line += Len;
  }
  *O = '\0';
  return Out;
}

/*
 * JIT'd code that crashes: the REPL says it lost its executor and ends as
 * it does with LLVM's, word for word but for addresses; orcrt-executor adds
 * its crash report, and the output the program printed before the crash,
 * which LLVM's executor loses in its stdio buffer.
 */
START_TEST(versions_repl_survives_a_crash_like_with_llvm_executor) {
  static const char Session[] = "#include <cstdio>\n"
                                "printf(\"before\\n\");\n"
                                "int *np = nullptr;\n"
                                "*np = 1;\n"
                                "printf(\"after\\n\");\n"
                                "%quit\n";
  orcrt_test_spawn_result Ref, Got;
  repl(tool("llvm-jitlink-executor"), Session, &Ref);
  repl(orcrt_test_executor_path(), Session, &Got);
  ck_assert_int_eq(Got.Status, Ref.Status);
  ck_assert_uint_ge(Got.OutSize, Ref.OutSize);
  ck_assert_int_eq(memcmp(Got.Out, Ref.Out, Ref.OutSize), 0);
  ck_assert_msg(strstr(Got.Out, "before\n") && !strstr(Got.Out, "after"), "stdout: %s", Got.Out);
  orcrt_e2e_assert_outcome(&Ref, Ref.Status, NULL, "error: disconnecting\n");
  ck_assert_msg(strstr(Got.Err, "orcrt-executor: fatal signal SIGSEGV"), "stderr:\n%s", Got.Err);
  const char *Want = normalized(Ref.Err), *Have = normalized(Got.Err);
  ck_assert_msg(strcmp(Want, Have) == 0,
                "the REPL's messages differ.\n--- with llvm-jitlink-executor:\n%s\n"
                "--- with orcrt-executor:\n%s",
                Want, Have);
  orcrt_test_spawn_result_free(&Ref);
  orcrt_test_spawn_result_free(&Got);
}
END_TEST

static void add(Suite *S, const char *Name, const TTest *Test) {
  orcrt_test_add_process_case(S, Name, Test, CASE_TIMEOUT);
}

Suite *orcrt_suite_versions(void) {
  Suite *S = suite_create("versions");
  const char *R = orcrt_test_getenv("ORCRT_LLVM_RELEASE");
  Release = R ? atoi(R) : 0;
  if (!Release || !orcrt_test_getenv("ORCRT_LLVM_ROOT")) {
    fprintf(stderr, "versions: ORCRT_LLVM_RELEASE and ORCRT_LLVM_ROOT name no release\n");
    return S;
  }
  /* The shared helpers run the tools the environment names: this release's. */
  static const char *const Tools[][2] = {{"ORCRT_CLANG", "clang"},
                                         {"ORCRT_LLVM_JITLINK", "llvm-jitlink"},
                                         {"ORCRT_LLI", "lli"},
                                         {"ORCRT_LLI_CHILD_TARGET", "lli-child-target"}};
  for (size_t I = 0; I < sizeof(Tools) / sizeof(Tools[0]); I++) {
    char Path[4096];
    snprintf(Path, sizeof(Path), "%s/llvm-%d/bin/%s", orcrt_test_getenv("ORCRT_LLVM_ROOT"), Release,
             Tools[I][1]);
    setenv(Tools[I][0], Path, 1);
  }

  add(S, "jitlink_args", versions_jitlink_passes_arguments_and_exit_status);
  add(S, "jitlink_libm", versions_jitlink_resolves_libm);
  add(S, "jitlink_debuginfo", versions_jitlink_runs_object_with_debug_info);
  add(S, "jitlink_cxx", versions_jitlink_throws_and_catches_cxx_exceptions);
  add(S, "jitlink_orc_runtime", versions_jitlink_runs_the_orc_runtime);
  add(S, "jitlink_noexec", versions_jitlink_noexec);
  if (Release == 16 || Release == 19 || Release == 22)
    add(S, "jitlink_shared_memory", versions_jitlink_uses_shared_memory);
  add(S, "lli_example", versions_lli_runs_the_bundled_example);
  add(S, "lli_libm", versions_lli_resolves_libm);
  add(S, "lli_cxx", versions_lli_throws_and_catches_cxx_exceptions);
  add(S, "wire_detected", versions_executor_names_the_wire_it_detected);
  add(S, "wire_explicit", versions_explicit_release_wins);
  char Repl[4096];
  snprintf(Repl, sizeof(Repl), "%s/llvm-%d/bin/clang-repl", orcrt_test_getenv("ORCRT_LLVM_ROOT"),
           Release);
  if (Release == 22 && access(Repl, X_OK) != 0)
    fprintf(stderr, "versions: no %s (package clang-tools-22): no REPL cases\n", Repl);
  else if (Release == 22) {
    add(S, "repl_session", versions_repl_session_is_the_same_as_with_llvm_executor);
    add(S, "repl_crash", versions_repl_survives_a_crash_like_with_llvm_executor);
  }
  return S;
}

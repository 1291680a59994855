/*
 * test-sandbox.c - orcrt-executor --sandbox (ORCRT_SANDBOX=1) with
 * llvm-jitlink-19 and lli-19: JIT'd code that tries to get out fails as the
 * manual says, and ordinary programs run as they do in process
 *
 * The escapes are tests/programs/sandbox-escape.c, one case per run; each
 * is also run without the sandbox where that is safe, as the control that
 * shows the case does reach the kernel. Every run carries a marker in its
 * environment, and after it no process holding the marker may remain.
 *
 * Sanitizer builds: ASan and TSan reserve terabytes of shadow, which no
 * address-space limit leaves room for, and LeakSanitizer stops the world
 * with ptrace, which the sandbox denies. So there the runs add
 * ORCRT_MAX_MEMORY=0 and detect_leaks=0, and the memory-limit case is
 * skipped; every other case runs as in the plain build.
 */
#include "config.h"

#include "e2e-util.h"
#include "run-util.h"
#include "test-util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CASE_TIMEOUT 60.0

#define SANITIZED ORCRT_TEST_SANITIZED

/* ---- running ------------------------------------------------------------------- */

static const char *Mark;

/*
 * The environment of a run: the marker, ORCRT_SANDBOX=1 if Sandboxed, what
 * a sanitizer build needs, then Extra (NULL-terminated, may be NULL).
 */
static const char *const *run_env(bool Sandboxed, const char *const *Extra) {
  const char **Env = orcrt_test_keep(calloc(16, sizeof(*Env)));
  size_t N = 0;
  Mark = orcrt_test_format("ORCRT_TEST_SANDBOX_MARK=%d-%p", (int)getpid(), (void *)Env);
  Env[N++] = Mark;
  if (Sandboxed)
    Env[N++] = "ORCRT_SANDBOX=1";
  if (SANITIZED && Sandboxed)
    Env[N++] = "ORCRT_MAX_MEMORY=0";
  if (SANITIZED)
    Env[N++] = orcrt_e2e_no_leak_check();
  for (; Extra && *Extra && N < 15; Extra++)
    Env[N++] = *Extra;
  return Env;
}

/*
 * No process whose environment holds the marker of the last run may be
 * left: one that is still exiting gets 5 s, waited for on its pidfd.
 */
static void assert_nothing_left(void) {
  DIR *D = opendir("/proc");
  ck_assert_ptr_nonnull(D);
  size_t MarkLen = strlen(Mark);
  for (struct dirent *E; (E = readdir(D));) {
    char Path[64], Buf[16384];
    int Pid = atoi(E->d_name);
    if (Pid <= 0 || Pid == getpid())
      continue;
    snprintf(Path, sizeof(Path), "/proc/%d/environ", Pid);
    int Fd = open(Path, O_RDONLY | O_CLOEXEC);
    ssize_t Len = Fd >= 0 ? read(Fd, Buf, sizeof(Buf)) : -1;
    if (Fd >= 0)
      close(Fd);
    if (Len <= 0 || !memmem(Buf, (size_t)Len, Mark, MarkLen))
      continue;
    int P = (int)syscall(SYS_pidfd_open, Pid, 0);
    struct pollfd W = {.fd = P, .events = POLLIN};
    bool Gone = P < 0 || poll(&W, 1, 5000) == 1;
    if (P >= 0)
      close(P);
    ck_assert_msg(Gone, "process %d of the run is still there", Pid);
  }
  closedir(D);
}

/* Run Argv with Env, then check that nothing of it is left. */
static void run(const char *const *Argv, const char *const *Env, orcrt_test_spawn_result *R) {
  orcrt_e2e_run(Argv, Env, R);
  assert_nothing_left();
}

/* llvm-jitlink-19 through orcrt-executor on the escape program: -args CASE ARG. */
static void escape(const char *Case, const char *Arg, bool Sandboxed, const char *const *Extra,
                   orcrt_test_spawn_result *R) {
  const char *Argv[] = {orcrt_e2e_required_env("ORCRT_LLVM_JITLINK"),
                        orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()),
                        orcrt_e2e_object("sandbox-escape.c", "escape.o"),
                        "-args",
                        "sandbox-escape",
                        Case,
                        Arg,
                        NULL};
  run(Argv, run_env(Sandboxed, Extra), R);
}

/* The case's outcome under the sandbox (status 0, "DENIED: What"), and its control's. */
static void assert_denied(const char *Case, const char *Arg, const char *What, bool Control) {
  orcrt_test_spawn_result R;
  escape(Case, Arg, true, NULL, &R);
  orcrt_e2e_assert_outcome(&R, 0, orcrt_test_format("DENIED: %s: ", What), NULL);
  ck_assert_msg(!strstr(R.Out, "ESCAPED"), "stdout: %s", R.Out);
  ck_assert_msg(R.ErrSize == 0, "stderr: %s", orcrt_e2e_shown(R.Err, R.ErrSize));
  orcrt_test_spawn_result_free(&R);
  if (!Control)
    return;
  escape(Case, Arg, false, NULL, &R);
  orcrt_e2e_assert_outcome(&R, 3, orcrt_test_format("ESCAPED: %s\n", What), NULL);
  orcrt_test_spawn_result_free(&R);
}

/* A case the sandbox ends: the program started, the executor said Rule, the controller ended. */
static void assert_ended(const char *Case, const char *const *Extra, const char *Rule) {
  orcrt_test_spawn_result R;
  escape(Case, "", true, Extra, &R);
  orcrt_e2e_assert_outcome(
      &R, 1, "started\n",
      orcrt_test_format("orcrt-executor: sandbox: %s; ending the session\n", Rule));
  ck_assert_msg(strstr(R.Err, "llvm-jitlink: disconnecting") != NULL, "stderr: %s", R.Err);
  orcrt_test_spawn_result_free(&R);
}

/* ---- files --------------------------------------------------------------------- */

START_TEST(sandbox_denies_reading_a_file_not_allowed) {
  /* World-readable: Landlock, not the file's mode, is what refuses. */
  assert_denied("read", "/etc/passwd", "read a file", true);
}
END_TEST

START_TEST(sandbox_reads_a_file_under_allow_read) {
  const char *Dir = orcrt_test_scratch_file("readable");
  ck_assert_int_eq(mkdir(Dir, 0700), 0);
  const char *File = orcrt_test_format("%s/data", Dir);
  FILE *F = fopen(File, "w");
  ck_assert_ptr_nonnull(F);
  fputs("data\n", F);
  fclose(F);
  const char *Extra[] = {orcrt_test_format("ORCRT_ALLOW_READ=%s", Dir), NULL};
  orcrt_test_spawn_result R;
  escape("read", File, true, Extra, &R);
  orcrt_e2e_assert_outcome(&R, 3, "ESCAPED: read a file\n", NULL);
  orcrt_test_spawn_result_free(&R);
  /* Readable is not writable. */
  escape("write", orcrt_test_format("%s/new", Dir), true, Extra, &R);
  orcrt_e2e_assert_outcome(&R, 0, "DENIED: create a file: Permission denied\n", NULL);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(sandbox_denies_writing_outside_the_allowed_folder) {
  const char *Allowed = orcrt_test_scratch_file("writable");
  const char *Outside = orcrt_test_scratch_file("outside");
  ck_assert_int_eq(mkdir(Allowed, 0700), 0);
  const char *Extra[] = {orcrt_test_format("ORCRT_ALLOW_WRITE=%s", Allowed), NULL};
  orcrt_test_spawn_result R;
  escape("write", Outside, true, Extra, &R);
  orcrt_e2e_assert_outcome(&R, 0, "DENIED: create a file: Permission denied\n", NULL);
  orcrt_test_spawn_result_free(&R);
  struct stat St;
  ck_assert_msg(stat(Outside, &St) < 0 && errno == ENOENT, "the sandboxed run created %s", Outside);
  /* Inside the allowed folder it writes. */
  const char *Inside = orcrt_test_format("%s/file", Allowed);
  escape("write", Inside, true, Extra, &R);
  orcrt_e2e_assert_outcome(&R, 3, "ESCAPED: create a file\n", NULL);
  orcrt_test_spawn_result_free(&R);
  ck_assert_int_eq(stat(Inside, &St), 0);
  /* The control: unconfined, the same call creates the file. */
  escape("write", Outside, false, NULL, &R);
  orcrt_e2e_assert_outcome(&R, 3, "ESCAPED: create a file\n", NULL);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* ---- network, processes ------------------------------------------------------------- */

START_TEST(sandbox_denies_a_tcp_connection_to_loopback) {
  int L = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in A = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t Len = sizeof(A);
  ck_assert_int_ge(L, 0);
  ck_assert_int_eq(bind(L, (struct sockaddr *)&A, sizeof(A)), 0);
  ck_assert_int_eq(listen(L, 8), 0);
  ck_assert_int_eq(getsockname(L, (struct sockaddr *)&A, &Len), 0);
  const char *Port = orcrt_test_format("%d", ntohs(A.sin_port));
  assert_denied("connect", Port, "connect to 127.0.0.1", true);
  /* --allow-net lifts it. */
  const char *Extra[] = {"ORCRT_ALLOW_NET=1", NULL};
  orcrt_test_spawn_result R;
  escape("connect", Port, true, Extra, &R);
  orcrt_e2e_assert_outcome(&R, 3, "ESCAPED: connect to 127.0.0.1\n", NULL);
  orcrt_test_spawn_result_free(&R);
  close(L);
}
END_TEST

START_TEST(sandbox_denies_execve_of_a_shell) {
  assert_denied("exec", "", "execve /bin/sh", false);
  /* system() too: posix_spawn's clone fails with an errno, it does not kill. */
  assert_denied("system", "", "system()", false);
}
END_TEST

START_TEST(sandbox_denies_fork) {
  assert_denied("fork", "", "fork", true);
}
END_TEST

START_TEST(sandbox_denies_ptrace_and_process_vm_of_the_parent) {
  assert_denied("ptrace", "", "ptrace the parent", false);
  assert_denied("vm-write", "", "process_vm_readv the parent", false);
  assert_denied("kill-parent", "", "signal the parent", true);
  /* The control writes the parent's own byte back into it. */
  orcrt_test_spawn_result R;
  escape("vm-write", "", false, NULL, &R);
  orcrt_e2e_assert_outcome(&R, 3, "ESCAPED: process_vm_writev the parent\n", NULL);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(sandbox_keeps_its_sigsys_handler) {
  assert_denied("sigsys", "", "replace the SIGSYS handler", true);
}
END_TEST

/* ---- memory ------------------------------------------------------------------------ */

START_TEST(sandbox_denies_writable_and_executable_memory) {
  orcrt_test_spawn_result R;
  escape("wx", "", true, NULL, &R);
  orcrt_e2e_assert_outcome(&R, 0,
                           "DENIED: mmap writable and executable: Permission denied\n"
                           "DENIED: mprotect JIT'd code writable and executable: Permission "
                           "denied\n",
                           NULL);
  orcrt_test_spawn_result_free(&R);
  escape("wx", "", false, NULL, &R);
  orcrt_e2e_assert_outcome(&R, 3, "ESCAPED: mmap writable and executable\n", NULL);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(sandbox_refuses_allocations_past_the_memory_limit) {
  const char *Extra[] = {"ORCRT_MAX_MEMORY=512M", NULL};
  orcrt_test_spawn_result R;
  escape("alloc", "1024", true, Extra, &R);
  orcrt_e2e_assert_outcome(&R, 0, "DENIED: malloc past the memory limit: it returned NULL\n", NULL);
  orcrt_test_spawn_result_free(&R);
  /* Below the limit it allocates. */
  escape("alloc", "64", true, Extra, &R);
  orcrt_e2e_assert_outcome(&R, 3, "ESCAPED: malloc past the memory limit\n", NULL);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* ---- limits that end the session ----------------------------------------------------- */

START_TEST(sandbox_ends_code_past_the_cpu_limit_and_says_so) {
  const char *Extra[] = {"ORCRT_MAX_CPU=1", NULL};
  assert_ended("spin", Extra, "CPU time limit of 1 s reached");
}
END_TEST

START_TEST(sandbox_ends_code_past_the_wall_clock_limit_and_says_so) {
  const char *Extra[] = {"ORCRT_TIMEOUT=1", NULL};
  assert_ended("sleep", Extra, "wall-clock time limit of 1 s reached");
}
END_TEST

START_TEST(sandbox_ends_code_making_an_unlisted_system_call_and_names_it) {
  assert_ended("unlisted", NULL,
               "JIT'd code made a system call the sandbox does not allow: mq_open");
}
END_TEST

/* ---- lli-19 ---------------------------------------------------------------------------- */

START_TEST(sandbox_confines_lli_remote_mcjit_code) {
  const char *Ll = orcrt_e2e_ir("sandbox-escape.c", "escape.ll");
  const char *Remote = orcrt_test_format("-mcjit-remote-process=%s", orcrt_test_executor_path());
  const char *Lli = orcrt_e2e_required_env("ORCRT_LLI");
  static const char *const Cases[][3] = {{"read", "/etc/passwd", "DENIED: read a file: "},
                                         {"exec", "", "DENIED: execve /bin/sh: "},
                                         {"wx", "", "DENIED: mmap writable and executable: "}};
  for (size_t I = 0; I < sizeof(Cases) / sizeof(Cases[0]); I++) {
    const char *Argv[] = {Lli, "-jit-kind=mcjit", "-remote-mcjit", Remote, Ll, NULL};
    const char *Extra[] = {orcrt_test_format("SANDBOX_ESCAPE_CASE=%s", Cases[I][0]),
                           orcrt_test_format("SANDBOX_ESCAPE_ARG=%s", Cases[I][1]), NULL};
    orcrt_test_spawn_result R;
    run(Argv, run_env(true, Extra), &R);
    orcrt_e2e_assert_outcome(&R, 0, Cases[I][2], NULL);
    orcrt_test_spawn_result_free(&R);
  }
  /* The sandbox's end of a session, as lli-19 shows it. */
  const char *Argv[] = {Lli, "-jit-kind=mcjit", "-remote-mcjit", Remote, Ll, NULL};
  const char *Extra[] = {"SANDBOX_ESCAPE_CASE=unlisted", NULL};
  orcrt_test_spawn_result R;
  run(Argv, run_env(true, Extra), &R);
  orcrt_e2e_assert_outcome(&R, 1, "started\n",
                           "orcrt-executor: sandbox: JIT'd code made a system call the sandbox "
                           "does not allow: mq_open; ending the session\n");
  ck_assert_msg(strstr(R.Err, "lli: disconnecting") != NULL, "stderr: %s", R.Err);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* ---- kernels that lack a mechanism ---------------------------------------------------- */

/* llvm-jitlink-19 on hello.c under tests/no-landlock, with Mode (ORCRT_SANDBOX=...) set. */
static void run_without_landlock(const char *Mode, orcrt_test_spawn_result *R) {
  const char *Hello =
      orcrt_test_format("%s/contrib/examples/hello.c", orcrt_e2e_required_env("ORCRT_TOP_SRCDIR"));
  const char *Argv[] = {
      orcrt_test_format("%s/tests/no-landlock", orcrt_e2e_required_env("ORCRT_TOP_BUILDDIR")),
      orcrt_e2e_required_env("ORCRT_LLVM_JITLINK"),
      orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()),
      orcrt_e2e_object(Hello, "hello.o"), NULL};
  /* The mode is in Extra, so run_env() does not add the sanitizers' memory setting. */
  const char *Extra[] = {Mode, SANITIZED ? "ORCRT_MAX_MEMORY=0" : NULL, NULL};
  run(Argv, run_env(false, Extra), R);
}

START_TEST(sandbox_refuses_to_start_without_landlock) {
  orcrt_test_spawn_result R;
  run_without_landlock("ORCRT_SANDBOX=1", &R);
  ck_assert_msg(R.Status != 0 && !strstr(R.Out, "Hello"), "the session ran; status %d", R.Status);
  orcrt_e2e_assert_outcome(&R, R.Status, NULL,
                           "orcrt-executor: sandbox: cannot enforce the policy; file access is "
                           "not restricted: the kernel has no Landlock");
  orcrt_test_spawn_result_free(&R);
}
END_TEST

START_TEST(sandbox_best_effort_runs_without_landlock_and_says_what_is_missing) {
  orcrt_test_spawn_result R;
  run_without_landlock("ORCRT_SANDBOX=best-effort", &R);
  orcrt_e2e_assert_outcome(&R, 42, "Hello, world!",
                           "orcrt-executor: sandbox: best effort: file access is not restricted: "
                           "the kernel has no Landlock");
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* ---- options -------------------------------------------------------------------------- */

/* orcrt-executor with Args alone: a usage error, stderr holding Message. */
static void assert_usage_error(const char *const *Args, const char *const *Extra,
                               const char *Message) {
  const char *Argv[8] = {orcrt_test_executor_path()};
  size_t N = 1;
  for (; *Args && N < 7; Args++)
    Argv[N++] = *Args;
  orcrt_test_spawn_result R;
  run(Argv, run_env(false, Extra), &R);
  orcrt_e2e_assert_outcome(&R, 1, NULL, Message);
  orcrt_test_spawn_result_free(&R);
}

START_TEST(sandbox_options_fail_closed) {
  const char *Missing[] = {"--sandbox", "--allow-read=/no/such/path", "filedescs=0,1", NULL};
  assert_usage_error(Missing, NULL, "invalid --allow-read path '/no/such/path'");
  const char *Size[] = {"--sandbox", "--max-memory=2T", "filedescs=0,1", NULL};
  assert_usage_error(Size, NULL, "invalid --max-memory '2T'");
  const char *Mode[] = {"--sandbox=loose", "filedescs=0,1", NULL};
  assert_usage_error(Mode, NULL, "invalid --sandbox 'loose'");
  const char *Alone[] = {"--allow-net", "filedescs=0,1", NULL};
  assert_usage_error(Alone, NULL, "--allow-net (ORCRT_ALLOW_NET) needs the sandbox");
  const char *None[] = {"filedescs=0,1", NULL};
  const char *EnvAlone[] = {"ORCRT_MAX_CPU=5", NULL};
  assert_usage_error(None, EnvAlone, "--max-cpu (ORCRT_MAX_CPU) needs the sandbox");
  const char *EnvBad[] = {"ORCRT_SANDBOX=1", "ORCRT_TIMEOUT=soon", NULL};
  assert_usage_error(None, EnvBad, "invalid ORCRT_TIMEOUT 'soon'");
}
END_TEST

/* ---- ordinary programs, unchanged -------------------------------------------------------- */

/* Src run both ways with the sandbox on (and Extra), compared with the in-process run. */
static void same_as_in_process(const char *Src, const char *const *Args, const char *const *Extra,
                               int Status, const char *OutSubstr) {
  orcrt_e2e_jitlink_program(Src, Args, run_env(true, Extra), Status, OutSubstr, NULL);
  assert_nothing_left();
}

START_TEST(sandbox_runs_the_corpus_as_in_process) {
  const char *Hello =
      orcrt_test_format("%s/contrib/examples/hello.c", orcrt_e2e_required_env("ORCRT_TOP_SRCDIR"));
  const char *HelloArgs[] = {"-args", "orcrt", "two words", NULL};
  same_as_in_process(Hello, HelloArgs, NULL, 42, "Hello, orcrt!");
  const char *Args[] = {"-args", "-3", "hello", "two words", "", NULL};
  same_as_in_process("args.c", Args, NULL, 253, "argv[2]=\"two words\"\n");
  same_as_in_process("bigdata.c", NULL, NULL, 0, "0 non-zero pages");
  same_as_in_process("mathlib.c", NULL, NULL, 0, "sqrt 2.000000000");
  same_as_in_process("stderr.c", NULL, NULL, 3, "to stdout 1\n");
  same_as_in_process("weak.c", NULL, NULL, 5, "weak function is null\n");
  same_as_in_process("tls-key.c", NULL, NULL, 3, "value 42 set\n");
  same_as_in_process("raise.c", NULL, NULL, 0, NULL);
  same_as_in_process("segv-handler.c", NULL, NULL, 11, "recovered from signal 11\n");
}
END_TEST

START_TEST(sandbox_runs_threads_as_in_process) {
  same_as_in_process("threads.c", NULL, NULL, 0, "8 threads, total 1799986, joined 280");
}
END_TEST

START_TEST(sandbox_runs_cxx_exceptions_as_in_process) {
  same_as_in_process("exceptions.cpp", NULL, NULL, 12, "level3(4)\nCustom 4: custom at 4\n");
  const char *Mprotect[] = {"ORCRT_MEMORY=mprotect", NULL};
  same_as_in_process("exceptions.cpp", NULL, Mprotect, 12, "out_of_range from std::vector::at\n");
  same_as_in_process("iostream.cpp", NULL, NULL, 3, NULL);
}
END_TEST

START_TEST(sandbox_runs_debug_info_as_in_process) {
  static const char *const Flags[] = {"-c", "-O1", "-g", NULL};
  const char *Args[] = {orcrt_e2e_compile("debuginfo.c", "debuginfo.o", Flags), NULL};
  orcrt_test_spawn_result Ref;
  orcrt_e2e_jitlink_both(Args, run_env(true, NULL), &Ref);
  orcrt_e2e_assert_outcome(&Ref, 11, "distance 11\n", NULL);
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

START_TEST(sandbox_runs_the_orc_runtime_as_in_process) {
  const char *PicFlags[] = {"-c", "-O1", "-fPIC", NULL};
  const char *Runtime = orcrt_test_format("-orc-runtime=%s", orcrt_e2e_orc_runtime());
  const char *Tls[] = {orcrt_e2e_compile("tls-var.c", "tls.o", PicFlags), Runtime, NULL};
  const char *Extra[] = {orcrt_e2e_no_leak_check(), NULL};
  orcrt_test_spawn_result Ref;
  orcrt_e2e_jitlink_both(Tls, run_env(true, Extra), &Ref);
  orcrt_e2e_assert_outcome(&Ref, 7, "tls! counter 7\n", NULL);
  orcrt_test_spawn_result_free(&Ref);
  const char *Statics[] = {orcrt_e2e_compile("statics.cpp", "statics.o", PicFlags), Runtime, NULL};
  orcrt_e2e_jitlink_both(Statics, run_env(true, Extra), &Ref);
  orcrt_test_spawn_result_free(&Ref);
}
END_TEST

/* How many entries of /dev/shm are orcrt's shared-memory objects. */
static unsigned count_shm_objects(void) {
  DIR *D = opendir("/dev/shm");
  unsigned N = 0;
  ck_assert_ptr_nonnull(D);
  for (struct dirent *E; (E = readdir(D));)
    N += strncmp(E->d_name, "orcrt-", 6) == 0;
  closedir(D);
  return N;
}

/* -use-shared-memory needs /dev/shm, which the controller opens too: --allow-write gives it. */
START_TEST(sandbox_runs_shared_memory_with_dev_shm_allowed) {
  const char *Extra[] = {"ORCRT_ALLOW_WRITE=/dev/shm", NULL};
  const char *Args[] = {"-use-shared-memory", NULL};
  unsigned Before = count_shm_objects();
  same_as_in_process("exceptions.cpp", Args, Extra, 12, "level3(4)\n");
  /* Nothing of the session is left in /dev/shm. */
  ck_assert_uint_eq(count_shm_objects(), Before);
}
END_TEST

START_TEST(sandbox_preloads_a_library_under_allow_read) {
  const char *Lib = orcrt_e2e_shared_library("preload-lib.c", "libpreload.so");
  const char *Args[] = {orcrt_test_format("--preload=%s", Lib), NULL};
  char *Dir = orcrt_test_keep(strdup(Lib));
  *strrchr(Dir, '/') = '\0';
  const char *Extra[] = {orcrt_test_format("ORCRT_ALLOW_READ=%s", Dir), NULL};
  same_as_in_process("preload-main.c", Args, Extra, 41, "answer 41\n");
}
END_TEST

START_TEST(sandbox_runs_lli_programs_as_lli_child_target) {
  const char *Hello =
      orcrt_test_format("%s/contrib/examples/hello.c", orcrt_e2e_required_env("ORCRT_TOP_SRCDIR"));
  static const char *const Progs[] = {NULL, "threads.c", "exceptions.cpp"};
  for (size_t I = 0; I < sizeof(Progs) / sizeof(Progs[0]); I++) {
    orcrt_test_spawn_result Ref;
    orcrt_e2e_lli_both(orcrt_e2e_ir(Progs[I] ? Progs[I] : Hello, "prog.ll"), run_env(true, NULL),
                       &Ref);
    orcrt_test_spawn_result_free(&Ref);
    assert_nothing_left();
  }
}
END_TEST

/* ---- the suite ---------------------------------------------------------------------- */

static void add(Suite *S, const char *Name, const TTest *Test) {
  orcrt_test_add_process_case(S, Name, Test, CASE_TIMEOUT);
}

Suite *orcrt_suite_sandbox(void) {
  Suite *S = suite_create("sandbox");
  static const char *const Tools[] = {"ORCRT_CLANG", "ORCRT_LLVM_JITLINK", "ORCRT_LLI",
                                      "ORCRT_LLI_CHILD_TARGET"};
  for (size_t I = 0; I < sizeof(Tools) / sizeof(Tools[0]); I++)
    if (!orcrt_test_getenv(Tools[I])) {
      fprintf(stderr, "sandbox: %s is not set; configure found no LLVM 19 tools, skipping\n",
              Tools[I]);
      return S;
    }
  add(S, "read", sandbox_denies_reading_a_file_not_allowed);
  add(S, "allow_read", sandbox_reads_a_file_under_allow_read);
  add(S, "write", sandbox_denies_writing_outside_the_allowed_folder);
  add(S, "tcp", sandbox_denies_a_tcp_connection_to_loopback);
  add(S, "exec", sandbox_denies_execve_of_a_shell);
  add(S, "fork", sandbox_denies_fork);
  add(S, "ptrace", sandbox_denies_ptrace_and_process_vm_of_the_parent);
  add(S, "sigsys", sandbox_keeps_its_sigsys_handler);
  add(S, "wx", sandbox_denies_writable_and_executable_memory);
  if (!SANITIZED)
    add(S, "memory", sandbox_refuses_allocations_past_the_memory_limit);
  add(S, "cpu", sandbox_ends_code_past_the_cpu_limit_and_says_so);
  add(S, "timeout", sandbox_ends_code_past_the_wall_clock_limit_and_says_so);
  add(S, "unlisted", sandbox_ends_code_making_an_unlisted_system_call_and_names_it);
  add(S, "lli", sandbox_confines_lli_remote_mcjit_code);
  add(S, "no_landlock", sandbox_refuses_to_start_without_landlock);
  add(S, "best_effort", sandbox_best_effort_runs_without_landlock_and_says_what_is_missing);
  add(S, "options", sandbox_options_fail_closed);
  add(S, "corpus", sandbox_runs_the_corpus_as_in_process);
  add(S, "threads", sandbox_runs_threads_as_in_process);
  add(S, "cxx", sandbox_runs_cxx_exceptions_as_in_process);
  add(S, "debuginfo", sandbox_runs_debug_info_as_in_process);
  add(S, "orc_runtime", sandbox_runs_the_orc_runtime_as_in_process);
  add(S, "shared_memory", sandbox_runs_shared_memory_with_dev_shm_allowed);
  add(S, "preload", sandbox_preloads_a_library_under_allow_read);
  add(S, "lli_programs", sandbox_runs_lli_programs_as_lli_child_target);
  return S;
}

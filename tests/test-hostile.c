/*
 * test-hostile.c - what JIT'd code does to its own process must not break
 * the executor: signals it relies on, descriptors it closes or replaces,
 * children it forks, shutdowns it slows down
 *
 * The JIT'd programs are under tests/programs, run with llvm-jitlink-19 in
 * process and through orcrt-executor (e2e-util.h); the cases that need no
 * LLVM are in the suites of the component concerned.
 */
#include "config.h"

#include "e2e-util.h"
#include "run-util.h"
#include "test-util.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CASE_TIMEOUT 60.0

/* ---- SIGPIPE ------------------------------------------------------------------ */

/*
 * `yes | head -n 2`: the JIT'd yes dies of SIGPIPE once head has gone, as
 * it does in process, and the pipeline ends with head's two lines.
 */
START_TEST(hostile_yes_into_head_ends_as_in_process) {
  const char *Obj = orcrt_e2e_object("yes.c", "yes.o");
  const char *Jitlink = orcrt_e2e_required_env("ORCRT_LLVM_JITLINK");
  const char *Script = "set -o pipefail; \"$@\" | head -n 2";
  const char *In[] = {"/bin/bash", "-c", Script, "sh", Jitlink, Obj, NULL};
  const char *Out[] = {
      "/bin/bash", "-c",    Script,
      "sh",        Jitlink, orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()),
      Obj,         NULL};
  orcrt_test_spawn_result Ref, R;
  orcrt_e2e_run(In, NULL, &Ref);
  /* In process, the controller itself is what SIGPIPE ends. */
  orcrt_e2e_assert_outcome(&Ref, 128 + 13, "y\ny\n", NULL);
  ck_assert_str_eq(Ref.Out, "y\ny\n");
  orcrt_e2e_run(Out, NULL, &R);
  ck_assert_msg(!R.TimedOut, "yes | head did not end; stderr: %s",
                orcrt_e2e_shown(R.Err, R.ErrSize));
  ck_assert_str_eq(R.Out, "y\ny\n");
  /* Here the executor is what it ends, and the controller says so. */
  ck_assert_msg(strstr(R.Err, "disconnecting") != NULL, "stderr: %s",
                orcrt_e2e_shown(R.Err, R.ErrSize));
  orcrt_test_spawn_result_free(&Ref);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* JIT'd code, and what it executes, see SIGPIPE neither ignored nor blocked. */
START_TEST(hostile_jit_code_and_its_programs_keep_sigpipe_default) {
  orcrt_e2e_jitlink_program("sigpipe-state.c", NULL, NULL, 0,
                            "SIGPIPE here: not ignored, unblocked\n"
                            "executed shell: ended by SIGPIPE\n",
                            NULL);
}
END_TEST

/* ---- descriptors ----------------------------------------------------------------- */

/* Run tests/programs/Src under llvm-jitlink-19 through orcrt-executor only, with Env, into *R. */
static void run_oop(const char *Src, const char *const *Env, orcrt_test_spawn_result *R) {
  const char *Obj = orcrt_e2e_object(Src, "prog.o");
  const char *Argv[] = {orcrt_e2e_required_env("ORCRT_LLVM_JITLINK"),
                        orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()), Obj,
                        NULL};
  orcrt_e2e_RunTimeout = 20.0;
  orcrt_e2e_run(Argv, Env, R);
}

/*
 * JIT'd code that closes the descriptors on the executor's command line and
 * puts /dev/null over them does not take the channel: it has moved away.
 */
START_TEST(hostile_jit_code_replacing_the_passed_descriptors_keeps_the_channel) {
  orcrt_test_spawn_result R;
  run_oop("steal-channel.c", NULL, &R);
  orcrt_e2e_assert_outcome(&R, 0, "replaced the descriptors of filedescs=\n", NULL);
  ck_assert_msg(R.ErrSize == 0, "stderr: %s", orcrt_e2e_shown(R.Err, R.ErrSize));
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/*
 * JIT'd code that closes every descriptor from 3 up takes the channel with
 * it. The session still ends in order: a message says what happened, and
 * the output the program left buffered is flushed (it used to be lost when
 * the executor killed itself). In process, llvm-jitlink-19 itself crashes
 * on this, so there is no reference run.
 */
START_TEST(hostile_jit_code_closing_every_descriptor_ends_the_session_in_order) {
  orcrt_test_spawn_result R;
  /* ThreadSanitizer rightly calls closing the descriptors the I/O thread
     waits on a race; here that is what the JIT'd code does on purpose. */
  const char *const Env[] = {ORCRT_TEST_TSAN ? "TSAN_OPTIONS=report_bugs=0" : NULL, NULL};
  run_oop("close-all-fds.c", Env, &R);
  ck_assert_msg(strcmp(R.Out, "closing every descriptor from 3 up\nclosed them\n") == 0,
                "stdout: %s\nstderr: %s", orcrt_e2e_shown(R.Out, R.OutSize),
                orcrt_e2e_shown(R.Err, R.ErrSize));
  ck_assert_msg(strstr(R.Err, "orcrt-executor: controller channel failed: ") != NULL,
                "no message from the executor; stderr: %s", orcrt_e2e_shown(R.Err, R.ErrSize));
  ck_assert_msg(strstr(R.Err, "[warn]") == NULL, "libevent printed: %s",
                orcrt_e2e_shown(R.Err, R.ErrSize));
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* ---- children -------------------------------------------------------------------- */

/*
 * A child forked by JIT'd code, still running when the executor ends,
 * holds none of the channel: the controller sees the executor's end and
 * finishes at once. The child waits for the test to open its FIFO.
 */
START_TEST(hostile_forked_child_does_not_hold_the_channel) {
  const char *Fifo = orcrt_test_scratch_file("release");
  ck_assert_int_eq(mkfifo(Fifo, 0600), 0);
  const char *Obj = orcrt_e2e_object("fork-child.c", "fork-child.o");
  const char *Argv[] = {orcrt_e2e_required_env("ORCRT_LLVM_JITLINK"),
                        orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()),
                        Obj,
                        "-args",
                        Fifo,
                        NULL};
  orcrt_test_spawn_result R;
  /* Not orcrt_e2e_run(), which ends the test at a hang: the child must go first. */
  ck_assert_int_eq(orcrt_test_spawn(Argv, NULL, 15.0, &R), 0);
  /* The child ends once it has opened the FIFO, whatever the run did. */
  int Release = open(Fifo, O_WRONLY);
  ck_assert_int_ge(Release, 0);
  close(Release);
  ck_assert_msg(!R.TimedOut, "the controller waited for the forked child; stderr: %s",
                orcrt_e2e_shown(R.Err, R.ErrSize));
  orcrt_e2e_assert_outcome(&R, 0, "forked a child\n", NULL);
  ck_assert_uint_eq(R.ErrSize, 0);
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* ---- the end of a session ----------------------------------------------------------- */

/*
 * A library whose destructor takes 1.5 s, closed at the end of the
 * session after main has returned: the one-second grace is for code that
 * does not return, and the destructor runs to its end, as in process.
 */
START_TEST(hostile_slow_library_destructor_runs_to_its_end) {
  const char *Lib = orcrt_e2e_shared_library("slow-destructor-lib.c", "libslow.so");
  const char *Extra[] = {orcrt_test_format("--preload=%s", Lib), NULL};
  orcrt_e2e_jitlink_program("preload-main.c", Extra, NULL, 41,
                            "answer 41\nslow destructor done\n", NULL);
}
END_TEST

/* ---- the suite ------------------------------------------------------------------- */

static void add(Suite *S, const char *Name, const TTest *Test, double Timeout) {
  orcrt_test_add_process_case(S, Name, Test, Timeout);
}

Suite *orcrt_suite_hostile(void) {
  Suite *S = suite_create("hostile");
  static const char *const Tools[] = {"ORCRT_CLANG", "ORCRT_LLVM_JITLINK"};
  for (size_t I = 0; I < sizeof(Tools) / sizeof(Tools[0]); I++)
    if (!orcrt_test_getenv(Tools[I])) {
      fprintf(stderr, "hostile: %s is not set; configure found no LLVM 19 tools, skipping\n",
              Tools[I]);
      return S;
    }
  add(S, "yes_head", hostile_yes_into_head_ends_as_in_process, CASE_TIMEOUT);
  add(S, "sigpipe_default", hostile_jit_code_and_its_programs_keep_sigpipe_default, CASE_TIMEOUT);
  add(S, "fork_child", hostile_forked_child_does_not_hold_the_channel, CASE_TIMEOUT);
  add(S, "slow_destructor", hostile_slow_library_destructor_runs_to_its_end, CASE_TIMEOUT);
  add(S, "close_all_fds", hostile_jit_code_closing_every_descriptor_ends_the_session_in_order,
      CASE_TIMEOUT);
  add(S, "replaced_fds", hostile_jit_code_replacing_the_passed_descriptors_keeps_the_channel,
      CASE_TIMEOUT);
  return S;
}

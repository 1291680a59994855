/*
 * e2e-util.h - running programs under an LLVM release's controllers, in
 * process and through orcrt-executor, for the end-to-end suites
 * (test-e2e.c: LLVM 19's tools from configure; test-versions.c: each
 * release's)
 */
#ifndef ORCRT_TESTS_E2E_UTIL_H
#define ORCRT_TESTS_E2E_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "run-util.h"

/*
 * How long one compile or one JIT run may take before it counts as hung and
 * is killed: less than a test case's own timeout, so that the test kills
 * what it started rather than Check killing the test and leaving them.
 */
#define ORCRT_E2E_RUN_TIMEOUT 45.0

/* The run timeout in force (a test may raise it), and what runs read on stdin (NULL: nothing). */
extern double orcrt_e2e_RunTimeout;
extern const char *orcrt_e2e_StdinInput;

/*
 * The environment that runs orcrt-executor sandboxed (ORCRT_SANDBOX=1), with
 * what a sanitizer build needs: no address-space limit, since the shadow
 * memory takes terabytes of it. NULL-terminated.
 */
extern const char *const orcrt_e2e_SandboxEnv[];

/* ASAN_OPTIONS with leak checking off added (for LLVM's ORC runtime, which never frees its state). */
const char *orcrt_e2e_no_leak_check(void);

/* The value of Var, which make check sets (the test fails if it is not set). */
const char *orcrt_e2e_required_env(const char *Var);

/* LLVM's ORC runtime for this target, where $ORCRT_CLANG keeps it (the test fails if absent). */
const char *orcrt_e2e_orc_runtime(void);

/* The path of tests/programs/Name in the source tree. */
const char *orcrt_e2e_program(const char *Name);

/* A captured stream for a failure message, bounded. */
const char *orcrt_e2e_shown(const char *S, size_t Size);

/* Run Argv with Env added; it must end within the run timeout. run_ok: with status 0. */
void orcrt_e2e_run(const char *const *Argv, const char *const *Env, orcrt_test_spawn_result *R);
void orcrt_e2e_run_ok(const char *const *Argv);

/*
 * Compile tests/programs/Src (or Src itself if absolute) with $ORCRT_CLANG
 * into the scratch file Out with Flags; object() and ir() with -O1 into an
 * object file or LLVM IR; link_relocatable() links Objects with -r.
 */
const char *orcrt_e2e_compile(const char *Src, const char *Out, const char *const *Flags);
const char *orcrt_e2e_object(const char *Src, const char *Out);
const char *orcrt_e2e_ir(const char *Src, const char *Out);
const char *orcrt_e2e_link_relocatable(const char *Out, const char *const *Objects);
/* Compile tests/programs/Src into the shared library Out (-shared -fPIC -O1), for --preload. */
const char *orcrt_e2e_shared_library(const char *Src, const char *Out);
extern const char *const orcrt_e2e_ObjectFlags[];
extern const char *const orcrt_e2e_IRFlags[];

/* Fail unless Got has Ref's stdout, stderr and exit status exactly; What and RefName say which. */
void orcrt_e2e_assert_same(const char *What, const char *RefName,
                           const orcrt_test_spawn_result *Ref, const orcrt_test_spawn_result *Got);

/*
 * Whether R is a run of llvm-jitlink that its own teardown race ended
 * (e2e-util.c says what that leaves), given the reference run Ref;
 * Controller is how it was started.
 */
bool orcrt_e2e_controller_raced(const char *Controller, const orcrt_test_spawn_result *Ref,
                                const orcrt_test_spawn_result *R);

/*
 * $ORCRT_LLVM_JITLINK with Args, with -oop-executor=orcrt-executor and in
 * process, which must agree (a run its teardown race ended is run again);
 * the in-process run in *Ref.
 */
void orcrt_e2e_jitlink_both(const char *const *Args, const char *const *Env,
                            orcrt_test_spawn_result *Ref);

/* $ORCRT_LLI -remote-mcjit on Ll with $ORCRT_LLI_CHILD_TARGET and with orcrt-executor; *Ref the
 * former. */
void orcrt_e2e_lli_both(const char *Ll, const char *const *Env, orcrt_test_spawn_result *Ref);

/* R ended with Status, its stdout holding OutSubstr and its stderr ErrSubstr (each if not NULL). */
void orcrt_e2e_assert_outcome(const orcrt_test_spawn_result *R, int Status, const char *OutSubstr,
                              const char *ErrSubstr);

/* Compile Src and run it both ways with Extra after the object; check the reference's outcome. */
void orcrt_e2e_jitlink_program(const char *Src, const char *const *Extra, const char *const *Env,
                               int Status, const char *OutSubstr, const char *ErrSubstr);

/* Compile Src to IR and run it both ways under lli; check the reference's outcome. */
void orcrt_e2e_lli_program(const char *Src, int Status, const char *OutSubstr);

#endif /* ORCRT_TESTS_E2E_UTIL_H */

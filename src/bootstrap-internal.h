/*
 * bootstrap-internal.h - the bootstrap's operations (bootstrap.c), for its
 * wire glue (llvm19/bootstrap.c, llvm22/bootstrap.c)
 */
#ifndef ORCRT_BOOTSTRAP_INTERNAL_H
#define ORCRT_BOOTSTRAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/session.h>

/*
 * Add the bootstrap Service (JIT dispatch, run-as-main/void/int and the
 * call-target check) to S, without wire glue (see protocol.c).
 */
orc_rt_ErrorRef orcrt_bootstrap_add(orc_rt_SessionRef S);

/*
 * Whether S may call Fn with the synchronous ABI or as a function: code in
 * S's executable JIT memory or in a loaded object (jit-ranges.c). NULL, or
 * the error to answer with.
 */
orc_rt_ErrorRef orcrt_bootstrap_check_target(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn);

/* How a run-as-main ends: Err (taken) if main was not run, else what it returned. */
typedef void (*orcrt_bootstrap_main_done)(void *Ctx, orc_rt_ErrorRef Err, int Ret);

/*
 * Check Fn (orcrt_bootstrap_check_target()) and run it as
 * int main(Argc, Argv) on a thread of its own, which calls Done(Ctx, NULL,
 * the result) once its thread-specific data is destroyed, after flushing
 * stdout and stderr (0 for a main that ended its thread with
 * pthread_exit()). This thread returns at once; Argv stays the caller's
 * until Done. If Fn fails the check, Done gets the error here; if no thread
 * can be started, main runs here, as a blocking stretch of S's dispatcher.
 */
void orcrt_bootstrap_start_main(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, int Argc, char **Argv,
                                orcrt_bootstrap_main_done Done, void *Ctx);

/*
 * Call Fn (after orcrt_bootstrap_check_target()) as int (void) or as
 * int (int) on this thread, as a blocking stretch of S's dispatcher; its
 * result in *Ret. NULL, or the check's error (Fn not called).
 */
orc_rt_ErrorRef orcrt_bootstrap_run_void(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, int *Ret);
orc_rt_ErrorRef orcrt_bootstrap_run_int(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, int Arg,
                                        int *Ret);

/*
 * Whether the Size bytes at Addr are readable memory: JIT memory given a
 * readable protection, or a readable segment of a loaded object
 * (jit-ranges.c). NULL, or the error.
 */
orc_rt_ErrorRef orcrt_bootstrap_readable(orc_rt_ExecutorAddr Addr, uint64_t Size);

/*
 * Copy the Size bytes at Addr to Out if they are readable memory; else an
 * error, never a fault (not even for memory unmapped meanwhile).
 */
orc_rt_ErrorRef orcrt_bootstrap_read(orc_rt_ExecutorAddr Addr, uint64_t Size, void *Out);

/*
 * A copy of the NUL-terminated string at Addr, if it lies in readable
 * memory up to its NUL (at most Max bytes before it): in *Str (to free(),
 * NUL-terminated) with its length in *Len. An error otherwise.
 */
orc_rt_ErrorRef orcrt_bootstrap_read_string(orc_rt_ExecutorAddr Addr, size_t Max, char **Str,
                                            size_t *Len);

#endif /* ORCRT_BOOTSTRAP_INTERNAL_H */

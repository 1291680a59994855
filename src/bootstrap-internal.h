/*
 * bootstrap-internal.h - the bootstrap's operations (bootstrap.c), for its
 * wire glue (llvm19/bootstrap.c)
 */
#ifndef ORCRT_BOOTSTRAP_INTERNAL_H
#define ORCRT_BOOTSTRAP_INTERNAL_H

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/session.h>

/*
 * Whether S may call Fn with the synchronous ABI or as a function: code in
 * S's executable JIT memory or in a loaded object (jit-ranges.c). NULL, or
 * the error to answer with.
 */
orc_rt_ErrorRef orcrt_bootstrap_check_target(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn);

/*
 * Call Fn (after orcrt_bootstrap_check_target()) as int main(int, char **)
 * on a thread of its own, as int (void), or as int (int) on this thread,
 * each as a blocking stretch of S's dispatcher; its result in *Ret. NULL,
 * or the check's error (Fn not called).
 */
orc_rt_ErrorRef orcrt_bootstrap_run_main(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, int Argc,
                                         char **Argv, int *Ret);
orc_rt_ErrorRef orcrt_bootstrap_run_void(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, int *Ret);
orc_rt_ErrorRef orcrt_bootstrap_run_int(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, int Arg,
                                        int *Ret);

#endif /* ORCRT_BOOTSTRAP_INTERNAL_H */

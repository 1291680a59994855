/*
 * pipe-access-internal.h - the pipe ControllerAccess below its public API
 *
 * orc_rt_PipeControllerAccess_attach() is orcrt_pipe_create() plus
 * orc_rt_Session_attach() with orcrt_pipe_ops. The pieces are exposed so that
 * tests can wrap the ops table (e.g. to enter Disconnect from many threads)
 * and inject faults. The transport's own files share pipe-internal.h instead.
 *
 * Locks: the ops may be entered from the threads their contract in
 * orcrt/controller-access.h allows; what guards the transport's state is
 * described in pipe-internal.h.
 */
#ifndef ORCRT_PIPE_ACCESS_INTERNAL_H
#define ORCRT_PIPE_ACCESS_INTERNAL_H

#include <stdbool.h>

#include <orcrt/controller-access.h>
#include <orcrt/pipe-access.h>

/* The ops of the pipe ControllerAccess; their Ctx comes from orcrt_pipe_create(). */
extern const orc_rt_ControllerAccessOps orcrt_pipe_ops;

/*
 * A pipe ControllerAccess for InFd/OutFd, not yet connected. The descriptors
 * are not touched until Connect. Opts NULL = defaults.
 */
orc_rt_ErrorRef orcrt_pipe_create(int InFd, int OutFd, const orc_rt_PipeOptions *Opts, void **Out);

/* Free a Ctx from orcrt_pipe_create() whose Connect never succeeded. */
void orcrt_pipe_destroy_unconnected(void *Ctx);

/*
 * Fault injection: before each call read is counted against the bound (the
 * back-pressure accounting, pipe-flow.c), ask Fail; when it returns true the
 * accounting fails as it does when memory runs out. Before Connect.
 */
void orcrt_pipe_set_charge_fault(void *Ctx, bool (*Fail)(void));

#endif /* ORCRT_PIPE_ACCESS_INTERNAL_H */

/*
 * orcrt/loopback.h - a controller in the same process
 *
 * The loopback ControllerAccess connects a Session to a "controller" that
 * lives in the executor's own process: handlers registered by tag answer the
 * executor's calls, and controller-side code calls the Session's wrapper
 * functions by address. It carries every behaviour of a real channel
 * (asynchronous results, detach, failing pending calls) without pipes, for
 * tests, examples and embedders that want one.
 *
 * Handlers run on threads of the loopback's own (a thread pool), never on
 * the executor thread that made the call, since the ControllerAccess ops must
 * not block; they may answer at once or later, from any thread, and may call
 * back into the Session meanwhile.
 */
#ifndef ORCRT_LOOPBACK_H
#define ORCRT_LOOPBACK_H

#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/session.h>
#include <orcrt/wrapper-function.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orc_rt_OpaqueLoopbackController *orc_rt_LoopbackControllerRef;

/**
 * A controller-side handler. Owns Args; must answer with
 * orc_rt_LoopbackController_returnResult(LC, CallId, Result) exactly once.
 */
typedef void (*orc_rt_LoopbackHandlerFn)(void *Ctx, orc_rt_LoopbackControllerRef LC,
                                         uint64_t CallId, orc_rt_WrapperFunctionBuffer Args);

/** Create an unattached loopback controller. */
orc_rt_ErrorRef orc_rt_LoopbackController_create(orc_rt_LoopbackControllerRef *Out);

/**
 * Associate handler tag Tag with Fn(Ctx, ...). Tags are unique; only before
 * attach.
 */
orc_rt_ErrorRef orc_rt_LoopbackController_addHandler(orc_rt_LoopbackControllerRef LC,
                                                     orc_rt_ExecutorAddr Tag,
                                                     orc_rt_LoopbackHandlerFn Fn, void *Ctx);

/**
 * Attach LC to S as its ControllerAccess (the Session first, as in
 * orc_rt_PipeControllerAccess_attach()). On success S owns LC (it is freed
 * when S is destroyed; LC stays usable until then). On failure the caller
 * still owns LC.
 */
orc_rt_ErrorRef orc_rt_LoopbackController_attach(orc_rt_SessionRef S,
                                                 orc_rt_LoopbackControllerRef LC);

/** Free an LC that was never attached. NULL is ignored. */
void orc_rt_LoopbackController_destroy(orc_rt_LoopbackControllerRef LC);

/** Answer executor -> controller call CallId (ownership passes). Any thread. */
void orc_rt_LoopbackController_returnResult(orc_rt_LoopbackControllerRef LC, uint64_t CallId,
                                            orc_rt_WrapperFunctionBuffer Result);

/**
 * Call the Session's wrapper function at Fn, as the controller would
 * (ownership of Args passes). OnResult(Ctx, Result) runs exactly once, from
 * any thread; if the call cannot be made or LC disconnects first, Result is
 * an out-of-band error. Any thread.
 */
void orc_rt_LoopbackController_callWrapper(orc_rt_LoopbackControllerRef LC,
                                           orc_rt_ExecutorAddr Fn,
                                           orc_rt_WrapperFunctionBuffer Args,
                                           orc_rt_CallResultFn OnResult, void *Ctx);

/** Call Fn and wait for its result (owned by the caller). Args borrowed. */
orc_rt_WrapperFunctionBuffer orc_rt_LoopbackController_callWrapperSync(
    orc_rt_LoopbackControllerRef LC, orc_rt_ExecutorAddr Fn, const char *ArgData,
    size_t ArgSize);

/**
 * The controller goes away: S detaches (as if the channel ended in order)
 * and every pending controller -> executor call fails once. Returns at once.
 */
void orc_rt_LoopbackController_hangUp(orc_rt_LoopbackControllerRef LC);

/**
 * The ControllerAccess Disconnect of LC, exposed for tests: may be entered
 * from several threads at once; each returns when no further call will be
 * received or accepted.
 */
void orc_rt_LoopbackController_disconnect(orc_rt_LoopbackControllerRef LC);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_LOOPBACK_H */

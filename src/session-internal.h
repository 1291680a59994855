/*
 * session-internal.h - what the Session shares with the rest of the
 * library: the pending-call table of a ControllerAccess, short wrappers,
 * and (through util/waiter.h) the wait for one result and the thread of
 * its own
 */
#ifndef ORCRT_SESSION_INTERNAL_H
#define ORCRT_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <orcrt/session.h>

#include "util/u64map.h"
#include "util/waiter.h"

/*
 * A call waiting for its result, the value of a pending-call table (an
 * orcrt_u64map keyed by CallId): Fn(Ctx, Result) completes it.
 */
struct orcrt_call {
  orc_rt_CallResultFn Fn;
  void *Ctx;
};

/* Initialise M as an empty pending-call table. */
void orcrt_pending_init(struct orcrt_u64map *M);

/* Add the call Id (not present yet). Returns false if memory runs out. */
bool orcrt_pending_add(struct orcrt_u64map *M, uint64_t Id, orc_rt_CallResultFn Fn, void *Ctx);

/*
 * Complete every call in M with an out-of-band error carrying Msg, then free
 * M's storage (M is empty afterwards). Call without holding any lock: the
 * callbacks run on the calling thread.
 */
void orcrt_pending_fail_all(struct orcrt_u64map *M, const char *Msg);

/*
 * Mark Fn, one of S's own asynchronous wrapper functions (already added
 * with orc_rt_Session_addWrapperFunction()), as short: every call of it
 * returns promptly, having called Return or handed its work to S's
 * dispatcher as an ordinary Task, and never blocks (it never waits for the
 * controller, for another call or for a lock held across such a wait, and
 * runs no JIT'd code and no code it was handed). Calls to a short wrapper
 * go to the dispatcher as short tasks (its optional DispatchShort op),
 * which the pool runs on the thread that delivers the call: for the pipe
 * transport its I/O thread. Only before attach. Returns NULL or the error.
 */
orc_rt_ErrorRef orcrt_session_mark_short(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn);

#endif /* ORCRT_SESSION_INTERNAL_H */

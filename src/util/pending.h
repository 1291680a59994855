/*
 * util/pending.h - a table of calls waiting for their results, keyed by
 * CallId: the Session's calls to the controller, and the loopback
 * controller's calls to the Session
 */
#ifndef ORCRT_UTIL_PENDING_H
#define ORCRT_UTIL_PENDING_H

#include <stdbool.h>
#include <stdint.h>

#include <orcrt/session.h>

#include "util/u64map.h"

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

#endif /* ORCRT_UTIL_PENDING_H */

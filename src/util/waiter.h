/*
 * util/waiter.h - a one-shot latch carrying one result, and running a
 * function on a thread of its own
 *
 * Locks: each waiter has its own Lock, a leaf: nothing else is taken while
 * it is held, and completing a waiter calls nothing.
 */
#ifndef ORCRT_UTIL_WAITER_H
#define ORCRT_UTIL_WAITER_H

#include <pthread.h>
#include <stdbool.h>

#include <orcrt/session.h>
#include <orcrt/task-dispatcher.h>

/*
 * One thread waiting for one result: pass orcrt_waiter_complete (a result
 * callback) or orcrt_waiter_signal (a completion callback) with the waiter
 * as its context, then orcrt_waiter_wait(), optionally after
 * orcrt_waiter_timedwait().
 */
struct orcrt_waiter {
  pthread_mutex_t Lock; /* protects Done and Result */
  pthread_cond_t Cond;  /* Done became true; on CLOCK_MONOTONIC */
  bool Done;
  orc_rt_WrapperFunctionBuffer Result;
  unsigned Refs; /* a shared waiter's holders (see below); 0 for one of the caller's */
};

/* Initialise W. Returns 0, or the errno value of the failed pthread init (W is then unusable). */
int orcrt_waiter_init(struct orcrt_waiter *W);

/* An orc_rt_CallResultFn: stores Result in the waiter Ctx and wakes it. */
void orcrt_waiter_complete(void *Ctx, orc_rt_WrapperFunctionBuffer Result);

/* An orc_rt_CompletionFn: completes the waiter Ctx with an empty result. */
void orcrt_waiter_signal(void *Ctx);

/*
 * Wait at most Ms milliseconds for the completion; true if it came. W stays
 * valid either way (finish with orcrt_waiter_wait()). The wait is a blocking
 * stretch of D (when D is non-NULL and the result is not already there).
 */
bool orcrt_waiter_timedwait(struct orcrt_waiter *W, orc_rt_TaskDispatcherRef D, unsigned Ms);

/*
 * A waiter on the heap for a wait that may give up before the completion
 * comes (the completion may then come later, or never): it has two
 * holders, the waiter and the signaller, and whichever lets go last frees
 * it. NULL if memory (or a pthread init) fails.
 */
struct orcrt_waiter *orcrt_waiter_create_shared(void);

/* An orc_rt_CompletionFn for a shared waiter Ctx: complete it and let go. */
void orcrt_waiter_signal_shared(void *Ctx);

/* Wait at most Ms milliseconds for a shared waiter's completion, then let go; true if it came. */
bool orcrt_waiter_timedwait_shared(struct orcrt_waiter *W, unsigned Ms);

/*
 * Wait for the result and return it (owned by the caller); destroys W. The
 * wait is a blocking stretch of D (when D is non-NULL and the result is not
 * already there).
 */
orc_rt_WrapperFunctionBuffer orcrt_waiter_wait(struct orcrt_waiter *W, orc_rt_TaskDispatcherRef D);

/* An asynchronous call: Start(Target, Addr, Args, OnResult, Ctx), as orc_rt_Session_callController(). */
typedef void (*orcrt_async_call)(void *Target, orc_rt_ExecutorAddr Addr,
                                 orc_rt_WrapperFunctionBuffer Args, orc_rt_CallResultFn OnResult,
                                 void *Ctx);

/*
 * Make the asynchronous call Start with a copy of the ArgSize bytes at
 * ArgData and wait for its result (owned by the caller); an out-of-band
 * error if the copy or the waiter cannot be made. The wait is a blocking
 * stretch of D (may be NULL).
 */
orc_rt_WrapperFunctionBuffer orcrt_call_and_wait(orcrt_async_call Start, void *Target,
                                                 orc_rt_ExecutorAddr Addr, const char *ArgData,
                                                 size_t ArgSize, orc_rt_TaskDispatcherRef D);

/*
 * Run Fn(Arg) on a thread of its own and wait until it ends (on the calling
 * thread if no thread can be started). JIT'd programs run this way, as
 * every call does on LLVM's executors: the destructors of the
 * thread-specific data they set (pthread keys, the ORC runtime's TLS) run
 * when that thread ends, while their code is still mapped, not when a pool
 * worker exits at shutdown, after the controller deallocated the code. The
 * thread starts with the caller's signal mask.
 */
void orcrt_run_on_own_thread(void (*Fn)(void *), void *Arg);

#endif /* ORCRT_UTIL_WAITER_H */

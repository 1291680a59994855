/*
 * session-internal.h - pieces of the Session shared with ControllerAccess
 * implementations: the table of pending calls and the wait for one result
 */
#ifndef ORCRT_SESSION_INTERNAL_H
#define ORCRT_SESSION_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/session.h>

/* A call waiting for its result: OnResult(Ctx, Result) completes it. */
struct orcrt_call {
  uint64_t Id;
  orc_rt_CallResultFn Fn; /* never NULL in a used slot */
  void *Ctx;
};

/*
 * Pending calls by Id: an open-addressing hash table (linear probing,
 * deletion by backward shift), so that many concurrent calls stay cheap.
 * Zero-initialised it is empty; it is not locked (its owner locks it).
 */
struct orcrt_callmap {
  struct orcrt_call *Slots; /* NULL until the first insert */
  size_t Mask;              /* capacity - 1; capacity is a power of two */
  size_t Count;
};

/* Add C (C.Id must not be present). Returns false if memory runs out. */
bool orcrt_callmap_insert(struct orcrt_callmap *M, struct orcrt_call C);

/* Remove the call with Id into *Out. Returns false if there is none. */
bool orcrt_callmap_remove(struct orcrt_callmap *M, uint64_t Id, struct orcrt_call *Out);

/*
 * Complete every call in M with an out-of-band error carrying Msg, then free
 * M's storage (M is empty afterwards). Call without holding any lock: the
 * callbacks run on the calling thread.
 */
void orcrt_callmap_fail_all(struct orcrt_callmap *M, const char *Msg);

/*
 * One thread waiting for one result: pass orcrt_waiter_complete with the
 * waiter as the result callback, then orcrt_waiter_wait().
 */
struct orcrt_waiter {
  pthread_mutex_t Lock;
  pthread_cond_t Cond;
  bool Done;
  orc_rt_WrapperFunctionBuffer Result;
};

void orcrt_waiter_init(struct orcrt_waiter *W);

/* An orc_rt_CallResultFn: stores Result in the waiter Ctx and wakes it. */
void orcrt_waiter_complete(void *Ctx, orc_rt_WrapperFunctionBuffer Result);

/*
 * Wait for the result and return it (owned by the caller); destroys W. The
 * wait is a blocking stretch of D (when D is non-NULL and the result is not
 * already there).
 */
orc_rt_WrapperFunctionBuffer orcrt_waiter_wait(struct orcrt_waiter *W, orc_rt_TaskDispatcherRef D);

/*
 * Mark Fn, one of S's own asynchronous wrapper functions (already added
 * with orc_rt_Session_addWrapperFunction()), as short: every call of it
 * returns promptly, having called Return or handed its work to S's
 * dispatcher as an ordinary Task, and never blocks (it never waits for the
 * controller, for another call or for a lock held across such a wait, and
 * runs no JIT'd code and no code it was handed). Calls to a short wrapper
 * go to the dispatcher as short tasks (orcrt_task_dispatcher_dispatch_short()),
 * which the pool runs on the thread that delivers the call: for the pipe
 * transport its I/O thread. Only before attach. Returns NULL or the error.
 */
orc_rt_ErrorRef orcrt_session_mark_short(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn);

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

#endif /* ORCRT_SESSION_INTERNAL_H */

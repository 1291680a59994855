/*
 * util/waiter.c - the one-shot latch and the thread of its own (see waiter.h)
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "util/waiter.h"

int orcrt_waiter_init(struct orcrt_waiter *W) {
  pthread_condattr_t Attr;
  int Err = pthread_condattr_init(&Attr);
  if (Err)
    return Err;
  /* Timed waits measure an interval: immune to changes of the wall clock. */
  Err = pthread_condattr_setclock(&Attr, CLOCK_MONOTONIC);
  if (!Err)
    Err = pthread_cond_init(&W->Cond, &Attr);
  pthread_condattr_destroy(&Attr);
  if (Err)
    return Err;
  Err = pthread_mutex_init(&W->Lock, NULL);
  if (Err) {
    pthread_cond_destroy(&W->Cond);
    return Err;
  }
  W->Done = false;
  orc_rt_WrapperFunctionBuffer_init(&W->Result);
  W->Refs = 0;
  return 0;
}

void orcrt_waiter_complete(void *Ctx, orc_rt_WrapperFunctionBuffer Result) {
  struct orcrt_waiter *W = Ctx;
  pthread_mutex_lock(&W->Lock);
  W->Result = Result;
  W->Done = true;
  pthread_cond_signal(&W->Cond);
  pthread_mutex_unlock(&W->Lock);
}

void orcrt_waiter_signal(void *Ctx) {
  orc_rt_WrapperFunctionBuffer Empty;
  orc_rt_WrapperFunctionBuffer_init(&Empty);
  orcrt_waiter_complete(Ctx, Empty);
}

/* Wait until W is done or the monotonic clock passes Deadline (NULL: never). */
static bool wait_done(struct orcrt_waiter *W, orc_rt_TaskDispatcherRef D,
                      const struct timespec *Deadline) {
  pthread_mutex_lock(&W->Lock);
  bool Done = W->Done;
  pthread_mutex_unlock(&W->Lock);
  if (Done)
    return true;
  /* Tell the dispatcher before blocking, so nested calls still find a thread. */
  if (D)
    orc_rt_TaskDispatcher_blockingBegin(D);
  pthread_mutex_lock(&W->Lock);
  int Rc = 0;
  while (!W->Done && Rc != ETIMEDOUT)
    Rc = Deadline ? pthread_cond_timedwait(&W->Cond, &W->Lock, Deadline)
                  : pthread_cond_wait(&W->Cond, &W->Lock);
  Done = W->Done;
  pthread_mutex_unlock(&W->Lock);
  if (D)
    orc_rt_TaskDispatcher_blockingEnd(D);
  return Done;
}

/* The monotonic time Ms milliseconds from now. */
static struct timespec deadline_after(unsigned Ms) {
  struct timespec T;
  clock_gettime(CLOCK_MONOTONIC, &T);
  T.tv_sec += Ms / 1000;
  T.tv_nsec += (long)(Ms % 1000) * 1000000L;
  if (T.tv_nsec >= 1000000000L) {
    T.tv_sec++;
    T.tv_nsec -= 1000000000L;
  }
  return T;
}

bool orcrt_waiter_timedwait(struct orcrt_waiter *W, orc_rt_TaskDispatcherRef D, unsigned Ms) {
  struct timespec Deadline = deadline_after(Ms);
  return wait_done(W, D, &Deadline);
}

/* ---- shared waiters -------------------------------------------------------- */

struct orcrt_waiter *orcrt_waiter_create_shared(void) {
  struct orcrt_waiter *W = malloc(sizeof(*W));
  if (!W)
    return NULL;
  if (orcrt_waiter_init(W) != 0) {
    free(W);
    return NULL;
  }
  W->Refs = 2;
  return W;
}

/* Let go of W, with W->Lock held (it is released); the last holder frees W. */
static void release_shared_locked(struct orcrt_waiter *W) {
  bool Last = --W->Refs == 0;
  pthread_mutex_unlock(&W->Lock);
  if (Last) {
    orc_rt_WrapperFunctionBuffer_dispose(&W->Result);
    pthread_cond_destroy(&W->Cond);
    pthread_mutex_destroy(&W->Lock);
    free(W);
  }
}

void orcrt_waiter_signal_shared(void *Ctx) {
  struct orcrt_waiter *W = Ctx;
  pthread_mutex_lock(&W->Lock);
  W->Done = true;
  pthread_cond_broadcast(&W->Cond);
  release_shared_locked(W);
}

bool orcrt_waiter_timedwait_shared(struct orcrt_waiter *W, unsigned Ms) {
  struct timespec Deadline = deadline_after(Ms);
  pthread_mutex_lock(&W->Lock);
  while (!W->Done && pthread_cond_timedwait(&W->Cond, &W->Lock, &Deadline) != ETIMEDOUT)
    ;
  bool Done = W->Done;
  release_shared_locked(W);
  return Done;
}

orc_rt_WrapperFunctionBuffer orcrt_waiter_wait(struct orcrt_waiter *W, orc_rt_TaskDispatcherRef D) {
  wait_done(W, D, NULL);
  orc_rt_WrapperFunctionBuffer R = W->Result;
  pthread_cond_destroy(&W->Cond);
  pthread_mutex_destroy(&W->Lock);
  return R;
}

orc_rt_WrapperFunctionBuffer orcrt_call_and_wait(orcrt_async_call Start, void *Target,
                                                 orc_rt_ExecutorAddr Addr, const char *ArgData,
                                                 size_t ArgSize, orc_rt_TaskDispatcherRef D) {
  orc_rt_WrapperFunctionBuffer Args = orc_rt_WrapperFunctionBuffer_fromBytes(ArgData, ArgSize);
  if (orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Args))
    return Args;
  struct orcrt_waiter W;
  if (orcrt_waiter_init(&W)) {
    orc_rt_WrapperFunctionBuffer_dispose(&Args);
    return orc_rt_WrapperFunctionBuffer_fromOutOfBandError("cannot wait for the call");
  }
  Start(Target, Addr, Args, orcrt_waiter_complete, &W);
  return orcrt_waiter_wait(&W, D);
}

/* ---- a thread of its own ------------------------------------------------ */

struct own_thread {
  void (*Fn)(void *);
  void *Arg;
};

static void *own_thread_main(void *Ctx) {
  struct own_thread *T = Ctx;
  T->Fn(T->Arg);
  return NULL;
}

void orcrt_run_on_own_thread(void (*Fn)(void *), void *Arg) {
  struct own_thread T = {Fn, Arg};
  pthread_t Thread;
  if (pthread_create(&Thread, NULL, own_thread_main, &T) != 0) {
    Fn(Arg);
    return;
  }
  pthread_join(Thread, NULL);
}

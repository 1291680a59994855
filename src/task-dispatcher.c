/*
 * task-dispatcher.c - the TaskDispatcher handle and its contract, and the
 * task FIFO the dispatchers share
 *
 * The handle enforces what every implementation promises (a Task dispatched
 * after shutdown completed is destroyed; shutdown runs the implementation's
 * once, and every caller returns only once it has completed), so an
 * implementation need not. The dispatchers are thread-pool.c and
 * queue-dispatcher.c.
 *
 * Locks: D->Lock protects the transitions of D->State and is waited on
 * through D->Closed; it is held only around them, never across an op, so
 * it is taken after nothing and before nothing.
 */
#include "orcrt-internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/error.h>
#include <orcrt/task-dispatcher.h>

#include "task-dispatcher-internal.h"

/* ---------------------------------------------------------------------- */
/* The task FIFO                                                           */

bool orcrt_task_queue_grow(struct orcrt_task_queue *Q) {
  size_t NewCap = Q->Cap ? Q->Cap * 2 : 64;
  if (NewCap < Q->Cap || NewCap > SIZE_MAX / sizeof(orc_rt_Task))
    return false;
  orc_rt_Task *Slots = malloc(NewCap * sizeof(orc_rt_Task));
  if (!Slots)
    return false;
  /* Unwrap the ring so the oldest task lands at index 0. */
  size_t First = Q->Cap - Q->Head < Q->Len ? Q->Cap - Q->Head : Q->Len;
  if (Q->Len) {
    memcpy(Slots, Q->Slots + Q->Head, First * sizeof(orc_rt_Task));
    memcpy(Slots + First, Q->Slots, (Q->Len - First) * sizeof(orc_rt_Task));
  }
  free(Q->Slots);
  Q->Slots = Slots;
  Q->Cap = NewCap;
  Q->Head = 0;
  return true;
}

void orcrt_task_queue_destroy_all(struct orcrt_task_queue *Q) {
  orc_rt_Task T;
  while (orcrt_task_queue_pop(Q, &T))
    orcrt_task_destroy(T);
  free(Q->Slots);
  memset(Q, 0, sizeof(*Q));
}

/* ---------------------------------------------------------------------- */
/* The handle                                                              */

enum { DISPATCHER_OPEN, DISPATCHER_CLOSING, DISPATCHER_CLOSED };

struct orc_rt_OpaqueTaskDispatcher {
  const orc_rt_TaskDispatcherOps *Ops;
  void *Ctx;
  /*
   * Written under Lock; read without it by dispatch, which destroys late
   * tasks itself once shutdown has completed, whatever the Ops do.
   */
  atomic_int State;
  pthread_mutex_t Lock;
  pthread_cond_t Closed; /* State reached DISPATCHER_CLOSED */
};

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_TaskDispatcher_create(const orc_rt_TaskDispatcherOps *Ops,
                                                           void *Ctx,
                                                           orc_rt_TaskDispatcherRef *Out) {
  if (!Ops || !Ops->Dispatch || !Ops->Shutdown || !Ops->Destroy || !Out)
    return orc_rt_Error_create("task dispatcher: Ops, its Dispatch, Shutdown and Destroy, "
                               "and Out are required");
  orc_rt_TaskDispatcherRef D = malloc(sizeof(*D));
  if (!D)
    return orc_rt_Error_create("task dispatcher: out of memory");
  int Err = pthread_mutex_init(&D->Lock, NULL);
  if (Err)
    goto fail;
  Err = pthread_cond_init(&D->Closed, NULL);
  if (Err) {
    pthread_mutex_destroy(&D->Lock);
    goto fail;
  }
  D->Ops = Ops;
  D->Ctx = Ctx;
  atomic_init(&D->State, DISPATCHER_OPEN);
  *Out = D;
  return NULL;

fail:
  free(D);
  return orc_rt_Error_fromErrno(Err, "task dispatcher");
}

ORC_RT_EXPORT void orc_rt_TaskDispatcher_dispatch(orc_rt_TaskDispatcherRef D, orc_rt_Task Task) {
  if (atomic_load_explicit(&D->State, memory_order_acquire) == DISPATCHER_CLOSED) {
    orcrt_task_destroy(Task);
    return;
  }
  D->Ops->Dispatch(D->Ctx, Task);
}

void orcrt_task_dispatcher_dispatch_short(orc_rt_TaskDispatcherRef D, orc_rt_Task Task) {
  if (atomic_load_explicit(&D->State, memory_order_acquire) == DISPATCHER_CLOSED) {
    orcrt_task_destroy(Task);
    return;
  }
  if (D->Ops->DispatchShort)
    D->Ops->DispatchShort(D->Ctx, Task);
  else
    D->Ops->Dispatch(D->Ctx, Task);
}

void *orcrt_task_dispatcher_context(orc_rt_TaskDispatcherRef D, const orc_rt_TaskDispatcherOps *Ops) {
  return D && D->Ops == Ops ? D->Ctx : NULL;
}

ORC_RT_EXPORT void orc_rt_TaskDispatcher_shutdown(orc_rt_TaskDispatcherRef D) {
  pthread_mutex_lock(&D->Lock);
  if (atomic_load_explicit(&D->State, memory_order_relaxed) == DISPATCHER_OPEN) {
    /* The first caller shuts the implementation down exactly once... */
    atomic_store_explicit(&D->State, DISPATCHER_CLOSING, memory_order_relaxed);
    pthread_mutex_unlock(&D->Lock);
    D->Ops->Shutdown(D->Ctx);
    pthread_mutex_lock(&D->Lock);
    atomic_store_explicit(&D->State, DISPATCHER_CLOSED, memory_order_release);
    pthread_cond_broadcast(&D->Closed);
  } else {
    /* ...and every other caller returns only once that has completed. */
    while (atomic_load_explicit(&D->State, memory_order_relaxed) != DISPATCHER_CLOSED)
      pthread_cond_wait(&D->Closed, &D->Lock);
  }
  pthread_mutex_unlock(&D->Lock);
}

ORC_RT_EXPORT void orc_rt_TaskDispatcher_destroy(orc_rt_TaskDispatcherRef D) {
  if (!D)
    return;
  orc_rt_TaskDispatcher_shutdown(D);
  D->Ops->Destroy(D->Ctx);
  pthread_cond_destroy(&D->Closed);
  pthread_mutex_destroy(&D->Lock);
  free(D);
}

ORC_RT_EXPORT void orc_rt_TaskDispatcher_blockingBegin(orc_rt_TaskDispatcherRef D) {
  if (D->Ops->BlockingBegin)
    D->Ops->BlockingBegin(D->Ctx);
}

ORC_RT_EXPORT void orc_rt_TaskDispatcher_blockingEnd(orc_rt_TaskDispatcherRef D) {
  if (D->Ops->BlockingEnd)
    D->Ops->BlockingEnd(D->Ctx);
}


/*
 * task-dispatcher.c - the TaskDispatcher handle and the queueing dispatcher
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
  /* The implementation's short dispatch (see task-dispatcher-internal.h); NULL: as Dispatch. */
  void (*DispatchShort)(void *Ctx, orc_rt_Task T);
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
  D->DispatchShort = NULL;
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
  if (D->DispatchShort)
    D->DispatchShort(D->Ctx, Task);
  else
    D->Ops->Dispatch(D->Ctx, Task);
}

void orcrt_task_dispatcher_set_short(orc_rt_TaskDispatcherRef D,
                                     void (*DispatchShort)(void *Ctx, orc_rt_Task T)) {
  D->DispatchShort = DispatchShort;
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

/* ---------------------------------------------------------------------- */
/* The queueing dispatcher                                                 */

struct queue_dispatcher {
  pthread_mutex_t Lock;
  pthread_cond_t Idle; /* a task finished after shutdown began */
  struct orcrt_task_queue Queue;
  size_t Running; /* tasks running now, on any thread */
  bool RunInline;
  bool Closed;
};

/*
 * The tasks of queueing dispatchers running on this thread, innermost
 * first, so that a shutdown entered from one of them (which the contract
 * forbids) does not wait for itself forever.
 */
struct queue_frame {
  struct queue_dispatcher *Q;
  struct queue_frame *Up;
};
static _Thread_local struct queue_frame *TopFrame;

/* Run T with Q->Lock held on entry and on return (released meanwhile). */
static void queue_run_locked(struct queue_dispatcher *Q, orc_rt_Task T) {
  struct queue_frame F = {Q, TopFrame};
  Q->Running++;
  pthread_mutex_unlock(&Q->Lock);
  TopFrame = &F;
  T.Run(T.Ctx);
  TopFrame = F.Up;
  pthread_mutex_lock(&Q->Lock);
  Q->Running--;
  if (Q->Closed)
    pthread_cond_broadcast(&Q->Idle);
}

static void queue_dispatch(void *Ctx, orc_rt_Task T) {
  struct queue_dispatcher *Q = Ctx;
  pthread_mutex_lock(&Q->Lock);
  if (Q->Closed)
    goto refuse;
  if (Q->RunInline)
    queue_run_locked(Q, T);
  else if (!orcrt_task_queue_push(&Q->Queue, T))
    goto refuse; /* out of memory: refused like a late task */
  pthread_mutex_unlock(&Q->Lock);
  return;

refuse:
  pthread_mutex_unlock(&Q->Lock);
  orcrt_task_destroy(T);
}

static void queue_shutdown(void *Ctx) {
  struct queue_dispatcher *Q = Ctx;
  orc_rt_Task T;
  size_t Mine = 0;
  for (struct queue_frame *F = TopFrame; F; F = F->Up)
    Mine += F->Q == Q;
  pthread_mutex_lock(&Q->Lock);
  Q->Closed = true;
  while (orcrt_task_queue_pop(&Q->Queue, &T))
    queue_run_locked(Q, T);
  /* Tasks that runPending or an inline dispatch runs on other threads. */
  while (Q->Running > Mine)
    pthread_cond_wait(&Q->Idle, &Q->Lock);
  pthread_mutex_unlock(&Q->Lock);
}

static void queue_destroy(void *Ctx) {
  struct queue_dispatcher *Q = Ctx;
  orcrt_task_queue_destroy_all(&Q->Queue);
  pthread_cond_destroy(&Q->Idle);
  pthread_mutex_destroy(&Q->Lock);
  free(Q);
}

static const orc_rt_TaskDispatcherOps QueueOps = {
    .Dispatch = queue_dispatch,
    .Shutdown = queue_shutdown,
    .Destroy = queue_destroy,
};

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_QueueTaskDispatcher_create(bool RunInline,
                                                                orc_rt_TaskDispatcherRef *Out) {
  orc_rt_ErrorRef E = NULL;
  if (!Out)
    return orc_rt_Error_create("queue task dispatcher: Out is required");
  struct queue_dispatcher *Q = calloc(1, sizeof(*Q));
  if (!Q)
    return orc_rt_Error_create("queue task dispatcher: out of memory");
  int Err = pthread_mutex_init(&Q->Lock, NULL);
  if (Err)
    goto fail_free;
  Err = pthread_cond_init(&Q->Idle, NULL);
  if (Err)
    goto fail_mutex;
  Q->RunInline = RunInline;
  E = orc_rt_TaskDispatcher_create(&QueueOps, Q, Out);
  if (E)
    goto fail_cond;
  return NULL;

fail_cond:
  pthread_cond_destroy(&Q->Idle);
fail_mutex:
  pthread_mutex_destroy(&Q->Lock);
fail_free:
  free(Q);
  return E ? E : orc_rt_Error_fromErrno(Err, "queue task dispatcher");
}

ORC_RT_EXPORT size_t orc_rt_QueueTaskDispatcher_runPending(orc_rt_TaskDispatcherRef D) {
  if (!D || D->Ops != &QueueOps)
    return 0;
  struct queue_dispatcher *Q = D->Ctx;
  orc_rt_Task T;
  size_t N = 0;
  pthread_mutex_lock(&Q->Lock);
  while (orcrt_task_queue_pop(&Q->Queue, &T)) {
    queue_run_locked(Q, T);
    N++;
  }
  pthread_mutex_unlock(&Q->Lock);
  return N;
}

/*
 * queue-dispatcher.c - the queueing TaskDispatcher: no threads; tasks run
 * when the embedder asks (orc_rt_QueueTaskDispatcher_runPending()), or at
 * once inside dispatch (RunInline), for tests and threadless embedders
 *
 * Locks: Q->Lock protects Queue, Running and Closed, and is released while
 * a task runs (a task may dispatch again); Q->Idle is signalled when a task
 * ends after shutdown began. It is taken after nothing and before nothing.
 */
#include "orcrt-internal.h"

#include <pthread.h>
#include <stdlib.h>

#include <orcrt/error.h>
#include <orcrt/task-dispatcher.h>

#include "task-dispatcher-internal.h"

struct queue_dispatcher {
  pthread_mutex_t Lock;          /* protects everything below but RunInline */
  pthread_cond_t Idle;           /* a task finished after shutdown began */
  struct orcrt_task_queue Queue; /* dispatched, not yet run */
  size_t Running;                /* tasks running now, on any thread */
  bool RunInline;                /* fixed at create */
  bool Closed;                   /* shutdown has begun */
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
  struct queue_dispatcher *Q = orcrt_task_dispatcher_context(D, &QueueOps);
  if (!Q)
    return 0;
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

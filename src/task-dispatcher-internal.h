/*
 * task-dispatcher-internal.h - the task FIFO shared by the dispatchers
 */
#ifndef ORCRT_TASK_DISPATCHER_INTERNAL_H
#define ORCRT_TASK_DISPATCHER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <orcrt/task-dispatcher.h>

/*
 * A FIFO of Tasks in a ring buffer that doubles when full and is never
 * shrunk, so a dispatcher in steady state queues without allocating. The
 * caller provides the locking. A zeroed struct is an empty queue.
 */
struct orcrt_task_queue {
  orc_rt_Task *Slots; /* Cap slots; Cap is 0 or a power of two */
  size_t Cap;
  size_t Head; /* index of the oldest task */
  size_t Len;
};

/* Make room for at least one more task; false if memory runs out. */
bool orcrt_task_queue_grow(struct orcrt_task_queue *Q);

/* Destroy (unrun) every queued task and free the buffer; Q is left empty. */
void orcrt_task_queue_destroy_all(struct orcrt_task_queue *Q);

/* Append T; false if memory runs out (T is then still the caller's). */
static inline bool orcrt_task_queue_push(struct orcrt_task_queue *Q, orc_rt_Task T) {
  if (Q->Len == Q->Cap && !orcrt_task_queue_grow(Q))
    return false;
  Q->Slots[(Q->Head + Q->Len) & (Q->Cap - 1)] = T;
  Q->Len++;
  return true;
}

/* Remove the oldest task into *T; false if Q is empty. */
static inline bool orcrt_task_queue_pop(struct orcrt_task_queue *Q, orc_rt_Task *T) {
  if (Q->Len == 0)
    return false;
  *T = Q->Slots[Q->Head];
  Q->Head = (Q->Head + 1) & (Q->Cap - 1);
  Q->Len--;
  return true;
}

/*
 * Dispatch a Task that the caller guarantees is short and never blocks (see
 * DispatchShort in orcrt/task-dispatcher.h): through the implementation's
 * DispatchShort op if it has one, else as orc_rt_TaskDispatcher_dispatch().
 * Either way exactly one of its Run or Destroy is called, and after
 * shutdown completed it is destroyed. The Session uses it for the calls to
 * its own wrapper functions marked short (see orcrt_session_mark_short()),
 * which the pipe transport's I/O thread then runs itself.
 */
void orcrt_task_dispatcher_dispatch_short(orc_rt_TaskDispatcherRef D, orc_rt_Task T);

/* The context of D if its implementation is Ops, else NULL (D may be NULL). */
void *orcrt_task_dispatcher_context(orc_rt_TaskDispatcherRef D, const orc_rt_TaskDispatcherOps *Ops);

/*
 * How many workers of D, a thread pool, are inside a blocking stretch now
 * (0 for any other dispatcher): what a call that parks a worker costs, for
 * the tests.
 */
unsigned orcrt_thread_pool_blocked_workers(orc_rt_TaskDispatcherRef D);

/* Release an unrun task (its Destroy may be NULL). */
static inline void orcrt_task_destroy(orc_rt_Task T) {
  if (T.Destroy)
    T.Destroy(T.Ctx);
}

#endif /* ORCRT_TASK_DISPATCHER_INTERNAL_H */

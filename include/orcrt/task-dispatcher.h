/*
 * orcrt/task-dispatcher.h - running Tasks
 *
 * A TaskDispatcher runs Tasks; every call that arrives from the controller
 * runs as one. It is an ops table plus a context, wrapped in a handle.
 * orcrt ships two: a pthread pool, and a queueing dispatcher that runs tasks
 * only when asked (for tests and threadless embedders).
 *
 * Contract of every dispatcher:
 *  - dispatch() takes ownership of the Task; exactly one of its Run or
 *    Destroy is called, once.
 *  - After shutdown() has begun, a dispatched Task is destroyed, not run.
 *  - shutdown() returns only when every accepted Task has finished; calling
 *    it again is harmless. It must not be called from one of the
 *    dispatcher's own tasks.
 *  - blockingBegin()/blockingEnd() bracket a stretch in which the calling
 *    task may block for a long time (waiting for the controller, running
 *    JIT'd code). A pool uses them to keep enough threads free so that
 *    nesting never deadlocks and long tasks never starve others.
 *  - The optional DispatchShort op receives Tasks that the library
 *    guarantees are short: each returns promptly and never blocks (it never
 *    waits for the controller, for another call or for a lock held across
 *    such a wait, and runs no JIT'd code). An implementation may run such a
 *    Task at once on the calling thread, before DispatchShort returns,
 *    which spares a hand-off to another thread; its shutdown must then wait
 *    for those too. Without the op, such Tasks go through Dispatch.
 */
#ifndef ORCRT_TASK_DISPATCHER_H
#define ORCRT_TASK_DISPATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include <orcrt/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A unit of work. Exactly one of Run and Destroy is called, with Ctx. */
typedef struct {
  void (*Run)(void *Ctx);     /**< Runs the task; must release Ctx itself. */
  void (*Destroy)(void *Ctx); /**< Releases an unrun task; may be NULL. */
  void *Ctx;
} orc_rt_Task;

/** The operations of a TaskDispatcher implementation. */
typedef struct {
  /** Run or queue Task; after shutdown began, destroy it. Any thread. */
  void (*Dispatch)(void *Ctx, orc_rt_Task Task);
  /** Refuse new tasks and wait for accepted ones. Idempotent. */
  void (*Shutdown)(void *Ctx);
  /** Free Ctx; called once, after Shutdown. */
  void (*Destroy)(void *Ctx);
  /** Optional (may be NULL): the calling task is about to block. */
  void (*BlockingBegin)(void *Ctx);
  /** Optional (may be NULL): the blocking stretch is over. */
  void (*BlockingEnd)(void *Ctx);
  /**
   * Optional (may be NULL: Dispatch is used): as Dispatch, for a Task that
   * is short and never blocks (see the contract above); may run it at once
   * on the calling thread. Any thread.
   */
  void (*DispatchShort)(void *Ctx, orc_rt_Task Task);
} orc_rt_TaskDispatcherOps;

typedef struct orc_rt_OpaqueTaskDispatcher *orc_rt_TaskDispatcherRef;

/**
 * Wrap a custom implementation. Ops must outlive the dispatcher. On success
 * the handle owns Ctx (Ops->Destroy frees it); on failure nothing is taken.
 */
orc_rt_ErrorRef orc_rt_TaskDispatcher_create(const orc_rt_TaskDispatcherOps *Ops, void *Ctx,
                                             orc_rt_TaskDispatcherRef *Out);

/**
 * A pool of NumThreads worker threads (0: one per online CPU, at least 2).
 * Threads beyond NumThreads are started only while tasks are blocked in a
 * blocking stretch and work is waiting; they exit when idle. Every worker
 * starts with the signal mask of the thread calling this function.
 */
orc_rt_ErrorRef orc_rt_ThreadPoolTaskDispatcher_create(unsigned NumThreads,
                                                       orc_rt_TaskDispatcherRef *Out);

/**
 * A dispatcher with no threads. Dispatched tasks are queued and run by
 * orc_rt_QueueTaskDispatcher_runPending() on the caller's thread; if
 * RunInline is true they instead run at once inside dispatch(). shutdown()
 * runs whatever is still queued, on the calling thread.
 */
orc_rt_ErrorRef orc_rt_QueueTaskDispatcher_create(bool RunInline,
                                                  orc_rt_TaskDispatcherRef *Out);

/**
 * Run queued tasks of a queueing dispatcher on the calling thread until the
 * queue is empty (tasks queued meanwhile included). Returns how many ran;
 * 0 for a dispatcher of another kind.
 */
size_t orc_rt_QueueTaskDispatcher_runPending(orc_rt_TaskDispatcherRef D);

/** Dispatch Task (ownership passes). Any thread. */
void orc_rt_TaskDispatcher_dispatch(orc_rt_TaskDispatcherRef D, orc_rt_Task Task);

/** Shut D down (see the contract above). Any thread but D's own tasks. */
void orc_rt_TaskDispatcher_shutdown(orc_rt_TaskDispatcherRef D);

/** Shut D down if needed, then free it. NULL is ignored. */
void orc_rt_TaskDispatcher_destroy(orc_rt_TaskDispatcherRef D);

/** Bracket a blocking stretch of the calling task (no-op where unsupported). */
void orc_rt_TaskDispatcher_blockingBegin(orc_rt_TaskDispatcherRef D);
void orc_rt_TaskDispatcher_blockingEnd(orc_rt_TaskDispatcherRef D);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_TASK_DISPATCHER_H */

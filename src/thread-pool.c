/*
 * thread-pool.c - the pthread pool TaskDispatcher
 *
 * One mutex guards a FIFO of tasks. An idle worker sleeps on a condition
 * variable of its own, on a stack of idle workers; a dispatch wakes the most
 * recently idle one (its cache is warm) only when the queued tasks outnumber
 * the workers already being woken. One waiter per condition variable also
 * keeps clear of glibc's condvar group switch, where pthread_cond_signal()
 * can block until a previously woken waiter has been scheduled. Workers
 * start lazily: a dispatch starts one when no worker is idle and fewer than
 * the target are runnable, so an idle executor holds no threads it never
 * needed.
 *
 * Managed blocking: a worker inside blockingBegin()/blockingEnd() is not
 * runnable, so it stops counting toward the target and another worker is
 * started whenever work is queued. Nested calls (a task waits for the
 * controller, which calls back into the executor, which waits again...)
 * therefore always find a thread, however deep they go. There is
 * deliberately no upper bound on the number of threads: a cap would bring
 * that deadlock back. Workers above the target exit as soon as they find the
 * queue empty.
 *
 * Short tasks (the DispatchShort op: the caller vouches
 * that they return promptly and never block) run at once on the thread that
 * dispatches them, counted in Inline so that shutdown waits for them too.
 * The pipe transport's I/O thread dispatches the calls to the Session's
 * short wrapper functions (a memory write, a reservation) that way: a
 * hand-off to a worker and back costs two thread wake-ups, many times what
 * such a call costs to run. Anything that may block, JIT'd code above all,
 * is dispatched normally and never runs there.
 *
 * Every worker is joined: an exiting worker records itself as the pool's
 * last exited thread and joins the one recorded before it, and shutdown
 * joins the last. Shutdown called from one of the pool's own tasks (outside
 * the contract) does not deadlock: that worker waits for all the others,
 * then detaches itself and exits on its own once its task returns; if the
 * task also destroys the dispatcher, that worker frees the pool on its way
 * out.
 */
#include "orcrt-internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <orcrt/error.h>
#include <orcrt/task-dispatcher.h>

#include "task-dispatcher-internal.h"

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
#define HAVE_ATTR_SIGMASK 1
#endif

struct thread_pool {
  pthread_mutex_t Lock;
  pthread_cond_t ExitCond; /* shutdown waits here for workers to exit */
  struct orcrt_task_queue Queue;
  struct worker *IdleTop; /* sleeping workers, not yet woken, last in first */
  unsigned Target;        /* runnable workers wanted when there is work; 0: not yet known */
  unsigned Threads;       /* workers started and not yet exited */
  unsigned Waking;        /* woken or started, not yet back under Lock */
  unsigned Blocked;       /* workers inside a blocking stretch */
  bool Closed;            /* shutdown has begun */
  /* Short tasks take no lock: these two, sequentially consistent, instead. */
  atomic_uint Inline;      /* short tasks running on their dispatching threads */
  atomic_bool ShortClosed; /* Closed, for them */
  bool Orphaned;           /* destroyed while a worker still runs: it frees */
  bool HaveLast;
  pthread_t Last; /* the most recently exited worker, not yet joined */
  pthread_attr_t Attr;
  sigset_t Mask; /* the signal mask of the creating thread, every worker's */
};

/* What a worker thread knows about itself; lives on its stack. */
struct worker {
  struct thread_pool *Pool;
  pthread_cond_t Wake; /* it sleeps on this while on the idle stack */
  bool Woken;
  struct worker *NextIdle;
  unsigned Depth; /* nesting of blocking stretches */
  bool Detach;    /* it called shutdown: nobody will join it */
};

/* The worker running on this thread, if it is one. */
static _Thread_local struct worker *CurrentWorker;
/* The short tasks of a pool running on this thread (outside its workers). */
static _Thread_local struct thread_pool *InlinePool;
static _Thread_local unsigned InlineDepth;

static void *worker_main(void *Arg);

static void pool_free(struct thread_pool *P) {
  orcrt_task_queue_destroy_all(&P->Queue); /* empty after shutdown; frees the ring */
  pthread_attr_destroy(&P->Attr);
  pthread_cond_destroy(&P->ExitCond);
  pthread_mutex_destroy(&P->Lock);
  free(P);
}

/*
 * Start one worker (Lock held). If that fails while no worker is runnable,
 * nothing would ever run the queue, so the queued tasks move to *Doomed to
 * be destroyed once the lock is released.
 */
static void pool_start_worker_locked(struct thread_pool *P, struct orcrt_task_queue *Doomed) {
  pthread_t T;
#ifdef HAVE_ATTR_SIGMASK
  int Err = pthread_create(&T, &P->Attr, worker_main, P);
#else
  sigset_t Old;
  pthread_sigmask(SIG_SETMASK, &P->Mask, &Old);
  int Err = pthread_create(&T, &P->Attr, worker_main, P);
  pthread_sigmask(SIG_SETMASK, &Old, NULL);
#endif
  if (Err == 0) {
    /* Runnable from now on, so concurrent dispatches do not overshoot. */
    P->Threads++;
    P->Waking++;
    return;
  }
  if (P->Threads == P->Blocked) {
    *Doomed = P->Queue;
    memset(&P->Queue, 0, sizeof(P->Queue));
  }
}

/*
 * Wake the most recently idle worker (Lock held). Signalled under the lock:
 * once Woken is set the worker may leave, and its condition variable with
 * it, as soon as it can take the lock.
 */
static void pool_wake_one_locked(struct thread_pool *P) {
  struct worker *W = P->IdleTop;
  P->IdleTop = W->NextIdle;
  W->Woken = true;
  P->Waking++;
  pthread_cond_signal(&W->Wake);
}

/*
 * Find a thread for queued tasks that no woken worker will take (Lock
 * held): wake an idle worker, or start one if fewer than the target are
 * runnable.
 */
static void pool_kick_locked(struct thread_pool *P, struct orcrt_task_queue *Doomed) {
  if (P->Queue.Len <= P->Waking)
    return;
  if (P->IdleTop) {
    pool_wake_one_locked(P);
    return;
  }
  /* The default size is counted when the first worker starts, not at
     creation: counting CPUs reads a file, and an executor's start-up is on
     its controller's clock. */
  if (!P->Target) {
    long N = sysconf(_SC_NPROCESSORS_ONLN);
    P->Target = N < 2 ? 2 : (unsigned)N;
  }
  if (P->Threads - P->Blocked < P->Target)
    pool_start_worker_locked(P, Doomed);
}

static void *worker_main(void *Arg) {
  struct thread_pool *P = Arg;
  struct worker Self = {.Pool = P};
  orc_rt_Task T;
  pthread_cond_init(&Self.Wake, NULL);
  CurrentWorker = &Self;

  pthread_mutex_lock(&P->Lock);
  P->Waking--;
  for (;;) {
    if (orcrt_task_queue_pop(&P->Queue, &T)) {
      pthread_mutex_unlock(&P->Lock);
      T.Run(T.Ctx);
      pthread_mutex_lock(&P->Lock);
      if (Self.Depth) { /* the task left a blocking stretch open */
        Self.Depth = 0;
        P->Blocked--;
      }
      continue;
    }
    if (P->Closed || P->Threads - P->Blocked > P->Target)
      break;
    Self.Woken = false;
    Self.NextIdle = P->IdleTop;
    P->IdleTop = &Self;
    while (!Self.Woken)
      pthread_cond_wait(&Self.Wake, &P->Lock);
    P->Waking--;
  }

  bool HavePrev = P->HaveLast;
  pthread_t Prev = P->Last;
  P->HaveLast = !Self.Detach;
  if (!Self.Detach)
    P->Last = pthread_self();
  P->Threads--;
  if (P->Closed)
    pthread_cond_broadcast(&P->ExitCond);
  bool Free = P->Orphaned && P->Threads == 0;
  pthread_mutex_unlock(&P->Lock);

  CurrentWorker = NULL;
  pthread_cond_destroy(&Self.Wake);
  if (HavePrev)
    pthread_join(Prev, NULL);
  if (Self.Detach)
    pthread_detach(pthread_self());
  if (Free)
    pool_free(P);
  return NULL;
}

static void pool_dispatch(void *Ctx, orc_rt_Task T) {
  struct thread_pool *P = Ctx;
  struct orcrt_task_queue Doomed = {0};
  pthread_mutex_lock(&P->Lock);
  /* Late, or out of memory: refused either way. */
  if (P->Closed || !orcrt_task_queue_push(&P->Queue, T)) {
    pthread_mutex_unlock(&P->Lock);
    orcrt_task_destroy(T);
    return;
  }
  pool_kick_locked(P, &Doomed);
  pthread_mutex_unlock(&P->Lock);
  if (Doomed.Cap)
    orcrt_task_queue_destroy_all(&Doomed);
}

/* A short task is over: wake a shutdown waiting for the last one. */
static void pool_short_done(struct thread_pool *P) {
  if (atomic_fetch_sub(&P->Inline, 1) == 1 && atomic_load(&P->ShortClosed)) {
    pthread_mutex_lock(&P->Lock);
    pthread_cond_broadcast(&P->ExitCond);
    pthread_mutex_unlock(&P->Lock);
  }
}

/*
 * Run a short task on the calling thread, unless shutdown has begun. It
 * counts itself in, then looks; shutdown marks itself, then counts: one of
 * the two sees the other.
 */
static void pool_dispatch_short(void *Ctx, orc_rt_Task T) {
  struct thread_pool *P = Ctx;
  atomic_fetch_add(&P->Inline, 1);
  if (atomic_load(&P->ShortClosed)) {
    pool_short_done(P);
    orcrt_task_destroy(T);
    return;
  }

  struct thread_pool *OuterPool = InlinePool;
  unsigned OuterDepth = InlineDepth;
  InlinePool = P;
  InlineDepth = OuterPool == P ? OuterDepth + 1 : 1;
  T.Run(T.Ctx);
  InlinePool = OuterPool;
  InlineDepth = OuterDepth;
  pool_short_done(P);
}

static void pool_blocking_begin(void *Ctx) {
  struct thread_pool *P = Ctx;
  struct worker *W = CurrentWorker;
  if (!W || W->Pool != P || W->Depth++ > 0)
    return;
  struct orcrt_task_queue Doomed = {0};
  pthread_mutex_lock(&P->Lock);
  P->Blocked++;
  pool_kick_locked(P, &Doomed);
  pthread_mutex_unlock(&P->Lock);
  if (Doomed.Cap)
    orcrt_task_queue_destroy_all(&Doomed);
}

static void pool_blocking_end(void *Ctx) {
  struct thread_pool *P = Ctx;
  struct worker *W = CurrentWorker;
  if (!W || W->Pool != P || W->Depth == 0 || --W->Depth > 0)
    return;
  pthread_mutex_lock(&P->Lock);
  P->Blocked--;
  /* One worker too many now: let an idle one notice and exit. */
  if (P->IdleTop && P->Threads - P->Blocked > P->Target)
    pool_wake_one_locked(P);
  pthread_mutex_unlock(&P->Lock);
}

static void pool_shutdown(void *Ctx) {
  struct thread_pool *P = Ctx;
  struct worker *Self = CurrentWorker && CurrentWorker->Pool == P ? CurrentWorker : NULL;
  struct orcrt_task_queue Doomed = {0};

  pthread_mutex_lock(&P->Lock);
  P->Closed = true;
  atomic_store(&P->ShortClosed, true);
  while (P->IdleTop)
    pool_wake_one_locked(P);
  if (Self) {
    /* It cannot join itself; while it waits it counts as blocked. */
    Self->Detach = true;
    if (Self->Depth++ == 0) {
      P->Blocked++;
      pool_kick_locked(P, &Doomed);
    }
    if (Doomed.Cap) {
      pthread_mutex_unlock(&P->Lock);
      orcrt_task_queue_destroy_all(&Doomed);
      pthread_mutex_lock(&P->Lock);
    }
  }
  /* A short task that shuts its own pool down (outside the contract) cannot wait for itself. */
  unsigned MineInline = InlinePool == P ? InlineDepth : 0;
  while (P->Threads > (Self ? 1u : 0u) || atomic_load(&P->Inline) > MineInline)
    pthread_cond_wait(&P->ExitCond, &P->Lock);
  if (Self && --Self->Depth == 0)
    P->Blocked--;
  bool HaveLast = P->HaveLast;
  pthread_t Last = P->Last;
  P->HaveLast = false;
  pthread_mutex_unlock(&P->Lock);
  /* Joining the last worker to exit joins them all (each joined its predecessor). */
  if (HaveLast)
    pthread_join(Last, NULL);
}

static void pool_destroy(void *Ctx) {
  struct thread_pool *P = Ctx;
  pthread_mutex_lock(&P->Lock);
  if (P->Threads > 0) {
    /* Destroyed from its own task after shutdown: its worker frees P. */
    P->Orphaned = true;
    pthread_mutex_unlock(&P->Lock);
    return;
  }
  pthread_mutex_unlock(&P->Lock);
  pool_free(P);
}

static const orc_rt_TaskDispatcherOps PoolOps = {
    .Dispatch = pool_dispatch,
    .Shutdown = pool_shutdown,
    .Destroy = pool_destroy,
    .BlockingBegin = pool_blocking_begin,
    .BlockingEnd = pool_blocking_end,
    .DispatchShort = pool_dispatch_short,
};

unsigned orcrt_thread_pool_blocked_workers(orc_rt_TaskDispatcherRef D) {
  struct thread_pool *P = orcrt_task_dispatcher_context(D, &PoolOps);
  if (!P)
    return 0;
  pthread_mutex_lock(&P->Lock);
  unsigned N = P->Blocked;
  pthread_mutex_unlock(&P->Lock);
  return N;
}

ORC_RT_EXPORT orc_rt_ErrorRef
orc_rt_ThreadPoolTaskDispatcher_create(unsigned NumThreads, orc_rt_TaskDispatcherRef *Out) {
  orc_rt_ErrorRef E = NULL;
  int Err = 0;
  if (!Out)
    return orc_rt_Error_create("thread pool task dispatcher: Out is required");
  struct thread_pool *P = calloc(1, sizeof(*P));
  if (!P)
    return orc_rt_Error_create("thread pool task dispatcher: out of memory");
  P->Target = NumThreads;
  atomic_init(&P->Inline, 0);
  atomic_init(&P->ShortClosed, false);
  if ((Err = pthread_mutex_init(&P->Lock, NULL)))
    goto fail_free;
  if ((Err = pthread_cond_init(&P->ExitCond, NULL)))
    goto fail_mutex;
  if ((Err = pthread_attr_init(&P->Attr)))
    goto fail_exit_cond;
  /*
   * Workers run JIT'd code, which may handle its own signals (a SIGSEGV
   * handler, raise()): they start with the signal mask of this thread, as
   * its code would run in process, whichever thread later starts them.
   */
  pthread_sigmask(SIG_SETMASK, NULL, &P->Mask);
#ifdef HAVE_ATTR_SIGMASK
  if ((Err = pthread_attr_setsigmask_np(&P->Attr, &P->Mask)))
    goto fail_attr;
#endif
  E = orc_rt_TaskDispatcher_create(&PoolOps, P, Out);
  if (E)
    goto fail_attr;
  return NULL;

fail_attr:
  pthread_attr_destroy(&P->Attr);
fail_exit_cond:
  pthread_cond_destroy(&P->ExitCond);
fail_mutex:
  pthread_mutex_destroy(&P->Lock);
fail_free:
  free(P);
  return E ? E : orc_rt_Error_fromErrno(Err, "thread pool task dispatcher");
}

/*
 * test-dispatcher.c - TaskDispatchers: the handle, the queueing dispatcher
 * and the thread pool (DESIGN S12-S14)
 *
 * Deadlock-freedom tests fail by hitting their case's timeout.
 */
#include "config.h"

#include "test-util.h"

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <orcrt/task-dispatcher.h>

#include "task-dispatcher-internal.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

/* Counts runs and destructions of tasks whose Ctx is the counter. */
struct counter {
  atomic_uint Ran;
  atomic_uint Destroyed;
};

static void counter_run(void *Ctx) {
  struct counter *C = Ctx;
  atomic_fetch_add(&C->Ran, 1);
}

static void counter_destroy(void *Ctx) {
  struct counter *C = Ctx;
  atomic_fetch_add(&C->Destroyed, 1);
}

static orc_rt_Task counter_task(struct counter *C) {
  return (orc_rt_Task){counter_run, counter_destroy, C};
}

/* A task that says it started, then holds its thread until released. */
struct holder {
  orcrt_test_latch Started;
  orcrt_test_latch Release;
};

static void holder_init(struct holder *H) {
  orcrt_test_latch_init(&H->Started);
  orcrt_test_latch_init(&H->Release);
}

static void holder_fini(struct holder *H) {
  orcrt_test_latch_destroy(&H->Started);
  orcrt_test_latch_destroy(&H->Release);
}

static void holder_run(void *Ctx) {
  struct holder *H = Ctx;
  orcrt_test_latch_signal(&H->Started);
  orcrt_test_latch_wait(&H->Release, 1);
}

static orc_rt_Task holder_task(struct holder *H) {
  return (orc_rt_Task){holder_run, NULL, H};
}

/* The number of threads of this process. */
static int count_threads(void) {
  DIR *D = opendir("/proc/self/task");
  ck_assert_ptr_nonnull(D);
  int N = 0;
  struct dirent *E;
  while ((E = readdir(D)))
    if (E->d_name[0] != '.')
      N++;
  closedir(D);
  return N;
}

/* A probe that tells whether the dispatcher already refuses tasks. */
struct probe {
  atomic_uint Ran;
  atomic_bool Refused;
};

static void probe_run(void *Ctx) {
  struct probe *P = Ctx;
  atomic_fetch_add(&P->Ran, 1);
}

static void probe_destroy(void *Ctx) {
  struct probe *P = Ctx;
  atomic_store(&P->Refused, true);
}

/*
 * Return once a shutdown running on another thread has begun, i.e. once a
 * dispatched probe is destroyed (synchronously, inside dispatch). Probes
 * accepted before that are counted and run like any task. No sleeping: it
 * yields between probes.
 */
static unsigned wait_until_refusing(orc_rt_TaskDispatcherRef D, struct probe *P) {
  unsigned Sent = 0;
  for (;;) {
    orc_rt_TaskDispatcher_dispatch(D, (orc_rt_Task){probe_run, probe_destroy, P});
    Sent++;
    if (atomic_load(&P->Refused))
      return Sent;
    sched_yield();
  }
}

/* Dispatching from several threads at once. */
enum { PRODUCERS = 8, PER_PRODUCER = 1000 };

struct producer {
  orc_rt_TaskDispatcherRef D;
  atomic_uint *Slots; /* PER_PRODUCER of them, one per task */
  orcrt_test_latch *Go;
};

static void slot_run(void *Ctx) {
  atomic_fetch_add((atomic_uint *)Ctx, 1);
}

static void *producer_main(void *Arg) {
  struct producer *P = Arg;
  orcrt_test_latch_wait(P->Go, 1);
  for (unsigned I = 0; I < PER_PRODUCER; I++)
    orc_rt_TaskDispatcher_dispatch(P->D, (orc_rt_Task){slot_run, NULL, &P->Slots[I]});
  return NULL;
}

/* Dispatch PRODUCERS * PER_PRODUCER tasks into D from PRODUCERS threads. */
static void dispatch_from_many_threads(orc_rt_TaskDispatcherRef D, atomic_uint *Slots) {
  pthread_t T[PRODUCERS];
  struct producer P[PRODUCERS];
  orcrt_test_latch Go;
  orcrt_test_latch_init(&Go);
  for (unsigned I = 0; I < PRODUCERS; I++) {
    P[I] = (struct producer){D, Slots + I * PER_PRODUCER, &Go};
    ck_assert_int_eq(pthread_create(&T[I], NULL, producer_main, &P[I]), 0);
  }
  orcrt_test_latch_signal(&Go);
  for (unsigned I = 0; I < PRODUCERS; I++)
    pthread_join(T[I], NULL);
  orcrt_test_latch_destroy(&Go);
}

/* ---------------------------------------------------------------------- */
/* The handle, over a custom implementation                                */

struct fake {
  unsigned Dispatched, Shutdowns, Destroys, Begins, Ends;
  unsigned ShutdownsAtDestroy;
};

static void fake_dispatch(void *Ctx, orc_rt_Task T) {
  struct fake *F = Ctx;
  F->Dispatched++;
  T.Run(T.Ctx);
}

static void fake_shutdown(void *Ctx) {
  struct fake *F = Ctx;
  F->Shutdowns++;
}

static void fake_destroy(void *Ctx) {
  struct fake *F = Ctx;
  F->Destroys++;
  F->ShutdownsAtDestroy = F->Shutdowns;
}

static void fake_begin(void *Ctx) {
  struct fake *F = Ctx;
  F->Begins++;
}

static void fake_end(void *Ctx) {
  struct fake *F = Ctx;
  F->Ends++;
}

static const orc_rt_TaskDispatcherOps FakeOps = {
    fake_dispatch, fake_shutdown, fake_destroy, fake_begin, fake_end,
};

START_TEST(dispatcher_create_rejects_missing_required_ops) {
  struct fake F = {0};
  orc_rt_TaskDispatcherRef D = (orc_rt_TaskDispatcherRef)&F;
  orc_rt_TaskDispatcherOps NoDispatch = FakeOps, NoShutdown = FakeOps, NoDestroy = FakeOps;
  NoDispatch.Dispatch = NULL;
  NoShutdown.Shutdown = NULL;
  NoDestroy.Destroy = NULL;
  ck_assert_error_contains(orc_rt_TaskDispatcher_create(NULL, &F, &D), "required");
  ck_assert_error_contains(orc_rt_TaskDispatcher_create(&NoDispatch, &F, &D), "required");
  ck_assert_error_contains(orc_rt_TaskDispatcher_create(&NoShutdown, &F, &D), "required");
  ck_assert_error_contains(orc_rt_TaskDispatcher_create(&NoDestroy, &F, &D), "required");
  ck_assert_ptr_eq(D, (orc_rt_TaskDispatcherRef)&F);
  ck_assert_uint_eq(F.Destroys, 0);
}
END_TEST

START_TEST(dispatcher_forwards_dispatch_and_blocking_to_ops) {
  struct fake F = {0};
  struct counter C = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_TaskDispatcher_create(&FakeOps, &F, &D));
  orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
  orc_rt_TaskDispatcher_blockingBegin(D);
  orc_rt_TaskDispatcher_blockingEnd(D);
  ck_assert_uint_eq(F.Dispatched, 1);
  ck_assert_uint_eq(atomic_load(&C.Ran), 1);
  ck_assert_uint_eq(F.Begins, 1);
  ck_assert_uint_eq(F.Ends, 1);
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 0);
  orc_rt_TaskDispatcher_destroy(D);

  /* Without the optional blocking ops, bracketing is a no-op. */
  orc_rt_TaskDispatcherOps NoBlocking = FakeOps;
  NoBlocking.BlockingBegin = NoBlocking.BlockingEnd = NULL;
  ck_assert_no_error(orc_rt_TaskDispatcher_create(&NoBlocking, &F, &D));
  orc_rt_TaskDispatcher_blockingBegin(D);
  orc_rt_TaskDispatcher_blockingEnd(D);
  ck_assert_uint_eq(F.Begins, 1);
  orc_rt_TaskDispatcher_destroy(D);
}
END_TEST

START_TEST(dispatcher_shuts_ops_down_once_then_destroys) {
  struct fake F = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_TaskDispatcher_create(&FakeOps, &F, &D));
  orc_rt_TaskDispatcher_shutdown(D);
  orc_rt_TaskDispatcher_shutdown(D);
  ck_assert_uint_eq(F.Shutdowns, 1);
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(F.Shutdowns, 1);
  ck_assert_uint_eq(F.Destroys, 1);

  /* Destroy without shutdown shuts down first. */
  struct fake G = {0};
  ck_assert_no_error(orc_rt_TaskDispatcher_create(&FakeOps, &G, &D));
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(G.Destroys, 1);
  ck_assert_uint_eq(G.ShutdownsAtDestroy, 1);
  orc_rt_TaskDispatcher_destroy(NULL);
}
END_TEST

START_TEST(dispatcher_destroys_task_dispatched_after_shutdown) {
  /* The fake would run it: the handle itself must refuse. */
  struct fake F = {0};
  struct counter C = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_TaskDispatcher_create(&FakeOps, &F, &D));
  orc_rt_TaskDispatcher_shutdown(D);
  orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
  orc_rt_TaskDispatcher_dispatch(D, (orc_rt_Task){counter_run, NULL, &C});
  ck_assert_uint_eq(atomic_load(&C.Ran), 0);
  ck_assert_uint_eq(atomic_load(&C.Destroyed), 1);
  ck_assert_uint_eq(F.Dispatched, 0);
  orc_rt_TaskDispatcher_destroy(D);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The queueing dispatcher                                                 */

struct order {
  unsigned Seen[64];
  unsigned N;
};

struct order_task {
  struct order *O;
  unsigned Id;
};

static void order_run(void *Ctx) {
  struct order_task *T = Ctx;
  T->O->Seen[T->O->N++] = T->Id;
}

START_TEST(queue_runs_pending_tasks_once_in_fifo_order) {
  enum { N = 50 };
  struct order O = {{0}, 0};
  struct order_task T[N];
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(false, &D));
  for (unsigned I = 0; I < N; I++) {
    T[I] = (struct order_task){&O, I};
    orc_rt_TaskDispatcher_dispatch(D, (orc_rt_Task){order_run, NULL, &T[I]});
  }
  ck_assert_uint_eq(O.N, 0);
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), N);
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 0);
  ck_assert_uint_eq(O.N, N);
  for (unsigned I = 0; I < N; I++)
    ck_assert_uint_eq(O.Seen[I], I);
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(O.N, N);
}
END_TEST

struct redispatch {
  orc_rt_TaskDispatcherRef D;
  struct counter C;
  unsigned Left;
};

static void redispatch_run(void *Ctx) {
  struct redispatch *R = Ctx;
  atomic_fetch_add(&R->C.Ran, 1);
  if (R->Left-- > 0)
    orc_rt_TaskDispatcher_dispatch(R->D, (orc_rt_Task){redispatch_run, NULL, R});
}

START_TEST(queue_run_pending_includes_tasks_queued_meanwhile) {
  struct redispatch R = {.Left = 9};
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(false, &R.D));
  orc_rt_TaskDispatcher_dispatch(R.D, (orc_rt_Task){redispatch_run, NULL, &R});
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(R.D), 10);
  ck_assert_uint_eq(atomic_load(&R.C.Ran), 10);
  orc_rt_TaskDispatcher_destroy(R.D);
}
END_TEST

START_TEST(queue_run_inline_runs_task_inside_dispatch) {
  struct counter C = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(true, &D));
  orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
  ck_assert_uint_eq(atomic_load(&C.Ran), 1);
  orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
  ck_assert_uint_eq(atomic_load(&C.Ran), 2);
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 0);
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(atomic_load(&C.Ran), 2);
  ck_assert_uint_eq(atomic_load(&C.Destroyed), 0);
}
END_TEST

struct on_thread {
  pthread_t Expected;
  atomic_uint Ran, Elsewhere;
};

static void on_thread_run(void *Ctx) {
  struct on_thread *T = Ctx;
  atomic_fetch_add(&T->Ran, 1);
  if (!pthread_equal(pthread_self(), T->Expected))
    atomic_fetch_add(&T->Elsewhere, 1);
}

START_TEST(queue_shutdown_runs_10000_queued_tasks_on_calling_thread) {
  enum { N = 10000 };
  struct on_thread T = {.Expected = pthread_self()};
  struct counter Late = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(false, &D));
  for (unsigned I = 0; I < N; I++)
    orc_rt_TaskDispatcher_dispatch(D, (orc_rt_Task){on_thread_run, NULL, &T});
  ck_assert_uint_eq(atomic_load(&T.Ran), 0);
  orc_rt_TaskDispatcher_shutdown(D);
  ck_assert_uint_eq(atomic_load(&T.Ran), N);
  ck_assert_uint_eq(atomic_load(&T.Elsewhere), 0);

  /* Refused from now on, and nothing is left to run. */
  orc_rt_TaskDispatcher_dispatch(D, counter_task(&Late));
  ck_assert_uint_eq(atomic_load(&Late.Destroyed), 1);
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 0);
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(atomic_load(&T.Ran), N);
  ck_assert_uint_eq(atomic_load(&Late.Ran), 0);
}
END_TEST

START_TEST(queue_destroys_task_dispatched_after_shutdown) {
  struct counter C = {0};
  orc_rt_TaskDispatcherRef D;
  for (int Inline = 0; Inline < 2; Inline++) {
    ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(Inline, &D));
    orc_rt_TaskDispatcher_shutdown(D);
    orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
    orc_rt_TaskDispatcher_dispatch(D, (orc_rt_Task){counter_run, NULL, &C}); /* no Destroy */
    ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 0);
    orc_rt_TaskDispatcher_destroy(D);
  }
  ck_assert_uint_eq(atomic_load(&C.Ran), 0);
  ck_assert_uint_eq(atomic_load(&C.Destroyed), 2);
}
END_TEST

START_TEST(queue_destroy_without_shutdown_runs_queued_tasks) {
  struct counter C = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(false, &D));
  for (unsigned I = 0; I < 100; I++)
    orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(atomic_load(&C.Ran), 100);
  ck_assert_uint_eq(atomic_load(&C.Destroyed), 0);
}
END_TEST

START_TEST(queue_dispatch_from_many_threads_queues_every_task) {
  static atomic_uint Slots[PRODUCERS * PER_PRODUCER];
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(false, &D));
  dispatch_from_many_threads(D, Slots);
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), PRODUCERS * PER_PRODUCER);
  for (unsigned I = 0; I < PRODUCERS * PER_PRODUCER; I++)
    ck_assert_uint_eq(atomic_load(&Slots[I]), 1);
  orc_rt_TaskDispatcher_destroy(D);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The thread pool                                                         */

START_TEST(pool_runs_every_task_exactly_once) {
  enum { N = 20000 };
  static atomic_uint Slots[N];
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(4, &D));
  for (unsigned I = 0; I < N; I++)
    orc_rt_TaskDispatcher_dispatch(D, (orc_rt_Task){slot_run, NULL, &Slots[I]});
  orc_rt_TaskDispatcher_destroy(D);
  for (unsigned I = 0; I < N; I++)
    ck_assert_uint_eq(atomic_load(&Slots[I]), 1);
}
END_TEST

/* Counts runs, and runs that happen after shutdown returned. */
struct tally {
  atomic_uint Ran, Destroyed, Late;
  atomic_bool ShutdownReturned;
  unsigned RanAtReturn, DestroyedAtReturn;
  orc_rt_TaskDispatcherRef D;
};

static void tally_run(void *Ctx) {
  struct tally *T = Ctx;
  if (atomic_load(&T->ShutdownReturned))
    atomic_fetch_add(&T->Late, 1);
  atomic_fetch_add(&T->Ran, 1);
}

static void tally_destroy(void *Ctx) {
  struct tally *T = Ctx;
  atomic_fetch_add(&T->Destroyed, 1);
}

static void *tally_shutdown_main(void *Arg) {
  struct tally *T = Arg;
  orc_rt_TaskDispatcher_shutdown(T->D);
  T->RanAtReturn = atomic_load(&T->Ran);
  T->DestroyedAtReturn = atomic_load(&T->Destroyed);
  atomic_store(&T->ShutdownReturned, true);
  return NULL;
}

START_TEST(pool_shutdown_with_10000_queued_tasks_finishes_each_before_returning) {
  enum { N = 10000 };
  struct tally T = {0};
  struct holder H;
  struct probe P = {0};
  pthread_t Shutter;
  holder_init(&H);
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &T.D));

  /* Both workers held, so the tasks really are queued when shutdown begins. */
  orc_rt_TaskDispatcher_dispatch(T.D, holder_task(&H));
  orc_rt_TaskDispatcher_dispatch(T.D, holder_task(&H));
  orcrt_test_latch_wait(&H.Started, 2);
  for (unsigned I = 0; I < N; I++)
    orc_rt_TaskDispatcher_dispatch(T.D, (orc_rt_Task){tally_run, tally_destroy, &T});
  ck_assert_uint_eq(atomic_load(&T.Ran), 0);

  ck_assert_int_eq(pthread_create(&Shutter, NULL, tally_shutdown_main, &T), 0);
  unsigned Probes = wait_until_refusing(T.D, &P);
  orcrt_test_latch_signal(&H.Release);
  pthread_join(Shutter, NULL);

  /* Every accepted task ran, all of them before shutdown returned. */
  ck_assert_uint_eq(T.RanAtReturn, N);
  ck_assert_uint_eq(T.DestroyedAtReturn, 0);
  ck_assert_uint_eq(atomic_load(&P.Ran), Probes - 1);
  orc_rt_TaskDispatcher_destroy(T.D);
  ck_assert_uint_eq(atomic_load(&T.Ran), N);
  ck_assert_uint_eq(atomic_load(&T.Late), 0);
  ck_assert_uint_eq(atomic_load(&P.Ran), Probes - 1);
  holder_fini(&H);
}
END_TEST

START_TEST(pool_destroys_task_dispatched_after_shutdown) {
  struct counter C = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &D));
  orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
  orc_rt_TaskDispatcher_shutdown(D);
  ck_assert_uint_eq(atomic_load(&C.Ran), 1);
  orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
  orc_rt_TaskDispatcher_dispatch(D, (orc_rt_Task){counter_run, NULL, &C}); /* no Destroy */
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(atomic_load(&C.Ran), 1);
  ck_assert_uint_eq(atomic_load(&C.Destroyed), 1);
}
END_TEST

/* A chain of tasks, each dispatching the next and blocking until it ends. */
enum { CHAIN = 16 };

struct chain {
  orc_rt_TaskDispatcherRef D;
  orcrt_test_latch Done[CHAIN];
  struct chain_link {
    struct chain *C;
    unsigned K;
  } Links[CHAIN];
  atomic_uint Deepest;
};

static void chain_run(void *Ctx) {
  struct chain_link *L = Ctx;
  struct chain *C = L->C;
  if (L->K + 1 < CHAIN) {
    orc_rt_TaskDispatcher_dispatch(C->D, (orc_rt_Task){chain_run, NULL, &C->Links[L->K + 1]});
    orc_rt_TaskDispatcher_blockingBegin(C->D);
    orcrt_test_latch_wait(&C->Done[L->K + 1], 1);
    orc_rt_TaskDispatcher_blockingEnd(C->D);
  } else {
    atomic_store(&C->Deepest, L->K);
  }
  orcrt_test_latch_signal(&C->Done[L->K]);
}

START_TEST(pool_nesting_deeper_than_threads_completes) {
  struct chain C = {0};
  for (unsigned K = 0; K < CHAIN; K++) {
    orcrt_test_latch_init(&C.Done[K]);
    C.Links[K] = (struct chain_link){&C, K};
  }
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &C.D));
  orc_rt_TaskDispatcher_dispatch(C.D, (orc_rt_Task){chain_run, NULL, &C.Links[0]});
  orcrt_test_latch_wait(&C.Done[0], 1);
  ck_assert_uint_eq(atomic_load(&C.Deepest), CHAIN - 1);
  for (unsigned K = 0; K < CHAIN; K++)
    ck_assert_uint_eq(orcrt_test_latch_count(&C.Done[K]), 1);
  orc_rt_TaskDispatcher_destroy(C.D);
  for (unsigned K = 0; K < CHAIN; K++)
    orcrt_test_latch_destroy(&C.Done[K]);
}
END_TEST

struct long_task {
  orc_rt_TaskDispatcherRef D;
  orcrt_test_latch Blocking; /* the long task is inside its blocking stretch */
  orcrt_test_latch Signal;   /* the later task ran */
  orcrt_test_latch Done;     /* the long task finished */
};

static void long_task_run(void *Ctx) {
  struct long_task *L = Ctx;
  orc_rt_TaskDispatcher_blockingBegin(L->D);
  orcrt_test_latch_signal(&L->Blocking);
  orcrt_test_latch_wait(&L->Signal, 1);
  orc_rt_TaskDispatcher_blockingEnd(L->D);
  orcrt_test_latch_signal(&L->Done);
}

START_TEST(pool_blocked_long_task_does_not_starve_later_task) {
  struct long_task L;
  orcrt_test_latch_init(&L.Blocking);
  orcrt_test_latch_init(&L.Signal);
  orcrt_test_latch_init(&L.Done);
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(1, &L.D));
  orc_rt_TaskDispatcher_dispatch(L.D, (orc_rt_Task){long_task_run, NULL, &L});
  orcrt_test_latch_wait(&L.Blocking, 1);
  /* The pool's one thread is taken; only the later task can free it. */
  orc_rt_TaskDispatcher_dispatch(L.D, (orc_rt_Task){orcrt_test_latch_signal_fn, NULL, &L.Signal});
  orcrt_test_latch_wait(&L.Done, 1);
  ck_assert_uint_eq(orcrt_test_latch_count(&L.Signal), 1);
  orc_rt_TaskDispatcher_destroy(L.D);
  orcrt_test_latch_destroy(&L.Blocking);
  orcrt_test_latch_destroy(&L.Signal);
  orcrt_test_latch_destroy(&L.Done);
}
END_TEST

/* A task that, once work is queued behind it, blocks until that work has run. */
struct blocker {
  orc_rt_TaskDispatcherRef D;
  orcrt_test_latch Started; /* the blocker holds the pool's one thread */
  orcrt_test_latch Queued;  /* the later task is queued */
  orcrt_test_latch Signal;  /* the later task ran */
  orcrt_test_latch Done;    /* the blocker finished */
};

static void blocker_run(void *Ctx) {
  struct blocker *B = Ctx;
  orcrt_test_latch_signal(&B->Started);
  orcrt_test_latch_wait(&B->Queued, 1);
  orc_rt_TaskDispatcher_blockingBegin(B->D);
  orcrt_test_latch_wait(&B->Signal, 1);
  orc_rt_TaskDispatcher_blockingEnd(B->D);
  orcrt_test_latch_signal(&B->Done);
}

START_TEST(pool_task_entering_blocking_stretch_frees_a_thread_for_queued_task) {
  struct blocker B;
  orcrt_test_latch_init(&B.Started);
  orcrt_test_latch_init(&B.Queued);
  orcrt_test_latch_init(&B.Signal);
  orcrt_test_latch_init(&B.Done);
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(1, &B.D));
  orc_rt_TaskDispatcher_dispatch(B.D, (orc_rt_Task){blocker_run, NULL, &B});
  orcrt_test_latch_wait(&B.Started, 1);
  /* Queued while the only thread runs, outside a blocking stretch: it must wait... */
  orc_rt_TaskDispatcher_dispatch(B.D, (orc_rt_Task){orcrt_test_latch_signal_fn, NULL, &B.Signal});
  orcrt_test_latch_signal(&B.Queued);
  /* ...until the blocker's blocking stretch begins, which must find it a thread. */
  orcrt_test_latch_wait(&B.Done, 1);
  ck_assert_uint_eq(orcrt_test_latch_count(&B.Signal), 1);
  orc_rt_TaskDispatcher_destroy(B.D);
  orcrt_test_latch_destroy(&B.Started);
  orcrt_test_latch_destroy(&B.Queued);
  orcrt_test_latch_destroy(&B.Signal);
  orcrt_test_latch_destroy(&B.Done);
}
END_TEST

START_TEST(pool_dispatch_from_many_threads_runs_every_task) {
  static atomic_uint Slots[PRODUCERS * PER_PRODUCER];
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(4, &D));
  dispatch_from_many_threads(D, Slots);
  orc_rt_TaskDispatcher_destroy(D);
  for (unsigned I = 0; I < PRODUCERS * PER_PRODUCER; I++)
    ck_assert_uint_eq(atomic_load(&Slots[I]), 1);
}
END_TEST

/* Calls shutdown and records how many tasks had run when it returned. */
struct shutter {
  orc_rt_TaskDispatcherRef D;
  struct counter *C;
  unsigned RanAtReturn;
};

static void *shutter_main(void *Arg) {
  struct shutter *S = Arg;
  orc_rt_TaskDispatcher_shutdown(S->D);
  S->RanAtReturn = atomic_load(&S->C->Ran);
  return NULL;
}

START_TEST(pool_concurrent_and_repeated_shutdowns_all_wait) {
  enum { N = 1000, SHUTTERS = 4 };
  struct shutter Sh[SHUTTERS];
  struct counter C = {0};
  struct holder H;
  struct probe P = {0};
  pthread_t T[SHUTTERS];
  orc_rt_TaskDispatcherRef D;
  holder_init(&H);
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(1, &D));
  orc_rt_TaskDispatcher_dispatch(D, holder_task(&H));
  orcrt_test_latch_wait(&H.Started, 1);
  for (unsigned I = 0; I < N; I++)
    orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));

  for (unsigned I = 0; I < SHUTTERS; I++) {
    Sh[I] = (struct shutter){D, &C, 0};
    ck_assert_int_eq(pthread_create(&T[I], NULL, shutter_main, &Sh[I]), 0);
  }
  wait_until_refusing(D, &P);
  orcrt_test_latch_signal(&H.Release);
  for (unsigned I = 0; I < SHUTTERS; I++) {
    pthread_join(T[I], NULL);
    ck_assert_uint_eq(Sh[I].RanAtReturn, N);
  }
  orc_rt_TaskDispatcher_shutdown(D);
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(atomic_load(&C.Ran), N);
  ck_assert_uint_eq(atomic_load(&C.Destroyed), 0);
  holder_fini(&H);
}
END_TEST

START_TEST(pool_destroy_without_shutdown_runs_queued_tasks) {
  enum { N = 1000 };
  struct counter C = {0};
  struct holder H;
  holder_init(&H);
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(1, &D));
  orc_rt_TaskDispatcher_dispatch(D, holder_task(&H));
  orcrt_test_latch_wait(&H.Started, 1);
  for (unsigned I = 0; I < N; I++)
    orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
  orcrt_test_latch_signal(&H.Release);
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(atomic_load(&C.Ran), N);
  ck_assert_uint_eq(atomic_load(&C.Destroyed), 0);
  holder_fini(&H);
}
END_TEST

START_TEST(pool_run_pending_returns_zero_and_runs_nothing) {
  struct counter C = {0};
  struct holder H;
  holder_init(&H);
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(1, &D));
  orc_rt_TaskDispatcher_dispatch(D, holder_task(&H));
  orcrt_test_latch_wait(&H.Started, 1);
  for (unsigned I = 0; I < 3; I++)
    orc_rt_TaskDispatcher_dispatch(D, counter_task(&C));
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 0);
  ck_assert_uint_eq(atomic_load(&C.Ran), 0);
  orcrt_test_latch_signal(&H.Release);
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(atomic_load(&C.Ran), 3);
  holder_fini(&H);
}
END_TEST

struct mask_check {
  orc_rt_TaskDispatcherRef D;
  atomic_uint Wrong; /* signals whose blocked state on a worker differs from the creator's */
  orcrt_test_latch Done;
};

/* The creator's mask: these blocked, the others not. */
static const int BlockedSignals[] = {SIGUSR2, SIGTERM};
static const int OpenSignals[] = {SIGINT, SIGHUP, SIGUSR1, SIGSEGV, SIGFPE, SIGALRM};

static void mask_check_run(void *Ctx) {
  struct mask_check *M = Ctx;
  sigset_t Set;
  pthread_sigmask(SIG_BLOCK, NULL, &Set);
  for (size_t I = 0; I < sizeof(BlockedSignals) / sizeof(BlockedSignals[0]); I++)
    if (!sigismember(&Set, BlockedSignals[I]))
      atomic_fetch_add(&M->Wrong, 1);
  for (size_t I = 0; I < sizeof(OpenSignals) / sizeof(OpenSignals[0]); I++)
    if (sigismember(&Set, OpenSignals[I]))
      atomic_fetch_add(&M->Wrong, 1);
  orcrt_test_latch_signal(&M->Done);
}

static void mask_check_nested_run(void *Ctx) {
  struct mask_check *M = Ctx;
  /* A worker started on behalf of a blocked worker, from a worker thread whose mask differs. */
  sigset_t All, Old;
  sigfillset(&All);
  pthread_sigmask(SIG_SETMASK, &All, &Old);
  orc_rt_TaskDispatcher_dispatch(M->D, (orc_rt_Task){mask_check_run, NULL, M});
  orc_rt_TaskDispatcher_blockingBegin(M->D);
  orcrt_test_latch_wait(&M->Done, 2);
  orc_rt_TaskDispatcher_blockingEnd(M->D);
  pthread_sigmask(SIG_SETMASK, &Old, NULL);
  mask_check_run(M);
}

START_TEST(pool_workers_start_with_the_signal_mask_of_the_creating_thread) {
  struct mask_check M = {0};
  sigset_t Creator, None, Old;
  sigemptyset(&Creator);
  for (size_t I = 0; I < sizeof(BlockedSignals) / sizeof(BlockedSignals[0]); I++)
    sigaddset(&Creator, BlockedSignals[I]);
  sigemptyset(&None);
  pthread_sigmask(SIG_SETMASK, &Creator, &Old);
  orcrt_test_latch_init(&M.Done);
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(1, &M.D));
  /* Workers start lazily, here from a thread that blocks nothing. */
  pthread_sigmask(SIG_SETMASK, &None, NULL);
  orc_rt_TaskDispatcher_dispatch(M.D, (orc_rt_Task){mask_check_run, NULL, &M});
  orcrt_test_latch_wait(&M.Done, 1);
  orc_rt_TaskDispatcher_dispatch(M.D, (orc_rt_Task){mask_check_nested_run, NULL, &M});
  orcrt_test_latch_wait(&M.Done, 3);
  orc_rt_TaskDispatcher_destroy(M.D);
  pthread_sigmask(SIG_SETMASK, &Old, NULL);
  ck_assert_uint_eq(atomic_load(&M.Wrong), 0);
  orcrt_test_latch_destroy(&M.Done);
}
END_TEST

static void *bystander_main(void *Arg) {
  orcrt_test_latch_wait(Arg, 1);
  return NULL;
}

START_TEST(pool_starts_threads_only_when_work_arrives) {
  struct holder H;
  orcrt_test_latch Leave;
  pthread_t Bystander;
  holder_init(&H);
  orcrt_test_latch_init(&Leave);
  /* Any helper thread a sanitizer starts with the first thread exists now. */
  ck_assert_int_eq(pthread_create(&Bystander, NULL, bystander_main, &Leave), 0);
  int Before = count_threads();
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(4, &D));
  ck_assert_int_eq(count_threads(), Before);
  orc_rt_TaskDispatcher_dispatch(D, holder_task(&H));
  orcrt_test_latch_wait(&H.Started, 1);
  ck_assert_int_eq(count_threads(), Before + 1);
  orcrt_test_latch_signal(&H.Release);
  orc_rt_TaskDispatcher_destroy(D);
  orcrt_test_latch_signal(&Leave);
  pthread_join(Bystander, NULL);
  orcrt_test_latch_destroy(&Leave);
  holder_fini(&H);
}
END_TEST

START_TEST(pool_default_size_runs_one_task_per_cpu_at_once) {
  long Cpus = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned N = Cpus < 2 ? 2 : (unsigned)Cpus;
  struct holder H;
  holder_init(&H);
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(0, &D));
  for (unsigned I = 0; I < N; I++)
    orc_rt_TaskDispatcher_dispatch(D, holder_task(&H));
  /* None of them blocks in a stretch: all N run at once only with N threads. */
  orcrt_test_latch_wait(&H.Started, N);
  orcrt_test_latch_signal(&H.Release);
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(orcrt_test_latch_count(&H.Started), N);
  holder_fini(&H);
}
END_TEST

struct self_shutdown {
  orc_rt_TaskDispatcherRef D;
  struct counter Queued;
  unsigned RanAtReturn;
  orcrt_test_latch Done;
};

static void self_shutdown_run(void *Ctx) {
  struct self_shutdown *S = Ctx;
  orc_rt_TaskDispatcher_dispatch(S->D, counter_task(&S->Queued));
  orc_rt_TaskDispatcher_shutdown(S->D);
  S->RanAtReturn = atomic_load(&S->Queued.Ran);
  orc_rt_TaskDispatcher_destroy(S->D);
  orcrt_test_latch_signal(&S->Done);
}

START_TEST(pool_shutdown_from_own_task_runs_the_queue_without_deadlock) {
  /* Outside the contract, but it must neither hang nor leak. */
  struct self_shutdown S = {0};
  orcrt_test_latch_init(&S.Done);
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(1, &S.D));
  orc_rt_TaskDispatcher_dispatch(S.D, (orc_rt_Task){self_shutdown_run, NULL, &S});
  orcrt_test_latch_wait(&S.Done, 1);
  ck_assert_uint_eq(S.RanAtReturn, 1);
  ck_assert_uint_eq(atomic_load(&S.Queued.Destroyed), 0);
  orcrt_test_latch_destroy(&S.Done);
}
END_TEST

/* ---- short tasks ------------------------------------------------------------ */

/* Records the thread it ran on. */
struct where {
  atomic_uint Ran;
  pthread_t Thread;
};

static void where_run(void *Ctx) {
  struct where *W = Ctx;
  W->Thread = pthread_self();
  atomic_fetch_add(&W->Ran, 1);
}

START_TEST(pool_runs_short_task_on_the_dispatching_thread_before_returning) {
  struct where W = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &D));
  orcrt_task_dispatcher_dispatch_short(D, (orc_rt_Task){where_run, NULL, &W});
  ck_assert_uint_eq(atomic_load(&W.Ran), 1);
  ck_assert(pthread_equal(W.Thread, pthread_self()));
  orc_rt_TaskDispatcher_destroy(D);
}
END_TEST

START_TEST(queue_queues_short_task_like_any_other) {
  struct where W = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(false, &D));
  orcrt_task_dispatcher_dispatch_short(D, (orc_rt_Task){where_run, NULL, &W});
  ck_assert_uint_eq(atomic_load(&W.Ran), 0);
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 1);
  ck_assert_uint_eq(atomic_load(&W.Ran), 1);
  orc_rt_TaskDispatcher_destroy(D);
}
END_TEST

/* A custom dispatcher: counts which op each task came through, and runs it at once. */
struct custom_short {
  atomic_uint Dispatched, DispatchedShort;
};

static void custom_dispatch(void *Ctx, orc_rt_Task T) {
  atomic_fetch_add(&((struct custom_short *)Ctx)->Dispatched, 1);
  T.Run(T.Ctx);
}

static void custom_dispatch_short(void *Ctx, orc_rt_Task T) {
  atomic_fetch_add(&((struct custom_short *)Ctx)->DispatchedShort, 1);
  T.Run(T.Ctx);
}

static void custom_nop(void *Ctx) {
  (void)Ctx;
}

/* Dispatch one short and one ordinary task to a custom dispatcher, with or without the op. */
static void custom_dispatch_both(bool WithShortOp, struct custom_short *C) {
  const orc_rt_TaskDispatcherOps Ops = {.Dispatch = custom_dispatch,
                                        .Shutdown = custom_nop,
                                        .Destroy = custom_nop,
                                        .DispatchShort =
                                            WithShortOp ? custom_dispatch_short : NULL};
  struct where W = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_TaskDispatcher_create(&Ops, C, &D));
  orcrt_task_dispatcher_dispatch_short(D, (orc_rt_Task){where_run, NULL, &W});
  orc_rt_TaskDispatcher_dispatch(D, (orc_rt_Task){where_run, NULL, &W});
  ck_assert_uint_eq(atomic_load(&W.Ran), 2);
  orc_rt_TaskDispatcher_destroy(D);
}

START_TEST(custom_dispatcher_receives_short_tasks_through_its_dispatch_short_op) {
  struct custom_short C = {0};
  custom_dispatch_both(true, &C);
  ck_assert_uint_eq(atomic_load(&C.DispatchedShort), 1);
  ck_assert_uint_eq(atomic_load(&C.Dispatched), 1);
}
END_TEST

START_TEST(custom_dispatcher_without_dispatch_short_gets_short_tasks_through_dispatch) {
  struct custom_short C = {0};
  custom_dispatch_both(false, &C);
  ck_assert_uint_eq(atomic_load(&C.DispatchedShort), 0);
  ck_assert_uint_eq(atomic_load(&C.Dispatched), 2);
}
END_TEST

START_TEST(pool_destroys_short_task_dispatched_after_shutdown) {
  struct counter C = {0};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &D));
  orc_rt_TaskDispatcher_shutdown(D);
  orcrt_task_dispatcher_dispatch_short(D, counter_task(&C));
  orc_rt_TaskDispatcher_destroy(D);
  ck_assert_uint_eq(atomic_load(&C.Ran), 0);
  ck_assert_uint_eq(atomic_load(&C.Destroyed), 1);
}
END_TEST

/*
 * A short task on another thread that goes on until shutdown has begun (it
 * sees its own short dispatches refused), then marks itself finished.
 */
struct late_short {
  orc_rt_TaskDispatcherRef D;
  orcrt_test_latch Started;
  atomic_bool Finished;
  atomic_bool FinishedWhenShutdownReturned;
};

static void late_short_run(void *Ctx) {
  struct late_short *L = Ctx;
  orcrt_test_latch_signal(&L->Started);
  struct counter Probe = {0};
  while (atomic_load(&Probe.Destroyed) == 0) {
    orcrt_task_dispatcher_dispatch_short(L->D, counter_task(&Probe));
    sched_yield();
  }
  atomic_store(&L->Finished, true);
}

static void *late_short_dispatcher(void *Arg) {
  struct late_short *L = Arg;
  orcrt_task_dispatcher_dispatch_short(L->D, (orc_rt_Task){late_short_run, NULL, L});
  return NULL;
}

START_TEST(pool_shutdown_waits_for_short_task_running_on_another_thread) {
  struct late_short L = {0};
  orcrt_test_latch_init(&L.Started);
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &L.D));
  pthread_t T;
  ck_assert_int_eq(pthread_create(&T, NULL, late_short_dispatcher, &L), 0);
  orcrt_test_latch_wait(&L.Started, 1);
  orc_rt_TaskDispatcher_shutdown(L.D);
  atomic_store(&L.FinishedWhenShutdownReturned, atomic_load(&L.Finished));
  pthread_join(T, NULL);
  ck_assert(atomic_load(&L.FinishedWhenShutdownReturned));
  orc_rt_TaskDispatcher_destroy(L.D);
  orcrt_test_latch_destroy(&L.Started);
}
END_TEST

/* One case per test, named for the behaviour it shows. */
#define ADD_TEST(S, Fn, Timeout) tcase_add_test(orcrt_test_case((S), #Fn, (Timeout)), Fn)

Suite *orcrt_suite_dispatcher(void) {
  Suite *S = suite_create("dispatcher");
  ADD_TEST(S, dispatcher_create_rejects_missing_required_ops, 10);
  ADD_TEST(S, dispatcher_forwards_dispatch_and_blocking_to_ops, 10);
  ADD_TEST(S, dispatcher_shuts_ops_down_once_then_destroys, 10);
  ADD_TEST(S, dispatcher_destroys_task_dispatched_after_shutdown, 10);
  ADD_TEST(S, queue_runs_pending_tasks_once_in_fifo_order, 10);
  ADD_TEST(S, queue_run_pending_includes_tasks_queued_meanwhile, 10);
  ADD_TEST(S, queue_run_inline_runs_task_inside_dispatch, 10);
  ADD_TEST(S, queue_shutdown_runs_10000_queued_tasks_on_calling_thread, 30);
  ADD_TEST(S, queue_destroys_task_dispatched_after_shutdown, 10);
  ADD_TEST(S, queue_destroy_without_shutdown_runs_queued_tasks, 10);
  ADD_TEST(S, queue_dispatch_from_many_threads_queues_every_task, 30);
  ADD_TEST(S, pool_runs_every_task_exactly_once, 30);
  ADD_TEST(S, pool_shutdown_with_10000_queued_tasks_finishes_each_before_returning, 30);
  ADD_TEST(S, pool_destroys_task_dispatched_after_shutdown, 10);
  ADD_TEST(S, pool_nesting_deeper_than_threads_completes, 10);
  ADD_TEST(S, pool_blocked_long_task_does_not_starve_later_task, 10);
  ADD_TEST(S, pool_task_entering_blocking_stretch_frees_a_thread_for_queued_task, 10);
  ADD_TEST(S, pool_dispatch_from_many_threads_runs_every_task, 30);
  ADD_TEST(S, pool_concurrent_and_repeated_shutdowns_all_wait, 30);
  ADD_TEST(S, pool_destroy_without_shutdown_runs_queued_tasks, 10);
  ADD_TEST(S, pool_run_pending_returns_zero_and_runs_nothing, 10);
  ADD_TEST(S, pool_workers_start_with_the_signal_mask_of_the_creating_thread, 10);
  ADD_TEST(S, pool_starts_threads_only_when_work_arrives, 10);
  ADD_TEST(S, pool_default_size_runs_one_task_per_cpu_at_once, 10);
  ADD_TEST(S, pool_shutdown_from_own_task_runs_the_queue_without_deadlock, 10);
  ADD_TEST(S, pool_runs_short_task_on_the_dispatching_thread_before_returning, 10);
  ADD_TEST(S, queue_queues_short_task_like_any_other, 10);
  ADD_TEST(S, pool_destroys_short_task_dispatched_after_shutdown, 10);
  ADD_TEST(S, custom_dispatcher_receives_short_tasks_through_its_dispatch_short_op, 10);
  ADD_TEST(S, custom_dispatcher_without_dispatch_short_gets_short_tasks_through_dispatch, 10);
  ADD_TEST(S, pool_shutdown_waits_for_short_task_running_on_another_thread, 10);
  return S;
}

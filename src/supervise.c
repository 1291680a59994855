/*
 * supervise.c - ending a Session when JIT'd code may outlive its controller
 *
 * The grace period and the abandonment that orcrt-executor had to itself,
 * for every embedder (see orcrt/supervise.h). Both waits are bounded, and
 * what they wait for may still finish after orc_rt_Session_supervise() has
 * returned: a shutdown once the abandoned code returns after all, an
 * abandonment thread stuck on a lock that code holds. So each wait is on a
 * latch on the heap that the waiter and the signaller each hold a reference
 * to; whichever lets go last frees it.
 */
#include "orcrt-internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <orcrt/memory.h>
#include <orcrt/supervise.h>

#include "memory-internal.h"

#define DEFAULT_GRACE_MS 1000
#define DEFAULT_ABANDON_MS 500

/* ---- a one-shot latch with a timed wait, for one waiter and one signaller -- */

struct latch {
  pthread_mutex_t Lock; /* protects Done and Refs */
  pthread_cond_t Cond;  /* broadcast when Done becomes true */
  bool Done;
  unsigned Refs; /* the waiter's and the signaller's, 2 at first */
};

static struct latch *latch_create(void) {
  struct latch *L = malloc(sizeof(*L));
  pthread_condattr_t A;
  int E;
  if (!L)
    return NULL;
  if ((E = pthread_condattr_init(&A)) == 0) {
    /* Timed waits must not jump with the wall clock. */
    if ((E = pthread_condattr_setclock(&A, CLOCK_MONOTONIC)) == 0)
      E = pthread_cond_init(&L->Cond, &A);
    pthread_condattr_destroy(&A);
  }
  if (E == 0 && (E = pthread_mutex_init(&L->Lock, NULL)) != 0)
    pthread_cond_destroy(&L->Cond);
  if (E != 0) {
    free(L);
    return NULL;
  }
  L->Done = false;
  L->Refs = 2;
  return L;
}

/* Drop a reference, with L->Lock held (it is released); the last frees L. */
static void latch_release_locked(struct latch *L) {
  bool Last = --L->Refs == 0;
  pthread_mutex_unlock(&L->Lock);
  if (Last) {
    pthread_cond_destroy(&L->Cond);
    pthread_mutex_destroy(&L->Lock);
    free(L);
  }
}

/* The signaller's side, an orc_rt_CompletionFn: set the flag, let go. */
static void latch_signal(void *Ctx) {
  struct latch *L = Ctx;
  pthread_mutex_lock(&L->Lock);
  L->Done = true;
  pthread_cond_broadcast(&L->Cond);
  latch_release_locked(L);
}

/* The waiter's side: whether L is signalled within Ms milliseconds; lets go. */
static bool latch_wait(struct latch *L, unsigned Ms) {
  struct timespec T;
  clock_gettime(CLOCK_MONOTONIC, &T);
  T.tv_sec += Ms / 1000;
  T.tv_nsec += (long)(Ms % 1000) * 1000000L;
  if (T.tv_nsec >= 1000000000L) {
    T.tv_sec++;
    T.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&L->Lock);
  while (!L->Done && pthread_cond_timedwait(&L->Cond, &L->Lock, &T) == 0)
    ;
  bool Done = L->Done;
  latch_release_locked(L);
  return Done;
}

/* ---- abandonment ------------------------------------------------------------- */

struct abandon {
  orc_rt_SessionRef S;
  unsigned GraceMs; /* for the message */
  struct latch *Done;
};

/*
 * On a thread of its own, since each step may block on a lock the abandoned
 * code holds: the log line (stderr's lock), the deallocation actions (any
 * lock of the program), the flush (a stream's lock).
 */
static void *abandon_main(void *Arg) {
  struct abandon *A = Arg;
  orc_rt_MemoryServiceRef M = orc_rt_Session_findService(A->S, &orcrt_memory_service_ops);
  orc_rt_Session_log(A->S, orc_rt_LogLevel_Warning,
                     "JIT'd code still running %u ms after the controller went away: "
                     "giving up on it",
                     A->GraceMs);
  if (M)
    orc_rt_MemoryService_releaseAbandoned(M);
  fflush(NULL);
  latch_signal(A->Done);
  free(A);
  return NULL;
}

/* Run the abandonment steps, waiting AbandonMs at most for them. */
static void abandon(orc_rt_SessionRef S, const orc_rt_SuperviseOptions *Opts) {
  struct abandon *A = malloc(sizeof(*A));
  struct latch *Done = latch_create();
  pthread_t T;
  if (!A || !Done)
    goto fail;
  *A = (struct abandon){.S = S, .GraceMs = Opts->GraceMs, .Done = Done};
  if (pthread_create(&T, NULL, abandon_main, A) != 0)
    goto fail;
  if (latch_wait(Done, Opts->AbandonMs))
    pthread_join(T, NULL);
  else
    pthread_detach(T);
  return;

fail:
  /* As orcrt-executor always did: without a thread, no steps (inline, they
     could block for ever). */
  free(A);
  if (Done) {
    latch_signal(Done); /* both references, the signaller never started */
    latch_wait(Done, 0);
  }
}

/* ---- public ------------------------------------------------------------------ */

/*
 * Before the Session's destroy closes the output descriptor, on which the
 * controller waits for end of file: what the controller shows. Not
 * fflush(NULL), unbounded here: it waits for every stream's lock, stdin's
 * too, which a JIT'd thread left blocked in a read holds; exit() flushes
 * the rest without locks.
 */
static void flush_output(void) {
  fflush(stdout);
  fflush(stderr);
}

ORC_RT_EXPORT void orc_rt_SuperviseOptions_init(orc_rt_SuperviseOptions *O) {
  O->GraceMs = DEFAULT_GRACE_MS;
  O->AbandonMs = DEFAULT_ABANDON_MS;
}

ORC_RT_EXPORT orc_rt_SuperviseResult orc_rt_Session_supervise(orc_rt_SessionRef S,
                                                              const orc_rt_SuperviseOptions *Opts) {
  orc_rt_SuperviseOptions Defaults;
  if (!Opts) {
    orc_rt_SuperviseOptions_init(&Defaults);
    Opts = &Defaults;
  }
  orc_rt_Session_waitForDetach(S);

  struct latch *ShutDown = latch_create();
  if (!ShutDown) {
    /* No bounded wait without memory: leave the (unbounded) wait to
       orc_rt_Session_destroy(), as without supervision. */
    orc_rt_Session_reportError(S, orc_rt_Error_create("out of memory: the Session's shutdown "
                                                      "is not bounded"));
    flush_output();
    return orc_rt_SuperviseResult_Ended;
  }
  orc_rt_Session_shutdown(S, latch_signal, ShutDown);
  if (!latch_wait(ShutDown, Opts->GraceMs)) {
    abandon(S, Opts);
    return orc_rt_SuperviseResult_Abandoned;
  }
  flush_output();
  return orc_rt_SuperviseResult_Ended;
}

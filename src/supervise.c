/*
 * supervise.c - ending a Session when JIT'd code may outlive its controller
 *
 * The grace period and the abandonment that orcrt-executor had to itself,
 * for every embedder (see orcrt/supervise.h). Both waits are bounded, and
 * what they wait for may still finish after orc_rt_Session_supervise() has
 * returned: a shutdown once the abandoned code returns after all, an
 * abandonment thread stuck on a lock that code holds. So each wait is on a
 * shared waiter (util/waiter.h), which whichever of the two sides lets go
 * last frees.
 */
#include "orcrt-internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <orcrt/memory.h>
#include <orcrt/supervise.h>

#include "memory-internal.h"
#include "session-internal.h"
#include "util/waiter.h"

#define DEFAULT_GRACE_MS 1000
#define DEFAULT_ABANDON_MS 500
#define DEFAULT_CLEANUP_MS 60000

/* ---- abandonment ------------------------------------------------------------- */

struct abandon {
  orc_rt_SessionRef S;
  unsigned Ms;      /* for the message: the grace, or the cleanup's bound */
  bool CodeRunning; /* calls still run (else the Services' cleanup does) */
  struct orcrt_waiter *Done;
};

/*
 * On a thread of its own, since each step may block on a lock the abandoned
 * code holds: the log line (stderr's lock), the deallocation actions (any
 * lock of the program), the flush (a stream's lock).
 */
static void *abandon_main(void *Arg) {
  struct abandon *A = Arg;
  if (A->CodeRunning) {
    orc_rt_MemoryServiceRef M = orc_rt_Session_findService(A->S, &orcrt_memory_service_ops);
    orc_rt_Session_log(A->S, orc_rt_LogLevel_Warning,
                       "JIT'd code still running %u ms after the controller went away: "
                       "giving up on it",
                       A->Ms);
    if (M)
      orc_rt_MemoryService_releaseAbandoned(M);
  } else {
    /* The cleanup holds the allocations: no second pass over their actions. */
    orc_rt_Session_log(A->S, orc_rt_LogLevel_Warning,
                       "the cleanup (deallocation actions, libraries' destructors) still running "
                       "%u ms after the JIT'd code returned: giving up on it",
                       A->Ms);
  }
  fflush(NULL);
  orcrt_waiter_signal_shared(A->Done);
  free(A);
  return NULL;
}

/* Run the abandonment steps, waiting AbandonMs at most for them. */
static void abandon(orc_rt_SessionRef S, const orc_rt_SuperviseOptions *Opts, bool CodeRunning) {
  struct abandon *A = malloc(sizeof(*A));
  struct orcrt_waiter *Done = orcrt_waiter_create_shared();
  pthread_t T;
  if (!A || !Done)
    goto fail;
  *A = (struct abandon){.S = S,
                        .Ms = CodeRunning ? Opts->GraceMs : Opts->CleanupMs,
                        .CodeRunning = CodeRunning,
                        .Done = Done};
  if (pthread_create(&T, NULL, abandon_main, A) != 0)
    goto fail;
  if (orcrt_waiter_timedwait_shared(Done, Opts->AbandonMs))
    pthread_join(T, NULL);
  else
    pthread_detach(T);
  return;

fail:
  /* As orcrt-executor always did: without a thread, no steps (inline, they
     could block for ever). */
  free(A);
  if (Done) {
    orcrt_waiter_signal_shared(Done); /* both references, the signaller never started */
    orcrt_waiter_timedwait_shared(Done, 0);
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
  O->CleanupMs = DEFAULT_CLEANUP_MS;
}

ORC_RT_EXPORT orc_rt_SuperviseResult orc_rt_Session_supervise(orc_rt_SessionRef S,
                                                              const orc_rt_SuperviseOptions *Opts) {
  orc_rt_SuperviseOptions Defaults;
  if (!Opts) {
    orc_rt_SuperviseOptions_init(&Defaults);
    Opts = &Defaults;
  }
  orc_rt_Session_waitForDetach(S);

  /*
   * Two bounds, one after the other: the grace for the calls still running
   * (JIT'd code that may never return), then the cleanup's for the
   * Services, which runs to its end unless it takes unreasonably long.
   */
  struct orcrt_waiter *Drained = orcrt_waiter_create_shared();
  struct orcrt_waiter *ShutDown = Drained ? orcrt_waiter_create_shared() : NULL;
  if (!ShutDown) {
    if (Drained) {
      orcrt_waiter_signal_shared(Drained); /* both references: nobody else has it */
      orcrt_waiter_timedwait_shared(Drained, 0);
    }
    /* No bounded wait without memory: leave the (unbounded) wait to
       orc_rt_Session_destroy(), as without supervision. */
    orc_rt_Session_reportError(S, orc_rt_Error_create("out of memory: the Session's shutdown "
                                                      "is not bounded"));
    flush_output();
    return orc_rt_SuperviseResult_Ended;
  }
  orcrt_session_on_drained(S, orcrt_waiter_signal_shared, Drained);
  orc_rt_Session_shutdown(S, orcrt_waiter_signal_shared, ShutDown);
  if (!orcrt_waiter_timedwait_shared(Drained, Opts->GraceMs)) {
    orcrt_waiter_timedwait_shared(ShutDown, 0);
    abandon(S, Opts, true);
    return orc_rt_SuperviseResult_Abandoned;
  }
  if (!orcrt_waiter_timedwait_shared(ShutDown, Opts->CleanupMs ? Opts->CleanupMs : UINT_MAX)) {
    abandon(S, Opts, false);
    return orc_rt_SuperviseResult_Abandoned;
  }
  flush_output();
  return orc_rt_SuperviseResult_Ended;
}

/*
 * pipe-flow.c - the pipe transport's flow control: back-pressure on input,
 * and idle probing
 *
 * Back-pressure: reading pauses while too much waits, that is output not
 * yet written plus calls read but not yet answered, each weighed by its
 * frame and what the Session keeps for it (the "charges", by sequence
 * number). So a controller that sends calls but does not read the results,
 * or sends them faster than the executor works, cannot make the executor's
 * memory grow without bound.
 *
 * Idle probing (orc_rt_PipeOptions.IdleProbeMs): while nothing is in flight
 * either way, call the controller with an empty call now and then, a
 * workaround for how llvm-jitlink-19 tears down TCP (see pipe-access.h).
 *
 * Locks: the charge map (Charges) is under P->Lock, taken here; CallBytes
 * and CallCount change with it and are read without the lock. ReadPaused
 * changes on the I/O thread and is read by threads that write output
 * (pipe-output.c); the probe timer and the frames read belong to the I/O
 * thread. See pipe-internal.h.
 */
#include "pipe-internal.h"

#include <limits.h>
#include <sys/time.h>

/*
 * What a call read from the controller weighs until it is answered, beyond
 * its frame: what the Session keeps for it.
 */
#define CALL_OVERHEAD 256
/* Idle probes back off to at most this many times the first delay. */
#define PROBE_BACKOFF_LIMIT 64

/* ---- call charges ---------------------------------------------------------- */

/*
 * Calls with one sequence number share an entry (nothing stops a
 * controller from reusing one); each answer takes away its share.
 */
bool orcrt_pipe_charge_call(struct pipe_access *P, uint64_t SeqNo, size_t PayloadSize) {
  size_t Bytes = WIRE_HEADER_SIZE + PayloadSize + CALL_OVERHEAD;
  pthread_mutex_lock(&P->Lock);
  bool Fault = P->ChargeFault && P->ChargeFault();
  struct call_charge *C = Fault ? NULL : orcrt_u64map_insert(&P->Charges, SeqNo, NULL);
  if (C) {
    C->Bytes += Bytes;
    C->Count++;
    atomic_fetch_add_explicit(&P->CallBytes, Bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&P->CallCount, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&P->Lock);
  /* Out of memory: uncounted, the call would loosen the bound; the caller refuses it. */
  return C != NULL;
}

void orcrt_pipe_discharge_call(struct pipe_access *P, uint64_t SeqNo) {
  pthread_mutex_lock(&P->Lock);
  struct call_charge *C = orcrt_u64map_find(&P->Charges, SeqNo);
  if (C) {
    size_t Share = C->Bytes / C->Count;
    C->Bytes -= Share;
    if (--C->Count == 0) {
      /* The last of them: what rounding left goes too. */
      Share += C->Bytes;
      orcrt_u64map_remove(&P->Charges, SeqNo, NULL);
    }
    /* Sequentially consistent: the writer of the result reads ReadPaused next. */
    atomic_fetch_sub(&P->CallBytes, Share);
    atomic_fetch_sub(&P->CallCount, 1);
  }
  pthread_mutex_unlock(&P->Lock);
}

/* ---- pausing and resuming input ------------------------------------------- */

/*
 * Pause reading while too much waits: output not yet written, and calls
 * read but not yet answered (a controller that sends faster than the
 * executor works). Resume once it has drained. The calls do not count when
 * every one of them may be waiting for the controller (the executor has as
 * many calls of its own unanswered): nothing but the controller's answers,
 * which must still be read, would let them finish. While other calls are
 * running, they count, and their answers resume reading: so the bound
 * holds even while some JIT'd code waits for the controller.
 */
/* What waits now; sequentially consistent against the writers' reads of ReadPaused. */
static size_t pending(struct pipe_access *P) {
  size_t Pending = atomic_load(&P->PendingOutput);
  if (atomic_load(&P->CallsToController) < atomic_load(&P->CallCount))
    Pending += atomic_load(&P->CallBytes);
  return Pending;
}

void orcrt_pipe_update_read_state(struct pipe_access *P) {
  if (P->ReadStopped)
    return;
  size_t Pending = pending(P);
  bool Paused = atomic_load(&P->ReadPaused);
  if (!Paused && Pending > P->MaxPendingOutput) {
    atomic_store(&P->ReadPaused, true);
    event_del(P->ReadEv);
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug,
                       "pipe: %zu bytes of output and calls pending, input paused", Pending);
    /*
     * A thread that wrote output or answered a call since may not have
     * seen the pause, and would not wake this thread: look again.
     */
    Paused = true;
    Pending = pending(P);
  }
  if (Paused && Pending <= P->MaxPendingOutput) {
    atomic_store(&P->ReadPaused, false);
    event_add(P->ReadEv, NULL);
    /* Frames may already sit in the read buffer: look at them now. */
    event_active(P->ReadEv, EV_READ, 0);
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug, "pipe: input resumed");
  }
}

/* ---- idle probing ---------------------------------------------------------- */

static void discard_probe_result(void *Ctx, orc_rt_WrapperFunctionBuffer Result) {
  (void)Ctx;
  orc_rt_WrapperFunctionBuffer_dispose(&Result);
}

/*
 * Whether the session is idle: every call answered both ways, nothing read
 * in part, nothing waiting to be written. I/O thread.
 */
static bool is_idle(struct pipe_access *P) {
  if (!P->SeenCall || P->CallsIn != atomic_load(&P->ResultsOut) ||
      atomic_load(&P->CallsOut) != P->ResultsIn || P->Out.Head || P->InPayload || P->HeaderHave ||
      P->RxStart != P->RxEnd)
    return false;
  pthread_mutex_lock(&P->Lock);
  bool Empty = P->QueueHead == NULL && P->OutOwner != OUT_DIRECT && !P->Stopping;
  pthread_mutex_unlock(&P->Lock);
  return Empty;
}

void orcrt_pipe_update_probe(struct pipe_access *P) {
  if (!P->ProbeEv)
    return;
  bool Idle = !P->ReadStopped && !P->WriteBroken && is_idle(P);
  if (Idle && !P->ProbeArmed) {
    struct timeval Tv = {.tv_sec = P->ProbeDelayMs / 1000,
                         .tv_usec = (suseconds_t)(P->ProbeDelayMs % 1000) * 1000};
    P->ProbeArmed = evtimer_add(P->ProbeEv, &Tv) == 0;
  } else if (!Idle && P->ProbeArmed) {
    evtimer_del(P->ProbeEv);
    P->ProbeArmed = false;
  }
}

static void on_probe(evutil_socket_t Fd, short What, void *Arg) {
  (void)Fd;
  (void)What;
  struct pipe_access *P = Arg;
  P->ProbeArmed = false;
  if (P->ReadStopped || P->WriteBroken || !is_idle(P))
    return;
  orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug,
                     "pipe: idle for %u ms, probing the controller with an empty call",
                     P->ProbeDelayMs);
  if (P->ProbeDelayMs <= UINT_MAX / 2 &&
      P->ProbeDelayMs * 2 <= P->IdleProbeMs * PROBE_BACKOFF_LIMIT)
    P->ProbeDelayMs *= 2;
  orc_rt_WrapperFunctionBuffer None;
  orc_rt_WrapperFunctionBuffer_init(&None);
  /* Queued like any call; the session is busy until it is answered. */
  orc_rt_Session_callController(P->S, 0, None, discard_probe_result, NULL);
}

/* ---- setup and teardown ------------------------------------------------------ */

bool orcrt_pipe_flow_init(struct pipe_access *P) {
  orcrt_u64map_init(&P->Charges, sizeof(struct call_charge));
  P->ProbeDelayMs = P->IdleProbeMs;
  if (!P->IdleProbeMs)
    return true;
  P->ProbeEv = evtimer_new(P->Base, on_probe, P);
  return P->ProbeEv != NULL;
}

void orcrt_pipe_flow_free(struct pipe_access *P) {
  if (P->ProbeEv)
    event_free(P->ProbeEv);
  P->ProbeEv = NULL;
  orcrt_u64map_free(&P->Charges);
}

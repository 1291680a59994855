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
 * Locks: the charge table (Charges, ChargeMask, ChargeUsed) is under
 * P->Lock, taken here; CallBytes changes with it and is read without the
 * lock. ReadPaused, the probe timer and the frame counters belong to the
 * I/O thread. See pipe-internal.h.
 */
#include "pipe-internal.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/time.h>

/*
 * What a call read from the controller weighs until it is answered, beyond
 * its frame: what the Session keeps for it.
 */
#define CALL_OVERHEAD 256
/* The charge table's first capacity; it doubles when half full. */
#define CHARGES_FIRST_CAPACITY 64
/* Idle probes back off to at most this many times the first delay. */
#define PROBE_BACKOFF_LIMIT 64

/* ---- call charges ---------------------------------------------------------- */

/*
 * An open-addressed table with linear probing and backward-shift deletion.
 * Calls with one sequence number share an entry (nothing stops a
 * controller from reusing one).
 */
static size_t charge_slot(uint64_t Seq, size_t Mask) {
  return (size_t)((Seq * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & Mask;
}

/* Room for one more sequence number. Lock held. */
static bool charges_reserve_locked(struct pipe_access *P) {
  size_t Cap = P->Charges ? P->ChargeMask + 1 : 0;
  if ((P->ChargeUsed + 1) * 2 <= Cap)
    return true;
  size_t NewCap = Cap ? Cap * 2 : CHARGES_FIRST_CAPACITY;
  struct call_charge *New = P->ChargeCalloc(NewCap, sizeof(*New));
  if (!New)
    return false;
  for (size_t I = 0; I < Cap; I++) {
    if (!P->Charges[I].Count)
      continue;
    size_t J = charge_slot(P->Charges[I].Seq, NewCap - 1);
    while (New[J].Count)
      J = (J + 1) & (NewCap - 1);
    New[J] = P->Charges[I];
  }
  free(P->Charges);
  P->Charges = New;
  P->ChargeMask = NewCap - 1;
  return true;
}

bool orcrt_pipe_charge_call(struct pipe_access *P, uint64_t SeqNo, size_t PayloadSize) {
  size_t Bytes = WIRE_HEADER_SIZE + PayloadSize + CALL_OVERHEAD;
  pthread_mutex_lock(&P->Lock);
  if (!charges_reserve_locked(P)) {
    /* Uncounted, the call would loosen the bound: the caller refuses it. */
    pthread_mutex_unlock(&P->Lock);
    return false;
  }
  size_t I = charge_slot(SeqNo, P->ChargeMask);
  while (P->Charges[I].Count && P->Charges[I].Seq != SeqNo)
    I = (I + 1) & P->ChargeMask;
  if (!P->Charges[I].Count) {
    P->Charges[I].Seq = SeqNo;
    P->ChargeUsed++;
  }
  P->Charges[I].Bytes += Bytes;
  P->Charges[I].Count++;
  atomic_fetch_add_explicit(&P->CallBytes, Bytes, memory_order_relaxed);
  pthread_mutex_unlock(&P->Lock);
  return true;
}

/* Free slot I, shifting later members of its run back. Lock held. */
static void charges_remove_locked(struct pipe_access *P, size_t I) {
  P->ChargeUsed--;
  for (size_t J = I;;) {
    J = (J + 1) & P->ChargeMask;
    if (!P->Charges[J].Count)
      break;
    size_t K = charge_slot(P->Charges[J].Seq, P->ChargeMask);
    if (I <= J ? (I < K && K <= J) : (I < K || K <= J))
      continue;
    P->Charges[I] = P->Charges[J];
    I = J;
  }
  P->Charges[I].Count = 0;
  P->Charges[I].Bytes = 0;
}

void orcrt_pipe_discharge_call(struct pipe_access *P, uint64_t SeqNo) {
  pthread_mutex_lock(&P->Lock);
  if (!P->Charges)
    goto out;
  size_t I = charge_slot(SeqNo, P->ChargeMask);
  while (P->Charges[I].Count && P->Charges[I].Seq != SeqNo)
    I = (I + 1) & P->ChargeMask;
  struct call_charge *C = &P->Charges[I];
  if (!C->Count)
    goto out;
  size_t Share = C->Bytes / C->Count;
  C->Bytes -= Share;
  atomic_fetch_sub_explicit(&P->CallBytes, Share, memory_order_relaxed);
  if (--C->Count)
    goto out;
  /* The last of them: what rounding left goes too. */
  atomic_fetch_sub_explicit(&P->CallBytes, C->Bytes, memory_order_relaxed);
  charges_remove_locked(P, I);
out:
  pthread_mutex_unlock(&P->Lock);
}

/* ---- pausing and resuming input ------------------------------------------- */

/*
 * Pause reading while too much waits: output not yet written, and calls
 * read but not yet answered (a controller that sends faster than the
 * executor works). Resume once it has drained. The calls do not count while
 * the executor itself waits for the controller: its answers must still be
 * read.
 */
void orcrt_pipe_update_read_state(struct pipe_access *P) {
  if (P->ReadStopped)
    return;
  size_t Pending = atomic_load_explicit(&P->PendingOutput, memory_order_relaxed);
  if (atomic_load_explicit(&P->CallsToController, memory_order_relaxed) == 0)
    Pending += atomic_load_explicit(&P->CallBytes, memory_order_relaxed);
  if (!P->ReadPaused && Pending > P->MaxPendingOutput) {
    P->ReadPaused = true;
    event_del(P->ReadEv);
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug,
                       "pipe: %zu bytes of output and calls pending, input paused", Pending);
  } else if (P->ReadPaused && Pending <= P->MaxPendingOutput) {
    P->ReadPaused = false;
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
  if (!P->SeenCall || P->CallsIn != P->ResultsOut || P->CallsOut != P->ResultsIn || P->OutHead ||
      P->InPayload || P->HeaderHave || P->RxStart != P->RxEnd)
    return false;
  pthread_mutex_lock(&P->Lock);
  bool Empty = P->QueueHead == NULL && !P->Stopping;
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
  free(P->Charges);
  P->Charges = NULL;
  P->ChargeMask = P->ChargeUsed = 0;
}

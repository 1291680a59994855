/*
 * pipe-output.c - the pipe transport's output: the frame queue, its node
 * cache, who writes OutFd, the writev() flush and the early Setup write
 *
 * Any thread queues a frame (orcrt_pipe_enqueue()) on the shared queue.
 * Frames leave in the order they were queued, written by one thread at a
 * time, the owner of OutFd (OutOwner):
 *  - On any thread but the I/O thread, a frame queued while nobody writes
 *    is written at once by the thread that queued it (OUT_DIRECT), with
 *    whatever others queue meanwhile: the result of a call finished on a
 *    pool worker reaches the controller without waking the I/O thread, a
 *    crossing between CPUs that on a virtual machine costs more than the
 *    call. Such a writer blocks SIGPIPE around its writes
 *    (util/sigpipe.h). If OutFd would block (EAGAIN, a short write) or the
 *    write fails, it hands what is left, the written part of its first
 *    frame included, to the I/O thread (Handoff, OUT_IO) and wakes it:
 *    that thread resumes the write when OutFd drains, or meets the failure
 *    again and reports it as its own. It wakes the I/O thread too when
 *    that thread must look at what the write changed: input paused for
 *    back-pressure, a half-closed session waiting for its last results,
 *    idle probing.
 *  - While the I/O thread owns OutFd, a frame queued on another thread
 *    wakes it through the eventfd; only the enqueue that makes the queue
 *    non-empty writes the eventfd, so a burst of results costs one wake-up.
 *    A frame queued on the I/O thread inside a read callback (an answer
 *    given inline) costs none: it is written when the callback ends.
 * The I/O thread writes its output list with writev(), up to
 * FRAMES_PER_WRITE frames at a time, resuming partial writes when OutFd
 * becomes writable again, and gives OutFd up when the list and the queue
 * are empty (never after the output failed).
 *
 * Locks: the shared queue (QueueHead, QueueTail), OutOwner, Handoff and
 * the node cache (FreeNodes, NumFreeNodes) are under P->Lock, and so is
 * Stopping, read at enqueue. A direct writer's list is its own. The output
 * list (Out), WriteArmed and WriteBroken belong to the I/O thread.
 * PendingOutput grows under P->Lock and shrinks as bytes are written, on
 * the thread that wrote them; ResultsOut and CallsOut grow there too. See
 * pipe-internal.h.
 */
#include "pipe-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/sigpipe.h"

/* Frames gathered into one writev(). */
#define FRAMES_PER_WRITE 64
/* Queue nodes kept for reuse. */
#define MAX_FREE_NODES 256

/* The connection whose I/O thread this is, if any. */
static _Thread_local struct pipe_access *CurrentIO;

void orcrt_pipe_output_bind_thread(struct pipe_access *P) {
  CurrentIO = P;
}

void orcrt_pipe_wake(struct pipe_access *P) {
  uint64_t One = 1;
  ssize_t R;
  while ((R = write(P->WakeFd, &One, sizeof(One))) < 0 && errno == EINTR)
    ;
  /* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
  if (R < 0 && errno != EAGAIN && orcrt_pipe_channel_taken(P))
    orcrt_pipe_end_session(P, orc_rt_Error_create("the channel's descriptors were closed or "
                                                  "replaced in the executor (by JIT'd code?)"));
}

/* ---- the queue ------------------------------------------------------------ */

/* Dispose the payloads of a list of frames and return the nodes to the cache. */
static void release_frames(struct pipe_access *P, struct out_frame *List) {
  if (!List)
    return;
  for (struct out_frame *F = List; F; F = F->Next)
    orc_rt_WrapperFunctionBuffer_dispose(&F->Payload);
  struct out_frame *Excess = NULL;
  pthread_mutex_lock(&P->Lock);
  while (List) {
    struct out_frame *F = List;
    List = F->Next;
    if (P->NumFreeNodes < MAX_FREE_NODES) {
      F->Next = P->FreeNodes;
      P->FreeNodes = F;
      P->NumFreeNodes++;
    } else {
      F->Next = Excess;
      Excess = F;
    }
  }
  pthread_mutex_unlock(&P->Lock);
  while (Excess) {
    struct out_frame *F = Excess;
    Excess = F->Next;
    free(F);
  }
}

static size_t frame_bytes(const struct out_frame *F) {
  return WIRE_HEADER_SIZE + F->Payload.Size;
}

static void list_init(struct out_list *L) {
  L->Head = NULL;
  L->Tail = &L->Head;
  L->Offset = 0;
}

/* Move the shared queue to the end of L. Lock held. */
static void take_queue_locked(struct pipe_access *P, struct out_list *L) {
  if (!P->QueueHead)
    return;
  *L->Tail = P->QueueHead;
  L->Tail = P->QueueTail;
  P->QueueHead = NULL;
  P->QueueTail = &P->QueueHead;
}

static void write_direct(struct pipe_access *P, struct out_list *L);

void orcrt_pipe_enqueue(struct pipe_access *P, uint64_t OpC, uint64_t SeqNo, uint64_t Tag,
                        orc_rt_WrapperFunctionBuffer Payload) {
  const char *Oob = orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Payload);
  if (Oob) {
    /* LLVM 19 has no wire form for an out-of-band error: send no bytes. */
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug,
                       "pipe: %s seq=%llu carries an out-of-band error, sent empty: %s",
                       orcrt_wire_opcode_name(OpC), (unsigned long long)SeqNo, Oob);
    orc_rt_WrapperFunctionBuffer_dispose(&Payload);
  }
  size_t Size = Payload.Size;

  pthread_mutex_lock(&P->Lock);
  if (P->Stopping) {
    pthread_mutex_unlock(&P->Lock);
    orc_rt_WrapperFunctionBuffer_dispose(&Payload);
    return;
  }
  struct out_frame *F = P->FreeNodes;
  if (F) {
    P->FreeNodes = F->Next;
    P->NumFreeNodes--;
  } else if (!(F = malloc(sizeof(*F)))) {
    pthread_mutex_unlock(&P->Lock);
    orc_rt_WrapperFunctionBuffer_dispose(&Payload);
    orcrt_pipe_end_session(P, orc_rt_Error_create("out of memory queueing a %s frame",
                                                  orcrt_wire_opcode_name(OpC)));
    return;
  }
  F->OpC = OpC;
  orcrt_wire_encode_header(F->Header, OpC, SeqNo, Tag, Size);
  F->Payload = Payload;
  F->Next = NULL;
  bool WasEmpty = P->QueueHead == NULL;
  *P->QueueTail = F;
  P->QueueTail = &F->Next;
  atomic_fetch_add(&P->PendingOutput, WIRE_HEADER_SIZE + Size);
  bool OnIO = CurrentIO == P;
  enum out_owner Owner = P->OutOwner;
  struct out_list Mine;
  list_init(&Mine);
  if (!OnIO && Owner == OUT_FREE) {
    P->OutOwner = OUT_DIRECT;
    take_queue_locked(P, &Mine);
  }
  pthread_mutex_unlock(&P->Lock);

  /* Calls and results are traced by the Session (session-calls.c), by name. */
  if (OpC != WIRE_OP_CALL_WRAPPER && OpC != WIRE_OP_RESULT && orcrt_pipe_debug_enabled(P))
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug, "pipe: sent %s, %zu bytes",
                       orcrt_wire_opcode_name(OpC), Size);
  if (Mine.Head)
    write_direct(P, &Mine);
  else if (OnIO && P->InRead)
    P->QueuedInRead = true; /* an inline answer: written when the read callback ends */
  else if (WasEmpty && Owner != OUT_DIRECT)
    orcrt_pipe_wake(P); /* a direct writer takes the frame along before it lets go */
}

void orcrt_pipe_drop_queue(struct pipe_access *P) {
  pthread_mutex_lock(&P->Lock);
  struct out_frame *List = P->QueueHead;
  P->QueueHead = NULL;
  P->QueueTail = &P->QueueHead;
  struct out_frame *Handed = P->Handoff.Head;
  list_init(&P->Handoff);
  pthread_mutex_unlock(&P->Lock);
  release_frames(P, List);
  release_frames(P, Handed);
}

void orcrt_pipe_drop_output(struct pipe_access *P) {
  size_t Dropped = 0;
  for (struct out_frame *F = P->Out.Head; F; F = F->Next)
    Dropped += frame_bytes(F);
  /* What of the first frame was written has been accounted for already. */
  Dropped -= P->Out.Offset;
  release_frames(P, P->Out.Head);
  list_init(&P->Out);
  atomic_fetch_sub(&P->PendingOutput, Dropped);
}

void orcrt_pipe_output_free(struct pipe_access *P) {
  orcrt_pipe_drop_output(P);
  orcrt_pipe_drop_queue(P);
  while (P->FreeNodes) {
    struct out_frame *F = P->FreeNodes;
    P->FreeNodes = F->Next;
    free(F);
  }
  P->NumFreeNodes = 0;
}

/* ---- writing ---------------------------------------------------------------- */

/* Fill Iov with what is left of L, from its offset. Returns the count. */
static int gather(const struct out_list *L, struct iovec *Iov, int Max, size_t *Requested) {
  int N = 0;
  size_t Skip = L->Offset;
  *Requested = 0;
  for (struct out_frame *F = L->Head; F && N < Max - 1; F = F->Next) {
    char *Data = orc_rt_WrapperFunctionBuffer_data(&F->Payload);
    size_t PSize = F->Payload.Size;
    if (Skip < WIRE_HEADER_SIZE) {
      Iov[N].iov_base = F->Header + Skip;
      Iov[N++].iov_len = WIRE_HEADER_SIZE - Skip;
      if (PSize) {
        Iov[N].iov_base = Data;
        Iov[N++].iov_len = PSize;
      }
    } else {
      Iov[N].iov_base = Data + (Skip - WIRE_HEADER_SIZE);
      Iov[N++].iov_len = PSize - (Skip - WIRE_HEADER_SIZE);
    }
    *Requested += frame_bytes(F) - Skip;
    Skip = 0;
  }
  return N;
}

/* R bytes of L were written: count the frames done and move them to *DoneTail. */
static struct out_frame **retire(struct pipe_access *P, struct out_list *L, size_t R,
                                 struct out_frame **DoneTail) {
  for (size_t Left = R; Left;) {
    struct out_frame *F = L->Head;
    size_t Rest = frame_bytes(F) - L->Offset;
    if (Left < Rest) {
      L->Offset += Left;
      break;
    }
    Left -= Rest;
    L->Offset = 0;
    if (F->OpC == WIRE_OP_RESULT)
      atomic_fetch_add(&P->ResultsOut, 1);
    else if (F->OpC == WIRE_OP_CALL_WRAPPER)
      atomic_fetch_add(&P->CallsOut, 1);
    L->Head = F->Next;
    F->Next = NULL;
    *DoneTail = F;
    DoneTail = &F->Next;
  }
  if (!L->Head)
    L->Tail = &L->Head;
  return DoneTail;
}

enum write_status { WRITE_DONE, WRITE_BLOCKED, WRITE_FAILED };

/*
 * Write L to OutFd until it is empty, OutFd would block or a write fails
 * (its errno in *Errno). Frames written go to **DoneTail, their bytes are
 * added to *Written.
 */
static enum write_status write_list(struct pipe_access *P, struct out_list *L,
                                    struct out_frame ***DoneTail, size_t *Written, int *Errno) {
  while (L->Head) {
    struct iovec Iov[2 * FRAMES_PER_WRITE];
    size_t Requested;
    int N = gather(L, Iov, 2 * FRAMES_PER_WRITE, &Requested);
    ssize_t R = writev(P->OutFd, Iov, N);
    if (R < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return WRITE_BLOCKED;
      *Errno = errno;
      return WRITE_FAILED;
    }
    *Written += (size_t)R;
    *DoneTail = retire(P, L, (size_t)R, *DoneTail);
    if ((size_t)R < Requested)
      return WRITE_BLOCKED; /* a short write: the pipe is full */
  }
  return WRITE_DONE;
}

/*
 * A thread other than the I/O thread owns OutFd (OUT_DIRECT) and writes L,
 * then whatever was queued meanwhile, until the queue is empty. What OutFd
 * does not take goes to the I/O thread. Never calls into the Session: the
 * thread may be inside the Session's SendResult.
 */
static void write_direct(struct pipe_access *P, struct out_list *L) {
  struct out_frame *Done = NULL, **DoneTail = &Done;
  size_t Written = 0;
  int Errno = 0;
  enum write_status St;
  sigset_t Old;
  orcrt_sigpipe_begin(&Old);
  for (;;) {
    St = write_list(P, L, &DoneTail, &Written, &Errno);
    if (St != WRITE_DONE)
      break;
    pthread_mutex_lock(&P->Lock);
    if (!P->QueueHead || P->Stopping) {
      /* Stopping: what is queued is dropped with the channel. */
      P->OutOwner = OUT_FREE;
      pthread_mutex_unlock(&P->Lock);
      break;
    }
    take_queue_locked(P, L);
    pthread_mutex_unlock(&P->Lock);
  }
  orcrt_sigpipe_end(&Old, St == WRITE_FAILED && Errno == EPIPE);
  if (St != WRITE_DONE) {
    /* The I/O thread resumes it when OutFd drains, or reports the failure. */
    pthread_mutex_lock(&P->Lock);
    P->Handoff = *L;
    P->OutOwner = OUT_IO;
    pthread_mutex_unlock(&P->Lock);
  }
  if (Written)
    atomic_fetch_sub(&P->PendingOutput, Written);
  release_frames(P, Done);
  /* After the counters changed (sequentially consistent, see pipe-internal.h). */
  if (St != WRITE_DONE || P->IdleProbeMs || atomic_load(&P->ReadPaused) ||
      atomic_load(&P->HalfClosed))
    orcrt_pipe_wake(P);
}

static void arm_write(struct pipe_access *P) {
  if (!P->WriteArmed && event_add(P->WriteEv, NULL) == 0)
    P->WriteArmed = true;
}

static void write_failed(struct pipe_access *P, int Errno) {
  P->WriteBroken = true;
  if (P->WriteArmed) {
    event_del(P->WriteEv);
    P->WriteArmed = false;
  }
  orcrt_pipe_drop_output(P);
  if (Errno == EPIPE || Errno == ECONNRESET) {
    /* The controller closed its end: it is gone, as with end of file. */
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Info, "pipe: the controller closed its input");
    orcrt_pipe_end_input(P, NULL);
  } else {
    orcrt_pipe_end_input(P, orc_rt_Error_fromErrno(Errno, "writing to the controller"));
  }
}

/* What the I/O thread looks at after output changed. */
static void output_changed(struct pipe_access *P) {
  orcrt_pipe_update_read_state(P);
  orcrt_pipe_update_probe(P);
  orcrt_pipe_end_if_answered(P);
}

void orcrt_pipe_flush(struct pipe_access *P) {
  struct out_frame *Done = NULL, **DoneTail = &Done;
  size_t Written = 0;
  int Errno = 0;

  if (P->WriteBroken) {
    orcrt_pipe_drop_output(P);
    return;
  }
  for (;;) {
    enum write_status St = write_list(P, &P->Out, &DoneTail, &Written, &Errno);
    if (St == WRITE_BLOCKED) {
      arm_write(P);
      break;
    }
    if (St == WRITE_FAILED) {
      write_failed(P, Errno);
      break;
    }
    pthread_mutex_lock(&P->Lock);
    take_queue_locked(P, &P->Out);
    if (!P->Out.Head)
      P->OutOwner = OUT_FREE; /* the next thread to queue a frame writes it */
    pthread_mutex_unlock(&P->Lock);
    if (!P->Out.Head)
      break;
  }
  if (!P->Out.Head && P->WriteArmed) {
    event_del(P->WriteEv);
    P->WriteArmed = false;
  }
  release_frames(P, Done);
  if (Written)
    atomic_fetch_sub(&P->PendingOutput, Written);
  output_changed(P);
}

void orcrt_pipe_write_pending(struct pipe_access *P) {
  pthread_mutex_lock(&P->Lock);
  bool Mine = P->OutOwner != OUT_DIRECT;
  if (Mine) {
    P->OutOwner = OUT_IO;
    if (P->Handoff.Head) {
      /* The list is empty: it is non-empty only while this thread owns OutFd. */
      P->Out = P->Handoff;
      list_init(&P->Handoff);
    }
    take_queue_locked(P, &P->Out);
  }
  pthread_mutex_unlock(&P->Lock);
  if (Mine)
    orcrt_pipe_flush(P);
  else
    output_changed(P);
}

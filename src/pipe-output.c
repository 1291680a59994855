/*
 * pipe-output.c - the pipe transport's output: the frame queue, its node
 * cache, the writev() flush and the early Setup write
 *
 * Any thread queues a frame (orcrt_pipe_enqueue()) on the shared queue and
 * wakes the I/O thread through the eventfd; only the enqueue that makes the
 * queue non-empty writes it, so a burst of results costs one wake-up, and a
 * frame queued on the I/O thread inside a read callback (an answer given
 * inline) costs none: it is flushed when the callback ends. The I/O thread
 * moves the queue to its output list and writes it with writev(), up to
 * FRAMES_PER_WRITE frames at a time, resuming partial writes when OutFd
 * becomes writable again.
 *
 * Locks: the shared queue (QueueHead, QueueTail) and the node cache
 * (FreeNodes, NumFreeNodes) are under P->Lock, and so is Stopping, read at
 * enqueue. The output list (OutHead, OutTail, OutOffset), WriteArmed and
 * WriteBroken belong to the I/O thread. PendingOutput grows under P->Lock
 * and shrinks on the I/O thread as bytes are written. See pipe-internal.h.
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
  atomic_fetch_add_explicit(&P->PendingOutput, WIRE_HEADER_SIZE + Size, memory_order_relaxed);
  pthread_mutex_unlock(&P->Lock);

  /* Calls and results are traced by the Session (session-calls.c), by name. */
  if (OpC != WIRE_OP_CALL_WRAPPER && OpC != WIRE_OP_RESULT && orcrt_pipe_debug_enabled(P))
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug, "pipe: sent %s, %zu bytes",
                       orcrt_wire_opcode_name(OpC), Size);
  if (CurrentIO == P && P->InRead)
    P->QueuedInRead = true; /* an inline answer: flushed when the read callback ends */
  else if (WasEmpty)
    orcrt_pipe_wake(P);
}

void orcrt_pipe_take_queue_locked(struct pipe_access *P) {
  if (!P->QueueHead)
    return;
  *P->OutTail = P->QueueHead;
  P->OutTail = P->QueueTail;
  P->QueueHead = NULL;
  P->QueueTail = &P->QueueHead;
}

void orcrt_pipe_drop_queue(struct pipe_access *P) {
  pthread_mutex_lock(&P->Lock);
  struct out_frame *List = P->QueueHead;
  P->QueueHead = NULL;
  P->QueueTail = &P->QueueHead;
  pthread_mutex_unlock(&P->Lock);
  release_frames(P, List);
}

void orcrt_pipe_drop_output(struct pipe_access *P) {
  size_t Dropped = 0;
  for (struct out_frame *F = P->OutHead; F; F = F->Next)
    Dropped += frame_bytes(F);
  /* What of the first frame was written has been accounted for already. */
  Dropped -= P->OutOffset;
  release_frames(P, P->OutHead);
  P->OutHead = NULL;
  P->OutTail = &P->OutHead;
  P->OutOffset = 0;
  atomic_fetch_sub_explicit(&P->PendingOutput, Dropped, memory_order_relaxed);
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

/* Fill Iov with what is left of the output list, from OutOffset. Returns the count. */
static int gather(struct pipe_access *P, struct iovec *Iov, int Max, size_t *Requested) {
  int N = 0;
  size_t Skip = P->OutOffset;
  *Requested = 0;
  for (struct out_frame *F = P->OutHead; F && N < Max - 1; F = F->Next) {
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

/* R bytes of the output list were written: move the frames done to *DoneTail. */
static struct out_frame **retire(struct pipe_access *P, size_t R, struct out_frame **DoneTail) {
  for (size_t Left = R; Left;) {
    struct out_frame *F = P->OutHead;
    size_t Rest = frame_bytes(F) - P->OutOffset;
    if (Left < Rest) {
      P->OutOffset += Left;
      break;
    }
    Left -= Rest;
    P->OutOffset = 0;
    if (F->OpC == WIRE_OP_RESULT)
      P->ResultsOut++;
    else if (F->OpC == WIRE_OP_CALL_WRAPPER)
      P->CallsOut++;
    P->OutHead = F->Next;
    F->Next = NULL;
    *DoneTail = F;
    DoneTail = &F->Next;
  }
  if (!P->OutHead)
    P->OutTail = &P->OutHead;
  return DoneTail;
}

void orcrt_pipe_flush(struct pipe_access *P) {
  struct out_frame *Done = NULL, **DoneTail = &Done;
  size_t Written = 0;

  if (P->WriteBroken) {
    orcrt_pipe_drop_output(P);
    return;
  }
  while (P->OutHead) {
    struct iovec Iov[2 * FRAMES_PER_WRITE];
    size_t Requested;
    int N = gather(P, Iov, 2 * FRAMES_PER_WRITE, &Requested);
    ssize_t R = writev(P->OutFd, Iov, N);
    if (R < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        arm_write(P);
        break;
      }
      write_failed(P, errno);
      break;
    }
    Written += (size_t)R;
    DoneTail = retire(P, (size_t)R, DoneTail);
    if ((size_t)R < Requested) {
      /* A short write: the pipe is full; wait until it drains. */
      arm_write(P);
      break;
    }
  }
  if (!P->OutHead && P->WriteArmed) {
    event_del(P->WriteEv);
    P->WriteArmed = false;
  }
  release_frames(P, Done);
  if (Written)
    atomic_fetch_sub_explicit(&P->PendingOutput, Written, memory_order_relaxed);
  orcrt_pipe_update_read_state(P);
  orcrt_pipe_update_probe(P);
  orcrt_pipe_end_if_answered(P);
}

/*
 * Write the Setup frame from Connect, before the I/O thread exists: the
 * controller waits for nothing else, and a thread takes a while to start.
 * What the descriptor does not take now (or a failure) is left to the I/O
 * thread's first flush. This is the embedder's thread, which may take
 * SIGPIPE; the I/O thread blocks every signal.
 */
void orcrt_pipe_send_setup_now(struct pipe_access *P) {
  pthread_mutex_lock(&P->Lock);
  orcrt_pipe_take_queue_locked(P);
  pthread_mutex_unlock(&P->Lock);
  struct out_frame *F = P->OutHead;
  if (!F || P->OutOffset)
    return;
  struct iovec Iov[2] = {{F->Header, WIRE_HEADER_SIZE},
                         {orc_rt_WrapperFunctionBuffer_data(&F->Payload), F->Payload.Size}};
  ssize_t R;
  sigset_t Old;
  orcrt_sigpipe_begin(&Old);
  do
    R = writev(P->OutFd, Iov, F->Payload.Size ? 2 : 1);
  while (R < 0 && errno == EINTR);
  orcrt_sigpipe_end(&Old, R < 0 && errno == EPIPE);
  if (R <= 0)
    return;
  atomic_fetch_sub_explicit(&P->PendingOutput, (size_t)R, memory_order_relaxed);
  if ((size_t)R < frame_bytes(F)) {
    P->OutOffset = (size_t)R;
    return;
  }
  P->OutHead = F->Next;
  if (!P->OutHead)
    P->OutTail = &P->OutHead;
  F->Next = NULL;
  release_frames(P, F);
}

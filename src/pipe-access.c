/*
 * pipe-access.c - the pipe/eventfd ControllerAccess, speaking LLVM 19's wire
 * protocol
 *
 * One I/O thread per connection runs a libevent loop; it alone touches the
 * descriptors, the libevent objects and the fields marked "I/O thread" below.
 * Other threads queue outgoing frames under Lock and wake the loop through an
 * eventfd; only the enqueue that makes the queue non-empty writes it, so a
 * burst of results costs one wake-up. Disconnect requests travel the same way.
 */
#include "orcrt-internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <orcrt/controller-access.h>
#include <orcrt/pipe-access.h>
#include <orcrt/session.h>
#include <orcrt/sps.h>

#include "pipe-access-internal.h"

/* ---- the host triple, from the compiler's macros ----------------------- */

#if defined(__x86_64__)
#define ORCRT_ARCH "x86_64-pc"
#elif defined(__i386__)
#define ORCRT_ARCH "i686-pc"
#elif defined(__aarch64__) && defined(__AARCH64EB__)
#define ORCRT_ARCH "aarch64_be-unknown"
#elif defined(__aarch64__)
#define ORCRT_ARCH "aarch64-unknown"
#elif defined(__arm__)
#define ORCRT_ARCH "arm-unknown"
#elif defined(__riscv) && __riscv_xlen == 64
#define ORCRT_ARCH "riscv64-unknown"
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define ORCRT_ARCH "powerpc64le-unknown"
#elif defined(__powerpc64__)
#define ORCRT_ARCH "powerpc64-unknown"
#elif defined(__s390x__)
#define ORCRT_ARCH "s390x-unknown"
#elif defined(__loongarch64)
#define ORCRT_ARCH "loongarch64-unknown"
#else
#define ORCRT_ARCH "unknown-unknown"
#endif

#if defined(__linux__)
#define ORCRT_OS "-linux"
#elif defined(__FreeBSD__)
#define ORCRT_OS "-freebsd"
#else
#define ORCRT_OS "-unknown"
#endif

#if !defined(__linux__)
#define ORCRT_ENV ""
#elif defined(__x86_64__) && defined(__ILP32__)
#define ORCRT_ENV "-gnux32"
#elif defined(__arm__) && defined(__GLIBC__) && defined(__ARM_PCS_VFP)
#define ORCRT_ENV "-gnueabihf"
#elif defined(__arm__) && defined(__GLIBC__)
#define ORCRT_ENV "-gnueabi"
#elif defined(__GLIBC__)
#define ORCRT_ENV "-gnu"
#else
#define ORCRT_ENV "-musl"
#endif

#define ORCRT_HOST_TRIPLE ORCRT_ARCH ORCRT_OS ORCRT_ENV

/* ---- wire format -------------------------------------------------------- */

enum { OpSetup = 0, OpHangup = 1, OpResult = 2, OpCallWrapper = 3 };

#define HEADER_SIZE 32
/* Reads of small frames go through a buffer of this size. */
#define RX_BUF_SIZE (64 * 1024)
/* The first allocation for a large payload; it doubles as bytes arrive. */
#define PAYLOAD_FIRST_CHUNK (64 * 1024)
/* Payloads up to this size are allocated whole when they begin to arrive. */
#define PAYLOAD_WHOLE_SIZE ((size_t)64 << 20)
/* The most a read into a large payload asks for. */
#define READ_CHUNK_SIZE (1024 * 1024)
/* Frames gathered into one writev(). */
#define FRAMES_PER_WRITE 64
/* Queue nodes kept for reuse. */
#define MAX_FREE_NODES 256
/* Reads per readiness callback, so a flood of input cannot starve output. */
#define READS_PER_CALLBACK 16
/* Idle probes back off to at most this many times the first delay. */
#define PROBE_BACKOFF_LIMIT 64

static const char *opcode_name(uint64_t OpC) {
  switch (OpC) {
  case OpSetup:
    return "Setup";
  case OpHangup:
    return "Hangup";
  case OpResult:
    return "Result";
  case OpCallWrapper:
    return "CallWrapper";
  }
  return "?";
}

/* One load or store on little-endian hosts (the headers of every frame go through these). */
static void put_le64(unsigned char *P, uint64_t V) {
  V = htole64(V);
  memcpy(P, &V, sizeof(V));
}

static uint64_t get_le64(const unsigned char *P) {
  uint64_t V;
  memcpy(&V, P, sizeof(V));
  return le64toh(V);
}

/* ---- state ------------------------------------------------------------- */

/* An outgoing frame: its encoded header and the payload it owns. */
struct out_frame {
  struct out_frame *Next;
  unsigned char Header[HEADER_SIZE];
  orc_rt_WrapperFunctionBuffer Payload;
};

struct pipe_access {
  orc_rt_SessionRef S;
  int InFd, OutFd, WakeFd;
  size_t MaxFrameSize, MaxPendingOutput;
  char *Triple;
  uint64_t PageSize;
  /* The descriptors' flags before Connect, restored if it fails. */
  int SavedInFl, SavedInFdFl, SavedOutFl, SavedOutFdFl;

  /* Shared, under Lock. */
  pthread_mutex_t Lock;
  pthread_cond_t Joined_Cond;
  struct out_frame *QueueHead, **QueueTail;
  struct out_frame *FreeNodes;
  size_t NumFreeNodes;
  bool Stopping;      /* Disconnect began: sends are dropped, the loop exits */
  bool EndReported;   /* handleDisconnect was called */
  bool ThreadStarted; /* Thread is valid */
  bool Joining, Joined;
  pthread_t Thread;
  /* Bytes queued or being written; read without Lock by the I/O thread. */
  atomic_size_t PendingOutput;
  /* Calls read and not answered yet, by sequence number (under Lock); what
     they weigh together, and the executor's calls not answered yet (read
     without Lock). */
  struct call_charge *Charges;
  size_t ChargeMask, ChargeUsed;
  atomic_size_t CallBytes;
  atomic_uint CallsToController;

  /* I/O thread (and Connect/Destroy, when it is not running). */
  struct event_base *Base;
  struct event *ReadEv, *WriteEv, *WakeEv;
  struct out_frame *OutHead, **OutTail;
  size_t OutOffset;  /* bytes of OutHead already written */
  bool ReadStopped;  /* for good: the input ended */
  bool ReadPaused;   /* for now: too much output pending */
  bool WriteArmed;   /* WriteEv is added */
  bool WriteBroken;  /* the output failed; drop what comes */
  bool InRead;       /* inside on_readable: frames queued here need no wake-up */
  bool QueuedInRead; /* ... and some were queued */
  char *Rx;          /* buffered input, [RxStart, RxEnd) unconsumed */
  size_t RxStart, RxEnd;
  unsigned char Header[HEADER_SIZE];
  size_t HeaderHave;
  bool InPayload;
  uint64_t FrameOpC, FrameSeqNo, FrameTag;
  size_t PayloadSize, PayloadHave, PayloadCap;
  char *PayloadData; /* Payload.Data.Value for inline sizes, else malloc()ed */
  orc_rt_WrapperFunctionBuffer Payload;

  /* Idle probing (I/O thread; see orc_rt_PipeOptions.IdleProbeMs). */
  struct event *ProbeEv; /* NULL when probing is off */
  unsigned IdleProbeMs, ProbeDelayMs;
  bool ProbeArmed;
  /* Frames read or written. */
  uint64_t CallsIn, ResultsOut, CallsOut, ResultsIn;
  bool SeenCall; /* the controller has made a call */
  bool QuickAck; /* InFd is a TCP socket (see quick_ack()) */
};

/* The connection whose I/O thread this is, if any. */
static _Thread_local struct pipe_access *CurrentIO;

static bool debug_enabled(struct pipe_access *P) {
  return orc_rt_Session_getLogLevel(P->S) >= orc_rt_LogLevel_Debug;
}

/* ---- ending ------------------------------------------------------------- */

/*
 * Report the end of the channel to the Session, once; nothing is reported
 * once the Session itself has begun disconnecting.
 */
static void end_session(struct pipe_access *P, orc_rt_ErrorRef Err) {
  pthread_mutex_lock(&P->Lock);
  bool Report = !P->EndReported && !P->Stopping;
  P->EndReported = true;
  pthread_mutex_unlock(&P->Lock);
  if (Report)
    orc_rt_Session_handleDisconnect(P->S, Err);
  else
    orc_rt_Error_consume(Err);
}

static void discard_partial_frame(struct pipe_access *P) {
  if (P->PayloadData && P->PayloadData != P->Payload.Data.Value)
    free(P->PayloadData);
  P->PayloadData = NULL;
  P->PayloadCap = 0;
  P->InPayload = false;
  P->HeaderHave = 0;
  orc_rt_WrapperFunctionBuffer_init(&P->Payload);
}

/* The input ended (in order if Err is NULL): read nothing more, tell the Session. */
static void end_input(struct pipe_access *P, orc_rt_ErrorRef Err) {
  if (!P->ReadStopped) {
    P->ReadStopped = true;
    event_del(P->ReadEv);
    discard_partial_frame(P);
  }
  end_session(P, Err);
}

/* ---- output ------------------------------------------------------------- */

static void wake_loop(struct pipe_access *P) {
  uint64_t One = 1;
  /* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
  while (write(P->WakeFd, &One, sizeof(One)) < 0 && errno == EINTR)
    ;
}

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
  return HEADER_SIZE + F->Payload.Size;
}

/* Queue a frame (ownership of Payload passes); any thread. */
static void enqueue_frame(struct pipe_access *P, uint64_t OpC, uint64_t SeqNo, uint64_t Tag,
                          orc_rt_WrapperFunctionBuffer Payload) {
  const char *Oob = orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Payload);
  if (Oob) {
    /* LLVM 19 has no wire form for an out-of-band error: send no bytes. */
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug,
                       "pipe: %s seq=%llu carries an out-of-band error, sent empty: %s",
                       opcode_name(OpC), (unsigned long long)SeqNo, Oob);
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
    end_session(P, orc_rt_Error_create("out of memory queueing a %s frame", opcode_name(OpC)));
    return;
  }
  put_le64(F->Header, HEADER_SIZE + (uint64_t)Size);
  put_le64(F->Header + 8, OpC);
  put_le64(F->Header + 16, SeqNo);
  put_le64(F->Header + 24, Tag);
  F->Payload = Payload;
  F->Next = NULL;
  bool WasEmpty = P->QueueHead == NULL;
  *P->QueueTail = F;
  P->QueueTail = &F->Next;
  atomic_fetch_add_explicit(&P->PendingOutput, HEADER_SIZE + Size, memory_order_relaxed);
  pthread_mutex_unlock(&P->Lock);

  if (debug_enabled(P))
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug, "pipe: out %s seq=%llu tag=%#llx size=%zu",
                       opcode_name(OpC), (unsigned long long)SeqNo, (unsigned long long)Tag, Size);
  if (CurrentIO == P && P->InRead)
    P->QueuedInRead = true; /* an inline answer: flushed when the read callback ends */
  else if (WasEmpty)
    wake_loop(P);
}

/* Move the shared queue to the end of the output list. Lock held. */
static void take_queue_locked(struct pipe_access *P) {
  if (!P->QueueHead)
    return;
  *P->OutTail = P->QueueHead;
  P->OutTail = P->QueueTail;
  P->QueueHead = NULL;
  P->QueueTail = &P->QueueHead;
}

/* ---- calls in flight ------------------------------------------------------ */

/*
 * What a call read from the controller weighs until it is answered: its
 * frame, plus what the Session keeps for it. Calls with one sequence number
 * share an entry (nothing stops a controller from reusing one).
 */
#define CALL_OVERHEAD 256

struct call_charge {
  uint64_t Seq;
  size_t Bytes, Count; /* Count 0: a free slot */
};

static size_t charge_slot(uint64_t Seq, size_t Mask) {
  return (size_t)((Seq * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & Mask;
}

/* Count call Seq of Bytes as in flight. Lock held. */
static void charge_call_locked(struct pipe_access *P, uint64_t Seq, size_t Bytes) {
  if ((P->ChargeUsed + 1) * 2 > (P->Charges ? P->ChargeMask + 1 : 0)) {
    size_t Cap = P->Charges ? (P->ChargeMask + 1) * 2 : 64;
    struct call_charge *New = calloc(Cap, sizeof(*New));
    if (!New)
      return; /* uncounted: the bound is only looser */
    for (size_t I = 0; P->Charges && I <= P->ChargeMask; I++) {
      if (!P->Charges[I].Count)
        continue;
      size_t J = charge_slot(P->Charges[I].Seq, Cap - 1);
      while (New[J].Count)
        J = (J + 1) & (Cap - 1);
      New[J] = P->Charges[I];
    }
    free(P->Charges);
    P->Charges = New;
    P->ChargeMask = Cap - 1;
  }
  size_t I = charge_slot(Seq, P->ChargeMask);
  while (P->Charges[I].Count && P->Charges[I].Seq != Seq)
    I = (I + 1) & P->ChargeMask;
  if (!P->Charges[I].Count) {
    P->Charges[I].Seq = Seq;
    P->ChargeUsed++;
  }
  P->Charges[I].Bytes += Bytes;
  P->Charges[I].Count++;
  atomic_fetch_add_explicit(&P->CallBytes, Bytes, memory_order_relaxed);
}

/* Call Seq has been answered: it no longer counts. Lock held. */
static void discharge_call_locked(struct pipe_access *P, uint64_t Seq) {
  if (!P->Charges)
    return;
  size_t I = charge_slot(Seq, P->ChargeMask);
  while (P->Charges[I].Count && P->Charges[I].Seq != Seq)
    I = (I + 1) & P->ChargeMask;
  struct call_charge *C = &P->Charges[I];
  if (!C->Count)
    return;
  size_t Share = C->Bytes / C->Count;
  C->Bytes -= Share;
  atomic_fetch_sub_explicit(&P->CallBytes, Share, memory_order_relaxed);
  if (--C->Count)
    return;
  /* The last of them: free the slot, shifting later members of its run back. */
  atomic_fetch_sub_explicit(&P->CallBytes, C->Bytes, memory_order_relaxed);
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

/*
 * Pause reading while too much waits: output not yet written, and calls
 * read but not yet answered (a controller that sends faster than the
 * executor works). Resume once it has drained. The calls do not count while
 * the executor itself waits for the controller: its answers must still be
 * read.
 */
static void update_read_state(struct pipe_access *P) {
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

/* Arm the probe timer while idle, disarm it otherwise. I/O thread. */
static void update_probe(struct pipe_access *P) {
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

static void drop_output(struct pipe_access *P) {
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

static void write_failed(struct pipe_access *P, int Errno) {
  P->WriteBroken = true;
  if (P->WriteArmed) {
    event_del(P->WriteEv);
    P->WriteArmed = false;
  }
  drop_output(P);
  if (!P->ReadStopped) {
    P->ReadStopped = true;
    event_del(P->ReadEv);
    discard_partial_frame(P);
  }
  if (Errno == EPIPE || Errno == ECONNRESET) {
    /* The controller closed its end: it is gone, as with end of file. */
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Info, "pipe: the controller closed its input");
    end_session(P, NULL);
  } else {
    end_session(P, orc_rt_Error_fromErrno(Errno, "writing to the controller"));
  }
}

/* Write as much of the output list as the descriptor takes. */
static void flush_output(struct pipe_access *P) {
  struct out_frame *Done = NULL, **DoneTail = &Done;
  size_t Written = 0;

  if (P->WriteBroken) {
    drop_output(P);
    return;
  }
  while (P->OutHead) {
    struct iovec Iov[2 * FRAMES_PER_WRITE];
    int N = 0;
    size_t Skip = P->OutOffset, Requested = 0;
    for (struct out_frame *F = P->OutHead; F && N < 2 * FRAMES_PER_WRITE - 1; F = F->Next) {
      char *Data = orc_rt_WrapperFunctionBuffer_data(&F->Payload);
      size_t PSize = F->Payload.Size;
      if (Skip < HEADER_SIZE) {
        Iov[N].iov_base = F->Header + Skip;
        Iov[N++].iov_len = HEADER_SIZE - Skip;
        if (PSize) {
          Iov[N].iov_base = Data;
          Iov[N++].iov_len = PSize;
        }
      } else {
        Iov[N].iov_base = Data + (Skip - HEADER_SIZE);
        Iov[N++].iov_len = PSize - (Skip - HEADER_SIZE);
      }
      Requested += frame_bytes(F) - Skip;
      Skip = 0;
    }
    ssize_t R = writev(P->OutFd, Iov, N);
    if (R < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!P->WriteArmed && event_add(P->WriteEv, NULL) == 0)
          P->WriteArmed = true;
        break;
      }
      write_failed(P, errno);
      break;
    }
    Written += (size_t)R;
    for (size_t Left = (size_t)R; Left;) {
      struct out_frame *F = P->OutHead;
      size_t Rest = frame_bytes(F) - P->OutOffset;
      if (Left < Rest) {
        P->OutOffset += Left;
        break;
      }
      Left -= Rest;
      P->OutOffset = 0;
      if (F->Header[8] == OpResult)
        P->ResultsOut++;
      else if (F->Header[8] == OpCallWrapper)
        P->CallsOut++;
      P->OutHead = F->Next;
      F->Next = NULL;
      *DoneTail = F;
      DoneTail = &F->Next;
    }
    if (!P->OutHead)
      P->OutTail = &P->OutHead;
    if ((size_t)R < Requested) {
      /* A short write: the pipe is full; wait until it drains. */
      if (!P->WriteArmed && event_add(P->WriteEv, NULL) == 0)
        P->WriteArmed = true;
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
  update_read_state(P);
  update_probe(P);
}

static void on_writable(evutil_socket_t Fd, short What, void *Arg) {
  (void)Fd;
  (void)What;
  flush_output(Arg);
}

static void on_wake(evutil_socket_t Fd, short What, void *Arg) {
  (void)Fd;
  (void)What;
  struct pipe_access *P = Arg;
  uint64_t Count;
  /* Clear the counter before taking the queue, so no enqueue goes unseen. */
  while (read(P->WakeFd, &Count, sizeof(Count)) < 0 && errno == EINTR)
    ;
  pthread_mutex_lock(&P->Lock);
  bool Stop = P->Stopping;
  take_queue_locked(P);
  pthread_mutex_unlock(&P->Lock);
  if (Stop) {
    event_base_loopbreak(P->Base);
    return;
  }
  flush_output(P);
}

/* ---- input -------------------------------------------------------------- */

/*
 * Make room for Need payload bytes. A payload of up to PAYLOAD_WHOLE_SIZE
 * gets its whole size at once (growing it would copy it again and again);
 * the kernel commits the pages only as bytes arrive. A larger one grows with
 * what has arrived: the announced size alone is not trusted.
 */
static bool payload_reserve(struct pipe_access *P, size_t Need) {
  if (Need <= P->PayloadCap)
    return true;
  size_t Cap = P->PayloadCap ? P->PayloadCap * 2 : PAYLOAD_FIRST_CHUNK;
  if (P->PayloadSize <= PAYLOAD_WHOLE_SIZE)
    Cap = P->PayloadSize;
  if (Cap < Need)
    Cap = Need;
  if (Cap > P->PayloadSize)
    Cap = P->PayloadSize;
  char *Data = realloc(P->PayloadData, Cap);
  if (!Data) {
    end_input(P, orc_rt_Error_create("out of memory reading a frame of %zu bytes",
                                     P->PayloadSize + HEADER_SIZE));
    return false;
  }
  P->PayloadData = Data;
  P->PayloadCap = Cap;
  return true;
}

/* A whole frame has arrived: hand it over. */
static void frame_complete(struct pipe_access *P) {
  orc_rt_WrapperFunctionBuffer B;
  if (P->PayloadSize <= sizeof(B.Data.Value)) {
    B.Data = P->Payload.Data;
  } else {
    B.Data.ValuePtr = P->PayloadData;
  }
  B.Size = P->PayloadSize;
  P->PayloadData = NULL;
  P->PayloadCap = 0;
  P->InPayload = false;
  orc_rt_WrapperFunctionBuffer_init(&P->Payload);

  if (debug_enabled(P))
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug, "pipe: in %s seq=%llu tag=%#llx size=%zu",
                       opcode_name(P->FrameOpC), (unsigned long long)P->FrameSeqNo,
                       (unsigned long long)P->FrameTag, B.Size);

  switch (P->FrameOpC) {
  case OpCallWrapper:
    P->CallsIn++;
    P->SeenCall = true;
    P->ProbeDelayMs = P->IdleProbeMs;
    /* Counted before it is handed over: a short call is answered inside. */
    pthread_mutex_lock(&P->Lock);
    charge_call_locked(P, P->FrameSeqNo, HEADER_SIZE + B.Size + CALL_OVERHEAD);
    pthread_mutex_unlock(&P->Lock);
    orc_rt_Session_handleWrapperCall(P->S, P->FrameSeqNo, P->FrameTag, B);
    break;
  case OpResult: {
    P->ResultsIn++;
    orc_rt_ErrorRef E = orc_rt_Session_handleCallResult(P->S, P->FrameSeqNo, B);
    if (E) {
      orc_rt_ErrorRef Wrapped =
          orc_rt_Error_create("unexpected Result for sequence number %llu: %s",
                              (unsigned long long)P->FrameSeqNo, orc_rt_Error_getMessage(E));
      orc_rt_Error_consume(E);
      end_input(P, Wrapped);
      return;
    }
    atomic_fetch_sub_explicit(&P->CallsToController, 1, memory_order_relaxed);
    break;
  }
  case OpHangup:
    /* LLVM's executors end in order on Hangup, whatever its payload says. */
    orc_rt_WrapperFunctionBuffer_dispose(&B);
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Info, "pipe: the controller hung up");
    end_input(P, NULL);
    return;
  default:
    orc_rt_WrapperFunctionBuffer_dispose(&B);
    break;
  }
  update_read_state(P);
}

/* The header is complete: check it and prepare for the payload. */
static bool frame_begin(struct pipe_access *P) {
  uint64_t Size = get_le64(P->Header);
  uint64_t OpC = get_le64(P->Header + 8);
  P->FrameSeqNo = get_le64(P->Header + 16);
  P->FrameTag = get_le64(P->Header + 24);
  P->HeaderHave = 0;

  orc_rt_ErrorRef Err = NULL;
  if (Size < HEADER_SIZE)
    Err = orc_rt_Error_create("frame too small: frame size %llu below header size %d",
                              (unsigned long long)Size, HEADER_SIZE);
  else if (Size > P->MaxFrameSize)
    Err = orc_rt_Error_create("frame too large: frame size %llu above the maximum of %zu",
                              (unsigned long long)Size, P->MaxFrameSize);
  else if (OpC == OpSetup)
    Err = orc_rt_Error_create("unexpected Setup frame from the controller");
  else if (OpC > OpCallWrapper)
    Err = orc_rt_Error_create("unexpected opcode %llu", (unsigned long long)OpC);
  else if (OpC == OpResult && P->FrameTag != 0)
    Err = orc_rt_Error_create("unexpected tag address %#llx in a Result frame",
                              (unsigned long long)P->FrameTag);
  if (Err) {
    end_input(P, Err);
    return false;
  }

  P->FrameOpC = OpC;
  P->PayloadSize = (size_t)(Size - HEADER_SIZE);
  P->PayloadHave = 0;
  orc_rt_WrapperFunctionBuffer_init(&P->Payload);
  if (P->PayloadSize <= sizeof(P->Payload.Data.Value)) {
    P->PayloadData = P->Payload.Data.Value;
    P->PayloadCap = P->PayloadSize;
  } else {
    /* Allocated as bytes arrive: the announced size alone is not trusted. */
    P->PayloadData = NULL;
    P->PayloadCap = 0;
  }
  P->InPayload = true;
  if (P->PayloadSize == 0)
    frame_complete(P);
  return !P->ReadStopped;
}

/* Consume the read buffer. Returns false if reading must stop for now. */
static bool consume_buffered(struct pipe_access *P) {
  for (;;) {
    if (P->ReadStopped || P->ReadPaused)
      return false;
    size_t Avail = P->RxEnd - P->RxStart;
    if (!Avail)
      return true;
    const char *Src = P->Rx + P->RxStart;
    if (!P->InPayload) {
      size_t Take = HEADER_SIZE - P->HeaderHave;
      if (Take > Avail)
        Take = Avail;
      memcpy(P->Header + P->HeaderHave, Src, Take);
      P->HeaderHave += Take;
      P->RxStart += Take;
      if (P->HeaderHave == HEADER_SIZE && !frame_begin(P))
        return false;
    } else {
      size_t Take = P->PayloadSize - P->PayloadHave;
      if (Take > Avail)
        Take = Avail;
      if (!payload_reserve(P, P->PayloadHave + Take))
        return false;
      memcpy(P->PayloadData + P->PayloadHave, Src, Take);
      P->PayloadHave += Take;
      P->RxStart += Take;
      if (P->PayloadHave == P->PayloadSize)
        frame_complete(P);
    }
  }
}

/*
 * On TCP, acknowledge what was read at once. LLVM's controllers write a
 * frame's header and payload with two write()s and leave Nagle's algorithm
 * on, so the payload waits for the header's acknowledgement, which a
 * delayed ACK holds back some 40 ms: every call would take that long.
 * Linux leaves quick-ACK mode by itself, hence after every read.
 */
static void quick_ack(struct pipe_access *P) {
#ifdef TCP_QUICKACK
  int One = 1;
  if (P->QuickAck)
    setsockopt(P->InFd, IPPROTO_TCP, TCP_QUICKACK, &One, sizeof(One));
#else
  (void)P;
#endif
}

static void read_input(struct pipe_access *P) {
  /* A read that returned less than it asked for emptied the descriptor:
     the loop says when more comes, so no read is spent on EAGAIN. */
  bool Drained = false;
  for (int I = 0; I < READS_PER_CALLBACK; I++) {
    if (!consume_buffered(P) || Drained)
      return;
    ssize_t R;
    if (P->InPayload && P->PayloadSize - P->PayloadHave >= RX_BUF_SIZE) {
      /* A large payload: read straight into it, never past its end, up to
         READ_CHUNK_SIZE at a time. */
      size_t Next = P->PayloadSize - P->PayloadHave < READ_CHUNK_SIZE
                        ? P->PayloadSize
                        : P->PayloadHave + READ_CHUNK_SIZE;
      if (!payload_reserve(P, Next))
        return;
      size_t Want = P->PayloadCap - P->PayloadHave;
      R = read(P->InFd, P->PayloadData + P->PayloadHave, Want);
      quick_ack(P);
      if (R > 0) {
        Drained = (size_t)R < Want;
        P->PayloadHave += (size_t)R;
        if (P->PayloadHave == P->PayloadSize)
          frame_complete(P);
        continue;
      }
    } else {
      R = read(P->InFd, P->Rx, RX_BUF_SIZE);
      quick_ack(P);
      if (R > 0) {
        Drained = (size_t)R < RX_BUF_SIZE;
        P->RxStart = 0;
        P->RxEnd = (size_t)R;
        continue;
      }
    }
    if (R == 0) {
      if (P->InPayload || P->HeaderHave)
        end_input(P, orc_rt_Error_create("unexpected end of file inside a frame"));
      else
        end_input(P, NULL);
      return;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return;
    if (errno == ECONNRESET && !P->InPayload && !P->HeaderHave) {
      /* A socket whose peer closed with data unread: it is gone, as with end of file. */
      orc_rt_Session_log(P->S, orc_rt_LogLevel_Info, "pipe: the controller reset the connection");
      end_input(P, NULL);
      return;
    }
    end_input(P, orc_rt_Error_fromErrno(errno, "reading from the controller"));
    return;
  }
  /* Out of turns with input left over: come back after other events. */
  if (P->RxStart < P->RxEnd && !P->ReadStopped && !P->ReadPaused)
    event_active(P->ReadEv, EV_READ, 0);
}

static void on_readable(evutil_socket_t Fd, short What, void *Arg) {
  (void)Fd;
  (void)What;
  struct pipe_access *P = Arg;
  P->InRead = true;
  read_input(P);
  P->InRead = false;
  if (P->QueuedInRead) {
    P->QueuedInRead = false;
    pthread_mutex_lock(&P->Lock);
    take_queue_locked(P);
    pthread_mutex_unlock(&P->Lock);
    flush_output(P);
  }
  update_probe(P);
}

/* ---- the I/O thread ----------------------------------------------------- */

static void *io_thread(void *Arg) {
  struct pipe_access *P = Arg;
  CurrentIO = P;
  if (event_add(P->WakeEv, NULL) != 0 || event_add(P->ReadEv, NULL) != 0) {
    end_session(P, orc_rt_Error_create("cannot watch the controller's descriptors"));
    return NULL;
  }
  pthread_mutex_lock(&P->Lock);
  bool Stop = P->Stopping;
  take_queue_locked(P);
  pthread_mutex_unlock(&P->Lock);
  if (Stop)
    return NULL;
  flush_output(P); /* the Setup frame */
  event_base_dispatch(P->Base);
  return NULL;
}

/* ---- the ops ------------------------------------------------------------ */

/*
 * Write the Setup frame from Connect, before the I/O thread exists: the
 * controller waits for nothing else, and a thread takes a while to start.
 * What the descriptor does not take now (or a failure) is left to the I/O
 * thread's first flush.
 */
static void send_setup_now(struct pipe_access *P) {
  pthread_mutex_lock(&P->Lock);
  take_queue_locked(P);
  pthread_mutex_unlock(&P->Lock);
  struct out_frame *F = P->OutHead;
  if (!F || P->OutOffset)
    return;
  struct iovec Iov[2] = {{F->Header, HEADER_SIZE},
                         {orc_rt_WrapperFunctionBuffer_data(&F->Payload), F->Payload.Size}};
  ssize_t R;
  do
    R = writev(P->OutFd, Iov, F->Payload.Size ? 2 : 1);
  while (R < 0 && errno == EINTR);
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

static orc_rt_ErrorRef set_fd_flags(int Fd, int *SavedFl, int *SavedFdFl) {
  int Fl = fcntl(Fd, F_GETFL);
  int FdFl = fcntl(Fd, F_GETFD);
  if (Fl < 0 || FdFl < 0)
    return orc_rt_Error_fromErrno(errno, "descriptor %d", Fd);
  if (fcntl(Fd, F_SETFL, Fl | O_NONBLOCK) < 0)
    return orc_rt_Error_fromErrno(errno, "making descriptor %d non-blocking", Fd);
  if (fcntl(Fd, F_SETFD, FdFl | FD_CLOEXEC) < 0) {
    int E = errno;
    fcntl(Fd, F_SETFL, Fl);
    return orc_rt_Error_fromErrno(E, "making descriptor %d close-on-exec", Fd);
  }
  *SavedFl = Fl;
  *SavedFdFl = FdFl;
  return NULL;
}

/*
 * Whether the loop can watch Fd: a pipe or socket can, a regular file or
 * /dev/null cannot (and libevent would only complain on stderr).
 */
static orc_rt_ErrorRef check_watchable(int Fd) {
  int Ep = epoll_create1(EPOLL_CLOEXEC);
  if (Ep < 0)
    return orc_rt_Error_fromErrno(errno, "creating an epoll instance");
  struct epoll_event Ev = {.events = EPOLLIN};
  orc_rt_ErrorRef Err = NULL;
  if (epoll_ctl(Ep, EPOLL_CTL_ADD, Fd, &Ev) < 0)
    Err = orc_rt_Error_fromErrno(
        errno, "descriptor %d cannot be watched (it must be a pipe or a socket)", Fd);
  close(Ep);
  return Err;
}

static void restore_fd_flags(int Fd, int Fl, int FdFl) {
  fcntl(Fd, F_SETFL, Fl);
  fcntl(Fd, F_SETFD, FdFl);
}

static orc_rt_WrapperFunctionBuffer build_setup(struct pipe_access *P) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_string(&W, P->Triple);
  orc_rt_SPSWriter_u64(&W, P->PageSize);
  orc_rt_SPSWriter_seqCount(&W, 0); /* bootstrap map: nothing on Linux */
  size_t Count = 0;
  const orc_rt_BootstrapSymbol *Syms = orc_rt_Session_getBootstrapSymbols(P->S, &Count);
  orc_rt_SPSWriter_seqCount(&W, Count);
  for (size_t I = 0; I < Count; I++) {
    orc_rt_SPSWriter_string(&W, Syms[I].Name);
    orc_rt_SPSWriter_addr(&W, Syms[I].Addr);
  }
  return orc_rt_SPSWriter_finish(&W);
}

static void drop_queue(struct pipe_access *P) {
  pthread_mutex_lock(&P->Lock);
  struct out_frame *List = P->QueueHead;
  P->QueueHead = NULL;
  P->QueueTail = &P->QueueHead;
  pthread_mutex_unlock(&P->Lock);
  release_frames(P, List);
}

static orc_rt_ErrorRef pipe_connect(void *Ctx, orc_rt_SessionRef S) {
  struct pipe_access *P = Ctx;
  orc_rt_ErrorRef Err = NULL;
  bool InSet = false, OutSet = false;
  P->S = S;

  orc_rt_WrapperFunctionBuffer Setup = build_setup(P);
  if (orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Setup)) {
    Err = orc_rt_Error_create("building the Setup frame: %s",
                              orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Setup));
    goto fail;
  }
  if ((Err = check_watchable(P->InFd)) ||
      (P->OutFd != P->InFd && (Err = check_watchable(P->OutFd))))
    goto fail;
  if ((Err = set_fd_flags(P->InFd, &P->SavedInFl, &P->SavedInFdFl)))
    goto fail;
  InSet = true;
  if (P->OutFd != P->InFd) {
    if ((Err = set_fd_flags(P->OutFd, &P->SavedOutFl, &P->SavedOutFdFl)))
      goto fail;
    OutSet = true;
  }
#ifdef TCP_QUICKACK
  {
    /* Only a TCP socket has the option (see quick_ack()). */
    int V = 0;
    socklen_t Len = sizeof(V);
    P->QuickAck = getsockopt(P->InFd, IPPROTO_TCP, TCP_QUICKACK, &V, &Len) == 0;
  }
#endif
  enqueue_frame(P, OpSetup, 0, 0, Setup);
  orc_rt_WrapperFunctionBuffer_init(&Setup);
  send_setup_now(P);

  /* The I/O thread takes no signals: they belong to the embedding program. */
  sigset_t All, Old;
  sigfillset(&All);
  pthread_sigmask(SIG_SETMASK, &All, &Old);
  pthread_mutex_lock(&P->Lock);
  int E = pthread_create(&P->Thread, NULL, io_thread, P);
  P->ThreadStarted = E == 0;
  pthread_mutex_unlock(&P->Lock);
  pthread_sigmask(SIG_SETMASK, &Old, NULL);
  if (E) {
    Err = orc_rt_Error_fromErrno(E, "starting the pipe I/O thread");
    goto fail;
  }
  orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "pipe: connected on descriptors %d and %d", P->InFd,
                     P->OutFd);
  return NULL;

fail:
  orc_rt_WrapperFunctionBuffer_dispose(&Setup);
  drop_queue(P);
  drop_output(P);
  if (OutSet)
    restore_fd_flags(P->OutFd, P->SavedOutFl, P->SavedOutFdFl);
  if (InSet)
    restore_fd_flags(P->InFd, P->SavedInFl, P->SavedInFdFl);
  return Err;
}

static void pipe_call_controller(void *Ctx, uint64_t CallId, orc_rt_ExecutorAddr HandlerTag,
                                 orc_rt_WrapperFunctionBuffer ArgBytes) {
  struct pipe_access *P = Ctx;
  atomic_fetch_add_explicit(&P->CallsToController, 1, memory_order_relaxed);
  /* The Session numbers its calls from 0, as LLVM expects of the executor. */
  enqueue_frame(P, OpCallWrapper, CallId, HandlerTag, ArgBytes);
}

static void pipe_send_result(void *Ctx, uint64_t CallId, orc_rt_WrapperFunctionBuffer Result) {
  struct pipe_access *P = Ctx;
  pthread_mutex_lock(&P->Lock);
  discharge_call_locked(P, CallId);
  pthread_mutex_unlock(&P->Lock);
  enqueue_frame(P, OpResult, CallId, 0, Result);
}

/* After the I/O thread has exited: close the input (the output waits for
   pipe_destroy()) and drop the channel's traffic. */
static void close_channel(struct pipe_access *P) {
  if (P->OutFd != P->InFd)
    close(P->InFd);
  drop_output(P);
  drop_queue(P);
  discard_partial_frame(P);
  event_free(P->ReadEv);
  event_free(P->WriteEv);
  event_free(P->WakeEv);
  if (P->ProbeEv)
    event_free(P->ProbeEv);
  event_base_free(P->Base);
  P->ReadEv = P->WriteEv = P->WakeEv = P->ProbeEv = NULL;
  P->Base = NULL;
}

static void pipe_disconnect(void *Ctx) {
  struct pipe_access *P = Ctx;
  pthread_mutex_lock(&P->Lock);
  bool First = !P->Stopping;
  P->Stopping = true;
  if (!P->ThreadStarted) {
    pthread_mutex_unlock(&P->Lock);
    return;
  }
  if (pthread_equal(pthread_self(), P->Thread)) {
    /* Cannot wait for ourselves; a later caller (at the latest Destroy) joins. */
    pthread_mutex_unlock(&P->Lock);
    if (First)
      wake_loop(P);
    return;
  }
  if (P->Joining) {
    while (!P->Joined)
      pthread_cond_wait(&P->Joined_Cond, &P->Lock);
    pthread_mutex_unlock(&P->Lock);
    return;
  }
  P->Joining = true;
  pthread_mutex_unlock(&P->Lock);

  wake_loop(P);
  pthread_join(P->Thread, NULL);
  close_channel(P);
  orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug, "pipe: disconnected");

  pthread_mutex_lock(&P->Lock);
  P->Joined = true;
  pthread_cond_broadcast(&P->Joined_Cond);
  pthread_mutex_unlock(&P->Lock);
}

static void pipe_destroy(void *Ctx) {
  struct pipe_access *P = Ctx;
  pipe_disconnect(P);
  /* The controller waits for end of file on OutFd before it exits, so it
     comes only now, when the Session has shut down: the deallocation
     actions have run and the embedder could flush the JIT'd output. */
  if (P->ThreadStarted)
    close(P->OutFd);
  orcrt_pipe_destroy_unconnected(P);
}

const orc_rt_ControllerAccessOps orcrt_pipe_ops = {
    .Connect = pipe_connect,
    .CallController = pipe_call_controller,
    .SendResult = pipe_send_result,
    .Disconnect = pipe_disconnect,
    .Destroy = pipe_destroy,
};

/* ---- creation ----------------------------------------------------------- */

static pthread_once_t EvthreadOnce = PTHREAD_ONCE_INIT;
static int EvthreadStatus = -1;

static void evthread_setup(void) {
  EvthreadStatus = evthread_use_pthreads();
}

void orcrt_pipe_destroy_unconnected(void *Ctx) {
  struct pipe_access *P = Ctx;
  if (!P)
    return;
  discard_partial_frame(P);
  drop_output(P);
  drop_queue(P);
  while (P->FreeNodes) {
    struct out_frame *F = P->FreeNodes;
    P->FreeNodes = F->Next;
    free(F);
  }
  if (P->ReadEv)
    event_free(P->ReadEv);
  if (P->WriteEv)
    event_free(P->WriteEv);
  if (P->WakeEv)
    event_free(P->WakeEv);
  if (P->ProbeEv)
    event_free(P->ProbeEv);
  if (P->Base)
    event_base_free(P->Base);
  if (P->WakeFd >= 0)
    close(P->WakeFd);
  pthread_cond_destroy(&P->Joined_Cond);
  pthread_mutex_destroy(&P->Lock);
  free(P->Charges);
  free(P->Rx);
  free(P->Triple);
  free(P);
}

orc_rt_ErrorRef orcrt_pipe_create(int InFd, int OutFd, const orc_rt_PipeOptions *Opts, void **Out) {
  orc_rt_PipeOptions Defaults;
  orc_rt_ErrorRef Err = NULL;
  struct event_config *Cfg = NULL;
  struct pipe_access *P = NULL;

  if (!Opts) {
    orc_rt_PipeOptions_init(&Defaults);
    Opts = &Defaults;
  }
  if (InFd < 0 || OutFd < 0)
    return orc_rt_Error_create("invalid descriptors %d and %d", InFd, OutFd);
  if (Opts->MaxFrameSize < HEADER_SIZE)
    return orc_rt_Error_create("maximum frame size %zu below header size %d", Opts->MaxFrameSize,
                               HEADER_SIZE);
  pthread_once(&EvthreadOnce, evthread_setup);
  if (EvthreadStatus != 0)
    return orc_rt_Error_create("libevent has no pthreads support");

  P = calloc(1, sizeof(*P));
  if (!P)
    return orc_rt_Error_create("out of memory");
  P->InFd = InFd;
  P->OutFd = OutFd;
  P->WakeFd = -1;
  P->MaxFrameSize = Opts->MaxFrameSize;
  P->MaxPendingOutput = Opts->MaxPendingOutput;
  P->PageSize = Opts->PageSize;
  P->QueueTail = &P->QueueHead;
  P->OutTail = &P->OutHead;
  atomic_init(&P->PendingOutput, 0);
  atomic_init(&P->CallBytes, 0);
  atomic_init(&P->CallsToController, 0);
  pthread_mutex_init(&P->Lock, NULL);
  pthread_cond_init(&P->Joined_Cond, NULL);

  P->Triple = strdup(Opts->TargetTriple ? Opts->TargetTriple : ORCRT_HOST_TRIPLE);
  P->Rx = malloc(RX_BUF_SIZE);
  if (!P->Triple || !P->Rx) {
    Err = orc_rt_Error_create("out of memory");
    goto fail;
  }
  P->WakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (P->WakeFd < 0) {
    Err = orc_rt_Error_fromErrno(errno, "creating an eventfd");
    goto fail;
  }
  /* Only the I/O thread touches the base: it needs no locks of its own. */
  Cfg = event_config_new();
  if (!Cfg || event_config_set_flag(Cfg, EVENT_BASE_FLAG_NOLOCK) != 0 ||
      !(P->Base = event_base_new_with_config(Cfg))) {
    Err = orc_rt_Error_create("cannot create an event loop");
    goto fail;
  }
  P->ReadEv = event_new(P->Base, InFd, EV_READ | EV_PERSIST, on_readable, P);
  P->WriteEv = event_new(P->Base, OutFd, EV_WRITE | EV_PERSIST, on_writable, P);
  P->WakeEv = event_new(P->Base, P->WakeFd, EV_READ | EV_PERSIST, on_wake, P);
  if (!P->ReadEv || !P->WriteEv || !P->WakeEv) {
    Err = orc_rt_Error_create("out of memory");
    goto fail;
  }
  P->IdleProbeMs = P->ProbeDelayMs = Opts->IdleProbeMs;
  if (P->IdleProbeMs && !(P->ProbeEv = evtimer_new(P->Base, on_probe, P))) {
    Err = orc_rt_Error_create("out of memory");
    goto fail;
  }
  event_config_free(Cfg);
  *Out = P;
  return NULL;

fail:
  if (Cfg)
    event_config_free(Cfg);
  orcrt_pipe_destroy_unconnected(P);
  return Err;
}

/* ---- public ------------------------------------------------------------- */

ORC_RT_EXPORT void orc_rt_PipeOptions_init(orc_rt_PipeOptions *O) {
  long PageSize = sysconf(_SC_PAGESIZE);
  O->MaxFrameSize = (size_t)1 << 30;
  O->MaxPendingOutput = (size_t)64 << 20;
  O->TargetTriple = ORCRT_HOST_TRIPLE;
  O->PageSize = PageSize > 0 ? (uint64_t)PageSize : 4096;
  O->IdleProbeMs = 0;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_PipeControllerAccess_attach(orc_rt_SessionRef S, int InFd,
                                                                 int OutFd,
                                                                 const orc_rt_PipeOptions *Opts) {
  void *Ctx = NULL;
  orc_rt_ErrorRef Err = orcrt_pipe_create(InFd, OutFd, Opts, &Ctx);
  if (Err)
    return Err;
  if ((Err = orc_rt_Session_attach(S, &orcrt_pipe_ops, Ctx))) {
    orcrt_pipe_destroy_unconnected(Ctx);
    return Err;
  }
  return NULL;
}

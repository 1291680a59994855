/*
 * pipe-internal.h - the pipe transport's private state, shared by its files
 *
 * The pipe/socket ControllerAccess is one struct and four files, each one
 * idea (as libevent's bufferevent-internal.h serves bufferevent*.c):
 *   pipe-access.c  the ops, the I/O thread and its loop, creation and
 *                  destruction, the descriptors' flags
 *   pipe-input.c   reading, frame reassembly, dispatch of complete frames,
 *                  and the end of the channel
 *   pipe-output.c  the outgoing frame queue, its node cache, who writes
 *                  OutFd, the writev() flush and the early Setup write
 *   pipe-flow.c    back-pressure (call charges, pausing and resuming input)
 *                  and idle probing
 * The frame format itself is pipe-wire.h. Calls between the files go one
 * way only: pipe-access.c calls into the other three, pipe-output.c into
 * pipe-input.c (a failed write ends the input) and pipe-flow.c, and
 * pipe-input.c into pipe-flow.c; none calls back up.
 *
 * Locks: one mutex, Lock, guards the fields under "Shared, under Lock"
 * below: the queue that any thread appends to and the writer of OutFd
 * takes, who that writer is (OutOwner) and what a writer that would block
 * hands to the I/O thread (Handoff), the node cache, the call charges, and
 * the state of Disconnect (Stopping, Joining, Joined, Thread). JoinedCond
 * goes with it. The counters under "Atomics" may be read by any thread
 * without Lock: PendingOutput grows under Lock and shrinks on the thread
 * that writes the bytes, CallBytes and CallCount change with the charges
 * under Lock, CallsToController grows on any thread that calls the
 * controller and shrinks on the I/O thread, ResultsOut and CallsOut grow
 * on the thread that wrote the frame, ReadPaused changes on the I/O thread
 * alone. The ones that decide whether the I/O thread must be woken after
 * another thread wrote (PendingOutput, CallBytes, CallCount,
 * CallsToController, ResultsOut against ReadPaused and HalfClosed) are
 * sequentially consistent: a thread that changes one and then reads the
 * flag, against the I/O thread that sets the flag and then reads the
 * counters, cannot both miss the other (pipe-output.c, pipe-flow.c).
 * The fields under "I/O thread" belong to the connection's I/O thread
 * alone; Connect, Disconnect and Destroy touch them only while that thread
 * does not run (before it starts, after it is joined). The rest is set at creation
 * (S at Connect, before the thread starts) and only read afterwards. Lock
 * is never held across a call into the Session or libevent, nor across a
 * read or write; Connect holds it across pthread_create() so that Thread
 * and ThreadStarted change together.
 */
#ifndef ORCRT_PIPE_INTERNAL_H
#define ORCRT_PIPE_INTERNAL_H

#include "orcrt-internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include <orcrt/error.h>
#include <orcrt/session.h>
#include <orcrt/wrapper-function.h>

#include "arg-stream.h"
#include "pipe-wire.h"
#include "session-internal.h"
#include "util/u64map.h"

/* An outgoing frame: its opcode, its encoded header and the payload it owns. */
struct out_frame {
  struct out_frame *Next;
  uint64_t OpC;
  unsigned char Header[WIRE_HEADER_SIZE];
  orc_rt_WrapperFunctionBuffer Payload;
};

/* A list of outgoing frames and how much of its first frame is written. */
struct out_list {
  struct out_frame *Head, **Tail;
  size_t Offset;
};

/* Who writes OutFd now (pipe-output.c). */
enum out_owner {
  OUT_FREE,   /* nobody: the next thread to queue a frame writes it */
  OUT_IO,     /* the I/O thread, from its output list */
  OUT_DIRECT, /* a thread that queued a frame, writing the queue itself */
};

/* What one sequence number's calls in flight weigh, and how many they are (pipe-flow.c). */
struct call_charge {
  size_t Bytes, Count;
};

struct pipe_access {
  /* Set at creation (S at Connect); read-only while the I/O thread runs. */
  orc_rt_SessionRef S;
  int InFd, OutFd, WakeFd;
  size_t MaxFrameSize, MaxPendingOutput;
  char *Triple;
  uint64_t PageSize;
  unsigned IdleProbeMs;
  /* Fault injection for tests: when it returns true, a call's charge fails as out of memory. */
  bool (*ChargeFault)(void);
  /* The descriptors' flags before Connect, restored if it fails (Connect only). */
  int SavedInFl, SavedInFdFl, SavedOutFl, SavedOutFdFl;
  /* What InFd, OutFd and WakeFd are (device, inode), from Connect on: orcrt_pipe_channel_taken(). */
  struct orcrt_fd_ident {
    uint64_t Dev, Ino;
  } InIdent, OutIdent, WakeIdent;

  /* Shared, under Lock. */
  pthread_mutex_t Lock;
  pthread_cond_t JoinedCond; /* Joined became true */
  struct out_frame *QueueHead, **QueueTail;
  enum out_owner OutOwner;
  struct out_list Handoff; /* a direct writer's frames left for the I/O thread */
  struct out_frame *FreeNodes;
  size_t NumFreeNodes;
  bool Stopping;      /* Disconnect began: sends are dropped, the loop exits */
  bool EndReported;   /* handleDisconnect was called */
  bool ThreadStarted; /* Thread is valid: Connect succeeded */
  bool Joining, Joined;
  bool LeftBehind; /* the I/O thread could not be woken and was left (Disconnect) */
  pthread_t Thread;
  /* Calls read and not answered yet: struct call_charge by sequence number. */
  struct orcrt_u64map Charges;

  /* Atomics: read without Lock. */
  atomic_size_t PendingOutput;      /* bytes queued or being written */
  atomic_ullong ResultsOut;         /* Result frames written */
  atomic_ullong CallsOut;           /* CallWrapper frames written */
  atomic_bool ReadPaused;           /* for now: too much output and calls pending */
  atomic_size_t CallBytes;          /* what the calls in Charges weigh together */
  atomic_size_t CallCount;          /* how many calls Charges holds */
  atomic_uint CallsToController;    /* the executor's calls not answered yet */
  atomic_bool HalfClosed;           /* input ended, results of calls read still go out */

  /* I/O thread: the loop (pipe-access.c). */
  struct event_base *Base;
  struct event *ReadEv, *WriteEv, *WakeEv;
  struct event *GoneEv; /* while HalfClosed: the controller's reading end closing */

  /* I/O thread: output (pipe-output.c), non-empty only while OutOwner is OUT_IO. */
  struct out_list Out;
  bool WriteArmed;   /* WriteEv is added */
  bool WriteBroken;  /* the output failed; drop what comes */

  /* I/O thread: input (pipe-input.c). */
  bool ReadStopped;  /* for good: the input ended */
  bool InRead;       /* inside on_readable: frames queued here need no wake-up */
  bool QueuedInRead; /* ... and some were queued */
  bool QuickAck;     /* InFd is a TCP socket (see pipe-input.c:quick_ack()) */
  char *Rx;          /* buffered input, [RxStart, RxEnd) unconsumed */
  size_t RxStart, RxEnd;
  unsigned char Header[WIRE_HEADER_SIZE];
  size_t HeaderHave;
  bool InPayload;
  uint64_t FrameOpC, FrameSeqNo, FrameTag;
  size_t PayloadSize, PayloadHave, PayloadCap;
  char *PayloadData; /* Payload.Data.Value for inline sizes, else malloc()ed */
  struct orcrt_arg_stream *Stream; /* takes this call's payload instead of PayloadData, or NULL */
  orc_rt_WrapperFunctionBuffer Payload;

  /* I/O thread: flow control and idle probing (pipe-flow.c). */
  struct event *ProbeEv; /* NULL when probing is off */
  unsigned ProbeDelayMs;
  bool ProbeArmed;
  /* Frames read (ResultsOut and CallsOut, written, are atomics). */
  uint64_t CallsIn, ResultsIn;
  bool SeenCall; /* the controller has made a call */
};

static inline bool orcrt_pipe_debug_enabled(struct pipe_access *P) {
  return orc_rt_Session_getLogLevel(P->S) >= orc_rt_LogLevel_Debug;
}

/* ---- pipe-input.c ---------------------------------------------------------- */

/* Allocate the read buffer. Returns false if out of memory. */
bool orcrt_pipe_input_init(struct pipe_access *P);

/* Free what input holds (the read buffer, a partial frame). I/O thread not running. */
void orcrt_pipe_input_free(struct pipe_access *P);

/* At Connect: whether InFd is a TCP socket, which wants quick ACKs. */
void orcrt_pipe_input_detect_tcp(struct pipe_access *P);

/* Read what InFd has (a bounded number of reads) and dispatch complete frames. I/O thread. */
void orcrt_pipe_read(struct pipe_access *P);

/* Forget a frame read in part. I/O thread (or while it does not run). */
void orcrt_pipe_discard_partial_frame(struct pipe_access *P);

/*
 * Report the end of the channel to the Session (Err NULL: in order), once;
 * nothing is reported once the Session itself has begun disconnecting.
 * Takes Err. Any thread.
 */
void orcrt_pipe_end_session(struct pipe_access *P, orc_rt_ErrorRef Err);

/* The input ended: read nothing more, then orcrt_pipe_end_session(). I/O thread. */
void orcrt_pipe_end_input(struct pipe_access *P, orc_rt_ErrorRef Err);

/*
 * While HalfClosed: end the session in order once every call read has been
 * answered and its result written (as many results written as calls read).
 * I/O thread.
 */
void orcrt_pipe_end_if_answered(struct pipe_access *P);

/* ---- pipe-output.c --------------------------------------------------------- */

/* Frames queued on the calling thread while P->InRead need no wake-up. The I/O thread, once. */
void orcrt_pipe_output_bind_thread(struct pipe_access *P);

/*
 * Wake the I/O thread's loop. If the eventfd is gone (JIT'd code closed the
 * channel's descriptors), end the session with an error instead. Any thread.
 */
void orcrt_pipe_wake(struct pipe_access *P);

/*
 * Whether InFd, OutFd or WakeFd is closed or is no longer the file it was at
 * Connect (something in the process closed or replaced it); a number taken
 * never becomes that file again. Any thread, after Connect.
 */
bool orcrt_pipe_channel_taken(struct pipe_access *P);

/*
 * Queue a frame (ownership of Payload passes). On any thread but the I/O
 * thread, if nobody is writing OutFd, write the queue right here; else, or
 * for what OutFd would not take now, wake the loop if needed. Any thread.
 */
void orcrt_pipe_enqueue(struct pipe_access *P, uint64_t OpC, uint64_t SeqNo, uint64_t Tag,
                        orc_rt_WrapperFunctionBuffer Payload);

/*
 * Take over OutFd unless another thread is writing it (it then writes what
 * is queued too), and write as much of the queue as OutFd takes; then
 * update flow control, probing and the end of a half-closed session.
 * I/O thread.
 */
void orcrt_pipe_write_pending(struct pipe_access *P);

/* Write as much of the output list as OutFd takes. OutOwner is OUT_IO; I/O thread. */
void orcrt_pipe_flush(struct pipe_access *P);

/* Drop the output list, and the shared queue (I/O thread not running). */
void orcrt_pipe_drop_output(struct pipe_access *P);
void orcrt_pipe_drop_queue(struct pipe_access *P);

/* Drop all output and free the node cache. I/O thread not running. */
void orcrt_pipe_output_free(struct pipe_access *P);

/* ---- pipe-flow.c ----------------------------------------------------------- */

/* Set up the charges, and the probe timer if IdleProbeMs asks for one. False if out of memory. */
bool orcrt_pipe_flow_init(struct pipe_access *P);

/* Free the call charges and the probe timer. I/O thread not running. */
void orcrt_pipe_flow_free(struct pipe_access *P);

/*
 * Count the call SeqNo with PayloadSize bytes of arguments as in flight
 * until orcrt_pipe_discharge_call(SeqNo). Returns false, counting nothing,
 * if out of memory: the call must then not be run. Takes Lock; I/O thread.
 */
bool orcrt_pipe_charge_call(struct pipe_access *P, uint64_t SeqNo, size_t PayloadSize);

/* Call SeqNo has been answered: it no longer counts. Takes Lock; any thread. */
void orcrt_pipe_discharge_call(struct pipe_access *P, uint64_t SeqNo);

/* Pause or resume reading after what is pending changed. I/O thread. */
void orcrt_pipe_update_read_state(struct pipe_access *P);

/* Arm the probe timer while idle, disarm it otherwise. I/O thread. */
void orcrt_pipe_update_probe(struct pipe_access *P);

#endif /* ORCRT_PIPE_INTERNAL_H */

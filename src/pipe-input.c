/*
 * pipe-input.c - the pipe transport's input: reading InFd, reassembling
 * frames, handing complete frames to the Session, and ending the channel
 *
 * Small frames are read through a buffer (RX_BUF_SIZE); a large payload is
 * read straight into its own allocation, which grows with what arrives (an
 * announced size alone is not trusted), or, for a wrapper that takes its
 * arguments as they arrive (arg-stream.h), handed to the wrapper's stream:
 * what the buffer holds with Take, the rest with Read from InFd where the
 * stream puts it in place itself (a finalize's content, into JIT memory),
 * through the buffer again where it does not. Complete frames go to the Session
 * on the I/O thread: calls to orc_rt_Session_handleWrapperCall(), each
 * charged first (pipe-flow.c), results to orc_rt_Session_handleCallResult().
 * Any malformed frame, end of file or read error ends the input and reports
 * the end of the channel, once (orcrt_pipe_end_session()).
 *
 * Locks: everything read here is the I/O thread's (see pipe-internal.h);
 * orcrt_pipe_end_session() takes P->Lock for EndReported and Stopping.
 */
#include "pipe-internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads of small frames go through a buffer of this size. */
#define RX_BUF_SIZE (64 * 1024)
/* The first allocation for a large payload; it doubles as bytes arrive. */
#define PAYLOAD_FIRST_CHUNK (64 * 1024)
/* Payloads up to this size are allocated whole when they begin to arrive. */
#define PAYLOAD_WHOLE_SIZE ((size_t)64 << 20)
/* The most a read into a large payload asks for. */
#define READ_CHUNK_SIZE (1024 * 1024)
/* Reads per readiness callback, so a flood of input cannot starve output. */
#define READS_PER_CALLBACK 16

/* ---- ending ------------------------------------------------------------- */

void orcrt_pipe_end_session(struct pipe_access *P, orc_rt_ErrorRef Err) {
  pthread_mutex_lock(&P->Lock);
  bool Report = !P->EndReported && !P->Stopping;
  P->EndReported = true;
  pthread_mutex_unlock(&P->Lock);
  if (Report)
    orc_rt_Session_handleDisconnect(P->S, Err);
  else
    orc_rt_Error_consume(Err);
}

void orcrt_pipe_discard_partial_frame(struct pipe_access *P) {
  if (P->Stream)
    P->Stream->Ops->Abort(P->Stream);
  P->Stream = NULL;
  if (P->PayloadData && P->PayloadData != P->Payload.Data.Value)
    free(P->PayloadData);
  P->PayloadData = NULL;
  P->PayloadCap = 0;
  P->InPayload = false;
  P->HeaderHave = 0;
  orc_rt_WrapperFunctionBuffer_init(&P->Payload);
}

void orcrt_pipe_end_input(struct pipe_access *P, orc_rt_ErrorRef Err) {
  if (!P->ReadStopped) {
    P->ReadStopped = true;
    event_del(P->ReadEv);
    orcrt_pipe_discard_partial_frame(P);
  }
  orcrt_pipe_end_session(P, Err);
}

/* The controller's reading end has closed (an error on OutFd): nobody reads the results. */
static void on_output_gone(evutil_socket_t Fd, short What, void *Arg) {
  (void)Fd;
  (void)What;
  struct pipe_access *P = Arg;
  event_del(P->GoneEv);
  orcrt_pipe_end_session(P, NULL);
}

/*
 * End of input at a frame boundary. A controller may close only its
 * writing end and still read: the results of the calls read and not yet
 * answered then still go out, and the session ends once they have been
 * written (orcrt_pipe_end_if_answered()), or at once if the controller's
 * reading end closes too (OutFd reports an error). With nothing in flight,
 * one socket for both directions, or a call of the executor's waiting for
 * an answer that cannot come now, it ends at once.
 */
static void input_done(struct pipe_access *P) {
  P->ReadStopped = true;
  event_del(P->ReadEv);
  orcrt_pipe_discard_partial_frame(P);
  /* Answered or not, results not written. */
  uint64_t InFlight = P->CallsIn - atomic_load(&P->ResultsOut);
  if (InFlight == 0 || P->OutFd == P->InFd ||
      atomic_load_explicit(&P->CallsToController, memory_order_relaxed) != 0) {
    orcrt_pipe_end_session(P, NULL);
    return;
  }
  /* EV_READ on the writing end: epoll reports only the error of a reader gone. */
  P->GoneEv = event_new(P->Base, P->OutFd, EV_READ | EV_PERSIST, on_output_gone, P);
  if (!P->GoneEv || event_add(P->GoneEv, NULL) != 0) {
    orcrt_pipe_end_session(P, NULL);
    return;
  }
  atomic_store(&P->HalfClosed, true);
  orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug,
                     "pipe: end of input with %llu call(s) in flight: their results go out first",
                     (unsigned long long)InFlight);
  orcrt_pipe_end_if_answered(P);
}

/*
 * Every call read has one result (pipe-wire.h): the counts say when all are
 * written, whichever thread wrote them. A thread that writes a result after
 * HalfClosed is set wakes the I/O thread, which then looks again.
 */
void orcrt_pipe_end_if_answered(struct pipe_access *P) {
  if (atomic_load(&P->HalfClosed) && !P->Out.Head && atomic_load(&P->ResultsOut) >= P->CallsIn)
    orcrt_pipe_end_session(P, NULL);
}

/* ---- frames --------------------------------------------------------------- */

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
    orcrt_pipe_end_input(P, orc_rt_Error_create("out of memory reading a frame of %zu bytes",
                                                P->PayloadSize + WIRE_HEADER_SIZE));
    return false;
  }
  P->PayloadData = Data;
  P->PayloadCap = Cap;
  return true;
}

/* A whole call of WireSize argument bytes has arrived as B: count it, then hand it over. */
static void call_complete(struct pipe_access *P, orc_rt_WrapperFunctionBuffer B, size_t WireSize) {
  P->CallsIn++;
  P->SeenCall = true;
  P->ProbeDelayMs = P->IdleProbeMs;
  /* Counted before it is handed over: a short call is answered inside. */
  if (!orcrt_pipe_charge_call(P, P->FrameSeqNo, B.Size)) {
    /* Run uncounted, it would loosen the bound on what may wait: refuse it. */
    orc_rt_WrapperFunctionBuffer_dispose(&B);
    orcrt_pipe_end_input(P, orc_rt_Error_create("out of memory accounting for call %llu",
                                                (unsigned long long)P->FrameSeqNo));
    return;
  }
  orcrt_session_handle_call(P->S, P->FrameSeqNo, P->FrameTag, B, WireSize);
}

/* A streamed call has arrived whole: hand over the call its stream makes of it. */
static void stream_complete(struct pipe_access *P) {
  struct orcrt_arg_stream *St = P->Stream;
  orc_rt_ExecutorAddr Fn;
  orc_rt_WrapperFunctionBuffer B;
  P->Stream = NULL;
  P->InPayload = false;
  if (!St->Ops->Finish(St, &Fn, &B)) {
    orcrt_pipe_end_input(P, orc_rt_Error_create("out of memory reading call %llu",
                                                (unsigned long long)P->FrameSeqNo));
    return;
  }
  P->FrameTag = Fn;
  call_complete(P, B, P->PayloadSize);
  orcrt_pipe_update_read_state(P);
}

/* A whole frame has arrived: hand it over. */
static void frame_complete(struct pipe_access *P) {
  orc_rt_WrapperFunctionBuffer B;
  if (P->Stream) {
    stream_complete(P);
    return;
  }
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

  /* Calls and results are traced by the Session (session-calls.c), by name. */
  switch (P->FrameOpC) {
  case WIRE_OP_CALL_WRAPPER:
    call_complete(P, B, B.Size);
    break;
  case WIRE_OP_RESULT: {
    P->ResultsIn++;
    orc_rt_ErrorRef E = orc_rt_Session_handleCallResult(P->S, P->FrameSeqNo, B);
    if (E) {
      orc_rt_ErrorRef Wrapped =
          orc_rt_Error_create("unexpected Result for sequence number %llu: %s",
                              (unsigned long long)P->FrameSeqNo, orc_rt_Error_getMessage(E));
      orc_rt_Error_consume(E);
      orcrt_pipe_end_input(P, Wrapped);
      return;
    }
    atomic_fetch_sub_explicit(&P->CallsToController, 1, memory_order_relaxed);
    break;
  }
  case WIRE_OP_HANGUP:
    /* LLVM's executors end in order on Hangup, whatever its payload says. */
    orc_rt_WrapperFunctionBuffer_dispose(&B);
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Info, "pipe: the controller hung up");
    orcrt_pipe_end_input(P, NULL);
    return;
  default:
    orc_rt_WrapperFunctionBuffer_dispose(&B);
    break;
  }
  orcrt_pipe_update_read_state(P);
}

/* The header is complete: check it and prepare for the payload. */
static bool frame_begin(struct pipe_access *P) {
  struct orcrt_wire_header H = orcrt_wire_decode_header(P->Header);
  P->FrameSeqNo = H.SeqNo;
  P->FrameTag = H.Tag;
  P->HeaderHave = 0;

  orc_rt_ErrorRef Err = NULL;
  if (H.Size < WIRE_HEADER_SIZE)
    Err = orc_rt_Error_create("frame too small: frame size %llu below header size %d",
                              (unsigned long long)H.Size, WIRE_HEADER_SIZE);
  else if (H.Size > P->MaxFrameSize)
    Err = orc_rt_Error_create("frame too large: frame size %llu above the maximum of %zu",
                              (unsigned long long)H.Size, P->MaxFrameSize);
  else if (H.OpC == WIRE_OP_SETUP)
    Err = orc_rt_Error_create("unexpected Setup frame from the controller");
  else if (H.OpC > WIRE_OP_LAST)
    Err = orc_rt_Error_create("unexpected opcode %llu", (unsigned long long)H.OpC);
  else if (H.OpC == WIRE_OP_RESULT && H.Tag != 0)
    Err = orc_rt_Error_create("unexpected tag address %#llx in a Result frame",
                              (unsigned long long)H.Tag);
  if (Err) {
    orcrt_pipe_end_input(P, Err);
    return false;
  }

  P->FrameOpC = H.OpC;
  P->PayloadSize = (size_t)(H.Size - WIRE_HEADER_SIZE);
  P->PayloadHave = 0;
  orc_rt_WrapperFunctionBuffer_init(&P->Payload);
  if (H.OpC == WIRE_OP_CALL_WRAPPER)
    P->Stream = orcrt_session_stream_call(P->S, H.Tag, P->PayloadSize);
  if (P->Stream) {
    P->PayloadData = NULL;
    P->PayloadCap = 0;
  } else if (P->PayloadSize <= sizeof(P->Payload.Data.Value)) {
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
    if (P->ReadStopped || atomic_load_explicit(&P->ReadPaused, memory_order_relaxed))
      return false;
    size_t Avail = P->RxEnd - P->RxStart;
    if (!Avail)
      return true;
    const char *Src = P->Rx + P->RxStart;
    if (!P->InPayload) {
      size_t Take = WIRE_HEADER_SIZE - P->HeaderHave;
      if (Take > Avail)
        Take = Avail;
      memcpy(P->Header + P->HeaderHave, Src, Take);
      P->HeaderHave += Take;
      P->RxStart += Take;
      if (P->HeaderHave == WIRE_HEADER_SIZE && !frame_begin(P))
        return false;
    } else {
      size_t Take = P->PayloadSize - P->PayloadHave;
      if (Take > Avail)
        Take = Avail;
      if (P->Stream) {
        if (!P->Stream->Ops->Take(P->Stream, Src, Take)) {
          orcrt_pipe_end_input(P, orc_rt_Error_create("out of memory reading call %llu",
                                                      (unsigned long long)P->FrameSeqNo));
          return false;
        }
      } else if (!payload_reserve(P, P->PayloadHave + Take)) {
        return false;
      } else {
        memcpy(P->PayloadData + P->PayloadHave, Src, Take);
      }
      P->PayloadHave += Take;
      P->RxStart += Take;
      if (P->PayloadHave == P->PayloadSize)
        frame_complete(P);
    }
  }
}

/* ---- reading ---------------------------------------------------------------- */

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

void orcrt_pipe_input_detect_tcp(struct pipe_access *P) {
#ifdef TCP_QUICKACK
  /* Only a TCP socket has the option. */
  int V = 0;
  socklen_t Len = sizeof(V);
  P->QuickAck = getsockopt(P->InFd, IPPROTO_TCP, TCP_QUICKACK, &V, &Len) == 0;
#else
  (void)P;
#endif
}

void orcrt_pipe_read(struct pipe_access *P) {
  /* A read that returned less than it asked for emptied the descriptor:
     the loop says when more comes, so no read is spent on EAGAIN. */
  bool Drained = false;
  for (int I = 0; I < READS_PER_CALLBACK; I++) {
    if (!consume_buffered(P) || Drained)
      return;
    ssize_t R = -1;
    bool ByStream = false;
    if (P->Stream) {
      /* The stream reads what it puts in place itself; ENOTSUP: the rest comes through Rx. */
      R = P->Stream->Ops->Read(P->Stream, P->InFd, P->PayloadSize - P->PayloadHave);
      ByStream = R >= 0 || errno != ENOTSUP;
    }
    if (ByStream) {
      quick_ack(P);
      if (R > 0) {
        /* Less than asked may be the end of a segment, not of the input: not Drained. */
        P->PayloadHave += (size_t)R;
        if (P->PayloadHave == P->PayloadSize)
          frame_complete(P);
        continue;
      }
    } else if (P->InPayload && !P->Stream && P->PayloadSize - P->PayloadHave >= RX_BUF_SIZE) {
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
        orcrt_pipe_end_input(P, orc_rt_Error_create("unexpected end of file inside a frame"));
      else
        input_done(P);
      return;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return;
    if (errno == ECONNRESET && !P->InPayload && !P->HeaderHave) {
      /* A socket whose peer closed with data unread: it is gone, as with end of file. */
      orc_rt_Session_log(P->S, orc_rt_LogLevel_Info, "pipe: the controller reset the connection");
      orcrt_pipe_end_input(P, NULL);
      return;
    }
    orcrt_pipe_end_input(P, orc_rt_Error_fromErrno(errno, "reading from the controller"));
    return;
  }
  /* Out of turns with input left over: come back after other events. */
  if (P->RxStart < P->RxEnd && !P->ReadStopped &&
      !atomic_load_explicit(&P->ReadPaused, memory_order_relaxed))
    event_active(P->ReadEv, EV_READ, 0);
}

/* ---- setup and teardown ------------------------------------------------------ */

bool orcrt_pipe_input_init(struct pipe_access *P) {
  P->Rx = malloc(RX_BUF_SIZE);
  return P->Rx != NULL;
}

void orcrt_pipe_input_free(struct pipe_access *P) {
  orcrt_pipe_discard_partial_frame(P);
  free(P->Rx);
  P->Rx = NULL;
}

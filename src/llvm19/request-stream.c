/*
 * llvm19/request-stream.c - a FinalizeRequest's content put in place as it
 * arrives
 *
 * The arguments of LLVM 19's finalize and of 22's initialize are
 * (ExecutorAddr Instance, FinalizeRequest): a Sequence of segments, each
 * (uint8 Prot, ExecutorAddr Addr, uint64 Size, Sequence<char> Content),
 * then the allocation actions. A stream for such a call (arg-stream.h)
 * decodes each segment's header as it arrives and puts the content that
 * follows straight into the JIT memory (orcrt_memory_place(),
 * orcrt_memory_place_from()), where the request finds it; content it may
 * not place there (no such reservation, or one being initialized or
 * released meanwhile) it keeps, as the transport would have, so that the
 * request fails or succeeds exactly as it would have without the stream. Finish then
 * hands the call to the wrapper's placed twin, the request re-encoded
 * without the bytes placed:
 *
 *   ExecutorAddr Instance, uint64 NumSegments, then per segment
 *   uint8 Prot, ExecutorAddr Addr, uint64 Size, uint8 Placed, and
 *   uint64 ContentSize if Placed, else Sequence<char> Content;
 *   then the actions' bytes as they came
 *
 * (orcrt_llvm19_memory_request() with Placed true decodes it: a placed
 * segment's Content is NULL, in place already). A segment whose placing
 * stops midway becomes two: the part placed and the rest kept. Arguments
 * that do not decode as a request leave an empty buffer, which the twin
 * answers as undecodable, as the wrapper itself would have.
 *
 * Locks: none; a stream is used by one thread at a time (arg-stream.h).
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/memory.h>

#include "llvm19/llvm19.h"
#include "memory-internal.h"
#include "pipe-wire.h"
#include "wrapper-glue.h"

/* The fixed-size fields before the segments and before each segment's content. */
#define HEAD_SIZE 16    /* Instance, the segment count */
#define SEGMENT_SIZE 25 /* Prot, Addr, Size, the content's length */

enum phase {
  PHASE_HEAD,    /* Instance and the segment count */
  PHASE_SEGMENT, /* a segment's fields */
  PHASE_CONTENT, /* a segment's content */
  PHASE_TAIL,    /* the actions: kept as they come */
  PHASE_BAD,     /* not a request: the rest is dropped */
};

struct request_stream {
  struct orcrt_arg_stream Base;
  orc_rt_SessionRef S;
  orc_rt_ExecutorAddr PlacedFn;
  orc_rt_MemoryServiceRef M; /* the Instance's, or NULL: nothing is placed */
  size_t Left;               /* argument bytes still to come */
  enum phase Phase;
  unsigned char Fixed[SEGMENT_SIZE];
  size_t FixedHave;
  uint64_t SegmentsLeft; /* after the current one */
  uint64_t NumRecords;   /* segments written to Out */
  /* The current segment's record: where in Out, and what of it is still to come. */
  size_t Record;
  uint8_t Prot;
  orc_rt_ExecutorAddr Addr; /* of the next content byte */
  uint64_t Size;            /* of the segment from Addr on */
  uint64_t ContentLeft;
  uint64_t Placed; /* content bytes of this record placed so far */
  bool Placing;
  /* The re-encoded request. */
  unsigned char *Out;
  size_t OutLen, OutCap;
  bool OutOfMemory;
};

/* ---- the re-encoded request ------------------------------------------------ */

static unsigned char *out_room(struct request_stream *St, size_t N) {
  if (St->OutOfMemory)
    return NULL;
  if (St->OutCap - St->OutLen < N) {
    size_t Cap = St->OutCap ? St->OutCap : 256;
    while (Cap - St->OutLen < N)
      Cap *= 2;
    unsigned char *P = realloc(St->Out, Cap);
    if (!P) {
      St->OutOfMemory = true;
      return NULL;
    }
    St->Out = P;
    St->OutCap = Cap;
  }
  unsigned char *P = St->Out + St->OutLen;
  St->OutLen += N;
  return P;
}

static void out_bytes(struct request_stream *St, const void *Src, size_t N) {
  unsigned char *P = out_room(St, N);
  if (P)
    memcpy(P, Src, N);
}

static void out_u64(struct request_stream *St, uint64_t V) {
  unsigned char *P = out_room(St, 8);
  if (P)
    orcrt_wire_put_le64(P, V);
}

/* Offsets in a record: Prot 0, Addr 1, Size 9, Placed 17, the content's size 18. */
enum { REC_SIZE = 9, REC_PLACED = 17, REC_CONTENT = 18, REC_HEADER = 26 };

/* Start the record of the current segment (Prot, Addr, Size, ContentLeft, Placing). */
static void begin_record(struct request_stream *St) {
  St->Record = St->OutLen;
  St->Placed = 0;
  unsigned char *P = out_room(St, REC_HEADER);
  if (!P)
    return;
  P[0] = St->Prot;
  orcrt_wire_put_le64(P + 1, St->Addr);
  orcrt_wire_put_le64(P + REC_SIZE, St->Size);
  P[REC_PLACED] = St->Placing;
  orcrt_wire_put_le64(P + REC_CONTENT, St->ContentLeft);
  St->NumRecords++;
}

/*
 * Placing the current segment's content stops: what was placed ends its
 * record, the rest of the segment gets one of its own, kept.
 */
static void stop_placing(struct request_stream *St) {
  St->Placing = false;
  if (St->OutOfMemory)
    return;
  if (St->Placed == 0) {
    St->Out[St->Record + REC_PLACED] = 0;
    return;
  }
  orcrt_wire_put_le64(St->Out + St->Record + REC_SIZE, St->Placed);
  orcrt_wire_put_le64(St->Out + St->Record + REC_CONTENT, St->Placed);
  begin_record(St);
}

/* ---- decoding ------------------------------------------------------------- */

/* The current segment has all its content: on to the next, or to the actions. */
static void segment_done(struct request_stream *St) {
  if (St->SegmentsLeft) {
    St->SegmentsLeft--;
    St->Phase = PHASE_SEGMENT;
  } else {
    St->Phase = PHASE_TAIL;
  }
}

static void head_done(struct request_stream *St) {
  orc_rt_ExecutorAddr Instance = orcrt_wire_get_le64(St->Fixed);
  uint64_t Count = orcrt_wire_get_le64(St->Fixed + 8);
  St->M = orcrt_glue_instance(St->S, &orcrt_memory_service_ops, Instance);
  out_bytes(St, St->Fixed, 8);
  out_u64(St, 0); /* the record count, once known (Finish) */
  if (Count) {
    St->SegmentsLeft = Count - 1;
    St->Phase = PHASE_SEGMENT;
  } else {
    St->Phase = PHASE_TAIL;
  }
}

static void segment_header_done(struct request_stream *St) {
  St->Prot = St->Fixed[0];
  St->Addr = orcrt_wire_get_le64(St->Fixed + 1);
  St->Size = orcrt_wire_get_le64(St->Fixed + 9);
  St->ContentLeft = orcrt_wire_get_le64(St->Fixed + 17);
  if (St->ContentLeft > St->Left) {
    St->Phase = PHASE_BAD; /* more content than arguments: undecodable */
    return;
  }
  /* What the request would refuse is kept for it to refuse, with the words it has for it. */
  St->Placing = St->M && St->ContentLeft && St->ContentLeft <= St->Size &&
                St->Addr <= UINT64_MAX - St->Size &&
                orcrt_memory_may_place(St->M, St->Addr, St->Size);
  begin_record(St);
  if (St->ContentLeft)
    St->Phase = PHASE_CONTENT;
  else
    segment_done(St);
}

/* N content bytes have been put in place (or at Src, kept). */
static void content_done(struct request_stream *St, uint64_t N) {
  St->Addr += N;
  St->Size -= N;
  St->ContentLeft -= N;
  if (St->Placing)
    St->Placed += N;
  St->Left -= N;
  if (!St->ContentLeft)
    segment_done(St);
}

static bool stream_take(struct orcrt_arg_stream *Base, const char *Src, size_t Len) {
  struct request_stream *St = (struct request_stream *)Base;
  while (Len) {
    size_t N;
    switch (St->Phase) {
    case PHASE_HEAD:
    case PHASE_SEGMENT: {
      size_t Need = (St->Phase == PHASE_HEAD ? HEAD_SIZE : SEGMENT_SIZE) - St->FixedHave;
      N = Len < Need ? Len : Need;
      memcpy(St->Fixed + St->FixedHave, Src, N);
      St->FixedHave += N;
      St->Left -= N;
      if (N == Need) {
        St->FixedHave = 0;
        if (St->Phase == PHASE_HEAD)
          head_done(St);
        else
          segment_header_done(St);
      }
      break;
    }
    case PHASE_CONTENT:
      N = Len < St->ContentLeft ? Len : (size_t)St->ContentLeft;
      if (St->Placing && !orcrt_memory_place(St->M, St->Addr, Src, N))
        stop_placing(St);
      if (!St->Placing)
        out_bytes(St, Src, N);
      content_done(St, N);
      break;
    case PHASE_TAIL:
      N = Len;
      out_bytes(St, Src, N);
      St->Left -= N;
      break;
    default: /* PHASE_BAD */
      N = Len;
      St->Left -= N;
      break;
    }
    Src += N;
    Len -= N;
  }
  return !St->OutOfMemory;
}

static ssize_t stream_read(struct orcrt_arg_stream *Base, int Fd, size_t Max) {
  struct request_stream *St = (struct request_stream *)Base;
  if (St->Phase != PHASE_CONTENT || !St->Placing) {
    errno = ENOTSUP;
    return -1;
  }
  size_t Want = Max < St->ContentLeft ? Max : (size_t)St->ContentLeft;
  ssize_t N = orcrt_memory_place_from(St->M, St->Addr, Want, Fd);
  if (N > 0) {
    content_done(St, (uint64_t)N);
  } else if (N < 0 && errno == EFAULT) {
    /* The memory is not to be written now: the rest is kept. */
    stop_placing(St);
    errno = ENOTSUP;
  }
  return N;
}

static void stream_free(struct request_stream *St) {
  free(St->Out);
  free(St);
}

static bool stream_finish(struct orcrt_arg_stream *Base, orc_rt_ExecutorAddr *Fn,
                          orc_rt_WrapperFunctionBuffer *Args) {
  struct request_stream *St = (struct request_stream *)Base;
  bool Ok = !St->OutOfMemory;
  *Fn = St->PlacedFn;
  orc_rt_WrapperFunctionBuffer_init(Args);
  /* Anything but a whole request leaves no arguments: the twin says they are undecodable. */
  if (Ok && St->Phase == PHASE_TAIL) {
    orcrt_wire_put_le64(St->Out + 8, St->NumRecords);
    *Args = orc_rt_WrapperFunctionBuffer_fromBytes(St->Out, St->OutLen);
    Ok = !orc_rt_WrapperFunctionBuffer_getOutOfBandError(Args);
  }
  stream_free(St);
  return Ok;
}

static void stream_abort(struct orcrt_arg_stream *Base) {
  stream_free((struct request_stream *)Base);
}

static const struct orcrt_arg_stream_ops StreamOps = {
    .Take = stream_take,
    .Read = stream_read,
    .Finish = stream_finish,
    .Abort = stream_abort,
};

struct orcrt_arg_stream *orcrt_llvm19_request_stream(orc_rt_SessionRef S, size_t Size,
                                                     orc_rt_WrapperFunction PlacedFn) {
  struct request_stream *St = calloc(1, sizeof(*St));
  if (!St)
    return NULL; /* gathered whole, as before */
  St->Base.Ops = &StreamOps;
  St->S = S;
  St->PlacedFn = (orc_rt_ExecutorAddr)(uintptr_t)PlacedFn;
  St->Left = Size;
  St->Phase = PHASE_HEAD;
  return &St->Base;
}

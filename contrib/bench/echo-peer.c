/*
 * echo-peer.c - the physical floor of the executor benchmark
 *
 * usage: echo-peer filedescs=IN,OUT
 *
 * A peer that speaks just enough of LLVM 19's executor protocol for
 * contrib/bench/bench.c to drive it like a real executor: it sends a Setup
 * naming the same 24 bootstrap symbols as llvm-jitlink-executor (at made-up
 * addresses), then reads frames and answers every CallWrapper with a Result
 * of the shape the named wrapper returns, doing nothing else: no memory is
 * reserved, no symbol is looked up, no code runs (run-as-int answers its
 * argument plus one, which is what the benchmark's JIT'd function computes).
 * It runs on one thread, reads into one buffer that only grows, and writes
 * the answers to all the frames one read() brought in with one write(). What
 * it costs is the cost of moving the frames through the pipes.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llvm19-symbols.h"
#include "pipe-wire.h"

/* The bootstrap symbols, llvm-jitlink-executor's set: the 14 LLVM 19
   requires, then the rest; the address of the I-th is SYM_BASE + 16 * I. */
static const char *const Symbols[] = {
    ORCRT_LLVM19_REQUIRED_SYMBOL_NAMES,
    "__llvm_orc_bootstrap_mem_write_uint8s_wrapper",
    "__llvm_orc_bootstrap_mem_write_uint16s_wrapper",
    "__llvm_orc_bootstrap_mem_write_uint32s_wrapper",
    "__llvm_orc_bootstrap_mem_write_uint64s_wrapper",
    "__llvm_orc_bootstrap_mem_write_buffers_wrapper",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Instance",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Reserve",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Initialize",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Deinitialize",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Release",
};
#define NUM_SYMBOLS (sizeof(Symbols) / sizeof(Symbols[0]))
#define SYM_BASE UINT64_C(0x10000)

enum { RunAsInt = 4, Open = 6, Lookup = 7, Reserve = 9, Finalize = 10, Deallocate = 11 };

static int InFd, OutFd;
static unsigned char *Rx; /* [RxStart, RxEnd) unread */
static size_t RxCap = 1 << 16, RxStart, RxEnd;
static unsigned char *Tx;
static size_t TxCap = 1 << 16, TxLen;

static void die(const char *What) {
  fprintf(stderr, "echo-peer: %s: %s\n", What, errno ? strerror(errno) : "protocol error");
  exit(1);
}

/* Room for N more bytes of output. */
static unsigned char *tx_room(size_t N) {
  if (TxLen + N > TxCap) {
    while (TxLen + N > TxCap)
      TxCap *= 2;
    if (!(Tx = realloc(Tx, TxCap)))
      die("out of memory");
  }
  return Tx + TxLen;
}

static void tx_u64(uint64_t V) {
  orcrt_wire_put_le64(tx_room(8), V);
  TxLen += 8;
}

static void tx_u8(unsigned char V) {
  *tx_room(1) = V;
  TxLen++;
}

static void tx_str(const char *S) {
  size_t N = strlen(S);
  tx_u64(N);
  memcpy(tx_room(N), S, N);
  TxLen += N;
}

static void flush(void) {
  size_t Done = 0;
  while (Done < TxLen) {
    ssize_t W = write(OutFd, Tx + Done, TxLen - Done);
    if (W < 0 && errno == EINTR)
      continue;
    if (W <= 0)
      die("write");
    Done += (size_t)W;
  }
  TxLen = 0;
}

/* Start a frame; returns its offset, for frame_end. */
static size_t frame_begin(uint64_t Op, uint64_t Seq) {
  size_t At = TxLen;
  unsigned char *H = tx_room(WIRE_HEADER_SIZE);
  orcrt_wire_put_le64(H + 8, Op);
  orcrt_wire_put_le64(H + 16, Seq);
  orcrt_wire_put_le64(H + 24, 0);
  TxLen += WIRE_HEADER_SIZE;
  return At;
}

static void frame_end(size_t At) {
  orcrt_wire_put_le64(Tx + At, TxLen - At);
}

/* Answer one CallWrapper with the result shape of the wrapper it names. */
static void answer(uint64_t Seq, uint64_t Tag, const unsigned char *P, size_t N) {
  size_t At = frame_begin(WIRE_OP_RESULT, Seq);
  uint64_t I = (Tag - SYM_BASE) / 16;
  switch (Tag >= SYM_BASE ? I : UINT64_MAX) {
  case Open:
  case Reserve:
    tx_u8(1); /* Expected<ExecutorAddr>: a value */
    tx_u64(UINT64_C(0x7f0000000000));
    break;
  case Finalize:
  case Deallocate:
    tx_u8(0); /* SPSError: success */
    break;
  case RunAsInt: {
    uint32_t Arg = 0;
    if (N >= 12) /* (ExecutorAddr Fn, int32 Arg) */
      Arg = (uint32_t)P[8] | (uint32_t)P[9] << 8 | (uint32_t)P[10] << 16 | (uint32_t)P[11] << 24;
    Arg += 1;
    unsigned char *R = tx_room(4);
    R[0] = (unsigned char)Arg;
    R[1] = (unsigned char)(Arg >> 8);
    R[2] = (unsigned char)(Arg >> 16);
    R[3] = (unsigned char)(Arg >> 24);
    TxLen += 4;
    break;
  }
  case Lookup: {
    /* (Instance, Handle, Sequence<(String, bool)>): as many definitions. */
    uint64_t Count = N >= 24 ? orcrt_wire_get_le64(P + 16) : 0;
    if (Count > N)
      die("lookup count");
    tx_u8(1);
    tx_u64(Count);
    unsigned char *R = tx_room(Count * 10);
    for (uint64_t J = 0; J < Count; J++) {
      orcrt_wire_put_le64(R + 10 * J, 1);
      R[10 * J + 8] = 0x10;
      R[10 * J + 9] = 0;
    }
    TxLen += Count * 10;
    break;
  }
  default:
    break; /* the memory writes return nothing */
  }
  frame_end(At);
}

static void send_setup(void) {
  size_t At = frame_begin(WIRE_OP_SETUP, 0);
  tx_str("x86_64-pc-linux-gnu");
  tx_u64((uint64_t)sysconf(_SC_PAGESIZE));
  tx_u64(0); /* bootstrap map */
  tx_u64(NUM_SYMBOLS);
  for (size_t I = 0; I < NUM_SYMBOLS; I++) {
    tx_str(Symbols[I]);
    tx_u64(SYM_BASE + 16 * I);
  }
  frame_end(At);
  flush();
}

int main(int argc, char **argv) {
  if (argc < 2 || sscanf(argv[1], "filedescs=%d,%d", &InFd, &OutFd) != 2) {
    fprintf(stderr, "usage: echo-peer filedescs=IN,OUT\n");
    return 1;
  }
  Rx = malloc(RxCap);
  Tx = malloc(TxCap);
  if (!Rx || !Tx)
    die("out of memory");
  send_setup();

  for (;;) {
    /* Answer every complete frame in the buffer. */
    for (;;) {
      size_t Have = RxEnd - RxStart;
      if (Have < WIRE_HEADER_SIZE)
        break;
      const unsigned char *F = Rx + RxStart;
      struct orcrt_wire_header H = orcrt_wire_decode_header(F);
      if (H.Size < WIRE_HEADER_SIZE || H.Size > ((uint64_t)1 << 31))
        die("frame size");
      if (Have < H.Size)
        break;
      if (H.OpC == WIRE_OP_CALL_WRAPPER)
        answer(H.SeqNo, H.Tag, F + WIRE_HEADER_SIZE, (size_t)H.Size - WIRE_HEADER_SIZE);
      RxStart += (size_t)H.Size;
    }
    if (TxLen)
      flush();
    /* Make room for the rest of the frame that has begun, then read. */
    size_t Have = RxEnd - RxStart;
    size_t Need =
        Have >= WIRE_HEADER_SIZE ? (size_t)orcrt_wire_get_le64(Rx + RxStart) : WIRE_HEADER_SIZE;
    if (RxStart && (RxCap - RxStart < Need || Have == 0)) {
      memmove(Rx, Rx + RxStart, Have);
      RxStart = 0;
      RxEnd = Have;
    }
    if (Need > RxCap) {
      while (Need > RxCap)
        RxCap *= 2;
      if (!(Rx = realloc(Rx, RxCap)))
        die("out of memory");
    }
    ssize_t R = read(InFd, Rx + RxEnd, RxCap - RxEnd);
    if (R < 0 && errno == EINTR)
      continue;
    if (R < 0)
      die("read");
    if (R == 0) {
      if (RxEnd != RxStart)
        die("end of file inside a frame");
      return 0;
    }
    RxEnd += (size_t)R;
  }
}

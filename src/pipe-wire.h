/*
 * pipe-wire.h - the frame format of LLVM 19's out-of-process wire protocol
 *
 * Every frame is a 32-byte header of four little-endian uint64s (the frame's
 * size including the header, the opcode, the sequence number, the tag
 * address) followed by the payload. This header is the one description of
 * that layout: the pipe transport (pipe-input.c, pipe-output.c), the
 * fuzzers (contrib/fuzz) and the benchmark's controller and peer
 * (contrib/bench) include it. tests/controller.c keeps a copy of its own on
 * purpose, as an independent oracle.
 *
 * Header-only and self-contained (static inline functions, no library
 * calls), so that programs outside the library can include it as well.
 *
 * Locks: none; nothing here has state.
 */
#ifndef ORCRT_PIPE_WIRE_H
#define ORCRT_PIPE_WIRE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

/* The opcodes, as LLVM's SimpleRemoteEPCOpcode numbers them. */
enum {
  WIRE_OP_SETUP = 0,
  WIRE_OP_HANGUP = 1,
  WIRE_OP_RESULT = 2,
  WIRE_OP_CALL_WRAPPER = 3,
  WIRE_OP_LAST = WIRE_OP_CALL_WRAPPER
};

#define WIRE_HEADER_SIZE 32

/* A decoded frame header. */
struct orcrt_wire_header {
  uint64_t Size; /* of the whole frame, header included */
  uint64_t OpC;
  uint64_t SeqNo;
  uint64_t Tag;
};

/* One load or store on little-endian hosts (the headers of every frame go through these). */
static inline void orcrt_wire_put_le64(unsigned char *P, uint64_t V) {
  V = htole64(V);
  memcpy(P, &V, sizeof(V));
}

static inline uint64_t orcrt_wire_get_le64(const unsigned char *P) {
  uint64_t V;
  memcpy(&V, P, sizeof(V));
  return le64toh(V);
}

/* Encode a header for a frame with PayloadSize bytes of payload into Out. */
static inline void orcrt_wire_encode_header(unsigned char Out[WIRE_HEADER_SIZE], uint64_t OpC,
                                            uint64_t SeqNo, uint64_t Tag, uint64_t PayloadSize) {
  orcrt_wire_put_le64(Out, WIRE_HEADER_SIZE + PayloadSize);
  orcrt_wire_put_le64(Out + 8, OpC);
  orcrt_wire_put_le64(Out + 16, SeqNo);
  orcrt_wire_put_le64(Out + 24, Tag);
}

/* Decode the WIRE_HEADER_SIZE bytes at In. */
static inline struct orcrt_wire_header orcrt_wire_decode_header(const unsigned char *In) {
  struct orcrt_wire_header H = {
      .Size = orcrt_wire_get_le64(In),
      .OpC = orcrt_wire_get_le64(In + 8),
      .SeqNo = orcrt_wire_get_le64(In + 16),
      .Tag = orcrt_wire_get_le64(In + 24),
  };
  return H;
}

static inline const char *orcrt_wire_opcode_name(uint64_t OpC) {
  switch (OpC) {
  case WIRE_OP_SETUP:
    return "Setup";
  case WIRE_OP_HANGUP:
    return "Hangup";
  case WIRE_OP_RESULT:
    return "Result";
  case WIRE_OP_CALL_WRAPPER:
    return "CallWrapper";
  }
  return "?";
}

#endif /* ORCRT_PIPE_WIRE_H */

/*
 * sps.c - Simple Packed Serialization, byte-compatible with LLVM
 */
#include "orcrt-internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/sps.h>

/* The first heap block of a writer: most messages fit in it. */
#define WRITER_INITIAL_CAPACITY 64

/* ---- writing ---------------------------------------------------------- */

ORC_RT_EXPORT void orc_rt_SPSWriter_init(orc_rt_SPSWriter *W) {
  W->Data = NULL;
  W->Size = 0;
  W->Capacity = 0;
  W->Failed = false;
}

ORC_RT_EXPORT void orc_rt_SPSWriter_dispose(orc_rt_SPSWriter *W) {
  free(W->Data);
  orc_rt_SPSWriter_init(W);
}

ORC_RT_EXPORT bool orc_rt_SPSWriter_reserve(orc_rt_SPSWriter *W, size_t N) {
  if (W->Failed)
    return false;
  if (N <= W->Capacity - W->Size)
    return true;
  /* No object may exceed PTRDIFF_MAX; refusing here keeps realloc from ever
     being asked for an impossible size. */
  if (N > (size_t)PTRDIFF_MAX - W->Size)
    goto fail;
  size_t Need = W->Size + N;
  size_t Cap = W->Capacity ? W->Capacity : WRITER_INITIAL_CAPACITY;
  while (Cap < Need)
    Cap = Cap > (size_t)PTRDIFF_MAX / 2 ? Need : Cap * 2;
  char *P = realloc(W->Data, Cap);
  if (!P)
    goto fail;
  W->Data = P;
  W->Capacity = Cap;
  return true;
fail:
  W->Failed = true;
  return false;
}

/*
 * Room for N bytes at the end, counted as written; NULL if W failed, and for
 * N == 0 (W->Data may still be NULL, and NULL + 0 is undefined).
 */
static inline unsigned char *writer_extend(orc_rt_SPSWriter *W, size_t N) {
  if (!orc_rt_SPSWriter_reserve(W, N) || N == 0)
    return NULL;
  unsigned char *P = (unsigned char *)W->Data + W->Size;
  W->Size += N;
  return P;
}

/* Little-endian whatever the host: byte by byte. */
static inline void writer_le(orc_rt_SPSWriter *W, uint64_t V, unsigned Bytes) {
  unsigned char *P = writer_extend(W, Bytes);
  if (!P)
    return;
  for (unsigned I = 0; I < Bytes; I++)
    P[I] = (unsigned char)(V >> (8 * I));
}

ORC_RT_EXPORT void orc_rt_SPSWriter_u8(orc_rt_SPSWriter *W, uint8_t V) {
  writer_le(W, V, 1);
}
ORC_RT_EXPORT void orc_rt_SPSWriter_u16(orc_rt_SPSWriter *W, uint16_t V) {
  writer_le(W, V, 2);
}
ORC_RT_EXPORT void orc_rt_SPSWriter_u32(orc_rt_SPSWriter *W, uint32_t V) {
  writer_le(W, V, 4);
}
ORC_RT_EXPORT void orc_rt_SPSWriter_u64(orc_rt_SPSWriter *W, uint64_t V) {
  writer_le(W, V, 8);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_i8(orc_rt_SPSWriter *W, int8_t V) {
  writer_le(W, (uint8_t)V, 1);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_i16(orc_rt_SPSWriter *W, int16_t V) {
  writer_le(W, (uint16_t)V, 2);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_i32(orc_rt_SPSWriter *W, int32_t V) {
  writer_le(W, (uint32_t)V, 4);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_i64(orc_rt_SPSWriter *W, int64_t V) {
  writer_le(W, (uint64_t)V, 8);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_bool(orc_rt_SPSWriter *W, bool V) {
  writer_le(W, V ? 1 : 0, 1);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_addr(orc_rt_SPSWriter *W, orc_rt_ExecutorAddr A) {
  writer_le(W, A, 8);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_addrRange(orc_rt_SPSWriter *W, orc_rt_ExecutorAddrRange R) {
  writer_le(W, R.Start, 8);
  writer_le(W, R.End, 8);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_seqCount(orc_rt_SPSWriter *W, uint64_t N) {
  writer_le(W, N, 8);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_raw(orc_rt_SPSWriter *W, const void *Data, size_t N) {
  unsigned char *P = writer_extend(W, N);
  if (P)
    memcpy(P, Data, N);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_bytes(orc_rt_SPSWriter *W, const void *Data, size_t N) {
  /* One reservation for count and bytes: at most one realloc. */
  if (N > SIZE_MAX - 8) {
    W->Failed = true;
    return;
  }
  if (!orc_rt_SPSWriter_reserve(W, 8 + N))
    return;
  writer_le(W, N, 8);
  orc_rt_SPSWriter_raw(W, Data, N);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_string(orc_rt_SPSWriter *W, const char *S) {
  /* A NULL string is written as the empty string rather than crashing. */
  orc_rt_SPSWriter_bytes(W, S, S ? strlen(S) : 0);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_errorSuccess(orc_rt_SPSWriter *W) {
  writer_le(W, 0, 1);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_errorFailure(orc_rt_SPSWriter *W, const char *Msg) {
  writer_le(W, 1, 1);
  orc_rt_SPSWriter_string(W, Msg);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_error(orc_rt_SPSWriter *W, orc_rt_ErrorRef E) {
  if (!E) {
    orc_rt_SPSWriter_errorSuccess(W);
    return;
  }
  orc_rt_SPSWriter_errorFailure(W, orc_rt_Error_getMessage(E));
  orc_rt_Error_consume(E);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_expectedValue(orc_rt_SPSWriter *W) {
  writer_le(W, 1, 1);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_expectedFailure(orc_rt_SPSWriter *W, const char *Msg) {
  writer_le(W, 0, 1);
  orc_rt_SPSWriter_string(W, Msg);
}

ORC_RT_EXPORT void orc_rt_SPSWriter_expectedError(orc_rt_SPSWriter *W, orc_rt_ErrorRef E) {
  /* A NULL E (a caller's bug) still yields a failure, with an empty message. */
  orc_rt_SPSWriter_expectedFailure(W, orc_rt_Error_getMessage(E));
  orc_rt_Error_consume(E);
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer orc_rt_SPSWriter_finish(orc_rt_SPSWriter *W) {
  orc_rt_WrapperFunctionBuffer B;
  orc_rt_WrapperFunctionBuffer_init(&B);
  if (W->Failed) {
    orc_rt_SPSWriter_dispose(W);
    return orc_rt_WrapperFunctionBuffer_fromOutOfBandError("out of memory");
  }
  if (W->Size > sizeof(B.Data.Value)) {
    /* The block came from malloc/realloc, as a heap buffer's must. */
    B.Data.ValuePtr = W->Data;
    W->Data = NULL;
  } else if (W->Size) {
    memcpy(B.Data.Value, W->Data, W->Size);
  }
  B.Size = W->Size;
  orc_rt_SPSWriter_dispose(W);
  return B;
}

/* ---- reading ---------------------------------------------------------- */

ORC_RT_EXPORT void orc_rt_SPSReader_init(orc_rt_SPSReader *R, const void *Data, size_t Size) {
  R->Data = Data;
  R->Remaining = Size;
  R->Failed = false;
}

/* Consume N bytes; on success *P points at them. Sticky failure otherwise. */
static inline bool reader_take(orc_rt_SPSReader *R, size_t N, const unsigned char **P) {
  if (R->Failed || N > R->Remaining) {
    R->Failed = true;
    return false;
  }
  *P = (const unsigned char *)R->Data;
  if (N) { /* a reader over (NULL, 0) must not do NULL + 0 */
    R->Data += N;
    R->Remaining -= N;
  }
  return true;
}

static inline bool reader_le(orc_rt_SPSReader *R, unsigned Bytes, uint64_t *Out) {
  const unsigned char *P;
  if (!reader_take(R, Bytes, &P))
    return false;
  uint64_t V = 0;
  for (unsigned I = 0; I < Bytes; I++)
    V |= (uint64_t)P[I] << (8 * I);
  *Out = V;
  return true;
}

/* One reader per integer type: read into a uint64_t, narrow on success. */
#define READER_INT(Name, Type, Bytes)                                                              \
  ORC_RT_EXPORT bool orc_rt_SPSReader_##Name(orc_rt_SPSReader *R, Type *Out) {                     \
    uint64_t V;                                                                                    \
    if (!reader_le(R, Bytes, &V))                                                                  \
      return false;                                                                                \
    *Out = (Type)V;                                                                                \
    return true;                                                                                   \
  }

/* The signed ones rely on GCC/Clang's modular conversion to signed types. */
READER_INT(u8, uint8_t, 1)
READER_INT(u16, uint16_t, 2)
READER_INT(u32, uint32_t, 4)
READER_INT(u64, uint64_t, 8)
READER_INT(i8, int8_t, 1)
READER_INT(i16, int16_t, 2)
READER_INT(i32, int32_t, 4)
READER_INT(i64, int64_t, 8)
READER_INT(addr, orc_rt_ExecutorAddr, 8)

#undef READER_INT

ORC_RT_EXPORT bool orc_rt_SPSReader_bool(orc_rt_SPSReader *R, bool *Out) {
  uint64_t V;
  if (!reader_le(R, 1, &V))
    return false;
  *Out = V != 0;
  return true;
}

ORC_RT_EXPORT bool orc_rt_SPSReader_addrRange(orc_rt_SPSReader *R, orc_rt_ExecutorAddrRange *Out) {
  uint64_t Start, End;
  if (!reader_le(R, 8, &Start) || !reader_le(R, 8, &End))
    return false;
  Out->Start = Start;
  Out->End = End;
  return true;
}

ORC_RT_EXPORT bool orc_rt_SPSReader_seqCount(orc_rt_SPSReader *R, size_t MinElemSize,
                                             uint64_t *Out) {
  uint64_t N;
  if (!reader_le(R, 8, &N))
    return false;
  if (MinElemSize == 0)
    MinElemSize = 1;
  /* Divide rather than multiply: N * MinElemSize may wrap. */
  if (N > R->Remaining / MinElemSize) {
    R->Failed = true;
    return false;
  }
  *Out = N;
  return true;
}

ORC_RT_EXPORT bool orc_rt_SPSReader_bytes(orc_rt_SPSReader *R, const char **Data, size_t *Size) {
  uint64_t N;
  const unsigned char *P;
  /* seqCount bounds N by what remains, so it fits in a size_t. */
  if (!orc_rt_SPSReader_seqCount(R, 1, &N) || !reader_take(R, (size_t)N, &P))
    return false;
  *Data = (const char *)P;
  *Size = (size_t)N;
  return true;
}

ORC_RT_EXPORT bool orc_rt_SPSReader_stringDup(orc_rt_SPSReader *R, char **Out) {
  const char *Data;
  size_t Size;
  if (!orc_rt_SPSReader_bytes(R, &Data, &Size))
    return false;
  /* Size <= the span's size, so Size + 1 cannot wrap. */
  char *S = malloc(Size + 1);
  if (!S) {
    R->Failed = true;
    return false;
  }
  if (Size)
    memcpy(S, Data, Size);
  S[Size] = '\0';
  *Out = S;
  return true;
}

ORC_RT_EXPORT bool orc_rt_SPSReader_skip(orc_rt_SPSReader *R, size_t N) {
  const unsigned char *P;
  return reader_take(R, N, &P);
}

/* A leading bool, then a message when the bool equals MsgIf. */
static bool reader_tagged_message(orc_rt_SPSReader *R, bool MsgIf, bool *Flag, const char **Msg,
                                  size_t *MsgSize) {
  bool F;
  const char *M = NULL;
  size_t MS = 0;
  if (!orc_rt_SPSReader_bool(R, &F))
    return false;
  if (F == MsgIf && !orc_rt_SPSReader_bytes(R, &M, &MS))
    return false;
  *Flag = F;
  if (Msg)
    *Msg = M;
  if (MsgSize)
    *MsgSize = MS;
  return true;
}

ORC_RT_EXPORT bool orc_rt_SPSReader_error(orc_rt_SPSReader *R, bool *IsFailure, const char **Msg,
                                          size_t *MsgSize) {
  return reader_tagged_message(R, true, IsFailure, Msg, MsgSize);
}

ORC_RT_EXPORT bool orc_rt_SPSReader_expected(orc_rt_SPSReader *R, bool *HasValue, const char **Msg,
                                             size_t *MsgSize) {
  return reader_tagged_message(R, false, HasValue, Msg, MsgSize);
}

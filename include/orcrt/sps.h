/*
 * orcrt/sps.h - Simple Packed Serialization, byte-compatible with LLVM
 *
 * SPS is packed and little-endian with no tags or padding: integers are
 * their fixed width, a sequence (and so a string or byte buffer) is a
 * uint64 count followed by its elements, a tuple is its members back to
 * back, an optional is a bool followed by the value when true. Errors:
 *   SPSError        success 00; failure 01 + string message
 *   SPSExpected<T>  value 01 + T; failure 00 + string message
 * (note the opposite polarity of the leading byte).
 *
 * A writer appends to a growable buffer; a reader consumes a borrowed span.
 * Both have a sticky failure flag, so a sequence of calls can be checked
 * once at the end. Readers never read past their span and never trust a
 * length: every count is checked against the bytes that remain before
 * anything is sized by it.
 *
 * Writers and readers are plain values owned by their user; one thread at a
 * time.
 */
#ifndef ORCRT_SPS_H
#define ORCRT_SPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/wrapper-function.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- writing ---------------------------------------------------------- */

/** A growable output buffer. Fields are private; use the functions. */
typedef struct {
  char *Data;
  size_t Size;
  size_t Capacity;
  bool Failed;
} orc_rt_SPSWriter;

/** Start an empty writer. Allocates nothing. */
void orc_rt_SPSWriter_init(orc_rt_SPSWriter *W);

/** Release what W holds. W may be re-initialised afterwards. */
void orc_rt_SPSWriter_dispose(orc_rt_SPSWriter *W);

/**
 * Make room for N more bytes. Returns false (and marks W failed) if memory
 * runs out or the size would overflow.
 */
bool orc_rt_SPSWriter_reserve(orc_rt_SPSWriter *W, size_t N);

/** Whether any write so far failed. */
static inline bool orc_rt_SPSWriter_failed(const orc_rt_SPSWriter *W) { return W->Failed; }

/** The bytes written so far (borrowed) and their count. */
static inline const char *orc_rt_SPSWriter_data(const orc_rt_SPSWriter *W) { return W->Data; }
static inline size_t orc_rt_SPSWriter_size(const orc_rt_SPSWriter *W) { return W->Size; }

void orc_rt_SPSWriter_u8(orc_rt_SPSWriter *W, uint8_t V);
void orc_rt_SPSWriter_u16(orc_rt_SPSWriter *W, uint16_t V);
void orc_rt_SPSWriter_u32(orc_rt_SPSWriter *W, uint32_t V);
void orc_rt_SPSWriter_u64(orc_rt_SPSWriter *W, uint64_t V);
void orc_rt_SPSWriter_i8(orc_rt_SPSWriter *W, int8_t V);
void orc_rt_SPSWriter_i16(orc_rt_SPSWriter *W, int16_t V);
void orc_rt_SPSWriter_i32(orc_rt_SPSWriter *W, int32_t V);
void orc_rt_SPSWriter_i64(orc_rt_SPSWriter *W, int64_t V);
/** A bool: one byte, 0 or 1. */
void orc_rt_SPSWriter_bool(orc_rt_SPSWriter *W, bool V);
/** An ExecutorAddr: a uint64. */
void orc_rt_SPSWriter_addr(orc_rt_SPSWriter *W, orc_rt_ExecutorAddr A);
/** An ExecutorAddrRange: Start then End. */
void orc_rt_SPSWriter_addrRange(orc_rt_SPSWriter *W, orc_rt_ExecutorAddrRange R);
/** The element count that starts a sequence. */
void orc_rt_SPSWriter_seqCount(orc_rt_SPSWriter *W, uint64_t N);
/** A byte sequence (SPSSequence<char>): count, then the N bytes at Data. */
void orc_rt_SPSWriter_bytes(orc_rt_SPSWriter *W, const void *Data, size_t N);
/** A string (SPSString): its strlen() as count, then its bytes, no NUL. */
void orc_rt_SPSWriter_string(orc_rt_SPSWriter *W, const char *S);
/** N raw bytes with no count (for pre-encoded members). */
void orc_rt_SPSWriter_raw(orc_rt_SPSWriter *W, const void *Data, size_t N);

/** SPSError success: 00. */
void orc_rt_SPSWriter_errorSuccess(orc_rt_SPSWriter *W);
/** SPSError failure: 01 + Msg. */
void orc_rt_SPSWriter_errorFailure(orc_rt_SPSWriter *W, const char *Msg);
/** SPSError for E: success if NULL, else failure with E's message. Consumes E. */
void orc_rt_SPSWriter_error(orc_rt_SPSWriter *W, orc_rt_ErrorRef E);
/** SPSExpected<T> holding a value: 01; the caller writes the T next. */
void orc_rt_SPSWriter_expectedValue(orc_rt_SPSWriter *W);
/** SPSExpected<T> holding an error: 00 + Msg. */
void orc_rt_SPSWriter_expectedFailure(orc_rt_SPSWriter *W, const char *Msg);
/** SPSExpected<T> failure with E's message; consumes E (which must be non-NULL). */
void orc_rt_SPSWriter_expectedError(orc_rt_SPSWriter *W, orc_rt_ErrorRef E);

/**
 * Hand the bytes over as a wrapper-function buffer and reset W to empty.
 * A failed writer yields an out-of-band error buffer ("out of memory").
 */
orc_rt_WrapperFunctionBuffer orc_rt_SPSWriter_finish(orc_rt_SPSWriter *W);

/* ---- reading ---------------------------------------------------------- */

/** A cursor over borrowed bytes. Fields are private; use the functions. */
typedef struct {
  const char *Data;
  size_t Remaining;
  bool Failed;
} orc_rt_SPSReader;

/** Read the Size bytes at Data (borrowed: they must outlive R's use). */
void orc_rt_SPSReader_init(orc_rt_SPSReader *R, const void *Data, size_t Size);

/** Whether every read so far succeeded. */
static inline bool orc_rt_SPSReader_ok(const orc_rt_SPSReader *R) { return !R->Failed; }

/** Bytes not yet read. */
static inline size_t orc_rt_SPSReader_remaining(const orc_rt_SPSReader *R) {
  return R->Remaining;
}

/*
 * Every read returns true and stores its value on success. On failure (too
 * few bytes, an earlier failure) it returns false, leaves *Out untouched and
 * marks R failed.
 */
bool orc_rt_SPSReader_u8(orc_rt_SPSReader *R, uint8_t *Out);
bool orc_rt_SPSReader_u16(orc_rt_SPSReader *R, uint16_t *Out);
bool orc_rt_SPSReader_u32(orc_rt_SPSReader *R, uint32_t *Out);
bool orc_rt_SPSReader_u64(orc_rt_SPSReader *R, uint64_t *Out);
bool orc_rt_SPSReader_i8(orc_rt_SPSReader *R, int8_t *Out);
bool orc_rt_SPSReader_i16(orc_rt_SPSReader *R, int16_t *Out);
bool orc_rt_SPSReader_i32(orc_rt_SPSReader *R, int32_t *Out);
bool orc_rt_SPSReader_i64(orc_rt_SPSReader *R, int64_t *Out);
/** A bool: any non-zero byte is true, as LLVM reads it. */
bool orc_rt_SPSReader_bool(orc_rt_SPSReader *R, bool *Out);
bool orc_rt_SPSReader_addr(orc_rt_SPSReader *R, orc_rt_ExecutorAddr *Out);
bool orc_rt_SPSReader_addrRange(orc_rt_SPSReader *R, orc_rt_ExecutorAddrRange *Out);

/**
 * A sequence's element count. Fails if the count could not fit in what
 * remains given that each element takes at least MinElemSize bytes
 * (MinElemSize 0 is treated as 1), so a caller may size an array by *Out.
 */
bool orc_rt_SPSReader_seqCount(orc_rt_SPSReader *R, size_t MinElemSize, uint64_t *Out);

/**
 * A byte sequence or string: *Data points into R's span (no copy, no NUL),
 * *Size is its length, checked against what remains.
 */
bool orc_rt_SPSReader_bytes(orc_rt_SPSReader *R, const char **Data, size_t *Size);

/**
 * A string copied into a fresh NUL-terminated malloc()ed buffer the caller
 * frees. Fails on out-of-memory too. Embedded NULs are kept (the string then
 * reads shorter in C).
 */
bool orc_rt_SPSReader_stringDup(orc_rt_SPSReader *R, char **Out);

/** Skip N raw bytes. */
bool orc_rt_SPSReader_skip(orc_rt_SPSReader *R, size_t N);

/**
 * An SPSError. *IsFailure says which; on failure *Msg and *MsgSize point at the
 * message inside R's span (no NUL).
 */
bool orc_rt_SPSReader_error(orc_rt_SPSReader *R, bool *IsFailure, const char **Msg,
                            size_t *MsgSize);

/**
 * The leading part of an SPSExpected<T>. *HasValue true: the T follows and
 * the caller reads it next. False: *Msg and *MsgSize hold the error message.
 */
bool orc_rt_SPSReader_expected(orc_rt_SPSReader *R, bool *HasValue, const char **Msg,
                               size_t *MsgSize);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_SPS_H */

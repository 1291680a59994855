/*
 * orcrt/wrapper-function.h - wrapper functions and the byte buffers they move
 *
 * Calls in both directions between controller and executor go to "wrapper
 * functions": functions that take a buffer of bytes and produce a buffer of
 * bytes. orcrt's own wrapper functions use the asynchronous ABI below (the
 * result is handed to a Return callback, from any thread, exactly once).
 * Code linked by LLVM (JIT'd code, allocation actions, LLVM's ORC runtime)
 * uses LLVM's synchronous ABI, orc_rt_SyncWrapperFunction.
 *
 * A buffer is in one of four states:
 *   empty           Size == 0, Data.ValuePtr == NULL
 *   inline          0 < Size <= sizeof(char *): the bytes are in Data.Value
 *   heap            Size > sizeof(char *): Data.ValuePtr is malloc()ed
 *   out-of-band     Size == 0, Data.ValuePtr != NULL: a malloc()ed,
 *                   NUL-terminated error message
 * Whoever holds a buffer owns it and must dispose of it exactly once (or pass
 * it to a function documented as taking ownership). Heap memory is always
 * from malloc(), so buffers can cross into and out of LLVM-built code.
 */
#ifndef ORCRT_WRAPPER_FUNCTION_H
#define ORCRT_WRAPPER_FUNCTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A Session (see orcrt/session.h). */
typedef struct orc_rt_OpaqueSession *orc_rt_SessionRef;

typedef union {
  char *ValuePtr;
  char Value[sizeof(char *)];
} orc_rt_WrapperFunctionBufferDataUnion;

/** A byte buffer; layout-compatible with LLVM's CWrapperFunctionResult. */
typedef struct {
  orc_rt_WrapperFunctionBufferDataUnion Data;
  size_t Size;
} orc_rt_WrapperFunctionBuffer;

/**
 * Asynchronous return of an orcrt wrapper function: called exactly once per
 * call, from any thread, with ownership of ResultBytes.
 */
typedef void (*orc_rt_WrapperFunctionReturn)(orc_rt_SessionRef Session,
                                             uint64_t CallId,
                                             orc_rt_WrapperFunctionBuffer ResultBytes);

/**
 * An orcrt wrapper function. It owns ArgBytes and must arrange for
 * Return(Session, CallId, Result) to be called exactly once.
 */
typedef void (*orc_rt_WrapperFunction)(orc_rt_SessionRef Session, uint64_t CallId,
                                       orc_rt_WrapperFunctionReturn Return,
                                       orc_rt_WrapperFunctionBuffer ArgBytes);

/**
 * LLVM's synchronous wrapper ABI: the argument bytes are borrowed, the
 * result is returned by value and owned by the caller.
 */
typedef orc_rt_WrapperFunctionBuffer (*orc_rt_SyncWrapperFunction)(const char *ArgData,
                                                                   size_t ArgSize);

/** Make B the empty buffer (B holds nothing to dispose afterwards). */
static inline void orc_rt_WrapperFunctionBuffer_init(orc_rt_WrapperFunctionBuffer *B) {
  B->Data.ValuePtr = NULL;
  B->Size = 0;
}

/**
 * A buffer of Size uninitialised bytes. If memory runs out, returns an
 * out-of-band error buffer instead (check with
 * orc_rt_WrapperFunctionBuffer_getOutOfBandError()).
 */
orc_rt_WrapperFunctionBuffer orc_rt_WrapperFunctionBuffer_allocate(size_t Size);

/** A buffer holding a copy of the Size bytes at Data. Out of memory: as allocate. */
orc_rt_WrapperFunctionBuffer orc_rt_WrapperFunctionBuffer_fromBytes(const void *Data,
                                                                    size_t Size);

/**
 * An out-of-band error buffer carrying a copy of Msg. If memory runs out the
 * message is replaced by a shared "out of memory" text that dispose knows not
 * to free.
 */
orc_rt_WrapperFunctionBuffer orc_rt_WrapperFunctionBuffer_fromOutOfBandError(const char *Msg);

/** An out-of-band error buffer carrying E's message; consumes E. */
orc_rt_WrapperFunctionBuffer orc_rt_WrapperFunctionBuffer_fromError(orc_rt_ErrorRef E);

/** Release what B holds and make it empty. Safe on every state, and on NULL. */
void orc_rt_WrapperFunctionBuffer_dispose(orc_rt_WrapperFunctionBuffer *B);

/** The bytes of B (NULL when empty or out-of-band). Borrowed from B. */
static inline char *orc_rt_WrapperFunctionBuffer_data(orc_rt_WrapperFunctionBuffer *B) {
  if (B->Size == 0)
    return NULL;
  return B->Size > sizeof(B->Data.Value) ? B->Data.ValuePtr : B->Data.Value;
}

/** Const variant of orc_rt_WrapperFunctionBuffer_data(). */
static inline const char *
orc_rt_WrapperFunctionBuffer_constData(const orc_rt_WrapperFunctionBuffer *B) {
  if (B->Size == 0)
    return NULL;
  return B->Size > sizeof(B->Data.Value) ? B->Data.ValuePtr : B->Data.Value;
}

/** The number of bytes in B (0 for empty and out-of-band buffers). */
static inline size_t orc_rt_WrapperFunctionBuffer_size(const orc_rt_WrapperFunctionBuffer *B) {
  return B->Size;
}

/** Whether B is the empty buffer (no bytes, no error). */
static inline bool orc_rt_WrapperFunctionBuffer_isEmpty(const orc_rt_WrapperFunctionBuffer *B) {
  return B->Size == 0 && B->Data.ValuePtr == NULL;
}

/** The error message of an out-of-band buffer, else NULL. Borrowed from B. */
static inline const char *
orc_rt_WrapperFunctionBuffer_getOutOfBandError(const orc_rt_WrapperFunctionBuffer *B) {
  return B->Size == 0 ? B->Data.ValuePtr : NULL;
}

/**
 * Call the function at Fn with LLVM's synchronous wrapper ABI, passing the
 * ArgSize bytes at ArgData, and return its result (owned by the caller).
 * Fn must be the address of such a function; this cannot be checked here.
 */
orc_rt_WrapperFunctionBuffer orc_rt_WrapperFunctionBuffer_callSync(orc_rt_ExecutorAddr Fn,
                                                                   const char *ArgData,
                                                                   size_t ArgSize);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_WRAPPER_FUNCTION_H */

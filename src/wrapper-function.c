/*
 * wrapper-function.c - the byte buffers that wrapper functions exchange
 */
#include "orcrt-internal.h"

#include <stdlib.h>
#include <string.h>

#include <orcrt/wrapper-function.h>
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* The harness's list (orcrt_fuzzing_allow_calls()); a process-wide setting of the fuzzer's. */
static orc_rt_ExecutorAddr FuzzAllowed[8];
static size_t NumFuzzAllowed;

void orcrt_fuzzing_allow_calls(const orc_rt_ExecutorAddr *Fns, size_t N) {
  NumFuzzAllowed = N < ORCRT_ARRAY_SIZE(FuzzAllowed) ? N : ORCRT_ARRAY_SIZE(FuzzAllowed);
  memcpy(FuzzAllowed, Fns, NumFuzzAllowed * sizeof(*Fns));
}

bool orcrt_fuzzing_may_call(orc_rt_ExecutorAddr Fn) {
  for (size_t I = 0; I < NumFuzzAllowed; I++)
    if (FuzzAllowed[I] == Fn)
      return true;
  return false;
}
#endif

/*
 * The message of an out-of-band error that could not be allocated. dispose()
 * recognises it and does not free it.
 */
static char OutOfMemoryMsg[] = "out of memory";

static orc_rt_WrapperFunctionBuffer out_of_memory(void) {
  orc_rt_WrapperFunctionBuffer B;
  B.Data.ValuePtr = OutOfMemoryMsg;
  B.Size = 0;
  return B;
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer orc_rt_WrapperFunctionBuffer_allocate(size_t Size) {
  orc_rt_WrapperFunctionBuffer B;
  orc_rt_WrapperFunctionBuffer_init(&B);
  if (Size > sizeof(B.Data.Value)) {
    B.Data.ValuePtr = malloc(Size);
    if (!B.Data.ValuePtr)
      return out_of_memory();
  }
  B.Size = Size;
  return B;
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer orc_rt_WrapperFunctionBuffer_fromBytes(const void *Data,
                                                                                  size_t Size) {
  orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_allocate(Size);
  if (Size && B.Size == Size)
    memcpy(orc_rt_WrapperFunctionBuffer_data(&B), Data, Size);
  return B;
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer
orc_rt_WrapperFunctionBuffer_fromOutOfBandError(const char *Msg) {
  orc_rt_WrapperFunctionBuffer B;
  B.Size = 0;
  B.Data.ValuePtr = strdup(Msg ? Msg : "");
  if (!B.Data.ValuePtr)
    return out_of_memory();
  return B;
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer
orc_rt_WrapperFunctionBuffer_fromError(orc_rt_ErrorRef E) {
  orc_rt_WrapperFunctionBuffer B =
      orc_rt_WrapperFunctionBuffer_fromOutOfBandError(E ? orc_rt_Error_getMessage(E) : "");
  orc_rt_Error_consume(E);
  return B;
}

ORC_RT_EXPORT void orc_rt_WrapperFunctionBuffer_dispose(orc_rt_WrapperFunctionBuffer *B) {
  if (!B)
    return;
  if (B->Size > sizeof(B->Data.Value) ||
      (B->Size == 0 && B->Data.ValuePtr && B->Data.ValuePtr != OutOfMemoryMsg))
    free(B->Data.ValuePtr);
  orc_rt_WrapperFunctionBuffer_init(B);
}

/*
 * Fn is foreign code (JIT'd, or built against LLVM's own result type), so
 * Clang's -fsanitize=function must not check it: the check reads a type
 * signature just before Fn, which JIT'd code does not have and which may not
 * even be mapped.
 */
#if defined(__clang__)
__attribute__((no_sanitize("function")))
#endif
ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer
orc_rt_WrapperFunctionBuffer_callSync(orc_rt_ExecutorAddr Fn, const char *ArgData, size_t ArgSize) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  /* Under a fuzzer (contrib/fuzz) the input names every address: call only
     the runtime's own synchronous wrappers, never code it points at. */
  if (!orcrt_fuzzing_may_call(Fn))
    return orc_rt_WrapperFunctionBuffer_fromOutOfBandError("not called while fuzzing");
#endif
  orc_rt_SyncWrapperFunction F =
      (orc_rt_SyncWrapperFunction)(uintptr_t)orc_rt_ExecutorAddr_toPtr(Fn);
  return F(ArgData, ArgSize);
}

/*
 * bidir-lib.c - "JIT'd code" that calls the controller, for test-bidir.c
 *
 * The bidirectional tests load this library into orcrt-executor and call
 * its functions by address, as LLVM's controllers call JIT'd code: with the
 * synchronous wrapper ABI. The functions call back into the controller
 * through the dispatch function and context the executor publishes as
 * bootstrap symbols (__llvm_orc_SimpleRemoteEPC_dispatch_fn and _ctx), the
 * way LLVM's ORC runtime does. The test passes both addresses in the
 * arguments, so the library needs nothing else of the executor.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <orcrt/wrapper-function.h>

typedef orc_rt_WrapperFunctionBuffer (*DispatchFn)(void *Ctx, const void *Tag, const char *Args,
                                                   size_t Size);

orc_rt_WrapperFunctionBuffer orcrt_test_bidir_nest(const char *ArgData, size_t ArgSize);
orc_rt_WrapperFunctionBuffer orcrt_test_bidir_call_twice(const char *ArgData, size_t ArgSize);

static uint64_t get_le64(const char *P) {
  uint64_t V = 0;
  for (int I = 0; I < 8; I++)
    V |= (uint64_t)(unsigned char)P[I] << (8 * I);
  return V;
}

static orc_rt_WrapperFunctionBuffer oob(const char *Msg) {
  orc_rt_WrapperFunctionBuffer R;
  R.Size = 0;
  R.Data.ValuePtr = strdup(Msg);
  return R;
}

static const char *bytes_of(const orc_rt_WrapperFunctionBuffer *B) {
  return B->Size > sizeof(B->Data.Value) ? B->Data.ValuePtr : B->Data.Value;
}

static void dispose(orc_rt_WrapperFunctionBuffer *B) {
  if (B->Size > sizeof(B->Data.Value) || B->Size == 0)
    free(B->Data.ValuePtr);
  B->Size = 0;
  B->Data.ValuePtr = NULL;
}

/*
 * Arguments: (uint64 Ctx, uint64 Fn, uint64 Tag, uint64 Depth), little
 * endian. Calls the controller's handler Tag with the same 32 bytes and
 * returns "(" + its answer + ")". The controller's handler is expected to
 * call this function again with Depth - 1 before answering, so the calls
 * nest Depth + 1 deep in both directions.
 */
orc_rt_WrapperFunctionBuffer orcrt_test_bidir_nest(const char *ArgData, size_t ArgSize) {
  if (ArgSize != 32)
    return oob("orcrt_test_bidir_nest: expected 32 bytes of arguments");
  DispatchFn Fn = (DispatchFn)(uintptr_t)get_le64(ArgData + 8);
  void *Ctx = (void *)(uintptr_t)get_le64(ArgData);
  const void *Tag = (const void *)(uintptr_t)get_le64(ArgData + 16);

  orc_rt_WrapperFunctionBuffer Inner = Fn(Ctx, Tag, ArgData, ArgSize);
  if (Inner.Size == 0) {
    orc_rt_WrapperFunctionBuffer E =
        oob(Inner.Data.ValuePtr ? Inner.Data.ValuePtr : "empty answer from the controller");
    dispose(&Inner);
    return E;
  }
  orc_rt_WrapperFunctionBuffer R;
  R.Size = Inner.Size + 2;
  char *Out = R.Size > sizeof(R.Data.Value) ? (R.Data.ValuePtr = malloc(R.Size)) : R.Data.Value;
  if (!Out) {
    dispose(&Inner);
    return oob("out of memory");
  }
  Out[0] = '(';
  memcpy(Out + 1, bytes_of(&Inner), Inner.Size);
  Out[R.Size - 1] = ')';
  dispose(&Inner);
  return R;
}

/* Append "<What>: <result>\n" to the file Path. */
static void record(const char *Path, const char *What, const orc_rt_WrapperFunctionBuffer *B) {
  char Line[512];
  if (B->Size == 0 && B->Data.ValuePtr)
    snprintf(Line, sizeof(Line), "%s: error %s\n", What, B->Data.ValuePtr);
  else
    snprintf(Line, sizeof(Line), "%s: %zu byte(s)\n", What, B->Size);
  int Fd = open(Path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (Fd < 0)
    return;
  ssize_t Ignored = write(Fd, Line, strlen(Line));
  (void)Ignored;
  close(Fd);
}

/*
 * Arguments: (uint64 Ctx, uint64 Fn, uint64 Tag) then a file path. Calls the
 * controller's handler Tag (no arguments) twice in a row and, after each
 * call has returned, appends a line saying how it ended to the file:
 * "first: ..." and "second: ...". Returns the SPSError success byte.
 */
orc_rt_WrapperFunctionBuffer orcrt_test_bidir_call_twice(const char *ArgData, size_t ArgSize) {
  char Path[256];
  if (ArgSize < 24 || ArgSize - 24 >= sizeof(Path))
    return oob("orcrt_test_bidir_call_twice: bad arguments");
  DispatchFn Fn = (DispatchFn)(uintptr_t)get_le64(ArgData + 8);
  void *Ctx = (void *)(uintptr_t)get_le64(ArgData);
  const void *Tag = (const void *)(uintptr_t)get_le64(ArgData + 16);
  memcpy(Path, ArgData + 24, ArgSize - 24);
  Path[ArgSize - 24] = '\0';

  orc_rt_WrapperFunctionBuffer First = Fn(Ctx, Tag, NULL, 0);
  record(Path, "first", &First);
  dispose(&First);
  orc_rt_WrapperFunctionBuffer Second = Fn(Ctx, Tag, NULL, 0);
  record(Path, "second", &Second);
  dispose(&Second);

  orc_rt_WrapperFunctionBuffer R;
  R.Data.Value[0] = 0;
  R.Size = 1;
  return R;
}

/*
 * fuzz-wrappers.c - the argument decoding of every wrapper the executor
 * exposes, called through the loopback controller
 *
 * Input: a sequence of calls, each one byte choosing the target, a 16-bit
 * little-endian length and that many argument bytes (the last call takes
 * what is left). Target byte B < 0xff calls the wrapper
 * orcrt_fuzz_wrapper_schemas[B % count] (skipped if the Session lacks it);
 * 0xff calls the address in the first 8 argument bytes with the rest.
 * Placeholders are resolved (fuzz-util.h), so calls can name the Session's
 * instances, its process handle and the regions reserved up front.
 *
 * The Session is orcrt-executor's (dylib, memory, bootstrap Services) on a
 * fresh thread pool per input. Every result must be an out-of-band error or
 * decode as the wrapper's result type, and arguments that decode as the
 * wrapper's argument type must not be refused as undecodable. With
 * ORCRT_FUZZ_VERBOSE set, each call and its result go to stderr.
 */
#include "config.h"

#include "fuzz-util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/loopback.h>
#include <orcrt/sps.h>

#define MAX_CALLS_PER_INPUT 64

static const char DeserializeError[] = "Could not deserialize arguments for wrapper function call";

/* The symbol index of schema I's wrapper. */
static size_t symbol_index(const orcrt_fuzz_wrapper_schema *W) {
  for (size_t I = 0; I < ORCRT_FUZZ_NUM_SYMBOLS; I++)
    if (strcmp(orcrt_fuzz_symbol_names[I], W->Name) == 0)
      return I;
  orcrt_fuzz_fail("wrapper %s has no placeholder selector", W->Name);
}

/* The number of sequence elements an argument tuple ends with (lookup). */
static bool lookup_count(const uint8_t *Args, size_t N, uint64_t *Count) {
  if (N < 24)
    return false;
  *Count = orcrt_wire_get_le64(Args + 16);
  return true;
}

static void check_result(const orcrt_fuzz_wrapper_schema *W, const uint8_t *Args, size_t N,
                         orc_rt_WrapperFunctionBuffer *R) {
  bool ArgsDecode = orcrt_fuzz_decode(W->Args, Args, N, NULL);
  const char *Oob = orc_rt_WrapperFunctionBuffer_getOutOfBandError(R);
  if (Oob) {
    ORCRT_FUZZ_CHECK(!ArgsDecode || strcmp(Oob, DeserializeError) != 0,
                     "%s refused arguments that decode as %s", W->Name, W->Args);
    return;
  }
  const uint8_t *Bytes = (const uint8_t *)orc_rt_WrapperFunctionBuffer_constData(R);
  size_t Used = 0;
  ORCRT_FUZZ_CHECK(orcrt_fuzz_decode(W->Result, Bytes, R->Size, &Used),
                   "%s answered %zu bytes that do not decode as %s", W->Name, R->Size, W->Result);
  ORCRT_FUZZ_CHECK(Used == R->Size, "%s answered %zu bytes after its result", W->Name,
                   R->Size - Used);
  /* A successful lookup answers each name it was asked, in order. */
  uint64_t Asked;
  if (strstr(W->Name, "lookup_wrapper") && R->Size >= 9 && Bytes[0] == 1 &&
      lookup_count(Args, N, &Asked))
    ORCRT_FUZZ_CHECK(orcrt_wire_get_le64(Bytes + 1) == Asked, "lookup of %llu names answered %llu",
                     (unsigned long long)Asked, (unsigned long long)orcrt_wire_get_le64(Bytes + 1));
}

int orcrt_fuzz_wrappers(const uint8_t *Data, size_t Size) {
  orcrt_fuzz_env E;
  orc_rt_LoopbackControllerRef LC;
  orcrt_fuzz_env_init(&E, 2, orc_rt_MemoryStrategy_MemFD, orc_rt_LogLevel_Error);
  orc_rt_ErrorRef Err = orc_rt_LoopbackController_create(&LC);
  if (!Err && (Err = orc_rt_LoopbackController_attach(E.S, LC)))
    orc_rt_LoopbackController_destroy(LC);
  if (Err)
    orcrt_fuzz_fail("loopback: %s", orc_rt_Error_getMessage(Err));

  /* ORCRT_FUZZ_VERBOSE=1: each call and its result on stderr. */
  static int Verbose = -1;
  if (Verbose < 0)
    Verbose = getenv("ORCRT_FUZZ_VERBOSE") != NULL;
  uint8_t *Input = orcrt_fuzz_resolved_copy(&E, Data, Size);
  size_t Pos = 0;
  for (unsigned Calls = 0; Calls < MAX_CALLS_PER_INPUT && Size - Pos >= 3; Calls++) {
    unsigned Target = Input[Pos];
    size_t Len = (size_t)Input[Pos + 1] | (size_t)Input[Pos + 2] << 8;
    Pos += 3;
    if (Len > Size - Pos || Calls + 1 == MAX_CALLS_PER_INPUT)
      Len = Size - Pos;
    const uint8_t *Args = Input + Pos;
    Pos += Len;

    const orcrt_fuzz_wrapper_schema *W = NULL;
    orc_rt_ExecutorAddr Fn;
    if (Target == 0xff) {
      if (Len < 8)
        continue;
      Fn = orcrt_wire_get_le64(Args);
      Args += 8;
      Len -= 8;
    } else {
      W = &orcrt_fuzz_wrapper_schemas[Target % ORCRT_FUZZ_NUM_WRAPPER_SCHEMAS];
      Fn = E.Symbols[symbol_index(W)];
      if (!Fn)
        continue;
    }
    orc_rt_WrapperFunctionBuffer R =
        orc_rt_LoopbackController_callWrapperSync(LC, Fn, (const char *)Args, Len);
    if (Verbose) {
      const char *Oob = orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R);
      fprintf(stderr, "call %s (%zu bytes): %s%zu bytes", W ? W->Name : "address", Len,
              Oob ? "error: " : "", R.Size);
      if (Oob)
        fprintf(stderr, " %s", Oob);
      for (size_t I = 0; !Oob && I < R.Size && I < 64; I++)
        fprintf(stderr, "%s%02x", I ? "" : ": ",
                (unsigned char)orc_rt_WrapperFunctionBuffer_constData(&R)[I]);
      fputc('\n', stderr);
    }
    if (W)
      check_result(W, Args, Len, &R);
    orc_rt_WrapperFunctionBuffer_dispose(&R);
  }
  free(Input);
  orcrt_fuzz_env_destroy(&E);
  return 0;
}

ORCRT_FUZZ_TARGET(orcrt_fuzz_wrappers)

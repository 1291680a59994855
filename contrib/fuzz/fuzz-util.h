/*
 * fuzz-util.h - what the fuzzers of orcrt share
 *
 * Each fuzzer is a function orcrt_fuzz_<name>(Data, Size). Built with
 * libFuzzer (make fuzz), ORCRT_FUZZ_TARGET() makes it the program's
 * LLVMFuzzerTestOneInput; built into contrib/fuzz/fuzz-replay (make check),
 * it is called on every seed and regression input instead.
 *
 * Both builds compile the library with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION,
 * under which the runtime never calls code an input names (only its own
 * synchronous wrappers), and keeps reservations small.
 *
 * Placeholders. Real traffic names addresses of the process it was captured
 * in; a fuzz input names addresses of the fuzzing process through
 * placeholders instead: the 8-byte little-endian value
 *   0xA5A5A5A5 << 32 | Selector << 24 | Offset (24 bits)
 * anywhere in an input is replaced, before use, by Offset plus:
 *   Selector < ORCRT_FUZZ_NUM_SYMBOLS   the address of orcrt_fuzz_symbol_names[Selector]
 *                                       in the fuzzing Session
 *   ORCRT_FUZZ_SEL_REGION + K (K < 4)   the base of the K-th region reserved
 *                                       up front in the Session's JIT memory
 *   ORCRT_FUZZ_SEL_PROCESS              the handle of the process (dlopen(NULL)),
 *                                       which open("") answers
 * capture-proxy writes seeds in this form.
 */
#ifndef ORCRT_FUZZ_UTIL_H
#define ORCRT_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/orcrt.h>

/* The frame format and little-endian helpers, the library's own. */
#include "pipe-wire.h"

#ifdef ORCRT_LIBFUZZER
#define ORCRT_FUZZ_TARGET(Fn)                                                                      \
  int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size);                                    \
  int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {                                   \
    return Fn(Data, Size);                                                                         \
  }
#else
#define ORCRT_FUZZ_TARGET(Fn)
#endif

/* The fuzzers. */
int orcrt_fuzz_frames(const uint8_t *Data, size_t Size);
int orcrt_fuzz_sps(const uint8_t *Data, size_t Size);
int orcrt_fuzz_wrappers(const uint8_t *Data, size_t Size);
int orcrt_fuzz_setup(const uint8_t *Data, size_t Size);

/* Abort with a message: an oracle of a fuzzer found a bug. */
void orcrt_fuzz_fail(const char *Fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
#define ORCRT_FUZZ_CHECK(Cond, ...)                                                                \
  do {                                                                                             \
    if (!(Cond))                                                                                   \
      orcrt_fuzz_fail(__VA_ARGS__);                                                                \
  } while (0)

/* ---- placeholders --------------------------------------------------------- */

#define ORCRT_FUZZ_MAGIC UINT64_C(0xA5A5A5A5)
#define ORCRT_FUZZ_SEL_REGION 0x80u
#define ORCRT_FUZZ_NUM_REGIONS 4u
#define ORCRT_FUZZ_SEL_PROCESS 0x90u
/* The size of each region reserved up front. */
#define ORCRT_FUZZ_REGION_SIZE (256u * 1024u)

/* The names a placeholder selector below ORCRT_FUZZ_NUM_SYMBOLS stands for. */
extern const char *const orcrt_fuzz_symbol_names[];
extern const size_t ORCRT_FUZZ_NUM_SYMBOLS;

static inline uint64_t orcrt_fuzz_placeholder(unsigned Selector, uint32_t Offset) {
  return ORCRT_FUZZ_MAGIC << 32 | (uint64_t)(Selector & 0xff) << 24 | (Offset & 0xffffff);
}

/* ---- a Session like orcrt-executor's ---------------------------------------- */

typedef struct {
  orc_rt_SessionRef S;
  orc_rt_MemoryServiceRef Memory;
  orc_rt_DylibServiceRef Dylibs;
  /* The address of each of orcrt_fuzz_symbol_names (0 if S lacks it). */
  orc_rt_ExecutorAddr Symbols[64];
  orc_rt_ExecutorAddr Regions[ORCRT_FUZZ_NUM_REGIONS];
  orc_rt_ExecutorAddr Process;
} orcrt_fuzz_env;

/*
 * A Session on a thread pool of Threads threads with the dylib, memory
 * (Strategy) and bootstrap Services, added in the order orcrt-executor adds
 * them, whose log and error reports are dropped (logged at LogLevel, to
 * exercise the formatting), and the regions reserved. Aborts on failure.
 */
void orcrt_fuzz_env_init(orcrt_fuzz_env *E, unsigned Threads, orc_rt_MemoryStrategy Strategy,
                         orc_rt_LogLevel LogLevel);

/* Destroy the Session (shutting it down first if needed). */
void orcrt_fuzz_env_destroy(orcrt_fuzz_env *E);

/* Replace every placeholder in the Size bytes at Data, in place. */
void orcrt_fuzz_resolve(const orcrt_fuzz_env *E, uint8_t *Data, size_t Size);

/* A copy of the Size bytes at Data, placeholders resolved (free() it). */
uint8_t *orcrt_fuzz_resolved_copy(const orcrt_fuzz_env *E, const uint8_t *Data, size_t Size);

/* ---- schemas ---------------------------------------------------------------- */

/*
 * The SPS types of the executor's messages as small strings, for the
 * fuzzers' reference decoder:
 *   1 2 4 8  a uint of that many bytes     a  an ExecutorAddr
 *   b        a bool                        s  a byte sequence or string
 *   r        an ExecutorAddrRange          e  an SPSError
 *   E(T...)  an SPSExpected<tuple T...>    [T...]  a sequence of tuples T...
 *   O(T...)  an SPSOptional<tuple T...> (LLVM 22's resolve)
 * A tuple is its members back to back.
 */
typedef struct {
  const char *Name;   /* the bootstrap symbol (or looked-up name) of the wrapper */
  const char *Args;   /* its argument tuple */
  const char *Result; /* its result */
} orcrt_fuzz_wrapper_schema;

extern const orcrt_fuzz_wrapper_schema orcrt_fuzz_wrapper_schemas[];
extern const size_t ORCRT_FUZZ_NUM_WRAPPER_SCHEMAS;

/* The schema of wrapper Name, or NULL. */
const orcrt_fuzz_wrapper_schema *orcrt_fuzz_find_schema(const char *Name);

/* The SPS type of a Setup payload. */
#define ORCRT_FUZZ_SETUP_SCHEMA "s8[ss][sa]"

/*
 * Decode the Size bytes at Data as Schema with the library's SPS reader,
 * re-encode what was read with its writer, and check that the two agree
 * (a bool reads any non-zero byte as true and is written as 1). Returns
 * whether Data held a whole value of that type (trailing bytes allowed);
 * *Consumed receives the bytes it took (if non-NULL). Aborts through
 * orcrt_fuzz_fail() when reader and writer disagree or the reader breaks a
 * promise of sps.h. An invalid schema is a usage error (abort).
 */
bool orcrt_fuzz_decode(const char *Schema, const uint8_t *Data, size_t Size, size_t *Consumed);

#endif /* ORCRT_FUZZ_UTIL_H */

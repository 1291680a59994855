/*
 * fuzz-util.c - what the fuzzers of orcrt share
 */
#include "config.h"

#include "fuzz-util.h"
#include "orcrt-internal.h"
#include "llvm19-symbols.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/bootstrap.h>
#include <orcrt/dylib.h>
#include <orcrt/memory.h>
#include <orcrt/sps.h>

void orcrt_fuzz_fail(const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  fputs("orcrt fuzz oracle failed: ", stderr);
  vfprintf(stderr, Fmt, Ap);
  fputc('\n', stderr);
  va_end(Ap);
  abort();
}

/* The order is the placeholder selector: append only, seeds depend on it. */
const char *const orcrt_fuzz_symbol_names[] = {
    ORCRT_LLVM19_REQUIRED_SYMBOL_NAMES,
    "__llvm_orc_bootstrap_mem_write_uint8s_wrapper",
    "__llvm_orc_bootstrap_mem_write_uint16s_wrapper",
    "__llvm_orc_bootstrap_mem_write_uint32s_wrapper",
    "__llvm_orc_bootstrap_mem_write_uint64s_wrapper",
    "__llvm_orc_bootstrap_mem_write_buffers_wrapper",
    "llvm_orc_registerJITLoaderGDBWrapper",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Instance",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Reserve",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Initialize",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Deinitialize",
    "__llvm_orc_ExecutorSharedMemoryMapperService_Release",
    /* LLVM 22's (after the others: seeds name symbols by index) */
    "__llvm_orc_SimpleExecutorMemoryManager_initialize_wrapper",
    "__llvm_orc_SimpleExecutorMemoryManager_deinitialize_wrapper",
    "__llvm_orc_SimpleExecutorMemoryManager_release_wrapper",
    "__llvm_orc_SimpleExecutorDylibManager_resolve_wrapper",
    "__llvm_orc_bootstrap_mem_write_pointers_wrapper",
    "__llvm_orc_bootstrap_mem_read_uint8s_wrapper",
    "__llvm_orc_bootstrap_mem_read_uint16s_wrapper",
    "__llvm_orc_bootstrap_mem_read_uint32s_wrapper",
    "__llvm_orc_bootstrap_mem_read_uint64s_wrapper",
    "__llvm_orc_bootstrap_mem_read_pointers_wrapper",
    "__llvm_orc_bootstrap_mem_read_buffers_wrapper",
    "__llvm_orc_bootstrap_mem_read_strings_wrapper",
};
const size_t ORCRT_FUZZ_NUM_SYMBOLS =
    sizeof(orcrt_fuzz_symbol_names) / sizeof(orcrt_fuzz_symbol_names[0]);

const orcrt_fuzz_wrapper_schema orcrt_fuzz_wrapper_schemas[] = {
    {"__llvm_orc_bootstrap_run_as_main_wrapper", "a[s]", "8"},
    {"__llvm_orc_bootstrap_run_as_void_function_wrapper", "a", "4"},
    {"__llvm_orc_bootstrap_run_as_int_function_wrapper", "a4", "4"},
    {"__llvm_orc_SimpleExecutorDylibManager_open_wrapper", "as8", "E(a)"},
    {"__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper", "aa[sb]", "E([a11])"},
    {"__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper", "a8", "E(a)"},
    {"__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper", "a[1a8s][asas]", "e"},
    {"__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper", "a[a]", "e"},
    {"llvm_orc_registerEHFrameSectionWrapper", "r", "e"},
    {"llvm_orc_deregisterEHFrameSectionWrapper", "r", "e"},
    {"__llvm_orc_bootstrap_mem_write_uint8s_wrapper", "[a1]", ""},
    {"__llvm_orc_bootstrap_mem_write_uint16s_wrapper", "[a2]", ""},
    {"__llvm_orc_bootstrap_mem_write_uint32s_wrapper", "[a4]", ""},
    {"__llvm_orc_bootstrap_mem_write_uint64s_wrapper", "[a8]", ""},
    {"__llvm_orc_bootstrap_mem_write_buffers_wrapper", "[as]", ""},
    {"llvm_orc_registerJITLoaderGDBWrapper", "rb", "e"},
    {"__llvm_orc_ExecutorSharedMemoryMapperService_Reserve", "a8", "E(as)"},
    {"__llvm_orc_ExecutorSharedMemoryMapperService_Initialize", "aa[1a8][asas]", "E(a)"},
    {"__llvm_orc_ExecutorSharedMemoryMapperService_Deinitialize", "a[a]", "e"},
    {"__llvm_orc_ExecutorSharedMemoryMapperService_Release", "a[a]", "e"},
    {"__llvm_orc_SimpleExecutorMemoryManager_initialize_wrapper", "a[1a8s][asas]", "E(a)"},
    {"__llvm_orc_SimpleExecutorMemoryManager_deinitialize_wrapper", "a[a]", "e"},
    {"__llvm_orc_SimpleExecutorMemoryManager_release_wrapper", "a[a]", "e"},
    {"__llvm_orc_SimpleExecutorDylibManager_resolve_wrapper", "a[sb]", "E([O(a11)])"},
    {"__llvm_orc_bootstrap_mem_write_pointers_wrapper", "[aa]", ""},
    {"__llvm_orc_bootstrap_mem_read_uint8s_wrapper", "[a]", "[1]"},
    {"__llvm_orc_bootstrap_mem_read_uint16s_wrapper", "[a]", "[2]"},
    {"__llvm_orc_bootstrap_mem_read_uint32s_wrapper", "[a]", "[4]"},
    {"__llvm_orc_bootstrap_mem_read_uint64s_wrapper", "[a]", "[8]"},
    {"__llvm_orc_bootstrap_mem_read_pointers_wrapper", "[a]", "[a]"},
    {"__llvm_orc_bootstrap_mem_read_buffers_wrapper", "[r]", "[s]"},
    {"__llvm_orc_bootstrap_mem_read_strings_wrapper", "[a]", "[s]"},
};
const size_t ORCRT_FUZZ_NUM_WRAPPER_SCHEMAS =
    sizeof(orcrt_fuzz_wrapper_schemas) / sizeof(orcrt_fuzz_wrapper_schemas[0]);

const orcrt_fuzz_wrapper_schema *orcrt_fuzz_find_schema(const char *Name) {
  for (size_t I = 0; I < ORCRT_FUZZ_NUM_WRAPPER_SCHEMAS; I++)
    if (strcmp(orcrt_fuzz_wrapper_schemas[I].Name, Name) == 0)
      return &orcrt_fuzz_wrapper_schemas[I];
  return NULL;
}

/* ---- the Session ------------------------------------------------------------ */

static void drop_log(void *Ctx, orc_rt_LogLevel Level, const char *Msg) {
  (void)Ctx;
  (void)Level;
  (void)Msg;
}

static void drop_error(void *Ctx, orc_rt_ErrorRef Err) {
  (void)Ctx;
  orc_rt_Error_consume(Err);
}

#define MUST(Expr)                                                                                 \
  do {                                                                                             \
    orc_rt_ErrorRef Err_ = (Expr);                                                                 \
    if (Err_)                                                                                      \
      orcrt_fuzz_fail("%s: %s", #Expr, orc_rt_Error_getMessage(Err_));                             \
  } while (0)

void orcrt_fuzz_env_init(orcrt_fuzz_env *E, unsigned Threads, orc_rt_MemoryStrategy Strategy,
                         orc_rt_LogLevel LogLevel) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  /* The only code an input may have the executor call: the runtime's own
     synchronous entry points, never an address the input points at. */
  const orc_rt_ExecutorAddr MayCall[] = {
      orc_rt_ExecutorAddr_fromFn((orc_rt_GenericFn)llvm_orc_registerEHFrameSectionWrapper),
      orc_rt_ExecutorAddr_fromFn((orc_rt_GenericFn)llvm_orc_deregisterEHFrameSectionWrapper),
      orc_rt_ExecutorAddr_fromFn((orc_rt_GenericFn)llvm_orc_registerJITLoaderGDBWrapper),
  };
  orcrt_fuzzing_allow_calls(MayCall, sizeof(MayCall) / sizeof(MayCall[0]));
#endif
  orc_rt_TaskDispatcherRef D;
  memset(E, 0, sizeof(*E));
  MUST(orc_rt_ThreadPoolTaskDispatcher_create(Threads, &D));
  MUST(orc_rt_Session_create(D, &E->S));
  orc_rt_Session_setLogFn(E->S, drop_log, NULL);
  orc_rt_Session_setLogLevel(E->S, LogLevel);
  orc_rt_Session_setErrorReporter(E->S, drop_error, NULL);
  MUST(orc_rt_DylibService_add(E->S, &E->Dylibs));
  MUST(orc_rt_MemoryService_add(E->S, Strategy, &E->Memory));
  MUST(orc_rt_Bootstrap_add(E->S));

  size_t Count = 0;
  const orc_rt_BootstrapSymbol *Syms = orc_rt_Session_getBootstrapSymbols(E->S, &Count);
  /* A name of two wires comes first as LLVM 19's (orc_rt_Session_getBootstrapSymbols()). */
  for (size_t I = 0; I < ORCRT_FUZZ_NUM_SYMBOLS; I++)
    for (size_t J = 0; J < Count && !E->Symbols[I]; J++)
      if (strcmp(Syms[J].Name, orcrt_fuzz_symbol_names[I]) == 0)
        E->Symbols[I] = Syms[J].Addr;
  /* Found through a lookup, not a bootstrap symbol. */
  for (size_t I = 0; I < ORCRT_FUZZ_NUM_SYMBOLS; I++)
    if (strcmp(orcrt_fuzz_symbol_names[I], "llvm_orc_registerJITLoaderGDBWrapper") == 0)
      E->Symbols[I] =
          orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerJITLoaderGDBWrapper);

  for (unsigned I = 0; I < ORCRT_FUZZ_NUM_REGIONS; I++)
    MUST(orc_rt_MemoryService_reserve(E->Memory, ORCRT_FUZZ_REGION_SIZE, &E->Regions[I]));
  /* open("") answers with the process's handle, which is this one. */
  void *H = dlopen(NULL, RTLD_NOW);
  E->Process = orc_rt_ExecutorAddr_fromPtr(H);
  if (H)
    dlclose(H);
}

void orcrt_fuzz_env_destroy(orcrt_fuzz_env *E) {
  orc_rt_Session_destroy(E->S);
  E->S = NULL;
}

static bool resolve_one(const orcrt_fuzz_env *E, uint64_t V, uint64_t *Out) {
  if (V >> 32 != ORCRT_FUZZ_MAGIC)
    return false;
  unsigned Sel = (unsigned)(V >> 24) & 0xff;
  uint64_t Off = V & 0xffffff;
  if (Sel < ORCRT_FUZZ_NUM_SYMBOLS)
    *Out = E->Symbols[Sel] + Off;
  else if (Sel >= ORCRT_FUZZ_SEL_REGION && Sel < ORCRT_FUZZ_SEL_REGION + ORCRT_FUZZ_NUM_REGIONS)
    *Out = E->Regions[Sel - ORCRT_FUZZ_SEL_REGION] + Off;
  else if (Sel == ORCRT_FUZZ_SEL_PROCESS)
    *Out = E->Process + Off;
  else
    return false;
  return true;
}

void orcrt_fuzz_resolve(const orcrt_fuzz_env *E, uint8_t *Data, size_t Size) {
  for (size_t I = 0; I + 8 <= Size;) {
    uint64_t V;
    if (Data[I + 7] == 0xA5 && Data[I + 4] == 0xA5 &&
        resolve_one(E, orcrt_wire_get_le64(Data + I), &V)) {
      orcrt_wire_put_le64(Data + I, V);
      I += 8;
    } else {
      I++;
    }
  }
}

uint8_t *orcrt_fuzz_resolved_copy(const orcrt_fuzz_env *E, const uint8_t *Data, size_t Size) {
  uint8_t *Copy = malloc(Size ? Size : 1);
  if (!Copy)
    orcrt_fuzz_fail("out of memory");
  if (Size)
    memcpy(Copy, Data, Size);
  orcrt_fuzz_resolve(E, Copy, Size);
  return Copy;
}

/* ---- the reference decoder ------------------------------------------------------ */

struct decoder {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  const uint8_t *Data;
  size_t Size;
  uint8_t *Norm; /* the input with every bool byte made 0 or 1 */
};

static size_t position(const struct decoder *D) {
  return D->Size - orc_rt_SPSReader_remaining(&D->R);
}

/* The end of the type that starts at T (T points at its first character). */
static const char *type_end(const char *T) {
  switch (*T) {
  case 'E':
  case 'O': {
    const char *P = T + 2; /* E ( T... ), O ( T... ) */
    while (*P != ')')
      P = type_end(P);
    return P + 1;
  }
  case '[': {
    const char *P = T + 1;
    while (*P != ']')
      P = type_end(P);
    return P + 1;
  }
  default:
    return T + 1;
  }
}

/* The least number of bytes a value of the tuple [T, End) takes. */
static size_t min_size(const char *T, const char *End) {
  size_t N = 0;
  while (T < End) {
    switch (*T) {
    case '1':
    case 'b':
    case 'e':
    case 'E':
    case 'O':
      N += 1;
      break;
    case '2':
      N += 2;
      break;
    case '4':
      N += 4;
      break;
    case 'r':
      N += 16;
      break;
    default: /* 8 a s [ */
      N += 8;
      break;
    }
    T = type_end(T);
  }
  return N;
}

/* Normalise the bool at position P of the input. */
static void bool_at(struct decoder *D, size_t P) {
  D->Norm[P] = D->Norm[P] != 0;
}

/* A byte sequence, read both ways the library offers. */
static bool decode_bytes(struct decoder *D) {
  size_t Before = position(D);
  orc_rt_SPSReader Copy = D->R;
  const char *Bytes = NULL;
  size_t N = 0;
  if (!orc_rt_SPSReader_bytes(&D->R, &Bytes, &N)) {
    ORCRT_FUZZ_CHECK(!orc_rt_SPSReader_ok(&D->R), "bytes failed without failing the reader");
    return false;
  }
  ORCRT_FUZZ_CHECK((const uint8_t *)Bytes == D->Data + Before + 8 && position(D) == Before + 8 + N,
                   "bytes at %zu: span outside the input", Before);
  char *Dup = NULL;
  ORCRT_FUZZ_CHECK(orc_rt_SPSReader_stringDup(&Copy, &Dup), "stringDup failed where bytes worked");
  ORCRT_FUZZ_CHECK(memcmp(Dup, Bytes, N) == 0 && Dup[N] == '\0', "stringDup differs from bytes");
  free(Dup);
  orc_rt_SPSWriter_bytes(&D->W, Bytes, N);
  return true;
}

static bool decode_tuple(struct decoder *D, const char *T, const char *End, unsigned Depth);

static bool decode_one(struct decoder *D, const char **TP, unsigned Depth) {
  const char *T = *TP;
  *TP = type_end(T);
  size_t Before = position(D);
  switch (*T) {
  case '1': {
    uint8_t V = 0xAB;
    int8_t S = 0;
    orc_rt_SPSReader Copy = D->R;
    if (!orc_rt_SPSReader_u8(&D->R, &V)) {
      ORCRT_FUZZ_CHECK(V == 0xAB, "u8 changed its output on failure");
      return false;
    }
    ORCRT_FUZZ_CHECK(orc_rt_SPSReader_i8(&Copy, &S) && (uint8_t)S == V, "i8 and u8 disagree");
    orc_rt_SPSWriter_u8(&D->W, V);
    return true;
  }
  case '2': {
    uint16_t V = 0;
    int16_t S = 0;
    orc_rt_SPSReader Copy = D->R;
    if (!orc_rt_SPSReader_u16(&D->R, &V))
      return false;
    ORCRT_FUZZ_CHECK(orc_rt_SPSReader_i16(&Copy, &S) && (uint16_t)S == V, "i16 and u16 disagree");
    orc_rt_SPSWriter_i16(&D->W, S);
    return true;
  }
  case '4': {
    uint32_t V = 0;
    int32_t S = 0;
    orc_rt_SPSReader Copy = D->R;
    if (!orc_rt_SPSReader_u32(&D->R, &V))
      return false;
    ORCRT_FUZZ_CHECK(orc_rt_SPSReader_i32(&Copy, &S) && (uint32_t)S == V, "i32 and u32 disagree");
    orc_rt_SPSWriter_u32(&D->W, V);
    return true;
  }
  case '8': {
    uint64_t V = 0;
    int64_t S = 0;
    orc_rt_SPSReader Copy = D->R;
    if (!orc_rt_SPSReader_u64(&D->R, &V))
      return false;
    ORCRT_FUZZ_CHECK(orc_rt_SPSReader_i64(&Copy, &S) && (uint64_t)S == V, "i64 and u64 disagree");
    orc_rt_SPSWriter_i64(&D->W, S);
    return true;
  }
  case 'a': {
    orc_rt_ExecutorAddr A = 0;
    if (!orc_rt_SPSReader_addr(&D->R, &A))
      return false;
    orc_rt_SPSWriter_addr(&D->W, A);
    return true;
  }
  case 'r': {
    orc_rt_ExecutorAddrRange Rg = {1, 2};
    if (!orc_rt_SPSReader_addrRange(&D->R, &Rg)) {
      ORCRT_FUZZ_CHECK(Rg.Start == 1 && Rg.End == 2, "addrRange changed its output on failure");
      return false;
    }
    orc_rt_SPSWriter_addrRange(&D->W, Rg);
    return true;
  }
  case 'b': {
    bool V = false;
    if (!orc_rt_SPSReader_bool(&D->R, &V))
      return false;
    bool_at(D, Before);
    orc_rt_SPSWriter_bool(&D->W, V);
    return true;
  }
  case 's':
    return decode_bytes(D);
  case 'e': {
    bool IsFailure = false;
    const char *Msg = NULL;
    size_t MsgSize = 0;
    if (!orc_rt_SPSReader_error(&D->R, &IsFailure, &Msg, &MsgSize))
      return false;
    bool_at(D, Before);
    orc_rt_SPSWriter_bool(&D->W, IsFailure);
    if (IsFailure) {
      ORCRT_FUZZ_CHECK((const uint8_t *)Msg == D->Data + Before + 9 &&
                           position(D) == Before + 9 + MsgSize,
                       "error message at %zu outside the input", Before);
      orc_rt_SPSWriter_bytes(&D->W, Msg, MsgSize);
    } else {
      ORCRT_FUZZ_CHECK(position(D) == Before + 1, "a success took more than one byte");
    }
    return true;
  }
  case 'E': {
    bool HasValue = false;
    const char *Msg = NULL;
    size_t MsgSize = 0;
    if (!orc_rt_SPSReader_expected(&D->R, &HasValue, &Msg, &MsgSize))
      return false;
    bool_at(D, Before);
    orc_rt_SPSWriter_bool(&D->W, HasValue);
    if (!HasValue) {
      ORCRT_FUZZ_CHECK((const uint8_t *)Msg == D->Data + Before + 9,
                       "expected's message at %zu outside the input", Before);
      orc_rt_SPSWriter_bytes(&D->W, Msg, MsgSize);
      return true;
    }
    return decode_tuple(D, T + 2, *TP - 1, Depth + 1);
  }
  case 'O': {
    bool Present = false;
    if (!orc_rt_SPSReader_bool(&D->R, &Present))
      return false;
    bool_at(D, Before);
    orc_rt_SPSWriter_bool(&D->W, Present);
    return !Present || decode_tuple(D, T + 2, *TP - 1, Depth + 1);
  }
  case '[': {
    const char *Elem = T + 1, *ElemEnd = *TP - 1;
    size_t Min = min_size(Elem, ElemEnd);
    uint64_t N = 0;
    if (!orc_rt_SPSReader_seqCount(&D->R, Min, &N))
      return false;
    /* The promise of seqCount: the count fits in what remains. */
    ORCRT_FUZZ_CHECK(N <= orc_rt_SPSReader_remaining(&D->R) / (Min ? Min : 1),
                     "seqCount let %llu elements of %zu bytes through with %zu bytes left",
                     (unsigned long long)N, Min, orc_rt_SPSReader_remaining(&D->R));
    orc_rt_SPSWriter_seqCount(&D->W, N);
    for (uint64_t I = 0; I < N; I++)
      if (!decode_tuple(D, Elem, ElemEnd, Depth + 1))
        return false;
    return true;
  }
  }
  orcrt_fuzz_fail("bad schema character '%c'", *T);
}

static bool decode_tuple(struct decoder *D, const char *T, const char *End, unsigned Depth) {
  if (Depth > 16)
    orcrt_fuzz_fail("schema nested too deeply");
  while (T < End)
    if (!decode_one(D, &T, Depth))
      return false;
  return true;
}

bool orcrt_fuzz_decode(const char *Schema, const uint8_t *Data, size_t Size, size_t *Consumed) {
  struct decoder D;
  D.Data = Data;
  D.Size = Size;
  D.Norm = malloc(Size ? Size : 1);
  if (!D.Norm)
    orcrt_fuzz_fail("out of memory");
  if (Size)
    memcpy(D.Norm, Data, Size);
  orc_rt_SPSReader_init(&D.R, Data, Size);
  orc_rt_SPSWriter_init(&D.W);

  bool Ok = decode_tuple(&D, Schema, Schema + strlen(Schema), 0);
  size_t Used = position(&D);
  if (Ok) {
    ORCRT_FUZZ_CHECK(orc_rt_SPSReader_ok(&D.R), "every read succeeded but the reader failed");
    ORCRT_FUZZ_CHECK(!orc_rt_SPSWriter_failed(&D.W), "the writer failed");
    ORCRT_FUZZ_CHECK(orc_rt_SPSWriter_size(&D.W) == Used,
                     "schema %s: read %zu bytes, wrote %zu back", Schema, Used,
                     orc_rt_SPSWriter_size(&D.W));
    ORCRT_FUZZ_CHECK(Used == 0 || memcmp(orc_rt_SPSWriter_data(&D.W), D.Norm, Used) == 0,
                     "schema %s: what was read does not write back the same", Schema);
  } else {
    /* A failed reader stays failed and reads nothing more. */
    uint64_t V = 0;
    ORCRT_FUZZ_CHECK(!orc_rt_SPSReader_ok(&D.R), "a read failed but the reader is fine");
    ORCRT_FUZZ_CHECK(!orc_rt_SPSReader_u8(&D.R, (uint8_t *)&V) && position(&D) == Used,
                     "a failed reader read on");
  }
  if (Consumed)
    *Consumed = Used;
  orc_rt_SPSWriter_dispose(&D.W);
  free(D.Norm);
  return Ok;
}

/*
 * llvm19/bootstrap.c - LLVM 19's bootstrap wrappers and symbols over the
 * bootstrap (bootstrap.c), the memory Service's writes (memory.c) and the
 * unwind and debugger registrars (eh-frame.c, gdb-jit.c)
 *
 * The run-as-main/void/int wrappers run JIT'd code; the memory writes are
 * short (they may run on the transport's I/O thread). The EH-frame and GDB
 * entry points are called by address with the synchronous ABI, from
 * allocation actions or JIT'd code, so they are exported functions rather
 * than wrappers.
 *
 * Locks: none of its own.
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

#include <orcrt/bootstrap.h>
#include <orcrt/memory.h>
#include <orcrt/sps.h>

#include "bootstrap-internal.h"
#include "eh-frame-internal.h"
#include "gdb-jit-internal.h"
#include "llvm19/llvm19.h"
#include "memory-internal.h"
#include "session-internal.h"
#include "wire.h"
#include "wrapper-glue.h"

/* ---- run-as-main/void/int ------------------------------------------------- */

/*
 * (ExecutorAddr Fn, Sequence<String> Args) -> int64. Asynchronous: the
 * thread that runs main answers (orcrt_bootstrap_start_main()), and the
 * worker that read the call is free at once.
 */
struct main_call {
  orc_rt_SessionRef S;
  uint64_t CallId;
  orc_rt_WrapperFunctionReturn Return;
  uint64_t Argc;
  char **Argv;
};

static void main_call_free(struct main_call *C) {
  for (uint64_t I = 0; C->Argv && I < C->Argc; I++)
    free(C->Argv[I]);
  free(C->Argv);
  free(C);
}

static void main_done(void *Ctx, orc_rt_ErrorRef Err, int Ret) {
  struct main_call *C = Ctx;
  orc_rt_WrapperFunctionBuffer Result;
  if (Err) {
    Result = orc_rt_WrapperFunctionBuffer_fromError(Err);
  } else {
    orc_rt_SPSWriter W;
    orc_rt_SPSWriter_init(&W);
    orc_rt_SPSWriter_i64(&W, (int64_t)Ret);
    Result = orc_rt_SPSWriter_finish(&W);
  }
  orc_rt_SessionRef S = C->S;
  uint64_t CallId = C->CallId;
  orc_rt_WrapperFunctionReturn Return = C->Return;
  main_call_free(C);
  Return(S, CallId, Result);
}

static void run_as_main_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                                orc_rt_WrapperFunctionReturn Return,
                                orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddr Fn = 0;
  struct main_call *C = calloc(1, sizeof(*C));
  if (!C) {
    orc_rt_WrapperFunctionBuffer_dispose(&Args);
    Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromOutOfBandError("executor out of memory"));
    return;
  }
  *C = (struct main_call){.S = S, .CallId = CallId, .Return = Return};
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_addr(&R, &Fn);
  /* Each string takes at least its 8-byte length, so Argc is bounded by the input. */
  orc_rt_SPSReader_seqCount(&R, 8, &C->Argc);
  if (orc_rt_SPSReader_ok(&R) && C->Argc < INT_MAX)
    C->Argv = calloc((size_t)C->Argc + 1, sizeof(*C->Argv));
  for (uint64_t I = 0; C->Argv && I < C->Argc; I++)
    if (!orc_rt_SPSReader_stringDup(&R, &C->Argv[I]))
      break;
  bool Ok = C->Argv && orc_rt_SPSReader_ok(&R);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  if (!Ok) {
    main_call_free(C);
    Return(S, CallId, orcrt_glue_bad_args());
    return;
  }
  orcrt_bootstrap_start_main(S, Fn, (int)C->Argc, C->Argv, main_done, C);
}

/* (ExecutorAddr Fn) -> int32, or with HasArg (ExecutorAddr Fn, int32 Arg) -> int32 */
static orc_rt_WrapperFunctionBuffer run_as_function(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                                    bool HasArg) {
  orc_rt_ExecutorAddr Fn = 0;
  int32_t Arg = 0;
  int Ret = 0;
  orc_rt_SPSReader_addr(R, &Fn);
  if (HasArg)
    orc_rt_SPSReader_i32(R, &Arg);
  if (!orc_rt_SPSReader_ok(R))
    return orcrt_glue_bad_args();
  orc_rt_ErrorRef Err =
      HasArg ? orcrt_bootstrap_run_int(S, Fn, Arg, &Ret) : orcrt_bootstrap_run_void(S, Fn, &Ret);
  if (Err)
    return orc_rt_WrapperFunctionBuffer_fromError(Err);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_i32(&W, Ret);
  return orc_rt_SPSWriter_finish(&W);
}

static orc_rt_WrapperFunctionBuffer run_as_void_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  return run_as_function(S, R, false);
}

static orc_rt_WrapperFunctionBuffer run_as_int_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  return run_as_function(S, R, true);
}

/* ---- memory writes -------------------------------------------------------- */

/*
 * Read one (ExecutorAddr, value) element: a uint of Width bytes (stored in
 * host order at *Value), or for Width 0 a byte sequence (*Data, *Size).
 */
static bool read_write_elem(orc_rt_SPSReader *R, unsigned Width, orc_rt_ExecutorAddr *Addr,
                            uint64_t *Value, const char **Data, size_t *Size) {
  orc_rt_SPSReader_addr(R, Addr);
  switch (Width) {
  case 1: {
    uint8_t V = 0;
    orc_rt_SPSReader_u8(R, &V);
    *Value = V;
    break;
  }
  case 2: {
    uint16_t V = 0;
    orc_rt_SPSReader_u16(R, &V);
    *Value = V;
    break;
  }
  case 4: {
    uint32_t V = 0;
    orc_rt_SPSReader_u32(R, &V);
    *Value = V;
    break;
  }
  case 8:
    orc_rt_SPSReader_u64(R, Value);
    break;
  default:
    orc_rt_SPSReader_bytes(R, Data, Size);
    break;
  }
  return orc_rt_SPSReader_ok(R);
}

/* Write the low Width bytes of Value to Addr, in host order, as a store of the integer would. */
static orc_rt_ErrorRef write_uint(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr,
                                  uint64_t Value, unsigned Width) {
  uint8_t V8 = (uint8_t)Value;
  uint16_t V16 = (uint16_t)Value;
  uint32_t V32 = (uint32_t)Value;
  switch (Width) {
  case 1:
    return orc_rt_MemoryService_write(M, Addr, &V8, 1);
  case 2:
    return orc_rt_MemoryService_write(M, Addr, &V16, 2);
  case 4:
    return orc_rt_MemoryService_write(M, Addr, &V32, 4);
  default:
    return orc_rt_MemoryService_write(M, Addr, &Value, 8);
  }
}

/*
 * Sequence<(ExecutorAddr, T)> -> SPSEmpty. The whole sequence is decoded
 * before anything is written; writing stops at the first failure.
 */
orc_rt_WrapperFunctionBuffer orcrt_llvm19_mem_write(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                                    unsigned Width) {
  orc_rt_SPSReader Start;
  uint64_t N = 0;
  orc_rt_ExecutorAddr Addr = 0;
  uint64_t Value = 0;
  const char *Data = NULL;
  size_t Size = 0;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_seqCount(R, 8 + (Width ? Width : 8), &N);
  Start = *R;
  /* Integers make elements of one size, all of which the count check covered. */
  for (uint64_t I = 0; Width == 0 && I < N && orc_rt_SPSReader_ok(R); I++)
    read_write_elem(R, Width, &Addr, &Value, &Data, &Size);
  if (!orc_rt_SPSReader_ok(R))
    return orcrt_glue_bad_args();

  orc_rt_MemoryServiceRef M = orc_rt_Session_findService(S, &orcrt_memory_service_ops);
  if (!M && N)
    return orc_rt_WrapperFunctionBuffer_fromOutOfBandError(
        "mem_write: the Session has no JIT memory");
  *R = Start;
  orc_rt_WrapperFunctionBuffer_init(&Result);
  for (uint64_t I = 0; I < N; I++) {
    read_write_elem(R, Width, &Addr, &Value, &Data, &Size);
    orc_rt_ErrorRef Err =
        Width ? write_uint(M, Addr, Value, Width) : orc_rt_MemoryService_write(M, Addr, Data, Size);
    if (Err)
      return orc_rt_WrapperFunctionBuffer_fromError(Err);
  }
  return Result;
}

#define MEM_WRITE_BODY(Name, Width)                                                                \
  static orc_rt_WrapperFunctionBuffer Name(orc_rt_SessionRef S, orc_rt_SPSReader *R) {             \
    return orcrt_llvm19_mem_write(S, R, Width);                                                    \
  }

MEM_WRITE_BODY(mem_write_uint8s_body, 1)
MEM_WRITE_BODY(mem_write_uint16s_body, 2)
MEM_WRITE_BODY(mem_write_uint32s_body, 4)
MEM_WRITE_BODY(mem_write_uint64s_body, 8)
MEM_WRITE_BODY(mem_write_buffers_body, 0)

ORCRT_GLUE_WRAPPER(run_as_void_wrapper, run_as_void_body)
ORCRT_GLUE_WRAPPER(run_as_int_wrapper, run_as_int_body)
ORCRT_GLUE_WRAPPER(mem_write_uint8s_wrapper, mem_write_uint8s_body)
ORCRT_GLUE_WRAPPER(mem_write_uint16s_wrapper, mem_write_uint16s_body)
ORCRT_GLUE_WRAPPER(mem_write_uint32s_wrapper, mem_write_uint32s_body)
ORCRT_GLUE_WRAPPER(mem_write_uint64s_wrapper, mem_write_uint64s_body)
ORCRT_GLUE_WRAPPER(mem_write_buffers_wrapper, mem_write_buffers_body)

/* ---- the trace ------------------------------------------------------------------- */

/* "main argc=3", the function by its nearest name */
static void run_as_main_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                             struct orcrt_trace_text *T) {
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddr Fn = 0;
  uint64_t Argc = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  if (!orc_rt_SPSReader_addr(&R, &Fn) || !orc_rt_SPSReader_seqCount(&R, 8, &Argc)) {
    orcrt_trace_printf(T, "undecodable");
    return;
  }
  orcrt_trace_addr(T, S, Fn);
  orcrt_trace_printf(T, " argc=%" PRIu64, Argc);
}

static void run_as_function_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                                 struct orcrt_trace_text *T, bool HasArg) {
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddr Fn = 0;
  int32_t Arg = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  if (!orc_rt_SPSReader_addr(&R, &Fn) || (HasArg && !orc_rt_SPSReader_i32(&R, &Arg))) {
    orcrt_trace_printf(T, "undecodable");
    return;
  }
  orcrt_trace_addr(T, S, Fn);
  if (HasArg)
    orcrt_trace_printf(T, " arg=%" PRId32, Arg);
}

static void run_as_void_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                             struct orcrt_trace_text *T) {
  run_as_function_args(S, Data, Size, T, false);
}

static void run_as_int_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                            struct orcrt_trace_text *T) {
  run_as_function_args(S, Data, Size, T, true);
}

/* The int64 (run_as_main) or int32 (the others) the function returned. */
static bool run_result(const char *Data, size_t Size, struct orcrt_trace_text *T, bool Wide) {
  orc_rt_SPSReader R;
  int64_t Ret = 0;
  int32_t Ret32 = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  bool Ok = Wide ? orc_rt_SPSReader_i64(&R, &Ret) : orc_rt_SPSReader_i32(&R, &Ret32);
  if (!Ok)
    orcrt_trace_printf(T, "undecodable");
  else
    orcrt_trace_printf(T, "%" PRId64, Wide ? Ret : (int64_t)Ret32);
  return false;
}

static bool run_as_main_result(orc_rt_SessionRef S, const char *Data, size_t Size,
                               struct orcrt_trace_text *T) {
  (void)S;
  return run_result(Data, Size, T, true);
}

static bool run_as_function_result(orc_rt_SessionRef S, const char *Data, size_t Size,
                                   struct orcrt_trace_text *T) {
  (void)S;
  return run_result(Data, Size, T, false);
}

/* "3 writes" for integers; "2 buffers 1.5 KiB" */
void orcrt_llvm19_mem_write_args(const char *Data, size_t Size, struct orcrt_trace_text *T,
                                 unsigned Width) {
  orc_rt_SPSReader R;
  uint64_t N = 0, Total = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  orc_rt_SPSReader_seqCount(&R, 8 + (Width ? Width : 8), &N);
  for (uint64_t I = 0; Width == 0 && I < N && orc_rt_SPSReader_ok(&R); I++) {
    orc_rt_ExecutorAddr Addr;
    uint64_t Value;
    const char *Bytes = NULL;
    size_t Len = 0;
    read_write_elem(&R, 0, &Addr, &Value, &Bytes, &Len);
    Total += Len;
  }
  if (!orc_rt_SPSReader_ok(&R)) {
    orcrt_trace_printf(T, "undecodable");
    return;
  }
  orcrt_trace_printf(T, "%" PRIu64 " %s%s", N, Width ? "write" : "buffer", N == 1 ? "" : "s");
  if (!Width) {
    orcrt_trace_printf(T, " ");
    orcrt_trace_size(T, Total);
  }
}

#define MEM_WRITE_TRACE(Name, Label, Width)                                                        \
  static void Name##_args(orc_rt_SessionRef S, const char *Data, size_t Size,                      \
                          struct orcrt_trace_text *T) {                                            \
    (void)S;                                                                                       \
    orcrt_llvm19_mem_write_args(Data, Size, T, Width);                                             \
  }                                                                                                \
  static const struct orcrt_wrapper_trace Name##_trace = {Label, Name##_args,                      \
                                                          orcrt_glue_trace_empty};

MEM_WRITE_TRACE(mem_write_uint8s, "write_uint8s", 1)
MEM_WRITE_TRACE(mem_write_uint16s, "write_uint16s", 2)
MEM_WRITE_TRACE(mem_write_uint32s, "write_uint32s", 4)
MEM_WRITE_TRACE(mem_write_uint64s, "write_uint64s", 8)
MEM_WRITE_TRACE(mem_write_buffers, "write_buffers", 0)

static const struct orcrt_wrapper_trace RunAsMainTrace = {"run_as_main", run_as_main_args,
                                                          run_as_main_result};
static const struct orcrt_wrapper_trace RunAsVoidTrace = {"run_as_void", run_as_void_args,
                                                          run_as_function_result};
static const struct orcrt_wrapper_trace RunAsIntTrace = {"run_as_int", run_as_int_args,
                                                         run_as_function_result};

/* ---- EH frames and the GDB JIT interface -------------------------------------- */

/* (ExecutorAddrRange) -> SPSError, for both EH-frame entry points. */
static orc_rt_WrapperFunctionBuffer eh_frame_call(const char *ArgData, size_t ArgSize,
                                                  orc_rt_ErrorRef (*Op)(orc_rt_ExecutorAddrRange)) {
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddrRange Range = {0, 0};
  orc_rt_SPSReader_init(&R, ArgData, ArgSize);
  if (!orc_rt_SPSReader_addrRange(&R, &Range))
    return orcrt_glue_bad_args();
  return orcrt_glue_error(Op(Range));
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer
llvm_orc_registerEHFrameSectionWrapper(const char *ArgData, size_t ArgSize) {
  return eh_frame_call(ArgData, ArgSize, orcrt_eh_frame_register);
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer
llvm_orc_deregisterEHFrameSectionWrapper(const char *ArgData, size_t ArgSize) {
  return eh_frame_call(ArgData, ArgSize, orcrt_eh_frame_deregister);
}

/*
 * (ExecutorAddrRange DebugObject, bool AutoRegister) -> SPSError. LLVM 14-16
 * send the range alone and mean AutoRegister.
 */
ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer llvm_orc_registerJITLoaderGDBWrapper(const char *ArgData,
                                                                                size_t ArgSize) {
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddrRange Range = {0, 0};
  bool AutoRegister = true;
  orc_rt_SPSReader_init(&R, ArgData, ArgSize);
  orc_rt_SPSReader_addrRange(&R, &Range);
  if (ArgSize != 16)
    orc_rt_SPSReader_bool(&R, &AutoRegister);
  if (!orc_rt_SPSReader_ok(&R))
    return orcrt_glue_bad_args();
  return orcrt_glue_error(orcrt_gdb_jit_register(Range, AutoRegister));
}

/* "0x7f...: 196 B", the range of an EH-frame section or a debug object */
static void range_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                       struct orcrt_trace_text *T) {
  (void)S;
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddrRange Range = {0, 0};
  orc_rt_SPSReader_init(&R, Data, Size);
  if (!orc_rt_SPSReader_addrRange(&R, &Range) || Range.End < Range.Start) {
    orcrt_trace_printf(T, "undecodable");
    return;
  }
  orcrt_trace_printf(T, "0x%" PRIx64 ", ", Range.Start);
  orcrt_trace_size(T, Range.End - Range.Start);
}

/* Called by address, so named by their symbols; Label unused. */
static const struct orcrt_wrapper_trace RangeTrace = {NULL, range_args, orcrt_glue_trace_error};

/* ---- registration ------------------------------------------------------------------ */

orc_rt_ErrorRef orcrt_llvm19_add_bootstrap(orc_rt_SessionRef S) {
  /* The run wrappers run JIT'd code; the memory writes are short. */
  static const struct orcrt_glue_wrapper Wrappers[] = {
      {"__llvm_orc_bootstrap_run_as_main_wrapper", run_as_main_wrapper, false, &RunAsMainTrace},
      {"__llvm_orc_bootstrap_run_as_void_function_wrapper", run_as_void_wrapper, false,
       &RunAsVoidTrace},
      {"__llvm_orc_bootstrap_run_as_int_function_wrapper", run_as_int_wrapper, false,
       &RunAsIntTrace},
      {"__llvm_orc_bootstrap_mem_write_uint8s_wrapper", mem_write_uint8s_wrapper, true,
       &mem_write_uint8s_trace},
      {"__llvm_orc_bootstrap_mem_write_uint16s_wrapper", mem_write_uint16s_wrapper, true,
       &mem_write_uint16s_trace},
      {"__llvm_orc_bootstrap_mem_write_uint32s_wrapper", mem_write_uint32s_wrapper, true,
       &mem_write_uint32s_trace},
      {"__llvm_orc_bootstrap_mem_write_uint64s_wrapper", mem_write_uint64s_wrapper, true,
       &mem_write_uint64s_trace},
      {"__llvm_orc_bootstrap_mem_write_buffers_wrapper", mem_write_buffers_wrapper, true,
       &mem_write_buffers_trace},
  };
  const struct {
    const char *Name;
    orc_rt_ExecutorAddr Addr;
  } Symbols[] = {
      {"llvm_orc_registerEHFrameSectionWrapper",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerEHFrameSectionWrapper)},
      {"llvm_orc_deregisterEHFrameSectionWrapper",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_deregisterEHFrameSectionWrapper)},
      {"__llvm_orc_SimpleRemoteEPC_dispatch_ctx", orc_rt_ExecutorAddr_fromPtr(S)},
      {"__llvm_orc_SimpleRemoteEPC_dispatch_fn",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)orc_rt_Bootstrap_jitDispatch)},
  };
  orc_rt_ErrorRef Err =
      orcrt_glue_add_wrappers(S, ORCRT_WIRE_ALL, Wrappers, ORCRT_ARRAY_SIZE(Wrappers));
  /* The EH-frame entry points (Symbols[0..1]) go by other names in 14-16 and 22. */
  for (size_t I = 0; !Err && I < ORCRT_ARRAY_SIZE(Symbols); I++)
    Err = orcrt_session_add_symbol_for(S, I < 2 ? ORCRT_WIRE_LLVM19 : ORCRT_WIRE_ALL,
                                       Symbols[I].Name, Symbols[I].Addr);
  /* The entry points controllers call by address (Symbols[0..1], and GDB's), for the trace. */
  for (size_t I = 0; !Err && I < 2; I++)
    Err = orcrt_session_describe_function(S, Symbols[I].Name, Symbols[I].Addr, &RangeTrace);
  if (!Err)
    Err = orcrt_session_describe_function(
        S, "llvm_orc_registerJITLoaderGDBWrapper",
        orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerJITLoaderGDBWrapper),
        &RangeTrace);
  return Err;
}

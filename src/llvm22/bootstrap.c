/*
 * llvm22/bootstrap.c - what LLVM 22's bootstrap adds: the memory reads,
 * write_pointers, and the EH-frame and GDB entry points under the names of
 * 22's allocation actions
 *
 * LLVM's executor reads by dereferencing whatever address it is sent; here
 * every read is checked against readable memory first and copied by the
 * kernel (bootstrap.c), and one that fails is answered with an out-of-band
 * error, since the result types have no error of their own.
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/bootstrap.h>
#include <orcrt/sps.h>

#include "bootstrap-internal.h"
#include "llvm19/llvm19.h"
#include "llvm22/llvm22.h"
#include "wire.h"
#include "wrapper-glue.h"

/* The longest string mem_read_strings reads. */
enum { MEM_READ_STRING_MAX = 1 << 20 };

enum read_kind { READ_UINT, READ_BUFFERS, READ_STRINGS };

/* An out-of-band answer carrying Err's message. Consumes Err. */
static orc_rt_WrapperFunctionBuffer read_failed(orc_rt_ErrorRef Err) {
  orc_rt_WrapperFunctionBuffer B =
      orc_rt_WrapperFunctionBuffer_fromOutOfBandError(orc_rt_Error_getMessage(Err));
  orc_rt_Error_consume(Err);
  return B;
}

/*
 * Sequence<ExecutorAddr> -> Sequence<uintN> (Width N/8 bytes, little-endian
 * as the host stores them), Sequence<ExecutorAddrRange> ->
 * Sequence<Sequence<uint8>>, or Sequence<ExecutorAddr> -> Sequence<String>.
 * Results in request order; the first unreadable address fails the call.
 */
static orc_rt_WrapperFunctionBuffer mem_read(orc_rt_SPSReader *R, enum read_kind Kind,
                                             unsigned Width) {
  uint64_t N = 0;
  orc_rt_SPSReader_seqCount(R, Kind == READ_BUFFERS ? 16 : 8, &N);
  if (!orc_rt_SPSReader_ok(R))
    return orcrt_glue_bad_args();
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, N);
  orc_rt_ErrorRef Err = NULL;
  for (uint64_t I = 0; !Err && I < N; I++) {
    orc_rt_ExecutorAddrRange Range = {0, 0};
    if (Kind == READ_BUFFERS)
      orc_rt_SPSReader_addrRange(R, &Range);
    else
      orc_rt_SPSReader_addr(R, &Range.Start);
    if (!orc_rt_SPSReader_ok(R)) {
      orc_rt_SPSWriter_dispose(&W);
      return orcrt_glue_bad_args();
    }
    if (Kind == READ_UINT) {
      uint64_t V = 0;
      if (!(Err = orcrt_bootstrap_read(Range.Start, Width, &V)))
        orc_rt_SPSWriter_raw(&W, &V, Width); /* x86-64: the low bytes first */
    } else if (Kind == READ_BUFFERS) {
      if (Range.End < Range.Start) {
        Err = orc_rt_Error_create("Cannot read 0x%" PRIx64 " -- 0x%" PRIx64
                                  ": the range ends before it starts",
                                  Range.Start, Range.End);
        break;
      }
      /* Checked first: no buffer of a size the call names before the memory is known. */
      uint64_t Size = Range.End - Range.Start;
      char *Buf = NULL;
      if (!(Err = orcrt_bootstrap_readable(Range.Start, Size)) && Size && !(Buf = malloc(Size)))
        Err = orc_rt_Error_create("Cannot read %" PRIu64 " bytes: out of memory", Size);
      if (!Err && !(Err = orcrt_bootstrap_read(Range.Start, Size, Buf)))
        orc_rt_SPSWriter_bytes(&W, Buf, (size_t)Size);
      free(Buf);
    } else {
      char *Str = NULL;
      size_t Len = 0;
      if (!(Err = orcrt_bootstrap_read_string(Range.Start, MEM_READ_STRING_MAX, &Str, &Len)))
        orc_rt_SPSWriter_bytes(&W, Str, Len);
      free(Str);
    }
  }
  if (Err) {
    orc_rt_SPSWriter_dispose(&W);
    return read_failed(Err);
  }
  return orc_rt_SPSWriter_finish(&W);
}

#define MEM_READ(Name, Kind, Width)                                                                \
  static orc_rt_WrapperFunctionBuffer Name##_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {      \
    (void)S;                                                                                       \
    return mem_read(R, Kind, Width);                                                               \
  }                                                                                                \
  ORCRT_GLUE_WRAPPER(Name##_wrapper, Name##_body)

MEM_READ(mem_read_uint8s, READ_UINT, 1)
MEM_READ(mem_read_uint16s, READ_UINT, 2)
MEM_READ(mem_read_uint32s, READ_UINT, 4)
MEM_READ(mem_read_uint64s, READ_UINT, 8)
MEM_READ(mem_read_pointers, READ_UINT, 8)
MEM_READ(mem_read_buffers, READ_BUFFERS, 0)
MEM_READ(mem_read_strings, READ_STRINGS, 0)

/* Sequence<(ExecutorAddr, ExecutorAddr)> -> SPSEmpty: 8-byte writes. */
static orc_rt_WrapperFunctionBuffer mem_write_pointers_body(orc_rt_SessionRef S,
                                                            orc_rt_SPSReader *R) {
  return orcrt_llvm19_mem_write(S, R, 8);
}

ORCRT_GLUE_WRAPPER(mem_write_pointers_wrapper, mem_write_pointers_body)

/* ---- the trace ------------------------------------------------------------------- */

/* "3 addresses" or "2 ranges" */
static void read_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                      struct orcrt_trace_text *T) {
  (void)S;
  orc_rt_SPSReader R;
  uint64_t N = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  if (orc_rt_SPSReader_seqCount(&R, 8, &N))
    orcrt_trace_printf(T, "%" PRIu64 " address%s", N, N == 1 ? "" : "es");
  else
    orcrt_trace_printf(T, "undecodable");
}

/* The size of what was read. */
static bool read_result(orc_rt_SessionRef S, const char *Data, size_t Size,
                        struct orcrt_trace_text *T) {
  (void)S;
  (void)Data;
  orcrt_trace_size(T, Size);
  return false;
}

static void write_pointers_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                                struct orcrt_trace_text *T) {
  (void)S;
  orcrt_llvm19_mem_write_args(Data, Size, T, 8);
}

#define READ_TRACE(Name, Label)                                                                    \
  static const struct orcrt_wrapper_trace Name##_trace = {Label, read_args, read_result};

READ_TRACE(mem_read_uint8s, "read_uint8s")
READ_TRACE(mem_read_uint16s, "read_uint16s")
READ_TRACE(mem_read_uint32s, "read_uint32s")
READ_TRACE(mem_read_uint64s, "read_uint64s")
READ_TRACE(mem_read_pointers, "read_pointers")
READ_TRACE(mem_read_buffers, "read_buffers")
READ_TRACE(mem_read_strings, "read_strings")

static const struct orcrt_wrapper_trace WritePointersTrace = {"write_pointers", write_pointers_args,
                                                              orcrt_glue_trace_empty};

orc_rt_ErrorRef orcrt_llvm22_add_bootstrap(orc_rt_SessionRef S) {
  /* All short: they copy bytes and run no code. */
  static const struct orcrt_glue_wrapper Wrappers[] = {
#define W(Name) {"__llvm_orc_bootstrap_" #Name "_wrapper", Name##_wrapper, true, &Name##_trace}
      W(mem_read_uint8s),
      W(mem_read_uint16s),
      W(mem_read_uint32s),
      W(mem_read_uint64s),
      W(mem_read_pointers),
      W(mem_read_buffers),
      W(mem_read_strings),
#undef W
      {"__llvm_orc_bootstrap_mem_write_pointers_wrapper", mem_write_pointers_wrapper, true,
       &WritePointersTrace},
  };
  /* 19's entry points, with the same arguments and results, under 22's action names. */
  const struct {
    const char *Name;
    orc_rt_ExecutorAddr Addr;
  } Actions[] = {
      {"llvm_orc_registerEHFrameAllocAction",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerEHFrameSectionWrapper)},
      {"llvm_orc_deregisterEHFrameAllocAction",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_deregisterEHFrameSectionWrapper)},
      {"llvm_orc_registerJITLoaderGDBAllocAction",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerJITLoaderGDBWrapper)},
  };
  orc_rt_ErrorRef Err =
      orcrt_glue_add_wrappers(S, ORCRT_WIRE_LLVM22, Wrappers, ORCRT_ARRAY_SIZE(Wrappers));
  for (size_t I = 0; !Err && I < ORCRT_ARRAY_SIZE(Actions); I++)
    Err = orcrt_session_add_symbol_for(S, ORCRT_WIRE_LLVM22, Actions[I].Name, Actions[I].Addr);
  return Err;
}

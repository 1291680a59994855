/*
 * llvm19/perf.c - LLVM's perf entry points (PerfSupportPlugin's
 * JITLoaderPerf) over the jitdump writer (perf-jitdump.c)
 *
 * The controller finds the three by a lookup in the process handle (they
 * are among the dylib Service's own symbols, llvm19/dylib.c), calls Start
 * once, and sends each linked graph's records as a finalize allocation
 * action calling Impl with an SPS PerfJITRecordBatch. All three have LLVM's
 * synchronous ABI and no Session: the dump is the process's.
 *
 * Locks: none of its own.
 */
#include "orcrt-internal.h"

#include <stdlib.h>

#include <orcrt/bootstrap.h>
#include <orcrt/sps.h>

#include "perf-jitdump-internal.h"
#include "wrapper-glue.h"

/*
 * The least wire sizes: a code load (the (Id, TotalSize) prefix, Pid, Tid,
 * four u64s, a name's length), a debug record (prefix, CodeAddr, a count)
 * and one of its lines (Addr, Lineno, Discrim, a name's length).
 */
enum { CODE_LOAD_MIN = 56, DEBUG_INFO_MIN = 24, LINE_MIN = 24, PREFIX_SIZE = 8 };

/* (u32 Id, u32 TotalSize, u32 Pid, u32 Tid, u64 Vma, CodeAddr, CodeSize, CodeIndex, String Name) */
static void read_load(orc_rt_SPSReader *R, void *Elem) {
  struct orcrt_perf_code_load *L = Elem;
  /* The pid and tid are the executor's to fill in, the ids and sizes its to compute. */
  orc_rt_SPSReader_skip(R, PREFIX_SIZE + 8);
  orc_rt_SPSReader_addr(R, &L->Vma);
  orc_rt_SPSReader_addr(R, &L->CodeAddr);
  orc_rt_SPSReader_u64(R, &L->CodeSize);
  orc_rt_SPSReader_u64(R, &L->CodeIndex);
  orc_rt_SPSReader_bytes(R, &L->Name, &L->NameSize);
}

/* (u64 Addr, u32 Lineno, u32 Discrim, String Name) */
static void read_line(orc_rt_SPSReader *R, void *Elem) {
  struct orcrt_perf_line *L = Elem;
  orc_rt_SPSReader_addr(R, &L->Addr);
  orc_rt_SPSReader_u32(R, &L->Line);
  orc_rt_SPSReader_u32(R, &L->Discrim);
  orc_rt_SPSReader_bytes(R, &L->File, &L->FileSize);
}

static void free_batch(struct orcrt_perf_batch *B) {
  for (size_t I = 0; B->Debug && I < B->NumDebug; I++)
    free(B->Debug[I].Lines);
  free(B->Debug);
  free(B->Loads);
}

/* Sequence<(u32 Id, u32 TotalSize, u64 CodeAddr, Sequence<line>)> into B. */
static bool read_debug_infos(orc_rt_SPSReader *R, struct orcrt_perf_batch *B) {
  uint64_t N = 0;
  if (!orc_rt_SPSReader_seqCount(R, DEBUG_INFO_MIN, &N))
    return false;
  if (N == 0)
    return true;
  if (!(B->Debug = calloc((size_t)N, sizeof(*B->Debug))))
    return false;
  B->NumDebug = (size_t)N;
  for (size_t I = 0; I < B->NumDebug; I++) {
    struct orcrt_perf_debug_info *D = &B->Debug[I];
    void *Lines = NULL;
    orc_rt_SPSReader_skip(R, PREFIX_SIZE);
    orc_rt_SPSReader_addr(R, &D->CodeAddr);
    bool Ok = orcrt_glue_read_seq(R, LINE_MIN, sizeof(*D->Lines), read_line, &Lines, &D->NumLines);
    D->Lines = Lines;
    if (!Ok)
      return false;
  }
  return true;
}

/*
 * (u32 Id, u32 TotalSize, u64 UnwindDataSize, EHFrameHdrSize, MappedSize,
 * EHFrameHdrAddr, String EHFrameHdr, u64 EHFrameAddr). A TotalSize of 0
 * means the graph has none, and then the rest is whatever was on the
 * controller's stack: read, never trusted.
 */
static void read_unwinding(orc_rt_SPSReader *R, struct orcrt_perf_batch *B) {
  struct orcrt_perf_unwinding *U = &B->Unwinding;
  uint32_t Id = 0, TotalSize = 0;
  orc_rt_SPSReader_u32(R, &Id);
  orc_rt_SPSReader_u32(R, &TotalSize);
  orc_rt_SPSReader_u64(R, &U->UnwindDataSize);
  orc_rt_SPSReader_u64(R, &U->HdrSize);
  orc_rt_SPSReader_u64(R, &U->MappedSize);
  orc_rt_SPSReader_addr(R, &U->HdrAddr);
  orc_rt_SPSReader_bytes(R, &U->Hdr, &U->InlineHdrSize);
  orc_rt_SPSReader_addr(R, &U->EHFrameAddr);
  B->HasUnwinding = TotalSize != 0;
}

/* SPSPerfJITRecordBatch: (Sequence<CodeLoad>, Sequence<DebugInfo>, Unwinding) -> SPSError */
ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer llvm_orc_registerJITLoaderPerfImpl(const char *ArgData,
                                                                              size_t ArgSize) {
  orc_rt_SPSReader R;
  struct orcrt_perf_batch B = {0};
  void *Loads = NULL;
  orc_rt_SPSReader_init(&R, ArgData, ArgSize);
  bool Ok =
      orcrt_glue_read_seq(&R, CODE_LOAD_MIN, sizeof(*B.Loads), read_load, &Loads, &B.NumLoads);
  B.Loads = Loads;
  if (Ok)
    Ok = read_debug_infos(&R, &B);
  if (Ok)
    read_unwinding(&R, &B);
  orc_rt_WrapperFunctionBuffer Result;
  if (!Ok || !orc_rt_SPSReader_ok(&R) || orc_rt_SPSReader_remaining(&R) != 0)
    Result = orcrt_glue_bad_args();
  else
    Result = orcrt_glue_error(orcrt_perf_write_batch(&B));
  free_batch(&B);
  return Result;
}

/* () -> SPSError, for Start and End. */
static orc_rt_WrapperFunctionBuffer no_args_call(size_t ArgSize, orc_rt_ErrorRef (*Op)(void)) {
  return ArgSize ? orcrt_glue_bad_args() : orcrt_glue_error(Op());
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer llvm_orc_registerJITLoaderPerfStart(const char *ArgData,
                                                                               size_t ArgSize) {
  (void)ArgData;
  return no_args_call(ArgSize, orcrt_perf_start);
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer llvm_orc_registerJITLoaderPerfEnd(const char *ArgData,
                                                                             size_t ArgSize) {
  (void)ArgData;
  return no_args_call(ArgSize, orcrt_perf_end);
}

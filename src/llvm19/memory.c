/*
 * llvm19/memory.c - LLVM 19's SimpleExecutorMemoryManager wrappers over
 * the memory Service (memory.c)
 *
 * The wrappers are short (orcrt_session_mark_short()): they may run on the
 * transport's I/O thread. Finalize and deallocate calls whose allocation
 * actions would run code (which may block, or call the controller) are
 * handed to the Session's dispatcher as ordinary Tasks instead.
 *
 * Locks: none of its own.
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <stdlib.h>

#include <orcrt/memory.h>
#include <orcrt/sps.h>

#include "alloc-actions.h"
#include "llvm19/llvm19.h"
#include "memory-internal.h"
#include "wire.h"
#include "wrapper-glue.h"

/* The memory Service Instance names, or NULL and *Err. */
static orc_rt_MemoryServiceRef instance(orc_rt_SessionRef S, orc_rt_ExecutorAddr Instance,
                                        orc_rt_ErrorRef *Err) {
  orc_rt_MemoryServiceRef M = orcrt_glue_instance(S, &orcrt_memory_service_ops, Instance);
  *Err = M ? NULL : orc_rt_Error_create("Unknown memory manager instance 0x%" PRIx64, Instance);
  return M;
}

/* (ExecutorAddr Instance, uint64 Size) -> Expected<ExecutorAddr> */
static orc_rt_WrapperFunctionBuffer reserve_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  orc_rt_ExecutorAddr Instance = 0, Base = 0;
  uint64_t Size = 0;
  orc_rt_ErrorRef Err;
  orc_rt_SPSReader_addr(R, &Instance);
  orc_rt_SPSReader_u64(R, &Size);
  if (!orc_rt_SPSReader_ok(R))
    return orcrt_glue_bad_args();
  orc_rt_MemoryServiceRef M = instance(S, Instance, &Err);
  if (M)
    Err = orc_rt_MemoryService_reserve(M, Size, &Base);
  return orcrt_glue_expected_addr(Err, Base);
}

/* A Segment: (uint8 Prot, ExecutorAddr Addr, uint64 Size, Sequence<char> Content). */
static void read_segment(orc_rt_SPSReader *R, void *Elem) {
  orc_rt_MemorySegment *G = Elem;
  orc_rt_SPSReader_u8(R, &G->Prot);
  orc_rt_SPSReader_addr(R, &G->Addr);
  orc_rt_SPSReader_u64(R, &G->Size);
  orc_rt_SPSReader_bytes(R, &G->Content, &G->ContentSize);
}

/*
 * A segment as a request stream re-encodes it (llvm19/request-stream.c):
 * (uint8 Prot, ExecutorAddr Addr, uint64 Size, uint8 Placed, then uint64
 * ContentSize if Placed, else Sequence<char> Content).
 */
static void read_placed_segment(orc_rt_SPSReader *R, void *Elem) {
  orc_rt_MemorySegment *G = Elem;
  uint8_t Placed = 0;
  uint64_t ContentSize = 0;
  orc_rt_SPSReader_u8(R, &G->Prot);
  orc_rt_SPSReader_addr(R, &G->Addr);
  orc_rt_SPSReader_u64(R, &G->Size);
  orc_rt_SPSReader_u8(R, &Placed);
  if (!Placed) {
    orc_rt_SPSReader_bytes(R, &G->Content, &G->ContentSize);
  } else if (orc_rt_SPSReader_u64(R, &ContentSize)) {
    G->Content = NULL; /* in place already */
    G->ContentSize = (size_t)ContentSize;
  }
}

/*
 * Decode a FinalizeRequest (Placed: as a request stream re-encodes it);
 * arrays point into R's span and go to the caller.
 */
static bool read_finalize_request(orc_rt_SPSReader *R, bool Placed,
                                  orc_rt_MemoryFinalizeRequest *Req, orc_rt_MemorySegment **Segs,
                                  orc_rt_MemoryActionPair **Acts) {
  void *P;
  *Acts = NULL;
  /* A segment takes at least 25 bytes, 26 re-encoded. */
  bool Ok = orcrt_glue_read_seq(R, Placed ? 26 : 25, sizeof(**Segs),
                                Placed ? read_placed_segment : read_segment, &P, &Req->NumSegments);
  Req->Segments = *Segs = P;
  Ok = Ok && orcrt_actions_read_pairs(R, Acts, &Req->NumActions);
  Req->Actions = *Acts;
  return Ok;
}

orc_rt_WrapperFunctionBuffer orcrt_llvm19_memory_request(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                                         bool Placed, orcrt_llvm19_request_op Op,
                                                         bool *HasActions) {
  orc_rt_ExecutorAddr Instance = 0;
  orc_rt_MemoryFinalizeRequest Req = {0};
  orc_rt_MemorySegment *Segs = NULL;
  orc_rt_MemoryActionPair *Acts = NULL;
  orc_rt_WrapperFunctionBuffer Result;

  *HasActions = false;
  orc_rt_WrapperFunctionBuffer_init(&Result);
  orc_rt_SPSReader_addr(R, &Instance);
  if (!orc_rt_SPSReader_ok(R) || !read_finalize_request(R, Placed, &Req, &Segs, &Acts)) {
    Result = orcrt_glue_bad_args();
  } else {
    *HasActions = Req.NumActions > 0;
    if (Op) {
      orc_rt_ErrorRef Err;
      orc_rt_MemoryServiceRef M = instance(S, Instance, &Err);
      Result = Op(M, Err, &Req);
    }
  }
  free(Segs);
  free(Acts);
  return Result;
}

static bool request_runs_code(orc_rt_SessionRef S, orc_rt_SPSReader *R, bool Placed) {
  bool HasActions;
  orc_rt_WrapperFunctionBuffer Empty = orcrt_llvm19_memory_request(S, R, Placed, NULL, &HasActions);
  orc_rt_WrapperFunctionBuffer_dispose(&Empty);
  return HasActions;
}

bool orcrt_llvm19_request_runs_code(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  return request_runs_code(S, R, false);
}

bool orcrt_llvm19_placed_request_runs_code(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  return request_runs_code(S, R, true);
}

static orc_rt_WrapperFunctionBuffer finalize_op(orc_rt_MemoryServiceRef M, orc_rt_ErrorRef Err,
                                                const orc_rt_MemoryFinalizeRequest *Req) {
  return orcrt_glue_error(M ? orc_rt_MemoryService_finalize(M, Req) : Err);
}

/* (ExecutorAddr Instance, FinalizeRequest) -> SPSError */
ORCRT_LLVM19_REQUEST_WRAPPERS(finalize, finalize_op)

/* Decode (ExecutorAddr Instance, Sequence<ExecutorAddr> Bases); false if that fails. */
static bool read_bases(orc_rt_SPSReader *R, orc_rt_ExecutorAddr *Instance,
                       orc_rt_ExecutorAddr **Bases, size_t *N) {
  orc_rt_SPSReader_addr(R, Instance);
  return orc_rt_SPSReader_ok(R) && orcrt_glue_read_addrs(R, Bases, N);
}

/* (ExecutorAddr Instance, Sequence<ExecutorAddr> Bases) -> SPSError */
static orc_rt_WrapperFunctionBuffer deallocate_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  orc_rt_ExecutorAddr Instance = 0, *Bases = NULL;
  size_t N = 0;
  orc_rt_WrapperFunctionBuffer Result;
  if (!read_bases(R, &Instance, &Bases, &N)) {
    Result = orcrt_glue_bad_args();
  } else {
    orc_rt_ErrorRef Err;
    orc_rt_MemoryServiceRef M = instance(S, Instance, &Err);
    Result = orcrt_glue_error(M ? orcrt_memory_deallocate_all(M, Bases, N) : Err);
  }
  free(Bases);
  return Result;
}

static bool deallocate_runs_code(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  orc_rt_ExecutorAddr Instance = 0, *Bases = NULL;
  size_t N = 0;
  bool Runs = false;
  if (read_bases(R, &Instance, &Bases, &N)) {
    orc_rt_MemoryServiceRef M = orcrt_glue_instance(S, &orcrt_memory_service_ops, Instance);
    Runs = M && orcrt_memory_any_dealloc_actions(M, Bases, N);
  }
  free(Bases);
  return Runs;
}

void orcrt_llvm19_deallocate(orc_rt_SessionRef S, uint64_t CallId,
                             orc_rt_WrapperFunctionReturn Return,
                             orc_rt_WrapperFunctionBuffer Args) {
  orcrt_glue_run_or_defer(S, CallId, Return, Args, deallocate_runs_code, deallocate_body);
}

static void deallocate_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                               orc_rt_WrapperFunctionReturn Return,
                               orc_rt_WrapperFunctionBuffer Args) {
  orcrt_llvm19_deallocate(S, CallId, Return, Args);
}

ORCRT_GLUE_WRAPPER(reserve_wrapper, reserve_body)

/* ---- the trace ------------------------------------------------------------------- */

/* "3 segments 12 KiB at 0x7f..., 2 actions", then ", 8 KiB placed on arrival" if so */
static void request_args(const char *Data, size_t Size, bool Placed, struct orcrt_trace_text *T) {
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddr Instance = 0;
  orc_rt_MemoryFinalizeRequest Req = {0};
  orc_rt_MemorySegment *Segs = NULL;
  orc_rt_MemoryActionPair *Acts = NULL;
  orc_rt_SPSReader_init(&R, Data, Size);
  bool Ok =
      orc_rt_SPSReader_addr(&R, &Instance) && read_finalize_request(&R, Placed, &Req, &Segs, &Acts);
  ORCRT_GLUE_TRACE_REQUEST(T, Ok, Req);
  uint64_t InPlace = 0;
  for (size_t I = 0; Ok && Placed && I < Req.NumSegments; I++)
    InPlace += Req.Segments[I].Content ? 0 : Req.Segments[I].ContentSize;
  if (InPlace) {
    orcrt_trace_printf(T, ", ");
    orcrt_trace_size(T, InPlace);
    orcrt_trace_printf(T, " placed on arrival");
  }
  free(Segs);
  free(Acts);
}

void orcrt_llvm19_request_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                               struct orcrt_trace_text *T) {
  (void)S;
  request_args(Data, Size, false, T);
}

void orcrt_llvm19_placed_request_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                                      struct orcrt_trace_text *T) {
  (void)S;
  request_args(Data, Size, true, T);
}

/* "1 allocation 0x7f..." or "3 allocations" */
void orcrt_llvm19_deallocate_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                                  struct orcrt_trace_text *T) {
  (void)S;
  orcrt_glue_trace_addrs_args(Data, Size, "allocation", "allocations", T);
}

static const struct orcrt_wrapper_trace ReserveTrace = {"reserve", orcrt_glue_trace_size_args,
                                                        orcrt_glue_trace_expected_addr};
static const struct orcrt_wrapper_trace FinalizeTrace = {"finalize", orcrt_llvm19_request_args,
                                                         orcrt_glue_trace_error};
static const struct orcrt_wrapper_trace FinalizePlacedTrace = {
    "finalize", orcrt_llvm19_placed_request_args, orcrt_glue_trace_error};
static const struct orcrt_wrapper_trace DeallocateTrace = {
    "deallocate", orcrt_llvm19_deallocate_args, orcrt_glue_trace_error};

orc_rt_ErrorRef orcrt_llvm19_add_memory(orc_rt_SessionRef S, orc_rt_MemoryServiceRef M) {
  /* reserve is every wire's; finalize and deallocate are 14-16's and 19's (22 initializes). */
  static const struct orcrt_glue_wrapper Shared[] = {
      {"__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper", reserve_wrapper, true,
       &ReserveTrace},
  };
  static const struct orcrt_glue_wrapper Wrappers[] = {
      {"__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper", finalize_wrapper, true,
       &FinalizeTrace, finalize_stream},
      {NULL, finalize_placed_wrapper, true, &FinalizePlacedTrace, NULL},
      {"__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper", deallocate_wrapper, true,
       &DeallocateTrace},
  };
  orc_rt_ErrorRef Err =
      orcrt_glue_add_service(S, ORCRT_WIRE_ALL, "__llvm_orc_SimpleExecutorMemoryManager_Instance",
                             M, Shared, ORCRT_ARRAY_SIZE(Shared));
  return Err ? Err
             : orcrt_glue_add_wrappers(S, ORCRT_WIRE_LLVM14 | ORCRT_WIRE_LLVM19, Wrappers,
                                       ORCRT_ARRAY_SIZE(Wrappers));
}

/*
 * llvm19/shared-memory.c - LLVM 19's ExecutorSharedMemoryMapperService
 * wrappers over the shared-memory Service (shared-memory.c)
 *
 * Locks: none of its own.
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <stdlib.h>

#include <orcrt/shared-memory.h>
#include <orcrt/sps.h>

#include "alloc-actions.h"
#include "llvm19/llvm19.h"
#include "shared-memory-internal.h"
#include "wire.h"
#include "wrapper-glue.h"

/* Decode the leading ExecutorAddr Instance and find its Service: NULL and *Err if none. */
static orc_rt_SharedMemoryServiceRef read_instance(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                                   orc_rt_ErrorRef *Err) {
  orc_rt_ExecutorAddr Instance = 0;
  *Err = NULL;
  if (!orc_rt_SPSReader_addr(R, &Instance))
    return NULL;
  orc_rt_SharedMemoryServiceRef M = orcrt_glue_instance(S, &orcrt_shm_service_ops, Instance);
  if (!M)
    *Err = orc_rt_Error_create("Unknown shared memory mapper instance 0x%" PRIx64, Instance);
  return M;
}

/* (ExecutorAddr Instance, uint64 Size) -> Expected<(ExecutorAddr Base, String Name)> */
static orc_rt_WrapperFunctionBuffer reserve_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  orc_rt_ErrorRef Err;
  orc_rt_ExecutorAddr Base = 0;
  uint64_t Size = 0;
  char *Name = NULL;
  orc_rt_SharedMemoryServiceRef M = read_instance(S, R, &Err);
  orc_rt_SPSReader_u64(R, &Size);
  if (!orc_rt_SPSReader_ok(R)) {
    orc_rt_Error_consume(Err);
    return orcrt_glue_bad_args();
  }
  if (M)
    Err = orc_rt_SharedMemoryService_reserve(M, Size, &Base, &Name);
  if (Err)
    return orcrt_glue_expected_addr(Err, 0);
  /* Expected<(ExecutorAddr, String)>: the value's tag, then the tuple. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_expectedValue(&W);
  orc_rt_SPSWriter_addr(&W, Base);
  orc_rt_SPSWriter_string(&W, Name);
  free(Name);
  return orc_rt_SPSWriter_finish(&W);
}

/* A segment: (uint8 Prot, ExecutorAddr Addr, uint64 Size), 17 bytes. */
static void read_segment(orc_rt_SPSReader *R, void *Elem) {
  orc_rt_SharedMemorySegment *G = Elem;
  orc_rt_SPSReader_u8(R, &G->Prot);
  orc_rt_SPSReader_addr(R, &G->Addr);
  orc_rt_SPSReader_u64(R, &G->Size);
}

/*
 * Decode a SharedMemoryFinalizeRequest: (Sequence<segment>,
 * Sequence<(WrapperFunctionCall, WrapperFunctionCall)>). The arrays go to
 * the caller; the actions' bytes point into R's span.
 */
static bool read_request(orc_rt_SPSReader *R, orc_rt_SharedMemoryFinalizeRequest *Req,
                         orc_rt_SharedMemorySegment **Segs, orc_rt_MemoryActionPair **Acts) {
  void *P;
  *Acts = NULL;
  bool Ok = orcrt_glue_read_seq(R, 17, sizeof(**Segs), read_segment, &P, &Req->NumSegments);
  Req->Segments = *Segs = P;
  if (!Ok)
    return false;
  Ok = orcrt_actions_read_pairs(R, Acts, &Req->NumActions);
  Req->Actions = *Acts;
  return Ok;
}

/* (ExecutorAddr Instance, ExecutorAddr Reservation, SharedMemoryFinalizeRequest)
   -> Expected<ExecutorAddr> */
static orc_rt_WrapperFunctionBuffer initialize_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  orc_rt_ErrorRef Err;
  orc_rt_ExecutorAddr Reservation = 0, Alloc = 0;
  orc_rt_SharedMemoryFinalizeRequest Req = {0};
  orc_rt_SharedMemorySegment *Segs = NULL;
  orc_rt_MemoryActionPair *Acts = NULL;
  orc_rt_WrapperFunctionBuffer Result;
  orc_rt_SharedMemoryServiceRef M = read_instance(S, R, &Err);
  orc_rt_SPSReader_addr(R, &Reservation);
  if (!orc_rt_SPSReader_ok(R) || !read_request(R, &Req, &Segs, &Acts)) {
    orc_rt_Error_consume(Err);
    Result = orcrt_glue_bad_args();
  } else {
    if (M)
      Err = orc_rt_SharedMemoryService_initialize(M, Reservation, &Req, &Alloc);
    Result = orcrt_glue_expected_addr(Err, Alloc);
  }
  free(Segs);
  free(Acts);
  return Result;
}

/*
 * (ExecutorAddr Instance, Sequence<ExecutorAddr>) -> SPSError, applying Op
 * to each address, the last first (as LLVM deinitializes); errors joined.
 */
static orc_rt_WrapperFunctionBuffer addresses(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                              orc_rt_ErrorRef (*Op)(orc_rt_SharedMemoryServiceRef,
                                                                    orc_rt_ExecutorAddr)) {
  orc_rt_ErrorRef Err;
  orc_rt_ExecutorAddr *Addrs = NULL;
  size_t N = 0;
  orc_rt_WrapperFunctionBuffer Result;
  orc_rt_SharedMemoryServiceRef M = read_instance(S, R, &Err);
  if (!orc_rt_SPSReader_ok(R) || !orcrt_glue_read_addrs(R, &Addrs, &N)) {
    orc_rt_Error_consume(Err);
    Result = orcrt_glue_bad_args();
  } else {
    for (size_t I = N; M && I-- > 0;)
      Err = orc_rt_Error_join(Err, Op(M, Addrs[I]));
    Result = orcrt_glue_error(Err);
  }
  free(Addrs);
  return Result;
}

static orc_rt_WrapperFunctionBuffer deinitialize_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  return addresses(S, R, orc_rt_SharedMemoryService_deinitialize);
}

static orc_rt_WrapperFunctionBuffer release_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  return addresses(S, R, orc_rt_SharedMemoryService_release);
}

ORCRT_GLUE_WRAPPER(reserve_wrapper, reserve_body)
ORCRT_GLUE_WRAPPER(initialize_wrapper, initialize_body)

/* ---- the trace ------------------------------------------------------------------- */

/* "0x7f... /orcrt-jit-..." */
static bool reserve_result(orc_rt_SessionRef S, const char *Data, size_t Size,
                           struct orcrt_trace_text *T) {
  (void)S;
  orc_rt_SPSReader R;
  bool Ok;
  orc_rt_ExecutorAddr Base = 0;
  const char *Name = NULL;
  size_t NameSize = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  if (orcrt_glue_trace_expected_failed(&R, T, &Ok))
    return true;
  if (Ok && orc_rt_SPSReader_addr(&R, &Base) && orc_rt_SPSReader_bytes(&R, &Name, &NameSize)) {
    orcrt_trace_printf(T, "0x%" PRIx64 " ", Base);
    orcrt_trace_name(T, Name, NameSize);
  } else if (Ok) {
    orcrt_trace_printf(T, "undecodable");
  }
  return false;
}

/* "2 segments 8 KiB at 0x7f..., 1 action" */
static void initialize_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                            struct orcrt_trace_text *T) {
  (void)S;
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddr Instance = 0, Reservation = 0;
  orc_rt_SharedMemoryFinalizeRequest Req = {0};
  orc_rt_SharedMemorySegment *Segs = NULL;
  orc_rt_MemoryActionPair *Acts = NULL;
  orc_rt_SPSReader_init(&R, Data, Size);
  bool Ok = orc_rt_SPSReader_addr(&R, &Instance) && orc_rt_SPSReader_addr(&R, &Reservation) &&
            read_request(&R, &Req, &Segs, &Acts);
  ORCRT_GLUE_TRACE_REQUEST(T, Ok, Req);
  free(Segs);
  free(Acts);
}

/* "1 address 0x7f..." or "3 addresses" */
static void addresses_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                           struct orcrt_trace_text *T) {
  (void)S;
  orcrt_glue_trace_addrs_args(Data, Size, "address", "addresses", T);
}

static const struct orcrt_wrapper_trace ReserveTrace = {"shm reserve", orcrt_glue_trace_size_args,
                                                        reserve_result};
static const struct orcrt_wrapper_trace InitializeTrace = {"shm initialize", initialize_args,
                                                           orcrt_glue_trace_expected_addr};
static const struct orcrt_wrapper_trace DeinitializeTrace = {"shm deinitialize", addresses_args,
                                                             orcrt_glue_trace_error};
static const struct orcrt_wrapper_trace ReleaseTrace = {"shm release", addresses_args,
                                                        orcrt_glue_trace_error};
ORCRT_GLUE_WRAPPER(deinitialize_wrapper, deinitialize_body)
ORCRT_GLUE_WRAPPER(release_wrapper, release_body)

orc_rt_ErrorRef orcrt_llvm19_add_shared_memory(orc_rt_SessionRef S,
                                               orc_rt_SharedMemoryServiceRef M) {
  /* Not short: initialize and deinitialize run allocation actions. */
  static const struct orcrt_glue_wrapper Wrappers[] = {
      {"__llvm_orc_ExecutorSharedMemoryMapperService_Reserve", reserve_wrapper, false,
       &ReserveTrace},
      {"__llvm_orc_ExecutorSharedMemoryMapperService_Initialize", initialize_wrapper, false,
       &InitializeTrace},
      {"__llvm_orc_ExecutorSharedMemoryMapperService_Deinitialize", deinitialize_wrapper, false,
       &DeinitializeTrace},
      {"__llvm_orc_ExecutorSharedMemoryMapperService_Release", release_wrapper, false,
       &ReleaseTrace},
  };
  /* The same five names and signatures in LLVM 16, 19 and 22. */
  return orcrt_glue_add_service(S, ORCRT_WIRE_ALL,
                                "__llvm_orc_ExecutorSharedMemoryMapperService_Instance", M,
                                Wrappers, ORCRT_ARRAY_SIZE(Wrappers));
}

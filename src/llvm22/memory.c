/*
 * llvm22/memory.c - LLVM 22's SimpleExecutorMemoryManager over the memory
 * Service: initialize, deinitialize and release (reserve and the Instance
 * are every wire's, llvm19/memory.c)
 *
 * initialize takes 19's FinalizeRequest and answers with the key of the
 * region it made; release takes reservation bases, exactly as 19's
 * deallocate does (one region per reservation there).
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <stdlib.h>

#include <orcrt/memory.h>
#include <orcrt/sps.h>

#include "llvm19/llvm19.h"
#include "llvm22/llvm22.h"
#include "memory-internal.h"
#include "wire.h"
#include "wrapper-glue.h"

static orc_rt_WrapperFunctionBuffer initialize_op(orc_rt_MemoryServiceRef M, orc_rt_ErrorRef Err,
                                                  const orc_rt_MemoryFinalizeRequest *Req) {
  orc_rt_ExecutorAddr Key = 0;
  if (M)
    Err = orc_rt_MemoryService_initialize(M, Req, &Key);
  return orcrt_glue_expected_addr(Err, Key);
}

/* (ExecutorAddr Instance, FinalizeRequest) -> Expected<ExecutorAddr Key> */
ORCRT_LLVM19_REQUEST_WRAPPERS(initialize, initialize_op)

/* (ExecutorAddr Instance, Sequence<ExecutorAddr> Keys) -> SPSError; the keys last first. */
static orc_rt_WrapperFunctionBuffer deinitialize_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  orc_rt_ExecutorAddr Instance = 0, *Keys = NULL;
  size_t N = 0;
  orc_rt_SPSReader_addr(R, &Instance);
  if (!orc_rt_SPSReader_ok(R) || !orcrt_glue_read_addrs(R, &Keys, &N))
    return orcrt_glue_bad_args();
  orc_rt_MemoryServiceRef M = orcrt_glue_instance(S, &orcrt_memory_service_ops, Instance);
  orc_rt_ErrorRef Err =
      M ? NULL : orc_rt_Error_create("Unknown memory manager instance 0x%" PRIx64, Instance);
  while (M && N > 0)
    Err = orc_rt_Error_join(Err, orc_rt_MemoryService_deinitialize(M, Keys[--N]));
  free(Keys);
  return orcrt_glue_error(Err);
}

ORCRT_GLUE_WRAPPER(deinitialize_wrapper, deinitialize_body)

static void release_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                            orc_rt_WrapperFunctionReturn Return,
                            orc_rt_WrapperFunctionBuffer Args) {
  orcrt_llvm19_deallocate(S, CallId, Return, Args);
}

/* "1 region 0x7f..." or "3 regions" */
static void deinitialize_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                              struct orcrt_trace_text *T) {
  (void)S;
  orcrt_glue_trace_addrs_args(Data, Size, "region", "regions", T);
}

static const struct orcrt_wrapper_trace InitializeTrace = {"initialize", orcrt_llvm19_request_args,
                                                           orcrt_glue_trace_expected_addr};
static const struct orcrt_wrapper_trace InitializePlacedTrace = {
    "initialize", orcrt_llvm19_placed_request_args, orcrt_glue_trace_expected_addr};
static const struct orcrt_wrapper_trace DeinitializeTrace = {"deinitialize", deinitialize_args,
                                                             orcrt_glue_trace_error};
static const struct orcrt_wrapper_trace ReleaseTrace = {"release", orcrt_llvm19_deallocate_args,
                                                        orcrt_glue_trace_error};

orc_rt_ErrorRef orcrt_llvm22_add_memory(orc_rt_SessionRef S, orc_rt_MemoryServiceRef M) {
  (void)M; /* named by 19's Instance symbol, which 22 shares */
  /* initialize runs allocation actions only sometimes (deferred then); deinitialize always. */
  static const struct orcrt_glue_wrapper Wrappers[] = {
      {"__llvm_orc_SimpleExecutorMemoryManager_initialize_wrapper", initialize_wrapper, true,
       &InitializeTrace, initialize_stream},
      {NULL, initialize_placed_wrapper, true, &InitializePlacedTrace, NULL},
      {"__llvm_orc_SimpleExecutorMemoryManager_deinitialize_wrapper", deinitialize_wrapper, false,
       &DeinitializeTrace},
      {"__llvm_orc_SimpleExecutorMemoryManager_release_wrapper", release_wrapper, true,
       &ReleaseTrace},
  };
  return orcrt_glue_add_wrappers(S, ORCRT_WIRE_LLVM22, Wrappers, ORCRT_ARRAY_SIZE(Wrappers));
}

/*
 * llvm14/dylib.c - LLVM 14-16's dylib lookup: 19's, with each result entry
 * a bare ExecutorAddr (no symbol flags)
 *
 * Given 19's entries, these controllers would read every address after the
 * first shifted by two bytes, without an error.
 */
#include "orcrt-internal.h"

#include "llvm14/llvm14.h"
#include "llvm19/llvm19.h"
#include "wire.h"
#include "wrapper-glue.h"

/*
 * (ExecutorAddr Instance, ExecutorAddr Handle, Sequence<(String, bool)>)
 *   -> Expected<Sequence<ExecutorAddr>>
 */
static orc_rt_WrapperFunctionBuffer lookup_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  return orcrt_llvm19_lookup(S, R, ORCRT_LLVM19_LOOKUP_ADDR);
}

ORCRT_GLUE_WRAPPER(lookup_wrapper, lookup_body)

static bool lookup_result(orc_rt_SessionRef S, const char *Data, size_t Size,
                          struct orcrt_trace_text *T) {
  (void)S;
  return orcrt_llvm19_lookup_result(Data, Size, ORCRT_LLVM19_LOOKUP_ADDR, T);
}

static const struct orcrt_wrapper_trace LookupTrace = {"lookup", orcrt_llvm19_lookup_args,
                                                       lookup_result};

orc_rt_ErrorRef orcrt_llvm14_add_dylib(orc_rt_SessionRef S, orc_rt_DylibServiceRef D) {
  (void)D; /* the Instance and open are 19's, shown to 14-16 too */
  static const struct orcrt_glue_wrapper Wrappers[] = {
      {"__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper", lookup_wrapper, false, &LookupTrace},
  };
  return orcrt_glue_add_wrappers(S, ORCRT_WIRE_LLVM14, Wrappers, ORCRT_ARRAY_SIZE(Wrappers));
}

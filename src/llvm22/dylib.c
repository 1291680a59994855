/*
 * llvm22/dylib.c - LLVM 22's resolve over the dylib Service: 19's lookup
 * without the Instance argument, each entry an Optional<ExecutorSymbolDef>
 * (open and the Instance are every wire's, llvm19/dylib.c)
 */
#include "orcrt-internal.h"

#include "llvm19/llvm19.h"
#include "llvm22/llvm22.h"
#include "wire.h"
#include "wrapper-glue.h"

/*
 * (ExecutorAddr Handle, Sequence<(String, bool)>)
 *   -> Expected<Sequence<Optional<ExecutorSymbolDef>>>
 */
static orc_rt_WrapperFunctionBuffer resolve_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  return orcrt_llvm19_lookup(S, R, ORCRT_LLVM19_LOOKUP_OPTIONAL_DEF);
}

ORCRT_GLUE_WRAPPER(resolve_wrapper, resolve_body)

static void resolve_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                         struct orcrt_trace_text *T) {
  (void)S;
  orcrt_llvm19_lookup_names(Data, Size, 8, T); /* after the Handle */
}

static bool resolve_result(orc_rt_SessionRef S, const char *Data, size_t Size,
                           struct orcrt_trace_text *T) {
  (void)S;
  return orcrt_llvm19_lookup_result(Data, Size, ORCRT_LLVM19_LOOKUP_OPTIONAL_DEF, T);
}

static const struct orcrt_wrapper_trace ResolveTrace = {"resolve", resolve_args, resolve_result};

orc_rt_ErrorRef orcrt_llvm22_add_dylib(orc_rt_SessionRef S, orc_rt_DylibServiceRef D) {
  (void)D; /* found through S: resolve names no Instance */
  static const struct orcrt_glue_wrapper Wrappers[] = {
      {"__llvm_orc_SimpleExecutorDylibManager_resolve_wrapper", resolve_wrapper, false,
       &ResolveTrace},
  };
  return orcrt_glue_add_wrappers(S, ORCRT_WIRE_LLVM22, Wrappers, ORCRT_ARRAY_SIZE(Wrappers));
}

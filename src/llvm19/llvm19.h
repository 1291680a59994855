/*
 * llvm19/llvm19.h - the wire glue of LLVM 19's controllers over the
 * executor's Services
 *
 * Each Service (src/memory.c, src/shared-memory.c, src/dylib.c,
 * src/bootstrap.c, src/eh-frame.c, src/gdb-jit.c) offers plain C operations
 * and knows no wire. The files of src/llvm19/ turn those operations into the
 * wrapper functions and bootstrap symbols that LLVM 19's
 * SimpleRemoteEPC controllers name, on the helpers of wrapper-glue.h.
 * The public orc_rt_*_add() of each Service (src/protocol.c) creates the
 * Service and then calls its orcrt_llvm19_add_*() below; another protocol
 * version would add a directory like this one and be chosen there.
 *
 * Each function adds the Service's wrapper functions and bootstrap symbols
 * to S (before attach) and returns NULL or the error.
 */
#ifndef ORCRT_LLVM19_H
#define ORCRT_LLVM19_H

#include <orcrt/dylib.h>
#include <orcrt/error.h>
#include <orcrt/memory.h>
#include <orcrt/session.h>
#include <orcrt/shared-memory.h>
#include <orcrt/sps.h>
#include <orcrt/wrapper-function.h>

#include "trace.h"

/* SimpleExecutorMemoryManager: reserve, finalize, deallocate (llvm19/memory.c). */
orc_rt_ErrorRef orcrt_llvm19_add_memory(orc_rt_SessionRef S, orc_rt_MemoryServiceRef M);

/*
 * For LLVM 22's memory manager (src/llvm22/), whose initialize takes 19's
 * FinalizeRequest and whose release is 19's deallocate: Op answers a
 * decoded request for the Service the Instance names (M, or NULL and Err).
 */
typedef orc_rt_WrapperFunctionBuffer (*orcrt_llvm19_request_op)(
    orc_rt_MemoryServiceRef M, orc_rt_ErrorRef Err, const orc_rt_MemoryFinalizeRequest *Req);

/*
 * Decode (ExecutorAddr Instance, FinalizeRequest) from R (Placed: as a
 * request stream re-encodes it, llvm19/request-stream.c) and, if Op is not
 * NULL, answer with Op; *HasActions says whether the request has
 * allocation actions.
 */
orc_rt_WrapperFunctionBuffer orcrt_llvm19_memory_request(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                                         bool Placed, orcrt_llvm19_request_op Op,
                                                         bool *HasActions);

/*
 * Whether the request R holds, as sent or as re-encoded, runs allocation
 * actions (for orcrt_glue_run_or_defer()).
 */
bool orcrt_llvm19_request_runs_code(orc_rt_SessionRef S, orc_rt_SPSReader *R);
bool orcrt_llvm19_placed_request_runs_code(orc_rt_SessionRef S, orc_rt_SPSReader *R);

/*
 * The wrappers of a memory request, (ExecutorAddr Instance, FinalizeRequest),
 * that Op answers: Name_wrapper for the request as sent, its twin
 * Name_placed_wrapper for the request as a stream re-encodes it, and
 * Name_stream, the stream that finishes into the twin (arg-stream.h). Both
 * run Op on the calling thread unless the request has allocation actions.
 */
#define ORCRT_LLVM19_REQUEST_WRAPPERS(Name, Op)                                                    \
  static orc_rt_WrapperFunctionBuffer Name##_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {      \
    bool HasActions;                                                                               \
    return orcrt_llvm19_memory_request(S, R, false, Op, &HasActions);                              \
  }                                                                                                \
  static orc_rt_WrapperFunctionBuffer Name##_placed_body(orc_rt_SessionRef S,                      \
                                                         orc_rt_SPSReader *R) {                    \
    bool HasActions;                                                                               \
    return orcrt_llvm19_memory_request(S, R, true, Op, &HasActions);                               \
  }                                                                                                \
  static void Name##_wrapper(orc_rt_SessionRef S, uint64_t CallId,                                 \
                             orc_rt_WrapperFunctionReturn Return,                                  \
                             orc_rt_WrapperFunctionBuffer Args) {                                  \
    orcrt_glue_run_or_defer(S, CallId, Return, Args, orcrt_llvm19_request_runs_code, Name##_body); \
  }                                                                                                \
  static void Name##_placed_wrapper(orc_rt_SessionRef S, uint64_t CallId,                          \
                                    orc_rt_WrapperFunctionReturn Return,                           \
                                    orc_rt_WrapperFunctionBuffer Args) {                           \
    orcrt_glue_run_or_defer(S, CallId, Return, Args, orcrt_llvm19_placed_request_runs_code,        \
                            Name##_placed_body);                                                   \
  }                                                                                                \
  static struct orcrt_arg_stream *Name##_stream(orc_rt_SessionRef S, size_t Size) {                \
    return orcrt_llvm19_request_stream(S, Size, Name##_placed_wrapper);                            \
  }

/*
 * A stream for a finalize or initialize call of Size argument bytes that
 * puts the content in place as it arrives and finishes into PlacedFn, the
 * wrapper's twin that decodes the re-encoded request (arg-stream.h,
 * llvm19/request-stream.c). NULL if memory runs out.
 */
struct orcrt_arg_stream *orcrt_llvm19_request_stream(orc_rt_SessionRef S, size_t Size,
                                                     orc_rt_WrapperFunction PlacedFn);

/* The deallocate wrapper: (ExecutorAddr Instance, Sequence<ExecutorAddr> Bases) -> SPSError. */
void orcrt_llvm19_deallocate(orc_rt_SessionRef S, uint64_t CallId,
                             orc_rt_WrapperFunctionReturn Return,
                             orc_rt_WrapperFunctionBuffer Args);

/* The trace's view of a request's (as sent, re-encoded) and of a deallocate's arguments. */
void orcrt_llvm19_request_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                               struct orcrt_trace_text *T);
void orcrt_llvm19_placed_request_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                                      struct orcrt_trace_text *T);
void orcrt_llvm19_deallocate_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                                  struct orcrt_trace_text *T);

/* ExecutorSharedMemoryMapperService (llvm19/shared-memory.c). */
orc_rt_ErrorRef orcrt_llvm19_add_shared_memory(orc_rt_SessionRef S,
                                               orc_rt_SharedMemoryServiceRef M);

/* SimpleExecutorDylibManager: open, lookup (llvm19/dylib.c). */
orc_rt_ErrorRef orcrt_llvm19_add_dylib(orc_rt_SessionRef S, orc_rt_DylibServiceRef D);

/*
 * The lookup, for the glue of LLVM 14-16 (src/llvm14/) and 22 (src/llvm22/)
 * too, which differ in how a result entry is encoded: LLVM 19's
 * ExecutorSymbolDef (address, flags, target flags), 14-16's bare
 * ExecutorAddr, or 22's Optional<ExecutorSymbolDef> (its resolve, whose
 * arguments also lack the Instance).
 */
enum orcrt_llvm19_lookup_form {
  ORCRT_LLVM19_LOOKUP_SYMBOL_DEF,
  ORCRT_LLVM19_LOOKUP_ADDR,
  ORCRT_LLVM19_LOOKUP_OPTIONAL_DEF,
};

/*
 * The body of a lookup wrapper: ([ExecutorAddr Instance,] ExecutorAddr
 * Handle, Sequence<(String, bool)>) -> Expected<Sequence<entry in Form>>.
 */
orc_rt_WrapperFunctionBuffer orcrt_llvm19_lookup(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                                 enum orcrt_llvm19_lookup_form Form);

/*
 * The trace's view of a lookup: the names it asks for, after Skip bytes of
 * arguments; its arguments; and its result in Form.
 */
void orcrt_llvm19_lookup_names(const char *Data, size_t Size, size_t Skip,
                               struct orcrt_trace_text *T);
void orcrt_llvm19_lookup_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                              struct orcrt_trace_text *T);
bool orcrt_llvm19_lookup_result(const char *Data, size_t Size, enum orcrt_llvm19_lookup_form Form,
                                struct orcrt_trace_text *T);

/*
 * The bootstrap: run-as-main/void/int, the memory writes, JIT dispatch and
 * the EH-frame and GDB registration entry points (llvm19/bootstrap.c).
 */
orc_rt_ErrorRef orcrt_llvm19_add_bootstrap(orc_rt_SessionRef S);

/*
 * The memory writes, for LLVM 22's write_pointers too: Sequence<(ExecutorAddr,
 * uintN)> for Width N/8 bytes, or Sequence<(ExecutorAddr, Sequence<char>)>
 * for Width 0 -> SPSEmpty; and their arguments for the trace.
 */
orc_rt_WrapperFunctionBuffer orcrt_llvm19_mem_write(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                                    unsigned Width);
void orcrt_llvm19_mem_write_args(const char *Data, size_t Size, struct orcrt_trace_text *T,
                                 unsigned Width);

#endif /* ORCRT_LLVM19_H */

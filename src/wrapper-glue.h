/*
 * wrapper-glue.h - what every wire-protocol wrapper of the executor's
 * Services shares
 *
 * A Service offers plain C operations (orc_rt_MemoryService_reserve(), ...).
 * A protocol layer (src/llvm19/ for LLVM 19's controllers) turns each of
 * them into a wrapper function: decode the SPS arguments, call the
 * operation, encode its Error or Expected result, dispose of the argument
 * bytes, return. This header holds the pieces of that skeleton, so that a
 * wrapper is its decoding and its call, and a second protocol version is a
 * second set of such files over the same operations.
 */
#ifndef ORCRT_WRAPPER_GLUE_H
#define ORCRT_WRAPPER_GLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/service.h>
#include <orcrt/sps.h>
#include <orcrt/wrapper-function.h>

#include "arg-stream.h"
#include "trace.h"

/* The out-of-band error LLVM's executors answer undecodable arguments with. */
extern const char orcrt_glue_deserialize_error[];

/* An out-of-band buffer carrying orcrt_glue_deserialize_error. */
orc_rt_WrapperFunctionBuffer orcrt_glue_bad_args(void);

/* An SPSError result: success for NULL, else Err's message. Consumes Err. */
orc_rt_WrapperFunctionBuffer orcrt_glue_error(orc_rt_ErrorRef Err);

/* An SPSExpected<SPSExecutorAddr> result: Value, or Err's message. Consumes Err. */
orc_rt_WrapperFunctionBuffer orcrt_glue_expected_addr(orc_rt_ErrorRef Err,
                                                      orc_rt_ExecutorAddr Value);

/*
 * The synchronous body of a wrapper: decode the arguments from R (a reader
 * over the call's argument bytes), run the operation, and return the
 * encoded result (orcrt_glue_bad_args() when decoding failed). The
 * argument bytes stay valid until it returns.
 */
typedef orc_rt_WrapperFunctionBuffer (*orcrt_glue_body)(orc_rt_SessionRef S, orc_rt_SPSReader *R);

/* Answer the call with Body(S, Args) on this thread; disposes of Args. */
void orcrt_glue_run(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                    orc_rt_WrapperFunctionBuffer Args, orcrt_glue_body Body);

/*
 * Answer the call with Body(S, Args) in an ordinary Task of S's dispatcher,
 * for a short wrapper whose call turned out to need more (it runs JIT'd
 * code, which may block or call the controller). If the Task is destroyed
 * unrun, or cannot be made, the call is answered with an out-of-band error.
 * Takes Args.
 */
void orcrt_glue_defer(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                      orc_rt_WrapperFunctionBuffer Args, orcrt_glue_body Body);

/*
 * Answer the call with Body(S, Args): on this thread if Defer(S, R) (a
 * reader over the arguments) is false, else as orcrt_glue_defer() does.
 * For a short wrapper whose calls only sometimes run code. Takes Args.
 */
void orcrt_glue_run_or_defer(orc_rt_SessionRef S, uint64_t CallId,
                             orc_rt_WrapperFunctionReturn Return, orc_rt_WrapperFunctionBuffer Args,
                             bool (*Defer)(orc_rt_SessionRef S, orc_rt_SPSReader *R),
                             orcrt_glue_body Body);

/*
 * The Service of S with ops Ops if Instance (the address its bootstrap
 * symbol gave the controller) names it, else NULL.
 */
void *orcrt_glue_instance(orc_rt_SessionRef S, const orc_rt_ServiceOps *Ops,
                          orc_rt_ExecutorAddr Instance);

/*
 * Decode a Sequence<T> from R into a fresh array (*Elems, to free(); NULL
 * when empty) of *N elements of ElemSize bytes, each read by ReadElem from
 * R. MinSize is the least number of bytes a T takes on the wire, which
 * bounds the count by the input. False if R fails or memory runs out.
 */
bool orcrt_glue_read_seq(orc_rt_SPSReader *R, size_t MinSize, size_t ElemSize,
                         void (*ReadElem)(orc_rt_SPSReader *R, void *Elem), void **Elems,
                         size_t *N);

/*
 * Decode a Sequence<ExecutorAddr> from R into a fresh array (*Addrs, to
 * free(); NULL when empty) of *N. False if R fails or memory runs out.
 */
bool orcrt_glue_read_addrs(orc_rt_SPSReader *R, orc_rt_ExecutorAddr **Addrs, size_t *N);

/*
 * An orc_rt_WrapperFunction named Name whose calls Body answers on the
 * thread that runs them.
 */
#define ORCRT_GLUE_WRAPPER(Name, Body)                                                             \
  static void Name(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,      \
                   orc_rt_WrapperFunctionBuffer Args) {                                            \
    orcrt_glue_run(S, CallId, Return, Args, Body);                                                 \
  }

/*
 * One entry of a protocol layer's table of wrapper functions. Name may be
 * NULL: a wrapper the controller cannot look up, which a Stream finishes
 * into. Short: every call returns promptly and never blocks (see
 * orcrt_session_mark_short()). Trace (optional): how its calls read in the
 * Session's trace (trace.h). Stream (optional): how it takes large
 * arguments as they arrive (arg-stream.h).
 */
struct orcrt_glue_wrapper {
  const char *Name;
  orc_rt_WrapperFunction Fn;
  bool Short;
  const struct orcrt_wrapper_trace *Trace;
  orcrt_arg_stream_begin Stream;
};

/*
 * Result describers for the trace (struct orcrt_wrapper_trace), by SPS
 * result type: SPSError ("ok"), SPSExpected<SPSExecutorAddr> (the address)
 * and SPSEmpty ("ok"). Each says "error: <message>" and returns true for a
 * failure, and "undecodable N B" for bytes that are not of the type.
 */
bool orcrt_glue_trace_error(orc_rt_SessionRef S, const char *Data, size_t Size,
                            struct orcrt_trace_text *T);
bool orcrt_glue_trace_expected_addr(orc_rt_SessionRef S, const char *Data, size_t Size,
                                    struct orcrt_trace_text *T);
bool orcrt_glue_trace_empty(orc_rt_SessionRef S, const char *Data, size_t Size,
                            struct orcrt_trace_text *T);

/*
 * Argument describers and pieces of them: (ExecutorAddr Instance, uint64
 * Size) as "16 KiB"; (ExecutorAddr Instance, Sequence<ExecutorAddr>) as
 * "1 <One> 0x7f..." or "N <Many>"; and the summary of a finalize request,
 * "N segments <Total bytes> at <First>, M actions", or "undecodable" if
 * !Ok.
 */
void orcrt_glue_trace_size_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                                struct orcrt_trace_text *T);
void orcrt_glue_trace_addrs_args(const char *Data, size_t Size, const char *One, const char *Many,
                                 struct orcrt_trace_text *T);
void orcrt_glue_trace_segments(struct orcrt_trace_text *T, bool Ok, uint64_t N, uint64_t Total,
                               orc_rt_ExecutorAddr First, uint64_t Actions);

/*
 * orcrt_glue_trace_segments() for a decoded request Req of either memory
 * Service (orc_rt_MemoryFinalizeRequest, orc_rt_SharedMemoryFinalizeRequest:
 * Segments with Addr and Size, NumSegments, NumActions), Ok saying whether
 * it decoded.
 */
#define ORCRT_GLUE_TRACE_REQUEST(T, Ok, Req)                                                       \
  do {                                                                                             \
    uint64_t Total_ = 0;                                                                           \
    for (size_t I_ = 0; (Ok) && I_ < (Req).NumSegments; I_++)                                      \
      Total_ += (Req).Segments[I_].Size;                                                           \
    orcrt_glue_trace_segments((T), (Ok), (Req).NumSegments, Total_,                                \
                              (Ok) && (Req).NumSegments ? (Req).Segments[0].Addr : 0,              \
                              (Req).NumActions);                                                   \
  } while (0)

/*
 * Read an SPSExpected's tag from R and, for a failure, say "error: <message>"
 * in T and return true; false with R at the value otherwise (*Ok false and
 * "undecodable" said if R does not hold one).
 */
bool orcrt_glue_trace_expected_failed(orc_rt_SPSReader *R, struct orcrt_trace_text *T, bool *Ok);

/*
 * Add the N wrappers of Table to S under their names, for the controllers
 * of Wires (wire.h). Returns NULL or the error.
 */
orc_rt_ErrorRef orcrt_glue_add_wrappers(orc_rt_SessionRef S, unsigned Wires,
                                        const struct orcrt_glue_wrapper *Table, size_t N);

/*
 * Add a Service's protocol layer to S: the bootstrap symbol InstanceName
 * for Instance (the address the controller names the Service by), then the
 * N wrappers of Table, all for the controllers of Wires. Returns NULL or
 * the error.
 */
orc_rt_ErrorRef orcrt_glue_add_service(orc_rt_SessionRef S, unsigned Wires,
                                       const char *InstanceName, const void *Instance,
                                       const struct orcrt_glue_wrapper *Table, size_t N);

#endif /* ORCRT_WRAPPER_GLUE_H */

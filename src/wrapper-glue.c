/*
 * wrapper-glue.c - the skeleton every wire-protocol wrapper shares: result
 * encoding, the synchronous-body adapter, deferral to the dispatcher,
 * instance lookup, sequence decoding, and the registration of a protocol
 * layer's wrapper table
 *
 * Locks: none of its own.
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <stdlib.h>

#include <orcrt/service.h>
#include <orcrt/session.h>
#include <orcrt/task-dispatcher.h>

#include "session-internal.h"
#include "wrapper-glue.h"
#include "wire.h"

const char orcrt_glue_deserialize_error[] =
    "Could not deserialize arguments for wrapper function call";

orc_rt_WrapperFunctionBuffer orcrt_glue_bad_args(void) {
  return orc_rt_WrapperFunctionBuffer_fromOutOfBandError(orcrt_glue_deserialize_error);
}

orc_rt_WrapperFunctionBuffer orcrt_glue_error(orc_rt_ErrorRef Err) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_error(&W, Err);
  return orc_rt_SPSWriter_finish(&W);
}

orc_rt_WrapperFunctionBuffer orcrt_glue_expected_addr(orc_rt_ErrorRef Err,
                                                      orc_rt_ExecutorAddr Value) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  if (Err) {
    orc_rt_SPSWriter_expectedError(&W, Err);
  } else {
    orc_rt_SPSWriter_expectedValue(&W);
    orc_rt_SPSWriter_addr(&W, Value);
  }
  return orc_rt_SPSWriter_finish(&W);
}

static orc_rt_WrapperFunctionBuffer
run_body(orc_rt_SessionRef S, const orc_rt_WrapperFunctionBuffer *Args, orcrt_glue_body Body) {
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(Args), Args->Size);
  return Body(S, &R);
}

void orcrt_glue_run(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                    orc_rt_WrapperFunctionBuffer Args, orcrt_glue_body Body) {
  orc_rt_WrapperFunctionBuffer Result = run_body(S, &Args, Body);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

/* ---- deferral --------------------------------------------------------------- */

struct deferred_call {
  orc_rt_SessionRef S;
  uint64_t CallId;
  orc_rt_WrapperFunctionReturn Return;
  orc_rt_WrapperFunctionBuffer Args;
  orcrt_glue_body Body;
};

static void deferred_run(void *Ctx) {
  struct deferred_call *D = Ctx;
  orcrt_glue_run(D->S, D->CallId, D->Return, D->Args, D->Body);
  free(D);
}

static void deferred_destroy(void *Ctx) {
  struct deferred_call *D = Ctx;
  orc_rt_WrapperFunctionBuffer_dispose(&D->Args);
  D->Return(D->S, D->CallId,
            orc_rt_WrapperFunctionBuffer_fromOutOfBandError("executor could not run the call"));
  free(D);
}

void orcrt_glue_defer(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                      orc_rt_WrapperFunctionBuffer Args, orcrt_glue_body Body) {
  struct deferred_call *D = malloc(sizeof(*D));
  if (!D) {
    orc_rt_WrapperFunctionBuffer_dispose(&Args);
    Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromOutOfBandError("executor out of memory"));
    return;
  }
  *D = (struct deferred_call){S, CallId, Return, Args, Body};
  orc_rt_TaskDispatcher_dispatch(orc_rt_Session_getDispatcher(S),
                                 (orc_rt_Task){deferred_run, deferred_destroy, D});
}

void orcrt_glue_run_or_defer(orc_rt_SessionRef S, uint64_t CallId,
                             orc_rt_WrapperFunctionReturn Return, orc_rt_WrapperFunctionBuffer Args,
                             bool (*Defer)(orc_rt_SessionRef S, orc_rt_SPSReader *R),
                             orcrt_glue_body Body) {
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  if (Defer(S, &R))
    orcrt_glue_defer(S, CallId, Return, Args, Body);
  else
    orcrt_glue_run(S, CallId, Return, Args, Body);
}

/* ---- decoding ------------------------------------------------------------------ */

void *orcrt_glue_instance(orc_rt_SessionRef S, const orc_rt_ServiceOps *Ops,
                          orc_rt_ExecutorAddr Instance) {
  void *Service = orc_rt_Session_findService(S, Ops);
  return Service && orc_rt_ExecutorAddr_fromPtr(Service) == Instance ? Service : NULL;
}

bool orcrt_glue_read_seq(orc_rt_SPSReader *R, size_t MinSize, size_t ElemSize,
                         void (*ReadElem)(orc_rt_SPSReader *R, void *Elem), void **Elems,
                         size_t *N) {
  uint64_t Count = 0;
  *Elems = NULL;
  *N = 0;
  /* The count is checked against the bytes left, so it bounds the array. */
  if (!orc_rt_SPSReader_seqCount(R, MinSize, &Count))
    return false;
  if (Count && !(*Elems = calloc((size_t)Count, ElemSize)))
    return false;
  *N = (size_t)Count;
  for (size_t I = 0; I < *N; I++)
    ReadElem(R, (char *)*Elems + I * ElemSize);
  return orc_rt_SPSReader_ok(R);
}

static void read_addr(orc_rt_SPSReader *R, void *Elem) {
  orc_rt_SPSReader_addr(R, Elem);
}

bool orcrt_glue_read_addrs(orc_rt_SPSReader *R, orc_rt_ExecutorAddr **Addrs, size_t *N) {
  void *P;
  bool Ok = orcrt_glue_read_seq(R, 8, sizeof(**Addrs), read_addr, &P, N);
  *Addrs = P;
  return Ok;
}

/* ---- the trace ----------------------------------------------------------------- */

static bool trace_undecodable(size_t Size, struct orcrt_trace_text *T) {
  orcrt_trace_printf(T, "undecodable ");
  orcrt_trace_size(T, Size);
  return false;
}

static void trace_message(struct orcrt_trace_text *T, const char *Msg, size_t MsgSize) {
  orcrt_trace_printf(T, "error: %.*s", (int)(MsgSize < 400 ? MsgSize : 400), Msg);
}

bool orcrt_glue_trace_error(orc_rt_SessionRef S, const char *Data, size_t Size,
                            struct orcrt_trace_text *T) {
  (void)S;
  orc_rt_SPSReader R;
  bool Failed = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  if (!orc_rt_SPSReader_error(&R, &Failed, &Msg, &MsgSize))
    return trace_undecodable(Size, T);
  if (Failed)
    trace_message(T, Msg, MsgSize);
  else
    orcrt_trace_printf(T, "ok");
  return Failed;
}

bool orcrt_glue_trace_expected_failed(orc_rt_SPSReader *R, struct orcrt_trace_text *T, bool *Ok) {
  bool HasValue = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  *Ok = orc_rt_SPSReader_expected(R, &HasValue, &Msg, &MsgSize);
  if (!*Ok) {
    orcrt_trace_printf(T, "undecodable");
    return false;
  }
  if (!HasValue)
    trace_message(T, Msg, MsgSize);
  return !HasValue;
}

bool orcrt_glue_trace_expected_addr(orc_rt_SessionRef S, const char *Data, size_t Size,
                                    struct orcrt_trace_text *T) {
  (void)S;
  orc_rt_SPSReader R;
  bool Ok;
  orc_rt_ExecutorAddr Addr = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  if (orcrt_glue_trace_expected_failed(&R, T, &Ok))
    return true;
  if (Ok && orc_rt_SPSReader_addr(&R, &Addr))
    orcrt_trace_printf(T, "0x%" PRIx64, Addr);
  else if (Ok)
    orcrt_trace_printf(T, "undecodable");
  return false;
}

void orcrt_glue_trace_size_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                                struct orcrt_trace_text *T) {
  (void)S;
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddr Instance = 0;
  uint64_t Bytes = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  if (orc_rt_SPSReader_addr(&R, &Instance) && orc_rt_SPSReader_u64(&R, &Bytes))
    orcrt_trace_size(T, Bytes);
  else
    orcrt_trace_printf(T, "undecodable");
}

void orcrt_glue_trace_addrs_args(const char *Data, size_t Size, const char *One, const char *Many,
                                 struct orcrt_trace_text *T) {
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddr Instance = 0, Addr = 0;
  uint64_t N = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  orc_rt_SPSReader_addr(&R, &Instance);
  orc_rt_SPSReader_seqCount(&R, 8, &N);
  if (N == 1)
    orc_rt_SPSReader_addr(&R, &Addr);
  if (!orc_rt_SPSReader_ok(&R))
    orcrt_trace_printf(T, "undecodable");
  else if (N == 1)
    orcrt_trace_printf(T, "1 %s 0x%" PRIx64, One, Addr);
  else
    orcrt_trace_printf(T, "%" PRIu64 " %s", N, Many);
}

void orcrt_glue_trace_segments(struct orcrt_trace_text *T, bool Ok, uint64_t N, uint64_t Total,
                               orc_rt_ExecutorAddr First, uint64_t Actions) {
  if (!Ok) {
    orcrt_trace_printf(T, "undecodable");
    return;
  }
  orcrt_trace_printf(T, "%" PRIu64 " segment%s ", N, N == 1 ? "" : "s");
  orcrt_trace_size(T, Total);
  if (N)
    orcrt_trace_printf(T, " at 0x%" PRIx64, First);
  if (Actions)
    orcrt_trace_printf(T, ", %" PRIu64 " action%s", Actions, Actions == 1 ? "" : "s");
}

bool orcrt_glue_trace_empty(orc_rt_SessionRef S, const char *Data, size_t Size,
                            struct orcrt_trace_text *T) {
  (void)S;
  (void)Data;
  (void)Size;
  orcrt_trace_printf(T, "ok");
  return false;
}

/* ---- registration ----------------------------------------------------------- */

orc_rt_ErrorRef orcrt_glue_add_wrappers(orc_rt_SessionRef S, unsigned Wires,
                                        const struct orcrt_glue_wrapper *Table, size_t N) {
  orc_rt_ErrorRef Err = NULL;
  for (size_t I = 0; !Err && I < N; I++) {
    Err = orcrt_session_add_wrapper_for(S, Wires, Table[I].Name, Table[I].Fn);
    if (!Err && Table[I].Short)
      Err = orcrt_session_mark_short(S, Table[I].Fn);
    if (!Err && Table[I].Trace)
      Err = orcrt_session_set_trace(S, Table[I].Fn, Table[I].Trace);
    if (!Err && Table[I].Stream)
      Err = orcrt_session_set_stream(S, Table[I].Fn, Table[I].Stream);
  }
  return Err;
}

orc_rt_ErrorRef orcrt_glue_add_service(orc_rt_SessionRef S, unsigned Wires,
                                       const char *InstanceName, const void *Instance,
                                       const struct orcrt_glue_wrapper *Table, size_t N) {
  orc_rt_ErrorRef Err =
      orcrt_session_add_symbol_for(S, Wires, InstanceName, orc_rt_ExecutorAddr_fromPtr(Instance));
  return Err ? Err : orcrt_glue_add_wrappers(S, Wires, Table, N);
}

/*
 * session-calls.c - the Session's calls in both directions
 *
 * Incoming calls (controller -> executor): each runs as a Task of the
 * Session's dispatcher, with the asynchronous ABI if its address is one of
 * the Session's wrapper functions and LLVM's synchronous ABI (on a thread
 * of its own) otherwise. While it runs it is live: its CallId is in
 * S->Live, so that its Return is matched to it, a second Return is blamed
 * on the call that made it, and shutdown waits for every live call.
 * Outgoing calls (executor -> controller) wait in S->Pending for their
 * result, and are failed at detach.
 *
 * Locks: S->Lock (session-private.h) protects Pending, Live, InFlight,
 * NextCallId and the check; it is never held across a ControllerAccess op,
 * a wrapper function, a result callback or a dispatch.
 */
#include "session-private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "task-dispatcher-internal.h"

/* ---- incoming calls -------------------------------------------------------- */

ORC_RT_EXPORT void orc_rt_Session_setCallTargetCheck(orc_rt_SessionRef S,
                                                     orc_rt_CallTargetCheckFn Fn, void *Ctx) {
  session_lock(S);
  bool Late = session_frozen_locked(S);
  if (!Late) {
    S->CheckFn = Fn;
    S->CheckCtx = Fn ? Ctx : NULL;
  }
  session_unlock(S);
  if (Late)
    orc_rt_Session_reportError(S,
                               orc_rt_Error_create("call target check set after attach: ignored"));
}

struct incoming {
  orc_rt_SessionRef S;
  uint64_t CallId;
  orc_rt_ExecutorAddr Fn;
  orc_rt_WrapperFunctionBuffer Args;
  size_t WireSize;           /* the argument bytes the controller sent (Args.Size, or more) */
  bool Async;                /* Fn is a wrapper: the asynchronous ABI; else LLVM's */
  struct session_wrapper *W; /* Fn's wrapper or Described entry, or NULL */
  orc_rt_CallTargetCheckFn Check;
  void *CheckCtx;
};

/*
 * Make CallId live with the record Rec, taking Rec->Args if the record is
 * kept (the first call live under CallId). False if memory runs out.
 */
static bool live_add_locked(orc_rt_SessionRef S, uint64_t CallId, struct live_call *Rec) {
  struct live_call *L = orcrt_u64map_insert(&S->Live, CallId, NULL);
  if (!L)
    return false;
  if (L->Count == 0) {
    *L = *Rec;
    Rec->Args = NULL;
  }
  L->Count++;
  S->InFlight++;
  return true;
}

/*
 * End one live call CallId; false if none is live (a second Return). The
 * first to end takes its record into *Out (then holding no trace for the
 * others).
 */
static bool live_end_locked(orc_rt_SessionRef S, uint64_t CallId, struct live_call *Out) {
  struct live_call *L = orcrt_u64map_find(&S->Live, CallId);
  if (!L)
    return false;
  *Out = *L;
  L->Start = 0;
  L->Args = NULL;
  if (--L->Count == 0)
    orcrt_u64map_remove(&S->Live, CallId, NULL);
  return true;
}

/* ---- the trace of incoming calls --------------------------------------------- */

/*
 * The trace (trace.h): one line per answered call, at debug; failures at
 * warning, and at error the calls the executor could not run at all (out
 * of memory, no thread): those are the executor's problem, the rest the
 * controller's. The level is read once per call; below warning nothing is
 * looked at.
 */

/* "#5 finalize" or "#7 call llvm_orc_registerEHFrameSectionWrapper". */
static void trace_label(struct orcrt_trace_text *T, orc_rt_SessionRef S, uint64_t CallId,
                        orc_rt_ExecutorAddr Fn, const struct session_wrapper *W) {
  orcrt_trace_printf(T, "#%" PRIu64 " ", CallId);
  if (W && !W->ByAddress && W->Trace && W->Trace->Label)
    orcrt_trace_printf(T, "%s", W->Trace->Label);
  else if (W && !W->ByAddress && W->Name)
    orcrt_trace_printf(T, "%s", W->Name);
  else {
    orcrt_trace_printf(T, "call ");
    orcrt_trace_addr(T, S, Fn);
  }
}

/* Start tracing call C: describe its arguments into Rec, start its clock. */
static void trace_begin(orc_rt_SessionRef S, const struct incoming *C, struct live_call *Rec) {
  struct orcrt_trace_text T = {0};
  const char *Data = orc_rt_WrapperFunctionBuffer_constData(&C->Args);
  if (C->W && C->W->Trace && C->W->Trace->Args)
    C->W->Trace->Args(S, Data, C->Args.Size, &T);
  else
    orcrt_trace_size(&T, C->Args.Size);
  Rec->Args = strndup(T.Buf, T.Len); /* NULL if out of memory: traced without */
  Rec->ArgBytes = C->WireSize;
  Rec->Start = orcrt_trace_now();
}

/*
 * Describe the answer R to call CallId (Rec: its record, or NULL for an
 * answer the Session made because the call could not run) into T. Returns
 * the level to log it at, or 0 for none at Level; *Failed says whether it
 * is an error.
 */
static int trace_answer(orc_rt_SessionRef S, uint64_t CallId, orc_rt_ExecutorAddr Fn,
                        const struct live_call *Rec, const orc_rt_WrapperFunctionBuffer *R,
                        int Level, struct orcrt_trace_text *T, bool *Failed) {
  const struct session_wrapper *W = Rec ? Rec->W : NULL;
  trace_label(T, S, CallId, Fn, W);
  if (Rec && Rec->Start && Rec->Args)
    orcrt_trace_printf(T, " %s", Rec->Args);
  orcrt_trace_printf(T, " → ");
  const char *Oob = orc_rt_WrapperFunctionBuffer_getOutOfBandError(R);
  if (Oob) {
    orcrt_trace_printf(T, "error: %s", Oob);
    *Failed = true;
  } else if (W && W->Trace && W->Trace->Result) {
    *Failed = W->Trace->Result(S, orc_rt_WrapperFunctionBuffer_constData(R), R->Size, T);
  } else {
    orcrt_trace_size(T, R->Size);
    *Failed = false;
  }
  if (Rec && Rec->Start) {
    orcrt_trace_printf(T, " ");
    orcrt_trace_duration(T, orcrt_trace_now() - Rec->Start);
  }
  int At = !*Failed ? orc_rt_LogLevel_Debug
                    : Rec ? orc_rt_LogLevel_Warning
                          : orc_rt_LogLevel_Error;
  return At <= Level ? At : 0;
}

static void stats_add(struct trace_stats *St, uint64_t In, uint64_t Out, uint64_t Ns, bool Failed) {
  St->Calls++;
  St->Errors += Failed;
  St->BytesIn += In;
  St->BytesOut += Out;
  St->Ns += Ns;
}

/*
 * Send the result of incoming call CallId (to Fn), unless S no longer
 * answers. Returning: this is the Return of a live call (else an answer
 * for a call that never ran). A Return for no live call is reported and
 * dropped, and shutdown keeps waiting for the calls still live.
 */
static void send_result(orc_rt_SessionRef S, uint64_t CallId, orc_rt_ExecutorAddr Fn,
                        orc_rt_WrapperFunctionBuffer R, bool Returning) {
  int Level = (int)orc_rt_Session_getLogLevel(S);
  struct live_call Rec = {0};
  session_lock(S);
  bool Extra = Returning && !live_end_locked(S, CallId, &Rec);
  const orc_rt_ControllerAccessOps *Ops = NULL;
  void *Ctx = NULL;
  if (!Extra && S->State < SESSION_DETACHING && S->CAOps) {
    Ops = S->CAOps;
    Ctx = S->CACtx;
    S->CAUsers++;
  }
  session_unlock(S);

  bool Failed = false;
  uint64_t Ns = Rec.Start ? orcrt_trace_now() - Rec.Start : 0;
  uint64_t OutBytes = R.Size;
  /* The Session's own answers (!Returning) are failures, logged at error when sent. */
  if (!Extra && (Level >= orc_rt_LogLevel_Warning || (!Returning && Ops))) {
    struct orcrt_trace_text T = {0};
    int At = trace_answer(S, CallId, Returning ? Rec.Fn : Fn, Returning ? &Rec : NULL, &R, Level,
                          &T, &Failed);
    if (At && !Ops && !Rec.Start)
      At = 0; /* an untraced failure nobody receives */
    if (At && !Ops)
      orcrt_trace_printf(&T, " (not sent: the session is detached)");
    if (At)
      orc_rt_Session_log(S, (orc_rt_LogLevel)At, "%s", T.Buf);
  }
  free(Rec.Args);

  if (Ops && Ops->SendResult)
    Ops->SendResult(Ctx, CallId, R);
  else
    orc_rt_WrapperFunctionBuffer_dispose(&R);

  session_lock(S);
  if (Rec.Start)
    stats_add(Rec.W ? &Rec.W->Stats : &S->ByAddrStats, Rec.ArgBytes, OutBytes, Ns, Failed);
  if (Ops)
    S->CAUsers--;
  /* Counted only once the result is out: shutdown must not overtake it. */
  if (Returning && !Extra)
    S->InFlight--;
  /* Only detach and shutdown wait for these counts. */
  if (S->State >= SESSION_DETACHING && (S->CAUsers == 0 || S->InFlight == 0))
    pthread_cond_broadcast(&S->Cond);
  session_unlock(S);
  if (Extra)
    orc_rt_Session_reportError(
        S, orc_rt_Error_create("wrapper function returned more often than it was called "
                               "(call %" PRIu64 ")",
                               CallId));
}

/* The Return of every incoming call. */
static void session_return(orc_rt_SessionRef S, uint64_t CallId,
                           orc_rt_WrapperFunctionBuffer ResultBytes) {
  send_result(S, CallId, 0, ResultBytes, true);
}

/* A call with LLVM's synchronous ABI, run by orcrt_run_on_own_thread(). */
struct sync_call {
  orc_rt_ExecutorAddr Fn;
  const orc_rt_WrapperFunctionBuffer *Args;
  orc_rt_WrapperFunctionBuffer Result;
};

static void sync_call_run(void *Ctx) {
  struct sync_call *C = Ctx;
  C->Result = orc_rt_WrapperFunctionBuffer_callSync(
      C->Fn, orc_rt_WrapperFunctionBuffer_constData(C->Args), C->Args->Size);
}

/* The result of the synchronous-ABI call C, after the call-target check. */
static orc_rt_WrapperFunctionBuffer run_sync(orc_rt_SessionRef S, const struct incoming *C) {
  orc_rt_ErrorRef Err = C->Check ? C->Check(C->CheckCtx, C->Fn) : NULL;
  if (!Err && !orc_rt_ExecutorAddr_toPtr(C->Fn))
    Err = orc_rt_Error_create("no function at address %#" PRIx64, C->Fn);
  if (Err)
    return orc_rt_WrapperFunctionBuffer_fromError(Err);
  /* JIT'd code may run long or call back into the controller. */
  struct sync_call Call = {.Fn = C->Fn, .Args = &C->Args};
  orc_rt_TaskDispatcher_blockingBegin(S->Dispatcher);
  orcrt_run_on_own_thread(sync_call_run, &Call);
  orc_rt_TaskDispatcher_blockingEnd(S->Dispatcher);
  return Call.Result;
}

static void incoming_run(void *Ctx) {
  struct incoming C = *(struct incoming *)Ctx;
  free(Ctx);
  orc_rt_SessionRef S = C.S;

  /* The log level is read once per call: below debug, no trace is kept. */
  struct live_call Rec = {.Fn = C.Fn, .W = C.W};
  if (orc_rt_Session_getLogLevel(S) >= orc_rt_LogLevel_Debug)
    trace_begin(S, &C, &Rec);

  /* A call that had not started when detach began is dropped: nobody would get its result. */
  session_lock(S);
  bool Drop = S->State >= SESSION_DETACHING;
  bool Live = !Drop && live_add_locked(S, C.CallId, &Rec);
  session_unlock(S);
  free(Rec.Args); /* unless live_add_locked() took it */
  if (Drop) {
    orc_rt_Session_log(S, orc_rt_LogLevel_Debug,
                       "dropping call %" PRIu64 ": the session is detached", C.CallId);
    orc_rt_WrapperFunctionBuffer_dispose(&C.Args);
    return;
  }
  if (!Live) {
    orc_rt_WrapperFunctionBuffer_dispose(&C.Args);
    send_result(S, C.CallId, C.Fn,
                orc_rt_WrapperFunctionBuffer_fromOutOfBandError("executor out of memory"), false);
    return;
  }

  if (C.Async) {
    orc_rt_WrapperFunction Fn = (orc_rt_WrapperFunction)(uintptr_t)C.Fn;
    Fn(S, C.CallId, session_return, C.Args);
    return;
  }
  orc_rt_WrapperFunctionBuffer R = run_sync(S, &C);
  orc_rt_WrapperFunctionBuffer_dispose(&C.Args);
  session_return(S, C.CallId, R);
}

/*
 * The dispatcher refused the call (out of memory, no thread, shut down):
 * unless S has detached, the controller still waits for its answer.
 */
static void incoming_destroy(void *Ctx) {
  struct incoming *C = Ctx;
  orc_rt_SessionRef S = C->S;
  uint64_t CallId = C->CallId;
  orc_rt_ExecutorAddr Fn = C->Fn;
  orc_rt_WrapperFunctionBuffer_dispose(&C->Args);
  free(C);
  send_result(S, CallId, Fn,
              orc_rt_WrapperFunctionBuffer_fromOutOfBandError("executor could not run the call"),
              false);
}

ORC_RT_EXPORT void orc_rt_Session_handleWrapperCall(orc_rt_SessionRef S, uint64_t CallId,
                                                    orc_rt_ExecutorAddr Fn,
                                                    orc_rt_WrapperFunctionBuffer ArgBytes) {
  orcrt_session_handle_call(S, CallId, Fn, ArgBytes, ArgBytes.Size);
}

void orcrt_session_handle_call(orc_rt_SessionRef S, uint64_t CallId, orc_rt_ExecutorAddr Fn,
                               orc_rt_WrapperFunctionBuffer ArgBytes, size_t WireSize) {
  struct incoming *C = malloc(sizeof(*C));
  bool Short = false;
  session_lock(S);
  if (S->State >= SESSION_DETACHING) {
    session_unlock(S);
    orc_rt_Session_log(S, orc_rt_LogLevel_Debug,
                       "dropping call %" PRIu64 ": the session is detached", CallId);
    orc_rt_WrapperFunctionBuffer_dispose(&ArgBytes);
    free(C);
    return;
  }
  struct session_wrapper *W = orcrt_session_find_wrapper_locked(S, Fn);
  bool Async = W != NULL;
  if (!W)
    W = orcrt_session_find_described_locked(S, Fn);
  if (C) {
    *C = (struct incoming){S, CallId, Fn, ArgBytes, WireSize, Async, W, S->CheckFn, S->CheckCtx};
    Short = Async && orcrt_session_is_short_locked(S, Fn);
  }
  session_unlock(S);
  orcrt_session_note_call(S, W);
  if (!C) {
    orc_rt_WrapperFunctionBuffer_dispose(&ArgBytes);
    send_result(S, CallId, Fn,
                orc_rt_WrapperFunctionBuffer_fromOutOfBandError("executor out of memory"), false);
    return;
  }
  orc_rt_Task T = {incoming_run, incoming_destroy, C};
  /*
   * Still a Task of the dispatcher (DESIGN S12), but a short wrapper's may
   * run right here, on the ControllerAccess's thread: it never blocks, so
   * S14 holds; nothing called with LLVM's ABI ever runs here.
   */
  if (Short)
    orcrt_task_dispatcher_dispatch_short(S->Dispatcher, T);
  else
    orc_rt_TaskDispatcher_dispatch(S->Dispatcher, T);
}

/* ---- outgoing calls ---------------------------------------------------------- */

static void discard_result(void *Ctx, orc_rt_WrapperFunctionBuffer Result) {
  (void)Ctx;
  orc_rt_WrapperFunctionBuffer_dispose(&Result);
}

/* A traced call to the controller: its own result callback stands in front of the caller's. */
struct out_trace {
  orc_rt_SessionRef S;
  orc_rt_CallResultFn OnResult;
  void *Ctx;
  orc_rt_ExecutorAddr Tag;
  uint64_t Id, Start;
  size_t ArgBytes;
};

static void out_trace_result(void *Ctx, orc_rt_WrapperFunctionBuffer Result) {
  struct out_trace *O = Ctx;
  orc_rt_SessionRef S = O->S;
  uint64_t Ns = orcrt_trace_now() - O->Start;
  struct orcrt_trace_text T = {0};
  orcrt_trace_printf(&T, "controller call #%" PRIu64 " ", O->Id);
  orcrt_trace_addr(&T, S, O->Tag);
  orcrt_trace_printf(&T, " ");
  orcrt_trace_size(&T, O->ArgBytes);
  orcrt_trace_printf(&T, " → ");
  const char *Oob = orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Result);
  if (Oob)
    orcrt_trace_printf(&T, "error: %s", Oob);
  else
    orcrt_trace_size(&T, Result.Size);
  orcrt_trace_printf(&T, " ");
  orcrt_trace_duration(&T, Ns);
  orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "%s", T.Buf);
  session_lock(S);
  stats_add(&S->OutStats, Result.Size, O->ArgBytes, Ns, Oob != NULL); /* in: the result */
  session_unlock(S);
  orc_rt_CallResultFn Fn = O->OnResult;
  void *FnCtx = O->Ctx;
  free(O);
  Fn(FnCtx, Result);
}

ORC_RT_EXPORT void orc_rt_Session_callController(orc_rt_SessionRef S,
                                                 orc_rt_ExecutorAddr HandlerTag,
                                                 orc_rt_WrapperFunctionBuffer ArgBytes,
                                                 orc_rt_CallResultFn OnResult, void *Ctx) {
  if (!OnResult)
    OnResult = discard_result;
  /* Traced (log at debug, checked once): time it from here to its result. */
  struct out_trace *O = NULL;
  if (orc_rt_Session_getLogLevel(S) >= orc_rt_LogLevel_Debug &&
      (O = malloc(sizeof(*O)))) {
    *O = (struct out_trace){S, OnResult, Ctx, HandlerTag, 0, orcrt_trace_now(), ArgBytes.Size};
    OnResult = out_trace_result;
    Ctx = O;
  }
  const char *Why = NULL;
  session_lock(S);
  uint64_t Id = S->NextCallId;
  if (O)
    O->Id = Id;
  if (S->State >= SESSION_DETACHING)
    Why = "session is detached";
  else if (S->State != SESSION_ATTACHED || !S->CAOps->CallController)
    Why = "session is not attached";
  else if (!orcrt_pending_add(&S->Pending, Id, OnResult, Ctx))
    Why = "executor out of memory";
  if (Why) {
    session_unlock(S);
    orc_rt_WrapperFunctionBuffer_dispose(&ArgBytes);
    OnResult(Ctx, orc_rt_WrapperFunctionBuffer_fromOutOfBandError(Why));
    return;
  }
  S->NextCallId++;
  S->CAUsers++;
  const orc_rt_ControllerAccessOps *Ops = S->CAOps;
  void *CACtx = S->CACtx;
  session_unlock(S);

  Ops->CallController(CACtx, Id, HandlerTag, ArgBytes);

  session_lock(S);
  if (--S->CAUsers == 0 && S->State >= SESSION_DETACHING)
    pthread_cond_broadcast(&S->Cond);
  session_unlock(S);
}

static void call_controller(void *Target, orc_rt_ExecutorAddr HandlerTag,
                            orc_rt_WrapperFunctionBuffer Args, orc_rt_CallResultFn OnResult,
                            void *Ctx) {
  orc_rt_Session_callController(Target, HandlerTag, Args, OnResult, Ctx);
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer orc_rt_Session_callControllerSync(
    orc_rt_SessionRef S, orc_rt_ExecutorAddr HandlerTag, const char *ArgData, size_t ArgSize) {
  return orcrt_call_and_wait(call_controller, S, HandlerTag, ArgData, ArgSize, S->Dispatcher);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_handleCallResult(orc_rt_SessionRef S, uint64_t CallId,
                                                              orc_rt_WrapperFunctionBuffer Result) {
  struct orcrt_call C;
  session_lock(S);
  bool Found = orcrt_u64map_remove(&S->Pending, CallId, &C);
  session_unlock(S);
  if (!Found) {
    orc_rt_WrapperFunctionBuffer_dispose(&Result);
    return orc_rt_Error_create("result for call %" PRIu64 ", which is not pending", CallId);
  }
  C.Fn(C.Ctx, Result);
  return NULL;
}

/* ---- the summary ---------------------------------------------------------------- */


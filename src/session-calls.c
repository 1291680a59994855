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

/* ---- pending-call tables ------------------------------------------------- */

void orcrt_pending_init(struct orcrt_u64map *M) {
  orcrt_u64map_init(M, sizeof(struct orcrt_call));
}

bool orcrt_pending_add(struct orcrt_u64map *M, uint64_t Id, orc_rt_CallResultFn Fn, void *Ctx) {
  struct orcrt_call *C = orcrt_u64map_insert(M, Id, NULL);
  if (!C)
    return false;
  *C = (struct orcrt_call){Fn, Ctx};
  return true;
}

void orcrt_pending_fail_all(struct orcrt_u64map *M, const char *Msg) {
  size_t Pos = 0;
  void *V;
  while (orcrt_u64map_next(M, &Pos, NULL, &V)) {
    struct orcrt_call *C = V;
    C->Fn(C->Ctx, orc_rt_WrapperFunctionBuffer_fromOutOfBandError(Msg));
  }
  orcrt_u64map_free(M);
}

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
  bool Async;
  orc_rt_CallTargetCheckFn Check;
  void *CheckCtx;
};

/* Make CallId live (a controller may reuse one: count them). False if memory runs out. */
static bool live_add_locked(orc_rt_SessionRef S, uint64_t CallId) {
  size_t *N = orcrt_u64map_insert(&S->Live, CallId, NULL);
  if (!N)
    return false;
  (*N)++;
  S->InFlight++;
  return true;
}

/* End one live call CallId; false if none is live (a second Return). */
static bool live_end_locked(orc_rt_SessionRef S, uint64_t CallId) {
  size_t *N = orcrt_u64map_find(&S->Live, CallId);
  if (!N)
    return false;
  if (--*N == 0)
    orcrt_u64map_remove(&S->Live, CallId, NULL);
  return true;
}

/*
 * Send the result of incoming call CallId, unless S no longer answers.
 * Returning: this is the Return of a live call (else an answer for a call
 * that never ran). A Return for no live call is reported and dropped, and
 * shutdown keeps waiting for the calls still live.
 */
static void send_result(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionBuffer R,
                        bool Returning) {
  session_lock(S);
  bool Extra = Returning && !live_end_locked(S, CallId);
  const orc_rt_ControllerAccessOps *Ops = NULL;
  void *Ctx = NULL;
  if (!Extra && S->State < SESSION_DETACHING && S->CAOps) {
    Ops = S->CAOps;
    Ctx = S->CACtx;
    S->CAUsers++;
  }
  session_unlock(S);

  if (Ops && Ops->SendResult)
    Ops->SendResult(Ctx, CallId, R);
  else
    orc_rt_WrapperFunctionBuffer_dispose(&R);

  session_lock(S);
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
  send_result(S, CallId, ResultBytes, true);
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

  /* A call that had not started when detach began is dropped: nobody would get its result. */
  session_lock(S);
  bool Drop = S->State >= SESSION_DETACHING;
  bool Live = !Drop && live_add_locked(S, C.CallId);
  session_unlock(S);
  if (Drop) {
    orc_rt_Session_log(S, orc_rt_LogLevel_Debug,
                       "dropping call %" PRIu64 ": the session is detached", C.CallId);
    orc_rt_WrapperFunctionBuffer_dispose(&C.Args);
    return;
  }
  if (!Live) {
    orc_rt_WrapperFunctionBuffer_dispose(&C.Args);
    send_result(S, C.CallId,
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
  orc_rt_WrapperFunctionBuffer_dispose(&C->Args);
  free(C);
  send_result(S, CallId,
              orc_rt_WrapperFunctionBuffer_fromOutOfBandError("executor could not run the call"),
              false);
}

ORC_RT_EXPORT void orc_rt_Session_handleWrapperCall(orc_rt_SessionRef S, uint64_t CallId,
                                                    orc_rt_ExecutorAddr Fn,
                                                    orc_rt_WrapperFunctionBuffer ArgBytes) {
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
  if (C) {
    bool Async = orcrt_session_is_wrapper_locked(S, Fn);
    *C = (struct incoming){S, CallId, Fn, ArgBytes, Async, S->CheckFn, S->CheckCtx};
    Short = Async && orcrt_session_is_short_locked(S, Fn);
  }
  session_unlock(S);
  if (!C) {
    orc_rt_WrapperFunctionBuffer_dispose(&ArgBytes);
    send_result(S, CallId,
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

ORC_RT_EXPORT void orc_rt_Session_callController(orc_rt_SessionRef S,
                                                 orc_rt_ExecutorAddr HandlerTag,
                                                 orc_rt_WrapperFunctionBuffer ArgBytes,
                                                 orc_rt_CallResultFn OnResult, void *Ctx) {
  if (!OnResult)
    OnResult = discard_result;
  const char *Why = NULL;
  session_lock(S);
  uint64_t Id = S->NextCallId;
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

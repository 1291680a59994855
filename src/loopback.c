/*
 * loopback.c - a ControllerAccess whose controller lives in this process
 *
 * The controller side runs on a thread pool of the loopback's own: the ops
 * a Session invokes must not block, so handler invocations (and the results
 * of controller -> executor calls) are tasks on that pool, never run on the
 * executor thread that made the call.
 *
 * Locks: LC->Lock protects Handlers (fixed from attach on), S,
 * Disconnected, Deliveries, NextCallId and Pending; LC->Cond is signalled
 * when Deliveries drops to zero after disconnect. LC->Lock is never held
 * across a call into the Session or a handler, so it is taken after
 * nothing and before nothing: lock order LC->Lock alone (the Session's
 * S->Lock is only ever taken with it released).
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/loopback.h>

#include "session-internal.h"
#include "util/array.h"

struct handler {
  orc_rt_ExecutorAddr Tag;
  orc_rt_LoopbackHandlerFn Fn;
  void *Ctx;
};

struct orc_rt_OpaqueLoopbackController {
  pthread_mutex_t Lock; /* protects the fields below but Pool */
  pthread_cond_t Cond;  /* Deliveries reached 0 after disconnect */
  orc_rt_TaskDispatcherRef Pool; /* fixed from create on */

  ORCRT_ARRAY(struct handler) Handlers; /* sorted by Tag; fixed from attach on */

  orc_rt_SessionRef S; /* set by Connect */
  bool Disconnected;
  unsigned Deliveries; /* threads inside a call into the Session */

  uint64_t NextCallId;
  struct orcrt_u64map Pending; /* controller -> executor calls: CallId -> struct orcrt_call */
};

static void lc_lock(orc_rt_LoopbackControllerRef LC) {
  pthread_mutex_lock(&LC->Lock);
}

static void lc_unlock(orc_rt_LoopbackControllerRef LC) {
  pthread_mutex_unlock(&LC->Lock);
}

/* The handler for Tag, or NULL. Lock held. */
static const struct handler *find_handler_locked(orc_rt_LoopbackControllerRef LC,
                                                 orc_rt_ExecutorAddr Tag) {
  size_t At;
  return ORCRT_ARRAY_FIND_BY(&LC->Handlers, Tag, Tag, &At) ? &LC->Handlers.Items[At] : NULL;
}

/* Begin a call into the Session; returns it, or NULL if LC no longer delivers. */
static orc_rt_SessionRef delivery_begin_locked(orc_rt_LoopbackControllerRef LC) {
  if (!LC->S || LC->Disconnected)
    return NULL;
  LC->Deliveries++;
  return LC->S;
}

static void delivery_end(orc_rt_LoopbackControllerRef LC) {
  lc_lock(LC);
  if (--LC->Deliveries == 0 && LC->Disconnected)
    pthread_cond_broadcast(&LC->Cond);
  lc_unlock(LC);
}

/* ---- creation ------------------------------------------------------------ */

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_LoopbackController_create(orc_rt_LoopbackControllerRef *Out) {
  orc_rt_LoopbackControllerRef LC = calloc(1, sizeof(*LC));
  if (!LC)
    return orc_rt_Error_create("cannot create a loopback controller: out of memory");
  int Rc = pthread_mutex_init(&LC->Lock, NULL);
  if (Rc == 0 && (Rc = pthread_cond_init(&LC->Cond, NULL)) != 0)
    pthread_mutex_destroy(&LC->Lock);
  if (Rc) {
    free(LC);
    return orc_rt_Error_fromErrno(Rc, "cannot create a loopback controller");
  }
  orcrt_pending_init(&LC->Pending);
  orc_rt_ErrorRef Err = orc_rt_ThreadPoolTaskDispatcher_create(0, &LC->Pool);
  if (Err) {
    pthread_cond_destroy(&LC->Cond);
    pthread_mutex_destroy(&LC->Lock);
    free(LC);
    return Err;
  }
  *Out = LC;
  return NULL;
}

static void loopback_free(orc_rt_LoopbackControllerRef LC) {
  /* Pending tasks are run or destroyed here, completing what they carry. */
  orc_rt_TaskDispatcher_destroy(LC->Pool);
  orcrt_pending_fail_all(&LC->Pending, "loopback controller destroyed");
  ORCRT_ARRAY_FREE(&LC->Handlers);
  pthread_cond_destroy(&LC->Cond);
  pthread_mutex_destroy(&LC->Lock);
  free(LC);
}

ORC_RT_EXPORT void orc_rt_LoopbackController_destroy(orc_rt_LoopbackControllerRef LC) {
  /* An attached LC belongs to its Session, which frees it. */
  if (!LC || LC->S)
    return;
  loopback_free(LC);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_LoopbackController_addHandler(orc_rt_LoopbackControllerRef LC,
                                                                   orc_rt_ExecutorAddr Tag,
                                                                   orc_rt_LoopbackHandlerFn Fn,
                                                                   void *Ctx) {
  orc_rt_ErrorRef Err = NULL;
  if (!Fn)
    return orc_rt_Error_create("handler for tag %#" PRIx64 " is NULL", Tag);
  lc_lock(LC);
  if (LC->S) {
    Err = orc_rt_Error_create("cannot add handler %#" PRIx64 ": the controller is attached", Tag);
    goto out;
  }
  struct handler H = {Tag, Fn, Ctx};
  enum orcrt_array_insert_result R = ORCRT_ARRAY_INSERT_SORTED_BY(&LC->Handlers, Tag, &H);
  if (R == ORCRT_ARRAY_PRESENT)
    Err = orc_rt_Error_create("duplicate handler tag %#" PRIx64, Tag);
  else if (R == ORCRT_ARRAY_NO_MEMORY)
    Err = orc_rt_Error_create("cannot add handler %#" PRIx64 ": out of memory", Tag);
out:
  lc_unlock(LC);
  return Err;
}

/* ---- the ControllerAccess ops ---------------------------------------------- */

static orc_rt_ErrorRef loopback_connect(void *Ctx, orc_rt_SessionRef S) {
  orc_rt_LoopbackControllerRef LC = Ctx;
  orc_rt_ErrorRef Err = NULL;
  lc_lock(LC);
  if (LC->S)
    Err = orc_rt_Error_create("loopback controller is already attached");
  else if (LC->Disconnected)
    Err = orc_rt_Error_create("loopback controller is disconnected");
  else
    LC->S = S;
  lc_unlock(LC);
  return Err;
}

struct handler_call {
  orc_rt_LoopbackControllerRef LC;
  uint64_t CallId;
  orc_rt_ExecutorAddr Tag;
  orc_rt_WrapperFunctionBuffer Args;
};

static void handler_call_run(void *Ctx) {
  struct handler_call C = *(struct handler_call *)Ctx;
  free(Ctx);
  orc_rt_LoopbackControllerRef LC = C.LC;
  lc_lock(LC);
  /* After disconnect no call is accepted; the Session fails this one itself. */
  bool Drop = LC->Disconnected;
  const struct handler *Found = find_handler_locked(LC, C.Tag);
  struct handler H = Found ? *Found : (struct handler){0, NULL, NULL};
  lc_unlock(LC);
  if (Drop) {
    orc_rt_WrapperFunctionBuffer_dispose(&C.Args);
    return;
  }
  if (!H.Fn) {
    orc_rt_WrapperFunctionBuffer_dispose(&C.Args);
    char Msg[64];
    snprintf(Msg, sizeof(Msg), "no handler for tag %#" PRIx64, C.Tag);
    orc_rt_LoopbackController_returnResult(LC, C.CallId,
                                           orc_rt_WrapperFunctionBuffer_fromOutOfBandError(Msg));
    return;
  }
  H.Fn(H.Ctx, LC, C.CallId, C.Args);
}

/*
 * The loopback's pool refused the handler task (out of memory, or no thread
 * could be started): answer the call so that the executor is not left
 * waiting until detach. After disconnect the answer is dropped safely.
 */
static void handler_call_destroy(void *Ctx) {
  struct handler_call *C = Ctx;
  orc_rt_WrapperFunctionBuffer_dispose(&C->Args);
  orc_rt_LoopbackController_returnResult(
      C->LC, C->CallId,
      orc_rt_WrapperFunctionBuffer_fromOutOfBandError("controller could not run the handler"));
  free(C);
}

static void loopback_call_controller(void *Ctx, uint64_t CallId, orc_rt_ExecutorAddr HandlerTag,
                                     orc_rt_WrapperFunctionBuffer ArgBytes) {
  orc_rt_LoopbackControllerRef LC = Ctx;
  struct handler_call *C = malloc(sizeof(*C));
  if (!C) {
    orc_rt_WrapperFunctionBuffer_dispose(&ArgBytes);
    orc_rt_LoopbackController_returnResult(
        LC, CallId, orc_rt_WrapperFunctionBuffer_fromOutOfBandError("controller out of memory"));
    return;
  }
  *C = (struct handler_call){LC, CallId, HandlerTag, ArgBytes};
  orc_rt_Task T = {handler_call_run, handler_call_destroy, C};
  orc_rt_TaskDispatcher_dispatch(LC->Pool, T);
}

/* The result of a controller -> executor call, on its way to OnResult. */
struct result_delivery {
  struct orcrt_call Call;
  orc_rt_WrapperFunctionBuffer Result;
};

static void result_delivery_run(void *Ctx) {
  struct result_delivery D = *(struct result_delivery *)Ctx;
  free(Ctx);
  D.Call.Fn(D.Call.Ctx, D.Result);
}

static void loopback_send_result(void *Ctx, uint64_t CallId,
                                 orc_rt_WrapperFunctionBuffer ResultBytes) {
  orc_rt_LoopbackControllerRef LC = Ctx;
  struct orcrt_call Call;
  lc_lock(LC);
  bool Found = orcrt_u64map_remove(&LC->Pending, CallId, &Call);
  lc_unlock(LC);
  if (!Found) {
    /* Failed already by a disconnect. */
    orc_rt_WrapperFunctionBuffer_dispose(&ResultBytes);
    return;
  }
  struct result_delivery *D = malloc(sizeof(*D));
  if (!D) {
    Call.Fn(Call.Ctx, ResultBytes);
    return;
  }
  *D = (struct result_delivery){Call, ResultBytes};
  /* Run or destroyed unrun, the result reaches OnResult exactly once. */
  orc_rt_Task T = {result_delivery_run, result_delivery_run, D};
  orc_rt_TaskDispatcher_dispatch(LC->Pool, T);
}

static void loopback_disconnect(void *Ctx) {
  orc_rt_LoopbackControllerRef LC = Ctx;
  lc_lock(LC);
  bool First = !LC->Disconnected;
  LC->Disconnected = true;
  while (LC->Deliveries)
    pthread_cond_wait(&LC->Cond, &LC->Lock);
  struct orcrt_u64map Pending;
  orcrt_pending_init(&Pending);
  if (First)
    orcrt_u64map_take(&LC->Pending, &Pending);
  lc_unlock(LC);
  orcrt_pending_fail_all(&Pending, "loopback controller disconnected");
}

static void loopback_destroy_op(void *Ctx) {
  loopback_free(Ctx);
}

static const orc_rt_ControllerAccessOps LoopbackOps = {
    .Connect = loopback_connect,
    .CallController = loopback_call_controller,
    .SendResult = loopback_send_result,
    .Disconnect = loopback_disconnect,
    .Destroy = loopback_destroy_op,
};

static void discard_result(void *Ctx, orc_rt_WrapperFunctionBuffer Result) {
  (void)Ctx;
  orc_rt_WrapperFunctionBuffer_dispose(&Result);
}

/* ---- the controller side ------------------------------------------------------ */

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_LoopbackController_attach(orc_rt_SessionRef S,
                                                               orc_rt_LoopbackControllerRef LC) {
  return orc_rt_Session_attach(S, &LoopbackOps, LC);
}

ORC_RT_EXPORT void orc_rt_LoopbackController_returnResult(orc_rt_LoopbackControllerRef LC,
                                                          uint64_t CallId,
                                                          orc_rt_WrapperFunctionBuffer Result) {
  lc_lock(LC);
  orc_rt_SessionRef S = delivery_begin_locked(LC);
  lc_unlock(LC);
  if (!S) {
    orc_rt_WrapperFunctionBuffer_dispose(&Result);
    return;
  }
  orc_rt_ErrorRef Err = orc_rt_Session_handleCallResult(S, CallId, Result);
  if (Err)
    orc_rt_Session_reportError(S, Err);
  delivery_end(LC);
}

ORC_RT_EXPORT void orc_rt_LoopbackController_callWrapper(orc_rt_LoopbackControllerRef LC,
                                                         orc_rt_ExecutorAddr Fn,
                                                         orc_rt_WrapperFunctionBuffer Args,
                                                         orc_rt_CallResultFn OnResult, void *Ctx) {
  const char *Why = NULL;
  if (!OnResult)
    OnResult = discard_result;
  lc_lock(LC);
  uint64_t Id = LC->NextCallId;
  orc_rt_SessionRef S = NULL;
  if (!LC->S)
    Why = "loopback controller is not attached";
  else if (LC->Disconnected)
    Why = "loopback controller disconnected";
  else if (!orcrt_pending_add(&LC->Pending, Id, OnResult, Ctx))
    Why = "controller out of memory";
  else {
    LC->NextCallId++;
    S = delivery_begin_locked(LC);
  }
  lc_unlock(LC);
  if (Why) {
    orc_rt_WrapperFunctionBuffer_dispose(&Args);
    OnResult(Ctx, orc_rt_WrapperFunctionBuffer_fromOutOfBandError(Why));
    return;
  }
  orc_rt_Session_handleWrapperCall(S, Id, Fn, Args);
  delivery_end(LC);
}

static void call_wrapper(void *Target, orc_rt_ExecutorAddr Fn, orc_rt_WrapperFunctionBuffer Args,
                         orc_rt_CallResultFn OnResult, void *Ctx) {
  orc_rt_LoopbackController_callWrapper(Target, Fn, Args, OnResult, Ctx);
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer orc_rt_LoopbackController_callWrapperSync(
    orc_rt_LoopbackControllerRef LC, orc_rt_ExecutorAddr Fn, const char *ArgData, size_t ArgSize) {
  return orcrt_call_and_wait(call_wrapper, LC, Fn, ArgData, ArgSize, LC->Pool);
}

ORC_RT_EXPORT void orc_rt_LoopbackController_hangUp(orc_rt_LoopbackControllerRef LC) {
  lc_lock(LC);
  orc_rt_SessionRef S = LC->S;
  lc_unlock(LC);
  /* The Session detaches, and its Disconnect fails what is pending here. */
  if (S)
    orc_rt_Session_handleDisconnect(S, NULL);
  else
    loopback_disconnect(LC);
}

ORC_RT_EXPORT void orc_rt_LoopbackController_disconnect(orc_rt_LoopbackControllerRef LC) {
  loopback_disconnect(LC);
}

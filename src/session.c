/*
 * session.c - the root object of one JIT'd program: its state machine
 *
 * Lifecycle (created, attached, detaching, detached, shutting down, shut
 * down), attach, the Services and their notification, the log and the
 * error reporter. Detach and shutdown may be requested from any thread,
 * including a task of the Session's own dispatcher or a ControllerAccess's
 * I/O thread, so their blocking work (disconnecting, waiting for Services
 * and for calls in flight, shutting the dispatcher down) runs on a control
 * thread the Session starts on the first such request and joins when it is
 * destroyed. The calls themselves are in session-calls.c, the symbol
 * tables in session-symbols.c.
 *
 * Locks: everything mutable lives under S->Lock and S->Cond
 * (session-private.h); the Service records (struct service) too. Each
 * Service op and completion callback runs with the lock released.
 */
#include "session-private.h"

#include <signal.h>
#include <stdlib.h>

#include <orcrt/log.h>

#include "task-dispatcher-internal.h"

void *(*orcrt_session_fault_malloc)(size_t Size);

/* How far one notification of one Service has got. */
enum note_state { NOTE_NONE, NOTE_STARTED, NOTE_DONE };

struct service {
  orc_rt_SessionRef S;
  const orc_rt_ServiceOps *Ops;
  void *Ctx;
  unsigned char Detach;   /* enum note_state */
  unsigned char Shutdown; /* enum note_state */
  /* Added once shutdown had begun: its Detach completion starts Shutdown. */
  bool ShutdownAfterDetach;
};

/* ---- small helpers ----------------------------------------------------- */

static const char *service_name(const struct service *Svc) {
  return Svc->Ops->Name ? Svc->Ops->Name : "(unnamed)";
}

/* ---- creation and destruction ----------------------------------------- */

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_create(orc_rt_TaskDispatcherRef Dispatcher,
                                                    orc_rt_SessionRef *Out) {
  orc_rt_ErrorRef Err = NULL;
  orc_rt_SessionRef S = NULL;
  if (!Dispatcher || !Out) {
    Err = orc_rt_Error_create("orc_rt_Session_create: %s is NULL",
                              Dispatcher ? "Out" : "the dispatcher");
    goto fail;
  }
  S = calloc(1, sizeof(*S));
  if (!S) {
    Err = orc_rt_Error_create("cannot create a session: out of memory");
    goto fail;
  }
  int Rc = pthread_mutex_init(&S->Lock, NULL);
  if (Rc == 0 && (Rc = pthread_cond_init(&S->Cond, NULL)) != 0)
    pthread_mutex_destroy(&S->Lock);
  if (Rc) {
    free(S);
    Err = orc_rt_Error_fromErrno(Rc, "cannot create a session");
    goto fail;
  }
  S->State = SESSION_CREATED;
  orcrt_pending_init(&S->Pending);
  orcrt_u64map_init(&S->Live, sizeof(struct live_call));
  orcrt_log_init(&S->Log);
  S->Dispatcher = Dispatcher;
  S->OnDetach.Tail = &S->OnDetach.Head;
  S->OnShutdown.Tail = &S->OnShutdown.Head;
  S->OnDrained.Tail = &S->OnDrained.Head;
  *Out = S;
  return NULL;

fail:
  /* As everywhere in the library: on failure nothing was taken. */
  return Err;
}

static void control_run(orc_rt_SessionRef S);

ORC_RT_EXPORT void orc_rt_Session_destroy(orc_rt_SessionRef S) {
  if (!S)
    return;
  session_lock(S);
  S->ShutdownRequested = true;
  S->Exiting = true;
  bool Inline = !S->ThreadStarted;
  pthread_cond_broadcast(&S->Cond);
  session_unlock(S);
  /* Without a control thread (none was ever needed, or it could not start) do its work here. */
  if (Inline)
    control_run(S);
  else
    pthread_join(S->Thread, NULL);

  /* Services added late are notified by whoever added them: wait for those too. */
  session_lock(S);
  for (size_t I = 0; I < S->Services.Len; I++)
    while (S->Services.Items[I]->Detach != NOTE_DONE || S->Services.Items[I]->Shutdown != NOTE_DONE)
      session_wait(S);
  session_unlock(S);

  /* The ControllerAccess first: it may still have threads that call into S. */
  if (S->CAOps && S->CAOps->Destroy)
    S->CAOps->Destroy(S->CACtx);
  for (size_t I = S->Services.Len; I-- > 0;) {
    struct service *Svc = S->Services.Items[I];
    if (Svc->Ops->Destroy)
      Svc->Ops->Destroy(Svc->Ctx);
    free(Svc);
  }
  orc_rt_TaskDispatcher_destroy(S->Dispatcher);

  ORCRT_ARRAY_FREE(&S->Services);
  orcrt_session_symbols_free(S);
  free(S->DisconnectMsg);
  orcrt_u64map_free(&S->Pending);
  orcrt_u64map_free(&S->Live);
  pthread_cond_destroy(&S->Cond);
  pthread_mutex_destroy(&S->Lock);
  free(S);
}

ORC_RT_EXPORT orc_rt_TaskDispatcherRef orc_rt_Session_getDispatcher(orc_rt_SessionRef S) {
  return S->Dispatcher;
}

/* ---- log and errors ----------------------------------------------------- */

ORC_RT_EXPORT void orc_rt_Session_setLogFn(orc_rt_SessionRef S, orc_rt_LogFn Fn, void *Ctx) {
  if (!Fn) {
    struct orcrt_log Default;
    orcrt_log_init(&Default);
    Fn = Default.Fn;
    Ctx = Default.Ctx;
  }
  session_lock(S);
  bool Late = session_frozen_locked(S);
  if (!Late) {
    S->Log.Fn = Fn;
    S->Log.Ctx = Ctx;
  }
  session_unlock(S);
  /* Other threads read the log without locking once attached. */
  if (Late)
    orc_rt_Session_log(S, orc_rt_LogLevel_Warning, "log function set after attach: ignored");
}

ORC_RT_EXPORT void orc_rt_Session_setErrorReporter(orc_rt_SessionRef S, orc_rt_ErrorReporterFn Fn,
                                                   void *Ctx) {
  session_lock(S);
  S->ReporterFn = Fn;
  S->ReporterCtx = Fn ? Ctx : NULL;
  session_unlock(S);
}

ORC_RT_EXPORT void orc_rt_Session_reportError(orc_rt_SessionRef S, orc_rt_ErrorRef Err) {
  if (!Err)
    return;
  session_lock(S);
  orc_rt_ErrorReporterFn Fn = S->ReporterFn;
  void *Ctx = S->ReporterCtx;
  session_unlock(S);
  if (Fn) {
    Fn(Ctx, Err);
    return;
  }
  orc_rt_Session_log(S, orc_rt_LogLevel_Error, "%s", orc_rt_Error_getMessage(Err));
  orc_rt_Error_consume(Err);
}

ORC_RT_EXPORT const char *orc_rt_Session_getDisconnectError(orc_rt_SessionRef S) {
  session_lock(S);
  const char *Msg = S->DisconnectMsg;
  session_unlock(S);
  return Msg;
}

/* ---- Services ----------------------------------------------------------- */

static void service_detach_done(void *Ctx);
static void service_shutdown_done(void *Ctx);

static void service_start_detach(struct service *Svc) {
  orc_rt_Session_log(Svc->S, orc_rt_LogLevel_Debug, "detaching service %s", service_name(Svc));
  if (Svc->Ops->Detach)
    Svc->Ops->Detach(Svc->Ctx, Svc->S, service_detach_done, Svc);
  else
    service_detach_done(Svc);
}

static void service_start_shutdown(struct service *Svc) {
  orc_rt_Session_log(Svc->S, orc_rt_LogLevel_Debug, "shutting down service %s", service_name(Svc));
  if (Svc->Ops->Shutdown)
    Svc->Ops->Shutdown(Svc->Ctx, Svc->S, service_shutdown_done, Svc);
  else
    service_shutdown_done(Svc);
}

/* Mark one notification of Svc done; false if it already was (a Service bug). */
static bool service_mark_done_locked(struct service *Svc, unsigned char *Note) {
  if (*Note != NOTE_STARTED)
    return false;
  *Note = NOTE_DONE;
  pthread_cond_broadcast(&Svc->S->Cond);
  return true;
}

static void service_detach_done(void *Ctx) {
  struct service *Svc = Ctx;
  orc_rt_SessionRef S = Svc->S;
  session_lock(S);
  bool Ok = service_mark_done_locked(Svc, &Svc->Detach);
  bool ThenShutdown = Ok && Svc->ShutdownAfterDetach;
  session_unlock(S);
  if (!Ok)
    orc_rt_Session_reportError(
        S, orc_rt_Error_create("service %s completed detach more than once", service_name(Svc)));
  if (ThenShutdown)
    service_start_shutdown(Svc);
}

static void service_shutdown_done(void *Ctx) {
  struct service *Svc = Ctx;
  orc_rt_SessionRef S = Svc->S;
  session_lock(S);
  bool Ok = service_mark_done_locked(Svc, &Svc->Shutdown);
  session_unlock(S);
  if (!Ok)
    orc_rt_Session_reportError(
        S, orc_rt_Error_create("service %s completed shutdown more than once", service_name(Svc)));
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_addService(orc_rt_SessionRef S,
                                                        const orc_rt_ServiceOps *Ops, void *Ctx) {
  if (!Ops)
    return orc_rt_Error_create("service without operations");
  struct service *Svc = calloc(1, sizeof(*Svc));
  if (!Svc)
    return orc_rt_Error_create("cannot add service %s: out of memory",
                               Ops->Name ? Ops->Name : "(unnamed)");
  Svc->S = S;
  Svc->Ops = Ops;
  Svc->Ctx = Ctx;
  session_lock(S);
  if (!ORCRT_ARRAY_PUSH(&S->Services, &Svc)) {
    session_unlock(S);
    free(Svc);
    return orc_rt_Error_create("cannot add service %s: out of memory",
                               Ops->Name ? Ops->Name : "(unnamed)");
  }
  /* Added after detach (or shutdown) began: this thread tells it at once. */
  bool TellNow = S->State >= SESSION_DETACHING;
  if (TellNow)
    Svc->Detach = NOTE_STARTED;
  if (S->State >= SESSION_SHUTTING_DOWN) {
    Svc->Shutdown = NOTE_STARTED;
    Svc->ShutdownAfterDetach = true;
  }
  session_unlock(S);
  if (TellNow)
    service_start_detach(Svc);
  return NULL;
}

ORC_RT_EXPORT void *orc_rt_Session_findService(orc_rt_SessionRef S, const orc_rt_ServiceOps *Ops) {
  void *Ctx = NULL;
  session_lock(S);
  for (size_t I = 0; I < S->Services.Len; I++)
    if (S->Services.Items[I]->Ops == Ops) {
      Ctx = S->Services.Items[I]->Ctx;
      break;
    }
  session_unlock(S);
  return Ctx;
}

static unsigned char *note_of(struct service *Svc, bool Detach) {
  return Detach ? &Svc->Detach : &Svc->Shutdown;
}

/*
 * Tell every Service not yet told, in reverse order of registration, each
 * only after the previous one completed; then wait for those that late
 * adders are telling. Called and returns with the lock held.
 */
static void notify_services_locked(orc_rt_SessionRef S, bool Detach) {
  for (size_t I = S->Services.Len; I-- > 0;) {
    struct service *Svc = S->Services.Items[I];
    unsigned char *Note = note_of(Svc, Detach);
    if (*Note != NOTE_NONE)
      continue;
    *Note = NOTE_STARTED;
    session_unlock(S);
    if (Detach)
      service_start_detach(Svc);
    else
      service_start_shutdown(Svc);
    session_lock(S);
    while (*Note != NOTE_DONE)
      session_wait(S);
  }
  for (size_t I = 0; I < S->Services.Len; I++)
    while (*note_of(S->Services.Items[I], Detach) != NOTE_DONE)
      session_wait(S);
}

/* ---- the control thread -------------------------------------------------- */

/*
 * A node for one completion callback: from malloc(), else one of the
 * Session's spares, so that an allocation failure does not drop the
 * callback; NULL only if all the spares are queued too. Lock held.
 */
static struct completion *new_completion_locked(orc_rt_SessionRef S) {
  struct completion *C =
      orcrt_session_fault_malloc ? orcrt_session_fault_malloc(sizeof(*C)) : malloc(sizeof(*C));
  for (size_t I = 0; !C && I < SESSION_SPARE_COMPLETIONS; I++)
    if (!S->Spare[I].Fn)
      C = &S->Spare[I];
  return C;
}

/* Release a node new_completion_locked() gave; the lock is not held. */
static void free_completion(orc_rt_SessionRef S, struct completion *C) {
  for (size_t I = 0; I < SESSION_SPARE_COMPLETIONS; I++)
    if (C == &S->Spare[I]) {
      session_lock(S);
      C->Fn = NULL; /* free for reuse */
      session_unlock(S);
      return;
    }
  free(C);
}

/* Run the callbacks of L (emptied). Called and returns with the lock held. */
static void run_completions_locked(orc_rt_SessionRef S, struct completion_list *L) {
  struct completion *C = L->Head;
  L->Head = NULL;
  L->Tail = &L->Head;
  session_unlock(S);
  while (C) {
    struct completion Copy = *C;
    free_completion(S, C);
    Copy.Fn(Copy.Ctx);
    C = Copy.Next;
  }
  session_lock(S);
}

/* Log without holding the lock: a log function may call back into S. */
static void log_unlocked(orc_rt_SessionRef S, const char *Msg) {
  session_unlock(S);
  orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "%s", Msg);
  session_lock(S);
}

static void detach_locked(orc_rt_SessionRef S) {
  S->State = SESSION_DETACHING;
  pthread_cond_broadcast(&S->Cond);

  /* No new op starts now; the ones running are non-blocking, so this is short. */
  while (S->CAUsers)
    session_wait(S);
  const orc_rt_ControllerAccessOps *Ops = S->CAOps;
  void *Ctx = S->CACtx;
  session_unlock(S);
  orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "detaching");
  if (Ops && Ops->Disconnect)
    Ops->Disconnect(Ctx);
  session_lock(S);

  struct orcrt_u64map Pending;
  orcrt_u64map_take(&S->Pending, &Pending);
  session_unlock(S);
  orcrt_pending_fail_all(&Pending, "controller disconnected");
  session_lock(S);

  notify_services_locked(S, true);
  S->State = SESSION_DETACHED;
  pthread_cond_broadcast(&S->Cond);
  log_unlocked(S, "detached");
  run_completions_locked(S, &S->OnDetach);
}

static void shutdown_locked(orc_rt_SessionRef S) {
  S->State = SESSION_SHUTTING_DOWN;
  pthread_cond_broadcast(&S->Cond);
  log_unlocked(S, "shutting down");

  while (S->InFlight)
    session_wait(S);
  S->Drained = true;
  run_completions_locked(S, &S->OnDrained);
  /* Every call has been answered: the trace's counts are final. */
  session_unlock(S);
  orcrt_session_log_summary(S);
  session_lock(S);
  /* A Service added after detach may still be completing its detach. */
  for (size_t I = 0; I < S->Services.Len; I++)
    while (S->Services.Items[I]->Detach != NOTE_DONE)
      session_wait(S);
  notify_services_locked(S, false);

  session_unlock(S);
  orc_rt_TaskDispatcher_shutdown(S->Dispatcher);
  session_lock(S);

  S->State = SESSION_SHUTDOWN;
  pthread_cond_broadcast(&S->Cond);
  log_unlocked(S, "shut down");
  run_completions_locked(S, &S->OnShutdown);
}

/* Serve detach and shutdown requests until destroy asks to exit. */
static void control_run(orc_rt_SessionRef S) {
  session_lock(S);
  for (;;) {
    if ((S->DetachRequested || S->ShutdownRequested) && S->State < SESSION_DETACHING)
      detach_locked(S);
    else if (S->ShutdownRequested && S->State < SESSION_SHUTTING_DOWN)
      shutdown_locked(S);
    else if (S->Exiting && S->State == SESSION_SHUTDOWN)
      break;
    else
      session_wait(S);
  }
  session_unlock(S);
}

static void *control_main(void *Arg) {
  control_run(Arg);
  return NULL;
}

/* Start the control thread with every signal blocked: signals are the process's. */
static int start_control_thread_locked(orc_rt_SessionRef S) {
  sigset_t All, Old;
  sigfillset(&All);
  pthread_sigmask(SIG_SETMASK, &All, &Old);
  int Rc = pthread_create(&S->Thread, NULL, control_main, S);
  pthread_sigmask(SIG_SETMASK, &Old, NULL);
  if (Rc == 0)
    S->ThreadStarted = true;
  return Rc;
}

static void request(orc_rt_SessionRef S, bool Shutdown, orc_rt_CompletionFn OnDone, void *Ctx) {
  orc_rt_ErrorRef Err = NULL;
  session_lock(S);
  bool Done = Shutdown ? S->State == SESSION_SHUTDOWN : S->State >= SESSION_DETACHED;
  if (Done) {
    session_unlock(S);
    if (OnDone)
      OnDone(Ctx);
    return;
  }
  bool RunNow = false;
  if (OnDone) {
    struct completion *C = new_completion_locked(S);
    if (C) {
      struct completion_list *L = Shutdown ? &S->OnShutdown : &S->OnDetach;
      *C = (struct completion){OnDone, Ctx, NULL};
      *L->Tail = C;
      L->Tail = &C->Next;
    } else {
      /* Early rather than never (DESIGN S2): the caller is told why. */
      RunNow = true;
      Err = orc_rt_Error_create("out of memory: a %s callback runs before the %s completed",
                                Shutdown ? "shutdown" : "detach", Shutdown ? "shutdown" : "detach");
    }
  }
  if (Shutdown)
    S->ShutdownRequested = true;
  else
    S->DetachRequested = true;
  /* Once destroy has begun, it does (or joins) the work itself. */
  if (!S->ThreadStarted && !S->Exiting) {
    int Rc = start_control_thread_locked(S);
    if (Rc)
      Err = orc_rt_Error_join(Err, orc_rt_Error_fromErrno(Rc, "cannot start the control thread"));
  }
  pthread_cond_broadcast(&S->Cond);
  session_unlock(S);
  orc_rt_Session_reportError(S, Err);
  if (RunNow)
    OnDone(Ctx);
}

void orcrt_session_on_drained(orc_rt_SessionRef S, orc_rt_CompletionFn OnDone, void *Ctx) {
  session_lock(S);
  struct completion *C = S->Drained ? NULL : new_completion_locked(S);
  if (C) {
    *C = (struct completion){OnDone, Ctx, NULL};
    *S->OnDrained.Tail = C;
    S->OnDrained.Tail = &C->Next;
  }
  bool Now = !C;
  bool Early = Now && !S->Drained;
  session_unlock(S);
  if (Early)
    orc_rt_Session_reportError(S, orc_rt_Error_create("out of memory: a callback for the end of "
                                                      "the calls runs before it"));
  if (Now)
    OnDone(Ctx);
}

ORC_RT_EXPORT void orc_rt_Session_detach(orc_rt_SessionRef S, orc_rt_CompletionFn OnDone,
                                         void *Ctx) {
  request(S, false, OnDone, Ctx);
}

ORC_RT_EXPORT void orc_rt_Session_shutdown(orc_rt_SessionRef S, orc_rt_CompletionFn OnDone,
                                           void *Ctx) {
  request(S, true, OnDone, Ctx);
}

ORC_RT_EXPORT void orc_rt_Session_waitForDetach(orc_rt_SessionRef S) {
  session_lock(S);
  while (S->State < SESSION_DETACHED)
    session_wait(S);
  session_unlock(S);
}

ORC_RT_EXPORT bool orc_rt_Session_isAttached(orc_rt_SessionRef S) {
  session_lock(S);
  bool Attached = S->CAOps != NULL;
  session_unlock(S);
  return Attached;
}

ORC_RT_EXPORT bool orc_rt_Session_isDetached(orc_rt_SessionRef S) {
  session_lock(S);
  bool Detached = S->State >= SESSION_DETACHING;
  session_unlock(S);
  return Detached;
}

/* ---- attaching ------------------------------------------------------------ */

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_attach(orc_rt_SessionRef S,
                                                    const orc_rt_ControllerAccessOps *Ops,
                                                    void *Ctx) {
  if (!Ops)
    return orc_rt_Error_create("cannot attach: no ControllerAccess operations");
  session_lock(S);
  if (S->CAOps) {
    session_unlock(S);
    return orc_rt_Error_create("cannot attach: the session is already attached");
  }
  if (S->State != SESSION_CREATED) {
    session_unlock(S);
    return orc_rt_Error_create("cannot attach: the session is detached");
  }
  /* Connect may deliver calls at once, so S is attached from here on. */
  S->CAOps = Ops;
  S->CACtx = Ctx;
  S->State = SESSION_ATTACHED;
  S->TraceStart = orcrt_trace_now();
  size_t NumSymbols = S->Symbols.Len, NumWrappers = S->Wrappers.Len;
  S->CAUsers++; /* a detach meanwhile waits for Connect to return */
  session_unlock(S);

  orc_rt_ErrorRef Err = Ops->Connect ? Ops->Connect(Ctx, S) : NULL;

  session_lock(S);
  S->CAUsers--;
  if (Err) {
    S->CAOps = NULL;
    S->CACtx = NULL;
    if (S->State == SESSION_ATTACHED)
      S->State = SESSION_CREATED;
  }
  pthread_cond_broadcast(&S->Cond);
  session_unlock(S);
  if (!Err)
    orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "attached: %zu bootstrap symbols, %zu wrapper functions",
                       NumSymbols, NumWrappers);
  return Err;
}

/* ---- the ControllerAccess's end -------------------------------------------- */

ORC_RT_EXPORT void orc_rt_Session_handleDisconnect(orc_rt_SessionRef S, orc_rt_ErrorRef Reason) {
  if (Reason) {
    char *Msg = orc_rt_Error_toString(Reason);
    orc_rt_Session_log(S, orc_rt_LogLevel_Error, "controller channel failed: %s", Msg ? Msg : "out of memory");
    session_lock(S);
    if (Msg && !S->DisconnectMsg) {
      S->DisconnectMsg = Msg;
      Msg = NULL;
    }
    session_unlock(S);
    free(Msg);
  } else {
    orc_rt_Session_log(S, orc_rt_LogLevel_Info, "controller channel closed");
  }
  request(S, false, NULL, NULL);
}

/*
 * session.c - the root object of one JIT'd program
 *
 * Everything mutable lives under one mutex and one condition variable.
 * Detach and shutdown may be requested from any thread, including a task of
 * the Session's own dispatcher or a ControllerAccess's I/O thread, so their
 * blocking work (disconnecting, waiting for Services and for calls in
 * flight, shutting the dispatcher down) runs on a control thread the Session
 * starts on the first such request and joins when it is destroyed.
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/log.h>
#include <orcrt/session.h>

#include "session-internal.h"
#include "task-dispatcher-internal.h"

/* The states are ordered: later states compare greater. */
enum session_state {
  SESSION_CREATED,
  SESSION_ATTACHED,
  SESSION_DETACHING,
  SESSION_DETACHED,
  SESSION_SHUTTING_DOWN,
  SESSION_SHUTDOWN,
};

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

/* A queued detach or shutdown completion callback. */
struct completion {
  orc_rt_CompletionFn Fn;
  void *Ctx;
  struct completion *Next;
};

struct completion_list {
  struct completion *Head;
  struct completion **Tail;
};

struct orc_rt_OpaqueSession {
  pthread_mutex_t Lock;
  pthread_cond_t Cond;
  enum session_state State;
  struct orcrt_log Log;
  orc_rt_TaskDispatcherRef Dispatcher;

  /* The ControllerAccess; CAOps is set from attach on (NULL if never). */
  const orc_rt_ControllerAccessOps *CAOps;
  void *CACtx;
  unsigned CAUsers; /* threads inside a ControllerAccess op (or Connect) */

  uint64_t NextCallId;
  struct orcrt_callmap Pending; /* executor -> controller calls */
  size_t InFlight;              /* incoming calls running, not yet returned */

  struct service **Services; /* in registration order */
  size_t NumServices, CapServices;

  orc_rt_BootstrapSymbol *Symbols; /* Names strdup()ed */
  size_t NumSymbols, CapSymbols;

  orc_rt_ExecutorAddr *Wrappers; /* sorted, unique */
  size_t NumWrappers, CapWrappers;
  orc_rt_ExecutorAddr *ShortWrappers; /* marked short: a subset, sorted, unique */
  size_t NumShort, CapShort;

  orc_rt_CallTargetCheckFn CheckFn;
  void *CheckCtx;
  orc_rt_ErrorReporterFn ReporterFn;
  void *ReporterCtx;
  char *DisconnectMsg;

  /* The control thread and its requests. */
  bool DetachRequested, ShutdownRequested, Exiting, ThreadStarted;
  pthread_t Thread;
  struct completion_list OnDetach, OnShutdown;
};

/* ---- the table of pending calls ---------------------------------------- */

static size_t call_hash(uint64_t Id, size_t Mask) {
  return (size_t)((Id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & Mask;
}

static bool callmap_grow(struct orcrt_callmap *M) {
  size_t NewCap = M->Slots ? (M->Mask + 1) * 2 : 16;
  struct orcrt_call *New = calloc(NewCap, sizeof(*New));
  if (!New)
    return false;
  if (M->Slots) {
    for (size_t I = 0; I <= M->Mask; I++) {
      if (!M->Slots[I].Fn)
        continue;
      size_t J = call_hash(M->Slots[I].Id, NewCap - 1);
      while (New[J].Fn)
        J = (J + 1) & (NewCap - 1);
      New[J] = M->Slots[I];
    }
    free(M->Slots);
  }
  M->Slots = New;
  M->Mask = NewCap - 1;
  return true;
}

bool orcrt_callmap_insert(struct orcrt_callmap *M, struct orcrt_call C) {
  /* Keep the load at most one half, so probe sequences stay short. */
  if ((!M->Slots || (M->Count + 1) * 2 > M->Mask + 1) && !callmap_grow(M))
    return false;
  size_t I = call_hash(C.Id, M->Mask);
  while (M->Slots[I].Fn)
    I = (I + 1) & M->Mask;
  M->Slots[I] = C;
  M->Count++;
  return true;
}

bool orcrt_callmap_remove(struct orcrt_callmap *M, uint64_t Id, struct orcrt_call *Out) {
  if (!M->Slots)
    return false;
  size_t I = call_hash(Id, M->Mask);
  while (M->Slots[I].Fn && M->Slots[I].Id != Id)
    I = (I + 1) & M->Mask;
  if (!M->Slots[I].Fn)
    return false;
  *Out = M->Slots[I];
  /* Shift later members of the probe run back over the hole. */
  size_t J = I;
  for (;;) {
    J = (J + 1) & M->Mask;
    if (!M->Slots[J].Fn)
      break;
    size_t K = call_hash(M->Slots[J].Id, M->Mask);
    bool Stays = I <= J ? (I < K && K <= J) : (I < K || K <= J);
    if (Stays)
      continue;
    M->Slots[I] = M->Slots[J];
    I = J;
  }
  M->Slots[I].Fn = NULL;
  M->Count--;
  return true;
}

void orcrt_callmap_fail_all(struct orcrt_callmap *M, const char *Msg) {
  if (M->Slots)
    for (size_t I = 0; I <= M->Mask; I++)
      if (M->Slots[I].Fn)
        M->Slots[I].Fn(M->Slots[I].Ctx, orc_rt_WrapperFunctionBuffer_fromOutOfBandError(Msg));
  free(M->Slots);
  memset(M, 0, sizeof(*M));
}

/* ---- waiting for one result -------------------------------------------- */

void orcrt_waiter_init(struct orcrt_waiter *W) {
  pthread_mutex_init(&W->Lock, NULL);
  pthread_cond_init(&W->Cond, NULL);
  W->Done = false;
  orc_rt_WrapperFunctionBuffer_init(&W->Result);
}

void orcrt_waiter_complete(void *Ctx, orc_rt_WrapperFunctionBuffer Result) {
  struct orcrt_waiter *W = Ctx;
  pthread_mutex_lock(&W->Lock);
  W->Result = Result;
  W->Done = true;
  pthread_cond_signal(&W->Cond);
  pthread_mutex_unlock(&W->Lock);
}

orc_rt_WrapperFunctionBuffer orcrt_waiter_wait(struct orcrt_waiter *W, orc_rt_TaskDispatcherRef D) {
  pthread_mutex_lock(&W->Lock);
  if (!W->Done) {
    /* Tell the dispatcher before blocking, so nested calls still find a thread. */
    pthread_mutex_unlock(&W->Lock);
    if (D)
      orc_rt_TaskDispatcher_blockingBegin(D);
    pthread_mutex_lock(&W->Lock);
    while (!W->Done)
      pthread_cond_wait(&W->Cond, &W->Lock);
    pthread_mutex_unlock(&W->Lock);
    if (D)
      orc_rt_TaskDispatcher_blockingEnd(D);
  } else {
    pthread_mutex_unlock(&W->Lock);
  }
  orc_rt_WrapperFunctionBuffer R = W->Result;
  pthread_cond_destroy(&W->Cond);
  pthread_mutex_destroy(&W->Lock);
  return R;
}

/* ---- small helpers ----------------------------------------------------- */

static void lock(orc_rt_SessionRef S) {
  pthread_mutex_lock(&S->Lock);
}

static void unlock(orc_rt_SessionRef S) {
  pthread_mutex_unlock(&S->Lock);
}

static void wait_cond(orc_rt_SessionRef S) {
  pthread_cond_wait(&S->Cond, &S->Lock);
}

/* Grow *Array (of Cap elements of Size bytes) to hold at least Need. */
static bool reserve(void **Array, size_t *Cap, size_t Need, size_t Size) {
  if (Need <= *Cap)
    return true;
  size_t NewCap = *Cap ? *Cap * 2 : 8;
  while (NewCap < Need)
    NewCap *= 2;
  void *New = reallocarray(*Array, NewCap, Size);
  if (!New)
    return false;
  *Array = New;
  *Cap = NewCap;
  return true;
}

/* Bootstrap tables, wrapper set and check are fixed from attach on. */
static bool frozen_locked(orc_rt_SessionRef S) {
  return S->CAOps != NULL || S->State != SESSION_CREATED;
}

static void log_msg(orc_rt_SessionRef S, orc_rt_LogLevel Level, const char *Fmt, ...)
    ORC_RT_PRINTF(3, 4);

static void log_msg(orc_rt_SessionRef S, orc_rt_LogLevel Level, const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  orcrt_log_vprintf(&S->Log, Level, Fmt, Ap);
  va_end(Ap);
}

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
  pthread_mutex_init(&S->Lock, NULL);
  pthread_cond_init(&S->Cond, NULL);
  S->State = SESSION_CREATED;
  orcrt_log_init(&S->Log);
  S->Dispatcher = Dispatcher;
  S->OnDetach.Tail = &S->OnDetach.Head;
  S->OnShutdown.Tail = &S->OnShutdown.Head;
  *Out = S;
  return NULL;

fail:
  orc_rt_TaskDispatcher_destroy(Dispatcher);
  return Err;
}

static void control_run(orc_rt_SessionRef S);

ORC_RT_EXPORT void orc_rt_Session_destroy(orc_rt_SessionRef S) {
  if (!S)
    return;
  lock(S);
  S->ShutdownRequested = true;
  S->Exiting = true;
  bool Inline = !S->ThreadStarted;
  pthread_cond_broadcast(&S->Cond);
  unlock(S);
  /* Without a control thread (none was ever needed, or it could not start) do its work here. */
  if (Inline)
    control_run(S);
  else
    pthread_join(S->Thread, NULL);

  /* Services added late are notified by whoever added them: wait for those too. */
  lock(S);
  for (size_t I = 0; I < S->NumServices; I++)
    while (S->Services[I]->Detach != NOTE_DONE || S->Services[I]->Shutdown != NOTE_DONE)
      wait_cond(S);
  unlock(S);

  /* The ControllerAccess first: it may still have threads that call into S. */
  if (S->CAOps && S->CAOps->Destroy)
    S->CAOps->Destroy(S->CACtx);
  for (size_t I = S->NumServices; I-- > 0;) {
    struct service *Svc = S->Services[I];
    if (Svc->Ops->Destroy)
      Svc->Ops->Destroy(Svc->Ctx);
    free(Svc);
  }
  orc_rt_TaskDispatcher_destroy(S->Dispatcher);

  free(S->Services);
  for (size_t I = 0; I < S->NumSymbols; I++)
    free((char *)S->Symbols[I].Name);
  free(S->Symbols);
  free(S->Wrappers);
  free(S->ShortWrappers);
  free(S->DisconnectMsg);
  free(S->Pending.Slots);
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
  lock(S);
  bool Late = frozen_locked(S);
  if (!Late) {
    S->Log.Fn = Fn;
    S->Log.Ctx = Ctx;
  }
  unlock(S);
  /* Other threads read the log without locking once attached. */
  if (Late)
    log_msg(S, orc_rt_LogLevel_Warning, "log function set after attach: ignored");
}

ORC_RT_EXPORT void orc_rt_Session_setLogLevel(orc_rt_SessionRef S, orc_rt_LogLevel Level) {
  atomic_store_explicit(&S->Log.Level, (int)Level, memory_order_relaxed);
}

ORC_RT_EXPORT orc_rt_LogLevel orc_rt_Session_getLogLevel(orc_rt_SessionRef S) {
  return (orc_rt_LogLevel)atomic_load_explicit(&S->Log.Level, memory_order_relaxed);
}

ORC_RT_EXPORT void orc_rt_Session_log(orc_rt_SessionRef S, orc_rt_LogLevel Level, const char *Fmt,
                                      ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  orcrt_log_vprintf(&S->Log, Level, Fmt, Ap);
  va_end(Ap);
}

ORC_RT_EXPORT void orc_rt_Session_setErrorReporter(orc_rt_SessionRef S, orc_rt_ErrorReporterFn Fn,
                                                   void *Ctx) {
  lock(S);
  S->ReporterFn = Fn;
  S->ReporterCtx = Fn ? Ctx : NULL;
  unlock(S);
}

ORC_RT_EXPORT void orc_rt_Session_reportError(orc_rt_SessionRef S, orc_rt_ErrorRef Err) {
  if (!Err)
    return;
  lock(S);
  orc_rt_ErrorReporterFn Fn = S->ReporterFn;
  void *Ctx = S->ReporterCtx;
  unlock(S);
  if (Fn) {
    Fn(Ctx, Err);
    return;
  }
  log_msg(S, orc_rt_LogLevel_Error, "%s", orc_rt_Error_getMessage(Err));
  orc_rt_Error_consume(Err);
}

ORC_RT_EXPORT const char *orc_rt_Session_getDisconnectError(orc_rt_SessionRef S) {
  lock(S);
  const char *Msg = S->DisconnectMsg;
  unlock(S);
  return Msg;
}

/* ---- bootstrap symbols and wrapper functions --------------------------- */

static bool has_symbol_locked(orc_rt_SessionRef S, const char *Name) {
  for (size_t I = 0; I < S->NumSymbols; I++)
    if (strcmp(S->Symbols[I].Name, Name) == 0)
      return true;
  return false;
}

/* Index of the first wrapper >= Addr. */
static size_t wrapper_lower_bound(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  size_t Lo = 0, Hi = S->NumWrappers;
  while (Lo < Hi) {
    size_t Mid = Lo + (Hi - Lo) / 2;
    if (S->Wrappers[Mid] < Addr)
      Lo = Mid + 1;
    else
      Hi = Mid;
  }
  return Lo;
}

static bool is_wrapper_locked(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  size_t I = wrapper_lower_bound(S, Addr);
  return I < S->NumWrappers && S->Wrappers[I] == Addr;
}

/* Index of the first short wrapper >= Addr. */
static size_t short_lower_bound(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  size_t Lo = 0, Hi = S->NumShort;
  while (Lo < Hi) {
    size_t Mid = Lo + (Hi - Lo) / 2;
    if (S->ShortWrappers[Mid] < Addr)
      Lo = Mid + 1;
    else
      Hi = Mid;
  }
  return Lo;
}

static bool is_short_locked(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  size_t I = short_lower_bound(S, Addr);
  return I < S->NumShort && S->ShortWrappers[I] == Addr;
}

/*
 * Add Name (may be NULL) as a bootstrap symbol at Addr and, if IsWrapper,
 * Addr to the wrapper set; all or nothing.
 */
static orc_rt_ErrorRef add_symbol(orc_rt_SessionRef S, const char *Name, orc_rt_ExecutorAddr Addr,
                                  bool IsWrapper) {
  orc_rt_ErrorRef Err = NULL;
  char *Copy = NULL;
  if (Name && !(Copy = strdup(Name)))
    return orc_rt_Error_create("cannot add bootstrap symbol \"%s\": out of memory", Name);
  lock(S);
  if (frozen_locked(S)) {
    Err = orc_rt_Error_create("cannot add %s \"%s\": the session has been attached",
                              IsWrapper ? "wrapper function" : "bootstrap symbol",
                              Name ? Name : "(unnamed)");
    goto fail;
  }
  if (Name && has_symbol_locked(S, Name)) {
    Err = orc_rt_Error_create("duplicate bootstrap symbol \"%s\"", Name);
    goto fail;
  }
  if ((Name &&
       !reserve((void **)&S->Symbols, &S->CapSymbols, S->NumSymbols + 1, sizeof(*S->Symbols))) ||
      (IsWrapper && !reserve((void **)&S->Wrappers, &S->CapWrappers, S->NumWrappers + 1,
                             sizeof(*S->Wrappers)))) {
    Err = orc_rt_Error_create("cannot add \"%s\": out of memory", Name ? Name : "(unnamed)");
    goto fail;
  }
  if (Name) {
    S->Symbols[S->NumSymbols].Name = Copy;
    S->Symbols[S->NumSymbols].Addr = Addr;
    S->NumSymbols++;
  }
  if (IsWrapper && !is_wrapper_locked(S, Addr)) {
    size_t I = wrapper_lower_bound(S, Addr);
    memmove(S->Wrappers + I + 1, S->Wrappers + I, (S->NumWrappers - I) * sizeof(*S->Wrappers));
    S->Wrappers[I] = Addr;
    S->NumWrappers++;
  }
  unlock(S);
  return NULL;

fail:
  unlock(S);
  free(Copy);
  return Err;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_addBootstrapSymbol(orc_rt_SessionRef S,
                                                                const char *Name,
                                                                orc_rt_ExecutorAddr Addr) {
  if (!Name)
    return orc_rt_Error_create("bootstrap symbol without a name");
  return add_symbol(S, Name, Addr, false);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_addWrapperFunction(orc_rt_SessionRef S,
                                                                const char *Name,
                                                                orc_rt_WrapperFunction Fn) {
  if (!Fn)
    return orc_rt_Error_create("wrapper function \"%s\" is NULL", Name ? Name : "(unnamed)");
  return add_symbol(S, Name, (orc_rt_ExecutorAddr)(uintptr_t)Fn, true);
}

orc_rt_ErrorRef orcrt_session_mark_short(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn) {
  orc_rt_ExecutorAddr Addr = (orc_rt_ExecutorAddr)(uintptr_t)Fn;
  orc_rt_ErrorRef Err = NULL;
  lock(S);
  if (frozen_locked(S))
    Err =
        orc_rt_Error_create("cannot mark a wrapper function short: the session has been attached");
  else if (!is_wrapper_locked(S, Addr))
    Err = orc_rt_Error_create(
        "cannot mark %#" PRIx64 " short: not a wrapper function of the session", Addr);
  else if (!is_short_locked(S, Addr)) {
    if (!reserve((void **)&S->ShortWrappers, &S->CapShort, S->NumShort + 1,
                 sizeof(*S->ShortWrappers))) {
      Err = orc_rt_Error_create("cannot mark a wrapper function short: out of memory");
    } else {
      size_t I = short_lower_bound(S, Addr);
      memmove(S->ShortWrappers + I + 1, S->ShortWrappers + I,
              (S->NumShort - I) * sizeof(*S->ShortWrappers));
      S->ShortWrappers[I] = Addr;
      S->NumShort++;
    }
  }
  unlock(S);
  return Err;
}

ORC_RT_EXPORT const orc_rt_BootstrapSymbol *orc_rt_Session_getBootstrapSymbols(orc_rt_SessionRef S,
                                                                               size_t *Count) {
  lock(S);
  const orc_rt_BootstrapSymbol *Symbols = S->Symbols;
  *Count = S->NumSymbols;
  unlock(S);
  return Symbols;
}

ORC_RT_EXPORT bool orc_rt_Session_isWrapperFunction(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn) {
  lock(S);
  bool Is = is_wrapper_locked(S, Fn);
  unlock(S);
  return Is;
}

ORC_RT_EXPORT void orc_rt_Session_setCallTargetCheck(orc_rt_SessionRef S,
                                                     orc_rt_CallTargetCheckFn Fn, void *Ctx) {
  lock(S);
  bool Late = frozen_locked(S);
  if (!Late) {
    S->CheckFn = Fn;
    S->CheckCtx = Fn ? Ctx : NULL;
  }
  unlock(S);
  if (Late)
    orc_rt_Session_reportError(S,
                               orc_rt_Error_create("call target check set after attach: ignored"));
}

/* ---- Services ----------------------------------------------------------- */

static void service_detach_done(void *Ctx);
static void service_shutdown_done(void *Ctx);

static void service_start_detach(struct service *Svc) {
  log_msg(Svc->S, orc_rt_LogLevel_Debug, "detaching service %s", service_name(Svc));
  if (Svc->Ops->Detach)
    Svc->Ops->Detach(Svc->Ctx, Svc->S, service_detach_done, Svc);
  else
    service_detach_done(Svc);
}

static void service_start_shutdown(struct service *Svc) {
  log_msg(Svc->S, orc_rt_LogLevel_Debug, "shutting down service %s", service_name(Svc));
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
  lock(S);
  bool Ok = service_mark_done_locked(Svc, &Svc->Detach);
  bool ThenShutdown = Ok && Svc->ShutdownAfterDetach;
  unlock(S);
  if (!Ok)
    orc_rt_Session_reportError(
        S, orc_rt_Error_create("service %s completed detach more than once", service_name(Svc)));
  if (ThenShutdown)
    service_start_shutdown(Svc);
}

static void service_shutdown_done(void *Ctx) {
  struct service *Svc = Ctx;
  orc_rt_SessionRef S = Svc->S;
  lock(S);
  bool Ok = service_mark_done_locked(Svc, &Svc->Shutdown);
  unlock(S);
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
  lock(S);
  if (!reserve((void **)&S->Services, &S->CapServices, S->NumServices + 1, sizeof(*S->Services))) {
    unlock(S);
    free(Svc);
    return orc_rt_Error_create("cannot add service %s: out of memory",
                               Ops->Name ? Ops->Name : "(unnamed)");
  }
  S->Services[S->NumServices++] = Svc;
  /* Added after detach (or shutdown) began: this thread tells it at once. */
  bool TellNow = S->State >= SESSION_DETACHING;
  if (TellNow)
    Svc->Detach = NOTE_STARTED;
  if (S->State >= SESSION_SHUTTING_DOWN) {
    Svc->Shutdown = NOTE_STARTED;
    Svc->ShutdownAfterDetach = true;
  }
  unlock(S);
  if (TellNow)
    service_start_detach(Svc);
  return NULL;
}

ORC_RT_EXPORT void *orc_rt_Session_findService(orc_rt_SessionRef S, const orc_rt_ServiceOps *Ops) {
  void *Ctx = NULL;
  lock(S);
  for (size_t I = 0; I < S->NumServices; I++)
    if (S->Services[I]->Ops == Ops) {
      Ctx = S->Services[I]->Ctx;
      break;
    }
  unlock(S);
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
  for (size_t I = S->NumServices; I-- > 0;) {
    struct service *Svc = S->Services[I];
    unsigned char *Note = note_of(Svc, Detach);
    if (*Note != NOTE_NONE)
      continue;
    *Note = NOTE_STARTED;
    unlock(S);
    if (Detach)
      service_start_detach(Svc);
    else
      service_start_shutdown(Svc);
    lock(S);
    while (*Note != NOTE_DONE)
      wait_cond(S);
  }
  for (size_t I = 0; I < S->NumServices; I++)
    while (*note_of(S->Services[I], Detach) != NOTE_DONE)
      wait_cond(S);
}

/* ---- the control thread -------------------------------------------------- */

/* Run the callbacks of L (emptied). Called and returns with the lock held. */
static void run_completions_locked(orc_rt_SessionRef S, struct completion_list *L) {
  struct completion *C = L->Head;
  L->Head = NULL;
  L->Tail = &L->Head;
  unlock(S);
  while (C) {
    struct completion *Next = C->Next;
    C->Fn(C->Ctx);
    free(C);
    C = Next;
  }
  lock(S);
}

/* Log without holding the lock: a log function may call back into S. */
static void log_unlocked(orc_rt_SessionRef S, const char *Msg) {
  unlock(S);
  log_msg(S, orc_rt_LogLevel_Debug, "%s", Msg);
  lock(S);
}

static void detach_locked(orc_rt_SessionRef S) {
  S->State = SESSION_DETACHING;
  pthread_cond_broadcast(&S->Cond);

  /* No new op starts now; the ones running are non-blocking, so this is short. */
  while (S->CAUsers)
    wait_cond(S);
  const orc_rt_ControllerAccessOps *Ops = S->CAOps;
  void *Ctx = S->CACtx;
  unlock(S);
  log_msg(S, orc_rt_LogLevel_Debug, "detaching");
  if (Ops && Ops->Disconnect)
    Ops->Disconnect(Ctx);
  lock(S);

  struct orcrt_callmap Pending = S->Pending;
  memset(&S->Pending, 0, sizeof(S->Pending));
  unlock(S);
  orcrt_callmap_fail_all(&Pending, "controller disconnected");
  lock(S);

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
    wait_cond(S);
  /* A Service added after detach may still be completing its detach. */
  for (size_t I = 0; I < S->NumServices; I++)
    while (S->Services[I]->Detach != NOTE_DONE)
      wait_cond(S);
  notify_services_locked(S, false);

  unlock(S);
  orc_rt_TaskDispatcher_shutdown(S->Dispatcher);
  lock(S);

  S->State = SESSION_SHUTDOWN;
  pthread_cond_broadcast(&S->Cond);
  log_unlocked(S, "shut down");
  run_completions_locked(S, &S->OnShutdown);
}

/* Serve detach and shutdown requests until destroy asks to exit. */
static void control_run(orc_rt_SessionRef S) {
  lock(S);
  for (;;) {
    if ((S->DetachRequested || S->ShutdownRequested) && S->State < SESSION_DETACHING)
      detach_locked(S);
    else if (S->ShutdownRequested && S->State < SESSION_SHUTTING_DOWN)
      shutdown_locked(S);
    else if (S->Exiting && S->State == SESSION_SHUTDOWN)
      break;
    else
      wait_cond(S);
  }
  unlock(S);
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
  lock(S);
  bool Done = Shutdown ? S->State == SESSION_SHUTDOWN : S->State >= SESSION_DETACHED;
  if (Done) {
    unlock(S);
    if (OnDone)
      OnDone(Ctx);
    return;
  }
  if (OnDone) {
    struct completion *C = malloc(sizeof(*C));
    if (C) {
      struct completion_list *L = Shutdown ? &S->OnShutdown : &S->OnDetach;
      C->Fn = OnDone;
      C->Ctx = Ctx;
      C->Next = NULL;
      *L->Tail = C;
      L->Tail = &C->Next;
    } else {
      Err = orc_rt_Error_create("cannot queue a %s callback: out of memory",
                                Shutdown ? "shutdown" : "detach");
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
  unlock(S);
  orc_rt_Session_reportError(S, Err);
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
  lock(S);
  while (S->State < SESSION_DETACHED)
    wait_cond(S);
  unlock(S);
}

ORC_RT_EXPORT bool orc_rt_Session_isAttached(orc_rt_SessionRef S) {
  lock(S);
  bool Attached = S->CAOps != NULL;
  unlock(S);
  return Attached;
}

ORC_RT_EXPORT bool orc_rt_Session_isDetached(orc_rt_SessionRef S) {
  lock(S);
  bool Detached = S->State >= SESSION_DETACHING;
  unlock(S);
  return Detached;
}

/* ---- attaching ------------------------------------------------------------ */

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_attach(orc_rt_SessionRef S,
                                                    const orc_rt_ControllerAccessOps *Ops,
                                                    void *Ctx) {
  if (!Ops)
    return orc_rt_Error_create("cannot attach: no ControllerAccess operations");
  lock(S);
  if (S->CAOps) {
    unlock(S);
    return orc_rt_Error_create("cannot attach: the session is already attached");
  }
  if (S->State != SESSION_CREATED) {
    unlock(S);
    return orc_rt_Error_create("cannot attach: the session is detached");
  }
  /* Connect may deliver calls at once, so S is attached from here on. */
  S->CAOps = Ops;
  S->CACtx = Ctx;
  S->State = SESSION_ATTACHED;
  S->CAUsers++; /* a detach meanwhile waits for Connect to return */
  unlock(S);

  orc_rt_ErrorRef Err = Ops->Connect ? Ops->Connect(Ctx, S) : NULL;

  lock(S);
  S->CAUsers--;
  if (Err) {
    S->CAOps = NULL;
    S->CACtx = NULL;
    if (S->State == SESSION_ATTACHED)
      S->State = SESSION_CREATED;
  }
  pthread_cond_broadcast(&S->Cond);
  unlock(S);
  if (!Err)
    log_msg(S, orc_rt_LogLevel_Debug, "attached");
  return Err;
}

/* ---- incoming calls -------------------------------------------------------- */

struct incoming {
  orc_rt_SessionRef S;
  uint64_t CallId;
  orc_rt_ExecutorAddr Fn;
  orc_rt_WrapperFunctionBuffer Args;
  bool Async;
  orc_rt_CallTargetCheckFn Check;
  void *CheckCtx;
};

/* Send the result of incoming call CallId, unless S no longer answers. */
static void send_result(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionBuffer R,
                        bool Returning) {
  lock(S);
  const orc_rt_ControllerAccessOps *Ops = NULL;
  void *Ctx = NULL;
  if (S->State < SESSION_DETACHING && S->CAOps) {
    Ops = S->CAOps;
    Ctx = S->CACtx;
    S->CAUsers++;
  }
  unlock(S);

  if (Ops && Ops->SendResult)
    Ops->SendResult(Ctx, CallId, R);
  else
    orc_rt_WrapperFunctionBuffer_dispose(&R);

  lock(S);
  if (Ops)
    S->CAUsers--;
  /* A wrapper that returns twice must not make shutdown wait forever. */
  bool Extra = Returning && S->InFlight == 0;
  if (Returning && !Extra)
    S->InFlight--;
  /* Only detach and shutdown wait for these counts. */
  if (S->State >= SESSION_DETACHING && (S->CAUsers == 0 || S->InFlight == 0))
    pthread_cond_broadcast(&S->Cond);
  unlock(S);
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

struct own_thread {
  void (*Fn)(void *);
  void *Arg;
};

static void *own_thread_main(void *Ctx) {
  struct own_thread *T = Ctx;
  T->Fn(T->Arg);
  return NULL;
}

void orcrt_run_on_own_thread(void (*Fn)(void *), void *Arg) {
  struct own_thread T = {Fn, Arg};
  pthread_t Thread;
  if (pthread_create(&Thread, NULL, own_thread_main, &T) != 0) {
    Fn(Arg);
    return;
  }
  pthread_join(Thread, NULL);
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

static void incoming_run(void *Ctx) {
  struct incoming C = *(struct incoming *)Ctx;
  free(Ctx);
  orc_rt_SessionRef S = C.S;

  /* A call that had not started when detach began is dropped: nobody would get its result. */
  lock(S);
  bool Drop = S->State >= SESSION_DETACHING;
  if (!Drop)
    S->InFlight++;
  unlock(S);
  if (Drop) {
    log_msg(S, orc_rt_LogLevel_Debug, "dropping call %" PRIu64 ": the session is detached",
            C.CallId);
    orc_rt_WrapperFunctionBuffer_dispose(&C.Args);
    return;
  }

  if (C.Async) {
    orc_rt_WrapperFunction Fn = (orc_rt_WrapperFunction)(uintptr_t)C.Fn;
    Fn(S, C.CallId, session_return, C.Args);
    return;
  }

  orc_rt_WrapperFunctionBuffer R;
  orc_rt_ErrorRef Err = C.Check ? C.Check(C.CheckCtx, C.Fn) : NULL;
  if (!Err && !orc_rt_ExecutorAddr_toPtr(C.Fn))
    Err = orc_rt_Error_create("no function at address %#" PRIx64, C.Fn);
  if (Err) {
    R = orc_rt_WrapperFunctionBuffer_fromError(Err);
  } else {
    /* JIT'd code may run long or call back into the controller. */
    struct sync_call Call = {.Fn = C.Fn, .Args = &C.Args};
    orc_rt_TaskDispatcher_blockingBegin(S->Dispatcher);
    orcrt_run_on_own_thread(sync_call_run, &Call);
    orc_rt_TaskDispatcher_blockingEnd(S->Dispatcher);
    R = Call.Result;
  }
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
  lock(S);
  if (S->State >= SESSION_DETACHING) {
    unlock(S);
    log_msg(S, orc_rt_LogLevel_Debug, "dropping call %" PRIu64 ": the session is detached", CallId);
    orc_rt_WrapperFunctionBuffer_dispose(&ArgBytes);
    free(C);
    return;
  }
  if (C) {
    C->S = S;
    C->CallId = CallId;
    C->Fn = Fn;
    C->Args = ArgBytes;
    C->Async = is_wrapper_locked(S, Fn);
    Short = C->Async && S->NumShort && is_short_locked(S, Fn);
    C->Check = S->CheckFn;
    C->CheckCtx = S->CheckCtx;
  }
  unlock(S);
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
  lock(S);
  struct orcrt_call C = {S->NextCallId, OnResult, Ctx};
  if (S->State >= SESSION_DETACHING)
    Why = "session is detached";
  else if (S->State != SESSION_ATTACHED || !S->CAOps->CallController)
    Why = "session is not attached";
  else if (!orcrt_callmap_insert(&S->Pending, C))
    Why = "executor out of memory";
  if (Why) {
    unlock(S);
    orc_rt_WrapperFunctionBuffer_dispose(&ArgBytes);
    OnResult(Ctx, orc_rt_WrapperFunctionBuffer_fromOutOfBandError(Why));
    return;
  }
  S->NextCallId++;
  S->CAUsers++;
  const orc_rt_ControllerAccessOps *Ops = S->CAOps;
  void *CACtx = S->CACtx;
  unlock(S);

  Ops->CallController(CACtx, C.Id, HandlerTag, ArgBytes);

  lock(S);
  if (--S->CAUsers == 0 && S->State >= SESSION_DETACHING)
    pthread_cond_broadcast(&S->Cond);
  unlock(S);
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer orc_rt_Session_callControllerSync(
    orc_rt_SessionRef S, orc_rt_ExecutorAddr HandlerTag, const char *ArgData, size_t ArgSize) {
  orc_rt_WrapperFunctionBuffer Args = orc_rt_WrapperFunctionBuffer_fromBytes(ArgData, ArgSize);
  if (orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Args))
    return Args;
  struct orcrt_waiter W;
  orcrt_waiter_init(&W);
  orc_rt_Session_callController(S, HandlerTag, Args, orcrt_waiter_complete, &W);
  return orcrt_waiter_wait(&W, S->Dispatcher);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_handleCallResult(orc_rt_SessionRef S, uint64_t CallId,
                                                              orc_rt_WrapperFunctionBuffer Result) {
  struct orcrt_call C;
  lock(S);
  bool Found = orcrt_callmap_remove(&S->Pending, CallId, &C);
  unlock(S);
  if (!Found) {
    orc_rt_WrapperFunctionBuffer_dispose(&Result);
    return orc_rt_Error_create("result for call %" PRIu64 ", which is not pending", CallId);
  }
  C.Fn(C.Ctx, Result);
  return NULL;
}

ORC_RT_EXPORT void orc_rt_Session_handleDisconnect(orc_rt_SessionRef S, orc_rt_ErrorRef Reason) {
  if (Reason) {
    char *Msg = orc_rt_Error_toString(Reason);
    log_msg(S, orc_rt_LogLevel_Error, "controller channel failed: %s", Msg ? Msg : "out of memory");
    lock(S);
    if (Msg && !S->DisconnectMsg) {
      S->DisconnectMsg = Msg;
      Msg = NULL;
    }
    unlock(S);
    free(Msg);
  } else {
    log_msg(S, orc_rt_LogLevel_Info, "controller channel closed");
  }
  request(S, false, NULL, NULL);
}

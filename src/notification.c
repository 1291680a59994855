/*
 * notification.c - the notification Service (DESIGN S7)
 *
 * Clients register callbacks for detach and for shutdown; the Service runs
 * them, newest first, when the Session notifies it. Being an ordinary
 * Service, its place among the Session's Services fixes when they run.
 *
 * Locks: N->Lock protects both callback lists and their Notified flags. It
 * is never held while a callback runs, so it is taken after nothing and
 * before nothing.
 */
#include "orcrt-internal.h"

#include <pthread.h>
#include <stdlib.h>

#include <orcrt/service.h>
#include <orcrt/session.h>

#include "util/array.h"

struct callback {
  orc_rt_CompletionFn Fn;
  void *Ctx;
};

/* The callbacks of one notification. */
struct callback_list {
  ORCRT_ARRAY(struct callback) Callbacks; /* oldest first */
  bool Notified; /* from then on a new callback runs at once */
};

struct orc_rt_OpaqueNotificationService {
  pthread_mutex_t Lock; /* protects Detach and Shutdown */
  struct callback_list Detach, Shutdown;
};

/* Run L's callbacks, newest first, and mark L notified. */
static void notify(orc_rt_NotificationServiceRef N, struct callback_list *L) {
  pthread_mutex_lock(&N->Lock);
  L->Notified = true;
  struct callback *Items = L->Callbacks.Items;
  size_t Count = L->Callbacks.Len;
  L->Callbacks.Items = NULL;
  L->Callbacks.Len = L->Callbacks.Cap = 0;
  pthread_mutex_unlock(&N->Lock);
  for (size_t I = Count; I-- > 0;)
    Items[I].Fn(Items[I].Ctx);
  free(Items);
}

static void notification_detach(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done,
                                void *DoneCtx) {
  orc_rt_NotificationServiceRef N = Ctx;
  notify(N, &N->Detach);
  Done(DoneCtx);
}

static void notification_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done,
                                  void *DoneCtx) {
  orc_rt_NotificationServiceRef N = Ctx;
  notify(N, &N->Shutdown);
  Done(DoneCtx);
}

static void notification_destroy(void *Ctx) {
  orc_rt_NotificationServiceRef N = Ctx;
  /* Shutdown has run every callback; none is left to run here. */
  ORCRT_ARRAY_FREE(&N->Detach.Callbacks);
  ORCRT_ARRAY_FREE(&N->Shutdown.Callbacks);
  pthread_mutex_destroy(&N->Lock);
  free(N);
}

static const orc_rt_ServiceOps NotificationServiceOps = {
    .Name = "notification",
    .Detach = notification_detach,
    .Shutdown = notification_shutdown,
    .Destroy = notification_destroy,
};

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_NotificationService_add(orc_rt_SessionRef S,
                                                             orc_rt_NotificationServiceRef *Out) {
  orc_rt_NotificationServiceRef N = calloc(1, sizeof(*N));
  if (!N)
    return orc_rt_Error_create("cannot create a notification service: out of memory");
  int Rc = pthread_mutex_init(&N->Lock, NULL);
  if (Rc) {
    free(N);
    return orc_rt_Error_fromErrno(Rc, "cannot create a notification service");
  }
  /* Once added, a notification can come at once (the Session may be detached already). */
  *Out = N;
  orc_rt_ErrorRef Err = orc_rt_Session_addService(S, &NotificationServiceOps, N);
  if (Err) {
    *Out = NULL;
    notification_destroy(N);
  }
  return Err;
}

static orc_rt_ErrorRef add_callback(orc_rt_NotificationServiceRef N, struct callback_list *L,
                                    orc_rt_CompletionFn Fn, void *Ctx) {
  if (!Fn)
    return orc_rt_Error_create("notification callback is NULL");
  pthread_mutex_lock(&N->Lock);
  if (L->Notified) {
    pthread_mutex_unlock(&N->Lock);
    Fn(Ctx);
    return NULL;
  }
  struct callback C = {Fn, Ctx};
  bool Added = ORCRT_ARRAY_PUSH(&L->Callbacks, &C);
  pthread_mutex_unlock(&N->Lock);
  if (!Added)
    return orc_rt_Error_create("cannot register a notification callback: out of memory");
  return NULL;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_NotificationService_onDetach(orc_rt_NotificationServiceRef N,
                                                                  orc_rt_CompletionFn Fn,
                                                                  void *Ctx) {
  return add_callback(N, &N->Detach, Fn, Ctx);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_NotificationService_onShutdown(orc_rt_NotificationServiceRef N,
                                                                    orc_rt_CompletionFn Fn,
                                                                    void *Ctx) {
  return add_callback(N, &N->Shutdown, Fn, Ctx);
}

/*
 * orcrt/service.h - things a Session owns on behalf of JIT'd code
 *
 * A Service (JIT memory, library handles, unwind registrations, ...) is an
 * ops table plus a context, owned by the Session it is added to. The Session
 * tells each Service of detach exactly once and of shutdown exactly once,
 * detach first, in reverse order of registration. A notification may finish
 * asynchronously: the Service calls Done(DoneCtx) exactly once, from any
 * thread, when it has finished; the Session waits for that before telling
 * the next Service. A Service added after detach (or shutdown) is told at
 * once.
 */
#ifndef ORCRT_SERVICE_H
#define ORCRT_SERVICE_H

#include <orcrt/error.h>
#include <orcrt/wrapper-function.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Completion callback, handed to asynchronous operations. */
typedef void (*orc_rt_CompletionFn)(void *Ctx);

/** The operations of a Service. Every member may be NULL. */
typedef struct {
  /** A name for diagnostics. */
  const char *Name;
  /** The controller is gone: no more requests will come. */
  void (*Detach)(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DoneCtx);
  /** The Session is shutting down: release everything. */
  void (*Shutdown)(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DoneCtx);
  /** Free Ctx; called once when the Session is destroyed, after Shutdown. */
  void (*Destroy)(void *Ctx);
} orc_rt_ServiceOps;

/* ---- the notification Service ---------------------------------------- */

/**
 * A Service that runs callbacks registered by clients on detach and on
 * shutdown. Being a Service, where it is added fixes when its callbacks run
 * relative to every other Service. Its callbacks run in reverse order of
 * registration, on the thread that notifies it.
 */
typedef struct orc_rt_OpaqueNotificationService *orc_rt_NotificationServiceRef;

/** Create a notification Service and add it to S. *Out is owned by S. */
orc_rt_ErrorRef orc_rt_NotificationService_add(orc_rt_SessionRef S,
                                               orc_rt_NotificationServiceRef *Out);

/**
 * Run Fn(Ctx) when the Session detaches. Registered after the notification
 * has happened, Fn runs at once on the calling thread. Any thread.
 */
orc_rt_ErrorRef orc_rt_NotificationService_onDetach(orc_rt_NotificationServiceRef N,
                                                    orc_rt_CompletionFn Fn, void *Ctx);

/** Run Fn(Ctx) when the Session shuts down. As onDetach otherwise. */
orc_rt_ErrorRef orc_rt_NotificationService_onShutdown(orc_rt_NotificationServiceRef N,
                                                      orc_rt_CompletionFn Fn, void *Ctx);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_SERVICE_H */

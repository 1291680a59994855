/*
 * orcrt/controller-access.h - RPC with the controller, in both directions
 *
 * A ControllerAccess carries wrapper calls between a Session and its
 * controller over some concrete channel. It is an ops table plus a context,
 * attached to a Session at most once; the Session then owns it.
 *
 * Controller -> executor: the ControllerAccess receives a call naming a
 * wrapper function *address* and hands it to
 * orc_rt_Session_handleWrapperCall() with a CallId of its choosing; the
 * Session answers through the SendResult op with that CallId.
 *
 * Executor -> controller: the Session calls the CallController op with a
 * *handler tag* (an executor address the controller associated with a
 * handler) and a CallId the Session chose; the ControllerAccess delivers the
 * answer through orc_rt_Session_handleCallResult(). No controller address
 * ever reaches the executor.
 *
 * Detach: the Session calls Disconnect, after which no call may be received
 * or sent in either direction. The Session itself fails its pending
 * executor -> controller calls; the ControllerAccess fails any
 * controller-side state it keeps.
 */
#ifndef ORCRT_CONTROLLER_ACCESS_H
#define ORCRT_CONTROLLER_ACCESS_H

#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/wrapper-function.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The operations of a ControllerAccess. */
typedef struct {
  /**
   * Start carrying calls for S. Called once, by orc_rt_Session_attach();
   * an error fails the attach (and the Session does not take Ctx).
   */
  orc_rt_ErrorRef (*Connect)(void *Ctx, orc_rt_SessionRef S);
  /**
   * Send a call to the controller (ownership of ArgBytes passes). The answer,
   * or a failure to send, comes back through orc_rt_Session_handleCallResult()
   * with CallId, at most once; calls still unanswered at detach are failed by
   * the Session. Any thread; must not block on the controller.
   */
  void (*CallController)(void *Ctx, uint64_t CallId, orc_rt_ExecutorAddr HandlerTag,
                         orc_rt_WrapperFunctionBuffer ArgBytes);
  /**
   * Send the result of the incoming call CallId (ownership passes). Any
   * thread; must not block on the controller.
   */
  void (*SendResult)(void *Ctx, uint64_t CallId, orc_rt_WrapperFunctionBuffer ResultBytes);
  /**
   * Stop: receive and accept no further call. May be entered concurrently
   * from several threads and more than once; every caller returns only when
   * no further call will be received or accepted. Must not be called from a
   * thread the ControllerAccess itself delivers calls on.
   */
  void (*Disconnect)(void *Ctx);
  /** Free Ctx; called once, after Disconnect, when the Session is destroyed. */
  void (*Destroy)(void *Ctx);
} orc_rt_ControllerAccessOps;

/* ---- entry points for ControllerAccess implementations --------------- */

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_CONTROLLER_ACCESS_H */

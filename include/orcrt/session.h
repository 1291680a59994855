/*
 * orcrt/session.h - the root object of one JIT'd program
 *
 * A Session owns its Services, its TaskDispatcher and its ControllerAccess.
 * It exists before any JIT'd code is added and outlives it. A process may
 * hold several Sessions; each is independent.
 *
 * Lifecycle: created -> attached (at most once) -> detached -> shut down.
 * Detach and shutdown may be requested from any thread, any number of times;
 * redundant requests are harmless and their completion callbacks still run.
 * The work of both runs on a control thread of the Session's own, so they may
 * be requested from inside a wrapper call or from a ControllerAccess's I/O
 * thread.
 *
 * Detach: (1) no call is accepted in either direction any more; (2) the
 * ControllerAccess is disconnected; (3) every pending executor -> controller
 * call completes, once, with an error; (4) every Service is told, in reverse
 * order of registration; (5) detach callbacks run.
 * Shutdown: (1) detach if needed; (2) wait until no incoming wrapper call is
 * still running; (3) every Service's shutdown, in reverse order of
 * registration; (4) the TaskDispatcher's shutdown; (5) shutdown callbacks
 * run.
 *
 * Every function on a Session (orc_rt_Session_*) is declared here, those a
 * Service or a ControllerAccess implementation uses included; the types
 * they take are in orcrt/service.h, orcrt/controller-access.h and
 * orcrt/log.h.
 */
#ifndef ORCRT_SESSION_H
#define ORCRT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/controller-access.h>
#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/log.h>
#include <orcrt/service.h>
#include <orcrt/task-dispatcher.h>
#include <orcrt/wrapper-function.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Create a Session that runs its tasks on Dispatcher. On success the
 * Session owns Dispatcher; on failure nothing is taken (the caller still
 * owns Dispatcher), as with every function of the library that takes an
 * object. Any thread.
 */
orc_rt_ErrorRef orc_rt_Session_create(orc_rt_TaskDispatcherRef Dispatcher,
                                      orc_rt_SessionRef *Out);

/**
 * Shut S down if that has not happened, wait for it, and free S with
 * everything it owns. Must not be called from one of S's own tasks or
 * callbacks. NULL is ignored.
 */
void orc_rt_Session_destroy(orc_rt_SessionRef S);

/** S's TaskDispatcher (owned by S). */
orc_rt_TaskDispatcherRef orc_rt_Session_getDispatcher(orc_rt_SessionRef S);

/* ---- errors ------------------------------------------------------------ */

/**
 * Handles errors the runtime cannot return to a caller; takes ownership of
 * Err. Called from any thread.
 */
typedef void (*orc_rt_ErrorReporterFn)(void *Ctx, orc_rt_ErrorRef Err);

/**
 * Send S's unreturnable errors to Fn(Ctx, Err); NULL restores the default,
 * which logs them at error level. Call before attaching.
 */
void orc_rt_Session_setErrorReporter(orc_rt_SessionRef S, orc_rt_ErrorReporterFn Fn,
                                     void *Ctx);

/** Report Err (consumed; NULL ignored) through S's error reporter. Any thread. */
void orc_rt_Session_reportError(orc_rt_SessionRef S, orc_rt_ErrorRef Err);

/**
 * The message of the error that ended S's channel (see
 * orc_rt_Session_handleDisconnect()), or NULL if it ended in order or has not
 * ended. Borrowed from S; valid until S is destroyed. Any thread.
 */
const char *orc_rt_Session_getDisconnectError(orc_rt_SessionRef S);

/* ---- wrapper functions exposed to the controller --------------------- */

/**
 * Add a bootstrap symbol: a name the controller learns with its address when
 * the channel starts (LLVM's Setup message). Names are unique (a duplicate is
 * an error). Only before attach.
 */
orc_rt_ErrorRef orc_rt_Session_addBootstrapSymbol(orc_rt_SessionRef S, const char *Name,
                                                  orc_rt_ExecutorAddr Addr);

/**
 * Register Fn as one of S's own asynchronous wrapper functions: calls to its
 * address use the orcrt ABI. If Name is non-NULL it is also added as a
 * bootstrap symbol. Only before attach.
 */
orc_rt_ErrorRef orc_rt_Session_addWrapperFunction(orc_rt_SessionRef S, const char *Name,
                                                  orc_rt_WrapperFunction Fn);

/** A bootstrap symbol, as listed by orc_rt_Session_getBootstrapSymbols(). */
typedef struct {
  const char *Name;
  orc_rt_ExecutorAddr Addr;
} orc_rt_BootstrapSymbol;

/**
 * S's bootstrap symbols in order of addition; *Count receives how many. The
 * array belongs to S and is stable once S is attached. A name that LLVM
 * 14-16's wire gives another address than 19's (see
 * orc_rt_Session_setProtocol()) appears twice, 19's first.
 */
const orc_rt_BootstrapSymbol *orc_rt_Session_getBootstrapSymbols(orc_rt_SessionRef S,
                                                                 size_t *Count);

/* ---- the LLVM release the controller speaks --------------------------- */

/**
 * Which LLVM release's controllers a Session serves. Their wires fall in
 * three generations: LLVM 14, 15 and 16 share one, 19 and 22 each have
 * their own. Auto serves all three at once (see orc_rt_Session_buildSetup()).
 */
typedef enum {
  orc_rt_Protocol_Auto = 0,
  orc_rt_Protocol_LLVM14 = 14,
  orc_rt_Protocol_LLVM15 = 15,
  orc_rt_Protocol_LLVM16 = 16,
  orc_rt_Protocol_LLVM19 = 19,
  orc_rt_Protocol_LLVM22 = 22,
} orc_rt_Protocol;

/**
 * Serve only the controllers of P (the default is Auto). Returns an error
 * for a value that is not an orc_rt_Protocol, or once S is attached.
 */
orc_rt_ErrorRef orc_rt_Session_setProtocol(orc_rt_SessionRef S, orc_rt_Protocol P);

/**
 * The wire S's controller speaks: the protocol set with
 * orc_rt_Session_setProtocol(), or, under Auto, orc_rt_Protocol_LLVM14 (for
 * LLVM 14 to 16), _LLVM19 or _LLVM22 from the controller's first call to a
 * wrapper function that only that wire has; Auto until then. Any thread.
 */
orc_rt_Protocol orc_rt_Session_getProtocol(orc_rt_SessionRef S);

/** How many calls S's controller has made so far. Any thread. */
uint64_t orc_rt_Session_getCallCount(orc_rt_SessionRef S);

/**
 * The payload of the Setup message that starts S's channel: Triple,
 * PageSize and the bootstrap symbols of S's protocol. For LLVM 14 to 16 it
 * is their 3-field layout, for 19 and 22 the 4-field one with an empty
 * bootstrap map. For Auto it is one payload that each layout reads in full
 * and differently: the 3-field view holds the 14-16 symbols and the
 * 4-field view, behind a bootstrap map of padding entries that LLVM
 * ignores, those of 19 and 22. An out-of-band error if memory runs out.
 * Once S is attached (the tables are fixed then). Any thread.
 */
orc_rt_WrapperFunctionBuffer orc_rt_Session_buildSetup(orc_rt_SessionRef S, const char *Triple,
                                                       uint64_t PageSize);

/** Whether Fn is one of S's own asynchronous wrapper functions. */
bool orc_rt_Session_isWrapperFunction(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn);

/**
 * Decides whether an incoming call may run the code at Fn with LLVM's
 * synchronous ABI. Returns NULL to allow, or the error to answer with.
 */
typedef orc_rt_ErrorRef (*orc_rt_CallTargetCheckFn)(void *Ctx, orc_rt_ExecutorAddr Fn);

/**
 * Check every incoming call to an address that is not one of S's own
 * wrapper functions with Fn(Ctx, Addr) first. Without a check every such
 * address is called. Only before attach.
 */
void orc_rt_Session_setCallTargetCheck(orc_rt_SessionRef S, orc_rt_CallTargetCheckFn Fn,
                                       void *Ctx);

/* ---- attaching and detaching ----------------------------------------- */

/**
 * Attach a ControllerAccess (Ops must outlive S). Calls Ops->Connect; on
 * success S owns Ctx. Fails if S was ever attached before, or is detached or
 * shut down. Any thread.
 */
orc_rt_ErrorRef orc_rt_Session_attach(orc_rt_SessionRef S,
                                      const orc_rt_ControllerAccessOps *Ops, void *Ctx);

/**
 * Detach S from its controller (see above). OnDone(Ctx), if non-NULL, runs
 * once detach has completed, on the control thread (or at once on the
 * calling thread if it already has). Should memory run out with the
 * Session's few spare callback places in use, OnDone runs at once instead
 * and the error reporter is told. Any thread.
 */
void orc_rt_Session_detach(orc_rt_SessionRef S, orc_rt_CompletionFn OnDone, void *Ctx);

/**
 * Shut S down (see above). OnDone(Ctx), if non-NULL, runs once shutdown has
 * completed, as for detach. Any thread.
 */
void orc_rt_Session_shutdown(orc_rt_SessionRef S, orc_rt_CompletionFn OnDone, void *Ctx);

/**
 * Block until S has been detached (by anyone, for any reason). Must not be
 * called from one of S's tasks.
 */
void orc_rt_Session_waitForDetach(orc_rt_SessionRef S);

/** Whether S has been attached, and whether its detach has begun. */
bool orc_rt_Session_isAttached(orc_rt_SessionRef S);
bool orc_rt_Session_isDetached(orc_rt_SessionRef S);

/* ---- calling the controller ------------------------------------------ */

/**
 * Receives the result of an executor -> controller call, with ownership.
 * Failures (detach, no channel, the controller's own) arrive as out-of-band
 * error buffers.
 */
typedef void (*orc_rt_CallResultFn)(void *Ctx, orc_rt_WrapperFunctionBuffer Result);

/**
 * Call the controller handler associated with HandlerTag (ownership of
 * ArgBytes passes). OnResult(Ctx, Result) is called exactly once, from any
 * thread (possibly the calling one, before this returns, if S is not
 * attached or already detached). Any thread.
 */
void orc_rt_Session_callController(orc_rt_SessionRef S, orc_rt_ExecutorAddr HandlerTag,
                                   orc_rt_WrapperFunctionBuffer ArgBytes,
                                   orc_rt_CallResultFn OnResult, void *Ctx);

/**
 * Call the controller and wait for the result (owned by the caller). The
 * calling task is marked as blocking on S's dispatcher meanwhile, so S keeps
 * serving incoming calls at any depth of nesting. ArgData is borrowed.
 */
orc_rt_WrapperFunctionBuffer orc_rt_Session_callControllerSync(orc_rt_SessionRef S,
                                                               orc_rt_ExecutorAddr HandlerTag,
                                                               const char *ArgData,
                                                               size_t ArgSize);

/* ---- Services (see orcrt/service.h) --------------------------------- */

/**
 * Add a Service to S. Ops must outlive S. On success S owns Ctx; on failure
 * nothing is taken. Any thread.
 */
orc_rt_ErrorRef orc_rt_Session_addService(orc_rt_SessionRef S, const orc_rt_ServiceOps *Ops,
                                          void *Ctx);

/**
 * The context of the first Service of S added with Ops, or NULL. The pointer
 * stays valid until S is destroyed. Any thread.
 */
void *orc_rt_Session_findService(orc_rt_SessionRef S, const orc_rt_ServiceOps *Ops);

/* ---- the log (levels and sinks: orcrt/log.h) ------------------------- */

/**
 * Send S's messages at or below its level to Fn(Ctx, ...) instead; NULL Fn
 * restores the default. Call before S is attached (the log is read without
 * locking afterwards).
 */
void orc_rt_Session_setLogFn(orc_rt_SessionRef S, orc_rt_LogFn Fn, void *Ctx);

/** Set the most verbose level S logs. Any thread. */
void orc_rt_Session_setLogLevel(orc_rt_SessionRef S, orc_rt_LogLevel Level);

/** The most verbose level S logs. */
orc_rt_LogLevel orc_rt_Session_getLogLevel(orc_rt_SessionRef S);

/** Log a message on S at Level (if S logs at that level). Any thread. */
void orc_rt_Session_log(orc_rt_SessionRef S, orc_rt_LogLevel Level, const char *Fmt, ...)
    ORC_RT_PRINTF(3, 4);

/* ---- for ControllerAccess implementations (orcrt/controller-access.h) - */

/**
 * Deliver an incoming call of the wrapper function at Fn (ownership of
 * ArgBytes passes). The Session runs it as a Task and later answers through
 * SendResult with CallId. Fn is called with the asynchronous orcrt ABI if it
 * is one of the Session's own wrapper functions, else with LLVM's
 * synchronous ABI. After detach the call is dropped. Any thread.
 *
 * The few wrapper functions of the library's own Services that are short
 * and never block (memory writes, reserve, and finalize and deallocate
 * without allocation actions) run as short Tasks: with the thread pool, on
 * the calling thread before this returns, so that SendResult may be called
 * from inside this call. Everything else, and above all any code called
 * with LLVM's ABI (JIT'd code, allocation actions), runs on a dispatcher
 * thread, never on the calling one.
 */
void orc_rt_Session_handleWrapperCall(orc_rt_SessionRef S, uint64_t CallId,
                                      orc_rt_ExecutorAddr Fn,
                                      orc_rt_WrapperFunctionBuffer ArgBytes);

/**
 * Deliver the answer to executor -> controller call CallId (ownership of
 * Result passes). Returns an error (a protocol violation) if no such call is
 * pending; the Result is then disposed. Any thread.
 */
orc_rt_ErrorRef orc_rt_Session_handleCallResult(orc_rt_SessionRef S, uint64_t CallId,
                                                orc_rt_WrapperFunctionBuffer Result);

/**
 * The channel has ended: detach S (asynchronously; returns at once). Reason
 * is NULL for an orderly end, else the error that ended it, which is logged
 * and kept (see orc_rt_Session_getDisconnectError()); consumed either way.
 * Any thread, including one the ControllerAccess delivers calls on.
 */
void orc_rt_Session_handleDisconnect(orc_rt_SessionRef S, orc_rt_ErrorRef Reason);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_SESSION_H */

/*
 * session-internal.h - what the Session shares with the rest of the
 * library: short wrappers, and through util/ the pending-call table of a
 * ControllerAccess, the wait for one result and the thread of its own
 */
#ifndef ORCRT_SESSION_INTERNAL_H
#define ORCRT_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <orcrt/session.h>

#include "arg-stream.h"
#include "trace.h"
#include "util/pending.h"
#include "util/u64map.h"
#include "util/waiter.h"

/*
 * Mark Fn, one of S's own asynchronous wrapper functions (already added
 * with orc_rt_Session_addWrapperFunction()), as short: every call of it
 * returns promptly, having called Return or handed its work to S's
 * dispatcher as an ordinary Task, and never blocks (it never waits for the
 * controller, for another call or for a lock held across such a wait, and
 * runs no JIT'd code and no code it was handed). Calls to a short wrapper
 * go to the dispatcher as short tasks (its optional DispatchShort op),
 * which the pool runs on the thread that delivers the call: for the pipe
 * transport its I/O thread. Only before attach. Returns NULL or the error.
 */
orc_rt_ErrorRef orcrt_session_mark_short(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn);

/*
 * Call OnDone(Ctx) once S's shutdown has seen every call answered (the
 * JIT'd code they ran has returned), before its Services shut down: on the
 * Session's control thread then, or here if that is past. Any thread. If
 * memory runs out, OnDone runs here at once, and the error is reported.
 */
void orcrt_session_on_drained(orc_rt_SessionRef S, orc_rt_CompletionFn OnDone, void *Ctx);

/*
 * Describe the calls of Fn, one of S's own wrapper functions, in S's trace
 * with Trace (static storage; see trace.h). Only before attach. Returns
 * NULL or the error.
 */
orc_rt_ErrorRef orcrt_session_set_trace(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn,
                                        const struct orcrt_wrapper_trace *Trace);

/*
 * Take the arguments of Fn's calls (Fn one of S's own wrapper functions)
 * as they arrive, with the streams Begin makes (arg-stream.h). Only before
 * attach. Returns NULL or the error.
 */
orc_rt_ErrorRef orcrt_session_set_stream(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn,
                                         orcrt_arg_stream_begin Begin);

/*
 * A stream for a call to Fn of Size argument bytes, if Fn takes its
 * arguments as they arrive and Size is at least ORCRT_ARG_STREAM_MIN; else
 * NULL, and the call's arguments are gathered whole. Any thread.
 */
struct orcrt_arg_stream *orcrt_session_stream_call(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn,
                                                   size_t Size);

/*
 * orc_rt_Session_handleWrapperCall() for a call whose stream made ArgBytes
 * of the WireSize argument bytes the controller sent: the trace counts
 * those.
 */
void orcrt_session_handle_call(orc_rt_SessionRef S, uint64_t CallId, orc_rt_ExecutorAddr Fn,
                               orc_rt_WrapperFunctionBuffer ArgBytes, size_t WireSize);

/*
 * Describe the calls by address to Fn, a function of LLVM's synchronous
 * ABI named Name (static storage, for the summary), with Trace (static
 * storage; its Label is not used: the line says "call" and Fn's nearest
 * name). Only before attach. Returns NULL or the error.
 */
orc_rt_ErrorRef orcrt_session_describe_function(orc_rt_SessionRef S, const char *Name,
                                                orc_rt_ExecutorAddr Fn,
                                                const struct orcrt_wrapper_trace *Trace);

/*
 * session-symbols.c: the name of Addr among S's bootstrap symbols, as the
 * controller's wire names it if it has one, else as the glue describes it,
 * else any; NULL if it has none. Any thread.
 */
const char *orcrt_session_name_of(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr);

#endif /* ORCRT_SESSION_INTERNAL_H */

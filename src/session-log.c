/*
 * session-log.c - a Session's log: its level, its messages, and the
 * summary of the session's calls that ends the debug trace
 *
 * Locks: the level is atomic and the sink is fixed once the Session is
 * attached (orc_rt_Session_setLogFn(), in session.c), so logging takes no
 * lock; the summary copies the call counts out under S->Lock
 * (session-private.h) and logs with it released.
 */
#include "session-private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

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

static void log_stats(orc_rt_SessionRef S, const char *What, const struct trace_stats *St) {
  struct orcrt_trace_text T = {0};
  orcrt_trace_printf(&T, "summary: %s: %" PRIu64 " call%s, %" PRIu64 " error%s, ", What,
                     St->Calls, St->Calls == 1 ? "" : "s", St->Errors, St->Errors == 1 ? "" : "s");
  orcrt_trace_size(&T, St->BytesIn);
  orcrt_trace_printf(&T, " in, ");
  orcrt_trace_size(&T, St->BytesOut);
  orcrt_trace_printf(&T, " out, ");
  orcrt_trace_duration(&T, St->Ns);
  orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "%s", T.Buf);
}

/* What the summary calls W's calls. */
static const char *summary_name(const struct session_wrapper *W) {
  return !W->ByAddress && W->Trace && W->Trace->Label ? W->Trace->Label
         : W->Name                                    ? W->Name
                                                      : "unnamed wrapper";
}

void orcrt_session_log_summary(orc_rt_SessionRef S) {
  if (orc_rt_Session_getLogLevel(S) < orc_rt_LogLevel_Debug)
    return;
  /* Copied out under the lock, logged without it. */
  session_lock(S);
  size_t NW = S->Wrappers.Len, N = NW + S->Described.Len;
  struct session_wrapper *Ws = N ? malloc(N * sizeof(*Ws)) : NULL;
  if (Ws) {
    memcpy(Ws, S->Wrappers.Items, NW * sizeof(*Ws));
    if (S->Described.Len)
      memcpy(Ws + NW, S->Described.Items, S->Described.Len * sizeof(*Ws));
  }
  struct trace_stats ByAddr = S->ByAddrStats, Out = S->OutStats;
  uint64_t Start = S->TraceStart;
  session_unlock(S);

  struct trace_stats In = ByAddr;
  for (size_t I = 0; Ws && I < N; I++) {
    In.Calls += Ws[I].Stats.Calls;
    In.Errors += Ws[I].Stats.Errors;
    In.BytesIn += Ws[I].Stats.BytesIn;
    In.BytesOut += Ws[I].Stats.BytesOut;
    In.Ns += Ws[I].Stats.Ns;
  }
  struct orcrt_trace_text T = {0};
  orcrt_trace_printf(&T, "summary: session ");
  orcrt_trace_duration(&T, Start ? orcrt_trace_now() - Start : 0);
  orcrt_trace_printf(&T, ", %" PRIu64 " call%s from the controller, %" PRIu64 " to it", In.Calls,
                     In.Calls == 1 ? "" : "s", Out.Calls);
  orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "%s", T.Buf);
  log_stats(S, "from the controller", &In);
  /* One line per name: a wrapper's placed twin (arg-stream.h) counts with it. */
  for (size_t I = 0; Ws && I < N; I++) {
    if (!Ws[I].Stats.Calls)
      continue;
    const char *What = summary_name(&Ws[I]);
    struct trace_stats Sum = Ws[I].Stats;
    for (size_t J = I + 1; J < N; J++) {
      if (!Ws[J].Stats.Calls || strcmp(summary_name(&Ws[J]), What) != 0)
        continue;
      Sum.Calls += Ws[J].Stats.Calls;
      Sum.Errors += Ws[J].Stats.Errors;
      Sum.BytesIn += Ws[J].Stats.BytesIn;
      Sum.BytesOut += Ws[J].Stats.BytesOut;
      Sum.Ns += Ws[J].Stats.Ns;
      Ws[J].Stats.Calls = 0; /* counted */
    }
    log_stats(S, What, &Sum);
  }
  if (ByAddr.Calls)
    log_stats(S, "calls by address", &ByAddr);
  if (Out.Calls)
    log_stats(S, "to the controller", &Out);
  free(Ws);
}

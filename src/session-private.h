/*
 * session-private.h - the Session's struct, shared by the three files that
 * implement it: session.c (the state machine: lifecycle, control thread,
 * Services), session-calls.c (calls in both directions) and
 * session-symbols.c (bootstrap symbols and the wrapper sets)
 *
 * Locks: S->Lock protects every mutable field below; S->Cond is signalled
 * whenever a field that someone waits for changes (State, CAUsers,
 * InFlight, a Service's notification state). Every callback out of the
 * Session (ControllerAccess ops, Service ops, completion callbacks, the
 * error reporter, the log function, wrapper functions, the dispatcher)
 * runs with S->Lock released; the log is read without it once attached
 * (it is frozen then).
 *
 * Lock order: S->Lock is last. No other lock is taken while it is held, so
 * code holding its own lock (a Service's, a transport's) may call into the
 * Session, and the Session may call such code only with S->Lock released.
 */
#ifndef ORCRT_SESSION_PRIVATE_H
#define ORCRT_SESSION_PRIVATE_H

#include "orcrt-internal.h"

#include <pthread.h>
#include <stdbool.h>

#include <orcrt/session.h>

#include "session-internal.h"
#include "trace.h"
#include "util/array.h"
#include "util/u64map.h"

/* The states are ordered: later states compare greater. */
enum session_state {
  SESSION_CREATED,
  SESSION_ATTACHED,
  SESSION_DETACHING,
  SESSION_DETACHED,
  SESSION_SHUTTING_DOWN,
  SESSION_SHUTDOWN,
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

/*
 * Completion nodes kept in the Session for when malloc() fails, so that a
 * completion callback still runs (DESIGN S2); one in use has Fn set.
 */
enum { SESSION_SPARE_COMPLETIONS = 4 };

struct service;

/* What the trace counts for one kind of call (session-calls.c). */
struct trace_stats {
  uint64_t Calls, Errors, BytesIn, BytesOut, Ns;
};

/*
 * A live incoming call, the value of S->Live for its CallId. A controller
 * may reuse a CallId while a call with it is live: Count says how many are,
 * and the first answer takes the rest (the trace of the first of them).
 */
struct live_call {
  size_t Count;
  orc_rt_ExecutorAddr Fn;
  struct session_wrapper *W; /* the wrapper at Fn, or its Described entry, or NULL */
  uint64_t Start;            /* orcrt_trace_now() when it started, if traced; else 0 */
  size_t ArgBytes;
  char *Args; /* traced: the glue's description of the arguments (malloc()ed), or NULL */
};

/*
 * One of the Session's own wrapper functions: its address, the name it was
 * added under (borrowed from Symbols, or NULL), how the wire glue describes
 * its calls (NULL: not at all), how it takes large arguments as they arrive
 * (NULL: whole), and the trace's counts of its calls.
 */
struct session_wrapper {
  orc_rt_ExecutorAddr Addr; /* the key of the sorted Wrappers array */
  const char *Name;
  const struct orcrt_wrapper_trace *Trace;
  orcrt_arg_stream_begin Stream; /* takes its arguments as they arrive, or NULL */
  struct trace_stats Stats; /* calls traced (log at debug when they started) */
  bool ByAddress; /* not a wrapper: a function of LLVM's ABI the glue describes (Described) */
  unsigned Wires; /* the wires (wire.h) that name it: the union over its names */
};

struct orc_rt_OpaqueSession {
  pthread_mutex_t Lock; /* protects everything below (see the file header) */
  pthread_cond_t Cond;
  enum session_state State;
  struct orcrt_log Log; /* frozen from attach on, then read without Lock */
  orc_rt_TaskDispatcherRef Dispatcher;

  /* The ControllerAccess; CAOps is set from attach on (NULL if never). */
  const orc_rt_ControllerAccessOps *CAOps;
  void *CACtx;
  unsigned CAUsers; /* threads inside a ControllerAccess op (or Connect) */

  /* session-calls.c */
  uint64_t NextCallId;
  struct orcrt_u64map Pending; /* executor -> controller calls: CallId -> struct orcrt_call */
  struct orcrt_u64map Live;    /* incoming calls running: CallId -> struct live_call */
  size_t InFlight;             /* incoming calls running, not yet returned (sum over Live) */
  orc_rt_CallTargetCheckFn CheckFn;
  void *CheckCtx;
  /* The trace's counts of calls by address and of calls to the controller, and its start. */
  struct trace_stats ByAddrStats, OutStats;
  uint64_t TraceStart; /* orcrt_trace_now() at attach */

  /* session-symbols.c; fixed from attach on */
  ORCRT_ARRAY(orc_rt_BootstrapSymbol) Symbols;   /* Names strdup()ed, in order of addition */
  ORCRT_ARRAY(struct session_wrapper) Wrappers;  /* sorted by Addr, unique; Stats mutable */
  ORCRT_ARRAY(struct session_wrapper) Described; /* the same, for functions called by address */
  ORCRT_ARRAY(orc_rt_ExecutorAddr) ShortWrappers; /* marked short: a subset, sorted, unique */
  ORCRT_ARRAY(unsigned) SymbolWires; /* Symbols.Items[I]'s wires (wire.h), same length */
  orc_rt_Protocol Protocol;          /* as set; Auto by default */

  /* session-calls.c: the calls the controller made, and the wire its calls showed (0: none yet) */
  uint64_t CallCount;
  unsigned Wire;

  /* session.c */
  ORCRT_ARRAY(struct service *) Services; /* in registration order */
  orc_rt_ErrorReporterFn ReporterFn;
  void *ReporterCtx;
  char *DisconnectMsg;

  /* The control thread and its requests. */
  bool DetachRequested, ShutdownRequested, Exiting, ThreadStarted;
  pthread_t Thread;
  struct completion_list OnDetach, OnShutdown;
  /* Shutdown has seen every call answered; OnDrained ran (or runs) then. */
  bool Drained;
  struct completion_list OnDrained;
  struct completion Spare[SESSION_SPARE_COMPLETIONS];
};

static inline void session_lock(orc_rt_SessionRef S) {
  pthread_mutex_lock(&S->Lock);
}

static inline void session_unlock(orc_rt_SessionRef S) {
  pthread_mutex_unlock(&S->Lock);
}

static inline void session_wait(orc_rt_SessionRef S) {
  pthread_cond_wait(&S->Cond, &S->Lock);
}

/* Bootstrap tables, wrapper sets and the call-target check are fixed from attach on. */
static inline bool session_frozen_locked(orc_rt_SessionRef S) {
  return S->CAOps != NULL || S->State != SESSION_CREATED;
}

/* session-symbols.c: whether Addr is in the wrapper set, or in the short set. Lock held. */
bool orcrt_session_is_wrapper_locked(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr);
/* session-symbols.c: the wrapper at Addr, or NULL. Lock held (stable from attach on). */
struct session_wrapper *orcrt_session_find_wrapper_locked(orc_rt_SessionRef S,
                                                          orc_rt_ExecutorAddr Addr);
/* session-symbols.c: how the glue describes calls by address to Addr, or NULL. Lock held. */
struct session_wrapper *orcrt_session_find_described_locked(orc_rt_SessionRef S,
                                                            orc_rt_ExecutorAddr Addr);
bool orcrt_session_is_short_locked(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr);

/*
 * setup.c: count a call from the controller to W (its wrapper or Described
 * entry, or NULL) and, if W is the first wrapper of a single wire called,
 * take that as the controller's wire and say so. Lock not held.
 */
void orcrt_session_note_call(orc_rt_SessionRef S, const struct session_wrapper *W);

/* session-log.c: log the trace's summary of S's calls, if the log is at debug. Lock not held. */
void orcrt_session_log_summary(orc_rt_SessionRef S);

/* session-symbols.c: free the symbol table and the wrapper sets (at destroy). */
void orcrt_session_symbols_free(orc_rt_SessionRef S);

/*
 * Test-only fault injection: when set, the Session allocates its completion
 * nodes with it instead of malloc(), so a test can make that allocation fail.
 */
extern void *(*orcrt_session_fault_malloc)(size_t Size);

#endif /* ORCRT_SESSION_PRIVATE_H */

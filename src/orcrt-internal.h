/*
 * orcrt-internal.h - definitions shared by the library's source files
 */
#ifndef ORCRT_INTERNAL_H
#define ORCRT_INTERNAL_H

#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>

#include <orcrt/log.h>

/* Marks a definition that is part of the library's exported API. */
#define ORC_RT_EXPORT __attribute__((visibility("default")))

#define ORCRT_ARRAY_SIZE(A) (sizeof(A) / sizeof((A)[0]))

/*
 * Lock order: where a file holds one lock while taking another, the first
 * comes first here; a lock listed alone is a leaf (nothing else is taken
 * while it is held). Each file's header says what its locks protect.
 *
 *   dylib.c             D->RuntimeLock -> D->Lock
 *   session*.c          S->Lock, a leaf: the Session calls out (ops,
 *                       callbacks, dispatch, log) only with it released
 *   loopback.c          LC->Lock, a leaf
 *   pipe-*.c            P->Lock, a leaf (pipe-internal.h says what it guards)
 *   notification.c      N->Lock, a leaf
 *   task-dispatcher.c   D->Lock, a leaf
 *   queue-dispatcher.c  Q->Lock, a leaf (released while a task runs)
 *   util/waiter.c       W->Lock, a leaf
 *   thread-pool.c       P->Lock, a leaf (released while a task runs)
 *
 * The memory subsystem (jit-ranges.h has the details):
 *   eh-frame.c EHLock, gdb-jit.c GDBLock,
 *   perf-jitdump.c PerfLock                 (never held together)
 *     -> the loader's lock (dl_iterate_phdr()), libgcc's frame lock
 *     -> memory.c M->Lock, shared-memory.c M->Lock   (one per Service)
 *     -> jit-ranges.c RangesLock                      (a leaf)
 *   bootstrap.c LiveLock, a leaf
 *   crash.c             no lock; its signal handler only trylocks RangesLock
 *                       and GDBLock (never waits), one at a time
 * The registry runs its release observers (which take EHLock, GDBLock or PerfLock)
 * with none of the locks below them held, and no lock of the memory
 * Services or the registry is held across an allocation action, an
 * observer, or a copy into JIT memory.
 */

/* A Session's log: where messages go and how verbose it is. */
struct orcrt_log {
  orc_rt_LogFn Fn;
  void *Ctx;
  atomic_int Level;
};

/* Default sink and the level from ORCRT_LOG. */
void orcrt_log_init(struct orcrt_log *L);

/* Format and send a message if L logs at Level. */
void orcrt_log_vprintf(struct orcrt_log *L, orc_rt_LogLevel Level, const char *Fmt,
                       va_list Ap) ORC_RT_PRINTF(3, 0);

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#include <stdbool.h>

#include <orcrt/executor-addr.h>

#include <stddef.h>

/*
 * Only in the fuzzers' build (contrib/fuzz), where an input names every
 * address: the N synchronous wrappers of the runtime that a fuzz input may
 * call (the harness names them; before it does, nothing may be called), and
 * whether Fn is one of them. Set once, before any Session runs.
 */
void orcrt_fuzzing_allow_calls(const orc_rt_ExecutorAddr *Fns, size_t N);
bool orcrt_fuzzing_may_call(orc_rt_ExecutorAddr Fn);
#endif

#endif /* ORCRT_INTERNAL_H */

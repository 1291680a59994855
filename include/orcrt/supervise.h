/*
 * orcrt/supervise.h - ending a Session whose JIT'd code may outlive its
 * controller
 *
 * What an executor program does once it has attached its Session: wait for
 * the controller to go, give the calls still running (JIT'd code: a main
 * that loops or blocks) a grace period to return, shut the Session down,
 * and flush the JIT'd program's output before the transport tells the
 * controller that the executor is done. If some JIT'd code never returns,
 * the Session cannot shut down; the call then gives up on that code
 * (abandonment) and says so, and the program must end without destroying
 * the Session. orcrt-executor is a thin program around this call.
 *
 * This is policy above the Session's state machine (session.h): it acts on
 * the whole process (its stdio buffers, a thread of its own, the memory
 * Service's deallocation actions), so it has a header of its own.
 */
#ifndef ORCRT_SUPERVISE_H
#define ORCRT_SUPERVISE_H

#include <orcrt/error.h>
#include <orcrt/session.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Options of orc_rt_Session_supervise(). Initialise with orc_rt_SuperviseOptions_init(). */
typedef struct {
  /**
   * How long calls still running when the Session detaches get to return
   * before the Session's JIT'd code is abandoned, in milliseconds.
   * Default 1000.
   */
  unsigned GraceMs;
  /**
   * On abandonment, how long the deallocation actions of the JIT memory
   * left and the flushing of stdio may take, in milliseconds: either may
   * block on a lock the abandoned code holds. Default 500.
   */
  unsigned AbandonMs;
  /**
   * Once every call has returned, how long the Services' orderly cleanup
   * (the deallocation actions, the libraries' destructors as they are
   * closed) may take before the Session is given up on, in milliseconds;
   * 0: no limit. It is not cut short by GraceMs, which is only for code
   * that does not return. Default 60000.
   */
  unsigned CleanupMs;
} orc_rt_SuperviseOptions;

/** How orc_rt_Session_supervise() ended. */
typedef enum {
  /**
   * The Session has shut down (every call returned, every Service shut
   * down) and stdout and stderr are flushed. Destroy the Session, which
   * closes the transport's output descriptor, then exit as usual.
   */
  orc_rt_SuperviseResult_Ended = 0,
  /**
   * JIT'd code was still running after the grace period and was given up
   * on. The Session must not be destroyed while that code runs
   * (orc_rt_Session_destroy() would wait for it, for ever if it never
   * returns), nor while the abandonment steps may still run (when they
   * took more than AbandonMs); the process should end at once with
   * _exit(): exit() would run atexit handlers and static destructors
   * under the running code.
   */
  orc_rt_SuperviseResult_Abandoned = 1,
} orc_rt_SuperviseResult;

/** Fill O with the defaults listed above. Any thread. */
void orc_rt_SuperviseOptions_init(orc_rt_SuperviseOptions *O);

/**
 * Supervise S to its end. S should be attached: this blocks until S has
 * detached (the controller went away, a protocol error, or
 * orc_rt_Session_detach() from anywhere). Then it starts S's shutdown,
 * waits GraceMs at most for the calls still running to return, and then
 * CleanupMs at most for the Services to shut down.
 *
 * If the shutdown completes in time (the usual case: no JIT'd code is
 * running), it flushes stdout and stderr and returns
 * orc_rt_SuperviseResult_Ended.
 *
 * If the cleanup overruns CleanupMs, it logs a warning that says so and
 * flushes every stdio stream on a thread of its own, waiting AbandonMs at
 * most, and returns orc_rt_SuperviseResult_Abandoned.
 *
 * If calls still run after GraceMs, it abandons them: it logs a warning through
 * S, and on a thread of its own runs the deallocation actions of the JIT
 * memory S's memory Service still holds
 * (orc_rt_MemoryService_releaseAbandoned(), which leaves the memory mapped,
 * since the code may still run there) and flushes every stdio stream
 * (fflush(NULL): exit() will not run), waiting AbandonMs at most for that;
 * then it returns
 * orc_rt_SuperviseResult_Abandoned (see there: do not destroy S; _exit()).
 * The shutdown goes on in the background should the code return after
 * all.
 *
 * Opts NULL means the defaults. Never exits the process. Must not be
 * called from one of S's tasks or callbacks. The disconnect error
 * (orc_rt_Session_getDisconnectError()) can still be read afterwards, e.g.
 * for the exit status.
 */
orc_rt_SuperviseResult orc_rt_Session_supervise(orc_rt_SessionRef S,
                                                const orc_rt_SuperviseOptions *Opts);

/**
 * Report fatal signals of the process on stderr before it dies of them.
 * Installs a handler (on an alternate signal stack) for SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE, SIGABRT and SIGTRAP that writes, each line starting with
 * ProgramName (copied; at most 63 bytes kept) and ": ": the signal, its
 * cause and the faulting address; where the program counter and the
 * address lie: in JIT'd code or data (with the nearest JIT'd symbol a
 * debug object registered through the GDB JIT interface names, or main,
 * the entry point run, when nothing else is known; or "no JIT'd symbol
 * known"), how far into which segment (its protection) of which JIT
 * allocation, or "not JIT memory". Then it flushes stdout if its lock is
 * free (best effort) and lets the signal take its default action: the
 * process dies of the same signal (a core dump where enabled), so that
 * its parent and a shell see the real cause.
 *
 * The threads that run JIT'd code for a Session (run-as-main, -void, -int)
 * get an alternate signal stack when they first do, so that a stack
 * overflow there is reported too; so does the calling thread. Threads the
 * JIT'd code starts itself have none: a stack overflow there kills the
 * process unreported. JIT'd code that installs its own handler for one of
 * these signals replaces this one.
 *
 * Once per process, typically first thing in main(); later calls fail.
 * Returns NULL, or an error if a handler or the alternate stack could not
 * be set up. The handler is async-signal-safe but for non-blocking
 * trylocks on the library's JIT memory and debug object lists (if either
 * is held, the report says it cannot tell) and the flush of stdout (see
 * orc_rt_CrashReport_install(3)).
 */
orc_rt_ErrorRef orc_rt_CrashReport_install(const char *ProgramName);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_SUPERVISE_H */

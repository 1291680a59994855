/*
 * crash-internal.h - what the crash report (crash.c) needs from the code
 * that runs JIT'd code (bootstrap.c)
 */
#ifndef ORCRT_CRASH_INTERNAL_H
#define ORCRT_CRASH_INTERNAL_H

#include <orcrt/executor-addr.h>

/*
 * About to run JIT'd code on this thread: if crash reports are on, give
 * the thread an alternate signal stack (once per thread, freed when it
 * ends), so that a stack overflow is reported too. Any thread; cheap when
 * reports are off or the thread has its stack.
 */
void orcrt_crash_prepare_thread(void);

/*
 * JIT'd code's main is at Addr: the report names it as the nearest known
 * symbol when no debug object names the crashing code. Any thread.
 */
void orcrt_crash_note_main(orc_rt_ExecutorAddr Addr);

#endif /* ORCRT_CRASH_INTERNAL_H */

/*
 * eh-frame-internal.h - the unwind registrar's operations (eh-frame.c),
 * for the wire glue of LLVM's EH-frame entry points (llvm19/bootstrap.c)
 * and the dylib lookup that hands JIT'd code libunwind's (llvm19/dylib.c)
 */
#ifndef ORCRT_EH_FRAME_INTERNAL_H
#define ORCRT_EH_FRAME_INTERNAL_H

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>

/*
 * Register the .eh_frame section R with the unwinder, after checking that
 * it is readable memory (jit-ranges.c) and that its records are sound, and
 * that it overlaps no registered section. NULL or the error. Any thread.
 */
orc_rt_ErrorRef orcrt_eh_frame_register(orc_rt_ExecutorAddrRange R);

/* Deregister the section registered as exactly R; an error if there is none. */
orc_rt_ErrorRef orcrt_eh_frame_deregister(orc_rt_ExecutorAddrRange R);

/*
 * libunwind's __unw_add_dynamic_eh_frame_section(), which LLVM's ORC runtime
 * calls with the start of a section it has no end for. In JIT memory whose
 * content has not arrived yet, the start waits until its publisher reports
 * the content there (orcrt_ranges_ready_runs()); otherwise, in readable JIT
 * memory or a loaded object, the section is checked as
 * orcrt_eh_frame_register() checks it, its records bounded by the end of
 * that memory, and registered at once. A section refused is reported to
 * the Session owning its memory (or its caller's), never to the unwinder.
 * Any thread.
 */
void orcrt_eh_frame_add(const void *Section);

/*
 * libunwind's __unw_remove_dynamic_eh_frame_section(): drop the start
 * Section if it waits, deregister the section starting there if one is
 * registered, and ignore it otherwise. Any thread.
 */
void orcrt_eh_frame_remove(const void *Section);

#endif /* ORCRT_EH_FRAME_INTERNAL_H */

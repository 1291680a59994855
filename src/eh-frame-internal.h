/*
 * eh-frame-internal.h - the unwind registrar's operations (eh-frame.c),
 * for the wire glue of LLVM's EH-frame entry points (llvm19/bootstrap.c)
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

#endif /* ORCRT_EH_FRAME_INTERNAL_H */

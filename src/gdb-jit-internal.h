/*
 * gdb-jit-internal.h - the debugger registrar's operation (gdb-jit.c), for
 * the wire glue of LLVM's GDB entry point (llvm19/bootstrap.c)
 */
#ifndef ORCRT_GDB_JIT_INTERNAL_H
#define ORCRT_GDB_JIT_INTERNAL_H

#include <stdbool.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>

/*
 * Link the debug object R into __jit_debug_descriptor, after checking that
 * it is readable memory (jit-ranges.c) and not registered yet; with
 * AutoRegister, tell the debugger at once. NULL or the error. Any thread.
 */
orc_rt_ErrorRef orcrt_gdb_jit_register(orc_rt_ExecutorAddrRange R, bool AutoRegister);

#endif /* ORCRT_GDB_JIT_INTERNAL_H */

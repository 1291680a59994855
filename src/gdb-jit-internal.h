/*
 * gdb-jit-internal.h - the debugger registrar's operation (gdb-jit.c), for
 * the wire glue of LLVM's GDB entry point (llvm19/bootstrap.c)
 */
#ifndef ORCRT_GDB_JIT_INTERNAL_H
#define ORCRT_GDB_JIT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>

/*
 * Link the debug object R into __jit_debug_descriptor, after checking that
 * it is readable memory (jit-ranges.c) and not registered yet; with
 * AutoRegister, tell the debugger at once. NULL or the error. Any thread.
 */
orc_rt_ErrorRef orcrt_gdb_jit_register(orc_rt_ExecutorAddrRange R, bool AutoRegister);

/* The JIT'd symbol nearest below an address, from the registered debug objects. */
struct orcrt_gdb_jit_symbol {
  char Name[128]; /* NUL-terminated, cut short if longer */
  uint64_t Addr;  /* where the symbol starts */
  bool Contains;  /* the address is inside the symbol's size, not just after it */
};

/*
 * Name the JIT'd symbol at or nearest below Addr in the same section of a
 * registered debug object (an ELF object whose section addresses are the
 * load addresses, as LLVM's debug-object plugin registers them): 1 with
 * *Out filled, 0 if none is known, -1 if GDBLock is held. Never blocks and
 * calls nothing but pthread_mutex_trylock/unlock: for a signal handler.
 * The objects cannot go while it reads them: their release takes GDBLock.
 */
int orcrt_gdb_jit_symbolize_nonblocking(orc_rt_ExecutorAddr Addr, struct orcrt_gdb_jit_symbol *Out);

#endif /* ORCRT_GDB_JIT_INTERNAL_H */

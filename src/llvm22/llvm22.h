/*
 * llvm22/llvm22.h - the wire glue of LLVM 22's controllers, as what they
 * call beyond the names they share with LLVM 19 (src/llvm19/)
 *
 * LLVM 22 keeps 19's framing and 4-field Setup, and the names of open,
 * reserve, the run and write wrappers, JIT dispatch and the shared-memory
 * mapper with their semantics. It replaces 19's memory manager
 * (initialize, deinitialize, release), its lookup (resolve), adds memory
 * reads and write_pointers, and registers EH frames and debug objects
 * through allocation actions of other names (doc/protocol/LLVM22.md).
 * These functions add those, for ORCRT_WIRE_LLVM22 only.
 */
#ifndef ORCRT_LLVM22_H
#define ORCRT_LLVM22_H

#include <orcrt/dylib.h>
#include <orcrt/error.h>
#include <orcrt/memory.h>
#include <orcrt/session.h>

/* initialize, deinitialize, release (llvm22/memory.c). */
orc_rt_ErrorRef orcrt_llvm22_add_memory(orc_rt_SessionRef S, orc_rt_MemoryServiceRef M);

/* resolve (llvm22/dylib.c). */
orc_rt_ErrorRef orcrt_llvm22_add_dylib(orc_rt_SessionRef S, orc_rt_DylibServiceRef D);

/* The memory reads, write_pointers and the allocation-action entry points (llvm22/bootstrap.c). */
orc_rt_ErrorRef orcrt_llvm22_add_bootstrap(orc_rt_SessionRef S);

#endif /* ORCRT_LLVM22_H */

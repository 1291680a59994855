/*
 * memory-internal.h - what the executor's Services (JIT memory, libraries,
 * unwind and debugger registration, bootstrap) share inside the library
 */
#ifndef ORCRT_MEMORY_INTERNAL_H
#define ORCRT_MEMORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/executor-addr.h>
#include <orcrt/memory.h>
#include <orcrt/service.h>

/* The ops of the Services, to find them with orc_rt_Session_findService(). */
extern const orc_rt_ServiceOps orcrt_memory_service_ops;
extern const orc_rt_ServiceOps orcrt_dylib_service_ops;

/*
 * Whether Addr may be called with LLVM's synchronous ABI: it lies in an
 * executable segment finalized by M (M may be NULL) or in an executable
 * segment of a loaded object.
 */
bool orcrt_memory_is_call_target(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr);

/* Whether Addr lies in an executable PT_LOAD segment of a loaded object. */
bool orcrt_is_loaded_code(orc_rt_ExecutorAddr Addr);

/*
 * Whether the Size bytes at Addr can be read: they lie in readable finalized
 * segments of a live memory Service of this process (any Session), in
 * readable initialized segments of a live shared-memory Service, or in a
 * readable PT_LOAD segment of a loaded object. Memory being deallocated does
 * not count, so a registration checked with this is either seen by the
 * deallocation's purge or refused.
 */
bool orcrt_is_readable(orc_rt_ExecutorAddr Addr, uint64_t Size);

/*
 * Whether the Size bytes at Addr lie in JIT memory of a live memory Service
 * of this process (any state but being released), or in a reservation of a
 * live shared-memory Service not being released.
 */
bool orcrt_memory_is_jit_memory(orc_rt_ExecutorAddr Addr, uint64_t Size);

/*
 * Unwind registrations (eh-frame.c). The registry is the process's, as the
 * unwinder is.
 */

/* Deregister every EH frame section starting in [Start, End); returns how many. */
size_t orcrt_eh_frame_purge(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End);
/* Deregister every section that does not lie in JIT memory; returns how many. */
size_t orcrt_eh_frame_purge_outside_jit_memory(void);

/* Debugger registrations (gdb-jit.c), likewise. */
size_t orcrt_gdb_jit_purge(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End);
size_t orcrt_gdb_jit_purge_outside_jit_memory(void);

#endif /* ORCRT_MEMORY_INTERNAL_H */

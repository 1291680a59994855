/*
 * memory-internal.h - what memory.c offers the rest of the library beyond
 * orcrt/memory.h: its ops (to find the Service of a Session) and the
 * operations its wire glue (llvm19/memory.c) needs
 */
#ifndef ORCRT_MEMORY_INTERNAL_H
#define ORCRT_MEMORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <orcrt/executor-addr.h>
#include <orcrt/memory.h>
#include <orcrt/service.h>

/* The ops of the memory Service, to find it with orc_rt_Session_findService(). */
extern const orc_rt_ServiceOps orcrt_memory_service_ops;

/*
 * Deallocate the N allocations at Bases as LLVM does: take them all in the
 * order listed (an unknown base is an error, the rest still go), then run
 * their deallocation actions and release them, the last first. Errors
 * joined.
 */
orc_rt_ErrorRef orcrt_memory_deallocate_all(orc_rt_MemoryServiceRef M,
                                            const orc_rt_ExecutorAddr *Bases, size_t N);

/* Whether deallocating one of the N allocations at Bases would run deallocation actions. */
bool orcrt_memory_any_dealloc_actions(orc_rt_MemoryServiceRef M, const orc_rt_ExecutorAddr *Bases,
                                      size_t N);

#endif /* ORCRT_MEMORY_INTERNAL_H */

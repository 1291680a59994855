/*
 * memory-internal.h - what memory.c offers the rest of the library beyond
 * orcrt/memory.h: its ops (to find the Service of a Session) and the
 * operations its wire glue (llvm19/memory.c) needs
 */
#ifndef ORCRT_MEMORY_INTERNAL_H
#define ORCRT_MEMORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <orcrt/executor-addr.h>
#include <orcrt/memory.h>
#include <orcrt/service.h>

/* The ops of the memory Service, to find it with orc_rt_Session_findService(). */
extern const orc_rt_ServiceOps orcrt_memory_service_ops;

/*
 * Create a memory Service with Strategy and add it to S: the Service alone,
 * without wire glue (orc_rt_MemoryService_add() in protocol.c adds both).
 * On success *Out is owned by S.
 */
orc_rt_ErrorRef orcrt_memory_add(orc_rt_SessionRef S, orc_rt_MemoryStrategy Strategy,
                                 orc_rt_MemoryServiceRef *Out);

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

/*
 * Content that arrives ahead of the initialize (or finalize) that places
 * it: put Size bytes at Addr now, where the request will find them with
 * its segment's Content NULL (src/llvm19/request-stream.c). Only into an
 * allocation that is neither being initialized nor released, outside its
 * regions; under MemFD, into the memfd. orcrt_memory_may_place() says
 * whether the Size bytes at Addr may take content now (a segment's span:
 * its bytes after the content stay as they are, for the request to
 * zero-fill). orcrt_memory_place() copies Data and returns false where
 * that is refused or fails.
 * orcrt_memory_place_from() reads up to Size bytes from the descriptor
 * From instead (splice() from a pipe into the memfd, else read() into the
 * memory) and returns what read() would, or -1 with errno EFAULT where it
 * is refused, ENOTSUP where From is not a pipe and the memory a memfd's.
 */
bool orcrt_memory_may_place(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr, uint64_t Size);
bool orcrt_memory_place(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr, const void *Data,
                        size_t Size);
ssize_t orcrt_memory_place_from(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr, size_t Size,
                                int From);

#endif /* ORCRT_MEMORY_INTERNAL_H */

/*
 * orcrt/shared-memory.h - JIT memory the controller writes directly
 *
 * The shared-memory Service follows LLVM 19's
 * ExecutorSharedMemoryMapperService, which llvm-jitlink-19 uses with
 * -use-shared-memory. The executor creates a POSIX shared memory object for
 * each reservation and maps it; the controller opens the same object by
 * name, maps it too and writes the linked code and data into its own view,
 * so no content travels over the channel. The executor only sets the
 * protections and runs the allocation actions:
 *
 *   reserve       creates a shared memory object of Size bytes (rounded up
 *                 to whole pages) under a fresh, unguessable name, maps it
 *                 read-only and returns its base and the name.
 *   initialize    makes an allocation inside a reservation, whose content
 *                 the controller has written: gives each segment its
 *                 protection, runs the finalize actions in order (LLVM's
 *                 synchronous wrapper ABI, SPSError results) and keeps the
 *                 deallocation actions. The allocation is known by its
 *                 lowest segment address.
 *   deinitialize  runs an allocation's deallocation actions in reverse
 *                 order, drops unwind and debugger registrations left in it,
 *                 makes its pages read-only again (the controller may reuse
 *                 them) and forgets it.
 *   release       deinitializes what is left of a reservation, unmaps it and
 *                 removes its name.
 *
 * The name of a reservation's object is removed at its first initialize (by
 * then the controller has opened it; LLVM's controller removes it itself as
 * soon as it has), at release and at shutdown, so no object outlives the
 * session. At Service shutdown every reservation still held is released,
 * the most recent first.
 *
 * W^X: the executor's view is never writable and executable at once. It is
 * read-only from reserve to initialize (readable, because LLVM's ORC runtime
 * reads a reservation before initializing it), a segment asking for Write
 * and Exec together is refused, and the executor never writes through its
 * view: writing is the controller's part, through its own mapping.
 *
 * Every address and size is checked (overflow included): a segment must lie
 * in the reservation it names, and must not share a page with a live
 * allocation or with a segment of another protection. Deinitializing or
 * releasing an address that was not handed out is an error. A bad request is
 * an error, never a fault. The wrappers answer arguments that do not decode
 * with an out-of-band error (as LLVM's executor does), and every other bad
 * request with the SPS error of their return type.
 *
 * All functions may be called from any thread, but not concurrently with
 * the Session's shutdown.
 */
#ifndef ORCRT_SHARED_MEMORY_H
#define ORCRT_SHARED_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/memory.h>
#include <orcrt/session.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The shared-memory Service of a Session. */
typedef struct orc_rt_OpaqueSharedMemoryService *orc_rt_SharedMemoryServiceRef;

/** One segment of an initialize request: its content is in place already. */
typedef struct {
  /** orc_rt_MemProt bits (FinalizeLifetime is accepted and ignored). */
  uint8_t Prot;
  /** First byte of the segment; must lie in the reservation. */
  orc_rt_ExecutorAddr Addr;
  /** Segment size in bytes. */
  uint64_t Size;
} orc_rt_SharedMemorySegment;

/**
 * An initialize request (LLVM's tpctypes::SharedMemoryFinalizeRequest).
 * Everything is borrowed for the call; the Service copies the deallocation
 * actions it keeps.
 */
typedef struct {
  const orc_rt_SharedMemorySegment *Segments;
  size_t NumSegments;
  const orc_rt_MemoryActionPair *Actions;
  size_t NumActions;
} orc_rt_SharedMemoryFinalizeRequest;

/**
 * Create a shared-memory Service and add it to S, together with its
 * bootstrap symbols: __llvm_orc_ExecutorSharedMemoryMapperService_Instance
 * (the Service's address) and the asynchronous wrapper functions
 * __llvm_orc_ExecutorSharedMemoryMapperService_{Reserve,Initialize,
 * Deinitialize,Release}. A Session has at most one. Only before S is
 * attached. *Out is owned by S and valid until S is destroyed.
 */
orc_rt_ErrorRef orc_rt_SharedMemoryService_add(orc_rt_SessionRef S,
                                               orc_rt_SharedMemoryServiceRef *Out);

/**
 * Reserve Size bytes (rounded up to whole pages; 0 is an error) in a new
 * shared memory object, store its base in *Base and its name (for
 * shm_open(3); a malloc()ed string the caller frees) in *Name. The view is
 * read-only until initialize. Returns NULL or the error (nothing is left
 * behind then).
 */
orc_rt_ErrorRef orc_rt_SharedMemoryService_reserve(orc_rt_SharedMemoryServiceRef M, uint64_t Size,
                                                   orc_rt_ExecutorAddr *Base, char **Name);

/**
 * Initialize an allocation in the reservation at Reservation (see above)
 * and store its address, the lowest segment address, in *Alloc. A request
 * without segments is an error. If a finalize action fails, the
 * deallocation actions of those that completed run in reverse order, the
 * pages go back to read-only and the error is returned.
 */
orc_rt_ErrorRef orc_rt_SharedMemoryService_initialize(orc_rt_SharedMemoryServiceRef M,
                                                      orc_rt_ExecutorAddr Reservation,
                                                      const orc_rt_SharedMemoryFinalizeRequest *Req,
                                                      orc_rt_ExecutorAddr *Alloc);

/**
 * Deinitialize the allocation at Alloc (see above). Returns an error for an
 * address that is not a live allocation, or joined from failing
 * deallocation actions (the allocation goes anyway).
 */
orc_rt_ErrorRef orc_rt_SharedMemoryService_deinitialize(orc_rt_SharedMemoryServiceRef M,
                                                        orc_rt_ExecutorAddr Alloc);

/**
 * Release the reservation at Reservation (see above). Returns an error for
 * an address that is not a live reservation, or joined from the
 * deinitialization of its allocations (it is released anyway).
 */
orc_rt_ErrorRef orc_rt_SharedMemoryService_release(orc_rt_SharedMemoryServiceRef M,
                                                   orc_rt_ExecutorAddr Reservation);

/**
 * Whether Addr lies in a segment of a live allocation of M that has
 * executable protection.
 */
bool orc_rt_SharedMemoryService_isExecutable(orc_rt_SharedMemoryServiceRef M,
                                             orc_rt_ExecutorAddr Addr);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_SHARED_MEMORY_H */

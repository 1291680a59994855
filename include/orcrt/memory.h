/*
 * orcrt/memory.h - JIT memory: reserve, finalize, deallocate
 *
 * The memory Service owns the address space the controller links code into.
 * It follows the SimpleExecutorMemoryManager of LLVM 14 to 19 and, with
 * initialize and deinitialize, LLVM 22's:
 *
 *   reserve      maps Size bytes (rounded up to whole pages) and records them
 *                as an allocation keyed by its base address.
 *   finalize     copies each segment's content into the allocation, zero-fills
 *                the rest of the segment, sets the segment's protection, keeps
 *                the deallocation actions and runs the finalize actions in
 *                order (LLVM's synchronous wrapper ABI, SPSError results).
 *   deallocate   runs an allocation's deallocation actions in reverse order,
 *                unmaps it and forgets it.
 *
 * At Service shutdown every allocation still held is deallocated, the most
 * recently reserved first: its deallocation actions run and its unwind and
 * debugger registrations go, but its memory stays mapped until the Session
 * is destroyed, after the dispatcher's threads have exited (their
 * thread-specific data destructors may be JIT'd code).
 *
 * W^X: no page of JIT memory is ever writable and executable at once. With
 * the MProtect strategy content is written while the pages are read/write
 * and then given their final protection; with MemFD the allocation is a
 * memfd whose view (a private mapping, so that debuggers can still set
 * breakpoints in it) stays read-only until finalize, and content goes
 * through a separate, temporary read/write mapping of the same memfd. The
 * memfd's descriptor is closed once the allocation is finalized (one that
 * is initialized region by region keeps it until deallocated); a
 * reservation that cannot have one (descriptors exhausted, or reserved
 * allocations already holding a quarter of RLIMIT_NOFILE) uses MProtect.
 *
 * Every address and size is checked (overflow included) against the
 * allocation it claims to lie in; a bad request is an error, never a fault.
 * The wrappers answer arguments that do not decode with an out-of-band error
 * (as LLVM's executor does), and every other bad request with the SPS error
 * of their return type.
 *
 * All functions may be called from any thread, but not concurrently with the
 * Session's shutdown; finalize calls for different allocations run
 * concurrently.
 */
#ifndef ORCRT_MEMORY_H
#define ORCRT_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/session.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How JIT memory keeps W^X (see above). */
typedef enum {
  orc_rt_MemoryStrategy_MProtect,
  orc_rt_MemoryStrategy_MemFD,
} orc_rt_MemoryStrategy;

/**
 * Segment protection bits, as LLVM encodes them on the wire. Write and
 * Exec together are refused (W^X). FinalizeLifetime is a lifetime hint from
 * the controller and sets no protection.
 */
typedef enum {
  orc_rt_MemProt_Read = 0x01,
  orc_rt_MemProt_Write = 0x02,
  orc_rt_MemProt_Exec = 0x04,
  orc_rt_MemProt_FinalizeLifetime = 0x08,
} orc_rt_MemProt;

/** The memory Service of a Session. */
typedef struct orc_rt_OpaqueMemoryService *orc_rt_MemoryServiceRef;

/** One segment of a finalize request. */
typedef struct {
  /** orc_rt_MemProt bits. */
  uint8_t Prot;
  /** First byte of the segment; must lie in the allocation. */
  orc_rt_ExecutorAddr Addr;
  /** Segment size in bytes; ContentSize <= Size, the rest is zero-filled. */
  uint64_t Size;
  /**
   * The bytes to copy to Addr (borrowed for the call), or NULL: the first
   * ContentSize bytes are in place already (written with
   * orc_rt_MemoryService_write()), and only the rest is zero-filled.
   */
  const char *Content;
  size_t ContentSize;
} orc_rt_MemorySegment;

/**
 * A call to make inside the executor: Fn(ArgData, ArgSize) with LLVM's
 * synchronous wrapper ABI, whose result is decoded as an SPSError. Fn 0
 * means "no call".
 */
typedef struct {
  orc_rt_ExecutorAddr Fn;
  const char *ArgData;
  size_t ArgSize;
} orc_rt_MemoryAction;

/** A finalize action and the deallocation action that undoes it. */
typedef struct {
  orc_rt_MemoryAction Finalize;
  orc_rt_MemoryAction Dealloc;
} orc_rt_MemoryActionPair;

/**
 * A finalize request (LLVM's tpctypes::FinalizeRequest). The allocation is
 * the one whose base is the lowest segment address. Everything is borrowed
 * for the call; the Service copies the deallocation actions it keeps.
 */
typedef struct {
  const orc_rt_MemorySegment *Segments;
  size_t NumSegments;
  const orc_rt_MemoryActionPair *Actions;
  size_t NumActions;
} orc_rt_MemoryFinalizeRequest;

/**
 * Create a memory Service and add it to S, together with its bootstrap
 * symbols: __llvm_orc_SimpleExecutorMemoryManager_Instance (the Service's
 * address) and the asynchronous wrapper functions
 * __llvm_orc_SimpleExecutorMemoryManager_{reserve,finalize,deallocate}_wrapper.
 * With MemFD, if the kernel refuses memfd_create() the Service uses
 * MProtect instead (see orc_rt_MemoryService_getStrategy()). A Session has at
 * most one memory Service. Only before S is attached. *Out is owned by S
 * and valid until S is destroyed.
 */
orc_rt_ErrorRef orc_rt_MemoryService_add(orc_rt_SessionRef S, orc_rt_MemoryStrategy Strategy,
                                         orc_rt_MemoryServiceRef *Out);

/** The strategy M uses (MProtect if MemFD was asked for but is unavailable). */
orc_rt_MemoryStrategy orc_rt_MemoryService_getStrategy(orc_rt_MemoryServiceRef M);

/**
 * Reserve Size bytes, rounded up to whole pages, and store their base in
 * *Base. Size 0 succeeds with base 0 and records nothing. The memory is
 * readable and writable (MProtect) or read-only until finalize (MemFD; write
 * it with orc_rt_MemoryService_write()).
 * Returns an error if the size overflows or the memory cannot be mapped; a
 * size the system cannot back is refused the same way under both
 * strategies.
 */
orc_rt_ErrorRef orc_rt_MemoryService_reserve(orc_rt_MemoryServiceRef M, uint64_t Size,
                                             orc_rt_ExecutorAddr *Base);

/**
 * Finalize an allocation (see above). A request with no segments succeeds
 * if it has no actions and fails otherwise. An allocation can be finalized
 * once. Once the allocation is recognised, any failure (a segment outside
 * the allocation or with more content than its size, W and X together, a
 * failing finalize action) releases it the way LLVM does: the deallocation
 * actions of the finalize actions that completed run in reverse order and
 * the memory is unmapped and forgotten. Returns NULL on success.
 */
orc_rt_ErrorRef orc_rt_MemoryService_finalize(orc_rt_MemoryServiceRef M,
                                              const orc_rt_MemoryFinalizeRequest *Req);

/**
 * Initialize part of an allocation, as LLVM 22 does: the region Req makes
 * (from its lowest segment address, its key, to the end of its highest
 * segment) must lie in one allocation and overlap no region initialized
 * there before; an allocation takes any number of them, one at a time (a
 * second initialize of the same allocation waits for the first). Content,
 * zero-fill, protections and finalize actions as for finalize; everything
 * is checked before anything is written. A failure leaves the allocation
 * as it was (the deallocation actions of the finalize actions that
 * completed run); a request with no segments fails. On success *Key is the
 * region's key. An allocation finalized with orc_rt_MemoryService_finalize()
 * takes no region, and one with regions cannot be finalized.
 */
orc_rt_ErrorRef orc_rt_MemoryService_initialize(orc_rt_MemoryServiceRef M,
                                                const orc_rt_MemoryFinalizeRequest *Req,
                                                orc_rt_ExecutorAddr *Key);

/**
 * Run the deallocation actions of the region with key Key, last first, and
 * forget them; the region and its memory stay (a second call finds no
 * action to run). Returns an error for a key that starts no region, or
 * joined from failing actions.
 */
orc_rt_ErrorRef orc_rt_MemoryService_deinitialize(orc_rt_MemoryServiceRef M,
                                                  orc_rt_ExecutorAddr Key);

/**
 * Deallocate the allocation at Base: run its deallocation actions in reverse
 * order (those of all its regions, the last region's last action first), deregister unwind and
 * debugger registrations left inside it, unmap it and forget it. Base 0 (the empty reservation) is
 * a no-op. Returns an error for an unknown base (a double deallocate included), for an allocation
 * being finalized, or joined from failing deallocation actions (the memory is released anyway).
 */
orc_rt_ErrorRef orc_rt_MemoryService_deallocate(orc_rt_MemoryServiceRef M,
                                                orc_rt_ExecutorAddr Base);

/**
 * For a process that ends while calls may still be running in it (an
 * executor giving up on JIT'd code that outlived its controller): run the
 * deallocation actions of every allocation M still holds, the most recently
 * reserved first, but leave the memory mapped and its unwind and debugger
 * registrations in place, since the running code may still execute, unwind
 * or be debugged there. Allocations being finalized are skipped. The
 * allocations count as deallocated from then on (the Service's shutdown
 * does not run their actions again). Errors of the actions go to the
 * Session's error reporter. Returns how many allocations were released.
 * Any thread, including while the Session's shutdown waits for calls.
 */
size_t orc_rt_MemoryService_releaseAbandoned(orc_rt_MemoryServiceRef M);

/**
 * Whether Addr lies in a segment of M that has been given executable
 * protection by finalize (and not yet deallocated).
 */
bool orc_rt_MemoryService_isExecutable(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr);

/**
 * Write the Size bytes at Data to Addr in M. The whole range must lie in
 * one allocation, in reserved memory no segment was finalized over or in
 * writable finalized segments; the allocation must not be being finalized
 * or deallocated. Read-only or executable memory is never made writable:
 * such a write is an error. Returns NULL on success.
 */
orc_rt_ErrorRef orc_rt_MemoryService_write(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr,
                                           const void *Data, size_t Size);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_MEMORY_H */

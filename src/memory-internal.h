/*
 * memory-internal.h - what the executor's Services (JIT memory, libraries,
 * unwind and debugger registration, bootstrap) share inside the library
 */
#ifndef ORCRT_MEMORY_INTERNAL_H
#define ORCRT_MEMORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <orcrt/executor-addr.h>
#include <orcrt/memory.h>
#include <orcrt/service.h>
#include <orcrt/shared-memory.h>
#include <orcrt/sps.h>

/* The ops of the Services, to find them with orc_rt_Session_findService(). */
extern const orc_rt_ServiceOps orcrt_memory_service_ops;
extern const orc_rt_ServiceOps orcrt_dylib_service_ops;

/*
 * Whether Addr may be called with LLVM's synchronous ABI: it lies in an
 * executable segment finalized by M (M may be NULL) or in an executable
 * segment of a loaded object.
 */
bool orcrt_memory_is_call_target(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr);

/*
 * What the two JIT memory Services (memory.c, shared-memory.c) share.
 * Page is a power of two.
 */
static inline uint64_t orcrt_align_down(uint64_t A, uint64_t Page) {
  return A & ~(Page - 1);
}

/* The page end of an address inside JIT memory (which ends on a page boundary). */
static inline uint64_t orcrt_page_end(uint64_t A, uint64_t Page) {
  return (A + Page - 1) & ~(Page - 1);
}

/* The mmap/mprotect protection for an orc_rt_MemProt mask. */
static inline int orcrt_to_mmap_prot(uint8_t Prot) {
  return ((Prot & orc_rt_MemProt_Read) ? PROT_READ : 0) |
         ((Prot & orc_rt_MemProt_Write) ? PROT_WRITE : 0) |
         ((Prot & orc_rt_MemProt_Exec) ? PROT_EXEC : 0);
}

static inline void *orcrt_ptr(uint64_t A) {
  return (void *)(uintptr_t)A;
}

/*
 * Run the allocation action Fn(ArgData, ArgSize) with LLVM's synchronous
 * ABI and decode its SPSError result into an error (NULL: success; Fn 0 is
 * no action). Fn must lie in an executable segment of Shm (may be NULL) or
 * be a call target for Mem (orcrt_memory_is_call_target()); otherwise it is
 * not called and an error comes back. Any thread; takes the Services' locks
 * only while checking Fn.
 */
orc_rt_ErrorRef orcrt_run_action(orc_rt_MemoryServiceRef Mem, orc_rt_SharedMemoryServiceRef Shm,
                                 orc_rt_ExecutorAddr Fn, const char *ArgData, size_t ArgSize);

/*
 * Decode a Sequence<(WrapperFunctionCall Finalize, WrapperFunctionCall
 * Dealloc)> from R. The array (*Acts, *NumActs; NULL when empty) goes to the
 * caller, to free(); the actions' bytes point into R's span. False if R
 * fails or memory runs out (*Acts is then still the caller's to free).
 */
bool orcrt_read_action_pairs(orc_rt_SPSReader *R, orc_rt_MemoryActionPair **Acts, size_t *NumActs);

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

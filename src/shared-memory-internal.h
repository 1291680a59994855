/*
 * shared-memory-internal.h - what the other Services ask of the
 * shared-memory Service inside the library
 *
 * JIT memory comes from two Services: the memory Service (content copied
 * over the channel) and the shared-memory Service (content written by the
 * controller into shared memory). The checks that ask "is this JIT memory?"
 * (memory.c) and "may this be called?" (bootstrap.c) consult both.
 */
#ifndef ORCRT_SHARED_MEMORY_INTERNAL_H
#define ORCRT_SHARED_MEMORY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <orcrt/executor-addr.h>
#include <orcrt/service.h>
#include <orcrt/session.h>

/* The ops of the Service, to find it with orc_rt_Session_findService(). */
extern const orc_rt_ServiceOps orcrt_shm_service_ops;

/*
 * Whether the Size bytes at Addr lie in a reservation of a live
 * shared-memory Service of this process (*InShm), and if so, whether they
 * lie in readable segments of an allocation that is initialized (or being
 * initialized) and not being deinitialized (the result).
 */
bool orcrt_shm_is_readable(orc_rt_ExecutorAddr Addr, uint64_t Size, bool *InShm);

/*
 * Whether the Size bytes at Addr lie in a reservation of a live
 * shared-memory Service of this process that is not being released.
 */
bool orcrt_shm_is_jit_memory(orc_rt_ExecutorAddr Addr, uint64_t Size);

/* Whether Addr lies in an executable segment of S's shared-memory Service. */
bool orcrt_shm_is_call_target(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr);

#endif /* ORCRT_SHARED_MEMORY_INTERNAL_H */

/*
 * shared-memory-internal.h - what shared-memory.c offers the rest of the
 * library beyond orcrt/shared-memory.h: its ops, to find the Service of a
 * Session (its wire glue, llvm19/shared-memory.c, needs nothing more)
 */
#ifndef ORCRT_SHARED_MEMORY_INTERNAL_H
#define ORCRT_SHARED_MEMORY_INTERNAL_H

#include <orcrt/service.h>

/* The ops of the Service, to find it with orc_rt_Session_findService(). */
extern const orc_rt_ServiceOps orcrt_shm_service_ops;

#endif /* ORCRT_SHARED_MEMORY_INTERNAL_H */

/*
 * orcrt/executor-addr.h - addresses and address ranges in the executor
 *
 * Addresses travel between controller and executor as 64-bit integers,
 * whatever the executor's pointer width.
 */
#ifndef ORCRT_EXECUTOR_ADDR_H
#define ORCRT_EXECUTOR_ADDR_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An address in the executor process. */
typedef uint64_t orc_rt_ExecutorAddr;

/** The half-open range [Start, End) of executor addresses. */
typedef struct {
  orc_rt_ExecutorAddr Start;
  orc_rt_ExecutorAddr End;
} orc_rt_ExecutorAddrRange;

/** The address of a pointer. */
static inline orc_rt_ExecutorAddr orc_rt_ExecutorAddr_fromPtr(const void *P) {
  return (orc_rt_ExecutorAddr)(uintptr_t)P;
}

/**
 * The pointer for an address, or NULL if the address does not fit in a
 * pointer of this process.
 */
static inline void *orc_rt_ExecutorAddr_toPtr(orc_rt_ExecutorAddr A) {
  if (A > (orc_rt_ExecutorAddr)UINTPTR_MAX)
    return (void *)0;
  return (void *)(uintptr_t)A;
}

/** The size of R, or 0 if R is empty or inverted. */
static inline uint64_t orc_rt_ExecutorAddrRange_size(orc_rt_ExecutorAddrRange R) {
  return R.End > R.Start ? R.End - R.Start : 0;
}

/** Whether A lies in R. */
static inline bool orc_rt_ExecutorAddrRange_contains(orc_rt_ExecutorAddrRange R,
                                                     orc_rt_ExecutorAddr A) {
  return A >= R.Start && A < R.End;
}

/**
 * Whether the Size bytes at Start lie wholly in R. Overflow-safe: a Start +
 * Size that wraps is never contained. An empty span is contained if Start is
 * in [R.Start, R.End].
 */
static inline bool orc_rt_ExecutorAddrRange_containsSpan(orc_rt_ExecutorAddrRange R,
                                                         orc_rt_ExecutorAddr Start,
                                                         uint64_t Size) {
  return Start >= R.Start && Start <= R.End && Size <= R.End - Start;
}

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_EXECUTOR_ADDR_H */

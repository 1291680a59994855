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

/** A function pointer of no particular type, for orc_rt_ExecutorAddr_fromFn(). */
typedef void (*orc_rt_GenericFn)(void);

/**
 * The address of a function. Converting a function pointer to a data
 * pointer (orc_rt_ExecutorAddr_fromPtr((void *)Fn)) is not ISO C; cast the
 * function to orc_rt_GenericFn instead, which is:
 * orc_rt_ExecutorAddr_fromFn((orc_rt_GenericFn)host_twice).
 */
static inline orc_rt_ExecutorAddr orc_rt_ExecutorAddr_fromFn(orc_rt_GenericFn Fn) {
  return (orc_rt_ExecutorAddr)(uintptr_t)Fn;
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

/**
 * The function at an address, or NULL if the address does not fit in a
 * pointer of this process; cast the result to the function's own type.
 */
static inline orc_rt_GenericFn orc_rt_ExecutorAddr_toFn(orc_rt_ExecutorAddr A) {
  if (A > (orc_rt_ExecutorAddr)UINTPTR_MAX)
    return (orc_rt_GenericFn)0;
  return (orc_rt_GenericFn)(uintptr_t)A;
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

/*
 * host.c - the host's target triple and page size
 *
 * Locks: none; nothing here is mutable.
 */
#include "orcrt-internal.h"

#include <unistd.h>

#include "host.h"

#if defined(__x86_64__)
#define ORCRT_ARCH "x86_64-pc"
#elif defined(__i386__)
#define ORCRT_ARCH "i686-pc"
#elif defined(__aarch64__) && defined(__AARCH64EB__)
#define ORCRT_ARCH "aarch64_be-unknown"
#elif defined(__aarch64__)
#define ORCRT_ARCH "aarch64-unknown"
#elif defined(__arm__)
#define ORCRT_ARCH "arm-unknown"
#elif defined(__riscv) && __riscv_xlen == 64
#define ORCRT_ARCH "riscv64-unknown"
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define ORCRT_ARCH "powerpc64le-unknown"
#elif defined(__powerpc64__)
#define ORCRT_ARCH "powerpc64-unknown"
#elif defined(__s390x__)
#define ORCRT_ARCH "s390x-unknown"
#elif defined(__loongarch64)
#define ORCRT_ARCH "loongarch64-unknown"
#else
#define ORCRT_ARCH "unknown-unknown"
#endif

#if defined(__linux__)
#define ORCRT_OS "-linux"
#elif defined(__FreeBSD__)
#define ORCRT_OS "-freebsd"
#else
#define ORCRT_OS "-unknown"
#endif

#if !defined(__linux__)
#define ORCRT_ENV ""
#elif defined(__x86_64__) && defined(__ILP32__)
#define ORCRT_ENV "-gnux32"
#elif defined(__arm__) && defined(__GLIBC__) && defined(__ARM_PCS_VFP)
#define ORCRT_ENV "-gnueabihf"
#elif defined(__arm__) && defined(__GLIBC__)
#define ORCRT_ENV "-gnueabi"
#elif defined(__GLIBC__)
#define ORCRT_ENV "-gnu"
#else
#define ORCRT_ENV "-musl"
#endif

/* The page size assumed when sysconf() gives none. */
#define FALLBACK_PAGE_SIZE 4096

const char *orcrt_host_triple(void) {
  return ORCRT_ARCH ORCRT_OS ORCRT_ENV;
}

uint64_t orcrt_host_page_size(void) {
  long PageSize = sysconf(_SC_PAGESIZE);
  return PageSize > 0 ? (uint64_t)PageSize : FALLBACK_PAGE_SIZE;
}

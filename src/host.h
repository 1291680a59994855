/*
 * host.h - what the executor tells a controller about the machine it runs on
 *
 * The target triple comes from the compiler's macros (upstream keeps it in
 * linux/TargetTriple.cpp); the page size from the system. The pipe
 * transport sends both in its Setup frame; the memory Services need the
 * page size too.
 *
 * Locks: none; both answers are constants of the process.
 */
#ifndef ORCRT_HOST_H
#define ORCRT_HOST_H

#include <stdint.h>

/* The host's LLVM target triple, e.g. "x86_64-pc-linux-gnu"; a string literal. Any thread. */
const char *orcrt_host_triple(void);

/* sysconf(_SC_PAGESIZE), or 4096 if the system does not say. Any thread. */
uint64_t orcrt_host_page_size(void);

#endif /* ORCRT_HOST_H */

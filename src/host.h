/*
 * host.h - what the executor tells a controller about the machine it runs on
 *
 * The target triple comes from the compiler's macros (upstream keeps it in
 * linux/TargetTriple.cpp); the page size from the system. The pipe
 * transport sends both in its Setup frame; the memory Services need the
 * page size too. And where the process's unwinder is, for the unwind
 * registrar (eh-frame.c).
 *
 * Locks: none; the answers are constants of the process.
 */
#ifndef ORCRT_HOST_H
#define ORCRT_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The host's LLVM target triple, e.g. "x86_64-pc-linux-gnu"; a string literal. Any thread. */
const char *orcrt_host_triple(void);

/* sysconf(_SC_PAGESIZE), or 4096 if the system does not say. Any thread. */
uint64_t orcrt_host_page_size(void);

/*
 * The unwinder's (libgcc's) functions Names[0..N), into Out: all from the
 * process's global scope if it has every one, else all from libgcc_s,
 * loaded if need be (the reference is kept for the life of the process),
 * so that they are one unwinder's: a frame registered with one unwinder
 * and deregistered with another aborts. True if every one was found. Any
 * thread.
 */
bool orcrt_host_unwinder_symbols(const char *const *Names, void **Out, size_t N);

#endif /* ORCRT_HOST_H */

/*
 * jit-ranges.h - the process's registry of JIT address ranges
 *
 * JIT memory comes from two Services (memory.c, shared-memory.c), and its
 * lifetime matters to code that knows nothing of them: the unwinder and
 * debugger registrars (eh-frame.c, gdb-jit.c) must refuse ranges that are
 * not readable memory, and must drop their registrations inside memory
 * before it is unmapped; allocation actions and the bootstrap's calls may
 * only call code the controller put in executable JIT memory or code of a
 * loaded object. Both memory Services publish their ranges here; everyone
 * else queries this file, or observes it. Nothing here calls a Service or a
 * registrar by name.
 *
 * A range is a page-aligned span one Service mapped for one owner Session:
 * RESERVED when added, LIVE once runs of pages in it got their protection,
 * RELEASING once its owner started to take it away. A run can be marked
 * releasing on its own (a shared-memory allocation inside a reservation
 * that stays). Releasing memory is never readable (so no new registration
 * lands in it) but stays executable (its deallocation actions run in it).
 *
 * The release protocol, the one place it is written:
 *   1. mark releasing (orcrt_ranges_mark_releasing(), or the run variant),
 *      then run the deallocation actions, which may deregister things;
 *   2. orcrt_ranges_release() / orcrt_ranges_release_runs(): the release
 *      observers run, with no lock of this file held, and drop whatever
 *      is still registered inside the span;
 *   3. orcrt_ranges_remove(), then the caller unmaps (remove first, so that
 *      a new mapping at the same address can be added at once).
 * A registrar checks readability (orcrt_ranges_is_readable()) and inserts
 * its registration under its own lock, and its observer takes that lock
 * too: so a registration either was made before step 1, and its observer
 * finds it in step 2, or it is refused.
 *
 * Content arriving. A registrar may be handed an address in memory that is
 * reserved but not filled yet (LLVM 19's ORC runtime registers a graph's
 * .eh_frame before the finalize that carries it): it asks
 * orcrt_ranges_locate() and keeps the address until the publisher, once the
 * content of some runs is copied and protected and before any finalize
 * action runs, calls orcrt_ranges_ready_runs(), whose Ready observers find
 * it. The same lock discipline makes that race-free: the runs are recorded
 * before Ready runs, and the registrar locates and queues under its lock.
 *
 * Registrations outside JIT memory (in loaded objects) belong to no range.
 * They go at process-level teardown: Sessions that offer the registrars'
 * entry points enter the registry (orcrt_ranges_enter()), and when the last
 * of them leaves, every observer's Orphaned op runs.
 *
 * Locks. One mutex (RangesLock, in jit-ranges.c) guards the table, every
 * range's state and runs, the observers and the owner count. It is held
 * only for lookups and edits of the table: never across an observer, a
 * copy into JIT memory, or a call out of this file.
 *
 * Lock order of the memory subsystem, for the table in orcrt-internal.h
 * (a lock may be taken while holding the ones above it, never the other
 * way round; locks on one line are never held together):
 *   1. eh-frame.c EHLock, gdb-jit.c GDBLock,     registrars
 *      perf-jitdump.c PerfLock
 *   2. memory.c M->Lock, shared-memory.c M->Lock  one per Service
 *   3. jit-ranges.c RangesLock                    leaf: calls nothing
 *   -  the loader's lock (dl_iterate_phdr()) and libgcc's frame lock,
 *      taken under 1 (never under 2 or 3)
 *   -  bootstrap.c LiveLock: alone, nothing is called under it
 * Release observers run holding none of 2 or 3, and take one lock of 1.
 * No lock of 2 or 3 is held across an allocation action, an observer,
 * mprotect/munmap of a whole allocation, or a copy into JIT memory
 * (memory.c pins the allocation instead). memory.c also waits on
 * M->Unpinned under M->Lock, for writers that hold no lock while they copy.
 */
#ifndef ORCRT_JIT_RANGES_H
#define ORCRT_JIT_RANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/log.h>
#include <orcrt/memory.h>
#include <orcrt/session.h>

/* A range of the registry; owned by it, the handle held by its publisher. */
struct orcrt_range;

/* Pages [Start, End) given orc_rt_MemProt bits (Read, Write, Exec) Prot. */
struct orcrt_range_run {
  uint64_t Start, End;
  uint8_t Prot;
};

/* The page run under the Size (> 0) bytes at Addr, with the RWX bits of Prot. */
static inline struct orcrt_range_run orcrt_range_run_of(uint64_t Addr, uint64_t Size, uint8_t Prot,
                                                        uint64_t Page) {
  return (struct orcrt_range_run){
      Addr & ~(Page - 1), (Addr + Size + Page - 1) & ~(Page - 1),
      (uint8_t)(Prot & (orc_rt_MemProt_Read | orc_rt_MemProt_Write | orc_rt_MemProt_Exec))};
}

/* The mmap/mprotect protection for orc_rt_MemProt bits. */
static inline int orcrt_mmap_prot(uint8_t Prot) {
  return ((Prot & orc_rt_MemProt_Read) ? PROT_READ : 0) |
         ((Prot & orc_rt_MemProt_Write) ? PROT_WRITE : 0) |
         ((Prot & orc_rt_MemProt_Exec) ? PROT_EXEC : 0);
}

/*
 * Check the segment [Addr, Addr + Size) with Prot against the range
 * [Base, End) (What: "allocation" or "reservation", for the message):
 * no overflow, inside it, not writable and executable. NULL or the error.
 */
orc_rt_ErrorRef orcrt_ranges_check_segment(uint64_t Addr, uint64_t Size, uint8_t Prot,
                                           uint64_t Base, uint64_t End, const char *What);

/* The bytes [Addr, Addr + Size) of one segment of a finalize request. */
struct orcrt_segment_span {
  uint64_t Addr, Size;
};

/*
 * Check that no two of the N spans (each checked by
 * orcrt_ranges_check_segment()) share a byte: overlapping segments would
 * make the content depend on the order of the copies. Empty spans are
 * ignored. Sorts Spans. NULL, or the error naming two that overlap.
 */
orc_rt_ErrorRef orcrt_ranges_check_disjoint(struct orcrt_segment_span *Spans, size_t N);

/* ---- publishing (the memory Services) ------------------------------------- */

/*
 * Add [Start, Start + Size) (page-aligned, mapped, overlapping no range),
 * mapped by Publisher (the Service: a key for orcrt_ranges_is_executable())
 * for Owner, as RESERVED. NULL and *Out, or an error (out of memory).
 */
orc_rt_ErrorRef orcrt_ranges_add(orc_rt_SessionRef Owner, const void *Publisher, uint64_t Start,
                                 uint64_t Size, struct orcrt_range **Out);

/*
 * Record that the N runs (inside R) have their protection, under Tag (the
 * publisher's name for the group, e.g. an allocation), and make R LIVE.
 * NULL, or an error (out of memory) with nothing recorded.
 */
orc_rt_ErrorRef orcrt_ranges_protect(struct orcrt_range *R, uint64_t Tag,
                                     const struct orcrt_range_run *Runs, size_t N);

/*
 * The runs of R under Tag have their content and protection: run the
 * observers' Ready ops over the span they cover, with no lock held, before
 * the finalize actions of that content run.
 */
void orcrt_ranges_ready_runs(struct orcrt_range *R, uint64_t Tag);

/* Step 1 of the protocol for the whole of R: it is RELEASING from now on. */
void orcrt_ranges_mark_releasing(struct orcrt_range *R);

/* Step 1 for the runs of R under Tag only. */
void orcrt_ranges_mark_runs_releasing(struct orcrt_range *R, uint64_t Tag);

/*
 * Step 2 for the whole of R: mark it releasing (if step 1 did not) and run
 * the observers over it. R stays listed until orcrt_ranges_remove(). Call
 * with no lock held that an observer takes (see the lock order above).
 */
void orcrt_ranges_release(struct orcrt_range *R);

/*
 * Step 2 for the runs of R under Tag: mark them releasing, run the
 * observers over each, and forget the runs (the caller then resets the
 * pages' protection). R itself stays.
 */
void orcrt_ranges_release_runs(struct orcrt_range *R, uint64_t Tag);

/* Step 3: take R out of the registry and free it; the caller unmaps next. NULL is ignored. */
void orcrt_ranges_remove(struct orcrt_range *R);

/*
 * Whether the pages under the Size (> 0) bytes at Addr in R all carry Bit:
 * some run covers the span and every run touching it has Bit (where runs
 * share a page, the conservative answer). Runs being released count.
 */
bool orcrt_ranges_span_has_prot(const struct orcrt_range *R, uint64_t Addr, uint64_t Size,
                                uint8_t Bit);

/* Whether any run of R touches the Size (> 0) bytes at Addr. */
bool orcrt_ranges_span_touches_runs(const struct orcrt_range *R, uint64_t Addr, uint64_t Size);

/* ---- queries (anyone, any thread) ----------------------------------------- */

/*
 * Whether the Size bytes at Addr can be read: they lie in one range that
 * is not releasing, in readable runs not being released; or, outside every
 * range, in a readable PT_LOAD segment of a loaded object.
 */
bool orcrt_ranges_is_readable(orc_rt_ExecutorAddr Addr, uint64_t Size);

/* Where a start address lies, for a registrar handed nothing else. */
enum orcrt_ranges_place {
  ORCRT_PLACE_NOWHERE,    /* in no range and in no readable segment of a loaded object */
  ORCRT_PLACE_UNFILLED,   /* in a range not releasing, in no run: its content is to come */
  ORCRT_PLACE_READABLE,   /* in a readable run not releasing, or a readable loaded segment */
  ORCRT_PLACE_UNREADABLE, /* in a range, but releasing or in a run that is not readable */
};

/*
 * Where Addr lies. For READABLE, *Limit is where that readable memory
 * ends (the end of the run, or of the loaded object's segment), so a walk
 * of records from Addr is bounded. *Owner (if Owner is not NULL) is the
 * range's owner, or NULL outside every range.
 */
enum orcrt_ranges_place orcrt_ranges_locate(orc_rt_ExecutorAddr Addr, uint64_t *Limit,
                                            orc_rt_SessionRef *Owner);

/* The owner of the range Addr lies in (in any state), or NULL. */
orc_rt_SessionRef orcrt_ranges_owner_of(orc_rt_ExecutorAddr Addr);

/* Whether the Size bytes at Addr lie in one range that is not releasing. */
bool orcrt_ranges_is_jit_memory(orc_rt_ExecutorAddr Addr, uint64_t Size);

/* Whether Addr lies in an executable run (released or not) of a range of Publisher. */
bool orcrt_ranges_is_executable(const void *Publisher, orc_rt_ExecutorAddr Addr);

/*
 * Whether Addr may be called on behalf of S: it lies in an executable run
 * of a range S owns, or it is the entry of a function in an executable
 * PT_LOAD segment of a loaded object (where an FDE of its .eh_frame_hdr
 * table, or else a dynamic symbol, starts). Takes the loader's lock.
 */
bool orcrt_ranges_is_call_target(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr);

/* ---- in a signal handler ------------------------------------------------------ */

/* Where an address lies in JIT memory, for a crash report. */
struct orcrt_ranges_where {
  uint64_t RangeStart, RangeEnd; /* the range (an allocation, or a reservation) */
  uint64_t Allocation;           /* the allocation: the run's tag, or RangeStart */
  uint64_t RunStart, RunEnd;     /* the page run holding the address, if InRun */
  uint8_t Prot;                  /* its orc_rt_MemProt bits */
  bool InRun;                    /* the address is in a run (a segment of an allocation) */
  bool Releasing;                /* the range or run is being released */
};

/*
 * Where Addr lies: 1 with *Out filled if in a range, 0 if in none, -1 if
 * the registry's lock is held (by another thread, or by the interrupted
 * code itself). Never blocks and calls nothing but pthread_mutex_trylock()
 * and pthread_mutex_unlock() (atomic operations in glibc, though POSIX does
 * not list them as async-signal-safe): for a signal handler.
 */
int orcrt_ranges_where_nonblocking(uint64_t Addr, struct orcrt_ranges_where *Out);

/* ---- observers and owners -------------------------------------------------- */

/*
 * A registrar's hooks, run with no lock of this file held. Released drops
 * the registrations starting in [Start, End), memory being taken away;
 * Orphaned drops the registrations outside JIT memory
 * (orcrt_ranges_is_jit_memory()) once the last owner left. Each returns
 * how many it dropped, which the registry logs to the Session concerned
 * (the range's owner, or the last owner), naming them What, at Level for
 * a release and at Debug for the orphans. Ready (may be NULL) makes the
 * registrations waiting in [Start, End) of a range of Owner, whose content
 * just arrived (orcrt_ranges_ready_runs()), and returns how many it made,
 * logged at Debug.
 */
struct orcrt_ranges_observer {
  size_t (*Released)(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End);
  size_t (*Orphaned)(void);
  const char *What;
  orc_rt_LogLevel Level;
  size_t (*Ready)(orc_rt_SessionRef Owner, orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End);
};

/*
 * Run O (static storage) at every release from now on. Once per registrar,
 * before its first registration (pthread_once). At most 8 observers.
 */
void orcrt_ranges_observe(const struct orcrt_ranges_observer *O);

/*
 * A Session that offers the registrars' entry points enters while it does;
 * when the last one leaves, the observers' Orphaned ops run (on the
 * leaving thread, no lock held).
 */
void orcrt_ranges_enter(orc_rt_SessionRef S);
void orcrt_ranges_leave(orc_rt_SessionRef S);

#endif /* ORCRT_JIT_RANGES_H */

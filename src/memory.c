/*
 * memory.c - JIT memory: reserve, initialize or finalize, deinitialize,
 * deallocate and write, under the MProtect and MemFD strategies (the
 * Service behind the SimpleExecutorMemoryManager of LLVM 14-19, whose wire
 * glue is llvm19/memory.c, and of LLVM 22, llvm22/memory.c)
 *
 * An allocation is one reservation. It holds regions, each made by one
 * initialize and keyed by its lowest segment address; LLVM 19's finalize
 * is the special case of one region keyed by the base, after which the
 * allocation takes no more (Sealed). Each allocation is a range of
 * jit-ranges.c: added at reserve, each region's protections recorded
 * under its key, released there (which drops the unwind and debugger
 * registrations left in it) before it is unmapped.
 *
 * Locks. M->Lock guards the list of allocations (Allocs, every Link),
 * NumFds, and every allocation's State, Sealed, Fd, Written, Writers and
 * Regions. Base, Size, MemFD and Range are set before an allocation is
 * listed and never change. M->Unpinned is signalled when an allocation's
 * Writers drops to 0 or it leaves FINALIZING. A write pins its allocation
 * (Writers) under the lock and copies with no lock held; whoever moves an
 * allocation out of RESERVED or FINALIZED waits, under the lock, for its
 * pins to go (claim_locked()), so no copy races a memfd close or an unmap.
 * M->Lock may be held while taking jit-ranges.c's lock, never the other
 * way round, and is never held across actions, observers or copies.
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <unistd.h>

#include <orcrt/memory.h>
#include <orcrt/session.h>

#include "alloc-actions.h"
#include "host.h"
#include "jit-ranges.h"
#include "memory-internal.h"
#include "util/array.h"

enum alloc_state {
  ALLOC_RESERVED,   /* no region yet */
  ALLOC_FINALIZING, /* an initialize or finalize is writing into it */
  ALLOC_FINALIZED,  /* holds regions (and takes more, unless Sealed) */
  ALLOC_RELEASING,
};

/* What one initialize made: [Start, End) and the deallocation actions left. */
struct region {
  uint64_t Key; /* its lowest segment address */
  uint64_t Start, End;
  struct orcrt_action *Dealloc;
  size_t NumDealloc;
};

struct alloc {
  TAILQ_ENTRY(alloc) Link; /* in M->Allocs, in order of reservation */
  uint64_t Base;
  uint64_t Size; /* whole pages */
  int Fd;        /* the memfd behind it until finalize, or -1 */
  bool Written;  /* written through the memfd before finalize */
  bool MemFD;    /* a memfd backs it (its view outside segments stays read-only) */
  enum alloc_state State;
  bool Sealed;      /* finalized the LLVM 19 way: no more regions */
  unsigned Writers; /* writes copying into it right now */
  struct orcrt_range *Range;
  ORCRT_ARRAY(struct region) Regions; /* sorted by Start, disjoint */
};

struct orc_rt_OpaqueMemoryService {
  orc_rt_SessionRef S;
  orc_rt_MemoryStrategy Strategy;
  uint64_t PageSize;
  pthread_mutex_t Lock; /* see "Locks" above */
  pthread_cond_t Unpinned;
  TAILQ_HEAD(alloc_list, alloc) Allocs;
  size_t NumFds; /* memfds held open by reserved allocations */
};

/* ---- helpers ------------------------------------------------------------ */

/* Round A up to a page boundary; false if that overflows. */
static bool align_up(uint64_t A, uint64_t Page, uint64_t *Out) {
  if (A > UINT64_MAX - (Page - 1))
    return false;
  *Out = (A + Page - 1) & ~(Page - 1);
  return true;
}

/* Write Size bytes at Off of Fd; 0 or the errno. */
static int pwrite_all(int Fd, const char *P, size_t Size, off_t Off) {
  while (Size) {
    ssize_t N = pwrite(Fd, P, Size, Off);
    if (N < 0 && errno == EINTR)
      continue;
    if (N <= 0)
      return N < 0 ? errno : EIO;
    P += N;
    Size -= (size_t)N;
    Off += N;
  }
  return 0;
}

/* The allocation with base Base. Lock held. */
static struct alloc *find_by_base(orc_rt_MemoryServiceRef M, uint64_t Base) {
  struct alloc *A;
  TAILQ_FOREACH(A, &M->Allocs, Link) {
    if (A->Base == Base)
      break;
  }
  return A;
}

/* The allocation holding the Size bytes at Addr. Lock held. */
static struct alloc *find_containing(orc_rt_MemoryServiceRef M, uint64_t Addr, uint64_t Size) {
  struct alloc *A;
  TAILQ_FOREACH(A, &M->Allocs, Link) {
    orc_rt_ExecutorAddrRange Range = {A->Base, A->Base + A->Size};
    if (orc_rt_ExecutorAddrRange_containsSpan(Range, Addr, Size))
      break;
  }
  return A;
}

/*
 * Move A to State (FINALIZING or RELEASING) and wait until no write copies
 * into it; RELEASING also starts the release protocol in the registry.
 * Lock held.
 */
static void claim_locked(orc_rt_MemoryServiceRef M, struct alloc *A, enum alloc_state State) {
  A->State = State;
  while (A->Writers)
    pthread_cond_wait(&M->Unpinned, &M->Lock);
  if (State == ALLOC_RELEASING)
    orcrt_ranges_mark_releasing(A->Range);
}

/* Unmap A's memory and free A (no longer listed, or its Service going). */
static void unmap_alloc(struct alloc *A) {
  orcrt_ranges_remove(A->Range);
  munmap((void *)(uintptr_t)A->Base, (size_t)A->Size);
  if (A->Fd >= 0)
    close(A->Fd);
  for (size_t I = 0; I < A->Regions.Len; I++)
    orcrt_actions_free(A->Regions.Items[I].Dealloc, A->Regions.Items[I].NumDealloc);
  ORCRT_ARRAY_FREE(&A->Regions);
  free(A);
}

/* Forget and unmap A (RELEASING, its actions done), registrations first. */
static void release_alloc(orc_rt_MemoryServiceRef M, struct alloc *A) {
  orcrt_ranges_release(A->Range);
  pthread_mutex_lock(&M->Lock);
  if (A->Fd >= 0)
    M->NumFds--;
  TAILQ_REMOVE(&M->Allocs, A, Link);
  pthread_mutex_unlock(&M->Lock);
  unmap_alloc(A);
}

/*
 * Run A's deallocation actions, last first: the regions' lists in address
 * order, concatenated, run backwards, as LLVM 22 does (one region in 19).
 * Join their errors. A is RELEASING, so only this thread touches Regions.
 */
static orc_rt_ErrorRef run_dealloc_actions(orc_rt_MemoryServiceRef M, struct alloc *A) {
  orc_rt_ErrorRef Err = NULL;
  for (size_t I = A->Regions.Len; I-- > 0;) {
    struct region *G = &A->Regions.Items[I];
    Err = orc_rt_Error_join(Err, orcrt_actions_run_reverse(M->S, G->Dealloc, G->NumDealloc));
  }
  return Err;
}

/*
 * Claim the newest allocation before Last (NULL: the newest of all) that
 * neither is being released nor, with Abandon, is being finalized, for
 * release; NULL if there is none.
 */
static struct alloc *claim_newest(orc_rt_MemoryServiceRef M, struct alloc *Last, bool Abandon) {
  pthread_mutex_lock(&M->Lock);
  struct alloc *A = Last ? TAILQ_PREV(Last, alloc_list, Link) : TAILQ_LAST(&M->Allocs, alloc_list);
  while (A && (A->State == ALLOC_RELEASING || (Abandon && A->State == ALLOC_FINALIZING)))
    A = TAILQ_PREV(A, alloc_list, Link);
  if (A)
    claim_locked(M, A, ALLOC_RELEASING);
  pthread_mutex_unlock(&M->Lock);
  return A;
}

/* ---- reserve / finalize / deallocate ------------------------------------- */

ORC_RT_EXPORT orc_rt_MemoryStrategy orc_rt_MemoryService_getStrategy(orc_rt_MemoryServiceRef M) {
  return M->Strategy;
}

ORC_RT_EXPORT bool orc_rt_MemoryService_isExecutable(orc_rt_MemoryServiceRef M,
                                                     orc_rt_ExecutorAddr Addr) {
  return orcrt_ranges_is_executable(M, Addr);
}

#ifdef HAVE_MEMFD_CREATE
/*
 * Whether a new reservation may hold a memfd. A reserved allocation keeps
 * its memfd open until it is finalized: at most a quarter of the descriptor
 * limit, so that a controller reserving far ahead cannot take the
 * descriptors JIT'd code needs. Past that, reservations use mprotect.
 */
static bool may_hold_fd(orc_rt_MemoryServiceRef M) {
  struct rlimit L;
  if (getrlimit(RLIMIT_NOFILE, &L) != 0 || L.rlim_cur == RLIM_INFINITY)
    return true;
  pthread_mutex_lock(&M->Lock);
  size_t Held = M->NumFds;
  pthread_mutex_unlock(&M->Lock);
  return Held < L.rlim_cur / 4;
}
#endif

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_MemoryService_reserve(orc_rt_MemoryServiceRef M, uint64_t Size,
                                                           orc_rt_ExecutorAddr *Base) {
  uint64_t Rounded;
  int Fd = -1;
  void *P = MAP_FAILED;
  orc_rt_ErrorRef Err = NULL;
  struct alloc *A = NULL;

  *Base = 0;
  if (Size == 0)
    return NULL;
  if (!align_up(Size, M->PageSize, &Rounded) || Rounded > SIZE_MAX || Rounded > INT64_MAX)
    return orc_rt_Error_create("Could not reserve %" PRIu64 " bytes: size too large", Size);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  /* A fuzz input's reservations stay small: finalize zero-fills them. */
  if (Rounded > ((uint64_t)16 << 20))
    return orc_rt_Error_create("Could not reserve %" PRIu64 " bytes while fuzzing", Size);
#endif

  A = calloc(1, sizeof(*A));
  if (!A)
    return orc_rt_Error_create("Could not reserve %" PRIu64 " bytes: out of memory", Size);

  /*
   * Every reservation starts as the MProtect strategy's private anonymous
   * mapping, which the kernel accounts for: one the system cannot back
   * fails here under both strategies (a memfd's size is not accounted, and
   * its zero-fill would later meet the OOM killer instead). A memfd view
   * then replaces it; without a memfd it stays, and the allocation uses
   * mprotect.
   */
  P = mmap(NULL, (size_t)Rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (P == MAP_FAILED) {
    Err = orc_rt_Error_fromErrno(errno, "Could not reserve %" PRIu64 " bytes", Size);
    goto fail;
  }
#ifdef HAVE_MEMFD_CREATE
  if (M->Strategy == orc_rt_MemoryStrategy_MemFD && may_hold_fd(M)) {
    Fd = memfd_create("orcrt-jit", MFD_CLOEXEC);
    if (Fd >= 0 && ftruncate(Fd, (off_t)Rounded) != 0) {
      int E = errno;
      close(Fd);
      Fd = -1;
      errno = E;
    }
    if (Fd < 0)
      orc_rt_Session_log(M->S, orc_rt_LogLevel_Debug,
                         "no memfd (%s); reserving with mprotect instead", strerror(errno));
  }
#endif
  if (Fd >= 0) {
    /*
     * The view JIT'd code uses is read-only until finalize gives it its
     * protections: readable, because LLVM's executor hands out readable
     * memory and llvm-jitlink-19 with the ORC runtime has JIT'd code read a
     * reservation (registering its EH frames) before finalizing it. It is a
     * private mapping: it reads the memfd's pages (written through a separate
     * shared view) until something writes through it, and a debugger can
     * still plant breakpoints in its code, which the kernel refuses for
     * read-only shared mappings.
     */
    if (mmap(P, (size_t)Rounded, PROT_READ, MAP_PRIVATE | MAP_FIXED, Fd, 0) == MAP_FAILED) {
      Err = orc_rt_Error_fromErrno(errno, "Could not reserve %" PRIu64 " bytes", Size);
      goto fail;
    }
  }

  A->Base = orc_rt_ExecutorAddr_fromPtr(P);
  A->Size = Rounded;
  Err = orcrt_ranges_add(M->S, M, A->Base, A->Size, &A->Range);
  if (Err)
    goto fail;
  A->Fd = Fd;
  A->MemFD = Fd >= 0;
  A->State = ALLOC_RESERVED;
  pthread_mutex_lock(&M->Lock);
  if (Fd >= 0)
    M->NumFds++;
  TAILQ_INSERT_TAIL(&M->Allocs, A, Link);
  pthread_mutex_unlock(&M->Lock);
  *Base = A->Base;
  return NULL;

fail:
  if (P != MAP_FAILED)
    munmap(P, (size_t)Rounded);
  if (Fd >= 0)
    close(Fd);
  free(A);
  return Err;
}

/* Check every segment of Req against A, and against each other, before anything is touched. */
static orc_rt_ErrorRef check_segments(const struct alloc *A,
                                      const orc_rt_MemoryFinalizeRequest *Req) {
  orc_rt_ErrorRef Err = NULL;
  for (size_t I = 0; !Err && I < Req->NumSegments; I++) {
    const orc_rt_MemorySegment *G = &Req->Segments[I];
    if (G->ContentSize > G->Size)
      return orc_rt_Error_create("Segment 0x%" PRIx64 " content size (0x%zx bytes) exceeds "
                                 "segment size (0x%" PRIx64 " bytes)",
                                 G->Addr, G->ContentSize, G->Size);
    Err = orcrt_ranges_check_segment(G->Addr, G->Size, G->Prot, A->Base, A->Base + A->Size,
                                     "allocation");
  }
  if (Err || Req->NumSegments < 2)
    return Err;
  struct orcrt_segment_span *Spans = malloc(Req->NumSegments * sizeof(*Spans));
  if (!Spans)
    return orc_rt_Error_create("out of memory");
  for (size_t I = 0; I < Req->NumSegments; I++)
    Spans[I] = (struct orcrt_segment_span){Req->Segments[I].Addr, Req->Segments[I].Size};
  Err = orcrt_ranges_check_disjoint(Spans, Req->NumSegments);
  free(Spans);
  return Err;
}

/*
 * Copy the content of every segment (unless it is already in place:
 * Content NULL) and zero-fill the rest. Nothing has
 * been given its final protection yet, so the pages are still writable
 * (MProtect), or written through a temporary read/write view of the memfd
 * (MemFD) while the executable view stays inaccessible.
 */
static orc_rt_ErrorRef copy_segments(orc_rt_MemoryServiceRef M, const struct alloc *A,
                                     const orc_rt_MemoryFinalizeRequest *Req) {
  uint64_t SpanStart = UINT64_MAX, SpanEnd = 0;

  /*
   * A memfd nobody wrote to reads as zeros: only the content needs writing,
   * and pwrite() puts it into the memfd's pages without faulting each one
   * into a temporary view first (and without the kernel zeroing them).
   */
  if (A->Fd >= 0 && !A->Written) {
    for (size_t I = 0; I < Req->NumSegments; I++) {
      const orc_rt_MemorySegment *G = &Req->Segments[I];
      if (!G->Content)
        continue; /* nothing to copy (and nothing was written: it reads as zeros) */
      int E =
          pwrite_all(A->Fd, G->Content, G->Size ? G->ContentSize : 0, (off_t)(G->Addr - A->Base));
      if (E)
        return orc_rt_Error_fromErrno(E, "Could not write segment 0x%" PRIx64, G->Addr);
    }
    return NULL;
  }

  for (size_t I = 0; I < Req->NumSegments; I++) {
    const orc_rt_MemorySegment *G = &Req->Segments[I];
    if (G->Size == 0)
      continue;
    struct orcrt_range_run P = orcrt_range_run_of(G->Addr, G->Size, 0, M->PageSize);
    SpanStart = P.Start < SpanStart ? P.Start : SpanStart;
    SpanEnd = P.End > SpanEnd ? P.End : SpanEnd;
  }
  if (SpanEnd <= SpanStart)
    return NULL;

  char *View = (char *)(uintptr_t)SpanStart;
  if (A->Fd >= 0) {
    View = mmap(NULL, (size_t)(SpanEnd - SpanStart), PROT_READ | PROT_WRITE, MAP_SHARED, A->Fd,
                (off_t)(SpanStart - A->Base));
    if (View == MAP_FAILED)
      return orc_rt_Error_fromErrno(errno, "Could not map allocation 0x%" PRIx64 " for writing",
                                    A->Base);
  }
  for (size_t I = 0; I < Req->NumSegments; I++) {
    const orc_rt_MemorySegment *G = &Req->Segments[I];
    if (G->Size == 0)
      continue;
    char *Dst = View + (G->Addr - SpanStart);
    if (G->Content && G->ContentSize)
      memcpy(Dst, G->Content, G->ContentSize);
    memset(Dst + G->ContentSize, 0, (size_t)(G->Size - G->ContentSize));
  }
  if (A->Fd >= 0)
    munmap(View, (size_t)(SpanEnd - SpanStart));
  return NULL;
}

/*
 * Give every non-empty segment its protection; fill Runs with what was
 * applied (*NumRuns of them, up to the one that failed).
 */
static orc_rt_ErrorRef protect_segments(orc_rt_MemoryServiceRef M,
                                        const orc_rt_MemoryFinalizeRequest *Req,
                                        struct orcrt_range_run *Runs, size_t *NumRuns) {
  *NumRuns = 0;
  for (size_t I = 0; I < Req->NumSegments; I++) {
    const orc_rt_MemorySegment *G = &Req->Segments[I];
    if (G->Size == 0)
      continue;
    struct orcrt_range_run *P = &Runs[(*NumRuns)++];
    *P = orcrt_range_run_of(G->Addr, G->Size, G->Prot, M->PageSize);
    if (mprotect((void *)(uintptr_t)P->Start, (size_t)(P->End - P->Start),
                 orcrt_mmap_prot(P->Prot)) != 0)
      return orc_rt_Error_fromErrno(errno, "Could not protect segment 0x%" PRIx64, G->Addr);
    /* x86 keeps instruction caches coherent; elsewhere this would flush them. */
    if (P->Prot & orc_rt_MemProt_Exec)
      __builtin___clear_cache((char *)(uintptr_t)G->Addr, (char *)(uintptr_t)(G->Addr + G->Size));
  }
  return NULL;
}

/*
 * Claim the allocation Req initializes (FINALIZING) into *Out, with the key
 * of the region it makes (its lowest segment address) in *Key. Finalize
 * (LLVM 19): the allocation is the one whose base is the key, and must
 * hold nothing yet; otherwise (22) the one the key lies in, waiting for an
 * initialize of it already under way. NULL with *Out NULL: nothing to do.
 */
static orc_rt_ErrorRef claim_for_initialize(orc_rt_MemoryServiceRef M,
                                            const orc_rt_MemoryFinalizeRequest *Req, bool Finalize,
                                            struct alloc **Out, uint64_t *Key) {
  *Out = NULL;
  if (Req->NumSegments == 0) {
    if (Req->NumActions)
      return orc_rt_Error_create("Finalization actions attached to empty finalization request");
    return Finalize ? NULL : orc_rt_Error_create("Finalization request is empty");
  }
  uint64_t Base = UINT64_MAX;
  bool AllEmpty = true;
  for (size_t I = 0; I < Req->NumSegments; I++) {
    Base = Req->Segments[I].Addr < Base ? Req->Segments[I].Addr : Base;
    AllEmpty = AllEmpty && Req->Segments[I].Size == 0;
  }
  /* Empty segments at 0 belong to the empty reservation that reserve(0) handed out. */
  if (Base == 0 && AllEmpty && Req->NumActions == 0)
    return NULL;
  *Key = Base;

  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&M->Lock);
  struct alloc *A = Finalize ? find_by_base(M, Base) : find_containing(M, Base, 1);
  while (!Finalize && A && A->State == ALLOC_FINALIZING) {
    pthread_cond_wait(&M->Unpinned, &M->Lock);
    A = find_containing(M, Base, 1); /* it may have gone meanwhile */
  }
  if (!A || A->State == ALLOC_RELEASING)
    Err = orc_rt_Error_create("Attempt to finalize unrecognized allocation 0x%" PRIx64, Base);
  else if (A->State == ALLOC_FINALIZING)
    Err = orc_rt_Error_create("Allocation 0x%" PRIx64 " is being finalized", Base);
  else if (A->Sealed || (Finalize && A->State != ALLOC_RESERVED))
    Err = orc_rt_Error_create("Allocation 0x%" PRIx64 " is already finalized", A->Base);
  else /* From here on only this call writes A's memory; others see FINALIZING. */
    claim_locked(M, A, ALLOC_FINALIZING);
  pthread_mutex_unlock(&M->Lock);
  if (!Err)
    *Out = A;
  return Err;
}

/*
 * The span [Key, end of the highest segment) of a region Req would make in
 * A (FINALIZING, its segments checked) must not overlap a region A has.
 */
static orc_rt_ErrorRef check_overlap(orc_rt_MemoryServiceRef M, struct alloc *A, uint64_t Key,
                                     const orc_rt_MemoryFinalizeRequest *Req, uint64_t *End) {
  *End = Key;
  for (size_t I = 0; I < Req->NumSegments; I++) {
    uint64_t E = Req->Segments[I].Addr + Req->Segments[I].Size; /* checked: no overflow */
    *End = E > *End ? E : *End;
  }
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&M->Lock);
  for (size_t I = 0; !Err && I < A->Regions.Len; I++) {
    const struct region *G = &A->Regions.Items[I];
    if (Key < G->End && G->Start < (*End > Key ? *End : Key + 1))
      Err = orc_rt_Error_create("In initialize, region 0x%" PRIx64 " -- 0x%" PRIx64
                                " overlaps previous region 0x%" PRIx64 " -- 0x%" PRIx64,
                                Key, *End, G->Start, G->End);
  }
  pthread_mutex_unlock(&M->Lock);
  return Err;
}

/*
 * Copy Req's content into A (FINALIZING), give its segments their
 * protections and record them in the registry under Tag. A sealed
 * allocation takes no more content: its memfd goes.
 */
static orc_rt_ErrorRef apply_segments(orc_rt_MemoryServiceRef M, struct alloc *A,
                                      const orc_rt_MemoryFinalizeRequest *Req, uint64_t Tag,
                                      bool Seal) {
  struct orcrt_range_run *Runs = calloc(Req->NumSegments, sizeof(*Runs));
  size_t NumRuns = 0;
  if (!Runs)
    return orc_rt_Error_create("out of memory");
  orc_rt_ErrorRef Err = copy_segments(M, A, Req);
  if (!Err)
    Err = protect_segments(M, Req, Runs, &NumRuns);
  /*
   * Recorded even after a failed mprotect: the runs describe what may have
   * been applied, and they are released anyway. Finalize actions may call
   * code in this very allocation.
   */
  Err = orc_rt_Error_join(Err, orcrt_ranges_protect(A->Range, Tag, Runs, NumRuns));
  free(Runs);
  if (!Seal)
    return Err;
  /* Nothing writes through the memfd once its content is in: its descriptor goes. */
  pthread_mutex_lock(&M->Lock);
  int Fd = A->Fd;
  A->Fd = -1;
  if (Fd >= 0)
    M->NumFds--;
  pthread_mutex_unlock(&M->Lock);
  if (Fd >= 0)
    close(Fd);
  return Err;
}

/* A (FINALIZING) leaves that state for State; waiting initializes go on. Lock held. */
static void unclaim_locked(orc_rt_MemoryServiceRef M, struct alloc *A, enum alloc_state State) {
  A->State = State;
  pthread_cond_broadcast(&M->Unpinned);
}

/* Finalize (Seal: LLVM 19's, the whole allocation) or initialize (22's, a region). */
static orc_rt_ErrorRef initialize(orc_rt_MemoryServiceRef M,
                                  const orc_rt_MemoryFinalizeRequest *Req, bool Seal,
                                  orc_rt_ExecutorAddr *KeyOut) {
  struct region G = {0};
  struct alloc *A;
  bool Applied = false;

  orc_rt_ErrorRef Err = claim_for_initialize(M, Req, Seal, &A, &G.Key);
  if (!A)
    return Err;
  G.Start = G.Key;
  Err = check_segments(A, Req);
  if (!Err)
    Err = check_overlap(M, A, G.Key, Req, &G.End);
  if (!Err)
    Err = orcrt_actions_copy_dealloc(Req->Actions, Req->NumActions, &G.Dealloc, &G.NumDealloc);
  if (!Err) {
    Applied = true;
    Err = apply_segments(M, A, Req, G.Key, Seal);
  }
  /* Registrations waiting for this content (LLVM 19's ORC runtime) go in before the actions. */
  if (!Err)
    orcrt_ranges_ready_runs(A->Range, G.Key);
  /* As LLVM does: a failing finalize action undoes the completed ones. */
  if (!Err)
    Err = orcrt_actions_run_finalize(M->S, Req->Actions, Req->NumActions);
  pthread_mutex_lock(&M->Lock);
  if (!Err && !ORCRT_ARRAY_RESERVE(&A->Regions, A->Regions.Len + 1))
    Err = orc_rt_Error_create("out of memory");
  if (Err && Seal) {
    /* ...and LLVM 19 releases the memory. */
    claim_locked(M, A, ALLOC_RELEASING);
    pthread_mutex_unlock(&M->Lock);
    orcrt_actions_free(G.Dealloc, G.NumDealloc);
    release_alloc(M, A);
    return Err;
  }
  if (Err) {
    /* LLVM 22 keeps the reservation: only what this call recorded goes. */
    unclaim_locked(M, A, A->Regions.Len ? ALLOC_FINALIZED : ALLOC_RESERVED);
    pthread_mutex_unlock(&M->Lock);
    orcrt_actions_free(G.Dealloc, G.NumDealloc);
    if (Applied) {
      orcrt_ranges_mark_runs_releasing(A->Range, G.Key);
      orcrt_ranges_release_runs(A->Range, G.Key);
    }
    return Err;
  }
  ORCRT_ARRAY_INSERT_SORTED_BY(&A->Regions, Start, &G); /* reserved */
  A->Sealed = Seal;
  unclaim_locked(M, A, ALLOC_FINALIZED);
  pthread_mutex_unlock(&M->Lock);
  if (KeyOut)
    *KeyOut = G.Key;
  return NULL;
}

ORC_RT_EXPORT orc_rt_ErrorRef
orc_rt_MemoryService_finalize(orc_rt_MemoryServiceRef M, const orc_rt_MemoryFinalizeRequest *Req) {
  return initialize(M, Req, true, NULL);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_MemoryService_initialize(
    orc_rt_MemoryServiceRef M, const orc_rt_MemoryFinalizeRequest *Req, orc_rt_ExecutorAddr *Key) {
  *Key = 0;
  return initialize(M, Req, false, Key);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_MemoryService_deinitialize(orc_rt_MemoryServiceRef M,
                                                                orc_rt_ExecutorAddr Key) {
  struct orcrt_action *Dealloc = NULL;
  size_t NumDealloc = 0;
  bool Found = false;
  pthread_mutex_lock(&M->Lock);
  struct alloc *A;
  TAILQ_FOREACH(A, &M->Allocs, Link) {
    if (A->State == ALLOC_RELEASING)
      continue;
    for (size_t I = 0; !Found && I < A->Regions.Len; I++) {
      struct region *G = &A->Regions.Items[I];
      if (G->Key != Key)
        continue;
      /* Its actions are taken: a second deinitialize finds none to run. */
      Found = true;
      Dealloc = G->Dealloc;
      NumDealloc = G->NumDealloc;
      G->Dealloc = NULL;
      G->NumDealloc = 0;
    }
    if (Found)
      break;
  }
  pthread_mutex_unlock(&M->Lock);
  if (!Found)
    return orc_rt_Error_create("In deinitialize, address 0x%" PRIx64
                               " does not correspond to the start of any initialized region",
                               Key);
  orc_rt_ErrorRef Err = orcrt_actions_run_reverse(M->S, Dealloc, NumDealloc);
  orcrt_actions_free(Dealloc, NumDealloc);
  return Err;
}

/*
 * Take the allocation at Base for deallocation (RELEASING) into *Out; an
 * error if there is none. Base 0 (what reserve(0) hands out) gives NULL.
 */
static orc_rt_ErrorRef claim_alloc(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Base,
                                   struct alloc **Out) {
  orc_rt_ErrorRef Err = NULL;
  *Out = NULL;
  if (Base == 0)
    return NULL;
  pthread_mutex_lock(&M->Lock);
  struct alloc *A = find_by_base(M, Base);
  if (!A || A->State == ALLOC_RELEASING)
    Err = orc_rt_Error_create("No allocation entry found for 0x%" PRIx64, Base);
  else if (A->State == ALLOC_FINALIZING)
    Err = orc_rt_Error_create("Allocation 0x%" PRIx64 " is being finalized", Base);
  else
    claim_locked(M, A, ALLOC_RELEASING);
  pthread_mutex_unlock(&M->Lock);
  if (!Err)
    *Out = A;
  return Err;
}

/* Run the deallocation actions of A (claimed) and release it. */
static orc_rt_ErrorRef finish_dealloc(orc_rt_MemoryServiceRef M, struct alloc *A) {
  orc_rt_ErrorRef Err = run_dealloc_actions(M, A);
  release_alloc(M, A);
  return Err;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_MemoryService_deallocate(orc_rt_MemoryServiceRef M,
                                                              orc_rt_ExecutorAddr Base) {
  struct alloc *A;
  orc_rt_ErrorRef Err = claim_alloc(M, Base, &A);
  return A ? finish_dealloc(M, A) : Err;
}

orc_rt_ErrorRef orcrt_memory_deallocate_all(orc_rt_MemoryServiceRef M,
                                            const orc_rt_ExecutorAddr *Bases, size_t N) {
  orc_rt_ErrorRef Err = NULL;
  /* As LLVM does: take the allocations in the order listed, then deallocate them last first. */
  struct alloc **Claimed = N ? calloc(N, sizeof(*Claimed)) : NULL;
  size_t NumClaimed = 0;
  if (N && !Claimed)
    return orc_rt_Error_create("out of memory");
  for (size_t I = 0; I < N; I++) {
    struct alloc *A;
    Err = orc_rt_Error_join(Err, claim_alloc(M, Bases[I], &A));
    if (A)
      Claimed[NumClaimed++] = A;
  }
  while (NumClaimed > 0)
    Err = orc_rt_Error_join(Err, finish_dealloc(M, Claimed[--NumClaimed]));
  free(Claimed);
  return Err;
}

bool orcrt_memory_any_dealloc_actions(orc_rt_MemoryServiceRef M, const orc_rt_ExecutorAddr *Bases,
                                      size_t N) {
  bool Any = false;
  pthread_mutex_lock(&M->Lock);
  for (size_t I = 0; !Any && I < N; I++) {
    struct alloc *A = find_by_base(M, Bases[I]);
    for (size_t J = 0; A && !Any && J < A->Regions.Len; J++)
      Any = A->Regions.Items[J].NumDealloc != 0;
  }
  pthread_mutex_unlock(&M->Lock);
  return Any;
}

ORC_RT_EXPORT size_t orc_rt_MemoryService_releaseAbandoned(orc_rt_MemoryServiceRef M) {
  size_t N = 0;
  /* Listed and mapped as RELEASING: shutdown skips them, destroy unmaps them. */
  for (struct alloc *A; (A = claim_newest(M, NULL, true)); N++) {
    orc_rt_ErrorRef Err = run_dealloc_actions(M, A);
    if (Err)
      orc_rt_Session_reportError(M->S, Err);
  }
  return N;
}

/* ---- writes ------------------------------------------------------------------ */

/*
 * Pin the allocation the Size bytes at Addr lie in for a write, into *Out
 * with its memfd (*Fd, or -1). An error if there is none to write to.
 */
static orc_rt_ErrorRef pin_for_write(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr,
                                     size_t Size, struct alloc **Out, int *Fd) {
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&M->Lock);
  /* An empty write still has to name JIT memory. */
  struct alloc *A = find_containing(M, Addr, Size ? Size : 1);
  if (!A)
    Err = orc_rt_Error_create("Cannot write %zu byte(s) at 0x%" PRIx64 ": not in JIT memory", Size,
                              Addr);
  else if (A->State != ALLOC_RESERVED && A->State != ALLOC_FINALIZED)
    Err = orc_rt_Error_create("Cannot write at 0x%" PRIx64 ": allocation 0x%" PRIx64
                              " is being finalized or deallocated",
                              Addr, A->Base);
  if (!Err) {
    A->Writers++;
    *Fd = A->Fd;
    /* Only a reserved allocation has its memfd: a write to it goes there (see below). */
    if (Size && A->Fd >= 0)
      A->Written = true;
  }
  pthread_mutex_unlock(&M->Lock);
  *Out = Err ? NULL : A;
  return Err;
}

static void unpin(orc_rt_MemoryServiceRef M, struct alloc *A) {
  pthread_mutex_lock(&M->Lock);
  if (--A->Writers == 0)
    pthread_cond_broadcast(&M->Unpinned);
  pthread_mutex_unlock(&M->Lock);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_MemoryService_write(orc_rt_MemoryServiceRef M,
                                                         orc_rt_ExecutorAddr Addr, const void *Data,
                                                         size_t Size) {
  struct alloc *A;
  int Fd, E;
  orc_rt_ErrorRef Err = pin_for_write(M, Addr, Size, &A, &Fd);
  if (Err || !Size) {
    if (A)
      unpin(M, A);
    return Err;
  }
  /* Pinned: A stays mapped, in its state, and keeps its memfd until unpin(). */
  if (orcrt_ranges_span_touches_runs(A->Range, Addr, Size)) {
    /* Finalized: only writable segments, and through the view JIT'd code sees. */
    if (orcrt_ranges_span_has_prot(A->Range, Addr, Size, orc_rt_MemProt_Write))
      memcpy((void *)(uintptr_t)Addr, Data, Size);
    else
      Err = orc_rt_Error_create("Cannot write %zu byte(s) at 0x%" PRIx64 ": memory is not writable",
                                Size, Addr);
  } else if (Fd >= 0) {
    /* Not finalized: the view is read-only (so never copied on write); the memfd is not. */
    if ((E = pwrite_all(Fd, Data, Size, (off_t)(Addr - A->Base))))
      Err = orc_rt_Error_fromErrno(E, "Cannot write at 0x%" PRIx64, Addr);
  } else if (A->MemFD) {
    /* Finalized, outside every segment: the view is read-only and the memfd closed. */
    Err = orc_rt_Error_create("Cannot write %zu byte(s) at 0x%" PRIx64 ": memory is not writable",
                              Size, Addr);
  } else {
    memcpy((void *)(uintptr_t)Addr, Data, Size);
  }
  unpin(M, A);
  return Err;
}

/*
 * Pin the allocation [Addr, Addr + Size) lies in for content placed ahead
 * of its initialize: only where no initialize has been yet (a finalized
 * region's bytes are never overwritten by content whose request may still
 * fail), and only where the view can be written or a memfd is open.
 */
static struct alloc *pin_for_content(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr,
                                     size_t Size, int *Fd) {
  struct alloc *A;
  if (Size == 0)
    return NULL;
  orc_rt_ErrorRef Err = pin_for_write(M, Addr, Size, &A, Fd);
  if (Err) {
    orc_rt_Error_consume(Err);
    return NULL;
  }
  if (orcrt_ranges_span_touches_runs(A->Range, Addr, Size) || (*Fd < 0 && A->MemFD)) {
    unpin(M, A);
    return NULL;
  }
  return A;
}

bool orcrt_memory_may_place(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr, uint64_t Size) {
  int Fd;
  struct alloc *A = Size <= SIZE_MAX ? pin_for_content(M, Addr, (size_t)Size, &Fd) : NULL;
  if (A)
    unpin(M, A);
  return A != NULL;
}

bool orcrt_memory_place(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr, const void *Data,
                        size_t Size) {
  int Fd;
  struct alloc *A = pin_for_content(M, Addr, Size, &Fd);
  if (!A)
    return false;
  bool Ok = true;
  if (Fd >= 0)
    Ok = pwrite_all(Fd, Data, Size, (off_t)(Addr - A->Base)) == 0;
  else
    memcpy((void *)(uintptr_t)Addr, Data, Size);
  unpin(M, A);
  return Ok;
}

ssize_t orcrt_memory_place_from(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr, size_t Size,
                                int From) {
  int Fd;
  struct alloc *A = pin_for_content(M, Addr, Size, &Fd);
  if (!A) {
    errno = EFAULT;
    return -1;
  }
  ssize_t N;
  if (Fd >= 0) {
#ifdef HAVE_MEMFD_CREATE
    /* Pipe pages into the memfd's: no copy through this process, no page faults. */
    loff_t Off = (loff_t)(Addr - A->Base);
    do
      N = splice(From, NULL, Fd, &Off, Size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (N < 0 && errno == EINTR);
    if (N < 0 && errno == EINVAL)
      errno = ENOTSUP; /* From is not a pipe */
#else
    N = -1;
    errno = ENOTSUP;
#endif
  } else {
    do
      N = read(From, (void *)(uintptr_t)Addr, Size);
    while (N < 0 && errno == EINTR);
  }
  int E = errno;
  unpin(M, A);
  errno = E;
  return N;
}

/* ---- the Service ---------------------------------------------------------- */

static void memory_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done,
                            void *DoneCtx) {
  orc_rt_MemoryServiceRef M = Ctx;
  /*
   * Newest first, each allocation's actions run and its registrations go,
   * but it stays listed (RELEASING) and mapped until memory_destroy(): the
   * dispatcher's workers exit only after this, and as they do, glibc runs
   * the destructors of thread-specific data that JIT'd code (or the ORC
   * runtime's TLS) registered, which live in this memory.
   */
  for (struct alloc *A = NULL; (A = claim_newest(M, A, false));) {
    orc_rt_ErrorRef Err = run_dealloc_actions(M, A);
    if (Err)
      orc_rt_Session_reportError(S, Err);
    orcrt_ranges_release(A->Range);
  }
  if (Done)
    Done(DoneCtx);
}

static void memory_destroy(void *Ctx) {
  orc_rt_MemoryServiceRef M = Ctx;
  /* After the dispatcher's shutdown: no worker can still run code in the memory shutdown kept. */
  for (struct alloc *A; (A = TAILQ_FIRST(&M->Allocs));) {
    TAILQ_REMOVE(&M->Allocs, A, Link);
    unmap_alloc(A);
  }
  pthread_cond_destroy(&M->Unpinned);
  pthread_mutex_destroy(&M->Lock);
  free(M);
}

const orc_rt_ServiceOps orcrt_memory_service_ops = {
    .Name = "memory",
    .Shutdown = memory_shutdown,
    .Destroy = memory_destroy,
};

/* Whether this kernel gives out memfds. */
static bool have_memfd(void) {
  int Fd = -1;
#ifdef HAVE_MEMFD_CREATE
  Fd = memfd_create("orcrt-probe", MFD_CLOEXEC);
#endif
  if (Fd < 0)
    return false;
  close(Fd);
  return true;
}

/*
 * A new Service for S with Strategy, if the kernel has what it needs; NULL
 * if memory (or what its lock needs) runs out.
 */
static orc_rt_MemoryServiceRef memory_new(orc_rt_SessionRef S, orc_rt_MemoryStrategy Strategy) {
  orc_rt_MemoryServiceRef M = calloc(1, sizeof(*M));
  if (!M)
    return NULL;
  *M = (struct orc_rt_OpaqueMemoryService){
      .S = S,
      .Strategy = orc_rt_MemoryStrategy_MProtect,
      .PageSize = orcrt_host_page_size(),
  };
  if (Strategy == orc_rt_MemoryStrategy_MemFD) {
    if (have_memfd())
      M->Strategy = orc_rt_MemoryStrategy_MemFD;
    else
      orc_rt_Session_log(S, orc_rt_LogLevel_Info,
                         "memfd_create is unavailable; JIT memory uses mprotect");
  }
  if (pthread_mutex_init(&M->Lock, NULL) != 0) {
    free(M);
    return NULL;
  }
  if (pthread_cond_init(&M->Unpinned, NULL) != 0) {
    pthread_mutex_destroy(&M->Lock);
    free(M);
    return NULL;
  }
  TAILQ_INIT(&M->Allocs);
  return M;
}

orc_rt_ErrorRef orcrt_memory_add(orc_rt_SessionRef S, orc_rt_MemoryStrategy Strategy,
                                 orc_rt_MemoryServiceRef *Out) {
  orc_rt_MemoryServiceRef M = NULL;
  orc_rt_ErrorRef Err = NULL;
  if (orc_rt_Session_findService(S, &orcrt_memory_service_ops))
    Err = orc_rt_Error_create("the Session already has a memory Service");
  else if (!(M = memory_new(S, Strategy)))
    Err = orc_rt_Error_create("out of memory");
  else if ((Err = orc_rt_Session_addService(S, &orcrt_memory_service_ops, M)))
    memory_destroy(M);
  /* S owns M once added. */
  else
    *Out = M;
  return Err;
}

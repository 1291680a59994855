/*
 * shared-memory.c - JIT memory in POSIX shared memory: reserve, initialize,
 * deinitialize and release (the Service behind LLVM 19's
 * ExecutorSharedMemoryMapperService, whose wire glue is
 * llvm19/shared-memory.c)
 *
 * Each reservation is a range of jit-ranges.c; each allocation's segments
 * are runs of it under the allocation's base, recorded at initialize and
 * released at deinitialize (which drops the unwind and debugger
 * registrations left in them) before their pages go back to read-only.
 *
 * Locks. M->Lock guards the list of reservations (Reservations, every
 * Link) and every reservation's
 * fields (Unlinked, Releasing, Allocs) and allocations (State, Next). A
 * reservation's Base, Size, Name and Range, and an allocation's Base,
 * Segs and Dealloc, are set before it is listed. The segments of an
 * allocation may shrink (NumSegs) under the lock on a failed initialize.
 * M->Lock may be held while taking jit-ranges.c's lock, never the other
 * way round, and is never held across actions, observers or mprotect.
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <orcrt/memory.h>
#include <orcrt/session.h>
#include <orcrt/shared-memory.h>

#include "alloc-actions.h"
#include "host.h"
#include "jit-ranges.h"
#include "shared-memory-internal.h"

enum alloc_state { ALLOC_INITIALIZING, ALLOC_LIVE, ALLOC_GOING };

/* An allocation: segments of a reservation made live by one initialize. */
struct alloc {
  struct alloc *Next; /* in its reservation, most recent first */
  uint64_t Base;      /* the lowest segment address: its runs' tag in the registry */
  enum alloc_state State;
  struct orcrt_range_run *Segs; /* the pages of its non-empty segments */
  size_t NumSegs;
  struct orcrt_action *Dealloc;
  size_t NumDealloc;
};

struct reservation {
  TAILQ_ENTRY(reservation) Link; /* in M->Reservations, in order of reservation */
  uint64_t Base, Size;           /* Size in whole pages */
  char *Name;                    /* of the shared memory object */
  bool Unlinked;                 /* the name is gone */
  bool Releasing;
  struct alloc *Allocs;
  struct orcrt_range *Range;
};

struct orc_rt_OpaqueSharedMemoryService {
  orc_rt_SessionRef S;
  uint64_t PageSize;
  pthread_mutex_t Lock; /* see "Locks" above */
  TAILQ_HEAD(reservation_list, reservation) Reservations;
};

/* Numbers the objects this process creates, across Sessions. */
static atomic_uint_fast64_t NameCounter;

/* ---- helpers ------------------------------------------------------------ */

/* The reservation whose base is Base. Lock held. */
static struct reservation *find_reservation(orc_rt_SharedMemoryServiceRef M, uint64_t Base) {
  struct reservation *R = TAILQ_FIRST(&M->Reservations);
  while (R && R->Base != Base)
    R = TAILQ_NEXT(R, Link);
  return R;
}

/* The allocation with base Base, and its reservation. Lock held. */
static struct alloc *find_alloc(orc_rt_SharedMemoryServiceRef M, uint64_t Base,
                                struct reservation **Owner) {
  struct reservation *R;
  TAILQ_FOREACH(R, &M->Reservations, Link) {
    for (struct alloc *A = R->Allocs; A; A = A->Next)
      if (A->Base == Base) {
        *Owner = R;
        return A;
      }
  }
  return NULL;
}

/* A of R is going from now on: its memory is no longer readable. Lock held. */
static void going_locked(struct reservation *R, struct alloc *A) {
  A->State = ALLOC_GOING;
  orcrt_ranges_mark_runs_releasing(R->Range, A->Base);
}

/* R is being released from now on. Lock held. */
static void releasing_locked(struct reservation *R) {
  R->Releasing = true;
  orcrt_ranges_mark_releasing(R->Range);
}

/* A fresh name for a shared memory object: this process, a counter, 64 random bits. */
static void make_name(char *Buf, size_t Size) {
  uint64_t Random = 0;
  if (getrandom(&Random, sizeof(Random), GRND_NONBLOCK) != (ssize_t)sizeof(Random)) {
    /* No entropy yet: the name need only be unique, and O_EXCL guarantees that. */
    struct timespec T;
    clock_gettime(CLOCK_MONOTONIC, &T);
    Random = (uint64_t)T.tv_nsec * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)T.tv_sec;
  }
  uint64_t N = atomic_fetch_add(&NameCounter, 1) + 1;
  snprintf(Buf, Size, "/orcrt-%ld-%" PRIu64 "-%016" PRIx64, (long)getpid(), N, Random);
}

/* Remove R's name if it is still there. */
static void unlink_name(struct reservation *R) {
  if (R->Unlinked)
    return;
  R->Unlinked = true;
  /* LLVM's controller removes the name itself once it has opened the object. */
  shm_unlink(R->Name);
}

ORC_RT_EXPORT bool orc_rt_SharedMemoryService_isExecutable(orc_rt_SharedMemoryServiceRef M,
                                                           orc_rt_ExecutorAddr Addr) {
  return orcrt_ranges_is_executable(M, Addr);
}

/* ---- releasing ------------------------------------------------------------ */

static void free_alloc(struct alloc *A) {
  if (A) {
    orcrt_actions_free(A->Dealloc, A->NumDealloc);
    free(A->Segs);
  }
  free(A);
}

/* Make A's pages read-only again, as they were after reserve. */
static orc_rt_ErrorRef unprotect(const struct alloc *A) {
  orc_rt_ErrorRef Err = NULL;
  for (size_t I = 0; I < A->NumSegs; I++) {
    const struct orcrt_range_run *G = &A->Segs[I];
    if (mprotect((void *)(uintptr_t)G->Start, (size_t)(G->End - G->Start), PROT_READ) != 0)
      Err = orc_rt_Error_join(
          Err,
          orc_rt_Error_fromErrno(errno, "Could not reset the protection of 0x%" PRIx64, G->Start));
  }
  return Err;
}

/* Take A (no longer listed by anyone) out of R's list. Lock held. */
static void unlist_alloc(struct reservation *R, struct alloc *A) {
  for (struct alloc **Link = &R->Allocs; *Link; Link = &(*Link)->Next)
    if (*Link == A) {
      *Link = A->Next;
      return;
    }
}

/*
 * Drop A (GOING, its actions done): the registrations left in it (the
 * unwinder and the debugger must not read pages the controller may reuse),
 * then its pages' protection, then A itself.
 */
static orc_rt_ErrorRef drop_alloc(orc_rt_SharedMemoryServiceRef M, struct reservation *R,
                                  struct alloc *A) {
  orcrt_ranges_release_runs(R->Range, A->Base);
  orc_rt_ErrorRef Err = unprotect(A);
  pthread_mutex_lock(&M->Lock);
  unlist_alloc(R, A);
  pthread_mutex_unlock(&M->Lock);
  free_alloc(A);
  return Err;
}

/* Deinitialize A (GOING): its deallocation actions last first, then drop it. */
static orc_rt_ErrorRef deinit_alloc(orc_rt_SharedMemoryServiceRef M, struct reservation *R,
                                    struct alloc *A) {
  orc_rt_ErrorRef Err = orcrt_actions_run_reverse(M->S, A->Dealloc, A->NumDealloc);
  return orc_rt_Error_join(Err, drop_alloc(M, R, A));
}

/* Release R (Releasing, no allocation being initialized or deinitialized). */
static orc_rt_ErrorRef release_reservation(orc_rt_SharedMemoryServiceRef M, struct reservation *R) {
  orc_rt_ErrorRef Err = NULL;
  for (;;) {
    /* Most recent first. */
    pthread_mutex_lock(&M->Lock);
    struct alloc *A = R->Allocs;
    if (A)
      going_locked(R, A);
    pthread_mutex_unlock(&M->Lock);
    if (!A)
      break;
    Err = orc_rt_Error_join(Err, deinit_alloc(M, R, A));
  }
  orcrt_ranges_release(R->Range);
  orcrt_ranges_remove(R->Range);
  if (munmap((void *)(uintptr_t)R->Base, (size_t)R->Size) != 0)
    Err = orc_rt_Error_join(
        Err, orc_rt_Error_fromErrno(errno, "Could not unmap reservation 0x%" PRIx64, R->Base));
  unlink_name(R);
  pthread_mutex_lock(&M->Lock);
  TAILQ_REMOVE(&M->Reservations, R, Link);
  pthread_mutex_unlock(&M->Lock);
  free(R->Name);
  free(R);
  return Err;
}

/* ---- reserve / initialize / deinitialize / release ------------------------ */

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_SharedMemoryService_reserve(orc_rt_SharedMemoryServiceRef M,
                                                                 uint64_t Size,
                                                                 orc_rt_ExecutorAddr *Base,
                                                                 char **Name) {
  char NameBuf[96];
  int Fd = -1;
  void *P = MAP_FAILED;
  orc_rt_ErrorRef Err = NULL;
  struct reservation *R = NULL;

  *Base = 0;
  *Name = NULL;
  if (Size == 0)
    return orc_rt_Error_create("Could not reserve 0 bytes of shared memory");
  if (Size > INT64_MAX - (M->PageSize - 1) || Size > SIZE_MAX - (M->PageSize - 1))
    return orc_rt_Error_create("Could not reserve %" PRIu64 " bytes: size too large", Size);
  uint64_t Rounded = orcrt_range_run_of(0, Size, 0, M->PageSize).End;

  R = calloc(1, sizeof(*R));
  if (!R)
    return orc_rt_Error_create("Could not reserve %" PRIu64 " bytes: out of memory", Size);
  /* O_EXCL: an object someone else created under the name is never used. */
  for (int Try = 0; Try < 8 && Fd < 0; Try++) {
    make_name(NameBuf, sizeof(NameBuf));
    Fd = shm_open(NameBuf, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (Fd < 0 && errno != EEXIST)
      break;
  }
  if (Fd < 0) {
    Err = orc_rt_Error_fromErrno(errno, "Could not create a shared memory object");
    goto fail;
  }
  R->Name = strdup(NameBuf);
  *Name = strdup(NameBuf);
  if (!R->Name || !*Name) {
    Err = orc_rt_Error_create("Could not reserve %" PRIu64 " bytes: out of memory", Size);
    goto fail;
  }
  /* Read-only: the controller writes through its own view. */
  if (ftruncate(Fd, (off_t)Rounded) != 0 ||
      (P = mmap(NULL, (size_t)Rounded, PROT_READ, MAP_SHARED, Fd, 0)) == MAP_FAILED) {
    Err = orc_rt_Error_fromErrno(errno, "Could not reserve %" PRIu64 " bytes", Size);
    goto fail;
  }
  R->Base = orc_rt_ExecutorAddr_fromPtr(P);
  R->Size = Rounded;
  if ((Err = orcrt_ranges_add(M->S, M, R->Base, R->Size, &R->Range)))
    goto fail;
  close(Fd);
  pthread_mutex_lock(&M->Lock);
  TAILQ_INSERT_TAIL(&M->Reservations, R, Link);
  pthread_mutex_unlock(&M->Lock);
  *Base = R->Base;
  orc_rt_Session_log(M->S, orc_rt_LogLevel_Debug,
                     "shared memory: reserved 0x%" PRIx64 " bytes at 0x%" PRIx64 " as %s", Rounded,
                     R->Base, R->Name);
  return NULL;

fail:
  if (P != MAP_FAILED)
    munmap(P, (size_t)Rounded);
  if (Fd >= 0) {
    close(Fd);
    shm_unlink(NameBuf);
  }
  free(*Name);
  *Name = NULL;
  if (R)
    free(R->Name);
  free(R);
  return Err;
}

/*
 * Check Req against R before anything is touched, and fill Segs (the page
 * runs of the non-empty segments) and *Base. Lock held.
 */
static orc_rt_ErrorRef check_request(orc_rt_SharedMemoryServiceRef M, const struct reservation *R,
                                     const orc_rt_SharedMemoryFinalizeRequest *Req,
                                     struct orcrt_range_run *Segs, size_t *NumSegs,
                                     uint64_t *Base) {
  *NumSegs = 0;
  *Base = UINT64_MAX;
  for (size_t I = 0; I < Req->NumSegments; I++) {
    const orc_rt_SharedMemorySegment *G = &Req->Segments[I];
    orc_rt_ErrorRef Err = orcrt_ranges_check_segment(G->Addr, G->Size, G->Prot, R->Base,
                                                     R->Base + R->Size, "reservation");
    if (Err)
      return Err;
    *Base = G->Addr < *Base ? G->Addr : *Base;
    if (G->Size == 0)
      continue;
    struct orcrt_range_run S = orcrt_range_run_of(G->Addr, G->Size, G->Prot, M->PageSize);
    for (size_t J = 0; J < *NumSegs; J++)
      if (Segs[J].Start < S.End && S.Start < Segs[J].End && Segs[J].Prot != S.Prot)
        return orc_rt_Error_create("Segment 0x%" PRIx64 " shares a page with a segment of "
                                   "another protection",
                                   G->Addr);
    for (const struct alloc *A = R->Allocs; A; A = A->Next)
      for (size_t J = 0; J < A->NumSegs; J++)
        if (A->Segs[J].Start < S.End && S.Start < A->Segs[J].End)
          return orc_rt_Error_create("Segment 0x%" PRIx64 " overlaps allocation 0x%" PRIx64,
                                     G->Addr, A->Base);
    Segs[(*NumSegs)++] = S;
  }
  for (const struct alloc *A = R->Allocs; A; A = A->Next)
    if (A->Base == *Base)
      return orc_rt_Error_create("Allocation 0x%" PRIx64 " already exists", *Base);
  return NULL;
}

/* List A (checked against Req) in the reservation at Reservation, into *Out. */
static orc_rt_ErrorRef list_alloc(orc_rt_SharedMemoryServiceRef M, orc_rt_ExecutorAddr Reservation,
                                  const orc_rt_SharedMemoryFinalizeRequest *Req, struct alloc *A,
                                  struct reservation **Out) {
  orc_rt_ErrorRef Err;
  pthread_mutex_lock(&M->Lock);
  struct reservation *R = find_reservation(M, Reservation);
  if (!R || R->Releasing)
    Err = orc_rt_Error_create("No reservation found for 0x%" PRIx64, Reservation);
  else
    Err = check_request(M, R, Req, A->Segs, &A->NumSegs, &A->Base);
  if (!Err) {
    /* From here on others see the pages as taken, and leave them alone. */
    A->State = ALLOC_INITIALIZING;
    A->Next = R->Allocs;
    R->Allocs = A;
    /* The controller has opened the object by now: its content is in place. */
    unlink_name(R);
    *Out = R;
  }
  pthread_mutex_unlock(&M->Lock);
  return Err;
}

/* Give the first *Protected.. segments of A their protection, counting in *Protected. */
static orc_rt_ErrorRef protect_segments(struct alloc *A, size_t *Protected) {
  for (; *Protected < A->NumSegs; (*Protected)++) {
    const struct orcrt_range_run *G = &A->Segs[*Protected];
    if (mprotect((void *)(uintptr_t)G->Start, (size_t)(G->End - G->Start),
                 orcrt_mmap_prot(G->Prot)) != 0)
      return orc_rt_Error_fromErrno(errno, "Could not protect segment 0x%" PRIx64 "%s", G->Start,
                                    errno == EPERM && (G->Prot & orc_rt_MemProt_Exec)
                                        ? " (is /dev/shm mounted noexec?)"
                                        : "");
    if (G->Prot & orc_rt_MemProt_Exec)
      __builtin___clear_cache((char *)(uintptr_t)G->Start, (char *)(uintptr_t)G->End);
  }
  return NULL;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_SharedMemoryService_initialize(
    orc_rt_SharedMemoryServiceRef M, orc_rt_ExecutorAddr Reservation,
    const orc_rt_SharedMemoryFinalizeRequest *Req, orc_rt_ExecutorAddr *Alloc) {
  orc_rt_ErrorRef Err = NULL;
  struct alloc *A = NULL;
  struct reservation *R = NULL;
  size_t Protected = 0;

  *Alloc = 0;
  if (Req->NumSegments == 0)
    return orc_rt_Error_create("Initialize request for reservation 0x%" PRIx64 " has no segments",
                               Reservation);
  A = calloc(1, sizeof(*A));
  if (!A || !(A->Segs = calloc(Req->NumSegments, sizeof(*A->Segs)))) {
    free(A);
    return orc_rt_Error_create("out of memory");
  }
  Err = orcrt_actions_copy_dealloc(Req->Actions, Req->NumActions, &A->Dealloc, &A->NumDealloc);
  if (!Err)
    Err = list_alloc(M, Reservation, Req, A, &R);
  if (Err) {
    free_alloc(A);
    return Err;
  }

  /* Recorded before they apply: the pages count as A's while it is being initialized. */
  Err = orcrt_ranges_protect(R->Range, A->Base, A->Segs, A->NumSegs);
  if (!Err)
    Err = protect_segments(A, &Protected);
  /* Registrations waiting for this content (LLVM 19's ORC runtime) go in before the actions. */
  if (!Err)
    orcrt_ranges_ready_runs(R->Range, A->Base);
  /* As LLVM does: a failing finalize action undoes the completed ones. */
  if (!Err)
    Err = orcrt_actions_run_finalize(M->S, Req->Actions, Req->NumActions);

  pthread_mutex_lock(&M->Lock);
  if (!Err) {
    A->State = ALLOC_LIVE;
  } else {
    /* The pages that may have been given a protection go back to read-only. */
    if (Protected < A->NumSegs)
      A->NumSegs = Protected + 1;
    going_locked(R, A);
  }
  pthread_mutex_unlock(&M->Lock);
  if (Err)
    return orc_rt_Error_join(Err, drop_alloc(M, R, A));
  *Alloc = A->Base;
  return NULL;
}

ORC_RT_EXPORT orc_rt_ErrorRef
orc_rt_SharedMemoryService_deinitialize(orc_rt_SharedMemoryServiceRef M, orc_rt_ExecutorAddr Base) {
  struct reservation *R = NULL;
  pthread_mutex_lock(&M->Lock);
  struct alloc *A = find_alloc(M, Base, &R);
  if (!A || A->State == ALLOC_GOING || R->Releasing) {
    pthread_mutex_unlock(&M->Lock);
    return orc_rt_Error_create("No allocation entry found for 0x%" PRIx64, Base);
  }
  if (A->State == ALLOC_INITIALIZING) {
    pthread_mutex_unlock(&M->Lock);
    return orc_rt_Error_create("Allocation 0x%" PRIx64 " is being initialized", Base);
  }
  going_locked(R, A);
  pthread_mutex_unlock(&M->Lock);
  return deinit_alloc(M, R, A);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_SharedMemoryService_release(orc_rt_SharedMemoryServiceRef M,
                                                                 orc_rt_ExecutorAddr Base) {
  pthread_mutex_lock(&M->Lock);
  struct reservation *R = find_reservation(M, Base);
  if (!R || R->Releasing) {
    pthread_mutex_unlock(&M->Lock);
    return orc_rt_Error_create("No reservation found for 0x%" PRIx64, Base);
  }
  for (struct alloc *A = R->Allocs; A; A = A->Next)
    if (A->State != ALLOC_LIVE) {
      pthread_mutex_unlock(&M->Lock);
      return orc_rt_Error_create("Reservation 0x%" PRIx64 " has an allocation being %s", Base,
                                 A->State == ALLOC_INITIALIZING ? "initialized" : "deinitialized");
    }
  releasing_locked(R);
  pthread_mutex_unlock(&M->Lock);
  return release_reservation(M, R);
}

/* ---- the Service ---------------------------------------------------------- */

static void shm_destroy(void *Ctx) {
  orc_rt_SharedMemoryServiceRef M = Ctx;
  /* Shutdown released every reservation. */
  pthread_mutex_destroy(&M->Lock);
  free(M);
}

/* Claim the newest reservation not being released, for release; NULL if none. */
static struct reservation *claim_newest(orc_rt_SharedMemoryServiceRef M) {
  pthread_mutex_lock(&M->Lock);
  struct reservation *R = TAILQ_LAST(&M->Reservations, reservation_list);
  while (R && R->Releasing)
    R = TAILQ_PREV(R, reservation_list, Link);
  if (R) {
    releasing_locked(R);
    /* No call runs at shutdown: whatever is half done is taken as live. */
    for (struct alloc *A = R->Allocs; A; A = A->Next)
      A->State = ALLOC_LIVE;
  }
  pthread_mutex_unlock(&M->Lock);
  return R;
}

static void shm_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DoneCtx) {
  orc_rt_SharedMemoryServiceRef M = Ctx;
  for (struct reservation *R; (R = claim_newest(M));)
    orc_rt_Session_reportError(S, release_reservation(M, R));
  if (Done)
    Done(DoneCtx);
}

const orc_rt_ServiceOps orcrt_shm_service_ops = {
    .Name = "shared memory",
    .Shutdown = shm_shutdown,
    .Destroy = shm_destroy,
};

orc_rt_ErrorRef orcrt_shm_add(orc_rt_SessionRef S, orc_rt_SharedMemoryServiceRef *Out) {
  if (orc_rt_Session_findService(S, &orcrt_shm_service_ops))
    return orc_rt_Error_create("the Session already has a shared-memory Service");
  orc_rt_SharedMemoryServiceRef M = malloc(sizeof(*M));
  if (!M)
    return orc_rt_Error_create("out of memory");
  *M = (struct orc_rt_OpaqueSharedMemoryService){.S = S, .PageSize = orcrt_host_page_size()};
  int Rc = pthread_mutex_init(&M->Lock, NULL);
  if (Rc) {
    free(M);
    return orc_rt_Error_fromErrno(Rc, "cannot create the shared-memory Service");
  }
  TAILQ_INIT(&M->Reservations);
  orc_rt_ErrorRef Err = orc_rt_Session_addService(S, &orcrt_shm_service_ops, M);
  if (Err) {
    shm_destroy(M);
    return Err;
  }
  /* S owns M from here on. */
  *Out = M;
  return NULL;
}

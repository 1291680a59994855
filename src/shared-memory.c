/*
 * shared-memory.c - JIT memory in POSIX shared memory: LLVM 19's
 * ExecutorSharedMemoryMapperService in C
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
#include <orcrt/sps.h>

#include "memory-internal.h"
#include "shared-memory-internal.h"

/* The pages of a segment given its protection by initialize. */
struct segment {
  uint64_t PageStart, PageEnd;
  uint8_t Prot;
};

/* A deallocation action kept until the allocation goes. */
struct action {
  orc_rt_ExecutorAddr Fn;
  char *ArgData;
  size_t ArgSize;
};

enum alloc_state { ALLOC_INITIALIZING, ALLOC_LIVE, ALLOC_GOING };

/* An allocation: segments of a reservation made live by one initialize. */
struct alloc {
  struct alloc *Next; /* in its reservation, most recent first */
  uint64_t Base;      /* the lowest segment address */
  enum alloc_state State;
  struct segment *Segs;
  size_t NumSegs;
  struct action *Dealloc;
  size_t NumDealloc;
};

struct reservation {
  struct reservation *Prev, *Next; /* in order of reservation */
  uint64_t Base, Size;             /* Size in whole pages */
  char *Name;                      /* of the shared memory object */
  bool Unlinked;                   /* the name is gone */
  bool Releasing;
  struct alloc *Allocs;
};

struct orc_rt_OpaqueSharedMemoryService {
  orc_rt_SessionRef S;
  uint64_t PageSize;
  pthread_mutex_t Lock; /* the list, and every reservation's fields and allocations */
  struct reservation *First, *Last;
  LIST_ENTRY(orc_rt_OpaqueSharedMemoryService) Live; /* in LiveServices */
};

/*
 * Every shared-memory Service of the process: the EH-frame and debugger
 * entry points get no context, yet check their ranges against all JIT
 * memory of the process (see memory-internal.h).
 */
static pthread_mutex_t LiveLock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, orc_rt_OpaqueSharedMemoryService)
    LiveServices = LIST_HEAD_INITIALIZER(LiveServices);

/* Numbers the objects this process creates, across Sessions. */
static atomic_uint_fast64_t NameCounter;

static const char DeserializeError[] = "Could not deserialize arguments for wrapper function call";

/* ---- helpers ------------------------------------------------------------ */

/* The reservation whose base is Base. Lock held. */
static struct reservation *find_reservation(orc_rt_SharedMemoryServiceRef M, uint64_t Base) {
  for (struct reservation *R = M->First; R; R = R->Next)
    if (R->Base == Base)
      return R;
  return NULL;
}

/* The reservation holding the Size bytes at Addr. Lock held. */
static struct reservation *find_containing(orc_rt_SharedMemoryServiceRef M, uint64_t Addr,
                                           uint64_t Size) {
  for (struct reservation *R = M->First; R; R = R->Next) {
    orc_rt_ExecutorAddrRange Range = {R->Base, R->Base + R->Size};
    if (orc_rt_ExecutorAddrRange_containsSpan(Range, Addr, Size))
      return R;
  }
  return NULL;
}

/* The allocation with base Base, and its reservation. Lock held. */
static struct alloc *find_alloc(orc_rt_SharedMemoryServiceRef M, uint64_t Base,
                                struct reservation **Owner) {
  for (struct reservation *R = M->First; R; R = R->Next)
    for (struct alloc *A = R->Allocs; A; A = A->Next)
      if (A->Base == Base) {
        *Owner = R;
        return A;
      }
  return NULL;
}

/*
 * Whether the Size (> 0) bytes at Addr lie in pages of allocations of R
 * that carry Bit: some segment covers the span and every segment touching
 * it has Bit (where segments share a page, the conservative answer).
 * Allocations being deinitialized do not count. Lock held.
 */
static bool span_has_prot(const struct reservation *R, uint64_t Addr, uint64_t Size, uint8_t Bit,
                          bool CountGoing) {
  bool Covered = false;
  uint64_t End = Addr + Size;
  for (const struct alloc *A = R->Allocs; A; A = A->Next) {
    if (A->State == ALLOC_GOING && !CountGoing)
      continue;
    for (size_t I = 0; I < A->NumSegs; I++) {
      const struct segment *G = &A->Segs[I];
      if (G->PageEnd <= Addr || G->PageStart >= End)
        continue;
      if (!(G->Prot & Bit))
        return false;
      if (G->PageStart <= Addr && End <= G->PageEnd)
        Covered = true;
    }
  }
  return Covered;
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

/* ---- checks for the other Services --------------------------------------- */

ORC_RT_EXPORT bool orc_rt_SharedMemoryService_isExecutable(orc_rt_SharedMemoryServiceRef M,
                                                           orc_rt_ExecutorAddr Addr) {
  bool Exec = false;
  pthread_mutex_lock(&M->Lock);
  struct reservation *R = find_containing(M, Addr, 1);
  /* Code stays callable while its deallocation actions run. */
  if (R)
    Exec = span_has_prot(R, Addr, 1, orc_rt_MemProt_Exec, true);
  pthread_mutex_unlock(&M->Lock);
  return Exec;
}

bool orcrt_shm_is_call_target(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  orc_rt_SharedMemoryServiceRef M = orc_rt_Session_findService(S, &orcrt_shm_service_ops);
  return M && orc_rt_SharedMemoryService_isExecutable(M, Addr);
}

bool orcrt_shm_is_readable(orc_rt_ExecutorAddr Addr, uint64_t Size, bool *InShm) {
  bool In = false, Readable = false;
  *InShm = false;
  if (Size == 0 || Addr > UINT64_MAX - Size)
    return false;
  pthread_mutex_lock(&LiveLock);
  for (orc_rt_SharedMemoryServiceRef M = LIST_FIRST(&LiveServices); M && !In;
       M = LIST_NEXT(M, Live)) {
    pthread_mutex_lock(&M->Lock);
    struct reservation *R = find_containing(M, Addr, Size);
    if (R) {
      In = true;
      Readable = !R->Releasing && span_has_prot(R, Addr, Size, orc_rt_MemProt_Read, false);
    }
    pthread_mutex_unlock(&M->Lock);
  }
  pthread_mutex_unlock(&LiveLock);
  *InShm = In;
  return Readable;
}

bool orcrt_shm_is_jit_memory(orc_rt_ExecutorAddr Addr, uint64_t Size) {
  bool Found = false;
  pthread_mutex_lock(&LiveLock);
  for (orc_rt_SharedMemoryServiceRef M = LIST_FIRST(&LiveServices); M && !Found;
       M = LIST_NEXT(M, Live)) {
    pthread_mutex_lock(&M->Lock);
    struct reservation *R = find_containing(M, Addr, Size);
    Found = R && !R->Releasing;
    pthread_mutex_unlock(&M->Lock);
  }
  pthread_mutex_unlock(&LiveLock);
  return Found;
}

/* ---- actions ------------------------------------------------------------- */

/* Run Fn(ArgData, ArgSize): code in M's segments or the memory Service's may run. */
static orc_rt_ErrorRef run_action(orc_rt_SharedMemoryServiceRef M, orc_rt_ExecutorAddr Fn,
                                  const char *ArgData, size_t ArgSize) {
  return orcrt_run_action(orc_rt_Session_findService(M->S, &orcrt_memory_service_ops), M, Fn,
                          ArgData, ArgSize);
}

static void free_alloc(struct alloc *A) {
  for (size_t I = 0; A && I < A->NumDealloc; I++)
    free(A->Dealloc[I].ArgData);
  if (A) {
    free(A->Dealloc);
    free(A->Segs);
  }
  free(A);
}

/* Make A's pages read-only again, as they were after reserve. */
static orc_rt_ErrorRef unprotect(const struct alloc *A) {
  orc_rt_ErrorRef Err = NULL;
  for (size_t I = 0; I < A->NumSegs; I++) {
    const struct segment *G = &A->Segs[I];
    if (mprotect(orcrt_ptr(G->PageStart), (size_t)(G->PageEnd - G->PageStart), PROT_READ) != 0)
      Err = orc_rt_Error_join(
          Err, orc_rt_Error_fromErrno(errno, "Could not reset the protection of 0x%" PRIx64,
                                      G->PageStart));
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
 * Drop A (GOING, its actions done): the registrations left in it, then its
 * pages, then A itself.
 */
static orc_rt_ErrorRef drop_alloc(orc_rt_SharedMemoryServiceRef M, struct reservation *R,
                                  struct alloc *A) {
  /* The unwinder and the debugger must not read pages the controller may reuse. */
  size_t NumEH = 0, NumGDB = 0;
  for (size_t I = 0; I < A->NumSegs; I++) {
    NumEH += orcrt_eh_frame_purge(A->Segs[I].PageStart, A->Segs[I].PageEnd);
    NumGDB += orcrt_gdb_jit_purge(A->Segs[I].PageStart, A->Segs[I].PageEnd);
  }
  if (NumEH)
    orc_rt_Session_log(M->S, orc_rt_LogLevel_Warning,
                       "deinitializing 0x%" PRIx64
                       ": deregistered %zu EH frame section(s) left in it",
                       A->Base, NumEH);
  if (NumGDB)
    orc_rt_Session_log(M->S, orc_rt_LogLevel_Debug,
                       "deinitializing 0x%" PRIx64
                       ": removed %zu debug object(s) from the debugger",
                       A->Base, NumGDB);
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
  orc_rt_ErrorRef Err = NULL;
  for (size_t I = A->NumDealloc; I-- > 0;)
    Err = orc_rt_Error_join(
        Err, run_action(M, A->Dealloc[I].Fn, A->Dealloc[I].ArgData, A->Dealloc[I].ArgSize));
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
      A->State = ALLOC_GOING;
    pthread_mutex_unlock(&M->Lock);
    if (!A)
      break;
    Err = orc_rt_Error_join(Err, deinit_alloc(M, R, A));
  }
  orcrt_eh_frame_purge(R->Base, R->Base + R->Size);
  orcrt_gdb_jit_purge(R->Base, R->Base + R->Size);
  if (munmap(orcrt_ptr(R->Base), (size_t)R->Size) != 0)
    Err = orc_rt_Error_join(
        Err, orc_rt_Error_fromErrno(errno, "Could not unmap reservation 0x%" PRIx64, R->Base));
  unlink_name(R);
  pthread_mutex_lock(&M->Lock);
  if (R->Prev)
    R->Prev->Next = R->Next;
  else
    M->First = R->Next;
  if (R->Next)
    R->Next->Prev = R->Prev;
  else
    M->Last = R->Prev;
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
  uint64_t Rounded = (Size + M->PageSize - 1) & ~(M->PageSize - 1);

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
  if (ftruncate(Fd, (off_t)Rounded) != 0) {
    Err = orc_rt_Error_fromErrno(errno, "Could not reserve %" PRIu64 " bytes", Size);
    goto fail;
  }
  /* Read-only: the controller writes through its own view. */
  P = mmap(NULL, (size_t)Rounded, PROT_READ, MAP_SHARED, Fd, 0);
  if (P == MAP_FAILED) {
    Err = orc_rt_Error_fromErrno(errno, "Could not reserve %" PRIu64 " bytes", Size);
    goto fail;
  }
  close(Fd);
  R->Base = orc_rt_ExecutorAddr_fromPtr(P);
  R->Size = Rounded;
  pthread_mutex_lock(&M->Lock);
  R->Prev = M->Last;
  if (M->Last)
    M->Last->Next = R;
  else
    M->First = R;
  M->Last = R;
  pthread_mutex_unlock(&M->Lock);
  *Base = R->Base;
  orc_rt_Session_log(M->S, orc_rt_LogLevel_Debug,
                     "shared memory: reserved 0x%" PRIx64 " bytes at 0x%" PRIx64 " as %s", Rounded,
                     R->Base, R->Name);
  return NULL;

fail:
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
 * ranges of the non-empty segments) and *Base. Lock held.
 */
static orc_rt_ErrorRef check_request(orc_rt_SharedMemoryServiceRef M, const struct reservation *R,
                                     const orc_rt_SharedMemoryFinalizeRequest *Req,
                                     struct segment *Segs, size_t *NumSegs, uint64_t *Base) {
  uint64_t End = R->Base + R->Size;
  *NumSegs = 0;
  *Base = UINT64_MAX;
  for (size_t I = 0; I < Req->NumSegments; I++) {
    const orc_rt_SharedMemorySegment *G = &Req->Segments[I];
    if (G->Addr > UINT64_MAX - G->Size)
      return orc_rt_Error_create(
          "Segment 0x%" PRIx64 " size 0x%" PRIx64 " overflows the address space", G->Addr, G->Size);
    if (G->Addr < R->Base || G->Addr + G->Size > End)
      return orc_rt_Error_create("Segment 0x%" PRIx64 " -- 0x%" PRIx64 " crosses boundary of "
                                 "reservation 0x%" PRIx64 " -- 0x%" PRIx64,
                                 G->Addr, G->Addr + G->Size, R->Base, End);
    if ((G->Prot & orc_rt_MemProt_Write) && (G->Prot & orc_rt_MemProt_Exec))
      return orc_rt_Error_create("Segment 0x%" PRIx64 " asks to be writable and executable",
                                 G->Addr);
    *Base = G->Addr < *Base ? G->Addr : *Base;
    if (G->Size == 0)
      continue;
    struct segment S = {
        orcrt_align_down(G->Addr, M->PageSize), orcrt_page_end(G->Addr + G->Size, M->PageSize),
        (uint8_t)(G->Prot & (orc_rt_MemProt_Read | orc_rt_MemProt_Write | orc_rt_MemProt_Exec))};
    for (size_t J = 0; J < *NumSegs; J++)
      if (Segs[J].PageStart < S.PageEnd && S.PageStart < Segs[J].PageEnd && Segs[J].Prot != S.Prot)
        return orc_rt_Error_create("Segment 0x%" PRIx64 " shares a page with a segment of "
                                   "another protection",
                                   G->Addr);
    for (const struct alloc *A = R->Allocs; A; A = A->Next)
      for (size_t J = 0; J < A->NumSegs; J++)
        if (A->Segs[J].PageStart < S.PageEnd && S.PageStart < A->Segs[J].PageEnd)
          return orc_rt_Error_create("Segment 0x%" PRIx64 " overlaps allocation 0x%" PRIx64,
                                     G->Addr, A->Base);
    Segs[(*NumSegs)++] = S;
  }
  for (const struct alloc *A = R->Allocs; A; A = A->Next)
    if (A->Base == *Base)
      return orc_rt_Error_create("Allocation 0x%" PRIx64 " already exists", *Base);
  return NULL;
}

/* Keep copies of the non-null deallocation actions of Req. */
static orc_rt_ErrorRef copy_dealloc_actions(const orc_rt_SharedMemoryFinalizeRequest *Req,
                                            struct alloc *A) {
  if (Req->NumActions && !(A->Dealloc = calloc(Req->NumActions, sizeof(*A->Dealloc))))
    return orc_rt_Error_create("out of memory");
  for (size_t I = 0; I < Req->NumActions; I++) {
    const orc_rt_MemoryAction *D = &Req->Actions[I].Dealloc;
    if (D->Fn == 0)
      continue;
    struct action *C = &A->Dealloc[A->NumDealloc];
    C->Fn = D->Fn;
    C->ArgSize = D->ArgSize;
    if (D->ArgSize && !(C->ArgData = malloc(D->ArgSize)))
      return orc_rt_Error_create("out of memory");
    if (D->ArgSize)
      memcpy(C->ArgData, D->ArgData, D->ArgSize);
    A->NumDealloc++;
  }
  return NULL;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_SharedMemoryService_initialize(
    orc_rt_SharedMemoryServiceRef M, orc_rt_ExecutorAddr Reservation,
    const orc_rt_SharedMemoryFinalizeRequest *Req, orc_rt_ExecutorAddr *Alloc) {
  orc_rt_ErrorRef Err = NULL;
  struct alloc *A = NULL;
  struct reservation *R;
  size_t Protected = 0, Completed = 0;
  bool Listed = false;

  *Alloc = 0;
  if (Req->NumSegments == 0)
    return orc_rt_Error_create("Initialize request for reservation 0x%" PRIx64 " has no segments",
                               Reservation);
  A = calloc(1, sizeof(*A));
  if (!A || !(A->Segs = calloc(Req->NumSegments, sizeof(*A->Segs))))
    goto oom;
  if ((Err = copy_dealloc_actions(Req, A)))
    goto fail;

  pthread_mutex_lock(&M->Lock);
  R = find_reservation(M, Reservation);
  if (!R || R->Releasing)
    Err = orc_rt_Error_create("No reservation found for 0x%" PRIx64, Reservation);
  else
    Err = check_request(M, R, Req, A->Segs, &A->NumSegs, &A->Base);
  if (!Err) {
    /* From here on others see the pages as taken, and leave them alone. */
    A->State = ALLOC_INITIALIZING;
    A->Next = R->Allocs;
    R->Allocs = A;
    Listed = true;
    /* The controller has opened the object by now: its content is in place. */
    unlink_name(R);
  }
  pthread_mutex_unlock(&M->Lock);
  if (Err)
    goto fail;

  if (orc_rt_Session_getLogLevel(M->S) >= orc_rt_LogLevel_Debug)
    for (size_t I = 0; I < Req->NumSegments; I++)
      orc_rt_Session_log(M->S, orc_rt_LogLevel_Debug,
                         "shared memory: initialize 0x%" PRIx64 ": segment 0x%" PRIx64
                         " size 0x%" PRIx64 " prot %#x; %zu action(s)",
                         A->Base, Req->Segments[I].Addr, Req->Segments[I].Size,
                         Req->Segments[I].Prot, Req->NumActions);

  for (; Protected < A->NumSegs; Protected++) {
    const struct segment *G = &A->Segs[Protected];
    if (mprotect(orcrt_ptr(G->PageStart), (size_t)(G->PageEnd - G->PageStart),
                 orcrt_to_mmap_prot(G->Prot)) != 0) {
      Err = orc_rt_Error_fromErrno(errno, "Could not protect segment 0x%" PRIx64 "%s", G->PageStart,
                                   errno == EPERM && (G->Prot & orc_rt_MemProt_Exec)
                                       ? " (is /dev/shm mounted noexec?)"
                                       : "");
      goto fail;
    }
    if (G->Prot & orc_rt_MemProt_Exec)
      __builtin___clear_cache(orcrt_ptr(G->PageStart), orcrt_ptr(G->PageEnd));
  }
  for (; Completed < Req->NumActions; Completed++) {
    const orc_rt_MemoryAction *F = &Req->Actions[Completed].Finalize;
    if ((Err = run_action(M, F->Fn, F->ArgData, F->ArgSize)))
      goto fail;
  }

  pthread_mutex_lock(&M->Lock);
  A->State = ALLOC_LIVE;
  pthread_mutex_unlock(&M->Lock);
  *Alloc = A->Base;
  return NULL;

oom:
  Err = orc_rt_Error_create("out of memory");
fail:
  /* As LLVM does: undo the finalize actions that completed, then the rest. */
  while (Completed > 0) {
    const orc_rt_MemoryAction *D = &Req->Actions[--Completed].Dealloc;
    Err = orc_rt_Error_join(Err, run_action(M, D->Fn, D->ArgData, D->ArgSize));
  }
  if (Listed) {
    pthread_mutex_lock(&M->Lock);
    /* The pages that may have been given a protection go back to read-only. */
    if (Protected < A->NumSegs)
      A->NumSegs = Protected + 1;
    A->State = ALLOC_GOING;
    pthread_mutex_unlock(&M->Lock);
    return orc_rt_Error_join(Err, drop_alloc(M, R, A));
  }
  free_alloc(A);
  return Err;
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
  A->State = ALLOC_GOING;
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
  R->Releasing = true;
  pthread_mutex_unlock(&M->Lock);
  return release_reservation(M, R);
}

/* ---- the wrapper functions ----------------------------------------------- */

/* The Service of S if Instance names it, else NULL. */
static orc_rt_SharedMemoryServiceRef instance(orc_rt_SessionRef S, orc_rt_ExecutorAddr Instance) {
  orc_rt_SharedMemoryServiceRef M = orc_rt_Session_findService(S, &orcrt_shm_service_ops);
  return M && orc_rt_ExecutorAddr_fromPtr(M) == Instance ? M : NULL;
}

static orc_rt_ErrorRef unknown_instance(orc_rt_ExecutorAddr Instance) {
  return orc_rt_Error_create("Unknown shared memory mapper instance 0x%" PRIx64, Instance);
}

/* (ExecutorAddr Instance, uint64 Size) -> Expected<(ExecutorAddr Base, String Name)> */
static void reserve_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                            orc_rt_WrapperFunctionReturn Return,
                            orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Instance = 0, Base = 0;
  uint64_t Size = 0;
  char *Name = NULL;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_addr(&R, &Instance);
  orc_rt_SPSReader_u64(&R, &Size);
  if (!orc_rt_SPSReader_ok(&R)) {
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
  } else {
    orc_rt_SharedMemoryServiceRef M = instance(S, Instance);
    orc_rt_ErrorRef Err =
        M ? orc_rt_SharedMemoryService_reserve(M, Size, &Base, &Name) : unknown_instance(Instance);
    orc_rt_SPSWriter_init(&W);
    if (Err) {
      orc_rt_SPSWriter_expectedError(&W, Err);
    } else {
      orc_rt_SPSWriter_expectedValue(&W);
      orc_rt_SPSWriter_addr(&W, Base);
      orc_rt_SPSWriter_string(&W, Name);
    }
    Result = orc_rt_SPSWriter_finish(&W);
    free(Name);
  }
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

/*
 * Decode a SharedMemoryFinalizeRequest: (Sequence<(uint8 Prot, ExecutorAddr
 * Addr, uint64 Size)>, Sequence<(WrapperFunctionCall, WrapperFunctionCall)>).
 * The arrays go to the caller; the actions' bytes point into R's span.
 */
static bool read_request(orc_rt_SPSReader *R, orc_rt_SharedMemoryFinalizeRequest *Req,
                         orc_rt_SharedMemorySegment **Segs, orc_rt_MemoryActionPair **Acts) {
  uint64_t N = 0;
  *Segs = NULL;
  *Acts = NULL;
  /* A segment takes 17 bytes: the count is bounded by the input. */
  if (!orc_rt_SPSReader_seqCount(R, 17, &N))
    return false;
  if (N && !(*Segs = calloc((size_t)N, sizeof(**Segs))))
    return false;
  Req->Segments = *Segs;
  Req->NumSegments = (size_t)N;
  for (size_t I = 0; I < Req->NumSegments; I++) {
    orc_rt_SharedMemorySegment *G = &(*Segs)[I];
    orc_rt_SPSReader_u8(R, &G->Prot);
    orc_rt_SPSReader_addr(R, &G->Addr);
    orc_rt_SPSReader_u64(R, &G->Size);
  }
  if (!orcrt_read_action_pairs(R, Acts, &Req->NumActions))
    return false;
  Req->Actions = *Acts;
  return true;
}

/* (ExecutorAddr Instance, ExecutorAddr Reservation, SharedMemoryFinalizeRequest)
   -> Expected<ExecutorAddr> */
static void initialize_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                               orc_rt_WrapperFunctionReturn Return,
                               orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Instance = 0, Reservation = 0, Alloc = 0;
  orc_rt_SharedMemoryFinalizeRequest Req = {0};
  orc_rt_SharedMemorySegment *Segs = NULL;
  orc_rt_MemoryActionPair *Acts = NULL;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_addr(&R, &Instance);
  orc_rt_SPSReader_addr(&R, &Reservation);
  if (!orc_rt_SPSReader_ok(&R) || !read_request(&R, &Req, &Segs, &Acts)) {
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
  } else {
    orc_rt_SharedMemoryServiceRef M = instance(S, Instance);
    orc_rt_ErrorRef Err = M ? orc_rt_SharedMemoryService_initialize(M, Reservation, &Req, &Alloc)
                            : unknown_instance(Instance);
    orc_rt_SPSWriter_init(&W);
    if (Err) {
      orc_rt_SPSWriter_expectedError(&W, Err);
    } else {
      orc_rt_SPSWriter_expectedValue(&W);
      orc_rt_SPSWriter_addr(&W, Alloc);
    }
    Result = orc_rt_SPSWriter_finish(&W);
  }
  free(Segs);
  free(Acts);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

/*
 * (ExecutorAddr Instance, Sequence<ExecutorAddr>) -> SPSError, applying Op
 * to each address, the last first (as LLVM deinitializes); errors joined.
 */
static void
addresses_wrapper(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                  orc_rt_WrapperFunctionBuffer Args,
                  orc_rt_ErrorRef (*Op)(orc_rt_SharedMemoryServiceRef, orc_rt_ExecutorAddr)) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Instance = 0;
  orc_rt_ExecutorAddr *Addrs = NULL;
  uint64_t N = 0;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_addr(&R, &Instance);
  /* The count is checked against the bytes left, so it bounds the array. */
  if (orc_rt_SPSReader_seqCount(&R, 8, &N) && N)
    Addrs = calloc((size_t)N, sizeof(*Addrs));
  for (uint64_t I = 0; Addrs && I < N; I++)
    orc_rt_SPSReader_addr(&R, &Addrs[I]);
  if (!orc_rt_SPSReader_ok(&R) || (N && !Addrs)) {
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
  } else {
    orc_rt_SharedMemoryServiceRef M = instance(S, Instance);
    orc_rt_ErrorRef Err = M ? NULL : unknown_instance(Instance);
    for (uint64_t I = N; M && I-- > 0;)
      Err = orc_rt_Error_join(Err, Op(M, Addrs[I]));
    orc_rt_SPSWriter_init(&W);
    orc_rt_SPSWriter_error(&W, Err);
    Result = orc_rt_SPSWriter_finish(&W);
  }
  free(Addrs);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

static void deinitialize_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                                 orc_rt_WrapperFunctionReturn Return,
                                 orc_rt_WrapperFunctionBuffer Args) {
  addresses_wrapper(S, CallId, Return, Args, orc_rt_SharedMemoryService_deinitialize);
}

static void release_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                            orc_rt_WrapperFunctionReturn Return,
                            orc_rt_WrapperFunctionBuffer Args) {
  addresses_wrapper(S, CallId, Return, Args, orc_rt_SharedMemoryService_release);
}

/* ---- the Service ---------------------------------------------------------- */

static void shm_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DoneCtx) {
  orc_rt_SharedMemoryServiceRef M = Ctx;
  for (;;) {
    pthread_mutex_lock(&M->Lock);
    struct reservation *R = M->Last;
    while (R && R->Releasing)
      R = R->Prev;
    if (R) {
      R->Releasing = true;
      /* No call runs at shutdown: whatever is half done is taken as live. */
      for (struct alloc *A = R->Allocs; A; A = A->Next)
        A->State = ALLOC_LIVE;
    }
    pthread_mutex_unlock(&M->Lock);
    if (!R)
      break;
    orc_rt_Session_reportError(S, release_reservation(M, R));
  }
  if (Done)
    Done(DoneCtx);
}

static void shm_destroy(void *Ctx) {
  orc_rt_SharedMemoryServiceRef M = Ctx;
  pthread_mutex_lock(&LiveLock);
  LIST_REMOVE(M, Live);
  pthread_mutex_unlock(&LiveLock);
  pthread_mutex_destroy(&M->Lock);
  free(M);
}

const orc_rt_ServiceOps orcrt_shm_service_ops = {
    .Name = "shared memory",
    .Shutdown = shm_shutdown,
    .Destroy = shm_destroy,
};

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_SharedMemoryService_add(orc_rt_SessionRef S,
                                                             orc_rt_SharedMemoryServiceRef *Out) {
  static const struct {
    const char *Name;
    orc_rt_WrapperFunction Fn;
  } Wrappers[] = {
      {"__llvm_orc_ExecutorSharedMemoryMapperService_Reserve", reserve_wrapper},
      {"__llvm_orc_ExecutorSharedMemoryMapperService_Initialize", initialize_wrapper},
      {"__llvm_orc_ExecutorSharedMemoryMapperService_Deinitialize", deinitialize_wrapper},
      {"__llvm_orc_ExecutorSharedMemoryMapperService_Release", release_wrapper},
  };
  orc_rt_ErrorRef Err;

  if (orc_rt_Session_findService(S, &orcrt_shm_service_ops))
    return orc_rt_Error_create("the Session already has a shared-memory Service");
  orc_rt_SharedMemoryServiceRef M = calloc(1, sizeof(*M));
  if (!M)
    return orc_rt_Error_create("out of memory");
  M->S = S;
  long Page = sysconf(_SC_PAGESIZE);
  M->PageSize = Page > 0 ? (uint64_t)Page : 4096;
  pthread_mutex_init(&M->Lock, NULL);

  Err = orc_rt_Session_addService(S, &orcrt_shm_service_ops, M);
  if (Err) {
    pthread_mutex_destroy(&M->Lock);
    free(M);
    return Err;
  }
  /* S owns M from here on. */
  pthread_mutex_lock(&LiveLock);
  LIST_INSERT_HEAD(&LiveServices, M, Live);
  pthread_mutex_unlock(&LiveLock);

  Err = orc_rt_Session_addBootstrapSymbol(
      S, "__llvm_orc_ExecutorSharedMemoryMapperService_Instance", orc_rt_ExecutorAddr_fromPtr(M));
  for (size_t I = 0; !Err && I < ORCRT_ARRAY_SIZE(Wrappers); I++)
    Err = orc_rt_Session_addWrapperFunction(S, Wrappers[I].Name, Wrappers[I].Fn);
  if (Err)
    return Err;
  *Out = M;
  return NULL;
}

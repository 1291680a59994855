/*
 * memory.c - JIT memory: LLVM 19's SimpleExecutorMemoryManager in C
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <unistd.h>

#include <orcrt/memory.h>
#include <orcrt/session.h>
#include <orcrt/sps.h>

#include "memory-internal.h"
#include "shared-memory-internal.h"
#include "session-internal.h"

/* A segment given its protection by finalize. */
struct segment {
  uint64_t PageStart; /* its pages: where the protection applies */
  uint64_t PageEnd;
  uint8_t Prot;
};

/* A deallocation action kept until the allocation goes. */
struct action {
  orc_rt_ExecutorAddr Fn;
  char *ArgData;
  size_t ArgSize;
};

enum alloc_state {
  ALLOC_RESERVED,
  ALLOC_FINALIZING,
  ALLOC_FINALIZED,
  ALLOC_RELEASING,
};

struct alloc {
  struct alloc *Prev, *Next; /* in order of reservation */
  uint64_t Base;
  uint64_t Size; /* whole pages */
  int Fd;        /* the memfd behind it until finalize, or -1 */
  bool Written;  /* written through the memfd before finalize */
  bool MemFD;    /* a memfd backs it (its view outside segments stays read-only) */
  enum alloc_state State;
  struct segment *Segs;
  size_t NumSegs;
  struct action *Dealloc;
  size_t NumDealloc;
};

struct orc_rt_OpaqueMemoryService {
  orc_rt_SessionRef S;
  orc_rt_MemoryStrategy Strategy;
  uint64_t PageSize;
  pthread_mutex_t Lock; /* guards the list and every alloc's State/Segs/Dealloc */
  struct alloc *First, *Last;
  size_t NumFds;                               /* memfds held open by reserved allocations */
  LIST_ENTRY(orc_rt_OpaqueMemoryService) Live; /* in LiveServices */
};

/*
 * Every memory Service of the process. The synchronous LLVM entry points
 * (EH frames, GDB) get no context, yet must check that the ranges they are
 * handed are JIT memory; the address space they check is the process's.
 */
static pthread_mutex_t LiveLock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, orc_rt_OpaqueMemoryService) LiveServices = LIST_HEAD_INITIALIZER(LiveServices);

static const char DeserializeError[] = "Could not deserialize arguments for wrapper function call";

/* ---- helpers ------------------------------------------------------------ */

/* Round A up to a page boundary; false if that overflows. */
static bool align_up(uint64_t A, uint64_t Page, uint64_t *Out) {
  if (A > UINT64_MAX - (Page - 1))
    return false;
  *Out = (A + Page - 1) & ~(Page - 1);
  return true;
}

/* The allocation with base Base. Lock held. */
static struct alloc *find_by_base(orc_rt_MemoryServiceRef M, uint64_t Base) {
  for (struct alloc *A = M->First; A; A = A->Next)
    if (A->Base == Base)
      return A;
  return NULL;
}

/* The allocation holding the Size bytes at Addr. Lock held. */
static struct alloc *find_containing(orc_rt_MemoryServiceRef M, uint64_t Addr, uint64_t Size) {
  for (struct alloc *A = M->First; A; A = A->Next) {
    orc_rt_ExecutorAddrRange R = {A->Base, A->Base + A->Size};
    if (orc_rt_ExecutorAddrRange_containsSpan(R, Addr, Size))
      return A;
  }
  return NULL;
}

/*
 * Whether the pages under the Size (> 0) bytes at Addr all carry Bit: some
 * finalized segment's pages cover the span, and every segment whose pages
 * touch it has Bit (where segments share a page, the conservative answer).
 */
static bool span_has_prot(const struct alloc *A, uint64_t Addr, uint64_t Size, uint8_t Bit) {
  bool Covered = false;
  uint64_t End = Addr + Size;
  for (size_t I = 0; I < A->NumSegs; I++) {
    const struct segment *G = &A->Segs[I];
    if (G->PageEnd <= Addr || G->PageStart >= End)
      continue;
    if (!(G->Prot & Bit))
      return false;
    if (G->PageStart <= Addr && End <= G->PageEnd)
      Covered = true;
  }
  return Covered;
}

/* Whether any finalized segment's pages touch the Size (> 0) bytes at Addr. */
static bool span_touches_segment(const struct alloc *A, uint64_t Addr, uint64_t Size) {
  uint64_t End = Addr + Size;
  for (size_t I = 0; I < A->NumSegs; I++)
    if (A->Segs[I].PageEnd > Addr && A->Segs[I].PageStart < End)
      return true;
  return false;
}

/* ---- loaded objects ------------------------------------------------------ */

struct phdr_query {
  uint64_t Addr;
  uint64_t Size;
  uint32_t Flag;
  bool Found;
};

static int phdr_callback(struct dl_phdr_info *Info, size_t InfoSize, void *Ctx) {
  struct phdr_query *Q = Ctx;
  (void)InfoSize;
  for (size_t I = 0; I < Info->dlpi_phnum; I++) {
    const ElfW(Phdr) *P = &Info->dlpi_phdr[I];
    if (P->p_type != PT_LOAD || !(P->p_flags & Q->Flag))
      continue;
    uint64_t Start = (uint64_t)Info->dlpi_addr + P->p_vaddr;
    orc_rt_ExecutorAddrRange R = {Start, Start + P->p_memsz};
    if (R.End >= R.Start && orc_rt_ExecutorAddrRange_containsSpan(R, Q->Addr, Q->Size)) {
      Q->Found = true;
      return 1;
    }
  }
  return 0;
}

static bool in_loaded_object(uint64_t Addr, uint64_t Size, uint32_t Flag) {
  struct phdr_query Q = {Addr, Size, Flag, false};
  dl_iterate_phdr(phdr_callback, &Q);
  return Q.Found;
}

bool orcrt_is_loaded_code(orc_rt_ExecutorAddr Addr) {
  return Addr != 0 && in_loaded_object(Addr, 1, PF_X);
}

/* ---- queries across the process ------------------------------------------ */

bool orcrt_is_readable(orc_rt_ExecutorAddr Addr, uint64_t Size) {
  if (Size == 0 || Addr > UINT64_MAX - Size)
    return false;
  bool InJIT = false, Readable = false;
  pthread_mutex_lock(&LiveLock);
  for (orc_rt_MemoryServiceRef M = LIST_FIRST(&LiveServices); M && !InJIT; M = LIST_NEXT(M, Live)) {
    pthread_mutex_lock(&M->Lock);
    struct alloc *A = find_containing(M, Addr, Size);
    if (A) {
      InJIT = true;
      Readable = (A->State == ALLOC_FINALIZING || A->State == ALLOC_FINALIZED) &&
                 span_has_prot(A, Addr, Size, orc_rt_MemProt_Read);
    }
    pthread_mutex_unlock(&M->Lock);
  }
  pthread_mutex_unlock(&LiveLock);
  if (InJIT)
    return Readable;
  /* JIT memory the controller writes itself (llvm-jitlink -use-shared-memory). */
  bool InShm = false;
  Readable = orcrt_shm_is_readable(Addr, Size, &InShm);
  if (InShm)
    return Readable;
  return in_loaded_object(Addr, Size, PF_R);
}

bool orcrt_memory_is_jit_memory(orc_rt_ExecutorAddr Addr, uint64_t Size) {
  bool Found = false;
  pthread_mutex_lock(&LiveLock);
  for (orc_rt_MemoryServiceRef M = LIST_FIRST(&LiveServices); M && !Found; M = LIST_NEXT(M, Live)) {
    pthread_mutex_lock(&M->Lock);
    struct alloc *A = find_containing(M, Addr, Size);
    Found = A && A->State != ALLOC_RELEASING;
    pthread_mutex_unlock(&M->Lock);
  }
  pthread_mutex_unlock(&LiveLock);
  return Found || orcrt_shm_is_jit_memory(Addr, Size);
}

ORC_RT_EXPORT bool orc_rt_MemoryService_isExecutable(orc_rt_MemoryServiceRef M,
                                                     orc_rt_ExecutorAddr Addr) {
  bool Exec = false;
  pthread_mutex_lock(&M->Lock);
  struct alloc *A = find_containing(M, Addr, 1);
  /* Code stays callable while its deallocation actions run. */
  if (A && A->State != ALLOC_RESERVED)
    Exec = span_has_prot(A, Addr, 1, orc_rt_MemProt_Exec);
  pthread_mutex_unlock(&M->Lock);
  return Exec;
}

bool orcrt_memory_is_call_target(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Addr) {
  if (M && orc_rt_MemoryService_isExecutable(M, Addr))
    return true;
  return orcrt_is_loaded_code(Addr);
}

/* ---- actions ------------------------------------------------------------- */

/* The error an SPSError's message stands for. */
static orc_rt_ErrorRef error_from_message(const char *Msg, size_t Size) {
  char *Copy = strndup(Msg, Size);
  if (!Copy)
    return orc_rt_Error_create("out of memory");
  orc_rt_ErrorRef E = orc_rt_Error_create("%s", Copy);
  free(Copy);
  return E;
}

orc_rt_ErrorRef orcrt_run_action(orc_rt_MemoryServiceRef Mem, orc_rt_SharedMemoryServiceRef Shm,
                                 orc_rt_ExecutorAddr Fn, const char *ArgData, size_t ArgSize) {
  if (Fn == 0)
    return NULL;
  if (!(Shm && orc_rt_SharedMemoryService_isExecutable(Shm, Fn)) &&
      !orcrt_memory_is_call_target(Mem, Fn))
    return orc_rt_Error_create("Allocation action 0x%" PRIx64 " is not in executable memory", Fn);
  orc_rt_WrapperFunctionBuffer R = orc_rt_WrapperFunctionBuffer_callSync(Fn, ArgData, ArgSize);
  orc_rt_ErrorRef E = NULL;
  const char *OOB = orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R);
  if (OOB) {
    E = orc_rt_Error_create("%s", OOB);
  } else {
    orc_rt_SPSReader Rd;
    bool IsFailure = false;
    const char *Msg = NULL;
    size_t MsgSize = 0;
    orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(&R), R.Size);
    if (!orc_rt_SPSReader_error(&Rd, &IsFailure, &Msg, &MsgSize))
      E = orc_rt_Error_create("Could not deserialize the result of allocation action 0x%" PRIx64,
                              Fn);
    else if (IsFailure)
      E = error_from_message(Msg, MsgSize);
  }
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return E;
}

static orc_rt_ErrorRef run_action(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Fn,
                                  const char *ArgData, size_t ArgSize) {
  return orcrt_run_action(M, NULL, Fn, ArgData, ArgSize);
}

/* Run A's deallocation actions, last first; join their errors. A is RELEASING. */
static orc_rt_ErrorRef run_dealloc_actions(orc_rt_MemoryServiceRef M, struct alloc *A) {
  orc_rt_ErrorRef Err = NULL;
  for (size_t I = A->NumDealloc; I-- > 0;)
    Err = orc_rt_Error_join(
        Err, run_action(M, A->Dealloc[I].Fn, A->Dealloc[I].ArgData, A->Dealloc[I].ArgSize));
  return Err;
}

static void free_alloc(struct alloc *A) {
  for (size_t I = 0; I < A->NumDealloc; I++)
    free(A->Dealloc[I].ArgData);
  free(A->Dealloc);
  free(A->Segs);
  free(A);
}

/*
 * Drop the unwind and debugger registrations still inside A (RELEASING):
 * the unwinder and the debugger would otherwise read unmapped memory.
 */
static void purge_registrations(orc_rt_MemoryServiceRef M, struct alloc *A) {
  size_t NumEH = orcrt_eh_frame_purge(A->Base, A->Base + A->Size);
  size_t NumGDB = orcrt_gdb_jit_purge(A->Base, A->Base + A->Size);
  /* The controller should have deregistered EH frames; debug objects have no deregistration. */
  if (NumEH)
    orc_rt_Session_log(M->S, orc_rt_LogLevel_Warning,
                       "deallocating 0x%" PRIx64
                       ": deregistered %zu EH frame section(s) left in it",
                       A->Base, NumEH);
  if (NumGDB)
    orc_rt_Session_log(M->S, orc_rt_LogLevel_Debug,
                       "deallocating 0x%" PRIx64 ": removed %zu debug object(s) from the debugger",
                       A->Base, NumGDB);
}

/* Unmap A's memory and free A (no longer listed, or its Service going). */
static void unmap_alloc(struct alloc *A) {
  munmap((void *)(uintptr_t)A->Base, (size_t)A->Size);
  if (A->Fd >= 0)
    close(A->Fd);
  free_alloc(A);
}

/* Forget and unmap A (RELEASING, its actions done), registrations first. */
static void release_alloc(orc_rt_MemoryServiceRef M, struct alloc *A) {
  purge_registrations(M, A);
  pthread_mutex_lock(&M->Lock);
  if (A->Fd >= 0)
    M->NumFds--;
  if (A->Prev)
    A->Prev->Next = A->Next;
  else
    M->First = A->Next;
  if (A->Next)
    A->Next->Prev = A->Prev;
  else
    M->Last = A->Prev;
  pthread_mutex_unlock(&M->Lock);
  unmap_alloc(A);
}

/* ---- reserve / finalize / deallocate ------------------------------------- */

ORC_RT_EXPORT orc_rt_MemoryStrategy orc_rt_MemoryService_getStrategy(orc_rt_MemoryServiceRef M) {
  return M->Strategy;
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
  A->Fd = Fd;
  A->MemFD = Fd >= 0;
  A->State = ALLOC_RESERVED;
  pthread_mutex_lock(&M->Lock);
  if (Fd >= 0)
    M->NumFds++;
  A->Prev = M->Last;
  if (M->Last)
    M->Last->Next = A;
  else
    M->First = A;
  M->Last = A;
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

/* Check every segment of Req against A before anything is touched. */
static orc_rt_ErrorRef check_segments(const struct alloc *A,
                                      const orc_rt_MemoryFinalizeRequest *Req) {
  uint64_t AllocEnd = A->Base + A->Size;
  for (size_t I = 0; I < Req->NumSegments; I++) {
    const orc_rt_MemorySegment *G = &Req->Segments[I];
    if (G->ContentSize > G->Size)
      return orc_rt_Error_create("Segment 0x%" PRIx64 " content size (0x%zx bytes) exceeds "
                                 "segment size (0x%" PRIx64 " bytes)",
                                 G->Addr, G->ContentSize, G->Size);
    if (G->Addr > UINT64_MAX - G->Size || G->Addr < A->Base || G->Addr + G->Size > AllocEnd) {
      if (G->Addr > UINT64_MAX - G->Size)
        return orc_rt_Error_create("Segment 0x%" PRIx64 " size 0x%" PRIx64
                                   " overflows the address space",
                                   G->Addr, G->Size);
      return orc_rt_Error_create("Segment 0x%" PRIx64 " -- 0x%" PRIx64 " crosses boundary of "
                                 "allocation 0x%" PRIx64 " -- 0x%" PRIx64,
                                 G->Addr, G->Addr + G->Size, A->Base, AllocEnd);
    }
    if ((G->Prot & orc_rt_MemProt_Write) && (G->Prot & orc_rt_MemProt_Exec))
      return orc_rt_Error_create("Segment 0x%" PRIx64 " asks to be writable and executable",
                                 G->Addr);
  }
  return NULL;
}

/*
 * Copy the content of every segment and zero-fill the rest. Nothing has
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
      const char *P = G->Content;
      size_t Left = G->Size ? G->ContentSize : 0;
      off_t Off = (off_t)(G->Addr - A->Base);
      while (Left) {
        ssize_t N = pwrite(A->Fd, P, Left, Off);
        if (N < 0 && errno == EINTR)
          continue;
        if (N <= 0)
          return orc_rt_Error_fromErrno(N < 0 ? errno : EIO, "Could not write segment 0x%" PRIx64,
                                        G->Addr);
        P += N;
        Left -= (size_t)N;
        Off += N;
      }
    }
    return NULL;
  }

  for (size_t I = 0; I < Req->NumSegments; I++) {
    const orc_rt_MemorySegment *G = &Req->Segments[I];
    if (G->Size == 0)
      continue;
    uint64_t PS = orcrt_align_down(G->Addr, M->PageSize),
             PE = orcrt_page_end(G->Addr + G->Size, M->PageSize);
    SpanStart = PS < SpanStart ? PS : SpanStart;
    SpanEnd = PE > SpanEnd ? PE : SpanEnd;
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
    if (G->ContentSize)
      memcpy(Dst, G->Content, G->ContentSize);
    memset(Dst + G->ContentSize, 0, (size_t)(G->Size - G->ContentSize));
  }
  if (A->Fd >= 0)
    munmap(View, (size_t)(SpanEnd - SpanStart));
  return NULL;
}

/* Give every segment its protection; fill *Segs with what was applied. */
static orc_rt_ErrorRef protect_segments(orc_rt_MemoryServiceRef M,
                                        const orc_rt_MemoryFinalizeRequest *Req,
                                        struct segment *Segs, size_t *NumSegs) {
  *NumSegs = 0;
  for (size_t I = 0; I < Req->NumSegments; I++) {
    const orc_rt_MemorySegment *G = &Req->Segments[I];
    if (G->Size == 0)
      continue;
    struct segment *S = &Segs[(*NumSegs)++];
    S->PageStart = orcrt_align_down(G->Addr, M->PageSize);
    S->PageEnd = orcrt_page_end(G->Addr + G->Size, M->PageSize);
    S->Prot = G->Prot & (orc_rt_MemProt_Read | orc_rt_MemProt_Write | orc_rt_MemProt_Exec);
    if (mprotect((void *)(uintptr_t)S->PageStart, (size_t)(S->PageEnd - S->PageStart),
                 orcrt_to_mmap_prot(S->Prot)) != 0)
      return orc_rt_Error_fromErrno(errno, "Could not protect segment 0x%" PRIx64, G->Addr);
    /* x86 keeps instruction caches coherent; elsewhere this would flush them. */
    if (S->Prot & orc_rt_MemProt_Exec)
      __builtin___clear_cache((char *)(uintptr_t)G->Addr, (char *)(uintptr_t)(G->Addr + G->Size));
  }
  return NULL;
}

/* Copies of the non-null deallocation actions of Req. */
static orc_rt_ErrorRef copy_dealloc_actions(const orc_rt_MemoryFinalizeRequest *Req,
                                            struct action **Out, size_t *NumOut) {
  size_t N = 0;
  *Out = NULL;
  *NumOut = 0;
  for (size_t I = 0; I < Req->NumActions; I++)
    if (Req->Actions[I].Dealloc.Fn)
      N++;
  if (N == 0)
    return NULL;
  /* The argument bytes come from the request itself, so their sizes are real. */
  struct action *Acts = calloc(N, sizeof(*Acts));
  if (!Acts)
    return orc_rt_Error_create("out of memory");
  size_t J = 0;
  for (size_t I = 0; I < Req->NumActions; I++) {
    const orc_rt_MemoryAction *D = &Req->Actions[I].Dealloc;
    if (!D->Fn)
      continue;
    Acts[J].Fn = D->Fn;
    Acts[J].ArgSize = D->ArgSize;
    Acts[J].ArgData = malloc(D->ArgSize ? D->ArgSize : 1);
    if (!Acts[J].ArgData)
      goto fail;
    if (D->ArgSize)
      memcpy(Acts[J].ArgData, D->ArgData, D->ArgSize);
    J++;
  }
  *Out = Acts;
  *NumOut = N;
  return NULL;

fail:
  for (size_t K = 0; K < J; K++)
    free(Acts[K].ArgData);
  free(Acts);
  return orc_rt_Error_create("out of memory");
}

ORC_RT_EXPORT orc_rt_ErrorRef
orc_rt_MemoryService_finalize(orc_rt_MemoryServiceRef M, const orc_rt_MemoryFinalizeRequest *Req) {
  orc_rt_ErrorRef Err = NULL;
  struct segment *Segs = NULL;
  size_t NumSegs = 0, Completed = 0;
  struct action *Dealloc = NULL;
  size_t NumDealloc = 0;
  struct alloc *A;

  if (Req->NumSegments == 0) {
    if (Req->NumActions)
      return orc_rt_Error_create("Finalization actions attached to empty finalization request");
    return NULL;
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

  pthread_mutex_lock(&M->Lock);
  A = find_by_base(M, Base);
  if (!A || A->State == ALLOC_RELEASING) {
    pthread_mutex_unlock(&M->Lock);
    return orc_rt_Error_create("Attempt to finalize unrecognized allocation 0x%" PRIx64, Base);
  }
  if (A->State != ALLOC_RESERVED) {
    enum alloc_state State = A->State;
    pthread_mutex_unlock(&M->Lock);
    return orc_rt_Error_create("Allocation 0x%" PRIx64 " is %s", Base,
                               State == ALLOC_FINALIZING ? "being finalized" : "already finalized");
  }
  /* From here on only this call touches A's memory; others see FINALIZING. */
  A->State = ALLOC_FINALIZING;
  pthread_mutex_unlock(&M->Lock);

  if (orc_rt_Session_getLogLevel(M->S) >= orc_rt_LogLevel_Debug)
    for (size_t I = 0; I < Req->NumSegments; I++)
      orc_rt_Session_log(M->S, orc_rt_LogLevel_Debug,
                         "finalize 0x%" PRIx64 ": segment 0x%" PRIx64 " size 0x%" PRIx64
                         " content 0x%zx prot %#x; %zu action(s)",
                         Base, Req->Segments[I].Addr, Req->Segments[I].Size,
                         Req->Segments[I].ContentSize, Req->Segments[I].Prot, Req->NumActions);

  Err = check_segments(A, Req);
  if (Err)
    goto fail;
  Segs = calloc(Req->NumSegments, sizeof(*Segs));
  if (!Segs) {
    Err = orc_rt_Error_create("out of memory");
    goto fail;
  }
  Err = copy_dealloc_actions(Req, &Dealloc, &NumDealloc);
  if (Err)
    goto fail;
  Err = copy_segments(M, A, Req);
  if (Err)
    goto fail;
  Err = protect_segments(M, Req, Segs, &NumSegs);

  /*
   * Publish the segments even after a failed mprotect: they describe what
   * may have been applied, and the allocation is released below anyway.
   * Finalize actions may call code in this very allocation.
   */
  pthread_mutex_lock(&M->Lock);
  A->Segs = Segs;
  A->NumSegs = NumSegs;
  /* Nothing writes through the memfd once its content is in: its descriptor goes. */
  int Fd = A->Fd;
  A->Fd = -1;
  if (Fd >= 0)
    M->NumFds--;
  pthread_mutex_unlock(&M->Lock);
  if (Fd >= 0)
    close(Fd);
  Segs = NULL;
  if (Err)
    goto fail;

  for (; Completed < Req->NumActions; Completed++) {
    const orc_rt_MemoryAction *F = &Req->Actions[Completed].Finalize;
    Err = run_action(M, F->Fn, F->ArgData, F->ArgSize);
    if (Err)
      goto fail;
  }

  pthread_mutex_lock(&M->Lock);
  A->Dealloc = Dealloc;
  A->NumDealloc = NumDealloc;
  A->State = ALLOC_FINALIZED;
  pthread_mutex_unlock(&M->Lock);
  return NULL;

fail:
  /* As LLVM does: undo the completed finalize actions and release the memory. */
  pthread_mutex_lock(&M->Lock);
  A->State = ALLOC_RELEASING;
  pthread_mutex_unlock(&M->Lock);
  while (Completed > 0) {
    const orc_rt_MemoryAction *D = &Req->Actions[--Completed].Dealloc;
    Err = orc_rt_Error_join(Err, run_action(M, D->Fn, D->ArgData, D->ArgSize));
  }
  for (size_t I = 0; I < NumDealloc; I++)
    free(Dealloc[I].ArgData);
  free(Dealloc);
  free(Segs);
  release_alloc(M, A);
  return Err;
}

/*
 * Take the allocation at Base for deallocation (RELEASING) into *Out; an
 * error if there is none. Base 0 (what reserve(0) hands out) gives NULL.
 */
static orc_rt_ErrorRef claim_alloc(orc_rt_MemoryServiceRef M, orc_rt_ExecutorAddr Base,
                                   struct alloc **Out) {
  *Out = NULL;
  if (Base == 0)
    return NULL;
  pthread_mutex_lock(&M->Lock);
  struct alloc *A = find_by_base(M, Base);
  if (!A || A->State == ALLOC_RELEASING) {
    pthread_mutex_unlock(&M->Lock);
    return orc_rt_Error_create("No allocation entry found for 0x%" PRIx64, Base);
  }
  if (A->State == ALLOC_FINALIZING) {
    pthread_mutex_unlock(&M->Lock);
    return orc_rt_Error_create("Allocation 0x%" PRIx64 " is being finalized", Base);
  }
  A->State = ALLOC_RELEASING;
  pthread_mutex_unlock(&M->Lock);
  *Out = A;
  return NULL;
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

ORC_RT_EXPORT size_t orc_rt_MemoryService_releaseAbandoned(orc_rt_MemoryServiceRef M) {
  size_t N = 0;
  for (;;) {
    pthread_mutex_lock(&M->Lock);
    struct alloc *A = M->Last;
    while (A && A->State != ALLOC_RESERVED && A->State != ALLOC_FINALIZED)
      A = A->Prev;
    if (A)
      A->State = ALLOC_RELEASING;
    pthread_mutex_unlock(&M->Lock);
    if (!A)
      break;
    /* Listed and mapped as RELEASING: shutdown skips it, destroy unmaps it. */
    orc_rt_ErrorRef Err = run_dealloc_actions(M, A);
    if (Err)
      orc_rt_Session_reportError(M->S, Err);
    N++;
  }
  return N;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_MemoryService_write(orc_rt_MemoryServiceRef M,
                                                         orc_rt_ExecutorAddr Addr, const void *Data,
                                                         size_t Size) {
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&M->Lock);
  /* An empty write still has to name JIT memory. */
  struct alloc *A = find_containing(M, Addr, Size ? Size : 1);
  if (!A) {
    Err = orc_rt_Error_create("Cannot write %zu byte(s) at 0x%" PRIx64 ": not in JIT memory", Size,
                              Addr);
  } else if (A->State != ALLOC_RESERVED && A->State != ALLOC_FINALIZED) {
    Err = orc_rt_Error_create("Cannot write at 0x%" PRIx64 ": allocation 0x%" PRIx64
                              " is being finalized or deallocated",
                              Addr, A->Base);
  } else if (Size && span_touches_segment(A, Addr, Size)) {
    /* Finalized: only writable segments, and through the view JIT'd code sees. */
    if (span_has_prot(A, Addr, Size, orc_rt_MemProt_Write))
      memcpy((void *)(uintptr_t)Addr, Data, Size);
    else
      Err = orc_rt_Error_create("Cannot write %zu byte(s) at 0x%" PRIx64 ": memory is not writable",
                                Size, Addr);
  } else if (Size && A->Fd >= 0) {
    /* Not finalized: the view is read-only (so never copied on write); the memfd is not. */
    A->Written = true;
    const char *P = Data;
    size_t Left = Size;
    off_t Off = (off_t)(Addr - A->Base);
    while (Left) {
      ssize_t N = pwrite(A->Fd, P, Left, Off);
      if (N < 0 && errno == EINTR)
        continue;
      if (N <= 0) {
        Err = orc_rt_Error_fromErrno(N < 0 ? errno : EIO, "Cannot write at 0x%" PRIx64, Addr);
        break;
      }
      P += N;
      Left -= (size_t)N;
      Off += N;
    }
  } else if (Size && A->MemFD) {
    /* Finalized, outside every segment: the view is read-only and the memfd closed. */
    Err = orc_rt_Error_create("Cannot write %zu byte(s) at 0x%" PRIx64 ": memory is not writable",
                              Size, Addr);
  } else if (Size) {
    memcpy((void *)(uintptr_t)Addr, Data, Size);
  }
  /* Written under the lock, so that a deallocation cannot unmap the memory meanwhile. */
  pthread_mutex_unlock(&M->Lock);
  return Err;
}

/* ---- the wrapper functions ----------------------------------------------- */

/* The memory Service of S if Instance names it, else NULL. */
static orc_rt_MemoryServiceRef instance(orc_rt_SessionRef S, orc_rt_ExecutorAddr Instance) {
  orc_rt_MemoryServiceRef M = orc_rt_Session_findService(S, &orcrt_memory_service_ops);
  return M && orc_rt_ExecutorAddr_fromPtr(M) == Instance ? M : NULL;
}

static orc_rt_ErrorRef unknown_instance(orc_rt_ExecutorAddr Instance) {
  return orc_rt_Error_create("Unknown memory manager instance 0x%" PRIx64, Instance);
}

/* (ExecutorAddr Instance, uint64 Size) -> Expected<ExecutorAddr> */
static void reserve_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                            orc_rt_WrapperFunctionReturn Return,
                            orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Instance = 0, Base = 0;
  uint64_t Size = 0;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_addr(&R, &Instance);
  orc_rt_SPSReader_u64(&R, &Size);
  if (!orc_rt_SPSReader_ok(&R)) {
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
  } else {
    orc_rt_MemoryServiceRef M = instance(S, Instance);
    orc_rt_ErrorRef Err =
        M ? orc_rt_MemoryService_reserve(M, Size, &Base) : unknown_instance(Instance);
    orc_rt_SPSWriter_init(&W);
    if (Err) {
      orc_rt_SPSWriter_expectedError(&W, Err);
    } else {
      orc_rt_SPSWriter_expectedValue(&W);
      orc_rt_SPSWriter_addr(&W, Base);
    }
    Result = orc_rt_SPSWriter_finish(&W);
  }
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

/* A WrapperFunctionCall: (ExecutorAddr Fn, Sequence<char> Args). */
static void read_call(orc_rt_SPSReader *R, orc_rt_MemoryAction *A) {
  orc_rt_SPSReader_addr(R, &A->Fn);
  orc_rt_SPSReader_bytes(R, &A->ArgData, &A->ArgSize);
}

bool orcrt_read_action_pairs(orc_rt_SPSReader *R, orc_rt_MemoryActionPair **Acts, size_t *NumActs) {
  uint64_t N = 0;
  *Acts = NULL;
  *NumActs = 0;
  /* An action pair takes at least 32 bytes: the count is bounded by the input. */
  if (!orc_rt_SPSReader_seqCount(R, 32, &N))
    return false;
  if (N && !(*Acts = calloc((size_t)N, sizeof(**Acts))))
    return false;
  *NumActs = (size_t)N;
  for (size_t I = 0; I < *NumActs; I++) {
    read_call(R, &(*Acts)[I].Finalize);
    read_call(R, &(*Acts)[I].Dealloc);
  }
  return orc_rt_SPSReader_ok(R);
}

/* Decode a FinalizeRequest; arrays point into R's span and go to the caller. */
static bool read_finalize_request(orc_rt_SPSReader *R, orc_rt_MemoryFinalizeRequest *Req,
                                  orc_rt_MemorySegment **Segs, orc_rt_MemoryActionPair **Acts) {
  uint64_t N = 0;
  *Segs = NULL;
  *Acts = NULL;
  /* A segment takes at least 25 bytes: the count is bounded by the input. */
  if (!orc_rt_SPSReader_seqCount(R, 25, &N))
    return false;
  if (N && !(*Segs = calloc((size_t)N, sizeof(**Segs))))
    return false;
  Req->Segments = *Segs;
  Req->NumSegments = (size_t)N;
  for (size_t I = 0; I < Req->NumSegments; I++) {
    orc_rt_MemorySegment *G = &(*Segs)[I];
    orc_rt_SPSReader_u8(R, &G->Prot);
    orc_rt_SPSReader_addr(R, &G->Addr);
    orc_rt_SPSReader_u64(R, &G->Size);
    orc_rt_SPSReader_bytes(R, &G->Content, &G->ContentSize);
  }
  if (!orcrt_read_action_pairs(R, Acts, &Req->NumActions))
    return false;
  Req->Actions = *Acts;
  return true;
}

/*
 * The wrappers are short (orcrt_session_mark_short()): they may run on the
 * transport's I/O thread. Finalize and deallocate calls whose allocation
 * actions would run code (which may block, or call the controller) are
 * handed to the Session's dispatcher as ordinary Tasks instead.
 */

/*
 * What a wrapper does with the call in Args. With RunActions false it
 * answers nothing (an empty buffer) if answering would run allocation
 * actions: *HasActions says so.
 */
typedef orc_rt_WrapperFunctionBuffer (*call_body)(orc_rt_SessionRef S,
                                                  const orc_rt_WrapperFunctionBuffer *Args,
                                                  bool RunActions, bool *HasActions);

struct deferred_call {
  orc_rt_SessionRef S;
  uint64_t CallId;
  orc_rt_WrapperFunctionReturn Return;
  orc_rt_WrapperFunctionBuffer Args;
  call_body Body;
};

static void deferred_run(void *Ctx) {
  struct deferred_call *D = Ctx;
  bool HasActions;
  orc_rt_WrapperFunctionBuffer Result = D->Body(D->S, &D->Args, true, &HasActions);
  orc_rt_WrapperFunctionBuffer_dispose(&D->Args);
  D->Return(D->S, D->CallId, Result);
  free(D);
}

static void deferred_destroy(void *Ctx) {
  struct deferred_call *D = Ctx;
  orc_rt_WrapperFunctionBuffer_dispose(&D->Args);
  D->Return(D->S, D->CallId,
            orc_rt_WrapperFunctionBuffer_fromOutOfBandError("executor could not run the call"));
  free(D);
}

/* Run Body(S, Args) as a Task of S's dispatcher, which answers the call. */
static void defer(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                  orc_rt_WrapperFunctionBuffer Args, call_body Body) {
  struct deferred_call *D = malloc(sizeof(*D));
  if (!D) {
    orc_rt_WrapperFunctionBuffer_dispose(&Args);
    Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromOutOfBandError("executor out of memory"));
    return;
  }
  *D = (struct deferred_call){S, CallId, Return, Args, Body};
  orc_rt_TaskDispatcher_dispatch(orc_rt_Session_getDispatcher(S),
                                 (orc_rt_Task){deferred_run, deferred_destroy, D});
}

/* Answer the call with Body here, or defer it if that would run allocation actions. */
static void answer_or_defer(orc_rt_SessionRef S, uint64_t CallId,
                            orc_rt_WrapperFunctionReturn Return, orc_rt_WrapperFunctionBuffer Args,
                            call_body Body) {
  bool HasActions;
  orc_rt_WrapperFunctionBuffer Result = Body(S, &Args, false, &HasActions);
  if (HasActions) {
    defer(S, CallId, Return, Args, Body);
    return;
  }
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

/*
 * (ExecutorAddr Instance, FinalizeRequest) -> SPSError. With RunActions
 * false a request with actions is not finalized: *HasActions says so.
 */
static orc_rt_WrapperFunctionBuffer finalize_call(orc_rt_SessionRef S,
                                                  const orc_rt_WrapperFunctionBuffer *Args,
                                                  bool RunActions, bool *HasActions) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Instance = 0;
  orc_rt_MemoryFinalizeRequest Req = {0};
  orc_rt_MemorySegment *Segs = NULL;
  orc_rt_MemoryActionPair *Acts = NULL;
  orc_rt_WrapperFunctionBuffer Result;

  *HasActions = false;
  orc_rt_WrapperFunctionBuffer_init(&Result);
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(Args), Args->Size);
  orc_rt_SPSReader_addr(&R, &Instance);
  if (!orc_rt_SPSReader_ok(&R) || !read_finalize_request(&R, &Req, &Segs, &Acts)) {
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
  } else if (Req.NumActions && !RunActions) {
    *HasActions = true;
  } else {
    orc_rt_MemoryServiceRef M = instance(S, Instance);
    orc_rt_SPSWriter_init(&W);
    orc_rt_SPSWriter_error(&W,
                           M ? orc_rt_MemoryService_finalize(M, &Req) : unknown_instance(Instance));
    Result = orc_rt_SPSWriter_finish(&W);
  }
  free(Segs);
  free(Acts);
  return Result;
}

static void finalize_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                             orc_rt_WrapperFunctionReturn Return,
                             orc_rt_WrapperFunctionBuffer Args) {
  answer_or_defer(S, CallId, Return, Args, finalize_call);
}

/* Whether deallocating one of the N bases R holds next would run actions. */
static bool any_dealloc_actions(orc_rt_MemoryServiceRef M, orc_rt_SPSReader R, uint64_t N) {
  bool Any = false;
  pthread_mutex_lock(&M->Lock);
  for (uint64_t I = 0; !Any && I < N; I++) {
    orc_rt_ExecutorAddr Base = 0;
    orc_rt_SPSReader_addr(&R, &Base);
    struct alloc *A = find_by_base(M, Base);
    Any = A && A->NumDealloc;
  }
  pthread_mutex_unlock(&M->Lock);
  return Any;
}

/*
 * (ExecutorAddr Instance, Sequence<ExecutorAddr> Bases) -> SPSError. With
 * RunActions false nothing is deallocated if that would run actions:
 * *HasActions says so.
 */
static orc_rt_WrapperFunctionBuffer deallocate_call(orc_rt_SessionRef S,
                                                    const orc_rt_WrapperFunctionBuffer *Args,
                                                    bool RunActions, bool *HasActions) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Instance = 0;
  uint64_t N = 0;
  orc_rt_WrapperFunctionBuffer Result;

  *HasActions = false;
  orc_rt_WrapperFunctionBuffer_init(&Result);
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(Args), Args->Size);
  orc_rt_SPSReader_addr(&R, &Instance);
  orc_rt_SPSReader_seqCount(&R, 8, &N);
  if (!orc_rt_SPSReader_ok(&R)) {
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
  } else {
    orc_rt_MemoryServiceRef M = instance(S, Instance);
    if (M && !RunActions && any_dealloc_actions(M, R, N)) {
      *HasActions = true;
      return Result;
    }
    orc_rt_ErrorRef Err = M ? NULL : unknown_instance(Instance);
    /*
     * As LLVM does: take the allocations in the order listed, then
     * deallocate them last first. N is bounded by the input's size.
     */
    struct alloc **Claimed = M && N ? calloc((size_t)N, sizeof(*Claimed)) : NULL;
    size_t NumClaimed = 0;
    if (M && N && !Claimed)
      Err = orc_rt_Error_create("out of memory");
    for (uint64_t I = 0; Claimed && I < N; I++) {
      orc_rt_ExecutorAddr Base = 0;
      struct alloc *A;
      orc_rt_SPSReader_addr(&R, &Base); /* cannot fail: the count was checked */
      Err = orc_rt_Error_join(Err, claim_alloc(M, Base, &A));
      if (A)
        Claimed[NumClaimed++] = A;
    }
    while (NumClaimed > 0)
      Err = orc_rt_Error_join(Err, finish_dealloc(M, Claimed[--NumClaimed]));
    free(Claimed);
    orc_rt_SPSWriter_init(&W);
    orc_rt_SPSWriter_error(&W, Err);
    Result = orc_rt_SPSWriter_finish(&W);
  }
  return Result;
}

static void deallocate_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                               orc_rt_WrapperFunctionReturn Return,
                               orc_rt_WrapperFunctionBuffer Args) {
  answer_or_defer(S, CallId, Return, Args, deallocate_call);
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
  struct alloc *Last = NULL; /* the last one done here: it stays listed */
  for (;;) {
    pthread_mutex_lock(&M->Lock);
    struct alloc *A = Last ? Last->Prev : M->Last;
    while (A && A->State == ALLOC_RELEASING)
      A = A->Prev;
    if (A)
      A->State = ALLOC_RELEASING;
    pthread_mutex_unlock(&M->Lock);
    if (!A)
      break;
    orc_rt_ErrorRef Err = run_dealloc_actions(M, A);
    if (Err)
      orc_rt_Session_reportError(S, Err);
    purge_registrations(M, A);
    Last = A;
  }
  if (Done)
    Done(DoneCtx);
}

static void memory_destroy(void *Ctx) {
  orc_rt_MemoryServiceRef M = Ctx;
  pthread_mutex_lock(&LiveLock);
  LIST_REMOVE(M, Live);
  pthread_mutex_unlock(&LiveLock);
  /* After the dispatcher's shutdown: no worker can still run code in the memory shutdown kept. */
  for (struct alloc *A = M->First, *Next; A; A = Next) {
    Next = A->Next;
    unmap_alloc(A);
  }
  pthread_mutex_destroy(&M->Lock);
  free(M);
}

const orc_rt_ServiceOps orcrt_memory_service_ops = {
    .Name = "memory",
    .Shutdown = memory_shutdown,
    .Destroy = memory_destroy,
};

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_MemoryService_add(orc_rt_SessionRef S,
                                                       orc_rt_MemoryStrategy Strategy,
                                                       orc_rt_MemoryServiceRef *Out) {
  static const struct {
    const char *Name;
    orc_rt_WrapperFunction Fn;
  } Wrappers[] = {
      {"__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper", reserve_wrapper},
      {"__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper", finalize_wrapper},
      {"__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper", deallocate_wrapper},
  };
  orc_rt_ErrorRef Err;

  if (orc_rt_Session_findService(S, &orcrt_memory_service_ops))
    return orc_rt_Error_create("the Session already has a memory Service");
  orc_rt_MemoryServiceRef M = calloc(1, sizeof(*M));
  if (!M)
    return orc_rt_Error_create("out of memory");
  M->S = S;
  M->Strategy = Strategy == orc_rt_MemoryStrategy_MemFD ? orc_rt_MemoryStrategy_MemFD
                                                        : orc_rt_MemoryStrategy_MProtect;
  long Page = sysconf(_SC_PAGESIZE);
  M->PageSize = Page > 0 ? (uint64_t)Page : 4096;
  pthread_mutex_init(&M->Lock, NULL);

  if (M->Strategy == orc_rt_MemoryStrategy_MemFD) {
    int Fd = -1;
#ifdef HAVE_MEMFD_CREATE
    Fd = memfd_create("orcrt-probe", MFD_CLOEXEC);
#endif
    if (Fd < 0) {
      orc_rt_Session_log(S, orc_rt_LogLevel_Info,
                         "memfd_create is unavailable; JIT memory uses mprotect");
      M->Strategy = orc_rt_MemoryStrategy_MProtect;
    } else {
      close(Fd);
    }
  }

  Err = orc_rt_Session_addService(S, &orcrt_memory_service_ops, M);
  if (Err) {
    pthread_mutex_destroy(&M->Lock);
    free(M);
    return Err;
  }
  /* S owns M from here on. */
  pthread_mutex_lock(&LiveLock);
  LIST_INSERT_HEAD(&LiveServices, M, Live);
  pthread_mutex_unlock(&LiveLock);

  Err = orc_rt_Session_addBootstrapSymbol(S, "__llvm_orc_SimpleExecutorMemoryManager_Instance",
                                          orc_rt_ExecutorAddr_fromPtr(M));
  for (size_t I = 0; !Err && I < ORCRT_ARRAY_SIZE(Wrappers); I++)
    Err = orc_rt_Session_addWrapperFunction(S, Wrappers[I].Name, Wrappers[I].Fn);
  for (size_t I = 0; !Err && I < ORCRT_ARRAY_SIZE(Wrappers); I++)
    Err = orcrt_session_mark_short(S, Wrappers[I].Fn);
  if (Err)
    return Err;
  *Out = M;
  return NULL;
}

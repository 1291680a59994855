/*
 * perf-jitdump.c - a perf jitdump of JIT'd code, so that perf report names it
 *
 * perf record sees JIT'd code only as anonymous memory. A process that
 * writes a jitdump (tools/perf/Documentation/jitdump-specification.txt in
 * Linux) and maps its first page executable leaves a PERF_RECORD_MMAP2 of
 * a file named jit-<pid>.dump; perf inject --jit finds the file through it
 * after the run and turns each code-load record into a small ELF file
 * (jitted-<pid>-<index>.so) with the code, its line table and its unwind
 * information. perf matches the file to the process by the pid in its
 * name, so there is one dump per process, and this file owns it.
 *
 * What LLVM 19's own writer gets wrong, and this one does not:
 *  - the header's pad1 and flags are written as 0 (LLVM leaves them
 *    uninitialised, and perf inject rejects any flag it does not know);
 *  - perf inject attaches the latest debug and unwinding records to the
 *    next code load and forgets them, so each code load is preceded by its
 *    own debug record (matched by code address) and the graph's unwinding
 *    record, not all code loads by one of each;
 *  - the controller adds 0x40 to every line-table address, for a perf bug
 *    fixed in Linux 5.8; this writer takes it off again, so the lines fall
 *    on the code for any perf since (orcrt-executor(1), PROFILING);
 *  - every size is computed from what is written, every range copied is
 *    checked to be readable JIT memory first, and nothing is printed per
 *    batch;
 *  - LLVM's controllers send End from a destructor that runs after the
 *    channel is closed, so it never arrives out of process: the last
 *    Session serving perf finishes the dump when it shuts down.
 *
 * Failures to make or write the dump never fail the JIT'd program: they
 * are logged to the Sessions serving perf and the dump is left as it was.
 * Batches that do not check (or come before any Start) are errors, which
 * fail the finalize that carried them.
 *
 * Locks. PerfLock guards Dump and every write to the file. A batch is
 * checked (jit-ranges.c's lock, taken under PerfLock) and copied under one
 * hold of it, and the release observer takes it too, so memory cannot be
 * unmapped between the check and the copy. PerfLock ranks with the other
 * registrars' locks (jit-ranges.h): it is never held with them.
 */
#include "orcrt-internal.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <orcrt/service.h>
#include <orcrt/session.h>
#include <orcrt/sps.h>

#include "jit-ranges.h"
#include "perf-jitdump-internal.h"

#if defined(__x86_64__)
#define PERF_ELF_MACH EM_X86_64
#elif defined(__aarch64__)
#define PERF_ELF_MACH EM_AARCH64
#elif defined(__i386__)
#define PERF_ELF_MACH EM_386
#else
#define PERF_ELF_MACH EM_NONE
#endif

/* The file's fixed sizes: the header, a record's prefix, each record's fixed part. */
enum {
  HEADER_SIZE = 40,
  RECORD_PREFIX_SIZE = 16,
  CODE_LOAD_FIXED = RECORD_PREFIX_SIZE + 40,
  DEBUG_INFO_FIXED = RECORD_PREFIX_SIZE + 16,
  DEBUG_ENTRY_FIXED = 16,
  UNWINDING_FIXED = RECORD_PREFIX_SIZE + 24,
};

#define JITDUMP_MAGIC 0x4A695444u
#define JITDUMP_VERSION 1u

enum dump_state {
  DUMP_IDLE,   /* no Start yet, or ended */
  DUMP_OPEN,   /* writing to Fd */
  DUMP_FAILED, /* Start could not make the dump: batches are checked, then dropped */
};

/* One Session serving perf: a perf Service's context. */
struct perf_service {
  orc_rt_SessionRef S;
  struct perf_service *Next;
};

static pthread_mutex_t PerfLock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t ObserveOnce = PTHREAD_ONCE_INIT;

/* The process's dump, guarded by PerfLock. */
static struct {
  enum dump_state State;
  int Fd;
  void *Marker; /* the first page, mapped PROT_READ|PROT_EXEC */
  size_t MarkerSize;
  uint64_t Size;                 /* bytes written: where the next record goes */
  struct perf_service *Services; /* the Sessions serving perf, latest first */
} Dump = {DUMP_IDLE, -1, NULL, 0, 0, NULL};

static uint64_t now_ns(void) {
  struct timespec Ts;
  clock_gettime(CLOCK_MONOTONIC, &Ts);
  return (uint64_t)Ts.tv_sec * 1000000000u + (uint64_t)Ts.tv_nsec;
}

/*
 * Say what went wrong with the dump, and that the program goes on, to the
 * latest Session serving perf (in most processes the only one): at error
 * level, so that it shows by default. PerfLock held: no Session can go.
 */
static void log_locked(const char *What, int Errno, const char *Consequence) {
  if (Dump.Services)
    orc_rt_Session_log(Dump.Services->S, orc_rt_LogLevel_Error, "perf: %s: %s; %s", What,
                       strerror(Errno), Consequence);
}

/* ---- the records, in the host's byte order as the format wants ---------------- */

static void put32(orc_rt_SPSWriter *W, uint32_t V) {
  orc_rt_SPSWriter_raw(W, &V, sizeof(V));
}

static void put64(orc_rt_SPSWriter *W, uint64_t V) {
  orc_rt_SPSWriter_raw(W, &V, sizeof(V));
}

static void put_prefix(orc_rt_SPSWriter *W, uint32_t Id, uint64_t TotalSize) {
  put32(W, Id);
  put32(W, (uint32_t)TotalSize);
  put64(W, now_ns());
}

static void put_string(orc_rt_SPSWriter *W, const char *S, size_t N) {
  orc_rt_SPSWriter_raw(W, S, N);
  orc_rt_SPSWriter_u8(W, 0);
}

static void put_memory(orc_rt_SPSWriter *W, orc_rt_ExecutorAddr Addr, uint64_t Size) {
  if (Size)
    orc_rt_SPSWriter_raw(W, orc_rt_ExecutorAddr_toPtr(Addr), (size_t)Size);
}

/* Append the N bytes at Data to the dump; on failure cut it back to its last whole record. */
static void append_locked(const char *Data, size_t N) {
  size_t Done = 0;
  while (Done < N) {
    ssize_t K = pwrite(Dump.Fd, Data + Done, N - Done, (off_t)(Dump.Size + Done));
    if (K < 0 && errno == EINTR)
      continue;
    if (K <= 0) {
      int E = K < 0 ? errno : ENOSPC;
      if (ftruncate(Dump.Fd, (off_t)Dump.Size) != 0)
        E = errno;
      log_locked("cannot write the jitdump", E, "these functions are left out of it");
      return;
    }
    Done += (size_t)K;
  }
  Dump.Size += N;
}

/* ---- Start and End ---------------------------------------------------------------- */

/* mkdir -p Path: every directory in it that is missing, in place. */
static int make_dirs(char *Path) {
  for (char *P = Path + 1;; P++) {
    if (*P != '/' && *P != '\0')
      continue;
    char C = *P;
    *P = '\0';
    int Rc = mkdir(Path, 0755);
    *P = C;
    if (Rc != 0 && errno != EEXIST)
      return -1;
    if (C == '\0')
      return 0;
  }
}

/*
 * Create the dump's directory and file and write the header: the file
 * descriptor, or -1 with errno set and *Where naming what failed (a path,
 * to free()).
 */
static int create_dump(char **Where) {
  const char *Base = getenv("JITDUMPDIR");
  if (!Base || !*Base)
    Base = getenv("HOME");
  if (!Base || !*Base)
    Base = ".";
  char Date[16];
  time_t T = time(NULL);
  struct tm Tm;
  if (!localtime_r(&T, &Tm) || strftime(Date, sizeof(Date), "%Y%m%d", &Tm) == 0)
    strcpy(Date, "0");
  char *Dir = NULL;
  if (asprintf(&Dir, "%s/.debug/jit/orcrt-%s-XXXXXX", Base, Date) < 0) {
    errno = ENOMEM;
    *Where = NULL;
    return -1;
  }
  *Where = Dir;
  char *Slash = strrchr(Dir, '/');
  *Slash = '\0';
  int Rc = make_dirs(Dir);
  *Slash = '/';
  if (Rc != 0 || !mkdtemp(Dir))
    return -1;
  char *File = NULL;
  if (asprintf(&File, "%s/jit-%ld.dump", Dir, (long)getpid()) < 0) {
    int E = errno;
    rmdir(Dir);
    errno = E;
    return -1;
  }
  int Fd = open(File, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0666);
  if (Fd < 0) {
    int E = errno;
    rmdir(Dir);
    free(Dir);
    *Where = File;
    errno = E;
    return -1;
  }
  free(Dir);
  *Where = File;
  return Fd;
}

orc_rt_ErrorRef orcrt_perf_start(void) {
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&PerfLock);
  if (Dump.State == DUMP_OPEN)
    goto done; /* another controller of the process started it: there is one dump */
  char *Where = NULL;
  int Fd = create_dump(&Where);
  int E = errno;
  size_t Page = (size_t)sysconf(_SC_PAGESIZE);
  void *Marker = MAP_FAILED;
  if (Fd >= 0) {
    /* pad1 and flags 0 (timestamps are CLOCK_MONOTONIC, not the TSC): perf inject checks. */
    struct {
      uint32_t Magic, Version, TotalSize, ElfMach, Pad1, Pid;
      uint64_t Timestamp, Flags;
    } Header = {JITDUMP_MAGIC,
                JITDUMP_VERSION,
                HEADER_SIZE,
                PERF_ELF_MACH,
                0,
                (uint32_t)getpid(),
                now_ns(),
                0};
    _Static_assert(sizeof(Header) == HEADER_SIZE, "the jitdump header is 40 bytes");
    if (pwrite(Fd, &Header, sizeof(Header), 0) != (ssize_t)sizeof(Header))
      E = errno ? errno : ENOSPC;
    else if ((Marker = mmap(NULL, Page, PROT_READ | PROT_EXEC, MAP_PRIVATE, Fd, 0)) == MAP_FAILED)
      E = errno;
    if (Marker == MAP_FAILED) {
      close(Fd);
      unlink(Where);
      char *Slash = strrchr(Where, '/');
      *Slash = '\0';
      rmdir(Where);
      *Slash = '/';
      Fd = -1;
    }
  }
  if (Fd < 0) {
    Dump.State = DUMP_FAILED;
    char What[512];
    snprintf(What, sizeof(What), "cannot make a jitdump at %s", Where ? Where : "(no path)");
    Err = orc_rt_Error_create("perf: %s: %s", What, strerror(E));
    log_locked(What, E, "JIT'd code runs without profiling information");
  } else {
    Dump.State = DUMP_OPEN;
    Dump.Fd = Fd;
    Dump.Marker = Marker;
    Dump.MarkerSize = Page;
    Dump.Size = HEADER_SIZE;
  }
  free(Where);
done:
  pthread_mutex_unlock(&PerfLock);
  return Err;
}

/* Write the close record, unmap the marker, close the file. PerfLock held; the dump is open. */
static void finish_locked(void) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  put_prefix(&W, ORCRT_PERF_CODE_CLOSE, RECORD_PREFIX_SIZE);
  if (!orc_rt_SPSWriter_failed(&W))
    append_locked(orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  orc_rt_SPSWriter_dispose(&W);
  munmap(Dump.Marker, Dump.MarkerSize);
  close(Dump.Fd);
  Dump.Fd = -1;
  Dump.Marker = NULL;
  Dump.State = DUMP_IDLE;
}

orc_rt_ErrorRef orcrt_perf_end(void) {
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&PerfLock);
  if (Dump.State == DUMP_OPEN)
    finish_locked();
  else if (Dump.State == DUMP_FAILED)
    Dump.State = DUMP_IDLE;
  else
    Err = orc_rt_Error_create("perf: End without Start: no jitdump is open");
  pthread_mutex_unlock(&PerfLock);
  return Err;
}

/* ---- checking a batch ------------------------------------------------------------- */

/* *Total += N, if the result still fits a record's 32-bit size. */
static bool grow(uint64_t *Total, uint64_t N) {
  if (N > UINT32_MAX || *Total + N > UINT32_MAX)
    return false;
  *Total += N;
  return true;
}

/* Size bytes at Addr lie in readable JIT memory (nothing to check for none). */
static orc_rt_ErrorRef check_memory(const char *What, orc_rt_ExecutorAddr Addr, uint64_t Size) {
  if (Size == 0)
    return NULL;
  if (Addr == 0 || Size > UINT64_MAX - Addr || !orcrt_ranges_is_jit_memory(Addr, Size) ||
      !orcrt_ranges_is_readable(Addr, Size))
    return orc_rt_Error_create("perf: %s 0x%" PRIx64 " (%" PRIu64
                               " bytes) is not in readable JIT memory",
                               What, Addr, Size);
  return NULL;
}

static orc_rt_ErrorRef check_name(const char *What, const char *Name, size_t Size) {
  if (memchr(Name, '\0', Size))
    return orc_rt_Error_create("perf: %s \"%.*s...\" contains a NUL byte", What,
                               (int)strnlen(Name, Size), Name);
  return NULL;
}

static orc_rt_ErrorRef too_large(const char *What, uint64_t Addr) {
  return orc_rt_Error_create("perf: the %s record of 0x%" PRIx64 " is too large for a jitdump",
                             What, Addr);
}

static orc_rt_ErrorRef check_load(const struct orcrt_perf_code_load *L, uint64_t *Size) {
  *Size = CODE_LOAD_FIXED;
  orc_rt_ErrorRef Err = check_name("the function name", L->Name, L->NameSize);
  if (!Err && (!grow(Size, L->NameSize + 1) || !grow(Size, L->CodeSize)))
    Err = too_large("code load", L->CodeAddr);
  return Err ? Err : check_memory("the code of a function at", L->CodeAddr, L->CodeSize);
}

static orc_rt_ErrorRef check_debug(const struct orcrt_perf_debug_info *D, uint64_t *Size) {
  *Size = DEBUG_INFO_FIXED;
  for (size_t I = 0; I < D->NumLines; I++) {
    const struct orcrt_perf_line *L = &D->Lines[I];
    orc_rt_ErrorRef Err = check_name("the source file name", L->File, L->FileSize);
    if (Err)
      return Err;
    if (L->Addr < ORCRT_PERF_LINE_ADDR_BIAS)
      return orc_rt_Error_create("perf: line-table address 0x%" PRIx64
                                 " is below the controller's offset 0x%x",
                                 L->Addr, ORCRT_PERF_LINE_ADDR_BIAS);
    if (!grow(Size, DEBUG_ENTRY_FIXED + (uint64_t)L->FileSize + 1))
      return too_large("debug", D->CodeAddr);
  }
  return NULL;
}

/* Only for a graph that has an unwinding record: without one its fields are garbage. */
static orc_rt_ErrorRef check_unwinding(const struct orcrt_perf_unwinding *U, uint64_t *Size) {
  *Size = UNWINDING_FIXED;
  if (U->HdrSize > U->UnwindDataSize)
    return orc_rt_Error_create("perf: the .eh_frame_hdr (%" PRIu64
                               " bytes) is larger than the unwind data (%" PRIu64 " bytes)",
                               U->HdrSize, U->UnwindDataSize);
  if (!grow(Size, U->UnwindDataSize))
    return too_large("unwinding", U->EHFrameAddr);
  if (U->HdrAddr == 0 && U->InlineHdrSize != U->HdrSize)
    return orc_rt_Error_create("perf: the inline .eh_frame_hdr has %zu bytes, not %" PRIu64,
                               U->InlineHdrSize, U->HdrSize);
  orc_rt_ErrorRef Err =
      U->HdrAddr ? check_memory("the .eh_frame_hdr at", U->HdrAddr, U->HdrSize) : NULL;
  return Err ? Err
             : check_memory("the .eh_frame at", U->EHFrameAddr, U->UnwindDataSize - U->HdrSize);
}

/* ---- writing a batch -------------------------------------------------------------- */

static void put_unwinding(orc_rt_SPSWriter *W, const struct orcrt_perf_unwinding *U,
                          uint64_t Size) {
  put_prefix(W, ORCRT_PERF_CODE_UNWINDING_INFO, Size);
  put64(W, U->UnwindDataSize);
  put64(W, U->HdrSize);
  put64(W, U->MappedSize);
  if (U->HdrAddr)
    put_memory(W, U->HdrAddr, U->HdrSize);
  else
    orc_rt_SPSWriter_raw(W, U->Hdr, U->InlineHdrSize);
  put_memory(W, U->EHFrameAddr, U->UnwindDataSize - U->HdrSize);
}

static void put_debug(orc_rt_SPSWriter *W, const struct orcrt_perf_debug_info *D, uint64_t Size) {
  put_prefix(W, ORCRT_PERF_CODE_DEBUG_INFO, Size);
  put64(W, D->CodeAddr);
  put64(W, D->NumLines);
  for (size_t I = 0; I < D->NumLines; I++) {
    const struct orcrt_perf_line *L = &D->Lines[I];
    put64(W, L->Addr - ORCRT_PERF_LINE_ADDR_BIAS);
    put32(W, L->Line);
    put32(W, L->Discrim);
    put_string(W, L->File, L->FileSize);
  }
}

static void put_load(orc_rt_SPSWriter *W, const struct orcrt_perf_code_load *L, uint64_t Size,
                     uint32_t Tid) {
  put_prefix(W, ORCRT_PERF_CODE_LOAD, Size);
  put32(W, (uint32_t)getpid());
  put32(W, Tid);
  put64(W, L->Vma);
  put64(W, L->CodeAddr);
  put64(W, L->CodeSize);
  put64(W, L->CodeIndex);
  put_string(W, L->Name, L->NameSize);
  put_memory(W, L->CodeAddr, L->CodeSize);
}

/* The records of B into W, checked first; Sizes has room for a size per record. PerfLock held. */
static orc_rt_ErrorRef put_batch_locked(const struct orcrt_perf_batch *B, orc_rt_SPSWriter *W,
                                        uint64_t *LoadSizes, uint64_t *DebugSizes,
                                        size_t *DebugOf) {
  orc_rt_ErrorRef Err = NULL;
  uint64_t UnwindSize = 0;
  if (B->HasUnwinding)
    Err = check_unwinding(&B->Unwinding, &UnwindSize);
  for (size_t I = 0; !Err && I < B->NumDebug; I++)
    Err = check_debug(&B->Debug[I], &DebugSizes[I]);
  for (size_t I = 0; !Err && I < B->NumLoads; I++) {
    Err = check_load(&B->Loads[I], &LoadSizes[I]);
    /* The line table of this function; SIZE_MAX for none. Unmatched tables are left out:
       perf would give them to the next function. */
    DebugOf[I] = SIZE_MAX;
    for (size_t J = 0; J < B->NumDebug && DebugOf[I] == SIZE_MAX; J++)
      if (B->Debug[J].CodeAddr == B->Loads[I].CodeAddr)
        DebugOf[I] = J;
  }
  if (Err)
    return Err;
  uint32_t Tid = (uint32_t)syscall(SYS_gettid);
  for (size_t I = 0; I < B->NumLoads; I++) {
    if (B->HasUnwinding)
      put_unwinding(W, &B->Unwinding, UnwindSize);
    if (DebugOf[I] != SIZE_MAX)
      put_debug(W, &B->Debug[DebugOf[I]], DebugSizes[DebugOf[I]]);
    put_load(W, &B->Loads[I], LoadSizes[I], Tid);
  }
  return orc_rt_SPSWriter_failed(W) ? orc_rt_Error_create("out of memory") : NULL;
}

static size_t released(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  (void)Start;
  (void)End;
  /* Nothing is kept in JIT memory: waiting for a copy under way is all. */
  pthread_mutex_lock(&PerfLock);
  pthread_mutex_unlock(&PerfLock);
  return 0;
}

static void observe(void) {
  static const struct orcrt_ranges_observer Observer = {released, NULL, "perf record(s)",
                                                        orc_rt_LogLevel_Debug};
  orcrt_ranges_observe(&Observer);
}

orc_rt_ErrorRef orcrt_perf_write_batch(const struct orcrt_perf_batch *B) {
  size_t Counts = B->NumLoads + B->NumDebug;
  uint64_t *Sizes = Counts ? calloc(Counts, sizeof(*Sizes)) : NULL;
  size_t *DebugOf = B->NumLoads ? calloc(B->NumLoads, sizeof(*DebugOf)) : NULL;
  if ((Counts && !Sizes) || (B->NumLoads && !DebugOf)) {
    free(Sizes);
    free(DebugOf);
    return orc_rt_Error_create("out of memory");
  }
  pthread_once(&ObserveOnce, observe);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&PerfLock);
  if (Dump.State == DUMP_IDLE)
    Err = orc_rt_Error_create("perf: records before Start: no jitdump is open");
  else
    Err = put_batch_locked(B, &W, Sizes, Sizes + B->NumLoads, DebugOf);
  if (!Err && Dump.State == DUMP_OPEN)
    append_locked(orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  pthread_mutex_unlock(&PerfLock);
  orc_rt_SPSWriter_dispose(&W);
  free(Sizes);
  free(DebugOf);
  return Err;
}

/* ---- the Service ------------------------------------------------------------------ */

static void perf_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DoneCtx) {
  (void)S;
  struct perf_service *P = Ctx;
  pthread_mutex_lock(&PerfLock);
  for (struct perf_service **Link = &Dump.Services; *Link; Link = &(*Link)->Next)
    if (*Link == P) {
      *Link = P->Next;
      break;
    }
  /* The last Session serving perf ends the dump that End never ended. */
  if (!Dump.Services && Dump.State == DUMP_OPEN)
    finish_locked();
  else if (!Dump.Services)
    Dump.State = DUMP_IDLE;
  pthread_mutex_unlock(&PerfLock);
  if (Done)
    Done(DoneCtx);
}

static void perf_destroy(void *Ctx) {
  free(Ctx);
}

static const orc_rt_ServiceOps PerfServiceOps = {
    .Name = "perf",
    .Shutdown = perf_shutdown,
    .Destroy = perf_destroy,
};

orc_rt_ErrorRef orcrt_perf_add(orc_rt_SessionRef S) {
  if (orc_rt_Session_findService(S, &PerfServiceOps))
    return orc_rt_Error_create("the Session already serves perf");
  struct perf_service *P = calloc(1, sizeof(*P));
  if (!P)
    return orc_rt_Error_create("out of memory");
  P->S = S;
  /* Listed before it is added: a Session already shut down tells it at once, which unlists it. */
  pthread_mutex_lock(&PerfLock);
  P->Next = Dump.Services;
  Dump.Services = P;
  pthread_mutex_unlock(&PerfLock);
  orc_rt_ErrorRef Err = orc_rt_Session_addService(S, &PerfServiceOps, P);
  if (Err) {
    perf_shutdown(P, S, NULL, NULL);
    free(P);
  }
  return Err;
}

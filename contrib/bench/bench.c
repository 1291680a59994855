/*
 * bench.c - orcrt-executor against the physical floor and against LLVM's
 * llvm-jitlink-executor, driven through the same calls of LLVM 19's wire
 * protocol
 *
 * usage: bench --orcrt=EXE --llvm=EXE --echo=EXE [--orcrt-libdir=DIR]
 *              [--size-ours=FILE,...] [--size-llvm=FILE] [-r ROUNDS] [-s SCALE]
 *              [--placement=both|free|pinned] [--cpus=LIST] [--realtime]
 *              [--warm-up=MS]
 *              [--only=floor|orcrt|llvm|sandbox [--hello-only]]
 *
 * Each executor is launched the way llvm-jitlink-19 does it ("EXE
 * filedescs=R,W" on two fresh pipes). The echo peer (echo-peer.c) answers
 * every call with a result of the right shape and does nothing else: it is
 * what the pipes alone cost. Every round runs, for each peer in turn (in
 * an order that changes from round to round so that, over every four
 * rounds, each peer runs once right after each other one: see peer_at();
 * first every peer's hello-world session, then every peer's work
 * session):
 *
 *  - a hello-world session, as llvm-jitlink-19 runs hello.o: time until the
 *    Setup frame has arrived, open(""), a lookup of printf, a reservation,
 *    finalize of an R-- and an R-X page, run-as-int of the code, deallocate;
 *    then the teardown (the controller closes its write end; timed until
 *    the executor has closed its out-fd and exited) and the peak resident
 *    set of the executor before that (VmHWM);
 *  - a work session: first --warm-up milliseconds (default 250) of calls
 *    that are not measured, since a process just started runs where its
 *    parent woke it until the scheduler has spread the two over the CPUs
 *    (0 measures that start instead); then one 8-byte memory write
 *    (mem_write_uint64s into a finalized RW page) at a time; the same with
 *    32 calls in flight; a call
 *    into JIT'd code (run-as-int of "mov eax, edi; add eax, 1; ret" placed
 *    in a finalized R-X page); a JIT'd loop of getppid() system calls (the
 *    cost of one system call made by JIT'd code, the part of every call the
 *    sandbox's seccomp filter can slow down, measured inside one thread and
 *    so beyond the reach of placement); one lookup of 768 libc and libm
 *    names in the open("") handle; reserve + finalize + deallocate of 16 MiB
 *    of content.
 *
 * Figures are per-round means; the table shows the median over the rounds.
 * The controller is deliberately lean and the same for every peer: one
 * thread, blocking pipes, a frame written with one write() (32 in flight:
 * 32 frames in one write()), results read through one buffer.
 *
 * Two placements, each round running both, one after the other:
 *  - free: nothing pinned, the default scheduler, as users run an
 *    executor. The headline. On a virtual machine a wake-up of a thread
 *    sleeping on another vCPU can cost tens of microseconds, and where the
 *    scheduler puts the two ends of a pipe changes from run to run, so
 *    absolute round trips swing between runs; ratios within a run hold.
 *  - pinned: the benchmark and every peer on one CPU (--cpus chooses; by
 *    default the first this process may use), under SCHED_FIFO with
 *    --realtime where permitted: the work each peer does, with other work
 *    on a busy machine kept from taking the CPU halfway through.
 * --placement=free or =pinned runs one of them only.
 *
 * The sandbox column is orcrt-executor again with ORCRT_SANDBOX=1, so
 * that the sandbox's cost per call stands beside the figures without it.
 *
 * --only runs one peer alone and prints its figures (for profiling it);
 * --hello-only then runs only its hello-world sessions.
 *
 * This is a benchmark, not a test: it exits 0 whatever it measures, and 1
 * only if a peer misbehaves.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "names.h"
#include "pipe-wire.h"

extern char **environ;

enum { ProtR = 1, ProtRW = 3, ProtRX = 5 };

#define BIG_SIZE ((size_t)16 << 20)
#define NUM_NAMES (sizeof(BenchNames) / sizeof(BenchNames[0]))
#define IN_FLIGHT 32
#define MAX_ROUNDS 999

/*
 * The R-X page: at 0, the function of the JIT'd calls; at SYSCALL_LOOP, a
 * loop of Arg getppid() calls (syscall clobbers rcx and r11 only) that
 * answers as the echo peer does, Arg + 1.
 */
#define SYSCALL_LOOP 16
/* clang-format off */
static const unsigned char Code[] = {
    0x89, 0xf8,                   /* mov eax, edi */
    0x83, 0xc0, 0x01,             /* add eax, 1 */
    0xc3,                         /* ret */
    [SYSCALL_LOOP] = 0x89, 0xfa,  /* mov edx, edi */
    0xb8, 0x6e, 0x00, 0x00, 0x00, /* 1: mov eax, __NR_getppid */
    0x0f, 0x05,                   /* syscall */
    0xff, 0xca,                   /* dec edx */
    0x75, 0xf5,                   /* jnz 1b */
    0x8d, 0x47, 0x01,             /* lea eax, [rdi + 1] */
    0xc3,                         /* ret */
};
/* clang-format on */
_Static_assert(__NR_getppid == 0x6e, "the loop's system call number");
/* System calls per run of the loop. */
#define SYSCALLS_PER_RUN 20000

static void die(const char *Fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  fputs("bench: ", stderr);
  vfprintf(stderr, Fmt, Ap);
  fputc('\n', stderr);
  va_end(Ap);
  exit(1);
}

static double now(void) {
  struct timespec T;
  clock_gettime(CLOCK_MONOTONIC, &T);
  return (double)T.tv_sec + (double)T.tv_nsec / 1e9;
}

/* ---- one connection ------------------------------------------------------ */

/* The bootstrap symbols the benchmark uses. */
enum {
  SymDylibInstance,
  SymOpen,
  SymLookup,
  SymMemInstance,
  SymReserve,
  SymFinalize,
  SymDeallocate,
  SymWrite64,
  SymRunAsInt,
  NumSyms
};
static const char *const SymNames[NumSyms] = {
    "__llvm_orc_SimpleExecutorDylibManager_Instance",
    "__llvm_orc_SimpleExecutorDylibManager_open_wrapper",
    "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper",
    "__llvm_orc_SimpleExecutorMemoryManager_Instance",
    "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper",
    "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper",
    "__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper",
    "__llvm_orc_bootstrap_mem_write_uint64s_wrapper",
    "__llvm_orc_bootstrap_run_as_int_function_wrapper",
};

struct peer {
  const char *Label;
  const char *Exe;
  char **Env;
};

struct conn {
  const struct peer *Peer;
  pid_t Pid;
  int Rd, Wr;
  unsigned char *Rx;
  size_t RxCap, RxStart, RxEnd;
  unsigned char *Tx;
  size_t TxCap, TxLen;
  uint64_t NextSeq;
  uint64_t Sym[NumSyms];
  uint64_t PageSize;
};

struct frame {
  uint64_t Op, Seq, Tag;
  const unsigned char *P; /* valid until the next read */
  size_t N;
};

static void spawn(struct conn *C, const struct peer *P) {
  int ToExe[2], FromExe[2];
  char Arg[64];
  memset(C, 0, sizeof(*C));
  C->Peer = P;
  /* The executor's ends are inherited; the controller's are close-on-exec. */
  if (pipe(ToExe) || pipe(FromExe))
    die("pipe: %s", strerror(errno));
  fcntl(ToExe[1], F_SETFD, FD_CLOEXEC);
  fcntl(FromExe[0], F_SETFD, FD_CLOEXEC);
  snprintf(Arg, sizeof(Arg), "filedescs=%d,%d", ToExe[0], FromExe[1]);
  char *Argv[] = {(char *)P->Exe, Arg, NULL};
  int E = posix_spawn(&C->Pid, P->Exe, NULL, NULL, Argv, P->Env);
  if (E)
    die("cannot start %s: %s", P->Exe, strerror(E));
  close(ToExe[0]);
  close(FromExe[1]);
  C->Wr = ToExe[1];
  C->Rd = FromExe[0];
  C->RxCap = C->TxCap = 1 << 16;
  C->Rx = malloc(C->RxCap);
  C->Tx = malloc(C->TxCap);
  if (!C->Rx || !C->Tx)
    die("out of memory");
}

/* Have at least N unread bytes in the buffer. */
static void fill(struct conn *C, size_t N) {
  size_t Have = C->RxEnd - C->RxStart;
  if (Have >= N)
    return;
  if (C->RxCap - C->RxStart < N) {
    memmove(C->Rx, C->Rx + C->RxStart, Have);
    C->RxStart = 0;
    C->RxEnd = Have;
    if (N > C->RxCap) {
      while (N > C->RxCap)
        C->RxCap *= 2;
      if (!(C->Rx = realloc(C->Rx, C->RxCap)))
        die("out of memory");
    }
  }
  while (C->RxEnd - C->RxStart < N) {
    ssize_t R = read(C->Rd, C->Rx + C->RxEnd, C->RxCap - C->RxEnd);
    if (R < 0 && errno == EINTR)
      continue;
    if (R <= 0)
      die("%s: %s", C->Peer->Label, R ? strerror(errno) : "end of file");
    C->RxEnd += (size_t)R;
  }
}

static void read_frame(struct conn *C, struct frame *F) {
  fill(C, WIRE_HEADER_SIZE);
  struct orcrt_wire_header H = orcrt_wire_decode_header(C->Rx + C->RxStart);
  if (H.Size < WIRE_HEADER_SIZE || H.Size > ((uint64_t)1 << 30))
    die("%s: bad frame size %llu", C->Peer->Label, (unsigned long long)H.Size);
  fill(C, (size_t)H.Size);
  F->Op = H.OpC;
  F->Seq = H.SeqNo;
  F->Tag = H.Tag;
  F->P = C->Rx + C->RxStart + WIRE_HEADER_SIZE;
  F->N = (size_t)H.Size - WIRE_HEADER_SIZE;
  C->RxStart += (size_t)H.Size;
}

static unsigned char *tx_room(struct conn *C, size_t N) {
  if (C->TxLen + N > C->TxCap) {
    while (C->TxLen + N > C->TxCap)
      C->TxCap *= 2;
    if (!(C->Tx = realloc(C->Tx, C->TxCap)))
      die("out of memory");
  }
  return C->Tx + C->TxLen;
}

static void tx_u64(struct conn *C, uint64_t V) {
  orcrt_wire_put_le64(tx_room(C, 8), V);
  C->TxLen += 8;
}

static void tx_u8(struct conn *C, unsigned char V) {
  *tx_room(C, 1) = V;
  C->TxLen++;
}

static void tx_bytes(struct conn *C, const void *P, size_t N) {
  tx_u64(C, N);
  memcpy(tx_room(C, N), P, N);
  C->TxLen += N;
}

static void write_all(struct conn *C, const unsigned char *P, size_t N) {
  while (N) {
    ssize_t W = write(C->Wr, P, N);
    if (W < 0 && errno == EINTR)
      continue;
    if (W <= 0)
      die("%s: write: %s", C->Peer->Label, strerror(errno));
    P += W;
    N -= (size_t)W;
  }
}

static void flush(struct conn *C) {
  write_all(C, C->Tx, C->TxLen);
  C->TxLen = 0;
}

/* Begin a CallWrapper to Sym (its arguments follow); returns its frame offset. */
static size_t call_begin(struct conn *C, int Sym, uint64_t *Seq) {
  size_t At = C->TxLen;
  unsigned char *H = tx_room(C, WIRE_HEADER_SIZE);
  *Seq = C->NextSeq++;
  orcrt_wire_put_le64(H + 8, WIRE_OP_CALL_WRAPPER);
  orcrt_wire_put_le64(H + 16, *Seq);
  orcrt_wire_put_le64(H + 24, C->Sym[Sym]);
  C->TxLen += WIRE_HEADER_SIZE;
  return At;
}

static void call_end(struct conn *C, size_t At) {
  orcrt_wire_put_le64(C->Tx + At, C->TxLen - At);
}

static void wait_result(struct conn *C, uint64_t Seq, struct frame *F) {
  read_frame(C, F);
  if (F->Op != WIRE_OP_RESULT || F->Seq != Seq || F->Tag != 0)
    die("%s: expected the Result of call %llu, got opcode %llu seq %llu", C->Peer->Label,
        (unsigned long long)Seq, (unsigned long long)F->Op, (unsigned long long)F->Seq);
}

static void read_setup(struct conn *C) {
  struct frame F;
  read_frame(C, &F);
  if (F.Op != WIRE_OP_SETUP)
    die("%s: the first frame is not a Setup", C->Peer->Label);
  const unsigned char *P = F.P, *End = F.P + F.N;
#define NEED(K)                                                                                    \
  do {                                                                                             \
    if ((size_t)(End - P) < (K))                                                                   \
      die("%s: truncated Setup", C->Peer->Label);                                                  \
  } while (0)
  NEED(8);
  uint64_t L = orcrt_wire_get_le64(P);
  P += 8;
  NEED(L + 16);
  P += L;
  C->PageSize = orcrt_wire_get_le64(P);
  uint64_t MapCount = orcrt_wire_get_le64(P + 8);
  P += 16;
  for (uint64_t I = 0; I < MapCount; I++) {
    for (int J = 0; J < 2; J++) { /* key, value */
      NEED(8);
      L = orcrt_wire_get_le64(P);
      P += 8;
      NEED(L);
      P += L;
    }
  }
  NEED(8);
  uint64_t Count = orcrt_wire_get_le64(P);
  P += 8;
  for (uint64_t I = 0; I < Count; I++) {
    NEED(8);
    L = orcrt_wire_get_le64(P);
    P += 8;
    NEED(L + 8);
    for (int S = 0; S < NumSyms; S++)
      if (strlen(SymNames[S]) == L && memcmp(SymNames[S], P, L) == 0)
        C->Sym[S] = orcrt_wire_get_le64(P + L);
    P += L + 8;
  }
#undef NEED
  for (int S = 0; S < NumSyms; S++)
    if (!C->Sym[S])
      die("%s: no bootstrap symbol %s", C->Peer->Label, SymNames[S]);
}

/* Expected<ExecutorAddr> */
static uint64_t expect_addr(struct conn *C, const struct frame *F, const char *What) {
  if (F->N < 9 || F->P[0] != 1)
    die("%s: %s failed", C->Peer->Label, What);
  return orcrt_wire_get_le64(F->P + 1);
}

/* SPSError */
static void expect_success(struct conn *C, const struct frame *F, const char *What) {
  if (F->N < 1 || F->P[0] != 0)
    die("%s: %s failed", C->Peer->Label, What);
}

static uint64_t call_open(struct conn *C) {
  uint64_t Seq;
  struct frame F;
  size_t At = call_begin(C, SymOpen, &Seq);
  tx_u64(C, C->Sym[SymDylibInstance]);
  tx_bytes(C, "", 0);
  tx_u64(C, 0);
  call_end(C, At);
  flush(C);
  wait_result(C, Seq, &F);
  return expect_addr(C, &F, "open");
}

static uint64_t call_reserve(struct conn *C, uint64_t Size) {
  uint64_t Seq;
  struct frame F;
  size_t At = call_begin(C, SymReserve, &Seq);
  tx_u64(C, C->Sym[SymMemInstance]);
  tx_u64(C, Size);
  call_end(C, At);
  flush(C);
  wait_result(C, Seq, &F);
  return expect_addr(C, &F, "reserve");
}

struct seg {
  unsigned char Prot;
  uint64_t Addr, Size;
  const void *Content;
  size_t ContentSize;
};

static void call_finalize(struct conn *C, const struct seg *Segs, size_t N) {
  uint64_t Seq;
  struct frame F;
  size_t At = call_begin(C, SymFinalize, &Seq);
  tx_u64(C, C->Sym[SymMemInstance]);
  tx_u64(C, N);
  for (size_t I = 0; I < N; I++) {
    tx_u8(C, Segs[I].Prot);
    tx_u64(C, Segs[I].Addr);
    tx_u64(C, Segs[I].Size);
    tx_bytes(C, Segs[I].Content, Segs[I].ContentSize);
  }
  tx_u64(C, 0); /* no actions */
  call_end(C, At);
  flush(C);
  wait_result(C, Seq, &F);
  expect_success(C, &F, "finalize");
}

static void call_deallocate(struct conn *C, uint64_t Base) {
  uint64_t Seq;
  struct frame F;
  size_t At = call_begin(C, SymDeallocate, &Seq);
  tx_u64(C, C->Sym[SymMemInstance]);
  tx_u64(C, 1);
  tx_u64(C, Base);
  call_end(C, At);
  flush(C);
  wait_result(C, Seq, &F);
  expect_success(C, &F, "deallocate");
}

/* Queue one mem_write_uint64s call of Value at Addr; returns its Seq. */
static uint64_t queue_write(struct conn *C, uint64_t Addr, uint64_t Value) {
  uint64_t Seq;
  size_t At = call_begin(C, SymWrite64, &Seq);
  tx_u64(C, 1);
  tx_u64(C, Addr);
  tx_u64(C, Value);
  call_end(C, At);
  return Seq;
}

static int32_t call_run_as_int(struct conn *C, uint64_t Fn, int32_t Arg) {
  uint64_t Seq;
  struct frame F;
  size_t At = call_begin(C, SymRunAsInt, &Seq);
  tx_u64(C, Fn);
  unsigned char *P = tx_room(C, 4);
  P[0] = (unsigned char)Arg;
  P[1] = (unsigned char)((uint32_t)Arg >> 8);
  P[2] = (unsigned char)((uint32_t)Arg >> 16);
  P[3] = (unsigned char)((uint32_t)Arg >> 24);
  C->TxLen += 4;
  call_end(C, At);
  flush(C);
  wait_result(C, Seq, &F);
  if (F.N < 4)
    die("%s: run_as_int failed", C->Peer->Label);
  return (int32_t)((uint32_t)F.P[0] | (uint32_t)F.P[1] << 8 | (uint32_t)F.P[2] << 16 |
                   (uint32_t)F.P[3] << 24);
}

/*
 * The peak resident set of the peer so far (KiB), from /proc. Not the
 * reaped child's getrusage(): Linux carries the pre-exec high-water mark
 * (here, the benchmark's own, shared while spawning) over exec.
 */
static long peak_rss(const struct conn *C) {
  char Path[64], Line[256];
  long KiB = -1;
  snprintf(Path, sizeof(Path), "/proc/%d/status", (int)C->Pid);
  FILE *F = fopen(Path, "r");
  if (!F)
    die("%s: %s", Path, strerror(errno));
  while (fgets(Line, sizeof(Line), F))
    if (sscanf(Line, "VmHWM: %ld kB", &KiB) == 1)
      break;
  fclose(F);
  if (KiB < 0)
    die("%s: no VmHWM", Path);
  return KiB;
}

/*
 * The end of a session: close the write end, wait for end of file on the
 * read end (the executor closed its out-fd) and for the exit. Returns the
 * seconds that took.
 */
static double finish(struct conn *C) {
  int Status;
  double T0 = now();
  close(C->Wr);
  for (;;) {
    ssize_t R = read(C->Rd, C->Rx, C->RxCap);
    if (R == 0)
      break;
    if (R < 0 && errno == EINTR)
      continue;
    if (R < 0)
      die("%s: read: %s", C->Peer->Label, strerror(errno));
    die("%s: unexpected bytes after the last call", C->Peer->Label);
  }
  while (waitpid(C->Pid, &Status, 0) < 0)
    if (errno != EINTR)
      die("wait4: %s", strerror(errno));
  double T = now() - T0;
  close(C->Rd);
  free(C->Rx);
  free(C->Tx);
  if (!WIFEXITED(Status) || WEXITSTATUS(Status) != 0)
    die("%s: exited with status %#x", C->Peer->Label, Status);
  return T;
}

/* ---- the measurements --------------------------------------------------- */

enum {
  MSetup,     /* ms */
  MTeardown,  /* ms */
  MRss,       /* MiB */
  MCall,      /* us */
  MInFlight,  /* us per call */
  MJit,       /* us */
  MSyscall,   /* ns per system call, in JIT'd code */
  MLookup,    /* us */
  MLookup1,   /* us: the first lookup of a session */
  MBandwidth, /* MB/s */
  NumMetrics
};

static const struct {
  const char *Name, *Unit;
  double Scale; /* from the raw unit (seconds, KiB, bytes/s) */
} Metrics[NumMetrics] = {
    [MSetup] = {"time to Setup", "ms", 1e3},
    [MTeardown] = {"teardown after EOF", "ms", 1e3},
    [MRss] = {"peak RSS, hello session", "MiB", 1.0 / 1024},
    [MCall] = {"small call, 1 at a time", "us", 1e6},
    [MInFlight] = {"small call, 32 in flight", "us/call", 1e6},
    [MJit] = {"call into JIT'd code", "us", 1e6},
    [MSyscall] = {"system call in JIT'd code", "ns", 1e9},
    [MLookup] = {"lookup of 768 names", "us", 1e6},
    [MLookup1] = {"  first lookup (one-time)", "us", 1e6},
    [MBandwidth] = {"16 MiB reserve+finalize+dealloc", "MB/s", 1e-6},
};

struct params {
  int Calls, Batches, JitCalls, SyscallRuns, Lookups, Bigs;
  double WarmUp; /* seconds of calls before the work session measures */
};

/* A hello-world session: what llvm-jitlink-19 does for hello.o. */
static void hello_session(const struct peer *P, double *Out) {
  struct conn C;
  static unsigned char RoData[88] = "Hello, world!\n";
  double T0 = now();
  spawn(&C, P);
  read_setup(&C);
  Out[MSetup] = now() - T0;

  uint64_t H = call_open(&C);
  (void)H;
  {
    /* lookup(printf), not required */
    uint64_t Seq;
    struct frame F;
    size_t At = call_begin(&C, SymLookup, &Seq);
    tx_u64(&C, C.Sym[SymDylibInstance]);
    tx_u64(&C, H);
    tx_u64(&C, 1);
    tx_bytes(&C, "printf", 6);
    tx_u8(&C, 0);
    call_end(&C, At);
    flush(&C);
    wait_result(&C, Seq, &F);
    if (F.N < 19 || F.P[0] != 1 || orcrt_wire_get_le64(F.P + 9) == 0)
      die("%s: lookup of printf failed", P->Label);
  }
  uint64_t Page = C.PageSize;
  uint64_t Base = call_reserve(&C, 2 * Page);
  struct seg Segs[2] = {{ProtR, Base, Page, RoData, sizeof(RoData)},
                        {ProtRX, Base + Page, Page, Code, sizeof(Code)}};
  call_finalize(&C, Segs, 2);
  if (call_run_as_int(&C, Base + Page, 41) != 42)
    die("%s: the JIT'd function returned a wrong value", P->Label);
  call_deallocate(&C, Base);
  Out[MRss] = (double)peak_rss(&C);
  Out[MTeardown] = finish(&C);
}

/* The lookup frame's payload: (Instance, Handle, Sequence<(String, bool)>). */
static void build_lookup(struct conn *C, uint64_t Handle, unsigned char **Frame, size_t *Size) {
  struct conn B = *C; /* the builder, on a buffer of its own */
  B.TxLen = 0;
  B.TxCap = 1 << 16;
  if (!(B.Tx = malloc(B.TxCap)))
    die("out of memory");
  uint64_t Seq;
  size_t At = call_begin(&B, SymLookup, &Seq);
  tx_u64(&B, C->Sym[SymDylibInstance]);
  tx_u64(&B, Handle);
  tx_u64(&B, NUM_NAMES);
  for (size_t I = 0; I < NUM_NAMES; I++) {
    tx_bytes(&B, BenchNames[I], strlen(BenchNames[I]));
    tx_u8(&B, 0);
  }
  call_end(&B, At);
  *Frame = B.Tx;
  *Size = B.TxLen;
}

static double do_lookup(struct conn *C, unsigned char *Frame, size_t Size) {
  struct frame F;
  uint64_t Seq = C->NextSeq++;
  orcrt_wire_put_le64(Frame + 16, Seq);
  double T0 = now();
  write_all(C, Frame, Size);
  wait_result(C, Seq, &F);
  double T = now() - T0;
  if (F.N != 9 + 10 * NUM_NAMES || F.P[0] != 1 || orcrt_wire_get_le64(F.P + 1) != NUM_NAMES)
    die("%s: the lookup failed", C->Peer->Label);
  for (size_t I = 0; I < NUM_NAMES; I++)
    if (orcrt_wire_get_le64(F.P + 9 + 10 * I) == 0)
      die("%s: %s not found", C->Peer->Label, BenchNames[I]);
  return T;
}

/* reserve + finalize (one R-- segment, all content) + deallocate of BIG_SIZE bytes. */
static double do_big(struct conn *C, unsigned char *Frame, size_t Size) {
  struct frame F;
  double T0 = now();
  uint64_t Base = call_reserve(C, BIG_SIZE);
  uint64_t Seq = C->NextSeq++;
  orcrt_wire_put_le64(Frame + 16, Seq);
  /* Payload: Instance(8) count(8) prot(1) addr(8) ... */
  orcrt_wire_put_le64(Frame + WIRE_HEADER_SIZE + 17, Base);
  write_all(C, Frame, Size);
  wait_result(C, Seq, &F);
  expect_success(C, &F, "finalize of 16 MiB");
  call_deallocate(C, Base);
  return now() - T0;
}

/* One 8-byte memory write of V at Addr, answered. */
static void small_call(struct conn *C, uint64_t Addr, uint64_t V) {
  struct frame F;
  uint64_t Seq = queue_write(C, Addr, V);
  flush(C);
  wait_result(C, Seq, &F);
  if (F.N != 0)
    die("%s: mem_write failed", C->Peer->Label);
}

static void work_session(const struct peer *P, const struct params *Pr, double *Out) {
  struct conn C;
  spawn(&C, P);
  read_setup(&C);
  uint64_t Page = C.PageSize;

  /* A finalized RW page to write into, and an R-X page with the function. */
  uint64_t Base = call_reserve(&C, 2 * Page);
  struct seg Segs[2] = {{ProtRW, Base, Page, NULL, 0},
                        {ProtRX, Base + Page, Page, Code, sizeof(Code)}};
  call_finalize(&C, Segs, 2);

  /*
   * Calls for WarmUp seconds before anything is measured: a process just
   * started runs where its parent woke it until the scheduler spreads the
   * two over the CPUs, and how soon that happens depends on what the
   * process did as it started (the sandbox compiling its filter, a shell
   * in front of the executor). Figures taken earlier measure that.
   */
  for (double End = now() + Pr->WarmUp; now() < End;)
    small_call(&C, Base + 8, 0);

  /* One at a time, after a warm-up. */
  double T0 = 0;
  for (int I = -Pr->Calls / 10; I < Pr->Calls; I++) {
    if (I == 0)
      T0 = now();
    small_call(&C, Base + 8, (uint64_t)I);
  }
  Out[MCall] = (now() - T0) / Pr->Calls;

  /* IN_FLIGHT at a time: all sent in one write, then every result read. */
  for (int B = -Pr->Batches / 10; B < Pr->Batches; B++) {
    if (B == 0)
      T0 = now();
    uint64_t First = C.NextSeq;
    uint32_t Seen = 0;
    for (int I = 0; I < IN_FLIGHT; I++)
      queue_write(&C, Base + 8 * (uint64_t)(I % 8), (uint64_t)I);
    flush(&C);
    for (int I = 0; I < IN_FLIGHT; I++) {
      struct frame F;
      read_frame(&C, &F);
      if (F.Op != WIRE_OP_RESULT || F.Seq < First || F.Seq >= First + IN_FLIGHT ||
          (Seen & (UINT32_C(1) << (F.Seq - First))) || F.N != 0)
        die("%s: bad result in flight", P->Label);
      Seen |= UINT32_C(1) << (F.Seq - First);
    }
  }
  Out[MInFlight] = (now() - T0) / ((double)Pr->Batches * IN_FLIGHT);

  for (int I = -Pr->JitCalls / 10; I < Pr->JitCalls; I++) {
    if (I == 0)
      T0 = now();
    if (call_run_as_int(&C, Base + Page, I) != I + 1)
      die("%s: the JIT'd function returned a wrong value", P->Label);
  }
  Out[MJit] = (now() - T0) / Pr->JitCalls;

  /* The echo peer runs no code: its figure is the call alone, spread over the loop's count. */
  for (int I = -1; I < Pr->SyscallRuns; I++) {
    if (I == 0)
      T0 = now();
    if (call_run_as_int(&C, Base + Page + SYSCALL_LOOP, SYSCALLS_PER_RUN) != SYSCALLS_PER_RUN + 1)
      die("%s: the JIT'd system call loop returned a wrong value", P->Label);
  }
  Out[MSyscall] = (now() - T0) / ((double)Pr->SyscallRuns * SYSCALLS_PER_RUN);
  call_deallocate(&C, Base);

  /* Lookups: the first one of the session apart (it may load libraries). */
  uint64_t H = call_open(&C);
  unsigned char *Frame;
  size_t Size;
  build_lookup(&C, H, &Frame, &Size);
  Out[MLookup1] = do_lookup(&C, Frame, Size);
  double Sum = 0;
  for (int I = 0; I < Pr->Lookups; I++)
    Sum += do_lookup(&C, Frame, Size);
  Out[MLookup] = Sum / Pr->Lookups;
  free(Frame);

  /* 16 MiB: the frame is built once; each round patches its seq and address. */
  {
    struct conn B = C;
    B.TxCap = BIG_SIZE + 4096;
    B.TxLen = 0;
    if (!(B.Tx = malloc(B.TxCap)))
      die("out of memory");
    unsigned char *Content = malloc(BIG_SIZE);
    if (!Content)
      die("out of memory");
    for (size_t I = 0; I < BIG_SIZE; I++)
      Content[I] = (unsigned char)(I * 131 + (I >> 12));
    uint64_t Seq;
    size_t At = call_begin(&B, SymFinalize, &Seq);
    tx_u64(&B, C.Sym[SymMemInstance]);
    tx_u64(&B, 1);
    tx_u8(&B, ProtR);
    tx_u64(&B, 0); /* the address, patched */
    tx_u64(&B, BIG_SIZE);
    tx_bytes(&B, Content, BIG_SIZE);
    tx_u64(&B, 0);
    call_end(&B, At);
    free(Content);
    Sum = 0;
    do_big(&C, B.Tx, B.TxLen); /* warm-up */
    for (int I = 0; I < Pr->Bigs; I++)
      Sum += do_big(&C, B.Tx, B.TxLen);
    Out[MBandwidth] = (double)BIG_SIZE * Pr->Bigs / Sum;
    free(B.Tx);
  }
  finish(&C);
}

/*
 * What placing BIG_SIZE bytes into fresh memory costs this process, without
 * any pipe: the part of a finalize that no executor avoids and the echo
 * peer never does. *MemFD: into a new memfd with pwrite() (orcrt's default
 * strategy); *Anon: memcpy() into a new anonymous mapping (LLVM's). Bytes
 * per second, each including the creation and release of the memory.
 */
static void placement_floor(double *MemFD, double *Anon) {
  static unsigned char *Content;
  if (!Content) {
    if (!(Content = malloc(BIG_SIZE)))
      die("out of memory");
    for (size_t I = 0; I < BIG_SIZE; I++)
      Content[I] = (unsigned char)(I * 131 + (I >> 12));
  }
  double T0 = now();
  int Fd = memfd_create("bench", MFD_CLOEXEC);
  if (Fd < 0 || ftruncate(Fd, BIG_SIZE) != 0)
    die("memfd: %s", strerror(errno));
  for (size_t Done = 0; Done < BIG_SIZE;) {
    ssize_t N = pwrite(Fd, Content + Done, BIG_SIZE - Done, (off_t)Done);
    if (N <= 0)
      die("pwrite: %s", strerror(errno));
    Done += (size_t)N;
  }
  close(Fd);
  *MemFD = BIG_SIZE / (now() - T0);

  T0 = now();
  void *P = mmap(NULL, BIG_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (P == MAP_FAILED)
    die("mmap: %s", strerror(errno));
  memcpy(P, Content, BIG_SIZE);
  munmap(P, BIG_SIZE);
  *Anon = BIG_SIZE / (now() - T0);
}

/* ---- the report ---------------------------------------------------------- */

static int cmp_double(const void *A, const void *B) {
  double X = *(const double *)A, Y = *(const double *)B;
  return (X > Y) - (X < Y);
}

static double median(double *V, int N) {
  double Tmp[MAX_ROUNDS];
  memcpy(Tmp, V, (size_t)N * sizeof(double));
  qsort(Tmp, (size_t)N, sizeof(double), cmp_double);
  return N % 2 ? Tmp[N / 2] : (Tmp[N / 2 - 1] + Tmp[N / 2]) / 2;
}

/* The sum of the sizes of a comma-separated list of files (bytes), or -1. */
static long long file_sizes(const char *List) {
  long long Sum = 0;
  char *Copy = strdup(List), *Save = NULL;
  if (!Copy)
    die("out of memory");
  for (char *F = strtok_r(Copy, ",", &Save); F; F = strtok_r(NULL, ",", &Save)) {
    struct stat St;
    if (stat(F, &St) != 0)
      die("%s: %s", F, strerror(errno));
    Sum += St.st_size;
  }
  free(Copy);
  return Sum;
}

/* PeerSandbox: orcrt-executor with ORCRT_SANDBOX=1, the sandbox's cost side by side. */
enum { PeerEcho, PeerOrcrt, PeerLLVM, PeerSandbox, NumPeers };

static int Passed, Missed;

static void target(const char *What, double Ratio, bool AtMost, double Limit) {
  bool Ok = AtMost ? Ratio <= Limit : Ratio >= Limit;
  printf("  %-50s %7.2fx   %s %.2fx   %s\n", What, Ratio, AtMost ? "<=" : ">=", Limit,
         Ok ? "PASS" : "MISS");
  if (Ok)
    Passed++;
  else
    Missed++;
}

/*
 * The peer that runs K-th in round R. Free figures depend on which
 * executor ran just before (it leaves the scheduler's placement of the
 * benchmark behind it), so the order is a balanced Latin square: over
 * every NumPeers rounds each peer runs in each position once and right
 * after each other peer once. Row R is 0, 1, N-1, 2, N-2, ... plus R.
 */
_Static_assert(NumPeers % 2 == 0, "a balanced Latin square of this shape needs an even order");
static int peer_at(int R, int K) {
  int First = K == 0 ? 0 : K % 2 ? (K + 1) / 2 : NumPeers - K / 2;
  return (First + R) % NumPeers;
}

enum { PlaceFree, PlacePinned, NumPlaces };
static const char *const PlaceNames[NumPlaces] = {"free", "pinned"};

/* The CPUs of each placement, and whether the pinned one runs under SCHED_FIFO. */
static cpu_set_t PlaceCpus[NumPlaces];
static bool PlaceRealtime;

/*
 * Choose the pinned placement's CPUs from List (NULL: the first CPU this
 * process may run on); the free one gets every CPU it may run on.
 * Describe the pinned choice in Out.
 */
static void choose_cpus(const char *List, char *Out, size_t Size) {
  if (sched_getaffinity(0, sizeof(PlaceCpus[PlaceFree]), &PlaceCpus[PlaceFree]) != 0)
    die("sched_getaffinity: %s", strerror(errno));
  cpu_set_t *Set = &PlaceCpus[PlacePinned];
  CPU_ZERO(Set);
  if (!List) {
    for (int C = 0; C < CPU_SETSIZE; C++)
      if (CPU_ISSET(C, &PlaceCpus[PlaceFree])) {
        CPU_SET(C, Set);
        break;
      }
  } else {
    char *Copy = strdup(List), *Save = NULL;
    if (!Copy)
      die("out of memory");
    for (char *T = strtok_r(Copy, ",", &Save); T; T = strtok_r(NULL, ",", &Save)) {
      char *End;
      long C = strtol(T, &End, 10);
      if (*End || End == T || C < 0 || C >= CPU_SETSIZE)
        die("bad CPU list: %s", List);
      CPU_SET((int)C, Set);
    }
    free(Copy);
  }
  size_t N = (size_t)snprintf(Out, Size, "pinned to CPU");
  for (int C = 0, First = 1; C < CPU_SETSIZE && N < Size; C++)
    if (CPU_ISSET(C, Set)) {
      N += (size_t)snprintf(Out + N, Size - N, "%s%d", First ? " " : ",", C);
      First = 0;
    }
}

/* Run the benchmark, and so every peer it starts from now on, in placement Pl. */
static void enter_placement(int Pl) {
  if (sched_setaffinity(0, sizeof(PlaceCpus[Pl]), &PlaceCpus[Pl]) != 0)
    die("sched_setaffinity: %s", strerror(errno));
  if (!PlaceRealtime)
    return;
  /* Inherited by every peer; the kernel still leaves other work 5% of a CPU. */
  struct sched_param Sp = {.sched_priority = Pl == PlacePinned ? 1 : 0};
  if (sched_setscheduler(0, Pl == PlacePinned ? SCHED_FIFO : SCHED_OTHER, &Sp) != 0)
    die("sched_setscheduler: %s", strerror(errno));
}

static void usage(void) {
  fputs("usage: bench --orcrt=EXE --llvm=EXE --echo=EXE [--orcrt-libdir=DIR]\n"
        "             [--size-ours=FILE,...] [--size-llvm=FILE] [-r ROUNDS] [-s SCALE]\n"
        "             [--placement=both|free|pinned] [--cpus=LIST] [--realtime]\n"
        "             [--warm-up=MS]\n"
        "             [--only=floor|orcrt|llvm|sandbox [--hello-only]]\n",
        stderr);
  exit(2);
}

int main(int argc, char **argv) {
  static const struct option Long[] = {
      {"orcrt", required_argument, NULL, 'o'},
      {"llvm", required_argument, NULL, 'l'},
      {"echo", required_argument, NULL, 'e'},
      {"orcrt-libdir", required_argument, NULL, 'L'},
      {"size-ours", required_argument, NULL, 'S'},
      {"size-llvm", required_argument, NULL, 'T'},
      {"rounds", required_argument, NULL, 'r'},
      {"scale", required_argument, NULL, 's'},
      {"only", required_argument, NULL, 'O'},
      {"hello-only", no_argument, NULL, 'H'},
      {"cpus", required_argument, NULL, 'C'},
      {"realtime", no_argument, NULL, 'R'},
      {"placement", required_argument, NULL, 'P'},
      {"warm-up", required_argument, NULL, 'W'},
      {NULL, 0, NULL, 0},
  };
  struct peer Peers[NumPeers] = {
      [PeerEcho] = {"floor", NULL, environ},
      [PeerOrcrt] = {"orcrt", NULL, environ},
      [PeerLLVM] = {"llvm", NULL, environ},
      [PeerSandbox] = {"sandbox", NULL, NULL},
  };
  const char *LibDir = NULL, *SizeOurs = NULL, *SizeLLVM = NULL;
  int Rounds = 8, Only = -1;
  bool HelloOnly = false;
  const char *Cpus = NULL;
  bool Realtime = false;
  bool Run[NumPlaces] = {true, true};
  double Scale = 1;
  int WarmUpMs = 250;
  int Opt;
  while ((Opt = getopt_long(argc, argv, "r:s:", Long, NULL)) != -1) {
    switch (Opt) {
    case 'o':
      Peers[PeerOrcrt].Exe = optarg;
      break;
    case 'l':
      Peers[PeerLLVM].Exe = optarg;
      break;
    case 'e':
      Peers[PeerEcho].Exe = optarg;
      break;
    case 'L':
      LibDir = optarg;
      break;
    case 'S':
      SizeOurs = optarg;
      break;
    case 'T':
      SizeLLVM = optarg;
      break;
    case 'r':
      Rounds = atoi(optarg);
      break;
    case 's':
      Scale = atof(optarg);
      break;
    case 'H':
      HelloOnly = true;
      break;
    case 'C':
      /* --cpus=all, the old spelling of the free placement alone */
      if (strcmp(optarg, "all") == 0)
        Run[PlacePinned] = false;
      else
        Cpus = optarg;
      break;
    case 'R':
      Realtime = true;
      break;
    case 'W':
      WarmUpMs = atoi(optarg);
      if (WarmUpMs < 0)
        usage();
      break;
    case 'P':
      if (strcmp(optarg, "both") != 0 && strcmp(optarg, PlaceNames[PlaceFree]) != 0 &&
          strcmp(optarg, PlaceNames[PlacePinned]) != 0)
        usage();
      Run[PlaceFree] = strcmp(optarg, PlaceNames[PlacePinned]) != 0;
      Run[PlacePinned] = strcmp(optarg, PlaceNames[PlaceFree]) != 0;
      break;
    case 'O':
      for (int Pi = 0; Pi < NumPeers; Pi++)
        if (strcmp(optarg, Peers[Pi].Label) == 0)
          Only = Pi;
      if (Only < 0)
        usage();
      break;
    default:
      usage();
    }
  }
  Peers[PeerSandbox].Exe = Peers[PeerOrcrt].Exe;
  for (int Pi = 0; Pi < NumPeers; Pi++)
    if (!Peers[Pi].Exe && (Only < 0 || Only == Pi))
      usage();
  if (Rounds < 1 || Rounds > MAX_ROUNDS || Scale <= 0)
    usage();
  signal(SIGPIPE, SIG_IGN);
  char Pinned[256];
  choose_cpus(Cpus, Pinned, sizeof(Pinned));
  if (Realtime && Run[PlacePinned]) {
    struct sched_param Sp = {.sched_priority = 1};
    if (sched_setscheduler(0, SCHED_FIFO, &Sp) != 0) {
      fprintf(stderr, "bench: cannot run in real time (%s): measuring without\n", strerror(errno));
    } else {
      PlaceRealtime = true;
      size_t N = strlen(Pinned);
      snprintf(Pinned + N, sizeof(Pinned) - N, ", SCHED_FIFO");
      Sp.sched_priority = 0;
      sched_setscheduler(0, SCHED_OTHER, &Sp);
    }
  }

  /*
   * In the build tree orcrt-executor finds liborcrt through LD_LIBRARY_PATH,
   * set for its own environment only (the other peers' loaders would
   * otherwise search that directory too).
   */
  char **OrcEnv = NULL;
  size_t N = 0;
  while (environ[N])
    N++;
  /* The sandbox peer's: the same with ORCRT_SANDBOX=1 (and no other ORCRT_SANDBOX). */
  OrcEnv = calloc(N + 3, sizeof(*OrcEnv));
  char **SandboxEnv = calloc(N + 3, sizeof(*SandboxEnv));
  if (!OrcEnv || !SandboxEnv)
    die("out of memory");
  size_t J = 0;
  for (size_t I = 0; I < N; I++)
    if (strncmp(environ[I], "LD_LIBRARY_PATH=", 16) != 0 &&
        strncmp(environ[I], "ORCRT_SANDBOX=", 14) != 0)
      OrcEnv[J++] = environ[I];
  if (LibDir && asprintf(&OrcEnv[J++], "LD_LIBRARY_PATH=%s", LibDir) < 0)
    die("out of memory");
  memcpy(SandboxEnv, OrcEnv, J * sizeof(*OrcEnv));
  SandboxEnv[J] = "ORCRT_SANDBOX=1";
  Peers[PeerOrcrt].Env = OrcEnv;
  Peers[PeerSandbox].Env = SandboxEnv;

  struct params Pr = {
      .Calls = (int)(2000 * Scale),
      .Batches = (int)(100 * Scale),
      .JitCalls = (int)(2000 * Scale),
      .SyscallRuns = (int)(5 * Scale),
      .Lookups = (int)(20 * Scale),
      .Bigs = (int)(4 * Scale),
      .WarmUp = WarmUpMs * 1e-3,
  };
  if (Pr.Calls < 10 || Pr.Batches < 10 || Pr.JitCalls < 10 || Pr.SyscallRuns < 1 ||
      Pr.Lookups < 1 || Pr.Bigs < 1)
    usage();

  static double Raw[NumPlaces][NumPeers][NumMetrics][MAX_ROUNDS];
  static double PlaceMemFD[MAX_ROUNDS], PlaceAnon[MAX_ROUNDS];
  if (Only >= 0) {
    /* One peer alone, for profiling it: its medians, no ratios. */
    int Pl = Run[PlaceFree] ? PlaceFree : PlacePinned;
    enter_placement(Pl);
    for (int R = 0; R < Rounds; R++) {
      double Out[NumMetrics] = {0};
      hello_session(&Peers[Only], Out);
      if (!HelloOnly)
        work_session(&Peers[Only], &Pr, Out);
      for (int M = 0; M < NumMetrics; M++)
        Raw[Pl][Only][M][R] = Out[M];
    }
    printf("%s, %s\n", Peers[Only].Label, Pl == PlaceFree ? "not pinned" : Pinned);
    for (int M = 0; M < NumMetrics; M++)
      printf("  %-33s %-8s %10.3f\n", Metrics[M].Name, Metrics[M].Unit,
             median(Raw[Pl][Only][M], Rounds) * Metrics[M].Scale);
    return 0;
  }
  fprintf(stderr, "bench: %d rounds", Rounds);
  for (int R = 0; R < Rounds; R++) {
    /* Each placement in turn, which goes first alternating; in each, the
       hello sessions of every peer, then the work sessions. */
    for (int Q = 0; Q < NumPlaces; Q++) {
      int Pl = (R + Q) % NumPlaces;
      if (!Run[Pl])
        continue;
      enter_placement(Pl);
      double Out[NumPeers][NumMetrics] = {{0}};
      for (int K = 0; K < NumPeers; K++)
        hello_session(&Peers[peer_at(R, K)], Out[peer_at(R, K)]);
      for (int K = 0; K < NumPeers; K++)
        work_session(&Peers[peer_at(R, K)], &Pr, Out[peer_at(R, K)]);
      for (int Pi = 0; Pi < NumPeers; Pi++)
        for (int M = 0; M < NumMetrics; M++)
          Raw[Pl][Pi][M][R] = Out[Pi][M];
    }
    enter_placement(PlaceFree);
    placement_floor(&PlaceMemFD[R], &PlaceAnon[R]);
    fprintf(stderr, " %d", R + 1);
  }
  fputc('\n', stderr);
  fflush(stderr);

  double Med[NumPlaces][NumPeers][NumMetrics];
  for (int Pl = 0; Pl < NumPlaces; Pl++)
    for (int Pi = 0; Pi < NumPeers; Pi++)
      for (int M = 0; M < NumMetrics; M++)
        Med[Pl][Pi][M] = Run[Pl] ? median(Raw[Pl][Pi][M], Rounds) * Metrics[M].Scale : 0;

  printf("orcrt-executor against the floor (echo peer) and llvm-jitlink-executor\n");
  printf("median of %d interleaved rounds; after %d ms of calls, %d single calls, %d x %d in\n"
         "flight, %d JIT'd calls, %d lookups and %d x 16 MiB per round; free: not pinned;\n"
         "pinned: %s\n\n",
         Rounds, WarmUpMs, Pr.Calls, Pr.Batches, IN_FLIGHT, Pr.JitCalls, Pr.Lookups, Pr.Bigs,
         Pinned);
  printf("  %-33s %-7s", "", "");
  for (int Pl = 0; Pl < NumPlaces; Pl++)
    if (Run[Pl])
      printf(" | %-61s", Pl == PlaceFree ? "free (as users run it)" : "pinned (the work itself)");
  printf("\n  %-33s %-7s", "measure", "unit");
  for (int Pl = 0; Pl < NumPlaces; Pl++)
    if (Run[Pl])
      printf(" | %7s %7s %7s %9s %9s %7s %9s", "floor", "orcrt", "llvm", "/floor", "/llvm",
             "sandbox", "sbx/orcrt");
  printf("\n");
  for (int M = 0; M < NumMetrics; M++) {
    printf("  %-33s %-7s", Metrics[M].Name, Metrics[M].Unit);
    for (int Pl = 0; Pl < NumPlaces; Pl++) {
      if (!Run[Pl])
        continue;
      /* The echo peer runs no code: it has no system call figure. */
      if (M == MSyscall)
        printf(" | %7s %7.1f %7.1f %9s", "-", Med[Pl][PeerOrcrt][M], Med[Pl][PeerLLVM][M], "-");
      else
        printf(" | %7.1f %7.1f %7.1f %8.2fx", Med[Pl][PeerEcho][M], Med[Pl][PeerOrcrt][M],
               Med[Pl][PeerLLVM][M], Med[Pl][PeerOrcrt][M] / Med[Pl][PeerEcho][M]);
      printf(" %8.2fx %7.1f %8.2fx", Med[Pl][PeerOrcrt][M] / Med[Pl][PeerLLVM][M],
             Med[Pl][PeerSandbox][M], Med[Pl][PeerSandbox][M] / Med[Pl][PeerOrcrt][M]);
    }
    printf("\n");
  }

  long long Ours = -1, Theirs = -1;
  if (SizeOurs && SizeLLVM) {
    Ours = file_sizes(SizeOurs);
    Theirs = file_sizes(SizeLLVM);
    printf("  %-33s %-7s | %7s %7.1f %7.1f %9s %8.2fx\n", "installed size, stripped", "KiB", "-",
           Ours / 1024.0, Theirs / 1024.0, "-", (double)Ours / (double)Theirs);
  }

  /* The pipe floor plus the placement floor: bytes that go through the pipe
     and then into fresh memory. */
  double MemFD = median(PlaceMemFD, Rounds), Anon = median(PlaceAnon, Rounds);
  int Head = Run[PlaceFree] ? PlaceFree : PlacePinned;
  double Placed = 1 / (1 / Med[Head][PeerEcho][MBandwidth] + 1 / (MemFD * 1e-6));
  printf("\n  16 MiB into fresh memory, no pipe: %.1f MB/s into a memfd (pwrite), %.1f MB/s into\n"
         "  anonymous memory (memcpy); the floor's pipe (%s) and then a memfd: %.1f MB/s,\n"
         "  orcrt %.2fx that\n",
         MemFD * 1e-6, Anon * 1e-6, PlaceNames[Head], Placed,
         Med[Head][PeerOrcrt][MBandwidth] / Placed);

  if (Run[PlaceFree]) {
    double(*F)[NumMetrics] = Med[PlaceFree];
    printf("\ntargets (issue 11), free\n");
    target("small call vs floor", F[PeerOrcrt][MCall] / F[PeerEcho][MCall], true, 1.5);
    target("small call vs llvm-jitlink-executor", F[PeerOrcrt][MCall] / F[PeerLLVM][MCall], true,
           0.5);
    target("32 in flight, per call, vs floor", F[PeerOrcrt][MInFlight] / F[PeerEcho][MInFlight],
           true, 2);
    target("call into JIT'd code vs llvm-jitlink-executor", F[PeerOrcrt][MJit] / F[PeerLLVM][MJit],
           true, 0.5);
    target("768-name lookup vs llvm-jitlink-executor", F[PeerOrcrt][MLookup] / F[PeerLLVM][MLookup],
           true, 0.7);
    target("16 MiB finalize bandwidth vs floor", F[PeerOrcrt][MBandwidth] / F[PeerEcho][MBandwidth],
           false, 0.8);
    target("16 MiB finalize bandwidth vs llvm-jitlink-executor",
           F[PeerOrcrt][MBandwidth] / F[PeerLLVM][MBandwidth], false, 1.3);
    target("time to Setup vs llvm-jitlink-executor", F[PeerOrcrt][MSetup] / F[PeerLLVM][MSetup],
           true, 0.5);
    target("peak RSS (hello) vs llvm-jitlink-executor", F[PeerOrcrt][MRss] / F[PeerLLVM][MRss],
           true, 0.5);
    if (Ours >= 0)
      target("installed size vs llvm-jitlink-executor", (double)Ours / (double)Theirs, true, 0.2);
  }
  if (Run[PlacePinned]) {
    double(*Pn)[NumMetrics] = Med[PlacePinned];
    printf("\ntargets (issue 11), pinned\n");
    target("small call vs floor", Pn[PeerOrcrt][MCall] / Pn[PeerEcho][MCall], true, 1.3);
    target("call into JIT'd code vs llvm-jitlink-executor",
           Pn[PeerOrcrt][MJit] / Pn[PeerLLVM][MJit], true, 0.5);
  }
  /* The sandbox's cost per call (issue 13), in each placement. */
  for (int Pl = 0; Pl < NumPlaces; Pl++) {
    if (!Run[Pl])
      continue;
    printf("\ntargets (issue 13), %s\n", PlaceNames[Pl]);
    target("small call, sandbox on vs off", Med[Pl][PeerSandbox][MCall] / Med[Pl][PeerOrcrt][MCall],
           true, 1.05);
    target("call into JIT'd code, sandbox on vs off",
           Med[Pl][PeerSandbox][MJit] / Med[Pl][PeerOrcrt][MJit], true, 1.05);
  }
  printf("\n%d passed, %d missed\n", Passed, Missed);
  return 0;
}

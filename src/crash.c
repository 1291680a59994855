/*
 * crash.c - the crash report: what a fatal signal in the process hit,
 * told on stderr before the process dies of it (orc_rt_CrashReport_install(),
 * see orcrt/supervise.h)
 *
 * Everything the handler does is async-signal-safe but for three calls it
 * makes knowingly: pthread_mutex_trylock()/unlock() on jit-ranges.c's and
 * gdb-jit.c's locks (atomic operations in glibc that never block; if the
 * lock is held, by another thread or by the interrupted code, the report
 * says it cannot tell), and the best-effort flush of stdout (see
 * flush_stdout()). The report is formatted into a buffer on the
 * alternate signal stack and written with one write(2).
 *
 * No locks: Enabled, MainAddr and Reporting are atomics, Prefix is written
 * only before the handlers are installed (and then read only by them).
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include <orcrt/memory.h>
#include <orcrt/supervise.h>

#include "crash-internal.h"
#include "gdb-jit-internal.h"
#include "jit-ranges.h"

/* The signals reported: those a bug in JIT'd code raises. */
static const struct {
  int Sig;
  const char *Name;
} Signals[] = {{SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGILL, "SIGILL"},
               {SIGFPE, "SIGFPE"},   {SIGABRT, "SIGABRT"}, {SIGTRAP, "SIGTRAP"}};

/* An alternate stack: the handler's buffer and the two lookups fit with room to spare. */
#define ALT_STACK_SIZE (128 * 1024)

static atomic_bool Enabled;
static atomic_uint_fast64_t MainAddr;
static atomic_bool Reporting;
static char Prefix[64];
static pthread_key_t StackKey;
static _Thread_local bool HasAltStack;

/* ---- formatting into a buffer (async-signal-safe) ------------------------------- */

struct out {
  char Buf[2048];
  size_t Len;
};

static void put(struct out *O, const char *S) {
  while (*S && O->Len < sizeof(O->Buf))
    O->Buf[O->Len++] = *S++;
}

static void put_hex(struct out *O, uint64_t V) {
  char T[19];
  size_t N = sizeof(T);
  T[--N] = '\0';
  do
    T[--N] = "0123456789abcdef"[V & 15];
  while ((V >>= 4) && N > 2);
  T[--N] = 'x';
  T[--N] = '0';
  put(O, &T[N]);
}

static void put_dec(struct out *O, uint64_t V) {
  char T[21];
  size_t N = sizeof(T);
  T[--N] = '\0';
  do
    T[--N] = (char)('0' + V % 10);
  while ((V /= 10) && N > 0);
  put(O, &T[N]);
}

static void put_line_start(struct out *O) {
  put(O, Prefix);
  put(O, ": ");
}

/* ---- what the signal says ------------------------------------------------------ */

static const char *signal_name(int Sig) {
  for (size_t I = 0; I < ORCRT_ARRAY_SIZE(Signals); I++)
    if (Signals[I].Sig == Sig)
      return Signals[I].Name;
  return "a signal";
}

/* Why the kernel raised Sig, or NULL if it did not say. */
static const char *signal_cause(int Sig, int Code) {
  switch (Sig) {
  case SIGSEGV:
    return Code == SEGV_MAPERR   ? "address not mapped"
           : Code == SEGV_ACCERR ? "access not permitted"
                                 : NULL;
  case SIGBUS:
    return Code == BUS_ADRALN   ? "misaligned address"
           : Code == BUS_ADRERR ? "no such physical address"
           : Code == BUS_OBJERR ? "object-specific hardware error"
                                : NULL;
  case SIGILL:
    return Code == ILL_ILLOPC   ? "illegal opcode"
           : Code == ILL_ILLOPN ? "illegal operand"
           : Code == ILL_PRVOPC ? "privileged opcode"
                                : NULL;
  case SIGFPE:
    return Code == FPE_INTDIV   ? "integer divide by zero"
           : Code == FPE_INTOVF ? "integer overflow"
           : Code == FPE_FLTDIV ? "floating-point divide by zero"
                                : NULL;
  default:
    return NULL;
  }
}

/* The interrupted code's program counter and stack pointer, 0 where unknown. */
static void registers(const void *Uctx, uint64_t *Pc, uint64_t *Sp) {
  const ucontext_t *U = Uctx;
  *Pc = *Sp = 0;
  if (!U)
    return;
#if defined(__x86_64__)
  *Pc = (uint64_t)U->uc_mcontext.gregs[REG_RIP];
  *Sp = (uint64_t)U->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  *Pc = U->uc_mcontext.pc;
  *Sp = U->uc_mcontext.sp;
#endif
}

/*
 * The 8 bytes at A, read by the kernel (process_vm_readv() fails with
 * EFAULT where a load would fault), into *V. Whether they could be read.
 */
static bool read_word(uint64_t A, uint64_t *V) {
  struct iovec Local = {V, sizeof(*V)}, Remote = {(void *)(uintptr_t)A, sizeof(*V)};
  return A && process_vm_readv(getpid(), &Local, 1, &Remote, 1, 0) == (ssize_t)sizeof(*V);
}

/* ---- where an address lies --------------------------------------------------------- */

static void put_prot(struct out *O, uint8_t Prot) {
  char P[4] = {(Prot & orc_rt_MemProt_Read) ? 'R' : '-', (Prot & orc_rt_MemProt_Write) ? 'W' : '-',
               (Prot & orc_rt_MemProt_Exec) ? 'X' : '-', '\0'};
  put(O, P);
}

/* The nearest JIT'd symbol at or below A in the segment [RunStart, RunEnd). */
static void put_symbol(struct out *O, uint64_t A, uint64_t RunStart, uint64_t RunEnd) {
  struct orcrt_gdb_jit_symbol Sym;
  memset(&Sym, 0, sizeof(Sym));
  int Named = orcrt_gdb_jit_symbolize_nonblocking(A, &Sym);
  uint64_t Main = atomic_load(&MainAddr);
  if (Named == 1) {
    put(O, Sym.Contains ? ", in " : ", after ");
    put(O, Sym.Name);
    put(O, "+");
    put_hex(O, A - Sym.Addr);
  } else if (Main && Main >= RunStart && Main <= A && A < RunEnd) {
    /* Only the entry point is known: the crash may be in a function main called. */
    put(O, ", at main+");
    put_hex(O, A - Main);
    put(O, " or in a function after it (main is the only symbol known there)");
  } else {
    put(O, Named < 0 ? ", no symbol (the debug objects' lock is held)" : ", no JIT'd symbol known");
  }
}

/* Where A lies, for a line of the report. */
static void put_where(struct out *O, uint64_t A) {
  struct orcrt_ranges_where W;
  int In = orcrt_ranges_where_nonblocking(A, &W);
  if (In < 0) {
    put(O, "cannot tell whether it is JIT memory (the registry's lock is held)");
    return;
  }
  if (In == 0) {
    put(O, "not JIT memory");
    return;
  }
  if (!W.InRun) {
    put(O, "in JIT memory reserved at ");
    put_hex(O, W.RangeStart);
    put(O, ", outside any segment");
    return;
  }
  put(O, (W.Prot & orc_rt_MemProt_Exec) ? "in JIT'd code" : "in JIT'd data");
  put_symbol(O, A, W.RunStart, W.RunEnd);
  put(O, ", ");
  put_hex(O, A - W.RunStart);
  put(O, " bytes into the ");
  put_prot(O, W.Prot);
  put(O, " segment of the allocation at ");
  put_hex(O, W.Allocation);
  if (W.Releasing)
    put(O, " (being released)");
}

/* A line of the report: What, A, Sep, where A lies, Note. */
static void put_where_line(struct out *O, const char *What, uint64_t A, const char *Sep,
                           const char *Note) {
  put_line_start(O);
  put(O, What);
  put_hex(O, A);
  put(O, Sep);
  put_where(O, A);
  put(O, Note);
  put(O, "\n");
}

/* ---- the handler ------------------------------------------------------------------- */

/*
 * Best effort, and why it is safe enough: fflush() is not async-signal-safe
 * because it takes the stream's lock. Taking it only if it is free
 * (ftrylockfile()) means the handler never waits for a thread that is
 * inside stdio. glibc's stream lock is recursive, though: if this thread
 * crashed inside stdio, the lock is granted and the flush may meet a
 * half-updated buffer (and crash again, which then kills the process by
 * the default disposition; the report was written before). Output written
 * with std::cout goes through stdout (the streams are synchronised with
 * stdio), so this flushes it too.
 */
static bool flush_stdout(void) {
  if (ftrylockfile(stdout) != 0)
    return false;
  fflush_unlocked(stdout);
  funlockfile(stdout);
  return true;
}

static void on_fatal_signal(int Sig, siginfo_t *Info, void *Uctx) {
  /* SA_RESETHAND has made the disposition the default already. A second
     thread that crashes while the first reports dies of it at once. */
  if (atomic_exchange(&Reporting, true))
    return;
  int SavedErrno = errno;
  uint64_t Pc, Sp, Addr = (uint64_t)(uintptr_t)Info->si_addr;
  registers(Uctx, &Pc, &Sp);
  bool FromKernel = Info->si_code > 0;
  bool HasAddr = FromKernel && Sig != SIGABRT && Sig != SIGTRAP;

  struct out O;
  O.Len = 0;
  put_line_start(&O);
  put(&O, "fatal signal ");
  put(&O, signal_name(Sig));
  put(&O, " (");
  put_dec(&O, (uint64_t)Sig);
  const char *Cause = FromKernel ? signal_cause(Sig, Info->si_code) : NULL;
  if (Cause) {
    put(&O, ", ");
    put(&O, Cause);
  }
  if (!FromKernel && Info->si_pid == getpid()) {
    put(&O, ", raised by the process itself");
  } else if (!FromKernel) {
    put(&O, ", sent by process ");
    put_dec(&O, (uint64_t)Info->si_pid);
  }
  put(&O, ")");
  if (HasAddr) {
    put(&O, " at address ");
    put_hex(&O, Addr);
  }
  put(&O, "\n");
  if (Pc)
    put_where_line(&O, "  pc ", Pc, ": ", "");
  if (HasAddr && Addr != Pc)
    put_where_line(&O, "  address ", Addr, ": ",
                   Sig == SIGSEGV && Sp && Addr < Sp + 65536 && Addr + 65536 > Sp
                       ? " (next to the stack pointer: a stack overflow?)"
                       : "");
#if defined(__x86_64__)
  /* A call through a bad pointer: the return address is on top of the stack. */
  uint64_t Ret;
  if (HasAddr && Pc == Addr && read_word(Sp, &Ret))
    put_where_line(&O, "  called from ", Ret, "?: ", "");
#endif
  ssize_t Ignored = write(STDERR_FILENO, O.Buf, O.Len);
  bool Flushed = flush_stdout();
  O.Len = 0;
  put_line_start(&O);
  put(&O, Flushed ? "flushed stdout; " : "stdout not flushed (its lock is held); ");
  put(&O, "ending by ");
  put(&O, signal_name(Sig));
  put(&O, "\n");
  Ignored = write(STDERR_FILENO, O.Buf, O.Len);
  (void)Ignored;
  errno = SavedErrno;
  /* A fault happens again on return, now with the default action (a core
     dump shows the real state); a sent signal is sent again, delivered
     once the handler returns. */
  if (!FromKernel || Sig == SIGABRT || Sig == SIGTRAP)
    raise(Sig);
}

/* ---- alternate stacks ---------------------------------------------------------------- */

static void free_alt_stack(void *Mem) {
  stack_t Off = {.ss_flags = SS_DISABLE};
  sigaltstack(&Off, NULL);
  munmap(Mem, ALT_STACK_SIZE);
}

/* Give this thread an alternate signal stack unless it has one. 0 or an errno value. */
static int alt_stack(void) {
  stack_t Old;
  if (HasAltStack)
    return 0;
  if (sigaltstack(NULL, &Old) == 0 && !(Old.ss_flags & SS_DISABLE)) {
    HasAltStack = true; /* someone else's, e.g. a sanitizer's */
    return 0;
  }
  void *Mem =
      mmap(NULL, ALT_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (Mem == MAP_FAILED)
    return errno;
  stack_t New = {.ss_sp = Mem, .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
  int Err = sigaltstack(&New, NULL) == 0 ? pthread_setspecific(StackKey, Mem) : errno;
  if (Err) {
    stack_t Off = {.ss_flags = SS_DISABLE};
    sigaltstack(&Off, NULL);
    munmap(Mem, ALT_STACK_SIZE);
    return Err;
  }
  HasAltStack = true;
  return 0;
}

void orcrt_crash_prepare_thread(void) {
  if (atomic_load(&Enabled))
    alt_stack(); /* without one, only a stack overflow goes unreported */
}

void orcrt_crash_note_main(orc_rt_ExecutorAddr Addr) {
  atomic_store(&MainAddr, Addr);
}

/* ---- public ---------------------------------------------------------------------------- */

static pthread_once_t KeyOnce = PTHREAD_ONCE_INIT;
static int KeyErr;

static void make_key(void) {
  KeyErr = pthread_key_create(&StackKey, free_alt_stack);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_CrashReport_install(const char *ProgramName) {
  pthread_once(&KeyOnce, make_key);
  if (KeyErr)
    return orc_rt_Error_fromErrno(KeyErr, "cannot report crashes");
  if (atomic_load(&Enabled))
    return orc_rt_Error_create("crash reports are already installed");
  snprintf(Prefix, sizeof(Prefix), "%s", ProgramName && *ProgramName ? ProgramName : "orcrt");
  int Err = alt_stack();
  if (Err)
    return orc_rt_Error_fromErrno(Err, "cannot make an alternate signal stack");
  struct sigaction Act;
  memset(&Act, 0, sizeof(Act));
  Act.sa_sigaction = on_fatal_signal;
  Act.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&Act.sa_mask);
  for (size_t I = 0; I < ORCRT_ARRAY_SIZE(Signals); I++)
    if (sigaction(Signals[I].Sig, &Act, NULL) != 0)
      return orc_rt_Error_fromErrno(errno, "cannot handle %s", Signals[I].Name);
  atomic_store(&Enabled, true);
  return NULL;
}

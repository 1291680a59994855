/*
 * trace.c - formatting the lines of a Session's debug trace (trace.h)
 *
 * Locks: none of its own; orcrt_trace_addr() reads the Session's symbol
 * table, which is fixed once the Session is attached, and asks the
 * registry and the debugger registrar (gdb-jit.c, without waiting for its
 * lock: a name is left out rather than waited for).
 */
#include "orcrt-internal.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gdb-jit-internal.h"
#include "jit-ranges.h"
#include "trace.h"

static void trace_vprintf(struct orcrt_trace_text *T, const char *Fmt, va_list Ap) {
  size_t Room = sizeof(T->Buf) - T->Len;
  if (Room <= 1)
    return;
  int N = vsnprintf(T->Buf + T->Len, Room, Fmt, Ap);
  if (N < 0)
    return;
  if ((size_t)N < Room) {
    T->Len += (size_t)N;
    return;
  }
  /* Truncated: say so at the end of the full buffer. */
  T->Len = sizeof(T->Buf) - 1;
  memcpy(T->Buf + T->Len - 3, "...", 3);
}

void orcrt_trace_printf(struct orcrt_trace_text *T, const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  trace_vprintf(T, Fmt, Ap);
  va_end(Ap);
}

void orcrt_trace_size(struct orcrt_trace_text *T, uint64_t Bytes) {
  static const char *const Units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (Bytes < 1024) {
    orcrt_trace_printf(T, "%" PRIu64 " B", Bytes);
    return;
  }
  double V = (double)Bytes / 1024;
  size_t U = 0;
  while (V >= 1024 && U + 1 < ORCRT_ARRAY_SIZE(Units)) {
    V /= 1024;
    U++;
  }
  /* Whole numbers of units as such ("12 KiB"), else one decimal below ten. */
  if (V >= 10 || V == (double)(uint64_t)V)
    orcrt_trace_printf(T, "%.0f %s", V, Units[U]);
  else
    orcrt_trace_printf(T, "%.1f %s", V, Units[U]);
}

void orcrt_trace_duration(struct orcrt_trace_text *T, uint64_t Ns) {
  if (Ns < 1000)
    orcrt_trace_printf(T, "%" PRIu64 " ns", Ns);
  else if (Ns < 1000000)
    orcrt_trace_printf(T, "%" PRIu64 " µs", Ns / 1000);
  else if (Ns < 10000000)
    orcrt_trace_printf(T, "%.1f ms", (double)Ns / 1e6);
  else if (Ns < 1000000000)
    orcrt_trace_printf(T, "%" PRIu64 " ms", Ns / 1000000);
  else
    orcrt_trace_printf(T, "%.2f s", (double)Ns / 1e9);
}

void orcrt_trace_name(struct orcrt_trace_text *T, const char *Name, size_t Size) {
  enum { NAME_MAX_SHOWN = 64 };
  size_t Shown = Size < NAME_MAX_SHOWN ? Size : NAME_MAX_SHOWN;
  for (size_t I = 0; I < Shown; I++) {
    unsigned char C = (unsigned char)Name[I];
    if (C >= 0x20 && C != 0x7f)
      orcrt_trace_printf(T, "%c", C);
    else
      orcrt_trace_printf(T, "\\x%02x", C);
  }
  if (Shown < Size)
    orcrt_trace_printf(T, "...");
}

void orcrt_trace_addr(struct orcrt_trace_text *T, orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  size_t Count = 0;
  const orc_rt_BootstrapSymbol *Syms = orc_rt_Session_getBootstrapSymbols(S, &Count);
  for (size_t I = 0; I < Count; I++)
    if (Syms[I].Addr == Addr) {
      orcrt_trace_printf(T, "%s", Syms[I].Name);
      return;
    }
  if (orcrt_ranges_is_jit_memory(Addr, 1)) {
    /* Named only if a debug object describes it (LLVM registers one for code with -g). */
    struct orcrt_gdb_jit_symbol Sym;
    bool Named = orcrt_gdb_jit_symbolize_nonblocking(Addr, &Sym) == 1 &&
                 (Sym.Addr == Addr || Sym.Contains);
    if (Named && Sym.Addr == Addr)
      orcrt_trace_printf(T, "%s (JIT'd)", Sym.Name);
    else if (Named)
      orcrt_trace_printf(T, "%s+%#" PRIx64 " (JIT'd)", Sym.Name, Addr - Sym.Addr);
    else
      orcrt_trace_printf(T, "0x%" PRIx64 " (JIT'd)", Addr);
    return;
  }
  Dl_info Info;
  void *P = orc_rt_ExecutorAddr_toPtr(Addr);
  if (P && dladdr(P, &Info) && Info.dli_sname && Info.dli_saddr) {
    uintptr_t Off = (uintptr_t)P - (uintptr_t)Info.dli_saddr;
    if (Off)
      orcrt_trace_printf(T, "%s+%#" PRIxPTR, Info.dli_sname, Off);
    else
      orcrt_trace_printf(T, "%s", Info.dli_sname);
    return;
  }
  orcrt_trace_printf(T, "0x%" PRIx64, Addr);
}

uint64_t orcrt_trace_now(void) {
  struct timespec Ts;
  clock_gettime(CLOCK_MONOTONIC, &Ts);
  uint64_t Ns = (uint64_t)Ts.tv_sec * 1000000000u + (uint64_t)Ts.tv_nsec;
  return Ns ? Ns : 1;
}

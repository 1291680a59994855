/*
 * trace-names.c - naming an address in a Session's debug trace: a bootstrap
 * symbol, a JIT'd symbol from a registered debug object, or a symbol of a
 * loaded library
 *
 * Locks: none of its own; it reads the Session's symbol table, which is
 * fixed once the Session is attached, and asks the registry and the
 * debugger registrar (gdb-jit.c, without waiting for its lock: a name is
 * left out rather than waited for).
 */
#include "orcrt-internal.h"

#include <dlfcn.h>
#include <inttypes.h>

#include "gdb-jit-internal.h"
#include "jit-ranges.h"
#include "session-internal.h"
#include "trace.h"

void orcrt_trace_addr(struct orcrt_trace_text *T, orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  const char *Name = orcrt_session_name_of(S, Addr);
  if (Name) {
    orcrt_trace_printf(T, "%s", Name);
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

/*
 * gdb-jit.c - the GDB JIT interface, so a debugger sees JIT'd code
 *
 * A debugger that supports the interface finds __jit_debug_descriptor and
 * __jit_debug_register_code by name, puts a breakpoint on the function and,
 * each time it is hit, reads the entry named by the descriptor. There is one
 * descriptor per process; this file owns it.
 *
 * This file knows no memory Service: it asks jit-ranges.c whether a debug
 * object is readable, and removes the entries inside memory being released
 * as one of its release observers (registered before the first
 * registration). The LLVM entry point that decodes the wire arguments is in
 * llvm19/bootstrap.c.
 *
 * Locks. GDBLock guards the descriptor and its list of entries, and every
 * call of __jit_debug_register_code(). A registration checks readability
 * (jit-ranges.c's lock, taken under GDBLock) and links its entry under one
 * hold of GDBLock; the observers take GDBLock with no other lock held.
 */
#include "orcrt-internal.h"

#include <elf.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include <orcrt/bootstrap.h>

#include "gdb-jit-internal.h"
#include "jit-ranges.h"

ORC_RT_EXPORT orc_rt_JITDescriptor __jit_debug_descriptor = {1, orc_rt_JITAction_NoAction, NULL,
                                                             NULL};

/*
 * Kept out of line, and not optimised away, although empty: the debugger's
 * breakpoint sits on it.
 */
ORC_RT_EXPORT __attribute__((noinline, used)) void __jit_debug_register_code(void) {
  __asm__ volatile("" ::: "memory");
}

static pthread_mutex_t GDBLock = PTHREAD_MUTEX_INITIALIZER; /* guards the descriptor */
static pthread_once_t ObserveOnce = PTHREAD_ONCE_INIT;

static void observe(void);

/* Tell the debugger about E with Action. GDBLock held. */
static void notify(orc_rt_JITCodeEntry *E, uint32_t Action) {
  __jit_debug_descriptor.RelevantEntry = E;
  __jit_debug_descriptor.ActionFlag = Action;
  __jit_debug_register_code();
  __jit_debug_descriptor.ActionFlag = orc_rt_JITAction_NoAction;
}

orc_rt_ErrorRef orcrt_gdb_jit_register(orc_rt_ExecutorAddrRange R, bool AutoRegister) {
  orc_rt_ErrorRef Err = NULL;
  pthread_once(&ObserveOnce, observe);
  pthread_mutex_lock(&GDBLock);
  for (orc_rt_JITCodeEntry *E = __jit_debug_descriptor.FirstEntry; E && !Err; E = E->NextEntry)
    if (orc_rt_ExecutorAddr_fromPtr(E->SymfileAddr) == R.Start)
      Err = orc_rt_Error_create("Debug object at 0x%" PRIx64 " is already registered", R.Start);
  /* Checked under the lock, so that a deallocation's purge cannot miss the entry. */
  if (!Err &&
      (R.Start == 0 || R.End <= R.Start || !orcrt_ranges_is_readable(R.Start, R.End - R.Start)))
    Err = orc_rt_Error_create(
        "Debug object 0x%" PRIx64 " -- 0x%" PRIx64 " is not in readable memory", R.Start, R.End);
  orc_rt_JITCodeEntry *E = Err ? NULL : calloc(1, sizeof(*E));
  if (!Err && !E)
    Err = orc_rt_Error_create("out of memory");
  if (!Err) {
    E->SymfileAddr = orc_rt_ExecutorAddr_toPtr(R.Start);
    E->SymfileSize = R.End - R.Start;
    E->NextEntry = __jit_debug_descriptor.FirstEntry;
    if (E->NextEntry)
      E->NextEntry->PrevEntry = E;
    __jit_debug_descriptor.FirstEntry = E;
    if (AutoRegister)
      notify(E, orc_rt_JITAction_Register);
    else
      __jit_debug_descriptor.RelevantEntry = E;
  }
  pthread_mutex_unlock(&GDBLock);
  return Err;
}

/* Unlink E, tell the debugger, free it. GDBLock held. */
static void deregister_entry(orc_rt_JITCodeEntry *E) {
  if (E->PrevEntry)
    E->PrevEntry->NextEntry = E->NextEntry;
  else
    __jit_debug_descriptor.FirstEntry = E->NextEntry;
  if (E->NextEntry)
    E->NextEntry->PrevEntry = E->PrevEntry;
  notify(E, orc_rt_JITAction_Unregister);
  if (__jit_debug_descriptor.RelevantEntry == E)
    __jit_debug_descriptor.RelevantEntry = NULL;
  free(E);
}

/* Deregister every entry for which Match(Addr, Size, Start, End) holds. */
static size_t purge_if(bool (*Match)(orc_rt_ExecutorAddr, uint64_t, orc_rt_ExecutorAddr,
                                     orc_rt_ExecutorAddr),
                       orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  size_t N = 0;
  pthread_mutex_lock(&GDBLock);
  orc_rt_JITCodeEntry *E = __jit_debug_descriptor.FirstEntry;
  while (E) {
    orc_rt_JITCodeEntry *Next = E->NextEntry;
    if (Match(orc_rt_ExecutorAddr_fromPtr(E->SymfileAddr), E->SymfileSize, Start, End)) {
      deregister_entry(E);
      N++;
    }
    E = Next;
  }
  pthread_mutex_unlock(&GDBLock);
  return N;
}

static bool starts_in(orc_rt_ExecutorAddr Addr, uint64_t Size, orc_rt_ExecutorAddr Start,
                      orc_rt_ExecutorAddr End) {
  (void)Size;
  return Addr >= Start && Addr < End;
}

static bool outside_jit_memory(orc_rt_ExecutorAddr Addr, uint64_t Size, orc_rt_ExecutorAddr Start,
                               orc_rt_ExecutorAddr End) {
  (void)Start;
  (void)End;
  return !orcrt_ranges_is_jit_memory(Addr, Size);
}

static size_t released(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  return purge_if(starts_in, Start, End);
}

static size_t orphaned(void) {
  return purge_if(outside_jit_memory, 0, 0);
}

static void observe(void) {
  /* Debug objects have no deregistration of their own: dropping them is routine. */
  static const struct orcrt_ranges_observer Observer = {released, orphaned, "debug object(s)",
                                                        orc_rt_LogLevel_Debug};
  orcrt_ranges_observe(&Observer);
}

/* ---- symbols for a crash report (in a signal handler) ---------------------------- */

/* Whether [Off, Off + Len) lies inside Size bytes. */
static bool inside(uint64_t Off, uint64_t Len, uint64_t Size) {
  return Off <= Size && Len <= Size - Off;
}

/*
 * The best symbol for Addr in the 64-bit ELF object of Size bytes at Obj,
 * into *Out if it is nearer than what *Out holds (Out->Addr, 0 for none).
 * Every offset is checked against Size: the object is what the controller
 * wrote.
 */
static void symbolize_object(const unsigned char *Obj, uint64_t Size, uint64_t Addr,
                             struct orcrt_gdb_jit_symbol *Out, bool *Found) {
  const Elf64_Ehdr *Eh = (const Elf64_Ehdr *)Obj;
  if (Size < sizeof(*Eh) || Eh->e_ident[EI_MAG0] != ELFMAG0 || Eh->e_ident[EI_MAG1] != ELFMAG1 ||
      Eh->e_ident[EI_MAG2] != ELFMAG2 || Eh->e_ident[EI_MAG3] != ELFMAG3 ||
      Eh->e_ident[EI_CLASS] != ELFCLASS64 || Eh->e_shentsize != sizeof(Elf64_Shdr) ||
      !inside(Eh->e_shoff, (uint64_t)Eh->e_shnum * sizeof(Elf64_Shdr), Size) ||
      Eh->e_shoff % _Alignof(Elf64_Shdr))
    return;
  const Elf64_Shdr *Sh = (const Elf64_Shdr *)(Obj + Eh->e_shoff);
  for (unsigned I = 0; I < Eh->e_shnum; I++) {
    const Elf64_Shdr *Tab = &Sh[I];
    if (Tab->sh_type != SHT_SYMTAB || Tab->sh_link >= Eh->e_shnum ||
        !inside(Tab->sh_offset, Tab->sh_size, Size) || Tab->sh_offset % _Alignof(Elf64_Sym))
      continue;
    const Elf64_Shdr *Str = &Sh[Tab->sh_link];
    if (!inside(Str->sh_offset, Str->sh_size, Size))
      continue;
    const Elf64_Sym *Syms = (const Elf64_Sym *)(Obj + Tab->sh_offset);
    const char *Names = (const char *)(Obj + Str->sh_offset);
    for (uint64_t J = 0; J < Tab->sh_size / sizeof(Elf64_Sym); J++) {
      const Elf64_Sym *Sym = &Syms[J];
      unsigned Type = ELF64_ST_TYPE(Sym->st_info);
      if ((Type != STT_FUNC && Type != STT_OBJECT && Type != STT_NOTYPE) || Sym->st_name == 0 ||
          Sym->st_name >= Str->sh_size || Sym->st_shndx == SHN_UNDEF ||
          Sym->st_shndx >= Eh->e_shnum)
        continue;
      const Elf64_Shdr *Sec = &Sh[Sym->st_shndx];
      /* The plugin wrote each section's load address; a section never loaded has none. */
      if (!(Sec->sh_flags & SHF_ALLOC) || Sec->sh_addr == 0 || Addr < Sec->sh_addr ||
          Addr - Sec->sh_addr >= Sec->sh_size)
        continue;
      uint64_t Start = Eh->e_type == ET_REL ? Sec->sh_addr + Sym->st_value : Sym->st_value;
      if (Start > Addr || (*Found && Start <= Out->Addr))
        continue;
      *Found = true;
      Out->Addr = Start;
      Out->Contains = Addr - Start < Sym->st_size;
      size_t K = 0;
      for (const char *N = Names + Sym->st_name;
           K + 1 < sizeof(Out->Name) && (uint64_t)(N - Names) < Str->sh_size && *N; N++)
        Out->Name[K++] = *N;
      Out->Name[K] = '\0';
    }
  }
}

int orcrt_gdb_jit_symbolize_nonblocking(orc_rt_ExecutorAddr Addr,
                                        struct orcrt_gdb_jit_symbol *Out) {
  bool Found = false;
  if (pthread_mutex_trylock(&GDBLock) != 0)
    return -1;
  for (orc_rt_JITCodeEntry *E = __jit_debug_descriptor.FirstEntry; E; E = E->NextEntry)
    symbolize_object((const unsigned char *)E->SymfileAddr, E->SymfileSize, Addr, Out, &Found);
  pthread_mutex_unlock(&GDBLock);
  return Found ? 1 : 0;
}

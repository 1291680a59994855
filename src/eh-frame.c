/*
 * eh-frame.c - registering JIT'd unwind info with the unwinder
 *
 * LLVM's controllers hand the executor whole .eh_frame sections; on Linux
 * they go to libgcc's __register_frame, which walks the section up to its
 * zero terminator. libgcc aborts when asked to deregister something it does
 * not know, so every registration is kept in a registry and deregistration
 * is checked against it first. The unwinder is the process's, and so is the
 * registry.
 *
 * This file knows no memory Service: it asks jit-ranges.c whether a
 * section is readable, and drops the sections inside memory being released
 * as one of its release observers (registered before the first
 * registration). The LLVM entry points that decode the wire arguments are
 * in llvm19/bootstrap.c.
 *
 * Locks. EHLock guards Sections and every call into the unwinder. A
 * registration checks readability (jit-ranges.c's lock, taken under
 * EHLock) and inserts under one hold of EHLock; the observers take EHLock
 * with no other lock held.
 */
#include "orcrt-internal.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "eh-frame-internal.h"
#include "jit-ranges.h"

struct eh_section {
  orc_rt_ExecutorAddr Start, End;
  struct eh_section *Next;
};

static pthread_mutex_t EHLock = PTHREAD_MUTEX_INITIALIZER;
static struct eh_section *Sections; /* guarded by EHLock */

static pthread_once_t UnwinderOnce = PTHREAD_ONCE_INIT; /* find_unwinder() and observe() */
static void (*RegisterFrame)(const void *);
static void (*DeregisterFrame)(const void *);

/*
 * Find libgcc's entry points, loading libgcc_s if the process does not have
 * it yet (the reference is kept for the life of the process: frames stay
 * registered in it). JIT'd C++ resolves its unwinder to the same library.
 */
static void find_unwinder(void) {
  void *R = dlsym(RTLD_DEFAULT, "__register_frame");
  void *D = dlsym(RTLD_DEFAULT, "__deregister_frame");
  if (!R || !D) {
    void *H = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (H) {
      R = dlsym(H, "__register_frame");
      D = dlsym(H, "__deregister_frame");
    }
  }
  if (R && D) {
    RegisterFrame = (void (*)(const void *))(uintptr_t)R;
    DeregisterFrame = (void (*)(const void *))(uintptr_t)D;
  }
}

static void find_unwinder_and_observe(void);

static uint32_t read_u32(uint64_t Addr) {
  uint32_t V;
  memcpy(&V, (const void *)(uintptr_t)Addr, sizeof(V));
  return V;
}

/*
 * Whether a record of the section starting at Start begins at Cie, before
 * the record at P, and is a CIE. The records before P were checked.
 */
static bool is_cie_before(uint64_t Start, uint64_t P, uint64_t Cie) {
  for (uint64_t Q = Start; Q < P && Q <= Cie; Q += 4 + read_u32(Q))
    if (Q == Cie)
      return read_u32(Q + 4) == 0;
  return false;
}

/*
 * Check that [Start, End) is readable and that its CIE/FDE records end
 * inside it at a zero terminator, or exactly at End with a zero word right
 * after it, since libgcc reads until it finds one. libgcc trusts what it
 * walks: it knows no 64-bit lengths, and follows an FDE's CIE pointer
 * wherever it leads, so both are checked here rather than crash the next
 * unwind.
 */
static orc_rt_ErrorRef check_section(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  if (Start == 0 || End <= Start)
    return orc_rt_Error_create("Invalid EH frame section range 0x%" PRIx64 " -- 0x%" PRIx64, Start,
                               End);
  if (!orcrt_ranges_is_readable(Start, End - Start))
    return orc_rt_Error_create(
        "EH frame section 0x%" PRIx64 " -- 0x%" PRIx64 " is not in readable memory", Start, End);
  uint64_t P = Start, LastCie = 0;
  while (P < End) {
    if (End - P < 4)
      break;
    uint64_t Len = read_u32(P);
    if (Len == 0)
      return NULL;
    if (Len == 0xffffffffu)
      return orc_rt_Error_create("EH frame section 0x%" PRIx64 " -- 0x%" PRIx64
                                 ": record at 0x%" PRIx64
                                 " has a 64-bit length, which the unwinder does not support",
                                 Start, End, P);
    if (Len > End - P - 4)
      return orc_rt_Error_create("EH frame section 0x%" PRIx64 " -- 0x%" PRIx64
                                 ": record at 0x%" PRIx64 " overruns it",
                                 Start, End, P);
    if (Len < 4)
      return orc_rt_Error_create("EH frame section 0x%" PRIx64 " -- 0x%" PRIx64
                                 ": record at 0x%" PRIx64 " is too short for its CIE id",
                                 Start, End, P);
    /* A CIE has id 0; an FDE's id is the distance back from the id to its CIE. */
    uint64_t Id = read_u32(P + 4);
    if (Id == 0)
      LastCie = P;
    else if (Id > P + 4 - Start || (P + 4 - Id != LastCie && !is_cie_before(Start, P, P + 4 - Id)))
      return orc_rt_Error_create("EH frame section 0x%" PRIx64 " -- 0x%" PRIx64
                                 ": the FDE at 0x%" PRIx64 " does not point to a CIE before it",
                                 Start, End, P);
    P += 4 + Len;
  }
  if (P == End && orcrt_ranges_is_readable(End, 4) && read_u32(End) == 0)
    return NULL;
  return orc_rt_Error_create(
      "EH frame section 0x%" PRIx64 " -- 0x%" PRIx64 " has no zero terminator", Start, End);
}

orc_rt_ErrorRef orcrt_eh_frame_register(orc_rt_ExecutorAddrRange R) {
  orc_rt_ErrorRef Err = NULL;
  pthread_once(&UnwinderOnce, find_unwinder_and_observe);
  pthread_mutex_lock(&EHLock);
  for (struct eh_section *E = Sections; E && !Err; E = E->Next)
    if (E->Start < R.End && R.Start < E->End)
      Err = orc_rt_Error_create("EH frame section 0x%" PRIx64 " -- 0x%" PRIx64
                                " overlaps the registered section 0x%" PRIx64 " -- 0x%" PRIx64,
                                R.Start, R.End, E->Start, E->End);
  /* Checked under the lock: a deallocation's purge then sees the entry or we see no memory. */
  if (!Err)
    Err = check_section(R.Start, R.End);
  if (!Err && !RegisterFrame)
    Err = orc_rt_Error_create("Cannot register EH frames: __register_frame not found");
  struct eh_section *E = Err ? NULL : malloc(sizeof(*E));
  if (!Err && !E)
    Err = orc_rt_Error_create("out of memory");
  if (!Err) {
    RegisterFrame((const void *)(uintptr_t)R.Start);
    E->Start = R.Start;
    E->End = R.End;
    E->Next = Sections;
    Sections = E;
  }
  pthread_mutex_unlock(&EHLock);
  return Err;
}

/* Deregister and free the entry *Link points at. EHLock held. */
static void unlink_section(struct eh_section **Link) {
  struct eh_section *E = *Link;
  DeregisterFrame((const void *)(uintptr_t)E->Start);
  *Link = E->Next;
  free(E);
}

orc_rt_ErrorRef orcrt_eh_frame_deregister(orc_rt_ExecutorAddrRange R) {
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&EHLock);
  struct eh_section **Link = &Sections;
  while (*Link && ((*Link)->Start != R.Start || (*Link)->End != R.End))
    Link = &(*Link)->Next;
  if (*Link)
    unlink_section(Link);
  else
    Err = orc_rt_Error_create("No EH frame section registered at 0x%" PRIx64 " -- 0x%" PRIx64,
                              R.Start, R.End);
  pthread_mutex_unlock(&EHLock);
  return Err;
}

/* Deregister every section E for which Match(E, Start, End) holds; how many. */
static size_t purge_if(bool (*Match)(const struct eh_section *, orc_rt_ExecutorAddr,
                                     orc_rt_ExecutorAddr),
                       orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  size_t N = 0;
  pthread_mutex_lock(&EHLock);
  for (struct eh_section **Link = &Sections; *Link;) {
    if (Match(*Link, Start, End)) {
      unlink_section(Link);
      N++;
    } else {
      Link = &(*Link)->Next;
    }
  }
  pthread_mutex_unlock(&EHLock);
  return N;
}

static bool starts_in(const struct eh_section *E, orc_rt_ExecutorAddr Start,
                      orc_rt_ExecutorAddr End) {
  return E->Start >= Start && E->Start < End;
}

static bool outside_jit_memory(const struct eh_section *E, orc_rt_ExecutorAddr Start,
                               orc_rt_ExecutorAddr End) {
  (void)Start;
  (void)End;
  return !orcrt_ranges_is_jit_memory(E->Start, E->End - E->Start);
}

static size_t released(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  return purge_if(starts_in, Start, End);
}

static size_t orphaned(void) {
  return purge_if(outside_jit_memory, 0, 0);
}

static void find_unwinder_and_observe(void) {
  static const struct orcrt_ranges_observer Observer = {released, orphaned, "EH frame section(s)",
                                                        orc_rt_LogLevel_Warning};
  orcrt_ranges_observe(&Observer);
  find_unwinder();
}

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
 * LLVM's ORC runtime registers sections itself, through libunwind's
 * __unw_add_dynamic_eh_frame_section when that resolves (with its remove),
 * else through __register_frame; the dylib lookup resolves the pair to
 * orcrt_eh_frame_add() and orcrt_eh_frame_remove(). They get a start
 * address only. LLVM 19's controller has the runtime register a graph's
 * section before the finalize that copies it into place: an address in
 * JIT memory whose content has not arrived waits in Pending, and goes in
 * when its publisher reports the content there (the Ready observer), before
 * any finalize action runs.
 *
 * Locks. EHLock guards Sections, Pending and every call into the unwinder.
 * A registration checks readability (jit-ranges.c's lock, taken under
 * EHLock) and inserts, or queues, under one hold of EHLock; the observers
 * take EHLock with no other lock held.
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
  bool Dynamic; /* from orcrt_eh_frame_add(), whose callers may never remove it */
  /*
   * libgcc took it: its first word was not 0. An empty section (only its
   * terminator) is listed, so that its deregistration succeeds, but libgcc
   * registers nothing for it and would abort on its deregistration once
   * the memory holds something else.
   */
  bool InUnwinder;
  struct eh_section *Next;
};

/* A section start handed to orcrt_eh_frame_add() before its content arrived. */
struct eh_pending {
  orc_rt_ExecutorAddr Start;
  struct eh_pending *Next;
};

static pthread_mutex_t EHLock = PTHREAD_MUTEX_INITIALIZER;
static struct eh_section *Sections; /* guarded by EHLock */
static struct eh_pending *Pending;  /* guarded by EHLock */

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
    /* Both from one unwinder: a frame registered with one and deregistered with another aborts. */
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
 * after it, since libgcc reads until it finds one; where that zero word is
 * in *Term. libgcc trusts what it walks: it knows no 64-bit lengths, and
 * follows an FDE's CIE pointer wherever it leads, so both are checked here
 * rather than crash the next unwind.
 */
static orc_rt_ErrorRef check_section(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End,
                                     orc_rt_ExecutorAddr *Term) {
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
    *Term = P;
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
  *Term = P;
  if (P == End && orcrt_ranges_is_readable(End, 4) && read_u32(End) == 0)
    return NULL;
  return orc_rt_Error_create(
      "EH frame section 0x%" PRIx64 " -- 0x%" PRIx64 " has no zero terminator", Start, End);
}

/*
 * Register the checked section [Start, End) with the unwinder, unless it
 * overlaps a registered one. EHLock held. NULL or the error.
 */
static orc_rt_ErrorRef insert_locked(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End,
                                     bool Dynamic) {
  for (struct eh_section *E = Sections; E; E = E->Next)
    if (E->Start < End && Start < E->End)
      return orc_rt_Error_create("EH frame section 0x%" PRIx64 " -- 0x%" PRIx64
                                 " overlaps the registered section 0x%" PRIx64 " -- 0x%" PRIx64,
                                 Start, End, E->Start, E->End);
  if (!RegisterFrame)
    return orc_rt_Error_create("Cannot register EH frames: __register_frame not found");
  struct eh_section *E = malloc(sizeof(*E));
  if (!E)
    return orc_rt_Error_create("out of memory");
  bool InUnwinder = read_u32(Start) != 0;
  if (InUnwinder)
    RegisterFrame((const void *)(uintptr_t)Start);
  *E = (struct eh_section){Start, End, Dynamic, InUnwinder, Sections};
  Sections = E;
  return NULL;
}

orc_rt_ErrorRef orcrt_eh_frame_register(orc_rt_ExecutorAddrRange R) {
  orc_rt_ExecutorAddr Term;
  pthread_once(&UnwinderOnce, find_unwinder_and_observe);
  pthread_mutex_lock(&EHLock);
  /* Checked under the lock: a deallocation's purge then sees the entry or we see no memory. */
  orc_rt_ErrorRef Err = check_section(R.Start, R.End, &Term);
  if (!Err)
    Err = insert_locked(R.Start, R.End, false);
  pthread_mutex_unlock(&EHLock);
  return Err;
}

/*
 * Register the section starting at Start, in readable memory that ends at
 * Limit: its records must end at a zero word before Limit (or right after
 * it). A section that is only its terminator registers nothing, as libgcc
 * would. EHLock held. NULL or the error.
 */
static orc_rt_ErrorRef insert_from_start_locked(orc_rt_ExecutorAddr Start,
                                                orc_rt_ExecutorAddr Limit) {
  orc_rt_ExecutorAddr Term;
  if (Limit - Start >= 4 && read_u32(Start) == 0)
    return NULL;
  orc_rt_ErrorRef Err = check_section(Start, Limit, &Term);
  return Err ? Err : insert_locked(Start, Term + 4, true);
}

/* Locate Start and register it, or queue it if its content is to come. EHLock held. */
static orc_rt_ErrorRef add_locked(orc_rt_ExecutorAddr Start, orc_rt_SessionRef *Owner) {
  orc_rt_ExecutorAddr Limit;
  for (struct eh_pending *Q = Pending; Q; Q = Q->Next)
    if (Q->Start == Start)
      return orc_rt_Error_create(
          "EH frame section 0x%" PRIx64 " is already waiting for its content", Start);
  switch (orcrt_ranges_locate(Start, &Limit, Owner)) {
  case ORCRT_PLACE_READABLE:
    return insert_from_start_locked(Start, Limit);
  case ORCRT_PLACE_UNFILLED: {
    struct eh_pending *Q = malloc(sizeof(*Q));
    if (!Q)
      return orc_rt_Error_create("out of memory");
    *Q = (struct eh_pending){Start, Pending};
    Pending = Q;
    return NULL;
  }
  case ORCRT_PLACE_UNREADABLE:
    return orc_rt_Error_create("EH frame section 0x%" PRIx64 " is not in readable memory", Start);
  case ORCRT_PLACE_NOWHERE:
  default:
    return orc_rt_Error_create(
        "EH frame section 0x%" PRIx64 " is neither in JIT memory nor in a loaded object", Start);
  }
}

/*
 * The caller of the entry points below is JIT'd code with nowhere to take
 * an error: it goes to the Session whose memory holds the section, or else
 * the one whose memory holds the caller.
 */
static void report(orc_rt_SessionRef Owner, const void *Caller, orc_rt_ErrorRef Err) {
  if (!Owner)
    Owner = orcrt_ranges_owner_of(orc_rt_ExecutorAddr_fromPtr(Caller));
  if (Owner)
    orc_rt_Session_reportError(Owner, Err);
  else
    orc_rt_Error_consume(Err);
}

void orcrt_eh_frame_add(const void *Section) {
  orc_rt_SessionRef Owner = NULL;
  pthread_once(&UnwinderOnce, find_unwinder_and_observe);
  pthread_mutex_lock(&EHLock);
  orc_rt_ErrorRef Err = add_locked(orc_rt_ExecutorAddr_fromPtr(Section), &Owner);
  pthread_mutex_unlock(&EHLock);
  if (Err)
    report(Owner, __builtin_return_address(0), Err);
}

/* Deregister and free the entry *Link points at. EHLock held. */
static void unlink_section(struct eh_section **Link) {
  struct eh_section *E = *Link;
  if (E->InUnwinder)
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

void orcrt_eh_frame_remove(const void *Section) {
  orc_rt_ExecutorAddr Start = orc_rt_ExecutorAddr_fromPtr(Section);
  pthread_mutex_lock(&EHLock);
  struct eh_pending **Q = &Pending;
  while (*Q && (*Q)->Start != Start)
    Q = &(*Q)->Next;
  struct eh_section **Link = &Sections;
  while (!*Q && *Link && (*Link)->Start != Start)
    Link = &(*Link)->Next;
  /* Unknown starts are ignored: libgcc would abort on them. */
  if (*Q) {
    struct eh_pending *Gone = *Q;
    *Q = Gone->Next;
    free(Gone);
  } else if (*Link) {
    unlink_section(Link);
  }
  pthread_mutex_unlock(&EHLock);
}

/*
 * Deregister every section E for which Match(E, Start, End) holds, and
 * drop the pending starts in [Start, End); how many of the sections came
 * from the wire. LLVM 19's ORC runtime never removes what it added, so
 * the dynamic ones going with their memory are no leftover to warn of.
 */
static size_t purge_if(bool (*Match)(const struct eh_section *, orc_rt_ExecutorAddr,
                                     orc_rt_ExecutorAddr),
                       orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  size_t N = 0;
  pthread_mutex_lock(&EHLock);
  for (struct eh_section **Link = &Sections; *Link;) {
    if (Match(*Link, Start, End)) {
      N += !(*Link)->Dynamic;
      unlink_section(Link);
    } else {
      Link = &(*Link)->Next;
    }
  }
  for (struct eh_pending **Q = &Pending; *Q;) {
    struct eh_pending *P = *Q;
    if (P->Start >= Start && P->Start < End) {
      *Q = P->Next;
      free(P);
    } else {
      Q = &P->Next;
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

/* Register the pending starts in [Start, End) of Owner's memory whose content is there now. */
static size_t ready(orc_rt_SessionRef Owner, orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  size_t N = 0;
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&EHLock);
  for (struct eh_pending **Q = &Pending; *Q;) {
    struct eh_pending *P = *Q;
    orc_rt_ExecutorAddr Limit;
    enum orcrt_ranges_place Place = P->Start >= Start && P->Start < End
                                        ? orcrt_ranges_locate(P->Start, &Limit, NULL)
                                        : ORCRT_PLACE_UNFILLED;
    /* Outside the span, or in a gap of it: still to come. */
    if (Place == ORCRT_PLACE_UNFILLED) {
      Q = &P->Next;
      continue;
    }
    *Q = P->Next;
    orc_rt_ErrorRef E =
        Place == ORCRT_PLACE_READABLE
            ? insert_from_start_locked(P->Start, Limit)
            : orc_rt_Error_create("EH frame section 0x%" PRIx64 " is not in readable memory",
                                  P->Start);
    N += !E;
    Err = orc_rt_Error_join(Err, E);
    free(P);
  }
  pthread_mutex_unlock(&EHLock);
  if (Err)
    orc_rt_Session_reportError(Owner, Err);
  return N;
}

static void find_unwinder_and_observe(void) {
  static const struct orcrt_ranges_observer Observer = {released, orphaned, "EH frame section(s)",
                                                        orc_rt_LogLevel_Warning, ready};
  orcrt_ranges_observe(&Observer);
  find_unwinder();
}

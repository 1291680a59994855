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

/*
 * jit-ranges.c - the process's registry of JIT address ranges: owners,
 * states, page protections, sorted lookups, loaded-object queries and
 * release observers (see jit-ranges.h for the protocol)
 *
 * Locks. RangesLock guards Table (the ranges sorted by Start: they never
 * overlap, so a binary search finds the one holding an address), every
 * range's State and Runs, Observers and NumOwners. It is a leaf: nothing
 * is called under it, and the observers run after it is dropped, from a
 * snapshot taken together with the state change they follow, so that an
 * observer registered later finds the memory already releasing.
 */
#include "orcrt-internal.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/session.h>

#include "jit-ranges.h"

enum range_state { RANGE_RESERVED, RANGE_LIVE, RANGE_RELEASING };

struct run {
  struct orcrt_range_run R;
  uint64_t Tag;
  bool Releasing;
};

struct orcrt_range {
  uint64_t Start, End;
  orc_rt_SessionRef Owner;
  const void *Publisher;
  enum range_state State;
  struct run *Runs; /* few: one per segment */
  size_t NumRuns, CapRuns;
};

enum { MAX_OBSERVERS = 8 };

static pthread_mutex_t RangesLock = PTHREAD_MUTEX_INITIALIZER;
static struct orcrt_range **Table; /* sorted by Start */
static size_t NumRanges, CapRanges;
static const struct orcrt_ranges_observer *Observers[MAX_OBSERVERS];
static size_t NumObservers;
static size_t NumOwners;

/* ---- segments -------------------------------------------------------------- */

orc_rt_ErrorRef orcrt_ranges_check_segment(uint64_t Addr, uint64_t Size, uint8_t Prot,
                                           uint64_t Base, uint64_t End, const char *What) {
  if (Addr > UINT64_MAX - Size)
    return orc_rt_Error_create(
        "Segment 0x%" PRIx64 " size 0x%" PRIx64 " overflows the address space", Addr, Size);
  if (Addr < Base || Addr + Size > End)
    return orc_rt_Error_create("Segment 0x%" PRIx64 " -- 0x%" PRIx64 " crosses boundary of "
                               "%s 0x%" PRIx64 " -- 0x%" PRIx64,
                               Addr, Addr + Size, What, Base, End);
  if ((Prot & orc_rt_MemProt_Write) && (Prot & orc_rt_MemProt_Exec))
    return orc_rt_Error_create("Segment 0x%" PRIx64 " asks to be writable and executable", Addr);
  return NULL;
}

static int span_cmp(const void *A, const void *B) {
  const struct orcrt_segment_span *X = A, *Y = B;
  return X->Addr < Y->Addr ? -1 : X->Addr > Y->Addr;
}

orc_rt_ErrorRef orcrt_ranges_check_disjoint(struct orcrt_segment_span *Spans, size_t N) {
  qsort(Spans, N, sizeof(*Spans), span_cmp);
  const struct orcrt_segment_span *Prev = NULL;
  for (size_t I = 0; I < N; I++) {
    if (Spans[I].Size == 0)
      continue;
    if (Prev && Spans[I].Addr < Prev->Addr + Prev->Size)
      return orc_rt_Error_create("Segment 0x%" PRIx64 " -- 0x%" PRIx64 " overlaps segment 0x%" PRIx64
                                 " -- 0x%" PRIx64,
                                 Spans[I].Addr, Spans[I].Addr + Spans[I].Size, Prev->Addr,
                                 Prev->Addr + Prev->Size);
    Prev = &Spans[I];
  }
  return NULL;
}

/* ---- the table (RangesLock held) ---------------------------------------------- */

/* The index of the first range whose Start is above Addr. */
static size_t upper_bound(uint64_t Addr) {
  size_t Lo = 0, Hi = NumRanges;
  while (Lo < Hi) {
    size_t Mid = Lo + (Hi - Lo) / 2;
    if (Table[Mid]->Start <= Addr)
      Lo = Mid + 1;
    else
      Hi = Mid;
  }
  return Lo;
}

/* The range holding the Size (> 0) bytes at Addr, or NULL. */
static struct orcrt_range *find_containing(uint64_t Addr, uint64_t Size) {
  size_t I = upper_bound(Addr);
  if (I == 0)
    return NULL;
  struct orcrt_range *R = Table[I - 1];
  return orc_rt_ExecutorAddrRange_containsSpan((orc_rt_ExecutorAddrRange){R->Start, R->End}, Addr,
                                               Size)
             ? R
             : NULL;
}

static size_t index_of(const struct orcrt_range *R) {
  size_t I = upper_bound(R->Start);
  return I - 1; /* R is listed: Table[I - 1] is R */
}

static bool span_has_prot_locked(const struct orcrt_range *R, uint64_t Addr, uint64_t Size,
                                 uint8_t Bit, bool CountReleasing) {
  bool Covered = false;
  uint64_t End = Addr + Size;
  for (size_t I = 0; I < R->NumRuns; I++) {
    const struct run *G = &R->Runs[I];
    if ((G->Releasing && !CountReleasing) || G->R.End <= Addr || G->R.Start >= End)
      continue;
    if (!(G->R.Prot & Bit))
      return false;
    if (G->R.Start <= Addr && End <= G->R.End)
      Covered = true;
  }
  return Covered;
}

/* ---- publishing -------------------------------------------------------------- */

orc_rt_ErrorRef orcrt_ranges_add(orc_rt_SessionRef Owner, const void *Publisher, uint64_t Start,
                                 uint64_t Size, struct orcrt_range **Out) {
  struct orcrt_range *R = calloc(1, sizeof(*R));
  *Out = NULL;
  if (!R)
    return orc_rt_Error_create("out of memory");
  *R = (struct orcrt_range){.Start = Start,
                            .End = Start + Size,
                            .Owner = Owner,
                            .Publisher = Publisher,
                            .State = RANGE_RESERVED};
  pthread_mutex_lock(&RangesLock);
  if (NumRanges == CapRanges) {
    size_t Cap = CapRanges ? 2 * CapRanges : 16;
    struct orcrt_range **T = realloc(Table, Cap * sizeof(*T));
    if (!T) {
      pthread_mutex_unlock(&RangesLock);
      free(R);
      return orc_rt_Error_create("out of memory");
    }
    Table = T;
    CapRanges = Cap;
  }
  size_t I = upper_bound(Start);
  memmove(&Table[I + 1], &Table[I], (NumRanges - I) * sizeof(*Table));
  Table[I] = R;
  NumRanges++;
  pthread_mutex_unlock(&RangesLock);
  *Out = R;
  return NULL;
}

orc_rt_ErrorRef orcrt_ranges_protect(struct orcrt_range *R, uint64_t Tag,
                                     const struct orcrt_range_run *Runs, size_t N) {
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&RangesLock);
  if (R->NumRuns + N > R->CapRuns) {
    size_t Cap = R->NumRuns + N > 2 * R->CapRuns ? R->NumRuns + N : 2 * R->CapRuns;
    struct run *V = realloc(R->Runs, Cap * sizeof(*V));
    if (!V)
      Err = orc_rt_Error_create("out of memory");
    else {
      R->Runs = V;
      R->CapRuns = Cap;
    }
  }
  for (size_t I = 0; !Err && I < N; I++)
    R->Runs[R->NumRuns++] = (struct run){Runs[I], Tag, false};
  if (!Err && R->State == RANGE_RESERVED)
    R->State = RANGE_LIVE;
  pthread_mutex_unlock(&RangesLock);
  return Err;
}

/* The observers now. RangesLock held. */
static size_t snapshot_locked(const struct orcrt_ranges_observer **Out) {
  memcpy(Out, Observers, NumObservers * sizeof(*Out));
  return NumObservers;
}

void orcrt_ranges_ready_runs(struct orcrt_range *R, uint64_t Tag) {
  const struct orcrt_ranges_observer *Obs[MAX_OBSERVERS];
  uint64_t Start = UINT64_MAX, End = 0;
  pthread_mutex_lock(&RangesLock);
  size_t NumObs = snapshot_locked(Obs);
  for (size_t I = 0; I < R->NumRuns; I++)
    if (R->Runs[I].Tag == Tag) {
      Start = R->Runs[I].R.Start < Start ? R->Runs[I].R.Start : Start;
      End = R->Runs[I].R.End > End ? R->Runs[I].R.End : End;
    }
  pthread_mutex_unlock(&RangesLock);
  /* One span, gaps and all: an observer locates each address it kept again. */
  for (size_t I = 0; Start < End && I < NumObs; I++) {
    size_t N = Obs[I]->Ready ? Obs[I]->Ready(R->Owner, Start, End) : 0;
    if (N)
      orc_rt_Session_log(R->Owner, orc_rt_LogLevel_Debug,
                         "filled 0x%" PRIx64 " -- 0x%" PRIx64 ": made %zu %s waiting for it", Start,
                         End, N, Obs[I]->What);
  }
}

void orcrt_ranges_mark_releasing(struct orcrt_range *R) {
  pthread_mutex_lock(&RangesLock);
  R->State = RANGE_RELEASING;
  pthread_mutex_unlock(&RangesLock);
}

/* Mark the runs under Tag releasing. RangesLock held. */
static void mark_runs_locked(struct orcrt_range *R, uint64_t Tag) {
  for (size_t I = 0; I < R->NumRuns; I++)
    if (R->Runs[I].Tag == Tag)
      R->Runs[I].Releasing = true;
}

void orcrt_ranges_mark_runs_releasing(struct orcrt_range *R, uint64_t Tag) {
  pthread_mutex_lock(&RangesLock);
  mark_runs_locked(R, Tag);
  pthread_mutex_unlock(&RangesLock);
}

static void notify(const struct orcrt_ranges_observer *const *Obs, size_t NumObs,
                   orc_rt_SessionRef Owner, uint64_t Start, uint64_t End) {
  for (size_t I = 0; I < NumObs; I++) {
    size_t N = Obs[I]->Released ? Obs[I]->Released(Start, End) : 0;
    /* The controller should have deregistered them before it let the memory go. */
    if (N)
      orc_rt_Session_log(Owner, Obs[I]->Level,
                         "releasing 0x%" PRIx64 " -- 0x%" PRIx64 ": dropped %zu %s left in it",
                         Start, End, N, Obs[I]->What);
  }
}

void orcrt_ranges_release(struct orcrt_range *R) {
  const struct orcrt_ranges_observer *Obs[MAX_OBSERVERS];
  pthread_mutex_lock(&RangesLock);
  R->State = RANGE_RELEASING;
  size_t NumObs = snapshot_locked(Obs);
  pthread_mutex_unlock(&RangesLock);
  /* R stays listed and unchanged but for its runs, which only its publisher edits. */
  notify(Obs, NumObs, R->Owner, R->Start, R->End);
}

void orcrt_ranges_release_runs(struct orcrt_range *R, uint64_t Tag) {
  const struct orcrt_ranges_observer *Obs[MAX_OBSERVERS];
  struct orcrt_range_run Gone[16];
  size_t NumGone;
  do {
    /*
     * A few runs at a time, forgotten at once: a releasing run is neither
     * readable nor (its actions done) called, so forgetting it before the
     * observers run changes no answer that matters, and they run unlocked.
     */
    NumGone = 0;
    pthread_mutex_lock(&RangesLock);
    size_t NumObs = snapshot_locked(Obs), J = 0;
    for (size_t I = 0; I < R->NumRuns; I++) {
      if (R->Runs[I].Tag == Tag && NumGone < ORCRT_ARRAY_SIZE(Gone))
        Gone[NumGone++] = R->Runs[I].R;
      else
        R->Runs[J++] = R->Runs[I];
    }
    R->NumRuns = J;
    pthread_mutex_unlock(&RangesLock);
    for (size_t I = 0; I < NumGone; I++)
      notify(Obs, NumObs, R->Owner, Gone[I].Start, Gone[I].End);
  } while (NumGone == ORCRT_ARRAY_SIZE(Gone));
}

void orcrt_ranges_remove(struct orcrt_range *R) {
  if (!R)
    return;
  pthread_mutex_lock(&RangesLock);
  size_t I = index_of(R);
  memmove(&Table[I], &Table[I + 1], (NumRanges - I - 1) * sizeof(*Table));
  NumRanges--;
  pthread_mutex_unlock(&RangesLock);
  free(R->Runs);
  free(R);
}

bool orcrt_ranges_span_has_prot(const struct orcrt_range *R, uint64_t Addr, uint64_t Size,
                                uint8_t Bit) {
  pthread_mutex_lock(&RangesLock);
  bool Has = span_has_prot_locked(R, Addr, Size, Bit, true);
  pthread_mutex_unlock(&RangesLock);
  return Has;
}

bool orcrt_ranges_span_touches_runs(const struct orcrt_range *R, uint64_t Addr, uint64_t Size) {
  bool Touches = false;
  uint64_t End = Addr + Size;
  pthread_mutex_lock(&RangesLock);
  for (size_t I = 0; I < R->NumRuns && !Touches; I++)
    Touches = R->Runs[I].R.End > Addr && R->Runs[I].R.Start < End;
  pthread_mutex_unlock(&RangesLock);
  return Touches;
}

/* ---- loaded objects ------------------------------------------------------------ */

struct phdr_query {
  uint64_t Addr;
  uint64_t Size;
  uint32_t Flag;
  bool Found;
  uint64_t End; /* of the segment found */
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
      Q->End = R.End;
      return 1;
    }
  }
  return 0;
}

/*
 * Whether the Size bytes at Addr lie in a PT_LOAD segment with Flag of a
 * loaded object; where it ends in *End (if End is not NULL).
 */
static bool in_loaded_segment(uint64_t Addr, uint64_t Size, uint32_t Flag, uint64_t *End) {
  struct phdr_query Q = {Addr, Size, Flag, false, 0};
  dl_iterate_phdr(phdr_callback, &Q);
  if (End)
    *End = Q.End;
  return Q.Found;
}

static bool in_loaded_object(uint64_t Addr, uint64_t Size, uint32_t Flag) {
  return in_loaded_segment(Addr, Size, Flag, NULL);
}

/*
 * Function entries of loaded objects, from their .eh_frame_hdr search table
 * (PT_GNU_EH_FRAME): the sorted initial locations of every FDE, which is
 * every function compiled with unwind information, static ones too. Read
 * here rather than through libgcc's _Unwind_Find_FDE(): that would first
 * classify every frame registered with libgcc, JIT'd ones included, and a
 * section whose encodings libgcc cannot read is then emptied in place, so
 * that its later deregistration aborts. Only the layout every linker
 * writes is read (version 1, a 4- or 8-byte eh_frame pointer, a udata4
 * count, datarel sdata4 pairs); for anything else, no answer.
 */
enum {
  EH_PE_udata4 = 0x03,
  EH_PE_sdata4 = 0x0b,
  EH_PE_udata8 = 0x04,
  EH_PE_sdata8 = 0x0c,
  EH_PE_datarel_sdata4 = 0x3b,
};

static int32_t read_s32(const unsigned char *P) {
  int32_t V;
  memcpy(&V, P, sizeof(V));
  return V;
}

/* Whether the .eh_frame_hdr at Hdr has an FDE starting at Addr. */
static bool hdr_has_entry(const unsigned char *Hdr, uint64_t Addr) {
  size_t PtrSize = (Hdr[1] & 0x0f) == EH_PE_udata4 || (Hdr[1] & 0x0f) == EH_PE_sdata4   ? 4
                   : (Hdr[1] & 0x0f) == EH_PE_udata8 || (Hdr[1] & 0x0f) == EH_PE_sdata8 ? 8
                                                                                        : 0;
  if (Hdr[0] != 1 || PtrSize == 0 || Hdr[2] != EH_PE_udata4 || Hdr[3] != EH_PE_datarel_sdata4)
    return false;
  const unsigned char *Pairs = Hdr + 4 + PtrSize + 4;
  uint32_t Count;
  memcpy(&Count, Hdr + 4 + PtrSize, sizeof(Count));
  int64_t Want = (int64_t)(Addr - (uint64_t)(uintptr_t)Hdr);
  size_t Lo = 0, Hi = Count;
  while (Lo < Hi) {
    size_t Mid = Lo + (Hi - Lo) / 2;
    int64_t Loc = read_s32(Pairs + 8 * Mid);
    if (Loc == Want)
      return true;
    if (Loc < Want)
      Lo = Mid + 1;
    else
      Hi = Mid;
  }
  return false;
}

struct entry_query {
  uint64_t Addr;
  bool InCode; /* in an executable PT_LOAD segment of a loaded object */
  bool Entry;  /* ... where an FDE of its .eh_frame_hdr table starts */
};

static int entry_callback(struct dl_phdr_info *Info, size_t Size, void *Arg) {
  (void)Size;
  struct entry_query *Q = Arg;
  const ElfW(Phdr) *Hdr = NULL;
  bool In = false;
  for (size_t I = 0; I < Info->dlpi_phnum; I++) {
    const ElfW(Phdr) *P = &Info->dlpi_phdr[I];
    uint64_t Start = (uint64_t)Info->dlpi_addr + P->p_vaddr;
    if (P->p_type == PT_LOAD && (P->p_flags & PF_X) && Q->Addr >= Start &&
        Q->Addr - Start < P->p_memsz)
      In = true;
    else if (P->p_type == PT_GNU_EH_FRAME)
      Hdr = P;
  }
  if (!In)
    return 0;
  Q->InCode = true;
  Q->Entry = Hdr && hdr_has_entry((const unsigned char *)(uintptr_t)(Info->dlpi_addr +
                                                                      Hdr->p_vaddr),
                                  Q->Addr);
  return 1;
}

/*
 * Whether Addr is where a function begins in code of a loaded object: an
 * FDE of the object's unwind table starts there, or, for code without one,
 * a dynamic symbol does. A call into the middle of a function runs its code
 * without its prologue and crashes the executor. One walk of the objects.
 */
static bool is_loaded_function_entry(uint64_t Addr) {
  struct entry_query Q = {Addr, false, false};
  dl_iterate_phdr(entry_callback, &Q);
  if (!Q.InCode)
    return false;
  if (Q.Entry)
    return true;
  void *P = (void *)(uintptr_t)Addr;
  Dl_info I;
  return dladdr(P, &I) && I.dli_saddr == P;
}

/* ---- queries ------------------------------------------------------------------- */

bool orcrt_ranges_is_readable(orc_rt_ExecutorAddr Addr, uint64_t Size) {
  if (Size == 0 || Addr > UINT64_MAX - Size)
    return false;
  pthread_mutex_lock(&RangesLock);
  struct orcrt_range *R = find_containing(Addr, Size);
  bool Readable = R && R->State != RANGE_RELEASING &&
                  span_has_prot_locked(R, Addr, Size, orc_rt_MemProt_Read, false);
  pthread_mutex_unlock(&RangesLock);
  if (R)
    return Readable;
  return in_loaded_object(Addr, Size, PF_R);
}

enum orcrt_ranges_place orcrt_ranges_locate(orc_rt_ExecutorAddr Addr, uint64_t *Limit,
                                            orc_rt_SessionRef *Owner) {
  enum orcrt_ranges_place P = ORCRT_PLACE_NOWHERE;
  *Limit = 0;
  if (Owner)
    *Owner = NULL;
  if (Addr == 0 || Addr == UINT64_MAX)
    return P;
  pthread_mutex_lock(&RangesLock);
  struct orcrt_range *R = find_containing(Addr, 1);
  if (R) {
    const struct run *G = NULL;
    for (size_t I = 0; I < R->NumRuns && !G; I++)
      if (R->Runs[I].R.Start <= Addr && Addr < R->Runs[I].R.End)
        G = &R->Runs[I];
    if (R->State == RANGE_RELEASING || (G && (G->Releasing || !(G->R.Prot & orc_rt_MemProt_Read))))
      P = ORCRT_PLACE_UNREADABLE;
    else if (!G)
      P = ORCRT_PLACE_UNFILLED;
    else {
      P = ORCRT_PLACE_READABLE;
      *Limit = G->R.End;
    }
    if (Owner)
      *Owner = R->Owner;
  }
  pthread_mutex_unlock(&RangesLock);
  if (!R && in_loaded_segment(Addr, 1, PF_R, Limit))
    P = ORCRT_PLACE_READABLE;
  return P;
}

orc_rt_SessionRef orcrt_ranges_owner_of(orc_rt_ExecutorAddr Addr) {
  pthread_mutex_lock(&RangesLock);
  struct orcrt_range *R = Addr ? find_containing(Addr, 1) : NULL;
  orc_rt_SessionRef Owner = R ? R->Owner : NULL;
  pthread_mutex_unlock(&RangesLock);
  return Owner;
}

bool orcrt_ranges_is_jit_memory(orc_rt_ExecutorAddr Addr, uint64_t Size) {
  if (Size == 0 || Addr > UINT64_MAX - Size)
    return false;
  pthread_mutex_lock(&RangesLock);
  struct orcrt_range *R = find_containing(Addr, Size);
  bool Found = R && R->State != RANGE_RELEASING;
  pthread_mutex_unlock(&RangesLock);
  return Found;
}

/* Whether Addr is in an executable run of a range of Owner (or, Owner NULL, of Publisher). */
static bool executable(orc_rt_SessionRef Owner, const void *Publisher, orc_rt_ExecutorAddr Addr) {
  if (Addr == 0 || Addr == UINT64_MAX)
    return false;
  pthread_mutex_lock(&RangesLock);
  struct orcrt_range *R = find_containing(Addr, 1);
  /* Code stays callable while its deallocation actions run. */
  bool Exec = R && (Owner ? R->Owner == Owner : R->Publisher == Publisher) &&
              span_has_prot_locked(R, Addr, 1, orc_rt_MemProt_Exec, true);
  pthread_mutex_unlock(&RangesLock);
  return Exec;
}

bool orcrt_ranges_is_executable(const void *Publisher, orc_rt_ExecutorAddr Addr) {
  return executable(NULL, Publisher, Addr);
}

bool orcrt_ranges_is_call_target(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  return executable(S, NULL, Addr) ||
         (Addr != 0 && is_loaded_function_entry(Addr));
}

int orcrt_ranges_where_nonblocking(uint64_t Addr, struct orcrt_ranges_where *Out) {
  if (pthread_mutex_trylock(&RangesLock) != 0)
    return -1;
  struct orcrt_range *R = find_containing(Addr, 1);
  if (R) {
    *Out = (struct orcrt_ranges_where){.RangeStart = R->Start,
                                       .RangeEnd = R->End,
                                       .Allocation = R->Start,
                                       .Releasing = R->State == RANGE_RELEASING};
    for (size_t I = 0; I < R->NumRuns && !Out->InRun; I++) {
      const struct run *G = &R->Runs[I];
      if (Addr < G->R.Start || Addr >= G->R.End)
        continue;
      Out->InRun = true;
      Out->RunStart = G->R.Start;
      Out->RunEnd = G->R.End;
      Out->Prot = G->R.Prot;
      Out->Releasing = Out->Releasing || G->Releasing;
      if (G->Tag)
        Out->Allocation = G->Tag;
    }
  }
  pthread_mutex_unlock(&RangesLock);
  return R ? 1 : 0;
}

/* ---- observers and owners ---------------------------------------------------------- */

void orcrt_ranges_observe(const struct orcrt_ranges_observer *O) {
  pthread_mutex_lock(&RangesLock);
  if (NumObservers < MAX_OBSERVERS)
    Observers[NumObservers++] = O;
  pthread_mutex_unlock(&RangesLock);
}

void orcrt_ranges_enter(orc_rt_SessionRef S) {
  (void)S;
  pthread_mutex_lock(&RangesLock);
  NumOwners++;
  pthread_mutex_unlock(&RangesLock);
}

void orcrt_ranges_leave(orc_rt_SessionRef S) {
  const struct orcrt_ranges_observer *Obs[MAX_OBSERVERS];
  size_t NumObs = 0;
  pthread_mutex_lock(&RangesLock);
  bool Last = NumOwners > 0 && --NumOwners == 0;
  if (Last)
    NumObs = snapshot_locked(Obs);
  pthread_mutex_unlock(&RangesLock);
  /* Registrations inside JIT memory go with it; the ones outside belong to no Session. */
  for (size_t I = 0; I < NumObs; I++) {
    size_t N = Obs[I]->Orphaned ? Obs[I]->Orphaned() : 0;
    if (N)
      orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "dropped %zu %s left at shutdown", N,
                         Obs[I]->What);
  }
}

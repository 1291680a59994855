/*
 * test-jit-ranges.c - the process's registry of JIT address ranges
 * (src/jit-ranges.c): sorted lookups, the readable, JIT-memory and
 * call-target queries, where a registrar's start address lies, the
 * content-arrived and release protocols and their observers, and the
 * teardown of registrations outside JIT memory when the last owner leaves
 */
#include "config.h"

#include "test-util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <orcrt/bootstrap.h>
#include <orcrt/memory.h>

#include "jit-ranges.h"

static uint64_t Page;

/* Owners and publishers: the registry only compares them. */
#define OWNER(N) ((orc_rt_SessionRef)(uintptr_t)(0x1000 * (N)))
#define PUBLISHER(N) ((const void *)(uintptr_t)(0x2000 * (N)))

/* Pages mapped inaccessible, never part of a loaded object. */
static uint64_t map_pages(size_t N) {
  void *P = mmap(NULL, N * Page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(P, MAP_FAILED);
  return orc_rt_ExecutorAddr_fromPtr(P);
}

static struct orcrt_range *add(orc_rt_SessionRef Owner, const void *Publisher, uint64_t Start,
                               uint64_t Size) {
  struct orcrt_range *R;
  ck_assert_no_error(orcrt_ranges_add(Owner, Publisher, Start, Size, &R));
  ck_assert_ptr_nonnull(R);
  return R;
}

static void protect(struct orcrt_range *R, uint64_t Tag, uint64_t Start, uint64_t End,
                    uint8_t Prot) {
  struct orcrt_range_run Run = {Start, End, Prot};
  ck_assert_no_error(orcrt_ranges_protect(R, Tag, &Run, 1));
}

/*
 * A range of Owner over the N (3 or more) pages at Base whose first three
 * are readable runs, the first and third under tag 7, the second under 9.
 */
static struct orcrt_range *add_interleaved(orc_rt_SessionRef Owner, uint64_t Base, size_t N) {
  struct orcrt_range *R = add(Owner, PUBLISHER(1), Base, N * Page);
  protect(R, 7, Base, Base + Page, orc_rt_MemProt_Read);
  protect(R, 9, Base + Page, Base + 2 * Page, orc_rt_MemProt_Read);
  protect(R, 7, Base + 2 * Page, Base + 3 * Page, orc_rt_MemProt_Read);
  return R;
}

/* A Session on a one-thread pool, not attached; with Bootstrap, with the bootstrap. */
static orc_rt_SessionRef new_session(bool Bootstrap) {
  orc_rt_TaskDispatcherRef TD;
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(1, &TD));
  ck_assert_no_error(orc_rt_Session_create(TD, &S));
  if (Bootstrap)
    ck_assert_no_error(orc_rt_Bootstrap_add(S));
  return S;
}

static void setup(void) {
  long P = sysconf(_SC_PAGESIZE);
  Page = P > 0 ? (uint64_t)P : 4096;
}

/* ---- lookups and queries ---------------------------------------------------------------- */

START_TEST(ranges_lookup_finds_each_of_many_ranges_added_out_of_order) {
  enum { N = 40 };
  /* One mapping, every other page a range of its own, added in a scrambled order. */
  uint64_t Base = map_pages(2 * N);
  struct orcrt_range *R[N];
  for (size_t K = 0; K < N; K++) {
    size_t I = (K * 17) % N; /* 17 is prime to 40: every index once */
    R[I] = add(OWNER(1), PUBLISHER(1), Base + 2 * I * Page, Page);
    protect(R[I], 0, Base + 2 * I * Page, Base + (2 * I + 1) * Page, orc_rt_MemProt_Read);
  }
  for (size_t I = 0; I < N; I++) {
    uint64_t Start = Base + 2 * I * Page;
    ck_assert_msg(orcrt_ranges_is_jit_memory(Start, Page), "range %zu not found", I);
    ck_assert(orcrt_ranges_is_readable(Start + 8, 16));
    ck_assert(orcrt_ranges_is_readable(Start, Page));
    /* The page between two ranges is in none, and a span must lie in one. */
    ck_assert(!orcrt_ranges_is_jit_memory(Start + Page, 1));
    ck_assert(!orcrt_ranges_is_readable(Start + Page, 1));
    ck_assert(!orcrt_ranges_is_jit_memory(Start + Page - 8, 16));
  }
  ck_assert(!orcrt_ranges_is_jit_memory(Base - 1, 1));
  /* Removed in yet another order, the others are still found. */
  for (size_t I = 0; I < N; I += 3)
    orcrt_ranges_remove(R[I]);
  for (size_t I = 0; I < N; I++)
    ck_assert_int_eq(orcrt_ranges_is_jit_memory(Base + 2 * I * Page, Page), I % 3 != 0);
  for (size_t I = 0; I < N; I++)
    if (I % 3 != 0)
      orcrt_ranges_remove(R[I]);
  ck_assert(!orcrt_ranges_is_jit_memory(Base + 2 * Page, 1));
  munmap((void *)(uintptr_t)Base, 2 * N * Page);
}
END_TEST

START_TEST(ranges_readable_needs_a_readable_run_covering_the_span) {
  uint64_t Base = map_pages(4);
  struct orcrt_range *R = add(OWNER(1), PUBLISHER(1), Base, 4 * Page);
  /* Reserved: JIT memory, but nothing in it readable yet. */
  ck_assert(orcrt_ranges_is_jit_memory(Base, 4 * Page));
  ck_assert(!orcrt_ranges_is_readable(Base, 1));
  protect(R, 0, Base, Base + Page, orc_rt_MemProt_Read);
  protect(R, 0, Base + Page, Base + 2 * Page, orc_rt_MemProt_Exec);
  protect(R, 0, Base + 2 * Page, Base + 3 * Page, orc_rt_MemProt_Read | orc_rt_MemProt_Exec);
  ck_assert(orcrt_ranges_is_readable(Base, Page));
  ck_assert(!orcrt_ranges_is_readable(Base + Page, 1));     /* execute-only */
  ck_assert(orcrt_ranges_is_readable(Base + 2 * Page, 8));  /* read and execute */
  ck_assert(!orcrt_ranges_is_readable(Base + 3 * Page, 1)); /* no run there */
  ck_assert(!orcrt_ranges_is_readable(Base + Page - 4, 8)); /* into the execute-only page */
  ck_assert(!orcrt_ranges_is_readable(Base, 0));
  ck_assert(!orcrt_ranges_is_readable(UINT64_MAX - 2, 8)); /* wraps */
  orcrt_ranges_remove(R);
  munmap((void *)(uintptr_t)Base, 4 * Page);
}
END_TEST

static int code_of_a_loaded_object(void) {
  return 42;
}
static const char DataOfALoadedObject[64] = "read-only data of the test program";

START_TEST(ranges_call_targets_are_executable_runs_of_the_session_or_loaded_code) {
  uint64_t Base = map_pages(2);
  struct orcrt_range *R = add(OWNER(1), PUBLISHER(1), Base, 2 * Page);
  protect(R, 0, Base, Base + Page, orc_rt_MemProt_Read | orc_rt_MemProt_Exec);
  protect(R, 0, Base + Page, Base + 2 * Page, orc_rt_MemProt_Read | orc_rt_MemProt_Write);
  ck_assert(orcrt_ranges_is_call_target(OWNER(1), Base + 16));
  ck_assert(!orcrt_ranges_is_call_target(OWNER(2), Base + 16));   /* another Session's code */
  ck_assert(!orcrt_ranges_is_call_target(OWNER(1), Base + Page)); /* data */
  ck_assert(orcrt_ranges_is_executable(PUBLISHER(1), Base + 16));
  ck_assert(!orcrt_ranges_is_executable(PUBLISHER(2), Base + 16));
  ck_assert(!orcrt_ranges_is_call_target(OWNER(1), 0));
  /* Code and data of a loaded object: any Session may call the one and register the other. */
  orc_rt_ExecutorAddr Fn = orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)code_of_a_loaded_object);
  ck_assert(orcrt_ranges_is_call_target(OWNER(2), Fn));
  ck_assert(!orcrt_ranges_is_executable(PUBLISHER(1), Fn));
  ck_assert(orcrt_ranges_is_readable(orc_rt_ExecutorAddr_fromPtr(DataOfALoadedObject),
                                     sizeof(DataOfALoadedObject)));
  ck_assert(!orcrt_ranges_is_jit_memory(orc_rt_ExecutorAddr_fromPtr(DataOfALoadedObject), 1));
  /* Releasing code stays callable (its deallocation actions run there) but is not readable. */
  orcrt_ranges_mark_releasing(R);
  ck_assert(orcrt_ranges_is_call_target(OWNER(1), Base + 16));
  ck_assert(!orcrt_ranges_is_readable(Base + 16, 1));
  ck_assert(!orcrt_ranges_is_jit_memory(Base, 1));
  orcrt_ranges_remove(R);
  ck_assert(!orcrt_ranges_is_call_target(OWNER(1), Base + 16));
  munmap((void *)(uintptr_t)Base, 2 * Page);
}
END_TEST

START_TEST(ranges_segment_check_refuses_overflow_escape_and_write_exec) {
  ck_assert_no_error(
      orcrt_ranges_check_segment(0x1010, 0x10, orc_rt_MemProt_Read, 0x1000, 0x2000, "allocation"));
  ck_assert_error_contains(orcrt_ranges_check_segment(UINT64_MAX - 4, 16, orc_rt_MemProt_Read,
                                                      0x1000, 0x2000, "allocation"),
                           "overflows the address space");
  ck_assert_error_contains(
      orcrt_ranges_check_segment(0x1ff0, 0x20, orc_rt_MemProt_Read, 0x1000, 0x2000, "reservation"),
      "crosses boundary of reservation 0x1000 -- 0x2000");
  ck_assert_error_contains(orcrt_ranges_check_segment(0x1000, 0x10,
                                                      orc_rt_MemProt_Write | orc_rt_MemProt_Exec,
                                                      0x1000, 0x2000, "allocation"),
                           "writable and executable");
}
END_TEST

/* ---- release observers ------------------------------------------------------------------ */

/* What the test observer saw, each time it ran. */
static struct {
  unsigned Calls;
  uint64_t Start, End;
  orc_rt_SessionRef Owner; /* set by the test: whose call targets to ask about */
  bool Readable, JITMemory, Executable, Mapped;
  unsigned Orphaned;
} Seen;

static size_t test_released(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  Seen.Calls++;
  Seen.Start = Start;
  Seen.End = End;
  /* Each query takes the registry's lock: were it held here, this would deadlock. */
  Seen.Readable = orcrt_ranges_is_readable(Start, 1);
  Seen.JITMemory = orcrt_ranges_is_jit_memory(Start, 1);
  Seen.Executable = orcrt_ranges_is_call_target(Seen.Owner, Start);
  /* Still mapped: msync() fails with ENOMEM on unmapped pages. */
  Seen.Mapped = msync((void *)(uintptr_t)(Start & ~(Page - 1)), Page, MS_ASYNC) == 0;
  return 0;
}

static size_t test_orphaned(void) {
  Seen.Orphaned++;
  (void)orcrt_ranges_is_jit_memory(0x1000, 1); /* no lock held here either */
  return 0;
}

static const struct orcrt_ranges_observer TestObserver = {test_released, test_orphaned, "tests",
                                                          orc_rt_LogLevel_Debug};

START_TEST(ranges_release_runs_observers_with_no_lock_held_before_removal) {
  memset(&Seen, 0, sizeof(Seen));
  orcrt_ranges_observe(&TestObserver);
  uint64_t Base = map_pages(2);
  struct orcrt_range *R = add(OWNER(3), PUBLISHER(3), Base, 2 * Page);
  protect(R, 0, Base, Base + 2 * Page, orc_rt_MemProt_Read | orc_rt_MemProt_Exec);
  Seen.Owner = OWNER(3);
  orcrt_ranges_release(R);
  ck_assert_uint_eq(Seen.Calls, 1);
  ck_assert_uint_eq(Seen.Start, Base);
  ck_assert_uint_eq(Seen.End, Base + 2 * Page);
  /* Releasing while the observers run: no new registration lands, its code still runs. */
  ck_assert(!Seen.Readable);
  ck_assert(!Seen.JITMemory);
  ck_assert(Seen.Executable);
  ck_assert(Seen.Mapped);
  orcrt_ranges_remove(R);
  munmap((void *)(uintptr_t)Base, 2 * Page);
}
END_TEST

START_TEST(ranges_release_of_runs_leaves_the_other_runs_of_the_range) {
  memset(&Seen, 0, sizeof(Seen));
  orcrt_ranges_observe(&TestObserver);
  uint64_t Base = map_pages(3);
  struct orcrt_range *R = add_interleaved(OWNER(1), Base, 3);
  orcrt_ranges_mark_runs_releasing(R, 7);
  ck_assert(!orcrt_ranges_is_readable(Base, 1));
  ck_assert(orcrt_ranges_is_readable(Base + Page, 1));
  ck_assert(orcrt_ranges_is_jit_memory(Base, 3 * Page)); /* the range itself stays */
  orcrt_ranges_release_runs(R, 7);
  ck_assert_uint_eq(Seen.Calls, 2); /* once a run */
  ck_assert(!orcrt_ranges_span_touches_runs(R, Base, 1));
  ck_assert(orcrt_ranges_span_touches_runs(R, Base + Page, 1));
  ck_assert(orcrt_ranges_is_readable(Base + Page, Page));
  orcrt_ranges_remove(R);
  munmap((void *)(uintptr_t)Base, 3 * Page);
}
END_TEST

START_TEST(ranges_memory_service_runs_observers_before_it_unmaps) {
  memset(&Seen, 0, sizeof(Seen));
  orcrt_ranges_observe(&TestObserver);
  orc_rt_SessionRef S = new_session(false);
  orc_rt_MemoryServiceRef M;
  orc_rt_ExecutorAddr Base;
  ck_assert_no_error(orc_rt_MemoryService_add(S, orc_rt_MemoryStrategy_MProtect, &M));
  ck_assert_no_error(orc_rt_MemoryService_reserve(M, Page, &Base));
  orc_rt_MemorySegment G = {orc_rt_MemProt_Read, Base, Page, "x", 1};
  orc_rt_MemoryFinalizeRequest Req = {&G, 1, NULL, 0};
  ck_assert_no_error(orc_rt_MemoryService_finalize(M, &Req));
  ck_assert(orcrt_ranges_is_readable(Base, Page));
  Seen.Owner = S;
  ck_assert_no_error(orc_rt_MemoryService_deallocate(M, Base));
  ck_assert_uint_eq(Seen.Calls, 1);
  ck_assert_uint_eq(Seen.Start, Base);
  ck_assert(Seen.Mapped);
  ck_assert(!Seen.Readable);
  ck_assert(!orcrt_ranges_is_jit_memory(Base, 1)); /* and gone from the registry after */
  orc_rt_Session_destroy(S);
}
END_TEST

/* A GDB registration of Size bytes at Start. */
static orc_rt_WrapperFunctionBuffer gdb_register(orc_rt_ExecutorAddr Start, uint64_t Size) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addrRange(&W, (orc_rt_ExecutorAddrRange){Start, Start + Size});
  orc_rt_SPSWriter_bool(&W, false);
  orc_rt_WrapperFunctionBuffer R =
      llvm_orc_registerJITLoaderGDBWrapper(orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  orc_rt_SPSWriter_dispose(&W);
  return R;
}

START_TEST(ranges_registration_in_memory_being_released_is_refused) {
  /* A real owner: the debugger registrar's observer logs to it. */
  orc_rt_SessionRef S = new_session(false);
  uint64_t Base = map_pages(1);
  mprotect((void *)(uintptr_t)Base, Page, PROT_READ);
  struct orcrt_range *R = add(S, PUBLISHER(1), Base, Page);
  protect(R, 0, Base, Base + Page, orc_rt_MemProt_Read);
  /* Live: the debugger registrar takes it, and its observer drops it at release. */
  orcrt_test_assert_sps_success(gdb_register(Base, 64));
  ck_assert_ptr_nonnull(__jit_debug_descriptor.FirstEntry);
  orcrt_ranges_mark_releasing(R);
  orcrt_test_assert_sps_failure(gdb_register(Base + 64, 64), "not in readable memory");
  orcrt_ranges_release(R);
  ck_assert_ptr_null(__jit_debug_descriptor.FirstEntry);
  orcrt_ranges_remove(R);
  munmap((void *)(uintptr_t)Base, Page);
  orc_rt_Session_destroy(S);
}
END_TEST

/* ---- owners -------------------------------------------------------------------------------- */

/* This program's data: part of a loaded object. */
static char LoadedData[64];

START_TEST(ranges_locate_says_whether_content_is_to_come_and_where_readable_memory_ends) {
  uint64_t Base = map_pages(4), Outside = map_pages(1), Limit = 1;
  orc_rt_SessionRef Owner = NULL;
  struct orcrt_range *R = add(OWNER(4), PUBLISHER(4), Base, 4 * Page);
  ck_assert_int_eq(orcrt_ranges_locate(Base + 8, &Limit, &Owner), ORCRT_PLACE_UNFILLED);
  ck_assert_ptr_eq(Owner, OWNER(4));
  ck_assert_uint_eq(Limit, 0);
  protect(R, Base, Base, Base + Page, orc_rt_MemProt_Read);
  protect(R, Base, Base + Page, Base + 2 * Page, orc_rt_MemProt_Exec);
  ck_assert_int_eq(orcrt_ranges_locate(Base + 8, &Limit, NULL), ORCRT_PLACE_READABLE);
  ck_assert_uint_eq(Limit, Base + Page);
  ck_assert_int_eq(orcrt_ranges_locate(Base + Page, &Limit, NULL), ORCRT_PLACE_UNREADABLE);
  ck_assert_int_eq(orcrt_ranges_locate(Base + 3 * Page, &Limit, NULL), ORCRT_PLACE_UNFILLED);
  ck_assert_ptr_eq(orcrt_ranges_owner_of(Base + 3 * Page), OWNER(4));
  /* Outside every range: nowhere, or a loaded object's segment, which bounds the walk. */
  ck_assert_int_eq(orcrt_ranges_locate(Outside, &Limit, &Owner), ORCRT_PLACE_NOWHERE);
  ck_assert_ptr_null(Owner);
  ck_assert_ptr_null(orcrt_ranges_owner_of(Outside));
  ck_assert_int_eq(orcrt_ranges_locate(0, &Limit, NULL), ORCRT_PLACE_NOWHERE);
  uint64_t Data = orc_rt_ExecutorAddr_fromPtr(LoadedData);
  ck_assert_int_eq(orcrt_ranges_locate(Data, &Limit, &Owner), ORCRT_PLACE_READABLE);
  ck_assert_uint_ge(Limit, Data + sizeof(LoadedData));
  ck_assert_ptr_null(Owner);
  /* Releasing: nothing in it is to come any more. */
  orcrt_ranges_mark_releasing(R);
  ck_assert_int_eq(orcrt_ranges_locate(Base + 8, &Limit, NULL), ORCRT_PLACE_UNREADABLE);
  ck_assert_int_eq(orcrt_ranges_locate(Base + 3 * Page, &Limit, NULL), ORCRT_PLACE_UNREADABLE);
  orcrt_ranges_remove(R);
  munmap((void *)(uintptr_t)Base, 4 * Page);
  munmap((void *)(uintptr_t)Outside, Page);
}
END_TEST

static struct {
  unsigned Calls;
  orc_rt_SessionRef Owner;
  uint64_t Start, End;
  bool Readable;
} Ready;

static size_t test_ready(orc_rt_SessionRef Owner, orc_rt_ExecutorAddr Start,
                         orc_rt_ExecutorAddr End) {
  Ready.Calls++;
  Ready.Owner = Owner;
  Ready.Start = Start;
  Ready.End = End;
  Ready.Readable = orcrt_ranges_is_readable(Start, 1); /* no lock held here */
  return 0;
}

static const struct orcrt_ranges_observer ReadyObserver = {NULL, NULL, "tests",
                                                           orc_rt_LogLevel_Debug, test_ready};

START_TEST(ranges_ready_runs_tells_the_owner_over_the_span_of_the_tag) {
  memset(&Ready, 0, sizeof(Ready));
  orcrt_ranges_observe(&ReadyObserver);
  uint64_t Base = map_pages(4);
  struct orcrt_range *R = add_interleaved(OWNER(5), Base, 4);
  orcrt_ranges_ready_runs(R, 7);
  ck_assert_uint_eq(Ready.Calls, 1);
  ck_assert_ptr_eq(Ready.Owner, OWNER(5));
  ck_assert_uint_eq(Ready.Start, Base);
  ck_assert_uint_eq(Ready.End, Base + 3 * Page);
  ck_assert(Ready.Readable);
  /* A tag with no runs has nothing ready. */
  orcrt_ranges_ready_runs(R, 5);
  ck_assert_uint_eq(Ready.Calls, 1);
  orcrt_ranges_remove(R);
  munmap((void *)(uintptr_t)Base, 4 * Page);
}
END_TEST

START_TEST(ranges_orphaned_runs_once_when_the_last_owner_leaves) {
  memset(&Seen, 0, sizeof(Seen));
  orcrt_ranges_observe(&TestObserver);
  orcrt_ranges_enter(OWNER(1));
  orcrt_ranges_enter(OWNER(2));
  orcrt_ranges_leave(OWNER(1));
  ck_assert_uint_eq(Seen.Orphaned, 0);
  orcrt_ranges_leave(OWNER(2));
  ck_assert_uint_eq(Seen.Orphaned, 1);
  orcrt_ranges_enter(OWNER(3));
  orcrt_ranges_leave(OWNER(3));
  ck_assert_uint_eq(Seen.Orphaned, 2);
}
END_TEST

static char DebugObjectOfALoadedObject[256] = "\x7f"
                                              "ELF";

START_TEST(ranges_registration_outside_jit_memory_goes_with_the_last_bootstrap) {
  orc_rt_SessionRef S1 = new_session(true), S2 = new_session(true);
  /* In the test program's data: no Session's memory, so no release drops it. */
  orcrt_test_assert_sps_success(
      gdb_register(orc_rt_ExecutorAddr_fromPtr(DebugObjectOfALoadedObject), 128));
  ck_assert_ptr_nonnull(__jit_debug_descriptor.FirstEntry);
  orc_rt_Session_destroy(S1);
  ck_assert_ptr_nonnull(__jit_debug_descriptor.FirstEntry);
  orc_rt_Session_destroy(S2);
  ck_assert_ptr_null(__jit_debug_descriptor.FirstEntry);
}
END_TEST

Suite *orcrt_suite_jit_ranges(void) {
  Suite *S = suite_create("jit-ranges");
  TCase *TC = orcrt_test_case(S, "queries", 30);
  tcase_add_unchecked_fixture(TC, setup, NULL);
  tcase_add_test(TC, ranges_lookup_finds_each_of_many_ranges_added_out_of_order);
  tcase_add_test(TC, ranges_readable_needs_a_readable_run_covering_the_span);
  tcase_add_test(TC, ranges_call_targets_are_executable_runs_of_the_session_or_loaded_code);
  tcase_add_test(TC, ranges_segment_check_refuses_overflow_escape_and_write_exec);
  tcase_add_test(TC, ranges_locate_says_whether_content_is_to_come_and_where_readable_memory_ends);
  TC = orcrt_test_case(S, "release", 30);
  tcase_add_unchecked_fixture(TC, setup, NULL);
  tcase_add_test(TC, ranges_release_runs_observers_with_no_lock_held_before_removal);
  tcase_add_test(TC, ranges_release_of_runs_leaves_the_other_runs_of_the_range);
  tcase_add_test(TC, ranges_memory_service_runs_observers_before_it_unmaps);
  tcase_add_test(TC, ranges_registration_in_memory_being_released_is_refused);
  tcase_add_test(TC, ranges_ready_runs_tells_the_owner_over_the_span_of_the_tag);
  TC = orcrt_test_case(S, "owners", 30);
  tcase_add_unchecked_fixture(TC, setup, NULL);
  tcase_add_test(TC, ranges_orphaned_runs_once_when_the_last_owner_leaves);
  tcase_add_test(TC, ranges_registration_outside_jit_memory_goes_with_the_last_bootstrap);
  return S;
}

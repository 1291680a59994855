/*
 * test-memory.c - JIT memory: reserve, finalize, deallocate, W^X
 *
 * The wrappers are driven the way LLVM's controller drives them: a Session
 * with a thread pool, attached to the loopback controller, called at the
 * addresses of its bootstrap symbols with SPS-encoded arguments.
 */
#include "config.h"

#include "test-util.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <orcrt/bootstrap.h>
#include <orcrt/dylib.h>
#include <orcrt/memory.h>

enum { Page = 4096 };

/* ---- a Session with every executor Service, attached to a loopback ---------- */

typedef struct {
  orc_rt_SessionRef S;
  orc_rt_LoopbackControllerRef LC;
  orc_rt_MemoryServiceRef M;
} env;

static void env_init(env *E, orc_rt_MemoryStrategy Strategy) {
  orc_rt_TaskDispatcherRef TD;
  orc_rt_DylibServiceRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(4, &TD));
  ck_assert_no_error(orc_rt_Session_create(TD, &E->S));
  ck_assert_no_error(orc_rt_DylibService_add(E->S, &D));
  ck_assert_no_error(orc_rt_MemoryService_add(E->S, Strategy, &E->M));
  ck_assert_no_error(orc_rt_Bootstrap_add(E->S));
  ck_assert_no_error(orc_rt_LoopbackController_create(&E->LC));
  ck_assert_no_error(orc_rt_LoopbackController_attach(E->S, E->LC));
}

static void env_fini(env *E) {
  orc_rt_Session_destroy(E->S);
}

static orc_rt_ExecutorAddr sym(env *E, const char *Name) {
  return orcrt_test_bootstrap_addr(E->S, Name);
}

/* Call the wrapper at bootstrap symbol Name with W's bytes (W is disposed). */
static orc_rt_WrapperFunctionBuffer call(env *E, const char *Name, orc_rt_SPSWriter *W) {
  ck_assert(!orc_rt_SPSWriter_failed(W));
  orc_rt_WrapperFunctionBuffer R = orc_rt_LoopbackController_callWrapperSync(
      E->LC, sym(E, Name), orc_rt_SPSWriter_data(W), orc_rt_SPSWriter_size(W));
  orc_rt_SPSWriter_dispose(W);
  return R;
}

static const char ReserveFn[] = "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper";
static const char FinalizeFn[] = "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper";
static const char DeallocateFn[] = "__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper";
static const char InstanceSym[] = "__llvm_orc_SimpleExecutorMemoryManager_Instance";

/* reserve(Size) -> Expected<Addr>: the address, or 0 with *Msg set on failure. */
static orc_rt_ExecutorAddr try_reserve(env *E, uint64_t Size, char **Msg) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, InstanceSym));
  orc_rt_SPSWriter_u64(&W, Size);
  orc_rt_WrapperFunctionBuffer R = call(E, ReserveFn, &W);
  ck_assert_msg(!orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R), "out-of-band error");
  orc_rt_SPSReader Rd;
  bool HasValue = false;
  const char *M = NULL;
  size_t MSize = 0;
  orc_rt_ExecutorAddr A = 0;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(&R), R.Size);
  ck_assert(orc_rt_SPSReader_expected(&Rd, &HasValue, &M, &MSize));
  *Msg = NULL;
  if (HasValue)
    ck_assert(orc_rt_SPSReader_addr(&Rd, &A));
  else
    *Msg = strndup(M, MSize);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return A;
}

static orc_rt_ExecutorAddr reserve(env *E, uint64_t Size) {
  char *Msg;
  orc_rt_ExecutorAddr A = try_reserve(E, Size, &Msg);
  ck_assert_msg(Msg == NULL, "reserve failed: %s", Msg);
  return A;
}

static void write_call(orc_rt_SPSWriter *W, const orc_rt_MemoryAction *A) {
  orc_rt_SPSWriter_addr(W, A->Fn);
  orc_rt_SPSWriter_bytes(W, A->ArgData, A->ArgSize);
}

static const char InitializeFn[] = "__llvm_orc_SimpleExecutorMemoryManager_initialize_wrapper";
static const char DeinitializeFn[] = "__llvm_orc_SimpleExecutorMemoryManager_deinitialize_wrapper";
static const char ReleaseFn[] = "__llvm_orc_SimpleExecutorMemoryManager_release_wrapper";

/* Call Fn (finalize, or LLVM 22's initialize) with a FinalizeRequest. */
static orc_rt_WrapperFunctionBuffer request(env *E, const char *Fn,
                                            const orc_rt_MemorySegment *Segs, size_t N,
                                            const orc_rt_MemoryActionPair *Acts, size_t NA) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, InstanceSym));
  orc_rt_SPSWriter_seqCount(&W, N);
  for (size_t I = 0; I < N; I++) {
    orc_rt_SPSWriter_u8(&W, Segs[I].Prot);
    orc_rt_SPSWriter_addr(&W, Segs[I].Addr);
    orc_rt_SPSWriter_u64(&W, Segs[I].Size);
    orc_rt_SPSWriter_bytes(&W, Segs[I].Content, Segs[I].ContentSize);
  }
  orc_rt_SPSWriter_seqCount(&W, NA);
  for (size_t I = 0; I < NA; I++) {
    write_call(&W, &Acts[I].Finalize);
    write_call(&W, &Acts[I].Dealloc);
  }
  return call(E, Fn, &W);
}

static orc_rt_WrapperFunctionBuffer finalize(env *E, const orc_rt_MemorySegment *Segs, size_t N,
                                             const orc_rt_MemoryActionPair *Acts, size_t NA) {
  return request(E, FinalizeFn, Segs, N, Acts, NA);
}

/* Call Fn (deallocate, or 22's release and deinitialize) with (Instance, Sequence<Addr>). */
static orc_rt_WrapperFunctionBuffer addrs_call(env *E, const char *Fn,
                                               const orc_rt_ExecutorAddr *Addrs, size_t N) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, InstanceSym));
  orc_rt_SPSWriter_seqCount(&W, N);
  for (size_t I = 0; I < N; I++)
    orc_rt_SPSWriter_addr(&W, Addrs[I]);
  return call(E, Fn, &W);
}

static orc_rt_WrapperFunctionBuffer deallocate(env *E, const orc_rt_ExecutorAddr *Bases, size_t N) {
  return addrs_call(E, DeallocateFn, Bases, N);
}

/* LLVM 22's initialize: the region's key, which must come back. */
static orc_rt_ExecutorAddr initialize(env *E, const orc_rt_MemorySegment *Segs, size_t N,
                                      const orc_rt_MemoryActionPair *Acts, size_t NA) {
  orc_rt_WrapperFunctionBuffer R = request(E, InitializeFn, Segs, N, Acts, NA);
  orc_rt_SPSReader Rd;
  bool HasValue = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  orc_rt_ExecutorAddr Key = 0;
  ck_assert_msg(!orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R), "out-of-band error");
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(&R), R.Size);
  ck_assert(orc_rt_SPSReader_expected(&Rd, &HasValue, &Msg, &MsgSize));
  ck_assert_msg(HasValue, "initialize failed: %.*s", (int)MsgSize, Msg);
  ck_assert(orc_rt_SPSReader_addr(&Rd, &Key));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return Key;
}

static orc_rt_MemorySegment seg(uint8_t Prot, orc_rt_ExecutorAddr Addr, uint64_t Size,
                                const char *Content, size_t ContentSize) {
  orc_rt_MemorySegment G = {Prot, Addr, Size, Content, ContentSize};
  return G;
}

/* ---- /proc/self/maps ------------------------------------------------------------ */

/*
 * The permissions ("rwxp" style) of the mapping that holds Addr, and whether
 * one of our memfds backs it; false if no mapping holds Addr.
 */
static bool maps_perms(orc_rt_ExecutorAddr Addr, char Perms[5], bool *MemFD) {
  FILE *F = fopen("/proc/self/maps", "re");
  ck_assert(F != NULL);
  char Line[512];
  bool Found = false;
  while (!Found && fgets(Line, sizeof(Line), F)) {
    uint64_t Lo, Hi;
    char P[5];
    if (sscanf(Line, "%" SCNx64 "-%" SCNx64 " %4s", &Lo, &Hi, P) == 3 && Addr >= Lo && Addr < Hi) {
      memcpy(Perms, P, 5);
      *MemFD = strstr(Line, "memfd:orcrt-jit") != NULL;
      Found = true;
    }
  }
  fclose(F);
  return Found;
}

/* Addr's mapping has permissions Expected and is backed by a memfd iff MemFD. */
static void assert_perms(orc_rt_ExecutorAddr Addr, const char *Expected, bool MemFD) {
  char P[5];
  bool IsMemFD;
  ck_assert_msg(maps_perms(Addr, P, &IsMemFD), "no mapping at 0x%" PRIx64, Addr);
  ck_assert_msg(strncmp(P, Expected, strlen(Expected)) == 0, "0x%" PRIx64 ": %s, expected %s", Addr,
                P, Expected);
  ck_assert_msg(IsMemFD == MemFD, "0x%" PRIx64 " is %sbacked by a memfd", Addr,
                IsMemFD ? "" : "not ");
}

/*
 * How many mappings overlap [Lo, Hi) or belong to one of our memfds, and
 * whether one of them is writable and executable at once.
 */
static bool maps_any_wx(orc_rt_ExecutorAddr Lo, orc_rt_ExecutorAddr Hi, int *Count) {
  FILE *F = fopen("/proc/self/maps", "re");
  ck_assert(F != NULL);
  char Line[512];
  bool WX = false;
  *Count = 0;
  while (fgets(Line, sizeof(Line), F)) {
    uint64_t A, B;
    char P[5];
    if (sscanf(Line, "%" SCNx64 "-%" SCNx64 " %4s", &A, &B, P) != 3)
      continue;
    if ((A < Hi && Lo < B) || strstr(Line, "memfd:orcrt-jit")) {
      (*Count)++;
      WX = WX || (P[1] == 'w' && P[2] == 'x');
    }
  }
  fclose(F);
  return WX;
}

/* ---- allocation actions: functions of this binary, with LLVM's sync ABI ------------ */

static pthread_mutex_t LogLock = PTHREAD_MUTEX_INITIALIZER;
static char ActionLog[64];

static void log_reset(void) {
  pthread_mutex_lock(&LogLock);
  ActionLog[0] = '\0';
  pthread_mutex_unlock(&LogLock);
}

static void log_append(char C) {
  pthread_mutex_lock(&LogLock);
  size_t N = strlen(ActionLog);
  if (N + 1 < sizeof(ActionLog)) {
    ActionLog[N] = C;
    ActionLog[N + 1] = '\0';
  }
  pthread_mutex_unlock(&LogLock);
}

static void assert_log(const char *Expected) {
  pthread_mutex_lock(&LogLock);
  char Got[sizeof(ActionLog)];
  memcpy(Got, ActionLog, sizeof(Got));
  pthread_mutex_unlock(&LogLock);
  ck_assert_str_eq(Got, Expected);
}

static orc_rt_WrapperFunctionBuffer success_result(void) {
  return orc_rt_WrapperFunctionBuffer_fromBytes("\0", 1);
}

/* Appends its one argument byte to ActionLog; succeeds. */
static orc_rt_WrapperFunctionBuffer log_action(const char *ArgData, size_t ArgSize) {
  if (ArgSize == 1)
    log_append(ArgData[0]);
  return success_result();
}

/* Fails with an SPSError. */
static orc_rt_WrapperFunctionBuffer failing_action(const char *ArgData, size_t ArgSize) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_errorFailure(&W, "injected failure");
  return orc_rt_SPSWriter_finish(&W);
}

/* Fails out of band. */
static orc_rt_WrapperFunctionBuffer oob_action(const char *ArgData, size_t ArgSize) {
  return orc_rt_WrapperFunctionBuffer_fromOutOfBandError("out-of-band failure");
}

/* Records the thread it runs on and how often it ran; succeeds. */
static pthread_t ActionThread;
static unsigned ActionRuns;

static orc_rt_WrapperFunctionBuffer thread_action(const char *ArgData, size_t ArgSize) {
  pthread_mutex_lock(&LogLock);
  ActionThread = pthread_self();
  ActionRuns++;
  pthread_mutex_unlock(&LogLock);
  return success_result();
}

/* Whether thread_action ran Runs times in all, last on the calling thread. */
static bool thread_action_ran_here(unsigned Runs) {
  pthread_mutex_lock(&LogLock);
  ck_assert_uint_eq(ActionRuns, Runs);
  bool Here = pthread_equal(ActionThread, pthread_self());
  pthread_mutex_unlock(&LogLock);
  return Here;
}

static orc_rt_MemoryAction act(orc_rt_SyncWrapperFunction Fn, const char *Arg) {
  orc_rt_MemoryAction A = {Fn ? orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)Fn) : 0, Arg,
                           Arg ? strlen(Arg) : 0};
  return A;
}

static orc_rt_MemoryActionPair pair(orc_rt_SyncWrapperFunction F, const char *FArg,
                                    orc_rt_SyncWrapperFunction D, const char *DArg) {
  orc_rt_MemoryActionPair P = {act(F, FArg), act(D, DArg)};
  return P;
}

/* ---- reserve ------------------------------------------------------------------------ */

START_TEST(memory_reserve_maps_readable_writable_pages) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = reserve(&E, 3 * Page - 100);
  ck_assert(B != 0);
  ck_assert_uint_eq(B % Page, 0);
  assert_perms(B, "rw-p", false);
  assert_perms(B + 3 * Page - 1, "rw-p", false);
  memset((void *)(uintptr_t)B, 0x5a, 3 * Page);
  ck_assert_int_eq(((unsigned char *)(uintptr_t)B)[3 * Page - 1], 0x5a);
  env_fini(&E);
}
END_TEST

START_TEST(memory_reserve_with_memfd_maps_a_read_only_view_that_finalize_fills) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  ck_assert_int_eq(orc_rt_MemoryService_getStrategy(E.M), orc_rt_MemoryStrategy_MemFD);
  orc_rt_ExecutorAddr B = reserve(&E, 2 * Page);
  assert_perms(B, "r--p", true);
  /* Read before finalize (as the ORC runtime does), then finalized: the view shows the content. */
  volatile const char *P = (volatile const char *)(uintptr_t)B;
  ck_assert_int_eq(P[0] + P[Page], 0);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, 2 * Page, "filled", 6);
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, NULL, 0));
  ck_assert_int_eq(memcmp((const void *)(uintptr_t)B, "filled", 6), 0);
  env_fini(&E);
}
END_TEST

START_TEST(memory_reserve_zero_returns_address_zero) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  ck_assert_uint_eq(reserve(&E, 0), 0);
  /* What reserve(0) handed out can be deallocated. */
  orc_rt_ExecutorAddr Zero = 0;
  orcrt_test_assert_sps_success(deallocate(&E, &Zero, 1));
  env_fini(&E);
}
END_TEST

START_TEST(memory_reserve_huge_size_fails_and_session_goes_on) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  const uint64_t Sizes[] = {UINT64_C(1) << 60, UINT64_MAX, UINT64_MAX - 4095};
  for (size_t I = 0; I < 3; I++) {
    char *Msg;
    ck_assert_uint_eq(try_reserve(&E, Sizes[I], &Msg), 0);
    ck_assert_msg(Msg && strstr(Msg, "Could not reserve"), "got %s", Msg);
    free(Msg);
  }
  ck_assert(reserve(&E, Page) != 0);
  env_fini(&E);
}
END_TEST

START_TEST(memory_reserve_huge_size_fails_with_memfd) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  char *Msg;
  ck_assert_uint_eq(try_reserve(&E, UINT64_C(1) << 60, &Msg), 0);
  ck_assert(Msg != NULL);
  free(Msg);
  ck_assert(reserve(&E, Page) != 0);
  env_fini(&E);
}
END_TEST

/* ---- finalize -------------------------------------------------------------------------- */

static void check_content_and_protections(orc_rt_MemoryStrategy Strategy) {
  env E;
  env_init(&E, Strategy);
  orc_rt_ExecutorAddr B = reserve(&E, 3 * Page);
  /* Garbage first, so that the zero-fill shows. */
  if (Strategy == orc_rt_MemoryStrategy_MProtect)
    memset((void *)(uintptr_t)B, 0xee, 3 * Page);
  orc_rt_MemorySegment Segs[] = {
      seg(orc_rt_MemProt_Read, B, Page, "ro-data", 7),
      seg(orc_rt_MemProt_Read | orc_rt_MemProt_Write, B + Page, 100, "rw", 2),
      seg(orc_rt_MemProt_Read | orc_rt_MemProt_Exec, B + 2 * Page, Page, "\xc3", 1),
  };
  orcrt_test_assert_sps_success(finalize(&E, Segs, 3, NULL, 0));
  const unsigned char *P = (const unsigned char *)(uintptr_t)B;
  ck_assert_int_eq(memcmp(P, "ro-data", 7), 0);
  for (size_t I = 7; I < Page; I++)
    ck_assert_msg(P[I] == 0, "byte %zu not zero-filled", I);
  ck_assert_int_eq(memcmp(P + Page, "rw", 2), 0);
  for (size_t I = 2; I < 100; I++)
    ck_assert_msg(P[Page + I] == 0, "byte %zu not zero-filled", Page + I);
  ck_assert_int_eq(P[2 * Page], 0xc3);
  ck_assert_int_eq(P[2 * Page + 1], 0);
  bool MemFD = Strategy == orc_rt_MemoryStrategy_MemFD;
  assert_perms(B, "r--p", MemFD);
  assert_perms(B + Page, "rw-p", MemFD);
  assert_perms(B + 2 * Page, "r-xp", MemFD);
  ck_assert(!orc_rt_MemoryService_isExecutable(E.M, B));
  ck_assert(!orc_rt_MemoryService_isExecutable(E.M, B + Page));
  ck_assert(orc_rt_MemoryService_isExecutable(E.M, B + 2 * Page));
  ck_assert(orc_rt_MemoryService_isExecutable(E.M, B + 3 * Page - 1));
  ck_assert(!orc_rt_MemoryService_isExecutable(E.M, B + 3 * Page));
  env_fini(&E);
}

START_TEST(memory_finalize_copies_zero_fills_and_protects) {
  check_content_and_protections(orc_rt_MemoryStrategy_MProtect);
}
END_TEST

START_TEST(memory_finalize_copies_zero_fills_and_protects_with_memfd) {
  check_content_and_protections(orc_rt_MemoryStrategy_MemFD);
}
END_TEST

static void check_wx(orc_rt_MemoryStrategy Strategy) {
  env E;
  env_init(&E, Strategy);
  orc_rt_ExecutorAddr B = reserve(&E, 4 * Page);
  orc_rt_MemorySegment Segs[] = {
      seg(orc_rt_MemProt_Read | orc_rt_MemProt_Exec, B, 2 * Page, "\x90\xc3", 2),
      seg(orc_rt_MemProt_Read | orc_rt_MemProt_Write, B + 2 * Page, Page, "data", 4),
      seg(orc_rt_MemProt_Read, B + 3 * Page, Page, "ro", 2),
  };
  orcrt_test_assert_sps_success(finalize(&E, Segs, 3, NULL, 0));
  int Count;
  ck_assert_msg(!maps_any_wx(B, B + 4 * Page, &Count), "a mapping is writable and executable");
  ck_assert_int_ge(Count, 3);
  env_fini(&E);
}

START_TEST(memory_no_mapping_is_writable_and_executable) {
  check_wx(orc_rt_MemoryStrategy_MProtect);
}
END_TEST

START_TEST(memory_no_mapping_is_writable_and_executable_with_memfd) {
  check_wx(orc_rt_MemoryStrategy_MemFD);
}
END_TEST

/*
 * A debugger plants breakpoints with forced writes (ptrace, /proc/PID/mem),
 * which the kernel refuses for read-only shared mappings.
 */
static void check_debugger_write(orc_rt_MemoryStrategy Strategy) {
  env E;
  env_init(&E, Strategy);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read | orc_rt_MemProt_Exec, B, Page, "\x90\xc3", 2);
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, NULL, 0));
  int Fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  ck_assert_int_ge(Fd, 0);
  ck_assert_int_eq(pwrite(Fd, "\xcc", 1, (off_t)B), 1);
  close(Fd);
  ck_assert_int_eq(*(unsigned char *)(uintptr_t)B, 0xcc);
  assert_perms(B, "r-xp", Strategy == orc_rt_MemoryStrategy_MemFD);
  env_fini(&E);
}

START_TEST(memory_debugger_can_plant_breakpoints) {
  check_debugger_write(orc_rt_MemoryStrategy_MProtect);
}
END_TEST

START_TEST(memory_debugger_can_plant_breakpoints_with_memfd) {
  check_debugger_write(orc_rt_MemoryStrategy_MemFD);
}
END_TEST

START_TEST(memory_finalize_write_and_execute_segment_fails) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G =
      seg(orc_rt_MemProt_Read | orc_rt_MemProt_Write | orc_rt_MemProt_Exec, B, Page, "x", 1);
  orcrt_test_assert_sps_failure(finalize(&E, &G, 1, NULL, 0), "writable and executable");
  ck_assert(!orc_rt_MemoryService_isExecutable(E.M, B));
  /* Refused like any bad segment: the allocation is released. */
  orcrt_test_assert_sps_failure(deallocate(&E, &B, 1), "No allocation entry found");
  env_fini(&E);
}
END_TEST

START_TEST(memory_finalize_unrecognized_allocation_fails) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  static char NotJIT[Page];
  orc_rt_ExecutorAddr A = orc_rt_ExecutorAddr_fromPtr(NotJIT);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, A, 16, "abc", 3);
  char Expected[96];
  snprintf(Expected, sizeof(Expected), "Attempt to finalize unrecognized allocation 0x%" PRIx64, A);
  orcrt_test_assert_sps_failure(finalize(&E, &G, 1, NULL, 0), Expected);
  ck_assert_int_eq(NotJIT[0], 0);
  ck_assert(reserve(&E, Page) != 0);
  env_fini(&E);
}
END_TEST

START_TEST(memory_finalize_segment_outside_reservation_fails_and_releases_it) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment Segs[] = {
      seg(orc_rt_MemProt_Read, B, Page, "a", 1),
      seg(orc_rt_MemProt_Read, B + Page, Page, "b", 1),
  };
  orcrt_test_assert_sps_failure(finalize(&E, Segs, 2, NULL, 0), "crosses boundary of allocation");
  /* As with LLVM, the failed allocation is gone. */
  char Expected[64];
  snprintf(Expected, sizeof(Expected), "No allocation entry found for 0x%" PRIx64, B);
  orcrt_test_assert_sps_failure(deallocate(&E, &B, 1), Expected);
  env_fini(&E);
}
END_TEST

START_TEST(memory_finalize_segment_size_overflow_fails) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, UINT64_MAX - 10, "", 0);
  orcrt_test_assert_sps_failure(finalize(&E, &G, 1, NULL, 0), "overflows");
  ck_assert(reserve(&E, Page) != 0);
  env_fini(&E);
}
END_TEST

START_TEST(memory_finalize_content_larger_than_segment_fails) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, 4, "too long", 8);
  orcrt_test_assert_sps_failure(finalize(&E, &G, 1, NULL, 0), "content size (0x8 bytes) exceeds segment size");
  env_fini(&E);
}
END_TEST

/*
 * Overlapping segments would leave bytes that depend on the order of the
 * copies, and differ between the strategies: refused, whichever overlaps.
 */
static void check_overlap_refused(orc_rt_MemoryStrategy Strategy) {
  env E;
  env_init(&E, Strategy);
  orc_rt_ExecutorAddr B = reserve(&E, 3 * Page);
  orc_rt_MemorySegment Same[] = {
      seg(orc_rt_MemProt_Read, B, Page, "first", 5),
      seg(orc_rt_MemProt_Read, B + 2 * Page, Page, "", 0),
      seg(orc_rt_MemProt_Read, B + 2, 8, "second", 6),
  };
  orcrt_test_assert_sps_failure(finalize(&E, Same, 3, NULL, 0), "overlaps segment");
  orc_rt_ExecutorAddr C = reserve(&E, 3 * Page);
  orc_rt_MemorySegment Across[] = {
      seg(orc_rt_MemProt_Read | orc_rt_MemProt_Exec, C + Page, 2 * Page, "\xc3", 1),
      seg(orc_rt_MemProt_Read | orc_rt_MemProt_Write, C, Page + 1, "data", 4),
  };
  orcrt_test_assert_sps_failure(finalize(&E, Across, 2, NULL, 0), "overlaps segment");
  /* Touching is not overlapping, and an empty segment overlaps nothing. */
  orc_rt_ExecutorAddr D = reserve(&E, 2 * Page);
  orc_rt_MemorySegment Adjacent[] = {
      seg(orc_rt_MemProt_Read, D + Page, Page, "b", 1),
      seg(orc_rt_MemProt_Read, D, Page, "a", 1),
      seg(orc_rt_MemProt_Read, D + 10, 0, "", 0),
  };
  orcrt_test_assert_sps_success(finalize(&E, Adjacent, 3, NULL, 0));
  ck_assert_int_eq(*(const char *)(uintptr_t)D, 'a');
  ck_assert_int_eq(*(const char *)(uintptr_t)(D + Page), 'b');
  env_fini(&E);
}

START_TEST(memory_finalize_overlapping_segments_fails) {
  check_overlap_refused(orc_rt_MemoryStrategy_MProtect);
}
END_TEST

START_TEST(memory_finalize_overlapping_segments_fails_with_memfd) {
  check_overlap_refused(orc_rt_MemoryStrategy_MemFD);
}
END_TEST

START_TEST(memory_finalize_empty_request) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orcrt_test_assert_sps_success(finalize(&E, NULL, 0, NULL, 0));
  orc_rt_MemoryActionPair P = pair(log_action, "a", NULL, NULL);
  log_reset();
  orcrt_test_assert_sps_failure(finalize(&E, NULL, 0, &P, 1),
                 "Finalization actions attached to empty finalization request");
  assert_log("");
  env_fini(&E);
}
END_TEST

START_TEST(memory_finalize_twice_fails) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, Page, "once", 4);
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, NULL, 0));
  orcrt_test_assert_sps_failure(finalize(&E, &G, 1, NULL, 0), "already finalized");
  /* The first finalize still stands. */
  ck_assert_int_eq(memcmp((void *)(uintptr_t)B, "once", 4), 0);
  orcrt_test_assert_sps_success(deallocate(&E, &B, 1));
  env_fini(&E);
}
END_TEST

START_TEST(memory_finalize_malformed_arguments_answered_out_of_band) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  /* A segment count no input could hold. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(&E, InstanceSym));
  orc_rt_SPSWriter_seqCount(&W, UINT64_C(1) << 60);
  orc_rt_SPSWriter_u8(&W, 1);
  orcrt_test_assert_out_of_band(call(&E, FinalizeFn, &W), "Could not deserialize");
  /* A truncated segment. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(&E, InstanceSym));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_u8(&W, 1);
  orc_rt_SPSWriter_addr(&W, B);
  orc_rt_SPSWriter_u64(&W, Page);
  orc_rt_SPSWriter_seqCount(&W, 1000);
  orc_rt_SPSWriter_raw(&W, "abc", 3);
  orcrt_test_assert_out_of_band(call(&E, FinalizeFn, &W), "Could not deserialize");
  /* Truncated reserve and deallocate arguments. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u32(&W, 7);
  orcrt_test_assert_out_of_band(call(&E, ReserveFn, &W), "Could not deserialize");
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(&E, InstanceSym));
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_addr(&W, B);
  orcrt_test_assert_out_of_band(call(&E, DeallocateFn, &W), "Could not deserialize");
  /* The allocation was not touched and the Session still serves. */
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, Page, "ok", 2);
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, NULL, 0));
  orcrt_test_assert_sps_success(deallocate(&E, &B, 1));
  env_fini(&E);
}
END_TEST

START_TEST(memory_wrong_instance_fails) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, 0x1234);
  orc_rt_SPSWriter_u64(&W, Page);
  orc_rt_WrapperFunctionBuffer R = call(&E, ReserveFn, &W);
  orc_rt_SPSReader Rd;
  bool HasValue = true;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(&R), R.Size);
  ck_assert(orc_rt_SPSReader_expected(&Rd, &HasValue, &Msg, &MsgSize));
  ck_assert(!HasValue);
  ck_assert(memmem(Msg, MsgSize, "Unknown memory manager instance 0x1234", 38) != NULL);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  env_fini(&E);
}
END_TEST

/* ---- actions --------------------------------------------------------------------------- */

START_TEST(memory_finalize_actions_run_in_order_and_dealloc_actions_in_reverse) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  log_reset();
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, Page, "x", 1);
  orc_rt_MemoryActionPair Acts[] = {
      pair(log_action, "a", log_action, "x"),
      pair(log_action, "b", NULL, NULL),
      pair(log_action, "c", log_action, "z"),
  };
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, Acts, 3));
  assert_log("abc");
  orcrt_test_assert_sps_success(deallocate(&E, &B, 1));
  assert_log("abczx");
  env_fini(&E);
  assert_log("abczx");
}
END_TEST

START_TEST(memory_actions_never_run_on_the_thread_delivering_the_call) {
  /*
   * The memory wrappers may run on the thread that delivers the call (the
   * transport's I/O thread; here the loopback's caller), but allocation
   * actions run code that may block, so they run on the pool.
   */
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, Page, "x", 1);
  orc_rt_MemoryActionPair P = pair(thread_action, "f", thread_action, "d");
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, &P, 1));
  ck_assert(!thread_action_ran_here(1));
  orcrt_test_assert_sps_success(deallocate(&E, &B, 1));
  ck_assert(!thread_action_ran_here(2));
  env_fini(&E);
}
END_TEST

START_TEST(memory_dealloc_actions_run_at_shutdown_newest_allocation_first) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  log_reset();
  orc_rt_ExecutorAddr B1 = reserve(&E, Page), B2 = reserve(&E, Page);
  orc_rt_MemorySegment G1 = seg(orc_rt_MemProt_Read, B1, Page, "1", 1);
  orc_rt_MemorySegment G2 = seg(orc_rt_MemProt_Read, B2, Page, "2", 1);
  orc_rt_MemoryActionPair A1[] = {pair(NULL, NULL, log_action, "p"),
                                  pair(NULL, NULL, log_action, "q")};
  orc_rt_MemoryActionPair A2[] = {pair(NULL, NULL, log_action, "r"),
                                  pair(NULL, NULL, log_action, "s")};
  orcrt_test_assert_sps_success(finalize(&E, &G1, 1, A1, 2));
  orcrt_test_assert_sps_success(finalize(&E, &G2, 1, A2, 2));
  assert_log("");
  env_fini(&E);
  assert_log("srqp");
}
END_TEST

START_TEST(memory_failing_finalize_action_fails_and_rolls_back) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  log_reset();
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, Page, "x", 1);
  orc_rt_MemoryActionPair Acts[] = {
      pair(log_action, "a", log_action, "x"),
      pair(log_action, "b", log_action, "y"),
      pair(failing_action, NULL, log_action, "n"),
      pair(log_action, "c", log_action, "z"),
  };
  orcrt_test_assert_sps_failure(finalize(&E, &G, 1, Acts, 4), "injected failure");
  /* The completed actions were undone, last first; the rest never ran. */
  assert_log("abyx");
  char Expected[64];
  snprintf(Expected, sizeof(Expected), "No allocation entry found for 0x%" PRIx64, B);
  orcrt_test_assert_sps_failure(deallocate(&E, &B, 1), Expected);
  env_fini(&E);
  assert_log("abyx");
}
END_TEST

START_TEST(memory_out_of_band_finalize_action_error_fails_finalize) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  log_reset();
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, Page, "x", 1);
  orc_rt_MemoryActionPair Acts[] = {
      pair(log_action, "a", log_action, "x"),
      pair(oob_action, NULL, log_action, "n"),
  };
  orcrt_test_assert_sps_failure(finalize(&E, &G, 1, Acts, 2), "out-of-band failure");
  assert_log("ax");
  env_fini(&E);
}
END_TEST

START_TEST(memory_action_outside_executable_memory_fails_without_calling_it) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  log_reset();
  static char Data[16];
  for (int Case = 0; Case < 4; Case++) {
    orc_rt_ExecutorAddr B = reserve(&E, 2 * Page);
    orc_rt_MemorySegment Segs[] = {
        seg(orc_rt_MemProt_Read, B, Page, "x", 1),
        seg(orc_rt_MemProt_Read | orc_rt_MemProt_Write, B + Page, Page, "\xc3", 1),
    };
    /* Unmapped, data of this binary, non-executable JIT memory, inside a function of this binary. */
    orc_rt_ExecutorAddr Bad = Case == 0   ? 0x10
                              : Case == 1 ? orc_rt_ExecutorAddr_fromPtr(Data)
                              : Case == 2 ? B + Page
                                          : orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)log_action) + 1;
    orc_rt_MemoryActionPair Acts[] = {
        pair(log_action, "a", log_action, "x"),
        {{Bad, "", 0}, {0, NULL, 0}},
    };
    orcrt_test_assert_sps_failure(finalize(&E, Segs, 2, Acts, 2),
                                  "is not the entry of a function in executable memory");
  }
  assert_log("axaxaxax");
  env_fini(&E);
}
END_TEST

/* ---- deallocate ----------------------------------------------------------------------- */

START_TEST(memory_deallocate_unknown_base_fails_while_others_proceed) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  log_reset();
  orc_rt_ExecutorAddr B1 = reserve(&E, Page), B2 = reserve(&E, 2 * Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B1, Page, "x", 1);
  orc_rt_MemoryActionPair P = pair(NULL, NULL, log_action, "d");
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, &P, 1));
  orc_rt_ExecutorAddr Bases[] = {B1, 0xdead0000, B2};
  char Expected[64];
  snprintf(Expected, sizeof(Expected), "No allocation entry found for 0x%" PRIx64,
           (uint64_t)0xdead0000);
  orcrt_test_assert_sps_failure(deallocate(&E, Bases, 3), Expected);
  assert_log("d");
  /* Both real allocations are gone: deallocating them again fails for each. */
  orc_rt_ExecutorAddr Again[] = {B1, B2};
  orc_rt_WrapperFunctionBuffer R = deallocate(&E, Again, 2);
  char *Msg = orcrt_test_take_sps_error(&R);
  ck_assert(Msg != NULL);
  snprintf(Expected, sizeof(Expected), "No allocation entry found for 0x%" PRIx64, B1);
  ck_assert_msg(strstr(Msg, Expected), "got %s", Msg);
  snprintf(Expected, sizeof(Expected), "No allocation entry found for 0x%" PRIx64, B2);
  ck_assert_msg(strstr(Msg, Expected), "got %s", Msg);
  free(Msg);
  assert_log("d");
  env_fini(&E);
}
END_TEST

START_TEST(memory_double_deallocate_fails) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  log_reset();
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, Page, "x", 1);
  orc_rt_MemoryActionPair P = pair(NULL, NULL, log_action, "d");
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, &P, 1));
  orcrt_test_assert_sps_success(deallocate(&E, &B, 1));
  char Expected[64];
  snprintf(Expected, sizeof(Expected), "No allocation entry found for 0x%" PRIx64, B);
  orcrt_test_assert_sps_failure(deallocate(&E, &B, 1), Expected);
  /* The actions ran once. */
  assert_log("d");
  env_fini(&E);
  assert_log("d");
}
END_TEST

/* ---- concurrency ------------------------------------------------------------------------ */

enum { NumConcurrent = 8 };

typedef struct {
  orcrt_test_latch Done;
  orc_rt_WrapperFunctionBuffer Results[NumConcurrent];
  pthread_mutex_t Lock;
} concurrent;

typedef struct {
  concurrent *C;
  size_t I;
} concurrent_slot;

static void concurrent_result(void *Ctx, orc_rt_WrapperFunctionBuffer R) {
  concurrent_slot *Slot = Ctx;
  pthread_mutex_lock(&Slot->C->Lock);
  Slot->C->Results[Slot->I] = R;
  pthread_mutex_unlock(&Slot->C->Lock);
  orcrt_test_latch_signal(&Slot->C->Done);
}

START_TEST(memory_concurrent_finalizes_of_different_allocations) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  concurrent C;
  concurrent_slot Slots[NumConcurrent];
  orc_rt_ExecutorAddr Bases[NumConcurrent];
  static char Content[NumConcurrent][4 * Page];
  orcrt_test_latch_init(&C.Done);
  pthread_mutex_init(&C.Lock, NULL);
  for (size_t I = 0; I < NumConcurrent; I++) {
    Bases[I] = reserve(&E, 4 * Page);
    memset(Content[I], 'A' + (int)I, sizeof(Content[I]));
  }
  for (size_t I = 0; I < NumConcurrent; I++) {
    orc_rt_SPSWriter W;
    orc_rt_SPSWriter_init(&W);
    orc_rt_SPSWriter_addr(&W, sym(&E, InstanceSym));
    orc_rt_SPSWriter_seqCount(&W, 1);
    orc_rt_SPSWriter_u8(&W, orc_rt_MemProt_Read);
    orc_rt_SPSWriter_addr(&W, Bases[I]);
    orc_rt_SPSWriter_u64(&W, 4 * Page);
    orc_rt_SPSWriter_bytes(&W, Content[I], sizeof(Content[I]));
    orc_rt_SPSWriter_seqCount(&W, 0);
    Slots[I].C = &C;
    Slots[I].I = I;
    orc_rt_LoopbackController_callWrapper(E.LC, sym(&E, FinalizeFn), orc_rt_SPSWriter_finish(&W),
                                          concurrent_result, &Slots[I]);
  }
  orcrt_test_latch_wait(&C.Done, NumConcurrent);
  for (size_t I = 0; I < NumConcurrent; I++) {
    pthread_mutex_lock(&C.Lock);
    orc_rt_WrapperFunctionBuffer R = C.Results[I];
    pthread_mutex_unlock(&C.Lock);
    orcrt_test_assert_sps_success(R);
    ck_assert_int_eq(memcmp((void *)(uintptr_t)Bases[I], Content[I], sizeof(Content[I])), 0);
  }
  orcrt_test_assert_sps_success(deallocate(&E, Bases, NumConcurrent));
  pthread_mutex_destroy(&C.Lock);
  orcrt_test_latch_destroy(&C.Done);
  env_fini(&E);
}
END_TEST

/* ---- the C API ---------------------------------------------------------------------------- */

START_TEST(memory_c_api_reserve_finalize_write_deallocate) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  orc_rt_ExecutorAddr B;
  ck_assert_no_error(orc_rt_MemoryService_reserve(E.M, 2 * Page, &B));
  /* Writes into reserved memory go through the memfd (the view is read-only). */
  ck_assert_no_error(orc_rt_MemoryService_write(E.M, B + Page + 8, "early", 5));
  orc_rt_MemorySegment Segs[] = {
      seg(orc_rt_MemProt_Read | orc_rt_MemProt_Write, B, Page, "rw", 2),
      seg(orc_rt_MemProt_Read, B + Page, 8, "12345678", 8),
  };
  orc_rt_MemoryFinalizeRequest Req = {Segs, 2, NULL, 0};
  ck_assert_no_error(orc_rt_MemoryService_finalize(E.M, &Req));
  ck_assert_int_eq(memcmp((char *)(uintptr_t)B + Page, "12345678early", 13), 0);
  /* JIT'd code writes its data, then the controller does: both land where the code looks. */
  *(char *)(uintptr_t)B = 'R';
  ck_assert_no_error(orc_rt_MemoryService_write(E.M, B + 2, "+w", 2));
  ck_assert_int_eq(memcmp((char *)(uintptr_t)B, "Rw+w", 4), 0);
  ck_assert_error_contains(orc_rt_MemoryService_write(E.M, B + Page, "no", 2), "not writable");
  ck_assert_error_contains(orc_rt_MemoryService_write(E.M, B + 2 * Page - 1, "no", 2),
                           "not in JIT memory");
  ck_assert_no_error(orc_rt_MemoryService_deallocate(E.M, B));
  ck_assert_error_contains(orc_rt_MemoryService_deallocate(E.M, B), "No allocation entry found");
  env_fini(&E);
}
END_TEST

/* ---- lifetime, descriptors, accounting, order ------------------------------------------- */

/* A thread-specific value whose destructor reads JIT memory, as JIT'd code's would. */
static pthread_key_t TsdKey;
static char TsdSeen;
static orcrt_test_latch TsdSet;

static void tsd_destroy(void *P) {
  pthread_mutex_lock(&LogLock);
  TsdSeen = *(volatile const char *)P;
  pthread_mutex_unlock(&LogLock);
}

static void tsd_set(void *P) {
  pthread_setspecific(TsdKey, P);
  orcrt_test_latch_signal(&TsdSet);
}

START_TEST(memory_stays_mapped_at_shutdown_until_the_workers_have_exited) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  ck_assert_int_eq(pthread_key_create(&TsdKey, tsd_destroy), 0);
  orcrt_test_latch_init(&TsdSet);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, B, Page, "k", 1);
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, NULL, 0));
  /* A pool worker keeps the value until it exits, which is after the memory Service's shutdown. */
  orc_rt_TaskDispatcher_dispatch(orc_rt_Session_getDispatcher(E.S),
                                 (orc_rt_Task){tsd_set, NULL, orc_rt_ExecutorAddr_toPtr(B)});
  orcrt_test_latch_wait(&TsdSet, 1);
  env_fini(&E);
  pthread_mutex_lock(&LogLock);
  char Seen = TsdSeen;
  pthread_mutex_unlock(&LogLock);
  ck_assert_int_eq(Seen, 'k');
  pthread_key_delete(TsdKey);
  orcrt_test_latch_destroy(&TsdSet);
}
END_TEST

/* Lower the soft descriptor limit to what is open now plus Spare; returns the old limit. */
static struct rlimit lower_fd_limit(int Spare) {
  struct rlimit Old, New;
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &Old), 0);
  New = Old;
  New.rlim_cur = (rlim_t)(orcrt_test_count_fds() + Spare);
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &New), 0);
  return Old;
}

/* Whether the process can still open a descriptor (JIT'd code's fopen). */
static bool can_open_a_file(void) {
  int Fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (Fd < 0)
    return false;
  close(Fd);
  return true;
}

enum { FdSpare = 64, ManyAllocs = 3 * FdSpare };

START_TEST(memory_memfd_allocations_hold_no_descriptor_once_finalized) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  struct rlimit Old = lower_fd_limit(FdSpare);
  static orc_rt_ExecutorAddr Bases[ManyAllocs];
  for (size_t I = 0; I < ManyAllocs; I++) {
    Bases[I] = reserve(&E, Page);
    orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, Bases[I], Page, "m", 1);
    orcrt_test_assert_sps_success(finalize(&E, &G, 1, NULL, 0));
  }
  /* Every one still got a memfd, and descriptors are left. */
  assert_perms(Bases[ManyAllocs - 1], "r--p", true);
  ck_assert(can_open_a_file());
  orcrt_test_assert_sps_success(deallocate(&E, Bases, ManyAllocs));
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &Old), 0);
  env_fini(&E);
}
END_TEST

START_TEST(memory_memfd_reservations_leave_descriptors_for_jit_code) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  struct rlimit Old = lower_fd_limit(FdSpare);
  static orc_rt_ExecutorAddr Bases[ManyAllocs];
  /* Reserved, not finalized: each holds its memfd, up to a share of the limit. */
  for (size_t I = 0; I < ManyAllocs; I++)
    Bases[I] = reserve(&E, Page);
  ck_assert(can_open_a_file());
  /* Past that share they use mprotect, and finalize all the same. */
  assert_perms(Bases[0], "r--p", true);
  assert_perms(Bases[ManyAllocs - 1], "rw-p", false);
  for (size_t I = 0; I < ManyAllocs; I++) {
    orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, Bases[I], Page, "r", 1);
    orcrt_test_assert_sps_success(finalize(&E, &G, 1, NULL, 0));
    ck_assert_int_eq(*(const char *)(uintptr_t)Bases[I], 'r');
  }
  orcrt_test_assert_sps_success(deallocate(&E, Bases, ManyAllocs));
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &Old), 0);
  env_fini(&E);
}
END_TEST

START_TEST(memory_memfd_reserve_falls_back_to_mprotect_without_descriptors) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  struct rlimit Old = lower_fd_limit(FdSpare);
  static int Fds[4096];
  int N = 0;
  while (N < 4096 && (Fds[N] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
    N++;
  ck_assert_int_lt(N, 4096);
  ck_assert_int_eq(errno, EMFILE);
  orc_rt_ExecutorAddr B = reserve(&E, Page);
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read | orc_rt_MemProt_Exec, B, Page, "\xc3", 1);
  orcrt_test_assert_sps_success(finalize(&E, &G, 1, NULL, 0));
  ck_assert(orc_rt_MemoryService_isExecutable(E.M, B));
  while (N > 0)
    close(Fds[--N]);
  assert_perms(B, "r-xp", false);
  orcrt_test_assert_sps_success(deallocate(&E, &B, 1));
  ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &Old), 0);
  env_fini(&E);
}
END_TEST

START_TEST(memory_reserve_beyond_what_the_system_can_back_fails_with_either_strategy) {
  struct sysinfo Info;
  ck_assert_int_eq(sysinfo(&Info), 0);
  uint64_t Backing = ((uint64_t)Info.totalram + Info.totalswap) * Info.mem_unit;
  uint64_t Size = UINT64_C(1) << 40;
  while (Size < 4 * Backing)
    Size *= 2;
  /* With overcommit always on (mode 1) the kernel refuses nothing: the strategies still agree. */
  FILE *F = fopen("/proc/sys/vm/overcommit_memory", "re");
  int Mode = 0;
  if (F) {
    if (fscanf(F, "%d", &Mode) != 1)
      Mode = 0;
    fclose(F);
  }
  char *Msg[2];
  orc_rt_ExecutorAddr B[2];
  for (int I = 0; I < 2; I++) {
    env E;
    env_init(&E, I ? orc_rt_MemoryStrategy_MemFD : orc_rt_MemoryStrategy_MProtect);
    B[I] = try_reserve(&E, Size, &Msg[I]);
    env_fini(&E);
  }
  ck_assert_msg((Msg[0] == NULL) == (Msg[1] == NULL), "mprotect: %s; memfd: %s",
                Msg[0] ? Msg[0] : "reserved", Msg[1] ? Msg[1] : "reserved");
  if (Mode != 1) {
    ck_assert_msg(Msg[1] && strstr(Msg[1], "Could not reserve"), "memfd: %s",
                  Msg[1] ? Msg[1] : "reserved");
    ck_assert_uint_eq(B[1], 0);
  }
  free(Msg[0]);
  free(Msg[1]);
}
END_TEST

START_TEST(memory_deallocate_releases_the_listed_bases_last_first) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  log_reset();
  orc_rt_ExecutorAddr Bases[3];
  const char *Tags[3] = {"a", "b", "c"};
  for (size_t I = 0; I < 3; I++) {
    Bases[I] = reserve(&E, Page);
    orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read, Bases[I], Page, "x", 1);
    orc_rt_MemoryActionPair P = pair(NULL, NULL, log_action, Tags[I]);
    orcrt_test_assert_sps_success(finalize(&E, &G, 1, &P, 1));
  }
  orc_rt_ExecutorAddr List[] = {Bases[1], 0xdead0000, Bases[0], Bases[2]};
  orcrt_test_assert_sps_failure(deallocate(&E, List, 4), "No allocation entry found for 0xdead0000");
  assert_log("cab");
  env_fini(&E);
  assert_log("cab");
}
END_TEST

START_TEST(memory_write_outside_segments_of_a_finalized_memfd_allocation_fails) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  orc_rt_ExecutorAddr B;
  ck_assert_no_error(orc_rt_MemoryService_reserve(E.M, 2 * Page, &B));
  orc_rt_MemorySegment G = seg(orc_rt_MemProt_Read | orc_rt_MemProt_Write, B, Page, "rw", 2);
  orc_rt_MemoryFinalizeRequest Req = {&G, 1, NULL, 0};
  ck_assert_no_error(orc_rt_MemoryService_finalize(E.M, &Req));
  /* The page no segment covers stays read-only, and its memfd is gone. */
  ck_assert_error_contains(orc_rt_MemoryService_write(E.M, B + Page, "no", 2), "not writable");
  ck_assert_int_eq(*(const char *)(uintptr_t)(B + Page), 0);
  ck_assert_no_error(orc_rt_MemoryService_write(E.M, B + 2, "ok", 2));
  ck_assert_int_eq(memcmp((const char *)(uintptr_t)B, "rwok", 4), 0);
  env_fini(&E);
}
END_TEST

/* A writer that keeps writing a page into one allocation until the write fails. */
enum { RacingSize = 16 * Page };
typedef struct {
  orc_rt_MemoryServiceRef M;
  orc_rt_ExecutorAddr Base;
  atomic_uint Writes;
  char Data[RacingSize];
} racing_writer;

static void *write_until_refused(void *Ctx) {
  racing_writer *W = Ctx;
  for (;;) {
    orc_rt_ErrorRef Err = orc_rt_MemoryService_write(W->M, W->Base, W->Data, sizeof(W->Data));
    if (Err) {
      orc_rt_Error_consume(Err);
      return NULL;
    }
    atomic_fetch_add(&W->Writes, 1);
  }
}

START_TEST(memory_write_racing_deallocate_never_copies_into_unmapped_memory) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  static racing_writer W;
  W.M = E.M;
  memset(W.Data, 'w', sizeof(W.Data));
  for (int I = 0; I < 200; I++) {
    ck_assert_no_error(orc_rt_MemoryService_reserve(E.M, RacingSize, &W.Base));
    orc_rt_MemorySegment G =
        seg(orc_rt_MemProt_Read | orc_rt_MemProt_Write, W.Base, RacingSize, NULL, 0);
    orc_rt_MemoryFinalizeRequest Req = {&G, 1, NULL, 0};
    ck_assert_no_error(orc_rt_MemoryService_finalize(E.M, &Req));
    pthread_t T;
    atomic_store(&W.Writes, 0);
    ck_assert_int_eq(pthread_create(&T, NULL, write_until_refused, &W), 0);
    /* Deallocate while the writer is busy copying, not before it starts. */
    while (atomic_load(&W.Writes) < 2)
      sched_yield();
    /*
     * Writes copy with no lock held, on a pin: the deallocation waits for
     * the copy in progress, so the writer never faults on unmapped pages.
     */
    ck_assert_no_error(orc_rt_MemoryService_deallocate(E.M, W.Base));
    ck_assert_int_eq(pthread_join(T, NULL), 0);
  }
  env_fini(&E);
}
END_TEST

/* ---- LLVM 22: regions ----------------------------------------------------------------- */

/*
 * Several regions in one reservation, keyed by their lowest segment; an
 * overlapping one is refused before anything is written; deinitialize runs
 * and forgets one region's actions; release runs the rest, last region's
 * last action first, and unmaps.
 */
static void check_regions(orc_rt_MemoryStrategy Strategy) {
  env E;
  env_init(&E, Strategy);
  log_reset();
  orc_rt_ExecutorAddr B = reserve(&E, 4 * Page);
  orc_rt_MemorySegment G1[] = {seg(orc_rt_MemProt_Read, B, Page, "one", 3)};
  orc_rt_MemoryActionPair A1[] = {pair(log_action, "a", log_action, "x"),
                                  pair(log_action, "b", log_action, "y")};
  ck_assert_uint_eq(initialize(&E, G1, 1, A1, 2), B);
  orc_rt_MemorySegment G2[] = {
      seg(orc_rt_MemProt_Read | orc_rt_MemProt_Write, B + 3 * Page, 8, "four", 4),
      seg(orc_rt_MemProt_Read, B + 2 * Page, Page, "two", 3)};
  orc_rt_MemoryActionPair A2[] = {pair(log_action, "c", log_action, "z")};
  ck_assert_uint_eq(initialize(&E, G2, 2, A2, 1), B + 2 * Page);
  assert_log("abc");
  ck_assert_str_eq((const char *)(uintptr_t)B, "one");
  ck_assert_str_eq((const char *)(uintptr_t)(B + 2 * Page), "two");
  ck_assert_str_eq((const char *)(uintptr_t)(B + 3 * Page), "four");
  assert_perms(B, "r--", Strategy == orc_rt_MemoryStrategy_MemFD);
  assert_perms(B + 3 * Page, "rw-", Strategy == orc_rt_MemoryStrategy_MemFD);

  /* Overlapping the second region: refused, the page left as it was. */
  orc_rt_MemorySegment Over[] = {seg(orc_rt_MemProt_Read, B + Page, 2 * Page, "no", 2)};
  orcrt_test_assert_expected_failure(request(&E, InitializeFn, Over, 1, NULL, 0),
                                     "overlaps previous region");
  ck_assert_uint_eq(*(const char *)(uintptr_t)(B + Page), 0);
  /* Outside every reservation. */
  orc_rt_MemorySegment Out[] = {seg(orc_rt_MemProt_Read, 0x1000, Page, NULL, 0)};
  orcrt_test_assert_expected_failure(request(&E, InitializeFn, Out, 1, NULL, 0),
                                     "unrecognized allocation");
  /* 19's finalize does not take a reservation that has regions. */
  orcrt_test_assert_sps_failure(finalize(&E, G1, 1, NULL, 0), "already finalized");

  orc_rt_ExecutorAddr Key = B + 2 * Page;
  orcrt_test_assert_sps_success(addrs_call(&E, DeinitializeFn, &Key, 1));
  assert_log("abcz");
  orcrt_test_assert_sps_success(addrs_call(&E, DeinitializeFn, &Key, 1)); /* nothing left */
  ck_assert_str_eq((const char *)(uintptr_t)(B + 2 * Page), "two");       /* still there */
  orc_rt_ExecutorAddr NoKey = B + 8;
  orcrt_test_assert_sps_failure(addrs_call(&E, DeinitializeFn, &NoKey, 1),
                                "does not correspond to the start of any initialized region");
  orcrt_test_assert_sps_success(addrs_call(&E, ReleaseFn, &B, 1));
  assert_log("abczyx");
  char Perms[5];
  bool MemFD;
  ck_assert(!maps_perms(B, Perms, &MemFD) || !MemFD);
  orcrt_test_assert_sps_failure(addrs_call(&E, ReleaseFn, &B, 1), "No allocation entry found");
  env_fini(&E);
  assert_log("abczyx");
}

START_TEST(memory_initialize_makes_regions_in_one_reservation) {
  check_regions(orc_rt_MemoryStrategy_MProtect);
}
END_TEST

START_TEST(memory_initialize_makes_regions_in_one_reservation_with_memfd) {
  check_regions(orc_rt_MemoryStrategy_MemFD);
}
END_TEST

/* A failing initialize undoes its actions but keeps the reservation, which takes the region later.
 */
START_TEST(memory_failing_initialize_keeps_the_reservation) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  log_reset();
  orc_rt_ExecutorAddr B = reserve(&E, 2 * Page);
  orc_rt_MemorySegment G[] = {seg(orc_rt_MemProt_Read | orc_rt_MemProt_Exec, B, Page, "\xc3", 1)};
  orc_rt_MemoryActionPair Bad[] = {pair(log_action, "a", log_action, "x"),
                                   pair(failing_action, NULL, log_action, "n")};
  orcrt_test_assert_expected_failure(request(&E, InitializeFn, G, 1, Bad, 2), "injected failure");
  assert_log("ax");
  ck_assert(!orc_rt_MemoryService_isExecutable(E.M, B));
  orc_rt_MemoryActionPair Good[] = {pair(log_action, "b", log_action, "y")};
  ck_assert_uint_eq(initialize(&E, G, 1, Good, 1), B);
  ck_assert(orc_rt_MemoryService_isExecutable(E.M, B));
  /* An empty request is an error for 22, as LLVM 22 says. */
  orcrt_test_assert_expected_failure(request(&E, InitializeFn, NULL, 0, NULL, 0),
                                     "Finalization request is empty");
  env_fini(&E); /* shutdown releases it */
  assert_log("axby");
}
END_TEST

Suite *orcrt_suite_memory(void) {
  Suite *S = suite_create("memory");
  TCase *TC = orcrt_test_case(S, "reserve", 30);
  tcase_add_test(TC, memory_reserve_maps_readable_writable_pages);
  tcase_add_test(TC, memory_reserve_with_memfd_maps_a_read_only_view_that_finalize_fills);
  tcase_add_test(TC, memory_reserve_zero_returns_address_zero);
  tcase_add_test(TC, memory_reserve_huge_size_fails_and_session_goes_on);
  tcase_add_test(TC, memory_reserve_huge_size_fails_with_memfd);
  TC = orcrt_test_case(S, "finalize", 30);
  tcase_add_test(TC, memory_finalize_copies_zero_fills_and_protects);
  tcase_add_test(TC, memory_finalize_copies_zero_fills_and_protects_with_memfd);
  tcase_add_test(TC, memory_no_mapping_is_writable_and_executable);
  tcase_add_test(TC, memory_no_mapping_is_writable_and_executable_with_memfd);
  tcase_add_test(TC, memory_debugger_can_plant_breakpoints);
  tcase_add_test(TC, memory_debugger_can_plant_breakpoints_with_memfd);
  tcase_add_test(TC, memory_finalize_write_and_execute_segment_fails);
  tcase_add_test(TC, memory_finalize_unrecognized_allocation_fails);
  tcase_add_test(TC, memory_finalize_segment_outside_reservation_fails_and_releases_it);
  tcase_add_test(TC, memory_finalize_segment_size_overflow_fails);
  tcase_add_test(TC, memory_finalize_content_larger_than_segment_fails);
  tcase_add_test(TC, memory_finalize_overlapping_segments_fails);
  tcase_add_test(TC, memory_finalize_overlapping_segments_fails_with_memfd);
  tcase_add_test(TC, memory_finalize_empty_request);
  tcase_add_test(TC, memory_finalize_twice_fails);
  tcase_add_test(TC, memory_finalize_malformed_arguments_answered_out_of_band);
  tcase_add_test(TC, memory_wrong_instance_fails);
  TC = orcrt_test_case(S, "actions", 30);
  tcase_add_test(TC, memory_finalize_actions_run_in_order_and_dealloc_actions_in_reverse);
  tcase_add_test(TC, memory_actions_never_run_on_the_thread_delivering_the_call);
  tcase_add_test(TC, memory_dealloc_actions_run_at_shutdown_newest_allocation_first);
  tcase_add_test(TC, memory_failing_finalize_action_fails_and_rolls_back);
  tcase_add_test(TC, memory_out_of_band_finalize_action_error_fails_finalize);
  tcase_add_test(TC, memory_action_outside_executable_memory_fails_without_calling_it);
  TC = orcrt_test_case(S, "deallocate", 30);
  tcase_add_test(TC, memory_deallocate_unknown_base_fails_while_others_proceed);
  tcase_add_test(TC, memory_double_deallocate_fails);
  tcase_add_test(TC, memory_concurrent_finalizes_of_different_allocations);
  tcase_add_test(TC, memory_c_api_reserve_finalize_write_deallocate);
  TC = orcrt_test_case(S, "regions", 30);
  tcase_add_test(TC, memory_initialize_makes_regions_in_one_reservation);
  tcase_add_test(TC, memory_initialize_makes_regions_in_one_reservation_with_memfd);
  tcase_add_test(TC, memory_failing_initialize_keeps_the_reservation);
  TC = orcrt_test_case(S, "lifetime-and-limits", 60);
  tcase_add_test(TC, memory_stays_mapped_at_shutdown_until_the_workers_have_exited);
  tcase_add_test(TC, memory_memfd_allocations_hold_no_descriptor_once_finalized);
  tcase_add_test(TC, memory_memfd_reservations_leave_descriptors_for_jit_code);
  tcase_add_test(TC, memory_memfd_reserve_falls_back_to_mprotect_without_descriptors);
  tcase_add_test(TC, memory_reserve_beyond_what_the_system_can_back_fails_with_either_strategy);
  tcase_add_test(TC, memory_deallocate_releases_the_listed_bases_last_first);
  tcase_add_test(TC, memory_write_outside_segments_of_a_finalized_memfd_allocation_fails);
  tcase_add_test(TC, memory_write_racing_deallocate_never_copies_into_unmapped_memory);
  return S;
}

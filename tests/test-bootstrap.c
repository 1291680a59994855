/*
 * test-bootstrap.c - run-as-main/void/int, memory writes, EH-frame and GDB
 * registration, JIT dispatch and the call-target check, driven as LLVM's
 * controller drives them (a loopback controller calling bootstrap symbols)
 *
 * Small functions of this file stand in for JIT'd code.
 */
#include "config.h"

#include "llvm19-symbols.h"
#include "task-dispatcher-internal.h"
#include "test-util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <orcrt/bootstrap.h>
#include <orcrt/dylib.h>
#include <orcrt/memory.h>
#include <orcrt/shared-memory.h>

enum { Page = 4096 };

static const orc_rt_ExecutorAddr EchoTag = 0x7a90;

typedef struct {
  orc_rt_SessionRef S;
  orc_rt_LoopbackControllerRef LC;
  orc_rt_MemoryServiceRef M;
  orc_rt_DylibServiceRef D;
} env;

/* Reverses its argument bytes: the controller handler behind EchoTag. */
static void echo_handler(void *Ctx, orc_rt_LoopbackControllerRef LC, uint64_t CallId,
                         orc_rt_WrapperFunctionBuffer Args) {
  size_t N = Args.Size;
  orc_rt_WrapperFunctionBuffer R = orc_rt_WrapperFunctionBuffer_allocate(N);
  const char *In = orc_rt_WrapperFunctionBuffer_constData(&Args);
  char *Out = orc_rt_WrapperFunctionBuffer_data(&R);
  for (size_t I = 0; I < N; I++)
    Out[I] = In[N - 1 - I];
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  orc_rt_LoopbackController_returnResult(LC, CallId, R);
}

/*
 * A Session with the bootstrap, memory and dylib Services; its errors go to
 * Rep if not NULL; with a shared-memory Service into *SM if SM is not NULL.
 */
static void env_init_with(env *E, orc_rt_MemoryStrategy Strategy, orcrt_test_error_log *Rep,
                          orc_rt_SharedMemoryServiceRef *SM) {
  orc_rt_TaskDispatcherRef TD;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &TD));
  ck_assert_no_error(orc_rt_Session_create(TD, &E->S));
  if (Rep)
    orc_rt_Session_setErrorReporter(E->S, orcrt_test_error_log_fn, Rep);
  if (SM)
    ck_assert_no_error(orc_rt_SharedMemoryService_add(E->S, SM));
  ck_assert_no_error(orc_rt_DylibService_add(E->S, &E->D));
  ck_assert_no_error(orc_rt_MemoryService_add(E->S, Strategy, &E->M));
  ck_assert_no_error(orc_rt_Bootstrap_add(E->S));
  ck_assert_no_error(orc_rt_LoopbackController_create(&E->LC));
  ck_assert_no_error(orc_rt_LoopbackController_addHandler(E->LC, EchoTag, echo_handler, NULL));
  ck_assert_no_error(orc_rt_LoopbackController_attach(E->S, E->LC));
}

static void env_init(env *E, orc_rt_MemoryStrategy Strategy) {
  env_init_with(E, Strategy, NULL, NULL);
}

static void env_fini(env *E) {
  orc_rt_Session_destroy(E->S);
}

static orc_rt_ExecutorAddr sym(env *E, const char *Name) {
  size_t N;
  const orc_rt_BootstrapSymbol *Syms = orc_rt_Session_getBootstrapSymbols(E->S, &N);
  for (size_t I = 0; I < N; I++)
    if (strcmp(Syms[I].Name, Name) == 0)
      return Syms[I].Addr;
  ck_abort_msg("no bootstrap symbol %s", Name);
  return 0;
}

static orc_rt_WrapperFunctionBuffer call_addr(env *E, orc_rt_ExecutorAddr Fn, orc_rt_SPSWriter *W) {
  ck_assert(!orc_rt_SPSWriter_failed(W));
  orc_rt_WrapperFunctionBuffer R = orc_rt_LoopbackController_callWrapperSync(
      E->LC, Fn, orc_rt_SPSWriter_data(W), orc_rt_SPSWriter_size(W));
  orc_rt_SPSWriter_dispose(W);
  return R;
}

static orc_rt_WrapperFunctionBuffer call(env *E, const char *Name, orc_rt_SPSWriter *W) {
  return call_addr(E, sym(E, Name), W);
}

static orc_rt_ExecutorAddr fn_addr(void *Fn) {
  return orc_rt_ExecutorAddr_fromPtr(Fn);
}
#define FN(F) fn_addr((void *)(uintptr_t)(F))

/* Reserve and finalize JIT memory through the C API. */
static orc_rt_ExecutorAddr jit_alloc(env *E, uint64_t Size) {
  orc_rt_ExecutorAddr B;
  ck_assert_no_error(orc_rt_MemoryService_reserve(E->M, Size, &B));
  return B;
}

static void jit_finalize(env *E, orc_rt_MemorySegment *Segs, size_t N) {
  orc_rt_MemoryFinalizeRequest Req = {Segs, N, NULL, 0};
  ck_assert_no_error(orc_rt_MemoryService_finalize(E->M, &Req));
}

/* ---- bootstrap symbols ------------------------------------------------------------------- */

START_TEST(bootstrap_publishes_every_symbol_llvm_requires) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  static const char *const Required[] = {
      ORCRT_LLVM19_REQUIRED_SYMBOL_NAMES,
      "__llvm_orc_bootstrap_mem_write_uint8s_wrapper",
      "__llvm_orc_bootstrap_mem_write_uint16s_wrapper",
      "__llvm_orc_bootstrap_mem_write_uint32s_wrapper",
      "__llvm_orc_bootstrap_mem_write_uint64s_wrapper",
      "__llvm_orc_bootstrap_mem_write_buffers_wrapper",
  };
  for (size_t I = 0; I < sizeof(Required) / sizeof(Required[0]); I++)
    ck_assert_uint_ne(sym(&E, Required[I]), 0);
  ck_assert_uint_eq(sym(&E, "__llvm_orc_SimpleRemoteEPC_dispatch_ctx"), fn_addr(E.S));
  ck_assert_uint_eq(sym(&E, "__llvm_orc_SimpleRemoteEPC_dispatch_fn"),
                    FN(orc_rt_Bootstrap_jitDispatch));
  ck_assert_uint_eq(sym(&E, "llvm_orc_registerEHFrameSectionWrapper"),
                    FN(llvm_orc_registerEHFrameSectionWrapper));
  /* The EH entry points are LLVM sync-ABI functions, not orcrt wrappers. */
  ck_assert(
      !orc_rt_Session_isWrapperFunction(E.S, sym(&E, "llvm_orc_registerEHFrameSectionWrapper")));
  ck_assert(
      orc_rt_Session_isWrapperFunction(E.S, sym(&E, "__llvm_orc_bootstrap_run_as_main_wrapper")));
  ck_assert_error_contains(orc_rt_Bootstrap_add(E.S), "already");
  env_fini(&E);
}
END_TEST

/* ---- run-as-main/void/int -------------------------------------------------------------- */

static int check_argv_main(int Argc, char **Argv) {
  if (Argc != 2 || strcmp(Argv[0], "a1") != 0 || strcmp(Argv[1], "second arg") != 0 ||
      Argv[2] != NULL)
    return -100;
  /* The strings are the callee's to modify. */
  Argv[0][0] = 'X';
  return 42;
}

static int argc_main(int Argc, char **Argv) {
  return Argv[Argc] == NULL ? Argc : -100;
}

static int negative_main(int Argc, char **Argv) {
  return -2;
}

static orc_rt_WrapperFunctionBuffer run_main(env *E, orc_rt_ExecutorAddr Fn,
                                             const char *const *Args, size_t N) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, Fn);
  orc_rt_SPSWriter_seqCount(&W, N);
  for (size_t I = 0; I < N; I++)
    orc_rt_SPSWriter_string(&W, Args[I]);
  return call(E, "__llvm_orc_bootstrap_run_as_main_wrapper", &W);
}

static int64_t take_i64(orc_rt_WrapperFunctionBuffer R) {
  orc_rt_SPSReader Rd;
  int64_t V = 0;
  ck_assert_msg(!orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R), "out-of-band error: %s",
                orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R));
  ck_assert_uint_eq(R.Size, 8);
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(&R), R.Size);
  ck_assert(orc_rt_SPSReader_i64(&Rd, &V));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return V;
}

static int32_t take_i32(orc_rt_WrapperFunctionBuffer R) {
  orc_rt_SPSReader Rd;
  int32_t V = 0;
  ck_assert_msg(!orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R), "out-of-band error: %s",
                orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R));
  ck_assert_uint_eq(R.Size, 4);
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(&R), R.Size);
  ck_assert(orc_rt_SPSReader_i32(&Rd, &V));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return V;
}

START_TEST(run_as_main_passes_argc_and_argv_without_program_name) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  const char *Args[] = {"a1", "second arg"};
  ck_assert_int_eq(take_i64(run_main(&E, FN(check_argv_main), Args, 2)), 42);
  ck_assert_int_eq(take_i64(run_main(&E, FN(argc_main), NULL, 0)), 0);
  const char *Five[] = {"1", "", "3", "4", "5"};
  ck_assert_int_eq(take_i64(run_main(&E, FN(argc_main), Five, 5)), 5);
  env_fini(&E);
}
END_TEST

START_TEST(run_as_main_sign_extends_the_result) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_WrapperFunctionBuffer R = run_main(&E, FN(negative_main), NULL, 0);
  ck_assert_uint_eq(R.Size, 8);
  ck_assert_int_eq(
      memcmp(orc_rt_WrapperFunctionBuffer_constData(&R), "\xfe\xff\xff\xff\xff\xff\xff\xff", 8), 0);
  ck_assert_int_eq(take_i64(R), -2);
  env_fini(&E);
}
END_TEST

static int void_fn(void) {
  return -7;
}

static int int_fn(int X) {
  return X * 3;
}

START_TEST(run_as_void_and_int_functions_return_int32) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, FN(void_fn));
  ck_assert_int_eq(take_i32(call(&E, "__llvm_orc_bootstrap_run_as_void_function_wrapper", &W)), -7);
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, FN(int_fn));
  orc_rt_SPSWriter_i32(&W, -5);
  ck_assert_int_eq(take_i32(call(&E, "__llvm_orc_bootstrap_run_as_int_function_wrapper", &W)), -15);
  env_fini(&E);
}
END_TEST

START_TEST(run_wrappers_refuse_targets_that_are_not_code) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  static int Data;
  orc_rt_ExecutorAddr Heap = jit_alloc(&E, Page); /* reserved, never made executable */
  /* ... and the middle of a function, which would run without its prologue */
  const orc_rt_ExecutorAddr Bad[] = {0, 0x10, fn_addr(&Data), Heap, FN(int_fn) + 1, FN(int_fn) + 2};
  for (size_t I = 0; I < 6; I++) {
    orcrt_test_assert_out_of_band(run_main(&E, Bad[I], NULL, 0), "no wrapper function at");
    orc_rt_SPSWriter W;
    orc_rt_SPSWriter_init(&W);
    orc_rt_SPSWriter_addr(&W, Bad[I]);
    orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_run_as_void_function_wrapper", &W),
                       "no wrapper function at");
    orc_rt_SPSWriter_init(&W);
    orc_rt_SPSWriter_addr(&W, Bad[I]);
    orc_rt_SPSWriter_i32(&W, 1);
    orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_run_as_int_function_wrapper", &W),
                       "no wrapper function at");
  }
  /* Malformed arguments. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, FN(argc_main));
  orc_rt_SPSWriter_seqCount(&W, UINT64_C(1) << 60);
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_run_as_main_wrapper", &W),
                     "Could not deserialize");
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, FN(argc_main));
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_string(&W, "one");
  orc_rt_SPSWriter_u32(&W, 9);
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_run_as_main_wrapper", &W),
                     "Could not deserialize");
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, FN(int_fn));
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_run_as_int_function_wrapper", &W),
                     "Could not deserialize");
  /* And the Session still runs code. */
  ck_assert_int_eq(take_i64(run_main(&E, FN(argc_main), NULL, 0)), 0);
  env_fini(&E);
}
END_TEST

/*
 * Thread-specific data with a destructor, set by code standing in for a
 * JIT'd program: its destructor must have run when the call is answered,
 * as the controller may deallocate the code right after.
 */
static pthread_key_t DataKey;
static pthread_mutex_t DataLock = PTHREAD_MUTEX_INITIALIZER;
static int DataDestroyed;

static void data_destroy(void *P) {
  pthread_mutex_lock(&DataLock);
  DataDestroyed++;
  pthread_mutex_unlock(&DataLock);
}

static int data_destroyed(void) {
  pthread_mutex_lock(&DataLock);
  int N = DataDestroyed;
  pthread_mutex_unlock(&DataLock);
  return N;
}

static int data_main(int Argc, char **Argv) {
  pthread_setspecific(DataKey, &DataKey);
  return 9;
}

static orc_rt_WrapperFunctionBuffer data_wrapper(const char *ArgData, size_t ArgSize) {
  pthread_setspecific(DataKey, &DataKey);
  return orc_rt_WrapperFunctionBuffer_fromBytes("ok", 2);
}

START_TEST(run_as_main_destroys_thread_data_before_answering) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  ck_assert_int_eq(pthread_key_create(&DataKey, data_destroy), 0);
  ck_assert_int_eq(take_i64(run_main(&E, FN(data_main), NULL, 0)), 9);
  ck_assert_int_eq(data_destroyed(), 1);
  ck_assert_int_eq(take_i64(run_main(&E, FN(data_main), NULL, 0)), 9);
  ck_assert_int_eq(data_destroyed(), 2);
  env_fini(&E);
  pthread_key_delete(DataKey);
}
END_TEST

/*
 * A JIT'd main costs one thread: the one it runs on. The worker that read
 * the call is not parked waiting for it.
 */
static orc_rt_TaskDispatcherRef MainDispatcher;

static int parked_workers_main(int Argc, char **Argv) {
  return (int)orcrt_thread_pool_blocked_workers(MainDispatcher);
}

static int exiting_main(int Argc, char **Argv) {
  pthread_setspecific(DataKey, &DataKey);
  pthread_exit(NULL);
}

START_TEST(run_as_main_parks_no_worker) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  MainDispatcher = orc_rt_Session_getDispatcher(E.S);
  ck_assert_int_eq(take_i64(run_main(&E, FN(parked_workers_main), NULL, 0)), 0);
  env_fini(&E);
}
END_TEST

/* A main that ends its thread is answered 0, after its thread's data is destroyed. */
START_TEST(run_as_main_answers_a_main_that_exits_its_thread) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  ck_assert_int_eq(pthread_key_create(&DataKey, data_destroy), 0);
  int Before = data_destroyed();
  ck_assert_int_eq(take_i64(run_main(&E, FN(exiting_main), NULL, 0)), 0);
  ck_assert_int_eq(data_destroyed(), Before + 1);
  ck_assert_int_eq(take_i64(run_main(&E, FN(data_main), NULL, 0)), 9);
  env_fini(&E);
  pthread_key_delete(DataKey);
}
END_TEST

START_TEST(sync_abi_call_destroys_thread_data_before_answering) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  ck_assert_int_eq(pthread_key_create(&DataKey, data_destroy), 0);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_WrapperFunctionBuffer R = call_addr(&E, FN(data_wrapper), &W);
  ck_assert_uint_eq(R.Size, 2);
  ck_assert_int_eq(memcmp(orc_rt_WrapperFunctionBuffer_constData(&R), "ok", 2), 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  ck_assert_int_eq(data_destroyed(), 1);
  env_fini(&E);
  pthread_key_delete(DataKey);
}
END_TEST

/* ---- the call-target check ------------------------------------------------------------ */

/* A sync-ABI wrapper in this binary: answers "ok". */
static orc_rt_WrapperFunctionBuffer ok_wrapper(const char *ArgData, size_t ArgSize) {
  return orc_rt_WrapperFunctionBuffer_fromBytes("ok", 2);
}

START_TEST(call_target_check_allows_only_code) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  orc_rt_SPSWriter W;
  static char Data[32];
  orc_rt_ExecutorAddr B = jit_alloc(&E, 2 * Page);
  orc_rt_MemorySegment Segs[] = {
    {orc_rt_MemProt_Read | orc_rt_MemProt_Write, B, Page, NULL, 0},
#if defined(__x86_64__)
    /* xor eax,eax; xor edx,edx; ret: returns the empty buffer in RAX:RDX. */
    {orc_rt_MemProt_Read | orc_rt_MemProt_Exec, B + Page, Page, "\x31\xc0\x31\xd2\xc3", 5},
#else
    {orc_rt_MemProt_Read | orc_rt_MemProt_Exec, B + Page, Page, NULL, 0},
#endif
  };
  jit_finalize(&E, Segs, 2);

  const orc_rt_ExecutorAddr Bad[] = {fn_addr(Data), B, B + 2 * Page, 0x1000};
  for (size_t I = 0; I < 4; I++) {
    char Expected[64];
    snprintf(Expected, sizeof(Expected), "no wrapper function at 0x%" PRIx64, Bad[I]);
    orc_rt_SPSWriter_init(&W);
    orcrt_test_assert_out_of_band(call_addr(&E, Bad[I], &W), Expected);
  }
  /* Code of a loaded object. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_WrapperFunctionBuffer R = call_addr(&E, FN(ok_wrapper), &W);
  ck_assert_uint_eq(R.Size, 2);
  ck_assert_int_eq(memcmp(orc_rt_WrapperFunctionBuffer_constData(&R), "ok", 2), 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
#if defined(__x86_64__)
  /* Code in an executable segment of JIT memory. */
  orc_rt_SPSWriter_init(&W);
  R = call_addr(&E, B + Page, &W);
  ck_assert(orc_rt_WrapperFunctionBuffer_isEmpty(&R));
#endif
  env_fini(&E);
}
END_TEST

/* ---- memory writes -------------------------------------------------------------------- */

START_TEST(mem_write_stores_values_inside_jit_memory) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = jit_alloc(&E, Page);
  unsigned char *P = (unsigned char *)(uintptr_t)B;
  orc_rt_SPSWriter W;

  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_addr(&W, B);
  orc_rt_SPSWriter_u8(&W, 0xab);
  orc_rt_SPSWriter_addr(&W, B + 1);
  orc_rt_SPSWriter_u8(&W, 0xcd);
  orc_rt_WrapperFunctionBuffer R = call(&E, "__llvm_orc_bootstrap_mem_write_uint8s_wrapper", &W);
  ck_assert(orc_rt_WrapperFunctionBuffer_isEmpty(&R));

  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, B + 3); /* unaligned */
  orc_rt_SPSWriter_u16(&W, 0x1234);
  R = call(&E, "__llvm_orc_bootstrap_mem_write_uint16s_wrapper", &W);
  ck_assert(orc_rt_WrapperFunctionBuffer_isEmpty(&R));

  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, B + 8);
  orc_rt_SPSWriter_u32(&W, 0xdeadbeef);
  R = call(&E, "__llvm_orc_bootstrap_mem_write_uint32s_wrapper", &W);
  ck_assert(orc_rt_WrapperFunctionBuffer_isEmpty(&R));

  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, B + 16);
  orc_rt_SPSWriter_u64(&W, UINT64_C(0x0102030405060708));
  R = call(&E, "__llvm_orc_bootstrap_mem_write_uint64s_wrapper", &W);
  ck_assert(orc_rt_WrapperFunctionBuffer_isEmpty(&R));

  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_addr(&W, B + 32);
  orc_rt_SPSWriter_bytes(&W, "hello", 5);
  orc_rt_SPSWriter_addr(&W, B + Page - 5);
  orc_rt_SPSWriter_bytes(&W, "world", 5);
  R = call(&E, "__llvm_orc_bootstrap_mem_write_buffers_wrapper", &W);
  ck_assert(orc_rt_WrapperFunctionBuffer_isEmpty(&R));

  uint16_t V16;
  uint32_t V32;
  uint64_t V64;
  memcpy(&V16, P + 3, 2);
  memcpy(&V32, P + 8, 4);
  memcpy(&V64, P + 16, 8);
  ck_assert_int_eq(P[0], 0xab);
  ck_assert_int_eq(P[1], 0xcd);
  ck_assert_uint_eq(V16, 0x1234);
  ck_assert_uint_eq(V32, 0xdeadbeef);
  ck_assert_uint_eq(V64, UINT64_C(0x0102030405060708));
  ck_assert_int_eq(memcmp(P + 32, "hello", 5), 0);
  ck_assert_int_eq(memcmp(P + Page - 5, "world", 5), 0);
  env_fini(&E);
}
END_TEST

/* Call LLVM 22's read wrapper Name on the addresses or ranges W holds; the result stays the
 * caller's. */
static orc_rt_WrapperFunctionBuffer mem_read(env *E, const char *Name, orc_rt_SPSWriter *W) {
  char Fn[96];
  snprintf(Fn, sizeof(Fn), "__llvm_orc_bootstrap_mem_read_%s_wrapper", Name);
  return call(E, Fn, W);
}

/* An SPSWriter holding Sequence<ExecutorAddr> of the N addresses. */
static void addrs(orc_rt_SPSWriter *W, const orc_rt_ExecutorAddr *A, size_t N) {
  orc_rt_SPSWriter_init(W);
  orc_rt_SPSWriter_seqCount(W, N);
  for (size_t I = 0; I < N; I++)
    orc_rt_SPSWriter_addr(W, A[I]);
}

/* R is exactly the N bytes at Want; disposed. */
static void assert_bytes(orc_rt_WrapperFunctionBuffer R, const void *Want, size_t N) {
  ck_assert_msg(!orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R), "out of band: %s",
                orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R));
  ck_assert_uint_eq(R.Size, N);
  ck_assert_int_eq(memcmp(orc_rt_WrapperFunctionBuffer_constData(&R), Want, N), 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
}

/*
 * LLVM 22's memory reads: values in request order (unaligned too), ranges
 * as byte sequences, strings up to their NUL; an address that is not
 * readable memory fails the call out of band instead of faulting.
 */
START_TEST(mem_read_returns_values_of_readable_memory_only) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  orc_rt_ExecutorAddr B = jit_alloc(&E, Page);
  static const char Content[] = "\x11\x22\x33\x44\x55\x66\x77\x88\x99hello\0world";
  orc_rt_MemorySegment G = {orc_rt_MemProt_Read, B, Page, Content, sizeof(Content)};
  jit_finalize(&E, &G, 1);
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Two[] = {B + 1, B};
  addrs(&W, Two, 2);
  assert_bytes(mem_read(&E, "uint8s", &W), "\x02\0\0\0\0\0\0\0\x22\x11", 10);
  orc_rt_ExecutorAddr One[] = {B + 1};
  addrs(&W, One, 1);
  assert_bytes(mem_read(&E, "uint16s", &W), "\x01\0\0\0\0\0\0\0\x22\x33", 10);
  addrs(&W, One, 1);
  assert_bytes(mem_read(&E, "uint32s", &W), "\x01\0\0\0\0\0\0\0\x22\x33\x44\x55", 12);
  addrs(&W, One, 1);
  assert_bytes(mem_read(&E, "uint64s", &W), "\x01\0\0\0\0\0\0\0\x22\x33\x44\x55\x66\x77\x88\x99",
               16);
  addrs(&W, One, 1);
  assert_bytes(mem_read(&E, "pointers", &W), "\x01\0\0\0\0\0\0\0\x22\x33\x44\x55\x66\x77\x88\x99",
               16);
  orc_rt_ExecutorAddr Strs[] = {B + 9, B + 15};
  addrs(&W, Strs, 2);
  assert_bytes(mem_read(&E, "strings", &W),
               "\x02\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0hello\x05\0\0\0\0\0\0\0world", 34);
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_addrRange(&W, (orc_rt_ExecutorAddrRange){B + 2, B + 4});
  orc_rt_SPSWriter_addrRange(&W, (orc_rt_ExecutorAddrRange){B, B});
  assert_bytes(mem_read(&E, "buffers", &W),
               "\x02\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0\x33\x44\0\0\0\0\0\0\0\0", 26);

  /* Not readable: nothing mapped there, a range past the allocation's end, a string running off it.
   */
  orc_rt_ExecutorAddr Bad[] = {B, 0x1000};
  addrs(&W, Bad, 2);
  orcrt_test_assert_out_of_band(mem_read(&E, "uint32s", &W), "not readable memory");
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addrRange(&W, (orc_rt_ExecutorAddrRange){B + Page - 4, B + Page + 4});
  orcrt_test_assert_out_of_band(mem_read(&E, "buffers", &W), "not readable memory");
  orc_rt_ExecutorAddr Nowhere[] = {8};
  addrs(&W, Nowhere, 1);
  orcrt_test_assert_out_of_band(mem_read(&E, "strings", &W), "not in readable memory");
  /* Arguments that do not decode. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 3);
  orcrt_test_assert_out_of_band(mem_read(&E, "uint8s", &W), "Could not deserialize");
  env_fini(&E);
}
END_TEST

/* LLVM 22's write_pointers: 8-byte stores, as write_uint64s. */
START_TEST(mem_write_pointers_stores_addresses) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = jit_alloc(&E, Page);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, B + 8);
  orc_rt_SPSWriter_addr(&W, B);
  orc_rt_WrapperFunctionBuffer R = call(&E, "__llvm_orc_bootstrap_mem_write_pointers_wrapper", &W);
  ck_assert(orc_rt_WrapperFunctionBuffer_isEmpty(&R));
  uint64_t V;
  memcpy(&V, (const void *)(uintptr_t)(B + 8), 8);
  ck_assert_uint_eq(V, B);
  env_fini(&E);
}
END_TEST

START_TEST(mem_write_outside_jit_memory_fails_without_writing) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = jit_alloc(&E, Page);
  static uint32_t Outside = 7;
  orc_rt_SPSWriter W;

  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, fn_addr(&Outside));
  orc_rt_SPSWriter_u32(&W, 99);
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_mem_write_uint32s_wrapper", &W),
                     "not in JIT memory");
  ck_assert_uint_eq(Outside, 7);

  /* Straddling the end of the allocation, and at an address that wraps. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, B + Page - 2);
  orc_rt_SPSWriter_bytes(&W, "four", 4);
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_mem_write_buffers_wrapper", &W),
                     "not in JIT memory");
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, UINT64_MAX - 1);
  orc_rt_SPSWriter_u64(&W, 1);
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_mem_write_uint64s_wrapper", &W),
                     "not in JIT memory");

  /* A read-only (or executable) segment is never made writable. */
  orc_rt_MemorySegment G = {orc_rt_MemProt_Read, B, Page, "ro", 2};
  jit_finalize(&E, &G, 1);
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, B);
  orc_rt_SPSWriter_u8(&W, 'X');
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_mem_write_uint8s_wrapper", &W), "not writable");
  ck_assert_int_eq(*(char *)(uintptr_t)B, 'r');
  env_fini(&E);
}
END_TEST

START_TEST(mem_write_malformed_sequence_writes_nothing) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = jit_alloc(&E, Page);
  orc_rt_SPSWriter W;
  /* Two elements announced, one and a half sent. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_addr(&W, B);
  orc_rt_SPSWriter_u8(&W, 1);
  orc_rt_SPSWriter_addr(&W, B + 1);
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_mem_write_uint8s_wrapper", &W),
                     "Could not deserialize");
  ck_assert_int_eq(*(char *)(uintptr_t)B, 0);
  /* A buffer longer than the input, and an absurd count. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, B);
  orc_rt_SPSWriter_seqCount(&W, UINT64_C(1) << 60);
  orc_rt_SPSWriter_raw(&W, "abc", 3);
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_mem_write_buffers_wrapper", &W),
                     "Could not deserialize");
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, UINT64_MAX);
  orcrt_test_assert_out_of_band(call(&E, "__llvm_orc_bootstrap_mem_write_uint64s_wrapper", &W),
                     "Could not deserialize");
  ck_assert_int_eq(memcmp((void *)(uintptr_t)B, "\0\0\0", 3), 0);
  env_fini(&E);
}
END_TEST

/* ---- EH frames ------------------------------------------------------------------------ */

/* libgcc's lookup of the FDE covering a PC: how the unwinder sees registrations. */
typedef const void *(*FindFDEFn)(void *PC, void *Bases);

static FindFDEFn find_fde_fn(void **Lib) {
  *Lib = dlopen("libgcc_s.so.1", RTLD_NOW);
  ck_assert(*Lib != NULL);
  FindFDEFn F = (FindFDEFn)(uintptr_t)dlsym(*Lib, "_Unwind_Find_FDE");
  ck_assert(F != NULL);
  return F;
}

static const void *find_fde(FindFDEFn F, orc_rt_ExecutorAddr PC) {
  void *Bases[3];
  return F(orc_rt_ExecutorAddr_toPtr(PC), Bases);
}

static void put32(unsigned char *P, uint32_t V) {
  memcpy(P, &V, 4);
}

/*
 * A minimal .eh_frame for x86-64 at address At: one CIE, one FDE covering
 * [Code, Code + CodeSize), and the zero terminator. Returns its size (52).
 */
static size_t build_eh_frame(unsigned char *Buf, orc_rt_ExecutorAddr At, orc_rt_ExecutorAddr Code,
                             uint32_t CodeSize) {
  static const unsigned char CIE[24] = {
      20,   0,    0,    0, /* length */
      0,    0,    0,    0, /* CIE id */
      1,                   /* version */
      'z',  'R',  0,       /* augmentation */
      1,                   /* code alignment */
      0x78,                /* data alignment -8 */
      16,                  /* return address register */
      1,                   /* augmentation data length */
      0x1b,                /* FDE pointers: pcrel sdata4 */
      0x0c, 0x07, 0x08,    /* DW_CFA_def_cfa rsp+8 */
      0x90, 0x01,          /* DW_CFA_offset rip at cfa-8 */
      0,    0,             /* padding */
  };
  memcpy(Buf, CIE, sizeof(CIE));
  unsigned char *FDE = Buf + 24;
  memset(FDE, 0, 24 + 4);
  put32(FDE, 20);                                        /* length */
  put32(FDE + 4, 28);                                    /* back to the CIE */
  put32(FDE + 8, (uint32_t)(int32_t)(Code - (At + 32))); /* pc_begin, pc-relative */
  put32(FDE + 12, CodeSize);                             /* pc_range */
  /* augmentation length 0, padding, then the zero terminator */
  return 52;
}

/*
 * JIT memory with code on its second page and an .eh_frame for that code on
 * its first. With AsActions, the finalize request carries the EH wrappers as
 * allocation actions, as lli sends them.
 */
typedef struct {
  orc_rt_ExecutorAddr Base, EHStart, EHEnd, Code;
} eh_alloc;

static eh_alloc make_eh_alloc(env *E, bool AsActions) {
  eh_alloc A;
  unsigned char Page0[16 + 64] = {0};
  unsigned char Args[16];
  A.Base = jit_alloc(E, 2 * Page);
  A.EHStart = A.Base + 16;
  A.Code = A.Base + Page;
  A.EHEnd = A.EHStart + build_eh_frame(Page0 + 16, A.EHStart, A.Code, 16);
  orc_rt_MemorySegment Segs[] = {
      {orc_rt_MemProt_Read, A.Base, Page, (const char *)Page0, 16 + (A.EHEnd - A.EHStart)},
      {orc_rt_MemProt_Read | orc_rt_MemProt_Exec, A.Code, Page, "\xc3", 1},
  };
  memcpy(Args, &A.EHStart, 8);
  memcpy(Args + 8, &A.EHEnd, 8);
  orc_rt_MemoryActionPair Act = {
      {FN(llvm_orc_registerEHFrameSectionWrapper), (const char *)Args, 16},
      {FN(llvm_orc_deregisterEHFrameSectionWrapper), (const char *)Args, 16},
  };
  orc_rt_MemoryFinalizeRequest Req = {Segs, 2, &Act, AsActions ? 1 : 0};
  ck_assert_no_error(orc_rt_MemoryService_finalize(E->M, &Req));
  return A;
}

static void range_args(orc_rt_SPSWriter *W, orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End) {
  orc_rt_SPSWriter_init(W);
  orc_rt_SPSWriter_addrRange(W, (orc_rt_ExecutorAddrRange){Start, End});
}

START_TEST(eh_frame_register_makes_the_unwinder_find_the_fde_and_deregister_removes_it) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  void *Lib;
  FindFDEFn F = find_fde_fn(&Lib);
  eh_alloc A = make_eh_alloc(&E, false);
  orc_rt_SPSWriter W;
  ck_assert_ptr_null(find_fde(F, A.Code + 1));
  range_args(&W, A.EHStart, A.EHEnd);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W));
  ck_assert_ptr_eq(find_fde(F, A.Code + 1), orc_rt_ExecutorAddr_toPtr(A.EHStart + 24));
  range_args(&W, A.EHStart, A.EHEnd);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W), "overlaps");
  range_args(&W, A.EHStart, A.EHEnd);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_deregisterEHFrameSectionWrapper", &W));
  ck_assert_ptr_null(find_fde(F, A.Code + 1));
  ck_assert_no_error(orc_rt_MemoryService_deallocate(E.M, A.Base));
  env_fini(&E);
  dlclose(Lib);
}
END_TEST

/*
 * A section that is only its terminator registers nothing in libgcc; its
 * deregistration must not reach libgcc either, which would abort on a
 * section it never took once the memory holds something (a fuzz finding).
 */
START_TEST(eh_frame_empty_section_deregisters_after_its_memory_changed) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  static uint32_t Empty[4]; /* a zero terminator, in data of this binary */
  orc_rt_ExecutorAddr Start = fn_addr(Empty);
  orc_rt_SPSWriter W;
  range_args(&W, Start, Start + 4);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W));
  Empty[0] = 0x14;
  range_args(&W, Start, Start + 4);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_deregisterEHFrameSectionWrapper", &W));
  env_fini(&E);
}
END_TEST

START_TEST(eh_frame_deregister_unknown_range_is_an_error) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  eh_alloc A = make_eh_alloc(&E, false);
  orc_rt_SPSWriter W;
  range_args(&W, A.EHStart, A.EHEnd);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_deregisterEHFrameSectionWrapper", &W),
                 "No EH frame section registered");
  range_args(&W, 0x1000, 0x2000);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_deregisterEHFrameSectionWrapper", &W),
                 "No EH frame section registered at 0x1000 -- 0x2000");
  /* Registered once, deregistered twice. */
  range_args(&W, A.EHStart, A.EHEnd);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W));
  range_args(&W, A.EHStart, A.EHEnd);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_deregisterEHFrameSectionWrapper", &W));
  range_args(&W, A.EHStart, A.EHEnd);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_deregisterEHFrameSectionWrapper", &W),
                 "No EH frame section registered");
  env_fini(&E);
}
END_TEST

START_TEST(eh_frame_register_bad_range_is_an_error) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  eh_alloc A = make_eh_alloc(&E, false);
  orc_rt_ExecutorAddr Reserved = jit_alloc(&E, Page);
  orc_rt_SPSWriter W;
  /* Unmapped, inverted, not yet finalized, executable-only code page... */
  range_args(&W, 0x1000, 0x2000);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W), "not in readable memory");
  range_args(&W, A.EHEnd, A.EHStart);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W), "Invalid");
  range_args(&W, Reserved, Reserved + 64);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W), "not in readable memory");
  /* ...a range that cuts a record short, and records with no terminator. */
  range_args(&W, A.EHStart, A.EHStart + 30);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W), "overruns");
  range_args(&W, A.Code, A.Code + 16);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W), "EH frame section");
  /* Arguments that do not decode. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u64(&W, A.EHStart);
  orcrt_test_assert_out_of_band(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W),
                     "Could not deserialize");
  /* The good range still registers. */
  range_args(&W, A.EHStart, A.EHEnd - 4); /* without its terminator, which follows it */
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W));
  range_args(&W, A.EHStart, A.EHEnd - 4);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_deregisterEHFrameSectionWrapper", &W));
  env_fini(&E);
}
END_TEST

START_TEST(eh_frame_registration_left_in_memory_is_removed_when_it_goes) {
  void *Lib;
  FindFDEFn F = find_fde_fn(&Lib);
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  eh_alloc A1 = make_eh_alloc(&E, false), A2 = make_eh_alloc(&E, false);
  orc_rt_SPSWriter W;
  range_args(&W, A1.EHStart, A1.EHEnd);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W));
  range_args(&W, A2.EHStart, A2.EHEnd);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W));
  ck_assert_ptr_nonnull(find_fde(F, A1.Code));
  ck_assert_ptr_nonnull(find_fde(F, A2.Code));
  /* Deallocated without deregistering first... */
  ck_assert_no_error(orc_rt_MemoryService_deallocate(E.M, A1.Base));
  ck_assert_ptr_null(find_fde(F, A1.Code));
  ck_assert_ptr_nonnull(find_fde(F, A2.Code));
  /* ...or still registered at shutdown. */
  env_fini(&E);
  ck_assert_ptr_null(find_fde(F, A2.Code));
  dlclose(Lib);
}
END_TEST

START_TEST(eh_frame_wrappers_as_allocation_actions) {
  void *Lib;
  FindFDEFn F = find_fde_fn(&Lib);
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MemFD);
  eh_alloc A = make_eh_alloc(&E, true);
  ck_assert_ptr_nonnull(find_fde(F, A.Code));
  ck_assert_no_error(orc_rt_MemoryService_deallocate(E.M, A.Base));
  ck_assert_ptr_null(find_fde(F, A.Code));
  /* Never deallocated (lli): the dealloc action deregisters it at shutdown. */
  A = make_eh_alloc(&E, true);
  ck_assert_ptr_nonnull(find_fde(F, A.Code));
  orc_rt_SPSWriter W;
  range_args(&W, A.EHStart, A.EHEnd);
  orcrt_test_assert_sps_failure(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W), "overlaps");
  env_fini(&E);
  ck_assert_ptr_null(find_fde(F, A.Code));
  dlclose(Lib);
}
END_TEST

/* An FDE at Off of a section at At: CIE pointer Id, covering 16 bytes at Code. */
static void put_fde(unsigned char *Sec, orc_rt_ExecutorAddr At, size_t Off, uint32_t Id,
                    orc_rt_ExecutorAddr Code) {
  unsigned char *F = Sec + Off;
  memset(F, 0, 24);
  put32(F, 20);
  put32(F + 4, Id);
  put32(F + 8, (uint32_t)(int32_t)(Code - (At + Off + 8)));
  put32(F + 12, 16);
}

START_TEST(eh_frame_register_refuses_records_the_unwinder_would_misread) {
  void *Lib;
  FindFDEFn F = find_fde_fn(&Lib);
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  enum { Slot = 128, NumSlots = 7 };
  static const char *const Expected[NumSlots - 1] = {
      "64-bit length",           "does not point to a CIE", "does not point to a CIE",
      "does not point to a CIE", "does not point to a CIE", "too short",
  };
  unsigned char Sec[NumSlots * Slot] = {0}, Good[52];
  size_t Size[NumSlots];
  orc_rt_ExecutorAddr Base = jit_alloc(&E, 2 * Page), Code = Base + Page;
  build_eh_frame(Good, 0, 0, 0); /* only its CIE (the first 24 bytes) is used */
  for (size_t I = 0; I < NumSlots; I++) {
    unsigned char *S = Sec + I * Slot;
    orc_rt_ExecutorAddr At = Base + I * Slot;
    switch (I) {
    case 0: /* a 64-bit length (libgcc reads only 32-bit ones) */
      put32(S, 0xffffffffu);
      S[4] = 16;
      Size[I] = 28;
      break;
    case 1: /* a CIE pointer far before the section */
      put32(S, 12);
      put32(S + 4, 0x40000000);
      Size[I] = 16;
      break;
    case 2: /* into the middle of the CIE */
      memcpy(S, Good, 24);
      put_fde(S, At, 24, 24, Code);
      Size[I] = 48;
      break;
    case 3: /* at an FDE */
      memcpy(S, Good, 24);
      put_fde(S, At, 24, 28, Code);
      put_fde(S, At, 48, 28, Code);
      Size[I] = 72;
      break;
    case 4: /* at a CIE after the FDE */
      put_fde(S, At, 0, (uint32_t)(4 - 24), Code);
      memcpy(S + 24, Good, 24);
      Size[I] = 48;
      break;
    case 5: /* a record too short to hold its id */
      put32(S, 2);
      S[4] = 1;
      Size[I] = 8;
      break;
    default: /* good: an FDE of the first of two CIEs */
      memcpy(S, Good, 24);
      memcpy(S + 24, Good, 24);
      put_fde(S, At, 48, 52, Code);
      Size[I] = 72;
      break;
    }
  }
  orc_rt_MemorySegment Segs[] = {
      {orc_rt_MemProt_Read, Base, Page, (const char *)Sec, sizeof(Sec)},
      {orc_rt_MemProt_Read | orc_rt_MemProt_Exec, Code, Page, "\xc3", 1},
  };
  jit_finalize(&E, Segs, 2);
  orc_rt_SPSWriter W;
  for (size_t I = 0; I + 1 < NumSlots; I++) {
    range_args(&W, Base + I * Slot, Base + I * Slot + Size[I]);
    orcrt_test_assert_sps_failure(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W), Expected[I]);
  }
  ck_assert_ptr_null(find_fde(F, Code + 1));
  orc_rt_ExecutorAddr GoodAt = Base + (NumSlots - 1) * Slot;
  range_args(&W, GoodAt, GoodAt + Size[NumSlots - 1]);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_registerEHFrameSectionWrapper", &W));
  ck_assert_ptr_eq(find_fde(F, Code + 1), orc_rt_ExecutorAddr_toPtr(GoodAt + 48));
  range_args(&W, GoodAt, GoodAt + Size[NumSlots - 1]);
  orcrt_test_assert_sps_success(call(&E, "llvm_orc_deregisterEHFrameSectionWrapper", &W));
  env_fini(&E);
  dlclose(Lib);
}
END_TEST

/* ---- EH frames the ORC runtime registers itself ------------------------------------------ */

/* libunwind's entry points, which the ORC runtime calls with a section's start. */
typedef void (*SectionFn)(const void *);

/*
 * A Session whose errors are collected, libgcc's FDE lookup, and the pair
 * as the ORC runtime finds it: through the process handle of the dylib
 * lookup.
 */
typedef struct {
  env E;
  orcrt_test_error_log Rep;
  void *Lib;
  FindFDEFn F;
  SectionFn Add, Remove;
} unw_env;

static void unw_init(unw_env *T, orc_rt_MemoryStrategy Strategy,
                     orc_rt_SharedMemoryServiceRef *SM) {
  orc_rt_ExecutorAddr H, A, R;
  T->Rep = (orcrt_test_error_log)ORCRT_TEST_ERROR_LOG_INIT;
  T->F = find_fde_fn(&T->Lib);
  env_init_with(&T->E, Strategy, &T->Rep, SM);
  ck_assert_no_error(orc_rt_DylibService_open(T->E.D, "", &H));
  ck_assert_no_error(
      orc_rt_DylibService_lookup(T->E.D, H, "__unw_add_dynamic_eh_frame_section", &A));
  ck_assert_no_error(
      orc_rt_DylibService_lookup(T->E.D, H, "__unw_remove_dynamic_eh_frame_section", &R));
  ck_assert_uint_ne(A, 0);
  ck_assert_uint_ne(R, 0);
  T->Add = (SectionFn)(uintptr_t)A;
  T->Remove = (SectionFn)(uintptr_t)R;
}

/* End the Session; with Quiet, nothing may have been reported. */
static void unw_fini(unw_env *T, bool Quiet) {
  env_fini(&T->E);
  if (Quiet)
    ck_assert_msg(T->Rep.Msgs[0] == '\0', "reported: %s", T->Rep.Msgs);
  dlclose(T->Lib);
}

static void unw_add(unw_env *T, orc_rt_ExecutorAddr Section) {
  T->Add(orc_rt_ExecutorAddr_toPtr(Section));
}

static void unw_remove(unw_env *T, orc_rt_ExecutorAddr Section) {
  T->Remove(orc_rt_ExecutorAddr_toPtr(Section));
}

/* The FDE libgcc finds for PC, or NULL. */
static const void *unw_fde(unw_env *T, orc_rt_ExecutorAddr PC) {
  return find_fde(T->F, PC);
}

/* Whether the errors reported so far hold Substr. */
static bool unw_reported(unw_env *T, const char *Substr) {
  pthread_mutex_lock(&T->Rep.Lock);
  bool Found = strstr(T->Rep.Msgs, Substr) != NULL;
  pthread_mutex_unlock(&T->Rep.Lock);
  return Found;
}

/*
 * The two pages at Base (reserved) as make_eh_alloc() lays them out: an
 * .eh_frame at Base + 16 covering a ret on the second page. Page0 is the
 * first page's content (80 bytes), Segs the request's segments.
 */
static void eh_pages(orc_rt_ExecutorAddr Base, unsigned char *Page0, orc_rt_MemorySegment *Segs) {
  memset(Page0, 0, 16 + 64);
  build_eh_frame(Page0 + 16, Base + 16, Base + Page, 16);
  Segs[0] = (orc_rt_MemorySegment){orc_rt_MemProt_Read, Base, Page, (const char *)Page0, 16 + 64};
  Segs[1] = (orc_rt_MemorySegment){orc_rt_MemProt_Read | orc_rt_MemProt_Exec, Base + Page, Page,
                                   "\xc3", 1};
}

static void finalize_eh_pages(env *E, orc_rt_ExecutorAddr Base) {
  unsigned char Page0[16 + 64];
  orc_rt_MemorySegment Segs[2];
  eh_pages(Base, Page0, Segs);
  jit_finalize(E, Segs, 2);
}

START_TEST(eh_frame_add_before_finalize_waits_for_the_content_and_goes_with_the_memory) {
  static const orc_rt_MemoryStrategy Strategies[] = {orc_rt_MemoryStrategy_MemFD,
                                                     orc_rt_MemoryStrategy_MProtect};
  for (size_t I = 0; I < 2; I++) {
    unw_env T;
    unw_init(&T, Strategies[I], NULL);
    orc_rt_ExecutorAddr Base = jit_alloc(&T.E, 2 * Page), Code = Base + Page;
    /* LLVM 19's order: the runtime registers first, the finalize brings the bytes after. */
    unw_add(&T, Base + 16);
    ck_assert_ptr_null(unw_fde(&T, Code + 1));
    finalize_eh_pages(&T.E, Base);
    ck_assert_ptr_eq(unw_fde(&T, Code + 1), orc_rt_ExecutorAddr_toPtr(Base + 16 + 24));
    /* 19 never removes it: the deallocation takes it out of the unwinder. */
    ck_assert_no_error(orc_rt_MemoryService_deallocate(T.E.M, Base));
    ck_assert_ptr_null(unw_fde(&T, Code + 1));
    /* Nothing is left to remove, and removing does not reach libgcc. */
    unw_remove(&T, Base + 16);
    unw_fini(&T, true);
  }
}
END_TEST

START_TEST(eh_frame_add_in_finalized_memory_registers_at_once_and_remove_takes_it_out) {
  unw_env T;
  unw_init(&T, orc_rt_MemoryStrategy_MemFD, NULL);
  eh_alloc A = make_eh_alloc(&T.E, false);
  unw_add(&T, A.EHStart);
  ck_assert_ptr_eq(unw_fde(&T, A.Code + 1), orc_rt_ExecutorAddr_toPtr(A.EHStart + 24));
  /* Registered once: a second add is refused, and the first stays. */
  unw_add(&T, A.EHStart);
  ck_assert(unw_reported(&T, "overlaps the registered section"));
  ck_assert_ptr_nonnull(unw_fde(&T, A.Code + 1));
  unw_remove(&T, A.EHStart);
  ck_assert_ptr_null(unw_fde(&T, A.Code + 1));
  /* Unknown starts, and a start removed twice, are ignored (libgcc would abort). */
  unw_remove(&T, A.EHStart);
  unw_remove(&T, 0x1000);
  unw_remove(&T, A.Code);
  /* Removed while waiting: the finalize registers nothing. */
  orc_rt_ExecutorAddr Base = jit_alloc(&T.E, 2 * Page);
  unw_add(&T, Base + 16);
  unw_remove(&T, Base + 16);
  finalize_eh_pages(&T.E, Base);
  ck_assert_ptr_null(unw_fde(&T, Base + Page + 1));
  ck_assert_no_error(orc_rt_MemoryService_deallocate(T.E.M, Base));
  ck_assert_no_error(orc_rt_MemoryService_deallocate(T.E.M, A.Base));
  unw_fini(&T, false);
}
END_TEST

START_TEST(eh_frame_add_waiting_in_memory_released_unfinalized_or_failing_is_dropped) {
  unw_env T;
  unw_init(&T, orc_rt_MemoryStrategy_MProtect, NULL);
  orc_rt_ExecutorAddr Base = jit_alloc(&T.E, 2 * Page);
  unw_add(&T, Base + 16);
  ck_assert_no_error(orc_rt_MemoryService_deallocate(T.E.M, Base));
  /* New memory, maybe at the same address: the old start waits no longer. */
  orc_rt_ExecutorAddr Again = jit_alloc(&T.E, 2 * Page);
  finalize_eh_pages(&T.E, Again);
  ck_assert_ptr_null(unw_fde(&T, Again + Page + 1));
  /* A finalize whose action fails, after the content arrived and the start went in. */
  orc_rt_ExecutorAddr Failing = jit_alloc(&T.E, 2 * Page);
  unw_add(&T, Failing + 16);
  unsigned char Page0[16 + 64];
  orc_rt_MemorySegment Segs[2];
  eh_pages(Failing, Page0, Segs);
  orc_rt_MemoryActionPair Act = {{0x1, NULL, 0}, {0, NULL, 0}};
  orc_rt_MemoryFinalizeRequest Req = {Segs, 2, &Act, 1};
  ck_assert_error_contains(orc_rt_MemoryService_finalize(T.E.M, &Req),
                           "Allocation action 0x1 is not the entry of a function in executable memory");
  ck_assert_ptr_null(unw_fde(&T, Failing + Page + 1));
  ck_assert_no_error(orc_rt_MemoryService_deallocate(T.E.M, Again));
  unw_fini(&T, true);
}
END_TEST

START_TEST(eh_frame_add_refuses_bad_sections_without_reaching_the_unwinder) {
  unw_env T;
  unw_init(&T, orc_rt_MemoryStrategy_MProtect, NULL);
  orc_rt_ExecutorAddr Base = jit_alloc(&T.E, 2 * Page), Code = Base + Page;
  /* The first page holds bad sections, each at its slot; the last fills it to its end. */
  enum { Slot = 128 };
  unsigned char Sec[Page] = {0};
  put32(Sec, 0xffffffffu);                          /* 0: a 64-bit length */
  put_fde(Sec, Base, Slot, 0x40000000, Code);       /* 1: an FDE of no CIE */
  put32(Sec + 2 * Slot, 0x10000);                   /* 2: a record past the segment */
  for (size_t Off = 3 * Slot; Off < Page; Off += 8) /* 3: CIEs up to the end, no terminator */
    put32(Sec + Off, 4);
  /* Two of them waiting for the finalize, two added after it. */
  unw_add(&T, Base);
  unw_add(&T, Base + Slot);
  orc_rt_MemorySegment Segs[] = {
      {orc_rt_MemProt_Read, Base, Page, (const char *)Sec, sizeof(Sec)},
      {orc_rt_MemProt_Read | orc_rt_MemProt_Exec, Code, Page, "\xc3", 1},
  };
  jit_finalize(&T.E, Segs, 2);
  unw_add(&T, Base + 2 * Slot);
  unw_add(&T, Base + 3 * Slot);
  ck_assert_msg(unw_reported(&T, "64-bit length") && unw_reported(&T, "does not point to a CIE") &&
                    unw_reported(&T, "overruns") && unw_reported(&T, "no zero terminator"),
                "reported: %s", T.Rep.Msgs);
  ck_assert_ptr_null(unw_fde(&T, Code + 1));
  /* In memory that is not readable: code with no read access. */
  orc_rt_ExecutorAddr XOnly = jit_alloc(&T.E, Page);
  orc_rt_MemorySegment X[] = {{orc_rt_MemProt_Exec, XOnly, Page, "\xc3", 1}};
  jit_finalize(&T.E, X, 1);
  unw_add(&T, XOnly);
  ck_assert(unw_reported(&T, "not in readable memory"));
  /* Outside JIT memory and every loaded object: a good section there is refused too. */
  unsigned char *Anon =
      mmap(NULL, Page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(Anon != MAP_FAILED);
  build_eh_frame(Anon, orc_rt_ExecutorAddr_fromPtr(Anon), Code, 16);
  unw_add(&T, orc_rt_ExecutorAddr_fromPtr(Anon));
  unw_add(&T, 0);
  ck_assert_ptr_null(unw_fde(&T, Code + 1));
  unw_remove(&T, orc_rt_ExecutorAddr_fromPtr(Anon));
  munmap(Anon, Page);
  unw_fini(&T, false);
}
END_TEST

/*
 * A section in a loaded object, this program's data, covering code of it
 * (a pc-relative FDE reaches no further). libgcc looks in registered
 * sections before the program's own.
 */
static unsigned char LoadedSection[64];

static __attribute__((noinline)) int loaded_code(int X) {
  return X + 1;
}

START_TEST(eh_frame_add_in_a_loaded_object_registers_it_until_removed) {
  unw_env T;
  unw_init(&T, orc_rt_MemoryStrategy_MProtect, NULL);
  orc_rt_ExecutorAddr At = orc_rt_ExecutorAddr_fromPtr(LoadedSection), Code = FN(loaded_code);
  build_eh_frame(LoadedSection, At, Code, 1);
  ck_assert_ptr_ne(unw_fde(&T, Code), orc_rt_ExecutorAddr_toPtr(At + 24));
  unw_add(&T, At);
  ck_assert_ptr_eq(unw_fde(&T, Code), orc_rt_ExecutorAddr_toPtr(At + 24));
  unw_remove(&T, At);
  ck_assert_ptr_ne(unw_fde(&T, Code), orc_rt_ExecutorAddr_toPtr(At + 24));
  ck_assert_int_eq(loaded_code(1), 2);
  unw_fini(&T, true);
}
END_TEST

START_TEST(eh_frame_add_in_shared_memory_waits_for_its_initialize) {
  orc_rt_SharedMemoryServiceRef SM;
  unw_env T;
  unw_init(&T, orc_rt_MemoryStrategy_MProtect, &SM);
  orc_rt_ExecutorAddr Base;
  char *Name;
  ck_assert_no_error(orc_rt_SharedMemoryService_reserve(SM, 2 * Page, &Base, &Name));
  /* The controller writes through its own view; until initialize no run covers the pages. */
  int Fd = shm_open(Name, O_RDWR | O_CLOEXEC, 0);
  ck_assert_msg(Fd >= 0, "shm_open(%s): %s", Name, strerror(errno));
  unsigned char *View = mmap(NULL, 2 * Page, PROT_READ | PROT_WRITE, MAP_SHARED, Fd, 0);
  close(Fd);
  ck_assert(View != MAP_FAILED);
  unw_add(&T, Base + 16);
  build_eh_frame(View + 16, Base + 16, Base + Page, 16);
  View[Page] = 0xc3;
  ck_assert_ptr_null(unw_fde(&T, Base + Page + 1));
  orc_rt_SharedMemorySegment Segs[] = {
      {orc_rt_MemProt_Read, Base, Page},
      {orc_rt_MemProt_Read | orc_rt_MemProt_Exec, Base + Page, Page},
  };
  orc_rt_SharedMemoryFinalizeRequest Req = {Segs, 2, NULL, 0};
  orc_rt_ExecutorAddr Alloc;
  ck_assert_no_error(orc_rt_SharedMemoryService_initialize(SM, Base, &Req, &Alloc));
  ck_assert_ptr_eq(unw_fde(&T, Base + Page + 1), orc_rt_ExecutorAddr_toPtr(Base + 16 + 24));
  /* Deinitialized with it still registered: it goes before the pages turn read-only. */
  ck_assert_no_error(orc_rt_SharedMemoryService_deinitialize(SM, Alloc));
  ck_assert_ptr_null(unw_fde(&T, Base + Page + 1));
  ck_assert_no_error(orc_rt_SharedMemoryService_release(SM, Base));
  munmap(View, 2 * Page);
  free(Name);
  unw_fini(&T, true);
}
END_TEST

/* ---- GDB ---------------------------------------------------------------------------------- */

static orc_rt_WrapperFunctionBuffer gdb_register(orc_rt_ExecutorAddr Start, orc_rt_ExecutorAddr End,
                                                 bool Auto) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addrRange(&W, (orc_rt_ExecutorAddrRange){Start, End});
  orc_rt_SPSWriter_bool(&W, Auto);
  orc_rt_WrapperFunctionBuffer R =
      llvm_orc_registerJITLoaderGDBWrapper(orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  orc_rt_SPSWriter_dispose(&W);
  return R;
}

START_TEST(gdb_registration_links_an_entry_into_the_descriptor) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  ck_assert_uint_eq(__jit_debug_descriptor.Version, 1);
  ck_assert_ptr_null(__jit_debug_descriptor.FirstEntry);
  orc_rt_ExecutorAddr B1 = jit_alloc(&E, Page), B2 = jit_alloc(&E, Page);
  orc_rt_MemorySegment G1 = {orc_rt_MemProt_Read, B1, Page,
                             "\x7f"
                             "ELF",
                             4};
  orc_rt_MemorySegment G2 = {orc_rt_MemProt_Read, B2, Page,
                             "\x7f"
                             "ELF",
                             4};
  jit_finalize(&E, &G1, 1);
  jit_finalize(&E, &G2, 1);

  /* Through the dylib lookup, as llvm-jitlink finds it, and then called by address. */
  orc_rt_ExecutorAddr H, Fn;
  orc_rt_DylibServiceRef D =
      orc_rt_ExecutorAddr_toPtr(sym(&E, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  ck_assert_no_error(orc_rt_DylibService_open(D, "", &H));
  ck_assert_no_error(orc_rt_DylibService_lookup(D, H, "llvm_orc_registerJITLoaderGDBWrapper", &Fn));
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addrRange(&W, (orc_rt_ExecutorAddrRange){B1, B1 + 0xca0});
  orc_rt_SPSWriter_bool(&W, true);
  orcrt_test_assert_sps_success(call_addr(&E, Fn, &W));

  orc_rt_JITCodeEntry *E1 = __jit_debug_descriptor.FirstEntry;
  ck_assert_ptr_nonnull(E1);
  ck_assert_ptr_eq(E1->SymfileAddr, orc_rt_ExecutorAddr_toPtr(B1));
  ck_assert_uint_eq(E1->SymfileSize, 0xca0);
  ck_assert_ptr_eq(__jit_debug_descriptor.RelevantEntry, E1);
  ck_assert_uint_eq(__jit_debug_descriptor.ActionFlag, orc_rt_JITAction_NoAction);

  orcrt_test_assert_sps_success(gdb_register(B2, B2 + 100, false));
  orc_rt_JITCodeEntry *E2 = __jit_debug_descriptor.FirstEntry;
  ck_assert_ptr_ne(E2, E1);
  ck_assert_ptr_eq(E2->NextEntry, E1);
  ck_assert_ptr_eq(E1->PrevEntry, E2);
  ck_assert_ptr_null(E2->PrevEntry);

  /* The entry goes with its memory. */
  ck_assert_no_error(orc_rt_MemoryService_deallocate(E.M, B1));
  ck_assert_ptr_eq(__jit_debug_descriptor.FirstEntry, E2);
  ck_assert_ptr_null(E2->NextEntry);
  env_fini(&E);
  ck_assert_ptr_null(__jit_debug_descriptor.FirstEntry);
}
END_TEST

/* LLVM 14-16 send the range alone (16 bytes), meaning AutoRegister. */
START_TEST(gdb_registration_takes_llvm14_range_without_flag) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = jit_alloc(&E, Page);
  orc_rt_MemorySegment G = {orc_rt_MemProt_Read, B, Page,
                            "\x7f"
                            "ELF",
                            4};
  jit_finalize(&E, &G, 1);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addrRange(&W, (orc_rt_ExecutorAddrRange){B, B + 0x80});
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 16);
  orcrt_test_assert_sps_success(
      llvm_orc_registerJITLoaderGDBWrapper(orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W)));
  orc_rt_SPSWriter_dispose(&W);
  orc_rt_JITCodeEntry *Entry = __jit_debug_descriptor.FirstEntry;
  ck_assert_ptr_nonnull(Entry);
  ck_assert_ptr_eq(Entry->SymfileAddr, orc_rt_ExecutorAddr_toPtr(B));
  ck_assert_uint_eq(Entry->SymfileSize, 0x80);
  /* Registered with the debugger at once, as with AutoRegister. */
  ck_assert_ptr_eq(__jit_debug_descriptor.RelevantEntry, Entry);
  env_fini(&E);
  ck_assert_ptr_null(__jit_debug_descriptor.FirstEntry);
}
END_TEST

START_TEST(gdb_registration_of_a_bad_range_is_an_error) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_ExecutorAddr B = jit_alloc(&E, Page);
  orcrt_test_assert_sps_failure(gdb_register(0x1000, 0x2000, true), "not in readable memory");
  orcrt_test_assert_sps_failure(gdb_register(B, B + 16, true), "not in readable memory"); /* not finalized */
  orcrt_test_assert_sps_failure(gdb_register(B + 16, B, true), "not in readable memory");
  orc_rt_MemorySegment G = {orc_rt_MemProt_Read, B, Page, "obj", 3};
  jit_finalize(&E, &G, 1);
  orcrt_test_assert_sps_success(gdb_register(B, B + 16, true));
  orcrt_test_assert_sps_failure(gdb_register(B, B + 16, true), "already registered");
  orc_rt_WrapperFunctionBuffer R = llvm_orc_registerJITLoaderGDBWrapper("short", 5);
  orcrt_test_assert_out_of_band(R, "Could not deserialize");
  ck_assert_ptr_nonnull(__jit_debug_descriptor.FirstEntry);
  ck_assert_ptr_null(__jit_debug_descriptor.FirstEntry->NextEntry);
  env_fini(&E);
  ck_assert_ptr_null(__jit_debug_descriptor.FirstEntry);
}
END_TEST

/* ---- JIT dispatch ------------------------------------------------------------------------ */

typedef orc_rt_WrapperFunctionBuffer (*DispatchFn)(void *, const void *, const char *, size_t);

/* Set by the test before "JIT'd code" runs; read by it on a pool thread. */
static DispatchFn JITDispatch;
static void *JITDispatchCtx;

/* JIT'd code calling the controller through __orc_rt_jit_dispatch. */
static int jit_calls_controller(void) {
  orc_rt_WrapperFunctionBuffer R =
      JITDispatch(JITDispatchCtx, orc_rt_ExecutorAddr_toPtr(EchoTag), "abcdefghij", 10);
  int Ok =
      R.Size == 10 && memcmp(orc_rt_WrapperFunctionBuffer_constData(&R), "jihgfedcba", 10) == 0;
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return Ok ? 1 : 0;
}

START_TEST(dispatch_fn_calls_the_controller_from_jit_code) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  JITDispatch = (DispatchFn)(uintptr_t)orc_rt_ExecutorAddr_toPtr(
      sym(&E, "__llvm_orc_SimpleRemoteEPC_dispatch_fn"));
  JITDispatchCtx = orc_rt_ExecutorAddr_toPtr(sym(&E, "__llvm_orc_SimpleRemoteEPC_dispatch_ctx"));
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, FN(jit_calls_controller));
  ck_assert_int_eq(take_i32(call(&E, "__llvm_orc_bootstrap_run_as_void_function_wrapper", &W)), 1);
  /* And from a thread of the test itself. */
  ck_assert_int_eq(jit_calls_controller(), 1);
  env_fini(&E);
}
END_TEST

START_TEST(dispatch_fn_with_a_context_that_is_no_session_fails) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  int NotASession = 0;
  orc_rt_WrapperFunctionBuffer R =
      orc_rt_Bootstrap_jitDispatch(&NotASession, orc_rt_ExecutorAddr_toPtr(EchoTag), "x", 1);
  ck_assert_ptr_nonnull(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  R = orc_rt_Bootstrap_jitDispatch(NULL, NULL, NULL, 0);
  ck_assert_ptr_nonnull(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  /* A Session that has been shut down is no longer live. */
  orc_rt_SessionRef Old = E.S;
  env_fini(&E);
  R = orc_rt_Bootstrap_jitDispatch(Old, orc_rt_ExecutorAddr_toPtr(EchoTag), "x", 1);
  ck_assert_ptr_nonnull(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
}
END_TEST

START_TEST(dispatch_fn_after_detach_fails_out_of_band) {
  env E;
  env_init(&E, orc_rt_MemoryStrategy_MProtect);
  orc_rt_LoopbackController_hangUp(E.LC);
  orc_rt_Session_waitForDetach(E.S);
  orc_rt_WrapperFunctionBuffer R =
      orc_rt_Bootstrap_jitDispatch(E.S, orc_rt_ExecutorAddr_toPtr(EchoTag), "x", 1);
  ck_assert_ptr_nonnull(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  env_fini(&E);
}
END_TEST

Suite *orcrt_suite_bootstrap(void) {
  Suite *S = suite_create("bootstrap");
  TCase *TC = orcrt_test_case(S, "run", 30);
  tcase_add_test(TC, bootstrap_publishes_every_symbol_llvm_requires);
  tcase_add_test(TC, run_as_main_passes_argc_and_argv_without_program_name);
  tcase_add_test(TC, run_as_main_sign_extends_the_result);
  tcase_add_test(TC, run_as_void_and_int_functions_return_int32);
  tcase_add_test(TC, run_wrappers_refuse_targets_that_are_not_code);
  tcase_add_test(TC, call_target_check_allows_only_code);
  tcase_add_test(TC, run_as_main_destroys_thread_data_before_answering);
  tcase_add_test(TC, run_as_main_parks_no_worker);
  tcase_add_test(TC, run_as_main_answers_a_main_that_exits_its_thread);
  tcase_add_test(TC, sync_abi_call_destroys_thread_data_before_answering);
  TC = orcrt_test_case(S, "mem-write", 30);
  tcase_add_test(TC, mem_write_stores_values_inside_jit_memory);
  tcase_add_test(TC, mem_write_outside_jit_memory_fails_without_writing);
  tcase_add_test(TC, mem_write_malformed_sequence_writes_nothing);
  tcase_add_test(TC, mem_read_returns_values_of_readable_memory_only);
  tcase_add_test(TC, mem_write_pointers_stores_addresses);
  TC = orcrt_test_case(S, "eh-frame", 30);
  tcase_add_test(TC, eh_frame_register_makes_the_unwinder_find_the_fde_and_deregister_removes_it);
  tcase_add_test(TC, eh_frame_deregister_unknown_range_is_an_error);
  tcase_add_test(TC, eh_frame_empty_section_deregisters_after_its_memory_changed);
  tcase_add_test(TC, eh_frame_register_bad_range_is_an_error);
  tcase_add_test(TC, eh_frame_registration_left_in_memory_is_removed_when_it_goes);
  tcase_add_test(TC, eh_frame_wrappers_as_allocation_actions);
  tcase_add_test(TC, eh_frame_register_refuses_records_the_unwinder_would_misread);
  TC = orcrt_test_case(S, "eh-frame-runtime", 30);
  tcase_add_test(TC, eh_frame_add_before_finalize_waits_for_the_content_and_goes_with_the_memory);
  tcase_add_test(TC, eh_frame_add_in_finalized_memory_registers_at_once_and_remove_takes_it_out);
  tcase_add_test(TC, eh_frame_add_waiting_in_memory_released_unfinalized_or_failing_is_dropped);
  tcase_add_test(TC, eh_frame_add_refuses_bad_sections_without_reaching_the_unwinder);
  tcase_add_test(TC, eh_frame_add_in_a_loaded_object_registers_it_until_removed);
  tcase_add_test(TC, eh_frame_add_in_shared_memory_waits_for_its_initialize);
  TC = orcrt_test_case(S, "gdb", 30);
  tcase_add_test(TC, gdb_registration_links_an_entry_into_the_descriptor);
  tcase_add_test(TC, gdb_registration_of_a_bad_range_is_an_error);
  tcase_add_test(TC, gdb_registration_takes_llvm14_range_without_flag);
  TC = orcrt_test_case(S, "dispatch", 30);
  tcase_add_test(TC, dispatch_fn_calls_the_controller_from_jit_code);
  tcase_add_test(TC, dispatch_fn_with_a_context_that_is_no_session_fails);
  tcase_add_test(TC, dispatch_fn_after_detach_fails_out_of_band);
  return S;
}

/*
 * test-session.c - the Session: lifecycle, calls in both directions, errors
 * and log (DESIGN S1-S4, S10, S12, S15, S16)
 *
 * Most tests attach a recording ControllerAccess (fake_ca) and use a
 * dispatcher that runs tasks inline, so that what happens is deterministic;
 * the tests about concurrency use a thread pool.
 */
#include "config.h"

#include "test-util.h"

#include "session-internal.h"
#include "session-private.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a recording ControllerAccess --------------------------------------------- */

enum { MaxRecords = 64 };

typedef struct {
  pthread_mutex_t Lock;
  pthread_cond_t Cond;
  orc_rt_SessionRef S;
  orc_rt_ErrorRef ConnectErr; /* returned by the next Connect */
  int Connects, Disconnects, Destroys;
  bool OpAfterDisconnect;
  uint64_t CallIds[MaxRecords];
  orc_rt_ExecutorAddr Tags[MaxRecords];
  size_t NumCalls;
  uint64_t ResultIds[MaxRecords];
  orc_rt_WrapperFunctionBuffer Results[MaxRecords];
  size_t NumResults;
} fake_ca;

static void fake_init(fake_ca *F) {
  memset(F, 0, sizeof(*F));
  pthread_mutex_init(&F->Lock, NULL);
  pthread_cond_init(&F->Cond, NULL);
}

static void fake_fini(fake_ca *F) {
  for (size_t I = 0; I < F->NumResults; I++)
    orc_rt_WrapperFunctionBuffer_dispose(&F->Results[I]);
  pthread_cond_destroy(&F->Cond);
  pthread_mutex_destroy(&F->Lock);
}

static orc_rt_ErrorRef fake_connect(void *Ctx, orc_rt_SessionRef S) {
  fake_ca *F = Ctx;
  pthread_mutex_lock(&F->Lock);
  F->Connects++;
  orc_rt_ErrorRef Err = F->ConnectErr;
  F->ConnectErr = NULL;
  if (!Err)
    F->S = S;
  pthread_mutex_unlock(&F->Lock);
  return Err;
}

static void fake_call_controller(void *Ctx, uint64_t CallId, orc_rt_ExecutorAddr Tag,
                                 orc_rt_WrapperFunctionBuffer Args) {
  fake_ca *F = Ctx;
  pthread_mutex_lock(&F->Lock);
  F->OpAfterDisconnect |= F->Disconnects > 0;
  if (F->NumCalls < MaxRecords) {
    F->CallIds[F->NumCalls] = CallId;
    F->Tags[F->NumCalls] = Tag;
    F->NumCalls++;
  }
  pthread_cond_broadcast(&F->Cond);
  pthread_mutex_unlock(&F->Lock);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
}

static void fake_send_result(void *Ctx, uint64_t CallId, orc_rt_WrapperFunctionBuffer R) {
  fake_ca *F = Ctx;
  pthread_mutex_lock(&F->Lock);
  F->OpAfterDisconnect |= F->Disconnects > 0;
  if (F->NumResults < MaxRecords) {
    F->ResultIds[F->NumResults] = CallId;
    F->Results[F->NumResults] = R;
    F->NumResults++;
  } else {
    orc_rt_WrapperFunctionBuffer_dispose(&R);
  }
  pthread_cond_broadcast(&F->Cond);
  pthread_mutex_unlock(&F->Lock);
}

static void fake_disconnect(void *Ctx) {
  fake_ca *F = Ctx;
  pthread_mutex_lock(&F->Lock);
  F->Disconnects++;
  pthread_mutex_unlock(&F->Lock);
}

static void fake_destroy(void *Ctx) {
  fake_ca *F = Ctx;
  pthread_mutex_lock(&F->Lock);
  F->Destroys++;
  pthread_mutex_unlock(&F->Lock);
}

static const orc_rt_ControllerAccessOps FakeOps = {
    .Connect = fake_connect,
    .CallController = fake_call_controller,
    .SendResult = fake_send_result,
    .Disconnect = fake_disconnect,
    .Destroy = fake_destroy,
};

static void fake_wait_results(fake_ca *F, size_t N) {
  pthread_mutex_lock(&F->Lock);
  while (F->NumResults < N)
    pthread_cond_wait(&F->Cond, &F->Lock);
  pthread_mutex_unlock(&F->Lock);
}

/* The result recorded for incoming call Id (fails the test if none). */
static orc_rt_WrapperFunctionBuffer *fake_result(fake_ca *F, uint64_t Id) {
  for (size_t I = 0; I < F->NumResults; I++)
    if (F->ResultIds[I] == Id)
      return &F->Results[I];
  ck_abort_msg("no result for call %llu", (unsigned long long)Id);
  return NULL;
}

static void ck_assert_buffer_str(orc_rt_WrapperFunctionBuffer *B, const char *Expected) {
  ck_assert_msg(!orc_rt_WrapperFunctionBuffer_getOutOfBandError(B), "error result: %s",
                orc_rt_WrapperFunctionBuffer_getOutOfBandError(B));
  ck_assert_uint_eq(B->Size, strlen(Expected));
  ck_assert_int_eq(memcmp(orc_rt_WrapperFunctionBuffer_constData(B), Expected, B->Size), 0);
}

static void ck_assert_buffer_error(orc_rt_WrapperFunctionBuffer *B, const char *Substr) {
  const char *Msg = orc_rt_WrapperFunctionBuffer_getOutOfBandError(B);
  ck_assert_msg(Msg != NULL, "expected an error result containing \"%s\"", Substr);
  ck_assert_msg(strstr(Msg, Substr) != NULL, "error \"%s\" lacks \"%s\"", Msg, Substr);
}

static orc_rt_WrapperFunctionBuffer str_buffer(const char *Str) {
  return orc_rt_WrapperFunctionBuffer_fromBytes(Str, strlen(Str));
}

/* ---- sessions and wrapper functions ------------------------------------------ */

static orc_rt_SessionRef session_inline(void) {
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(true, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  return S;
}

static orc_rt_SessionRef session_pool(unsigned Threads) {
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(Threads, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  return S;
}

static atomic_int SyncCalls;

/* LLVM's synchronous ABI: upper-cases its argument. */
static orc_rt_WrapperFunctionBuffer sync_upper(const char *Data, size_t Size) {
  atomic_fetch_add(&SyncCalls, 1);
  orc_rt_WrapperFunctionBuffer R = orc_rt_WrapperFunctionBuffer_allocate(Size);
  char *Out = orc_rt_WrapperFunctionBuffer_data(&R);
  for (size_t I = 0; I < Size; I++)
    Out[I] = (char)(Data[I] >= 'a' && Data[I] <= 'z' ? Data[I] - 'a' + 'A' : Data[I]);
  return R;
}

static orc_rt_ExecutorAddr addr_of_sync(orc_rt_SyncWrapperFunction Fn) {
  return (orc_rt_ExecutorAddr)(uintptr_t)Fn;
}

static orc_rt_ExecutorAddr addr_of_async(orc_rt_WrapperFunction Fn) {
  return (orc_rt_ExecutorAddr)(uintptr_t)Fn;
}

/* The orcrt ABI: answers "async:" followed by its argument. */
static void async_prefix(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                         orc_rt_WrapperFunctionBuffer Args) {
  char Buf[256];
  int N = snprintf(Buf, sizeof(Buf), "async:%.*s", (int)Args.Size,
                   orc_rt_WrapperFunctionBuffer_constData(&Args));
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromBytes(Buf, (size_t)N));
}

/*
 * A Service that only carries a test's context, so wrapper functions (which
 * get just the Session) can find it with orc_rt_Session_findService().
 */
static const orc_rt_ServiceOps ContextOps = {.Name = "test-context"};

/* ---- creation, attach --------------------------------------------------------- */

START_TEST(session_create_without_dispatcher_fails) {
  orc_rt_SessionRef S = NULL;
  ck_assert_error_contains(orc_rt_Session_create(NULL, &S), "dispatcher");
  ck_assert_ptr_null(S);
}
END_TEST

static void count_task(void *Ctx) {
  (*(int *)Ctx)++;
}

START_TEST(session_create_failure_leaves_the_dispatcher_to_the_caller) {
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(false, &D));
  ck_assert_error_contains(orc_rt_Session_create(D, NULL), "Out");
  /* D is still the caller's, and alive: it runs a task, then goes. */
  int Runs = 0;
  orc_rt_TaskDispatcher_dispatch(D, (orc_rt_Task){count_task, NULL, &Runs});
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 1);
  ck_assert_int_eq(Runs, 1);
  orc_rt_TaskDispatcher_destroy(D);
}
END_TEST

START_TEST(session_attach_connects_and_destroy_destroys_controller_access) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  ck_assert(!orc_rt_Session_isAttached(S));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  ck_assert(orc_rt_Session_isAttached(S));
  ck_assert(!orc_rt_Session_isDetached(S));
  ck_assert_ptr_eq(F.S, S);
  ck_assert_int_eq(F.Connects, 1);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(F.Disconnects, 1);
  ck_assert_int_eq(F.Destroys, 1);
  fake_fini(&F);
}
END_TEST

START_TEST(session_attach_twice_fails) {
  fake_ca F, G;
  fake_init(&F);
  fake_init(&G);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  ck_assert_error_contains(orc_rt_Session_attach(S, &FakeOps, &G), "already attached");
  ck_assert_int_eq(G.Connects, 0);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(G.Destroys, 0);
  ck_assert_int_eq(F.Destroys, 1);
  fake_fini(&F);
  fake_fini(&G);
}
END_TEST

START_TEST(session_attach_after_detach_fails) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_detach(S, NULL, NULL);
  orc_rt_Session_waitForDetach(S);
  ck_assert_error_contains(orc_rt_Session_attach(S, &FakeOps, &F), "detached");
  ck_assert_int_eq(F.Connects, 0);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(F.Destroys, 0);
  fake_fini(&F);
}
END_TEST

START_TEST(session_failed_connect_leaves_session_unattached) {
  fake_ca F;
  fake_init(&F);
  F.ConnectErr = orc_rt_Error_create("no channel");
  orc_rt_SessionRef S = session_inline();
  ck_assert_error_contains(orc_rt_Session_attach(S, &FakeOps, &F), "no channel");
  ck_assert(!orc_rt_Session_isAttached(S));
  /* Not attached: bootstrap symbols may still change, and attach may be retried. */
  ck_assert_no_error(orc_rt_Session_addBootstrapSymbol(S, "x", 1));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  ck_assert_int_eq(F.Connects, 2);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(F.Destroys, 1);
  fake_fini(&F);
}
END_TEST

/* ---- bootstrap symbols and wrapper functions ------------------------------------ */

START_TEST(session_bootstrap_symbols_listed_in_order_of_addition) {
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_addBootstrapSymbol(S, "b", 2));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, "w", async_prefix));
  ck_assert_no_error(orc_rt_Session_addBootstrapSymbol(S, "a", 1));
  size_t N;
  const orc_rt_BootstrapSymbol *Syms = orc_rt_Session_getBootstrapSymbols(S, &N);
  ck_assert_uint_eq(N, 3);
  ck_assert_str_eq(Syms[0].Name, "b");
  ck_assert_uint_eq(Syms[0].Addr, 2);
  ck_assert_str_eq(Syms[1].Name, "w");
  ck_assert_uint_eq(Syms[1].Addr, addr_of_async(async_prefix));
  ck_assert_str_eq(Syms[2].Name, "a");
  ck_assert(orc_rt_Session_isWrapperFunction(S, addr_of_async(async_prefix)));
  ck_assert(!orc_rt_Session_isWrapperFunction(S, 1));
  orc_rt_Session_destroy(S);
}
END_TEST

START_TEST(session_duplicate_bootstrap_symbol_fails) {
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_addBootstrapSymbol(S, "sym", 1));
  ck_assert_error_contains(orc_rt_Session_addBootstrapSymbol(S, "sym", 2), "duplicate");
  ck_assert_error_contains(orc_rt_Session_addWrapperFunction(S, "sym", async_prefix), "duplicate");
  /* All or nothing: the failed wrapper was not registered either. */
  ck_assert(!orc_rt_Session_isWrapperFunction(S, addr_of_async(async_prefix)));
  size_t N;
  const orc_rt_BootstrapSymbol *Syms = orc_rt_Session_getBootstrapSymbols(S, &N);
  ck_assert_uint_eq(N, 1);
  ck_assert_uint_eq(Syms[0].Addr, 1);
  orc_rt_Session_destroy(S);
}
END_TEST

START_TEST(session_bootstrap_changes_after_attach_fail) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_addBootstrapSymbol(S, "early", 1));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  ck_assert_error_contains(orc_rt_Session_addBootstrapSymbol(S, "late", 2), "attached");
  ck_assert_error_contains(orc_rt_Session_addWrapperFunction(S, NULL, async_prefix), "attached");
  ck_assert(!orc_rt_Session_isWrapperFunction(S, addr_of_async(async_prefix)));
  size_t N;
  orc_rt_Session_getBootstrapSymbols(S, &N);
  ck_assert_uint_eq(N, 1);
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

/* ---- incoming calls ---------------------------------------------------------------- */

START_TEST(session_incoming_call_uses_sync_abi_for_unregistered_address) {
  fake_ca F;
  fake_init(&F);
  atomic_store(&SyncCalls, 0);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 7, addr_of_sync(sync_upper), str_buffer("abc"));
  fake_wait_results(&F, 1);
  ck_assert_uint_eq(F.ResultIds[0], 7);
  ck_assert_buffer_str(&F.Results[0], "ABC");
  ck_assert_int_eq(atomic_load(&SyncCalls), 1);
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

START_TEST(session_incoming_call_uses_async_abi_for_registered_wrapper) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_prefix));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 3, addr_of_async(async_prefix),
                                   str_buffer("a longer argument"));
  fake_wait_results(&F, 1);
  ck_assert_uint_eq(F.ResultIds[0], 3);
  ck_assert_buffer_str(&F.Results[0], "async:a longer argument");
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

START_TEST(session_incoming_calls_run_as_tasks_of_the_dispatcher) {
  fake_ca F;
  fake_init(&F);
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(false, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  ck_assert_ptr_eq(orc_rt_Session_getDispatcher(S), D);
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_prefix));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_async(async_prefix), str_buffer("x"));
  orc_rt_Session_handleWrapperCall(S, 2, addr_of_sync(sync_upper), str_buffer("y"));
  ck_assert_uint_eq(F.NumResults, 0);
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 2);
  ck_assert_uint_eq(F.NumResults, 2);
  ck_assert_buffer_str(fake_result(&F, 1), "async:x");
  ck_assert_buffer_str(fake_result(&F, 2), "Y");
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

/* The thread the last of the two wrappers below ran on. */
static pthread_t RanOn;

static void async_note_thread(orc_rt_SessionRef S, uint64_t CallId,
                              orc_rt_WrapperFunctionReturn Return,
                              orc_rt_WrapperFunctionBuffer Args) {
  RanOn = pthread_self();
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, str_buffer("noted"));
}

static orc_rt_WrapperFunctionBuffer sync_note_thread(const char *Data, size_t Size) {
  (void)Data;
  (void)Size;
  RanOn = pthread_self();
  return str_buffer("noted");
}

START_TEST(session_short_wrapper_runs_on_the_delivering_thread) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_pool(2);
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_note_thread));
  ck_assert_no_error(orcrt_session_mark_short(S, async_note_thread));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 4, addr_of_async(async_note_thread), str_buffer("x"));
  /* Answered before handleWrapperCall returned, on this very thread. */
  ck_assert_uint_eq(F.NumResults, 1);
  ck_assert(pthread_equal(RanOn, pthread_self()));
  ck_assert_buffer_str(fake_result(&F, 4), "noted");
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

START_TEST(session_wrapper_not_marked_short_runs_on_a_pool_thread) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_pool(2);
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_note_thread));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_async(async_note_thread), str_buffer("x"));
  fake_wait_results(&F, 1);
  ck_assert(!pthread_equal(RanOn, pthread_self()));
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

START_TEST(session_sync_abi_call_never_runs_on_the_delivering_thread) {
  /* Code called with LLVM's ABI (JIT'd code) may block: never on the transport's thread. */
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_pool(2);
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_note_thread));
  ck_assert_no_error(orcrt_session_mark_short(S, async_note_thread));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 2, addr_of_sync(sync_note_thread), str_buffer("x"));
  fake_wait_results(&F, 1);
  ck_assert(!pthread_equal(RanOn, pthread_self()));
  ck_assert_buffer_str(fake_result(&F, 2), "noted");
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

START_TEST(session_mark_short_needs_a_wrapper_of_the_session_before_attach) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  ck_assert_error_contains(orcrt_session_mark_short(S, async_note_thread),
                           "not a wrapper function of the session");
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_note_thread));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  ck_assert_error_contains(orcrt_session_mark_short(S, async_note_thread),
                           "the session has been attached");
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

static orc_rt_ErrorRef reject_odd_check(void *Ctx, orc_rt_ExecutorAddr Fn) {
  atomic_fetch_add((atomic_int *)Ctx, 1);
  if (Fn == addr_of_sync(sync_upper))
    return orc_rt_Error_create("address %#llx is not callable", (unsigned long long)Fn);
  return NULL;
}

START_TEST(session_call_target_check_rejection_answers_with_error) {
  fake_ca F;
  fake_init(&F);
  atomic_store(&SyncCalls, 0);
  atomic_int Checks = 0;
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_prefix));
  orc_rt_Session_setCallTargetCheck(S, reject_odd_check, &Checks);
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_sync(sync_upper), str_buffer("abc"));
  fake_wait_results(&F, 1);
  ck_assert_buffer_error(fake_result(&F, 1), "is not callable");
  ck_assert_int_eq(atomic_load(&SyncCalls), 0);
  ck_assert_int_eq(atomic_load(&Checks), 1);
  /* The Session's own wrappers are not subject to the check. */
  orc_rt_Session_handleWrapperCall(S, 2, addr_of_async(async_prefix), str_buffer("abc"));
  fake_wait_results(&F, 2);
  ck_assert_buffer_str(fake_result(&F, 2), "async:abc");
  ck_assert_int_eq(atomic_load(&Checks), 1);
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

static orc_rt_ErrorRef allow_check(void *Ctx, orc_rt_ExecutorAddr Fn) {
  *(orc_rt_ExecutorAddr *)Ctx = Fn;
  return NULL;
}

START_TEST(session_call_target_check_allowing_runs_the_call) {
  fake_ca F;
  fake_init(&F);
  orc_rt_ExecutorAddr Seen = 0;
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setCallTargetCheck(S, allow_check, &Seen);
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_sync(sync_upper), str_buffer("ok"));
  fake_wait_results(&F, 1);
  ck_assert_uint_eq(Seen, addr_of_sync(sync_upper));
  ck_assert_buffer_str(fake_result(&F, 1), "OK");
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

START_TEST(session_call_to_address_zero_answers_with_error) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 9, 0, str_buffer("abc"));
  fake_wait_results(&F, 1);
  ck_assert_buffer_error(fake_result(&F, 9), "no function at address");
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

START_TEST(session_call_after_detach_is_dropped) {
  fake_ca F;
  fake_init(&F);
  atomic_store(&SyncCalls, 0);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_detach(S, NULL, NULL);
  orc_rt_Session_waitForDetach(S);
  ck_assert(orc_rt_Session_isDetached(S));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_sync(sync_upper), str_buffer("a long argument"));
  ck_assert_int_eq(atomic_load(&SyncCalls), 0);
  ck_assert_uint_eq(F.NumResults, 0);
  orc_rt_Session_destroy(S);
  ck_assert(!F.OpAfterDisconnect);
  fake_fini(&F);
}
END_TEST

START_TEST(session_call_accepted_but_not_started_before_detach_is_dropped) {
  fake_ca F;
  fake_init(&F);
  atomic_store(&SyncCalls, 0);
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(false, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_sync(sync_upper), str_buffer("a long argument"));
  orc_rt_Session_detach(S, NULL, NULL);
  orc_rt_Session_waitForDetach(S);
  ck_assert_uint_eq(orc_rt_QueueTaskDispatcher_runPending(D), 1);
  ck_assert_int_eq(atomic_load(&SyncCalls), 0);
  ck_assert_uint_eq(F.NumResults, 0);
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

/* A dispatcher that refuses every task (destroys it unrun). */
static void refuse_dispatch(void *Ctx, orc_rt_Task T) {
  atomic_fetch_add((atomic_int *)Ctx, 1);
  if (T.Destroy)
    T.Destroy(T.Ctx);
}

static void nop(void *Ctx) {
  (void)Ctx;
}

static const orc_rt_TaskDispatcherOps RefuseOps = {
    .Dispatch = refuse_dispatch, .Shutdown = nop, .Destroy = nop};

START_TEST(session_incoming_task_destroyed_unrun_releases_call) {
  fake_ca F;
  fake_init(&F);
  atomic_store(&SyncCalls, 0);
  atomic_int Refused = 0;
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_TaskDispatcher_create(&RefuseOps, &Refused, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  /* Heap-sized arguments: LeakSanitizer sees them if they are not released. */
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_sync(sync_upper), str_buffer("a long argument"));
  ck_assert_int_eq(atomic_load(&Refused), 1);
  ck_assert_int_eq(atomic_load(&SyncCalls), 0);
  /* Shutdown does not wait for a call that never ran. */
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

/* The controller waits for an answer to every call, including one the dispatcher refused. */
START_TEST(session_incoming_call_refused_by_dispatcher_is_answered_with_error) {
  fake_ca F;
  fake_init(&F);
  atomic_store(&SyncCalls, 0);
  atomic_int Refused = 0;
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_TaskDispatcher_create(&RefuseOps, &Refused, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 7, addr_of_sync(sync_upper), str_buffer("a long argument"));
  ck_assert_int_eq(atomic_load(&Refused), 1);
  ck_assert_int_eq(atomic_load(&SyncCalls), 0);
  ck_assert_uint_eq(F.NumResults, 1);
  ck_assert_buffer_error(fake_result(&F, 7), "could not run");
  orc_rt_Session_destroy(S);
  ck_assert_uint_eq(F.NumResults, 1);
  ck_assert(!F.OpAfterDisconnect);
  fake_fini(&F);
}
END_TEST

/* ---- a long synchronous call and other incoming calls ----------------------------- */

static orcrt_test_latch LongCallEntered, OtherCallRan;

/* JIT'd code that runs until another incoming call has run (LLVM's ABI). */
static orc_rt_WrapperFunctionBuffer sync_wait_for_other_call(const char *Data, size_t Size) {
  (void)Data;
  (void)Size;
  orcrt_test_latch_signal(&LongCallEntered);
  orcrt_test_latch_wait(&OtherCallRan, 1);
  return str_buffer("long");
}

static void async_signal_other(orc_rt_SessionRef S, uint64_t CallId,
                               orc_rt_WrapperFunctionReturn Return,
                               orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  orcrt_test_latch_signal(&OtherCallRan);
  Return(S, CallId, str_buffer("other"));
}

START_TEST(session_long_sync_call_does_not_starve_other_incoming_calls) {
  fake_ca F;
  fake_init(&F);
  orcrt_test_latch_init(&LongCallEntered);
  orcrt_test_latch_init(&OtherCallRan);
  /* One thread, taken by the long call: only its blocking stretch frees another. */
  orc_rt_SessionRef S = session_pool(1);
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_signal_other));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_sync(sync_wait_for_other_call), str_buffer(""));
  orcrt_test_latch_wait(&LongCallEntered, 1);
  orc_rt_Session_handleWrapperCall(S, 2, addr_of_async(async_signal_other), str_buffer(""));
  fake_wait_results(&F, 2);
  ck_assert_buffer_str(fake_result(&F, 1), "long");
  ck_assert_buffer_str(fake_result(&F, 2), "other");
  orc_rt_Session_destroy(S);
  orcrt_test_latch_destroy(&OtherCallRan);
  orcrt_test_latch_destroy(&LongCallEntered);
  fake_fini(&F);
}
END_TEST

/* ---- in-flight calls and shutdown ------------------------------------------------- */

typedef struct {
  pthread_mutex_t Lock;
  orcrt_test_latch Entered;
  orc_rt_WrapperFunctionReturn Return;
  uint64_t CallId;
  atomic_bool Returned;
  atomic_bool ShutdownBeforeReturn;
  atomic_int Shutdowns;
} held_call;

/* An async wrapper that keeps its Return for the test to call later. */
static void async_hold(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                       orc_rt_WrapperFunctionBuffer Args) {
  held_call *H = orc_rt_Session_findService(S, &ContextOps);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  pthread_mutex_lock(&H->Lock);
  H->Return = Return;
  H->CallId = CallId;
  pthread_mutex_unlock(&H->Lock);
  orcrt_test_latch_signal(&H->Entered);
}

static void held_return(held_call *H, orc_rt_SessionRef S, const char *Result) {
  pthread_mutex_lock(&H->Lock);
  orc_rt_WrapperFunctionReturn Return = H->Return;
  uint64_t CallId = H->CallId;
  pthread_mutex_unlock(&H->Lock);
  atomic_store(&H->Returned, true);
  Return(S, CallId, str_buffer(Result));
}

static void held_service_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done,
                                  void *DoneCtx) {
  held_call *H = Ctx;
  if (!atomic_load(&H->Returned))
    atomic_store(&H->ShutdownBeforeReturn, true);
  atomic_fetch_add(&H->Shutdowns, 1);
  Done(DoneCtx);
}

static const orc_rt_ServiceOps HeldServiceOps = {.Name = "held", .Shutdown = held_service_shutdown};

static void held_init(held_call *H) {
  memset(H, 0, sizeof(*H));
  pthread_mutex_init(&H->Lock, NULL);
  orcrt_test_latch_init(&H->Entered);
}

static void held_fini(held_call *H) {
  orcrt_test_latch_destroy(&H->Entered);
  pthread_mutex_destroy(&H->Lock);
}

static void *destroy_thread(void *Arg) {
  orc_rt_Session_destroy(Arg);
  return NULL;
}

START_TEST(session_destroy_waits_for_in_flight_incoming_call) {
  fake_ca F;
  fake_init(&F);
  held_call H;
  held_init(&H);
  orc_rt_SessionRef S = session_pool(2);
  ck_assert_no_error(orc_rt_Session_addService(S, &ContextOps, &H));
  ck_assert_no_error(orc_rt_Session_addService(S, &HeldServiceOps, &H));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_hold));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 5, addr_of_async(async_hold), str_buffer("x"));
  orcrt_test_latch_wait(&H.Entered, 1);

  pthread_t Th;
  ck_assert_int_eq(pthread_create(&Th, NULL, destroy_thread, S), 0);
  /* Destroy detaches first, then must wait for the call before any Service shuts down. */
  orc_rt_Session_waitForDetach(S);
  ck_assert_int_eq(atomic_load(&H.Shutdowns), 0);
  held_return(&H, S, "late");
  pthread_join(Th, NULL);

  ck_assert_int_eq(atomic_load(&H.Shutdowns), 1);
  ck_assert(!atomic_load(&H.ShutdownBeforeReturn));
  /* Returned after detach: the result was not sent. */
  ck_assert_uint_eq(F.NumResults, 0);
  ck_assert(!F.OpAfterDisconnect);
  held_fini(&H);
  fake_fini(&F);
}
END_TEST

/* Records the order of the last steps of shutdown. */
typedef struct {
  pthread_mutex_t Lock;
  char Buf[256];
} order_log;

static void order_add(order_log *L, const char *What) {
  pthread_mutex_lock(&L->Lock);
  strncat(L->Buf, What, sizeof(L->Buf) - strlen(L->Buf) - 1);
  pthread_mutex_unlock(&L->Lock);
}

static void order_inline_dispatch(void *Ctx, orc_rt_Task T) {
  (void)Ctx;
  T.Run(T.Ctx);
}

static void order_dispatcher_shutdown(void *Ctx) {
  order_add(Ctx, "dispatcher ");
}

static const orc_rt_TaskDispatcherOps OrderDispatcherOps = {
    .Dispatch = order_inline_dispatch, .Shutdown = order_dispatcher_shutdown, .Destroy = nop};

static void order_detach(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DC) {
  order_add(Ctx, "service-detach ");
  Done(DC);
}

static void order_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DC) {
  order_add(Ctx, "service-shutdown ");
  Done(DC);
}

static const orc_rt_ServiceOps OrderServiceOps = {
    .Name = "order", .Detach = order_detach, .Shutdown = order_shutdown};

static void order_fake_disconnect(void *Ctx) {
  order_add(Ctx, "disconnect ");
}

static const orc_rt_ControllerAccessOps OrderCAOps = {.Disconnect = order_fake_disconnect};

static void order_detach_done(void *Ctx) {
  order_add(Ctx, "detach-done ");
}

static void order_shutdown_done(void *Ctx) {
  order_add(Ctx, "shutdown-done ");
}

START_TEST(session_shutdown_steps_run_in_order) {
  order_log L = {PTHREAD_MUTEX_INITIALIZER, ""};
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_TaskDispatcher_create(&OrderDispatcherOps, &L, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  ck_assert_no_error(orc_rt_Session_addService(S, &OrderServiceOps, &L));
  ck_assert_no_error(orc_rt_Session_attach(S, &OrderCAOps, &L));
  orc_rt_Session_detach(S, order_detach_done, &L);
  orc_rt_Session_shutdown(S, order_shutdown_done, &L);
  orc_rt_Session_destroy(S);
  ck_assert_str_eq(L.Buf, "disconnect service-detach detach-done service-shutdown dispatcher "
                          "shutdown-done ");
}
END_TEST

START_TEST(session_never_attached_still_detaches_and_shuts_down) {
  order_log L = {PTHREAD_MUTEX_INITIALIZER, ""};
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_addService(S, &OrderServiceOps, &L));
  orc_rt_Session_shutdown(S, order_shutdown_done, &L);
  orc_rt_Session_destroy(S);
  ck_assert_str_eq(L.Buf, "service-detach service-shutdown shutdown-done ");
}
END_TEST

/* ---- redundant requests from many threads ----------------------------------------- */

typedef struct {
  orc_rt_SessionRef S;
  orcrt_test_latch *Go;
  orcrt_test_latch *Callbacks;
} requester;

static void *request_thread(void *Arg) {
  requester *R = Arg;
  orcrt_test_latch_wait(R->Go, 1);
  orc_rt_Session_detach(R->S, orcrt_test_latch_signal_fn, R->Callbacks);
  orc_rt_Session_shutdown(R->S, orcrt_test_latch_signal_fn, R->Callbacks);
  orc_rt_Session_detach(R->S, orcrt_test_latch_signal_fn, R->Callbacks);
  return NULL;
}

static void count_detach(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DC) {
  atomic_fetch_add(&((atomic_int *)Ctx)[0], 1);
  Done(DC);
}

static void count_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DC) {
  atomic_fetch_add(&((atomic_int *)Ctx)[1], 1);
  Done(DC);
}

static const orc_rt_ServiceOps CountOps = {
    .Name = "count", .Detach = count_detach, .Shutdown = count_shutdown};

START_TEST(session_redundant_detach_and_shutdown_from_many_threads_run_every_callback) {
  enum { Threads = 8 };
  fake_ca F;
  fake_init(&F);
  atomic_int Counts[2] = {0, 0};
  orc_rt_SessionRef S = session_pool(2);
  ck_assert_no_error(orc_rt_Session_addService(S, &CountOps, Counts));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orcrt_test_latch Go, Callbacks;
  orcrt_test_latch_init(&Go);
  orcrt_test_latch_init(&Callbacks);
  requester R = {S, &Go, &Callbacks};
  pthread_t Th[Threads];
  for (int I = 0; I < Threads; I++)
    ck_assert_int_eq(pthread_create(&Th[I], NULL, request_thread, &R), 0);
  orcrt_test_latch_signal(&Go);
  for (int I = 0; I < Threads; I++)
    pthread_join(Th[I], NULL);
  orcrt_test_latch_wait(&Callbacks, 3 * Threads);
  ck_assert_int_eq(atomic_load(&Counts[0]), 1);
  ck_assert_int_eq(atomic_load(&Counts[1]), 1);
  /* Requests after completion: the callback runs at once on the calling thread. */
  orc_rt_Session_shutdown(S, orcrt_test_latch_signal_fn, &Callbacks);
  ck_assert_uint_eq(orcrt_test_latch_count(&Callbacks), 3 * Threads + 1);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(F.Disconnects, 1);
  ck_assert_int_eq(atomic_load(&Counts[0]), 1);
  ck_assert_int_eq(atomic_load(&Counts[1]), 1);
  orcrt_test_latch_destroy(&Go);
  orcrt_test_latch_destroy(&Callbacks);
  fake_fini(&F);
}
END_TEST

/* An async wrapper that asks for detach from inside a task of the Session. */
static void async_detach_self(orc_rt_SessionRef S, uint64_t CallId,
                              orc_rt_WrapperFunctionReturn Return,
                              orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  orc_rt_Session_detach(S, NULL, NULL);
  Return(S, CallId, str_buffer("bye"));
}

START_TEST(session_detach_requested_from_its_own_task_completes) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_pool(1);
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_detach_self));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_async(async_detach_self), str_buffer(""));
  orc_rt_Session_waitForDetach(S);
  ck_assert(orc_rt_Session_isDetached(S));
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(F.Disconnects, 1);
  ck_assert(!F.OpAfterDisconnect);
  fake_fini(&F);
}
END_TEST

/* ---- outgoing calls -------------------------------------------------------------- */

typedef struct {
  atomic_int Count;
  orc_rt_WrapperFunctionBuffer Result;
} call_result;

static void keep_result(void *Ctx, orc_rt_WrapperFunctionBuffer R) {
  call_result *C = Ctx;
  if (atomic_fetch_add(&C->Count, 1) == 0)
    C->Result = R;
  else
    orc_rt_WrapperFunctionBuffer_dispose(&R);
}

START_TEST(session_call_controller_numbers_calls_from_zero) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  call_result R[3];
  memset(R, 0, sizeof(R));
  for (int I = 0; I < 3; I++)
    orc_rt_Session_callController(S, 0x100 + (unsigned)I, str_buffer("arg"), keep_result, &R[I]);
  ck_assert_uint_eq(F.NumCalls, 3);
  for (int I = 0; I < 3; I++) {
    ck_assert_uint_eq(F.CallIds[I], (uint64_t)I);
    ck_assert_uint_eq(F.Tags[I], 0x100 + (unsigned)I);
  }
  ck_assert_no_error(orc_rt_Session_handleCallResult(S, 1, str_buffer("one")));
  ck_assert_int_eq(atomic_load(&R[1].Count), 1);
  ck_assert_buffer_str(&R[1].Result, "one");
  ck_assert_int_eq(atomic_load(&R[0].Count), 0);
  orc_rt_Session_destroy(S);
  for (int I = 0; I < 3; I++)
    orc_rt_WrapperFunctionBuffer_dispose(&R[I].Result);
  fake_fini(&F);
}
END_TEST

START_TEST(session_handle_call_result_for_unknown_call_is_an_error) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  /* Heap-sized result: disposed, as LeakSanitizer checks. */
  ck_assert_error_contains(orc_rt_Session_handleCallResult(S, 42, str_buffer("a long result")),
                           "not pending");
  call_result R = {0};
  orc_rt_Session_callController(S, 1, str_buffer("x"), keep_result, &R);
  ck_assert_no_error(orc_rt_Session_handleCallResult(S, 0, str_buffer("r")));
  ck_assert_error_contains(orc_rt_Session_handleCallResult(S, 0, str_buffer("again")),
                           "not pending");
  ck_assert_int_eq(atomic_load(&R.Count), 1);
  orc_rt_Session_destroy(S);
  orc_rt_WrapperFunctionBuffer_dispose(&R.Result);
  fake_fini(&F);
}
END_TEST

START_TEST(session_detach_fails_pending_calls) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  call_result R[3];
  memset(R, 0, sizeof(R));
  for (int I = 0; I < 3; I++)
    orc_rt_Session_callController(S, 1, str_buffer("arg"), keep_result, &R[I]);
  ck_assert_no_error(orc_rt_Session_handleCallResult(S, 1, str_buffer("ok")));
  orc_rt_Session_detach(S, NULL, NULL);
  orc_rt_Session_waitForDetach(S);
  for (int I = 0; I < 3; I++)
    ck_assert_int_eq(atomic_load(&R[I].Count), 1);
  ck_assert_buffer_error(&R[0].Result, "controller disconnected");
  ck_assert_buffer_str(&R[1].Result, "ok");
  ck_assert_buffer_error(&R[2].Result, "controller disconnected");
  /* A late answer finds no pending call. */
  ck_assert_error_contains(orc_rt_Session_handleCallResult(S, 2, str_buffer("late")),
                           "not pending");
  ck_assert_int_eq(atomic_load(&R[2].Count), 1);
  orc_rt_Session_destroy(S);
  for (int I = 0; I < 3; I++)
    orc_rt_WrapperFunctionBuffer_dispose(&R[I].Result);
  fake_fini(&F);
}
END_TEST

START_TEST(session_call_controller_after_detach_fails_at_once) {
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_inline();
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_detach(S, NULL, NULL);
  orc_rt_Session_waitForDetach(S);
  call_result R = {0};
  orc_rt_Session_callController(S, 1, str_buffer("a long argument"), keep_result, &R);
  ck_assert_int_eq(atomic_load(&R.Count), 1);
  ck_assert_buffer_error(&R.Result, "session is detached");
  ck_assert_uint_eq(F.NumCalls, 0);
  orc_rt_WrapperFunctionBuffer B = orc_rt_Session_callControllerSync(S, 1, "x", 1);
  ck_assert_buffer_error(&B, "session is detached");
  orc_rt_WrapperFunctionBuffer_dispose(&B);
  orc_rt_Session_destroy(S);
  orc_rt_WrapperFunctionBuffer_dispose(&R.Result);
  fake_fini(&F);
}
END_TEST

START_TEST(session_call_controller_unattached_fails_at_once) {
  orc_rt_SessionRef S = session_inline();
  call_result R = {0};
  orc_rt_Session_callController(S, 1, str_buffer("x"), keep_result, &R);
  ck_assert_int_eq(atomic_load(&R.Count), 1);
  ck_assert_buffer_error(&R.Result, "not attached");
  orc_rt_Session_destroy(S);
  orc_rt_WrapperFunctionBuffer_dispose(&R.Result);
}
END_TEST

/* ---- disconnect, errors, log -------------------------------------------------------- */

typedef struct {
  pthread_mutex_t Lock;
  char Msgs[1024];
  int ErrorLevel; /* messages logged at error level */
} log_sink;

static void sink_fn(void *Ctx, orc_rt_LogLevel Level, const char *Msg) {
  log_sink *L = Ctx;
  pthread_mutex_lock(&L->Lock);
  size_t Len = strlen(L->Msgs);
  snprintf(L->Msgs + Len, sizeof(L->Msgs) - Len, "%d:%s;", (int)Level, Msg);
  if (Level == orc_rt_LogLevel_Error)
    L->ErrorLevel++;
  pthread_mutex_unlock(&L->Lock);
}

START_TEST(session_handle_disconnect_keeps_first_error_and_detaches) {
  fake_ca F;
  fake_init(&F);
  log_sink L = {PTHREAD_MUTEX_INITIALIZER, "", 0};
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setLogFn(S, sink_fn, &L);
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  ck_assert_ptr_null(orc_rt_Session_getDisconnectError(S));
  orc_rt_Session_handleDisconnect(S, orc_rt_Error_create("frame too large"));
  orc_rt_Session_waitForDetach(S);
  orc_rt_Session_handleDisconnect(S, orc_rt_Error_create("second"));
  ck_assert_str_eq(orc_rt_Session_getDisconnectError(S), "frame too large");
  pthread_mutex_lock(&L.Lock);
  ck_assert_ptr_nonnull(strstr(L.Msgs, "3:controller channel failed: frame too large;"));
  pthread_mutex_unlock(&L.Lock);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(F.Disconnects, 1);
  fake_fini(&F);
}
END_TEST

START_TEST(session_orderly_disconnect_has_no_error) {
  fake_ca F;
  fake_init(&F);
  log_sink L = {PTHREAD_MUTEX_INITIALIZER, "", 0};
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setLogFn(S, sink_fn, &L);
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleDisconnect(S, NULL);
  orc_rt_Session_waitForDetach(S);
  ck_assert_ptr_null(orc_rt_Session_getDisconnectError(S));
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(L.ErrorLevel, 0);
  fake_fini(&F);
}
END_TEST

START_TEST(session_error_reporter_receives_unreturnable_errors) {
  fake_ca F;
  fake_init(&F);
  orcrt_test_error_log R = ORCRT_TEST_ERROR_LOG_INIT;
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setErrorReporter(S, orcrt_test_error_log_fn, &R);
  orc_rt_Session_reportError(S, orc_rt_Error_create("boom %d", 1));
  orc_rt_Session_reportError(S, NULL);
  ck_assert_str_eq(R.Msgs, "boom 1;");
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  /* Too late to change the check: reported, not applied. */
  orc_rt_Session_setCallTargetCheck(S, reject_odd_check, NULL);
  ck_assert_ptr_nonnull(strstr(R.Msgs, "call target check set after attach"));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_sync(sync_upper), str_buffer("z"));
  ck_assert_buffer_str(fake_result(&F, 1), "Z");
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

START_TEST(session_default_error_reporter_logs_at_error_level) {
  log_sink L = {PTHREAD_MUTEX_INITIALIZER, "", 0};
  orcrt_test_error_log R = ORCRT_TEST_ERROR_LOG_INIT;
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setLogFn(S, sink_fn, &L);
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Error);
  orc_rt_Session_reportError(S, orc_rt_Error_create("lost result"));
  ck_assert_str_eq(L.Msgs, "3:lost result;");
  /* NULL restores the default after a custom reporter. */
  orc_rt_Session_setErrorReporter(S, orcrt_test_error_log_fn, &R);
  orc_rt_Session_setErrorReporter(S, NULL, NULL);
  orc_rt_Session_reportError(S, orc_rt_Error_create("again"));
  ck_assert_str_eq(L.Msgs, "3:lost result;3:again;");
  ck_assert_str_eq(R.Msgs, "");
  orc_rt_Session_destroy(S);
}
END_TEST

START_TEST(session_log_passes_messages_at_or_below_its_level) {
  log_sink L = {PTHREAD_MUTEX_INITIALIZER, "", 0};
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setLogFn(S, sink_fn, &L);
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Warning);
  ck_assert_int_eq(orc_rt_Session_getLogLevel(S), orc_rt_LogLevel_Warning);
  orc_rt_Session_log(S, orc_rt_LogLevel_Info, "info %d", 1);
  orc_rt_Session_log(S, orc_rt_LogLevel_Warning, "warn %d", 2);
  orc_rt_Session_log(S, orc_rt_LogLevel_Error, "err %s", "3");
  ck_assert_str_eq(L.Msgs, "4:warn 2;3:err 3;");
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Debug);
  orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "dbg");
  ck_assert_str_eq(L.Msgs, "4:warn 2;3:err 3;7:dbg;");
  orc_rt_Session_destroy(S);
}
END_TEST

START_TEST(session_log_function_cannot_change_after_attach) {
  fake_ca F;
  fake_init(&F);
  log_sink L = {PTHREAD_MUTEX_INITIALIZER, "", 0};
  log_sink M = {PTHREAD_MUTEX_INITIALIZER, "", 0};
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setLogFn(S, sink_fn, &L);
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Warning);
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_setLogFn(S, sink_fn, &M);
  orc_rt_Session_log(S, orc_rt_LogLevel_Error, "still here");
  ck_assert_str_eq(M.Msgs, "");
  ck_assert_str_eq(L.Msgs, "4:log function set after attach: ignored;3:still here;");
  orc_rt_Session_destroy(S);
  fake_fini(&F);
}
END_TEST

/* ---- the trace ---------------------------------------------------------------------- */

/* Every line logged, as "LEVEL:MESSAGE\n". */
typedef struct {
  pthread_mutex_t Lock;
  char Text[8192];
} trace_sink;

static void trace_sink_fn(void *Ctx, orc_rt_LogLevel Level, const char *Msg) {
  trace_sink *L = Ctx;
  pthread_mutex_lock(&L->Lock);
  size_t Len = strlen(L->Text);
  snprintf(L->Text + Len, sizeof(L->Text) - Len, "%d:%s\n", (int)Level, Msg);
  pthread_mutex_unlock(&L->Lock);
}

/*
 * The line of L that starts with Prefix (fails the test if none): a copy,
 * valid until the fourth call after this one.
 */
static const char *trace_line(trace_sink *L, const char *Prefix) {
  static char Lines[4][ORCRT_TRACE_LINE_MAX + 8];
  static unsigned Next;
  char *Line = Lines[Next++ % 4];
  pthread_mutex_lock(&L->Lock);
  const char *At = L->Text;
  size_t N = strlen(Prefix);
  while (At && strncmp(At, Prefix, N) != 0)
    At = (At = strchr(At, '\n')) ? At + 1 : NULL;
  if (At)
    snprintf(Line, sizeof(Lines[0]), "%.*s", (int)strcspn(At, "\n"), At);
  pthread_mutex_unlock(&L->Lock);
  ck_assert_msg(At, "no line \"%s...\" in the log:\n%s", Prefix, L->Text);
  return Line;
}

static void ck_assert_ends_in_duration(const char *Line) {
  orcrt_test_assert_ends_in_duration(Line, strlen(Line));
}

static atomic_int ArgsDescribed, ResultsDescribed;

static void prefix_trace_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                              struct orcrt_trace_text *T) {
  (void)S;
  atomic_fetch_add(&ArgsDescribed, 1);
  orcrt_trace_printf(T, "arg=%.*s", (int)Size, Data);
}

/* A result with a '!' in it counts as a failure. */
static bool prefix_trace_result(orc_rt_SessionRef S, const char *Data, size_t Size,
                                struct orcrt_trace_text *T) {
  (void)S;
  atomic_fetch_add(&ResultsDescribed, 1);
  bool Failed = memchr(Data, '!', Size) != NULL;
  orcrt_trace_printf(T, "%s%.*s", Failed ? "error: " : "got ", (int)Size, Data);
  return Failed;
}

static const struct orcrt_wrapper_trace PrefixTrace = {"prefix", prefix_trace_args,
                                                       prefix_trace_result};

START_TEST(session_trace_describes_calls_only_at_debug_and_failures_from_warning) {
  fake_ca F;
  fake_init(&F);
  trace_sink L = {PTHREAD_MUTEX_INITIALIZER, ""};
  atomic_store(&ArgsDescribed, 0);
  atomic_store(&ResultsDescribed, 0);
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setLogFn(S, trace_sink_fn, &L);
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, "test_prefix_wrapper", async_prefix));
  ck_assert_no_error(orcrt_session_set_trace(S, async_prefix, &PrefixTrace));
  /* Below warning nothing is described, not even a failure. */
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Error);
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_async(async_prefix), str_buffer("!a"));
  ck_assert_buffer_str(fake_result(&F, 1), "async:!a");
  ck_assert_int_eq(atomic_load(&ArgsDescribed), 0);
  ck_assert_int_eq(atomic_load(&ResultsDescribed), 0);

  /* At warning each result is looked at, and only failures are logged, without times. */
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Warning);
  orc_rt_Session_handleWrapperCall(S, 2, addr_of_async(async_prefix), str_buffer("b"));
  orc_rt_Session_handleWrapperCall(S, 3, addr_of_async(async_prefix), str_buffer("!c"));
  ck_assert_int_eq(atomic_load(&ArgsDescribed), 0);
  ck_assert_int_eq(atomic_load(&ResultsDescribed), 2);
  pthread_mutex_lock(&L.Lock);
  ck_assert_str_eq(L.Text, "4:#3 prefix → error: async:!c\n");
  pthread_mutex_unlock(&L.Lock);

  /* At debug every call has its line: label, arguments, result, time. */
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Debug);
  orc_rt_Session_handleWrapperCall(S, 4, addr_of_async(async_prefix), str_buffer("d"));
  orc_rt_Session_handleWrapperCall(S, 5, addr_of_async(async_prefix), str_buffer("!e"));
  ck_assert_int_eq(atomic_load(&ArgsDescribed), 2);
  const char *Ok = trace_line(&L, "7:#4 prefix arg=d → got async:d ");
  ck_assert_ends_in_duration(Ok);
  const char *Failed = trace_line(&L, "4:#5 prefix arg=!e → error: async:!e ");
  ck_assert_ends_in_duration(Failed);

  /* The summary counts the calls traced (at debug), per wrapper. */
  orc_rt_Session_destroy(S);
  ck_assert_ptr_nonnull(strstr(trace_line(&L, "7:summary: session "), "2 calls from the controller"));
  ck_assert_ends_in_duration(trace_line(&L, "7:summary: prefix: 2 calls, 1 error, 3 B in, 15 B out, "));
  fake_fini(&F);
}
END_TEST

START_TEST(session_trace_names_calls_by_address_and_times_calls_to_the_controller) {
  fake_ca F;
  fake_init(&F);
  trace_sink L = {PTHREAD_MUTEX_INITIALIZER, ""};
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setLogFn(S, trace_sink_fn, &L);
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Debug);
  ck_assert_no_error(orc_rt_Session_addBootstrapSymbol(S, "test_upper", addr_of_sync(sync_upper)));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));

  /* LLVM's ABI, by address: named by the bootstrap symbol, sizes for arguments and result. */
  orc_rt_Session_handleWrapperCall(S, 1, addr_of_sync(sync_upper), str_buffer("xy"));
  ck_assert_buffer_str(fake_result(&F, 1), "XY");
  ck_assert_ends_in_duration(trace_line(&L, "7:#1 call test_upper 2 B → 2 B "));

  /* A call to the controller: one line when its result arrives. */
  call_result R = {0};
  orc_rt_Session_callController(S, 0x1234, str_buffer("abc"), keep_result, &R);
  ck_assert_uint_eq(F.NumCalls, 1);
  ck_assert_no_error(orc_rt_Session_handleCallResult(S, F.CallIds[0], str_buffer("12345")));
  ck_assert_int_eq(atomic_load(&R.Count), 1);
  ck_assert_buffer_str(&R.Result, "12345");
  ck_assert_ends_in_duration(trace_line(&L, "7:controller call #0 0x1234 3 B → 5 B "));

  orc_rt_Session_destroy(S);
  ck_assert_ptr_nonnull(strstr(trace_line(&L, "7:summary: session "), "1 call from the controller, 1 to it"));
  ck_assert_ends_in_duration(trace_line(&L, "7:summary: calls by address: 1 call, 0 errors, 2 B in, 2 B out, "));
  ck_assert_ends_in_duration(trace_line(&L, "7:summary: to the controller: 1 call, 0 errors, 5 B in, 3 B out, "));
  orc_rt_WrapperFunctionBuffer_dispose(&R.Result);
  fake_fini(&F);
}
END_TEST

START_TEST(session_trace_logs_a_refused_call_with_its_message_at_warning) {
  fake_ca F;
  fake_init(&F);
  trace_sink L = {PTHREAD_MUTEX_INITIALIZER, ""};
  atomic_int Checks = 0;
  orc_rt_SessionRef S = session_inline();
  orc_rt_Session_setLogFn(S, trace_sink_fn, &L);
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Warning);
  orc_rt_Session_setCallTargetCheck(S, reject_odd_check, &Checks);
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  orc_rt_Session_handleWrapperCall(S, 7, addr_of_sync(sync_upper), str_buffer("x"));
  ck_assert_buffer_error(fake_result(&F, 7), "is not callable");
  const char *Line = trace_line(&L, "4:#7 call ");
  ck_assert_msg(strstr(Line, " → error: address 0x") && strstr(Line, " is not callable"),
                "no message: %s", Line);
  orc_rt_Session_destroy(S);
  /* Not at debug: no summary. */
  ck_assert_ptr_null(strstr(L.Text, "summary"));
  fake_fini(&F);
}
END_TEST

/* ---- several Sessions -------------------------------------------------------------- */

START_TEST(session_several_sessions_are_independent) {
  fake_ca F1, F2;
  fake_init(&F1);
  fake_init(&F2);
  atomic_int C1[2] = {0, 0}, C2[2] = {0, 0};
  orc_rt_SessionRef S1 = session_pool(2), S2 = session_pool(2);
  ck_assert_no_error(orc_rt_Session_addService(S1, &CountOps, C1));
  ck_assert_no_error(orc_rt_Session_addService(S2, &CountOps, C2));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S1, "w", async_prefix));
  /* The same name in another Session is no duplicate. */
  ck_assert_no_error(orc_rt_Session_addBootstrapSymbol(S2, "w", 1));
  ck_assert_no_error(orc_rt_Session_attach(S1, &FakeOps, &F1));
  ck_assert_no_error(orc_rt_Session_attach(S2, &FakeOps, &F2));
  ck_assert(!orc_rt_Session_isWrapperFunction(S2, addr_of_async(async_prefix)));

  orc_rt_Session_detach(S1, NULL, NULL);
  orc_rt_Session_waitForDetach(S1);
  ck_assert(!orc_rt_Session_isDetached(S2));
  ck_assert_int_eq(atomic_load(&C2[0]), 0);

  /* S2 still serves calls; S1 drops them. */
  orc_rt_Session_handleWrapperCall(S1, 1, addr_of_sync(sync_upper), str_buffer("s1"));
  orc_rt_Session_handleWrapperCall(S2, 1, addr_of_sync(sync_upper), str_buffer("s2"));
  fake_wait_results(&F2, 1);
  ck_assert_buffer_str(&F2.Results[0], "S2");
  call_result R = {0};
  orc_rt_Session_callController(S2, 7, str_buffer("x"), keep_result, &R);
  ck_assert_no_error(orc_rt_Session_handleCallResult(S2, 0, str_buffer("y")));
  ck_assert_buffer_str(&R.Result, "y");

  orc_rt_Session_destroy(S1);
  ck_assert_int_eq(atomic_load(&C1[1]), 1);
  ck_assert_int_eq(atomic_load(&C2[1]), 0);
  ck_assert_int_eq(F2.Disconnects, 0);
  orc_rt_Session_destroy(S2);
  ck_assert_int_eq(atomic_load(&C2[0]), 1);
  ck_assert_int_eq(atomic_load(&C2[1]), 1);
  ck_assert_uint_eq(F1.NumResults, 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R.Result);
  fake_fini(&F1);
  fake_fini(&F2);
}
END_TEST

/* ---- error paths that must keep their contracts -------------------------------- */

static void *fail_malloc(size_t Size) {
  (void)Size;
  return NULL;
}

static void count_done(void *Ctx) {
  atomic_fetch_add((atomic_int *)Ctx, 1);
}

START_TEST(session_completion_callback_runs_when_its_node_cannot_be_allocated) {
  orcrt_test_error_log R = ORCRT_TEST_ERROR_LOG_INIT;
  fake_ca F;
  fake_init(&F);
  orc_rt_SessionRef S = session_pool(2);
  orc_rt_Session_setErrorReporter(S, orcrt_test_error_log_fn, &R);
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));
  atomic_int Detached = 0, ShutDown = 0;
  /* More requests than the Session keeps spare nodes for. */
  enum { N = SESSION_SPARE_COMPLETIONS + 2 };
  orcrt_session_fault_malloc = fail_malloc;
  for (int I = 0; I < N; I++) {
    orc_rt_Session_detach(S, count_done, &Detached);
    orc_rt_Session_shutdown(S, count_done, &ShutDown);
  }
  orcrt_session_fault_malloc = NULL;
  orc_rt_Session_destroy(S);
  /* DESIGN S2: every completion callback runs, allocation failure or not. */
  ck_assert_int_eq(atomic_load(&Detached), N);
  ck_assert_int_eq(atomic_load(&ShutDown), N);
  fake_fini(&F);
}
END_TEST

/* Wait until the error log holds Substr. */
static void wait_for_error(orcrt_test_error_log *R, const char *Substr) {
  for (;;) {
    pthread_mutex_lock(&R->Lock);
    bool Found = strstr(R->Msgs, Substr) != NULL;
    pthread_mutex_unlock(&R->Lock);
    if (Found)
      return;
    sched_yield();
  }
}

/* An async wrapper that answers its call twice. */
static void async_return_twice(orc_rt_SessionRef S, uint64_t CallId,
                               orc_rt_WrapperFunctionReturn Return,
                               orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, str_buffer("first"));
  Return(S, CallId, str_buffer("second"));
}

START_TEST(session_double_return_is_blamed_on_its_own_call_and_shutdown_still_waits) {
  orcrt_test_error_log R = ORCRT_TEST_ERROR_LOG_INIT;
  fake_ca F;
  fake_init(&F);
  held_call H;
  held_init(&H);
  orc_rt_SessionRef S = session_pool(2);
  orc_rt_Session_setErrorReporter(S, orcrt_test_error_log_fn, &R);
  ck_assert_no_error(orc_rt_Session_addService(S, &ContextOps, &H));
  ck_assert_no_error(orc_rt_Session_addService(S, &HeldServiceOps, &H));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_hold));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_return_twice));
  ck_assert_no_error(orc_rt_Session_attach(S, &FakeOps, &F));

  /* B (call 5) is running when A (call 7) returns twice. */
  orc_rt_Session_handleWrapperCall(S, 5, addr_of_async(async_hold), str_buffer("b"));
  orcrt_test_latch_wait(&H.Entered, 1);
  orc_rt_Session_handleWrapperCall(S, 7, addr_of_async(async_return_twice), str_buffer("a"));
  wait_for_error(&R, "(call 7)");
  fake_wait_results(&F, 1);
  /* Only A's first answer went to the controller. */
  pthread_mutex_lock(&F.Lock);
  ck_assert_uint_eq(F.NumResults, 1);
  ck_assert_buffer_str(fake_result(&F, 7), "first");
  pthread_mutex_unlock(&F.Lock);

  /* Shutdown still waits for B, and B's own Return is no error. */
  pthread_t Th;
  ck_assert_int_eq(pthread_create(&Th, NULL, destroy_thread, S), 0);
  orc_rt_Session_waitForDetach(S);
  held_return(&H, S, "late");
  pthread_join(Th, NULL);
  ck_assert(!atomic_load(&H.ShutdownBeforeReturn));
  ck_assert_msg(strstr(R.Msgs, "(call 5)") == NULL, "call 5 blamed: %s", R.Msgs);
  ck_assert_msg(strstr(strstr(R.Msgs, "(call 7)") + 1, "more often") == NULL, "errors: %s", R.Msgs);
  held_fini(&H);
  fake_fini(&F);
}
END_TEST

Suite *orcrt_suite_session(void) {
  Suite *S = suite_create("session");
  TCase *TC = orcrt_test_case(S, "attach", 30);
  tcase_add_test(TC, session_create_without_dispatcher_fails);
  tcase_add_test(TC, session_create_failure_leaves_the_dispatcher_to_the_caller);
  tcase_add_test(TC, session_attach_connects_and_destroy_destroys_controller_access);
  tcase_add_test(TC, session_attach_twice_fails);
  tcase_add_test(TC, session_attach_after_detach_fails);
  tcase_add_test(TC, session_failed_connect_leaves_session_unattached);
  TC = orcrt_test_case(S, "bootstrap", 30);
  tcase_add_test(TC, session_bootstrap_symbols_listed_in_order_of_addition);
  tcase_add_test(TC, session_duplicate_bootstrap_symbol_fails);
  tcase_add_test(TC, session_bootstrap_changes_after_attach_fail);
  TC = orcrt_test_case(S, "incoming", 30);
  tcase_add_test(TC, session_incoming_call_uses_sync_abi_for_unregistered_address);
  tcase_add_test(TC, session_incoming_call_uses_async_abi_for_registered_wrapper);
  tcase_add_test(TC, session_incoming_calls_run_as_tasks_of_the_dispatcher);
  tcase_add_test(TC, session_call_target_check_rejection_answers_with_error);
  tcase_add_test(TC, session_call_target_check_allowing_runs_the_call);
  tcase_add_test(TC, session_call_to_address_zero_answers_with_error);
  tcase_add_test(TC, session_call_after_detach_is_dropped);
  tcase_add_test(TC, session_call_accepted_but_not_started_before_detach_is_dropped);
  tcase_add_test(TC, session_incoming_task_destroyed_unrun_releases_call);
  tcase_add_test(TC, session_incoming_call_refused_by_dispatcher_is_answered_with_error);
  tcase_add_test(TC, session_long_sync_call_does_not_starve_other_incoming_calls);
  tcase_add_test(TC, session_short_wrapper_runs_on_the_delivering_thread);
  tcase_add_test(TC, session_wrapper_not_marked_short_runs_on_a_pool_thread);
  tcase_add_test(TC, session_sync_abi_call_never_runs_on_the_delivering_thread);
  tcase_add_test(TC, session_mark_short_needs_a_wrapper_of_the_session_before_attach);
  TC = orcrt_test_case(S, "lifecycle", 30);
  tcase_add_test(TC, session_destroy_waits_for_in_flight_incoming_call);
  tcase_add_test(TC, session_shutdown_steps_run_in_order);
  tcase_add_test(TC, session_never_attached_still_detaches_and_shuts_down);
  tcase_add_test(TC, session_redundant_detach_and_shutdown_from_many_threads_run_every_callback);
  tcase_add_test(TC, session_detach_requested_from_its_own_task_completes);
  tcase_add_test(TC, session_several_sessions_are_independent);
  TC = orcrt_test_case(S, "outgoing", 30);
  tcase_add_test(TC, session_call_controller_numbers_calls_from_zero);
  tcase_add_test(TC, session_handle_call_result_for_unknown_call_is_an_error);
  tcase_add_test(TC, session_detach_fails_pending_calls);
  tcase_add_test(TC, session_call_controller_after_detach_fails_at_once);
  tcase_add_test(TC, session_call_controller_unattached_fails_at_once);
  TC = orcrt_test_case(S, "errors", 30);
  tcase_add_test(TC, session_handle_disconnect_keeps_first_error_and_detaches);
  tcase_add_test(TC, session_orderly_disconnect_has_no_error);
  tcase_add_test(TC, session_error_reporter_receives_unreturnable_errors);
  tcase_add_test(TC, session_default_error_reporter_logs_at_error_level);
  tcase_add_test(TC, session_log_passes_messages_at_or_below_its_level);
  tcase_add_test(TC, session_log_function_cannot_change_after_attach);
  tcase_add_test(TC, session_trace_describes_calls_only_at_debug_and_failures_from_warning);
  tcase_add_test(TC, session_trace_names_calls_by_address_and_times_calls_to_the_controller);
  tcase_add_test(TC, session_trace_logs_a_refused_call_with_its_message_at_warning);
  tcase_add_test(TC, session_completion_callback_runs_when_its_node_cannot_be_allocated);
  tcase_add_test(TC, session_double_return_is_blamed_on_its_own_call_and_shutdown_still_waits);
  return S;
}

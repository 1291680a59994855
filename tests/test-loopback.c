/*
 * test-loopback.c - the loopback ControllerAccess: calls in both directions,
 * disconnect and detach under concurrency, nesting (DESIGN S8-S11, S14)
 */
#include "config.h"

#include "test-util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  EchoTag = 0x1000,      /* answers "echo:" + argument at once */
  KeepTag = 0x2000,      /* keeps the call for the test to answer */
  BlackHoleTag = 0x3000, /* never answers */
  NestedTag = 0x4000,
};

/* ---- helpers ----------------------------------------------------------------- */

static orc_rt_WrapperFunctionBuffer str_buffer(const char *Str) {
  return orc_rt_WrapperFunctionBuffer_fromBytes(Str, strlen(Str));
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

static orc_rt_ExecutorAddr addr_of_async(orc_rt_WrapperFunction Fn) {
  return (orc_rt_ExecutorAddr)(uintptr_t)Fn;
}

static orc_rt_ExecutorAddr addr_of_sync(orc_rt_SyncWrapperFunction Fn) {
  return (orc_rt_ExecutorAddr)(uintptr_t)Fn;
}

/* Carries a test's context; wrappers find it with orc_rt_Session_findService(). */
static const orc_rt_ServiceOps ContextOps = {.Name = "test-context"};

/* The test's shared state, reachable from handlers (Ctx) and wrappers (Service). */
typedef struct {
  pthread_mutex_t Lock;
  atomic_int EchoCalls;
  atomic_int PrefixCalls;
  pthread_t EchoThread;
  /* KeepTag: the calls kept */
  orcrt_test_latch Kept;
  uint64_t KeptIds[16];
  size_t NumKept;
  /* async_hold: the Returns kept, until Draining */
  orcrt_test_latch Held;
  orc_rt_WrapperFunctionReturn HeldReturns[4096];
  uint64_t HeldIds[4096];
  size_t NumHeld;
  bool Draining;
} fixture;

static void fixture_init(fixture *F) {
  memset(F, 0, sizeof(*F));
  pthread_mutex_init(&F->Lock, NULL);
  orcrt_test_latch_init(&F->Kept);
  orcrt_test_latch_init(&F->Held);
}

static void fixture_fini(fixture *F) {
  orcrt_test_latch_destroy(&F->Held);
  orcrt_test_latch_destroy(&F->Kept);
  pthread_mutex_destroy(&F->Lock);
}

static void echo_handler(void *Ctx, orc_rt_LoopbackControllerRef LC, uint64_t CallId,
                         orc_rt_WrapperFunctionBuffer Args) {
  fixture *F = Ctx;
  atomic_fetch_add(&F->EchoCalls, 1);
  pthread_mutex_lock(&F->Lock);
  F->EchoThread = pthread_self();
  pthread_mutex_unlock(&F->Lock);
  char Buf[256];
  int N = snprintf(Buf, sizeof(Buf), "echo:%.*s", (int)Args.Size,
                   orc_rt_WrapperFunctionBuffer_constData(&Args));
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  orc_rt_LoopbackController_returnResult(LC, CallId,
                                         orc_rt_WrapperFunctionBuffer_fromBytes(Buf, (size_t)N));
}

static void keep_handler(void *Ctx, orc_rt_LoopbackControllerRef LC, uint64_t CallId,
                         orc_rt_WrapperFunctionBuffer Args) {
  fixture *F = Ctx;
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  pthread_mutex_lock(&F->Lock);
  if (F->NumKept < 16)
    F->KeptIds[F->NumKept++] = CallId;
  pthread_mutex_unlock(&F->Lock);
  orcrt_test_latch_signal(&F->Kept);
}

static void black_hole_handler(void *Ctx, orc_rt_LoopbackControllerRef LC, uint64_t CallId,
                               orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
}

static void async_prefix(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                         orc_rt_WrapperFunctionBuffer Args) {
  fixture *F = orc_rt_Session_findService(S, &ContextOps);
  atomic_fetch_add(&F->PrefixCalls, 1);
  char Buf[256];
  int N = snprintf(Buf, sizeof(Buf), "async:%.*s", (int)Args.Size,
                   orc_rt_WrapperFunctionBuffer_constData(&Args));
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromBytes(Buf, (size_t)N));
}

/* Keeps its Return until the test drains them (then returns at once). */
static void async_hold(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                       orc_rt_WrapperFunctionBuffer Args) {
  fixture *F = orc_rt_Session_findService(S, &ContextOps);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  pthread_mutex_lock(&F->Lock);
  bool Now = F->Draining || F->NumHeld == 4096;
  if (!Now) {
    F->HeldReturns[F->NumHeld] = Return;
    F->HeldIds[F->NumHeld] = CallId;
    F->NumHeld++;
  }
  pthread_mutex_unlock(&F->Lock);
  orcrt_test_latch_signal(&F->Held);
  if (Now)
    Return(S, CallId, str_buffer("held"));
}

/* Return every held call (from now on async_hold returns at once). */
static void drain_held(fixture *F, orc_rt_SessionRef S) {
  pthread_mutex_lock(&F->Lock);
  F->Draining = true;
  size_t N = F->NumHeld;
  F->NumHeld = 0;
  pthread_mutex_unlock(&F->Lock);
  for (size_t I = 0; I < N; I++)
    F->HeldReturns[I](S, F->HeldIds[I], str_buffer("held"));
}

static orc_rt_WrapperFunctionBuffer sync_upper(const char *Data, size_t Size) {
  orc_rt_WrapperFunctionBuffer R = orc_rt_WrapperFunctionBuffer_allocate(Size);
  char *Out = orc_rt_WrapperFunctionBuffer_data(&R);
  for (size_t I = 0; I < Size; I++)
    Out[I] = (char)(Data[I] >= 'a' && Data[I] <= 'z' ? Data[I] - 'a' + 'A' : Data[I]);
  return R;
}

/* A Session on a pool of Threads with the fixture's wrappers, and a loopback for it. */
static orc_rt_SessionRef setup_unattached(fixture *F, unsigned Threads,
                                          orc_rt_LoopbackControllerRef *LC) {
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(Threads, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  ck_assert_no_error(orc_rt_Session_addService(S, &ContextOps, F));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, "prefix", async_prefix));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, "hold", async_hold));
  ck_assert_no_error(orc_rt_LoopbackController_create(LC));
  ck_assert_no_error(orc_rt_LoopbackController_addHandler(*LC, EchoTag, echo_handler, F));
  ck_assert_no_error(orc_rt_LoopbackController_addHandler(*LC, KeepTag, keep_handler, F));
  ck_assert_no_error(
      orc_rt_LoopbackController_addHandler(*LC, BlackHoleTag, black_hole_handler, F));
  return S;
}

/* As setup_unattached(), attached. */
static orc_rt_SessionRef setup(fixture *F, unsigned Threads, orc_rt_LoopbackControllerRef *LC) {
  orc_rt_SessionRef S = setup_unattached(F, Threads, LC);
  ck_assert_no_error(orc_rt_LoopbackController_attach(S, *LC));
  return S;
}

/* A call result counted and kept. */
typedef struct {
  atomic_int Count;
  orc_rt_WrapperFunctionBuffer Result;
  orcrt_test_latch Done;
} result_slot;

static void slot_init(result_slot *R) {
  atomic_init(&R->Count, 0);
  orc_rt_WrapperFunctionBuffer_init(&R->Result);
  orcrt_test_latch_init(&R->Done);
}

static void slot_fini(result_slot *R) {
  orc_rt_WrapperFunctionBuffer_dispose(&R->Result);
  orcrt_test_latch_destroy(&R->Done);
}

static void slot_fn(void *Ctx, orc_rt_WrapperFunctionBuffer Result) {
  result_slot *R = Ctx;
  if (atomic_fetch_add(&R->Count, 1) == 0)
    R->Result = Result;
  else
    orc_rt_WrapperFunctionBuffer_dispose(&Result);
  orcrt_test_latch_signal(&R->Done);
}

/* ---- basic calls ---------------------------------------------------------------- */

START_TEST(loopback_call_controller_reaches_handler_off_the_calling_thread) {
  fixture F;
  fixture_init(&F);
  orc_rt_LoopbackControllerRef LC;
  orc_rt_SessionRef S = setup(&F, 2, &LC);
  orc_rt_WrapperFunctionBuffer R = orc_rt_Session_callControllerSync(S, EchoTag, "hi", 2);
  ck_assert_buffer_str(&R, "echo:hi");
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  ck_assert_int_eq(atomic_load(&F.EchoCalls), 1);
  pthread_mutex_lock(&F.Lock);
  ck_assert(!pthread_equal(F.EchoThread, pthread_self()));
  pthread_mutex_unlock(&F.Lock);
  orc_rt_Session_destroy(S);
  fixture_fini(&F);
}
END_TEST

START_TEST(loopback_handler_may_answer_later_from_another_thread) {
  fixture F;
  fixture_init(&F);
  orc_rt_LoopbackControllerRef LC;
  orc_rt_SessionRef S = setup(&F, 2, &LC);
  result_slot R;
  slot_init(&R);
  orc_rt_Session_callController(S, KeepTag, str_buffer("q"), slot_fn, &R);
  orcrt_test_latch_wait(&F.Kept, 1);
  ck_assert_int_eq(atomic_load(&R.Count), 0);
  orc_rt_LoopbackController_returnResult(LC, F.KeptIds[0], str_buffer("answered later"));
  orcrt_test_latch_wait(&R.Done, 1);
  ck_assert_buffer_str(&R.Result, "answered later");
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(atomic_load(&R.Count), 1);
  slot_fini(&R);
  fixture_fini(&F);
}
END_TEST

START_TEST(loopback_unknown_handler_tag_answers_with_error) {
  fixture F;
  fixture_init(&F);
  orc_rt_LoopbackControllerRef LC;
  orc_rt_SessionRef S = setup(&F, 2, &LC);
  orc_rt_WrapperFunctionBuffer R = orc_rt_Session_callControllerSync(S, 0x77, "x", 1);
  ck_assert_buffer_error(&R, "no handler for tag 0x77");
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  orc_rt_Session_destroy(S);
  fixture_fini(&F);
}
END_TEST

START_TEST(loopback_call_wrapper_uses_the_sessions_abi_choice) {
  fixture F;
  fixture_init(&F);
  orc_rt_LoopbackControllerRef LC;
  orc_rt_SessionRef S = setup(&F, 2, &LC);
  orc_rt_WrapperFunctionBuffer R =
      orc_rt_LoopbackController_callWrapperSync(LC, addr_of_async(async_prefix), "abc", 3);
  ck_assert_buffer_str(&R, "async:abc");
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  R = orc_rt_LoopbackController_callWrapperSync(LC, addr_of_sync(sync_upper), "abc", 3);
  ck_assert_buffer_str(&R, "ABC");
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  ck_assert_int_eq(atomic_load(&F.PrefixCalls), 1);
  orc_rt_Session_destroy(S);
  fixture_fini(&F);
}
END_TEST

START_TEST(loopback_add_handler_rejects_duplicates_and_changes_after_attach) {
  fixture F;
  fixture_init(&F);
  orc_rt_LoopbackControllerRef LC;
  ck_assert_no_error(orc_rt_LoopbackController_create(&LC));
  ck_assert_no_error(orc_rt_LoopbackController_addHandler(LC, 1, echo_handler, &F));
  ck_assert_error_contains(orc_rt_LoopbackController_addHandler(LC, 1, keep_handler, &F),
                           "duplicate");
  ck_assert_error_contains(orc_rt_LoopbackController_addHandler(LC, 2, NULL, &F), "NULL");
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(true, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  ck_assert_no_error(orc_rt_LoopbackController_attach(S, LC));
  ck_assert_error_contains(orc_rt_LoopbackController_addHandler(LC, 3, echo_handler, &F),
                           "attached");
  orc_rt_Session_destroy(S);
  fixture_fini(&F);
}
END_TEST

START_TEST(loopback_attach_to_attached_session_fails_and_caller_keeps_it) {
  fixture F;
  fixture_init(&F);
  orc_rt_LoopbackControllerRef LC, LC2;
  orc_rt_SessionRef S = setup(&F, 2, &LC);
  ck_assert_no_error(orc_rt_LoopbackController_create(&LC2));
  ck_assert_error_contains(orc_rt_LoopbackController_attach(S, LC2), "already attached");
  result_slot R;
  slot_init(&R);
  orc_rt_LoopbackController_callWrapper(LC2, addr_of_async(async_prefix), str_buffer("x"), slot_fn,
                                        &R);
  ck_assert_int_eq(atomic_load(&R.Count), 1);
  ck_assert_buffer_error(&R.Result, "not attached");
  orc_rt_LoopbackController_destroy(LC2);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(atomic_load(&F.PrefixCalls), 0);
  slot_fini(&R);
  fixture_fini(&F);
}
END_TEST

START_TEST(loopback_return_result_for_unknown_call_is_reported) {
  fixture F;
  fixture_init(&F);
  orcrt_test_error_log Rep = ORCRT_TEST_ERROR_LOG_INIT;
  orc_rt_LoopbackControllerRef LC;
  orc_rt_SessionRef S = setup_unattached(&F, 2, &LC);
  orc_rt_Session_setErrorReporter(S, orcrt_test_error_log_fn, &Rep);
  ck_assert_no_error(orc_rt_LoopbackController_attach(S, LC));
  orc_rt_LoopbackController_returnResult(LC, 999, str_buffer("a long stray result"));
  pthread_mutex_lock(&Rep.Lock);
  ck_assert_str_eq(Rep.Msgs, "result for call 999, which is not pending;");
  pthread_mutex_unlock(&Rep.Lock);
  orc_rt_Session_destroy(S);
  fixture_fini(&F);
}
END_TEST

/* ---- disconnect ------------------------------------------------------------------ */

typedef struct {
  orc_rt_LoopbackControllerRef LC;
  orcrt_test_latch *Go;
  atomic_int *Returned;
  atomic_int *LateDelivered;
} disconnecter;

static void *disconnect_thread(void *Arg) {
  disconnecter *D = Arg;
  orcrt_test_latch_wait(D->Go, 1);
  orc_rt_LoopbackController_disconnect(D->LC);
  atomic_fetch_add(D->Returned, 1);
  /* Disconnect has returned: nothing may be accepted any more. */
  result_slot R;
  slot_init(&R);
  orc_rt_LoopbackController_callWrapper(D->LC, addr_of_async(async_prefix), str_buffer("late"),
                                        slot_fn, &R);
  if (atomic_load(&R.Count) != 1 || !orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R.Result))
    atomic_fetch_add(D->LateDelivered, 1);
  slot_fini(&R);
  return NULL;
}

START_TEST(loopback_disconnect_from_eight_threads_stops_calls_both_ways) {
  enum { Threads = 8 };
  fixture F;
  fixture_init(&F);
  orc_rt_LoopbackControllerRef LC;
  orc_rt_SessionRef S = setup(&F, 2, &LC);
  /* Pending in both directions when disconnect comes. */
  result_slot Held, Pending;
  slot_init(&Held);
  slot_init(&Pending);
  orc_rt_LoopbackController_callWrapper(LC, addr_of_async(async_hold), str_buffer("h"), slot_fn,
                                        &Held);
  orcrt_test_latch_wait(&F.Held, 1);
  orc_rt_Session_callController(S, KeepTag, str_buffer("k"), slot_fn, &Pending);
  orcrt_test_latch_wait(&F.Kept, 1);

  orcrt_test_latch Go;
  orcrt_test_latch_init(&Go);
  atomic_int Returned = 0, LateDelivered = 0;
  disconnecter D = {LC, &Go, &Returned, &LateDelivered};
  pthread_t Th[Threads];
  for (int I = 0; I < Threads; I++)
    ck_assert_int_eq(pthread_create(&Th[I], NULL, disconnect_thread, &D), 0);
  orcrt_test_latch_signal(&Go);
  for (int I = 0; I < Threads; I++)
    pthread_join(Th[I], NULL);
  ck_assert_int_eq(atomic_load(&Returned), Threads);
  ck_assert_int_eq(atomic_load(&LateDelivered), 0);

  /* The pending controller -> executor call failed exactly once. */
  ck_assert_int_eq(atomic_load(&Held.Count), 1);
  ck_assert_buffer_error(&Held.Result, "disconnected");
  /* A late answer to the executor's call is not delivered. */
  orc_rt_LoopbackController_returnResult(LC, F.KeptIds[0], str_buffer("too late"));
  ck_assert_int_eq(atomic_load(&Pending.Count), 0);
  /* New executor -> controller calls reach no handler. */
  result_slot After;
  slot_init(&After);
  orc_rt_Session_callController(S, EchoTag, str_buffer("after"), slot_fn, &After);

  /* The Session's detach fails what it still has pending, once each. */
  orc_rt_Session_detach(S, NULL, NULL);
  orc_rt_Session_waitForDetach(S);
  ck_assert_int_eq(atomic_load(&Pending.Count), 1);
  ck_assert_buffer_error(&Pending.Result, "controller disconnected");
  ck_assert_int_eq(atomic_load(&After.Count), 1);
  ck_assert_buffer_error(&After.Result, "controller disconnected");
  drain_held(&F, S);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(atomic_load(&F.EchoCalls), 0);
  ck_assert_int_eq(atomic_load(&F.PrefixCalls), 0);
  ck_assert_int_eq(atomic_load(&Held.Count), 1);
  slot_fini(&Held);
  slot_fini(&Pending);
  slot_fini(&After);
  orcrt_test_latch_destroy(&Go);
  fixture_fini(&F);
}
END_TEST

/* A call delivered inline (queue dispatcher running tasks at once) that blocks. */
typedef struct {
  orcrt_test_latch Entered, Release, Ready;
  atomic_bool Finished;
  atomic_int EarlyReturns; /* disconnects that returned while the delivery ran */
  orc_rt_LoopbackControllerRef LC;
} blocking;

static const orc_rt_ServiceOps BlockingContextOps = {.Name = "blocking-context"};

static void async_block(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                        orc_rt_WrapperFunctionBuffer Args) {
  blocking *B = orc_rt_Session_findService(S, &BlockingContextOps);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  orcrt_test_latch_signal(&B->Entered);
  orcrt_test_latch_wait(&B->Release, 1);
  atomic_store(&B->Finished, true);
  Return(S, CallId, str_buffer("done"));
}

typedef struct {
  blocking *B;
  result_slot *Slot;
} block_caller;

static void *block_call_thread(void *Arg) {
  block_caller *C = Arg;
  orc_rt_LoopbackController_callWrapper(C->B->LC, addr_of_async(async_block), str_buffer("b"),
                                        slot_fn, C->Slot);
  return NULL;
}

static void *block_disconnect_thread(void *Arg) {
  blocking *B = Arg;
  orcrt_test_latch_signal(&B->Ready);
  orc_rt_LoopbackController_disconnect(B->LC);
  if (!atomic_load(&B->Finished))
    atomic_fetch_add(&B->EarlyReturns, 1);
  return NULL;
}

START_TEST(loopback_disconnect_waits_for_a_delivery_in_progress) {
  enum { Threads = 8 };
  blocking B;
  memset(&B, 0, sizeof(B));
  orcrt_test_latch_init(&B.Entered);
  orcrt_test_latch_init(&B.Release);
  orcrt_test_latch_init(&B.Ready);
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(true, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  ck_assert_no_error(orc_rt_Session_addService(S, &BlockingContextOps, &B));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, async_block));
  ck_assert_no_error(orc_rt_LoopbackController_create(&B.LC));
  ck_assert_no_error(orc_rt_LoopbackController_attach(S, B.LC));

  result_slot R;
  slot_init(&R);
  block_caller C = {&B, &R};
  pthread_t Caller, Th[Threads];
  ck_assert_int_eq(pthread_create(&Caller, NULL, block_call_thread, &C), 0);
  orcrt_test_latch_wait(&B.Entered, 1);
  for (int I = 0; I < Threads; I++)
    ck_assert_int_eq(pthread_create(&Th[I], NULL, block_disconnect_thread, &B), 0);
  orcrt_test_latch_wait(&B.Ready, Threads);
  orcrt_test_latch_signal(&B.Release);
  for (int I = 0; I < Threads; I++)
    pthread_join(Th[I], NULL);
  pthread_join(Caller, NULL);
  ck_assert_int_eq(atomic_load(&B.EarlyReturns), 0);
  /* Answered inside the delivery, before the disconnect could fail it. */
  orcrt_test_latch_wait(&R.Done, 1);
  ck_assert_buffer_str(&R.Result, "done");

  orc_rt_Session_destroy(S);
  ck_assert_int_eq(atomic_load(&R.Count), 1);
  slot_fini(&R);
  orcrt_test_latch_destroy(&B.Entered);
  orcrt_test_latch_destroy(&B.Release);
  orcrt_test_latch_destroy(&B.Ready);
}
END_TEST

START_TEST(loopback_hang_up_detaches_session_and_fails_pending_calls) {
  fixture F;
  fixture_init(&F);
  orc_rt_LoopbackControllerRef LC;
  orc_rt_SessionRef S = setup(&F, 2, &LC);
  result_slot Held, Pending;
  slot_init(&Held);
  slot_init(&Pending);
  orc_rt_LoopbackController_callWrapper(LC, addr_of_async(async_hold), str_buffer("h"), slot_fn,
                                        &Held);
  orcrt_test_latch_wait(&F.Held, 1);
  orc_rt_Session_callController(S, BlackHoleTag, str_buffer("b"), slot_fn, &Pending);

  orc_rt_LoopbackController_hangUp(LC);
  orc_rt_Session_waitForDetach(S);
  ck_assert(orc_rt_Session_isDetached(S));
  ck_assert_ptr_null(orc_rt_Session_getDisconnectError(S));
  orcrt_test_latch_wait(&Held.Done, 1);
  ck_assert_buffer_error(&Held.Result, "disconnected");
  ck_assert_int_eq(atomic_load(&Pending.Count), 1);
  ck_assert_buffer_error(&Pending.Result, "controller disconnected");

  /* The held call returns after detach: dropped, not a second completion. */
  drain_held(&F, S);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(atomic_load(&Held.Count), 1);
  ck_assert_int_eq(atomic_load(&Pending.Count), 1);
  slot_fini(&Held);
  slot_fini(&Pending);
  fixture_fini(&F);
}
END_TEST

START_TEST(loopback_call_wrapper_unattached_fails_at_once) {
  orc_rt_LoopbackControllerRef LC;
  ck_assert_no_error(orc_rt_LoopbackController_create(&LC));
  result_slot R;
  slot_init(&R);
  orc_rt_LoopbackController_callWrapper(LC, 1, str_buffer("a long argument"), slot_fn, &R);
  ck_assert_int_eq(atomic_load(&R.Count), 1);
  ck_assert_buffer_error(&R.Result, "not attached");
  orc_rt_LoopbackController_destroy(LC);
  slot_fini(&R);
}
END_TEST

/* ---- detach racing calls in both directions --------------------------------------- */

enum { RaceCallers = 8, RaceCallsEach = 300, RaceCalls = RaceCallers * RaceCallsEach };

typedef struct race race;

typedef struct {
  race *R;
  atomic_int Count;
  bool MustFail; /* to a target that never answers */
  bool ToController;
  int Index;
} race_slot;

struct race {
  orc_rt_SessionRef S;
  orc_rt_LoopbackControllerRef LC;
  race_slot Slots[RaceCalls];
  atomic_int Errors, Successes, BadResults;
  orcrt_test_latch Completed;
  orcrt_test_latch Halfway;
};

static void race_result(void *Ctx, orc_rt_WrapperFunctionBuffer Result) {
  race_slot *Slot = Ctx;
  race *R = Slot->R;
  atomic_fetch_add(&Slot->Count, 1);
  if (orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Result)) {
    atomic_fetch_add(&R->Errors, 1);
  } else {
    atomic_fetch_add(&R->Successes, 1);
    char Expected[64];
    snprintf(Expected, sizeof(Expected), "%s:%d", Slot->ToController ? "echo" : "async",
             Slot->Index);
    if (Slot->MustFail || Result.Size != strlen(Expected) ||
        memcmp(orc_rt_WrapperFunctionBuffer_constData(&Result), Expected, Result.Size) != 0)
      atomic_fetch_add(&R->BadResults, 1);
  }
  orc_rt_WrapperFunctionBuffer_dispose(&Result);
  orcrt_test_latch_signal(&R->Completed);
}

typedef struct {
  race *R;
  int Caller;
} race_caller;

static void *race_caller_thread(void *Arg) {
  race_caller *C = Arg;
  race *R = C->R;
  for (int K = 0; K < RaceCallsEach; K++) {
    int Index = C->Caller * RaceCallsEach + K;
    race_slot *Slot = &R->Slots[Index];
    char Text[32];
    snprintf(Text, sizeof(Text), "%d", Index);
    orc_rt_WrapperFunctionBuffer Args = orc_rt_WrapperFunctionBuffer_fromBytes(Text, strlen(Text));
    if (Slot->ToController)
      orc_rt_Session_callController(R->S, Slot->MustFail ? BlackHoleTag : EchoTag, Args,
                                    race_result, Slot);
    else
      orc_rt_LoopbackController_callWrapper(
          R->LC, addr_of_async(Slot->MustFail ? async_hold : async_prefix), Args, race_result,
          Slot);
    if (K == RaceCallsEach / 2)
      orcrt_test_latch_signal(&R->Halfway);
  }
  return NULL;
}

START_TEST(loopback_detach_racing_calls_in_both_directions_completes_each_exactly_once) {
  fixture F;
  fixture_init(&F);
  race *R = calloc(1, sizeof(*R));
  ck_assert_ptr_nonnull(R);
  orcrt_test_latch_init(&R->Completed);
  orcrt_test_latch_init(&R->Halfway);
  R->S = setup(&F, 4, &R->LC);
  for (int I = 0; I < RaceCalls; I++) {
    R->Slots[I].R = R;
    R->Slots[I].Index = I;
    R->Slots[I].ToController = (I / RaceCallsEach) % 2 == 0;
    R->Slots[I].MustFail = I % 5 == 0;
  }
  race_caller Callers[RaceCallers];
  pthread_t Th[RaceCallers];
  for (int I = 0; I < RaceCallers; I++) {
    Callers[I] = (race_caller){R, I};
    ck_assert_int_eq(pthread_create(&Th[I], NULL, race_caller_thread, &Callers[I]), 0);
  }
  /* Detach while every caller is mid-way. */
  orcrt_test_latch_wait(&R->Halfway, RaceCallers);
  orcrt_test_latch Detached;
  orcrt_test_latch_init(&Detached);
  orc_rt_Session_detach(R->S, orcrt_test_latch_signal_fn, &Detached);
  for (int I = 0; I < RaceCallers; I++)
    pthread_join(Th[I], NULL);
  orcrt_test_latch_wait(&Detached, 1);

  /* Held calls return after detach (dropped); their callers were failed already. */
  drain_held(&F, R->S);
  orcrt_test_latch_wait(&R->Completed, RaceCalls);
  orc_rt_Session_destroy(R->S);

  for (int I = 0; I < RaceCalls; I++)
    ck_assert_msg(atomic_load(&R->Slots[I].Count) == 1, "call %d completed %d times", I,
                  atomic_load(&R->Slots[I].Count));
  ck_assert_int_eq(atomic_load(&R->BadResults), 0);
  ck_assert_int_eq(atomic_load(&R->Errors) + atomic_load(&R->Successes), RaceCalls);
  ck_assert_int_ge(atomic_load(&R->Errors), RaceCalls / 5);
  orcrt_test_latch_destroy(&Detached);
  orcrt_test_latch_destroy(&R->Completed);
  orcrt_test_latch_destroy(&R->Halfway);
  free(R);
  fixture_fini(&F);
}
END_TEST

/* ---- nesting deeper than the pool ----------------------------------------------------- */

typedef struct {
  orc_rt_LoopbackControllerRef LC;
  atomic_int Handlers, Wrappers;
} nested;

static const orc_rt_ServiceOps NestedContextOps = {.Name = "nested-context"};

/* Executor side: at depth 0 answer, else ask the controller one level down. */
static void nested_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                           orc_rt_WrapperFunctionReturn Return, orc_rt_WrapperFunctionBuffer Args) {
  nested *N = orc_rt_Session_findService(S, &NestedContextOps);
  atomic_fetch_add(&N->Wrappers, 1);
  uint32_t Depth = 0;
  if (Args.Size == sizeof(Depth))
    memcpy(&Depth, orc_rt_WrapperFunctionBuffer_constData(&Args), sizeof(Depth));
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  if (Depth == 0) {
    Return(S, CallId, str_buffer("bottom"));
    return;
  }
  Return(S, CallId,
         orc_rt_Session_callControllerSync(S, NestedTag, (const char *)&Depth, sizeof(Depth)));
}

/* Controller side: call the executor back one level shallower, synchronously. */
static void nested_handler(void *Ctx, orc_rt_LoopbackControllerRef LC, uint64_t CallId,
                           orc_rt_WrapperFunctionBuffer Args) {
  nested *N = Ctx;
  atomic_fetch_add(&N->Handlers, 1);
  uint32_t Depth = 1;
  if (Args.Size == sizeof(Depth))
    memcpy(&Depth, orc_rt_WrapperFunctionBuffer_constData(&Args), sizeof(Depth));
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Depth--;
  orc_rt_LoopbackController_returnResult(
      LC, CallId,
      orc_rt_LoopbackController_callWrapperSync(LC, addr_of_async(nested_wrapper),
                                                (const char *)&Depth, sizeof(Depth)));
}

START_TEST(loopback_calls_nested_deeper_than_the_pool_complete) {
  enum { Depth = 16 };
  nested N;
  memset(&N, 0, sizeof(N));
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  ck_assert_no_error(orc_rt_Session_addService(S, &NestedContextOps, &N));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(S, NULL, nested_wrapper));
  ck_assert_no_error(orc_rt_LoopbackController_create(&N.LC));
  ck_assert_no_error(orc_rt_LoopbackController_addHandler(N.LC, NestedTag, nested_handler, &N));
  ck_assert_no_error(orc_rt_LoopbackController_attach(S, N.LC));
  uint32_t Top = Depth;
  orc_rt_WrapperFunctionBuffer R = orc_rt_LoopbackController_callWrapperSync(
      N.LC, addr_of_async(nested_wrapper), (const char *)&Top, sizeof(Top));
  ck_assert_buffer_str(&R, "bottom");
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  ck_assert_int_eq(atomic_load(&N.Wrappers), Depth + 1);
  ck_assert_int_eq(atomic_load(&N.Handlers), Depth);
  orc_rt_Session_destroy(S);
}
END_TEST

/* ---- several Sessions ------------------------------------------------------------------ */

START_TEST(loopback_sessions_with_own_controllers_are_independent) {
  fixture F1, F2;
  fixture_init(&F1);
  fixture_init(&F2);
  orc_rt_LoopbackControllerRef LC1, LC2;
  orc_rt_SessionRef S1 = setup(&F1, 2, &LC1);
  orc_rt_SessionRef S2 = setup(&F2, 2, &LC2);
  orc_rt_LoopbackController_hangUp(LC1);
  orc_rt_Session_waitForDetach(S1);
  ck_assert(!orc_rt_Session_isDetached(S2));
  orc_rt_WrapperFunctionBuffer R = orc_rt_Session_callControllerSync(S2, EchoTag, "2", 1);
  ck_assert_buffer_str(&R, "echo:2");
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  R = orc_rt_LoopbackController_callWrapperSync(LC2, addr_of_async(async_prefix), "2", 1);
  ck_assert_buffer_str(&R, "async:2");
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  R = orc_rt_Session_callControllerSync(S1, EchoTag, "1", 1);
  ck_assert_buffer_error(&R, "session is detached");
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  orc_rt_Session_destroy(S1);
  ck_assert_int_eq(atomic_load(&F2.EchoCalls), 1);
  orc_rt_Session_destroy(S2);
  ck_assert_int_eq(atomic_load(&F1.EchoCalls), 0);
  fixture_fini(&F1);
  fixture_fini(&F2);
}
END_TEST

Suite *orcrt_suite_loopback(void) {
  Suite *S = suite_create("loopback");
  TCase *TC = orcrt_test_case(S, "calls", 30);
  tcase_add_test(TC, loopback_call_controller_reaches_handler_off_the_calling_thread);
  tcase_add_test(TC, loopback_handler_may_answer_later_from_another_thread);
  tcase_add_test(TC, loopback_unknown_handler_tag_answers_with_error);
  tcase_add_test(TC, loopback_call_wrapper_uses_the_sessions_abi_choice);
  tcase_add_test(TC, loopback_add_handler_rejects_duplicates_and_changes_after_attach);
  tcase_add_test(TC, loopback_attach_to_attached_session_fails_and_caller_keeps_it);
  tcase_add_test(TC, loopback_return_result_for_unknown_call_is_reported);
  tcase_add_test(TC, loopback_call_wrapper_unattached_fails_at_once);
  TC = orcrt_test_case(S, "disconnect", 60);
  tcase_add_test(TC, loopback_disconnect_from_eight_threads_stops_calls_both_ways);
  tcase_add_test(TC, loopback_disconnect_waits_for_a_delivery_in_progress);
  tcase_add_test(TC, loopback_hang_up_detaches_session_and_fails_pending_calls);
  tcase_add_test(TC, loopback_detach_racing_calls_in_both_directions_completes_each_exactly_once);
  TC = orcrt_test_case(S, "nesting", 60);
  tcase_add_test(TC, loopback_calls_nested_deeper_than_the_pool_complete);
  tcase_add_test(TC, loopback_sessions_with_own_controllers_are_independent);
  return S;
}

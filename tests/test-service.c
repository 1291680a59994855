/*
 * test-service.c - Services and the notification Service (DESIGN S5-S7)
 *
 * Every Service here appends what it is told to an event log ("D:name" for
 * detach, "S:name" for shutdown, "X:name" for destroy), so each test states
 * the exact order it expects.
 */
#include "config.h"

#include "test-util.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- an event log --------------------------------------------------------- */

typedef struct {
  pthread_mutex_t Lock;
  char Buf[2048];
} event_log;

static void log_init(event_log *L) {
  pthread_mutex_init(&L->Lock, NULL);
  L->Buf[0] = '\0';
}

static void log_fini(event_log *L) {
  pthread_mutex_destroy(&L->Lock);
}

static void log_event(event_log *L, const char *Fmt, ...) ORC_RT_PRINTF(2, 3);

static void log_event(event_log *L, const char *Fmt, ...) {
  pthread_mutex_lock(&L->Lock);
  size_t Len = strlen(L->Buf);
  va_list Ap;
  va_start(Ap, Fmt);
  vsnprintf(L->Buf + Len, sizeof(L->Buf) - Len, Fmt, Ap);
  va_end(Ap);
  Len = strlen(L->Buf);
  snprintf(L->Buf + Len, sizeof(L->Buf) - Len, " ");
  pthread_mutex_unlock(&L->Lock);
}

/* A copy of the log now, for comparing. */
static void log_get(event_log *L, char *Out, size_t Size) {
  pthread_mutex_lock(&L->Lock);
  snprintf(Out, Size, "%s", L->Buf);
  pthread_mutex_unlock(&L->Lock);
}

#define ck_assert_log_eq(L, Expected)                                                              \
  do {                                                                                             \
    char LogNow_[sizeof((L)->Buf)];                                                                \
    log_get((L), LogNow_, sizeof(LogNow_));                                                        \
    ck_assert_str_eq(LogNow_, (Expected));                                                         \
  } while (0)

/* ---- a recording Service -------------------------------------------------- */

typedef struct {
  const char *Name;
  event_log *Log;
  bool AsyncDetach, AsyncShutdown; /* keep Done for the test to call */
  pthread_mutex_t Lock;
  orc_rt_CompletionFn Done;
  void *DoneCtx;
  orcrt_test_latch Called; /* signalled on every notification */
  pthread_t DetachThread, ShutdownThread;
} test_service;

static void svc_init(test_service *T, const char *Name, event_log *Log) {
  memset(T, 0, sizeof(*T));
  T->Name = Name;
  T->Log = Log;
  pthread_mutex_init(&T->Lock, NULL);
  orcrt_test_latch_init(&T->Called);
}

static void svc_fini(test_service *T) {
  orcrt_test_latch_destroy(&T->Called);
  pthread_mutex_destroy(&T->Lock);
}

static void svc_notified(test_service *T, const char *What, bool Async, orc_rt_CompletionFn Done,
                         void *DoneCtx) {
  log_event(T->Log, "%s:%s", What, T->Name);
  if (Async) {
    pthread_mutex_lock(&T->Lock);
    T->Done = Done;
    T->DoneCtx = DoneCtx;
    pthread_mutex_unlock(&T->Lock);
  }
  orcrt_test_latch_signal(&T->Called);
  if (!Async)
    Done(DoneCtx);
}

static void svc_detach(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DoneCtx) {
  test_service *T = Ctx;
  T->DetachThread = pthread_self();
  svc_notified(T, "D", T->AsyncDetach, Done, DoneCtx);
}

static void svc_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DoneCtx) {
  test_service *T = Ctx;
  T->ShutdownThread = pthread_self();
  svc_notified(T, "S", T->AsyncShutdown, Done, DoneCtx);
}

static void svc_destroy(void *Ctx) {
  test_service *T = Ctx;
  log_event(T->Log, "X:%s", T->Name);
}

static const orc_rt_ServiceOps SvcOps = {
    .Name = "test",
    .Detach = svc_detach,
    .Shutdown = svc_shutdown,
    .Destroy = svc_destroy,
};

/* Call the completion a Service kept, from a thread of its own. */
static void *complete_thread(void *Arg) {
  test_service *T = Arg;
  pthread_mutex_lock(&T->Lock);
  orc_rt_CompletionFn Done = T->Done;
  void *DoneCtx = T->DoneCtx;
  T->Done = NULL;
  pthread_mutex_unlock(&T->Lock);
  log_event(T->Log, "done:%s", T->Name);
  Done(DoneCtx);
  return NULL;
}

static void complete_from_other_thread(test_service *T) {
  pthread_t Th;
  ck_assert_int_eq(pthread_create(&Th, NULL, complete_thread, T), 0);
  pthread_join(Th, NULL);
}

/* ---- sessions ---------------------------------------------------------------- */

static orc_rt_SessionRef new_session(void) {
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_QueueTaskDispatcher_create(true, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  return S;
}

static void detach_and_wait(orc_rt_SessionRef S) {
  orcrt_test_latch L;
  orcrt_test_latch_init(&L);
  orc_rt_Session_detach(S, orcrt_test_latch_signal_fn, &L);
  orcrt_test_latch_wait(&L, 1);
  orcrt_test_latch_destroy(&L);
}

static void shutdown_and_wait(orc_rt_SessionRef S) {
  orcrt_test_latch L;
  orcrt_test_latch_init(&L);
  orc_rt_Session_shutdown(S, orcrt_test_latch_signal_fn, &L);
  orcrt_test_latch_wait(&L, 1);
  orcrt_test_latch_destroy(&L);
}

static void record_fn(void *Ctx) {
  log_event(Ctx, "cb");
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(service_told_detach_then_shutdown_in_reverse_registration_order) {
  event_log L;
  log_init(&L);
  test_service A, B, C;
  svc_init(&A, "A", &L);
  svc_init(&B, "B", &L);
  svc_init(&C, "C", &L);
  orc_rt_SessionRef S = new_session();
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &A));
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &B));
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &C));
  ck_assert_log_eq(&L, "");
  shutdown_and_wait(S);
  ck_assert_log_eq(&L, "D:C D:B D:A S:C S:B S:A ");
  orc_rt_Session_destroy(S);
  ck_assert_log_eq(&L, "D:C D:B D:A S:C S:B S:A X:C X:B X:A ");
  svc_fini(&A);
  svc_fini(&B);
  svc_fini(&C);
  log_fini(&L);
}
END_TEST

START_TEST(service_detach_alone_does_not_shut_services_down) {
  event_log L;
  log_init(&L);
  test_service A, B;
  svc_init(&A, "A", &L);
  svc_init(&B, "B", &L);
  orc_rt_SessionRef S = new_session();
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &A));
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &B));
  detach_and_wait(S);
  ck_assert_log_eq(&L, "D:B D:A ");
  ck_assert(orc_rt_Session_isDetached(S));
  orc_rt_Session_destroy(S);
  ck_assert_log_eq(&L, "D:B D:A S:B S:A X:B X:A ");
  svc_fini(&A);
  svc_fini(&B);
  log_fini(&L);
}
END_TEST

START_TEST(service_async_detach_is_awaited_before_the_next_service) {
  event_log L;
  log_init(&L);
  test_service A, B, C;
  svc_init(&A, "A", &L);
  svc_init(&B, "B", &L);
  svc_init(&C, "C", &L);
  B.AsyncDetach = true;
  orc_rt_SessionRef S = new_session();
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &A));
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &B));
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &C));
  orcrt_test_latch Detached;
  orcrt_test_latch_init(&Detached);
  orc_rt_Session_detach(S, orcrt_test_latch_signal_fn, &Detached);
  orcrt_test_latch_wait(&B.Called, 1);
  /* B has not completed: A is not told and detach has not completed. */
  ck_assert_log_eq(&L, "D:C D:B ");
  ck_assert_uint_eq(orcrt_test_latch_count(&Detached), 0);
  complete_from_other_thread(&B);
  orcrt_test_latch_wait(&Detached, 1);
  ck_assert_log_eq(&L, "D:C D:B done:B D:A ");
  orc_rt_Session_destroy(S);
  ck_assert_log_eq(&L, "D:C D:B done:B D:A S:C S:B S:A X:C X:B X:A ");
  orcrt_test_latch_destroy(&Detached);
  svc_fini(&A);
  svc_fini(&B);
  svc_fini(&C);
  log_fini(&L);
}
END_TEST

START_TEST(service_async_shutdown_is_awaited_before_shutdown_completes) {
  event_log L;
  log_init(&L);
  test_service A, B;
  svc_init(&A, "A", &L);
  svc_init(&B, "B", &L);
  B.AsyncShutdown = true;
  orc_rt_SessionRef S = new_session();
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &A));
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &B));
  orcrt_test_latch Down;
  orcrt_test_latch_init(&Down);
  orc_rt_Session_shutdown(S, orcrt_test_latch_signal_fn, &Down);
  orcrt_test_latch_wait(&B.Called, 2); /* detach, then shutdown */
  ck_assert_log_eq(&L, "D:B D:A S:B ");
  ck_assert_uint_eq(orcrt_test_latch_count(&Down), 0);
  complete_from_other_thread(&B);
  orcrt_test_latch_wait(&Down, 1);
  ck_assert_log_eq(&L, "D:B D:A S:B done:B S:A ");
  orc_rt_Session_destroy(S);
  orcrt_test_latch_destroy(&Down);
  svc_fini(&A);
  svc_fini(&B);
  log_fini(&L);
}
END_TEST

START_TEST(service_added_after_detach_is_told_at_once_on_the_adding_thread) {
  event_log L;
  log_init(&L);
  test_service A, Late;
  svc_init(&A, "A", &L);
  svc_init(&Late, "L", &L);
  orc_rt_SessionRef S = new_session();
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &A));
  detach_and_wait(S);
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &Late));
  ck_assert_log_eq(&L, "D:A D:L ");
  ck_assert(pthread_equal(Late.DetachThread, pthread_self()));
  /* Shutdown still comes in reverse registration order. */
  shutdown_and_wait(S);
  ck_assert_log_eq(&L, "D:A D:L S:L S:A ");
  orc_rt_Session_destroy(S);
  svc_fini(&A);
  svc_fini(&Late);
  log_fini(&L);
}
END_TEST

START_TEST(service_added_after_shutdown_is_told_detach_then_shutdown_at_once) {
  event_log L;
  log_init(&L);
  test_service A, Late;
  svc_init(&A, "A", &L);
  svc_init(&Late, "L", &L);
  orc_rt_SessionRef S = new_session();
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &A));
  shutdown_and_wait(S);
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &Late));
  ck_assert_log_eq(&L, "D:A S:A D:L S:L ");
  ck_assert(pthread_equal(Late.DetachThread, pthread_self()));
  ck_assert(pthread_equal(Late.ShutdownThread, pthread_self()));
  orc_rt_Session_destroy(S);
  ck_assert_log_eq(&L, "D:A S:A D:L S:L X:L X:A ");
  svc_fini(&A);
  svc_fini(&Late);
  log_fini(&L);
}
END_TEST

START_TEST(service_added_late_with_async_detach_is_shut_down_after_its_detach_completes) {
  event_log L;
  log_init(&L);
  test_service Late;
  svc_init(&Late, "L", &L);
  Late.AsyncDetach = true;
  orc_rt_SessionRef S = new_session();
  shutdown_and_wait(S);
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &Late));
  ck_assert_log_eq(&L, "D:L ");
  complete_from_other_thread(&Late);
  ck_assert_log_eq(&L, "D:L done:L S:L ");
  ck_assert(!pthread_equal(Late.ShutdownThread, pthread_self()));
  orc_rt_Session_destroy(S);
  ck_assert_log_eq(&L, "D:L done:L S:L X:L ");
  svc_fini(&Late);
  log_fini(&L);
}
END_TEST

/* A log function that signals the latch Ctx when the Session begins shutting down. */
static void watch_log_fn(void *Ctx, orc_rt_LogLevel Level, const char *Msg) {
  if (strcmp(Msg, "shutting down") == 0)
    orcrt_test_latch_signal(Ctx);
}

START_TEST(service_added_after_detach_is_shut_down_only_after_its_async_detach_completes) {
  event_log L;
  log_init(&L);
  test_service A, Late;
  svc_init(&A, "A", &L);
  svc_init(&Late, "L", &L);
  Late.AsyncDetach = true;
  orcrt_test_latch ShuttingDown;
  orcrt_test_latch_init(&ShuttingDown);
  orc_rt_SessionRef S = new_session();
  orc_rt_Session_setLogFn(S, watch_log_fn, &ShuttingDown);
  orc_rt_Session_setLogLevel(S, orc_rt_LogLevel_Debug);
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &A));
  detach_and_wait(S);
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &Late));
  orcrt_test_latch Down;
  orcrt_test_latch_init(&Down);
  orc_rt_Session_shutdown(S, orcrt_test_latch_signal_fn, &Down);
  /* Complete only once shutdown has begun, so a Shutdown too early would show. */
  orcrt_test_latch_wait(&ShuttingDown, 1);
  complete_from_other_thread(&Late);
  orcrt_test_latch_wait(&Down, 1);
  ck_assert_log_eq(&L, "D:A D:L done:L S:L S:A ");
  orc_rt_Session_destroy(S);
  orcrt_test_latch_destroy(&Down);
  orcrt_test_latch_destroy(&ShuttingDown);
  svc_fini(&A);
  svc_fini(&Late);
  log_fini(&L);
}
END_TEST

START_TEST(service_destroy_waits_for_late_async_completion) {
  event_log L;
  log_init(&L);
  test_service Late;
  svc_init(&Late, "L", &L);
  Late.AsyncShutdown = true;
  orc_rt_SessionRef S = new_session();
  shutdown_and_wait(S);
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &Late));
  ck_assert_log_eq(&L, "D:L S:L ");
  /* Complete only from inside destroy's wait: the Destroy op must come after. */
  pthread_t Th;
  orcrt_test_latch_wait(&Late.Called, 2);
  ck_assert_int_eq(pthread_create(&Th, NULL, complete_thread, &Late), 0);
  orc_rt_Session_destroy(S);
  pthread_join(Th, NULL);
  ck_assert_log_eq(&L, "D:L S:L done:L X:L ");
  svc_fini(&Late);
  log_fini(&L);
}
END_TEST

static void count_fn(void *Ctx) {
  atomic_fetch_add((atomic_int *)Ctx, 1);
}

static const orc_rt_ServiceOps EmptyOps = {.Name = NULL};

START_TEST(service_with_null_operations_completes_notifications) {
  orc_rt_SessionRef S = new_session();
  int Dummy;
  ck_assert_no_error(orc_rt_Session_addService(S, &EmptyOps, &Dummy));
  atomic_int Done = 0;
  orc_rt_Session_shutdown(S, count_fn, &Done);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(atomic_load(&Done), 1);
}
END_TEST

START_TEST(service_add_without_ops_fails) {
  orc_rt_SessionRef S = new_session();
  ck_assert_error_contains(orc_rt_Session_addService(S, NULL, NULL), "operations");
  orc_rt_Session_destroy(S);
}
END_TEST

START_TEST(service_find_returns_first_service_added_with_ops) {
  event_log L;
  log_init(&L);
  test_service A, B;
  svc_init(&A, "A", &L);
  svc_init(&B, "B", &L);
  orc_rt_SessionRef S = new_session();
  int Other;
  ck_assert_ptr_null(orc_rt_Session_findService(S, &SvcOps));
  ck_assert_no_error(orc_rt_Session_addService(S, &EmptyOps, &Other));
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &A));
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &B));
  ck_assert_ptr_eq(orc_rt_Session_findService(S, &SvcOps), &A);
  ck_assert_ptr_eq(orc_rt_Session_findService(S, &EmptyOps), &Other);
  orc_rt_Session_destroy(S);
  svc_fini(&A);
  svc_fini(&B);
  log_fini(&L);
}
END_TEST

/* An error reporter that keeps the messages. */
typedef struct {
  pthread_mutex_t Lock;
  char Msgs[512];
} reporter;

static void reporter_fn(void *Ctx, orc_rt_ErrorRef Err) {
  reporter *R = Ctx;
  pthread_mutex_lock(&R->Lock);
  size_t Len = strlen(R->Msgs);
  snprintf(R->Msgs + Len, sizeof(R->Msgs) - Len, "%s;", orc_rt_Error_getMessage(Err));
  pthread_mutex_unlock(&R->Lock);
  orc_rt_Error_consume(Err);
}

static void twice_detach(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DoneCtx) {
  Done(DoneCtx);
  Done(DoneCtx);
}

static const orc_rt_ServiceOps TwiceOps = {.Name = "twice", .Detach = twice_detach};

START_TEST(service_completing_twice_is_reported_not_fatal) {
  reporter R = {PTHREAD_MUTEX_INITIALIZER, ""};
  orc_rt_SessionRef S = new_session();
  orc_rt_Session_setErrorReporter(S, reporter_fn, &R);
  int Dummy;
  ck_assert_no_error(orc_rt_Session_addService(S, &TwiceOps, &Dummy));
  detach_and_wait(S);
  orc_rt_Session_destroy(S);
  ck_assert_ptr_nonnull(strstr(R.Msgs, "service twice completed detach more than once"));
}
END_TEST

/* ---- the notification Service ------------------------------------------------ */

typedef struct {
  event_log *Log;
  const char *Name;
} named_cb;

static void named_fn(void *Ctx) {
  named_cb *C = Ctx;
  log_event(C->Log, "%s", C->Name);
}

START_TEST(notification_callbacks_run_newest_first) {
  event_log L;
  log_init(&L);
  orc_rt_SessionRef S = new_session();
  orc_rt_NotificationServiceRef N;
  ck_assert_no_error(orc_rt_NotificationService_add(S, &N));
  named_cb D1 = {&L, "d1"}, D2 = {&L, "d2"}, S1 = {&L, "s1"}, S2 = {&L, "s2"};
  ck_assert_no_error(orc_rt_NotificationService_onDetach(N, named_fn, &D1));
  ck_assert_no_error(orc_rt_NotificationService_onDetach(N, named_fn, &D2));
  ck_assert_no_error(orc_rt_NotificationService_onShutdown(N, named_fn, &S1));
  ck_assert_no_error(orc_rt_NotificationService_onShutdown(N, named_fn, &S2));
  detach_and_wait(S);
  ck_assert_log_eq(&L, "d2 d1 ");
  orc_rt_Session_destroy(S);
  ck_assert_log_eq(&L, "d2 d1 s2 s1 ");
  log_fini(&L);
}
END_TEST

START_TEST(notification_callbacks_interleave_with_other_services_by_position) {
  event_log L;
  log_init(&L);
  test_service A, B;
  svc_init(&A, "A", &L);
  svc_init(&B, "B", &L);
  orc_rt_SessionRef S = new_session();
  orc_rt_NotificationServiceRef N;
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &A));
  ck_assert_no_error(orc_rt_NotificationService_add(S, &N));
  ck_assert_no_error(orc_rt_Session_addService(S, &SvcOps, &B));
  named_cb D1 = {&L, "n-d1"}, D2 = {&L, "n-d2"}, S1 = {&L, "n-s1"};
  ck_assert_no_error(orc_rt_NotificationService_onDetach(N, named_fn, &D1));
  ck_assert_no_error(orc_rt_NotificationService_onDetach(N, named_fn, &D2));
  ck_assert_no_error(orc_rt_NotificationService_onShutdown(N, named_fn, &S1));
  orc_rt_Session_destroy(S);
  ck_assert_log_eq(&L, "D:B n-d2 n-d1 D:A S:B n-s1 S:A X:B X:A ");
  svc_fini(&A);
  svc_fini(&B);
  log_fini(&L);
}
END_TEST

START_TEST(notification_callback_registered_after_notification_runs_at_once) {
  event_log L;
  log_init(&L);
  orc_rt_SessionRef S = new_session();
  orc_rt_NotificationServiceRef N;
  ck_assert_no_error(orc_rt_NotificationService_add(S, &N));
  detach_and_wait(S);
  ck_assert_no_error(orc_rt_NotificationService_onDetach(N, record_fn, &L));
  ck_assert_log_eq(&L, "cb ");
  /* Shutdown has not happened: that callback waits for it. */
  ck_assert_no_error(orc_rt_NotificationService_onShutdown(N, record_fn, &L));
  ck_assert_log_eq(&L, "cb ");
  shutdown_and_wait(S);
  ck_assert_log_eq(&L, "cb cb ");
  orc_rt_Session_destroy(S);
  log_fini(&L);
}
END_TEST

START_TEST(notification_service_added_after_detach_runs_its_detach_callbacks_at_once) {
  event_log L;
  log_init(&L);
  orc_rt_SessionRef S = new_session();
  detach_and_wait(S);
  orc_rt_NotificationServiceRef N;
  ck_assert_no_error(orc_rt_NotificationService_add(S, &N));
  named_cb D = {&L, "d"}, Sh = {&L, "s"};
  ck_assert_no_error(orc_rt_NotificationService_onDetach(N, named_fn, &D));
  ck_assert_no_error(orc_rt_NotificationService_onShutdown(N, named_fn, &Sh));
  ck_assert_log_eq(&L, "d ");
  orc_rt_Session_destroy(S);
  ck_assert_log_eq(&L, "d s ");
  log_fini(&L);
}
END_TEST

START_TEST(notification_null_callback_is_an_error) {
  orc_rt_SessionRef S = new_session();
  orc_rt_NotificationServiceRef N;
  ck_assert_no_error(orc_rt_NotificationService_add(S, &N));
  ck_assert_error_contains(orc_rt_NotificationService_onDetach(N, NULL, NULL), "NULL");
  ck_assert_error_contains(orc_rt_NotificationService_onShutdown(N, NULL, NULL), "NULL");
  orc_rt_Session_destroy(S);
}
END_TEST

struct register_race {
  orc_rt_NotificationServiceRef N;
  atomic_int *Count;
  orcrt_test_latch *Go;
};

static void *register_thread(void *Arg) {
  struct register_race *R = Arg;
  orcrt_test_latch_wait(R->Go, 1);
  for (int I = 0; I < 200; I++)
    ck_assert_no_error(orc_rt_NotificationService_onDetach(R->N, count_fn, R->Count));
  return NULL;
}

START_TEST(notification_callbacks_registered_while_detaching_run_exactly_once) {
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &D));
  orc_rt_SessionRef S;
  ck_assert_no_error(orc_rt_Session_create(D, &S));
  orc_rt_NotificationServiceRef N;
  ck_assert_no_error(orc_rt_NotificationService_add(S, &N));
  atomic_int Count = 0;
  orcrt_test_latch Go;
  orcrt_test_latch_init(&Go);
  struct register_race R = {N, &Count, &Go};
  pthread_t Th[4];
  for (int I = 0; I < 4; I++)
    ck_assert_int_eq(pthread_create(&Th[I], NULL, register_thread, &R), 0);
  orcrt_test_latch_signal(&Go);
  orc_rt_Session_detach(S, NULL, NULL);
  for (int I = 0; I < 4; I++)
    pthread_join(Th[I], NULL);
  orc_rt_Session_waitForDetach(S);
  ck_assert_int_eq(atomic_load(&Count), 4 * 200);
  orc_rt_Session_destroy(S);
  ck_assert_int_eq(atomic_load(&Count), 4 * 200);
  orcrt_test_latch_destroy(&Go);
}
END_TEST

Suite *orcrt_suite_service(void) {
  Suite *S = suite_create("service");
  TCase *TC = orcrt_test_case(S, "order", 30);
  tcase_add_test(TC, service_told_detach_then_shutdown_in_reverse_registration_order);
  tcase_add_test(TC, service_detach_alone_does_not_shut_services_down);
  tcase_add_test(TC, service_async_detach_is_awaited_before_the_next_service);
  tcase_add_test(TC, service_async_shutdown_is_awaited_before_shutdown_completes);
  TC = orcrt_test_case(S, "late", 30);
  tcase_add_test(TC, service_added_after_detach_is_told_at_once_on_the_adding_thread);
  tcase_add_test(TC, service_added_after_shutdown_is_told_detach_then_shutdown_at_once);
  tcase_add_test(TC, service_added_late_with_async_detach_is_shut_down_after_its_detach_completes);
  tcase_add_test(TC, service_added_after_detach_is_shut_down_only_after_its_async_detach_completes);
  tcase_add_test(TC, service_destroy_waits_for_late_async_completion);
  TC = orcrt_test_case(S, "ops", 30);
  tcase_add_test(TC, service_with_null_operations_completes_notifications);
  tcase_add_test(TC, service_add_without_ops_fails);
  tcase_add_test(TC, service_find_returns_first_service_added_with_ops);
  tcase_add_test(TC, service_completing_twice_is_reported_not_fatal);
  TC = orcrt_test_case(S, "notification", 30);
  tcase_add_test(TC, notification_callbacks_run_newest_first);
  tcase_add_test(TC, notification_callbacks_interleave_with_other_services_by_position);
  tcase_add_test(TC, notification_callback_registered_after_notification_runs_at_once);
  tcase_add_test(TC, notification_service_added_after_detach_runs_its_detach_callbacks_at_once);
  tcase_add_test(TC, notification_null_callback_is_an_error);
  tcase_add_test(TC, notification_callbacks_registered_while_detaching_run_exactly_once);
  return S;
}

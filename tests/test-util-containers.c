/*
 * test-util-containers.c - the library's containers and latch (src/util/)
 */
#include "config.h"

#include "test-util.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "util/array.h"
#include "util/u64map.h"
#include "util/waiter.h"

/* ---- u64map ---------------------------------------------------------------- */

struct pair {
  void *P;
  uint64_t V;
};

START_TEST(u64map_insert_find_remove_round_trip) {
  struct orcrt_u64map M;
  orcrt_u64map_init(&M, sizeof(struct pair));
  ck_assert_ptr_null(orcrt_u64map_find(&M, 1));
  bool Added = false;
  struct pair *V = orcrt_u64map_insert(&M, 42, &Added);
  ck_assert_ptr_nonnull(V);
  ck_assert(Added);
  ck_assert_uint_eq(V->V, 0); /* zero-filled */
  *V = (struct pair){&M, 7};
  ck_assert_ptr_eq(orcrt_u64map_insert(&M, 42, &Added), V);
  ck_assert(!Added);
  ck_assert_uint_eq(M.Count, 1);
  struct pair Out;
  ck_assert(orcrt_u64map_remove(&M, 42, &Out));
  ck_assert_ptr_eq(Out.P, &M);
  ck_assert_uint_eq(Out.V, 7);
  ck_assert(!orcrt_u64map_remove(&M, 42, NULL));
  ck_assert_uint_eq(M.Count, 0);
  orcrt_u64map_free(&M);
}
END_TEST

START_TEST(u64map_grows_and_keeps_every_entry) {
  struct orcrt_u64map M;
  orcrt_u64map_init(&M, sizeof(uint64_t));
  enum { N = 5000 };
  for (uint64_t K = 0; K < N; K++) {
    uint64_t *V = orcrt_u64map_insert(&M, K * 3, NULL);
    ck_assert_ptr_nonnull(V);
    *V = K;
  }
  ck_assert_uint_eq(M.Count, N);
  ck_assert_uint_ge(M.Mask + 1, 2 * N); /* at most half full */
  for (uint64_t K = 0; K < N; K++) {
    uint64_t *V = orcrt_u64map_find(&M, K * 3);
    ck_assert_ptr_nonnull(V);
    ck_assert_uint_eq(*V, K);
    ck_assert_ptr_null(orcrt_u64map_find(&M, K * 3 + 1));
  }
  size_t Pos = 0, Seen = 0;
  uint64_t Key;
  void *Val;
  while (orcrt_u64map_next(&M, &Pos, &Key, &Val)) {
    ck_assert_uint_eq(Key, *(uint64_t *)Val * 3);
    Seen++;
  }
  ck_assert_uint_eq(Seen, N);
  orcrt_u64map_free(&M);
  ck_assert_uint_eq(M.Count, 0);
  ck_assert_ptr_null(orcrt_u64map_find(&M, 3));
}
END_TEST

/* Keys whose home slot in a map of 16 is Home (the multiplicative hash of u64map.c). */
static uint64_t key_homed_at(size_t Home, uint64_t After) {
  for (uint64_t K = After + 1;; K++)
    if ((size_t)((K * UINT64_C(0x9E3779B97F4A7C15)) >> 32) % 16 == Home)
      return K;
}

START_TEST(u64map_remove_shifts_a_probe_run_back_over_the_hole) {
  struct orcrt_u64map M;
  orcrt_u64map_init(&M, sizeof(uint64_t));
  /* Three keys of one home slot and one of the next form a single probe run. */
  uint64_t A = key_homed_at(15, 0), B = key_homed_at(15, A), C = key_homed_at(0, 0),
           D = key_homed_at(15, B);
  uint64_t Keys[] = {A, B, C, D};
  for (size_t I = 0; I < 4; I++)
    *(uint64_t *)orcrt_u64map_insert(&M, Keys[I], NULL) = I;
  ck_assert_uint_eq(M.Mask, 15); /* still the first table: the run wraps around */
  /* Removing the head of the run must leave every later member reachable. */
  ck_assert(orcrt_u64map_remove(&M, A, NULL));
  for (size_t I = 1; I < 4; I++) {
    uint64_t *V = orcrt_u64map_find(&M, Keys[I]);
    ck_assert_ptr_nonnull(V);
    ck_assert_uint_eq(*V, I);
  }
  ck_assert(orcrt_u64map_remove(&M, C, NULL));
  ck_assert_ptr_nonnull(orcrt_u64map_find(&M, B));
  ck_assert_ptr_nonnull(orcrt_u64map_find(&M, D));
  /* No tombstones: the run is back to two slots, from the home slot on. */
  size_t Used = 0;
  for (size_t I = 0; I <= M.Mask; I++)
    Used += M.Used[I];
  ck_assert_uint_eq(Used, 2);
  ck_assert(M.Used[15] && M.Used[0]);
  orcrt_u64map_free(&M);
}
END_TEST

START_TEST(u64map_survives_random_churn) {
  struct orcrt_u64map M;
  orcrt_u64map_init(&M, sizeof(uint64_t));
  enum { RANGE = 512 };
  bool In[RANGE] = {false};
  unsigned Seed = 12345;
  for (int Step = 0; Step < 20000; Step++) {
    Seed = Seed * 1103515245u + 12345u;
    uint64_t K = (Seed >> 8) % RANGE;
    if (In[K]) {
      uint64_t V;
      ck_assert(orcrt_u64map_remove(&M, K, &V));
      ck_assert_uint_eq(V, K + 1);
      In[K] = false;
    } else {
      *(uint64_t *)orcrt_u64map_insert(&M, K, NULL) = K + 1;
      In[K] = true;
    }
  }
  size_t Count = 0;
  for (uint64_t K = 0; K < RANGE; K++) {
    Count += In[K];
    ck_assert(!!orcrt_u64map_find(&M, K) == In[K]);
  }
  ck_assert_uint_eq(M.Count, Count);
  struct orcrt_u64map Taken;
  orcrt_u64map_take(&M, &Taken);
  ck_assert_uint_eq(M.Count, 0);
  ck_assert_uint_eq(Taken.Count, Count);
  orcrt_u64map_free(&Taken);
  orcrt_u64map_free(&M);
}
END_TEST

/* ---- array ------------------------------------------------------------------ */

START_TEST(array_push_grows_and_keeps_order) {
  ORCRT_ARRAY(int) A = {0};
  for (int I = 0; I < 100; I++)
    ck_assert(ORCRT_ARRAY_PUSH(&A, &I));
  ck_assert_uint_eq(A.Len, 100);
  ck_assert_uint_ge(A.Cap, 100);
  for (int I = 0; I < 100; I++)
    ck_assert_int_eq(A.Items[I], I);
  int Zero = -1;
  ck_assert(ORCRT_ARRAY_INSERT(&A, 0, &Zero));
  ck_assert_int_eq(A.Items[0], -1);
  ck_assert_int_eq(A.Items[100], 99);
  ORCRT_ARRAY_FREE(&A);
  ck_assert_ptr_null(A.Items);
  ck_assert_uint_eq(A.Len, 0);
}
END_TEST

START_TEST(array_sorted_insert_keeps_keys_sorted_and_unique) {
  ORCRT_ARRAY(uint64_t) A = {0};
  uint64_t In[] = {50, 10, 30, 10, 70, 30, 0, UINT64_MAX};
  size_t Inserted = 0;
  for (size_t I = 0; I < sizeof(In) / sizeof(In[0]); I++) {
    enum orcrt_array_insert_result R = ORCRT_ARRAY_INSERT_SORTED(&A, &In[I]);
    ck_assert(R != ORCRT_ARRAY_NO_MEMORY);
    Inserted += R == ORCRT_ARRAY_INSERTED;
  }
  ck_assert_uint_eq(Inserted, 6);
  uint64_t Want[] = {0, 10, 30, 50, 70, UINT64_MAX};
  ck_assert_uint_eq(A.Len, 6);
  for (size_t I = 0; I < 6; I++)
    ck_assert_uint_eq(A.Items[I], Want[I]);
  ck_assert_uint_eq(ORCRT_ARRAY_LOWER_BOUND(&A, 0), 0);
  ck_assert_uint_eq(ORCRT_ARRAY_LOWER_BOUND(&A, 11), 2);
  ck_assert_uint_eq(ORCRT_ARRAY_LOWER_BOUND(&A, 30), 2);
  ck_assert_uint_eq(ORCRT_ARRAY_LOWER_BOUND(&A, 71), 5);
  size_t At;
  ck_assert(ORCRT_ARRAY_FIND(&A, 50, &At));
  ck_assert_uint_eq(At, 3);
  ck_assert(!ORCRT_ARRAY_FIND(&A, 51, &At));
  ck_assert_uint_eq(At, 4);
  ORCRT_ARRAY_FREE(&A);
}
END_TEST

struct tagged {
  const char *Name;
  uint64_t Tag;
};

START_TEST(array_lower_bound_by_member_finds_structs) {
  ORCRT_ARRAY(struct tagged) A = {0};
  struct tagged T[] = {{"c", 30}, {"a", 10}, {"b", 20}, {"a2", 10}};
  for (size_t I = 0; I < 4; I++)
    ORCRT_ARRAY_INSERT_SORTED_BY(&A, Tag, &T[I]);
  ck_assert_uint_eq(A.Len, 3);
  ck_assert_str_eq(A.Items[0].Name, "a"); /* the first of a key stays */
  ck_assert_uint_eq(ORCRT_ARRAY_LOWER_BOUND_BY(&A, Tag, 15), 1);
  size_t At;
  ck_assert(ORCRT_ARRAY_FIND_BY(&A, Tag, 30, &At));
  ck_assert_str_eq(A.Items[At].Name, "c");
  ck_assert(!ORCRT_ARRAY_FIND_BY(&A, Tag, 31, &At));
  ck_assert_uint_eq(At, 3);
  ORCRT_ARRAY_FREE(&A);
}
END_TEST

/* ---- waiter ------------------------------------------------------------------- */

static void *complete_later(void *Arg) {
  orcrt_waiter_complete(Arg, orc_rt_WrapperFunctionBuffer_fromBytes("ok", 2));
  return NULL;
}

START_TEST(waiter_timed_wait_times_out_then_sees_the_result) {
  struct orcrt_waiter W;
  ck_assert_int_eq(orcrt_waiter_init(&W), 0);
  struct timespec T0, T1;
  clock_gettime(CLOCK_MONOTONIC, &T0);
  ck_assert(!orcrt_waiter_timedwait(&W, NULL, 50));
  clock_gettime(CLOCK_MONOTONIC, &T1);
  long Ms = (T1.tv_sec - T0.tv_sec) * 1000 + (T1.tv_nsec - T0.tv_nsec) / 1000000;
  ck_assert_int_ge(Ms, 49);
  pthread_t Thread;
  ck_assert_int_eq(pthread_create(&Thread, NULL, complete_later, &W), 0);
  ck_assert(orcrt_waiter_timedwait(&W, NULL, 30000));
  pthread_join(Thread, NULL);
  /* Done already: no wait. */
  ck_assert(orcrt_waiter_timedwait(&W, NULL, 0));
  orc_rt_WrapperFunctionBuffer R = orcrt_waiter_wait(&W, NULL);
  ck_assert_uint_eq(R.Size, 2);
  ck_assert_mem_eq(orc_rt_WrapperFunctionBuffer_constData(&R), "ok", 2);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
}
END_TEST

START_TEST(waiter_signal_completes_with_an_empty_result) {
  struct orcrt_waiter W;
  ck_assert_int_eq(orcrt_waiter_init(&W), 0);
  orcrt_waiter_signal(&W);
  orc_rt_WrapperFunctionBuffer R = orcrt_waiter_wait(&W, NULL);
  ck_assert_uint_eq(R.Size, 0);
  ck_assert_ptr_null(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R));
}
END_TEST

static void *signal_shared_later(void *Arg) {
  orcrt_waiter_signal_shared(Arg);
  return NULL;
}

/*
 * Either side of a shared waiter may let go first; the other frees it (a
 * leak or a use after free shows under the sanitizers).
 */
START_TEST(shared_waiter_times_out_and_is_freed_by_a_late_signal) {
  struct orcrt_waiter *W = orcrt_waiter_create_shared();
  ck_assert_ptr_nonnull(W);
  ck_assert(!orcrt_waiter_timedwait_shared(W, 20));
  /* The waiter has let go; the late signal must not wake anyone, and frees W. */
  orcrt_waiter_signal_shared(W);

  W = orcrt_waiter_create_shared();
  ck_assert_ptr_nonnull(W);
  pthread_t Thread;
  ck_assert_int_eq(pthread_create(&Thread, NULL, signal_shared_later, W), 0);
  ck_assert(orcrt_waiter_timedwait_shared(W, 30000));
  pthread_join(Thread, NULL);
}
END_TEST

static void set_flag(void *Arg) {
  *(pthread_t *)Arg = pthread_self();
}

START_TEST(run_on_own_thread_runs_on_another_thread_and_waits) {
  pthread_t Ran = pthread_self();
  orcrt_run_on_own_thread(set_flag, &Ran);
  ck_assert(!pthread_equal(Ran, pthread_self()));
}
END_TEST

Suite *orcrt_suite_util(void) {
  Suite *S = suite_create("util");
  TCase *TC = orcrt_test_case(S, "u64map", 30);
  tcase_add_test(TC, u64map_insert_find_remove_round_trip);
  tcase_add_test(TC, u64map_grows_and_keeps_every_entry);
  tcase_add_test(TC, u64map_remove_shifts_a_probe_run_back_over_the_hole);
  tcase_add_test(TC, u64map_survives_random_churn);
  TC = orcrt_test_case(S, "array", 30);
  tcase_add_test(TC, array_push_grows_and_keeps_order);
  tcase_add_test(TC, array_sorted_insert_keeps_keys_sorted_and_unique);
  tcase_add_test(TC, array_lower_bound_by_member_finds_structs);
  TC = orcrt_test_case(S, "waiter", 30);
  tcase_add_test(TC, waiter_timed_wait_times_out_then_sees_the_result);
  tcase_add_test(TC, waiter_signal_completes_with_an_empty_result);
  tcase_add_test(TC, shared_waiter_times_out_and_is_freed_by_a_late_signal);
  tcase_add_test(TC, run_on_own_thread_runs_on_another_thread_and_waits);
  return S;
}

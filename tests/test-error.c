/*
 * test-error.c - orc_rt_ErrorRef: messages, errno text, joining, consuming
 *
 * Leaks of consumed errors are caught by LeakSanitizer in the ASan build.
 */
#include "config.h"

#include "test-util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(error_create_formats_message) {
  orc_rt_ErrorRef E = orc_rt_Error_create("call %d of %s failed (%#x)", 3, "reserve", 255);
  ck_assert_ptr_nonnull(E);
  ck_assert_str_eq(orc_rt_Error_getMessage(E), "call 3 of reserve failed (0xff)");
  orc_rt_Error_consume(E);
}
END_TEST

START_TEST(error_create_keeps_percent_from_arguments_literal) {
  orc_rt_ErrorRef E = orc_rt_Error_create("%s", "100%d done");
  ck_assert_str_eq(orc_rt_Error_getMessage(E), "100%d done");
  orc_rt_Error_consume(E);
}
END_TEST

START_TEST(error_create_holds_long_message_whole) {
  enum { Len = 10000 };
  char *Long = malloc(Len + 1);
  ck_assert_ptr_nonnull(Long);
  for (size_t I = 0; I < Len; I++)
    Long[I] = (char)('a' + I % 26);
  Long[Len] = '\0';
  orc_rt_ErrorRef E = orc_rt_Error_create("<%s>", Long);
  const char *Msg = orc_rt_Error_getMessage(E);
  ck_assert_uint_eq(strlen(Msg), Len + 2);
  ck_assert_int_eq(Msg[0], '<');
  ck_assert_int_eq(memcmp(Msg + 1, Long, Len), 0);
  ck_assert_int_eq(Msg[Len + 1], '>');
  orc_rt_Error_consume(E);
  free(Long);
}
END_TEST

START_TEST(error_create_with_empty_message_is_still_an_error) {
  orc_rt_ErrorRef E = orc_rt_Error_create("%s", "");
  ck_assert_ptr_nonnull(E);
  ck_assert_str_eq(orc_rt_Error_getMessage(E), "");
  orc_rt_Error_consume(E);
}
END_TEST

START_TEST(error_from_errno_appends_strerror_text) {
  char Expected[512];
  snprintf(Expected, sizeof(Expected), "open %s: %s", "/x/y", strerror(ENOENT));
  orc_rt_ErrorRef E = orc_rt_Error_fromErrno(ENOENT, "open %s", "/x/y");
  ck_assert_str_eq(orc_rt_Error_getMessage(E), Expected);
  orc_rt_Error_consume(E);
}
END_TEST

START_TEST(error_from_errno_unknown_number_still_describes_it) {
  orc_rt_ErrorRef E = orc_rt_Error_fromErrno(987654, "mmap");
  const char *Msg = orc_rt_Error_getMessage(E);
  ck_assert_msg(strncmp(Msg, "mmap: ", 6) == 0, "got \"%s\"", Msg);
  ck_assert_uint_gt(strlen(Msg), 6);
  orc_rt_Error_consume(E);
}
END_TEST

START_TEST(error_from_errno_uses_given_number_not_errno) {
  /* The text depends only on the number passed, not on the current errno. */
  errno = EACCES;
  orc_rt_ErrorRef E = orc_rt_Error_fromErrno(EINVAL, "x");
  char Expected[256];
  snprintf(Expected, sizeof(Expected), "x: %s", strerror(EINVAL));
  ck_assert_str_eq(orc_rt_Error_getMessage(E), Expected);
  orc_rt_Error_consume(E);
}
END_TEST

START_TEST(error_join_two_errors_reads_a_semicolon_b) {
  orc_rt_ErrorRef E = orc_rt_Error_join(orc_rt_Error_create("A"), orc_rt_Error_create("B"));
  ck_assert_str_eq(orc_rt_Error_getMessage(E), "A; B");
  orc_rt_Error_consume(E);
}
END_TEST

START_TEST(error_join_with_one_null_returns_the_other_unchanged) {
  orc_rt_ErrorRef B = orc_rt_Error_create("only B");
  orc_rt_ErrorRef E = orc_rt_Error_join(NULL, B);
  ck_assert_ptr_eq(E, B);
  ck_assert_str_eq(orc_rt_Error_getMessage(E), "only B");
  orc_rt_ErrorRef A = orc_rt_Error_create("only A");
  ck_assert_ptr_eq(orc_rt_Error_join(A, NULL), A);
  ck_assert_str_eq(orc_rt_Error_getMessage(A), "only A");
  orc_rt_Error_consume(A);
  orc_rt_Error_consume(E);
}
END_TEST

START_TEST(error_join_of_two_successes_is_success) {
  ck_assert_ptr_null(orc_rt_Error_join(NULL, NULL));
}
END_TEST

START_TEST(error_join_chains_in_order) {
  orc_rt_ErrorRef E = NULL;
  static const char *const Parts[] = {"one", "two", "three"};
  for (size_t I = 0; I < 3; I++)
    E = orc_rt_Error_join(E, orc_rt_Error_create("%s", Parts[I]));
  ck_assert_str_eq(orc_rt_Error_getMessage(E), "one; two; three");
  orc_rt_Error_consume(E);
}
END_TEST

START_TEST(error_to_string_returns_a_copy_that_outlives_the_error) {
  orc_rt_ErrorRef E = orc_rt_Error_create("lost %d", 7);
  const char *Inside = orc_rt_Error_getMessage(E);
  char *S = orc_rt_Error_toString(E); /* consumes E: Inside is now dangling */
  ck_assert_ptr_nonnull(S);
  ck_assert_ptr_ne(S, Inside);
  ck_assert_str_eq(S, "lost 7");
  S[0] = 'L'; /* ours to modify and free() */
  ck_assert_str_eq(S, "Lost 7");
  free(S);
}
END_TEST

START_TEST(error_to_string_of_success_is_null) {
  ck_assert_ptr_null(orc_rt_Error_toString(NULL));
}
END_TEST

START_TEST(error_consume_and_get_message_accept_success) {
  orc_rt_Error_consume(NULL);
  ck_assert_ptr_null(orc_rt_Error_getMessage(NULL));
}
END_TEST

/* One case per test, named for the behaviour it shows. */
#define ADD_TEST(S, Fn) tcase_add_test(orcrt_test_case((S), #Fn, 10), Fn)

Suite *orcrt_suite_error(void) {
  Suite *S = suite_create("error");
  ADD_TEST(S, error_create_formats_message);
  ADD_TEST(S, error_create_keeps_percent_from_arguments_literal);
  ADD_TEST(S, error_create_holds_long_message_whole);
  ADD_TEST(S, error_create_with_empty_message_is_still_an_error);
  ADD_TEST(S, error_from_errno_appends_strerror_text);
  ADD_TEST(S, error_from_errno_unknown_number_still_describes_it);
  ADD_TEST(S, error_from_errno_uses_given_number_not_errno);
  ADD_TEST(S, error_join_two_errors_reads_a_semicolon_b);
  ADD_TEST(S, error_join_with_one_null_returns_the_other_unchanged);
  ADD_TEST(S, error_join_of_two_successes_is_success);
  ADD_TEST(S, error_join_chains_in_order);
  ADD_TEST(S, error_to_string_returns_a_copy_that_outlives_the_error);
  ADD_TEST(S, error_to_string_of_success_is_null);
  ADD_TEST(S, error_consume_and_get_message_accept_success);
  return S;
}

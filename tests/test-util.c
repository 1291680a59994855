/*
 * test-util.c - shared helpers of the Check suites
 */
#include "config.h"

#include "test-util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int FdsAtSetup;

int orcrt_test_count_fds(void) {
  DIR *D = opendir("/proc/self/fd");
  if (!D)
    return -1;
  int N = 0;
  struct dirent *E;
  while ((E = readdir(D)))
    if (E->d_name[0] != '.')
      N++;
  closedir(D);
  return N - 1; /* the directory stream's own descriptor */
}

orc_rt_ExecutorAddr orcrt_test_bootstrap_addr(orc_rt_SessionRef S, const char *Name) {
  size_t N;
  const orc_rt_BootstrapSymbol *Syms = orc_rt_Session_getBootstrapSymbols(S, &N);
  for (size_t I = 0; I < N; I++)
    if (strcmp(Syms[I].Name, Name) == 0)
      return Syms[I].Addr;
  ck_abort_msg("no bootstrap symbol %s", Name);
  return 0;
}

static void fd_leak_setup(void) {
  FdsAtSetup = orcrt_test_count_fds();
}

static void fd_leak_teardown(void) {
  int Now = orcrt_test_count_fds();
  ck_assert_msg(Now == FdsAtSetup, "descriptor leak: %d open before the test, %d after", FdsAtSetup,
                Now);
}

TCase *orcrt_test_case(Suite *S, const char *Name, double TimeoutSeconds) {
  TCase *TC = tcase_create(Name);
  tcase_add_checked_fixture(TC, fd_leak_setup, fd_leak_teardown);
  tcase_set_timeout(TC, TimeoutSeconds);
  suite_add_tcase(S, TC);
  return TC;
}

void orcrt_test_assert_error(orc_rt_ErrorRef E, const char *Substr, const char *File, int Line) {
  const char *Msg = orc_rt_Error_getMessage(E);
  ck_assert_msg(E != NULL, "%s:%d: expected an error containing \"%s\", got success", File, Line,
                Substr);
  ck_assert_msg(strstr(Msg, Substr) != NULL,
                "%s:%d: expected an error containing \"%s\", got \"%s\"", File, Line, Substr, Msg);
  orc_rt_Error_consume(E);
}

char *orcrt_test_take_sps_error(orc_rt_WrapperFunctionBuffer *R) {
  orc_rt_SPSReader Rd;
  bool IsFailure = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  ck_assert_msg(!orc_rt_WrapperFunctionBuffer_getOutOfBandError(R), "out-of-band error: %s",
                orc_rt_WrapperFunctionBuffer_getOutOfBandError(R));
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(R), R->Size);
  ck_assert(orc_rt_SPSReader_error(&Rd, &IsFailure, &Msg, &MsgSize));
  char *Out = IsFailure ? strndup(Msg, MsgSize) : NULL;
  orc_rt_WrapperFunctionBuffer_dispose(R);
  return Out;
}

void orcrt_test_assert_sps_success(orc_rt_WrapperFunctionBuffer R) {
  char *Msg = orcrt_test_take_sps_error(&R);
  ck_assert_msg(Msg == NULL, "unexpected error: %s", Msg);
}

void orcrt_test_assert_sps_failure(orc_rt_WrapperFunctionBuffer R, const char *Substr) {
  char *Msg = orcrt_test_take_sps_error(&R);
  ck_assert_msg(Msg != NULL, "expected an error containing \"%s\"", Substr);
  ck_assert_msg(strstr(Msg, Substr), "expected an error containing \"%s\", got \"%s\"", Substr,
                Msg);
  free(Msg);
}

void orcrt_test_assert_out_of_band(orc_rt_WrapperFunctionBuffer R, const char *Substr) {
  const char *Msg = orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R);
  ck_assert_msg(Msg != NULL, "expected an out-of-band error");
  ck_assert_msg(strstr(Msg, Substr), "expected \"%s\", got \"%s\"", Substr, Msg);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
}

void orcrt_test_assert_sps_error(orc_rt_WrapperFunctionBuffer R, const char *Substr) {
  if (Substr)
    orcrt_test_assert_sps_failure(R, Substr);
  else
    orcrt_test_assert_sps_success(R);
}

void orcrt_test_assert_ends_in_duration(const char *Line, size_t Len) {
  static const char *const Units[] = {" ns", " µs", " ms", " s"};
  size_t UnitLen = 0;
  for (size_t I = 0; I < sizeof(Units) / sizeof(Units[0]) && !UnitLen; I++) {
    size_t N = strlen(Units[I]);
    if (Len >= N && memcmp(Line + Len - N, Units[I], N) == 0)
      UnitLen = N;
  }
  ck_assert_msg(UnitLen, "no unit of time at the end: %.*s", (int)Len, Line);
  size_t End = Len - UnitLen, Start = End;
  while (Start > 0 && (Line[Start - 1] == '.' || (Line[Start - 1] >= '0' && Line[Start - 1] <= '9')))
    Start--;
  ck_assert_msg(Start < End && Start > 0 && Line[Start - 1] == ' ' && Line[Start] != '.',
                "no number before the unit of time: %.*s", (int)Len, Line);
}

void orcrt_test_assert_expected_failure(orc_rt_WrapperFunctionBuffer R, const char *Substr) {
  orc_rt_SPSReader Rd;
  bool HasValue = true;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(&R), R.Size);
  ck_assert_msg(orc_rt_SPSReader_expected(&Rd, &HasValue, &Msg, &MsgSize), "undecodable result");
  ck_assert_msg(!HasValue, "expected an error containing \"%s\", got a value", Substr);
  char *Text = strndup(Msg, MsgSize);
  bool Found = Text && strstr(Text, Substr) != NULL;
  ck_assert_msg(Found, "error \"%s\" lacks \"%s\"", Text ? Text : "", Substr);
  free(Text);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
}

void orcrt_test_error_log_fn(void *Ctx, orc_rt_ErrorRef Err) {
  orcrt_test_error_log *L = Ctx;
  pthread_mutex_lock(&L->Lock);
  size_t Len = strlen(L->Msgs);
  snprintf(L->Msgs + Len, sizeof(L->Msgs) - Len, "%s;", orc_rt_Error_getMessage(Err));
  pthread_mutex_unlock(&L->Lock);
  orc_rt_Error_consume(Err);
}

void orcrt_test_latch_init(orcrt_test_latch *L) {
  pthread_mutex_init(&L->Lock, NULL);
  pthread_cond_init(&L->Cond, NULL);
  L->Count = 0;
}

void orcrt_test_latch_destroy(orcrt_test_latch *L) {
  pthread_cond_destroy(&L->Cond);
  pthread_mutex_destroy(&L->Lock);
}

void orcrt_test_latch_signal(orcrt_test_latch *L) {
  pthread_mutex_lock(&L->Lock);
  L->Count++;
  pthread_cond_broadcast(&L->Cond);
  pthread_mutex_unlock(&L->Lock);
}

void orcrt_test_latch_wait(orcrt_test_latch *L, unsigned N) {
  pthread_mutex_lock(&L->Lock);
  while (L->Count < N)
    pthread_cond_wait(&L->Cond, &L->Lock);
  pthread_mutex_unlock(&L->Lock);
}

unsigned orcrt_test_latch_count(orcrt_test_latch *L) {
  pthread_mutex_lock(&L->Lock);
  unsigned N = L->Count;
  pthread_mutex_unlock(&L->Lock);
  return N;
}

void orcrt_test_latch_signal_fn(void *Ctx) {
  orcrt_test_latch_signal(Ctx);
}

int orcrt_test_run(Suite *(*const *Suites)(void), size_t NumSuites) {
  SRunner *SR = srunner_create(Suites[0]());
  for (size_t I = 1; I < NumSuites; I++)
    srunner_add_suite(SR, Suites[I]());
  srunner_run_all(SR, CK_NORMAL);
  int Failed = srunner_ntests_failed(SR);
  srunner_free(SR);
  return Failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void orcrt_test_assert_setup_note(const char *Err) {
  static const char Start[] = "orcrt-executor: the controller closed the channel without a call";
  ck_assert_msg(strncmp(Err, Start, sizeof(Start) - 1) == 0, "stderr: %s", Err);
  ck_assert_msg(strstr(Err, "--llvm=N") != NULL, "the note names no --llvm: %s", Err);
  const char *Newline = strchr(Err, '\n');
  ck_assert_msg(Newline && Newline[1] == '\0', "not one line on stderr: %s", Err);
}

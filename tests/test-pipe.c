/*
 * test-pipe.c - the pipe/eventfd ControllerAccess against the test controller
 *
 * Each test runs a Session (thread pool) in this process, attached to pipes
 * the test created, and plays the controller through tests/controller.h.
 */
#include "config.h"

#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <orcrt/memory.h>
#include <orcrt/pipe-access.h>
#include <orcrt/sps.h>

#include "controller.h"
#include "pipe-access-internal.h"

/* ---- wrapper functions the tests call ------------------------------------ */

#define TAG(Fn) ((orc_rt_ExecutorAddr)(uintptr_t)(Fn))

/* Answers with its arguments. */
static void echo_wrapper(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                         orc_rt_WrapperFunctionBuffer Args) {
  Return(S, CallId, Args);
}

/* Fails out of band. */
static void oob_wrapper(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                        orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromOutOfBandError("injected failure"));
}

/* Answers with as many bytes as its uint64 argument says (byte I = I % 251). */
static atomic_uint BigCalls;
static void big_wrapper(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                        orc_rt_WrapperFunctionBuffer Args) {
  uint64_t N = 0;
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_u64(&R, &N);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_allocate(N);
  char *D = orc_rt_WrapperFunctionBuffer_data(&B);
  for (uint64_t I = 0; I < N; I++)
    D[I] = (char)(I % 251);
  atomic_fetch_add(&BigCalls, 1);
  Return(S, CallId, B);
}

/*
 * Out-of-order answers: the call with argument 'A' keeps its Return until
 * the call with 'B' has answered, then answers itself.
 */
static struct {
  pthread_mutex_t Lock;
  bool HaveA, BDone;
  orc_rt_SessionRef S;
  uint64_t ACallId;
  orc_rt_WrapperFunctionReturn AReturn;
} Gate = {.Lock = PTHREAD_MUTEX_INITIALIZER};

static void gate_wrapper(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                         orc_rt_WrapperFunctionBuffer Args) {
  char Role = Args.Size ? orc_rt_WrapperFunctionBuffer_constData(&Args)[0] : '?';
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  pthread_mutex_lock(&Gate.Lock);
  if (Role == 'A' && !Gate.BDone) {
    Gate.HaveA = true;
    Gate.S = S;
    Gate.ACallId = CallId;
    Gate.AReturn = Return;
    pthread_mutex_unlock(&Gate.Lock);
    return;
  }
  if (Role == 'A') {
    pthread_mutex_unlock(&Gate.Lock);
    Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromBytes("a", 1));
    return;
  }
  Gate.BDone = true;
  bool HaveA = Gate.HaveA;
  pthread_mutex_unlock(&Gate.Lock);
  Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromBytes("b", 1));
  if (HaveA)
    Gate.AReturn(Gate.S, Gate.ACallId, orc_rt_WrapperFunctionBuffer_fromBytes("a", 1));
}

/*
 * Calls the controller: arguments (uint64 tag, bytes payload); answers with
 * what the controller answered.
 */
static void relay_wrapper(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                          orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_SPSReader R;
  uint64_t Tag = 0;
  const char *Data = NULL;
  size_t N = 0;
  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_u64(&R, &Tag);
  orc_rt_SPSReader_bytes(&R, &Data, &N);
  orc_rt_WrapperFunctionBuffer Res = orc_rt_Session_callControllerSync(S, Tag, Data, N);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Res);
}

/* ---- the fixture --------------------------------------------------------- */

struct fixture {
  orc_rt_SessionRef S;
  orcrt_tc *TC;
  void *Ctx; /* the pipe ControllerAccess, when attached through the internal API */
  bool (*ChargeFault)(void); /* if set, the transport's charge fault injection */
  pthread_mutex_t LogLock;
  pthread_cond_t LogCond; /* a line was logged */
  char Log[1 << 16];
  size_t LogLen;
};

static void capture_log(void *Ctx, orc_rt_LogLevel Level, const char *Msg) {
  struct fixture *F = Ctx;
  (void)Level;
  pthread_mutex_lock(&F->LogLock);
  size_t N = strlen(Msg);
  if (F->LogLen + N + 2 < sizeof(F->Log)) {
    memcpy(F->Log + F->LogLen, Msg, N);
    F->LogLen += N;
    F->Log[F->LogLen++] = '\n';
    F->Log[F->LogLen] = '\0';
  }
  pthread_cond_broadcast(&F->LogCond);
  pthread_mutex_unlock(&F->LogLock);
}

static bool log_contains(struct fixture *F, const char *Text) {
  pthread_mutex_lock(&F->LogLock);
  bool Found = strstr(F->Log, Text) != NULL;
  pthread_mutex_unlock(&F->LogLock);
  return Found;
}

/* A Session with the test wrappers, its log captured, not attached. */
static void fixture_session(struct fixture *F) {
  memset(F, 0, sizeof(*F));
  pthread_mutex_init(&F->LogLock, NULL);
  pthread_cond_init(&F->LogCond, NULL);
  signal(SIGPIPE, SIG_IGN); /* for the test controller's own writes to a gone executor */
  atomic_store(&BigCalls, 0);
  Gate.HaveA = Gate.BDone = false;
  orc_rt_TaskDispatcherRef D;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(4, &D));
  ck_assert_no_error(orc_rt_Session_create(D, &F->S));
  orc_rt_Session_setLogFn(F->S, capture_log, F);
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(F->S, "orcrt_test_echo", echo_wrapper));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(F->S, "orcrt_test_oob", oob_wrapper));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(F->S, "orcrt_test_big", big_wrapper));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(F->S, "orcrt_test_gate", gate_wrapper));
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(F->S, "orcrt_test_relay", relay_wrapper));
  ck_assert_no_error(orc_rt_Session_addBootstrapSymbol(F->S, "orcrt_test_plain", 0x1234));
}

/*
 * Attach the pipe transport to F's Session on two new pipes and a test
 * controller on their other ends; read the Setup if ReadSetup.
 */
static void fixture_attach(struct fixture *F, const orc_rt_PipeOptions *Opts, bool ReadSetup) {
  int ToExec[2], FromExec[2];
  ck_assert_int_eq(pipe2(ToExec, O_CLOEXEC), 0);
  ck_assert_int_eq(pipe2(FromExec, O_CLOEXEC), 0);
  ck_assert_no_error(orcrt_pipe_create(ToExec[0], FromExec[1], Opts, &F->Ctx));
  if (F->ChargeFault)
    orcrt_pipe_set_charge_fault(F->Ctx, F->ChargeFault);
  ck_assert_no_error(orc_rt_Session_attach(F->S, &orcrt_pipe_ops, F->Ctx));
  ck_assert_int_eq(orcrt_tc_attach_fds(FromExec[0], ToExec[1], &F->TC), 0);
  orcrt_tc_set_timeout(F->TC, 10000);
  if (ReadSetup)
    ck_assert_msg(orcrt_tc_read_setup(F->TC) == 0, "%s", orcrt_tc_error(F->TC));
}

static void fixture_start(struct fixture *F, const orc_rt_PipeOptions *Opts) {
  fixture_session(F);
  fixture_attach(F, Opts, true);
}

static void fixture_finish(struct fixture *F) {
  orc_rt_Session_destroy(F->S);
  orcrt_tc_destroy(F->TC);
  pthread_mutex_destroy(&F->LogLock);
  pthread_cond_destroy(&F->LogCond);
}

/* Destroy F's Session, which closes the transport's out-fd. */
static void fixture_destroy_session(struct fixture *F) {
  orc_rt_Session_destroy(F->S);
  F->S = NULL;
}

/* Whether the executor's out-fd is closed: the controller's end hangs up. */
static bool out_fd_closed(struct fixture *F) {
  struct pollfd Pfd = {.fd = orcrt_tc_read_fd(F->TC), .events = POLLIN};
  return poll(&Pfd, 1, 0) == 1 && (Pfd.revents & POLLHUP);
}

/* Wait until the channel ended; return the Session's disconnect error (or NULL). */
static const char *wait_end(struct fixture *F) {
  orc_rt_Session_waitForDetach(F->S);
  return orc_rt_Session_getDisconnectError(F->S);
}

static void assert_ended_with(struct fixture *F, const char *Substr) {
  const char *Msg = wait_end(F);
  ck_assert_msg(Msg != NULL, "expected the session to end with \"%s\", it ended in order", Substr);
  ck_assert_msg(strstr(Msg, Substr) != NULL, "expected \"%s\" in \"%s\"", Substr, Msg);
}

/* Call Tag through the controller and require success. */
static orc_rt_WrapperFunctionBuffer tc_call_ok(struct fixture *F, orc_rt_ExecutorAddr Tag,
                                               const void *Args, size_t N) {
  orc_rt_WrapperFunctionBuffer R;
  ck_assert_msg(orcrt_tc_call(F->TC, Tag, Args, N, &R) == 0, "call failed: %s",
                orcrt_tc_error(F->TC));
  return R;
}

static void assert_buffer_eq(orc_rt_WrapperFunctionBuffer *B, const void *Data, size_t N) {
  ck_assert_uint_eq(B->Size, N);
  if (N)
    ck_assert_msg(memcmp(orc_rt_WrapperFunctionBuffer_data(B), Data, N) == 0, "bytes differ");
}

static orc_rt_WrapperFunctionBuffer sps_u64(uint64_t V) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u64(&W, V);
  return orc_rt_SPSWriter_finish(&W);
}

static uint64_t le64(const char *P) {
  uint64_t V = 0;
  for (int I = 0; I < 8; I++)
    V |= (uint64_t)(unsigned char)P[I] << (8 * I);
  return V;
}

/* ---- Setup --------------------------------------------------------------- */

START_TEST(pipe_setup_is_first_frame_with_llvm_header) {
  struct fixture F;
  fixture_session(&F);
  fixture_attach(&F, NULL, false);
  orcrt_tc_frame Fr;
  ck_assert_msg(orcrt_tc_read_frame(F.TC, &Fr) == 0, "%s", orcrt_tc_error(F.TC));
  ck_assert_uint_eq(Fr.OpC, 0);
  ck_assert_uint_eq(Fr.SeqNo, 0);
  ck_assert_uint_eq(Fr.TagAddr, 0);
  ck_assert_uint_eq(Fr.MsgSize, 32 + Fr.PayloadSize);
  ck_assert_uint_gt(Fr.PayloadSize, 0);
  orcrt_tc_frame_dispose(&Fr);
  fixture_finish(&F);
}
END_TEST

/*
 * Start F's Session for protocol P and read the raw Setup frame into *Fr;
 * returns the length of the default triple it starts with.
 */
static size_t fixture_raw_setup(struct fixture *F, orc_rt_Protocol P, orcrt_tc_frame *Fr) {
  fixture_session(F);
  ck_assert_no_error(orc_rt_Session_setProtocol(F->S, P));
  fixture_attach(F, NULL, false);
  ck_assert_msg(orcrt_tc_read_frame(F->TC, Fr) == 0, "%s", orcrt_tc_error(F->TC));
  orc_rt_PipeOptions O;
  orc_rt_PipeOptions_init(&O);
  return strlen(O.TargetTriple);
}

/* LLVM 19's and 22's layout: triple, page size, bootstrap map, symbols. */
START_TEST(pipe_setup_payload_has_llvm_layout) {
  struct fixture F;
  orcrt_tc_frame Fr;
  size_t TL = fixture_raw_setup(&F, orc_rt_Protocol_LLVM19, &Fr);
  orc_rt_PipeOptions O;
  orc_rt_PipeOptions_init(&O);
  const char *P = Fr.Payload;
  size_t Need = 8 + TL + 8 + 8 + 8;
  ck_assert_uint_ge(Fr.PayloadSize, Need);
  ck_assert_uint_eq(le64(P), TL);
  ck_assert(memcmp(P + 8, O.TargetTriple, TL) == 0);
  P += 8 + TL;
  ck_assert_uint_eq(le64(P), (uint64_t)sysconf(_SC_PAGESIZE));
  ck_assert_uint_eq(le64(P + 8), 0);  /* empty bootstrap map */
  ck_assert_uint_eq(le64(P + 16), 6); /* five wrappers and one plain symbol */
  P += 24;
  /* The first symbol: length, name without NUL, little-endian address. */
  ck_assert_uint_eq(le64(P), strlen("orcrt_test_echo"));
  ck_assert(memcmp(P + 8, "orcrt_test_echo", 15) == 0);
  ck_assert_uint_eq(le64(P + 23), TAG(echo_wrapper));
  orcrt_tc_frame_dispose(&Fr);
  fixture_finish(&F);
}
END_TEST

/* LLVM 14-16's layout: triple, page size, symbols; no bootstrap map. */
START_TEST(pipe_setup_payload_has_llvm14_layout) {
  struct fixture F;
  orcrt_tc_frame Fr;
  size_t TL = fixture_raw_setup(&F, orc_rt_Protocol_LLVM16, &Fr);
  const char *P = Fr.Payload + 8 + TL + 8;
  ck_assert_uint_ge(Fr.PayloadSize, 8 + TL + 8 + 8 + 8 + 15 + 8);
  ck_assert_uint_eq(le64(P), 6); /* the symbols' count where 19 has the map's */
  ck_assert_uint_eq(le64(P + 8), strlen("orcrt_test_echo"));
  ck_assert(memcmp(P + 16, "orcrt_test_echo", 15) == 0);
  ck_assert_uint_eq(le64(P + 31), TAG(echo_wrapper));
  orcrt_tc_frame_dispose(&Fr);
  fixture_finish(&F);
}
END_TEST

/* The default Setup, read as LLVM 19 and 22 read it and as 14-16 do. */
START_TEST(pipe_setup_lists_every_bootstrap_symbol) {
  for (unsigned Fields = 3; Fields <= 4; Fields++) {
    struct fixture F;
    fixture_session(&F);
    fixture_attach(&F, NULL, false);
    orcrt_tc_set_setup_fields(F.TC, Fields);
    ck_assert_msg(orcrt_tc_read_setup(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
    if (Fields == 4) {
      /* The 3-field view hides in the value of the map's first key, then padding. */
      ck_assert_uint_eq(orcrt_tc_bootstrap_map_count(F.TC), 7);
      ck_assert_str_eq(orcrt_tc_bootstrap_map_first_key(F.TC), "__orcrt_setup_pad");
    }
    /* 3 fields: the pad comes first, its "address" the length of the rest. */
    size_t First = Fields == 3;
    if (Fields == 3)
      ck_assert_str_eq(orcrt_tc_symbol_name(F.TC, 0), "__orcrt_setup_pad");
    ck_assert_uint_eq(orcrt_tc_symbol_count(F.TC), 6 + First);
    static const struct {
      const char *Name;
      orc_rt_ExecutorAddr Addr;
    } Want[] = {
        {"orcrt_test_echo", TAG(echo_wrapper)},   {"orcrt_test_oob", TAG(oob_wrapper)},
        {"orcrt_test_big", TAG(big_wrapper)},     {"orcrt_test_gate", TAG(gate_wrapper)},
        {"orcrt_test_relay", TAG(relay_wrapper)}, {"orcrt_test_plain", 0x1234},
    };
    for (size_t I = 0; I < sizeof(Want) / sizeof(Want[0]); I++) {
      ck_assert_str_eq(orcrt_tc_symbol_name(F.TC, First + I), Want[I].Name);
      orc_rt_ExecutorAddr A = 0;
      ck_assert(orcrt_tc_lookup(F.TC, Want[I].Name, &A));
      ck_assert_uint_eq(A, Want[I].Addr);
    }
    fixture_finish(&F);
  }
}
END_TEST

START_TEST(pipe_setup_uses_triple_and_page_size_options) {
  orc_rt_PipeOptions O;
  orc_rt_PipeOptions_init(&O);
  O.TargetTriple = "riscv64-unknown-linux-gnu";
  O.PageSize = 16384;
  struct fixture F;
  fixture_start(&F, &O);
  ck_assert_str_eq(orcrt_tc_triple(F.TC), "riscv64-unknown-linux-gnu");
  ck_assert_uint_eq(orcrt_tc_page_size(F.TC), 16384);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_options_default_to_documented_values) {
  orc_rt_PipeOptions O;
  memset(&O, 0xff, sizeof(O));
  orc_rt_PipeOptions_init(&O);
  ck_assert_uint_eq(O.MaxFrameSize, (size_t)1 << 30);
  ck_assert_uint_eq(O.MaxPendingOutput, (size_t)64 << 20);
  ck_assert_uint_eq(O.PageSize, (uint64_t)sysconf(_SC_PAGESIZE));
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && !defined(__ILP32__)
  ck_assert_str_eq(O.TargetTriple, "x86_64-pc-linux-gnu");
#else
  ck_assert_ptr_nonnull(O.TargetTriple);
#endif
}
END_TEST

/* ---- calls ---------------------------------------------------------------- */

START_TEST(pipe_call_result_has_matching_seq_and_zero_tag) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 3, 41, TAG(echo_wrapper), "hello", 5), 0);
  orcrt_tc_frame Fr;
  ck_assert_msg(orcrt_tc_read_frame(F.TC, &Fr) == 0, "%s", orcrt_tc_error(F.TC));
  ck_assert_uint_eq(Fr.OpC, 2);
  ck_assert_uint_eq(Fr.SeqNo, 41);
  ck_assert_uint_eq(Fr.TagAddr, 0);
  ck_assert_uint_eq(Fr.MsgSize, 37);
  ck_assert(memcmp(Fr.Payload, "hello", 5) == 0);
  orcrt_tc_frame_dispose(&Fr);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_concurrent_calls_are_answered_out_of_order) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 3, 0, TAG(gate_wrapper), "A", 1), 0);
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 3, 1, TAG(gate_wrapper), "B", 1), 0);
  orcrt_tc_frame R1, R2;
  ck_assert_msg(orcrt_tc_read_frame(F.TC, &R1) == 0, "%s", orcrt_tc_error(F.TC));
  ck_assert_msg(orcrt_tc_read_frame(F.TC, &R2) == 0, "%s", orcrt_tc_error(F.TC));
  /* Whichever order the pool ran them in, each answer carries its call's number. */
  ck_assert_uint_eq(R1.OpC, 2);
  ck_assert_uint_eq(R2.OpC, 2);
  ck_assert_uint_eq(R1.SeqNo, 1);
  ck_assert_int_eq(R1.Payload[0], 'b');
  ck_assert_uint_eq(R2.SeqNo, 0);
  ck_assert_int_eq(R2.Payload[0], 'a');
  orcrt_tc_frame_dispose(&R1);
  orcrt_tc_frame_dispose(&R2);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_out_of_band_error_is_sent_as_empty_result) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 3, 7, TAG(oob_wrapper), "xyz", 3), 0);
  orcrt_tc_frame Fr;
  ck_assert_msg(orcrt_tc_read_frame(F.TC, &Fr) == 0, "%s", orcrt_tc_error(F.TC));
  ck_assert_uint_eq(Fr.OpC, 2);
  ck_assert_uint_eq(Fr.SeqNo, 7);
  ck_assert_uint_eq(Fr.TagAddr, 0);
  ck_assert_uint_eq(Fr.MsgSize, 32);
  ck_assert_uint_eq(Fr.PayloadSize, 0);
  orcrt_tc_frame_dispose(&Fr);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_frames_written_byte_by_byte_are_reassembled) {
  struct fixture F;
  fixture_start(&F, NULL);
  orcrt_tc_set_write_chunk(F.TC, 1);
  char Args[100];
  for (size_t I = 0; I < sizeof(Args); I++)
    Args[I] = (char)(I * 7);
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(&F, TAG(echo_wrapper), Args, sizeof(Args));
  assert_buffer_eq(&R, Args, sizeof(Args));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  R = tc_call_ok(&F, TAG(echo_wrapper), "abc", 3);
  assert_buffer_eq(&R, "abc", 3);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_payloads_of_every_size_class_round_trip) {
  struct fixture F;
  fixture_start(&F, NULL);
  static const size_t Sizes[] = {0,     1,     7,     8,     9,      16,     4095,   65535,
                                 65536, 65537, 65568, 98304, 131072, 200003, 1 << 20};
  char *Data = malloc(1 << 20);
  for (size_t I = 0; I < (1 << 20); I++)
    Data[I] = (char)(I * 31 + 5);
  for (size_t I = 0; I < sizeof(Sizes) / sizeof(Sizes[0]); I++) {
    orc_rt_WrapperFunctionBuffer R = tc_call_ok(&F, TAG(echo_wrapper), Data, Sizes[I]);
    assert_buffer_eq(&R, Data, Sizes[I]);
    orc_rt_WrapperFunctionBuffer_dispose(&R);
  }
  free(Data);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_five_mebibyte_payload_round_trips) {
  struct fixture F;
  fixture_start(&F, NULL);
  size_t N = 5 << 20;
  char *Data = malloc(N);
  for (size_t I = 0; I < N; I++)
    Data[I] = (char)(I ^ (I >> 9));
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(&F, TAG(echo_wrapper), Data, N);
  assert_buffer_eq(&R, Data, N);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  free(Data);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_pipelined_calls_are_all_answered) {
  struct fixture F;
  fixture_start(&F, NULL);
  enum { N = 2000 };
  uint64_t Seq[N];
  for (uint64_t I = 0; I < N; I++) {
    ck_assert_int_eq(orcrt_tc_send_call(F.TC, TAG(echo_wrapper), &I, sizeof(I), &Seq[I]), 0);
    ck_assert_uint_eq(Seq[I], I);
  }
  for (uint64_t I = 0; I < N; I++) {
    orc_rt_WrapperFunctionBuffer R;
    ck_assert_msg(orcrt_tc_wait_result(F.TC, Seq[I], &R) == 0, "%s", orcrt_tc_error(F.TC));
    assert_buffer_eq(&R, &I, sizeof(I));
    orc_rt_WrapperFunctionBuffer_dispose(&R);
  }
  fixture_finish(&F);
}
END_TEST

/* ---- executor -> controller calls ---------------------------------------- */

struct sync_call {
  orc_rt_SessionRef S;
  orc_rt_ExecutorAddr Tag;
  const char *Args;
  orc_rt_WrapperFunctionBuffer Result;
};

static void *sync_call_thread(void *Arg) {
  struct sync_call *C = Arg;
  C->Result = orc_rt_Session_callControllerSync(C->S, C->Tag, C->Args, strlen(C->Args));
  return NULL;
}

START_TEST(pipe_executor_call_carries_tag_and_first_seq_zero) {
  struct fixture F;
  fixture_start(&F, NULL);
  struct sync_call C = {.S = F.S, .Tag = 0xfeed0001, .Args = "abc"};
  pthread_t T;
  pthread_create(&T, NULL, sync_call_thread, &C);
  orcrt_tc_frame Fr;
  ck_assert_msg(orcrt_tc_read_frame(F.TC, &Fr) == 0, "%s", orcrt_tc_error(F.TC));
  ck_assert_uint_eq(Fr.OpC, 3);
  ck_assert_uint_eq(Fr.SeqNo, 0);
  ck_assert_uint_eq(Fr.TagAddr, 0xfeed0001);
  ck_assert_uint_eq(Fr.PayloadSize, 3);
  ck_assert(memcmp(Fr.Payload, "abc", 3) == 0);
  ck_assert_int_eq(orcrt_tc_send_result(F.TC, 0, "result!!!", 9), 0);
  pthread_join(T, NULL);
  assert_buffer_eq(&C.Result, "result!!!", 9);
  orc_rt_WrapperFunctionBuffer_dispose(&C.Result);
  orcrt_tc_frame_dispose(&Fr);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_executor_call_results_are_matched_by_seq) {
  struct fixture F;
  fixture_start(&F, NULL);
  struct sync_call C[2] = {{.S = F.S, .Tag = 0x10, .Args = "first"},
                           {.S = F.S, .Tag = 0x10, .Args = "second"}};
  pthread_t T[2];
  for (int I = 0; I < 2; I++)
    pthread_create(&T[I], NULL, sync_call_thread, &C[I]);
  orcrt_tc_frame Fr[2];
  for (int I = 0; I < 2; I++)
    ck_assert_msg(orcrt_tc_read_frame(F.TC, &Fr[I]) == 0, "%s", orcrt_tc_error(F.TC));
  /* Executor numbers start at 0 and count up, whichever thread got which. */
  ck_assert_uint_eq(Fr[0].SeqNo + Fr[1].SeqNo, 1);
  ck_assert_uint_ne(Fr[0].SeqNo, Fr[1].SeqNo);
  /* Answer in reverse order of arrival, echoing each call's arguments back. */
  for (int I = 1; I >= 0; I--)
    ck_assert_int_eq(orcrt_tc_send_result(F.TC, Fr[I].SeqNo, Fr[I].Payload, Fr[I].PayloadSize), 0);
  for (int I = 0; I < 2; I++) {
    pthread_join(T[I], NULL);
    assert_buffer_eq(&C[I].Result, C[I].Args, strlen(C[I].Args));
    orc_rt_WrapperFunctionBuffer_dispose(&C[I].Result);
    orcrt_tc_frame_dispose(&Fr[I]);
  }
  fixture_finish(&F);
}
END_TEST

/* Controller handler: calls the executor's echo with its own arguments reversed. */
static void nested_handler(void *Ctx, orcrt_tc *TC, uint64_t SeqNo, const char *Args, size_t N,
                           orc_rt_WrapperFunctionBuffer *Result) {
  (void)Ctx;
  (void)SeqNo;
  char Rev[64];
  for (size_t I = 0; I < N && I < sizeof(Rev); I++)
    Rev[I] = Args[N - 1 - I];
  if (orcrt_tc_call(TC, TAG(echo_wrapper), Rev, N, Result) != 0)
    *Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(orcrt_tc_error(TC));
}

START_TEST(pipe_nested_calls_in_both_directions_complete) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_add_handler(F.TC, 0x77, nested_handler, NULL), 0);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u64(&W, 0x77);
  orc_rt_SPSWriter_bytes(&W, "nested", 6);
  orc_rt_WrapperFunctionBuffer Args = orc_rt_SPSWriter_finish(&W);
  orc_rt_WrapperFunctionBuffer R =
      tc_call_ok(&F, TAG(relay_wrapper), orc_rt_WrapperFunctionBuffer_data(&Args), Args.Size);
  assert_buffer_eq(&R, "detsen", 6);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_controller_gone_fails_pending_executor_call) {
  struct fixture F;
  fixture_start(&F, NULL);
  struct sync_call C = {.S = F.S, .Tag = 0x20, .Args = "never answered"};
  pthread_t T;
  pthread_create(&T, NULL, sync_call_thread, &C);
  orcrt_tc_frame Fr;
  ck_assert_msg(orcrt_tc_read_frame(F.TC, &Fr) == 0, "%s", orcrt_tc_error(F.TC));
  orcrt_tc_frame_dispose(&Fr);
  orcrt_tc_close(F.TC);
  pthread_join(T, NULL);
  ck_assert_ptr_nonnull(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&C.Result));
  orc_rt_WrapperFunctionBuffer_dispose(&C.Result);
  ck_assert_ptr_null(wait_end(&F));
  fixture_finish(&F);
}
END_TEST

/* ---- how the session ends -------------------------------------------------- */

START_TEST(pipe_eof_at_frame_boundary_ends_in_order) {
  struct fixture F;
  fixture_start(&F, NULL);
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(&F, TAG(echo_wrapper), "x", 1);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  orcrt_tc_close_write(F.TC);
  ck_assert_ptr_null(wait_end(&F));
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_hangup_frame_ends_in_order) {
  struct fixture F;
  fixture_start(&F, NULL);
  /* Even a Hangup carrying an error ends in order, as LLVM's executors do. */
  static const char Err[] = "\x01\x04\0\0\0\0\0\0\0oops";
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 1, 0, 0, Err, sizeof(Err) - 1), 0);
  ck_assert_ptr_null(wait_end(&F));
  fixture_destroy_session(&F);
  ck_assert_msg(orcrt_tc_wait_eof(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_setup_from_controller_is_protocol_error) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 0, 0, 0, NULL, 0), 0);
  assert_ended_with(&F, "unexpected Setup");
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_unknown_opcode_is_protocol_error) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 7, 0, 0, "abc", 3), 0);
  assert_ended_with(&F, "unexpected opcode 7");
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_frame_below_header_size_is_protocol_error) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_header(F.TC, 17, 3, 0, TAG(echo_wrapper)), 0);
  assert_ended_with(&F, "frame too small: frame size 17 below header size 32");
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_frame_above_maximum_is_protocol_error) {
  orc_rt_PipeOptions O;
  orc_rt_PipeOptions_init(&O);
  O.MaxFrameSize = 4096;
  struct fixture F;
  fixture_start(&F, &O);
  /* The largest allowed frame still goes through. */
  char Args[4096 - 32] = {0};
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(&F, TAG(echo_wrapper), Args, sizeof(Args));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  ck_assert_int_eq(orcrt_tc_send_header(F.TC, 4097, 3, 1, TAG(echo_wrapper)), 0);
  assert_ended_with(&F, "frame too large: frame size 4097 above the maximum of 4096");
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_eof_inside_header_is_protocol_error) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_write_raw(F.TC, "\x30\0\0\0\0\0\0\0\x03\0", 10), 0);
  orcrt_tc_close_write(F.TC);
  assert_ended_with(&F, "unexpected end of file inside a frame");
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_eof_inside_payload_is_protocol_error) {
  struct fixture F;
  fixture_start(&F, NULL);
  char Half[50] = {0};
  ck_assert_int_eq(orcrt_tc_send_header(F.TC, 32 + 100, 3, 0, TAG(echo_wrapper)), 0);
  ck_assert_int_eq(orcrt_tc_write_raw(F.TC, Half, sizeof(Half)), 0);
  orcrt_tc_close_write(F.TC);
  assert_ended_with(&F, "unexpected end of file inside a frame");
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_huge_announced_frame_is_not_allocated_up_front) {
  /*
   * No limit on the frame size, a terabyte announced, 200 KiB sent: an
   * allocation by the announced size would fail (or trip the sanitizer's
   * allocator) instead of reporting the truncated frame.
   */
  orc_rt_PipeOptions O;
  orc_rt_PipeOptions_init(&O);
  O.MaxFrameSize = SIZE_MAX;
  struct fixture F;
  fixture_start(&F, &O);
  ck_assert_int_eq(orcrt_tc_send_header(F.TC, ((uint64_t)1 << 40) + 32, 3, 0, TAG(echo_wrapper)),
                   0);
  size_t N = 200 * 1024;
  char *Junk = calloc(1, N);
  ck_assert_int_eq(orcrt_tc_write_raw(F.TC, Junk, N), 0);
  free(Junk);
  orcrt_tc_close_write(F.TC);
  assert_ended_with(&F, "unexpected end of file inside a frame");
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_result_with_nonzero_tag_is_protocol_error) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 2, 0, 0x99, "r", 1), 0);
  assert_ended_with(&F, "unexpected tag address 0x99");
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_result_for_no_pending_call_is_protocol_error) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 2, 5, 0, "r", 1), 0);
  assert_ended_with(&F, "unexpected Result for sequence number 5");
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_out_fd_is_closed_after_protocol_error) {
  struct fixture F;
  fixture_start(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 9, 0, 0, NULL, 0), 0);
  assert_ended_with(&F, "unexpected opcode 9");
  fixture_destroy_session(&F);
  ck_assert_msg(orcrt_tc_wait_eof(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_controller_closing_its_input_ends_in_order) {
  struct fixture F;
  fixture_start(&F, NULL);
  orcrt_tc_close_read(F.TC);
  /* The answer cannot be written (EPIPE): the controller has gone. */
  ck_assert_int_eq(orcrt_tc_send_frame(F.TC, 3, 0, TAG(echo_wrapper), "lost", 4), 0);
  ck_assert_ptr_null(wait_end(&F));
  fixture_finish(&F);
}
END_TEST

/* ---- backpressure --------------------------------------------------------- */

enum { BigResult = 16 * 1024, MaxBacklog = 256 * 1024, MaxFrames = 10000 };

/*
 * Send calls of big_wrapper with non-blocking writes and never read, until
 * writes stay blocked: after each EAGAIN the pipe gets QuietMs to drain, and
 * only if the executor takes nothing in that time has it stopped reading (a
 * slow executor merely delays the flood; one that never stops sends more
 * than the pipe holds and MaxFrames more). Returns how many calls were sent.
 */
enum { QuietMs = 200 };
static unsigned flood_until_blocked(struct fixture *F) {
  char Frame[40];
  orc_rt_WrapperFunctionBuffer Arg = sps_u64(BigResult);
  int Fd = orcrt_tc_write_fd(F->TC);
  ck_assert_int_ne(fcntl(Fd, F_GETFL) & O_NONBLOCK, 0);
  /* What the pipe holds unread (1 MiB: the transport grows it), and what the executor may take. */
  unsigned Bound = (unsigned)fcntl(Fd, F_GETPIPE_SZ) / sizeof(Frame) + MaxFrames;
  unsigned Sent = 0;
  for (;;) {
    uint64_t H[4] = {40, 3, Sent, TAG(big_wrapper)};
    memcpy(Frame, H, 32); /* little-endian host */
    memcpy(Frame + 32, orc_rt_WrapperFunctionBuffer_data(&Arg), 8);
    ssize_t R = write(Fd, Frame, sizeof(Frame));
    if (R < 0 && errno == EAGAIN) {
      struct pollfd Pfd = {.fd = Fd, .events = POLLOUT};
      if (poll(&Pfd, 1, QuietMs) == 0)
        break;
      continue;
    }
    ck_assert_int_eq(R, (ssize_t)sizeof(Frame)); /* <= PIPE_BUF: all or nothing */
    Sent++;
    ck_assert_msg(Sent < Bound, "the executor kept reading with %u results unread", Sent);
  }
  orc_rt_WrapperFunctionBuffer_dispose(&Arg);
  return Sent;
}

/* Calls of hold_wrapper, kept unanswered until held_release(). */
enum { MaxHeld = 512 };
static struct {
  pthread_mutex_t Lock;
  pthread_cond_t Cond; /* a call was held */
  bool Open;           /* released: answer at once */
  unsigned N;
  struct {
    orc_rt_SessionRef S;
    uint64_t CallId;
    orc_rt_WrapperFunctionReturn Return;
  } Calls[MaxHeld];
} Held = {.Lock = PTHREAD_MUTEX_INITIALIZER, .Cond = PTHREAD_COND_INITIALIZER};

static void hold_wrapper(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                         orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  pthread_mutex_lock(&Held.Lock);
  bool Kept = !Held.Open && Held.N < MaxHeld;
  if (Kept) {
    Held.Calls[Held.N].S = S;
    Held.Calls[Held.N].CallId = CallId;
    Held.Calls[Held.N].Return = Return;
    Held.N++;
    pthread_cond_broadcast(&Held.Cond);
  }
  pthread_mutex_unlock(&Held.Lock);
  if (!Kept)
    Return(S, CallId, orc_rt_WrapperFunctionBuffer_fromBytes("h", 1));
}

/* Wait until N calls are held. */
static void held_wait(unsigned N) {
  pthread_mutex_lock(&Held.Lock);
  while (Held.N < N)
    pthread_cond_wait(&Held.Cond, &Held.Lock);
  pthread_mutex_unlock(&Held.Lock);
}

/* fixture_start() with hold_wrapper added to the Session, holding. */
static void fixture_start_holding(struct fixture *F, const orc_rt_PipeOptions *Opts) {
  fixture_session(F);
  Held.Open = false;
  Held.N = 0;
  ck_assert_no_error(orc_rt_Session_addWrapperFunction(F->S, "orcrt_test_hold", hold_wrapper));
  fixture_attach(F, Opts, true);
}

/* Answer every held call, and the later ones at once; returns how many were held. */
static unsigned held_release(void) {
  pthread_mutex_lock(&Held.Lock);
  unsigned N = Held.N;
  Held.N = 0;
  Held.Open = true;
  pthread_mutex_unlock(&Held.Lock);
  for (unsigned I = 0; I < N; I++)
    Held.Calls[I].Return(Held.Calls[I].S, Held.Calls[I].CallId,
                         orc_rt_WrapperFunctionBuffer_fromBytes("h", 1));
  return N;
}

static void backlog_options(orc_rt_PipeOptions *O) {
  orc_rt_PipeOptions_init(O);
  O->MaxPendingOutput = MaxBacklog;
}

START_TEST(pipe_stops_reading_while_output_backlog_is_over_limit) {
  orc_rt_PipeOptions O;
  backlog_options(&O);
  struct fixture F;
  fixture_start(&F, &O);
  unsigned Sent = flood_until_blocked(&F);
  /* Reading stopped long before every call had run: far fewer answers than calls. */
  ck_assert_uint_gt(Sent, 0);
  ck_assert_uint_lt(atomic_load(&BigCalls), Sent);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_resumes_reading_when_backlog_drains) {
  orc_rt_PipeOptions O;
  backlog_options(&O);
  struct fixture F;
  fixture_start(&F, &O);
  unsigned Sent = flood_until_blocked(&F);
  /* Reading the answers lets the executor read the rest of the calls. */
  for (unsigned I = 0; I < Sent; I++) {
    orcrt_tc_frame Fr;
    ck_assert_msg(orcrt_tc_read_frame(F.TC, &Fr) == 0, "answer %u: %s", I, orcrt_tc_error(F.TC));
    ck_assert_uint_eq(Fr.OpC, 2);
    ck_assert_uint_eq(Fr.PayloadSize, BigResult);
    orcrt_tc_frame_dispose(&Fr);
  }
  ck_assert_uint_eq(atomic_load(&BigCalls), Sent);
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(&F, TAG(echo_wrapper), "after", 5);
  assert_buffer_eq(&R, "after", 5);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  fixture_finish(&F);
}
END_TEST

/*
 * The bound on calls in flight holds while one of them waits for the
 * controller: the other calls, which run on their own, count. Calls of
 * hold_wrapper with 16 KiB of arguments are sent with non-blocking writes
 * while a call of relay_wrapper waits for the controller's answer, until
 * the executor stops taking them; the answer, sent once they are released,
 * still reaches the waiting call.
 */
enum { HoldArgs = 16 * 1024 };
START_TEST(pipe_bound_holds_while_a_call_waits_for_the_controller) {
  orc_rt_PipeOptions O;
  backlog_options(&O);
  struct fixture F;
  fixture_start_holding(&F, &O);

  /* relay_wrapper calls the controller with tag 0x99 and waits. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u64(&W, 0x99);
  orc_rt_SPSWriter_bytes(&W, "ping", 4);
  uint64_t RelaySeq;
  ck_assert_int_eq(orcrt_tc_send_call(F.TC, TAG(relay_wrapper), orc_rt_SPSWriter_data(&W),
                                      orc_rt_SPSWriter_size(&W), &RelaySeq),
                   0);
  orc_rt_SPSWriter_dispose(&W);
  orcrt_tc_frame Call;
  ck_assert_msg(orcrt_tc_read_frame(F.TC, &Call) == 0, "%s", orcrt_tc_error(F.TC));
  ck_assert_uint_eq(Call.OpC, 3);
  ck_assert_uint_eq(Call.TagAddr, 0x99);

  /* Now the flood, written whole frames at a time. */
  static char Frame[32 + HoldArgs];
  int Fd = orcrt_tc_write_fd(F.TC);
  unsigned Sent = 0;
  size_t Done = 0;
  for (bool Blocked = false; !Blocked;) {
    uint64_t H[4] = {sizeof(Frame), 3, 1000 + Sent, TAG(hold_wrapper)};
    memcpy(Frame, H, 32); /* little-endian host */
    for (Done = 0; Done < sizeof(Frame);) {
      ssize_t R = write(Fd, Frame + Done, sizeof(Frame) - Done);
      if (R < 0 && errno == EAGAIN) {
        struct pollfd Pfd = {.fd = Fd, .events = POLLOUT};
        if (poll(&Pfd, 1, QuietMs) == 0) {
          Blocked = true;
          break;
        }
        continue;
      }
      ck_assert_int_gt(R, 0);
      Done += (size_t)R;
    }
    if (Done == sizeof(Frame))
      Sent++;
    ck_assert_msg(Sent < MaxHeld / 2, "the executor kept reading: %u calls of %d bytes in flight",
                  Sent, HoldArgs);
  }
  ck_assert_uint_gt(Sent, 0);

  /* Answering the held calls lets the executor read the rest, and the relay's answer. */
  ck_assert_uint_gt(held_release(), 0);
  while (Done < sizeof(Frame)) {
    struct pollfd Pfd = {.fd = Fd, .events = POLLOUT};
    ck_assert_int_eq(poll(&Pfd, 1, -1), 1);
    ssize_t R = write(Fd, Frame + Done, sizeof(Frame) - Done);
    ck_assert(R > 0 || (R < 0 && errno == EAGAIN));
    Done += R > 0 ? (size_t)R : 0;
  }
  ck_assert_int_eq(orcrt_tc_send_result(F.TC, Call.SeqNo, "pong", 4), 0);
  orcrt_tc_frame_dispose(&Call);
  for (;;) {
    orcrt_tc_frame Fr;
    ck_assert_msg(orcrt_tc_read_frame(F.TC, &Fr) == 0, "%s", orcrt_tc_error(F.TC));
    bool Relay = Fr.OpC == 2 && Fr.SeqNo == RelaySeq;
    if (Relay) {
      ck_assert_uint_eq(Fr.PayloadSize, 4);
      ck_assert_int_eq(memcmp(Fr.Payload, "pong", 4), 0);
    }
    orcrt_tc_frame_dispose(&Fr);
    if (Relay)
      break;
  }
  fixture_finish(&F);
}
END_TEST

/* ---- half-close ------------------------------------------------------------ */

/* Wait until F's log has A or B; whether it has A. */
static bool log_wait_either(struct fixture *F, const char *A, const char *B) {
  pthread_mutex_lock(&F->LogLock);
  while (!strstr(F->Log, A) && !strstr(F->Log, B))
    pthread_cond_wait(&F->LogCond, &F->LogLock);
  bool HasA = strstr(F->Log, A) != NULL;
  pthread_mutex_unlock(&F->LogLock);
  return HasA;
}

/*
 * A controller that closes only its writing end still reads: the result of
 * a call read before, answered after, reaches it, and then the session ends
 * in order.
 */
START_TEST(pipe_half_close_still_sends_the_results_of_calls_read) {
  struct fixture F;
  fixture_start_holding(&F, NULL);
  orc_rt_Session_setLogLevel(F.S, orc_rt_LogLevel_Debug);
  uint64_t Seq;
  ck_assert_int_eq(orcrt_tc_send_call(F.TC, TAG(hold_wrapper), "q", 1, &Seq), 0);
  held_wait(1);
  orcrt_tc_close_write(F.TC);
  /* The end of input does not end the session while the call runs. */
  ck_assert_msg(log_wait_either(&F, "pipe: end of input with 1 call(s) in flight",
                                "controller channel closed"),
                "the end of input ended the session; log:\n%s", F.Log);
  ck_assert_uint_eq(held_release(), 1);
  orc_rt_WrapperFunctionBuffer R;
  ck_assert_msg(orcrt_tc_wait_result(F.TC, Seq, &R) == 0, "%s", orcrt_tc_error(F.TC));
  assert_buffer_eq(&R, "h", 1);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  ck_assert_ptr_null(wait_end(&F));
  fixture_finish(&F);
}
END_TEST

/* When the controller's reading end closes too, the session ends at once, calls running or not. */
START_TEST(pipe_half_close_then_full_close_ends_with_the_call_running) {
  struct fixture F;
  fixture_start_holding(&F, NULL);
  ck_assert_int_eq(orcrt_tc_send_call(F.TC, TAG(hold_wrapper), "q", 1, NULL), 0);
  held_wait(1);
  orcrt_tc_close_write(F.TC);
  orcrt_tc_close_read(F.TC);
  ck_assert_ptr_null(wait_end(&F));
  ck_assert_uint_eq(held_release(), 1);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_backlogged_session_ends_when_controller_closes) {
  orc_rt_PipeOptions O;
  backlog_options(&O);
  struct fixture F;
  fixture_start(&F, &O);
  flood_until_blocked(&F);
  orcrt_tc_close(F.TC);
  ck_assert_ptr_null(wait_end(&F));
  fixture_finish(&F);
}
END_TEST

/* The transport's accounting of calls is out of memory. */
static atomic_uint ChargeFaults;
static bool charge_out_of_memory(void) {
  atomic_fetch_add(&ChargeFaults, 1);
  return true;
}

/*
 * A call the transport cannot count against MaxPendingOutput would loosen
 * the bound if it ran: it is not run (nothing answers it) and the session
 * ends with the error.
 */
START_TEST(pipe_call_that_cannot_be_accounted_ends_session_unrun) {
  struct fixture F;
  fixture_session(&F);
  atomic_store(&ChargeFaults, 0);
  F.ChargeFault = charge_out_of_memory;
  fixture_attach(&F, NULL, true);
  uint64_t Seq;
  ck_assert_int_eq(orcrt_tc_send_call(F.TC, TAG(big_wrapper), "\x10\0\0\0\0\0\0\0", 8, &Seq),
                   0);
  assert_ended_with(&F, "out of memory accounting for call 0");
  ck_assert_uint_gt(atomic_load(&ChargeFaults), 0);
  ck_assert_uint_eq(atomic_load(&BigCalls), 0);
  /* No Result came before the end of the output. */
  fixture_destroy_session(&F);
  ck_assert_msg(orcrt_tc_wait_eof(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  fixture_finish(&F);
}
END_TEST

/* ---- descriptors and disconnect ---------------------------------------------- */

START_TEST(pipe_attach_makes_descriptors_nonblocking_and_cloexec) {
  int ToExec[2], FromExec[2];
  ck_assert_int_eq(pipe(ToExec), 0);
  ck_assert_int_eq(pipe(FromExec), 0);
  struct fixture F;
  fixture_session(&F);
  ck_assert_no_error(orc_rt_PipeControllerAccess_attach(F.S, ToExec[0], FromExec[1], NULL));
  ck_assert_int_ne(fcntl(ToExec[0], F_GETFL) & O_NONBLOCK, 0);
  ck_assert_int_ne(fcntl(FromExec[1], F_GETFL) & O_NONBLOCK, 0);
  ck_assert_int_ne(fcntl(ToExec[0], F_GETFD) & FD_CLOEXEC, 0);
  ck_assert_int_ne(fcntl(FromExec[1], F_GETFD) & FD_CLOEXEC, 0);
  ck_assert_int_eq(orcrt_tc_attach_fds(FromExec[0], ToExec[1], &F.TC), 0);
  ck_assert_msg(orcrt_tc_read_setup(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  fixture_finish(&F);
}
END_TEST

/* Whether each descriptor is open, by number, for the first 1024. */
static void open_fds(bool Open[1024]) {
  for (int Fd = 0; Fd < 1024; Fd++)
    Open[Fd] = fcntl(Fd, F_GETFD) >= 0;
}

/*
 * The input pipe takes 1 MiB (where the system allows pipes that large),
 * the output pipe keeps its size.
 */
START_TEST(pipe_attach_gives_the_input_pipe_a_mebibyte) {
  int ToExec[2], FromExec[2];
  ck_assert_int_eq(pipe(ToExec), 0);
  ck_assert_int_eq(pipe(FromExec), 0);
  int Before = fcntl(ToExec[0], F_GETPIPE_SZ), Out = fcntl(FromExec[1], F_GETPIPE_SZ);
  long Max = 0;
  FILE *Lim = fopen("/proc/sys/fs/pipe-max-size", "r");
  ck_assert_ptr_nonnull(Lim);
  ck_assert_int_eq(fscanf(Lim, "%ld", &Max), 1);
  fclose(Lim);
  struct fixture F;
  fixture_session(&F);
  ck_assert_no_error(orc_rt_PipeControllerAccess_attach(F.S, ToExec[0], FromExec[1], NULL));
  ck_assert_int_eq(fcntl(ToExec[1], F_GETPIPE_SZ), Max >= 1024 * 1024 ? 1024 * 1024 : Before);
  ck_assert_int_eq(fcntl(FromExec[1], F_GETPIPE_SZ), Out);
  ck_assert_int_eq(orcrt_tc_attach_fds(FromExec[0], ToExec[1], &F.TC), 0);
  ck_assert_msg(orcrt_tc_read_setup(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_descriptors_it_creates_are_close_on_exec) {
  static bool Before[1024], After[1024];
  open_fds(Before);
  struct fixture F;
  fixture_start(&F, NULL);
  open_fds(After);
  int New = 0;
  for (int Fd = 0; Fd < 1024; Fd++) {
    if (!After[Fd] || Before[Fd])
      continue;
    New++;
    ck_assert_msg(fcntl(Fd, F_GETFD) & FD_CLOEXEC, "descriptor %d is not close-on-exec", Fd);
  }
  ck_assert_int_gt(New, 4); /* the four pipe ends, and the transport's own */
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_failed_attach_leaves_descriptors_to_caller) {
  struct fixture F;
  fixture_start(&F, NULL);
  int P[2];
  ck_assert_int_eq(pipe(P), 0);
  int Fl0 = fcntl(P[0], F_GETFL), Fl1 = fcntl(P[1], F_GETFL);
  ck_assert_error_contains(orc_rt_PipeControllerAccess_attach(F.S, P[0], P[1], NULL),
                           "already attached");
  /* Still open, flags as they were. */
  ck_assert_int_eq(fcntl(P[0], F_GETFL), Fl0);
  ck_assert_int_eq(fcntl(P[1], F_GETFL), Fl1);
  ck_assert_int_eq(fcntl(P[0], F_GETFD) & FD_CLOEXEC, 0);
  ck_assert_int_eq(write(P[1], "k", 1), 1);
  char C = 0;
  ck_assert_int_eq(read(P[0], &C, 1), 1);
  ck_assert_int_eq(C, 'k');
  close(P[0]);
  close(P[1]);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_attach_refuses_descriptor_it_cannot_watch) {
  struct fixture F;
  fixture_session(&F);
  int Null = open("/dev/null", O_RDWR | O_CLOEXEC);
  int P[2];
  ck_assert_int_ge(Null, 0);
  ck_assert_int_eq(pipe2(P, O_CLOEXEC), 0);
  char Want[64];
  snprintf(Want, sizeof(Want), "descriptor %d cannot be watched", Null);
  ck_assert_error_contains(orc_rt_PipeControllerAccess_attach(F.S, Null, P[1], NULL), Want);
  ck_assert(!orc_rt_Session_isAttached(F.S));
  close(Null);
  close(P[0]);
  close(P[1]);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_one_socket_carries_both_directions) {
  int Sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, Sv), 0);
  struct fixture F;
  fixture_session(&F);
  ck_assert_no_error(orc_rt_PipeControllerAccess_attach(F.S, Sv[0], Sv[0], NULL));
  ck_assert_int_eq(orcrt_tc_attach_fds(Sv[1], Sv[1], &F.TC), 0);
  ck_assert_msg(orcrt_tc_read_setup(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(&F, TAG(echo_wrapper), "socket", 6);
  assert_buffer_eq(&R, "socket", 6);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  orcrt_tc_close_write(F.TC);
  ck_assert_ptr_null(wait_end(&F));
  /* One descriptor: it stays open until the Session is destroyed. */
  fixture_destroy_session(&F);
  ck_assert_msg(orcrt_tc_wait_eof(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  fixture_finish(&F);
}
END_TEST

struct disconnector {
  pthread_barrier_t *Start;
  void *Ctx;
  int ReadFd, WriteFd;
  bool OutOpen, InClosed;
};

static void *disconnect_thread(void *Arg) {
  struct disconnector *D = Arg;
  pthread_barrier_wait(D->Start);
  orcrt_pipe_ops.Disconnect(D->Ctx);
  /* On return the in-fd must be closed already; the out-fd waits for Destroy. */
  struct pollfd Pfd = {.fd = D->ReadFd, .events = POLLIN};
  D->OutOpen = poll(&Pfd, 1, 0) == 0;
  Pfd = (struct pollfd){.fd = D->WriteFd, .events = POLLOUT};
  D->InClosed = poll(&Pfd, 1, 0) == 1 && (Pfd.revents & POLLERR);
  return NULL;
}

START_TEST(pipe_disconnect_from_eight_threads_returns_when_in_fd_closed) {
  struct fixture F;
  fixture_start(&F, NULL);
  enum { N = 8 };
  pthread_barrier_t Start;
  pthread_barrier_init(&Start, NULL, N);
  struct disconnector D[N];
  pthread_t T[N];
  for (int I = 0; I < N; I++) {
    D[I] = (struct disconnector){.Start = &Start,
                                 .Ctx = F.Ctx,
                                 .ReadFd = orcrt_tc_read_fd(F.TC),
                                 .WriteFd = orcrt_tc_write_fd(F.TC)};
    pthread_create(&T[I], NULL, disconnect_thread, &D[I]);
  }
  for (int I = 0; I < N; I++) {
    pthread_join(T[I], NULL);
    ck_assert_msg(D[I].OutOpen, "thread %d saw the out-fd closed before Destroy", I);
    ck_assert_msg(D[I].InClosed, "thread %d returned before the in-fd was closed", I);
  }
  pthread_barrier_destroy(&Start);
  /* The session initiated nothing and hears of no end: it is still attached. */
  ck_assert(!orc_rt_Session_isDetached(F.S));
  fixture_destroy_session(&F);
  ck_assert(out_fd_closed(&F));
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_sends_after_disconnect_are_dropped) {
  struct fixture F;
  fixture_start(&F, NULL);
  orcrt_pipe_ops.Disconnect(F.Ctx);
  /* Heap buffers: a leak would show under the sanitizers. */
  orcrt_pipe_ops.SendResult(F.Ctx, 0, orc_rt_WrapperFunctionBuffer_fromBytes("0123456789", 10));
  orcrt_pipe_ops.CallController(F.Ctx, 0, 0x10,
                                orc_rt_WrapperFunctionBuffer_fromBytes("0123456789", 10));
  /* Nothing was written after the Setup: the controller sees end of file
     as soon as Destroy closes the out-fd. */
  fixture_destroy_session(&F);
  ck_assert_msg(orcrt_tc_wait_eof(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_detach_closes_in_fd_and_drops_calls_destroy_closes_out_fd) {
  struct fixture F;
  fixture_start(&F, NULL);
  orcrt_test_latch L;
  orcrt_test_latch_init(&L);
  orc_rt_Session_detach(F.S, orcrt_test_latch_signal_fn, &L);
  orcrt_test_latch_wait(&L, 1);
  /* The executor's in-fd is closed: a call cannot even be written. */
  ck_assert_int_ne(orcrt_tc_send_frame(F.TC, 3, 0, TAG(echo_wrapper), "x", 1), 0);
  ck_assert_ptr_null(orc_rt_Session_getDisconnectError(F.S));
  /* Its out-fd stays open (the controller waits for end of file on it)
     until the Session is destroyed. */
  ck_assert(!out_fd_closed(&F));
  fixture_destroy_session(&F);
  ck_assert_msg(orcrt_tc_wait_eof(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  orcrt_test_latch_destroy(&L);
  fixture_finish(&F);
}
END_TEST

START_TEST(pipe_debug_log_names_setup_and_leaves_calls_to_the_session_trace) {
  struct fixture F;
  fixture_session(&F);
  orc_rt_Session_setLogLevel(F.S, orc_rt_LogLevel_Debug);
  fixture_attach(&F, NULL, true);
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(&F, TAG(echo_wrapper), "log", 3);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  /* Read the log once every thread that writes it has finished. */
  orc_rt_Session_destroy(F.S);
  F.S = NULL;
  ck_assert_msg(log_contains(&F, "pipe: sent Setup, "), "no Setup line in the log:\n%s", F.Log);
  /* The call is one line of the Session's trace, by name; no frame in hex. */
  ck_assert_msg(log_contains(&F, "#0 orcrt_test_echo 3 B → 3 B "), "no trace line in the log:\n%s",
                F.Log);
  ck_assert_msg(!log_contains(&F, "tag="), "a frame in hex in the log:\n%s", F.Log);
  fixture_finish(&F);
}
END_TEST

/* ---- calls whose arguments are taken as they arrive -------------------------- */

static const char ReserveName[] = "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper";
static const char FinalizeName[] = "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper";
static const char InitializeName[] = "__llvm_orc_SimpleExecutorMemoryManager_initialize_wrapper";
static const char InstanceName[] = "__llvm_orc_SimpleExecutorMemoryManager_Instance";

enum { Page = 4096, StreamContent = 600 * 1024, StreamSegment = 640 * 1024 };

/* F's Session with the memory Service under Strategy and its trace on, not attached. */
static orc_rt_MemoryServiceRef fixture_memory_session(struct fixture *F,
                                                      orc_rt_MemoryStrategy Strategy) {
  orc_rt_MemoryServiceRef M;
  fixture_session(F);
  orc_rt_Session_setLogLevel(F->S, orc_rt_LogLevel_Debug);
  ck_assert_no_error(orc_rt_MemoryService_add(F->S, Strategy, &M));
  return M;
}

/* N bytes of a pattern no page of zeros or of a shifted copy matches. */
static unsigned char *pattern(size_t N, unsigned Seed) {
  unsigned char *P = malloc(N);
  ck_assert_ptr_nonnull(P);
  for (size_t I = 0; I < N; I++)
    P[I] = (unsigned char)(I * 131 + (I >> 12) + Seed);
  return P;
}

static bool all_zero(orc_rt_ExecutorAddr Addr, size_t N) {
  const unsigned char *P = (const unsigned char *)(uintptr_t)Addr;
  for (size_t I = 0; I < N; I++)
    if (P[I])
      return false;
  return true;
}

/* The value of an SPSExpected<ExecutorAddr> result (the test fails on an error). */
static orc_rt_ExecutorAddr expected_addr(orc_rt_WrapperFunctionBuffer *R) {
  orc_rt_SPSReader Rd;
  bool HasValue = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  orc_rt_ExecutorAddr A = 0;
  orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(R), R->Size);
  ck_assert(orc_rt_SPSReader_expected(&Rd, &HasValue, &Msg, &MsgSize));
  ck_assert_msg(HasValue, "failed: %.*s", (int)MsgSize, Msg);
  ck_assert(orc_rt_SPSReader_addr(&Rd, &A));
  orc_rt_WrapperFunctionBuffer_dispose(R);
  return A;
}

static orc_rt_ExecutorAddr tc_reserve(struct fixture *F, uint64_t Size) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, orcrt_test_bootstrap_addr(F->S, InstanceName));
  orc_rt_SPSWriter_u64(&W, Size);
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(F, orcrt_test_bootstrap_addr(F->S, ReserveName),
                                              orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  orc_rt_SPSWriter_dispose(&W);
  return expected_addr(&R);
}

struct test_segment {
  uint8_t Prot;
  orc_rt_ExecutorAddr Addr;
  uint64_t Size;
  const void *Content;
  size_t ContentSize;
};

/* (Instance, FinalizeRequest) with the N segments of Segs and no actions, into W. */
static void encode_request(struct fixture *F, orc_rt_SPSWriter *W, const struct test_segment *Segs,
                           size_t N) {
  orc_rt_SPSWriter_init(W);
  orc_rt_SPSWriter_addr(W, orcrt_test_bootstrap_addr(F->S, InstanceName));
  orc_rt_SPSWriter_seqCount(W, N);
  for (size_t I = 0; I < N; I++) {
    orc_rt_SPSWriter_u8(W, Segs[I].Prot);
    orc_rt_SPSWriter_addr(W, Segs[I].Addr);
    orc_rt_SPSWriter_u64(W, Segs[I].Size);
    orc_rt_SPSWriter_bytes(W, Segs[I].Content, Segs[I].ContentSize);
  }
  orc_rt_SPSWriter_seqCount(W, 0);
  ck_assert(!orc_rt_SPSWriter_failed(W));
}

/* Call the wrapper Name with the request of the N segments of Segs; its result. */
static orc_rt_WrapperFunctionBuffer tc_request(struct fixture *F, const char *Name,
                                               const struct test_segment *Segs, size_t N) {
  orc_rt_SPSWriter W;
  encode_request(F, &W, Segs, N);
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(F, orcrt_test_bootstrap_addr(F->S, Name),
                                              orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  orc_rt_SPSWriter_dispose(&W);
  return R;
}

/*
 * A finalize of 600 KiB (and a 4-byte segment after it) arrives in pieces
 * of every size the test controller makes (whole, and 777 bytes at a time:
 * headers split across reads): its content lands in place, the rest of
 * each segment reads as zeros, and the trace says it was placed on arrival
 * and counts it with a small finalize gathered whole, under both
 * strategies.
 */
START_TEST(pipe_large_finalize_content_goes_straight_into_memory) {
  static const orc_rt_MemoryStrategy Strategies[] = {orc_rt_MemoryStrategy_MemFD,
                                                     orc_rt_MemoryStrategy_MProtect};
  static const size_t Chunks[] = {0, 777};
  unsigned char *Content = pattern(StreamContent, 7);
  for (size_t Si = 0; Si < 2; Si++)
    for (size_t Ci = 0; Ci < 2; Ci++) {
      struct fixture F;
      fixture_memory_session(&F, Strategies[Si]);
      fixture_attach(&F, NULL, true);
      /* A small finalize first: gathered whole, and counted with the streamed one. */
      orc_rt_ExecutorAddr Small = tc_reserve(&F, Page);
      struct test_segment One = {0x01, Small, Page, "small", 5};
      orcrt_test_assert_sps_success(tc_request(&F, FinalizeName, &One, 1));
      orc_rt_ExecutorAddr Base = tc_reserve(&F, StreamSegment + Page);
      struct test_segment Segs[] = {
          {0x03, Base, StreamSegment, Content, StreamContent},
          {0x01, Base + StreamSegment, Page, "tail", 4},
      };
      orcrt_tc_set_write_chunk(F.TC, Chunks[Ci]);
      orcrt_test_assert_sps_success(tc_request(&F, FinalizeName, Segs, 2));
      ck_assert_msg(memcmp((void *)(uintptr_t)Base, Content, StreamContent) == 0,
                    "content differs (strategy %zu, chunk %zu)", Si, Chunks[Ci]);
      ck_assert(all_zero(Base + StreamContent, StreamSegment - StreamContent));
      ck_assert(memcmp((void *)(uintptr_t)(Base + StreamSegment), "tail", 4) == 0);
      ck_assert(all_zero(Base + StreamSegment + 4, Page - 4));
      orc_rt_Session_destroy(F.S);
      F.S = NULL;
      ck_assert_msg(log_contains(&F, "finalize 2 segments ") &&
                        log_contains(&F, " placed on arrival → ok "),
                    "the finalize was not streamed:\n%s", F.Log);
      /* One line for both, with the bytes that came over the channel. */
      ck_assert_msg(log_contains(&F, "summary: finalize: 2 calls, 0 errors, 600 KiB in, "),
                    "the summary does not count both:\n%s", F.Log);
      fixture_finish(&F);
    }
  free(Content);
}
END_TEST

/* How often Text occurs in F's log. */
static unsigned log_count(struct fixture *F, const char *Text) {
  unsigned N = 0;
  pthread_mutex_lock(&F->LogLock);
  for (const char *P = F->Log; (P = strstr(P, Text)); P += strlen(Text))
    N++;
  pthread_mutex_unlock(&F->LogLock);
  return N;
}

/*
 * Large requests the memory refuses get the answers they get gathered
 * whole, and nothing of theirs is placed: no reservation there, content
 * larger than its segment (after which LLVM 19 releases the reservation),
 * and a content length beyond the call's bytes (undecodable: an empty
 * result, the reservation untouched). That reservation then finalizes.
 */
START_TEST(pipe_large_finalize_fails_as_it_would_whole) {
  struct fixture F;
  fixture_memory_session(&F, orc_rt_MemoryStrategy_MemFD);
  fixture_attach(&F, NULL, true);
  unsigned char *Content = pattern(StreamContent, 3);

  orc_rt_ExecutorAddr Base = tc_reserve(&F, StreamSegment);
  struct test_segment Elsewhere = {0x03, Base + ((uint64_t)1 << 30), StreamSegment, Content,
                                   StreamContent};
  orcrt_test_assert_sps_error(tc_request(&F, FinalizeName, &Elsewhere, 1),
                              "Attempt to finalize unrecognized allocation");
  struct test_segment TooMuch = {0x03, Base, Page, Content, StreamContent};
  orcrt_test_assert_sps_error(tc_request(&F, FinalizeName, &TooMuch, 1), "exceeds segment size");

  /* The content's length (after Instance, count, Prot, Addr, Size) says more than comes. */
  Base = tc_reserve(&F, StreamSegment);
  orc_rt_SPSWriter W;
  struct test_segment Good = {0x03, Base, StreamSegment, Content, StreamContent};
  encode_request(&F, &W, &Good, 1);
  char *Bytes = (char *)orc_rt_SPSWriter_data(&W);
  uint64_t Lie = StreamContent + 9;
  for (int I = 0; I < 8; I++)
    Bytes[33 + I] = (char)(Lie >> (8 * I));
  orc_rt_WrapperFunctionBuffer R = tc_call_ok(&F, orcrt_test_bootstrap_addr(F.S, FinalizeName),
                                              Bytes, orc_rt_SPSWriter_size(&W));
  orc_rt_SPSWriter_dispose(&W);
  ck_assert_uint_eq(R.Size, 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  ck_assert(all_zero(Base, StreamSegment));

  orcrt_test_assert_sps_success(tc_request(&F, FinalizeName, &Good, 1));
  ck_assert(memcmp((void *)(uintptr_t)Base, Content, StreamContent) == 0);
  ck_assert(all_zero(Base + StreamContent, StreamSegment - StreamContent));
  orc_rt_Session_destroy(F.S);
  F.S = NULL;
  /* Only the last one placed anything. */
  ck_assert_msg(log_count(&F, " placed on arrival") == 1, "placed more than once:\n%s", F.Log);
  free(Content);
  fixture_finish(&F);
}
END_TEST

/* Over one socket (no splice into the memfd): placed through the read buffer. */
START_TEST(pipe_large_finalize_over_a_socket_is_placed_too) {
  int Sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, Sv), 0);
  struct fixture F;
  fixture_memory_session(&F, orc_rt_MemoryStrategy_MemFD);
  ck_assert_no_error(orc_rt_PipeControllerAccess_attach(F.S, Sv[0], Sv[0], NULL));
  ck_assert_int_eq(orcrt_tc_attach_fds(Sv[1], Sv[1], &F.TC), 0);
  ck_assert_msg(orcrt_tc_read_setup(F.TC) == 0, "%s", orcrt_tc_error(F.TC));
  unsigned char *Content = pattern(StreamContent, 5);
  orc_rt_ExecutorAddr Base = tc_reserve(&F, StreamSegment);
  struct test_segment Seg = {0x01, Base, StreamSegment, Content, StreamContent};
  orcrt_test_assert_sps_success(tc_request(&F, FinalizeName, &Seg, 1));
  ck_assert(memcmp((void *)(uintptr_t)Base, Content, StreamContent) == 0);
  ck_assert(all_zero(Base + StreamContent, StreamSegment - StreamContent));
  orc_rt_Session_destroy(F.S);
  F.S = NULL;
  ck_assert_msg(log_contains(&F, " placed on arrival → ok "), "not streamed:\n%s", F.Log);
  free(Content);
  fixture_finish(&F);
}
END_TEST

/* An end of file halfway through a streamed call ends the session as for any frame. */
START_TEST(pipe_eof_inside_a_streamed_call_is_protocol_error) {
  struct fixture F;
  fixture_memory_session(&F, orc_rt_MemoryStrategy_MemFD);
  fixture_attach(&F, NULL, true);
  orc_rt_ExecutorAddr Base = tc_reserve(&F, StreamSegment);
  unsigned char *Content = pattern(StreamContent, 1);
  orc_rt_SPSWriter W;
  struct test_segment Seg = {0x01, Base, StreamSegment, Content, StreamContent};
  encode_request(&F, &W, &Seg, 1);
  ck_assert_int_eq(orcrt_tc_send_call_prefix(F.TC, orcrt_test_bootstrap_addr(F.S, FinalizeName),
                                             orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W),
                                             StreamContent / 2, NULL),
                   0);
  orc_rt_SPSWriter_dispose(&W);
  orcrt_tc_close_write(F.TC);
  assert_ended_with(&F, "unexpected end of file inside a frame");
  free(Content);
  fixture_finish(&F);
}
END_TEST

/* A finalize action that holds its allocation (initializing) until released. */
static orcrt_test_latch HoldEntered, HoldRelease;

static orc_rt_WrapperFunctionBuffer holding_action(const char *ArgData, size_t ArgSize) {
  (void)ArgData;
  (void)ArgSize;
  orcrt_test_latch_signal(&HoldEntered);
  orcrt_test_latch_wait(&HoldRelease, 1);
  return orc_rt_WrapperFunctionBuffer_fromBytes("\0", 1); /* SPSError success */
}

struct held_initialize {
  orc_rt_MemoryServiceRef M;
  orc_rt_ExecutorAddr Addr, Key;
  orc_rt_ErrorRef Err;
};

static void *held_initialize_thread(void *Arg) {
  struct held_initialize *H = Arg;
  orc_rt_MemorySegment Seg = {0x03, H->Addr, Page, "held", 4};
  orc_rt_MemoryActionPair Pair = {
      {orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)holding_action), NULL, 0}, {0, NULL, 0}};
  orc_rt_MemoryFinalizeRequest Req = {&Seg, 1, &Pair, 1};
  H->Err = orc_rt_MemoryService_initialize(H->M, &Req, &H->Key);
  return NULL;
}

/*
 * LLVM 22's initialize streams too. When its reservation becomes another
 * initialize's halfway through (that one's action holds it), the content
 * not yet placed is kept instead, the request is split where placing
 * stopped, and the whole segment still arrives intact.
 */
START_TEST(pipe_large_initialize_keeps_what_it_cannot_place_meanwhile) {
  struct fixture F;
  orc_rt_MemoryServiceRef M = fixture_memory_session(&F, orc_rt_MemoryStrategy_MemFD);
  fixture_attach(&F, NULL, true);
  orcrt_test_latch_init(&HoldEntered);
  orcrt_test_latch_init(&HoldRelease);
  enum { Size = 1024 * 1024 };
  orc_rt_ExecutorAddr Base = tc_reserve(&F, Size + Page);
  unsigned char *Content = pattern(Size, 9);
  orc_rt_SPSWriter W;
  struct test_segment Seg = {0x03, Base, Size, Content, Size};
  encode_request(&F, &W, &Seg, 1);
  const char *Bytes = orc_rt_SPSWriter_data(&W);
  size_t N = orc_rt_SPSWriter_size(&W), Half = 400 * 1024;

  /* The first part: once written into a pipe of one page, all but a page of it has been taken. */
  ck_assert_int_eq(fcntl(orcrt_tc_write_fd(F.TC), F_SETPIPE_SZ, Page), Page);
  uint64_t Seq;
  ck_assert_int_eq(orcrt_tc_send_call_prefix(F.TC, orcrt_test_bootstrap_addr(F.S, InitializeName),
                                             Bytes, N, Half, &Seq),
                   0);
  struct held_initialize H = {M, Base + Size, 0, NULL};
  pthread_t T;
  ck_assert_int_eq(pthread_create(&T, NULL, held_initialize_thread, &H), 0);
  orcrt_test_latch_wait(&HoldEntered, 1);
  /* The rest arrives while the reservation is the other initialize's. */
  ck_assert_int_eq(orcrt_tc_write_raw(F.TC, Bytes + Half, N - Half), 0);
  orcrt_test_latch_signal(&HoldRelease);
  ck_assert_int_eq(pthread_join(T, NULL), 0);
  ck_assert_no_error(H.Err);
  orc_rt_WrapperFunctionBuffer R;
  ck_assert_msg(orcrt_tc_wait_result(F.TC, Seq, &R) == 0, "%s", orcrt_tc_error(F.TC));
  ck_assert_uint_eq(expected_addr(&R), Base);
  orc_rt_SPSWriter_dispose(&W);

  ck_assert(memcmp((void *)(uintptr_t)Base, Content, Size) == 0);
  ck_assert(memcmp((void *)(uintptr_t)(Base + Size), "held", 4) == 0);
  orc_rt_Session_destroy(F.S);
  F.S = NULL;
  ck_assert_msg(log_contains(&F, "initialize 2 segments 1 MiB at ") &&
                    log_contains(&F, " placed on arrival → "),
                "the initialize was not split where placing stopped:\n%s", F.Log);
  orcrt_test_latch_destroy(&HoldEntered);
  orcrt_test_latch_destroy(&HoldRelease);
  free(Content);
  fixture_finish(&F);
}
END_TEST

#define ADD_TEST(S, Fn, Timeout) tcase_add_test(orcrt_test_case((S), #Fn, (Timeout)), Fn)

Suite *orcrt_suite_pipe(void) {
  Suite *S = suite_create("pipe");
  ADD_TEST(S, pipe_setup_is_first_frame_with_llvm_header, 10);
  ADD_TEST(S, pipe_setup_payload_has_llvm_layout, 10);
  ADD_TEST(S, pipe_setup_payload_has_llvm14_layout, 10);
  ADD_TEST(S, pipe_setup_lists_every_bootstrap_symbol, 10);
  ADD_TEST(S, pipe_setup_uses_triple_and_page_size_options, 10);
  ADD_TEST(S, pipe_options_default_to_documented_values, 10);
  ADD_TEST(S, pipe_call_result_has_matching_seq_and_zero_tag, 10);
  ADD_TEST(S, pipe_concurrent_calls_are_answered_out_of_order, 10);
  ADD_TEST(S, pipe_out_of_band_error_is_sent_as_empty_result, 10);
  ADD_TEST(S, pipe_frames_written_byte_by_byte_are_reassembled, 20);
  ADD_TEST(S, pipe_payloads_of_every_size_class_round_trip, 20);
  ADD_TEST(S, pipe_five_mebibyte_payload_round_trips, 30);
  ADD_TEST(S, pipe_pipelined_calls_are_all_answered, 30);
  ADD_TEST(S, pipe_executor_call_carries_tag_and_first_seq_zero, 10);
  ADD_TEST(S, pipe_executor_call_results_are_matched_by_seq, 10);
  ADD_TEST(S, pipe_nested_calls_in_both_directions_complete, 10);
  ADD_TEST(S, pipe_controller_gone_fails_pending_executor_call, 10);
  ADD_TEST(S, pipe_eof_at_frame_boundary_ends_in_order, 10);
  ADD_TEST(S, pipe_hangup_frame_ends_in_order, 10);
  ADD_TEST(S, pipe_setup_from_controller_is_protocol_error, 10);
  ADD_TEST(S, pipe_unknown_opcode_is_protocol_error, 10);
  ADD_TEST(S, pipe_frame_below_header_size_is_protocol_error, 10);
  ADD_TEST(S, pipe_frame_above_maximum_is_protocol_error, 10);
  ADD_TEST(S, pipe_eof_inside_header_is_protocol_error, 10);
  ADD_TEST(S, pipe_eof_inside_payload_is_protocol_error, 10);
  ADD_TEST(S, pipe_huge_announced_frame_is_not_allocated_up_front, 10);
  ADD_TEST(S, pipe_result_with_nonzero_tag_is_protocol_error, 10);
  ADD_TEST(S, pipe_result_for_no_pending_call_is_protocol_error, 10);
  ADD_TEST(S, pipe_out_fd_is_closed_after_protocol_error, 10);
  ADD_TEST(S, pipe_controller_closing_its_input_ends_in_order, 10);
  ADD_TEST(S, pipe_stops_reading_while_output_backlog_is_over_limit, 30);
  ADD_TEST(S, pipe_resumes_reading_when_backlog_drains, 30);
  ADD_TEST(S, pipe_backlogged_session_ends_when_controller_closes, 30);
  ADD_TEST(S, pipe_bound_holds_while_a_call_waits_for_the_controller, 30);
  ADD_TEST(S, pipe_half_close_still_sends_the_results_of_calls_read, 30);
  ADD_TEST(S, pipe_half_close_then_full_close_ends_with_the_call_running, 30);
  ADD_TEST(S, pipe_call_that_cannot_be_accounted_ends_session_unrun, 10);
  ADD_TEST(S, pipe_attach_makes_descriptors_nonblocking_and_cloexec, 10);
  ADD_TEST(S, pipe_attach_gives_the_input_pipe_a_mebibyte, 10);
  ADD_TEST(S, pipe_descriptors_it_creates_are_close_on_exec, 10);
  ADD_TEST(S, pipe_failed_attach_leaves_descriptors_to_caller, 10);
  ADD_TEST(S, pipe_attach_refuses_descriptor_it_cannot_watch, 10);
  ADD_TEST(S, pipe_one_socket_carries_both_directions, 10);
  ADD_TEST(S, pipe_disconnect_from_eight_threads_returns_when_in_fd_closed, 10);
  ADD_TEST(S, pipe_sends_after_disconnect_are_dropped, 10);
  ADD_TEST(S, pipe_detach_closes_in_fd_and_drops_calls_destroy_closes_out_fd, 10);
  ADD_TEST(S, pipe_debug_log_names_setup_and_leaves_calls_to_the_session_trace, 10);
  ADD_TEST(S, pipe_large_finalize_content_goes_straight_into_memory, 30);
  ADD_TEST(S, pipe_large_finalize_fails_as_it_would_whole, 30);
  ADD_TEST(S, pipe_large_finalize_over_a_socket_is_placed_too, 30);
  ADD_TEST(S, pipe_eof_inside_a_streamed_call_is_protocol_error, 30);
  ADD_TEST(S, pipe_large_initialize_keeps_what_it_cannot_place_meanwhile, 30);
  return S;
}

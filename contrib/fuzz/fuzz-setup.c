/*
 * fuzz-setup.c - the Setup message: the controller side's decoder, and a
 * round trip through the executor's encoder
 *
 * Input: a Setup payload. It goes to the test controller (tests/controller.c)
 * as the first frame on a pipe, which decodes it the way LLVM 19's
 * controllers read it. If it decodes, the triple, page size and bootstrap
 * symbols it holds are given to a Session (as PipeOptions and bootstrap
 * symbols) whose pipe ControllerAccess encodes its own Setup, which a
 * second test controller decodes again: for the input's own release (an
 * input that 19's layout cannot read is taken as 14-16's), and the default
 * Setup both as 19 and 22 read it and as 14-16 do. They must agree field for
 * field; and when the input was already in 19's form (an empty bootstrap
 * map, no NUL bytes in the strings, nothing after the symbols), LLVM 19's
 * Setup must equal it byte for byte.
 */
#include "config.h"

#include "fuzz-util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <orcrt/pipe-access.h>
#include <orcrt/sps.h>

#include "controller.h"

/* A controller reading frames from Fd; it owns Fd and a dummy write end. */
static orcrt_tc *controller_on(int Fd) {
  int Dummy[2];
  orcrt_tc *TC;
  if (pipe2(Dummy, O_CLOEXEC) != 0)
    orcrt_fuzz_fail("pipe2: %s", strerror(errno));
  close(Dummy[0]);
  if (orcrt_tc_attach_fds(Fd, Dummy[1], &TC) != 0)
    orcrt_fuzz_fail("cannot attach a test controller");
  orcrt_tc_set_timeout(TC, 60000);
  return TC;
}

/* Write all N bytes at P to the blocking Fd. */
static void write_all(int Fd, const void *P, size_t N) {
  const char *C = P;
  while (N) {
    ssize_t W = write(Fd, C, N);
    if (W < 0 && errno == EINTR)
      continue;
    if (W <= 0)
      orcrt_fuzz_fail("write: %s", strerror(errno));
    C += W;
    N -= (size_t)W;
  }
}

/* Whether the input is exactly what the executor would send for what it holds. */
static bool canonical(const uint8_t *Data, size_t Size, orcrt_tc *TC) {
  orc_rt_SPSReader R;
  const char *S;
  size_t N;
  uint64_t Page, Map, Syms;
  orc_rt_ExecutorAddr A;
  orc_rt_SPSReader_init(&R, Data, Size);
  if (!orc_rt_SPSReader_bytes(&R, &S, &N) || memchr(S, 0, N) || !orc_rt_SPSReader_u64(&R, &Page) ||
      !orc_rt_SPSReader_u64(&R, &Map) || Map != 0 || !orc_rt_SPSReader_u64(&R, &Syms))
    return false;
  for (uint64_t I = 0; I < Syms; I++)
    if (!orc_rt_SPSReader_bytes(&R, &S, &N) || memchr(S, 0, N) || !orc_rt_SPSReader_addr(&R, &A))
      return false;
  (void)TC;
  return orc_rt_SPSReader_remaining(&R) == 0;
}

/*
 * Give a Session what First's Setup held (strings end at a NUL), have it
 * encode its Setup for Protocol and read that with a controller of Fields;
 * it must hold the same. False if the Session cannot send such a Setup.
 */
static bool round_trip(const uint8_t *Data, size_t Size, orcrt_tc *First, orc_rt_Protocol Protocol,
                       unsigned Fields) {
  orcrt_fuzz_env E = {0};
  orc_rt_TaskDispatcherRef D;
  orc_rt_ErrorRef Err = orc_rt_ThreadPoolTaskDispatcher_create(1, &D);
  if (Err || (Err = orc_rt_Session_create(D, &E.S)) ||
      (Err = orc_rt_Session_setProtocol(E.S, Protocol)))
    orcrt_fuzz_fail("session: %s", orc_rt_Error_getMessage(Err));
  size_t NumSyms = orcrt_tc_symbol_count(First);
  for (size_t I = 0; I < NumSyms; I++) {
    Err = orc_rt_Session_addBootstrapSymbol(E.S, orcrt_tc_symbol_name(First, I),
                                            orcrt_tc_symbol_addr(First, I));
    if (Err) {
      /* Names equal up to a NUL byte: not a Setup a Session can send. */
      orc_rt_Error_consume(Err);
      orc_rt_Session_destroy(E.S);
      return false;
    }
  }
  orc_rt_PipeOptions O;
  orc_rt_PipeOptions_init(&O);
  O.TargetTriple = orcrt_tc_triple(First);
  O.PageSize = orcrt_tc_page_size(First);
  int ToExec[2], FromExec[2];
  if (pipe2(ToExec, O_CLOEXEC) != 0 || pipe2(FromExec, O_CLOEXEC) != 0)
    orcrt_fuzz_fail("pipe2: %s", strerror(errno));
  if ((Err = orc_rt_PipeControllerAccess_attach(E.S, ToExec[0], FromExec[1], &O)))
    orcrt_fuzz_fail("attach: %s", orc_rt_Error_getMessage(Err));
  orcrt_tc *Second = controller_on(FromExec[0]);
  orcrt_tc_set_setup_fields(Second, Fields);
  ORCRT_FUZZ_CHECK(orcrt_tc_read_setup(Second) == 0, "the executor's Setup does not decode: %s",
                   orcrt_tc_error(Second));
  close(ToExec[1]); /* end of file: the Session detaches */
  orc_rt_Session_waitForDetach(E.S);

  ORCRT_FUZZ_CHECK(strcmp(orcrt_tc_triple(First), orcrt_tc_triple(Second)) == 0,
                   "triple \"%s\" came back as \"%s\"", orcrt_tc_triple(First),
                   orcrt_tc_triple(Second));
  ORCRT_FUZZ_CHECK(orcrt_tc_page_size(First) == orcrt_tc_page_size(Second), "page size changed");
  /* Read in 3 fields, the default Setup starts with the pad symbol. */
  size_t Skip = Protocol == orc_rt_Protocol_Auto && Fields == 3;
  if (Protocol != orc_rt_Protocol_Auto)
    ORCRT_FUZZ_CHECK(orcrt_tc_bootstrap_map_count(Second) == 0,
                     "the executor sent a bootstrap map");
  else if (Fields == 4)
    ORCRT_FUZZ_CHECK(orcrt_tc_bootstrap_map_count(Second) == NumSyms + 1,
                     "%zu padding entries for %zu symbols", orcrt_tc_bootstrap_map_count(Second),
                     NumSyms);
  else
    ORCRT_FUZZ_CHECK(strcmp(orcrt_tc_symbol_name(Second, 0), "__orcrt_setup_pad") == 0,
                     "no pad symbol first");
  ORCRT_FUZZ_CHECK(orcrt_tc_symbol_count(Second) == NumSyms + Skip, "%zu symbols came back as %zu",
                   NumSyms, orcrt_tc_symbol_count(Second) - Skip);
  for (size_t I = 0; I < NumSyms; I++)
    ORCRT_FUZZ_CHECK(
        strcmp(orcrt_tc_symbol_name(First, I), orcrt_tc_symbol_name(Second, Skip + I)) == 0 &&
            orcrt_tc_symbol_addr(First, I) == orcrt_tc_symbol_addr(Second, Skip + I),
        "symbol %zu changed", I);
  if (Protocol == orc_rt_Protocol_LLVM19 && canonical(Data, Size, First)) {
    size_t N;
    const char *P = orcrt_tc_setup_payload(Second, &N);
    ORCRT_FUZZ_CHECK(N == Size && (N == 0 || memcmp(P, Data, N) == 0),
                     "a canonical Setup was encoded differently");
  }
  orc_rt_Session_destroy(E.S);
  orcrt_tc_destroy(Second);
  return true;
}

/*
 * The input as the payload of a Setup frame, read by a controller of
 * Fields (4: LLVM 19 and 22, 3: 14-16); NULL if it does not decode.
 */
static orcrt_tc *decode_as(const uint8_t *Data, size_t Size, unsigned Fields) {
  int In[2];
  /* Room for the whole frame: the controller reads after it is written. */
  if (pipe2(In, O_CLOEXEC) != 0)
    orcrt_fuzz_fail("pipe2: %s", strerror(errno));
  fcntl(In[1], F_SETPIPE_SZ, 2 << 20);
  uint8_t Header[WIRE_HEADER_SIZE];
  orcrt_wire_encode_header(Header, WIRE_OP_SETUP, 0, 0, Size);
  write_all(In[1], Header, sizeof(Header));
  if (Size)
    write_all(In[1], Data, Size);
  close(In[1]);
  orcrt_tc *TC = controller_on(In[0]);
  orcrt_tc_set_setup_fields(TC, Fields);
  if (orcrt_tc_read_setup(TC) != 0) {
    orcrt_tc_destroy(TC);
    return NULL;
  }
  return TC;
}

int orcrt_fuzz_setup(const uint8_t *Data, size_t Size) {
  signal(SIGPIPE, SIG_IGN);
  if (Size > 1 << 20)
    return 0;
  /* The decoder: as LLVM 19 and 22 read it, else as 14-16 do. */
  orcrt_tc *First = decode_as(Data, Size, 4);
  bool Old = First == NULL;
  if (Old && !(First = decode_as(Data, Size, 3)))
    return 0;

  /*
   * The encoder, for the plain layout of the input's release (byte for
   * byte when canonical) and for the default one read both ways: as 19
   * and 22 read it, and as 14-16 do, behind the pad symbol.
   */
  const struct {
    orc_rt_Protocol Protocol;
    unsigned Fields;
  } Ways[] = {{Old ? orc_rt_Protocol_LLVM14 : orc_rt_Protocol_LLVM19, Old ? 3 : 4},
              {orc_rt_Protocol_Auto, 4},
              {orc_rt_Protocol_Auto, 3}};
  for (size_t W = 0; W < sizeof(Ways) / sizeof(Ways[0]); W++)
    if (!round_trip(Data, Size, First, Ways[W].Protocol, Ways[W].Fields))
      break;
  orcrt_tc_destroy(First);
  return 0;
}

ORCRT_FUZZ_TARGET(orcrt_fuzz_setup)

/*
 * test-sps.c - Simple Packed Serialization: round trips, the exact bytes LLVM
 * 19 puts on the wire (PROTOCOL-LLVM19.md), and decoding that fails cleanly
 * on every truncation of realistic messages
 */
#include "config.h"

#include "test-util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARRAY_SIZE(A) (sizeof(A) / sizeof((A)[0]))

/* ---- expected bytes ---------------------------------------------------- */

/* A byte string built from hex and text pieces. */
typedef struct {
  unsigned char B[4096];
  size_t N;
} Bytes;

/* Append hex digits (whitespace ignored). */
static void bytes_hex(Bytes *X, const char *Hex) {
  int Hi = -1;
  for (const char *P = Hex; *P; P++) {
    int D;
    if (*P >= '0' && *P <= '9')
      D = *P - '0';
    else if (*P >= 'a' && *P <= 'f')
      D = *P - 'a' + 10;
    else
      continue;
    if (Hi < 0) {
      Hi = D;
    } else {
      ck_assert_uint_lt(X->N, sizeof(X->B));
      X->B[X->N++] = (unsigned char)(Hi << 4 | D);
      Hi = -1;
    }
  }
  ck_assert_int_eq(Hi, -1);
}

/* Append the characters of S, no count, no NUL. */
static void bytes_text(Bytes *X, const char *S) {
  size_t L = strlen(S);
  ck_assert_uint_le(L, sizeof(X->B) - X->N);
  memcpy(X->B + X->N, S, L);
  X->N += L;
}

static void dump(char *Out, size_t Cap, const void *Data, size_t N) {
  size_t O = 0;
  Out[0] = '\0';
  for (size_t I = 0; I < N && O + 4 < Cap; I++)
    O += (size_t)snprintf(Out + O, Cap - O, "%02x ", ((const unsigned char *)Data)[I]);
}

/* Assert that the N bytes at Data are exactly X. */
static void assert_bytes_eq(const void *Data, size_t N, const Bytes *X) {
  if (N == X->N && (N == 0 || memcmp(Data, X->B, N) == 0))
    return;
  static char Got[2048], Want[2048];
  dump(Got, sizeof(Got), Data, N);
  dump(Want, sizeof(Want), X->B, X->N);
  ck_abort_msg("bytes differ\n got  (%zu): %s\n want (%zu): %s", N, Got, X->N, Want);
}

static void assert_written(const orc_rt_SPSWriter *W, const char *Hex) {
  Bytes X = {.N = 0};
  bytes_hex(&X, Hex);
  ck_assert(!orc_rt_SPSWriter_failed(W));
  assert_bytes_eq(orc_rt_SPSWriter_data(W), orc_rt_SPSWriter_size(W), &X);
}

/* ---- scalars ----------------------------------------------------------- */

START_TEST(sps_unsigned_integers_round_trip_at_extremes) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u8(&W, 0);
  orc_rt_SPSWriter_u8(&W, UINT8_MAX);
  orc_rt_SPSWriter_u16(&W, UINT16_MAX);
  orc_rt_SPSWriter_u16(&W, 0x1234);
  orc_rt_SPSWriter_u32(&W, UINT32_MAX);
  orc_rt_SPSWriter_u32(&W, 0xdeadbeef);
  orc_rt_SPSWriter_u64(&W, UINT64_MAX);
  orc_rt_SPSWriter_u64(&W, 0x0123456789abcdefULL);
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 1 + 1 + 2 + 2 + 4 + 4 + 8 + 8);

  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  uint8_t U8;
  uint16_t U16;
  uint32_t U32;
  uint64_t U64;
  ck_assert(orc_rt_SPSReader_u8(&R, &U8) && U8 == 0);
  ck_assert(orc_rt_SPSReader_u8(&R, &U8) && U8 == UINT8_MAX);
  ck_assert(orc_rt_SPSReader_u16(&R, &U16) && U16 == UINT16_MAX);
  ck_assert(orc_rt_SPSReader_u16(&R, &U16) && U16 == 0x1234);
  ck_assert(orc_rt_SPSReader_u32(&R, &U32) && U32 == UINT32_MAX);
  ck_assert(orc_rt_SPSReader_u32(&R, &U32) && U32 == 0xdeadbeef);
  ck_assert(orc_rt_SPSReader_u64(&R, &U64) && U64 == UINT64_MAX);
  ck_assert(orc_rt_SPSReader_u64(&R, &U64) && U64 == 0x0123456789abcdefULL);
  ck_assert_uint_eq(orc_rt_SPSReader_remaining(&R), 0);
  ck_assert(orc_rt_SPSReader_ok(&R));
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_signed_integers_round_trip_at_extremes) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_i8(&W, INT8_MIN);
  orc_rt_SPSWriter_i8(&W, -1);
  orc_rt_SPSWriter_i16(&W, INT16_MIN);
  orc_rt_SPSWriter_i16(&W, INT16_MAX);
  orc_rt_SPSWriter_i32(&W, INT32_MIN);
  orc_rt_SPSWriter_i32(&W, -2);
  orc_rt_SPSWriter_i64(&W, INT64_MIN);
  orc_rt_SPSWriter_i64(&W, INT64_MAX);

  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  int8_t I8;
  int16_t I16;
  int32_t I32;
  int64_t I64;
  ck_assert(orc_rt_SPSReader_i8(&R, &I8) && I8 == INT8_MIN);
  ck_assert(orc_rt_SPSReader_i8(&R, &I8) && I8 == -1);
  ck_assert(orc_rt_SPSReader_i16(&R, &I16) && I16 == INT16_MIN);
  ck_assert(orc_rt_SPSReader_i16(&R, &I16) && I16 == INT16_MAX);
  ck_assert(orc_rt_SPSReader_i32(&R, &I32) && I32 == INT32_MIN);
  ck_assert(orc_rt_SPSReader_i32(&R, &I32) && I32 == -2);
  ck_assert(orc_rt_SPSReader_i64(&R, &I64) && I64 == INT64_MIN);
  ck_assert(orc_rt_SPSReader_i64(&R, &I64) && I64 == INT64_MAX);
  ck_assert_uint_eq(orc_rt_SPSReader_remaining(&R), 0);
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_integers_are_little_endian_on_the_wire) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u16(&W, 0x0102);
  orc_rt_SPSWriter_u32(&W, 0x01020304);
  orc_rt_SPSWriter_u64(&W, 0x0102030405060708ULL);
  orc_rt_SPSWriter_i16(&W, -2);
  orc_rt_SPSWriter_i32(&W, -2);
  orc_rt_SPSWriter_i64(&W, INT64_MIN);
  orc_rt_SPSWriter_addr(&W, 0x7fb87988d000ULL);
  assert_written(&W, "0201 04030201 0807060504030201 feff feffffff 0000000000000080"
                     "00d08879b87f0000");
  orc_rt_SPSWriter_dispose(&W);

  Bytes X = {.N = 0};
  bytes_hex(&X, "0201 04030201 0807060504030201 ffff ff7f");
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, X.B, X.N);
  uint16_t U16;
  uint32_t U32;
  uint64_t U64;
  int16_t I16;
  uint16_t U16b;
  ck_assert(orc_rt_SPSReader_u16(&R, &U16) && U16 == 0x0102);
  ck_assert(orc_rt_SPSReader_u32(&R, &U32) && U32 == 0x01020304);
  ck_assert(orc_rt_SPSReader_u64(&R, &U64) && U64 == 0x0102030405060708ULL);
  ck_assert(orc_rt_SPSReader_i16(&R, &I16) && I16 == -1);
  ck_assert(orc_rt_SPSReader_u16(&R, &U16b) && U16b == 0x7fff);
}
END_TEST

START_TEST(sps_bool_writes_zero_or_one_and_reads_nonzero_as_true) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_bool(&W, true);
  orc_rt_SPSWriter_bool(&W, false);
  assert_written(&W, "01 00");
  orc_rt_SPSWriter_dispose(&W);

  static const unsigned char In[] = {0x00, 0x01, 0x02, 0xff};
  static const bool Want[] = {false, true, true, true};
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, In, sizeof(In));
  for (size_t I = 0; I < ARRAY_SIZE(In); I++) {
    bool B = !Want[I];
    ck_assert(orc_rt_SPSReader_bool(&R, &B));
    ck_assert_int_eq(B, Want[I]);
  }
}
END_TEST

START_TEST(sps_addr_range_is_start_then_end) {
  /* llvm_orc_registerJITLoaderGDBWrapper arguments (PROTOCOL §5.9). */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_ExecutorAddrRange Range = {0x7fa300cf0000ULL, 0x7fa300cf0ca0ULL};
  orc_rt_SPSWriter_addrRange(&W, Range);
  orc_rt_SPSWriter_bool(&W, true);
  assert_written(&W, "0000cf00a37f0000 a00ccf00a37f0000 01");

  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  orc_rt_ExecutorAddrRange Got;
  bool Auto = false;
  ck_assert(orc_rt_SPSReader_addrRange(&R, &Got) && orc_rt_SPSReader_bool(&R, &Auto));
  ck_assert_uint_eq(Got.Start, Range.Start);
  ck_assert_uint_eq(Got.End, Range.End);
  ck_assert(Auto);
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

/* ---- strings and byte sequences ---------------------------------------- */

START_TEST(sps_string_is_length_then_bytes_without_nul) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_string(&W, "abc");
  orc_rt_SPSWriter_string(&W, "");
  orc_rt_SPSWriter_string(&W, NULL);
  assert_written(&W, "0300000000000000 616263 0000000000000000 0000000000000000");
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_bytes_read_points_into_the_span_without_copying) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_bytes(&W, "a\0b", 3);
  orc_rt_SPSWriter_bytes(&W, NULL, 0);
  assert_written(&W, "0300000000000000 610062 0000000000000000");

  const char *Span = orc_rt_SPSWriter_data(&W);
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, Span, orc_rt_SPSWriter_size(&W));
  const char *Data = NULL;
  size_t Size = 99;
  ck_assert(orc_rt_SPSReader_bytes(&R, &Data, &Size));
  ck_assert_ptr_eq(Data, Span + 8);
  ck_assert_uint_eq(Size, 3);
  ck_assert(orc_rt_SPSReader_bytes(&R, &Data, &Size));
  ck_assert_uint_eq(Size, 0);
  ck_assert_uint_eq(orc_rt_SPSReader_remaining(&R), 0);
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_string_dup_is_a_nul_terminated_copy_keeping_embedded_nul) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_bytes(&W, "x\0yz", 4);
  orc_rt_SPSWriter_string(&W, "");
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  char *S = NULL, *Empty = NULL;
  ck_assert(orc_rt_SPSReader_stringDup(&R, &S));
  ck_assert(orc_rt_SPSReader_stringDup(&R, &Empty));
  ck_assert_int_eq(memcmp(S, "x\0yz", 5), 0); /* the four bytes and a NUL */
  ck_assert_str_eq(Empty, "");
  /* A copy: the span may go away. */
  orc_rt_SPSWriter_dispose(&W);
  ck_assert_int_eq(S[3], 'z');
  free(S);
  free(Empty);
}
END_TEST

START_TEST(sps_raw_has_no_count_and_skip_consumes_bytes) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_raw(&W, "\x01\x02", 2);
  orc_rt_SPSWriter_raw(&W, NULL, 0);
  orc_rt_SPSWriter_u8(&W, 3);
  assert_written(&W, "01 02 03");
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  uint8_t V;
  ck_assert(orc_rt_SPSReader_skip(&R, 2));
  ck_assert(orc_rt_SPSReader_u8(&R, &V) && V == 3);
  ck_assert(!orc_rt_SPSReader_skip(&R, 1));
  ck_assert(!orc_rt_SPSReader_ok(&R));
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_nested_composites_round_trip) {
  /* tuple(Optional<u32>, Optional<u32>, Sequence<Sequence<u16>>, Map<String, Addr>) */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_bool(&W, true);
  orc_rt_SPSWriter_u32(&W, 7);
  orc_rt_SPSWriter_bool(&W, false);
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_u16(&W, 0xabcd);
  orc_rt_SPSWriter_seqCount(&W, 0);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_string(&W, "k");
  orc_rt_SPSWriter_addr(&W, 0x1000);
  assert_written(&W, "01 07000000 00"
                     "0200000000000000 0100000000000000 cdab 0000000000000000"
                     "0100000000000000 0100000000000000 6b 0010000000000000");

  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  bool Present;
  uint32_t V;
  uint64_t Outer, Inner;
  uint16_t E;
  const char *Key;
  size_t KeySize;
  orc_rt_ExecutorAddr A;
  ck_assert(orc_rt_SPSReader_bool(&R, &Present) && Present);
  ck_assert(orc_rt_SPSReader_u32(&R, &V) && V == 7);
  ck_assert(orc_rt_SPSReader_bool(&R, &Present) && !Present);
  ck_assert(orc_rt_SPSReader_seqCount(&R, 8, &Outer) && Outer == 2);
  ck_assert(orc_rt_SPSReader_seqCount(&R, 2, &Inner) && Inner == 1);
  ck_assert(orc_rt_SPSReader_u16(&R, &E) && E == 0xabcd);
  ck_assert(orc_rt_SPSReader_seqCount(&R, 2, &Inner) && Inner == 0);
  ck_assert(orc_rt_SPSReader_seqCount(&R, 16, &Outer) && Outer == 1);
  ck_assert(orc_rt_SPSReader_bytes(&R, &Key, &KeySize));
  ck_assert(KeySize == 1 && Key[0] == 'k');
  ck_assert(orc_rt_SPSReader_addr(&R, &A) && A == 0x1000);
  ck_assert_uint_eq(orc_rt_SPSReader_remaining(&R), 0);
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

/* ---- SPSError and SPSExpected ------------------------------------------ */

START_TEST(sps_error_matches_wire_examples) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_errorSuccess(&W);
  assert_written(&W, "00");
  orc_rt_SPSWriter_dispose(&W);

  orc_rt_SPSWriter_errorFailure(&W, "finalize-failed-injected");
  Bytes X = {.N = 0};
  bytes_hex(&X, "01 1800000000000000");
  bytes_text(&X, "finalize-failed-injected");
  assert_bytes_eq(orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W), &X);
  orc_rt_SPSWriter_dispose(&W);

  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, X.B, X.N);
  bool IsFailure = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  ck_assert(orc_rt_SPSReader_error(&R, &IsFailure, &Msg, &MsgSize));
  ck_assert(IsFailure);
  ck_assert_ptr_eq(Msg, (const char *)X.B + 9);
  ck_assert_uint_eq(MsgSize, 24);
}
END_TEST

START_TEST(sps_error_from_error_ref_encodes_and_consumes_it) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_error(&W, NULL);
  orc_rt_SPSWriter_error(&W, orc_rt_Error_create("e%d", 1));
  assert_written(&W, "00 01 0200000000000000 6531");
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_expected_matches_wire_examples) {
  static const char Msg[] =
      "/nonexistent/libfoo.so: cannot open shared object file: No such file or directory";
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_expectedValue(&W);
  orc_rt_SPSWriter_addr(&W, 0x7fb87988d000ULL);
  assert_written(&W, "01 00 d0 88 79 b8 7f 00 00");
  orc_rt_SPSWriter_dispose(&W);

  Bytes X = {.N = 0};
  bytes_hex(&X, "00 5100000000000000");
  bytes_text(&X, Msg);
  orc_rt_SPSWriter_expectedFailure(&W, Msg);
  assert_bytes_eq(orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W), &X);
  orc_rt_SPSWriter_dispose(&W);
  orc_rt_SPSWriter_expectedError(&W, orc_rt_Error_create("%s", Msg));
  assert_bytes_eq(orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W), &X);
  orc_rt_SPSWriter_dispose(&W);

  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, X.B, X.N);
  bool HasValue = true;
  const char *Got = NULL;
  size_t GotSize = 0;
  ck_assert(orc_rt_SPSReader_expected(&R, &HasValue, &Got, &GotSize));
  ck_assert(!HasValue);
  ck_assert_uint_eq(GotSize, strlen(Msg));
  ck_assert_int_eq(memcmp(Got, Msg, GotSize), 0);
}
END_TEST

START_TEST(sps_error_and_expected_have_opposite_polarity) {
  /* 01 + "x": an SPSError failure, but an SPSExpected value followed by its T. */
  static const unsigned char One[] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 'x'};
  /* 00 + "x": an SPSError success (then trailing bytes), an SPSExpected failure. */
  static const unsigned char Zero[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 'x'};
  orc_rt_SPSReader R;
  bool Flag;
  const char *Msg;
  size_t MsgSize;

  orc_rt_SPSReader_init(&R, One, sizeof(One));
  ck_assert(orc_rt_SPSReader_error(&R, &Flag, &Msg, &MsgSize));
  ck_assert(Flag); /* failure */
  ck_assert(MsgSize == 1 && Msg[0] == 'x');
  orc_rt_SPSReader_init(&R, One, sizeof(One));
  ck_assert(orc_rt_SPSReader_expected(&R, &Flag, &Msg, &MsgSize));
  ck_assert(Flag); /* has a value */
  ck_assert_uint_eq(orc_rt_SPSReader_remaining(&R), 9);

  orc_rt_SPSReader_init(&R, Zero, sizeof(Zero));
  ck_assert(orc_rt_SPSReader_error(&R, &Flag, &Msg, &MsgSize));
  ck_assert(!Flag); /* success */
  ck_assert_uint_eq(orc_rt_SPSReader_remaining(&R), 9);
  orc_rt_SPSReader_init(&R, Zero, sizeof(Zero));
  ck_assert(orc_rt_SPSReader_expected(&R, &Flag, &Msg, &MsgSize));
  ck_assert(!Flag); /* an error */
  ck_assert(MsgSize == 1 && Msg[0] == 'x');

  /* And the writers agree. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_errorSuccess(&W);
  orc_rt_SPSWriter_expectedValue(&W);
  orc_rt_SPSWriter_errorFailure(&W, "x");
  orc_rt_SPSWriter_expectedFailure(&W, "x");
  assert_written(&W, "00 01 01 0100000000000000 78 00 0100000000000000 78");
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

/* ---- calls captured on the wire ---------------------------------------- */

START_TEST(sps_open_call_matches_wire_example) {
  /* PROTOCOL §5.1: open(Instance, "", 0) -> Expected<Addr>. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, 0x55e62097ca60ULL);
  orc_rt_SPSWriter_string(&W, "");
  orc_rt_SPSWriter_u64(&W, 0);
  assert_written(&W, "60ca9720e6550000 0000000000000000 0000000000000000");

  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  orc_rt_ExecutorAddr Instance;
  const char *Path;
  size_t PathSize;
  uint64_t Mode = 1;
  ck_assert(orc_rt_SPSReader_addr(&R, &Instance) && Instance == 0x55e62097ca60ULL);
  ck_assert(orc_rt_SPSReader_bytes(&R, &Path, &PathSize) && PathSize == 0);
  ck_assert(orc_rt_SPSReader_u64(&R, &Mode) && Mode == 0);
  orc_rt_SPSWriter_dispose(&W);

  orc_rt_SPSWriter_expectedValue(&W);
  orc_rt_SPSWriter_addr(&W, 0x7fb8798cd2e0ULL);
  assert_written(&W, "01 e0d28c79b87f0000");
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_lookup_call_matches_wire_example) {
  /* PROTOCOL §5.2: lookup(Instance, Handle, [("printf", false)]). */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, 0x55e62097ca60ULL);
  orc_rt_SPSWriter_addr(&W, 0x7fb8798cd2e0ULL);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_string(&W, "printf");
  orc_rt_SPSWriter_bool(&W, false);
  assert_written(&W, "60ca9720e6550000 e0d28c79b87f0000 0100000000000000 0600000000000000"
                     "7072696e7466 00");
  orc_rt_SPSWriter_dispose(&W);

  /* -> Expected<Sequence<(Addr, (Flags, TargetFlags))>> */
  orc_rt_SPSWriter_expectedValue(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, 0x7fb877e705b0ULL);
  orc_rt_SPSWriter_u8(&W, 0x10);
  orc_rt_SPSWriter_u8(&W, 0);
  assert_written(&W, "01 0100000000000000 b005e777b87f0000 10 00");
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_run_as_main_call_matches_wire_example) {
  /* PROTOCOL §5.7: run_as_main(Fn, Args) -> int64. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, 0x7fb87988e000ULL);
  orc_rt_SPSWriter_seqCount(&W, 0);
  assert_written(&W, "00e08879b87f0000 0000000000000000");
  orc_rt_SPSWriter_dispose(&W);

  orc_rt_SPSWriter_addr(&W, 0x7f84d5ca1000ULL);
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_string(&W, "a1");
  orc_rt_SPSWriter_string(&W, "a2");
  assert_written(&W, "0010cad5847f0000 0200000000000000 0200000000000000 6131"
                     "0200000000000000 6132");
  orc_rt_SPSWriter_dispose(&W);

  orc_rt_SPSWriter_i64(&W, 42);
  assert_written(&W, "2a00000000000000");
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_setup_frame_start_matches_wire_example) {
  /* PROTOCOL §4.2: the first 0x93 bytes of llvm-jitlink-executor's Setup. */
  static const char Main[] = "__llvm_orc_bootstrap_run_as_main_wrapper";
  static const char Instance[] = "__llvm_orc_SimpleExecutorDylibManager_Instance";
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u64(&W, 0x652); /* MsgSize */
  orc_rt_SPSWriter_u64(&W, 0);     /* OpC = Setup */
  orc_rt_SPSWriter_u64(&W, 0);     /* SeqNo */
  orc_rt_SPSWriter_u64(&W, 0);     /* TagAddr */
  orc_rt_SPSWriter_string(&W, "x86_64-pc-linux-gnu");
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0x3b);
  orc_rt_SPSWriter_u64(&W, 4096);
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0x43);
  orc_rt_SPSWriter_seqCount(&W, 0); /* BootstrapMap */
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0x4b);
  orc_rt_SPSWriter_seqCount(&W, 24); /* BootstrapSymbols */
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0x53);
  orc_rt_SPSWriter_string(&W, Main);
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0x83);
  orc_rt_SPSWriter_addr(&W, 0x55e5e66bb790ULL);
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0x8b);
  orc_rt_SPSWriter_string(&W, Instance);

  Bytes X = {.N = 0};
  bytes_hex(&X, "52 06 00 00 00 00 00 00  00 00 00 00 00 00 00 00"
                "00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00"
                "13 00 00 00 00 00 00 00");
  bytes_text(&X, "x86_64-pc-linux-gnu");
  bytes_hex(&X, "00 10 00 00 00 00 00 00  00 00 00 00 00 00 00 00"
                "18 00 00 00 00 00 00 00  28 00 00 00 00 00 00 00");
  bytes_text(&X, Main);
  bytes_hex(&X, "90 b7 6b e6 e5 55 00 00  2e 00 00 00 00 00 00 00");
  bytes_text(&X, Instance);
  assert_bytes_eq(orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W), &X);
  /* The dump's own checkpoints. */
  ck_assert_int_eq(X.B[0x28], 0x78);
  ck_assert_int_eq(X.B[0x3a], 0x75);
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_finalize_actions_match_lli_wire_example) {
  /* PROTOCOL §5.4: the actions tail of lli's finalize request, one pair of
     EH-frame (de)registration calls, each with an SPS range as arguments. */
  orc_rt_ExecutorAddrRange EH = {0x7f0c1062e010ULL, 0x7f0c1062e054ULL};
  orc_rt_SPSWriter Args;
  orc_rt_SPSWriter_init(&Args);
  orc_rt_SPSWriter_addrRange(&Args, EH);

  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, 0x5606be91b400ULL);
  orc_rt_SPSWriter_bytes(&W, orc_rt_SPSWriter_data(&Args), orc_rt_SPSWriter_size(&Args));
  orc_rt_SPSWriter_addr(&W, 0x5606be91b4d0ULL);
  orc_rt_SPSWriter_bytes(&W, orc_rt_SPSWriter_data(&Args), orc_rt_SPSWriter_size(&Args));
  assert_written(&W, "01000000 00000000 00b4 91be 0656 0000 1000 0000 0000 0000"
                     "10e0 6210 0c7f 0000 54e0 6210 0c7f 0000"
                     "d0b4 91be 0656 0000 1000 0000 0000 0000"
                     "10e0 6210 0c7f 0000 54e0 6210 0c7f 0000");
  orc_rt_SPSWriter_dispose(&W);
  orc_rt_SPSWriter_dispose(&Args);
}
END_TEST

/* ---- counts that cannot be trusted ------------------------------------- */

START_TEST(sps_seq_count_rejects_huge_count_without_allocating) {
  /*
   * A count of 2^60 (or 2^64 - 1) followed by a few bytes. Nothing may be
   * sized by it: under ASan, an attempt to allocate that much aborts the
   * test ("requested allocation size exceeds maximum supported size").
   */
  static const uint64_t Counts[] = {1ULL << 60, UINT64_MAX};
  for (size_t I = 0; I < ARRAY_SIZE(Counts); I++) {
    orc_rt_SPSWriter W;
    orc_rt_SPSWriter_init(&W);
    orc_rt_SPSWriter_u64(&W, Counts[I]);
    orc_rt_SPSWriter_raw(&W, "0123456789abcdef", 16);
    const char *Data = orc_rt_SPSWriter_data(&W);
    size_t Size = orc_rt_SPSWriter_size(&W);
    orc_rt_SPSReader R;

    uint64_t N = 77;
    orc_rt_SPSReader_init(&R, Data, Size);
    ck_assert(!orc_rt_SPSReader_seqCount(&R, 1, &N));
    ck_assert(!orc_rt_SPSReader_ok(&R));
    ck_assert_uint_eq(N, 77);

    const char *Got = NULL;
    size_t BytesSize = 77;
    orc_rt_SPSReader_init(&R, Data, Size);
    ck_assert(!orc_rt_SPSReader_bytes(&R, &Got, &BytesSize));
    ck_assert(Got == NULL && BytesSize == 77);

    char *S = NULL;
    orc_rt_SPSReader_init(&R, Data, Size);
    ck_assert(!orc_rt_SPSReader_stringDup(&R, &S));
    ck_assert_ptr_null(S);
    ck_assert(!orc_rt_SPSReader_ok(&R));
    orc_rt_SPSWriter_dispose(&W);
  }
}
END_TEST

START_TEST(sps_seq_count_rejects_count_whose_byte_size_wraps) {
  /* 2^61 elements of 8 bytes: the product wraps to 0 in 64 bits. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u64(&W, 1ULL << 61);
  orc_rt_SPSWriter_raw(&W, "0123456789abcdef", 16);
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  uint64_t N = 77;
  ck_assert(!orc_rt_SPSReader_seqCount(&R, 8, &N));
  ck_assert_uint_eq(N, 77);
  /* One element of an absurd minimum size: also rejected, no overflow. */
  orc_rt_SPSWriter_dispose(&W);
  orc_rt_SPSWriter_u64(&W, 1);
  orc_rt_SPSWriter_raw(&W, "0123456789abcdef", 16);
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  ck_assert(!orc_rt_SPSReader_seqCount(&R, SIZE_MAX, &N));
  ck_assert_uint_eq(N, 77);
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_seq_count_accepts_count_that_exactly_fits) {
  unsigned char Buf[8 + 18];
  memset(Buf, 0, sizeof(Buf));
  orc_rt_SPSReader R;
  uint64_t N = 0;
  /* 18 bytes remain: two 9-byte elements fit, three do not. */
  Buf[0] = 2;
  orc_rt_SPSReader_init(&R, Buf, sizeof(Buf));
  ck_assert(orc_rt_SPSReader_seqCount(&R, 9, &N) && N == 2);
  Buf[0] = 3;
  orc_rt_SPSReader_init(&R, Buf, sizeof(Buf));
  ck_assert(!orc_rt_SPSReader_seqCount(&R, 9, &N) && N == 2);
  /* MinElemSize 0 counts as 1. */
  Buf[0] = 18;
  orc_rt_SPSReader_init(&R, Buf, sizeof(Buf));
  ck_assert(orc_rt_SPSReader_seqCount(&R, 0, &N) && N == 18);
  Buf[0] = 19;
  orc_rt_SPSReader_init(&R, Buf, sizeof(Buf));
  ck_assert(!orc_rt_SPSReader_seqCount(&R, 0, &N) && N == 18);
  /* An empty sequence fits anywhere, whatever its element size. */
  Buf[0] = 0;
  orc_rt_SPSReader_init(&R, Buf, 8);
  ck_assert(orc_rt_SPSReader_seqCount(&R, SIZE_MAX, &N) && N == 0);
}
END_TEST

START_TEST(sps_reader_failure_is_sticky_and_leaves_outputs_untouched) {
  static const unsigned char Three[] = {1, 2, 3};
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, Three, sizeof(Three));
  uint32_t U32 = 77;
  ck_assert(!orc_rt_SPSReader_u32(&R, &U32));
  ck_assert_uint_eq(U32, 77);
  /* The three bytes are there, but the reader has failed for good. */
  uint8_t U8 = 77;
  ck_assert(!orc_rt_SPSReader_u8(&R, &U8));
  ck_assert_uint_eq(U8, 77);
  ck_assert(!orc_rt_SPSReader_ok(&R));

  /* Every reader given one byte too few: false, output untouched. */
  static const unsigned char Src[] = {1, 5, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 'd'};
  const unsigned char *Msg = Src + 1; /* a count of 5 with only 4 bytes after it */
  uint16_t U16 = 77;
  uint64_t U64 = 77;
  int8_t I8 = 77;
  int16_t I16 = 77;
  int32_t I32 = 77;
  int64_t I64 = 77;
  bool B = true;
  orc_rt_ExecutorAddr A = 77;
  const char *P = NULL;
  size_t PSize = 77;
  char *S = NULL;
#define SHORT(Data, N, Call)                                                                       \
  do {                                                                                             \
    orc_rt_SPSReader_init(&R, (Data), (N));                                                        \
    ck_assert(!(Call));                                                                            \
    ck_assert(!orc_rt_SPSReader_ok(&R));                                                           \
  } while (0)
  SHORT(Src, 1, orc_rt_SPSReader_u16(&R, &U16));
  SHORT(Src, 7, orc_rt_SPSReader_u64(&R, &U64));
  SHORT(Src, 0, orc_rt_SPSReader_i8(&R, &I8));
  SHORT(Src, 1, orc_rt_SPSReader_i16(&R, &I16));
  SHORT(Src, 3, orc_rt_SPSReader_i32(&R, &I32));
  SHORT(Src, 7, orc_rt_SPSReader_i64(&R, &I64));
  SHORT(Src, 0, orc_rt_SPSReader_bool(&R, &B));
  SHORT(Src, 7, orc_rt_SPSReader_addr(&R, &A));
  SHORT(Src, 7, orc_rt_SPSReader_seqCount(&R, 1, &U64));
  SHORT(Msg, 12, orc_rt_SPSReader_bytes(&R, &P, &PSize));
  SHORT(Msg, 12, orc_rt_SPSReader_stringDup(&R, &S));
  SHORT(Src, sizeof(Src), orc_rt_SPSReader_error(&R, &B, &P, &PSize));
  SHORT(Src, 4, orc_rt_SPSReader_skip(&R, 5));
#undef SHORT
  ck_assert(U16 == 77 && U64 == 77 && I8 == 77 && I16 == 77 && I32 == 77 && I64 == 77);
  ck_assert(B && A == 77 && P == NULL && PSize == 77 && S == NULL);
  /* An SPSExpected failure (00) whose message is one byte short. */
  unsigned char Zero[sizeof(Src)];
  memcpy(Zero, Src, sizeof(Src));
  Zero[0] = 0;
  orc_rt_SPSReader_init(&R, Zero, sizeof(Zero));
  ck_assert(!orc_rt_SPSReader_expected(&R, &B, &P, &PSize));
  ck_assert(B && P == NULL && PSize == 77);

  /* A reader over nothing at all. */
  orc_rt_SPSReader_init(&R, NULL, 0);
  ck_assert(orc_rt_SPSReader_skip(&R, 0));
  ck_assert(!orc_rt_SPSReader_u8(&R, &U8));

  /* A range needs both ends: with only Start present it is left alone. */
  unsigned char Eight[8] = {1};
  orc_rt_ExecutorAddrRange Range = {77, 77};
  orc_rt_SPSReader_init(&R, Eight, sizeof(Eight));
  ck_assert(!orc_rt_SPSReader_addrRange(&R, &Range));
  ck_assert(Range.Start == 77 && Range.End == 77);
}
END_TEST

/* ---- the writer's buffer ----------------------------------------------- */

START_TEST(sps_writer_grows_geometrically_over_many_writes) {
  enum { N = 100000 };
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  unsigned Growths = 0;
  size_t Capacity = 0;
  for (uint32_t I = 0; I < N; I++) {
    orc_rt_SPSWriter_u32(&W, I);
    if (W.Capacity != Capacity) {
      Growths++;
      Capacity = W.Capacity;
    }
  }
  /* Doubling from any start: about log2(400000 / start) growths. */
  ck_assert_uint_le(Growths, 20);
  ck_assert_uint_ge(W.Capacity, W.Size);
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 4 * (size_t)N);
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
  for (uint32_t I = 0; I < N; I++) {
    uint32_t V;
    if (!orc_rt_SPSReader_u32(&R, &V) || V != I)
      ck_abort_msg("element %u reads back wrong", I);
  }
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_writer_overflowing_reserve_fails_and_sticks) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_u32(&W, 7);
  ck_assert(!orc_rt_SPSWriter_reserve(&W, SIZE_MAX)); /* Size + N wraps */
  ck_assert(orc_rt_SPSWriter_failed(&W));
  orc_rt_SPSWriter_u32(&W, 8);
  orc_rt_SPSWriter_string(&W, "ignored");
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 4);
  ck_assert(!orc_rt_SPSWriter_reserve(&W, 0));

  orc_rt_WrapperFunctionBuffer B = orc_rt_SPSWriter_finish(&W);
  ck_assert_str_eq(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&B), "out of memory");
  orc_rt_WrapperFunctionBuffer_dispose(&B);
  /* finish reset W: it works again. */
  ck_assert(!orc_rt_SPSWriter_failed(&W));
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0);
  orc_rt_SPSWriter_u8(&W, 5);
  assert_written(&W, "05");
  orc_rt_SPSWriter_dispose(&W);

  /* Sizes no object can have fail without asking the allocator. */
  ck_assert(!orc_rt_SPSWriter_reserve(&W, (size_t)PTRDIFF_MAX + 1));
  orc_rt_SPSWriter_dispose(&W);
  static const char Dummy[1];
  orc_rt_SPSWriter_bytes(&W, Dummy, SIZE_MAX - 3); /* count + bytes wraps */
  ck_assert(orc_rt_SPSWriter_failed(&W));
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0);
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

START_TEST(sps_writer_finish_is_inline_up_to_pointer_size_then_heap) {
  static const size_t Sizes[] = {0, 1, sizeof(char *), sizeof(char *) + 1, 1000};
  for (size_t I = 0; I < ARRAY_SIZE(Sizes); I++) {
    size_t Size = Sizes[I];
    orc_rt_SPSWriter W;
    orc_rt_SPSWriter_init(&W);
    for (size_t J = 0; J < Size; J++)
      orc_rt_SPSWriter_u8(&W, (uint8_t)(J * 7));
    const char *Written = orc_rt_SPSWriter_data(&W);
    orc_rt_WrapperFunctionBuffer B = orc_rt_SPSWriter_finish(&W);

    ck_assert_uint_eq(orc_rt_WrapperFunctionBuffer_size(&B), Size);
    ck_assert_ptr_null(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&B));
    if (Size == 0) {
      ck_assert(orc_rt_WrapperFunctionBuffer_isEmpty(&B));
    } else if (Size <= sizeof(char *)) {
      ck_assert_ptr_eq(orc_rt_WrapperFunctionBuffer_data(&B), B.Data.Value);
    } else {
      /* The writer's block is handed over, not copied. */
      ck_assert_ptr_eq(B.Data.ValuePtr, Written);
    }
    for (size_t J = 0; J < Size; J++)
      ck_assert_uint_eq((uint8_t)orc_rt_WrapperFunctionBuffer_data(&B)[J], (uint8_t)(J * 7));
    /* W is empty again and owns nothing. */
    ck_assert_ptr_null(orc_rt_SPSWriter_data(&W));
    ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0);
    ck_assert(!orc_rt_SPSWriter_failed(&W));
    /* A heap block is the caller's to free() (ASan: it came from malloc). */
    if (Size > sizeof(char *))
      free(B.Data.ValuePtr);
  }
}
END_TEST

START_TEST(sps_writer_dispose_releases_and_allows_reuse) {
  /* LeakSanitizer fails this test if dispose keeps the block. */
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  ck_assert_ptr_null(orc_rt_SPSWriter_data(&W)); /* init allocates nothing */
  orc_rt_SPSWriter_raw(&W, NULL, 0);             /* nor does writing nothing */
  ck_assert_ptr_null(orc_rt_SPSWriter_data(&W));
  for (int I = 0; I < 1000; I++)
    orc_rt_SPSWriter_u64(&W, (uint64_t)I);
  orc_rt_SPSWriter_dispose(&W);
  ck_assert_ptr_null(orc_rt_SPSWriter_data(&W));
  ck_assert_uint_eq(orc_rt_SPSWriter_size(&W), 0);
  orc_rt_SPSWriter_u16(&W, 0xbeef);
  assert_written(&W, "efbe");
  orc_rt_SPSWriter_dispose(&W);
}
END_TEST

/* ---- realistic messages: encoders, decoders, truncations --------------- */

/* lookup(Instance, Handle, Sequence<(String Name, bool Required)>) */
typedef struct {
  orc_rt_ExecutorAddr Instance, Handle;
  uint64_t Count;
  char **Names; /* decoded with stringDup */
  bool *Required;
} LookupRequest;

static void lookup_request_encode(orc_rt_SPSWriter *W, const void *Msg) {
  const LookupRequest *L = Msg;
  orc_rt_SPSWriter_addr(W, L->Instance);
  orc_rt_SPSWriter_addr(W, L->Handle);
  orc_rt_SPSWriter_seqCount(W, L->Count);
  for (uint64_t I = 0; I < L->Count; I++) {
    orc_rt_SPSWriter_string(W, L->Names[I]);
    orc_rt_SPSWriter_bool(W, L->Required[I]);
  }
}

static void lookup_request_free(void *Msg) {
  LookupRequest *L = Msg;
  for (uint64_t I = 0; L->Names && I < L->Count; I++)
    free(L->Names[I]);
  free(L->Names);
  free(L->Required);
}

static bool lookup_request_decode(orc_rt_SPSReader *R, void *Out) {
  LookupRequest L = {0};
  if (!orc_rt_SPSReader_addr(R, &L.Instance) || !orc_rt_SPSReader_addr(R, &L.Handle) ||
      !orc_rt_SPSReader_seqCount(R, 8 + 1, &L.Count))
    return false;
  /* Sizing by the count is safe: seqCount bounded it by the bytes left. */
  L.Names = calloc(L.Count + 1, sizeof(*L.Names));
  L.Required = calloc(L.Count + 1, sizeof(*L.Required));
  ck_assert(L.Names && L.Required);
  for (uint64_t I = 0; I < L.Count; I++)
    if (!orc_rt_SPSReader_stringDup(R, &L.Names[I]) || !orc_rt_SPSReader_bool(R, &L.Required[I]))
      goto fail;
  *(LookupRequest *)Out = L;
  return true;
fail:
  lookup_request_free(&L);
  return false;
}

static char *LookupNames[] = {"printf", "__cxa_throw", "_ZTISt9exception", "",
                              "llvm_orc_registerJITLoaderGDBWrapper"};
static bool LookupRequired[] = {false, false, true, false, true};
static const LookupRequest LookupSample = {.Instance = 0x55e62097ca60ULL,
                                           .Handle = 0x7fb8798cd2e0ULL,
                                           .Count = ARRAY_SIZE(LookupNames),
                                           .Names = LookupNames,
                                           .Required = LookupRequired};

/* Expected<Sequence<(Addr, (uint8 Flags, uint8 TargetFlags))>> */
typedef struct {
  bool HasValue;
  const char *Msg; /* points into the span */
  size_t MsgSize;
  uint64_t Count;
  struct SymbolDef {
    orc_rt_ExecutorAddr Addr;
    uint8_t Flags, TargetFlags;
  } * Defs;
} LookupReply;

static void lookup_reply_encode(orc_rt_SPSWriter *W, const void *Msg) {
  const LookupReply *L = Msg;
  if (!L->HasValue) {
    /* The message is a counted span (decoded ones have no NUL). */
    orc_rt_SPSWriter_u8(W, 0);
    orc_rt_SPSWriter_bytes(W, L->Msg, L->MsgSize);
    return;
  }
  orc_rt_SPSWriter_expectedValue(W);
  orc_rt_SPSWriter_seqCount(W, L->Count);
  for (uint64_t I = 0; I < L->Count; I++) {
    orc_rt_SPSWriter_addr(W, L->Defs[I].Addr);
    orc_rt_SPSWriter_u8(W, L->Defs[I].Flags);
    orc_rt_SPSWriter_u8(W, L->Defs[I].TargetFlags);
  }
}

static void lookup_reply_free(void *Msg) {
  free(((LookupReply *)Msg)->Defs);
}

static bool lookup_reply_decode(orc_rt_SPSReader *R, void *Out) {
  LookupReply L = {0};
  if (!orc_rt_SPSReader_expected(R, &L.HasValue, &L.Msg, &L.MsgSize))
    return false;
  if (L.HasValue) {
    if (!orc_rt_SPSReader_seqCount(R, 10, &L.Count))
      return false;
    L.Defs = calloc(L.Count + 1, sizeof(*L.Defs));
    ck_assert_ptr_nonnull(L.Defs);
    for (uint64_t I = 0; I < L.Count; I++)
      if (!orc_rt_SPSReader_addr(R, &L.Defs[I].Addr) || !orc_rt_SPSReader_u8(R, &L.Defs[I].Flags) ||
          !orc_rt_SPSReader_u8(R, &L.Defs[I].TargetFlags))
        goto fail;
  }
  *(LookupReply *)Out = L;
  return true;
fail:
  lookup_reply_free(&L);
  return false;
}

static struct SymbolDef LookupDefs[] = {
    {0x7fb877e705b0ULL, 0x10, 0}, {0, 0x10, 0}, {0x7fb877f01234ULL, 0x30, 0}};
static const LookupReply LookupReplySample = {
    .HasValue = true, .Count = ARRAY_SIZE(LookupDefs), .Defs = LookupDefs};
static const LookupReply LookupReplyErrorSample = {
    .HasValue = false, .Msg = "Missing definition for printf", .MsgSize = 29};

/* finalize(Instance, (Sequence<Segment>, Sequence<(Call Finalize, Call Dealloc)>)) */
typedef struct {
  const char *Data; /* points into the span */
  size_t Size;
} Span;

typedef struct {
  uint8_t Prot;
  orc_rt_ExecutorAddr Addr;
  uint64_t Size;
  Span Content;
} Segment;

typedef struct {
  orc_rt_ExecutorAddr Fn;
  Span Args;
} Call;

typedef struct {
  orc_rt_ExecutorAddr Instance;
  uint64_t NumSegments;
  Segment *Segments;
  uint64_t NumActions;
  Call (*Actions)[2];
} FinalizeRequest;

static void finalize_request_encode(orc_rt_SPSWriter *W, const void *Msg) {
  const FinalizeRequest *F = Msg;
  orc_rt_SPSWriter_addr(W, F->Instance);
  orc_rt_SPSWriter_seqCount(W, F->NumSegments);
  for (uint64_t I = 0; I < F->NumSegments; I++) {
    const Segment *S = &F->Segments[I];
    orc_rt_SPSWriter_u8(W, S->Prot);
    orc_rt_SPSWriter_addr(W, S->Addr);
    orc_rt_SPSWriter_u64(W, S->Size);
    orc_rt_SPSWriter_bytes(W, S->Content.Data, S->Content.Size);
  }
  orc_rt_SPSWriter_seqCount(W, F->NumActions);
  for (uint64_t I = 0; I < F->NumActions; I++)
    for (int J = 0; J < 2; J++) {
      orc_rt_SPSWriter_addr(W, F->Actions[I][J].Fn);
      orc_rt_SPSWriter_bytes(W, F->Actions[I][J].Args.Data, F->Actions[I][J].Args.Size);
    }
}

static void finalize_request_free(void *Msg) {
  FinalizeRequest *F = Msg;
  free(F->Segments);
  free(F->Actions);
}

static bool finalize_request_decode(orc_rt_SPSReader *R, void *Out) {
  FinalizeRequest F = {0};
  if (!orc_rt_SPSReader_addr(R, &F.Instance) ||
      !orc_rt_SPSReader_seqCount(R, 1 + 8 + 8 + 8, &F.NumSegments))
    return false;
  F.Segments = calloc(F.NumSegments + 1, sizeof(*F.Segments));
  ck_assert_ptr_nonnull(F.Segments);
  for (uint64_t I = 0; I < F.NumSegments; I++) {
    Segment *S = &F.Segments[I];
    if (!orc_rt_SPSReader_u8(R, &S->Prot) || !orc_rt_SPSReader_addr(R, &S->Addr) ||
        !orc_rt_SPSReader_u64(R, &S->Size) ||
        !orc_rt_SPSReader_bytes(R, &S->Content.Data, &S->Content.Size))
      goto fail;
  }
  if (!orc_rt_SPSReader_seqCount(R, 2 * (8 + 8), &F.NumActions))
    goto fail;
  F.Actions = calloc(F.NumActions + 1, sizeof(*F.Actions));
  ck_assert_ptr_nonnull(F.Actions);
  for (uint64_t I = 0; I < F.NumActions; I++)
    for (int J = 0; J < 2; J++)
      if (!orc_rt_SPSReader_addr(R, &F.Actions[I][J].Fn) ||
          !orc_rt_SPSReader_bytes(R, &F.Actions[I][J].Args.Data, &F.Actions[I][J].Args.Size))
        goto fail;
  *(FinalizeRequest *)Out = F;
  return true;
fail:
  finalize_request_free(&F);
  return false;
}

static const char RangeArgs[16] = "\x10\xe0\x62\x10\x0c\x7f\x00\x00\x54\xe0\x62\x10\x0c\x7f\x00";
static Segment FinalizeSegments[] = {
    {0x05,
     0x7f0c10620000ULL,
     57,
     {"\x55\x48\x89\xe5\x48\x83\xec\x10\xc7\x45\xfc\x00\x00\x00\x00"
      "\x48\x8d\x3d\x00\x00\x00\x00\xb0\x00\xe8\x00\x00\x00\x00\xb8"
      "\x2a\x00\x00\x00\x48\x83\xc4\x10\x5d\xc3\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
      57}},
    {0x01, 0x7f0c10621000ULL, 84, {"hello, world\n", 14}},
    {0x03, 0x7f0c10622000ULL, 0, {"", 0}},
};
static Call FinalizeActions[][2] = {
    {{0x5606be91b400ULL, {RangeArgs, 16}}, {0x5606be91b4d0ULL, {RangeArgs, 16}}},
    {{0x5606be91c000ULL, {"\x01\x02\x03", 3}}, {0, {"", 0}}},
};
static const FinalizeRequest FinalizeSample = {.Instance = 0x55e62097ca70ULL,
                                               .NumSegments = ARRAY_SIZE(FinalizeSegments),
                                               .Segments = FinalizeSegments,
                                               .NumActions = ARRAY_SIZE(FinalizeActions),
                                               .Actions = FinalizeActions};

/* Setup: (String Triple, uint64 PageSize, Sequence<(String, Sequence<char>)>,
   Sequence<(String, Addr)>) */
typedef struct {
  char *Triple; /* decoded with stringDup */
  uint64_t PageSize;
  uint64_t NumMap;
  struct MapEntry {
    Span Key, Value;
  } * Map;
  uint64_t NumSymbols;
  struct SymbolEntry {
    char *Name; /* decoded with stringDup */
    orc_rt_ExecutorAddr Addr;
  } * Symbols;
} Setup;

static void setup_encode(orc_rt_SPSWriter *W, const void *Msg) {
  const Setup *S = Msg;
  orc_rt_SPSWriter_string(W, S->Triple);
  orc_rt_SPSWriter_u64(W, S->PageSize);
  orc_rt_SPSWriter_seqCount(W, S->NumMap);
  for (uint64_t I = 0; I < S->NumMap; I++) {
    orc_rt_SPSWriter_bytes(W, S->Map[I].Key.Data, S->Map[I].Key.Size);
    orc_rt_SPSWriter_bytes(W, S->Map[I].Value.Data, S->Map[I].Value.Size);
  }
  orc_rt_SPSWriter_seqCount(W, S->NumSymbols);
  for (uint64_t I = 0; I < S->NumSymbols; I++) {
    orc_rt_SPSWriter_string(W, S->Symbols[I].Name);
    orc_rt_SPSWriter_addr(W, S->Symbols[I].Addr);
  }
}

static void setup_free(void *Msg) {
  Setup *S = Msg;
  free(S->Triple);
  free(S->Map);
  for (uint64_t I = 0; S->Symbols && I < S->NumSymbols; I++)
    free(S->Symbols[I].Name);
  free(S->Symbols);
}

static bool setup_decode(orc_rt_SPSReader *R, void *Out) {
  Setup S = {0};
  if (!orc_rt_SPSReader_stringDup(R, &S.Triple) || !orc_rt_SPSReader_u64(R, &S.PageSize) ||
      !orc_rt_SPSReader_seqCount(R, 16, &S.NumMap))
    goto fail;
  S.Map = calloc(S.NumMap + 1, sizeof(*S.Map));
  ck_assert_ptr_nonnull(S.Map);
  for (uint64_t I = 0; I < S.NumMap; I++)
    if (!orc_rt_SPSReader_bytes(R, &S.Map[I].Key.Data, &S.Map[I].Key.Size) ||
        !orc_rt_SPSReader_bytes(R, &S.Map[I].Value.Data, &S.Map[I].Value.Size))
      goto fail;
  if (!orc_rt_SPSReader_seqCount(R, 16, &S.NumSymbols))
    goto fail;
  S.Symbols = calloc(S.NumSymbols + 1, sizeof(*S.Symbols));
  ck_assert_ptr_nonnull(S.Symbols);
  for (uint64_t I = 0; I < S.NumSymbols; I++)
    if (!orc_rt_SPSReader_stringDup(R, &S.Symbols[I].Name) ||
        !orc_rt_SPSReader_addr(R, &S.Symbols[I].Addr))
      goto fail;
  *(Setup *)Out = S;
  return true;
fail:
  setup_free(&S);
  return false;
}

static struct MapEntry SetupMap[] = {{{"darwin-use-ehframes-only", 24}, {"\x01", 1}}};
static struct SymbolEntry SetupSymbols[] = {
    {"__llvm_orc_SimpleRemoteEPC_dispatch_ctx", 0x55e5e66c0010ULL},
    {"__llvm_orc_SimpleRemoteEPC_dispatch_fn", 0x55e5e66bb000ULL},
    {"__llvm_orc_bootstrap_run_as_main_wrapper", 0x55e5e66bb790ULL},
    {"__llvm_orc_bootstrap_run_as_void_function_wrapper", 0x55e5e66bb800ULL},
    {"__llvm_orc_bootstrap_run_as_int_function_wrapper", 0x55e5e66bb870ULL},
    {"__llvm_orc_SimpleExecutorDylibManager_Instance", 0x55e62097ca60ULL},
    {"__llvm_orc_SimpleExecutorDylibManager_open_wrapper", 0x55e5e66bc000ULL},
    {"__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper", 0x55e5e66bc100ULL},
    {"__llvm_orc_SimpleExecutorMemoryManager_Instance", 0x55e62097ca70ULL},
    {"__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper", 0x55e5e66bd000ULL},
    {"__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper", 0x55e5e66bd100ULL},
    {"__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper", 0x55e5e66bd200ULL},
    {"llvm_orc_registerEHFrameSectionWrapper", 0x5606be91b400ULL},
    {"llvm_orc_deregisterEHFrameSectionWrapper", 0x5606be91b4d0ULL},
};
static const Setup SetupSample = {.Triple = "x86_64-pc-linux-gnu",
                                  .PageSize = 4096,
                                  .NumMap = ARRAY_SIZE(SetupMap),
                                  .Map = SetupMap,
                                  .NumSymbols = ARRAY_SIZE(SetupSymbols),
                                  .Symbols = SetupSymbols};

/* A message shape: how to encode a sample, decode it, free a decoded one. */
typedef struct {
  const char *Name;
  void (*Encode)(orc_rt_SPSWriter *W, const void *Msg);
  bool (*Decode)(orc_rt_SPSReader *R, void *Out);
  void (*Free)(void *Msg);
  const void *Sample;
  size_t Size;
} Codec;

static const Codec Codecs[] = {
    {"lookup request", lookup_request_encode, lookup_request_decode, lookup_request_free,
     &LookupSample, sizeof(LookupRequest)},
    {"lookup reply", lookup_reply_encode, lookup_reply_decode, lookup_reply_free,
     &LookupReplySample, sizeof(LookupReply)},
    {"lookup error reply", lookup_reply_encode, lookup_reply_decode, lookup_reply_free,
     &LookupReplyErrorSample, sizeof(LookupReply)},
    {"finalize request", finalize_request_encode, finalize_request_decode, finalize_request_free,
     &FinalizeSample, sizeof(FinalizeRequest)},
    {"setup", setup_encode, setup_decode, setup_free, &SetupSample, sizeof(Setup)},
};

/*
 * Memory whose end is followed by an inaccessible page: bytes placed to end
 * exactly there make any read past them fault, in every build.
 */
typedef struct {
  char *Map;
  size_t MapSize;
  char *End; /* the first inaccessible byte */
} Guarded;

static void guarded_init(Guarded *G, size_t Size) {
  size_t Page = (size_t)sysconf(_SC_PAGESIZE);
  size_t Usable = (Size + Page - 1) / Page * Page;
  G->MapSize = Usable + Page;
  G->Map = mmap(NULL, G->MapSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(G->Map, MAP_FAILED);
  G->End = G->Map + Usable;
  ck_assert_int_eq(mprotect(G->End, Page, PROT_NONE), 0);
}

/* Copy N bytes so that they end at the guard; returns where they start. */
static const char *guarded_place(Guarded *G, const void *Data, size_t N) {
  char *P = G->End - N;
  if (N)
    memcpy(P, Data, N);
  return P;
}

static void guarded_dispose(Guarded *G) {
  munmap(G->Map, G->MapSize);
}

/*
 * Decode every proper prefix of C's encoded sample: each must fail with the
 * reader's failure flag set and its cursor still inside the prefix. The
 * guard page catches any read past the prefix; LeakSanitizer catches a
 * decoder that leaks what it built before failing.
 */
static void assert_every_truncation_fails(const Codec *C) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  C->Encode(&W, C->Sample);
  ck_assert(!orc_rt_SPSWriter_failed(&W));
  size_t N = orc_rt_SPSWriter_size(&W);
  ck_assert_uint_gt(N, 0);
  Guarded G;
  guarded_init(&G, N);
  void *Out = calloc(1, C->Size);
  ck_assert_ptr_nonnull(Out);
  for (size_t L = 0; L < N; L++) {
    const char *P = guarded_place(&G, orc_rt_SPSWriter_data(&W), L);
    orc_rt_SPSReader R;
    orc_rt_SPSReader_init(&R, P, L);
    bool Ok = C->Decode(&R, Out);
    if (Ok || orc_rt_SPSReader_ok(&R))
      ck_abort_msg("%s: a %zu-byte prefix of %zu bytes decoded", C->Name, L, N);
    if (R.Data + orc_rt_SPSReader_remaining(&R) != P + L)
      ck_abort_msg("%s: the reader's cursor left the %zu-byte span", C->Name, L);
  }
  /* The whole message still decodes from the same place. */
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, guarded_place(&G, orc_rt_SPSWriter_data(&W), N), N);
  ck_assert_msg(C->Decode(&R, Out), "%s: the whole message does not decode", C->Name);
  ck_assert_uint_eq(orc_rt_SPSReader_remaining(&R), 0);
  C->Free(Out);
  free(Out);
  guarded_dispose(&G);
  orc_rt_SPSWriter_dispose(&W);
}

START_TEST(sps_every_truncation_of_lookup_request_fails_cleanly) {
  assert_every_truncation_fails(&Codecs[0]);
}
END_TEST

START_TEST(sps_every_truncation_of_lookup_replies_fails_cleanly) {
  assert_every_truncation_fails(&Codecs[1]);
  assert_every_truncation_fails(&Codecs[2]);
}
END_TEST

START_TEST(sps_every_truncation_of_finalize_request_fails_cleanly) {
  assert_every_truncation_fails(&Codecs[3]);
}
END_TEST

START_TEST(sps_every_truncation_of_setup_fails_cleanly) {
  assert_every_truncation_fails(&Codecs[4]);
}
END_TEST

START_TEST(sps_messages_round_trip_and_ignore_trailing_bytes) {
  static const char Junk[] = "\xde\xad\xbe\xef\x00\x01";
  for (size_t I = 0; I < ARRAY_SIZE(Codecs); I++) {
    const Codec *C = &Codecs[I];
    orc_rt_SPSWriter W, Again;
    orc_rt_SPSWriter_init(&W);
    orc_rt_SPSWriter_init(&Again);
    C->Encode(&W, C->Sample);
    size_t N = orc_rt_SPSWriter_size(&W);
    orc_rt_SPSWriter_raw(&W, Junk, sizeof(Junk) - 1);

    void *Out = calloc(1, C->Size);
    ck_assert_ptr_nonnull(Out);
    orc_rt_SPSReader R;
    orc_rt_SPSReader_init(&R, orc_rt_SPSWriter_data(&W), orc_rt_SPSWriter_size(&W));
    ck_assert_msg(C->Decode(&R, Out), "%s with trailing bytes does not decode", C->Name);
    ck_assert_uint_eq(orc_rt_SPSReader_remaining(&R), sizeof(Junk) - 1);
    /* Encoding what was decoded gives back the original bytes. */
    C->Encode(&Again, Out);
    ck_assert_uint_eq(orc_rt_SPSWriter_size(&Again), N);
    ck_assert_msg(memcmp(orc_rt_SPSWriter_data(&Again), orc_rt_SPSWriter_data(&W), N) == 0,
                  "%s does not round-trip", C->Name);
    C->Free(Out);
    free(Out);
    orc_rt_SPSWriter_dispose(&Again);
    orc_rt_SPSWriter_dispose(&W);
  }
}
END_TEST

/* One case per test, named for the behaviour it shows. */
#define ADD_TEST(S, Fn) tcase_add_test(orcrt_test_case((S), #Fn, 30), Fn)

Suite *orcrt_suite_sps(void) {
  Suite *S = suite_create("sps");
  ADD_TEST(S, sps_unsigned_integers_round_trip_at_extremes);
  ADD_TEST(S, sps_signed_integers_round_trip_at_extremes);
  ADD_TEST(S, sps_integers_are_little_endian_on_the_wire);
  ADD_TEST(S, sps_bool_writes_zero_or_one_and_reads_nonzero_as_true);
  ADD_TEST(S, sps_addr_range_is_start_then_end);
  ADD_TEST(S, sps_string_is_length_then_bytes_without_nul);
  ADD_TEST(S, sps_bytes_read_points_into_the_span_without_copying);
  ADD_TEST(S, sps_string_dup_is_a_nul_terminated_copy_keeping_embedded_nul);
  ADD_TEST(S, sps_raw_has_no_count_and_skip_consumes_bytes);
  ADD_TEST(S, sps_nested_composites_round_trip);
  ADD_TEST(S, sps_error_matches_wire_examples);
  ADD_TEST(S, sps_error_from_error_ref_encodes_and_consumes_it);
  ADD_TEST(S, sps_expected_matches_wire_examples);
  ADD_TEST(S, sps_error_and_expected_have_opposite_polarity);
  ADD_TEST(S, sps_open_call_matches_wire_example);
  ADD_TEST(S, sps_lookup_call_matches_wire_example);
  ADD_TEST(S, sps_run_as_main_call_matches_wire_example);
  ADD_TEST(S, sps_setup_frame_start_matches_wire_example);
  ADD_TEST(S, sps_finalize_actions_match_lli_wire_example);
  ADD_TEST(S, sps_seq_count_rejects_huge_count_without_allocating);
  ADD_TEST(S, sps_seq_count_rejects_count_whose_byte_size_wraps);
  ADD_TEST(S, sps_seq_count_accepts_count_that_exactly_fits);
  ADD_TEST(S, sps_reader_failure_is_sticky_and_leaves_outputs_untouched);
  ADD_TEST(S, sps_writer_grows_geometrically_over_many_writes);
  ADD_TEST(S, sps_writer_overflowing_reserve_fails_and_sticks);
  ADD_TEST(S, sps_writer_finish_is_inline_up_to_pointer_size_then_heap);
  ADD_TEST(S, sps_writer_dispose_releases_and_allows_reuse);
  ADD_TEST(S, sps_every_truncation_of_lookup_request_fails_cleanly);
  ADD_TEST(S, sps_every_truncation_of_lookup_replies_fails_cleanly);
  ADD_TEST(S, sps_every_truncation_of_finalize_request_fails_cleanly);
  ADD_TEST(S, sps_every_truncation_of_setup_fails_cleanly);
  ADD_TEST(S, sps_messages_round_trip_and_ignore_trailing_bytes);
  return S;
}

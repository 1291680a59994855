/*
 * test-buffer.c - orc_rt_WrapperFunctionBuffer: the four states, ownership,
 * LLVM's synchronous wrapper ABI and the C layout shared with LLVM
 */
#include "config.h"

#include "test-util.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/*
 * LLVM's C result type for wrapper functions (CWrapperFunctionResult), declared
 * independently here: the struct orcrt's buffer must match.
 */
typedef union {
  char *ValuePtr;
  char Value[sizeof(char *)];
} LLVMResultData;

typedef struct {
  LLVMResultData Data;
  size_t Size;
} LLVMResult;

enum { InlineMax = sizeof(char *) };

#define ARRAY_SIZE(A) (sizeof(A) / sizeof((A)[0]))

/* What the buffer's own accessors say about its state. */
static void assert_empty(const orc_rt_WrapperFunctionBuffer *B) {
  ck_assert(orc_rt_WrapperFunctionBuffer_isEmpty(B));
  ck_assert_uint_eq(orc_rt_WrapperFunctionBuffer_size(B), 0);
  ck_assert_ptr_null(orc_rt_WrapperFunctionBuffer_constData(B));
  ck_assert_ptr_null(orc_rt_WrapperFunctionBuffer_getOutOfBandError(B));
}

static void assert_inline(orc_rt_WrapperFunctionBuffer *B, size_t Size) {
  ck_assert_uint_eq(orc_rt_WrapperFunctionBuffer_size(B), Size);
  ck_assert(!orc_rt_WrapperFunctionBuffer_isEmpty(B));
  ck_assert_ptr_eq(orc_rt_WrapperFunctionBuffer_data(B), B->Data.Value);
  ck_assert_ptr_null(orc_rt_WrapperFunctionBuffer_getOutOfBandError(B));
}

static void assert_heap(orc_rt_WrapperFunctionBuffer *B, size_t Size) {
  ck_assert_uint_eq(orc_rt_WrapperFunctionBuffer_size(B), Size);
  ck_assert(!orc_rt_WrapperFunctionBuffer_isEmpty(B));
  ck_assert_ptr_nonnull(B->Data.ValuePtr);
  ck_assert_ptr_eq(orc_rt_WrapperFunctionBuffer_data(B), B->Data.ValuePtr);
  ck_assert_ptr_null(orc_rt_WrapperFunctionBuffer_getOutOfBandError(B));
}

static void assert_out_of_band(const orc_rt_WrapperFunctionBuffer *B, const char *Msg) {
  ck_assert_uint_eq(orc_rt_WrapperFunctionBuffer_size(B), 0);
  ck_assert(!orc_rt_WrapperFunctionBuffer_isEmpty(B));
  ck_assert_ptr_null(orc_rt_WrapperFunctionBuffer_constData(B));
  ck_assert_ptr_nonnull(orc_rt_WrapperFunctionBuffer_getOutOfBandError(B));
  ck_assert_str_eq(orc_rt_WrapperFunctionBuffer_getOutOfBandError(B), Msg);
}

START_TEST(buffer_init_makes_the_empty_buffer) {
  orc_rt_WrapperFunctionBuffer B;
  memset(&B, 0xa5, sizeof(B));
  orc_rt_WrapperFunctionBuffer_init(&B);
  assert_empty(&B);
}
END_TEST

START_TEST(buffer_allocate_zero_bytes_is_empty) {
  orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_allocate(0);
  assert_empty(&B);
  orc_rt_WrapperFunctionBuffer_dispose(&B);
}
END_TEST

START_TEST(buffer_allocate_up_to_pointer_size_is_inline) {
  for (size_t Size = 1; Size <= InlineMax; Size++) {
    orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_allocate(Size);
    assert_inline(&B, Size);
    memset(orc_rt_WrapperFunctionBuffer_data(&B), 0x5a, Size);
    orc_rt_WrapperFunctionBuffer_dispose(&B);
  }
}
END_TEST

START_TEST(buffer_allocate_beyond_pointer_size_is_heap) {
  static const size_t Sizes[] = {InlineMax + 1, 4096, 1 << 20};
  for (size_t I = 0; I < ARRAY_SIZE(Sizes); I++) {
    orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_allocate(Sizes[I]);
    assert_heap(&B, Sizes[I]);
    /* Every byte is ours to write (ASan checks the extent). */
    memset(orc_rt_WrapperFunctionBuffer_data(&B), 0x5a, Sizes[I]);
    orc_rt_WrapperFunctionBuffer_dispose(&B);
  }
}
END_TEST

START_TEST(buffer_heap_block_is_released_by_free) {
  /* Buffers cross into LLVM-built code, which frees heap data with free(). */
  orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_allocate(InlineMax + 1);
  assert_heap(&B, InlineMax + 1);
  free(B.Data.ValuePtr);
}
END_TEST

START_TEST(buffer_from_bytes_copies_at_inline_heap_boundary) {
  static const size_t Sizes[] = {0, 1, InlineMax, InlineMax + 1};
  char Src[InlineMax + 1];
  for (size_t I = 0; I < ARRAY_SIZE(Sizes); I++) {
    size_t Size = Sizes[I];
    for (size_t J = 0; J < sizeof(Src); J++)
      Src[J] = (char)(0x10 + J);
    orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_fromBytes(Src, Size);
    if (Size == 0)
      assert_empty(&B);
    else if (Size <= InlineMax)
      assert_inline(&B, Size);
    else
      assert_heap(&B, Size);
    memset(Src, 0, sizeof(Src)); /* the buffer holds a copy */
    for (size_t J = 0; J < Size; J++)
      ck_assert_int_eq(orc_rt_WrapperFunctionBuffer_data(&B)[J], (char)(0x10 + J));
    orc_rt_WrapperFunctionBuffer_dispose(&B);
  }
}
END_TEST

START_TEST(buffer_out_of_band_error_holds_a_copy_of_the_message) {
  char Msg[] = "Could not deserialize arguments";
  orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(Msg);
  ck_assert_ptr_ne(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&B), Msg);
  Msg[0] = 'X';
  assert_out_of_band(&B, "Could not deserialize arguments");
  orc_rt_WrapperFunctionBuffer_dispose(&B);
}
END_TEST

START_TEST(buffer_out_of_band_error_may_have_empty_message) {
  orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_fromOutOfBandError("");
  assert_out_of_band(&B, "");
  orc_rt_WrapperFunctionBuffer_dispose(&B);
  assert_empty(&B);
}
END_TEST

START_TEST(buffer_from_error_consumes_error_and_keeps_message) {
  /* LeakSanitizer fails this test if the error is not consumed. */
  orc_rt_ErrorRef E = orc_rt_Error_create("no handler for tag %#x", 0x1234);
  orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_fromError(E);
  assert_out_of_band(&B, "no handler for tag 0x1234");
  orc_rt_WrapperFunctionBuffer_dispose(&B);
}
END_TEST

START_TEST(buffer_dispose_empties_every_state_and_accepts_null) {
  orc_rt_WrapperFunctionBuffer Bs[6];
  orc_rt_WrapperFunctionBuffer_init(&Bs[0]);
  Bs[1] = orc_rt_WrapperFunctionBuffer_fromBytes("a", 1);
  Bs[2] = orc_rt_WrapperFunctionBuffer_fromBytes("abcdefgh", InlineMax);
  Bs[3] = orc_rt_WrapperFunctionBuffer_fromBytes("abcdefghi", InlineMax + 1);
  Bs[4] = orc_rt_WrapperFunctionBuffer_allocate(65536);
  Bs[5] = orc_rt_WrapperFunctionBuffer_fromOutOfBandError("boom");
  orc_rt_WrapperFunctionBuffer_dispose(NULL);
  for (size_t I = 0; I < ARRAY_SIZE(Bs); I++) {
    orc_rt_WrapperFunctionBuffer_dispose(&Bs[I]);
    assert_empty(&Bs[I]);
    /* Disposing the now-empty buffer again frees nothing twice. */
    orc_rt_WrapperFunctionBuffer_dispose(&Bs[I]);
    assert_empty(&Bs[I]);
  }
}
END_TEST

/*
 * A wrapper function with LLVM's synchronous ABI, written against LLVM's own
 * result type: it returns the argument bytes reversed, records what it got,
 * and fails out of band on an argument "fail".
 */
static const char *SeenArgData;
static size_t SeenArgSize;

static LLVMResult reverse_wrapper(const char *ArgData, size_t ArgSize) {
  LLVMResult R;
  SeenArgData = ArgData;
  SeenArgSize = ArgSize;
  if (ArgSize == 4 && memcmp(ArgData, "fail", 4) == 0) {
    R.Data.ValuePtr = strdup("wrapper failed");
    R.Size = 0;
    return R;
  }
  char *Out = ArgSize <= sizeof(R.Data.Value) ? R.Data.Value : malloc(ArgSize);
  for (size_t I = 0; I < ArgSize; I++)
    Out[I] = ArgData[ArgSize - 1 - I];
  if (ArgSize > sizeof(R.Data.Value))
    R.Data.ValuePtr = Out;
  else if (ArgSize == 0)
    R.Data.ValuePtr = NULL;
  R.Size = ArgSize;
  return R;
}

static orc_rt_ExecutorAddr reverse_wrapper_addr(void) {
  return orc_rt_ExecutorAddr_fromPtr((const void *)(uintptr_t)reverse_wrapper);
}

START_TEST(buffer_call_sync_passes_arguments_and_returns_heap_result) {
  static const char Args[] = "0123456789abcdef";
  orc_rt_WrapperFunctionBuffer B =
      orc_rt_WrapperFunctionBuffer_callSync(reverse_wrapper_addr(), Args, 16);
  ck_assert_ptr_eq(SeenArgData, Args);
  ck_assert_uint_eq(SeenArgSize, 16);
  assert_heap(&B, 16);
  ck_assert_int_eq(memcmp(orc_rt_WrapperFunctionBuffer_data(&B), "fedcba9876543210", 16), 0);
  orc_rt_WrapperFunctionBuffer_dispose(&B);
}
END_TEST

START_TEST(buffer_call_sync_returns_inline_result) {
  orc_rt_WrapperFunctionBuffer B =
      orc_rt_WrapperFunctionBuffer_callSync(reverse_wrapper_addr(), "12345678", InlineMax);
  assert_inline(&B, InlineMax);
  ck_assert_int_eq(memcmp(orc_rt_WrapperFunctionBuffer_data(&B), "87654321", InlineMax), 0);
  orc_rt_WrapperFunctionBuffer_dispose(&B);

  B = orc_rt_WrapperFunctionBuffer_callSync(reverse_wrapper_addr(), NULL, 0);
  ck_assert_uint_eq(SeenArgSize, 0);
  assert_empty(&B);
}
END_TEST

START_TEST(buffer_call_sync_returns_out_of_band_error) {
  orc_rt_WrapperFunctionBuffer B =
      orc_rt_WrapperFunctionBuffer_callSync(reverse_wrapper_addr(), "fail", 4);
  assert_out_of_band(&B, "wrapper failed");
  orc_rt_WrapperFunctionBuffer_dispose(&B);
}
END_TEST

START_TEST(buffer_layout_equals_llvm_cwrapperfunctionresult) {
  ck_assert_uint_eq(sizeof(orc_rt_WrapperFunctionBuffer), sizeof(LLVMResult));
  ck_assert_uint_eq(_Alignof(orc_rt_WrapperFunctionBuffer), _Alignof(LLVMResult));
  ck_assert_uint_eq(offsetof(orc_rt_WrapperFunctionBuffer, Data), offsetof(LLVMResult, Data));
  ck_assert_uint_eq(offsetof(orc_rt_WrapperFunctionBuffer, Size), offsetof(LLVMResult, Size));
  ck_assert_uint_eq(sizeof(((orc_rt_WrapperFunctionBuffer *)0)->Data.Value), sizeof(char *));
#if defined(__x86_64__)
  ck_assert_uint_eq(sizeof(orc_rt_WrapperFunctionBuffer), 16);
  ck_assert_uint_eq(offsetof(orc_rt_WrapperFunctionBuffer, Data), 0);
  ck_assert_uint_eq(offsetof(orc_rt_WrapperFunctionBuffer, Size), 8);
#endif
  /* The inline bytes and the pointer share the same storage. */
  orc_rt_WrapperFunctionBuffer B;
  ck_assert_ptr_eq((void *)B.Data.Value, (void *)&B.Data.ValuePtr);
}
END_TEST

/* One case per test, named for the behaviour it shows. */
#define ADD_TEST(S, Fn) tcase_add_test(orcrt_test_case((S), #Fn, 10), Fn)

Suite *orcrt_suite_buffer(void) {
  Suite *S = suite_create("buffer");
  ADD_TEST(S, buffer_init_makes_the_empty_buffer);
  ADD_TEST(S, buffer_allocate_zero_bytes_is_empty);
  ADD_TEST(S, buffer_allocate_up_to_pointer_size_is_inline);
  ADD_TEST(S, buffer_allocate_beyond_pointer_size_is_heap);
  ADD_TEST(S, buffer_heap_block_is_released_by_free);
  ADD_TEST(S, buffer_from_bytes_copies_at_inline_heap_boundary);
  ADD_TEST(S, buffer_out_of_band_error_holds_a_copy_of_the_message);
  ADD_TEST(S, buffer_out_of_band_error_may_have_empty_message);
  ADD_TEST(S, buffer_from_error_consumes_error_and_keeps_message);
  ADD_TEST(S, buffer_dispose_empties_every_state_and_accepts_null);
  ADD_TEST(S, buffer_call_sync_passes_arguments_and_returns_heap_result);
  ADD_TEST(S, buffer_call_sync_returns_inline_result);
  ADD_TEST(S, buffer_call_sync_returns_out_of_band_error);
  ADD_TEST(S, buffer_layout_equals_llvm_cwrapperfunctionresult);
  return S;
}

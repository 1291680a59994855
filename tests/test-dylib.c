/*
 * test-dylib.c - libraries and symbol lookup, driven as LLVM's controller
 * drives them (a loopback controller calling the bootstrap wrappers)
 */
#include "config.h"

#include "test-util.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/bootstrap.h>
#include <orcrt/dylib.h>
#include <orcrt/memory.h>

typedef struct {
  orc_rt_SessionRef S;
  orc_rt_LoopbackControllerRef LC;
  orc_rt_DylibServiceRef D;
} env;

static void env_init(env *E) {
  orc_rt_TaskDispatcherRef TD;
  orc_rt_MemoryServiceRef M;
  ck_assert_no_error(orc_rt_ThreadPoolTaskDispatcher_create(2, &TD));
  ck_assert_no_error(orc_rt_Session_create(TD, &E->S));
  ck_assert_no_error(orc_rt_DylibService_add(E->S, &E->D));
  ck_assert_no_error(orc_rt_MemoryService_add(E->S, orc_rt_MemoryStrategy_MProtect, &M));
  ck_assert_no_error(orc_rt_Bootstrap_add(E->S));
  ck_assert_no_error(orc_rt_LoopbackController_create(&E->LC));
  ck_assert_no_error(orc_rt_LoopbackController_attach(E->S, E->LC));
}

static void env_fini(env *E) {
  orc_rt_Session_destroy(E->S);
}

static orc_rt_ExecutorAddr sym(env *E, const char *Name) {
  size_t N;
  const orc_rt_BootstrapSymbol *Syms = orc_rt_Session_getBootstrapSymbols(E->S, &N);
  for (size_t I = 0; I < N; I++)
    if (strcmp(Syms[I].Name, Name) == 0)
      return Syms[I].Addr;
  ck_abort_msg("no bootstrap symbol %s", Name);
  return 0;
}

static orc_rt_WrapperFunctionBuffer call(env *E, const char *Name, orc_rt_SPSWriter *W) {
  ck_assert(!orc_rt_SPSWriter_failed(W));
  orc_rt_WrapperFunctionBuffer R = orc_rt_LoopbackController_callWrapperSync(
      E->LC, sym(E, Name), orc_rt_SPSWriter_data(W), orc_rt_SPSWriter_size(W));
  orc_rt_SPSWriter_dispose(W);
  return R;
}

static const char OpenFn[] = "__llvm_orc_SimpleExecutorDylibManager_open_wrapper";
static const char LookupFn[] = "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper";
static const char InstanceSym[] = "__llvm_orc_SimpleExecutorDylibManager_Instance";

/*
 * Read the head of an Expected<T> result: true with Rd positioned at the T,
 * or false with *Msg set to the error (to free).
 */
static bool expected(orc_rt_WrapperFunctionBuffer *R, orc_rt_SPSReader *Rd, char **Msg) {
  bool HasValue = false;
  const char *M = NULL;
  size_t MSize = 0;
  ck_assert_msg(!orc_rt_WrapperFunctionBuffer_getOutOfBandError(R), "out-of-band error: %s",
                orc_rt_WrapperFunctionBuffer_getOutOfBandError(R));
  orc_rt_SPSReader_init(Rd, orc_rt_WrapperFunctionBuffer_constData(R), R->Size);
  ck_assert(orc_rt_SPSReader_expected(Rd, &HasValue, &M, &MSize));
  *Msg = HasValue ? NULL : strndup(M, MSize);
  return HasValue;
}

/* open(Path, Mode): the handle, or 0 with *Msg set. */
static orc_rt_ExecutorAddr try_open(env *E, const char *Path, uint64_t Mode, char **Msg) {
  orc_rt_SPSWriter W;
  orc_rt_SPSReader Rd;
  orc_rt_ExecutorAddr H = 0;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, InstanceSym));
  orc_rt_SPSWriter_string(&W, Path);
  orc_rt_SPSWriter_u64(&W, Mode);
  orc_rt_WrapperFunctionBuffer R = call(E, OpenFn, &W);
  if (expected(&R, &Rd, Msg))
    ck_assert(orc_rt_SPSReader_addr(&Rd, &H));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return H;
}

static orc_rt_ExecutorAddr open_lib(env *E, const char *Path) {
  char *Msg;
  orc_rt_ExecutorAddr H = try_open(E, Path, 0, &Msg);
  ck_assert_msg(Msg == NULL, "open(%s) failed: %s", Path, Msg);
  ck_assert(H != 0);
  return H;
}

typedef struct {
  const char *Name;
  bool Required;
  orc_rt_ExecutorAddr Addr; /* results */
  uint8_t Flags, TargetFlags;
} lookup_elem;

/* lookup(H, Elems): NULL with results filled in, or the error message (to free). */
static char *lookup(env *E, orc_rt_ExecutorAddr H, lookup_elem *Elems, size_t N) {
  orc_rt_SPSWriter W;
  orc_rt_SPSReader Rd;
  char *Msg;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, InstanceSym));
  orc_rt_SPSWriter_addr(&W, H);
  orc_rt_SPSWriter_seqCount(&W, N);
  for (size_t I = 0; I < N; I++) {
    orc_rt_SPSWriter_string(&W, Elems[I].Name);
    orc_rt_SPSWriter_bool(&W, Elems[I].Required);
  }
  orc_rt_WrapperFunctionBuffer R = call(E, LookupFn, &W);
  if (expected(&R, &Rd, &Msg)) {
    uint64_t Count = 0;
    ck_assert(orc_rt_SPSReader_seqCount(&Rd, 10, &Count));
    ck_assert_uint_eq(Count, N);
    for (size_t I = 0; I < N; I++) {
      ck_assert(orc_rt_SPSReader_addr(&Rd, &Elems[I].Addr));
      ck_assert(orc_rt_SPSReader_u8(&Rd, &Elems[I].Flags));
      ck_assert(orc_rt_SPSReader_u8(&Rd, &Elems[I].TargetFlags));
    }
  }
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return Msg;
}

static void assert_lookup_ok(env *E, orc_rt_ExecutorAddr H, lookup_elem *Elems, size_t N) {
  char *Msg = lookup(E, H, Elems, N);
  ck_assert_msg(Msg == NULL, "lookup failed: %s", Msg);
}

static void assert_lookup_fails(env *E, orc_rt_ExecutorAddr H, lookup_elem *Elems, size_t N,
                                const char *Expected) {
  char *Msg = lookup(E, H, Elems, N);
  ck_assert_msg(Msg != NULL, "lookup succeeded; expected \"%s\"", Expected);
  ck_assert_msg(strstr(Msg, Expected), "expected \"%s\", got \"%s\"", Expected, Msg);
  free(Msg);
}

/* The address the process itself resolves Name to, loading Lib first if given. */
static orc_rt_ExecutorAddr process_addr(const char *Name) {
  return orc_rt_ExecutorAddr_fromPtr(dlsym(RTLD_DEFAULT, Name));
}

/* ---- open ----------------------------------------------------------------------- */

START_TEST(dylib_open_empty_path_returns_the_same_process_handle) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H1 = open_lib(&E, ""), H2 = open_lib(&E, "");
  ck_assert_uint_eq(H1, H2);
  env_fini(&E);
}
END_TEST

START_TEST(dylib_open_nonexistent_path_fails_with_dlerror_text) {
  env E;
  env_init(&E);
  char *Msg;
  ck_assert_uint_eq(try_open(&E, "/nonexistent/libfoo.so", 0, &Msg), 0);
  ck_assert_msg(Msg && strstr(Msg, "/nonexistent/libfoo.so: cannot open shared object file"),
                "got %s", Msg);
  free(Msg);
  open_lib(&E, "");
  env_fini(&E);
}
END_TEST

START_TEST(dylib_open_nonzero_mode_fails) {
  env E;
  env_init(&E);
  char *Msg;
  ck_assert_uint_eq(try_open(&E, "", 1, &Msg), 0);
  ck_assert_str_eq(Msg, "open: non-zero mode bits not yet supported");
  free(Msg);
  env_fini(&E);
}
END_TEST

START_TEST(dylib_open_same_library_twice_returns_the_same_handle) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H1 = open_lib(&E, "libm.so.6"), H2 = open_lib(&E, "libm.so.6");
  ck_assert_uint_eq(H1, H2);
  ck_assert_uint_ne(H1, open_lib(&E, ""));
  lookup_elem L = {"cos", true};
  assert_lookup_ok(&E, H1, &L, 1);
  ck_assert_uint_eq(L.Addr,
                    orc_rt_ExecutorAddr_fromPtr(dlsym(orc_rt_ExecutorAddr_toPtr(H1), "cos")));
  env_fini(&E);
}
END_TEST

START_TEST(dylib_open_malformed_arguments_answered_out_of_band) {
  env E;
  env_init(&E);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(&E, InstanceSym));
  orc_rt_SPSWriter_seqCount(&W, UINT64_C(1) << 60); /* a path longer than the input */
  orc_rt_SPSWriter_raw(&W, "abc", 3);
  orc_rt_WrapperFunctionBuffer R = call(&E, OpenFn, &W);
  ck_assert(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R) != NULL);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  open_lib(&E, "");
  env_fini(&E);
}
END_TEST

/* ---- lookup ------------------------------------------------------------------------- */

START_TEST(dylib_lookup_finds_libc_symbols_as_exported) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H = open_lib(&E, "");
  lookup_elem L = {"printf", false};
  assert_lookup_ok(&E, H, &L, 1);
  ck_assert_uint_eq(L.Addr, process_addr("printf"));
  ck_assert_uint_ne(L.Addr, 0);
  ck_assert_uint_eq(L.Flags, 0x10);
  ck_assert_uint_eq(L.TargetFlags, 0);
  env_fini(&E);
}
END_TEST

START_TEST(dylib_lookup_loads_math_and_cxx_runtimes_when_missing) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H = open_lib(&E, "");
  lookup_elem L[] = {{"sin", false},
                     {"__cxa_throw", false},
                     {"_Unwind_Resume", false},
                     {"__gxx_personality_v0", false},
                     {"_ZTISt9exception", false}};
  assert_lookup_ok(&E, H, L, 5);
  for (size_t I = 0; I < 5; I++) {
    ck_assert_msg(L[I].Addr != 0, "%s not found", L[I].Name);
    ck_assert_uint_eq(L[I].Flags, 0x10);
    /* The same definition the process now has in its global scope. */
    ck_assert_uint_eq(L[I].Addr, process_addr(L[I].Name));
  }
  env_fini(&E);
}
END_TEST

START_TEST(dylib_lookup_answers_each_name_in_request_order) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H = open_lib(&E, "");
  lookup_elem L[] = {{"malloc", false},
                     {"no_such_symbol_xyz", false},
                     {"free", true},
                     {"", false},
                     {"strlen", false}};
  assert_lookup_ok(&E, H, L, 5);
  ck_assert_uint_eq(L[0].Addr, process_addr("malloc"));
  ck_assert_uint_eq(L[2].Addr, process_addr("free"));
  ck_assert_uint_eq(L[4].Addr, process_addr("strlen"));
  /* Missing and optional: address 0, still marked exported, as LLVM's executor answers. */
  ck_assert_uint_eq(L[1].Addr, 0);
  ck_assert_uint_eq(L[1].Flags, 0x10);
  /* The empty name: address 0 and no flags. */
  ck_assert_uint_eq(L[3].Addr, 0);
  ck_assert_uint_eq(L[3].Flags, 0);
  env_fini(&E);
}
END_TEST

START_TEST(dylib_lookup_missing_required_symbol_fails) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H = open_lib(&E, "");
  lookup_elem L[] = {{"printf", false}, {"no_such_function_xyz", true}};
  assert_lookup_fails(&E, H, L, 2, "Missing definition for no_such_function_xyz");
  env_fini(&E);
}
END_TEST

START_TEST(dylib_lookup_required_empty_name_fails) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H = open_lib(&E, "");
  lookup_elem L = {"", true};
  assert_lookup_fails(&E, H, &L, 1, "Required address for empty symbol \"\"");
  env_fini(&E);
}
END_TEST

START_TEST(dylib_lookup_finds_the_runtime_own_symbols_first) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H = open_lib(&E, "");
  ck_assert_no_error(orc_rt_DylibService_addSymbol(E.D, "printf", 0x1234));
  lookup_elem L[] = {{"llvm_orc_registerJITLoaderGDBWrapper", true},
                     {"llvm_orc_registerEHFrameSectionWrapper", true},
                     {"llvm_orc_deregisterEHFrameSectionWrapper", true},
                     {"__jit_debug_descriptor", true},
                     {"printf", true}};
  assert_lookup_ok(&E, H, L, 5);
  ck_assert_uint_eq(L[0].Addr, orc_rt_ExecutorAddr_fromPtr(
                                   (void *)(uintptr_t)llvm_orc_registerJITLoaderGDBWrapper));
  ck_assert_uint_eq(L[1].Addr, orc_rt_ExecutorAddr_fromPtr(
                                   (void *)(uintptr_t)llvm_orc_registerEHFrameSectionWrapper));
  ck_assert_uint_eq(L[2].Addr, orc_rt_ExecutorAddr_fromPtr(
                                   (void *)(uintptr_t)llvm_orc_deregisterEHFrameSectionWrapper));
  ck_assert_uint_eq(L[3].Addr, orc_rt_ExecutorAddr_fromPtr(&__jit_debug_descriptor));
  ck_assert_uint_eq(L[4].Addr, 0x1234);
  /* Only through the process handle. */
  orc_rt_ExecutorAddr M = open_lib(&E, "libc.so.6");
  lookup_elem P = {"printf", true};
  assert_lookup_ok(&E, M, &P, 1);
  ck_assert_uint_ne(P.Addr, 0x1234);
  env_fini(&E);
}
END_TEST

START_TEST(dylib_lookup_unknown_handle_fails) {
  env E;
  env_init(&E);
  open_lib(&E, "");
  /* Never issued: not dereferenced, just refused. */
  lookup_elem L = {"printf", false};
  assert_lookup_fails(&E, 0xdeadbeef, &L, 1, "Unknown dylib handle 0xdeadbeef");
  assert_lookup_fails(&E, 0, &L, 1, "Unknown dylib handle 0x0");
  /* A real dlopen handle the Service did not issue. */
  void *Own = dlopen("libm.so.6", RTLD_NOW);
  ck_assert(Own != NULL);
  assert_lookup_fails(&E, orc_rt_ExecutorAddr_fromPtr(Own), &L, 1, "Unknown dylib handle");
  dlclose(Own);
  env_fini(&E);
}
END_TEST

START_TEST(dylib_lookup_malformed_arguments_answered_out_of_band) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H = open_lib(&E, "");
  orc_rt_SPSWriter W;
  /* A count no input could hold. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(&E, InstanceSym));
  orc_rt_SPSWriter_addr(&W, H);
  orc_rt_SPSWriter_seqCount(&W, UINT64_C(1) << 62);
  orc_rt_SPSWriter_string(&W, "printf");
  orc_rt_SPSWriter_bool(&W, false);
  orc_rt_WrapperFunctionBuffer R = call(&E, LookupFn, &W);
  ck_assert(orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R) != NULL);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  /* An element cut short: an error, not a read past the input. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(&E, InstanceSym));
  orc_rt_SPSWriter_addr(&W, H);
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_string(&W, "printf");
  orc_rt_SPSWriter_bool(&W, false);
  orc_rt_SPSWriter_seqCount(&W, 100);
  orc_rt_SPSWriter_raw(&W, "abcdefgh", 8);
  R = call(&E, LookupFn, &W);
  orc_rt_SPSReader Rd;
  char *Msg;
  ck_assert(!expected(&R, &Rd, &Msg));
  ck_assert_msg(strstr(Msg, "Could not deserialize"), "got %s", Msg);
  free(Msg);
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  lookup_elem L = {"printf", true};
  assert_lookup_ok(&E, H, &L, 1);
  env_fini(&E);
}
END_TEST

START_TEST(dylib_c_api_open_lookup_and_unknown_handle) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H, A;
  ck_assert_no_error(orc_rt_DylibService_open(E.D, "", &H));
  ck_assert_no_error(orc_rt_DylibService_lookup(E.D, H, "strcmp", &A));
  ck_assert_uint_eq(A, process_addr("strcmp"));
  ck_assert_no_error(orc_rt_DylibService_lookup(E.D, H, "no_such_symbol_xyz", &A));
  ck_assert_uint_eq(A, 0);
  ck_assert_error_contains(orc_rt_DylibService_lookup(E.D, H + 8, "strcmp", &A),
                           "Unknown dylib handle");
  ck_assert_error_contains(orc_rt_DylibService_open(E.D, "/nonexistent/x.so", &H),
                           "cannot open shared object file");
  env_fini(&E);
}
END_TEST

/*
 * LLVM 22's resolve: the handle alone (no Instance), each entry an
 * Optional<ExecutorSymbolDef>: found as Exported, not found as present at
 * address 0 (as LLVM 22 answers); an unknown handle fails.
 */
START_TEST(dylib_resolve_answers_optional_symbol_defs) {
  env E;
  env_init(&E);
  orc_rt_ExecutorAddr H = open_lib(&E, "");
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, H);
  orc_rt_SPSWriter_seqCount(&W, 2);
  orc_rt_SPSWriter_string(&W, "getpid");
  orc_rt_SPSWriter_bool(&W, false);
  orc_rt_SPSWriter_string(&W, "orcrt_no_such_symbol");
  orc_rt_SPSWriter_bool(&W, false);
  orc_rt_WrapperFunctionBuffer R =
      call(&E, "__llvm_orc_SimpleExecutorDylibManager_resolve_wrapper", &W);
  orc_rt_SPSReader Rd;
  char *Msg;
  ck_assert_msg(expected(&R, &Rd, &Msg), "resolve failed: %s", Msg);
  uint64_t Count = 0;
  bool Present = false;
  orc_rt_ExecutorAddr A = 0;
  uint8_t Flags = 0, TargetFlags = 1;
  ck_assert(orc_rt_SPSReader_seqCount(&Rd, 1, &Count) && Count == 2);
  ck_assert(orc_rt_SPSReader_bool(&Rd, &Present) && Present);
  ck_assert(orc_rt_SPSReader_addr(&Rd, &A) && orc_rt_SPSReader_u8(&Rd, &Flags) &&
            orc_rt_SPSReader_u8(&Rd, &TargetFlags));
  ck_assert_uint_eq(A, process_addr("getpid"));
  ck_assert_uint_eq(Flags, 0x10);
  ck_assert_uint_eq(TargetFlags, 0);
  ck_assert(orc_rt_SPSReader_bool(&Rd, &Present) && Present);
  ck_assert(orc_rt_SPSReader_addr(&Rd, &A) && orc_rt_SPSReader_u8(&Rd, &Flags) &&
            orc_rt_SPSReader_u8(&Rd, &TargetFlags));
  ck_assert_uint_eq(A, 0);
  ck_assert_uint_eq(orc_rt_SPSReader_remaining(&Rd), 0);
  orc_rt_WrapperFunctionBuffer_dispose(&R);

  /* An unknown handle; and arguments that do not decode. */
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, 0x1234);
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_string(&W, "getpid");
  orc_rt_SPSWriter_bool(&W, false);
  orcrt_test_assert_expected_failure(
      call(&E, "__llvm_orc_SimpleExecutorDylibManager_resolve_wrapper", &W), "handle");
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, H);
  orc_rt_SPSWriter_seqCount(&W, 5);
  orcrt_test_assert_out_of_band(
      call(&E, "__llvm_orc_SimpleExecutorDylibManager_resolve_wrapper", &W),
      "Could not deserialize");
  env_fini(&E);
}
END_TEST

Suite *orcrt_suite_dylib(void) {
  Suite *S = suite_create("dylib");
  TCase *TC = orcrt_test_case(S, "open", 30);
  tcase_add_test(TC, dylib_open_empty_path_returns_the_same_process_handle);
  tcase_add_test(TC, dylib_open_nonexistent_path_fails_with_dlerror_text);
  tcase_add_test(TC, dylib_open_nonzero_mode_fails);
  tcase_add_test(TC, dylib_open_same_library_twice_returns_the_same_handle);
  tcase_add_test(TC, dylib_open_malformed_arguments_answered_out_of_band);
  TC = orcrt_test_case(S, "lookup", 30);
  tcase_add_test(TC, dylib_lookup_finds_libc_symbols_as_exported);
  tcase_add_test(TC, dylib_lookup_loads_math_and_cxx_runtimes_when_missing);
  tcase_add_test(TC, dylib_lookup_answers_each_name_in_request_order);
  tcase_add_test(TC, dylib_lookup_missing_required_symbol_fails);
  tcase_add_test(TC, dylib_lookup_required_empty_name_fails);
  tcase_add_test(TC, dylib_lookup_finds_the_runtime_own_symbols_first);
  tcase_add_test(TC, dylib_lookup_unknown_handle_fails);
  tcase_add_test(TC, dylib_lookup_malformed_arguments_answered_out_of_band);
  tcase_add_test(TC, dylib_c_api_open_lookup_and_unknown_handle);
  tcase_add_test(TC, dylib_resolve_answers_optional_symbol_defs);
  return S;
}

/*
 * llvm19/dylib.c - LLVM 19's SimpleExecutorDylibManager over the dylib
 * Service: the open and lookup wrappers, the Instance bootstrap symbol, and
 * the runtime's LLVM-named entry points among the Service's own symbols
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/bootstrap.h>
#include <orcrt/dylib.h>
#include <orcrt/sps.h>

#include "dylib-internal.h"
#include "eh-frame-internal.h"
#include "llvm19/llvm19.h"
#include "wire.h"
#include "wrapper-glue.h"

/* JITSymbolFlags::Exported: LLVM counts a definition without it as missing. */
enum { JIT_SYMBOL_FLAGS_EXPORTED = 0x10 };

/* The smallest encoded (String Name, bool Required): a string length and a bool. */
enum { SPS_LOOKUP_ELEMENT_MIN = 9 };

static orc_rt_ErrorRef unknown_instance(orc_rt_ExecutorAddr Instance) {
  return orc_rt_Error_create("Unknown dylib manager instance 0x%" PRIx64, Instance);
}

/* open(Path) with LLVM's checks of the wire arguments. */
static orc_rt_ErrorRef open_checked(orc_rt_DylibServiceRef D, const char *Path, size_t PathSize,
                                    uint64_t Mode, orc_rt_ExecutorAddr *Handle) {
  if (Mode != 0)
    return orc_rt_Error_create("open: non-zero mode bits not yet supported");
  if (PathSize && memchr(Path, '\0', PathSize))
    return orc_rt_Error_create("open: path contains a NUL byte");
  char *P = strndup(PathSize ? Path : "", PathSize);
  if (!P)
    return orc_rt_Error_create("out of memory");
  orc_rt_ErrorRef Err = orc_rt_DylibService_open(D, P, Handle);
  free(P);
  return Err;
}

/* (ExecutorAddr Instance, String Path, uint64 Mode) -> Expected<ExecutorAddr> */
static orc_rt_WrapperFunctionBuffer open_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  orc_rt_ExecutorAddr Instance = 0, Handle = 0;
  const char *Path = NULL;
  size_t PathSize = 0;
  uint64_t Mode = 0;
  orc_rt_SPSReader_addr(R, &Instance);
  orc_rt_SPSReader_bytes(R, &Path, &PathSize);
  orc_rt_SPSReader_u64(R, &Mode);
  if (!orc_rt_SPSReader_ok(R))
    return orcrt_glue_bad_args();
  orc_rt_DylibServiceRef D = orcrt_dylib_instance(S, Instance);
  orc_rt_ErrorRef Err =
      D ? open_checked(D, Path, PathSize, Mode, &Handle) : unknown_instance(Instance);
  return orcrt_glue_expected_addr(Err, Handle);
}

/*
 * Resolve one (Name, Required) element of a lookup into *Addr and *Flags.
 * Returns the error for the whole call.
 */
static orc_rt_ErrorRef lookup_one(orc_rt_DylibServiceRef D, const struct orcrt_dylib_scope *Scope,
                                  const char *Name, size_t NameSize, bool Required,
                                  orc_rt_ExecutorAddr *Addr, uint8_t *Flags) {
  char Short[256]; /* most names fit: no allocation for them */
  *Addr = 0;
  *Flags = JIT_SYMBOL_FLAGS_EXPORTED;
  if (NameSize == 0) {
    *Flags = 0;
    return Required ? orc_rt_Error_create("Required address for empty symbol \"\"") : NULL;
  }
  if (memchr(Name, '\0', NameSize)) {
    /* No symbol has a NUL in its name. */
    return Required ? orc_rt_Error_create("Missing definition for %.*s",
                                          (int)strnlen(Name, NameSize), Name)
                    : NULL;
  }
  char *N = NameSize < sizeof(Short) ? Short : malloc(NameSize + 1);
  if (!N)
    return orc_rt_Error_create("out of memory");
  memcpy(N, Name, NameSize);
  N[NameSize] = '\0';
  *Addr = orcrt_dylib_scope_lookup(D, Scope, N);
  orc_rt_ErrorRef Err =
      !*Addr && Required ? orc_rt_Error_create("Missing definition for %s", N) : NULL;
  if (N != Short)
    free(N);
  return Err;
}

/*
 * Resolve the Count (Name, Required) elements that R holds next into W in
 * order, each in the given Form. Returns the error for the whole call.
 */
static orc_rt_ErrorRef lookup_all(orc_rt_DylibServiceRef D, orc_rt_ExecutorAddr Handle,
                                  orc_rt_SPSReader *R, uint64_t Count,
                                  enum orcrt_llvm19_lookup_form Form, orc_rt_SPSWriter *W) {
  /* The handle once for the batch; an empty batch needs none. */
  struct orcrt_dylib_scope Scope = {NULL, false};
  if (Count) {
    orc_rt_ErrorRef Err = orcrt_dylib_scope(D, Handle, &Scope);
    if (Err)
      return Err;
  }
  orc_rt_SPSWriter_seqCount(W, Count);
  for (uint64_t I = 0; I < Count; I++) {
    const char *Name = NULL;
    size_t NameSize = 0;
    bool Required = false;
    orc_rt_ExecutorAddr Addr;
    uint8_t Flags;
    orc_rt_SPSReader_bytes(R, &Name, &NameSize);
    orc_rt_SPSReader_bool(R, &Required);
    if (!orc_rt_SPSReader_ok(R))
      return orc_rt_Error_create("%s", orcrt_glue_deserialize_error);
    orc_rt_ErrorRef Err = lookup_one(D, &Scope, Name, NameSize, Required, &Addr, &Flags);
    if (Err)
      return Err;
    if (Form == ORCRT_LLVM19_LOOKUP_OPTIONAL_DEF)
      orc_rt_SPSWriter_bool(W, true); /* present, address 0 if not found, as LLVM 22 says */
    orc_rt_SPSWriter_addr(W, Addr);
    if (Form != ORCRT_LLVM19_LOOKUP_ADDR) {
      orc_rt_SPSWriter_u8(W, Flags);
      orc_rt_SPSWriter_u8(W, 0); /* TargetFlags */
    }
  }
  return NULL;
}

orc_rt_WrapperFunctionBuffer orcrt_llvm19_lookup(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                                 enum orcrt_llvm19_lookup_form Form) {
  orc_rt_ExecutorAddr Instance = 0, Handle = 0;
  uint64_t Count = 0;
  /* LLVM 22's resolve names no Instance: the handle is enough. */
  bool HasInstance = Form != ORCRT_LLVM19_LOOKUP_OPTIONAL_DEF;
  if (HasInstance)
    orc_rt_SPSReader_addr(R, &Instance);
  orc_rt_SPSReader_addr(R, &Handle);
  orc_rt_SPSReader_seqCount(R, SPS_LOOKUP_ELEMENT_MIN, &Count);
  if (!orc_rt_SPSReader_ok(R))
    return orcrt_glue_bad_args();
  orc_rt_DylibServiceRef D = HasInstance ? orcrt_dylib_instance(S, Instance) : orcrt_dylib_of(S);
  orc_rt_SPSWriter Defs, W;
  orc_rt_SPSWriter_init(&Defs);
  orc_rt_ErrorRef Err =
      D ? lookup_all(D, Handle, R, Count, Form, &Defs) : unknown_instance(Instance);
  if (!Err && orc_rt_SPSWriter_failed(&Defs))
    Err = orc_rt_Error_create("out of memory");
  orc_rt_SPSWriter_init(&W);
  if (Err) {
    orc_rt_SPSWriter_expectedError(&W, Err);
  } else {
    orc_rt_SPSWriter_expectedValue(&W);
    orc_rt_SPSWriter_raw(&W, orc_rt_SPSWriter_data(&Defs), orc_rt_SPSWriter_size(&Defs));
  }
  orc_rt_SPSWriter_dispose(&Defs);
  return orc_rt_SPSWriter_finish(&W);
}

/*
 * (ExecutorAddr Instance, ExecutorAddr Handle, Sequence<(String, bool)>)
 *   -> Expected<Sequence<ExecutorSymbolDef>>
 */
static orc_rt_WrapperFunctionBuffer lookup_body(orc_rt_SessionRef S, orc_rt_SPSReader *R) {
  return orcrt_llvm19_lookup(S, R, ORCRT_LLVM19_LOOKUP_SYMBOL_DEF);
}

ORCRT_GLUE_WRAPPER(open_wrapper, open_body)
ORCRT_GLUE_WRAPPER(lookup_wrapper, lookup_body)

/* ---- the trace ------------------------------------------------------------------- */

/* "libm.so.6", or "(the executor)" for the empty path */
static void open_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                      struct orcrt_trace_text *T) {
  (void)S;
  orc_rt_SPSReader R;
  orc_rt_ExecutorAddr Instance = 0;
  const char *Path = NULL;
  size_t PathSize = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  if (!orc_rt_SPSReader_addr(&R, &Instance) || !orc_rt_SPSReader_bytes(&R, &Path, &PathSize))
    orcrt_trace_printf(T, "undecodable");
  else if (PathSize == 0)
    orcrt_trace_printf(T, "(the executor)");
  else
    orcrt_trace_name(T, Path, PathSize);
}

/* The names a lookup trace line shows before "...". */
enum { LOOKUP_NAMES_SHOWN = 4 };

/* "5 names (printf, puts, exit, malloc, ...)" */
void orcrt_llvm19_lookup_names(const char *Data, size_t Size, size_t Skip,
                               struct orcrt_trace_text *T) {
  orc_rt_SPSReader R;
  uint64_t Count = 0;
  orc_rt_SPSReader_init(&R, Data, Size);
  orc_rt_SPSReader_skip(&R, Skip);
  if (!orc_rt_SPSReader_seqCount(&R, SPS_LOOKUP_ELEMENT_MIN, &Count)) {
    orcrt_trace_printf(T, "undecodable");
    return;
  }
  orcrt_trace_printf(T, "%" PRIu64 " name%s", Count, Count == 1 ? "" : "s");
  for (uint64_t I = 0; I < Count && I < LOOKUP_NAMES_SHOWN; I++) {
    const char *Name = NULL;
    size_t NameSize = 0;
    bool Required = false;
    if (!orc_rt_SPSReader_bytes(&R, &Name, &NameSize) || !orc_rt_SPSReader_bool(&R, &Required))
      break;
    orcrt_trace_printf(T, I == 0 ? " (" : ", ");
    orcrt_trace_name(T, Name, NameSize);
  }
  if (Count)
    orcrt_trace_printf(T, Count > LOOKUP_NAMES_SHOWN ? ", ...)" : ")");
}

void orcrt_llvm19_lookup_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                              struct orcrt_trace_text *T) {
  (void)S;
  orcrt_llvm19_lookup_names(Data, Size, 16, T); /* after Instance and Handle */
}

/* "5 found" or "4 of 5 found", for a lookup result of Form */
bool orcrt_llvm19_lookup_result(const char *Data, size_t Size, enum orcrt_llvm19_lookup_form Form,
                                struct orcrt_trace_text *T) {
  orc_rt_SPSReader R;
  bool Ok;
  uint64_t Count = 0, Found = 0;
  size_t Before = Form == ORCRT_LLVM19_LOOKUP_OPTIONAL_DEF; /* present */
  size_t Extra = Form == ORCRT_LLVM19_LOOKUP_ADDR ? 0 : 2;  /* the flags */
  orc_rt_SPSReader_init(&R, Data, Size);
  if (orcrt_glue_trace_expected_failed(&R, T, &Ok))
    return true;
  if (!Ok)
    return false;
  orc_rt_SPSReader_seqCount(&R, Before ? 1 : 8 + Extra, &Count);
  for (uint64_t I = 0; I < Count && orc_rt_SPSReader_ok(&R); I++) {
    orc_rt_ExecutorAddr Addr = 0;
    bool Present = true;
    if (Before)
      orc_rt_SPSReader_bool(&R, &Present);
    if (!Present)
      continue;
    orc_rt_SPSReader_addr(&R, &Addr);
    orc_rt_SPSReader_skip(&R, Extra);
    Found += Addr != 0;
  }
  if (!orc_rt_SPSReader_ok(&R))
    orcrt_trace_printf(T, "undecodable");
  else if (Found == Count)
    orcrt_trace_printf(T, "%" PRIu64 " found", Found);
  else
    orcrt_trace_printf(T, "%" PRIu64 " of %" PRIu64 " found", Found, Count);
  return false;
}

static bool lookup_result(orc_rt_SessionRef S, const char *Data, size_t Size,
                          struct orcrt_trace_text *T) {
  (void)S;
  return orcrt_llvm19_lookup_result(Data, Size, ORCRT_LLVM19_LOOKUP_SYMBOL_DEF, T);
}

static const struct orcrt_wrapper_trace OpenTrace = {"open", open_args,
                                                     orcrt_glue_trace_expected_addr};
static const struct orcrt_wrapper_trace LookupTrace = {"lookup", orcrt_llvm19_lookup_args,
                                                       lookup_result};

orc_rt_ErrorRef orcrt_llvm19_add_dylib(orc_rt_SessionRef S, orc_rt_DylibServiceRef D) {
  /* The runtime's own LLVM-named entry points, found before anything else (for every wire). */
  const struct {
    const char *Name;
    orc_rt_ExecutorAddr Addr;
  } Own[] = {
      {"llvm_orc_registerEHFrameSectionWrapper",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerEHFrameSectionWrapper)},
      {"llvm_orc_deregisterEHFrameSectionWrapper",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_deregisterEHFrameSectionWrapper)},
      {"llvm_orc_registerJITLoaderGDBWrapper",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerJITLoaderGDBWrapper)},
      {"__jit_debug_register_code",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)__jit_debug_register_code)},
      {"__jit_debug_descriptor", orc_rt_ExecutorAddr_fromPtr(&__jit_debug_descriptor)},
      /* The ORC runtime uses this pair, if both resolve, instead of libgcc's __register_frame. */
      {"__unw_add_dynamic_eh_frame_section",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)orcrt_eh_frame_add)},
      {"__unw_remove_dynamic_eh_frame_section",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)orcrt_eh_frame_remove)},
      {"llvm_orc_registerJITLoaderPerfStart",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerJITLoaderPerfStart)},
      {"llvm_orc_registerJITLoaderPerfEnd",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerJITLoaderPerfEnd)},
      {"llvm_orc_registerJITLoaderPerfImpl",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerJITLoaderPerfImpl)},
  };
  /* open is every wire's; this lookup 19's (14-16 has its own, 22 resolves). */
  static const struct orcrt_glue_wrapper Shared[] = {
      {"__llvm_orc_SimpleExecutorDylibManager_open_wrapper", open_wrapper, false, &OpenTrace},
  };
  static const struct orcrt_glue_wrapper Wrappers[] = {
      {"__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper", lookup_wrapper, false, &LookupTrace},
  };
  orc_rt_ErrorRef Err = NULL;
  for (size_t I = 0; !Err && I < ORCRT_ARRAY_SIZE(Own); I++)
    Err = orc_rt_DylibService_addSymbol(D, Own[I].Name, Own[I].Addr);
  if (!Err)
    Err =
        orcrt_glue_add_service(S, ORCRT_WIRE_ALL, "__llvm_orc_SimpleExecutorDylibManager_Instance",
                               D, Shared, ORCRT_ARRAY_SIZE(Shared));
  if (!Err)
    Err = orcrt_glue_add_wrappers(S, ORCRT_WIRE_LLVM19, Wrappers, ORCRT_ARRAY_SIZE(Wrappers));
  return Err;
}

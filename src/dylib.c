/*
 * dylib.c - libraries and symbol lookup: LLVM 19's SimpleExecutorDylibManager in C
 */
#include "orcrt-internal.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/bootstrap.h>
#include <orcrt/dylib.h>
#include <orcrt/session.h>
#include <orcrt/sps.h>

#include "memory-internal.h"

/* A dlopen() reference the Service holds. */
struct lib {
  void *Handle;
  bool Issued; /* handed out by open(); the lazily loaded runtimes are not */
};

struct symbol {
  char *Name;
  orc_rt_ExecutorAddr Addr;
};

struct orc_rt_OpaqueDylibService {
  orc_rt_SessionRef S;
  pthread_mutex_t Lock; /* guards the fields up to ShutDown */
  struct lib *Libs;     /* in load order */
  size_t NumLibs, CapLibs;
  struct symbol *Syms;
  size_t NumSyms, CapSyms;
  void *ProcessHandle; /* dlopen(NULL), once open("") was called */
  bool ShutDown;
  pthread_mutex_t RuntimeLock; /* held while the runtimes are loaded */
  bool RuntimesLoaded;
};

static const char DeserializeError[] = "Could not deserialize arguments for wrapper function call";

/*
 * What LLVM's own executor links and JIT'd C and C++ expect to find in the
 * process: the C++ runtime, libm and the unwinder.
 */
static const char *const Runtimes[] = {"libstdc++.so.6", "libm.so.6", "libgcc_s.so.1"};

/* ---- the library list ----------------------------------------------------- */

/* The issued library with handle H, or NULL. Lock held. */
static struct lib *find_issued(orc_rt_DylibServiceRef D, orc_rt_ExecutorAddr H) {
  for (size_t I = 0; I < D->NumLibs; I++)
    if (D->Libs[I].Issued && orc_rt_ExecutorAddr_fromPtr(D->Libs[I].Handle) == H)
      return &D->Libs[I];
  return NULL;
}

/* Room for one more library. Lock held. */
static bool grow_libs(orc_rt_DylibServiceRef D) {
  if (D->NumLibs < D->CapLibs)
    return true;
  size_t Cap = D->CapLibs ? D->CapLibs * 2 : 8;
  struct lib *L = reallocarray(D->Libs, Cap, sizeof(*L));
  if (!L)
    return false;
  D->Libs = L;
  D->CapLibs = Cap;
  return true;
}

/*
 * Keep the reference H that dlopen() just returned; Issued marks it as a
 * handle given to the controller. If D holds H already, the new reference is
 * dropped (so the same library always has the same handle). Returns an
 * error, having dropped H, if D is shut down or memory runs out.
 */
static orc_rt_ErrorRef keep_lib(orc_rt_DylibServiceRef D, void *H, bool Issued) {
  orc_rt_ErrorRef Err = NULL;
  bool Drop = true;
  pthread_mutex_lock(&D->Lock);
  size_t I = 0;
  while (I < D->NumLibs && D->Libs[I].Handle != H)
    I++;
  if (D->ShutDown) {
    Err = orc_rt_Error_create("the dylib Service is shut down");
  } else if (I < D->NumLibs) {
    D->Libs[I].Issued = D->Libs[I].Issued || Issued;
  } else if (!grow_libs(D)) {
    Err = orc_rt_Error_create("out of memory");
  } else {
    D->Libs[D->NumLibs].Handle = H;
    D->Libs[D->NumLibs].Issued = Issued;
    D->NumLibs++;
    Drop = false;
  }
  pthread_mutex_unlock(&D->Lock);
  if (Drop)
    dlclose(H);
  return Err;
}

/*
 * Load the runtimes JIT'd code expects (see Runtimes), once per Service.
 * Failures only cost the names they would have defined.
 */
static void load_runtimes(orc_rt_DylibServiceRef D) {
  pthread_mutex_lock(&D->RuntimeLock);
  if (!D->RuntimesLoaded) {
    D->RuntimesLoaded = true;
    for (size_t I = 0; I < ORCRT_ARRAY_SIZE(Runtimes); I++) {
      void *H = dlopen(Runtimes[I], RTLD_NOW | RTLD_GLOBAL);
      if (!H) {
        orc_rt_Session_log(D->S, orc_rt_LogLevel_Debug, "cannot load %s: %s", Runtimes[I],
                           dlerror());
        continue;
      }
      orc_rt_ErrorRef Err = keep_lib(D, H, false);
      if (Err)
        orc_rt_Session_log(D->S, orc_rt_LogLevel_Debug, "cannot keep %s: %s", Runtimes[I],
                           orc_rt_Error_getMessage(Err));
      orc_rt_Error_consume(Err);
    }
  }
  pthread_mutex_unlock(&D->RuntimeLock);
}

/* ---- the C API -------------------------------------------------------------- */

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_DylibService_open(orc_rt_DylibServiceRef D, const char *Path,
                                                       orc_rt_ExecutorAddr *Handle) {
  bool Process = Path[0] == '\0';
  *Handle = 0;
  void *H = Process ? dlopen(NULL, RTLD_NOW) : dlopen(Path, RTLD_NOW | RTLD_GLOBAL);
  if (!H) {
    const char *Msg = dlerror();
    return orc_rt_Error_create("%s", Msg ? Msg : "dlopen failed");
  }
  orc_rt_ErrorRef Err = keep_lib(D, H, true);
  if (Err)
    return Err;
  if (Process) {
    pthread_mutex_lock(&D->Lock);
    D->ProcessHandle = H;
    pthread_mutex_unlock(&D->Lock);
  }
  *Handle = orc_rt_ExecutorAddr_fromPtr(H);
  return NULL;
}

/* The runtime's own symbol Name, or 0. Lock held. */
static orc_rt_ExecutorAddr find_own_symbol(orc_rt_DylibServiceRef D, const char *Name) {
  for (size_t I = 0; I < D->NumSyms; I++)
    if (strcmp(D->Syms[I].Name, Name) == 0)
      return D->Syms[I].Addr;
  return 0;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_DylibService_lookup(orc_rt_DylibServiceRef D,
                                                         orc_rt_ExecutorAddr Handle,
                                                         const char *Name,
                                                         orc_rt_ExecutorAddr *Addr) {
  *Addr = 0;
  pthread_mutex_lock(&D->Lock);
  struct lib *L = find_issued(D, Handle);
  void *H = L ? L->Handle : NULL;
  bool Process = L && H == D->ProcessHandle;
  if (Process)
    *Addr = find_own_symbol(D, Name);
  pthread_mutex_unlock(&D->Lock);
  if (!L)
    return orc_rt_Error_create("Unknown dylib handle 0x%" PRIx64, Handle);
  if (*Addr)
    return NULL;

  /*
   * H stays valid: libraries are only closed at shutdown, after the last
   * call. Not under the lock: dlsym may take the loader's lock.
   */
  void *P = dlsym(H, Name);
  if (!P && Process) {
    bool Retry;
    pthread_mutex_lock(&D->RuntimeLock);
    Retry = !D->RuntimesLoaded;
    pthread_mutex_unlock(&D->RuntimeLock);
    if (Retry) {
      load_runtimes(D);
      P = dlsym(H, Name);
    }
  }
  *Addr = orc_rt_ExecutorAddr_fromPtr(P);
  return NULL;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_DylibService_addSymbol(orc_rt_DylibServiceRef D,
                                                            const char *Name,
                                                            orc_rt_ExecutorAddr Addr) {
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&D->Lock);
  size_t I = 0;
  while (I < D->NumSyms && strcmp(D->Syms[I].Name, Name) != 0)
    I++;
  if (I < D->NumSyms) {
    D->Syms[I].Addr = Addr;
    goto out;
  }
  if (D->NumSyms == D->CapSyms) {
    size_t Cap = D->CapSyms ? D->CapSyms * 2 : 8;
    struct symbol *Syms = reallocarray(D->Syms, Cap, sizeof(*Syms));
    if (!Syms) {
      Err = orc_rt_Error_create("out of memory");
      goto out;
    }
    D->Syms = Syms;
    D->CapSyms = Cap;
  }
  D->Syms[I].Name = strdup(Name);
  if (!D->Syms[I].Name) {
    Err = orc_rt_Error_create("out of memory");
    goto out;
  }
  D->Syms[I].Addr = Addr;
  D->NumSyms++;
out:
  pthread_mutex_unlock(&D->Lock);
  return Err;
}

/* ---- the wrapper functions ------------------------------------------------- */

/* The dylib Service of S if Instance names it, else NULL. */
static orc_rt_DylibServiceRef instance(orc_rt_SessionRef S, orc_rt_ExecutorAddr Instance) {
  orc_rt_DylibServiceRef D = orc_rt_Session_findService(S, &orcrt_dylib_service_ops);
  return D && orc_rt_ExecutorAddr_fromPtr(D) == Instance ? D : NULL;
}

static orc_rt_ErrorRef unknown_instance(orc_rt_ExecutorAddr Instance) {
  return orc_rt_Error_create("Unknown dylib manager instance 0x%" PRIx64, Instance);
}

/* (ExecutorAddr Instance, String Path, uint64 Mode) -> Expected<ExecutorAddr> */
static void open_wrapper(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,
                         orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Instance = 0, Handle = 0;
  const char *Path = NULL;
  size_t PathSize = 0;
  uint64_t Mode = 0;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_addr(&R, &Instance);
  orc_rt_SPSReader_bytes(&R, &Path, &PathSize);
  orc_rt_SPSReader_u64(&R, &Mode);
  if (!orc_rt_SPSReader_ok(&R)) {
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
  } else {
    orc_rt_DylibServiceRef D = instance(S, Instance);
    orc_rt_ErrorRef Err = NULL;
    char *P = NULL;
    if (!D)
      Err = unknown_instance(Instance);
    else if (Mode != 0)
      Err = orc_rt_Error_create("open: non-zero mode bits not yet supported");
    else if (PathSize && memchr(Path, '\0', PathSize))
      Err = orc_rt_Error_create("open: path contains a NUL byte");
    else if (!(P = strndup(PathSize ? Path : "", PathSize)))
      Err = orc_rt_Error_create("out of memory");
    else
      Err = orc_rt_DylibService_open(D, P, &Handle);
    free(P);
    orc_rt_SPSWriter_init(&W);
    if (Err) {
      orc_rt_SPSWriter_expectedError(&W, Err);
    } else {
      orc_rt_SPSWriter_expectedValue(&W);
      orc_rt_SPSWriter_addr(&W, Handle);
    }
    Result = orc_rt_SPSWriter_finish(&W);
  }
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

/*
 * Resolve the Count (Name, Required) elements that R holds next into W as
 * ExecutorSymbolDefs, in order. Returns the error for the whole call.
 */
static orc_rt_ErrorRef lookup_all(orc_rt_DylibServiceRef D, orc_rt_ExecutorAddr Handle,
                                  orc_rt_SPSReader *R, uint64_t Count, orc_rt_SPSWriter *W) {
  orc_rt_SPSWriter_seqCount(W, Count);
  for (uint64_t I = 0; I < Count; I++) {
    const char *Name = NULL;
    size_t NameSize = 0;
    bool Required = false;
    orc_rt_ExecutorAddr Addr = 0;
    uint8_t Flags = 0x10; /* JITSymbolFlags::Exported: LLVM counts anything else as missing */

    orc_rt_SPSReader_bytes(R, &Name, &NameSize);
    orc_rt_SPSReader_bool(R, &Required);
    if (!orc_rt_SPSReader_ok(R))
      return orc_rt_Error_create("%s", DeserializeError);
    if (NameSize == 0) {
      if (Required)
        return orc_rt_Error_create("Required address for empty symbol \"\"");
      Flags = 0;
    } else if (!memchr(Name, '\0', NameSize)) {
      char *N = strndup(Name, NameSize);
      if (!N)
        return orc_rt_Error_create("out of memory");
      orc_rt_ErrorRef Err = orc_rt_DylibService_lookup(D, Handle, N, &Addr);
      if (!Err && !Addr && Required)
        Err = orc_rt_Error_create("Missing definition for %s", N);
      free(N);
      if (Err)
        return Err;
    } else if (Required) {
      /* No symbol has a NUL in its name. */
      return orc_rt_Error_create("Missing definition for %.*s", (int)strnlen(Name, NameSize), Name);
    }
    orc_rt_SPSWriter_addr(W, Addr);
    orc_rt_SPSWriter_u8(W, Flags);
    orc_rt_SPSWriter_u8(W, 0);
  }
  return NULL;
}

/*
 * (ExecutorAddr Instance, ExecutorAddr Handle, Sequence<(String, bool)>)
 *   -> Expected<Sequence<ExecutorSymbolDef>>
 */
static void lookup_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                           orc_rt_WrapperFunctionReturn Return, orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W, Defs;
  orc_rt_ExecutorAddr Instance = 0, Handle = 0;
  uint64_t Count = 0;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_addr(&R, &Instance);
  orc_rt_SPSReader_addr(&R, &Handle);
  /* An element is at least a string length and a bool. */
  orc_rt_SPSReader_seqCount(&R, 9, &Count);
  if (!orc_rt_SPSReader_ok(&R)) {
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
  } else {
    orc_rt_DylibServiceRef D = instance(S, Instance);
    orc_rt_SPSWriter_init(&Defs);
    orc_rt_ErrorRef Err = D ? lookup_all(D, Handle, &R, Count, &Defs) : unknown_instance(Instance);
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
    Result = orc_rt_SPSWriter_finish(&W);
  }
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

/* ---- the Service ---------------------------------------------------------- */

static void dylib_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done,
                           void *DoneCtx) {
  orc_rt_DylibServiceRef D = Ctx;
  pthread_mutex_lock(&D->RuntimeLock); /* no runtime load is under way or will start */
  D->RuntimesLoaded = true;
  pthread_mutex_lock(&D->Lock);
  D->ShutDown = true;
  struct lib *Libs = D->Libs;
  size_t NumLibs = D->NumLibs;
  D->Libs = NULL;
  D->NumLibs = D->CapLibs = 0;
  D->ProcessHandle = NULL;
  pthread_mutex_unlock(&D->Lock);
  pthread_mutex_unlock(&D->RuntimeLock);
  for (size_t I = NumLibs; I-- > 0;)
    dlclose(Libs[I].Handle);
  free(Libs);
  if (Done)
    Done(DoneCtx);
}

static void dylib_destroy(void *Ctx) {
  orc_rt_DylibServiceRef D = Ctx;
  for (size_t I = 0; I < D->NumLibs; I++)
    dlclose(D->Libs[I].Handle);
  free(D->Libs);
  for (size_t I = 0; I < D->NumSyms; I++)
    free(D->Syms[I].Name);
  free(D->Syms);
  pthread_mutex_destroy(&D->RuntimeLock);
  pthread_mutex_destroy(&D->Lock);
  free(D);
}

const orc_rt_ServiceOps orcrt_dylib_service_ops = {
    .Name = "dylib",
    .Shutdown = dylib_shutdown,
    .Destroy = dylib_destroy,
};

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_DylibService_add(orc_rt_SessionRef S,
                                                      orc_rt_DylibServiceRef *Out) {
  /* The runtime's own exported entry points, found before anything else. */
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
  };
  static const struct {
    const char *Name;
    orc_rt_WrapperFunction Fn;
  } Wrappers[] = {
      {"__llvm_orc_SimpleExecutorDylibManager_open_wrapper", open_wrapper},
      {"__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper", lookup_wrapper},
  };
  orc_rt_ErrorRef Err = NULL;

  if (orc_rt_Session_findService(S, &orcrt_dylib_service_ops))
    return orc_rt_Error_create("the Session already has a dylib Service");
  orc_rt_DylibServiceRef D = calloc(1, sizeof(*D));
  if (!D)
    return orc_rt_Error_create("out of memory");
  D->S = S;
  pthread_mutex_init(&D->Lock, NULL);
  pthread_mutex_init(&D->RuntimeLock, NULL);
  for (size_t I = 0; !Err && I < ORCRT_ARRAY_SIZE(Own); I++)
    Err = orc_rt_DylibService_addSymbol(D, Own[I].Name, Own[I].Addr);
  if (!Err)
    Err = orc_rt_Session_addService(S, &orcrt_dylib_service_ops, D);
  if (Err) {
    dylib_destroy(D);
    return Err;
  }
  /* S owns D from here on. */
  Err = orc_rt_Session_addBootstrapSymbol(S, "__llvm_orc_SimpleExecutorDylibManager_Instance",
                                          orc_rt_ExecutorAddr_fromPtr(D));
  for (size_t I = 0; !Err && I < ORCRT_ARRAY_SIZE(Wrappers); I++)
    Err = orc_rt_Session_addWrapperFunction(S, Wrappers[I].Name, Wrappers[I].Fn);
  if (Err)
    return Err;
  *Out = D;
  return NULL;
}

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

/*
 * A name dlsym() found in the process. What it finds there cannot change
 * while the Service lives: libraries are only closed at shutdown, and one
 * loaded later (RTLD_GLOBAL) comes after those already searched. So a batch
 * of names looked up again (lli asks for each symbol on its own, often
 * repeatedly; every object of a program asks for printf) skips the loader.
 * Only names found are kept, so the table is bounded by what the loaded
 * libraries export.
 */
struct found {
  char *Name; /* NULL: an empty slot */
  uint64_t Hash;
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
  struct found *Found; /* names found in the process: an open-addressing table */
  size_t FoundMask, NumFound;
  bool ShutDown;
  pthread_mutex_t RuntimeLock; /* held while a runtime is loaded */
  size_t RuntimesLoaded;       /* how many of Runtimes, in order */
};

static const char DeserializeError[] = "Could not deserialize arguments for wrapper function call";

/*
 * What LLVM's own executor links and JIT'd C and C++ expect to find in the
 * process: libm, the unwinder and the C++ runtime, loaded in that order
 * (cheapest first) as names are missed.
 */
static const char *const Runtimes[] = {"libm.so.6", "libgcc_s.so.1", "libstdc++.so.6"};

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
 * Load the next of the runtimes JIT'd code expects (see Runtimes), in
 * order, each once per Service: a name missing from the process costs the
 * loading of only as many as it takes to find it (libm is small, libstdc++
 * is not). Returns false once all are loaded. A failure only costs the
 * names that runtime would have defined.
 */
static bool load_next_runtime(orc_rt_DylibServiceRef D, size_t Seen) {
  bool More = true;
  pthread_mutex_lock(&D->RuntimeLock);
  /* Another thread may have loaded one since the caller looked: retry with that. */
  if (D->RuntimesLoaded == Seen) {
    if (D->RuntimesLoaded == ORCRT_ARRAY_SIZE(Runtimes)) {
      More = false;
    } else {
      const char *Name = Runtimes[D->RuntimesLoaded++];
      void *H = dlopen(Name, RTLD_NOW | RTLD_GLOBAL);
      if (!H) {
        orc_rt_Session_log(D->S, orc_rt_LogLevel_Debug, "cannot load %s: %s", Name, dlerror());
      } else {
        orc_rt_ErrorRef Err = keep_lib(D, H, false);
        if (Err)
          orc_rt_Session_log(D->S, orc_rt_LogLevel_Debug, "cannot keep %s: %s", Name,
                             orc_rt_Error_getMessage(Err));
        orc_rt_Error_consume(Err);
      }
    }
  }
  pthread_mutex_unlock(&D->RuntimeLock);
  return More;
}

static size_t runtimes_loaded(orc_rt_DylibServiceRef D) {
  pthread_mutex_lock(&D->RuntimeLock);
  size_t N = D->RuntimesLoaded;
  pthread_mutex_unlock(&D->RuntimeLock);
  return N;
}

/* ---- the table of names found ------------------------------------------------ */

static uint64_t name_hash(const char *Name) {
  uint64_t H = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
  for (const unsigned char *P = (const unsigned char *)Name; *P; P++)
    H = (H ^ *P) * UINT64_C(0x100000001b3);
  return H;
}

/* The address found for Name earlier, or 0. Lock held. */
static orc_rt_ExecutorAddr found_get(orc_rt_DylibServiceRef D, const char *Name, uint64_t Hash) {
  if (!D->Found)
    return 0;
  for (size_t I = (size_t)Hash & D->FoundMask; D->Found[I].Name; I = (I + 1) & D->FoundMask)
    if (D->Found[I].Hash == Hash && strcmp(D->Found[I].Name, Name) == 0)
      return D->Found[I].Addr;
  return 0;
}

/* Remember that Name is at Addr; out of memory, forget it. Lock held. */
static void found_put(orc_rt_DylibServiceRef D, const char *Name, uint64_t Hash,
                      orc_rt_ExecutorAddr Addr) {
  if (D->ShutDown || found_get(D, Name, Hash))
    return;
  /* At most half full, so that probes stay short. */
  if (!D->Found || (D->NumFound + 1) * 2 > D->FoundMask + 1) {
    size_t Cap = D->Found ? (D->FoundMask + 1) * 2 : 1024;
    struct found *New = calloc(Cap, sizeof(*New));
    if (!New)
      return;
    for (size_t I = 0; D->Found && I <= D->FoundMask; I++) {
      if (!D->Found[I].Name)
        continue;
      size_t J = (size_t)D->Found[I].Hash & (Cap - 1);
      while (New[J].Name)
        J = (J + 1) & (Cap - 1);
      New[J] = D->Found[I];
    }
    free(D->Found);
    D->Found = New;
    D->FoundMask = Cap - 1;
  }
  char *Copy = strdup(Name);
  if (!Copy)
    return;
  size_t I = (size_t)Hash & D->FoundMask;
  while (D->Found[I].Name)
    I = (I + 1) & D->FoundMask;
  D->Found[I] = (struct found){Copy, Hash, Addr};
  D->NumFound++;
}

static void found_free(orc_rt_DylibServiceRef D) {
  for (size_t I = 0; D->Found && I <= D->FoundMask; I++)
    free(D->Found[I].Name);
  free(D->Found);
  D->Found = NULL;
  D->FoundMask = D->NumFound = 0;
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

/*
 * The library behind the issued handle Handle (NULL if there is none), and
 * whether it is the process. It stays valid: libraries are only closed at
 * shutdown, after the last call.
 */
static void *issued_handle(orc_rt_DylibServiceRef D, orc_rt_ExecutorAddr Handle, bool *Process) {
  pthread_mutex_lock(&D->Lock);
  struct lib *L = find_issued(D, Handle);
  void *H = L ? L->Handle : NULL;
  *Process = L && H == D->ProcessHandle;
  pthread_mutex_unlock(&D->Lock);
  return H;
}

/* Name in the library H (the process if Process), or 0. */
static orc_rt_ExecutorAddr resolve(orc_rt_DylibServiceRef D, void *H, bool Process,
                                   const char *Name) {
  if (!Process)
    return orc_rt_ExecutorAddr_fromPtr(dlsym(H, Name));
  uint64_t Hash = name_hash(Name);
  pthread_mutex_lock(&D->Lock);
  orc_rt_ExecutorAddr Addr = find_own_symbol(D, Name);
  if (!Addr)
    Addr = found_get(D, Name, Hash);
  pthread_mutex_unlock(&D->Lock);
  if (Addr)
    return Addr;
  /* Not under the lock: dlsym may take the loader's lock. */
  size_t Loaded = runtimes_loaded(D);
  void *P = dlsym(H, Name);
  while (!P && load_next_runtime(D, Loaded)) {
    Loaded = runtimes_loaded(D);
    P = dlsym(H, Name);
  }
  if (P) {
    pthread_mutex_lock(&D->Lock);
    found_put(D, Name, Hash, orc_rt_ExecutorAddr_fromPtr(P));
    pthread_mutex_unlock(&D->Lock);
  }
  return orc_rt_ExecutorAddr_fromPtr(P);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_DylibService_lookup(orc_rt_DylibServiceRef D,
                                                         orc_rt_ExecutorAddr Handle,
                                                         const char *Name,
                                                         orc_rt_ExecutorAddr *Addr) {
  bool Process;
  *Addr = 0;
  void *H = issued_handle(D, Handle, &Process);
  if (!H)
    return orc_rt_Error_create("Unknown dylib handle 0x%" PRIx64, Handle);
  *Addr = resolve(D, H, Process, Name);
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
  /* The handle once for the batch (llvm-jitlink asks for all of a link's names in one call). */
  bool Process;
  void *H = issued_handle(D, Handle, &Process);
  if (!H && Count)
    return orc_rt_Error_create("Unknown dylib handle 0x%" PRIx64, Handle);
  char Short[256]; /* most names fit: no allocation for them */
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
      char *N = NameSize < sizeof(Short) ? Short : malloc(NameSize + 1);
      if (!N)
        return orc_rt_Error_create("out of memory");
      memcpy(N, Name, NameSize);
      N[NameSize] = '\0';
      Addr = resolve(D, H, Process, N);
      orc_rt_ErrorRef Err =
          !Addr && Required ? orc_rt_Error_create("Missing definition for %s", N) : NULL;
      if (N != Short)
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
  D->RuntimesLoaded = ORCRT_ARRAY_SIZE(Runtimes);
  pthread_mutex_lock(&D->Lock);
  D->ShutDown = true;
  found_free(D);
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
  found_free(D);
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

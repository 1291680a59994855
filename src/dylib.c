/*
 * dylib.c - the dylib Service: libraries, symbol lookup, the runtime's own
 * symbols and the cache of names found in the process
 *
 * Plain C operations; the wrappers of LLVM 19's SimpleExecutorDylibManager
 * over them are in llvm19/dylib.c.
 *
 * Locks: D->Lock protects Libs, Syms, ProcessHandle, Found and ShutDown.
 * D->RuntimeLock serialises the loading of the runtimes (RuntimesLoaded)
 * and is held across dlopen(), so that each is loaded once. Lock order:
 * RuntimeLock, then Lock (load_next_runtime() keeps a library under Lock
 * while holding RuntimeLock, and so does dylib_shutdown()); never Lock then
 * RuntimeLock. Neither is held across dlsym(), which may take the loader's
 * lock, nor across a call into the Session. The C++ iostreams (below) are
 * set up once per process under pthread_once(), with neither held.
 */
#include "orcrt-internal.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/dylib.h>
#include <orcrt/session.h>

#include "dylib-internal.h"
#include "util/array.h"
#include "util/u64map.h"

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
 * A name dlsym() found in the process, in D->Found by the FNV-1a hash of the
 * name. What it finds there cannot change
 * while the Service lives: libraries are only closed at shutdown, and one
 * loaded later (RTLD_GLOBAL) comes after those already searched. So a batch
 * of names looked up again (lli asks for each symbol on its own, often
 * repeatedly; every object of a program asks for printf) skips the loader.
 * Only names found are kept, so the table is bounded by what the loaded
 * libraries export. Two names of one 64-bit hash (practically never) share
 * a slot: the first keeps it, the second is simply not cached.
 */
struct found {
  char *Name;
  orc_rt_ExecutorAddr Addr;
};

struct orc_rt_OpaqueDylibService {
  orc_rt_SessionRef S;
  pthread_mutex_t Lock;             /* protects the fields up to ShutDown */
  ORCRT_ARRAY(struct lib) Libs;     /* in load order */
  ORCRT_ARRAY(struct symbol) Syms;  /* the runtime's own symbols, in order of addition */
  void *ProcessHandle;              /* dlopen(NULL), once open("") was called */
  struct orcrt_u64map Found;        /* names found in the process: hash -> struct found */
  bool ShutDown;
  pthread_mutex_t RuntimeLock;      /* protects RuntimesLoaded; held while a runtime loads */
  size_t RuntimesLoaded;            /* how many of Runtimes, in order */
};

/*
 * What LLVM's own executor links and JIT'd C and C++ expect to find in the
 * process: libm, the unwinder and the C++ runtime, loaded in that order
 * (cheapest first) as names are missed.
 */
static const char *const Runtimes[] = {"libm.so.6", "libgcc_s.so.1", "libstdc++.so.6"};

/* ---- C++ iostreams ------------------------------------------------------------ */

/*
 * std::cout and its siblings are constructed by std::ios_base::Init, of
 * which every translation unit including <iostream> holds a static instance
 * (GCC 12's libstdc++ does not construct them itself; GCC 13's does, and
 * keeps the class). JIT'd code's static initialisers do not run without
 * LLVM's ORC runtime, so its "std::cout << x" would use an unconstructed
 * stream and crash; LLVM's own executor is spared only because it is a C++
 * program whose own translation units ran an Init. So once libstdc++ is in
 * the process, the Service constructs one Init of its own, for the life of
 * the process: libstdc++ is pinned (RTLD_NODELETE) so that dylib_shutdown's
 * dlclose() cannot unload it under the object, and the destructor (which
 * flushes the streams when the last Init goes) runs at exit(), after the
 * JIT'd program's own exit handlers, which were registered later. The
 * object is in this file's storage, not in JIT memory, so unmapping JIT
 * memory first does not matter. Inits are reference-counted: an ORC
 * runtime's or a newer libstdc++'s own Init beside this one is harmless.
 */
static pthread_once_t IostreamsOnce = PTHREAD_ONCE_INIT;
static atomic_bool IostreamsReady; /* set once the Init below is constructed (or cannot be) */
static _Alignas(16) unsigned char IostreamsInit[16]; /* the Init object (1 byte in GCC) */
static void (*IostreamsFini)(void *);

static void iostreams_fini(void) {
  IostreamsFini(IostreamsInit);
}

static void iostreams_construct(void) {
  void *H = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  if (H) {
    void (*Init)(void *) = (void (*)(void *))dlsym(H, "_ZNSt8ios_base4InitC1Ev");
    IostreamsFini = (void (*)(void *))dlsym(H, "_ZNSt8ios_base4InitD1Ev");
    if (Init && IostreamsFini && atexit(iostreams_fini) == 0)
      Init(IostreamsInit);
    /* H stays open: the library is pinned for the process's life anyway. */
  }
  atomic_store(&IostreamsReady, true);
}

/*
 * Construct the Init if libstdc++ is now in the process (loaded by the
 * Service, by a library the controller opened, or there from the start).
 * Cheap once done. Call with no lock held: it may take the loader's lock.
 */
static void iostreams_check(void) {
  if (atomic_load(&IostreamsReady))
    return;
  void *H = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (!H)
    return;
  dlclose(H);
  pthread_once(&IostreamsOnce, iostreams_construct);
}

/* ---- the library list ----------------------------------------------------- */

/* The issued library with handle H, or NULL. Lock held. */
static struct lib *find_issued(orc_rt_DylibServiceRef D, orc_rt_ExecutorAddr H) {
  for (size_t I = 0; I < D->Libs.Len; I++)
    if (D->Libs.Items[I].Issued && orc_rt_ExecutorAddr_fromPtr(D->Libs.Items[I].Handle) == H)
      return &D->Libs.Items[I];
  return NULL;
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
  while (I < D->Libs.Len && D->Libs.Items[I].Handle != H)
    I++;
  struct lib L = {H, Issued};
  if (D->ShutDown)
    Err = orc_rt_Error_create("the dylib Service is shut down");
  else if (I < D->Libs.Len)
    D->Libs.Items[I].Issued = D->Libs.Items[I].Issued || Issued;
  else if (!ORCRT_ARRAY_PUSH(&D->Libs, &L))
    Err = orc_rt_Error_create("out of memory");
  else
    Drop = false;
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
  if (More)
    iostreams_check();
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

/* The address found for Name (of hash Hash) earlier, or 0. Lock held. */
static orc_rt_ExecutorAddr found_get(orc_rt_DylibServiceRef D, const char *Name, uint64_t Hash) {
  const struct found *F = orcrt_u64map_find(&D->Found, Hash);
  return F && strcmp(F->Name, Name) == 0 ? F->Addr : 0;
}

/* Remember that Name is at Addr; out of memory, forget it. Lock held. */
static void found_put(orc_rt_DylibServiceRef D, const char *Name, uint64_t Hash,
                      orc_rt_ExecutorAddr Addr) {
  if (D->ShutDown || orcrt_u64map_find(&D->Found, Hash))
    return;
  char *Copy = strdup(Name);
  bool Added = false;
  struct found *F = Copy ? orcrt_u64map_insert(&D->Found, Hash, &Added) : NULL;
  if (!F) {
    free(Copy);
    return;
  }
  *F = (struct found){Copy, Addr};
}

static void found_free(orc_rt_DylibServiceRef D) {
  size_t Pos = 0;
  void *V;
  while (orcrt_u64map_next(&D->Found, &Pos, NULL, &V))
    free(((struct found *)V)->Name);
  orcrt_u64map_free(&D->Found);
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
  iostreams_check(); /* the library may have brought libstdc++, or the process has it */
  if (Process) {
    pthread_mutex_lock(&D->Lock);
    D->ProcessHandle = H;
    pthread_mutex_unlock(&D->Lock);
  }
  *Handle = orc_rt_ExecutorAddr_fromPtr(H);
  return NULL;
}

/* The runtime's own symbol Name, or 0. Lock held. */
static struct symbol *find_own_symbol(orc_rt_DylibServiceRef D, const char *Name) {
  for (size_t I = 0; I < D->Syms.Len; I++)
    if (strcmp(D->Syms.Items[I].Name, Name) == 0)
      return &D->Syms.Items[I];
  return NULL;
}

/*
 * The scope stays valid: libraries are only closed at shutdown, after the
 * last call.
 */
orc_rt_ErrorRef orcrt_dylib_scope(orc_rt_DylibServiceRef D, orc_rt_ExecutorAddr Handle,
                                  struct orcrt_dylib_scope *Scope) {
  pthread_mutex_lock(&D->Lock);
  struct lib *L = find_issued(D, Handle);
  Scope->Lib = L ? L->Handle : NULL;
  Scope->Process = L && L->Handle == D->ProcessHandle;
  pthread_mutex_unlock(&D->Lock);
  return L ? NULL : orc_rt_Error_create("Unknown dylib handle 0x%" PRIx64, Handle);
}

orc_rt_ExecutorAddr orcrt_dylib_scope_lookup(orc_rt_DylibServiceRef D,
                                             const struct orcrt_dylib_scope *Scope,
                                             const char *Name) {
  void *H = Scope->Lib;
  if (!Scope->Process)
    return orc_rt_ExecutorAddr_fromPtr(dlsym(H, Name));
  uint64_t Hash = name_hash(Name);
  pthread_mutex_lock(&D->Lock);
  const struct symbol *Own = find_own_symbol(D, Name);
  orc_rt_ExecutorAddr Addr = Own ? Own->Addr : found_get(D, Name, Hash);
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
  struct orcrt_dylib_scope Scope;
  *Addr = 0;
  orc_rt_ErrorRef Err = orcrt_dylib_scope(D, Handle, &Scope);
  if (!Err)
    *Addr = orcrt_dylib_scope_lookup(D, &Scope, Name);
  return Err;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_DylibService_addSymbol(orc_rt_DylibServiceRef D,
                                                            const char *Name,
                                                            orc_rt_ExecutorAddr Addr) {
  orc_rt_ErrorRef Err = NULL;
  pthread_mutex_lock(&D->Lock);
  struct symbol *Own = find_own_symbol(D, Name);
  struct symbol New = {strdup(Name), Addr};
  if (Own)
    Own->Addr = Addr;
  else if (!New.Name || !ORCRT_ARRAY_PUSH(&D->Syms, &New))
    Err = orc_rt_Error_create("out of memory");
  pthread_mutex_unlock(&D->Lock);
  if (Own || Err)
    free(New.Name);
  return Err;
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
  struct lib *Libs = D->Libs.Items;
  size_t NumLibs = D->Libs.Len;
  D->Libs.Items = NULL;
  D->Libs.Len = D->Libs.Cap = 0;
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
  for (size_t I = 0; I < D->Libs.Len; I++)
    dlclose(D->Libs.Items[I].Handle);
  ORCRT_ARRAY_FREE(&D->Libs);
  for (size_t I = 0; I < D->Syms.Len; I++)
    free(D->Syms.Items[I].Name);
  ORCRT_ARRAY_FREE(&D->Syms);
  found_free(D);
  pthread_mutex_destroy(&D->RuntimeLock);
  pthread_mutex_destroy(&D->Lock);
  free(D);
}

/* The Service's ops, to find it with orc_rt_Session_findService(). */
static const orc_rt_ServiceOps DylibServiceOps = {
    .Name = "dylib",
    .Shutdown = dylib_shutdown,
    .Destroy = dylib_destroy,
};

orc_rt_DylibServiceRef orcrt_dylib_of(orc_rt_SessionRef S) {
  return orc_rt_Session_findService(S, &DylibServiceOps);
}

orc_rt_DylibServiceRef orcrt_dylib_instance(orc_rt_SessionRef S, orc_rt_ExecutorAddr Instance) {
  orc_rt_DylibServiceRef D = orc_rt_Session_findService(S, &DylibServiceOps);
  return D && orc_rt_ExecutorAddr_fromPtr(D) == Instance ? D : NULL;
}

orc_rt_ErrorRef orcrt_dylib_add(orc_rt_SessionRef S, orc_rt_DylibServiceRef *Out) {
  if (orc_rt_Session_findService(S, &DylibServiceOps))
    return orc_rt_Error_create("the Session already has a dylib Service");
  orc_rt_DylibServiceRef D = calloc(1, sizeof(*D));
  if (!D)
    return orc_rt_Error_create("out of memory");
  D->S = S;
  orcrt_u64map_init(&D->Found, sizeof(struct found));
  int Rc = pthread_mutex_init(&D->Lock, NULL);
  if (Rc == 0 && (Rc = pthread_mutex_init(&D->RuntimeLock, NULL)) != 0)
    pthread_mutex_destroy(&D->Lock);
  if (Rc) {
    free(D);
    return orc_rt_Error_fromErrno(Rc, "cannot create the dylib Service");
  }
  orc_rt_ErrorRef Err = orc_rt_Session_addService(S, &DylibServiceOps, D);
  if (Err) {
    dylib_destroy(D);
    return Err;
  }
  /* S owns D from here on. */
  *Out = D;
  return NULL;
}

/*
 * bootstrap.c - run-as-main/void/int, memory writes, JIT dispatch and the
 * call-target check: the rest of what LLVM 19's executor offers
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/bootstrap.h>
#include <orcrt/memory.h>
#include <orcrt/session.h>
#include <orcrt/sps.h>

#include "memory-internal.h"
#include "shared-memory-internal.h"
#include "session-internal.h"

/* A Session's part in the bootstrap: what its Service tracks. */
struct bootstrap {
  orc_rt_SessionRef S;
  unsigned InFlight;      /* jitDispatch calls using S; guarded by LiveLock */
  struct bootstrap *Next; /* in LiveSessions */
};

/*
 * The Sessions that have the bootstrap and are not shut down. JIT'd code
 * calls jitDispatch with a context pointer it was handed; this is how that
 * pointer is checked before it is trusted.
 */
static pthread_mutex_t LiveLock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t LiveCond = PTHREAD_COND_INITIALIZER;
static struct bootstrap *LiveSessions;

static const char DeserializeError[] = "Could not deserialize arguments for wrapper function call";

static orc_rt_MemoryServiceRef memory_of(orc_rt_SessionRef S) {
  return orc_rt_Session_findService(S, &orcrt_memory_service_ops);
}

static orc_rt_ErrorRef check_target(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  /* A fuzz input names every address (contrib/fuzz): run none of its code. */
  if (!orcrt_fuzzing_may_call(Fn))
    return orc_rt_Error_create("not called while fuzzing: 0x%" PRIx64, Fn);
#endif
  if (orcrt_memory_is_call_target(memory_of(S), Fn) || orcrt_shm_is_call_target(S, Fn))
    return NULL;
  return orc_rt_Error_create("no wrapper function at 0x%" PRIx64, Fn);
}

static orc_rt_ErrorRef call_target_check(void *Ctx, orc_rt_ExecutorAddr Fn) {
  struct bootstrap *B = Ctx;
  return check_target(B->S, Fn);
}

/* ---- JIT dispatch ----------------------------------------------------------- */

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer orc_rt_Bootstrap_jitDispatch(void *Ctx, const void *Tag,
                                                                        const char *ArgData,
                                                                        size_t ArgSize) {
  struct bootstrap *B;
  pthread_mutex_lock(&LiveLock);
  for (B = LiveSessions; B && (void *)B->S != Ctx; B = B->Next)
    ;
  if (B)
    B->InFlight++;
  pthread_mutex_unlock(&LiveLock);
  if (!B)
    return orc_rt_WrapperFunctionBuffer_fromOutOfBandError(
        "jit_dispatch not available: the context is not a live orcrt Session");

  orc_rt_WrapperFunctionBuffer R =
      orc_rt_Session_callControllerSync(B->S, orc_rt_ExecutorAddr_fromPtr(Tag), ArgData, ArgSize);

  pthread_mutex_lock(&LiveLock);
  if (--B->InFlight == 0)
    pthread_cond_broadcast(&LiveCond);
  pthread_mutex_unlock(&LiveLock);
  return R;
}

/* ---- run-as-main/void/int ------------------------------------------------- */

typedef int (*MainFn)(int, char **);
typedef int (*VoidFn)(void);
typedef int (*IntFn)(int);

/* Run JIT'd code as a blocking stretch: it may run long or call the controller. */
#define RUN_BLOCKING(S, Expr)                                                                      \
  do {                                                                                             \
    orc_rt_TaskDispatcherRef D_ = orc_rt_Session_getDispatcher(S);                                 \
    orc_rt_TaskDispatcher_blockingBegin(D_);                                                       \
    Expr;                                                                                          \
    orc_rt_TaskDispatcher_blockingEnd(D_);                                                         \
  } while (0)

static void *fn_ptr(orc_rt_ExecutorAddr A) {
  return orc_rt_ExecutorAddr_toPtr(A);
}

/*
 * A JIT'd main runs on a thread of its own (orcrt_run_on_own_thread()), so
 * that its thread-specific data is destroyed when it returns, and a main
 * that calls pthread_exit() ends that thread, not a pool worker. The
 * run-as-void/int calls, which controllers make again and again, run on the
 * worker.
 */
struct main_call {
  MainFn Main;
  int Argc;
  char **Argv;
  int Ret;
};

static void main_call_run(void *Ctx) {
  struct main_call *C = Ctx;
  C->Ret = C->Main(C->Argc, C->Argv);
}

static int run_main(MainFn Main, int Argc, char **Argv) {
  struct main_call C = {Main, Argc, Argv, 0};
  orcrt_run_on_own_thread(main_call_run, &C);
  return C.Ret;
}

/* (ExecutorAddr Fn, Sequence<String> Args) -> int64 */
static void run_as_main_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                                orc_rt_WrapperFunctionReturn Return,
                                orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Fn = 0;
  uint64_t Argc = 0;
  char **Argv = NULL;
  orc_rt_ErrorRef Err = NULL;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_addr(&R, &Fn);
  /* Each string takes at least its 8-byte length, so Argc is bounded by the input. */
  orc_rt_SPSReader_seqCount(&R, 8, &Argc);
  if (orc_rt_SPSReader_ok(&R) && Argc < INT_MAX)
    Argv = calloc((size_t)Argc + 1, sizeof(*Argv));
  for (uint64_t I = 0; Argv && I < Argc; I++)
    if (!orc_rt_SPSReader_stringDup(&R, &Argv[I]))
      break;
  if (!Argv || !orc_rt_SPSReader_ok(&R)) {
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
    goto out;
  }
  Err = check_target(S, Fn);
  if (Err) {
    Result = orc_rt_WrapperFunctionBuffer_fromError(Err);
    goto out;
  }
  int Ret = 0;
  MainFn Main = (MainFn)(uintptr_t)fn_ptr(Fn);
  RUN_BLOCKING(S, Ret = run_main(Main, (int)Argc, Argv));
  /* Before the controller learns that main returned: llvm-jitlink-19 may
     exit without waiting for the executor's end when it tears down (its
     listener can miss the end of file), so output still buffered then,
     until the Session's end, could be lost. Standard output only:
     fflush(NULL) would wait for every stream's lock, stdin's too, which a
     JIT'd thread blocked reading holds. */
  fflush(stdout);
  fflush(stderr);
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_i64(&W, (int64_t)Ret);
  Result = orc_rt_SPSWriter_finish(&W);
out:
  for (uint64_t I = 0; Argv && I < Argc; I++)
    free(Argv[I]);
  free(Argv);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

/* (ExecutorAddr Fn) -> int32, or with HasArg (ExecutorAddr Fn, int32 Arg) -> int32 */
static orc_rt_WrapperFunctionBuffer
run_as_function(orc_rt_SessionRef S, orc_rt_WrapperFunctionBuffer *Args, bool HasArg) {
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  orc_rt_ExecutorAddr Fn = 0;
  int32_t Arg = 0;
  int Ret = 0;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(Args), Args->Size);
  orc_rt_SPSReader_addr(&R, &Fn);
  if (HasArg)
    orc_rt_SPSReader_i32(&R, &Arg);
  if (!orc_rt_SPSReader_ok(&R))
    return orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);
  orc_rt_ErrorRef Err = check_target(S, Fn);
  if (Err)
    return orc_rt_WrapperFunctionBuffer_fromError(Err);
  if (HasArg) {
    IntFn F = (IntFn)(uintptr_t)fn_ptr(Fn);
    RUN_BLOCKING(S, Ret = F(Arg));
  } else {
    VoidFn F = (VoidFn)(uintptr_t)fn_ptr(Fn);
    RUN_BLOCKING(S, Ret = F());
  }
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_i32(&W, Ret);
  return orc_rt_SPSWriter_finish(&W);
}

static void run_as_void_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                                orc_rt_WrapperFunctionReturn Return,
                                orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_WrapperFunctionBuffer Result = run_as_function(S, &Args, false);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

static void run_as_int_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                               orc_rt_WrapperFunctionReturn Return,
                               orc_rt_WrapperFunctionBuffer Args) {
  orc_rt_WrapperFunctionBuffer Result = run_as_function(S, &Args, true);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  Return(S, CallId, Result);
}

/* ---- memory writes -------------------------------------------------------- */

/*
 * Read one (ExecutorAddr, value) element: a uint of Width bytes (stored in
 * host order at *Value), or for Width 0 a byte sequence (*Data, *Size).
 */
static bool read_write_elem(orc_rt_SPSReader *R, unsigned Width, orc_rt_ExecutorAddr *Addr,
                            uint64_t *Value, const char **Data, size_t *Size) {
  orc_rt_SPSReader_addr(R, Addr);
  switch (Width) {
  case 1: {
    uint8_t V = 0;
    orc_rt_SPSReader_u8(R, &V);
    *Value = V;
    break;
  }
  case 2: {
    uint16_t V = 0;
    orc_rt_SPSReader_u16(R, &V);
    *Value = V;
    break;
  }
  case 4: {
    uint32_t V = 0;
    orc_rt_SPSReader_u32(R, &V);
    *Value = V;
    break;
  }
  case 8:
    orc_rt_SPSReader_u64(R, Value);
    break;
  default:
    orc_rt_SPSReader_bytes(R, Data, Size);
    break;
  }
  return orc_rt_SPSReader_ok(R);
}

/*
 * Sequence<(ExecutorAddr, T)> -> SPSEmpty. The whole sequence is decoded
 * before anything is written; writing stops at the first failure.
 */
static orc_rt_WrapperFunctionBuffer
mem_write(orc_rt_SessionRef S, const orc_rt_WrapperFunctionBuffer *Args, unsigned Width) {
  orc_rt_SPSReader R, Start;
  uint64_t N = 0;
  orc_rt_ExecutorAddr Addr = 0;
  uint64_t Value = 0;
  const char *Data = NULL;
  size_t Size = 0;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(Args), Args->Size);
  orc_rt_SPSReader_seqCount(&R, 8 + (Width ? Width : 8), &N);
  Start = R;
  /* Integers make elements of one size, all of which the count check covered. */
  for (uint64_t I = 0; Width == 0 && I < N && orc_rt_SPSReader_ok(&R); I++)
    read_write_elem(&R, Width, &Addr, &Value, &Data, &Size);
  if (!orc_rt_SPSReader_ok(&R))
    return orc_rt_WrapperFunctionBuffer_fromOutOfBandError(DeserializeError);

  orc_rt_MemoryServiceRef M = memory_of(S);
  if (!M && N)
    return orc_rt_WrapperFunctionBuffer_fromOutOfBandError(
        "mem_write: the Session has no JIT memory");
  R = Start;
  orc_rt_WrapperFunctionBuffer_init(&Result);
  for (uint64_t I = 0; I < N; I++) {
    read_write_elem(&R, Width, &Addr, &Value, &Data, &Size);
    orc_rt_ErrorRef Err;
    if (Width) {
      /* The value's bytes in host order, as a store of the integer would leave them. */
      uint8_t V8 = (uint8_t)Value;
      uint16_t V16 = (uint16_t)Value;
      uint32_t V32 = (uint32_t)Value;
      const void *P = Width == 1   ? (const void *)&V8
                      : Width == 2 ? (const void *)&V16
                      : Width == 4 ? (const void *)&V32
                                   : (const void *)&Value;
      Err = orc_rt_MemoryService_write(M, Addr, P, Width);
    } else {
      Err = orc_rt_MemoryService_write(M, Addr, Data, Size);
    }
    if (Err)
      return orc_rt_WrapperFunctionBuffer_fromError(Err);
  }
  return Result;
}

#define MEM_WRITE_WRAPPER(Name, Width)                                                             \
  static void Name(orc_rt_SessionRef S, uint64_t CallId, orc_rt_WrapperFunctionReturn Return,      \
                   orc_rt_WrapperFunctionBuffer Args) {                                            \
    orc_rt_WrapperFunctionBuffer Result = mem_write(S, &Args, Width);                              \
    orc_rt_WrapperFunctionBuffer_dispose(&Args);                                                   \
    Return(S, CallId, Result);                                                                     \
  }

MEM_WRITE_WRAPPER(mem_write_uint8s_wrapper, 1)
MEM_WRITE_WRAPPER(mem_write_uint16s_wrapper, 2)
MEM_WRITE_WRAPPER(mem_write_uint32s_wrapper, 4)
MEM_WRITE_WRAPPER(mem_write_uint64s_wrapper, 8)
MEM_WRITE_WRAPPER(mem_write_buffers_wrapper, 0)

/* ---- the Service ---------------------------------------------------------- */

/* Take B off LiveSessions. LiveLock held. */
static void unlist_locked(struct bootstrap *B) {
  struct bootstrap **Link = &LiveSessions;
  while (*Link && *Link != B)
    Link = &(*Link)->Next;
  if (*Link)
    *Link = B->Next;
}

static void unlist(struct bootstrap *B) {
  pthread_mutex_lock(&LiveLock);
  unlist_locked(B);
  pthread_mutex_unlock(&LiveLock);
}

static void bootstrap_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done,
                               void *DoneCtx) {
  struct bootstrap *B = Ctx;
  bool Last;
  pthread_mutex_lock(&LiveLock);
  unlist_locked(B);
  /* S is detached by now, so calls still in flight fail quickly. */
  while (B->InFlight)
    pthread_cond_wait(&LiveCond, &LiveLock);
  Last = LiveSessions == NULL;
  pthread_mutex_unlock(&LiveLock);

  /*
   * Registrations inside JIT memory go with that memory. Ones outside it
   * belong to no Session; the last bootstrap to go takes them along.
   */
  if (Last) {
    size_t NumEH = orcrt_eh_frame_purge_outside_jit_memory();
    size_t NumGDB = orcrt_gdb_jit_purge_outside_jit_memory();
    if (NumEH || NumGDB)
      orc_rt_Session_log(S, orc_rt_LogLevel_Debug,
                         "deregistered %zu EH frame section(s) and %zu debug object(s) left at "
                         "shutdown",
                         NumEH, NumGDB);
  }
  if (Done)
    Done(DoneCtx);
}

static void bootstrap_destroy(void *Ctx) {
  free(Ctx);
}

static const orc_rt_ServiceOps BootstrapOps = {
    .Name = "bootstrap",
    .Shutdown = bootstrap_shutdown,
    .Destroy = bootstrap_destroy,
};

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Bootstrap_add(orc_rt_SessionRef S) {
  static const struct {
    const char *Name;
    orc_rt_WrapperFunction Fn;
  } Wrappers[] = {
      {"__llvm_orc_bootstrap_run_as_main_wrapper", run_as_main_wrapper},
      {"__llvm_orc_bootstrap_run_as_void_function_wrapper", run_as_void_wrapper},
      {"__llvm_orc_bootstrap_run_as_int_function_wrapper", run_as_int_wrapper},
      {"__llvm_orc_bootstrap_mem_write_uint8s_wrapper", mem_write_uint8s_wrapper},
      {"__llvm_orc_bootstrap_mem_write_uint16s_wrapper", mem_write_uint16s_wrapper},
      {"__llvm_orc_bootstrap_mem_write_uint32s_wrapper", mem_write_uint32s_wrapper},
      {"__llvm_orc_bootstrap_mem_write_uint64s_wrapper", mem_write_uint64s_wrapper},
      {"__llvm_orc_bootstrap_mem_write_buffers_wrapper", mem_write_buffers_wrapper},
  };
  enum { FirstMemWrite = 3 }; /* the run wrappers before it run JIT'd code */
  const struct {
    const char *Name;
    orc_rt_ExecutorAddr Addr;
  } Symbols[] = {
      {"llvm_orc_registerEHFrameSectionWrapper",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerEHFrameSectionWrapper)},
      {"llvm_orc_deregisterEHFrameSectionWrapper",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_deregisterEHFrameSectionWrapper)},
      {"__llvm_orc_SimpleRemoteEPC_dispatch_ctx", orc_rt_ExecutorAddr_fromPtr(S)},
      {"__llvm_orc_SimpleRemoteEPC_dispatch_fn",
       orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)orc_rt_Bootstrap_jitDispatch)},
  };
  orc_rt_ErrorRef Err;

  if (orc_rt_Session_findService(S, &BootstrapOps))
    return orc_rt_Error_create("the Session already has the bootstrap wrappers");
  struct bootstrap *B = calloc(1, sizeof(*B));
  if (!B)
    return orc_rt_Error_create("out of memory");
  B->S = S;
  /*
   * Listed before the Service is added: a Session already shut down tells
   * the Service at once, and its shutdown takes B off the list again.
   */
  pthread_mutex_lock(&LiveLock);
  B->Next = LiveSessions;
  LiveSessions = B;
  pthread_mutex_unlock(&LiveLock);
  Err = orc_rt_Session_addService(S, &BootstrapOps, B);
  if (Err) {
    unlist(B);
    free(B);
    return Err;
  }
  /* S owns B from here on. */

  for (size_t I = 0; I < ORCRT_ARRAY_SIZE(Wrappers); I++) {
    Err = orc_rt_Session_addWrapperFunction(S, Wrappers[I].Name, Wrappers[I].Fn);
    if (Err)
      return Err;
  }
  /* The memory writes are short: they may run on the transport's I/O thread. */
  for (size_t I = FirstMemWrite; I < ORCRT_ARRAY_SIZE(Wrappers); I++) {
    Err = orcrt_session_mark_short(S, Wrappers[I].Fn);
    if (Err)
      return Err;
  }
  for (size_t I = 0; I < ORCRT_ARRAY_SIZE(Symbols); I++) {
    Err = orc_rt_Session_addBootstrapSymbol(S, Symbols[I].Name, Symbols[I].Addr);
    if (Err)
      return Err;
  }
  orc_rt_Session_setCallTargetCheck(S, call_target_check, B);
  return NULL;
}

/*
 * bootstrap.c - run-as-main/void/int, JIT dispatch, the call-target check
 * and checked memory reads: the Service behind the rest of what LLVM's
 * executors offer (its wire glue, with the memory writes and the EH-frame
 * and GDB entry points, is llvm19/bootstrap.c and llvm22/bootstrap.c)
 *
 * A Session with the bootstrap offers the unwind and debugger registrars'
 * entry points, so it is an owner of jit-ranges.c's registry while its
 * bootstrap lives: the registrations outside JIT memory go when the last
 * such Session shuts down.
 *
 * Locks. LiveLock guards LiveSessions and every bootstrap's InFlight;
 * LiveCond is signalled when an InFlight drops to 0. Nothing is called
 * under LiveLock.
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <orcrt/bootstrap.h>
#include <orcrt/session.h>
#include <orcrt/task-dispatcher.h>

#include "bootstrap-internal.h"
#include "crash-internal.h"
#include "host.h"
#include "jit-ranges.h"
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

orc_rt_ErrorRef orcrt_bootstrap_check_target(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  /* A fuzz input names every address (contrib/fuzz): run none of its code. */
  if (!orcrt_fuzzing_may_call(Fn))
    return orc_rt_Error_create("not called while fuzzing: 0x%" PRIx64, Fn);
#endif
  if (orcrt_ranges_is_call_target(S, Fn))
    return NULL;
  return orc_rt_Error_create("no wrapper function at 0x%" PRIx64, Fn);
}

static orc_rt_ErrorRef call_target_check(void *Ctx, orc_rt_ExecutorAddr Fn) {
  struct bootstrap *B = Ctx;
  return orcrt_bootstrap_check_target(B->S, Fn);
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

/* A call of JIT'd code: int main(Argc, Argv), int (void) or int (Argc). */
enum call_kind { CALL_MAIN, CALL_VOID, CALL_INT };

struct jit_call {
  enum call_kind Kind;
  void *Fn;
  int Argc;
  char **Argv;
  int Ret;
};

static void jit_call_run(void *Ctx) {
  struct jit_call *C = Ctx;
  orcrt_crash_prepare_thread(); /* a stack overflow in the code is reported too */
  if (C->Kind == CALL_MAIN) {
    orcrt_crash_note_main(orc_rt_ExecutorAddr_fromPtr(C->Fn));
    C->Ret = ((MainFn)(uintptr_t)C->Fn)(C->Argc, C->Argv);
  } else if (C->Kind == CALL_VOID)
    C->Ret = ((VoidFn)(uintptr_t)C->Fn)();
  else
    C->Ret = ((IntFn)(uintptr_t)C->Fn)(C->Argc);
}

/*
 * Check Fn and make the call C (run-as-void/int, which controllers make
 * again and again) on this worker, as a blocking stretch of S's dispatcher
 * (it may run long or call the controller). A JIT'd main has a thread of
 * its own instead (orcrt_bootstrap_start_main()).
 */
static orc_rt_ErrorRef run_jit_call(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, struct jit_call *C,
                                    int *Ret) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  /* The only code a fuzz input may have called has the wrapper ABI (contrib/fuzz): no main. */
  return orc_rt_Error_create("not run as a function while fuzzing: 0x%" PRIx64, Fn);
#endif
  orc_rt_ErrorRef Err = orcrt_bootstrap_check_target(S, Fn);
  if (Err)
    return Err;
  orc_rt_TaskDispatcherRef D = orc_rt_Session_getDispatcher(S);
  C->Fn = orc_rt_ExecutorAddr_toPtr(Fn);
  orc_rt_TaskDispatcher_blockingBegin(D);
  jit_call_run(C);
  orc_rt_TaskDispatcher_blockingEnd(D);
  *Ret = C->Ret;
  return NULL;
}

/*
 * A JIT'd main, on the one thread that runs it and answers for it. The
 * answer must come after the thread's data is destroyed (C++ thread_local
 * objects, pthread keys): the controller may unmap the code of their
 * destructors once it has it. So the thread answers from a destructor of
 * its own key, which puts itself back once so as to run again in the next
 * round, after every other key's first destructor call (a key that also
 * puts itself back may still follow); a main that calls pthread_exit() is
 * answered the same way (with 0).
 */
struct main_run {
  struct jit_call C;
  orcrt_bootstrap_main_done Done;
  void *Ctx;
  bool Again; /* the key's destructor has run once */
};

static pthread_key_t MainKey;
static pthread_once_t MainKeyOnce = PTHREAD_ONCE_INIT;
static int MainKeyErr;

static void main_answer(struct main_run *M) {
  /*
   * Before the controller learns that main returned: llvm-jitlink-19 may
   * exit without waiting for the executor's end when it tears down (its
   * listener can miss the end of file), so output still buffered until the
   * Session's end could be lost. Standard output and error only:
   * fflush(NULL) would wait for every stream's lock, stdin's too, which a
   * JIT'd thread blocked reading holds.
   */
  fflush(stdout);
  fflush(stderr);
  M->Done(M->Ctx, NULL, M->C.Ret);
  free(M);
}

static void main_key_destroy(void *Arg) {
  struct main_run *M = Arg;
  if (!M->Again) {
    M->Again = true;
    if (pthread_setspecific(MainKey, M) == 0)
      return;
  }
  main_answer(M);
}

static void main_key_create(void) {
  MainKeyErr = pthread_key_create(&MainKey, main_key_destroy);
}

static void *main_thread(void *Arg) {
  struct main_run *M = Arg;
  if (pthread_setspecific(MainKey, M) != 0) {
    /* No slot for the key: answer at once, before the thread's data goes. */
    jit_call_run(&M->C);
    main_answer(M);
    return NULL;
  }
  jit_call_run(&M->C);
  return NULL;
}

void orcrt_bootstrap_start_main(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, int Argc, char **Argv,
                                orcrt_bootstrap_main_done Done, void *Ctx) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  Done(Ctx, orc_rt_Error_create("not run as a function while fuzzing: 0x%" PRIx64, Fn), 0);
  return;
#endif
  orc_rt_ErrorRef Err = orcrt_bootstrap_check_target(S, Fn);
  struct main_run *M = Err ? NULL : malloc(sizeof(*M));
  if (!Err && !M)
    Err = orc_rt_Error_create("out of memory");
  if (Err) {
    Done(Ctx, Err, 0);
    return;
  }
  *M = (struct main_run){
      .C = {.Kind = CALL_MAIN, .Fn = orc_rt_ExecutorAddr_toPtr(Fn), .Argc = Argc, .Argv = Argv},
      .Done = Done,
      .Ctx = Ctx,
  };
  pthread_once(&MainKeyOnce, main_key_create);
  pthread_attr_t Attr;
  pthread_t T;
  bool Started = false;
  if (MainKeyErr == 0 && pthread_attr_init(&Attr) == 0) {
    Started = pthread_attr_setdetachstate(&Attr, PTHREAD_CREATE_DETACHED) == 0 &&
              pthread_create(&T, &Attr, main_thread, M) == 0;
    pthread_attr_destroy(&Attr);
  }
  if (Started)
    return;
  /* No thread: on this one, as a blocking stretch of the dispatcher. */
  orc_rt_TaskDispatcherRef D = orc_rt_Session_getDispatcher(S);
  orc_rt_TaskDispatcher_blockingBegin(D);
  jit_call_run(&M->C);
  orc_rt_TaskDispatcher_blockingEnd(D);
  main_answer(M);
}

orc_rt_ErrorRef orcrt_bootstrap_run_void(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, int *Ret) {
  struct jit_call C = {.Kind = CALL_VOID};
  return run_jit_call(S, Fn, &C, Ret);
}

orc_rt_ErrorRef orcrt_bootstrap_run_int(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, int Arg,
                                        int *Ret) {
  struct jit_call C = {.Kind = CALL_INT, .Argc = Arg};
  return run_jit_call(S, Fn, &C, Ret);
}

/* ---- the Service ---------------------------------------------------------- */

/* Take B off LiveSessions. LiveLock held. */
/* ---- memory reads ------------------------------------------------------------ */

orc_rt_ErrorRef orcrt_bootstrap_readable(orc_rt_ExecutorAddr Addr, uint64_t Size) {
  if (Size == 0)
    return NULL;
  if (Addr > UINT64_MAX - Size || Size > SIZE_MAX || !orcrt_ranges_is_readable(Addr, Size))
    return orc_rt_Error_create(
        "Cannot read %" PRIu64 " byte(s) at 0x%" PRIx64 ": not readable memory", Size, Addr);
  return NULL;
}

/*
 * Copy the Size bytes at Addr (checked readable) to Out through the kernel,
 * so that memory unmapped since the check is an error (EFAULT) instead of a
 * fault of the executor. Where process_vm_readv() is refused (some
 * container profiles), a plain copy.
 */
static orc_rt_ErrorRef copy_in(void *Out, orc_rt_ExecutorAddr Addr, uint64_t Size) {
  struct iovec Local = {Out, (size_t)Size};
  struct iovec Remote = {orc_rt_ExecutorAddr_toPtr(Addr), (size_t)Size};
  ssize_t N = process_vm_readv(getpid(), &Local, 1, &Remote, 1, 0);
  if (N < 0 && (errno == EPERM || errno == ENOSYS)) {
    memcpy(Out, Remote.iov_base, (size_t)Size);
    return NULL;
  }
  if (N == (ssize_t)Size)
    return NULL;
  return orc_rt_Error_fromErrno(N < 0 ? errno : EFAULT,
                                "Cannot read %" PRIu64 " byte(s) at 0x%" PRIx64, Size, Addr);
}

orc_rt_ErrorRef orcrt_bootstrap_read(orc_rt_ExecutorAddr Addr, uint64_t Size, void *Out) {
  orc_rt_ErrorRef Err = orcrt_bootstrap_readable(Addr, Size);
  return Err || !Size ? Err : copy_in(Out, Addr, Size);
}

orc_rt_ErrorRef orcrt_bootstrap_read_string(orc_rt_ExecutorAddr Addr, size_t Max, char **Str,
                                            size_t *Len) {
  uint64_t Page = orcrt_host_page_size();
  char *Buf = NULL;
  size_t Have = 0;
  orc_rt_ErrorRef Err = NULL;
  /*
   * Copied, then searched: the rest of a page at once, or, where that is
   * not all readable (a segment may end inside it), byte by byte.
   */
  for (orc_rt_ExecutorAddr At = Addr; !Err && Have <= Max;) {
    uint64_t Span = Page - (At & (Page - 1));
    if (At > UINT64_MAX - Span || !orcrt_ranges_is_readable(At, Span))
      Span = 1;
    if (!orcrt_ranges_is_readable(At, Span))
      break;
    char *More = realloc(Buf, Have + (size_t)Span + 1);
    if (!More) {
      Err = orc_rt_Error_create("Cannot read the string at 0x%" PRIx64 ": out of memory", Addr);
      break;
    }
    Buf = More;
    if ((Err = copy_in(Buf + Have, At, Span)))
      break;
    char *Nul = memchr(Buf + Have, '\0', (size_t)Span);
    if (Nul) {
      *Len = (size_t)(Nul - Buf);
      if (*Len > Max)
        break;
      *Str = Buf;
      return NULL;
    }
    Have += (size_t)Span;
    if (At > UINT64_MAX - Span)
      break;
    At += Span;
  }
  free(Buf);
  if (Err)
    return Err;
  return Have > Max
             ? orc_rt_Error_create("Cannot read the string at 0x%" PRIx64 ": longer than %zu bytes",
                                   Addr, Max)
             : orc_rt_Error_create("Cannot read the string at 0x%" PRIx64
                                   ": not in readable memory up to its end",
                                   Addr);
}

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
  pthread_mutex_lock(&LiveLock);
  unlist_locked(B);
  /* S is detached by now, so calls still in flight fail quickly. */
  while (B->InFlight)
    pthread_cond_wait(&LiveCond, &LiveLock);
  pthread_mutex_unlock(&LiveLock);
  /* The last owner to go takes the registrations outside JIT memory along. */
  orcrt_ranges_leave(S);
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

orc_rt_ErrorRef orcrt_bootstrap_add(orc_rt_SessionRef S) {
  if (orc_rt_Session_findService(S, &BootstrapOps))
    return orc_rt_Error_create("the Session already has the bootstrap wrappers");
  struct bootstrap *B = calloc(1, sizeof(*B));
  if (!B)
    return orc_rt_Error_create("out of memory");
  B->S = S;
  /*
   * Listed (and an owner of the registry) before the Service is added: a
   * Session already shut down tells the Service at once, and its shutdown
   * takes B off the list (and S out of the owners) again.
   */
  pthread_mutex_lock(&LiveLock);
  B->Next = LiveSessions;
  LiveSessions = B;
  pthread_mutex_unlock(&LiveLock);
  orcrt_ranges_enter(S);
  orc_rt_ErrorRef Err = orc_rt_Session_addService(S, &BootstrapOps, B);
  if (Err) {
    unlist(B);
    orcrt_ranges_leave(S);
    free(B);
    return Err;
  }
  /* S owns B from here on. */
  orc_rt_Session_setCallTargetCheck(S, call_target_check, B);
  return NULL;
}

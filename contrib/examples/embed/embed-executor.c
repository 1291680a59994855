/*
 * embed-executor.c - an executor of one's own, built on the installed liborcrt
 *
 * A complete executor for LLVM 19's out-of-process controllers, like
 * orcrt-executor, with two things of its own:
 *
 *   a Service, "kv"    a key/value store of strings that lives as long as the
 *                      Session: the Session tells it of shutdown (it logs what
 *                      it held) and destroys it with everything else.
 *   a wrapper function published among the bootstrap symbols as
 *                      "embed_kv_put_wrapper": the controller calls it with
 *                      SPS (String Key, String Value) to store a value, and
 *                      gets SPS Expected<String> back: the value the key had
 *                      before ("" if none).
 *
 * JIT'd code reads the store with
 *
 *   const char *embed_kv_get(const char *Key);
 *
 * which the executor offers to JIT'd code through the dylib Service, without
 * exporting it from the executable. The store starts with "greeting".
 *
 * Build it against the installed library (see Makefile):
 *
 *   cc -o embed-executor embed-executor.c $(pkg-config --cflags --libs orcrt)
 *
 * and run a program with llvm-jitlink-19, exactly as with orcrt-executor:
 *
 *   clang-19 -c greeting.c
 *   llvm-jitlink-19 -oop-executor=./embed-executor greeting.o
 *
 * The command line is the one LLVM's controllers use: "filedescs=IN,OUT"
 * (llvm-jitlink-19) or "IN OUT" (lli-19). Set ORCRT_LOG=info to see the
 * Service's report at shutdown.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <orcrt/orcrt.h>

/* ---- the kv Service ------------------------------------------------------ */

struct entry {
  struct entry *Next;
  char *Key, *Value;
};

struct kv {
  orc_rt_SessionRef S;
  pthread_mutex_t Lock;
  struct entry *First; /* newest first; never freed before the Session */
  unsigned Puts;
};

/*
 * JIT'd code has no Session to pass, so embed_kv_get() finds the store here.
 * This program runs one Session; a program with several would keep a store
 * per Session and offer one function per store.
 */
static struct kv *TheStore;

/* The value Key had before (borrowed from the store), or NULL. Lock held. */
static const char *kv_find(struct kv *Kv, const char *Key) {
  for (struct entry *E = Kv->First; E; E = E->Next)
    if (strcmp(E->Key, Key) == 0)
      return E->Value;
  return NULL;
}

/*
 * Store Value under Key; both are taken (malloc()ed). Earlier values stay
 * allocated, because JIT'd code may still hold them. *Old receives the value
 * the key had (borrowed), or NULL.
 */
static void kv_put(struct kv *Kv, char *Key, char *Value, const char **Old) {
  struct entry *E = malloc(sizeof(*E));
  pthread_mutex_lock(&Kv->Lock);
  *Old = kv_find(Kv, Key);
  if (E) {
    E->Key = Key;
    E->Value = Value;
    E->Next = Kv->First;
    Kv->First = E;
    Kv->Puts++;
  }
  pthread_mutex_unlock(&Kv->Lock);
  if (!E) {
    free(Key);
    free(Value);
  }
}

/* Offered to JIT'd code: the value of Key, or NULL. Valid until the Session ends. */
static const char *embed_kv_get(const char *Key) {
  const char *V;
  pthread_mutex_lock(&TheStore->Lock);
  V = kv_find(TheStore, Key);
  pthread_mutex_unlock(&TheStore->Lock);
  return V;
}

static void kv_shutdown(void *Ctx, orc_rt_SessionRef S, orc_rt_CompletionFn Done, void *DoneCtx) {
  struct kv *Kv = Ctx;
  unsigned Keys = 0;
  pthread_mutex_lock(&Kv->Lock);
  for (struct entry *E = Kv->First; E; E = E->Next)
    Keys += kv_find(Kv, E->Key) == E->Value; /* count the newest of each key */
  orc_rt_Session_log(S, orc_rt_LogLevel_Info, "kv: shut down with %u key(s) after %u put(s)", Keys,
                     Kv->Puts);
  pthread_mutex_unlock(&Kv->Lock);
  Done(DoneCtx);
}

static void kv_destroy(void *Ctx) {
  struct kv *Kv = Ctx;
  struct entry *E, *Next;
  for (E = Kv->First; E; E = Next) {
    Next = E->Next;
    free(E->Key);
    free(E->Value);
    free(E);
  }
  pthread_mutex_destroy(&Kv->Lock);
  free(Kv);
}

static const orc_rt_ServiceOps KvOps = {
    .Name = "kv",
    .Shutdown = kv_shutdown,
    .Destroy = kv_destroy,
};

/*
 * (String Key, String Value) -> Expected<String>. Runs as a task of the
 * Session, on any of its threads; finds its store through the Session.
 */
static void kv_put_wrapper(orc_rt_SessionRef S, uint64_t CallId,
                           orc_rt_WrapperFunctionReturn Return, orc_rt_WrapperFunctionBuffer Args) {
  struct kv *Kv = orc_rt_Session_findService(S, &KvOps);
  orc_rt_SPSReader R;
  orc_rt_SPSWriter W;
  char *Key = NULL, *Value = NULL;
  const char *Old = NULL;
  orc_rt_WrapperFunctionBuffer Result;

  orc_rt_SPSReader_init(&R, orc_rt_WrapperFunctionBuffer_constData(&Args), Args.Size);
  orc_rt_SPSReader_stringDup(&R, &Key);
  orc_rt_SPSReader_stringDup(&R, &Value);
  orc_rt_WrapperFunctionBuffer_dispose(&Args);
  if (!orc_rt_SPSReader_ok(&R) || orc_rt_SPSReader_remaining(&R) != 0) {
    /* As LLVM's wrappers answer arguments that do not decode. */
    Result = orc_rt_WrapperFunctionBuffer_fromOutOfBandError(
        "embed_kv_put: could not deserialize the arguments");
    goto out;
  }
  orc_rt_SPSWriter_init(&W);
  if (Key[0] == '\0') {
    orc_rt_SPSWriter_expectedFailure(&W, "embed_kv_put: the key is empty");
  } else {
    kv_put(Kv, Key, Value, &Old);
    Key = Value = NULL; /* the store has them */
    orc_rt_SPSWriter_expectedValue(&W);
    orc_rt_SPSWriter_string(&W, Old ? Old : "");
  }
  Result = orc_rt_SPSWriter_finish(&W);
out:
  free(Key);
  free(Value);
  Return(S, CallId, Result);
}

/* Add the kv Service and its wrapper function to S, before S is attached. */
static orc_rt_ErrorRef kv_add(orc_rt_SessionRef S, struct kv **Out) {
  orc_rt_ErrorRef Err;
  struct kv *Kv = calloc(1, sizeof(*Kv));
  if (!Kv)
    return orc_rt_Error_create("out of memory");
  Kv->S = S;
  pthread_mutex_init(&Kv->Lock, NULL);
  if ((Err = orc_rt_Session_addService(S, &KvOps, Kv))) {
    kv_destroy(Kv);
    return Err;
  }
  /* S owns Kv from here on. */
  *Out = Kv;
  return orc_rt_Session_addWrapperFunction(S, "embed_kv_put_wrapper", kv_put_wrapper);
}

/* ---- the executor -------------------------------------------------------- */

/* "filedescs=IN,OUT" or "IN OUT", as LLVM 19's controllers pass them. */
static int parse_fds(int Argc, char **Argv, int *In, int *Out) {
  char End;
  if (Argc >= 2 && sscanf(Argv[1], "filedescs=%d,%d%c", In, Out, &End) == 2)
    return 0;
  if (Argc >= 3 && sscanf(Argv[1], "%d%c", In, &End) == 1 &&
      sscanf(Argv[2], "%d%c", Out, &End) == 1)
    return 0;
  return -1;
}

static int run(int In, int Out) {
  orc_rt_TaskDispatcherRef D;
  orc_rt_SessionRef S = NULL;
  orc_rt_DylibServiceRef Dylibs;
  orc_rt_MemoryServiceRef Memory;
  orc_rt_ErrorRef Err;
  orc_rt_SuperviseResult Ended;
  char *Key, *Value;
  const char *Old;
  int Status = EXIT_FAILURE;

  if ((Err = orc_rt_ThreadPoolTaskDispatcher_create(0, &D)))
    goto fail;
  if ((Err = orc_rt_Session_create(D, &S))) {
    orc_rt_TaskDispatcher_destroy(D);
    goto fail;
  }
  /* What orcrt-executor has: libraries first, so that JIT memory (and the
     deallocation actions that may call into libraries) goes first. */
  if ((Err = orc_rt_DylibService_add(S, &Dylibs)) ||
      (Err = orc_rt_MemoryService_add(S, orc_rt_MemoryStrategy_MemFD, &Memory)) ||
      (Err = orc_rt_Bootstrap_add(S)))
    goto fail;
  /* And what this executor adds. */
  if ((Err = kv_add(S, &TheStore)) ||
      (Err = orc_rt_DylibService_addSymbol(Dylibs, "embed_kv_get",
                                           orc_rt_ExecutorAddr_fromFn((orc_rt_GenericFn)embed_kv_get))))
    goto fail;
  Key = strdup("greeting");
  Value = strdup("hello from the embedding executor");
  if (!Key || !Value) {
    free(Key);
    free(Value);
    Err = orc_rt_Error_create("out of memory");
    goto fail;
  }
  kv_put(TheStore, Key, Value, &Old);

  if ((Err = orc_rt_PipeControllerAccess_attach(S, In, Out, NULL)))
    goto fail;
  /* Until the controller has gone and the Session has shut down (the
     Services shut down: kv first, dylibs last) and stdio is flushed, or
     JIT'd code still runs a second later and is given up on. */
  Ended = orc_rt_Session_supervise(S, NULL);
  Status = orc_rt_Session_getDisconnectError(S) ? EXIT_FAILURE : EXIT_SUCCESS;
  if (Ended == orc_rt_SuperviseResult_Abandoned)
    _exit(Status); /* not destroying S, not running atexit handlers under that code */
fail:
  if (Err) {
    fprintf(stderr, "embed-executor: %s\n", orc_rt_Error_getMessage(Err));
    orc_rt_Error_consume(Err);
  }
  orc_rt_Session_destroy(S); /* closes OUT: the controller's wait ends */
  return Status;
}

int main(int argc, char **argv) {
  int In, Out;
  if (parse_fds(argc, argv, &In, &Out) < 0) {
    fprintf(stderr, "usage: embed-executor filedescs=IN,OUT | IN OUT\n");
    return EXIT_FAILURE;
  }
  /* exit(), not return: JIT'd code may have registered atexit handlers. */
  exit(run(In, Out));
}

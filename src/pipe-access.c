/*
 * pipe-access.c - the pipe/socket ControllerAccess, speaking LLVM 19's wire
 * protocol: its ops, its I/O thread, creation and destruction
 *
 * One I/O thread per connection runs a libevent loop; it alone reads InFd
 * and touches the libevent objects and the fields marked "I/O thread" in
 * pipe-internal.h. Other threads queue outgoing frames under Lock and
 * write them to OutFd themselves while nobody else does, or else wake the
 * loop through an eventfd (pipe-output.c); Disconnect requests travel the
 * eventfd too. The loop's callbacks are here and call into the files of
 * each idea: input (pipe-input.c), output (pipe-output.c), flow control and
 * idle probing (pipe-flow.c).
 *
 * Descriptors: Connect makes both non-blocking and close-on-exec (restoring
 * their flags if it fails). Disconnect, once the I/O thread has stopped,
 * closes InFd; OutFd stays open until Destroy (orc_rt_Session_destroy()),
 * because a controller takes end of file on it for the executor's end and
 * exits, maybe before the executor has run its deallocation actions and
 * flushed the JIT'd program's output. One socket for both directions stays
 * open until Destroy too.
 *
 * Locks: P->Lock guards what Disconnect shares among its callers (Stopping,
 * ThreadStarted, Thread, Joining, Joined, with JoinedCond), besides the
 * queue and the charges of the other files; see pipe-internal.h for every
 * field. CallController and SendResult run on any thread and touch only
 * what pipe-output.c and pipe-flow.c guard; the loop's callbacks run on the
 * I/O thread; creation, Connect, close_channel() and Destroy touch the I/O
 * thread's fields only while it does not run.
 */
#include "pipe-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/thread.h>

#include <orcrt/controller-access.h>
#include <orcrt/pipe-access.h>
#include <orcrt/sps.h>

#include "host.h"
#include "pipe-access-internal.h"

/* ---- fork() ------------------------------------------------------------------ */

/*
 * A child that JIT'd code forks and that does not execute a program (which
 * would close the close-on-exec descriptors) holds copies of the channel:
 * the controller would see no end of file from the executor until that
 * child ends, and the child could write into the stream. So the channels'
 * descriptors are listed here, and a pthread_atfork() child handler closes
 * them in every child. The list is atomics only: the handler runs in the
 * child, where a lock held at fork() by another thread stays held. A
 * connection that finds no free slot goes unlisted (and says so at debug).
 */
enum { FORK_SLOTS = 64 };

static atomic_int ForkFds[FORK_SLOTS];
static pthread_once_t ForkOnce = PTHREAD_ONCE_INIT;

static void fork_child(void) {
  for (size_t I = 0; I < FORK_SLOTS; I++) {
    int Fd = atomic_exchange(&ForkFds[I], -1);
    if (Fd >= 0)
      close(Fd);
  }
}

static void fork_setup(void) {
  for (size_t I = 0; I < FORK_SLOTS; I++)
    atomic_init(&ForkFds[I], -1);
  pthread_atfork(NULL, NULL, fork_child);
}

/* List Fd for closing in forked children; false if the list is full. */
static bool fork_list(int Fd) {
  for (size_t I = 0; I < FORK_SLOTS; I++) {
    int Free = -1;
    if (atomic_compare_exchange_strong(&ForkFds[I], &Free, Fd))
      return true;
  }
  return false;
}

/* Take Fd off the list, before it is closed. */
static void fork_unlist(int Fd) {
  for (size_t I = 0; I < FORK_SLOTS; I++) {
    int Expected = Fd;
    if (atomic_compare_exchange_strong(&ForkFds[I], &Expected, -1))
      return;
  }
}

/* ---- a channel taken away ------------------------------------------------------ */

static bool ident_of(int Fd, struct orcrt_fd_ident *Out) {
  struct stat St;
  if (fstat(Fd, &St) != 0)
    return false;
  *Out = (struct orcrt_fd_ident){(uint64_t)St.st_dev, (uint64_t)St.st_ino};
  return true;
}

static bool ident_is(int Fd, const struct orcrt_fd_ident *Want) {
  struct orcrt_fd_ident Now;
  return ident_of(Fd, &Now) && Now.Dev == Want->Dev && Now.Ino == Want->Ino;
}

bool orcrt_pipe_channel_taken(struct pipe_access *P) {
  return !ident_is(P->InFd, &P->InIdent) || !ident_is(P->OutFd, &P->OutIdent) ||
         !ident_is(P->WakeFd, &P->WakeIdent);
}

/*
 * The I/O thread of a connection whose eventfd was taken cannot be woken:
 * its epoll instance and channel may be gone too. It is left where it
 * sleeps, with the connection's memory, which stays reachable from here;
 * nothing of it is freed or closed (the numbers may be someone else's by
 * now).
 */
static pthread_mutex_t LeftLock = PTHREAD_MUTEX_INITIALIZER;
static struct pipe_access *Left[FORK_SLOTS];

static void leave_behind(struct pipe_access *P) {
  pthread_mutex_lock(&LeftLock);
  for (size_t I = 0; I < FORK_SLOTS; I++)
    if (!Left[I]) {
      Left[I] = P;
      break;
    }
  pthread_mutex_unlock(&LeftLock);
  pthread_detach(P->Thread);
}

/* ---- the I/O thread ----------------------------------------------------- */

static void on_readable(evutil_socket_t Fd, short What, void *Arg) {
  (void)Fd;
  (void)What;
  struct pipe_access *P = Arg;
  P->InRead = true;
  orcrt_pipe_read(P);
  P->InRead = false;
  if (P->QueuedInRead) {
    /* Answers given inline during the read: one write for all of them. */
    P->QueuedInRead = false;
    orcrt_pipe_write_pending(P);
  }
  orcrt_pipe_update_probe(P);
}

static void on_writable(evutil_socket_t Fd, short What, void *Arg) {
  (void)Fd;
  (void)What;
  orcrt_pipe_flush(Arg);
}

static void on_wake(evutil_socket_t Fd, short What, void *Arg) {
  (void)Fd;
  (void)What;
  struct pipe_access *P = Arg;
  uint64_t Count;
  /* Clear the counter before taking the queue, so no enqueue goes unseen. */
  while (read(P->WakeFd, &Count, sizeof(Count)) < 0 && errno == EINTR)
    ;
  pthread_mutex_lock(&P->Lock);
  bool Stop = P->Stopping;
  pthread_mutex_unlock(&P->Lock);
  if (Stop) {
    event_base_loopbreak(P->Base);
    return;
  }
  orcrt_pipe_write_pending(P);
}

static void *io_thread(void *Arg) {
  struct pipe_access *P = Arg;
  orcrt_pipe_output_bind_thread(P);
  if (event_add(P->WakeEv, NULL) != 0 || event_add(P->ReadEv, NULL) != 0) {
    orcrt_pipe_end_session(P, orc_rt_Error_create("cannot watch the controller's descriptors"));
    return NULL;
  }
  pthread_mutex_lock(&P->Lock);
  bool Stop = P->Stopping;
  pthread_mutex_unlock(&P->Lock);
  if (Stop)
    return NULL;
  orcrt_pipe_write_pending(P); /* what of the Setup frame Connect could not write */
  if (event_base_dispatch(P->Base) < 0) {
    /* epoll_wait() failed: its instance was closed under the loop. */
    pthread_mutex_lock(&P->Lock);
    Stop = P->Stopping;
    pthread_mutex_unlock(&P->Lock);
    if (!Stop)
      orcrt_pipe_end_session(P, orc_rt_Error_create("the I/O thread's event loop failed: its "
                                                    "descriptors were closed (by JIT'd code?)"));
  }
  return NULL;
}

/* ---- the ops ------------------------------------------------------------ */

static orc_rt_ErrorRef set_fd_flags(int Fd, int *SavedFl, int *SavedFdFl) {
  int Fl = fcntl(Fd, F_GETFL);
  int FdFl = fcntl(Fd, F_GETFD);
  if (Fl < 0 || FdFl < 0)
    return orc_rt_Error_fromErrno(errno, "descriptor %d", Fd);
  if (fcntl(Fd, F_SETFL, Fl | O_NONBLOCK) < 0)
    return orc_rt_Error_fromErrno(errno, "making descriptor %d non-blocking", Fd);
  if (fcntl(Fd, F_SETFD, FdFl | FD_CLOEXEC) < 0) {
    int E = errno;
    fcntl(Fd, F_SETFL, Fl);
    return orc_rt_Error_fromErrno(E, "making descriptor %d close-on-exec", Fd);
  }
  *SavedFl = Fl;
  *SavedFdFl = FdFl;
  return NULL;
}

/*
 * Whether the loop can watch Fd: a pipe or socket can, a regular file or
 * /dev/null cannot (and libevent would only complain on stderr).
 */
static orc_rt_ErrorRef check_watchable(int Fd) {
  int Ep = epoll_create1(EPOLL_CLOEXEC);
  if (Ep < 0)
    return orc_rt_Error_fromErrno(errno, "creating an epoll instance");
  struct epoll_event Ev = {.events = EPOLLIN};
  orc_rt_ErrorRef Err = NULL;
  if (epoll_ctl(Ep, EPOLL_CTL_ADD, Fd, &Ev) < 0)
    Err = orc_rt_Error_fromErrno(
        errno, "descriptor %d cannot be watched (it must be a pipe or a socket)", Fd);
  close(Ep);
  return Err;
}

/*
 * Give an input pipe room for IN_PIPE_SIZE bytes (Linux's default is 64
 * KiB). A large finalize then crosses in 1 MiB steps, not 64 KiB ones: a
 * sixteenth of the wake-ups of the controller blocked in write() and of
 * the I/O thread, each of which costs tens of microseconds where the two
 * run on different CPUs. Where the kernel refuses (a socket, a user over
 * its pipe quota), the pipe stays as it is.
 */
#define IN_PIPE_SIZE (1024 * 1024)
static void grow_input_pipe(struct pipe_access *P) {
#ifdef F_SETPIPE_SZ
  struct stat St;
  if (fstat(P->InFd, &St) != 0 || !S_ISFIFO(St.st_mode))
    return;
  int Size = fcntl(P->InFd, F_GETPIPE_SZ);
  if (Size >= 0 && Size < IN_PIPE_SIZE && fcntl(P->InFd, F_SETPIPE_SZ, IN_PIPE_SIZE) < 0)
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug,
                       "pipe: input pipe left at %d bytes (F_SETPIPE_SZ: %s)", Size,
                       strerror(errno));
#else
  (void)P;
#endif
}

static void restore_fd_flags(int Fd, int Fl, int FdFl) {
  fcntl(Fd, F_SETFL, Fl);
  fcntl(Fd, F_SETFD, FdFl);
}

static orc_rt_ErrorRef pipe_connect(void *Ctx, orc_rt_SessionRef S) {
  struct pipe_access *P = Ctx;
  orc_rt_ErrorRef Err = NULL;
  bool InSet = false, OutSet = false;
  P->S = S;

  orc_rt_WrapperFunctionBuffer Setup = orc_rt_Session_buildSetup(S, P->Triple, P->PageSize);
  if (orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Setup)) {
    Err = orc_rt_Error_create("building the Setup frame: %s",
                              orc_rt_WrapperFunctionBuffer_getOutOfBandError(&Setup));
    goto fail;
  }
  if ((Err = check_watchable(P->InFd)) ||
      (P->OutFd != P->InFd && (Err = check_watchable(P->OutFd))))
    goto fail;
  if ((Err = set_fd_flags(P->InFd, &P->SavedInFl, &P->SavedInFdFl)))
    goto fail;
  InSet = true;
  grow_input_pipe(P);
  if (P->OutFd != P->InFd) {
    if ((Err = set_fd_flags(P->OutFd, &P->SavedOutFl, &P->SavedOutFdFl)))
      goto fail;
    OutSet = true;
  }
  if (!ident_of(P->InFd, &P->InIdent) || !ident_of(P->OutFd, &P->OutIdent) ||
      !ident_of(P->WakeFd, &P->WakeIdent)) {
    Err = orc_rt_Error_fromErrno(errno, "descriptors %d and %d", P->InFd, P->OutFd);
    goto fail;
  }
  orcrt_pipe_input_detect_tcp(P);
  /* Written here, on the embedder's thread, as far as OutFd takes it: the
     controller waits for nothing else, and a thread takes a while to start. */
  orcrt_pipe_enqueue(P, WIRE_OP_SETUP, 0, 0, Setup);
  orc_rt_WrapperFunctionBuffer_init(&Setup);

  /* The I/O thread takes no signals: they belong to the embedding program. */
  sigset_t All, Old;
  sigfillset(&All);
  pthread_sigmask(SIG_SETMASK, &All, &Old);
  pthread_mutex_lock(&P->Lock);
  int E = pthread_create(&P->Thread, NULL, io_thread, P);
  P->ThreadStarted = E == 0;
  pthread_mutex_unlock(&P->Lock);
  pthread_sigmask(SIG_SETMASK, &Old, NULL);
  if (E) {
    Err = orc_rt_Error_fromErrno(E, "starting the pipe I/O thread");
    goto fail;
  }
  bool Listed = fork_list(P->InFd);
  if (P->OutFd != P->InFd)
    Listed = fork_list(P->OutFd) && Listed;
  orc_rt_Session_log(S, orc_rt_LogLevel_Debug, "pipe: connected on descriptors %d and %d%s",
                     P->InFd, P->OutFd,
                     Listed ? "" : " (too many connections: forked children keep them)");
  return NULL;

fail:
  orc_rt_WrapperFunctionBuffer_dispose(&Setup);
  orcrt_pipe_drop_queue(P);
  orcrt_pipe_drop_output(P);
  if (OutSet)
    restore_fd_flags(P->OutFd, P->SavedOutFl, P->SavedOutFdFl);
  if (InSet)
    restore_fd_flags(P->InFd, P->SavedInFl, P->SavedInFdFl);
  return Err;
}

static void pipe_call_controller(void *Ctx, uint64_t CallId, orc_rt_ExecutorAddr HandlerTag,
                                 orc_rt_WrapperFunctionBuffer ArgBytes) {
  struct pipe_access *P = Ctx;
  /* Before the frame is written (sequentially consistent: pipe-internal.h). */
  atomic_fetch_add(&P->CallsToController, 1);
  /* The Session numbers its calls from 0, as LLVM expects of the executor. */
  orcrt_pipe_enqueue(P, WIRE_OP_CALL_WRAPPER, CallId, HandlerTag, ArgBytes);
  /* After the controller closed its writing end no answer can come: end,
     which fails the call instead of leaving it waiting. */
  if (atomic_load(&P->HalfClosed))
    orcrt_pipe_end_session(P, NULL);
}

static void pipe_send_result(void *Ctx, uint64_t CallId, orc_rt_WrapperFunctionBuffer Result) {
  struct pipe_access *P = Ctx;
  orcrt_pipe_discharge_call(P, CallId);
  orcrt_pipe_enqueue(P, WIRE_OP_RESULT, CallId, 0, Result);
}

/* After the I/O thread has exited: close the input (the output waits for
   pipe_destroy()) and drop the channel's traffic. */
static void close_channel(struct pipe_access *P) {
  if (P->OutFd != P->InFd) {
    fork_unlist(P->InFd);
    /* A number taken by something else since Connect is not ours to close. */
    if (ident_is(P->InFd, &P->InIdent))
      close(P->InFd);
  }
  orcrt_pipe_drop_output(P);
  orcrt_pipe_drop_queue(P);
  orcrt_pipe_discard_partial_frame(P);
  event_free(P->ReadEv);
  event_free(P->WriteEv);
  event_free(P->WakeEv);
  if (P->ProbeEv)
    event_free(P->ProbeEv);
  if (P->GoneEv)
    event_free(P->GoneEv);
  event_base_free(P->Base);
  P->ReadEv = P->WriteEv = P->WakeEv = P->ProbeEv = P->GoneEv = NULL;
  P->Base = NULL;
}

static void pipe_disconnect(void *Ctx) {
  struct pipe_access *P = Ctx;
  pthread_mutex_lock(&P->Lock);
  bool First = !P->Stopping;
  P->Stopping = true;
  if (!P->ThreadStarted) {
    pthread_mutex_unlock(&P->Lock);
    return;
  }
  if (pthread_equal(pthread_self(), P->Thread)) {
    /* Cannot wait for ourselves; a later caller (at the latest Destroy) joins. */
    pthread_mutex_unlock(&P->Lock);
    if (First)
      orcrt_pipe_wake(P);
    return;
  }
  if (P->Joining) {
    while (!P->Joined)
      pthread_cond_wait(&P->JoinedCond, &P->Lock);
    pthread_mutex_unlock(&P->Lock);
    return;
  }
  P->Joining = true;
  pthread_mutex_unlock(&P->Lock);

  orcrt_pipe_wake(P);
  if (!ident_is(P->WakeFd, &P->WakeIdent)) {
    /* The eventfd is gone: the I/O thread cannot be woken, and is left. */
    P->LeftBehind = true;
    leave_behind(P);
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug,
                       "pipe: disconnected; the I/O thread is left, its descriptors gone");
  } else {
    pthread_join(P->Thread, NULL);
    close_channel(P);
    orc_rt_Session_log(P->S, orc_rt_LogLevel_Debug, "pipe: disconnected");
  }

  pthread_mutex_lock(&P->Lock);
  P->Joined = true;
  pthread_cond_broadcast(&P->JoinedCond);
  pthread_mutex_unlock(&P->Lock);
}

static void pipe_destroy(void *Ctx) {
  struct pipe_access *P = Ctx;
  pipe_disconnect(P);
  if (P->LeftBehind)
    return; /* with its I/O thread (leave_behind()) */
  /* The controller waits for end of file on OutFd before it exits, so it
     comes only now, when the Session has shut down: the deallocation
     actions have run and the embedder could flush the JIT'd output. */
  if (P->ThreadStarted) {
    fork_unlist(P->OutFd);
    if (ident_is(P->OutFd, &P->OutIdent))
      close(P->OutFd);
  }
  orcrt_pipe_destroy_unconnected(P);
}

const orc_rt_ControllerAccessOps orcrt_pipe_ops = {
    .Connect = pipe_connect,
    .CallController = pipe_call_controller,
    .SendResult = pipe_send_result,
    .Disconnect = pipe_disconnect,
    .Destroy = pipe_destroy,
};

/* ---- creation ----------------------------------------------------------- */

static pthread_once_t EvthreadOnce = PTHREAD_ONCE_INIT;
static int EvthreadStatus = -1;

/*
 * libevent's own warnings would go to stderr, and the library never prints;
 * what they say (a descriptor gone under the loop) reaches the Session as
 * the failure of the read, write or wait concerned.
 */
static void discard_libevent_log(int Severity, const char *Msg) {
  (void)Severity;
  (void)Msg;
}

static void evthread_setup(void) {
  event_set_log_callback(discard_libevent_log);
  EvthreadStatus = evthread_use_pthreads();
}

void orcrt_pipe_destroy_unconnected(void *Ctx) {
  struct pipe_access *P = Ctx;
  if (!P)
    return;
  orcrt_pipe_input_free(P);
  orcrt_pipe_output_free(P);
  orcrt_pipe_flow_free(P);
  if (P->ReadEv)
    event_free(P->ReadEv);
  if (P->WriteEv)
    event_free(P->WriteEv);
  if (P->WakeEv)
    event_free(P->WakeEv);
  if (P->Base)
    event_base_free(P->Base);
  if (P->WakeFd >= 0 && (!P->ThreadStarted || ident_is(P->WakeFd, &P->WakeIdent)))
    close(P->WakeFd);
  pthread_cond_destroy(&P->JoinedCond);
  pthread_mutex_destroy(&P->Lock);
  free(P->Triple);
  free(P);
}

orc_rt_ErrorRef orcrt_pipe_create(int InFd, int OutFd, const orc_rt_PipeOptions *Opts, void **Out) {
  orc_rt_PipeOptions Defaults;
  orc_rt_ErrorRef Err = NULL;
  struct event_config *Cfg = NULL;
  struct pipe_access *P = NULL;

  if (!Opts) {
    orc_rt_PipeOptions_init(&Defaults);
    Opts = &Defaults;
  }
  if (InFd < 0 || OutFd < 0)
    return orc_rt_Error_create("invalid descriptors %d and %d", InFd, OutFd);
  if (Opts->MaxFrameSize < WIRE_HEADER_SIZE)
    return orc_rt_Error_create("maximum frame size %zu below header size %d", Opts->MaxFrameSize,
                               WIRE_HEADER_SIZE);
  pthread_once(&EvthreadOnce, evthread_setup);
  if (EvthreadStatus != 0)
    return orc_rt_Error_create("libevent has no pthreads support");
  pthread_once(&ForkOnce, fork_setup);

  P = calloc(1, sizeof(*P));
  if (!P)
    return orc_rt_Error_create("out of memory");
  int Rc = pthread_mutex_init(&P->Lock, NULL);
  if (Rc == 0 && (Rc = pthread_cond_init(&P->JoinedCond, NULL)) != 0)
    pthread_mutex_destroy(&P->Lock);
  if (Rc) {
    free(P);
    return orc_rt_Error_fromErrno(Rc, "cannot create the pipe transport");
  }
  P->InFd = InFd;
  P->OutFd = OutFd;
  P->WakeFd = -1;
  P->MaxFrameSize = Opts->MaxFrameSize;
  P->MaxPendingOutput = Opts->MaxPendingOutput;
  P->PageSize = Opts->PageSize;
  P->IdleProbeMs = Opts->IdleProbeMs;
  P->QueueTail = &P->QueueHead;
  P->Out.Tail = &P->Out.Head;
  P->Handoff.Tail = &P->Handoff.Head;
  P->OutOwner = OUT_FREE;
  atomic_init(&P->PendingOutput, 0);
  atomic_init(&P->ResultsOut, 0);
  atomic_init(&P->CallsOut, 0);
  atomic_init(&P->ReadPaused, false);
  atomic_init(&P->CallBytes, 0);
  atomic_init(&P->CallCount, 0);
  atomic_init(&P->CallsToController, 0);
  atomic_init(&P->HalfClosed, false);

  P->Triple = strdup(Opts->TargetTriple ? Opts->TargetTriple : orcrt_host_triple());
  if (!P->Triple || !orcrt_pipe_input_init(P)) {
    Err = orc_rt_Error_create("out of memory");
    goto fail;
  }
  P->WakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (P->WakeFd < 0) {
    Err = orc_rt_Error_fromErrno(errno, "creating an eventfd");
    goto fail;
  }
  /* Only the I/O thread touches the base: it needs no locks of its own. */
  Cfg = event_config_new();
  if (!Cfg || event_config_set_flag(Cfg, EVENT_BASE_FLAG_NOLOCK) != 0 ||
      !(P->Base = event_base_new_with_config(Cfg))) {
    Err = orc_rt_Error_create("cannot create an event loop");
    goto fail;
  }
  P->ReadEv = event_new(P->Base, InFd, EV_READ | EV_PERSIST, on_readable, P);
  P->WriteEv = event_new(P->Base, OutFd, EV_WRITE | EV_PERSIST, on_writable, P);
  P->WakeEv = event_new(P->Base, P->WakeFd, EV_READ | EV_PERSIST, on_wake, P);
  if (!P->ReadEv || !P->WriteEv || !P->WakeEv || !orcrt_pipe_flow_init(P)) {
    Err = orc_rt_Error_create("out of memory");
    goto fail;
  }
  event_config_free(Cfg);
  *Out = P;
  return NULL;

fail:
  if (Cfg)
    event_config_free(Cfg);
  orcrt_pipe_destroy_unconnected(P);
  return Err;
}

void orcrt_pipe_set_charge_fault(void *Ctx, bool (*Fail)(void)) {
  struct pipe_access *P = Ctx;
  P->ChargeFault = Fail;
}

/* ---- public ------------------------------------------------------------- */

ORC_RT_EXPORT void orc_rt_PipeOptions_init(orc_rt_PipeOptions *O) {
  O->MaxFrameSize = (size_t)1 << 30;
  O->MaxPendingOutput = (size_t)64 << 20;
  O->TargetTriple = orcrt_host_triple();
  O->PageSize = orcrt_host_page_size();
  O->IdleProbeMs = 0;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_PipeControllerAccess_attach(orc_rt_SessionRef S, int InFd,
                                                                 int OutFd,
                                                                 const orc_rt_PipeOptions *Opts) {
  void *Ctx = NULL;
  orc_rt_ErrorRef Err = orcrt_pipe_create(InFd, OutFd, Opts, &Ctx);
  if (Err)
    return Err;
  if ((Err = orc_rt_Session_attach(S, &orcrt_pipe_ops, Ctx))) {
    orcrt_pipe_destroy_unconnected(Ctx);
    return Err;
  }
  return NULL;
}

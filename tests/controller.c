/*
 * controller.c - a small controller for the test suites
 */
#include "config.h"

#include "controller.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <orcrt/sps.h>

#define RX_SIZE (64 * 1024)
/* The largest frame accepted from the executor. */
#define MAX_FRAME ((uint64_t)1 << 31)

struct tc_symbol {
  char *Name;
  orc_rt_ExecutorAddr Addr;
};

struct tc_handler {
  orc_rt_ExecutorAddr Tag;
  orcrt_tc_handler_fn Fn;
  void *Ctx;
};

/* A call of the controller's: pending until its Result arrives and is taken. */
struct tc_call {
  uint64_t SeqNo;
  bool Arrived;
  orc_rt_WrapperFunctionBuffer Result;
};

struct orcrt_tc {
  int ReadFd, WriteFd;
  bool Shared; /* one socket for both directions */
  pid_t Pid;
  int PidFd;
  bool Reaped;
  int TimeoutMs;
  size_t WriteChunk;

  pthread_mutex_t ErrLock;
  char Err[512];

  pthread_mutex_t WriteLock; /* one frame at a time on WriteFd */

  pthread_mutex_t Lock; /* everything below */
  pthread_cond_t Cond;
  bool Reading; /* a thread holds the reader role */
  bool Broken;  /* the stream failed; BrokenMsg says how */
  char BrokenMsg[512];
  uint64_t NextSeqNo;
  struct tc_call *Calls;
  size_t NumCalls, CapCalls;
  struct tc_handler *Handlers;
  size_t NumHandlers;

  /* The reader's (whoever holds the reader role). */
  char *Rx;
  size_t RxStart, RxEnd;

  /* The Setup, once read. */
  char *Triple;
  uint64_t PageSize;
  size_t MapCount;
  char *FirstMapKey;    /* the bootstrap map's first key, or NULL */
  unsigned SetupFields; /* 4 (LLVM 19 and 22) or 3 (LLVM 14-16) */
  struct tc_symbol *Syms;
  size_t NumSyms;
  char *SetupPayload;
  size_t SetupSize;
};

static void set_error(orcrt_tc *TC, const char *Fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(orcrt_tc *TC, const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  pthread_mutex_lock(&TC->ErrLock);
  vsnprintf(TC->Err, sizeof(TC->Err), Fmt, Ap);
  pthread_mutex_unlock(&TC->ErrLock);
  va_end(Ap);
}

const char *orcrt_tc_error(orcrt_tc *TC) {
  return TC->Err;
}

/* ---- time ---------------------------------------------------------------- */

static int64_t now_ms(void) {
  struct timespec T;
  clock_gettime(CLOCK_MONOTONIC, &T);
  return (int64_t)T.tv_sec * 1000 + T.tv_nsec / 1000000;
}

/* The deadline of a wait starting now; -1 for none. */
static int64_t deadline(orcrt_tc *TC) {
  return TC->TimeoutMs < 0 ? -1 : now_ms() + TC->TimeoutMs;
}

/* Milliseconds left until Deadline for poll(): -1 for none, 0 when past. */
static int remaining_ms(int64_t Deadline) {
  if (Deadline < 0)
    return -1;
  int64_t Left = Deadline - now_ms();
  return Left <= 0 ? 0 : Left > INT32_MAX ? INT32_MAX : (int)Left;
}

/* Wait until Fd has Events. 1: ready; 0: timed out; -1: poll failed. */
static int wait_fd(int Fd, short Events, int64_t Deadline) {
  for (;;) {
    struct pollfd Pfd = {.fd = Fd, .events = Events};
    int R = poll(&Pfd, 1, remaining_ms(Deadline));
    if (R > 0)
      return 1;
    if (R == 0)
      return 0;
    if (errno != EINTR)
      return -1;
  }
}

/* Wait on TC->Cond (Lock held) until signalled or Deadline. False on timeout. */
static bool cond_wait(orcrt_tc *TC, int64_t Deadline) {
  if (Deadline < 0) {
    pthread_cond_wait(&TC->Cond, &TC->Lock);
    return true;
  }
  struct timespec T = {.tv_sec = Deadline / 1000, .tv_nsec = (Deadline % 1000) * 1000000};
  return pthread_cond_timedwait(&TC->Cond, &TC->Lock, &T) != ETIMEDOUT || now_ms() < Deadline;
}

/* ---- creating ------------------------------------------------------------ */

static orcrt_tc *tc_new(void) {
  signal(SIGPIPE, SIG_IGN);
  orcrt_tc *TC = calloc(1, sizeof(*TC));
  if (!TC)
    return NULL;
  TC->Rx = malloc(RX_SIZE);
  if (!TC->Rx) {
    free(TC);
    return NULL;
  }
  TC->ReadFd = TC->WriteFd = -1;
  TC->Pid = -1;
  TC->PidFd = -1;
  TC->TimeoutMs = 20000;
  TC->SetupFields = 4;
  pthread_mutex_init(&TC->ErrLock, NULL);
  pthread_mutex_init(&TC->WriteLock, NULL);
  pthread_mutex_init(&TC->Lock, NULL);
  pthread_condattr_t Attr;
  pthread_condattr_init(&Attr);
  pthread_condattr_setclock(&Attr, CLOCK_MONOTONIC);
  pthread_cond_init(&TC->Cond, &Attr);
  pthread_condattr_destroy(&Attr);
  return TC;
}

static void set_fd_flags(int Fd) {
  fcntl(Fd, F_SETFL, fcntl(Fd, F_GETFL) | O_NONBLOCK);
  fcntl(Fd, F_SETFD, FD_CLOEXEC);
}

int orcrt_tc_attach_fds(int ReadFd, int WriteFd, orcrt_tc **Out) {
  orcrt_tc *TC = tc_new();
  if (!TC)
    return -1;
  TC->ReadFd = ReadFd;
  TC->WriteFd = WriteFd;
  TC->Shared = ReadFd == WriteFd;
  set_fd_flags(ReadFd);
  if (WriteFd != ReadFd)
    set_fd_flags(WriteFd);
  *Out = TC;
  return 0;
}

int orcrt_tc_launch(const char *Exe, char *const ExtraArgv[], orcrt_tc **Out) {
  return orcrt_tc_launch_ex(Exe, orcrt_tc_launch_filedescs, ExtraArgv, Out);
}

int orcrt_tc_launch_ex(const char *Exe, orcrt_tc_launch_style Style, char *const ExtraArgv[],
                       orcrt_tc **Out) {
  int ToExec[2] = {-1, -1}, FromExec[2] = {-1, -1};
  char **Argv = NULL;
  orcrt_tc *TC = NULL;
  size_t NumExtra = 0;
  char Spec[64], RStr[16], WStr[16];

  *Out = NULL;
  while (ExtraArgv && ExtraArgv[NumExtra])
    NumExtra++;
  if (pipe2(ToExec, O_CLOEXEC) < 0 || pipe2(FromExec, O_CLOEXEC) < 0)
    goto fail;
  /* Everything the child needs is prepared before fork: it only execs. */
  Argv = calloc(NumExtra + 4, sizeof(*Argv));
  if (!Argv)
    goto fail;
  size_t A = 0;
  Argv[A++] = (char *)Exe;
  snprintf(RStr, sizeof(RStr), "%d", ToExec[0]);
  snprintf(WStr, sizeof(WStr), "%d", FromExec[1]);
  if (Style == orcrt_tc_launch_filedescs) {
    snprintf(Spec, sizeof(Spec), "filedescs=%d,%d", ToExec[0], FromExec[1]);
    Argv[A++] = Spec;
  } else {
    Argv[A++] = RStr;
    Argv[A++] = WStr;
  }
  for (size_t I = 0; I < NumExtra; I++)
    Argv[A++] = ExtraArgv[I];
  Argv[A] = NULL;

  TC = tc_new();
  if (!TC)
    goto fail;

  /* Nothing buffered may be written twice, should the child flush on its way out. */
  fflush(NULL);
  pid_t Pid = fork();
  if (Pid < 0)
    goto fail;
  if (Pid == 0) {
    /* The child: only async-signal-safe calls from here to exec. */
    sigset_t None;
    sigemptyset(&None);
    sigprocmask(SIG_SETMASK, &None, NULL);
    fcntl(ToExec[0], F_SETFD, 0);
    fcntl(FromExec[1], F_SETFD, 0);
    if (Style == orcrt_tc_launch_filedescs)
      execvp(Exe, Argv);
    else
      execv(Exe, Argv);
    static const char Msg[] = "test controller: exec failed\n";
    ssize_t Ignored = write(2, Msg, sizeof(Msg) - 1);
    (void)Ignored;
    _exit(127);
  }
  close(ToExec[0]);
  close(FromExec[1]);
  free(Argv);
  TC->Pid = Pid;
  TC->PidFd = (int)syscall(SYS_pidfd_open, Pid, 0);
  TC->ReadFd = FromExec[0];
  TC->WriteFd = ToExec[1];
  set_fd_flags(TC->ReadFd);
  set_fd_flags(TC->WriteFd);
  *Out = TC;
  return 0;

fail:;
  int E = errno;
  for (int I = 0; I < 2; I++) {
    if (ToExec[I] >= 0)
      close(ToExec[I]);
    if (FromExec[I] >= 0)
      close(FromExec[I]);
  }
  free(Argv);
  orcrt_tc_destroy(TC);
  errno = E;
  return -1;
}

void orcrt_tc_set_timeout(orcrt_tc *TC, int Ms) {
  TC->TimeoutMs = Ms;
}

void orcrt_tc_set_write_chunk(orcrt_tc *TC, size_t Max) {
  TC->WriteChunk = Max;
}

int orcrt_tc_read_fd(orcrt_tc *TC) {
  return TC->ReadFd;
}
int orcrt_tc_write_fd(orcrt_tc *TC) {
  return TC->WriteFd;
}
pid_t orcrt_tc_pid(orcrt_tc *TC) {
  return TC->Pid;
}

/* ---- ending -------------------------------------------------------------- */

/*
 * On a shared socket, closing one direction shuts it down; the descriptor is
 * closed with the second.
 */
void orcrt_tc_close_write(orcrt_tc *TC) {
  pthread_mutex_lock(&TC->WriteLock);
  if (TC->WriteFd >= 0) {
    if (TC->Shared && TC->ReadFd >= 0)
      shutdown(TC->WriteFd, SHUT_WR);
    else
      close(TC->WriteFd);
    TC->WriteFd = -1;
  }
  pthread_mutex_unlock(&TC->WriteLock);
}

void orcrt_tc_close_read(orcrt_tc *TC) {
  pthread_mutex_lock(&TC->WriteLock);
  if (TC->ReadFd >= 0) {
    if (TC->Shared && TC->WriteFd >= 0)
      shutdown(TC->ReadFd, SHUT_RD);
    else
      close(TC->ReadFd);
    TC->ReadFd = -1;
  }
  pthread_mutex_unlock(&TC->WriteLock);
}

void orcrt_tc_close(orcrt_tc *TC) {
  orcrt_tc_close_write(TC);
  orcrt_tc_close_read(TC);
}

struct waiter {
  pid_t Pid;
  int Status;
  bool Done;
  pthread_mutex_t Lock;
  pthread_cond_t Cond;
};

static void *waiter_thread(void *Arg) {
  struct waiter *W = Arg;
  int Status = 0;
  while (waitpid(W->Pid, &Status, 0) < 0 && errno == EINTR)
    ;
  pthread_mutex_lock(&W->Lock);
  W->Status = Status;
  W->Done = true;
  pthread_cond_signal(&W->Cond);
  pthread_mutex_unlock(&W->Lock);
  return NULL;
}

/* Without a pidfd: a thread blocks in waitpid() while we wait with a deadline. */
static int wait_exit_thread(orcrt_tc *TC, int64_t Deadline, int *Status) {
  struct waiter W = {.Pid = TC->Pid};
  pthread_mutex_init(&W.Lock, NULL);
  pthread_condattr_t Attr;
  pthread_condattr_init(&Attr);
  pthread_condattr_setclock(&Attr, CLOCK_MONOTONIC);
  pthread_cond_init(&W.Cond, &Attr);
  pthread_condattr_destroy(&Attr);
  pthread_t T;
  if (pthread_create(&T, NULL, waiter_thread, &W) != 0) {
    set_error(TC, "cannot start a thread to wait for the child");
    return -1;
  }
  bool TimedOut = false;
  pthread_mutex_lock(&W.Lock);
  while (!W.Done && !TimedOut) {
    if (Deadline < 0) {
      pthread_cond_wait(&W.Cond, &W.Lock);
    } else {
      struct timespec Ts = {.tv_sec = Deadline / 1000, .tv_nsec = (Deadline % 1000) * 1000000};
      TimedOut = pthread_cond_timedwait(&W.Cond, &W.Lock, &Ts) == ETIMEDOUT && !W.Done;
    }
  }
  pthread_mutex_unlock(&W.Lock);
  if (TimedOut)
    kill(TC->Pid, SIGKILL); /* the waiter thread reaps it */
  pthread_join(T, NULL);
  pthread_cond_destroy(&W.Cond);
  pthread_mutex_destroy(&W.Lock);
  TC->Reaped = true;
  if (TimedOut) {
    set_error(TC, "timed out after %d ms waiting for the executor to exit; killed it",
              TC->TimeoutMs);
    return -1;
  }
  if (Status)
    *Status = W.Status;
  return 0;
}

int orcrt_tc_wait_exit(orcrt_tc *TC, int *Status) {
  if (TC->Pid < 0 || TC->Reaped) {
    set_error(TC, "no child to wait for");
    return -1;
  }
  int64_t Deadline = deadline(TC);
  if (TC->PidFd < 0)
    return wait_exit_thread(TC, Deadline, Status);
  int R = wait_fd(TC->PidFd, POLLIN, Deadline);
  if (R <= 0)
    kill(TC->Pid, SIGKILL);
  int St = 0;
  while (waitpid(TC->Pid, &St, 0) < 0 && errno == EINTR)
    ;
  TC->Reaped = true;
  if (R <= 0) {
    set_error(TC, "timed out after %d ms waiting for the executor to exit; killed it",
              TC->TimeoutMs);
    return -1;
  }
  if (Status)
    *Status = St;
  return 0;
}

void orcrt_tc_destroy(orcrt_tc *TC) {
  if (!TC)
    return;
  orcrt_tc_close(TC);
  if (TC->Pid > 0 && !TC->Reaped) {
    kill(TC->Pid, SIGKILL);
    while (waitpid(TC->Pid, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  if (TC->PidFd >= 0)
    close(TC->PidFd);
  for (size_t I = 0; I < TC->NumCalls; I++)
    orc_rt_WrapperFunctionBuffer_dispose(&TC->Calls[I].Result);
  free(TC->Calls);
  free(TC->Handlers);
  for (size_t I = 0; I < TC->NumSyms; I++)
    free(TC->Syms[I].Name);
  free(TC->Syms);
  free(TC->FirstMapKey);
  free(TC->Triple);
  free(TC->SetupPayload);
  free(TC->Rx);
  pthread_cond_destroy(&TC->Cond);
  pthread_mutex_destroy(&TC->Lock);
  pthread_mutex_destroy(&TC->WriteLock);
  pthread_mutex_destroy(&TC->ErrLock);
  free(TC);
}

/* ---- writing ------------------------------------------------------------- */

/* Write all N bytes (WriteLock held). */
static int write_all(orcrt_tc *TC, const void *Data, size_t N, int64_t Deadline) {
  const char *P = Data;
  if (TC->WriteFd < 0) {
    set_error(TC, "the controller's write end is closed");
    return -1;
  }
  while (N) {
    size_t Chunk = TC->WriteChunk && TC->WriteChunk < N ? TC->WriteChunk : N;
    ssize_t R = write(TC->WriteFd, P, Chunk);
    if (R > 0) {
      P += R;
      N -= (size_t)R;
      continue;
    }
    if (R < 0 && errno == EINTR)
      continue;
    if (R < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int W = wait_fd(TC->WriteFd, POLLOUT, Deadline);
      if (W > 0)
        continue;
      if (W == 0) {
        set_error(TC, "timed out after %d ms writing to the executor", TC->TimeoutMs);
        return -1;
      }
    }
    set_error(TC, "writing to the executor: %s", strerror(errno));
    return -1;
  }
  return 0;
}

static void put_le64(unsigned char *P, uint64_t V) {
  for (int I = 0; I < 8; I++)
    P[I] = (unsigned char)(V >> (8 * I));
}

static uint64_t get_le64(const unsigned char *P) {
  uint64_t V = 0;
  for (int I = 0; I < 8; I++)
    V |= (uint64_t)P[I] << (8 * I);
  return V;
}

static int send_raw_frame(orcrt_tc *TC, uint64_t MsgSize, uint64_t OpC, uint64_t SeqNo,
                          uint64_t TagAddr, const void *Payload, size_t N) {
  /* Header and a small payload go out in one write(), as one atomic pipe write. */
  char Small[4096];
  unsigned char *H = (unsigned char *)Small;
  put_le64(H, MsgSize);
  put_le64(H + 8, OpC);
  put_le64(H + 16, SeqNo);
  put_le64(H + 24, TagAddr);
  bool Joined = N <= sizeof(Small) - ORCRT_TC_HEADER_SIZE;
  if (Joined && N)
    memcpy(Small + ORCRT_TC_HEADER_SIZE, Payload, N);
  int64_t Deadline = deadline(TC);
  pthread_mutex_lock(&TC->WriteLock);
  int R;
  if (Joined) {
    R = write_all(TC, Small, ORCRT_TC_HEADER_SIZE + N, Deadline);
  } else {
    R = write_all(TC, Small, ORCRT_TC_HEADER_SIZE, Deadline);
    if (R == 0)
      R = write_all(TC, Payload, N, Deadline);
  }
  pthread_mutex_unlock(&TC->WriteLock);
  return R;
}

int orcrt_tc_send_frame(orcrt_tc *TC, uint64_t OpC, uint64_t SeqNo, uint64_t TagAddr,
                        const void *Payload, size_t N) {
  return send_raw_frame(TC, ORCRT_TC_HEADER_SIZE + (uint64_t)N, OpC, SeqNo, TagAddr, Payload, N);
}

int orcrt_tc_send_header(orcrt_tc *TC, uint64_t MsgSize, uint64_t OpC, uint64_t SeqNo,
                         uint64_t TagAddr) {
  return send_raw_frame(TC, MsgSize, OpC, SeqNo, TagAddr, NULL, 0);
}

int orcrt_tc_write_raw(orcrt_tc *TC, const void *Data, size_t N) {
  pthread_mutex_lock(&TC->WriteLock);
  int R = write_all(TC, Data, N, deadline(TC));
  pthread_mutex_unlock(&TC->WriteLock);
  return R;
}

int orcrt_tc_send_result(orcrt_tc *TC, uint64_t SeqNo, const void *Payload, size_t N) {
  return orcrt_tc_send_frame(TC, ORCRT_TC_OP_RESULT, SeqNo, 0, Payload, N);
}

/* ---- reading (reader role held) ------------------------------------------ */

/* Read exactly N bytes. 0: done; 1: end of file (*Got bytes read); -1: error. */
static int read_exact(orcrt_tc *TC, void *Dst, size_t N, int64_t Deadline, size_t *Got) {
  char *D = Dst;
  *Got = 0;
  while (N) {
    if (TC->RxStart < TC->RxEnd) {
      size_t Take = TC->RxEnd - TC->RxStart;
      if (Take > N)
        Take = N;
      memcpy(D, TC->Rx + TC->RxStart, Take);
      TC->RxStart += Take;
      D += Take;
      N -= Take;
      *Got += Take;
      continue;
    }
    if (TC->ReadFd < 0) {
      set_error(TC, "the controller's read end is closed");
      return -1;
    }
    ssize_t R;
    if (N >= RX_SIZE) {
      R = read(TC->ReadFd, D, N);
      if (R > 0) {
        D += R;
        N -= (size_t)R;
        *Got += (size_t)R;
        continue;
      }
    } else {
      R = read(TC->ReadFd, TC->Rx, RX_SIZE);
      if (R > 0) {
        TC->RxStart = 0;
        TC->RxEnd = (size_t)R;
        continue;
      }
    }
    if (R == 0)
      return 1;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int W = wait_fd(TC->ReadFd, POLLIN, Deadline);
      if (W > 0)
        continue;
      if (W == 0) {
        set_error(TC, "timed out after %d ms reading from the executor", TC->TimeoutMs);
        return -1;
      }
    }
    set_error(TC, "reading from the executor: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* Read one frame. 0: *F holds it; 1: end of file at a frame boundary; -1: error. */
static int read_next_frame(orcrt_tc *TC, orcrt_tc_frame *F, int64_t Deadline) {
  unsigned char H[ORCRT_TC_HEADER_SIZE];
  size_t Got;
  memset(F, 0, sizeof(*F));
  int R = read_exact(TC, H, sizeof(H), Deadline, &Got);
  if (R == 1 && Got == 0)
    return 1;
  if (R == 1) {
    set_error(TC, "end of file inside a frame header (%zu of 32 bytes)", Got);
    return -1;
  }
  if (R < 0)
    return -1;
  F->MsgSize = get_le64(H);
  F->OpC = get_le64(H + 8);
  F->SeqNo = get_le64(H + 16);
  F->TagAddr = get_le64(H + 24);
  if (F->MsgSize < ORCRT_TC_HEADER_SIZE || F->MsgSize > MAX_FRAME) {
    set_error(TC, "bad frame size %llu from the executor", (unsigned long long)F->MsgSize);
    return -1;
  }
  F->PayloadSize = (size_t)(F->MsgSize - ORCRT_TC_HEADER_SIZE);
  if (F->PayloadSize) {
    F->Payload = malloc(F->PayloadSize);
    if (!F->Payload) {
      set_error(TC, "out of memory for a frame of %zu bytes", F->PayloadSize);
      return -1;
    }
    R = read_exact(TC, F->Payload, F->PayloadSize, Deadline, &Got);
    if (R != 0) {
      if (R == 1)
        set_error(TC, "end of file inside a frame payload (%zu of %zu bytes)", Got, F->PayloadSize);
      orcrt_tc_frame_dispose(F);
      return -1;
    }
  }
  return 0;
}

void orcrt_tc_frame_dispose(orcrt_tc_frame *F) {
  free(F->Payload);
  F->Payload = NULL;
  F->PayloadSize = 0;
}

static bool acquire_reader(orcrt_tc *TC, int64_t Deadline) {
  pthread_mutex_lock(&TC->Lock);
  while (TC->Reading) {
    if (!cond_wait(TC, Deadline)) {
      pthread_mutex_unlock(&TC->Lock);
      set_error(TC, "timed out after %d ms waiting for another reader", TC->TimeoutMs);
      return false;
    }
  }
  TC->Reading = true;
  pthread_mutex_unlock(&TC->Lock);
  return true;
}

static void release_reader(orcrt_tc *TC) {
  pthread_mutex_lock(&TC->Lock);
  TC->Reading = false;
  pthread_cond_broadcast(&TC->Cond);
  pthread_mutex_unlock(&TC->Lock);
}

int orcrt_tc_read_frame(orcrt_tc *TC, orcrt_tc_frame *F) {
  int64_t Deadline = deadline(TC);
  if (!acquire_reader(TC, Deadline))
    return -1;
  int R = read_next_frame(TC, F, Deadline);
  release_reader(TC);
  if (R == 1)
    set_error(TC, "end of file");
  return R == 0 ? 0 : -1;
}

int orcrt_tc_wait_eof(orcrt_tc *TC) {
  int64_t Deadline = deadline(TC);
  if (!acquire_reader(TC, Deadline))
    return -1;
  orcrt_tc_frame F;
  int R = read_next_frame(TC, &F, Deadline);
  release_reader(TC);
  if (R == 1)
    return 0;
  if (R == 0) {
    set_error(TC, "expected end of file, got a frame with opcode %llu", (unsigned long long)F.OpC);
    orcrt_tc_frame_dispose(&F);
  }
  return -1;
}

/* ---- the Setup ----------------------------------------------------------- */

int orcrt_tc_read_setup(orcrt_tc *TC) {
  orcrt_tc_frame F;
  if (orcrt_tc_read_frame(TC, &F) != 0)
    return -1;
  if (F.OpC != ORCRT_TC_OP_SETUP || F.SeqNo != 0 || F.TagAddr != 0) {
    set_error(TC, "expected Setup (0, seq 0, tag 0), got opcode %llu seq %llu tag %#llx",
              (unsigned long long)F.OpC, (unsigned long long)F.SeqNo,
              (unsigned long long)F.TagAddr);
    orcrt_tc_frame_dispose(&F);
    return -1;
  }
  orc_rt_SPSReader R;
  orc_rt_SPSReader_init(&R, F.Payload, F.PayloadSize);
  uint64_t MapCount = 0, SymCount = 0;
  char *Triple = NULL;
  if (!orc_rt_SPSReader_stringDup(&R, &Triple) || !orc_rt_SPSReader_u64(&R, &TC->PageSize))
    goto bad;
  /* LLVM 14-16 read no bootstrap map. */
  if (TC->SetupFields == 4 && !orc_rt_SPSReader_seqCount(&R, 16, &MapCount))
    goto bad;
  for (uint64_t I = 0; I < MapCount; I++) {
    const char *D;
    size_t N;
    if (!orc_rt_SPSReader_bytes(&R, &D, &N))
      goto bad;
    if (I == 0 && !(TC->FirstMapKey = strndup(D, N)))
      goto bad;
    if (!orc_rt_SPSReader_bytes(&R, &D, &N))
      goto bad;
  }
  if (!orc_rt_SPSReader_seqCount(&R, 16, &SymCount))
    goto bad;
  TC->Syms = calloc(SymCount ? SymCount : 1, sizeof(*TC->Syms));
  if (!TC->Syms)
    goto bad;
  for (uint64_t I = 0; I < SymCount; I++) {
    struct tc_symbol *S = &TC->Syms[TC->NumSyms];
    if (!orc_rt_SPSReader_stringDup(&R, &S->Name))
      goto bad;
    TC->NumSyms++;
    if (!orc_rt_SPSReader_addr(&R, &S->Addr))
      goto bad;
    for (size_t J = 0; J + 1 < TC->NumSyms; J++)
      if (strcmp(TC->Syms[J].Name, S->Name) == 0) {
        free(Triple);
        set_error(TC, "duplicate bootstrap symbol \"%s\" in Setup", S->Name);
        orcrt_tc_frame_dispose(&F);
        return -1;
      }
  }
  TC->Triple = Triple;
  TC->MapCount = (size_t)MapCount;
  TC->SetupPayload = F.Payload;
  TC->SetupSize = F.PayloadSize;
  return 0;

bad:
  free(Triple);
  free(TC->FirstMapKey);
  TC->FirstMapKey = NULL;
  set_error(TC, "could not decode the Setup payload (%zu bytes)", F.PayloadSize);
  orcrt_tc_frame_dispose(&F);
  return -1;
}

const char *orcrt_tc_triple(orcrt_tc *TC) {
  return TC->Triple;
}
uint64_t orcrt_tc_page_size(orcrt_tc *TC) {
  return TC->PageSize;
}
size_t orcrt_tc_bootstrap_map_count(orcrt_tc *TC) {
  return TC->MapCount;
}

const char *orcrt_tc_bootstrap_map_first_key(orcrt_tc *TC) {
  return TC->FirstMapKey;
}

void orcrt_tc_set_setup_fields(orcrt_tc *TC, unsigned Fields) {
  TC->SetupFields = Fields;
}
size_t orcrt_tc_symbol_count(orcrt_tc *TC) {
  return TC->NumSyms;
}
const char *orcrt_tc_symbol_name(orcrt_tc *TC, size_t I) {
  return I < TC->NumSyms ? TC->Syms[I].Name : NULL;
}
orc_rt_ExecutorAddr orcrt_tc_symbol_addr(orcrt_tc *TC, size_t I) {
  return I < TC->NumSyms ? TC->Syms[I].Addr : 0;
}

bool orcrt_tc_lookup(orcrt_tc *TC, const char *Name, orc_rt_ExecutorAddr *Addr) {
  for (size_t I = 0; I < TC->NumSyms; I++)
    if (strcmp(TC->Syms[I].Name, Name) == 0) {
      if (Addr)
        *Addr = TC->Syms[I].Addr;
      return true;
    }
  return false;
}

const char *orcrt_tc_setup_payload(orcrt_tc *TC, size_t *Size) {
  *Size = TC->SetupSize;
  return TC->SetupPayload;
}

/* ---- calls --------------------------------------------------------------- */

int orcrt_tc_add_handler(orcrt_tc *TC, orc_rt_ExecutorAddr Tag, orcrt_tc_handler_fn Fn, void *Ctx) {
  pthread_mutex_lock(&TC->Lock);
  struct tc_handler *H = realloc(TC->Handlers, (TC->NumHandlers + 1) * sizeof(*H));
  if (!H) {
    pthread_mutex_unlock(&TC->Lock);
    set_error(TC, "out of memory");
    return -1;
  }
  TC->Handlers = H;
  H[TC->NumHandlers++] = (struct tc_handler){.Tag = Tag, .Fn = Fn, .Ctx = Ctx};
  pthread_mutex_unlock(&TC->Lock);
  return 0;
}

/* The index of pending call SeqNo, or NumCalls. Lock held. */
static size_t find_call(orcrt_tc *TC, uint64_t SeqNo) {
  size_t I = 0;
  while (I < TC->NumCalls && TC->Calls[I].SeqNo != SeqNo)
    I++;
  return I;
}

int orcrt_tc_send_call(orcrt_tc *TC, orc_rt_ExecutorAddr Tag, const void *Args, size_t N,
                       uint64_t *SeqNo) {
  return orcrt_tc_send_call_prefix(TC, Tag, Args, N, N, SeqNo);
}

int orcrt_tc_send_call_prefix(orcrt_tc *TC, orc_rt_ExecutorAddr Tag, const void *Args, size_t N,
                              size_t Prefix, uint64_t *SeqNo) {
  pthread_mutex_lock(&TC->Lock);
  if (TC->NumCalls == TC->CapCalls) {
    size_t Cap = TC->CapCalls ? TC->CapCalls * 2 : 16;
    struct tc_call *C = realloc(TC->Calls, Cap * sizeof(*C));
    if (!C) {
      pthread_mutex_unlock(&TC->Lock);
      set_error(TC, "out of memory");
      return -1;
    }
    TC->Calls = C;
    TC->CapCalls = Cap;
  }
  uint64_t Seq = TC->NextSeqNo++;
  struct tc_call *C = &TC->Calls[TC->NumCalls++];
  C->SeqNo = Seq;
  C->Arrived = false;
  orc_rt_WrapperFunctionBuffer_init(&C->Result);
  pthread_mutex_unlock(&TC->Lock);
  if (SeqNo)
    *SeqNo = Seq;
  return send_raw_frame(TC, ORCRT_TC_HEADER_SIZE + (uint64_t)N, ORCRT_TC_OP_CALL_WRAPPER, Seq, Tag,
                        Args, Prefix < N ? Prefix : N);
}

/* Mark the stream failed (Lock held); waiters see it. */
static void break_stream(orcrt_tc *TC, const char *Msg) {
  if (!TC->Broken) {
    TC->Broken = true;
    snprintf(TC->BrokenMsg, sizeof(TC->BrokenMsg), "%s", Msg);
  }
  pthread_cond_broadcast(&TC->Cond);
}

/* Handle a frame read by the reader (Lock held on entry and exit; F consumed). */
static void handle_frame(orcrt_tc *TC, orcrt_tc_frame *F) {
  char Msg[200];
  if (F->OpC == ORCRT_TC_OP_RESULT) {
    size_t I = find_call(TC, F->SeqNo);
    if (F->TagAddr != 0) {
      snprintf(Msg, sizeof(Msg), "Result for seq %llu with non-zero tag %#llx",
               (unsigned long long)F->SeqNo, (unsigned long long)F->TagAddr);
      break_stream(TC, Msg);
    } else if (I == TC->NumCalls || TC->Calls[I].Arrived) {
      snprintf(Msg, sizeof(Msg), "Result for seq %llu, which is not a pending call",
               (unsigned long long)F->SeqNo);
      break_stream(TC, Msg);
    } else {
      TC->Calls[I].Result = orc_rt_WrapperFunctionBuffer_fromBytes(F->Payload, F->PayloadSize);
      TC->Calls[I].Arrived = true;
      pthread_cond_broadcast(&TC->Cond);
    }
    orcrt_tc_frame_dispose(F);
    return;
  }
  if (F->OpC != ORCRT_TC_OP_CALL_WRAPPER) {
    snprintf(Msg, sizeof(Msg), "unexpected frame with opcode %llu from the executor",
             (unsigned long long)F->OpC);
    break_stream(TC, Msg);
    orcrt_tc_frame_dispose(F);
    return;
  }
  struct tc_handler H = {0};
  for (size_t I = 0; I < TC->NumHandlers; I++)
    if (TC->Handlers[I].Tag == F->TagAddr)
      H = TC->Handlers[I];
  pthread_mutex_unlock(&TC->Lock);
  orc_rt_WrapperFunctionBuffer Res;
  orc_rt_WrapperFunctionBuffer_init(&Res);
  if (H.Fn)
    H.Fn(H.Ctx, TC, F->SeqNo, F->Payload, F->PayloadSize, &Res);
  orcrt_tc_send_result(TC, F->SeqNo, orc_rt_WrapperFunctionBuffer_data(&Res), Res.Size);
  orc_rt_WrapperFunctionBuffer_dispose(&Res);
  orcrt_tc_frame_dispose(F);
  pthread_mutex_lock(&TC->Lock);
}

/* As reader: read one frame and handle it (Lock held on entry and exit). */
static int read_and_handle(orcrt_tc *TC, int64_t Deadline) {
  TC->Reading = true;
  pthread_mutex_unlock(&TC->Lock);
  orcrt_tc_frame F;
  int R = read_next_frame(TC, &F, Deadline);
  pthread_mutex_lock(&TC->Lock);
  TC->Reading = false;
  pthread_cond_broadcast(&TC->Cond);
  if (R == 1) {
    break_stream(TC, "end of file from the executor");
    return -1;
  }
  if (R < 0) {
    /* A partial frame may have been consumed: the stream cannot be trusted. */
    pthread_mutex_lock(&TC->ErrLock);
    break_stream(TC, TC->Err);
    pthread_mutex_unlock(&TC->ErrLock);
    return -1;
  }
  handle_frame(TC, &F);
  return 0;
}

int orcrt_tc_wait_result(orcrt_tc *TC, uint64_t SeqNo, orc_rt_WrapperFunctionBuffer *Result) {
  int64_t Deadline = deadline(TC);
  pthread_mutex_lock(&TC->Lock);
  for (;;) {
    size_t I = find_call(TC, SeqNo);
    if (I == TC->NumCalls) {
      pthread_mutex_unlock(&TC->Lock);
      set_error(TC, "no call with sequence number %llu", (unsigned long long)SeqNo);
      return -1;
    }
    if (TC->Calls[I].Arrived) {
      *Result = TC->Calls[I].Result;
      TC->Calls[I] = TC->Calls[--TC->NumCalls];
      pthread_mutex_unlock(&TC->Lock);
      return 0;
    }
    if (TC->Broken) {
      char Msg[sizeof(TC->BrokenMsg)];
      memcpy(Msg, TC->BrokenMsg, sizeof(Msg));
      pthread_mutex_unlock(&TC->Lock);
      set_error(TC, "%s", Msg);
      return -1;
    }
    if (TC->Reading) {
      if (!cond_wait(TC, Deadline)) {
        pthread_mutex_unlock(&TC->Lock);
        set_error(TC, "timed out after %d ms waiting for the result of call %llu", TC->TimeoutMs,
                  (unsigned long long)SeqNo);
        return -1;
      }
      continue;
    }
    read_and_handle(TC, Deadline);
  }
}

int orcrt_tc_call(orcrt_tc *TC, orc_rt_ExecutorAddr Tag, const void *Args, size_t N,
                  orc_rt_WrapperFunctionBuffer *Result) {
  uint64_t Seq;
  if (orcrt_tc_send_call(TC, Tag, Args, N, &Seq) != 0)
    return -1;
  return orcrt_tc_wait_result(TC, Seq, Result);
}

int orcrt_tc_serve_one(orcrt_tc *TC) {
  int64_t Deadline = deadline(TC);
  pthread_mutex_lock(&TC->Lock);
  while (TC->Reading && !TC->Broken) {
    if (!cond_wait(TC, Deadline)) {
      pthread_mutex_unlock(&TC->Lock);
      set_error(TC, "timed out after %d ms waiting for another reader", TC->TimeoutMs);
      return -1;
    }
  }
  int R = -1;
  if (TC->Broken) {
    char Msg[sizeof(TC->BrokenMsg)];
    memcpy(Msg, TC->BrokenMsg, sizeof(Msg));
    pthread_mutex_unlock(&TC->Lock);
    set_error(TC, "%s", Msg);
    return -1;
  }
  R = read_and_handle(TC, Deadline);
  bool Broken = TC->Broken;
  char Msg[sizeof(TC->BrokenMsg)];
  memcpy(Msg, TC->BrokenMsg, sizeof(Msg));
  pthread_mutex_unlock(&TC->Lock);
  if (Broken) {
    set_error(TC, "%s", Msg);
    return -1;
  }
  return R;
}

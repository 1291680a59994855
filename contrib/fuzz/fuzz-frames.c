/*
 * fuzz-frames.c - the pipe transport's frame reader, fed any byte stream
 *
 * Input: one byte of options, then the stream the controller sends
 * (placeholders resolved, see fuzz-util.h). Options: bit 0 logs at debug
 * level, bit 1 uses the mprotect memory strategy, bit 2 caps frames at 4 KiB,
 * bit 3 pauses input after 256 bytes of pending output.
 *
 * A Session like orcrt-executor's is attached to a pipe pair with the real
 * pipe ControllerAccess; the stream is written to it and then closed, while
 * everything the executor answers is read, until it closes its end. Then:
 *  - the session ended with a protocol error exactly when a reference
 *    parser of the wire format finds one before a Hangup or the end;
 *  - the executor sent a Setup, then only Results (tag 0), never more
 *    Results for a sequence number than complete calls carried it.
 */
#include "config.h"

#include "fuzz-util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <orcrt/pipe-access.h>

#define HEADER 32
#define MAX_CALLS 4096

struct calls {
  uint64_t Seq[MAX_CALLS];
  size_t Count;
  bool Overflow;
};

/*
 * What a reader of LLVM 19's wire format makes of the stream: whether it
 * is malformed (before any Hangup), and the sequence numbers of the
 * complete CallWrapper frames before that point.
 */
static bool reference_parse(const uint8_t *S, size_t N, uint64_t MaxFrame, struct calls *C) {
  size_t Pos = 0;
  C->Count = 0;
  C->Overflow = false;
  for (;;) {
    if (Pos == N)
      return false; /* end of file at a frame boundary */
    if (N - Pos < HEADER)
      return true; /* end of file inside a header */
    uint64_t Size = orcrt_fuzz_get_le64(S + Pos);
    uint64_t OpC = orcrt_fuzz_get_le64(S + Pos + 8);
    uint64_t Seq = orcrt_fuzz_get_le64(S + Pos + 16);
    uint64_t Tag = orcrt_fuzz_get_le64(S + Pos + 24);
    if (Size < HEADER || Size > MaxFrame || OpC == 0 || OpC > 3 || (OpC == 2 && Tag != 0))
      return true;
    if (N - Pos < Size)
      return true; /* end of file inside a payload */
    if (OpC == 2)
      return true; /* a Result, and the executor made no call */
    if (OpC == 1)
      return false; /* Hangup: an orderly end, whatever follows */
    if (C->Count < MAX_CALLS)
      C->Seq[C->Count++] = Seq;
    else
      C->Overflow = true;
    Pos += Size;
  }
}

static size_t count_seq(const struct calls *C, uint64_t Seq) {
  size_t N = 0;
  for (size_t I = 0; I < C->Count; I++)
    N += C->Seq[I] == Seq;
  return N;
}

/* Check what the executor sent: a Setup, then Results for calls it got. */
static void check_output(const uint8_t *Out, size_t N, const struct calls *C) {
  size_t Pos = 0;
  bool First = true;
  struct calls Answered = {.Count = 0};
  while (Pos < N) {
    ORCRT_FUZZ_CHECK(N - Pos >= HEADER, "the executor sent a partial header");
    uint64_t Size = orcrt_fuzz_get_le64(Out + Pos);
    uint64_t OpC = orcrt_fuzz_get_le64(Out + Pos + 8);
    uint64_t Seq = orcrt_fuzz_get_le64(Out + Pos + 16);
    uint64_t Tag = orcrt_fuzz_get_le64(Out + Pos + 24);
    ORCRT_FUZZ_CHECK(Size >= HEADER && Size <= N - Pos, "the executor sent a frame of size %llu",
                     (unsigned long long)Size);
    if (First) {
      ORCRT_FUZZ_CHECK(OpC == 0 && Seq == 0 && Tag == 0, "the first frame is not a Setup");
      First = false;
    } else {
      ORCRT_FUZZ_CHECK(OpC == 2 && Tag == 0, "the executor sent opcode %llu tag %#llx",
                       (unsigned long long)OpC, (unsigned long long)Tag);
      if (!C->Overflow && Answered.Count < MAX_CALLS) {
        Answered.Seq[Answered.Count++] = Seq;
        ORCRT_FUZZ_CHECK(count_seq(&Answered, Seq) <= count_seq(C, Seq),
                         "more Results for seq %llu than calls", (unsigned long long)Seq);
      }
    }
    Pos += Size;
  }
  ORCRT_FUZZ_CHECK(!First, "the executor sent no Setup");
}

/* Append what Fd has to *Out; false at end of file. */
static bool drain(int Fd, uint8_t **Out, size_t *Size, size_t *Cap) {
  for (;;) {
    if (*Cap - *Size < 65536) {
      size_t NewCap = *Cap ? *Cap * 2 : 262144;
      uint8_t *P = realloc(*Out, NewCap);
      if (!P)
        orcrt_fuzz_fail("out of memory");
      *Out = P;
      *Cap = NewCap;
    }
    ssize_t R = read(Fd, *Out + *Size, *Cap - *Size);
    if (R > 0) {
      *Size += (size_t)R;
      continue;
    }
    if (R == 0)
      return false;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN)
      return true;
    orcrt_fuzz_fail("reading the executor's output: %s", strerror(errno));
  }
}

int orcrt_fuzz_frames(const uint8_t *Data, size_t Size) {
  static struct calls Calls;
  if (Size < 1)
    return 0;
  unsigned Opts = Data[0];
  signal(SIGPIPE, SIG_IGN);

  orcrt_fuzz_env E;
  orcrt_fuzz_env_init(&E, 2,
                      Opts & 2 ? orc_rt_MemoryStrategy_MProtect : orc_rt_MemoryStrategy_MemFD,
                      Opts & 1 ? orc_rt_LogLevel_Debug : orc_rt_LogLevel_Error);
  size_t N = Size - 1;
  uint8_t *Stream = orcrt_fuzz_resolved_copy(&E, Data + 1, N);

  orc_rt_PipeOptions O;
  orc_rt_PipeOptions_init(&O);
  if (Opts & 4)
    O.MaxFrameSize = 4096;
  if (Opts & 8)
    O.MaxPendingOutput = 256;
  bool Malformed = reference_parse(Stream, N, O.MaxFrameSize, &Calls);

  int ToExec[2], FromExec[2];
  if (pipe2(ToExec, O_CLOEXEC) != 0 || pipe2(FromExec, O_CLOEXEC) != 0)
    orcrt_fuzz_fail("pipe2: %s", strerror(errno));
  orc_rt_ErrorRef Err = orc_rt_PipeControllerAccess_attach(E.S, ToExec[0], FromExec[1], &O);
  if (Err)
    orcrt_fuzz_fail("attach: %s", orc_rt_Error_getMessage(Err));
  fcntl(ToExec[1], F_SETFL, O_NONBLOCK);
  fcntl(FromExec[0], F_SETFL, O_NONBLOCK);

  /* Feed the stream and read the answers until the executor closes. */
  uint8_t *Out = NULL;
  size_t OutSize = 0, OutCap = 0, Sent = 0;
  int WriteFd = ToExec[1];
  bool Open = true;
  if (N == 0) {
    close(WriteFd);
    WriteFd = -1;
  }
  while (Open) {
    struct pollfd P[2] = {{.fd = FromExec[0], .events = POLLIN},
                          {.fd = WriteFd, .events = POLLOUT}};
    /* The out-fd stays open until the Session is destroyed: once it has
       detached, nothing more comes, so look every few milliseconds. */
    int Ready = poll(P, WriteFd >= 0 ? 2 : 1, 10);
    if (Ready < 0 && errno != EINTR)
      orcrt_fuzz_fail("poll: %s", strerror(errno));
    if (Ready == 0 && orc_rt_Session_isDetached(E.S)) {
      orc_rt_Session_waitForDetach(E.S);
      drain(FromExec[0], &Out, &OutSize, &OutCap);
      break;
    }
    if (P[0].revents)
      Open = drain(FromExec[0], &Out, &OutSize, &OutCap);
    if (WriteFd >= 0 && P[1].revents) {
      ssize_t W = write(WriteFd, Stream + Sent, N - Sent);
      if (W > 0)
        Sent += (size_t)W;
      /* Done, or the executor stopped reading for good (EPIPE). */
      if (Sent == N || (W < 0 && errno != EAGAIN && errno != EINTR)) {
        close(WriteFd);
        WriteFd = -1;
      }
    }
  }
  if (WriteFd >= 0)
    close(WriteFd);
  close(FromExec[0]);
  orc_rt_Session_waitForDetach(E.S);

  const char *Why = orc_rt_Session_getDisconnectError(E.S);
  ORCRT_FUZZ_CHECK(Malformed == (Why != NULL), "the stream is %s, but the session ended %s%s",
                   Malformed ? "malformed" : "well-formed", Why ? "with an error: " : "in order",
                   Why ? Why : "");
  check_output(Out, OutSize, &Calls);

  orcrt_fuzz_env_destroy(&E);
  free(Out);
  free(Stream);
  return 0;
}

ORCRT_FUZZ_TARGET(orcrt_fuzz_frames)

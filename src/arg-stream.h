/*
 * arg-stream.h - a wrapper's arguments taken as they arrive
 *
 * A large call (LLVM's finalize and initialize, whose arguments carry the
 * content of every segment) need not be gathered into one buffer before
 * its wrapper runs. A wrapper may give the Session a stream for its calls
 * (orcrt_session_set_stream()); a transport that reads a call of at least
 * ORCRT_ARG_STREAM_MIN argument bytes asks the Session for one
 * (orcrt_session_stream_call()) and hands it the bytes as they come, in
 * order: the bytes it has read itself (Take), or the descriptor to read
 * the next ones from, where the stream can put them in their place
 * directly (Read). Once all have come, Finish gives the call to hand to
 * the Session in their stead: a wrapper and its (smaller) argument buffer.
 * A stream is used by one thread at a time and ends with Finish or Abort.
 */
#ifndef ORCRT_ARG_STREAM_H
#define ORCRT_ARG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <orcrt/executor-addr.h>
#include <orcrt/session.h>
#include <orcrt/wrapper-function.h>

/* Calls with fewer argument bytes than this are gathered whole. */
#define ORCRT_ARG_STREAM_MIN ((size_t)256 * 1024)

struct orcrt_arg_stream;

struct orcrt_arg_stream_ops {
  /* Take the Len bytes at Src. False if memory ran out. */
  bool (*Take)(struct orcrt_arg_stream *St, const char *Src, size_t Len);
  /*
   * Read up to Max of the next bytes from Fd into their place: what read()
   * returns, or -1 with errno ENOTSUP where the next bytes are not ones it
   * places itself (the transport reads them and calls Take).
   */
  ssize_t (*Read)(struct orcrt_arg_stream *St, int Fd, size_t Max);
  /*
   * All bytes have come: the wrapper to call (*Fn) and its arguments (*Args,
   * the caller's). False if memory ran out. Frees St.
   */
  bool (*Finish)(struct orcrt_arg_stream *St, orc_rt_ExecutorAddr *Fn,
                 orc_rt_WrapperFunctionBuffer *Args);
  /* Drop St (the call never completed). */
  void (*Abort)(struct orcrt_arg_stream *St);
};

struct orcrt_arg_stream {
  const struct orcrt_arg_stream_ops *Ops;
};

/* What a wrapper gives the Session: a stream for a call of Size argument bytes, or NULL. */
typedef struct orcrt_arg_stream *(*orcrt_arg_stream_begin)(orc_rt_SessionRef S, size_t Size);

#endif /* ORCRT_ARG_STREAM_H */

/*
 * orcrt/pipe-access.h - the pipe/eventfd ControllerAccess
 *
 * Connects a Session to a controller over two byte streams (the executor
 * reads calls from InFd and writes to OutFd), speaking the wire protocol of
 * LLVM 19's out-of-process controllers (llvm-jitlink-19 -oop-executor,
 * lli-19 -remote-mcjit): 32-byte frames of four little-endian uint64s
 * (size including the header, opcode, sequence number, tag address)
 * followed by the payload.
 *
 * On attach it sends the Setup frame (the target triple, the page size, an
 * empty bootstrap map and the Session's bootstrap symbols) and starts one
 * I/O thread, which alone reads InFd and writes OutFd. Frames queued from
 * any thread are handed to it through an eventfd. Incoming calls go to
 * orc_rt_Session_handleWrapperCall() with the frame's sequence number as
 * CallId; results of executor -> controller calls go to
 * orc_rt_Session_handleCallResult() with the sequence number as CallId.
 *
 * How the session ends:
 *  - End of file at a frame boundary, a Hangup frame, or the controller
 *    closing its end of OutFd (a write failing with EPIPE, or on a socket a
 *    read or write failing with ECONNRESET): an orderly end,
 *    orc_rt_Session_handleDisconnect(S, NULL). After end of file on InFd
 *    (not one socket for both), the results of calls read and not yet
 *    written still go out first, unless the controller's end of OutFd
 *    closes too or the executor calls the controller (a half-close).
 *  - A malformed stream (a frame smaller than its header or larger than
 *    MaxFrameSize, an unknown opcode, a Setup from the controller, a Result
 *    for no pending call, end of file inside a frame, a read or write
 *    error): orc_rt_Session_handleDisconnect(S, Err), Err saying what was
 *    wrong (see orc_rt_Session_getDisconnectError()).
 * Either way it is reported once, and nothing more is read. When the Session
 * detaches (for that reason or any other) the I/O thread stops, queued
 * output is dropped and InFd is closed. OutFd stays open until the Session
 * is destroyed: LLVM's controllers wait for end of file on it before they
 * exit, so it must come only once the Session has shut down (deallocation
 * actions run) and the JIT'd program's output is flushed. With one socket
 * for both directions, the socket is closed at destroy.
 *
 * While more than MaxPendingOutput bytes wait to be written (or wait, as
 * calls read and not yet answered, to be worked on), no new frame is read,
 * so a controller that sends calls but does not read their results, or
 * sends them faster than the executor works, cannot make the executor's
 * memory grow without bound. The calls do not count only when the executor
 * has as many calls of its own to the controller pending (each of them may
 * be waiting for an answer that must still be read).
 *
 * SIGPIPE: the transport never raises it in the process. Its I/O thread
 * blocks every signal, and the one write made on the attaching thread (the
 * Setup frame) blocks SIGPIPE around itself and takes the signal it raised:
 * a reader that has gone is a failed write, which ends the session. The
 * embedding process keeps whatever disposition it chose, and so does the
 * code it runs (JIT'd code writing to a closed pipe dies of SIGPIPE, as in
 * any process).
 */
#ifndef ORCRT_PIPE_ACCESS_H
#define ORCRT_PIPE_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/session.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Options of the pipe ControllerAccess. Initialise with orc_rt_PipeOptions_init(). */
typedef struct {
  /**
   * The largest frame accepted, header included. A larger announced size
   * ends the session with a protocol error. Default 1 GiB.
   */
  size_t MaxFrameSize;
  /**
   * How many bytes of output may wait to be written before reading of new
   * frames pauses. Calls read but not yet answered count too (their frames
   * and a little more each), except while an executor -> controller call is
   * pending, whose Result must still be read. The bound holds when memory
   * runs out too: a call that cannot be counted (its bookkeeping cannot be
   * allocated) is neither run nor answered, and the session ends as on a
   * protocol error, orc_rt_Session_handleDisconnect(S, Err) with Err saying
   * "out of memory accounting for call N". Default 64 MiB.
   */
  size_t MaxPendingOutput;
  /**
   * The target triple sent in the Setup frame (copied at attach). Default:
   * the host's, e.g. "x86_64-pc-linux-gnu".
   */
  const char *TargetTriple;
  /** The page size sent in the Setup frame. Default: sysconf(_SC_PAGESIZE). */
  uint64_t PageSize;
  /**
   * Idle probing, for a controller connected over a socket. When non-zero:
   * once the controller has made a call and the session has then been idle
   * (no call in flight in either direction, nothing waiting to be written)
   * for IdleProbeMs milliseconds, the transport calls the controller with
   * handler tag 0 and no arguments, and ignores the answer. While the
   * session stays idle it probes again, doubling the delay each time up to
   * 64 times IdleProbeMs; a call from the controller restarts at
   * IdleProbeMs. Default 0: never.
   *
   * Why: at teardown llvm-jitlink-19 -oop-executor-connect only close()s
   * its socket while its reader thread is blocked in read() on it, so the
   * kernel sends no FIN and llvm-jitlink waits for the executor to close
   * first, which the executor cannot see. The probe's frame wakes that
   * read; the reader then sees that it was disconnected and ends, the socket
   * closes, and the executor sees end of file. A controller that is still
   * there answers the probe (llvm-jitlink-19 answers a tag it does not know
   * with an empty Result). Do not use it with lli-19, which crashes on any
   * call from the executor.
   */
  unsigned IdleProbeMs;
} orc_rt_PipeOptions;

/** Fill O with the defaults listed above. Any thread. */
void orc_rt_PipeOptions_init(orc_rt_PipeOptions *O);

/**
 * Attach a pipe ControllerAccess reading calls from InFd and writing to
 * OutFd to S (through orc_rt_Session_attach()), send the Setup frame built
 * from S's bootstrap symbols, and start the I/O thread. InFd may equal OutFd
 * (one socket for both directions). Opts is copied; NULL means the defaults.
 *
 * On success S owns the descriptors: they are made non-blocking and
 * close-on-exec; InFd is closed when S detaches, OutFd when S is destroyed
 * (see above). On failure (S already attached
 * or detached, a descriptor that is not a pipe or socket the loop can watch,
 * out of memory, no thread) the caller keeps them, with their flags as they
 * were. Returns NULL or the error. Any thread.
 *
 * The I/O thread blocks every signal. It delivers incoming calls to
 * orc_rt_Session_handleWrapperCall() on itself, so S's dispatcher should not
 * run tasks inline there if they may block on the controller. (The thread
 * pool runs only the Services' short, non-blocking wrapper functions there,
 * and sends their results with the same write as the others of that read.)
 */
orc_rt_ErrorRef orc_rt_PipeControllerAccess_attach(orc_rt_SessionRef S, int InFd, int OutFd,
                                                   const orc_rt_PipeOptions *Opts);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_PIPE_ACCESS_H */

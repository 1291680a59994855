/*
 * util/sigpipe.h - writing to a descriptor whose reader may be gone,
 * without SIGPIPE and without ignoring it process-wide
 *
 * A write to a pipe or socket with no reader raises SIGPIPE in the writing
 * thread. Ignoring it for the whole process would hand that disposition to
 * JIT'd code and to every program it execs (a JIT'd `yes | head` would
 * never end). Instead the writing thread blocks SIGPIPE around the write,
 * which then fails with EPIPE, and takes the signal it raised off its own
 * pending set before it unblocks: sigtimedwait() with a zero timeout, as
 * the signal is directed at this thread. A SIGPIPE sent to the process by
 * kill() may be taken with it: the cost of the method, and harmless here.
 */
#ifndef ORCRT_UTIL_SIGPIPE_H
#define ORCRT_UTIL_SIGPIPE_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

/* Block SIGPIPE in this thread; *Old is what orcrt_sigpipe_end() restores. */
static inline void orcrt_sigpipe_begin(sigset_t *Old) {
  sigset_t Pipe;
  sigemptyset(&Pipe);
  sigaddset(&Pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &Pipe, Old);
}

/*
 * After the writes: if one failed with EPIPE (Broken) and SIGPIPE was not
 * blocked before, take the signal it left pending; then restore the mask.
 * errno is kept.
 */
static inline void orcrt_sigpipe_end(const sigset_t *Old, bool Broken) {
  int Saved = errno;
  if (Broken && !sigismember(Old, SIGPIPE)) {
    sigset_t Pipe;
    sigemptyset(&Pipe);
    sigaddset(&Pipe, SIGPIPE);
    const struct timespec Zero = {0, 0};
    while (sigtimedwait(&Pipe, NULL, &Zero) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, Old, NULL);
  errno = Saved;
}

#endif /* ORCRT_UTIL_SIGPIPE_H */

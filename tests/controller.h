/*
 * controller.h - a small controller for the test suites
 *
 * Plays the controller side of LLVM 19's out-of-process wire protocol
 * (PROTOCOL-LLVM19.md): 32-byte frames of four little-endian uint64s
 * (MsgSize including the header, opcode, sequence number, tag address)
 * followed by a payload. It can launch an executor program the way
 * llvm-jitlink-19 or lli-19 do, or talk to a pipe ControllerAccess in the
 * same process over descriptors the test created.
 *
 * Besides well-formed calls it sends whatever the test asks for (any header,
 * truncated frames, bytes one at a time), so malformed input can be tested.
 *
 * Errors: functions returning int give 0 on success and -1 on failure, and
 * then orcrt_tc_error() says why. End of file, a malformed frame from the
 * executor, a Result for a call that is not pending and timeouts are
 * failures. Every blocking wait is bounded by the timeout (see
 * orcrt_tc_set_timeout()), so a hang becomes a failure, not a stuck test.
 *
 * Threads: sending, calls and waits may be used from several threads at
 * once; one thread at a time reads the stream and stores what it reads for
 * the others. The raw reading functions (orcrt_tc_read_frame(),
 * orcrt_tc_read_setup(), orcrt_tc_wait_eof()) take whatever frame comes next
 * and should not be mixed with calls in flight on other threads.
 *
 * SIGPIPE: creating a controller sets SIGPIPE to be ignored in the calling
 * process (a write to an executor that went away must fail, not kill the
 * test).
 */
#ifndef ORCRT_TEST_CONTROLLER_H
#define ORCRT_TEST_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <orcrt/executor-addr.h>
#include <orcrt/wrapper-function.h>

/* A test controller. */
typedef struct orcrt_tc orcrt_tc;

/* The opcodes of the wire protocol. */
enum {
  ORCRT_TC_OP_SETUP = 0,
  ORCRT_TC_OP_HANGUP = 1,
  ORCRT_TC_OP_RESULT = 2,
  ORCRT_TC_OP_CALL_WRAPPER = 3,
};

/* The size of a frame header. */
#define ORCRT_TC_HEADER_SIZE 32

/* How an executor is told its descriptors. */
typedef enum {
  /* llvm-jitlink-19: argv = { EXE, "filedescs=R,W", extra... }, PATH searched. */
  orcrt_tc_launch_filedescs,
  /* lli-19: argv = { EXE, "R", "W", extra... }, no PATH search. */
  orcrt_tc_launch_bare_fds,
} orcrt_tc_launch_style;

/* ---- creating and ending ------------------------------------------------ */

/*
 * Fork and exec Exe with two new pipes the llvm-jitlink way
 * ("EXE filedescs=R,W", then the NULL-terminated ExtraArgv, which may be
 * NULL). The child inherits R, W, stdio and whatever else of the caller's is
 * not close-on-exec (the controller's own descriptors are). *Out receives
 * the controller; it owns its pipe ends and the child. If exec fails the
 * child exits 127 and the controller sees end of file.
 */
int orcrt_tc_launch(const char *Exe, char *const ExtraArgv[], orcrt_tc **Out);

/* As orcrt_tc_launch(), choosing the launch convention. */
int orcrt_tc_launch_ex(const char *Exe, orcrt_tc_launch_style Style, char *const ExtraArgv[],
                       orcrt_tc **Out);

/*
 * A controller on descriptors the test created, for an executor in the same
 * process: the controller reads ReadFd (executor -> controller) and writes
 * WriteFd (controller -> executor); they may be the same socket. Takes
 * ownership of both, and makes them non-blocking and close-on-exec.
 */
int orcrt_tc_attach_fds(int ReadFd, int WriteFd, orcrt_tc **Out);

/*
 * Close whatever is still open, kill (SIGKILL) and reap a child that has not
 * been waited for, and free TC. NULL is ignored.
 */
void orcrt_tc_destroy(orcrt_tc *TC);

/* Why the last failing function failed (a message owned by TC). */
const char *orcrt_tc_error(orcrt_tc *TC);

/*
 * Bound every later blocking wait (reads, writes, results, exit) to Ms
 * milliseconds; negative: no bound. Default 20000.
 */
void orcrt_tc_set_timeout(orcrt_tc *TC, int Ms);

/*
 * Split every write into write() calls of at most Max bytes (1: byte by
 * byte), to test reassembly. 0 restores unlimited.
 */
void orcrt_tc_set_write_chunk(orcrt_tc *TC, size_t Max);

/* The controller's ends (-1 once closed) and the child (-1 if none). */
int orcrt_tc_read_fd(orcrt_tc *TC);
int orcrt_tc_write_fd(orcrt_tc *TC);
pid_t orcrt_tc_pid(orcrt_tc *TC);

/* Close the controller's write end: the executor sees end of file. */
void orcrt_tc_close_write(orcrt_tc *TC);
/* Close the controller's read end: the executor's writes fail (EPIPE). */
void orcrt_tc_close_read(orcrt_tc *TC);
/* Both. */
void orcrt_tc_close(orcrt_tc *TC);

/*
 * Wait for the child to exit, at most the timeout. On success *Status (if
 * non-NULL) receives its waitpid() status. On timeout the child is killed
 * and reaped and -1 is returned ("timed out ...").
 */
int orcrt_tc_wait_exit(orcrt_tc *TC, int *Status);

/* ---- the Setup frame ---------------------------------------------------- */

/*
 * Read the first frame, which must be a Setup (opcode 0, seq 0, tag 0), and
 * decode it: triple, page size, bootstrap map, bootstrap symbols (names must
 * be unique). Fails on anything else. Bytes after the symbols are ignored,
 * as LLVM's controllers ignore them.
 */
int orcrt_tc_read_setup(orcrt_tc *TC);

/*
 * Read the Setup as a controller of LLVM 14-16 does (Fields 3: triple, page
 * size, symbols) or of 19 and 22 (4, the default: with a bootstrap map).
 * Before orcrt_tc_read_setup().
 */
void orcrt_tc_set_setup_fields(orcrt_tc *TC, unsigned Fields);

/* After orcrt_tc_read_setup(): what the Setup said (owned by TC). */
const char *orcrt_tc_triple(orcrt_tc *TC);
uint64_t orcrt_tc_page_size(orcrt_tc *TC);
size_t orcrt_tc_bootstrap_map_count(orcrt_tc *TC);
/* The bootstrap map's first key, or NULL if the map is empty. */
const char *orcrt_tc_bootstrap_map_first_key(orcrt_tc *TC);
size_t orcrt_tc_symbol_count(orcrt_tc *TC);
/* The I-th bootstrap symbol, in the order sent. */
const char *orcrt_tc_symbol_name(orcrt_tc *TC, size_t I);
orc_rt_ExecutorAddr orcrt_tc_symbol_addr(orcrt_tc *TC, size_t I);
/* Look a bootstrap symbol up by name: true and *Addr if present. */
bool orcrt_tc_lookup(orcrt_tc *TC, const char *Name, orc_rt_ExecutorAddr *Addr);
/* The whole Setup frame's payload as received (owned by TC), and its size. */
const char *orcrt_tc_setup_payload(orcrt_tc *TC, size_t *Size);

/* ---- raw frames --------------------------------------------------------- */

/* A frame as read. Payload is malloc()ed (NULL when empty). */
typedef struct {
  uint64_t MsgSize, OpC, SeqNo, TagAddr;
  char *Payload;
  size_t PayloadSize;
} orcrt_tc_frame;

/*
 * Read the next frame, whatever it is, into *F (release with
 * orcrt_tc_frame_dispose()). End of file is a failure ("end of file").
 */
int orcrt_tc_read_frame(orcrt_tc *TC, orcrt_tc_frame *F);

/* Free F's payload. */
void orcrt_tc_frame_dispose(orcrt_tc_frame *F);

/*
 * Wait for end of file on the read end (the executor closed its out-fd).
 * Fails if a frame or a partial frame arrives instead, or on timeout.
 */
int orcrt_tc_wait_eof(orcrt_tc *TC);

/* Send a well-formed frame (MsgSize = 32 + N). Payload may be NULL if N is 0. */
int orcrt_tc_send_frame(orcrt_tc *TC, uint64_t OpC, uint64_t SeqNo, uint64_t TagAddr,
                        const void *Payload, size_t N);

/* Send only a header, with any MsgSize (nothing else is sent). */
int orcrt_tc_send_header(orcrt_tc *TC, uint64_t MsgSize, uint64_t OpC, uint64_t SeqNo,
                         uint64_t TagAddr);

/* Send N raw bytes (e.g. a truncated frame). */
int orcrt_tc_write_raw(orcrt_tc *TC, const void *Data, size_t N);

/* ---- calls -------------------------------------------------------------- */

/*
 * Answers an executor -> controller call: Args/N are the argument bytes
 * (borrowed); store the answer in *Result (initially empty; ownership passes
 * to TC, which sends and disposes it; an out-of-band error goes out as an
 * empty payload). Runs on whichever thread is reading; it may make calls
 * itself (nesting).
 */
typedef void (*orcrt_tc_handler_fn)(void *Ctx, orcrt_tc *TC, uint64_t SeqNo, const char *Args,
                                    size_t N, orc_rt_WrapperFunctionBuffer *Result);

/*
 * Answer executor calls to handler tag Tag with Fn(Ctx, ...). Calls to a tag
 * with no handler are answered with an empty payload, as llvm-jitlink does.
 */
int orcrt_tc_add_handler(orcrt_tc *TC, orc_rt_ExecutorAddr Tag, orcrt_tc_handler_fn Fn, void *Ctx);

/*
 * Send a CallWrapper to the wrapper function at Tag with the N bytes at Args,
 * numbered with the controller's next sequence number (from 0), stored in
 * *SeqNo if non-NULL. Does not wait.
 */
int orcrt_tc_send_call(orcrt_tc *TC, orc_rt_ExecutorAddr Tag, const void *Args, size_t N,
                       uint64_t *SeqNo);

/*
 * orcrt_tc_send_call() that writes the header and only the first Prefix of
 * the N argument bytes: the test writes the rest with orcrt_tc_write_raw().
 */
int orcrt_tc_send_call_prefix(orcrt_tc *TC, orc_rt_ExecutorAddr Tag, const void *Args, size_t N,
                              size_t Prefix, uint64_t *SeqNo);

/*
 * Wait for the Result of call SeqNo and store its payload in *Result (owned
 * by the caller; empty for an empty payload). Results of other calls are kept
 * for their waiters; executor calls are answered meanwhile. A Result with a
 * non-zero tag or for no pending call fails the controller.
 */
int orcrt_tc_wait_result(orcrt_tc *TC, uint64_t SeqNo, orc_rt_WrapperFunctionBuffer *Result);

/* orcrt_tc_send_call() then orcrt_tc_wait_result(). */
int orcrt_tc_call(orcrt_tc *TC, orc_rt_ExecutorAddr Tag, const void *Args, size_t N,
                  orc_rt_WrapperFunctionBuffer *Result);

/*
 * Read one frame and handle it as orcrt_tc_wait_result() would (answer an
 * executor call, or keep a Result). For serving executor calls while no call
 * of the controller's is waiting.
 */
int orcrt_tc_serve_one(orcrt_tc *TC);

/* Answer executor call SeqNo with the N bytes at Payload (tag 0). */
int orcrt_tc_send_result(orcrt_tc *TC, uint64_t SeqNo, const void *Payload, size_t N);

#endif /* ORCRT_TEST_CONTROLLER_H */

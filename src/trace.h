/*
 * trace.h - the debug trace of a Session's calls: the text of one line, and
 * how a wrapper's calls are described in it
 *
 * The Session (session-calls.c) times every call and logs one line for it
 * when it has been answered; the wire glue (src/llvm19/) describes each
 * wrapper's arguments and result, since only it can decode them. Nothing
 * here knows a wire: the describers get the bytes and append plain text.
 *
 * Locks: none; a line is built on the stack of the thread that logs it.
 */
#ifndef ORCRT_TRACE_H
#define ORCRT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/session.h>

/* The longest line of the trace; longer ones end in "...". */
enum { ORCRT_TRACE_LINE_MAX = 512 };

/* One line being built. Start with {0}. */
struct orcrt_trace_text {
  char Buf[ORCRT_TRACE_LINE_MAX];
  size_t Len;
};

/* Append printf-style text. */
void orcrt_trace_printf(struct orcrt_trace_text *T, const char *Fmt, ...) ORC_RT_PRINTF(2, 3);

/* Append a byte count: "386 B", "12 KiB", "1.5 MiB". */
void orcrt_trace_size(struct orcrt_trace_text *T, uint64_t Bytes);

/* Append a duration: "800 ns", "41 µs", "1.2 ms", "2.50 s". */
void orcrt_trace_duration(struct orcrt_trace_text *T, uint64_t Ns);

/* Append Size bytes of a name from the wire, shortened if long, NULs shown as "\0". */
void orcrt_trace_name(struct orcrt_trace_text *T, const char *Name, size_t Size);

/*
 * Append Addr by the nearest name known: a bootstrap symbol of S, a symbol
 * of a loaded object ("printf", "printf+0x10"), in JIT memory the symbol a
 * registered debug object names ("main (JIT'd)"), else the address,
 * marked when it lies in JIT memory (trace-names.c). Any thread; never
 * waits for the debugger registrar's lock.
 */
void orcrt_trace_addr(struct orcrt_trace_text *T, orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr);

/* The monotonic clock in nanoseconds (never 0). */
uint64_t orcrt_trace_now(void);

/*
 * How the calls of one wrapper function appear in the trace, supplied by
 * its wire glue (struct orcrt_glue_wrapper). Label is the short name a line
 * starts with ("finalize"). Args, if set, appends a summary of the Size
 * argument bytes at Data ("3 segments 12 KiB"); it runs before the call,
 * only when the trace is on. Result, if set, appends a summary of a result
 * ("ok", "0x7f...", "5 found") or, for a failure, "error: " and its
 * message, and returns whether it was a failure; it runs for every answer
 * when the log is at warning or more, so that failures are logged. Both
 * must accept any bytes (they are the controller's, or a wrapper's).
 * Out-of-band errors never reach Result: the Session reports them itself.
 */
struct orcrt_wrapper_trace {
  const char *Label;
  void (*Args)(orc_rt_SessionRef S, const char *Data, size_t Size, struct orcrt_trace_text *T);
  bool (*Result)(orc_rt_SessionRef S, const char *Data, size_t Size, struct orcrt_trace_text *T);
};

#endif /* ORCRT_TRACE_H */

/*
 * perf-jitdump-internal.h - the perf jitdump writer's operations
 * (perf-jitdump.c), for the wire glue of LLVM's perf entry points
 * (llvm19/perf.c) and the dylib Service's add function (protocol.c)
 *
 * A batch is what one linked graph tells the profiler: the functions it
 * defines, their line tables and its unwind information, as the controller
 * decoded it from the wire. The writer checks every field that it would
 * copy or trust before writing anything, so that a bad batch leaves the
 * dump as it was.
 */
#ifndef ORCRT_PERF_JITDUMP_INTERNAL_H
#define ORCRT_PERF_JITDUMP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/session.h>

/* The jitdump record types (Id on the wire, id in the file). */
enum {
  ORCRT_PERF_CODE_LOAD = 0,
  ORCRT_PERF_CODE_CLOSE = 3,
  ORCRT_PERF_CODE_DEBUG_INFO = 2,
  ORCRT_PERF_CODE_UNWINDING_INFO = 4,
};

/*
 * What the controller adds to every line-table address, and the writer
 * takes off again: it compensated a perf bug fixed in Linux 5.8 and puts
 * the lines 64 bytes after the code for any newer perf.
 */
#define ORCRT_PERF_LINE_ADDR_BIAS 0x40

/* A function: CodeSize bytes of code at CodeAddr, named Name (NameSize bytes, no NUL). */
struct orcrt_perf_code_load {
  orc_rt_ExecutorAddr Vma, CodeAddr;
  uint64_t CodeSize, CodeIndex;
  const char *Name;
  size_t NameSize;
};

/* One row of a line table; Addr as the controller sent it (biased). */
struct orcrt_perf_line {
  orc_rt_ExecutorAddr Addr;
  uint32_t Line, Discrim;
  const char *File;
  size_t FileSize;
};

/* The line table of the function at CodeAddr. */
struct orcrt_perf_debug_info {
  orc_rt_ExecutorAddr CodeAddr;
  struct orcrt_perf_line *Lines;
  size_t NumLines;
};

/*
 * The graph's .eh_frame: an .eh_frame_hdr of HdrSize bytes (at HdrAddr,
 * or inline in Hdr when HdrAddr is 0), then UnwindDataSize - HdrSize bytes
 * of .eh_frame at EHFrameAddr.
 */
struct orcrt_perf_unwinding {
  uint64_t UnwindDataSize, HdrSize, MappedSize;
  orc_rt_ExecutorAddr HdrAddr, EHFrameAddr;
  const char *Hdr;
  size_t InlineHdrSize;
};

/* One graph's records. The strings point into the wire bytes. */
struct orcrt_perf_batch {
  struct orcrt_perf_code_load *Loads;
  size_t NumLoads;
  struct orcrt_perf_debug_info *Debug;
  size_t NumDebug;
  bool HasUnwinding; /* the controller's TotalSize was not 0 */
  struct orcrt_perf_unwinding Unwinding;
};

/*
 * Start the process's dump: create $JITDUMPDIR (else $HOME, else .)
 * /.debug/jit/orcrt-<date>-XXXXXX/jit-<pid>.dump, write its header and map
 * its first page executable as the marker perf record sees. A dump already
 * open is kept (NULL). If it cannot be made, the error says why, it is
 * logged to the Sessions that serve perf, and later batches are checked
 * but dropped. Any thread.
 */
orc_rt_ErrorRef orcrt_perf_start(void);

/* Write the close record, unmap the marker, close the dump; an error if none was started. */
orc_rt_ErrorRef orcrt_perf_end(void);

/*
 * Check B and append its records: for each code load its unwinding record
 * (if the graph has one), its debug record (the one whose CodeAddr is
 * its) and the code load itself, the code and unwind bytes copied from
 * readable JIT memory. An error (nothing written) for a batch that does
 * not check or arrives before any Start.
 */
orc_rt_ErrorRef orcrt_perf_write_batch(const struct orcrt_perf_batch *B);

/*
 * Add to S the Service that finishes the dump at shutdown, as End would,
 * when S is the last Session of the process serving perf (LLVM's
 * controllers never send End out of process). At most once per Session.
 */
orc_rt_ErrorRef orcrt_perf_add(orc_rt_SessionRef S);

#endif /* ORCRT_PERF_JITDUMP_INTERNAL_H */

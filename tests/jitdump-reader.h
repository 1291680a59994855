/*
 * jitdump-reader.h - a perf jitdump decoder for the perf suites
 *
 * Reads a whole jit-<pid>.dump and checks, field by field, what perf
 * inject relies on: the 40-byte header (magic, version 1, its own size,
 * the machine, pad1 and flags 0), records that tile the file exactly, each
 * record's total_size equal to the size its contents take, NUL-terminated
 * names inside their record, and timestamps that never go back. A dump
 * that breaks any of it fails the test.
 */
#ifndef ORCRT_TESTS_JITDUMP_READER_H
#define ORCRT_TESTS_JITDUMP_READER_H

#include <stddef.h>
#include <stdint.h>

/* Record ids of the format. */
enum {
  ORCRT_JD_CODE_LOAD = 0,
  ORCRT_JD_DEBUG_INFO = 2,
  ORCRT_JD_CODE_CLOSE = 3,
  ORCRT_JD_UNWINDING_INFO = 4,
};

/* A line-table row of a debug record. */
typedef struct {
  uint64_t Addr;
  uint32_t Line, Discrim;
  const char *File;
} orcrt_jd_line;

/* One record; the fields of its kind are set, pointers into the file's bytes. */
typedef struct {
  uint32_t Id, TotalSize;
  uint64_t Timestamp;
  size_t Offset;
  /* CODE_LOAD (CodeAddr also DEBUG_INFO's) */
  uint32_t Pid, Tid;
  uint64_t Vma, CodeAddr, CodeSize, CodeIndex;
  const char *Name;
  const unsigned char *Code;
  /* DEBUG_INFO */
  orcrt_jd_line *Lines;
  size_t NumLines;
  /* UNWINDING_INFO: the .eh_frame_hdr and then the .eh_frame */
  uint64_t UnwindDataSize, EHFrameHdrSize, MappedSize;
  const unsigned char *UnwindData;
} orcrt_jd_record;

/* A decoded dump (everything kept as with orcrt_test_keep()). */
typedef struct {
  size_t Size;
  uint32_t ElfMach, Pid;
  uint64_t Timestamp;
  orcrt_jd_record *Records;
  size_t NumRecords;
} orcrt_jd;

/* Read and check the dump at Path into *Out. */
void orcrt_jd_read(const char *Path, orcrt_jd *Out);

/*
 * The one dump under Dir/.debug/jit/ (a directory of its own holding
 * jit-<pid>.dump, the test fails unless there is exactly one), its pid in
 * *Pid. NULL if Dir/.debug does not exist.
 */
const char *orcrt_jd_find(const char *Dir, long *Pid);

/* The index of the first record with Id from From on, or NumRecords. */
size_t orcrt_jd_next(const orcrt_jd *D, size_t From, uint32_t Id);

/* The CODE_LOAD record of the function Name (the test fails if there is none). */
const orcrt_jd_record *orcrt_jd_code_load(const orcrt_jd *D, const char *Name);

#endif /* ORCRT_TESTS_JITDUMP_READER_H */

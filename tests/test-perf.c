/*
 * test-perf.c - the perf jitdump of orcrt-executor, driven by the C test
 * controller: what llvm-jitlink -perf-support does, built by hand
 *
 * Each test launches the real executor with JITDUMPDIR in its scratch
 * directory, finds the three perf entry points by a lookup in the process
 * handle, and sends Start, finalizes with an Impl action carrying a batch
 * it built itself, and End (or not), then decodes the dump
 * (jitdump-reader.h). No LLVM and no perf are needed.
 */
#include "config.h"

#include "controller.h"
#include "jitdump-reader.h"
#include "run-util.h"
#include "test-util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <orcrt/sps.h>

#define CASE_TIMEOUT 30.0
#define EXIT_TIMEOUT_MS 10000

/* The controller's offset on line-table addresses, which the dump must not show. */
#define LINE_BIAS 0x40

static uint64_t now_ns(void) {
  struct timespec Ts;
  clock_gettime(CLOCK_MONOTONIC, &Ts);
  return (uint64_t)Ts.tv_sec * 1000000000u + (uint64_t)Ts.tv_nsec;
}

/* ---- the executor and its perf entry points ---------------------------------- */

typedef struct {
  orcrt_tc *TC;
  int ErrFd;       /* the executor's stderr */
  const char *Dir; /* its JITDUMPDIR */
  orc_rt_ExecutorAddr Start, End, Impl;
} perf_exec;

static orc_rt_ExecutorAddr sym(perf_exec *E, const char *Name) {
  orc_rt_ExecutorAddr A = 0;
  ck_assert_msg(orcrt_tc_lookup(E->TC, Name, &A), "no bootstrap symbol %s", Name);
  return A;
}

/* Call Fn with the bytes of W (disposed; NULL for none). */
static orc_rt_WrapperFunctionBuffer call(perf_exec *E, orc_rt_ExecutorAddr Fn,
                                         orc_rt_SPSWriter *W) {
  orc_rt_WrapperFunctionBuffer R;
  ck_assert(!W || !orc_rt_SPSWriter_failed(W));
  int Rc = orcrt_tc_call(E->TC, Fn, W ? orc_rt_SPSWriter_data(W) : NULL,
                         W ? orc_rt_SPSWriter_size(W) : 0, &R);
  if (W)
    orc_rt_SPSWriter_dispose(W);
  ck_assert_msg(Rc == 0, "call to 0x%llx failed: %s", (unsigned long long)Fn,
                orcrt_tc_error(E->TC));
  return R;
}

/* An SPSExpected result that must hold a value; R at the value. */
static void expect_value(orc_rt_WrapperFunctionBuffer *R, orc_rt_SPSReader *Rd) {
  bool HasValue = false;
  const char *Msg = NULL;
  size_t MsgSize = 0;
  orc_rt_SPSReader_init(Rd, orc_rt_WrapperFunctionBuffer_data(R), R->Size);
  ck_assert_msg(orc_rt_SPSReader_expected(Rd, &HasValue, &Msg, &MsgSize), "undecodable result");
  ck_assert_msg(HasValue, "unexpected error: %.*s", (int)MsgSize, Msg);
}

/* An SPSExpected<ExecutorAddr> result that must hold a value (disposed). */
static orc_rt_ExecutorAddr expect_addr(orc_rt_WrapperFunctionBuffer R) {
  orc_rt_SPSReader Rd;
  orc_rt_ExecutorAddr A = 0;
  expect_value(&R, &Rd);
  ck_assert(orc_rt_SPSReader_addr(&Rd, &A));
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return A;
}

/*
 * open("") and one lookup of the three names, not required, as
 * PerfSupportPlugin does: each must be found, exported.
 */
static void find_perf(perf_exec *E) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_string(&W, "");
  orc_rt_SPSWriter_u64(&W, 0);
  orc_rt_ExecutorAddr Handle =
      expect_addr(call(E, sym(E, "__llvm_orc_SimpleExecutorDylibManager_open_wrapper"), &W));

  static const char *const Names[] = {"llvm_orc_registerJITLoaderPerfStart",
                                      "llvm_orc_registerJITLoaderPerfEnd",
                                      "llvm_orc_registerJITLoaderPerfImpl"};
  orc_rt_ExecutorAddr *Out[] = {&E->Start, &E->End, &E->Impl};
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorDylibManager_Instance"));
  orc_rt_SPSWriter_addr(&W, Handle);
  orc_rt_SPSWriter_seqCount(&W, 3);
  for (size_t I = 0; I < 3; I++) {
    orc_rt_SPSWriter_string(&W, Names[I]);
    orc_rt_SPSWriter_bool(&W, false);
  }
  orc_rt_WrapperFunctionBuffer R =
      call(E, sym(E, "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper"), &W);
  orc_rt_SPSReader Rd;
  uint64_t Count = 0;
  expect_value(&R, &Rd);
  ck_assert(orc_rt_SPSReader_seqCount(&Rd, 10, &Count) && Count == 3);
  for (size_t I = 0; I < 3; I++) {
    uint8_t Flags = 0, TargetFlags = 0;
    ck_assert(orc_rt_SPSReader_addr(&Rd, Out[I]) && orc_rt_SPSReader_u8(&Rd, &Flags) &&
              orc_rt_SPSReader_u8(&Rd, &TargetFlags));
    ck_assert_msg(*Out[I] != 0, "%s not found", Names[I]);
    ck_assert_uint_eq(Flags, 0x10); /* Exported, or LLVM counts it missing */
  }
  orc_rt_WrapperFunctionBuffer_dispose(&R);
}

/* Launch orcrt-executor with JITDUMPDIR=Dir, its stderr to a memfd, and find perf. */
static void launch(perf_exec *E, const char *Dir) {
  E->Dir = Dir;
  ck_assert_int_eq(setenv("JITDUMPDIR", Dir, 1), 0);
  E->ErrFd = memfd_create("executor-stderr", MFD_CLOEXEC);
  ck_assert_int_ge(E->ErrFd, 0);
  int Saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
  ck_assert_int_ge(Saved, 0);
  ck_assert_int_eq(dup2(E->ErrFd, 2), 2);
  int Rc = orcrt_tc_launch(orcrt_test_executor_path(), NULL, &E->TC);
  dup2(Saved, 2);
  close(Saved);
  ck_assert_msg(Rc == 0, "cannot launch %s", orcrt_test_executor_path());
  orcrt_tc_set_timeout(E->TC, EXIT_TIMEOUT_MS);
  ck_assert_msg(orcrt_tc_read_setup(E->TC) == 0, "no Setup: %s", orcrt_tc_error(E->TC));
  find_perf(E);
}

/* A fresh JITDUMPDIR in the scratch directory, and the executor launched with it. */
static void launch_fresh(perf_exec *E) {
  const char *Dir = orcrt_test_scratch_file("dumps");
  ck_assert_int_eq(mkdir(Dir, 0755), 0);
  launch(E, Dir);
}

/* Everything the executor wrote on stderr so far. */
static const char *stderr_text(perf_exec *E) {
  struct stat St;
  ck_assert_int_eq(fstat(E->ErrFd, &St), 0);
  char *Text = orcrt_test_keep(calloc(1, (size_t)St.st_size + 1));
  ck_assert_ptr_nonnull(Text);
  ck_assert_int_eq(pread(E->ErrFd, Text, (size_t)St.st_size, 0), St.st_size);
  return Text;
}

/*
 * Close the channel; the executor must end in order, having written Stderr
 * (NULL: nothing). Returns all it wrote on stderr.
 */
static const char *finish(perf_exec *E, const char *Stderr) {
  int Status = 0;
  orcrt_tc_close(E->TC);
  ck_assert_msg(orcrt_tc_wait_exit(E->TC, &Status) == 0, "no exit: %s", orcrt_tc_error(E->TC));
  orcrt_tc_destroy(E->TC);
  E->TC = NULL;
  ck_assert_msg(WIFEXITED(Status) && WEXITSTATUS(Status) == 0, "executor status %d", Status);
  const char *Err = stderr_text(E);
  if (Stderr)
    ck_assert_msg(strstr(Err, Stderr), "stderr lacks \"%s\": %s", Stderr, Err);
  else
    ck_assert_msg(Err[0] == '\0', "unexpected stderr: %s", Err);
  close(E->ErrFd);
  return Err;
}

static orc_rt_ExecutorAddr reserve(perf_exec *E, uint64_t Size) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorMemoryManager_Instance"));
  orc_rt_SPSWriter_u64(&W, Size);
  return expect_addr(call(E, sym(E, "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper"), &W));
}

/* ---- a graph: a page of "code" and the batch describing it ----------------------- */

/* The page's contents: recognisable bytes at every offset. */
static void page_bytes(unsigned char *Page, size_t Size) {
  for (size_t I = 0; I < Size; I++)
    Page[I] = (unsigned char)(I * 7 + 3);
}

/* Offsets in the page of two functions, an .eh_frame and its length. */
enum { FN_A = 0x40, FN_A_SIZE = 0x30, FN_B = 0x100, FN_B_SIZE = 0x21, EH = 0x800, EH_SIZE = 0x58 };

typedef struct {
  uint64_t CodeAddr, CodeSize, Index;
  const char *Name;
  size_t NameSize; /* 0: strlen(Name) */
} load_spec;

typedef struct {
  uint64_t CodeAddr;
  size_t NumLines;
  uint64_t Addrs[3];
  uint32_t Lines[3];
  const char *File;
  size_t FileSize; /* 0: strlen(File) */
} debug_spec;

typedef struct {
  load_spec Loads[3];
  size_t NumLoads;
  debug_spec Debug[3];
  size_t NumDebug;
  uint32_t UnwindTotal; /* 0: no .eh_frame, the other fields garbage */
  uint64_t UnwindDataSize, HdrSize, MappedSize, HdrAddr, EHFrameAddr;
  const char *Hdr;
  size_t InlineHdrSize;
} batch_spec;

/* The SPS PerfJITRecordBatch of B, as LLVM 19's PerfSupportPlugin encodes it. */
static void write_batch(orc_rt_SPSWriter *W, const batch_spec *B) {
  orc_rt_SPSWriter_seqCount(W, B->NumLoads);
  for (size_t I = 0; I < B->NumLoads; I++) {
    const load_spec *L = &B->Loads[I];
    size_t N = L->NameSize ? L->NameSize : strlen(L->Name);
    orc_rt_SPSWriter_u32(W, 0);
    orc_rt_SPSWriter_u32(W, (uint32_t)(56 + N + 1 + L->CodeSize));
    orc_rt_SPSWriter_u32(W, 0); /* pid and tid: the executor's to fill in */
    orc_rt_SPSWriter_u32(W, 0);
    orc_rt_SPSWriter_u64(W, L->CodeAddr); /* Vma */
    orc_rt_SPSWriter_u64(W, L->CodeAddr);
    orc_rt_SPSWriter_u64(W, L->CodeSize);
    orc_rt_SPSWriter_u64(W, L->Index);
    orc_rt_SPSWriter_bytes(W, L->Name, N);
  }
  orc_rt_SPSWriter_seqCount(W, B->NumDebug);
  for (size_t I = 0; I < B->NumDebug; I++) {
    const debug_spec *D = &B->Debug[I];
    size_t N = D->FileSize ? D->FileSize : strlen(D->File);
    orc_rt_SPSWriter_u32(W, 2);
    orc_rt_SPSWriter_u32(W, (uint32_t)(32 + D->NumLines * (16 + N + 1)));
    orc_rt_SPSWriter_u64(W, D->CodeAddr);
    orc_rt_SPSWriter_seqCount(W, D->NumLines);
    for (size_t J = 0; J < D->NumLines; J++) {
      orc_rt_SPSWriter_u64(W, D->Addrs[J]);
      orc_rt_SPSWriter_u32(W, D->Lines[J]);
      orc_rt_SPSWriter_u32(W, 0);
      orc_rt_SPSWriter_bytes(W, D->File, N);
    }
  }
  orc_rt_SPSWriter_u32(W, 4);
  orc_rt_SPSWriter_u32(W, B->UnwindTotal);
  orc_rt_SPSWriter_u64(W, B->UnwindDataSize);
  orc_rt_SPSWriter_u64(W, B->HdrSize);
  orc_rt_SPSWriter_u64(W, B->MappedSize);
  orc_rt_SPSWriter_u64(W, B->HdrAddr);
  orc_rt_SPSWriter_bytes(W, B->Hdr ? B->Hdr : "", B->InlineHdrSize);
  orc_rt_SPSWriter_u64(W, B->EHFrameAddr);
}

/*
 * Finalize the page at Base (R-X, page_bytes()) with one action pair:
 * Impl with the N bytes at Batch, and no deallocation action.
 */
static orc_rt_WrapperFunctionBuffer finalize_raw(perf_exec *E, orc_rt_ExecutorAddr Base,
                                                 const char *Batch, size_t N) {
  unsigned char Page[4096];
  page_bytes(Page, sizeof(Page));
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorMemoryManager_Instance"));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_u8(&W, 0x05); /* R-X */
  orc_rt_SPSWriter_addr(&W, Base);
  orc_rt_SPSWriter_u64(&W, sizeof(Page));
  orc_rt_SPSWriter_bytes(&W, Page, sizeof(Page));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, E->Impl);
  orc_rt_SPSWriter_bytes(&W, Batch, N);
  orc_rt_SPSWriter_addr(&W, 0);
  orc_rt_SPSWriter_bytes(&W, "", 0);
  return call(E, sym(E, "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper"), &W);
}

static orc_rt_WrapperFunctionBuffer finalize(perf_exec *E, orc_rt_ExecutorAddr Base,
                                             const batch_spec *B) {
  orc_rt_SPSWriter Batch;
  orc_rt_SPSWriter_init(&Batch);
  write_batch(&Batch, B);
  ck_assert(!orc_rt_SPSWriter_failed(&Batch));
  orc_rt_WrapperFunctionBuffer R =
      finalize_raw(E, Base, orc_rt_SPSWriter_data(&Batch), orc_rt_SPSWriter_size(&Batch));
  orc_rt_SPSWriter_dispose(&Batch);
  return R;
}

/*
 * A graph of two functions at Base: A with a line table of two rows (the
 * controller's addresses, biased), B without one, and a line table of
 * code that has no code load (which perf would give to the wrong
 * function). No .eh_frame: the unwinding record's TotalSize is 0 and the
 * rest is what LLVM leaves there, garbage.
 */
static batch_spec two_functions(orc_rt_ExecutorAddr Base) {
  batch_spec B = {
      .Loads = {{Base + FN_A, FN_A_SIZE, 7, "fn_a", 0}, {Base + FN_B, FN_B_SIZE, 8, "fn_b", 0}},
      .NumLoads = 2,
      .Debug = {{Base + 0x300, 1, {Base + 0x300 + LINE_BIAS}, {99}, "/src/other.c", 0},
                {Base + FN_A,
                 2,
                 {Base + FN_A + LINE_BIAS, Base + FN_A + 0x10 + LINE_BIAS},
                 {10, 11},
                 "/src/a.c",
                 0}},
      .NumDebug = 2,
      .UnwindTotal = 0,
      .UnwindDataSize = 0x6568637461702f2eull, /* as seen: bytes of a path */
      .HdrSize = 0x74696a2f67750103ull,
      .MappedSize = 0xdeadbeef,
      .HdrAddr = 0x1234,
      .EHFrameAddr = 64,
  };
  return B;
}

/* The graph above, with an .eh_frame at Base + EH and LLVM's inline 12-byte header. */
static batch_spec two_functions_unwound(orc_rt_ExecutorAddr Base, char Hdr[12]) {
  batch_spec B = two_functions(Base);
  uint64_t EHFrame = Base + EH;
  Hdr[0] = 1;
  Hdr[1] = 0x0c;
  Hdr[2] = Hdr[3] = (char)0xff;
  memcpy(Hdr + 4, &EHFrame, 8);
  B.UnwindTotal = 40 + 12 + EH_SIZE;
  B.UnwindDataSize = 12 + EH_SIZE;
  B.HdrSize = 12;
  B.MappedSize = 0;
  B.HdrAddr = 0;
  B.Hdr = Hdr;
  B.InlineHdrSize = 12;
  B.EHFrameAddr = EHFrame;
  return B;
}

/* Reserve a page and finalize it with the batch of two_functions(); its base. */
static orc_rt_ExecutorAddr load_two_functions(perf_exec *E) {
  orc_rt_ExecutorAddr Base = reserve(E, 4096);
  batch_spec B = two_functions(Base);
  orcrt_test_assert_sps_error(finalize(E, Base, &B), NULL);
  return Base;
}

static void start(perf_exec *E) {
  orcrt_test_assert_sps_error(call(E, E->Start, NULL), NULL);
}

/* The dump of E's executor, decoded, with the pid checks every dump must pass. */
static void read_dump(perf_exec *E, orcrt_jd *D) {
  long FilePid = 0;
  const char *Path = orcrt_jd_find(E->Dir, &FilePid);
  ck_assert_msg(Path != NULL, "no dump was made under %s", E->Dir);
  orcrt_jd_read(Path, D);
  ck_assert_int_eq(D->Pid, FilePid);
  ck_assert_int_ne(D->Pid, getpid());
}

/* Check the code load R: of the executor Pid, Name, Size bytes at Base + Off of the page. */
static void assert_code_load(const orcrt_jd_record *R, uint32_t Pid, const char *Name,
                             orc_rt_ExecutorAddr Base, size_t Off, size_t Size, uint64_t Index) {
  unsigned char Page[4096];
  page_bytes(Page, sizeof(Page));
  ck_assert_uint_eq(R->Id, ORCRT_JD_CODE_LOAD);
  ck_assert_str_eq(R->Name, Name);
  ck_assert_uint_eq(R->Pid, Pid);
  ck_assert_uint_ne(R->Tid, 0);
  ck_assert_uint_eq(R->Vma, Base + Off);
  ck_assert_uint_eq(R->CodeAddr, Base + Off);
  ck_assert_uint_eq(R->CodeSize, Size);
  ck_assert_uint_eq(R->CodeIndex, Index);
  ck_assert_uint_eq(R->TotalSize, 56 + strlen(Name) + 1 + Size);
  ck_assert_mem_eq(R->Code, Page + Off, Size);
}

/* ---- the dump ----------------------------------------------------------------------- */

START_TEST(perf_start_impl_end_write_a_dump_that_checks_field_by_field) {
  perf_exec E;
  uint64_t Before = now_ns();
  launch_fresh(&E);
  start(&E);
  orc_rt_ExecutorAddr Base = load_two_functions(&E);
  orcrt_test_assert_sps_error(call(&E, E.End, NULL), NULL);
  uint64_t After = now_ns();

  orcrt_jd D;
  read_dump(&E, &D);
  ck_assert_int_eq(D.Pid, orcrt_tc_pid(E.TC));
  ck_assert(D.Timestamp >= Before && D.Timestamp <= After);
  /* fn_a's line table right before it, with the true addresses; fn_b without one; the
     table of code nobody loaded left out; no unwinding record for a TotalSize of 0. */
  ck_assert_uint_eq(D.NumRecords, 4);
  const orcrt_jd_record *Dbg = &D.Records[0];
  ck_assert_uint_eq(Dbg->Id, ORCRT_JD_DEBUG_INFO);
  ck_assert_uint_eq(Dbg->CodeAddr, Base + FN_A);
  ck_assert_uint_eq(Dbg->NumLines, 2);
  ck_assert_uint_eq(Dbg->Lines[0].Addr, Base + FN_A);
  ck_assert_uint_eq(Dbg->Lines[0].Line, 10);
  ck_assert_uint_eq(Dbg->Lines[1].Addr, Base + FN_A + 0x10);
  ck_assert_uint_eq(Dbg->Lines[1].Line, 11);
  ck_assert_str_eq(Dbg->Lines[1].File, "/src/a.c");
  ck_assert_uint_eq(Dbg->TotalSize, 32 + 2 * (16 + sizeof("/src/a.c")));
  assert_code_load(&D.Records[1], D.Pid, "fn_a", Base, FN_A, FN_A_SIZE, 7);
  assert_code_load(&D.Records[2], D.Pid, "fn_b", Base, FN_B, FN_B_SIZE, 8);
  ck_assert_uint_eq(D.Records[1].Tid, D.Records[2].Tid);
  ck_assert_uint_eq(D.Records[3].Id, ORCRT_JD_CODE_CLOSE);
  ck_assert_uint_eq(D.Records[3].TotalSize, 16);
  ck_assert(D.Records[3].Timestamp <= After);
  finish(&E, NULL);
}
END_TEST

START_TEST(perf_unwinding_record_precedes_every_code_load) {
  perf_exec E;
  char Hdr[12];
  launch_fresh(&E);
  start(&E);
  orc_rt_ExecutorAddr Base = reserve(&E, 4096);
  batch_spec B = two_functions_unwound(Base, Hdr);
  orcrt_test_assert_sps_error(finalize(&E, Base, &B), NULL);
  finish(&E, NULL);

  unsigned char Page[4096];
  page_bytes(Page, sizeof(Page));
  orcrt_jd D;
  read_dump(&E, &D);
  /* unwinding, debug, fn_a; unwinding, fn_b; close */
  static const uint32_t Ids[] = {ORCRT_JD_UNWINDING_INFO, ORCRT_JD_DEBUG_INFO, ORCRT_JD_CODE_LOAD,
                                 ORCRT_JD_UNWINDING_INFO, ORCRT_JD_CODE_LOAD,  ORCRT_JD_CODE_CLOSE};
  ck_assert_uint_eq(D.NumRecords, sizeof(Ids) / sizeof(Ids[0]));
  for (size_t I = 0; I < D.NumRecords; I++)
    ck_assert_uint_eq(D.Records[I].Id, Ids[I]);
  for (size_t I = 0; I < D.NumRecords; I += 3) {
    const orcrt_jd_record *U = &D.Records[I];
    ck_assert_uint_eq(U->TotalSize, 40 + 12 + EH_SIZE);
    ck_assert_uint_eq(U->UnwindDataSize, 12 + EH_SIZE);
    ck_assert_uint_eq(U->EHFrameHdrSize, 12);
    ck_assert_uint_eq(U->MappedSize, 0);
    ck_assert_mem_eq(U->UnwindData, Hdr, 12);
    ck_assert_mem_eq(U->UnwindData + 12, Page + EH, EH_SIZE);
  }
  assert_code_load(&D.Records[2], D.Pid, "fn_a", Base, FN_A, FN_A_SIZE, 7);
  assert_code_load(&D.Records[4], D.Pid, "fn_b", Base, FN_B, FN_B_SIZE, 8);
}
END_TEST

/* End never reaches the executor out of process: shutting down finishes the dump. */
START_TEST(perf_dump_is_closed_at_shutdown_without_end) {
  perf_exec E;
  launch_fresh(&E);
  start(&E);
  orc_rt_ExecutorAddr Base = load_two_functions(&E);
  finish(&E, NULL);
  orcrt_jd D;
  read_dump(&E, &D);
  ck_assert_uint_eq(D.NumRecords, 4);
  assert_code_load(&D.Records[2], D.Pid, "fn_b", Base, FN_B, FN_B_SIZE, 8);
  ck_assert_uint_eq(D.Records[3].Id, ORCRT_JD_CODE_CLOSE);
}
END_TEST

/* The marker perf record logs: the dump's first page, mapped r-xp, while the session runs. */
START_TEST(perf_marker_maps_the_dump_executable) {
  perf_exec E;
  launch_fresh(&E);
  const char *Maps = orcrt_test_format("/proc/%d/maps", (int)orcrt_tc_pid(E.TC));
  const char *Name = orcrt_test_format("/jit-%d.dump", (int)orcrt_tc_pid(E.TC));
  start(&E);
  FILE *F = fopen(Maps, "re");
  ck_assert_ptr_nonnull(F);
  char Line[4096];
  int Found = 0;
  while (fgets(Line, sizeof(Line), F))
    if (strstr(Line, Name)) {
      Found++;
      ck_assert_msg(strstr(Line, " r-xp 00000000 "), "marker mapping: %s", Line);
    }
  fclose(F);
  ck_assert_int_eq(Found, 1);
  orcrt_test_assert_sps_error(call(&E, E.End, NULL), NULL);
  /* End unmaps it. */
  F = fopen(Maps, "re");
  ck_assert_ptr_nonnull(F);
  while (fgets(Line, sizeof(Line), F))
    ck_assert_msg(!strstr(Line, Name), "still mapped after End: %s", Line);
  fclose(F);
  finish(&E, NULL);
}
END_TEST

/* ---- policies ------------------------------------------------------------------------- */

/* A second Start (another controller of the process) joins the dump: one file, one header. */
START_TEST(perf_start_twice_keeps_the_one_dump) {
  perf_exec E;
  launch_fresh(&E);
  start(&E);
  start(&E);
  orc_rt_ExecutorAddr Base = load_two_functions(&E);
  orcrt_test_assert_sps_error(call(&E, E.End, NULL), NULL);
  finish(&E, NULL);
  orcrt_jd D;
  read_dump(&E, &D); /* fails on a second file */
  ck_assert_uint_eq(D.NumRecords, 4);
  assert_code_load(&D.Records[1], D.Pid, "fn_a", Base, FN_A, FN_A_SIZE, 7);
}
END_TEST

/* End without Start is an error (the controller ignores it) and makes nothing. */
START_TEST(perf_end_without_start_is_an_error) {
  perf_exec E;
  launch_fresh(&E);
  orcrt_test_assert_sps_error(call(&E, E.End, NULL), "End without Start");
  start(&E);
  orcrt_test_assert_sps_error(call(&E, E.End, NULL), NULL);
  orcrt_test_assert_sps_error(call(&E, E.End, NULL), "End without Start");
  finish(&E, NULL);
  orcrt_jd D;
  read_dump(&E, &D);
  ck_assert_uint_eq(D.NumRecords, 1); /* the close record, once */
}
END_TEST

/* Records before Start are a controller's mistake: the finalize fails, no file appears. */
START_TEST(perf_impl_before_start_fails_the_finalize) {
  perf_exec E;
  launch_fresh(&E);
  orc_rt_ExecutorAddr Base = reserve(&E, 4096);
  batch_spec B = two_functions(Base);
  orcrt_test_assert_sps_error(finalize(&E, Base, &B), "records before Start");
  finish(&E, NULL);
  long Pid;
  ck_assert_ptr_null(orcrt_jd_find(E.Dir, &Pid));
}
END_TEST

/*
 * A profiling aid must not stop the program: where the dump cannot be
 * made, Start says why (to a controller that ignores it) and the executor
 * logs it once; later records are checked, then dropped.
 */
START_TEST(perf_unwritable_dump_directory_is_logged_and_code_still_runs) {
  perf_exec E;
  const char *File = orcrt_test_scratch_file("not-a-directory");
  int Fd = open(File, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  ck_assert_int_ge(Fd, 0);
  close(Fd);
  launch(&E, File);
  orcrt_test_assert_sps_error(call(&E, E.Start, NULL), "Not a directory");
  load_two_functions(&E);
  /* still checked */
  orc_rt_ExecutorAddr Other = reserve(&E, 4096);
  batch_spec Bad = two_functions(Other);
  Bad.Loads[1].CodeAddr = 0x1000;
  orcrt_test_assert_sps_error(finalize(&E, Other, &Bad), "not in readable JIT memory");
  orcrt_test_assert_sps_error(call(&E, E.End, NULL), NULL);
  const char *Line = orcrt_test_format(
      "orcrt-executor: perf: cannot make a jitdump at %s/.debug/jit/orcrt-", File);
  const char *Err = finish(&E, Line);
  ck_assert_msg(strstr(Err, ": Not a directory; JIT'd code runs without profiling information\n"),
                "stderr: %s", Err);
  ck_assert_ptr_eq(strchr(Err, '\n'), Err + strlen(Err) - 1); /* one line */
}
END_TEST

/* ---- bad batches: each fails its finalize, writes nothing, and the session goes on --- */

typedef struct {
  const char *Why;
  void (*Spoil)(batch_spec *B, orc_rt_ExecutorAddr Base, orc_rt_ExecutorAddr Gone);
  const char *Error;
} bad_case;

static void code_outside_jit_memory(batch_spec *B, orc_rt_ExecutorAddr Base,
                                    orc_rt_ExecutorAddr Gone) {
  (void)Base;
  (void)Gone;
  B->Loads[0].CodeAddr = (uint64_t)(uintptr_t)&now_ns; /* the test's own code */
}

static void code_in_released_memory(batch_spec *B, orc_rt_ExecutorAddr Base,
                                    orc_rt_ExecutorAddr Gone) {
  (void)Base;
  B->Loads[1].CodeAddr = Gone;
}

static void code_in_unfinalized_memory(batch_spec *B, orc_rt_ExecutorAddr Base,
                                       orc_rt_ExecutorAddr Gone) {
  (void)Gone;
  B->Loads[1].CodeAddr = Base + 4096 + FN_B;
}

static void code_past_the_allocation(batch_spec *B, orc_rt_ExecutorAddr Base,
                                     orc_rt_ExecutorAddr Gone) {
  (void)Gone;
  B->Loads[0].CodeAddr = Base + 4096 - 8;
  B->Loads[0].CodeSize = 64;
}

static void code_size_wraps_around(batch_spec *B, orc_rt_ExecutorAddr Base,
                                   orc_rt_ExecutorAddr Gone) {
  (void)Base;
  (void)Gone;
  B->Loads[0].CodeSize = UINT64_MAX - 8;
}

static void record_too_large(batch_spec *B, orc_rt_ExecutorAddr Base, orc_rt_ExecutorAddr Gone) {
  (void)Base;
  (void)Gone;
  B->Loads[0].CodeSize = UINT32_MAX - 60;
}

static void name_with_nul(batch_spec *B, orc_rt_ExecutorAddr Base, orc_rt_ExecutorAddr Gone) {
  (void)Base;
  (void)Gone;
  B->Loads[1].Name = "fn\0b";
  B->Loads[1].NameSize = 4;
}

static void file_with_nul(batch_spec *B, orc_rt_ExecutorAddr Base, orc_rt_ExecutorAddr Gone) {
  (void)Base;
  (void)Gone;
  B->Debug[1].File = "/src\0/a.c";
  B->Debug[1].FileSize = 9;
}

static void line_below_the_bias(batch_spec *B, orc_rt_ExecutorAddr Base, orc_rt_ExecutorAddr Gone) {
  (void)Base;
  (void)Gone;
  B->Debug[1].Addrs[1] = 0x3f;
}

static char UnwindHdr[12];

static void eh_frame_outside_jit_memory(batch_spec *B, orc_rt_ExecutorAddr Base,
                                        orc_rt_ExecutorAddr Gone) {
  (void)Gone;
  *B = two_functions_unwound(Base, UnwindHdr);
  B->EHFrameAddr = (uint64_t)(uintptr_t)&now_ns;
}

static void eh_frame_hdr_larger_than_the_data(batch_spec *B, orc_rt_ExecutorAddr Base,
                                              orc_rt_ExecutorAddr Gone) {
  (void)Gone;
  *B = two_functions_unwound(Base, UnwindHdr);
  B->UnwindDataSize = 8;
}

static void eh_frame_hdr_inline_size_differs(batch_spec *B, orc_rt_ExecutorAddr Base,
                                             orc_rt_ExecutorAddr Gone) {
  (void)Gone;
  *B = two_functions_unwound(Base, UnwindHdr);
  B->InlineHdrSize = 11;
}

static const bad_case BadCases[] = {
    {"code in no JIT memory", code_outside_jit_memory, "not in readable JIT memory"},
    {"code in released JIT memory", code_in_released_memory, "not in readable JIT memory"},
    {"code in reserved pages not finalized", code_in_unfinalized_memory,
     "not in readable JIT memory"},
    {"code past its segment", code_past_the_allocation, "not in readable JIT memory"},
    {"a code size that wraps around", code_size_wraps_around, "too large for a jitdump"},
    {"a record over 4 GiB", record_too_large, "too large for a jitdump"},
    {"a name with a NUL", name_with_nul, "contains a NUL byte"},
    {"a file name with a NUL", file_with_nul, "contains a NUL byte"},
    {"a line address below the offset", line_below_the_bias, "below the controller's offset"},
    {".eh_frame in no JIT memory", eh_frame_outside_jit_memory, "not in readable JIT memory"},
    {".eh_frame_hdr larger than the data", eh_frame_hdr_larger_than_the_data, "is larger than"},
    {"an inline .eh_frame_hdr of another size", eh_frame_hdr_inline_size_differs,
     "inline .eh_frame_hdr has 11 bytes"},
};

static orc_rt_WrapperFunctionBuffer deallocate(perf_exec *E, orc_rt_ExecutorAddr Base) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_addr(&W, sym(E, "__llvm_orc_SimpleExecutorMemoryManager_Instance"));
  orc_rt_SPSWriter_seqCount(&W, 1);
  orc_rt_SPSWriter_addr(&W, Base);
  return call(E, sym(E, "__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper"), &W);
}

START_TEST(perf_bad_batches_fail_the_finalize_and_write_nothing) {
  perf_exec E;
  launch_fresh(&E);
  start(&E);
  for (size_t I = 0; I < sizeof(BadCases) / sizeof(BadCases[0]); I++) {
    /* Two pages, of which the finalize makes the first readable; and memory that was JIT
       memory until just now (released after the other, so that it is not reused). */
    orc_rt_ExecutorAddr Base = reserve(&E, 8192);
    orc_rt_ExecutorAddr Gone = reserve(&E, 4096);
    orcrt_test_assert_sps_error(deallocate(&E, Gone), NULL);
    batch_spec B = two_functions(Base);
    BadCases[I].Spoil(&B, Base, Gone + FN_A);
    orc_rt_WrapperFunctionBuffer R = finalize(&E, Base, &B);
    char *Msg = orcrt_test_take_sps_error(&R);
    ck_assert_msg(Msg && strstr(Msg, BadCases[I].Error), "%s: finalize gave \"%s\", not \"%s\"",
                  BadCases[I].Why, Msg ? Msg : "success", BadCases[I].Error);
    free(Msg);
  }
  /* Bytes that are no batch: cut anywhere, or one byte too many. The addresses are those of
     one reservation; each try finalizes a fresh one (a failed finalize keeps its memory). */
  orc_rt_ExecutorAddr Base = reserve(&E, 4096);
  batch_spec B = two_functions(Base);
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  write_batch(&W, &B);
  orc_rt_SPSWriter_u8(&W, 0);
  ck_assert(!orc_rt_SPSWriter_failed(&W));
  size_t Full = orc_rt_SPSWriter_size(&W) - 1;
  static const size_t Cuts[] = {0, 7, 8, 60, 100, 200};
  for (size_t I = 0; I <= sizeof(Cuts) / sizeof(Cuts[0]); I++) {
    size_t N = I < sizeof(Cuts) / sizeof(Cuts[0]) ? Cuts[I] : Full + 1;
    ck_assert(N < Full || N == Full + 1);
    orcrt_test_assert_sps_error(finalize_raw(&E, reserve(&E, 4096), orc_rt_SPSWriter_data(&W), N),
                                "Could not deserialize");
  }
  for (size_t N = Full - 40; N < Full; N++) /* every cut in the unwinding record */
    orcrt_test_assert_sps_error(finalize_raw(&E, reserve(&E, 4096), orc_rt_SPSWriter_data(&W), N),
                                "Could not deserialize");
  /* The whole batch still goes through, and is all the dump holds. */
  orcrt_test_assert_sps_error(finalize_raw(&E, Base, orc_rt_SPSWriter_data(&W), Full), NULL);
  orc_rt_SPSWriter_dispose(&W);
  finish(&E, NULL);
  orcrt_jd D;
  read_dump(&E, &D);
  ck_assert_uint_eq(D.NumRecords, 4);
  assert_code_load(&D.Records[1], D.Pid, "fn_a", Base, FN_A, FN_A_SIZE, 7);
}
END_TEST

Suite *orcrt_suite_perf(void) {
  Suite *S = suite_create("perf");
  const struct {
    const char *Name;
    const TTest *Test;
  } Cases[] = {
      {"dump", perf_start_impl_end_write_a_dump_that_checks_field_by_field},
      {"unwinding", perf_unwinding_record_precedes_every_code_load},
      {"shutdown", perf_dump_is_closed_at_shutdown_without_end},
      {"marker", perf_marker_maps_the_dump_executable},
      {"start_twice", perf_start_twice_keeps_the_one_dump},
      {"end_without_start", perf_end_without_start_is_an_error},
      {"impl_before_start", perf_impl_before_start_fails_the_finalize},
      {"unwritable", perf_unwritable_dump_directory_is_logged_and_code_still_runs},
      {"bad_batches", perf_bad_batches_fail_the_finalize_and_write_nothing},
  };
  for (size_t I = 0; I < sizeof(Cases) / sizeof(Cases[0]); I++)
    orcrt_test_add_process_case(S, Cases[I].Name, Cases[I].Test, CASE_TIMEOUT);
  return S;
}

/*
 * test-perf-e2e.c - llvm-jitlink-19 -perf-support with orcrt-executor, and
 * perf itself on what that leaves
 *
 * Each run's JITDUMPDIR (and HOME, for perf's caches) is the test's scratch
 * directory. The dump is decoded field by field (jitdump-reader.h), which
 * checks what perf inject consumes, so these tests carry the feature where
 * perf cannot sample (containers without perf_event_open). Where
 * "perf record -k 1 -e cpu-clock -o /dev/null -- true" works, one more test
 * runs the whole pipeline: perf record, perf inject --jit, perf report.
 *
 * Out of process, llvm-jitlink-19 sends End from a destructor that runs
 * after the channel is closed: it prints "llvm-jitlink error: FD-transport
 * disconnected" and still exits 0. That line is tolerated, nothing else.
 */
#include "config.h"

#include "e2e-util.h"
#include "jitdump-reader.h"
#include "run-util.h"
#include "test-util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CASE_TIMEOUT 60.0

static const char *const PerfDebugFlags[] = {"-c", "-O1", "-g", NULL};

/* What spin.c prints, and where its functions and their loops are. */
static const char SpinOut[] = "s=6.579736 h=8780152400137621004\n";
static const struct {
  const char *Name;
  uint32_t First, Last;         /* the function's lines */
  uint32_t LoopFirst, LoopLast; /* its loop's */
} SpinFns[] = {{"jit_hot_loop", 11, 16, 13, 14}, {"jit_other_work", 18, 23, 20, 21}};

static uint64_t now_ns(void) {
  struct timespec Ts;
  clock_gettime(CLOCK_MONOTONIC, &Ts);
  return (uint64_t)Ts.tv_sec * 1000000000u + (uint64_t)Ts.tv_nsec;
}

/* A fresh directory for the dumps (and perf's HOME) in the scratch directory. */
static const char *dump_dir(void) {
  const char *Dir = orcrt_test_scratch_file("dumps");
  ck_assert_int_eq(mkdir(Dir, 0755), 0);
  return Dir;
}

static const char *dump_env(const char *Dir) {
  return orcrt_test_format("JITDUMPDIR=%s", Dir);
}

/* The controller's stderr holds nothing but the disconnect End runs into. */
static void assert_quiet_controller(const orcrt_test_spawn_result *R) {
  static const char Disconnect[] = "llvm-jitlink error: FD-transport disconnected\n";
  ck_assert_msg(R->ErrSize == 0 || strcmp(R->Err, Disconnect) == 0, "stderr:\n%s",
                orcrt_e2e_shown(R->Err, R->ErrSize));
}

/* llvm-jitlink-19 -perf-support -oop-executor=orcrt-executor Obj, dumping into Dir. */
static void run_perf_support(const char *Obj, const char *Dir, orcrt_test_spawn_result *R) {
  const char *Argv[] = {orcrt_e2e_required_env("ORCRT_LLVM_JITLINK"), "-perf-support",
                        orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()), Obj,
                        NULL};
  const char *Env[] = {dump_env(Dir), NULL};
  orcrt_e2e_run(Argv, Env, R);
  ck_assert_msg(R->Status == 0, "llvm-jitlink ended with %d; stderr:\n%s", R->Status,
                orcrt_e2e_shown(R->Err, R->ErrSize));
  assert_quiet_controller(R);
}

/* The dump under Dir, decoded; the pid of its name in *Pid. */
static void read_dump(const char *Dir, orcrt_jd *D, long *Pid) {
  const char *Path = orcrt_jd_find(Dir, Pid);
  ck_assert_msg(Path != NULL, "no dump under %s", Dir);
  orcrt_jd_read(Path, D);
  ck_assert_int_eq(D->Pid, *Pid);
}

/* The record order of a graph: each code load right after its graph's unwinding record. */
static void assert_unwinding_before_each_load(const orcrt_jd *D) {
  size_t Loads = 0;
  for (size_t I = 0; I < D->NumRecords; I++) {
    if (D->Records[I].Id != ORCRT_JD_CODE_LOAD)
      continue;
    Loads++;
    size_t U = I - (I > 0 && D->Records[I - 1].Id == ORCRT_JD_DEBUG_INFO ? 2 : 1);
    ck_assert_msg(I >= 1 && U < I && D->Records[U].Id == ORCRT_JD_UNWINDING_INFO,
                  "code load %s at %zu has no unwinding record before it", D->Records[I].Name,
                  D->Records[I].Offset);
  }
  ck_assert_uint_gt(Loads, 0);
  ck_assert_uint_eq(D->Records[D->NumRecords - 1].Id, ORCRT_JD_CODE_CLOSE);
}

/*
 * The JIT'd program sees itself as a profiler would: its pid is the dump's
 * and its name's, and not the controller's (its parent); the dump's first
 * page is mapped r-xp, the marker perf record logs; the code of a function
 * in the dump is the code in memory.
 */
START_TEST(perf_e2e_jitlink_dump_is_the_executors) {
  const char *Dir = dump_dir();
  orcrt_test_spawn_result R;
  uint64_t Before = now_ns();
  run_perf_support(orcrt_e2e_object("perf-self.c", "perf-self.o"), Dir, &R);
  uint64_t After = now_ns();
  int Pid = 0, Ppid = 0;
  ck_assert_msg(sscanf(R.Out, "pid %d ppid %d\n", &Pid, &Ppid) == 2, "stdout:\n%s", R.Out);
  ck_assert_msg(strstr(R.Out, "\nsum 315\n"), "stdout:\n%s", R.Out);

  const char *Marker = strstr(R.Out, "\nmarker ");
  ck_assert_msg(Marker, "no mapping of the dump in /proc/self/maps; stdout:\n%s", R.Out);
  ck_assert_msg(!strstr(Marker + 1, "\nmarker "), "the dump is mapped twice:\n%s", R.Out);
  char *Line = orcrt_test_keep(strndup(Marker + 8, strcspn(Marker + 8, "\n")));
  const char *Want = orcrt_test_format("/jit-%d.dump", Pid);
  ck_assert_msg(strstr(Line, " r-xp 00000000 "), "the marker is not r-xp at offset 0: %s", Line);
  ck_assert_msg(strlen(Line) > strlen(Want) && !strcmp(Line + strlen(Line) - strlen(Want), Want),
                "the marker maps another file: %s", Line);

  orcrt_jd D;
  long FilePid = 0;
  read_dump(Dir, &D, &FilePid);
  ck_assert_int_eq(D.Pid, Pid);
  ck_assert_int_ne(D.Pid, Ppid);
  ck_assert(D.Timestamp >= Before && D.Timestamp <= After);
  assert_unwinding_before_each_load(&D);

  /* Each function once, of the executor, with an index of its own. */
  static const char *const Fns[] = {"jit_square_plus", "jit_sum", "main"};
  uint64_t Indexes = 0;
  for (size_t I = 0; I < 3; I++) {
    const orcrt_jd_record *L = orcrt_jd_code_load(&D, Fns[I]);
    ck_assert_uint_eq(L->Pid, (uint32_t)Pid);
    ck_assert_uint_ne(L->Tid, 0);
    ck_assert_uint_eq(L->Vma, L->CodeAddr);
    ck_assert_uint_gt(L->CodeSize, 0);
    ck_assert_uint_lt(L->CodeIndex, 64);
    ck_assert_msg(!(Indexes & (1ull << L->CodeIndex)), "code index %llu twice",
                  (unsigned long long)L->CodeIndex);
    Indexes |= 1ull << L->CodeIndex;
  }
  size_t Loads = 0;
  for (size_t I = 0; I < D.NumRecords; I++)
    Loads += D.Records[I].Id == ORCRT_JD_CODE_LOAD;
  ck_assert_uint_eq(Loads, 3);

  /* "code 0x7f... 0f af ff ...": 16 bytes from the function's address. */
  const orcrt_jd_record *Sq = orcrt_jd_code_load(&D, "jit_square_plus");
  const char *Code = strstr(R.Out, "\ncode ");
  ck_assert_ptr_nonnull(Code);
  char *P = NULL;
  unsigned long long Addr = strtoull(Code + 6, &P, 16);
  ck_assert_uint_eq(Addr, Sq->CodeAddr);
  for (uint64_t I = 0; I < 16 && I < Sq->CodeSize; I++) {
    unsigned long Byte = strtoul(P, &P, 16);
    ck_assert_msg(Byte == Sq->Code[I], "code byte %llu: %02lx in memory, %02x in the dump",
                  (unsigned long long)I, Byte, Sq->Code[I]);
  }
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/*
 * With -g: each code load right after its own line table (the same code
 * address), whose rows fall inside the function's code (the controller's
 * +0x40 taken off: the first row is the function's first byte) and name
 * the function's true source lines.
 */
START_TEST(perf_e2e_jitlink_lines_fall_on_the_code) {
  const char *Dir = dump_dir();
  orcrt_test_spawn_result R;
  run_perf_support(orcrt_e2e_compile("spin.c", "spin-g.o", PerfDebugFlags), Dir, &R);
  ck_assert_str_eq(R.Out, SpinOut);
  orcrt_jd D;
  long Pid = 0;
  read_dump(Dir, &D, &Pid);
  assert_unwinding_before_each_load(&D);
  for (size_t F = 0; F < sizeof(SpinFns) / sizeof(SpinFns[0]); F++) {
    const orcrt_jd_record *L = orcrt_jd_code_load(&D, SpinFns[F].Name);
    size_t At = (size_t)(L - D.Records);
    ck_assert_uint_ge(At, 1);
    const orcrt_jd_record *Dbg = &D.Records[At - 1];
    ck_assert_msg(Dbg->Id == ORCRT_JD_DEBUG_INFO, "%s has no line table before it",
                  SpinFns[F].Name);
    ck_assert_uint_eq(Dbg->CodeAddr, L->CodeAddr);
    ck_assert_uint_gt(Dbg->NumLines, 0);
    ck_assert_uint_eq(Dbg->Lines[0].Addr, L->CodeAddr);
    bool InLoop = false;
    for (size_t I = 0; I < Dbg->NumLines; I++) {
      const orcrt_jd_line *Row = &Dbg->Lines[I];
      ck_assert_msg(Row->Addr >= L->CodeAddr && Row->Addr < L->CodeAddr + L->CodeSize,
                    "%s: row %zu at +0x%llx, outside its %llu bytes", SpinFns[F].Name, I,
                    (unsigned long long)(Row->Addr - L->CodeAddr), (unsigned long long)L->CodeSize);
      ck_assert_msg(Row->Line == 0 ||
                        (Row->Line >= SpinFns[F].First && Row->Line <= SpinFns[F].Last),
                    "%s: row %zu names line %u", SpinFns[F].Name, I, Row->Line);
      const char *Base = strrchr(Row->File, '/');
      ck_assert_str_eq(Base ? Base + 1 : Row->File, "spin.c");
      InLoop = InLoop || (Row->Line >= SpinFns[F].LoopFirst && Row->Line <= SpinFns[F].LoopLast);
    }
    ck_assert_msg(InLoop, "%s: no row names its loop", SpinFns[F].Name);
  }
  orcrt_test_spawn_result_free(&R);
}
END_TEST

/* ---- perf record, perf inject --jit, perf report ------------------------------------ */

/* Run ORCRT_PERF with Args; it must succeed. Its output in *R. */
static void perf_ok(const char *const *Args, const char *Dir, orcrt_test_spawn_result *R) {
  const char *Argv[24];
  size_t N = 0;
  Argv[N++] = orcrt_e2e_required_env("ORCRT_PERF");
  for (; *Args; Args++)
    Argv[N++] = *Args;
  Argv[N] = NULL;
  ck_assert(N < sizeof(Argv) / sizeof(Argv[0]));
  /* perf's own caches in a HOME of their own: under the dumps' it misses the jitted files. */
  const char *Home = orcrt_test_format("%s/home", Dir);
  ck_assert(mkdir(Home, 0755) == 0 || errno == EEXIST);
  const char *Env[] = {dump_env(Dir), orcrt_test_format("HOME=%s", Home), NULL};
  orcrt_e2e_run(Argv, Env, R);
  ck_assert_msg(R->Status == 0, "perf %s ended with %d; stderr:\n%s", Argv[1], R->Status,
                orcrt_e2e_shown(R->Err, R->ErrSize));
}

/* The share of samples (0 if none) of the report line with all of Words, in that order. */
static double report_share(const char *Report, const char *const *Words) {
  double Share = 0;
  for (const char *Line = Report; Line && *Line;) {
    const char *End = strchr(Line, '\n');
    size_t Len = End ? (size_t)(End - Line) : strlen(Line);
    const char *P = Line;
    bool All = Line[0] != '#';
    for (const char *const *W = Words; All && *W; W++) {
      const char *Hit = strstr(P, *W);
      All = Hit && Hit < Line + Len;
      P = Hit ? Hit + strlen(*W) : P;
    }
    if (All)
      Share += strtod(Line, NULL);
    Line = End ? End + 1 : NULL;
  }
  return Share;
}

/*
 * The whole pipeline of orcrt-executor(1), PROFILING: perf report names
 * the JIT'd functions, in jitted-*.so files of the executor, and (-g)
 * places their samples on their loops' source lines.
 */
START_TEST(perf_e2e_perf_report_names_jit_code_and_its_lines) {
  /* perf takes any file under /tmp/perf-* for a perf map (/tmp/perf-<pid>.map), even a jitted
     ELF file: a scratch directory there (a build tree such as /tmp/perf-build) cannot serve, and
     one in /tmp is used instead (left behind only if the test fails). */
  const char *Dir = orcrt_test_scratch_file("dumps");
  bool OwnDir = strncmp(Dir, "/tmp/perf-", 10) == 0;
  if (OwnDir)
    Dir = orcrt_test_keep(orcrt_test_make_temp_dir("/tmp", "orcrt-perf."));
  else
    ck_assert_int_eq(mkdir(Dir, 0755), 0);
  ck_assert_ptr_nonnull(Dir);
  const char *Data = orcrt_test_format("%s/perf.data", Dir);
  const char *Injected = orcrt_test_format("%s/perf.jit.data", Dir);
  const char *Obj = orcrt_e2e_compile("spin.c", "spin-g.o", PerfDebugFlags);
  orcrt_test_spawn_result R;
  const char *Record[] = {"record",
                          "-N",
                          "-k",
                          "1",
                          "-e",
                          "cpu-clock",
                          "-o",
                          Data,
                          "--",
                          orcrt_e2e_required_env("ORCRT_LLVM_JITLINK"),
                          "-perf-support",
                          orcrt_test_format("-oop-executor=%s", orcrt_test_executor_path()),
                          Obj,
                          NULL};
  perf_ok(Record, Dir, &R);
  ck_assert_str_eq(R.Out, SpinOut);
  orcrt_test_spawn_result_free(&R);

  const char *Inject[] = {"inject", "--jit", "-i", Data, "-o", Injected, NULL};
  perf_ok(Inject, Dir, &R);
  ck_assert_msg(!strstr(R.Err, "invalid or unsupported flags"), "perf inject:\n%s", R.Err);
  orcrt_test_spawn_result_free(&R);

  const char *BySym[] = {"report", "-i", Injected, "--stdio", "--sort", "comm,dso,sym", NULL};
  perf_ok(BySym, Dir, &R);
  for (size_t F = 0; F < sizeof(SpinFns) / sizeof(SpinFns[0]); F++) {
    const char *Words[] = {"orcrt-executor", " jitted-", ".so ", "[.] ", SpinFns[F].Name, NULL};
    ck_assert_msg(report_share(R.Out, Words) >= 10.0, "%s is not reported by name:\n%s",
                  SpinFns[F].Name, orcrt_e2e_shown(R.Out, R.OutSize));
  }
  orcrt_test_spawn_result_free(&R);

  /* Most of each function's samples on its loop: with LLVM's +0x40 they are ??:0. */
  const char *ByLine[] = {"report", "-i", Injected, "--stdio", "--sort", "sym,srcline", NULL};
  perf_ok(ByLine, Dir, &R);
  for (size_t F = 0; F < sizeof(SpinFns) / sizeof(SpinFns[0]); F++) {
    const char *Sym[] = {"[.] ", SpinFns[F].Name, " ", NULL};
    double All = report_share(R.Out, Sym), OnLoop = 0;
    for (uint32_t Line = SpinFns[F].LoopFirst; Line <= SpinFns[F].LoopLast; Line++) {
      const char *Words[] = {"[.] ", SpinFns[F].Name, " ", orcrt_test_format("spin.c:%u\n", Line),
                             NULL};
      OnLoop += report_share(R.Out, Words);
    }
    ck_assert_msg(All >= 10.0 && OnLoop >= 0.9 * All,
                  "%s: %.2f%% of samples, %.2f%% on its loop's lines:\n%s", SpinFns[F].Name, All,
                  OnLoop, orcrt_e2e_shown(R.Out, R.OutSize));
  }
  orcrt_test_spawn_result_free(&R);
  if (OwnDir)
    orcrt_test_remove_tree(Dir);
}
END_TEST

/* Whether perf record can sample here: not in containers without perf_event_open. */
static bool perf_can_record(void) {
  const char *Perf = orcrt_test_getenv("ORCRT_PERF");
  if (!Perf)
    return false;
  const char *Argv[] = {Perf, "record",    "-k", "1",    "-e", "cpu-clock",
                        "-o", "/dev/null", "--", "true", NULL};
  orcrt_test_spawn_result R;
  if (orcrt_test_spawn(Argv, NULL, ORCRT_E2E_RUN_TIMEOUT, &R) != 0)
    return false;
  bool Ok = R.Status == 0;
  orcrt_test_spawn_result_free(&R);
  return Ok;
}

Suite *orcrt_suite_perf_e2e(void) {
  Suite *S = suite_create("perf_e2e");
  if (!orcrt_test_getenv("ORCRT_CLANG") || !orcrt_test_getenv("ORCRT_LLVM_JITLINK")) {
    fprintf(stderr, "perf_e2e: configure found no LLVM 19 tools, skipping\n");
    return S;
  }
  orcrt_test_add_process_case(S, "jitlink_dump", perf_e2e_jitlink_dump_is_the_executors,
                              CASE_TIMEOUT);
  orcrt_test_add_process_case(S, "jitlink_lines", perf_e2e_jitlink_lines_fall_on_the_code,
                              CASE_TIMEOUT);
  if (perf_can_record())
    orcrt_test_add_process_case(S, "perf_report", perf_e2e_perf_report_names_jit_code_and_its_lines,
                                CASE_TIMEOUT);
  else
    fprintf(stderr,
            "perf_e2e: perf record cannot sample here (or no perf), skipping perf_report\n");
  return S;
}

/*
 * capture-proxy.c - sits between an LLVM 19 controller and an executor,
 * relays every frame, and writes what it saw as seeds for the fuzzers
 *
 *   ORCRT_CAPTURE_EXECUTOR=/usr/lib/llvm-19/bin/llvm-jitlink-executor \
 *   ORCRT_CAPTURE_DIR=seeds ORCRT_CAPTURE_NAME=hello \
 *   llvm-jitlink-19 -oop-executor=capture-proxy hello.o
 *
 * The controller starts the proxy with its launch convention (filedescs=R,W
 * or R W); the proxy starts ORCRT_CAPTURE_EXECUTOR the same way on pipes of
 * its own and copies frames both ways, one thread per direction. When both
 * directions have ended it writes, under ORCRT_CAPTURE_DIR:
 *   NAME.log           one line per frame
 *   setup/NAME         the executor's Setup payload
 *   frames/NAME        an options byte (0) and every frame the controller sent
 *   wrappers/NAME      the controller's calls to the executor's wrappers, as
 *                      fuzz-wrappers reads them
 *   sps/NAME-K         each kind of payload once, as fuzz-sps reads it
 * with the executor's addresses (bootstrap symbols, reservations, the
 * process handle) replaced by the placeholders of fuzz-util.h, so that the
 * fuzzers can point them at their own Session. It exits with the
 * executor's status.
 */
#include "config.h"

#include "fuzz-util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <orcrt/sps.h>


struct frame {
  bool FromController;
  uint64_t Size, OpC, Seq, Tag;
  uint8_t *Payload; /* Size - WIRE_HEADER_SIZE bytes, or fewer if the stream ended */
  size_t Have;
  struct frame *Next;
};

static pthread_mutex_t Lock = PTHREAD_MUTEX_INITIALIZER;
static struct frame *First, **Last = &First;

static void die(const char *Fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  fputs("capture-proxy: ", stderr);
  vfprintf(stderr, Fmt, Ap);
  fputc('\n', stderr);
  va_end(Ap);
  exit(1);
}

/* Read up to N bytes; returns how many arrived before end of file. */
static size_t read_full(int Fd, void *P, size_t N) {
  size_t Got = 0;
  while (Got < N) {
    ssize_t R = read(Fd, (char *)P + Got, N - Got);
    if (R < 0 && errno == EINTR)
      continue;
    if (R <= 0)
      break;
    Got += (size_t)R;
  }
  return Got;
}

static bool write_full(int Fd, const void *P, size_t N) {
  while (N) {
    ssize_t W = write(Fd, P, N);
    if (W < 0 && errno == EINTR)
      continue;
    if (W <= 0)
      return false;
    P = (const char *)P + W;
    N -= (size_t)W;
  }
  return true;
}

struct relay {
  int From, To;
  bool FromController;
};

/* Copy frames From -> To, recording each, until From ends; then close To. */
static void *relay_main(void *Arg) {
  struct relay *R = Arg;
  bool Writing = true;
  for (;;) {
    uint8_t H[WIRE_HEADER_SIZE];
    size_t Got = read_full(R->From, H, WIRE_HEADER_SIZE);
    if (Got == 0)
      break;
    struct frame *F = calloc(1, sizeof(*F));
    if (!F)
      die("out of memory");
    F->FromController = R->FromController;
    if (Got == WIRE_HEADER_SIZE) {
      struct orcrt_wire_header Hd = orcrt_wire_decode_header(H);
      F->Size = Hd.Size;
      F->OpC = Hd.OpC;
      F->Seq = Hd.SeqNo;
      F->Tag = Hd.Tag;
    }
    size_t Want = Got == WIRE_HEADER_SIZE && F->Size > WIRE_HEADER_SIZE &&
                          F->Size - WIRE_HEADER_SIZE < ((size_t)1 << 30)
                      ? (size_t)(F->Size - WIRE_HEADER_SIZE)
                      : 0;
    F->Payload = malloc(Want ? Want : 1);
    if (!F->Payload)
      die("out of memory");
    F->Have = Want ? read_full(R->From, F->Payload, Want) : 0;
    pthread_mutex_lock(&Lock);
    *Last = F;
    Last = &F->Next;
    pthread_mutex_unlock(&Lock);
    if (Writing)
      Writing = write_full(R->To, H, Got) && write_full(R->To, F->Payload, F->Have);
    if (Got < WIRE_HEADER_SIZE || F->Have < Want)
      break;
  }
  close(R->To);
  close(R->From);
  return NULL;
}

/* ---- what the executor's addresses were ------------------------------------ */

struct region {
  uint64_t Base, Size;
};

static uint64_t SymAddr[64];      /* by placeholder selector; 0: unknown */
static struct region Regions[64]; /* in order of reservation */
static size_t NumRegions;
static uint64_t ProcessHandle;

/* The selector of the wrapper at Tag, or -1. */
static int symbol_of(uint64_t Tag) {
  for (size_t I = 0; I < ORCRT_FUZZ_NUM_SYMBOLS; I++)
    if (SymAddr[I] && SymAddr[I] == Tag)
      return (int)I;
  return -1;
}

static bool placeholder_for(uint64_t V, uint64_t *Out) {
  int S = symbol_of(V);
  if (S >= 0) {
    *Out = orcrt_fuzz_placeholder((unsigned)S, 0);
    return true;
  }
  if (ProcessHandle && V == ProcessHandle) {
    *Out = orcrt_fuzz_placeholder(ORCRT_FUZZ_SEL_PROCESS, 0);
    return true;
  }
  for (size_t K = 0; K < NumRegions && K < ORCRT_FUZZ_NUM_REGIONS; K++)
    if (V >= Regions[K].Base && V - Regions[K].Base <= Regions[K].Size &&
        V - Regions[K].Base < 0xffffff) {
      *Out = orcrt_fuzz_placeholder(ORCRT_FUZZ_SEL_REGION + (unsigned)K,
                                    (uint32_t)(V - Regions[K].Base));
      return true;
    }
  return false;
}

/* Replace the executor's addresses in P by placeholders. */
static void symbolize(uint8_t *P, size_t N) {
  for (size_t I = 0; I + 8 <= N;) {
    uint64_t Ph;
    if (placeholder_for(orcrt_wire_get_le64(P + I), &Ph)) {
      orcrt_wire_put_le64(P + I, Ph);
      I += 8;
    } else {
      I++;
    }
  }
}

static void learn_setup(const struct frame *F) {
  orc_rt_SPSReader R;
  const char *S;
  size_t N;
  uint64_t Page, Map, Count;
  orc_rt_SPSReader_init(&R, F->Payload, F->Have);
  if (!orc_rt_SPSReader_bytes(&R, &S, &N) || !orc_rt_SPSReader_u64(&R, &Page) ||
      !orc_rt_SPSReader_seqCount(&R, 16, &Map))
    return;
  for (uint64_t I = 0; I < Map; I++)
    if (!orc_rt_SPSReader_bytes(&R, &S, &N) || !orc_rt_SPSReader_bytes(&R, &S, &N))
      return;
  if (!orc_rt_SPSReader_seqCount(&R, 16, &Count))
    return;
  for (uint64_t I = 0; I < Count; I++) {
    orc_rt_ExecutorAddr A;
    if (!orc_rt_SPSReader_bytes(&R, &S, &N) || !orc_rt_SPSReader_addr(&R, &A))
      return;
    for (size_t J = 0; J < ORCRT_FUZZ_NUM_SYMBOLS; J++)
      if (strlen(orcrt_fuzz_symbol_names[J]) == N && memcmp(orcrt_fuzz_symbol_names[J], S, N) == 0)
        SymAddr[J] = A;
  }
}

/* The call of the controller that Result frame F answers. */
static const struct frame *call_of(const struct frame *F) {
  const struct frame *Found = NULL;
  for (const struct frame *C = First; C && C != F; C = C->Next)
    if (C->FromController == !F->FromController && C->OpC == WIRE_OP_CALL_WRAPPER &&
        C->Seq == F->Seq)
      Found = C;
  return Found;
}

static bool is_wrapper(const struct frame *Call, const char *Suffix) {
  int S = symbol_of(Call->Tag);
  return S >= 0 && strstr(orcrt_fuzz_symbol_names[S], Suffix) != NULL;
}

/* Learn reservations, handles and looked-up wrappers from the results. */
static void learn_results(void) {
  for (const struct frame *F = First; F; F = F->Next) {
    if (F->FromController || F->OpC != WIRE_OP_RESULT)
      continue;
    const struct frame *C = call_of(F);
    if (!C)
      continue;
    orc_rt_SPSReader R, A;
    bool HasValue;
    orc_rt_ExecutorAddr Addr;
    orc_rt_SPSReader_init(&R, F->Payload, F->Have);
    orc_rt_SPSReader_init(&A, C->Payload, C->Have);
    if (is_wrapper(C, "MemoryManager_reserve_wrapper")) {
      uint64_t Size;
      if (orc_rt_SPSReader_expected(&R, &HasValue, NULL, NULL) && HasValue &&
          orc_rt_SPSReader_addr(&R, &Addr) && Addr && orc_rt_SPSReader_skip(&A, 8) &&
          orc_rt_SPSReader_u64(&A, &Size) && NumRegions < 64)
        Regions[NumRegions++] = (struct region){Addr, Size};
    } else if (is_wrapper(C, "DylibManager_open_wrapper")) {
      const char *Path;
      size_t N;
      if (orc_rt_SPSReader_skip(&A, 8) && orc_rt_SPSReader_bytes(&A, &Path, &N) && N == 0 &&
          orc_rt_SPSReader_expected(&R, &HasValue, NULL, NULL) && HasValue &&
          orc_rt_SPSReader_addr(&R, &Addr))
        ProcessHandle = Addr;
    } else if (is_wrapper(C, "DylibManager_lookup_wrapper")) {
      uint64_t Asked, Got;
      if (!orc_rt_SPSReader_skip(&A, 16) || !orc_rt_SPSReader_seqCount(&A, 9, &Asked) ||
          !orc_rt_SPSReader_expected(&R, &HasValue, NULL, NULL) || !HasValue ||
          !orc_rt_SPSReader_seqCount(&R, 10, &Got) || Got != Asked)
        continue;
      for (uint64_t I = 0; I < Asked; I++) {
        const char *Name;
        size_t N;
        bool Required;
        if (!orc_rt_SPSReader_bytes(&A, &Name, &N) || !orc_rt_SPSReader_bool(&A, &Required) ||
            !orc_rt_SPSReader_addr(&R, &Addr) || !orc_rt_SPSReader_skip(&R, 2))
          break;
        for (size_t J = 0; J < ORCRT_FUZZ_NUM_SYMBOLS; J++)
          if (Addr && strlen(orcrt_fuzz_symbol_names[J]) == N &&
              memcmp(orcrt_fuzz_symbol_names[J], Name, N) == 0)
            SymAddr[J] = Addr;
      }
    }
  }
}

/* ---- the seeds ------------------------------------------------------------------- */

static const char *Dir, *Name;

static FILE *open_out(const char *Sub, const char *Suffix) {
  char Path[PATH_MAX];
  snprintf(Path, sizeof(Path), "%s/%s", Dir, Sub);
  mkdir(Path, 0755);
  snprintf(Path, sizeof(Path), "%s/%s/%s%s", Dir, Sub, Name, Suffix);
  FILE *F = fopen(Path, "wb");
  if (!F)
    die("cannot write %s: %s", Path, strerror(errno));
  return F;
}

/* The schema index of a call (2 * I for its arguments) or its result (+ 1), or -1. */
static int sps_choice(const struct frame *F) {
  const struct frame *Call = F->OpC == WIRE_OP_CALL_WRAPPER ? F
                            : F->OpC == WIRE_OP_RESULT     ? call_of(F)
                                                           : NULL;
  if (F->OpC == WIRE_OP_SETUP)
    return (int)(2 * ORCRT_FUZZ_NUM_WRAPPER_SCHEMAS);
  int S = Call ? symbol_of(Call->Tag) : -1;
  if (S < 0)
    return -1;
  for (size_t I = 0; I < ORCRT_FUZZ_NUM_WRAPPER_SCHEMAS; I++)
    if (strcmp(orcrt_fuzz_wrapper_schemas[I].Name, orcrt_fuzz_symbol_names[S]) == 0)
      return (int)(2 * I + (F->OpC == WIRE_OP_RESULT));
  return -1;
}

static void write_seeds(void) {
  FILE *Log = open_out(".", ".log");
  FILE *Frames = open_out("frames", "");
  FILE *Wrappers = open_out("wrappers", "");
  bool SpsDone[256] = {false};
  unsigned SpsCount = 0;
  fputc(0, Frames);

  for (struct frame *F = First; F; F = F->Next) {
    int S = F->OpC == WIRE_OP_CALL_WRAPPER ? symbol_of(F->Tag) : -1;
    fprintf(Log, "%s %s seq=%llu tag=%#llx (%s) size=%zu\n", F->FromController ? "c->e" : "e->c",
            orcrt_wire_opcode_name(F->OpC), (unsigned long long)F->Seq, (unsigned long long)F->Tag,
            S >= 0 ? orcrt_fuzz_symbol_names[S] : "-", F->Have);
    if (F->OpC == WIRE_OP_SETUP && !F->FromController) {
      FILE *Setup = open_out("setup", "");
      fwrite(F->Payload, 1, F->Have, Setup);
      fclose(Setup);
    }
    int Choice = sps_choice(F);
    if (Choice >= 0 && Choice < 256 && !SpsDone[Choice] && F->Have <= 65536) {
      char Suffix[16];
      SpsDone[Choice] = true;
      snprintf(Suffix, sizeof(Suffix), "-%u", SpsCount++);
      FILE *Sps = open_out("sps", Suffix);
      fputc(Choice, Sps);
      fwrite(F->Payload, 1, F->Have, Sps);
      fclose(Sps);
    }
    if (!F->FromController)
      continue;

    uint8_t H[WIRE_HEADER_SIZE];
    uint64_t Tag = F->Tag, Ph;
    if (placeholder_for(Tag, &Ph))
      Tag = Ph;
    orcrt_wire_put_le64(H, F->Size);
    orcrt_wire_put_le64(H + 8, F->OpC);
    orcrt_wire_put_le64(H + 16, F->Seq);
    orcrt_wire_put_le64(H + 24, Tag);
    symbolize(F->Payload, F->Have);
    fwrite(H, 1, WIRE_HEADER_SIZE, Frames);
    fwrite(F->Payload, 1, F->Have, Frames);

    int Choice2 = F->OpC == WIRE_OP_CALL_WRAPPER ? sps_choice(F) : -1;
    if (Choice2 >= 0 && Choice2 % 2 == 0 && F->Have < 65535) {
      fputc(Choice2 / 2, Wrappers);
      fputc((int)(F->Have & 0xff), Wrappers);
      fputc((int)(F->Have >> 8), Wrappers);
      fwrite(F->Payload, 1, F->Have, Wrappers);
    }
  }
  fclose(Log);
  fclose(Frames);
  fclose(Wrappers);
}

/* ---- main ------------------------------------------------------------------------- */

int main(int Argc, char **Argv) {
  int In, Out;
  bool Bare;
  if (Argc >= 2 && sscanf(Argv[1], "filedescs=%d,%d", &In, &Out) == 2)
    Bare = false;
  else if (Argc >= 3 && sscanf(Argv[1], "%d", &In) == 1 && sscanf(Argv[2], "%d", &Out) == 1)
    Bare = true;
  else
    die("usage: capture-proxy filedescs=IN,OUT | IN OUT (see the comment in capture-proxy.c)");
  const char *Exe = getenv("ORCRT_CAPTURE_EXECUTOR");
  Dir = getenv("ORCRT_CAPTURE_DIR");
  Name = getenv("ORCRT_CAPTURE_NAME");
  if (!Exe || !Dir || !Name)
    die("set ORCRT_CAPTURE_EXECUTOR, ORCRT_CAPTURE_DIR and ORCRT_CAPTURE_NAME");
  signal(SIGPIPE, SIG_IGN);

  int ToExec[2], FromExec[2];
  if (pipe(ToExec) != 0 || pipe(FromExec) != 0)
    die("pipe: %s", strerror(errno));
  pid_t Pid = fork();
  if (Pid < 0)
    die("fork: %s", strerror(errno));
  if (Pid == 0) {
    char A[32], B[32], FD[64];
    close(ToExec[1]);
    close(FromExec[0]);
    close(In);
    close(Out);
    snprintf(A, sizeof(A), "%d", ToExec[0]);
    snprintf(B, sizeof(B), "%d", FromExec[1]);
    snprintf(FD, sizeof(FD), "filedescs=%d,%d", ToExec[0], FromExec[1]);
    if (Bare)
      execl(Exe, Exe, A, B, (char *)NULL);
    else
      execl(Exe, Exe, FD, (char *)NULL);
    _exit(127);
  }
  close(ToExec[0]);
  close(FromExec[1]);

  struct relay Down = {In, ToExec[1], true}, Up = {FromExec[0], Out, false};
  pthread_t T1, T2;
  if (pthread_create(&T1, NULL, relay_main, &Down) != 0 ||
      pthread_create(&T2, NULL, relay_main, &Up) != 0)
    die("cannot start the relay threads");
  pthread_join(T2, NULL);
  pthread_join(T1, NULL);
  int Status = 0;
  while (waitpid(Pid, &Status, 0) < 0 && errno == EINTR)
    ;

  for (struct frame *F = First; F; F = F->Next)
    if (!F->FromController && F->OpC == WIRE_OP_SETUP) {
      learn_setup(F);
      break;
    }
  learn_results();
  write_seeds();
  return WIFEXITED(Status) ? WEXITSTATUS(Status) : 128 + WTERMSIG(Status);
}

/*
 * jitdump-reader.c - a perf jitdump decoder for the perf suites
 */
#include "config.h"

#include "jitdump-reader.h"
#include "run-util.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reading position in a record, bounded by the record's end. */
typedef struct {
  const unsigned char *P, *End;
  size_t Offset; /* of the record, for messages */
} cursor;

static void take(cursor *C, void *Out, size_t N) {
  ck_assert_msg((size_t)(C->End - C->P) >= N, "record at %zu: ends inside a field", C->Offset);
  memcpy(Out, C->P, N);
  C->P += N;
}

static uint32_t take32(cursor *C) {
  uint32_t V;
  take(C, &V, sizeof(V));
  return V;
}

static uint64_t take64(cursor *C) {
  uint64_t V;
  take(C, &V, sizeof(V));
  return V;
}

/* A NUL-terminated string inside the record. */
static const char *take_string(cursor *C) {
  const unsigned char *Nul = memchr(C->P, '\0', (size_t)(C->End - C->P));
  ck_assert_msg(Nul != NULL, "record at %zu: a name runs past the record", C->Offset);
  const char *S = (const char *)C->P;
  C->P = Nul + 1;
  return S;
}

static const unsigned char *take_bytes(cursor *C, uint64_t N) {
  ck_assert_msg((uint64_t)(C->End - C->P) >= N, "record at %zu: %llu bytes run past the record",
                C->Offset, (unsigned long long)N);
  const unsigned char *B = C->P;
  C->P += N;
  return B;
}

static void read_record(cursor *C, orcrt_jd_record *R) {
  switch (R->Id) {
  case ORCRT_JD_CODE_LOAD:
    R->Pid = take32(C);
    R->Tid = take32(C);
    R->Vma = take64(C);
    R->CodeAddr = take64(C);
    R->CodeSize = take64(C);
    R->CodeIndex = take64(C);
    R->Name = take_string(C);
    R->Code = take_bytes(C, R->CodeSize);
    break;
  case ORCRT_JD_DEBUG_INFO:
    R->CodeAddr = take64(C);
    R->NumLines = (size_t)take64(C);
    ck_assert_msg(R->NumLines <= (size_t)(C->End - C->P) / 17, "record at %zu: %zu lines",
                  C->Offset, R->NumLines);
    R->Lines = orcrt_test_keep(calloc(R->NumLines + 1, sizeof(*R->Lines)));
    ck_assert_ptr_nonnull(R->Lines);
    for (size_t I = 0; I < R->NumLines; I++) {
      R->Lines[I].Addr = take64(C);
      R->Lines[I].Line = take32(C);
      R->Lines[I].Discrim = take32(C);
      R->Lines[I].File = take_string(C);
    }
    break;
  case ORCRT_JD_UNWINDING_INFO:
    R->UnwindDataSize = take64(C);
    R->EHFrameHdrSize = take64(C);
    R->MappedSize = take64(C);
    ck_assert_msg(R->EHFrameHdrSize <= R->UnwindDataSize, "record at %zu: header above data",
                  C->Offset);
    R->UnwindData = take_bytes(C, R->UnwindDataSize);
    break;
  case ORCRT_JD_CODE_CLOSE:
    break;
  default:
    ck_abort_msg("record at %zu: unknown id %u", C->Offset, R->Id);
  }
  ck_assert_msg(C->P == C->End, "record at %zu (id %u): total_size %u, contents %zu bytes",
                C->Offset, R->Id, R->TotalSize, (size_t)(C->P - (C->End - R->TotalSize)));
}

void orcrt_jd_read(const char *Path, orcrt_jd *Out) {
  int Fd = open(Path, O_RDONLY | O_CLOEXEC);
  ck_assert_msg(Fd >= 0, "cannot open %s", Path);
  struct stat St;
  ck_assert_int_eq(fstat(Fd, &St), 0);
  size_t Size = (size_t)St.st_size;
  unsigned char *Data = orcrt_test_keep(malloc(Size + 1));
  ck_assert_ptr_nonnull(Data);
  ck_assert_int_eq(pread(Fd, Data, Size, 0), (ssize_t)Size);
  close(Fd);

  memset(Out, 0, sizeof(*Out));
  Out->Size = Size;
  cursor H = {Data, Data + Size, 0};
  ck_assert_msg(Size >= 40, "%s: %zu bytes, no header", Path, Size);
  ck_assert_uint_eq(take32(&H), 0x4A695444u); /* "DTiJ" on disk: perf's magic */
  ck_assert_uint_eq(take32(&H), 1);           /* version */
  ck_assert_uint_eq(take32(&H), 40);          /* total_size of the header */
  Out->ElfMach = take32(&H);
#if defined(__x86_64__)
  ck_assert_uint_eq(Out->ElfMach, EM_X86_64);
#endif
  ck_assert_uint_eq(take32(&H), 0); /* pad1 */
  Out->Pid = take32(&H);
  Out->Timestamp = take64(&H);
  ck_assert_uint_eq(take64(&H), 0); /* flags: perf inject refuses any it does not know */

  size_t Cap = 16;
  Out->Records = orcrt_test_keep(calloc(Cap, sizeof(*Out->Records)));
  ck_assert_ptr_nonnull(Out->Records);
  uint64_t LastTime = Out->Timestamp;
  for (size_t Off = 40; Off < Size;) {
    ck_assert_msg(Size - Off >= 16, "%s: %zu bytes after the last record", Path, Size - Off);
    if (Out->NumRecords == Cap) {
      orcrt_jd_record *Bigger = calloc(Cap * 2, sizeof(*Bigger));
      ck_assert_ptr_nonnull(Bigger);
      memcpy(Bigger, Out->Records, Cap * sizeof(*Bigger));
      Out->Records = orcrt_test_keep(Bigger); /* the old one is freed with the rest */
      Cap *= 2;
    }
    orcrt_jd_record *R = &Out->Records[Out->NumRecords++];
    cursor C = {Data + Off, Data + Size, Off};
    R->Offset = Off;
    R->Id = take32(&C);
    R->TotalSize = take32(&C);
    R->Timestamp = take64(&C);
    ck_assert_msg(R->TotalSize >= 16 && R->TotalSize <= Size - Off,
                  "%s: record at %zu has total_size %u of %zu bytes left", Path, Off, R->TotalSize,
                  Size - Off);
    ck_assert_msg(R->Timestamp >= LastTime, "%s: record at %zu goes back in time", Path, Off);
    LastTime = R->Timestamp;
    C.End = Data + Off + R->TotalSize;
    read_record(&C, R);
    Off += R->TotalSize;
  }
}

const char *orcrt_jd_find(const char *Dir, long *Pid) {
  const char *Jit = orcrt_test_format("%s/.debug/jit", Dir);
  struct stat St;
  if (stat(orcrt_test_format("%s/.debug", Dir), &St) != 0)
    return NULL;
  DIR *D = opendir(Jit);
  ck_assert_msg(D != NULL, "%s is missing", Jit);
  const char *Found = NULL;
  struct dirent *E;
  while ((E = readdir(D))) {
    if (E->d_name[0] == '.')
      continue;
    const char *Sub = orcrt_test_format("%s/%s", Jit, E->d_name);
    DIR *SD = opendir(Sub);
    ck_assert_msg(SD != NULL, "%s is not a directory", Sub);
    struct dirent *F;
    while ((F = readdir(SD))) {
      if (F->d_name[0] == '.')
        continue;
      char *End = NULL;
      long P = strncmp(F->d_name, "jit-", 4) == 0 ? strtol(F->d_name + 4, &End, 10) : 0;
      ck_assert_msg(End && End != F->d_name + 4 && strcmp(End, ".dump") == 0,
                    "%s/%s is no jit-<pid>.dump", Sub, F->d_name);
      ck_assert_msg(!Found, "two dumps: %s and %s/%s", Found, Sub, F->d_name);
      Found = orcrt_test_format("%s/%s", Sub, F->d_name);
      *Pid = P;
    }
    closedir(SD);
  }
  closedir(D);
  ck_assert_msg(Found != NULL, "no dump under %s", Jit);
  return Found;
}

size_t orcrt_jd_next(const orcrt_jd *D, size_t From, uint32_t Id) {
  while (From < D->NumRecords && D->Records[From].Id != Id)
    From++;
  return From;
}

const orcrt_jd_record *orcrt_jd_code_load(const orcrt_jd *D, const char *Name) {
  for (size_t I = 0; I < D->NumRecords; I++)
    if (D->Records[I].Id == ORCRT_JD_CODE_LOAD && strcmp(D->Records[I].Name, Name) == 0)
      return &D->Records[I];
  ck_abort_msg("the dump has no code load of %s", Name);
  return NULL;
}

/*
 * fuzz-replay.c - every fuzzer on its seeds and its regression inputs, as a
 * test of make check (TAP on stdout)
 *
 * For each fuzzer NAME, the files in contrib/fuzz/seeds/NAME and
 * contrib/fuzz/regressions/NAME of the source tree ($ORCRT_TOP_SRCDIR, else
 * $srcdir, else ".") are passed to it one at a time, in name order. A
 * finding aborts the program, which fails the test; otherwise each input is
 * a passing test point. Files named on the command line as NAME:PATH are
 * replayed instead.
 */
#include "config.h"

#include "fuzz-util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *Name;
  int (*Fn)(const uint8_t *, size_t);
} Fuzzers[] = {
    {"frames", orcrt_fuzz_frames},
    {"sps", orcrt_fuzz_sps},
    {"wrappers", orcrt_fuzz_wrappers},
    {"setup", orcrt_fuzz_setup},
};
#define NUM_FUZZERS (sizeof(Fuzzers) / sizeof(Fuzzers[0]))

static const char *const Kinds[] = {"seeds", "regressions"};

/* The whole file at Path (malloc()ed), or NULL. */
static uint8_t *slurp(const char *Path, size_t *Size) {
  FILE *F = fopen(Path, "rb");
  if (!F)
    return NULL;
  uint8_t *Data = NULL;
  size_t N = 0, Cap = 0;
  for (;;) {
    if (Cap - N < 4096) {
      Cap = Cap ? Cap * 2 : 65536;
      uint8_t *P = realloc(Data, Cap);
      if (!P) {
        free(Data);
        fclose(F);
        return NULL;
      }
      Data = P;
    }
    size_t R = fread(Data + N, 1, Cap - N, F);
    N += R;
    if (R == 0)
      break;
  }
  bool Failed = ferror(F);
  fclose(F);
  if (Failed) {
    free(Data);
    return NULL;
  }
  *Size = N;
  return Data;
}

static int by_name(const void *A, const void *B) {
  return strcmp(*(char *const *)A, *(char *const *)B);
}

/* The regular files of Dir, sorted (a NULL-terminated malloc()ed array). */
static char **list_dir(const char *Dir, size_t *Count) {
  char **Names = NULL;
  size_t N = 0;
  DIR *D = opendir(Dir);
  *Count = 0;
  if (!D)
    return NULL;
  struct dirent *E;
  while ((E = readdir(D))) {
    if (E->d_name[0] == '.')
      continue;
    char **P = realloc(Names, (N + 2) * sizeof(*Names));
    if (!P)
      break;
    Names = P;
    Names[N++] = strdup(E->d_name);
    Names[N] = NULL;
  }
  closedir(D);
  if (Names)
    qsort(Names, N, sizeof(*Names), by_name);
  *Count = N;
  return Names;
}

static void free_list(char **Names) {
  for (size_t I = 0; Names && Names[I]; I++)
    free(Names[I]);
  free(Names);
}

static int replay(int (*Fn)(const uint8_t *, size_t), const char *Path) {
  size_t Size = 0;
  uint8_t *Data = slurp(Path, &Size);
  if (!Data)
    return -1;
  Fn(Data, Size);
  free(Data);
  return 0;
}

int main(int Argc, char **Argv) {
  const char *Top = getenv("ORCRT_TOP_SRCDIR");
  if (!Top || !*Top)
    Top = getenv("srcdir");
  if (!Top || !*Top)
    Top = ".";
  unsigned Failed = 0, Point = 0;

  if (Argc > 1) {
    printf("1..%d\n", Argc - 1);
    for (int A = 1; A < Argc; A++) {
      const char *Colon = strchr(Argv[A], ':');
      size_t F = 0;
      while (Colon && F < NUM_FUZZERS &&
             (strlen(Fuzzers[F].Name) != (size_t)(Colon - Argv[A]) ||
              strncmp(Fuzzers[F].Name, Argv[A], (size_t)(Colon - Argv[A])) != 0))
        F++;
      bool Ok = Colon && F < NUM_FUZZERS && replay(Fuzzers[F].Fn, Colon + 1) == 0;
      printf("%s %u - %s\n", Ok ? "ok" : "not ok", ++Point, Argv[A]);
      Failed += !Ok;
    }
    return Failed ? EXIT_FAILURE : EXIT_SUCCESS;
  }

  size_t Total = 0;
  for (size_t F = 0; F < NUM_FUZZERS; F++)
    for (size_t K = 0; K < 2; K++) {
      char Dir[4096];
      size_t Count;
      snprintf(Dir, sizeof(Dir), "%s/contrib/fuzz/%s/%s", Top, Kinds[K], Fuzzers[F].Name);
      free_list(list_dir(Dir, &Count));
      Total += Count;
    }
  if (Total == 0) {
    printf("1..0 # SKIP no inputs under %s/contrib/fuzz\n", Top);
    return EXIT_SUCCESS;
  }
  printf("1..%zu\n", Total);
  fflush(stdout);
  for (size_t F = 0; F < NUM_FUZZERS; F++)
    for (size_t K = 0; K < 2; K++) {
      char Dir[4096], Path[8192];
      size_t Count;
      snprintf(Dir, sizeof(Dir), "%s/contrib/fuzz/%s/%s", Top, Kinds[K], Fuzzers[F].Name);
      char **Names = list_dir(Dir, &Count);
      for (size_t I = 0; I < Count; I++) {
        snprintf(Path, sizeof(Path), "%s/%s", Dir, Names[I]);
        bool Ok = replay(Fuzzers[F].Fn, Path) == 0;
        printf("%s %u - fuzz-%s %s/%s%s\n", Ok ? "ok" : "not ok", ++Point, Fuzzers[F].Name,
               Kinds[K], Names[I], Ok ? "" : ": cannot read it");
        fflush(stdout);
        Failed += !Ok;
      }
      free_list(Names);
    }
  return Failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * sandbox.c - orcrt-executor's sandbox options and their environment twins
 * (see sandbox.h; the policy itself is the library's, src/sandbox.c)
 *
 * Misconfiguration fails closed: a path that does not exist, a bad size,
 * an unknown mode, or a sandbox option without the sandbox is a usage
 * error, never a warning.
 */
#include "config.h"

#include "sandbox.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --max-cpu and --timeout: the largest accepted, in seconds (a year). */
#define MAX_SECONDS 31536000L

static char *format(const char *Fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *Fmt, ...) {
  va_list Ap;
  char *S = NULL;
  va_start(Ap, Fmt);
  if (vasprintf(&S, Fmt, Ap) < 0)
    S = NULL;
  va_end(Ap);
  return S ? S : strdup("out of memory");
}

void sandbox_settings_init(struct sandbox_settings *S) {
  memset(S, 0, sizeof(*S));
  orc_rt_SandboxOptions_init(&S->Opts);
  S->Opts.ProgramName = "orcrt-executor";
}

static bool parse_mode(const char *Text, struct sandbox_settings *S) {
  if (!Text || strcmp(Text, "1") == 0 || strcmp(Text, "strict") == 0) {
    S->On = true;
    S->Opts.Mode = orc_rt_SandboxMode_Strict;
  } else if (strcmp(Text, "best-effort") == 0) {
    S->On = true;
    S->Opts.Mode = orc_rt_SandboxMode_BestEffort;
  } else if (strcmp(Text, "0") == 0) {
    S->On = false;
  } else {
    return false;
  }
  return true;
}

/* A decimal number at the start of Text, with *End after it; false if there is none. */
static bool parse_leading(const char *Text, unsigned long long *V, char **End) {
  if (*Text < '0' || *Text > '9')
    return false;
  errno = 0;
  *V = strtoull(Text, End, 10);
  return errno == 0;
}

/* SIZE: bytes, or with a K, M or G suffix (powers of 1024); 0: no limit. */
static bool parse_size(const char *Text, uint64_t *Out) {
  static const char Suffixes[] = "KMG";
  unsigned long long V;
  char *End;
  unsigned Shift = 0;
  if (!parse_leading(Text, &V, &End))
    return false;
  const char *Suffix = *End ? strchr(Suffixes, *End & ~0x20) : NULL;
  if (Suffix) {
    Shift = 10 * (unsigned)(Suffix - Suffixes + 1);
    End++;
  }
  if (*End || V > (UINT64_MAX >> Shift))
    return false;
  *Out = (uint64_t)V << Shift;
  return true;
}

static bool parse_seconds(const char *Text, unsigned *Out) {
  unsigned long long V;
  char *End;
  if (!parse_leading(Text, &V, &End) || *End || V > MAX_SECONDS)
    return false;
  *Out = (unsigned)V;
  return true;
}

/* Add Path to *List, which must name something that exists. */
static char *add_path(char ***List, size_t *N, const char *Path, const char *What) {
  struct stat St;
  if (!*Path || stat(Path, &St) < 0)
    return format("invalid %s path '%s' (%s)", What, Path, *Path ? strerror(errno) : "empty");
  char **L = realloc(*List, (*N + 1) * sizeof(*L));
  if (!L || !(L[*N] = strdup(Path))) {
    if (L)
      *List = L;
    return format("out of memory");
  }
  *List = L;
  (*N)++;
  return NULL;
}

static char *add_paths(char ***List, size_t *N, const char *Paths, const char *What) {
  char *Copy = strdup(Paths), *Save = NULL, *Why = NULL;
  if (!Copy)
    return format("out of memory");
  for (char *P = strtok_r(Copy, ":", &Save); P && !Why; P = strtok_r(NULL, ":", &Save))
    Why = add_path(List, N, P, What);
  free(Copy);
  return Why;
}

/* One option's value; Name is how the user wrote it, for the message. */
static char *parse(struct sandbox_settings *S, int Code, const char *Arg, const char *Name) {
  switch (Code) {
  case OPT_SANDBOX:
    if (!parse_mode(Arg, S))
      return format("invalid %s '%s' (expected strict, best-effort, 1 or 0)", Name, Arg);
    break;
  case OPT_ALLOW_READ:
    return add_paths(&S->Read, &S->NumRead, Arg, Name);
  case OPT_ALLOW_WRITE:
    return add_paths(&S->Write, &S->NumWrite, Arg, Name);
  case OPT_ALLOW_NET:
    if (Arg && strcmp(Arg, "1") != 0 && strcmp(Arg, "0") != 0)
      return format("invalid %s '%s' (expected 1 or 0)", Name, Arg);
    S->Opts.AllowNet = !Arg || strcmp(Arg, "1") == 0;
    break;
  case OPT_MAX_MEMORY:
    if (!parse_size(Arg, &S->Opts.MaxMemory))
      return format("invalid %s '%s' (expected a size in bytes, with K, M or G, or 0)", Name, Arg);
    break;
  case OPT_MAX_CPU:
    if (!parse_seconds(Arg, &S->Opts.MaxCpuS))
      return format("invalid %s '%s' (expected 0 to %ld seconds)", Name, Arg, MAX_SECONDS);
    break;
  case OPT_TIMEOUT:
    if (!parse_seconds(Arg, &S->Opts.TimeoutS))
      return format("invalid %s '%s' (expected 0 to %ld seconds)", Name, Arg, MAX_SECONDS);
    break;
  default:
    return format("unknown sandbox option %d", Code);
  }
  return NULL;
}

static const struct {
  int Code;
  const char *Option, *Env;
} Names[] = {
    {OPT_SANDBOX, "--sandbox", "ORCRT_SANDBOX"},
    {OPT_ALLOW_READ, "--allow-read", "ORCRT_ALLOW_READ"},
    {OPT_ALLOW_WRITE, "--allow-write", "ORCRT_ALLOW_WRITE"},
    {OPT_ALLOW_NET, "--allow-net", "ORCRT_ALLOW_NET"},
    {OPT_MAX_MEMORY, "--max-memory", "ORCRT_MAX_MEMORY"},
    {OPT_MAX_CPU, "--max-cpu", "ORCRT_MAX_CPU"},
    {OPT_TIMEOUT, "--timeout", "ORCRT_TIMEOUT"},
};

#define NUM_NAMES (sizeof(Names) / sizeof(Names[0]))

char *sandbox_parse_option(struct sandbox_settings *S, int Code, const char *Arg) {
  for (size_t I = 0; I < NUM_NAMES; I++)
    if (Names[I].Code == Code) {
      S->Given |= 1u << I;
      /* --allow-read and --allow-write take one path each: PATH may hold a colon. */
      if (Code == OPT_ALLOW_READ)
        return add_path(&S->Read, &S->NumRead, Arg, Names[I].Option);
      if (Code == OPT_ALLOW_WRITE)
        return add_path(&S->Write, &S->NumWrite, Arg, Names[I].Option);
      return parse(S, Code, Arg, Names[I].Option);
    }
  return format("unknown sandbox option %d", Code);
}

char *sandbox_parse_environment(struct sandbox_settings *S) {
  for (size_t I = 0; I < NUM_NAMES; I++) {
    const char *Env = getenv(Names[I].Env);
    char *Why;
    if (!Env || (S->Given & (1u << I)))
      continue;
    if (Names[I].Code == OPT_ALLOW_NET && strcmp(Env, "") == 0)
      continue;
    if ((Why = parse(S, Names[I].Code, Env, Names[I].Env)))
      return Why;
    if (Names[I].Code != OPT_SANDBOX)
      S->Given |= 1u << I;
  }
  return NULL;
}

char *sandbox_check(const struct sandbox_settings *S) {
  if (S->On)
    return NULL;
  for (size_t I = 1; I < NUM_NAMES; I++)
    if (S->Given & (1u << I))
      return format("%s (%s) needs the sandbox: add --sandbox (ORCRT_SANDBOX=1)", Names[I].Option,
                    Names[I].Env);
  return NULL;
}

char *sandbox_enter(const struct sandbox_settings *S, char **Warning) {
  orc_rt_SandboxOptions O = S->Opts;
  orc_rt_ErrorRef Unenforced = NULL;
  *Warning = NULL;
  if (!S->On)
    return NULL;
  O.ReadPaths = (const char *const *)S->Read;
  O.NumReadPaths = S->NumRead;
  O.WritePaths = (const char *const *)S->Write;
  O.NumWritePaths = S->NumWrite;
  orc_rt_ErrorRef Err = orc_rt_Sandbox_enter(&O, &Unenforced);
  if (Unenforced)
    *Warning = orc_rt_Error_toString(Unenforced);
  return Err ? orc_rt_Error_toString(Err) : NULL;
}

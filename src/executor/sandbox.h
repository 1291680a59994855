/*
 * sandbox.h - orcrt-executor's sandbox options (--sandbox, --allow-*,
 * --max-*, --timeout and their ORCRT_* twins) and the one call that applies
 * them (orc_rt_Sandbox_enter(), see orcrt/sandbox.h)
 */
#ifndef ORCRT_EXECUTOR_SANDBOX_H
#define ORCRT_EXECUTOR_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include <orcrt/sandbox.h>

/* getopt_long codes of the options, above main.c's own. */
enum {
  OPT_SANDBOX = 512,
  OPT_ALLOW_READ,
  OPT_ALLOW_WRITE,
  OPT_ALLOW_NET,
  OPT_MAX_MEMORY,
  OPT_MAX_CPU,
  OPT_TIMEOUT,
};

/* The long options, for main.c's table: as many entries as SANDBOX_NUM_OPTIONS. */
#define SANDBOX_NUM_OPTIONS 7
#define SANDBOX_LONG_OPTIONS                                                                       \
  {"sandbox", optional_argument, NULL, OPT_SANDBOX},                                               \
      {"allow-read", required_argument, NULL, OPT_ALLOW_READ},                                     \
      {"allow-write", required_argument, NULL, OPT_ALLOW_WRITE},                                   \
      {"allow-net", no_argument, NULL, OPT_ALLOW_NET},                                             \
      {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},                                     \
      {"max-cpu", required_argument, NULL, OPT_MAX_CPU}, {                                         \
    "timeout", required_argument, NULL, OPT_TIMEOUT                                                \
  }

struct sandbox_settings {
  bool On;
  orc_rt_SandboxOptions Opts;
  /* Owned copies of the paths (Opts.ReadPaths and WritePaths point here). */
  char **Read, **Write;
  size_t NumRead, NumWrite;
  /* Which options the command line gave (the environment does not override them). */
  unsigned Given;
};

void sandbox_settings_init(struct sandbox_settings *S);

/*
 * One sandbox option from the command line (Code, Arg: getopt_long's), or,
 * after them, each ORCRT_* variable the command line did not set
 * (sandbox_parse_environment()). Both return NULL or a usage message to
 * free; so does sandbox_check(), which refuses options without --sandbox.
 */
char *sandbox_parse_option(struct sandbox_settings *S, int Code, const char *Arg);
char *sandbox_parse_environment(struct sandbox_settings *S);
char *sandbox_check(const struct sandbox_settings *S);

/*
 * Enter the sandbox if it is on. Returns NULL, or why it could not (to
 * free); in best-effort mode sets *Warning (to free) to what is not
 * enforced, else NULL.
 */
char *sandbox_enter(const struct sandbox_settings *S, char **Warning);

#endif /* ORCRT_EXECUTOR_SANDBOX_H */

/*
 * log.c - formatting and routing a Session's diagnostics
 */
#include "orcrt-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *Name;
  orc_rt_LogLevel Level;
} LevelNames[] = {
    {"error", orc_rt_LogLevel_Error},
    {"warning", orc_rt_LogLevel_Warning},
    {"info", orc_rt_LogLevel_Info},
    {"debug", orc_rt_LogLevel_Debug},
};

static const char *level_name(orc_rt_LogLevel Level) {
  for (size_t I = 0; I < ORCRT_ARRAY_SIZE(LevelNames); I++)
    if (LevelNames[I].Level == Level)
      return LevelNames[I].Name;
  return "log";
}

ORC_RT_EXPORT bool orc_rt_LogLevel_fromString(const char *Str, orc_rt_LogLevel *Out) {
  if (!Str)
    return false;
  for (size_t I = 0; I < ORCRT_ARRAY_SIZE(LevelNames); I++) {
    char Num[4];
    snprintf(Num, sizeof(Num), "%d", (int)LevelNames[I].Level);
    if (strcmp(Str, LevelNames[I].Name) == 0 || strcmp(Str, Num) == 0) {
      *Out = LevelNames[I].Level;
      return true;
    }
  }
  return false;
}

static void log_to_stderr(void *Ctx, orc_rt_LogLevel Level, const char *Msg) {
  (void)Ctx;
  fprintf(stderr, "orcrt: %s: %s\n", level_name(Level), Msg);
}

void orcrt_log_init(struct orcrt_log *L) {
  orc_rt_LogLevel Level = orc_rt_LogLevel_Error;
  /* An unparsable ORCRT_LOG leaves the default: the log cannot report it. */
  orc_rt_LogLevel_fromString(getenv("ORCRT_LOG"), &Level);
  L->Fn = log_to_stderr;
  L->Ctx = NULL;
  atomic_init(&L->Level, (int)Level);
}

void orcrt_log_vprintf(struct orcrt_log *L, orc_rt_LogLevel Level, const char *Fmt, va_list Ap) {
  if ((int)Level > atomic_load_explicit(&L->Level, memory_order_relaxed))
    return;
  char Buf[1024];
  vsnprintf(Buf, sizeof(Buf), Fmt, Ap);
  L->Fn(L->Ctx, Level, Buf);
}

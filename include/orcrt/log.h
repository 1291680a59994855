/*
 * orcrt/log.h - the Session's log
 *
 * orcrt never prints on its own: every diagnostic goes to the log function
 * of the Session it concerns. The default function writes
 * "orcrt: <level>: <message>" lines to stderr. The default level is
 * orc_rt_LogLevel_Error, or what the ORCRT_LOG environment variable names when the
 * Session is created ("error", "warning", "info", "debug", or 3, 4, 6, 7).
 */
#ifndef ORCRT_LOG_H
#define ORCRT_LOG_H

#include <orcrt/wrapper-function.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Log levels, numbered as syslog's priorities. */
typedef enum {
  orc_rt_LogLevel_Error = 3,
  orc_rt_LogLevel_Warning = 4,
  orc_rt_LogLevel_Info = 6,
  orc_rt_LogLevel_Debug = 7,
} orc_rt_LogLevel;

/**
 * A log function. Called from any thread, possibly concurrently; Msg is
 * borrowed for the call and has no trailing newline.
 */
typedef void (*orc_rt_LogFn)(void *Ctx, orc_rt_LogLevel Level, const char *Msg);

/**
 * Send S's messages at or below its level to Fn(Ctx, ...) instead; NULL Fn
 * restores the default. Call before S is attached (the log is read without
 * locking afterwards).
 */
void orc_rt_Session_setLogFn(orc_rt_SessionRef S, orc_rt_LogFn Fn, void *Ctx);

/** Set the most verbose level S logs. Any thread. */
void orc_rt_Session_setLogLevel(orc_rt_SessionRef S, orc_rt_LogLevel Level);

/** The most verbose level S logs. */
orc_rt_LogLevel orc_rt_Session_getLogLevel(orc_rt_SessionRef S);

/**
 * Parse a level name or number ("error", "warning", "info", "debug", "3",
 * ...). Returns true and stores it in *Out on success.
 */
bool orc_rt_LogLevel_fromString(const char *Str, orc_rt_LogLevel *Out);

/** Log a message on S at Level (if S logs at that level). Any thread. */
void orc_rt_Session_log(orc_rt_SessionRef S, orc_rt_LogLevel Level, const char *Fmt, ...)
    ORC_RT_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_LOG_H */

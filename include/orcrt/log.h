/*
 * orcrt/log.h - the Session's log
 *
 * orcrt never prints on its own: every diagnostic goes to the log function
 * of the Session it concerns. The default function writes
 * "orcrt: <level>: <message>" lines to stderr. The default level is
 * orc_rt_LogLevel_Error, or what the ORCRT_LOG environment variable names when the
 * Session is created ("error", "warning", "info", "debug", or 3, 4, 6, 7).
 *
 * At orc_rt_LogLevel_Debug the Session traces its calls: one message for
 * each call once answered (wrapper name, arguments, result, time), one for
 * each call to the controller, and a summary at shutdown. A call answered
 * with an error is logged at orc_rt_LogLevel_Warning with its message, or
 * at orc_rt_LogLevel_Error if the Session could not run it at all. The
 * level is read once per call; below debug nothing is traced, and below
 * warning no result is examined (orc_rt_Session(3) has the details).
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
 * Parse a level name or number ("error", "warning", "info", "debug", "3",
 * ...). Returns true and stores it in *Out on success.
 */
bool orc_rt_LogLevel_fromString(const char *Str, orc_rt_LogLevel *Out);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_LOG_H */

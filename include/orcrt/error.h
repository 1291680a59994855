/*
 * orcrt/error.h - errors that carry a message
 *
 * Every fallible orcrt function returns an orc_rt_ErrorRef: NULL means
 * success, anything else is an error the caller now owns and must consume
 * exactly once, with orc_rt_Error_consume() or orc_rt_Error_toString(), or by
 * passing it to a function documented as taking ownership.
 */
#ifndef ORCRT_ERROR_H
#define ORCRT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/** An error. NULL is success. */
typedef struct orc_rt_OpaqueError *orc_rt_ErrorRef;

#if defined(__GNUC__)
#define ORC_RT_PRINTF(Fmt, Args) __attribute__((format(printf, Fmt, Args)))
#else
#define ORC_RT_PRINTF(Fmt, Args)
#endif

/**
 * Create an error whose message is formatted from Fmt.
 *
 * Never returns NULL: if memory runs out, a shared error saying so is
 * returned instead (consuming it is still required and harmless).
 * Any thread.
 */
orc_rt_ErrorRef orc_rt_Error_create(const char *Fmt, ...) ORC_RT_PRINTF(1, 2);

/**
 * Create an error "<formatted message>: <strerror(Errnum)>".
 * Same contract as orc_rt_Error_create().
 */
orc_rt_ErrorRef orc_rt_Error_fromErrno(int Errnum, const char *Fmt, ...)
    ORC_RT_PRINTF(2, 3);

/**
 * The message of E (never NULL for a non-NULL E). The string belongs to E and
 * lives until E is consumed.
 */
const char *orc_rt_Error_getMessage(orc_rt_ErrorRef E);

/**
 * Consume E and return its message as a string the caller must free().
 * Returns NULL if E is NULL or if memory runs out (E is consumed either way).
 */
char *orc_rt_Error_toString(orc_rt_ErrorRef E);

/** Consume E. NULL is accepted and ignored. */
void orc_rt_Error_consume(orc_rt_ErrorRef E);

/**
 * Combine two errors into one whose message is "A; B", consuming both.
 * Either may be NULL; if both are, returns NULL.
 */
orc_rt_ErrorRef orc_rt_Error_join(orc_rt_ErrorRef A, orc_rt_ErrorRef B);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_ERROR_H */

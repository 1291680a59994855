/*
 * error.c - errors that carry a message
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orcrt/error.h>

struct orc_rt_OpaqueError {
  char Msg[1]; /* NUL-terminated, allocated to fit */
};

/*
 * Returned when the message itself cannot be allocated. It is never freed,
 * so every function below recognises it.
 */
static struct {
  char Msg[sizeof("out of memory")];
} OutOfMemory = {"out of memory"};
#define OOM_ERROR ((orc_rt_ErrorRef)(void *)&OutOfMemory)

static orc_rt_ErrorRef error_vcreate(const char *Suffix, const char *Fmt, va_list Ap)
    ORC_RT_PRINTF(2, 0);

static orc_rt_ErrorRef error_vcreate(const char *Suffix, const char *Fmt, va_list Ap) {
  va_list Ap2;
  va_copy(Ap2, Ap);
  int N = vsnprintf(NULL, 0, Fmt, Ap2);
  va_end(Ap2);
  if (N < 0)
    return orc_rt_Error_create("unformattable error message");
  size_t SuffixLen = Suffix ? strlen(Suffix) + 2 : 0;
  orc_rt_ErrorRef E = malloc(sizeof(*E) + (size_t)N + SuffixLen);
  if (!E)
    return OOM_ERROR;
  vsnprintf(E->Msg, (size_t)N + 1, Fmt, Ap);
  if (Suffix) {
    memcpy(E->Msg + N, ": ", 2);
    memcpy(E->Msg + N + 2, Suffix, SuffixLen - 2 + 1);
  }
  return E;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Error_create(const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  orc_rt_ErrorRef E = error_vcreate(NULL, Fmt, Ap);
  va_end(Ap);
  return E;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Error_fromErrno(int Errnum, const char *Fmt, ...) {
  char Buf[256];
  /* GNU strerror_r may return a static string instead of filling Buf. */
  const char *Text = strerror_r(Errnum, Buf, sizeof(Buf));
  va_list Ap;
  va_start(Ap, Fmt);
  orc_rt_ErrorRef E = error_vcreate(Text, Fmt, Ap);
  va_end(Ap);
  return E;
}

ORC_RT_EXPORT const char *orc_rt_Error_getMessage(orc_rt_ErrorRef E) {
  return E ? E->Msg : NULL;
}

ORC_RT_EXPORT char *orc_rt_Error_toString(orc_rt_ErrorRef E) {
  if (!E)
    return NULL;
  char *S = strdup(E->Msg);
  orc_rt_Error_consume(E);
  return S;
}

ORC_RT_EXPORT void orc_rt_Error_consume(orc_rt_ErrorRef E) {
  if (E != OOM_ERROR)
    free(E);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Error_join(orc_rt_ErrorRef A, orc_rt_ErrorRef B) {
  if (!A)
    return B;
  if (!B)
    return A;
  orc_rt_ErrorRef E = orc_rt_Error_create("%s; %s", A->Msg, B->Msg);
  orc_rt_Error_consume(A);
  orc_rt_Error_consume(B);
  return E;
}

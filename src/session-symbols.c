/*
 * session-symbols.c - what the Session offers the controller to call: the
 * bootstrap symbols, the set of wrapper functions (the asynchronous ABI)
 * and its subset of short wrappers; upstream's BootstrapInfo
 *
 * Locks: everything here is under S->Lock (session-private.h), and fixed
 * from attach on.
 */
#include "session-private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static bool has_symbol_locked(orc_rt_SessionRef S, const char *Name) {
  for (size_t I = 0; I < S->Symbols.Len; I++)
    if (strcmp(S->Symbols.Items[I].Name, Name) == 0)
      return true;
  return false;
}

struct session_wrapper *orcrt_session_find_wrapper_locked(orc_rt_SessionRef S,
                                                          orc_rt_ExecutorAddr Addr) {
  size_t At;
  return ORCRT_ARRAY_FIND_BY(&S->Wrappers, Addr, Addr, &At) ? &S->Wrappers.Items[At] : NULL;
}

struct session_wrapper *orcrt_session_find_described_locked(orc_rt_SessionRef S,
                                                            orc_rt_ExecutorAddr Addr) {
  size_t At;
  return S->Described.Len && ORCRT_ARRAY_FIND_BY(&S->Described, Addr, Addr, &At)
             ? &S->Described.Items[At]
             : NULL;
}

bool orcrt_session_is_wrapper_locked(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  return orcrt_session_find_wrapper_locked(S, Addr) != NULL;
}

bool orcrt_session_is_short_locked(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  size_t At;
  return S->ShortWrappers.Len && ORCRT_ARRAY_FIND(&S->ShortWrappers, Addr, &At);
}

void orcrt_session_symbols_free(orc_rt_SessionRef S) {
  for (size_t I = 0; I < S->Symbols.Len; I++)
    free((char *)S->Symbols.Items[I].Name);
  ORCRT_ARRAY_FREE(&S->Symbols);
  ORCRT_ARRAY_FREE(&S->Wrappers);
  ORCRT_ARRAY_FREE(&S->Described);
  ORCRT_ARRAY_FREE(&S->ShortWrappers);
}

/*
 * Add Name (may be NULL) as a bootstrap symbol at Addr and, if IsWrapper,
 * Addr to the wrapper set; all or nothing.
 */
static orc_rt_ErrorRef add_symbol(orc_rt_SessionRef S, const char *Name, orc_rt_ExecutorAddr Addr,
                                  bool IsWrapper) {
  orc_rt_ErrorRef Err = NULL;
  char *Copy = NULL;
  if (Name && !(Copy = strdup(Name)))
    return orc_rt_Error_create("cannot add bootstrap symbol \"%s\": out of memory", Name);
  session_lock(S);
  if (session_frozen_locked(S)) {
    Err = orc_rt_Error_create("cannot add %s \"%s\": the session has been attached",
                              IsWrapper ? "wrapper function" : "bootstrap symbol",
                              Name ? Name : "(unnamed)");
    goto fail;
  }
  if (Name && has_symbol_locked(S, Name)) {
    Err = orc_rt_Error_create("duplicate bootstrap symbol \"%s\"", Name);
    goto fail;
  }
  /* Room for both first, so that neither changes if the other cannot. */
  if ((Name && !ORCRT_ARRAY_RESERVE(&S->Symbols, S->Symbols.Len + 1)) ||
      (IsWrapper && !ORCRT_ARRAY_RESERVE(&S->Wrappers, S->Wrappers.Len + 1))) {
    Err = orc_rt_Error_create("cannot add \"%s\": out of memory", Name ? Name : "(unnamed)");
    goto fail;
  }
  if (Name) {
    orc_rt_BootstrapSymbol Sym = {.Name = Copy, .Addr = Addr};
    ORCRT_ARRAY_PUSH(&S->Symbols, &Sym); /* cannot fail: reserved */
  }
  if (IsWrapper) {
    struct session_wrapper W = {.Addr = Addr, .Name = Copy};
    struct session_wrapper *Old = orcrt_session_find_wrapper_locked(S, Addr);
    if (Old && !Old->Name)
      Old->Name = Copy; /* added again, now with a name */
    else
      ORCRT_ARRAY_INSERT_SORTED_BY(&S->Wrappers, Addr, &W); /* reserved, or present already */
  }
  session_unlock(S);
  return NULL;

fail:
  session_unlock(S);
  free(Copy);
  return Err;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_addBootstrapSymbol(orc_rt_SessionRef S,
                                                                const char *Name,
                                                                orc_rt_ExecutorAddr Addr) {
  if (!Name)
    return orc_rt_Error_create("bootstrap symbol without a name");
  return add_symbol(S, Name, Addr, false);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_addWrapperFunction(orc_rt_SessionRef S,
                                                                const char *Name,
                                                                orc_rt_WrapperFunction Fn) {
  if (!Fn)
    return orc_rt_Error_create("wrapper function \"%s\" is NULL", Name ? Name : "(unnamed)");
  return add_symbol(S, Name, (orc_rt_ExecutorAddr)(uintptr_t)Fn, true);
}

orc_rt_ErrorRef orcrt_session_mark_short(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn) {
  orc_rt_ExecutorAddr Addr = (orc_rt_ExecutorAddr)(uintptr_t)Fn;
  orc_rt_ErrorRef Err = NULL;
  session_lock(S);
  if (session_frozen_locked(S))
    Err =
        orc_rt_Error_create("cannot mark a wrapper function short: the session has been attached");
  else if (!orcrt_session_is_wrapper_locked(S, Addr))
    Err = orc_rt_Error_create(
        "cannot mark %#" PRIx64 " short: not a wrapper function of the session", Addr);
  else if (ORCRT_ARRAY_INSERT_SORTED(&S->ShortWrappers, &Addr) == ORCRT_ARRAY_NO_MEMORY)
    Err = orc_rt_Error_create("cannot mark a wrapper function short: out of memory");
  session_unlock(S);
  return Err;
}

orc_rt_ErrorRef orcrt_session_set_trace(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn,
                                        const struct orcrt_wrapper_trace *Trace) {
  orc_rt_ErrorRef Err = NULL;
  session_lock(S);
  struct session_wrapper *W =
      orcrt_session_find_wrapper_locked(S, (orc_rt_ExecutorAddr)(uintptr_t)Fn);
  if (session_frozen_locked(S))
    Err = orc_rt_Error_create("cannot describe a wrapper function: the session has been attached");
  else if (!W)
    Err = orc_rt_Error_create("cannot describe a function that is not a wrapper of the session");
  else
    W->Trace = Trace;
  session_unlock(S);
  return Err;
}

orc_rt_ErrorRef orcrt_session_describe_function(orc_rt_SessionRef S, const char *Name,
                                                orc_rt_ExecutorAddr Fn,
                                                const struct orcrt_wrapper_trace *Trace) {
  struct session_wrapper D = {.Addr = Fn, .Name = Name, .Trace = Trace, .ByAddress = true};
  orc_rt_ErrorRef Err = NULL;
  session_lock(S);
  if (session_frozen_locked(S))
    Err = orc_rt_Error_create("cannot describe %s: the session has been attached", Name);
  else if (ORCRT_ARRAY_INSERT_SORTED_BY(&S->Described, Addr, &D) == ORCRT_ARRAY_NO_MEMORY)
    Err = orc_rt_Error_create("cannot describe %s: out of memory", Name);
  session_unlock(S);
  return Err;
}

ORC_RT_EXPORT const orc_rt_BootstrapSymbol *orc_rt_Session_getBootstrapSymbols(orc_rt_SessionRef S,
                                                                               size_t *Count) {
  session_lock(S);
  const orc_rt_BootstrapSymbol *Symbols = S->Symbols.Items;
  *Count = S->Symbols.Len;
  session_unlock(S);
  return Symbols;
}

ORC_RT_EXPORT bool orc_rt_Session_isWrapperFunction(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn) {
  session_lock(S);
  bool Is = orcrt_session_is_wrapper_locked(S, Fn);
  session_unlock(S);
  return Is;
}

/*
 * session-symbols.c - what the Session offers the controller to call: the
 * bootstrap symbols, the set of wrapper functions (the asynchronous ABI)
 * and its subset of short wrappers; upstream's BootstrapInfo
 *
 * Locks: everything here is under S->Lock (session-private.h), and fixed
 * from attach on.
 */
#include "session-private.h"
#include "wire.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The Setup layouts a set of wires is read in: bit 0 the 3-field one, bit 1 the 4-field one. */
static unsigned layouts(unsigned Wires) {
  return (Wires & ORCRT_WIRE_LLVM14 ? 1u : 0u) | (Wires & ORCRT_WIRE_4FIELD ? 2u : 0u);
}

/*
 * The index of the symbol Name that a controller of one of Wires would see
 * next to another at Addr: the same name in a Setup layout of Wires. *Same
 * says whether it is at Addr. SIZE_MAX if there is none.
 */
static size_t clashing_symbol_locked(orc_rt_SessionRef S, const char *Name, unsigned Wires,
                                     orc_rt_ExecutorAddr Addr, bool *Same) {
  for (size_t I = 0; I < S->Symbols.Len; I++)
    if (strcmp(S->Symbols.Items[I].Name, Name) == 0 &&
        (layouts(S->SymbolWires.Items[I]) & layouts(Wires))) {
      *Same = S->Symbols.Items[I].Addr == Addr;
      return I;
    }
  return SIZE_MAX;
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
  ORCRT_ARRAY_FREE(&S->SymbolWires);
  ORCRT_ARRAY_FREE(&S->Wrappers);
  ORCRT_ARRAY_FREE(&S->Described);
  ORCRT_ARRAY_FREE(&S->ShortWrappers);
}

/*
 * Add Name (may be NULL) as a bootstrap symbol at Addr for the controllers
 * of Wires and, if IsWrapper, Addr to the wrapper set; all or nothing.
 */
static orc_rt_ErrorRef add_symbol(orc_rt_SessionRef S, unsigned Wires, const char *Name,
                                  orc_rt_ExecutorAddr Addr, bool IsWrapper) {
  orc_rt_ErrorRef Err = NULL;
  char *Copy = NULL;
  if (!Wires || (Wires & ~(unsigned)ORCRT_WIRE_ALL))
    return orc_rt_Error_create("cannot add \"%s\": no such wire %#x", Name ? Name : "(unnamed)",
                               Wires);
  if (Name && !(Copy = strdup(Name)))
    return orc_rt_Error_create("cannot add bootstrap symbol \"%s\": out of memory", Name);
  session_lock(S);
  if (session_frozen_locked(S)) {
    Err = orc_rt_Error_create("cannot add %s \"%s\": the session has been attached",
                              IsWrapper ? "wrapper function" : "bootstrap symbol",
                              Name ? Name : "(unnamed)");
    goto fail;
  }
  bool Same = false;
  size_t Clash = Name ? clashing_symbol_locked(S, Name, Wires, Addr, &Same) : SIZE_MAX;
  if (Clash != SIZE_MAX && !Same) {
    Err = orc_rt_Error_create("duplicate bootstrap symbol \"%s\"", Name);
    goto fail;
  }
  /* Room for everything first, so that nothing changes if something cannot. */
  bool NewSymbol = Name && Clash == SIZE_MAX;
  if ((NewSymbol && (!ORCRT_ARRAY_RESERVE(&S->Symbols, S->Symbols.Len + 1) ||
                     !ORCRT_ARRAY_RESERVE(&S->SymbolWires, S->SymbolWires.Len + 1))) ||
      (IsWrapper && !ORCRT_ARRAY_RESERVE(&S->Wrappers, S->Wrappers.Len + 1))) {
    Err = orc_rt_Error_create("cannot add \"%s\": out of memory", Name ? Name : "(unnamed)");
    goto fail;
  }
  const char *Stored = Copy;
  if (NewSymbol) {
    orc_rt_BootstrapSymbol Sym = {.Name = Copy, .Addr = Addr};
    ORCRT_ARRAY_PUSH(&S->Symbols, &Sym); /* cannot fail: reserved */
    ORCRT_ARRAY_PUSH(&S->SymbolWires, &Wires);
    Copy = NULL;
  } else if (Name) {
    /* The same name at the same address: it now serves these wires too. */
    S->SymbolWires.Items[Clash] |= Wires;
    Stored = S->Symbols.Items[Clash].Name;
  }
  if (IsWrapper) {
    struct session_wrapper W = {.Addr = Addr, .Name = Stored, .Wires = Wires};
    struct session_wrapper *Old = orcrt_session_find_wrapper_locked(S, Addr);
    if (Old) {
      if (!Old->Name)
        Old->Name = Stored; /* added again, now with a name */
      Old->Wires |= Wires;
    } else {
      ORCRT_ARRAY_INSERT_SORTED_BY(&S->Wrappers, Addr, &W); /* reserved */
    }
  }
  session_unlock(S);
  free(Copy);
  return NULL;

fail:
  session_unlock(S);
  free(Copy);
  return Err;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_addBootstrapSymbol(orc_rt_SessionRef S,
                                                                const char *Name,
                                                                orc_rt_ExecutorAddr Addr) {
  return orcrt_session_add_symbol_for(S, ORCRT_WIRE_ALL, Name, Addr);
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_addWrapperFunction(orc_rt_SessionRef S,
                                                                const char *Name,
                                                                orc_rt_WrapperFunction Fn) {
  return orcrt_session_add_wrapper_for(S, ORCRT_WIRE_ALL, Name, Fn);
}

orc_rt_ErrorRef orcrt_session_add_symbol_for(orc_rt_SessionRef S, unsigned Wires, const char *Name,
                                             orc_rt_ExecutorAddr Addr) {
  if (!Name)
    return orc_rt_Error_create("bootstrap symbol without a name");
  return add_symbol(S, Wires, Name, Addr, false);
}

orc_rt_ErrorRef orcrt_session_add_wrapper_for(orc_rt_SessionRef S, unsigned Wires, const char *Name,
                                              orc_rt_WrapperFunction Fn) {
  if (!Fn)
    return orc_rt_Error_create("wrapper function \"%s\" is NULL", Name ? Name : "(unnamed)");
  return add_symbol(S, Wires, Name, (orc_rt_ExecutorAddr)(uintptr_t)Fn, true);
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

/*
 * Give Fn, one of S's wrappers, its Trace or its Stream (whichever is not
 * NULL) before attach; What says what in an error.
 */
static orc_rt_ErrorRef set_wrapper_hook(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn,
                                        const char *What, const struct orcrt_wrapper_trace *Trace,
                                        orcrt_arg_stream_begin Stream) {
  orc_rt_ErrorRef Err = NULL;
  session_lock(S);
  struct session_wrapper *W =
      orcrt_session_find_wrapper_locked(S, (orc_rt_ExecutorAddr)(uintptr_t)Fn);
  if (session_frozen_locked(S))
    Err = orc_rt_Error_create("cannot %s: the session has been attached", What);
  else if (!W)
    Err = orc_rt_Error_create("cannot %s: not a wrapper function of the session", What);
  else if (Trace)
    W->Trace = Trace;
  else
    W->Stream = Stream;
  session_unlock(S);
  return Err;
}

orc_rt_ErrorRef orcrt_session_set_trace(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn,
                                        const struct orcrt_wrapper_trace *Trace) {
  return set_wrapper_hook(S, Fn, "describe a wrapper function's calls", Trace, NULL);
}

orc_rt_ErrorRef orcrt_session_set_stream(orc_rt_SessionRef S, orc_rt_WrapperFunction Fn,
                                         orcrt_arg_stream_begin Begin) {
  return set_wrapper_hook(S, Fn, "stream a wrapper function's arguments", NULL, Begin);
}

struct orcrt_arg_stream *orcrt_session_stream_call(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn,
                                                   size_t Size) {
  if (Size < ORCRT_ARG_STREAM_MIN)
    return NULL;
  session_lock(S);
  struct session_wrapper *W = orcrt_session_find_wrapper_locked(S, Fn);
  orcrt_arg_stream_begin Begin = W ? W->Stream : NULL;
  session_unlock(S);
  return Begin ? Begin(S, Size) : NULL;
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

const char *orcrt_session_name_of(orc_rt_SessionRef S, orc_rt_ExecutorAddr Addr) {
  const char *Name = NULL, *Other = NULL;
  session_lock(S);
  /* The controller's own name for it first, then the glue's, then any. */
  unsigned Wire = S->Wire ? S->Wire : orcrt_wire_of(S->Protocol);
  for (size_t I = 0; !Name && I < S->Symbols.Len; I++)
    if (S->Symbols.Items[I].Addr == Addr) {
      if (!Wire || (S->SymbolWires.Items[I] & Wire))
        Name = S->Symbols.Items[I].Name;
      else if (!Other)
        Other = S->Symbols.Items[I].Name;
    }
  struct session_wrapper *D = Name ? NULL : orcrt_session_find_described_locked(S, Addr);
  session_unlock(S);
  return Name ? Name : D ? D->Name : Other;
}

ORC_RT_EXPORT bool orc_rt_Session_isWrapperFunction(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn) {
  session_lock(S);
  bool Is = orcrt_session_is_wrapper_locked(S, Fn);
  session_unlock(S);
  return Is;
}

/*
 * setup.c - which LLVM release the Session serves: the Setup message each
 * wire's controllers read, and the wire the controller's calls show
 *
 * The executor speaks first, so the Setup must suit the controller before
 * it has said a word. LLVM 14-16 read a 3-field payload (triple, page size,
 * symbols), 19 and 22 a 4-field one (triple, page size, bootstrap map,
 * symbols). Under Auto one payload serves both (the "polyglot" Setup):
 *
 *   triple, page size, u64 N = 1 + the 14-16 symbols,
 *   "__orcrt_setup_pad", u64 L,   L bytes: the 14-16 symbols,
 *   N - 1 times ("orcrt-pad-I", u64 0),   u64 M, the M symbols of 19 and 22
 *
 * A 3-field reader takes N symbols: the pad (its "address" is L), then the
 * 14-16 symbols inside the L bytes, and ignores what follows. A 4-field
 * reader takes a bootstrap map of N entries: the pad, whose value is the
 * L bytes, then N - 1 empty ones, then the 19/22 symbols. LLVM ignores map
 * keys it does not know. The views differ in the wrappers whose semantics
 * differ (the lookup), so the first call to one of those says which layout
 * the controller read (orcrt_session_note_call()).
 */
#include "session-private.h"
#include "wire.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <orcrt/sps.h>

static const char PadKey[] = "__orcrt_setup_pad";

unsigned orcrt_wire_of(orc_rt_Protocol P) {
  switch (P) {
  case orc_rt_Protocol_LLVM14:
  case orc_rt_Protocol_LLVM15:
  case orc_rt_Protocol_LLVM16:
    return ORCRT_WIRE_LLVM14;
  case orc_rt_Protocol_LLVM19:
    return ORCRT_WIRE_LLVM19;
  case orc_rt_Protocol_LLVM22:
    return ORCRT_WIRE_LLVM22;
  case orc_rt_Protocol_Auto:
    break;
  }
  return 0;
}

const char *orcrt_wire_name(unsigned Wire) {
  switch (Wire) {
  case ORCRT_WIRE_LLVM14:
    return "LLVM 14-16";
  case ORCRT_WIRE_LLVM19:
    return "LLVM 19";
  case ORCRT_WIRE_LLVM22:
    return "LLVM 22";
  }
  return "an unknown LLVM";
}

static orc_rt_Protocol protocol_of_wire(unsigned Wire) {
  switch (Wire) {
  case ORCRT_WIRE_LLVM14:
    return orc_rt_Protocol_LLVM14;
  case ORCRT_WIRE_LLVM19:
    return orc_rt_Protocol_LLVM19;
  case ORCRT_WIRE_LLVM22:
    return orc_rt_Protocol_LLVM22;
  }
  return orc_rt_Protocol_Auto;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Session_setProtocol(orc_rt_SessionRef S, orc_rt_Protocol P) {
  if (P != orc_rt_Protocol_Auto && !orcrt_wire_of(P))
    return orc_rt_Error_create(
        "no such protocol: LLVM %d (orcrt serves LLVM 14, 15, 16, 19 and 22)", (int)P);
  orc_rt_ErrorRef Err = NULL;
  session_lock(S);
  if (session_frozen_locked(S))
    Err = orc_rt_Error_create("cannot set the protocol: the session has been attached");
  else
    S->Protocol = P;
  session_unlock(S);
  return Err;
}

ORC_RT_EXPORT orc_rt_Protocol orc_rt_Session_getProtocol(orc_rt_SessionRef S) {
  session_lock(S);
  orc_rt_Protocol P = S->Protocol != orc_rt_Protocol_Auto ? S->Protocol : protocol_of_wire(S->Wire);
  session_unlock(S);
  return P;
}

ORC_RT_EXPORT uint64_t orc_rt_Session_getCallCount(orc_rt_SessionRef S) {
  session_lock(S);
  uint64_t N = S->CallCount;
  session_unlock(S);
  return N;
}

void orcrt_session_note_call(orc_rt_SessionRef S, const struct session_wrapper *W) {
  unsigned Wire = 0;
  session_lock(S);
  S->CallCount++;
  /* A wrapper of one wire only: the first such call tells. */
  if (!S->Wire && W && !W->ByAddress && W->Wires && !(W->Wires & (W->Wires - 1)))
    Wire = S->Wire = W->Wires;
  session_unlock(S);
  if (Wire)
    orc_rt_Session_log(S, orc_rt_LogLevel_Info, "the controller speaks %s's wire (it called %s)",
                       orcrt_wire_name(Wire), W->Name ? W->Name : "an unnamed wrapper");
}

static uint64_t count_symbols_locked(orc_rt_SessionRef S, unsigned Wires) {
  uint64_t N = 0;
  for (size_t I = 0; I < S->Symbols.Len; I++)
    N += (S->SymbolWires.Items[I] & Wires) != 0;
  return N;
}

/* Append the symbols of S that controllers of Wires see, as a Sequence<(String, Addr)>. */
static void write_symbols_locked(orc_rt_SessionRef S, unsigned Wires, orc_rt_SPSWriter *W) {
  orc_rt_SPSWriter_seqCount(W, count_symbols_locked(S, Wires));
  for (size_t I = 0; I < S->Symbols.Len; I++)
    if (S->SymbolWires.Items[I] & Wires) {
      orc_rt_SPSWriter_string(W, S->Symbols.Items[I].Name);
      orc_rt_SPSWriter_addr(W, S->Symbols.Items[I].Addr);
    }
}

/* The polyglot payload after triple and page size (see the file header). */
static void write_polyglot_locked(orc_rt_SessionRef S, orc_rt_SPSWriter *W) {
  orc_rt_SPSWriter Old;
  orc_rt_SPSWriter_init(&Old);
  write_symbols_locked(S, ORCRT_WIRE_LLVM14, &Old);
  /* The 3-field symbols without their count: the pad's value. */
  bool OldOk = !orc_rt_SPSWriter_failed(&Old);
  const char *Entries = OldOk ? orc_rt_SPSWriter_data(&Old) + 8 : NULL;
  size_t EntriesSize = OldOk ? orc_rt_SPSWriter_size(&Old) - 8 : 0;
  uint64_t N = count_symbols_locked(S, ORCRT_WIRE_LLVM14) + 1;
  orc_rt_SPSWriter_seqCount(W, N);
  orc_rt_SPSWriter_string(W, PadKey);
  orc_rt_SPSWriter_bytes(W, Entries, EntriesSize);
  if (!OldOk)
    orc_rt_SPSWriter_reserve(W, SIZE_MAX); /* fail W too */
  orc_rt_SPSWriter_dispose(&Old);
  for (uint64_t I = 1; I < N; I++) {
    char Key[32];
    snprintf(Key, sizeof(Key), "orcrt-pad-%" PRIu64, I - 1);
    orc_rt_SPSWriter_string(W, Key);
    orc_rt_SPSWriter_seqCount(W, 0);
  }
  write_symbols_locked(S, ORCRT_WIRE_4FIELD, W);
}

ORC_RT_EXPORT orc_rt_WrapperFunctionBuffer orc_rt_Session_buildSetup(orc_rt_SessionRef S,
                                                                     const char *Triple,
                                                                     uint64_t PageSize) {
  orc_rt_SPSWriter W;
  orc_rt_SPSWriter_init(&W);
  orc_rt_SPSWriter_string(&W, Triple);
  orc_rt_SPSWriter_u64(&W, PageSize);
  session_lock(S);
  unsigned Wire = orcrt_wire_of(S->Protocol);
  if (!Wire) {
    write_polyglot_locked(S, &W);
  } else {
    if (Wire & ORCRT_WIRE_4FIELD)
      orc_rt_SPSWriter_seqCount(&W, 0); /* bootstrap map: nothing on Linux */
    write_symbols_locked(S, Wire, &W);
  }
  session_unlock(S);
  return orc_rt_SPSWriter_finish(&W);
}

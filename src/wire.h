/*
 * wire.h - the wire generations of LLVM's controllers, as the protocol
 * layers tag what they add to a Session
 *
 * Each bootstrap symbol and wrapper function belongs to the wires whose
 * controllers know it by that name. LLVM 14, 15 and 16 share one wire (the
 * 3-field Setup, lookup results without flags); 19 and 22 share the 4-field
 * Setup but not their memory and dylib managers. The Setup shows each
 * controller only its wire's names (setup.c), and the first call to a
 * wrapper that a single wire has tells which wire the controller speaks.
 */
#ifndef ORCRT_WIRE_H
#define ORCRT_WIRE_H

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/session.h>
#include <orcrt/wrapper-function.h>

enum {
  ORCRT_WIRE_LLVM14 = 1u << 0, /* LLVM 14, 15 and 16 */
  ORCRT_WIRE_LLVM19 = 1u << 1,
  ORCRT_WIRE_LLVM22 = 1u << 2,
  ORCRT_WIRE_ALL = ORCRT_WIRE_LLVM14 | ORCRT_WIRE_LLVM19 | ORCRT_WIRE_LLVM22,
  /* The wires whose controllers read the 4-field Setup. */
  ORCRT_WIRE_4FIELD = ORCRT_WIRE_LLVM19 | ORCRT_WIRE_LLVM22,
};

/* The wire of a protocol other than Auto; 0 for Auto or an unknown value. */
unsigned orcrt_wire_of(orc_rt_Protocol P);

/* "LLVM 14-16", "LLVM 19" or "LLVM 22" for a single wire bit. */
const char *orcrt_wire_name(unsigned Wire);

/*
 * orc_rt_Session_addBootstrapSymbol() and orc_rt_Session_addWrapperFunction()
 * for the controllers of Wires only (those add for ORCRT_WIRE_ALL). A name
 * may be added once per Setup layout (the 3-field one of LLVM 14-16, the
 * 4-field one of 19 and 22): again at the same address it joins the
 * wires, at another address it is a duplicate.
 */
orc_rt_ErrorRef orcrt_session_add_symbol_for(orc_rt_SessionRef S, unsigned Wires, const char *Name,
                                             orc_rt_ExecutorAddr Addr);
orc_rt_ErrorRef orcrt_session_add_wrapper_for(orc_rt_SessionRef S, unsigned Wires, const char *Name,
                                              orc_rt_WrapperFunction Fn);

#endif /* ORCRT_WIRE_H */

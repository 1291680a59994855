/*
 * llvm14/bootstrap.c - LLVM 14-16's bootstrap names for the EH-frame entry
 * points
 *
 * lli 14-16 attach them to every finalize as allocation actions and require
 * them in the Setup; llvm-jitlink 14-16 find 19's names instead, through a
 * lookup on the executor's own handle (llvm19/dylib.c adds those to the
 * dylib Service). The functions are 19's: same arguments, same result.
 */
#include "orcrt-internal.h"

#include <orcrt/bootstrap.h>

#include "llvm14/llvm14.h"
#include "wire.h"

orc_rt_ErrorRef orcrt_llvm14_add_bootstrap(orc_rt_SessionRef S) {
  orc_rt_ErrorRef Err = orcrt_session_add_symbol_for(
      S, ORCRT_WIRE_LLVM14, "__llvm_orc_bootstrap_register_ehframe_section_wrapper",
      orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_registerEHFrameSectionWrapper));
  if (!Err)
    Err = orcrt_session_add_symbol_for(
        S, ORCRT_WIRE_LLVM14, "__llvm_orc_bootstrap_deregister_ehframe_section_wrapper",
        orc_rt_ExecutorAddr_fromPtr((void *)(uintptr_t)llvm_orc_deregisterEHFrameSectionWrapper));
  return Err;
}

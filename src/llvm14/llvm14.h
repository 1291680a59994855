/*
 * llvm14/llvm14.h - the wire glue of LLVM 14, 15 and 16's controllers, as
 * its differences from LLVM 19's (src/llvm19/)
 *
 * Those three releases share one wire (doc/protocol/LLVM14-16-recheck.md).
 * Against 19 it differs in four places: the Setup has no bootstrap map
 * (setup.c writes each layout), a lookup's results are bare addresses, lli
 * finds the EH-frame entry points under other bootstrap names, and the GDB
 * registration call carries no AutoRegister flag (the 19 entry point takes
 * both forms). Everything else is 19's wrappers, shown to these controllers
 * too; these functions add the rest, for ORCRT_WIRE_LLVM14 only.
 */
#ifndef ORCRT_LLVM14_H
#define ORCRT_LLVM14_H

#include <orcrt/dylib.h>
#include <orcrt/error.h>
#include <orcrt/session.h>

/* The lookup wrapper, with 14-16's result entries (llvm14/dylib.c). */
orc_rt_ErrorRef orcrt_llvm14_add_dylib(orc_rt_SessionRef S, orc_rt_DylibServiceRef D);

/* The EH-frame entry points under lli 14-16's bootstrap names (llvm14/bootstrap.c). */
orc_rt_ErrorRef orcrt_llvm14_add_bootstrap(orc_rt_SessionRef S);

#endif /* ORCRT_LLVM14_H */

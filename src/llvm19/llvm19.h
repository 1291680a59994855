/*
 * llvm19/llvm19.h - the wire glue of LLVM 19's controllers over the
 * executor's Services
 *
 * Each Service (src/memory.c, src/shared-memory.c, src/dylib.c,
 * src/bootstrap.c, src/eh-frame.c, src/gdb-jit.c) offers plain C operations
 * and knows no wire. The files of src/llvm19/ turn those operations into the
 * wrapper functions and bootstrap symbols that LLVM 19's
 * SimpleRemoteEPC controllers name, on the helpers of wrapper-glue.h.
 * The public orc_rt_*_add() of each Service (src/protocol.c) creates the
 * Service and then calls its orcrt_llvm19_add_*() below; another protocol
 * version would add a directory like this one and be chosen there.
 *
 * Each function adds the Service's wrapper functions and bootstrap symbols
 * to S (before attach) and returns NULL or the error.
 */
#ifndef ORCRT_LLVM19_H
#define ORCRT_LLVM19_H

#include <orcrt/dylib.h>
#include <orcrt/error.h>
#include <orcrt/memory.h>
#include <orcrt/session.h>
#include <orcrt/shared-memory.h>
#include <orcrt/sps.h>

#include "trace.h"

/* SimpleExecutorMemoryManager: reserve, finalize, deallocate (llvm19/memory.c). */
orc_rt_ErrorRef orcrt_llvm19_add_memory(orc_rt_SessionRef S, orc_rt_MemoryServiceRef M);

/* ExecutorSharedMemoryMapperService (llvm19/shared-memory.c). */
orc_rt_ErrorRef orcrt_llvm19_add_shared_memory(orc_rt_SessionRef S,
                                               orc_rt_SharedMemoryServiceRef M);

/* SimpleExecutorDylibManager: open, lookup (llvm19/dylib.c). */
orc_rt_ErrorRef orcrt_llvm19_add_dylib(orc_rt_SessionRef S, orc_rt_DylibServiceRef D);

/*
 * The lookup, for LLVM 14-16's glue too (src/llvm14/), which differs only
 * in how a result entry is encoded: LLVM 19's ExecutorSymbolDef (address,
 * flags, target flags) or 14-16's bare ExecutorAddr.
 */
enum orcrt_llvm19_lookup_form { ORCRT_LLVM19_LOOKUP_SYMBOL_DEF, ORCRT_LLVM19_LOOKUP_ADDR };

/*
 * The body of a lookup wrapper: (ExecutorAddr Instance, ExecutorAddr
 * Handle, Sequence<(String, bool)>) -> Expected<Sequence<entry in Form>>.
 */
orc_rt_WrapperFunctionBuffer orcrt_llvm19_lookup(orc_rt_SessionRef S, orc_rt_SPSReader *R,
                                                 enum orcrt_llvm19_lookup_form Form);

/* The trace's view of a lookup: its arguments, and its result in Form. */
void orcrt_llvm19_lookup_args(orc_rt_SessionRef S, const char *Data, size_t Size,
                              struct orcrt_trace_text *T);
bool orcrt_llvm19_lookup_result(const char *Data, size_t Size, enum orcrt_llvm19_lookup_form Form,
                                struct orcrt_trace_text *T);

/*
 * The bootstrap: run-as-main/void/int, the memory writes, JIT dispatch and
 * the EH-frame and GDB registration entry points (llvm19/bootstrap.c).
 */
orc_rt_ErrorRef orcrt_llvm19_add_bootstrap(orc_rt_SessionRef S);

#endif /* ORCRT_LLVM19_H */

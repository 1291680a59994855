/*
 * protocol.c - the public add functions of the executor's Services: each
 * creates the Service (its plain C operations, in its own file) and adds
 * the wire glue of the protocol the executor speaks
 *
 * This is the one place where a Service meets the protocol versions. The
 * Service files know no wire and the glue files (src/llvm19/, src/llvm14/, src/llvm22/)
 * know only the Services' operations, so neither calls the other's
 * creator. Every Session gets the glue of every wire, each name tagged
 * with the wires that know it (wire.h); the Setup shows a controller its
 * wire's names (setup.c).
 */
#include "orcrt-internal.h"

#include <orcrt/bootstrap.h>
#include <orcrt/dylib.h>
#include <orcrt/memory.h>
#include <orcrt/shared-memory.h>

#include "bootstrap-internal.h"
#include "dylib-internal.h"
#include "llvm14/llvm14.h"
#include "llvm19/llvm19.h"
#include "llvm22/llvm22.h"
#include "memory-internal.h"
#include "perf-jitdump-internal.h"
#include "shared-memory-internal.h"

/*
 * On a glue failure the Service stays added (S owns it and frees it with
 * itself), as before the split; *Out is set only on success.
 */

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_MemoryService_add(orc_rt_SessionRef S,
                                                       orc_rt_MemoryStrategy Strategy,
                                                       orc_rt_MemoryServiceRef *Out) {
  orc_rt_MemoryServiceRef M;
  orc_rt_ErrorRef Err = orcrt_memory_add(S, Strategy, &M);
  if (!Err && !(Err = orcrt_llvm19_add_memory(S, M)) && !(Err = orcrt_llvm22_add_memory(S, M)))
    *Out = M;
  return Err;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_SharedMemoryService_add(orc_rt_SessionRef S,
                                                             orc_rt_SharedMemoryServiceRef *Out) {
  orc_rt_SharedMemoryServiceRef M;
  orc_rt_ErrorRef Err = orcrt_shm_add(S, &M);
  if (!Err && !(Err = orcrt_llvm19_add_shared_memory(S, M)))
    *Out = M;
  return Err;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_DylibService_add(orc_rt_SessionRef S,
                                                      orc_rt_DylibServiceRef *Out) {
  orc_rt_DylibServiceRef D;
  orc_rt_ErrorRef Err = orcrt_dylib_add(S, &D);
  /* The perf entry points are among the Service's own symbols: the dump is closed with it. */
  if (!Err && !(Err = orcrt_llvm19_add_dylib(S, D)) && !(Err = orcrt_llvm14_add_dylib(S, D)) &&
      !(Err = orcrt_llvm22_add_dylib(S, D)) && !(Err = orcrt_perf_add(S)))
    *Out = D;
  return Err;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Bootstrap_add(orc_rt_SessionRef S) {
  orc_rt_ErrorRef Err = orcrt_bootstrap_add(S);
  if (!Err)
    Err = orcrt_llvm19_add_bootstrap(S);
  if (!Err)
    Err = orcrt_llvm14_add_bootstrap(S);
  return Err ? Err : orcrt_llvm22_add_bootstrap(S);
}

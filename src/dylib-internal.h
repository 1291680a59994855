/*
 * dylib-internal.h - the dylib Service's plain C operations that its wire
 * glue (src/llvm19/dylib.c) needs beyond the public ones
 */
#ifndef ORCRT_DYLIB_INTERNAL_H
#define ORCRT_DYLIB_INTERNAL_H

#include <stdbool.h>

#include <orcrt/dylib.h>
#include <orcrt/session.h>

/* Create a dylib Service and add it to S, without wire glue (see protocol.c). */
orc_rt_ErrorRef orcrt_dylib_add(orc_rt_SessionRef S, orc_rt_DylibServiceRef *Out);

/* The dylib Service of S if Instance is its address, else NULL. */
/* The dylib Service of S, or NULL. */
orc_rt_DylibServiceRef orcrt_dylib_of(orc_rt_SessionRef S);

orc_rt_DylibServiceRef orcrt_dylib_instance(orc_rt_SessionRef S, orc_rt_ExecutorAddr Instance);

/*
 * A library handle resolved once, for a batch of lookups (LLVM's
 * controllers ask for all of a link's names in one call).
 */
struct orcrt_dylib_scope {
  void *Lib;    /* the dlopen() handle */
  bool Process; /* Lib is the process: own symbols and the found-name cache apply */
};

/* Resolve the issued handle Handle into *Scope; an error if D never issued it. */
orc_rt_ErrorRef orcrt_dylib_scope(orc_rt_DylibServiceRef D, orc_rt_ExecutorAddr Handle,
                                  struct orcrt_dylib_scope *Scope);

/* Name in Scope (as orc_rt_DylibService_lookup() finds it), or 0. */
orc_rt_ExecutorAddr orcrt_dylib_scope_lookup(orc_rt_DylibServiceRef D,
                                             const struct orcrt_dylib_scope *Scope,
                                             const char *Name);

#endif /* ORCRT_DYLIB_INTERNAL_H */

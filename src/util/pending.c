/*
 * util/pending.c - the pending-call table (see util/pending.h); not locked,
 * its owner locks it
 */
#include "orcrt-internal.h"

#include "util/pending.h"

void orcrt_pending_init(struct orcrt_u64map *M) {
  orcrt_u64map_init(M, sizeof(struct orcrt_call));
}

bool orcrt_pending_add(struct orcrt_u64map *M, uint64_t Id, orc_rt_CallResultFn Fn, void *Ctx) {
  struct orcrt_call *C = orcrt_u64map_insert(M, Id, NULL);
  if (!C)
    return false;
  *C = (struct orcrt_call){Fn, Ctx};
  return true;
}

void orcrt_pending_fail_all(struct orcrt_u64map *M, const char *Msg) {
  size_t Pos = 0;
  void *V;
  while (orcrt_u64map_next(M, &Pos, NULL, &V)) {
    struct orcrt_call *C = V;
    C->Fn(C->Ctx, orc_rt_WrapperFunctionBuffer_fromOutOfBandError(Msg));
  }
  orcrt_u64map_free(M);
}

/*
 * alloc-actions.c - decoding, keeping and running allocation actions, for
 * both memory Services
 *
 * Locks: none of its own. An action runs with no lock held; the
 * call-target check takes jit-ranges.c's lock only while it looks.
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-actions.h"
#include "jit-ranges.h"
#include "wrapper-glue.h"

/* A WrapperFunctionCall: (ExecutorAddr Fn, Sequence<char> Args). */
static void read_call(orc_rt_SPSReader *R, orc_rt_MemoryAction *A) {
  orc_rt_SPSReader_addr(R, &A->Fn);
  orc_rt_SPSReader_bytes(R, &A->ArgData, &A->ArgSize);
}

static void read_pair(orc_rt_SPSReader *R, void *Elem) {
  orc_rt_MemoryActionPair *P = Elem;
  read_call(R, &P->Finalize);
  read_call(R, &P->Dealloc);
}

bool orcrt_actions_read_pairs(orc_rt_SPSReader *R, orc_rt_MemoryActionPair **Acts,
                              size_t *NumActs) {
  void *P;
  /* An action pair takes at least 32 bytes. */
  bool Ok = orcrt_glue_read_seq(R, 32, sizeof(**Acts), read_pair, &P, NumActs);
  *Acts = P;
  return Ok;
}

void orcrt_actions_free(struct orcrt_action *Acts, size_t N) {
  for (size_t I = 0; I < N; I++)
    free(Acts[I].ArgData);
  free(Acts);
}

orc_rt_ErrorRef orcrt_actions_copy_dealloc(const orc_rt_MemoryActionPair *Pairs, size_t N,
                                           struct orcrt_action **Out, size_t *NumOut) {
  size_t Count = 0, J = 0;
  *Out = NULL;
  *NumOut = 0;
  for (size_t I = 0; I < N; I++)
    Count += Pairs[I].Dealloc.Fn != 0;
  if (Count == 0)
    return NULL;
  /* The argument bytes come from the request itself, so their sizes are real. */
  struct orcrt_action *Acts = calloc(Count, sizeof(*Acts));
  if (!Acts)
    return orc_rt_Error_create("out of memory");
  for (size_t I = 0; I < N; I++) {
    const orc_rt_MemoryAction *D = &Pairs[I].Dealloc;
    if (!D->Fn)
      continue;
    Acts[J].Fn = D->Fn;
    Acts[J].ArgSize = D->ArgSize;
    if (!(Acts[J].ArgData = malloc(D->ArgSize ? D->ArgSize : 1))) {
      orcrt_actions_free(Acts, J);
      return orc_rt_Error_create("out of memory");
    }
    if (D->ArgSize)
      memcpy(Acts[J].ArgData, D->ArgData, D->ArgSize);
    J++;
  }
  *Out = Acts;
  *NumOut = Count;
  return NULL;
}

/* The error an SPSError's message stands for. */
static orc_rt_ErrorRef error_from_message(const char *Msg, size_t Size) {
  char *Copy = strndup(Msg, Size);
  if (!Copy)
    return orc_rt_Error_create("out of memory");
  orc_rt_ErrorRef E = orc_rt_Error_create("%s", Copy);
  free(Copy);
  return E;
}

orc_rt_ErrorRef orcrt_action_run(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, const char *ArgData,
                                 size_t ArgSize) {
  if (Fn == 0)
    return NULL;
  if (!orcrt_ranges_is_call_target(S, Fn))
    return orc_rt_Error_create(
        "Allocation action 0x%" PRIx64 " is not the entry of a function in executable memory", Fn);
  orc_rt_WrapperFunctionBuffer R = orc_rt_WrapperFunctionBuffer_callSync(Fn, ArgData, ArgSize);
  orc_rt_ErrorRef E = NULL;
  const char *OOB = orc_rt_WrapperFunctionBuffer_getOutOfBandError(&R);
  if (OOB) {
    E = orc_rt_Error_create("%s", OOB);
  } else {
    orc_rt_SPSReader Rd;
    bool IsFailure = false;
    const char *Msg = NULL;
    size_t MsgSize = 0;
    orc_rt_SPSReader_init(&Rd, orc_rt_WrapperFunctionBuffer_constData(&R), R.Size);
    if (!orc_rt_SPSReader_error(&Rd, &IsFailure, &Msg, &MsgSize))
      E = orc_rt_Error_create("Could not deserialize the result of allocation action 0x%" PRIx64,
                              Fn);
    else if (IsFailure)
      E = error_from_message(Msg, MsgSize);
  }
  orc_rt_WrapperFunctionBuffer_dispose(&R);
  return E;
}

orc_rt_ErrorRef orcrt_actions_run_finalize(orc_rt_SessionRef S,
                                           const orc_rt_MemoryActionPair *Pairs, size_t N) {
  for (size_t Completed = 0; Completed < N; Completed++) {
    const orc_rt_MemoryAction *F = &Pairs[Completed].Finalize;
    orc_rt_ErrorRef Err = orcrt_action_run(S, F->Fn, F->ArgData, F->ArgSize);
    /* As LLVM does: undo the finalize actions that completed. */
    if (Err)
      return orc_rt_Error_join(Err, orcrt_actions_undo(S, Pairs, Completed));
  }
  return NULL;
}

orc_rt_ErrorRef orcrt_actions_undo(orc_rt_SessionRef S, const orc_rt_MemoryActionPair *Pairs,
                                   size_t N) {
  orc_rt_ErrorRef Err = NULL;
  while (N > 0) {
    const orc_rt_MemoryAction *D = &Pairs[--N].Dealloc;
    Err = orc_rt_Error_join(Err, orcrt_action_run(S, D->Fn, D->ArgData, D->ArgSize));
  }
  return Err;
}

orc_rt_ErrorRef orcrt_actions_run_reverse(orc_rt_SessionRef S, const struct orcrt_action *Acts,
                                          size_t N) {
  orc_rt_ErrorRef Err = NULL;
  while (N > 0) {
    const struct orcrt_action *A = &Acts[--N];
    Err = orc_rt_Error_join(Err, orcrt_action_run(S, A->Fn, A->ArgData, A->ArgSize));
  }
  return Err;
}

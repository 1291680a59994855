/*
 * alloc-actions.h - allocation actions: the calls a finalize (or
 * initialize) request makes inside the executor, and the deallocation
 * actions kept to undo them
 *
 * Both memory Services run them the same way (memory.c, shared-memory.c):
 * the finalize actions in order, stopping at the first failure, whose
 * completed ones are undone last first; the kept deallocation actions last
 * first, all of them, their errors joined. An action is called only if its
 * function is code its Session may call (orcrt_ranges_is_call_target()).
 */
#ifndef ORCRT_ALLOC_ACTIONS_H
#define ORCRT_ALLOC_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/memory.h>
#include <orcrt/session.h>
#include <orcrt/sps.h>

/* A deallocation action kept until its memory goes; ArgData is its own (never NULL). */
struct orcrt_action {
  orc_rt_ExecutorAddr Fn;
  char *ArgData;
  size_t ArgSize;
};

/*
 * Decode a Sequence<(WrapperFunctionCall Finalize, WrapperFunctionCall
 * Dealloc)> from R. The array (*Acts, *NumActs; NULL when empty) goes to the
 * caller, to free(); the actions' bytes point into R's span. False if R
 * fails or memory runs out (*Acts is then still the caller's to free).
 */
bool orcrt_actions_read_pairs(orc_rt_SPSReader *R, orc_rt_MemoryActionPair **Acts, size_t *NumActs);

/*
 * Copies of the non-null deallocation actions of the N pairs, in order:
 * a fresh array (*Out, *NumOut; NULL and 0 when there are none) whose
 * argument bytes are copied too, for orcrt_actions_free(). On failure
 * (out of memory) nothing is kept and *Out is NULL.
 */
orc_rt_ErrorRef orcrt_actions_copy_dealloc(const orc_rt_MemoryActionPair *Pairs, size_t N,
                                           struct orcrt_action **Out, size_t *NumOut);

/* Free N actions copied by orcrt_actions_copy_dealloc(). */
void orcrt_actions_free(struct orcrt_action *Acts, size_t N);

/*
 * Run Fn(ArgData, ArgSize) with LLVM's synchronous ABI on behalf of S and
 * decode its SPSError result (NULL: success; Fn 0 is no action). If Fn is
 * not a call target of S, it is not called and an error comes back.
 */
orc_rt_ErrorRef orcrt_action_run(orc_rt_SessionRef S, orc_rt_ExecutorAddr Fn, const char *ArgData,
                                 size_t ArgSize);

/*
 * Run the finalize actions of the N pairs in order; at the first failure,
 * run the deallocation actions of the ones that completed, last first, and
 * return the errors joined.
 */
orc_rt_ErrorRef orcrt_actions_run_finalize(orc_rt_SessionRef S,
                                           const orc_rt_MemoryActionPair *Pairs, size_t N);

/* Run the N kept actions last first; all of them, their errors joined. */
orc_rt_ErrorRef orcrt_actions_run_reverse(orc_rt_SessionRef S, const struct orcrt_action *Acts,
                                          size_t N);

/* Run the deallocation actions of the N pairs last first (undoing their finalize actions). */
orc_rt_ErrorRef orcrt_actions_undo(orc_rt_SessionRef S, const orc_rt_MemoryActionPair *Pairs,
                                   size_t N);

#endif /* ORCRT_ALLOC_ACTIONS_H */

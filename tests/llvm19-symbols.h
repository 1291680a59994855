/*
 * llvm19-symbols.h - the bootstrap symbols LLVM 19's controllers require
 *
 * The 14 names a controller checks for in the executor's Setup before it
 * goes on (PROTOCOL-LLVM19.md §4.3), for the tests, the fuzzers and the
 * benchmarks. A list with more names starts with
 * ORCRT_LLVM19_REQUIRED_SYMBOL_NAMES and adds its own after them.
 */
#ifndef ORCRT_LLVM19_SYMBOLS_H
#define ORCRT_LLVM19_SYMBOLS_H

#define ORCRT_LLVM19_REQUIRED_SYMBOL_NAMES                                                         \
  "__llvm_orc_SimpleRemoteEPC_dispatch_ctx", "__llvm_orc_SimpleRemoteEPC_dispatch_fn",             \
      "__llvm_orc_bootstrap_run_as_main_wrapper",                                                  \
      "__llvm_orc_bootstrap_run_as_void_function_wrapper",                                         \
      "__llvm_orc_bootstrap_run_as_int_function_wrapper",                                          \
      "__llvm_orc_SimpleExecutorDylibManager_Instance",                                            \
      "__llvm_orc_SimpleExecutorDylibManager_open_wrapper",                                        \
      "__llvm_orc_SimpleExecutorDylibManager_lookup_wrapper",                                      \
      "__llvm_orc_SimpleExecutorMemoryManager_Instance",                                           \
      "__llvm_orc_SimpleExecutorMemoryManager_reserve_wrapper",                                    \
      "__llvm_orc_SimpleExecutorMemoryManager_finalize_wrapper",                                   \
      "__llvm_orc_SimpleExecutorMemoryManager_deallocate_wrapper",                                 \
      "llvm_orc_registerEHFrameSectionWrapper", "llvm_orc_deregisterEHFrameSectionWrapper"

static const char *const orcrt_llvm19_required_symbols[] = {ORCRT_LLVM19_REQUIRED_SYMBOL_NAMES};

#define ORCRT_LLVM19_NUM_REQUIRED_SYMBOLS                                                          \
  (sizeof(orcrt_llvm19_required_symbols) / sizeof(orcrt_llvm19_required_symbols[0]))

_Static_assert(ORCRT_LLVM19_NUM_REQUIRED_SYMBOLS == 14, "PROTOCOL §4.3 names 14 symbols");

#endif /* ORCRT_LLVM19_SYMBOLS_H */

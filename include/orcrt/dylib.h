/*
 * orcrt/dylib.h - dynamic libraries and symbol lookup for JIT'd code
 *
 * The dylib Service follows LLVM 19's SimpleExecutorDylibManager: the
 * controller opens libraries (the empty path is the process itself) and
 * looks symbols up in them by handle.
 *
 * Handles are opaque addresses the Service issued; any other value is
 * refused with an error and never dereferenced. Opening the same library
 * twice gives the same handle. Libraries stay loaded until the Service shuts
 * down, when they are closed in reverse order of loading. Add the dylib
 * Service before the memory Service, so that JIT memory (and its
 * deallocation actions) goes away before the libraries it may call.
 *
 * Lookups in the process handle search the runtime's own symbols first (see
 * orc_rt_DylibService_addSymbol(); the LLVM-named entry points of liborcrt
 * are there from the start), then the process's global scope. JIT'd C and
 * C++ expect the C, math, C++ and unwinder runtimes there, as LLVM's own
 * executor links them; so each time a name is missing from the process the
 * Service loads the next of libm.so.6, libgcc_s.so.1 and libstdc++.so.6, in
 * that order (cheapest first), globally and searches again, until the name
 * is found or all three are loaded. Startup pays nothing for programs that
 * never need them, and a program that needs only libm never loads libstdc++.
 *
 * Once libstdc++ is in the process (loaded so, by a library opened, or
 * there from the start), the Service constructs one std::ios_base::Init of
 * its own, once per process, and keeps libstdc++ loaded for the process's
 * life: std::cout, std::cerr, std::clog and std::cin are constructed by
 * such an object, which every C++ file including <iostream> holds as a
 * static, and JIT'd code's static initialisers do not run without LLVM's
 * ORC runtime (and GCC 12's libstdc++ does not construct the streams
 * itself), so "std::cout << x" would crash. Its destructor runs at exit(),
 * after the JIT'd program's own exit handlers, and flushes the streams.
 * The objects are reference-counted: the ORC runtime's or a newer
 * libstdc++'s own beside it are harmless.
 *
 * The wrappers answer arguments that do not decode with an out-of-band error
 * (as LLVM's executor does), and every other bad request with an Expected
 * error. All functions may be called from any thread, but not concurrently
 * with the Session's shutdown.
 */
#ifndef ORCRT_DYLIB_H
#define ORCRT_DYLIB_H

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/session.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The dylib Service of a Session. */
typedef struct orc_rt_OpaqueDylibService *orc_rt_DylibServiceRef;

/**
 * Create a dylib Service and add it to S, together with its bootstrap
 * symbols __llvm_orc_SimpleExecutorDylibManager_Instance (the Service's
 * address) and the asynchronous wrapper functions
 * __llvm_orc_SimpleExecutorDylibManager_{open,lookup}_wrapper. A Session has
 * at most one dylib Service. Only before S is attached. *Out is owned by S
 * and valid until S is destroyed.
 */
orc_rt_ErrorRef orc_rt_DylibService_add(orc_rt_SessionRef S, orc_rt_DylibServiceRef *Out);

/**
 * Open the library at Path (dlopen(RTLD_NOW | RTLD_GLOBAL)), or the process
 * itself if Path is "", and store its handle in *Handle. Returns an error
 * with dlerror()'s text if loading fails.
 */
orc_rt_ErrorRef orc_rt_DylibService_open(orc_rt_DylibServiceRef D, const char *Path,
                                         orc_rt_ExecutorAddr *Handle);

/**
 * Look Name up in the library with handle Handle and store its address in
 * *Addr, or 0 if it is not defined there. Returns an error only for a handle
 * D did not issue.
 */
orc_rt_ErrorRef orc_rt_DylibService_lookup(orc_rt_DylibServiceRef D, orc_rt_ExecutorAddr Handle,
                                           const char *Name, orc_rt_ExecutorAddr *Addr);

/**
 * Make Name resolve to Addr in lookups through the process handle, ahead of
 * everything the process defines (for the runtime's own exported symbols).
 * Adding a name again replaces its address. Name is copied.
 */
orc_rt_ErrorRef orc_rt_DylibService_addSymbol(orc_rt_DylibServiceRef D, const char *Name,
                                              orc_rt_ExecutorAddr Addr);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_DYLIB_H */

/*
 * orcrt/bootstrap.h - the bootstrap wrappers LLVM 19's controllers call
 *
 * orc_rt_Bootstrap_add() gives a Session everything of LLVM's executor that
 * is not JIT memory or libraries:
 *
 *   __llvm_orc_bootstrap_run_as_{main,void_function,int_function}_wrapper
 *       run JIT'd code. run_as_main takes (ExecutorAddr Fn, Sequence<String>
 *       Args), calls int Fn(int argc, char **argv) with copies of Args as argv
 *       (NULL-terminated, no program name inserted) and returns the result as
 *       int64; run_as_void calls int Fn(void), run_as_int int Fn(int), both
 *       returning int32. The code runs as a blocking stretch of the Session's
 *       dispatcher, so it may run long or call back into the controller.
 *       A main runs on a thread of its own that ends when it returns, so
 *       that the destructors of its thread-specific data run before the
 *       call is answered, while its code is still mapped.
 *   __llvm_orc_bootstrap_mem_write_{uint8s,uint16s,uint32s,uint64s,buffers}_wrapper
 *       store values or byte buffers at addresses inside the Session's JIT
 *       memory (see orc_rt_MemoryService_write()). They stop at the first
 *       address that is not writable JIT memory.
 *   llvm_orc_registerEHFrameSectionWrapper, llvm_orc_deregisterEHFrameSectionWrapper
 *       unwind-info registration (below), as bootstrap symbols.
 *   __llvm_orc_SimpleRemoteEPC_dispatch_ctx, __llvm_orc_SimpleRemoteEPC_dispatch_fn
 *       the context (the Session's address) and function through which JIT'd
 *       code (LLVM's ORC runtime) calls the controller.
 *
 * It also makes the Session check every call to an address that is not one
 * of its own wrapper functions: the address must lie in an executable
 * segment finalized by the Session's memory Service, initialized by its
 * shared-memory Service, or of a loaded object, else the call is answered
 * with the error "no wrapper function at 0x...". The run wrappers check
 * their target the same way.
 *
 * Arguments that do not decode get an out-of-band error, as from LLVM's
 * executor. Other bad requests get an SPSError where the LLVM return type
 * has room for one (the EH and GDB entry points); run_as_* and mem_write_*
 * have none and answer with an out-of-band error too, which LLVM 19's
 * transport sends as an empty payload.
 */
#ifndef ORCRT_BOOTSTRAP_H
#define ORCRT_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>
#include <orcrt/session.h>
#include <orcrt/wrapper-function.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Register the bootstrap wrappers and symbols above on S, the call-target
 * check, and a Service that ends S's part in executor -> controller dispatch
 * at shutdown (and, for the last such Service of the process, deregisters
 * unwind and debugger registrations still left outside JIT memory). At most
 * once per Session; only before S is attached. The wrappers find S's memory
 * Service when they are called, so it may be added before or after. On
 * failure S may be partly set up and should be destroyed.
 */
orc_rt_ErrorRef orc_rt_Bootstrap_add(orc_rt_SessionRef S);

/**
 * The function published as __llvm_orc_SimpleRemoteEPC_dispatch_fn: call the
 * controller handler with tag Tag, passing the ArgSize bytes at ArgData
 * (borrowed), and return its result (owned by the caller) -- see
 * orc_rt_Session_callControllerSync(). Ctx must be the address of a Session
 * of this process that has the bootstrap wrappers and is not shut down;
 * anything else gets an out-of-band error. Any thread.
 */
orc_rt_WrapperFunctionBuffer orc_rt_Bootstrap_jitDispatch(void *Ctx, const void *Tag,
                                                          const char *ArgData, size_t ArgSize);

/* ---- entry points with LLVM's names and synchronous ABI ---------------- */

/*
 * These are exported under exactly these names, because LLVM's controllers
 * call them by address (as bootstrap symbols, allocation actions or lookup
 * results) and find them by name. They may be called from any thread and
 * work without a Session: their state is the process's unwinder,
 * debugger interface and perf jitdump, of each of which there is one.
 */

/**
 * Register the .eh_frame section given by the SPS ExecutorAddrRange in the
 * arguments with the unwinder (libgcc's __register_frame). The range must lie
 * in readable JIT memory of a memory Service or in a readable segment of a
 * loaded object, its records must end inside it (with a zero terminator,
 * inside or right after it), and it must not be registered already. Returns
 * an SPSError; arguments that do not decode give an out-of-band error.
 */
orc_rt_WrapperFunctionBuffer llvm_orc_registerEHFrameSectionWrapper(const char *ArgData,
                                                                    size_t ArgSize);

/**
 * Deregister a section registered with the function above (same range).
 * A range that is not registered is an error, not an abort. Result as above.
 */
orc_rt_WrapperFunctionBuffer llvm_orc_deregisterEHFrameSectionWrapper(const char *ArgData,
                                                                      size_t ArgSize);

/**
 * Announce an in-memory debug object to a debugger through the GDB JIT
 * interface. Arguments: (ExecutorAddrRange DebugObject, bool AutoRegister).
 * The object must lie in readable memory as for EH frames. It is linked into
 * __jit_debug_descriptor; if AutoRegister is true, __jit_debug_register_code()
 * is called to notify the debugger. The entry is removed again when the
 * memory holding it is deallocated. Returns an SPSError.
 */
orc_rt_WrapperFunctionBuffer llvm_orc_registerJITLoaderGDBWrapper(const char *ArgData,
                                                                  size_t ArgSize);

/*
 * perf support (llvm-jitlink -perf-support): a perf jitdump of the
 * process, jit-<pid>.dump under $JITDUMPDIR (else $HOME, else .)
 * /.debug/jit/<a new directory>/, whose first page stays mapped executable
 * for perf record to see; orc_rt_Bootstrap(3) and orcrt-executor(1),
 * PROFILING, say what is written. A lookup in the dylib Service's process
 * handle finds all three. Each returns an SPSError; arguments that do not
 * decode give an out-of-band error.
 */

/**
 * Start the dump (no arguments). A dump already open is kept: success. If
 * the dump cannot be made the error says why, the Sessions serving perf log
 * it, and later records are checked but not written.
 */
orc_rt_WrapperFunctionBuffer llvm_orc_registerJITLoaderPerfStart(const char *ArgData,
                                                                 size_t ArgSize);

/**
 * Write the close record, unmap the marker and close the dump (no
 * arguments); an error if no dump was started. The last Session serving
 * perf does the same when it shuts down, since LLVM's controllers never
 * deliver End out of process.
 */
orc_rt_WrapperFunctionBuffer llvm_orc_registerJITLoaderPerfEnd(const char *ArgData, size_t ArgSize);

/**
 * Append one graph's records (an SPS PerfJITRecordBatch, as a finalize
 * allocation action sends it): for each function its unwinding record, its
 * line table (addresses less the controller's 0x40) and its code, copied
 * from readable JIT memory. A batch with code or unwind ranges outside
 * readable JIT memory, names holding a NUL, records too large for the
 * format, or one before any Start is an error, and nothing is written.
 */
orc_rt_WrapperFunctionBuffer llvm_orc_registerJITLoaderPerfImpl(const char *ArgData,
                                                                size_t ArgSize);

/* ---- the GDB JIT interface -------------------------------------------- */

/** Values of orc_rt_JITDescriptor.ActionFlag, as the GDB JIT interface defines them. */
enum {
  orc_rt_JITAction_NoAction = 0,
  orc_rt_JITAction_Register = 1,
  orc_rt_JITAction_Unregister = 2,
};

/** One debug object known to the debugger (GDB's struct jit_code_entry). */
typedef struct orc_rt_JITCodeEntry {
  struct orc_rt_JITCodeEntry *NextEntry;
  struct orc_rt_JITCodeEntry *PrevEntry;
  const char *SymfileAddr;
  uint64_t SymfileSize;
} orc_rt_JITCodeEntry;

/** The list the debugger reads (GDB's struct jit_descriptor). */
typedef struct {
  uint32_t Version;
  uint32_t ActionFlag;
  orc_rt_JITCodeEntry *RelevantEntry;
  orc_rt_JITCodeEntry *FirstEntry;
} orc_rt_JITDescriptor;

/**
 * The descriptor the debugger finds by name. Changed only by liborcrt,
 * under its lock; read it only while no registration can happen.
 */
extern orc_rt_JITDescriptor __jit_debug_descriptor;

/**
 * Called after every change of __jit_debug_descriptor; the debugger sets a
 * breakpoint on it. Does nothing itself.
 */
void __jit_debug_register_code(void);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_BOOTSTRAP_H */

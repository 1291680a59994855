/*
 * orcrt/sandbox.h - confining the process that runs JIT'd code
 *
 * An executor program calls orc_rt_Sandbox_enter() once its channel and
 * Services are set up and before the controller's calls (and so JIT'd code)
 * run. From then on the kernel enforces, for the whole process and for
 * good: files only under the library directories and the paths allowed
 * (Landlock); no network unless allowed, no execve, no new processes, no
 * ptrace or process_vm_* of anything, no page both writable and executable
 * (seccomp-bpf, built with libseccomp); limits on address space, CPU time
 * and open files (rlimits), an optional wall-clock limit, and
 * PR_SET_NO_NEW_PRIVS. orc_rt_Sandbox(3) has the whole policy.
 *
 * A call the policy denies fails with an errno the program can handle
 * (EPERM, EACCES). Where the policy must end the process (the CPU or
 * wall-clock limit, a system call in no list), a handler installed by the
 * call writes one line on the stderr the process had when it entered the
 * sandbox, naming the rule broken, and exits with one of the
 * orc_rt_SandboxExit statuses.
 */
#ifndef ORCRT_SANDBOX_H
#define ORCRT_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include <orcrt/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What orc_rt_Sandbox_enter() does when the kernel lacks a mechanism. */
typedef enum {
  /** Refuse: return an error and confine nothing. The default. */
  orc_rt_SandboxMode_Strict = 0,
  /** Apply what the kernel has and say what is not enforced. */
  orc_rt_SandboxMode_BestEffort = 1,
} orc_rt_SandboxMode;

/** The statuses the process exits with when the sandbox ends it. */
typedef enum {
  /** The wall-clock limit (TimeoutS) was reached; as timeout(1). */
  orc_rt_SandboxExit_Timeout = 124,
  /** The CPU time limit (MaxCpuS) was reached: 128 + SIGXCPU. */
  orc_rt_SandboxExit_CpuLimit = 152,
  /** A system call the sandbox does not allow, or of another architecture: 128 + SIGSYS. */
  orc_rt_SandboxExit_ForbiddenCall = 159,
} orc_rt_SandboxExit;

/** Options of orc_rt_Sandbox_enter(). Initialise with orc_rt_SandboxOptions_init(). */
typedef struct {
  /** Default orc_rt_SandboxMode_Strict. */
  orc_rt_SandboxMode Mode;
  /**
   * Files and directory trees that may be read, beyond the library
   * directories; NumReadPaths entries. Each must exist. Borrowed for the
   * call only. Default none.
   */
  const char *const *ReadPaths;
  size_t NumReadPaths;
  /**
   * Files and directory trees that may be read, written, created, removed,
   * renamed and truncated beneath; NumWritePaths entries, each existing.
   * Borrowed for the call only. Default none.
   */
  const char *const *WritePaths;
  size_t NumWritePaths;
  /** Nonzero: IPv4 and IPv6 sockets may be created and used. Default 0. */
  int AllowNet;
  /** The address-space limit (RLIMIT_AS) in bytes; 0: none. Default 2 GiB. */
  uint64_t MaxMemory;
  /** The CPU time limit of the process in seconds; 0: none. Default 600. */
  unsigned MaxCpuS;
  /** The wall-clock limit in seconds, counted from the call; 0: none. Default 0. */
  unsigned TimeoutS;
  /** The open-file limit (RLIMIT_NOFILE), lowered to this if above; 0: unchanged. Default 1024. */
  unsigned MaxFiles;
  /** Starts each line the handlers write, e.g. "orcrt-executor". Default "orcrt". */
  const char *ProgramName;
} orc_rt_SandboxOptions;

/** Fill O with the defaults listed above. Any thread. */
void orc_rt_SandboxOptions_init(orc_rt_SandboxOptions *O);

/**
 * Confine the calling process as O says, for the rest of its life.
 *
 * Call it from the thread that will create every other thread, before it
 * creates any: Landlock and the capability drop apply to the calling
 * thread and to the threads it creates afterwards, not to threads that
 * already exist (the seccomp filter is applied to every thread). It
 * installs handlers for SIGSYS and SIGXCPU that the confined code cannot
 * replace, and, with TimeoutS or MaxCpuS, a watchdog thread that ends the
 * process at the limit (even where SIGXCPU is blocked).
 *
 * Returns NULL when the process is confined. In strict mode, when the
 * kernel lacks a mechanism the policy needs (Landlock, seccomp), returns
 * an error naming it and confines nothing. In best-effort mode it applies
 * what it can and, if something is missing, sets *Unenforced (when
 * Unenforced is not NULL) to an error saying what is not enforced, owned
 * by the caller; otherwise *Unenforced is NULL. An invalid option (a path
 * that does not exist) or a second call is an error before anything is
 * applied. A failure of the kernel after the first step is an error too,
 * with the process partly confined: the caller must not run untrusted code
 * then. Main thread, once.
 */
orc_rt_ErrorRef orc_rt_Sandbox_enter(const orc_rt_SandboxOptions *O, orc_rt_ErrorRef *Unenforced);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_SANDBOX_H */

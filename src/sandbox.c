/*
 * sandbox.c - confining the process that runs JIT'd code
 * (orc_rt_Sandbox_enter(), see orcrt/sandbox.h and orc_rt_Sandbox(3))
 *
 * The order matters: the handlers first (they must be there before a limit
 * or the filter can fire), then the rlimits (lowering needs no privilege;
 * the filter stops raising them), the capability drop and no_new_privs,
 * Landlock (the filter denies its system calls), the seccomp filter, and
 * last the watchdog thread (wall clock and CPU time), which starts
 * confined.
 *
 * The allowed set is what research/sandbox.md section 2 measured the
 * executor, LLVM 19's controllers' sessions and the JIT'd programs of the
 * test corpus to need after start-up; the inventory is in orc_rt_Sandbox(3).
 *
 * State: the handlers' prefix, report descriptor, the names of system
 * calls and the emulation table are written before the handlers can run
 * and only read afterwards. The process has one sandbox, so they are
 * file-scope.
 */
#include "orcrt-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <orcrt/sandbox.h>

/* ---- Landlock, declared here: Debian 12's linux/landlock.h stops at ABI 2 ------------ */

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_ABI1 ((1ull << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define LL_FS_REFER (1ull << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15)  /* ABI 5 */
#define LL_FS_FILE_RIGHTS                                                                          \
  (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)
#define LL_NET_BIND_TCP (1ull << 0)               /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1)            /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)               /* ABI 6 */

struct ll_ruleset_attr {
  uint64_t HandledFs;
  uint64_t HandledNet;
  uint64_t Scoped;
};

struct ll_path_beneath {
  uint64_t Allowed;
  int32_t ParentFd;
} __attribute__((packed));

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

/* What the kernel has: the Landlock ABI (0: none) and whether seccomp filters work. */
static int landlock_abi(void) {
  long V = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
  return V < 0 ? 0 : (int)V;
}

/* ---- the handlers (async-signal-safe) ---------------------------------------------- */

#define NAMES 512 /* above every x86-64 and aarch64 system call number */

static char Prefix[64];
static int ReportFd = 2;
static uint32_t NativeArch;
static const char *Names[NAMES];
/* A call that traps for an argument the filter cannot express, made to fail with this errno. */
static unsigned char Emulate[NAMES];
static unsigned CpuLimitS, TimeLimitS;
static atomic_bool Entered;

static size_t put(char *Buf, size_t Len, size_t Size, const char *S) {
  while (*S && Len + 1 < Size)
    Buf[Len++] = *S++;
  return Len;
}

static size_t put_uint(char *Buf, size_t Len, size_t Size, unsigned long V) {
  char Digits[24];
  size_t N = 0;
  do
    Digits[N++] = (char)('0' + V % 10);
  while ((V /= 10) && N < sizeof(Digits));
  while (N && Len + 1 < Size)
    Buf[Len++] = Digits[--N];
  return Len;
}

/* "<prefix>: sandbox: <What><Number><After>; ending the session\n", then the status. */
static void end_process(const char *What, unsigned long Number, const char *After, int Status) {
  static atomic_bool Ending;
  char Buf[256];
  /* One line: the watchdog and the SIGXCPU handler may both get here. */
  if (atomic_exchange(&Ending, true))
    for (;;)
      pause();
  size_t L = put(Buf, 0, sizeof(Buf), Prefix);
  L = put(Buf, L, sizeof(Buf), ": sandbox: ");
  L = put(Buf, L, sizeof(Buf), What);
  if (After) {
    L = put_uint(Buf, L, sizeof(Buf), Number);
    L = put(Buf, L, sizeof(Buf), After);
  }
  L = put(Buf, L, sizeof(Buf), "; ending the session\n");
  ssize_t W = write(ReportFd, Buf, L);
  (void)W;
  _exit(Status);
}

static void set_return(void *Uc, long V) {
#if defined(__x86_64__)
  ((ucontext_t *)Uc)->uc_mcontext.gregs[REG_RAX] = V;
#elif defined(__aarch64__)
  ((ucontext_t *)Uc)->uc_mcontext.regs[0] = (unsigned long)V;
#else
  (void)Uc;
  (void)V;
#endif
}

static bool can_emulate(void) {
#if defined(__x86_64__) || defined(__aarch64__)
  return true;
#else
  return false;
#endif
}

static void on_sigsys(int Sig, siginfo_t *Info, void *Uc) {
  (void)Sig;
  int Saved = errno;
  int Nr = Info->si_syscall;
  if (Info->si_arch != NativeArch)
    end_process("JIT'd code made a system call of another architecture (number ", (unsigned)Nr, ")",
                orc_rt_SandboxExit_ForbiddenCall);
  if (Nr >= 0 && Nr < NAMES && Emulate[Nr] && can_emulate()) {
    set_return(Uc, -(long)Emulate[Nr]);
    errno = Saved;
    return;
  }
  if (Nr >= 0 && Nr < NAMES && Names[Nr]) {
    char What[160];
    size_t L =
        put(What, 0, sizeof(What), "JIT'd code made a system call the sandbox does not allow: ");
    L = put(What, L, sizeof(What), Names[Nr]);
    What[L] = '\0';
    end_process(What, 0, NULL, orc_rt_SandboxExit_ForbiddenCall);
  }
  end_process("JIT'd code made a system call the sandbox does not allow: number ", (unsigned)Nr, "",
              orc_rt_SandboxExit_ForbiddenCall);
}

static void on_sigxcpu(int Sig) {
  (void)Sig;
  end_process("CPU time limit of ", CpuLimitS, " s reached", orc_rt_SandboxExit_CpuLimit);
}

/*
 * The watchdog thread: the wall-clock limit, and the CPU limit too, which
 * the SIGXCPU handler alone would miss where the signal is blocked or its
 * delivery deferred (ThreadSanitizer defers it to the next intercepted
 * call): the kernel's hard limit would then kill without a word. It sleeps
 * until the first limit could be reached, CPU time accruing at most one
 * second per CPU per second.
 */
static void *watchdog(void *Arg) {
  const struct timespec *Deadline = Arg;
  long Cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (Cpus < 1)
    Cpus = 1;
  for (;;) {
    struct timespec Now, Used, Wake;
    clock_gettime(CLOCK_MONOTONIC, &Now);
    Wake = TimeLimitS ? *Deadline : (struct timespec){Now.tv_sec + 3600, Now.tv_nsec};
    if (TimeLimitS && (Now.tv_sec > Deadline->tv_sec ||
                       (Now.tv_sec == Deadline->tv_sec && Now.tv_nsec >= Deadline->tv_nsec)))
      end_process("wall-clock time limit of ", TimeLimitS, " s reached",
                  orc_rt_SandboxExit_Timeout);
    if (CpuLimitS && clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &Used) == 0) {
      double Left = (double)CpuLimitS - ((double)Used.tv_sec + (double)Used.tv_nsec * 1e-9);
      if (Left <= 0)
        end_process("CPU time limit of ", CpuLimitS, " s reached", orc_rt_SandboxExit_CpuLimit);
      double Sleep = Left / (double)Cpus;
      if (Sleep < 0.01)
        Sleep = 0.01;
      double At = (double)Now.tv_sec + (double)Now.tv_nsec * 1e-9 + Sleep;
      if (At < (double)Wake.tv_sec + (double)Wake.tv_nsec * 1e-9) {
        Wake.tv_sec = (time_t)At;
        Wake.tv_nsec = (long)((At - (double)Wake.tv_sec) * 1e9);
      }
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &Wake, NULL) == EINTR)
      ;
  }
  return NULL;
}

/* ---- the options ---------------------------------------------------------------------- */

ORC_RT_EXPORT void orc_rt_SandboxOptions_init(orc_rt_SandboxOptions *O) {
  memset(O, 0, sizeof(*O));
  O->Mode = orc_rt_SandboxMode_Strict;
  O->MaxMemory = UINT64_C(2) << 30;
  O->MaxCpuS = 600;
  O->MaxFiles = 1024;
  O->ProgramName = "orcrt";
}

static orc_rt_ErrorRef check_paths(const char *What, const char *const *P, size_t N) {
  struct stat St;
  for (size_t I = 0; I < N; I++)
    if (!P[I] || stat(P[I], &St) < 0)
      return orc_rt_Error_fromErrno(errno, "sandbox: the %s path '%s' cannot be used", What,
                                    P[I] ? P[I] : "(null)");
  return NULL;
}

/* ---- rlimits, capabilities ----------------------------------------------------------- */

static orc_rt_ErrorRef lower_limit(int Resource, const char *Name, rlim_t Soft, rlim_t Hard) {
  struct rlimit L;
  if (getrlimit(Resource, &L) < 0)
    return orc_rt_Error_fromErrno(errno, "sandbox: cannot read %s", Name);
  if (L.rlim_max != RLIM_INFINITY && Hard > L.rlim_max)
    Hard = L.rlim_max;
  if (Soft > Hard)
    Soft = Hard;
  L.rlim_cur = Soft;
  L.rlim_max = Hard;
  if (setrlimit(Resource, &L) < 0)
    return orc_rt_Error_fromErrno(errno, "sandbox: cannot set %s", Name);
  return NULL;
}

static orc_rt_ErrorRef set_limits(const orc_rt_SandboxOptions *O) {
  orc_rt_ErrorRef Err = NULL;
  if (O->MaxMemory &&
      (Err = lower_limit(RLIMIT_AS, "RLIMIT_AS", (rlim_t)O->MaxMemory, (rlim_t)O->MaxMemory)))
    return Err;
  /* The hard limit, 2 s on, is the kernel's SIGKILL should the handler not end it. */
  if (O->MaxCpuS && (Err = lower_limit(RLIMIT_CPU, "RLIMIT_CPU", O->MaxCpuS, O->MaxCpuS + 2u)))
    return Err;
  if (O->MaxFiles) {
    struct rlimit L;
    if (getrlimit(RLIMIT_NOFILE, &L) == 0 &&
        (L.rlim_cur == RLIM_INFINITY || L.rlim_cur > O->MaxFiles) &&
        (Err = lower_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", O->MaxFiles, O->MaxFiles)))
      return Err;
  }
  /* A core dump is written by the kernel, past Landlock. */
  return lower_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0);
}

/*
 * Drop every capability of the thread (root keeps uid 0 but no privilege):
 * the bounding set where the thread may change it, then the sets.
 */
static orc_rt_ErrorRef drop_capabilities(void) {
  struct __user_cap_header_struct H = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct D[_LINUX_CAPABILITY_U32S_3];
  if (syscall(SYS_capget, &H, D) < 0)
    return orc_rt_Error_fromErrno(errno, "sandbox: cannot read the capabilities");
  if (D[0].effective & (1u << CAP_SETPCAP))
    for (int C = 0; prctl(PR_CAPBSET_READ, C, 0, 0, 0) >= 0; C++)
      if (prctl(PR_CAPBSET_DROP, C, 0, 0, 0) < 0)
        return orc_rt_Error_fromErrno(errno, "sandbox: cannot drop capability %d", C);
  memset(D, 0, sizeof(D));
  if (syscall(SYS_capset, &H, D) < 0)
    return orc_rt_Error_fromErrno(errno, "sandbox: cannot drop the capabilities");
#ifdef PR_CAP_AMBIENT
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
#endif
  return NULL;
}

/* ---- Landlock ---------------------------------------------------------------------- */

struct ruleset {
  int Fd;
  uint64_t Handled;
};

/* Allow Rights beneath Path (only the file rights if it is a file). Missing is an error if Must. */
static orc_rt_ErrorRef allow_path(struct ruleset *R, const char *Path, uint64_t Rights, bool Must) {
  struct stat St;
  int Fd = open(Path, O_PATH | O_CLOEXEC);
  if (Fd < 0)
    return Must ? orc_rt_Error_fromErrno(errno, "sandbox: cannot open '%s'", Path) : NULL;
  orc_rt_ErrorRef Err = NULL;
  if (fstat(Fd, &St) < 0) {
    Err = orc_rt_Error_fromErrno(errno, "sandbox: cannot stat '%s'", Path);
    goto done;
  }
  if (!S_ISDIR(St.st_mode))
    Rights &= LL_FS_FILE_RIGHTS;
  struct ll_path_beneath B = {.Allowed = Rights & R->Handled, .ParentFd = Fd};
  if (B.Allowed && syscall(SYS_landlock_add_rule, R->Fd, LL_RULE_PATH_BENEATH, &B, 0) < 0)
    Err = orc_rt_Error_fromErrno(errno, "sandbox: cannot allow '%s'", Path);
done:
  close(Fd);
  return Err;
}

/* The directories the dynamic loader reads libraries from, as ld.so does (and LD_LIBRARY_PATH). */
static orc_rt_ErrorRef allow_library_paths(struct ruleset *R) {
  static const char *const Dirs[] = {
      "/lib",           "/lib64",           "/usr/lib",       "/usr/lib64",
      "/usr/local/lib", "/etc/ld.so.cache", "/etc/localtime", "/sys/devices/system/cpu"};
  const uint64_t Read = LL_FS_READ_FILE | LL_FS_READ_DIR;
  orc_rt_ErrorRef Err = NULL;
  for (size_t I = 0; I < sizeof(Dirs) / sizeof(Dirs[0]) && !Err; I++)
    Err = allow_path(R, Dirs[I], Read, false);
  if (!Err)
    Err = allow_path(R, "/dev/null", LL_FS_READ_FILE | LL_FS_WRITE_FILE, false);
  if (!Err)
    Err = allow_path(R, "/dev/zero", LL_FS_READ_FILE, false);
  if (!Err)
    Err = allow_path(R, "/dev/urandom", LL_FS_READ_FILE, false);
  const char *Env = getenv("LD_LIBRARY_PATH");
  char *Copy = Env ? strdup(Env) : NULL, *Save = NULL;
  for (char *D = Copy ? strtok_r(Copy, ":", &Save) : NULL; D && !Err;
       D = strtok_r(NULL, ":", &Save))
    Err = allow_path(R, D, Read, false);
  free(Copy);
  return Err;
}

static orc_rt_ErrorRef enter_landlock(const orc_rt_SandboxOptions *O, int Abi) {
  struct ll_ruleset_attr A = {.HandledFs = LL_FS_ABI1};
  if (Abi >= 2)
    A.HandledFs |= LL_FS_REFER;
  if (Abi >= 3)
    A.HandledFs |= LL_FS_TRUNCATE;
  if (Abi >= 5)
    A.HandledFs |= LL_FS_IOCTL_DEV;
  if (Abi >= 4 && !O->AllowNet)
    A.HandledNet = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
  if (Abi >= 6)
    A.Scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
  /* The attribute's size is that of the ABI's: older kernels refuse fields they do not know. */
  size_t Size = Abi >= 6 ? sizeof(A) : Abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
  struct ruleset R = {.Fd = (int)syscall(SYS_landlock_create_ruleset, &A, Size, 0),
                      .Handled = A.HandledFs};
  if (R.Fd < 0)
    return orc_rt_Error_fromErrno(errno, "sandbox: cannot create a Landlock ruleset");
  orc_rt_ErrorRef Err = allow_library_paths(&R);
  for (size_t I = 0; I < O->NumReadPaths && !Err; I++)
    Err = allow_path(&R, O->ReadPaths[I], LL_FS_READ_FILE | LL_FS_READ_DIR, true);
  for (size_t I = 0; I < O->NumWritePaths && !Err; I++)
    Err = allow_path(&R, O->WritePaths[I], R.Handled & ~LL_FS_EXECUTE, true);
  if (!Err && syscall(SYS_landlock_restrict_self, R.Fd, 0) < 0)
    Err = orc_rt_Error_fromErrno(errno, "sandbox: cannot enter the Landlock ruleset");
  close(R.Fd);
  return Err;
}

/* ---- seccomp ----------------------------------------------------------------------- */

/* Allowed whatever their arguments; paths are Landlock's business. */
static const char *const Allowed[] = {
    /* files and descriptors */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "close", "close_range", "lseek", "fstat", "newfstatat", "stat", "lstat", "statx",
    "statfs", "fstatfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd",
    "chdir", "fchdir", "getdents", "getdents64", "open", "openat", "openat2", "creat", "dup",
    "dup2", "dup3", "fcntl", "flock", "fsync", "fdatasync", "sync_file_range", "fadvise64",
    "fallocate", "ftruncate", "rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir",
    "mkdirat", "rmdir", "link", "linkat", "symlink", "symlinkat", "umask", "splice", "tee",
    "sendfile", "copy_file_range", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
    "flistxattr",
    /* waiting */
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "pipe", "pipe2", "signalfd",
    "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    /* memory (mmap and mprotect are below: never W and X together) */
    "munmap", "mremap", "madvise", "mincore", "msync", "mlock", "mlock2", "munlock", "mlockall",
    "munlockall", "brk", "membarrier", "get_mempolicy", "set_mempolicy", "mbind", "memfd_create",
    "pkey_alloc", "pkey_free",
    /* threads */
    "futex", "futex_waitv", "set_robust_list", "rseq", "set_tid_address", "exit", "exit_group",
    "arch_prctl", "sched_yield", "sched_getaffinity", "sched_getparam", "sched_getscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "sched_getattr",
    "getcpu", "getpriority",
    /* signals (rt_sigaction and kill-like calls are below) */
    "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend",
    "sigaltstack", "pause", "alarm", "getitimer", "setitimer", "timer_create", "timer_settime",
    "timer_gettime", "timer_getoverrun", "timer_delete", "restart_syscall",
    /* time, identity, limits */
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
    "times", "getrusage", "sysinfo", "uname", "getpid", "getppid", "gettid", "getuid", "geteuid",
    "getgid", "getegid", "getresuid", "getresgid", "getgroups", "getpgid", "getpgrp", "getsid",
    "setsid", "setpgid", "capget", "getrlimit", "getrandom", "wait4", "waitid",
    /* sockets that already exist (the listen= channel, socketpairs) */
    "connect", "bind", "listen", "accept", "accept4", "getsockname", "getpeername", "getsockopt",
    "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown"};

/* Denied with EPERM whatever their arguments. */
static const char *const Denied[] = {
    /* processes: fork and vfork here, clone below */
    "execve", "execveat", "fork", "vfork",
    /* other processes */
    "ptrace", "kcmp", "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "process_madvise",
    "process_mrelease", "tkill",
    /* metadata, which Landlock does not cover */
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utime",
    "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
    "lremovexattr", "fremovexattr", "mknod", "mknodat",
    /* privilege and kernel state */
    "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "swapon", "swapoff", "reboot", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "acct", "quotactl",
    "sethostname", "setdomainname", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "iopl", "ioperm", "modify_ldt", "unshare", "setns", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key",
    "fanotify_init", "fanotify_mark", "name_to_handle_at", "open_by_handle_at", "syslog", "vhangup",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
    "setgroups", "capset", "setrlimit", "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd",
    "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl", "memfd_secret", "inotify_init",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "seccomp", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self", "migrate_pages", "move_pages"};

/* Allowed with some arguments; with others they trap and the handler fails them (EPERM). */
static const char *const Emulated[] = {"prctl",
                                       "ioctl",
                                       "socketpair",
                                       "personality",
                                       "sched_setaffinity",
                                       "sched_setscheduler",
                                       "sched_setparam",
                                       "sched_setattr",
                                       "setpriority",
                                       "get_robust_list"};

struct filter {
  scmp_filter_ctx Ctx;
  orc_rt_ErrorRef Err;
};

/* Add a rule (once an error has happened, nothing more). */
static void rule(struct filter *F, uint32_t Action, const char *Name, unsigned N,
                 const struct scmp_arg_cmp *Cmp) {
  if (F->Err)
    return;
  int Nr = seccomp_syscall_resolve_name(Name);
  if (Nr == __NR_SCMP_ERROR)
    return; /* not a system call of this architecture */
  int Rc = seccomp_rule_add_array(F->Ctx, Action, Nr, N, Cmp);
  if (Rc < 0)
    F->Err = orc_rt_Error_fromErrno(-Rc, "sandbox: cannot add the seccomp rule for %s", Name);
}

static void rule0(struct filter *F, uint32_t Action, const char *Name) {
  rule(F, Action, Name, 0, NULL);
}

static void rule1(struct filter *F, uint32_t Action, const char *Name, struct scmp_arg_cmp A) {
  rule(F, Action, Name, 1, &A);
}

static void rule2(struct filter *F, uint32_t Action, const char *Name, struct scmp_arg_cmp A,
                  struct scmp_arg_cmp B) {
  struct scmp_arg_cmp C[2] = {A, B};
  rule(F, Action, Name, 2, C);
}

static void add_memory_rules(struct filter *F) {
  static const char *const Calls[] = {"mmap", "mprotect", "pkey_mprotect"};
  const scmp_datum_t WX = PROT_WRITE | PROT_EXEC;
  for (size_t I = 0; I < sizeof(Calls) / sizeof(Calls[0]); I++) {
    rule1(F, SCMP_ACT_ALLOW, Calls[I], SCMP_A2(SCMP_CMP_MASKED_EQ, WX, 0));
    rule1(F, SCMP_ACT_ALLOW, Calls[I], SCMP_A2(SCMP_CMP_MASKED_EQ, WX, PROT_WRITE));
    rule1(F, SCMP_ACT_ALLOW, Calls[I], SCMP_A2(SCMP_CMP_MASKED_EQ, WX, PROT_EXEC));
    rule1(F, SCMP_ACT_ERRNO(EACCES), Calls[I], SCMP_A2(SCMP_CMP_MASKED_EQ, WX, WX));
  }
}

/*
 * clone: threads only. A plain errno for everything else, never a trap:
 * posix_spawn() blocks every signal around clone, and a trap then kills.
 * clone3 hides its flags from the filter: ENOSYS makes glibc use clone.
 */
static void add_process_rules(struct filter *F) {
  const scmp_datum_t Thread = CLONE_THREAD | CLONE_VM | CLONE_SIGHAND;
  const scmp_datum_t Namespaces = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                  CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
  rule1(F, SCMP_ACT_ALLOW, "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, Thread | Namespaces, Thread));
  rule1(F, SCMP_ACT_ERRNO(EPERM), "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
  rule1(F, SCMP_ACT_ERRNO(EPERM), "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM, 0));
  rule1(F, SCMP_ACT_ERRNO(EPERM), "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_SIGHAND, 0));
  static const scmp_datum_t Each[] = {CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                      CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};
  for (size_t I = 0; I < sizeof(Each) / sizeof(Each[0]); I++)
    rule1(F, SCMP_ACT_ERRNO(EPERM), "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, Each[I], Each[I]));
  rule0(F, SCMP_ACT_ERRNO(ENOSYS), "clone3");
}

/*
 * Signals and process_vm_* only to the process itself (the crash report
 * reads its own memory that way); SIGSYS's and SIGXCPU's handlers stay.
 */
static void add_signal_rules(struct filter *F) {
  scmp_datum_t Self = (scmp_datum_t)getpid();
  static const char *const Kill[] = {"kill",
                                     "tgkill",
                                     "rt_sigqueueinfo",
                                     "rt_tgsigqueueinfo",
                                     "process_vm_readv",
                                     "process_vm_writev"};
  for (size_t I = 0; I < sizeof(Kill) / sizeof(Kill[0]); I++) {
    rule1(F, SCMP_ACT_ALLOW, Kill[I], SCMP_A0(SCMP_CMP_EQ, Self));
    rule1(F, SCMP_ACT_ERRNO(EPERM), Kill[I], SCMP_A0(SCMP_CMP_NE, Self));
  }
  rule1(F, SCMP_ACT_ALLOW, "rt_sigaction", SCMP_A0(SCMP_CMP_LT, SIGXCPU));
  rule1(F, SCMP_ACT_ALLOW, "rt_sigaction", SCMP_A0(SCMP_CMP_GT, SIGSYS));
  for (int S = SIGXCPU + 1; S < SIGSYS; S++)
    rule1(F, SCMP_ACT_ALLOW, "rt_sigaction", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)S));
  static const int Kept[] = {SIGXCPU, SIGSYS};
  for (size_t I = 0; I < 2; I++) {
    rule2(F, SCMP_ACT_ALLOW, "rt_sigaction", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)Kept[I]),
          SCMP_A1(SCMP_CMP_EQ, 0));
    rule2(F, SCMP_ACT_ERRNO(EPERM), "rt_sigaction", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)Kept[I]),
          SCMP_A1(SCMP_CMP_NE, 0));
  }
}

/* The calls allowed for some arguments only; the rest trap (Emulated) or fail. */
static void add_argument_rules(struct filter *F, const orc_rt_SandboxOptions *O, int Abi) {
  scmp_datum_t Self = (scmp_datum_t)getpid();
  static const int Prctl[] = {PR_SET_NAME,       PR_GET_NAME,         PR_GET_DUMPABLE,
                              PR_CAPBSET_READ,   PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP,
                              PR_GET_TIMERSLACK, PR_SET_TIMERSLACK,   PR_GET_PDEATHSIG,
                              0x53564d41 /* PR_SET_VMA */};
  for (size_t I = 0; I < sizeof(Prctl) / sizeof(Prctl[0]); I++)
    rule1(F, SCMP_ACT_ALLOW, "prctl", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)Prctl[I]));
  /* Never TIOCSTI; requests compared on their low 32 bits, as the kernel reads them. */
  static const unsigned long Ioctl[] = {TCGETS,  TIOCGWINSZ, TIOCGPGRP, FIONREAD,
                                        FIONBIO, FIOCLEX,    FIONCLEX};
  for (size_t I = 0; I < sizeof(Ioctl) / sizeof(Ioctl[0]); I++)
    rule1(F, SCMP_ACT_ALLOW, "ioctl", SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, Ioctl[I]));
  rule1(F, SCMP_ACT_ALLOW, "socketpair", SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
  rule1(F, SCMP_ACT_ALLOW, "personality", SCMP_A0(SCMP_CMP_EQ, 0xffffffffu));
  rule1(F, SCMP_ACT_ALLOW, "get_robust_list", SCMP_A0(SCMP_CMP_EQ, 0));
  static const char *const Sched[] = {"sched_setaffinity", "sched_setscheduler", "sched_setparam",
                                      "sched_setattr"};
  for (size_t I = 0; I < sizeof(Sched) / sizeof(Sched[0]); I++) {
    rule1(F, SCMP_ACT_ALLOW, Sched[I], SCMP_A0(SCMP_CMP_EQ, 0));
    rule1(F, SCMP_ACT_ALLOW, Sched[I], SCMP_A0(SCMP_CMP_EQ, Self));
  }
  rule2(F, SCMP_ACT_ALLOW, "setpriority", SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS),
        SCMP_A1(SCMP_CMP_EQ, 0));
  /* Reading limits only: raising them is what root could undo the sandbox with. */
  rule1(F, SCMP_ACT_ALLOW, "prlimit64", SCMP_A2(SCMP_CMP_EQ, 0));
  rule1(F, SCMP_ACT_ERRNO(EPERM), "prlimit64", SCMP_A2(SCMP_CMP_NE, 0));
  if (O->AllowNet) {
    rule1(F, SCMP_ACT_ALLOW, "socket", SCMP_A0(SCMP_CMP_EQ, AF_INET));
    rule1(F, SCMP_ACT_ALLOW, "socket", SCMP_A0(SCMP_CMP_EQ, AF_INET6));
    Emulate[seccomp_syscall_resolve_name("socket")] = EACCES;
  } else {
    rule0(F, SCMP_ACT_ERRNO(EACCES), "socket");
  }
  /* truncate(path) is Landlock's only from ABI 3. */
  rule0(F, Abi >= 3 ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM), "truncate");
}

static orc_rt_ErrorRef enter_seccomp(const orc_rt_SandboxOptions *O, int Abi) {
  struct filter F = {.Ctx = seccomp_init(SCMP_ACT_TRAP)};
  if (!F.Ctx)
    return orc_rt_Error_create("sandbox: cannot create a seccomp filter");
  /* Another architecture's calls (int 0x80) trap too: libseccomp's default kills only the thread.
   */
  int Rc = seccomp_attr_set(F.Ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
  if (Rc == 0)
    Rc = seccomp_attr_set(F.Ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  if (Rc == 0)
    Rc = seccomp_attr_set(F.Ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (Rc < 0)
    F.Err = orc_rt_Error_fromErrno(-Rc, "sandbox: cannot configure the seccomp filter");
  for (size_t I = 0; I < sizeof(Allowed) / sizeof(Allowed[0]); I++)
    rule0(&F, SCMP_ACT_ALLOW, Allowed[I]);
  for (size_t I = 0; I < sizeof(Denied) / sizeof(Denied[0]); I++)
    rule0(&F, SCMP_ACT_ERRNO(EPERM), Denied[I]);
  for (size_t I = 0; I < sizeof(Emulated) / sizeof(Emulated[0]); I++) {
    int Nr = seccomp_syscall_resolve_name(Emulated[I]);
    if (Nr >= 0 && Nr < NAMES)
      Emulate[Nr] = EPERM;
  }
  add_memory_rules(&F);
  add_process_rules(&F);
  add_signal_rules(&F);
  add_argument_rules(&F, O, Abi);
  if (!F.Err && (Rc = seccomp_load(F.Ctx)) < 0)
    F.Err = orc_rt_Error_fromErrno(-Rc, "sandbox: cannot load the seccomp filter");
  seccomp_release(F.Ctx);
  return F.Err;
}

/* ---- entering ---------------------------------------------------------------------- */

/* The names the SIGSYS handler prints, resolved now: it cannot allocate. Kept for good. */
static void resolve_names(void) {
  for (int Nr = 0; Nr < NAMES; Nr++)
    Names[Nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, Nr);
}

static orc_rt_ErrorRef install_handlers(const orc_rt_SandboxOptions *O) {
  snprintf(Prefix, sizeof(Prefix), "%s", O->ProgramName ? O->ProgramName : "orcrt");
  int Fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
  if (Fd >= 0)
    ReportFd = Fd;
  NativeArch = seccomp_arch_native();
  CpuLimitS = O->MaxCpuS;
  TimeLimitS = O->TimeoutS;
  resolve_names();
  struct sigaction Sys = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_NODEFER};
  struct sigaction Cpu = {.sa_handler = on_sigxcpu};
  sigemptyset(&Sys.sa_mask);
  sigfillset(&Cpu.sa_mask);
  if (sigaction(SIGSYS, &Sys, NULL) < 0 || (O->MaxCpuS && sigaction(SIGXCPU, &Cpu, NULL) < 0))
    return orc_rt_Error_fromErrno(errno, "sandbox: cannot install its signal handlers");
  return NULL;
}

static orc_rt_ErrorRef start_watchdog(unsigned Seconds) {
  static struct timespec Deadline; /* read by the watchdog only */
  pthread_attr_t A;
  pthread_t T;
  sigset_t All, Old;
  clock_gettime(CLOCK_MONOTONIC, &Deadline);
  Deadline.tv_sec += Seconds;
  /* The watchdog takes none of the process's signals. */
  sigfillset(&All);
  pthread_sigmask(SIG_SETMASK, &All, &Old);
  int Rc = pthread_attr_init(&A);
  if (Rc == 0) {
    pthread_attr_setdetachstate(&A, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&A, 64 * 1024);
    Rc = pthread_create(&T, &A, watchdog, &Deadline);
    pthread_attr_destroy(&A);
  }
  pthread_sigmask(SIG_SETMASK, &Old, NULL);
  return Rc ? orc_rt_Error_fromErrno(Rc, "sandbox: cannot start the watchdog") : NULL;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_Sandbox_enter(const orc_rt_SandboxOptions *O,
                                                   orc_rt_ErrorRef *Unenforced) {
  orc_rt_ErrorRef Missing = NULL, Err;
  if (Unenforced)
    *Unenforced = NULL;
  if (O->Mode != orc_rt_SandboxMode_Strict && O->Mode != orc_rt_SandboxMode_BestEffort)
    return orc_rt_Error_create("sandbox: unknown mode %d", (int)O->Mode);
  if ((Err = check_paths("read", O->ReadPaths, O->NumReadPaths)) ||
      (Err = check_paths("write", O->WritePaths, O->NumWritePaths)))
    return Err;
  if (atomic_exchange(&Entered, true))
    return orc_rt_Error_create("sandbox: the process is already in a sandbox");

  int Abi = landlock_abi();
  bool Seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 && seccomp_api_get() >= 3;
  if (!Abi)
    Missing = orc_rt_Error_create("file access is not restricted: the kernel has no Landlock "
                                  "(Linux 5.13 or later with landlock in its LSM list)");
  if (!Seccomp)
    Missing = orc_rt_Error_join(
        Missing, orc_rt_Error_create("system calls are not filtered: the kernel has no "
                                     "seccomp filters (or a container forbids them)"));
  if (Missing && O->Mode == orc_rt_SandboxMode_Strict) {
    atomic_store(&Entered, false);
    return orc_rt_Error_join(orc_rt_Error_create("sandbox: cannot enforce the policy"), Missing);
  }

  if ((Err = install_handlers(O)) || (Err = set_limits(O)) || (Err = drop_capabilities()))
    goto fail;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    Err = orc_rt_Error_fromErrno(errno, "sandbox: cannot set no_new_privs");
    goto fail;
  }
  if (Abi && (Err = enter_landlock(O, Abi)))
    goto fail;
  if (Seccomp && (Err = enter_seccomp(O, Abi)))
    goto fail;
  if ((O->TimeoutS || O->MaxCpuS) && (Err = start_watchdog(O->TimeoutS)))
    goto fail;
  if (Unenforced)
    *Unenforced = Missing;
  else
    orc_rt_Error_consume(Missing);
  return NULL;
fail:
  orc_rt_Error_consume(Missing);
  return Err;
}

/*
 * main.c - orcrt-executor, the executor program LLVM 19's controllers launch
 *
 * llvm-jitlink-19 -oop-executor=orcrt-executor runs "orcrt-executor
 * filedescs=R,W"; lli-19 -remote-mcjit -mcjit-remote-process=orcrt-executor
 * runs "orcrt-executor R W". Either way the executor reads calls from R,
 * writes results to W, and runs one Session with the memory, dylib and
 * bootstrap Services until the controller goes away. Started by hand as
 * "orcrt-executor listen=HOST:PORT", it instead waits for one controller
 * (llvm-jitlink-19 -oop-executor-connect=HOST:PORT) to connect over TCP and
 * serves it on that one socket.
 *
 * The program is options, environment, descriptors and parent death; the
 * session itself, its end included, is the library's
 * (orc_rt_Session_supervise(), orc_rt_PipeControllerAccess_acceptTCP()).
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include <orcrt/bootstrap.h>
#include <orcrt/dylib.h>
#include <orcrt/memory.h>
#include <orcrt/orcrt.h>
#include <orcrt/pipe-access.h>
#include <orcrt/shared-memory.h>
#include <orcrt/socket-listen.h>
#include <orcrt/supervise.h>

#include "util/sigpipe.h"

#include "sandbox.h"

#define PROGRAM "orcrt-executor"
#define MAX_THREADS 1024
/* How long a TCP session must have been idle before the executor probes the
   controller (see --idle-probe). */
#define DEFAULT_PROBE_MS 100
#define MAX_PROBE_MS 3600000

/* getopt_long's code for options without a short form. */
enum { OPT_LLVM = 256, OPT_CLEANUP_TIMEOUT };

/* --cleanup-timeout: the default, and the largest accepted, in seconds. */
#define DEFAULT_CLEANUP_S 60
#define MAX_CLEANUP_S 86400

struct settings {
  unsigned Threads; /* 0: one per CPU */
  orc_rt_MemoryStrategy Memory;
  orc_rt_LogLevel LogLevel;
  int InFd, OutFd;
  /* listen=HOST:PORT: where to wait for the controller ("": loopback). */
  char ListenHost[256];
  uint16_t ListenPort;
  bool Listen;
  unsigned ProbeMs; /* for a TCP controller, 0: never probe */
  orc_rt_Protocol Protocol;
  unsigned CleanupS; /* the bound of the cleanup at the end, 0: none */
  struct sandbox_settings Sandbox;
};

static void usage(FILE *F) {
  fputs("Usage: " PROGRAM " [OPTION]... filedescs=IN,OUT [IGNORED]...\n"
        "  or:  " PROGRAM " [OPTION]... IN OUT [IGNORED]...\n"
        "  or:  " PROGRAM " [OPTION]... listen=[HOST:]PORT [IGNORED]...\n"
        "Run JIT'd code for an out-of-process controller of LLVM 14, 15, 16, 19 or\n"
        "22, which sends calls on the inherited descriptor IN and reads results\n"
        "from descriptor OUT, or which connects over TCP.\n"
        "\n"
        "Launch conventions:\n"
        "  filedescs=IN,OUT   as llvm-jitlink-N -oop-executor=" PROGRAM " and\n"
        "                     clang-repl-22 --oop-executor=" PROGRAM " pass them\n"
        "  IN OUT             as lli-N -jit-kind=mcjit -remote-mcjit\n"
        "                     -mcjit-remote-process=" PROGRAM " passes them\n"
        "  listen=[HOST:]PORT wait for one controller to connect over TCP, as\n"
        "                     llvm-jitlink-N -oop-executor-connect=HOST:PORT does,\n"
        "                     and serve it on that socket. HOST defaults to\n"
        "                     127.0.0.1 (loopback only; listen=:PORT and\n"
        "                     listen=PORT mean the same); name another address,\n"
        "                     e.g. 0.0.0.0, to accept connections from elsewhere.\n"
        "                     PORT 0 picks a free port. Once listening, the\n"
        "                     executor prints \"" PROGRAM ": listening on ADDR:PORT\"\n"
        "                     on stderr.\n"
        "Words after the descriptors are ignored; options go before them.\n"
        "\n"
        "Options:\n"
        "  -j, --threads=N        worker threads, 1 to 1024 (default: one per CPU,\n"
        "                         at least 2)\n"
        "  -m, --memory=STRATEGY  how JIT memory keeps W^X: memfd (default; mprotect\n"
        "                         if the kernel has no memfd) or mprotect\n"
        "  -l, --log-level=LEVEL  error (default), warning, info or debug\n"
        "      --llvm=N           speak only the wire of LLVM N's controllers (14, 15,\n"
        "                         16, 19 or 22); auto (default): one Setup that all\n"
        "                         of them read, the wire told by the first calls\n"
        "      --cleanup-timeout=SECONDS\n"
        "                         how long the cleanup at the end (deallocation\n"
        "                         actions, libraries' destructors) may run once\n"
        "                         the JIT'd code has returned (default 60; 0: no\n"
        "                         limit)\n"
        "  -p, --idle-probe=MS    with listen=: once a session has been idle for MS\n"
        "                         milliseconds (default 100; 0: never), send the\n"
        "                         controller an empty call, which ends\n"
        "                         llvm-jitlink-19's teardown over TCP\n"
        "      --sandbox[=MODE]   confine the JIT'd code (see SANDBOX in the manual):\n"
        "                         files only under the library directories, no\n"
        "                         network, no execve, no new processes, no ptrace,\n"
        "                         no page writable and executable. MODE strict\n"
        "                         (default): refuse to start where the kernel lacks\n"
        "                         Landlock or seccomp; best-effort: start, saying\n"
        "                         what is not enforced\n"
        "      --allow-read=PATH  with --sandbox: PATH (a file or a tree) readable;\n"
        "                         repeatable\n"
        "      --allow-write=PATH with --sandbox: PATH readable and writable;\n"
        "                         repeatable (-use-shared-memory: /dev/shm)\n"
        "      --allow-net        with --sandbox: IPv4 and IPv6 sockets allowed\n"
        "      --max-memory=SIZE  with --sandbox: address-space limit, K, M or G\n"
        "                         (default 2G; 0: none)\n"
        "      --max-cpu=SECONDS  with --sandbox: CPU time limit (default 600; 0: none)\n"
        "      --timeout=SECONDS  with --sandbox: wall-clock limit from the start of\n"
        "                         the session (default 0: none)\n"
        "  -h, --help             show this help and exit\n"
        "  -V, --version          show the version and exit\n"
        "\n"
        "The controllers start the executor with fixed arguments, so the options can\n"
        "also be set in the environment: ORCRT_THREADS, ORCRT_MEMORY, ORCRT_LOG,\n"
        "ORCRT_LLVM, ORCRT_CLEANUP_TIMEOUT, ORCRT_SANDBOX (1, strict, best-effort\n"
        "or 0), ORCRT_ALLOW_READ and ORCRT_ALLOW_WRITE (paths separated by ':'),\n"
        "ORCRT_ALLOW_NET=1, ORCRT_MAX_MEMORY, ORCRT_MAX_CPU and ORCRT_TIMEOUT (the\n"
        "command line wins).\n"
        "\n"
        "The executor is killed if its controller dies without closing the\n"
        "descriptors (not with listen=: it is not the controller's child).\n"
        "\n"
        "When the controller goes away, calls still running (JIT'd code) get 1 s to\n"
        "return. If code is still running then, the executor gives up on it: it\n"
        "runs the deallocation actions of the JIT memory left, flushes what output\n"
        "it can within another 0.5 s and exits without waiting for that code.\n"
        "Otherwise the cleanup (deallocation actions, closing the libraries) runs\n"
        "to its end, within --cleanup-timeout.\n"
        "\n"
        "Exit status:\n"
        "  0  the controller ended the session in order (it closed the pipes at a\n"
        "     frame boundary, or sent a Hangup)\n"
        "  1  a protocol error, a usage error, or the session could not start\n"
        "  124  the sandbox's wall-clock limit (--timeout) was reached\n"
        "  152  the sandbox's CPU time limit (--max-cpu) was reached\n"
        "  159  JIT'd code made a system call the sandbox does not allow\n",
        F);
}

/* A one-line diagnostic on stderr, then Hint if it is not NULL. */
static void vcomplain(const char *Hint, const char *Fmt, va_list Ap) ORC_RT_PRINTF(2, 0);
static void vcomplain(const char *Hint, const char *Fmt, va_list Ap) {
  fputs(PROGRAM ": ", stderr);
  vfprintf(stderr, Fmt, Ap);
  fputc('\n', stderr);
  if (Hint)
    fputs(Hint, stderr);
}

static void complain(const char *Fmt, ...) ORC_RT_PRINTF(1, 2);
static void complain(const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  vcomplain(NULL, Fmt, Ap);
  va_end(Ap);
}

static int usage_error(const char *Fmt, ...) ORC_RT_PRINTF(1, 2);
static int usage_error(const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  vcomplain("Try '" PROGRAM " --help'.\n", Fmt, Ap);
  va_end(Ap);
  return EXIT_FAILURE;
}

/* A whole decimal number in [Min, Max]. */
static bool parse_int(const char *S, long Min, long Max, long *Out) {
  char *End;
  if (!S || *S < '0' || *S > '9')
    return false;
  errno = 0;
  long V = strtol(S, &End, 10);
  if (errno || *End || V < Min || V > Max)
    return false;
  *Out = V;
  return true;
}

static bool parse_threads(const char *S, unsigned *Out) {
  long V;
  if (!parse_int(S, 1, MAX_THREADS, &V))
    return false;
  *Out = (unsigned)V;
  return true;
}

static bool parse_memory(const char *S, orc_rt_MemoryStrategy *Out) {
  if (S && strcmp(S, "memfd") == 0)
    *Out = orc_rt_MemoryStrategy_MemFD;
  else if (S && strcmp(S, "mprotect") == 0)
    *Out = orc_rt_MemoryStrategy_MProtect;
  else
    return false;
  return true;
}

/* "R,W" into two descriptor numbers. */
static bool parse_fd_pair(const char *S, int *In, int *Out) {
  const char *Comma = strchr(S, ',');
  char First[32];
  long A, B;
  if (!Comma || (size_t)(Comma - S) >= sizeof(First))
    return false;
  memcpy(First, S, (size_t)(Comma - S));
  First[Comma - S] = '\0';
  if (!parse_int(First, 0, INT_MAX, &A) || !parse_int(Comma + 1, 0, INT_MAX, &B))
    return false;
  *In = (int)A;
  *Out = (int)B;
  return true;
}

/*
 * "[HOST:]PORT", "[IPV6]:PORT" or ":PORT" into Set->ListenHost/ListenPort.
 * An empty or missing host stays empty: the library listens on the
 * loopback address then (orc_rt_PipeControllerAccess_acceptTCP()).
 */
/* --llvm= and ORCRT_LLVM: a release orcrt serves, or "auto". */
static bool parse_protocol(const char *Text, orc_rt_Protocol *Out) {
  static const orc_rt_Protocol Known[] = {orc_rt_Protocol_LLVM14, orc_rt_Protocol_LLVM15,
                                          orc_rt_Protocol_LLVM16, orc_rt_Protocol_LLVM19,
                                          orc_rt_Protocol_LLVM22};
  long V;
  if (strcmp(Text, "auto") == 0) {
    *Out = orc_rt_Protocol_Auto;
    return true;
  }
  if (!parse_int(Text, 0, INT_MAX, &V))
    return false;
  for (size_t I = 0; I < sizeof(Known) / sizeof(Known[0]); I++)
    if (V == (long)Known[I]) {
      *Out = Known[I];
      return true;
    }
  return false;
}

static bool parse_listen(const char *Spec, struct settings *Set) {
  const char *Colon = strrchr(Spec, ':');
  const char *Host = "", *Port = Spec;
  size_t HostLen = 0;
  long V;
  if (Colon) {
    Host = Spec;
    HostLen = (size_t)(Colon - Spec);
    Port = Colon + 1;
    /* An IPv6 address in brackets: drop them. */
    if (HostLen >= 2 && Host[0] == '[' && Host[HostLen - 1] == ']') {
      Host++;
      HostLen -= 2;
    } else if (memchr(Host, ':', HostLen) || memchr(Host, '[', HostLen)) {
      return false;
    }
  }
  if (!parse_int(Port, 0, 65535, &V) || HostLen >= sizeof(Set->ListenHost))
    return false;
  memcpy(Set->ListenHost, Host, HostLen);
  Set->ListenHost[HostLen] = '\0';
  Set->ListenPort = (uint16_t)V;
  Set->Listen = true;
  return true;
}

/*
 * Check that Fd is open in a mode that allows reading (ForWriting false) or
 * writing, and make it close-on-exec so that programs the JIT'd code starts
 * do not inherit the channel. Returns NULL or a message.
 */
static const char *check_fd(int Fd, bool ForWriting) {
  int Fl = fcntl(Fd, F_GETFL);
  int FdFl = fcntl(Fd, F_GETFD);
  if (Fl < 0 || FdFl < 0)
    return "is not open";
  int Mode = Fl & O_ACCMODE;
  if (ForWriting ? Mode == O_RDONLY : Mode == O_WRONLY)
    return ForWriting ? "is not open for writing" : "is not open for reading";
  if (fcntl(Fd, F_SETFD, FdFl | FD_CLOEXEC) < 0)
    return "cannot be made close-on-exec";
  return NULL;
}

/*
 * Fill *Set from the command line, then from the environment for what the
 * command line left unset. Returns -1 to go on, or the exit status.
 */
static int parse_arguments(int Argc, char **Argv, struct settings *Set) {
  static const struct option Long[] = {
      {"threads", required_argument, NULL, 'j'},
      {"memory", required_argument, NULL, 'm'},
      {"log-level", required_argument, NULL, 'l'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {"idle-probe", required_argument, NULL, 'p'},
      {"llvm", required_argument, NULL, OPT_LLVM},
      {"cleanup-timeout", required_argument, NULL, OPT_CLEANUP_TIMEOUT},
      SANDBOX_LONG_OPTIONS,
      {NULL, 0, NULL, 0},
  };
  bool HaveThreads = false, HaveMemory = false, HaveLog = false, HaveLLVM = false;
  bool HaveCleanup = false;
  long V;
  int C;
  char *Unusable;

  /* '+': stop at the first word that is not an option, so that whatever
     follows the descriptors is left alone. */
  opterr = 0;
  while ((C = getopt_long(Argc, Argv, "+:j:m:l:p:hV", Long, NULL)) != -1) {
    switch (C) {
    case 'j':
      if (!parse_threads(optarg, &Set->Threads))
        return usage_error("invalid thread count '%s' (expected 1 to 1024)", optarg);
      HaveThreads = true;
      break;
    case 'm':
      if (!parse_memory(optarg, &Set->Memory))
        return usage_error("invalid memory strategy '%s' (expected memfd or mprotect)", optarg);
      HaveMemory = true;
      break;
    case 'l':
      if (!orc_rt_LogLevel_fromString(optarg, &Set->LogLevel))
        return usage_error("invalid log level '%s' (expected error, warning, info or debug)",
                           optarg);
      HaveLog = true;
      break;
    case 'p':
      if (!parse_int(optarg, 0, MAX_PROBE_MS, &V))
        return usage_error("invalid idle probe delay '%s' (expected 0 to %d milliseconds)", optarg,
                           MAX_PROBE_MS);
      Set->ProbeMs = (unsigned)V;
      break;
    case OPT_CLEANUP_TIMEOUT:
      if (!parse_int(optarg, 0, MAX_CLEANUP_S, &V))
        return usage_error("invalid cleanup timeout '%s' (expected 0 to %d seconds)", optarg,
                           MAX_CLEANUP_S);
      Set->CleanupS = (unsigned)V;
      HaveCleanup = true;
      break;
    case OPT_LLVM:
      if (!parse_protocol(optarg, &Set->Protocol))
        return usage_error("invalid LLVM release '%s' (expected 14, 15, 16, 19, 22 or auto)",
                           optarg);
      HaveLLVM = true;
      break;
    case OPT_SANDBOX:
    case OPT_ALLOW_READ:
    case OPT_ALLOW_WRITE:
    case OPT_ALLOW_NET:
    case OPT_MAX_MEMORY:
    case OPT_MAX_CPU:
    case OPT_TIMEOUT:
      if ((Unusable = sandbox_parse_option(&Set->Sandbox, C, optarg)))
        return usage_error("%s", Unusable);
      break;
    case 'h':
      usage(stdout);
      return EXIT_SUCCESS;
    case 'V':
      puts(PROGRAM " (" PACKAGE_NAME ") " PACKAGE_VERSION);
      return EXIT_SUCCESS;
    case ':':
      return usage_error("option '%s' needs an argument", Argv[optind - 1]);
    default:
      return usage_error("unknown option '%s'", Argv[optind - 1]);
    }
  }

  const char *Env;
  if (!HaveThreads && (Env = getenv("ORCRT_THREADS")) && !parse_threads(Env, &Set->Threads))
    return usage_error("invalid ORCRT_THREADS '%s' (expected 1 to 1024)", Env);
  if (!HaveMemory && (Env = getenv("ORCRT_MEMORY")) && !parse_memory(Env, &Set->Memory))
    return usage_error("invalid ORCRT_MEMORY '%s' (expected memfd or mprotect)", Env);
  if (!HaveLog && (Env = getenv("ORCRT_LOG")) && !orc_rt_LogLevel_fromString(Env, &Set->LogLevel))
    return usage_error("invalid ORCRT_LOG '%s' (expected error, warning, info or debug)", Env);
  if (!HaveLLVM && (Env = getenv("ORCRT_LLVM")) && !parse_protocol(Env, &Set->Protocol))
    return usage_error("invalid ORCRT_LLVM '%s' (expected 14, 15, 16, 19, 22 or auto)", Env);
  if (!HaveCleanup && (Env = getenv("ORCRT_CLEANUP_TIMEOUT"))) {
    if (!parse_int(Env, 0, MAX_CLEANUP_S, &V))
      return usage_error("invalid ORCRT_CLEANUP_TIMEOUT '%s' (expected 0 to %d seconds)", Env,
                         MAX_CLEANUP_S);
    Set->CleanupS = (unsigned)V;
  }
  if ((Unusable = sandbox_parse_environment(&Set->Sandbox)) ||
      (Unusable = sandbox_check(&Set->Sandbox)))
    return usage_error("%s", Unusable);

  char **Words = Argv + optind;
  int NWords = Argc - optind;
  long In, Out;
  if (NWords >= 1 && strncmp(Words[0], "listen=", 7) == 0) {
    if (!parse_listen(Words[0] + 7, Set))
      return usage_error("invalid address '%s' (expected listen=[HOST:]PORT)", Words[0]);
    return -1;
  } else if (NWords >= 1 && strncmp(Words[0], "filedescs=", 10) == 0) {
    if (!parse_fd_pair(Words[0] + 10, &Set->InFd, &Set->OutFd))
      return usage_error("invalid descriptors '%s' (expected filedescs=IN,OUT)", Words[0]);
  } else if (NWords >= 2 && parse_int(Words[0], 0, INT_MAX, &In) &&
             parse_int(Words[1], 0, INT_MAX, &Out)) {
    Set->InFd = (int)In;
    Set->OutFd = (int)Out;
  } else if (NWords == 0) {
    return usage_error("no descriptors given (expected filedescs=IN,OUT or IN OUT)");
  } else {
    return usage_error("invalid descriptors '%s' (expected filedescs=IN,OUT or IN OUT)", Words[0]);
  }

  int Bad = Set->InFd;
  const char *Why = check_fd(Set->InFd, false);
  if (!Why) {
    Bad = Set->OutFd;
    Why = check_fd(Set->OutFd, true);
  }
  if (Why)
    return usage_error("descriptor %d %s", Bad, Why);
  return -1;
}

/*
 * Session log: "orcrt-executor: message" for errors, with the level else.
 * Any thread logs; one whose stderr reader has gone must not die of
 * SIGPIPE for it (the JIT'd code keeps the default disposition).
 */
static void log_line(void *Ctx, orc_rt_LogLevel Level, const char *Msg) {
  (void)Ctx;
  sigset_t Old;
  orcrt_sigpipe_begin(&Old);
  errno = 0;
  switch (Level) {
  case orc_rt_LogLevel_Error:
    fprintf(stderr, PROGRAM ": %s\n", Msg);
    break;
  case orc_rt_LogLevel_Warning:
    fprintf(stderr, PROGRAM ": warning: %s\n", Msg);
    break;
  case orc_rt_LogLevel_Info:
    fprintf(stderr, PROGRAM ": info: %s\n", Msg);
    break;
  default:
    fprintf(stderr, PROGRAM ": debug: %s\n", Msg);
    break;
  }
  orcrt_sigpipe_end(&Old, errno == EPIPE);
}

/*
 * The descriptors of the channel, as the controller passed them, are low
 * numbers that the JIT'd program sees on the executor's command line and
 * that its own open() calls come back to: a program that closes them and
 * opens files, or puts /dev/null over them, would make the executor write
 * its results into those files while the controller waits. So the channel
 * moves up, close-on-exec, to half the descriptor limit (at most 512), and
 * /dev/null takes the numbers passed, so that the descriptors the executor
 * opens next (its eventfd, its epoll instance) do not land on them either.
 * Where that fails, the channel stays put.
 */
static int channel_floor(void) {
  struct rlimit L;
  rlim_t Floor = 512;
  if (getrlimit(RLIMIT_NOFILE, &L) == 0 && L.rlim_cur != RLIM_INFINITY && L.rlim_cur / 2 < Floor)
    Floor = L.rlim_cur / 2;
  return Floor > 3 ? (int)Floor : 3;
}

static void move_channel_up(int *Fd) {
  int High = fcntl(*Fd, F_DUPFD_CLOEXEC, channel_floor());
  int Null = High < 0 ? -1 : open("/dev/null", O_RDWR | O_CLOEXEC);
  if (Null >= 0 && dup3(Null, *Fd, O_CLOEXEC) >= 0) {
    *Fd = High;
  } else if (High >= 0) {
    close(High);
  }
  if (Null >= 0)
    close(Null);
}

/*
 * Dying with the controller. llvm-jitlink and lli never kill their executor,
 * and a controller that dies normally closes the pipes, so the executor sees
 * end of file and ends by itself. But if the controller's pipe ends live on
 * in another process, no end of file ever comes. So the kernel signals the
 * executor when its parent dies (PR_SET_PDEATHSIG), and the handler ends the
 * process unless the channel is closed within HANGUP_WAIT_MS, in which case the
 * executor is already finishing in order: lli-19 exits without waiting for
 * its executor, and killing it then would lose the JIT'd program's buffered
 * output and the remaining deallocation actions. The state is the process's
 * own (one parent, one channel), hence file-scope.
 *
 * JIT'd code may also have closed every descriptor, the channel's and the
 * watched copy among them: then no end of file can come either, but the
 * process is not stuck, only its channel is gone. So instead of killing,
 * the handler wakes a thread of its own (a semaphore post is
 * async-signal-safe), which ends the session with an error through the
 * Session: the JIT'd code still running gets its grace period, the
 * cleanup runs and the output is flushed.
 */
/* How long the handler waits for the controller's ends to close. */
#define HANGUP_WAIT_MS 1000

static pid_t ParentPid;
static int WatchFd = -1;      /* a copy of the in-fd, readable for the handler */
static struct stat WatchStat; /* what it was: it may be closed or replaced since */
static sem_t ChannelGone;     /* posted by the handler (or to stop); the watcher waits */
static volatile sig_atomic_t WatcherStarted; /* read by the handler */
static pthread_t Watcher;
static atomic_bool WatcherStop; /* the session is over: the watcher returns */
/* The Session the watcher ends, while run() has it; under WatchedLock. */
static pthread_mutex_t WatchedLock = PTHREAD_MUTEX_INITIALIZER;
static orc_rt_SessionRef Watched;

/* Whether WatchFd is no longer the copy of the channel it was (fstat is async-signal-safe). */
static bool channel_taken(void) {
  struct stat St;
  return fstat(WatchFd, &St) != 0 || St.st_dev != WatchStat.st_dev ||
         St.st_ino != WatchStat.st_ino;
}

static bool controller_gone_without_closing(void) {
  /* The signal follows the parent *thread*: if the controller process is
     still there, only one of its threads ended. */
  if (getppid() == ParentPid)
    return false;
  /* Hang-up means no one can send to the executor any more, so it sees end
     of file and finishes on its own. It may come a little after the signal:
     when the parent has several threads, the signal follows the exit of the
     one that forked, and the descriptors close with the last one. So wait
     for it, boundedly (poll is async-signal-safe). Events 0: hang-up is
     always reported, and data still in the pipe must not end the wait. */
  struct pollfd P = {.fd = WatchFd, .events = 0};
  int N;
  while ((N = poll(&P, 1, HANGUP_WAIT_MS)) < 0 && errno == EINTR)
    ;
  return !(N == 1 && (P.revents & POLLHUP));
}

static void on_parent_death(int Sig) {
  (void)Sig;
  int Saved = errno;
  if (controller_gone_without_closing() &&
      !(WatcherStarted && channel_taken() && sem_post(&ChannelGone) == 0))
    kill(getpid(), SIGKILL);
  errno = Saved;
}

static void *watcher_main(void *Arg) {
  (void)Arg;
  while (sem_wait(&ChannelGone) != 0)
    ;
  if (atomic_load(&WatcherStop))
    return NULL;
  pthread_mutex_lock(&WatchedLock);
  if (Watched)
    orc_rt_Session_handleDisconnect(
        Watched, orc_rt_Error_create("the controller is gone, and the channel's descriptors were "
                                     "closed in the executor (by JIT'd code?)"));
  else
    kill(getpid(), SIGKILL); /* no Session to end in order */
  pthread_mutex_unlock(&WatchedLock);
  return NULL;
}

/* Start the watcher, with every signal blocked: they are the JIT'd code's. */
static void start_watcher(void) {
  sigset_t All, Old;
  if (sem_init(&ChannelGone, 0, 0) != 0)
    return;
  sigfillset(&All);
  pthread_sigmask(SIG_SETMASK, &All, &Old);
  WatcherStarted = pthread_create(&Watcher, NULL, watcher_main, NULL) == 0;
  pthread_sigmask(SIG_SETMASK, &Old, NULL);
}

/* Once the session is over: nothing is left to end, and the process exits clean. */
static void stop_watcher(void) {
  if (!WatcherStarted)
    return;
  atomic_store(&WatcherStop, true);
  sem_post(&ChannelGone);
  pthread_join(Watcher, NULL);
  WatcherStarted = false;
}

/* Returns 0, 1 if the controller is already gone, -1 on error (errno set). */
static int follow_parent(int InFd) {
#if defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_PDEATHSIG)
  struct sigaction Act = {.sa_handler = on_parent_death, .sa_flags = SA_RESTART};
  ParentPid = getppid();
  WatchFd = fcntl(InFd, F_DUPFD_CLOEXEC, channel_floor());
  if (WatchFd < 0 || fstat(WatchFd, &WatchStat) < 0)
    return -1;
  start_watcher();
  if (sigemptyset(&Act.sa_mask) < 0 || sigaction(SIGHUP, &Act, NULL) < 0 ||
      prctl(PR_SET_PDEATHSIG, SIGHUP) < 0)
    return -1;
  /* The parent may have died before the prctl took effect. */
  if (controller_gone_without_closing())
    return 1;
#else
  (void)InFd;
#endif
  return 0;
}

/* listen=: how whoever started the executor learns the port, for port 0. */
static void say_listening(void *Ctx, const char *Address) {
  (void)Ctx;
  fprintf(stderr, PROGRAM ": listening on %s\n", Address);
  fflush(stderr);
}

/*
 * A controller that rejects the Setup (a release orcrt does not tell apart,
 * or the wrong --llvm) says which bootstrap symbol it missed and closes the
 * channel in order without a call; say what would help.
 */
static void say_setup_unused(orc_rt_Protocol P) {
  if (P == orc_rt_Protocol_Auto)
    complain("the controller closed the channel without a call: if it rejected the Setup "
             "(offered to LLVM 14-16, 19 and 22 at once), name its release with --llvm=N "
             "(ORCRT_LLVM=N)");
  else
    complain("the controller closed the channel without a call: if it rejected the Setup "
             "(LLVM %d's, from --llvm or ORCRT_LLVM), name its release with --llvm=N "
             "(ORCRT_LLVM=N), or --llvm=auto",
             (int)P);
}

/*
 * The end of a session (orc_rt_Session_supervise(), see the usage text):
 * calls still running when the controller has gone get GRACE_MS to return;
 * if some still run, the library gives up on them, runs the deallocation
 * actions of the JIT memory left and flushes stdio within ABANDON_MS, and
 * the executor ends with _exit(): exit() would run atexit handlers and
 * destructors under the running code. Once they have returned, the
 * Services' cleanup gets --cleanup-timeout; past it, the same _exit().
 */
#define GRACE_MS 1000
#define ABANDON_MS 500

static int run(const struct settings *Set) {
  orc_rt_TaskDispatcherRef D = NULL;
  orc_rt_SessionRef S = NULL;
  orc_rt_ErrorRef Err = NULL;
  orc_rt_MemoryServiceRef M;
  orc_rt_SharedMemoryServiceRef Shm;
  orc_rt_DylibServiceRef Dylibs;
  orc_rt_PipeOptions Opts;
  orc_rt_SuperviseOptions Sup;
  int Status = EXIT_FAILURE;
  bool Attached = false;

  if ((Err = orc_rt_ThreadPoolTaskDispatcher_create(Set->Threads, &D)))
    goto fail;
  if ((Err = orc_rt_Session_create(D, &S))) {
    orc_rt_TaskDispatcher_destroy(D);
    goto fail;
  }
  orc_rt_Session_setLogFn(S, log_line, NULL);
  orc_rt_Session_setLogLevel(S, Set->LogLevel);
  if ((Err = orc_rt_Session_setProtocol(S, Set->Protocol)))
    goto fail;
  /* Libraries before memory: JIT memory, and the deallocation actions that
     may call into the libraries, go first at shutdown. */
  if ((Err = orc_rt_DylibService_add(S, &Dylibs)) ||
      (Err = orc_rt_MemoryService_add(S, Set->Memory, &M)) ||
      (Err = orc_rt_SharedMemoryService_add(S, &Shm)) || (Err = orc_rt_Bootstrap_add(S)))
    goto fail;

  orc_rt_PipeOptions_init(&Opts);
  /* Only llvm-jitlink-19 connects over TCP, and it needs the probe to end. */
  if (Set->Listen)
    Opts.IdleProbeMs = Set->ProbeMs;
  /* Before attach, which starts the first thread; after it, nothing changes the rules. */
  char *Warning, *Why = sandbox_enter(&Set->Sandbox, &Warning);
  if (Warning)
    complain("sandbox: best effort: %s", Warning);
  free(Warning);
  if (Why) {
    complain("%s", Why);
    free(Why);
    goto fail;
  }
  if ((Err = orc_rt_PipeControllerAccess_attach(S, Set->InFd, Set->OutFd, &Opts)))
    goto fail;
  Attached = true;
  pthread_mutex_lock(&WatchedLock);
  Watched = S;
  pthread_mutex_unlock(&WatchedLock);

  orc_rt_SuperviseOptions_init(&Sup);
  Sup.GraceMs = GRACE_MS;
  Sup.AbandonMs = ABANDON_MS;
  Sup.CleanupMs = Set->CleanupS * 1000u;
  orc_rt_SuperviseResult Ended = orc_rt_Session_supervise(S, &Sup);
  /* The Session logged the error that ended the channel, if any. */
  Status = orc_rt_Session_getDisconnectError(S) ? EXIT_FAILURE : EXIT_SUCCESS;
  if (Status == EXIT_SUCCESS && orc_rt_Session_getCallCount(S) == 0)
    say_setup_unused(Set->Protocol);
  if (Ended == orc_rt_SuperviseResult_Abandoned)
    _exit(Status);
fail:
  if (Err) {
    complain("%s", orc_rt_Error_getMessage(Err));
    orc_rt_Error_consume(Err);
  }
  pthread_mutex_lock(&WatchedLock);
  Watched = NULL;
  pthread_mutex_unlock(&WatchedLock);
  /* Closes the output descriptor, which ends the controller's wait, and
     destroys D with the Session. */
  orc_rt_Session_destroy(S);
  stop_watcher();
  /* The transport did not take the socket if attaching failed. */
  if (Set->Listen && !Attached)
    close(Set->InFd);
  return Status;
}

/*
 * Descriptors 0-2 closed at launch would go to the first descriptors the
 * executor opens (its eventfd, an epoll instance, a memfd of JIT memory),
 * and JIT'd code writing to its standard output would write into those.
 * Hold each closed one with /dev/null, as a shell does; not close-on-exec:
 * they are the standard descriptors of what the JIT'd code starts.
 */
static void hold_stdio(void) {
  for (int Fd = 0; Fd < 3; Fd++) {
    if (fcntl(Fd, F_GETFD) >= 0 || errno != EBADF)
      continue;
    int N = open("/dev/null", Fd == 0 ? O_RDONLY : O_WRONLY);
    if (N >= 0 && N != Fd) {
      dup2(N, Fd);
      close(N);
    }
  }
}

int main(int argc, char **argv) {
  struct settings Set = {
      .Threads = 0,
      .Memory = orc_rt_MemoryStrategy_MemFD,
      .LogLevel = orc_rt_LogLevel_Error,
      .InFd = -1,
      .OutFd = -1,
      .ProbeMs = DEFAULT_PROBE_MS,
      .CleanupS = DEFAULT_CLEANUP_S,
  };
  sandbox_settings_init(&Set.Sandbox);
  hold_stdio();
  int Status = parse_arguments(argc, argv, &Set);
  if (Status >= 0)
    exit(Status);

  /* A crash of JIT'd code says what and where, instead of only the
     controller's "disconnecting"; the executor still dies of the signal. */
  orc_rt_ErrorRef CrashErr = orc_rt_CrashReport_install(PROGRAM);
  if (CrashErr) {
    complain("crashes will not be reported: %s", orc_rt_Error_getMessage(CrashErr));
    orc_rt_Error_consume(CrashErr);
  }
  if (Set.Listen) {
    /* The controller is not our parent: nothing to follow. */
    orc_rt_ErrorRef Err = orc_rt_PipeControllerAccess_acceptTCP(Set.ListenHost, Set.ListenPort,
                                                                say_listening, NULL, &Set.InFd);
    if (Err) {
      complain("%s", orc_rt_Error_getMessage(Err));
      orc_rt_Error_consume(Err);
      exit(EXIT_FAILURE);
    }
    Set.OutFd = Set.InFd;
    exit(run(&Set));
  }
  /* One descriptor for both directions (a socket) moves once. */
  int PassedIn = Set.InFd;
  move_channel_up(&Set.InFd);
  if (Set.OutFd == PassedIn)
    Set.OutFd = Set.InFd;
  else
    move_channel_up(&Set.OutFd);
  switch (follow_parent(Set.InFd)) {
  case 0:
    break;
  case 1:
    complain("the controller is gone");
    exit(EXIT_FAILURE);
  default:
    complain("cannot watch the controller: %s", strerror(errno));
    exit(EXIT_FAILURE);
  }
  /* exit(), not return: JIT'd code may have registered atexit handlers and
     left output in stdio buffers, as with LLVM's own executors. */
  exit(run(&Set));
}

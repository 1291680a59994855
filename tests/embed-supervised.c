/*
 * embed-supervised.c - an executor as a new user writes it from the manual
 * pages alone (orcrt(3), "Putting an executor together", and
 * orc_rt_Session_supervise(3)), for the supervise suite
 * (tests/test-supervise.c), which drives it with llvm-jitlink-19.
 *
 * It holds no copy of the output descriptor and follows no parent: what it
 * needs at the end of a session comes from the library. Usage, as
 * llvm-jitlink-19 -oop-executor=embed-supervised runs it:
 *
 *   embed-supervised filedescs=IN,OUT
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <orcrt/orcrt.h>

static int check(orc_rt_ErrorRef Err, const char *What) {
  if (!Err)
    return 0;
  fprintf(stderr, "embed-supervised: %s: %s\n", What, orc_rt_Error_getMessage(Err));
  orc_rt_Error_consume(Err);
  return 1;
}

int main(int argc, char **argv) {
  orc_rt_TaskDispatcherRef D;
  orc_rt_SessionRef S = NULL;
  orc_rt_DylibServiceRef Dylibs;
  orc_rt_MemoryServiceRef Mem;
  orc_rt_SharedMemoryServiceRef Shm;
  int In, Out, Status = EXIT_FAILURE;
  char End;

  if (argc < 2 || sscanf(argv[1], "filedescs=%d,%d%c", &In, &Out, &End) != 2) {
    fprintf(stderr, "usage: embed-supervised filedescs=IN,OUT\n");
    return EXIT_FAILURE;
  }
  if (check(orc_rt_ThreadPoolTaskDispatcher_create(0, &D), "dispatcher") ||
      check(orc_rt_Session_create(D, &S), "session") ||
      check(orc_rt_DylibService_add(S, &Dylibs), "dylib Service") ||
      check(orc_rt_MemoryService_add(S, orc_rt_MemoryStrategy_MemFD, &Mem), "memory Service") ||
      check(orc_rt_SharedMemoryService_add(S, &Shm), "shared-memory Service") ||
      check(orc_rt_Bootstrap_add(S), "bootstrap") ||
      check(orc_rt_PipeControllerAccess_attach(S, In, Out, NULL), "attach"))
    goto done;
  orc_rt_SuperviseResult Ended = orc_rt_Session_supervise(S, NULL);
  Status = orc_rt_Session_getDisconnectError(S) ? EXIT_FAILURE : EXIT_SUCCESS;
  if (Ended == orc_rt_SuperviseResult_Abandoned)
    _exit(Status);
done:
  orc_rt_Session_destroy(S);
  exit(Status);
}

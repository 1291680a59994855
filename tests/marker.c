/*
 * marker.c - a library the executor tests load into orcrt-executor
 *
 * orcrt_test_marker is a wrapper function with LLVM's synchronous ABI, to
 * be named as a finalize or deallocation action. It leaves a trace outside
 * the executor, so a test can see that (and in which order) the executor
 * ran its actions, even after the executor has exited.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <orcrt/wrapper-function.h>

orc_rt_WrapperFunctionBuffer orcrt_test_marker(const char *ArgData, size_t ArgSize);

/*
 * The arguments are "PATH\0TAG": append TAG to the file at PATH (created if
 * missing). Returns an SPSError: success, or failure with a message.
 */
orc_rt_WrapperFunctionBuffer orcrt_test_marker(const char *ArgData, size_t ArgSize) {
  orc_rt_WrapperFunctionBuffer R;
  const char *Nul = ArgData ? memchr(ArgData, '\0', ArgSize) : NULL;
  int Fd = Nul ? open(ArgData, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
  size_t TagSize = Nul ? ArgSize - (size_t)(Nul + 1 - ArgData) : 0;
  bool Ok = Fd >= 0 && write(Fd, Nul + 1, TagSize) == (ssize_t)TagSize;
  if (Fd >= 0)
    close(Fd);
  if (Ok) {
    /* SPSError success: the single byte 00, held inline. */
    R.Data.Value[0] = 0;
    R.Size = 1;
    return R;
  }
  /* SPSError failure: 01, a uint64 length, the message. */
  static const char Msg[] = "marker not written";
  R.Size = 1 + 8 + sizeof(Msg) - 1;
  R.Data.ValuePtr = malloc(R.Size);
  if (!R.Data.ValuePtr) {
    R.Size = 0;
    return R;
  }
  uint64_t Len = sizeof(Msg) - 1;
  R.Data.ValuePtr[0] = 1;
  for (int I = 0; I < 8; I++)
    R.Data.ValuePtr[1 + I] = (char)(Len >> (8 * I));
  memcpy(R.Data.ValuePtr + 9, Msg, Len);
  return R;
}

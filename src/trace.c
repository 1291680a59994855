/*
 * trace.c - formatting the text of a Session's debug trace (trace.h);
 * naming addresses is trace-names.c's
 *
 * Locks: none.
 */
#include "orcrt-internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "trace.h"

static void trace_vprintf(struct orcrt_trace_text *T, const char *Fmt, va_list Ap) {
  size_t Room = sizeof(T->Buf) - T->Len;
  if (Room <= 1)
    return;
  int N = vsnprintf(T->Buf + T->Len, Room, Fmt, Ap);
  if (N < 0)
    return;
  if ((size_t)N < Room) {
    T->Len += (size_t)N;
    return;
  }
  /* Truncated: say so at the end of the full buffer. */
  T->Len = sizeof(T->Buf) - 1;
  memcpy(T->Buf + T->Len - 3, "...", 3);
}

void orcrt_trace_printf(struct orcrt_trace_text *T, const char *Fmt, ...) {
  va_list Ap;
  va_start(Ap, Fmt);
  trace_vprintf(T, Fmt, Ap);
  va_end(Ap);
}

void orcrt_trace_size(struct orcrt_trace_text *T, uint64_t Bytes) {
  static const char *const Units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (Bytes < 1024) {
    orcrt_trace_printf(T, "%" PRIu64 " B", Bytes);
    return;
  }
  double V = (double)Bytes / 1024;
  size_t U = 0;
  while (V >= 1024 && U + 1 < ORCRT_ARRAY_SIZE(Units)) {
    V /= 1024;
    U++;
  }
  /* Whole numbers of units as such ("12 KiB"), else one decimal below ten. */
  if (V >= 10 || V == (double)(uint64_t)V)
    orcrt_trace_printf(T, "%.0f %s", V, Units[U]);
  else
    orcrt_trace_printf(T, "%.1f %s", V, Units[U]);
}

void orcrt_trace_duration(struct orcrt_trace_text *T, uint64_t Ns) {
  if (Ns < 1000)
    orcrt_trace_printf(T, "%" PRIu64 " ns", Ns);
  else if (Ns < 1000000)
    orcrt_trace_printf(T, "%" PRIu64 " µs", Ns / 1000);
  else if (Ns < 10000000)
    orcrt_trace_printf(T, "%.1f ms", (double)Ns / 1e6);
  else if (Ns < 1000000000)
    orcrt_trace_printf(T, "%" PRIu64 " ms", Ns / 1000000);
  else
    orcrt_trace_printf(T, "%.2f s", (double)Ns / 1e9);
}

void orcrt_trace_name(struct orcrt_trace_text *T, const char *Name, size_t Size) {
  enum { NAME_MAX_SHOWN = 64 };
  size_t Shown = Size < NAME_MAX_SHOWN ? Size : NAME_MAX_SHOWN;
  for (size_t I = 0; I < Shown; I++) {
    unsigned char C = (unsigned char)Name[I];
    if (C >= 0x20 && C != 0x7f)
      orcrt_trace_printf(T, "%c", C);
    else
      orcrt_trace_printf(T, "\\x%02x", C);
  }
  if (Shown < Size)
    orcrt_trace_printf(T, "...");
}

uint64_t orcrt_trace_now(void) {
  struct timespec Ts;
  clock_gettime(CLOCK_MONOTONIC, &Ts);
  uint64_t Ns = (uint64_t)Ts.tv_sec * 1000000000u + (uint64_t)Ts.tv_nsec;
  return Ns ? Ns : 1;
}

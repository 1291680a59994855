/*
 * fuzz-sps.c - the SPS decoders, on every message type the executor reads
 * or writes and on types the input makes up
 *
 * Input: one byte choosing a type, then the bytes to decode. Types: for
 * each wrapper of orcrt_fuzz_wrapper_schemas its argument tuple (2 * I) and
 * its result (2 * I + 1), then the Setup payload; 0xff: a type of the
 * input's own (fuzz-util.h's notation, up to 32 characters ending in a NUL
 * byte), then the bytes. Each input is decoded with the library's reader,
 * written back with its writer and compared (orcrt_fuzz_decode()); the
 * buffer functions get the bytes too.
 */
#include "config.h"

#include "fuzz-util.h"

#include <string.h>

#include <orcrt/sps.h>

/* Parse one type at *P, before End, nested at most 8 deep. */
static bool parse_type(const char **P, const char *End, unsigned Depth) {
  if (*P >= End || Depth > 8)
    return false;
  switch (*(*P)++) {
  case '1':
  case '2':
  case '4':
  case '8':
  case 'a':
  case 'b':
  case 's':
  case 'r':
  case 'e':
    return true;
  case 'E':
    if (*P >= End || **P != '(')
      return false;
    (*P)++;
    if (*P < End && **P == ')')
      return false;
    while (*P < End && **P != ')')
      if (!parse_type(P, End, Depth + 1))
        return false;
    if (*P >= End)
      return false;
    (*P)++;
    return true;
  case '[':
    if (*P < End && **P == ']')
      return false; /* an empty tuple has no minimum size */
    while (*P < End && **P != ']')
      if (!parse_type(P, End, Depth + 1))
        return false;
    if (*P >= End)
      return false;
    (*P)++;
    return true;
  default:
    return false;
  }
}

/* Whether [T, End) is a well-formed tuple type. */
static bool valid_tuple(const char *T, const char *End) {
  while (T < End)
    if (!parse_type(&T, End, 0))
      return false;
  return true;
}

int orcrt_fuzz_sps(const uint8_t *Data, size_t Size) {
  if (Size < 1)
    return 0;
  unsigned Choice = Data[0];
  const uint8_t *Bytes = Data + 1;
  size_t N = Size - 1;
  const char *Schema;
  char Own[33];

  /* The buffer functions: a copy holds the same bytes. */
  orc_rt_WrapperFunctionBuffer B = orc_rt_WrapperFunctionBuffer_fromBytes(Bytes, N);
  ORCRT_FUZZ_CHECK(
      orc_rt_WrapperFunctionBuffer_getOutOfBandError(&B) == NULL && B.Size == N &&
          (N == 0 || memcmp(orc_rt_WrapperFunctionBuffer_constData(&B), Bytes, N) == 0),
      "fromBytes(%zu) is not a copy", N);
  orc_rt_WrapperFunctionBuffer_dispose(&B);

  if (Choice == 0xff) {
    const uint8_t *Nul = memchr(Bytes, 0, N < sizeof(Own) ? N : sizeof(Own));
    if (!Nul)
      return 0;
    size_t Len = (size_t)(Nul - Bytes);
    memcpy(Own, Bytes, Len);
    Own[Len] = '\0';
    if (!valid_tuple(Own, Own + Len))
      return 0;
    Schema = Own;
    Bytes = Nul + 1;
    N -= Len + 1;
  } else if (Choice < 2 * ORCRT_FUZZ_NUM_WRAPPER_SCHEMAS) {
    const orcrt_fuzz_wrapper_schema *W = &orcrt_fuzz_wrapper_schemas[Choice / 2];
    Schema = Choice % 2 ? W->Result : W->Args;
  } else if (Choice == 2 * ORCRT_FUZZ_NUM_WRAPPER_SCHEMAS) {
    Schema = ORCRT_FUZZ_SETUP_SCHEMA;
  } else {
    return 0;
  }

  size_t Used = 0;
  orcrt_fuzz_decode(Schema, Bytes, N, &Used);
  ORCRT_FUZZ_CHECK(Used <= N, "read %zu bytes of %zu", Used, N);
  return 0;
}

ORCRT_FUZZ_TARGET(orcrt_fuzz_sps)

/*
 * util/u64map.c - the open-addressed uint64_t map (see u64map.h)
 */
#include "orcrt-internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/u64map.h"

enum { MIN_CAP = 16 };

/* Where a slot's value starts: aligned for any type. */
#define VALUE_OFFSET                                                                               \
  ((sizeof(uint64_t) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * _Alignof(max_align_t))

/* Fibonacci hashing: the multiplier is 2^64 over the golden ratio. */
static size_t slot_of(uint64_t Key, size_t Mask) {
  return (size_t)((Key * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & Mask;
}

static unsigned char *slot(const struct orcrt_u64map *M, size_t I) {
  return M->Slots + I * M->Stride;
}

static uint64_t key_at(const struct orcrt_u64map *M, size_t I) {
  uint64_t Key;
  memcpy(&Key, slot(M, I), sizeof(Key));
  return Key;
}

static void *value_at(const struct orcrt_u64map *M, size_t I) {
  return slot(M, I) + VALUE_OFFSET;
}

void orcrt_u64map_init(struct orcrt_u64map *M, size_t ValueSize) {
  size_t Align = _Alignof(max_align_t);
  *M = (struct orcrt_u64map){
      .ValueSize = ValueSize,
      .Stride = (VALUE_OFFSET + ValueSize + Align - 1) / Align * Align,
  };
}

void orcrt_u64map_free(struct orcrt_u64map *M) {
  free(M->Slots);
  free(M->Used);
  orcrt_u64map_init(M, M->ValueSize);
}

/* The slot holding Key, or the empty slot that ends its probe run. */
static size_t probe(const struct orcrt_u64map *M, uint64_t Key) {
  size_t I = slot_of(Key, M->Mask);
  while (M->Used[I] && key_at(M, I) != Key)
    I = (I + 1) & M->Mask;
  return I;
}

void *orcrt_u64map_find(const struct orcrt_u64map *M, uint64_t Key) {
  if (!M->Slots)
    return NULL;
  size_t I = probe(M, Key);
  return M->Used[I] ? value_at(M, I) : NULL;
}

static bool grow(struct orcrt_u64map *M) {
  size_t Cap = M->Slots ? (M->Mask + 1) * 2 : MIN_CAP;
  if (Cap > SIZE_MAX / M->Stride)
    return false;
  struct orcrt_u64map New = *M;
  New.Slots = malloc(Cap * M->Stride);
  New.Used = calloc(Cap, 1);
  if (!New.Slots || !New.Used) {
    free(New.Slots);
    free(New.Used);
    return false;
  }
  New.Mask = Cap - 1;
  for (size_t I = 0; M->Slots && I <= M->Mask; I++) {
    if (!M->Used[I])
      continue;
    size_t J = probe(&New, key_at(M, I));
    memcpy(slot(&New, J), slot(M, I), M->Stride);
    New.Used[J] = 1;
  }
  free(M->Slots);
  free(M->Used);
  *M = New;
  return true;
}

void *orcrt_u64map_insert(struct orcrt_u64map *M, uint64_t Key, bool *Added) {
  if (M->Slots) {
    size_t I = probe(M, Key);
    if (M->Used[I]) {
      if (Added)
        *Added = false;
      return value_at(M, I);
    }
  }
  /* Keep the load at most one half, so probe runs stay short. */
  if ((!M->Slots || (M->Count + 1) * 2 > M->Mask + 1) && !grow(M))
    return NULL;
  size_t I = probe(M, Key);
  memcpy(slot(M, I), &Key, sizeof(Key));
  memset(value_at(M, I), 0, M->ValueSize);
  M->Used[I] = 1;
  M->Count++;
  if (Added)
    *Added = true;
  return value_at(M, I);
}

bool orcrt_u64map_remove(struct orcrt_u64map *M, uint64_t Key, void *Out) {
  if (!M->Slots)
    return false;
  size_t I = probe(M, Key);
  if (!M->Used[I])
    return false;
  if (Out)
    memcpy(Out, value_at(M, I), M->ValueSize);
  /*
   * Shift later members of the probe run back over the hole, unless their
   * home slot K lies cyclically in (I, J]: then they are reachable already.
   */
  size_t J = I;
  for (;;) {
    J = (J + 1) & M->Mask;
    if (!M->Used[J])
      break;
    size_t K = slot_of(key_at(M, J), M->Mask);
    bool Stays = I <= J ? (I < K && K <= J) : (I < K || K <= J);
    if (Stays)
      continue;
    memcpy(slot(M, I), slot(M, J), M->Stride);
    I = J;
  }
  M->Used[I] = 0;
  M->Count--;
  return true;
}

bool orcrt_u64map_next(const struct orcrt_u64map *M, size_t *Pos, uint64_t *Key, void **Value) {
  for (size_t I = *Pos; M->Slots && I <= M->Mask; I++) {
    if (!M->Used[I])
      continue;
    if (Key)
      *Key = key_at(M, I);
    if (Value)
      *Value = value_at(M, I);
    *Pos = I + 1;
    return true;
  }
  return false;
}

void orcrt_u64map_take(struct orcrt_u64map *M, struct orcrt_u64map *To) {
  *To = *M;
  orcrt_u64map_init(M, M->ValueSize);
}

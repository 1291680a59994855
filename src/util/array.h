/*
 * util/array.h - a typed growable array, with sorted insert and lower bound
 *
 * ORCRT_ARRAY(T) is an anonymous struct { T *Items; size_t Len, Cap; }; a
 * zeroed one is empty. Growth doubles the capacity (from
 * ORCRT_ARRAY_MIN_CAP), so appending is amortised O(1). Sorted arrays are
 * kept by a uint64_t key: the element itself (an array of uint64_t or of
 * orc_rt_ExecutorAddr) or one member of it; ORCRT_ARRAY_LOWER_BOUND_BY and
 * ORCRT_ARRAY_INSERT_SORTED_BY take that member's name. The array is not
 * locked: its owner locks it.
 */
#ifndef ORCRT_UTIL_ARRAY_H
#define ORCRT_UTIL_ARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ORCRT_ARRAY(T)                                                                             \
  struct {                                                                                         \
    T *Items;                                                                                      \
    size_t Len, Cap;                                                                               \
  }

enum { ORCRT_ARRAY_MIN_CAP = 8 };

/* Grow *Items (Cap elements of Size bytes) to hold at least Need; false if memory runs out. */
static inline bool orcrt_array_reserve_(void **Items, size_t *Cap, size_t Need, size_t Size) {
  if (Need <= *Cap)
    return true;
  size_t NewCap = *Cap ? *Cap : ORCRT_ARRAY_MIN_CAP;
  while (NewCap < Need) {
    if (NewCap > SIZE_MAX / 2)
      return false;
    NewCap *= 2;
  }
  if (NewCap > SIZE_MAX / Size)
    return false;
  void *New = realloc(*Items, NewCap * Size);
  if (!New)
    return false;
  *Items = New;
  *Cap = NewCap;
  return true;
}

/* Insert the Size bytes at Elem at index I (<= *Len), moving later elements up. */
static inline bool orcrt_array_insert_(void **Items, size_t *Len, size_t *Cap, size_t Size,
                                       size_t I, const void *Elem) {
  if (!orcrt_array_reserve_(Items, Cap, *Len + 1, Size))
    return false;
  char *P = (char *)*Items + I * Size;
  memmove(P + Size, P, (*Len - I) * Size);
  memcpy(P, Elem, Size);
  (*Len)++;
  return true;
}

/* The uint64_t key of element I: the 8 bytes at Offset in it. */
static inline uint64_t orcrt_array_key_(const void *Items, size_t Size, size_t Offset, size_t I) {
  uint64_t Key;
  memcpy(&Key, (const char *)Items + I * Size + Offset, sizeof(Key));
  return Key;
}

/* Index of the first of the Len elements (sorted by key) whose key is >= Key. */
static inline size_t orcrt_array_lower_bound_(const void *Items, size_t Len, size_t Size,
                                              size_t Offset, uint64_t Key) {
  size_t Lo = 0, Hi = Len;
  while (Lo < Hi) {
    size_t Mid = Lo + (Hi - Lo) / 2;
    if (orcrt_array_key_(Items, Size, Offset, Mid) < Key)
      Lo = Mid + 1;
    else
      Hi = Mid;
  }
  return Lo;
}

/* Whether an element has key Key; *At is its index, or where it would go. */
static inline bool orcrt_array_find_(const void *Items, size_t Len, size_t Size, size_t Offset,
                                     uint64_t Key, size_t *At) {
  size_t I = orcrt_array_lower_bound_(Items, Len, Size, Offset, Key);
  *At = I;
  return I < Len && orcrt_array_key_(Items, Size, Offset, I) == Key;
}

/* How a sorted insert went. */
enum orcrt_array_insert_result {
  ORCRT_ARRAY_NO_MEMORY = -1, /* the array is unchanged */
  ORCRT_ARRAY_PRESENT = 0,    /* an element with that key is there already: unchanged */
  ORCRT_ARRAY_INSERTED = 1,
};

static inline enum orcrt_array_insert_result
orcrt_array_insert_sorted_(void **Items, size_t *Len, size_t *Cap, size_t Size, size_t Offset,
                           const void *Elem) {
  uint64_t Key;
  size_t I;
  memcpy(&Key, (const char *)Elem + Offset, sizeof(Key));
  if (orcrt_array_find_(*Items, *Len, Size, Offset, Key, &I))
    return ORCRT_ARRAY_PRESENT;
  return orcrt_array_insert_(Items, Len, Cap, Size, I, Elem) ? ORCRT_ARRAY_INSERTED
                                                             : ORCRT_ARRAY_NO_MEMORY;
}

#define ORCRT_ARRAY_SIZEOF_(A) sizeof(*(A)->Items)
#define ORCRT_ARRAY_ITEMS_(A) ((void **)&(A)->Items)
/* The offset of the key Member, which must be 8 bytes wide (else this does not compile). */
#define ORCRT_ARRAY_OFFSET_(A, Member)                                                             \
  ((void)sizeof(char[sizeof((A)->Items->Member) == sizeof(uint64_t) ? 1 : -1]),                    \
   offsetof(__typeof__(*(A)->Items), Member))

/* Make room for Need elements in all; false if memory runs out. */
#define ORCRT_ARRAY_RESERVE(A, Need)                                                               \
  orcrt_array_reserve_(ORCRT_ARRAY_ITEMS_(A), &(A)->Cap, (Need), ORCRT_ARRAY_SIZEOF_(A))

/* Append the element *ElemPtr; false (and A unchanged) if memory runs out. */
#define ORCRT_ARRAY_PUSH(A, ElemPtr)                                                               \
  orcrt_array_insert_(ORCRT_ARRAY_ITEMS_(A), &(A)->Len, &(A)->Cap, ORCRT_ARRAY_SIZEOF_(A),         \
                      (A)->Len, (ElemPtr))

/* Insert the element *ElemPtr at index I. */
#define ORCRT_ARRAY_INSERT(A, I, ElemPtr)                                                          \
  orcrt_array_insert_(ORCRT_ARRAY_ITEMS_(A), &(A)->Len, &(A)->Cap, ORCRT_ARRAY_SIZEOF_(A), (I),    \
                      (ElemPtr))

/* Lower bound and sorted insert in an array of uint64_t keys. */
#define ORCRT_ARRAY_LOWER_BOUND(A, Key)                                                            \
  orcrt_array_lower_bound_((A)->Items, (A)->Len, ORCRT_ARRAY_SIZEOF_(A), 0, (Key))
#define ORCRT_ARRAY_FIND(A, Key, AtPtr)                                                            \
  orcrt_array_find_((A)->Items, (A)->Len, ORCRT_ARRAY_SIZEOF_(A), 0, (Key), (AtPtr))
#define ORCRT_ARRAY_INSERT_SORTED(A, ElemPtr)                                                      \
  orcrt_array_insert_sorted_(ORCRT_ARRAY_ITEMS_(A), &(A)->Len, &(A)->Cap, ORCRT_ARRAY_SIZEOF_(A),  \
                             0, (ElemPtr))

/* The same for an array of structs sorted by their uint64_t member Member. */
#define ORCRT_ARRAY_LOWER_BOUND_BY(A, Member, Key)                                                 \
  orcrt_array_lower_bound_((A)->Items, (A)->Len, ORCRT_ARRAY_SIZEOF_(A),                           \
                           ORCRT_ARRAY_OFFSET_(A, Member), (Key))
#define ORCRT_ARRAY_FIND_BY(A, Member, Key, AtPtr)                                                 \
  orcrt_array_find_((A)->Items, (A)->Len, ORCRT_ARRAY_SIZEOF_(A), ORCRT_ARRAY_OFFSET_(A, Member),   \
                    (Key), (AtPtr))
#define ORCRT_ARRAY_INSERT_SORTED_BY(A, Member, ElemPtr)                                           \
  orcrt_array_insert_sorted_(ORCRT_ARRAY_ITEMS_(A), &(A)->Len, &(A)->Cap, ORCRT_ARRAY_SIZEOF_(A),  \
                             ORCRT_ARRAY_OFFSET_(A, Member), (ElemPtr))

/* Free the storage; A is empty afterwards (the elements themselves are the caller's). */
#define ORCRT_ARRAY_FREE(A)                                                                        \
  do {                                                                                             \
    free((A)->Items);                                                                              \
    (A)->Items = NULL;                                                                             \
    (A)->Len = (A)->Cap = 0;                                                                       \
  } while (0)

#endif /* ORCRT_UTIL_ARRAY_H */

/*
 * util/u64map.h - an open-addressed map from uint64_t keys to fixed-size values
 *
 * Linear probing at a load of at most one half, deletion by backward shift
 * (no tombstones, so a map that churns stays as fast as a fresh one). Every
 * value has the size given to orcrt_u64map_init(); its slot is aligned for
 * any type. Pointers to values stay valid until the next insert or remove.
 * The map is not locked: its owner locks it.
 */
#ifndef ORCRT_UTIL_U64MAP_H
#define ORCRT_UTIL_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct orcrt_u64map {
  unsigned char *Slots; /* Mask + 1 slots of Stride bytes; NULL until the first insert */
  unsigned char *Used;  /* one flag per slot */
  size_t Mask;          /* capacity - 1; the capacity is a power of two */
  size_t Count;
  size_t ValueSize, Stride;
};

/* An empty map of values of ValueSize bytes (no allocation until the first insert). */
void orcrt_u64map_init(struct orcrt_u64map *M, size_t ValueSize);

/* Free the storage; M is an empty map of the same value size afterwards. */
void orcrt_u64map_free(struct orcrt_u64map *M);

/* The value of Key, or NULL if there is none. */
void *orcrt_u64map_find(const struct orcrt_u64map *M, uint64_t Key);

/*
 * The value of Key, added (zero-filled) if absent; *Added says which (may be
 * NULL). Returns NULL if memory runs out (M is then unchanged).
 */
void *orcrt_u64map_insert(struct orcrt_u64map *M, uint64_t Key, bool *Added);

/* Remove Key, copying its value to Out (may be NULL). Returns false if absent. */
bool orcrt_u64map_remove(struct orcrt_u64map *M, uint64_t Key, void *Out);

/*
 * Iterate: start with *Pos = 0; each call returns the next entry's key and
 * value through Key and Value (either may be NULL), or false at the end.
 * The map must not change meanwhile.
 */
bool orcrt_u64map_next(const struct orcrt_u64map *M, size_t *Pos, uint64_t *Key, void **Value);

/* Hand M's entries to *To (which must not hold storage) and leave M empty. */
void orcrt_u64map_take(struct orcrt_u64map *M, struct orcrt_u64map *To);

#endif /* ORCRT_UTIL_U64MAP_H */

/*
 * bigdata.c - a 64 MiB zero-filled array and a large initialised table:
 * the executor must zero-fill what the object leaves out and copy the rest.
 */
#include <stdint.h>
#include <stdio.h>

#define BIG (64u << 20)

static unsigned char Zeros[BIG];

/* 65536 initialised words: 0, 1, 2, ... */
#define R4(X) (X), (X) + 1, (X) + 2, (X) + 3
#define R16(X) R4(X), R4((X) + 4), R4((X) + 8), R4((X) + 12)
#define R64(X) R16(X), R16((X) + 16), R16((X) + 32), R16((X) + 48)
#define R256(X) R64(X), R64((X) + 64), R64((X) + 128), R64((X) + 192)
#define R1K(X) R256(X), R256((X) + 256), R256((X) + 512), R256((X) + 768)
#define R4K(X) R1K(X), R1K((X) + 1024), R1K((X) + 2048), R1K((X) + 3072)
#define R16K(X) R4K(X), R4K((X) + 4096), R4K((X) + 8192), R4K((X) + 12288)
static uint32_t Table[] = {R16K(0), R16K(16384), R16K(32768), R16K(49152)};

int main(void) {
  uint64_t NonZero = 0;
  for (size_t I = 0; I < BIG; I += 4096)
    NonZero += Zeros[I] != 0;
  for (size_t I = 0; I < BIG; I += 4096)
    Zeros[I] = (unsigned char)(I >> 12);
  uint64_t Sum = 0;
  for (size_t I = 0; I < BIG; I += 4096)
    Sum += Zeros[I];
  uint64_t TableSum = 0, Bad = 0;
  for (size_t I = 0; I < sizeof(Table) / sizeof(Table[0]); I++) {
    TableSum += Table[I];
    Bad += Table[I] != I;
  }
  printf("zero array: %u bytes, %llu non-zero pages, written sum %llu\n", BIG,
         (unsigned long long)NonZero, (unsigned long long)Sum);
  printf("table: %zu words, sum %llu, %llu out of place\n", sizeof(Table) / sizeof(Table[0]),
         (unsigned long long)TableSum, (unsigned long long)Bad);
  return NonZero == 0 && Bad == 0 ? 0 : 1;
}

/*
 * args.c - prints its arguments and exits with the status the first one
 * names (so negative statuses can be tried: "-3" exits with 253).
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  printf("argc=%d\n", argc);
  for (int I = 0; I < argc; I++)
    printf("argv[%d]=\"%s\"\n", I, argv[I]);
  printf("argv[argc] is %s\n", argv[argc] ? "not NULL" : "NULL");
  return argc > 0 ? atoi(argv[0]) : 0;
}

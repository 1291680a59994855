#include <stdio.h>
int main(int argc, char **argv) {
  printf("argc=%d", argc);
  for (int i = 0; i < argc; i++) printf(" argv[%d]=%s", i, argv[i]);
  printf("\n");
  fprintf(stderr, "to stderr\n");
  return 40 + argc;
}

/*
 * undefined.c - calls a function nobody defines: linking must fail.
 */
#include <stdio.h>

int no_such_function_xyz(int);

int main(void) {
  printf("never printed\n");
  return no_such_function_xyz(1);
}

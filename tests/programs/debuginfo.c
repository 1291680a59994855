/*
 * debuginfo.c - built with -g: llvm-jitlink also ships a debug object and
 * registers it with the executor's GDB JIT interface.
 */
#include <stdio.h>

struct Point {
  int X, Y;
};

static int manhattan(struct Point A, struct Point B) {
  int DX = A.X > B.X ? A.X - B.X : B.X - A.X;
  int DY = A.Y > B.Y ? A.Y - B.Y : B.Y - A.Y;
  return DX + DY;
}

int main(void) {
  struct Point P = {1, 2}, Q = {7, -3};
  int D = manhattan(P, Q);
  printf("distance %d\n", D);
  return D;
}

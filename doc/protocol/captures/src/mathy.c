#include <math.h>
#include <stdio.h>
double g[8] = {1,2,3,4,5,6,7,8}; int gi[4] = {1,2,3,4};
int main(void) { double a = 0; for (int i = 0; i < 8; i++) a += sin(g[i]) + cos(g[i]) + pow(g[i], 0.5) + sqrt(g[i]);
  a += gi[3]; printf("acc=%f\n", a); return (int)a; }

/*
 * mathlib.c - calls into libm, resolved by the executor.
 */
#include <math.h>
#include <stdio.h>

int main(void) {
  volatile double X = 0.5;
  printf("sin %.9f\n", sin(X));
  printf("cos %.9f\n", cos(X));
  printf("pow %.9f\n", pow(X, 3.25));
  printf("sqrt %.9f\n", sqrt(X * 8));
  printf("exp %.9f\n", exp(X));
  printf("log %.9f\n", log(X));
  printf("atan2 %.9f\n", atan2(X, 2.0));
  return 0;
}

#include <cstdio>
printf("before\n");
int *np = nullptr;
*np = 1;
printf("after\n");
int y = 5;
%quit

#include <stdio.h>
extern int nosuch_weak(void) __attribute__((weak));
int main(void) { printf("weak=%s\n", nosuch_weak ? "set" : "null"); return nosuch_weak ? 1 : 2; }

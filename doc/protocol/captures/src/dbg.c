#include <stdio.h>
struct R { int w, h; };
static int area(struct R r) { return r.w * r.h; }
int main(void) { struct R r = {2, 5}; printf("area=%d\n", area(r)); return area(r); }

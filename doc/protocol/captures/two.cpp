#include <cstdio>
struct S { S() { printf("ctor\n"); } ~S() { printf("dtor\n"); } } s;
try { throw 1; } catch (int i) { printf("caught %d\n", i); }
%quit

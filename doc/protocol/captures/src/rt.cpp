#include <cstdio>
struct S { int v; S(int x) : v(x) { std::printf("ctor %d\n", v); } ~S() { std::printf("dtor %d\n", v); } };
S A(5); S B(6);
__attribute__((constructor)) static void c() { std::printf("constructor attr\n"); }
int main(int argc, char **) { std::printf("main A=%d B=%d argc=%d\n", A.v, B.v, argc); return A.v + B.v + argc; }

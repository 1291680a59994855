#include <cstdio>
#include <vector>
#include <stdexcept>
int add(int a, int b) { return a + b; }
printf("add=%d\n", add(2, 3));
std::vector<int> v = {1, 2, 3};
v.push_back(4);
printf("size=%zu sum=%d\n", v.size(), v[0] + v[1] + v[2] + v[3]);
try { throw std::runtime_error("boom"); } catch (const std::exception &e) { printf("caught %s\n", e.what()); }
struct S { int id; S(int i) : id(i) { printf("ctor %d\n", id); } ~S() { printf("dtor %d\n", id); } };
static S s1(1);
static char big[64 * 1024 * 1024];
big[64 * 1024 * 1024 - 1] = 7; printf("big last=%d\n", big[sizeof(big) - 1]);
char *p = new char[64 * 1024 * 1024]; p[12345] = 9; printf("new[] ok %d\n", p[12345]); delete[] p;
int x = 42;
x
%quit

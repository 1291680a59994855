#include <cstdio>
#include <stdexcept>
#include <string>
static int f(int n) { if (n > 0) throw std::runtime_error("boom " + std::to_string(n)); return 0; }
int main(int argc, char **argv) { try { f(argc); } catch (const std::exception &e) { std::printf("caught: %s\n", e.what()); } return 3; }

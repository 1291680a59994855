/*
 * statics.cpp - what LLVM's ORC runtime runs around main: C++ static
 * constructors (filling a global std::map before main), constructor
 * priorities, and the destructors and exit handlers registered with
 * __cxa_atexit, run in reverse order when main's JITDylib is closed after
 * main returns. Arguments go into the map too, and the exit status is its
 * size. Run with llvm-jitlink-19 -orc-runtime=.../liborc_rt-x86_64.a.
 *
 * Handlers registered with atexit() are in the program as well: LLVM 19's
 * ORC runtime records them for its own JITDylib, which it never closes, so
 * they do not run, in process or out of process alike.
 */
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

extern "C" void *__dso_handle;
extern "C" int __cxa_atexit(void (*)(void *), void *, void *);

std::map<std::string, int> Table;

struct Registrar {
  const char *Name;
  Registrar(const char *N, int V) : Name(N) {
    Table[N] = V;
    std::printf("constructing %s = %d\n", N, V);
  }
  ~Registrar() { std::printf("destroying %s (table has %zu)\n", Name, Table.size()); }
};

Registrar First("first", 1);
Registrar Second("second", 2);

static int EarlyValue = 0;

__attribute__((constructor(101))) static void early() {
  EarlyValue = 7;
  std::printf("constructor(101) runs first\n");
}

__attribute__((constructor)) static void plain() {
  std::printf("plain constructor sees %d\n", EarlyValue);
}

struct Lazy {
  ~Lazy() { std::printf("function-local static destroyed\n"); }
};

static Lazy &lazy() {
  static Lazy L;
  return L;
}

static void handler(void *Arg) {
  std::printf("exit handler %s\n", static_cast<const char *>(Arg));
}

static void never_run() {
  std::printf("atexit handler\n");
}

int main(int argc, char **argv) {
  __cxa_atexit(handler, const_cast<char *>("one"), &__dso_handle);
  __cxa_atexit(handler, const_cast<char *>("two"), &__dso_handle);
  std::atexit(never_run);
  lazy();
  for (int I = 0; I < argc; I++)
    Table[argv[I]] = 100 + I;
  int Sum = 0;
  for (const auto &KV : Table) {
    std::printf("%s -> %d\n", KV.first.c_str(), KV.second);
    Sum += KV.second;
  }
  std::fprintf(stderr, "argc %d, %zu entries, sum %d\n", argc, Table.size(), Sum);
  return static_cast<int>(Table.size());
}

/*
 * exceptions-static-init.cpp - C++ exceptions thrown and caught inside a
 * static constructor, which LLVM's ORC runtime runs among the object's
 * initializers before main, and in main: thrown by JIT'd code and by
 * libstdc++ (std::stoi), through frames whose destructors must run. Run
 * with llvm-jitlink-19 -orc-runtime=.../liborc_rt-x86_64.a; the exit
 * status is the number of exceptions main caught.
 */
#include <cstdio>
#include <stdexcept>
#include <string>

static int Unwound = 0;

struct Guard {
  const char *Name;
  ~Guard() {
    Unwound++;
    std::printf("leaving %s\n", Name);
  }
};

__attribute__((noinline)) static int parse(const std::string &S) {
  Guard G{"parse"};
  if (S.empty() || S[0] < '0' || S[0] > '9')
    throw std::invalid_argument("not a number: \"" + S + "\"");
  return std::stoi(S);
}

struct Config {
  int Value = -1;
  std::string Error;
  explicit Config(const char *Text) {
    try {
      Value = parse(Text);
    } catch (const std::invalid_argument &E) {
      Error = E.what();
    }
    std::printf("static Config(\"%s\"): value %d%s%s\n", Text, Value,
                Error.empty() ? "" : ", caught ", Error.c_str());
  }
};

Config Good("42");
Config Bad("forty-two");

int main() {
  int Caught = 0;
  for (const char *Text : {"x", "7", ""}) {
    try {
      std::printf("parsed %d\n", parse(Text));
    } catch (const std::exception &E) {
      std::printf("main caught %s\n", E.what());
      Caught++;
    }
  }
  try {
    parse("99999999999999999999");
  } catch (const std::out_of_range &) {
    std::printf("main caught out_of_range from std::stoi\n");
    Caught++;
  }
  std::printf("good %d, bad %d, caught %d, unwound %d\n", Good.Value, Bad.Value, Caught, Unwound);
  return Caught;
}

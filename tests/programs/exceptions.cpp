/*
 * exceptions.cpp - C++ exceptions thrown and caught across JIT'd functions,
 * with std::string and std::vector (the executor must register the unwind
 * tables and resolve the C++ runtime). No global has a constructor or a
 * destructor: neither controller runs static initialisers without the ORC
 * runtime.
 */
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

struct Custom {
  int Code;
  std::string What;
};

typedef std::vector<std::string> LogT;

__attribute__((noinline)) static void level3(LogT &Log, int N) {
  Log.push_back("level3(" + std::to_string(N) + ")");
  if (N % 3 == 0)
    throw std::runtime_error("runtime error at " + std::to_string(N));
  if (N % 3 == 1)
    throw Custom{N, "custom at " + std::to_string(N)};
  throw N;
}

__attribute__((noinline)) static void level2(LogT &Log, int N) {
  std::string Guard = "guard " + std::to_string(N);
  try {
    level3(Log, N);
  } catch (int I) {
    Log.push_back("level2 caught int " + std::to_string(I) + " with " + Guard);
    throw;
  }
}

__attribute__((noinline)) static int level1(LogT &Log, int N) {
  try {
    level2(Log, N);
  } catch (const std::exception &E) {
    Log.push_back(std::string("std::exception: ") + E.what());
    return 1;
  } catch (const Custom &C) {
    Log.push_back("Custom " + std::to_string(C.Code) + ": " + C.What);
    return 2;
  } catch (...) {
    Log.push_back("something else");
    return 3;
  }
  return 0;
}

int main() {
  LogT Log;
  int Sum = 0;
  for (int N = 0; N < 6; N++)
    Sum += level1(Log, N);
  std::vector<int> V(1000);
  try {
    V.at(5000) = 1;
  } catch (const std::out_of_range &) {
    Log.push_back("out_of_range from std::vector::at");
  }
  for (const std::string &S : Log)
    std::printf("%s\n", S.c_str());
  std::printf("sum %d\n", Sum);
  return Sum;
}

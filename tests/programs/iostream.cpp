/*
 * iostream.cpp - the C++ hello world: std::cout, std::cerr and std::clog,
 * with std::endl, manipulators and numbers, and output left in the buffer
 * without a newline at the end, which must still come out when the program
 * exits. The exit status is 3. Without LLVM's ORC runtime nothing runs the
 * object's own std::ios_base::Init; the executor must have constructed the
 * streams.
 */
#include <iomanip>
#include <iostream>

int main() {
  std::cout << "Hello from std::cout" << std::endl;
  std::cout << 42 << ' ' << std::fixed << std::setprecision(2) << 3.14159 << ' ' << std::hex
            << 255 << std::dec << '\n';
  std::cerr << "to std::cerr " << 7 << "\n";
  std::clog << "to std::clog\n";
  std::cout << "last words, no newline";
  return 3;
}

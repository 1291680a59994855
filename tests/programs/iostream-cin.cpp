/*
 * iostream-cin.cpp - reading stdin with std::cin: a first line with
 * std::getline, then numbers with operator>> until end of file. Prints what
 * it read and returns the count of numbers.
 */
#include <iostream>
#include <string>

int main() {
  std::string Title;
  if (!std::getline(std::cin, Title)) {
    std::cerr << "no title line\n";
    return 100;
  }
  std::cout << "title: [" << Title << "]\n";
  long Sum = 0;
  int Count = 0;
  for (long V; std::cin >> V;) {
    Sum += V;
    Count++;
  }
  std::cout << Count << " numbers, sum " << Sum << (std::cin.eof() ? ", at end of file" : ", bad")
            << std::endl;
  return Count;
}

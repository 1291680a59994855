/*
 * iostream-sstream.cpp - string streams and std::string: formatting into a
 * std::ostringstream, parsing a std::istringstream, a std::stringstream both
 * ways, printed with std::cout. Returns the number of fields parsed.
 */
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

int main() {
  std::ostringstream Out;
  Out << "pi=" << 3.25 << ", n=" << 17 << ", s=" << std::string(3, 'x');
  std::cout << "formatted: " << Out.str() << '\n';

  std::istringstream In("alpha 12 beta 30 gamma 0");
  std::vector<std::string> Names;
  int Total = 0;
  std::string Name;
  for (int V; In >> Name >> V;) {
    Names.push_back(Name);
    Total += V;
  }
  std::string Joined;
  for (const std::string &N : Names)
    Joined += (Joined.empty() ? "" : "+") + N;
  std::cout << "parsed: " << Joined << " total " << Total << '\n';

  std::stringstream Both;
  Both << 6 * 7 << ' ' << "words";
  int Answer = 0;
  std::string Word;
  Both >> Answer >> Word;
  std::cout << "round trip: " << Answer << ' ' << Word << " (" << Word.size() << " chars)"
            << std::endl;
  std::cerr << "stderr via std::cerr: " << Names.size() << " names\n";
  return (int)Names.size();
}

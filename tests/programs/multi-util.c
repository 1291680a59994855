/*
 * multi-util.c - the second of two objects linked into one with ld -r.
 */
const char *MultiGreeting = "from the other object";

int multi_fib(int N) {
  return N < 2 ? N : multi_fib(N - 1) + multi_fib(N - 2);
}

/*
 * preload-lib.c - a small shared library the test builds and hands to
 * llvm-jitlink with --preload; preload-main.c calls into it.
 */
int orcrt_preload_answer(int X) {
  return X * 2 + 1;
}

/*
 * yes.c - prints "y" lines for ever, as yes(1) does, and counts on SIGPIPE
 * to end it when the reader has gone (yes | head): its writes' errors are
 * not checked.
 */
#include <stdio.h>

int main(void) {
  for (;;)
    puts("y");
}

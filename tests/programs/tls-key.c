/*
 * tls-key.c - JIT'd code creating a thread-specific key with a destructor,
 * which runs when the thread that set a value exits (after main returns).
 */
#include <pthread.h>
#include <stdio.h>

static pthread_key_t Key;
static int Value = 42;
static volatile int Destroyed;

static void destroy(void *P) {
  Destroyed = *(int *)P;
}

int main(void) {
  if (pthread_key_create(&Key, destroy) != 0 || pthread_setspecific(Key, &Value) != 0) {
    fprintf(stderr, "cannot set a thread-specific value\n");
    return 1;
  }
  printf("value %d set\n", *(int *)pthread_getspecific(Key));
  return 3;
}

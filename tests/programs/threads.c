/*
 * threads.c - JIT'd code starting and joining threads, with a mutex.
 */
#include <pthread.h>
#include <stdio.h>

#define NTHREADS 8
#define PER_THREAD 100000

static pthread_mutex_t Lock = PTHREAD_MUTEX_INITIALIZER;
static long long Total;

static void *work(void *Arg) {
  long long Id = (long long)(long)Arg, Local = 0;
  for (long long I = 0; I < PER_THREAD; I++)
    Local += I % (Id + 2);
  pthread_mutex_lock(&Lock);
  Total += Local;
  pthread_mutex_unlock(&Lock);
  return (void *)(long)(Id * 10);
}

int main(void) {
  pthread_t T[NTHREADS];
  for (long I = 0; I < NTHREADS; I++)
    if (pthread_create(&T[I], NULL, work, (void *)I) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      return 1;
    }
  long Joined = 0;
  for (int I = 0; I < NTHREADS; I++) {
    void *Ret;
    pthread_join(T[I], &Ret);
    Joined += (long)Ret;
  }
  printf("%d threads, total %lld, joined %ld\n", NTHREADS, Total, Joined);
  return 0;
}

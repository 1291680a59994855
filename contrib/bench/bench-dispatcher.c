/*
 * bench-dispatcher.c - throughput of orcrt's thread pool against a plain
 * mutex + condition variable queue with the same number of workers
 *
 * usage: bench-dispatcher [-t THREADS] [-n TASKS] [-w SPIN]
 *
 * For 1, 2 and 8 producer threads, TASKS tasks (split among the producers)
 * go through each dispatcher, timed from creation until shutdown has run
 * them all and joined the workers. Each figure is the median of 5 rounds.
 * A task increments a shared counter, after SPIN iterations of busy work.
 * This is a benchmark, not a test: it asserts nothing about speed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <orcrt/orcrt.h>

enum { ROUNDS = 5 };

static atomic_ulong Done;
static unsigned long Spin;

static void task_run(void *Ctx) {
  (void)Ctx;
  for (volatile unsigned long I = 0; I < Spin; I++)
    ;
  atomic_fetch_add_explicit(&Done, 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------------- */
/* The baseline: a malloc'd node per task, workers started up front        */

struct plain_node {
  struct plain_node *Next;
  void (*Run)(void *);
  void *Ctx;
};

struct plain_queue {
  pthread_mutex_t Lock;
  pthread_cond_t Cond;
  struct plain_node *Head, **Tail;
  int Closed;
  unsigned NumThreads;
  pthread_t *Threads;
};

static void *plain_worker(void *Arg) {
  struct plain_queue *Q = Arg;
  pthread_mutex_lock(&Q->Lock);
  for (;;) {
    while (!Q->Head && !Q->Closed)
      pthread_cond_wait(&Q->Cond, &Q->Lock);
    struct plain_node *N = Q->Head;
    if (!N)
      break;
    Q->Head = N->Next;
    if (!Q->Head)
      Q->Tail = &Q->Head;
    pthread_mutex_unlock(&Q->Lock);
    N->Run(N->Ctx);
    free(N);
    pthread_mutex_lock(&Q->Lock);
  }
  pthread_mutex_unlock(&Q->Lock);
  return NULL;
}

static struct plain_queue *plain_create(unsigned NumThreads) {
  struct plain_queue *Q = calloc(1, sizeof(*Q));
  if (Q)
    Q->Threads = calloc(NumThreads, sizeof(pthread_t));
  if (!Q || !Q->Threads) {
    perror("calloc");
    exit(1);
  }
  pthread_mutex_init(&Q->Lock, NULL);
  pthread_cond_init(&Q->Cond, NULL);
  Q->Tail = &Q->Head;
  Q->NumThreads = NumThreads;
  for (unsigned I = 0; I < NumThreads; I++)
    if (pthread_create(&Q->Threads[I], NULL, plain_worker, Q)) {
      perror("pthread_create");
      exit(1);
    }
  return Q;
}

static void plain_dispatch(struct plain_queue *Q, void (*Run)(void *), void *Ctx) {
  struct plain_node *N = malloc(sizeof(*N));
  if (!N) {
    perror("malloc");
    exit(1);
  }
  N->Next = NULL;
  N->Run = Run;
  N->Ctx = Ctx;
  pthread_mutex_lock(&Q->Lock);
  *Q->Tail = N;
  Q->Tail = &N->Next;
  pthread_cond_signal(&Q->Cond);
  pthread_mutex_unlock(&Q->Lock);
}

static void plain_destroy(struct plain_queue *Q) {
  pthread_mutex_lock(&Q->Lock);
  Q->Closed = 1;
  pthread_cond_broadcast(&Q->Cond);
  pthread_mutex_unlock(&Q->Lock);
  for (unsigned I = 0; I < Q->NumThreads; I++)
    pthread_join(Q->Threads[I], NULL);
  pthread_cond_destroy(&Q->Cond);
  pthread_mutex_destroy(&Q->Lock);
  free(Q->Threads);
  free(Q);
}

/* ---------------------------------------------------------------------- */
/* The driver                                                              */

enum kind { KIND_ORCRT, KIND_PLAIN };

struct producer {
  enum kind Kind;
  orc_rt_TaskDispatcherRef D;
  struct plain_queue *Q;
  unsigned long Count;
  pthread_barrier_t *Go;
};

static void *producer_main(void *Arg) {
  struct producer *P = Arg;
  pthread_barrier_wait(P->Go);
  if (P->Kind == KIND_ORCRT)
    for (unsigned long I = 0; I < P->Count; I++)
      orc_rt_TaskDispatcher_dispatch(P->D, (orc_rt_Task){task_run, NULL, NULL});
  else
    for (unsigned long I = 0; I < P->Count; I++)
      plain_dispatch(P->Q, task_run, NULL);
  return NULL;
}

static double now(void) {
  struct timespec T;
  clock_gettime(CLOCK_MONOTONIC, &T);
  return (double)T.tv_sec + (double)T.tv_nsec / 1e9;
}

/* One round: tasks per second. */
static double run_round(enum kind Kind, unsigned Threads, unsigned Producers, unsigned long Tasks) {
  pthread_t T[8];
  struct producer P[8];
  pthread_barrier_t Go;
  orc_rt_TaskDispatcherRef D = NULL;
  struct plain_queue *Q = NULL;
  unsigned long Each = Tasks / Producers;

  atomic_store(&Done, 0);
  pthread_barrier_init(&Go, NULL, Producers + 1);
  for (unsigned I = 0; I < Producers; I++) {
    P[I] = (struct producer){Kind, NULL, NULL, Each, &Go};
    if (pthread_create(&T[I], NULL, producer_main, &P[I])) {
      perror("pthread_create");
      exit(1);
    }
  }

  double Start = now();
  if (Kind == KIND_ORCRT) {
    orc_rt_ErrorRef E = orc_rt_ThreadPoolTaskDispatcher_create(Threads, &D);
    if (E) {
      fprintf(stderr, "bench-dispatcher: %s\n", orc_rt_Error_getMessage(E));
      exit(1);
    }
  } else {
    Q = plain_create(Threads);
  }
  for (unsigned I = 0; I < Producers; I++) {
    P[I].D = D;
    P[I].Q = Q;
  }
  pthread_barrier_wait(&Go);
  for (unsigned I = 0; I < Producers; I++)
    pthread_join(T[I], NULL);
  if (Kind == KIND_ORCRT)
    orc_rt_TaskDispatcher_destroy(D);
  else
    plain_destroy(Q);
  double Elapsed = now() - Start;
  pthread_barrier_destroy(&Go);

  if (atomic_load(&Done) != Each * Producers) {
    fprintf(stderr, "bench-dispatcher: %lu of %lu tasks ran\n", atomic_load(&Done),
            Each * Producers);
    exit(1);
  }
  return (double)(Each * Producers) / Elapsed;
}

static int cmp_double(const void *A, const void *B) {
  double X = *(const double *)A, Y = *(const double *)B;
  return (X > Y) - (X < Y);
}

static double median(enum kind Kind, unsigned Threads, unsigned Producers, unsigned long Tasks) {
  double R[ROUNDS];
  for (int I = 0; I < ROUNDS; I++)
    R[I] = run_round(Kind, Threads, Producers, Tasks);
  qsort(R, ROUNDS, sizeof(R[0]), cmp_double);
  return R[ROUNDS / 2];
}

static unsigned long parse(const char *S, const char *What) {
  char *End;
  errno = 0;
  unsigned long V = strtoul(S, &End, 10);
  if (errno || *End || End == S) {
    fprintf(stderr, "bench-dispatcher: bad %s: %s\n", What, S);
    exit(2);
  }
  return V;
}

int main(int argc, char **argv) {
  unsigned long Threads = 0, Tasks = 1000000;
  int Opt;
  while ((Opt = getopt(argc, argv, "t:n:w:")) != -1) {
    switch (Opt) {
    case 't':
      Threads = parse(optarg, "thread count");
      break;
    case 'n':
      Tasks = parse(optarg, "task count");
      break;
    case 'w':
      Spin = parse(optarg, "spin count");
      break;
    default:
      fprintf(stderr, "usage: bench-dispatcher [-t THREADS] [-n TASKS] [-w SPIN]\n");
      return 2;
    }
  }
  if (Threads == 0) {
    /* What orcrt's pool picks for 0; the baseline needs the number. */
    long N = sysconf(_SC_NPROCESSORS_ONLN);
    Threads = N < 2 ? 2 : (unsigned long)N;
  }
  if (Tasks < 8) {
    fprintf(stderr, "bench-dispatcher: need at least 8 tasks\n");
    return 2;
  }

  printf("workers %lu, %lu tasks per round, spin %lu, median of %d rounds\n", Threads, Tasks, Spin,
         ROUNDS);
  printf("%-10s %16s %16s %8s\n", "producers", "orcrt tasks/s", "plain tasks/s", "ratio");
  static const unsigned Producers[] = {1, 2, 8};
  for (size_t I = 0; I < sizeof(Producers) / sizeof(Producers[0]); I++) {
    double Orc = median(KIND_ORCRT, (unsigned)Threads, Producers[I], Tasks);
    double Plain = median(KIND_PLAIN, (unsigned)Threads, Producers[I], Tasks);
    printf("%-10u %16.0f %16.0f %8.2f\n", Producers[I], Orc, Plain, Orc / Plain);
  }
  return 0;
}

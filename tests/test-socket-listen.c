/*
 * test-socket-listen.c - orc_rt_PipeControllerAccess_acceptTCP(): waiting
 * for one controller over TCP (orcrt-executor's listen=, end to end in
 * test-bidir.c)
 */
#include "config.h"

#include "run-util.h"
#include "test-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <orcrt/socket-listen.h>

/* An acceptTCP call on a thread of its own, and what it said. */
struct acceptor {
  const char *Host;
  uint16_t Port;
  orcrt_test_latch Listening;
  char Address[128]; /* written before Listening is signalled */
  orc_rt_ErrorRef Err;
  int Fd;
};

static void on_listening(void *Ctx, const char *Address) {
  struct acceptor *A = Ctx;
  snprintf(A->Address, sizeof(A->Address), "%s", Address);
  orcrt_test_latch_signal(&A->Listening);
}

static void *acceptor_main(void *Arg) {
  struct acceptor *A = Arg;
  A->Err = orc_rt_PipeControllerAccess_acceptTCP(A->Host, A->Port, on_listening, A, &A->Fd);
  return NULL;
}

START_TEST(listen_accepts_one_controller_on_loopback_and_says_where) {
  struct acceptor A = {.Host = NULL, .Port = 0, .Fd = -1};
  pthread_t T;
  orcrt_test_latch_init(&A.Listening);
  ck_assert_int_eq(pthread_create(&T, NULL, acceptor_main, &A), 0);
  orcrt_test_latch_wait(&A.Listening, 1);
  /* No host: loopback only; port 0: a free one, told to the callback. */
  unsigned Port = 0;
  char End;
  ck_assert_msg(sscanf(A.Address, "127.0.0.1:%u%c", &Port, &End) == 1 && Port > 0,
                "listening on \"%s\"", A.Address);
  int Controller = orcrt_test_connect_loopback((int)Port);
  ck_assert_msg(Controller >= 0, "connect: %s", strerror(errno));
  pthread_join(T, NULL);
  ck_assert_no_error(A.Err);

  /* The connection: close-on-exec, Nagle off, and the only one. */
  int NoDelay = 0;
  socklen_t Len = sizeof(NoDelay);
  ck_assert(fcntl(A.Fd, F_GETFD) & FD_CLOEXEC);
  ck_assert_int_eq(getsockopt(A.Fd, IPPROTO_TCP, TCP_NODELAY, &NoDelay, &Len), 0);
  ck_assert_int_ne(NoDelay, 0);
  ck_assert_int_eq(write(Controller, "x", 1), 1);
  char C = 0;
  ck_assert_int_eq(read(A.Fd, &C, 1), 1);
  ck_assert_int_eq(C, 'x');
  int Second = orcrt_test_connect_loopback((int)Port);
  int E = errno;
  if (Second >= 0)
    close(Second);
  ck_assert_msg(Second < 0 && E == ECONNREFUSED, "a second connection was accepted");
  close(A.Fd);
  close(Controller);
  orcrt_test_latch_destroy(&A.Listening);
}
END_TEST

START_TEST(listen_reports_a_port_it_cannot_bind_and_leaves_nothing_open) {
  /* Someone listens on the port already. */
  int Busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in Sa = {.sin_family = AF_INET};
  socklen_t Len = sizeof(Sa);
  Sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_ge(Busy, 0);
  ck_assert_int_eq(bind(Busy, (struct sockaddr *)&Sa, sizeof(Sa)), 0);
  ck_assert_int_eq(listen(Busy, 1), 0);
  ck_assert_int_eq(getsockname(Busy, (struct sockaddr *)&Sa, &Len), 0);
  unsigned Port = ntohs(Sa.sin_port);

  int Fd = -1;
  char Want[64];
  snprintf(Want, sizeof(Want), "cannot listen on 127.0.0.1 port %u: ", Port);
  ck_assert_error_contains(
      orc_rt_PipeControllerAccess_acceptTCP("127.0.0.1", (uint16_t)Port, NULL, NULL, &Fd), Want);
  ck_assert_int_eq(Fd, -1);
  close(Busy);
  /* The fixture counts the descriptors: none may be left. */
}
END_TEST

Suite *orcrt_suite_listen(void) {
  Suite *S = suite_create("listen");
  TCase *TC = orcrt_test_case(S, "accept", 10);
  tcase_add_test(TC, listen_accepts_one_controller_on_loopback_and_says_where);
  tcase_add_test(TC, listen_reports_a_port_it_cannot_bind_and_leaves_nothing_open);
  return S;
}

/*
 * socket-listen.c - listen= for embedders: bind, accept one controller over
 * TCP, Nagle off (see orcrt/socket-listen.h), moved from orcrt-executor
 */
#include "orcrt-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <orcrt/socket-listen.h>

/* The host a listener without one binds: loopback only. */
#define DEFAULT_HOST "127.0.0.1"

/* Write "ADDR:PORT" ("[ADDR]:PORT" for IPv6) of Sa into Buf. */
static void format_address(const struct sockaddr *Sa, socklen_t Len, char *Buf, size_t Size) {
  char Host[NI_MAXHOST], Port[NI_MAXSERV];
  if (getnameinfo(Sa, Len, Host, sizeof(Host), Port, sizeof(Port),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    snprintf(Buf, Size, "?");
    return;
  }
  snprintf(Buf, Size, Sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", Host, Port);
}

/* A socket listening on Host:Port (one backlog slot), or -1 after *Err. */
static int listen_on(const char *Host, uint16_t Port, orc_rt_ErrorRef *Err) {
  struct addrinfo Hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *List = NULL;
  char Service[8];
  int Listener = -1, E = 0, One = 1;

  snprintf(Service, sizeof(Service), "%u", (unsigned)Port);
  int Rc = getaddrinfo(Host, Service, &Hints, &List);
  if (Rc != 0) {
    *Err = orc_rt_Error_create("cannot listen on %s port %u: %s", Host, (unsigned)Port,
                               Rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(Rc));
    return -1;
  }
  for (struct addrinfo *A = List; A; A = A->ai_next) {
    Listener = socket(A->ai_family, A->ai_socktype | SOCK_CLOEXEC, A->ai_protocol);
    if (Listener < 0) {
      E = errno;
      continue;
    }
    /* A restarted executor may reuse the port at once. */
    if (setsockopt(Listener, SOL_SOCKET, SO_REUSEADDR, &One, sizeof(One)) == 0 &&
        bind(Listener, A->ai_addr, A->ai_addrlen) == 0 && listen(Listener, 1) == 0)
      break;
    E = errno;
    close(Listener);
    Listener = -1;
  }
  freeaddrinfo(List);
  if (Listener < 0)
    *Err =
        orc_rt_Error_create("cannot listen on %s port %u: %s", Host, (unsigned)Port, strerror(E));
  return Listener;
}

ORC_RT_EXPORT orc_rt_ErrorRef orc_rt_PipeControllerAccess_acceptTCP(const char *Host, uint16_t Port,
                                                                    orc_rt_ListeningFn OnListening,
                                                                    void *Ctx, int *Out) {
  struct sockaddr_storage Addr;
  socklen_t Len = sizeof(Addr);
  char Where[NI_MAXHOST + NI_MAXSERV + 4];
  orc_rt_ErrorRef Err = NULL;
  int Conn = -1, E, One = 1;

  if (!Host || !*Host)
    Host = DEFAULT_HOST;
  int Listener = listen_on(Host, Port, &Err);
  if (Listener < 0)
    return Err;
  if (getsockname(Listener, (struct sockaddr *)&Addr, &Len) != 0) {
    Err = orc_rt_Error_fromErrno(errno, "cannot find the listening address");
    close(Listener);
    return Err;
  }
  if (OnListening) {
    format_address((struct sockaddr *)&Addr, Len, Where, sizeof(Where));
    OnListening(Ctx, Where);
  }

  do {
#ifdef HAVE_ACCEPT4
    Conn = accept4(Listener, NULL, NULL, SOCK_CLOEXEC);
#else
    Conn = accept(Listener, NULL, NULL);
    if (Conn >= 0)
      fcntl(Conn, F_SETFD, FD_CLOEXEC);
#endif
    /* A connection reset before it was accepted: wait for the next one. */
  } while (Conn < 0 && (errno == EINTR || errno == ECONNABORTED));
  E = errno;
  close(Listener);
  if (Conn < 0)
    return orc_rt_Error_fromErrno(E, "cannot accept a controller");
  setsockopt(Conn, IPPROTO_TCP, TCP_NODELAY, &One, sizeof(One));
  *Out = Conn;
  return NULL;
}

/*
 * orcrt/socket-listen.h - waiting for one controller over TCP
 *
 * A controller may connect to the executor instead of launching it
 * (llvm-jitlink-19 -oop-executor-connect=HOST:PORT): the executor listens,
 * accepts one connection and serves it with the pipe ControllerAccess on
 * that one socket (orc_rt_PipeControllerAccess_attach(S, Fd, Fd, Opts),
 * with Opts.IdleProbeMs set for llvm-jitlink-19). This is what
 * orcrt-executor's listen= does.
 */
#ifndef ORCRT_SOCKET_LISTEN_H
#define ORCRT_SOCKET_LISTEN_H

#include <stdint.h>

#include <orcrt/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Told where the socket listens, Address being "ADDR:PORT" ("[ADDR]:PORT"
 * for IPv6), numeric, borrowed for the call: with port 0 this is how the
 * one who will connect learns the port.
 */
typedef void (*orc_rt_ListeningFn)(void *Ctx, const char *Address);

/**
 * Listen on TCP port Port of Host (a name or a numeric address; NULL or ""
 * means 127.0.0.1, loopback only: an executor runs whatever it is sent, so
 * it is reachable from elsewhere only if asked; Port 0 picks a free port),
 * call OnListening(Ctx, Address) if it is not NULL, accept one connection
 * and close the listening socket, so that no second controller can
 * connect. A connection reset before it is accepted is skipped.
 *
 * On success *Out is the connected socket, close-on-exec, with Nagle's
 * algorithm off (the protocol is small frames in turn); the caller owns it
 * (orc_rt_PipeControllerAccess_attach() takes it on success). Returns NULL,
 * or the error ("cannot listen on HOST port PORT: ...", "cannot accept a
 * controller: ..."), with nothing left open. Blocks until a controller
 * connects. Any thread.
 */
orc_rt_ErrorRef orc_rt_PipeControllerAccess_acceptTCP(const char *Host, uint16_t Port,
                                                      orc_rt_ListeningFn OnListening, void *Ctx,
                                                      int *Out);

#ifdef __cplusplus
}
#endif

#endif /* ORCRT_SOCKET_LISTEN_H */

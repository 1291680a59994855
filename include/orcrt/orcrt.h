/*
 * orcrt/orcrt.h - everything of liborcrt's public API
 */
#ifndef ORCRT_ORCRT_H
#define ORCRT_ORCRT_H

#include <orcrt/error.h>
#include <orcrt/executor-addr.h>
#include <orcrt/wrapper-function.h>
#include <orcrt/sps.h>
#include <orcrt/log.h>
#include <orcrt/task-dispatcher.h>
#include <orcrt/service.h>
#include <orcrt/controller-access.h>
#include <orcrt/session.h>
#include <orcrt/loopback.h>
#include <orcrt/pipe-access.h>
#include <orcrt/memory.h>
#include <orcrt/dylib.h>
#include <orcrt/bootstrap.h>
#include <orcrt/shared-memory.h>
#include <orcrt/supervise.h>
#include <orcrt/socket-listen.h>
#include <orcrt/sandbox.h>

#endif /* ORCRT_ORCRT_H */

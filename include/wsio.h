/*
 * wsio.h - the whole wsio API. Include this, or only the layer you use:
 *
 *   wsio/common.h     errors, opcodes, close codes, allocator, buffers
 *   wsio/handshake.h  the opening handshake (HTTP upgrade)
 *   wsio/frame.h      frame codec, masking, UTF-8 validation
 *   wsio/conn.h       one connection's state machine, sans I/O
 *   wsio/backend.h    I/O backends (poll, epoll) and the monotonic clock
 *   wsio/transport.h  how a connection reads and writes bytes (plain, TLS)
 *   wsio/proxy.h      the PROXY protocol header a load balancer sends
 *   wsio/loop.h       the event loop servers and clients run on
 *   wsio/ws.h         one open WebSocket: send, close, backpressure
 *   wsio/server.h     a WebSocket server: accept, HTTP, broadcast, topics
 *   wsio/client.h     a WebSocket client: ws:// URL connect
 */
#ifndef WSIO_H
#define WSIO_H

#include "wsio/common.h"
#include "wsio/handshake.h"
#include "wsio/frame.h"
#include "wsio/conn.h"
#include "wsio/backend.h"
#include "wsio/transport.h"
#include "wsio/proxy.h"
#include "wsio/loop.h"
#include "wsio/ws.h"
#include "wsio/server.h"
#include "wsio/hub.h"
#include "wsio/stream.h"
#include "wsio/client.h"

#endif /* WSIO_H */

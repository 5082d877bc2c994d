/*
 * src/server_post.h - a server's inbox for calls from other threads
 * (internal): wsio_server_send_to, wsio_server_close_to,
 * wsio_server_post_publish and wsio_server_post_broadcast.
 *
 * Each call copies its arguments into one item and appends it, under the
 * inbox's mutex, to a FIFO; the first item of a batch wakes the server's
 * loop with one wsio_loop_post of drain(), which takes the whole FIFO on
 * the server's thread and applies each item in order: a send or close only
 * if its id is still open (wsio_server_find), else it is reported as
 * WSIO_ECLOSED. The bytes waiting are bounded (cfg.max_post_bytes): over
 * the bound a call returns WSIO_EAGAIN and queues nothing.
 *
 * The inbox outlives its server when a drain is posted at the server's
 * end: it stays attached to the loop, like a hub member that left, until
 * that drain runs (and frees it) or the loop is freed.
 */
#ifndef WSIO_SERVER_POST_H
#define WSIO_SERVER_POST_H

#include "server_conn.h"

typedef struct wsio__inbox wsio__inbox;

/* Make srv's inbox on loop, allocating from mem (the loop's, which is
 * thread-safe). Returns NULL when out of memory (or no mutex). */
wsio__inbox *wsio__inbox_new(wsio_server *srv, wsio_loop *loop,
                             const wsio_mem *mem, size_t max_bytes);
/* The server is being freed (on its thread): drop what waits and detach. */
void wsio__inbox_close(wsio__inbox *in);

/* Provided by server.c. */
wsio__inbox *wsio__server_inbox(const wsio_server *srv);
/* A send_to (opcode TEXT, BINARY) or close_to (CLOSE) of id ran with
 * result: count it, tell the host. */
void wsio__server_sent_to(wsio_server *srv, uint64_t id,
                          enum wsio_opcode opcode, int result);

#endif /* WSIO_SERVER_POST_H */

/*
 * src/conn_internal.h - making a wsio_conn for the ws layer (internal).
 */
#ifndef WSIO_CONN_INTERNAL_H
#define WSIO_CONN_INTERNAL_H

#include "wsio/conn.h"

/* The bytes wsio__conn_new_shared needs at place for role. */
size_t wsio__conn_size(enum wsio_role role);

/*
 * What every connection of one server (or one client) reads where it is
 * instead of holding a copy: one pointer per connection. Never written
 * through by a connection.
 */
typedef struct wsio__conn_env {
    const wsio_mem *mem; /* its buffers and blocks */
    const wsio_conn_callbacks *cb;
    const wsio_conn_config *cfg;
    size_t out_high, out_low; /* output marks (wsio_conn_set_output_marks);
                                 0: off */
} wsio__conn_env;

/* Make a connection that reads env (complete: cfg of this release's size,
 * mem set) where it is; env and what it points to must outlive it. A
 * server's connections all share one, so an idle one holds only its own
 * state. The struct goes at place, in memory the caller owns
 * (wsio__conn_size bytes, aligned to 8 bytes: the ws layer's own
 * allocation), which wsio_conn_free leaves alone. Cannot fail. */
wsio_conn *wsio__conn_new_shared(void *place, enum wsio_role role,
                                 const wsio__conn_env *env, void *user);

#endif /* WSIO_CONN_INTERNAL_H */

/*
 * src/conn_internal.h - making a wsio_conn for the ws layer (internal).
 */
#ifndef WSIO_CONN_INTERNAL_H
#define WSIO_CONN_INTERNAL_H

#include "wsio/conn.h"

/* The bytes wsio__conn_new_shared needs at place for role. */
size_t wsio__conn_size(enum wsio_role role);

/* Make a connection that reads cfg and cb where they are instead of
 * copying them: both must be complete (cfg of this release's size) and
 * outlive it. A server's connections all share their server's settings,
 * so an idle one holds only its own state. The struct goes at place, in
 * memory the caller owns (wsio__conn_size bytes, aligned to 8 bytes: the
 * ws layer's own allocation), which wsio_conn_free leaves alone. mem: its
 * buffers. Cannot fail. */
wsio_conn *wsio__conn_new_shared(void *place, enum wsio_role role,
                                 const wsio_conn_config *cfg,
                                 const wsio_conn_callbacks *cb,
                                 const wsio_mem *mem, void *user);

#endif /* WSIO_CONN_INTERNAL_H */

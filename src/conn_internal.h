/*
 * src/conn_internal.h - making a wsio_conn for the ws layer (internal).
 */
#ifndef WSIO_CONN_INTERNAL_H
#define WSIO_CONN_INTERNAL_H

#include "wsio/conn.h"

/* wsio_conn_new with the struct itself from self_mem and its buffers from
 * mem: a server's connection state is a fixed size, taken as it is, while
 * its buffers come from the loop's block cache (loop_block_cache.h), whose
 * power-of-two classes would hold 528 bytes for the 424 of the struct. */
wsio_conn *wsio__conn_new_split(enum wsio_role role,
                                const wsio_conn_config *cfg,
                                const wsio_conn_callbacks *cb,
                                const wsio_mem *self_mem, const wsio_mem *mem,
                                void *user);

#endif /* WSIO_CONN_INTERNAL_H */

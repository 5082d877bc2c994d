/*
 * src/hub_internal.h - what server.c and hub.c tell each other about a
 * server's membership in a wsio_hub (internal).
 */
#ifndef WSIO_HUB_INTERNAL_H
#define WSIO_HUB_INTERNAL_H

#include "wsio/hub.h"

/* One server's place in a hub: owned by hub.c, touched by server.c only
 * through the functions below, on the server's thread. */
typedef struct wsio__hub_member wsio__hub_member;

/* Join hub (server.c, in wsio_server_new): *out is the membership.
 * Returns 0 or WSIO_ENOMEM. */
int wsio__hub_join(wsio_hub *hub, wsio_server *srv, wsio__hub_member **out);

/* Leave (server.c, when srv is freed); m may be NULL. Messages still on
 * their way to srv are dropped. */
void wsio__hub_leave(wsio__hub_member *m);

/* A local publish (topic) or broadcast (topic NULL) that was checked and
 * queued here: forward it to every sibling. */
void wsio__hub_forward(wsio__hub_member *m, const char *topic,
                       enum wsio_opcode opcode, const void *data, size_t len);

/* hub.c asks server.c: queue frame (a plain frame from
 * wsio_message_encode) on srv's subscribers of topic, or with topic NULL
 * on every open connection. Returns how many took it. */
int wsio__server_send_frame(wsio_server *srv, const char *topic,
                            wsio_rcbuf *frame);

/* srv's membership, or NULL outside a hub. */
wsio__hub_member *wsio__server_hub_member(const wsio_server *srv);

#endif /* WSIO_HUB_INTERNAL_H */

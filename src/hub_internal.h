/*
 * src/hub_internal.h - the hub as a fan-out sink: what a server (above it)
 * uses to join, forward and leave (internal).
 */
#ifndef WSIO_HUB_INTERNAL_H
#define WSIO_HUB_INTERNAL_H

#include "loop_internal.h"
#include "wsio/hub.h"

/* One member's place in a hub: owned by hub.c, touched by its owner only
 * through the functions below, on the owner's loop thread. */
typedef struct wsio__hub_member wsio__hub_member;

/* Hands the member one frame from a sibling, on the member's loop thread,
 * in the order the siblings published: a broadcast (topic NULL) or a
 * publish on topic. The frame is the hub's: take a reference to keep it. */
typedef void (*wsio__hub_deliver_fn)(void *ctx, const char *topic,
                                     wsio_rcbuf *frame);

/* Join hub; frames from siblings reach deliver(ctx, ...) through loop.
 * *out is the membership. Returns 0 or WSIO_ENOMEM. */
int wsio__hub_join(wsio_hub *hub, wsio_loop *loop, wsio__hub_deliver_fn deliver,
                   void *ctx, wsio__hub_member **out);

/* Leave, on the member's loop thread; m may be NULL. Frames still on their
 * way to m are dropped. */
void wsio__hub_leave(wsio__hub_member *m);

/* Whether any sibling may take a frame (a hint, for skipping the encode). */
int wsio__hub_has_siblings(const wsio__hub_member *m);

/* The allocator for frames given to wsio__hub_forward: siblings drop their
 * references on their own threads, so the memory must be the hub's. */
const wsio_mem *wsio__hub_mem(const wsio__hub_member *m);

/* Give frame (a plain frame from wsio_message_encode in wsio__hub_mem) to
 * every sibling: a publish on topic, or with topic NULL a broadcast. The
 * hub takes its own references. frame NULL (it could not be encoded):
 * each sibling counts a drop. */
void wsio__hub_forward(wsio__hub_member *m, const char *topic,
                       wsio_rcbuf *frame);

/* m's counters (wsio_hub_get_stats). */
void wsio__hub_member_stats(const wsio__hub_member *m, wsio_hub_stats *out);

#endif /* WSIO_HUB_INTERNAL_H */

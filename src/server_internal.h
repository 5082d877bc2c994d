/*
 * src/server_internal.h - what the server's files share (internal): the
 * server struct, its topics, and the functions one file of the server
 * calls in another. server.c: registry, accept, memory shedding,
 * heartbeat, shutdown, making a server; server_http.c: HTTP answers and
 * the opening handshake; server_topics.c: topics, fan-out and the broker
 * and hub sinks.
 */
#ifndef WSIO_SERVER_INTERNAL_H
#define WSIO_SERVER_INTERNAL_H

#include "server_budget.h"
#include "common_hashtab.h"
#include "common_list.h"
#include "hub_internal.h"
#include "server_addr_limit.h"
#include "server_conn.h"
#include "server_ids.h"
#include "server_post.h"
#include "server_request.h"
#include "server_security.h"
#include "server_subprotocol.h"
#include "wsio/stream.h"

/* Header lines parsed on the stack; http.max_headers is capped to this. */
#define MAX_HEADERS 128
#define TOPIC_MAX 255

typedef struct topic topic;

struct wsio__sub {
    wsio__link tlink; /* in the topic's list */
    wsio__sub *wnext; /* in the ws's list */
    topic *t;
    wsio_ws *ws;
};

struct topic {
    wsio__hentry entry;     /* in the server's topics */
    wsio__link *subs;       /* wsio__sub, by tlink */
    uint64_t id;            /* tags its frames in output queues */
    wsio_topic_stats stats; /* subscribers unused: counted when read */
    wsio_stream *stream;    /* its replay window (server_stream.c), or NULL */
    uint8_t len;
    char name[]; /* len bytes and a NUL, for the broker */
};

/* The server's lists (a ws's cls_bits): OPEN (broadcast, publish and
 * heartbeat targets) or OTHER (handshaking, or closed and flushing); NONE
 * once DEAD. LIST_ANY names both in walks (wsio__server_next). */
enum { LIST_NONE = 0, LIST_OPEN = 1, LIST_OTHER = 2, LIST_ANY = 3 };

struct wsio_server {
    wsio__attach attach;
    wsio_loop *loop;
    const wsio_mem *mem;
    wsio__ws_common common;
    wsio_server_hooks hooks;
    size_t max_connections;
    uint32_t ping_interval_ms;
    wsio__io_cb lio; /* the listener; fd -1 once closed */
    wsio__timer_cb accept_timer, heartbeat_timer, shutdown_timer, shed_timer;
    wsio__budget budget;           /* counts the connections' buffers */
    wsio__security sec;            /* origins, PROXY header, trusted proxies */
    wsio__addr_limits addr_limits; /* per-address counts */
    wsio__subprotocols protos;     /* cfg.subprotocols, preference order */
    wsio__id_map ids;   /* every connection by slot; open ones by wsio_ws_id */
    wsio__inbox *inbox; /* calls from other threads */
    int keep_request;   /* cfg.keep_request */
    int defer_accept;   /* cfg.defer_accept took effect */
    wsio__deferred_cb defer;
    size_t nsockets;      /* connections not DEAD */
    size_t nrefs;         /* connections not yet released */
    wsio__hashtab topics; /* of topic, by name */
    uint64_t last_topic_id;
    wsio_broker broker; /* all NULL without one */
    uint64_t node_id;
    wsio__hub_member *hub;   /* NULL outside a hub */
    wsio_server_stats stats; /* the server's own; the ws's in counters */
    wsio__ws_counters counters;
    size_t deflate_conns;    /* connections that agreed permessage-deflate */
    wsio_codec shared_codec; /* compresses broadcasts once; ops NULL without */
    uint8_t shared_bits;     /* its window */
    uint16_t port;
    uint8_t shutting_down, freed, timers_reserved;
};

/* The server of ws, a server connection: the one whose common it uses. */
static inline wsio_server *wsio__sconn_srv(const wsio_ws *ws)
{
    return WSIO__CONTAINER_OF(ws->common, wsio_server, common);
}

/* Put ws on list which (LIST_OPEN, LIST_OTHER or, once DEAD, LIST_NONE). */
static inline void wsio__server_list_set(wsio_ws *ws, int which)
{
    ws->cls_bits = (unsigned)which & 3u;
}
/* server.c: the next connection on list which (or LIST_ANY) whose slot is
 * *at or above, *at then past it; NULL at the end. For walks that run
 * callbacks: each connection on the list for the whole walk is visited
 * once, one that joins it during the walk at most once. */
wsio_ws *wsio__server_next(const wsio_server *srv, int which, uint32_t *at);
/* Whether the connections hold more than memory_budget. */
int wsio__server_over_budget(const wsio_server *srv);

/* server_topics.c: ws leaves every topic it is in. */
void wsio__server_leave_topics(wsio_server *srv, wsio_ws *ws);
/* The hub's deliver (hub_internal.h): ctx is the server. */
void wsio__server_hub_deliver(void *ctx, const char *name, wsio_rcbuf *frame);
/* Tell the broker it is detached (its on_detach), and forget it. */
void wsio__server_detach_broker(wsio_server *srv);
/* Free the topics still held (for a policy), once connections are gone. */
void wsio__server_topics_free(wsio_server *srv);

/* server_http.c: the class's handshake_bytes (wsio__ws_class). */
void wsio__server_handshake_bytes(wsio_ws *ws, uint8_t *buf, size_t n);
/* Answer ws with a bodiless status (404, 503 ...), then close. */
void wsio__server_reply_status(wsio_ws *ws, int status);
/* Count ws against its address's limits; answered (429, 503) and 0 when
 * refused, else 1. */
int wsio__server_admit_addr(wsio_server *srv, wsio_ws *ws);

#endif /* WSIO_SERVER_INTERNAL_H */

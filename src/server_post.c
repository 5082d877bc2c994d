/*
 * src/server_post.c - see server_post.h.
 */
#include <pthread.h>
#include <string.h>

#include "server_post.h"

enum post_kind { POST_SEND, POST_CLOSE, POST_PUBLISH, POST_BROADCAST };

typedef struct post_item post_item;
struct post_item {
    post_item *next;
    size_t bytes;         /* counted against the bound */
    size_t len;           /* payload or close reason */
    uint64_t id;          /* send and close */
    uint16_t code;        /* close */
    uint8_t kind;         /* enum post_kind */
    uint8_t opcode;       /* send, publish, broadcast */
    uint8_t tlen;         /* publish: the topic's length */
    unsigned char data[]; /* the topic (publish), then the payload */
};

struct wsio__inbox {
    pthread_mutex_t mu;
    post_item *head, *tail; /* (mu) */
    size_t pending;         /* bytes of the items queued (mu) */
    int drain_posted;       /* a drain() is in the loop's queue (mu) */
    size_t max_pending;
    const wsio_mem *mem;
    wsio_loop *loop;
    wsio_server *srv;    /* NULL once the server is freed */
    wsio__attach attach; /* while closed with a drain posted */
    int draining;        /* drain() runs: close leaves the free to it */
};

static void items_free(const wsio_mem *mem, post_item *it)
{
    while (it) {
        post_item *next = it->next;
        wsio__free(mem, it);
        it = next;
    }
}

static void inbox_free(wsio__inbox *in)
{
    pthread_mutex_destroy(&in->mu);
    wsio__free(in->mem, in);
}

/* wsio_loop_free of a loop whose drain never ran. */
static void destroy_closed(wsio__attach *a)
{
    wsio__inbox *in = WSIO__CONTAINER_OF(a, wsio__inbox, attach);
    wsio__attach_remove(in->loop, a);
    inbox_free(in);
}

/* The server is gone: free the inbox now, or, with a drain still in the
 * loop's queue (which holds the pointer), when that drain runs. */
static void finish_closed(wsio__inbox *in)
{
    pthread_mutex_lock(&in->mu);
    int posted = in->drain_posted;
    pthread_mutex_unlock(&in->mu);
    if (posted)
        wsio__attach_add(in->loop, &in->attach);
    else
        inbox_free(in);
}

static void apply(wsio_server *srv, const post_item *it)
{
    const unsigned char *payload = it->data + it->tlen;
    wsio_ws *ws;
    int rc;
    switch (it->kind) {
    case POST_SEND:
        ws = wsio_server_find(srv, it->id);
        rc = ws ? wsio_ws_send(ws, (enum wsio_opcode)it->opcode, payload,
                               it->len)
                : WSIO_ECLOSED;
        wsio__server_sent_to(srv, it->id, (enum wsio_opcode)it->opcode, rc);
        break;
    case POST_CLOSE:
        ws = wsio_server_find(srv, it->id);
        rc = ws ? wsio_ws_close(ws, it->code, (const char *)payload, it->len)
                : WSIO_ECLOSED;
        wsio__server_sent_to(srv, it->id, WSIO_OP_CLOSE, rc);
        break;
    case POST_PUBLISH:
        (void)wsio_server_publish_n(srv, (const char *)it->data, it->tlen,
                                    (enum wsio_opcode)it->opcode, payload,
                                    it->len);
        break;
    default:
        (void)wsio_server_broadcast(srv, (enum wsio_opcode)it->opcode, payload,
                                    it->len, NULL);
        break;
    }
}

/* On the server's thread: every item waiting, in order. A hook may free
 * the server on the way: the rest is then dropped. */
static void drain(void *arg)
{
    wsio__inbox *in = arg;
    if (!in->srv) {
        destroy_closed(&in->attach);
        return;
    }
    pthread_mutex_lock(&in->mu);
    post_item *it = in->head;
    in->head = in->tail = NULL;
    in->pending = 0;
    in->drain_posted = 0;
    pthread_mutex_unlock(&in->mu);
    in->draining = 1;
    for (post_item *p = it; p && in->srv; p = p->next)
        apply(in->srv, p);
    in->draining = 0;
    items_free(in->mem, it);
    if (!in->srv)
        finish_closed(in);
}

wsio__inbox *wsio__inbox_new(wsio_server *srv, wsio_loop *loop,
                             const wsio_mem *mem, size_t max_bytes)
{
    wsio__inbox *in = wsio__calloc(mem, 1, sizeof *in);
    if (!in)
        return NULL;
    if (pthread_mutex_init(&in->mu, NULL) != 0) {
        wsio__free(mem, in);
        return NULL;
    }
    in->mem = mem;
    in->loop = loop;
    in->srv = srv;
    in->max_pending = max_bytes;
    in->attach.destroy = destroy_closed;
    return in;
}

void wsio__inbox_close(wsio__inbox *in)
{
    if (!in)
        return;
    pthread_mutex_lock(&in->mu);
    post_item *it = in->head;
    in->head = in->tail = NULL;
    in->pending = 0;
    pthread_mutex_unlock(&in->mu);
    items_free(in->mem, it);
    in->srv = NULL;
    if (!in->draining) /* else drain() finishes when it returns */
        finish_closed(in);
}

/* Queue it (taking it) or return an error (it is freed). */
static int push(wsio__inbox *in, post_item *it)
{
    int rc = 0;
    pthread_mutex_lock(&in->mu);
    if (it->bytes > in->max_pending ||
        in->pending > in->max_pending - it->bytes) {
        rc = WSIO_EAGAIN;
    } else if (!in->drain_posted) {
        rc = wsio_loop_post(in->loop, drain, in);
        in->drain_posted = rc == 0;
    }
    if (rc == 0) {
        it->next = NULL;
        if (in->tail)
            in->tail->next = it;
        else
            in->head = it;
        in->tail = it;
        in->pending += it->bytes;
    }
    pthread_mutex_unlock(&in->mu);
    if (rc)
        wsio__free(in->mem, it);
    return rc;
}

/* An item with topic and payload copied; NULL when out of memory. */
static post_item *item_new(const wsio_mem *mem, enum post_kind kind,
                           const char *topic, size_t tlen, const void *data,
                           size_t len)
{
    if (len > SIZE_MAX - sizeof(post_item) - tlen)
        return NULL;
    size_t bytes = sizeof(post_item) + tlen + len;
    post_item *it = wsio__malloc(mem, bytes);
    if (!it)
        return NULL;
    memset(it, 0, sizeof *it);
    it->bytes = bytes;
    it->kind = (uint8_t)kind;
    it->tlen = (uint8_t)tlen;
    it->len = len;
    if (tlen)
        memcpy(it->data, topic, tlen);
    if (len)
        memcpy(it->data + tlen, data, len);
    return it;
}

static int message_ok(enum wsio_opcode opcode, const void *data, size_t len)
{
    return (opcode == WSIO_OP_TEXT || opcode == WSIO_OP_BINARY) &&
           (data || len == 0);
}

static int post(wsio_server *srv, enum post_kind kind, uint64_t id,
                unsigned code, const char *topic, size_t tlen,
                enum wsio_opcode opcode, const void *data, size_t len)
{
    wsio__inbox *in = wsio__server_inbox(srv);
    post_item *it = item_new(in->mem, kind, topic, tlen, data, len);
    if (!it)
        return WSIO_ENOMEM;
    it->id = id;
    it->code = (uint16_t)code;
    it->opcode = (uint8_t)opcode;
    return push(in, it);
}

int wsio_server_send_to(wsio_server *srv, uint64_t id, enum wsio_opcode opcode,
                        const void *data, size_t len)
{
    if (!message_ok(opcode, data, len))
        return WSIO_EINVAL;
    return post(srv, POST_SEND, id, 0, NULL, 0, opcode, data, len);
}

int wsio_server_close_to(wsio_server *srv, uint64_t id, unsigned code,
                         const char *reason, size_t reason_len)
{
    /* Section 5.5: a control frame's payload is at most 125 bytes, two of
     * them the code. */
    if (code > UINT16_MAX || reason_len > 123 || (reason_len && !reason))
        return WSIO_EINVAL;
    return post(srv, POST_CLOSE, id, code, NULL, 0, WSIO_OP_TEXT, reason,
                reason_len);
}

int wsio_server_post_publish(wsio_server *srv, const char *topic,
                             size_t topic_len, enum wsio_opcode opcode,
                             const void *data, size_t len)
{
    if (!message_ok(opcode, data, len) || !topic || topic_len > 255 ||
        memchr(topic, '\0', topic_len))
        return WSIO_EINVAL;
    return post(srv, POST_PUBLISH, 0, 0, topic, topic_len, opcode, data, len);
}

int wsio_server_post_broadcast(wsio_server *srv, enum wsio_opcode opcode,
                               const void *data, size_t len)
{
    if (!message_ok(opcode, data, len))
        return WSIO_EINVAL;
    return post(srv, POST_BROADCAST, 0, 0, NULL, 0, opcode, data, len);
}

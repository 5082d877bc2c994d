/*
 * src/hub.c - servers on several threads of one process acting as one for
 * publish and broadcast (wsio/hub.h).
 *
 * A message one server publishes is encoded once into a frame (an rcbuf
 * whose count is atomic) and wrapped in one hub_msg carrying a node per
 * sibling. Each sibling has an inbox, a FIFO of nodes; appending to it
 * under the hub's mutex keeps every publisher's order. A sibling whose
 * inbox was empty is woken with one wsio_loop_post of drain(); drain runs
 * on its thread, takes the whole inbox and queues each frame on its
 * connections. The last node to be consumed frees the hub_msg and drops
 * its reference on the frame; the connections hold their own.
 *
 * Invariants, under hub->mu: a member is on hub->members from join to
 * leave; its inbox is non-empty only while drain_posted (a drain() is in
 * its loop's post queue, not yet run).
 *
 * Leaving with a drain still posted: the loop's post item points at the
 * member, so it cannot be freed yet. It stays, marked left and attached
 * to the loop like a server, until the drain runs (and frees it) or the
 * loop is freed (whose destroy callback frees it). Either way nothing of
 * the hub is touched again, so the hub may be freed before then.
 */
#include <pthread.h>
#include <string.h>

#include "hub_internal.h"
#include "ws_internal.h"

typedef struct hub_msg hub_msg;
typedef struct hub_node hub_node;

struct hub_node {
    hub_node *next; /* in one member's inbox */
    hub_msg *msg;
};

struct hub_msg {
    size_t refs; /* nodes not yet consumed (atomic) */
    const wsio_mem *mem;
    wsio_rcbuf *frame; /* one reference */
    const char *topic; /* into the bytes after nodes[], or NULL */
    hub_node nodes[];  /* one per recipient, then the topic */
};

struct wsio__hub_member {
    wsio__hub_member *prev, *next; /* in hub->members (hub->mu) */
    wsio_hub *hub;                 /* NULL once left */
    wsio_server *srv;              /* the server's thread only */
    wsio_loop *loop;               /* its loop: alive while on the list */
    hub_node *head, *tail;         /* the inbox (hub->mu) */
    size_t pending;                /* its frames' bytes (hub->mu) */
    int drain_posted;              /* (hub->mu) */
    wsio__attach attach;           /* while left with a drain posted */
    const wsio_mem *mem;
    uint64_t sent, received; /* the server's thread only */
    uint64_t dropped;        /* atomic: publishers add to it */
};

struct wsio_hub {
    pthread_mutex_t mu;
    wsio__hub_member *members; /* (mu) */
    size_t nmembers;           /* written under mu, read atomically */
    size_t max_pending;        /* per member inbox (mu) */
    const wsio_mem *mem;
    uint64_t node_id;
};

wsio_hub *wsio_hub_new(const wsio_mem *mem, int *err)
{
    mem = wsio__mem_or_default(mem);
    int rc = WSIO_ENOMEM;
    wsio_hub *hub = wsio__calloc(mem, 1, sizeof *hub);
    if (!hub)
        goto fail;
    hub->mem = mem;
    while (!hub->node_id) {
        rc = wsio__random_bytes(&hub->node_id, sizeof hub->node_id);
        if (rc)
            goto fail_hub;
    }
    hub->max_pending = WSIO_HUB_MAX_PENDING;
    rc = WSIO_EINTERNAL;
    if (pthread_mutex_init(&hub->mu, NULL) != 0)
        goto fail_hub;
    return hub;
fail_hub:
    wsio__free(mem, hub);
fail:
    if (err)
        *err = rc;
    return NULL;
}

void wsio_hub_free(wsio_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_destroy(&hub->mu);
    wsio__free(hub->mem, hub);
}

int wsio_hub_set_max_pending(wsio_hub *hub, size_t bytes)
{
    if (!bytes)
        return WSIO_EINVAL;
    pthread_mutex_lock(&hub->mu);
    hub->max_pending = bytes;
    pthread_mutex_unlock(&hub->mu);
    return 0;
}

uint64_t wsio_hub_node_id(const wsio_hub *hub)
{
    return hub->node_id;
}

int wsio_hub_get_stats(const wsio_server *srv, wsio_hub_stats *out)
{
    const wsio__hub_member *m = wsio__server_hub_member(srv);
    if (!m)
        return WSIO_EINVAL;
    out->messages_sent = m->sent;
    out->messages_received = m->received;
    out->messages_dropped = __atomic_load_n(&m->dropped, __ATOMIC_RELAXED);
    return 0;
}

/* ---- messages in flight -------------------------------------------------- */

/* A message for n recipients, holding its own reference on frame. */
static hub_msg *msg_new(const wsio_mem *mem, size_t n, wsio_rcbuf *frame,
                        const char *topic)
{
    size_t tlen = topic ? strlen(topic) + 1 : 0;
    if (n > (SIZE_MAX - sizeof(hub_msg) - tlen) / sizeof(hub_node))
        return NULL;
    hub_msg *msg =
        wsio__malloc(mem, sizeof(hub_msg) + n * sizeof(hub_node) + tlen);
    if (!msg)
        return NULL;
    msg->refs = n;
    msg->mem = mem;
    msg->frame = wsio_rcbuf_ref(frame);
    msg->topic = NULL;
    if (topic) {
        char *name = (char *)&msg->nodes[n];
        memcpy(name, topic, tlen);
        msg->topic = name;
    }
    for (size_t i = 0; i < n; i++)
        msg->nodes[i] = (hub_node){NULL, msg};
    return msg;
}

/* One recipient is done with msg (delivered, dropped or never queued). */
static void msg_unref(hub_msg *msg)
{
    if (__atomic_sub_fetch(&msg->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        wsio_rcbuf_unref(msg->frame);
        wsio__free(msg->mem, msg);
    }
}

static void release_nodes(hub_node *node)
{
    while (node) {
        hub_node *next = node->next;
        msg_unref(node->msg);
        node = next;
    }
}

/* ---- members ------------------------------------------------------------- */

static void member_free(wsio__hub_member *m)
{
    wsio__free(m->mem, m);
}

/* wsio_loop_free of a loop whose drain never ran. */
static void destroy_left(wsio__attach *a)
{
    wsio__hub_member *m = WSIO__CONTAINER_OF(a, wsio__hub_member, attach);
    wsio__attach_remove(m->loop, a);
    member_free(m);
}

/* On the member's thread: everything its inbox holds, in order. */
static void drain(void *arg)
{
    wsio__hub_member *m = arg;
    if (!m->hub) {
        destroy_left(&m->attach);
        return;
    }
    pthread_mutex_lock(&m->hub->mu);
    hub_node *node = m->head;
    m->head = m->tail = NULL;
    m->pending = 0;
    m->drain_posted = 0;
    pthread_mutex_unlock(&m->hub->mu);
    for (hub_node *n = node; n; n = n->next) {
        (void)wsio__server_send_frame(m->srv, n->msg->topic, n->msg->frame);
        m->received++;
    }
    release_nodes(node);
}

int wsio__hub_join(wsio_hub *hub, wsio_server *srv, wsio__hub_member **out)
{
    wsio__hub_member *m = wsio__calloc(hub->mem, 1, sizeof *m);
    if (!m)
        return WSIO_ENOMEM;
    m->hub = hub;
    m->srv = srv;
    m->loop = wsio_server_loop(srv);
    m->mem = hub->mem;
    m->attach.destroy = destroy_left;
    pthread_mutex_lock(&hub->mu);
    m->next = hub->members;
    if (m->next)
        m->next->prev = m;
    hub->members = m;
    __atomic_store_n(&hub->nmembers, hub->nmembers + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&hub->mu);
    *out = m;
    return 0;
}

void wsio__hub_leave(wsio__hub_member *m)
{
    if (!m)
        return;
    wsio_hub *hub = m->hub;
    pthread_mutex_lock(&hub->mu);
    if (m->prev)
        m->prev->next = m->next;
    else
        hub->members = m->next;
    if (m->next)
        m->next->prev = m->prev;
    __atomic_store_n(&hub->nmembers, hub->nmembers - 1, __ATOMIC_RELAXED);
    hub_node *inbox = m->head;
    m->head = m->tail = NULL;
    m->pending = 0;
    int posted = m->drain_posted;
    pthread_mutex_unlock(&hub->mu);
    release_nodes(inbox);
    m->hub = NULL;
    m->srv = NULL;
    if (posted)
        wsio__attach_add(m->loop, &m->attach);
    else
        member_free(m);
}

/* Append node to m's inbox, waking m if it was empty; hub->mu held.
 * Returns 0, or WSIO_ENOMEM when m could not be woken, or WSIO_EAGAIN when
 * its inbox is full (node not queued). */
static int inbox_push(wsio__hub_member *m, hub_node *node)
{
    size_t bytes = node->msg->frame->len;
    size_t max = m->hub->max_pending;
    if (bytes > max || m->pending > max - bytes)
        return WSIO_EAGAIN;
    if (!m->drain_posted) {
        int rc = wsio_loop_post(m->loop, drain, m);
        if (rc)
            return rc;
        m->drain_posted = 1;
    }
    if (m->tail)
        m->tail->next = node;
    else
        m->head = node;
    m->tail = node;
    m->pending += bytes;
    return 0;
}

static void count_drop(wsio__hub_member *m)
{
    __atomic_add_fetch(&m->dropped, 1, __ATOMIC_RELAXED);
}

void wsio__hub_forward(wsio__hub_member *self, const char *topic,
                       enum wsio_opcode opcode, const void *data, size_t len)
{
    wsio_hub *hub = self->hub;
    /* A hint: the count is checked again under the lock. */
    if (__atomic_load_n(&hub->nmembers, __ATOMIC_RELAXED) < 2)
        return;
    /* Encoded outside the lock; the same bytes go to every sibling. */
    wsio_rcbuf *frame = wsio_message_encode(hub->mem, opcode, data, len);
    pthread_mutex_lock(&hub->mu);
    size_t n = hub->nmembers - 1;
    hub_msg *msg = frame && n ? msg_new(hub->mem, n, frame, topic) : NULL;
    size_t i = 0;
    for (wsio__hub_member *m = hub->members; m; m = m->next) {
        if (m == self)
            continue;
        if (!msg || inbox_push(m, &msg->nodes[i++]) != 0) {
            count_drop(m);
            if (msg)
                msg_unref(msg); /* frees it only when no node was queued */
        }
    }
    pthread_mutex_unlock(&hub->mu);
    wsio_rcbuf_unref(frame);
    if (n)
        self->sent++;
}

/*
 * src/hub.c - servers on several threads of one process acting as one for
 * publish and broadcast (wsio/hub.h).
 *
 * The hub is a fan-out sink below the server: it knows no server. A
 * member joins with its loop and a deliver function; a publisher hands it
 * a frame the server already encoded (an rcbuf whose count is atomic, in
 * memory that any thread may free), wrapped in one hub_msg carrying a node
 * per sibling, allocated before the hub's mutex is taken. Each sibling has
 * an inbox, a FIFO of nodes; appending to it under the mutex keeps every
 * publisher's order. A sibling whose inbox was empty is woken with its own
 * embedded post item (no allocation, cannot fail); drain() runs on its
 * thread, takes the whole inbox and hands each frame to deliver. The last
 * node to be consumed frees the hub_msg and drops its reference on the
 * frame; the connections hold their own.
 *
 * No allocation, free, callback or post happens under the mutex: it
 * covers only list and inbox pointers, so publishers on N threads never
 * queue behind another lock or the wake fd's write(). The wake-up is
 * therefore posted after the unlock, when only the hub vouches for the
 * member. Lifetime rule: whoever finds a member's inbox empty (and sets
 * drain_posted) counts itself in the member's `posting` while still under
 * the mutex; once its post is queued it drops the count and never touches
 * the member again. Leave unlinks the member under the mutex, so the
 * count can only fall, and waits for zero before it takes the post back
 * and frees the member (a loop is freed only after its servers left). The
 * wait lasts only as long as posts already under way (a lock and a write
 * each), never a callback. The publisher that ends a wait signals through
 * the hub, which outlives every member.
 *
 * Invariants, under hub->mu: a member is on hub->members from join to
 * leave; its inbox is non-empty only while drain_posted is set, and then
 * its post is queued on its loop or a publisher counted in posting is
 * about to queue it, so no drain runs with nothing to wake it.
 */
#include <pthread.h>
#include <string.h>

#include "hub_internal.h"
#include "common_list.h"

typedef struct hub_msg hub_msg;
typedef struct hub_node hub_node;

struct hub_node {
    hub_node *next; /* in one member's inbox */
    hub_msg *msg;
    wsio__hub_member *wake; /* to post to after the unlock, or NULL */
};

struct hub_msg {
    size_t refs; /* nodes not yet consumed, + the publisher's (atomic) */
    const wsio_mem *mem;
    wsio_rcbuf *frame; /* one reference */
    const char *topic; /* into the bytes after nodes[], or NULL */
    hub_node nodes[];  /* one per recipient, then the topic */
};

struct wsio__hub_member {
    wsio__link link; /* in hub->members (hub->mu) */
    wsio_hub *hub;
    wsio__hub_deliver_fn deliver; /* the member's thread only */
    void *deliver_ctx;
    wsio_loop *loop;         /* its loop: alive until leave returns */
    hub_node *head, *tail;   /* the inbox (hub->mu) */
    size_t pending;          /* its frames' bytes (hub->mu) */
    int drain_posted;        /* (hub->mu) */
    unsigned posting;        /* publishers yet to post to it (atomic,
                                raised under mu) */
    wsio__post post;         /* runs drain on the member's loop */
    uint64_t sent, received; /* the server's thread only */
    uint64_t dropped;        /* atomic: publishers add to it */
};

struct wsio_hub {
    pthread_mutex_t mu;
    pthread_cond_t posted; /* a member's posting fell to 0 (with mu) */
    unsigned leaving;      /* members waiting for it (atomic) */
    wsio__link *members;   /* wsio__hub_member (mu) */
    size_t nmembers;       /* written under mu, read atomically */
    size_t max_pending;    /* per member inbox (mu) */
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
    if (pthread_cond_init(&hub->posted, NULL) != 0)
        goto fail_mu;
    return hub;
fail_mu:
    pthread_mutex_destroy(&hub->mu);
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
    pthread_cond_destroy(&hub->posted);
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

const wsio_mem *wsio__hub_mem(const wsio__hub_member *m)
{
    return m->hub->mem;
}

int wsio__hub_has_siblings(const wsio__hub_member *m)
{
    /* A hint: the count is checked again under the lock. */
    return __atomic_load_n(&m->hub->nmembers, __ATOMIC_RELAXED) > 1;
}

void wsio__hub_member_stats(const wsio__hub_member *m, wsio_hub_stats *out)
{
    out->messages_sent = m->sent;
    out->messages_received = m->received;
    out->messages_dropped = __atomic_load_n(&m->dropped, __ATOMIC_RELAXED);
}

/* ---- messages in flight -------------------------------------------------- */

/* A message for n recipients and its publisher, holding its own reference
 * on frame. */
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
    msg->refs = n + 1;
    msg->mem = mem;
    msg->frame = wsio_rcbuf_ref(frame);
    msg->topic = NULL;
    if (topic) {
        char *name = (char *)&msg->nodes[n];
        memcpy(name, topic, tlen);
        msg->topic = name;
    }
    for (size_t i = 0; i < n; i++)
        msg->nodes[i] = (hub_node){NULL, msg, NULL};
    return msg;
}

/* k recipients (or the publisher) are done with msg: delivered, dropped or
 * never queued. */
static void msg_unref(hub_msg *msg, size_t k)
{
    if (__atomic_sub_fetch(&msg->refs, k, __ATOMIC_ACQ_REL) == 0) {
        wsio_rcbuf_unref(msg->frame);
        wsio__free(msg->mem, msg);
    }
}

static void release_nodes(hub_node *node)
{
    while (node) {
        hub_node *next = node->next;
        msg_unref(node->msg, 1);
        node = next;
    }
}

/* ---- members ------------------------------------------------------------- */

/* On the member's thread: everything its inbox holds, in order. */
static void drain(wsio__post *p)
{
    wsio__hub_member *m = WSIO__CONTAINER_OF(p, wsio__hub_member, post);
    pthread_mutex_lock(&m->hub->mu);
    hub_node *node = m->head;
    m->head = m->tail = NULL;
    m->pending = 0;
    m->drain_posted = 0;
    pthread_mutex_unlock(&m->hub->mu);
    for (hub_node *n = node; n; n = n->next) {
        m->deliver(m->deliver_ctx, n->msg->topic, n->msg->frame);
        m->received++;
    }
    release_nodes(node);
}

int wsio__hub_join(wsio_hub *hub, wsio_loop *loop, wsio__hub_deliver_fn deliver,
                   void *ctx, wsio__hub_member **out)
{
    wsio__hub_member *m = wsio__calloc(hub->mem, 1, sizeof *m);
    if (!m)
        return WSIO_ENOMEM;
    m->hub = hub;
    m->deliver = deliver;
    m->deliver_ctx = ctx;
    m->loop = loop;
    m->post.run = drain;
    pthread_mutex_lock(&hub->mu);
    wsio__list_push(&hub->members, &m->link);
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
    wsio__list_remove(&hub->members, &m->link);
    __atomic_store_n(&hub->nmembers, hub->nmembers - 1, __ATOMIC_RELAXED);
    hub_node *inbox = m->head;
    m->head = m->tail = NULL;
    m->pending = 0;
    /* Off the list, no publisher can count itself in posting any more;
     * those already counted are between the unlock and their post. The
     * seq_cst pair (leaving up, then posting read; posting down, then
     * leaving read in post_wake) lets one side always see the other. */
    if (__atomic_load_n(&m->posting, __ATOMIC_SEQ_CST)) {
        __atomic_add_fetch(&hub->leaving, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&m->posting, __ATOMIC_SEQ_CST))
            pthread_cond_wait(&hub->posted, &hub->mu);
        __atomic_sub_fetch(&hub->leaving, 1, __ATOMIC_SEQ_CST);
    }
    pthread_mutex_unlock(&hub->mu);
    /* No publisher sees m any more; a drain not yet run never will. */
    wsio__loop_unpost(m->loop, &m->post);
    release_nodes(inbox);
    wsio__free(hub->mem, m);
}

/* Append node to m's inbox; hub->mu held. When the inbox was empty, the
 * caller becomes the one to wake m (node->wake) and is counted in
 * m->posting until post_wake. Returns 0, or WSIO_EAGAIN when the inbox is
 * full (node not queued). */
static int inbox_push(wsio__hub_member *m, hub_node *node)
{
    size_t bytes = node->msg->frame->len;
    size_t max = m->hub->max_pending;
    if (bytes > max || m->pending > max - bytes)
        return WSIO_EAGAIN;
    if (!m->drain_posted) {
        m->drain_posted = 1;
        __atomic_add_fetch(&m->posting, 1, __ATOMIC_RELAXED);
        node->wake = m;
    }
    if (m->tail)
        m->tail->next = node;
    else
        m->head = node;
    m->tail = node;
    m->pending += bytes;
    return 0;
}

/* After the unlock: queue m's drain, then stop counting in m->posting. m
 * may be freed as soon as the count is 0, so only the hub is read after. */
static void post_wake(wsio__hub_member *m)
{
    wsio_hub *hub = m->hub;
    wsio__loop_post_item(m->loop, &m->post);
    if (__atomic_sub_fetch(&m->posting, 1, __ATOMIC_SEQ_CST) == 0 &&
        __atomic_load_n(&hub->leaving, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&hub->mu);
        pthread_cond_broadcast(&hub->posted);
        pthread_mutex_unlock(&hub->mu);
    }
}

static void count_drop(wsio__hub_member *m)
{
    __atomic_add_fetch(&m->dropped, 1, __ATOMIC_RELAXED);
}

void wsio__hub_forward(wsio__hub_member *self, const char *topic,
                       wsio_rcbuf *frame)
{
    wsio_hub *hub = self->hub;
    hub_msg *msg = NULL;
    size_t n = 0;
    /* Allocated outside the lock, for the siblings counted before it; a
     * server that joined in between asks for one more try. */
    for (;;) {
        size_t want = __atomic_load_n(&hub->nmembers, __ATOMIC_RELAXED) - 1;
        if (want == 0 || want > n) {
            if (msg)
                msg_unref(msg, n + 1);
            if (want == 0)
                return;
            n = want;
            msg = frame ? msg_new(hub->mem, n, frame, topic) : NULL;
        }
        pthread_mutex_lock(&hub->mu);
        if (!msg || hub->nmembers - 1 <= n)
            break;
        pthread_mutex_unlock(&hub->mu);
    }
    size_t used = 0;
    for (wsio__link *l = hub->members; l; l = l->next) {
        wsio__hub_member *m = WSIO__CONTAINER_OF(l, wsio__hub_member, link);
        if (m == self)
            continue;
        if (!msg || inbox_push(m, &msg->nodes[used]) != 0)
            count_drop(m);
        else
            used++;
    }
    pthread_mutex_unlock(&hub->mu);
    if (used)
        self->sent++;
    /* The publisher's reference keeps the nodes readable while siblings
     * already woken consume theirs; node->wake is written only above. */
    for (size_t i = 0; i < used; i++)
        if (msg->nodes[i].wake)
            post_wake(msg->nodes[i].wake);
    /* The publisher's, and the nodes no sibling took (full inboxes, fewer
     * siblings now). */
    if (msg)
        msg_unref(msg, n - used + 1);
}

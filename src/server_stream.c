/*
 * src/server_stream.c - layer 4: a topic's replay window and resume
 * (wsio/stream.h, docs/resume.md).
 *
 * The window is a ring of encoded frames, oldest first, each with its id
 * and the loop time it was published. Ids increase (by one, unless given
 * by wsio_stream_publish_id), so the message after `since` is found by a
 * binary search; `floor`, the id of the last message that left, says how
 * far back the window reaches. A frame is encoded
 * once and shared: the ring holds one reference and every subscriber's
 * output queue another, so a message costs its frame once however many
 * hold it.
 *
 * Exactly once: a resume queues the replay and subscribes in one call on
 * the server's thread, and publishes run on that thread too, so no
 * message can fall between the replay's last id and the first live one.
 */
#include <string.h>

#include "wsio/stream.h"

#include "common_abi.h"
#include "server_stream.h"
#include "ws_internal.h"

#define TOPIC_MAX 255
#define MAX_MESSAGES ((size_t)1 << 30)
#define MIN_RING 16

typedef struct slot {
    uint64_t id;
    uint64_t at_ms;    /* loop clock when published */
    wsio_rcbuf *frame; /* one reference */
} slot;

struct wsio_stream_payload {
    const wsio_mem *mem;
    size_t limit; /* the window's max_bytes */
    uint8_t *buf;
    size_t len, cap;
};

struct wsio_stream {
    wsio_server *srv;
    wsio_loop *loop;
    const wsio_mem *mem;
    wsio_stream_config cfg;
    slot *ring; /* cap slots (a power of two), count used from head */
    size_t cap, head, count;
    size_t bytes;     /* frame bytes in the window */
    uint64_t last_id; /* the newest id given */
    uint64_t floor;   /* the id before the oldest kept: resumable from */
    wsio_stream_payload payload; /* reused by every publish */
    wsio_stream_stats stats;
    char topic[TOPIC_MAX + 1];
};

#define STREAM_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_stream_config, format_user)

static void stream_defaults(wsio_stream_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->max_messages = 1024;
    cfg->max_bytes = (size_t)1 << 20;
    cfg->first_id = 1;
}

void wsio_stream_config_init(wsio_stream_config *cfg, size_t size)
{
    wsio_stream_config def;
    stream_defaults(&def);
    wsio__config_fill(cfg, size, &def, sizeof def);
}

int wsio_stream_payload_add(wsio_stream_payload *p, const void *data,
                            size_t len)
{
    if (len > p->limit - p->len)
        return WSIO_ETOOBIG;
    if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        while (cap < p->len + len)
            cap *= 2;
        if (cap > p->limit)
            cap = p->limit;
        uint8_t *b = wsio__realloc(p->mem, p->buf, cap);
        if (!b)
            return WSIO_ENOMEM;
        p->buf = b;
        p->cap = cap;
    }
    if (len)
        memcpy(p->buf + p->len, data, len);
    p->len += len;
    return 0;
}

wsio_stream *wsio_stream_new(wsio_server *srv, const char *topic,
                             const wsio_stream_config *cfg, int *err)
{
    int e = WSIO_EINVAL;
    wsio_stream_config c;
    stream_defaults(&c);
    if (!srv || !topic || strlen(topic) > TOPIC_MAX ||
        (cfg && wsio__config_copy(&c, sizeof c, cfg, STREAM_CONFIG_MIN)) ||
        c.max_messages == 0 || c.max_messages > MAX_MESSAGES ||
        c.max_bytes == 0 || c.first_id == 0 || c.first_id == UINT64_MAX)
        goto fail;
    wsio_loop *loop = wsio_server_loop(srv);
    const wsio_mem *mem = wsio__loop_mem(loop);
    e = WSIO_ENOMEM;
    wsio_stream *st = wsio__calloc(mem, 1, sizeof *st);
    if (!st)
        goto fail;
    st->srv = srv;
    st->loop = loop;
    st->mem = mem;
    st->cfg = c;
    st->last_id = st->floor = c.first_id - 1;
    st->payload.mem = mem;
    st->payload.limit = c.max_bytes;
    strcpy(st->topic, topic);
    e = wsio__server_set_stream(srv, topic, st);
    if (!e)
        e = wsio_server_set_topic_policy(srv, topic, WSIO_SLOW_DISCONNECT);
    if (e) {
        if (e != WSIO_EINVAL)
            wsio__server_set_stream(srv, topic, NULL);
        wsio__free(mem, st);
        goto fail;
    }
    return st;
fail:
    if (err)
        *err = e;
    return NULL;
}

static slot *at(const wsio_stream *st, size_t i)
{
    return &st->ring[(st->head + i) & (st->cap - 1)];
}

static void drop_oldest(wsio_stream *st)
{
    slot *s = at(st, 0);
    st->floor = s->id;
    st->bytes -= s->frame->len;
    wsio_rcbuf_unref(s->frame);
    st->head = (st->head + 1) & (st->cap - 1);
    st->count--;
}

/* Let out what is older than max_age_ms; the newest message stays. */
static void trim_age(wsio_stream *st)
{
    if (!st->cfg.max_age_ms || !st->loop)
        return;
    uint64_t now = wsio_loop_now(st->loop);
    while (st->count > 1 && now - at(st, 0)->at_ms > st->cfg.max_age_ms)
        drop_oldest(st);
}

void wsio_stream_free(wsio_stream *st)
{
    if (!st)
        return;
    if (st->srv)
        wsio__server_set_stream(st->srv, st->topic, NULL);
    while (st->count)
        drop_oldest(st);
    wsio__free(st->mem, st->ring);
    wsio__free(st->mem, st->payload.buf);
    wsio__free(st->mem, st);
}

/* Room for one more slot: grow the ring up to max_messages, then reuse
 * the oldest. */
static int make_room(wsio_stream *st, size_t frame_len)
{
    while (st->count && (st->count >= st->cfg.max_messages ||
                         st->bytes + frame_len > st->cfg.max_bytes))
        drop_oldest(st);
    if (st->count < st->cap)
        return 0;
    size_t cap = st->cap ? st->cap * 2 : MIN_RING;
    slot *r = wsio__malloc(st->mem, cap * sizeof *r);
    if (!r)
        return WSIO_ENOMEM;
    for (size_t i = 0; i < st->count; i++)
        r[i] = *at(st, i);
    wsio__free(st->mem, st->ring);
    st->ring = r;
    st->cap = cap;
    st->head = 0;
    return 0;
}

/* The payload of message id: what was published, or what format built. */
static int build_payload(wsio_stream *st, uint64_t id, const void *data,
                         size_t len, const void **out, size_t *out_len)
{
    if (!st->cfg.format) {
        *out = data;
        *out_len = len;
        return 0;
    }
    st->payload.len = 0;
    int rc = st->cfg.format(id, data, len, &st->payload, st->cfg.format_user);
    *out = st->payload.buf;
    *out_len = st->payload.len;
    return rc;
}

/* Message id's payload (through the formatter), checked and encoded as
 * one frame: what publishing and a sent-to-one message share. */
static int encode_message(wsio_stream *st, uint64_t id, enum wsio_opcode opcode,
                          const void *data, size_t len, wsio_rcbuf **frame)
{
    const void *payload;
    size_t plen;
    int rc = build_payload(st, id, data, len, &payload, &plen);
    if (rc)
        return rc < 0 ? rc : WSIO_ECALLBACK;
    if (opcode == WSIO_OP_TEXT && wsio_utf8_validate(payload, plen))
        return WSIO_EUTF8;
    *frame = wsio_message_encode(st->mem, opcode, payload, plen);
    return *frame ? 0 : WSIO_ENOMEM;
}

/* Message id: format, encode once, keep, queue on the subscribers. */
static int append(wsio_stream *st, uint64_t id, enum wsio_opcode opcode,
                  const void *data, size_t len)
{
    if ((opcode != WSIO_OP_TEXT && opcode != WSIO_OP_BINARY) ||
        (len && !data) || id <= st->last_id || id == WSIO_STREAM_LIVE)
        return WSIO_EINVAL;
    if (!st->srv)
        return WSIO_ECLOSED;
    wsio_rcbuf *frame;
    int rc = encode_message(st, id, opcode, data, len, &frame);
    if (rc)
        return rc;
    if (frame->len > st->cfg.max_bytes) {
        wsio_rcbuf_unref(frame);
        return WSIO_ETOOBIG;
    }
    trim_age(st);
    rc = make_room(st, frame->len);
    if (rc) {
        wsio_rcbuf_unref(frame);
        return rc;
    }
    slot *s = at(st, st->count);
    s->id = st->last_id = id;
    s->at_ms = wsio_loop_now(st->loop);
    s->frame = frame;
    st->count++;
    st->bytes += frame->len;
    st->stats.published++;
    return wsio__server_send_frame(st->srv, st->topic, frame);
}

int wsio_stream_publish(wsio_stream *st, enum wsio_opcode opcode,
                        const void *data, size_t len, uint64_t *id)
{
    if (st->cfg.ids_given)
        return WSIO_ESTATE;
    if (st->last_id == UINT64_MAX - 1)
        return WSIO_EINVAL;
    int rc = append(st, st->last_id + 1, opcode, data, len);
    if (rc >= 0 && id)
        *id = st->last_id;
    return rc;
}

int wsio_stream_publish_id(wsio_stream *st, uint64_t id,
                           enum wsio_opcode opcode, const void *data,
                           size_t len)
{
    return append(st, id, opcode, data, len);
}

int wsio_stream_send_to(wsio_stream *st, wsio_ws *ws, uint64_t id,
                        enum wsio_opcode opcode, const void *data, size_t len)
{
    if ((opcode != WSIO_OP_TEXT && opcode != WSIO_OP_BINARY) ||
        (len && !data) || !st->srv || wsio_ws_server(ws) != st->srv)
        return WSIO_EINVAL;
    wsio_rcbuf *frame;
    int rc = encode_message(st, id, opcode, data, len, &frame);
    if (rc)
        return rc;
    rc = wsio__ws_send_replay(ws, frame);
    wsio_rcbuf_unref(frame);
    if (rc >= 0)
        st->stats.replayed++;
    return rc;
}

void wsio__stream_server_gone(wsio_stream *st)
{
    st->srv = NULL;
    st->loop = NULL; /* freed with it, or soon after */
}

uint64_t wsio_stream_last_id(const wsio_stream *st)
{
    return st->last_id;
}

uint64_t wsio_stream_oldest_id(wsio_stream *st)
{
    trim_age(st);
    return st->count ? at(st, 0)->id : st->last_id + 1;
}

uint64_t wsio_stream_floor_id(wsio_stream *st)
{
    trim_age(st);
    return st->floor;
}

/* The index of the first message after since (count when none). */
static size_t first_after(const wsio_stream *st, uint64_t since)
{
    size_t lo = 0, hi = st->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(st, mid)->id <= since)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int wsio_stream_subscribe(wsio_stream *st, wsio_ws *ws, uint64_t since)
{
    if (!st->srv || wsio_ws_server(ws) != st->srv)
        return WSIO_EINVAL;
    if (ws->state != WSIO__WS_OPEN)
        return WSIO_ECLOSED;
    size_t from = st->count; /* index of the first message to replay */
    if (since != WSIO_STREAM_LIVE) {
        trim_age(st);
        if (since > st->last_id || since < st->floor) {
            st->stats.gaps++;
            return WSIO_EGAP;
        }
        from = first_after(st, since);
    }
    /* Subscribing first can fail (memory) without anything queued. */
    int rc = wsio_ws_subscribe_n(ws, st->topic, strlen(st->topic));
    if (rc)
        return rc;
    /* Nothing was published in between: the replay goes in front of the
     * next live message. */
    int n = 0;
    for (size_t i = from; i < st->count; i++) {
        rc = wsio__ws_send_replay(ws, at(st, i)->frame);
        if (rc < 0) {
            wsio_ws_unsubscribe_n(ws, st->topic, strlen(st->topic));
            return rc;
        }
        n++;
    }
    if (n) {
        st->stats.resumes++;
        st->stats.replayed += (uint64_t)n;
    }
    return n;
}

void wsio_stream_get_stats(wsio_stream *st, wsio_stream_stats *out)
{
    trim_age(st);
    *out = st->stats;
    out->messages = st->count;
    out->bytes = st->bytes;
}

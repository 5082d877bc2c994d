/*
 * src/redis/stream.c - a topic stream kept in a Redis stream
 * (wsio/redis_stream.h, docs/resume.md).
 *
 * Publishing is a script: INCR <key>:n, then XADD with that number as
 * field n, so entries carry consecutive numbers and a reader sees a hole
 * (entries trimmed before it read them: LAGGED) or a step back (Redis
 * lost its data: RESET) at once. The reading link runs one chain: when
 * it is ready, XINFO STREAM (last-generated-id: where a new instance
 * starts, and whether Redis lost what we read), then XREAD BLOCK from the
 * cursor, again and again. Every entry read goes to the local wsio_stream with
 * its id, which delivers it and keeps it for local resumes.
 *
 * Resumes: from an id at or after `base` (the stream's last id when this
 * instance started reading, raised past anything lost) and within the
 * local window, locally and at once. From an older id, XRANGE from since
 * itself on the commands link: since must still be there and the numbers
 * must follow each other, or some of what followed it is gone. Then the
 * local window: done in the reply's callback, on the loop thread, so
 * nothing read meanwhile is missed or doubled. From an
 * id not read here yet, wait for the reader. Waiting resumes find their ws
 * again by id, since it may close meanwhile.
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* (hiredis' format takes %llu, not %zu: sizes are cast.) */

#include "../common_abi.h"
#include "../internal.h"
#include "redis_internal.h"
#include "wsio/redis_stream.h"

#define TOPIC_MAX 255
#define KEY_MAX (64 + 2 + TOPIC_MAX + 1)
#define SEQ_BITS 20
#define CHECK_MS 100 /* how often waiting resumes look at their deadline */

typedef struct pending pending;
struct pending {
    pending *next;
    wsio_redis_stream *rs; /* NULL once rs is freed: the XRANGE reply
                              still to come frees this */
    const wsio_mem *mem;
    uint64_t ws_id;
    uint64_t since;
    uint64_t deadline;
    int asked; /* an XRANGE is in flight */
};

struct wsio_redis_stream {
    wsio_redis *r;
    wsio_server *srv;
    wsio_loop *loop;
    const wsio_mem *mem;
    wsio_redis_stream_config cfg;
    wsio_stream *local;
    wsio__rlink link;
    wsio_timer *timer; /* waiting resumes' deadlines */
    pending *waiting;
    int started; /* base and cursor are known */
    uint64_t base;
    uint64_t cursor; /* the last id read */
    uint64_t last_n; /* its number; 0: none yet */
    int closing;
    wsio_redis_stream_stats stats;
    char topic[TOPIC_MAX + 1];
    char key[KEY_MAX];
};

#define RS_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_redis_stream_config, user)

static void rs_defaults(wsio_redis_stream_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->maxlen = 10000;
    cfg->window = 1024;
    cfg->max_bytes = (size_t)1 << 20;
    cfg->block_ms = 1000;
    cfg->read_count = 1000;
    cfg->catch_up_ms = 5000;
}

void wsio_redis_stream_config_init(wsio_redis_stream_config *cfg, size_t size)
{
    wsio_redis_stream_config def;
    rs_defaults(&def);
    wsio__config_fill(cfg, size, &def, sizeof def);
}

/* ---- ids: "ms-seq" <-> ms * 2^20 + seq ---- */

static int id_parse(const char *s, size_t len, uint64_t *out)
{
    uint64_t ms = 0, seq = 0;
    size_t i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9' && ms < (1ull << 44); i++)
        ms = ms * 10 + (uint64_t)(s[i] - '0');
    if (i == 0 || i == len || s[i] != '-' || ms >= (1ull << 44))
        return -1;
    size_t j = ++i;
    for (; i < len && s[i] >= '0' && s[i] <= '9' && seq < (1u << SEQ_BITS); i++)
        seq = seq * 10 + (uint64_t)(s[i] - '0');
    if (i == j || i != len || seq >= (1u << SEQ_BITS))
        return -1;
    *out = ms << SEQ_BITS | seq;
    return 0;
}

size_t wsio_redis_stream_id_text(uint64_t id, char *buf)
{
    int n = snprintf(buf, 32, "%llu-%llu", (unsigned long long)(id >> SEQ_BITS),
                     (unsigned long long)(id & ((1u << SEQ_BITS) - 1)));
    return (size_t)n;
}

/* An entry [id, [field, value, ...]]: its id, opcode and data. */
typedef struct entry {
    uint64_t id;
    uint64_t n; /* its number: consecutive per stream */
    enum wsio_opcode opcode;
    const char *data;
    size_t len;
} entry;

static int entry_read(const redisReply *e, entry *out)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY ||
        id_parse(e->element[0]->str, e->element[0]->len, &out->id))
        return -1;
    const redisReply *f = e->element[1];
    int have = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return -1;
        if (k->len == 1 && k->str[0] == 'o' && v->len == 1 &&
            (v->str[0] == '1' || v->str[0] == '2')) {
            out->opcode = v->str[0] == '1' ? WSIO_OP_TEXT : WSIO_OP_BINARY;
            have |= 1;
        } else if (k->len == 1 && k->str[0] == 'd') {
            out->data = v->str;
            out->len = v->len;
            have |= 2;
        } else if (k->len == 1 && k->str[0] == 'n' && v->len > 0 &&
                   v->len < 20) {
            out->n = 0;
            for (size_t j = 0; j < v->len; j++) {
                if (v->str[j] < '0' || v->str[j] > '9')
                    return -1;
                out->n = out->n * 10 + (uint64_t)(v->str[j] - '0');
            }
            have |= 4;
        }
    }
    return have == 7 ? 0 : -1;
}

/* ---- resumes that wait ---- */

static void finish(wsio_redis_stream *rs, pending *p, wsio_ws *ws, int rc)
{
    for (pending **pp = &rs->waiting; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    wsio__free(rs->mem, p);
    if (rc == WSIO_EGAP)
        rs->stats.gaps++;
    if (ws && rs->cfg.on_resumed)
        rs->cfg.on_resumed(rs, ws, rc, rs->cfg.user);
}

/* Resume ws from since in the local window (since >= base). */
static int resume_local(wsio_redis_stream *rs, wsio_ws *ws, uint64_t since)
{
    rs->stats.resumes_local++;
    if (since >= wsio_stream_last_id(rs->local))
        return wsio_stream_subscribe(rs->local, ws, WSIO_STREAM_LIVE);
    return wsio_stream_subscribe(rs->local, ws, since);
}

/* Where local resumes may start: base, or the window's floor. */
static uint64_t local_from(wsio_redis_stream *rs)
{
    uint64_t floor = wsio_stream_floor_id(rs->local);
    return floor > rs->base ? floor : rs->base;
}

static void on_xrange(wsio_redis *r, const redisReply *reply, void *user);

/* Entries one XRANGE asks for: more than Redis keeps (MAXLEN ~ may keep a
 * node of entries more), so a reply shorter than this is complete. */
static size_t range_count(const wsio_redis_stream *rs)
{
    return rs->cfg.maxlen * 2 + 1000;
}

/* See whether p can go on now; finish it or ask Redis. */
static void pending_try(wsio_redis_stream *rs, pending *p, uint64_t now)
{
    wsio_ws *ws = wsio_server_find(rs->srv, p->ws_id);
    if (!ws) {
        finish(rs, p, NULL, WSIO_ECLOSED);
        return;
    }
    if (p->asked)
        return;
    uint64_t last = wsio_stream_last_id(rs->local);
    int ahead = !rs->started || p->since > (last > rs->base ? last : rs->base);
    if (now >= p->deadline) {
        /* An id never read here, or Redis away all along. */
        finish(rs, p, ws, ahead ? WSIO_EGAP : WSIO_ETIMEDOUT);
        return;
    }
    if (ahead)
        return;
    if (p->since >= local_from(rs)) {
        finish(rs, p, ws, resume_local(rs, ws, p->since));
        return;
    }
    char from[32];
    wsio_redis_stream_id_text(p->since, from);
    int rc = wsio_redis_command(
        rs->r, on_xrange, p, "XRANGE %s %s + COUNT %llu", rs->key,
        p->since ? from : "-", (unsigned long long)range_count(rs));
    if (rc == 0)
        p->asked = 1; /* else tried again on the timer, until the deadline */
}

static void try_all(wsio_redis_stream *rs)
{
    uint64_t now = wsio_loop_now(rs->loop);
    pending *p = rs->waiting;
    while (p) {
        pending *next = p->next;
        pending_try(rs, p, now);
        p = next;
    }
}

/* XRANGE came back for p: the entries up to where the local window
 * takes over, then the window and live. */
static void on_xrange(wsio_redis *r, const redisReply *reply, void *user)
{
    (void)r;
    pending *p = user;
    wsio_redis_stream *rs = p->rs;
    if (!rs) {
        wsio__free(p->mem, p);
        return;
    }
    p->asked = 0;
    wsio_ws *ws = wsio_server_find(rs->srv, p->ws_id);
    if (!ws) {
        finish(rs, p, NULL, WSIO_ECLOSED);
        return;
    }
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (!wsio_timer_armed(rs->timer))
            wsio_timer_start(rs->timer, CHECK_MS); /* asked again */
        return;
    }
    const redisReply *es = reply;
    /* since itself first (or number 1 for since 0), then numbers that
     * follow each other, and not cut by COUNT: else some of what followed
     * since is gone. */
    entry e;
    int whole = es->elements < range_count(rs) && es->elements > 0 &&
                entry_read(es->element[0], &e) == 0 &&
                (p->since ? e.id == p->since : e.n == 1);
    for (size_t i = 1; whole && i < es->elements; i++) {
        uint64_t prev = e.n;
        whole = entry_read(es->element[i], &e) == 0 && e.n == prev + 1;
    }
    if (!whole && !(p->since == 0 && es->elements == 0)) {
        finish(rs, p, ws, WSIO_EGAP);
        return;
    }
    uint64_t upto = local_from(rs);
    int n = 0;
    for (size_t i = 0; i < es->elements; i++) {
        (void)entry_read(es->element[i], &e); /* checked above */
        if (e.id <= p->since || e.id > upto)
            continue;
        int rc =
            wsio_stream_send_to(rs->local, ws, e.id, e.opcode, e.data, e.len);
        if (rc < 0) {
            finish(rs, p, ws, rc);
            return;
        }
        n++;
    }
    int rc = wsio_stream_last_id(rs->local) > upto
                 ? wsio_stream_subscribe(rs->local, ws, upto)
                 : wsio_stream_subscribe(rs->local, ws, WSIO_STREAM_LIVE);
    rs->stats.resumes_redis++;
    finish(rs, p, ws, rc < 0 ? rc : n + rc);
}

static void on_check_timer(wsio_timer *t, void *user)
{
    wsio_redis_stream *rs = user;
    try_all(rs);
    if (rs->waiting)
        wsio_timer_start(t, CHECK_MS);
}

int wsio_redis_stream_subscribe(wsio_redis_stream *rs, wsio_ws *ws,
                                uint64_t since)
{
    if (wsio_ws_server(ws) != rs->srv)
        return WSIO_EINVAL;
    if (since == WSIO_STREAM_LIVE)
        return wsio_stream_subscribe(rs->local, ws, WSIO_STREAM_LIVE);
    uint64_t last = wsio_stream_last_id(rs->local);
    if (rs->started && since >= local_from(rs) &&
        since <= (last > rs->base ? last : rs->base))
        return resume_local(rs, ws, since);
    pending *p = wsio__malloc(rs->mem, sizeof *p);
    if (!p)
        return WSIO_ENOMEM;
    *p = (pending){.next = rs->waiting,
                   .rs = rs,
                   .mem = rs->mem,
                   .ws_id = wsio_ws_id(ws),
                   .since = since,
                   .deadline = wsio_loop_now(rs->loop) + rs->cfg.catch_up_ms};
    rs->waiting = p;
    pending_try(rs, p, wsio_loop_now(rs->loop));
    if (rs->waiting && !wsio_timer_armed(rs->timer))
        wsio_timer_start(rs->timer, CHECK_MS);
    return WSIO_EAGAIN;
}

/* ---- reading ---- */

static void read_next(wsio_redis_stream *rs);
static void report(wsio_redis_stream *rs, int event, uint64_t a, uint64_t b);

static int link_ok(const wsio_redis_stream *rs, const redisAsyncContext *ac,
                   const void *reply)
{
    return reply && !rs->closing && rs->link.ac == ac;
}

static void on_read(redisAsyncContext *ac, void *reply, void *privdata)
{
    wsio_redis_stream *rs = privdata;
    const redisReply *m = reply;
    if (!link_ok(rs, ac, reply))
        return;
    if (m->type == REDIS_REPLY_ERROR) {
        /* LOADING, a key of another type...: asked again after the
         * backoff, not as fast as Redis answers. */
        wsio__rlink_drop(&rs->link);
        return;
    }
    size_t n = 0;
    /* nil: BLOCK timed out. Else [[key, [entries]]]. */
    if (m->type == REDIS_REPLY_ARRAY && m->elements == 1 &&
        m->element[0]->type == REDIS_REPLY_ARRAY &&
        m->element[0]->elements == 2 &&
        m->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *es = m->element[0]->element[1];
        n = es->elements;
        for (size_t i = 0; i < es->elements; i++) {
            entry e;
            if (entry_read(es->element[i], &e) || e.id <= rs->cursor) {
                rs->stats.invalid++;
                continue;
            }
            if (rs->last_n && e.n != rs->last_n + 1) {
                /* A hole: trimmed before we read it; a step back: Redis
                 * lost its data. No resume may cross either. */
                report(rs,
                       e.n > rs->last_n ? WSIO_REDIS_STREAM_LAGGED
                                        : WSIO_REDIS_STREAM_RESET,
                       rs->cursor, e.id);
                rs->base = e.id - 1;
            }
            rs->last_n = e.n;
            rs->cursor = e.id;
            if (wsio_stream_publish_id(rs->local, e.id, e.opcode, e.data,
                                       e.len) >= 0) {
                rs->stats.read++;
                rs->stats.last_id = e.id;
            } else {
                rs->stats.invalid++;
            }
        }
    }
    (void)n;
    try_all(rs);
    read_next(rs);
}

static void read_next(wsio_redis_stream *rs)
{
    char from[32];
    wsio_redis_stream_id_text(rs->cursor, from);
    redisAsyncCommand(rs->link.ac, on_read, rs,
                      "XREAD COUNT %llu BLOCK %u STREAMS %s %s",
                      (unsigned long long)rs->cfg.read_count,
                      (unsigned)rs->cfg.block_ms, rs->key, from);
}

static void report(wsio_redis_stream *rs, int event, uint64_t a, uint64_t b)
{
    if (event == WSIO_REDIS_STREAM_RESET)
        rs->stats.resets++;
    else
        rs->stats.lagged++;
    if (rs->cfg.on_event)
        rs->cfg.on_event(rs, event, a, b, rs->cfg.user);
}

/* XINFO STREAM's last-generated-id; 0 when there is no such stream ("no
 * such key"). */
static void info_read(const redisReply *m, uint64_t *last)
{
    *last = 0;
    if (m->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < m->elements; i += 2) {
        const redisReply *k = m->element[i], *v = m->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "last-generated-id") == 0)
            (void)id_parse(v->str, v->len, last);
    }
}

static void on_info(redisAsyncContext *ac, void *reply, void *privdata)
{
    wsio_redis_stream *rs = privdata;
    const redisReply *m = reply;
    if (!link_ok(rs, ac, reply))
        return;
    if (m->type == REDIS_REPLY_ERROR && strcmp(m->str, "ERR no such key")) {
        /* Not an answer about the stream (LOADING after a restart, a key
         * of another type...): taken for "no stream", it would report a
         * RESET that did not happen. Asked again after the backoff. */
        wsio__rlink_drop(&rs->link);
        return;
    }
    uint64_t last;
    info_read(m, &last);
    rs->stats.reading = 1;
    if (!rs->started) {
        rs->base = rs->cursor = last;
        rs->started = 1;
        try_all(rs);
    } else {
        if (last < rs->cursor) {
            /* Redis lost what we read: read on from what it has, and let
             * no resume cross the loss. */
            report(rs, WSIO_REDIS_STREAM_RESET, rs->cursor, last);
            rs->base = rs->cursor;
            rs->cursor = last;
            rs->last_n = 0; /* its numbers start again */
        }
    }
    read_next(rs);
}

static void check_info(wsio_redis_stream *rs)
{
    redisAsyncCommand(rs->link.ac, on_info, rs, "XINFO STREAM %s", rs->key);
}

static void link_ready(wsio__rlink *l, int reconnect)
{
    (void)reconnect;
    check_info(l->owner);
}

static void link_lost(wsio__rlink *l)
{
    wsio_redis_stream *rs = l->owner;
    rs->stats.reading = 0;
}

/* The next number, and the entry with it (one script: atomic). */
#define PUBLISH_SCRIPT                                                         \
    "local n = redis.call('INCR', KEYS[2]) "                                   \
    "return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', "         \
    "'o', ARGV[2], 'n', n, 'd', ARGV[3])"

/* ---- the rest ---- */

int wsio_redis_stream_publish(wsio_redis_stream *rs, enum wsio_opcode opcode,
                              const void *data, size_t len)
{
    if ((opcode != WSIO_OP_TEXT && opcode != WSIO_OP_BINARY) || (len && !data))
        return WSIO_EINVAL;
    char counter[KEY_MAX + 2];
    snprintf(counter, sizeof counter, "%s:n", rs->key);
    int rc = wsio_redis_command(
        rs->r, NULL, NULL, "EVAL %s 2 %s %s %llu %s %b", PUBLISH_SCRIPT,
        rs->key, counter, (unsigned long long)rs->cfg.maxlen,
        opcode == WSIO_OP_TEXT ? "1" : "2", data ? data : "", len);
    if (rc == 0)
        rs->stats.published++;
    return rc;
}

wsio_redis_stream *wsio_redis_stream_new(wsio_redis *r, const char *topic,
                                         const wsio_redis_stream_config *cfg,
                                         int *err)
{
    wsio_redis_stream_config c;
    rs_defaults(&c);
    int rc = WSIO_EINVAL;
    wsio_redis_stream *rs = NULL;
    wsio_server *srv = r ? wsio__redis_server(r) : NULL;
    if (!srv || !topic || strlen(topic) > TOPIC_MAX ||
        (cfg && wsio__config_copy(&c, sizeof c, cfg, RS_CONFIG_MIN)) ||
        !c.maxlen || !c.read_count || !c.block_ms)
        goto fail;
    /* A stream key lives on one shard, and the links here talk to one
     * node: in a cluster every command on a key of another shard would be
     * answered -MOVED. Refused rather than half working. */
    rc = WSIO_ESTATE;
    if (wsio__redis_is_cluster(r))
        goto fail;
    rc = WSIO_ENOMEM;
    const wsio_mem *mem = wsio__redis_mem(r);
    rs = wsio__malloc(mem, sizeof *rs);
    if (!rs)
        goto fail;
    memset(rs, 0, sizeof *rs);
    rs->r = r;
    rs->srv = srv;
    rs->loop = wsio_server_loop(srv);
    rs->mem = mem;
    rs->cfg = c;
    strcpy(rs->topic, topic);
    char name[2 + TOPIC_MAX + 1];
    snprintf(name, sizeof name, "s:%s", topic);
    rc = WSIO_EINVAL;
    if (wsio_redis_key(r, name, rs->key, sizeof rs->key) < 0)
        goto fail;
    wsio_stream_config sc;
    wsio_stream_config_default(&sc);
    sc.max_messages = c.window;
    sc.max_bytes = c.max_bytes;
    sc.format = c.format;
    sc.format_user = c.format_user;
    sc.ids_given = 1;
    rs->local = wsio_stream_new(srv, topic, &sc, &rc);
    if (!rs->local)
        goto fail;
    rc = WSIO_ENOMEM;
    rs->timer = wsio_timer_new(rs->loop, on_check_timer, rs, &rc);
    if (!rs->timer)
        goto fail;
    rc = wsio__rlink_init(&rs->link, wsio__redis_link_settings(r), 1,
                          link_ready, link_lost, rs);
    if (rc)
        goto fail;
    wsio__rlink_connect(&rs->link);
    return rs;
fail:
    wsio_redis_stream_free(rs);
    if (err)
        *err = rc;
    return NULL;
}

void wsio_redis_stream_free(wsio_redis_stream *rs)
{
    if (!rs)
        return;
    rs->closing = 1;
    wsio__rlink_close(&rs->link);
    wsio_timer_free(rs->timer);
    while (rs->waiting) {
        pending *p = rs->waiting;
        rs->waiting = p->next;
        if (p->asked)
            p->rs = NULL; /* its XRANGE reply frees it */
        else
            wsio__free(rs->mem, p);
    }
    wsio_stream_free(rs->local);
    wsio__free(rs->mem, rs);
}

void wsio_redis_stream_get_stats(const wsio_redis_stream *rs,
                                 wsio_redis_stream_stats *out)
{
    *out = rs->stats;
}

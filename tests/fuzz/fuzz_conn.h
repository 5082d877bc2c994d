/*
 * tests/fuzz/fuzz_conn.h - the driver shared by fuzz_conn_server.c and
 * fuzz_conn_client.c: feed the fuzzer's bytes to a connection in
 * fuzzer-chosen pieces, with callbacks that send, close, pause or free, and
 * check the invariants a host relies on.
 *
 * Input layout:
 *   byte 0      behaviour bits (see the MODE_ constants)
 *   byte 1      k = byte % 16: how many split sizes follow
 *   k bytes     piece sizes (0 means "all the rest"), used in a cycle
 *   the rest    the byte stream from the peer
 */
#ifndef FUZZ_CONN_H
#define FUZZ_CONN_H

#include <stdlib.h>
#include <string.h>

#include "wsio/conn.h"

#define REQUIRE(x)                                                             \
    do {                                                                       \
        if (!(x))                                                              \
            abort();                                                           \
    } while (0)

enum {
    MODE_STREAM = 1 << 0, /* on_fragment instead of on_message */
    MODE_SMALL = 1 << 1,  /* tiny limits: 64-byte messages, 4 fragments */
    MODE_ECHO = 1 << 2,   /* send every message (or piece) back */
    MODE_CLOSE = 1 << 3,  /* start the close handshake on the 3rd event */
    MODE_PAUSE = 1 << 4,  /* pause after every event */
    MODE_FREE = 1 << 5,   /* free the conn inside the 5th event */
    MODE_NOPONG = 1 << 6, /* no automatic pong */
    MODE_TRICKLE = 1 << 7 /* drain output a few bytes at a time */
};

typedef struct fuzz_state {
    unsigned mode;
    unsigned events;
    int closes;
    int freed;
    unsigned keys;
} fuzz_state;

/* After each event: maybe close, maybe free; pause when asked. */
static int fuzz_after(wsio_conn *c, fuzz_state *s)
{
    s->events++;
    if ((s->mode & MODE_CLOSE) && s->events == 3)
        (void)wsio_conn_close(c, 1000, "bye", 3);
    if ((s->mode & MODE_FREE) && s->events == 5) {
        wsio_conn_free(c);
        s->freed = 1;
        return 0;
    }
    return (s->mode & MODE_PAUSE) ? WSIO_PAUSE : 0;
}

static int fuzz_on_message(wsio_conn *c, const wsio_message *m, void *user)
{
    fuzz_state *s = user;
    REQUIRE(m->opcode == WSIO_OP_TEXT || m->opcode == WSIO_OP_BINARY);
    if (m->opcode == WSIO_OP_TEXT)
        REQUIRE(wsio_utf8_validate(m->data, m->len) == 0);
    if (s->mode & MODE_ECHO) {
        int rc = wsio_conn_send(c, m->opcode, m->data, m->len);
        REQUIRE(rc == 0 || rc == WSIO_ECLOSED);
        if (wsio_conn_role(c) == WSIO_ROLE_SERVER && (s->events & 1)) {
            wsio_rcbuf *b =
                wsio_message_encode(NULL, m->opcode, m->data, m->len);
            REQUIRE(b);
            rc = wsio_conn_send_encoded(c, b);
            REQUIRE(rc == 0 || rc == WSIO_ECLOSED);
            wsio_rcbuf_unref(b);
        }
    }
    return fuzz_after(c, s);
}

static int fuzz_on_fragment(wsio_conn *c, const wsio_fragment *f, void *user)
{
    fuzz_state *s = user;
    REQUIRE(f->opcode == WSIO_OP_TEXT || f->opcode == WSIO_OP_BINARY);
    REQUIRE(f->len > 0 || f->last);
    if (s->mode & MODE_ECHO) {
        int rc = wsio_conn_send_fragment(
            c, f->first ? f->opcode : WSIO_OP_CONTINUATION, f->data, f->len,
            f->last);
        /* Pieces of text may split a character: the sender's check then
         * refuses them, which is fine. */
        REQUIRE(rc == 0 || rc == WSIO_ECLOSED || rc == WSIO_ESTATE ||
                rc == WSIO_EUTF8);
    }
    return fuzz_after(c, s);
}

static int fuzz_on_control(wsio_conn *c, const wsio_control *p, void *user)
{
    REQUIRE(p->len <= 125);
    return fuzz_after(c, user);
}

static void fuzz_on_close(wsio_conn *c, const wsio_close_info *info, void *user)
{
    fuzz_state *s = user;
    REQUIRE(wsio_conn_state(c) == WSIO_CONN_CLOSED);
    REQUIRE(++s->closes == 1);
    REQUIRE(info->clean || info->error || info->code == 1006);
    REQUIRE(wsio_utf8_validate(info->reason, info->reason_len) == 0);
}

static int fuzz_make_mask(uint8_t key[4], void *user)
{
    fuzz_state *s = user;
    s->keys++;
    memcpy(key, &s->keys, 4);
    return 0;
}

/* Drain the output, checking that peek and buffered_amount agree. */
static void fuzz_drain(wsio_conn *c, unsigned mode)
{
    wsio_iov iov[64];
    size_t n = wsio_conn_peek_output(c, iov, 64), sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += iov[i].len;
    REQUIRE(n < 64 ? sum == wsio_conn_buffered_amount(c)
                   : sum <= wsio_conn_buffered_amount(c));
    if (mode & MODE_TRICKLE) {
        uint8_t buf[7];
        while (wsio_conn_write(c, buf, sizeof buf) > 0)
            ;
    } else {
        wsio_conn_consume_output(c, wsio_conn_buffered_amount(c));
    }
    REQUIRE(wsio_conn_buffered_amount(c) == 0 && !wsio_conn_want_write(c));
}

/* Called on the new connection before any byte (fuzz_inflate sets a
 * codec with it); arg is the input's split byte. */
typedef void (*fuzz_setup_fn)(wsio_conn *c, uint8_t arg);

static int fuzz_conn_with(enum wsio_role role, const uint8_t *data, size_t size,
                          fuzz_setup_fn setup)
{
    if (size < 2)
        return 0;
    fuzz_state s;
    memset(&s, 0, sizeof s);
    s.mode = data[0];
    size_t k = data[1] % 16u;
    if (size < 2 + k)
        return 0;
    const uint8_t *splits = data + 2;
    size_t len = size - 2 - k;
    /* The connection unmasks in place: feed a private copy. */
    uint8_t *in = malloc(len ? len : 1);
    REQUIRE(in);
    memcpy(in, data + 2 + k, len);

    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    if (s.mode & MODE_SMALL) {
        cfg.max_message_size = 64;
        cfg.max_frame_size = 48;
        cfg.max_fragments = 4;
    }
    cfg.auto_pong = !(s.mode & MODE_NOPONG);
    cfg.make_mask = fuzz_make_mask;
    cfg.make_mask_user = &s;
    wsio_conn_callbacks cb = {fuzz_on_message, NULL, fuzz_on_control,
                              fuzz_on_control, fuzz_on_close};
    if (s.mode & MODE_STREAM) {
        cb.on_message = NULL;
        cb.on_fragment = fuzz_on_fragment;
    }
    wsio_conn *c = wsio_conn_new(role, &cfg, &cb, NULL, &s);
    REQUIRE(c);
    if (setup)
        setup(c, data[1]);

    size_t pos = 0, turn = 0;
    while (pos < len && !s.freed) {
        size_t want = k ? splits[turn++ % k] : 0;
        size_t n = want && want < len - pos ? want : len - pos;
        ssize_t r = wsio_conn_feed(c, in + pos, n);
        if (s.freed)
            break;
        REQUIRE(r <= (ssize_t)n);
        if (r < 0) {
            REQUIRE(wsio_conn_state(c) == WSIO_CONN_CLOSED && s.closes == 1);
            REQUIRE(wsio_conn_feed(c, in, 0) == r); /* sticky */
            break;
        }
        pos += (size_t)r;
        fuzz_drain(c, s.mode);
        if (wsio_conn_state(c) == WSIO_CONN_CLOSED)
            break;
        /* A pause consumes at least one frame's bytes. */
        REQUIRE(r > 0 || n == 0);
    }
    if (!s.freed) {
        if (s.events & 2)
            wsio_conn_abort(c, WSIO_ECLOSED);
        REQUIRE(s.closes <= 1);
        wsio_conn_free(c);
    }
    free(in);
    return 0;
}

static int fuzz_conn(enum wsio_role role, const uint8_t *data, size_t size)
{
    return fuzz_conn_with(role, data, size, NULL);
}

#endif /* FUZZ_CONN_H */

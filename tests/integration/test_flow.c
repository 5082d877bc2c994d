/*
 * tests/integration/test_flow.c - flow control end to end (issue 13): a
 * peer that pipelines faster than it reads gets every echo back, in order,
 * while the server holds a bounded amount; pause and resume; what each
 * send returns under each backpressure policy, in each role; the
 * fragment cost rule on Autobahn's 9.3 / 9.4 shapes; a second close from
 * on_message. Every test runs on poll, epoll and host loop mode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* The recording server callbacks of harness.c, reused here. */
void s_on_open(wsio_ws *ws, void *user);
int s_on_message(wsio_ws *ws, const wsio_message *m, void *user);
void s_on_close(wsio_ws *ws, const wsio_close_info *info, void *user);

#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer keeps freed blocks in quarantine (up to 256 MiB by
 * default), and RSS counts them: the bound gets this much more room. */
#define RSS_SLACK ((size_t)64 << 20)
#else
#define RSS_SLACK 0
#endif

/* A masked client frame (RFC 6455 section 5.3) in out; returns its size. */
static size_t client_frame(uint8_t *out, int fin, unsigned opcode,
                           const void *payload, size_t len)
{
    wsio_frame_header h = {.payload_len = len,
                           .opcode = (uint8_t)opcode,
                           .fin = (uint8_t)fin,
                           .masked = 1,
                           .mask_key = {0x12, 0x34, 0x56, 0x78}};
    ssize_t n = wsio_frame_header_encode(out, &h);
    assert_true(n > 0);
    if (len)
        wsio_mask_copy(out + n, payload, len, h.mask_key, 0);
    return (size_t)n + len;
}

/* A raw peer's receive side: bytes in, whole frames out. */
typedef struct rx {
    uint8_t *buf;
    size_t len, cap;
} rx;

/* Read at most max bytes (non-blocking); returns what read returned. */
static ssize_t rx_read(rx *r, int fd, size_t max)
{
    if (r->cap - r->len < max) {
        size_t cap = r->cap ? r->cap : 65536;
        while (cap - r->len < max)
            cap *= 2;
        r->buf = realloc(r->buf, cap);
        assert_non_null(r->buf);
        r->cap = cap;
    }
    ssize_t n = raw_read(fd, (char *)r->buf + r->len, max);
    if (n > 0)
        r->len += (size_t)n;
    return n;
}

/* The next whole frame: its header in *h and payload in *p (valid until
 * the next rx call); 0 when none is complete. */
static int rx_frame(rx *r, wsio_frame_header *h, const uint8_t **p,
                    size_t *used)
{
    ssize_t hl = wsio_frame_header_decode(r->buf, r->len, h);
    if (hl <= 0 || r->len < (size_t)hl + h->payload_len)
        return 0;
    *p = r->buf + hl;
    *used = (size_t)hl + (size_t)h->payload_len;
    return 1;
}

static void rx_drop(rx *r, size_t used)
{
    memmove(r->buf, r->buf + used, r->len - used);
    r->len -= used;
}

/* Send without blocking the loop; stops on an error. Returns bytes sent. */
static size_t send_turning(env *e, int fd, const void *data, size_t len)
{
    size_t off = 0;
    uint64_t t0 = now_ms();
    while (off < len && now_ms() - t0 < 20000) {
        ssize_t n = send(fd, (const char *)data + off, len - off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            break;
        env_turn(e, 5);
    }
    return off;
}

/* ---- pipelined echo -------------------------------------------------- */

enum { CLIENTS = 10, PIPELINED = 64, MSG = 64 * 1024 };

typedef struct piper {
    int fd;
    uint8_t *out; /* every frame it sends, back to back */
    size_t out_len, out_off;
    rx in;
    unsigned got; /* echoes received, each checked */
    int bad;
} piper;

/* Message k of client c: its numbers, then a pattern. */
static void fill_msg(uint8_t *m, unsigned c, unsigned k)
{
    for (size_t i = 0; i < MSG; i++)
        m[i] = (uint8_t)(c * 31 + k * 7 + i);
    m[0] = (uint8_t)c;
    m[1] = (uint8_t)k;
}

static void check_echo(piper *p, unsigned c)
{
    wsio_frame_header h;
    const uint8_t *pl;
    size_t used;
    static uint8_t want[MSG];
    while (rx_frame(&p->in, &h, &pl, &used)) {
        fill_msg(want, c, p->got);
        if (h.opcode != WSIO_OP_BINARY || h.payload_len != MSG ||
            memcmp(pl, want, MSG) != 0)
            p->bad++;
        p->got++;
        rx_drop(&p->in, used);
    }
}

/*
 * Ten clients each put 64 messages of 64 KiB in flight at once and read
 * slowly (4 KiB receive buffers, at most 16 KiB per loop turn): every echo
 * comes back, in order, none dropped (the server's handler asserts each
 * send is queued), and the process grows by less than max_output_bytes
 * per client plus 24 MiB (one message being assembled and one read held
 * per client, the loop's caches, and the test's own buffers).
 */
static void test_flow_pipelined_echo_loses_nothing(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_output_bytes = 256 * 1024;
    cfg.low_water_bytes = 64 * 1024;
    server_state s = {.echo = 1};
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    static piper ps[CLIENTS];
    static uint8_t m[MSG];
    for (unsigned c = 0; c < CLIENTS; c++) {
        piper *p = &ps[c];
        memset(p, 0, sizeof *p);
        p->fd = raw_ws_connect_rcvbuf(e, wsio_server_port(srv), 4096);
        p->out = malloc(PIPELINED * (MSG + 14));
        assert_non_null(p->out);
        for (unsigned k = 0; k < PIPELINED; k++) {
            fill_msg(m, c, k);
            p->out_len +=
                client_frame(p->out + p->out_len, 1, WSIO_OP_BINARY, m, MSG);
        }
        p->in.buf = malloc(PIPELINED * (MSG + 14));
        assert_non_null(p->in.buf);
        p->in.cap = PIPELINED * (MSG + 14);
        memset(p->in.buf, 0, p->in.cap);
    }
    size_t rss0 = rss_bytes(0), peak = rss0;
    unsigned want = PIPELINED;
    uint64_t t0 = now_ms();
    unsigned done = 0;
    while (done < CLIENTS && now_ms() - t0 < 60000) {
        done = 0;
        for (unsigned c = 0; c < CLIENTS; c++) {
            piper *p = &ps[c];
            size_t limit = p->out_len;
            if (p->out_off < limit) {
                ssize_t n = send(p->fd, p->out + p->out_off, limit - p->out_off,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0)
                    p->out_off += (size_t)n;
            }
            (void)rx_read(&p->in, p->fd, 16384); /* paced reads */
            check_echo(p, c);
            done += p->got >= want;
        }
        env_turn(e, 1);
        size_t now = rss_bytes(0);
        peak = now > peak ? now : peak;
    }
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    size_t bound =
        CLIENTS * cfg.max_output_bytes + ((size_t)24 << 20) + RSS_SLACK;
    printf("# pipelined echo: %u clients x %u x %d KiB, rss +%zu KiB "
           "(bound %zu KiB), dropped %llu\n",
           CLIENTS, want, MSG / 1024, (peak - rss0) / 1024, bound / 1024,
           (unsigned long long)st.messages_dropped);
    for (unsigned c = 0; c < CLIENTS; c++) {
        assert_int_equal(ps[c].bad, 0);
        assert_int_equal(ps[c].got, want);
    }
    assert_int_equal(st.messages_dropped, 0);
    assert_int_equal(s.messages, CLIENTS * want);
    assert_true(peak - rss0 < bound);
    for (unsigned c = 0; c < CLIENTS; c++) {
        close(ps[c].fd);
        free(ps[c].out);
        free(ps[c].in.buf);
    }
    wsio_server_free(srv);
    run_for(e, 20);
    env_free(e);
}

/* ---- pause and resume ------------------------------------------------ */

typedef struct pauser {
    server_state *s;
    int pause_at; /* pause when this many messages arrived */
    unsigned long next_seq;
    int out_of_order;
    wsio_ws *ws;
} pauser;

static pauser the_pauser;

static int p_on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    pauser *pz = &the_pauser;
    char buf[32];
    size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
    memcpy(buf, m->data, n);
    buf[n] = '\0';
    if (strtoul(buf, NULL, 10) != pz->next_seq)
        pz->out_of_order++;
    pz->next_seq++;
    int rc = s_on_message(ws, m, user);
    if (pz->s->messages == pz->pause_at) {
        wsio_ws_pause(ws);
        assert_true(wsio_ws_is_paused(ws));
    }
    return rc;
}

static void p_on_open(wsio_ws *ws, void *user)
{
    the_pauser.ws = ws;
    s_on_open(ws, user);
}

static const wsio_ws_callbacks pause_cb = {
    .on_open = p_on_open, .on_message = p_on_message, .on_close = s_on_close};

static wsio_server *start_pausing_server(env *e, wsio_server_config *cfg,
                                         server_state *s, int pause_at)
{
    memset(&the_pauser, 0, sizeof the_pauser);
    the_pauser.s = s;
    the_pauser.pause_at = pause_at;
    if (e->io != ENV_IO_PLAIN) {
        cfg->transport = &e->io_ops;
        cfg->transport_ctx = e;
    }
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, cfg, &pause_cb, NULL, s, &err);
    assert_non_null(srv);
    return srv;
}

/*
 * The server pauses in on_message of the first message; the client has
 * sent 200 more in the same burst (some in the same read). None arrives
 * while paused, though the heartbeat pings every 50 ms and the live client
 * answers (it is not terminated: its pongs are seen ahead); after resume
 * all arrive, in order.
 */
static void test_flow_pause_holds_messages_and_resume_delivers(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.ping_interval_ms = 50;
    server_state s = {0};
    wsio_server *srv = start_pausing_server(e, &cfg, &s, 1);
    peer p = {0};
    connect_client(e, srv, NULL, &p);
    RUN_UNTIL(e, p.opened == 1 && s.opens == 1, 5000);
    enum { N = 201 };
    for (int i = 0; i < N; i++) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%d", i);
        assert_true(wsio_ws_send(p.ws, WSIO_OP_TEXT, buf, (size_t)n) >= 0);
    }
    RUN_UNTIL(e, s.messages == 1, 5000);
    run_for(e, 400); /* eight heartbeats */
    assert_int_equal(s.messages, 1);
    assert_int_equal(s.closes, 0);
    assert_true(wsio_ws_is_paused(the_pauser.ws));
    wsio_ws_resume(the_pauser.ws);
    assert_false(wsio_ws_is_paused(the_pauser.ws));
    RUN_UNTIL(e, s.messages == N, 5000);
    assert_int_equal(the_pauser.out_of_order, 0);
    assert_int_equal(s.closes, 0);
    wsio_server_free(srv);
    RUN_UNTIL(e, p.closed == 1, 5000);
    env_free(e);
}

/*
 * A paused peer that keeps sending (more than the 64 KiB a paused ws reads
 * ahead) is held back by us, not dead: the heartbeat leaves it alone, and
 * after resume every message arrives in order.
 */
static void test_flow_paused_chatty_peer_survives_heartbeat(void **state)
{
    env *e = env_new(state);
    if (e->io == ENV_IO_ONE_BYTE) { /* 1 MiB one byte a turn: too slow */
        env_free(e);
        skip();
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.ping_interval_ms = 50;
    server_state s = {0};
    wsio_server *srv = start_pausing_server(e, &cfg, &s, 1);
    peer p = {0};
    connect_client(e, srv, NULL, &p);
    RUN_UNTIL(e, p.opened == 1 && s.opens == 1, 5000);
    enum { N = 512 };
    static char msg[2048];
    memset(msg, 'x', sizeof msg);
    for (int i = 0; i < N; i++) {
        int n = snprintf(msg, sizeof msg, "%d", i);
        msg[n] = ' ';
        assert_true(wsio_ws_send(p.ws, WSIO_OP_TEXT, msg, sizeof msg) >= 0);
    }
    RUN_UNTIL(e, s.messages == 1, 5000);
    run_for(e, 400);
    assert_int_equal(s.messages, 1);
    assert_int_equal(s.closes, 0);
    wsio_ws_resume(the_pauser.ws);
    RUN_UNTIL(e, s.messages == N, 10000);
    assert_int_equal(the_pauser.out_of_order, 0);
    assert_int_equal(s.closes, 0);
    wsio_server_free(srv);
    RUN_UNTIL(e, p.closed == 1, 5000);
    env_free(e);
}

/* A paused peer that neither reads nor answers pings is terminated by the
 * heartbeat, pause or not. */
static void test_flow_paused_dead_peer_is_terminated(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.ping_interval_ms = 50;
    server_state s = {0};
    wsio_server *srv = start_pausing_server(e, &cfg, &s, 1);
    int fd = raw_ws_connect(e, wsio_server_port(srv));
    uint8_t frame[32];
    size_t len = client_frame(frame, 1, WSIO_OP_TEXT, "0", 1);
    send_turning(e, fd, frame, len);
    RUN_UNTIL(e, s.messages == 1, 5000);
    assert_true(wsio_ws_is_paused(the_pauser.ws));
    uint64_t t0 = now_ms();
    RUN_UNTIL(e, s.closes == 1, 5000);
    assert_true(now_ms() - t0 < 2000);
    assert_int_equal(s.last_close.error, WSIO_ETIMEDOUT);
    close(fd);
    wsio_server_free(srv);
    run_for(e, 20);
    env_free(e);
}

/*
 * A peer we do not read because our output to it is over the mark: the
 * heartbeat spares it while it reads what we send (its pong may wait
 * behind bytes we do not read), and terminates it once it stops reading.
 */
static void test_flow_heartbeat_spares_a_peer_reading_our_output(void **state)
{
    env *e = env_new(state);
    if (e->io == ENV_IO_ONE_BYTE) {
        env_free(e);
        skip();
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.ping_interval_ms = 50;
    cfg.max_output_bytes = 64 * 1024;
    cfg.max_queued_bytes = (size_t)16 << 20;
    server_state s = {0};
    wsio_server *srv = start_pausing_server(e, &cfg, &s, -1);
    int fd = raw_ws_connect_rcvbuf(e, wsio_server_port(srv), 4096);
    RUN_UNTIL(e, s.opens == 1, 5000);
    static uint8_t chunk[8192];
    for (int i = 0; i < 512; i++) /* 4 MiB */
        assert_true(wsio_ws_send(the_pauser.ws, WSIO_OP_BINARY, chunk,
                                 sizeof chunk) >= 0);
    /* Reads 4 KiB every 5 ms: alive, though it never sends a pong. */
    char buf[4096];
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < 500) {
        env_turn(e, 5);
        (void)raw_read(fd, buf, sizeof buf);
    }
    assert_int_equal(s.closes, 0);
    assert_true(wsio_ws_buffered_amount(the_pauser.ws) > cfg.max_output_bytes);
    /* Stops reading: terminated within a few pings. */
    t0 = now_ms();
    RUN_UNTIL(e, s.closes == 1, 5000);
    assert_true(now_ms() - t0 < 2000);
    assert_int_equal(s.last_close.error, WSIO_ETIMEDOUT);
    close(fd);
    wsio_server_free(srv);
    run_for(e, 20);
    env_free(e);
}

/* ---- send results ---------------------------------------------------- */

/*
 * Under policy, send 8 KiB messages to a peer that does not read until
 * the send says the message was not queued (or 4000 tries): checks each
 * result against the header's promise, then lets the peer read and checks
 * it got exactly the messages whose result was >= 0, in order.
 */
static void send_results(void **state, enum wsio_backpressure_policy policy,
                         int client_role)
{
    env *e = env_new(state);
    if (e->io == ENV_IO_ONE_BYTE) {
        env_free(e);
        skip();
    }
    enum { MARK = 32 * 1024, CAP = 128 * 1024, LEN = 8192 };
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    server_state s = {0};
    wsio_ws *sender;
    peer p = {0};
    wsio_server *srv;
    int fd = -1;
    if (!client_role) {
        cfg.max_output_bytes = MARK;
        cfg.low_water_bytes = MARK / 4;
        cfg.backpressure = policy;
        cfg.max_queued_bytes = CAP;
        srv = start_pausing_server(e, &cfg, &s, -1);
        fd = raw_ws_connect_rcvbuf(e, wsio_server_port(srv), 4096);
        RUN_UNTIL(e, s.opens == 1, 5000);
        sender = the_pauser.ws;
    } else {
        srv = start_pausing_server(e, &cfg, &s, -1);
        wsio_client_config cc;
        wsio_client_config_default(&cc);
        assert_int_equal(cc.backpressure, WSIO_BACKPRESSURE_QUEUE);
        cc.max_output_bytes = MARK;
        cc.low_water_bytes = MARK / 4;
        cc.backpressure = policy;
        cc.max_queued_bytes = CAP;
        connect_client(e, srv, &cc, &p);
        RUN_UNTIL(e, p.opened == 1 && s.opens == 1, 5000);
        wsio_ws_pause(the_pauser.ws); /* the server stops reading */
        sender = p.ws;
    }
    static char msg[LEN];
    memset(msg, 'q', sizeof msg);
    unsigned long queued = 0, refused = 0;
    int rc = 0, pressure_seen = 0;
    for (int i = 0; i < 4000 && refused < 3; i++) {
        int n = snprintf(msg, sizeof msg, "%lu", queued);
        msg[n] = ' ';
        size_t before = wsio_ws_buffered_amount(sender);
        rc = wsio_ws_send(sender, WSIO_OP_TEXT, msg, sizeof msg);
        if (rc >= 0) {
            /* Queued: PRESSURE exactly when now over the mark. */
            assert_true(rc == WSIO_SEND_QUEUED || rc == WSIO_SEND_PRESSURE);
            assert_int_equal(rc == WSIO_SEND_PRESSURE,
                             wsio_ws_buffered_amount(sender) > MARK);
            pressure_seen |= rc == WSIO_SEND_PRESSURE;
            queued++;
        } else {
            /* Not queued: nothing was added, and the code says why. */
            assert_true(before > MARK);
            if (policy == WSIO_BACKPRESSURE_QUEUE) {
                assert_int_equal(rc, WSIO_EQUEUEFULL);
                assert_true(before > CAP);
            } else if (refused == 0) {
                assert_int_equal(rc, WSIO_EDROPPED);
            } else {
                /* CLOSE started the close: later sends are refused. */
                assert_int_equal(rc, policy == WSIO_BACKPRESSURE_CLOSE
                                         ? WSIO_ECLOSED
                                         : WSIO_EDROPPED);
            }
            refused++;
        }
        env_turn(e, 0);
    }
    assert_true(pressure_seen);
    assert_int_equal(refused, 3);
    if (policy == WSIO_BACKPRESSURE_QUEUE)
        assert_true(queued * LEN > CAP);
    if (!client_role) {
        wsio_server_stats st;
        wsio_server_get_stats(srv, &st);
        assert_int_equal(st.messages_out, queued);
        if (policy == WSIO_BACKPRESSURE_CLOSE)
            assert_int_equal(st.slow_disconnects, 1);
        else
            assert_int_equal(st.messages_dropped, refused);
    }
    /* The peer reads now: exactly the queued messages, in order. */
    unsigned long got = 0;
    int close_seen = 0;
    if (!client_role) {
        rx in = {0};
        uint64_t t0 = now_ms();
        while (!close_seen && got < queued && now_ms() - t0 < 10000) {
            env_turn(e, 2);
            (void)rx_read(&in, fd, 65536);
            wsio_frame_header h;
            const uint8_t *pl;
            size_t used;
            while (rx_frame(&in, &h, &pl, &used)) {
                if (h.opcode == WSIO_OP_CLOSE)
                    close_seen = 1;
                else if (h.opcode == WSIO_OP_TEXT &&
                         strtoul((const char *)pl, NULL, 10) == got)
                    got++;
                rx_drop(&in, used);
            }
        }
        free(in.buf);
    } else {
        the_pauser.pause_at = -1;
        wsio_ws_resume(the_pauser.ws);
        RUN_UNTIL(e, (unsigned long)s.messages >= queued || s.closes > 0,
                  10000);
        got = (unsigned long)s.messages;
        assert_int_equal(the_pauser.out_of_order, 0);
    }
    assert_int_equal(got, queued);
    if (fd >= 0)
        close(fd);
    wsio_server_free(srv);
    run_for(e, 50);
    env_free(e);
}

static void test_flow_send_results_server_drop(void **state)
{
    send_results(state, WSIO_BACKPRESSURE_DROP, 0);
}

static void test_flow_send_results_server_close(void **state)
{
    send_results(state, WSIO_BACKPRESSURE_CLOSE, 0);
}

static void test_flow_send_results_server_queue(void **state)
{
    send_results(state, WSIO_BACKPRESSURE_QUEUE, 0);
}

static void test_flow_send_results_client_drop(void **state)
{
    send_results(state, WSIO_BACKPRESSURE_DROP, 1);
}

static void test_flow_send_results_client_close(void **state)
{
    send_results(state, WSIO_BACKPRESSURE_CLOSE, 1);
}

static void test_flow_send_results_client_queue(void **state)
{
    send_results(state, WSIO_BACKPRESSURE_QUEUE, 1);
}

/*
 * A client's own sends queue by default (as a browser's do): 20 messages of
 * 1 MiB sent in one go are all queued and all come back from the echo
 * server, in order. The client keeps reading while its output is over the
 * mark, so the two ends never wait on each other.
 */
static void test_flow_client_queues_its_own_sends(void **state)
{
    env *e = env_new(state);
    if (e->io == ENV_IO_ONE_BYTE) {
        env_free(e);
        skip();
    }
    server_state s = {.echo = 1};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    peer p = {0};
    connect_client(e, srv, NULL, &p);
    RUN_UNTIL(e, p.opened == 1, 5000);
    const size_t len = (size_t)1 << 20;
    uint8_t *msg = malloc(len);
    assert_non_null(msg);
    memset(msg, 'z', len);
    p.expect = msg;
    p.expect_len = len;
    p.expect_op = WSIO_OP_BINARY;
    for (int i = 0; i < 20; i++) {
        /* Over the 1 MiB mark from the first (its header included). */
        assert_int_equal(wsio_ws_send(p.ws, WSIO_OP_BINARY, msg, len),
                         WSIO_SEND_PRESSURE);
    }
    RUN_UNTIL(e, p.nmsg == 20, 20000);
    assert_int_equal(p.mismatch, 0);
    assert_int_equal(s.messages, 20);
    free(msg);
    wsio_server_free(srv);
    RUN_UNTIL(e, p.closed == 1, 5000);
    env_free(e);
}

/* ---- fragments ------------------------------------------------------- */

/*
 * Autobahn 9.3.1-9.3.3 and 9.4.1-9.4.3: a 4 MiB text or binary message in
 * 64-, 256- and 1024-byte fragments, to a server configured as the echo
 * example is (16 MiB messages, defaults otherwise): echoed whole.
 */
static void test_flow_autobahn_9_3_and_9_4_shapes_echo(void **state)
{
    env *e = env_new(state);
    if (e->io == ENV_IO_ONE_BYTE) {
        env_free(e);
        skip();
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.conn.max_message_size = cfg.conn.max_frame_size = (size_t)16 << 20;
    server_state s = {.echo = 1};
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    int fd = raw_ws_connect(e, wsio_server_port(srv));
    const size_t total = (size_t)4 << 20;
    uint8_t *msg = malloc(total);
    assert_non_null(msg);
    for (size_t i = 0; i < total; i++)
        msg[i] = (uint8_t)('a' + i % 26);
    static const size_t frags[] = {64, 256, 1024};
    uint8_t *wire = malloc(total / 64 * (64 + 14));
    assert_non_null(wire);
    rx in = {0};
    for (int op = WSIO_OP_TEXT; op <= WSIO_OP_BINARY; op++) {
        for (size_t k = 0; k < 3; k++) {
            size_t len = 0;
            for (size_t off = 0; off < total; off += frags[k])
                len += client_frame(wire + len, off + frags[k] >= total,
                                    off ? WSIO_OP_CONTINUATION : (unsigned)op,
                                    msg + off, frags[k]);
            assert_int_equal(send_turning(e, fd, wire, len), len);
            wsio_frame_header h;
            const uint8_t *pl = NULL;
            size_t used = 0;
            uint64_t t0 = now_ms();
            while (!rx_frame(&in, &h, &pl, &used) && now_ms() - t0 < 10000) {
                env_turn(e, 2);
                (void)rx_read(&in, fd, 1 << 20);
            }
            assert_true(used > 0);
            assert_int_equal(h.opcode, op);
            assert_int_equal(h.payload_len, total);
            assert_memory_equal(pl, msg, total);
            rx_drop(&in, used);
        }
    }
    assert_int_equal(s.messages, 6);
    assert_int_equal(s.closes, 0);
    free(in.buf);
    free(wire);
    free(msg);
    close(fd);
    wsio_server_free(srv);
    run_for(e, 20);
    env_free(e);
}

/* ---- a second close -------------------------------------------------- */

static int close_on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)s_on_message(ws, m, user);
    return wsio_ws_close(ws, WSIO_CLOSE_NORMAL, "done", 4);
}

/*
 * Issue 16: `return wsio_ws_close(...)` from on_message, with two messages
 * in one read: the second close changes nothing, and the close is clean
 * (1000), not 1011.
 */
static void test_flow_close_returned_twice_is_clean(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    if (e->io != ENV_IO_PLAIN) {
        cfg.transport = &e->io_ops;
        cfg.transport_ctx = e;
    }
    server_state s = {0};
    wsio_ws_callbacks cb = server_cb;
    cb.on_message = close_on_message;
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, &cfg, &cb, NULL, &s, &err);
    assert_non_null(srv);
    int fd = raw_ws_connect(e, wsio_server_port(srv));
    uint8_t frames[64];
    size_t len = client_frame(frames, 1, WSIO_OP_TEXT, "one", 3);
    len += client_frame(frames + len, 1, WSIO_OP_TEXT, "two", 3);
    send_turning(e, fd, frames, len);
    rx in = {0};
    unsigned code = 0;
    uint64_t t0 = now_ms();
    while (!code && now_ms() - t0 < 5000) {
        env_turn(e, 2);
        (void)rx_read(&in, fd, 4096);
        wsio_frame_header h;
        const uint8_t *pl;
        size_t used;
        while (rx_frame(&in, &h, &pl, &used)) {
            assert_int_equal(h.opcode, WSIO_OP_CLOSE);
            code = (unsigned)(pl[0] << 8 | pl[1]);
            rx_drop(&in, used);
        }
    }
    assert_int_equal(code, WSIO_CLOSE_NORMAL);
    len = client_frame(frames, 1, WSIO_OP_CLOSE, "\x03\xe8", 2);
    send_turning(e, fd, frames, len);
    RUN_UNTIL(e, s.closes == 1, 5000);
    assert_int_equal(s.last_close.code, WSIO_CLOSE_NORMAL);
    assert_true(s.last_close.clean);
    assert_int_equal(s.last_close.error, 0);
    free(in.buf);
    close(fd);
    wsio_server_free(srv);
    run_for(e, 20);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_flow_pipelined_echo_loses_nothing),
        {"test_flow_pipelined_echo_loses_nothing/poll:eagain",
         test_flow_pipelined_echo_loses_nothing, NULL, NULL,
         (void *)"poll:eagain"},
        ON_EVERY_LOOP(test_flow_pause_holds_messages_and_resume_delivers),
        ON_PARTIAL_IO(test_flow_pause_holds_messages_and_resume_delivers),
        ON_EVERY_LOOP(test_flow_paused_chatty_peer_survives_heartbeat),
        ON_EVERY_LOOP(test_flow_paused_dead_peer_is_terminated),
        ON_EVERY_LOOP(test_flow_heartbeat_spares_a_peer_reading_our_output),
        ON_EVERY_LOOP(test_flow_send_results_server_drop),
        ON_EVERY_LOOP(test_flow_send_results_server_close),
        ON_EVERY_LOOP(test_flow_send_results_server_queue),
        ON_EVERY_LOOP(test_flow_send_results_client_drop),
        ON_EVERY_LOOP(test_flow_send_results_client_close),
        ON_EVERY_LOOP(test_flow_send_results_client_queue),
        ON_EVERY_LOOP(test_flow_client_queues_its_own_sends),
        ON_PARTIAL_IO(test_flow_client_queues_its_own_sends),
        ON_EVERY_LOOP(test_flow_autobahn_9_3_and_9_4_shapes_echo),
        ON_EVERY_LOOP(test_flow_close_returned_twice_is_clean),
    };
    return cmocka_run_group_tests_name("flow", tests, NULL, NULL);
}

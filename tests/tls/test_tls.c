/*
 * tests/tls/test_tls.c - libwsio-tls on real sockets and every loop mode:
 * wss:// echo round trips with verification on, refusals of certificates
 * that are untrusted or for another host, and hostile peers on the TLS
 * port (garbage, a stalled handshake, plain HTTP), each ended within the
 * handshake timeout while a good client is served; a topic's
 * LATEST_ONLY policy on a slow TLS reader leaves its stream intact (the
 * record OpenSSL holds after a blocked write is never taken back).
 *
 * The certificates come from tests/tls/make_certs.sh, in the directory
 * named by WSIO_TEST_CERTS (tests/tls/run.sh sets it).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "harness.h"
#include "wsio/tls.h"

static char cert_dir[512];

static const char *cert(const char *name)
{
    static char path[4][600];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", cert_dir, name);
    return p;
}

static wsio_tls *server_tls(env *e, const char *name)
{
    char crt[64], key[64];
    snprintf(crt, sizeof crt, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    wsio_tls_config tc;
    wsio_tls_config_default(&tc, WSIO_ROLE_SERVER);
    tc.cert_file = cert(crt);
    tc.key_file = cert(key);
    tc.mem = &e->tm.mem;
    int err = 0;
    wsio_tls *tls = wsio_tls_new(&tc, &err);
    assert_non_null(tls);
    return tls;
}

static wsio_tls *client_tls(env *e, int verify)
{
    wsio_tls_config tc;
    wsio_tls_config_default(&tc, WSIO_ROLE_CLIENT);
    tc.ca_file = cert("ca.pem");
    tc.insecure_no_verify = !verify;
    tc.mem = &e->tm.mem;
    int err = 0;
    wsio_tls *tls = wsio_tls_new(&tc, &err);
    assert_non_null(tls);
    return tls;
}

static wsio_server *tls_server_with(env *e, wsio_tls *tls, server_state *s,
                                    uint32_t handshake_ms, int defer_accept)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.handshake_timeout_ms = handshake_ms;
    cfg.defer_accept = defer_accept;
    cfg.conn.max_message_size = 4u << 20;
    cfg.conn.max_frame_size = 4u << 20;
    cfg.max_output_bytes = 8u << 20;
    wsio_tls_use_in_server(tls, &cfg);
    int err = 0;
    wsio_server *srv =
        wsio_server_new(e->loop, &cfg, &server_cb, NULL, s, &err);
    assert_non_null(srv);
    return srv;
}

static wsio_server *tls_server(env *e, wsio_tls *tls, server_state *s,
                               uint32_t handshake_ms)
{
    return tls_server_with(e, tls, s, handshake_ms, 0);
}

static wsio_ws *tls_client(env *e, wsio_tls *tls, const char *host,
                           uint16_t port, peer *p)
{
    char url[128];
    snprintf(url, sizeof url, "wss://%s:%u/echo", host, (unsigned)port);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.conn.max_message_size = 4u << 20;
    cc.conn.max_frame_size = 4u << 20;
    cc.max_output_bytes = 8u << 20;
    wsio_tls_use_in_client(tls, &cc);
    int err = 0;
    wsio_ws *ws = wsio_client_connect(e->loop, url, &cc, &client_cb, p, &err);
    assert_non_null(ws);
    return ws;
}

/* ---- round trips
 * ------------------------------------------------------------- */

static void test_tls_echo_round_trips_with_verification(void **state)
{
    env *e = env_new(state);
    wsio_tls *stls = server_tls(e, "server");
    wsio_tls *ctls = client_tls(e, 1);
    server_state s = {.echo = 1};
    wsio_server *srv = tls_server(e, stls, &s, 5000);
    /* By IP (the certificate's IP SAN) and by name (SNI + DNS SAN). */
    static const char *hosts[] = {"127.0.0.1", "localhost"};
    /* Small, one record, many records: partial TLS writes both ways. */
    static const size_t sizes[] = {0, 5, 16384, 100000, 3u << 20};
    uint8_t *data = malloc(3u << 20);
    assert_non_null(data);
    for (size_t i = 0; i < (3u << 20); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    for (size_t h = 0; h < 2; h++) {
        peer p;
        memset(&p, 0, sizeof p);
        tls_client(e, ctls, hosts[h], wsio_server_port(srv), &p);
        RUN_UNTIL(e, p.opened || p.closed, 5000);
        assert_true(p.opened);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t before = p.nmsg;
            p.expect = data;
            p.expect_len = sizes[k];
            p.expect_op = WSIO_OP_BINARY;
            assert_true(wsio_ws_send(p.ws, WSIO_OP_BINARY, data, sizes[k]) >=
                        0);
            RUN_UNTIL(e, p.nmsg == before + 1, 10000);
            assert_false(p.mismatch);
        }
        wsio_ws_close(p.ws, 1000, "bye", 3);
        RUN_UNTIL(e, p.closed, 5000);
        assert_int_equal(p.info.code, 1000);
        assert_true(p.info.clean);
    }
    RUN_UNTIL(e, s.closes == 2, 5000);
    assert_int_equal(s.last_close.code, 1000);
    free(data);
    wsio_server_free(srv);
    run_for(e, 20);
    wsio_tls_free(stls);
    wsio_tls_free(ctls);
    env_free(e);
}

/* cfg.defer_accept: the client's hello is there at accept, so the TLS
 * handshake's first step runs inside the accept; the rest still comes
 * through the watch it sets. */
static void test_tls_defer_accept_opens_and_echoes(void **state)
{
    env *e = env_new(state);
    wsio_tls *stls = server_tls(e, "server");
    wsio_tls *ctls = client_tls(e, 1);
    server_state s = {.echo = 1};
    wsio_server *srv = tls_server_with(e, stls, &s, 5000, 1);
    static const size_t sizes[] = {5, 100000};
    static uint8_t data[100000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 5 + 1);
    peer p[2];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 2; i++)
        tls_client(e, ctls, "127.0.0.1", wsio_server_port(srv), &p[i]);
    RUN_UNTIL(e, (p[0].opened || p[0].closed) && (p[1].opened || p[1].closed),
              5000);
    for (int i = 0; i < 2; i++) {
        assert_true(p[i].opened);
        p[i].expect = data;
        p[i].expect_len = sizes[i];
        p[i].expect_op = WSIO_OP_BINARY;
        assert_true(wsio_ws_send(p[i].ws, WSIO_OP_BINARY, data, sizes[i]) >= 0);
    }
    RUN_UNTIL(e, p[0].nmsg == 1 && p[1].nmsg == 1, 10000);
    assert_false(p[0].mismatch || p[1].mismatch);
    for (int i = 0; i < 2; i++)
        wsio_ws_close(p[i].ws, 1000, "bye", 3);
    RUN_UNTIL(e, p[0].closed && p[1].closed, 5000);
    assert_true(p[0].info.clean && p[1].info.clean);
    RUN_UNTIL(e, s.closes == 2, 5000);
    wsio_server_free(srv);
    run_for(e, 20);
    wsio_tls_free(stls);
    wsio_tls_free(ctls);
    env_free(e);
}

/* ---- SNI
 * ---------------------------------------------------------------------- */

/* What a client's first TLS flight says, read by a plain listener: the
 * ClientHello's server_name extension (RFC 6066 section 3) carries the
 * URL's host, which reaches the transport only as an argument of its open;
 * an IP address is never sent there. */
static size_t client_hello_of(env *e, wsio_tls *ctls, const char *host,
                              uint8_t *buf, size_t cap)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
    peer p;
    memset(&p, 0, sizeof p);
    tls_client(e, ctls, host, ntohs(sa.sin_port), &p);
    int fd = -1;
    uint64_t t0 = now_ms();
    while (fd < 0 && now_ms() - t0 < 5000) {
        env_turn(e, 10);
        fd = accept(lfd, NULL, NULL);
    }
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    /* The record header gives the hello's length: read that much. */
    size_t n = 0;
    t0 = now_ms();
    while (now_ms() - t0 < 5000 &&
           (n < 5 || n < 5 + ((size_t)buf[3] << 8 | buf[4])) && n < cap) {
        env_turn(e, 10);
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r > 0)
            n += (size_t)r;
    }
    assert_true(n >= 5 && buf[0] == 22); /* a handshake record */
    close(fd);
    close(lfd);
    RUN_UNTIL(e, p.closed, 5000);
    return n;
}

static int contains(const uint8_t *buf, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(buf + i, s, k) == 0)
            return 1;
    return 0;
}

static void test_tls_client_sends_the_host_as_sni(void **state)
{
    env *e = env_new(state);
    wsio_tls *ctls = client_tls(e, 1);
    static uint8_t hello[4096];
    size_t n = client_hello_of(e, ctls, "localhost", hello, sizeof hello);
    assert_true(contains(hello, n, "localhost"));
    n = client_hello_of(e, ctls, "127.0.0.1", hello, sizeof hello);
    assert_false(contains(hello, n, "127.0.0.1"));
    wsio_tls_free(ctls);
    env_free(e);
}

/* ---- refusals
 * ---------------------------------------------------------------- */

static void expect_refusal(env *e, wsio_tls *ctls, const char *host,
                           uint16_t port, int error)
{
    peer p;
    memset(&p, 0, sizeof p);
    tls_client(e, ctls, host, port, &p);
    RUN_UNTIL(e, p.closed, 5000);
    assert_false(p.opened);
    assert_int_equal(p.info.error, error);
    assert_int_equal(p.info.code, 1015);
}

static void test_tls_client_refuses_wrong_host_and_untrusted_certs(void **state)
{
    env *e = env_new(state);
    wsio_tls *ctls = client_tls(e, 1);
    static const struct {
        const char *cert;
        const char *host;
        int error;
    } cases[] = {
        {"wrong", "127.0.0.1", WSIO_ETLS_HOST}, /* trusted, other host */
        {"wrong", "localhost", WSIO_ETLS_HOST},
        {"self", "127.0.0.1", WSIO_ETLS_CERT}, /* right host, untrusted */
        {"server", "127.0.0.1", 0},            /* the control: it opens */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wsio_tls *stls = server_tls(e, cases[i].cert);
        server_state s = {.echo = 1};
        wsio_server *srv = tls_server(e, stls, &s, 2000);
        if (cases[i].error) {
            expect_refusal(e, ctls, cases[i].host, wsio_server_port(srv),
                           cases[i].error);
            run_for(e, 50);
            assert_int_equal(s.opens, 0); /* on_open never fired */
        } else {
            peer p;
            memset(&p, 0, sizeof p);
            tls_client(e, ctls, cases[i].host, wsio_server_port(srv), &p);
            RUN_UNTIL(e, p.opened, 5000);
            wsio_ws_close(p.ws, 1000, NULL, 0);
            RUN_UNTIL(e, p.closed, 5000);
        }
        wsio_server_free(srv);
        run_for(e, 10);
        wsio_tls_free(stls);
    }
    /* Verification off, explicitly: the self-signed server is accepted. */
    wsio_tls *insecure = client_tls(e, 0);
    wsio_tls *stls = server_tls(e, "self");
    server_state s = {.echo = 1};
    wsio_server *srv = tls_server(e, stls, &s, 2000);
    peer p;
    memset(&p, 0, sizeof p);
    tls_client(e, insecure, "127.0.0.1", wsio_server_port(srv), &p);
    RUN_UNTIL(e, p.opened || p.closed, 5000);
    assert_true(p.opened);
    wsio_ws_close(p.ws, 1000, NULL, 0);
    RUN_UNTIL(e, p.closed, 5000);
    wsio_server_free(srv);
    run_for(e, 10);
    wsio_tls_free(stls);
    wsio_tls_free(insecure);
    wsio_tls_free(ctls);
    env_free(e);
}

static void test_tls_config_errors_are_values(void **state)
{
    env *e = env_new(state);
    wsio_tls_config tc;
    wsio_tls_config_default(&tc, WSIO_ROLE_SERVER);
    tc.mem = &e->tm.mem;
    int err = 0;
    assert_null(wsio_tls_new(&tc, &err)); /* no certificate */
    assert_int_equal(err, WSIO_EINVAL);
    tc.cert_file = cert("server.pem");
    tc.key_file = cert("wrong.key"); /* not this certificate's key */
    assert_null(wsio_tls_new(&tc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    char why[256];
    assert_true(wsio_tls_error_text(why, sizeof why) > 0);
    tc.key_file = cert("missing.key");
    assert_null(wsio_tls_new(&tc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    /* No config, or one not filled by wsio_tls_config_default (ABI). */
    assert_null(wsio_tls_new(NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    tc.key_file = cert("server.key");
    tc.struct_size = 0;
    assert_null(wsio_tls_new(&tc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    /* wss:// needs a TLS transport; a server context in a client fails. */
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    assert_null(wsio_client_connect(e->loop, "wss://127.0.0.1:1/", &cc,
                                    &client_cb, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    wsio_tls *stls = server_tls(e, "server");
    wsio_tls_use_in_client(stls, &cc);
    assert_null(wsio_client_connect(e->loop, "wss://127.0.0.1:1/", &cc,
                                    &client_cb, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    wsio_tls_free(stls);
    env_free(e);
}

/* ---- hostile peers
 * ----------------------------------------------------------- */

static void test_tls_bad_handshakes_end_alone_within_the_timeout(void **state)
{
    env *e = env_new(state);
    wsio_tls *stls = server_tls(e, "server");
    wsio_tls *ctls = client_tls(e, 1);
    server_state s = {.echo = 1};
    wsio_server *srv = tls_server(e, stls, &s, 500);
    uint16_t port = wsio_server_port(srv);
    /* A good client is open throughout. */
    peer good;
    memset(&good, 0, sizeof good);
    tls_client(e, ctls, "127.0.0.1", port, &good);
    RUN_UNTIL(e, good.opened, 5000);

    /* 1: garbage instead of a ClientHello. */
    int garbage = raw_connect(port);
    raw_send(garbage, "\x16\x03\x01\x00\x05garbage and more garbage\r\n");
    /* 2: the start of a ClientHello, then silence. */
    int stalled = raw_connect(port);
    raw_send(stalled, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    /* 3: plain HTTP to the TLS port. */
    int plain = raw_connect(port);
    raw_send(plain, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    /* 4: connects and never sends anything. */
    int silent = raw_connect(port);

    uint64_t t0 = now_ms();
    int fds[] = {garbage, stalled, plain, silent};
    for (size_t i = 0; i < 4; i++) {
        char buf[4096];
        raw_read_all(e, fds[i], buf, sizeof buf); /* asserts EOF within 5 s */
        /* Nothing a plain client could take for HTTP comes back. */
        assert_null(strstr(buf, "HTTP/1.1"));
        close(fds[i]);
    }
    /* Within the handshake timeout, give or take a loop turn. */
    assert_true(now_ms() - t0 < 2500);

    /* The good client still echoes. */
    static const char msg[] = "still here";
    good.expect = (const uint8_t *)msg;
    good.expect_len = sizeof msg - 1;
    good.expect_op = WSIO_OP_TEXT;
    assert_true(wsio_ws_send(good.ws, WSIO_OP_TEXT, msg, sizeof msg - 1) >= 0);
    RUN_UNTIL(e, good.nmsg == 1, 5000);
    assert_false(good.mismatch);
    assert_int_equal(s.opens, 1);
    wsio_ws_close(good.ws, 1000, NULL, 0);
    RUN_UNTIL(e, good.closed, 5000);
    wsio_server_free(srv);
    run_for(e, 10);
    wsio_tls_free(stls);
    wsio_tls_free(ctls);
    env_free(e);
}

/* ---- a slow reader under a topic policy
 * -------------------------------------- */

#define SLOW_MARK (16 * 1024)
#define SLOW_MSG 1024

/* A wss client on OpenSSL itself, so that it reads only when the test
 * does: a non-blocking socket with a small receive buffer. */
static SSL *raw_wss_connect(env *e, SSL_CTX *ctx, uint16_t port, int *fd)
{
    *fd = raw_connect_rcvbuf(port, 4096);
    assert_int_equal(fcntl(*fd, F_SETFL, O_NONBLOCK), 0);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    assert_int_equal(SSL_set_fd(ssl, *fd), 1);
    uint64_t t0 = now_ms();
    int r;
    while ((r = SSL_connect(ssl)) != 1) {
        int err = SSL_get_error(ssl, r);
        assert_true(err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE);
        assert_true(now_ms() - t0 < 5000);
        env_turn(e, 5);
    }
    static const char req[] =
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n";
    assert_int_equal(SSL_write(ssl, req, (int)sizeof req - 1),
                     (int)sizeof req - 1);
    char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    while (!strstr(buf, "\r\n\r\n") && now_ms() - t0 < 5000) {
        env_turn(e, 5);
        r = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
        if (r > 0)
            len += (size_t)r;
        buf[len] = '\0';
    }
    assert_non_null(strstr(buf, "HTTP/1.1 101"));
    /* Exactly the head: nothing was published yet. */
    assert_string_equal(strstr(buf, "\r\n\r\n"), "\r\n\r\n");
    return ssl;
}

/* Read until quiet for 300 ms; return the bytes (malloc'd) and length. */
static uint8_t *wss_read_all(env *e, SSL *ssl, size_t *len)
{
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    *len = 0;
    uint64_t quiet = now_ms();
    while (now_ms() - quiet < 300) {
        env_turn(e, 5);
        int r;
        while ((r = SSL_read(ssl, buf + *len, (int)(cap - *len))) > 0) {
            *len += (size_t)r;
            quiet = now_ms();
            if (*len == cap) {
                cap *= 2;
                buf = realloc(buf, cap);
                assert_non_null(buf);
            }
        }
    }
    return buf;
}

static void test_tls_latest_only_keeps_a_slow_stream_intact(void **state)
{
    env *e = env_new(state);
    wsio_tls *stls = server_tls(e, "server");
    wsio_tls *ctls = client_tls(e, 0);
    server_state s = {.subscribe = "ticks"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_output_bytes = SLOW_MARK;
    wsio_tls_use_in_server(stls, &cfg);
    int err = 0;
    wsio_server *srv =
        wsio_server_new(e->loop, &cfg, &server_cb, NULL, &s, &err);
    assert_non_null(srv);
    assert_int_equal(
        wsio_server_set_topic_policy(srv, "ticks", WSIO_SLOW_LATEST_ONLY), 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    int fd;
    SSL *ssl = raw_wss_connect(e, ctx, wsio_server_port(srv), &fd);
    RUN_UNTIL(e, s.opens == 1, 5000);
    peer fast;
    memset(&fast, 0, sizeof fast);
    tls_client(e, ctls, "127.0.0.1", wsio_server_port(srv), &fast);
    RUN_UNTIL(e, s.opens == 2, 5000);

    /* Publish until the slow reader's messages were replaced a while. */
    static char msg[SLOW_MSG];
    unsigned long sent = 0;
    wsio_topic_stats ts;
    do {
        memset(msg, '.', sizeof msg);
        int n = snprintf(msg, sizeof msg, "%lu ", sent);
        msg[n] = '.';
        assert_int_equal(
            wsio_server_publish(srv, "ticks", WSIO_OP_TEXT, msg, sizeof msg),
            2);
        sent++;
        RUN_UNTIL(e, fast.nmsg == sent, 5000);
        assert_int_equal(wsio_server_get_topic_stats(srv, "ticks", &ts), 0);
    } while (ts.replaced < 200 && sent < 20000);
    assert_int_equal(fast.out_of_order, 0);
    assert_true(ts.replaced >= 200);

    /* Every frame whole, in order, ending with the latest. */
    size_t len;
    uint8_t *buf = wss_read_all(e, ssl, &len);
    size_t pos = 0, frames = 0;
    unsigned long last = 0;
    while (pos < len) {
        wsio_frame_header h;
        ssize_t hl = wsio_frame_header_decode(buf + pos, len - pos, &h);
        assert_true(hl >= 2);
        assert_int_equal(h.opcode, WSIO_OP_TEXT);
        assert_int_equal(h.payload_len, SLOW_MSG);
        assert_true(len - pos - (size_t)hl >= SLOW_MSG);
        unsigned long seq = strtoul((const char *)buf + pos + hl, NULL, 10);
        assert_true(frames == 0 ? seq == 0 : seq > last);
        last = seq;
        frames++;
        pos += (size_t)hl + SLOW_MSG;
    }
    assert_int_equal(last, sent - 1);
    assert_int_equal(frames, sent - ts.replaced);
    free(buf);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    wsio_server_free(srv);
    RUN_UNTIL(e, fast.closed, 5000);
    wsio_tls_free(stls);
    wsio_tls_free(ctls);
    env_free(e);
}

int main(void)
{
    const char *dir = getenv("WSIO_TEST_CERTS");
    if (!dir) {
        fprintf(stderr,
                "test_tls: set WSIO_TEST_CERTS (tests/tls/run.sh does)\n");
        return 1;
    }
    snprintf(cert_dir, sizeof cert_dir, "%s", dir);
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_tls_echo_round_trips_with_verification),
        ON_EVERY_LOOP(test_tls_defer_accept_opens_and_echoes),
        ON_EVERY_LOOP(test_tls_client_sends_the_host_as_sni),
        ON_EVERY_LOOP(test_tls_client_refuses_wrong_host_and_untrusted_certs),
        cmocka_unit_test_prestate(test_tls_config_errors_are_values,
                                  (void *)"poll"),
        ON_EVERY_LOOP(test_tls_bad_handshakes_end_alone_within_the_timeout),
        ON_EVERY_LOOP(test_tls_latest_only_keeps_a_slow_stream_intact),
    };
    return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}

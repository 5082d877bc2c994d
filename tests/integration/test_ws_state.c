/*
 * tests/integration/test_ws_state.c - the connection driver's compact
 * state (src/ws_internal.h), on real sockets and every loop mode:
 *
 * - the peer address is kept binary and written as text only when asked:
 *   the text is what inet_ntop gives for IPv4, IPv6, IPv4-mapped IPv6 and
 *   PROXY-given addresses, in wsio_ws_remote_addr, the upgrade hook and a
 *   kept request; the same pointer every call; "" when there is no memory
 *   for it;
 * - the handshake's state lives in the room of the block where the conn
 *   goes at OPEN: a request (after a PROXY header) in 1-byte pieces, and a
 *   request with frames behind it in the same write, whose rest moves to
 *   the conn;
 * - the block for a negotiated subprotocol (the extras) failing to
 *   allocate gives a 503, never a crash, a leak or a half-open connection.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static const char upgrade_req[] =
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/* A masked text frame "Hello" (RFC 6455 section 5.7). */
static const uint8_t hello_frame[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                      0x7f, 0x9f, 0x4d, 0x51, 0x58};

/* ---- what the server saw ---------------------------------------------------
 */

typedef struct seen {
    server_state s;
    char hook_addr[64]; /* wsio_request_info's in on_upgrade */
    char open_addr[64]; /* wsio_ws_remote_addr in on_open */
    char kept_addr[64]; /* wsio_ws_request(ws)->remote_addr in on_open */
    uint16_t open_port;
    int same_pointer; /* a second call gave the same pointer */
    long fail_text;   /* in on_open: fail this allocation, -1: none */
    test_mem *tm;
} seen;

static int s_upgrade(wsio_server *srv, const wsio_request_info *req,
                     wsio_upgrade_decision *d, void *user)
{
    (void)srv;
    (void)d;
    seen *sn = user;
    snprintf(sn->hook_addr, sizeof sn->hook_addr, "%s", req->remote_addr);
    return 0;
}

static const wsio_server_hooks hooks = {.on_upgrade = s_upgrade};

static void s_open(wsio_ws *ws, void *user)
{
    seen *sn = user;
    if (sn->fail_text >= 0)
        test_mem_fail_at(sn->tm, sn->fail_text);
    const char *a = wsio_ws_remote_addr(ws, &sn->open_port);
    snprintf(sn->open_addr, sizeof sn->open_addr, "%s", a);
    sn->same_pointer = wsio_ws_remote_addr(ws, NULL) == a;
    const wsio_request_info *k = wsio_ws_request(ws);
    if (k)
        snprintf(sn->kept_addr, sizeof sn->kept_addr, "%s", k->remote_addr);
    sn->s.opens++;
    sn->s.last_open = ws;
}

static int s_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    seen *sn = user;
    sn->s.messages++;
    return wsio_ws_send(ws, m->opcode, m->data, m->len) < 0 ? -1 : 0;
}

static wsio_server *start(env *e, wsio_server_config *cfg, seen *sn)
{
    static const wsio_ws_callbacks cb = {.on_open = s_open,
                                         .on_message = s_message};
    memset(sn, 0, sizeof *sn);
    sn->fail_text = -1;
    sn->tm = &e->tm;
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, cfg, &cb, &hooks, sn, &err);
    if (!srv &&
        (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT || err == WSIO_EINVAL) &&
        cfg->host && strchr(cfg->host, ':'))
        return NULL; /* no such IPv6 loopback here */
    assert_non_null(srv);
    return srv;
}

/* Read from fd while the loop turns until `want` is in what came (NUL
 * terminated in buf), at most 5 s. Returns the bytes read. */
static size_t read_until(env *e, int fd, char *buf, size_t cap,
                         const void *want, size_t want_len)
{
    size_t n = 0;
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < 5000 && n < cap - 1) {
        env_turn(e, 5);
        ssize_t r = raw_read(fd, buf + n, cap - 1 - n);
        if (r == 0)
            break;
        if (r > 0)
            n += (size_t)r;
        buf[n] = '\0';
        if (memmem(buf, n, want, want_len))
            break;
    }
    buf[n] = '\0';
    return n;
}

/* The echo of hello_frame, unmasked. */
static const uint8_t hello_echo[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};

/* ---- addresses --------------------------------------------------------------
 */

static uint16_t local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    return ntohs(ss.ss_family == AF_INET
                     ? ((struct sockaddr_in *)&ss)->sin_port
                     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void test_ws_state_ipv4_text_everywhere(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.keep_request = 1;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    int fd = raw_connect(wsio_server_port(srv));
    raw_send(fd, upgrade_req);
    RUN_UNTIL(e, sn.s.opens == 1, 5000);
    assert_string_equal(sn.hook_addr, "127.0.0.1");
    assert_string_equal(sn.open_addr, "127.0.0.1");
    assert_string_equal(sn.kept_addr, "127.0.0.1");
    assert_int_equal(sn.open_port, local_port(fd));
    assert_true(sn.same_pointer);
    close(fd);
    wsio_server_free(srv);
    env_free(e);
}

/* An IPv6 peer, or an IPv4 peer of an IPv6 socket (IPv4-mapped): the text
 * is inet_ntop's of what accept gave. */
static void v6_case(void **state, const char *host, int family,
                    const char *want)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.host = host;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    if (!srv) {
        env_free(e);
        skip();
    }
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(wsio_server_port(srv));
        inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(wsio_server_port(srv));
        inet_pton(AF_INET6, "::1", &a->sin6_addr);
        len = sizeof *a;
    }
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    raw_send(fd, upgrade_req);
    RUN_UNTIL(e, sn.s.opens == 1, 5000);
    assert_string_equal(sn.hook_addr, want);
    assert_string_equal(sn.open_addr, want);
    assert_int_equal(sn.open_port, local_port(fd));
    close(fd);
    wsio_server_free(srv);
    env_free(e);
}

static void test_ws_state_ipv6_text(void **state)
{
    v6_case(state, "::1", AF_INET6, "::1");
}

static void test_ws_state_ipv4_mapped_text(void **state)
{
    /* An IPv6 socket bound to the mapped loopback takes IPv4 peers. */
    v6_case(state, "::ffff:127.0.0.1", AF_INET, "::ffff:127.0.0.1");
}

static void test_ws_state_proxy_addresses_in_1_byte_pieces(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.proxy_protocol = WSIO_PROXY_ANY;
    cfg.keep_request = 1;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    static const struct {
        const char *header, *addr;
        uint16_t port;
    } cases[] = {
        {"PROXY TCP6 2001:db8::7 2001:db8::1 4711 443\r\n", "2001:db8::7",
         4711},
        {"PROXY TCP6 ::ffff:192.0.2.9 ::1 80 443\r\n", "::ffff:192.0.2.9", 80},
        {"PROXY TCP4 203.0.113.7 10.0.0.1 65535 443\r\n", "203.0.113.7", 65535},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int fd = raw_connect(wsio_server_port(srv));
        /* The PROXY header, the request and a frame, a byte at a time:
         * the handshake state in the conn's room grows by each. */
        char all[512];
        size_t n = (size_t)snprintf(all, sizeof all, "%s%s", cases[c].header,
                                    upgrade_req);
        memcpy(all + n, hello_frame, sizeof hello_frame);
        n += sizeof hello_frame;
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(write(fd, all + i, 1), 1);
            env_turn(e, 0);
        }
        RUN_UNTIL(e, sn.s.opens == (int)c + 1, 5000);
        assert_string_equal(sn.hook_addr, cases[c].addr);
        assert_string_equal(sn.open_addr, cases[c].addr);
        assert_string_equal(sn.kept_addr, cases[c].addr);
        assert_int_equal(sn.open_port, cases[c].port);
        char buf[1024];
        size_t got =
            read_until(e, fd, buf, sizeof buf, hello_echo, sizeof hello_echo);
        assert_non_null(strstr(buf, "101 Switching Protocols"));
        assert_non_null(memmem(buf, got, hello_echo, sizeof hello_echo));
        close(fd);
    }
    wsio_server_free(srv);
    env_free(e);
}

static void test_ws_state_text_without_memory_is_empty(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    /* The extras block fails (0), then the text's own block (1): "" and
     * the port all the same; then it works. */
    for (long fail = 0; fail <= 2; fail++) {
        sn.fail_text = fail < 2 ? fail : -1;
        int fd = raw_connect(wsio_server_port(srv));
        raw_send(fd, upgrade_req);
        RUN_UNTIL(e, sn.s.opens == (int)fail + 1, 5000);
        test_mem_fail_at(&e->tm, -1);
        assert_string_equal(sn.open_addr, fail < 2 ? "" : "127.0.0.1");
        assert_int_equal(sn.open_port, local_port(fd));
        /* The connection works on. */
        assert_int_equal(write(fd, hello_frame, sizeof hello_frame),
                         (ssize_t)sizeof hello_frame);
        char buf[1024];
        size_t got =
            read_until(e, fd, buf, sizeof buf, hello_echo, sizeof hello_echo);
        assert_non_null(memmem(buf, got, hello_echo, sizeof hello_echo));
        /* Asked again with memory: the text is there now. */
        assert_string_equal(wsio_ws_remote_addr(sn.s.last_open, NULL),
                            "127.0.0.1");
        close(fd);
    }
    wsio_server_free(srv);
    env_free(e);
}

/* ---- the handshake's rest ---------------------------------------------------
 */

static void test_ws_state_frames_behind_the_request_reach_the_conn(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    /* Whole, and with the request split just before its end so that it
     * is gathered in the handshake state and the frames come with the
     * last piece. */
    for (int split = 0; split < 2; split++) {
        int fd = raw_connect(wsio_server_port(srv));
        uint8_t all[512];
        size_t n = strlen(upgrade_req);
        memcpy(all, upgrade_req, n);
        for (int k = 0; k < 3; k++) {
            memcpy(all + n, hello_frame, sizeof hello_frame);
            n += sizeof hello_frame;
        }
        size_t first = split ? strlen(upgrade_req) - 3 : n;
        assert_int_equal(write(fd, all, first), (ssize_t)first);
        if (split) {
            run_for(e, 20);
            assert_int_equal(write(fd, all + first, n - first),
                             (ssize_t)(n - first));
        }
        RUN_UNTIL(e, sn.s.messages == 3 * (split + 1), 5000);
        char buf[2048];
        uint8_t three[3 * sizeof hello_echo];
        for (int k = 0; k < 3; k++)
            memcpy(three + k * sizeof hello_echo, hello_echo,
                   sizeof hello_echo);
        size_t got = read_until(e, fd, buf, sizeof buf, three, sizeof three);
        assert_non_null(memmem(buf, got, three, sizeof three));
        close(fd);
    }
    wsio_server_free(srv);
    env_free(e);
}

/* ---- the extras without memory ---------------------------------------------
 */

/* A subprotocol is agreed on every connection, so each has an extras
 * block; every allocation from the request on fails in turn: the answer
 * is the 101 and a working connection, or a 503. */
static void test_ws_state_subprotocol_without_memory_503(void **state)
{
    env *e = env_new(state);
    static const char *const protos[] = {"chat"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.subprotocols = protos;
    cfg.num_subprotocols = 1;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    char req[512];
    snprintf(req, sizeof req, "%.*sSec-WebSocket-Protocol: chat\r\n\r\n",
             (int)(strlen(upgrade_req) - 2), upgrade_req);
    int answered_503 = 0, opened = 0;
    for (long fail = 0; fail < 40; fail++) {
        int fd = raw_connect(wsio_server_port(srv));
        run_for(e, 5); /* accepted: only the request's allocations left */
        long before = e->tm.count;
        test_mem_fail_at(&e->tm, fail);
        raw_send(fd, req);
        char buf[1024];
        int opens = sn.s.opens;
        size_t got = read_until(e, fd, buf, sizeof buf, "\r\n\r\n", 4);
        int failed_here = e->tm.count - before > fail;
        test_mem_fail_at(&e->tm, -1);
        if (got == 0) {
            /* The connection's own block (accepted only now, with
             * TCP_DEFER_ACCEPT): closed unanswered, as test_oom allows. */
            assert_true(failed_here);
        } else if (strstr(buf, "503 Service Unavailable")) {
            answered_503++;
            assert_int_equal(sn.s.opens, opens);
        } else {
            assert_non_null(strstr(buf, "101 Switching Protocols"));
            assert_non_null(strstr(buf, "Sec-WebSocket-Protocol: chat"));
            RUN_UNTIL(e, sn.s.opens == opens + 1, 5000);
            assert_string_equal(wsio_ws_subprotocol(sn.s.last_open), "chat");
            opened++;
        }
        close(fd);
        if (!failed_here)
            break; /* past the last allocation: nothing failed */
    }
    assert_true(answered_503 > 0); /* the extras (and others) failed */
    assert_true(opened > 0);       /* and the run past the last one opened */
    wsio_server_free(srv);
    env_free(e);
}

/* ---- both ends, bytes one at a time ---------------------------------------
 */

/* A client and a server agree a subprotocol over a transport that moves
 * one byte per call (or fails with EAGAIN at random): the request and the
 * 101 are written over many turns, so the 101 is still going out after
 * the server's OPEN, and the client gathers the 101 in its handshake
 * state byte by byte; both then hold the subprotocol in their extras. */
static void test_ws_state_both_ends_in_pieces(void **state)
{
    env *e = env_new(state);
    static const char *const protos[] = {"chat"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.subprotocols = protos;
    cfg.num_subprotocols = 1;
    server_state s = {.echo = 1};
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.subprotocols = "other, chat";
    peer p = {.expect = (const uint8_t *)"in pieces",
              .expect_len = 9,
              .expect_op = WSIO_OP_TEXT};
    connect_client(e, srv, &cc, &p);
    RUN_UNTIL(e, p.opened == 1 && s.opens == 1, 5000);
    assert_int_equal(p.http_status, 101);
    assert_int_equal(wsio_ws_http_status(p.ws), 101);
    assert_string_equal(wsio_ws_subprotocol(p.ws), "chat");
    assert_string_equal(wsio_ws_subprotocol(s.last_open), "chat");
    assert_string_equal(wsio_ws_remote_addr(p.ws, NULL), "127.0.0.1");
    assert_string_equal(wsio_ws_remote_addr(s.last_open, NULL), "127.0.0.1");
    assert_true(wsio_ws_send(p.ws, WSIO_OP_TEXT, "in pieces", 9) >= 0);
    RUN_UNTIL(e, p.nmsg == 1, 5000);
    assert_int_equal(p.mismatch, 0);
    wsio_ws_close(p.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, p.closed == 1, 5000);
    wsio_server_free(srv);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_ws_state_ipv4_text_everywhere),
        ON_EVERY_LOOP(test_ws_state_ipv6_text),
        ON_EVERY_LOOP(test_ws_state_ipv4_mapped_text),
        ON_EVERY_LOOP(test_ws_state_proxy_addresses_in_1_byte_pieces),
        ON_EVERY_LOOP(test_ws_state_text_without_memory_is_empty),
        ON_EVERY_LOOP(test_ws_state_frames_behind_the_request_reach_the_conn),
        ON_EVERY_LOOP(test_ws_state_subprotocol_without_memory_503),
        ON_EVERY_LOOP(test_ws_state_both_ends_in_pieces),
        ON_PARTIAL_IO(test_ws_state_both_ends_in_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

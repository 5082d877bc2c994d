/*
 * tests/integration/test_security.c - who may connect and who the server
 * thinks it is talking to, on real sockets and every loop mode: the Origin
 * allow-list, the PROXY protocol header (v1 and v2), and the one
 * forwarding header the operator names (X-Forwarded-For by default, or
 * Forwarded) believed only from trusted proxies.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* ---- what the server saw ---------------------------------------------------
 */

typedef struct seen {
    server_state s; /* the harness's recording (opens, ...) */
    char addr[64];  /* remote address in on_upgrade */
    unsigned port;
    char open_addr[64]; /* wsio_ws_remote_addr in on_open */
} seen;

static int record_upgrade(wsio_server *srv, const wsio_request_info *req,
                          wsio_upgrade_decision *d, void *user)
{
    (void)srv;
    (void)d;
    seen *sn = user;
    snprintf(sn->addr, sizeof sn->addr, "%s", req->remote_addr);
    sn->port = req->remote_port;
    return 0;
}

/* Plain HTTP: answer with the address the server believes, as the body. */
static int answer_addr(wsio_server *srv, const wsio_request_info *req,
                       wsio_http_reply *reply, void *user)
{
    (void)srv;
    seen *sn = user;
    snprintf(sn->addr, sizeof sn->addr, "%s", req->remote_addr);
    sn->port = req->remote_port;
    reply->status = 200;
    reply->body = sn->addr;
    reply->body_len = strlen(sn->addr);
    return 0;
}

static const wsio_server_hooks hooks = {.on_http = answer_addr,
                                        .on_upgrade = record_upgrade};

static void seen_on_open(wsio_ws *ws, void *user)
{
    seen *sn = user;
    snprintf(sn->open_addr, sizeof sn->open_addr, "%s",
             wsio_ws_remote_addr(ws, NULL));
    sn->s.opens++;
}

static wsio_server *start(env *e, wsio_server_config *cfg, seen *sn)
{
    wsio_ws_callbacks cb = server_cb;
    cb.on_open = seen_on_open;
    memset(sn, 0, sizeof *sn);
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, cfg, &cb, &hooks, sn, &err);
    assert_non_null(srv);
    return srv;
}

/* Send raw bytes (a PROXY header, a request) and read the answer to EOF. */
static size_t exchange(env *e, wsio_server *srv, const void *head,
                       size_t head_len, const char *request, char *out,
                       size_t cap)
{
    int fd = raw_connect(wsio_server_port(srv));
    if (head_len)
        assert_int_equal(write(fd, head, head_len), (ssize_t)head_len);
    if (request)
        raw_send(fd, request);
    size_t n = raw_read_all(e, fd, out, cap);
    close(fd);
    return n;
}

static const char get_req[] = "GET /who HTTP/1.1\r\nHost: x\r\n\r\n";

/* ---- Origin
 * ------------------------------------------------------------------ */

static void connect_with_origin(env *e, wsio_server *srv, const char *origin,
                                peer *p)
{
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.origin = origin;
    memset(p, 0, sizeof *p);
    connect_client(e, srv, &cc, p);
    RUN_UNTIL(e, p->opened || p->closed, 5000);
}

static void test_security_origin_listed_connects_other_gets_403(void **state)
{
    env *e = env_new(state);
    static const char *const origins[] = {"https://chat.example.com",
                                          "http://127.0.0.1:8080"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.allowed_origins = origins;
    cfg.num_allowed_origins = 2;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    peer p;
    connect_with_origin(e, srv, "https://chat.example.com", &p);
    assert_true(p.opened);
    assert_int_equal(p.http_status, 101);
    wsio_ws_close(p.ws, 1000, NULL, 0);
    RUN_UNTIL(e, p.closed, 5000);
    /* Scheme and host compare without regard to case. */
    connect_with_origin(e, srv, "HTTP://127.0.0.1:8080", &p);
    assert_true(p.opened);
    wsio_ws_close(p.ws, 1000, NULL, 0);
    RUN_UNTIL(e, p.closed, 5000);
    static const char *const bad[] = {"https://evil.example.net",
                                      "https://chat.example.com:444",
                                      "http://chat.example.com", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        connect_with_origin(e, srv, bad[i], &p);
        assert_false(p.opened);
        assert_int_equal(p.http_status, 403);
    }
    /* Clients without Origin (not browsers) are let through. */
    connect_with_origin(e, srv, NULL, &p);
    assert_true(p.opened);
    wsio_ws_close(p.ws, 1000, NULL, 0);
    RUN_UNTIL(e, p.closed, 5000);
    assert_int_equal(sn.s.opens, 3);
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    assert_int_equal(st.handshakes_rejected, 4);
    wsio_server_free(srv);
    env_free(e);
}

static void
test_security_require_origin_refuses_requests_without_one(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.require_origin = 1;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    peer p;
    connect_with_origin(e, srv, NULL, &p);
    assert_int_equal(p.http_status, 403);
    /* No list: any Origin will do. */
    connect_with_origin(e, srv, "https://anything.example", &p);
    assert_true(p.opened);
    wsio_ws_close(p.ws, 1000, NULL, 0);
    RUN_UNTIL(e, p.closed, 5000);
    assert_int_equal(sn.s.opens, 1);
    wsio_server_free(srv);
    env_free(e);
}

/* ---- PROXY protocol
 * ---------------------------------------------------------- */

static const uint8_t v2_tcp4[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A,
                                  0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11,
                                  0x00, 0x0C, 203,  0,    113,  7,    10,
                                  0,    0,    1,    0x30, 0x39, 0x01, 0xBB};

static void test_security_proxy_header_names_the_client(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.proxy_protocol = WSIO_PROXY_ANY;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    char out[1024];
    /* v1, with the request in the same write. */
    const char *v1 = "PROXY TCP6 2001:db8::7 2001:db8::1 4711 443\r\n";
    exchange(e, srv, v1, strlen(v1), get_req, out, sizeof out);
    assert_non_null(strstr(out, "200 OK"));
    assert_non_null(strstr(out, "\r\n\r\n2001:db8::7"));
    assert_int_equal(sn.port, 4711);
    /* v2, one byte at a time, then a WebSocket upgrade. */
    int fd = raw_connect(wsio_server_port(srv));
    for (size_t i = 0; i < sizeof v2_tcp4; i++) {
        assert_int_equal(write(fd, v2_tcp4 + i, 1), 1);
        run_for(e, 2);
    }
    raw_send(fd, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    RUN_UNTIL(e, sn.s.opens == 1, 5000);
    assert_string_equal(sn.open_addr, "203.0.113.7");
    assert_int_equal(sn.port, 12345);
    close(fd);
    /* LOCAL (a health check): the socket's own address stays. */
    uint8_t local[16];
    memcpy(local, v2_tcp4, 16);
    local[12] = 0x20;
    local[13] = 0x00;
    local[14] = local[15] = 0;
    exchange(e, srv, local, sizeof local, get_req, out, sizeof out);
    assert_non_null(strstr(out, "\r\n\r\n127.0.0.1"));
    wsio_server_free(srv);
    env_free(e);
}

static void
test_security_proxy_listener_drops_connections_without_header(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.proxy_protocol = WSIO_PROXY_V2;
    cfg.handshake_timeout_ms = 300;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    char out[1024];
    /* Plain HTTP, or a v1 header on a v2 listener: closed, no answer. */
    assert_int_equal(exchange(e, srv, NULL, 0, get_req, out, sizeof out), 0);
    const char *v1 = "PROXY TCP4 203.0.113.7 10.0.0.1 1 443\r\n";
    assert_int_equal(exchange(e, srv, v1, strlen(v1), get_req, out, sizeof out),
                     0);
    /* Half a header and silence: the handshake timeout ends it. */
    uint64_t t0 = now_ms();
    assert_int_equal(exchange(e, srv, v2_tcp4, 10, NULL, out, sizeof out), 0);
    assert_true(now_ms() - t0 < 3000);
    /* A good client after all that is still served. */
    exchange(e, srv, v2_tcp4, sizeof v2_tcp4, get_req, out, sizeof out);
    assert_non_null(strstr(out, "\r\n\r\n203.0.113.7"));
    assert_int_equal(sn.s.opens, 0);
    wsio_server_free(srv);
    env_free(e);
}

/* ---- forwarding headers ----------------------------------------------------
 */

typedef struct fwd_case {
    const char *headers;  /* extra request header lines */
    const char *believed; /* the address the server must report */
} fwd_case;

static void run_forwarded_cases(env *e, wsio_server *srv, const fwd_case *cases,
                                size_t n)
{
    char out[2048], req[512];
    for (size_t i = 0; i < n; i++) {
        snprintf(req, sizeof req, "GET /who HTTP/1.1\r\nHost: x\r\n%s\r\n",
                 cases[i].headers);
        exchange(e, srv, NULL, 0, req, out, sizeof out);
        char *body = strstr(out, "\r\n\r\n");
        assert_non_null(body);
        assert_string_equal(body + 4, cases[i].believed);
    }
}

static void
test_security_forwarded_headers_believed_from_trusted_proxy(void **state)
{
    env *e = env_new(state);
    static const char *const trusted[] = {"10.0.0.0/8", "127.0.0.1"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.trusted_proxies = trusted;
    cfg.num_trusted_proxies = 2;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    static const fwd_case cases[] = {
        {"X-Forwarded-For: 198.51.100.9\r\n", "198.51.100.9"},
        /* The nearest untrusted hop, not what the client wrote first. */
        {"X-Forwarded-For: 1.1.1.1, 198.51.100.9, 10.1.2.3\r\n",
         "198.51.100.9"},
        {"X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 198.51.100.9\r\n",
         "198.51.100.9"},
        {"X-Forwarded-For: 2001:DB8::9\r\n", "2001:db8::9"},
        /* The default header is X-Forwarded-For: a Forwarded header the
         * client wrote (and the proxy passed on) is not read at all. */
        {"X-Forwarded-For: 203.0.113.7\r\nForwarded: for=6.6.6.6\r\n",
         "203.0.113.7"},
        {"Forwarded: for=192.0.2.60\r\n", "127.0.0.1"},
        /* Every hop trusted: the farthest one. */
        {"X-Forwarded-For: 10.9.9.9, 10.1.1.1\r\n", "10.9.9.9"},
        /* Garbage or "unknown": nothing is believed. */
        {"X-Forwarded-For: not-an-ip\r\n", "127.0.0.1"},
        {"Forwarded: for=unknown\r\n", "127.0.0.1"},
        {"", "127.0.0.1"},
    };
    run_forwarded_cases(e, srv, cases, sizeof cases / sizeof cases[0]);
    /* And the WebSocket's own address. */
    int fd = raw_connect(wsio_server_port(srv));
    raw_send(fd, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 "X-Forwarded-For: 198.51.100.77\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    RUN_UNTIL(e, sn.s.opens == 1, 5000);
    assert_string_equal(sn.open_addr, "198.51.100.77");
    close(fd);
    wsio_server_free(srv);
    env_free(e);
}

/* The operator names Forwarded: then X-Forwarded-For is the one ignored;
 * or neither. */
static void test_security_forwarded_header_chosen_by_operator(void **state)
{
    env *e = env_new(state);
    static const char *const trusted[] = {"10.0.0.0/8", "127.0.0.1"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.trusted_proxies = trusted;
    cfg.num_trusted_proxies = 2;
    cfg.forwarded_header = WSIO_FORWARDED_RFC7239;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    static const fwd_case rfc7239[] = {
        {"Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43\r\n",
         "192.0.2.60"},
        {"Forwarded: for=\"[2001:db8:cafe::17]:4711\", for=10.0.0.5\r\n",
         "2001:db8:cafe::17"},
        /* Rightmost untrusted: what the client wrote first is skipped. */
        {"Forwarded: for=6.6.6.6, for=192.0.2.61, for=10.0.0.5\r\n",
         "192.0.2.61"},
        {"Forwarded: For=192.0.2.61\r\nX-Forwarded-For: 6.6.6.6\r\n",
         "192.0.2.61"},
        {"X-Forwarded-For: 203.0.113.7\r\n", "127.0.0.1"},
        /* An element without "for" breaks the chain: nothing believed. */
        {"Forwarded: for=192.0.2.61, proto=https\r\n", "127.0.0.1"},
    };
    run_forwarded_cases(e, srv, rfc7239, sizeof rfc7239 / sizeof rfc7239[0]);
    wsio_server_free(srv);
    cfg.forwarded_header = WSIO_FORWARDED_NONE;
    srv = start(e, &cfg, &sn);
    static const fwd_case none[] = {
        {"X-Forwarded-For: 203.0.113.7\r\n", "127.0.0.1"},
        {"Forwarded: for=192.0.2.61\r\n", "127.0.0.1"},
    };
    run_forwarded_cases(e, srv, none, 2);
    wsio_server_free(srv);
    env_free(e);
}

static void
test_security_forwarded_headers_ignored_from_untrusted_peer(void **state)
{
    env *e = env_new(state);
    /* The test's own connections come from 127.0.0.1, not trusted here. */
    static const char *const trusted[] = {"10.0.0.0/8", "::1"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.trusted_proxies = trusted;
    cfg.num_trusted_proxies = 2;
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    static const fwd_case cases[] = {
        {"X-Forwarded-For: 198.51.100.9\r\n", "127.0.0.1"},
        {"Forwarded: for=192.0.2.60\r\n", "127.0.0.1"},
    };
    run_forwarded_cases(e, srv, cases, 2);
    wsio_server_free(srv);
    cfg.forwarded_header = WSIO_FORWARDED_RFC7239;
    srv = start(e, &cfg, &sn);
    run_forwarded_cases(e, srv, cases, 2);
    wsio_server_free(srv);
    /* Without a trusted list the headers mean nothing at all. */
    wsio_server_config_default(&cfg);
    srv = start(e, &cfg, &sn);
    run_forwarded_cases(e, srv, cases, 2);
    wsio_server_free(srv);
    /* A malformed list is refused when the server is made. */
    static const char *const bad[] = {"10.0.0.0/33"};
    cfg.trusted_proxies = bad;
    cfg.num_trusted_proxies = 1;
    int err = 0;
    assert_null(wsio_server_new(e->loop, &cfg, &server_cb, NULL, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    env_free(e);
}

/* ---- a request body on an upgrade ------------------------------------------
 */

/* RFC 6455 section 4.1: the handshake is a GET with no body. A body's
 * bytes must never be taken as frames (they would be a message the HTTP
 * layer, or a proxy in front, saw as part of the request). */
static void test_security_upgrade_with_body_gets_400(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    /* A masked text frame "hi": what a smuggler would hide in the body. */
    static const char frame[] = "\x81\x82\x01\x02\x03\x04\x69\x6b";
    static const char *const bodies[] = {
        "Content-Length: 8\r\n\r\n",
        "Transfer-Encoding: chunked\r\n\r\n8\r\n",
        "Content-Length: 0\r\nContent-Length: 8\r\n\r\n",
        "Content-Length: 08\r\n\r\n",
    };
    char req[512], out[2048];
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        snprintf(req, sizeof req,
                 "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s%s",
                 bodies[i], frame);
        exchange(e, srv, NULL, 0, req, out, sizeof out);
        assert_non_null(strstr(out, "HTTP/1.1 400"));
        assert_non_null(strstr(out, "upgrade request has a body"));
    }
    assert_int_equal(sn.s.opens, 0);
    assert_int_equal(sn.s.messages, 0);
    /* "Content-Length: 0" is no body: the frame after it is a message. */
    int fd = raw_connect(wsio_server_port(srv));
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Content-Length: 0\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n%s",
             frame);
    raw_send(fd, req);
    RUN_UNTIL(e, sn.s.messages == 1, 5000);
    assert_int_equal(sn.s.opens, 1);
    close(fd);
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    assert_int_equal(st.handshakes_rejected, 4);
    wsio_server_free(srv);
    env_free(e);
}

/* ---- HEAD
 * --------------------------------------------------------------------- */

/* RFC 9110 section 9.3.2: the head of GET's answer, no content, on every
 * route (the hook's page, its 404, the default 404). A body after a HEAD
 * answer would be read by a keep-alive proxy as the next response. */
static void test_security_head_is_answered_without_a_body(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    seen sn;
    wsio_server *srv = start(e, &cfg, &sn);
    char get[2048], head[2048];
    exchange(e, srv, NULL, 0, get_req, get, sizeof get);
    exchange(e, srv, NULL, 0, "HEAD /who HTTP/1.1\r\nHost: x\r\n\r\n", head,
             sizeof head);
    char *get_end = strstr(get, "\r\n\r\n");
    assert_non_null(get_end);
    assert_true(strlen(get_end + 4) > 0); /* GET has its body */
    /* HEAD: exactly GET's head (Content-Length included), nothing after. */
    size_t head_len = (size_t)(get_end + 4 - get);
    assert_int_equal(strlen(head), head_len);
    assert_memory_equal(head, get, head_len);
    wsio_server_free(srv);
    /* Without an on_http hook: the default 404. */
    srv = wsio_server_new(e->loop, &cfg, &server_cb, NULL, &sn, NULL);
    assert_non_null(srv);
    exchange(e, srv, NULL, 0, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", head,
             sizeof head);
    assert_non_null(strstr(head, "HTTP/1.1 404"));
    assert_non_null(strstr(head, "Content-Length: 10\r\n"));
    assert_int_equal(strlen(strstr(head, "\r\n\r\n")), 4);
    wsio_server_free(srv);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_security_origin_listed_connects_other_gets_403),
        ON_EVERY_LOOP(
            test_security_require_origin_refuses_requests_without_one),
        ON_EVERY_LOOP(test_security_proxy_header_names_the_client),
        ON_EVERY_LOOP(
            test_security_proxy_listener_drops_connections_without_header),
        ON_EVERY_LOOP(
            test_security_forwarded_headers_believed_from_trusted_proxy),
        ON_EVERY_LOOP(test_security_forwarded_header_chosen_by_operator),
        ON_EVERY_LOOP(
            test_security_forwarded_headers_ignored_from_untrusted_peer),
        ON_EVERY_LOOP(test_security_upgrade_with_body_gets_400),
        ON_EVERY_LOOP(test_security_head_is_answered_without_a_body),
    };
    return cmocka_run_group_tests_name("security", tests, NULL, NULL);
}

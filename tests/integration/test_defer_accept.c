/*
 * tests/integration/test_defer_accept.c - cfg.defer_accept: the kernel
 * hands a connection over once its first bytes arrived, and the server
 * reads it at accept instead of after a readiness round. Each request
 * shape a client can send must still be answered: whole, whole with a
 * first frame behind it, in pieces, malformed, over max_connections,
 * behind a PROXY header, and not at all (silent sockets still end). Every test
 * runs on poll, epoll and the host loop; every wait is bounded.
 */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define REQUEST                                                                \
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"                      \
    "Connection: Upgrade\r\n"                                                  \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                          \
    "Sec-WebSocket-Version: 13\r\n\r\n"

static wsio_server *start_deferred(env *e, wsio_server_config *cfg,
                                   server_state *s)
{
    cfg->defer_accept = 1;
    return start_server(e, cfg, NULL, s);
}

/* Read from fd until want bytes came or the peer ended; bounded. */
static size_t read_until(env *e, int fd, char *buf, size_t cap, size_t want)
{
    size_t len = 0;
    uint64_t t0 = now_ms();
    while (len < want && len < cap - 1 && now_ms() - t0 < 5000) {
        env_turn(e, 5);
        ssize_t n = raw_read(fd, buf + len, cap - 1 - len);
        if (n == 0)
            break;
        if (n > 0)
            len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

static void test_defer_accept_clients_open_and_echo(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    server_state s = {.echo = 1};
    wsio_server *srv = start_deferred(e, &cfg, &s);
    static const uint8_t hello[] = "hello";
    peer p[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        p[i].expect = hello;
        p[i].expect_len = 5;
        p[i].expect_op = WSIO_OP_TEXT;
        connect_client(e, srv, NULL, &p[i]);
    }
    RUN_UNTIL(e, p[0].opened && p[1].opened && p[2].opened && p[3].opened,
              5000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(wsio_ws_send(p[i].ws, WSIO_OP_TEXT, hello, 5),
                         WSIO_SEND_QUEUED);
    RUN_UNTIL(e, p[0].nmsg + p[1].nmsg + p[2].nmsg + p[3].nmsg == 4, 5000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(p[i].mismatch, 0);
    assert_int_equal(s.opens, 4);
    wsio_server_free(srv);
    RUN_UNTIL(e, p[0].closed && p[1].closed && p[2].closed && p[3].closed,
              5000);
    env_free(e);
}

/* The request and a first frame in one write: the frame is read at accept
 * with the request, so on_open and the echo run inside the accept. */
static void test_defer_accept_first_frame_with_the_request(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    server_state s = {.echo = 1};
    wsio_server *srv = start_deferred(e, &cfg, &s);
    int fd = raw_connect(wsio_server_port(srv));
    /* "hi", text, masked with a zero key (section 5.3 asks for a mask,
     * not for a particular one). */
    static const char frame[] = "\x81\x82\0\0\0\0hi";
    char out[sizeof REQUEST - 1 + sizeof frame - 1];
    memcpy(out, REQUEST, sizeof REQUEST - 1);
    memcpy(out + sizeof REQUEST - 1, frame, sizeof frame - 1);
    assert_int_equal(write(fd, out, sizeof out), (ssize_t)sizeof out);
    char buf[512];
    size_t len = read_until(e, fd, buf, sizeof buf, 1);
    char *end = strstr(buf, "\r\n\r\n");
    while (!end || (size_t)(buf + len - (end + 4)) < 4) {
        size_t more = read_until(e, fd, buf + len, sizeof buf - len, 1);
        assert_true(more > 0);
        len += more;
        end = strstr(buf, "\r\n\r\n");
    }
    assert_non_null(strstr(buf, "HTTP/1.1 101"));
    assert_memory_equal(end + 4, "\x81\x02hi", 4);
    assert_int_equal(s.opens, 1);
    assert_int_equal(s.messages, 1);
    close(fd);
    RUN_UNTIL(e, s.closes == 1, 5000);
    wsio_server_free(srv);
    env_free(e);
}

/* Only the first byte arrives before the accept: the rest comes through
 * the watch the end of the turn sets. */
static void test_defer_accept_request_in_pieces(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    server_state s = {0};
    wsio_server *srv = start_deferred(e, &cfg, &s);
    int fd = raw_connect(wsio_server_port(srv));
    const char *req = REQUEST;
    size_t n = strlen(req);
    assert_int_equal(write(fd, req, 1), 1);
    run_for(e, 50); /* accepted with one byte */
    for (size_t off = 1; off < n; off += 16) {
        size_t k = n - off < 16 ? n - off : 16;
        assert_int_equal(write(fd, req + off, k), (ssize_t)k);
        run_for(e, 2);
    }
    char buf[512];
    read_until(e, fd, buf, sizeof buf, 12);
    assert_non_null(strstr(buf, "HTTP/1.1 101"));
    RUN_UNTIL(e, s.opens == 1, 5000);
    close(fd);
    RUN_UNTIL(e, s.closes == 1, 5000);
    wsio_server_free(srv);
    env_free(e);
}

static void test_defer_accept_bad_request_gets_400(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    server_state s = {0};
    wsio_server *srv = start_deferred(e, &cfg, &s);
    int fd = raw_connect(wsio_server_port(srv));
    raw_send(fd, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n");
    char buf[512];
    size_t len = read_until(e, fd, buf, sizeof buf, sizeof buf);
    assert_true(len > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 400"));
    assert_int_equal(s.opens, 0);
    close(fd);
    wsio_server_free(srv);
    env_free(e);
}

static void test_defer_accept_over_max_connections_gets_503(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_connections = 1;
    server_state s = {0};
    wsio_server *srv = start_deferred(e, &cfg, &s);
    int first = raw_ws_connect(e, wsio_server_port(srv));
    RUN_UNTIL(e, s.opens == 1, 5000);
    int fd = raw_connect(wsio_server_port(srv));
    raw_send(fd, REQUEST);
    char buf[512];
    size_t len = read_until(e, fd, buf, sizeof buf, sizeof buf);
    assert_true(len > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 503"));
    assert_int_equal(s.opens, 1);
    close(fd);
    close(first);
    RUN_UNTIL(e, s.closes == 1, 5000);
    wsio_server_free(srv);
    env_free(e);
}

/* A PROXY listener reads its header on readiness, as without
 * defer_accept; the header and the request come in one write. */
static void test_defer_accept_proxy_header_then_request(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.proxy_protocol = WSIO_PROXY_V1;
    server_state s = {0};
    wsio_server *srv = start_deferred(e, &cfg, &s);
    int fd = raw_connect(wsio_server_port(srv));
    raw_send(fd, "PROXY TCP4 203.0.113.7 10.0.0.1 1 443\r\n" REQUEST);
    char buf[512];
    read_until(e, fd, buf, sizeof buf, 12);
    assert_non_null(strstr(buf, "HTTP/1.1 101"));
    RUN_UNTIL(e, s.opens == 1, 5000);
    assert_string_equal(wsio_ws_remote_addr(s.last_open, NULL), "203.0.113.7");
    close(fd);
    RUN_UNTIL(e, s.closes == 1, 5000);
    wsio_server_free(srv);
    env_free(e);
}

/* A socket that never speaks waits in the kernel, is handed over after
 * about the handshake timeout (rounded up to a second, then to the
 * kernel's SYN-ACK retry), and the handshake timeout ends it then: it
 * cannot stay forever. */
static void test_defer_accept_silent_socket_still_ends(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.handshake_timeout_ms = 100;
    server_state s = {0};
    wsio_server *srv = start_deferred(e, &cfg, &s);
    int fd = raw_connect(wsio_server_port(srv));
    char buf[64];
    uint64_t t0 = now_ms();
    ssize_t n = -1;
    while (n == -1 && now_ms() - t0 < 8000) {
        env_turn(e, 10);
        n = raw_read(fd, buf, sizeof buf);
    }
    assert_int_equal(n, 0); /* EOF, nothing said */
    assert_int_equal(s.opens, 0);
    close(fd);
    wsio_server_free(srv);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_defer_accept_clients_open_and_echo),
        ON_PARTIAL_IO(test_defer_accept_clients_open_and_echo),
        ON_EVERY_LOOP(test_defer_accept_first_frame_with_the_request),
        ON_EVERY_LOOP(test_defer_accept_request_in_pieces),
        ON_PARTIAL_IO(test_defer_accept_request_in_pieces),
        ON_EVERY_LOOP(test_defer_accept_bad_request_gets_400),
        ON_PARTIAL_IO(test_defer_accept_bad_request_gets_400),
        ON_EVERY_LOOP(test_defer_accept_over_max_connections_gets_503),
        ON_PARTIAL_IO(test_defer_accept_over_max_connections_gets_503),
        ON_EVERY_LOOP(test_defer_accept_proxy_header_then_request),
        ON_PARTIAL_IO(test_defer_accept_proxy_header_then_request),
        ON_EVERY_LOOP(test_defer_accept_silent_socket_still_ends),
    };
    return cmocka_run_group_tests_name("defer_accept", tests, NULL, NULL);
}

/*
 * tests/integration/test_hostile.c - clients that attack the server, each
 * while a well-behaved wsio client is connected. For every attack the test
 * checks what the attacker gets (an HTTP status, a close code, or a closed
 * socket within the configured timeout) and that the good client is still
 * served afterwards. Every test runs on poll, epoll and host loop mode.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* A running echo server with one good client connected. */
typedef struct arena {
    env *e;
    server_state s;
    wsio_server *srv;
    peer good;
    unsigned long sent;
} arena;

static void arena_open(arena *a, void **state, wsio_server_config *cfg)
{
    memset(a, 0, sizeof *a);
    a->e = env_new(state);
    a->s.echo = 1;
    a->srv = start_server(a->e, cfg, NULL, &a->s);
    connect_client(a->e, a->srv, NULL, &a->good);
    RUN_UNTIL(a->e, a->good.opened == 1, 5000);
}

/* The good client sends a numbered message and gets it back. */
static void good_client_is_served(arena *a)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lu", a->sent++);
    assert_true(wsio_ws_send(a->good.ws, WSIO_OP_TEXT, buf, (size_t)n) >= 0);
    RUN_UNTIL(a->e, a->good.nmsg == a->sent, 5000);
    assert_int_equal(a->good.out_of_order, 0);
}

static void arena_close(arena *a)
{
    wsio_server_free(a->srv);
    RUN_UNTIL(a->e, a->good.closed == 1, 5000);
    env_free(a->e);
}

/* Send len bytes without blocking the loop: turn it while the socket is
 * full. Stops early when the server closes; returns the bytes sent. */
static size_t send_while_turning(env *e, int fd, const void *data, size_t len)
{
    size_t off = 0;
    uint64_t t0 = now_ms();
    while (off < len && now_ms() - t0 < 10000) {
        ssize_t n = send(fd, (const char *)data + off, len - off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            break; /* EPIPE, ECONNRESET: the server hung up */
        env_turn(e, 5);
    }
    return off;
}

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
    wsio_mask_copy(out + n, payload, len, h.mask_key, 0);
    return (size_t)n + len;
}

/* The payload of the last pong read_until_close saw, NUL-terminated. */
static char last_pong[WSIO_CONTROL_PAYLOAD_MAX + 1];

/* Read server frames until a close frame or EOF (at most 5 s, turning the
 * loop); counts pongs, returns the close code (0 for EOF without one). */
static unsigned read_until_close(env *e, int fd, size_t *pongs)
{
    static uint8_t buf[1 << 16];
    size_t len = 0;
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < 5000) {
        env_turn(e, 5);
        ssize_t n = raw_read(fd, (char *)buf + len, sizeof buf - len);
        if (n == 0)
            return 0;
        if (n > 0)
            len += (size_t)n;
        wsio_frame_header h;
        ssize_t hl;
        while ((hl = wsio_frame_header_decode(buf, len, &h)) > 0 &&
               len >= (size_t)hl + h.payload_len) {
            size_t total = (size_t)hl + (size_t)h.payload_len;
            if (h.opcode == WSIO_OP_CLOSE)
                return h.payload_len >= 2
                           ? (unsigned)(buf[hl] << 8 | buf[hl + 1])
                           : WSIO_CLOSE_NO_STATUS;
            if (h.opcode == WSIO_OP_PONG && pongs) {
                (*pongs)++;
                memcpy(last_pong, buf + hl, (size_t)h.payload_len);
                last_pong[h.payload_len] = '\0';
            }
            memmove(buf, buf + total, len - total);
            len -= total;
        }
    }
    fail_msg("no close frame or EOF within 5 s");
    return 0;
}

/* Wait for EOF on fd (at most limit_ms), turning the loop; returns the
 * milliseconds it took. */
static uint64_t wait_eof(env *e, int fd, uint64_t limit_ms)
{
    char buf[4096];
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < limit_ms) {
        env_turn(e, 5);
        ssize_t n;
        while ((n = raw_read(fd, buf, sizeof buf)) > 0)
            ;
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return now_ms() - t0;
    }
    fail_msg("socket still open after %llu ms", (unsigned long long)limit_ms);
    return 0;
}

/* ---- slowloris -------------------------------------------------------------
 */

static void test_hostile_trickled_handshake_is_cut_at_the_timeout(void **state)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.handshake_timeout_ms = 300;
    arena a;
    arena_open(&a, state, &cfg);
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nX-Slow: slow slow slow\r\n\r\n";
    int fd = raw_connect(wsio_server_port(a.srv));
    uint64_t t0 = now_ms();
    size_t sent = 0;
    /* One byte every 40 ms: the whole request would take about 3 s. */
    while (sent < strlen(req) &&
           send(fd, req + sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
        sent++;
        run_for(a.e, 40);
        char c;
        if (raw_read(fd, &c, 1) == 0)
            break;
    }
    wait_eof(a.e, fd, 2000);
    uint64_t took = now_ms() - t0;
    assert_true(sent < strlen(req));
    assert_true(took >= 250 && took < 2000);
    assert_int_equal(a.s.opens, 1); /* the good client only */
    close(fd);
    good_client_is_served(&a);
    arena_close(&a);
}

static void test_hostile_silent_sockets_are_closed_at_the_timeout(void **state)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.handshake_timeout_ms = 300;
    arena a;
    arena_open(&a, state, &cfg);
    enum { N = 100 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(wsio_server_port(a.srv));
    good_client_is_served(&a); /* while they sit there */
    for (int i = 0; i < N; i++) {
        wait_eof(a.e, fds[i], 2000);
        close(fds[i]);
    }
    good_client_is_served(&a);
    arena_close(&a);
}

/* ---- header floods
 * ------------------------------------------------------------ */

/* Send head (which never ends) and expect 431 and a closed socket. */
static void expect_431(arena *a, const char *head, size_t len)
{
    int fd = raw_connect(wsio_server_port(a->srv));
    size_t sent = send_while_turning(a->e, fd, head, len);
    /* The server stops reading at its 8 KiB limit and answers. */
    assert_true(sent >= 8192);
    char buf[1024];
    raw_read_all(a->e, fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 431"));
    close(fd);
    good_client_is_served(a);
}

static void test_hostile_header_floods_get_431(void **state)
{
    arena a;
    arena_open(&a, state, NULL);
    size_t cap = (size_t)1 << 20;
    char *flood = malloc(cap);
    assert_non_null(flood);

    /* 1 MiB of headers. */
    size_t len = (size_t)sprintf(flood, "GET / HTTP/1.1\r\nHost: x\r\n");
    while (len + 64 < cap)
        len += (size_t)sprintf(flood + len, "X-Flood-%zu: %s\r\n", len,
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    expect_431(&a, flood, len);

    /* 10 000 tiny headers: the count limit (64) comes first. */
    len = (size_t)sprintf(flood, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 10000; i++)
        len += (size_t)sprintf(flood + len, "A: b\r\n");
    int fd = raw_connect(wsio_server_port(a.srv));
    send_while_turning(a.e, fd, flood, len);
    char buf[1024];
    raw_read_all(a.e, fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 431"));
    close(fd);

    /* One 100 KiB line. */
    len = (size_t)sprintf(flood, "GET /");
    memset(flood + len, 'a', 100 * 1024);
    len += 100 * 1024;
    expect_431(&a, flood, len);

    free(flood);
    assert_int_equal(a.s.opens, 1); /* the good client only */
    arena_close(&a);
}

/* ---- frame floods
 * ---------------------------------------------------------------- */

static void test_hostile_length_with_top_bit_gets_1002(void **state)
{
    arena a;
    arena_open(&a, state, NULL);
    int fd = raw_ws_connect(a.e, wsio_server_port(a.srv));
    /* Binary, 64-bit length 2^63 + 1: section 5.2 says the top bit MUST be
     * 0. */
    static const uint8_t frame[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0,
                                    0,    0,    1,    1, 2, 3, 4};
    send_while_turning(a.e, fd, frame, sizeof frame);
    assert_int_equal(read_until_close(a.e, fd, NULL), 1002);
    wait_eof(a.e, fd, 2000);
    close(fd);
    good_client_is_served(&a);
    arena_close(&a);
}

static void test_hostile_endless_continuations_get_1009(void **state)
{
    arena a;
    arena_open(&a, state, NULL);
    int fd = raw_ws_connect(a.e, wsio_server_port(a.srv));
    /* A text message that never ends, in 1-byte fragments: each is charged
     * 64 bytes against the 1 MiB message limit, so the 16385th fails. */
    enum { N = 20000 };
    uint8_t *flood = malloc(N * 8);
    assert_non_null(flood);
    size_t len = client_frame(flood, 0, WSIO_OP_TEXT, "a", 1);
    for (int i = 1; i < N; i++)
        len += client_frame(flood + len, 0, WSIO_OP_CONTINUATION, "a", 1);
    send_while_turning(a.e, fd, flood, len);
    free(flood);
    assert_int_equal(read_until_close(a.e, fd, NULL), 1009);
    wait_eof(a.e, fd, 2000);
    close(fd);
    assert_int_equal(a.s.messages, 0);
    good_client_is_served(&a);
    arena_close(&a);
}

/* Section 5.5.3: while our output is not keeping up, pongs that have not
 * left yet answer only the latest ping; the latest is always answered. */
static void test_hostile_ping_burst_gets_the_latest_pong(void **state)
{
    arena a;
    arena_open(&a, state, NULL);
    int fd = raw_ws_connect(a.e, wsio_server_port(a.srv));
    enum { N = 10000 };
    uint8_t *burst = malloc(N * 12 + 16);
    assert_non_null(burst);
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        char seq[8];
        int k = snprintf(seq, sizeof seq, "%d", i);
        len += client_frame(burst + len, 1, WSIO_OP_PING, seq, (size_t)k);
    }
    len += client_frame(burst + len, 1, WSIO_OP_CLOSE, "\x03\xe8", 2);
    send_while_turning(a.e, fd, burst, len);
    free(burst);
    size_t pongs = 0;
    assert_int_equal(read_until_close(a.e, fd, &pongs), 1000);
    assert_true(pongs >= 1 && pongs <= N);
    assert_int_equal(atoi(last_pong), N - 1);
    close(fd);
    good_client_is_served(&a);
    arena_close(&a);
}

/* MiB of pings (ASan included: about 8 s for all three loop modes). */
#define FLOOD_MIB 256

/*
 * 256 MiB of 125-byte pings from a client that never reads (4 KiB
 * receive buffer): the server answers only the latest ping still waiting
 * (section 5.5.3), so it holds one pong, not one per ping, and keeps
 * reading. The process grows by less than 16 MiB, and the good client is
 * served every 16 MiB of the flood.
 */
static void test_hostile_ping_flood_without_reading_is_bounded(void **state)
{
    arena a;
    arena_open(&a, state, NULL);
    if (a.e->io == ENV_IO_ONE_BYTE) { /* a byte a turn: hours */
        arena_close(&a);
        skip();
    }
    int fd = raw_ws_connect_rcvbuf(a.e, wsio_server_port(a.srv), 4096);
    enum { PER = 1 << 20 };
    static uint8_t chunk[PER + 256];
    uint8_t payload[125];
    memset(payload, 'p', sizeof payload);
    size_t len = 0;
    while (len + 131 <= PER)
        len +=
            client_frame(chunk + len, 1, WSIO_OP_PING, payload, sizeof payload);
    size_t rss0 = rss_bytes(0), peak = rss0;
    size_t sent = 0;
    for (int mib = 0; mib < FLOOD_MIB; mib++) {
        sent += send_while_turning(a.e, fd, chunk, len);
        size_t now = rss_bytes(0);
        peak = now > peak ? now : peak;
        if (mib % 16 == 15)
            good_client_is_served(&a);
    }
    printf("# ping flood: %zu MiB sent, rss +%zu KiB\n", sent >> 20,
           (peak - rss0) / 1024);
    assert_int_equal(sent, (size_t)FLOOD_MIB * len);
    assert_true(peak - rss0 < (size_t)16 << 20);
    assert_int_equal(a.s.closes, 0);
    close(fd);
    good_client_is_served(&a);
    arena_close(&a);
}

/*
 * A client that sends messages to the echo server as fast as it can and
 * never reads: once the echoes over max_output_bytes wait, the server
 * stops reading it, so what it holds for it stays within the mark plus one
 * message and one 64 KiB read; the client's sends stall (TCP pushes back),
 * nothing is dropped, and the good client is served throughout.
 */
static void test_hostile_echo_flood_without_reading_is_not_read(void **state)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_output_bytes = 256 * 1024;
    arena a;
    arena_open(&a, state, &cfg);
    int fd = raw_ws_connect_rcvbuf(a.e, wsio_server_port(a.srv), 4096);
    RUN_UNTIL(a.e, a.s.opens == 2, 5000);
    wsio_ws *flooder = a.s.last_open;
    static uint8_t msg[8192], frame[8192 + 16];
    memset(msg, 'f', sizeof msg);
    size_t len = client_frame(frame, 1, WSIO_OP_BINARY, msg, sizeof msg);
    size_t sent = 0, most = 0;
    uint64_t t0 = now_ms(), last = t0;
    /* Until its sends have stalled for 300 ms (at most 10 s). */
    while (now_ms() - last < 300 && now_ms() - t0 < 10000) {
        ssize_t n = send(fd, frame + sent % len, len - sent % len,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            last = now_ms();
        } else {
            env_turn(a.e, 5);
        }
        size_t held = wsio_ws_buffered_amount(flooder);
        most = held > most ? held : most;
    }
    assert_true(now_ms() - t0 < 10000); /* it was pushed back */
    assert_true(most > cfg.max_output_bytes);
    assert_true(most <= cfg.max_output_bytes + len);
    wsio_server_stats st;
    wsio_server_get_stats(a.srv, &st);
    assert_int_equal(st.messages_dropped, 0);
    assert_int_equal(a.s.closes, 0);
    good_client_is_served(&a);
    close(fd);
    arena_close(&a);
}

static void test_hostile_ping_between_every_fragment_is_answered(void **state)
{
    arena a;
    arena_open(&a, state, NULL);
    int fd = raw_ws_connect(a.e, wsio_server_port(a.srv));
    const char *text = "fragmented";
    uint8_t buf[512];
    size_t len = 0;
    for (size_t i = 0; i < strlen(text); i++) {
        len +=
            client_frame(buf + len, i + 1 == strlen(text),
                         i ? WSIO_OP_CONTINUATION : WSIO_OP_TEXT, text + i, 1);
        if (i + 1 < strlen(text))
            len += client_frame(buf + len, 1, WSIO_OP_PING, "p", 1);
    }
    len += client_frame(buf + len, 1, WSIO_OP_CLOSE, "\x03\xe8", 2);
    send_while_turning(a.e, fd, buf, len);
    size_t pongs = 0;
    assert_int_equal(read_until_close(a.e, fd, &pongs), 1000);
    assert_true(pongs >= 1 && pongs <= strlen(text) - 1);
    assert_string_equal(last_pong, "p");
    assert_int_equal(a.s.messages, 1);
    close(fd);
    good_client_is_served(&a);
    arena_close(&a);
}

/* ---- resets
 * ---------------------------------------------------------------------- */

static void reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
}

static void test_hostile_resets_mid_handshake_frame_and_close(void **state)
{
    arena a;
    arena_open(&a, state, NULL);
    uint16_t port = wsio_server_port(a.srv);

    int fd = raw_connect(port); /* mid-handshake */
    raw_send(fd, "GET / HTTP/1.1\r\nHost: x\r\nUpg");
    run_for(a.e, 50);
    reset(fd);

    fd = raw_ws_connect(a.e, port); /* mid-frame */
    uint8_t frame[64];
    size_t len = client_frame(frame, 1, WSIO_OP_TEXT, "half of it", 10);
    send_while_turning(a.e, fd, frame, len - 5);
    run_for(a.e, 50);
    reset(fd);
    RUN_UNTIL(a.e, a.s.closes == 1, 5000);
    assert_int_equal(a.s.last_close.code, WSIO_CLOSE_ABNORMAL);
    assert_false(a.s.last_close.clean);

    fd = raw_ws_connect(a.e, port); /* mid-close */
    len = client_frame(frame, 1, WSIO_OP_CLOSE, "\x03\xe8", 2);
    send_while_turning(a.e, fd, frame, len);
    reset(fd);
    RUN_UNTIL(a.e, a.s.closes == 2, 5000);

    assert_int_equal(a.s.messages, 0);
    good_client_is_served(&a);
    arena_close(&a);
}

/* ---- the memory budget
 * -------------------------------------------------------- */

static void test_hostile_memory_budget_sheds_the_largest_queue(void **state)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.memory_budget = (size_t)8 << 20;
    cfg.max_output_bytes = (size_t)64 << 20; /* the budget acts first */
    arena a;
    arena_open(&a, state, &cfg);
    uint16_t port = wsio_server_port(a.srv);
    /* Two readers that never read. */
    int fa = raw_ws_connect(a.e, port);
    RUN_UNTIL(a.e, a.s.opens == 2, 5000);
    wsio_ws *big = a.s.last_open;
    int fb = raw_ws_connect(a.e, port);
    RUN_UNTIL(a.e, a.s.opens == 3, 5000);
    wsio_ws *small = a.s.last_open;
    static uint8_t chunk[65536];
    for (int i = 0; i < 256; i++) /* 16 MiB for one */
        assert_true(wsio_ws_send(big, WSIO_OP_BINARY, chunk, sizeof chunk) >=
                    0);
    for (int i = 0; i < 32; i++) /* 2 MiB for the other */
        assert_true(wsio_ws_send(small, WSIO_OP_BINARY, chunk, sizeof chunk) >=
                    0);
    RUN_UNTIL(a.e, a.s.closes == 1, 5000);
    run_for(a.e, 50);
    wsio_server_stats st;
    wsio_server_get_stats(a.srv, &st);
    assert_int_equal(st.connections_shed, 1);
    assert_int_equal(a.s.closes, 1); /* only the largest queue went */
    assert_int_equal(a.s.last_close.code, WSIO_CLOSE_ABNORMAL);
    assert_true(st.memory_in_use <= cfg.memory_budget);
    good_client_is_served(&a);
    close(fa);
    close(fb);
    arena_close(&a);
}

static void test_hostile_memory_budget_refuses_new_connections(void **state)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.memory_budget = 3000;
    arena a;
    arena_open(&a, state, &cfg);
    uint16_t port = wsio_server_port(a.srv);
    /* A request head that never ends holds 4 KB: handshake memory, which
     * cannot be shed; the good client is idle and holds no buffers. */
    int slow = raw_connect(port);
    static char head[4096];
    memset(head, 'a', sizeof head);
    memcpy(head, "GET /", 5);
    send_while_turning(a.e, slow, head, sizeof head);
    wsio_server_stats st;
    RUN_UNTIL(a.e, (wsio_server_get_stats(a.srv, &st), st.memory_in_use > 3000),
              5000);
    int fd = raw_connect(port);
    raw_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    char buf[1024];
    raw_read_all(a.e, fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 503"));
    close(fd);
    wsio_server_get_stats(a.srv, &st);
    assert_int_equal(st.connections_shed, 0);
    good_client_is_served(&a);
    /* The slow head is answered 431 at its limit or closed at the timeout;
     * either way its memory goes and newcomers are welcome again. */
    close(slow);
    RUN_UNTIL(a.e, (wsio_server_get_stats(a.srv, &st), st.memory_in_use < 3000),
              5000);
    fd = raw_ws_connect(a.e, port);
    close(fd);
    arena_close(&a);
}

static void
test_hostile_memory_budget_sheds_a_half_received_message(void **state)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.memory_budget = 64 * 1024;
    arena a;
    arena_open(&a, state, &cfg);
    uint16_t port = wsio_server_port(a.srv);
    /* A 256 KiB message sent in fragments that never finish. */
    int slow = raw_ws_connect(a.e, port);
    static uint8_t part[32768];
    static uint8_t frame[sizeof part + 16];
    for (int i = 0; i < 8; i++) {
        size_t len =
            client_frame(frame, 0, i ? WSIO_OP_CONTINUATION : WSIO_OP_BINARY,
                         part, sizeof part);
        if (send_while_turning(a.e, slow, frame, len) < len)
            break; /* already shed */
    }
    wait_eof(a.e, slow, 5000);
    close(slow);
    wsio_server_stats st;
    wsio_server_get_stats(a.srv, &st);
    assert_int_equal(st.connections_shed, 1);
    RUN_UNTIL(a.e,
              (wsio_server_get_stats(a.srv, &st),
               st.memory_in_use <= cfg.memory_budget),
              5000);
    good_client_is_served(&a);
    arena_close(&a);
}

/* ---- churn
 * ----------------------------------------------------------------------- */

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* n connections that complete the handshake, then close or reset. */
static void churn(arena *a, int n)
{
    int closes = a->s.closes;
    uint16_t port = wsio_server_port(a->srv);
    for (int i = 0; i < n; i++) {
        int fd = raw_ws_connect(a->e, port);
        if (i % 2)
            reset(fd);
        else
            close(fd);
    }
    RUN_UNTIL(a->e, a->s.closes == closes + n, 10000);
}

static void test_hostile_connect_close_cycles_leak_nothing(void **state)
{
    arena a;
    arena_open(&a, state, NULL);
    /* A first round warms the loop's buffer cache, which holds a bounded
     * number of freed blocks; after it, more rounds must not grow. */
    churn(&a, 200);
    int fds_before = open_fds();
    size_t blocks_before = a.e->tm.live_blocks;
    churn(&a, 2000);
    /* Closed sockets linger until the peer's EOF is read: a few turns. */
    RUN_UNTIL(a.e, open_fds() == fds_before, 5000);
    assert_int_equal(a.e->tm.live_blocks, blocks_before);
    good_client_is_served(&a);
    arena_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_hostile_trickled_handshake_is_cut_at_the_timeout),
        ON_EVERY_LOOP(test_hostile_silent_sockets_are_closed_at_the_timeout),
        ON_EVERY_LOOP(test_hostile_header_floods_get_431),
        ON_EVERY_LOOP(test_hostile_length_with_top_bit_gets_1002),
        ON_EVERY_LOOP(test_hostile_endless_continuations_get_1009),
        ON_EVERY_LOOP(test_hostile_ping_burst_gets_the_latest_pong),
        ON_EVERY_LOOP(test_hostile_ping_between_every_fragment_is_answered),
        ON_EVERY_LOOP(test_hostile_ping_flood_without_reading_is_bounded),
        ON_EVERY_LOOP(test_hostile_echo_flood_without_reading_is_not_read),
        ON_EVERY_LOOP(test_hostile_resets_mid_handshake_frame_and_close),
        ON_EVERY_LOOP(test_hostile_memory_budget_sheds_the_largest_queue),
        ON_EVERY_LOOP(test_hostile_memory_budget_refuses_new_connections),
        ON_EVERY_LOOP(test_hostile_memory_budget_sheds_a_half_received_message),
        ON_EVERY_LOOP(test_hostile_connect_close_cycles_leak_nothing),
    };
    return cmocka_run_group_tests_name("hostile", tests, NULL, NULL);
}

/*
 * tests/integration/test_deflate_limits.c - permessage-deflate's bounds on
 * real sockets, every loop mode (built only when zlib is found):
 *
 * - memory: 1000 idle connections with context takeover both ways, each
 *   after one compressed 200-byte message and its compressed echo, hold
 *   at most the documented zlib state each (memory_in_use, the exact
 *   figure) and a bounded RSS (measured and printed); without context
 *   takeover they hold none; past the cap, offers are declined;
 * - CPU: a message inflating past the default ratio bound fails with 1009
 *   and is counted, while compressible messages under it pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "wsio/deflate.h"

#define IDLE_CONNS 1000
/* Documented in docs/deflate.md: what the budget counts per idle
 * connection with context takeover both ways under the defaults (zlib's
 * 62,264 bytes in the block cache's classes, the codec and the
 * connection), and an RSS bound with room for the test allocator's and
 * the sanitizers' overhead. */
#define HELD_PER_CONN (72 * 1024)
#define RSS_PER_CONN (160 * 1024)

/* A 200-byte chat message, raw deflate with a 15-bit window (what a
 * client that offers no client_max_window_bits may use), as one masked
 * frame with RSV1. Returns the frame's length. */
static size_t compressed_frame(uint8_t *out, size_t cap)
{
    char msg[201];
    int len = snprintf(msg, sizeof msg,
                       "{\"type\":\"chat\",\"name\":\"alice\",\"text\":\"%s\"}",
                       "hello everyone, the build is green again and the "
                       "tests pass on both backends; lunch at noon? see you "
                       "in the usual place, bring the new badges");
    assert_true(len > 180 && len <= 200);
    uint8_t z[256];
    z_stream s;
    memset(&s, 0, sizeof s);
    assert_int_equal(
        deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    s.next_in = (Bytef *)msg;
    s.avail_in = (uInt)len;
    s.next_out = z;
    s.avail_out = sizeof z;
    assert_int_equal(deflate(&s, Z_SYNC_FLUSH), Z_OK);
    size_t zl = sizeof z - s.avail_out - 4; /* RFC 7692 7.2.1: tail off */
    deflateEnd(&s);
    wsio_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.rsv = WSIO_RSV1;
    h.opcode = WSIO_OP_TEXT;
    h.payload_len = zl;
    h.masked = 1;
    memcpy(h.mask_key, "\x0a\x0b\x0c\x0d", 4);
    assert_true(cap >= zl + 14);
    ssize_t n = wsio_frame_header_encode(out, &h);
    wsio_mask_copy(out + n, z, zl, h.mask_key, 0);
    return (size_t)n + zl;
}

/* n_conns raw clients offering offer, each sending one compressed
 * message and getting its echo, all left open. Returns what memory_in_use
 * grew by per connection (after the first, which sets the baseline); the
 * RSS growth per connection goes to *rss_per_out. */
static size_t idle_connections(env *e, const char *offer, int n_conns,
                               size_t *rss_per_out)
{
    wsio_deflate d;
    assert_int_equal(wsio_deflate_init(&d, NULL), 0); /* the defaults */
    server_state s;
    memset(&s, 0, sizeof s);
    s.echo = 1;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.deflate = &d.ext;
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    uint8_t frame[256];
    size_t frame_len = compressed_frame(frame, sizeof frame);
    /* The handshake and the message in one write: the server takes both. */
    char req[512 + 256];
    int hl = snprintf(req, sizeof req,
                      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Extensions: %s\r\n\r\n",
                      offer);
    memcpy(req + hl, frame, frame_len);
    size_t req_len = (size_t)hl + frame_len;

    /* One connection first, so that what every connection shares (the
     * loop's tables, the cache) is in the baseline. */
    int *fds = calloc((size_t)n_conns, sizeof *fds);
    assert_non_null(fds);
    wsio_server_stats st;
    size_t rss0 = 0, held0 = 0;
    for (int i = 0; i < n_conns; i++) {
        fds[i] = raw_connect(port);
        assert_int_equal(write(fds[i], req, req_len), (ssize_t)req_len);
        if (i == 0 || i % 50 == 49 || i == n_conns - 1)
            RUN_UNTIL(e, s.messages == i + 1, 10000);
        if (i == 0) {
            run_for(e, 20);
            wsio_server_get_stats(srv, &st);
            held0 = st.memory_in_use;
            rss0 = rss_bytes(1);
        }
    }
    run_for(e, 50); /* every echo written */
    wsio_server_get_stats(srv, &st);
    size_t n = (size_t)n_conns - 1;
    size_t held = (st.memory_in_use - held0) / n;
    size_t rss = rss_bytes(1);
    size_t rss_per = rss > rss0 ? (rss - rss0) / n : 0;
    printf("%s: %d idle compressed connections (%s): memory_in_use %zu "
           "bytes each, RSS %.1f -> %.1f MB (%zu bytes each)\n",
           e->mode, n_conns, offer, held, rss0 / 1e6, rss / 1e6, rss_per);
    assert_int_equal(st.connections, (uint64_t)n_conns);
    assert_true(wsio_conn_has_codec(wsio_ws_conn(s.last_open)));
    /* The last one agreed, and its echo came back compressed. */
    char buf[1024];
    ssize_t got = 0;
    for (int t = 0; t < 100 && got <= 0; t++) {
        got = raw_read(fds[n_conns - 1], buf, sizeof buf - 1);
        if (got <= 0)
            env_turn(e, 10);
    }
    assert_true(got > 0);
    buf[got] = '\0';
    assert_non_null(
        strstr(buf, "Sec-WebSocket-Extensions: permessage-deflate"));
    char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    assert_int_equal((uint8_t)body[4], 0xc1); /* FIN, RSV1, text: compressed */
    for (int i = 0; i < n_conns; i++)
        close(fds[i]);
    RUN_UNTIL(e, s.closes == n_conns, 10000);
    free(fds);
    wsio_server_free(srv);
    *rss_per_out = rss_per;
    return held;
}

/* Context takeover both ways and a client window of 15 (no
 * client_max_window_bits offered): the most a connection can hold. */
static void test_deflate_idle_connections_hold_bounded_memory(void **state)
{
    env *e = env_new(state);
    size_t rss_per;
    size_t held =
        idle_connections(e, "permessage-deflate", IDLE_CONNS, &rss_per);
    assert_true(held > 60000); /* both zlib states are there */
    assert_true(held <= HELD_PER_CONN);
    assert_true(rss_per <= RSS_PER_CONN);
    env_free(e);
}

/* Without context takeover either way, an idle connection holds no zlib
 * state: it was freed after the message in and after the echo out. */
static void test_deflate_idle_without_takeover_holds_no_zlib_state(void **state)
{
    env *e = env_new(state);
    size_t rss_per;
    size_t held = idle_connections(e,
                                   "permessage-deflate; "
                                   "client_no_context_takeover; "
                                   "server_no_context_takeover",
                                   200, &rss_per);
    assert_true(held <= 4096); /* the codec and the connection */
    env_free(e);
}

/* The cap on compressing connections: past it an offer is declined (the
 * 101 has no extension, the connection works plain), and a compressing
 * connection that closes frees its place. */
static void test_deflate_cap_declines_offers_and_frees_places(void **state)
{
    env *e = env_new(state);
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    dc.max_connections = 2;
    wsio_deflate d;
    assert_int_equal(wsio_deflate_init(&d, &dc), 0);
    server_state s;
    memset(&s, 0, sizeof s);
    s.echo = 1;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.deflate = &d.ext;
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.deflate = &d.ext;
    peer p[4];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 3; i++) {
        connect_client(e, srv, &cc, &p[i]);
        RUN_UNTIL(e, p[i].opened == 1, 5000);
    }
    assert_true(wsio_conn_has_codec(wsio_ws_conn(p[0].ws)));
    assert_true(wsio_conn_has_codec(wsio_ws_conn(p[1].ws)));
    assert_false(wsio_conn_has_codec(wsio_ws_conn(p[2].ws)));
    /* Declined, not refused: the third works, uncompressed. */
    p[2].expect = (const uint8_t *)"plain after all";
    p[2].expect_len = 15;
    p[2].expect_op = WSIO_OP_TEXT;
    assert_true(wsio_ws_send(p[2].ws, WSIO_OP_TEXT, "plain after all", 15) >=
                0);
    RUN_UNTIL(e, p[2].nmsg == 1, 5000);
    assert_int_equal(p[2].mismatch, 0);
    wsio_ws_close(p[0].ws, 1000, NULL, 0);
    RUN_UNTIL(e, p[0].closed == 1 && s.closes == 1, 5000);
    connect_client(e, srv, &cc, &p[3]);
    RUN_UNTIL(e, p[3].opened == 1, 5000);
    assert_true(wsio_conn_has_codec(wsio_ws_conn(p[3].ws)));
    for (int i = 1; i < 4; i++)
        wsio_ws_close(p[i].ws, 1000, NULL, 0);
    RUN_UNTIL(e, p[1].closed && p[2].closed && p[3].closed, 5000);
    wsio_server_free(srv);
    env_free(e);
}

/* A client compressing 4 MiB of zeros (about 4 KiB on the wire) under a
 * 16 MiB message limit: 1009, WSIO_EINFLATE_RATIO on the server, counted.
 * Another client's compressible messages (JSON, and a 4 KiB message
 * repeated with context takeover) come back intact. */
static void test_deflate_ratio_bound_fails_bombs_passes_json(void **state)
{
    env *e = env_new(state);
    wsio_deflate d;
    assert_int_equal(wsio_deflate_init(&d, NULL), 0);
    server_state s;
    memset(&s, 0, sizeof s);
    s.echo = 1;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.deflate = &d.ext;
    cfg.conn.max_message_size = (size_t)16 << 20;
    cfg.conn.max_frame_size = (size_t)16 << 20;
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.deflate = &d.ext;

    peer bomber;
    memset(&bomber, 0, sizeof bomber);
    connect_client(e, srv, &cc, &bomber);
    RUN_UNTIL(e, bomber.opened == 1, 5000);
    assert_true(wsio_conn_has_codec(wsio_ws_conn(bomber.ws)));
    size_t big = (size_t)4 << 20;
    uint8_t *zeros = calloc(1, big);
    assert_true(wsio_ws_send(bomber.ws, WSIO_OP_BINARY, zeros, big) >= 0);
    RUN_UNTIL(e, bomber.closed == 1 && s.closes == 1, 5000);
    assert_int_equal(bomber.info.code, 1009);
    assert_int_equal(s.last_close.error, WSIO_EINFLATE_RATIO);
    assert_int_equal(s.messages, 0);
    assert_int_equal(wsio_deflate_ratio_exceeded(&d), 1);

    size_t json_len = 64 * 1024;
    char *json = malloc(json_len);
    for (size_t i = 0, k = 0; i < json_len; k++) {
        char line[80];
        int n = snprintf(line, sizeof line,
                         "{\"id\":%zu,\"name\":\"user%zu\",\"ok\":true},", k,
                         k % 50);
        size_t take = (size_t)n < json_len - i ? (size_t)n : json_len - i;
        memcpy(json + i, line, take);
        i += take;
    }
    peer legit;
    memset(&legit, 0, sizeof legit);
    legit.expect = (const uint8_t *)json;
    legit.expect_op = WSIO_OP_TEXT;
    connect_client(e, srv, &cc, &legit);
    RUN_UNTIL(e, legit.opened == 1, 5000);
    legit.expect_len = json_len;
    assert_true(wsio_ws_send(legit.ws, WSIO_OP_TEXT, json, json_len) >= 0);
    RUN_UNTIL(e, legit.nmsg == 1, 5000);
    legit.expect_len = 4096;
    for (int i = 0; i < 20; i++)
        assert_true(wsio_ws_send(legit.ws, WSIO_OP_TEXT, json, 4096) >= 0);
    RUN_UNTIL(e, legit.nmsg == 21, 5000);
    assert_int_equal(legit.mismatch, 0);
    assert_int_equal(legit.closed, 0);
    assert_int_equal(wsio_deflate_ratio_exceeded(&d), 1);

    wsio_ws_close(legit.ws, 1000, NULL, 0);
    RUN_UNTIL(e, legit.closed == 1, 5000);
    free(json);
    free(zeros);
    wsio_server_free(srv);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_deflate_idle_connections_hold_bounded_memory),
        ON_EVERY_LOOP(test_deflate_idle_without_takeover_holds_no_zlib_state),
        ON_EVERY_LOOP(test_deflate_cap_declines_offers_and_frees_places),
        ON_EVERY_LOOP(test_deflate_ratio_bound_fails_bombs_passes_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

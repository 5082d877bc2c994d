/*
 * tests/integration/test_addr_limits.c - one client address cannot hold
 * every slot (max_connections_per_addr) or open connections faster than
 * its rate (max_handshakes_per_addr_per_sec), while other addresses are
 * still served; counted under the address wsio believes (socket peer,
 * PROXY header, a trusted proxy's forwarding header), IPv6 by /64.
 * Clients bind 127.0.0.2 to be a second address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* A blocking TCP socket from src (port 0) to 127.0.0.1:port. */
static int connect_from(const char *src, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, src, &a.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    a.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static const char upgrade_fmt[] =
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n%s"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/* From src: send prefix (a PROXY header, or "") and an upgrade request
 * with the extra header lines; read the answer's head. Returns its status
 * and, through *fd, the socket (open: the caller closes it). */
static int upgrade_from(env *e, uint16_t port, const char *src,
                        const char *prefix, const char *extra, int *fd)
{
    char req[1024];
    snprintf(req, sizeof req, "%s", prefix);
    size_t used = strlen(req);
    snprintf(req + used, sizeof req - used, upgrade_fmt, extra);
    *fd = connect_from(src, port);
    raw_send(*fd, req);
    int status = raw_read_status(e, *fd);
    assert_int_not_equal(status, 0);
    return status;
}

static int upgrade_status(env *e, uint16_t port, const char *src,
                          const char *prefix, const char *extra)
{
    int fd;
    int status = upgrade_from(e, port, src, prefix, extra, &fd);
    close(fd);
    return status;
}

/* A plain GET from src; the whole answer into out. */
static void get_from(env *e, uint16_t port, const char *src, char *out,
                     size_t cap)
{
    int fd = connect_from(src, port);
    raw_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    raw_read_all(e, fd, out, cap);
    close(fd);
}

static wsio_server_stats stats_of(const wsio_server *srv)
{
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    return st;
}

/* As many attempts as the fd limit allows (both ends are in this
 * process), at most want. */
static size_t attempts_allowed(size_t want)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    size_t room = rl.rlim_cur > 200 ? (size_t)(rl.rlim_cur - 200) / 2 : 0;
    return want < room ? want : room;
}

#define CAP 100

/* 1000 idle sockets from 127.0.0.1: CAP are kept, the rest get 503, and
 * 127.0.0.2 still opens a WebSocket. */
static void test_addr_limits_one_address_cannot_take_every_slot(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_connections_per_addr = CAP;
    server_state s;
    memset(&s, 0, sizeof s);
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    size_t n = attempts_allowed(1000);
    assert_true(n > 2 * CAP);
    int *fds = calloc(n, sizeof *fds);
    assert_non_null(fds);
    for (size_t i = 0; i < n; i++) {
        fds[i] = connect_from("127.0.0.1", port);
        if (i % 32 == 31)
            env_turn(e, 0); /* accept, so the backlog never fills */
    }
    RUN_UNTIL(e, stats_of(srv).addr_connections_refused == n - CAP, 10000);
    /* The bound: the refused ones were told 503 and closed; the others
     * are kept. */
    run_for(e, 50);
    size_t refused = 0, kept_index = n;
    for (size_t i = 0; i < n; i++) {
        char buf[256];
        ssize_t got = raw_read(fds[i], buf, sizeof buf - 1);
        if (got > 0) {
            buf[got] = '\0';
            assert_non_null(strstr(buf, "HTTP/1.1 503"));
            refused++;
        } else if (kept_index == n) {
            kept_index = i;
        }
    }
    assert_int_equal(refused, n - CAP);
    assert_true(kept_index < n);
    /* A second address is served as if nothing happened. */
    int fd;
    assert_int_equal(upgrade_from(e, port, "127.0.0.2", "", "", &fd), 101);
    RUN_UNTIL(e, s.opens == 1, 5000);
    close(fd);
    /* The first is still refused, until one of its sockets goes. */
    assert_int_equal(upgrade_status(e, port, "127.0.0.1", "", ""), 503);
    close(fds[kept_index]);
    fds[kept_index] = -1;
    RUN_UNTIL(e, stats_of(srv).connections == 0, 5000);
    run_for(e, 20);
    assert_int_equal(upgrade_status(e, port, "127.0.0.1", "", ""), 101);
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    wsio_server_free(srv);
    env_free(e);
}

/* Handshakes faster than the rate get 429 with Retry-After; at most one
 * second's worth plus what the elapsed time refilled get through. */
static void test_addr_limits_handshake_rate_gives_429(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_handshakes_per_addr_per_sec = 5;
    server_state s;
    memset(&s, 0, sizeof s);
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    char out[2048];
    size_t served = 0, limited = 0;
    uint64_t t0 = now_ms();
    for (int i = 0; i < 30; i++) {
        get_from(e, port, "127.0.0.1", out, sizeof out);
        if (strstr(out, "HTTP/1.1 429")) {
            assert_non_null(strstr(out, "Retry-After: 1\r\n"));
            limited++;
        } else {
            assert_non_null(strstr(out, "HTTP/1.1 404"));
            served++;
        }
    }
    uint64_t elapsed = now_ms() - t0;
    assert_true(served >= 5);
    assert_true(served <= 5 + elapsed * 5 / 1000 + 1);
    assert_int_equal(stats_of(srv).addr_handshakes_limited, limited);
    /* Another address has its own bucket. */
    get_from(e, port, "127.0.0.2", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 404"));
    wsio_server_free(srv);
    env_free(e);
}

/* Behind a trusted proxy, connections count under the client its
 * X-Forwarded-For names, not under the proxy. */
static void test_addr_limits_count_the_forwarded_client(void **state)
{
    env *e = env_new(state);
    static const char *const trusted[] = {"127.0.0.1"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.trusted_proxies = trusted;
    cfg.num_trusted_proxies = 1;
    cfg.max_connections_per_addr = 2;
    server_state s;
    memset(&s, 0, sizeof s);
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    const char *a = "X-Forwarded-For: 198.51.100.1\r\n";
    int fds[6];
    assert_int_equal(upgrade_from(e, port, "127.0.0.1", "", a, &fds[0]), 101);
    assert_int_equal(upgrade_from(e, port, "127.0.0.1", "", a, &fds[1]), 101);
    assert_int_equal(upgrade_status(e, port, "127.0.0.1", "", a), 503);
    assert_int_equal(upgrade_from(e, port, "127.0.0.1", "",
                                  "X-Forwarded-For: 198.51.100.2\r\n", &fds[2]),
                     101);
    /* The proxy's own requests (no client named) are not limited. */
    for (int i = 3; i < 6; i++)
        assert_int_equal(upgrade_from(e, port, "127.0.0.1", "", "", &fds[i]),
                         101);
    assert_int_equal(stats_of(srv).addr_connections_refused, 1);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    wsio_server_free(srv);
    env_free(e);
}

/* Behind a PROXY-protocol load balancer, under the header's client; IPv6
 * clients of one /64 share a count. */
static void
test_addr_limits_count_the_proxy_header_client_by_prefix(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.proxy_protocol = WSIO_PROXY_V1;
    cfg.max_connections_per_addr = 1;
    server_state s;
    memset(&s, 0, sizeof s);
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    int fds[3];
    assert_int_equal(upgrade_from(e, port, "127.0.0.1",
                                  "PROXY TCP6 2001:db8:0:1::7 ::1 4711 443\r\n",
                                  "", &fds[0]),
                     101);
    /* Same /64, another host: refused. */
    assert_int_equal(
        upgrade_status(e, port, "127.0.0.1",
                       "PROXY TCP6 2001:db8:0:1:ffff::8 ::1 4712 443\r\n", ""),
        503);
    /* The next /64, and an IPv4 client: served. */
    assert_int_equal(upgrade_from(e, port, "127.0.0.1",
                                  "PROXY TCP6 2001:db8:0:2::7 ::1 4713 443\r\n",
                                  "", &fds[1]),
                     101);
    assert_int_equal(
        upgrade_from(e, port, "127.0.0.1",
                     "PROXY TCP4 203.0.113.7 10.0.0.1 4714 443\r\n", "",
                     &fds[2]),
        101);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    wsio_server_free(srv);
    /* A prefix longer than 128 bits is refused when the server is made. */
    cfg.addr_prefix_v6 = 129;
    int err = 0;
    assert_null(wsio_server_new(e->loop, &cfg, &server_cb, NULL, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    env_free(e);
}

#define CAP_RANDOM 32
#define OPENS_RANDOM 2000

/* 2000 WebSockets from 127.0.0.2 opened and closed in random order, at
 * most CAP_RANDOM at a time: the count stays exact (each time the
 * address holds CAP_RANDOM, one more is refused 503, and only then), and
 * after the last closed the whole CAP_RANDOM opens again. A count that
 * leaked up would refuse early, one that leaked down would let more in. */
static void
test_addr_limits_count_exact_after_2000_in_random_order(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_connections_per_addr = CAP_RANDOM;
    server_state s;
    memset(&s, 0, sizeof s);
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    assert_true(attempts_allowed(CAP_RANDOM + 1) == CAP_RANDOM + 1);
    int fds[CAP_RANDOM];
    int n = 0, opened = 0, closed = 0;
    uint64_t refused = 0;
    unsigned seed = 99;
    while (opened < OPENS_RANDOM || n > 0) {
        if (opened < OPENS_RANDOM && n < CAP_RANDOM &&
            (n == 0 || rand_r(&seed) % 3 != 0)) {
            assert_int_equal(
                upgrade_from(e, port, "127.0.0.2", "", "", &fds[n++]), 101);
            opened++;
            RUN_UNTIL(e, s.opens == opened, 5000);
            if (n == CAP_RANDOM) {
                assert_int_equal(upgrade_status(e, port, "127.0.0.2", "", ""),
                                 503);
                refused++;
            }
            assert_int_equal(stats_of(srv).addr_connections_refused, refused);
        } else {
            int k = (int)(rand_r(&seed) % (unsigned)n);
            close(fds[k]);
            fds[k] = fds[--n];
            closed++;
            RUN_UNTIL(e, s.closes == closed, 5000);
        }
    }
    assert_true(refused > 0);
    for (n = 0; n < CAP_RANDOM; n++)
        assert_int_equal(upgrade_from(e, port, "127.0.0.2", "", "", &fds[n]),
                         101);
    assert_int_equal(upgrade_status(e, port, "127.0.0.2", "", ""), 503);
    assert_int_equal(stats_of(srv).addr_connections_refused, refused + 1);
    for (n = 0; n < CAP_RANDOM; n++)
        close(fds[n]);
    RUN_UNTIL(e, s.closes == closed + CAP_RANDOM, 5000);
    wsio_server_free(srv);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_addr_limits_one_address_cannot_take_every_slot),
        ON_EVERY_LOOP(test_addr_limits_handshake_rate_gives_429),
        ON_EVERY_LOOP(test_addr_limits_count_the_forwarded_client),
        ON_EVERY_LOOP(test_addr_limits_count_the_proxy_header_client_by_prefix),
        ON_EVERY_LOOP(test_addr_limits_count_exact_after_2000_in_random_order),
    };
    return cmocka_run_group_tests_name("addr_limits", tests, NULL, NULL);
}

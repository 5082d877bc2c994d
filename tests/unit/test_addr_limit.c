/*
 * tests/unit/test_addr_limit.c - the per-address limit table
 * (src/server_addr_limit.c): how addresses are grouped (IPv6 by prefix),
 * the connection cap, the handshake rate, and that the table forgets
 * addresses, so a flood from many addresses leaves no memory behind.
 */
#include <stdio.h>
#include <string.h>

#include "server_addr_limit.h"
#include "testutil.h"

/* The group of address text, as the socket gives it (nothing folded). */
static int group_of(const char *text, unsigned bits,
                    uint8_t key[WSIO__ADDR_KEY])
{
    wsio__addr a;
    (void)wsio__addr_from_text(text, &a);
    return wsio__addr_group(&a, bits, key);
}

static int same_group(const char *a, const char *b, unsigned bits)
{
    uint8_t ka[WSIO__ADDR_KEY], kb[WSIO__ADDR_KEY];
    assert_int_equal(group_of(a, bits, ka), 1);
    assert_int_equal(group_of(b, bits, kb), 1);
    return memcmp(ka, kb, sizeof ka) == 0;
}

static void test_addr_group_ipv6_by_prefix(void **state)
{
    (void)state;
    /* /64 (the default): one subnet is one client. */
    assert_true(same_group("2001:db8:1:2:aaaa::1", "2001:db8:1:2:bbbb::9", 64));
    assert_false(same_group("2001:db8:1:2::1", "2001:db8:1:3::1", 64));
    /* Other prefixes, including ones that end inside a byte. */
    assert_true(same_group("2001:db8:1:2::1", "2001:db8:1:3::1", 48));
    assert_true(same_group("2001:db8:1:0::1", "2001:db8:1:7::1", 61));
    assert_false(same_group("2001:db8:1:0::1", "2001:db8:1:8::1", 61));
    assert_false(same_group("2001:db8::1", "2001:db8::2", 128));
    assert_true(same_group("2001:db8::1", "2001:DB8:0::1", 128));
    /* IPv4 is one address per client, whatever the v6 prefix; mapped
     * IPv4 is IPv4. */
    assert_false(same_group("192.0.2.1", "192.0.2.2", 0));
    assert_true(same_group("::ffff:192.0.2.1", "192.0.2.1", 64));
    /* Never the same group across families. */
    assert_false(same_group("::", "0.0.0.0", 0));
    uint8_t k[WSIO__ADDR_KEY];
    assert_int_equal(group_of("not-an-address", 64, k), 0);
    assert_int_equal(group_of("", 64, k), 0);
}

typedef struct fixture {
    test_mem tm;
    wsio_server_stats stats;
    wsio__addr_limits lim;
} fixture;

static void fixture_init(fixture *f, size_t max_conns, uint32_t rate)
{
    memset(f, 0, sizeof *f);
    test_mem_init(&f->tm);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_connections_per_addr = max_conns;
    cfg.max_handshakes_per_addr_per_sec = rate;
    assert_int_equal(
        wsio__addr_limits_init(&f->lim, &cfg, NULL, &f->stats, &f->tm.mem), 0);
}

static void fixture_free(fixture *f)
{
    wsio__addr_limits_free(&f->lim);
    assert_int_equal(f->tm.live_blocks, 0);
}

static void key_of(const char *addr, uint8_t key[WSIO__ADDR_KEY])
{
    assert_int_equal(group_of(addr, 64, key), 1);
}

static void test_addr_limit_caps_connections_per_address(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 3, 0);
    uint8_t a[WSIO__ADDR_KEY], b[WSIO__ADDR_KEY];
    key_of("192.0.2.1", a);
    key_of("192.0.2.2", b);
    wsio__addr_entry *held[3], *e;
    for (int i = 0; i < 3; i++)
        assert_int_equal(wsio__addr_limits_enter(&f.lim, a, 10, &held[i]), 0);
    assert_int_equal(wsio__addr_limits_enter(&f.lim, a, 10, &e), 503);
    assert_null(e);
    /* Another address is not affected. */
    assert_int_equal(wsio__addr_limits_enter(&f.lim, b, 10, &e), 0);
    wsio__addr_limits_leave(&f.lim, e, 10);
    /* One leaves: one more may come. */
    wsio__addr_limits_leave(&f.lim, held[0], 20);
    assert_int_equal(wsio__addr_limits_enter(&f.lim, a, 20, &held[0]), 0);
    for (int i = 0; i < 3; i++)
        wsio__addr_limits_leave(&f.lim, held[i], 30);
    /* Without a rate, an address with no connection is forgotten at once. */
    assert_int_equal(f.lim.nentries, 0);
    fixture_free(&f);
}

static void test_addr_limit_rate_is_a_bucket_of_one_second(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 0, 4);
    uint8_t a[WSIO__ADDR_KEY];
    key_of("2001:db8::1", a);
    wsio__addr_entry *e;
    int ok = 0, limited = 0;
    for (int i = 0; i < 10; i++) {
        int rc = wsio__addr_limits_enter(&f.lim, a, 1000, &e);
        if (rc == 0) {
            ok++;
            wsio__addr_limits_leave(&f.lim, e, 1000);
        } else {
            assert_int_equal(rc, 429);
            limited++;
        }
    }
    assert_int_equal(ok, 4);
    assert_int_equal(limited, 6);
    /* A quarter of a second later: one more (4 a second). */
    assert_int_equal(wsio__addr_limits_enter(&f.lim, a, 1250, &e), 0);
    wsio__addr_limits_leave(&f.lim, e, 1250);
    assert_int_equal(wsio__addr_limits_enter(&f.lim, a, 1250, &e), 429);
    /* The same /64 shares the bucket. */
    key_of("2001:db8::2", a);
    assert_int_equal(wsio__addr_limits_enter(&f.lim, a, 1250, &e), 429);
    fixture_free(&f);
}

static void test_addr_limit_table_forgets_a_flood(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 10, 10);
    char text[64];
    uint8_t k[WSIO__ADDR_KEY];
    wsio__addr_entry *e;
    /* 20000 addresses, one handshake each, within one second. */
    for (int i = 0; i < 20000; i++) {
        snprintf(text, sizeof text, "2001:db8:%x:%x::1", i >> 8, i & 0xff);
        key_of(text, k);
        assert_int_equal(wsio__addr_limits_enter(&f.lim, k, 5000, &e), 0);
        wsio__addr_limits_leave(&f.lim, e, 5000);
    }
    assert_int_equal(f.lim.nentries, 20000);
    /* Their buckets are full again a second later: the next handshake
     * sweeps them all, and the table shrinks back. */
    key_of("192.0.2.1", k);
    assert_int_equal(wsio__addr_limits_enter(&f.lim, k, 6000, &e), 0);
    assert_int_equal(f.lim.nentries, 1);
    assert_true(f.lim.nbuckets <= 16384);
    wsio__addr_limits_leave(&f.lim, e, 6000);
    /* Each later sweep halves what the flood grew. */
    for (uint64_t t = 8000; t < 60000; t += 2000) {
        assert_int_equal(wsio__addr_limits_enter(&f.lim, k, t, &e), 0);
        wsio__addr_limits_leave(&f.lim, e, t);
    }
    assert_true(f.lim.nbuckets <= 32);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_group_ipv6_by_prefix),
        cmocka_unit_test(test_addr_limit_caps_connections_per_address),
        cmocka_unit_test(test_addr_limit_rate_is_a_bucket_of_one_second),
        cmocka_unit_test(test_addr_limit_table_forgets_a_flood),
    };
    return cmocka_run_group_tests_name("addr_limit", tests, NULL, NULL);
}

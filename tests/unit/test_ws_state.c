/*
 * tests/unit/test_ws_state.c - the arithmetic of the connection driver's
 * compact state (src/ws_internal.h, src/ws_addr.c): 32-bit clock stamps
 * across their wrap, the heartbeat stamp check, and binary addresses
 * (text round trips, IPv4-mapped folding for rules and groups).
 */
#include <string.h>

#include "server_addr_limit.h"
#include "server_security.h"
#include "testutil.h"

/* ---- 32-bit clocks ----------------------------------------------------------
 */

static void test_ws_since32_across_the_wrap(void **state)
{
    (void)state;
    /* Millisecond clocks whose low 32 bits wrap between stamp and now. */
    static const uint64_t starts[] = {0, 0xfffffff0u, 0x1fffffffau,
                                      0x7ffffffffff00000u};
    static const uint32_t gaps[] = {
        0, 1, 15, 16, 1000, 0x7fffffffu, 0xfffffffeu, 0xffffffffu};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        for (size_t j = 0; j < sizeof gaps / sizeof gaps[0]; j++) {
            uint64_t then = starts[i], now = then + gaps[j];
            assert_int_equal(wsio__since32(now, (uint32_t)then), gaps[j]);
        }
    /* 2^32 units or more is where it ends: it reads as the remainder. */
    assert_int_equal(wsio__since32(0x100000005u, 0), 5);
}

/* The idle rule of ws.c: quiet for `idle` ms since last_rx closes; else
 * the timer goes at last_rx + idle, whatever the wrap. */
static void test_ws_idle_deadline_across_the_wrap(void **state)
{
    (void)state;
    const uint32_t idle = 30000;
    uint64_t last = 0x1fffff000u; /* low bits wrap 4096 ms later */
    uint32_t stamp = (uint32_t)last;
    for (uint64_t now = last; now < last + 2 * idle; now += 997) {
        uint32_t quiet = wsio__since32(now, stamp);
        if (now - last >= idle) {
            assert_true(quiet >= idle);
        } else {
            assert_true(quiet < idle);
            assert_int_equal(now + (idle - quiet), last + idle);
        }
    }
}

static void test_ws_stamp_is_only_the_ping_sent(void **state)
{
    (void)state;
    uint64_t sent = 0x00000001fffffff0u; /* us; wraps 16 us later */
    uint32_t kept = (uint32_t)sent;
    uint64_t now = sent + 40;
    assert_true(wsio__stamp_is(sent, kept, now));
    assert_int_equal(wsio__since32(now, kept), 40);
    /* Another stamp, one with the same low bits 2^32 us apart, or one
     * from the future: not ours. */
    assert_false(wsio__stamp_is(sent + 1, kept, now));
    assert_false(wsio__stamp_is(sent - 0x100000000u, kept, now));
    assert_false(wsio__stamp_is(sent + 0x100000000u, kept, now));
    assert_false(wsio__stamp_is(sent, kept, sent - 1));
    /* The longest round trip it times: 2^32 - 1 us (71.5 minutes). */
    assert_true(wsio__stamp_is(sent, kept, sent + 0xffffffffu));
    assert_false(wsio__stamp_is(sent, kept, sent + 0x100000000u));
}

/* ---- addresses --------------------------------------------------------------
 */

static void test_ws_addr_text_round_trips(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        int family;
    } cases[] = {
        {"127.0.0.1", "127.0.0.1", 4},
        {"203.0.113.255", "203.0.113.255", 4},
        {"::1", "::1", 6},
        {"2001:DB8:0:0::7", "2001:db8::7", 6},
        {"::ffff:192.0.2.9", "::ffff:192.0.2.9", 6}, /* not folded */
        {"fe80::1:2:3:4", "fe80::1:2:3:4", 6},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wsio__addr a;
        char text[WSIO__ADDR_TEXT];
        assert_true(wsio__addr_from_text(cases[i].in, &a));
        assert_int_equal(a.family, cases[i].family);
        assert_string_equal(wsio__addr_format(&a, text), cases[i].out);
    }
    wsio__addr none;
    char text[WSIO__ADDR_TEXT];
    assert_false(wsio__addr_from_text("example.com", &none));
    assert_int_equal(none.family, 0);
    assert_string_equal(wsio__addr_format(&none, text), "");
}

static void test_ws_addr_mapped_folds_for_rules_and_groups(void **state)
{
    (void)state;
    wsio__addr mapped, v4, v6;
    assert_true(wsio__addr_from_text("::ffff:192.0.2.9", &mapped));
    assert_true(wsio__addr_from_text("192.0.2.9", &v4));
    assert_true(wsio__addr_from_text("::192.0.2.9", &v6)); /* not mapped */
    wsio__addr f = wsio__addr_unmapped(&mapped);
    assert_int_equal(f.family, 4);
    assert_memory_equal(f.bin, v4.bin, 4);
    assert_int_equal(wsio__addr_unmapped(&v6).family, 6);
    /* A trusted IPv4 network holds the mapped peer, not the other. */
    wsio__cidr c;
    assert_true(wsio__cidr_parse("192.0.2.0/24", &c));
    assert_true(wsio__cidr_match(&c, 1, &mapped));
    assert_false(wsio__cidr_match(&c, 1, &v6));
    /* One group for the mapped and the plain IPv4 peer. */
    uint8_t k1[WSIO__ADDR_KEY], k2[WSIO__ADDR_KEY], k3[WSIO__ADDR_KEY];
    assert_int_equal(wsio__addr_group(&mapped, 64, k1), 1);
    assert_int_equal(wsio__addr_group(&v4, 64, k2), 1);
    assert_int_equal(wsio__addr_group(&v6, 128, k3), 1);
    assert_memory_equal(k1, k2, sizeof k1);
    assert_memory_not_equal(k1, k3, sizeof k1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_since32_across_the_wrap),
        cmocka_unit_test(test_ws_idle_deadline_across_the_wrap),
        cmocka_unit_test(test_ws_stamp_is_only_the_ping_sent),
        cmocka_unit_test(test_ws_addr_text_round_trips),
        cmocka_unit_test(test_ws_addr_mapped_folds_for_rules_and_groups),
    };
    return cmocka_run_group_tests_name("ws_state", tests, NULL, NULL);
}

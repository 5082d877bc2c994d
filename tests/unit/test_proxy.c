/*
 * tests/unit/test_proxy.c - the PROXY protocol parser (wsio/proxy.h) and
 * the trusted-proxy address lists (src/server_security.c): vectors from
 * the HAProxy specification's examples, every prefix of a good header,
 * and the malformed forms a hostile peer would send.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "server_security.h"

/* A v2 header: signature, ver/cmd, family, length, then the body. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam,
                 const char *body_hex)
{
    static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    size_t n = body_hex ? test_hex(body_hex, out + 16, 512) : 0;
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
    return 16 + n;
}

typedef struct v1_case {
    const char *line;
    int local;
    const char *src;
    unsigned sport;
} v1_case;

static void test_proxy_v1_parses_addresses_and_ports(void **state)
{
    (void)state;
    static const v1_case cases[] = {
        {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", 0, "192.0.2.1",
         56324},
        {"PROXY TCP6 2001:db8::1 2001:db8::2 4711 80\r\n", 0, "2001:db8::1",
         4711},
        {"PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 0 80\r\n", 0, "2001:db8::1", 0},
        {"PROXY UNKNOWN\r\n", 1, "", 0},
        {"PROXY UNKNOWN ffff:f::1 ffff:f::2 65535 65535\r\n", 1, "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *rest = "GET / HTTP/1.1\r\n";
        char buf[256];
        snprintf(buf, sizeof buf, "%s%s", cases[i].line, rest);
        wsio_proxy_info pi;
        ssize_t n = wsio_proxy_parse(buf, strlen(buf), WSIO_PROXY_ANY, &pi);
        assert_int_equal(n, (ssize_t)strlen(cases[i].line));
        assert_int_equal(pi.version, 1);
        assert_int_equal(pi.local, cases[i].local);
        assert_string_equal(pi.src_addr, cases[i].src);
        assert_int_equal(pi.src_port, cases[i].sport);
    }
}

static void test_proxy_v1_every_prefix_wants_more(void **state)
{
    (void)state;
    const char *line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
    wsio_proxy_info pi;
    for (size_t k = 1; k < strlen(line); k++)
        assert_int_equal(wsio_proxy_parse(line, k, WSIO_PROXY_V1, &pi),
                         WSIO_EAGAIN);
}

static void test_proxy_v1_rejects_malformed_lines(void **state)
{
    (void)state;
    static const char *bad[] = {
        "GET / HTTP/1.1\r\n",                                /* no header */
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",     /* bare LF */
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",       /* 4 fields */
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 1\r\n", /* 6 fields */
        "PROXY TCP4 2001:db8::1 198.51.100.2 1 443\r\n",     /* v6 in TCP4 */
        "PROXY TCP6 192.0.2.1 ::1 1 443\r\n",                /* v4 in TCP6 */
        "PROXY TCP4 192.0.2.256 198.51.100.2 1 443\r\n",     /* bad octet */
        "PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",   /* port */
        "PROXY TCP4 192.0.2.1 198.51.100.2 080 443\r\n",     /* leading 0 */
        "PROXY TCP4  192.0.2.1 198.51.100.2 1 443\r\n",      /* two spaces */
        "PROXY UDP4 192.0.2.1 198.51.100.2 1 443\r\n",       /* protocol */
        "PROXY TCP4 192.0.2.1 198.51.100.2 1 44\x01"
        "3\r\n",                                       /* control */
        "proxy TCP4 192.0.2.1 198.51.100.2 1 443\r\n", /* case */
    };
    wsio_proxy_info pi;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(
            wsio_proxy_parse(bad[i], strlen(bad[i]), WSIO_PROXY_ANY, &pi),
            WSIO_EHS_MALFORMED);
    /* No CRLF within 107 bytes: refused, not waited for. */
    char longline[200];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "PROXY UNKNOWN ", 14);
    assert_int_equal(
        wsio_proxy_parse(longline, sizeof longline, WSIO_PROXY_V1, &pi),
        WSIO_EHS_MALFORMED);
    /* A v1 header on a v2-only listener. */
    const char *ok = "PROXY UNKNOWN\r\n";
    assert_int_equal(wsio_proxy_parse(ok, strlen(ok), WSIO_PROXY_V2, &pi),
                     WSIO_EHS_MALFORMED);
}

static void test_proxy_v2_parses_ipv4_ipv6_and_local(void **state)
{
    (void)state;
    uint8_t buf[600];
    wsio_proxy_info pi;
    /* PROXY TCP4 192.0.2.1:56324 -> 198.51.100.2:443, then a TLV. */
    size_t n = v2(buf, 0x21, 0x11, "c0000201 c6336402 dc04 01bb 04 0001 00");
    assert_int_equal(wsio_proxy_parse(buf, n, WSIO_PROXY_ANY, &pi), (ssize_t)n);
    assert_int_equal(pi.version, 2);
    assert_int_equal(pi.local, 0);
    assert_int_equal(pi.family, 4);
    assert_string_equal(pi.src_addr, "192.0.2.1");
    assert_string_equal(pi.dst_addr, "198.51.100.2");
    assert_int_equal(pi.src_port, 56324);
    assert_int_equal(pi.dst_port, 443);
    /* PROXY TCP6 2001:db8::1:4711 -> ::1:80. */
    n = v2(buf, 0x21, 0x21,
           "20010db8000000000000000000000001 00000000000000000000000000000001"
           "1267 0050");
    assert_int_equal(wsio_proxy_parse(buf, n, WSIO_PROXY_V2, &pi), (ssize_t)n);
    assert_int_equal(pi.family, 6);
    assert_string_equal(pi.src_addr, "2001:db8::1");
    assert_int_equal(pi.src_port, 4711);
    /* LOCAL (a health check): no client, whatever the body says. */
    n = v2(buf, 0x20, 0x00, NULL);
    assert_int_equal(wsio_proxy_parse(buf, n, WSIO_PROXY_V2, &pi), 16);
    assert_int_equal(pi.local, 1);
    /* Every prefix of a header is a valid start. */
    n = v2(buf, 0x21, 0x11, "c0000201 c6336402 dc04 01bb");
    for (size_t k = 1; k < n; k++)
        assert_int_equal(wsio_proxy_parse(buf, k, WSIO_PROXY_V2, &pi),
                         WSIO_EAGAIN);
}

static void test_proxy_v2_rejects_malformed_headers(void **state)
{
    (void)state;
    uint8_t buf[WSIO_PROXY_MAX_HEADER + 64];
    wsio_proxy_info pi;
    size_t n = v2(buf, 0x11, 0x11, "c0000201 c6336402 dc04 01bb"); /* ver 1 */
    assert_int_equal(wsio_proxy_parse(buf, n, WSIO_PROXY_V2, &pi),
                     WSIO_EHS_MALFORMED);
    n = v2(buf, 0x22, 0x11, "c0000201 c6336402 dc04 01bb"); /* command 2 */
    assert_int_equal(wsio_proxy_parse(buf, n, WSIO_PROXY_V2, &pi),
                     WSIO_EHS_MALFORMED);
    n = v2(buf, 0x21, 0x11, "c0000201 c6336402 dc04"); /* short body */
    assert_int_equal(wsio_proxy_parse(buf, n, WSIO_PROXY_V2, &pi),
                     WSIO_EHS_MALFORMED);
    n = v2(buf, 0x21, 0x12, "c0000201 c6336402 dc04 01bb"); /* UDP */
    assert_int_equal(wsio_proxy_parse(buf, n, WSIO_PROXY_V2, &pi),
                     WSIO_EHS_MALFORMED);
    n = v2(buf, 0x21, 0x41, "c0000201 c6336402 dc04 01bb"); /* family 4 */
    assert_int_equal(wsio_proxy_parse(buf, n, WSIO_PROXY_V2, &pi),
                     WSIO_EHS_MALFORMED);
    /* Longer than the limit: refused from its 16-byte head already. */
    v2(buf, 0x21, 0x11, NULL);
    buf[14] = (uint8_t)(WSIO_PROXY_MAX_HEADER >> 8);
    buf[15] = (uint8_t)WSIO_PROXY_MAX_HEADER;
    assert_int_equal(wsio_proxy_parse(buf, 16, WSIO_PROXY_V2, &pi),
                     WSIO_EHS_MALFORMED);
    /* A v2 header on a v1-only listener. */
    n = v2(buf, 0x20, 0x00, NULL);
    assert_int_equal(wsio_proxy_parse(buf, n, WSIO_PROXY_V1, &pi),
                     WSIO_EHS_MALFORMED);
}

typedef struct cidr_case {
    const char *list; /* one entry */
    const char *addr;
    int inside;
} cidr_case;

static void test_proxy_cidr_matches_addresses_and_blocks(void **state)
{
    (void)state;
    static const cidr_case cases[] = {
        {"10.0.0.0/8", "10.255.1.2", 1},
        {"10.0.0.0/8", "11.0.0.1", 0},
        {"192.168.1.5", "192.168.1.5", 1},
        {"192.168.1.5", "192.168.1.6", 0},
        {"172.16.0.0/12", "172.31.255.255", 1},
        {"172.16.0.0/12", "172.32.0.0", 0},
        {"127.0.0.1", "::ffff:127.0.0.1", 1}, /* dual-stack peer */
        {"::1", "::1", 1},
        {"::1", "127.0.0.1", 0},
        {"fd00::/8", "fd12:3456::1", 1},
        {"fd00::/8", "fe80::1", 0},
        {"2001:db8::/33", "2001:db8:7fff::1", 1},
        {"2001:db8::/33", "2001:db8:8000::1", 0},
        {"0.0.0.0/0", "203.0.113.9", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wsio__cidr c;
        assert_true(wsio__cidr_parse(cases[i].list, &c));
        wsio__addr a;
        assert_true(wsio__addr_from_text(cases[i].addr, &a));
        assert_int_equal(wsio__cidr_match(&c, 1, &a), cases[i].inside);
    }
    static const char *bad[] = {"10.0.0.0/33", "::/129",       "10.0.0.0/",
                                "10.0.0.0/8x", "host.example", "",
                                "1.2.3/8",     "10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wsio__cidr c;
        assert_false(wsio__cidr_parse(bad[i], &c));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_v1_parses_addresses_and_ports),
        cmocka_unit_test(test_proxy_v1_every_prefix_wants_more),
        cmocka_unit_test(test_proxy_v1_rejects_malformed_lines),
        cmocka_unit_test(test_proxy_v2_parses_ipv4_ipv6_and_local),
        cmocka_unit_test(test_proxy_v2_rejects_malformed_headers),
        cmocka_unit_test(test_proxy_cidr_matches_addresses_and_blocks),
    };
    return cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
}

/*
 * tests/unit/test_deflate_negotiate.c - permessage-deflate negotiation
 * (RFC 7692 section 7.1) in the core, without zlib: every parameter with
 * and without values, malformed offers declined, the first acceptable offer
 * chosen, the client's offer and its checks of the answer.
 */
#include <string.h>

#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One Sec-WebSocket-Extensions header with value v. */
static wsio_http_header ext_header(const char *v)
{
    wsio_http_header h = {{"Sec-WebSocket-Extensions", 24}, {v, strlen(v)}};
    return h;
}

/* A server's answer to offer under the default policy: the answer value,
 * or "" when declined. */
static ssize_t negotiate(const char *offer, const wsio_deflate_policy *pol,
                         wsio_deflate_params *params, char *answer)
{
    wsio_http_header h = ext_header(offer);
    memset(answer, 0, WSIO_DEFLATE_HEADER_MAX);
    return wsio_deflate_negotiate(&h, 1, pol, params, answer,
                                  WSIO_DEFLATE_HEADER_MAX);
}

static void test_deflate_negotiate_server_answers_each_parameter(void **state)
{
    (void)state;
    static const struct {
        const char *offer;
        const char *answer;
        uint8_t snct, cnct, sbits, cbits;
    } cases[] = {
        {"permessage-deflate", "permessage-deflate", 0, 0, 15, 15},
        /* What browsers send. */
        {"permessage-deflate; client_max_window_bits", "permessage-deflate", 0,
         0, 15, 15},
        {"permessage-deflate; server_no_context_takeover",
         "permessage-deflate; server_no_context_takeover", 1, 0, 15, 15},
        {"permessage-deflate; client_no_context_takeover",
         "permessage-deflate; client_no_context_takeover", 0, 1, 15, 15},
        {"permessage-deflate; server_max_window_bits=10",
         "permessage-deflate; server_max_window_bits=10", 0, 0, 10, 15},
        {"permessage-deflate; server_max_window_bits=\"12\"",
         "permessage-deflate; server_max_window_bits=12", 0, 0, 12, 15},
        {"permessage-deflate; server_max_window_bits=15",
         "permessage-deflate; server_max_window_bits=15", 0, 0, 15, 15},
        /* The client's value is the most it will use; echoed. */
        {"permessage-deflate; client_max_window_bits=11",
         "permessage-deflate; "
         "client_max_window_bits=11",
         0, 0, 15, 11},
        {"permessage-deflate; client_max_window_bits=8",
         "permessage-deflate; client_max_window_bits=8", 0, 0, 15, 8},
        {"PerMessage-Deflate ;Server_No_Context_Takeover ; "
         "client_max_window_bits = 9",
         "permessage-deflate; server_no_context_takeover; "
         "client_max_window_bits=9",
         1, 0, 15, 9},
        {"permessage-deflate; server_no_context_takeover; "
         "client_no_context_takeover; server_max_window_bits=9; "
         "client_max_window_bits=10",
         "permessage-deflate; server_no_context_takeover; "
         "client_no_context_takeover; server_max_window_bits=9; "
         "client_max_window_bits=10",
         1, 1, 9, 10},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char answer[WSIO_DEFLATE_HEADER_MAX];
        wsio_deflate_params p;
        ssize_t n = negotiate(cases[i].offer, NULL, &p, answer);
        assert_int_equal(n, (ssize_t)strlen(cases[i].answer));
        assert_string_equal(answer, cases[i].answer);
        assert_int_equal(p.server_no_context_takeover, cases[i].snct);
        assert_int_equal(p.client_no_context_takeover, cases[i].cnct);
        assert_int_equal(p.server_max_window_bits, cases[i].sbits);
        assert_int_equal(p.client_max_window_bits, cases[i].cbits);
    }
}

static void
test_deflate_negotiate_server_declines_malformed_offers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "permessage-deflate; server_no_context_takeover; "
        "server_no_context_takeover", /* duplicate */
        "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
        "permessage-deflate; server_max_window_bits=10; "
        "server_max_window_bits=10",
        "permessage-deflate; server_max_window_bits", /* value required */
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; server_max_window_bits=7", /* out of 8..15 */
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=0",
        "permessage-deflate; server_max_window_bits=-9",
        "permessage-deflate; server_max_window_bits=010", /* leading zero */
        "permessage-deflate; server_max_window_bits=09",
        "permessage-deflate; server_max_window_bits=1e1",
        "permessage-deflate; server_max_window_bits=99999999999999999999",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=256",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; server_no_context_takeover=1", /* no value */
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; x-unknown", /* unknown */
        "permessage-deflate; mux",
        "permessage-deflate;", /* empty param */
        "permessage-deflate;; server_no_context_takeover",
        "permessage-deflate; =10",
        /* zlib cannot compress with an 8-bit window. */
        "permessage-deflate; server_max_window_bits=8",
        "x-webkit-deflate-frame", /* another one */
        "deflate-frame; server_no_context_takeover",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char answer[WSIO_DEFLATE_HEADER_MAX];
        wsio_deflate_params p;
        assert_int_equal(negotiate(bad[i], NULL, &p, answer), 0);
        assert_string_equal(answer, "");
    }
    /* No header at all. */
    char answer[WSIO_DEFLATE_HEADER_MAX];
    assert_int_equal(
        wsio_deflate_negotiate(NULL, 0, NULL, NULL, answer, sizeof answer), 0);
}

static void test_deflate_negotiate_server_picks_first_acceptable(void **state)
{
    (void)state;
    char answer[WSIO_DEFLATE_HEADER_MAX];
    wsio_deflate_params p;
    /* The first is malformed, the second asks for 8 bits: the third wins. */
    assert_true(negotiate("permessage-deflate; foo, x-other, "
                          "permessage-deflate; server_max_window_bits=8, "
                          "permessage-deflate; server_max_window_bits=11, "
                          "permessage-deflate",
                          NULL, &p, answer) > 0);
    assert_string_equal(answer,
                        "permessage-deflate; server_max_window_bits=11");
    assert_int_equal(p.server_max_window_bits, 11);

    /* Across header lines, in order. */
    wsio_http_header two[] = {
        {{"Host", 4}, {"x", 1}},
        ext_header("permessage-deflate; server_max_window_bits=x"),
        ext_header("permessage-deflate; client_no_context_takeover"),
    };
    assert_true(
        wsio_deflate_negotiate(two, 3, NULL, &p, answer, sizeof answer) > 0);
    assert_string_equal(answer,
                        "permessage-deflate; client_no_context_takeover");
}

static void test_deflate_negotiate_server_applies_policy(void **state)
{
    (void)state;
    static const struct {
        wsio_deflate_policy pol; /* snct, cnct, sbits, cbits */
        const char *offer;
        const char *answer;
        uint8_t sbits, cbits;
    } cases[] = {
        {{1, 0, 15, 15},
         "permessage-deflate",
         "permessage-deflate; server_no_context_takeover",
         15,
         15},
        {{0, 1, 15, 15},
         "permessage-deflate",
         "permessage-deflate; client_no_context_takeover",
         15,
         15},
        /* The server picks a smaller window for itself. */
        {{0, 0, 10, 15},
         "permessage-deflate",
         "permessage-deflate; server_max_window_bits=10",
         10,
         15},
        /* The smaller of the offer's and the policy's. */
        {{0, 0, 10, 15},
         "permessage-deflate; server_max_window_bits=12",
         "permessage-deflate; server_max_window_bits=10",
         10,
         15},
        {{0, 0, 12, 15},
         "permessage-deflate; server_max_window_bits=9",
         "permessage-deflate; server_max_window_bits=9",
         9,
         15},
        /* Limiting the client only when it said it may be limited. */
        {{0, 0, 15, 10}, "permessage-deflate", "permessage-deflate", 15, 15},
        {{0, 0, 15, 10},
         "permessage-deflate; client_max_window_bits",
         "permessage-deflate; client_max_window_bits=10",
         15,
         10},
        {{0, 0, 15, 12},
         "permessage-deflate; client_max_window_bits=9",
         "permessage-deflate; client_max_window_bits=9",
         15,
         9},
        /* Policy values under 9 count as 9. */
        {{0, 0, 8, 0},
         "permessage-deflate; client_max_window_bits",
         "permessage-deflate; server_max_window_bits=9; "
         "client_max_window_bits=9",
         9,
         9},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char answer[WSIO_DEFLATE_HEADER_MAX];
        wsio_deflate_params p;
        assert_true(negotiate(cases[i].offer, &cases[i].pol, &p, answer) > 0);
        assert_string_equal(answer, cases[i].answer);
        assert_int_equal(p.server_max_window_bits, cases[i].sbits);
        assert_int_equal(p.client_max_window_bits, cases[i].cbits);
    }
}

static void test_deflate_negotiate_server_reports_small_buffer(void **state)
{
    (void)state;
    wsio_http_header h =
        ext_header("permessage-deflate; server_no_context_takeover");
    char small[10];
    assert_int_equal(
        wsio_deflate_negotiate(&h, 1, NULL, NULL, small, sizeof small),
        WSIO_ENOSPC);
    assert_int_equal(wsio_deflate_negotiate(&h, 1, NULL, NULL, NULL, 0),
                     WSIO_EINVAL);
    assert_int_equal(
        wsio_deflate_negotiate(NULL, 1, NULL, NULL, small, sizeof small),
        WSIO_EINVAL);
    /* The longest answer fits the documented maximum. */
    wsio_deflate_policy pol = {1, 1, 10, 10};
    wsio_http_header all =
        ext_header("permessage-deflate; client_max_window_bits");
    char answer[WSIO_DEFLATE_HEADER_MAX];
    ssize_t n =
        wsio_deflate_negotiate(&all, 1, &pol, NULL, answer, sizeof answer);
    assert_true(n > 0 && (size_t)n < sizeof answer);
}

static void test_deflate_negotiate_client_builds_offer(void **state)
{
    (void)state;
    static const struct {
        wsio_deflate_policy pol;
        const char *offer;
    } cases[] = {
        {{0, 0, 15, 15}, "permessage-deflate; client_max_window_bits"},
        {{1, 1, 10, 12},
         "permessage-deflate; server_no_context_takeover; "
         "client_no_context_takeover; server_max_window_bits=10; "
         "client_max_window_bits=12"},
        {{0, 0, 8, 8},
         "permessage-deflate; server_max_window_bits=9; "
         "client_max_window_bits=9"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char out[WSIO_DEFLATE_HEADER_MAX];
        ssize_t n = wsio_deflate_build_offer(&cases[i].pol, out, sizeof out);
        assert_int_equal(n, (ssize_t)strlen(cases[i].offer));
        assert_string_equal(out, cases[i].offer);
        /* A server with the same policy accepts our own offer. */
        char answer[WSIO_DEFLATE_HEADER_MAX];
        assert_true(negotiate(out, &cases[i].pol, NULL, answer) > 0);
    }
    char out[WSIO_DEFLATE_HEADER_MAX];
    assert_int_equal(
        wsio_deflate_build_offer(NULL, out, sizeof out),
        (ssize_t)strlen("permessage-deflate; client_max_window_bits"));
    assert_int_equal(wsio_deflate_build_offer(NULL, out, 5), WSIO_ENOSPC);
    assert_int_equal(wsio_deflate_build_offer(NULL, NULL, 0), WSIO_EINVAL);
}

static int check(const char *answer, const wsio_deflate_policy *pol,
                 wsio_deflate_params *p)
{
    wsio_http_header h = ext_header(answer);
    return wsio_deflate_check_answer(&h, 1, pol, p);
}

static void test_deflate_negotiate_client_accepts_valid_answers(void **state)
{
    (void)state;
    static const struct {
        wsio_deflate_policy pol;
        const char *answer;
        uint8_t snct, cnct, sbits, cbits;
    } cases[] = {
        {{0, 0, 15, 15}, "permessage-deflate", 0, 0, 15, 15},
        {{0, 0, 15, 15},
         "permessage-deflate; server_no_context_takeover",
         1,
         0,
         15,
         15},
        {{0, 0, 15, 15},
         "permessage-deflate; client_no_context_takeover",
         0,
         1,
         15,
         15},
        /* We inflate with any window the server picks, 8 included. */
        {{0, 0, 15, 15},
         "permessage-deflate; server_max_window_bits=8",
         0,
         0,
         8,
         15},
        {{0, 0, 15, 15},
         "permessage-deflate; client_max_window_bits=9",
         0,
         0,
         15,
         9},
        {{0, 0, 12, 15},
         "permessage-deflate; server_max_window_bits=12",
         0,
         0,
         12,
         15},
        {{0, 0, 12, 15},
         "permessage-deflate; server_max_window_bits=10",
         0,
         0,
         10,
         15},
        {{1, 0, 15, 15},
         "permessage-deflate; server_no_context_takeover",
         1,
         0,
         15,
         15},
        /* We said we would not keep context: we keep to it. */
        {{0, 1, 15, 11}, "permessage-deflate", 0, 1, 15, 11},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        wsio_deflate_params p;
        assert_int_equal(check(cases[i].answer, &cases[i].pol, &p), 1);
        assert_int_equal(p.server_no_context_takeover, cases[i].snct);
        assert_int_equal(p.client_no_context_takeover, cases[i].cnct);
        assert_int_equal(p.server_max_window_bits, cases[i].sbits);
        assert_int_equal(p.client_max_window_bits, cases[i].cbits);
    }
    /* No permessage-deflate in the answer: not agreed, not an error. */
    wsio_deflate_params p;
    assert_int_equal(check("x-other", NULL, &p), 0);
    assert_int_equal(wsio_deflate_check_answer(NULL, 0, NULL, &p), 0);
}

static void test_deflate_negotiate_client_rejects_bad_answers(void **state)
{
    (void)state;
    static const struct {
        wsio_deflate_policy pol;
        const char *answer;
    } cases[] = {
        {{0, 0, 15, 15}, "permessage-deflate; x-unknown"},
        {{0, 0, 15, 15}, "permessage-deflate; server_max_window_bits"},
        {{0, 0, 15, 15}, "permessage-deflate; server_max_window_bits=16"},
        {{0, 0, 15, 15}, "permessage-deflate; server_max_window_bits=7"},
        /* A value is required in an answer. */
        {{0, 0, 15, 15}, "permessage-deflate; client_max_window_bits"},
        /* We cannot compress with 8 bits. */
        {{0, 0, 15, 15}, "permessage-deflate; client_max_window_bits=8"},
        /* Over what we offered. */
        {{0, 0, 15, 10}, "permessage-deflate; client_max_window_bits=11"},
        {{0, 0, 12, 15}, "permessage-deflate; server_max_window_bits=13"},
        /* Asked for and missing from the answer. */
        {{0, 0, 12, 15}, "permessage-deflate"},
        {{1, 0, 15, 15}, "permessage-deflate"},
        {{0, 0, 15, 15},
         "permessage-deflate; server_no_context_takeover; "
         "server_no_context_takeover"},
        {{0, 0, 15, 15}, "permessage-deflate; client_no_context_takeover=1"},
        /* Two acceptances of one offer. */
        {{0, 0, 15, 15}, "permessage-deflate, permessage-deflate"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        assert_int_equal(check(cases[i].answer, &cases[i].pol, NULL),
                         WSIO_EHS_EXTENSION);
    assert_int_equal(wsio_deflate_check_answer(NULL, 1, NULL, NULL),
                     WSIO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deflate_negotiate_server_answers_each_parameter),
        cmocka_unit_test(
            test_deflate_negotiate_server_declines_malformed_offers),
        cmocka_unit_test(test_deflate_negotiate_server_picks_first_acceptable),
        cmocka_unit_test(test_deflate_negotiate_server_applies_policy),
        cmocka_unit_test(test_deflate_negotiate_server_reports_small_buffer),
        cmocka_unit_test(test_deflate_negotiate_client_builds_offer),
        cmocka_unit_test(test_deflate_negotiate_client_accepts_valid_answers),
        cmocka_unit_test(test_deflate_negotiate_client_rejects_bad_answers),
    };
    return cmocka_run_group_tests_name("deflate_negotiate", tests, NULL, NULL);
}

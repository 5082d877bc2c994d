/*
 * tests/unit/test_common.c - errors, close codes, version, allocator and
 * reference-counted buffers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static void test_common_strerror_names_every_code(void **state)
{
    (void)state;
    static const int codes[] = {
#define CODE(name, value, close, http, text) WSIO_##name,
        WSIO_ERR_MAP(CODE)
#undef CODE
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        assert_true(codes[i] < -999 && codes[i] > -2000);
        assert_string_not_equal(wsio_strerror(codes[i]), "unknown error");
        assert_string_not_equal(wsio_err_name(codes[i]), "UNKNOWN");
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(codes[i], codes[j]);
    }
    assert_string_equal(wsio_err_name(WSIO_EUTF8), "EUTF8");
    assert_string_equal(wsio_err_name(0), "OK");
    assert_string_equal(wsio_strerror(-1234567), "unknown error");
}

static void test_common_strerror_passes_errno_through(void **state)
{
    (void)state;
    assert_string_equal(wsio_strerror(-ECONNRESET), strerror(ECONNRESET));
}

static void test_common_err_close_code_maps_protocol_errors(void **state)
{
    (void)state;
    assert_int_equal(wsio_err_close_code(WSIO_EUNMASKED), 1002);
    assert_int_equal(wsio_err_close_code(WSIO_EUTF8), 1007);
    assert_int_equal(wsio_err_close_code(WSIO_ETOOBIG), 1009);
    assert_int_equal(wsio_err_close_code(WSIO_ENOMEM), 1011);
    assert_int_equal(wsio_err_close_code(WSIO_EAGAIN), 0);
    assert_int_equal(wsio_err_close_code(-EPIPE), 0);
}

static void test_common_err_http_status_maps_handshake_errors(void **state)
{
    (void)state;
    assert_int_equal(wsio_err_http_status(WSIO_EHS_VERSION), 426);
    assert_int_equal(wsio_err_http_status(WSIO_EHS_KEY), 400);
    assert_int_equal(wsio_err_http_status(WSIO_EHS_TOOLARGE), 431);
    assert_int_equal(wsio_err_http_status(WSIO_EUTF8), 0);
    assert_true(wsio_err_is_fatal(WSIO_ENOMEM));
    assert_false(wsio_err_is_fatal(WSIO_EPROTO));
}

static void test_common_close_code_validity_follows_rfc(void **state)
{
    (void)state;
    /* RFC 6455 section 7.4: every class of code. */
    static const unsigned ok[] = {1000, 1001, 1002, 1003, 1007, 1008,
                                  1009, 1010, 1011, 1012, 1013, 1014,
                                  3000, 3999, 4000, 4999};
    static const unsigned bad[] = {0,    1,    999,  1004, 1005, 1006, 1015,
                                   1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(wsio_close_code_is_valid(ok[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(wsio_close_code_is_valid(bad[i]));
}

static void test_common_version_matches_header(void **state)
{
    (void)state;
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", WSIO_VERSION_MAJOR,
             WSIO_VERSION_MINOR, WSIO_VERSION_PATCH);
    assert_string_equal(wsio_version(), expect);
    assert_string_equal(wsio_version(), WSIO_VERSION_STRING);
    assert_int_equal(wsio_version_number(), WSIO_VERSION_NUMBER);
}

static void test_common_rcbuf_frees_with_last_reference(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    wsio_rcbuf *b = wsio_rcbuf_new(&tm.mem, 64);
    assert_non_null(b);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->capacity, 64);
    assert_ptr_equal(wsio_rcbuf_ref(b), b);
    wsio_rcbuf_unref(b);
    assert_int_equal(tm.live_blocks, 1);
    wsio_rcbuf_unref(b);
    assert_int_equal(tm.live_blocks, 0);
    wsio_rcbuf_unref(NULL);
}

static void test_common_rcbuf_reports_allocation_failure(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    test_mem_fail_at(&tm, 0);
    assert_null(wsio_rcbuf_new(&tm.mem, 16));
    assert_null(wsio_rcbuf_new(&tm.mem, SIZE_MAX));
    assert_int_equal(tm.live_blocks, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common_strerror_names_every_code),
        cmocka_unit_test(test_common_strerror_passes_errno_through),
        cmocka_unit_test(test_common_err_close_code_maps_protocol_errors),
        cmocka_unit_test(test_common_err_http_status_maps_handshake_errors),
        cmocka_unit_test(test_common_close_code_validity_follows_rfc),
        cmocka_unit_test(test_common_version_matches_header),
        cmocka_unit_test(test_common_rcbuf_frees_with_last_reference),
        cmocka_unit_test(test_common_rcbuf_reports_allocation_failure),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}

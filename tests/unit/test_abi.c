/*
 * tests/unit/test_abi.c - sized structs (docs/DESIGN.md, ABI), through the
 * public calls: what _config_default writes, and what the calls that take
 * a config or a broker accept. A struct of "newer headers" is simulated by
 * a buffer larger than the struct, its struct_size covering the extra
 * bytes. tests/abi/run.sh does the same across two real builds.
 */
#include <string.h>

#include "testutil.h"

enum { EXTRA = 16 };

/* A config followed by bytes a newer release's fields would occupy. */
typedef struct newer_loop_config {
    wsio_loop_config cfg;
    unsigned char next[EXTRA];
} newer_loop_config;

static void test_abi_default_fills_exactly_the_callers_size(void **state)
{
    (void)state;
    /* Older headers: a struct_size shorter than the library's struct. The
     * bytes past it are not the caller's and must stay untouched. */
    unsigned char buf[sizeof(wsio_server_config)];
    memset(buf, 0x5a, sizeof buf);
    size_t short_size = offsetof(wsio_server_config, hub);
    wsio_server_config_init((wsio_server_config *)buf, short_size);
    size_t got;
    memcpy(&got, buf, sizeof got);
    assert_int_equal(got, short_size);
    for (size_t i = short_size; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0x5a);
    /* Newer headers: the bytes past the library's struct are zeroed. */
    newer_loop_config n;
    memset(&n, 0x5a, sizeof n);
    wsio_loop_config_init(&n.cfg, sizeof n);
    assert_int_equal(n.cfg.struct_size, sizeof n);
    for (size_t i = 0; i < EXTRA; i++)
        assert_int_equal(n.next[i], 0);
}

static void test_abi_loop_new_checks_struct_size(void **state)
{
    (void)state;
    int err = 0;
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.struct_size = 0;
    assert_null(wsio_loop_new(&lc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    lc.struct_size = offsetof(wsio_loop_config, mem);
    assert_null(wsio_loop_new(&lc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    /* Newer headers, their field left 0: taken. */
    newer_loop_config n;
    wsio_loop_config_init(&n.cfg, sizeof n);
    wsio_loop *loop = wsio_loop_new(&n.cfg, &err);
    assert_non_null(loop);
    wsio_loop_free(loop);
    /* Set: a library that does not know it refuses it. */
    n.next[EXTRA - 1] = 1;
    assert_null(wsio_loop_new(&n.cfg, &err));
    assert_int_equal(err, WSIO_EINVAL);
}

static void test_abi_conn_new_checks_struct_size(void **state)
{
    (void)state;
    wsio_conn_config cc;
    wsio_conn_config_default(&cc);
    assert_int_equal(cc.struct_size, sizeof cc);
    cc.max_message_size = 77;
    wsio_conn *c = wsio_conn_new(WSIO_ROLE_CLIENT, &cc, NULL, NULL, NULL);
    assert_non_null(c);
    wsio_conn_free(c);
    cc.struct_size = 0;
    assert_null(wsio_conn_new(WSIO_ROLE_CLIENT, &cc, NULL, NULL, NULL));
}

static void test_abi_server_and_client_check_struct_size(void **state)
{
    (void)state;
    int err = 0;
    wsio_loop *loop = wsio_loop_new(NULL, &err);
    assert_non_null(loop);
    wsio_server_config sc;
    wsio_server_config_default(&sc);
    assert_int_equal(sc.struct_size, sizeof sc);
    assert_int_equal(sc.conn.struct_size, sizeof sc.conn);
    sc.struct_size = 0;
    assert_null(wsio_server_new(loop, &sc, NULL, NULL, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    /* A transport table older than every member the server uses: 0, or
     * 1, whose open took no server_name (the struct held it). */
    wsio_transport_ops old = *wsio_transport_plain();
    wsio_client_config cl;
    for (unsigned v = 0; v < 2; v++) {
        old.abi_version = v;
        wsio_server_config_default(&sc);
        sc.transport = &old;
        assert_null(wsio_server_new(loop, &sc, NULL, NULL, NULL, &err));
        assert_int_equal(err, WSIO_EINVAL);
        wsio_client_config_default(&cl);
        cl.transport = &old;
        assert_null(wsio_client_connect(loop, "ws://127.0.0.1:9/", &cl, NULL,
                                        NULL, &err));
        assert_int_equal(err, WSIO_EINVAL);
    }
    /* Version 2 and later are taken. */
    old.abi_version = WSIO_TRANSPORT_ABI_VERSION;
    wsio_server_config_default(&sc);
    sc.transport = &old;
    wsio_server *srv = wsio_server_new(loop, &sc, NULL, NULL, NULL, &err);
    assert_non_null(srv);
    wsio_server_free(srv);
    cl.transport = NULL;
    cl.struct_size = 0;
    assert_null(
        wsio_client_connect(loop, "ws://127.0.0.1:9/", &cl, NULL, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    /* The conn config inside, left unfilled (designated initializers). */
    wsio_client_config_default(&cl);
    memset(&cl.conn, 0, sizeof cl.conn);
    assert_null(
        wsio_client_connect(loop, "ws://127.0.0.1:9/", &cl, NULL, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    wsio_server_config_default(&sc);
    memset(&sc.conn, 0, sizeof sc.conn);
    assert_null(wsio_server_new(loop, &sc, NULL, NULL, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    wsio_loop_free(loop);
}

static int detaches;

static void count_detach(wsio_server *srv, void *user)
{
    (void)srv;
    (void)user;
    detaches++;
}

/* A broker without struct_size is refused, and the one attached stays. */
static void test_abi_broker_needs_struct_size(void **state)
{
    (void)state;
    int err = 0;
    wsio_loop *loop = wsio_loop_new(NULL, &err);
    assert_non_null(loop);
    wsio_server *srv = wsio_server_new(loop, NULL, NULL, NULL, NULL, &err);
    assert_non_null(srv);
    wsio_broker b = WSIO_BROKER_INIT;
    assert_int_equal(b.struct_size, sizeof b);
    b.on_detach = count_detach;
    assert_int_equal(wsio_server_set_broker(srv, &b), 0);
    wsio_broker unsized = {.on_detach = count_detach};
    assert_int_equal(wsio_server_set_broker(srv, &unsized), WSIO_EINVAL);
    assert_int_equal(detaches, 0);
    wsio_server_free(srv);
    assert_int_equal(detaches, 1);
    wsio_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_default_fills_exactly_the_callers_size),
        cmocka_unit_test(test_abi_loop_new_checks_struct_size),
        cmocka_unit_test(test_abi_conn_new_checks_struct_size),
        cmocka_unit_test(test_abi_server_and_client_check_struct_size),
        cmocka_unit_test(test_abi_broker_needs_struct_size),
    };
    return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}

/*
 * tests/abi/abi_program.c - a program that uses libwsio.so through its
 * sized structs, built by tests/abi/run.sh against one release's headers
 * and run against a library of another (docs/DESIGN.md, ABI).
 *
 * Built against headers whose structs are smaller than the library's (an
 * older program, a newer library): _config_default writes nothing past
 * the program's structs (canaries), and the library reads the fields the
 * program set, at their places (node id, limits, a client that connects).
 * With -DWSIO_ABI_NEWER, built against headers whose structs end with one
 * more field, abi_next (a newer program, an older library): that field
 * left 0 changes nothing, set it is refused with WSIO_EINVAL.
 *
 * Either way: struct_size 0 (a config never filled by _config_default), or
 * one too small for the first sized release, is WSIO_EINVAL. Prints
 * "abi: N passed, M failed"; exits 1 on any failure. Bounded: the loop
 * runs at most 5 s.
 */
#include <stdio.h>
#include <string.h>

#include "wsio.h"

static int passed, failed;

static void check(int ok, const char *what)
{
    if (ok) {
        passed++;
        printf("ok   %s\n", what);
    } else {
        failed++;
        printf("FAIL %s\n", what);
    }
}

#define CANARY 0x5a

/* Each config with bytes after it that _config_default must not touch. */
#define GUARDED(type)                                                          \
    struct {                                                                   \
        type cfg;                                                              \
        unsigned char canary[64];                                              \
    }

static int canary_intact(const unsigned char *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c[i] != CANARY)
            return 0;
    return 1;
}

#define CHECK_DEFAULT(type, fill, name)                                        \
    do {                                                                       \
        GUARDED(type) g;                                                       \
        memset(&g, CANARY, sizeof g);                                          \
        fill;                                                                  \
        check(canary_intact(g.canary, sizeof g.canary),                        \
              name ": _config_default writes nothing past the struct");        \
        check(g.cfg.struct_size == sizeof g.cfg,                               \
              name ": struct_size is the program's sizeof");                   \
    } while (0)

static int opened;

static void on_open(wsio_ws *ws, void *user)
{
    (void)user;
    opened = 1;
    (void)wsio_ws_close(ws, WSIO_CLOSE_NORMAL, NULL, 0);
}

static const wsio_ws_callbacks client_cb = {.on_open = on_open};

static void on_first(wsio_server *srv, const char *topic, void *user)
{
    (void)srv;
    (void)topic;
    (void)user;
}

int main(void)
{
    CHECK_DEFAULT(wsio_loop_config, wsio_loop_config_default(&g.cfg), "loop");
    CHECK_DEFAULT(wsio_conn_config, wsio_conn_config_default(&g.cfg), "conn");
    CHECK_DEFAULT(wsio_server_config, wsio_server_config_default(&g.cfg),
                  "server");
    CHECK_DEFAULT(wsio_client_config, wsio_client_config_default(&g.cfg),
                  "client");

    int err = 0;
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    check(loop != NULL, "loop: made from the program's config");
    if (!loop)
        return 1;

    wsio_server_config sc;
    wsio_server_config_default(&sc);
    /* Fields near the end of the program's struct: read at their places. */
    sc.node_id = 0x1234567890abcdefu;
    sc.max_connections = 7;
    sc.struct_size = 0;
    check(!wsio_server_new(loop, &sc, NULL, NULL, NULL, &err) &&
              err == WSIO_EINVAL,
          "server: struct_size 0 is WSIO_EINVAL");
    sc.struct_size = offsetof(wsio_server_config, hub);
    check(!wsio_server_new(loop, &sc, NULL, NULL, NULL, &err) &&
              err == WSIO_EINVAL,
          "server: a struct_size short of the first release is WSIO_EINVAL");
    sc.struct_size = sizeof sc;
#ifdef WSIO_ABI_NEWER
    check(sc.abi_next == 0, "server: _config_default zeroes a newer field");
    sc.abi_next = 1;
    check(!wsio_server_new(loop, &sc, NULL, NULL, NULL, &err) &&
              err == WSIO_EINVAL,
          "server: a newer field set is WSIO_EINVAL on an older library");
    sc.abi_next = 0;
#endif
    wsio_server *srv = wsio_server_new(loop, &sc, NULL, NULL, NULL, &err);
    check(srv != NULL, "server: made from the program's config");
    if (!srv)
        return 1;
    check(wsio_server_node_id(srv) == 0x1234567890abcdefu,
          "server: node_id read from the program's struct");

    wsio_broker b = WSIO_BROKER_INIT;
    b.on_first_subscriber = on_first;
    check(wsio_server_set_broker(srv, &b) == 0, "broker: WSIO_BROKER_INIT");
    b.struct_size = 0;
    check(wsio_server_set_broker(srv, &b) == WSIO_EINVAL,
          "broker: struct_size 0 is WSIO_EINVAL");

    wsio_conn_config cc;
    wsio_conn_config_default(&cc);
    wsio_conn *conn = wsio_conn_new(WSIO_ROLE_SERVER, &cc, NULL, NULL, NULL);
    check(conn != NULL, "conn: made from the program's config");
    wsio_conn_free(conn);
    cc.struct_size = 0;
    check(wsio_conn_new(WSIO_ROLE_SERVER, &cc, NULL, NULL, NULL) == NULL,
          "conn: struct_size 0 is refused");

    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/",
             (unsigned)wsio_server_port(srv));
    wsio_client_config cl;
    wsio_client_config_default(&cl);
    cl.struct_size = 0;
    check(!wsio_client_connect(loop, url, &cl, &client_cb, NULL, &err) &&
              err == WSIO_EINVAL,
          "client: struct_size 0 is WSIO_EINVAL");
    wsio_client_config_default(&cl);
    cl.connect_timeout_ms = 3000;
    check(wsio_client_connect(loop, url, &cl, &client_cb, NULL, &err) != NULL,
          "client: connecting with the program's config");
    uint64_t start = wsio_clock_ms();
    while (!opened && wsio_clock_ms() - start < 5000)
        (void)wsio_loop_run_once(loop, 50);
    check(opened, "client: the handshake with the server completed");

    wsio_server_free(srv);
    wsio_loop_free(loop);
    printf("abi: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

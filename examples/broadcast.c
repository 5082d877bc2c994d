/*
 * examples/broadcast.c - every message any client sends goes to every
 * connected client (the sender included), encoded once. With --threads N
 * there are N servers on the port, one per thread, and the hub carries
 * each broadcast to the clients of the other threads.
 *
 *     build/examples/broadcast --port 9002 [--threads 4]
 */
#include <stdio.h>
#include <string.h>

#include "example.h"

static void on_open(wsio_ws *ws, void *user)
{
    (void)user;
    uint16_t port;
    const char *addr = wsio_ws_remote_addr(ws, &port);
    example_log("broadcast", "open %s:%u", addr, (unsigned)port);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    int n = wsio_server_broadcast(wsio_ws_server(ws), m->opcode, m->data,
                                  m->len, NULL);
    if (n < 0)
        example_log("broadcast", "broadcast failed: %s", wsio_strerror(n));
    return 0;
}

static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)user;
    uint16_t port;
    const char *addr = wsio_ws_remote_addr(ws, &port);
    example_log("broadcast", "close %s:%u code %u", addr, (unsigned)port,
                info->code);
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 9002};
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o) ||
            example_parse_threads(argc, argv, &i, &o))
            continue;
        printf("usage: broadcast [options]\n%s" EXAMPLE_USAGE_THREADS,
               example_usage_common());
        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.ping_interval_ms = EXAMPLE_PING_MS;
    wsio_ws_callbacks cb = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    example_serve("broadcast", "ws", &o, &cfg, &cb, NULL, NULL);
    return 0;
}

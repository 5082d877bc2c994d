/*
 * examples/tutorial/errors_heartbeat.c - step 5 of docs/tutorial.md: the
 * echo server of step 1, told what goes wrong. A heartbeat finds dead
 * peers, a size limit refuses huge messages, and every connection's end
 * is logged with its close code and the error behind it.
 *
 *     build/examples/tutorial/errors_heartbeat [PORT]   (default 9001)
 */
#include <stdio.h>
#include <stdlib.h>
#include <wsio.h>

static void on_open(wsio_ws *ws, void *user)
{
    (void)user;
    uint16_t port;
    const char *addr = wsio_ws_remote_addr(ws, &port);
    fprintf(stderr, "open %s:%u\n", addr, (unsigned)port);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    int rc = wsio_ws_send(ws, m->opcode, m->data, m->len);
    if (rc == WSIO_SEND_PRESSURE) /* queued, but the peer reads slowly */
        fprintf(stderr, "%zu bytes wait for this peer\n",
                wsio_ws_buffered_amount(ws));
    else if (rc < 0) /* not queued: WSIO_EQUEUEFULL, WSIO_ECLOSED ... */
        fprintf(stderr, "send: %s\n", wsio_strerror(rc));
    return 0;
}

/* Exactly once per connection, however it ended. */
static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)ws;
    (void)user;
    fprintf(stderr, "close %u \"%.*s\"%s%s%s%s\n", info->code,
            (int)info->reason_len, info->reason,
            info->by_peer ? " by peer" : "", info->clean ? "" : " (not clean)",
            info->error ? ": " : "",
            info->error ? wsio_strerror(info->error) : "");
}

int main(int argc, char **argv)
{
    int err = 0;
    wsio_loop *loop = wsio_loop_new(NULL, &err);
    if (!loop)
        return 1;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.port = (uint16_t)(argc > 1 ? atoi(argv[1]) : 9001);
    cfg.ping_interval_ms = 15000; /* no pong by the next ping: dropped */
    cfg.idle_timeout_ms = 120000; /* nothing at all for 2 min: 1001 */
    cfg.conn.max_message_size = 64 * 1024; /* bigger: closed with 1009 */
    wsio_ws_callbacks cb = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    wsio_server *srv = wsio_server_new(loop, &cfg, &cb, NULL, NULL, &err);
    if (!srv) {
        /* -EADDRINUSE, WSIO_EINVAL (a bad host) ... */
        fprintf(stderr, "listen: %s\n", wsio_strerror(err));
        return 1;
    }
    printf("listening on ws://127.0.0.1:%u/\n", wsio_server_port(srv));
    fflush(stdout);
    wsio_loop_run(loop);
    wsio_loop_free(loop);
    return 0;
}

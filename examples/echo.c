/*
 * examples/echo.c - a pure echo server: every message comes back unchanged,
 * text as text, binary as binary, and nothing else is sent (unless
 * --greeting asks for a first message), so any conformance client can
 * drive it.
 *
 * Nothing is ever dropped: a client that sends faster than it reads is
 * simply read more slowly (wsio stops reading a connection whose answers
 * are over max_output_bytes, and resumes when they drain), so every
 * message comes back, in order, once the client reads. A client that never
 * reads stops being read; --idle-timeout or --ping-interval end it.
 *
 *     build/examples/echo --port 9001
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#ifdef WSIO_HAVE_DEFLATE
#include "wsio/deflate.h"
#endif

typedef struct echo_state {
    const char *greeting; /* --greeting, or NULL */
    int quiet;            /* --quiet: no line per connection */
} echo_state;

static void on_open(wsio_ws *ws, void *user)
{
    echo_state *st = user;
    if (!st->quiet) { /* the address text is a block of its own (ws.h) */
        uint16_t port;
        const char *addr = wsio_ws_remote_addr(ws, &port);
        example_log("echo", "open %s:%u%s", addr, (unsigned)port,
                    wsio_conn_has_codec(wsio_ws_conn(ws)) ? " (compressed)"
                                                          : "");
    }
    if (st->greeting)
        wsio_ws_send(ws, WSIO_OP_TEXT, st->greeting, strlen(st->greeting));
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    int rc = wsio_ws_send(ws, m->opcode, m->data, m->len);
    if (rc < 0)
        example_log("echo", "send failed: %s", wsio_strerror(rc));
    return 0;
}

static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    const echo_state *st = user;
    if (st->quiet)
        return;
    uint16_t port;
    const char *addr = wsio_ws_remote_addr(ws, &port);
    example_log("echo", "close %s:%u code %u%s%s", addr, (unsigned)port,
                info->code, info->clean ? "" : " (not clean)",
                info->error ? wsio_strerror(info->error) : "");
}

static void usage(void)
{
    printf("usage: echo [options]\n"
           "Every message comes back unchanged, in order; none is dropped. A\n"
           "client that sends faster than it reads is read more slowly: once\n"
           "1 MiB of answers waits for it, its messages wait in its own\n"
           "socket until it reads. A client that never reads is never read\n"
           "again; --idle-timeout or --ping-interval end it.\n\n%s"
           "  --greeting TEXT   send TEXT to each new client first\n"
           "  --max-message N   largest message accepted (default 16M;\n"
           "                    fragments under 64 bytes count as 64)\n"
           "  --idle-timeout MS close a client silent for MS (default off)\n"
           "  --ping-interval MS  ping every MS, end a client with no pong\n"
           "                    (default off)\n"
           "  --max-connections N  open sockets at most (default 10000;\n"
           "                    raise ulimit -n to match)\n"
           "  --deflate         answer permessage-deflate offers (needs a\n"
           "                    build with zlib)\n"
           "  --defer-accept    let the kernel hand over a connection only\n"
           "                    once its request arrived (TCP_DEFER_ACCEPT,\n"
           "                    Linux): one wake-up less per handshake\n"
           "  --quiet           no log line per connection (load tests)\n"
           "  --reuseport       share --port with other echo processes\n"
           "                    (SO_REUSEPORT: the kernel spreads new\n"
           "                    connections over them; with --port 0 the\n"
           "                    first one picks a port and prints it: give\n"
           "                    that one to the others)\n",
           example_usage_common());
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 9001};
    echo_state st = {0};
    size_t max_message = 16u << 20;
    int deflate = 0, reuse_port = 0, defer_accept = 0;
    size_t max_connections = 10000;
    size_t idle_ms = 0, ping_ms = 0;
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--greeting") == 0) {
            st.greeting = example_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--deflate") == 0) {
            deflate = 1;
        } else if (strcmp(argv[i], "--defer-accept") == 0) {
            defer_accept = 1;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            st.quiet = 1;
        } else if (strcmp(argv[i], "--reuseport") == 0) {
            reuse_port = 1;
        } else if (strcmp(argv[i], "--max-connections") == 0) {
            max_connections = example_size("--max-connections",
                                           example_value(argc, argv, &i));
        } else if (strcmp(argv[i], "--idle-timeout") == 0) {
            idle_ms =
                example_size("--idle-timeout", example_value(argc, argv, &i));
        } else if (strcmp(argv[i], "--ping-interval") == 0) {
            ping_ms =
                example_size("--ping-interval", example_value(argc, argv, &i));
        } else if (strcmp(argv[i], "--max-message") == 0) {
            max_message =
                example_size("--max-message", example_value(argc, argv, &i));
        } else {
            usage();
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }

    wsio_loop *loop = example_loop_new("echo", &o);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_connections = max_connections;
    cfg.ping_interval_ms = EXAMPLE_PING_MS;
    cfg.conn.max_message_size = max_message;
    cfg.conn.max_frame_size = max_message;
    cfg.idle_timeout_ms = (uint32_t)idle_ms;
    cfg.ping_interval_ms = (uint32_t)ping_ms;
    cfg.reuse_port = reuse_port;
    cfg.defer_accept = defer_accept;
    /* The default policy (QUEUE) and read-side flow control: an answer is
     * always queued, and the queue stays within 1 MiB plus one message. */
#ifdef WSIO_HAVE_DEFLATE
    wsio_deflate pmd;
    wsio_deflate_init(&pmd, NULL);
    if (deflate)
        cfg.deflate = &pmd.ext;
#else
    if (deflate) {
        fprintf(stderr, "echo: built without zlib: no --deflate\n");
        return 2;
    }
#endif
    wsio_ws_callbacks cb = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    wsio_server *srv =
        example_listen("echo", "ws", loop, &o, &cfg, &cb, NULL, &st);
    example_run("echo", loop, srv);
    wsio_loop_free(loop);
    return 0;
}

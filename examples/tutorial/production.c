/*
 * examples/tutorial/production.c - step 8 of docs/tutorial.md: the echo
 * server set up to face real traffic behind a reverse proxy on the same
 * machine: limits, backpressure, the client's address from the proxy, and
 * a graceful shutdown on SIGTERM (every client gets 1001).
 *
 *     build/examples/tutorial/production [PORT]   (default 9001)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wsio.h>

/* The one thing a signal handler may do with a loop: stop it. */
static wsio_loop *running_loop;

static void on_signal(int sig)
{
    (void)sig;
    wsio_loop_stop(running_loop); /* async-signal-safe */
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    wsio_ws_send(ws, m->opcode, m->data, m->len);
    return 0;
}

int main(int argc, char **argv)
{
    int err = 0;
    wsio_loop *loop = wsio_loop_new(NULL, &err);
    if (!loop)
        return 1;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.host = "127.0.0.1"; /* only the proxy connects */
    cfg.port = (uint16_t)(argc > 1 ? atoi(argv[1]) : 9001);
    /* Believe the proxy's X-Forwarded-For (what the nginx below appends),
     * from it only; a Forwarded header the client sent is ignored. */
    static const char *const proxies[] = {"127.0.0.1", "::1"};
    cfg.trusted_proxies = proxies;
    cfg.num_trusted_proxies = 2;
    cfg.forwarded_header = WSIO_FORWARDED_X_FORWARDED_FOR;
    cfg.max_connections = 20000;                /* beyond: 503 */
    cfg.max_connections_per_addr = 64;          /* per client address: 503 */
    cfg.max_handshakes_per_addr_per_sec = 32;   /* beyond: 429 */
    cfg.memory_budget = 512u << 20;             /* beyond: shed the largest */
    cfg.conn.max_message_size = 1u << 20;       /* beyond: 1009 */
    cfg.max_output_bytes = 256u << 10;          /* a slow reader's queue ... */
    cfg.backpressure = WSIO_BACKPRESSURE_CLOSE; /* ... over it: 1008 */
    cfg.ping_interval_ms = 30000;
    wsio_ws_callbacks cb = {.on_message = on_message};
    wsio_server *srv = wsio_server_new(loop, &cfg, &cb, NULL, NULL, &err);
    if (!srv) {
        fprintf(stderr, "listen: %s\n", wsio_strerror(err));
        return 1;
    }
    printf("listening on ws://127.0.0.1:%u/\n", wsio_server_port(srv));
    fflush(stdout);

    running_loop = loop;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    wsio_loop_run(loop); /* returns after wsio_loop_stop */

    /* Close every connection with 1001 and give them 5 s to answer; the
     * loop runs until the server is gone. */
    wsio_server_shutdown(srv, 5000);
    wsio_loop_run(loop);
    wsio_loop_free(loop);
    fprintf(stderr, "stopped\n");
    return 0;
}

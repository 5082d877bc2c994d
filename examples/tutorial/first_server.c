/*
 * examples/tutorial/first_server.c - step 1 of docs/tutorial.md: a
 * WebSocket server that sends every message back to its sender.
 *
 *     build/examples/tutorial/first_server [PORT]   (default 9001; 0: any)
 */
#include <stdio.h>
#include <stdlib.h>
#include <wsio.h>

/* Called once per whole message (fragments are already joined). */
static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    /* Text comes back as text, binary as binary; wsio_ws_send copies. */
    wsio_ws_send(ws, m->opcode, m->data, m->len);
    return 0; /* a negative code would close the connection with 1011 */
}

int main(int argc, char **argv)
{
    int err = 0;
    wsio_loop *loop = wsio_loop_new(NULL, &err);
    if (!loop) {
        fprintf(stderr, "loop: %s\n", wsio_strerror(err));
        return 1;
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg); /* 127.0.0.1, safe limits */
    cfg.port = (uint16_t)(argc > 1 ? atoi(argv[1]) : 9001);
    wsio_ws_callbacks cb = {.on_message = on_message};
    wsio_server *srv = wsio_server_new(loop, &cfg, &cb, NULL, NULL, &err);
    if (!srv) {
        fprintf(stderr, "listen: %s\n", wsio_strerror(err));
        return 1;
    }
    printf("listening on ws://127.0.0.1:%u/\n", wsio_server_port(srv));
    fflush(stdout);
    wsio_loop_run(loop); /* serves until the process is stopped */
    wsio_loop_free(loop);
    return 0;
}

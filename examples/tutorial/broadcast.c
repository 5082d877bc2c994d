/*
 * examples/tutorial/broadcast.c - step 3 of docs/tutorial.md: every
 * message goes to every connected client; "/join ROOM" subscribes the
 * sender to a topic and "@ROOM text" goes to that topic's subscribers only.
 *
 *     build/examples/tutorial/broadcast [PORT]   (default 9002; 0: any)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wsio.h>

static void on_open(wsio_ws *ws, void *user)
{
    (void)user;
    static const char hello[] = "welcome: what you send goes to everyone";
    wsio_ws_send(ws, WSIO_OP_TEXT, hello, sizeof hello - 1);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    wsio_server *srv = wsio_ws_server(ws);
    const char *text = m->data;
    char topic[64];
    if (m->opcode == WSIO_OP_TEXT && m->len > 6 && m->len - 6 < sizeof topic &&
        memcmp(text, "/join ", 6) == 0) {
        memcpy(topic, text + 6, m->len - 6);
        topic[m->len - 6] = '\0';
        return wsio_ws_subscribe(ws, topic); /* 0, or fail with 1011 */
    }
    const char *space =
        m->len > 1 && text[0] == '@' ? memchr(text, ' ', m->len) : NULL;
    if (space && (size_t)(space - text - 1) < sizeof topic) {
        size_t n = (size_t)(space - text - 1);
        memcpy(topic, text + 1, n);
        topic[n] = '\0';
        wsio_server_publish(srv, topic, m->opcode, space + 1,
                            m->len - (size_t)(space + 1 - text));
        return 0;
    }
    /* Encoded once, queued on every connection (the sender too). */
    wsio_server_broadcast(srv, m->opcode, m->data, m->len, NULL);
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
    cfg.port = (uint16_t)(argc > 1 ? atoi(argv[1]) : 9002);
    wsio_ws_callbacks cb = {.on_open = on_open, .on_message = on_message};
    wsio_server *srv = wsio_server_new(loop, &cfg, &cb, NULL, NULL, &err);
    if (!srv) {
        fprintf(stderr, "listen: %s\n", wsio_strerror(err));
        return 1;
    }
    printf("listening on ws://127.0.0.1:%u/\n", wsio_server_port(srv));
    fflush(stdout);
    wsio_loop_run(loop);
    wsio_loop_free(loop);
    return 0;
}

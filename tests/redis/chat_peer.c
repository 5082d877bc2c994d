/*
 * tests/redis/chat_peer.c - a scripted chat client for tests/redis/chat.sh:
 *
 *   chat_peer URL [--name N] [--send TEXT]... [--wait-for TEXT]
 *             [--for MS] [--timeout MS]
 *
 * Connects, sets the name, sends each TEXT as a chat message, and prints
 * every message it receives on its own line (flushed). Exits 0 once a
 * message containing --wait-for arrived (or after --for MS without one),
 * 1 on a timeout (default 10 s) or a closed connection.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsio.h"

typedef struct peer {
    const char *name;
    const char *sends[16];
    int nsends;
    const char *wait_for;
    int done, failed;
} peer;

static void send_json(wsio_ws *ws, const char *type, const char *field,
                      const char *value)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"type\":\"%s\",\"%s\":\"%s\"}", type,
                     field, value);
    wsio_ws_send(ws, WSIO_OP_TEXT, buf, (size_t)n);
}

static void on_open(wsio_ws *ws, void *user)
{
    peer *p = user;
    if (p->name)
        send_json(ws, "username", "username", p->name);
    for (int i = 0; i < p->nsends; i++)
        send_json(ws, "chat", "content", p->sends[i]);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)ws;
    peer *p = user;
    printf("%.*s\n", (int)m->len, (const char *)m->data);
    fflush(stdout);
    if (p->wait_for &&
        memmem(m->data, m->len, p->wait_for, strlen(p->wait_for)))
        p->done = 1;
    return 0;
}

static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)ws;
    (void)info;
    peer *p = user;
    if (!p->done)
        p->failed = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    peer p = {0};
    long for_ms = -1, timeout_ms = 10000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--name") == 0)
            p.name = argv[i + 1];
        else if (strcmp(argv[i], "--send") == 0 && p.nsends < 16)
            p.sends[p.nsends++] = argv[i + 1];
        else if (strcmp(argv[i], "--wait-for") == 0)
            p.wait_for = argv[i + 1];
        else if (strcmp(argv[i], "--for") == 0)
            for_ms = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout") == 0)
            timeout_ms = atol(argv[i + 1]);
        else
            return 2;
    }
    int err = 0;
    wsio_loop *loop = wsio_loop_new(NULL, &err);
    wsio_ws_callbacks cb = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    wsio_ws *ws = wsio_client_connect(loop, argv[1], NULL, &cb, &p, &err);
    if (!ws) {
        fprintf(stderr, "chat_peer: %s\n", wsio_strerror(err));
        return 1;
    }
    uint64_t t0 = wsio_loop_now(loop);
    uint64_t limit = (uint64_t)(for_ms >= 0 ? for_ms : timeout_ms);
    while (!p.done && !p.failed && wsio_loop_now(loop) - t0 < limit)
        wsio_loop_run_once(loop, 50);
    int ok = p.done || (for_ms >= 0 && !p.failed);
    if (!ok)
        fprintf(stderr, "chat_peer: %s\n",
                p.failed ? "connection closed" : "timed out");
    wsio_loop_free(loop);
    return ok ? 0 : 1;
}

/*
 * tests/interop/deflate_client.c - the wsio client with permessage-deflate
 * against an independent server (Node's ws, tests/interop/ws_server.mjs):
 * the offer must be accepted, and text, binary (1 MiB of noise), short and
 * empty messages must come back unchanged, then a clean close.
 * Usage: deflate_client ws://127.0.0.1:PORT/   Exits 0 when all passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsio.h"
#include "wsio/deflate.h"

#define CASES 5

typedef struct run {
    const void *data[CASES];
    size_t len[CASES];
    enum wsio_opcode op[CASES];
    int next, compressed, closed, failed;
    unsigned code;
} run;

static void fail(run *r, const char *what)
{
    fprintf(stderr, "deflate_client: %s\n", what);
    r->failed = 1;
}

static void send_next(wsio_ws *ws, run *r)
{
    if (r->next == CASES) {
        wsio_ws_close(ws, 1000, "bye", 3);
        return;
    }
    if (wsio_ws_send(ws, r->op[r->next], r->data[r->next], r->len[r->next]) < 0)
        fail(r, "send failed");
}

static void on_open(wsio_ws *ws, void *user)
{
    run *r = user;
    r->compressed = wsio_conn_has_codec(wsio_ws_conn(ws));
    if (!r->compressed)
        fail(r, "the server did not accept permessage-deflate");
    send_next(ws, r);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    run *r = user;
    int i = r->next;
    if (m->opcode != r->op[i] || m->len != r->len[i] ||
        memcmp(m->data, r->data[i], m->len) != 0)
        fail(r, "an echo differs");
    r->next++;
    send_next(ws, r);
    return 0;
}

static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)ws;
    run *r = user;
    r->closed = 1;
    r->code = info->code;
    if (info->error)
        fprintf(stderr, "deflate_client: %s\n", wsio_strerror(info->error));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: deflate_client URL\n");
        return 2;
    }
    size_t big = 1u << 20;
    char *text = malloc(20000 + 1);
    unsigned char *noise = malloc(big);
    for (size_t i = 0, k = 0; i < 20000; k++)
        i += (size_t)snprintf(text + i, 20000 + 1 - i,
                              "{\"name\":\"user%zu\",\"text\":\"Привет %zu\"}",
                              k % 5, k);
    uint32_t x = 12345;
    for (size_t i = 0; i < big; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (unsigned char)(x >> 16);
    }
    run r;
    memset(&r, 0, sizeof r);
    const void *data[CASES] = {text, noise, "hi", "", text};
    size_t len[CASES] = {strlen(text), big, 2, 0, 100};
    enum wsio_opcode op[CASES] = {WSIO_OP_TEXT, WSIO_OP_BINARY, WSIO_OP_TEXT,
                                  WSIO_OP_BINARY, WSIO_OP_TEXT};
    memcpy(r.data, data, sizeof data);
    memcpy(r.len, len, sizeof len);
    memcpy(r.op, op, sizeof op);

    wsio_deflate pmd;
    wsio_deflate_init(&pmd, NULL);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.deflate = &pmd.ext;
    cc.conn.max_message_size = 4u << 20;
    cc.conn.max_frame_size = 4u << 20;
    cc.max_output_bytes = 4u << 20;
    int err = 0;
    wsio_loop *loop = wsio_loop_new(NULL, &err);
    wsio_ws_callbacks cb = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    wsio_ws *ws =
        loop ? wsio_client_connect(loop, argv[1], &cc, &cb, &r, &err) : NULL;
    if (!ws) {
        fprintf(stderr, "deflate_client: %s\n", wsio_strerror(err));
        return 1;
    }
    for (int t = 0; t < 30000 && !r.closed; t++)
        wsio_loop_run_once(loop, 10);
    wsio_loop_free(loop);
    free(text);
    free(noise);
    if (!r.closed || r.code != 1000 || r.next != CASES)
        fail(&r, "did not finish with close 1000");
    if (r.failed)
        return 1;
    printf(
        "wsio client with permessage-deflate: %d round trips, close 1000 ok\n",
        CASES);
    return 0;
}

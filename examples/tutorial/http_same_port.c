/*
 * examples/tutorial/http_same_port.c - step 2 of docs/tutorial.md: one port
 * serves a web page over plain HTTP at "/" and the page's WebSocket at
 * "/ws"; any other path gets 404.
 *
 *     build/examples/tutorial/http_same_port [PORT]   then open
 *     http://127.0.0.1:PORT/
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wsio.h>

static const char page[] =
    "<!doctype html><meta charset=utf-8><title>echo</title>\n"
    "<input id=msg autofocus><pre id=log></pre>\n"
    "<script>\n"
    "const ws = new WebSocket(`ws://${location.host}/ws`);\n"
    "ws.onmessage = (e) => { log.textContent += e.data + '\\n'; };\n"
    "msg.onkeydown = (e) => {\n"
    "  if (e.key === 'Enter') { ws.send(msg.value); msg.value = ''; }\n"
    "};\n"
    "</script>\n";

static int path_is(const wsio_request_info *req, const char *path)
{
    return req->request->path.len == strlen(path) &&
           memcmp(req->request->path.ptr, path, strlen(path)) == 0;
}

/* Every request that is not a WebSocket upgrade comes here. */
static int on_http(wsio_server *srv, const wsio_request_info *req,
                   wsio_http_reply *reply, void *user)
{
    (void)srv;
    (void)user;
    static const wsio_http_header html[] = {
        {{"Content-Type", 12}, {"text/html; charset=utf-8", 24}}};
    if (path_is(req, "/")) { /* anything else keeps the preset 404 */
        reply->status = 200;
        reply->headers = html;
        reply->num_headers = 1;
        reply->body = page; /* copied before this returns */
        reply->body_len = sizeof page - 1;
    }
    return 0;
}

/* Every valid upgrade request comes here first: accept only /ws. */
static int on_upgrade(wsio_server *srv, const wsio_request_info *req,
                      wsio_upgrade_decision *d, void *user)
{
    (void)srv;
    (void)user;
    if (!path_is(req, "/ws")) {
        d->accept = 0;
        d->reject.status = 404;
    }
    return 0;
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
    cfg.port = (uint16_t)(argc > 1 ? atoi(argv[1]) : 8080);
    wsio_ws_callbacks cb = {.on_message = on_message};
    wsio_server_hooks hooks = {.on_http = on_http, .on_upgrade = on_upgrade};
    wsio_server *srv = wsio_server_new(loop, &cfg, &cb, &hooks, NULL, &err);
    if (!srv) {
        fprintf(stderr, "listen: %s\n", wsio_strerror(err));
        return 1;
    }
    printf("listening on http://127.0.0.1:%u/\n", wsio_server_port(srv));
    fflush(stdout);
    wsio_loop_run(loop);
    wsio_loop_free(loop);
    return 0;
}

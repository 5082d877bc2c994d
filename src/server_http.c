/*
 * src/server_http.c - a server's answers over HTTP (wsio/server.h): plain
 * requests on the WebSocket port, rejections, and the opening handshake
 * (RFC 6455 section 4.2) up to the 101 and OPEN.
 */
#include <string.h>

#include "server_internal.h"

/* ---- HTTP answers
 * ---------------------------------------------------------------- */

/* Send the first len bytes of the response built in ws's raw output
 * (wsio__ws_raw_new, which replaced any answer a hook's reentry gave),
 * then end the connection. */
static void send_answer(wsio_ws *ws, size_t len)
{
    wsio__ws_raw(ws)->len = (uint32_t)len;
    wsio__ws_finish_handshake_fail(ws, 0);
}

/* A response with status, headers (Connection: close added) and body, or
 * with head_only the same without the body (its Content-Length stays).
 * Without memory for it, the connection is just closed. */
static void respond(wsio_ws *ws, int status, const wsio_http_header *headers,
                    size_t num_headers, const void *body, size_t body_len,
                    int head_only)
{
    const wsio_mem *mem = wsio__sconn_srv(ws)->mem;
    wsio_http_header *all = NULL;
    char *out = NULL;
    ssize_t need = WSIO_ENOMEM;
    if (num_headers < SIZE_MAX / sizeof *all - 1)
        all = wsio__malloc(mem, (num_headers + 1) * sizeof *all);
    if (all) {
        if (num_headers)
            memcpy(all, headers, num_headers * sizeof *all);
        all[num_headers].name = (wsio_slice){"Connection", 10};
        all[num_headers].value = (wsio_slice){"close", 5};
        need = wsio_http_build_response(NULL, 0, status, all, num_headers + 1,
                                        body, body_len);
        if (need >= 0 && (uint64_t)need < UINT32_MAX)
            out = (char *)wsio__ws_raw_new(ws, (size_t)need);
        if (out)
            (void)wsio_http_build_response(out, (size_t)need, status, all,
                                           num_headers + 1, body, body_len);
        wsio__free(mem, all);
    }
    if (!out) {
        if (need == WSIO_EINVAL && status != 500) {
            /* The host's headers could not be sent (CR/LF in them). */
            const char *r = wsio_http_status_reason(500);
            respond(ws, 500, NULL, 0, r, strlen(r), head_only);
            return;
        }
        wsio__ws_finish_handshake_fail(ws, WSIO_ENOMEM);
        return;
    }
    send_answer(ws, (size_t)need - (head_only ? body_len : 0));
}

static void reply(wsio_ws *ws, int status, const wsio_http_header *headers,
                  size_t num_headers, const void *body, size_t body_len)
{
    respond(ws, status, headers, num_headers, body, body_len, 0);
}

void wsio__server_reply_status(wsio_ws *ws, int status)
{
    const char *text = wsio_http_status_reason(status);
    reply(ws, status, NULL, 0, text, strlen(text));
}

/* The answer to a request that failed with err (400, 426, 431 ...). */
static void reply_error(wsio_ws *ws, int err)
{
    ssize_t need = wsio_handshake_build_reject(NULL, 0, err);
    char *out = need > 0 ? (char *)wsio__ws_raw_new(ws, (size_t)need) : NULL;
    if (!out) {
        wsio__ws_finish_handshake_fail(ws, WSIO_ENOMEM);
        return;
    }
    (void)wsio_handshake_build_reject(out, (size_t)need, err);
    send_answer(ws, (size_t)need);
}

/*
 * After a hook returns: did it free or shut down the server (which ends or
 * answers this connection), or end the connection some other way? Then the
 * request is settled; only a shutdown that left this one waiting still
 * owes it an answer.
 */
static int hook_ended_it(wsio_server *srv, wsio_ws *ws)
{
    if (ws->state != WSIO__WS_HANDSHAKE || wsio__ws_raw(ws))
        return 1;
    if (srv->freed || srv->shutting_down) {
        wsio__server_reply_status(ws, 503);
        return 1;
    }
    return 0;
}

/* Count ws under the address just believed (server_addr_limit.h); over a
 * limit, refuse it (429 with Retry-After, or 503) and return 1. */
int wsio__server_admit_addr(wsio_server *srv, wsio_ws *ws)
{
    static const wsio_http_header retry = {{"Retry-After", 11}, {"1", 1}};
    int status = wsio__addr_limits_admit(&srv->addr_limits, ws,
                                         wsio__loop_now(srv->loop));
    if (!status)
        return 0;
    const char *text = wsio_http_status_reason(status);
    reply(ws, status, status == 429 ? &retry : NULL, status == 429, text,
          strlen(text));
    return 1;
}

static void serve_http(wsio_server *srv, wsio_ws *ws,
                       const wsio_request_info *info)
{
    static const char not_found[] = "Not Found\n";
    wsio_http_reply r;
    memset(&r, 0, sizeof r);
    r.status = 404;
    r.body = not_found;
    r.body_len = sizeof not_found - 1;
    srv->stats.http_requests++;
    int rc = srv->hooks.on_http
                 ? srv->hooks.on_http(srv, info, &r, srv->common.user)
                 : 0;
    if (hook_ended_it(srv, ws))
        return;
    if (rc < 0) {
        wsio__server_reply_status(ws, 500);
        return;
    }
    /* RFC 9110 section 9.3.2: HEAD is answered as GET would be, but
     * without the content, whatever route the hook took. */
    int head = info->request->method.len == 4 &&
               memcmp(info->request->method.ptr, "HEAD", 4) == 0;
    respond(ws, r.status, r.headers, r.num_headers, r.body, r.body_len, head);
}

/* ---- the opening handshake
 * ------------------------------------------------------- */

/* Send the 101 and open the WebSocket (section 4.2.2). */
static void accept_upgrade(wsio_server *srv, wsio_ws *ws,
                           const wsio_http_request *req, uint8_t *head,
                           size_t head_len, wsio_slice key,
                           const wsio_upgrade_decision *d, const char *ext,
                           const wsio_deflate_params *pmd, size_t rest_len)
{
    wsio_handshake_answer answer;
    memset(&answer, 0, sizeof answer);
    answer.subprotocol = d->subprotocol;
    answer.extensions = ext;
    /* Built once (one SHA-1) where the usual 101 fits, then copied to
     * the buffer that waits for the flush. */
    char first[512];
    ssize_t need =
        wsio_handshake_build_accept(first, sizeof first, key, &answer);
    if (need < 0) {
        srv->stats.upgrade_errors++;
        wsio__server_reply_status(ws,
                                  500); /* the hook's subprotocol had CR/LF */
        return;
    }
    char *out = (char *)wsio__ws_raw_new(ws, (size_t)need);
    if (!out || wsio__ws_set_agreed(ws, d->subprotocol,
                                    d->subprotocol ? strlen(d->subprotocol) : 0,
                                    ext ? pmd : NULL) < 0) {
        wsio__ws_raw_drop(ws);
        reply_error(ws, WSIO_ENOMEM);
        return;
    }
    if (ext) /* pmd_on: transport_closed counts it down */
        srv->deflate_conns++;
    /* Found by id from here; the kept request goes in the id's slot. */
    wsio__ids_show(&srv->ids, ws);
    if (srv->keep_request && wsio__request_keep(ws, req, head, head_len) < 0) {
        wsio__ids_hide(&srv->ids, ws);
        wsio__ws_raw_drop(ws);
        reply_error(ws, WSIO_ENOMEM);
        return;
    }
    if ((size_t)need <= sizeof first)
        memcpy(out, first, (size_t)need);
    else
        (void)wsio_handshake_build_accept(out, (size_t)need, key, &answer);
    ws->user = d->ws_user;
    wsio__server_list_set(ws, LIST_OPEN);
    srv->stats.connections++;
    srv->stats.connections_total++;
    if (wsio__ws_open(ws, WSIO_ROLE_SERVER, head + head_len, rest_len) < 0) {
        wsio__ids_hide(&srv->ids, ws);
        wsio__server_list_set(ws, LIST_OTHER);
        srv->stats.connections--;
        srv->stats.connections_total--;
        wsio__ws_raw_drop(ws);
        reply_error(ws, WSIO_ENOMEM);
    }
}

/* RFC 7692: answer the first acceptable permessage-deflate offer, unless
 * the server has none or is at its cap of compressing connections (then
 * the offer goes unanswered, i.e. declined). Returns the answer written
 * to buf, or NULL. */
static const char *negotiate_deflate(wsio_server *srv,
                                     const wsio_http_request *req,
                                     char buf[WSIO_DEFLATE_HEADER_MAX],
                                     wsio_deflate_params *pmd)
{
    const wsio_deflate_ext *ext = srv->common.deflate;
    if (!ext ||
        (ext->max_connections && srv->deflate_conns >= ext->max_connections))
        return NULL;
    ssize_t n =
        wsio_deflate_negotiate(req->headers, req->num_headers, &ext->policy,
                               pmd, buf, WSIO_DEFLATE_HEADER_MAX);
    return n > 0 ? buf : NULL;
}

static void handle_request(wsio_server *srv, wsio_ws *ws,
                           const wsio_http_request *req, uint8_t *head,
                           size_t head_len, size_t rest_len)
{
    wsio__security_forwarded(&srv->sec, ws, req);
    if (wsio__server_admit_addr(srv, ws))
        return;
    char addr[WSIO__ADDR_TEXT];
    wsio_request_info info = {req, wsio__addr_format(&ws->addr, addr), ws->port,
                              NULL};
    if (srv->shutting_down) {
        wsio__server_reply_status(ws, 503);
        return;
    }
    if (!wsio_handshake_is_upgrade(req)) {
        serve_http(srv, ws, &info);
        return;
    }
    wsio_slice key;
    int rc = wsio_handshake_validate_request(req, &key);
    if (rc) {
        srv->stats.handshakes_rejected++;
        reply_error(ws, rc);
        return;
    }
    if (!wsio__security_origin_ok(&srv->sec, req)) {
        srv->stats.handshakes_rejected++;
        wsio__server_reply_status(ws, 403);
        return;
    }
    wsio_upgrade_decision d;
    memset(&d, 0, sizeof d);
    d.accept = 1;
    d.reject.status = 403;
    d.subprotocol = wsio__subprotocol_pick(&srv->protos, req);
    rc = srv->hooks.on_upgrade
             ? srv->hooks.on_upgrade(srv, &info, &d, srv->common.user)
             : 0;
    if (hook_ended_it(srv, ws))
        return;
    if (rc < 0) {
        srv->stats.handshakes_rejected++;
        wsio__server_reply_status(ws, 500);
        return;
    }
    if (!d.accept) {
        srv->stats.handshakes_rejected++;
        reply(ws, d.reject.status, d.reject.headers, d.reject.num_headers,
              d.reject.body, d.reject.body_len);
        return;
    }
    /* Section 4.2.2, /subprotocol/: only a value the client offered; the
     * client would fail the connection on any other (section 4.1). */
    if (d.subprotocol && !wsio__subprotocol_offered(req, d.subprotocol)) {
        srv->stats.handshakes_rejected++;
        srv->stats.upgrade_errors++;
        wsio__server_reply_status(ws, 500);
        return;
    }
    char ext[WSIO_DEFLATE_HEADER_MAX];
    wsio_deflate_params pmd;
    const char *answer = negotiate_deflate(srv, req, ext, &pmd);
    accept_upgrade(srv, ws, req, head, head_len, key, &d, answer, &pmd,
                   rest_len);
}

/* Request bytes: parse them where they lie when the head came whole (the
 * common case), else gather them, never beyond the head limit plus one
 * read. */
void wsio__server_handshake_bytes(wsio_ws *ws, uint8_t *buf, size_t n)
{
    wsio_server *srv = wsio__sconn_srv(ws);
    wsio__ws_handshake *hs = wsio__ws_hs(ws);
    uint8_t *data = buf;
    size_t len = n;
    if (hs->in) {
        uint8_t *p =
            wsio__realloc(ws->common->buffer_mem, hs->in, hs->in_len + n);
        if (!p) {
            reply_error(ws, WSIO_ENOMEM);
            return;
        }
        memcpy(p + hs->in_len, buf, n);
        hs->in = p;
        hs->in_len += (uint32_t)n;
        data = p;
        len = hs->in_len;
    }
    wsio_http_header headers[MAX_HEADERS];
    wsio_http_request req;
    ssize_t r = wsio_http_request_parse(data, len, &req, headers, MAX_HEADERS,
                                        &srv->common.http);
    if (r == WSIO_EAGAIN) {
        if (!hs->in) {
            hs->in = wsio__malloc(ws->common->buffer_mem, n);
            if (!hs->in) {
                reply_error(ws, WSIO_ENOMEM);
                return;
            }
            memcpy(hs->in, buf, n);
            hs->in_len = (uint32_t)n;
        }
        return;
    }
    if (r < 0) {
        srv->stats.handshakes_rejected++;
        reply_error(ws, (int)r);
    } else {
        handle_request(srv, ws, &req, data, (size_t)r, len - (size_t)r);
    }
    /* The request is answered; its bytes are no longer needed (OPEN freed
     * them already, and its conn is where hs was). */
    wsio__ws_hs_drop(ws);
}

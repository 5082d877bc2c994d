/*
 * src/handshake.c - the WebSocket half of layer 1 (RFC 6455 section 4):
 * checking an upgrade request and the server's answer, Sec-WebSocket-Accept,
 * keys, and the handshake's messages. HTTP syntax is in handshake_http.c.
 */
#include <string.h>

#include "handshake_base64.h"
#include "handshake_http.h"
#include "handshake_sha1.h"

/* Section 1.3 / 4.2.2: appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#define KEY_NONCE_LEN 16
#define MAX_KEY_LEN 256

/* Section 4.2.1 item 5: a strict base64 value that decodes to 16 bytes,
 * which means exactly 24 characters ending in "==". */
static int key_is_valid(const char *p, size_t len)
{
    uint8_t nonce[KEY_NONCE_LEN];
    return p && len == WSIO_HANDSHAKE_KEY_LEN &&
           wsio__base64_decode(p, len, nonce, sizeof nonce) == KEY_NONCE_LEN;
}

/* How many headers are called name. */
static size_t count_headers(const wsio_http_header *headers, size_t n,
                            const char *name)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += (size_t)wsio__http_slice_is(headers[i].name, name);
    return count;
}

/* The value of the only header called name: 1 and *value when there is
 * exactly one, 0 when there is none or more than one. */
static int find_single(const wsio_http_header *headers, size_t n,
                       const char *name, wsio_slice *value)
{
    return count_headers(headers, n, name) == 1 &&
           wsio_http_header_find(headers, n, name, value);
}

static int slice_equals(wsio_slice s, const char *str)
{
    size_t len = strlen(str);
    return s.len == len && memcmp(s.ptr, str, len) == 0;
}

int wsio_handshake_is_upgrade(const wsio_http_request *req)
{
    return req && wsio_http_header_has_token(req->headers, req->num_headers,
                                             "Upgrade", "websocket");
}

int wsio_handshake_validate_request(const wsio_http_request *req,
                                    wsio_slice *key)
{
    if (!req)
        return WSIO_EINVAL;
    const wsio_http_header *h = req->headers;
    size_t n = req->num_headers;
    wsio_slice value;

    /* Section 4.2.1, in its order. Item 1: GET (methods are case-sensitive,
     * RFC 9110 section 9.1), HTTP/1.1 or higher. */
    if (!slice_equals(req->method, "GET"))
        return WSIO_EHS_METHOD;
    if (req->version_major < 1 ||
        (req->version_major == 1 && req->version_minor < 1))
        return WSIO_EHS_HTTPVERSION;
    /* Item 2; RFC 9112 section 3.2 also rejects more than one Host. */
    if (!find_single(h, n, "Host", &value) || value.len == 0)
        return WSIO_EHS_HOST;
    /* Items 3 and 4. */
    if (!wsio_http_header_has_token(h, n, "Upgrade", "websocket"))
        return WSIO_EHS_UPGRADE;
    if (!wsio_http_header_has_token(h, n, "Connection", "Upgrade"))
        return WSIO_EHS_CONNECTION;
    /* Item 5. Two keys would leave the accept value ambiguous. */
    wsio_slice key_value;
    if (!find_single(h, n, "Sec-WebSocket-Key", &key_value) ||
        !key_is_valid(key_value.ptr, key_value.len))
        return WSIO_EHS_KEY;
    /* Item 6: exactly "13"; a list of versions or a second header is a
     * version this server does not speak (section 4.4). */
    if (!find_single(h, n, "Sec-WebSocket-Version", &value) ||
        !slice_equals(value, "13"))
        return WSIO_EHS_VERSION;
    /* Section 4.1 makes the opening handshake a GET, for which a body has
     * no meaning (RFC 9110 section 9.3.1). Bytes after the head must be
     * frames, so a body would be read as frames, and a proxy that frames
     * the message differently (RFC 9112 section 11.2, request smuggling)
     * would disagree with us on where the WebSocket starts. Only
     * "Content-Length: 0" is no body. */
    if (count_headers(h, n, "Transfer-Encoding") ||
        (count_headers(h, n, "Content-Length") &&
         !(find_single(h, n, "Content-Length", &value) &&
           slice_equals(value, "0"))))
        return WSIO_EHS_BODY;

    if (key)
        *key = key_value;
    return 0;
}

int wsio_handshake_accept_key(const char *key, size_t key_len,
                              char out[WSIO_HANDSHAKE_ACCEPT_LEN + 1])
{
    if (!key || !out || key_len > MAX_KEY_LEN)
        return WSIO_EINVAL;
    /* Section 4.2.2 item 5.4: base64(SHA-1(key + GUID)), the key taken as
     * sent, not decoded. */
    uint8_t digest[WSIO__SHA1_LEN];
    wsio__sha1_ctx ctx;
    wsio__sha1_init(&ctx);
    wsio__sha1_update(&ctx, key, key_len);
    wsio__sha1_update(&ctx, ws_guid, sizeof ws_guid - 1);
    wsio__sha1_final(&ctx, digest);
    size_t n = wsio__base64_encode(digest, sizeof digest, out);
    out[n] = '\0';
    return 0;
}

/* ---- server messages ---------------------------------------------------- */

typedef struct accept_args {
    const char *accept; /* computed Sec-WebSocket-Accept */
    const wsio_handshake_answer *answer;
} accept_args;

static int emit_accept(wsio__out *o, const void *arg)
{
    const accept_args *a = arg;
    const wsio_handshake_answer *ans = a->answer;
    int rc = 0;

    /* Section 4.2.2 item 5. */
    wsio__out_status_line(o, 101);
    wsio__out_str(o, "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n");
    rc = wsio__out_header_str(o, "Sec-WebSocket-Accept", a->accept);
    if (rc == 0 && ans && ans->subprotocol) {
        /* Sec-WebSocket-Protocol-Server = token (section 4.3). */
        if (!wsio__http_is_token(ans->subprotocol, strlen(ans->subprotocol)))
            return WSIO_EINVAL;
        rc =
            wsio__out_header_str(o, "Sec-WebSocket-Protocol", ans->subprotocol);
    }
    if (rc == 0 && ans && ans->extensions)
        rc = wsio__out_header_str(o, "Sec-WebSocket-Extensions",
                                  ans->extensions);
    if (rc == 0 && ans)
        rc = wsio__out_headers(o, ans->extra_headers, ans->num_extra_headers);
    wsio__out_str(o, "\r\n");
    return rc;
}

ssize_t wsio_handshake_build_accept(char *out, size_t cap, wsio_slice key,
                                    const wsio_handshake_answer *answer)
{
    if (!key_is_valid(key.ptr, key.len))
        return WSIO_EINVAL;
    char accept[WSIO_HANDSHAKE_ACCEPT_LEN + 1];
    int rc = wsio_handshake_accept_key(key.ptr, key.len, accept);
    if (rc < 0)
        return rc;
    accept_args a = {accept, answer};
    return wsio__build(out, cap, emit_accept, &a);
}

ssize_t wsio_handshake_build_reject(char *out, size_t cap, int err)
{
    int status = wsio_err_http_status(err);
    if (status == 0)
        return WSIO_EINVAL;
    const wsio_http_header headers[] = {
        {{"Content-Type", 12}, {"text/plain; charset=utf-8", 25}},
        {{"Connection", 10}, {"close", 5}},
        /* Section 4.2.2 item 4 ("/version/"): the versions we speak. */
        {{"Sec-WebSocket-Version", 21}, {"13", 2}},
    };
    size_t num_headers = err == WSIO_EHS_VERSION ? 3 : 2;
    /* The body is the one-line description, which never holds CR or LF. */
    char body[96];
    const char *text = wsio_strerror(err);
    size_t len = strlen(text);
    if (len > sizeof body - 1)
        len = sizeof body - 1;
    memcpy(body, text, len);
    body[len++] = '\n';
    return wsio_http_build_response(out, cap, status, headers, num_headers,
                                    body, len);
}

/* ---- client side -------------------------------------------------------- */

int wsio_handshake_make_key(const uint8_t nonce[16],
                            char out[WSIO_HANDSHAKE_KEY_LEN + 1])
{
    if (!out)
        return WSIO_EINVAL;
    /* Section 4.1 item 7: a nonce of 16 random bytes, base64-encoded. */
    uint8_t bytes[KEY_NONCE_LEN];
    if (!nonce) {
        int rc = wsio__random_bytes(bytes, sizeof bytes);
        if (rc < 0)
            return rc;
        nonce = bytes;
    }
    size_t n = wsio__base64_encode(nonce, KEY_NONCE_LEN, out);
    out[n] = '\0';
    return 0;
}

/* request-target as RFC 9112 section 3.2 allows it: visible ASCII only. */
static int target_is_valid(const char *p)
{
    if (!*p)
        return 0;
    for (; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return 0;
    return 1;
}

static int emit_request(wsio__out *o, const void *arg)
{
    const wsio_handshake_request *r = arg;
    const char *path = r->path ? r->path : "/";
    if (!target_is_valid(path))
        return WSIO_EINVAL;

    /* Section 4.1, the numbered requirements on the client's handshake. */
    wsio__out_str(o, "GET ");
    wsio__out_str(o, path);
    wsio__out_str(o, " HTTP/1.1\r\n");
    int rc = wsio__out_header_str(o, "Host", r->host);
    wsio__out_str(o, "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n");
    if (rc == 0)
        rc = wsio__out_header_str(o, "Sec-WebSocket-Key", r->key);
    wsio__out_str(o, "Sec-WebSocket-Version: 13\r\n");
    if (rc == 0 && r->origin)
        rc = wsio__out_header_str(o, "Origin", r->origin);
    if (rc == 0 && r->subprotocols)
        rc = wsio__out_header_str(o, "Sec-WebSocket-Protocol", r->subprotocols);
    if (rc == 0 && r->extensions)
        rc = wsio__out_header_str(o, "Sec-WebSocket-Extensions", r->extensions);
    if (rc == 0)
        rc = wsio__out_headers(o, r->extra_headers, r->num_extra_headers);
    wsio__out_str(o, "\r\n");
    return rc;
}

ssize_t wsio_handshake_build_request(char *out, size_t cap,
                                     const wsio_handshake_request *req)
{
    if (!req || !req->host || !req->host[0] || !req->key ||
        !key_is_valid(req->key, strlen(req->key)))
        return WSIO_EINVAL;
    return wsio__build(out, cap, emit_request, req);
}

/* A NUL-terminated list as a one-header array, so the server's choices can
 * be checked with the same list rules as received headers. */
static wsio_http_header offer_list(const char *list)
{
    wsio_http_header h = {{"offer", 5}, {list, list ? strlen(list) : 0}};
    return h;
}

/* Section 4.1 step 6: at most one subprotocol, and one the client offered.
 * Subprotocol names are compared exactly, as the server echoes the
 * client's spelling. */
static int check_subprotocol(const wsio_http_response *resp,
                             const wsio_handshake_request *req,
                             wsio_slice *chosen)
{
    wsio_http_token_iter it;
    wsio_slice proto = {NULL, 0}, extra;
    wsio_http_token_iter_init(&it, resp->headers, resp->num_headers,
                              "Sec-WebSocket-Protocol");
    if (!wsio_http_token_iter_next(&it, &proto))
        return 0;
    if (wsio_http_token_iter_next(&it, &extra))
        return WSIO_EHS_SUBPROTOCOL;

    wsio_http_header offers = offer_list(req->subprotocols);
    wsio_slice offer;
    wsio_http_token_iter_init(&it, &offers, 1, "offer");
    while (wsio_http_token_iter_next(&it, &offer)) {
        if (offer.len == proto.len &&
            memcmp(offer.ptr, proto.ptr, proto.len) == 0) {
            *chosen = proto;
            return 0;
        }
    }
    return WSIO_EHS_SUBPROTOCOL;
}

/* Section 4.1 step 5 and section 9.1: every extension the server uses must
 * be named in the client's offer (parameters are the extension's business). */
static int check_extensions(const wsio_http_response *resp,
                            const wsio_handshake_request *req)
{
    wsio_http_header offers = offer_list(req->extensions);
    wsio_http_token_iter it;
    wsio_slice ext;
    wsio_http_token_iter_init(&it, resp->headers, resp->num_headers,
                              "Sec-WebSocket-Extensions");
    while (wsio_http_token_iter_next(&it, &ext))
        if (!wsio__http_has_token_slice(&offers, 1, "offer",
                                        wsio__http_element_name(ext)))
            return WSIO_EHS_EXTENSION;
    return 0;
}

int wsio_handshake_validate_response(const wsio_http_response *resp,
                                     const wsio_handshake_request *req,
                                     wsio_handshake_result *result)
{
    if (!resp || !req || !req->key)
        return WSIO_EINVAL;
    const wsio_http_header *h = resp->headers;
    size_t n = resp->num_headers;

    /* Section 4.1, the client's checks 1 to 6, in order. */
    if (resp->status != 101)
        return WSIO_EHS_STATUS;
    if (!wsio_http_header_has_token(h, n, "Upgrade", "websocket"))
        return WSIO_EHS_UPGRADE;
    if (!wsio_http_header_has_token(h, n, "Connection", "Upgrade"))
        return WSIO_EHS_CONNECTION;
    char expect[WSIO_HANDSHAKE_ACCEPT_LEN + 1];
    wsio_slice accept;
    if (wsio_handshake_accept_key(req->key, strlen(req->key), expect) < 0)
        return WSIO_EINVAL;
    if (!find_single(h, n, "Sec-WebSocket-Accept", &accept) ||
        !slice_equals(accept, expect))
        return WSIO_EHS_ACCEPT;
    int rc = check_extensions(resp, req);
    if (rc < 0)
        return rc;
    wsio_slice proto = {NULL, 0};
    rc = check_subprotocol(resp, req, &proto);
    if (rc < 0)
        return rc;

    if (result) {
        result->subprotocol = proto;
        result->extensions = (wsio_slice){NULL, 0};
        wsio_http_header_find(h, n, "Sec-WebSocket-Extensions",
                              &result->extensions);
    }
    return 0;
}

/*
 * tests/fuzz/fuzz_http_request.c - the server's side of the handshake on
 * arbitrary bytes: parse, check the prefix contract, validate, and answer.
 *
 * Properties checked beyond "no crash, no over-read":
 *  - a head of n bytes gives EAGAIN on its first n - 1 bytes;
 *  - an accepted request's 101 parses back and passes the client's checks;
 *  - a rejected request's answer parses back with the status of its error.
 */
#include <stdlib.h>
#include <string.h>

#include "wsio.h"

#define MAX_HEADERS 32

static void check_answer_parses(const char *out, size_t len, int status)
{
    wsio_http_header hdrs[MAX_HEADERS];
    wsio_http_response resp;
    ssize_t n =
        wsio_http_response_parse(out, len, &resp, hdrs, MAX_HEADERS, NULL);
    if (n <= 0 || resp.status != status)
        abort();
}

static void accept_request(const wsio_http_request *req, wsio_slice key)
{
    /* Echo the client's first offer, as a real server might. */
    wsio_http_token_iter it;
    wsio_slice offer;
    char proto[64] = {0};
    wsio_http_token_iter_init(&it, req->headers, req->num_headers,
                              "Sec-WebSocket-Protocol");
    if (wsio_http_token_iter_next(&it, &offer) && offer.len < sizeof proto)
        memcpy(proto, offer.ptr, offer.len);

    wsio_handshake_answer ans = {proto[0] ? proto : NULL, NULL, NULL, 0};
    char out[1024];
    ssize_t n = wsio_handshake_build_accept(out, sizeof out, key, &ans);
    if (n == WSIO_EINVAL && proto[0]) /* an offer that is not a token */
        return;
    if (n <= 0 || (size_t)n > sizeof out)
        abort();
    check_answer_parses(out, (size_t)n, 101);

    /* The client that sent this key and offer accepts the answer. */
    char key_str[WSIO_HANDSHAKE_KEY_LEN + 1];
    memcpy(key_str, key.ptr, WSIO_HANDSHAKE_KEY_LEN);
    key_str[WSIO_HANDSHAKE_KEY_LEN] = '\0';
    wsio_handshake_request creq = {
        "h", "/", key_str, NULL, proto[0] ? proto : NULL, NULL, NULL, 0};
    wsio_http_header hdrs[MAX_HEADERS];
    wsio_http_response resp;
    if (wsio_http_response_parse(out, (size_t)n, &resp, hdrs, MAX_HEADERS,
                                 NULL) != n ||
        wsio_handshake_validate_response(&resp, &creq, NULL) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks small limits now and then, to reach them. */
    wsio_http_limits lim;
    wsio_http_limits_default(&lim);
    if (size > 0 && data[0] == 'L') {
        lim.max_header_bytes = 128;
        lim.max_headers = 4;
    }

    wsio_http_header hdrs[MAX_HEADERS];
    wsio_http_request req;
    ssize_t n =
        wsio_http_request_parse(data, size, &req, hdrs, MAX_HEADERS, &lim);
    if (n == WSIO_EAGAIN)
        return 0;
    if (n > 0) {
        if ((size_t)n > size || (size_t)n > lim.max_header_bytes)
            abort();
        wsio_http_request again;
        if (wsio_http_request_parse(data, (size_t)n - 1, &again, hdrs,
                                    MAX_HEADERS, &lim) != WSIO_EAGAIN ||
            wsio_http_request_parse(data, (size_t)n, &req, hdrs, MAX_HEADERS,
                                    &lim) != n)
            abort();
        /* Walk every header's elements, as the validation does. */
        for (size_t i = 0; i < req.num_headers; i++) {
            wsio_http_token_iter it;
            wsio_slice tok;
            char name[64] = {0};
            if (req.headers[i].name.len >= sizeof name)
                continue;
            memcpy(name, req.headers[i].name.ptr, req.headers[i].name.len);
            wsio_http_token_iter_init(&it, req.headers, req.num_headers, name);
            while (wsio_http_token_iter_next(&it, &tok))
                if (tok.len == 0 || tok.ptr < (const char *)data ||
                    tok.ptr + tok.len > (const char *)data + n)
                    abort();
        }
        wsio_slice key;
        int rc = wsio_handshake_validate_request(&req, &key);
        if (rc == 0) {
            accept_request(&req, key);
            return 0;
        }
        n = rc;
    }
    char out[512];
    ssize_t len = wsio_handshake_build_reject(out, sizeof out, (int)n);
    if (len <= 0 || (size_t)len > sizeof out)
        abort();
    check_answer_parses(out, (size_t)len, wsio_err_http_status((int)n));
    return 0;
}

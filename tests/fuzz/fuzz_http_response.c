/*
 * tests/fuzz/fuzz_http_response.c - the client's side of the handshake on
 * arbitrary bytes: parse the server's answer and check it against a fixed
 * request (the RFC 6455 key, two subprotocols, two extensions).
 *
 * Properties checked beyond "no crash, no over-read": the prefix contract,
 * and that an accepted answer's chosen subprotocol and extensions point
 * into the head.
 */
#include <stdlib.h>
#include <string.h>

#include "wsio.h"

#define MAX_HEADERS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wsio_http_limits lim;
    wsio_http_limits_default(&lim);
    if (size > 0 && data[0] == 'L') {
        lim.max_header_bytes = 128;
        lim.max_headers = 4;
    }
    wsio_http_header hdrs[MAX_HEADERS];
    wsio_http_response resp;
    ssize_t n =
        wsio_http_response_parse(data, size, &resp, hdrs, MAX_HEADERS, &lim);
    if (n <= 0)
        return 0;
    if ((size_t)n > size)
        abort();
    wsio_http_response again;
    if (wsio_http_response_parse(data, (size_t)n - 1, &again, hdrs, MAX_HEADERS,
                                 &lim) != WSIO_EAGAIN ||
        wsio_http_response_parse(data, (size_t)n, &resp, hdrs, MAX_HEADERS,
                                 &lim) != n)
        abort();

    const wsio_handshake_request creq = {
        "server.example.com",
        "/chat",
        "dGhlIHNhbXBsZSBub25jZQ==",
        NULL,
        "chat, superchat",
        "permessage-deflate; client_max_window_bits, x-a",
        NULL,
        0};
    wsio_handshake_result result;
    int rc = wsio_handshake_validate_response(&resp, &creq, &result);
    if (rc == 0) {
        const char *lo = (const char *)data, *hi = lo + n;
        if (resp.status != 101 ||
            (result.subprotocol.len > 0 &&
             (result.subprotocol.ptr < lo ||
              result.subprotocol.ptr + result.subprotocol.len > hi)) ||
            (result.extensions.len > 0 &&
             (result.extensions.ptr < lo ||
              result.extensions.ptr + result.extensions.len > hi)))
            abort();
    } else if (rc != WSIO_EHS_STATUS && rc != WSIO_EHS_UPGRADE &&
               rc != WSIO_EHS_CONNECTION && rc != WSIO_EHS_ACCEPT &&
               rc != WSIO_EHS_SUBPROTOCOL && rc != WSIO_EHS_EXTENSION) {
        abort(); /* only the codes the header lists */
    }
    return 0;
}

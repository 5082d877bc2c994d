/*
 * wsio/handshake.h - layer 1: the opening handshake (RFC 6455 section 4).
 *
 * HTTP/1.1 request and response parsing with hard limits, validation of an
 * upgrade request (section 4.2.1) and of the server's answer (section 4.1),
 * Sec-WebSocket-Accept, and builders for every message of the handshake.
 *
 * Nothing here allocates. Parsers fill caller-provided structs whose slices
 * point into the caller's buffer, so they stay valid exactly as long as that
 * buffer is neither freed nor changed. Builders write into caller memory and
 * return the length the whole message needs, as snprintf does.
 *
 * Partial input: keep every byte received so far in one buffer and call the
 * parser on the whole buffer after each read. It returns WSIO_EAGAIN until
 * the header block is complete, then the length of the header block; any
 * bytes after it (the first WebSocket frames, which a client may send right
 * behind its request) are the caller's to keep:
 *
 *     n = wsio_http_request_parse(buf, len, &req, hdrs, 64, &limits);
 *     if (n == WSIO_EAGAIN) { read more; try again; }
 *     else if (n < 0)      { answer wsio_err_http_status(n); close; }
 *     else                 { bytes buf[n..len) belong to the connection }
 *
 * Threads: pure functions on caller memory: any thread may call them, on
 * buffers no other thread is writing at the same time.
 */
#ifndef WSIO_HANDSHAKE_H
#define WSIO_HANDSHAKE_H

#include "wsio/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Length of a Sec-WebSocket-Key (base64 of 16 bytes) and of the accept
 * value (base64 of a 20-byte SHA-1), without the terminating NUL. */
#define WSIO_HANDSHAKE_KEY_LEN 24
#define WSIO_HANDSHAKE_ACCEPT_LEN 28

/* One header line; both slices point into the parsed buffer. Names keep the
 * case they were sent in; values are trimmed of surrounding spaces/tabs. */
typedef struct wsio_http_header {
    wsio_slice name;
    wsio_slice value;
} wsio_http_header;

/* Hard limits for parsing one header block. */
typedef struct wsio_http_limits {
    size_t max_header_bytes; /* request/status line + headers + blank line;
                                default 8192 */
    size_t max_headers;      /* header lines; default 64 */
} wsio_http_limits;

/* wsio_http_limits_default - fill lim with the defaults above. */
WSIO_EXTERN void wsio_http_limits_default(wsio_http_limits *lim);

/*
 * A parsed request. Every slice points into the buffer given to the parser.
 */
typedef struct wsio_http_request {
    wsio_slice method;         /* "GET" */
    wsio_slice target;         /* request-target as sent: "/chat?room=1" */
    wsio_slice path;           /* target up to '?': "/chat" */
    wsio_slice query;          /* after '?', without it; len 0 when none */
    int version_major;         /* 1 for HTTP/1.1 */
    int version_minor;         /* 1 for HTTP/1.1 */
    wsio_http_header *headers; /* the caller's array given to the parser */
    size_t num_headers;        /* entries of headers filled in */
} wsio_http_request;

/* A parsed response (the client's view of the server's answer). */
typedef struct wsio_http_response {
    int status;        /* 101 */
    wsio_slice reason; /* "Switching Protocols" */
    int version_major;
    int version_minor;
    wsio_http_header *headers;
    size_t num_headers;
} wsio_http_response;

/*
 * wsio_http_request_parse - parse an HTTP/1.x request head.
 *
 * buf holds all bytes received so far (see the top of this file). headers is
 * an array of max_headers entries that the parser fills; req->headers points
 * to it afterwards. lim may be NULL for the defaults; the effective header
 * limit is the smaller of max_headers and lim->max_headers.
 *
 * Lines end in CRLF; a bare LF, a control character in a header, a space
 * before a header's colon, obs-fold continuation lines and an empty header
 * name are malformed (RFC 9112, strict), and so is a version other than
 * "HTTP/1." and one digit.
 *
 * Returns the length of the head including its blank line (> 0), or
 *   WSIO_EAGAIN            incomplete and still under the byte limit;
 *   WSIO_EHS_TOOLARGE      no end of head within lim->max_header_bytes;
 *   WSIO_EHS_TOOMANYHEADERS more header lines than allowed;
 *   WSIO_EHS_MALFORMED     not a valid HTTP/1.x request head;
 *   WSIO_EINVAL            a NULL argument.
 */
WSIO_EXTERN ssize_t wsio_http_request_parse(const void *buf, size_t len,
                                            wsio_http_request *req,
                                            wsio_http_header *headers,
                                            size_t max_headers,
                                            const wsio_http_limits *lim);

/*
 * wsio_http_response_parse - parse an HTTP/1.x response head, with the same
 * contract, limits and return values as wsio_http_request_parse.
 */
WSIO_EXTERN ssize_t wsio_http_response_parse(const void *buf, size_t len,
                                             wsio_http_response *resp,
                                             wsio_http_header *headers,
                                             size_t max_headers,
                                             const wsio_http_limits *lim);

/*
 * wsio_http_header_find - the value of the first header called name
 * (compared without regard to ASCII case) among headers[0..n).
 * Returns 1 and sets *value, or 0 when there is no such header.
 */
WSIO_EXTERN int wsio_http_header_find(const wsio_http_header *headers, size_t n,
                                      const char *name, wsio_slice *value);

/*
 * Iterates over the comma-separated elements of every header called name,
 * across repeated header lines, in order ("Connection: keep-alive, Upgrade"
 * gives "keep-alive" then "Upgrade"). Elements are trimmed of spaces and
 * tabs; empty elements are skipped. An element keeps any ";parameters" it
 * has (used by Sec-WebSocket-Extensions).
 */
typedef struct wsio_http_token_iter {
    const wsio_http_header *headers; /* what is iterated */
    size_t num_headers;
    const char *name;
    size_t index;  /* header being read */
    size_t offset; /* position in its value */
} wsio_http_token_iter;

/* wsio_http_token_iter_init - start iterating over the header name.
 * name must stay valid while the iterator is used. */
WSIO_EXTERN void wsio_http_token_iter_init(wsio_http_token_iter *it,
                                           const wsio_http_header *headers,
                                           size_t n, const char *name);

/* wsio_http_token_iter_next - the next element: returns 1 and sets *token,
 * or 0 when there are no more. */
WSIO_EXTERN int wsio_http_token_iter_next(wsio_http_token_iter *it,
                                          wsio_slice *token);

/*
 * wsio_http_header_has_token - 1 when some header called name has an
 * element equal to token, compared without regard to ASCII case, ignoring
 * any ";parameters" of the element. 0 otherwise.
 */
WSIO_EXTERN int wsio_http_header_has_token(const wsio_http_header *headers,
                                           size_t n, const char *name,
                                           const char *token);

/*
 * wsio_handshake_is_upgrade - 1 when the request asks for a WebSocket at all
 * (an Upgrade header with a "websocket" element), so a server can send
 * other requests to its plain HTTP handler and validate only these.
 */
WSIO_EXTERN int wsio_handshake_is_upgrade(const wsio_http_request *req);

/*
 * wsio_handshake_validate_request - check an upgrade request against
 * section 4.2.1, in the section's order, and give the key.
 *
 * On success *key (if not NULL) points at the Sec-WebSocket-Key value,
 * which base64-decodes to exactly 16 bytes.
 *
 * Returns 0, or WSIO_EINVAL when req is NULL, or the first failure:
 * WSIO_EHS_METHOD (not GET),
 * WSIO_EHS_HTTPVERSION (below HTTP/1.1), WSIO_EHS_HOST, WSIO_EHS_UPGRADE,
 * WSIO_EHS_CONNECTION, WSIO_EHS_KEY, WSIO_EHS_VERSION (answer with
 * wsio_handshake_build_reject, which adds Sec-WebSocket-Version: 13), then
 * WSIO_EHS_BODY (a Transfer-Encoding, or a Content-Length other than 0:
 * the bytes after the head would be taken as frames).
 */
WSIO_EXTERN int wsio_handshake_validate_request(const wsio_http_request *req,
                                                wsio_slice *key);

/*
 * wsio_handshake_accept_key - compute Sec-WebSocket-Accept for key
 * (section 4.2.2: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))).
 * out receives 28 characters and a NUL.
 * Returns 0, or WSIO_EINVAL when key is NULL or longer than 256 bytes.
 */
WSIO_EXTERN int
wsio_handshake_accept_key(const char *key, size_t key_len,
                          char out[WSIO_HANDSHAKE_ACCEPT_LEN + 1]);

/*
 * What a server answers an accepted upgrade with. Strings are NUL-terminated
 * and may be NULL when absent.
 */
typedef struct wsio_handshake_answer {
    const char *subprotocol; /* one of the client's offers, or NULL */
    const char *extensions;  /* Sec-WebSocket-Extensions value, or NULL */
    const wsio_http_header *extra_headers; /* more headers, or NULL */
    size_t num_extra_headers;
} wsio_handshake_answer;

/*
 * wsio_handshake_build_accept - write the 101 Switching Protocols response
 * for the request whose Sec-WebSocket-Key is key.
 *
 * Like snprintf: writes only when the whole response fits in cap bytes
 * (out may be NULL when cap is 0), and returns the length the response needs
 * either way (no NUL is written or counted). answer may be NULL.
 *
 * Returns the length, or WSIO_EINVAL when a header name is not a token, a
 * header value contains CR, LF, NUL or another control character but HTAB
 * (header injection), the subprotocol is not a token, the key is not 24
 * characters of strict base64 of 16 bytes, or out is NULL with cap > 0.
 */
WSIO_EXTERN ssize_t wsio_handshake_build_accept(
    char *out, size_t cap, wsio_slice key, const wsio_handshake_answer *answer);

/*
 * wsio_handshake_build_reject - write the response to a request that failed
 * with err (a WSIO_EHS_* code or WSIO_ENOMEM): the status of
 * wsio_err_http_status(err) with a short text body, plus
 * "Sec-WebSocket-Version: 13" for WSIO_EHS_VERSION (section 4.2.2) and
 * "Connection: close". Same return contract as wsio_handshake_build_accept;
 * WSIO_EINVAL when err has no HTTP status.
 */
WSIO_EXTERN ssize_t wsio_handshake_build_reject(char *out, size_t cap, int err);

/*
 * wsio_http_build_response - write any HTTP/1.1 response: the status line
 * (with the standard reason phrase for status), the given headers, a
 * Content-Length for body_len, and the body. For the host's own pages and
 * rejections (401, 403, 404, 503 ...).
 *
 * No Content-Length is written for 1xx and 204 (RFC 9110 section 8.6),
 * which must then have body_len 0.
 *
 * Same return contract as wsio_handshake_build_accept; WSIO_EINVAL when
 * status is outside 100..599, a header is invalid as for
 * wsio_handshake_build_accept, headers include a Content-Length, or a 1xx
 * or 204 response has a body.
 */
WSIO_EXTERN ssize_t wsio_http_build_response(char *out, size_t cap, int status,
                                             const wsio_http_header *headers,
                                             size_t num_headers,
                                             const void *body, size_t body_len);

/*
 * wsio_http_status_reason - the standard reason phrase of an HTTP status
 * ("Not Found"), or "Unknown". Returns a static string.
 */
WSIO_EXTERN const char *wsio_http_status_reason(int status);

/*
 * wsio_handshake_make_key - encode 16 random bytes as a Sec-WebSocket-Key
 * (section 4.1). With nonce NULL the bytes come from the operating system
 * (getrandom or /dev/urandom). out receives 24 characters and a NUL.
 * Returns 0, or WSIO_EINTERNAL when the OS gave no random bytes, or
 * WSIO_EINVAL when out is NULL.
 */
WSIO_EXTERN int wsio_handshake_make_key(const uint8_t nonce[16],
                                        char out[WSIO_HANDSHAKE_KEY_LEN + 1]);

/* What a client asks for. Strings are NUL-terminated; NULL when absent. */
typedef struct wsio_handshake_request {
    const char *host;   /* Host header value, "example.com:8080"; required */
    const char *path;   /* request-target, "/chat?x=1"; NULL means "/" */
    const char *key;    /* from wsio_handshake_make_key; required */
    const char *origin; /* Origin, or NULL */
    const char *subprotocols; /* comma-separated offers, or NULL */
    const char *extensions;   /* Sec-WebSocket-Extensions offer, or NULL */
    const wsio_http_header *extra_headers;
    size_t num_extra_headers;
} wsio_handshake_request;

/*
 * wsio_handshake_build_request - write the client's opening handshake
 * (section 4.1). Same return contract as wsio_handshake_build_accept;
 * WSIO_EINVAL when host is missing or empty, key is missing or not a valid
 * key, path is not visible ASCII, or a header is invalid as for
 * wsio_handshake_build_accept.
 */
WSIO_EXTERN ssize_t wsio_handshake_build_request(
    char *out, size_t cap, const wsio_handshake_request *req);

/* What the server's answer chose; slices point into the response buffer. */
typedef struct wsio_handshake_result {
    wsio_slice subprotocol; /* len 0 when none */
    wsio_slice extensions;  /* value of the first Sec-WebSocket-Extensions
                               header; len 0 when none */
} wsio_handshake_result;

/*
 * wsio_handshake_validate_response - the client's check of the server's
 * answer (section 4.1, "the client MUST validate"): status 101, Upgrade
 * websocket, Connection upgrade, Sec-WebSocket-Accept matching req->key, a
 * subprotocol only if it is one of req->subprotocols, an extension only if
 * its name was offered in req->extensions (names compared without regard
 * to case; subprotocols compared exactly).
 *
 * result may be NULL. Returns 0, or WSIO_EINVAL when resp, req or req->key
 * is NULL or the key is over 256 bytes, or WSIO_EHS_STATUS, WSIO_EHS_UPGRADE,
 * WSIO_EHS_CONNECTION, WSIO_EHS_ACCEPT, WSIO_EHS_SUBPROTOCOL or
 * WSIO_EHS_EXTENSION.
 */
WSIO_EXTERN int
wsio_handshake_validate_response(const wsio_http_response *resp,
                                 const wsio_handshake_request *req,
                                 wsio_handshake_result *result);

/*
 * permessage-deflate negotiation (RFC 7692 section 7.1), for both roles.
 *
 * The core only negotiates; compressing is a codec's job (wsio/conn.h),
 * which libwsio-deflate provides on zlib (wsio/deflate.h). Negotiation
 * never agrees to a window under 9 bits for the side this end compresses:
 * zlib cannot make raw deflate streams with an 8-bit window (it uses 9),
 * and a 9-bit stream is not valid for a peer that asked for 8.
 */

/* Longest Sec-WebSocket-Extensions value these functions write, NUL
 * included. */
#define WSIO_DEFLATE_HEADER_MAX 160

/* The parameters both ends agreed on (RFC 7692 section 7.1). */
typedef struct wsio_deflate_params {
    uint8_t server_no_context_takeover; /* the server resets its compressor
                                           after each message */
    uint8_t client_no_context_takeover; /* the client does */
    uint8_t server_max_window_bits;     /* the server compresses with at most
                                           this LZ77 window: 8..15 */
    uint8_t client_max_window_bits;     /* the client does: 8..15 */
} wsio_deflate_params;

/*
 * What one end asks for and accepts; fill with wsio_deflate_policy_default.
 * Window bits are 9..15 (smaller values count as 9).
 *
 * Server: server_no_context_takeover answers every offer with it (so one
 * compressed frame serves every recipient of a broadcast);
 * client_no_context_takeover asks it of every client (a client that offers
 * it gets it anyway); server_max_window_bits is the largest window the
 * server compresses with (answered when under 15, or when the offer asks
 * for less); client_max_window_bits limits clients that offered the
 * parameter.
 *
 * Client: the same fields are what the offer asks for; the offer always
 * says client_max_window_bits, so that a server may limit the client.
 */
typedef struct wsio_deflate_policy {
    uint8_t server_no_context_takeover; /* default 0 */
    uint8_t client_no_context_takeover; /* default 0 */
    uint8_t server_max_window_bits;     /* default 15 */
    uint8_t client_max_window_bits;     /* default 15 */
} wsio_deflate_policy;

/* wsio_deflate_policy_default - fill p with the defaults written above. */
WSIO_EXTERN void wsio_deflate_policy_default(wsio_deflate_policy *p);

/*
 * wsio_deflate_negotiate - the server's side: pick the first acceptable
 * permessage-deflate offer among the Sec-WebSocket-Extensions headers of
 * headers[0..n) and write the answer's header value.
 *
 * An offer with an unknown parameter, a parameter given twice, a value
 * that is not a decimal 8..15 without leading zeros (quoted or not), a
 * value on a *_no_context_takeover parameter or a server_max_window_bits
 * without one is declined, as is one asking the server for an 8-bit
 * window (section 7.1.2.1); the next offer is then tried (section 5.1).
 *
 * policy may be NULL for the defaults. On acceptance params (if not NULL)
 * receives what was agreed and answer receives the value with its NUL (it
 * needs at most WSIO_DEFLATE_HEADER_MAX bytes).
 * Returns the answer's length (> 0), 0 when no offer is acceptable (then
 * send no Sec-WebSocket-Extensions header: the offer is declined), or
 * WSIO_EINVAL when headers is NULL with n > 0 or answer is NULL, or
 * WSIO_ENOSPC when cap is too small.
 */
WSIO_EXTERN ssize_t wsio_deflate_negotiate(const wsio_http_header *headers,
                                           size_t n,
                                           const wsio_deflate_policy *policy,
                                           wsio_deflate_params *params,
                                           char *answer, size_t cap);

/*
 * wsio_deflate_build_offer - the client's side: write the
 * Sec-WebSocket-Extensions value that offers permessage-deflate as policy
 * (NULL: defaults) asks, with its NUL, into out (at most
 * WSIO_DEFLATE_HEADER_MAX bytes). Returns the length, or WSIO_EINVAL (out
 * NULL) or WSIO_ENOSPC.
 */
WSIO_EXTERN ssize_t wsio_deflate_build_offer(const wsio_deflate_policy *policy,
                                             char *out, size_t cap);

/*
 * wsio_deflate_check_answer - the client's check of the server's
 * Sec-WebSocket-Extensions headers in headers[0..n) against the offer that
 * wsio_deflate_build_offer made from policy (NULL: defaults).
 *
 * The answer must hold at most one permessage-deflate element, with
 * well-formed parameters (the rules of wsio_deflate_negotiate) that accept
 * the offer (section 7.1): server_no_context_takeover when it was asked
 * for, server_max_window_bits no larger than asked for (and present when
 * asked for), client_max_window_bits no smaller than 9 (this end cannot
 * compress with 8 bits).
 *
 * Returns 1 with params (if not NULL) filled when permessage-deflate was
 * agreed, 0 when the answer does not mention it, or WSIO_EHS_EXTENSION
 * when the answer is one this client did not offer or cannot accept (fail
 * the connection, RFC 6455 section 4.1), or WSIO_EINVAL when headers is
 * NULL with n > 0.
 */
WSIO_EXTERN int wsio_deflate_check_answer(const wsio_http_header *headers,
                                          size_t n,
                                          const wsio_deflate_policy *policy,
                                          wsio_deflate_params *params);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_HANDSHAKE_H */

/*
 * src/handshake_http.h - what handshake.c and handshake_http.c share: HTTP
 * token rules and the bounded writer behind every builder. Never exported.
 */
#ifndef WSIO_HANDSHAKE_HTTP_H
#define WSIO_HANDSHAKE_HTTP_H

#include "internal.h"
#include "wsio/handshake.h"

/* 1 when p[0..len) is a non-empty HTTP token (RFC 9110 section 5.6.2). */
int wsio__http_is_token(const char *p, size_t len);

/* 1 when s equals the NUL-terminated name without regard to ASCII case. */
int wsio__http_slice_is(wsio_slice s, const char *name);

/* wsio_http_header_has_token for a token given as a slice. */
int wsio__http_has_token_slice(const wsio_http_header *headers, size_t n,
                               const char *name, wsio_slice token);

/* The element's name: the part before any ";parameters", trimmed. */
wsio_slice wsio__http_element_name(wsio_slice element);

/*
 * Output of a builder. With buf NULL it only counts, so each builder runs
 * once to measure and validate, and a second time to write when the whole
 * message fits (the snprintf contract without partial writes).
 * Invariant: when buf is set, len never exceeds the capacity the caller
 * checked in the measuring run.
 */
typedef struct wsio__out {
    char *buf;    /* where to write, or NULL to measure only */
    size_t len;   /* bytes the message needs so far */
    int overflow; /* len would have passed SIZE_MAX */
} wsio__out;

void wsio__out_put(wsio__out *o, const void *p, size_t n);
void wsio__out_str(wsio__out *o, const char *s);
/* "HTTP/1.1 <status> <reason>\r\n" */
void wsio__out_status_line(wsio__out *o, int status);
/* "name: value\r\n", or WSIO_EINVAL when name is not a token or value has
 * a control character other than HTAB (CR, LF and NUL included). */
int wsio__out_header(wsio__out *o, const char *name, size_t name_len,
                     const char *value, size_t value_len);
/* wsio__out_header for a header given as two NUL-terminated strings. */
int wsio__out_header_str(wsio__out *o, const char *name, const char *value);
/* wsio__out_header over headers[0..n). */
int wsio__out_headers(wsio__out *o, const wsio_http_header *headers, size_t n);

/* Writes one message with emit (see wsio__out) into out[0..cap) and returns
 * its length, or emit's negative code. */
typedef int (*wsio__emit_fn)(wsio__out *o, const void *arg);
ssize_t wsio__build(char *out, size_t cap, wsio__emit_fn emit, const void *arg);

#endif /* WSIO_HANDSHAKE_HTTP_H */

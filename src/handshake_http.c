/*
 * src/handshake_http.c - the HTTP/1.1 half of layer 1: request and response
 * heads (RFC 9112), header lookup and list elements (RFC 9110 section 5.6.1),
 * and the bounded writer with the generic response builder.
 *
 * The parsers are stateless: each call scans the buffer from its start, at
 * most max_header_bytes of it, once. A caller feeding one byte at a time
 * therefore does O(limit^2) work in total, bounded by the limit, in exchange
 * for an API with no parser object to keep.
 */
#include <assert.h>
#include <limits.h>
#include <string.h>

#include "handshake_http.h"

#define DEFAULT_MAX_HEADER_BYTES 8192
#define DEFAULT_MAX_HEADERS 64

void wsio_http_limits_default(wsio_http_limits *lim)
{
    lim->max_header_bytes = DEFAULT_MAX_HEADER_BYTES;
    lim->max_headers = DEFAULT_MAX_HEADERS;
}

/* ---- character classes ------------------------------------------------ */

/* tchar, RFC 9110 section 5.6.2. */
static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar / SP / HTAB (RFC 9110 section 5.5), obs-text allowed:
 * everything but the controls. CR, LF and NUL are controls. */
static int is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

static int slice_eq_nocase(const char *a, size_t a_len, const char *b,
                           size_t b_len)
{
    if (a_len != b_len)
        return 0;
    for (size_t i = 0; i < a_len; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return 0;
    return 1;
}

int wsio__http_is_token(const char *p, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)p[i]))
            return 0;
    return 1;
}

int wsio__http_slice_is(wsio_slice s, const char *name)
{
    return slice_eq_nocase(s.ptr, s.len, name, strlen(name));
}

/* ---- parsing ------------------------------------------------------------ */

/* "HTTP/1." DIGIT at p[0..8): RFC 9112 section 2.3, major version 1 only. */
static int parse_version(const char *p, int *major, int *minor)
{
    if (memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9')
        return WSIO_EHS_MALFORMED;
    *major = 1;
    *minor = p[7] - '0';
    return 0;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112
 * section 3), exactly one SP between the parts. */
static int parse_request_line(const char *line, size_t len, void *out)
{
    wsio_http_request *req = out;
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i == len || line[i] != ' ')
        return WSIO_EHS_MALFORMED;
    req->method = (wsio_slice){line, i};

    size_t start = ++i;
    /* The target forms of RFC 9112 section 3.2 use visible ASCII only. */
    while (i < len && line[i] > 0x20 && line[i] < 0x7f)
        i++;
    if (i == start || i == len || line[i] != ' ')
        return WSIO_EHS_MALFORMED;
    req->target = (wsio_slice){line + start, i - start};
    const char *q = memchr(req->target.ptr, '?', req->target.len);
    if (q) {
        size_t path_len = (size_t)(q - req->target.ptr);
        req->path = (wsio_slice){req->target.ptr, path_len};
        req->query = (wsio_slice){q + 1, req->target.len - path_len - 1};
    } else {
        req->path = req->target;
        req->query = (wsio_slice){q, 0};
    }

    i++;
    if (len - i != 8)
        return WSIO_EHS_MALFORMED;
    return parse_version(line + i, &req->version_major, &req->version_minor);
}

/* status-line = HTTP-version SP status-code SP [reason-phrase] (RFC 9112
 * section 4). */
static int parse_status_line(const char *line, size_t len, void *out)
{
    wsio_http_response *resp = out;
    if (len < 13 || line[8] != ' ' || line[12] != ' ')
        return WSIO_EHS_MALFORMED;
    int rc = parse_version(line, &resp->version_major, &resp->version_minor);
    if (rc < 0)
        return rc;
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return WSIO_EHS_MALFORMED;
        status = status * 10 + (line[i] - '0');
    }
    for (size_t i = 13; i < len; i++)
        if (!is_field_char((unsigned char)line[i]))
            return WSIO_EHS_MALFORMED;
    resp->status = status;
    resp->reason = (wsio_slice){line + 13, len - 13};
    return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5).
 * A line starting with SP or HTAB (obs-fold, section 5.2), whitespace before
 * the colon (section 5.1) and an empty name all fail the token scan. */
static int parse_header_line(const char *line, size_t len, wsio_http_header *h)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i == len || line[i] != ':')
        return WSIO_EHS_MALFORMED;
    h->name = (wsio_slice){line, i};
    i++;
    while (i < len && is_ows(line[i]))
        i++;
    size_t start = i, end = i;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (!is_field_char(c))
            return WSIO_EHS_MALFORMED;
        if (!is_ows((char)c))
            end = i + 1;
    }
    h->value = (wsio_slice){line + start, end - start};
    return 0;
}

typedef int (*first_line_fn)(const char *line, size_t len, void *out);

/*
 * The head: a start line, header lines, a blank line, each ending in CRLF
 * (RFC 9112 section 2.1). One left-to-right pass over at most
 * max_header_bytes: memchr finds each LF, then the line is checked once.
 */
static ssize_t parse_head(const char *buf, size_t len, first_line_fn first,
                          void *first_out, wsio_http_header *headers,
                          size_t max_headers, const wsio_http_limits *lim,
                          size_t *num_headers)
{
    wsio_http_limits def;
    if (!lim) {
        wsio_http_limits_default(&def);
        lim = &def;
    }
    size_t header_limit =
        max_headers < lim->max_headers ? max_headers : lim->max_headers;
    size_t end = len < lim->max_header_bytes ? len : lim->max_header_bytes;
    size_t pos = 0, n = 0;
    int in_headers = 0;

    for (;;) {
        /* A line that does not start with CR is one more header line. */
        if (in_headers && pos < end && buf[pos] != '\r' && n == header_limit)
            return WSIO_EHS_TOOMANYHEADERS;
        const char *lf = memchr(buf + pos, '\n', end - pos);
        if (!lf)
            return len >= lim->max_header_bytes ? WSIO_EHS_TOOLARGE
                                                : WSIO_EAGAIN;
        size_t lf_at = (size_t)(lf - buf);
        if (lf_at == pos || buf[lf_at - 1] != '\r')
            return WSIO_EHS_MALFORMED; /* bare LF */
        const char *line = buf + pos;
        size_t line_len = lf_at - 1 - pos;
        pos = lf_at + 1;

        int rc;
        if (!in_headers) {
            rc = first(line, line_len, first_out);
            in_headers = 1;
        } else if (line_len == 0) {
            *num_headers = n;
            return (ssize_t)pos;
        } else {
            rc = parse_header_line(line, line_len, &headers[n]);
            n++;
        }
        if (rc < 0)
            return rc;
    }
}

ssize_t wsio_http_request_parse(const void *buf, size_t len,
                                wsio_http_request *req,
                                wsio_http_header *headers, size_t max_headers,
                                const wsio_http_limits *lim)
{
    if (!buf || !req || !headers)
        return WSIO_EINVAL;
    req->headers = headers;
    req->num_headers = 0;
    return parse_head(buf, len, parse_request_line, req, headers, max_headers,
                      lim, &req->num_headers);
}

ssize_t wsio_http_response_parse(const void *buf, size_t len,
                                 wsio_http_response *resp,
                                 wsio_http_header *headers, size_t max_headers,
                                 const wsio_http_limits *lim)
{
    if (!buf || !resp || !headers)
        return WSIO_EINVAL;
    resp->headers = headers;
    resp->num_headers = 0;
    return parse_head(buf, len, parse_status_line, resp, headers, max_headers,
                      lim, &resp->num_headers);
}

/* ---- lookup and list elements ------------------------------------------- */

int wsio_http_header_find(const wsio_http_header *headers, size_t n,
                          const char *name, wsio_slice *value)
{
    for (size_t i = 0; i < n; i++) {
        if (wsio__http_slice_is(headers[i].name, name)) {
            if (value)
                *value = headers[i].value;
            return 1;
        }
    }
    return 0;
}

void wsio_http_token_iter_init(wsio_http_token_iter *it,
                               const wsio_http_header *headers, size_t n,
                               const char *name)
{
    it->headers = headers;
    it->num_headers = n;
    it->name = name;
    it->index = 0;
    it->offset = 0;
}

/* Where the list element starting at v[i] ends: the next comma outside a
 * quoted-string (RFC 9110 section 5.6.4; extension parameters may be
 * quoted), or n. */
static size_t element_end(const char *v, size_t n, size_t i)
{
    int quoted = 0;
    for (; i < n; i++) {
        if (quoted && v[i] == '\\')
            i++; /* quoted-pair: the next byte is literal */
        else if (v[i] == '"')
            quoted = !quoted;
        else if (!quoted && v[i] == ',')
            return i;
    }
    return n;
}

static wsio_slice trim_ows(const char *p, size_t len)
{
    while (len > 0 && is_ows(*p)) {
        p++;
        len--;
    }
    while (len > 0 && is_ows(p[len - 1]))
        len--;
    return (wsio_slice){p, len};
}

int wsio_http_token_iter_next(wsio_http_token_iter *it, wsio_slice *token)
{
    for (; it->index < it->num_headers; it->index++, it->offset = 0) {
        const wsio_http_header *h = &it->headers[it->index];
        if (!wsio__http_slice_is(h->name, it->name))
            continue;
        const char *v = h->value.ptr;
        size_t n = h->value.len;
        while (it->offset < n) {
            size_t start = it->offset;
            size_t stop = element_end(v, n, start);
            it->offset = stop < n ? stop + 1 : n;
            wsio_slice el = trim_ows(v + start, stop - start);
            if (el.len > 0) { /* "#rule" allows empty elements; skip them */
                *token = el;
                return 1;
            }
        }
    }
    return 0;
}

wsio_slice wsio__http_element_name(wsio_slice element)
{
    const char *semi = memchr(element.ptr, ';', element.len);
    size_t len = semi ? (size_t)(semi - element.ptr) : element.len;
    return trim_ows(element.ptr, len);
}

int wsio__http_has_token_slice(const wsio_http_header *headers, size_t n,
                               const char *name, wsio_slice token)
{
    wsio_http_token_iter it;
    wsio_slice el;
    wsio_http_token_iter_init(&it, headers, n, name);
    while (wsio_http_token_iter_next(&it, &el)) {
        wsio_slice el_name = wsio__http_element_name(el);
        if (slice_eq_nocase(el_name.ptr, el_name.len, token.ptr, token.len))
            return 1;
    }
    return 0;
}

int wsio_http_header_has_token(const wsio_http_header *headers, size_t n,
                               const char *name, const char *token)
{
    return wsio__http_has_token_slice(headers, n, name,
                                      (wsio_slice){token, strlen(token)});
}

/* ---- writing ------------------------------------------------------------ */

void wsio__out_put(wsio__out *o, const void *p, size_t n)
{
    if (n > SIZE_MAX - o->len) {
        o->overflow = 1;
        return;
    }
    if (o->buf && n > 0)
        memcpy(o->buf + o->len, p, n);
    o->len += n;
}

void wsio__out_str(wsio__out *o, const char *s)
{
    wsio__out_put(o, s, strlen(s));
}

static void out_uint(wsio__out *o, size_t v)
{
    char digits[3 * sizeof v];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    wsio__out_put(o, digits + i, sizeof digits - i);
}

void wsio__out_status_line(wsio__out *o, int status)
{
    wsio__out_str(o, "HTTP/1.1 ");
    out_uint(o, (size_t)status);
    wsio__out_str(o, " ");
    wsio__out_str(o, wsio_http_status_reason(status));
    wsio__out_str(o, "\r\n");
}

int wsio__out_header(wsio__out *o, const char *name, size_t name_len,
                     const char *value, size_t value_len)
{
    /* A CR or LF here would let the caller's data start a new header or end
     * the head (response splitting); the name must be a token for the
     * message to parse at all. */
    if (!name || !wsio__http_is_token(name, name_len))
        return WSIO_EINVAL;
    if (!value && value_len > 0)
        return WSIO_EINVAL;
    for (size_t i = 0; i < value_len; i++)
        if (!is_field_char((unsigned char)value[i]))
            return WSIO_EINVAL;
    wsio__out_put(o, name, name_len);
    wsio__out_str(o, ": ");
    wsio__out_put(o, value, value_len);
    wsio__out_str(o, "\r\n");
    return 0;
}

int wsio__out_header_str(wsio__out *o, const char *name, const char *value)
{
    if (!name || !value)
        return WSIO_EINVAL;
    return wsio__out_header(o, name, strlen(name), value, strlen(value));
}

int wsio__out_headers(wsio__out *o, const wsio_http_header *headers, size_t n)
{
    if (n > 0 && !headers)
        return WSIO_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = wsio__out_header(o, headers[i].name.ptr, headers[i].name.len,
                                  headers[i].value.ptr, headers[i].value.len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

ssize_t wsio__build(char *out, size_t cap, wsio__emit_fn emit, const void *arg)
{
    if (!out && cap > 0)
        return WSIO_EINVAL;
    wsio__out measure = {NULL, 0, 0};
    int rc = emit(&measure, arg);
    if (rc < 0)
        return rc;
    if (measure.overflow || measure.len > (size_t)SSIZE_MAX)
        return WSIO_EINVAL;
    if (measure.len <= cap) {
        wsio__out write = {out, 0, 0};
        rc = emit(&write, arg);
        assert(rc == 0 && write.len == measure.len);
    }
    return (ssize_t)measure.len;
}

/* ---- generic responses -------------------------------------------------- */

const char *wsio_http_status_reason(int status)
{
    /* RFC 9110 section 15, plus 426 (section 15.5.22), 429 and 431
     * (RFC 6585). */
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

typedef struct response_args {
    int status;
    const wsio_http_header *headers;
    size_t num_headers;
    const void *body;
    size_t body_len;
} response_args;

/* RFC 9110 section 8.6: no Content-Length on 1xx and 204, which carry no
 * content. */
static int status_has_content(int status)
{
    return status >= 200 && status != 204;
}

static int emit_response(wsio__out *o, const void *arg)
{
    const response_args *a = arg;
    wsio__out_status_line(o, a->status);
    int rc = wsio__out_headers(o, a->headers, a->num_headers);
    if (rc < 0)
        return rc;
    if (status_has_content(a->status)) {
        wsio__out_str(o, "Content-Length: ");
        out_uint(o, a->body_len);
        wsio__out_str(o, "\r\n");
    }
    wsio__out_str(o, "\r\n");
    wsio__out_put(o, a->body, a->body_len);
    return 0;
}

ssize_t wsio_http_build_response(char *out, size_t cap, int status,
                                 const wsio_http_header *headers,
                                 size_t num_headers, const void *body,
                                 size_t body_len)
{
    if (status < 100 || status > 599 || (!body && body_len > 0))
        return WSIO_EINVAL;
    if (!status_has_content(status) && body_len > 0)
        return WSIO_EINVAL;
    /* This function writes the one Content-Length; a second one from the
     * caller would make the message ambiguous (RFC 9112 section 6.3). */
    if (num_headers > 0 && headers &&
        wsio_http_header_find(headers, num_headers, "Content-Length", NULL))
        return WSIO_EINVAL;
    response_args a = {status, headers, num_headers, body, body_len};
    return wsio__build(out, cap, emit_response, &a);
}

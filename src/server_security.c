/*
 * src/server_security.c - who is asking: the Origin allow-list, the PROXY
 * protocol header and trusted forwarding headers (see server_security.h).
 *
 * Origin (RFC 6455 section 10.2, RFC 6454): browsers send the page's
 * origin with every WebSocket handshake, and cookies ride along, so a
 * server that does not check it lets any site open a socket in its users'
 * names (cross-site WebSocket hijacking). Other clients send no Origin.
 *
 * Forwarding headers (RFC 7239 for Forwarded; X-Forwarded-For is the de
 * facto older form) are only believed from peers on the trusted list, and
 * then only as far back as the chain stays trusted: the client is the
 * nearest hop that is not itself a trusted proxy, since any hop before that
 * could have been written by the client. Only the one header the operator
 * names is read: a proxy that appends to X-Forwarded-For passes a
 * client's own Forwarded header through untouched, so believing both
 * would let the client choose its address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "server_security.h"

/* Hops of a forwarding chain looked at, nearest first. */
#define MAX_HOPS 32

/* ---- addresses
 * --------------------------------------------------------------- */

/* Text to binary; IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4, so a
 * dual-stack listener's peers match IPv4 entries. */
int wsio__addr_parse(const char *text, wsio__addr *out)
{
    if (!wsio__addr_from_text(text, out))
        return 0;
    *out = wsio__addr_unmapped(out);
    return 1;
}

int wsio__cidr_parse(const char *text, wsio__cidr *out)
{
    char tmp[INET6_ADDRSTRLEN + 4];
    size_t n = strlen(text);
    if (n >= sizeof tmp)
        return 0;
    memcpy(tmp, text, n + 1);
    char *slash = strchr(tmp, '/');
    long bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        if (slash[1] < '0' || slash[1] > '9')
            return 0;
        bits = strtol(slash + 1, &end, 10);
        if (*end)
            return 0;
    }
    memset(out, 0, sizeof *out);
    /* A prefix applies to the address as written: no mapped-IPv4 folding. */
    if (inet_pton(AF_INET, tmp, out->addr) == 1)
        out->family = 4;
    else if (inet_pton(AF_INET6, tmp, out->addr) == 1)
        out->family = 6;
    else
        return 0;
    long max = out->family == 4 ? 32 : 128;
    if (bits > max)
        return 0;
    out->bits = (uint8_t)(bits < 0 ? max : bits);
    return 1;
}

static int cidr_contains(const wsio__cidr *c, uint8_t family,
                         const uint8_t *bin)
{
    if (c->family != family)
        return 0;
    size_t whole = c->bits / 8u;
    unsigned rest = c->bits % 8u;
    if (memcmp(c->addr, bin, whole) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (c->addr[whole] & mask) == (bin[whole] & mask);
}

int wsio__cidr_match(const wsio__cidr *list, size_t n, const wsio__addr *addr)
{
    wsio__addr a = wsio__addr_unmapped(addr);
    for (size_t i = 0; i < n; i++)
        if (cidr_contains(&list[i], a.family, a.bin))
            return 1;
    return 0;
}

/* ---- set-up
 * ------------------------------------------------------------------ */

int wsio__security_init(wsio__security *sec, const wsio_server_config *cfg,
                        const wsio_mem *mem)
{
    memset(sec, 0, sizeof *sec);
    sec->require_origin = cfg->require_origin;
    sec->proxy_protocol = (unsigned)cfg->proxy_protocol & WSIO_PROXY_ANY;
    sec->forwarded = cfg->forwarded_header;
    if (cfg->num_allowed_origins && cfg->allowed_origins) {
        /* One block: the pointer array, then the strings. */
        size_t bytes = cfg->num_allowed_origins * sizeof(char *);
        for (size_t i = 0; i < cfg->num_allowed_origins; i++) {
            if (!cfg->allowed_origins[i])
                return WSIO_EINVAL;
            bytes += strlen(cfg->allowed_origins[i]) + 1;
        }
        sec->origins = wsio__malloc(mem, bytes);
        if (!sec->origins)
            return WSIO_ENOMEM;
        char *p = (char *)(sec->origins + cfg->num_allowed_origins);
        for (size_t i = 0; i < cfg->num_allowed_origins; i++) {
            size_t n = strlen(cfg->allowed_origins[i]) + 1;
            memcpy(p, cfg->allowed_origins[i], n);
            sec->origins[i] = p;
            p += n;
        }
        sec->norigins = cfg->num_allowed_origins;
    }
    if (cfg->num_trusted_proxies && cfg->trusted_proxies) {
        sec->trusted =
            wsio__calloc(mem, cfg->num_trusted_proxies, sizeof *sec->trusted);
        if (!sec->trusted) {
            wsio__security_free(sec, mem);
            return WSIO_ENOMEM;
        }
        sec->ntrusted = cfg->num_trusted_proxies;
        for (size_t i = 0; i < sec->ntrusted; i++) {
            if (!cfg->trusted_proxies[i] ||
                !wsio__cidr_parse(cfg->trusted_proxies[i], &sec->trusted[i])) {
                wsio__security_free(sec, mem);
                return WSIO_EINVAL;
            }
        }
    }
    return 0;
}

void wsio__security_free(wsio__security *sec, const wsio_mem *mem)
{
    wsio__free(mem, sec->origins);
    wsio__free(mem, sec->trusted);
    sec->origins = NULL;
    sec->trusted = NULL;
    sec->norigins = sec->ntrusted = 0;
}

/* ---- Origin
 * ------------------------------------------------------------------ */

int wsio__security_origin_ok(const wsio__security *sec,
                             const wsio_http_request *req)
{
    wsio_slice origin;
    if (!wsio_http_header_find(req->headers, req->num_headers, "Origin",
                               &origin))
        return !sec->require_origin; /* not a browser */
    if (!sec->origins)
        return 1;
    /* Scheme and host are case-insensitive (RFC 6454 section 4). */
    for (size_t i = 0; i < sec->norigins; i++)
        if (strlen(sec->origins[i]) == origin.len &&
            strncasecmp(sec->origins[i], origin.ptr, origin.len) == 0)
            return 1;
    return 0;
}

/* ---- the PROXY header
 * ------------------------------------------------------------ */

/* Take exactly n bytes that a peek has shown are there. */
static int drain(int fd, size_t n)
{
    uint8_t sink[256];
    while (n) {
        ssize_t r = recv(fd, sink, n < sizeof sink ? n : sizeof sink, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : WSIO_ECLOSED;
        n -= (size_t)r;
    }
    return 0;
}

int wsio__security_read_proxy(const wsio__security *sec, wsio_ws *ws,
                              const wsio_mem *mem)
{
    uint8_t buf[WSIO_PROXY_MAX_HEADER];
    wsio__ws_handshake *hs = wsio__ws_hs(ws);
    size_t have = hs->in_len;
    if (have)
        memcpy(buf, hs->in, have);
    ssize_t n;
    do
        n = recv(ws->tr.fd, buf + have, sizeof buf - have, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    if (n == 0)
        return WSIO_ECLOSED;
    wsio_proxy_info pi;
    ssize_t r =
        wsio_proxy_parse(buf, have + (size_t)n, sec->proxy_protocol, &pi);
    if (r < 0 && r != WSIO_EAGAIN)
        return (int)r;
    /* Everything peeked is header when it is incomplete. */
    size_t take = r == WSIO_EAGAIN ? (size_t)n : (size_t)r - have;
    int rc = drain(ws->tr.fd, take);
    if (rc)
        return rc;
    if (r == WSIO_EAGAIN) {
        uint8_t *p = wsio__realloc(mem, hs->in, have + take);
        if (!p)
            return WSIO_ENOMEM;
        memcpy(p + have, buf + have, take);
        hs->in = p;
        hs->in_len = (uint32_t)(have + take);
        return 0;
    }
    wsio__free(mem, hs->in);
    hs->in = NULL;
    hs->in_len = 0;
    /* pi's text is inet_ntop's, so the text read back is the same. */
    if (!pi.local && wsio__addr_from_text(pi.src_addr, &ws->addr))
        ws->port = pi.src_port;
    return 1;
}

/* ---- Forwarded and X-Forwarded-For
 * ----------------------------------------------- */

/* The value of the "for" parameter of one Forwarded element, unquoted. */
static int forwarded_for(wsio_slice elem, wsio_slice *out)
{
    const char *p = elem.ptr, *end = elem.ptr + elem.len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *pe = semi ? semi : end;
        while (p < pe && (*p == ' ' || *p == '\t'))
            p++;
        if (pe - p > 4 && strncasecmp(p, "for=", 4) == 0) {
            out->ptr = p + 4;
            out->len = (size_t)(pe - p - 4);
            while (out->len && (out->ptr[out->len - 1] == ' ' ||
                                out->ptr[out->len - 1] == '\t'))
                out->len--;
            if (out->len >= 2 && out->ptr[0] == '"' &&
                out->ptr[out->len - 1] == '"') {
                out->ptr++;
                out->len -= 2;
            }
            return 1;
        }
        p = pe + 1;
    }
    return 0;
}

/*
 * One hop: "192.0.2.1", "192.0.2.1:4711", "[2001:db8::1]:4711" (RFC 7239
 * section 6) or a bare "2001:db8::1" (X-Forwarded-For). The address comes
 * back binary, IPv4-mapped folded to IPv4; a port that is missing or
 * obfuscated is 0. "unknown" and obfuscated names are not addresses: 0.
 */
static int parse_hop(wsio_slice s, wsio__addr *addr, uint16_t *port)
{
    char host[INET6_ADDRSTRLEN];
    const char *p = s.ptr, *end = s.ptr + s.len;
    const char *hend, *colon = NULL;
    if (p < end && *p == '[') {
        p++;
        hend = memchr(p, ']', (size_t)(end - p));
        if (!hend)
            return 0;
        if (hend + 1 < end) {
            if (hend[1] != ':')
                return 0;
            colon = hend + 1;
        }
    } else {
        const char *first = memchr(p, ':', (size_t)(end - p));
        int one_colon =
            first && !memchr(first + 1, ':', (size_t)(end - first - 1));
        colon = one_colon ? first : NULL; /* several: a bare IPv6 */
        hend = colon ? colon : end;
    }
    size_t hl = (size_t)(hend - p);
    if (hl == 0 || hl >= sizeof host)
        return 0;
    memcpy(host, p, hl);
    host[hl] = '\0';
    if (!wsio__addr_parse(host, addr))
        return 0;
    *port = 0;
    if (colon) {
        unsigned v = 0;
        const char *q = colon + 1;
        size_t digits = 0;
        for (; q < end && *q >= '0' && *q <= '9' && digits < 5; q++, digits++)
            v = v * 10 + (unsigned)(*q - '0');
        if (q == end && digits && v <= 65535)
            *port = (uint16_t)v;
    }
    return 1;
}

int wsio__forwarded_client(const wsio__cidr *trusted, size_t ntrusted,
                           enum wsio_forwarded_header which,
                           const wsio_http_header *headers, size_t n,
                           wsio__addr *addr, uint16_t *port)
{
    if (which != WSIO_FORWARDED_X_FORWARDED_FOR &&
        which != WSIO_FORWARDED_RFC7239)
        return 0;
    int rfc7239 = which == WSIO_FORWARDED_RFC7239;
    /* The last MAX_HOPS hops, in a ring: the nearest ones matter. */
    wsio_slice hops[MAX_HOPS];
    size_t seen = 0;
    wsio_http_token_iter it;
    wsio_slice elem;
    wsio_http_token_iter_init(&it, headers, n,
                              rfc7239 ? "Forwarded" : "X-Forwarded-For");
    while (wsio_http_token_iter_next(&it, &elem)) {
        wsio_slice hop = elem;
        if (rfc7239 && !forwarded_for(elem, &hop))
            return 0; /* an element without "for": the chain is broken */
        hops[seen++ % MAX_HOPS] = hop;
    }
    int found = 0;
    size_t oldest = seen > MAX_HOPS ? seen - MAX_HOPS : 0;
    /* Rightmost untrusted: the nearest hop a trusted proxy did not add. */
    for (size_t i = seen; i-- > oldest;) {
        if (!parse_hop(hops[i % MAX_HOPS], addr, port))
            return 0; /* "unknown" or garbage: believe nothing */
        found = 1;
        if (!wsio__cidr_match(trusted, ntrusted, addr))
            break;
    }
    return found;
}

void wsio__security_forwarded(const wsio__security *sec, wsio_ws *ws,
                              const wsio_http_request *req)
{
    if (!sec->ntrusted ||
        !wsio__cidr_match(sec->trusted, sec->ntrusted, &ws->addr))
        return;
    wsio__addr addr;
    uint16_t port;
    if (!wsio__forwarded_client(sec->trusted, sec->ntrusted, sec->forwarded,
                                req->headers, req->num_headers, &addr, &port))
        return;
    ws->addr = addr;
    ws->port = port;
}

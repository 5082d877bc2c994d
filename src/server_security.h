/*
 * src/server_security.h - a server's handshake checks that concern who is
 * asking (internal): the Origin allow-list, the PROXY protocol header, and
 * X-Forwarded-For / Forwarded from trusted proxies. server.c embeds one
 * wsio__security and calls these at accept and at each request.
 */
#ifndef WSIO_SERVER_SECURITY_H
#define WSIO_SERVER_SECURITY_H

#include "server_conn.h"
#include "wsio/proxy.h"

/* One trusted proxy: an address and how many leading bits must match. */
typedef struct wsio__cidr {
    uint8_t family;   /* 4 or 6 */
    uint8_t bits;     /* prefix length: 32/128 for one address */
    uint8_t addr[16]; /* network order; 4 bytes used for IPv4 */
} wsio__cidr;

/* Copies of the config's lists, in one allocation each. */
typedef struct wsio__security {
    char **origins; /* allowed Origin values, or NULL (off) */
    size_t norigins;
    int require_origin;
    unsigned proxy_protocol; /* enum wsio_proxy_protocol mask */
    wsio__cidr *trusted;     /* trusted proxies, or NULL (off) */
    size_t ntrusted;
    enum wsio_forwarded_header forwarded; /* the one header believed */
} wsio__security;

/* Copy and check cfg's lists into sec (zeroed). Returns 0, WSIO_ENOMEM,
 * or WSIO_EINVAL for a trusted proxy that is not an IP or IP/bits. */
int wsio__security_init(wsio__security *sec, const wsio_server_config *cfg,
                        const wsio_mem *mem);
void wsio__security_free(wsio__security *sec, const wsio_mem *mem);

/* Whether the upgrade request may proceed as far as its Origin goes. */
int wsio__security_origin_ok(const wsio__security *sec,
                             const wsio_http_request *req);

/*
 * The PROXY header of ws's connection: read exactly its bytes from the
 * socket (peeking first, so nothing after it is taken from TLS or HTTP)
 * and, when it names a client, make that ws's address. The handshake state's
 * received bytes (wsio__ws_hs) keep a partial header, allocated from mem
 * (the connections' buffer allocator, which frees them). Returns 1 when the
 * header is complete, 0 when more is needed, or a negative error (malformed,
 * too long, EOF, -errno).
 */
int wsio__security_read_proxy(const wsio__security *sec, wsio_ws *ws,
                              const wsio_mem *mem);

/* When ws's peer is a trusted proxy, replace ws's address with the client
 * named by the configured forwarding header (wsio__forwarded_client).
 * Headers from other peers are ignored. */
void wsio__security_forwarded(const wsio__security *sec, wsio_ws *ws,
                              const wsio_http_request *req);

/*
 * The client named by the forwarding header `which` (X-Forwarded-For or
 * Forwarded; the other is never read) of a request from a trusted proxy:
 * its hops are walked from the right (nearest) and the first that is not
 * in trusted[0..ntrusted) is the client; when all are trusted, the
 * farthest one (of the last 32 looked at). A Forwarded element's hop is
 * its "for" parameter (quotes removed); a hop is "192.0.2.1",
 * "192.0.2.1:port", "[2001:db8::1]:port" or a bare IPv6 address. Any hop
 * on the way that is not an address ("unknown", an obfuscated name) or a
 * Forwarded element without "for" means nothing is believed. Returns 1
 * with *addr (IPv4-mapped folded to IPv4) and *port (0 when absent or not
 * a number) filled, or 0.
 */
int wsio__forwarded_client(const wsio__cidr *trusted, size_t ntrusted,
                           enum wsio_forwarded_header which,
                           const wsio_http_header *headers, size_t n,
                           wsio__addr *addr, uint16_t *port);

/* Address text to binary: family 4 or 6 and the address in network
 * order; IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4. Returns 1 or 0. */
int wsio__addr_parse(const char *text, wsio__addr *out);

/* Parse "192.0.2.1", "10.0.0.0/8", "::1" or "fd00::/8". Returns 1 or 0. */
int wsio__cidr_parse(const char *text, wsio__cidr *out);
/* Whether addr (IPv4-mapped IPv6 counts as IPv4) is inside one of
 * list[0..n). */
int wsio__cidr_match(const wsio__cidr *list, size_t n, const wsio__addr *addr);

#endif /* WSIO_SERVER_SECURITY_H */

/*
 * wsio/proxy.h - the PROXY protocol header (versions 1 and 2, as HAProxy
 * specifies it) that a load balancer sends before anything else on a
 * connection, to tell the server who the client really is.
 *
 * A server turns it on per listener (wsio_server_config.proxy_protocol);
 * the parser is public for hosts that accept connections themselves, and
 * is what tests/fuzz/fuzz_proxy.c exercises. It never allocates and reads
 * at most WSIO_PROXY_MAX_HEADER bytes.
 *
 *     wsio_proxy_info pi;
 *     ssize_t n = wsio_proxy_parse(buf, len, WSIO_PROXY_ANY, &pi);
 *     if (n == WSIO_EAGAIN) ... read more
 *     else if (n < 0) ... drop the connection
 *     else ... pi.src_addr is the client; the stream continues at buf + n
 *
 * Threads: a pure function on caller memory; any thread may call it.
 */
#ifndef WSIO_PROXY_H
#define WSIO_PROXY_H

#include "wsio/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which PROXY protocol versions a listener accepts (a bit mask). */
enum wsio_proxy_protocol {
    WSIO_PROXY_OFF = 0, /* no header expected (default) */
    WSIO_PROXY_V1 = 1,  /* the text form: "PROXY TCP4 a b p q\r\n" */
    WSIO_PROXY_V2 = 2,  /* the binary form */
    WSIO_PROXY_ANY = 3  /* either; they are told apart by their first bytes */
};

/*
 * The longest header accepted: a v1 line is at most 107 bytes, a v2 header
 * 16 bytes plus its addresses and TLVs. Longer v2 headers (long TLV lists)
 * are refused.
 */
#define WSIO_PROXY_MAX_HEADER 2048

/* What a header said. */
typedef struct wsio_proxy_info {
    int version;       /* 1 or 2 */
    int local;         /* 1: v2 LOCAL or v1 UNKNOWN (the proxy's own
                          connection, a health check) or an address family
                          other than IPv4/IPv6: no client address; keep
                          the socket's peer */
    int family;        /* 4 or 6 when !local, else 0 */
    char src_addr[46]; /* the client's address as text ("192.0.2.1") */
    char dst_addr[46]; /* the address the client connected to */
    uint16_t src_port, dst_port;
} wsio_proxy_info;

/*
 * wsio_proxy_parse - parse a PROXY header at the start of buf (len bytes
 * received so far). accept is a mask of enum wsio_proxy_protocol values.
 *
 * Returns the header's length in bytes (the connection's own data starts
 * right after it) and fills *out; WSIO_EAGAIN when buf is a valid but
 * incomplete start of a header; or WSIO_EHS_MALFORMED when it is not a
 * header of an accepted version, is malformed, or is longer than
 * WSIO_PROXY_MAX_HEADER. Nothing is allocated; out is written only on
 * success.
 */
WSIO_EXTERN ssize_t wsio_proxy_parse(const void *buf, size_t len,
                                     unsigned accept, wsio_proxy_info *out);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_PROXY_H */

/*
 * src/proxy.c - the PROXY protocol header parser (wsio/proxy.h), after
 * HAProxy's "The PROXY protocol, versions 1 & 2" (2020/03/05): section 2.1
 * for the text form, 2.2 for the binary one.
 *
 * A pure function over the bytes received so far: it decides as early as
 * it can that the bytes are not a header (so a plain HTTP request on a
 * PROXY listener is refused at once), never reads past WSIO_PROXY_MAX_HEADER,
 * and never allocates. Addresses are checked and printed with
 * inet_pton/inet_ntop, so what reaches the host is always a canonical IP.
 */
#include <arpa/inet.h>
#include <string.h>

#include "internal.h"
#include "wsio/proxy.h"

/* Section 2.1: "the maximum line length is 107 bytes", CRLF included. */
#define V1_MAX 107
#define V2_HEAD 16

static const uint8_t v1_prefix[] = "PROXY ";
static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Whether the len bytes of buf agree with the start of want (wlen long). */
static int agrees(const uint8_t *buf, size_t len, const uint8_t *want,
                  size_t wlen)
{
    return memcmp(buf, want, len < wlen ? len : wlen) == 0;
}

/* ---- version 1 ---------------------------------------------------------- */

/* A decimal port: 1 to 5 digits, no leading zero, at most 65535. */
static int v1_port(const char *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return 0;
    *port = (uint16_t)v;
    return 1;
}

/* An address of family af, written the way inet_ntop would. */
static int v1_addr(int af, const char *s, size_t n, char *text, size_t cap)
{
    char tmp[INET6_ADDRSTRLEN];
    uint8_t bin[16];
    if (n == 0 || n >= sizeof tmp)
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(af, tmp, bin) == 1 &&
           inet_ntop(af, bin, text, (socklen_t)cap) != NULL;
}

static ssize_t parse_v1(const uint8_t *buf, size_t len, wsio_proxy_info *out)
{
    /* The line is printable ASCII up to its CRLF: anything else ends it
     * early, and a line that has not ended by byte 107 never will. */
    size_t scan = len < V1_MAX ? len : V1_MAX;
    size_t i = sizeof v1_prefix - 1;
    while (i < scan && buf[i] >= 0x20 && buf[i] <= 0x7e)
        i++;
    if (i + 1 >= scan && (i == scan || buf[i] == '\r'))
        return len >= V1_MAX ? WSIO_EHS_MALFORMED : WSIO_EAGAIN;
    if (buf[i] != '\r' || buf[i + 1] != '\n')
        return WSIO_EHS_MALFORMED;
    const uint8_t *cr = buf + i;
    /* The fields between "PROXY " and CRLF, split on single spaces. */
    const char *line = (const char *)buf + sizeof v1_prefix - 1;
    size_t line_len = (size_t)((const char *)cr - line);
    const char *field[6];
    size_t flen[6];
    size_t nf = 0;
    size_t start = 0;
    for (size_t k = 0; k <= line_len; k++) {
        if (k < line_len && line[k] != ' ')
            continue;
        if (nf == 6)
            return WSIO_EHS_MALFORMED;
        field[nf] = line + start;
        flen[nf++] = k - start;
        start = k + 1;
    }
    wsio_proxy_info pi;
    memset(&pi, 0, sizeof pi);
    pi.version = 1;
    size_t total = (size_t)(cr - buf) + 2;
    if (flen[0] == 7 && memcmp(field[0], "UNKNOWN", 7) == 0) {
        pi.local = 1; /* whatever follows UNKNOWN is ignored (2.1) */
        *out = pi;
        return (ssize_t)total;
    }
    int af;
    if (flen[0] == 4 && memcmp(field[0], "TCP4", 4) == 0)
        af = AF_INET;
    else if (flen[0] == 4 && memcmp(field[0], "TCP6", 4) == 0)
        af = AF_INET6;
    else
        return WSIO_EHS_MALFORMED;
    if (nf != 5 ||
        !v1_addr(af, field[1], flen[1], pi.src_addr, sizeof pi.src_addr) ||
        !v1_addr(af, field[2], flen[2], pi.dst_addr, sizeof pi.dst_addr) ||
        !v1_port(field[3], flen[3], &pi.src_port) ||
        !v1_port(field[4], flen[4], &pi.dst_port))
        return WSIO_EHS_MALFORMED;
    pi.family = af == AF_INET ? 4 : 6;
    *out = pi;
    return (ssize_t)total;
}

/* ---- version 2 ---------------------------------------------------------- */

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static ssize_t parse_v2(const uint8_t *buf, size_t len, wsio_proxy_info *out)
{
    if (len < V2_HEAD)
        return WSIO_EAGAIN;
    unsigned version = buf[12] >> 4, command = buf[12] & 0x0f;
    unsigned family = buf[13] >> 4, protocol = buf[13] & 0x0f;
    size_t total = V2_HEAD + be16(buf + 14);
    if (version != 2 || command > 1 || family > 3 || protocol > 2 ||
        total > WSIO_PROXY_MAX_HEADER)
        return WSIO_EHS_MALFORMED;
    if (len < total)
        return WSIO_EAGAIN;
    wsio_proxy_info pi;
    memset(&pi, 0, sizeof pi);
    pi.version = 2;
    const uint8_t *a = buf + V2_HEAD;
    size_t alen = total - V2_HEAD;
    /* LOCAL (a health check), UNSPEC and UNIX carry no IP client. */
    if (command == 0 || family == 0 || family == 3) {
        pi.local = 1;
    } else if (protocol == 2) {
        return WSIO_EHS_MALFORMED; /* datagrams on a stream listener */
    } else {
        int af = family == 1 ? AF_INET : AF_INET6;
        size_t n = family == 1 ? 4 : 16;
        if (alen < 2 * n + 4)
            return WSIO_EHS_MALFORMED;
        /* Addresses and ports follow in this order; TLVs after them are
         * skipped (section 2.2.7). */
        inet_ntop(af, a, pi.src_addr, sizeof pi.src_addr);
        inet_ntop(af, a + n, pi.dst_addr, sizeof pi.dst_addr);
        pi.src_port = be16(a + 2 * n);
        pi.dst_port = be16(a + 2 * n + 2);
        pi.family = family == 1 ? 4 : 6;
    }
    *out = pi;
    return (ssize_t)total;
}

ssize_t wsio_proxy_parse(const void *data, size_t len, unsigned accept,
                         wsio_proxy_info *out)
{
    const uint8_t *buf = data;
    if (len == 0)
        return WSIO_EAGAIN;
    if ((accept & WSIO_PROXY_V1) &&
        agrees(buf, len, v1_prefix, sizeof v1_prefix - 1)) {
        if (len < sizeof v1_prefix - 1)
            return WSIO_EAGAIN;
        return parse_v1(buf, len, out);
    }
    if ((accept & WSIO_PROXY_V2) && agrees(buf, len, v2_sig, sizeof v2_sig))
        return parse_v2(buf, len, out);
    return WSIO_EHS_MALFORMED;
}

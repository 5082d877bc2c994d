/*
 * tests/fuzz/fuzz_forwarded.c - the forwarding-header parser
 * (wsio__forwarded_client) against a second, independent implementation
 * of the same rules written here in a different shape: all elements
 * gathered first, hops parsed by counting colons, CIDR blocks compared
 * bit by bit. Any disagreement on whether a client is believed, or which,
 * aborts.
 *
 * Input: byte 0 picks the header believed (X-Forwarded-For, Forwarded,
 * none), byte 1 which of the candidate proxies below are trusted; the
 * rest is header lines separated by '\n', each starting with a byte that
 * names it ('x' X-Forwarded-For, 'f' Forwarded, anything else Other).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server_security.h"
#include "wsio.h"

#define MAX_LINES 16
#define REF_HOPS 32

static const char *const candidates[] = {
    "10.0.0.0/8",     "127.0.0.1", "2001:db8::/32", "::1",
    "192.0.2.128/25", "0.0.0.0/0", "::/0",          "198.51.100.7",
};
#define NCAND (sizeof candidates / sizeof candidates[0])

/* ---- the reference
 * ------------------------------------------------------------ */

typedef struct ref_elem {
    const char *p;
    size_t n;
} ref_elem;

static int ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Split every header called name into comma-separated elements (commas
 * inside a quoted-string, with backslash escapes, do not split), trimmed,
 * empty ones dropped. */
static size_t ref_elements(const wsio_http_header *h, size_t nh,
                           const char *name, ref_elem *out, size_t cap)
{
    size_t count = 0;
    for (size_t i = 0; i < nh; i++) {
        if (h[i].name.len != strlen(name) ||
            strncasecmp(h[i].name.ptr, name, h[i].name.len) != 0)
            continue;
        const char *v = h[i].value.ptr;
        size_t len = h[i].value.len, start = 0;
        int in_quotes = 0;
        for (size_t j = 0; j <= len; j++) {
            if (j < len && in_quotes && v[j] == '\\') {
                if (j + 1 < len) {
                    j++;
                    continue;
                }
                j = len; /* an escape of nothing ends the value */
            }
            if (j < len && v[j] == '"')
                in_quotes = !in_quotes;
            if (j < len && (in_quotes || v[j] != ','))
                continue;
            size_t a = start, b = j < len ? j : len;
            while (a < b && ows(v[a]))
                a++;
            while (b > a && ows(v[b - 1]))
                b--;
            if (b > a && count < cap)
                out[count++] = (ref_elem){v + a, b - a};
            start = j + 1;
        }
    }
    return count;
}

/* The first parameter "for=<something>" of an element (';'-separated),
 * value trimmed and unquoted. */
static int ref_for(ref_elem el, ref_elem *out)
{
    size_t pos = 0;
    while (pos <= el.n) {
        size_t end = pos;
        while (end < el.n && el.p[end] != ';')
            end++;
        size_t a = pos;
        while (a < end && ows(el.p[a]))
            a++;
        if (end - a >= 5 && strncasecmp(el.p + a, "for=", 4) == 0) {
            size_t b = end;
            a += 4;
            while (b > a && ows(el.p[b - 1]))
                b--;
            if (b - a >= 2 && el.p[a] == '"' && el.p[b - 1] == '"') {
                a++;
                b--;
            }
            *out = (ref_elem){el.p + a, b - a};
            return 1;
        }
        pos = end + 1;
    }
    return 0;
}

static int ref_addr(const char *host, size_t n, int *family, uint8_t bin[16])
{
    char tmp[64];
    if (n == 0 || n >= 46)
        return 0;
    memcpy(tmp, host, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, bin) == 1) {
        *family = 4;
        return 1;
    }
    if (inet_pton(AF_INET6, tmp, bin) != 1)
        return 0;
    *family = 6;
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,   0,
                                         0, 0, 0, 0, 255, 255};
    if (memcmp(bin, v4mapped, 12) == 0) {
        uint8_t v4[4];
        memcpy(v4, bin + 12, 4);
        memset(bin, 0, 16);
        memcpy(bin, v4, 4);
        *family = 4;
    }
    return 1;
}

static unsigned ref_port(const char *p, size_t n)
{
    if (n == 0 || n > 5)
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v > 65535 ? 0 : v;
}

static int ref_hop(ref_elem s, int *family, uint8_t bin[16], unsigned *port)
{
    *port = 0;
    if (s.n && s.p[0] == '[') {
        const char *close = memchr(s.p, ']', s.n);
        if (!close)
            return 0;
        size_t after = (size_t)(s.p + s.n - (close + 1));
        if (after && close[1] != ':')
            return 0;
        if (after)
            *port = ref_port(close + 2, after - 1);
        return ref_addr(s.p + 1, (size_t)(close - s.p - 1), family, bin);
    }
    size_t colons = 0, last = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] == ':') {
            colons++;
            last = i;
        }
    if (colons == 1) {
        *port = ref_port(s.p + last + 1, s.n - last - 1);
        return ref_addr(s.p, last, family, bin);
    }
    return ref_addr(s.p, s.n, family, bin);
}

static int ref_in_block(const char *cidr, int family, const uint8_t bin[16])
{
    char tmp[64];
    strcpy(tmp, cidr);
    char *slash = strchr(tmp, '/');
    int bits = -1;
    if (slash) {
        *slash = '\0';
        bits = atoi(slash + 1);
    }
    uint8_t net[16] = {0};
    int f = inet_pton(AF_INET, tmp, net) == 1 ? 4 : 6;
    if (f == 6)
        inet_pton(AF_INET6, tmp, net);
    if (f != family)
        return 0;
    if (bits < 0)
        bits = f == 4 ? 32 : 128;
    for (int i = 0; i < bits; i++) {
        int mask = 0x80 >> (i % 8);
        if ((net[i / 8] & mask) != (bin[i / 8] & mask))
            return 0;
    }
    return 1;
}

static int ref_trusted(unsigned which, int family, const uint8_t bin[16])
{
    for (unsigned i = 0; i < NCAND; i++)
        if ((which >> i & 1) && ref_in_block(candidates[i], family, bin))
            return 1;
    return 0;
}

static int reference(unsigned mode, unsigned which, const wsio_http_header *h,
                     size_t nh, char *addr, unsigned *port)
{
    static ref_elem el[4096];
    if (mode > 1)
        return 0;
    size_t n = ref_elements(h, nh, mode ? "Forwarded" : "X-Forwarded-For", el,
                            sizeof el / sizeof el[0]);
    if (mode == 1)
        for (size_t i = 0; i < n; i++)
            if (!ref_for(el[i], &el[i]))
                return 0;
    int family = 0;
    uint8_t bin[16];
    int any = 0;
    for (size_t k = 0; k < n && k < REF_HOPS; k++) {
        if (!ref_hop(el[n - 1 - k], &family, bin, port))
            return 0;
        any = 1;
        if (!ref_trusted(which, family, bin))
            break;
    }
    if (!any)
        return 0;
    inet_ntop(family == 4 ? AF_INET : AF_INET6, bin, addr, 46);
    return 1;
}

/* ---- the target
 * ----------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 4096)
        return 0;
    unsigned mode = data[0] % 3, which = data[1];
    wsio__cidr trusted[NCAND];
    size_t ntrusted = 0;
    for (unsigned i = 0; i < NCAND; i++)
        if (which >> i & 1)
            if (!wsio__cidr_parse(candidates[i], &trusted[ntrusted++]))
                abort();
    wsio_http_header h[MAX_LINES];
    size_t nh = 0;
    const char *p = (const char *)data + 2, *end = (const char *)data + size;
    while (p < end && nh < MAX_LINES) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *name = *p == 'x'   ? "X-Forwarded-For"
                           : *p == 'f' ? "Forwarded"
                                       : "Other";
        h[nh].name = (wsio_slice){name, strlen(name)};
        h[nh].value = (wsio_slice){p + 1, le > p ? (size_t)(le - p - 1) : 0};
        nh++;
        p = le + 1;
    }
    static const enum wsio_forwarded_header modes[] = {
        WSIO_FORWARDED_X_FORWARDED_FOR, WSIO_FORWARDED_RFC7239,
        WSIO_FORWARDED_NONE};
    char got[WSIO__ADDR_TEXT], want[WSIO__ADDR_TEXT];
    wsio__addr got_bin;
    uint16_t got_port = 0;
    unsigned want_port = 0;
    int g = wsio__forwarded_client(trusted, ntrusted, modes[mode], h, nh,
                                   &got_bin, &got_port);
    if (g)
        wsio__addr_format(&got_bin, got);
    int w = reference(mode, which, h, nh, want, &want_port);
    if (g != w)
        abort();
    if (g && (strcmp(got, want) != 0 || got_port != want_port))
        abort();
    return 0;
}

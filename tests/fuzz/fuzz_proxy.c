/*
 * tests/fuzz/fuzz_proxy.c - the PROXY protocol parser on arbitrary bytes,
 * with each set of accepted versions, and the trusted-proxy list parser on
 * the same bytes as text.
 *
 * Properties checked beyond "no crash, no over-read":
 *  - a header of n bytes is never longer than the input or the limit;
 *  - its first n - 1 bytes give WSIO_EAGAIN, and the n bytes alone parse to
 *    the same header (what follows it never changes the answer);
 *  - the addresses it reports are canonical text that inet_pton takes.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "server_security.h"
#include "wsio.h"

static void check_addr(const wsio_proxy_info *pi)
{
    uint8_t bin[16];
    int af = pi->family == 4 ? AF_INET : AF_INET6;
    if (pi->local)
        return;
    if (inet_pton(af, pi->src_addr, bin) != 1 ||
        inet_pton(af, pi->dst_addr, bin) != 1)
        abort();
}

static void check_header(const uint8_t *data, size_t size, unsigned accept)
{
    wsio_proxy_info pi, again;
    ssize_t n = wsio_proxy_parse(data, size, accept, &pi);
    if (n == WSIO_EAGAIN || n == WSIO_EHS_MALFORMED)
        return;
    if (n <= 0 || (size_t)n > size || n > WSIO_PROXY_MAX_HEADER)
        abort();
    check_addr(&pi);
    if (wsio_proxy_parse(data, (size_t)n - 1, accept, &again) != WSIO_EAGAIN)
        abort();
    if (wsio_proxy_parse(data, (size_t)n, accept, &again) != n ||
        memcmp(&pi, &again, sizeof pi) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_header(data, size, WSIO_PROXY_ANY);
    check_header(data, size, WSIO_PROXY_V1);
    check_header(data, size, WSIO_PROXY_V2);
    /* The same bytes as a trusted-proxy entry and an address to match. */
    char text[64];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    wsio__cidr c;
    if (wsio__cidr_parse(text, &c) && (c.family != 4 && c.family != 6))
        abort();
    return 0;
}

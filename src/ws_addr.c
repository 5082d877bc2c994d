/*
 * src/ws_addr.c - a peer's IP address in binary (ws_internal.h): 17 bytes
 * in every connection instead of its 46-byte text, which is written only
 * when someone reads it (on the stack, or once into the ws's extras).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "ws_internal.h"

int wsio__addr_from_sockaddr(const void *sa, wsio__addr *out, uint16_t *port)
{
    memset(out, 0, sizeof *out);
    *port = 0;
    sa_family_t family;
    memcpy(&family, (const char *)sa + offsetof(struct sockaddr, sa_family),
           sizeof family);
    if (family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        out->family = 4;
        memcpy(out->bin, &in.sin_addr, 4);
        *port = ntohs(in.sin_port);
        return 1;
    }
    if (family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        out->family = 6;
        memcpy(out->bin, &in6.sin6_addr, 16);
        *port = ntohs(in6.sin6_port);
        return 1;
    }
    return 0;
}

int wsio__addr_from_text(const char *text, wsio__addr *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, out->bin) == 1)
        out->family = 4;
    else if (inet_pton(AF_INET6, text, out->bin) == 1)
        out->family = 6;
    return out->family != 0;
}

const char *wsio__addr_format(const wsio__addr *a, char out[WSIO__ADDR_TEXT])
{
    out[0] = '\0';
    if (a->family == 4 || a->family == 6)
        (void)inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bin, out,
                        WSIO__ADDR_TEXT);
    return out;
}

wsio__addr wsio__addr_unmapped(const wsio__addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    wsio__addr r = *a;
    if (a->family == 6 && memcmp(a->bin, mapped, sizeof mapped) == 0) {
        memset(&r, 0, sizeof r);
        r.family = 4;
        memcpy(r.bin, a->bin + 12, 4);
    }
    return r;
}

/*
 * bench/flowload.c - the two flow-control shapes of issue 13 against a
 * running echo server (bench/flow.sh runs them and reads the server's
 * peak RSS):
 *
 *   flowload ping-flood PORT MIB
 *       one client with a 4 KiB receive buffer sends MIB MiB of 125-byte
 *       pings and never reads; prints what it managed to send (a server
 *       that stops reading makes it stop after 60 s).
 *
 *   flowload pipeline PORT CLIENTS COUNT SIZE
 *       CLIENTS clients each send COUNT binary messages of SIZE bytes at
 *       once (pipelined) and read slowly (4 KiB receive buffer, 16 KiB per
 *       round); prints how many echoes came back intact and in order, and
 *       how many were missing when nothing more came for 3 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wsio/frame.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A WebSocket connection on 127.0.0.1:port with a small receive buffer. */
static int ws_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
        exit(1);
    char buf[512];
    size_t len = 0;
    while (len < sizeof buf - 1) { /* the 101 response, byte by byte */
        if (recv(fd, buf + len, 1, 0) != 1)
            exit(1);
        len++;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    if (!strstr(buf, " 101 ")) {
        fprintf(stderr, "no 101: %s\n", buf);
        exit(1);
    }
    return fd;
}

static size_t frame(uint8_t *out, unsigned op, const void *p, size_t len)
{
    wsio_frame_header h = {.payload_len = len,
                           .opcode = (uint8_t)op,
                           .fin = 1,
                           .masked = 1,
                           .mask_key = {1, 2, 3, 4}};
    ssize_t n = wsio_frame_header_encode(out, &h);
    wsio_mask_copy(out + n, p, len, h.mask_key, 0);
    return (size_t)n + len;
}

static int ping_flood(uint16_t port, size_t mib)
{
    int fd = ws_connect(port);
    static uint8_t chunk[1 << 20];
    uint8_t payload[125];
    memset(payload, 'p', sizeof payload);
    size_t len = 0;
    while (len + 131 <= sizeof chunk)
        len += frame(chunk + len, WSIO_OP_PING, payload, sizeof payload);
    uint64_t t0 = now_ms(), last = t0;
    size_t sent = 0, want = mib * len;
    while (sent < want && now_ms() - last < 60000) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        size_t at = sent % len;
        ssize_t n = send(fd, chunk + at, len - at, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN)
            break;
        if (n > 0) {
            sent += (size_t)n;
            last = now_ms();
        }
    }
    printf("ping-flood: sent %zu of %zu bytes (%zu pings) in %.1f s\n", sent,
           want, sent / 131, (double)(now_ms() - t0) / 1000);
    close(fd);
    return 0;
}

typedef struct client {
    int fd;
    uint8_t *out;
    size_t out_len, out_off;
    uint8_t *in;
    size_t in_len;
    unsigned got, bad;
} client;

static void fill(uint8_t *m, size_t size, unsigned c, unsigned k)
{
    for (size_t i = 0; i < size; i++)
        m[i] = (uint8_t)(c * 31 + k * 7 + i);
}

static int pipeline(uint16_t port, unsigned nc, unsigned count, size_t size)
{
    client *cs = calloc(nc, sizeof *cs);
    uint8_t *m = malloc(size);
    for (unsigned c = 0; c < nc; c++) {
        cs[c].fd = ws_connect(port);
        cs[c].out = malloc(count * (size + 14));
        cs[c].in = malloc(size + 16 + 16384);
        for (unsigned k = 0; k < count; k++) {
            fill(m, size, c, k);
            cs[c].out_len +=
                frame(cs[c].out + cs[c].out_len, WSIO_OP_BINARY, m, size);
        }
    }
    uint64_t t0 = now_ms(), last = t0;
    unsigned done = 0;
    while (done < nc && now_ms() - last < 3000) {
        done = 0;
        for (unsigned c = 0; c < nc; c++) {
            client *p = &cs[c];
            if (p->out_off < p->out_len) {
                ssize_t n =
                    send(p->fd, p->out + p->out_off, p->out_len - p->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n > 0)
                    p->out_off += (size_t)n;
            }
            ssize_t n = recv(p->fd, p->in + p->in_len, 16384, MSG_DONTWAIT);
            if (n > 0) {
                p->in_len += (size_t)n;
                last = now_ms();
            }
            wsio_frame_header h;
            ssize_t hl;
            while ((hl = wsio_frame_header_decode(p->in, p->in_len, &h)) > 0 &&
                   p->in_len >= (size_t)hl + h.payload_len) {
                fill(m, size, c, p->got);
                if (h.payload_len != size || memcmp(p->in + hl, m, size))
                    p->bad++;
                p->got++;
                size_t used = (size_t)hl + (size_t)h.payload_len;
                memmove(p->in, p->in + used, p->in_len - used);
                p->in_len -= used;
            }
            done += p->got >= count;
        }
        usleep(1000);
    }
    unsigned got = 0, bad = 0;
    for (unsigned c = 0; c < nc; c++) {
        got += cs[c].got;
        bad += cs[c].bad;
        close(cs[c].fd);
    }
    printf("pipeline: %u clients x %u x %zu bytes: %u of %u echoes back, "
           "%u wrong or out of order, %u missing, %.1f s\n",
           nc, count, size, got - bad, nc * count, bad, nc * count - got,
           (double)(now_ms() - t0) / 1000);
    return got == nc * count && bad == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "ping-flood") == 0)
        return ping_flood((uint16_t)atoi(argv[2]), (size_t)atoi(argv[3]));
    if (argc == 6 && strcmp(argv[1], "pipeline") == 0)
        return pipeline((uint16_t)atoi(argv[2]), (unsigned)atoi(argv[3]),
                        (unsigned)atoi(argv[4]), (size_t)atoll(argv[5]));
    fprintf(stderr, "usage: flowload ping-flood PORT MIB\n"
                    "       flowload pipeline PORT CLIENTS COUNT SIZE\n");
    return 2;
}

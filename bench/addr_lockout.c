/*
 * bench/addr_lockout.c - how long one address needs to lock every other
 * client out of a server (docs/security.md, per-address limits).
 *
 * The attacker (source 127.0.0.1) opens N idle WebSockets as fast as the
 * server answers, one after the other, and keeps every one it gets. Every
 * --probe-ms milliseconds (200) a second client (source 127.0.0.2), a
 * legitimate one well within any rate limit, tries one upgrade of its own; the
 * first time it is refused is the lockout. The run ends there, or after N
 * attempts, or after --seconds.
 *
 *     build/examples/echo --port 9001 --max-connections 10000 &
 *     build/bench/addr_lockout --port 9001 -n 10000
 *
 * Output: one line, "RESULT locked_out=yes after=0.61s attack_open=9999
 * ..." or "RESULT locked_out=never ...". Raise ulimit -n (the attacker
 * holds N sockets) for both processes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__) && !defined(IP_BIND_ADDRESS_NO_PORT)
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h, since Linux 4.2 */
#endif

static const char upgrade[] =
    "GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One upgrade from src: the answer's status (0: no answer, the
 * connection failed or timed out), and the socket through *fd (-1 when it
 * was closed here). */
static int try_upgrade(const char *src, uint16_t port, int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    if (*fd < 0)
        return 0;
    struct timeval tv = {2, 0};
    setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    /* Close with a reset: tens of thousands of runs' sockets in TIME_WAIT
     * would make finding a free source port slow, and the figures noise. */
    struct linger lg = {1, 0};
    setsockopt(*fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
#ifdef IP_BIND_ADDRESS_NO_PORT
    int one = 1; /* the port is chosen at connect, per destination */
    setsockopt(*fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, src, &a.sin_addr);
    int status = 0;
    if (bind(*fd, (struct sockaddr *)&a, sizeof a) == 0) {
        a.sin_port = htons(port);
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        char buf[512];
        size_t len = 0;
        if (connect(*fd, (struct sockaddr *)&a, sizeof a) == 0 &&
            send(*fd, upgrade, sizeof upgrade - 1, MSG_NOSIGNAL) ==
                (ssize_t)(sizeof upgrade - 1)) {
            /* Read the head of the answer only. */
            while (len < sizeof buf - 1) {
                ssize_t n = recv(*fd, buf + len, sizeof buf - 1 - len, 0);
                if (n <= 0)
                    break;
                len += (size_t)n;
                buf[len] = '\0';
                if (strstr(buf, "\r\n\r\n"))
                    break;
            }
        }
        buf[len] = '\0';
        if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
            status = 0;
    }
    if (status != 101) {
        close(*fd);
        *fd = -1;
    }
    return status;
}

static void usage(void)
{
    fprintf(stderr, "usage: addr_lockout --port N [-n ATTEMPTS (10000)]\n"
                    "       [--probe-ms MS (200)] [--seconds S (30)]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long port = 0, attempts = 10000, every_ms = 200;
    double limit = 30;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-n") == 0)
            attempts = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--probe-ms") == 0)
            every_ms = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0)
            limit = strtod(argv[i + 1], NULL);
        else
            usage();
    }
    if (port <= 0 || port > 65535 || attempts <= 0 || every_ms <= 0)
        usage();
    int *held = calloc((size_t)attempts, sizeof *held);
    if (!held)
        return 1;
    long open = 0, refused[600] = {0}, probes = 0;
    int locked = 0, probe_status = 0;
    double t0 = now_s(), when = 0, next_probe = t0;
    for (long i = 0; i < attempts && now_s() - t0 < limit; i++) {
        int fd;
        int st = try_upgrade("127.0.0.1", (uint16_t)port, &fd);
        if (st == 101)
            held[open++] = fd;
        else if (st >= 0 && st < 600)
            refused[st]++;
        if (now_s() >= next_probe || i + 1 == attempts) {
            next_probe = now_s() + (double)every_ms / 1000;
            probes++;
            int pfd;
            probe_status = try_upgrade("127.0.0.2", (uint16_t)port, &pfd);
            if (pfd >= 0)
                close(pfd);
            if (probe_status != 101) {
                locked = 1;
                when = now_s() - t0;
                break;
            }
        }
    }
    double total = now_s() - t0;
    if (locked)
        printf("RESULT locked_out=yes after=%.2fs probe_status=%d", when,
               probe_status);
    else
        printf("RESULT locked_out=never probes_served=%ld", probes);
    printf(" attack_open=%ld attack_503=%ld attack_429=%ld attack_failed=%ld"
           " run=%.2fs\n",
           open, refused[503], refused[429], refused[0], total);
    for (long i = 0; i < open; i++)
        close(held[i]);
    free(held);
    return 0;
}

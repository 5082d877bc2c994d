/*
 * bench/deflate_limits.c - what permessage-deflate costs a server, on real
 * sockets: an echo server with compression runs in a child process and
 * this program, its client, reads the child's memory and CPU from /proc.
 * Figures only; nothing is asserted (tests/integration/test_deflate_limits.c
 * asserts the bounds).
 *
 *     deflate_limits idle [N]        N idle connections (default 5000),
 *                                    context takeover both ways, each after
 *                                    one 200-byte compressed message and
 *                                    its compressed echo: server RSS and
 *                                    malloc'd bytes before and after
 *     deflate_limits cpu [M] [MIB]   M messages (default 40) of MIB MiB of
 *                                    zeros each (default 15), about 1 KiB
 *                                    per MiB on the wire, one connection
 *                                    each: server CPU per MiB received;
 *                                    with --shaped, data that compresses
 *                                    just under the ratio bound instead
 *     deflate_limits floor [MIB]     MIB MiB (default 64) of messages that
 *                                    each inflate to the floor, on one
 *                                    connection: the small-message case
 *
 * Options after the mode: --no-ratio (max_inflate_ratio 0), --ratio R,
 * --cap (keep the default max_connections; otherwise no cap, so that
 * every connection compresses), --window B and --mem-level L.
 *
 *     make bench-deflate-limits        (needs zlib)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "wsio.h"
#include "wsio/deflate.h"

/* ---- the server (child) ---------------------------------------------------
 */

static volatile sig_atomic_t report_asked, stop_asked;

static void on_usr1(int sig)
{
    (void)sig;
    report_asked = 1;
}

static void on_term(int sig)
{
    (void)sig;
    stop_asked = 1;
}

static int echo(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    wsio_ws_send(ws, m->opcode, m->data, m->len);
    return 0;
}

/* Runs the echo server; writes its port, then a line of figures on each
 * SIGUSR1, to fd out. */
static void serve(const wsio_deflate_config *dc, int out)
{
    signal(SIGUSR1, on_usr1);
    signal(SIGTERM, on_term);
    wsio_loop *loop = wsio_loop_new(NULL, NULL);
    wsio_deflate pmd;
    if (!loop || wsio_deflate_init(&pmd, dc) != 0)
        _exit(1);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_connections = 20000;
    cfg.conn.max_message_size = (size_t)16 << 20;
    cfg.conn.max_frame_size = (size_t)16 << 20;
    cfg.max_output_bytes = ((size_t)16 << 20) + 64;
    cfg.deflate = &pmd.ext;
    wsio_ws_callbacks cb = {.on_message = echo};
    wsio_server *srv = wsio_server_new(loop, &cfg, &cb, NULL, NULL, NULL);
    if (!srv)
        _exit(1);
    dprintf(out, "%u\n", (unsigned)wsio_server_port(srv));
    while (!stop_asked) {
        wsio_loop_run_once(loop, 50);
        if (report_asked) {
            report_asked = 0;
            wsio_server_stats st;
            wsio_server_get_stats(srv, &st);
            struct mallinfo2 mi = mallinfo2();
            dprintf(out, "%llu %zu %llu\n", (unsigned long long)st.connections,
                    mi.uordblks + mi.hblkhd,
                    (unsigned long long)wsio_deflate_ratio_exceeded(&pmd));
        }
    }
    _exit(0);
}

/* ---- the client -----------------------------------------------------------
 */

static pid_t server_pid;
static FILE *server_out;

static size_t server_rss(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)server_pid);
    FILE *f = fopen(path, "r");
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %zu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

static double server_cpu_s(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)server_pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    /* Fields 14 and 15 (utime, stime) counted after the command name. */
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* connections, malloc'd bytes, ratio failures: the server's own figures. */
static void server_report(unsigned long long *conns, size_t *heap,
                          unsigned long long *ratio_fails)
{
    kill(server_pid, SIGUSR1);
    if (fscanf(server_out, "%llu %zu %llu", conns, heap, ratio_fails) != 3) {
        fprintf(stderr, "deflate_limits: no report from the server\n");
        exit(1);
    }
}

static uint16_t server_port;

/* However this program ends, its server goes too. */
static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(server_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("deflate_limits: connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the server closed: its answer says why */
        c += w;
        n -= (size_t)w;
    }
}

static int read_exact(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Read the 101's head; returns whether it agreed permessage-deflate. */
static int read_head(int fd)
{
    char buf[1024];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        if (read(fd, buf + len, 1) != 1)
            return -1;
        len++;
        buf[len] = '\0';
        if (len >= 4 && memcmp(buf + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    if (!strstr(buf, " 101 "))
        return -1;
    return strstr(buf, "permessage-deflate") != NULL;
}

/* Read one server frame; returns its opcode (8: close, code in *code). */
static int read_frame(int fd, unsigned *code)
{
    uint8_t h[10];
    if (read_exact(fd, h, 2) < 0)
        return -1;
    uint64_t len = h[1] & 0x7f;
    if (len >= 126) {
        size_t k = len == 126 ? 2 : 8;
        if (read_exact(fd, h + 2, k) < 0)
            return -1;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = len << 8 | h[2 + i];
    }
    uint8_t skip[4096];
    uint8_t first[2] = {0, 0};
    for (uint64_t left = len; left > 0;) {
        size_t take = left < sizeof skip ? (size_t)left : sizeof skip;
        if (read_exact(fd, skip, take) < 0)
            return -1;
        if (left == len && take >= 2)
            memcpy(first, skip, 2);
        left -= take;
    }
    *code = (unsigned)first[0] << 8 | first[1];
    return h[0] & 0x0f;
}

static const char handshake[] =
    "GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

/* data in one masked binary frame, compressed (RSV1) as a client that
 * offered no client_max_window_bits may (raw deflate, 15-bit window) or
 * not. */
static uint8_t *make_frame(const void *data, size_t len, int compress,
                           size_t *out_len)
{
    size_t cap = compressBound((uLong)len) + 64;
    uint8_t *z = malloc(cap), *f = malloc(cap + 14);
    size_t zl = len;
    if (compress) {
        z_stream s;
        memset(&s, 0, sizeof s);
        deflateInit2(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
        s.next_in = (Bytef *)(uintptr_t)data;
        s.avail_in = (uInt)len;
        s.next_out = z;
        s.avail_out = (uInt)cap;
        deflate(&s, Z_SYNC_FLUSH);
        zl = cap - s.avail_out - 4; /* RFC 7692 7.2.1: the tail off */
        deflateEnd(&s);
    } else {
        memcpy(z, data, len);
    }
    size_t n = 0;
    f[n++] = (uint8_t)(0x80 | (compress ? 0x40 : 0) | WSIO_OP_BINARY);
    if (zl < 126) {
        f[n++] = (uint8_t)(0x80 | zl);
    } else if (zl < 65536) {
        f[n++] = 0x80 | 126;
        f[n++] = (uint8_t)(zl >> 8);
        f[n++] = (uint8_t)zl;
    } else {
        f[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            f[n++] = (uint8_t)((uint64_t)zl >> (8 * i));
    }
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(f + n, key, 4);
    n += 4;
    for (size_t i = 0; i < zl; i++)
        f[n + i] = z[i] ^ key[i % 4];
    free(z);
    *out_len = n + zl;
    return f;
}

static void idle(int n)
{
    /* A 200-byte chat message. */
    char msg[201];
    int ml = snprintf(
        msg, sizeof msg,
        "{\"type\":\"chat\",\"name\":\"alice\",\"text\":\"%-160.160s\"}",
        "hello everyone, the build is green again and the tests "
        "pass on both backends; lunch at noon? see you in the "
        "usual place, bring the new badges");
    size_t fl, pl;
    uint8_t *frame = make_frame(msg, (size_t)ml, 1, &fl);
    uint8_t *plain = make_frame(msg, (size_t)ml, 0, &pl);
    unsigned long long conns, fails;
    size_t heap0, heap1;
    usleep(200000);
    server_report(&conns, &heap0, &fails);
    size_t rss0 = server_rss();
    int *fds = malloc(sizeof *fds * (size_t)n);
    int compressed = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = connect_server();
        send_all(fds[i], handshake, sizeof handshake - 1);
        int agreed = read_head(fds[i]);
        compressed += agreed == 1;
        if (agreed == 1)
            send_all(fds[i], frame, fl);
        else
            send_all(fds[i], plain, pl);
        unsigned code;
        if (read_frame(fds[i], &code) != WSIO_OP_BINARY) {
            fprintf(stderr, "deflate_limits: no echo on connection %d\n", i);
            exit(1);
        }
    }
    usleep(300000);
    size_t rss1 = server_rss();
    server_report(&conns, &heap1, &fails);
    printf(
        "%d idle connections (%d compressing), one %d-byte message each:\n"
        "  server RSS      %8.1f -> %8.1f MB  (%6.0f bytes per connection)\n"
        "  server malloc'd %8.1f -> %8.1f MB  (%6.0f bytes per connection)\n",
        n, compressed, ml, rss0 / 1e6, rss1 / 1e6,
        ((double)rss1 - (double)rss0) / n, heap0 / 1e6, heap1 / 1e6,
        ((double)heap1 - (double)heap0) / n);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    free(frame);
    free(plain);
}

/* len bytes that compress to about 1/ratio of their size: a random byte
 * in every run of zeros, the run as long as the ratio allows. */
static uint8_t *shaped(size_t len, size_t ratio)
{
    uint8_t *p = calloc(1, len);
    uint32_t x = 2463534242u;
    size_t run = ratio / 2 + 1;
    for (int tries = 0; tries < 64; tries++) {
        memset(p, 0, len);
        for (size_t i = 0; i < len; i += run) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            p[i] = (uint8_t)x;
        }
        uLongf zl = compressBound((uLong)len);
        uint8_t *z = malloc(zl);
        compress2(z, &zl, p, (uLong)len, 9);
        free(z);
        if ((double)len / (double)zl > (double)ratio * 0.9)
            break;
        run += run / 8 + 1;
    }
    return p;
}

/* The time the server spends on messages of mib MiB each: zeros (a bomb),
 * or data compressing just under the ratio bound, one connection each. */
static void cpu(int messages, size_t mib, size_t ratio)
{
    size_t len = mib << 20;
    uint8_t *data = ratio ? shaped(len, ratio) : calloc(1, len);
    size_t fl;
    uint8_t *frame = make_frame(data, len, 1, &fl);
    free(data);
    double t0 = server_cpu_s();
    int echoed = 0, closed_1009 = 0;
    for (int i = 0; i < messages; i++) {
        int fd = connect_server();
        send_all(fd, handshake, sizeof handshake - 1);
        if (read_head(fd) != 1) {
            fprintf(stderr, "deflate_limits: compression not agreed\n");
            exit(1);
        }
        send_all(fd, frame, fl);
        unsigned code = 0;
        int op = read_frame(fd, &code);
        echoed += op == WSIO_OP_BINARY;
        closed_1009 += op == WSIO_OP_CLOSE && code == 1009;
        close(fd);
    }
    usleep(200000);
    double used = server_cpu_s() - t0;
    double sent_mib = (double)fl * messages / (1 << 20);
    unsigned long long conns, fails;
    size_t heap;
    server_report(&conns, &heap, &fails);
    printf("%d messages of %zu MiB (%s), %zu bytes each on the wire "
           "(%.0f KiB in all):\n"
           "  echoed %d, closed with 1009 %d (ratio failures counted: %llu)\n"
           "  server CPU %.2f s: %.3f CPU-s per MiB received\n",
           messages, mib, ratio ? "shaped to the ratio" : "zeros", fl,
           sent_mib * 1024, echoed, closed_1009, fails, used, used / sent_mib);
    free(frame);
}

/* Small messages that inflate to the floor each (zeros), pipelined on one
 * connection: the most output per wire byte the floor allows. */
static void cpu_floor(size_t total_mib, size_t floor)
{
    uint8_t *zeros = calloc(1, floor);
    size_t fl;
    uint8_t *frame = make_frame(zeros, floor, 1, &fl);
    free(zeros);
    size_t messages = (total_mib << 20) / floor;
    enum { BATCH = 256 };
    uint8_t *batch = malloc(fl * BATCH);
    for (size_t i = 0; i < BATCH; i++)
        memcpy(batch + i * fl, frame, fl);
    int fd = connect_server();
    send_all(fd, handshake, sizeof handshake - 1);
    if (read_head(fd) != 1) {
        fprintf(stderr, "deflate_limits: compression not agreed\n");
        exit(1);
    }
    double t0 = server_cpu_s();
    size_t echoed = 0;
    for (size_t sent = 0; sent < messages; sent += BATCH) {
        send_all(fd, batch, fl * BATCH);
        for (size_t i = 0; i < BATCH; i++) {
            unsigned code = 0;
            if (read_frame(fd, &code) != WSIO_OP_BINARY) {
                fprintf(stderr, "deflate_limits: connection closed (%u)\n",
                        code);
                exit(1);
            }
            echoed++;
        }
    }
    usleep(200000);
    double used = server_cpu_s() - t0;
    double sent_mib = (double)fl * (double)echoed / (1 << 20);
    printf("%zu messages of %zu bytes of zeros, %zu bytes each on the wire "
           "(%.1f MiB in all), all echoed:\n"
           "  server CPU %.2f s: %.3f CPU-s per MiB received\n",
           echoed, floor, fl, sent_mib, used, used / sent_mib);
    close(fd);
    free(batch);
    free(frame);
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "idle") && strcmp(argv[1], "cpu") &&
                     strcmp(argv[1], "floor"))) {
        fprintf(stderr, "usage: deflate_limits idle [N] | cpu [M] [MIB] "
                        "[--shaped] | floor [MIB] [--no-ratio] [--ratio R] "
                        "[--cap] [--window B] [--mem-level L]\n");
        return 2;
    }
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    dc.max_connections = 0;
    long nums[2] = {-1, -1};
    int shape_ratio = 0;
    int nnum = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--no-ratio") == 0) {
            dc.max_inflate_ratio = 0;
        } else if (strcmp(argv[i], "--ratio") == 0 && i + 1 < argc) {
            dc.max_inflate_ratio = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--shaped") == 0) {
            shape_ratio = 1;
        } else if (strcmp(argv[i], "--cap") == 0) {
            wsio_deflate_config def;
            wsio_deflate_config_default(&def);
            dc.max_connections = def.max_connections;
        } else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc) {
            dc.policy.server_max_window_bits = (uint8_t)atoi(argv[++i]);
            dc.policy.client_max_window_bits = dc.policy.server_max_window_bits;
        } else if (strcmp(argv[i], "--mem-level") == 0 && i + 1 < argc) {
            dc.mem_level = atoi(argv[++i]);
        } else if (nnum < 2) {
            nums[nnum++] = atol(argv[i]);
        }
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 1;
    server_pid = fork();
    if (server_pid == 0) {
        close(pipefd[0]);
        serve(&dc, pipefd[1]);
    }
    close(pipefd[1]);
    atexit(stop_server);
    server_out = fdopen(pipefd[0], "r");
    unsigned port = 0;
    if (fscanf(server_out, "%u", &port) != 1)
        return 1;
    server_port = (uint16_t)port;
    printf("server: windows %d, memLevel %d, max_inflate_ratio %zu "
           "(floor %zu), max_connections %zu\n",
           dc.policy.server_max_window_bits, dc.mem_level, dc.max_inflate_ratio,
           dc.inflate_floor, dc.max_connections);
    if (strcmp(argv[1], "idle") == 0)
        idle(nums[0] > 0 ? (int)nums[0] : 5000);
    else if (strcmp(argv[1], "floor") == 0)
        cpu_floor(nums[0] > 0 ? (size_t)nums[0] : 64, dc.inflate_floor);
    else
        cpu(nums[0] > 0 ? (int)nums[0] : 40, nums[1] > 0 ? (size_t)nums[1] : 15,
            shape_ratio ? (dc.max_inflate_ratio ? dc.max_inflate_ratio : 128)
                        : 0);
    return 0;
}

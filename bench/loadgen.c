/*
 * bench/loadgen.c - a WebSocket load generator: one process, one thread,
 * epoll, non-blocking sockets, real client handshakes (RFC 6455 section
 * 4.1) and masked frames (section 5.3), and a check of every message that
 * comes back.
 *
 * Modes:
 *   echo       C connections, each keeping P messages of S bytes in flight
 *              against an echo server: messages/s and round-trip latency
 *              (p50/p99) from a timestamp carried in each payload.
 *   broadcast  C receivers and one sender against a server that sends every
 *              message to every client: the sender keeps P messages in
 *              flight (one is done when every receiver has it); deliveries/s
 *              and fan-out latency (send to each receiver's arrival).
 *   connect    open C connections (handshakes/s), then read the server's
 *              resident memory (--server-pid) and divide the growth by C.
 * --raw speaks plain TCP instead (no handshake, no framing, the same
 * payload bytes) against a TCP echo or fan-out server (bench/peers/
 * tcp_echo.c): the floor the WebSocket servers are measured against.
 * --tls speaks wss:// (OpenSSL builds).
 *
 * Each payload starts with a 16-byte stamp {u32 connection or sender id,
 * u32 sequence, u64 send time in ns}, and the rest is a fixed pseudo-random
 * pattern shifted by the sequence number; a received message must have the
 * expected length, id, next sequence number and pattern, in a single
 * unmasked final binary frame. Any mismatch is counted as a failure and
 * makes the exit status 1.
 *
 * The run: connect everything, then warm up for --warmup seconds, then
 * measure for --duration seconds, then close every connection (close frame
 * 1000, waiting at most 2 s for the server's). Every phase has a deadline.
 * The last line of output is "RESULT key=value ..." for scripts.
 */
#define _GNU_SOURCE /* IP_BIND_ADDRESS_NO_PORT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef LOADGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#include "wsio.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define STAMP_LEN 16
#define CLOSE_WAIT_S 2.0
/* Server threads whose system calls are counted. */
#define MAX_SERVER_THREADS 256
/* Latency histogram: 1 us buckets up to this, the rest in the last one. */
#define HIST_US (1u << 21)

enum mode { MODE_ECHO, MODE_BROADCAST, MODE_CONNECT };
enum state { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_DONE };
enum role { ROLE_ECHO, ROLE_RECEIVER, ROLE_SENDER, ROLE_IDLE };

typedef struct opts {
    enum mode mode;
    int raw; /* plain TCP, no WebSocket */
    const char *host;
    uint16_t port;
    const char *path;
    unsigned conns;       /* C */
    unsigned inflight;    /* P */
    size_t size;          /* S */
    double duration;      /* measured seconds */
    double warmup;        /* seconds before measuring */
    int cpu;              /* print CPU use */
    int server_pid;       /* 0: unknown */
    unsigned sources;     /* 127.0.0.x source addresses; 0: automatic */
    unsigned concurrency; /* handshakes in progress at once */
    int tls;              /* wss:// (built with LOADGEN_TLS) */
    int echo_after;       /* connect mode: each connection echoes once */
    double hold;          /* connect mode: wait for SIGUSR1 this long */
} opts;

typedef struct conn {
    int fd;
    uint32_t id;
    enum state st;
    enum role role;
    char key[WSIO_HANDSHAKE_KEY_LEN + 1];
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    uint32_t next_send; /* sequence number of the next message sent */
    uint32_t next_recv; /* sequence number expected next */
    int close_sent;
#ifdef LOADGEN_TLS
    SSL *ssl;
#endif
} conn;

typedef struct cpu_sample {
    double wall;
    double self;   /* this process, user + system seconds */
    double server; /* the server's, or -1 */
    double busy;   /* all CPUs' non-idle seconds (/proc/stat), or -1 */
} cpu_sample;

typedef struct lg {
    opts o;
    int ep;
    conn *c; /* o.conns (+1 sender in broadcast) connections */
    unsigned n;
    uint8_t *pattern; /* size + 256 bytes */
    uint64_t rng;
    uint64_t key_rng; /* Sec-WebSocket-Key nonces */
    /* Phases, as CLOCK_MONOTONIC seconds. */
    double t_begin, t_open, t_measure, t_end;
    int sending; /* new messages may still be sent */
    int measuring;
    unsigned connecting; /* in ST_CONNECTING or ST_HANDSHAKE */
    unsigned next_connect;
    unsigned open; /* ever reached ST_OPEN */
    unsigned done;
    /* Results. */
    uint64_t msgs; /* received in the measured window */
    uint64_t bytes;
    uint32_t *hist;
    uint64_t hist_n;
    uint64_t failures;
    uint64_t sent;
    unsigned *bc_left; /* broadcast: receivers still to get seq % P */
    cpu_sample cpu0, cpu1;
    uint64_t echoed; /* echo replies received (connect --echo-after) */
    /* Counters of the server's system calls, one per thread; sc_n is 0
     * when they are not available here. */
    int sc_fd[MAX_SERVER_THREADS];
    unsigned sc_n;
#ifdef LOADGEN_TLS
    SSL_CTX *tls;
#endif
} lg;

/* ---- small helpers ----------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* fail - count a validation failure; print the first few. */
static void fail(lg *g, const conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(lg *g, const conn *c, const char *fmt, ...)
{
    if (g->failures++ < 10) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "loadgen: connection %u: ", c ? c->id : 0);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- /proc readings ---------------------------------------------------- */

/* proc_cpu_s - user + system CPU seconds of pid, or -1. */
static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name may hold spaces and parentheses: fields are counted
     * from the last ')'. utime and stime are fields 14 and 15. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* proc_status_kb - a "Name:  N kB" field of /proc/pid/status, or -1. */
static long proc_status_kb(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* machine_busy_s - non-idle CPU seconds of all cores since boot, or -1:
 * what is left of it after this process and the server is other work
 * sharing the machine, which the report shows. */
static double machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8)
        return -1;
    /* user nice system idle iowait irq softirq steal: all but idle and
     * iowait. */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static cpu_sample cpu_now(const lg *g)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    cpu_sample s;
    s.wall = now_s();
    s.self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    s.server = g->o.server_pid ? proc_cpu_s(g->o.server_pid) : -1;
    s.busy = machine_busy_s();
    return s;
}

/* ---- the server's system calls ---------------------------------------- */

/* The kernel's count of system calls the server enters: the tracepoint
 * raw_syscalls:sys_enter, what `perf stat -e raw_syscalls:sys_enter -p PID`
 * reads, here started and stopped exactly at the measured window's edges.
 * Threads the server starts later are not counted. Where tracing is not
 * permitted (perf_event_paranoid, no tracefs) there is no figure. */

static long sys_enter_tracepoint(void)
{
    static const char *const paths[] = {
        "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
        "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f)
            continue;
        long id = -1;
        if (fscanf(f, "%ld", &id) != 1)
            id = -1;
        fclose(f);
        if (id >= 0)
            return id;
    }
    return -1;
}

static void syscalls_close(lg *g)
{
    for (unsigned i = 0; i < g->sc_n; i++)
        close(g->sc_fd[i]);
    g->sc_n = 0;
}

/* syscalls_open - a disabled counter on every thread of the server; none
 * at all when one cannot be had (a partial count would mislead). */
static void syscalls_open(lg *g)
{
    long id = g->o.server_pid ? sys_enter_tracepoint() : -1;
    if (id < 0)
        return;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", g->o.server_pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    int complete = 1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        struct perf_event_attr a;
        memset(&a, 0, sizeof a);
        a.size = sizeof a;
        a.type = PERF_TYPE_TRACEPOINT;
        a.config = (uint64_t)id;
        a.disabled = 1;
        int fd = g->sc_n < MAX_SERVER_THREADS
                     ? (int)syscall(SYS_perf_event_open, &a, atoi(e->d_name),
                                    -1, -1, PERF_FLAG_FD_CLOEXEC)
                     : -1;
        if (fd < 0) {
            complete = 0;
            break;
        }
        g->sc_fd[g->sc_n++] = fd;
    }
    closedir(d);
    if (!complete)
        syscalls_close(g);
}

static void syscalls_switch(const lg *g, unsigned long request)
{
    for (unsigned i = 0; i < g->sc_n; i++)
        ioctl(g->sc_fd[i], request, 0);
}

/* syscalls_read - the count since enabled, or -1 without counters. */
static double syscalls_read(const lg *g)
{
    if (!g->sc_n)
        return -1;
    uint64_t sum = 0;
    for (unsigned i = 0; i < g->sc_n; i++) {
        uint64_t v;
        if (read(g->sc_fd[i], &v, sizeof v) != (ssize_t)sizeof v)
            return -1;
        sum += v;
    }
    return (double)sum;
}

/* measure_start, measure_stop - the edges of the measured window. */
static void measure_start(lg *g)
{
    syscalls_switch(g, PERF_EVENT_IOC_ENABLE);
    g->cpu0 = cpu_now(g);
}

static void measure_stop(lg *g)
{
    g->cpu1 = cpu_now(g);
    syscalls_switch(g, PERF_EVENT_IOC_DISABLE);
}

/* ---- TLS (wss://) ------------------------------------------------------ */

/* conn_send, conn_recv - send(2) and recv(2), through TLS with --tls, with
 * their return convention: -1 and errno EAGAIN when the socket (or the TLS
 * handshake, which the first SSL_write/SSL_read drive) must wait. */
#ifdef LOADGEN_TLS
static ssize_t tls_result(conn *c, int r)
{
    if (r > 0)
        return r;
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
        return 0;
    if (e != SSL_ERROR_SYSCALL)
        errno = EPROTO;
    return -1;
}

static void tls_setup(lg *g)
{
    if (!g->o.tls)
        return;
    g->tls = SSL_CTX_new(TLS_client_method());
    if (!g->tls) {
        fprintf(stderr, "loadgen: cannot make a TLS context\n");
        exit(1);
    }
    /* A bench on loopback against a test certificate: not verified. */
    SSL_CTX_set_verify(g->tls, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(g->tls, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}
#endif

static ssize_t conn_send(conn *c, const void *p, size_t n)
{
#ifdef LOADGEN_TLS
    if (c->ssl) {
        errno = 0;
        return tls_result(c,
                          SSL_write(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n));
    }
#endif
    return send(c->fd, p, n, MSG_NOSIGNAL);
}

static ssize_t conn_recv(conn *c, void *p, size_t n)
{
#ifdef LOADGEN_TLS
    if (c->ssl) {
        errno = 0;
        return tls_result(c,
                          SSL_read(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n));
    }
#endif
    return recv(c->fd, p, n, 0);
}

static int conn_tls(const conn *c)
{
#ifdef LOADGEN_TLS
    return c->ssl != NULL;
#else
    (void)c;
    return 0;
#endif
}

/* tls_start - the client side of TLS on a connected socket; 0 or -1. */
static int tls_start(lg *g, conn *c)
{
#ifdef LOADGEN_TLS
    if (!g->tls)
        return 0;
    c->ssl = SSL_new(g->tls);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
        return -1;
    SSL_set_connect_state(c->ssl);
#else
    (void)g;
    (void)c;
#endif
    return 0;
}

/* ---- latency ----------------------------------------------------------- */

static void record_latency(lg *g, uint64_t sent_ns, uint64_t now)
{
    uint64_t us = now > sent_ns ? (now - sent_ns) / 1000u : 0;
    g->hist[us < HIST_US ? us : HIST_US - 1]++;
    g->hist_n++;
}

/* percentile_us - the smallest latency (us) at or under which a fraction
 * q of the samples fall; -1 without samples. */
static double percentile_us(const lg *g, double q)
{
    if (!g->hist_n)
        return -1;
    uint64_t want = (uint64_t)((double)g->hist_n * q);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HIST_US; i++) {
        seen += g->hist[i];
        if (seen >= want)
            return i;
    }
    return HIST_US - 1;
}

/* ---- output: building messages ----------------------------------------- */

static void out_reserve(conn *c, size_t more)
{
    if (c->out_off && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + more <= c->out_cap)
        return;
    if (c->out_off) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + more > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < c->out_len + more)
            cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (!p) {
            fprintf(stderr, "loadgen: out of memory\n");
            exit(1);
        }
        c->out = p;
        c->out_cap = cap;
    }
}

/* append_frame - a masked client frame (section 5.2, 5.3) or, in raw mode,
 * the payload alone. */
static uint8_t *append_frame(lg *g, conn *c, uint8_t opcode, size_t len)
{
    out_reserve(c, WSIO_FRAME_HEADER_MAX + len);
    if (g->o.raw) {
        uint8_t *p = c->out + c->out_len;
        c->out_len += len;
        return p;
    }
    wsio_frame_header h = {0};
    h.fin = 1;
    h.opcode = opcode;
    h.masked = 1;
    h.payload_len = len;
    uint64_t r = next_rand(&g->rng);
    memcpy(h.mask_key, &r, 4);
    ssize_t hl = wsio_frame_header_encode(c->out + c->out_len, &h);
    if (hl < 0) {
        fprintf(stderr, "loadgen: cannot encode a frame header\n");
        exit(1);
    }
    c->out_len += (size_t)hl;
    uint8_t *p = c->out + c->out_len;
    c->out_len += len;
    return p;
}

/* mask_last - mask the len payload bytes just written at p (the key is in
 * the header right before them). */
static void mask_last(const lg *g, uint8_t *p, size_t len)
{
    if (!g->o.raw)
        wsio_mask(p, len, p - 4, 0);
}

static void send_message(lg *g, conn *c, uint32_t id, uint32_t seq)
{
    size_t s = g->o.size;
    uint8_t *p = append_frame(g, c, WSIO_OP_BINARY, s);
    uint64_t t = now_ns();
    memcpy(p, &id, 4);
    memcpy(p + 4, &seq, 4);
    memcpy(p + 8, &t, 8);
    memcpy(p + STAMP_LEN, g->pattern + (seq & 255u) + STAMP_LEN, s - STAMP_LEN);
    mask_last(g, p, s);
    g->sent++;
}

static void send_close(lg *g, conn *c)
{
    if (c->close_sent)
        return;
    c->close_sent = 1;
    if (g->o.raw)
        return;
    uint8_t *p = append_frame(g, c, WSIO_OP_CLOSE, 2);
    p[0] = (uint8_t)(WSIO_CLOSE_NORMAL >> 8);
    p[1] = (uint8_t)(WSIO_CLOSE_NORMAL & 0xff);
    mask_last(g, p, 2);
}

static void conn_finish(lg *g, conn *c)
{
    if (c->st == ST_DONE)
        return;
    if (c->st == ST_CONNECTING || c->st == ST_HANDSHAKE)
        g->connecting--;
    c->st = ST_DONE;
    g->done++;
#ifdef LOADGEN_TLS
    SSL_free(c->ssl);
    c->ssl = NULL;
#endif
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->in_cap = c->out_cap = c->in_len = c->out_len = c->out_off = 0;
}

/* flush - write what is queued; 0, or -1 when the connection died. */
static int flush(lg *g, conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0; /* EPOLLOUT (edge-triggered) will say when */
        } else {
            if (c->st != ST_CLOSING)
                fail(g, c, "send: %s", strerror(errno));
            conn_finish(g, c);
            return -1;
        }
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* ---- input: checking messages ------------------------------------------ */

/* Start the P messages a connection keeps in flight. */
static void start_sending(lg *g, conn *c)
{
    if (c->role == ROLE_ECHO || c->role == ROLE_SENDER)
        for (unsigned i = 0; i < g->o.inflight; i++)
            send_message(g, c, c->id, c->next_send++);
}

static void on_message(lg *g, conn *c, const uint8_t *p, size_t len)
{
    uint64_t t = now_ns();
    if (len != g->o.size) {
        fail(g, c, "message of %zu bytes, sent %zu", len, g->o.size);
        return;
    }
    uint32_t id, seq;
    uint64_t sent;
    memcpy(&id, p, 4);
    memcpy(&seq, p + 4, 4);
    memcpy(&sent, p + 8, 8);
    uint32_t want_id = c->role == ROLE_ECHO ? c->id : g->c[g->n - 1].id;
    if (id != want_id || seq != c->next_recv) {
        fail(g, c, "got id %u seq %u, expected id %u seq %u", id, seq, want_id,
             c->next_recv);
        return;
    }
    if (memcmp(p + STAMP_LEN, g->pattern + (seq & 255u) + STAMP_LEN,
               len - STAMP_LEN) != 0) {
        fail(g, c, "payload of seq %u differs from what was sent", seq);
        return;
    }
    c->next_recv++;
    if (c->role == ROLE_ECHO)
        g->echoed++;
    if (c->role == ROLE_SENDER)
        return; /* its own copy of the broadcast: checked, not counted */
    if (g->measuring) {
        g->msgs++;
        g->bytes += len;
        record_latency(g, sent, t);
    }
    if (c->role == ROLE_ECHO) {
        if (g->sending)
            send_message(g, c, c->id, c->next_send++);
        return;
    }
    /* A receiver: the message is done when every receiver has it. */
    unsigned *left = &g->bc_left[seq % g->o.inflight];
    if (--*left == 0 && g->sending) {
        conn *s = &g->c[g->n - 1];
        if (s->st == ST_OPEN) {
            *left = g->o.conns;
            send_message(g, s, s->id, s->next_send++);
            flush(g, s);
        }
    }
}

/* parse_raw - fixed-size messages on a byte stream. */
static size_t parse_raw(lg *g, conn *c)
{
    size_t off = 0;
    while (c->in_len - off >= g->o.size) {
        on_message(g, c, c->in + off, g->o.size);
        off += g->o.size;
    }
    return off;
}

/* parse_frames - complete frames from the server; returns bytes used, or
 * SIZE_MAX when the connection must end. */
static size_t parse_frames(lg *g, conn *c)
{
    size_t off = 0;
    for (;;) {
        wsio_frame_header h;
        ssize_t hl = wsio_frame_header_decode(c->in + off, c->in_len - off, &h);
        if (hl == WSIO_EAGAIN)
            return off;
        if (hl < 0) {
            fail(g, c, "bad frame header: %s", wsio_strerror((int)hl));
            return SIZE_MAX;
        }
        if (h.payload_len > c->in_cap) {
            fail(g, c, "frame of %llu bytes, larger than sent",
                 (unsigned long long)h.payload_len);
            return SIZE_MAX;
        }
        size_t total = (size_t)hl + (size_t)h.payload_len;
        if (c->in_len - off < total)
            return off;
        const uint8_t *p = c->in + off + hl;
        size_t len = (size_t)h.payload_len;
        off += total;
        /* A server never masks (section 5.1); our peers never fragment
         * these sizes nor use extensions. */
        if (h.masked || h.rsv || !h.fin) {
            fail(g, c, "unexpected frame: masked %u rsv %u fin %u", h.masked,
                 h.rsv, h.fin);
            return SIZE_MAX;
        }
        if (h.opcode == WSIO_OP_BINARY) {
            if (c->st == ST_OPEN || c->st == ST_CLOSING)
                on_message(g, c, p, len);
        } else if (h.opcode == WSIO_OP_CLOSE) {
            if (!c->close_sent)
                fail(g, c, "server closed the connection first");
            return SIZE_MAX; /* close handshake complete from our side */
        } else if (h.opcode == WSIO_OP_PING) {
            uint8_t *q = append_frame(g, c, WSIO_OP_PONG, len);
            memcpy(q, p, len);
            mask_last(g, q, len);
        } else if (h.opcode != WSIO_OP_PONG) {
            fail(g, c, "unexpected opcode 0x%x", h.opcode);
            return SIZE_MAX;
        }
    }
}

static void on_open(lg *g, conn *c)
{
    c->st = ST_OPEN;
    g->connecting--;
    g->open++;
    if (g->sending)
        start_sending(g, c);
}

/* parse_handshake - the server's 101 (section 4.1); bytes used, 0 for more,
 * SIZE_MAX on failure. */
static size_t parse_handshake(lg *g, conn *c)
{
    wsio_http_header headers[32];
    wsio_http_response resp;
    ssize_t n =
        wsio_http_response_parse(c->in, c->in_len, &resp, headers, 32, NULL);
    if (n == WSIO_EAGAIN)
        return 0;
    if (n < 0) {
        fail(g, c, "bad handshake response: %s", wsio_strerror((int)n));
        return SIZE_MAX;
    }
    wsio_handshake_request req = {0};
    req.key = c->key;
    req.host = g->o.host;
    int rc = wsio_handshake_validate_response(&resp, &req, NULL);
    if (rc < 0) {
        fail(g, c, "handshake refused (status %d): %s", resp.status,
             wsio_strerror(rc));
        return SIZE_MAX;
    }
    on_open(g, c);
    return (size_t)n;
}

/* release_idle_buffers - a connect-mode connection that is open and idle
 * holds no buffer (they come back when it has something to read or
 * send): 10 000 of them would otherwise fault in 50 MB of fresh pages
 * while the handshakes are timed, in every row alike. */
static void release_idle_buffers(conn *c)
{
    if (c->role != ROLE_IDLE || c->st != ST_OPEN || c->in_len ||
        c->out_off < c->out_len)
        return;
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->out_cap = c->out_len = c->out_off = 0;
}

/* on_readable - read and handle what the server sent; ended: the event
 * also said the stream ended or failed (EPOLLRDHUP, EPOLLHUP, EPOLLERR),
 * so read to the end. */
static void on_readable(lg *g, conn *c, int ended)
{
    if (!c->in)
        c->in = xmalloc(c->in_cap);
    for (;;) {
        if (c->in_len == c->in_cap) {
            fail(g, c, "input buffer full");
            conn_finish(g, c);
            return;
        }
        size_t room = c->in_cap - c->in_len;
        ssize_t n = conn_recv(c, c->in + c->in_len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            /* EOF or reset: expected only once we have asked to close
             * (raw mode, or a server that drops the TCP after the close
             * frame). */
            if (c->st != ST_CLOSING)
                fail(g, c, "connection %s by the server",
                     n == 0 ? "closed" : "reset");
            conn_finish(g, c);
            return;
        }
        c->in_len += (size_t)n;
        int head_done = 0;
        if (c->st == ST_HANDSHAKE) {
            size_t head = parse_handshake(g, c);
            if (head == SIZE_MAX) {
                conn_finish(g, c);
                return;
            }
            if (head == 0)
                continue; /* the head is not complete yet */
            /* Frames may follow the head in the same read. */
            memmove(c->in, c->in + head, c->in_len - head);
            c->in_len -= head;
            head_done = 1;
        }
        size_t used = g->o.raw ? parse_raw(g, c) : parse_frames(g, c);
        if (used == SIZE_MAX) {
            flush(g, c);
            conn_finish(g, c);
            return;
        }
        if (used) {
            memmove(c->in, c->in + used, c->in_len - used);
            c->in_len -= used;
        }
        /* A read shorter than the room emptied the socket: whatever comes
         * later is a new edge (EPOLLET), and an end of stream already
         * there was reported with this one (EPOLLRDHUP, see handle). So
         * once the 101 is in, the read that would find EAGAIN is skipped.
         * Not under TLS, whose library may hold decrypted bytes back. */
        if (head_done && (size_t)n < room && !ended && !conn_tls(c))
            break;
    }
    if (flush(g, c) == 0)
        release_idle_buffers(c);
}

/* ---- connecting -------------------------------------------------------- */

static void start_connect(lg *g, conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(g, c, "socket: %s (raise ulimit -n?)", strerror(errno));
        c->st = ST_CONNECTING;
        g->connecting++;
        conn_finish(g, c);
        return;
    }
    int one = 1;
    /* Connect mode writes one request (and at most one message) per
     * connection: Nagle never holds it back, the system call is saved. */
    if (g->o.mode != MODE_CONNECT)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    if (g->o.sources > 1) {
        /* Several source addresses widen the 4-tuple space; the port is
         * chosen at connect time (IP_BIND_ADDRESS_NO_PORT). */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sa.sin_addr.s_addr = htonl(0x7f000001u + c->id % g->o.sources);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            fail(g, c, "bind 127.0.0.%u: %s", 1 + c->id % g->o.sources,
                 strerror(errno));
    }
    sa.sin_port = htons(g->o.port);
    inet_pton(AF_INET, g->o.host, &sa.sin_addr);
    c->fd = fd;
    c->st = ST_CONNECTING;
    g->connecting++;
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 &&
        errno != EINPROGRESS) {
        fail(g, c, "connect: %s", strerror(errno));
        conn_finish(g, c);
    }
}

/* on_connected - the connect finished (events: what epoll reported): on
 * success send the opening handshake. A failed connect always reports
 * EPOLLERR or EPOLLHUP, so only then is SO_ERROR asked for. */
static void on_connected(lg *g, conn *c, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        fail(g, c, "connect: %s", err ? strerror(err) : "hung up");
        conn_finish(g, c);
        return;
    }
    size_t frame = g->o.size + WSIO_FRAME_HEADER_MAX;
    c->in_cap = g->o.mode == MODE_CONNECT ? 4096 : frame + 65536;
    if (g->o.raw) {
        c->st = ST_HANDSHAKE; /* on_open counts it out of "connecting" */
        on_open(g, c);
        flush(g, c);
        return;
    }
    c->st = ST_HANDSHAKE;
    if (tls_start(g, c) < 0) {
        fail(g, c, "cannot start TLS");
        conn_finish(g, c);
        return;
    }
    /* Section 4.1 (item 7) wants a random 16-byte nonce per connection,
     * so that the Accept proves the server read this request (section
     * 1.3); on loopback, with no intermediary to guard against, draws
     * from a generator seeded once from getrandom serve, not a getrandom
     * per connection. The Accept is still checked against it. */
    uint64_t nonce[2] = {next_rand(&g->key_rng), next_rand(&g->key_rng)};
    wsio_handshake_make_key((const uint8_t *)nonce, c->key);
    char host[96];
    snprintf(host, sizeof host, "%s:%u", g->o.host, (unsigned)g->o.port);
    wsio_handshake_request req = {0};
    req.host = host;
    req.path = g->o.path;
    req.key = c->key;
    out_reserve(c, 1024);
    ssize_t n = wsio_handshake_build_request((char *)c->out + c->out_len,
                                             c->out_cap - c->out_len, &req);
    if (n < 0) {
        fail(g, c, "cannot build the request: %s", wsio_strerror((int)n));
        conn_finish(g, c);
        return;
    }
    c->out_len += (size_t)n;
    flush(g, c);
}

static void connect_more(lg *g)
{
    while (g->next_connect < g->n && g->connecting < g->o.concurrency)
        start_connect(g, &g->c[g->next_connect++]);
}

/* ---- the loop ---------------------------------------------------------- */

static void handle(lg *g, conn *c, uint32_t events)
{
    if (c->st == ST_DONE)
        return;
    if (c->st == ST_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        on_connected(g, c, events);
        if (c->st == ST_DONE)
            return;
    }
    /* TLS may hold input that a write was waiting for. */
    uint32_t ended = events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP);
    if (conn_tls(c) || (events & EPOLLIN) || ended)
        on_readable(g, c, ended != 0);
    else if (events & EPOLLOUT)
        flush(g, c);
}

/* run_until - serve events until done() is true or the deadline passes;
 * returns 1 when done() became true. */
static int run_until(lg *g, double deadline, int (*done)(const lg *))
{
    struct epoll_event evs[512];
    while (!done(g)) {
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        int ms = left > 0.05 ? 50 : (int)(left * 1000) + 1;
        int n = epoll_wait(g->ep, evs, 512, ms);
        if (n < 0 && errno != EINTR) {
            perror("loadgen: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++)
            handle(g, evs[i].data.ptr, evs[i].events);
        if (g->o.mode == MODE_CONNECT || g->next_connect < g->n)
            connect_more(g);
    }
    return 1;
}

static int all_open(const lg *g)
{
    return g->open + g->done >= g->n && g->connecting == 0 &&
           g->next_connect >= g->n;
}

static int all_done(const lg *g)
{
    return g->done >= g->n;
}

static int all_echoed(const lg *g)
{
    return g->echoed >= g->open;
}

static int never(const lg *g)
{
    (void)g;
    return 0;
}

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_seen = 1;
}

static int released(const lg *g)
{
    (void)g;
    return usr1_seen;
}

static void close_all(lg *g)
{
    g->sending = 0;
    for (unsigned i = 0; i < g->n; i++) {
        conn *c = &g->c[i];
        if (c->st == ST_CONNECTING || c->st == ST_HANDSHAKE) {
            conn_finish(g, c);
        } else if (c->st == ST_OPEN) {
            c->st = ST_CLOSING;
            send_close(g, c);
            if (g->o.raw) /* no close handshake on plain TCP */
                conn_finish(g, c);
            else
                flush(g, c);
        }
    }
    if (!run_until(g, now_s() + CLOSE_WAIT_S, all_done))
        fprintf(stderr, "loadgen: %u connections did not close within %.0f s\n",
                g->n - g->done, CLOSE_WAIT_S);
    for (unsigned i = 0; i < g->n; i++)
        conn_finish(g, &g->c[i]);
}

/* echo_each_once - every open connection sends one message and must get it
 * back: connections held idle still work. */
static void echo_each_once(lg *g)
{
    for (unsigned i = 0; i < g->n; i++) {
        conn *c = &g->c[i];
        if (c->st != ST_OPEN)
            continue;
        c->role = ROLE_ECHO;
        send_message(g, c, c->id, c->next_send++);
        flush(g, c);
    }
    double limit = 10 + g->open / 5000.0;
    if (!run_until(g, now_s() + limit, all_echoed))
        fail(g, NULL, "%llu of %u connections echoed within %.0f s",
             (unsigned long long)g->echoed, g->open, limit);
}

static double pct(double cpu_s, double wall)
{
    return wall > 0 ? 100.0 * cpu_s / wall : 0;
}

/* ---- options ----------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: loadgen MODE [options]   MODE: echo | broadcast | connect\n"
            "  --host ADDR          server address (127.0.0.1)\n"
            "  --port N             server port (9001)\n"
            "  --path PATH          request target (/)\n"
            "  -c N                 connections (echo, connect) or receivers "
            "(broadcast) (100)\n"
            "  -p N                 messages in flight per connection / from "
            "the sender (1)\n"
            "  -s BYTES             message size, >= 16 (32)\n"
            "  --duration SEC       measured time (5)\n"
            "  --warmup SEC         time before measuring (1); in connect mode "
            "the settling time before reading memory\n"
            "  --raw                plain TCP, no WebSocket (against "
            "bench/peers/tcp_echo.c)\n"
            "  --cpu                print CPU use (this process and, with "
            "--server-pid, the server's)\n"
            "  --server-pid PID     the server process, for --cpu and connect "
            "mode's memory\n"
            "  --sources N          bind to 127.0.0.1..N round-robin "
            "(default: one per 4000 connections)\n"
            "  --concurrency N      handshakes in progress at once (256)\n"
            "  --tls                wss:// (TLS, certificate not verified)%s\n"
            "  --echo-after         connect mode: then every connection "
            "echoes one message\n"
            "  --hold SEC           connect mode: once open (and settled), "
            "print \"HELD open=N\"\n"
            "                       and hold the connections until SIGUSR1 "
            "(at most SEC s),\n"
            "                       then go on (several load generators "
            "measured together)\n",
#ifdef LOADGEN_TLS
            ""
#else
            " - not in this build (no OpenSSL)"
#endif
    );
}

static double parse_num(const char *name, const char *v, double min)
{
    char *end;
    double d = strtod(v, &end);
    if (*end || end == v || d < min) {
        fprintf(stderr, "loadgen: bad value for %s: %s\n", name, v);
        exit(2);
    }
    return d;
}

static opts parse_opts(int argc, char **argv)
{
    opts o = {MODE_ECHO, 0, "127.0.0.1", 9001, "/", 100, 1, 32, 5,
              1,         0, 0,           0,    256, 0,   0, 0};
    if (argc < 2) {
        usage(stderr);
        exit(2);
    }
    if (strcmp(argv[1], "echo") == 0)
        o.mode = MODE_ECHO;
    else if (strcmp(argv[1], "broadcast") == 0)
        o.mode = MODE_BROADCAST;
    else if (strcmp(argv[1], "connect") == 0)
        o.mode = MODE_CONNECT;
    else {
        usage(strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        exit(strcmp(argv[1], "--help") == 0 ? 0 : 2);
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--raw") == 0) {
            o.raw = 1;
            takes = 0;
        } else if (strcmp(a, "--cpu") == 0) {
            o.cpu = 1;
            takes = 0;
        } else if (strcmp(a, "--tls") == 0) {
            o.tls = 1;
            takes = 0;
        } else if (strcmp(a, "--echo-after") == 0) {
            o.echo_after = 1;
            takes = 0;
        } else if (!v) {
            usage(stderr);
            exit(2);
        } else if (strcmp(a, "--host") == 0) {
            o.host = v;
        } else if (strcmp(a, "--port") == 0) {
            o.port = (uint16_t)parse_num(a, v, 1);
        } else if (strcmp(a, "--path") == 0) {
            o.path = v;
        } else if (strcmp(a, "-c") == 0) {
            o.conns = (unsigned)parse_num(a, v, 1);
        } else if (strcmp(a, "-p") == 0) {
            o.inflight = (unsigned)parse_num(a, v, 1);
        } else if (strcmp(a, "-s") == 0) {
            o.size = (size_t)parse_num(a, v, STAMP_LEN);
        } else if (strcmp(a, "--duration") == 0) {
            o.duration = parse_num(a, v, 0.1);
        } else if (strcmp(a, "--warmup") == 0) {
            o.warmup = parse_num(a, v, 0);
        } else if (strcmp(a, "--server-pid") == 0) {
            o.server_pid = (int)parse_num(a, v, 1);
        } else if (strcmp(a, "--sources") == 0) {
            o.sources = (unsigned)parse_num(a, v, 1);
        } else if (strcmp(a, "--hold") == 0) {
            o.hold = parse_num(a, v, 0);
        } else if (strcmp(a, "--concurrency") == 0) {
            o.concurrency = (unsigned)parse_num(a, v, 1);
        } else {
            usage(stderr);
            exit(2);
        }
        i += takes;
    }
#ifndef LOADGEN_TLS
    if (o.tls) {
        fprintf(stderr, "loadgen: built without OpenSSL: no --tls\n");
        exit(2);
    }
#endif
    if (o.tls && o.raw) {
        fprintf(stderr, "loadgen: --tls speaks WebSocket: not with --raw\n");
        exit(2);
    }
    if (!o.sources)
        o.sources = (o.conns + 1 + 3999) / 4000;
    if (o.sources > 254)
        o.sources = 254;
    return o;
}

/* ---- main -------------------------------------------------------------- */

static void setup(lg *g)
{
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    if (g->ep < 0) {
        perror("loadgen: epoll_create1");
        exit(1);
    }
    g->n = g->o.conns + (g->o.mode == MODE_BROADCAST);
    g->c = calloc(g->n, sizeof *g->c);
    g->hist = calloc(HIST_US, sizeof *g->hist);
    g->pattern = xmalloc(g->o.size + 256);
    g->bc_left = calloc(g->o.inflight, sizeof *g->bc_left);
    if (!g->c || !g->hist || !g->bc_left) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    uint64_t s = 0x2545f4914f6cdd1du;
    for (size_t i = 0; i < g->o.size + 256; i++)
        g->pattern[i] = (uint8_t)next_rand(&s);
    g->rng = 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
    if (getrandom(&g->key_rng, sizeof g->key_rng, 0) !=
            (ssize_t)sizeof g->key_rng ||
        !g->key_rng)
        g->key_rng = g->rng ^ now_ns();
#ifdef LOADGEN_TLS
    tls_setup(g);
#endif
    syscalls_open(g);
    for (unsigned i = 0; i < g->n; i++) {
        conn *c = &g->c[i];
        c->fd = -1;
        c->id = i;
        c->role = g->o.mode == MODE_ECHO      ? ROLE_ECHO
                  : g->o.mode == MODE_CONNECT ? ROLE_IDLE
                  : i + 1 == g->n             ? ROLE_SENDER
                                              : ROLE_RECEIVER;
    }
}

int main(int argc, char **argv)
{
    lg g;
    memset(&g, 0, sizeof g);
    g.o = parse_opts(argc, argv);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: epoll_wait returns */
    sigaction(SIGUSR1, &sa, NULL);
    setup(&g);
    const opts *o = &g.o;
    /* Connecting may take a while under load, but never forever. */
    double setup_limit = 10 + o->duration + o->warmup;
    if (o->mode == MODE_CONNECT)
        setup_limit += o->conns / 2000.0;

    long rss0 = -1, anon0 = -1;
    if (o->mode == MODE_CONNECT && o->server_pid) {
        rss0 = proc_status_kb(o->server_pid, "VmRSS");
        anon0 = proc_status_kb(o->server_pid, "RssAnon");
    }
    g.t_begin = now_s();
    if (o->mode == MODE_CONNECT)
        measure_start(&g);
    connect_more(&g);
    int ok = run_until(&g, g.t_begin + setup_limit, all_open);
    g.t_open = now_s();
    if (!ok || g.open < g.n) {
        fprintf(stderr, "loadgen: %u of %u connections open after %.1f s\n",
                g.open, g.n, g.t_open - g.t_begin);
        if (!g.failures)
            g.failures = 1;
    }

    long rss1 = -1, anon1 = -1;
    if (o->mode == MODE_CONNECT) {
        measure_stop(&g);
        run_until(&g, now_s() + o->warmup, never); /* let the server settle */
        if (o->server_pid) {
            rss1 = proc_status_kb(o->server_pid, "VmRSS");
            anon1 = proc_status_kb(o->server_pid, "RssAnon");
        }
        if (o->hold > 0) {
            printf("HELD open=%u\n", g.open);
            fflush(stdout);
            run_until(&g, now_s() + o->hold, released);
        }
        if (o->echo_after)
            echo_each_once(&g);
    } else if (ok) {
        g.sending = 1;
        for (unsigned i = 0; i < g.n; i++) {
            if (g.c[i].st == ST_OPEN) {
                start_sending(&g, &g.c[i]);
                flush(&g, &g.c[i]);
            }
        }
        for (unsigned i = 0; i < o->inflight; i++)
            g.bc_left[i] = o->conns;
        run_until(&g, now_s() + o->warmup, never);
        g.measuring = 1;
        measure_start(&g);
        g.t_measure = g.cpu0.wall;
        run_until(&g, g.t_measure + o->duration, never);
        measure_stop(&g);
        g.measuring = 0;
        g.t_end = g.cpu1.wall;
    }
    close_all(&g);

    /* ---- report ---- */
    double wall = g.cpu1.wall - g.cpu0.wall;
    double lg_cpu = pct(g.cpu1.self - g.cpu0.self, wall);
    double srv_cpu = o->server_pid && g.cpu0.server >= 0 && g.cpu1.server >= 0
                         ? pct(g.cpu1.server - g.cpu0.server, wall)
                         : -1;
    /* Everything else the machine ran meanwhile (other processes). */
    double other_cpu = g.cpu0.busy >= 0 && g.cpu1.busy >= 0
                           ? pct(g.cpu1.busy - g.cpu0.busy, wall) - lg_cpu -
                                 (srv_cpu > 0 ? srv_cpu : 0)
                           : -1;
    if (other_cpu < 0 && other_cpu > -5)
        other_cpu = 0; /* tick rounding */
    /* Per unit of work: a message (echo), a delivery (broadcast), a
     * handshake (connect). */
    double units = o->mode == MODE_CONNECT ? (double)g.open : (double)g.msgs;
    double srv_us = srv_cpu >= 0 && units > 0
                        ? (g.cpu1.server - g.cpu0.server) * 1e6 / units
                        : -1;
    /* The load generator's own, which says how close it is to being the
     * limit of a row. */
    double lg_us = units > 0 ? (g.cpu1.self - g.cpu0.self) * 1e6 / units : -1;
    double syscalls = syscalls_read(&g);
    double sc_per = syscalls >= 0 && units > 0 ? syscalls / units : -1;
    static const char *const names[] = {"echo", "broadcast", "connect"};
    printf("loadgen %s%s: %u %s, %u in flight, %zu-byte messages, %.1f s "
           "measured after %.1f s warm-up\n",
           names[o->mode], o->raw ? " (raw TCP)" : "", o->conns,
           o->mode == MODE_BROADCAST ? "receivers + 1 sender" : "connections",
           o->inflight, o->size, o->mode == MODE_CONNECT ? wall : o->duration,
           o->warmup);
    double rate = 0, hs_rate = 0, p50 = -1, p99 = -1;
    long per_conn = -1, anon_per_conn = -1;
    if (o->mode == MODE_CONNECT) {
        hs_rate = wall > 0 ? g.open / wall : 0;
        printf("  %u connections open in %.3f s: %.0f %s/s\n", g.open, wall,
               hs_rate, o->raw ? "connects" : "handshakes");
        if (rss0 >= 0 && rss1 >= 0) {
            per_conn = (rss1 - rss0) * 1024 / (long)o->conns;
            anon_per_conn = anon0 >= 0 && anon1 >= 0
                                ? (anon1 - anon0) * 1024 / (long)o->conns
                                : -1;
            printf("  server VmRSS %ld -> %ld KiB, RssAnon %ld -> %ld KiB: "
                   "%ld bytes (anon %ld) per idle connection\n",
                   rss0, rss1, anon0, anon1, per_conn, anon_per_conn);
        }
    } else {
        rate = (double)g.msgs / wall;
        p50 = percentile_us(&g, 0.50);
        p99 = percentile_us(&g, 0.99);
        printf("  %llu %s in %.3f s: %.0f/s, %.1f MB/s of payload\n",
               (unsigned long long)g.msgs,
               o->mode == MODE_BROADCAST ? "deliveries" : "messages", wall,
               rate, (double)g.bytes / wall / 1e6);
        printf("  latency p50 %.0f us, p99 %.0f us%s\n", p50, p99,
               o->mode == MODE_BROADCAST ? " (send to each receiver)" : "");
    }
    if (o->cpu) {
        printf("  CPU (%% of one core): loadgen %.1f", lg_cpu);
        if (srv_cpu >= 0)
            printf(", server %.1f", srv_cpu);
        if (other_cpu >= 0)
            printf(", other processes %.1f", other_cpu);
        printf("\n");
    }
    const char *unit = o->mode == MODE_CONNECT     ? "handshake"
                       : o->mode == MODE_BROADCAST ? "delivery"
                                                   : "message";
    if (srv_us >= 0)
        printf("  server CPU per %s: %.3f us\n", unit, srv_us);
    if (o->cpu && lg_us >= 0)
        printf("  loadgen CPU per %s: %.3f us\n", unit, lg_us);
    if (o->server_pid) {
        if (sc_per >= 0)
            printf("  server system calls per %s: %.3f (%.0f in all)\n", unit,
                   sc_per, syscalls);
        else
            printf("  server system calls per %s: n/a (cannot trace "
                   "raw_syscalls:sys_enter here)\n",
                   unit);
    }
    if (o->echo_after)
        printf("  echoed after idling: %llu of %u connections\n",
               (unsigned long long)g.echoed, g.open);
    printf("  validation failures: %llu\n", (unsigned long long)g.failures);
    printf("RESULT mode=%s raw=%d conns=%u inflight=%u size=%zu secs=%.3f "
           "rate=%.1f p50_us=%.0f p99_us=%.0f hs_rate=%.1f lg_cpu=%.1f "
           "srv_cpu=%.1f other_cpu=%.1f rss_before_kb=%ld rss_after_kb=%ld "
           "anon_before_kb=%ld anon_after_kb=%ld per_conn_bytes=%ld "
           "anon_per_conn_bytes=%ld srv_us_per_unit=%.4f "
           "syscalls_per_unit=%.4f lg_us_per_unit=%.4f open=%u echoed=%llu "
           "failures=%llu\n",
           names[o->mode], o->raw, o->conns, o->inflight, o->size, wall, rate,
           p50, p99, hs_rate, lg_cpu, srv_cpu, other_cpu, rss0, rss1, anon0,
           anon1, per_conn, anon_per_conn, srv_us, sc_per, lg_us, g.open,
           (unsigned long long)g.echoed, (unsigned long long)g.failures);
    syscalls_close(&g);
#ifdef LOADGEN_TLS
    SSL_CTX_free(g.tls);
#endif
    free(g.c);
    free(g.hist);
    free(g.pattern);
    free(g.bc_left);
    close(g.ep);
    return g.failures ? 1 : 0;
}

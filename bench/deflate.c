/*
 * bench/deflate.c - permessage-deflate on chat-like JSON, in process: a
 * server connection sends N messages to a client connection (both sides
 * encode/decode for real; no sockets). Prints, per setting, the bytes on
 * the wire per message, the ratio to plain, messages per second (send +
 * receive, one core), and the zlib memory each connection holds between
 * messages and at its peak. Figures only; nothing is asserted.
 *
 *     make bench-deflate        (needs zlib)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsio.h"
#include "wsio/deflate.h"

#define MESSAGES 200000
#define VARIANTS 4096

/* Bytes live and peak, per allocator. */
typedef struct counting {
    wsio_mem mem;
    size_t live, peak;
} counting;

static void *c_malloc(size_t n, void *user)
{
    counting *c = user;
    size_t *p = malloc(n + sizeof(size_t) * 2);
    if (!p)
        return NULL;
    p[0] = n;
    c->live += n;
    if (c->live > c->peak)
        c->peak = c->live;
    return p + 2;
}

static void c_free(void *ptr, void *user)
{
    counting *c = user;
    if (!ptr)
        return;
    size_t *p = (size_t *)ptr - 2;
    c->live -= p[0];
    free(p);
}

static void *c_realloc(void *ptr, size_t n, void *user)
{
    if (!ptr)
        return c_malloc(n, user);
    size_t old = ((size_t *)ptr)[-2];
    void *q = c_malloc(n, user);
    if (q) {
        memcpy(q, ptr, old < n ? old : n);
        c_free(ptr, user);
    }
    return q;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t received;

static int on_message(wsio_conn *c, const wsio_message *m, void *user)
{
    (void)c;
    (void)user;
    received += m->len;
    return 0;
}

/* Chat messages as the chat example broadcasts them. */
static size_t make_messages(char msgs[VARIANTS][256], size_t lens[VARIANTS])
{
    static const char *const names[] = {"Иван", "Maria", "bob", "alice"};
    static const char *const texts[] = {"hello everyone",
                                        "Привет, мир! 👋",
                                        "did you see the new build?",
                                        "yes, the tests pass now",
                                        "lunch at noon?",
                                        "ok"};
    size_t total = 0;
    for (int i = 0; i < VARIANTS; i++) {
        int n =
            snprintf(msgs[i], 256,
                     "{\"type\":\"chat\",\"name\":\"%s\",\"text\":\"%s #%d\","
                     "\"time\":%lld}",
                     names[(i * 5) % 4], texts[(i * 7) % 6], i * 13 % 1000,
                     1700000000000LL + (long long)i * 1733);
        lens[i] = (size_t)n;
        total += lens[i];
    }
    return total / VARIANTS;
}

typedef struct result {
    double wire_per_msg, msgs_per_s;
    size_t idle_bytes, peak_bytes;
} result;

/* mode 0: plain; 1: deflate per connection; 2: shared (broadcast) frame. */
static result run(const wsio_deflate *d, const wsio_deflate_params *p, int mode,
                  char msgs[VARIANTS][256], const size_t lens[VARIANTS])
{
    counting smem = {{c_malloc, c_realloc, c_free, &smem}, 0, 0};
    wsio_conn_callbacks cb = {.on_message = on_message};
    wsio_conn *s = wsio_conn_new(WSIO_ROLE_SERVER, NULL, NULL, &smem.mem, NULL);
    wsio_conn *c = wsio_conn_new(WSIO_ROLE_CLIENT, NULL, &cb, NULL, NULL);
    wsio_codec codec, shared = {NULL, NULL};
    if (mode) {
        d->ext.codec_new(&d->ext, p, WSIO_ROLE_SERVER, 0, &smem.mem, &codec);
        wsio_conn_set_codec(s, &codec);
        d->ext.codec_new(&d->ext, p, WSIO_ROLE_CLIENT, 0, NULL, &codec);
        wsio_conn_set_codec(c, &codec);
    }
    if (mode == 2)
        d->ext.codec_new(&d->ext, p, WSIO_ROLE_SERVER, WSIO_CODEC_KEEP_STATE,
                         NULL, &shared);
    static unsigned char buf[1 << 16];
    size_t wire = 0;
    received = 0;
    double t0 = now_s();
    for (int i = 0; i < MESSAGES; i++) {
        int k = i % VARIANTS;
        if (mode == 2) {
            wsio_rcbuf *f = NULL;
            if (wsio_message_encode_compressed(NULL, WSIO_OP_TEXT, msgs[k],
                                               lens[k], &shared, &f) != 1)
                f = wsio_message_encode(NULL, WSIO_OP_TEXT, msgs[k], lens[k]);
            wsio_conn_send_encoded(s, f);
            wsio_rcbuf_unref(f);
        } else {
            wsio_conn_send(s, WSIO_OP_TEXT, msgs[k], lens[k]);
        }
        size_t n = wsio_conn_write(s, buf, sizeof buf);
        wire += n;
        wsio_conn_feed(c, buf, n);
    }
    double dt = now_s() - t0;
    result r;
    r.wire_per_msg = (double)wire / MESSAGES;
    r.msgs_per_s = MESSAGES / dt;
    r.idle_bytes = smem.live;
    r.peak_bytes = smem.peak;
    if (shared.ops)
        shared.ops->free(shared.state);
    wsio_conn_free(s);
    wsio_conn_free(c);
    return r;
}

int main(void)
{
    static char msgs[VARIANTS][256];
    size_t lens[VARIANTS];
    size_t avg = make_messages(msgs, lens);
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    dc.threshold = 0;
    wsio_deflate d;
    wsio_deflate_init(&d, &dc);
    wsio_deflate_config large = dc; /* zlib's own defaults */
    large.policy.server_max_window_bits = 15;
    large.mem_level = 8;
    wsio_deflate dlarge;
    wsio_deflate_init(&dlarge, &large);
    wsio_deflate_config keep = dc;
    keep.keep_state = 1;
    wsio_deflate dkeep;
    wsio_deflate_init(&dkeep, &keep);

    static const struct {
        const char *name;
        int mode;
        int ext; /* 0 defaults, 1 window 15 and memLevel 8, 2 keep_state */
        wsio_deflate_params p;
    } cases[] = {
        {"plain (no extension)", 0, 0, {0, 0, 11, 15}},
        {"deflate, takeover, window 11, memLevel 4", 1, 0, {0, 0, 11, 15}},
        {"deflate, takeover, window 15, memLevel 8", 1, 1, {0, 0, 15, 15}},
        {"deflate, no context takeover", 1, 0, {1, 1, 11, 15}},
        {"deflate, no takeover, keep_state", 1, 2, {1, 1, 11, 15}},
        {"deflate, shared frame (broadcast)", 2, 0, {1, 1, 11, 15}},
    };
    const wsio_deflate *exts[3] = {&d, &dlarge, &dkeep};
    printf("%d chat messages of %zu bytes on average, server -> client, "
           "level %d\n\n",
           MESSAGES, avg, dc.level);
    printf("%-42s %10s %7s %12s %12s %12s\n", "setting", "wire B/msg", "ratio",
           "msgs/s", "conn idle B", "conn peak B");
    double plain = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result r =
            run(exts[cases[i].ext], &cases[i].p, cases[i].mode, msgs, lens);
        if (i == 0)
            plain = r.wire_per_msg;
        printf("%-42s %10.1f %7.2f %12.0f %12zu %12zu\n", cases[i].name,
               r.wire_per_msg, r.wire_per_msg / plain, r.msgs_per_s,
               r.idle_bytes, r.peak_bytes);
    }
    printf(
        "\nconn idle/peak: bytes the server connection's allocator holds "
        "after the run / at most (wsio_conn, codec, zlib state, buffers).\n");
    return 0;
}

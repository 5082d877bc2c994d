/*
 * bench/codec.c - micro-benchmarks of the sans-I/O hot spots: unmasking,
 * UTF-8 validation, frame header decoding and the handshake's SHA-1 accept
 * key. Each figure is printed next to memcpy over the same bytes in the
 * same run, and as a ratio to it, so results compare across machines.
 *
 * Every measurement is repeated (--reps, default 7) and the median is
 * printed; the spread (min..max of the repetitions) follows it. Nothing here
 * asserts a speed: the program fails only if the library rejects an input
 * it must accept (a benchmark of a failing call would measure nothing).
 *
 *     build/bench/codec [--reps N] [--ms MILLISECONDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsio.h"

/* Keeps the compiler from deleting or hoisting work whose result is
 * otherwise unused: it must assume memory is read and written here. */
#define CLOBBER() __asm__ volatile("" ::: "memory")

typedef struct bench_opts {
    int reps;     /* repetitions of each measurement */
    double min_s; /* each repetition runs at least this long */
} bench_opts;

/* One operation under test: run it `iters` times over its input. */
typedef void (*bench_fn)(void *ctx, uint64_t iters);

typedef struct result {
    double median; /* operations per second */
    double min, max;
} result;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * measure - operations per second of fn: find an iteration count that runs
 * at least o->min_s, then time o->reps runs of it and keep the median.
 */
static result measure(const bench_opts *o, bench_fn fn, void *ctx)
{
    uint64_t iters = 1;
    for (;;) {
        double t0 = now_s();
        fn(ctx, iters);
        double dt = now_s() - t0;
        if (dt >= o->min_s / 4)
            break;
        iters *= 2;
    }
    iters *= 4;
    double rates[64];
    int reps = o->reps > 64 ? 64 : o->reps;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        fn(ctx, iters);
        double dt = now_s() - t0;
        rates[r] = (double)iters / dt;
    }
    qsort(rates, (size_t)reps, sizeof rates[0], cmp_double);
    result res = {rates[reps / 2], rates[0], rates[reps - 1]};
    return res;
}

/* ---- the operations ---------------------------------------------------- */

typedef struct buf_ctx {
    uint8_t *buf; /* input (operated on in place for masking) */
    uint8_t *dst; /* memcpy's destination, same size and offset */
    size_t len;
    uint8_t key[4];
} buf_ctx;

static void op_memcpy(void *p, uint64_t iters)
{
    buf_ctx *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        memcpy(c->dst, c->buf, c->len);
        CLOBBER();
    }
}

static void op_mask(void *p, uint64_t iters)
{
    buf_ctx *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        wsio_mask(c->buf, c->len, c->key, 0);
        CLOBBER();
    }
}

static void op_utf8(void *p, uint64_t iters)
{
    buf_ctx *c = p;
    int bad = 0;
    for (uint64_t i = 0; i < iters; i++) {
        bad |= wsio_utf8_validate(c->buf, c->len);
        CLOBBER();
    }
    if (bad) {
        fprintf(stderr, "codec: wsio_utf8_validate rejected valid text\n");
        exit(1);
    }
}

typedef struct frames_ctx {
    buf_ctx b;    /* the encoded frames, back to back */
    size_t count; /* how many frames b holds */
} frames_ctx;

static void op_decode_frames(void *p, uint64_t iters)
{
    frames_ctx *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        size_t off = 0, n = 0;
        while (off < c->b.len) {
            wsio_frame_header h;
            ssize_t hl =
                wsio_frame_header_decode(c->b.buf + off, c->b.len - off, &h);
            if (hl < 0)
                break;
            off += (size_t)hl + (size_t)h.payload_len;
            n++;
        }
        if (n != c->count) {
            fprintf(stderr, "codec: decoded %zu of %zu frames\n", n, c->count);
            exit(1);
        }
        CLOBBER();
    }
}

/* The frame buffer counts as one operation per frame, not per pass. */
static void op_memcpy_frames(void *p, uint64_t iters)
{
    op_memcpy(&((frames_ctx *)p)->b, iters);
}

typedef struct accept_ctx {
    char keys[64][WSIO_HANDSHAKE_KEY_LEN + 1];
    char out[WSIO_HANDSHAKE_ACCEPT_LEN + 1];
    char copy[WSIO_HANDSHAKE_KEY_LEN + 1];
} accept_ctx;

static void op_accept(void *p, uint64_t iters)
{
    accept_ctx *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        if (wsio_handshake_accept_key(c->keys[i & 63], WSIO_HANDSHAKE_KEY_LEN,
                                      c->out) != 0) {
            fprintf(stderr, "codec: wsio_handshake_accept_key failed\n");
            exit(1);
        }
        CLOBBER();
    }
}

static void op_memcpy_key(void *p, uint64_t iters)
{
    accept_ctx *c = p;
    for (uint64_t i = 0; i < iters; i++) {
        memcpy(c->copy, c->keys[i & 63], WSIO_HANDSHAKE_KEY_LEN);
        CLOBBER();
    }
}

/* ---- inputs ------------------------------------------------------------ */

/* xorshift64: reproducible filler, the same on every run. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* fill_text - len bytes of valid UTF-8 drawn from the given characters
 * (each a NUL-terminated UTF-8 string); the tail is padded with ASCII so
 * no character is cut. */
static void fill_text(uint8_t *buf, size_t len, const char *const *chars,
                      size_t nchars)
{
    uint64_t s = 0x9e3779b97f4a7c15u;
    size_t off = 0;
    for (;;) {
        const char *ch = chars[next_rand(&s) % nchars];
        size_t n = strlen(ch);
        if (off + n > len)
            break;
        memcpy(buf + off, ch, n);
        off += n;
    }
    memset(buf + off, ' ', len - off);
}

/* ---- output ------------------------------------------------------------ */

/* print_row - one line: the operation's rate, memcpy's rate over the same
 * bytes, and their ratio. bytes_per_op turns operations into GB/s. */
static void print_row(const char *name, const char *size, result op, result mc,
                      double bytes_per_op, double mc_bytes_per_op,
                      const char *unit_name, double unit_scale)
{
    double gbs = op.median * bytes_per_op / 1e9;
    double mc_gbs = mc.median * mc_bytes_per_op / 1e9;
    char rate[32] = "";
    if (unit_name)
        snprintf(rate, sizeof rate, "%.2f %s", op.median / unit_scale,
                 unit_name);
    printf("%-28s %7s %8.3f %15s  %7.3f..%-7.3f %8.3f  %6.3f\n", name, size,
           gbs, rate, op.min * bytes_per_op / 1e9, op.max * bytes_per_op / 1e9,
           mc_gbs, gbs / mc_gbs);
}

static void bench_mask(const bench_opts *o, size_t len, int misalign)
{
    /* One spare byte so the misaligned view still holds len bytes. */
    uint8_t *raw = aligned_alloc(64, len + 64);
    uint8_t *dst = aligned_alloc(64, len + 64);
    if (!raw || !dst) {
        fprintf(stderr, "codec: out of memory\n");
        exit(1);
    }
    memset(raw, 0x5a, len + 64);
    memset(dst, 0, len + 64);
    buf_ctx c = {raw + misalign, dst + misalign, len, {0x37, 0xfa, 0x21, 0x3d}};
    result op = measure(o, op_mask, &c);
    result mc = measure(o, op_memcpy, &c);
    char name[64], size[16];
    snprintf(name, sizeof name, "wsio_mask %s",
             misalign ? "unaligned (+1)" : "aligned");
    snprintf(size, sizeof size, len >= (1u << 20) ? "%zu MiB" : "%zu KiB",
             len >= (1u << 20) ? len >> 20 : len >> 10);
    print_row(name, size, op, mc, (double)len, (double)len, NULL, 1);
    free(raw);
    free(dst);
}

static void bench_utf8(const bench_opts *o, const char *name,
                       const char *const *chars, size_t nchars, size_t len)
{
    uint8_t *buf = aligned_alloc(64, len);
    uint8_t *dst = aligned_alloc(64, len);
    if (!buf || !dst) {
        fprintf(stderr, "codec: out of memory\n");
        exit(1);
    }
    fill_text(buf, len, chars, nchars);
    buf_ctx c = {buf, dst, len, {0}};
    result op = measure(o, op_utf8, &c);
    result mc = measure(o, op_memcpy, &c);
    char size[16];
    snprintf(size, sizeof size, len >= (1u << 20) ? "%zu MiB" : "%zu KiB",
             len >= (1u << 20) ? len >> 20 : len >> 10);
    print_row(name, size, op, mc, (double)len, (double)len, NULL, 1);
    free(buf);
    free(dst);
}

/*
 * bench_frames - many small masked frames, as a server reads them: payloads
 * of 0..125 bytes (the short length form) and a few of 126..1000 (the
 * 16-bit form), binary and text, back to back.
 */
static void bench_frames(const bench_opts *o, size_t count)
{
    size_t cap = count * (WSIO_FRAME_HEADER_MAX + 1000);
    uint8_t *buf = malloc(cap), *dst = malloc(cap);
    if (!buf || !dst) {
        fprintf(stderr, "codec: out of memory\n");
        exit(1);
    }
    uint64_t s = 12345;
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t r = next_rand(&s);
        wsio_frame_header h = {0};
        h.fin = 1;
        h.opcode = (r & 1) ? WSIO_OP_BINARY : WSIO_OP_TEXT;
        h.masked = 1;
        memcpy(h.mask_key, &r, 4);
        h.payload_len =
            (r >> 8) % 16 == 0 ? 126 + (r >> 16) % 875 : (r >> 16) % 126;
        ssize_t hl = wsio_frame_header_encode(buf + off, &h);
        if (hl < 0) {
            fprintf(stderr, "codec: cannot encode a frame header\n");
            exit(1);
        }
        off += (size_t)hl;
        memset(buf + off, 'x', (size_t)h.payload_len);
        off += (size_t)h.payload_len;
    }
    frames_ctx c = {{buf, dst, off, {0}}, count};
    result op = measure(o, op_decode_frames, &c);
    result mc = measure(o, op_memcpy_frames, &c);
    /* Rates are passes per second: scale to frames and bytes. */
    double per_pass = (double)count;
    op.median *= per_pass;
    op.min *= per_pass;
    op.max *= per_pass;
    char size[32];
    snprintf(size, sizeof size, "%zuKiB", off >> 10);
    print_row("frame header decode", size, op, mc, (double)off / per_pass,
              (double)off, "Mframes/s", 1e6);
    printf("%-28s %7s (%zu frames, mean %.1f bytes each with header)\n", "", "",
           count, (double)off / per_pass);
    free(buf);
    free(dst);
}

static void bench_accept(const bench_opts *o)
{
    accept_ctx *c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "codec: out of memory\n");
        exit(1);
    }
    for (unsigned i = 0; i < 64; i++) {
        uint8_t nonce[16];
        for (unsigned j = 0; j < 16; j++)
            nonce[j] = (uint8_t)(i * 16 + j);
        if (wsio_handshake_make_key(nonce, c->keys[i]) != 0) {
            fprintf(stderr, "codec: wsio_handshake_make_key failed\n");
            exit(1);
        }
    }
    result op = measure(o, op_accept, c);
    result mc = measure(o, op_memcpy_key, c);
    print_row("SHA-1 accept key", "24 B", op, mc, WSIO_HANDSHAKE_KEY_LEN,
              WSIO_HANDSHAKE_KEY_LEN, "Mops/s", 1e6);
    free(c);
}

int main(int argc, char **argv)
{
    bench_opts o = {7, 0.05};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            o.reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
            o.min_s = atof(argv[++i]) / 1000.0;
        } else {
            printf("usage: codec [--reps N (default 7)] "
                   "[--ms MIN_MS_PER_REP (default 50)]\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (o.reps < 1)
        o.reps = 1;

    printf("wsio %s codec micro-benchmarks: median of %d repetitions "
           "(min..max), memcpy over the same bytes\n\n",
           wsio_version(), o.reps);
    printf("%-28s %7s %8s %15s  %16s %8s  %6s\n", "operation", "size", "GB/s",
           "rate", "min..max GB/s", "memcpy", "ratio");

    bench_mask(&o, 1024, 0);
    bench_mask(&o, 1024, 1);
    bench_mask(&o, 1u << 20, 0);
    bench_mask(&o, 1u << 20, 1);

    static const char *const ascii[] = {"a", "b", "c", "d", "e", " ", "1",
                                        "Z", ".", ",", "q", "x", "o", "n"};
    /* Latin-1 supplement and Cyrillic are 2 bytes each in UTF-8. */
    static const char *const mixed[] = {
        "a",        "e",        "r",        " ",        "\xc3\xa9",
        "\xc3\xbc", "\xc3\xa7", "\xd0\xbf", "\xd1\x80", "\xd0\xb8",
        "\xd0\xb2", "\xd0\xb5", "\xd1\x82", ","};
    /* Emoji outside the BMP: 4 bytes each, with a space now and then. */
    static const char *const emoji[] = {"\xf0\x9f\x98\x80", "\xf0\x9f\x9a\x80",
                                        "\xf0\x9f\x91\x8d", "\xf0\x9f\x8e\x89",
                                        "\xf0\x9f\x90\xb1", "\xf0\x9f\x8c\x8d",
                                        "\xf0\x9f\x94\xa5", " "};
    bench_utf8(&o, "utf8 ASCII", ascii, sizeof ascii / sizeof *ascii, 1024);
    bench_utf8(&o, "utf8 ASCII", ascii, sizeof ascii / sizeof *ascii, 1u << 20);
    bench_utf8(&o, "utf8 Latin/Cyrillic mix", mixed,
               sizeof mixed / sizeof *mixed, 1u << 20);
    bench_utf8(&o, "utf8 4-byte emoji", emoji, sizeof emoji / sizeof *emoji,
               1u << 20);

    bench_frames(&o, 10000);
    bench_accept(&o);
    return 0;
}

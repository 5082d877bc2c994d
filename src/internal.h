/*
 * src/internal.h - helpers shared by wsio's source files and never exported.
 *
 * Non-static internal functions take the wsio__ prefix; the library is built
 * with -fvisibility=hidden, so only WSIO_EXTERN declarations leave libwsio.so.
 */
#ifndef WSIO_INTERNAL_H
#define WSIO_INTERNAL_H

#include "wsio/common.h"

#if defined(__GNUC__)
#define WSIO_LIKELY(x) __builtin_expect(!!(x), 1)
#define WSIO_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define WSIO_LIKELY(x) (x)
#define WSIO_UNLIKELY(x) (x)
#endif

/* The struct of type that holds member at ptr (an embedded io, timer or
 * list link back to its owner). */
#define WSIO__CONTAINER_OF(ptr, type, member)                                  \
    ((type *)((char *)(ptr)-offsetof(type, member)))

/* The allocator to use for a wsio_mem argument that may be NULL. */
static inline const wsio_mem *wsio__mem_or_default(const wsio_mem *mem)
{
    return mem ? mem : wsio_mem_default();
}

static inline void *wsio__malloc(const wsio_mem *mem, size_t size)
{
    return mem->malloc(size, mem->user);
}

static inline void *wsio__realloc(const wsio_mem *mem, void *ptr, size_t size)
{
    return mem->realloc(ptr, size, mem->user);
}

static inline void wsio__free(const wsio_mem *mem, void *ptr)
{
    mem->free(ptr, mem->user);
}

struct wsio_conn;
/* Bytes of buffers a connection holds: its assembly buffer, and its
 * output queue when with_output (not the connection itself, nor shared
 * broadcast frames); 0 for an idle one. For the server's memory budget. */
size_t wsio__conn_held_bytes(const struct wsio_conn *c, int with_output);

/* wsio_conn_send_encoded with a tag (non-zero: a topic's id) that
 * wsio__conn_evict can find the frame by later. Same returns. */
int wsio__conn_send_tagged(struct wsio_conn *c, wsio_rcbuf *frame,
                           uint64_t tag);
/* 0 when c would queue an encoded frame now, else the code
 * wsio__conn_send_tagged would return (WSIO_ECLOSED, WSIO_ESTATE). */
int wsio__conn_can_take_encoded(const struct wsio_conn *c);
/*
 * Take queued frames tagged tag (non-zero) back out, oldest first, until at
 * least need bytes are gone or none is left: only whole frames none of
 * whose bytes went out, and none that starts in the first keep unsent bytes
 * (what the transport may hold unreported). Returns how many were removed.
 */
size_t wsio__conn_evict(struct wsio_conn *c, uint64_t tag, size_t need,
                        size_t keep);

/* Stop committing to the first keep unsent output bytes (a transport may
 * hold them unreported): the automatic pong is never rewritten there. */
void wsio__conn_set_output_keep(struct wsio_conn *c, size_t keep);

/* Looking ahead for a pong in bytes not yet fed (a paused wsio_ws reads
 * ahead for its heartbeat): frame headers are walked, payloads skipped,
 * nothing is checked or changed in the connection. */
typedef struct wsio__rx_scan {
    uint64_t skip;   /* payload bytes before a header */
    size_t at;       /* bytes of the input walked */
    uint8_t hdr[14]; /* a header split across calls */
    uint8_t have;    /* bytes in hdr */
    uint8_t lost;    /* unreadable: stop looking */
} wsio__rx_scan;
/* Start s where c's parsing stands (mid-frame, mid-header). */
void wsio__conn_scan_start(const struct wsio_conn *c, wsio__rx_scan *s);
/* Walk in[s->at, len) (in holds the same bytes as at earlier calls, and
 * maybe more): 1 when a pong frame's header is among them, else 0. */
int wsio__conn_scan_pong(wsio__rx_scan *s, const uint8_t *in, size_t len);

/* Write iovs (all, part, or none): the bytes taken, or a negative code. */
typedef ssize_t (*wsio__write_fn)(void *ctx, const wsio_iov *iov, size_t n);

/*
 * Send a whole data message like wsio_conn_send, but without copying it:
 * the output already queued, then the frame's header and data, go to
 * write at once, and only what it did not take is queued (the frame's
 * part copied). When the frame cannot be written directly (client
 * masking, compression) this is wsio_conn_send. *written: bytes write
 * took, queued ones included. Returns 0 or wsio_conn_send's codes. When
 * part of the frame left and the rest cannot be queued, c sends nothing
 * more (WSIO_ECLOSED from then on, no close reported) and WSIO_ENOMEM is
 * returned: the caller must end the connection.
 */
int wsio__conn_send_direct(struct wsio_conn *c, enum wsio_opcode opcode,
                           const void *data, size_t len, wsio__write_fn write,
                           void *ctx, size_t *written);

/* calloc through the hooks, with the multiplication checked for overflow. */
void *wsio__calloc(const wsio_mem *mem, size_t count, size_t size);

/*
 * Fill buf with len bytes from the operating system's random source
 * (getrandom, falling back to /dev/urandom). Returns 0 or WSIO_EINTERNAL.
 */
int wsio__random_bytes(void *buf, size_t len);

#endif /* WSIO_INTERNAL_H */

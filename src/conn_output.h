/*
 * src/conn_output.h - the output queue of a connection (internal).
 *
 * Frames a connection copies (sends, pongs, closes) are appended to one
 * contiguous byte buffer; frames shared by reference (broadcast rcbufs) sit
 * beside it as separate entries, each remembering the buffer offset it was
 * queued at. The bytes leave in exactly the order they were queued:
 *
 *     buf[head, rc[0].at)  rc[0]  buf[rc[0].at, rc[1].at)  rc[1] ... buf[..,
 * len)
 *
 * So the common case (copies only) is one buffer and one iov, with no
 * allocation per message once the buffer has grown: the owner's `first`
 * room, then one of its own. Everything is released when the queue
 * drains, so an idle connection holds no output memory.
 *
 * Invariants: head <= len <= cap; for every pending entry i (rc_head <= i <
 * rc_len), head <= rc[i].at <= rc[i + 1].at <= len; rc_off > 0 only while
 * head == rc[rc_head].at (the host is inside that entry); queued is the sum
 * of unsent bytes, copied and shared.
 */
#ifndef WSIO_CONN_OUTPUT_H
#define WSIO_CONN_OUTPUT_H

#include "internal.h"

typedef struct wsio__outq_rc {
    wsio_rcbuf *buf; /* one reference held by the queue */
    size_t at;       /* queued before buf byte `at` */
    uint64_t tag;    /* who queued it (a topic), for wsio__outq_evict; 0:
                        none */
} wsio__outq_rc;

typedef struct wsio__outq {
    uint8_t *buf;      /* copied frames; NULL when empty */
    size_t cap;        /* bytes allocated at buf */
    size_t len;        /* bytes written at buf */
    size_t head;       /* bytes of buf already consumed */
    wsio__outq_rc *rc; /* shared frames; NULL when none */
    uint32_t rc_cap;   /* entries allocated */
    uint32_t rc_len;   /* entries used */
    uint32_t rc_head;  /* first entry not fully consumed */
    uint8_t over;      /* queued went over high and has not yet fallen to
                          low since */
    uint8_t stalled;   /* the last consume left bytes unsent: the peer
                          is not keeping up */
    size_t rc_off;     /* bytes of rc[rc_head] already consumed */
    size_t queued;     /* unsent bytes in all */
    size_t high, low;  /* marks for `over` (0: off); kept by clear */
    uint64_t commits;  /* frames queued so far; kept by clear, so a frame
                          is known to be the newest by its count */
    uint8_t *first;    /* room of first_cap bytes the owner gives for
                          the copied bytes while they fit (so small output
                          takes no allocation of its own); never freed
                          here, kept by clear */
    size_t first_cap;
} wsio__outq;

/*
 * Room for n more bytes at the end of the copied bytes. Returns a pointer
 * to write them at (made part of the queue by wsio__outq_commit), or NULL
 * when out of memory (the queue is unchanged).
 */
uint8_t *wsio__outq_reserve(wsio__outq *q, const wsio_mem *mem, size_t n);

/* Queue the n bytes just written at the pointer wsio__outq_reserve gave. */
void wsio__outq_commit(wsio__outq *q, size_t n);

/*
 * Queue a shared frame after everything queued so far, taking a reference,
 * with tag (0: none). An empty buffer queues nothing. Returns 0 or
 * WSIO_ENOMEM.
 */
int wsio__outq_push_rc(wsio__outq *q, const wsio_mem *mem, wsio_rcbuf *rc,
                       uint64_t tag);

/*
 * Remove shared frames tagged tag (non-zero), oldest first, until at least
 * need bytes are gone or none is left, and release their references. Only
 * frames not started are taken: none of their bytes consumed, and starting
 * at least keep unsent bytes from the front (bytes a transport may have
 * taken without reporting them yet). Copied frames and other tags' frames
 * never move. Releases all memory when the queue drains. Returns the number
 * of frames removed.
 */
size_t wsio__outq_evict(wsio__outq *q, const wsio_mem *mem, uint64_t tag,
                        size_t need, size_t keep);

/*
 * Take back the newest frame, of n copied bytes, when nothing of it has
 * been consumed and at least keep unsent bytes lie before it (bytes a
 * transport may hold unreported must not change). The caller knows it is
 * the newest by q->commits. Returns 1 when taken back, else 0.
 */
int wsio__outq_untail(wsio__outq *q, size_t n, size_t keep);

/* Up to max iovs describing the unsent bytes in order; returns the count. */
size_t wsio__outq_peek(const wsio__outq *q, wsio_iov *iov, size_t max);

/*
 * Mark the first n unsent bytes as sent (n is clamped to q->queued),
 * dropping shared frames that are done and releasing all memory when the
 * queue drains.
 */
void wsio__outq_consume(wsio__outq *q, const wsio_mem *mem, size_t n);

/* Drop everything queued and release all memory. */
void wsio__outq_clear(wsio__outq *q, const wsio_mem *mem);

#endif /* WSIO_CONN_OUTPUT_H */

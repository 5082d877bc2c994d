/*
 * src/conn_output.c - the output queue of a connection; see conn_output.h.
 */
#include <assert.h>
#include <string.h>

#include "conn_output.h"

/* First allocation of the copy buffer: a few small frames. */
#define OUTQ_MIN_CAP 256
#define OUTQ_MIN_RC 4

/* Slide the unsent copied bytes to the start of the buffer. Offsets of the
 * pending shared entries move with them. */
static void compact(wsio__outq *q)
{
    size_t dead = q->head;
    memmove(q->buf, q->buf + dead, q->len - dead);
    q->len -= dead;
    q->head = 0;
    for (uint32_t i = q->rc_head; i < q->rc_len; i++)
        q->rc[i].at -= dead;
}

uint8_t *wsio__outq_reserve(wsio__outq *q, const wsio_mem *mem, size_t n)
{
    if (n <= q->cap - q->len)
        return q->buf + q->len;
    if (!q->buf && n <= q->first_cap) {
        q->buf = q->first;
        q->cap = q->first_cap;
        return q->buf;
    }
    /* Reuse consumed space when it is at least as large as what is still
     * unsent, so each byte is moved a bounded number of times. */
    if (q->head > 0 && q->head >= q->len - q->head) {
        compact(q);
        if (n <= q->cap - q->len)
            return q->buf + q->len;
    }
    if (n > SIZE_MAX / 2 - q->len)
        return NULL;
    size_t need = q->len + n;
    size_t cap = q->cap ? q->cap * 2 : OUTQ_MIN_CAP;
    if (cap < need)
        cap = need;
    int moving = q->buf && q->buf == q->first; /* out of the owner's room */
    uint8_t *p = wsio__realloc(mem, moving ? NULL : q->buf, cap);
    if (!p)
        return NULL;
    if (moving)
        memcpy(p, q->buf, q->len);
    q->buf = p;
    q->cap = cap;
    return q->buf + q->len;
}

/* Hysteresis of the marks: over from above high until back at low. */
static void note_level(wsio__outq *q)
{
    if (q->high && q->queued > q->high)
        q->over = 1;
    else if (q->queued <= q->low)
        q->over = 0;
}

void wsio__outq_commit(wsio__outq *q, size_t n)
{
    q->len += n;
    q->queued += n;
    q->commits++;
    note_level(q);
}

int wsio__outq_untail(wsio__outq *q, size_t n, size_t keep)
{
    if (q->len - q->head < n || q->queued - n < keep)
        return 0; /* partly consumed, or too near the front */
    q->len -= n;
    q->queued -= n;
    note_level(q);
    return 1;
}

int wsio__outq_push_rc(wsio__outq *q, const wsio_mem *mem, wsio_rcbuf *rc,
                       uint64_t tag)
{
    if (rc->len == 0)
        return 0;
    if (q->rc_len == q->rc_cap && q->rc_head > 0) {
        q->rc_len -= q->rc_head;
        memmove(q->rc, q->rc + q->rc_head, q->rc_len * sizeof *q->rc);
        q->rc_head = 0;
    }
    if (q->rc_len == q->rc_cap) {
        if (q->rc_cap > UINT32_MAX / 2)
            return WSIO_ENOMEM;
        uint32_t cap = q->rc_cap ? q->rc_cap * 2 : OUTQ_MIN_RC;
        wsio__outq_rc *p = wsio__realloc(mem, q->rc, cap * sizeof *p);
        if (!p)
            return WSIO_ENOMEM;
        q->rc = p;
        q->rc_cap = cap;
    }
    q->rc[q->rc_len].buf = wsio_rcbuf_ref(rc);
    q->rc[q->rc_len].at = q->len;
    q->rc[q->rc_len].tag = tag;
    q->rc_len++;
    q->queued += rc->len;
    q->commits++;
    note_level(q);
    return 0;
}

size_t wsio__outq_evict(wsio__outq *q, const wsio_mem *mem, uint64_t tag,
                        size_t need, size_t keep)
{
    assert(tag != 0);
    size_t gone = 0, removed = 0;
    size_t pos = 0; /* unsent bytes before entry i, as queued */
    size_t at = q->head;
    uint32_t kept = q->rc_head;
    /* One pass: the entries that stay slide down over the removed ones.
     * Offsets into buf do not change, so the order of everything left is
     * kept. */
    for (uint32_t i = q->rc_head; i < q->rc_len; i++) {
        wsio__outq_rc e = q->rc[i];
        size_t off = i == q->rc_head ? q->rc_off : 0;
        pos += e.at - at;
        at = e.at;
        int take = gone < need && e.tag == tag && off == 0 && pos >= keep;
        pos += e.buf->len - off;
        if (take) {
            gone += e.buf->len;
            removed++;
            wsio_rcbuf_unref(e.buf);
        } else {
            q->rc[kept++] = e;
        }
    }
    q->rc_len = kept;
    q->queued -= gone;
    note_level(q);
    if (q->queued == 0)
        wsio__outq_clear(q, mem);
    return removed;
}

size_t wsio__outq_peek(const wsio__outq *q, wsio_iov *iov, size_t max)
{
    size_t n = 0, at = q->head;
    for (uint32_t i = q->rc_head; i < q->rc_len && n < max; i++) {
        const wsio__outq_rc *e = &q->rc[i];
        if (e->at > at) {
            iov[n].base = q->buf + at;
            iov[n].len = e->at - at;
            at = e->at;
            if (++n == max)
                return n;
        }
        size_t off = i == q->rc_head ? q->rc_off : 0;
        iov[n].base = e->buf->data + off;
        iov[n].len = e->buf->len - off;
        n++;
    }
    if (n < max && q->len > at) {
        iov[n].base = q->buf + at;
        iov[n].len = q->len - at;
        n++;
    }
    return n;
}

/* Consume up to n bytes of the first piece (a run of copied bytes or one
 * shared entry); returns how many. */
static size_t consume_piece(wsio__outq *q, size_t n)
{
    if (q->rc_head < q->rc_len && q->rc[q->rc_head].at == q->head) {
        wsio_rcbuf *rc = q->rc[q->rc_head].buf;
        size_t left = rc->len - q->rc_off;
        if (n < left) {
            q->rc_off += n;
            return n;
        }
        wsio_rcbuf_unref(rc);
        q->rc_head++;
        q->rc_off = 0;
        return left;
    }
    size_t end = q->rc_head < q->rc_len ? q->rc[q->rc_head].at : q->len;
    size_t take = end - q->head < n ? end - q->head : n;
    q->head += take;
    return take;
}

void wsio__outq_consume(wsio__outq *q, const wsio_mem *mem, size_t n)
{
    if (n > q->queued)
        n = q->queued;
    while (n > 0) {
        size_t k = consume_piece(q, n);
        n -= k;
        q->queued -= k;
    }
    q->stalled = q->queued > 0;
    note_level(q);
    if (q->queued == 0)
        wsio__outq_clear(q, mem);
}

void wsio__outq_clear(wsio__outq *q, const wsio_mem *mem)
{
    for (uint32_t i = q->rc_head; i < q->rc_len; i++)
        wsio_rcbuf_unref(q->rc[i].buf);
    wsio__free(mem, q->rc);
    if (q->buf != q->first)
        wsio__free(mem, q->buf);
    wsio__outq keep = *q;
    memset(q, 0, sizeof *q);
    q->high = keep.high;
    q->low = keep.low;
    q->commits = keep.commits;
    q->first = keep.first;
    q->first_cap = keep.first_cap;
}

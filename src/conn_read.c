/*
 * src/conn_read.c - the receive path of a connection (conn.c): frame
 * headers, payload unmasking, fragment assembly, decoding, UTF-8 checks and
 * the control frames (RFC 6455 sections 5.2-5.5); the scheme is described
 * at the top of conn.c.
 */
#include <string.h>

#include "conn_shared.h"

/* ---- receiving ---------------------------------------------------------- */

/* What a callback's return means for the reading loop. */
static int after_callback(wsio_conn *c, int rc, uint64_t offset)
{
    if (c->freed)
        return STOP;
    if (rc < 0)
        return wsio__conn_fail(c, rc, offset);
    if (c->state == WSIO_CONN_CLOSED)
        return STOP; /* the callback aborted */
    return rc == WSIO_PAUSE ? WSIO_PAUSE : 0;
}

/* Make room for need bytes at rbuf. need never exceeds the limits already
 * checked on the header, plus one control payload. */
static int rbuf_reserve(wsio_conn *c, size_t need)
{
    if (need <= c->rx->rcap)
        return 0;
    size_t cap = c->rx->rcap ? c->rx->rcap * 2 : RBUF_MIN;
    size_t limit = c->env->cfg->max_message_size;
    limit += limit <= SIZE_MAX - WSIO_CONTROL_PAYLOAD_MAX
                 ? WSIO_CONTROL_PAYLOAD_MAX
                 : 0;
    if (cap > limit || cap < c->rx->rcap)
        cap = limit;
    if (cap < need)
        cap = need;
    uint8_t *p = wsio__realloc(c->env->mem, c->rx->rbuf, cap);
    if (!p)
        return WSIO_ENOMEM;
    c->rx->rbuf = p;
    c->rx->rcap = cap;
    return 0;
}

/* Unmask in place when the peer masked. */
static void unmask(const wsio_conn *c, uint8_t *p, size_t n, uint64_t at)
{
    if (c->rx->fh.masked && n > 0)
        wsio_mask(p, n, c->rx->fh.mask_key, at);
}

/* Copy payload bytes to dst, unmasking on the way. */
static void copy_payload(const wsio_conn *c, uint8_t *dst, const uint8_t *p,
                         size_t n, uint64_t at)
{
    if (n == 0)
        return;
    if (c->rx->fh.masked)
        wsio_mask_copy(dst, p, n, c->rx->fh.mask_key, at);
    else
        memcpy(dst, p, n);
}

static void end_message(wsio_conn *c)
{
    c->rx->msg_opcode = 0;
    c->msg_compressed = 0;
    c->rx->msg_out = 0;
    c->rx->msg_len = 0;
    c->rx->msg_frags = 0;
    c->rx->msg_charged = 0;
    c->rx->rlen = 0;
}

/* Section 8.1: text must be UTF-8; check each run as it arrives, and that
 * the message does not end inside a character. */
static int check_text(wsio_conn *c, const uint8_t *data, size_t n, int end,
                      uint64_t offset)
{
    size_t bad = 0;
    if (wsio_utf8_feed(&c->rx->rx_utf8, data, n, &bad))
        return wsio__conn_fail(c, WSIO_EUTF8, offset + bad);
    if (end && wsio_utf8_finish(&c->rx->rx_utf8))
        return wsio__conn_fail(c, WSIO_EUTF8, offset + n);
    return 0;
}

static int deliver_piece(wsio_conn *c, const uint8_t *data, size_t n, int end,
                         uint64_t offset)
{
    if (n == 0 && !end)
        return 0; /* pieces follow bytes, not frames */
    wsio_fragment f;
    f.opcode = (enum wsio_opcode)c->rx->msg_opcode;
    f.data = data;
    f.len = n;
    f.first = c->msg_first;
    f.last = end;
    c->msg_first = 0;
    if (end)
        end_message(c);
    return after_callback(c, c->env->cb->on_fragment(c, &f, c->user), offset);
}

/* Deliver a whole message: data[0, len) is borrowed until the callback
 * returns (rbuf stays allocated until feed returns). */
static int deliver_message(wsio_conn *c, const uint8_t *data, size_t len,
                           uint64_t offset)
{
    wsio_message m;
    m.opcode = (enum wsio_opcode)c->rx->msg_opcode;
    m.data = data ? (const void *)data : "";
    m.len = len;
    end_message(c);
    if (!c->env->cb->on_message)
        return 0;
    return after_callback(c, c->env->cb->on_message(c, &m, c->user), offset);
}

/* Where the codec may write next, and how much: the receive buffer (after
 * the message so far, or from its start for a streaming host), at most
 * what max_message_size still allows plus one byte, so that going over
 * is seen after the least output. */
static int decode_room(wsio_conn *c, uint8_t **out, size_t *room)
{
    size_t allowed = c->env->cfg->max_message_size - c->rx->msg_out;
    size_t want = allowed < DECODE_CHUNK ? allowed + 1 : DECODE_CHUNK;
    size_t at = c->env->cb->on_fragment ? 0 : c->rx->rlen;
    int err = rbuf_reserve(c, at + want);
    if (err)
        return err;
    *out = c->rx->rbuf + at;
    *room = allowed >= c->rx->rcap - at ? c->rx->rcap - at : allowed + 1;
    return 0;
}

/* n payload bytes of a compressed message (RFC 7692 section 7.2.2): decode
 * them in bounded chunks, checking size and UTF-8 as the output appears. */
static int read_compressed(wsio_conn *c, uint8_t *p, size_t n, uint64_t at,
                           int last, uint64_t offset)
{
    int end = last && c->rx->fh.fin;
    unmask(c, p, n, at);
    c->rx->msg_len += n;
    const uint8_t *in = p;
    size_t left = n;
    int paused = 0;
    for (;;) {
        uint8_t *out;
        size_t room;
        int err = decode_room(c, &out, &room);
        if (err)
            return wsio__conn_fail(c, err, offset);
        size_t before = left;
        ssize_t got =
            c->codec->ops->decode(c->codec->state, &in, &left, end, out, room);
        uint64_t here = offset + (n - left);
        if (got < 0)
            return wsio__conn_fail(c, (int)got, here);
        if ((size_t)got > room || (got == 0 && left > 0 && left == before))
            return wsio__conn_fail(c, WSIO_EINTERNAL,
                                   here); /* a codec that stalls */
        if ((size_t)got > c->env->cfg->max_message_size - c->rx->msg_out)
            return wsio__conn_fail(c, WSIO_ETOOBIG, here);
        c->rx->msg_out += (size_t)got;
        if (c->rx->msg_opcode == WSIO_OP_TEXT) {
            err = check_text(c, out, (size_t)got, 0, here);
            if (err)
                return err;
        }
        if (c->env->cb->on_fragment) {
            /* A pause takes effect once this input is decoded. */
            int rc = deliver_piece(c, out, (size_t)got, 0, here);
            if (rc < 0 || rc == STOP)
                return rc;
            paused |= rc == WSIO_PAUSE;
        } else {
            c->rx->rlen += (size_t)got;
        }
        if ((size_t)got < room && left == 0)
            break;
    }
    if (!end)
        return paused ? WSIO_PAUSE : 0;
    uint64_t here = offset + n;
    if (c->rx->msg_opcode == WSIO_OP_TEXT) {
        int err = check_text(c, (const uint8_t *)"", 0, 1, here);
        if (err)
            return err;
    }
    if (c->env->cb->on_fragment) {
        int rc = deliver_piece(c, (const uint8_t *)"", 0, 1, here);
        return rc == 0 && paused ? WSIO_PAUSE : rc;
    }
    return deliver_message(c, c->rx->rbuf, c->rx->rlen, here);
}

/* n payload bytes of a data frame at p, starting at payload offset at;
 * last when they end the frame. offset is the stream offset of p. */
static int read_data(wsio_conn *c, uint8_t *p, size_t n, uint64_t at, int last,
                     uint64_t offset)
{
    if (c->msg_compressed)
        return read_compressed(c, p, n, at, last, offset);
    int end = last && c->rx->fh.fin;
    /* Zero copy when the message's bytes are all here in one piece, or
     * when the host streams. */
    int in_place =
        c->env->cb->on_fragment || (end && at == 0 && c->rx->msg_len == 0);
    uint8_t *data = p;
    if (in_place) {
        unmask(c, p, n, at);
    } else if (n > 0) {
        /* Room for what arrived, not for what the header announces: a
         * peer must send the bytes it makes us hold. */
        int err = rbuf_reserve(c, c->rx->rlen + n);
        if (err)
            return wsio__conn_fail(c, err, offset);
        data = c->rx->rbuf + c->rx->rlen;
        copy_payload(c, data, p, n, at);
        c->rx->rlen += n;
    }
    c->rx->msg_len += n;
    if (c->rx->msg_opcode == WSIO_OP_TEXT) {
        int err = check_text(c, data, n, end, offset);
        if (err)
            return err;
    }
    if (c->env->cb->on_fragment)
        return deliver_piece(c, data, n, end, offset + n);
    if (!end)
        return 0;
    if (in_place || !c->rx->rbuf)
        return deliver_message(c, p, n, offset + n);
    return deliver_message(c, c->rx->rbuf, c->rx->rlen, offset + n);
}

static int read_ping(wsio_conn *c, const uint8_t *data, size_t len,
                     uint64_t offset)
{
    /* Section 5.5.2: answer with a pong carrying the same payload. Section
     * 5.5.3 allows answering only the latest of several pings: while the
     * peer is not keeping up with our output, a pong of ours still waiting
     * at the end of the queue is replaced, so a peer that pings without
     * reading makes us hold one pong, not one per ping. A peer that reads
     * gets every pong. */
    if (c->env->cfg->auto_pong) {
        wsio__conn_tx *tx = c->tx;
        if (tx && tx->out.stalled && tx->pong_commit == tx->out.commits &&
            tx->pong_size)
            (void)wsio__outq_untail(&tx->out, tx->pong_size, c->out_keep);
        int err = wsio__conn_queue_frame(c, WSIO_OP_PONG, 1, data, len);
        if (err)
            return wsio__conn_fail(c, err, offset);
        c->tx->pong_commit = c->tx->out.commits;
        c->tx->pong_size =
            (uint8_t)(wsio_frame_header_size(len, c->role == WSIO_ROLE_CLIENT) +
                      len);
    }
    if (!c->env->cb->on_ping)
        return 0;
    wsio_control ping = {data, len};
    return after_callback(c, c->env->cb->on_ping(c, &ping, c->user),
                          offset + len);
}

static int read_pong(wsio_conn *c, const uint8_t *data, size_t len,
                     uint64_t offset)
{
    /* Section 5.5.3: a pong may be unsolicited; it needs no answer. */
    if (!c->env->cb->on_pong)
        return 0;
    wsio_control pong = {data, len};
    return after_callback(c, c->env->cb->on_pong(c, &pong, c->user),
                          offset + len);
}

/* The peer's close frame (sections 5.5.1, 7.1.5, 7.4). */
static int read_close(wsio_conn *c, const uint8_t *data, size_t len,
                      uint64_t offset)
{
    unsigned code = WSIO_CLOSE_NO_STATUS;
    const char *reason = "";
    size_t reason_len = 0;
    if (len >= 2) {
        code = (unsigned)data[0] << 8 | data[1];
        if (!wsio_close_code_is_valid(code))
            return wsio__conn_fail(c, WSIO_ECLOSECODE, offset);
        reason = (const char *)data + 2;
        reason_len = len - 2;
        wsio_utf8 utf8;
        size_t bad = reason_len;
        wsio_utf8_init(&utf8);
        if (wsio_utf8_feed(&utf8, reason, reason_len, &bad) ||
            wsio_utf8_finish(&utf8))
            return wsio__conn_fail(c, WSIO_EUTF8, offset + 2 + bad);
    }
    int by_peer = !c->close_sent;
    if (by_peer) {
        /* Section 5.5.1: reply with a close frame, echoing the code. */
        int err = wsio__conn_queue_close(c, len >= 2 ? code : 0, NULL, 0);
        if (err)
            return wsio__conn_fail(c, err, offset);
    }
    c->state = WSIO_CONN_CLOSED;
    wsio__conn_report_close(c, code, reason, reason_len, by_peer, 1, 0);
    return STOP;
}

/* n payload bytes of a control frame; see read_data. */
static int read_control(wsio_conn *c, uint8_t *p, size_t n, uint64_t at,
                        int last, uint64_t offset)
{
    size_t len = (size_t)c->rx->fh.payload_len; /* <= 125, checked */
    const uint8_t *data = p;
    if (at == 0 && last) {
        unmask(c, p, n, 0);
    } else {
        /* Split between inputs: gather it after the message bytes. */
        int err = rbuf_reserve(c, c->rx->rlen + len);
        if (err)
            return wsio__conn_fail(c, err, offset);
        copy_payload(c, c->rx->rbuf + c->rx->rlen + at, p, n, at);
        if (!last)
            return 0;
        data = c->rx->rbuf + c->rx->rlen;
    }
    uint64_t start = offset + n - len; /* stream offset of the payload */
    switch (c->rx->fh.opcode) {
    case WSIO_OP_PING:
        return read_ping(c, data, len, start);
    case WSIO_OP_PONG:
        return read_pong(c, data, len, start);
    default:
        return read_close(c, data, len, start);
    }
}

/* n payload bytes of the current frame, at p (stream offset offset). */
static int read_payload(wsio_conn *c, uint8_t *p, size_t n, uint64_t offset)
{
    uint64_t at = c->rx->frame_pos;
    c->rx->frame_pos += n;
    int last = c->rx->frame_pos == c->rx->fh.payload_len;
    if (last)
        c->rx_in_frame = 0;
    if (c->rx->fh.opcode & 0x8u)
        return read_control(c, p, n, at, last, offset);
    return read_data(c, p, n, at, last, offset);
}

/* The most payload bytes one message may take on the wire. A compressed
 * one may exceed max_message_size by deflate's expansion of incompressible
 * data (5 bytes per stored block; zlib at a small memLevel ends a block
 * every 1 KiB of input or less, and with 9- or 10-bit windows grows such
 * data by up to 6%), so that a message that inflates to exactly the limit
 * is accepted; what it inflates to is held to the limit itself
 * (read_compressed). */
static size_t wire_limit(const wsio_conn *c, int compressed)
{
    size_t limit = c->env->cfg->max_message_size;
    size_t slack = (limit >> 4) + 64;
    if (!compressed)
        return limit;
    return limit <= SIZE_MAX - slack ? limit + slack : SIZE_MAX;
}

/* Section 5.4 order and the configured limits, for a data frame's header.
 * Nothing is allocated before this passes. */
static int start_data_frame(wsio_conn *c)
{
    const wsio_frame_header *h = &c->rx->fh;
    int cont = h->opcode == WSIO_OP_CONTINUATION;
    if (cont && !c->rx->msg_opcode)
        return WSIO_ECONTINUATION;
    if (!cont && c->rx->msg_opcode)
        return WSIO_EFRAGMENT;
    size_t so_far = cont ? c->rx->msg_len : 0;
    size_t frags = cont ? c->rx->msg_frags : 0;
    size_t charged = cont ? c->rx->msg_charged : 0;
    int compressed =
        cont ? c->msg_compressed : c->codec && (h->rsv & WSIO_RSV1);
    size_t limit = wire_limit(c, compressed);
    if (h->payload_len > c->env->cfg->max_frame_size ||
        h->payload_len > limit - so_far)
        return WSIO_ETOOBIG;
    /* A continuation is charged its payload, and at least FRAME_CHARGE:
     * tiny or empty fragments use up the message's budget too. */
    size_t charge = (size_t)h->payload_len;
    if (cont && charge < FRAME_CHARGE)
        charge = FRAME_CHARGE;
    size_t budget = limit > CHARGE_BUDGET_MIN ? limit : CHARGE_BUDGET_MIN;
    if (charge > budget - charged ||
        (c->env->cfg->max_fragments && frags >= c->env->cfg->max_fragments))
        return WSIO_ETOOMANYFRAGS;
    if (!cont) {
        c->rx->msg_opcode = h->opcode;
        c->msg_compressed = (uint8_t)compressed;
        c->rx->msg_len = 0;
        c->msg_first = 1;
        wsio_utf8_init(&c->rx->rx_utf8);
    }
    c->rx->msg_frags = frags + 1;
    c->rx->msg_charged = charged + charge;
    return 0;
}

/* A whole header is in c->rx->fh; p is where its payload starts, offset the
 * stream offset of the header's first byte. */
static int start_frame(wsio_conn *c, uint8_t *p, uint64_t offset)
{
    const wsio_frame_header *h = &c->rx->fh;
    int err =
        wsio_frame_header_check(h, (enum wsio_role)c->role, c->allowed_rsv);
    /* RFC 7692 section 6.1: RSV1 marks a compressed message on its first
     * frame only, never on a continuation or a control frame. */
    if (!err && c->codec && (h->rsv & WSIO_RSV1) &&
        ((h->opcode & 0x8u) || h->opcode == WSIO_OP_CONTINUATION))
        err = WSIO_ERSV;
    if (!err && h->opcode == WSIO_OP_CLOSE && h->payload_len == 1)
        err = WSIO_ECLOSEPAYLOAD; /* section 5.5.1: a code is 2 bytes */
    if (!err && !(h->opcode & 0x8u))
        err = start_data_frame(c);
    if (err)
        return wsio__conn_fail(c, err, offset);
    c->rx->frame_pos = 0;
    c->rx_in_frame = h->payload_len > 0;
    if (h->payload_len > 0)
        return 0;
    return read_payload(c, p, 0, offset + h->header_len);
}

/*
 * Take header bytes from in: sets *done when c->rx->fh holds a whole header.
 * Returns the bytes used, or a negative code.
 */
static ssize_t read_header(wsio_conn *c, const uint8_t *in, size_t len,
                           int *done)
{
    size_t have = c->rx->hdr_have;
    ssize_t r;
    size_t take;
    if (have == 0) {
        /* Fast path: the header is decoded where it lies. */
        r = wsio_frame_header_decode(in, len, &c->rx->fh);
        take = len; /* when incomplete, all of it is header */
    } else {
        take = sizeof c->rx->hdr - have;
        if (take > len)
            take = len;
        memcpy(c->rx->hdr + have, in, take);
        r = wsio_frame_header_decode(c->rx->hdr, have + take, &c->rx->fh);
    }
    if (r == WSIO_EAGAIN) {
        if (have == 0)
            memcpy(c->rx->hdr, in, len);
        c->rx->hdr_have = (uint8_t)(have + take);
        *done = 0;
        return (ssize_t)take;
    }
    if (r < 0)
        return r;
    c->rx->hdr_have = 0;
    *done = 1;
    return r - (ssize_t)have;
}

static ssize_t read_frames(wsio_conn *c, uint8_t *in, size_t len)
{
    size_t pos = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        uint64_t offset = c->rx_offset + pos;
        /* Our output is over its high-water mark: no next frame until the
         * peer has read some of it (wsio_conn_set_output_marks). */
        if (!c->rx_in_frame && c->rx->hdr_have == 0 && c->tx && c->tx->out.over)
            break;
        if (c->rx_in_frame) {
            uint64_t left = c->rx->fh.payload_len - c->rx->frame_pos;
            size_t n = left < len - pos ? (size_t)left : len - pos;
            rc = read_payload(c, in + pos, n, offset);
            pos += n;
        } else {
            int done = 0;
            ssize_t used = read_header(c, in + pos, len - pos, &done);
            if (used < 0)
                return wsio__conn_fail(c, (int)used, offset - c->rx->hdr_have);
            pos += (size_t)used;
            if (done)
                rc = start_frame(c, in + pos,
                                 c->rx_offset + pos - c->rx->fh.header_len);
        }
    }
    if (rc < 0)
        return rc;
    return (ssize_t)pos;
}

void wsio__conn_scan_start(const wsio_conn *c, wsio__rx_scan *s)
{
    memset(s, 0, sizeof *s);
    if (!c->rx)
        return; /* between frames */
    if (c->rx_in_frame)
        s->skip = c->rx->fh.payload_len - c->rx->frame_pos;
    memcpy(s->hdr, c->rx->hdr, c->rx->hdr_have);
    s->have = c->rx->hdr_have;
}

int wsio__conn_scan_pong(wsio__rx_scan *s, const uint8_t *in, size_t len)
{
    int found = 0;
    while (s->at < len && !s->lost) {
        size_t left = len - s->at;
        if (s->skip) {
            size_t n = s->skip < left ? (size_t)s->skip : left;
            s->at += n;
            s->skip -= n;
            continue;
        }
        size_t take = sizeof s->hdr - s->have;
        take = take < left ? take : left;
        memcpy(s->hdr + s->have, in + s->at, take);
        wsio_frame_header h;
        ssize_t r = wsio_frame_header_decode(s->hdr, s->have + take, &h);
        if (r == WSIO_EAGAIN) { /* all of in is header: wait for more */
            s->have = (uint8_t)(s->have + take);
            s->at = len;
            break;
        }
        if (r < 0) {
            s->lost = 1; /* the connection fails on it when fed */
            break;
        }
        s->at += (size_t)r - s->have;
        s->have = 0;
        s->skip = h.payload_len;
        found |= h.opcode == WSIO_OP_PONG;
    }
    return found;
}

/* Nothing of a frame, header or message waits for more input, or nothing
 * ever will: the receive state is not needed after this feed. */
static int rx_done(const wsio_conn *c)
{
    return c->state == WSIO_CONN_CLOSED || c->freed ||
           (!c->rx_in_frame && c->rx->hdr_have == 0 && c->rx->msg_opcode == 0);
}

/* At the end of a feed that ran on the stack copy at local and ends
 * inside a header, a frame or a message: keep the receive state in a block
 * of its own. Still inside the feed (in_feed), so that a callback run
 * meanwhile (a memory budget shedding this connection, on_close) leaves
 * the copy alone. Without memory for it the connection fails (1011), as
 * when a buffer cannot grow. */
static int keep_rx(wsio_conn *c, const wsio__conn_rx *local)
{
    wsio__conn_rx *rx = wsio__malloc(c->env->mem, sizeof *rx);
    if (!rx)
        return wsio__conn_fail(c, WSIO_ENOMEM, c->rx_offset);
    *rx = *local;
    c->rx = rx;
    return 0;
}

ssize_t wsio_conn_feed(wsio_conn *c, void *in, size_t len)
{
    if (c->err)
        return c->err;
    if (c->state == WSIO_CONN_CLOSED)
        return WSIO_ECLOSED;
    if (c->in_feed || (len > 0 && !in))
        return c->in_feed ? WSIO_ESTATE : WSIO_EINVAL;
    wsio__conn_enter(c);
    c->in_feed = 1;
    /* Between frames there is no receive state to keep: work on a copy
     * here, so whole frames need no block. */
    wsio__conn_rx local;
    if (!c->rx) {
        memset(&local, 0, sizeof local);
        c->rx = &local;
    }
    ssize_t r = read_frames(c, in, len);
    if (r > 0 && !c->err) /* once failed, rx_offset says where */
        c->rx_offset += (uint64_t)r;
    if (!rx_done(c) && c->rx == &local) {
        int err = keep_rx(c, &local);
        if (err)
            r = err;
    }
    c->in_feed = 0;
    /* Between messages (or once closed or freed) nothing needs the
     * receive state or buffer: give them back, so an idle connection holds
     * none. A message or control frame split across inputs keeps the
     * buffer until a later feed ends it. */
    if (rx_done(c)) {
        if (c->rx == &local) {
            wsio__free(c->env->mem, local.rbuf);
            c->rx = NULL;
        } else {
            wsio__conn_release_rx(c);
        }
    } else if (c->rx->rlen == 0 &&
               !(c->rx_in_frame && (c->rx->fh.opcode & 0x8u) &&
                 c->rx->frame_pos > 0)) {
        wsio__free(c->env->mem, c->rx->rbuf);
        c->rx->rbuf = NULL;
        c->rx->rcap = 0;
    }
    wsio__conn_leave(c);
    return r;
}

/*
 * src/conn_shared.h - what conn.c, conn_send.c and conn_read.c share: the
 * wsio_conn struct, its limits and the functions one file calls in another
 * (internal, conn layer only).
 */
#ifndef WSIO_CONN_SHARED_H
#define WSIO_CONN_SHARED_H

#include "conn_internal.h"
#include "conn_output.h"
#include "internal.h"
#include "wsio/conn.h"

/* OS random bytes drawn at once for client masking keys: one system call
 * serves 16 frames. */
#define MASK_POOL 64
/* Bytes of output the send side's block holds itself: a few small frames
 * (queued output beyond them moves to a buffer of its own). */
#define TX_FIRST 256
/* Smallest receive buffer worth allocating. */
#define RBUF_MIN 256
/* Largest close reason: 125 bytes of control payload minus the code. */
#define CLOSE_REASON_MAX (WSIO_CONTROL_PAYLOAD_MAX - 2)
/* Internal result of an event: stop reading (the connection closed or was
 * freed). Distinct from 0 (go on), WSIO_PAUSE and negative codes. */
#define STOP 2
/* The least a continuation frame is charged against max_message_size: a
 * message's frames cost CPU whatever their payload, so the limit also
 * bounds how many there are (docs/limits.md). */
#define FRAME_CHARGE 64
/* What the charges of one message may add up to at least, whatever
 * max_message_size: 1024 tiny fragments are always accepted. */
#define CHARGE_BUDGET_MIN (FRAME_CHARGE * 1024)
/* Most bytes decoded per codec call (the receive buffer grows by at most
 * this much at a time, and a streaming host gets pieces of this size). */
#define DECODE_CHUNK 16384

/*
 * Invariants: state only moves forward (OPEN -> CLOSING -> CLOSED or OPEN
 * -> CLOSED); close_sent once a close frame is queued, after which only
 * pongs are; err != 0 implies state CLOSED; rx->msg_opcode != 0 exactly
 * while a received message is in progress, and then msg_len <=
 * max_message_size, msg_charged within its budget and rbuf[0, rlen) holds
 * its bytes when it is being assembled; rlen <= rcap; outside a feed, rx is
 * NULL or its own block, and NULL whenever nothing is in progress.
 */
/*
 * What the receive side keeps between inputs only while a frame or a
 * message is split between them. A feed works on a copy on its own stack
 * and moves it into a block of its own (from mem) only when it ends in the
 * middle of a frame, header or message; the block goes back when a later
 * feed ends between messages. So an idle connection holds a pointer, and a
 * feed of whole frames allocates nothing.
 */
typedef struct wsio__conn_rx {
    uint64_t frame_pos;   /* payload bytes of the current frame read */
    wsio_frame_header fh; /* the frame being read, while rx_in_frame */
    size_t msg_len;       /* payload bytes of the message so far */
    size_t msg_frags;     /* its frames so far, empty ones included */
    size_t msg_charged;   /* its frames' charges (FRAME_CHARGE) */
    uint8_t *rbuf;        /* assembly buffer, or NULL */
    size_t rcap;          /* bytes allocated at rbuf */
    size_t rlen;          /* message bytes assembled at rbuf */
    size_t msg_out;       /* compressed message: bytes decoded so far */
    wsio_utf8 rx_utf8;    /* over the text message being received */
    uint8_t hdr[WSIO_FRAME_HEADER_MAX]; /* a header split between inputs */
    uint8_t hdr_have;                   /* bytes of it in hdr */
    uint8_t msg_opcode;                 /* TEXT or BINARY in progress, or 0 */
} wsio__conn_rx;

/*
 * What the send side keeps only while it is needed: output waiting, a
 * fragmented message being sent, or output marks of the connection's own
 * (wsio_conn_set_output_marks). Made from the env's mem when the first
 * byte is queued or a fragmented send begins (wsio__conn_tx_make), given
 * back when none of that is left (wsio__conn_tx_settle): the receive
 * side's rx, for the other direction. An idle connection holds a pointer.
 */
typedef struct wsio__conn_tx {
    wsio__outq out;          /* its marks: the env's, or the connection's own */
    uint64_t pong_commit;    /* out.commits when the last automatic pong
                                was queued; with pong_size 0, none is */
    wsio_utf8 tx_utf8;       /* over the fragmented text being sent */
    uint8_t pong_size;       /* that pong frame's bytes (a control frame:
                                at most 6 + 125) */
    uint8_t tx_opcode;       /* fragmented message being sent, or 0 */
    uint8_t first[TX_FIRST]; /* out's first room: small output is this
                                one block */
} wsio__conn_tx;

struct wsio_conn {
    /* Settings, shared by every connection of a server or client
     * (wsio__conn_new_shared), or the copy wsio_conn_new keeps after the
     * struct. Never written through: what one connection changes is its
     * own (allowed_rsv, own_marks). */
    const wsio__conn_env *env;
    void *user;

    /* Receive side. */
    uint64_t rx_offset; /* bytes consumed by earlier feeds; once err is
                           set, the stream offset of the byte that
                           failed it (no feed runs after) */
    wsio__conn_rx *rx;  /* while a frame or message is split between
                           inputs, else NULL (inside a feed: feed's own) */
    wsio_codec *codec;  /* message codec (a block of its own), or NULL */

    /* Send side. */
    wsio__conn_tx *tx; /* while output waits or a fragmented message is
                          being sent, else NULL */
    int err;           /* sticky failure code, or 0 */
    uint16_t out_keep; /* unsent front bytes never rewritten (at most
                          WSIO__TRANSPORT_HELD_MAX) */
    uint8_t pool_left; /* unused bytes at the end of pool */

    uint8_t role;        /* enum wsio_role */
    uint8_t state;       /* enum wsio_conn_state */
    uint8_t depth;       /* nesting of feed and abort calls */
    uint8_t allowed_rsv; /* cfg's, plus RSV1 with a codec */
    /* Flags, one bit each: every connection holds them. */
    _Bool rx_in_frame : 1;    /* payload bytes of fh are still to come */
    _Bool msg_first : 1;      /* streaming: the next piece is the first */
    _Bool msg_compressed : 1; /* the message in progress had RSV1 */
    _Bool close_sent : 1;     /* a close frame is queued */
    _Bool close_reported : 1; /* on_close was called */
    _Bool in_feed : 1;        /* inside wsio_conn_feed (no re-entry) */
    _Bool freed : 1;          /* wsio_conn_free ran inside a callback */
    _Bool owns_memory : 1;    /* the struct came from mem (wsio_conn_new),
                                 else it is the caller's */
    _Bool own_marks : 1;      /* tx holds marks other than the env's:
                                 it stays */
    uint8_t pool[];           /* client masking keys, drawn in bulk:
                                 MASK_POOL bytes, allocated for a client
                                 only (a server never masks) */
};

/* Give back the receive buffer and the receive state's block (conn.c);
 * never inside a feed. */
void wsio__conn_release_rx(wsio_conn *c);

/* The send side's block, made now if there is none (its marks the env's);
 * NULL when out of memory. */
wsio__conn_tx *wsio__conn_tx_make(wsio_conn *c);

/* Give the send side's block back when nothing needs it any more: no
 * output waiting, no fragmented message in progress, no marks of its own.
 * Call after anything that may have emptied the queue or failed to fill a
 * block just made. */
void wsio__conn_tx_settle(wsio_conn *c);

/* enter/leave bracket every call that may run callbacks. */
void wsio__conn_enter(wsio_conn *c);

void wsio__conn_leave(wsio_conn *c);

/* Encode one frame into the output queue, copying (and for a client,
 * masking) the payload. Nothing is queued on failure. */
int wsio__conn_queue_frame(wsio_conn *c, unsigned opcode, int fin,
                           const void *data, size_t len);

/* Queue a close frame (section 5.5.1): no body when code is 0, else the
 * code in network order and the reason. */
int wsio__conn_queue_close(wsio_conn *c, unsigned code, const char *reason,
                           size_t reason_len);

/* Call on_close once (conn.c). */
void wsio__conn_report_close(wsio_conn *c, unsigned code, const char *reason,
                             size_t reason_len, int by_peer, int clean,
                             int err);

/*
 * Fail the connection (section 7.1.7): queue a close frame with the code err
 * maps to (unless one was sent already), stop reading, report. Returns err.
 */
int wsio__conn_fail(wsio_conn *c, int err, uint64_t offset);

#endif /* WSIO_CONN_SHARED_H */

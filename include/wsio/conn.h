/*
 * wsio/conn.h - layer 3: one WebSocket connection, sans I/O.
 *
 * A wsio_conn is the state machine of one connection after its opening
 * handshake, in either role. It never touches a socket, a clock or a thread:
 *
 *   bytes in    wsio_conn_feed() parses frames and calls the callbacks
 *               (message, fragment, ping, pong, close);
 *   bytes out   wsio_conn_send*(), _ping, _pong and _close queue frames;
 *               the host drains them with wsio_conn_peek_output() plus
 *               wsio_conn_consume_output() (for writev) or wsio_conn_write().
 *
 * Rules of RFC 6455 that the peer breaks fail the connection (section
 * 7.1.7): a close frame with the matching code (1002, 1007 or 1009) is
 * queued, nothing more is read, on_close reports the failure, and feed
 * returns the error. The host then flushes the output and closes the
 * transport.
 *
 * Typical driving code, in a host that owns the socket:
 *
 *     wsio_conn *c = wsio_conn_new(WSIO_ROLE_SERVER, NULL, &cb, NULL, me);
 *     for (;;) {
 *         n = read(fd, buf, sizeof buf);           // buf is modified by feed
 *         if (n <= 0) { wsio_conn_abort(c, WSIO_ECLOSED); break; }
 *         wsio_conn_feed(c, buf, n);
 *         while ((k = wsio_conn_write(c, out, sizeof out)) > 0)
 *             write(fd, out, k);
 *         if (wsio_conn_state(c) == WSIO_CONN_CLOSED) break;
 *     }
 *     wsio_conn_free(c);
 *
 * Threads: a connection belongs to one thread at a time; no call locks.
 */
#ifndef WSIO_CONN_H
#define WSIO_CONN_H

#include "wsio/common.h"
#include "wsio/frame.h"
#include "wsio/handshake.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One connection's state machine: made by wsio_conn_new, freed by
 * wsio_conn_free (by the host; a wsio_ws frees its own). */
typedef struct wsio_conn wsio_conn;

/* Where a connection is in its life (section 7). */
enum wsio_conn_state {
    WSIO_CONN_OPEN = 0,    /* messages flow both ways */
    WSIO_CONN_CLOSING = 1, /* this end sent a close frame and waits for the
                              peer's; received messages are still delivered */
    WSIO_CONN_CLOSED = 2   /* close handshake done, or the connection failed:
                              nothing more is read or sent; flush the
                              output, then close the transport */
};

/* Limits and switches; fill with wsio_conn_config_default() first. */
typedef struct wsio_conn_config {
    size_t struct_size;      /* set by wsio_conn_config_default */
    size_t max_message_size; /* bytes of one message, all fragments
                                together; over it the connection fails with
                                1009 before any memory is taken for it.
                                Each continuation frame is charged at least
                                64 bytes against it, so it also bounds the
                                frames of a message. Default 1 MiB */
    size_t max_frame_size;   /* payload bytes of one frame; over it -> 1009.
                                Default 1 MiB */
    size_t max_fragments;    /* optional extra cap on the frames of one
                                message, empty ones included; over it ->
                                1009. Default 0: off (the 64-byte charge
                                above bounds them) */
    unsigned allowed_rsv;    /* RSV bits a negotiated extension uses; 0 */
    int auto_pong;           /* answer each ping with a pong carrying the same
                                payload (section 5.5.2). Default 1 */
    int check_outgoing_utf8; /* refuse to send text or close reasons that
                                are not UTF-8 (WSIO_EUTF8). Default 1 */
    /* Client role only: fills a fresh masking key for each frame (section
     * 5.3 wants it unpredictable). NULL uses the OS random source. Returns
     * 0, or a negative code that fails the send. */
    int (*make_mask)(uint8_t key[4], void *user);
    void *make_mask_user; /* last argument of make_mask */
} wsio_conn_config;

/* wsio_conn_config_default - fill cfg with the defaults written above. */
#define wsio_conn_config_default(cfg)                                          \
    wsio_conn_config_init((cfg), sizeof *(cfg))

/* wsio_conn_config_init - what wsio_conn_config_default expands to: the same
 * for a struct of size bytes (sizeof *cfg where the program was built), and
 * cfg->struct_size = size; bytes of a newer release are zeroed
 * (docs/DESIGN.md, ABI). */
WSIO_EXTERN void wsio_conn_config_init(wsio_conn_config *cfg, size_t size);

/* A whole received message. data is borrowed: valid until the callback
 * returns. Text has been checked to be UTF-8. */
typedef struct wsio_message {
    enum wsio_opcode opcode; /* WSIO_OP_TEXT or WSIO_OP_BINARY */
    const void *data;
    size_t len;
} wsio_message;

/* A piece of a message, for hosts that stream (on_fragment set). Pieces
 * follow the bytes as they arrive, not the peer's frame boundaries. data is
 * borrowed until the callback returns. For text, every piece so far is valid
 * UTF-8, though a character may be split between two pieces. */
typedef struct wsio_fragment {
    enum wsio_opcode opcode; /* the message's: WSIO_OP_TEXT or _BINARY */
    const void *data;
    size_t len;
    int first; /* 1 on the message's first piece */
    int last;  /* 1 on its last piece (which may be empty) */
} wsio_fragment;

/* A ping or pong payload (at most 125 bytes); borrowed until return. */
typedef struct wsio_control {
    const void *data;
    size_t len;
} wsio_control;

/* How a connection ended, given once to on_close. */
typedef struct wsio_close_info {
    unsigned code;      /* the close code: the one in the peer's close
                           frame after a clean close (its reply when we
                           started), 1005 when that frame had none, the
                           one we sent when the connection failed, 1006
                           when no close frame was exchanged */
    const char *reason; /* UTF-8, not NUL-terminated; borrowed */
    size_t reason_len;
    int by_peer; /* 1 when the peer sent the first close frame */
    int clean;   /* 1 when the close handshake completed */
    int error;   /* the WSIO_E* code that failed it, or 0 */
} wsio_close_info;

/*
 * Callbacks. Copied at wsio_conn_new. Each gets the connection, an argument
 * struct, and the user pointer. Every pointer in the argument struct is
 * borrowed: valid only until the callback returns. A callback may call any
 * function on its own connection, including wsio_conn_free (the memory is
 * released when the outermost wsio call returns).
 *
 * Callbacks returning int return 0 to go on, WSIO_PAUSE to make
 * wsio_conn_feed return right after this event, or a negative code to fail
 * the connection with it (close code 1011 unless the code maps to another).
 */
typedef struct wsio_conn_callbacks {
    /* A whole text or binary message. */
    int (*on_message)(wsio_conn *c, const wsio_message *m, void *user);
    /* If set, messages arrive as pieces here instead of on_message, and are
     * never assembled in memory; max_message_size still applies. */
    int (*on_fragment)(wsio_conn *c, const wsio_fragment *f, void *user);
    /* A ping; the automatic pong (if on) is queued before this is called. */
    int (*on_ping)(wsio_conn *c, const wsio_control *ping, void *user);
    /* A pong, solicited or not. */
    int (*on_pong)(wsio_conn *c, const wsio_control *pong, void *user);
    /* The connection is closed (state CLOSED), cleanly or not. Called
     * exactly once per connection, unless it is freed while open. */
    void (*on_close)(wsio_conn *c, const wsio_close_info *info, void *user);
} wsio_conn_callbacks;

/*
 * wsio_conn_new - make a connection in state OPEN.
 *
 * cfg and cb are copied; either may be NULL (defaults, no callbacks). mem
 * may be NULL for libc; otherwise it must outlive the connection. user is
 * passed to every callback.
 *
 * Returns the connection, or NULL when out of memory or cfg->struct_size
 * was not set by wsio_conn_config_default.
 */
WSIO_EXTERN wsio_conn *wsio_conn_new(enum wsio_role role,
                                     const wsio_conn_config *cfg,
                                     const wsio_conn_callbacks *cb,
                                     const wsio_mem *mem, void *user);

/*
 * wsio_conn_free - release a connection and everything it queued. Does not
 * call on_close. NULL does nothing. Safe inside the connection's own
 * callbacks.
 */
WSIO_EXTERN void wsio_conn_free(wsio_conn *c);

/* wsio_conn_get_user - the user pointer given at _new or last set. It is
 * the host's: wsio never frees it. */
WSIO_EXTERN void *wsio_conn_get_user(const wsio_conn *c);

/* wsio_conn_set_user - replace the user pointer passed to callbacks. wsio
 * only passes it on; freeing the old one is the host's business. */
WSIO_EXTERN void wsio_conn_set_user(wsio_conn *c, void *user);

/* wsio_conn_role - WSIO_ROLE_SERVER or WSIO_ROLE_CLIENT. */
WSIO_EXTERN enum wsio_role wsio_conn_role(const wsio_conn *c);

/* wsio_conn_state - OPEN, CLOSING or CLOSED. */
WSIO_EXTERN enum wsio_conn_state wsio_conn_state(const wsio_conn *c);

/*
 * wsio_conn_feed - give the connection bytes read from the peer.
 *
 * Any split of the stream is fine, down to one byte at a time. in is
 * modified: masked payloads are unmasked in place, so that a message that
 * arrived whole is handed to on_message without a copy. Bytes of an
 * incomplete frame are kept by the connection; the caller may reuse in
 * after the call.
 *
 * Returns the number of bytes consumed: len, or fewer (0 included) when a
 * callback returned WSIO_PAUSE or our output went over its high-water
 * mark (wsio_conn_set_output_marks; parsing stops at the next frame
 * boundary): feed the rest later, unchanged, once wsio_conn_want_read
 * says 1. Fewer also when the close handshake completed (bytes after the
 * peer's close frame are ignored).
 * Returns a negative code when the connection failed in this call or before
 * (sticky: every later call returns the same code): a WSIO_E* protocol code
 * from the peer's bytes, a callback's own negative return, or WSIO_ENOMEM.
 * Returns WSIO_ECLOSED when called after a clean close.
 */
WSIO_EXTERN ssize_t wsio_conn_feed(wsio_conn *c, void *in, size_t len);

/*
 * wsio_conn_send - queue a whole message (one frame), copying data.
 *
 * opcode is WSIO_OP_TEXT or WSIO_OP_BINARY. A client masks the copy. With
 * a codec (wsio_conn_set_codec) the message is compressed unless the
 * codec leaves it plain; wsio_conn_send_fragment never compresses.
 * Returns 0, or WSIO_EINVAL (bad opcode), WSIO_EUTF8 (text that is not
 * UTF-8, when check_outgoing_utf8 is on), WSIO_ESTATE (inside a fragmented
 * message being sent), WSIO_ECLOSED (a close frame was already queued),
 * WSIO_ENOMEM. Nothing is queued on failure.
 */
WSIO_EXTERN int wsio_conn_send(wsio_conn *c, enum wsio_opcode opcode,
                               const void *data, size_t len);

/*
 * wsio_conn_send_fragment - queue one frame of a fragmented message
 * (section 5.4), copying data. The first frame names the message's opcode
 * (WSIO_OP_TEXT or WSIO_OP_BINARY); later frames pass
 * WSIO_OP_CONTINUATION; fin is 1 on the last. Pings, pongs and a close may
 * be queued between frames.
 *
 * Returns 0, or the codes of wsio_conn_send; WSIO_ESTATE when the order is
 * wrong (a continuation with no message started, or a new message before
 * the last one finished). Text is checked incrementally across fragments.
 */
WSIO_EXTERN int wsio_conn_send_fragment(wsio_conn *c, enum wsio_opcode opcode,
                                        const void *data, size_t len, int fin);

/*
 * wsio_message_encode - encode a whole unmasked message frame once, into a
 * new reference-counted buffer, so that it can be queued on many server
 * connections with wsio_conn_send_encoded (broadcast). mem may be NULL.
 * Returns the buffer (one reference, the caller's), or NULL when out of
 * memory or opcode is not TEXT or BINARY.
 */
WSIO_EXTERN wsio_rcbuf *wsio_message_encode(const wsio_mem *mem,
                                            enum wsio_opcode opcode,
                                            const void *data, size_t len);

/*
 * wsio_conn_send_encoded - queue a frame made by wsio_message_encode,
 * without copying it: the connection takes its own reference and drops it
 * when the bytes have been consumed or the connection is freed.
 *
 * Server role only (client frames must each be masked with a fresh key).
 * A compressed frame (wsio_message_encode_compressed) needs a codec on
 * the connection, and a peer without context for our messages.
 * Returns 0, or WSIO_ESTATE (client role, or inside a fragmented message
 * being sent), WSIO_EINVAL (a compressed frame and no codec), WSIO_ECLOSED,
 * WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_conn_send_encoded(wsio_conn *c, wsio_rcbuf *frame);

/*
 * wsio_conn_ping / wsio_conn_pong - queue a ping or an unsolicited pong
 * (section 5.5.2, 5.5.3) with up to 125 bytes of payload, copied.
 * Returns 0, or WSIO_EINVAL (payload over 125 bytes), WSIO_ECLOSED,
 * WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_conn_ping(wsio_conn *c, const void *data, size_t len);
WSIO_EXTERN int wsio_conn_pong(wsio_conn *c, const void *data, size_t len);

/*
 * wsio_conn_close - start the closing handshake (section 7.1.2): queue a
 * close frame with code and reason, and move to CLOSING. Nothing but pongs
 * and the peer's close reply is sent after it. code 0 sends a close frame
 * with no body (reason must then be empty). on_close is called when the
 * peer's close frame arrives, or by wsio_conn_abort if it never does.
 *
 * Returns 0, or WSIO_EINVAL (code not valid to send, per
 * wsio_close_code_is_valid, or reason over 123 bytes), WSIO_EUTF8 (reason
 * not UTF-8, when check_outgoing_utf8 is on), WSIO_ENOMEM. On a connection
 * already closing or closed it returns 0 and changes nothing (so
 * `return wsio_conn_close(...)` from a callback is always safe).
 */
WSIO_EXTERN int wsio_conn_close(wsio_conn *c, unsigned code, const char *reason,
                                size_t reason_len);

/*
 * wsio_conn_abort - the transport is gone (the peer reset it, a timeout
 * expired, the host terminates): move to CLOSED, drop the queued output,
 * and, unless already CLOSED, call on_close with code 1006, clean 0 and
 * error err. Returns 0.
 */
WSIO_EXTERN int wsio_conn_abort(wsio_conn *c, int err);

/*
 * wsio_conn_buffered_amount - bytes queued and not yet consumed, for
 * backpressure decisions.
 */
WSIO_EXTERN size_t wsio_conn_buffered_amount(const wsio_conn *c);

/*
 * wsio_conn_peek_output - describe queued output in up to max iovs, in
 * order, without consuming it. The pointers stay valid until the next call
 * that queues, consumes or frees. Returns the number of iovs filled (0 when
 * nothing is queued).
 */
WSIO_EXTERN size_t wsio_conn_peek_output(const wsio_conn *c, wsio_iov *iov,
                                         size_t max);

/*
 * wsio_conn_consume_output - mark the first n queued bytes as sent (n no
 * more than wsio_conn_buffered_amount). Memory of fully sent frames is
 * released.
 */
WSIO_EXTERN void wsio_conn_consume_output(wsio_conn *c, size_t n);

/*
 * wsio_conn_write - copy up to cap queued bytes into buf and consume them.
 * Returns the number copied (0 when nothing is queued).
 */
WSIO_EXTERN size_t wsio_conn_write(wsio_conn *c, void *buf, size_t cap);

/*
 * wsio_conn_want_read - 1 while the connection should be read from: state
 * not CLOSED, and its queued output not over the high-water mark (set by
 * wsio_conn_set_output_marks, then until it falls back to the low-water
 * mark); else 0. A host that owns the socket stops reading while this is
 * 0 and keeps any unfed bytes for later: that is what bounds the output a
 * peer can make us queue (our pongs, a handler's answers) without reading.
 */
WSIO_EXTERN int wsio_conn_want_read(const wsio_conn *c);

/*
 * wsio_conn_set_output_marks - read-side flow control (off by default):
 * once queued output (wsio_conn_buffered_amount) goes over high,
 * wsio_conn_feed stops at the next frame boundary and wsio_conn_want_read
 * says 0, until the output has been consumed down to low (clamped to
 * high). high 0 turns it off. A server's wsio_ws starts with the
 * server's max_output_bytes and low_water_bytes, which its connections
 * share; marks of a connection's own are kept with its queued output
 * (out of memory for that block: the marks stay as they were).
 *
 * Whatever the marks, pongs do not pile up: while the peer is not keeping
 * up (the last consume left output unsent), an automatic pong still
 * waiting at the end of the queue, none of it consumed, is replaced by
 * the answer to the next ping (RFC 6455 section 5.5.3 allows answering
 * only the latest). A peer that reads gets a pong per ping.
 */
WSIO_EXTERN void wsio_conn_set_output_marks(wsio_conn *c, size_t high,
                                            size_t low);

/* wsio_conn_want_write - 1 while output is queued, else 0. */
WSIO_EXTERN int wsio_conn_want_write(const wsio_conn *c);

/*
 * wsio_conn_error - the code the connection failed with, or 0. When
 * offset is not NULL it receives how many bytes had been fed before the
 * byte that caused it (the stream offset).
 */
WSIO_EXTERN int wsio_conn_error(const wsio_conn *c, uint64_t *offset);

/*
 * Message codecs: the extension interface of a connection. A per-message
 * extension that marks its messages with RSV1 (RFC 7692's
 * permessage-deflate) plugs in here; the core stays libc only and the codec
 * lives in its own library (libwsio-deflate, wsio/deflate.h, on zlib).
 *
 * With a codec set, a data message whose first frame has RSV1 is handed to
 * decode as its payload arrives (RSV1 on a continuation or a control frame
 * fails the connection with 1002), and every whole message sent with
 * wsio_conn_send goes through encode_bound/encode and leaves with RSV1.
 * The connection enforces every limit: decode only ever gets room for the
 * bytes max_message_size still allows plus one, so a small frame that
 * inflates without end fails with 1009 after at most the limit of output.
 */
typedef struct wsio_codec_ops {
    /*
     * Decompress the next bytes of the current message: take input from
     * *in (advancing *in and lowering *in_len by what was used) and write
     * at most cap bytes to out. end is 1 on the calls that carry the
     * message's last bytes (possibly none): the codec then finishes the
     * message (permessage-deflate appends 0x00 0x00 0xff 0xff).
     * The connection calls again while *in_len > 0 or the last call
     * filled out completely. Returns the bytes written (0 included), or
     * WSIO_EDEFLATE for invalid data, WSIO_EINFLATE_RATIO for a message
     * that inflates past the codec's ratio bound, or WSIO_ENOMEM.
     */
    ssize_t (*decode)(void *state, const uint8_t **in, size_t *in_len, int end,
                      uint8_t *out, size_t cap);
    /*
     * How the next message of len bytes leaves: 0 to send it uncompressed
     * (under the codec's size threshold), else the most bytes encode can
     * write for it.
     */
    size_t (*encode_bound)(void *state, size_t len);
    /*
     * Compress a whole message into out[0..cap), cap being what
     * encode_bound said. Returns the payload length, or WSIO_ENOMEM (the
     * codec's state is then as before the call).
     */
    ssize_t (*encode)(void *state, const void *in, size_t len, uint8_t *out,
                      size_t cap);
    /* Release state and everything it holds. */
    void (*free)(void *state);
} wsio_codec_ops;

/* A codec: its functions and its state (owned by whoever holds it). */
typedef struct wsio_codec {
    const wsio_codec_ops *ops;
    void *state;
} wsio_codec;

/*
 * wsio_conn_set_codec - give the connection a message codec (copied; the
 * connection takes ownership of codec->state and frees it with itself).
 * Call it right after wsio_conn_new, before any byte is fed or sent; it
 * allows RSV1 on received data frames.
 * Returns 0, or WSIO_EINVAL (codec or its ops NULL), WSIO_ESTATE (a codec
 * is already set), WSIO_ENOMEM (no memory for the connection's copy). On
 * an error codec->state stays the caller's.
 */
WSIO_EXTERN int wsio_conn_set_codec(wsio_conn *c, const wsio_codec *codec);

/*
 * wsio_conn_has_codec - 1 when a codec is set (the extension was agreed),
 * else 0.
 */
WSIO_EXTERN int wsio_conn_has_codec(const wsio_conn *c);

/*
 * wsio_message_encode_compressed - like wsio_message_encode, through codec:
 * one compressed frame (RSV1) for many server connections, which is right
 * only for recipients whose peer resets its decompressor state for each of
 * our messages, i.e. that agreed server_no_context_takeover with a window
 * no smaller than the codec's (server.c checks this before sharing).
 * codec should be a server-role codec without context takeover.
 *
 * Returns 1 with *out set to the buffer (one reference, the caller's), 0
 * when the codec leaves this message uncompressed (*out NULL: use
 * wsio_message_encode), or WSIO_EINVAL (bad opcode, NULL codec or out),
 * WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_message_encode_compressed(const wsio_mem *mem,
                                               enum wsio_opcode opcode,
                                               const void *data, size_t len,
                                               const wsio_codec *codec,
                                               wsio_rcbuf **out);

/*
 * permessage-deflate as servers and clients use it (wsio_server_config and
 * wsio_client_config point to one; NULL there means no compression, and
 * the offer is declined by not answering it). The core negotiates with
 * policy (wsio/handshake.h) and asks codec_new for each connection that
 * agreed. libwsio-deflate fills one in (wsio_deflate_init); it is
 * read-only after that, so any number of servers and clients on any
 * threads may share it.
 */
typedef struct wsio_deflate_ext {
    wsio_deflate_policy policy;
    /* Server: connections that may use compression at once; beyond it,
     * offers are declined. 0: no cap. */
    size_t max_connections;
    /* Make the codec of one connection of the given role for what was
     * agreed, allocating through mem. flags: WSIO_CODEC_KEEP_STATE or 0.
     * The codec may refer to ext (libwsio-deflate counts there), so ext
     * must outlive it. Returns 0, or WSIO_ENOMEM. */
    int (*codec_new)(const struct wsio_deflate_ext *ext,
                     const wsio_deflate_params *params, enum wsio_role role,
                     unsigned flags, const wsio_mem *mem, wsio_codec *out);
} wsio_deflate_ext;

/* codec_new flag: the codec serves many messages in a row (a server's
 * broadcasts): keep its state between messages even without context
 * takeover, rather than freeing it after each. */
#define WSIO_CODEC_KEEP_STATE 1u

#ifdef __cplusplus
}
#endif

#endif /* WSIO_CONN_H */

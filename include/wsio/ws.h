/*
 * wsio/ws.h - one open WebSocket on a loop: the object servers hand to
 * their callbacks for each accepted connection, and clients get from
 * wsio_client_connect. The same calls serve both.
 *
 * A wsio_ws drives a wsio_conn (wsio/conn.h) over a transport: it reads
 * when the loop says so, feeds the conn, and writes the conn's output with
 * one writev per connection per loop iteration (sends made during
 * callbacks are corked until then).
 *
 * Lifetime: a wsio_ws is valid from on_open (or wsio_client_connect) until
 * its on_close returns; the library frees it after that. Never free it
 * yourself.
 *
 * Threads: a wsio_ws belongs to its loop's thread, and may be freed before
 * a function posted with wsio_loop_post runs: from another thread, name a
 * server's connection by its id (wsio_ws_id) and use
 * wsio_server_send_to / wsio_server_close_to (wsio/server.h).
 */
#ifndef WSIO_WS_H
#define WSIO_WS_H

#include "wsio/common.h"
#include "wsio/conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One open WebSocket, owned by the library (see Lifetime above). */
typedef struct wsio_ws wsio_ws;

/*
 * Connection callbacks, shared by servers (copied at wsio_server_new) and
 * clients (copied at wsio_client_connect). user is the server's or the
 * client's user pointer; per-connection data is wsio_ws_get_user. Pointers
 * in argument structs are borrowed until the callback returns.
 */
typedef struct wsio_ws_callbacks {
    /* The WebSocket is open: messages may be sent. */
    void (*on_open)(wsio_ws *ws, void *user);
    /* A whole message. Return 0, or a negative code to fail the
     * connection (close 1011). A server's ws whose own output is over
     * max_output_bytes is not read from (no more on_message) until it has
     * drained to low_water_bytes: what a handler answers per message stays
     * bounded (docs/limits.md). A client always reads. */
    int (*on_message)(wsio_ws *ws, const wsio_message *m, void *user);
    /* A pong arrived (an answer to a ping, or unsolicited); the answer to
     * a heartbeat ping has set wsio_ws_rtt_us already. */
    void (*on_pong)(wsio_ws *ws, const wsio_control *pong, void *user);
    /* The output queue fell to the low-water mark after it had gone over
     * the high-water mark (see max_output_bytes in the configs). */
    void (*on_drain)(wsio_ws *ws, void *user);
    /* The connection ended, cleanly or not, or (client) never opened: then
     * info->error says why (WSIO_ETIMEDOUT, WSIO_EHS_STATUS with
     * wsio_ws_http_status, -ECONNREFUSED ...). Called exactly once; ws is
     * freed when it returns. */
    void (*on_close)(wsio_ws *ws, const wsio_close_info *info, void *user);
} wsio_ws_callbacks;

/*
 * What a send did: a value >= 0 means the message is queued, a negative one
 * that it is not (WSIO_EDROPPED, WSIO_EQUEUEFULL, WSIO_ECLOSED, ...), so
 * `if (rc < 0)` catches every message that will not reach the peer.
 */
enum wsio_send_result {
    WSIO_SEND_QUEUED = 0,  /* queued, output at or below the high-water
                              mark */
    WSIO_SEND_PRESSURE = 1 /* queued, output now over the mark: slow down
                              until on_drain */
};

/*
 * What wsio_ws_send does when the peer's output queue is already over its
 * high-water mark (max_output_bytes). Broadcasts and topics decide for
 * many peers and never queue past the mark: under QUEUE they drop as
 * under DROP (see wsio_slow_policy in wsio/server.h).
 */
enum wsio_backpressure_policy {
    WSIO_BACKPRESSURE_DROP = 0,  /* the message is not queued for that peer
                                    (WSIO_EDROPPED; servers count it in
                                    messages_dropped) */
    WSIO_BACKPRESSURE_CLOSE = 1, /* that peer is closed with 1008 and the
                                    message not queued (WSIO_EDROPPED) */
    WSIO_BACKPRESSURE_QUEUE = 2  /* queued anyway while the queue holds at
                                    most max_queued_bytes (servers: 4 x
                                    max_output_bytes, clients: 64 MiB);
                                    past that WSIO_EQUEUEFULL. The default
                                    of servers and clients */
};

/*
 * wsio_ws_send - queue a whole message (copied). opcode is WSIO_OP_TEXT or
 * WSIO_OP_BINARY. Returns WSIO_SEND_QUEUED or WSIO_SEND_PRESSURE when the
 * message is queued; otherwise a negative code and nothing is queued:
 * WSIO_EDROPPED (over the mark, DROP or CLOSE policy), WSIO_EQUEUEFULL
 * (over the hard cap, QUEUE policy), WSIO_EINVAL, WSIO_EUTF8,
 * WSIO_ECLOSED, WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_ws_send(wsio_ws *ws, enum wsio_opcode opcode,
                             const void *data, size_t len);

/*
 * wsio_ws_ping - queue a ping with up to 125 bytes of payload.
 * Returns 0, or WSIO_EINVAL, WSIO_ECLOSED, WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_ws_ping(wsio_ws *ws, const void *data, size_t len);

/*
 * wsio_ws_close - start the closing handshake with code and reason (see
 * wsio_conn_close). If the peer does not answer within the close timeout,
 * the connection is terminated. Returns 0, or WSIO_EINVAL, WSIO_EUTF8,
 * WSIO_ENOMEM. On a connection already closing or closed it returns 0 and
 * changes nothing (`return wsio_ws_close(...)` in on_message is safe).
 */
WSIO_EXTERN int wsio_ws_close(wsio_ws *ws, unsigned code, const char *reason,
                              size_t reason_len);

/*
 * wsio_ws_terminate - close the transport now, without a close handshake;
 * on_close follows with 1006 (from inside this call).
 */
WSIO_EXTERN void wsio_ws_terminate(wsio_ws *ws);

/*
 * wsio_ws_pause - stop reading from the peer (Node's ws.pause(), rx flow
 * control in libwebsockets): no on_message until wsio_ws_resume, not even
 * for bytes already read. Called from on_message, that message is the
 * last one until resume. Sends, timers and the close handshake go on.
 *
 * While paused, the ws still reads up to 64 KiB ahead (held, not parsed)
 * and looks there for pongs, so the heartbeat still tells a live peer
 * from a dead one: a peer that answers the ping survives, one that does
 * not is terminated. A peer that has filled those 64 KiB is held back by
 * our pause, not dead, so neither the heartbeat nor the idle timeout ends
 * it while the pause lasts. Pausing a ws that is paused does nothing.
 */
WSIO_EXTERN void wsio_ws_pause(wsio_ws *ws);

/*
 * wsio_ws_resume - undo wsio_ws_pause: the messages held arrive, in order,
 * from the end of the current loop turn on. Does nothing when not paused.
 */
WSIO_EXTERN void wsio_ws_resume(wsio_ws *ws);

/* wsio_ws_is_paused - 1 between wsio_ws_pause and wsio_ws_resume, else 0. */
WSIO_EXTERN int wsio_ws_is_paused(const wsio_ws *ws);

/* wsio_ws_get_user - the per-connection pointer (NULL until set). */
WSIO_EXTERN void *wsio_ws_get_user(const wsio_ws *ws);

/* wsio_ws_set_user - set the per-connection pointer. wsio never frees it:
 * free what it points to in on_close. */
WSIO_EXTERN void wsio_ws_set_user(wsio_ws *ws, void *user);

/*
 * wsio_ws_remote_addr - the peer's address as text ("127.0.0.1", "::1",
 * "::ffff:127.0.0.1" for an IPv4 peer of an IPv6 socket) and its port (if
 * port is not NULL). Valid while ws is. Behind a proxy the server is told
 * to trust (PROXY protocol, trusted Forwarded / X-Forwarded-For), this is
 * the client's address, and the port is 0 when the proxy did not give
 * one. The ws keeps the address binary: the first call writes the text
 * into a small block (freed with the ws); without memory for it, it
 * returns "" (and the port all the same), and a later call tries again.
 */
WSIO_EXTERN const char *wsio_ws_remote_addr(const wsio_ws *ws, uint16_t *port);

/* wsio_ws_buffered_amount - bytes queued to the peer and not yet written. */
WSIO_EXTERN size_t wsio_ws_buffered_amount(const wsio_ws *ws);

/*
 * wsio_ws_subprotocol - the negotiated subprotocol, or "" when none.
 * Valid while ws is.
 */
WSIO_EXTERN const char *wsio_ws_subprotocol(const wsio_ws *ws);

/*
 * wsio_ws_http_status - a client's view of the server's handshake status:
 * 101 once open, the refusal status (401, 403, ...) in on_close when the
 * server refused the upgrade, 0 when no response came.
 */
WSIO_EXTERN int wsio_ws_http_status(const wsio_ws *ws);

/*
 * wsio_ws_rtt_us - the round trip of the last heartbeat ping the peer
 * answered, in microseconds (wsio_loop_now_us from the ping being queued
 * to its pong being read), or 0 before the first. Only pongs that carry
 * the ping's own payload count. Heartbeat pings are a server's
 * (ping_interval_ms in wsio_server_config); updated before on_pong runs.
 * A pong later than 2^32 - 1 us (71.5 minutes) is not timed.
 */
WSIO_EXTERN uint64_t wsio_ws_rtt_us(const wsio_ws *ws);

/* wsio_ws_conn - the underlying connection, for its lower-level calls;
 * borrowed: valid while ws is, never wsio_conn_free it. */
WSIO_EXTERN wsio_conn *wsio_ws_conn(wsio_ws *ws);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_WS_H */

/*
 * wsio/common.h - definitions shared by every layer of wsio.
 *
 * Error codes, opcodes, close codes, the allocator hooks, byte slices,
 * reference-counted buffers and the version. Every other wsio header
 * includes this one; it includes only libc headers.
 *
 * Conventions that hold in every layer:
 *  - Functions return int or ssize_t: >= 0 is success (or a byte count),
 *    < 0 is one of the WSIO_E* codes below.
 *  - Objects made by the library pair _new/_free, and _free(NULL) does
 *    nothing. Value structs the caller embeds pair _init/_reset.
 *  - Nothing is global: every allocation goes through the wsio_mem given to
 *    the object that makes it, and every callback receives the user pointer
 *    it was registered with.
 *
 * Threads: everything here may be called from any thread; a wsio_rcbuf's
 * references may be taken and dropped on any thread (see wsio_rcbuf).
 */
#ifndef WSIO_COMMON_H
#define WSIO_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define WSIO_EXTERN __attribute__((visibility("default")))
#else
#define WSIO_EXTERN
#endif

/* The one place the version is written; the Makefile reads it from here. */
#define WSIO_VERSION_MAJOR 0
#define WSIO_VERSION_MINOR 1
#define WSIO_VERSION_PATCH 0
#define WSIO_VERSION_STRING "0.1.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, for compile-time comparisons. */
#define WSIO_VERSION_NUMBER                                                    \
    (WSIO_VERSION_MAJOR * 10000 + WSIO_VERSION_MINOR * 100 + WSIO_VERSION_PATCH)

/*
 * wsio_version - the version of the library actually linked, as "M.m.p".
 *
 * Compare with WSIO_VERSION_STRING to detect a header/library mismatch.
 * Returns a static string; never NULL.
 */
WSIO_EXTERN const char *wsio_version(void);

/*
 * wsio_version_number - the linked library's version as
 * MAJOR * 10000 + MINOR * 100 + PATCH (see WSIO_VERSION_NUMBER).
 */
WSIO_EXTERN unsigned wsio_version_number(void);

/*
 * The error table. Codes are grouped by hundreds:
 *   -10xx  flow: not an error of the peer or the host, just "not now"
 *   -11xx  WebSocket protocol violations by the peer; each maps to the RFC
 *          6455 close code sent to the peer (wsio_err_close_code)
 *   -12xx  misuse of the API by the host
 *   -13xx  callback, backend or transport failures (the TLS codes map to
 *          1015, which is only ever reported, never sent)
 *   -14xx  opening handshake failures; each maps to the HTTP status sent to
 *          the peer (wsio_err_http_status)
 *   -19xx  fatal: the object cannot go on
 * Backends and transports may also return -errno values (always > -1000).
 *
 * X(NAME, value, close code, HTTP status, description)
 */
#define WSIO_ERR_MAP(X)                                                        \
    X(EAGAIN, -1000, 0, 0, "more input or output space needed")                \
    X(ECLOSED, -1001, 0, 0, "connection is closed")                            \
    X(EQUEUEFULL, -1002, 0, 0, "output queue over its limit")                  \
    X(ETIMEDOUT, -1003, 1006, 0, "timed out")                                  \
    X(EDROPPED, -1004, 0, 0, "message not queued: peer over its output mark")  \
    X(EPROTO, -1100, 1002, 0, "protocol error")                                \
    X(EUNMASKED, -1101, 1002, 0, "client frame is not masked")                 \
    X(EMASKED, -1102, 1002, 0, "server frame is masked")                       \
    X(ERSV, -1103, 1002, 0, "reserved bit set without an extension")           \
    X(EOPCODE, -1104, 1002, 0, "reserved opcode")                              \
    X(ECONTROL, -1105, 1002, 0, "control frame fragmented or over 125 bytes")  \
    X(ECONTINUATION, -1106, 1002, 0, "continuation frame with no message")     \
    X(EFRAGMENT, -1107, 1002, 0, "data frame inside a fragmented message")     \
    X(ELENGTH, -1108, 1002, 0, "payload length has its top bit set")           \
    X(EUTF8, -1109, 1007, 0, "invalid UTF-8 in text")                          \
    X(ECLOSECODE, -1110, 1002, 0, "invalid close code")                        \
    X(ECLOSEPAYLOAD, -1111, 1002, 0, "close payload of one byte")              \
    X(ETOOBIG, -1112, 1009, 0, "message or frame over the size limit")         \
    X(ETOOMANYFRAGS, -1113, 1009, 0, "too many fragments in one message")      \
    X(EDEFLATE, -1114, 1007, 0, "invalid compressed data")                     \
    X(EINFLATE_RATIO, -1115, 1009, 0, "message inflates past the ratio bound") \
    X(EINVAL, -1200, 0, 0, "invalid argument")                                 \
    X(ESTATE, -1201, 0, 0, "call not allowed in this state")                   \
    X(ENOSPC, -1202, 0, 0, "output buffer too small")                          \
    X(EGAP, -1203, 0, 0, "stream window no longer reaches that id")            \
    X(ECALLBACK, -1300, 1011, 0, "callback failed")                            \
    X(EBACKEND, -1301, 1011, 0, "I/O backend failed")                          \
    X(ETLS, -1302, 1015, 0, "TLS handshake or record layer failed")            \
    X(ETLS_CERT, -1303, 1015, 0, "TLS peer certificate is not trusted")        \
    X(ETLS_HOST, -1304, 1015, 0, "TLS certificate is not for this host name")  \
    X(EHS_MALFORMED, -1400, 0, 400, "malformed HTTP message")                  \
    X(EHS_TOOLARGE, -1401, 0, 431, "HTTP header block over its size limit")    \
    X(EHS_TOOMANYHEADERS, -1402, 0, 431, "too many HTTP headers")              \
    X(EHS_METHOD, -1403, 0, 405, "method is not GET")                          \
    X(EHS_HTTPVERSION, -1404, 0, 505, "HTTP version below 1.1")                \
    X(EHS_HOST, -1405, 0, 400, "missing Host header")                          \
    X(EHS_UPGRADE, -1406, 0, 400, "Upgrade header is not websocket")           \
    X(EHS_CONNECTION, -1407, 0, 400, "Connection header lacks upgrade")        \
    X(EHS_KEY, -1408, 0, 400, "Sec-WebSocket-Key missing or invalid")          \
    X(EHS_VERSION, -1409, 0, 426, "Sec-WebSocket-Version is not 13")           \
    X(EHS_STATUS, -1410, 0, 0, "server answered without 101")                  \
    X(EHS_ACCEPT, -1411, 0, 0, "Sec-WebSocket-Accept does not match")          \
    X(EHS_SUBPROTOCOL, -1412, 0, 0, "server chose a subprotocol not offered")  \
    X(EHS_EXTENSION, -1413, 0, 0, "server chose an extension not offered")     \
    X(EHS_BODY, -1414, 0, 400, "upgrade request has a body")                   \
    X(ENOMEM, -1900, 1011, 503, "out of memory")                               \
    X(EINTERNAL, -1901, 1011, 500, "internal error")

/* The codes of WSIO_ERR_MAP as constants: WSIO_OK, WSIO_EAGAIN, ... */
enum wsio_err {
    WSIO_OK = 0,
#define WSIO_ERR_ENUM(name, value, close, http, text) WSIO_##name = value,
    WSIO_ERR_MAP(WSIO_ERR_ENUM)
#undef WSIO_ERR_ENUM
};

/*
 * A callback returns 0 to go on, WSIO_PAUSE to make the current
 * wsio_conn_feed() return right after this event (the rest of the input is
 * left unconsumed), or a negative value to fail the connection with that
 * code.
 */
#define WSIO_PAUSE 1

/*
 * wsio_strerror - a one-line English description of a wsio code or a
 * -errno value. Returns a static string; unknown codes give
 * "unknown error". Never NULL.
 */
WSIO_EXTERN const char *wsio_strerror(int err);

/*
 * wsio_err_name - the symbolic name of a wsio code without its prefix
 * ("EUTF8"), "OK" for 0, or "UNKNOWN". Returns a static string.
 */
WSIO_EXTERN const char *wsio_err_name(int err);

/*
 * wsio_err_close_code - the RFC 6455 close code (section 7.4.1) that a
 * connection failed with this error sends to its peer: 1002, 1007, 1009 or
 * 1011; 1015 for the TLS codes, which on_close reports and nothing sends.
 * Returns 0 for codes that do not close a connection.
 */
WSIO_EXTERN int wsio_err_close_code(int err);

/*
 * wsio_err_http_status - the HTTP status a server answers a failed opening
 * handshake with (400, 405, 426, 431, 503, ...). Returns 0 for codes that are
 * not handshake failures.
 */
WSIO_EXTERN int wsio_err_http_status(int err);

/*
 * wsio_err_is_fatal - non-zero when the object that returned err cannot be
 * used any more (ENOMEM, EINTERNAL); the host should free it.
 */
WSIO_EXTERN int wsio_err_is_fatal(int err);

/* Frame opcodes, RFC 6455 section 5.2. */
enum wsio_opcode {
    WSIO_OP_CONTINUATION = 0x0,
    WSIO_OP_TEXT = 0x1,
    WSIO_OP_BINARY = 0x2,
    WSIO_OP_CLOSE = 0x8,
    WSIO_OP_PING = 0x9,
    WSIO_OP_PONG = 0xA
};

/* Close status codes, RFC 6455 section 7.4.1 and the IANA registry. */
enum wsio_close_code {
    WSIO_CLOSE_NORMAL = 1000,
    WSIO_CLOSE_GOING_AWAY = 1001,
    WSIO_CLOSE_PROTOCOL_ERROR = 1002,
    WSIO_CLOSE_UNSUPPORTED_DATA = 1003,
    WSIO_CLOSE_NO_STATUS = 1005, /* never sent: "close had no code" */
    WSIO_CLOSE_ABNORMAL = 1006,  /* never sent: "no close frame at all" */
    WSIO_CLOSE_INVALID_PAYLOAD = 1007,
    WSIO_CLOSE_POLICY_VIOLATION = 1008,
    WSIO_CLOSE_MESSAGE_TOO_BIG = 1009,
    WSIO_CLOSE_MANDATORY_EXTENSION = 1010,
    WSIO_CLOSE_INTERNAL_ERROR = 1011,
    WSIO_CLOSE_SERVICE_RESTART = 1012,
    WSIO_CLOSE_TRY_AGAIN_LATER = 1013,
    WSIO_CLOSE_BAD_GATEWAY = 1014,
    WSIO_CLOSE_TLS_HANDSHAKE = 1015 /* never sent */
};

/*
 * wsio_close_code_is_valid - non-zero when a close frame received from a
 * peer may carry this code (RFC 6455 section 7.4): 1000-1003, 1007-1014 and
 * 3000-4999. 1005, 1006 and 1015 are for reporting only and never valid on
 * the wire.
 */
WSIO_EXTERN int wsio_close_code_is_valid(unsigned code);

/* Which end of a connection this is: it decides who masks (section 5.3). */
enum wsio_role { WSIO_ROLE_SERVER = 0, WSIO_ROLE_CLIENT = 1 };

/*
 * Allocator hooks. Every allocation an object makes goes through the
 * wsio_mem given to it at _new; NULL there means libc malloc/realloc/free.
 * The struct is not copied: it must outlive every object made with it.
 * The functions follow the libc contracts (realloc(NULL, n) allocates,
 * free(NULL) does nothing), and may return NULL, which wsio reports as
 * WSIO_ENOMEM without aborting.
 */
typedef struct wsio_mem {
    void *(*malloc)(size_t size, void *user);
    void *(*realloc)(void *ptr, size_t size, void *user);
    void (*free)(void *ptr, void *user);
    void *user; /* passed as the last argument of each function */
} wsio_mem;

/*
 * wsio_mem_default - the libc allocator as a wsio_mem. Returns a pointer to
 * a constant struct; never NULL.
 */
WSIO_EXTERN const wsio_mem *wsio_mem_default(void);

/*
 * A read-only view of bytes owned by someone else. Slices handed out by wsio
 * point into a buffer whose owner and lifetime each function documents.
 */
typedef struct wsio_slice {
    const char *ptr;
    size_t len;
} wsio_slice;

/*
 * A piece of output, in the shape of struct iovec but const and without
 * pulling in <sys/uio.h>.
 */
typedef struct wsio_iov {
    const void *base;
    size_t len;
} wsio_iov;

/*
 * A reference-counted byte buffer, used to queue the same encoded frame on
 * many connections without copying it (broadcast). Made with one reference;
 * freed through its own wsio_mem when the last reference is dropped.
 * Threads: references may be taken and dropped on any thread (the count is
 * atomic), so servers on several threads can share one frame (wsio_hub);
 * the bytes must not change once shared, and mem must then be an
 * allocator that may free on any thread (libc's is).
 *
 * Invariant: refcount >= 1 while anyone holds it; len <= capacity; data is
 * immediately after the struct, in the same allocation.
 */
typedef struct wsio_rcbuf {
    size_t refcount;
    size_t len;          /* bytes of data in use */
    size_t capacity;     /* bytes of data allocated */
    const wsio_mem *mem; /* allocator that made it, and will free it */
    uint8_t data[];      /* the bytes */
} wsio_rcbuf;

/*
 * wsio_rcbuf_new - allocate a buffer of capacity bytes with one reference
 * and len 0. mem may be NULL for libc (else it must outlive the buffer).
 * The caller owns that reference: drop it with wsio_rcbuf_unref. Returns
 * NULL when out of memory.
 */
WSIO_EXTERN wsio_rcbuf *wsio_rcbuf_new(const wsio_mem *mem, size_t capacity);

/* wsio_rcbuf_ref - take one more reference, which the taker drops with
 * wsio_rcbuf_unref; returns buf. */
WSIO_EXTERN wsio_rcbuf *wsio_rcbuf_ref(wsio_rcbuf *buf);

/*
 * wsio_rcbuf_unref - drop one reference, freeing the buffer with the last.
 * NULL does nothing.
 */
WSIO_EXTERN void wsio_rcbuf_unref(wsio_rcbuf *buf);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_COMMON_H */

/*
 * examples/chat/room.h - the chat room of the browser chat example, with no
 * I/O and no wsio dependency.
 *
 * The host (examples/chat/main.c) owns the connections. It tells the room
 * when a client joins or leaves and hands it every text message a client
 * sends; the room answers through a sink of two callbacks: send_to (one
 * client) and broadcast (every joined client). Clients are opaque pointers
 * the host chooses, typically its connection objects. Time comes from the
 * caller, so the room never reads a clock.
 *
 * The protocol (all messages are JSON text frames):
 *   client -> server  {"type":"username","username":"..."}
 *                     {"type":"chat","content":"..."}
 *   server -> client  {"type":"system","content":"...","timestamp":<ms>}
 *                     {"type":"chat","username":"...","content":"...",
 *                      "timestamp":<ms>}
 * Timestamps are milliseconds since the Unix epoch, as given by the host.
 * A newcomer is named CHAT_DEFAULT_NAME, receives the last
 * CHAT_HISTORY_MAX messages (chat and system, oldest first) and then the
 * broadcast "<name> joined". Leaving broadcasts "<name> left"; a name change
 * broadcasts "<old> is now known as <new>".
 *
 * Limits (each rejection is reported with a return code and changes
 * nothing; the client gets no answer, but for a taken name):
 *  - an input message is at most CHAT_INPUT_MAX bytes of strict JSON
 *    (json.h);
 *  - a name loses its bidi controls (U+061C, U+200E, U+200F,
 *    U+202A..U+202E, U+2066..U+2069) and zero-width characters
 *    (U+200B..U+200D, U+2060, U+FEFF), is trimmed of white space at both
 *    ends (what JavaScript's trim removes) and must then hold 1 to
 *    CHAT_NAME_MAX_CHARS code points, none of them a control character
 *    (U+0000..U+001F, U+007F..U+009F). A longer name is rejected, not
 *    truncated: a cut name is one the user never chose;
 *  - a name is unique in the room (ignoring ASCII case), except
 *    CHAT_DEFAULT_NAME, which every newcomer shares: a name another user
 *    holds is refused with the system message "<name> is taken: choose
 *    another name" to the sender only (not in the history);
 *  - content is at most CHAT_CONTENT_MAX_BYTES bytes of UTF-8 after
 *    decoding, sent on as is (not trimmed), and must not be empty or only
 *    white space.
 * Memory is bounded: the history holds at most CHAT_HISTORY_MAX messages of
 * at most about 27 KiB each (the longest content with every byte escaped).
 *
 * One room belongs to one thread at a time.
 */
#ifndef CHAT_ROOM_H
#define CHAT_ROOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHAT_HISTORY_MAX 100
#define CHAT_NAME_MAX_CHARS 32
#define CHAT_CONTENT_MAX_BYTES 4096
#define CHAT_DEFAULT_NAME "Anonymous"
/* The largest input message: room for the longest content written entirely
 * in \uXXXX escapes (6 bytes per byte), plus slack. The host should set its
 * WebSocket message limit to this. */
#define CHAT_INPUT_MAX (32 * 1024)

/* Results of the chat_room_* functions. X(NAME, value, text). Positive
 * values are successes, negative ones errors. */
#define CHAT_ROOM_ERR_MAP(X)                                                   \
    X(UNCHANGED, 1, "name unchanged: nothing sent")                            \
    X(EJSON, -1, "input is not a strict flat JSON object")                     \
    X(ETOOBIG, -2, "input over CHAT_INPUT_MAX bytes")                          \
    X(ETYPE, -3, "type missing, not a string, or unknown")                     \
    X(EFIELD, -4, "username or content missing or not a string")               \
    X(ENAME, -5, "name empty after trimming or has control characters")        \
    X(ENAMELONG, -6, "name over CHAT_NAME_MAX_CHARS code points")              \
    X(EEMPTY, -7, "content empty or only white space")                         \
    X(ECONTENTLONG, -8, "content over CHAT_CONTENT_MAX_BYTES bytes")           \
    X(ENOTJOINED, -9, "client is not in the room")                             \
    X(EJOINED, -10, "client is already in the room")                           \
    X(ESINK, -11, "a sink callback failed")                                    \
    X(EINVAL, -12, "invalid argument")                                         \
    X(ENOMEM, -13, "out of memory")                                            \
    X(ENAMETAKEN, -14, "name taken by another user: told to the sender only")

enum chat_room_err {
    CHAT_ROOM_OK = 0,
#define CHAT_ROOM_ERR_ENUM(name, value, text) CHAT_ROOM_##name = value,
    CHAT_ROOM_ERR_MAP(CHAT_ROOM_ERR_ENUM)
#undef CHAT_ROOM_ERR_ENUM
};

/*
 * Where the room's output goes. The json pointer is borrowed: it is valid
 * only until the callback returns, so copy it (wsio's send functions do).
 * json is not NUL-terminated for the callback's purposes; use len.
 * A callback returns 0, or non-zero when it failed; the room then stops the
 * current call and returns CHAT_ROOM_ESINK (the room's own state change,
 * such as the join itself, stands). Callbacks must not call back into the
 * room.
 */
typedef struct chat_sink {
    /* Send to every client joined to the room, including the one whose
     * join or message caused it. */
    int (*broadcast)(void *ctx, const char *json, size_t len);
    /* Send to one client. */
    int (*send_to)(void *ctx, void *client, const char *json, size_t len);
    void *ctx; /* passed as the first argument of both */
} chat_sink;

/*
 * Allocator hooks, in the shape of wsio_mem so a host can pass the same
 * functions. NULL at chat_room_new means libc. The struct is not copied and
 * must outlive the room. The functions may return NULL; the room reports
 * that as CHAT_ROOM_ENOMEM.
 */
typedef struct chat_mem {
    void *(*malloc)(size_t size, void *user);
    void *(*realloc)(void *ptr, size_t size, void *user);
    void (*free)(void *ptr, void *user);
    void *user;
} chat_mem;

typedef struct chat_room chat_room;

/*
 * chat_room_new - make an empty room.
 *
 * sink: the output callbacks; the struct is copied, both callbacks are
 * required. mem: allocator, or NULL for libc; must outlive the room.
 * Returns the room, or NULL when out of memory or when sink or one of its
 * callbacks is NULL.
 */
chat_room *chat_room_new(const chat_sink *sink, const chat_mem *mem);

/* chat_room_free - free the room and its history. NULL does nothing. The
 * room sends nothing: leave notices are the host's business at shutdown. */
void chat_room_free(chat_room *room);

/*
 * chat_room_join - add client under CHAT_DEFAULT_NAME, send it the history
 * (send_to, oldest first), then broadcast "<name> joined" and add that
 * notice to the history.
 *
 * client: any non-NULL pointer that identifies the client to the host; the
 * room only compares and passes it back. now_ms: the notice's timestamp.
 * Returns 0, or CHAT_ROOM_EJOINED, CHAT_ROOM_EINVAL (room or client NULL),
 * CHAT_ROOM_ENOMEM (nothing changed, nothing sent), or CHAT_ROOM_ESINK (the
 * client is joined; the history or notice was cut short).
 */
int chat_room_join(chat_room *room, void *client, int64_t now_ms);

/*
 * chat_room_join_replayed - chat_room_join without sending the history:
 * the host has replayed the messages the client missed itself (a topic
 * stream resumed from the client's last id, resume.h).
 */
int chat_room_join_replayed(chat_room *room, void *client, int64_t now_ms);

/*
 * chat_room_leave - remove client and broadcast "<name> left" (the host
 * should no longer count the leaving client among those broadcast reaches).
 *
 * The client is removed even when the notice fails, so the room never
 * holds a pointer the host has freed.
 * Returns 0, or CHAT_ROOM_ENOTJOINED, CHAT_ROOM_EINVAL, CHAT_ROOM_ENOMEM
 * (removed, no notice) or CHAT_ROOM_ESINK.
 */
int chat_room_leave(chat_room *room, void *client, int64_t now_ms);

/*
 * chat_room_handle - act on one message json[0..len) from client.
 *
 * "username": rename the client and broadcast "<old> is now known as
 * <new>" (CHAT_ROOM_UNCHANGED and no notice when the trimmed name equals
 * the current one). "chat": broadcast the message with the sender's name.
 * Both outputs are added to the history. Members other than type, username
 * and content are ignored. Input the room refuses changes nothing and
 * sends nothing.
 *
 * Returns 0 or CHAT_ROOM_UNCHANGED; for refused input CHAT_ROOM_ETOOBIG,
 * EJSON, ETYPE, EFIELD, ENAME, ENAMELONG, ENAMETAKEN, EEMPTY or
 * ECONTENTLONG; otherwise
 * CHAT_ROOM_ENOTJOINED, EINVAL, ENOMEM (nothing changed) or ESINK.
 */
int chat_room_handle(chat_room *room, void *client, const char *json,
                     size_t len, int64_t now_ms);

/* chat_room_name - the client's current name (NUL-terminated UTF-8, valid
 * until the client is renamed or leaves), or NULL when it is not joined. */
const char *chat_room_name(const chat_room *room, const void *client);

/* chat_room_count - how many clients are joined. */
size_t chat_room_count(const chat_room *room);

/* chat_room_strerror - a one-line description of a chat_room_err value.
 * Returns a static string; unknown values give "unknown error". */
const char *chat_room_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* CHAT_ROOM_H */

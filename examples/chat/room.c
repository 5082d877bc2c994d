/*
 * examples/chat/room.c - see room.h.
 *
 * Clients are kept in an array searched linearly. That is O(clients) per
 * message, the same order as the broadcast every message triggers anyway,
 * so a map would not change the cost of a message; it would only add code.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "room.h"

/* A name holds at most this many bytes: every code point may take 4. */
#define NAME_MAX_BYTES (CHAT_NAME_MAX_CHARS * 4)

typedef struct chat_user {
    void *client;                  /* the host's pointer; never NULL */
    size_t name_len;               /* bytes of name, NUL excluded */
    char name[NAME_MAX_BYTES + 1]; /* trimmed, validated UTF-8 */
} chat_user;

/* One outgoing message, as the JSON text every client receives. */
typedef struct chat_msg {
    char *json; /* NUL-terminated, owned by whoever holds the chat_msg */
    size_t len; /* bytes, NUL excluded */
} chat_msg;

/*
 * Invariants: users[0..nusers) are distinct clients, nusers <= users_cap.
 * The history is a ring: the oldest of hist_count (<= CHAT_HISTORY_MAX)
 * messages is at history[hist_first], the rest follow modulo
 * CHAT_HISTORY_MAX; every slot in use owns its json.
 */
struct chat_room {
    chat_sink sink;
    const chat_mem *mem;
    chat_user *users;
    size_t nusers;
    size_t users_cap;
    chat_msg history[CHAT_HISTORY_MAX];
    size_t hist_first;
    size_t hist_count;
};

/* ---- allocation ------------------------------------------------------ */

static void *libc_malloc(size_t size, void *user)
{
    (void)user;
    return malloc(size);
}

static void *libc_realloc(void *ptr, size_t size, void *user)
{
    (void)user;
    return realloc(ptr, size);
}

static void libc_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

static const chat_mem libc_mem = {libc_malloc, libc_realloc, libc_free, NULL};

static void *room_malloc(const chat_room *room, size_t size)
{
    return room->mem->malloc(size, room->mem->user);
}

static void room_free(const chat_room *room, void *ptr)
{
    room->mem->free(ptr, room->mem->user);
}

/* ---- names and text -------------------------------------------------- */

/* What JavaScript's String.prototype.trim removes (Unicode White_Space
 * without U+0085, plus U+FEFF), so the page and the server agree on what a
 * trimmed name is. */
static int is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
           cp == 0xFEFF;
}

/* General category Cc. */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* The first code point of s[0..len) that is not white space: its offset,
 * or len. */
static size_t skip_space(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    size_t n;
    while (i < len && (n = chat_utf8_next(s + i, len - i, &cp)) != 0 &&
           is_space(cp))
        i += n;
    return i;
}

/* One past the last code point of s[0..len) that is not white space. */
static size_t end_of_text(const char *s, size_t len)
{
    size_t i = 0, end = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = chat_utf8_next(s + i, len - i, &cp);
        if (n == 0)
            return len; /* not UTF-8 (json.c never passes that): keep all */
        i += n;
        if (!is_space(cp))
            end = i;
    }
    return end;
}

/*
 * Trim raw[0..len) (valid UTF-8) and check it as a name. On success
 * *start and *out_len delimit the trimmed name inside raw.
 */
static int check_name(const char *raw, size_t len, size_t *start,
                      size_t *out_len)
{
    size_t first = skip_space(raw, len);
    size_t end = end_of_text(raw, len);
    if (first >= end)
        return CHAT_ROOM_ENAME; /* empty or only white space */
    size_t chars = 0;
    for (size_t i = first; i < end; chars++) {
        uint32_t cp;
        size_t n = chat_utf8_next(raw + i, end - i, &cp);
        if (n == 0 || is_control(cp))
            return CHAT_ROOM_ENAME;
        i += n;
    }
    if (chars > CHAT_NAME_MAX_CHARS)
        return CHAT_ROOM_ENAMELONG;
    *start = first;
    *out_len = end - first;
    return 0;
}

/* Copy raw[0..len) (valid UTF-8) into out without its invisible code
 * points; returns the bytes written (at most len). */
static size_t strip_invisible(const char *raw, size_t len, char *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = chat_utf8_next(raw + i, len - i, &cp);
        if (n == 0)
            n = 1; /* not UTF-8 (json.c never passes that): check_name says */
        else if (chat_utf8_is_invisible(cp)) {
            i += n;
            continue;
        }
        memcpy(out + o, raw + i, n);
        o += n;
        i += n;
    }
    return o;
}

/* Whether two names are the same to a reader: equal but for ASCII case. */
static int same_name(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

/* Content must have something besides white space. */
static int is_blank(const char *s, size_t len)
{
    return skip_space(s, len) == len;
}

/* ---- outgoing messages ----------------------------------------------- */

/* Append a string literal. */
#define WRITE_LIT(w, lit) chat_json_write_raw((w), (lit), sizeof(lit) - 1)

/* Write one server message; username NULL makes it a system message. */
static void write_message(chat_json_writer *w, const char *username,
                          size_t username_len, const char *content,
                          size_t content_len, int64_t now_ms)
{
    if (username) {
        WRITE_LIT(w, "{\"type\":\"chat\",\"username\":");
        chat_json_write_string(w, username, username_len);
        WRITE_LIT(w, ",\"content\":");
    } else {
        WRITE_LIT(w, "{\"type\":\"system\",\"content\":");
    }
    chat_json_write_string(w, content, content_len);
    WRITE_LIT(w, ",\"timestamp\":");
    chat_json_write_int(w, now_ms);
    WRITE_LIT(w, "}");
}

/* Build a message into memory of exactly its size: measure, then write. */
static int make_message(chat_room *room, const char *username,
                        size_t username_len, const char *content,
                        size_t content_len, int64_t now_ms, chat_msg *out)
{
    chat_json_writer w;
    chat_json_writer_init(&w, NULL, 0);
    write_message(&w, username, username_len, content, content_len, now_ms);
    size_t len = w.len;
    char *json = room_malloc(room, len + 1);
    if (!json)
        return CHAT_ROOM_ENOMEM;
    chat_json_writer_init(&w, json, len + 1);
    write_message(&w, username, username_len, content, content_len, now_ms);
    out->json = json;
    out->len = len;
    return 0;
}

/* A system notice made of up to two names around fixed text:
 * name1 + text [+ name2]. */
static int make_notice(chat_room *room, const chat_user *u, const char *text,
                       const char *name2, size_t name2_len, int64_t now_ms,
                       chat_msg *out)
{
    char content[2 * NAME_MAX_BYTES + 32];
    size_t text_len = strlen(text);
    if (u->name_len + text_len + name2_len > sizeof content)
        return CHAT_ROOM_EINVAL; /* cannot happen: names are capped */
    memcpy(content, u->name, u->name_len);
    memcpy(content + u->name_len, text, text_len);
    if (name2_len)
        memcpy(content + u->name_len + text_len, name2, name2_len);
    return make_message(room, NULL, 0, content,
                        u->name_len + text_len + name2_len, now_ms, out);
}

/* Add msg to the history, which takes it over, dropping the oldest when
 * full. */
static void history_push(chat_room *room, chat_msg msg)
{
    size_t slot;
    if (room->hist_count == CHAT_HISTORY_MAX) {
        slot = room->hist_first;
        room_free(room, room->history[slot].json);
        room->hist_first = (room->hist_first + 1) % CHAT_HISTORY_MAX;
    } else {
        slot = (room->hist_first + room->hist_count) % CHAT_HISTORY_MAX;
        room->hist_count++;
    }
    room->history[slot] = msg;
}

/* Record msg in the history, then broadcast it. */
static int publish(chat_room *room, chat_msg msg)
{
    history_push(room, msg);
    if (room->sink.broadcast(room->sink.ctx, msg.json, msg.len) != 0)
        return CHAT_ROOM_ESINK;
    return 0;
}

static int send_history(chat_room *room, void *client)
{
    for (size_t i = 0; i < room->hist_count; i++) {
        const chat_msg *m =
            &room->history[(room->hist_first + i) % CHAT_HISTORY_MAX];
        if (room->sink.send_to(room->sink.ctx, client, m->json, m->len) != 0)
            return CHAT_ROOM_ESINK;
    }
    return 0;
}

/* ---- users ------------------------------------------------------------ */

static chat_user *find_user(const chat_room *room, const void *client)
{
    for (size_t i = 0; i < room->nusers; i++) {
        if (room->users[i].client == client)
            return &room->users[i];
    }
    return NULL;
}

/* Make room for one more user. */
static int reserve_user(chat_room *room)
{
    if (room->nusers < room->users_cap)
        return 0;
    size_t cap = room->users_cap ? room->users_cap * 2 : 8;
    if (cap > SIZE_MAX / sizeof(chat_user))
        return CHAT_ROOM_ENOMEM;
    chat_user *users = room->mem->realloc(room->users, cap * sizeof(chat_user),
                                          room->mem->user);
    if (!users)
        return CHAT_ROOM_ENOMEM;
    room->users = users;
    room->users_cap = cap;
    return 0;
}

static void set_name(chat_user *u, const char *name, size_t len)
{
    memcpy(u->name, name, len);
    u->name[len] = '\0';
    u->name_len = len;
}

/* ---- public ----------------------------------------------------------- */

chat_room *chat_room_new(const chat_sink *sink, const chat_mem *mem)
{
    if (!sink || !sink->broadcast || !sink->send_to)
        return NULL;
    if (!mem)
        mem = &libc_mem;
    chat_room *room = mem->malloc(sizeof *room, mem->user);
    if (!room)
        return NULL;
    memset(room, 0, sizeof *room);
    room->sink = *sink;
    room->mem = mem;
    return room;
}

void chat_room_free(chat_room *room)
{
    if (!room)
        return;
    for (size_t i = 0; i < room->hist_count; i++)
        room_free(
            room,
            room->history[(room->hist_first + i) % CHAT_HISTORY_MAX].json);
    room_free(room, room->users);
    room_free(room, room);
}

/* Join client, sending it the history first when with_history. */
static int join(chat_room *room, void *client, int64_t now_ms, int with_history)
{
    if (!room || !client)
        return CHAT_ROOM_EINVAL;
    if (find_user(room, client))
        return CHAT_ROOM_EJOINED;
    /* Take everything that can fail before changing anything. */
    int rc = reserve_user(room);
    if (rc)
        return rc;
    chat_user *u = &room->users[room->nusers];
    u->client = client;
    set_name(u, CHAT_DEFAULT_NAME, strlen(CHAT_DEFAULT_NAME));
    chat_msg notice;
    rc = make_notice(room, u, " joined", NULL, 0, now_ms, &notice);
    if (rc)
        return rc;
    room->nusers++;
    /* The history goes first, so the newcomer's own notice is not in it. */
    rc = with_history ? send_history(room, client) : 0;
    if (rc) {
        room_free(room, notice.json);
        return rc;
    }
    return publish(room, notice);
}

int chat_room_join(chat_room *room, void *client, int64_t now_ms)
{
    return join(room, client, now_ms, 1);
}

int chat_room_join_replayed(chat_room *room, void *client, int64_t now_ms)
{
    return join(room, client, now_ms, 0);
}

int chat_room_leave(chat_room *room, void *client, int64_t now_ms)
{
    if (!room || !client)
        return CHAT_ROOM_EINVAL;
    chat_user *u = find_user(room, client);
    if (!u)
        return CHAT_ROOM_ENOTJOINED;
    chat_msg notice;
    int rc = make_notice(room, u, " left", NULL, 0, now_ms, &notice);
    *u = room->users[--room->nusers]; /* removed whatever happens next */
    if (rc)
        return rc;
    return publish(room, notice);
}

/* Whether another user than u holds name; the shared default name is
 * nobody's. */
static int name_taken(const chat_room *room, const chat_user *u,
                      const char *name, size_t len)
{
    if (same_name(name, len, CHAT_DEFAULT_NAME, strlen(CHAT_DEFAULT_NAME)))
        return 0;
    for (size_t i = 0; i < room->nusers; i++)
        if (&room->users[i] != u &&
            same_name(name, len, room->users[i].name, room->users[i].name_len))
            return 1;
    return 0;
}

/* Tell only u that name is taken (nothing goes into the history). */
static int refuse_taken(chat_room *room, const chat_user *u, const char *name,
                        size_t len, int64_t now_ms)
{
    static const char text[] = " is taken: choose another name";
    char content[NAME_MAX_BYTES + sizeof text];
    memcpy(content, name, len);
    memcpy(content + len, text, sizeof text - 1);
    chat_msg msg;
    int rc = make_message(room, NULL, 0, content, len + sizeof text - 1, now_ms,
                          &msg);
    if (rc)
        return rc;
    rc = room->sink.send_to(room->sink.ctx, u->client, msg.json, msg.len);
    room_free(room, msg.json);
    return rc ? CHAT_ROOM_ESINK : CHAT_ROOM_ENAMETAKEN;
}

/* raw_len is at most CHAT_CONTENT_MAX_BYTES (chat_room_handle's buffer). */
static int rename_user(chat_room *room, chat_user *u, const char *raw,
                       size_t raw_len, int64_t now_ms)
{
    char visible[CHAT_CONTENT_MAX_BYTES + 1];
    size_t start, len;
    raw_len = strip_invisible(raw, raw_len, visible);
    int rc = check_name(visible, raw_len, &start, &len);
    if (rc)
        return rc;
    const char *name = visible + start;
    if (len == u->name_len && memcmp(name, u->name, len) == 0)
        return CHAT_ROOM_UNCHANGED;
    if (name_taken(room, u, name, len))
        return refuse_taken(room, u, name, len, now_ms);
    chat_msg notice;
    rc = make_notice(room, u, " is now known as ", name, len, now_ms, &notice);
    if (rc)
        return rc;
    set_name(u, name, len);
    return publish(room, notice);
}

static int say(chat_room *room, const chat_user *u, const char *content,
               size_t len, int64_t now_ms)
{
    if (is_blank(content, len))
        return CHAT_ROOM_EEMPTY;
    chat_msg msg;
    int rc =
        make_message(room, u->name, u->name_len, content, len, now_ms, &msg);
    if (rc)
        return rc;
    return publish(room, msg);
}

/* The string member m, or an error: absent or not a string, or too long. */
static int string_member(const chat_json_member *m, int too_long)
{
    if (m->kind != CHAT_JSON_STRING)
        return CHAT_ROOM_EFIELD;
    return m->len >= m->cap ? too_long : 0;
}

int chat_room_handle(chat_room *room, void *client, const char *json,
                     size_t len, int64_t now_ms)
{
    if (!room || !client || (!json && len > 0))
        return CHAT_ROOM_EINVAL;
    chat_user *u = find_user(room, client);
    if (!u)
        return CHAT_ROOM_ENOTJOINED;
    if (len > CHAT_INPUT_MAX)
        return CHAT_ROOM_ETOOBIG;

    /* A name value may be up to a content's size before trimming, so
     * white space around a valid name never makes it "too long". */
    char type[16], username[CHAT_CONTENT_MAX_BYTES + 1],
        content[CHAT_CONTENT_MAX_BYTES + 1];
    chat_json_member members[] = {
        {"type", type, sizeof type, CHAT_JSON_ABSENT, 0},
        {"username", username, sizeof username, CHAT_JSON_ABSENT, 0},
        {"content", content, sizeof content, CHAT_JSON_ABSENT, 0},
    };
    if (chat_json_parse_object(json, len, members, 3) != 0)
        return CHAT_ROOM_EJSON;
    const chat_json_member *t = &members[0];
    if (t->kind != CHAT_JSON_STRING)
        return CHAT_ROOM_ETYPE;
    int rc;
    if (t->len == 8 && memcmp(type, "username", 8) == 0) {
        rc = string_member(&members[1], CHAT_ROOM_ENAMELONG);
        return rc ? rc : rename_user(room, u, username, members[1].len, now_ms);
    }
    if (t->len == 4 && memcmp(type, "chat", 4) == 0) {
        rc = string_member(&members[2], CHAT_ROOM_ECONTENTLONG);
        return rc ? rc : say(room, u, content, members[2].len, now_ms);
    }
    return CHAT_ROOM_ETYPE;
}

const char *chat_room_name(const chat_room *room, const void *client)
{
    const chat_user *u = room && client ? find_user(room, client) : NULL;
    return u ? u->name : NULL;
}

size_t chat_room_count(const chat_room *room)
{
    return room ? room->nusers : 0;
}

const char *chat_room_strerror(int err)
{
    switch (err) {
    case CHAT_ROOM_OK:
        return "success";
#define CHAT_ROOM_ERR_TEXT(name, value, text)                                  \
    case CHAT_ROOM_##name:                                                     \
        return text;
        CHAT_ROOM_ERR_MAP(CHAT_ROOM_ERR_TEXT)
#undef CHAT_ROOM_ERR_TEXT
    default:
        return "unknown error";
    }
}

/*
 * examples/chat/json.h - the little JSON the chat example needs.
 *
 * A strict reader for one flat object (RFC 8259) whose member values are
 * strings, numbers, true, false or null, and a writer that escapes UTF-8 text
 * into a caller buffer. Nothing here allocates, recurses or depends on wsio:
 * every function works on caller memory in one linear pass.
 *
 * Reader rules, all of them rejections of input RFC 8259 does not allow or
 * that this reader chooses not to take:
 *  - the text is exactly one object, with only JSON whitespace (space, tab,
 *    LF, CR) around it; anything after the closing brace is an error, and so
 *    is a byte order mark;
 *  - member values may not be objects or arrays (CHAT_JSON_ENESTED): the
 *    chat protocol has none, and refusing them keeps the reader free of
 *    recursion and nesting limits;
 *  - strings must be valid UTF-8 (RFC 3629: no overlong forms, no encoded
 *    surrogates, nothing above U+10FFFF), may not hold raw control
 *    characters below 0x20, and may use only the escapes of RFC 8259
 *    section 7; a \u escape of a surrogate must be a high surrogate
 *    immediately followed by a \u escape of a low one, which together decode
 *    to one 4-byte UTF-8 sequence;
 *  - \u0000 is rejected, so every decoded value is a proper C string;
 *  - numbers follow the grammar of section 6 (no leading zeros, no leading
 *    '+', no bare '.', no hex, no NaN or Infinity);
 *  - a member the caller asked for may appear only once (CHAT_JSON_EDUPKEY);
 *    members nobody asked for are checked for syntax and skipped, duplicates
 *    included, since no value of theirs is ever used;
 *  - the input is at most CHAT_JSON_MAX_INPUT bytes.
 */
#ifndef CHAT_JSON_H
#define CHAT_JSON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest input chat_json_parse_object accepts, in bytes. */
#define CHAT_JSON_MAX_INPUT (64 * 1024)

/* Member names longer than this many bytes (decoded) never match a
 * requested member; requested names must be shorter. */
#define CHAT_JSON_MAX_KEY 63

/* Reader results. The negative values are errors; X(NAME, value, text). */
#define CHAT_JSON_ERR_MAP(X)                                                   \
    X(ESYNTAX, -1, "not a well-formed JSON object")                            \
    X(ETOOBIG, -2, "input over CHAT_JSON_MAX_INPUT bytes")                     \
    X(EUTF8, -3, "invalid UTF-8 in a string")                                  \
    X(EESCAPE, -4, "invalid escape, lone surrogate or \\u0000 in a string")    \
    X(ENESTED, -5, "a member value is an object or an array")                  \
    X(EDUPKEY, -6, "a requested member appears twice")                         \
    X(EINVAL, -7, "invalid argument")

enum chat_json_err {
    CHAT_JSON_OK = 0,
#define CHAT_JSON_ERR_ENUM(name, value, text) CHAT_JSON_##name = value,
    CHAT_JSON_ERR_MAP(CHAT_JSON_ERR_ENUM)
#undef CHAT_JSON_ERR_ENUM
};

/* What a requested member turned out to be. */
enum chat_json_kind {
    CHAT_JSON_ABSENT = 0, /* not in the object */
    CHAT_JSON_STRING,
    CHAT_JSON_NUMBER,
    CHAT_JSON_TRUE,
    CHAT_JSON_FALSE,
    CHAT_JSON_NULL
};

/*
 * One member the caller wants out of an object. The caller fills key, buf
 * and cap; chat_json_parse_object fills kind and len.
 *
 * The value is copied into buf snprintf-style: len is the full length of
 * the decoded value, and buf receives as many whole code points of it as
 * fit in cap - 1 bytes, then a NUL. So len >= cap means "did not fit" and
 * the caller decides whether that is an error; buf is still a valid,
 * NUL-terminated UTF-8 prefix. Strings arrive decoded (escapes resolved),
 * numbers as their literal text, and true, false and null as those words.
 */
typedef struct chat_json_member {
    const char *key;          /* in: member name, NUL-terminated, at most
                                 CHAT_JSON_MAX_KEY bytes */
    char *buf;                /* in: where the value goes; NULL if cap is 0 */
    size_t cap;               /* in: bytes at buf, NUL included */
    enum chat_json_kind kind; /* out: CHAT_JSON_ABSENT if not found */
    size_t len;               /* out: decoded value length, without NUL */
} chat_json_member;

/*
 * chat_json_parse_object - check that json[0..len) is one flat JSON object
 * under the rules at the top of this file, and copy out the members named
 * in members[0..n).
 *
 * json need not be NUL-terminated. members may be NULL when n is 0 (pure
 * validation). On error the members' outputs are unspecified.
 *
 * Returns 0, or one of CHAT_JSON_ESYNTAX, ETOOBIG, EUTF8, EESCAPE, ENESTED,
 * EDUPKEY, or EINVAL (json NULL with len > 0, members NULL with n > 0, or a
 * member key NULL or longer than CHAT_JSON_MAX_KEY).
 */
int chat_json_parse_object(const char *json, size_t len,
                           chat_json_member *members, size_t n);

/*
 * chat_json_strerror - a one-line description of a chat_json_err value.
 * Returns a static string; unknown values give "unknown error".
 */
const char *chat_json_strerror(int err);

/*
 * chat_utf8_next - decode the UTF-8 sequence at the start of s[0..len).
 *
 * Strict RFC 3629: overlong forms, surrogates (U+D800..U+DFFF), values above
 * U+10FFFF and truncated sequences are invalid.
 *
 * Returns the sequence length (1..4) and stores the code point in *cp, or
 * returns 0 when len is 0 or the bytes are not a valid sequence (*cp is then
 * left alone).
 */
size_t chat_utf8_next(const char *s, size_t len, uint32_t *cp);

/*
 * chat_utf8_is_invisible - 1 for the bidi controls (U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069) and zero-width characters (U+200B..U+200D,
 * U+2060, U+FEFF): invisible, so a name holding them looks like another,
 * and a bidi override turns around the rest of any line it appears in.
 */
int chat_utf8_is_invisible(uint32_t cp);

/*
 * The writer: output goes to a caller buffer, snprintf-style. len counts
 * every byte the output needs even past cap; the buffer holds the first
 * cap - 1 of them and a NUL (nothing when cap is 0). So a first pass with a
 * zero-capacity writer measures, and the output is whole exactly when
 * len < cap after the last call.
 */
typedef struct chat_json_writer {
    char *buf;  /* output; may be NULL when cap is 0 */
    size_t cap; /* bytes at buf, NUL included */
    size_t len; /* bytes the output needs so far, NUL excluded */
} chat_json_writer;

/* chat_json_writer_init - start writing into buf[0..cap). buf may be NULL
 * when cap is 0 (measure only). */
void chat_json_writer_init(chat_json_writer *w, char *buf, size_t cap);

/* chat_json_write_raw - append s[0..len) as it is (JSON punctuation and
 * text the caller knows needs no escaping). */
void chat_json_write_raw(chat_json_writer *w, const char *s, size_t len);

/*
 * chat_json_write_string - append s[0..len) as a quoted JSON string.
 *
 * Escaped: '"' and '\' as \" and \\, every byte below 0x20 as \u00XX, '<',
 * '>' and '&' as \u003c, \u003e and \u0026, and U+2028 and U+2029 as
 * \u2028 and \u2029. The last five are not required by JSON; they make the
 * output safe to paste into an HTML <script> element or an old JavaScript
 * parser, which costs nothing here. Every other valid UTF-8 sequence
 * (Cyrillic, emoji, ...) is copied unchanged. Each byte that does not start
 * a valid UTF-8 sequence becomes \ufffd, so the output is always valid JSON
 * in valid UTF-8.
 */
void chat_json_write_string(chat_json_writer *w, const char *s, size_t len);

/* chat_json_write_int - append v in decimal. */
void chat_json_write_int(chat_json_writer *w, int64_t v);

#ifdef __cplusplus
}
#endif

#endif /* CHAT_JSON_H */

/*
 * examples/chat/json.c - see json.h. RFC 8259 section numbers in comments
 * say where a rule comes from.
 */
#include <string.h>

#include "json.h"

/* ---- UTF-8 ---------------------------------------------------------- */

size_t chat_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len == 0)
        return 0;
    unsigned char b0 = p[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    /* RFC 3629 section 4: the lead byte fixes the length and the range of
     * the second byte; that range is what excludes overlong forms (E0, F0),
     * surrogates (ED) and values past U+10FFFF (F4). */
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    uint32_t v;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
        v = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        v = b0 & 0x0Fu;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        v = b0 & 0x07u;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        return 0; /* continuation byte, C0, C1 or F5..FF */
    }
    if (len < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0u) != 0x80u)
            return 0;
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    *cp = v;
    return n;
}

int chat_utf8_is_invisible(uint32_t cp)
{
    return cp == 0x061C || (cp >= 0x200B && cp <= 0x200F) ||
           (cp >= 0x202A && cp <= 0x202E) || cp == 0x2060 ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

/* Encode a code point known to be valid (not a surrogate, <= U+10FFFF). */
static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0u | (cp >> 6));
        out[1] = (char)(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0u | (cp >> 12));
        out[1] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
        out[2] = (char)(0x80u | (cp & 0x3Fu));
        return 3;
    }
    out[0] = (char)(0xF0u | (cp >> 18));
    out[1] = (char)(0x80u | ((cp >> 12) & 0x3Fu));
    out[2] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
    out[3] = (char)(0x80u | (cp & 0x3Fu));
    return 4;
}

/* ---- reader --------------------------------------------------------- */

typedef struct reader {
    const char *p;   /* next unread byte */
    const char *end; /* one past the last input byte */
} reader;

/*
 * Where a decoded value goes. Whole code points are stored while they fit
 * in cap - 1 bytes; after the first that does not, nothing more is stored
 * (so buf stays a prefix of the value) but len keeps counting.
 */
typedef struct sink {
    char *buf;
    size_t cap;
    size_t len;     /* full decoded length so far */
    size_t stored;  /* bytes actually in buf */
    int overflowed; /* a code point did not fit: store nothing more */
} sink;

static void sink_init(sink *s, char *buf, size_t cap)
{
    s->buf = cap ? buf : NULL;
    s->cap = s->buf ? cap : 0;
    s->len = 0;
    s->stored = 0;
    s->overflowed = s->cap == 0;
}

/* Store n ASCII bytes, as many as fit: each is a whole code point. */
static void sink_put_ascii(sink *s, const char *bytes, size_t n)
{
    size_t room = s->overflowed ? 0 : s->cap - 1 - s->stored;
    size_t k = n < room ? n : room;
    if (k > 0) {
        memcpy(s->buf + s->stored, bytes, k);
        s->stored += k;
    }
    s->overflowed |= k < n;
    s->len += n;
}

/* Store one code point of n bytes, if it fits whole. */
static void sink_put(sink *s, const char *bytes, size_t n)
{
    if (!s->overflowed && n < s->cap - s->stored) {
        memcpy(s->buf + s->stored, bytes, n);
        s->stored += n;
    } else {
        s->overflowed = 1;
    }
    s->len += n;
}

static void sink_finish(sink *s)
{
    if (s->buf)
        s->buf[s->stored] = '\0';
}

static int is_ws(char c)
{
    /* Section 2: the four insignificant whitespace characters. */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(reader *r)
{
    while (r->p < r->end && is_ws(*r->p))
        r->p++;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read the four hex digits of a \u escape at r->p into *u. */
static int read_hex4(reader *r, uint32_t *u)
{
    if (r->end - r->p < 4)
        return CHAT_JSON_ESYNTAX; /* the input stops inside the escape */
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_value(r->p[i]);
        if (d < 0)
            return CHAT_JSON_EESCAPE;
        v = (v << 4) | (uint32_t)d;
    }
    r->p += 4;
    *u = v;
    return 0;
}

/*
 * Decode a \u escape (r->p just past the "\u") and any low-surrogate escape
 * that must follow it (section 7: characters outside the BMP are written as
 * a UTF-16 surrogate pair). Lone or reversed surrogates and \u0000 are
 * errors.
 */
static int read_unicode_escape(reader *r, uint32_t *cp)
{
    uint32_t u;
    int rc = read_hex4(r, &u);
    if (rc)
        return rc;
    if (u == 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return CHAT_JSON_EESCAPE;
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (r->end - r->p < 2)
            return r->p == r->end || *r->p == '\\' ? CHAT_JSON_ESYNTAX
                                                   : CHAT_JSON_EESCAPE;
        if (r->p[0] != '\\' || r->p[1] != 'u')
            return CHAT_JSON_EESCAPE;
        r->p += 2;
        uint32_t lo;
        rc = read_hex4(r, &lo);
        if (rc)
            return rc;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return CHAT_JSON_EESCAPE;
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    }
    *cp = u;
    return 0;
}

/* Decode one escape sequence (r->p just past the backslash) into s. */
static int read_escape(reader *r, sink *s)
{
    if (r->p == r->end)
        return CHAT_JSON_ESYNTAX;
    char c = *r->p++;
    char simple;
    switch (c) {
    case '"':
        simple = '"';
        break;
    case '\\':
        simple = '\\';
        break;
    case '/':
        simple = '/';
        break;
    case 'b':
        simple = '\b';
        break;
    case 'f':
        simple = '\f';
        break;
    case 'n':
        simple = '\n';
        break;
    case 'r':
        simple = '\r';
        break;
    case 't':
        simple = '\t';
        break;
    case 'u': {
        uint32_t cp;
        int rc = read_unicode_escape(r, &cp);
        if (rc)
            return rc;
        char bytes[4];
        sink_put(s, bytes, utf8_encode(cp, bytes));
        return 0;
    }
    default:
        return CHAT_JSON_EESCAPE;
    }
    sink_put_ascii(s, &simple, 1);
    return 0;
}

/* Read a string (r->p just past the opening quote) into s, which is NUL
 * terminated afterwards. */
static int read_string(reader *r, sink *s)
{
    for (;;) {
        /* The common case: a run of printable ASCII, copied in one go. */
        const char *run = r->p;
        while (r->p < r->end) {
            unsigned char c = (unsigned char)*r->p;
            if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
                break;
            r->p++;
        }
        if (r->p > run)
            sink_put_ascii(s, run, (size_t)(r->p - run));
        if (r->p == r->end)
            return CHAT_JSON_ESYNTAX; /* unterminated string */
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            sink_finish(s);
            return 0;
        }
        if (c == '\\') {
            r->p++;
            int rc = read_escape(r, s);
            if (rc)
                return rc;
        } else if (c < 0x20) {
            return CHAT_JSON_ESYNTAX; /* section 7: must be escaped */
        } else {
            uint32_t cp;
            size_t n = chat_utf8_next(r->p, (size_t)(r->end - r->p), &cp);
            if (n == 0)
                return CHAT_JSON_EUTF8;
            sink_put(s, r->p, n);
            r->p += n;
        }
    }
}

static const char *skip_digits(const char *p, const char *end)
{
    while (p < end && is_digit(*p))
        p++;
    return p;
}

/* Section 6: number = [ minus ] int [ frac ] [ exp ]. */
static int read_number(reader *r, sink *s)
{
    const char *p = r->p, *end = r->end;
    if (p < end && *p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return CHAT_JSON_ESYNTAX;
    p = *p == '0' ? p + 1 : skip_digits(p, end); /* no leading zeros */
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return CHAT_JSON_ESYNTAX;
        p = skip_digits(p, end);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return CHAT_JSON_ESYNTAX;
        p = skip_digits(p, end);
    }
    sink_put_ascii(s, r->p, (size_t)(p - r->p));
    sink_finish(s);
    r->p = p;
    return 0;
}

static int read_literal(reader *r, sink *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return CHAT_JSON_ESYNTAX;
    sink_put_ascii(s, word, n);
    sink_finish(s);
    r->p += n;
    return 0;
}

/* Read one member value into s and say what it was. */
static int read_value(reader *r, sink *s, enum chat_json_kind *kind)
{
    if (r->p == r->end)
        return CHAT_JSON_ESYNTAX;
    switch (*r->p) {
    case '"':
        r->p++;
        *kind = CHAT_JSON_STRING;
        return read_string(r, s);
    case 't':
        *kind = CHAT_JSON_TRUE;
        return read_literal(r, s, "true");
    case 'f':
        *kind = CHAT_JSON_FALSE;
        return read_literal(r, s, "false");
    case 'n':
        *kind = CHAT_JSON_NULL;
        return read_literal(r, s, "null");
    case '{':
    case '[':
        return CHAT_JSON_ENESTED;
    default:
        *kind = CHAT_JSON_NUMBER;
        return read_number(r, s);
    }
}

/* The requested member named key[0..len), or NULL. */
static chat_json_member *find_member(chat_json_member *members, size_t n,
                                     const char *key, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(members[i].key) == len &&
            memcmp(members[i].key, key, len) == 0)
            return &members[i];
    }
    return NULL;
}

/* Read "key": value (r->p at the key's opening quote). */
static int read_member(reader *r, chat_json_member *members, size_t n)
{
    char key[CHAT_JSON_MAX_KEY + 1];
    sink ks;
    sink_init(&ks, key, sizeof key);
    if (r->p == r->end || *r->p != '"')
        return CHAT_JSON_ESYNTAX;
    r->p++;
    int rc = read_string(r, &ks);
    if (rc)
        return rc;
    /* Keys may be escaped ("\u0074ype" is "type"), so match them decoded;
     * one that did not fit the buffer is longer than any requested key. */
    chat_json_member *m =
        ks.overflowed ? NULL : find_member(members, n, key, ks.len);
    if (m && m->kind != CHAT_JSON_ABSENT)
        return CHAT_JSON_EDUPKEY;
    skip_ws(r);
    if (r->p == r->end || *r->p != ':')
        return CHAT_JSON_ESYNTAX;
    r->p++;
    skip_ws(r);
    sink vs;
    sink_init(&vs, m ? m->buf : NULL, m ? m->cap : 0);
    enum chat_json_kind kind = CHAT_JSON_ABSENT;
    rc = read_value(r, &vs, &kind);
    if (rc)
        return rc;
    if (m) {
        m->kind = kind;
        m->len = vs.len;
    }
    return 0;
}

static int check_members(chat_json_member *members, size_t n)
{
    if (n > 0 && !members)
        return CHAT_JSON_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!members[i].key || strlen(members[i].key) > CHAT_JSON_MAX_KEY ||
            (members[i].cap > 0 && !members[i].buf))
            return CHAT_JSON_EINVAL;
        members[i].kind = CHAT_JSON_ABSENT;
        members[i].len = 0;
        if (members[i].cap > 0)
            members[i].buf[0] = '\0';
    }
    return 0;
}

int chat_json_parse_object(const char *json, size_t len,
                           chat_json_member *members, size_t n)
{
    if (!json && len > 0)
        return CHAT_JSON_EINVAL;
    int rc = check_members(members, n);
    if (rc)
        return rc;
    if (len > CHAT_JSON_MAX_INPUT)
        return CHAT_JSON_ETOOBIG;
    reader r = {json, json + len};
    skip_ws(&r);
    if (r.p == r.end || *r.p != '{')
        return CHAT_JSON_ESYNTAX;
    r.p++;
    skip_ws(&r);
    if (r.p < r.end && *r.p == '}') {
        r.p++;
    } else {
        /* Section 4: members separated by commas; a trailing comma fails
         * because read_member then finds no opening quote. */
        for (;;) {
            rc = read_member(&r, members, n);
            if (rc)
                return rc;
            skip_ws(&r);
            if (r.p == r.end)
                return CHAT_JSON_ESYNTAX;
            char c = *r.p++;
            if (c == '}')
                break;
            if (c != ',')
                return CHAT_JSON_ESYNTAX;
            skip_ws(&r);
        }
    }
    skip_ws(&r);
    return r.p == r.end ? 0 : CHAT_JSON_ESYNTAX; /* trailing garbage */
}

const char *chat_json_strerror(int err)
{
    switch (err) {
    case CHAT_JSON_OK:
        return "success";
#define CHAT_JSON_ERR_TEXT(name, value, text)                                  \
    case CHAT_JSON_##name:                                                     \
        return text;
        CHAT_JSON_ERR_MAP(CHAT_JSON_ERR_TEXT)
#undef CHAT_JSON_ERR_TEXT
    default:
        return "unknown error";
    }
}

/* ---- writer --------------------------------------------------------- */

void chat_json_writer_init(chat_json_writer *w, char *buf, size_t cap)
{
    w->buf = cap ? buf : NULL;
    w->cap = w->buf ? cap : 0;
    w->len = 0;
    if (w->buf)
        w->buf[0] = '\0';
}

void chat_json_write_raw(chat_json_writer *w, const char *s, size_t len)
{
    if (w->len < w->cap) {
        size_t room = w->cap - 1 - w->len;
        size_t n = len < room ? len : room;
        memcpy(w->buf + w->len, s, n);
        w->buf[w->len + n] = '\0';
    }
    /* Saturate rather than wrap: a length near SIZE_MAX still reads as
     * "did not fit". */
    w->len = len > SIZE_MAX - w->len ? SIZE_MAX : w->len + len;
}

/* \u00XX or \uXXXX for one code point below U+10000. */
static void write_u_escape(chat_json_writer *w, uint32_t cp)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\',
                   'u',
                   hex[(cp >> 12) & 0xF],
                   hex[(cp >> 8) & 0xF],
                   hex[(cp >> 4) & 0xF],
                   hex[cp & 0xF]};
    chat_json_write_raw(w, esc, sizeof esc);
}

static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' ||
           c == '&';
}

void chat_json_write_string(chat_json_writer *w, const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    chat_json_write_raw(w, "\"", 1);
    while (p < end) {
        /* The common case: a run of bytes copied as they are. */
        const char *run = p;
        while (p < end && (unsigned char)*p < 0x80 &&
               !needs_escape((unsigned char)*p))
            p++;
        if (p > run)
            chat_json_write_raw(w, run, (size_t)(p - run));
        if (p == end)
            break;
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            chat_json_write_raw(w, esc, 2);
            p++;
        } else if (c < 0x80) {
            write_u_escape(w, c);
            p++;
        } else {
            uint32_t cp;
            size_t n = chat_utf8_next(p, (size_t)(end - p), &cp);
            if (n == 0) {
                write_u_escape(w, 0xFFFD);
                p++;
            } else if (cp == 0x2028 || cp == 0x2029) {
                write_u_escape(w, cp);
                p += n;
            } else {
                chat_json_write_raw(w, p, n);
                p += n;
            }
        }
    }
    chat_json_write_raw(w, "\"", 1);
}

void chat_json_write_int(chat_json_writer *w, int64_t v)
{
    char digits[20];
    size_t n = 0;
    /* Negate in unsigned arithmetic so INT64_MIN works. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        digits[sizeof digits - ++n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        chat_json_write_raw(w, "-", 1);
    chat_json_write_raw(w, digits + sizeof digits - n, n);
}

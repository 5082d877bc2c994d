/*
 * tests/examples/test_chat.c - the chat example's JSON reader and writer
 * (examples/chat/json.c) and its room logic (examples/chat/room.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "json.h"
#include "resume.h"
#include "room.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---------------------------------------------------------- */

/* The fields of one server message, read back with the reader under test. */
typedef struct parsed_msg {
    char type[16];
    char username[256];
    char content[CHAT_CONTENT_MAX_BYTES + 1];
    char timestamp[32];
    enum chat_json_kind username_kind;
} parsed_msg;

static void parse_msg(const char *json, size_t len, parsed_msg *m)
{
    chat_json_member members[] = {
        {"type", m->type, sizeof m->type, CHAT_JSON_ABSENT, 0},
        {"username", m->username, sizeof m->username, CHAT_JSON_ABSENT, 0},
        {"content", m->content, sizeof m->content, CHAT_JSON_ABSENT, 0},
        {"timestamp", m->timestamp, sizeof m->timestamp, CHAT_JSON_ABSENT, 0},
    };
    assert_int_equal(chat_json_parse_object(json, len, members, 4), 0);
    assert_int_equal(members[0].kind, CHAT_JSON_STRING);
    assert_int_equal(members[2].kind, CHAT_JSON_STRING);
    assert_int_equal(members[3].kind, CHAT_JSON_NUMBER);
    for (size_t i = 0; i < 4; i++)
        assert_true(members[i].len < members[i].cap);
    m->username_kind = members[1].kind;
}

/* What a sink call delivered. */
typedef struct record {
    int broadcast; /* 1 broadcast, 0 send_to */
    void *client;  /* send_to's client */
    char *json;    /* copy, NUL-terminated */
    size_t len;
} record;

typedef struct recorder {
    record recs[256];
    size_t n;
    long fail_at; /* fail the call with this index; -1 never */
    long calls;
} recorder;

static int record_call(recorder *r, int broadcast, void *client,
                       const char *json, size_t len)
{
    if (r->fail_at >= 0 && r->calls++ == r->fail_at)
        return -1;
    assert_true(r->n < ARRAY_LEN(r->recs));
    record *rec = &r->recs[r->n++];
    rec->broadcast = broadcast;
    rec->client = client;
    rec->json = test_malloc(len + 1);
    memcpy(rec->json, json, len);
    rec->json[len] = '\0';
    rec->len = len;
    return 0;
}

static int rec_broadcast(void *ctx, const char *json, size_t len)
{
    return record_call(ctx, 1, NULL, json, len);
}

static int rec_send_to(void *ctx, void *client, const char *json, size_t len)
{
    return record_call(ctx, 0, client, json, len);
}

static void recorder_clear(recorder *r)
{
    for (size_t i = 0; i < r->n; i++)
        test_free(r->recs[i].json);
    r->n = 0;
}

/* A room over a test_mem allocator (leaks fail the test) and a recorder. */
typedef struct fixture {
    test_mem tm;
    chat_mem mem;
    recorder rec;
    chat_room *room;
    int a, b, c; /* addresses used as client pointers */
} fixture;

/* cmocka wants every block a test allocates freed by the test itself, so
 * each room test opens and closes its fixture. */
static void fixture_open(fixture *f)
{
    memset(f, 0, sizeof *f);
    test_mem_init(&f->tm);
    f->mem = (chat_mem){f->tm.mem.malloc, f->tm.mem.realloc, f->tm.mem.free,
                        f->tm.mem.user};
    f->rec.fail_at = -1;
    chat_sink sink = {rec_broadcast, rec_send_to, &f->rec};
    f->room = chat_room_new(&sink, &f->mem);
    assert_non_null(f->room);
}

static void fixture_close(fixture *f)
{
    chat_room_free(f->room);
    recorder_clear(&f->rec);
    assert_int_equal(f->tm.live_blocks, 0);
}

static int handle_str(fixture *f, void *client, const char *json, int64_t now)
{
    return chat_room_handle(f->room, client, json, strlen(json), now);
}

/* Assert record i is the given message. username NULL: a system message. */
static void expect_rec(const fixture *f, size_t i, int broadcast, void *client,
                       const char *username, const char *content,
                       const char *timestamp)
{
    assert_true(i < f->rec.n);
    const record *r = &f->rec.recs[i];
    assert_int_equal(r->broadcast, broadcast);
    if (!broadcast)
        assert_ptr_equal(r->client, client);
    parsed_msg m;
    parse_msg(r->json, r->len, &m);
    assert_string_equal(m.type, username ? "chat" : "system");
    if (username)
        assert_string_equal(m.username, username);
    else
        assert_int_equal(m.username_kind, CHAT_JSON_ABSENT);
    assert_string_equal(m.content, content);
    assert_string_equal(m.timestamp, timestamp);
}

/* ---- JSON reader ------------------------------------------------------- */

static void test_chat_json_parse_reads_every_value_kind(void **state)
{
    (void)state;
    const char *json = " {\"s\" : \"hi\",\"n\":-12.5e+3,\"t\":true,\"f\":false,"
                       "\"z\":null,\"skip\":\"x\",\"skip\":1 }\r\n\t";
    char s[8], n[16], t[8], fl[8], z[8], absent[8];
    chat_json_member m[] = {
        {"s", s, sizeof s, CHAT_JSON_ABSENT, 0},
        {"n", n, sizeof n, CHAT_JSON_ABSENT, 0},
        {"t", t, sizeof t, CHAT_JSON_ABSENT, 0},
        {"f", fl, sizeof fl, CHAT_JSON_ABSENT, 0},
        {"z", z, sizeof z, CHAT_JSON_ABSENT, 0},
        {"absent", absent, sizeof absent, CHAT_JSON_ABSENT, 0},
    };
    assert_int_equal(
        chat_json_parse_object(json, strlen(json), m, ARRAY_LEN(m)), 0);
    assert_int_equal(m[0].kind, CHAT_JSON_STRING);
    assert_string_equal(s, "hi");
    assert_int_equal(m[0].len, 2);
    assert_int_equal(m[1].kind, CHAT_JSON_NUMBER);
    assert_string_equal(n, "-12.5e+3");
    assert_int_equal(m[2].kind, CHAT_JSON_TRUE);
    assert_int_equal(m[3].kind, CHAT_JSON_FALSE);
    assert_int_equal(m[4].kind, CHAT_JSON_NULL);
    assert_int_equal(m[5].kind, CHAT_JSON_ABSENT);
    assert_string_equal(absent, "");
    assert_int_equal(chat_json_parse_object("{}", 2, NULL, 0), 0);
}

static void test_chat_json_parse_decodes_escapes(void **state)
{
    (void)state;
    static const struct {
        const char *json; /* the string literal, quotes included */
        const char *want; /* its decoded UTF-8 */
    } vectors[] = {
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"},
        {"\"\\u0041\\u00e9\\u00C9\"", "A\xc3\xa9\xc3\x89"},
        {"\"\\u0416\\u043e\"", "Жо"},
        {"\"\\u20ac\\uffff\"", "\xe2\x82\xac\xef\xbf\xbf"},
        {"\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80"}, /* U+1F600 😀 */
        {"\"\\ud83d\\udc4b\"", "👋"},
        {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf"}, /* U+10FFFF */
        {"\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80"}, /* U+10000 */
        {"\"Привет, мир! 👋\"", "Привет, мир! 👋"},
    };
    for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
        char json[128], out[64];
        snprintf(json, sizeof json, "{\"v\":%s}", vectors[i].json);
        chat_json_member m = {"v", out, sizeof out, CHAT_JSON_ABSENT, 0};
        assert_int_equal(chat_json_parse_object(json, strlen(json), &m, 1), 0);
        assert_int_equal(m.kind, CHAT_JSON_STRING);
        assert_string_equal(out, vectors[i].want);
        assert_int_equal(m.len, strlen(vectors[i].want));
    }
}

static void test_chat_json_parse_matches_escaped_keys(void **state)
{
    (void)state;
    const char *json = "{\"\\u0074ype\":\"chat\"}";
    char out[8];
    chat_json_member m = {"type", out, sizeof out, CHAT_JSON_ABSENT, 0};
    assert_int_equal(chat_json_parse_object(json, strlen(json), &m, 1), 0);
    assert_string_equal(out, "chat");
}

static void test_chat_json_parse_accepts_utf8_boundaries(void **state)
{
    (void)state;
    static const char *valid[] = {
        "\xc2\x80",         "\xdf\xbf",         "\xe0\xa0\x80",
        "\xed\x9f\xbf",     "\xee\x80\x80",     "\xef\xbf\xbf",
        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\x7f",
    };
    for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
        char json[32], out[8];
        snprintf(json, sizeof json, "{\"v\":\"%s\"}", valid[i]);
        chat_json_member m = {"v", out, sizeof out, CHAT_JSON_ABSENT, 0};
        assert_int_equal(chat_json_parse_object(json, strlen(json), &m, 1), 0);
        assert_string_equal(out, valid[i]);
    }
}

/* One malformed input and the error it must give. */
typedef struct bad_vector {
    const char *json;
    int err;
} bad_vector;

static void expect_rejected(const bad_vector *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char out[16];
        chat_json_member m = {"type", out, sizeof out, CHAT_JSON_ABSENT, 0};
        int rc = chat_json_parse_object(v[i].json, strlen(v[i].json), &m, 1);
        if (rc != v[i].err)
            fail_msg("input %zu <%s>: got %d (%s), want %d", i, v[i].json, rc,
                     chat_json_strerror(rc), v[i].err);
    }
}

static void test_chat_json_parse_rejects_bad_syntax(void **state)
{
    (void)state;
    static const bad_vector vectors[] = {
        {"", CHAT_JSON_ESYNTAX},
        {"   ", CHAT_JSON_ESYNTAX},
        {"\"type\"", CHAT_JSON_ESYNTAX}, /* not an object */
        {"[]", CHAT_JSON_ESYNTAX},
        {"null", CHAT_JSON_ESYNTAX},
        {"{", CHAT_JSON_ESYNTAX}, /* truncated */
        {"{\"type\"", CHAT_JSON_ESYNTAX},
        {"{\"type\":", CHAT_JSON_ESYNTAX},
        {"{\"type\":\"chat", CHAT_JSON_ESYNTAX},
        {"{\"type\":\"chat\"", CHAT_JSON_ESYNTAX},
        {"{\"type\":\"chat\",}", CHAT_JSON_ESYNTAX}, /* trailing comma */
        {"{,}", CHAT_JSON_ESYNTAX},
        {"{\"a\":1 \"b\":2}", CHAT_JSON_ESYNTAX},     /* missing comma */
        {"{\"a\" 1}", CHAT_JSON_ESYNTAX},             /* missing colon */
        {"{'a':1}", CHAT_JSON_ESYNTAX},               /* single quotes */
        {"{a:1}", CHAT_JSON_ESYNTAX},                 /* bare key */
        {"{\"type\":\"chat\"} x", CHAT_JSON_ESYNTAX}, /* trailing garbage */
        {"{\"type\":\"chat\"}{}", CHAT_JSON_ESYNTAX},
        {"\xef\xbb\xbf{}", CHAT_JSON_ESYNTAX}, /* byte order mark */
        {"{\"a\":tru}", CHAT_JSON_ESYNTAX},
        {"{\"a\":True}", CHAT_JSON_ESYNTAX},
        {"{\"a\":nul}", CHAT_JSON_ESYNTAX},
        {"{\"a\":01}", CHAT_JSON_ESYNTAX}, /* leading zero */
        {"{\"a\":+1}", CHAT_JSON_ESYNTAX},
        {"{\"a\":.5}", CHAT_JSON_ESYNTAX},
        {"{\"a\":1.}", CHAT_JSON_ESYNTAX},
        {"{\"a\":1e}", CHAT_JSON_ESYNTAX},
        {"{\"a\":-}", CHAT_JSON_ESYNTAX},
        {"{\"a\":0x10}", CHAT_JSON_ESYNTAX},
        {"{\"a\":NaN}", CHAT_JSON_ESYNTAX},
        {"{\"a\":Infinity}", CHAT_JSON_ESYNTAX},
        {"{\"a\":\"tab\there\"}", CHAT_JSON_ESYNTAX}, /* raw control char */
        {"{\"a\":\"line\nbreak\"}", CHAT_JSON_ESYNTAX},
        {"{\"a\":\"\x1f\"}", CHAT_JSON_ESYNTAX},
        {"{\"a\":1}\v", CHAT_JSON_ESYNTAX},  /* not JSON whitespace */
        {"{\"a\":\"x\\", CHAT_JSON_ESYNTAX}, /* input ends in escape */
        {"{\"a\":\"\\u12", CHAT_JSON_ESYNTAX},
    };
    expect_rejected(vectors, ARRAY_LEN(vectors));
    /* A NUL byte after the object is trailing garbage too. */
    assert_int_equal(chat_json_parse_object("{}", 3, NULL, 0),
                     CHAT_JSON_ESYNTAX);
}

static void test_chat_json_parse_rejects_bad_escapes(void **state)
{
    (void)state;
    static const bad_vector vectors[] = {
        {"{\"a\":\"\\x41\"}", CHAT_JSON_EESCAPE},
        {"{\"a\":\"\\a\"}", CHAT_JSON_EESCAPE},
        {"{\"a\":\"\\'\"}", CHAT_JSON_EESCAPE},
        {"{\"a\":\"\\U0041\"}", CHAT_JSON_EESCAPE},
        {"{\"a\":\"\\u00g1\"}", CHAT_JSON_EESCAPE},
        {"{\"a\":\"\\u0000\"}", CHAT_JSON_EESCAPE},        /* NUL */
        {"{\"a\":\"\\uD83D\"}", CHAT_JSON_EESCAPE},        /* lone high */
        {"{\"a\":\"\\uDE00\"}", CHAT_JSON_EESCAPE},        /* lone low */
        {"{\"a\":\"\\uDE00\\uD83D\"}", CHAT_JSON_EESCAPE}, /* reversed */
        {"{\"a\":\"\\uD83D\\uD83D\"}", CHAT_JSON_EESCAPE}, /* high, high */
        {"{\"a\":\"\\uD83Dx\"}", CHAT_JSON_EESCAPE},
        {"{\"a\":\"\\uD83D\\n\"}", CHAT_JSON_EESCAPE},
        {"{\"a\":\"\\uD83D\\u0041\"}", CHAT_JSON_EESCAPE},
        {"{\"\\uD83D\":1}", CHAT_JSON_EESCAPE}, /* in a key too */
    };
    expect_rejected(vectors, ARRAY_LEN(vectors));
}

static void test_chat_json_parse_rejects_invalid_utf8(void **state)
{
    (void)state;
    static const bad_vector vectors[] = {
        {"{\"a\":\"\x80\"}", CHAT_JSON_EUTF8},         /* lone continuation */
        {"{\"a\":\"\xc0\x80\"}", CHAT_JSON_EUTF8},     /* overlong NUL */
        {"{\"a\":\"\xc1\xbf\"}", CHAT_JSON_EUTF8},     /* overlong */
        {"{\"a\":\"\xe0\x9f\xbf\"}", CHAT_JSON_EUTF8}, /* overlong 3-byte */
        {"{\"a\":\"\xf0\x8f\xbf\xbf\"}", CHAT_JSON_EUTF8}, /* overlong 4-byte */
        {"{\"a\":\"\xed\xa0\x80\"}", CHAT_JSON_EUTF8},     /* U+D800 */
        {"{\"a\":\"\xed\xbf\xbf\"}", CHAT_JSON_EUTF8},     /* U+DFFF */
        {"{\"a\":\"\xf4\x90\x80\x80\"}", CHAT_JSON_EUTF8}, /* U+110000 */
        {"{\"a\":\"\xf5\x80\x80\x80\"}", CHAT_JSON_EUTF8},
        {"{\"a\":\"\xff\"}", CHAT_JSON_EUTF8},
        {"{\"a\":\"\xe2\x82\"}", CHAT_JSON_EUTF8}, /* truncated */
        {"{\"a\":\"\xe2\x82", CHAT_JSON_EUTF8},    /* at input end */
        {"{\"a\":\"\xd0\x41\"}", CHAT_JSON_EUTF8}, /* bad continuation */
        {"{\"\xd0\":1}", CHAT_JSON_EUTF8},         /* in a key */
    };
    expect_rejected(vectors, ARRAY_LEN(vectors));
}

static void test_chat_json_parse_rejects_nested_values(void **state)
{
    (void)state;
    static const bad_vector vectors[] = {
        {"{\"a\":{}}", CHAT_JSON_ENESTED},
        {"{\"a\":[1,2]}", CHAT_JSON_ENESTED},
        {"{\"skipped\":[[[[[[[[[[[[[[[[[[[[", CHAT_JSON_ENESTED},
    };
    expect_rejected(vectors, ARRAY_LEN(vectors));
}

static void test_chat_json_parse_rejects_duplicate_requested_keys(void **state)
{
    (void)state;
    static const bad_vector vectors[] = {
        {"{\"type\":\"a\",\"type\":\"b\"}", CHAT_JSON_EDUPKEY},
        {"{\"type\":\"a\",\"\\u0074ype\":\"b\"}", CHAT_JSON_EDUPKEY},
        {"{\"type\":1,\"type\":null}", CHAT_JSON_EDUPKEY},
        {"{\"other\":1,\"other\":2,\"type\":\"a\"}", CHAT_JSON_OK},
    };
    expect_rejected(vectors, ARRAY_LEN(vectors));
}

static void test_chat_json_parse_rejects_every_truncation(void **state)
{
    (void)state;
    const char *json =
        "{\"type\":\"chat\",\"content\":\"Ж\\u0416\\uD83D\\uDE00\","
        "\"n\":-1.5e3,\"b\":true}";
    size_t len = strlen(json);
    assert_int_equal(chat_json_parse_object(json, len, NULL, 0), 0);
    for (size_t i = 0; i < len; i++)
        assert_int_not_equal(chat_json_parse_object(json, i, NULL, 0), 0);
}

static void test_chat_json_parse_caps_input_size(void **state)
{
    (void)state;
    size_t len = CHAT_JSON_MAX_INPUT + 1;
    char *json = malloc(len);
    assert_non_null(json);
    memset(json, ' ', len);
    json[0] = '{';
    json[CHAT_JSON_MAX_INPUT - 1] = '}';
    /* Exactly at the limit: valid. One byte more: refused unread. */
    assert_int_equal(chat_json_parse_object(json, CHAT_JSON_MAX_INPUT, NULL, 0),
                     0);
    assert_int_equal(chat_json_parse_object(json, len, NULL, 0),
                     CHAT_JSON_ETOOBIG);
    free(json);
}

static void
test_chat_json_parse_reports_overflow_on_a_code_point_boundary(void **state)
{
    (void)state;
    const char *json = "{\"v\":\"ЖЖЖ\",\"n\":123456}";
    char v[4], n[4];
    chat_json_member m[] = {
        {"v", v, sizeof v, CHAT_JSON_ABSENT, 0},
        {"n", n, sizeof n, CHAT_JSON_ABSENT, 0},
    };
    assert_int_equal(chat_json_parse_object(json, strlen(json), m, 2), 0);
    /* 6 bytes needed; only one whole 2-byte letter fits in 3. */
    assert_int_equal(m[0].len, 6);
    assert_string_equal(v, "Ж");
    assert_int_equal(m[1].len, 6);
    assert_string_equal(n, "123");
    /* An ASCII run is cut anywhere. */
    const char *ascii = "{\"v\":\"abcdef\"}";
    assert_int_equal(chat_json_parse_object(ascii, strlen(ascii), m, 1), 0);
    assert_int_equal(m[0].len, 6);
    assert_string_equal(v, "abc");
    /* A member with no buffer still reports its kind and length. */
    chat_json_member bare = {"v", NULL, 0, CHAT_JSON_ABSENT, 0};
    assert_int_equal(chat_json_parse_object(json, strlen(json), &bare, 1), 0);
    assert_int_equal(bare.kind, CHAT_JSON_STRING);
    assert_int_equal(bare.len, 6);
}

static void test_chat_json_parse_rejects_bad_arguments(void **state)
{
    (void)state;
    char long_key[CHAT_JSON_MAX_KEY + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    chat_json_member m = {long_key, NULL, 0, CHAT_JSON_ABSENT, 0};
    assert_int_equal(chat_json_parse_object("{}", 2, &m, 1), CHAT_JSON_EINVAL);
    m.key = NULL;
    assert_int_equal(chat_json_parse_object("{}", 2, &m, 1), CHAT_JSON_EINVAL);
    assert_int_equal(chat_json_parse_object("{}", 2, NULL, 1),
                     CHAT_JSON_EINVAL);
    assert_int_equal(chat_json_parse_object(NULL, 2, NULL, 0),
                     CHAT_JSON_EINVAL);
    assert_string_equal(chat_json_strerror(CHAT_JSON_EDUPKEY),
                        "a requested member appears twice");
    assert_string_equal(chat_json_strerror(12345), "unknown error");
}

/* ---- JSON writer -------------------------------------------------------- */

static void test_chat_json_write_string_escapes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } vectors[] = {
        {"plain", 5, "\"plain\""},
        {"a\"b\\c/", 6, "\"a\\\"b\\\\c/\""},
        {"\n\r\t\b\f\x01\x1f", 7,
         "\"\\u000a\\u000d\\u0009\\u0008\\u000c\\u0001\\u001f\""},
        {"\x00x", 2, "\"\\u0000x\""},
        {"<img src=x>&", 12, "\"\\u003cimg src=x\\u003e\\u0026\""},
        {"</script>", 9, "\"\\u003c/script\\u003e\""},
        {"Привет, мир! 👋", strlen("Привет, мир! 👋"), "\"Привет, мир! 👋\""},
        {"\xe2\x80\xa8\xe2\x80\xa9", 6, "\"\\u2028\\u2029\""},
        {"\x7f", 1, "\"\x7f\""},
        {"a\xff"
         "b\xc3",
         4, "\"a\\ufffdb\\ufffd\""}, /* invalid UTF-8 */
        {"\xed\xa0\x80", 3,
         "\"\\ufffd\\ufffd\\ufffd\""}, /* encoded surrogate */
        {"", 0, "\"\""},
    };
    for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
        char out[128];
        chat_json_writer w;
        chat_json_writer_init(&w, out, sizeof out);
        chat_json_write_string(&w, vectors[i].in, vectors[i].len);
        assert_string_equal(out, vectors[i].want);
        assert_int_equal(w.len, strlen(vectors[i].want));
    }
}

static void test_chat_json_write_string_round_trips(void **state)
{
    (void)state;
    /* Every byte 0x01..0x7f, then text the chat must carry intact. */
    char all_ascii[128];
    for (int i = 1; i < 128; i++)
        all_ascii[i - 1] = (char)i;
    all_ascii[127] = '\0';
    const char *inputs[] = {
        all_ascii,
        "Иван",
        "Привет, мир! 👋",
        "😀 \xf4\x8f\xbf\xbf \xe2\x80\xa8",
        "<img src=x onerror=\"window.__xss=1\">",
    };
    for (size_t i = 0; i < ARRAY_LEN(inputs); i++) {
        char json[1024], back[256];
        chat_json_writer w;
        chat_json_writer_init(&w, json, sizeof json);
        chat_json_write_raw(&w, "{\"v\":", 5);
        chat_json_write_string(&w, inputs[i], strlen(inputs[i]));
        chat_json_write_raw(&w, "}", 1);
        assert_true(w.len < sizeof json);
        chat_json_member m = {"v", back, sizeof back, CHAT_JSON_ABSENT, 0};
        assert_int_equal(chat_json_parse_object(json, w.len, &m, 1), 0);
        assert_string_equal(back, inputs[i]);
    }
}

static void test_chat_json_writer_measures_and_truncates(void **state)
{
    (void)state;
    const char *s = "Ж\"<";
    chat_json_writer w;
    chat_json_writer_init(&w, NULL, 0);
    chat_json_write_string(&w, s, strlen(s));
    size_t need = w.len;
    assert_int_equal(need, strlen("\"Ж\\\"\\u003c\""));

    char small[5];
    memset(small, 'X', sizeof small);
    chat_json_writer_init(&w, small, sizeof small);
    chat_json_write_string(&w, s, strlen(s));
    assert_int_equal(w.len, need); /* len >= cap: did not fit */
    assert_memory_equal(small, "\"Ж\\", 4);
    assert_int_equal(small[4], '\0');
}

static void test_chat_json_write_int_writes_decimal(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *want;
    } vectors[] = {
        {0, "0"},
        {-1, "-1"},
        {1700000000123, "1700000000123"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };
    for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
        char out[32];
        chat_json_writer w;
        chat_json_writer_init(&w, out, sizeof out);
        chat_json_write_int(&w, vectors[i].v);
        assert_string_equal(out, vectors[i].want);
    }
}

/* ---- room --------------------------------------------------------------- */

static void
test_chat_room_join_broadcasts_notice_with_default_name(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1000), 0);
    assert_int_equal(f->rec.n, 1); /* empty history: nothing sent to a */
    expect_rec(f, 0, 1, NULL, NULL, "Anonymous joined", "1000");
    assert_string_equal(chat_room_name(f->room, &f->a), CHAT_DEFAULT_NAME);
    assert_int_equal(chat_room_count(f->room), 1);

    assert_int_equal(
        handle_str(f, &f->a, "{\"type\":\"chat\",\"content\":\"hi\"}", 1001),
        0);
    expect_rec(f, 1, 1, NULL, "Anonymous", "hi", "1001");
    fixture_close(f);
}

static void test_chat_room_join_sends_history_before_notice(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    assert_int_equal(handle_str(f, &f->a,
                                "{\"type\":\"username\",\"username\":\"Иван\"}",
                                2),
                     0);
    assert_int_equal(
        handle_str(f, &f->a,
                   "{\"type\":\"chat\",\"content\":\"Привет, мир! 👋\"}", 3),
        0);
    recorder_clear(&f->rec);

    assert_int_equal(chat_room_join(f->room, &f->b, 4), 0);
    assert_int_equal(f->rec.n, 4);
    expect_rec(f, 0, 0, &f->b, NULL, "Anonymous joined", "1");
    expect_rec(f, 1, 0, &f->b, NULL, "Anonymous is now known as Иван", "2");
    expect_rec(f, 2, 0, &f->b, "Иван", "Привет, мир! 👋", "3");
    expect_rec(f, 3, 1, NULL, NULL, "Anonymous joined", "4");
    fixture_close(f);
}

/* A page that resumed got its missed messages from the stream: joining
 * sends it no history, only the notice to everyone. */
static void test_chat_room_join_replayed_sends_no_history(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    assert_int_equal(
        handle_str(f, &f->a, "{\"type\":\"chat\",\"content\":\"x\"}", 2), 0);
    recorder_clear(&f->rec);
    assert_int_equal(chat_room_join_replayed(f->room, &f->b, 3), 0);
    assert_int_equal(f->rec.n, 1);
    expect_rec(f, 0, 1, NULL, NULL, "Anonymous joined", "3");
    assert_int_equal(chat_room_join_replayed(f->room, &f->b, 4),
                     CHAT_ROOM_EJOINED);
    fixture_close(f);
}

/* ?since= as the page sends it, and what is not a since. */
static void test_chat_since_from_query(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        int rc;
        uint64_t since;
    } cases[] = {
        {"since=17", 1, 17},
        {"a=1&since=0&b=2", 1, 0},
        {"since=18446744073709551615", 1, UINT64_MAX},
        {"", 0, 0},
        {"sincere=1", 0, 0},
        {"xsince=1", 0, 0},
        {"since=", -1, 0},
        {"since=12a", -1, 0},
        {"since=-1", -1, 0},
        {"since=18446744073709551616", -1, 0}, /* 2^64 */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint64_t since = 12345;
        int rc = chat_since_from_query(cases[i].q, strlen(cases[i].q), &since);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(since, rc == 1 ? cases[i].since : 12345);
    }
}

/* The id goes in as the first member of a room message, which stays
 * strict JSON; the gap notice is a system message the page knows. */
static void test_chat_id_prefix_and_gap_notice(void **state)
{
    (void)state;
    static const char msg[] = "{\"type\":\"chat\",\"username\":\"a\","
                              "\"content\":\"hi\",\"timestamp\":5}";
    char out[CHAT_ID_PREFIX_MAX + sizeof msg];
    size_t n = chat_id_prefix(UINT64_MAX, out);
    assert_true(n <= CHAT_ID_PREFIX_MAX);
    memcpy(out + n, msg + 1, sizeof msg - 1);
    assert_string_equal(out, "{\"id\":18446744073709551615,\"type\":\"chat\","
                             "\"username\":\"a\",\"content\":\"hi\","
                             "\"timestamp\":5}");
    char id[32];
    chat_json_member m[] = {{"id", id, sizeof id, CHAT_JSON_ABSENT, 0}};
    assert_int_equal(chat_json_parse_object(out, strlen(out), m, 1), 0);
    assert_int_equal(m[0].kind, CHAT_JSON_NUMBER);
    assert_string_equal(id, "18446744073709551615");
    n = chat_id_prefix(0, out);
    assert_int_equal(n, 8);
    assert_memory_equal(out, "{\"id\":0,", 8);

    char notice[256];
    n = chat_gap_notice(1700000000000, notice, sizeof notice);
    assert_true(n > 0 && n == strlen(notice));
    parsed_msg pm;
    parse_msg(notice, n, &pm);
    assert_string_equal(pm.type, "system");
    assert_string_equal(pm.timestamp, "1700000000000");
    assert_non_null(strstr(pm.content, "last 100"));
    char gap[8];
    chat_json_member g[] = {{"gap", gap, sizeof gap, CHAT_JSON_ABSENT, 0}};
    assert_int_equal(chat_json_parse_object(notice, n, g, 1), 0);
    assert_int_equal(g[0].kind, CHAT_JSON_TRUE);
    assert_int_equal(chat_gap_notice(1, notice, 10), 0); /* too small */

    /* --redis, Redis away: the sender hears, and the page does not start
     * afresh (no gap member). */
    n = chat_not_sent_notice(1700000000001, notice, sizeof notice);
    assert_true(n > 0 && n == strlen(notice));
    parse_msg(notice, n, &pm);
    assert_string_equal(pm.type, "system");
    assert_string_equal(pm.timestamp, "1700000000001");
    assert_non_null(strstr(pm.content, "Not sent"));
    g[0].kind = CHAT_JSON_ABSENT;
    assert_int_equal(chat_json_parse_object(notice, n, g, 1), 0);
    assert_int_equal(g[0].kind, CHAT_JSON_ABSENT);
    assert_int_equal(chat_not_sent_notice(1, notice, 10), 0);
}

static void test_chat_room_rename_broadcasts_notice_and_trims(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    recorder_clear(&f->rec);
    /* U+3000 and tabs around the name are trimmed. */
    assert_int_equal(
        handle_str(
            f, &f->a,
            "{\"type\":\"username\",\"username\":\" \\t\xe3\x80\x80Иван П. \"}",
            2),
        0);
    expect_rec(f, 0, 1, NULL, NULL, "Anonymous is now known as Иван П.", "2");
    assert_string_equal(chat_room_name(f->room, &f->a), "Иван П.");

    /* The same name again, padded or not: nothing happens. */
    assert_int_equal(
        handle_str(f, &f->a,
                   "{\"type\":\"username\",\"username\":\"Иван П.  \"}", 3),
        CHAT_ROOM_UNCHANGED);
    assert_int_equal(f->rec.n, 1);

    assert_int_equal(handle_str(f, &f->a,
                                "{\"type\":\"username\",\"username\":\"Ivan\"}",
                                4),
                     0);
    expect_rec(f, 1, 1, NULL, NULL, "Иван П. is now known as Ivan", "4");
    assert_int_equal(
        handle_str(f, &f->a,
                   "{\"content\":\"yo\",\"type\":\"chat\",\"extra\":[]}", 5),
        CHAT_ROOM_EJSON);
    assert_int_equal(
        handle_str(f, &f->a,
                   "{\"content\":\"yo\",\"type\":\"chat\",\"extra\":7}", 5),
        0);
    expect_rec(f, 2, 1, NULL, "Ivan", "yo", "5");
    fixture_close(f);
}

static void
test_chat_room_names_are_unique_and_taken_is_told_privately(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    assert_int_equal(chat_room_join(f->room, &f->b, 2), 0);
    assert_int_equal(
        handle_str(f, &f->a, "{\"type\":\"username\",\"username\":\"Alice\"}",
                   3),
        0);
    recorder_clear(&f->rec);
    /* The same name, or one that differs only in ASCII case, or only in
     * invisible characters: refused, told to b alone. */
    static const char *const taken[] = {
        "{\"type\":\"username\",\"username\":\"Alice\"}",
        "{\"type\":\"username\",\"username\":\"aLICE\"}",
        "{\"type\":\"username\",\"username\":\"Al\\u200bice\\u202e\"}",
    };
    for (size_t i = 0; i < ARRAY_LEN(taken); i++) {
        assert_int_equal(handle_str(f, &f->b, taken[i], 4),
                         CHAT_ROOM_ENAMETAKEN);
        assert_int_equal(f->rec.n, i + 1);
        expect_rec(f, i, 0, &f->b, NULL,
                   i == 1 ? "aLICE is taken: choose another name"
                          : "Alice is taken: choose another name",
                   "4");
    }
    assert_string_equal(chat_room_name(f->room, &f->b), CHAT_DEFAULT_NAME);
    /* Not in the history: a newcomer sees joins and the rename only. */
    recorder_clear(&f->rec);
    assert_int_equal(chat_room_join(f->room, &f->c, 5), 0);
    assert_int_equal(f->rec.n, 4);
    /* The default name stays shared; a name is free again once its holder
     * leaves; a user may change the case of its own name. */
    assert_string_equal(chat_room_name(f->room, &f->c), CHAT_DEFAULT_NAME);
    assert_int_equal(
        handle_str(f, &f->a, "{\"type\":\"username\",\"username\":\"ALICE\"}",
                   6),
        0);
    assert_int_equal(chat_room_leave(f->room, &f->a, 7), 0);
    assert_int_equal(
        handle_str(f, &f->b, "{\"type\":\"username\",\"username\":\"alice\"}",
                   8),
        0);
    assert_string_equal(chat_room_name(f->room, &f->b), "alice");
    fixture_close(f);
}

static void test_chat_room_strips_bidi_and_zero_width_from_names(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    recorder_clear(&f->rec);
    /* Every one of them, between and around the letters. */
    assert_int_equal(
        handle_str(
            f, &f->a,
            "{\"type\":\"username\",\"username\":"
            "\"\\u202ee\\u202av\\u202bi\\u202cl"
            "\\u202d\\u2066n\\u2067a\\u2068m\\u2069e\\u200e\\u200f\\u061c"
            "\\u200b\\u200c\\u200d\\u2060\\ufeff\"}",
            2),
        0);
    assert_string_equal(chat_room_name(f->room, &f->a), "evilname");
    expect_rec(f, 0, 1, NULL, NULL, "Anonymous is now known as evilname", "2");
    /* Nothing visible left: refused like an empty name. */
    assert_int_equal(
        handle_str(f, &f->a,
                   "{\"type\":\"username\",\"username\":\"\\u202e\\u200b \"}",
                   3),
        CHAT_ROOM_ENAME);
    assert_int_equal(f->rec.n, 1);
    fixture_close(f);
}

static void test_chat_room_history_keeps_last_100_in_order(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 0), 0);
    for (int i = 1; i <= 150; i++) {
        char json[64];
        snprintf(json, sizeof json,
                 "{\"type\":\"chat\",\"content\":\"msg %d\"}", i);
        assert_int_equal(handle_str(f, &f->a, json, i), 0);
    }
    recorder_clear(&f->rec);
    assert_int_equal(chat_room_join(f->room, &f->b, 151), 0);
    /* 151 messages were said (a join notice and 150 chats); b gets the
     * last 100 of them, oldest first, then its own notice. */
    assert_int_equal(f->rec.n, CHAT_HISTORY_MAX + 1);
    for (int i = 0; i < CHAT_HISTORY_MAX; i++) {
        char content[16], ts[16];
        snprintf(content, sizeof content, "msg %d", 51 + i);
        snprintf(ts, sizeof ts, "%d", 51 + i);
        expect_rec(f, (size_t)i, 0, &f->b, "Anonymous", content, ts);
    }
    expect_rec(f, CHAT_HISTORY_MAX, 1, NULL, NULL, "Anonymous joined", "151");
    fixture_close(f);
}

static void test_chat_room_leave_broadcasts_notice(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    assert_int_equal(chat_room_join(f->room, &f->b, 2), 0);
    assert_int_equal(handle_str(f, &f->a,
                                "{\"type\":\"username\",\"username\":\"Иван\"}",
                                3),
                     0);
    recorder_clear(&f->rec);

    assert_int_equal(chat_room_leave(f->room, &f->a, 4), 0);
    expect_rec(f, 0, 1, NULL, NULL, "Иван left", "4");
    assert_int_equal(chat_room_count(f->room), 1);
    assert_null(chat_room_name(f->room, &f->a));
    assert_string_equal(chat_room_name(f->room, &f->b), "Anonymous");

    assert_int_equal(chat_room_leave(f->room, &f->a, 5), CHAT_ROOM_ENOTJOINED);
    assert_int_equal(
        handle_str(f, &f->a, "{\"type\":\"chat\",\"content\":\"x\"}", 5),
        CHAT_ROOM_ENOTJOINED);
    assert_int_equal(f->rec.n, 1);
    /* The room can be joined again after leaving. */
    assert_int_equal(chat_room_join(f->room, &f->a, 6), 0);
    fixture_close(f);
}

/* Count how many messages a newcomer would be sent: the history length. */
static size_t history_len(fixture *f)
{
    recorder_clear(&f->rec);
    assert_int_equal(chat_room_join(f->room, &f->c, 99), 0);
    size_t n = f->rec.n - 1;
    assert_int_equal(chat_room_leave(f->room, &f->c, 99), 0);
    recorder_clear(&f->rec);
    return n;
}

static void test_chat_room_ignores_bad_input_with_its_code(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    static const struct {
        const char *json;
        int err;
    } vectors[] = {
        {"", CHAT_ROOM_EJSON},
        {"not json", CHAT_ROOM_EJSON},
        {"{\"type\":\"chat\",\"content\":\"hi\"} trailing", CHAT_ROOM_EJSON},
        {"{\"type\":\"chat\",\"content\":\"\\uD83D\"}", CHAT_ROOM_EJSON},
        {"{\"type\":\"chat\",\"content\":\"\xc0\xaf\"}", CHAT_ROOM_EJSON},
        {"{\"type\":\"chat\",\"type\":\"chat\",\"content\":\"hi\"}",
         CHAT_ROOM_EJSON},
        {"{\"type\":{\"x\":1},\"content\":\"hi\"}", CHAT_ROOM_EJSON},
        {"{\"content\":\"hi\"}", CHAT_ROOM_ETYPE},
        {"{\"type\":1,\"content\":\"hi\"}", CHAT_ROOM_ETYPE},
        {"{\"type\":null,\"content\":\"hi\"}", CHAT_ROOM_ETYPE},
        {"{\"type\":\"Chat\",\"content\":\"hi\"}", CHAT_ROOM_ETYPE},
        {"{\"type\":\"system\",\"content\":\"fake\"}", CHAT_ROOM_ETYPE},
        {"{\"type\":\"usernameusernameusername\",\"username\":\"x\"}",
         CHAT_ROOM_ETYPE},
        {"{\"type\":\"chat\"}", CHAT_ROOM_EFIELD},
        {"{\"type\":\"chat\",\"content\":42}", CHAT_ROOM_EFIELD},
        {"{\"type\":\"username\",\"username\":false}", CHAT_ROOM_EFIELD},
        {"{\"type\":\"username\",\"content\":\"x\"}", CHAT_ROOM_EFIELD},
        {"{\"type\":\"chat\",\"content\":\"\"}", CHAT_ROOM_EEMPTY},
        {"{\"type\":\"chat\",\"content\":\" \\n\\t\xc2\xa0\"}",
         CHAT_ROOM_EEMPTY},
        {"{\"type\":\"username\",\"username\":\"\"}", CHAT_ROOM_ENAME},
        {"{\"type\":\"username\",\"username\":\"  \\t \"}", CHAT_ROOM_ENAME},
        {"{\"type\":\"username\",\"username\":\"a\\nb\"}", CHAT_ROOM_ENAME},
        {"{\"type\":\"username\",\"username\":\"a\\u0007\"}", CHAT_ROOM_ENAME},
        {"{\"type\":\"username\",\"username\":\"a\xc2\x85z\"}",
         CHAT_ROOM_ENAME},
    };
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    size_t before = history_len(f);
    for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
        int rc = handle_str(f, &f->a, vectors[i].json, 2);
        if (rc != vectors[i].err)
            fail_msg("input %zu <%s>: got %d (%s), want %d", i, vectors[i].json,
                     rc, chat_room_strerror(rc), vectors[i].err);
    }
    assert_int_equal(f->rec.n, 0);
    assert_string_equal(chat_room_name(f->room, &f->a), "Anonymous");
    /* Only c's own join and leave notices were added. */
    assert_int_equal(history_len(f), before + 2);
    assert_int_equal(chat_room_handle(f->room, &f->a, NULL, 0, 3),
                     CHAT_ROOM_EJSON);
    fixture_close(f);
}

static void test_chat_room_caps_name_at_32_code_points(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    char json[512], name[256];
    /* 32 emoji (128 bytes) with white space around: accepted. */
    name[0] = '\0';
    for (int i = 0; i < CHAT_NAME_MAX_CHARS; i++)
        strcat(name, "😀");
    snprintf(json, sizeof json,
             "{\"type\":\"username\",\"username\":\"  %s  \"}", name);
    assert_int_equal(handle_str(f, &f->a, json, 2), 0);
    assert_string_equal(chat_room_name(f->room, &f->a), name);
    /* 33 code points: rejected whole, not truncated. */
    snprintf(json, sizeof json, "{\"type\":\"username\",\"username\":\"%sЖ\"}",
             name);
    assert_int_equal(handle_str(f, &f->a, json, 3), CHAT_ROOM_ENAMELONG);
    assert_string_equal(chat_room_name(f->room, &f->a), name);
    /* 33 ASCII letters. */
    snprintf(json, sizeof json, "{\"type\":\"username\",\"username\":\"%s\"}",
             "abcdefghijklmnopqrstuvwxyzabcdefg");
    assert_int_equal(handle_str(f, &f->a, json, 4), CHAT_ROOM_ENAMELONG);
    fixture_close(f);
}

static void test_chat_room_caps_content_and_input_size(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    recorder_clear(&f->rec);
    size_t cap = CHAT_INPUT_MAX + 64;
    char *json = test_malloc(cap);
    const char *head = "{\"type\":\"chat\",\"content\":\"";
    size_t hl = strlen(head);

    /* Exactly CHAT_CONTENT_MAX_BYTES, written as \u escapes to stress the
     * input size too: accepted, and carried intact. */
    memcpy(json, head, hl);
    size_t n = hl;
    for (int i = 0; i < CHAT_CONTENT_MAX_BYTES; i++, n += 6)
        memcpy(json + n, "\\u0041", 6);
    memcpy(json + n, "\"}", 2);
    n += 2;
    assert_true(n <= CHAT_INPUT_MAX);
    assert_int_equal(chat_room_handle(f->room, &f->a, json, n, 2), 0);
    assert_int_equal(f->rec.n, 1);
    parsed_msg *m = test_malloc(sizeof *m);
    parse_msg(f->rec.recs[0].json, f->rec.recs[0].len, m);
    assert_int_equal(strlen(m->content), CHAT_CONTENT_MAX_BYTES);
    assert_int_equal(strspn(m->content, "A"), CHAT_CONTENT_MAX_BYTES);
    test_free(m);

    /* One byte more (a 2-byte letter replacing one A): too long. */
    memcpy(json + hl, "Ж", 2);
    memmove(json + hl + 2, json + hl + 6, n - hl - 6);
    n -= 4;
    assert_int_equal(chat_room_handle(f->room, &f->a, json, n, 3),
                     CHAT_ROOM_ECONTENTLONG);

    /* Over CHAT_INPUT_MAX: refused before parsing. */
    memset(json, ' ', cap);
    json[0] = '{';
    json[CHAT_INPUT_MAX] = '}';
    assert_int_equal(
        chat_room_handle(f->room, &f->a, json, CHAT_INPUT_MAX + 1, 4),
        CHAT_ROOM_ETOOBIG);
    assert_int_equal(f->rec.n, 1);
    test_free(json);
    fixture_close(f);
}

static void test_chat_room_escapes_markup_in_output(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    const char *xss = "<img src=x onerror=\\\"window.__xss=1\\\">";
    char json[128];
    snprintf(json, sizeof json, "{\"type\":\"chat\",\"content\":\"%s\"}", xss);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    recorder_clear(&f->rec);
    assert_int_equal(handle_str(f, &f->a, json, 2), 0);
    assert_null(strchr(f->rec.recs[0].json, '<'));
    assert_non_null(strstr(f->rec.recs[0].json, "\\u003cimg"));
    expect_rec(f, 0, 1, NULL, "Anonymous",
               "<img src=x onerror=\"window.__xss=1\">", "2");
    fixture_close(f);
}

static void test_chat_room_reports_misuse(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), CHAT_ROOM_EJOINED);
    assert_int_equal(chat_room_join(f->room, NULL, 1), CHAT_ROOM_EINVAL);
    assert_int_equal(chat_room_join(NULL, &f->a, 1), CHAT_ROOM_EINVAL);
    assert_int_equal(chat_room_leave(f->room, NULL, 1), CHAT_ROOM_EINVAL);
    assert_int_equal(chat_room_handle(f->room, &f->a, NULL, 3, 1),
                     CHAT_ROOM_EINVAL);
    assert_int_equal(chat_room_count(f->room), 1);

    chat_sink no_send = {rec_broadcast, NULL, &f->rec};
    assert_null(chat_room_new(&no_send, NULL));
    assert_null(chat_room_new(NULL, NULL));
    chat_room_free(NULL);
    assert_string_equal(chat_room_strerror(CHAT_ROOM_ENAMELONG),
                        "name over CHAT_NAME_MAX_CHARS code points");
    fixture_close(f);
}

static void test_chat_room_survives_every_failed_allocation(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    /* Each step, with allocation k failing for every k until one run
     * succeeds: the failed runs return ENOMEM and change nothing. */
    static const char *steps[] = {
        NULL, /* join a */
        "{\"type\":\"username\",\"username\":\"Иван\"}",
        "{\"type\":\"chat\",\"content\":\"Привет\"}",
    };
    for (size_t s = 0; s < ARRAY_LEN(steps); s++) {
        for (long k = 0;; k++) {
            size_t count = chat_room_count(f->room), sent = f->rec.n;
            test_mem_fail_at(&f->tm, k);
            int rc = steps[s] ? handle_str(f, &f->a, steps[s], 5)
                              : chat_room_join(f->room, &f->a, 5);
            f->tm.fail_at = -1;
            if (rc == 0)
                break;
            assert_int_equal(rc, CHAT_ROOM_ENOMEM);
            assert_int_equal(chat_room_count(f->room), count);
            assert_int_equal(f->rec.n, sent);
            assert_true(k < 10);
        }
    }
    assert_string_equal(chat_room_name(f->room, &f->a), "Иван");
    /* Leave without memory for the notice still removes the client. */
    test_mem_fail_at(&f->tm, 0);
    assert_int_equal(chat_room_leave(f->room, &f->a, 6), CHAT_ROOM_ENOMEM);
    f->tm.fail_at = -1;
    assert_int_equal(chat_room_count(f->room), 0);

    /* A room that cannot be made is NULL, not a crash. */
    chat_sink sink = {rec_broadcast, rec_send_to, &f->rec};
    test_mem_fail_at(&f->tm, 0);
    assert_null(chat_room_new(&sink, &f->mem));
    f->tm.fail_at = -1;
    fixture_close(f);
}

static void test_chat_room_reports_sink_failure(void **state)
{
    (void)state;
    fixture fx, *f = &fx;
    fixture_open(f);
    assert_int_equal(chat_room_join(f->room, &f->a, 1), 0);
    /* b's history send fails: b is joined anyway, no notice goes out. */
    f->rec.fail_at = 0;
    f->rec.calls = 0;
    size_t sent = f->rec.n;
    assert_int_equal(chat_room_join(f->room, &f->b, 2), CHAT_ROOM_ESINK);
    assert_int_equal(f->rec.n, sent);
    assert_int_equal(chat_room_count(f->room), 2);
    /* A failed broadcast still leaves the message in the history. */
    f->rec.fail_at = 0;
    f->rec.calls = 0;
    assert_int_equal(
        handle_str(f, &f->b, "{\"type\":\"chat\",\"content\":\"kept\"}", 3),
        CHAT_ROOM_ESINK);
    f->rec.fail_at = -1;
    recorder_clear(&f->rec);
    assert_int_equal(chat_room_join(f->room, &f->c, 4), 0);
    expect_rec(f, 1, 0, &f->c, "Anonymous", "kept", "3");
    fixture_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_json_parse_reads_every_value_kind),
        cmocka_unit_test(test_chat_json_parse_decodes_escapes),
        cmocka_unit_test(test_chat_json_parse_matches_escaped_keys),
        cmocka_unit_test(test_chat_json_parse_accepts_utf8_boundaries),
        cmocka_unit_test(test_chat_json_parse_rejects_bad_syntax),
        cmocka_unit_test(test_chat_json_parse_rejects_bad_escapes),
        cmocka_unit_test(test_chat_json_parse_rejects_invalid_utf8),
        cmocka_unit_test(test_chat_json_parse_rejects_nested_values),
        cmocka_unit_test(test_chat_json_parse_rejects_duplicate_requested_keys),
        cmocka_unit_test(test_chat_json_parse_rejects_every_truncation),
        cmocka_unit_test(test_chat_json_parse_caps_input_size),
        cmocka_unit_test(
            test_chat_json_parse_reports_overflow_on_a_code_point_boundary),
        cmocka_unit_test(test_chat_json_parse_rejects_bad_arguments),
        cmocka_unit_test(test_chat_json_write_string_escapes),
        cmocka_unit_test(test_chat_json_write_string_round_trips),
        cmocka_unit_test(test_chat_json_writer_measures_and_truncates),
        cmocka_unit_test(test_chat_json_write_int_writes_decimal),
        cmocka_unit_test(
            test_chat_room_join_broadcasts_notice_with_default_name),
        cmocka_unit_test(test_chat_room_join_sends_history_before_notice),
        cmocka_unit_test(test_chat_room_rename_broadcasts_notice_and_trims),
        cmocka_unit_test(
            test_chat_room_names_are_unique_and_taken_is_told_privately),
        cmocka_unit_test(test_chat_room_strips_bidi_and_zero_width_from_names),
        cmocka_unit_test(test_chat_room_history_keeps_last_100_in_order),
        cmocka_unit_test(test_chat_room_leave_broadcasts_notice),
        cmocka_unit_test(test_chat_room_ignores_bad_input_with_its_code),
        cmocka_unit_test(test_chat_room_caps_name_at_32_code_points),
        cmocka_unit_test(test_chat_room_caps_content_and_input_size),
        cmocka_unit_test(test_chat_room_escapes_markup_in_output),
        cmocka_unit_test(test_chat_room_reports_misuse),
        cmocka_unit_test(test_chat_room_survives_every_failed_allocation),
        cmocka_unit_test(test_chat_room_reports_sink_failure),
        cmocka_unit_test(test_chat_room_join_replayed_sends_no_history),
        cmocka_unit_test(test_chat_since_from_query),
        cmocka_unit_test(test_chat_id_prefix_and_gap_notice),
    };
    return cmocka_run_group_tests_name("chat", tests, NULL, NULL);
}

/*
 * examples/chat/resume.c - see resume.h.
 */
#include <string.h>

#include "json.h"
#include "resume.h"
#include "room.h"

int chat_since_from_query(const char *query, size_t len, uint64_t *since)
{
    static const char key[] = "since=";
    const size_t klen = sizeof key - 1;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && query[end] != '&')
            end++;
        if (end - i >= klen && memcmp(query + i, key, klen) == 0) {
            uint64_t v = 0;
            size_t j = i + klen;
            if (j == end)
                return -1;
            for (; j < end; j++) {
                unsigned d = (unsigned)(query[j] - '0');
                if (d > 9 || v > (UINT64_MAX - d) / 10)
                    return -1;
                v = v * 10 + d;
            }
            *since = v;
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

size_t chat_id_prefix(uint64_t id, char out[CHAT_ID_PREFIX_MAX])
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    memcpy(out, "{\"id\":", 6);
    size_t len = 6;
    while (n)
        out[len++] = digits[--n];
    out[len++] = ',';
    return len;
}

/* A system message: head (JSON up to the content's text), the number n
 * (unless negative), a full stop, and the timestamp. */
static size_t system_notice(const char *head, size_t head_len, int64_t n,
                            int64_t now_ms, char *out, size_t cap)
{
    chat_json_writer w;
    chat_json_writer_init(&w, out, cap);
    chat_json_write_raw(&w, head, head_len);
    if (n >= 0)
        chat_json_write_int(&w, n);
    chat_json_write_raw(&w, ".\",\"timestamp\":", 15);
    chat_json_write_int(&w, now_ms);
    chat_json_write_raw(&w, "}", 1);
    return w.len < cap ? w.len : 0;
}

size_t chat_gap_notice(int64_t now_ms, char *out, size_t cap)
{
    static const char head[] =
        "{\"type\":\"system\",\"gap\":true,\"content\":"
        "\"You were away longer than the server keeps messages: here are "
        "the last ";
    return system_notice(head, sizeof head - 1, CHAT_HISTORY_MAX, now_ms, out,
                         cap);
}

size_t chat_not_sent_notice(int64_t now_ms, char *out, size_t cap)
{
    static const char head[] =
        "{\"type\":\"system\",\"content\":"
        "\"Not sent: the server cannot reach the other chat servers now. "
        "Try again in a moment";
    return system_notice(head, sizeof head - 1, -1, now_ms, out, cap);
}

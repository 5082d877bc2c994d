/*
 * examples/chat/resume.h - what the chat page and server say about
 * resuming (docs/resume.md), with no I/O and no wsio dependency.
 *
 * Every message the server publishes carries the id its topic stream gave
 * it, as the first member: {"id":17,"type":"chat",...}. The page remembers
 * the last id it displayed and reconnects to /ws?since=17; the server
 * replays exactly the messages after it. When the server no longer holds
 * them all, it sends the notice of chat_gap_notice and the last
 * CHAT_HISTORY_MAX messages instead.
 */
#ifndef CHAT_RESUME_H
#define CHAT_RESUME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest text chat_id_prefix writes: {"id":<20 digits>, */
#define CHAT_ID_PREFIX_MAX 28

/*
 * chat_since_from_query - read since=<decimal id> from a URL query
 * (without its '?': "since=17&x=1"). Returns 1 with *since set, 0 when the
 * query has no since parameter, -1 when its value is not a decimal number
 * that fits 64 bits (the server then treats the client as new).
 */
int chat_since_from_query(const char *query, size_t len, uint64_t *since);

/*
 * chat_id_prefix - write {"id":<id>, into out (CHAT_ID_PREFIX_MAX bytes):
 * what replaces the opening brace of a room message (a JSON object with
 * at least one member) to give it its id. Returns the length written.
 */
size_t chat_id_prefix(uint64_t id, char out[CHAT_ID_PREFIX_MAX]);

/*
 * chat_gap_notice - the system message, NUL-terminated in out[0..cap), that
 * tells a page its messages since its last id are no longer all held:
 * {"type":"system","gap":true,"content":"...","timestamp":<now_ms>}. The
 * page starts afresh on it. Returns its length, or 0 when cap is too small.
 */
size_t chat_gap_notice(int64_t now_ms, char *out, size_t cap);

/*
 * chat_not_sent_notice - the system message, like chat_gap_notice's, that
 * tells the sender its message was not sent: with --redis a message gets
 * its id from Redis, so while Redis is away none is delivered.
 */
size_t chat_not_sent_notice(int64_t now_ms, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* CHAT_RESUME_H */

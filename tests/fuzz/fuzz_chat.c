/*
 * tests/fuzz/fuzz_chat.c - the chat example's strict JSON reader and room,
 * fed arbitrary client messages. Every message the room sends must itself
 * be a JSON object the reader accepts, and valid UTF-8: what a browser on
 * the other end will parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "room.h"
#include "wsio/frame.h"

static void check_output(const char *json, size_t len)
{
    char type[16];
    chat_json_member m = {.key = "type", .buf = type, .cap = sizeof type};
    if (chat_json_parse_object(json, len, &m, 1) != 0 ||
        m.kind != CHAT_JSON_STRING || wsio_utf8_validate(json, len) != 0)
        abort();
}

static int sink_broadcast(void *ctx, const char *json, size_t len)
{
    (void)ctx;
    check_output(json, len);
    return 0;
}

static int sink_send_to(void *ctx, void *client, const char *json, size_t len)
{
    (void)ctx;
    (void)client;
    check_output(json, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chat_sink sink = {sink_broadcast, sink_send_to, NULL};
    chat_room *room = chat_room_new(&sink, NULL);
    if (!room)
        return 0;
    int alice, bob;
    chat_room_join(room, &alice, 1);
    chat_room_join(room, &bob, 2);
    /* Messages separated by NUL bytes, alternating senders. */
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == 0) {
            void *who = ((start & 1) ? (void *)&bob : (void *)&alice);
            chat_room_handle(room, who, (const char *)data + start, i - start,
                             (int64_t)i);
            start = i + 1;
        }
    }
    chat_room_leave(room, &alice, 3);
    chat_room_free(room);
    return 0;
}

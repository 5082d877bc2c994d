/*
 * tests/fuzz/fuzz_deflate_negotiate.c - permessage-deflate negotiation on
 * arbitrary header values, both roles (core only, no zlib).
 *
 * Input: one byte picks the policy (bit 0 server_no_context_takeover, bit 1
 * client_no_context_takeover, bits 2-4 and 5-7 the two windows from 8 up),
 * the rest is split at '\n' into up to four Sec-WebSocket-Extensions
 * values.
 *
 * Properties beyond "no crash, no over-read": an accepted offer's answer is
 * NUL-terminated, within WSIO_DEFLATE_HEADER_MAX, agrees to windows in
 * 9..15 for the server and 8..15 for the client, and is an answer our own
 * client accepts (with the policy that made it) with the same parameters
 * when the offer was our client's; agreed parameters are always in range.
 */
#include <stdlib.h>
#include <string.h>

#include "wsio.h"

#define MAX_VALUES 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_params(const wsio_deflate_params *p)
{
    if (p->server_max_window_bits < 8 || p->server_max_window_bits > 15 ||
        p->client_max_window_bits < 8 || p->client_max_window_bits > 15 ||
        p->server_no_context_takeover > 1 || p->client_no_context_takeover > 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    wsio_deflate_policy pol;
    pol.server_no_context_takeover = data[0] & 1;
    pol.client_no_context_takeover = (data[0] >> 1) & 1;
    pol.server_max_window_bits = (uint8_t)(8 + ((data[0] >> 2) & 7));
    pol.client_max_window_bits = (uint8_t)(8 + ((data[0] >> 5) & 7));
    wsio_http_header h[MAX_VALUES];
    size_t n = 0;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (n < MAX_VALUES && p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        h[n].name = (wsio_slice){"Sec-WebSocket-Extensions", 24};
        h[n].value = (wsio_slice){p, (size_t)(stop - p)};
        n++;
        if (!nl)
            break;
        p = nl + 1;
    }

    /* Server. */
    char answer[WSIO_DEFLATE_HEADER_MAX];
    wsio_deflate_params sp;
    ssize_t len =
        wsio_deflate_negotiate(h, n, &pol, &sp, answer, sizeof answer);
    if (len < 0)
        abort(); /* the buffer is always large enough */
    if (len > 0) {
        if ((size_t)len >= sizeof answer || answer[len] != '\0' ||
            strlen(answer) != (size_t)len || sp.server_max_window_bits < 9)
            abort();
        check_params(&sp);
        /* The answer, read as an offer, is acceptable too. */
        wsio_http_header again = {{"Sec-WebSocket-Extensions", 24},
                                  {answer, (size_t)len}};
        char answer2[WSIO_DEFLATE_HEADER_MAX];
        if (wsio_deflate_negotiate(&again, 1, &pol, NULL, answer2,
                                   sizeof answer2) <= 0)
            abort();
    }

    /* Our own client's offer, answered by a server with the same policy,
     * is accepted by that client with the same parameters. */
    char offer[WSIO_DEFLATE_HEADER_MAX];
    ssize_t olen = wsio_deflate_build_offer(&pol, offer, sizeof offer);
    if (olen <= 0)
        abort();
    wsio_http_header oh = {{"Sec-WebSocket-Extensions", 24},
                           {offer, (size_t)olen}};
    wsio_deflate_params agreed, seen;
    len = wsio_deflate_negotiate(&oh, 1, &pol, &agreed, answer, sizeof answer);
    if (len <= 0)
        abort();
    wsio_http_header ah = {{"Sec-WebSocket-Extensions", 24},
                           {answer, (size_t)len}};
    if (wsio_deflate_check_answer(&ah, 1, &pol, &seen) != 1 ||
        memcmp(&agreed, &seen, sizeof seen) != 0)
        abort();

    /* Client, on the fuzzed answer. */
    wsio_deflate_params cp;
    int rc = wsio_deflate_check_answer(h, n, &pol, &cp);
    if (rc != 0 && rc != 1 && rc != WSIO_EHS_EXTENSION)
        abort();
    if (rc == 1) {
        check_params(&cp);
        if (cp.client_max_window_bits < 9)
            abort();
    }
    return 0;
}

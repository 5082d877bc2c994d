/*
 * src/handshake_deflate.c - permessage-deflate negotiation (RFC 7692
 * section 7.1) for both roles: parsing offers and answers, choosing, and
 * writing the header values. libc only, so it is fuzzed and unit-tested
 * without zlib; the compression itself is a codec's (wsio/conn.h).
 *
 * An element is `permessage-deflate *( ";" param [ "=" value ] )` (RFC 6455
 * section 9.1). Every rule of section 7.1 that makes a parameter set
 * invalid (unknown names, duplicates, values out of 8..15 or with leading
 * zeros, values where none belong) makes the whole element invalid: a
 * server declines that offer and tries the next (section 5.1), a client
 * fails the connection (section 5.1, "MUST _Fail the WebSocket
 * Connection_").
 */
#include <string.h>

#include "handshake_http.h"

static const char pmd_name[] = "permessage-deflate";

/* Smallest window this end compresses with: zlib makes no raw deflate
 * stream with 8 bits (deflateInit2 refuses -8), so 8 is never agreed for
 * our own sending side (as Node's ws and Python's websockets do). */
#define MIN_TX_BITS 9
#define MAX_BITS 15

/* One element's parameters. Window fields: 0 when absent. */
typedef struct pmd_element {
    uint8_t server_nct, client_nct;
    uint8_t server_bits;      /* value of server_max_window_bits, or 0 */
    uint8_t client_bits_seen; /* client_max_window_bits present */
    uint8_t client_bits;      /* its value, or 0 when it had none */
} pmd_element;

enum { P_SNCT = 1, P_CNCT = 2, P_SBITS = 4, P_CBITS = 8 };

static wsio_slice trim(const char *p, size_t len)
{
    while (len > 0 && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    return (wsio_slice){p, len};
}

/* Section 7.1.2: a decimal 8..15 without leading zeros, maybe quoted (RFC
 * 6455 section 9.1 allows quoted-string; escapes can never be digits).
 * Returns the value, or 0. */
static uint8_t window_bits(wsio_slice v)
{
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
        v = (wsio_slice){v.ptr + 1, v.len - 2};
    if (v.len == 1 && (v.ptr[0] == '8' || v.ptr[0] == '9'))
        return (uint8_t)(v.ptr[0] - '0');
    if (v.len == 2 && v.ptr[0] == '1' && v.ptr[1] >= '0' && v.ptr[1] <= '5')
        return (uint8_t)(10 + v.ptr[1] - '0');
    return 0;
}

/* One "name[=value]" parameter into e; seen collects the names so far.
 * Returns 0, or -1 when the parameter is invalid. */
static int parse_param(wsio_slice param, pmd_element *e, unsigned *seen)
{
    const char *eq = memchr(param.ptr, '=', param.len);
    wsio_slice name =
        trim(param.ptr, eq ? (size_t)(eq - param.ptr) : param.len);
    wsio_slice value = {NULL, 0};
    if (eq) {
        value = trim(eq + 1, param.len - (size_t)(eq + 1 - param.ptr));
        if (value.len == 0)
            return -1;
    }
    unsigned bit;
    if (wsio__http_slice_is(name, "server_no_context_takeover")) {
        bit = P_SNCT;
        e->server_nct = 1;
    } else if (wsio__http_slice_is(name, "client_no_context_takeover")) {
        bit = P_CNCT;
        e->client_nct = 1;
    } else if (wsio__http_slice_is(name, "server_max_window_bits")) {
        bit = P_SBITS;
        e->server_bits = eq ? window_bits(value) : 0;
        if (!e->server_bits)
            return -1; /* section 7.1.2.1: the value is required */
    } else if (wsio__http_slice_is(name, "client_max_window_bits")) {
        bit = P_CBITS;
        e->client_bits_seen = 1;
        e->client_bits = eq ? window_bits(value) : 0;
        if (eq && !e->client_bits)
            return -1;
    } else {
        return -1; /* section 7.1: unknown parameters are not allowed */
    }
    if ((bit & (P_SNCT | P_CNCT)) && eq)
        return -1; /* sections 7.1.1.1, 7.1.1.2: no value */
    if (*seen & bit)
        return -1; /* section 7.1: at most one of each */
    *seen |= bit;
    return 0;
}

/* Parse one element. Returns 1 for a valid permessage-deflate element, 0
 * for another extension, -1 for an invalid permessage-deflate one. */
static int parse_element(wsio_slice el, pmd_element *e)
{
    memset(e, 0, sizeof *e);
    const char *p = el.ptr, *end = el.ptr + el.len;
    const char *semi = memchr(p, ';', el.len);
    if (!wsio__http_slice_is(trim(p, (size_t)((semi ? semi : end) - p)),
                             pmd_name))
        return 0;
    unsigned seen = 0;
    while (semi) {
        p = semi + 1;
        semi = memchr(p, ';', (size_t)(end - p));
        wsio_slice param = trim(p, (size_t)((semi ? semi : end) - p));
        if (param.len == 0 || parse_param(param, e, &seen) < 0)
            return -1;
    }
    return 1;
}

static uint8_t clamp_bits(uint8_t b)
{
    return b < MIN_TX_BITS ? MIN_TX_BITS : b > MAX_BITS ? MAX_BITS : b;
}

void wsio_deflate_policy_default(wsio_deflate_policy *p)
{
    memset(p, 0, sizeof *p);
    p->server_max_window_bits = MAX_BITS;
    p->client_max_window_bits = MAX_BITS;
}

static const wsio_deflate_policy *
policy_or_default(const wsio_deflate_policy *p, wsio_deflate_policy *def)
{
    if (p)
        return p;
    wsio_deflate_policy_default(def);
    return def;
}

/* ---- writing ------------------------------------------------------------ */

static void out_bits(wsio__out *o, const char *name, uint8_t bits)
{
    char digits[3] = {(char)('0' + bits / 10), (char)('0' + bits % 10), 0};
    wsio__out_str(o, "; ");
    wsio__out_str(o, name);
    if (bits) {
        wsio__out_str(o, "=");
        wsio__out_str(o, bits < 10 ? digits + 1 : digits);
    }
}

/* The element for p; a window field of 0 is left out, 16 is written
 * without a value (client_max_window_bits in an offer). */
typedef struct element_out {
    uint8_t server_nct, client_nct, server_bits, client_bits;
} element_out;

static int emit_element(wsio__out *o, const void *arg)
{
    const element_out *e = arg;
    wsio__out_str(o, pmd_name);
    if (e->server_nct)
        wsio__out_str(o, "; server_no_context_takeover");
    if (e->client_nct)
        wsio__out_str(o, "; client_no_context_takeover");
    if (e->server_bits)
        out_bits(o, "server_max_window_bits", e->server_bits);
    if (e->client_bits)
        out_bits(o, "client_max_window_bits",
                 e->client_bits > MAX_BITS ? 0 : e->client_bits);
    wsio__out_put(o, "", 1); /* the NUL */
    return 0;
}

static ssize_t write_element(const element_out *e, char *out, size_t cap)
{
    ssize_t n = wsio__build(out, cap, emit_element, e);
    if (n < 0)
        return n;
    if ((size_t)n > cap)
        return WSIO_ENOSPC;
    return n - 1; /* without the NUL */
}

/* ---- server ------------------------------------------------------------- */

/* Section 7.1: whether the server can accept offer e under pol, and what
 * it answers and agrees to. Returns 0 when it must decline. */
static int accept_offer(const pmd_element *e, const wsio_deflate_policy *pol,
                        element_out *ans, wsio_deflate_params *agreed)
{
    /* 7.1.2.1: the server must compress with at most the offered window;
     * zlib cannot go under 9. */
    if (e->server_bits && e->server_bits < MIN_TX_BITS)
        return 0;
    uint8_t sbits = clamp_bits(pol->server_max_window_bits);
    if (e->server_bits && e->server_bits < sbits)
        sbits = e->server_bits;
    /* 7.1.2.2: the client may be limited only if it said it can be; its
     * own value is the most it will use anyway. */
    uint8_t cbits = MAX_BITS;
    if (e->client_bits_seen) {
        cbits = clamp_bits(pol->client_max_window_bits);
        if (e->client_bits && e->client_bits < cbits)
            cbits = e->client_bits;
    }
    memset(ans, 0, sizeof *ans);
    /* 7.1.1.1: an offered server_no_context_takeover must be accepted.
     * 7.1.1.2: echoing the client's lets us drop its window between
     * messages. */
    ans->server_nct = e->server_nct || pol->server_no_context_takeover;
    ans->client_nct = e->client_nct || pol->client_no_context_takeover;
    ans->server_bits = e->server_bits || sbits < MAX_BITS ? sbits : 0;
    ans->client_bits = e->client_bits_seen && cbits < MAX_BITS ? cbits : 0;
    agreed->server_no_context_takeover = ans->server_nct;
    agreed->client_no_context_takeover = ans->client_nct;
    agreed->server_max_window_bits = sbits;
    agreed->client_max_window_bits = cbits;
    return 1;
}

ssize_t wsio_deflate_negotiate(const wsio_http_header *headers, size_t n,
                               const wsio_deflate_policy *policy,
                               wsio_deflate_params *params, char *answer,
                               size_t cap)
{
    if ((!headers && n > 0) || !answer)
        return WSIO_EINVAL;
    wsio_deflate_policy def;
    const wsio_deflate_policy *pol = policy_or_default(policy, &def);
    wsio_http_token_iter it;
    wsio_slice el;
    wsio_http_token_iter_init(&it, headers, n, "Sec-WebSocket-Extensions");
    while (wsio_http_token_iter_next(&it, &el)) {
        pmd_element e;
        element_out ans;
        wsio_deflate_params agreed;
        if (parse_element(el, &e) != 1 || !accept_offer(&e, pol, &ans, &agreed))
            continue;
        ssize_t len = write_element(&ans, answer, cap);
        if (len >= 0 && params)
            *params = agreed;
        return len;
    }
    return 0;
}

/* ---- client ------------------------------------------------------------- */

ssize_t wsio_deflate_build_offer(const wsio_deflate_policy *policy, char *out,
                                 size_t cap)
{
    if (!out)
        return WSIO_EINVAL;
    wsio_deflate_policy def;
    const wsio_deflate_policy *pol = policy_or_default(policy, &def);
    uint8_t sbits = clamp_bits(pol->server_max_window_bits);
    uint8_t cbits = clamp_bits(pol->client_max_window_bits);
    element_out e;
    e.server_nct = pol->server_no_context_takeover;
    e.client_nct = pol->client_no_context_takeover;
    e.server_bits = sbits < MAX_BITS ? sbits : 0;
    /* Always offered, so that the server may limit our window: without a
     * value when we use the full one (16 means "no value"). */
    e.client_bits = cbits < MAX_BITS ? cbits : MAX_BITS + 1;
    return write_element(&e, out, cap);
}

int wsio_deflate_check_answer(const wsio_http_header *headers, size_t n,
                              const wsio_deflate_policy *policy,
                              wsio_deflate_params *params)
{
    if (!headers && n > 0)
        return WSIO_EINVAL;
    wsio_deflate_policy def;
    const wsio_deflate_policy *pol = policy_or_default(policy, &def);
    wsio_http_token_iter it;
    wsio_slice el;
    pmd_element a = {0, 0, 0, 0, 0}, e;
    int found = 0;
    wsio_http_token_iter_init(&it, headers, n, "Sec-WebSocket-Extensions");
    while (wsio_http_token_iter_next(&it, &el)) {
        int r = parse_element(el, &e);
        /* One offer, so at most one acceptance (section 7). */
        if (r < 0 || (r == 1 && found))
            return WSIO_EHS_EXTENSION;
        if (r == 1) {
            a = e;
            found = 1;
        }
    }
    if (!found)
        return 0;
    uint8_t sbits = clamp_bits(pol->server_max_window_bits);
    uint8_t cbits = clamp_bits(pol->client_max_window_bits);
    /* 7.1.1.1: what we asked of the server must be in the answer. */
    if (pol->server_no_context_takeover && !a.server_nct)
        return WSIO_EHS_EXTENSION;
    /* 7.1.2.1: the answer must carry a window no larger than asked for. */
    if (sbits < MAX_BITS && (!a.server_bits || a.server_bits > sbits))
        return WSIO_EHS_EXTENSION;
    /* 7.1.2.2: a value is required in an answer, no larger than our
     * offer's, and zlib cannot compress with 8. */
    if (a.client_bits_seen && (!a.client_bits || a.client_bits > cbits ||
                               a.client_bits < MIN_TX_BITS))
        return WSIO_EHS_EXTENSION;
    if (params) {
        params->server_no_context_takeover = a.server_nct;
        params->client_no_context_takeover =
            a.client_nct || pol->client_no_context_takeover;
        params->server_max_window_bits =
            a.server_bits ? a.server_bits : MAX_BITS;
        params->client_max_window_bits = a.client_bits ? a.client_bits : cbits;
    }
    return 1;
}

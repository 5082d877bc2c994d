/*
 * src/frame.c - frame header decode, check and encode (RFC 6455 section 5.2).
 *
 * The wire layout (section 5.2):
 *
 *   byte 0: FIN(1) RSV1(1) RSV2(1) RSV3(1) opcode(4)
 *   byte 1: MASK(1) payload len(7)
 *   then 0, 2 or 8 bytes of extended length (network byte order) when the
 *   7-bit length is 126 or 127, then 4 bytes of masking key when MASK is set.
 *
 * The whole header is at most 14 bytes, and its size is known from the first
 * two bytes, so decoding never needs a per-byte state machine: the caller
 * either has the whole header and it is decoded in one step, or is told how
 * many bytes to wait for.
 */
#include <string.h>

#include "internal.h"
#include "wsio/frame.h"

/* 7-bit length values that announce the 16- and 64-bit forms. */
#define LEN7_16BIT 126u
#define LEN7_64BIT 127u

/* Bytes of extended length that follow byte 1 for a given 7-bit length. */
static size_t extended_len_size(unsigned len7)
{
    if (len7 == LEN7_64BIT)
        return 8;
    return len7 == LEN7_16BIT ? 2 : 0;
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void store_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

ssize_t wsio_frame_header_decode(const void *buf, size_t len,
                                 wsio_frame_header *h)
{
    if (!buf || !h)
        return WSIO_EINVAL;
    const uint8_t *p = buf;
    if (len < 2) {
        h->header_len = 2;
        return WSIO_EAGAIN;
    }
    unsigned len7 = p[1] & 0x7Fu;
    unsigned masked = p[1] >> 7;
    size_t ext = extended_len_size(len7);
    size_t need = 2 + ext + (masked ? 4 : 0);
    if (len < need) {
        h->header_len = (uint8_t)need;
        return WSIO_EAGAIN;
    }

    uint64_t payload_len = len7;
    if (ext == 2) {
        payload_len = (uint64_t)p[2] << 8 | p[3];
    } else if (ext == 8) {
        payload_len = load_be64(p + 2);
        /* Section 5.2: "the most significant bit MUST be 0". */
        if (payload_len >> 63)
            return WSIO_ELENGTH;
    }

    h->payload_len = payload_len;
    h->fin = (uint8_t)(p[0] >> 7);
    h->rsv = (uint8_t)((p[0] >> 4) & 0x7u);
    h->opcode = (uint8_t)(p[0] & 0xFu);
    h->masked = (uint8_t)masked;
    if (masked)
        memcpy(h->mask_key, p + 2 + ext, 4);
    else
        memset(h->mask_key, 0, 4);
    h->header_len = (uint8_t)need;
    return (ssize_t)need;
}

/* Section 5.2: 0x3-0x7 are reserved data opcodes, 0xB-0xF reserved
 * control opcodes. */
static int opcode_is_reserved(unsigned opcode)
{
    switch (opcode) {
    case WSIO_OP_CONTINUATION:
    case WSIO_OP_TEXT:
    case WSIO_OP_BINARY:
    case WSIO_OP_CLOSE:
    case WSIO_OP_PING:
    case WSIO_OP_PONG:
        return 0;
    default:
        return 1;
    }
}

int wsio_frame_header_check(const wsio_frame_header *h, enum wsio_role role,
                            unsigned allowed_rsv)
{
    /* Section 5.1: a server closes on an unmasked frame, a client on a
     * masked one. */
    if (role == WSIO_ROLE_SERVER && !h->masked)
        return WSIO_EUNMASKED;
    if (role == WSIO_ROLE_CLIENT && h->masked)
        return WSIO_EMASKED;
    /* Section 5.2: RSV bits must be 0 unless an extension gave them a
     * meaning. */
    if (h->rsv & ~allowed_rsv)
        return WSIO_ERSV;
    if (opcode_is_reserved(h->opcode))
        return WSIO_EOPCODE;
    /* Section 5.5: control frames (opcode high bit set) are never
     * fragmented and carry at most 125 bytes. */
    if ((h->opcode & 0x8u) &&
        (!h->fin || h->payload_len > WSIO_CONTROL_PAYLOAD_MAX))
        return WSIO_ECONTROL;
    return 0;
}

size_t wsio_frame_header_size(uint64_t payload_len, int masked)
{
    size_t ext = payload_len < LEN7_16BIT ? 0 : payload_len <= 0xFFFFu ? 2 : 8;
    return 2 + ext + (masked ? 4 : 0);
}

ssize_t wsio_frame_header_encode(void *out, const wsio_frame_header *h)
{
    if (!out || !h || h->opcode > 0xFu || h->rsv > 7u || h->payload_len >> 63)
        return WSIO_EINVAL;
    uint8_t *p = out;
    uint64_t len = h->payload_len;
    size_t n = wsio_frame_header_size(len, 0);
    uint8_t mask_bit = h->masked ? 0x80u : 0;

    p[0] = (uint8_t)((h->fin ? 0x80u : 0) | (unsigned)h->rsv << 4 | h->opcode);
    /* Section 5.2: the shortest form that holds the length. */
    if (n == 2) {
        p[1] = (uint8_t)(mask_bit | len);
    } else {
        p[1] = (uint8_t)(mask_bit | (n == 4 ? LEN7_16BIT : LEN7_64BIT));
        store_be(p + 2, len, n - 2);
    }
    if (h->masked) {
        memcpy(p + n, h->mask_key, 4);
        n += 4;
    }
    return (ssize_t)n;
}

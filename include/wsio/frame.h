/*
 * wsio/frame.h - layer 2: the frame codec (RFC 6455 section 5).
 *
 * Frame header decode and encode, masking, and the incremental UTF-8
 * validator. Nothing here allocates, reads a clock or touches the OS: every
 * function works on caller memory and can be used alone, without a
 * connection.
 *
 * Threads: no state outside the caller's structs: any thread may call any
 * function, on structs no other thread is using at the same time.
 */
#ifndef WSIO_FRAME_H
#define WSIO_FRAME_H

#include "wsio/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest frame header: 2 bytes + 8 of length + 4 of masking key. */
#define WSIO_FRAME_HEADER_MAX 14

/* Largest payload of a control frame (section 5.5). */
#define WSIO_CONTROL_PAYLOAD_MAX 125

/* RSV bits as they sit in wsio_frame_header.rsv (section 5.2). */
#define WSIO_RSV1 0x4u
#define WSIO_RSV2 0x2u
#define WSIO_RSV3 0x1u

/*
 * One frame header, decoded or to be encoded.
 */
typedef struct wsio_frame_header {
    uint64_t payload_len; /* payload bytes that follow the header */
    uint8_t opcode;       /* WSIO_OP_*; may be a reserved value when decoded */
    uint8_t fin;          /* 1 on the last frame of a message */
    uint8_t rsv;          /* WSIO_RSV1 | WSIO_RSV2 | WSIO_RSV3 bits */
    uint8_t masked;       /* 1 when mask_key is present */
    uint8_t mask_key[4];  /* meaningful only when masked */
    uint8_t header_len;   /* bytes the header takes on the wire (2..14) */
} wsio_frame_header;

/*
 * wsio_frame_header_decode - decode the frame header at the start of buf.
 *
 * Works on any prefix of a stream: when buf holds too few bytes, it returns
 * WSIO_EAGAIN and sets h->header_len to the number of header bytes needed so
 * far (2 until the length form is known, then the full header length), so
 * the caller knows how many more to wait for. The payload is not looked at.
 *
 * Only rules that belong to the header itself are checked here: the 64-bit
 * length form must have its most significant bit clear (section 5.2). The
 * rules that depend on context (masking by role, RSV bits, opcodes, control
 * frame sizes) are in wsio_frame_header_check.
 *
 * Returns the header length (2..14), WSIO_EAGAIN, WSIO_ELENGTH, or
 * WSIO_EINVAL when buf or h is NULL.
 */
WSIO_EXTERN ssize_t wsio_frame_header_decode(const void *buf, size_t len,
                                             wsio_frame_header *h);

/*
 * wsio_frame_header_check - apply the RFC 6455 rules that a received header
 * must meet, for an endpoint of the given role.
 *
 *  - role WSIO_ROLE_SERVER: the frame must be masked (section 5.1);
 *    role WSIO_ROLE_CLIENT: it must not be.
 *  - RSV bits outside allowed_rsv (the bits negotiated extensions use; 0
 *    without any) are an error (section 5.2).
 *  - Opcodes 0x3-0x7 and 0xB-0xF are reserved (section 5.2).
 *  - Control frames must have FIN set and at most 125 bytes (section 5.5).
 *
 * Fragmentation order (continuations) needs the connection's state and is
 * checked by the conn layer.
 *
 * Returns 0, WSIO_EUNMASKED, WSIO_EMASKED, WSIO_ERSV, WSIO_EOPCODE or
 * WSIO_ECONTROL (the first that applies, in that order).
 */
WSIO_EXTERN int wsio_frame_header_check(const wsio_frame_header *h,
                                        enum wsio_role role,
                                        unsigned allowed_rsv);

/*
 * wsio_frame_header_size - bytes an encoded header takes for a payload of
 * payload_len bytes, with (masked != 0) or without a masking key. Returns
 * 2..14.
 */
WSIO_EXTERN size_t wsio_frame_header_size(uint64_t payload_len, int masked);

/*
 * wsio_frame_header_encode - write the header h describes into out, using
 * the shortest length form (section 5.2: "the minimal number of bytes MUST
 * be used"). h->header_len is ignored; mask_key is written when h->masked.
 * out must have room for WSIO_FRAME_HEADER_MAX bytes.
 *
 * Returns the number of bytes written (2..14), or WSIO_EINVAL when opcode is
 * over 0xF, rsv over 7, or payload_len has its top bit set.
 */
WSIO_EXTERN ssize_t wsio_frame_header_encode(void *out,
                                             const wsio_frame_header *h);

/*
 * wsio_mask - apply (or remove: it is its own inverse) the masking of
 * section 5.3 to len bytes at buf, in place.
 *
 * offset is the position of buf[0] within the frame's payload, so a payload
 * that arrives in pieces can be unmasked piece by piece: byte i of the
 * payload is XORed with key[i % 4]. Any alignment of buf is fine.
 */
WSIO_EXTERN void wsio_mask(void *buf, size_t len, const uint8_t key[4],
                           uint64_t offset);

/*
 * wsio_mask_copy - like wsio_mask, but reads src and writes the masked bytes
 * to dst (which may equal src, but must not otherwise overlap it).
 */
WSIO_EXTERN void wsio_mask_copy(void *dst, const void *src, size_t len,
                                const uint8_t key[4], uint64_t offset);

/*
 * Incremental UTF-8 validator (RFC 3629, as section 8.1 requires of text
 * messages). A value struct the caller embeds; it keeps its state across
 * fragments and read boundaries and fails at the first byte that cannot
 * start or continue a valid sequence: overlong forms, surrogates
 * (U+D800-U+DFFF) and code points above U+10FFFF are all rejected there.
 */
typedef struct wsio_utf8 {
    uint32_t state; /* 0 between characters; internal otherwise */
} wsio_utf8;

/* wsio_utf8_init - start validating a new text (between characters). */
WSIO_EXTERN void wsio_utf8_init(wsio_utf8 *v);

/*
 * wsio_utf8_feed - validate the next len bytes of a text.
 *
 * Returns 0 when every byte so far can be part of valid UTF-8 (a character
 * may still be open at the end), or WSIO_EUTF8 at the first invalid byte;
 * after WSIO_EUTF8 the validator keeps failing until wsio_utf8_init.
 * If bad_offset is not NULL, on WSIO_EUTF8 it receives the index in buf of
 * the first byte that made the text invalid.
 */
WSIO_EXTERN int wsio_utf8_feed(wsio_utf8 *v, const void *buf, size_t len,
                               size_t *bad_offset);

/*
 * wsio_utf8_finish - check that the text ends between characters.
 * Returns 0, or WSIO_EUTF8 when a sequence was left truncated or invalid.
 */
WSIO_EXTERN int wsio_utf8_finish(const wsio_utf8 *v);

/*
 * wsio_utf8_validate - validate a whole text at once.
 * Returns 0 or WSIO_EUTF8.
 */
WSIO_EXTERN int wsio_utf8_validate(const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_FRAME_H */

/*
 * src/handshake_sha1.h - SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept
 * (RFC 6455 section 4.2.2). Never exported.
 *
 * SHA-1 is broken for collision resistance; the handshake uses it only to
 * prove that the server read the key, which it still does.
 */
#ifndef WSIO_SHA1_H
#define WSIO_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define WSIO__SHA1_LEN 20

/* Incremental state. Invariant: buf_len < 64; total counts every byte fed. */
typedef struct wsio__sha1_ctx {
    uint32_t h[5];   /* chaining value */
    uint64_t total;  /* bytes fed so far */
    uint8_t buf[64]; /* the incomplete block */
    size_t buf_len;  /* bytes of buf in use */
} wsio__sha1_ctx;

void wsio__sha1_init(wsio__sha1_ctx *ctx);
void wsio__sha1_update(wsio__sha1_ctx *ctx, const void *data, size_t len);
/* Writes the 20-byte digest; ctx must be initialised again before reuse. */
void wsio__sha1_final(wsio__sha1_ctx *ctx, uint8_t out[WSIO__SHA1_LEN]);

/* One-shot digest of data[0..len). */
void wsio__sha1(const void *data, size_t len, uint8_t out[WSIO__SHA1_LEN]);

#endif /* WSIO_SHA1_H */

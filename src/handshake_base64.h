/*
 * src/handshake_base64.h - base64 with the standard alphabet and padding (RFC
 * 4648 section 4), for Sec-WebSocket-Key and Sec-WebSocket-Accept. Never
 * exported.
 */
#ifndef WSIO_BASE64_H
#define WSIO_BASE64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Characters that encoding n bytes produces (padding included). */
#define WSIO__BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/*
 * wsio__base64_encode - write WSIO__BASE64_ENCODED_LEN(len) characters of
 * in[0..len) to out, with '=' padding and no NUL. Returns that count.
 */
size_t wsio__base64_encode(const uint8_t *in, size_t len, char *out);

/*
 * wsio__base64_decode - strict decode of in[0..len): the length must be a
 * multiple of 4, '=' may appear only as the last one or two characters, no
 * whitespace, and the bits the padding drops must be zero (canonical form,
 * RFC 4648 section 3.5). Writes at most cap bytes to out.
 * Returns the decoded length, WSIO_EINVAL for input that is not strict
 * base64, or WSIO_ENOSPC when the result does not fit in cap bytes.
 */
ssize_t wsio__base64_decode(const char *in, size_t len, uint8_t *out,
                            size_t cap);

#endif /* WSIO_BASE64_H */

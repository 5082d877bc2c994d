/*
 * wsio/deflate.h - permessage-deflate (RFC 7692) on zlib: the optional
 * library libwsio-deflate (pkg-config wsio-deflate), built by `make
 * deflate` and by `make all` when zlib is found. libwsio itself stays libc
 * only: it negotiates (wsio/handshake.h) and runs a message codec
 * (wsio/conn.h); this library supplies the codec.
 *
 *     wsio_deflate_config dc;
 *     wsio_deflate_config_default(&dc);
 *     dc.policy.server_no_context_takeover = 1;   // broadcast compresses once
 *     wsio_deflate pmd;
 *     wsio_deflate_init(&pmd, &dc);
 *     server_cfg.deflate = &pmd.ext;               // NULL: no compression
 *
 * Memory per connection (zlib's, through the server's allocator, counted
 * in its memory budget): about 2^(window+2) + 2^(mem_level+9) + 6 KiB to
 * compress and 2^window + 7 KiB to decompress. The defaults (windows 11,
 * mem_level 4) hold at most 62,264 bytes of zlib state per connection
 * with context takeover both ways (22,336 to compress, 39,928 to
 * decompress: a client that does not offer client_max_window_bits may
 * use a 15-bit window, RFC 7692 section 7.1.2.2, so its inflater needs
 * 32 KiB), 31,544 when the client let the server choose its window.
 * Without context takeover on a side, that side's state exists only
 * while a message is compressed or decompressed and is freed after it,
 * so idle connections hold none. max_connections (default 1024) caps the
 * connections that hold any. docs/deflate.md has measured figures.
 *
 * CPU: a compressed message may inflate to at most inflate_floor +
 * max_inflate_ratio bytes per compressed byte received so far (checked
 * while it inflates); past that the connection fails with 1009
 * (WSIO_EINFLATE_RATIO), so a peer buys at most that much inflate work
 * per byte it sends.
 *
 * Threads: a wsio_deflate is read-only once initialised (but for its
 * counter, updated atomically), so servers on several threads may share
 * one; each connection's codec belongs to that connection's thread and
 * refers to the wsio_deflate, which must outlive it. zlib keeps no global
 * state.
 */
#ifndef WSIO_DEFLATE_H
#define WSIO_DEFLATE_H

#include "wsio/common.h"
#include "wsio/conn.h"
#include "wsio/handshake.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Settings; fill with wsio_deflate_config_default() first. */
typedef struct wsio_deflate_config {
    size_t struct_size;         /* set by wsio_deflate_config_default */
    wsio_deflate_policy policy; /* context takeover and windows to
                                   negotiate (windows 8..15; 8 counts as
                                   9, zlib's smallest raw window);
                                   default: context takeover, windows 11
                                   (what we compress with, and what the
                                   peer may when it lets us choose) */
    size_t threshold;           /* messages shorter than this are sent
                                   uncompressed (RSV1 clear); default 64 */
    int level;                  /* zlib level 1 (fast) .. 9 (small);
                                   default 6 */
    int mem_level;              /* zlib memLevel 1..9: compressor memory
                                   and speed; default 4 */
    size_t max_connections;     /* server: connections compressing at
                                   once; over it, offers are declined.
                                   0: no cap. Default 1024 */
    int keep_state;             /* without context takeover, keep zlib's
                                   state between messages (reset, not
                                   freed): faster, but every connection
                                   holds it. Default 0: freed after each
                                   message */
    size_t max_inflate_ratio;   /* a received message may inflate to at
                                   most inflate_floor + this many bytes
                                   per compressed byte; over it, 1009
                                   (WSIO_EINFLATE_RATIO). 0: no bound.
                                   Default 128 */
    size_t inflate_floor;       /* bytes every message may inflate to
                                   whatever its compressed size; default
                                   1024 */
} wsio_deflate_config;

/* wsio_deflate_config_default - fill cfg with the defaults written above. */
#define wsio_deflate_config_default(cfg)                                       \
    wsio_deflate_config_init((cfg), sizeof *(cfg))

/* wsio_deflate_config_init - what wsio_deflate_config_default expands to: the
 * same for a struct of size bytes (sizeof *cfg where the program was built),
 * and cfg->struct_size = size; bytes of a newer release are zeroed
 * (docs/DESIGN.md, ABI). */
WSIO_EXTERN void wsio_deflate_config_init(wsio_deflate_config *cfg,
                                          size_t size);

/*
 * The extension, as the caller embeds it: point a server's or client's
 * config at &ext. It must outlive them; it is read-only once initialised,
 * so any servers and clients on any threads may share one.
 */
typedef struct wsio_deflate {
    wsio_deflate_ext ext; /* what configs point to */
    size_t threshold;
    int level;
    int mem_level;
    int keep_state;
    size_t max_inflate_ratio;
    size_t inflate_floor;
    uint64_t ratio_exceeded; /* the one field written after init (by
                                atomic add): read it with
                                wsio_deflate_ratio_exceeded */
} wsio_deflate;

/*
 * wsio_deflate_init - set d up from cfg (NULL: defaults).
 * Returns 0, or WSIO_EINVAL when d is NULL, cfg->struct_size was not set
 * by wsio_deflate_config_default, or a window is outside 8..15, level
 * outside 1..9 or mem_level outside 1..9. cfg is read, not kept; d
 * is the caller's (nothing to free) and must outlive every config that
 * points at d->ext.
 */
WSIO_EXTERN int wsio_deflate_init(wsio_deflate *d,
                                  const wsio_deflate_config *cfg);

/*
 * wsio_deflate_ratio_exceeded - how many connections using d failed with
 * WSIO_EINFLATE_RATIO (1009) so far, all servers and clients together.
 * Safe from any thread.
 */
WSIO_EXTERN uint64_t wsio_deflate_ratio_exceeded(const wsio_deflate *d);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_DEFLATE_H */

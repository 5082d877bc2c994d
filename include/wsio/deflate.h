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
 * in its memory budget): about 2^(window+2) + 2^(mem_level+9) bytes to
 * compress (256 KiB at 15 and 8) and 2^window + 7 KiB to decompress
 * (39 KiB at 15). Without context takeover on a side, that side's state
 * exists only while a message is compressed or decompressed and is freed
 * after it, so idle connections hold none. docs/deflate.md has measured
 * figures.
 *
 * Threads: a wsio_deflate is read-only once initialised, so servers on
 * several threads may share one; each connection's codec belongs to that
 * connection's thread. zlib keeps no global state.
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
                                   default: RFC 7692's defaults */
    size_t threshold;           /* messages shorter than this are sent
                                   uncompressed (RSV1 clear); default 64 */
    int level;                  /* zlib level 1 (fast) .. 9 (small);
                                   default 6 */
    int mem_level;              /* zlib memLevel 1..9: compressor memory
                                   and speed; default 8 */
    size_t max_connections;     /* server: connections compressing at
                                   once; over it, offers are declined.
                                   0 (default): no cap */
    int keep_state;             /* without context takeover, keep zlib's
                                   state between messages (reset, not
                                   freed): faster, but every connection
                                   holds it. Default 0: freed after each
                                   message */
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

#ifdef __cplusplus
}
#endif

#endif /* WSIO_DEFLATE_H */

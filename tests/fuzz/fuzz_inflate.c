/*
 * tests/fuzz/fuzz_inflate.c - a server connection with the
 * permessage-deflate codec (libwsio-deflate, zlib) fed arbitrary client
 * frames, compressed or not, in arbitrary pieces: the driver and checks of
 * fuzz_conn.h (UTF-8 of delivered text, one on_close, sticky errors,
 * output accounting), with inflation, RSV1 rules, the bounded decode and,
 * in echo mode, compressed sends on top.
 *
 * Input: as fuzz_conn.h; the split byte's high bits pick the agreed
 * parameters: bit 4 server_no_context_takeover, bit 5
 * client_no_context_takeover, bits 6-7 the windows (15, 9, 12, 8); bit 3
 * (also part of the split count) makes the codec keep its state.
 */
#include "fuzz_conn.h"
#include "wsio/deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void set_codec(wsio_conn *c, uint8_t arg)
{
    static const uint8_t bits[4] = {15, 9, 12, 8};
    /* Codecs refer to their extension (its counter): it outlives them. */
    static wsio_deflate d;
    static int ready;
    if (!ready) {
        wsio_deflate_config dc;
        wsio_deflate_config_default(&dc);
        dc.threshold = 1;
        REQUIRE(wsio_deflate_init(&d, &dc) == 0);
        ready = 1;
    }
    wsio_deflate_params p = {(uint8_t)((arg >> 4) & 1),
                             (uint8_t)((arg >> 5) & 1), bits[arg >> 6],
                             bits[arg >> 6]};
    wsio_codec codec;
    REQUIRE(d.ext.codec_new(&d.ext, &p, WSIO_ROLE_SERVER,
                            (arg & 8) ? WSIO_CODEC_KEEP_STATE : 0, NULL,
                            &codec) == 0);
    REQUIRE(wsio_conn_set_codec(c, &codec) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_conn_with(WSIO_ROLE_SERVER, data, size, set_codec);
}

/*
 * src/frame_simd.h - which vector instructions the codec's hot loops (masking,
 * UTF-8 validation) may use, and the vector kernels themselves.
 *
 * Every kernel has a portable scalar twin, which is the reference: the
 * vector code only takes over the bulk of a buffer and hands the rest (and
 * anything unusual) to the scalar code. The tests and fuzz targets run
 * each level this CPU supports against WSIO__SIMD_SCALAR.
 *
 * Choosing the level. SSE2 is part of x86-64, so it needs no check. AVX2
 * is chosen at run time with __builtin_cpu_supports, which reads the CPU
 * features that the compiler's runtime (libgcc or compiler-rt) detected
 * once, in its own constructor, before main: one load and a bit test per
 * call, and no state of ours (wsio keeps no mutable global data; ifunc
 * would decide once per process, but it is missing on musl, and its
 * resolver runs during relocation, before sanitizer and fuzzer
 * instrumentation may run). Should it run before that
 * constructor, it reports no AVX2, and SSE2 is used: slower, still right.
 * The AVX2 kernels carry __attribute__((target("avx2"))), so the library
 * builds without -mavx2 and runs on any x86-64.
 */
#ifndef WSIO_SIMD_H
#define WSIO_SIMD_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define WSIO__HAVE_X86_SIMD 1
#endif

/* Instruction set levels, in increasing order. */
enum wsio__simd {
    WSIO__SIMD_SCALAR, /* portable C */
    WSIO__SIMD_SSE2,   /* x86-64 baseline, 16-byte vectors */
    WSIO__SIMD_AVX2    /* 32-byte vectors, when the CPU has them */
};

/* The best level this CPU runs. */
static inline enum wsio__simd wsio__simd_best(void)
{
#ifdef WSIO__HAVE_X86_SIMD
    return __builtin_cpu_supports("avx2") ? WSIO__SIMD_AVX2 : WSIO__SIMD_SSE2;
#else
    return WSIO__SIMD_SCALAR;
#endif
}

/* wsio_mask_copy at a given level (at most wsio__simd_best()). */
void wsio__mask_copy_with(enum wsio__simd simd, void *dst, const void *src,
                          size_t len, const uint8_t key[4], uint64_t offset);

struct wsio_utf8;
/* wsio_utf8_feed at a given level (at most wsio__simd_best()). */
int wsio__utf8_feed_with(enum wsio__simd simd, struct wsio_utf8 *v,
                         const void *buf, size_t len, size_t *bad_offset);

#ifdef WSIO__HAVE_X86_SIMD
/*
 * XOR key4 (four key bytes, the first for dst[0], little-endian) into
 * src's leading whole vectors and store them at dst (which may equal src).
 * Returns how many bytes were done, a multiple of 16 (len rounded down);
 * the caller masks the rest.
 */
size_t wsio__mask_bulk_sse2(uint8_t *dst, const uint8_t *src, size_t len,
                            uint32_t key4);
size_t wsio__mask_bulk_avx2(uint8_t *dst, const uint8_t *src, size_t len,
                            uint32_t key4);

/*
 * The length of a prefix of p[0..len) that is valid UTF-8 ending between
 * characters, p[0] being the start of a character. Not necessarily the
 * longest: the scalar validator continues from there and finds any error
 * (its exact offset is the scalar code's to report). sse2 only skips
 * ASCII; avx2 validates everything it can (Keiser and Lemire).
 */
size_t wsio__utf8_valid_prefix_sse2(const uint8_t *p, size_t len);
size_t wsio__utf8_valid_prefix_avx2(const uint8_t *p, size_t len);
#endif

#endif /* WSIO_SIMD_H */

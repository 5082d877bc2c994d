/*
 * src/frame_mask_simd.c - the vector kernels of masking (RFC 6455 section 5.3)
 * for x86-64: SSE2 (always there) and AVX2 (compiled for that target
 * only in this function, and called only when the CPU has it; see
 * src/frame_simd.h). A payload's key repeats every 4 bytes, and vectors are a
 * multiple of 4 bytes, so one vector of the key, rotated to the starting
 * offset by the caller, serves every position.
 */
#include "frame_simd.h"

#ifdef WSIO__HAVE_X86_SIMD
#include <immintrin.h>

size_t wsio__mask_bulk_sse2(uint8_t *dst, const uint8_t *src, size_t len,
                            uint32_t key4)
{
    const __m128i k = _mm_set1_epi32((int)key4);
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        __m128i b =
            _mm_loadu_si128((const __m128i *)(const void *)(src + i + 16));
        __m128i c =
            _mm_loadu_si128((const __m128i *)(const void *)(src + i + 32));
        __m128i e =
            _mm_loadu_si128((const __m128i *)(const void *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 16),
                         _mm_xor_si128(b, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 32),
                         _mm_xor_si128(c, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 48),
                         _mm_xor_si128(e, k));
    }
    for (; i + 16 <= len; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
    }
    return i;
}

__attribute__((target("avx2"))) size_t wsio__mask_bulk_avx2(uint8_t *dst,
                                                            const uint8_t *src,
                                                            size_t len,
                                                            uint32_t key4)
{
    const __m256i k = _mm256_set1_epi32((int)key4);
    size_t i = 0;
    for (; i + 128 <= len; i += 128) {
        __m256i a =
            _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i b =
            _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 32));
        __m256i c =
            _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 64));
        __m256i e =
            _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 96));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 32),
                            _mm256_xor_si256(b, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 64),
                            _mm256_xor_si256(c, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 96),
                            _mm256_xor_si256(e, k));
    }
    for (; i + 32 <= len; i += 32) {
        __m256i a =
            _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm256_xor_si256(a, k));
    }
    if (i + 16 <= len) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm_storeu_si128((__m128i *)(void *)(dst + i),
                         _mm_xor_si128(a, _mm256_castsi256_si128(k)));
        i += 16;
    }
    return i;
}
#endif

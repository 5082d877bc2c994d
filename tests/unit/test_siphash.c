/*
 * tests/unit/test_siphash.c - the keyed hash of the tables whose keys a
 * peer chooses (src/common_siphash.c): it is SipHash-2-4 (the reference vectors
 * of Aumasson and Bernstein's paper, every tail length), and another key
 * gives other hashes, so names found to collide under one server's key do
 * not collide under another's.
 */
#include <stdio.h>

#include "common_siphash.h"
#include "testutil.h"

/* The paper's key: bytes 00 01 ... 0f, read little-endian. */
static const uint64_t paper_key[2] = {0x0706050403020100ull,
                                      0x0f0e0d0c0b0a0908ull};

static void test_siphash_matches_the_reference_vectors(void **state)
{
    (void)state;
    uint8_t in[15];
    for (int i = 0; i < 15; i++)
        in[i] = (uint8_t)i;
    assert_true(wsio__siphash(paper_key, in, 0) == 0x726fdb47dd0e0e31ull);
    assert_true(wsio__siphash(paper_key, in, 15) == 0xa129ca6149be45e5ull);
}

static void test_siphash_another_key_moves_every_name(void **state)
{
    (void)state;
    const uint64_t other[2] = {paper_key[0] ^ 1, paper_key[1]};
    char name[16];
    int same_bucket = 0;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(name, sizeof name, "topic-%d", i);
        uint64_t a = wsio__siphash(paper_key, name, (size_t)n);
        uint64_t b = wsio__siphash(other, name, (size_t)n);
        assert_true(a != b);
        same_bucket += (a & 1023) == (b & 1023);
    }
    /* Independent hashes share a bucket of 1024 about once in 1000. */
    assert_true(same_bucket < 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_matches_the_reference_vectors),
        cmocka_unit_test(test_siphash_another_key_moves_every_name),
    };
    return cmocka_run_group_tests_name("siphash", tests, NULL, NULL);
}

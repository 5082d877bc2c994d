/*
 * tests/unit/test_block_cache.c - the loop's cache of freed buffer blocks
 * (src/loop_block_cache.c): blocks come back, contents survive growth, memory
 * held back stays bounded, and release returns everything.
 */
#include <string.h>

#include "loop_block_cache.h"
#include "testutil.h"

static void test_block_cache_freed_block_is_reused(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    wsio__block_cache c;
    wsio__block_cache_init(&c, &tm.mem);
    void *a = c.mem.malloc(100, c.mem.user);
    assert_non_null(a);
    c.mem.free(a, c.mem.user);
    long before = tm.count;
    /* Any size of the same class (up to 256 bytes) gets the same block. */
    void *b = c.mem.malloc(200, c.mem.user);
    assert_ptr_equal(a, b);
    assert_int_equal(tm.count, before);
    c.mem.free(b, c.mem.user);
    wsio__block_cache_release(&c);
    assert_int_equal(tm.live_blocks, 0);
}

static void test_block_cache_realloc_keeps_contents(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    wsio__block_cache c;
    wsio__block_cache_init(&c, &tm.mem);
    uint8_t *p = c.mem.realloc(NULL, 10, c.mem.user);
    assert_non_null(p);
    for (int i = 0; i < 10; i++)
        p[i] = (uint8_t)i;
    /* Within the block: the same pointer. */
    assert_ptr_equal(c.mem.realloc(p, 256, c.mem.user), p);
    /* Past every class: a direct block, contents kept. */
    uint8_t *q = c.mem.realloc(p, (size_t)4 << 20, c.mem.user);
    assert_non_null(q);
    for (int i = 0; i < 10; i++)
        assert_int_equal(q[i], i);
    c.mem.free(q, c.mem.user);
    /* Direct blocks are never cached. */
    assert_int_equal(c.cached_bytes, 256);
    wsio__block_cache_release(&c);
    assert_int_equal(tm.live_blocks, 0);
}

static void test_block_cache_holds_back_a_bounded_amount(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    wsio__block_cache c;
    wsio__block_cache_init(&c, &tm.mem);
    enum { N = 64 };
    void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = c.mem.malloc(65536, c.mem.user);
        assert_non_null(blocks[i]);
    }
    for (int i = 0; i < N; i++)
        c.mem.free(blocks[i], c.mem.user);
    assert_true(c.cached_bytes <= WSIO__CACHE_MAX_BYTES);
    assert_int_equal(c.cached_bytes, WSIO__CACHE_MAX_BYTES);
    assert_int_equal(tm.live_blocks, WSIO__CACHE_MAX_BYTES / 65536);
    wsio__block_cache_release(&c);
    assert_int_equal(tm.live_blocks, 0);
}

static void test_block_cache_reports_allocation_failure(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    wsio__block_cache c;
    wsio__block_cache_init(&c, &tm.mem);
    test_mem_fail_at(&tm, 0);
    assert_null(c.mem.malloc(32, c.mem.user));
    void *p = c.mem.malloc(32, c.mem.user);
    assert_non_null(p);
    test_mem_fail_at(&tm, 0);
    /* A failed growth leaves the old block valid. */
    assert_null(c.mem.realloc(p, 4096, c.mem.user));
    c.mem.free(p, c.mem.user);
    assert_null(c.mem.malloc(SIZE_MAX - 8, c.mem.user));
    wsio__block_cache_release(&c);
    assert_int_equal(tm.live_blocks, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_cache_freed_block_is_reused),
        cmocka_unit_test(test_block_cache_realloc_keeps_contents),
        cmocka_unit_test(test_block_cache_holds_back_a_bounded_amount),
        cmocka_unit_test(test_block_cache_reports_allocation_failure),
    };
    return cmocka_run_group_tests_name("block_cache", tests, NULL, NULL);
}

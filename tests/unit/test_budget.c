/*
 * tests/unit/test_budget.c - the server's memory budget (src/server_budget.c)
 * over the loop's block cache: the figure it accounts is what the
 * allocator really holds for the blocks handed out, power-of-two requests
 * (zlib's) stay in their class, and growth past the limit is reported.
 */
#include <string.h>

#include "loop_block_cache.h"
#include "server_budget.h"
#include "testutil.h"

/* The allocator under the cache: sums the sizes really asked of it. */
typedef struct sum_mem {
    wsio_mem mem;
    size_t live;
} sum_mem;

static void *sm_malloc(size_t size, void *user)
{
    sum_mem *sm = user;
    size_t *p = test_malloc(sizeof(max_align_t) + size);
    if (!p)
        return NULL;
    p[0] = size;
    sm->live += size;
    return (char *)p + sizeof(max_align_t);
}

static void sm_free(void *ptr, void *user)
{
    sum_mem *sm = user;
    if (!ptr)
        return;
    size_t *p = (size_t *)((char *)ptr - sizeof(max_align_t));
    sm->live -= p[0];
    test_free(p);
}

static void *sm_realloc(void *ptr, size_t size, void *user)
{
    if (!ptr)
        return sm_malloc(size, user);
    size_t old = ((size_t *)((char *)ptr - sizeof(max_align_t)))[0];
    void *n = sm_malloc(size, user);
    if (!n)
        return NULL;
    memcpy(n, ptr, old < size ? old : size);
    sm_free(ptr, user);
    return n;
}

typedef struct stack {
    sum_mem base;
    wsio__block_cache cache;
    wsio__budget budget;
    int over_calls;
} stack;

static void on_over(wsio__budget *b)
{
    stack *s = (stack *)((char *)b - offsetof(stack, budget));
    s->over_calls++;
}

static void stack_init(stack *s, size_t limit)
{
    memset(s, 0, sizeof *s);
    s->base.mem = (wsio_mem){sm_malloc, sm_realloc, sm_free, &s->base};
    wsio__block_cache_init(&s->cache, &s->base.mem);
    wsio__budget_init(&s->budget, &s->cache.mem, limit, on_over);
}

/* Sizes a server's connections ask for: small structs, buffers, zlib's
 * state (about 5.8 and 7.1 KiB) and its power-of-two windows and tables,
 * and blocks too big for any class. */
static const size_t sizes[] = {
    1,    100,  255,   256,   257,   4096,           5824,
    7160, 8192, 32768, 65536, 65537, (size_t)3 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_budget_accounts_what_the_allocator_holds(void **state)
{
    (void)state;
    stack s;
    stack_init(&s, 0);
    void *p[NSIZES];
    for (size_t i = 0; i < NSIZES; i++) {
        p[i] = s.budget.mem.malloc(sizes[i], s.budget.mem.user);
        assert_non_null(p[i]);
        memset(p[i], 0xa5, sizes[i]);
        /* Nothing is cached yet: every byte below is a block's. */
        assert_int_equal(s.budget.used, s.base.live);
    }
    /* Growing and shrinking in place or into another class. */
    p[1] = s.budget.mem.realloc(p[1], 70000, s.budget.mem.user);
    assert_non_null(p[1]);
    p[2] = s.budget.mem.realloc(p[2], 10, s.budget.mem.user);
    assert_non_null(p[2]);
    size_t cached = s.cache.cached_bytes;
    assert_true(cached > 0); /* the 100-byte block went to the cache */
    for (size_t i = 0; i < NSIZES; i++)
        s.budget.mem.free(p[i], s.budget.mem.user);
    assert_int_equal(s.budget.used, 0);
    wsio__block_cache_release(&s.cache);
    assert_int_equal(s.base.live, 0);
}

/* The bug this replaced: a header in front of a 64 KiB request put it in
 * the 128 KiB class, and the budget counted 64 KiB of it. */
static void test_budget_power_of_two_requests_stay_in_their_class(void **state)
{
    (void)state;
    stack s;
    stack_init(&s, 0);
    for (size_t n = 256; n <= ((size_t)1 << 20); n <<= 1) {
        size_t before = s.base.live;
        void *p = s.budget.mem.malloc(n, s.budget.mem.user);
        assert_non_null(p);
        size_t held = s.base.live - before;
        assert_true(held >= n);
        assert_true(held <= n + sizeof(max_align_t) * 2);
        assert_int_equal(s.budget.used, held);
        s.budget.mem.free(p, s.budget.mem.user);
        assert_int_equal(s.budget.used, 0);
    }
    wsio__block_cache_release(&s.cache);
    assert_int_equal(s.base.live, 0);
}

static void test_budget_reports_growth_past_the_limit(void **state)
{
    (void)state;
    stack s;
    stack_init(&s, 100000);
    void *a = s.budget.mem.malloc(65536, s.budget.mem.user);
    assert_int_equal(s.over_calls, 0);
    void *b = s.budget.mem.malloc(32768, s.budget.mem.user);
    assert_int_equal(s.over_calls, 0); /* 98 KiB and two headers: under */
    void *c = s.budget.mem.malloc(4096, s.budget.mem.user);
    assert_int_equal(s.over_calls, 1);
    s.budget.mem.free(c, s.budget.mem.user);
    assert_int_equal(s.over_calls, 1); /* shrinking never calls */
    s.budget.mem.free(b, s.budget.mem.user);
    s.budget.mem.free(a, s.budget.mem.user);
    assert_int_equal(s.budget.used, 0);
    wsio__block_cache_release(&s.cache);
    assert_int_equal(s.base.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_accounts_what_the_allocator_holds),
        cmocka_unit_test(test_budget_power_of_two_requests_stay_in_their_class),
        cmocka_unit_test(test_budget_reports_growth_past_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

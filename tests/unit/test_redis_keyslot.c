/*
 * tests/unit/test_redis_keyslot.c - Redis Cluster hash slots
 * (src/redis/keyslot.c) against what redis-server 7.0.15 answers to
 * CLUSTER KEYSLOT for the same keys (recorded with redis-cli on a
 * cluster-enabled server), hash tags included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "../../src/redis/keyslot.h"

typedef struct vector {
    const char *key;
    unsigned slot;
} vector;

/* redis-cli cluster keyslot KEY */
static const vector vectors[] = {
    {"", 0},
    {"a", 15495},
    {"foo", 12182},
    {"123456789", 12739},
    {"{user1000}.following", 3443},
    {"{user1000}.followers", 3443},
    {"foo{}{bar}", 8363},    /* empty first tag: the whole key */
    {"foo{{bar}}zap", 4015}, /* tag "{bar" */
    {"foo{bar}{zap}", 5061}, /* the first tag only: "bar" */
    {"{}foo", 9500},
    {"}{", 12793},
    {"{a", 10276}, /* no closing brace: the whole key */
    {"wsio:t:news", 9589},
    {"wsio:b", 1484},
    {"wsio:t:{room}x", 15960},
};

static void test_keyslot_matches_redis(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        unsigned got =
            wsio__redis_keyslot(vectors[i].key, strlen(vectors[i].key));
        if (got != vectors[i].slot)
            fail_msg("\"%s\": slot %u, Redis says %u", vectors[i].key, got,
                     vectors[i].slot);
    }
}

static void test_keyslot_tag_groups_channels(void **state)
{
    (void)state;
    /* Every channel with the same tag lands on one slot, whatever else. */
    unsigned s = wsio__redis_keyslot("{room}", 6);
    assert_int_equal(wsio__redis_keyslot("wsio:t:{room}a", 14), s);
    assert_int_equal(wsio__redis_keyslot("x{room}y{z}", 11), s);
    /* Only the len bytes given count. */
    assert_int_equal(wsio__redis_keyslot("foo{bar}", 3), 12182);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyslot_matches_redis),
        cmocka_unit_test(test_keyslot_tag_groups_channels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

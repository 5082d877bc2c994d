/*
 * tests/unit/test_redis_url.c - redis:// URLs of libwsio-redis
 * (wsio_redis_url_parse in wsio/redis.h; src/redis/url.c, no hiredis).
 */
#include <string.h>

#include "testutil.h"
#include "wsio/redis.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *url;
    const char *host;
    unsigned port;
    const char *user;
    const char *password;
    unsigned db;
} good[] = {
    {"redis://127.0.0.1:6379", "127.0.0.1", 6379, "", "", 0},
    {"redis://localhost", "localhost", 6379, "", "", 0},
    {"redis://cache.example.com:7000/", "cache.example.com", 7000, "", "", 0},
    {"redis://:secret@10.0.0.5:6380/3", "10.0.0.5", 6380, "", "secret", 3},
    {"redis://app:s3cret@redis-1:1", "redis-1", 1, "app", "s3cret", 0},
    {"redis://:p%40ss%3Aw%2Fd@h:65535/15", "h", 65535, "", "p@ss:w/d", 15},
    {"redis://:a@b@host/2", "host", 6379, "", "a@b", 2},
    {"redis://[::1]:6379/0", "::1", 6379, "", "", 0},
    {"redis://[fe80::1]", "fe80::1", 6379, "", "", 0},
    {"redis://h/999999999", "h", 6379, "", "", 999999999},
};

static void test_redis_url_parse_reads_every_part(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        wsio_redis_url u;
        int rc = wsio_redis_url_parse(good[i].url, strlen(good[i].url), &u);
        if (rc != 0)
            fail_msg("%s: %d", good[i].url, rc);
        assert_string_equal(u.host, good[i].host);
        assert_int_equal(u.port, good[i].port);
        assert_string_equal(u.user, good[i].user);
        assert_string_equal(u.password, good[i].password);
        assert_int_equal(u.db, good[i].db);
    }
}

static const char *const bad[] = {
    "",
    "redis:/host",
    "rediss://host", /* TLS is not supported */
    "http://host:6379",
    "redis://",
    "redis://:6379", /* no host */
    "redis://host:", /* empty port */
    "redis://host:0",
    "redis://host:65536",
    "redis://host:123456",
    "redis://host:12a",
    "redis://ho st",
    "redis://host:1:2",
    "redis://[::1", /* unclosed bracket */
    "redis://[::1]x",
    "redis://[]",
    "redis://[g::1]",
    "redis://host/x",
    "redis://host/1/2",
    "redis://host/1234567890", /* db over nine digits */
    "redis://host/-1",
    "redis://host?db=1",
    "redis://:p%4@host", /* short escape */
    "redis://:p%zz@host",
    "redis://:p%00@host", /* NUL in the password */
    "redis://:p w@host",
};

static void test_redis_url_parse_rejects_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        wsio_redis_url u;
        if (wsio_redis_url_parse(bad[i], strlen(bad[i]), &u) != WSIO_EINVAL)
            fail_msg("accepted: \"%s\"", bad[i]);
    }
    wsio_redis_url u;
    assert_int_equal(wsio_redis_url_parse(NULL, 0, &u), WSIO_EINVAL);
}

static void test_redis_url_parse_reads_only_len_bytes(void **state)
{
    (void)state;
    static const char s[] = "redis://host:6379/1garbage";
    wsio_redis_url u;
    assert_int_equal(wsio_redis_url_parse(s, strlen(s) - 7, &u), 0);
    assert_string_equal(u.host, "host");
    assert_int_equal(u.db, 1);
}

static void test_redis_url_parse_refuses_fields_too_long(void **state)
{
    (void)state;
    char url[700] = "redis://";
    memset(url + 8, 'h', 256); /* one over the host field */
    assert_int_equal(wsio_redis_url_parse(url, strlen(url), NULL), WSIO_EINVAL);
    wsio_redis_url u;
    assert_int_equal(wsio_redis_url_parse(url, strlen(url), &u), WSIO_EINVAL);
    url[8 + 255] = '\0';
    assert_int_equal(wsio_redis_url_parse(url, strlen(url), &u), 0);
    assert_int_equal(strlen(u.host), 255);

    char pw[600] = "redis://:";
    memset(pw + 9, 'p', 256);
    strcat(pw, "@h");
    assert_int_equal(wsio_redis_url_parse(pw, strlen(pw), &u), WSIO_EINVAL);
}

static int cluster_parse(const char *url, wsio_redis_url *seeds, size_t max,
                         size_t *n)
{
    return wsio_redis_cluster_url_parse(url, strlen(url), seeds, max, n);
}

static void test_redis_cluster_url_reads_every_seed(void **state)
{
    (void)state;
    wsio_redis_url s[WSIO_REDIS_MAX_SEEDS];
    size_t n = 0;
    assert_int_equal(
        cluster_parse("redis+cluster://u:p%40w@a:7000,[::1]:7001,b/0", s,
                      WSIO_REDIS_MAX_SEEDS, &n),
        0);
    assert_int_equal(n, 3);
    assert_string_equal(s[0].host, "a");
    assert_int_equal(s[0].port, 7000);
    assert_string_equal(s[1].host, "::1");
    assert_int_equal(s[1].port, 7001);
    assert_string_equal(s[2].host, "b");
    assert_int_equal(s[2].port, 6379);
    for (size_t i = 0; i < n; i++) { /* every node takes the same */
        assert_string_equal(s[i].user, "u");
        assert_string_equal(s[i].password, "p@w");
        assert_int_equal(s[i].db, 0);
    }
    assert_int_equal(cluster_parse("redis+cluster://h", s, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(cluster_parse("redis+cluster://h:1/", s, 1, &n), 0);
}

static void test_redis_cluster_url_rejects_malformed(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "redis://h:7000",            /* not a cluster */
        "redis+cluster://",          /* no seed */
        "redis+cluster://a,,b",      /* an empty one */
        "redis+cluster://a,",        /* a trailing comma */
        "redis+cluster://a:0,b",     /* port 0 */
        "redis+cluster://a,b:x",     /* not a port */
        "redis+cluster://a/1",       /* a cluster has db 0 only */
        "redis+cluster://a/00",      /* nor a path */
        "redis+cluster://a b",       /* a space in a host */
        "redis+cluster://a,b,c,d,e", /* more than max (4) */
    };
    wsio_redis_url s[4];
    size_t n = 0;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (cluster_parse(refused[i], s, 4, &n) != WSIO_EINVAL)
            fail_msg("accepted %s", refused[i]);
    /* wsio_redis_url_parse does not take the cluster form either. */
    assert_int_equal(wsio_redis_url_parse("redis+cluster://a", 17, s),
                     WSIO_EINVAL);
    assert_int_equal(
        wsio_redis_cluster_url_parse("redis+cluster://a", 17, s, 0, &n),
        WSIO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_url_parse_reads_every_part),
        cmocka_unit_test(test_redis_url_parse_rejects_malformed),
        cmocka_unit_test(test_redis_url_parse_reads_only_len_bytes),
        cmocka_unit_test(test_redis_url_parse_refuses_fields_too_long),
        cmocka_unit_test(test_redis_cluster_url_reads_every_seed),
        cmocka_unit_test(test_redis_cluster_url_rejects_malformed),
    };
    return cmocka_run_group_tests_name("redis_url", tests, NULL, NULL);
}

/*
 * tests/unit/test_server_ids.c - a server's map of open connections by id
 * (src/server_ids.c): every entry is found after any mix of adds and
 * removals (backward-shift deletion keeps probe runs whole), removed ids
 * are not found, the table shrinks back as connections go, and an
 * allocation failure while growing leaves it as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "server_ids.h"
#include "testutil.h"

#define N 2000

/* Ids as a server hands them out (a counter), and as many as a test
 * tracks: which are in the map now. */
typedef struct fixture {
    test_mem tm;
    wsio__id_map m;
    wsio__server_conn *sc; /* N zeroed connections, sc[i].id = i + 1 */
    int in[N];
} fixture;

static void setup(fixture *f)
{
    test_mem_init(&f->tm);
    assert_int_equal(wsio__ids_init(&f->m), 0);
    f->sc = calloc(N, sizeof *f->sc);
    assert_non_null(f->sc);
    memset(f->in, 0, sizeof f->in);
    for (int i = 0; i < N; i++)
        f->sc[i].id = (uint64_t)i + 1;
}

static void add(fixture *f, int i)
{
    assert_int_equal(wsio__ids_reserve(&f->m, &f->tm.mem), 0);
    wsio__ids_add(&f->m, &f->sc[i].ws);
    f->in[i] = 1;
}

static void check_all(const fixture *f)
{
    size_t count = 0;
    for (int i = 0; i < N; i++) {
        wsio_ws *got = wsio__ids_find(&f->m, f->sc[i].id);
        assert_ptr_equal(got, f->in[i] ? &f->sc[i].ws : NULL);
        count += (size_t)f->in[i];
    }
    assert_int_equal(f->m.count, count);
    /* Never more than three quarters full. */
    assert_true(f->m.count * 4 <= f->m.cap * 3 || f->m.cap == 0);
}

static void teardown(fixture *f)
{
    wsio__ids_free(&f->m, &f->tm.mem);
    free(f->sc);
    assert_int_equal(f->tm.live_blocks, 0);
}

static void test_ids_found_after_adds_and_removals(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    for (int i = 0; i < N; i++)
        add(&f, i);
    check_all(&f);
    /* Remove a scattered half, then every third of what is left, checking
     * every id after each round. */
    unsigned seed = 7;
    for (int i = 0; i < N; i++)
        if (rand_r(&seed) % 2) {
            wsio__ids_remove(&f.m, &f.tm.mem, &f.sc[i].ws);
            f.in[i] = 0;
        }
    check_all(&f);
    for (int i = 0; i < N; i += 3)
        if (f.in[i]) {
            wsio__ids_remove(&f.m, &f.tm.mem, &f.sc[i].ws);
            f.in[i] = 0;
        }
    check_all(&f);
    /* Removing what is not there changes nothing. */
    assert_int_equal(f.in[0], 0); /* removed in the second round */
    size_t before = f.m.count;
    wsio__ids_remove(&f.m, &f.tm.mem, &f.sc[0].ws);
    assert_int_equal(f.m.count, before);
    check_all(&f);
    /* Ids never issued are not found. */
    assert_null(wsio__ids_find(&f.m, 0));
    assert_null(wsio__ids_find(&f.m, N + 1));
    teardown(&f);
}

static void test_ids_table_shrinks_as_connections_go(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    for (int i = 0; i < N; i++)
        add(&f, i);
    size_t full_cap = f.m.cap;
    assert_true(full_cap * 3 >= 4 * N);
    for (int i = 0; i < N - 10; i++) {
        wsio__ids_remove(&f.m, &f.tm.mem, &f.sc[i].ws);
        f.in[i] = 0;
    }
    check_all(&f);
    /* Ten left: a small table again, not the peak's. */
    assert_true(f.m.cap <= 128);
    teardown(&f);
}

static void test_ids_failed_growth_leaves_the_map_intact(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    int i = 0;
    /* Fill up to the point where the next reserve must grow. */
    add(&f, i++);
    while ((f.m.count + 1) * 4 <= f.m.cap * 3)
        add(&f, i++);
    size_t cap = f.m.cap;
    test_mem_fail_at(&f.tm, 0);
    assert_int_equal(wsio__ids_reserve(&f.m, &f.tm.mem), WSIO_ENOMEM);
    assert_int_equal(f.m.cap, cap);
    check_all(&f);
    add(&f, i);
    check_all(&f);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_found_after_adds_and_removals),
        cmocka_unit_test(test_ids_table_shrinks_as_connections_go),
        cmocka_unit_test(test_ids_failed_growth_leaves_the_map_intact),
    };
    return cmocka_run_group_tests_name("server_ids", tests, NULL, NULL);
}

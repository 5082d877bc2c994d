/*
 * tests/unit/test_server_ids.c - a server's map of open connections by id
 * (src/server_ids.c): every open connection is found by its id and only
 * by it; an id of a connection that left OPEN or was freed never finds
 * another, through 100,000 connections that come and go in a few slots
 * and a slot whose generation runs out; ids are never 0 and never
 * repeat; the table is no larger than the peak needs; a kept request
 * stays in its slot while others come and go, and so do a connection's
 * topics (their room made only when first used); the lowest free slot is
 * taken first and the table shrinks back as connections go; an
 * allocation failure while growing leaves the map as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "server_ids.h"
#include "testutil.h"

#define N 2000

typedef struct fixture {
    test_mem tm;
    wsio__id_map m;
    wsio__server_conn *sc; /* N zeroed connections */
    int in[N];             /* 1: open, 2: hidden, 0: no slot */
} fixture;

static void setup(fixture *f, int keep)
{
    test_mem_init(&f->tm);
    wsio__ids_init(&f->m, keep);
    f->sc = calloc(N, sizeof *f->sc);
    assert_non_null(f->sc);
    memset(f->in, 0, sizeof f->in);
}

static uint64_t add(fixture *f, int i)
{
    assert_int_equal(wsio__ids_reserve(&f->m, &f->tm.mem), 0);
    wsio__ids_add(&f->m, &f->sc[i].ws);
    assert_null(wsio__ids_find(&f->m, wsio__ids_id(&f->sc[i].ws)));
    wsio__ids_show(&f->m, &f->sc[i].ws);
    f->in[i] = 1;
    uint64_t id = wsio__ids_id(&f->sc[i].ws);
    assert_true(id != 0);
    return id;
}

static void release(fixture *f, int i)
{
    wsio__ids_release(&f->m, &f->tm.mem, &f->sc[i].ws);
    f->in[i] = 0;
    assert_int_equal(wsio__ids_id(&f->sc[i].ws), 0);
}

static void check_all(const fixture *f)
{
    for (int i = 0; i < N; i++) {
        uint64_t id = wsio__ids_id(&f->sc[i].ws);
        assert_int_equal(id != 0, f->in[i] != 0);
        if (id)
            assert_ptr_equal(wsio__ids_find(&f->m, id),
                             f->in[i] == 1 ? &f->sc[i].ws : NULL);
    }
}

static void teardown(fixture *f)
{
    wsio__ids_free(&f->m, &f->tm.mem);
    free(f->sc);
    assert_int_equal(f->tm.live_blocks, 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_ids_found_after_adds_hides_and_releases(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    assert_null(wsio__ids_find(&f.m, 1)); /* empty */
    for (int i = 0; i < N; i++)
        add(&f, i);
    check_all(&f);
    /* Hide a scattered half (left OPEN, not yet freed), release every
     * third of all, add the released back (in reused slots). */
    unsigned seed = 7;
    uint64_t old[N];
    for (int i = 0; i < N; i++) {
        old[i] = wsio__ids_id(&f.sc[i].ws);
        if (rand_r(&seed) % 2) {
            wsio__ids_hide(&f.m, &f.sc[i].ws);
            f.in[i] = 2;
        }
    }
    check_all(&f);
    for (int i = 0; i < N; i += 3)
        release(&f, i);
    check_all(&f);
    uint32_t cap = f.m.cap;
    for (int i = 0; i < N; i += 3) {
        uint64_t id = add(&f, i);
        assert_true(id != old[i]);
    }
    /* Every released slot was taken again: no growth. */
    assert_int_equal(f.m.cap, cap);
    check_all(&f);
    /* The old ids of the released miss, though their slots hold others. */
    for (int i = 0; i < N; i += 3)
        assert_null(wsio__ids_find(&f.m, old[i]));
    /* Ids never issued miss: 0, past the slots in use, a generation not
     * yet reached. */
    assert_null(wsio__ids_find(&f.m, 0));
    assert_null(wsio__ids_find(&f.m, (uint64_t)N + 1));
    assert_null(wsio__ids_find(&f.m, UINT64_MAX));
    assert_null(wsio__ids_find(&f.m, (uint64_t)5 << 32 | 2));
    teardown(&f);
}

/* 100,000 connections through 16 at a time: each closes (hidden, then
 * freed) and a new one takes a slot. No id repeats; after each step the
 * ids of the last 64 that went, and a random older one, miss. */
static void test_ids_of_closed_connections_never_find_a_new_one(void **state)
{
    (void)state;
    enum { LIVE = 16, ROUNDS = 100000, RECENT = 64 };
    fixture f;
    setup(&f, 0);
    uint64_t *all = malloc(sizeof *all * (ROUNDS + LIVE));
    assert_non_null(all);
    size_t nall = 0;
    uint64_t recent[RECENT] = {0};
    for (int i = 0; i < LIVE; i++)
        all[nall++] = add(&f, i);
    unsigned seed = 11;
    for (int r = 0; r < ROUNDS; r++) {
        int i = (int)(rand_r(&seed) % LIVE);
        uint64_t gone = wsio__ids_id(&f.sc[i].ws);
        wsio__ids_hide(&f.m, &f.sc[i].ws);
        assert_null(wsio__ids_find(&f.m, gone));
        release(&f, i);
        recent[r % RECENT] = gone;
        all[nall++] = add(&f, i);
        for (int k = 0; k < RECENT; k++)
            if (recent[k])
                assert_null(wsio__ids_find(&f.m, recent[k]));
        uint64_t older = all[rand_r(&seed) % (nall - LIVE)];
        wsio_ws *found = wsio__ids_find(&f.m, older);
        /* An older id is either still open (one of the LIVE) or misses. */
        if (found)
            assert_int_equal(wsio__ids_id(found), older);
    }
    /* The slots stayed the live ones'. */
    assert_true(f.m.top <= LIVE);
    qsort(all, nall, sizeof *all, cmp_u64);
    for (size_t k = 1; k < nall; k++)
        assert_true(all[k] != all[k - 1]);
    free(all);
    for (int i = 0; i < LIVE; i++)
        release(&f, i);
    teardown(&f);
}

/* The generation is 31 bits: the slot that would wrap is retired, and
 * its last ids stay unique (white box: the generation is set close to
 * the end rather than reached by 2^31 connections). */
static void test_ids_slot_retires_instead_of_wrapping(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    add(&f, 0);
    f.sc[0].gen = 0x7ffffffeu;
    uint64_t before_last = wsio__ids_id(&f.sc[0].ws);
    uint32_t slot = f.sc[0].slot;
    release(&f, 0);
    uint64_t last = add(&f, 1); /* the same slot, the last generation */
    assert_int_equal(f.sc[1].slot, slot);
    assert_int_equal(last >> 32, 0x7fffffffu);
    assert_null(wsio__ids_find(&f.m, before_last));
    release(&f, 1);
    /* Retired: the next connections get other slots, and no id of the
     * retired slot (any generation) is found. */
    for (int i = 2; i < 40; i++) {
        add(&f, i);
        assert_true(f.sc[i].slot != slot);
    }
    assert_null(wsio__ids_find(&f.m, last));
    assert_null(wsio__ids_find(&f.m, slot));
    check_all(&f);
    for (int i = 2; i < 40; i++)
        release(&f, i);
    teardown(&f);
}

static void test_ids_table_follows_the_open_connections(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    for (int i = 0; i < N; i++)
        add(&f, i);
    /* One slot per connection, at most doubled. */
    assert_int_equal(f.m.top, N);
    assert_true(f.m.cap < 2 * N);
    /* Churn below the peak reuses slots, lowest first: no growth. */
    uint32_t cap = f.m.cap;
    for (int r = 0; r < 5 * N; r++) {
        int i = r % N;
        release(&f, i);
        add(&f, i);
    }
    assert_int_equal(f.m.cap, cap);
    assert_int_equal(f.m.top, N);
    check_all(&f);
    /* Three freed in the middle are taken again lowest first. */
    uint32_t s5 = f.sc[5].slot, s7 = f.sc[7].slot, s100 = f.sc[100].slot;
    assert_true(s5 < s7 && s7 < s100);
    release(&f, 100);
    release(&f, 5);
    release(&f, 7);
    add(&f, 7);
    add(&f, 100);
    add(&f, 5);
    assert_int_equal(f.sc[7].slot, s5);
    assert_int_equal(f.sc[100].slot, s7);
    assert_int_equal(f.sc[5].slot, s100);
    /* All but the ten in the lowest slots go (the highest last, so the
     * free slots at the top are dropped only then): a small table again,
     * not the peak's. */
    int high = -1;
    for (int i = 0; i < N; i++)
        if (f.sc[i].slot == (uint32_t)N)
            high = i;
    assert_true(high >= 0);
    for (int i = 0; i < N; i++)
        if (f.sc[i].slot > 10 && i != high)
            release(&f, i);
    assert_int_equal(f.m.top, N); /* held up by the highest */
    check_all(&f);
    release(&f, high);
    assert_int_equal(f.m.top, 10);
    assert_true(f.m.cap <= 64);
    check_all(&f);
    /* Slots dropped and taken again start past every generation they
     * had: the ids of the gone still miss. */
    uint64_t gone = wsio__ids_id(&f.sc[0].ws);
    assert_int_equal(f.sc[0].slot, 1);
    release(&f, 0);
    for (int i = 1; i < N; i++)
        if (f.in[i])
            release(&f, i);
    assert_int_equal(f.m.top, 0);
    uint64_t again = add(&f, 0);
    assert_int_equal(f.sc[0].slot, 1);
    assert_true(again != gone);
    assert_null(wsio__ids_find(&f.m, gone));
    release(&f, 0);
    teardown(&f);
}

/* A kept request's place stays the connection's while thousands of
 * others come and go around it. */
static void test_ids_kept_request_survives_churn(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 1);
    struct wsio__kept_request *mark = (struct wsio__kept_request *)&f;
    add(&f, 0);
    assert_null(*wsio__ids_kept(&f.m, &f.sc[0].ws));
    *wsio__ids_kept(&f.m, &f.sc[0].ws) = mark;
    for (int r = 0; r < 5000; r++) {
        int i = 1 + r % (N - 1);
        if (f.in[i])
            release(&f, i);
        else
            add(&f, i);
        if (r % 7 == 0 && f.in[i])
            assert_null(*wsio__ids_kept(&f.m, &f.sc[i].ws));
    }
    assert_ptr_equal(*wsio__ids_kept(&f.m, &f.sc[0].ws), mark);
    /* Hidden (past OPEN, before on_close returns): still there. */
    wsio__ids_hide(&f.m, &f.sc[0].ws);
    assert_ptr_equal(*wsio__ids_kept(&f.m, &f.sc[0].ws), mark);
    *wsio__ids_kept(&f.m, &f.sc[0].ws) = NULL;
    release(&f, 0);
    assert_null(wsio__ids_kept(&f.m, &f.sc[0].ws)); /* no slot */
    for (int i = 1; i < N; i++)
        if (f.in[i])
            release(&f, i);
    teardown(&f);
}

/* The room for topics: none until first made (a failure to make it
 * leaves none), then a NULL head for every slot, and a head set stays
 * its connection's while others come and go and the table grows. */
static void test_ids_topics_room_made_when_first_used(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    for (int i = 0; i < 10; i++)
        add(&f, i);
    assert_null(wsio__ids_subs(&f.m, &f.sc[0].ws));
    test_mem_fail_at(&f.tm, 0);
    assert_int_equal(wsio__ids_make_subs(&f.m, &f.tm.mem), WSIO_ENOMEM);
    assert_null(wsio__ids_subs(&f.m, &f.sc[0].ws));
    assert_int_equal(wsio__ids_make_subs(&f.m, &f.tm.mem), 0);
    for (int i = 0; i < 10; i++)
        assert_null(*wsio__ids_subs(&f.m, &f.sc[i].ws));
    wsio__sub *mark = (wsio__sub *)&f;
    *wsio__ids_subs(&f.m, &f.sc[3].ws) = mark;
    for (int r = 0; r < 5000; r++) {
        int i = 10 + r % (N - 10);
        if (f.in[i]) {
            release(&f, i);
        } else {
            add(&f, i);
            assert_null(*wsio__ids_subs(&f.m, &f.sc[i].ws));
        }
    }
    assert_ptr_equal(*wsio__ids_subs(&f.m, &f.sc[3].ws), mark);
    *wsio__ids_subs(&f.m, &f.sc[3].ws) = NULL;
    for (int i = 0; i < N; i++)
        if (f.in[i])
            release(&f, i);
    assert_null(wsio__ids_subs(&f.m, &f.sc[3].ws)); /* no slot */
    teardown(&f);
}

static void test_ids_no_kept_room_without_keep_request(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 0);
    add(&f, 0);
    assert_null(wsio__ids_kept(&f.m, &f.sc[0].ws));
    release(&f, 0);
    teardown(&f);
}

/* Fill to the point where the next reserve must grow, and make
 * allocation fail (the slots, the room for kept requests, for topics,
 * the free bits, in that order). */
static void failed_growth(int keep, int topics, long fail)
{
    fixture f;
    setup(&f, keep);
    int i = 0;
    add(&f, i++);
    if (topics)
        assert_int_equal(wsio__ids_make_subs(&f.m, &f.tm.mem), 0);
    while (f.m.top < f.m.cap)
        add(&f, i++);
    uint32_t cap = f.m.cap;
    test_mem_fail_at(&f.tm, fail);
    assert_int_equal(wsio__ids_reserve(&f.m, &f.tm.mem), WSIO_ENOMEM);
    assert_int_equal(f.m.cap, cap);
    check_all(&f);
    for (int k = 0; k < i; k++) {
        if (keep)
            assert_null(*wsio__ids_kept(&f.m, &f.sc[k].ws));
        if (topics)
            assert_null(*wsio__ids_subs(&f.m, &f.sc[k].ws));
    }
    add(&f, i);
    check_all(&f);
    for (int k = 0; k <= i; k++)
        release(&f, k);
    teardown(&f);
}

static void test_ids_failed_growth_leaves_the_map_intact(void **state)
{
    (void)state;
    for (long fail = 0; fail < 2; fail++)
        failed_growth(0, 0, fail);
    for (long fail = 0; fail < 3; fail++) {
        failed_growth(1, 0, fail);
        failed_growth(0, 1, fail);
    }
    for (long fail = 0; fail < 4; fail++)
        failed_growth(1, 1, fail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_found_after_adds_hides_and_releases),
        cmocka_unit_test(test_ids_of_closed_connections_never_find_a_new_one),
        cmocka_unit_test(test_ids_slot_retires_instead_of_wrapping),
        cmocka_unit_test(test_ids_table_follows_the_open_connections),
        cmocka_unit_test(test_ids_kept_request_survives_churn),
        cmocka_unit_test(test_ids_topics_room_made_when_first_used),
        cmocka_unit_test(test_ids_no_kept_room_without_keep_request),
        cmocka_unit_test(test_ids_failed_growth_leaves_the_map_intact),
    };
    return cmocka_run_group_tests_name("server_ids", tests, NULL, NULL);
}

/*
 * tests/unit/test_server_walk.c - the server's walks over its connections
 * (wsio__server_next, src/server.c), which go by slot of the id map: a
 * walk of the open list visits every connection open for the whole walk
 * exactly once and no connection twice, while between two steps (where
 * a walk runs callbacks) connections are freed, leave OPEN, are accepted
 * and open, the current one included, and the slot array grows and
 * shrinks under it; a walk of both lists reaches every connection not
 * DEAD, handshaking ones too, and never a DEAD one still holding its slot.
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"
#include "testutil.h"

#define N 20000
#define START 400
#define KEEP_SLOTS 12

typedef struct walk {
    test_mem tm;
    wsio_server *srv;        /* only its id map is used */
    wsio__server_conn *sc;   /* N zeroed connections, each used once */
    int used;                /* sc[0 .. used) were accepted */
    unsigned char state[N];  /* the list: LIST_NONE .. LIST_OTHER; 4 freed */
    unsigned char steady[N]; /* open from the walk's start, never left */
    unsigned char seen[N];   /* visits */
    unsigned seed;
    uint32_t cap_min; /* the array's smallest size since the walk began */
} walk;

#define FREED 4

static void walk_init(walk *w, unsigned seed)
{
    memset(w, 0, sizeof *w);
    test_mem_init(&w->tm);
    w->srv = calloc(1, sizeof *w->srv);
    w->sc = calloc(N, sizeof *w->sc);
    assert_non_null(w->srv);
    assert_non_null(w->sc);
    wsio__ids_init(&w->srv->ids, 0);
    w->seed = seed;
}

static void walk_free(walk *w)
{
    wsio__ids_free(&w->srv->ids, &w->tm.mem);
    free(w->sc);
    free(w->srv);
}

static int pick(walk *w, int n)
{
    return (int)(rand_r(&w->seed) % (unsigned)n);
}

/* Accept a new connection: handshaking (LIST_OTHER), or open at once. */
static void accept_one(walk *w, int open)
{
    assert_true(w->used < N);
    int i = w->used++;
    wsio_ws *ws = &w->sc[i].ws;
    assert_int_equal(wsio__ids_reserve(&w->srv->ids, &w->tm.mem), 0);
    wsio__ids_add(&w->srv->ids, ws);
    wsio__server_list_set(ws, LIST_OTHER);
    if (open) {
        wsio__ids_show(&w->srv->ids, ws);
        wsio__server_list_set(ws, LIST_OPEN);
    }
    w->state[i] = (unsigned char)(open ? LIST_OPEN : LIST_OTHER);
}

/* Move connection i on: OPEN leaves OPEN, OTHER dies (slot kept), DEAD
 * is freed (its slot goes back; the array may shrink). */
static void advance(walk *w, int i)
{
    wsio_ws *ws = &w->sc[i].ws;
    w->steady[i] = 0;
    switch (w->state[i]) {
    case LIST_OPEN:
        wsio__ids_hide(&w->srv->ids, ws);
        wsio__server_list_set(ws, LIST_OTHER);
        w->state[i] = LIST_OTHER;
        break;
    case LIST_OTHER:
        wsio__server_list_set(ws, LIST_NONE);
        w->state[i] = LIST_NONE;
        break;
    case LIST_NONE:
        wsio__ids_release(&w->srv->ids, &w->tm.mem, ws);
        w->state[i] = FREED;
        if (w->srv->ids.cap < w->cap_min)
            w->cap_min = w->srv->ids.cap;
        break;
    default:
        break;
    }
}

/* Free every connection in a slot from low on: the array shrinks. */
static void free_from(walk *w, uint32_t low)
{
    for (int i = 0; i < w->used; i++)
        if (w->state[i] != FREED && w->sc[i].slot > low)
            while (w->state[i] != FREED)
                advance(w, i);
}

/* Connections of the start in the lowest slots stay as they are, so
 * that some are open for the whole walk. */
static int kept(const walk *w, int i)
{
    return i < START && w->sc[i].slot && w->sc[i].slot <= KEEP_SLOTS;
}

/* What a callback between two steps of the walk does. */
static void meddle(walk *w, int step, int current)
{
    if (step == 40) {
        free_from(w, KEEP_SLOTS); /* the array shrinks below the walk */
        for (int k = 0; k < 1500; k++)
            accept_one(w, 1); /* and grows back past it */
        return;
    }
    int what = pick(w, 10);
    if (what < 3 && !kept(w, current)) {
        advance(w, current); /* the visited one closes, maybe freed */
        if (pick(w, 2))
            while (w->state[current] != FREED)
                advance(w, current);
    } else if (what < 6) {
        for (int k = 0; k < 4; k++) { /* others close, some freed */
            int i = pick(w, w->used);
            if (kept(w, i))
                continue;
            advance(w, i);
            if (pick(w, 2))
                advance(w, i);
        }
    } else if (what < 9 && w->used < N - 3) {
        for (int k = 0; k < 3; k++)
            accept_one(w, pick(w, 2)); /* new ones, in freed slots too */
    }
}

static void start(walk *w)
{
    for (int k = 0; k < START; k++)
        accept_one(w, pick(w, 4) != 0);
    for (int k = 0; k < START / 4; k++) /* holes, and some past OPEN */
        advance(w, pick(w, w->used));
    for (int i = 0; i < w->used; i++)
        w->steady[i] = w->state[i] == LIST_OPEN;
}

static void test_walk_open_list_while_connections_come_and_go(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 40; seed++) {
        walk *w = malloc(sizeof *w);
        assert_non_null(w);
        walk_init(w, seed);
        start(w);
        uint32_t cap_before = w->srv->ids.cap, cap_max = cap_before, at = 0;
        w->cap_min = cap_before;
        int step = 0;
        for (wsio_ws *ws; (ws = wsio__server_next(w->srv, LIST_OPEN, &at));
             step++) {
            int i = (int)(wsio__sconn(ws) - w->sc);
            assert_int_equal(w->state[i], LIST_OPEN);
            assert_int_equal(w->seen[i], 0);
            w->seen[i]++;
            meddle(w, step, i);
            if (w->srv->ids.cap > cap_max)
                cap_max = w->srv->ids.cap;
            assert_true(step < 4 * N); /* hang guard */
        }
        /* The array did shrink and grow under the walk. */
        assert_true(w->cap_min < cap_before);
        assert_true(cap_max > cap_before);
        int steady = 0;
        for (int i = 0; i < w->used; i++) {
            assert_true(w->seen[i] <= 1);
            if (w->steady[i]) {
                assert_int_equal(w->seen[i], 1);
                steady++;
            }
        }
        assert_true(steady > 0);
        walk_free(w);
        free(w);
    }
}

static void test_walk_any_list_reaches_every_connection_not_dead(void **state)
{
    (void)state;
    walk *w = malloc(sizeof *w);
    assert_non_null(w);
    walk_init(w, 7);
    /* 5,000 accepted and moved on in random order. */
    for (int k = 0; k < 5000; k++) {
        if (pick(w, 3) || w->used == 0)
            accept_one(w, pick(w, 2));
        else
            advance(w, pick(w, w->used));
    }
    uint32_t at = 0;
    int count = 0;
    for (wsio_ws *ws; (ws = wsio__server_next(w->srv, LIST_ANY, &at));) {
        int i = (int)(wsio__sconn(ws) - w->sc);
        assert_true(w->state[i] == LIST_OPEN || w->state[i] == LIST_OTHER);
        assert_int_equal(w->seen[i]++, 0);
        count++;
    }
    int expect = 0, open = 0;
    for (int i = 0; i < w->used; i++) {
        expect += w->state[i] == LIST_OPEN || w->state[i] == LIST_OTHER;
        open += w->state[i] == LIST_OPEN;
    }
    assert_int_equal(count, expect);
    at = 0;
    for (wsio_ws *ws; (ws = wsio__server_next(w->srv, LIST_OPEN, &at));)
        open--;
    assert_int_equal(open, 0);
    walk_free(w);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_open_list_while_connections_come_and_go),
        cmocka_unit_test(test_walk_any_list_reaches_every_connection_not_dead),
    };
    return cmocka_run_group_tests_name("server_walk", tests, NULL, NULL);
}

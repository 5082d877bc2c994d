/*
 * tests/integration/test_idle_memory.c - what an idle open connection of a
 * server costs, counted by the allocator wsio is given (not RSS, which the
 * other processes of a shared machine make noisy), every loop mode:
 *
 * - after the handshake, 2,000 idle connections hold at most OWN_BYTES
 *   each of their own (one block), and IDLE_CONN_BYTES with their share
 *   of the loop's and the server's tables indexed by fd and by id;
 * - after every one of them has sent a message and had its echo
 *   written, they hold no more buffers than before (memory_in_use):
 *   nothing a message needed stays behind.
 *
 * The bench's figure (RSS per idle connection of the echo example,
 * docs/PERFORMANCE.md) adds the C library's own overhead per block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

#define WARM_CONNS 100
#define IDLE_CONNS 2000
/* Connections opened between two runs of the loop. */
#define BATCH 100
/*
 * What one idle connection allocates for itself: one block of 200 bytes
 * on LP64: the server's wrapper (8 bytes: its id slot and generation; no
 * list links, the server walks its connections by slot), the driver
 * (struct wsio_ws, 128 bytes, its loop objects and transport 56 of them)
 * and the conn state (64 bytes, whose receive and send state are NULL
 * pointers while idle). Measured 197-198 here, since the tables' first
 * small blocks, counted in the baseline, are freed as they grow. A field
 * that makes the block grow, or receive or send state kept while idle,
 * fails the test (8 bytes more: 205-206).
 */
#define OWN_BYTES 200
/*
 * With its share of the tables that grow by doubling with the fds and the
 * connections: the backend's entry per fd (the test's own client fds are
 * numbered in between, so two fds per connection), the server's id slots
 * (8 bytes and a bit a connection, doubling) and the loop's timer heap (8
 * bytes a connection).
 * The backend's entry: epoll 12 bytes per fd (a tag, a word of generation
 * and events), poll 20 (a pollfd, a tag, a slot number), host mode 8 (a
 * pointer). Measured on LP64: 279 (poll), 279 (epoll), 263 (host).
 */
#define IDLE_CONN_BYTES 288
/* Blocks from this size on are the tables, not a connection's own. */
#define TABLE_MIN 4096

/* ---- an allocator that counts the bytes asked for ---- */

/* Blocks allocated since counting began, by address (open addressing). */
#define SLOTS (1u << 17)
typedef struct counting_mem {
    wsio_mem inner; /* the env's allocator, as it was */
    size_t live;    /* bytes asked for and not yet freed */
    size_t small;   /* ... of them in blocks under TABLE_MIN */
    void **ptr;
    size_t *size;
} counting_mem;

static size_t slot_of(const counting_mem *cm, const void *p)
{
    size_t i = ((size_t)(uintptr_t)p >> 4) * 0x9e3779b97f4a7c15u;
    for (i &= SLOTS - 1; cm->ptr[i] && cm->ptr[i] != p;
         i = (i + 1) & (SLOTS - 1))
        ;
    return i;
}

static void note(counting_mem *cm, void *p, size_t size)
{
    size_t i = slot_of(cm, p);
    assert_null(cm->ptr[i]); /* the table never fills in these tests */
    cm->ptr[i] = p;
    cm->size[i] = size;
    cm->live += size;
    cm->small += size < TABLE_MIN ? size : 0;
}

/* Forget p (blocks from before counting began are not in the table). */
static void forget(counting_mem *cm, void *p)
{
    size_t i = slot_of(cm, p);
    if (!cm->ptr[i])
        return;
    cm->live -= cm->size[i];
    cm->small -= cm->size[i] < TABLE_MIN ? cm->size[i] : 0;
    cm->ptr[i] = NULL;
    /* Put back the entries of the run behind the hole. */
    for (size_t j = (i + 1) & (SLOTS - 1); cm->ptr[j];
         j = (j + 1) & (SLOTS - 1)) {
        void *q = cm->ptr[j];
        size_t s = cm->size[j];
        cm->ptr[j] = NULL;
        size_t k = slot_of(cm, q);
        cm->ptr[k] = q;
        cm->size[k] = s;
    }
}

static void *cm_malloc(size_t size, void *user)
{
    counting_mem *cm = user;
    void *p = cm->inner.malloc(size, cm->inner.user);
    if (p)
        note(cm, p, size);
    return p;
}

static void *cm_realloc(void *ptr, size_t size, void *user)
{
    counting_mem *cm = user;
    void *p = cm->inner.realloc(ptr, size, cm->inner.user);
    if (p) {
        if (ptr)
            forget(cm, ptr);
        note(cm, p, size);
    }
    return p;
}

static void cm_free(void *ptr, void *user)
{
    counting_mem *cm = user;
    if (ptr)
        forget(cm, ptr);
    cm->inner.free(ptr, cm->inner.user);
}

/* From now on count what e's loop allocates (the loop holds a pointer to
 * e->tm.mem, whose functions are swapped, as lock_env_mem does). */
static void count_env_mem(env *e, counting_mem *cm)
{
    cm->inner = e->tm.mem;
    cm->live = cm->small = 0;
    cm->ptr = calloc(SLOTS, sizeof *cm->ptr);
    cm->size = calloc(SLOTS, sizeof *cm->size);
    assert_non_null(cm->ptr);
    assert_non_null(cm->size);
    e->tm.mem = (wsio_mem){cm_malloc, cm_realloc, cm_free, cm};
}

/* ---- the test ---- */

/* n more raw WebSocket clients, opened BATCH at a time; their 101s are
 * left unread (they wait in the clients' sockets, not in wsio). */
static void open_idle(env *e, server_state *s, uint16_t port, int *fds,
                      int from, int n)
{
    static const char req[] =
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n";
    for (int i = from; i < from + n; i++) {
        fds[i] = raw_connect(port);
        raw_send(fds[i], req);
        if ((i - from) % BATCH == BATCH - 1 || i == from + n - 1)
            RUN_UNTIL(e, s->opens == i + 1, 10000);
    }
    run_for(e, 20); /* every 101 written */
}

/* Bytes held per connection opened between two counts. */
static size_t per_conn(size_t before, size_t after, int n)
{
    return after > before ? (after - before) / (size_t)n : 0;
}

static void test_idle_connections_hold_bounded_memory(void **state)
{
    /* Two fds per connection in this process (client and server side). */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlim_t need = 2 * (WARM_CONNS + IDLE_CONNS) + 64;
    if (rl.rlim_cur < need && rl.rlim_max >= need) {
        rl.rlim_cur = need;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (rl.rlim_cur < need) {
        printf("skipped: RLIMIT_NOFILE %llu < %llu\n",
               (unsigned long long)rl.rlim_cur, (unsigned long long)need);
        skip();
    }
    env *e = env_new(state);
    counting_mem cm;
    count_env_mem(e, &cm);
    server_state s;
    memset(&s, 0, sizeof s);
    s.echo = 1;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    int total = WARM_CONNS + IDLE_CONNS;
    int *fds = calloc((size_t)total, sizeof *fds);
    assert_non_null(fds);

    /* What every connection shares (the loop's buffers, the cache of
     * freed blocks at its working size) is in the baseline. */
    open_idle(e, &s, port, fds, 0, WARM_CONNS);
    size_t live0 = cm.live, small0 = cm.small;
    open_idle(e, &s, port, fds, WARM_CONNS, IDLE_CONNS);
    size_t idle = per_conn(live0, cm.live, IDLE_CONNS);
    size_t own = per_conn(small0, cm.small, IDLE_CONNS);
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    assert_int_equal(st.connections, (uint64_t)total);
    uint64_t held_idle = st.memory_in_use;

    /* Every connection sends one message and gets its echo: the buffers
     * that took are given back (the loop may cache some for the next
     * message; memory_in_use counts what connections hold). */
    static const uint8_t hello[] = {
        0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1};
    for (int i = 0; i < total; i++) {
        assert_int_equal(write(fds[i], hello, sizeof hello),
                         (ssize_t)sizeof hello);
        if (i % BATCH == BATCH - 1 || i == total - 1)
            RUN_UNTIL(e, s.messages == i + 1, 10000);
    }
    run_for(e, 50); /* every echo written */
    wsio_server_get_stats(srv, &st);
    assert_int_equal(st.connections, (uint64_t)total);
    assert_int_equal(st.messages_out, (uint64_t)total);

    printf("%s: %d idle connections: %zu bytes each from the allocator, "
           "%zu of them their own (bounds %d, %d); memory_in_use %llu "
           "idle, %llu after an echo each\n",
           e->mode, IDLE_CONNS, idle, own, IDLE_CONN_BYTES, OWN_BYTES,
           (unsigned long long)held_idle, (unsigned long long)st.memory_in_use);
    assert_true(own <= OWN_BYTES);
    assert_true(idle <= IDLE_CONN_BYTES);
    assert_true(st.memory_in_use <= held_idle);

    for (int i = 0; i < total; i++)
        close(fds[i]);
    RUN_UNTIL(e, s.closes == total, 10000);
    free(fds);
    wsio_server_free(srv);
    e->tm.mem = cm.inner;
    free(cm.ptr);
    free(cm.size);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_idle_connections_hold_bounded_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

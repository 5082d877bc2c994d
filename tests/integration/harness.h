/*
 * tests/integration/harness.h - what the integration suites share: a loop
 * of the mode under test (poll, epoll, or host loop mode driven by the
 * test's own poll() loop), bounded waits, recording callbacks for clients
 * and servers, and raw sockets for peers that misbehave on purpose.
 */
#ifndef WSIO_TEST_HARNESS_H
#define WSIO_TEST_HARNESS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "testutil.h"

/* ---- the fixture: a loop of the mode under test ---- */

/* How bytes move in a test: the plain transport, or one that misbehaves
 * the way real networks do (partial I/O). */
enum env_io {
    ENV_IO_PLAIN = 0,
    ENV_IO_ONE_BYTE, /* every read and write moves at most one byte */
    ENV_IO_EAGAIN    /* reads and writes fail with EAGAIN at random */
};

typedef struct env {
    const char *mode; /* "poll", "epoll" or "host" */
    test_mem tm;
    wsio_loop *loop;
    struct pollfd *pfd; /* host mode: what wsio asked to watch */
    size_t npfd, cappfd;
    uint64_t due; /* host mode: wsio's timer */
    unsigned long turns;
    enum env_io io; /* from the mode's ":1byte" or ":eagain" suffix */
    wsio_transport_ops io_ops; /* the transport for io, when not plain */
    unsigned rand_state;       /* ENV_IO_EAGAIN's dice, seeded per env */
    char mode_name[16];        /* the loop mode, without the I/O suffix */
    int epfd;                  /* "hostepoll": the host's epoll set, else -1 */
    unsigned watch_op_errors;  /* host mode: ADD/MODIFY/REMOVE that did not
                                  match what the host had */
} env;

uint64_t now_ms(void);
/* Resident set size of this process (servers and test together), bytes;
 * with trim, the C library first gives freed memory back where it can, so
 * that memory freed earlier is not counted. */
size_t rss_bytes(int trim);
/* A loop of the mode named by *state ("poll", "epoll", "host", or
 * "hostepoll": host loop mode driven by an epoll set (the recipe of
 * docs/loop.md; e->mode is then "host"), with an
 * optional ":1byte" or ":eagain" partial-I/O suffix), using a
 * leak-checking allocator. start_server and connect_client give partial-I/O
 * modes' transport to the servers and clients they make. */
env *env_new(void **state);
/* Free the loop; fails the test if any block is still allocated. */
void env_free(env *e);
/* One turn of the loop under test, waiting at most max_ms. */
void env_turn(env *e, int max_ms);
/* Turn the loop for ms (counting turns in e->turns). */
void run_for(env *e, uint64_t ms);

/* Turn the loop until cond holds, for at most ms and 100000 turns. */
#define RUN_UNTIL(e, cond, ms)                                                 \
    do {                                                                       \
        uint64_t t0_ = now_ms();                                               \
        unsigned long n_ = 0;                                                  \
        while (!(cond) && now_ms() - t0_ < (ms) && n_++ < 1000000)             \
            env_turn((e), 10);                                                 \
        assert_true(cond);                                                     \
    } while (0)

/* Every test on every loop mode, as cmocka entries. */
#define ON_EVERY_LOOP(fn)                                                      \
    {#fn "/poll", fn, NULL, NULL, (void *)"poll"},                             \
        {#fn "/epoll", fn, NULL, NULL, (void *)"epoll"},                       \
    {                                                                          \
#fn "/host", fn, NULL, NULL, (void *)"host"                            \
    }

/* ---- callbacks: what servers and clients saw ---- */

typedef struct peer {
    int opened, closed;
    wsio_close_info info; /* reason not kept */
    int http_status;
    size_t nmsg;
    uint64_t bytes;
    unsigned long next_seq; /* messages carry "seq" numbers */
    int out_of_order;
    const uint8_t *expect; /* echo: what must come back */
    size_t expect_len;
    enum wsio_opcode expect_op;
    int mismatch;
    wsio_ws *ws;
} peer;

typedef struct server_state {
    int opens, closes, messages;
    int echo;              /* send every message back */
    const char *subscribe; /* topic each new ws joins, or NULL */
    int refuse_status;     /* on_upgrade refuses with this, or 0 */
    wsio_close_info last_close;
    wsio_ws *last_open;
} server_state;

/* Clients record into a peer; servers into a server_state. */
extern const wsio_ws_callbacks client_cb;
extern const wsio_ws_callbacks server_cb;

wsio_server *start_server(env *e, wsio_server_config *cfg,
                          const wsio_server_hooks *hooks, server_state *s);
wsio_ws *connect_client(env *e, wsio_server *srv, const wsio_client_config *cfg,
                        peer *p);

/* ---- raw sockets ---- */

/* A blocking TCP socket connected to 127.0.0.1:port. */
int raw_connect(uint16_t port);
/* The same with SO_RCVBUF set to rcvbuf (0: the default) before connect:
 * a small one makes a reader whose socket fills fast. */
int raw_connect_rcvbuf(uint16_t port, int rcvbuf);
/* Send all of s (fails the test otherwise). */
void raw_send(int fd, const char *s);
/* Non-blocking read of whatever is there; -1 when nothing yet, 0 on EOF. */
ssize_t raw_read(int fd, char *buf, size_t cap);
/* Read until EOF (at most 5 s) while turning the loop; NUL-terminates. */
size_t raw_read_all(env *e, int fd, char *buf, size_t cap);
/* Read an HTTP answer's head from fd (at most 5 s) while turning the loop;
 * its status, or 0 when the server closed (or reset) fd without one. */
int raw_read_status(env *e, int fd);
/* The opening handshake from a raw socket; returns the fd, open. */
int raw_ws_connect(env *e, uint16_t port);
/* raw_ws_connect over raw_connect_rcvbuf. */
int raw_ws_connect_rcvbuf(env *e, uint16_t port, int rcvbuf);

/* The test in host loop mode driven by epoll (explicit ADD/MODIFY/REMOVE). */
#define ON_HOST_EPOLL(fn)                                                      \
    {                                                                          \
#fn "/hostepoll", fn, NULL, NULL, (void *)"hostepoll"                  \
    }

/* The same test once more per kind of partial I/O (one byte at a time on
 * epoll, random EAGAIN on poll and in host loop mode). */
#define ON_PARTIAL_IO(fn)                                                      \
    {#fn "/epoll:1byte", fn, NULL, NULL, (void *)"epoll:1byte"},               \
        {#fn "/poll:eagain", fn, NULL, NULL, (void *)"poll:eagain"},           \
    {                                                                          \
#fn "/host:eagain", fn, NULL, NULL, (void *)"host:eagain"              \
    }

/* The env's allocator behind a mutex, for tests whose other threads call
 * wsio (and so allocate) while the loop runs. */
typedef struct locked_mem {
    wsio_mem inner; /* the env's allocator, as it was */
    pthread_mutex_t mu;
} locked_mem;
/* From now on every allocation of e's loop takes lm's mutex (the loop
 * holds a pointer to e->tm.mem, whose functions are swapped). The test
 * destroys lm->mu when done. */
void lock_env_mem(env *e, locked_mem *lm);

#endif /* WSIO_TEST_HARNESS_H */

/*
 * src/loop_internal.h - what the loop offers the layers above it: watched
 * fds, timers, posts, end-of-turn tasks and deferred releases (internal,
 * never installed).
 *
 * The loop hands out its internal objects embedded in their owners, so
 * that nothing is allocated per event:
 *   wsio__io         one watched fd and the function its readiness calls;
 *   wsio__timer      one entry of the loop's timer heap;
 *   wsio__turn_task  work for the end of the loop turn (a flush);
 *   wsio__deferred   an object to release at the end of the loop turn.
 * Owners that keep the loop alive (servers, clients) attach a wsio__attach.
 */
#ifndef WSIO_LOOP_INTERNAL_H
#define WSIO_LOOP_INTERNAL_H

#include "internal.h"
#include "common_list.h"
#include "wsio/loop.h"

/* Bytes the loop reads at once into its one shared read buffer. */
#define WSIO__READ_BUF 65536u

/*
 * Every connection embeds an io, a timer (or, once dead, a deferred) and a
 * turn task, so these carry no function pointer: kind says what the loop
 * calls. WSIO__KIND_CB: the object is the first member of its _cb wrapper,
 * whose function it calls (the loop's own objects, servers, clients: few
 * of them). WSIO__KIND_CONN: the connection layer's function, given once
 * per loop with wsio__loop_set_conn_hooks (a hook: the loop includes
 * nothing above it).
 */
enum { WSIO__KIND_CB = 0, WSIO__KIND_CONN = 1 };

typedef struct wsio__io wsio__io;
struct wsio__io {
    int fd;
    uint8_t events; /* what is watched now (0: not registered) */
    uint8_t kind;
};

typedef struct wsio__timer wsio__timer;
struct wsio__timer {
    uint64_t due;  /* loop clock, ms: exact over the whole uint64_t range */
    uint32_t slot; /* index in the heap + 1; 0 when not armed */
    uint8_t kind;
};

typedef struct wsio__deferred wsio__deferred;
struct wsio__deferred {
    wsio__deferred *next;
    uint8_t queued; /* already on the list */
    uint8_t kind;
};

/* Work for the end of the current turn, before the deferred releases:
 * a connection's flush (its sends of the turn leave in one write), the
 * only kind there is (its function: wsio__loop_set_conn_hooks). next is
 * NULL exactly when the task is not queued (the list ends in a mark). */
typedef struct wsio__turn_task wsio__turn_task;
struct wsio__turn_task {
    wsio__turn_task *next;
};

/* Every connection holds one of each (the timer and the deferred share
 * room), so their size is the loop's share of it: 8 + 16 + 8 on LP64. The
 * fd is a whole int (no descriptor is cut), the events byte holds every
 * WSIO_IO_* bit. */
_Static_assert(sizeof(wsio__io) <= 8 && sizeof(wsio__timer) <= 16 &&
                   sizeof(wsio__deferred) <= 16 &&
                   sizeof(wsio__turn_task) <= sizeof(void *),
               "a connection's loop objects grew");
_Static_assert((WSIO_IO_READ | WSIO_IO_WRITE | WSIO_IO_HUP) <= UINT8_MAX,
               "wsio__io.events is a byte");

/* The kind WSIO__KIND_CB objects: an owner with a function of its own. */
typedef struct wsio__io_cb wsio__io_cb;
struct wsio__io_cb {
    wsio__io io;
    void (*ready)(wsio__io_cb *io, unsigned events);
};

typedef struct wsio__timer_cb wsio__timer_cb;
struct wsio__timer_cb {
    wsio__timer t;
    void (*fire)(wsio__timer_cb *t);
};

typedef struct wsio__deferred_cb wsio__deferred_cb;
struct wsio__deferred_cb {
    wsio__deferred d;
    void (*release)(wsio__deferred_cb *d);
};

/* What the loop calls for the WSIO__KIND_CONN objects and the turn tasks. */
typedef struct wsio__conn_hooks {
    void (*ready)(wsio__io *io, unsigned events);
    void (*fire)(wsio__timer *t);
    void (*run)(wsio__turn_task *t);
    void (*release)(wsio__deferred *d);
} wsio__conn_hooks;

typedef struct wsio__attach wsio__attach;
struct wsio__attach {
    wsio__link link; /* on the loop's attached list */
    /* Free the owner at once (wsio_loop_free): terminate, then detach. */
    void (*destroy)(wsio__attach *a);
    uint8_t passive; /* freed by wsio_loop_free, but keeps no loop alive */
};

/* A result handed to the loop's thread from another thread, embedded in
 * its owner (so posting cannot fail), unlike wsio_loop_post's. */
typedef struct wsio__post wsio__post;
struct wsio__post {
    wsio__post *next;
    void (*run)(wsio__post *p);
    uint8_t queued; /* guarded by the loop's post lock */
};

const wsio_mem *wsio__loop_mem(const wsio_loop *loop);
/* The functions of the WSIO__KIND_CONN objects and of the turn tasks on
 * loop: constant, set before the first such object is used; setting the
 * same hooks again is a no-op. */
void wsio__loop_set_conn_hooks(wsio_loop *loop, const wsio__conn_hooks *h);
/* Non-zero inside wsio_loop_free: new servers and clients are refused. */
int wsio__loop_closing(const wsio_loop *loop);
/* The allocator for connections' buffers: the loop's, through a bounded
 * cache of freed blocks, so a busy loop's steady state allocates nothing.
 * Valid until the loop is freed, after every connection. */
const wsio_mem *wsio__loop_buffer_mem(wsio_loop *loop);
/* The loop clock as of the current turn (cheap; no system call). */
uint64_t wsio__loop_now(const wsio_loop *loop);
/* The shared read buffer of WSIO__READ_BUF bytes. */
uint8_t *wsio__loop_read_buf(wsio_loop *loop);

/* Watch io->fd for events (0 keeps nothing watched but registered in the
 * backend's sense is not needed: use unwatch). Returns 0 or an error. */
int wsio__io_watch(wsio_loop *loop, wsio__io *io, unsigned events);
void wsio__io_unwatch(wsio_loop *loop, wsio__io *io);

/* Room in the heap for one more timer, so that wsio__timer_start never
 * allocates: every timer owner reserves once when it is made. */
int wsio__timer_reserve(wsio_loop *loop);
void wsio__timer_unreserve(wsio_loop *loop);
void wsio__timer_start(wsio_loop *loop, wsio__timer *t, uint64_t due);
void wsio__timer_stop(wsio_loop *loop, wsio__timer *t);

/* Release d at the end of the current turn (or of the next one). */
void wsio__defer(wsio_loop *loop, wsio__deferred *d);
/* Run t (the hooks' run) once at the end of the current turn (or, outside a
 * turn, of the next one), before the deferred releases; queued again is a
 * no-op. Tasks queued while the tasks run, run in the same turn. */
void wsio__loop_at_turn_end(wsio_loop *loop, wsio__turn_task *t);

void wsio__attach_add(wsio_loop *loop, wsio__attach *a);
void wsio__attach_remove(wsio_loop *loop, wsio__attach *a);
/* Whether a keeps the loop alive (wsio_loop_alive); attached ones only. */
void wsio__attach_set_passive(wsio_loop *loop, wsio__attach *a, int passive);

/* Any thread: run p->run(p) on the loop's thread at its next turn. */
void wsio__loop_post_item(wsio_loop *loop, wsio__post *p);
/* The loop's thread: take p back if it has not run yet. Items run one at
 * a time, so one taken back here never runs. */
void wsio__loop_unpost(wsio_loop *loop, wsio__post *p);

#endif /* WSIO_LOOP_INTERNAL_H */

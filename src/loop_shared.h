/*
 * src/loop_shared.h - what loop.c, loop_timers.c and loop_posts.c share:
 * the wsio_loop struct and the functions one file calls in another
 * (internal, loop layer only).
 */
#ifndef WSIO_LOOP_SHARED_H
#define WSIO_LOOP_SHARED_H

#include <pthread.h>
#include <stdatomic.h>

#include "loop_block_cache.h"
#include "loop_internal.h"

typedef struct post_item post_item;
struct post_item {
    post_item *next;
    void (*fn)(void *user);
    void *user;
};

/*
 * Invariants: heap[0..ntimers) is a binary min-heap on due, and
 * heap[i]->slot == i + 1; cap >= reserved >= ntimers, so starting a timer
 * never allocates. host_mode iff be == NULL. In host mode by_fd[fd] is the
 * io watched on fd (or NULL) for every fd < nby_fd.
 */
struct wsio_loop {
    const wsio_mem *mem;
    const wsio_backend_ops *ops; /* NULL in host mode */
    void *be;
    wsio_host_loop host;
    int host_mode;
    wsio__io **by_fd; /* host mode: fd -> io */
    size_t nby_fd;

    uint64_t now;           /* clock at the start of the turn's work */
    int now_stale;          /* now was read before the backend's wait */
    int depth;              /* inside a turn */
    uint8_t running_timers; /* inside run_timers */
    atomic_int stop;

    wsio__timer **heap;
    size_t ntimers, cap, reserved;
    size_t user_timers; /* armed wsio_timers: they keep no loop alive */
    uint64_t told_due;  /* host mode: last due given to the host */

    const wsio__conn_hooks *conn; /* WSIO__KIND_CONN's functions */
    wsio__turn_task *turn_tasks;  /* to run at the end of the turn */
    wsio__deferred *deferred;     /* to release at the end of the turn */
    wsio__link *attached;         /* servers and clients (wsio__attach) */
    size_t active_attached;       /* of them, the ones not passive */

    pthread_mutex_t post_mu;
    post_item *post_head, *post_tail;
    wsio__post *ipost_head, *ipost_tail; /* internal items, same lock */
    int wake_rd, wake_wr;                /* the same fd for an eventfd */
    wsio__io_cb wake_io;

    uint8_t *rbuf;           /* WSIO__READ_BUF bytes, shared */
    int destroying;          /* inside wsio_loop_free: attach nothing */
    wsio__block_cache cache; /* connections' buffers, recycled */
};

/* Tell the host loop our next timer when it changed (loop.c). */
void wsio__loop_sync_host(wsio_loop *loop);

/* Run the timers due now (loop_timers.c). */
void wsio__loop_run_timers(wsio_loop *loop);

/* Also called from signal handlers (wsio_loop_stop): errno is kept, so the
 * interrupted code never sees it change. */
void wsio__loop_wake(wsio_loop *loop);

/* The wake fd is readable: run the posts (loop_posts.c). */
void wsio__loop_on_wake(wsio__io_cb *io, unsigned events);

/* Open the wake fd (eventfd or pipe); 0 or an error (loop_posts.c). */
int wsio__loop_open_wake(wsio_loop *loop);

void wsio__loop_close_wake(wsio_loop *loop);

#endif /* WSIO_LOOP_SHARED_H */

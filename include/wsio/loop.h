/*
 * wsio/loop.h - the event loop that servers and clients run on.
 *
 * A wsio_loop owns one I/O backend instance (poll or epoll, see
 * wsio/backend.h), the timers of every connection on it, and a wake-up
 * channel for wsio_loop_post. Servers and clients are attached to a loop
 * when they are made; one loop may carry several of each.
 *
 * A host that already has an event loop uses host loop mode instead: it
 * gives wsio_host_loop callbacks, is told which fds to watch (and for what)
 * and when the next timer is due, and calls wsio_loop_on_io and
 * wsio_loop_on_timer when they are.
 *
 * Threads: a loop and everything attached to it belong to the thread that
 * runs it. Only wsio_loop_post and wsio_loop_stop may be called from other
 * threads (wsio_loop_stop also from a signal handler).
 */
#ifndef WSIO_LOOP_H
#define WSIO_LOOP_H

#include "wsio/common.h"
#include "wsio/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An event loop: made by wsio_loop_new, freed by wsio_loop_free. */
typedef struct wsio_loop wsio_loop;

/*
 * The change a wsio_host_loop watch call asks for, in the bits of its
 * events beside WSIO_IO_READ | WSIO_IO_WRITE: switch on
 * (events & WSIO_WATCH_OP_MASK). Each fd goes ADD, MODIFY..., REMOVE, and
 * may be added again after (the number reused by a new socket, possibly
 * within one batch of the host's events).
 */
enum wsio_watch_op {
    WSIO_WATCH_REMOVE = 0,    /* events is 0: stop watching fd (it is
                                 about to be closed): EPOLL_CTL_DEL */
    WSIO_WATCH_ADD = 0x100,   /* fd is not watched yet: EPOLL_CTL_ADD */
    WSIO_WATCH_MODIFY = 0x200 /* fd is watched; this is its new interest:
                                 EPOLL_CTL_MOD */
};
#define WSIO_WATCH_OP_MASK 0x300u

/*
 * Host loop mode: the host's loop watches fds and runs the timer.
 */
typedef struct wsio_host_loop {
    /* Watch fd for events (WSIO_IO_READ | WSIO_IO_WRITE, plus one
     * wsio_watch_op bit saying whether fd is new or its interest changes),
     * replacing what was watched before; events 0 (WSIO_WATCH_REMOVE)
     * means stop watching fd (it is about to be closed). Called whenever
     * wsio's interest changes; the loop's own wake fd is added inside
     * wsio_loop_new and removed inside wsio_loop_free. Returns 0, or a
     * negative code that fails the operation that needed the watch (a
     * refused ADD leaves fd not watched; a refused MODIFY is an error). */
    int (*watch)(int fd, unsigned events, void *user);
    /* The earliest timer is now due at due_ms (on the loop's clock), or
     * UINT64_MAX when no timer is pending. Called whenever that changes. */
    void (*timer)(uint64_t due_ms, void *user);
    /* The loop's clock in milliseconds; NULL for wsio_clock_ms(). */
    uint64_t (*now_ms)(void *user);
    void *user; /* last argument of each function */
} wsio_host_loop;

/* How to make a loop; fill with wsio_loop_config_default() first. */
typedef struct wsio_loop_config {
    size_t struct_size;              /* set by wsio_loop_config_default */
    const wsio_backend_ops *backend; /* NULL: wsio_backend_default() */
    const wsio_host_loop *host;      /* non-NULL: host loop mode (copied);
                                        backend is then not used */
    const wsio_mem *mem;             /* NULL: libc; must outlive the loop */
} wsio_loop_config;

/* wsio_loop_config_default - zero cfg: default backend, libc memory. */
#define wsio_loop_config_default(cfg)                                          \
    wsio_loop_config_init((cfg), sizeof *(cfg))

/* wsio_loop_config_init - what wsio_loop_config_default expands to: the same
 * for a struct of size bytes (sizeof *cfg where the program was built), and
 * cfg->struct_size = size; bytes of a newer release are zeroed
 * (docs/DESIGN.md, ABI). */
WSIO_EXTERN void wsio_loop_config_init(wsio_loop_config *cfg, size_t size);

/*
 * wsio_loop_new - make a loop. cfg may be NULL for the defaults.
 * Returns the loop, or NULL with *err (if err is not NULL) set to
 * WSIO_ENOMEM, WSIO_EINVAL (backend with an abi_version under 1, or
 * cfg->struct_size not set by wsio_loop_config_default) or the
 * backend's -errno.
 */
WSIO_EXTERN wsio_loop *wsio_loop_new(const wsio_loop_config *cfg, int *err);

/*
 * wsio_loop_free - release the loop. Servers and clients still attached
 * are freed first, without close handshakes (their on_close is called with
 * 1006). NULL does nothing. Not from inside the loop's own callbacks.
 */
WSIO_EXTERN void wsio_loop_free(wsio_loop *loop);

/*
 * wsio_loop_run - run until wsio_loop_stop is called, or until
 * wsio_loop_alive is false (no server, no client, no connection still
 * closing). An armed wsio_timer or a wsio_watch alone does not keep it
 * running. Returns 0, or the backend's negative error. Not in host loop
 * mode (WSIO_ESTATE).
 */
WSIO_EXTERN int wsio_loop_run(wsio_loop *loop);

/*
 * wsio_loop_alive - non-zero while a server or a client is attached, a
 * connection's own deadline is pending (a closing connection's close or
 * linger timer), or work is left for the end of a turn: what wsio_loop_run
 * waits for. The application's wsio_timer and wsio_watch do not count: they
 * serve what is attached. A host loop runs while this is true.
 */
WSIO_EXTERN int wsio_loop_alive(const wsio_loop *loop);

/*
 * wsio_loop_run_once - wait up to timeout_ms (-1: no limit other than the
 * next timer) for I/O, then handle what is ready and every timer that is
 * due. Returns the number of fds handled, or a negative error.
 */
WSIO_EXTERN int wsio_loop_run_once(wsio_loop *loop, int timeout_ms);

/*
 * wsio_loop_stop - make wsio_loop_run return after the current iteration.
 * Safe from any thread and from a signal handler.
 */
WSIO_EXTERN void wsio_loop_stop(wsio_loop *loop);

/*
 * wsio_loop_post - run fn(user) on the loop's thread at its next
 * iteration, waking it if it waits. Safe from any thread; posts from one
 * thread run in the order made. user stays the caller's: wsio only passes
 * it to fn (a post still pending at wsio_loop_free never runs, so free
 * what it owns then). Returns 0, or WSIO_ENOMEM (fn will not run).
 */
WSIO_EXTERN int wsio_loop_post(wsio_loop *loop, void (*fn)(void *user),
                               void *user);

/* wsio_loop_now - the loop's clock in milliseconds (monotonic). */
WSIO_EXTERN uint64_t wsio_loop_now(const wsio_loop *loop);

/*
 * wsio_loop_now_us - a monotonic clock in microseconds (CLOCK_MONOTONIC,
 * read at each call), for measuring short intervals such as round trips.
 * Timers run on wsio_loop_now; with a host-supplied now_ms the two clocks
 * have different origins.
 */
WSIO_EXTERN uint64_t wsio_loop_now_us(const wsio_loop *loop);

/*
 * wsio_loop_backend_name - "poll", "epoll" or "host". Static string.
 */
WSIO_EXTERN const char *wsio_loop_backend_name(const wsio_loop *loop);

/*
 * wsio_loop_backend_fd - an fd that becomes readable when the loop has
 * work, for nesting this loop in another (epoll only), or -1.
 */
WSIO_EXTERN int wsio_loop_backend_fd(const wsio_loop *loop);

/*
 * wsio_loop_on_io - host loop mode: fd is ready for events
 * (WSIO_IO_READ | WSIO_IO_WRITE | WSIO_IO_HUP). Returns 0, WSIO_ESTATE when
 * not in host loop mode, or WSIO_EINVAL for an fd wsio does not watch.
 */
WSIO_EXTERN int wsio_loop_on_io(wsio_loop *loop, int fd, unsigned events);

/*
 * wsio_loop_on_timer - host loop mode: the time given to the timer
 * callback has come; runs every due timer. Returns 0 or WSIO_ESTATE.
 */
WSIO_EXTERN int wsio_loop_on_timer(wsio_loop *loop);

/*
 * Watching the application's own fds and running its own timers on the
 * loop, with any backend and in host loop mode (the host's watch and timer
 * callbacks hear of them like of wsio's own): for a database client, a
 * pipe, a periodic job. They run on the loop's thread, between the
 * connections' events. They do not keep wsio_loop_run going on their own:
 * they serve what is attached (a server, a client).
 */
typedef struct wsio_watch wsio_watch;
typedef struct wsio_timer wsio_timer;

/* fd is ready for events (WSIO_IO_READ | WSIO_IO_WRITE | WSIO_IO_HUP):
 * only what was asked for, plus hang-ups. */
typedef void (*wsio_watch_fn)(wsio_watch *w, int fd, unsigned events,
                              void *user);
typedef void (*wsio_timer_fn)(wsio_timer *t, void *user);

/*
 * wsio_watch_new - a watch of fd on loop, watching nothing yet
 * (wsio_watch_set starts it). fd stays the caller's: the watch never
 * closes it, and must be freed (or set to 0) before fd is closed. fn is
 * called with user. Returns the watch, or NULL with *err (if not NULL) set
 * to WSIO_EINVAL (fd < 0, fn NULL) or WSIO_ENOMEM.
 */
WSIO_EXTERN wsio_watch *wsio_watch_new(wsio_loop *loop, int fd,
                                       wsio_watch_fn fn, void *user, int *err);

/*
 * wsio_watch_set - watch for events (WSIO_IO_READ | WSIO_IO_WRITE),
 * replacing what was watched; 0 stops watching. Returns 0, or the
 * backend's (or the host's watch callback's) negative error, with nothing
 * watched then.
 */
WSIO_EXTERN int wsio_watch_set(wsio_watch *w, unsigned events);

/*
 * wsio_watch_free - stop watching and release w (the memory goes at the end
 * of the loop's turn, so freeing it from any callback is safe, its own
 * included; fn is not called again). NULL does nothing. Before
 * wsio_loop_free.
 */
WSIO_EXTERN void wsio_watch_free(wsio_watch *w);

/*
 * wsio_timer_new - a one-shot timer on loop, not armed. fn is called with
 * user each time it fires. Returns the timer, or NULL with *err (if not
 * NULL) set to WSIO_EINVAL (fn NULL) or WSIO_ENOMEM.
 */
WSIO_EXTERN wsio_timer *wsio_timer_new(wsio_loop *loop, wsio_timer_fn fn,
                                       void *user, int *err);

/*
 * wsio_timer_start - (re)arm t to fire once, delay_ms from now on the
 * loop's clock; an armed timer is moved. From fn itself this makes a
 * periodic timer; there a delay of 0 means the next turn (1 ms on), so a
 * timer cannot keep its turn from ending.
 */
WSIO_EXTERN void wsio_timer_start(wsio_timer *t, uint64_t delay_ms);

/* wsio_timer_stop - disarm t (nothing if it is not armed). */
WSIO_EXTERN void wsio_timer_stop(wsio_timer *t);

/* wsio_timer_armed - non-zero while t is waiting to fire. */
WSIO_EXTERN int wsio_timer_armed(const wsio_timer *t);

/*
 * wsio_timer_free - disarm and release t; safe from its own fn. NULL does
 * nothing. Before wsio_loop_free.
 */
WSIO_EXTERN void wsio_timer_free(wsio_timer *t);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_LOOP_H */

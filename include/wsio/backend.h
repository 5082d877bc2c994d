/*
 * wsio/backend.h - the I/O backend interface (DESIGN.md layer "backend").
 *
 * A backend is a small const table of functions that watches file
 * descriptors for readiness and waits with a timeout. Two are built in:
 * "poll" (portable, always built) and "epoll" (Linux). Both are compiled into
 * the same library and picked at run time; a host with its own event loop
 * can supply its own table.
 *
 * Semantics shared by every backend:
 *  - Level-triggered: an fd that stays ready is reported on every wait.
 *  - One report per ready fd per wait, with the tag it was watched with and a
 *    mask of WSIO_IO_READ / WSIO_IO_WRITE / WSIO_IO_HUP.
 *  - watch and unwatch may be called from inside the ready callback, for
 *    any fd, including fds already reported in this batch or still pending
 *    in it. After unwatch(fd) inside a batch, that fd is not reported again
 *    in the same batch, so the host may free its tag right away. An fd
 *    watched inside the callback is first reported by a later wait.
 *  - A backend state belongs to one thread at a time.
 *
 * Threads: the ops tables are constant and shared by every thread; a
 * backend state (what init makes) is used by one thread at a time, and
 * wsio_clock_ms may be called from any thread.
 */
#ifndef WSIO_BACKEND_H
#define WSIO_BACKEND_H

#include "wsio/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Readiness bits, used both for interest (watch) and for reports (ready). */
enum wsio_io_event {
    WSIO_IO_READ = 1u,
    WSIO_IO_WRITE = 2u,
    WSIO_IO_HUP = 4u /* error or hang-up; reported, never requested */
};

/*
 * The readiness callback of wait: tag is what the fd was watched with,
 * events a non-empty mask of WSIO_IO_*, arg the argument given to wait.
 */
typedef void (*wsio_backend_ready_fn)(void *tag, int fd, unsigned events,
                                      void *arg);

#define WSIO_BACKEND_ABI_VERSION 1

/*
 * The backend table. A "state" is one poller made by create; every other
 * function takes it first. Error returns are WSIO_ENOMEM or -errno values
 * of the system calls underneath.
 */
typedef struct wsio_backend_ops {
    unsigned abi_version; /* WSIO_BACKEND_ABI_VERSION; new members are only
                             appended */
    const char *name;     /* "poll", "epoll" */
    /* make a poller; returns its state, or NULL with *err set (WSIO_ENOMEM or
     * -errno) */
    void *(*create)(const wsio_mem *mem, int *err);
    void (*destroy)(void *state);
    /* start watching fd, or change what is watched; events is a mask of
     * READ|WRITE and may be 0 (stay registered, report only HUP). tag is handed
     * back on readiness. Returns 0, WSIO_ENOMEM or -errno. */
    int (*watch)(void *state, int fd, unsigned events, void *tag);
    /* stop watching fd (before it is closed). Returns 0 or -errno (unknown fd:
     * -ENOENT). */
    int (*unwatch)(void *state, int fd);
    /* wait up to timeout_ms (-1 forever, 0 poll) and call ready once per ready
     * fd; returns the number of fds reported, 0 on timeout or EINTR, or -errno.
     */
    int (*wait)(void *state, int timeout_ms, wsio_backend_ready_fn ready,
                void *arg);
    /* monotonic milliseconds (CLOCK_MONOTONIC); a host loop may supply its own
     */
    uint64_t (*now_ms)(void *state);
    /* an fd that becomes readable when wait would report something, for nesting
     * in another loop (epoll's own fd), or -1 */
    int (*backend_fd)(void *state);
} wsio_backend_ops;

/* wsio_backend_poll - the poll(2) backend. Always built; never NULL.
 * Returns a constant table (nothing to free). */
WSIO_EXTERN const wsio_backend_ops *wsio_backend_poll(void); /* always built */

/* wsio_backend_epoll - the epoll(7) backend, or NULL where it is not built
 * (anything but Linux). Returns a constant table (nothing to free). */
WSIO_EXTERN const wsio_backend_ops *
wsio_backend_epoll(void); /* NULL where not built (non-Linux) */

/* wsio_backend_default - the best backend built: epoll where built, else
 * poll. Never NULL; a constant table (nothing to free). */
WSIO_EXTERN const wsio_backend_ops *
wsio_backend_default(void); /* epoll where built, else poll */

/* wsio_backend_by_name - the built-in backend called name ("poll" or
 * "epoll"). Returns NULL if name is NULL, unknown, or not built here. */
WSIO_EXTERN const wsio_backend_ops *wsio_backend_by_name(
    const char *name); /* "poll"/"epoll"; NULL if unknown or not built */

/* wsio_clock_ms - CLOCK_MONOTONIC in milliseconds (arbitrary origin). */
WSIO_EXTERN uint64_t wsio_clock_ms(void); /* CLOCK_MONOTONIC in ms */

#ifdef __cplusplus
}
#endif

#endif /* WSIO_BACKEND_H */

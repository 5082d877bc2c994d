/*
 * src/backend_poll.c - the portable poll(2) backend (wsio/backend.h).
 *
 * The watched fds sit densely in a pollfd array handed to poll() as is, with
 * the tags in a parallel array. An fd -> slot map, grown to the largest fd
 * seen, makes watch and unwatch O(1); nothing is sized up front.
 *
 * Changes made from inside the ready callback: the slots of the batch being
 * reported must not move, or an fd would be skipped or reported twice. So
 * while a batch runs, unwatch only marks its slot dead (fd -1, which poll()
 * also ignores) and the array is compacted once the batch is over; watch of
 * a new fd appends past the end of the batch, so it is first reported by
 * the next wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>

#include "internal.h"
#include "wsio/backend.h"

#define MIN_SLOTS 16

/*
 * Invariant: fds[0..count) and tags[0..count) are the registrations, both
 * allocated for cap entries. For every live slot i, slot_of[fds[i].fd] ==
 * i + 1; slot_of[fd] == 0 means fd is not watched. Dead slots (fd -1) exist
 * only while in_batch is set, and then dirty is set too.
 */
typedef struct poll_state {
    const wsio_mem *mem;
    struct pollfd *fds;
    void **tags;
    size_t count;      /* slots in use, live or dead */
    size_t cap;        /* slots allocated in fds and tags */
    uint32_t *slot_of; /* fd -> slot + 1, or 0 */
    size_t map_len;    /* entries in slot_of: every fd < map_len is mapped */
    int in_batch;      /* inside wait's callback loop */
    int dirty;         /* dead slots wait for compaction */
} poll_state;

static short interest_to_poll(unsigned events)
{
    short ev = 0;
    if (events & WSIO_IO_READ)
        ev |= POLLIN;
    if (events & WSIO_IO_WRITE)
        ev |= POLLOUT;
    return ev;
}

/* What to report for a slot: only what is still asked for, plus HUP. */
static unsigned poll_to_events(short revents, short asked)
{
    short seen = (short)(revents & (asked | POLLERR | POLLHUP | POLLNVAL));
    unsigned events = 0;
    if (seen & POLLIN)
        events |= WSIO_IO_READ;
    if (seen & POLLOUT)
        events |= WSIO_IO_WRITE;
    if (seen & (POLLERR | POLLHUP | POLLNVAL))
        events |= WSIO_IO_HUP;
    return events;
}

static void *poll_create(const wsio_mem *mem, int *err)
{
    mem = wsio__mem_or_default(mem);
    poll_state *st = wsio__calloc(mem, 1, sizeof *st);
    if (!st) {
        *err = WSIO_ENOMEM;
        return NULL;
    }
    st->mem = mem;
    *err = 0;
    return st;
}

static void poll_destroy(void *state)
{
    poll_state *st = state;
    if (!st)
        return;
    wsio__free(st->mem, st->fds);
    wsio__free(st->mem, st->tags);
    wsio__free(st->mem, st->slot_of);
    wsio__free(st->mem, st);
}

/* Make slot_of cover fd. On failure nothing changes. */
static int grow_map(poll_state *st, int fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= st->map_len)
        return 0;
    size_t len = st->map_len ? st->map_len : MIN_SLOTS;
    while (len < need)
        len *= 2;
    if (len > SIZE_MAX / sizeof *st->slot_of)
        return WSIO_ENOMEM;
    uint32_t *map = wsio__realloc(st->mem, st->slot_of, len * sizeof *map);
    if (!map)
        return WSIO_ENOMEM;
    memset(map + st->map_len, 0, (len - st->map_len) * sizeof *map);
    st->slot_of = map;
    st->map_len = len;
    return 0;
}

/*
 * Make room for one more slot. The two arrays grow one after the other; if
 * the second fails the first is merely larger than cap says, which is
 * harmless, and cap still describes both.
 */
static int grow_slots(poll_state *st)
{
    if (st->count < st->cap)
        return 0;
    size_t cap = st->cap ? st->cap * 2 : MIN_SLOTS;
    if (cap > UINT32_MAX - 1 || cap > SIZE_MAX / sizeof *st->fds)
        return WSIO_ENOMEM;
    struct pollfd *fds = wsio__realloc(st->mem, st->fds, cap * sizeof *fds);
    if (!fds)
        return WSIO_ENOMEM;
    st->fds = fds;
    void **tags = wsio__realloc(st->mem, st->tags, cap * sizeof *tags);
    if (!tags)
        return WSIO_ENOMEM;
    st->tags = tags;
    st->cap = cap;
    return 0;
}

static int poll_watch(void *state, int fd, unsigned events, void *tag)
{
    poll_state *st = state;
    if (fd < 0)
        return -EBADF;
    if (events & ~(unsigned)(WSIO_IO_READ | WSIO_IO_WRITE))
        return -EINVAL;
    if ((size_t)fd < st->map_len && st->slot_of[fd]) {
        size_t i = st->slot_of[fd] - 1;
        st->fds[i].events = interest_to_poll(events);
        st->tags[i] = tag;
        return 0;
    }
    /* poll() would only say POLLNVAL later; fail now, as epoll_ctl does. */
    if (fcntl(fd, F_GETFD) < 0)
        return -errno;
    int rc = grow_map(st, fd);
    if (rc == 0)
        rc = grow_slots(st);
    if (rc != 0)
        return rc;
    size_t i = st->count++;
    st->fds[i].fd = fd;
    st->fds[i].events = interest_to_poll(events);
    st->fds[i].revents = 0;
    st->tags[i] = tag;
    st->slot_of[fd] = (uint32_t)(i + 1);
    return 0;
}

/* Drop slot i by moving the last slot into it. Not during a batch. */
static void remove_slot(poll_state *st, size_t i)
{
    size_t last = --st->count;
    if (i != last) {
        st->fds[i] = st->fds[last];
        st->tags[i] = st->tags[last];
        st->slot_of[st->fds[i].fd] = (uint32_t)(i + 1);
    }
}

static int poll_unwatch(void *state, int fd)
{
    poll_state *st = state;
    if (fd < 0 || (size_t)fd >= st->map_len || !st->slot_of[fd])
        return -ENOENT;
    size_t i = st->slot_of[fd] - 1;
    st->slot_of[fd] = 0;
    if (st->in_batch) {
        st->fds[i].fd = -1;
        st->tags[i] = NULL;
        st->dirty = 1;
    } else {
        remove_slot(st, i);
    }
    return 0;
}

/* Squeeze out the slots unwatched during a batch, keeping the order. */
static void compact(poll_state *st)
{
    size_t out = 0;
    for (size_t i = 0; i < st->count; i++) {
        if (st->fds[i].fd < 0)
            continue;
        if (out != i) {
            st->fds[out] = st->fds[i];
            st->tags[out] = st->tags[i];
            st->slot_of[st->fds[out].fd] = (uint32_t)(out + 1);
        }
        out++;
    }
    st->count = out;
    st->dirty = 0;
}

static int poll_wait(void *state, int timeout_ms, wsio_backend_ready_fn ready,
                     void *arg)
{
    poll_state *st = state;
    int n = poll(st->fds, (nfds_t)st->count, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    /* The callback may append slots (and so move the arrays): index, and
     * stop at the batch's own end. */
    size_t end = st->count;
    int pending = n, reported = 0;
    st->in_batch = 1;
    for (size_t i = 0; i < end && pending > 0; i++) {
        short revents = st->fds[i].revents;
        if (!revents)
            continue;
        pending--;
        st->fds[i].revents = 0;
        if (st->fds[i].fd < 0)
            continue; /* unwatched earlier in this batch */
        unsigned events = poll_to_events(revents, st->fds[i].events);
        if (!events)
            continue; /* interest dropped earlier in this batch */
        reported++;
        ready(st->tags[i], st->fds[i].fd, events, arg);
    }
    st->in_batch = 0;
    if (st->dirty)
        compact(st);
    return reported;
}

static uint64_t poll_now_ms(void *state)
{
    (void)state;
    return wsio_clock_ms();
}

static int poll_backend_fd(void *state)
{
    (void)state;
    return -1;
}

static const wsio_backend_ops poll_ops = {
    .abi_version = WSIO_BACKEND_ABI_VERSION,
    .name = "poll",
    .create = poll_create,
    .destroy = poll_destroy,
    .watch = poll_watch,
    .unwatch = poll_unwatch,
    .wait = poll_wait,
    .now_ms = poll_now_ms,
    .backend_fd = poll_backend_fd,
};

const wsio_backend_ops *wsio_backend_poll(void)
{
    return &poll_ops;
}

/*
 * src/backend_epoll.c - the Linux epoll(7) backend (wsio/backend.h).
 *
 * Level-triggered epoll. The callback needs both the fd and its tag, and
 * epoll_data holds one 64-bit value, so each registration carries
 * (generation << 32 | fd) there and the tag lives in fd-indexed tables
 * that grow to the largest fd watched (nothing is sized up front): 12
 * bytes per fd, a tag and a word of generation and events, kept apart so
 * that no padding is paid per fd.
 *
 * The generation is what makes changes from inside the ready callback
 * safe: a batch of events is fetched before any is reported, so an fd
 * unwatched by an earlier callback may still be in it, perhaps already
 * watched again under a new tag (the host closed it and the number was
 * reused). A fresh registration gets a new generation (30 bits, so that
 * it shares a word with the events; a batch would need 2^30 registrations
 * of one fd inside it to see one come round); an event whose generation
 * no longer matches the table is stale and is skipped, at the cost of one
 * compare.
 *
 * Elsewhere the file compiles to nothing, and src/backend.c supplies a
 * wsio_backend_epoll() that returns NULL.
 */
#include "internal.h"
#include "wsio/backend.h"

#ifdef __linux__

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Events fetched per epoll_wait. More ready fds are not lost: epoll is
 * level-triggered and moves the fds it reports to the back of its ready
 * list, so the rest come first in the next wait. */
#define BATCH 256
#define MIN_ENTRIES 64

/* What one watched fd is registered with: a generation (0: not watched)
 * over the events asked for (WSIO_IO_READ | WSIO_IO_WRITE). */
#define EVENT_BITS 2u
#define GEN_LIMIT (UINT32_MAX >> EVENT_BITS) /* generations 1..GEN_LIMIT */
#define GEN_OF(w) ((w) >> EVENT_BITS)
#define EVENTS_OF(w) ((w) & ((1u << EVENT_BITS) - 1))
_Static_assert((WSIO_IO_READ | WSIO_IO_WRITE) < 1u << EVENT_BITS,
               "the events asked for fit in EVENT_BITS");

/*
 * Invariant: GEN_OF(reg[fd]) != 0 exactly for the fds registered with epfd
 * by this state (every fd < table_len has an entry in tags and reg; larger
 * fds have none), and it equals the generation in that registration's
 * epoll_data; tags[fd] is the tag it was registered with.
 */
typedef struct epoll_state {
    const wsio_mem *mem;
    int epfd;
    uint32_t next_gen; /* generation of the next registration; never 0 */
    void **tags;       /* indexed by fd */
    uint32_t *reg;     /* indexed by fd: gen << EVENT_BITS | events */
    size_t table_len;
    struct epoll_event batch[BATCH];
} epoll_state;

static uint32_t interest_to_epoll(unsigned events)
{
    uint32_t ev = 0;
    if (events & WSIO_IO_READ)
        ev |= EPOLLIN;
    if (events & WSIO_IO_WRITE)
        ev |= EPOLLOUT;
    return ev;
}

/* What to report: only what is still asked for, plus HUP. */
static unsigned epoll_to_events(uint32_t got, unsigned asked)
{
    unsigned events = 0;
    if ((got & EPOLLIN) && (asked & WSIO_IO_READ))
        events |= WSIO_IO_READ;
    if ((got & EPOLLOUT) && (asked & WSIO_IO_WRITE))
        events |= WSIO_IO_WRITE;
    if (got & (EPOLLERR | EPOLLHUP))
        events |= WSIO_IO_HUP;
    return events;
}

static void *epoll_create_state(const wsio_mem *mem, int *err)
{
    mem = wsio__mem_or_default(mem);
    epoll_state *st = wsio__malloc(mem, sizeof *st);
    if (!st) {
        *err = WSIO_ENOMEM;
        return NULL;
    }
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
        *err = -errno;
        wsio__free(mem, st);
        return NULL;
    }
    st->mem = mem;
    st->next_gen = 1;
    st->tags = NULL;
    st->reg = NULL;
    st->table_len = 0;
    *err = 0;
    return st;
}

static void epoll_destroy(void *state)
{
    epoll_state *st = state;
    if (!st)
        return;
    close(st->epfd);
    wsio__free(st->mem, st->tags);
    wsio__free(st->mem, st->reg);
    wsio__free(st->mem, st);
}

/* Make the tables cover fd. On failure table_len does not change (tags
 * may have grown already, which only leaves room for the next time). */
static int grow_table(epoll_state *st, int fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= st->table_len)
        return 0;
    size_t len = st->table_len ? st->table_len : MIN_ENTRIES;
    while (len < need)
        len *= 2;
    if (len > SIZE_MAX / sizeof *st->tags)
        return WSIO_ENOMEM;
    void **tags = wsio__realloc(st->mem, st->tags, len * sizeof *tags);
    if (!tags)
        return WSIO_ENOMEM;
    st->tags = tags;
    uint32_t *reg = wsio__realloc(st->mem, st->reg, len * sizeof *reg);
    if (!reg)
        return WSIO_ENOMEM;
    st->reg = reg;
    memset(reg + st->table_len, 0, (len - st->table_len) * sizeof *reg);
    st->table_len = len;
    return 0;
}

static int ctl(epoll_state *st, int op, int fd, uint32_t gen, unsigned events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = interest_to_epoll(events);
    ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
    return epoll_ctl(st->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static uint32_t take_gen(epoll_state *st)
{
    uint32_t gen = st->next_gen++;
    if (st->next_gen > GEN_LIMIT)
        st->next_gen = 1;
    return gen;
}

static int epoll_watch(void *state, int fd, unsigned events, void *tag)
{
    epoll_state *st = state;
    if (fd < 0)
        return -EBADF;
    if (events & ~(unsigned)(WSIO_IO_READ | WSIO_IO_WRITE))
        return -EINVAL;
    int rc = grow_table(st, fd);
    if (rc != 0)
        return rc;
    uint32_t gen = GEN_OF(st->reg[fd]);
    if (gen) {
        if (EVENTS_OF(st->reg[fd]) != events) {
            rc = ctl(st, EPOLL_CTL_MOD, fd, gen, events);
            /* ENOENT: the host closed the fd without unwatch and the kernel
             * dropped it; register it afresh below. */
            if (rc == -ENOENT)
                gen = st->reg[fd] = 0;
            else if (rc != 0)
                return rc;
        }
    }
    if (!gen) {
        gen = take_gen(st);
        rc = ctl(st, EPOLL_CTL_ADD, fd, gen, events);
        if (rc != 0)
            return rc;
    }
    st->reg[fd] = gen << EVENT_BITS | events;
    st->tags[fd] = tag;
    return 0;
}

static int epoll_unwatch(void *state, int fd)
{
    epoll_state *st = state;
    if (fd < 0 || (size_t)fd >= st->table_len || !st->reg[fd])
        return -ENOENT;
    st->reg[fd] = 0;
    st->tags[fd] = NULL;
    int rc = ctl(st, EPOLL_CTL_DEL, fd, 0, 0);
    /* Closed before unwatch: the kernel has already forgotten it. */
    if (rc == -EBADF || rc == -ENOENT)
        return 0;
    return rc;
}

static int epoll_wait_state(void *state, int timeout_ms,
                            wsio_backend_ready_fn ready, void *arg)
{
    epoll_state *st = state;
    int n = epoll_wait(st->epfd, st->batch, BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int reported = 0;
    for (int i = 0; i < n; i++) {
        uint64_t data = st->batch[i].data.u64;
        size_t fd = (uint32_t)data;
        /* The callback may grow the tables: look them up afresh each time. */
        uint32_t reg = st->reg[fd];
        if (GEN_OF(reg) != (uint32_t)(data >> 32))
            continue; /* unwatched, or re-watched, earlier in this batch */
        unsigned events = epoll_to_events(st->batch[i].events, EVENTS_OF(reg));
        if (!events)
            continue; /* interest dropped earlier in this batch */
        reported++;
        ready(st->tags[fd], (int)fd, events, arg);
    }
    return reported;
}

static uint64_t epoll_now_ms(void *state)
{
    (void)state;
    return wsio_clock_ms();
}

static int epoll_backend_fd(void *state)
{
    return ((epoll_state *)state)->epfd;
}

static const wsio_backend_ops epoll_ops = {
    .abi_version = WSIO_BACKEND_ABI_VERSION,
    .name = "epoll",
    .create = epoll_create_state,
    .destroy = epoll_destroy,
    .watch = epoll_watch,
    .unwatch = epoll_unwatch,
    .wait = epoll_wait_state,
    .now_ms = epoll_now_ms,
    .backend_fd = epoll_backend_fd,
};

const wsio_backend_ops *wsio_backend_epoll(void)
{
    return &epoll_ops;
}

#endif /* __linux__ */

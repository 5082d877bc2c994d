/*
 * src/loop_posts.c - posts and the wake fd (loop.c): the FIFO other
 * threads post to, the loop's own internal posts, and the eventfd (Linux)
 * or pipe that wakes the wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include "loop_shared.h"

/* ---- posts and the wake fd ------------------------------------------------
 */

/* Also called from signal handlers (wsio_loop_stop): errno is kept, so the
 * interrupted code never sees it change. */
void wsio__loop_wake(wsio_loop *loop)
{
    int saved = errno;
    uint64_t one = 1;
    /* A full pipe or counter already means "wake up": ignore EAGAIN. */
    ssize_t n = write(loop->wake_wr, &one, sizeof one);
    (void)n;
    errno = saved;
}

static void drain_wake(wsio_loop *loop)
{
    uint64_t buf[16];
    while (read(loop->wake_rd, buf, sizeof buf) > 0 &&
           loop->wake_rd != loop->wake_wr)
        ;
}

static void run_posts(wsio_loop *loop)
{
    pthread_mutex_lock(&loop->post_mu);
    post_item *it = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    pthread_mutex_unlock(&loop->post_mu);
    while (it) {
        post_item *next = it->next;
        void (*fn)(void *) = it->fn;
        void *user = it->user;
        wsio__free(loop->mem, it);
        fn(user);
        it = next;
    }
}

void wsio__loop_post_item(wsio_loop *loop, wsio__post *p)
{
    pthread_mutex_lock(&loop->post_mu);
    p->next = NULL;
    p->queued = 1;
    if (loop->ipost_tail)
        loop->ipost_tail->next = p;
    else
        loop->ipost_head = p;
    loop->ipost_tail = p;
    pthread_mutex_unlock(&loop->post_mu);
    wsio__loop_wake(loop);
}

void wsio__loop_unpost(wsio_loop *loop, wsio__post *p)
{
    pthread_mutex_lock(&loop->post_mu);
    if (p->queued) {
        wsio__post **pp = &loop->ipost_head, *prev = NULL;
        while (*pp != p) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = p->next;
        if (loop->ipost_tail == p)
            loop->ipost_tail = prev;
        p->queued = 0;
    }
    pthread_mutex_unlock(&loop->post_mu);
}

/* One at a time: a run may take back any item still queued. */
static void run_internal_posts(wsio_loop *loop)
{
    for (;;) {
        pthread_mutex_lock(&loop->post_mu);
        wsio__post *p = loop->ipost_head;
        if (p) {
            loop->ipost_head = p->next;
            if (!p->next)
                loop->ipost_tail = NULL;
            p->queued = 0;
        }
        pthread_mutex_unlock(&loop->post_mu);
        if (!p)
            return;
        p->run(p);
    }
}

void wsio__loop_on_wake(wsio__io_cb *io, unsigned events)
{
    (void)events;
    wsio_loop *loop = WSIO__CONTAINER_OF(io, wsio_loop, wake_io);
    drain_wake(loop);
    run_internal_posts(loop);
    run_posts(loop);
}

#ifndef __linux__
static int set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

#endif

int wsio__loop_open_wake(wsio_loop *loop)
{
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    loop->wake_rd = loop->wake_wr = fd;
    return 0;
#else
    int p[2];
    if (pipe(p) < 0)
        return -errno;
    int rc = set_nonblock_cloexec(p[0]);
    if (rc == 0)
        rc = set_nonblock_cloexec(p[1]);
    if (rc) {
        close(p[0]);
        close(p[1]);
        return rc;
    }
    loop->wake_rd = p[0];
    loop->wake_wr = p[1];
    return 0;
#endif
}

void wsio__loop_close_wake(wsio_loop *loop)
{
    if (loop->wake_rd >= 0)
        close(loop->wake_rd);
    if (loop->wake_wr >= 0 && loop->wake_wr != loop->wake_rd)
        close(loop->wake_wr);
}

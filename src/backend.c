/*
 * src/backend.c - picking a built-in backend, and the monotonic clock
 * (wsio/backend.h). The backends themselves are in backend_poll.c and
 * backend_epoll.c.
 */
#include <string.h>
#include <time.h>

#include "internal.h"
#include "wsio/backend.h"

#ifndef __linux__
const wsio_backend_ops *wsio_backend_epoll(void)
{
    return NULL; /* epoll is Linux only */
}
#endif

const wsio_backend_ops *wsio_backend_default(void)
{
    const wsio_backend_ops *ops = wsio_backend_epoll();
    return ops ? ops : wsio_backend_poll();
}

const wsio_backend_ops *wsio_backend_by_name(const char *name)
{
    if (!name)
        return NULL;
    const wsio_backend_ops *const built[] = {wsio_backend_poll(),
                                             wsio_backend_epoll()};
    for (size_t i = 0; i < sizeof built / sizeof built[0]; i++)
        if (built[i] && strcmp(built[i]->name, name) == 0)
            return built[i];
    return NULL;
}

uint64_t wsio_clock_ms(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail with a valid clock id and pointer. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

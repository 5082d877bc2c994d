/*
 * src/common_random.c - random bytes from the operating system, for client keys
 * (RFC 6455 section 4.1: "randomly selected") and masking keys (section 5.3:
 * "derived from a strong source of entropy").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/random.h>
#endif

#include "internal.h"

static int read_urandom(unsigned char *p, size_t len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return WSIO_EINTERNAL;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return WSIO_EINTERNAL;
        }
        p += n;
        len -= (size_t)n;
    }
    close(fd);
    return 0;
}

int wsio__random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
#if defined(__linux__)
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return read_urandom(p, len); /* ENOSYS on old kernels */
        p += n;
        len -= (size_t)n;
    }
    return 0;
#else
    return read_urandom(p, len);
#endif
}

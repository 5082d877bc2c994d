/*
 * tests/unit/testutil.c - see testutil.h.
 */
#include <string.h>

#include "testutil.h"

static int take_slot(test_mem *tm)
{
    long i = tm->count++;
    return !(tm->fail_at >= 0 && i == tm->fail_at);
}

static void *tm_malloc(size_t size, void *user)
{
    test_mem *tm = user;
    if (!take_slot(tm))
        return NULL;
    void *p = test_malloc(size ? size : 1);
    if (p)
        tm->live_blocks++;
    return p;
}

static void *tm_realloc(void *ptr, size_t size, void *user)
{
    test_mem *tm = user;
    if (!take_slot(tm))
        return NULL;
    void *p = test_realloc(ptr, size ? size : 1);
    if (p && !ptr)
        tm->live_blocks++;
    return p;
}

static void tm_free(void *ptr, void *user)
{
    test_mem *tm = user;
    if (!ptr)
        return;
    tm->live_blocks--;
    test_free(ptr);
}

void test_mem_init(test_mem *tm)
{
    memset(tm, 0, sizeof *tm);
    tm->mem.malloc = tm_malloc;
    tm->mem.realloc = tm_realloc;
    tm->mem.free = tm_free;
    tm->mem.user = tm;
    tm->fail_at = -1;
}

void test_mem_fail_at(test_mem *tm, long n)
{
    tm->fail_at = tm->count + n;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t test_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*hex) {
        if (*hex == ' ' || *hex == '\n') {
            hex++;
            continue;
        }
        int hi = hex_value(hex[0]);
        int lo = hex[1] ? hex_value(hex[1]) : -1;
        assert_true(hi >= 0 && lo >= 0);
        assert_true(n < cap);
        out[n++] = (uint8_t)(hi << 4 | lo);
        hex += 2;
    }
    return n;
}

int test_host_watch(struct pollfd *fds, int *n, int cap, int fd,
                    unsigned events)
{
    int i = 0;
    while (i < *n && fds[i].fd != fd)
        i++;
    if (events == 0) {
        if (i < *n)
            fds[i] = fds[--*n];
        return 0;
    }
    if (i == *n) {
        if (*n == cap)
            return WSIO_ENOMEM;
        fds[(*n)++].fd = fd;
    }
    fds[i].events = (short)((events & WSIO_IO_READ ? POLLIN : 0) |
                            (events & WSIO_IO_WRITE ? POLLOUT : 0));
    return 0;
}

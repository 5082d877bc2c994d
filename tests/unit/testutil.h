/*
 * tests/unit/testutil.h - helpers every cmocka suite shares.
 *
 * Include after <cmocka.h>'s prerequisites (stdarg.h, stddef.h, stdint.h,
 * setjmp.h); this header includes them itself, then cmocka.h.
 */
#ifndef WSIO_TESTUTIL_H
#define WSIO_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>

#include "wsio.h"

/*
 * An allocator that goes through cmocka's test_malloc/test_free, so every
 * block a test leaves allocated fails that test, and that can be told to
 * fail the Nth allocation from now (for out-of-memory paths).
 */
typedef struct test_mem {
    wsio_mem mem; /* pass &tm.mem to wsio */
    long fail_at; /* fail the allocation with this index (0-based); -1 never */
    long count;   /* allocations (malloc and growing realloc) so far */
    size_t live_blocks; /* blocks currently allocated */
} test_mem;

/* test_mem_init - an allocator that never fails. */
void test_mem_init(test_mem *tm);

/* test_mem_fail_at - make allocation number n (0-based, counted from now)
 * and only that one return NULL. */
void test_mem_fail_at(test_mem *tm, long n);

/* A host loop's watch (wsio_host_loop.watch) for a test that polls: keep
 * fds[0, *n), at most cap, as the fds wsio asked to watch, with their poll
 * events (events 0 removes fd). Returns 0, or WSIO_ENOMEM when full. */
int test_host_watch(struct pollfd *fds, int *n, int cap, int fd,
                    unsigned events);

/* Hex helper: decode "81 05 48 65" (spaces optional) into out; returns the
 * byte count. Fails the test on bad input or overflow. */
size_t test_hex(const char *hex, uint8_t *out, size_t cap);

#endif /* WSIO_TESTUTIL_H */

/*
 * tests/unit/test_transport.c - the plain-socket transport over
 * non-blocking socketpairs and a loopback TCP pair. Every blocking step is
 * a poll() bounded by WAIT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#define WAIT_MS 2000

static void set_nonblocking(int fd)
{
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
}

/* A plain transport on one end of a fresh socketpair; *peer gets the other. */
static void open_pair(wsio_transport *t, int *peer)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    set_nonblocking(sv[0]);
    set_nonblocking(sv[1]);
    t->ops = wsio_transport_plain();
    t->fd = sv[0];
    t->impl = NULL;
    assert_int_equal(t->ops->open(t, NULL, WSIO_ROLE_SERVER, NULL), 0);
    *peer = sv[1];
}

static void wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    assert_int_equal(poll(&p, 1, WAIT_MS), 1);
}

/* Read from a non-blocking fd until it has nothing now; returns the count. */
static size_t drain(int fd, uint8_t *out, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, out + got, cap - got);
        if (n < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            return got;
        }
        assert_true(n > 0);
        got += (size_t)n;
        assert_true(got < cap);
    }
}

static void test_transport_plain_table_has_no_handshake(void **state)
{
    (void)state;
    const wsio_transport_ops *ops = wsio_transport_plain();
    assert_non_null(ops);
    assert_int_equal(ops->abi_version, WSIO_TRANSPORT_ABI_VERSION);
    assert_string_equal(ops->name, "plain");
    assert_null(ops->handshake);
    assert_null(ops->wants);
    wsio_transport t;
    int peer;
    open_pair(&t, &peer);
    assert_null(t.impl);
    t.ops->close(&t);
    close(peer);
}

static void test_transport_read_returns_data_eagain_and_eof(void **state)
{
    (void)state;
    wsio_transport t;
    int peer;
    open_pair(&t, &peer);
    char buf[16];
    assert_int_equal(t.ops->read(&t, buf, sizeof buf), WSIO_EAGAIN);
    assert_int_equal(write(peer, "hello", 5), 5);
    assert_int_equal(t.ops->read(&t, buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(t.ops->read(&t, buf, sizeof buf), WSIO_EAGAIN);
    assert_int_equal(t.ops->read(&t, buf, 0), -EINVAL);
    close(peer);
    assert_int_equal(t.ops->read(&t, buf, sizeof buf), 0);
    t.ops->close(&t);
}

static void test_transport_close_closes_fd(void **state)
{
    (void)state;
    wsio_transport t;
    int peer;
    open_pair(&t, &peer);
    int fd = t.fd;
    t.ops->close(&t);
    assert_int_equal(t.fd, -1);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    /* The peer sees the end of the stream. */
    char c;
    wait_fd(peer, POLLIN);
    assert_int_equal(read(peer, &c, 1), 0);
    close(peer);
}

/* Byte i of the test stream. */
static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + i / 251);
}

/*
 * With tiny socket buffers, writev takes part of the data and then says
 * WSIO_EAGAIN; once the peer drains, writing continues where it stopped
 * and the peer receives every byte in order.
 */
static void test_transport_writev_partial_then_continues(void **state)
{
    (void)state;
    wsio_transport t;
    int peer;
    open_pair(&t, &peer);
    int small = 4096;
    assert_int_equal(
        setsockopt(t.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    assert_int_equal(
        setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);

    enum { TOTAL = 256 * 1024 };
    static uint8_t out[TOTAL], in[TOTAL + 1];
    for (size_t i = 0; i < TOTAL; i++)
        out[i] = pattern(i);

    size_t sent = 0, received = 0;
    int saw_partial = 0, saw_again = 0;
    while (sent < TOTAL) {
        /* Two iovs, split unevenly, so a partial write can end in either. */
        size_t left = TOTAL - sent, half = left / 3;
        wsio_iov iov[2] = {{out + sent, half},
                           {out + sent + half, left - half}};
        ssize_t n = t.ops->writev(&t, iov, 2);
        if (n == WSIO_EAGAIN) {
            saw_again = 1;
            wait_fd(peer, POLLIN);
            received += drain(peer, in + received, sizeof in - received);
            continue;
        }
        assert_true(n > 0 && (size_t)n <= left);
        if ((size_t)n < left)
            saw_partial = 1;
        sent += (size_t)n;
    }
    while (received < TOTAL) {
        wait_fd(peer, POLLIN);
        received += drain(peer, in + received, sizeof in - received);
    }
    assert_true(saw_partial);
    assert_true(saw_again);
    assert_int_equal(received, TOTAL);
    assert_memory_equal(in, out, TOTAL);
    t.ops->close(&t);
    close(peer);
}

/*
 * Many small pieces per call (as a turn's broadcast frames are) arrive in
 * order, through full buffers: each call reports how much it took and the
 * next starts right after it, even inside a piece. Calls of 2 to 6 pieces,
 * an empty one among them, total under and over the 2 KiB that the plain
 * transport copies into one buffer.
 */
static void test_transport_writev_small_pieces_arrive_in_order(void **state)
{
    (void)state;
    wsio_transport t;
    int peer;
    open_pair(&t, &peer);
    int small = 4096;
    assert_int_equal(
        setsockopt(t.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    assert_int_equal(
        setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);

    enum { TOTAL = 64 * 1024, PIECES = 6 };
    static uint8_t out[TOTAL], in[TOTAL + 1];
    for (size_t i = 0; i < TOTAL; i++)
        out[i] = pattern(i);
    static const size_t piece_len[PIECES] = {66, 1, 300, 0, 1700, 129};

    size_t sent = 0, received = 0;
    int saw_again = 0, calls = 0;
    while (sent < TOTAL) {
        wsio_iov iov[PIECES];
        size_t n = 0, at = sent;
        size_t pieces = 2 + (size_t)calls % 5;
        for (; n < pieces && at < TOTAL; n++) {
            size_t len = piece_len[(sent + n) % PIECES];
            if (len > TOTAL - at)
                len = TOTAL - at;
            iov[n].base = out + at;
            iov[n].len = len;
            at += len;
        }
        ssize_t got = t.ops->writev(&t, iov, n);
        assert_true(++calls < 1000000); /* hang guard */
        if (got == WSIO_EAGAIN) {
            saw_again = 1;
            wait_fd(peer, POLLIN);
            received += drain(peer, in + received, sizeof in - received);
            continue;
        }
        assert_true(got > 0 && (size_t)got <= at - sent);
        sent += (size_t)got;
    }
    while (received < TOTAL) {
        wait_fd(peer, POLLIN);
        received += drain(peer, in + received, sizeof in - received);
    }
    assert_true(saw_again);
    assert_int_equal(received, TOTAL);
    assert_memory_equal(in, out, TOTAL);
    t.ops->close(&t);
    close(peer);
}

/* More iovs than any IOV_MAX: each call takes what it can, none fails. */
static void test_transport_writev_many_iovs_all_arrive(void **state)
{
    (void)state;
    wsio_transport t;
    int peer;
    open_pair(&t, &peer);
    enum { NIOV = 3000 };
    static uint8_t bytes[NIOV], in[NIOV + 1];
    static wsio_iov iov[NIOV];
    for (size_t i = 0; i < NIOV; i++) {
        bytes[i] = pattern(i);
        iov[i].base = &bytes[i];
        iov[i].len = 1;
    }
    size_t first = 0, received = 0;
    int calls = 0;
    while (first < NIOV) {
        ssize_t n = t.ops->writev(&t, iov + first, NIOV - first);
        assert_true(n > 0); /* 3000 bytes fit the default buffers */
        first += (size_t)n;
        calls++;
        received += drain(peer, in + received, sizeof in - received);
    }
    received += drain(peer, in + received, sizeof in - received);
    assert_true(calls > 1);
    assert_int_equal(received, NIOV);
    assert_memory_equal(in, bytes, NIOV);
    t.ops->close(&t);
    close(peer);
}

static void test_transport_writev_to_closed_peer_returns_epipe(void **state)
{
    (void)state;
    /* Default action: a SIGPIPE would kill this test. */
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    wsio_transport t;
    int peer;
    open_pair(&t, &peer);
    close(peer);
    wsio_iov iov = {"abc", 3};
    assert_int_equal(t.ops->writev(&t, &iov, 1), -EPIPE);
    signal(SIGPIPE, old);
    t.ops->close(&t);
}

/* A connected loopback TCP pair: *a and *b, both non-blocking. */
static void tcp_pair(int *a, int *b)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(lfd, 1), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
    *a = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*a >= 0);
    assert_int_equal(connect(*a, (struct sockaddr *)&addr, sizeof addr), 0);
    *b = accept(lfd, NULL, NULL);
    assert_true(*b >= 0);
    close(lfd);
    set_nonblocking(*a);
    set_nonblocking(*b);
}

static void
test_transport_read_after_peer_reset_returns_econnreset(void **state)
{
    (void)state;
    wsio_transport t;
    int peer;
    tcp_pair(&t.fd, &peer);
    t.ops = wsio_transport_plain();
    t.impl = NULL;
    assert_int_equal(t.ops->open(&t, NULL, WSIO_ROLE_CLIENT, "localhost"), 0);
    /* Linger 0: close sends RST instead of FIN. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg),
                     0);
    close(peer);
    wait_fd(t.fd, POLLIN);
    char buf[8];
    assert_int_equal(t.ops->read(&t, buf, sizeof buf), -ECONNRESET);
    t.ops->close(&t);
}

static void test_transport_shutdown_peer_reads_eof(void **state)
{
    (void)state;
    wsio_transport t;
    int peer;
    open_pair(&t, &peer);
    wsio_iov iov = {"bye", 3};
    assert_int_equal(t.ops->writev(&t, &iov, 1), 3);
    assert_int_equal(t.ops->shutdown(&t), 0);
    char buf[8];
    wait_fd(peer, POLLIN);
    assert_int_equal(read(peer, buf, sizeof buf), 3);
    assert_int_equal(read(peer, buf, sizeof buf), 0);
    /* Only our sending side ended: the peer can still talk to us. */
    assert_int_equal(write(peer, "ok", 2), 2);
    assert_int_equal(t.ops->read(&t, buf, sizeof buf), 2);
    assert_memory_equal(buf, "ok", 2);
    t.ops->close(&t);
    close(peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport_plain_table_has_no_handshake),
        cmocka_unit_test(test_transport_read_returns_data_eagain_and_eof),
        cmocka_unit_test(test_transport_close_closes_fd),
        cmocka_unit_test(test_transport_writev_partial_then_continues),
        cmocka_unit_test(test_transport_writev_small_pieces_arrive_in_order),
        cmocka_unit_test(test_transport_writev_many_iovs_all_arrive),
        cmocka_unit_test(test_transport_writev_to_closed_peer_returns_epipe),
        cmocka_unit_test(
            test_transport_read_after_peer_reset_returns_econnreset),
        cmocka_unit_test(test_transport_shutdown_peer_reads_eof),
    };
    return cmocka_run_group_tests_name("transport", tests, NULL, NULL);
}

/*
 * src/tls/transport_tls.c - libwsio-tls: the TLS transport on OpenSSL
 * (wsio/tls.h), built only when OpenSSL is there (make tls).
 *
 * Each connection is one SSL object on the connection's non-blocking fd.
 * OpenSSL reads and writes the socket itself; every call maps its outcome
 * onto the transport contract: WANT_READ / WANT_WRITE become WSIO_EAGAIN
 * and are remembered for wants(), since a read may need the socket
 * writable (and a write readable). Socket shutdown and close are the plain
 * transport's, called after OpenSSL's part, so nothing is written twice.
 *
 * Writes: OpenSSL has no writev. Small pieces of the caller's iov are
 * gathered on the stack into one record's worth (16 KiB), large ones go as
 * they are. After WSIO_EAGAIN the caller offers the same bytes again, maybe
 * more of them and from another address: OpenSSL accepts exactly that with
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER and partial writes.
 *
 * Reads: SSL_read returns at most one record. Reading on while at least a
 * whole record still fits means no decrypted byte is ever left inside
 * OpenSSL with the socket quiet (nothing would wake the loop for it).
 *
 * Sockets: OpenSSL's socket BIO writes with write(), which raises SIGPIPE
 * when the peer is gone; wsio never does. Each context therefore carries
 * its own small BIO method over send(MSG_NOSIGNAL) and recv() (a method
 * per context, not a global one: libwsio-tls keeps no state of its own).
 *
 * OpenSSL's own error queue is per thread; each call clears it first, so
 * what SSL_get_error sees is this call's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "../common_abi.h"
#include "../internal.h"
#include "wsio/tls.h"

/* The largest plaintext of one TLS record (RFC 8446 section 5.1). */
#define RECORD_MAX 16384

/* Where MSG_NOSIGNAL is missing, the plain transport's SO_NOSIGPIPE
 * (set in its open, which tls_open does not call) is not there either;
 * such systems are not supported by this file yet. */
#ifndef MSG_NOSIGNAL
#error "libwsio-tls needs MSG_NOSIGNAL"
#endif

struct wsio_tls {
    SSL_CTX *ctx;
    BIO_METHOD *bio; /* the socket BIO of its connections */
    const wsio_mem *mem;
    enum wsio_role role;
};

/* One connection's TLS state (transport impl). */
typedef struct tls_conn {
    SSL *ssl;
    const wsio_mem *mem;
    unsigned want; /* WSIO_IO_* the last WSIO_EAGAIN waits for */
} tls_conn;

/* ---- the socket BIO --------------------------------------------------------
 */

static int bio_fd(BIO *b)
{
    return (int)(intptr_t)BIO_get_data(b);
}

static int bio_write(BIO *b, const char *buf, int len)
{
    ssize_t n;
    BIO_clear_retry_flags(b);
    do
        n = send(bio_fd(b), buf, (size_t)len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
    ssize_t n;
    BIO_clear_retry_flags(b);
    do
        n = recv(bio_fd(b), buf, (size_t)len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH; /* writes are never buffered here */
}

static BIO_METHOD *bio_method_new(void)
{
    BIO_METHOD *m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsio socket");
    if (m && (BIO_meth_set_write(m, bio_write) != 1 ||
              BIO_meth_set_read(m, bio_read) != 1 ||
              BIO_meth_set_ctrl(m, bio_ctrl) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    return m;
}

/* ---- contexts ------------------------------------------------------------ */

/* The smallest struct_size wsio_tls_new takes: the first sized release's
 * config ended with mem. */
#define TLS_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_tls_config, mem)

void wsio_tls_config_init(wsio_tls_config *cfg, size_t size,
                          enum wsio_role role)
{
    wsio_tls_config def = {.struct_size = sizeof def, .role = role};
    wsio__config_fill(cfg, size, &def, sizeof def);
}

static wsio_tls *wrap(SSL_CTX *ctx, enum wsio_role role, const wsio_mem *mem,
                      int *err)
{
    mem = wsio__mem_or_default(mem);
    wsio_tls *tls = wsio__malloc(mem, sizeof *tls);
    BIO_METHOD *bio = tls ? bio_method_new() : NULL;
    if (!bio) {
        wsio__free(mem, tls);
        SSL_CTX_free(ctx);
        if (err)
            *err = WSIO_ENOMEM;
        return NULL;
    }
    /* RFC 8996 deprecates TLS 1.0 and 1.1. */
    if (SSL_CTX_get_min_proto_version(ctx) < TLS1_2_VERSION)
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    tls->ctx = ctx;
    tls->bio = bio;
    tls->mem = mem;
    tls->role = role;
    return tls;
}

static int load_server(SSL_CTX *ctx, const wsio_tls_config *cfg)
{
    return cfg->cert_file && cfg->key_file &&
           SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) == 1 &&
           SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) ==
               1 &&
           SSL_CTX_check_private_key(ctx) == 1;
}

static int load_client(SSL_CTX *ctx, const wsio_tls_config *cfg)
{
    if (cfg->insecure_no_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return 1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return cfg->ca_file
               ? SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) == 1
               : SSL_CTX_set_default_verify_paths(ctx) == 1;
}

wsio_tls *wsio_tls_new(const wsio_tls_config *cfg, int *err)
{
    wsio_tls_config def;
    wsio_tls_config_default(&def, WSIO_ROLE_SERVER);
    if (!cfg || wsio__config_copy(&def, sizeof def, cfg, TLS_CONFIG_MIN)) {
        if (err)
            *err = WSIO_EINVAL;
        return NULL;
    }
    cfg = &def;
    int server = cfg->role == WSIO_ROLE_SERVER;
    ERR_clear_error();
    SSL_CTX *ctx =
        SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        if (err)
            *err = WSIO_ENOMEM;
        return NULL;
    }
    if (!(server ? load_server(ctx, cfg) : load_client(ctx, cfg))) {
        SSL_CTX_free(ctx);
        if (err)
            *err = WSIO_EINVAL;
        return NULL;
    }
    return wrap(ctx, cfg->role, cfg->mem, err);
}

wsio_tls *wsio_tls_new_from_ctx(SSL_CTX *ctx, enum wsio_role role,
                                const wsio_mem *mem, int *err)
{
    if (!ctx) {
        if (err)
            *err = WSIO_EINVAL;
        return NULL;
    }
    SSL_CTX_up_ref(ctx);
    return wrap(ctx, role, mem, err);
}

void wsio_tls_free(wsio_tls *tls)
{
    if (!tls)
        return;
    SSL_CTX_free(tls->ctx);
    BIO_meth_free(tls->bio);
    wsio__free(tls->mem, tls);
}

SSL_CTX *wsio_tls_ssl_ctx(wsio_tls *tls)
{
    return tls->ctx;
}

void wsio_tls_use_in_server(wsio_tls *tls, wsio_server_config *cfg)
{
    cfg->transport = wsio_transport_tls();
    cfg->transport_ctx = tls;
}

void wsio_tls_use_in_client(wsio_tls *tls, wsio_client_config *cfg)
{
    cfg->transport = wsio_transport_tls();
    cfg->transport_ctx = tls;
}

size_t wsio_tls_error_text(char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, cap);
    return strlen(buf);
}

/* ---- per connection
 * ---------------------------------------------------------- */

static tls_conn *conn_of(wsio_transport *t)
{
    return t->impl;
}

/* Check the certificate against the URL's host: an IP literal against the
 * certificate's IP addresses, a name against its DNS names (RFC 6125), and
 * send the name as SNI (RFC 6066 section 3 allows no IP there). */
static int set_peer_name(SSL *ssl, const char *name, int verify)
{
    uint8_t bin[16];
    int ip = inet_pton(AF_INET, name, bin) == 1 ||
             inet_pton(AF_INET6, name, bin) == 1;
    if (!ip && SSL_set_tlsext_host_name(ssl, name) != 1)
        return 0;
    if (!verify)
        return 1;
    if (ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, name) == 1;
}

static int tls_open(wsio_transport *t, void *ctx, enum wsio_role role,
                    const char *server_name)
{
    wsio_tls *tls = ctx;
    t->impl = NULL;
    if (!tls || tls->role != role)
        return WSIO_EINVAL;
    int verify = SSL_CTX_get_verify_mode(tls->ctx) & SSL_VERIFY_PEER;
    /* A client that verifies needs to know which host it wanted. */
    if (role == WSIO_ROLE_CLIENT && verify && !server_name)
        return WSIO_EINVAL;
    tls_conn *c = wsio__malloc(tls->mem, sizeof *c);
    if (!c)
        return WSIO_ENOMEM;
    c->mem = tls->mem;
    c->want = 0;
    ERR_clear_error();
    c->ssl = SSL_new(tls->ctx);
    BIO *bio = c->ssl ? BIO_new(tls->bio) : NULL;
    int rc = WSIO_ENOMEM;
    if (bio) {
        BIO_set_data(bio, (void *)(intptr_t)t->fd);
        BIO_set_init(bio, 1);
        SSL_set_bio(c->ssl, bio, bio); /* the SSL owns it now */
        rc = 0;
        SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        /* A peer that drops TCP without close_notify reads as EOF: the
         * WebSocket close handshake, not TLS, tells a clean end (1006 when
         * it is missing). Renegotiation is a known DoS lever: off. */
        SSL_set_options(c->ssl,
                        SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
        if (role == WSIO_ROLE_SERVER) {
            SSL_set_accept_state(c->ssl);
        } else {
            SSL_set_connect_state(c->ssl);
            if (server_name && !set_peer_name(c->ssl, server_name, verify))
                rc = WSIO_EINVAL;
        }
    }
    if (rc) {
        SSL_free(c->ssl);
        wsio__free(tls->mem, c);
        return rc;
    }
    t->impl = c;
    return 0;
}

/* The outcome of an SSL call that returned r <= 0, as a transport result. */
static int outcome(tls_conn *c, int r)
{
    int e = SSL_get_error(c->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->want = WSIO_IO_READ;
        return WSIO_EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->want = WSIO_IO_WRITE;
        return WSIO_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->want = WSIO_IO_READ;
            return WSIO_EAGAIN;
        }
        return errno ? -errno : WSIO_ETLS;
    default:
        return WSIO_ETLS;
    }
}

static int tls_handshake(wsio_transport *t)
{
    tls_conn *c = conn_of(t);
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1)
        return 0;
    int rc = outcome(c, r);
    if (rc == WSIO_EAGAIN)
        return rc;
    /* Why a client gave up on the server's certificate. */
    long v = SSL_get_verify_result(c->ssl);
    if (v == X509_V_ERR_HOSTNAME_MISMATCH ||
        v == X509_V_ERR_IP_ADDRESS_MISMATCH)
        return WSIO_ETLS_HOST;
    if (v != X509_V_OK)
        return WSIO_ETLS_CERT;
    return rc == 0 ? WSIO_ETLS : rc; /* EOF mid-handshake is a failure */
}

static ssize_t tls_read(wsio_transport *t, void *buf, size_t len)
{
    tls_conn *c = conn_of(t);
    size_t got = 0;
    if (len == 0)
        return -EINVAL;
    do {
        size_t room = len - got;
        ERR_clear_error();
        errno = 0;
        int r = SSL_read(c->ssl, (char *)buf + got,
                         room > INT_MAX ? INT_MAX : (int)room);
        if (r <= 0) {
            int rc = outcome(c, r);
            /* Bytes first; an error or EOF comes back at the next call. */
            return got ? (ssize_t)got : rc;
        }
        got += (size_t)r;
    } while (len - got >= RECORD_MAX);
    return (ssize_t)got;
}

/* One SSL_write of the bytes starting at iov[i] + off: gathered when the
 * piece is small, else the piece itself. Returns SSL_write's result. */
static int write_some(tls_conn *c, const wsio_iov *iov, size_t n, size_t i,
                      size_t off)
{
    uint8_t gather[RECORD_MAX];
    const uint8_t *p = (const uint8_t *)iov[i].base + off;
    size_t len = iov[i].len - off;
    if (len < sizeof gather) {
        size_t k = 0;
        for (; i < n && k < sizeof gather; i++, off = 0) {
            size_t take = iov[i].len - off;
            if (take > sizeof gather - k)
                take = sizeof gather - k;
            memcpy(gather + k, (const uint8_t *)iov[i].base + off, take);
            k += take;
        }
        p = gather;
        len = k;
    }
    ERR_clear_error();
    errno = 0;
    return SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
}

static ssize_t tls_writev(wsio_transport *t, const wsio_iov *iov, size_t n)
{
    tls_conn *c = conn_of(t);
    size_t done = 0, i = 0, off = 0;
    while (i < n) {
        if (iov[i].len == off) {
            i++;
            off = 0;
            continue;
        }
        int r = write_some(c, iov, n, i, off);
        if (r <= 0) {
            int rc = outcome(c, r);
            if (done)
                return (ssize_t)done;
            return rc == 0 ? -EPIPE : rc;
        }
        /* Advance past the r bytes written. */
        size_t w = (size_t)r;
        done += w;
        while (w) {
            size_t k = iov[i].len - off < w ? iov[i].len - off : w;
            off += k;
            w -= k;
            if (off == iov[i].len) {
                i++;
                off = 0;
            }
        }
    }
    return (ssize_t)done;
}

static unsigned tls_wants(wsio_transport *t)
{
    tls_conn *c = conn_of(t);
    return c ? c->want : 0u;
}

/* close_notify (RFC 8446 section 6.1), then the socket's own FIN. */
static int tls_shutdown(wsio_transport *t)
{
    tls_conn *c = conn_of(t);
    if (SSL_is_init_finished(c->ssl) &&
        !(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN)) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_shutdown(c->ssl);
        if (r < 0) {
            int rc = outcome(c, r);
            if (rc == WSIO_EAGAIN)
                return rc;
        }
    }
    return wsio_transport_plain()->shutdown(t);
}

static void tls_close(wsio_transport *t)
{
    tls_conn *c = conn_of(t);
    if (c) {
        SSL_free(c->ssl);
        wsio__free(c->mem, c);
    }
    wsio_transport_plain()->close(t);
}

static const wsio_transport_ops tls_ops = {
    .abi_version = WSIO_TRANSPORT_ABI_VERSION,
    .name = "tls",
    .open = tls_open,
    .handshake = tls_handshake,
    .read = tls_read,
    .writev = tls_writev,
    .wants = tls_wants,
    .shutdown = tls_shutdown,
    .close = tls_close,
};

const wsio_transport_ops *wsio_transport_tls(void)
{
    return &tls_ops;
}

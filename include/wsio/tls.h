/*
 * wsio/tls.h - TLS for wsio servers (https:// and wss://) and clients
 * (wss://), on OpenSSL, as a separate library: libwsio-tls (pkg-config
 * wsio-tls). The core library stays libc only; this one plugs a transport
 * (wsio/transport.h) into it.
 *
 *     wsio_tls_config tc;
 *     wsio_tls_config_default(&tc, WSIO_ROLE_SERVER);
 *     tc.cert_file = "cert.pem";
 *     tc.key_file = "key.pem";
 *     wsio_tls *tls = wsio_tls_new(&tc, &err);
 *     wsio_server_config cfg;
 *     wsio_server_config_default(&cfg);
 *     wsio_tls_use_in_server(tls, &cfg);   // then wsio_server_new as usual
 *
 * A wsio_tls wraps one OpenSSL SSL_CTX. It is shared by every connection
 * of the servers or clients it is given to and must outlive them. Servers
 * require TLS 1.2 or later; the handshake runs without blocking inside the
 * loop and counts against the server's handshake_timeout_ms (the client's
 * connect_timeout_ms). Clients verify the server's certificate chain and
 * host name by default.
 *
 * Errors: a failed handshake ends the connection with WSIO_ETLS_CERT (the
 * chain is not trusted, or expired), WSIO_ETLS_HOST (the certificate is not
 * for the URL's host) or WSIO_ETLS (anything else); a client's on_close
 * reports it with code 1015. wsio_tls_error_text gives OpenSSL's reason.
 *
 * Threads: OpenSSL is thread-safe; a wsio_tls may serve loops on several
 * threads at once once made. libwsio-tls keeps no state of its own.
 */
#ifndef WSIO_TLS_H
#define WSIO_TLS_H

#include "wsio/common.h"
#include "wsio/client.h"
#include "wsio/server.h"
#include "wsio/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OpenSSL's SSL_CTX, without including OpenSSL's headers. */
struct ssl_ctx_st;

/* One OpenSSL SSL_CTX and its settings: made by wsio_tls_new, freed by
 * wsio_tls_free after every server and client using it is gone. */
typedef struct wsio_tls wsio_tls;

/* Fill with wsio_tls_config_default() first. */
typedef struct wsio_tls_config {
    size_t struct_size;     /* set by wsio_tls_config_default */
    enum wsio_role role;    /* WSIO_ROLE_SERVER or WSIO_ROLE_CLIENT */
    const char *cert_file;  /* server: PEM certificate chain, leaf first */
    const char *key_file;   /* server: PEM private key (unencrypted) */
    const char *ca_file;    /* client: trust only the CAs in this PEM
                               file; NULL: the system's store */
    int insecure_no_verify; /* client: 1 accepts any certificate for any
                               host. For tests against a self-signed
                               server only; default 0 */
    const wsio_mem *mem;    /* NULL: libc; must outlive the wsio_tls */
} wsio_tls_config;

/*
 * wsio_tls_config_default - zero cfg and set its role: a client verifies
 * against the system CA store; a server still needs cert_file and
 * key_file.
 */
#define wsio_tls_config_default(cfg, role)                                     \
    wsio_tls_config_init((cfg), sizeof *(cfg), (role))

/* wsio_tls_config_init - what wsio_tls_config_default expands to: the same for
 * a struct of size bytes (sizeof *cfg where the program was built), and
 * cfg->struct_size = size; bytes of a newer release are zeroed
 * (docs/DESIGN.md, ABI). */
WSIO_EXTERN void wsio_tls_config_init(wsio_tls_config *cfg, size_t size,
                                      enum wsio_role role);

/*
 * wsio_tls_new - make a TLS context from cfg (read, not kept): a server's
 * certificate and key, or a client's trust store. The files are read now.
 * Returns the context, or NULL with *err (if not NULL) set to WSIO_EINVAL
 * (cfg NULL or its struct_size not set by wsio_tls_config_default, missing
 * or unreadable files, a key that does not match the
 * certificate, a server without cert_file/key_file: see
 * wsio_tls_error_text) or WSIO_ENOMEM. The caller owns the context: free
 * it with wsio_tls_free.
 */
WSIO_EXTERN wsio_tls *wsio_tls_new(const wsio_tls_config *cfg, int *err);

/*
 * wsio_tls_new_from_ctx - use an SSL_CTX the host has set up itself
 * (certificates, ciphers, session cache, a CA store...). wsio takes a
 * reference (SSL_CTX_up_ref) and raises its minimum version to TLS 1.2 if
 * it was lower; everything else is left as the host set it, including
 * verification. A client's host name is checked when the context has
 * SSL_VERIFY_PEER. mem may be NULL (libc). Returns the context, or NULL
 * with *err set to WSIO_EINVAL (ctx NULL) or WSIO_ENOMEM. The caller
 * keeps its own reference to ctx (SSL_CTX_free it when done) and owns the
 * result: free it with wsio_tls_free.
 */
WSIO_EXTERN wsio_tls *wsio_tls_new_from_ctx(struct ssl_ctx_st *ctx,
                                            enum wsio_role role,
                                            const wsio_mem *mem, int *err);

/*
 * wsio_tls_free - drop wsio's reference to the SSL_CTX and free tls.
 * Only after every server and client using it is gone. NULL does nothing.
 */
WSIO_EXTERN void wsio_tls_free(wsio_tls *tls);

/* wsio_tls_ssl_ctx - the SSL_CTX inside tls, for further OpenSSL set-up
 * before the first connection. Valid while tls is. */
WSIO_EXTERN struct ssl_ctx_st *wsio_tls_ssl_ctx(wsio_tls *tls);

/*
 * wsio_transport_tls - the TLS transport table. Its transport_ctx is a
 * wsio_tls of the matching role; a client connection's open also needs
 * a server_name (wsio_client_connect gives the URL's host).
 * Returns a constant table; never NULL.
 */
WSIO_EXTERN const wsio_transport_ops *wsio_transport_tls(void);

/*
 * wsio_tls_use_in_server - set cfg->transport and cfg->transport_ctx so
 * that the server made with cfg speaks TLS with tls (a server context).
 * tls is borrowed, not owned: it must outlive the server.
 */
WSIO_EXTERN void wsio_tls_use_in_server(wsio_tls *tls, wsio_server_config *cfg);

/*
 * wsio_tls_use_in_client - set cfg->transport and cfg->transport_ctx so
 * that wss:// URLs connect with tls (a client context); ws:// URLs stay
 * plain. tls is borrowed, not owned: it must outlive the clients.
 */
WSIO_EXTERN void wsio_tls_use_in_client(wsio_tls *tls, wsio_client_config *cfg);

/*
 * wsio_tls_error_text - OpenSSL's most recent error on this thread, as one
 * line of text in buf (cap bytes, NUL-terminated), e.g. after wsio_tls_new
 * failed or in on_close after a WSIO_ETLS* code. Returns the length, 0 when
 * OpenSSL has no error to tell.
 */
WSIO_EXTERN size_t wsio_tls_error_text(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_TLS_H */

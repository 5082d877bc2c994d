/*
 * examples/example.c - see example.h.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"
#ifdef WSIO_EXAMPLE_TLS
#include "wsio/tls.h"
#endif

/* The loops a signal stops: one, or one per thread with --threads. Set
 * before the handler is installed, cleared after it is removed. */
static wsio_loop *signal_loops[EXAMPLE_MAX_THREADS];
static volatile sig_atomic_t nsignal_loops;
static volatile sig_atomic_t signal_seen;
/* --plain-port's server beside the TLS one, and the TLS context. */
static wsio_server *plain_server;
#ifdef WSIO_EXAMPLE_TLS
static wsio_tls *server_tls;
#endif

static void on_signal(int sig)
{
    signal_seen = sig;
    for (int i = 0; i < nsignal_loops; i++)
        wsio_loop_stop(signal_loops[i]);
}

const char *example_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s needs a value (see --help)\n", argv[*i]);
        exit(2);
    }
    *i += 1;
    return argv[*i];
}

size_t example_size(const char *name, const char *text)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end == 'K' || *end == 'k')
        v *= 1024, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1024 * 1024, end++;
    if (errno || end == text || *end || text[0] == '-') {
        fprintf(stderr, "%s: not a size: %s\n", name, text);
        exit(2);
    }
    return (size_t)v;
}

int example_parse_common(int argc, char **argv, int *i, example_opts *o)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "--host") == 0) {
        o->host = example_value(argc, argv, i);
    } else if (strcmp(arg, "--port") == 0) {
        const char *v = example_value(argc, argv, i);
        char *end;
        long p = strtol(v, &end, 10);
        if (*end || end == v || p < 0 || p > 65535) {
            fprintf(stderr, "--port: not a port: %s\n", v);
            exit(2);
        }
        o->port = (uint16_t)p;
    } else if (strcmp(arg, "--backend") == 0) {
        o->backend = example_value(argc, argv, i);
    } else if (strcmp(arg, "--max-per-addr") == 0) {
        o->max_per_addr = example_value(argc, argv, i);
        (void)example_size(arg, o->max_per_addr);
    } else if (strcmp(arg, "--handshake-rate") == 0) {
        o->handshake_rate = example_value(argc, argv, i);
        if (example_size(arg, o->handshake_rate) > UINT32_MAX) {
            fprintf(stderr, "--handshake-rate: too large\n");
            exit(2);
        }
#ifdef WSIO_EXAMPLE_TLS
    } else if (strcmp(arg, "--tls-cert") == 0) {
        o->tls_cert = example_value(argc, argv, i);
    } else if (strcmp(arg, "--tls-key") == 0) {
        o->tls_key = example_value(argc, argv, i);
    } else if (strcmp(arg, "--plain-port") == 0) {
        const char *v = example_value(argc, argv, i);
        char *end;
        long p = strtol(v, &end, 10);
        if (*end || end == v || p < 0 || p > 65535) {
            fprintf(stderr, "--plain-port: not a port: %s\n", v);
            exit(2);
        }
        o->plain_port = (int)p;
#endif
    } else {
        return 0;
    }
    return 1;
}

int example_parse_threads(int argc, char **argv, int *i, example_opts *o)
{
    if (strcmp(argv[*i], "--threads") != 0)
        return 0;
    const char *v = example_value(argc, argv, i);
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || end == v || n < 0 || n > EXAMPLE_MAX_THREADS) {
        fprintf(stderr, "--threads: not a count from 0 to %d: %s\n",
                EXAMPLE_MAX_THREADS, v);
        exit(2);
    }
    o->threads = (int)n;
    return 1;
}

const char *example_usage_common(void)
{
    return "  --host ADDR       address to listen on (default 127.0.0.1)\n"
           "  --port N          port (0 picks a free one)\n"
           "  --backend NAME    poll or epoll (default: epoll on Linux)\n"
           "  --max-per-addr N  connections one client address may hold\n"
           "                    (IPv6: one /64); more get 503 (default 64;\n"
           "                    0 no limit)\n"
           "  --handshake-rate N  connections one address may open a second;\n"
           "                    more get 429 (default 32; 0 no limit)\n"
#ifdef WSIO_EXAMPLE_TLS
           "  --tls-cert FILE   PEM certificate chain: serve https:// and "
           "wss://\n"
           "  --tls-key FILE    PEM private key for --tls-cert\n"
           "  --plain-port N    with TLS, also serve plain http/ws on port N\n"
#endif
        ;
}

/* Write "HH:MM:SS name: " and the formatted message, its control
 * characters escaped, and a newline, in one write: stderr is unbuffered,
 * so a character at a time would be a system call each (a handshake's
 * "open" line cost the echo example 22). */
static void log_line(const char *name, const char *fmt, va_list ap)
{
    char stamp[16], msg[1024], line[sizeof stamp + 64 + 4 * sizeof msg];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    vsnprintf(msg, sizeof msg, fmt, ap);
    int n = snprintf(line, 64, "%s %s: ", stamp, name);
    size_t len = n < 0 ? 0 : n >= 64 ? 63 : (size_t)n;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            len += (size_t)snprintf(line + len, 5, "\\x%02x", *p);
        else
            line[len++] = (char)*p;
    }
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

void example_log(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(name, fmt, ap);
    va_end(ap);
}

void example_log_limited(example_log_limit *l, const char *name,
                         const char *fmt, ...)
{
    long second = (long)time(NULL);
    unsigned long dropped = 0;
    pthread_mutex_lock(&l->mu);
    if (second != l->second) {
        l->second = second;
        l->written = 0;
    }
    int write = l->written < EXAMPLE_LOG_PER_SEC;
    if (write) {
        l->written++;
        dropped = l->dropped;
        l->dropped = 0;
    } else {
        l->dropped++;
    }
    pthread_mutex_unlock(&l->mu);
    if (dropped)
        example_log(name, "%lu more lines not logged (over %d a second)",
                    dropped, EXAMPLE_LOG_PER_SEC);
    if (!write)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(name, fmt, ap);
    va_end(ap);
}

wsio_loop *example_loop_new(const char *name, const example_opts *o)
{
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    if (o->backend) {
        lc.backend = wsio_backend_by_name(o->backend);
        if (!lc.backend) {
            fprintf(stderr, "%s: unknown or unavailable backend %s\n", name,
                    o->backend);
            exit(2);
        }
    }
    int err = 0;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    if (!loop) {
        fprintf(stderr, "%s: cannot make the loop: %s\n", name,
                wsio_strerror(err));
        exit(1);
    }
    return loop;
}

/* wsio_server_new on cfg's host and port, or exit(1). */
static wsio_server *server_new(const char *name, wsio_loop *loop,
                               const wsio_server_config *cfg,
                               const wsio_ws_callbacks *cb,
                               const wsio_server_hooks *hooks, void *user)
{
    int err = 0;
    wsio_server *srv = wsio_server_new(loop, cfg, cb, hooks, user, &err);
    if (!srv) {
        fprintf(stderr, "%s: cannot listen on %s port %u: %s\n", name,
                cfg->host, (unsigned)cfg->port, wsio_strerror(err));
        exit(1);
    }
    return srv;
}

static wsio_server *listen_on(const char *name, const char *what,
                              const char *scheme, wsio_loop *loop,
                              const char *host, uint16_t port,
                              wsio_server_config *cfg,
                              const wsio_ws_callbacks *cb,
                              const wsio_server_hooks *hooks, void *user)
{
    cfg->host = host;
    cfg->port = port;
    wsio_server *srv = server_new(name, loop, cfg, cb, hooks, user);
    int v6 = strchr(host, ':') != NULL;
    printf("%s: %s on %s://%s%s%s:%u/\n", name, what, scheme, v6 ? "[" : "",
           host, v6 ? "]" : "", (unsigned)wsio_server_port(srv));
    fflush(stdout);
    return srv;
}

#ifdef WSIO_EXAMPLE_TLS
/* The TLS context for --tls-cert/--tls-key; exit(1) when they are bad. */
static wsio_tls *load_tls(const char *name, const example_opts *o)
{
    if (!o->tls_cert || !o->tls_key) {
        fprintf(stderr, "%s: --tls-cert and --tls-key go together\n", name);
        exit(2);
    }
    wsio_tls_config tc;
    wsio_tls_config_default(&tc, WSIO_ROLE_SERVER);
    tc.cert_file = o->tls_cert;
    tc.key_file = o->tls_key;
    int err = 0;
    wsio_tls *tls = wsio_tls_new(&tc, &err);
    if (!tls) {
        char why[256];
        wsio_tls_error_text(why, sizeof why);
        fprintf(stderr, "%s: cannot load %s / %s: %s (%s)\n", name, o->tls_cert,
                o->tls_key, wsio_strerror(err), why);
        exit(1);
    }
    return tls;
}
#endif

wsio_server *example_listen(const char *name, const char *scheme,
                            wsio_loop *loop, const example_opts *o,
                            wsio_server_config *cfg,
                            const wsio_ws_callbacks *cb,
                            const wsio_server_hooks *hooks, void *user)
{
    cfg->max_connections_per_addr =
        o->max_per_addr ? example_size("--max-per-addr", o->max_per_addr)
                        : EXAMPLE_MAX_PER_ADDR;
    cfg->max_handshakes_per_addr_per_sec =
        o->handshake_rate
            ? (uint32_t)example_size("--handshake-rate", o->handshake_rate)
            : EXAMPLE_HANDSHAKE_RATE;
#ifdef WSIO_EXAMPLE_TLS
    if (o->tls_cert || o->tls_key) {
        /* Two servers on one loop: TLS on --port, plain on --plain-port. */
        const char *tls_scheme = strcmp(scheme, "http") == 0 ? "https" : "wss";
        wsio_server_config plain = *cfg;
        server_tls = load_tls(name, o);
        wsio_tls_use_in_server(server_tls, cfg);
        wsio_server *srv = listen_on(name, "listening", tls_scheme, loop,
                                     o->host, o->port, cfg, cb, hooks, user);
        if (o->plain_port > 0)
            plain_server =
                listen_on(name, "also listening", scheme, loop, o->host,
                          (uint16_t)o->plain_port, &plain, cb, hooks, user);
        return srv;
    }
#endif
    return listen_on(name, "listening", scheme, loop, o->host, o->port, cfg, cb,
                     hooks, user);
}

wsio_server *example_plain_server(void)
{
    return plain_server;
}

/* Stop the loops on SIGINT and SIGTERM (until signals_off). */
static void signals_on(wsio_loop *const *loops, int n)
{
    for (int i = 0; i < n; i++)
        signal_loops[i] = loops[i];
    nsignal_loops = n;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Before the loops are freed: a signal then only sets signal_seen. */
static void signals_forget(void)
{
    nsignal_loops = 0;
}

/* Run until a signal stops the loop, then shut srv down gracefully. */
static void serve(const char *name, wsio_loop *loop, wsio_server *srv)
{
    int rc = wsio_loop_run(loop);
    if (rc < 0)
        example_log(name, "loop failed: %s", wsio_strerror(rc));
    if (signal_seen)
        example_log(name, "signal %d: closing every connection (1001)",
                    (int)signal_seen);
    /* wsio_loop_run returns when the server is gone, or at once on a
     * second signal (wsio_loop_free then terminates what is left). */
    wsio_server_shutdown(srv, 5000);
    if (plain_server)
        wsio_server_shutdown(plain_server, 5000);
    wsio_loop_run(loop);
}

void example_run(const char *name, wsio_loop *loop, wsio_server *srv)
{
    signals_on(&loop, 1);
    serve(name, loop, srv);
    signals_forget();
    plain_server = NULL;
#ifdef WSIO_EXAMPLE_TLS
    /* The context must outlive every connection: after a second signal
     * some may be left for wsio_loop_free, and then it stays until exit. */
    if (!wsio_loop_alive(loop)) {
        wsio_tls_free(server_tls);
        server_tls = NULL;
    }
#endif
    example_log(name, "stopped");
}

/* ---- --threads: one loop and one server per thread, in one hub ---- */

typedef struct server_thread {
    pthread_t tid;
    const char *name;
    const example_opts *o;
    wsio_server_config cfg; /* the first server's port */
    const wsio_ws_callbacks *cb;
    const wsio_server_hooks *hooks;
    void *user;
    wsio_loop *loop;
    sem_t ready; /* loop and server made */
} server_thread;

/* A thread's whole life: its loop and server are made here, because a
 * loop (and what runs on it) belongs to the thread that runs it. */
static void *server_thread_main(void *arg)
{
    server_thread *t = arg;
    t->loop = example_loop_new(t->name, t->o);
    wsio_server *srv =
        server_new(t->name, t->loop, &t->cfg, t->cb, t->hooks, t->user);
    sem_post(&t->ready);
    serve(t->name, t->loop, srv);
    wsio_loop_free(t->loop);
    return NULL;
}

static void serve_threads(const char *name, const char *scheme,
                          const example_opts *o, wsio_server_config *cfg,
                          const wsio_ws_callbacks *cb,
                          const wsio_server_hooks *hooks, void *user)
{
    if (o->tls_cert || o->tls_key) {
        fprintf(stderr, "%s: --threads with TLS is not supported\n", name);
        exit(2);
    }
    int err = 0;
    wsio_hub *hub = wsio_hub_new(NULL, &err);
    if (!hub) {
        fprintf(stderr, "%s: cannot make the hub: %s\n", name,
                wsio_strerror(err));
        exit(1);
    }
    cfg->reuse_port = 1;
    cfg->hub = hub;
    wsio_loop *loops[EXAMPLE_MAX_THREADS];
    loops[0] = example_loop_new(name, o);
    wsio_server *srv =
        example_listen(name, scheme, loops[0], o, cfg, cb, hooks, user);
    server_thread threads[EXAMPLE_MAX_THREADS];
    int n = o->threads;
    for (int i = 1; i < n; i++) {
        server_thread *t = &threads[i];
        *t = (server_thread){.name = name,
                             .o = o,
                             .cfg = *cfg,
                             .cb = cb,
                             .hooks = hooks,
                             .user = user};
        t->cfg.port = wsio_server_port(srv);
        sem_init(&t->ready, 0, 0);
        if (pthread_create(&t->tid, NULL, server_thread_main, t) != 0) {
            fprintf(stderr, "%s: cannot start thread %d\n", name, i);
            exit(1);
        }
        sem_wait(&t->ready);
        loops[i] = t->loop;
    }
    example_log(name, "%d threads, one server each, on port %u", n,
                (unsigned)wsio_server_port(srv));
    signals_on(loops, n);
    serve(name, loops[0], srv);
    for (int i = 1; i < n; i++) {
        pthread_join(threads[i].tid, NULL);
        sem_destroy(&threads[i].ready);
    }
    signals_forget();
    wsio_loop_free(loops[0]);
    wsio_hub_free(hub);
    example_log(name, "stopped");
}

void example_serve(const char *name, const char *scheme, const example_opts *o,
                   wsio_server_config *cfg, const wsio_ws_callbacks *cb,
                   const wsio_server_hooks *hooks, void *user)
{
    if (o->threads > 1) {
        serve_threads(name, scheme, o, cfg, cb, hooks, user);
        return;
    }
    wsio_loop *loop = example_loop_new(name, o);
    wsio_server *srv =
        example_listen(name, scheme, loop, o, cfg, cb, hooks, user);
    example_run(name, loop, srv);
    wsio_loop_free(loop);
}

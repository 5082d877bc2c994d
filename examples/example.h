/*
 * examples/example.h - what every example server shares: command-line
 * options common to all of them, a one-line log, a run loop that ends in
 * a graceful shutdown on SIGINT or SIGTERM, and (--threads N) one server
 * per thread on one port, joined by a wsio_hub.
 */
#ifndef WSIO_EXAMPLE_H
#define WSIO_EXAMPLE_H

#include <pthread.h>
#include <stdint.h>

#include "wsio.h"

/* Options every example takes. */
typedef struct example_opts {
    const char *host;    /* --host, default 127.0.0.1 */
    uint16_t port;       /* --port, default given by the example */
    const char *backend; /* --backend poll|epoll, default: the library's */
    /* TLS builds only (make examples with OpenSSL present; see README): */
    const char *tls_cert; /* --tls-cert PEM: the server on --port speaks TLS */
    const char *tls_key;  /* --tls-key PEM: its private key */
    int plain_port;       /* --plain-port N: with TLS, a second, plain
                             server on N (one loop, two wsio_server); -1
                             none. 0 (unset) also means none */
    int threads;          /* --threads N (example_parse_threads): servers
                             on N threads; 0 or 1: this thread only */
    /* Per-address limits (docs/security.md), as given, or NULL for the
     * defaults below; "0" turns one off: */
    const char *max_per_addr;   /* --max-per-addr N */
    const char *handshake_rate; /* --handshake-rate N (a second) */
} example_opts;

/* What example_listen sets when the options do not say: one address (a
 * household or an office behind NAT) may hold 64 connections and open 32
 * a second; beyond, 503 and 429. A flood from one address then cannot
 * lock anybody else out. Load tests from one machine turn them off
 * (--max-per-addr 0 --handshake-rate 0). */
#define EXAMPLE_MAX_PER_ADDR 64
#define EXAMPLE_HANDSHAKE_RATE 32
/* The heartbeat every example server runs (ping_interval_ms): a peer that
 * vanished without a FIN is dropped within two intervals. */
#define EXAMPLE_PING_MS 30000

/* The most --threads accepts. */
#define EXAMPLE_MAX_THREADS 64

/*
 * example_parse_common - if argv[*i] is one of the common options, consume
 * it (and its value), advance *i and return 1; return 0 for an option the
 * example must handle itself; exit(2) with a message on a bad value.
 */
int example_parse_common(int argc, char **argv, int *i, example_opts *o);

/* example_usage_common - the lines of --help that describe the common
 * options. */
const char *example_usage_common(void);

/*
 * example_parse_threads - like example_parse_common, for --threads N
 * (0..EXAMPLE_MAX_THREADS), which only examples that run through
 * example_serve take. EXAMPLE_USAGE_THREADS is its --help line.
 */
int example_parse_threads(int argc, char **argv, int *i, example_opts *o);
#define EXAMPLE_USAGE_THREADS                                                  \
    "  --threads N       N threads, each with a loop and a server on the\n"    \
    "                    same port (SO_REUSEPORT), joined by a wsio_hub so\n"  \
    "                    broadcasts reach every thread (default 1)\n"

/*
 * example_value - the value of the option at argv[*i] ("--name VALUE"),
 * advancing *i past it; exit(2) when it is missing.
 */
const char *example_value(int argc, char **argv, int *i);

/* example_size - parse a byte count with an optional K or M suffix;
 * exit(2) on a bad value. */
size_t example_size(const char *name, const char *text);

/* example_log - "name: message" on stderr, with a time of day. Control
 * characters in the message (bytes below 0x20 and 0x7F: a client's name or
 * path holding a newline) are written as \xNN, so that no client can
 * split a line or forge one; a message is cut at 1 KiB. */
void example_log(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A log that writes at most EXAMPLE_LOG_PER_SEC lines a second (for a line
 * per request, which a flood of requests would turn into a flood of
 * disk writes); the lines over it are counted and reported in one summary
 * line the next time a line is written. Safe from several threads.
 * Initialize with EXAMPLE_LOG_LIMIT_INIT.
 */
typedef struct example_log_limit {
    pthread_mutex_t mu;
    long second;           /* the second being counted */
    unsigned written;      /* lines written in it */
    unsigned long dropped; /* lines not written since the last summary */
} example_log_limit;
#define EXAMPLE_LOG_PER_SEC 5
#define EXAMPLE_LOG_LIMIT_INIT                                                 \
    {                                                                          \
        PTHREAD_MUTEX_INITIALIZER, 0, 0, 0                                     \
    }

/* example_log_limited - example_log under limit l. */
void example_log_limited(example_log_limit *l, const char *name,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * example_loop_new - make the loop the options ask for; exit(1) with a
 * message when that fails.
 */
wsio_loop *example_loop_new(const char *name, const example_opts *o);

/*
 * example_listen - wsio_server_new with the options' host and port and
 * per-address limits (EXAMPLE_MAX_PER_ADDR ... unless given), and
 * the line "NAME: listening on SCHEME://HOST:PORT/" on stdout (flushed:
 * tests read the port from it). exit(1) with a message on failure.
 * With --tls-cert/--tls-key the server speaks TLS and SCHEME becomes
 * https or wss; with --plain-port too, a second server on the same loop
 * serves plain ws/http there ("NAME: also listening on ...").
 */
wsio_server *example_listen(const char *name, const char *scheme,
                            wsio_loop *loop, const example_opts *o,
                            wsio_server_config *cfg,
                            const wsio_ws_callbacks *cb,
                            const wsio_server_hooks *hooks, void *user);

/*
 * example_plain_server - the second (plain) server example_listen made for
 * --plain-port, or NULL. What is sent to "everyone" goes to both.
 */
wsio_server *example_plain_server(void);

/*
 * example_run - run the loop until SIGINT or SIGTERM, then shut the
 * servers down gracefully (close 1001 to everyone, at most 5 s), and
 * return.
 */
void example_run(const char *name, wsio_loop *loop, wsio_server *srv);

/*
 * example_serve - make the loop and the server (example_loop_new,
 * example_listen), run them (example_run) and free them. With o->threads
 * over 1, do that on o->threads threads (this one and o->threads - 1
 * more), each server in one wsio_hub with reuse_port on the port the first
 * bound, so that wsio_server_broadcast and wsio_server_publish on any of
 * them reach the clients of all; one SIGINT or SIGTERM shuts every server
 * down gracefully, and this returns when all threads have ended.
 *
 * cfg is used for every server (its reuse_port and hub are set here); cb,
 * hooks and user too: the callbacks then run on several threads at once,
 * so what they share must be locked. Not with --tls-cert (exit 2).
 */
void example_serve(const char *name, const char *scheme, const example_opts *o,
                   wsio_server_config *cfg, const wsio_ws_callbacks *cb,
                   const wsio_server_hooks *hooks, void *user);

#endif /* WSIO_EXAMPLE_H */

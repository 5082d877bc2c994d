/*
 * tools/cat.h - what the parts of wsio-cat share: the options, the exit
 * statuses, the host loop that watches stdin beside wsio's sockets, the
 * stdin framer and the message printer.
 *
 * wsio-cat runs its wsio_loop in host loop mode: wsio tells the tool which
 * fds to watch and when its next timer is due, and the tool's own poll()
 * watches those, stdin and a signal pipe together. So stdin is read only
 * when it is ready and only while the connection can take more (no
 * blocking read, no thread, no busy post loop).
 */
#ifndef WSIO_CAT_H
#define WSIO_CAT_H

#include <poll.h>
#include <stdint.h>

#include "wsio.h"

/* Exit statuses; the table in docs/wsio-cat.1 (EXIT STATUS) is this one. */
enum cat_exit {
    CAT_EXIT_OK = 0,        /* closed with 1000 (or no code) */
    CAT_EXIT_USAGE = 1,     /* bad option or URL, wss:// without TLS */
    CAT_EXIT_CONNECT = 2,   /* refused, unreachable, unknown host, timeout,
                               or (--listen) cannot listen; with
                               --reconnect: gave up */
    CAT_EXIT_HANDSHAKE = 3, /* the server refused or botched the upgrade */
    CAT_EXIT_PEER_CODE = 4, /* closed cleanly with a code other than 1000 */
    CAT_EXIT_ABNORMAL = 5,  /* protocol error, no close handshake (1006),
                               no pong in time */
    CAT_EXIT_LOCAL = 6      /* stdin/stdout error, input over the limit,
                               out of memory */
};

/* What --listen does with a message from a client (beside printing it). */
enum cat_serve { CAT_SERVE_PRINT, CAT_SERVE_ECHO, CAT_SERVE_BROADCAST };

#define CAT_WAIT_FOREVER UINT64_MAX

typedef struct cat_opts {
    const char *url; /* client mode */
    int listen;      /* --listen PORT given */
    uint16_t port;
    const char *host; /* --host, default 127.0.0.1 */
    enum cat_serve serve;
    int binary;                /* --binary */
    size_t chunk;              /* --chunk N: binary message size; 0 whole */
    wsio_http_header *headers; /* -H, slices into argv */
    size_t num_headers;
    const char *subprotocol;   /* --subprotocol */
    const char *origin;        /* --origin */
    uint32_t ping_interval_ms; /* 0: off */
    uint32_t timeout_ms;       /* connect + handshake */
    uint64_t wait_ms;          /* after stdin EOF; CAT_WAIT_FOREVER */
    uint64_t count;            /* -n: close after this many; 0: no limit */
    size_t max_message;        /* largest message sent or received */
    int verbose;               /* -v */
    int reconnect;             /* --reconnect */
    unsigned reconnect_max;    /* --reconnect-max; 0: never give up */
    int resume;                /* --resume (implies --reconnect) */
} cat_opts;

/* Run the client or the server; each returns an enum cat_exit value. */
int cat_client_run(const cat_opts *o);
int cat_listen_run(const cat_opts *o);

/* ---- host loop (cat_loop.c) ---------------------------------------------- */

/*
 * The poll set: [0] the signal pipe, [1] stdin (fd -1 while not wanted),
 * then every fd wsio asked for. wsio_due is the loop's next timer.
 */
typedef struct cat_loop {
    wsio_loop *loop;
    struct pollfd *fds;
    size_t n, cap;
    uint64_t wsio_due; /* UINT64_MAX: none */
    int sig_pipe[2];
} cat_loop;

/* What a turn saw besides wsio's own fds. */
#define CAT_EV_STDIN 1u  /* stdin is readable (or at EOF) */
#define CAT_EV_SIGNAL 2u /* SIGINT or SIGTERM arrived */

/* cat_loop_init - the wsio loop in host mode, SIGINT/SIGTERM routed to the
 * signal pipe, SIGPIPE ignored. Returns 0 or a negative code. */
int cat_loop_init(cat_loop *cl);
void cat_loop_free(cat_loop *cl);
/* cat_loop_watch_stdin - whether the next turns wait for stdin. */
void cat_loop_watch_stdin(cat_loop *cl, int on);
/*
 * cat_loop_turn - wait for I/O until the earlier of wsio's timer and
 * app_due (UINT64_MAX: none), hand wsio its ready fds and due timers, and
 * set *events to the CAT_EV_* bits seen. Returns 0 or -errno from poll.
 */
int cat_loop_turn(cat_loop *cl, uint64_t app_due, unsigned *events);

/* ---- stdin framing and message output (cat_io.c) ---------------------------
 */

/*
 * Reads stdin and cuts it into messages: lines (text), the whole input
 * (binary), or chunk-byte pieces (binary with --chunk).
 *
 * Invariant: pos <= len <= cap; buf[pos..len) is read and not yet handed
 * out; a message handed out stays valid until the next cat_input_read.
 */
typedef struct cat_input {
    int binary;
    size_t chunk;
    size_t max; /* longest message */
    char *buf;
    size_t pos, len, cap;
    int eof;
    uint64_t messages; /* handed out so far (line numbers) */
} cat_input;

void cat_input_init(cat_input *in, const cat_opts *o);
void cat_input_free(cat_input *in);
/* cat_input_read - one read() from fd 0. Returns 0 (sets eof at EOF),
 * -errno, or WSIO_ENOMEM. */
int cat_input_read(cat_input *in);
/*
 * cat_input_next - the next whole message: returns 1 with *data and *len
 * set, 0 when none is complete yet, or WSIO_ETOOBIG when a message grows
 * past max.
 */
int cat_input_next(cat_input *in, const char **data, size_t *len);
/* cat_input_done - stdin is at EOF and every message was handed out. */
int cat_input_done(const cat_input *in);
/* cat_input_opcode - the opcode stdin messages are sent with. */
enum wsio_opcode cat_input_opcode(const cat_input *in);

/*
 * cat_print_message - write m to stdout: text plus a newline; binary in
 * hex as "[binary N bytes] 0a1b..." unless --binary, which writes every
 * message's raw bytes and nothing else. Returns 0 or -errno.
 */
int cat_print_message(const cat_opts *o, const wsio_message *m);

/* cat_log - "wsio-cat: message" on stderr. */
void cat_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- --resume (cat_resume.c) --------------------------------------------- */

#define CAT_RESUME_TOPICS 32

typedef struct cat_topic_id {
    char name[64];
    uint64_t last; /* the last id seen */
} cat_topic_id;

/* The last id seen on each topic, from lines "<topic> <id> ...". */
typedef struct cat_resume {
    cat_topic_id t[CAT_RESUME_TOPICS];
    size_t n;
} cat_resume;

/* cat_resume_seen - note the topic and id of a received text message;
 * messages of another shape are ignored. */
void cat_resume_seen(cat_resume *r, const char *msg, size_t len);

/* cat_resume_url - url with each topic=NAME[:ID] parameter of a topic
 * seen rewritten to topic=NAME:<last id>, NUL-terminated in out[0..cap).
 * Returns 0, or -1 when it does not fit. */
int cat_resume_url(const cat_resume *r, const char *url, char *out, size_t cap);

#endif /* WSIO_CAT_H */

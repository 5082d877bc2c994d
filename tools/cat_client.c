/*
 * tools/cat_client.c - wsio-cat URL: stdin to the server, the server's
 * messages to stdout.
 *
 * Flow: connect; once open, stdin is watched while the connection's output
 * is under its high-water mark (a send that returns WSIO_SEND_PRESSURE
 * stops reading until on_drain). At stdin EOF, wait for replies (--wait,
 * -n), then close with 1000 and exit with a status that says how the
 * connection ended.
 *
 * With --reconnect a wsio_client makes the connections: each end is
 * reported as usual, then the wait before the next try; stdin waits (is
 * not read) while no connection is open, so nothing typed is lost. Our
 * own close (stdin done, -n, a signal) stops it; giving up ends the run.
 */
#include <stdio.h>
#include <string.h>

#include "cat.h"

typedef struct client {
    const cat_opts *o;
    cat_loop cl;
    cat_input in;
    wsio_ws *ws;     /* NULL once on_close has run */
    wsio_client *rc; /* --reconnect: makes each ws; or NULL */
    int gave_up;     /* --reconnect-max tries failed */
    int opened;
    int closing;     /* we sent our close frame */
    int pressure;    /* output over the mark: wait for on_drain */
    int local_error; /* stdin/stdout failed: exit CAT_EXIT_LOCAL */
    int status;      /* exit status, set by on_close */
    uint64_t received;
    int waiting;         /* stdin is done: waiting for replies */
    uint64_t wait_due;   /* then close at this time; UINT64_MAX: never */
    uint64_t ping_due;   /* next ping, UINT64_MAX when off */
    int ping_unanswered; /* a ping went out and no pong came back yet */
    cat_resume resume;   /* --resume: the last id of each topic */
} client;

static void start_close(client *c, const char *reason)
{
    if (c->closing || !(c->ws || c->rc))
        return;
    c->closing = 1;
    /* The close timeout of the library bounds the rest. */
    c->wait_due = c->ping_due = UINT64_MAX;
    cat_loop_watch_stdin(&c->cl, 0);
    if (c->rc) { /* no more tries; the current one closes or is given up */
        (void)wsio_client_close(c->rc, WSIO_CLOSE_NORMAL, reason,
                                strlen(reason));
        return;
    }
    if (!c->opened) { /* still connecting: nothing to say goodbye to */
        wsio_ws_terminate(c->ws);
        return;
    }
    (void)wsio_ws_close(c->ws, WSIO_CLOSE_NORMAL, reason, strlen(reason));
}

static void fail_local(client *c, const char *what, int err)
{
    cat_log("%s: %s", what, wsio_strerror(err));
    c->local_error = 1;
    start_close(c, what);
}

/* stdin is at EOF and everything is queued: wait for the replies. */
static void input_finished(client *c)
{
    cat_loop_watch_stdin(&c->cl, 0);
    c->waiting = 1;
    if (c->o->count && c->received >= c->o->count) {
        start_close(c, "");
        return;
    }
    if (c->o->wait_ms != CAT_WAIT_FOREVER)
        c->wait_due = wsio_loop_now(c->cl.loop) + c->o->wait_ms;
}

/* Send every whole message stdin has given so far, until pressure. */
static void pump(client *c)
{
    const char *data;
    size_t len;
    int rc;
    while (c->ws && !c->closing && !c->pressure &&
           (rc = cat_input_next(&c->in, &data, &len)) != 0) {
        if (rc < 0) {
            fail_local(c, "stdin message over --max-message", rc);
            return;
        }
        rc = wsio_ws_send(c->ws, cat_input_opcode(&c->in), data, len);
        if (rc == WSIO_EUTF8) {
            cat_log("stdin line %llu is not valid UTF-8: not sent",
                    (unsigned long long)c->in.messages);
        } else if (rc == WSIO_SEND_PRESSURE) {
            c->pressure = 1;
        } else if (rc < 0) {
            fail_local(c, "send", rc);
            return;
        }
    }
    if (c->closing || !c->ws)
        return;
    cat_loop_watch_stdin(&c->cl, !c->pressure && !c->in.eof);
    if (!c->pressure && cat_input_done(&c->in) && !c->waiting)
        input_finished(c);
}

static void read_stdin(client *c)
{
    int rc = cat_input_read(&c->in);
    if (rc < 0) {
        fail_local(c, "reading stdin", rc);
        return;
    }
    pump(c);
}

static void on_open(wsio_ws *ws, void *user)
{
    client *c = user;
    c->ws = ws;
    c->opened = 1;
    c->pressure = 0;
    if (c->o->verbose) {
        const char *sub = wsio_ws_subprotocol(ws);
        cat_log("connected to %s%s%s", c->o->url, *sub ? ", subprotocol " : "",
                sub);
    }
    if (c->o->ping_interval_ms)
        c->ping_due = wsio_loop_now(c->cl.loop) + c->o->ping_interval_ms;
    pump(c);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)ws;
    client *c = user;
    if (c->local_error) /* stdout is gone: the close is under way */
        return 0;
    int rc = cat_print_message(c->o, m);
    if (rc < 0) {
        fail_local(c, "writing stdout", rc);
        return 0;
    }
    c->received++;
    if (c->o->resume && m->opcode == WSIO_OP_TEXT)
        cat_resume_seen(&c->resume, m->data, m->len);
    if (c->o->count && c->received >= c->o->count)
        start_close(c, "");
    return 0;
}

static void on_pong(wsio_ws *ws, const wsio_control *pong, void *user)
{
    (void)ws;
    (void)pong;
    client *c = user;
    c->ping_unanswered = 0;
}

static void on_drain(wsio_ws *ws, void *user)
{
    (void)ws;
    client *c = user;
    c->pressure = 0;
    pump(c);
}

/* Before on_open: why the connection never opened, and its status. */
static int report_not_opened(client *c, wsio_ws *ws,
                             const wsio_close_info *info)
{
    int http = wsio_ws_http_status(ws);
    int err = info->error;
    if (http != 0 && http != 101) {
        cat_log("handshake refused: HTTP %d %s", http,
                wsio_http_status_reason(http));
        return CAT_EXIT_HANDSHAKE;
    }
    if (err <= WSIO_EHS_MALFORMED && err >= WSIO_EHS_EXTENSION) {
        cat_log("handshake failed: %s", wsio_strerror(err));
        return CAT_EXIT_HANDSHAKE;
    }
    if (c->closing) /* interrupted while connecting */
        return c->local_error ? CAT_EXIT_LOCAL : CAT_EXIT_CONNECT;
    cat_log("cannot connect to %s: %s", c->o->url,
            err ? wsio_strerror(err) : "connection closed");
    return CAT_EXIT_CONNECT;
}

/* After on_open: "closed: CODE REASON" and the status for it. */
static int report_closed(client *c, const wsio_close_info *info)
{
    fprintf(stderr, "closed: %u", info->code);
    if (info->reason_len)
        fprintf(stderr, " %.*s", (int)info->reason_len, info->reason);
    if (info->error)
        fprintf(stderr, " (%s)", wsio_strerror(info->error));
    else if (!info->clean)
        fputs(" (no close handshake)", stderr);
    fputc('\n', stderr);
    if (c->local_error)
        return CAT_EXIT_LOCAL;
    if (info->error || !info->clean)
        return CAT_EXIT_ABNORMAL;
    /* 1005: the peer's close frame had no code, which is no complaint. */
    if (info->code == WSIO_CLOSE_NORMAL || info->code == WSIO_CLOSE_NO_STATUS)
        return CAT_EXIT_OK;
    return CAT_EXIT_PEER_CODE;
}

static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    client *c = user;
    c->status =
        c->opened ? report_closed(c, info) : report_not_opened(c, ws, info);
    c->ws = NULL;
    c->opened = 0;
    c->ping_due = UINT64_MAX;
    c->ping_unanswered = 0;
    cat_loop_watch_stdin(&c->cl, 0);
}

static void on_reconnect(wsio_client *rc, const wsio_reconnect_info *info,
                         void *user)
{
    client *c = user;
    if (info->giving_up) {
        cat_log("giving up after %u tries", info->attempt);
        c->gave_up = 1;
        if (c->status == CAT_EXIT_OK)
            c->status = CAT_EXIT_CONNECT;
        return;
    }
    cat_log("reconnecting in %u ms (try %u)", (unsigned)info->delay_ms,
            info->attempt);
    char url[2048];
    if (c->o->resume &&
        cat_resume_url(&c->resume, c->o->url, url, sizeof url) == 0 &&
        wsio_client_set_url(rc, url) == 0)
        cat_log("resuming: %s", url);
}

/* The run goes on while a connection is there, or (--reconnect) will be. */
static int running(const client *c)
{
    if (!c->rc)
        return c->ws != NULL;
    return wsio_client_ws(c->rc) || (!c->closing && !c->gave_up);
}

/* The tool's own timers: the wait after EOF and the heartbeat. */
static void run_timers(client *c)
{
    uint64_t now = wsio_loop_now(c->cl.loop);
    if (now >= c->wait_due)
        start_close(c, "");
    if (c->ws && c->opened && now >= c->ping_due) {
        if (c->ping_unanswered) {
            cat_log("no pong within %u ms", (unsigned)c->o->ping_interval_ms);
            wsio_ws_terminate(c->ws);
            return;
        }
        c->ping_unanswered = wsio_ws_ping(c->ws, "wsio-cat", 8) == 0;
        c->ping_due = now + c->o->ping_interval_ms;
    }
}

static int connect_ws(client *c)
{
    wsio_client_config cfg;
    wsio_client_config_default(&cfg);
    cfg.subprotocols = c->o->subprotocol;
    cfg.origin = c->o->origin;
    cfg.headers = c->o->headers;
    cfg.num_headers = c->o->num_headers;
    if (c->o->timeout_ms)
        cfg.connect_timeout_ms = c->o->timeout_ms;
    cfg.conn.max_message_size = c->o->max_message;
    cfg.conn.max_frame_size = c->o->max_message;
    if (cfg.max_output_bytes < c->o->max_message + 64)
        cfg.max_output_bytes = c->o->max_message + 64;
    const wsio_ws_callbacks cb = {.on_open = on_open,
                                  .on_message = on_message,
                                  .on_pong = on_pong,
                                  .on_drain = on_drain,
                                  .on_close = on_close};
    cfg.reconnect.max_attempts = c->o->reconnect_max;
    cfg.reconnect.on_reconnect = on_reconnect;
    int err = 0;
    if (c->o->reconnect) {
        c->rc = wsio_client_new(c->cl.loop, c->o->url, &cfg, &cb, c, &err);
        if (c->rc)
            return 0;
    } else {
        c->ws = wsio_client_connect(c->cl.loop, c->o->url, &cfg, &cb, c, &err);
        if (c->ws)
            return 0;
    }
    /* An unknown host comes to on_close; WSIO_EINVAL here is the URL. */
    cat_log("cannot connect to %s: %s", c->o->url,
            err == WSIO_EINVAL ? "bad URL" : wsio_strerror(err));
    return err == WSIO_ENOMEM ? CAT_EXIT_LOCAL : CAT_EXIT_CONNECT;
}

int cat_client_run(const cat_opts *o)
{
    client c = {.o = o, .wait_due = UINT64_MAX, .ping_due = UINT64_MAX};
    int rc = cat_loop_init(&c.cl);
    if (rc < 0) {
        cat_log("cannot set up the loop: %s", wsio_strerror(rc));
        cat_loop_free(&c.cl);
        return CAT_EXIT_LOCAL;
    }
    cat_input_init(&c.in, o);
    c.status = connect_ws(&c);
    while (running(&c)) {
        uint64_t due = c.ping_due < c.wait_due ? c.ping_due : c.wait_due;
        unsigned ev;
        rc = cat_loop_turn(&c.cl, due, &ev);
        if (rc < 0) {
            cat_log("poll: %s", wsio_strerror(rc));
            c.local_error = 1;
            break;
        }
        wsio_ws *ws = c.rc ? wsio_client_ws(c.rc) : c.ws;
        if ((ev & CAT_EV_SIGNAL) && (ws || c.rc)) {
            if (c.closing && ws) /* a second signal: no waiting for a reply */
                wsio_ws_terminate(ws);
            else
                start_close(&c, "interrupted");
        }
        if ((ev & CAT_EV_STDIN) && c.ws)
            read_stdin(&c);
        run_timers(&c);
    }
    /* After on_close the close frame may still be on its way out: let the
     * loop finish (bounded by the library's close timeout). */
    unsigned ev = 0;
    while (wsio_loop_alive(c.cl.loop) && !(ev & CAT_EV_SIGNAL) &&
           cat_loop_turn(&c.cl, UINT64_MAX, &ev) == 0) {
    }
    wsio_client_free(c.rc);
    cat_input_free(&c.in);
    cat_loop_free(&c.cl);
    return c.local_error && c.status == CAT_EXIT_OK ? CAT_EXIT_LOCAL : c.status;
}

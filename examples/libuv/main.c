/*
 * examples/libuv/main.c - the browser chat (examples/chat) inside a libuv
 * loop: the program's loop is libuv's, and wsio runs in host loop mode on
 * it. wsio says which fds it wants watched and for what (one uv_poll_t per
 * fd) and when its next timer is due (one uv_timer_t); libuv calls back,
 * and we hand the events to wsio_loop_on_io and wsio_loop_on_timer. The
 * chat itself (page, room, callbacks) is the same code as examples/chat.
 *
 *     build/examples/chat-uv --port 8080    then open http://127.0.0.1:8080
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app.h"

typedef struct uv_host uv_host;

/* One watched fd: libuv's handle, and the bridge that owns it. */
typedef struct uv_watch {
    uv_poll_t poll; /* first: the handle's address is the struct's */
    int fd;
    uv_host *host;
} uv_watch;

/* The bridge between the two loops. */
struct uv_host {
    uv_loop_t *uv;
    uv_timer_t timer; /* wsio's earliest timer */
    uv_signal_t sigint, sigterm;
    wsio_loop *loop;    /* set once wsio_loop_new returns */
    uv_watch **watches; /* indexed by fd */
    size_t nwatches;
    chat_app *app;
};

static void on_poll(uv_poll_t *handle, int status, int events)
{
    uv_watch *w = (uv_watch *)handle;
    unsigned ev = 0;
    if (events & UV_READABLE)
        ev |= WSIO_IO_READ;
    if (events & UV_WRITABLE)
        ev |= WSIO_IO_WRITE;
    if (status < 0 || (events & UV_DISCONNECT))
        ev |= WSIO_IO_HUP;
    /* This may unwatch w->fd: the handle is then closed, and freed by libuv
     * only after this callback returns (on_watch_closed). */
    wsio_loop_on_io(w->host->loop, w->fd, ev);
}

static void on_watch_closed(uv_handle_t *handle)
{
    free(handle);
}

/* wsio_host_loop.watch: start, change or stop watching fd. */
static int host_watch(int fd, unsigned events, void *user)
{
    uv_host *h = user;
    size_t i = (size_t)fd;
    uv_watch *w = i < h->nwatches ? h->watches[i] : NULL;
    if (events == 0) { /* fd is about to be closed */
        if (w) {
            h->watches[i] = NULL;
            uv_close((uv_handle_t *)&w->poll, on_watch_closed);
        }
        return 0;
    }
    if (!w) {
        if (i >= h->nwatches) {
            size_t n = h->nwatches ? h->nwatches : 64;
            while (n <= i)
                n *= 2;
            uv_watch **p = realloc(h->watches, n * sizeof *p);
            if (!p)
                return WSIO_ENOMEM;
            memset(p + h->nwatches, 0, (n - h->nwatches) * sizeof *p);
            h->watches = p;
            h->nwatches = n;
        }
        w = malloc(sizeof *w);
        if (!w)
            return WSIO_ENOMEM;
        int rc = uv_poll_init(h->uv, &w->poll, fd);
        if (rc < 0) {
            free(w);
            return rc; /* libuv's codes are -errno */
        }
        w->fd = fd;
        w->host = h;
        h->watches[i] = w;
        /* What wsio_loop_new watches (its wake-up fd for wsio_loop_post)
         * must not keep uv_run going on its own: wsio_loop_run too returns
         * once no server, client or timer is left. */
        if (!h->loop)
            uv_unref((uv_handle_t *)&w->poll);
    }
    int uv_events = ((events & WSIO_IO_READ) ? UV_READABLE : 0) |
                    ((events & WSIO_IO_WRITE) ? UV_WRITABLE : 0);
    return uv_poll_start(&w->poll, uv_events, on_poll);
}

static void on_timer(uv_timer_t *timer)
{
    uv_host *h = timer->data;
    wsio_loop_on_timer(h->loop);
}

/* wsio_host_loop.timer: (re)arm the one timer, or stop it. */
static void host_timer(uint64_t due_ms, void *user)
{
    uv_host *h = user;
    if (due_ms == UINT64_MAX) {
        uv_timer_stop(&h->timer);
        return;
    }
    uint64_t now = uv_now(h->uv);
    uv_timer_start(&h->timer, on_timer, due_ms > now ? due_ms - now : 0, 0);
}

/* wsio_host_loop.now_ms: libuv's clock, so both loops agree on "due". */
static uint64_t host_now(void *user)
{
    uv_host *h = user;
    return uv_now(h->uv);
}

/* SIGINT or SIGTERM: close every connection with 1001 (at most 5 s). The
 * servers leave the loop when done; with the signal handles closed, libuv
 * then has nothing left to wait for and uv_run returns. */
static void on_signal(uv_signal_t *sig, int signum)
{
    uv_host *h = sig->data;
    (void)signum;
    example_log("chat-uv", "closing every connection (1001)");
    uv_close((uv_handle_t *)&h->sigint, NULL);
    uv_close((uv_handle_t *)&h->sigterm, NULL);
    wsio_server *plain = example_plain_server();
    if (plain)
        wsio_server_shutdown(plain, 5000);
    wsio_server_shutdown(h->app->srv, 5000);
}

static void usage(void)
{
    printf("usage: chat-uv [options]\n%s%s", example_usage_common(),
           chat_usage());
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 8080};
    chat_app app;
    chat_app_init(&app);
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o) ||
            chat_parse_option(argc, argv, &i, &app.opts))
            continue;
        usage();
        chat_app_free(&app);
        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }

    if (o.backend) { /* the loop is libuv's: wsio runs no backend here */
        fprintf(stderr, "chat-uv: --backend does not apply: libuv polls\n");
        chat_app_free(&app);
        return 2;
    }
    if (app.opts.redis_url) { /* its connection would outlive a shutdown */
        fprintf(stderr, "chat-uv: --redis is for build/examples/chat\n");
        chat_app_free(&app);
        return 2;
    }

    uv_host h = {.uv = uv_default_loop(), .app = &app};
    uv_timer_init(h.uv, &h.timer);
    h.timer.data = &h;
    wsio_host_loop host = {.watch = host_watch,
                           .timer = host_timer,
                           .now_ms = host_now,
                           .user = &h};
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.host = &host;
    int err = 0;
    h.loop = wsio_loop_new(&lc, &err);
    if (!h.loop) {
        fprintf(stderr, "chat-uv: %s\n", wsio_strerror(err));
        return 1;
    }
    wsio_server_config cfg;
    wsio_ws_callbacks cb;
    wsio_server_hooks hooks;
    chat_app_configure(&app, &cfg, &cb, &hooks);
    app.srv =
        example_listen("chat-uv", "http", h.loop, &o, &cfg, &cb, &hooks, &app);
    example_log("chat-uv", "open the address above in a browser (libuv %s)",
                uv_version_string());

    uv_signal_init(h.uv, &h.sigint);
    uv_signal_init(h.uv, &h.sigterm);
    h.sigint.data = h.sigterm.data = &h;
    uv_signal_start(&h.sigint, on_signal, SIGINT);
    uv_signal_start(&h.sigterm, on_signal, SIGTERM);

    uv_run(h.uv, UV_RUN_DEFAULT);

    /* Everything wsio watched is closed by now; free what is left. */
    wsio_loop_free(h.loop);
    uv_close((uv_handle_t *)&h.timer, NULL);
    uv_run(h.uv, UV_RUN_DEFAULT); /* run the close callbacks */
    uv_loop_close(h.uv);
    free(h.watches);
    chat_app_free(&app);
    example_log("chat-uv", "stopped");
    return 0;
}

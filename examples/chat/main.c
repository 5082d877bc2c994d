/*
 * examples/chat/main.c - the browser chat: the page at "/", the WebSocket
 * at "/ws" (and "/"), on one port. The room logic (names, history,
 * notices) is in room.c, its wsio side in app.c; this file runs it on
 * wsio loops: one, or with --threads N a server per thread in one hub
 * (example_serve), or with --redis one loop whose server shares the room
 * with the chats of other processes.
 *
 *     make run-chat        then open http://127.0.0.1:8080
 */
#include <stdio.h>
#include <string.h>

#include "app.h"

static void usage(void)
{
    printf("usage: chat [options]\n%s%s" EXAMPLE_USAGE_THREADS,
           example_usage_common(), chat_usage());
}

/* --redis: one server on this thread, its room shared through Redis. */
static int serve_with_redis(chat_app *app, const example_opts *o,
                            wsio_server_config *cfg,
                            const wsio_ws_callbacks *cb,
                            const wsio_server_hooks *hooks)
{
    if (o->threads > 1) {
        fprintf(stderr, "chat: --redis runs on one thread (no --threads)\n");
        return 2;
    }
    wsio_loop *loop = example_loop_new("chat", o);
    app->srv = example_listen("chat", "http", loop, o, cfg, cb, hooks, app);
    if (chat_app_connect_redis(app))
        return 1;
    example_log("chat", "open the address above in a browser");
    example_run("chat", loop, app->srv);
    redis_room_free(app->redis);
    wsio_loop_free(loop);
    return 0;
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 8080};
    chat_app app;
    chat_app_init(&app);
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o) ||
            example_parse_threads(argc, argv, &i, &o) ||
            chat_parse_option(argc, argv, &i, &app.opts))
            continue;
        usage();
        chat_app_free(&app);
        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }

    /* One server: its topic stream lets pages resume (resume.h). */
    app.use_stream = !app.opts.redis_url && o.threads <= 1 &&
                     !(o.tls_cert && o.plain_port > 0);
    wsio_server_config cfg;
    wsio_ws_callbacks cb;
    wsio_server_hooks hooks;
    chat_app_configure(&app, &cfg, &cb, &hooks);
    int rc = 0;
    if (app.opts.redis_url) {
        rc = serve_with_redis(&app, &o, &cfg, &cb, &hooks);
    } else {
        example_log("chat", "open the address it listens on in a browser");
        example_serve("chat", "http", &o, &cfg, &cb, &hooks, &app);
    }
    chat_app_free(&app);
    return rc;
}

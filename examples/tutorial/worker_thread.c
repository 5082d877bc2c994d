/*
 * examples/tutorial/worker_thread.c - step 9 of docs/tutorial.md: slow work
 * on a worker thread, answered by connection id. The loop's thread queues
 * each message as a job; the worker answers it (in upper case) with
 * wsio_server_send_to, which is safe from any thread and does nothing if
 * the client has left meanwhile. SIGINT or SIGTERM stops it cleanly.
 *
 *     build/examples/tutorial/worker_thread [PORT]   (default 9001; 0: any)
 */
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wsio.h>

typedef struct job {
    struct job *next;
    uint64_t id; /* who asked: an id, never a wsio_ws pointer */
    size_t len;
    char text[];
} job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static job *head, *tail;
static int stopping;
static wsio_loop *loop;

/* The loop's thread: queue the work and return at once. */
static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    job *j = malloc(sizeof *j + m->len);
    if (!j)
        return 0;
    j->next = NULL;
    j->id = wsio_ws_id(ws);
    j->len = m->len;
    memcpy(j->text, m->data, m->len);
    pthread_mutex_lock(&mu);
    if (tail)
        tail->next = j;
    else
        head = j;
    tail = j;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mu);
    return 0;
}

/* The loop's thread, after each send_to: the client may have left. */
static void on_sent_to(wsio_server *srv, uint64_t id, enum wsio_opcode op,
                       int result, void *user)
{
    (void)srv;
    (void)op;
    (void)user;
    if (result == WSIO_ECLOSED)
        fprintf(stderr, "client %llu left before its answer\n",
                (unsigned long long)id);
}

/* The worker: take a job, do the work, send the answer by id. */
static void *worker(void *arg)
{
    wsio_server *srv = arg;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!head && !stopping)
            pthread_cond_wait(&cond, &mu);
        job *j = head;
        if (j && !(head = j->next))
            tail = NULL;
        pthread_mutex_unlock(&mu);
        if (!j)
            return NULL; /* stopping, and nothing left */
        for (size_t i = 0; i < j->len; i++)
            j->text[i] = (char)toupper((unsigned char)j->text[i]);
        wsio_server_send_to(srv, j->id, WSIO_OP_TEXT, j->text, j->len);
        free(j);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    wsio_loop_stop(loop); /* safe in a signal handler */
}

int main(int argc, char **argv)
{
    int err = 0;
    loop = wsio_loop_new(NULL, &err);
    if (!loop) {
        fprintf(stderr, "loop: %s\n", wsio_strerror(err));
        return 1;
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.port = (uint16_t)(argc > 1 ? atoi(argv[1]) : 9001);
    wsio_ws_callbacks cb = {.on_message = on_message};
    wsio_server_hooks hooks = {.on_sent_to = on_sent_to};
    wsio_server *srv = wsio_server_new(loop, &cfg, &cb, &hooks, NULL, &err);
    if (!srv) {
        fprintf(stderr, "listen: %s\n", wsio_strerror(err));
        return 1;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, worker, srv) != 0)
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("listening on ws://127.0.0.1:%u/\n", wsio_server_port(srv));
    fflush(stdout);
    wsio_loop_run(loop);
    /* The worker uses srv: let it finish before the server goes. */
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mu);
    pthread_join(th, NULL);
    wsio_loop_free(loop); /* frees the server, drops unsent answers */
    return 0;
}

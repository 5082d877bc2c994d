/*
 * src/redis/link.c - one connection to Redis on a wsio loop (link.h).
 */
#include <stdarg.h>

#include <hiredis/hiredis.h>

#include "link.h"

static void ev_set(wsio__rlink *l, unsigned events)
{
    l->events = events;
    if (l->watch)
        (void)wsio_watch_set(l->watch, events);
}

static void ev_add_read(void *p)
{
    wsio__rlink *l = p;
    ev_set(l, l->events | WSIO_IO_READ);
}

static void ev_del_read(void *p)
{
    wsio__rlink *l = p;
    ev_set(l, l->events & ~(unsigned)WSIO_IO_READ);
}

static void ev_add_write(void *p)
{
    wsio__rlink *l = p;
    ev_set(l, l->events | WSIO_IO_WRITE);
}

static void ev_del_write(void *p)
{
    wsio__rlink *l = p;
    ev_set(l, l->events & ~(unsigned)WSIO_IO_WRITE);
}

static void ev_cleanup(void *p)
{
    wsio__rlink *l = p;
    wsio_watch_free(l->watch);
    l->watch = NULL;
    l->events = 0;
}

/* An on_raw link's read: every complete reply to on_raw. */
static void raw_read(wsio__rlink *l)
{
    redisAsyncContext *ac = l->ac;
    if (redisBufferRead(&ac->c) != REDIS_OK) {
        wsio__rlink_drop(l); /* EOF or a read error */
        return;
    }
    /* on_raw may drop the link: then ac is gone and so is the rest. */
    while (l->ac == ac) {
        void *reply = NULL;
        if (redisGetReplyFromReader(&ac->c, &reply) != REDIS_OK) {
            wsio__rlink_drop(l); /* not RESP */
            return;
        }
        if (!reply)
            return;
        l->on_raw(l, reply);
        freeReplyObject(reply);
    }
}

static void on_io(wsio_watch *w, int fd, unsigned events, void *user)
{
    (void)w;
    (void)fd;
    wsio__rlink *l = user;
    redisAsyncContext *ac = l->ac;
    if (!ac)
        return;
    if ((events & (WSIO_IO_READ | WSIO_IO_HUP)) && l->on_raw && l->connected)
        raw_read(l);
    else if (events & (WSIO_IO_READ | WSIO_IO_HUP))
        redisAsyncHandleRead(ac);
    /* The read may have lost the link (and freed ac). */
    if ((events & WSIO_IO_WRITE) && l->ac == ac)
        redisAsyncHandleWrite(ac);
}

/* The link is gone (or never came): try again after the backoff. */
static void link_lost(wsio__rlink *l)
{
    const wsio__rlink_settings *set = l->set;
    l->ac = NULL;
    l->connected = 0;
    wsio_timer_start(l->timer, l->backoff);
    l->backoff =
        l->backoff > set->backoff_max / 2 ? set->backoff_max : l->backoff * 2;
    l->on_lost(l);
}

void wsio__rlink_drop(wsio__rlink *l)
{
    redisAsyncContext *ac = l->ac;
    link_lost(l);
    /* hiredis' callbacks for it then find l->ac changed and leave the
     * link alone. */
    if (ac)
        redisAsyncFree(ac);
}

static void link_ready(wsio__rlink *l)
{
    wsio_timer_stop(l->timer); /* the connect timeout */
    l->connected = 1;
    l->backoff = l->set->backoff_min;
    int reconnect = l->was_connected;
    l->was_connected = 1;
    l->on_ready(l, reconnect);
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    wsio__rlink *l = privdata;
    const redisReply *m = reply;
    if (!m || l->ac != ac)
        return; /* the link went first */
    if (m->type == REDIS_REPLY_ERROR)
        wsio__rlink_drop(l); /* wrong password, no such db: retry */
    else if (--l->setup_pending == 0)
        link_ready(l);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    wsio__rlink *l = cac->data;
    const wsio_redis_url *url = l->set->url;
    if (l->ac != cac)
        return;
    if (status != REDIS_OK) {
        link_lost(l); /* hiredis frees the context after this */
        return;
    }
    redisAsyncContext *ac = l->ac;
    l->setup_pending = 0;
    if (url->password[0]) {
        l->setup_pending++;
        if (url->user[0])
            redisAsyncCommand(ac, on_setup_reply, l, "AUTH %s %s", url->user,
                              url->password);
        else
            redisAsyncCommand(ac, on_setup_reply, l, "AUTH %s", url->password);
    }
    if (l->select_db && url->db) {
        l->setup_pending++;
        redisAsyncCommand(ac, on_setup_reply, l, "SELECT %u",
                          (unsigned)url->db);
    }
    if (l->setup_pending == 0)
        link_ready(l);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    wsio__rlink *l = ac->data;
    if (l->ac == ac)
        link_lost(l);
}

/* The timer: a connect that took too long, or the time to retry. */
static void on_timer(wsio_timer *t, void *user)
{
    (void)t;
    wsio__rlink *l = user;
    if (l->ac)
        wsio__rlink_drop(l);
    else
        wsio__rlink_connect(l);
}

void wsio__rlink_connect(wsio__rlink *l)
{
    const wsio__rlink_settings *set = l->set;
    redisAsyncContext *ac = redisAsyncConnect(set->url->host, set->url->port);
    if (!ac) {
        link_lost(l);
        return;
    }
    if (ac->err) {
        redisAsyncFree(ac);
        link_lost(l);
        return;
    }
    l->watch = wsio_watch_new(set->loop, ac->c.fd, on_io, l, NULL);
    if (!l->watch) {
        redisAsyncFree(ac);
        link_lost(l);
        return;
    }
    l->ac = ac;
    ac->data = l;
    ac->ev.data = l;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Watches for writability: the connect's completion. */
    redisAsyncSetConnectCallback(ac, on_connect);
    wsio_timer_start(l->timer, set->connect_timeout);
}

int wsio__rlink_send_raw(wsio__rlink *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(&l->ac->c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK)
        return WSIO_EINVAL;
    ev_add_write(l); /* redisAsyncHandleWrite sends it */
    return 0;
}

void wsio__rlink_close(wsio__rlink *l)
{
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    l->connected = 0;
    if (ac)
        redisAsyncFree(ac); /* waiting callbacks get NULL replies */
    wsio_timer_free(l->timer);
    l->timer = NULL;
}

int wsio__rlink_init(wsio__rlink *l, const wsio__rlink_settings *set,
                     int select_db, void (*on_ready)(wsio__rlink *, int),
                     void (*on_lost)(wsio__rlink *), void *owner)
{
    l->set = set;
    l->select_db = select_db;
    l->on_raw = NULL;
    l->on_ready = on_ready;
    l->on_lost = on_lost;
    l->owner = owner;
    l->backoff = set->backoff_min;
    int err = WSIO_ENOMEM;
    l->timer = wsio_timer_new(set->loop, on_timer, l, &err);
    return l->timer ? 0 : err;
}

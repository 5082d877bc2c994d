/*
 * tests/redis/redis_server.h - a redis-server of the test's own: started on
 * a free loopback port with nothing saved to disk (unless rdb_dir is set),
 * stopped (or killed) by PID. Never the machine's Redis service.
 */
#ifndef WSIO_TEST_REDIS_SERVER_H
#define WSIO_TEST_REDIS_SERVER_H

#include <stdint.h>
#include <sys/types.h>

typedef struct redis_proc {
    pid_t pid; /* 0 when not running */
    uint16_t port;
    const char *password;     /* --requirepass, or NULL */
    const char *cluster_conf; /* a cluster node's nodes.conf, or NULL */
    const char *rdb_dir;      /* dump.rdb here, loaded at start one key a
                                 millisecond (LOADING meanwhile), or NULL */
} redis_proc;

/* A free loopback TCP port (bound once and released). */
uint16_t redis_free_port(void);
/* Start redis-server on p->port (0: a free one is chosen and kept) and
 * wait, at most 5 s, until it answers PING (or says it is loading its
 * data). Returns 0, or -1. */
int redis_proc_start(redis_proc *p);
/* SIGKILL (hard: as if the machine went away) or SIGTERM, then reap. */
void redis_proc_stop(redis_proc *p, int hard);

#endif /* WSIO_TEST_REDIS_SERVER_H */

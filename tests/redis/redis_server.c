/*
 * tests/redis/redis_server.c - see redis_server.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis_server.h"

uint16_t redis_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int answers_ping(uint16_t port, const char *password)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[16] = {0};
    int ok =
        connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, "PING\r\n", 6) == 6 && read(fd, buf, sizeof buf - 1) > 0 &&
        (strncmp(buf, "+PONG", 5) == 0 || strncmp(buf, "-LOADING", 8) == 0 ||
         (password && strncmp(buf, "-NOAUTH", 7) == 0));
    close(fd);
    return ok;
}

int redis_proc_start(redis_proc *p)
{
    if (!p->port)
        p->port = redis_free_port();
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)p->port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* A test that fails jumps past its cleanup: Redis goes with us. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        /* Nothing of the test's (its Redis connections above all) may
         * stay open in a server that outlives them. */
        for (int fd = 3; fd < 4096; fd++)
            close(fd);
        if (p->cluster_conf)
            execlp("redis-server", "redis-server", "--port", port, "--bind",
                   "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--loglevel", "warning", "--cluster-enabled", "yes",
                   "--cluster-config-file", p->cluster_conf,
                   "--cluster-require-full-coverage", "no",
                   "--cluster-node-timeout", "2000",
                   /* DEBUG SLEEP: a node that reads commands late */
                   "--enable-debug-command", "local", (char *)NULL);
        else if (p->rdb_dir)
            execlp("redis-server", "redis-server", "--port", port, "--bind",
                   "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--loglevel", "warning", "--dir", p->rdb_dir,
                   "--key-load-delay", "1000",
                   "--loading-process-events-interval-bytes", "1024",
                   (char *)NULL);
        else if (p->password)
            execlp("redis-server", "redis-server", "--port", port, "--bind",
                   "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--loglevel", "warning", "--requirepass", p->password,
                   (char *)NULL);
        else
            execlp("redis-server", "redis-server", "--port", port, "--bind",
                   "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    p->pid = pid;
    for (int i = 0; i < 500; i++) {
        if (answers_ping(p->port, p->password))
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            p->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    redis_proc_stop(p, 1);
    return -1;
}

void redis_proc_stop(redis_proc *p, int hard)
{
    if (!p->pid)
        return;
    kill(p->pid, hard ? SIGKILL : SIGTERM);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

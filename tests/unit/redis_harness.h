/*
 * redis_harness.h - a real redis-server for tests, and an event-loop helper.
 *
 * sy_test_redis_start runs /usr/bin/redis-server on a free loopback port with
 * nothing persisted (--save "" --appendonly no), a unix socket beside it
 * (/tmp/sy-redis-<pid>-<port>.sock) and the DEBUG command enabled for local
 * clients, plus any extra arguments (e.g. "--requirepass", "x"). It returns
 * once the server answers on its unix socket, which proves it is ours and
 * that it bound the TCP port (it binds TCP first and exits if it cannot); a
 * port another test took meanwhile makes it try another. The child gets
 * PR_SET_PDEATHSIG, so a test that crashes does not leave a server behind;
 * call sy_test_redis_kill at the end anyway (a Criterion .fini runs after a
 * failed assertion too). Kill, restart (same port and arguments), pause
 * (SIGSTOP) and resume (SIGCONT) let tests play a dead or a slow server.
 *
 * sy_test_run_until drives an event_base in the calling thread until a
 * predicate holds or a time limit passes (a 2 ms timer checks it).
 *
 * Header-only (static inline), for any test that links hiredis and libevent.
 * Starting a server also sets SIGPIPE to ignored, as the gateway does.
 */
#ifndef SY_TEST_REDIS_HARNESS_H
#define SY_TEST_REDIS_HARNESS_H

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SY_TEST_REDIS_SERVER "/usr/bin/redis-server"

typedef struct sy_test_redis {
    pid_t pid; /* 0 when not running */
    int port;
    char sock[108];
    const char *const *extra; /* NULL-terminated extra arguments, or NULL */
} sy_test_redis_t;

static inline uint64_t sy_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A loopback TCP port free right now (the kernel's choice), or -1. */
static inline int sy_test_free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* 1 when something answers PING (any reply, NOAUTH included) on path. */
static inline int sy_test_redis_answers(const char *path)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectUnixWithTimeout(path, tv);
    int ok = 0;
    if (c && !c->err) {
        redisSetTimeout(c, tv);
        redisReply *r = redisCommand(c, "PING");
        ok = r != NULL;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

/* Start a server on r->port and wait (up to 5 s) until it answers. 0, or -1
 * when it exited (port taken) or never answered (then it is killed). */
static inline int sy_test_redis_spawn(sy_test_redis_t *r)
{
    char port[16];
    const char *argv[48];
    int n = 0;
    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(r->sock, sizeof(r->sock), "/tmp/sy-redis-%d-%d.sock", (int)getpid(), r->port);
    unlink(r->sock);
    argv[n++] = SY_TEST_REDIS_SERVER;
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--unixsocket";
    argv[n++] = r->sock;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "700";
    argv[n++] = "--dir";
    argv[n++] = "/tmp";
    argv[n++] = "--loglevel";
    argv[n++] = "warning";
    argv[n++] = "--enable-debug-command";
    argv[n++] = "local";
    for (int i = 0; r->extra && r->extra[i] && n < 46; i++)
        argv[n++] = r->extra[i];
    argv[n] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execv(SY_TEST_REDIS_SERVER, (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    uint64_t until = sy_test_now_ms() + 5000;
    while (sy_test_now_ms() < until) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            return -1;
        }
        if (sy_test_redis_answers(r->sock))
            return 0;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    r->pid = 0;
    return -1;
}

/* Start a server on a free port with the extra arguments (NULL-terminated
 * array that must outlive r, or NULL). 0, or -1 after 10 tries. */
static inline int sy_test_redis_start(sy_test_redis_t *r, const char *const *extra)
{
    signal(SIGPIPE, SIG_IGN);
    memset(r, 0, sizeof(*r));
    r->extra = extra;
    for (int i = 0; i < 10; i++) {
        r->port = sy_test_free_port();
        if (r->port > 0 && sy_test_redis_spawn(r) == 0)
            return 0;
    }
    return -1;
}

/* SIGKILL the server (stopped or not) and reap it. No-op when not running. */
static inline void sy_test_redis_kill(sy_test_redis_t *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
    if (r->sock[0])
        unlink(r->sock);
}

/* Start the server again on the same port with the same arguments (retrying
 * for up to 3 s should the port still be held). 0 or -1. */
static inline int sy_test_redis_restart(sy_test_redis_t *r)
{
    sy_test_redis_kill(r);
    uint64_t until = sy_test_now_ms() + 3000;
    while (sy_test_now_ms() < until) {
        if (sy_test_redis_spawn(r) == 0)
            return 0;
        usleep(50000);
    }
    return -1;
}

static inline void sy_test_redis_pause(sy_test_redis_t *r)
{
    if (r->pid > 0)
        kill(r->pid, SIGSTOP);
}

static inline void sy_test_redis_resume(sy_test_redis_t *r)
{
    if (r->pid > 0)
        kill(r->pid, SIGCONT);
}

/* "redis://127.0.0.1:<port><suffix>" into buf. */
static inline const char *sy_test_redis_url(const sy_test_redis_t *r, char *buf, size_t cap,
                                            const char *suffix)
{
    snprintf(buf, cap, "redis://127.0.0.1:%d%s", r->port, suffix ? suffix : "");
    return buf;
}

/* A blocking side-channel connection on the unix socket (1 s timeouts), or
 * NULL. Free it with redisFree. */
static inline redisContext *sy_test_redis_connect(const sy_test_redis_t *r)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectUnixWithTimeout(r->sock, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c)
        redisSetTimeout(c, tv);
    return c;
}

typedef int (*sy_test_pred)(void *arg);

struct sy_test_wait {
    struct event_base *base;
    sy_test_pred pred;
    void *arg;
    uint64_t until_ms;
};

static inline void sy_test_wait_tick(evutil_socket_t fd, short what, void *p)
{
    struct sy_test_wait *w = p;
    (void)fd;
    (void)what;
    if ((w->pred && w->pred(w->arg)) || sy_test_now_ms() >= w->until_ms)
        event_base_loopbreak(w->base);
}

/* Run base until pred(arg) holds (checked every 2 ms) or max_ms pass; pred
 * NULL runs for max_ms. Returns pred's last value (1 when pred is NULL). */
static inline int sy_test_run_until(struct event_base *base, sy_test_pred pred, void *arg,
                                    int max_ms)
{
    struct sy_test_wait w = {base, pred, arg, sy_test_now_ms() + (uint64_t)max_ms};
    if (pred && pred(arg))
        return 1;
    struct event *tick = event_new(base, -1, EV_PERSIST, sy_test_wait_tick, &w);
    struct timeval tv = {0, 2000};
    event_add(tick, &tv);
    event_base_loop(base, 0);
    event_free(tick);
    return pred ? pred(arg) : 1;
}

#endif

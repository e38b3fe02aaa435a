/*
 * redis.h - the Redis client the cache tier and cross-node dedup use: hiredis
 * 0.14's async API on libevent, one connection per worker event_base, with
 * the timeouts hiredis 0.14 lacks and a shared health state.
 *
 * The rule it serves (issue 4): a Redis failure never fails a request. A dead
 * or slow Redis costs a bounded time (a connect timeout, default 200 ms, and a
 * per-command timeout, default 100 ms), after which the caller gets an error
 * status and falls back to its local tiers. When a connection fails or a
 * command times out, every command pending on that connection is answered
 * SY_REDIS_ERR (each exactly once) and the connection is dropped; while a
 * connection is down its commands fail at once (no connect attempt per call)
 * and a timer reconnects with backoff (100 ms doubling to 5 s). Recovery needs
 * nobody's help.
 *
 * Two objects:
 * - sy_redis_shared_t, one per process: the parsed URL, the timeouts, and the
 *   health state with its counters, all atomics. The state changes UP<->DOWN
 *   as connections on any worker fail or come up, and each change is logged
 *   once (sy_log: "redis up" / "redis down" with the reason), however many
 *   workers see it.
 * - sy_redis_t, one per event_base: a connection made on first use (or at
 *   once with sy_redis_connect) and remade after failures. A connection counts
 *   as up only after its handshake (AUTH and SELECT when the URL asks, then
 *   PING) is answered, so a server that accepts TCP but does not answer (a
 *   stopped process) stays down.
 * - sy_redis_sub_t: a subscriber connection on one channel (one per process is
 *   enough), resubscribing by itself after every reconnect. Pub/sub is
 *   at-most-once: messages published while it is down are lost, so a reader
 *   must not depend on them (dedup followers keep their own timeout).
 *
 * Callbacks (libuv's rule): a function that takes a callback returns SY_OK
 * when the command was sent, and then the callback is called exactly once,
 * later, on the base's thread (never from inside the call), possibly with
 * SY_REDIS_ERR; or it returns an error and the callback is never called. A
 * callback may send new commands and may free the client it was called from.
 *
 * URLs: redis://[[user]:password@]host[:port][/db] (port 6379, db 0 by
 * default; user and password may be %-encoded; an IPv6 host in brackets) and
 * unix://[[user]:password@]/path/to/socket[?db=N]. rediss:// (TLS) is refused
 * with a clear error: hiredis 0.14 has no TLS. A host name is resolved once,
 * in sy_redis_shared_new (start-up, off any event loop), never on a loop.
 *
 * Threads: sy_redis_shared_new/free on one thread with no client alive;
 * sy_redis_shared_up and sy_redis_shared_stats from any thread. A sy_redis_t
 * or sy_redis_sub_t is used only on the thread running its event_base,
 * including its free. The process must ignore SIGPIPE (hiredis writes with
 * write(2); the server does this at start).
 */
#ifndef SY_STORE_REDIS_H
#define SY_STORE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct event_base;

#define SY_REDIS_DEFAULT_CONNECT_TIMEOUT_MS 200
#define SY_REDIS_DEFAULT_COMMAND_TIMEOUT_MS 100
/* Reconnect backoff: the first retry after MIN, doubling up to MAX. */
#define SY_REDIS_BACKOFF_MIN_MS 100
#define SY_REDIS_BACKOFF_MAX_MS 5000
/* Commands one connection holds in flight; more are refused (SY_ENOMEM). */
#define SY_REDIS_MAX_PENDING 65536

/* A parsed URL. Strings are NUL-terminated; empty when absent. */
typedef struct sy_redis_url {
    int is_unix;        /* 1: path is a unix socket; host and port unused */
    char host[256];     /* as written, without IPv6 brackets */
    int port;           /* 1..65535 */
    char path[108];     /* unix socket path (absolute) */
    char user[128];     /* ACL user for AUTH user password (Redis 6+) */
    char password[256]; /* AUTH when non-empty */
    int has_password;   /* 1 when the URL had a password (even an empty one) */
    long db;            /* SELECT db when non-zero */
} sy_redis_url_t;

/* Parse url into *out. Returns SY_OK, or SY_ECONFIG with err filled (err may
 * be NULL) saying what is wrong: an unknown or TLS scheme, an empty or
 * overlong host, a bad port or db, a relative or overlong socket path, bad
 * %-encoding, trailing text. */
sy_err_t sy_redis_url_parse(const char *url, sy_redis_url_t *out, sy_error_t *err);

typedef struct sy_redis_shared sy_redis_shared_t;

/* Health, as sy_redis_shared_stats reports it. */
enum { SY_REDIS_STATE_UNKNOWN = 0, SY_REDIS_STATE_UP = 1, SY_REDIS_STATE_DOWN = 2 };

typedef struct sy_redis_stats {
    int state;          /* SY_REDIS_STATE_*: UNKNOWN until a first connect ends */
    uint64_t ups;       /* changes to UP (from UNKNOWN or DOWN) */
    uint64_t downs;     /* changes to DOWN (from UNKNOWN or UP) */
    uint64_t commands;  /* commands sent (accepted by sy_redis_* calls) */
    uint64_t errors;    /* commands answered SY_REDIS_ERR, whatever the cause */
    uint64_t timeouts;  /* connect and command timeouts (events, not commands) */
    uint64_t refused;   /* commands refused at once because the connection was down */
    uint64_t failures;  /* connections that failed or were dropped */
} sy_redis_stats_t;

/* The process-wide object for url with the given timeouts (0 = the defaults).
 * Resolves a host name now (getaddrinfo, may block: call it at start-up).
 * Returns NULL with err filled (SY_ECONFIG for a bad URL or a name that does
 * not resolve, SY_ENOMEM). Connects nowhere. */
sy_redis_shared_t *sy_redis_shared_new(const char *url, uint32_t connect_timeout_ms,
                                       uint32_t command_timeout_ms, sy_error_t *err);
/* Free s. Every sy_redis_t and sy_redis_sub_t made on it must be freed
 * first. NULL is a no-op. */
void sy_redis_shared_free(sy_redis_shared_t *s);
/* 1 when the last connection event anywhere was a success, else 0. */
int sy_redis_shared_up(const sy_redis_shared_t *s);
/* Fill *st (each field read atomically; not one instant across fields). */
void sy_redis_shared_stats(const sy_redis_shared_t *s, sy_redis_stats_t *st);
/* The URL for logs and stats, without user and password. Never NULL. */
const char *sy_redis_shared_name(const sy_redis_shared_t *s);

typedef struct sy_redis sy_redis_t;

/* A client for base, not connected yet (the first command, or
 * sy_redis_connect, connects). Returns NULL when memory runs out. */
sy_redis_t *sy_redis_new(struct event_base *base, sy_redis_shared_t *s);
/* Start connecting now if the client has no connection and is not waiting
 * to retry one (a worker calls it at start so its first request finds the
 * connection made). Returns SY_OK when a connection is up or being made;
 * SY_EUPCONNECT when the attempt failed at once or the client is waiting to
 * retry, SY_ENOMEM when memory ran out (the retry timer runs in every error
 * case). */
sy_err_t sy_redis_connect(sy_redis_t *rc);
/* 1 when rc's connection is up (handshake answered), else 0. */
int sy_redis_ready(const sy_redis_t *rc);
/* Answer every pending command SY_REDIS_ERR ("client freed"), close the
 * connection and free rc. May be called from one of rc's callbacks. NULL is
 * a no-op. */
void sy_redis_free(sy_redis_t *rc);

typedef enum sy_redis_status { SY_REDIS_OK = 0, SY_REDIS_NIL, SY_REDIS_ERR } sy_redis_status_t;

/*
 * A command's answer. st SY_REDIS_OK: data[0..len) is a string or status
 * reply (binary-safe; NULL with len 0 for an integer reply) and integer is an
 * integer reply's value (0 otherwise). SY_REDIS_NIL: the key is absent or SET
 * NX did not set. SY_REDIS_ERR: the command failed (a timeout, a lost or
 * refused connection, an error reply, the client freed); data is a NUL-
 * terminated reason for logs. data lives only during the call.
 */
typedef void (*sy_redis_cb)(void *ud, sy_redis_status_t st, const char *data, size_t len,
                            long long integer);

/*
 * The commands. Each returns SY_OK when sent (cb, when not NULL, is called
 * exactly once later), or, with cb never called: SY_EUPCONNECT when the
 * connection is down, being retried, or failed to start; SY_ENOMEM when
 * memory runs out or SY_REDIS_MAX_PENDING commands are in flight; SY_EBADREQ
 * for bad arguments. Keys and values are binary-safe. cb NULL means fire and
 * forget (still timed out and counted).
 */
/* GET key: OK with the value, or NIL. */
sy_err_t sy_redis_get(sy_redis_t *rc, const void *key, size_t klen, sy_redis_cb cb, void *ud);
/* SET key val [PX ttl_ms] [NX] (ttl_ms 0: no expiry). OK ("OK"), or NIL when
 * nx is set and the key existed: OK vs NIL tells who acquired a lock. */
sy_err_t sy_redis_set(sy_redis_t *rc, const void *key, size_t klen, const void *val, size_t vlen,
                      uint64_t ttl_ms, int nx, sy_redis_cb cb, void *ud);
/* Delete key only if its value is val (one EVAL: a lock released by its
 * owner only). OK with integer 1 when deleted, 0 when not. */
sy_err_t sy_redis_del_if(sy_redis_t *rc, const void *key, size_t klen, const void *val, size_t vlen,
                         sy_redis_cb cb, void *ud);
/* PEXPIRE key ttl_ms (ttl_ms > 0): OK with integer 1 when set, 0 when the
 * key is absent. */
sy_err_t sy_redis_pexpire(sy_redis_t *rc, const void *key, size_t klen, uint64_t ttl_ms,
                          sy_redis_cb cb, void *ud);
/* PUBLISH channel msg, fire and forget. */
sy_err_t sy_redis_publish(sy_redis_t *rc, const char *channel, const void *msg, size_t len);

typedef struct sy_redis_sub sy_redis_sub_t;
/* Called for each message on the channel; msg lives only during the call.
 * The callback may free the subscriber. */
typedef void (*sy_redis_msg_cb)(void *ud, const char *msg, size_t len);

/* A subscriber on base to channel (a NUL-terminated name), connecting now and
 * resubscribing after every reconnect. Returns NULL when memory runs out or
 * channel is empty. */
sy_redis_sub_t *sy_redis_subscribe(struct event_base *base, sy_redis_shared_t *s,
                                   const char *channel, sy_redis_msg_cb on_msg, void *ud);
/* 1 once the server confirmed the subscription on the current connection. */
int sy_redis_sub_ready(const sy_redis_sub_t *sub);
/* Close and free. May be called from on_msg. NULL is a no-op. */
void sy_redis_sub_free(sy_redis_sub_t *sub);

#endif

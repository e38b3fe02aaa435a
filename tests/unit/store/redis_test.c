/*
 * redis_test.c - unit tests for src/store/redis.c against a real
 * redis-server started on a free loopback port (tests/unit/redis_harness.h)
 * and killed at the end of each test.
 *
 * Covered: the URL table; binary-safe set/get/nil; TTL (PX) and PEXPIRE
 * expiry; SET NX lock semantics and compare-and-delete; publish/subscribe;
 * AUTH and SELECT over TCP and a unix socket, and a wrong password; a server
 * killed mid-run (pending commands answered ERR at once, exactly once, state
 * DOWN logged once across three connections, fast refusal while down, then
 * recovery by itself after a restart, UP logged once, subscriber back); a
 * stopped server and DEBUG SLEEP (command timeout); a refused port and a
 * silent listener (connect timeout); frees from inside callbacks. Each test
 * drives an event_base in the test thread.
 */
#include "store/redis.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "redis_harness.h"

static sy_test_redis_t srv;
static struct event_base *base;
static sy_redis_shared_t *shared;

static void setup(void)
{
    sy_log_set_level(SY_LOG_ERROR); /* capture_begin turns state lines back on */
    base = event_base_new();
    cr_assert_not_null(base);
}

/* Runs after a failed assertion too: no server outlives its test. */
static void teardown(void)
{
    sy_test_redis_kill(&srv);
    sy_redis_shared_free(shared);
    shared = NULL;
    if (base)
        event_base_free(base);
    base = NULL;
}

TestSuite(redis, .init = setup, .fini = teardown, .timeout = 30);

static void start_server(const char *const *extra)
{
    cr_assert_eq(sy_test_redis_start(&srv, extra), 0, "redis-server did not start");
}

static sy_redis_shared_t *make_shared(const char *suffix, uint32_t connect_ms, uint32_t cmd_ms)
{
    char url[256];
    sy_error_t err;
    sy_test_redis_url(&srv, url, sizeof(url), suffix);
    sy_redis_shared_t *s = sy_redis_shared_new(url, connect_ms, cmd_ms, &err);
    cr_assert_not_null(s, "shared_new: %s", err.message);
    return s;
}

static sy_redis_stats_t stats(void)
{
    sy_redis_stats_t st;
    sy_redis_shared_stats(shared, &st);
    return st;
}

/* A callback recorder. */
struct rec {
    int calls;
    sy_redis_status_t st;
    char data[512];
    size_t len;
    long long integer;
    uint64_t at_ms;
};

static void rec_cb(void *ud, sy_redis_status_t st, const char *data, size_t len, long long integer)
{
    struct rec *r = ud;
    r->calls++;
    r->st = st;
    r->len = len;
    r->integer = integer;
    r->at_ms = sy_test_now_ms();
    memset(r->data, 0, sizeof(r->data));
    if (data)
        memcpy(r->data, data, len < sizeof(r->data) - 1 ? len : sizeof(r->data) - 1);
}

static int rec_done(void *arg)
{
    return ((struct rec *)arg)->calls > 0;
}

/* Wait for one callback (at most max_ms) and return the record. */
static struct rec wait_rec(struct rec *r, int max_ms)
{
    cr_assert(sy_test_run_until(base, rec_done, r, max_ms), "callback not called in %d ms", max_ms);
    return *r;
}

static struct rec do_get(sy_redis_t *rc, const void *key, size_t klen)
{
    struct rec r = {0};
    cr_assert_eq(sy_redis_get(rc, key, klen, rec_cb, &r), SY_OK);
    return wait_rec(&r, 2000);
}

static struct rec do_set(sy_redis_t *rc, const void *key, size_t klen, const void *val, size_t vlen,
                         uint64_t ttl_ms, int nx)
{
    struct rec r = {0};
    cr_assert_eq(sy_redis_set(rc, key, klen, val, vlen, ttl_ms, nx, rec_cb, &r), SY_OK);
    return wait_rec(&r, 2000);
}

static int rc_ready(void *arg)
{
    return sy_redis_ready(arg);
}

static int shared_up(void *arg)
{
    return sy_redis_shared_up(arg);
}

static int shared_down(void *arg)
{
    sy_redis_stats_t st;
    sy_redis_shared_stats(arg, &st);
    return st.state == SY_REDIS_STATE_DOWN;
}

/* A ready client on the test server. */
static sy_redis_t *ready_client(void)
{
    sy_redis_t *rc = sy_redis_new(base, shared);
    cr_assert_not_null(rc);
    cr_assert_eq(sy_redis_connect(rc), SY_OK);
    cr_assert(sy_test_run_until(base, rc_ready, rc, 2000), "client never became ready");
    return rc;
}

/* ---- stderr capture, to count log lines ---- */

struct capture {
    int saved; /* the real stderr */
    int fd;    /* the capture file, already unlinked: nothing is left behind */
};

static void capture_begin(struct capture *c)
{
    char path[64];
    sy_log_set_level(SY_LOG_INFO);
    snprintf(path, sizeof(path), "/tmp/sy-redis-log-%d", (int)getpid());
    c->fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    cr_assert(c->fd >= 0);
    unlink(path);
    fflush(stderr);
    c->saved = dup(2);
    dup2(c->fd, 2);
}

/* Count the captured lines containing needle so far. */
static int capture_count(struct capture *c, const char *needle)
{
    char buf[65536];
    ssize_t n = pread(c->fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    int count = 0;
    for (char *p = buf; (p = strstr(p, needle)); p += strlen(needle))
        count++;
    return count;
}

static void capture_end(struct capture *c)
{
    sy_log_set_level(SY_LOG_ERROR);
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    close(c->fd);
}

/* ---- URL parsing ---- */

Test(redis, url_table)
{
    static const struct {
        const char *url;
        int is_unix, port;
        const char *host, *path, *user, *password;
        long db;
    } cases[] = {
        {"redis://127.0.0.1:6380/2", 0, 6380, "127.0.0.1", "", "", "", 2},
        {"redis://localhost", 0, 6379, "localhost", "", "", "", 0},
        {"redis://localhost/", 0, 6379, "localhost", "", "", "", 0},
        {"redis://:s3cret@10.0.0.5:7000/15", 0, 7000, "10.0.0.5", "", "", "s3cret", 15},
        {"redis://app:p%40ss%3Aw@h:1/0", 0, 1, "h", "", "app", "p@ss:w", 0},
        {"redis://pw@h", 0, 6379, "h", "", "", "pw", 0},
        {"redis://a:b@c@h:2", 0, 2, "h", "", "a", "b@c", 0},
        {"redis://[::1]:6390/1", 0, 6390, "::1", "", "", "", 1},
        {"redis://[::1]", 0, 6379, "::1", "", "", "", 0},
        {"unix:///run/redis.sock", 1, 6379, "", "/run/redis.sock", "", "", 0},
        {"unix:///tmp/r.sock?db=4", 1, 6379, "", "/tmp/r.sock", "", "", 4},
        {"unix://:pw@/tmp/r.sock", 1, 6379, "", "/tmp/r.sock", "", "pw", 0},
    };
    static const char *const bad[] = {
        "rediss://h:6379",
        "http://h:6379",
        "",
        "redis://",
        "redis://:6379",
        "redis://h:",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:12a",
        "redis://h:6379/x",
        "redis://h:6379/1/2",
        "redis://h:6379/-1",
        "redis://h:6379?timeout=1",
        "redis://::1:6379",
        "redis://[::1",
        "redis://[::1]x",
        "redis://:p%4@h",
        "redis://:p%00@h",
        "unix://relative.sock",
        "unix://",
        "unix:///tmp/r.sock?db=x",
        "unix:///tmp/r.sock?timeout=1",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sy_redis_url_t u;
        sy_error_t err = {0};
        sy_err_t rc = sy_redis_url_parse(cases[i].url, &u, &err);
        cr_expect_eq(rc, SY_OK, "%s: %s", cases[i].url, err.message);
        if (rc != SY_OK)
            continue;
        cr_expect_eq(u.is_unix, cases[i].is_unix, "%s", cases[i].url);
        cr_expect_eq(u.port, cases[i].port, "%s", cases[i].url);
        cr_expect_str_eq(u.host, cases[i].host, "%s", cases[i].url);
        cr_expect_str_eq(u.path, cases[i].path, "%s", cases[i].url);
        cr_expect_str_eq(u.user, cases[i].user, "%s", cases[i].url);
        cr_expect_str_eq(u.password, cases[i].password, "%s", cases[i].url);
        cr_expect_eq(u.has_password, cases[i].password[0] != '\0', "%s", cases[i].url);
        cr_expect_eq(u.db, cases[i].db, "%s", cases[i].url);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sy_redis_url_t u;
        sy_error_t err = {0};
        sy_err_t rc = sy_redis_url_parse(bad[i], &u, &err);
        cr_expect_eq(rc, SY_ECONFIG, "%s should be refused", bad[i]);
        cr_expect_neq(err.message[0], '\0', "%s: no message", bad[i]);
    }
}

Test(redis, tls_and_bad_urls_refused_clearly)
{
    sy_error_t err = {0};
    cr_assert_null(sy_redis_shared_new("rediss://127.0.0.1:6379", 0, 0, &err));
    cr_assert_eq(err.code, SY_ECONFIG);
    cr_assert_not_null(strstr(err.message, "TLS"), "%s", err.message);
    cr_assert_null(sy_redis_shared_new("redis://no-such-host.invalid:6379", 0, 0, &err));
    cr_assert_eq(err.code, SY_ECONFIG);
    cr_assert_not_null(strstr(err.message, "resolve"), "%s", err.message);

    sy_redis_shared_t *s = sy_redis_shared_new("redis://:pw@localhost:6390/3", 0, 0, &err);
    cr_assert_not_null(s, "%s", err.message);
    cr_assert_str_eq(sy_redis_shared_name(s), "redis://localhost:6390/3", "no password in name");
    cr_assert_eq(sy_redis_shared_up(s), 0);
    sy_redis_shared_free(s);
}

/* ---- commands ---- */

Test(redis, set_get_nil_binary)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 0);
    sy_redis_t *rc = sy_redis_new(base, shared);

    const unsigned char key[] = {'k', 0, 0xff, '\r', '\n', 'z'};
    const unsigned char val[] = {0, 1, 2, 0xfe, 0xff, '$', '\r', '\n', 0, 'v'};
    /* the first command connects (lazily) and is queued meanwhile */
    struct rec r = do_set(rc, key, sizeof(key), val, sizeof(val), 0, 0);
    cr_assert_eq(r.st, SY_REDIS_OK, "%s", r.data);
    cr_assert_str_eq(r.data, "OK");
    r = do_get(rc, key, sizeof(key));
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.st, SY_REDIS_OK);
    cr_assert_eq(r.len, sizeof(val));
    cr_assert_arr_eq(r.data, val, sizeof(val));

    /* a key differing only after a NUL is another key */
    r = do_get(rc, key, 2);
    cr_assert_eq(r.st, SY_REDIS_NIL);
    cr_assert_eq(r.len, 0);

    /* an empty value is a value, not nil */
    do_set(rc, "empty", 5, "", 0, 0, 0);
    r = do_get(rc, "empty", 5);
    cr_assert_eq(r.st, SY_REDIS_OK);
    cr_assert_eq(r.len, 0);

    /* fire and forget, then a pipeline of 500 */
    cr_assert_eq(sy_redis_set(rc, "ff", 2, "x", 1, 0, 0, NULL, NULL), SY_OK);
    struct rec many[500];
    memset(many, 0, sizeof(many));
    for (int i = 0; i < 500; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "m%d", i);
        cr_assert_eq(sy_redis_set(rc, k, (size_t)n, k, (size_t)n, 0, 0, rec_cb, &many[i]), SY_OK);
    }
    cr_assert(sy_test_run_until(base, rec_done, &many[499], 2000));
    for (int i = 0; i < 500; i++)
        cr_assert_eq(many[i].calls, 1, "command %d answered %d times", i, many[i].calls);
    r = do_get(rc, "ff", 2);
    cr_assert_str_eq(r.data, "x");

    /* an error reply is an error status, and the connection stays */
    r = do_get(rc, "m1", 2);
    cr_assert_eq(r.st, SY_REDIS_OK);
    r = (struct rec){0};
    cr_assert_eq(sy_redis_pexpire(rc, "m1", 2, 0, rec_cb, &r), SY_EBADREQ);
    cr_assert_eq(r.calls, 0, "no callback when the call fails");

    sy_redis_stats_t st = stats();
    cr_assert_eq(st.state, SY_REDIS_STATE_UP);
    cr_assert_eq(st.ups, 1);
    cr_assert_eq(st.downs, 0);
    cr_assert_eq(st.errors, 0);
    cr_assert_eq(st.commands, 508);
    sy_redis_free(rc);
}

Test(redis, error_reply_is_err_and_connection_survives)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 0);
    sy_redis_t *rc = ready_client();
    /* a list under the key: GET answers WRONGTYPE */
    redisContext *side = sy_test_redis_connect(&srv);
    cr_assert_not_null(side);
    freeReplyObject(redisCommand(side, "RPUSH lst a"));
    redisFree(side);
    struct rec r = do_get(rc, "lst", 3);
    cr_assert_eq(r.st, SY_REDIS_ERR);
    cr_assert_not_null(strstr(r.data, "WRONGTYPE"), "%s", r.data);
    r = do_set(rc, "after", 5, "1", 1, 0, 0);
    cr_assert_eq(r.st, SY_REDIS_OK);
    cr_assert_eq(stats().errors, 1);
    cr_assert_eq(stats().downs, 0, "an error reply is not an outage");
    sy_redis_free(rc);
}

Test(redis, ttl_px_and_pexpire)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 0);
    sy_redis_t *rc = ready_client();

    cr_assert_eq(do_set(rc, "t1", 2, "v", 1, 150, 0).st, SY_REDIS_OK);
    cr_assert_eq(do_set(rc, "t2", 2, "v", 1, 0, 0).st, SY_REDIS_OK);
    struct rec r = {0};
    cr_assert_eq(sy_redis_pexpire(rc, "t2", 2, 150, rec_cb, &r), SY_OK);
    r = wait_rec(&r, 1000);
    cr_assert_eq(r.st, SY_REDIS_OK);
    cr_assert_eq(r.integer, 1);
    r = (struct rec){0};
    cr_assert_eq(sy_redis_pexpire(rc, "absent", 6, 150, rec_cb, &r), SY_OK);
    r = wait_rec(&r, 1000);
    cr_assert_eq(r.integer, 0, "PEXPIRE on a missing key answers 0");

    cr_assert_eq(do_get(rc, "t1", 2).st, SY_REDIS_OK, "still fresh");
    cr_assert_eq(do_get(rc, "t2", 2).st, SY_REDIS_OK, "still fresh");
    sy_test_run_until(base, NULL, NULL, 300);
    cr_assert_eq(do_get(rc, "t1", 2).st, SY_REDIS_NIL, "PX expired");
    cr_assert_eq(do_get(rc, "t2", 2).st, SY_REDIS_NIL, "PEXPIRE expired");
    sy_redis_free(rc);
}

Test(redis, nx_lock_and_del_if)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 0);
    sy_redis_t *rc = ready_client();
    const char lock[] = "lock:\x01\x02";

    struct rec r = do_set(rc, lock, sizeof(lock) - 1, "owner-a", 7, 5000, 1);
    cr_assert_eq(r.st, SY_REDIS_OK, "first NX acquires");
    r = do_set(rc, lock, sizeof(lock) - 1, "owner-b", 7, 5000, 1);
    cr_assert_eq(r.st, SY_REDIS_NIL, "second NX does not");
    cr_assert_str_eq(do_get(rc, lock, sizeof(lock) - 1).data, "owner-a");

    r = (struct rec){0};
    cr_assert_eq(sy_redis_del_if(rc, lock, sizeof(lock) - 1, "owner-b", 7, rec_cb, &r), SY_OK);
    r = wait_rec(&r, 1000);
    cr_assert_eq(r.st, SY_REDIS_OK, "%s", r.data);
    cr_assert_eq(r.integer, 0, "not the owner: nothing deleted");
    cr_assert_eq(do_get(rc, lock, sizeof(lock) - 1).st, SY_REDIS_OK);

    r = (struct rec){0};
    cr_assert_eq(sy_redis_del_if(rc, lock, sizeof(lock) - 1, "owner-a", 7, rec_cb, &r), SY_OK);
    r = wait_rec(&r, 1000);
    cr_assert_eq(r.integer, 1, "the owner deletes");
    cr_assert_eq(do_get(rc, lock, sizeof(lock) - 1).st, SY_REDIS_NIL);

    /* the lock is free again; a binary owner token works too */
    const char tok[] = {'a', 0, 'b'};
    cr_assert_eq(do_set(rc, lock, sizeof(lock) - 1, tok, 3, 5000, 1).st, SY_REDIS_OK);
    r = (struct rec){0};
    cr_assert_eq(sy_redis_del_if(rc, lock, sizeof(lock) - 1, tok, 2, rec_cb, &r), SY_OK);
    cr_assert_eq(wait_rec(&r, 1000).integer, 0, "a prefix of the token is not the token");
    r = (struct rec){0};
    cr_assert_eq(sy_redis_del_if(rc, lock, sizeof(lock) - 1, tok, 3, rec_cb, &r), SY_OK);
    cr_assert_eq(wait_rec(&r, 1000).integer, 1);
    sy_redis_free(rc);
}

/* ---- pub/sub ---- */

struct inbox {
    int n;
    char last[256];
    size_t last_len;
};

static void inbox_cb(void *ud, const char *msg, size_t len)
{
    struct inbox *in = ud;
    in->n++;
    in->last_len = len < sizeof(in->last) ? len : sizeof(in->last);
    memcpy(in->last, msg, in->last_len);
}

static int sub_ready(void *arg)
{
    return sy_redis_sub_ready(arg);
}

struct inbox_wait {
    struct inbox *in;
    int n;
};

static int inbox_has(void *arg)
{
    struct inbox_wait *w = arg;
    return w->in->n >= w->n;
}

Test(redis, publish_subscribe)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 0);
    struct inbox in = {0}, other = {0};
    sy_redis_sub_t *sub = sy_redis_subscribe(base, shared, "sy:test", inbox_cb, &in);
    sy_redis_sub_t *sub2 = sy_redis_subscribe(base, shared, "sy:other", inbox_cb, &other);
    cr_assert_not_null(sub);
    cr_assert_not_null(sub2);
    cr_assert(sy_test_run_until(base, sub_ready, sub, 2000), "never subscribed");
    cr_assert(sy_test_run_until(base, sub_ready, sub2, 2000), "never subscribed");
    sy_redis_t *rc = ready_client();

    const char msg[] = {'h', 'i', 0, '\xff', '\n'};
    cr_assert_eq(sy_redis_publish(rc, "sy:test", msg, sizeof(msg)), SY_OK);
    cr_assert_eq(sy_redis_publish(rc, "sy:test", "second", 6), SY_OK);
    struct inbox_wait w = {&in, 2};
    cr_assert(sy_test_run_until(base, inbox_has, &w, 2000), "messages not delivered");
    cr_assert_eq(in.n, 2);
    cr_assert_eq(in.last_len, 6);
    cr_assert_arr_eq(in.last, "second", 6);
    cr_assert_eq(other.n, 0, "another channel's subscriber gets nothing");

    in = (struct inbox){0};
    cr_assert_eq(sy_redis_publish(rc, "sy:test", msg, sizeof(msg)), SY_OK);
    w.n = 1;
    cr_assert(sy_test_run_until(base, inbox_has, &w, 2000));
    cr_assert_eq(in.last_len, sizeof(msg));
    cr_assert_arr_eq(in.last, msg, sizeof(msg), "binary message intact");

    cr_assert_null(sy_redis_subscribe(base, shared, "", inbox_cb, &in));
    sy_redis_sub_free(sub);
    sy_redis_sub_free(sub2);
    sy_redis_free(rc);
}

/* ---- AUTH, SELECT, unix socket ---- */

static const char *const auth_args[] = {"--requirepass", "s3cret", NULL};

Test(redis, auth_select_tcp_and_unix)
{
    start_server(auth_args);
    char url[256];
    sy_error_t err;
    snprintf(url, sizeof(url), "unix://:s3cret@%s?db=3", srv.sock);
    shared = sy_redis_shared_new(url, 0, 0, &err);
    cr_assert_not_null(shared, "%s", err.message);
    sy_redis_t *rc = sy_redis_new(base, shared);
    cr_assert_eq(do_set(rc, "where", 5, "db3-unix", 8, 0, 0).st, SY_REDIS_OK);
    sy_redis_free(rc);
    sy_redis_shared_free(shared);

    snprintf(url, sizeof(url), "redis://:s3cret@127.0.0.1:%d/5", srv.port);
    shared = sy_redis_shared_new(url, 0, 0, &err);
    cr_assert_not_null(shared, "%s", err.message);
    rc = sy_redis_new(base, shared);
    cr_assert_eq(do_set(rc, "where", 5, "db5-tcp", 7, 0, 0).st, SY_REDIS_OK);
    cr_assert_str_eq(do_get(rc, "where", 5).data, "db5-tcp");
    sy_redis_free(rc);

    /* check from the side which database each value landed in */
    redisContext *side = sy_test_redis_connect(&srv);
    cr_assert_not_null(side);
    freeReplyObject(redisCommand(side, "AUTH s3cret"));
    redisReply *r;
    freeReplyObject(redisCommand(side, "SELECT 3"));
    r = redisCommand(side, "GET where");
    cr_assert_str_eq(r->str, "db3-unix");
    freeReplyObject(r);
    freeReplyObject(redisCommand(side, "SELECT 5"));
    r = redisCommand(side, "GET where");
    cr_assert_str_eq(r->str, "db5-tcp");
    freeReplyObject(r);
    freeReplyObject(redisCommand(side, "SELECT 0"));
    r = redisCommand(side, "GET where");
    cr_assert_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    redisFree(side);
}

Test(redis, wrong_password_is_down_with_reason)
{
    start_server(auth_args);
    char url[256];
    sy_error_t err;
    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d", srv.port);
    shared = sy_redis_shared_new(url, 0, 0, &err);
    cr_assert_not_null(shared);
    struct capture cap;
    capture_begin(&cap);
    sy_redis_t *rc = sy_redis_new(base, shared);
    struct rec r = {0};
    cr_assert_eq(sy_redis_get(rc, "k", 1, rec_cb, &r), SY_OK, "queued while connecting");
    wait_rec(&r, 1000);
    int downs = capture_count(&cap, "\"redis down\"");
    int auth = capture_count(&cap, "AUTH");
    capture_end(&cap);
    cr_assert_eq(r.st, SY_REDIS_ERR);
    cr_assert_not_null(strstr(r.data, "AUTH"), "%s", r.data);
    cr_assert_eq(downs, 1);
    cr_assert_geq(auth, 1, "the reason names AUTH");
    cr_assert_eq(stats().state, SY_REDIS_STATE_DOWN);
    /* and without a password: PING is refused (NOAUTH) */
    sy_redis_free(rc);
    sy_redis_shared_free(shared);
    shared = make_shared(NULL, 0, 0);
    rc = sy_redis_new(base, shared);
    r = (struct rec){0};
    cr_assert_eq(sy_redis_get(rc, "k", 1, rec_cb, &r), SY_OK);
    wait_rec(&r, 1000);
    cr_assert_eq(r.st, SY_REDIS_ERR);
    cr_assert_not_null(strstr(r.data, "NOAUTH"), "%s", r.data);
    cr_assert_eq(sy_redis_ready(rc), 0);
    sy_redis_free(rc);
}

/* ---- failures ---- */

struct many {
    struct rec r[10];
};

static int many_done(void *arg)
{
    struct many *m = arg;
    for (int i = 0; i < 10; i++)
        if (!m->r[i].calls)
            return 0;
    return 1;
}

struct pair {
    sy_redis_t *a, *b;
};

static int both_ready(void *arg)
{
    struct pair *p = arg;
    return sy_redis_ready(p->a) && sy_redis_ready(p->b);
}

Test(redis, killed_server_fails_fast_then_recovers)
{
    start_server(NULL);
    /* a long command timeout: errors below come from the lost connection */
    shared = make_shared(NULL, 0, 2000);
    struct inbox in = {0};
    sy_redis_sub_t *sub = sy_redis_subscribe(base, shared, "sy:ev", inbox_cb, &in);
    struct pair p = {ready_client(), ready_client()}; /* two "workers" */
    cr_assert(sy_test_run_until(base, sub_ready, sub, 2000));
    cr_assert_eq(do_set(p.a, "k", 1, "v1", 2, 0, 0).st, SY_REDIS_OK);

    struct capture cap;
    capture_begin(&cap);

    /* commands in flight when the server dies */
    sy_test_redis_pause(&srv);
    struct many m;
    memset(&m, 0, sizeof(m));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(sy_redis_get(i < 5 ? p.a : p.b, "k", 1, rec_cb, &m.r[i]), SY_OK);
    sy_test_run_until(base, NULL, NULL, 20); /* let them be written */
    uint64_t t0 = sy_test_now_ms();
    sy_test_redis_kill(&srv);
    int all = sy_test_run_until(base, many_done, &m, 1500);
    uint64_t took = sy_test_now_ms() - t0;
    sy_test_run_until(base, NULL, NULL, 50); /* a second answer would show now */
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(m.r[i].calls, 1, "command %d answered %d times", i, m.r[i].calls);
        cr_assert_eq(m.r[i].st, SY_REDIS_ERR);
        cr_assert_not_null(strstr(m.r[i].data, "connection lost"), "%s", m.r[i].data);
    }
    cr_assert(all);
    cr_assert_lt(took, 500, "errors took %llu ms (command timeout is 2000)",
                 (unsigned long long)took);

    sy_redis_stats_t st = stats();
    cr_assert_eq(st.state, SY_REDIS_STATE_DOWN);
    cr_assert_eq(st.downs, 1);
    cr_assert_geq(st.failures, 3, "three connections failed");
    cr_assert_eq(st.errors, 10);
    cr_assert_eq(sy_redis_shared_up(shared), 0);
    cr_assert_eq(sy_redis_ready(p.a), 0);

    /* while down: refused at once, no connect per call */
    uint64_t failures = st.failures;
    struct rec r = {0};
    t0 = sy_test_now_ms();
    for (int i = 0; i < 100; i++)
        cr_assert_eq(sy_redis_get(p.a, "k", 1, rec_cb, &r), SY_EUPCONNECT);
    cr_assert_lt(sy_test_now_ms() - t0, 50);
    cr_assert_eq(r.calls, 0, "a refused command is never called back");
    cr_assert_eq(stats().failures, failures, "no connect attempt per call");
    cr_assert_geq(stats().refused, 100);

    /* the retry timers keep failing quietly */
    sy_test_run_until(base, NULL, NULL, 400);
    cr_assert_gt(stats().failures, failures, "reconnects are tried");
    cr_assert_eq(stats().downs, 1);

    /* back on the same port: UP by itself, commands work on both workers */
    cr_assert_eq(sy_test_redis_restart(&srv), 0);
    cr_assert(sy_test_run_until(base, shared_up, shared, 6000), "never came back up");
    cr_assert(sy_test_run_until(base, both_ready, &p, 6000), "a worker never reconnected");
    cr_assert_eq(do_set(p.a, "k", 1, "v2", 2, 0, 0).st, SY_REDIS_OK);
    cr_assert_str_eq(do_get(p.b, "k", 1).data, "v2");
    cr_assert(sy_test_run_until(base, sub_ready, sub, 6000), "subscriber never came back");
    cr_assert_eq(sy_redis_publish(p.a, "sy:ev", "back", 4), SY_OK);
    struct inbox_wait w = {&in, 1};
    cr_assert(sy_test_run_until(base, inbox_has, &w, 2000), "resubscribed channel got nothing");

    int downs = capture_count(&cap, "\"redis down\"");
    int ups = capture_count(&cap, "\"redis up\"");
    capture_end(&cap);
    cr_assert_eq(downs, 1, "DOWN logged %d times", downs);
    cr_assert_eq(ups, 1, "UP logged %d times", ups);
    st = stats();
    cr_assert_eq(st.state, SY_REDIS_STATE_UP);
    cr_assert_eq(st.ups, 2);
    cr_assert_eq(st.downs, 1);

    sy_redis_sub_free(sub);
    sy_redis_free(p.a);
    sy_redis_free(p.b);
}

/* A worker thread with its own event_base and client, sending a GET every
 * 5 ms until told to stop, counting answers after the restart. */
struct worker {
    pthread_t th;
    sy_redis_shared_t *s;
    atomic_int ready, stop, errs, oks_after, restarted;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct event_base *b = event_base_new();
    sy_redis_t *rc = sy_redis_new(b, w->s);
    sy_redis_connect(rc);
    sy_test_run_until(b, rc_ready, rc, 3000);
    atomic_store(&w->ready, sy_redis_ready(rc) ? 1 : -1);
    while (!atomic_load(&w->stop)) {
        struct rec r = {0};
        int after = atomic_load(&w->restarted);
        if (sy_redis_get(rc, "k", 1, rec_cb, &r) == SY_OK) {
            sy_test_run_until(b, rec_done, &r, 3000);
            if (r.st == SY_REDIS_ERR)
                atomic_fetch_add(&w->errs, 1);
            else if (after)
                atomic_fetch_add(&w->oks_after, 1);
        }
        sy_test_run_until(b, NULL, NULL, 5);
    }
    sy_redis_free(rc);
    event_base_free(b);
    return NULL;
}

struct crew {
    struct worker *w;
    int n;
};

static int crew_recovered(void *arg)
{
    struct crew *c = arg;
    for (int i = 0; i < c->n; i++)
        if (atomic_load(&c->w[i].oks_after) == 0)
            return 0;
    return 1;
}

Test(redis, worker_threads_share_one_state_logged_once)
{
    enum { N = 4 };
    static struct worker w[N];
    start_server(NULL);
    shared = make_shared(NULL, 0, 100);
    for (int i = 0; i < N; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].s = shared;
        cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        while (atomic_load(&w[i].ready) == 0)
            usleep(1000);
        cr_assert_eq(atomic_load(&w[i].ready), 1, "worker %d never connected", i);
    }
    struct capture cap;
    capture_begin(&cap);
    sy_test_redis_kill(&srv);
    usleep(300000);
    cr_assert_eq(stats().state, SY_REDIS_STATE_DOWN);
    cr_assert_eq(sy_test_redis_restart(&srv), 0);
    for (int i = 0; i < N; i++)
        atomic_store(&w[i].restarted, 1);
    struct crew c = {w, N};
    sy_test_run_until(base, crew_recovered, &c, 6000);
    for (int i = 0; i < N; i++)
        atomic_store(&w[i].stop, 1);
    for (int i = 0; i < N; i++)
        pthread_join(w[i].th, NULL);
    int downs = capture_count(&cap, "\"redis down\"");
    int ups = capture_count(&cap, "\"redis up\"");
    capture_end(&cap);
    cr_assert(crew_recovered(&c), "a worker never recovered");
    sy_redis_stats_t st = stats();
    cr_assert_eq(st.downs, 1, "%llu downs", (unsigned long long)st.downs);
    cr_assert_eq(st.ups, 2);
    cr_assert_eq(downs, 1);
    cr_assert_eq(ups, 1);
    cr_assert_geq(st.failures, N, "every worker's connection failed");
}

Test(redis, stopped_server_times_out_then_recovers)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 100);
    sy_redis_t *rc = ready_client();
    cr_assert_eq(do_set(rc, "k", 1, "v", 1, 0, 0).st, SY_REDIS_OK);

    sy_test_redis_pause(&srv);
    struct rec r = {0};
    uint64_t t0 = sy_test_now_ms();
    cr_assert_eq(sy_redis_get(rc, "k", 1, rec_cb, &r), SY_OK);
    wait_rec(&r, 2000);
    uint64_t took = r.at_ms - t0;
    cr_assert_eq(r.st, SY_REDIS_ERR);
    cr_assert_str_eq(r.data, "command timeout");
    cr_assert_geq(took, 90, "timed out early: %llu ms", (unsigned long long)took);
    cr_assert_lt(took, 250, "timed out late: %llu ms", (unsigned long long)took);
    cr_assert_eq(stats().timeouts, 1);
    cr_assert_eq(stats().state, SY_REDIS_STATE_DOWN);

    /* reconnects reach the kernel's backlog but the handshake never
     * answers: they time out and the state stays DOWN */
    sy_test_run_until(base, NULL, NULL, 700);
    cr_assert_eq(stats().state, SY_REDIS_STATE_DOWN);
    cr_assert_geq(stats().timeouts, 2, "connect attempts time out too");
    cr_assert_eq(stats().downs, 1);

    sy_test_redis_resume(&srv);
    cr_assert(sy_test_run_until(base, rc_ready, rc, 6000), "never recovered");
    cr_assert_str_eq(do_get(rc, "k", 1).data, "v");
    cr_assert_eq(stats().ups, 2);
    cr_assert_eq(r.calls, 1, "the timed-out command was answered once");
    sy_redis_free(rc);
}

static void *debug_sleep(void *arg)
{
    redisContext *c = arg;
    redisReply *r = redisCommand(c, "DEBUG SLEEP 0.6");
    if (r)
        freeReplyObject(r);
    return NULL;
}

Test(redis, debug_sleep_times_out_within_command_timeout)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 100);
    sy_redis_t *rc = ready_client();
    redisContext *side = sy_test_redis_connect(&srv);
    cr_assert_not_null(side);
    struct timeval tv = {3, 0};
    redisSetTimeout(side, tv);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, debug_sleep, side), 0);
    usleep(100000); /* the server is asleep now */

    struct rec r = {0};
    uint64_t t0 = sy_test_now_ms();
    cr_assert_eq(sy_redis_get(rc, "k", 1, rec_cb, &r), SY_OK);
    wait_rec(&r, 2000);
    uint64_t took = r.at_ms - t0;
    cr_assert_eq(r.st, SY_REDIS_ERR);
    cr_assert_str_eq(r.data, "command timeout");
    cr_assert_lt(took, 250, "took %llu ms", (unsigned long long)took);
    pthread_join(th, NULL);
    redisFree(side);

    cr_assert(sy_test_run_until(base, rc_ready, rc, 6000), "never recovered");
    cr_assert_eq(do_get(rc, "k", 1).st, SY_REDIS_NIL);
    sy_redis_free(rc);
}

Test(redis, refused_port_fails_within_connect_timeout)
{
    srv.port = sy_test_free_port(); /* nothing listens there */
    shared = make_shared(NULL, 200, 100);
    sy_redis_t *rc = sy_redis_new(base, shared);
    struct rec r = {0};
    uint64_t t0 = sy_test_now_ms();
    sy_err_t e = sy_redis_get(rc, "k", 1, rec_cb, &r);
    if (e == SY_OK) { /* the refusal may come back from the loop */
        wait_rec(&r, 1000);
        cr_assert_eq(r.st, SY_REDIS_ERR);
    } else {
        cr_assert_eq(e, SY_EUPCONNECT);
        cr_assert_eq(r.calls, 0);
    }
    cr_assert_lt(sy_test_now_ms() - t0, 250);
    cr_assert(sy_test_run_until(base, shared_down, shared, 500));
    cr_assert_eq(stats().downs, 1);
    cr_assert_eq(sy_redis_get(rc, "k", 1, rec_cb, &r), SY_EUPCONNECT, "fails fast while down");
    sy_redis_free(rc);
}

Test(redis, silent_listener_hits_connect_timeout)
{
    /* a listener that never accepts: TCP connects, the handshake never answers */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof(a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 64), 0);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    srv.port = ntohs(a.sin_port);
    shared = make_shared(NULL, 150, 100);

    sy_redis_t *rc = sy_redis_new(base, shared);
    struct rec r = {0};
    uint64_t t0 = sy_test_now_ms();
    cr_assert_eq(sy_redis_get(rc, "k", 1, rec_cb, &r), SY_OK, "queued while connecting");
    wait_rec(&r, 2000);
    uint64_t took = r.at_ms - t0;
    cr_assert_eq(r.st, SY_REDIS_ERR);
    cr_assert_str_eq(r.data, "connect timeout");
    cr_assert_geq(took, 140, "%llu ms", (unsigned long long)took);
    cr_assert_lt(took, 300, "%llu ms", (unsigned long long)took);
    cr_assert_eq(stats().timeouts, 1);
    cr_assert_eq(stats().state, SY_REDIS_STATE_DOWN);
    cr_assert_eq(sy_redis_get(rc, "k", 1, rec_cb, &r), SY_EUPCONNECT);

    /* it keeps retrying on its timer, each attempt bounded, nothing hangs */
    sy_test_run_until(base, NULL, NULL, 800);
    cr_assert_geq(stats().timeouts, 2);
    cr_assert_eq(stats().downs, 1);
    sy_redis_free(rc);
    close(fd);
}

/* ---- lifetimes ---- */

struct killer {
    sy_redis_t *rc;
    int calls;
};

static void free_in_cb(void *ud, sy_redis_status_t st, const char *data, size_t len,
                       long long integer)
{
    struct killer *k = ud;
    k->calls++;
    sy_redis_free(k->rc);
}

Test(redis, free_from_inside_a_callback)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 0);
    sy_redis_t *rc = ready_client();
    struct killer k = {rc, 0};
    struct rec rest[5];
    memset(rest, 0, sizeof(rest));
    cr_assert_eq(sy_redis_get(rc, "a", 1, free_in_cb, &k), SY_OK);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sy_redis_get(rc, "b", 1, rec_cb, &rest[i]), SY_OK);
    cr_assert(sy_test_run_until(base, rec_done, &rest[4], 2000));
    sy_test_run_until(base, NULL, NULL, 50);
    cr_assert_eq(k.calls, 1);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(rest[i].calls, 1);
        cr_assert_eq(rest[i].st, SY_REDIS_ERR);
        cr_assert_str_eq(rest[i].data, "client freed");
    }

    /* freed from an error callback during a teardown (server killed) */
    rc = ready_client();
    k = (struct killer){rc, 0};
    memset(rest, 0, sizeof(rest));
    sy_test_redis_pause(&srv);
    cr_assert_eq(sy_redis_get(rc, "a", 1, free_in_cb, &k), SY_OK);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sy_redis_get(rc, "b", 1, rec_cb, &rest[i]), SY_OK);
    sy_test_run_until(base, NULL, NULL, 20);
    sy_test_redis_kill(&srv);
    cr_assert(sy_test_run_until(base, rec_done, &rest[4], 2000));
    sy_test_run_until(base, NULL, NULL, 50);
    cr_assert_eq(k.calls, 1);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(rest[i].calls, 1);
}

Test(redis, free_with_pending_commands_answers_them)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 0);
    sy_redis_t *rc = sy_redis_new(base, shared);
    struct rec r[3];
    memset(r, 0, sizeof(r));
    /* queued while connecting, then freed before the loop runs */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sy_redis_get(rc, "k", 1, rec_cb, &r[i]), SY_OK);
    sy_redis_free(rc);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(r[i].calls, 1);
        cr_assert_eq(r[i].st, SY_REDIS_ERR);
    }
    sy_test_run_until(base, NULL, NULL, 50);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(r[i].calls, 1, "answered once only");
    sy_redis_free(NULL);
    sy_redis_sub_free(NULL);
}

struct sub_killer {
    sy_redis_sub_t *sub;
    int n;
};

static void free_sub_in_cb(void *ud, const char *msg, size_t len)
{
    struct sub_killer *k = ud;
    k->n++;
    sy_redis_sub_free(k->sub);
}

static int sub_killed(void *arg)
{
    return ((struct sub_killer *)arg)->n > 0;
}

Test(redis, subscriber_freed_from_its_callback)
{
    start_server(NULL);
    shared = make_shared(NULL, 0, 0);
    struct sub_killer k = {0};
    k.sub = sy_redis_subscribe(base, shared, "sy:k", free_sub_in_cb, &k);
    cr_assert(sy_test_run_until(base, sub_ready, k.sub, 2000));
    sy_redis_t *rc = ready_client();
    cr_assert_eq(sy_redis_publish(rc, "sy:k", "1", 1), SY_OK);
    cr_assert_eq(sy_redis_publish(rc, "sy:k", "2", 1), SY_OK);
    cr_assert(sy_test_run_until(base, sub_killed, &k, 2000));
    sy_test_run_until(base, NULL, NULL, 50);
    cr_assert_eq(k.n, 1, "no message after the free");
    sy_redis_free(rc);
}

/*
 * sqlite.c - the SQLite tier of the exact cache (see sqlite.h).
 *
 * Three kinds of thread meet here:
 *
 *   - callers (event loops) put ops on the write queue (a FIFO list bounded
 *     by count and bytes, under wmu) and gets on the read queue (a ring,
 *     under rmu), and never touch SQLite;
 *   - one writer thread owns the writing connection: it takes a batch of
 *     ops and the hits the readers recorded, writes them in one transaction,
 *     evicts down to the bound before committing, then reads the totals
 *     back; between batches it runs the cleanup pass on its timer or when
 *     asked;
 *   - reader threads, each with a connection of its own (query_only), pop
 *     gets, look the key up and call back.
 *
 * The file keeps its own totals (entries, bytes charged, vectors) in a
 * one-row table maintained by triggers, so they are exact across crashes
 * and processes and cost one small row update per write. Deleting an entry
 * deletes its vectors by trigger too.
 *
 * Recency is a counter (last_use), not a clock: the writer gives each put
 * and each recorded hit the next value, so eviction order does not depend
 * on anyone's clock. It resumes from the largest value in the file.
 */
#include "cache/sqlite.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/embed.h"
#include "core/log.h"

#define APP_ID 0x53594331 /* "SYC1": PRAGMA application_id of a Switchyard cache */
#define DEFAULT_CLEANUP_MS 5000
#define DEFAULT_WRITE_QUEUE 4096
#define DEFAULT_WRITE_QUEUE_BYTES (64u << 20)
#define DEFAULT_READ_QUEUE 1024
#define DEFAULT_READERS 2
#define MAX_READERS 16
#define BATCH_OPS 512           /* ops per write transaction at most */
#define BATCH_BYTES (8u << 20)  /* payload bytes per write transaction, past the first op */
#define TOUCH_MAX 4096          /* hits remembered for the writer; more are forgotten */
#define TOUCH_WAKE 512          /* wake the writer when this many hits wait */
#define TOUCH_DELAY_MS 1000     /* ... or when the oldest has waited this long */
#define CLEANUP_CHUNK 1000      /* expired rows deleted per transaction */
#define EVICT_CHUNK 64          /* coldest rows read per eviction step */
#define BUSY_TIMEOUT_MS 5000
#define CLOSE_WAIT_MS 5000
#define WAL_SIZE_LIMIT (64 << 20) /* PRAGMA journal_size_limit */

static const char SCHEMA_V1[] =
    "CREATE TABLE entries("
    " id INTEGER PRIMARY KEY,"
    " key BLOB NOT NULL UNIQUE,"
    " expire_ms INTEGER NOT NULL,"
    " last_use INTEGER NOT NULL,"
    " charge INTEGER NOT NULL,"
    " value BLOB NOT NULL);"
    "CREATE INDEX entries_last_use ON entries(last_use);"
    "CREATE INDEX entries_expire ON entries(expire_ms) WHERE expire_ms > 0;"
    "CREATE TABLE vecs("
    " id INTEGER PRIMARY KEY,"
    " key BLOB NOT NULL,"
    " part BLOB NOT NULL,"
    " expire_ms INTEGER NOT NULL,"
    " charge INTEGER NOT NULL,"
    " dims INTEGER NOT NULL,"
    " feat BLOB NOT NULL,"
    " vec BLOB NOT NULL,"
    " UNIQUE(key, part));"
    "CREATE INDEX vecs_expire ON vecs(expire_ms) WHERE expire_ms > 0;"
    "CREATE TABLE totals("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " entries INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " vectors INTEGER NOT NULL);"
    "INSERT INTO totals VALUES (1, 0, 0, 0);"
    "CREATE TRIGGER entries_ins AFTER INSERT ON entries BEGIN"
    " UPDATE totals SET entries = entries + 1, bytes = bytes + new.charge WHERE id = 1; END;"
    "CREATE TRIGGER entries_upd AFTER UPDATE OF charge ON entries BEGIN"
    " UPDATE totals SET bytes = bytes - old.charge + new.charge WHERE id = 1; END;"
    "CREATE TRIGGER entries_del AFTER DELETE ON entries BEGIN"
    " UPDATE totals SET entries = entries - 1, bytes = bytes - old.charge WHERE id = 1;"
    " DELETE FROM vecs WHERE key = old.key; END;"
    "CREATE TRIGGER vecs_ins AFTER INSERT ON vecs BEGIN"
    " UPDATE totals SET vectors = vectors + 1, bytes = bytes + new.charge WHERE id = 1; END;"
    "CREATE TRIGGER vecs_upd AFTER UPDATE OF charge ON vecs BEGIN"
    " UPDATE totals SET bytes = bytes - old.charge + new.charge WHERE id = 1; END;"
    "CREATE TRIGGER vecs_del AFTER DELETE ON vecs BEGIN"
    " UPDATE totals SET vectors = vectors - 1, bytes = bytes - old.charge WHERE id = 1; END;";

enum op_kind { OP_PUT, OP_DEL, OP_VEC };

/* A queued write. data holds the value (OP_PUT) or the vector's floats
 * followed by the features (OP_VEC). */
struct op {
    struct op *next;
    enum op_kind kind;
    uint64_t seq;
    int64_t expire_ms;
    size_t len;      /* OP_PUT: value bytes; OP_VEC: dims */
    size_t feat_len; /* OP_VEC */
    size_t qbytes;   /* what the op counts against write_queue_bytes */
    unsigned char key[SY_SQLCACHE_KEY_LEN];
    unsigned char part[SY_SQLCACHE_KEY_LEN];
    unsigned char data[];
};

struct getreq {
    unsigned char key[SY_SQLCACHE_KEY_LEN];
    uint64_t now_ms;
    sy_sqlcache_get_cb cb;
    void *ud;
};

struct reader {
    sy_sqlcache_t *c;
    sqlite3 *db;
    sqlite3_stmt *get;
    pthread_t th;
    int started;
};

/* The writer connection's statements, prepared once. */
struct wstmts {
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *put, *del, *vec, *touch;
    sqlite3_stmt *totals, *cold, *del_id;
    sqlite3_stmt *expire_entries, *expire_vecs;
};

struct sy_sqlcache {
    char *path;
    uint64_t max_bytes, cleanup_ms;
    uint64_t max_value; /* SQLite's length limit on a row, less room for the other columns */
    size_t wq_max, wq_max_bytes, rq_max;

    /* write side, under wmu */
    pthread_mutex_t wmu;
    pthread_cond_t wcond; /* the writer sleeps on it */
    pthread_cond_t wdone; /* flush and cleanup wait on it */
    struct op *head, **tailp;
    size_t wq_len, wq_bytes;
    uint64_t enq_seq, committed_seq;
    uint64_t flush_gen, flush_done;
    uint64_t clean_gen, clean_done, clean_now;
    unsigned char (*touch)[SY_SQLCACHE_KEY_LEN];
    size_t ntouch;
    int closing, writer_running;
    pthread_t writer;
    int writer_started;

    /* the writer thread's own */
    sqlite3 *wdb;
    struct wstmts ws;
    unsigned char (*touch_work)[SY_SQLCACHE_KEY_LEN];
    int64_t tick; /* the last last_use given */
    int failing;  /* the last write failed: log the next success */

    /* read side, under rmu */
    pthread_mutex_t rmu;
    pthread_cond_t rcond;
    struct getreq *ring;
    size_t rhead, rlen;
    int rclosing;
    struct reader readers[MAX_READERS];
    unsigned nreaders;

    _Atomic uint64_t entries, bytes, vectors;
    _Atomic uint64_t hits, misses, expired, evictions, puts, dropped, errors, busy, refused, deletes;
};

#define BUMP(c, field, n) atomic_fetch_add_explicit(&(c)->field, (uint64_t)(n), memory_order_relaxed)

uint64_t sy_sqlcache_charge(size_t len)
{
    return (uint64_t)len + SY_SQLCACHE_ROW_OVERHEAD;
}

uint64_t sy_sqlcache_vec_charge(size_t dims, size_t feat_len)
{
    return (uint64_t)dims * sizeof(float) + feat_len + SY_SQLCACHE_ROW_OVERHEAD;
}

static int64_t clamp64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait on cv until the monotonic time until_ms (UINT64_MAX: no limit). */
static void wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t until_ms)
{
    if (until_ms == UINT64_MAX) {
        pthread_cond_wait(cv, mu);
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000), .tv_nsec = (long)(until_ms % 1000) * 1000000};
    pthread_cond_timedwait(cv, mu, &ts);
}

static int cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* ---- opening ------------------------------------------------------------- */

/* mkdir -p of path's parent directories (mode 0700). Returns 0, or errno
 * with the directory that failed in dir. */
static int make_parents(const char *path, char *dir, size_t dircap)
{
    size_t n = strlen(path);
    if (n >= dircap)
        return ENAMETOOLONG;
    memcpy(dir, path, n + 1);
    for (char *s = dir + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            return e;
        }
        *s = '/';
    }
    return 0;
}

/* One integer from a statement returning one row (a PRAGMA). Returns the
 * SQLite result code; *out is set on SQLITE_OK. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static sy_err_t fail_db(sy_error_t *err, const char *path, sqlite3 *db, int rc, const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
        return sy_error_fail(err, SY_EIO, NULL, "sqlite cache %s: %s: %s (not an SQLite file, or corrupt)", path,
                             what, msg);
    return sy_error_fail(err, SY_EIO, NULL, "sqlite cache %s: %s: %s", path, what, msg);
}

/* Open a connection with the tier's settings. Readers (create 0) are
 * query_only and never create the file. */
static sy_err_t connect_db(const char *path, int create, sqlite3 **out, sy_error_t *err)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        sy_err_t e = fail_db(err, path, db, rc, "cannot open");
        sqlite3_close(db);
        return e;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    if (!create && (rc = sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL)) != SQLITE_OK) {
        sy_err_t e = fail_db(err, path, db, rc, "cannot open a reader");
        sqlite3_close(db);
        return e;
    }
    *out = db;
    return SY_OK;
}

/* Read what the file is (its mark, schema version and number of schema
 * objects) and refuse it unless it is new or a Switchyard cache this build
 * can read. Returns SY_OK with *ver set, or SY_EIO with err filled. */
static sy_err_t check_owner(sqlite3 *db, const char *path, int64_t *ver, sy_error_t *err)
{
    int64_t app = 0, objects = 0;
    int rc;
    if ((rc = query_int(db, "PRAGMA application_id", &app)) != SQLITE_OK ||
        (rc = query_int(db, "PRAGMA user_version", ver)) != SQLITE_OK ||
        (rc = query_int(db, "SELECT count(*) FROM sqlite_schema", &objects)) != SQLITE_OK)
        return fail_db(err, path, db, rc, "cannot read the file");
    if (app != APP_ID && (app != 0 || objects != 0))
        return sy_error_fail(err, SY_EIO, NULL,
                             "sqlite cache %s: another program's database (application_id 0x%llx, %lld schema "
                             "objects), not a Switchyard cache: move it or choose another path",
                             path, (unsigned long long)app, (long long)objects);
    if (*ver > SY_SQLCACHE_SCHEMA_VERSION)
        return sy_error_fail(err, SY_EIO, NULL,
                             "sqlite cache %s: schema version %lld is newer than this build's %d: written by a "
                             "newer Switchyard",
                             path, (long long)*ver, SY_SQLCACHE_SCHEMA_VERSION);
    return SY_OK;
}

/*
 * Check what is at the path before changing anything (a file of another
 * program is never written to, not even switched to WAL), then switch to
 * WAL and create the schema in one write transaction that checks again, so
 * two processes opening a new file at once do not both create it.
 */
static sy_err_t prepare_file(sqlite3 *db, const char *path, sy_error_t *err)
{
    int64_t ver = 0;
    sy_err_t e = check_owner(db, path, &ver, err);
    if (e != SY_OK)
        return e;

    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        if (!mode || strcmp(mode, "wal") != 0) {
            sy_error_set(err, SY_EIO, NULL, "sqlite cache %s: cannot switch to WAL (journal mode stays %s)", path,
                         mode ? mode : "unknown");
            sqlite3_finalize(st);
            return SY_EIO;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return fail_db(err, path, db, rc, "cannot switch to WAL");

    char pragmas[128];
    snprintf(pragmas, sizeof pragmas, "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = %d", WAL_SIZE_LIMIT);
    if ((rc = sqlite3_exec(db, pragmas, NULL, NULL, NULL)) != SQLITE_OK)
        return fail_db(err, path, db, rc, "cannot set pragmas");

    if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
        return fail_db(err, path, db, rc, "cannot lock the file");
    e = check_owner(db, path, &ver, err);
    if (e == SY_OK && ver == 0) {
        /* A new file. Later versions migrate from ver here, step by step. */
        char set[96];
        snprintf(set, sizeof set, "PRAGMA application_id = %d; PRAGMA user_version = %d", APP_ID,
                 SY_SQLCACHE_SCHEMA_VERSION);
        if ((rc = sqlite3_exec(db, SCHEMA_V1, NULL, NULL, NULL)) != SQLITE_OK ||
            (rc = sqlite3_exec(db, set, NULL, NULL, NULL)) != SQLITE_OK)
            e = fail_db(err, path, db, rc, "cannot create the schema");
    }
    if (e == SY_OK && (rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        e = fail_db(err, path, db, rc, "cannot commit the schema");
    if (e != SY_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

static sy_err_t prepare_writer(sy_sqlcache_t *c, sy_error_t *err)
{
    static const struct {
        size_t off;
        const char *sql;
    } defs[] = {
        {offsetof(struct wstmts, begin), "BEGIN IMMEDIATE"},
        {offsetof(struct wstmts, commit), "COMMIT"},
        {offsetof(struct wstmts, rollback), "ROLLBACK"},
        {offsetof(struct wstmts, put),
         "INSERT INTO entries(key, expire_ms, last_use, charge, value) VALUES (?1, ?2, ?3, ?4, ?5) "
         "ON CONFLICT(key) DO UPDATE SET expire_ms = excluded.expire_ms, last_use = excluded.last_use, "
         "charge = excluded.charge, value = excluded.value"},
        {offsetof(struct wstmts, del), "DELETE FROM entries WHERE key = ?1"},
        {offsetof(struct wstmts, vec),
         "INSERT INTO vecs(key, part, expire_ms, charge, dims, feat, vec) "
         "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM entries WHERE key = ?1) "
         "ON CONFLICT(key, part) DO UPDATE SET expire_ms = excluded.expire_ms, charge = excluded.charge, "
         "dims = excluded.dims, feat = excluded.feat, vec = excluded.vec"},
        {offsetof(struct wstmts, touch), "UPDATE entries SET last_use = ?2 WHERE key = ?1"},
        {offsetof(struct wstmts, totals), "SELECT entries, bytes, vectors FROM totals WHERE id = 1"},
        {offsetof(struct wstmts, cold),
         "SELECT e.id, e.charge + (SELECT total(v.charge) FROM vecs v WHERE v.key = e.key) "
         "FROM entries e ORDER BY e.last_use LIMIT ?1"},
        {offsetof(struct wstmts, del_id), "DELETE FROM entries WHERE id = ?1"},
        {offsetof(struct wstmts, expire_entries),
         "DELETE FROM entries WHERE id IN "
         "(SELECT id FROM entries WHERE expire_ms > 0 AND expire_ms <= ?1 LIMIT ?2)"},
        {offsetof(struct wstmts, expire_vecs),
         "DELETE FROM vecs WHERE id IN (SELECT id FROM vecs WHERE expire_ms > 0 AND expire_ms <= ?1 LIMIT ?2)"},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        sqlite3_stmt **slot = (sqlite3_stmt **)((char *)&c->ws + defs[i].off);
        int rc = sqlite3_prepare_v3(c->wdb, defs[i].sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK)
            return fail_db(err, c->path, c->wdb, rc, "cannot prepare a statement");
    }
    return SY_OK;
}

static void finalize_writer(sy_sqlcache_t *c)
{
    sqlite3_stmt **s = (sqlite3_stmt **)&c->ws;
    for (size_t i = 0; i < sizeof c->ws / sizeof *s; i++)
        sqlite3_finalize(s[i]);
    memset(&c->ws, 0, sizeof c->ws);
}

/* Read the totals row into the stats. Writer connection, writer thread (or
 * open, before the threads start). Returns the SQLite result code. */
static int refresh_totals(sy_sqlcache_t *c, uint64_t *bytes_out)
{
    sqlite3_stmt *st = c->ws.totals;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t e = sqlite3_column_int64(st, 0), b = sqlite3_column_int64(st, 1), v = sqlite3_column_int64(st, 2);
        atomic_store_explicit(&c->entries, e > 0 ? (uint64_t)e : 0, memory_order_relaxed);
        atomic_store_explicit(&c->bytes, b > 0 ? (uint64_t)b : 0, memory_order_relaxed);
        atomic_store_explicit(&c->vectors, v > 0 ? (uint64_t)v : 0, memory_order_relaxed);
        if (bytes_out)
            *bytes_out = b > 0 ? (uint64_t)b : 0;
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    return rc;
}

/* ---- the writer ----------------------------------------------------------- */

/* Log a change between failing and working writes, once per change. */
static void note_write(sy_sqlcache_t *c, int ok, const char *what)
{
    if (!ok && !c->failing) {
        c->failing = 1;
        sy_log(SY_LOG_WARN, "sqlite cache: writes failing", "%s: %s: %s", c->path, what, sqlite3_errmsg(c->wdb));
    } else if (ok && c->failing) {
        c->failing = 0;
        sy_log(SY_LOG_INFO, "sqlite cache: writes working again", "%s", c->path);
    }
}

static int step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/*
 * Delete the least recently used entries (with their vectors) until the
 * totals fit max_bytes. Inside the writer's transaction. Returns the SQLite
 * result code; *evicted counts the rows deleted.
 */
static int evict(sy_sqlcache_t *c, uint64_t *evicted)
{
    int64_t ids[EVICT_CHUNK];
    uint64_t charges[EVICT_CHUNK];
    for (;;) {
        uint64_t bytes = 0;
        int rc = refresh_totals(c, &bytes);
        if (rc != SQLITE_OK)
            return rc;
        if (bytes <= c->max_bytes)
            return SQLITE_OK;
        uint64_t excess = bytes - c->max_bytes;

        size_t n = 0;
        sqlite3_stmt *st = c->ws.cold;
        sqlite3_bind_int(st, 1, EVICT_CHUNK);
        while (n < EVICT_CHUNK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            ids[n] = sqlite3_column_int64(st, 0);
            double ch = sqlite3_column_double(st, 1);
            charges[n++] = ch > 0 ? (uint64_t)ch : 0;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return rc;
        if (n == 0)
            return SQLITE_OK; /* nothing left to evict */

        uint64_t freed = 0;
        for (size_t i = 0; i < n && freed < excess; i++) {
            sqlite3_bind_int64(c->ws.del_id, 1, ids[i]);
            if ((rc = step_reset(c->ws.del_id)) != SQLITE_DONE)
                return rc;
            freed += charges[i];
            (*evicted)++;
        }
    }
}

/* Bind op to its statement and return the statement. */
static sqlite3_stmt *bind_op(sy_sqlcache_t *c, const struct op *op)
{
    sqlite3_stmt *st;
    switch (op->kind) {
    case OP_PUT:
        st = c->ws.put;
        sqlite3_bind_blob(st, 1, op->key, SY_SQLCACHE_KEY_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, op->expire_ms);
        sqlite3_bind_int64(st, 3, ++c->tick);
        sqlite3_bind_int64(st, 4, (int64_t)sy_sqlcache_charge(op->len));
        sqlite3_bind_blob64(st, 5, op->data, op->len, SQLITE_STATIC);
        break;
    case OP_DEL:
        st = c->ws.del;
        sqlite3_bind_blob(st, 1, op->key, SY_SQLCACHE_KEY_LEN, SQLITE_STATIC);
        break;
    default:
        st = c->ws.vec;
        sqlite3_bind_blob(st, 1, op->key, SY_SQLCACHE_KEY_LEN, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, op->part, SY_SQLCACHE_KEY_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, op->expire_ms);
        sqlite3_bind_int64(st, 4, (int64_t)sy_sqlcache_vec_charge(op->len, op->feat_len));
        sqlite3_bind_int64(st, 5, (int64_t)op->len);
        sqlite3_bind_blob64(st, 6, op->data + op->len * sizeof(float), op->feat_len, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 7, op->data, op->len * sizeof(float), SQLITE_STATIC);
        break;
    }
    return st;
}

/*
 * Write one batch: the recorded hits, then the ops in order, then evict to
 * the bound, in one transaction. A failed op is counted and the rest go on,
 * unless SQLite rolled the transaction back, when the whole batch is lost
 * (counted). Counters of what was written are bumped only after COMMIT.
 */
static void write_batch(sy_sqlcache_t *c, struct op *ops, size_t nops, size_t ntouch)
{
    uint64_t puts = 0, deletes = 0, evicted = 0, failed = 0;
    const char *what = "begin";
    int rc = step_reset(c->ws.begin);
    if (rc != SQLITE_DONE) {
        BUMP(c, errors, nops ? nops : 1);
        note_write(c, 0, what);
        return;
    }
    for (size_t i = 0; i < ntouch; i++) {
        sqlite3_bind_blob(c->ws.touch, 1, c->touch_work[i], SY_SQLCACHE_KEY_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(c->ws.touch, 2, ++c->tick);
        step_reset(c->ws.touch); /* a lost hit only makes recency a little less exact */
    }
    for (struct op *op = ops; op; op = op->next) {
        rc = step_reset(bind_op(c, op));
        if (rc == SQLITE_DONE) {
            if (op->kind == OP_PUT)
                puts++;
            else if (op->kind == OP_DEL)
                deletes += (uint64_t)sqlite3_changes(c->wdb);
        } else {
            failed++;
            what = "write";
            if (sqlite3_get_autocommit(c->wdb))
                goto lost; /* SQLite rolled the transaction back */
        }
    }
    what = "evict";
    if ((rc = evict(c, &evicted)) != SQLITE_OK)
        goto rollback;
    what = "commit";
    if ((rc = step_reset(c->ws.commit)) != SQLITE_DONE)
        goto rollback;
    BUMP(c, puts, puts);
    BUMP(c, deletes, deletes);
    BUMP(c, evictions, evicted);
    BUMP(c, errors, failed);
    note_write(c, failed == 0, what);
    refresh_totals(c, NULL);
    return;

rollback:
    note_write(c, 0, what);
    step_reset(c->ws.rollback);
    BUMP(c, errors, nops ? nops : 1);
    refresh_totals(c, NULL);
    return;
lost:
    note_write(c, 0, what);
    BUMP(c, errors, nops ? nops : 1);
    refresh_totals(c, NULL);
}

/* Evict in a transaction of its own, if the file is over the bound (after
 * a cleanup, or at startup when max_bytes shrank since the file was
 * written). */
static void evict_pass(sy_sqlcache_t *c)
{
    if (atomic_load_explicit(&c->bytes, memory_order_relaxed) > c->max_bytes)
        write_batch(c, NULL, 0, 0);
}

/* Run stmt (expire_entries or expire_vecs) in chunks of its own
 * transactions until no expired row is left. Returns the rows deleted. */
static uint64_t expire_rows(sy_sqlcache_t *c, sqlite3_stmt *st, uint64_t now_ms)
{
    uint64_t total = 0;
    for (;;) {
        if (step_reset(c->ws.begin) != SQLITE_DONE) {
            BUMP(c, errors, 1);
            note_write(c, 0, "cleanup");
            return total;
        }
        sqlite3_bind_int64(st, 1, clamp64(now_ms));
        sqlite3_bind_int(st, 2, CLEANUP_CHUNK);
        int rc = step_reset(st);
        int n = rc == SQLITE_DONE ? sqlite3_changes(c->wdb) : 0;
        if (rc != SQLITE_DONE || step_reset(c->ws.commit) != SQLITE_DONE) {
            note_write(c, 0, "cleanup");
            if (!sqlite3_get_autocommit(c->wdb))
                step_reset(c->ws.rollback);
            BUMP(c, errors, 1);
            return total;
        }
        total += (uint64_t)n;
        if (n < CLEANUP_CHUNK)
            return total;
    }
}

/* The cleanup pass: expired entries (their vectors go with them), expired
 * vectors, then eviction down to the bound (max_bytes may have shrunk since
 * the file was written). */
static void cleanup_pass(sy_sqlcache_t *c, uint64_t now_ms)
{
    uint64_t n = expire_rows(c, c->ws.expire_entries, now_ms);
    expire_rows(c, c->ws.expire_vecs, now_ms);
    refresh_totals(c, NULL);
    BUMP(c, expired, n);
    evict_pass(c);
}

static void free_ops(struct op *op)
{
    while (op) {
        struct op *next = op->next;
        free(op);
        op = next;
    }
}

static void *writer_main(void *arg)
{
    sy_sqlcache_t *c = arg;
    uint64_t next_clean = c->cleanup_ms == SY_SQLCACHE_NO_TIMER ? UINT64_MAX : mono_ms() + c->cleanup_ms;
    uint64_t close_deadline = 0, touch_deadline = 0;

    evict_pass(c); /* at once if the file is over a (new, smaller) bound */

    pthread_mutex_lock(&c->wmu);
    for (;;) {
        for (;;) {
            uint64_t now = mono_ms();
            if (c->head || c->flush_gen != c->flush_done || c->clean_gen != c->clean_done || c->closing ||
                c->ntouch >= TOUCH_WAKE || now >= next_clean)
                break;
            uint64_t until = next_clean;
            if (c->ntouch > 0) {
                if (!touch_deadline)
                    touch_deadline = now + TOUCH_DELAY_MS;
                if (now >= touch_deadline)
                    break;
                if (until > touch_deadline)
                    until = touch_deadline;
            }
            wait_until(&c->wcond, &c->wmu, until);
        }
        touch_deadline = 0;

        /* Take a batch, the recorded hits and the requests it answers. */
        struct op *batch = c->head, **link = &c->head;
        size_t nops = 0, nbytes = 0;
        uint64_t last_seq = c->committed_seq;
        while (*link && nops < BATCH_OPS && (nops == 0 || nbytes + (*link)->qbytes <= BATCH_BYTES)) {
            nbytes += (*link)->qbytes;
            last_seq = (*link)->seq;
            nops++;
            link = &(*link)->next;
        }
        c->head = *link;
        *link = NULL;
        if (!c->head)
            c->tailp = &c->head;
        if (!nops)
            batch = NULL;
        c->wq_len -= nops;
        c->wq_bytes -= nbytes;
        size_t ntouch = c->ntouch;
        memcpy(c->touch_work, c->touch, ntouch * sizeof *c->touch);
        c->ntouch = 0;
        uint64_t fgen = c->flush_gen, cgen = c->clean_gen, cnow = c->clean_now;
        int closing = c->closing, drained = c->head == NULL;
        pthread_mutex_unlock(&c->wmu);

        uint64_t now = mono_ms();
        if (closing && !close_deadline)
            close_deadline = now + CLOSE_WAIT_MS;
        if (close_deadline && now >= close_deadline)
            BUMP(c, dropped, nops); /* shutting down and out of time */
        else if (nops || ntouch)
            write_batch(c, batch, nops, ntouch);
        free_ops(batch);

        int cleaned = 0;
        if (cgen != c->clean_done && !close_deadline) {
            cleanup_pass(c, cnow);
            cleaned = 1;
        } else if (now >= next_clean && !closing) {
            cleanup_pass(c, wall_ms());
        }
        if (now >= next_clean)
            next_clean = c->cleanup_ms == SY_SQLCACHE_NO_TIMER ? UINT64_MAX : mono_ms() + c->cleanup_ms;

        pthread_mutex_lock(&c->wmu);
        c->committed_seq = last_seq;
        c->flush_done = fgen;
        if (cleaned || close_deadline)
            c->clean_done = cgen;
        pthread_cond_broadcast(&c->wdone);
        if (closing && drained)
            break;
    }
    c->writer_running = 0;
    pthread_cond_broadcast(&c->wdone);
    pthread_mutex_unlock(&c->wmu);
    return NULL;
}

/* ---- the readers ------------------------------------------------------------ */

/* Remember a hit for the writer (forgotten when TOUCH_MAX are waiting). */
static void record_hit(sy_sqlcache_t *c, const unsigned char *key)
{
    pthread_mutex_lock(&c->wmu);
    if (c->ntouch < TOUCH_MAX) {
        memcpy(c->touch[c->ntouch++], key, SY_SQLCACHE_KEY_LEN);
        /* The first hit lets the writer arm its delay; TOUCH_WAKE hits are a batch. */
        if (c->ntouch == 1 || c->ntouch == TOUCH_WAKE)
            pthread_cond_signal(&c->wcond);
    }
    pthread_mutex_unlock(&c->wmu);
}

static void serve(struct reader *r, const struct getreq *g)
{
    sy_sqlcache_t *c = r->c;
    sqlite3_stmt *st = r->get;
    sy_cache_val_t *v = NULL;
    uint64_t expire = 0;
    int error = 0;

    sqlite3_bind_blob(st, 1, g->key, SY_SQLCACHE_KEY_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t e = sqlite3_column_int64(st, 1);
        expire = e > 0 ? (uint64_t)e : 0;
        if (expire == 0 || g->now_ms < expire) {
            const void *p = sqlite3_column_blob(st, 0);
            int n = sqlite3_column_bytes(st, 0); /* after column_blob, as SQLite asks */
            v = malloc(sizeof *v + (size_t)n);
            if (v) {
                /* A value like the memory tier's, so one release fits both. */
                atomic_init(&v->sy__refs, 1);
                v->expire_ns = 0;
                v->len = (size_t)n;
                if (n > 0)
                    memcpy(v->data, p, (size_t)n);
            } else {
                error = 1;
            }
        }
    } else if (rc != SQLITE_DONE) {
        error = 1;
    }
    sqlite3_reset(st); /* ends the read transaction: checkpoints may proceed */
    sqlite3_clear_bindings(st);

    if (error)
        BUMP(c, errors, 1);
    if (v) {
        BUMP(c, hits, 1);
        record_hit(c, g->key);
    } else {
        BUMP(c, misses, 1);
        expire = 0;
    }
    g->cb(g->ud, v, expire);
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    sy_sqlcache_t *c = r->c;
    pthread_mutex_lock(&c->rmu);
    for (;;) {
        while (c->rlen == 0 && !c->rclosing)
            pthread_cond_wait(&c->rcond, &c->rmu);
        if (c->rlen == 0)
            break; /* closing, and every queued get answered */
        struct getreq g = c->ring[c->rhead];
        c->rhead = (c->rhead + 1) % c->rq_max;
        c->rlen--;
        pthread_mutex_unlock(&c->rmu);
        serve(r, &g);
        pthread_mutex_lock(&c->rmu);
    }
    pthread_mutex_unlock(&c->rmu);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------- */

static void destroy(sy_sqlcache_t *c)
{
    for (unsigned i = 0; i < c->nreaders; i++) {
        sqlite3_finalize(c->readers[i].get);
        sqlite3_close(c->readers[i].db);
    }
    finalize_writer(c);
    sqlite3_close(c->wdb);
    free_ops(c->head);
    pthread_mutex_destroy(&c->wmu);
    pthread_cond_destroy(&c->wcond);
    pthread_cond_destroy(&c->wdone);
    pthread_mutex_destroy(&c->rmu);
    pthread_cond_destroy(&c->rcond);
    free(c->touch);
    free(c->touch_work);
    free(c->ring);
    free(c->path);
    free(c);
}

/* Stop the threads that were started: readers first (they answer what is
 * queued and record hits), then the writer (it writes what is queued). */
static void stop_threads(sy_sqlcache_t *c)
{
    pthread_mutex_lock(&c->rmu);
    c->rclosing = 1;
    pthread_cond_broadcast(&c->rcond);
    pthread_mutex_unlock(&c->rmu);
    for (unsigned i = 0; i < c->nreaders; i++)
        if (c->readers[i].started)
            pthread_join(c->readers[i].th, NULL);

    pthread_mutex_lock(&c->wmu);
    c->closing = 1;
    pthread_cond_signal(&c->wcond);
    pthread_mutex_unlock(&c->wmu);
    if (c->writer_started)
        pthread_join(c->writer, NULL);
}

sy_sqlcache_t *sy_sqlcache_open_opts(const char *path, const sy_sqlcache_opts_t *o, sy_error_t *err)
{
    sy_error_t scratch;
    if (!err)
        err = &scratch;
    if (!path || !*path) {
        sy_error_set(err, SY_ECONFIG, "path", "sqlite cache: no path given");
        return NULL;
    }
    if (!o || o->max_bytes < sy_sqlcache_charge(0)) {
        sy_error_set(err, SY_ECONFIG, "max_bytes", "sqlite cache %s: max_bytes must be at least %llu", path,
                     (unsigned long long)sy_sqlcache_charge(0));
        return NULL;
    }
    if (o->readers > MAX_READERS) {
        sy_error_set(err, SY_ECONFIG, "readers", "sqlite cache %s: at most %d readers", path, MAX_READERS);
        return NULL;
    }

    char dir[4096];
    int e = make_parents(path, dir, sizeof dir);
    if (e) {
        sy_error_set(err, SY_EIO, NULL, "sqlite cache %s: cannot create directory %s: %s", path, dir, strerror(e));
        return NULL;
    }

    sy_sqlcache_t *c = calloc(1, sizeof *c);
    if (!c) {
        sy_error_set(err, SY_ENOMEM, NULL, NULL);
        return NULL;
    }
    pthread_mutex_init(&c->wmu, NULL);
    cond_init_mono(&c->wcond);
    pthread_cond_init(&c->wdone, NULL);
    pthread_mutex_init(&c->rmu, NULL);
    pthread_cond_init(&c->rcond, NULL);
    c->tailp = &c->head;
    c->max_bytes = o->max_bytes;
    c->cleanup_ms = o->cleanup_ms ? o->cleanup_ms : DEFAULT_CLEANUP_MS;
    c->wq_max = o->write_queue ? o->write_queue : DEFAULT_WRITE_QUEUE;
    c->wq_max_bytes = o->write_queue_bytes ? o->write_queue_bytes : DEFAULT_WRITE_QUEUE_BYTES;
    c->rq_max = o->read_queue ? o->read_queue : DEFAULT_READ_QUEUE;
    unsigned nreaders = o->readers ? o->readers : DEFAULT_READERS;
    c->path = strdup(path);
    c->touch = malloc(TOUCH_MAX * sizeof *c->touch);
    c->touch_work = malloc(TOUCH_MAX * sizeof *c->touch_work);
    c->ring = calloc(c->rq_max, sizeof *c->ring);
    if (!c->path || !c->touch || !c->touch_work || !c->ring) {
        sy_error_set(err, SY_ENOMEM, NULL, NULL);
        goto fail;
    }

    if (connect_db(path, 1, &c->wdb, err) != SY_OK || prepare_file(c->wdb, path, err) != SY_OK ||
        prepare_writer(c, err) != SY_OK)
        goto fail;
    int64_t tick = 0;
    int rc = query_int(c->wdb, "SELECT max(last_use) FROM entries", &tick);
    if (rc == SQLITE_OK)
        rc = refresh_totals(c, NULL);
    if (rc != SQLITE_OK) {
        fail_db(err, path, c->wdb, rc, "cannot read the totals");
        goto fail;
    }
    c->tick = tick;
    int limit = sqlite3_limit(c->wdb, SQLITE_LIMIT_LENGTH, -1);
    c->max_value = limit > 1024 ? (uint64_t)limit - 1024 : 0;

    for (unsigned i = 0; i < nreaders; i++) {
        struct reader *r = &c->readers[i];
        r->c = c;
        if (connect_db(path, 0, &r->db, err) != SY_OK)
            goto fail;
        c->nreaders = i + 1; /* what destroy must close */
        rc = sqlite3_prepare_v3(r->db, "SELECT value, expire_ms FROM entries WHERE key = ?1", -1,
                                SQLITE_PREPARE_PERSISTENT, &r->get, NULL);
        if (rc != SQLITE_OK) {
            fail_db(err, path, r->db, rc, "cannot prepare a reader");
            goto fail;
        }
    }

    c->writer_running = 1;
    if (pthread_create(&c->writer, NULL, writer_main, c) != 0) {
        c->writer_running = 0;
        sy_error_set(err, SY_EINTERNAL, NULL, "sqlite cache %s: cannot start the writer thread", path);
        goto fail;
    }
    c->writer_started = 1;
    for (unsigned i = 0; i < c->nreaders; i++) {
        if (pthread_create(&c->readers[i].th, NULL, reader_main, &c->readers[i]) != 0) {
            sy_error_set(err, SY_EINTERNAL, NULL, "sqlite cache %s: cannot start a reader thread", path);
            goto fail;
        }
        c->readers[i].started = 1;
    }
    return c;

fail:
    stop_threads(c);
    destroy(c);
    return NULL;
}

sy_sqlcache_t *sy_sqlcache_open(const char *path, uint64_t max_bytes, sy_error_t *err)
{
    sy_sqlcache_opts_t o = {.max_bytes = max_bytes};
    return sy_sqlcache_open_opts(path, &o, err);
}

void sy_sqlcache_close(sy_sqlcache_t *c)
{
    if (!c)
        return;
    stop_threads(c);
    destroy(c);
}

/* ---- the calls ---------------------------------------------------------------- */

static int enqueue(sy_sqlcache_t *c, struct op *op)
{
    int rc = SY_OK;
    pthread_mutex_lock(&c->wmu);
    if (c->closing)
        rc = SY_EDRAINING;
    else if (c->wq_len >= c->wq_max || op->qbytes > c->wq_max_bytes - c->wq_bytes)
        rc = SY_ETOOLARGE;
    if (rc == SY_OK) {
        op->seq = ++c->enq_seq;
        op->next = NULL;
        *c->tailp = op;
        c->tailp = &op->next;
        c->wq_len++;
        c->wq_bytes += op->qbytes;
        pthread_cond_signal(&c->wcond);
    }
    pthread_mutex_unlock(&c->wmu);
    if (rc != SY_OK) {
        free(op);
        BUMP(c, dropped, 1);
    }
    return rc;
}

static struct op *new_op(enum op_kind kind, const unsigned char *key, size_t data_len, uint64_t expire_ms)
{
    struct op *op = malloc(sizeof *op + data_len);
    if (!op)
        return NULL;
    op->kind = kind;
    op->expire_ms = clamp64(expire_ms);
    op->len = 0;
    op->feat_len = 0;
    op->qbytes = data_len;
    memcpy(op->key, key, SY_SQLCACHE_KEY_LEN);
    return op;
}

int sy_sqlcache_put(sy_sqlcache_t *c, const unsigned char key[SY_SQLCACHE_KEY_LEN], const void *bytes, size_t len,
                    uint64_t expire_ms)
{
    if (sy_sqlcache_charge(len) > c->max_bytes || len > c->max_value) {
        BUMP(c, refused, 1);
        return SY_ETOOLARGE;
    }
    struct op *op = new_op(OP_PUT, key, len, expire_ms);
    if (!op) {
        BUMP(c, dropped, 1);
        return SY_ENOMEM;
    }
    op->len = len;
    if (len)
        memcpy(op->data, bytes, len);
    return enqueue(c, op);
}

int sy_sqlcache_delete(sy_sqlcache_t *c, const unsigned char key[SY_SQLCACHE_KEY_LEN])
{
    struct op *op = new_op(OP_DEL, key, 0, 0);
    if (!op) {
        BUMP(c, dropped, 1);
        return SY_ENOMEM;
    }
    return enqueue(c, op);
}

int sy_sqlcache_put_vec(sy_sqlcache_t *c, const unsigned char part[SY_SQLCACHE_KEY_LEN],
                        const unsigned char key[SY_SQLCACHE_KEY_LEN], const float *vec, size_t dims,
                        const void *feat, size_t feat_len, uint64_t expire_ms)
{
    if (dims == 0 || dims > SY_EMBED_MAX_DIMS || feat_len > SY_SQLCACHE_MAX_FEAT || (feat_len && !feat))
        return SY_EBADFIELD;
    size_t vbytes = dims * sizeof(float);
    struct op *op = new_op(OP_VEC, key, vbytes + feat_len, expire_ms);
    if (!op) {
        BUMP(c, dropped, 1);
        return SY_ENOMEM;
    }
    op->len = dims;
    op->feat_len = feat_len;
    memcpy(op->part, part, SY_SQLCACHE_KEY_LEN);
    memcpy(op->data, vec, vbytes);
    if (feat_len)
        memcpy(op->data + vbytes, feat, feat_len);
    return enqueue(c, op);
}

int sy_sqlcache_get(sy_sqlcache_t *c, const unsigned char key[SY_SQLCACHE_KEY_LEN], uint64_t now_ms,
                    sy_sqlcache_get_cb cb, void *ud)
{
    int rc = SY_OK;
    pthread_mutex_lock(&c->rmu);
    if (c->rclosing) {
        rc = SY_EDRAINING;
    } else if (c->rlen >= c->rq_max) {
        rc = SY_ETOOLARGE;
    } else {
        struct getreq *g = &c->ring[(c->rhead + c->rlen) % c->rq_max];
        memcpy(g->key, key, SY_SQLCACHE_KEY_LEN);
        g->now_ms = now_ms;
        g->cb = cb;
        g->ud = ud;
        c->rlen++;
        pthread_cond_signal(&c->rcond);
    }
    pthread_mutex_unlock(&c->rmu);
    if (rc == SY_ETOOLARGE)
        BUMP(c, busy, 1);
    return rc;
}

void sy_sqlcache_flush(sy_sqlcache_t *c)
{
    pthread_mutex_lock(&c->wmu);
    uint64_t target = c->enq_seq, gen = ++c->flush_gen;
    pthread_cond_signal(&c->wcond);
    while (c->writer_running && (c->committed_seq < target || c->flush_done < gen))
        pthread_cond_wait(&c->wdone, &c->wmu);
    pthread_mutex_unlock(&c->wmu);
}

void sy_sqlcache_cleanup(sy_sqlcache_t *c, uint64_t now_ms)
{
    sy_sqlcache_flush(c);
    pthread_mutex_lock(&c->wmu);
    uint64_t gen = ++c->clean_gen;
    c->clean_now = now_ms;
    pthread_cond_signal(&c->wcond);
    while (c->writer_running && c->clean_done < gen)
        pthread_cond_wait(&c->wdone, &c->wmu);
    pthread_mutex_unlock(&c->wmu);
}

long sy_sqlcache_load_vecs(sy_sqlcache_t *c, uint64_t now_ms, sy_sqlcache_vec_cb cb, void *ud)
{
    sy_error_t err;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    float *buf = NULL;
    long count = 0;
    int rc;

    if (connect_db(c->path, 0, &db, &err) != SY_OK)
        return err.code;
    rc = sqlite3_prepare_v2(db,
                            "SELECT v.part, v.key, v.dims, v.feat, v.vec, v.expire_ms FROM vecs v "
                            "WHERE (v.expire_ms = 0 OR v.expire_ms > ?1) AND EXISTS (SELECT 1 FROM entries e "
                            "WHERE e.key = v.key AND (e.expire_ms = 0 OR e.expire_ms > ?1))",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        count = SY_EIO;
        goto out;
    }
    buf = malloc(SY_EMBED_MAX_DIMS * sizeof *buf);
    if (!buf) {
        count = SY_ENOMEM;
        goto out;
    }
    sqlite3_bind_int64(st, 1, clamp64(now_ms));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *part = sqlite3_column_blob(st, 0);
        int part_len = sqlite3_column_bytes(st, 0);
        const void *key = sqlite3_column_blob(st, 1);
        int key_len = sqlite3_column_bytes(st, 1);
        int64_t dims = sqlite3_column_int64(st, 2);
        const void *feat = sqlite3_column_blob(st, 3);
        int feat_len = sqlite3_column_bytes(st, 3);
        const void *vec = sqlite3_column_blob(st, 4);
        int vec_len = sqlite3_column_bytes(st, 4);
        int64_t expire = sqlite3_column_int64(st, 5);
        if (part_len != SY_SQLCACHE_KEY_LEN || key_len != SY_SQLCACHE_KEY_LEN || dims <= 0 ||
            dims > SY_EMBED_MAX_DIMS || (size_t)vec_len != (size_t)dims * sizeof(float) ||
            feat_len > SY_SQLCACHE_MAX_FEAT) {
            BUMP(c, errors, 1);
            continue;
        }
        memcpy(buf, vec, (size_t)vec_len); /* the blob need not be aligned for floats */
        cb(ud, part, key, buf, (size_t)dims, feat_len ? feat : NULL, (size_t)feat_len,
           expire > 0 ? (uint64_t)expire : 0);
        count++;
    }
    if (rc != SQLITE_DONE)
        count = SY_EIO;
out:
    if (count < 0)
        BUMP(c, errors, 1);
    free(buf);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return count;
}

void sy_sqlcache_stats(sy_sqlcache_t *c, sy_sqlcache_stats_t *st)
{
#define LOAD(f) atomic_load_explicit(&c->f, memory_order_relaxed)
    memset(st, 0, sizeof *st);
    st->entries = LOAD(entries);
    st->bytes = LOAD(bytes);
    st->max_bytes = c->max_bytes;
    st->hits = LOAD(hits);
    st->misses = LOAD(misses);
    st->expired = LOAD(expired);
    st->evictions = LOAD(evictions);
    st->puts = LOAD(puts);
    st->dropped = LOAD(dropped);
    st->errors = LOAD(errors);
    st->vectors = LOAD(vectors);
    st->busy = LOAD(busy);
    st->refused = LOAD(refused);
    st->deletes = LOAD(deletes);
#undef LOAD
}

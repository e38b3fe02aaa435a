/*
 * fanout.h - one upstream stream, read by many waiters, in bounded memory.
 *
 * In-flight dedup (issue 4) lets identical concurrent requests share one
 * upstream call. When that call streams, every waiter must get every byte
 * from the start, at its own pace, on its own worker thread. A sy_fanout_t
 * is the buffer between them: one producer appends chunks of opaque bytes
 * (serialised canonical events), each reader has a cursor and takes
 * zero-copy views of what it has not read yet.
 *
 * Memory is bounded per stream (max_bytes, counted as allocated chunk
 * capacity). While the whole stream fits, it is all kept, so a waiter that
 * arrives late still joins from the first byte. When an append would pass
 * the bound, chunks nobody needs are dropped first (the stream then stops
 * accepting late joiners); if that is not enough the slowest readers are
 * detached: their next read says SY_FANOUT_BEHIND and the wiring serves them
 * another way (the finished cache entry, or a call of their own). The
 * producer is never paused, so a slow reader never delays a fast one.
 *
 * Threads: every function may be called from any thread; one mutex per
 * stream guards it. The producer calls append/end/release from one thread;
 * a reader handle is used by one thread at a time (views and consume pair
 * up). Both callbacks (a reader's notify, the stream's on_last_leave) run
 * with the stream's mutex held, so that returning from sy_fanout_leave,
 * sy_fanout_end or sy_fanout_release is a barrier: after it the callback
 * never runs again and its user data may be freed at once. In return a
 * callback must be short and must not call any sy_fanout_* function
 * (event_active on the waiter's loop, or signalling a condition variable,
 * is the intended body). docs/dedup.md has the design.
 */
#ifndef SY_DEDUP_FANOUT_H
#define SY_DEDUP_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct sy_fanout sy_fanout_t;
typedef struct sy_fanout_reader sy_fanout_reader_t;

/*
 * Outcomes that are not failures of the gateway but say how to go on. They
 * are positive, so they never collide with a sy_err_t (negative) or SY_OK,
 * and they never reach a client: each one tells the wiring to serve the
 * waiter in some other way.
 */
typedef enum sy_fanout_rc {
    SY_FANOUT_DATA = 1, /* read: *p and *n hold the next bytes */
    SY_FANOUT_AGAIN,    /* read: nothing new yet; notify will be called once */
    SY_FANOUT_END,      /* read: every byte read; sy_fanout_status says how it ended */
    SY_FANOUT_BEHIND,   /* read: detached for lagging past the bound */
    SY_FANOUT_LATE,     /* join: the start of the stream is no longer held */
    SY_FANOUT_GONE,     /* join: every waiter left, the upstream call is being cancelled */
    SY_FANOUT_FULL,     /* join: the stream already has max_readers readers */
} sy_fanout_rc_t;

/* The name of a sy_fanout_rc_t ("BEHIND"), for logs and tests. Never NULL. */
const char *sy_fanout_rc_name(int rc);

/* Tells a reader that its read would now give something other than AGAIN.
 * Runs under the stream's mutex, on the thread that caused the change. */
typedef void (*sy_fanout_notify_cb)(void *ud);
/* Tells the owner that the last reader left before the end. Runs under the
 * stream's mutex, on the leaving reader's thread. */
typedef void (*sy_fanout_last_leave_cb)(void *ud);

typedef struct sy_fanout_stats {
    size_t bytes_held;     /* chunk capacity in the buffer (<= max_bytes) */
    size_t bytes_pinned;   /* dropped chunks a detached reader still views */
    size_t peak_bytes;     /* highest bytes_held + bytes_pinned seen */
    uint64_t bytes_total;  /* stream length appended so far */
    size_t readers;        /* reader handles not yet left (attached or detached) */
    size_t attached;       /* of which still reading */
    uint64_t joins;        /* successful joins so far */
    uint64_t detached;     /* readers detached for lagging, so far */
    uint64_t late_refused; /* joins refused with SY_FANOUT_LATE */
    int joinable;          /* a join now would start from the first byte */
    int ended;             /* sy_fanout_end was called */
    int status;            /* the end status (SY_OK or a sy_err_t), when ended */
} sy_fanout_stats_t;

/*
 * A new stream, held once by the caller (the producer). max_bytes bounds the
 * chunk memory (0 = 1 MiB); max_readers bounds the readers (0 = 4096).
 * on_last_leave (may be NULL) is called at most once, when the number of
 * reader handles drops to zero before sy_fanout_end and before
 * sy_fanout_release: the owner should cancel the upstream call (from its own
 * loop: the callback must not call back in). Returns NULL when out of memory.
 */
sy_fanout_t *sy_fanout_new(size_t max_bytes, size_t max_readers,
                           sy_fanout_last_leave_cb on_last_leave, void *ud);

/*
 * Append len bytes (copied). One append is never split: a view always holds
 * whole appends, so a reader that consumes whole views sees the producer's
 * boundaries. Readers waiting on AGAIN are notified. May detach the slowest
 * readers to stay within the bound (see the top of the file). Returns 0;
 * SY_ETOOLARGE when len alone is larger than max_bytes - every reader is then
 * detached and every later append fails the same way (end the stream);
 * SY_EINTERNAL after sy_fanout_end; SY_ENOMEM. Producer only.
 */
int sy_fanout_append(sy_fanout_t *f, const void *data, size_t len);

/*
 * End the stream with status (SY_OK, or the sy_err_t the upstream call
 * failed with). Readers read what is left and then get SY_FANOUT_END;
 * waiting readers, detached ones included, are notified. After it returns
 * on_last_leave is never called. Returns 0, SY_EINTERNAL if already ended.
 * Producer only.
 */
int sy_fanout_end(sy_fanout_t *f, int status);

/*
 * Drop the producer's hold. A stream not yet ended is ended with
 * SY_EINTERNAL (readers must not wait forever for a producer that left).
 * After it returns on_last_leave is never called. The memory goes with the
 * last reader. NULL is a no-op. Producer only, once.
 */
void sy_fanout_release(sy_fanout_t *f);

/*
 * Join as a reader starting at the first byte. notify(ud) is called (under
 * the stream's mutex, see above) once after each read that returned
 * SY_FANOUT_AGAIN, when there is something new to read. The reader holds
 * the stream alive until sy_fanout_leave. On success *out is the handle and
 * 0 is returned; otherwise *out is NULL, notify is never called, and the
 * result is SY_FANOUT_LATE (the start was dropped), SY_FANOUT_GONE (every
 * earlier waiter left: the upstream is being cancelled), SY_FANOUT_FULL, or
 * SY_ENOMEM. A stream that has ended can still be joined while its start is
 * held. Any thread.
 */
int sy_fanout_join(sy_fanout_t *f, sy_fanout_notify_cb notify, void *ud,
                   sy_fanout_reader_t **out);

/*
 * The next unread bytes. Returns SY_FANOUT_DATA with *p, *n (n > 0) a view
 * that stays valid until this reader's next sy_fanout_read, _consume or
 * _leave, even if the reader is detached meanwhile; SY_FANOUT_AGAIN when
 * caught up with a producer still going (notify follows); SY_FANOUT_END when
 * everything was read and the stream ended; SY_FANOUT_BEHIND once detached
 * (if the stream has not ended yet, notify is called when it does, so a
 * detached waiter may wait for the finished cache entry). *p and *n are
 * set to NULL, 0 unless DATA. The reader's thread.
 */
int sy_fanout_read(sy_fanout_reader_t *r, const char **p, size_t *n);

/*
 * Mark n bytes of the last view read (n <= what is left of it). Returns 0;
 * SY_EINTERNAL when n is more than the view holds (nothing is consumed). A
 * detached reader's consume just drops its view. The reader's thread.
 */
int sy_fanout_consume(sy_fanout_reader_t *r, size_t n);

/*
 * Leave: the handle is freed, its notify never runs again once this returns,
 * and its hold on the stream is dropped. If it was the last reader, the
 * stream has not ended and the producer still holds it, on_last_leave runs
 * (once per stream). NULL is a no-op. The reader's thread.
 */
void sy_fanout_leave(sy_fanout_reader_t *r);

/* Whether the stream ended; if so and status is non-NULL, *status is the end
 * status. Any thread. */
int sy_fanout_ended(sy_fanout_t *f, int *status);

/* A snapshot of the counters. Any thread. */
void sy_fanout_stats(sy_fanout_t *f, sy_fanout_stats_t *out);

#endif

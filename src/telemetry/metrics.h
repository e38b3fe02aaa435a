/*
 * metrics.h - the metrics registry every module reports into.
 *
 * Families (counters, gauges, histograms) are registered once at start-up,
 * before worker threads run, with fixed label names. Each worker thread owns
 * one shard and records into it without contention; a scrape sums the shards
 * (each shard has its own mutex, taken by its owner for the instant of an
 * update and by the scraper while reading). The number of label-value series
 * per family is bounded: past the bound, values go to one series whose labels
 * are all "_overflow", so a client cannot grow memory by sending new models.
 */
#ifndef SY_TELEMETRY_METRICS_H
#define SY_TELEMETRY_METRICS_H

#include <stddef.h>
#include <event2/buffer.h>

typedef struct sy_metrics sy_metrics_t;
typedef struct sy_metric sy_metric_t;

#define SY_METRICS_MAX_LABELS 6
/* A label value is identified and stored by at most this many bytes (cut
 * back to a UTF-8 character boundary), so a client-chosen string such as a
 * model name cannot make one series large. */
#define SY_METRICS_MAX_VALUE_BYTES 128

/* A registry with nshards shards (one per worker thread, plus one for other
 * threads: use shard index nshards-1 for those). max_series bounds the series
 * per family (0 = 2048). Returns NULL on allocation failure. */
sy_metrics_t *sy_metrics_new(unsigned nshards, size_t max_series);
/* Free the registry and its families; NULL is a no-op. No other thread may
 * be using it. */
void sy_metrics_free(sy_metrics_t *m);

/* Register families. name is the Prometheus name ("switchyard_requests_total"),
 * help its HELP text, labels nlabels label names (≤ SY_METRICS_MAX_LABELS).
 * Histogram bounds are upper bounds in ascending order (a +Inf bucket is
 * implied). Strings are copied. Returns NULL on bad arguments or no memory.
 * Call before worker threads start. */
sy_metric_t *sy_metrics_counter(sy_metrics_t *m, const char *name, const char *help,
                                unsigned nlabels, const char *const *labels);
sy_metric_t *sy_metrics_gauge(sy_metrics_t *m, const char *name, const char *help,
                              unsigned nlabels, const char *const *labels);
sy_metric_t *sy_metrics_histogram(sy_metrics_t *m, const char *name, const char *help,
                                  unsigned nlabels, const char *const *labels,
                                  const double *bounds, unsigned nbounds);

/* Record into shard `shard`. values are the label values in the family's
 * label order (NULL entries render as ""). Counter: add v (v ≥ 0). Gauge:
 * add v (may be negative; the scrape shows the sum over shards). Histogram:
 * observe v. Safe from the shard's owner thread; never blocks for long.
 * Both functions do the family's kind of update (add on a histogram
 * observes). NaN and infinite values, negative counter adds, and a NULL f
 * are ignored; a shard index past the end uses the last shard. */
void sy_metric_add(sy_metric_t *f, unsigned shard, const char *const *values, double v);
void sy_metric_observe(sy_metric_t *f, unsigned shard, const char *const *values, double v);

/* The summed value of a counter/gauge series (0 when absent), or the summed
 * count of a histogram series. For tests and /api/stats. */
double sy_metric_value(sy_metric_t *f, const char *const *values);

/* Append the whole registry in Prometheus text exposition format 0.0.4:
 * families in registration order, series sorted by label values. Returns 0,
 * or -1 when memory ran out (out may then hold part of the text). Any thread;
 * it takes each shard's mutex only while summing that shard. */
int sy_metrics_render(sy_metrics_t *m, struct evbuffer *out);

/* Append s as a label value's text (between the quotes, which are not
 * written): backslash, quote and newline escaped. For families rendered by
 * hand (the router's, the health probes'). Returns 0, or -1 out of memory. */
int sy_metrics_label(struct evbuffer *out, const char *s);

/* Histogram bounds in seconds suited to gateway latencies (request duration,
 * time to first token): 0.0005 s to 120 s, ascending. Pass both to
 * sy_metrics_histogram(). */
extern const double sy_metrics_latency_bounds[];
extern const unsigned sy_metrics_latency_nbounds;

#endif

/*
 * metrics_test.c - unit tests for src/telemetry/metrics.c: per-shard sums,
 * gauges, histogram bucket placement, the exact Prometheus text, label
 * escaping, the overflow series, bounded memory, and updates racing a scrape
 * on several threads.
 */
#include "telemetry/metrics.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole rendered registry as a NUL-terminated string (caller frees). */
static char *render(sy_metrics_t *m)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;
    char *s;

    cr_assert_not_null(b);
    cr_assert_eq(sy_metrics_render(m, b), 0);
    n = evbuffer_get_length(b);
    s = malloc(n + 1);
    cr_assert_not_null(s);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(metrics, free_null_is_noop)
{
    sy_metrics_free(NULL);
}

Test(metrics, counter_sums_across_shards)
{
    sy_metrics_t *m = sy_metrics_new(4, 0);
    const char *labels[] = {"route"};
    const char *chat[] = {"/v1/chat"};
    const char *emb[] = {"/v1/embeddings"};
    sy_metric_t *c = sy_metrics_counter(m, "t_requests_total", "Requests.", 1, labels);

    cr_assert_not_null(c);
    for (unsigned s = 0; s < 4; s++)
        sy_metric_add(c, s, chat, s + 1);
    sy_metric_add(c, 2, emb, 0.5);
    cr_assert_float_eq(sy_metric_value(c, chat), 10, 0);
    cr_assert_float_eq(sy_metric_value(c, emb), 0.5, 0);
    /* Negative, NaN and infinite adds to a counter are dropped. */
    sy_metric_add(c, 0, chat, -3);
    sy_metric_add(c, 0, chat, NAN);
    sy_metric_add(c, 0, chat, INFINITY);
    cr_assert_float_eq(sy_metric_value(c, chat), 10, 0);
    /* observe on a counter adds. */
    sy_metric_observe(c, 1, chat, 2);
    cr_assert_float_eq(sy_metric_value(c, chat), 12, 0);
    sy_metrics_free(m);
}

Test(metrics, gauge_negative_adds)
{
    sy_metrics_t *m = sy_metrics_new(3, 0);
    sy_metric_t *g = sy_metrics_gauge(m, "t_inflight", "In flight.", 0, NULL);
    char *txt;

    cr_assert_not_null(g);
    sy_metric_add(g, 0, NULL, 5);
    sy_metric_add(g, 1, NULL, -2);
    sy_metric_add(g, 2, NULL, -4.5);
    cr_assert_float_eq(sy_metric_value(g, NULL), -1.5, 0);
    sy_metric_add(g, 0, NULL, NAN);
    cr_assert_float_eq(sy_metric_value(g, NULL), -1.5, 0);
    txt = render(m);
    cr_assert_str_eq(txt, "# HELP t_inflight In flight.\n"
                          "# TYPE t_inflight gauge\n"
                          "t_inflight -1.5\n");
    free(txt);
    sy_metrics_free(m);
}

Test(metrics, histogram_buckets_inclusive_bounds)
{
    sy_metrics_t *m = sy_metrics_new(2, 0);
    const double bounds[] = {0.005, 0.5, 1};
    sy_metric_t *h = sy_metrics_histogram(m, "t_lat_seconds", "Latency.", 0, NULL, bounds, 3);
    char *txt;

    cr_assert_not_null(h);
    sy_metric_observe(h, 0, NULL, 0.005);     /* on the bound: le="0.005" */
    sy_metric_observe(h, 1, NULL, 0.0050001); /* just past it: le="0.5" */
    sy_metric_observe(h, 0, NULL, 0);         /* le="0.005" */
    sy_metric_observe(h, 1, NULL, -1);        /* le="0.005" */
    sy_metric_observe(h, 0, NULL, 1);         /* le="1" */
    sy_metric_add(h, 1, NULL, 1.5);           /* add observes: +Inf */
    sy_metric_observe(h, 1, NULL, NAN);       /* dropped */
    cr_assert_float_eq(sy_metric_value(h, NULL), 6, 0);
    txt = render(m);
    /* The sum of these decimals is not exact in binary: compare it apart. */
    const char *head = "# HELP t_lat_seconds Latency.\n"
                       "# TYPE t_lat_seconds histogram\n"
                       "t_lat_seconds_bucket{le=\"0.005\"} 3\n"
                       "t_lat_seconds_bucket{le=\"0.5\"} 4\n"
                       "t_lat_seconds_bucket{le=\"1\"} 5\n"
                       "t_lat_seconds_bucket{le=\"+Inf\"} 6\n"
                       "t_lat_seconds_sum ";
    char *end;
    cr_assert_eq(strncmp(txt, head, strlen(head)), 0, "%s", txt);
    cr_assert_float_eq(strtod(txt + strlen(head), &end), 1.5100001, 1e-12);
    cr_assert_str_eq(end, "\nt_lat_seconds_count 6\n");
    free(txt);
    sy_metrics_free(m);
}

Test(metrics, histogram_without_bounds_has_only_inf)
{
    sy_metrics_t *m = sy_metrics_new(1, 0);
    sy_metric_t *h = sy_metrics_histogram(m, "t_h", "H.", 0, NULL, NULL, 0);
    char *txt;

    cr_assert_not_null(h);
    sy_metric_observe(h, 0, NULL, 7);
    txt = render(m);
    cr_assert_str_eq(txt, "# HELP t_h H.\n"
                          "# TYPE t_h histogram\n"
                          "t_h_bucket{le=\"+Inf\"} 1\n"
                          "t_h_sum 7\n"
                          "t_h_count 1\n");
    free(txt);
    sy_metrics_free(m);
}

Test(metrics, render_exact_small_registry)
{
    sy_metrics_t *m = sy_metrics_new(2, 0);
    const char *req_labels[] = {"route", "status"};
    const char *dur_labels[] = {"route"};
    const char *empty_labels[] = {"x"};
    const double bounds[] = {0.005, 0.5, 1};
    sy_metric_t *req = sy_metrics_counter(m, "t_requests_total", "Requests served.", 2, req_labels);
    sy_metric_t *inflight = sy_metrics_gauge(m, "t_inflight", "Line one\nback\\slash \"q\"", 0, NULL);
    sy_metric_t *dur =
        sy_metrics_histogram(m, "t_duration_seconds", "Duration.", 1, dur_labels, bounds, 3);
    sy_metric_t *empty = sy_metrics_counter(m, "t_empty_total", "Nothing yet.", 1, empty_labels);
    char *txt;

    cr_assert(req && inflight && dur && empty);
    /* Inserted out of order and across shards: the output is sorted. */
    sy_metric_add(req, 1, (const char *[]){"/v1/chat", "500"}, 1);
    sy_metric_add(req, 0, (const char *[]){"/v1/chat", "200"}, 3);
    sy_metric_add(req, 1, (const char *[]){"/v1/chat", "200"}, 2);
    sy_metric_add(req, 0, (const char *[]){"/a", "200"}, 1);
    sy_metric_add(inflight, 0, NULL, 2);
    sy_metric_add(inflight, 1, NULL, -0.5);
    sy_metric_observe(dur, 0, (const char *[]){"/x"}, 0.5);
    sy_metric_observe(dur, 1, (const char *[]){"/x"}, 0.25);
    sy_metric_observe(dur, 1, (const char *[]){"/x"}, 4);
    sy_metric_observe(dur, 0, (const char *[]){"/b"}, 0.001);

    txt = render(m);
    cr_assert_str_eq(txt,
                     "# HELP t_requests_total Requests served.\n"
                     "# TYPE t_requests_total counter\n"
                     "t_requests_total{route=\"/a\",status=\"200\"} 1\n"
                     "t_requests_total{route=\"/v1/chat\",status=\"200\"} 5\n"
                     "t_requests_total{route=\"/v1/chat\",status=\"500\"} 1\n"
                     "# HELP t_inflight Line one\\nback\\\\slash \"q\"\n"
                     "# TYPE t_inflight gauge\n"
                     "t_inflight 1.5\n"
                     "# HELP t_duration_seconds Duration.\n"
                     "# TYPE t_duration_seconds histogram\n"
                     "t_duration_seconds_bucket{route=\"/b\",le=\"0.005\"} 1\n"
                     "t_duration_seconds_bucket{route=\"/b\",le=\"0.5\"} 1\n"
                     "t_duration_seconds_bucket{route=\"/b\",le=\"1\"} 1\n"
                     "t_duration_seconds_bucket{route=\"/b\",le=\"+Inf\"} 1\n"
                     "t_duration_seconds_sum{route=\"/b\"} 0.001\n"
                     "t_duration_seconds_count{route=\"/b\"} 1\n"
                     "t_duration_seconds_bucket{route=\"/x\",le=\"0.005\"} 0\n"
                     "t_duration_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"
                     "t_duration_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"
                     "t_duration_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
                     "t_duration_seconds_sum{route=\"/x\"} 4.75\n"
                     "t_duration_seconds_count{route=\"/x\"} 3\n"
                     "# HELP t_empty_total Nothing yet.\n"
                     "# TYPE t_empty_total counter\n");
    free(txt);

    /* Rendering twice gives the same bytes. */
    txt = render(m);
    char *again = render(m);
    cr_assert_str_eq(txt, again);
    free(txt);
    free(again);
    sy_metrics_free(m);
}

Test(metrics, number_formatting)
{
    sy_metrics_t *m = sy_metrics_new(1, 0);
    const char *labels[] = {"k"};
    sy_metric_t *g = sy_metrics_gauge(m, "t_g", "G.", 1, labels);
    char *txt;

    sy_metric_add(g, 0, (const char *[]){"a_int"}, 3);
    sy_metric_add(g, 0, (const char *[]){"b_small"}, 0.005);
    sy_metric_add(g, 0, (const char *[]){"c_sum"}, 0.1);
    sy_metric_add(g, 0, (const char *[]){"c_sum"}, 0.2);
    sy_metric_add(g, 0, (const char *[]){"d_big"}, 123456789012345.0);
    sy_metric_add(g, 0, (const char *[]){"e_huge"}, 1e20);
    sy_metric_add(g, 0, (const char *[]){"f_neg"}, -2);
    sy_metric_add(g, 0, (const char *[]){"g_zero"}, 1);
    sy_metric_add(g, 0, (const char *[]){"g_zero"}, -1);
    sy_metric_add(g, 0, (const char *[]){"h_frac"}, 1234567.5);
    sy_metric_add(g, 0, (const char *[]){"i_tiny"}, 1e-7);
    txt = render(m);
    cr_assert_str_eq(txt, "# HELP t_g G.\n"
                          "# TYPE t_g gauge\n"
                          "t_g{k=\"a_int\"} 3\n"
                          "t_g{k=\"b_small\"} 0.005\n"
                          "t_g{k=\"c_sum\"} 0.30000000000000004\n"
                          "t_g{k=\"d_big\"} 123456789012345\n"
                          "t_g{k=\"e_huge\"} 1e+20\n"
                          "t_g{k=\"f_neg\"} -2\n"
                          "t_g{k=\"g_zero\"} 0\n"
                          "t_g{k=\"h_frac\"} 1234567.5\n"
                          "t_g{k=\"i_tiny\"} 1e-07\n");
    free(txt);
    sy_metrics_free(m);
}

Test(metrics, label_escaping_and_null_values)
{
    sy_metrics_t *m = sy_metrics_new(1, 0);
    const char *labels[] = {"a", "b"};
    sy_metric_t *c = sy_metrics_counter(m, "t_esc_total", "E.", 2, labels);
    char *txt;

    sy_metric_add(c, 0, (const char *[]){"back\\slash \"quoted\"\nnext", "plain"}, 1);
    sy_metric_add(c, 0, (const char *[]){NULL, "x"}, 2);
    sy_metric_add(c, 0, NULL, 4); /* every value "" */
    cr_assert_float_eq(sy_metric_value(c, (const char *[]){"", "x"}), 2, 0);
    cr_assert_float_eq(sy_metric_value(c, (const char *[]){"", ""}), 4, 0);
    txt = render(m);
    cr_assert_str_eq(txt, "# HELP t_esc_total E.\n"
                          "# TYPE t_esc_total counter\n"
                          "t_esc_total{a=\"\",b=\"\"} 4\n"
                          "t_esc_total{a=\"\",b=\"x\"} 2\n"
                          "t_esc_total{a=\"back\\\\slash \\\"quoted\\\"\\nnext\",b=\"plain\"} 1\n");
    free(txt);
    sy_metrics_free(m);
}

Test(metrics, label_values_are_distinct_by_position)
{
    sy_metrics_t *m = sy_metrics_new(1, 0);
    const char *labels[] = {"a", "b"};
    sy_metric_t *c = sy_metrics_counter(m, "t_pos_total", "P.", 2, labels);

    sy_metric_add(c, 0, (const char *[]){"a", "bc"}, 1);
    sy_metric_add(c, 0, (const char *[]){"ab", "c"}, 2);
    cr_assert_float_eq(sy_metric_value(c, (const char *[]){"a", "bc"}), 1, 0);
    cr_assert_float_eq(sy_metric_value(c, (const char *[]){"ab", "c"}), 2, 0);
    sy_metrics_free(m);
}

Test(metrics, long_values_truncated_on_char_boundary)
{
    sy_metrics_t *m = sy_metrics_new(1, 0);
    const char *labels[] = {"model"};
    sy_metric_t *c = sy_metrics_counter(m, "t_long_total", "L.", 1, labels);
    char longa[300], longb[300], utf[300], want[400];
    char *txt;

    memset(longa, 'x', 200);
    longa[200] = '\0';
    memcpy(longb, longa, SY_METRICS_MAX_VALUE_BYTES);
    memcpy(longb + SY_METRICS_MAX_VALUE_BYTES, "different tail", 15);
    sy_metric_add(c, 0, (const char *[]){longa}, 1);
    sy_metric_add(c, 0, (const char *[]){longb}, 1);
    /* Both share their first SY_METRICS_MAX_VALUE_BYTES bytes: one series. */
    cr_assert_float_eq(sy_metric_value(c, (const char *[]){longa}), 2, 0);

    /* A two-byte character straddling the limit is dropped whole. */
    memset(utf, 'a', SY_METRICS_MAX_VALUE_BYTES - 1);
    memcpy(utf + SY_METRICS_MAX_VALUE_BYTES - 1, "\xc3\xa9tail", 7);
    sy_metric_add(c, 0, (const char *[]){utf}, 5);
    txt = render(m);
    memcpy(want, "t_long_total{model=\"", 20);
    memset(want + 20, 'a', SY_METRICS_MAX_VALUE_BYTES - 1);
    memcpy(want + 20 + SY_METRICS_MAX_VALUE_BYTES - 1, "\"} 5\n", 6);
    cr_assert_not_null(strstr(txt, want), "%s", txt);
    free(txt);
    sy_metrics_free(m);
}

Test(metrics, overflow_series_past_max_series)
{
    sy_metrics_t *m = sy_metrics_new(2, 2);
    const char *labels[] = {"model", "route"};
    const char *ov[] = {"_overflow", "_overflow"};
    sy_metric_t *c = sy_metrics_counter(m, "t_ov_total", "O.", 2, labels);
    char *txt;

    sy_metric_add(c, 0, (const char *[]){"a", "r"}, 1);
    sy_metric_add(c, 1, (const char *[]){"b", "r"}, 1);
    sy_metric_add(c, 0, (const char *[]){"c", "r"}, 1);
    sy_metric_add(c, 1, (const char *[]){"d", "r"}, 1);
    sy_metric_add(c, 1, (const char *[]){"c", "r"}, 1);
    /* Known series keep counting in any shard. */
    sy_metric_add(c, 1, (const char *[]){"a", "r"}, 1);
    cr_assert_float_eq(sy_metric_value(c, (const char *[]){"a", "r"}), 2, 0);
    cr_assert_float_eq(sy_metric_value(c, (const char *[]){"c", "r"}), 0, 0);
    cr_assert_float_eq(sy_metric_value(c, ov), 3, 0);
    txt = render(m);
    cr_assert_str_eq(txt, "# HELP t_ov_total O.\n"
                          "# TYPE t_ov_total counter\n"
                          "t_ov_total{model=\"_overflow\",route=\"_overflow\"} 3\n"
                          "t_ov_total{model=\"a\",route=\"r\"} 2\n"
                          "t_ov_total{model=\"b\",route=\"r\"} 1\n");
    free(txt);
    sy_metrics_free(m);
}

Test(metrics, max_series_counts_distinct_sets_not_shards)
{
    sy_metrics_t *m = sy_metrics_new(4, 3);
    const char *labels[] = {"k"};
    sy_metric_t *c = sy_metrics_counter(m, "t_d_total", "D.", 1, labels);
    const char *ks[] = {"x", "y", "z"};
    char *txt;

    /* Every shard sees the same three sets: no overflow. */
    for (unsigned s = 0; s < 4; s++)
        for (unsigned i = 0; i < 3; i++)
            sy_metric_add(c, s, &ks[i], 1);
    txt = render(m);
    cr_assert_str_eq(txt, "# HELP t_d_total D.\n"
                          "# TYPE t_d_total counter\n"
                          "t_d_total{k=\"x\"} 4\n"
                          "t_d_total{k=\"y\"} 4\n"
                          "t_d_total{k=\"z\"} 4\n");
    free(txt);
    sy_metrics_free(m);
}

Test(metrics, histogram_overflow)
{
    sy_metrics_t *m = sy_metrics_new(1, 1);
    const char *labels[] = {"model"};
    const double bounds[] = {1};
    sy_metric_t *h = sy_metrics_histogram(m, "t_ho", "HO.", 1, labels, bounds, 1);

    sy_metric_observe(h, 0, (const char *[]){"m1"}, 0.5);
    sy_metric_observe(h, 0, (const char *[]){"m2"}, 2);
    sy_metric_observe(h, 0, (const char *[]){"m3"}, 0.5);
    cr_assert_float_eq(sy_metric_value(h, (const char *[]){"m1"}), 1, 0);
    cr_assert_float_eq(sy_metric_value(h, (const char *[]){"_overflow"}), 2, 0);
    sy_metrics_free(m);
}

Test(metrics, value_of_absent_series_is_zero)
{
    sy_metrics_t *m = sy_metrics_new(2, 0);
    const char *labels[] = {"k"};
    const double bounds[] = {1};
    sy_metric_t *c = sy_metrics_counter(m, "t_a_total", "A.", 1, labels);
    sy_metric_t *h = sy_metrics_histogram(m, "t_a_h", "H.", 1, labels, bounds, 1);

    cr_assert_float_eq(sy_metric_value(c, (const char *[]){"nope"}), 0, 0);
    cr_assert_float_eq(sy_metric_value(h, (const char *[]){"nope"}), 0, 0);
    sy_metric_add(c, 0, (const char *[]){"yes"}, 1);
    cr_assert_float_eq(sy_metric_value(c, (const char *[]){"nope"}), 0, 0);
    cr_assert_float_eq(sy_metric_value(NULL, NULL), 0, 0);
    sy_metric_add(NULL, 0, NULL, 1); /* ignored */
    sy_metrics_free(m);
}

Test(metrics, shard_index_past_end_uses_last_shard)
{
    sy_metrics_t *m = sy_metrics_new(2, 0);
    sy_metric_t *c = sy_metrics_counter(m, "t_s_total", "S.", 0, NULL);

    sy_metric_add(c, 99, NULL, 2);
    sy_metric_add(c, 1, NULL, 3);
    cr_assert_float_eq(sy_metric_value(c, NULL), 5, 0);
    sy_metrics_free(m);
}

Test(metrics, registration_rejects_bad_arguments)
{
    sy_metrics_t *m = sy_metrics_new(1, 0);
    const char *ok[] = {"route"};
    const char *dup[] = {"a", "a"};
    const char *le[] = {"le"};
    const char *bad[] = {"9x"};
    const char *reserved[] = {"__x"};
    const char *seven[] = {"a", "b", "c", "d", "e", "f", "g"};
    const char *nul[] = {NULL};
    const double unsorted[] = {1, 0.5};
    const double equal[] = {1, 1};
    const double inf[] = {1, INFINITY};

    cr_assert_null(sy_metrics_counter(NULL, "x_total", "X.", 0, NULL));
    cr_assert_null(sy_metrics_counter(m, NULL, "X.", 0, NULL));
    cr_assert_null(sy_metrics_counter(m, "", "X.", 0, NULL));
    cr_assert_null(sy_metrics_counter(m, "bad-name", "X.", 0, NULL));
    cr_assert_null(sy_metrics_counter(m, "1abc", "X.", 0, NULL));
    cr_assert_null(sy_metrics_counter(m, "x_total", "X.", 1, NULL));
    cr_assert_null(sy_metrics_counter(m, "x_total", "X.", 1, nul));
    cr_assert_null(sy_metrics_counter(m, "x_total", "X.", 2, dup));
    cr_assert_null(sy_metrics_counter(m, "x_total", "X.", 1, bad));
    cr_assert_null(sy_metrics_counter(m, "x_total", "X.", 1, reserved));
    cr_assert_null(sy_metrics_counter(m, "x_total", "X.", 7, seven));
    cr_assert_null(sy_metrics_histogram(m, "x_h", "X.", 1, le, NULL, 0));
    cr_assert_null(sy_metrics_histogram(m, "x_h", "X.", 0, NULL, unsorted, 2));
    cr_assert_null(sy_metrics_histogram(m, "x_h", "X.", 0, NULL, equal, 2));
    cr_assert_null(sy_metrics_histogram(m, "x_h", "X.", 0, NULL, inf, 2));
    cr_assert_null(sy_metrics_histogram(m, "x_h", "X.", 0, NULL, NULL, 2));

    cr_assert_not_null(sy_metrics_counter(m, "x:ns_total", NULL, 1, ok));
    cr_assert_not_null(sy_metrics_gauge(m, "x_g", "X.", 6, seven));
    cr_assert_null(sy_metrics_gauge(m, "x:ns_total", "again", 0, NULL)); /* duplicate */
    cr_assert_not_null(sy_metrics_histogram(m, "x_h", "X.", 1, ok,
                                            sy_metrics_latency_bounds,
                                            sy_metrics_latency_nbounds));
    sy_metrics_free(m);
}

Test(metrics, latency_bounds)
{
    const double want[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                           0.5,    1,     2.5,    5,     10,   30,    60,   120};

    cr_assert_eq(sy_metrics_latency_nbounds, sizeof want / sizeof want[0]);
    for (unsigned i = 0; i < sy_metrics_latency_nbounds; i++)
        cr_assert_eq(sy_metrics_latency_bounds[i], want[i], "bound %u", i);
}

Test(metrics, latency_histogram_renders_bounds_plainly)
{
    sy_metrics_t *m = sy_metrics_new(1, 0);
    sy_metric_t *h = sy_metrics_histogram(m, "t_l", "L.", 0, NULL, sy_metrics_latency_bounds,
                                          sy_metrics_latency_nbounds);
    char *txt;

    sy_metric_observe(h, 0, NULL, 0.0007);
    txt = render(m);
    cr_assert_not_null(strstr(txt, "t_l_bucket{le=\"0.0005\"} 0\nt_l_bucket{le=\"0.001\"} 1\n"),
                       "%s", txt);
    cr_assert_not_null(strstr(txt, "t_l_bucket{le=\"2.5\"} 1\n"));
    cr_assert_not_null(strstr(txt, "t_l_bucket{le=\"120\"} 1\nt_l_bucket{le=\"+Inf\"} 1\n"));
    cr_assert_not_null(strstr(txt, "t_l_sum 0.0007\nt_l_count 1\n"));
    cr_assert_eq(count_lines(txt), 2 + sy_metrics_latency_nbounds + 1 + 2);
    free(txt);
    sy_metrics_free(m);
}

Test(metrics, render_rejects_null)
{
    struct evbuffer *b = evbuffer_new();

    cr_assert_eq(sy_metrics_render(NULL, b), -1);
    evbuffer_free(b);
}

/* ---- threads --------------------------------------------------------------- */

#define NTHREADS 4
#define NADDS 100000

struct worker {
    sy_metric_t *c, *h, *wide;
    unsigned shard;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const char *v[] = {"r"};
    char name[32];

    for (unsigned i = 0; i < NADDS; i++) {
        sy_metric_add(w->c, w->shard, v, 1);
        if (i % 100 == 0)
            sy_metric_observe(w->h, w->shard, v, (double)(i % 3));
        /* Every thread inserts the same new keys at the same time. */
        if (i % 50 == 0) {
            snprintf(name, sizeof name, "k%u", i / 50 % 500);
            sy_metric_add(w->wide, w->shard, (const char *[]){name}, 1);
        }
    }
    return NULL;
}

/* The number after `prefix` in txt, or -1. */
static double value_after(const char *txt, const char *prefix)
{
    const char *p = strstr(txt, prefix);
    return p ? strtod(p + strlen(prefix), NULL) : -1;
}

Test(metrics, concurrent_adds_while_rendering)
{
    sy_metrics_t *m = sy_metrics_new(NTHREADS + 1, 300);
    const char *labels[] = {"k"};
    const double bounds[] = {0.5, 1.5};
    struct worker w[NTHREADS];
    pthread_t th[NTHREADS];
    double last = 0;
    unsigned renders = 0;
    char *txt;

    sy_metric_t *c = sy_metrics_counter(m, "t_c_total", "C.", 1, labels);
    sy_metric_t *h = sy_metrics_histogram(m, "t_h", "H.", 1, labels, bounds, 2);
    sy_metric_t *wide = sy_metrics_counter(m, "t_w_total", "W.", 1, labels);
    cr_assert(c && h && wide);

    for (unsigned i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.c = c, .h = h, .wide = wide, .shard = i};
        cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    /* Scrape while they run: sums only grow and never pass the total. */
    for (;;) {
        double now;

        txt = render(m);
        now = value_after(txt, "t_c_total{k=\"r\"} ");
        free(txt);
        renders++;
        if (now >= 0) {
            cr_assert_geq(now, last);
            cr_assert_leq(now, (double)NTHREADS * NADDS);
            last = now;
        }
        if (last == (double)NTHREADS * NADDS || renders > 100000)
            break;
    }
    for (unsigned i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);

    cr_assert_float_eq(sy_metric_value(c, (const char *[]){"r"}),
                       (double)NTHREADS * NADDS, 0);
    cr_assert_float_eq(sy_metric_value(h, (const char *[]){"r"}), NTHREADS * NADDS / 100.0, 0);
    txt = render(m);
    cr_assert_not_null(strstr(txt, "t_c_total{k=\"r\"} 400000\n"), "%s", txt);
    cr_assert_not_null(strstr(txt, "t_h_count{k=\"r\"} 4000\n"));
    /* i % 100 == 0 and i % 3: 334 zeros, 333 ones, 333 twos per thread. */
    cr_assert_not_null(strstr(txt, "t_h_bucket{k=\"r\",le=\"0.5\"} 1336\n"));
    cr_assert_not_null(strstr(txt, "t_h_bucket{k=\"r\",le=\"1.5\"} 2668\n"));
    cr_assert_not_null(strstr(txt, "t_h_sum{k=\"r\"} 3996\n"));
    /* 500 distinct keys raced in by four threads, bound 300: exactly 300
     * series plus the overflow one, and nothing lost. */
    {
        const char *p = strstr(txt, "# TYPE t_w_total counter\n");
        double total = 0;
        unsigned series = 0;

        cr_assert_not_null(p);
        p = strchr(p, '\n') + 1;
        while (*p && *p != '#') {
            const char *sp = strchr(p, ' ');
            total += strtod(sp + 1, NULL);
            series++;
            p = strchr(p, '\n') + 1;
        }
        cr_assert_eq(series, 301);
        cr_assert_float_eq(total, NTHREADS * NADDS / 50.0, 0);
        cr_assert_float_eq(sy_metric_value(wide, (const char *[]){"_overflow"}),
                           NTHREADS * 200 * 4, 0);
    }
    free(txt);
    sy_metrics_free(m);
}

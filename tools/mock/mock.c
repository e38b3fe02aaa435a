/*
 * mock.c - sy-mock's entry point: flags, worker threads, signals.
 *
 * sy-mock is the simulated upstream the gateway's tests and benchmarks run
 * against (see mock.h for its modules and docs/sy-mock.md for its use). main
 * parses the flags, starts one worker per event loop on a shared SO_REUSEPORT
 * port, prints the one "listening" line callers wait for, then sleeps in
 * sigwait until SIGINT or SIGTERM: the signals are blocked in every thread,
 * so no handler runs inside a loop. On a signal it asks each loop to exit,
 * joins the threads and frees everything, which lets it run leak-free under
 * AddressSanitizer.
 */
#include "mock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#define MAX_WORKERS 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sy-mock --listen HOST:PORT [--workers N] [--latency-ms N] [--ttft-ms N]\n"
            "               [--itl-ms N] [--tokens N] [--quiet]\n"
            "A simulated OpenAI, Ollama and Anthropic upstream. PORT 0 picks a free port.\n"
            "Per-request headers x-mock-latency-ms, x-mock-ttft-ms, x-mock-itl-ms,\n"
            "x-mock-tokens, x-mock-status, x-mock-retry-after, x-mock-fault and\n"
            "x-mock-timestamps override the flags. Endpoints: GET /__stats (counters),\n"
            "POST /__reset (zeroes them, clears the fault plan), POST /__faults (sets an\n"
            "instance-wide fault plan for later requests; {} clears it) and GET /__faults\n"
            "(shows it), POST /__health (what /api/ps, /slots and /metrics claim; {}\n"
            "restores the defaults) and GET /__health. See docs/sy-mock.md.\n");
}

static int parse_num(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "sy-mock: %s wants an integer from %ld to %ld, not \"%s\"\n", flag, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* Splits HOST:PORT (HOST may be [v6]) into cfg. Returns 0 or -1. */
static int parse_listen(const char *v, sy_mock_config_t *cfg)
{
    const char *colon = strrchr(v, ':');
    long port;
    if (colon == NULL) {
        fprintf(stderr, "sy-mock: --listen wants HOST:PORT, not \"%s\"\n", v);
        return -1;
    }
    const char *h = v;
    size_t hl = (size_t)(colon - v);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= sizeof cfg->host) {
        fprintf(stderr, "sy-mock: --listen host is too long\n");
        return -1;
    }
    memcpy(cfg->host, h, hl);
    cfg->host[hl] = 0;
    if (parse_num("--listen port", colon + 1, 0, 65535, &port) < 0)
        return -1;
    cfg->port = (int)port;
    return 0;
}

/* Fills cfg from argv. Returns 0, 1 for --help, or -1 on a bad flag. */
static int parse_args(int argc, char **argv, sy_mock_config_t *cfg)
{
    long n, cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int have_listen = 0;

    memset(cfg, 0, sizeof *cfg);
    cfg->workers = cpus > 0 ? (int)(cpus > MAX_WORKERS ? MAX_WORKERS : cpus) : 1;
    cfg->tokens = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        char name[32];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) {
            fprintf(stderr, "sy-mock: unknown flag %s\n", a);
            return -1;
        }
        memcpy(name, a, nl);
        name[nl] = 0;
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
            return 1;
        if (strcmp(name, "--quiet") == 0) {
            cfg->quiet = 1;
            continue;
        }
        if (strcmp(name, "--listen") && strcmp(name, "--workers") && strcmp(name, "--latency-ms") &&
            strcmp(name, "--ttft-ms") && strcmp(name, "--itl-ms") && strcmp(name, "--tokens")) {
            fprintf(stderr, "sy-mock: unknown flag %s\n", a);
            return -1;
        }
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            fprintf(stderr, "sy-mock: %s needs a value\n", name);
            return -1;
        }
        if (strcmp(name, "--listen") == 0) {
            if (parse_listen(val, cfg) < 0)
                return -1;
            have_listen = 1;
        } else if (strcmp(name, "--workers") == 0) {
            if (parse_num(name, val, 1, MAX_WORKERS, &n) < 0)
                return -1;
            cfg->workers = (int)n;
        } else if (strcmp(name, "--latency-ms") == 0) {
            if (parse_num(name, val, 0, SY_MOCK_MAX_DELAY_MS, &cfg->latency_ms) < 0)
                return -1;
        } else if (strcmp(name, "--ttft-ms") == 0) {
            if (parse_num(name, val, 0, SY_MOCK_MAX_DELAY_MS, &cfg->ttft_ms) < 0)
                return -1;
        } else if (strcmp(name, "--itl-ms") == 0) {
            if (parse_num(name, val, 0, SY_MOCK_MAX_DELAY_MS, &cfg->itl_ms) < 0)
                return -1;
        } else {
            if (parse_num(name, val, 0, SY_MOCK_MAX_TOKENS, &cfg->tokens) < 0)
                return -1;
        }
    }
    if (!have_listen) {
        fprintf(stderr, "sy-mock: --listen HOST:PORT is required\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    sy_mock_config_t cfg;
    sy_mock_stats_t *stats = NULL;
    sy_mock_faults_t *faults = NULL;
    sy_mock_health_t *health = NULL;
    sy_mock_worker_t **workers = NULL;
    sigset_t set;
    int rc = 1, sig = 0, port;

    int pr = parse_args(argc, argv, &cfg);
    if (pr != 0) {
        usage(pr > 0 ? stdout : stderr);
        return pr > 0 ? 0 : 2;
    }

    /* A peer that leaves mid-write must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    /* Blocked before any thread starts, so every thread inherits the mask and
     * only sigwait below ever takes these signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* Loops are told to exit from this thread: their bases need locks. */
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "sy-mock: libevent has no pthreads support\n");
        goto out;
    }

    stats = sy_mock_stats_new();
    faults = sy_mock_faults_new();
    health = sy_mock_health_new();
    workers = calloc((size_t)cfg.workers, sizeof *workers);
    if (stats == NULL || faults == NULL || health == NULL || workers == NULL) {
        fprintf(stderr, "sy-mock: out of memory\n");
        goto out;
    }
    port = cfg.port;
    for (int i = 0; i < cfg.workers; i++) {
        /* The first worker resolves port 0; the rest join the port it got. */
        workers[i] = sy_mock_worker_new(i, &cfg, &port, stats, faults, health);
        if (workers[i] == NULL)
            goto out;
    }
    for (int i = 0; i < cfg.workers; i++) {
        if (sy_mock_worker_start(workers[i]) != 0) {
            fprintf(stderr, "sy-mock: cannot start worker thread %d\n", i);
            goto out;
        }
    }

    char authority[300];
    sy_mock_worker_authority(workers[0], authority, sizeof authority);
    printf("sy-mock listening on http://%s\n", authority);
    fflush(stdout);

    while (sigwait(&set, &sig) != 0)
        ;
    if (!cfg.quiet)
        fprintf(stderr, "sy-mock: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    if (workers) {
        for (int i = 0; i < cfg.workers; i++)
            sy_mock_worker_stop(workers[i]);
        for (int i = 0; i < cfg.workers; i++)
            sy_mock_worker_free(workers[i]);
        free(workers);
    }
    sy_mock_stats_free(stats);
    sy_mock_faults_free(faults);
    sy_mock_health_free(health);
    libevent_global_shutdown();
    return rc;
}

#!/usr/bin/env bash
# bench/run.sh - `make bench`: switchyard side by side with nginx, one run.
#
# Starts sy-mock (the simulated upstream), nginx proxying to it, and two
# switchyards (server.workers 1 and auto) in front of it, all on free
# 127.0.0.1 ports, then:
#   1. wrk: a ~1.2 KB non-streaming chat request at 4 and 64 connections
#      against each target (direct, nginx, switchyard w=1, switchyard auto),
#      in interleaved rounds so drift on this shared machine hits all alike;
#   2. sy-stream: streaming requests timestamped by the mock, direct, through
#      nginx (proxy_buffering off) and through switchyard (workers auto);
#   3. VmRSS of the switchyard (workers auto) right after start and after load;
#   4. the translated paths on the workers-1 switchyard: the same conversation
#      as an Ollama /api/chat and an Anthropic /v1/messages request, served
#      by the same OpenAI upstream, in the wrk rounds of step 1 (per request)
#      and as long streams (per chunk); the switchyard's CPU time from
#      /proc/PID/stat around each run, divided by the requests or chunks it
#      served, gives the translation's cost beside the passthrough's;
#   5. cache hits: the same wrk runs, in the same rounds, against a model with
#      the exact cache on (warmed with one request, so every request is a hit)
#      on both switchyards, beside sy-mock serving the same reply directly;
#      /api/stats and sy-mock's /__stats must show that they were all hits;
#   6. dedup fan-out: bench/sy-fanout.c sends 1000 identical streaming
#      requests at once to a third switchyard (workers auto) whose upstream
#      stream is slow enough that they all overlap; sy-mock must see one call,
#      every waiter must get the whole stream;
#   7. the semantic cache's precision and recall on tests/data/semantic-pairs.tsv
#      at several thresholds (build/semantic-eval);
#   8. the routing decision's cost (build/sy-route): router.rules and the
#      pick over 100 deployments with 50 rules, p50/p99/p999 in ns.
# Everything is compared as ratios within this one run. Results go to
# BENCHMARKS.md at the repo root (overwritten). Every process started here is
# killed on exit, including on failure; a figure that could not be measured is
# written as such and the script exits non-zero after writing the report.
#
# Knobs (environment): BUILD (build), BENCH_ROUNDS (3), BENCH_DURATION (5 s per
# round), BENCH_WARMUP (2 s before the first round), BENCH_STREAM_REQUESTS
# (200), BENCH_STREAM_CONC (2), BENCH_XSTREAM_REQUESTS (120 long streams per
# path for the per-chunk cost), BENCH_XSTREAM_CONC (4), BENCH_FANOUT_WAITERS
# (1000), BENCH_FANOUT_ROUNDS (BENCH_ROUNDS), BENCH_OUT (BENCHMARKS.md),
# BENCH_KEEP=1 keeps the temp dir with logs and configs.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-2}
STREAM_N=${BENCH_STREAM_REQUESTS:-200}
STREAM_C=${BENCH_STREAM_CONC:-2}
STREAM_TOKENS=64
STREAM_TTFT_MS=5
STREAM_ITL_MS=2
XS_N=${BENCH_XSTREAM_REQUESTS:-120}
XS_C=${BENCH_XSTREAM_CONC:-4}
XS_TOKENS=500
XS_ITL_MS=1
FAN_N=${BENCH_FANOUT_WAITERS:-1000}
FAN_ROUNDS=${BENCH_FANOUT_ROUNDS:-$ROUNDS}
FAN_TOKENS=64
FAN_TTFT_MS=300
FAN_ITL_MS=5
CLK_TCK=$(getconf CLK_TCK)
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
NGINX=/usr/sbin/nginx
CONNS=(4 64)
TARGETS=(direct nginx sw1 swauto)
XTARGETS=(sw1oll sw1ant)   # the translated paths, on the sw1 switchyard
PATH_CHAT=/v1/chat/completions
PATH_OLLAMA=/api/chat
PATH_ANTHROPIC=/v1/messages

SWITCHYARD=$ROOT/$BUILD/switchyard
MOCK=$ROOT/$BUILD/sy-mock
STREAM=$ROOT/$BUILD/sy-stream
FANOUT=$ROOT/$BUILD/sy-fanout
SEMEVAL=$ROOT/$BUILD/semantic-eval
ROUTE=$ROOT/$BUILD/sy-route
ONCE_LUA=$ROOT/bench/once.lua
LUA=$ROOT/bench/chat.lua
XLUA=$ROOT/bench/translated.lua

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sy-bench.XXXXXX")
PIDS=()        # every long-running process started here
PROBLEMS=()    # what went wrong; any entry makes the exit status 1
CMDS=()        # the exact commands, for the report
START_TS=$(date +%s)

log() { printf 'bench: %s\n' "$*" >&2; }
problem() { PROBLEMS+=("$*"); log "PROBLEM: $*"; }

cleanup() {
    local p i
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        for i in $(seq 1 30); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    PIDS=()
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# Runs a command in the background, tracked for cleanup, and waits for it, so
# a signal to this script is handled at once and reaches the child.
run_tracked() {
    local pid rc
    "$@" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid"
    rc=$?
    forget_pid "$pid"
    return $rc
}

forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

free_port() {
    perl -MIO::Socket::INET -e \
        'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0", ReuseAddr => 1) or exit 1; print $s->sockport, "\n";'
}

# Waits until a line matching a regex appears in a file (or the process dies).
wait_line() { # file regex pid seconds
    local i
    for i in $(seq 1 $(($4 * 20))); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# One chat request; prints the HTTP status (000 when nothing answered).
probe_chat() { # port path model
    curl -s -o "$TMP/probe.out" -w '%{http_code}' --max-time 5 \
        -H 'Content-Type: application/json' \
        -d "{\"model\":\"$3\",\"messages\":[{\"role\":\"user\",\"content\":\"ping\"}]}" \
        "http://127.0.0.1:$1$2" 2>/dev/null || true
}

rss_mb() { # pid -> VmRSS in MB (kB / 1024), empty if unreadable
    awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null
}

# pid -> "utime stime", the process's CPU time (all its threads) in clock
# ticks from /proc/PID/stat, fields 14 and 15; empty if unreadable. What
# precedes them is cut at the last ")" since the command name may hold spaces.
cpu_ticks() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo "${12} ${13}"
}

# awk helpers over "-" for missing numbers
calc() { awk -v OFS='' "BEGIN { $1 }" </dev/null; }
is_num() { [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; }

# ---------------------------------------------------------------- binaries
for bin in "$MOCK" "$STREAM" "$FANOUT" "$SEMEVAL" "$ROUTE"; do
    [ -x "$bin" ] || problem "$bin is missing (run make)"
done
[ -x "$SWITCHYARD" ] || problem "$SWITCHYARD is missing (run make)"
command -v wrk >/dev/null || problem "wrk is not installed (make deps)"
[ -x "$NGINX" ] || problem "$NGINX is not installed (make deps)"

# The fan-out holds FAN_N client sockets in sy-fanout and as many in the
# switchyard: raise the soft limit on open files (up to the hard one) for
# every process started from here on.
FD_NEED=$((FAN_N + 256))
FD_LIMIT=$(ulimit -n)
if [ "$FD_LIMIT" != unlimited ] && [ "$FD_LIMIT" -lt "$FD_NEED" ]; then
    ulimit -n "$FD_NEED" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
    FD_LIMIT=$(ulimit -n)
    if [ "$FD_LIMIT" != unlimited ] && [ "$FD_LIMIT" -lt "$FD_NEED" ]; then
        n=$((FD_LIMIT - 256))
        [ "$n" -ge 2 ] || n=2
        problem "ulimit -n is $FD_LIMIT and cannot be raised to $FD_NEED: the fan-out runs with $n waiters instead of $FAN_N"
        FAN_N=$n
    fi
fi

SY_VERSION="not built"
[ -x "$SWITCHYARD" ] && SY_VERSION=$("$SWITCHYARD" --version 2>&1 | head -n1)
NGINX_VERSION=$("$NGINX" -v 2>&1 | head -n1)
WRK_VERSION=$(wrk -v 2>&1 | head -n1)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
NPROC=$(nproc)
KERNEL=$(uname -r)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- sy-mock
MOCK_PORT=""
if [ -x "$MOCK" ]; then
    CMDS+=("$BUILD/sy-mock --listen 127.0.0.1:0 --workers 1 --quiet")
    "$MOCK" --listen 127.0.0.1:0 --workers 1 --quiet >"$TMP/mock.out" 2>"$TMP/mock.err" &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    if wait_line "$TMP/mock.out" '^sy-mock listening on http://127\.0\.0\.1:[0-9]+' "$MOCK_PID" 10; then
        MOCK_PORT=$(sed -nE 's#^sy-mock listening on http://127\.0\.0\.1:([0-9]+).*#\1#p' "$TMP/mock.out" | head -n1)
        log "sy-mock on port $MOCK_PORT"
    else
        problem "sy-mock did not start: $(head -c 300 "$TMP/mock.err" 2>/dev/null)"
    fi
fi

# ---------------------------------------------------------------- nginx
NGINX_PORT=""
NGINX_DIR=$TMP/nginx
write_nginx_conf() { # port
    mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/tmp"
    cat >"$NGINX_DIR/nginx.conf" <<EOF
# generated by bench/run.sh: one process, everything under the -p prefix
daemon off;
master_process off;
worker_processes 1;
error_log $NGINX_DIR/logs/error.log warn;
pid $NGINX_DIR/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    keepalive_requests 1000000;
    upstream mock {
        server 127.0.0.1:$MOCK_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        # streams: relay each chunk as it arrives
        location /stream/ {
            proxy_pass http://mock/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
}

if [ -n "$MOCK_PORT" ] && [ -x "$NGINX" ]; then
    for attempt in 1 2 3; do
        port=$(free_port) || { problem "no free port for nginx"; break; }
        write_nginx_conf "$port"
        "$NGINX" -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/error.log" \
            >"$NGINX_DIR/logs/stdout" 2>&1 &
        NGINX_PID=$!
        PIDS+=("$NGINX_PID")
        for i in $(seq 1 100); do
            [ "$(probe_chat "$port" "$PATH_CHAT" mock-small)" = 200 ] && { NGINX_PORT=$port; break; }
            kill -0 "$NGINX_PID" 2>/dev/null || break
            sleep 0.05
        done
        [ -n "$NGINX_PORT" ] && break
        kill -TERM "$NGINX_PID" 2>/dev/null
        wait "$NGINX_PID" 2>/dev/null
        forget_pid "$NGINX_PID"
    done
    if [ -n "$NGINX_PORT" ]; then
        CMDS+=("$NGINX -p \$TMP/nginx/ -c \$TMP/nginx/nginx.conf -e \$TMP/nginx/logs/error.log   # config below")
        log "nginx on port $NGINX_PORT"
    else
        problem "nginx did not start: $(tail -c 300 "$NGINX_DIR/logs/error.log" 2>/dev/null)"
    fi
fi

# ---------------------------------------------------------------- switchyard
declare -A SY_PORT SY_PID SY_LOG SY_WORKERS SY_RESTARTS
write_sy_conf() { # name workers
    cat >"$TMP/switchyard-$1.yaml" <<EOF
# generated by bench/run.sh
server:
  listen: "127.0.0.1:0"
  workers: $2
log:
  level: info
  requests: false
providers:
  - name: mock
    type: openai
    base_url: "http://127.0.0.1:$MOCK_PORT/v1"
  # for the streaming runs: switchyard does not pass the client's x-mock-*
  # headers on, so this provider adds the same ones upstream
  - name: mock-stream
    type: openai
    base_url: "http://127.0.0.1:$MOCK_PORT/v1"
    headers: { x-mock-timestamps: "1", x-mock-tokens: "$STREAM_TOKENS", x-mock-ttft-ms: "$STREAM_TTFT_MS", x-mock-itl-ms: "$STREAM_ITL_MS" }
  # for the per-chunk cost of the translated paths: long streams, one token
  # a millisecond, no stamps (a translated stream does not carry them)
  - name: mock-long
    type: openai
    base_url: "http://127.0.0.1:$MOCK_PORT/v1"
    headers: { x-mock-tokens: "$XS_TOKENS", x-mock-itl-ms: "$XS_ITL_MS" }
  # for the dedup fan-out: a stream slow enough (first token after
  # ${FAN_TTFT_MS} ms, then one every ${FAN_ITL_MS} ms) that $FAN_N identical requests overlap
  - name: mock-fanout
    type: openai
    base_url: "http://127.0.0.1:$MOCK_PORT/v1"
    headers: { x-mock-tokens: "$FAN_TOKENS", x-mock-ttft-ms: "$FAN_TTFT_MS", x-mock-itl-ms: "$FAN_ITL_MS" }
models:
  - name: bench
    deployments:
      - { provider: mock, model: "mock-small", weight: 1 }
  - name: bench-stream
    deployments:
      - { provider: mock-stream, model: "mock-small", weight: 1 }
  - name: bench-long
    deployments:
      - { provider: mock-long, model: "mock-small", weight: 1 }
  # the cache-hit runs: the same upstream as bench, answers kept a day
  - name: bench-cached
    cache: { mode: exact, ttl_s: 86400 }
    deployments:
      - { provider: mock, model: "mock-small", weight: 1 }
  - name: bench-fanout
    cache: { mode: exact, ttl_s: 86400 }
    dedup: on
    deployments:
      - { provider: mock-fanout, model: "mock-small", weight: 1 }
EOF
}

start_switchyard() { # name workers
    local name=$1 pid port n=${SY_RESTARTS[$1]:-0} logf
    logf=$TMP/switchyard-$name.log
    [ "$n" -gt 0 ] && logf=$TMP/switchyard-$name.restart$n.log
    SY_LOG[$name]=$logf
    SY_WORKERS[$name]=$2
    write_sy_conf "$name" "$2"
    [ "$n" -gt 0 ] || CMDS+=("$BUILD/switchyard serve --config \$TMP/switchyard-$name.yaml   # workers: $2, config below")
    "$SWITCHYARD" serve --config "$TMP/switchyard-$name.yaml" >"$TMP/switchyard-$name.out" \
        2>"$logf" &
    pid=$!
    PIDS+=("$pid")
    if ! wait_line "$logf" '"msg":"listening"' "$pid" 10; then
        problem "switchyard ($name, workers $2) did not start: $(head -c 400 "$logf")"
        return 1
    fi
    port=$(grep -m1 '"msg":"listening"' "$logf" |
        sed -nE 's#.*"url":"http://[^"]*:([0-9]+)".*#\1#p')
    if [ -z "$port" ]; then
        problem "switchyard ($name): no port in its listening line"
        return 1
    fi
    SY_PORT[$name]=$port
    SY_PID[$name]=$pid
    log "switchyard $name (workers $2) on port $port, pid $pid"
}

# alive = the process exists and has not begun to drain (a SIGTERM from outside)
sy_alive() {
    [ -n "${SY_PID[$1]:-}" ] && kill -0 "${SY_PID[$1]}" 2>/dev/null &&
        ! grep -q '"msg":"draining"' "${SY_LOG[$1]}" 2>/dev/null
}
sy_last_log() { grep -v '"msg":"stopped"' "${SY_LOG[$1]}" 2>/dev/null | tail -n 1 | head -c 300; }

# target -> the switchyard it runs on (sw1, swauto), or nothing (the fan-out's
# swfan is not a wrk target)
sy_of() {
    case $1 in sw1 | sw1oll | sw1ant | sw1hit | xs-*) echo sw1 ;; swauto | swautohit) echo swauto ;; esac
}

# Before a run against a switchyard target: if that switchyard is gone (it
# crashed, or something outside this script stopped it), say so and start a
# fresh one so the remaining figures can still be measured.
ensure_sw() { # target
    local s pid x
    s=$(sy_of "$1")
    [ -n "$s" ] || return 0
    [ -n "${SY_PID[$s]:-}" ] || return 0
    sy_alive "$s" && return 0
    pid=${SY_PID[$s]}
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    problem "switchyard ($s) stopped or began draining (exit status $?; last log line: $(sy_last_log "$s")); restarted it"
    forget_pid "$pid"
    SY_RESTARTS[$s]=$((${SY_RESTARTS[$s]:-0} + 1))
    unset "SY_PID[$s]"
    start_switchyard "$s" "${SY_WORKERS[$s]}" || SY_PORT[$s]=""
    # every target on that switchyard moves to the new port (a target whose
    # path failed its probe stays off)
    for x in "${!PORT[@]}"; do
        [ "$(sy_of "$x")" = "$s" ] && [ -n "${PORT[$x]}" ] && PORT[$x]=${SY_PORT[$s]}
    done
}

RSS_START=""
RSS_AFTER=""
SY_WORKERS_AUTO=""
if [ -n "$MOCK_PORT" ] && [ -x "$SWITCHYARD" ]; then
    start_switchyard sw1 1
    if start_switchyard swauto auto; then
        SY_WORKERS_AUTO=$(grep -m1 '"msg":"listening"' "$TMP/switchyard-swauto.log" |
            sed -nE 's#.*"workers":([0-9]+).*#\1#p')
        sleep 1
        RSS_START=$(rss_mb "${SY_PID[swauto]}")
        [ -n "$RSS_START" ] || problem "could not read VmRSS of switchyard (workers auto)"
    fi
    for name in sw1 swauto; do
        [ -n "${SY_PORT[$name]:-}" ] || continue
        st=$(probe_chat "${SY_PORT[$name]}" "$PATH_CHAT" bench)
        if [ "$st" != 200 ]; then
            problem "switchyard ($name) answered a chat request with HTTP $st: $(head -c 300 "$TMP/probe.out")"
            unset "SY_PORT[$name]"
        fi
    done
fi

declare -A PORT MODEL LABEL W_PATH W_LUA W_PROTO
PORT[direct]=$MOCK_PORT;        MODEL[direct]=mock-small; LABEL[direct]="sy-mock direct"
PORT[nginx]=$NGINX_PORT;        MODEL[nginx]=mock-small;  LABEL[nginx]="nginx proxy_pass (1 worker)"
PORT[sw1]=${SY_PORT[sw1]:-};    MODEL[sw1]=bench;         LABEL[sw1]="switchyard (workers 1)"
PORT[swauto]=${SY_PORT[swauto]:-}; MODEL[swauto]=bench;   LABEL[swauto]="switchyard (workers auto = ${SY_WORKERS_AUTO:-?})"
# the translated paths: same switchyard, same model, another client API
PORT[sw1oll]=${SY_PORT[sw1]:-}; MODEL[sw1oll]=bench; LABEL[sw1oll]="Ollama /api/chat → OpenAI upstream"
PORT[sw1ant]=${SY_PORT[sw1]:-}; MODEL[sw1ant]=bench; LABEL[sw1ant]="Anthropic /v1/messages → OpenAI upstream"
W_PATH[sw1oll]=$PATH_OLLAMA;    W_LUA[sw1oll]=$XLUA; W_PROTO[sw1oll]=ollama
W_PATH[sw1ant]=$PATH_ANTHROPIC; W_LUA[sw1ant]=$XLUA; W_PROTO[sw1ant]=anthropic
XLABEL_PASS="OpenAI /v1/chat/completions (passthrough)"

# One non-streaming request on a translated path; 0 when it answered 200 with
# a whole message in the client's API, else a problem says what came back and
# the path is left out of the run (its rows say "not measured").
probe_translated() { # target
    local t=$1 body want st
    case $t in
    sw1oll)
        body='{"model":"bench","stream":false,"messages":[{"role":"user","content":"ping"}]}'
        want='"done":true' ;;
    sw1ant)
        body='{"model":"bench","max_tokens":64,"messages":[{"role":"user","content":"ping"}]}'
        want='"type":"message"' ;;
    esac
    st=$(curl -s -o "$TMP/probe.out" -w '%{http_code}' --max-time 5 \
        -H 'Content-Type: application/json' -H 'anthropic-version: 2023-06-01' \
        -d "$body" "http://127.0.0.1:${PORT[$t]}${W_PATH[$t]}" 2>/dev/null || true)
    if [ "$st" = 200 ] && grep -qF "$want" "$TMP/probe.out" && grep -q '"content"' "$TMP/probe.out"; then
        return 0
    fi
    problem "translated path ${LABEL[$t]}: POST ${W_PATH[$t]} through switchyard (workers 1) answered HTTP ${st:-000}: $(head -c 200 "$TMP/probe.out" 2>/dev/null); its per-request and per-chunk figures are not measured"
    return 1
}
for t in "${XTARGETS[@]}"; do
    [ -n "${PORT[$t]}" ] || continue
    probe_translated "$t" || PORT[$t]=""
done

# ---------------------------------------------------------------- cache hits
# The same wrk runs against the model bench-cached (exact cache) on both
# switchyards, compared with sy-mock serving the same reply directly (the
# target "direct", in the same rounds). The cache is warmed with one request
# of exactly the body chat.lua builds; bench/once.lua sends it once and
# writes it to a file, so curl can send it again byte for byte.
HIT_TARGETS=(sw1hit swautohit)
declare -A IS_HIT HIT_WARM
PORT[sw1hit]=${SY_PORT[sw1]:-};       MODEL[sw1hit]=bench-cached
PORT[swautohit]=${SY_PORT[swauto]:-}; MODEL[swautohit]=bench-cached
LABEL[sw1hit]="cache hits, switchyard (workers 1)"
LABEL[swautohit]="cache hits, switchyard (workers auto = ${SY_WORKERS_AUTO:-?})"
IS_HIT[sw1hit]=1 IS_HIT[swautohit]=1
HIT_BODY=$TMP/hit-body.json

# /api/stats: the cache's hits (all tiers), and "joins leads" of the dedup
stat_hits() { # port
    curl -s --max-time 5 "http://127.0.0.1:$1/api/stats" 2>/dev/null |
        sed -nE 's/.*"cache":\{[^{]*"hits":([0-9]+).*/\1/p'
}
stat_dedup() { # port
    local j
    j=$(curl -s --max-time 5 "http://127.0.0.1:$1/api/stats" 2>/dev/null)
    echo "$(sed -nE 's/.*"dedup":\{[^}]*"joins":([0-9]+).*/\1/p' <<<"$j") $(sed -nE 's/.*"dedup":\{[^}]*"leads":([0-9]+).*/\1/p' <<<"$j")"
}
# sy-mock's count of the requests that reached it
mock_requests() {
    curl -s --max-time 5 "http://127.0.0.1:$MOCK_PORT/__stats" 2>/dev/null |
        grep -oE '"requests":[0-9]+' | head -n1 | cut -d: -f2
}
# One request with the cache-hit body; prints "STATUS CACHE" (the
# x-switchyard-cache header, "-" when there is none).
hit_request() { # target
    local st c
    st=$(curl -s -o "$TMP/probe.out" -D "$TMP/probe.hdr" -w '%{http_code}' --max-time 5 \
        -H 'Content-Type: application/json' -H 'Authorization: Bearer sk-bench' \
        --data-binary "@$HIT_BODY" "http://127.0.0.1:${PORT[$1]}$PATH_CHAT" 2>/dev/null) || st=000
    c=$(tr -d '\r' <"$TMP/probe.hdr" 2>/dev/null | sed -nE 's/^x-switchyard-cache: *//Ip' | head -n1)
    echo "${st:-000} ${c:--}"
}

for t in "${HIT_TARGETS[@]}"; do
    [ -n "${PORT[$t]}" ] || continue
    if [ ! -s "$HIT_BODY" ]; then
        CMDS+=("SY_BENCH_MODEL=bench-cached SY_BENCH_BODY_OUT=\$TMP/hit-body.json wrk -t1 -c1 -d1s -s bench/once.lua http://127.0.0.1:${PORT[$t]}$PATH_CHAT   # one request: warms the cache, writes the body")
        SY_BENCH_MODEL=bench-cached SY_BENCH_BODY_OUT=$HIT_BODY run_tracked timeout 30 \
            wrk -t1 -c1 -d1s -s "$ONCE_LUA" "http://127.0.0.1:${PORT[$t]}$PATH_CHAT" >"$TMP/once.out" 2>&1
        HIT_WARM[$t]=$(grep -m1 -E '^[0-9]{3} ' "$TMP/once.out")
    fi
    if [ -s "$HIT_BODY" ]; then
        [ -n "${HIT_WARM[$t]:-}" ] || {
            CMDS+=("curl -H 'Content-Type: application/json' -H 'Authorization: Bearer sk-bench' --data-binary @\$TMP/hit-body.json http://127.0.0.1:${PORT[$t]}$PATH_CHAT   # warms the cache")
            HIT_WARM[$t]=$(hit_request "$t")
        }
        second=$(hit_request "$t")
    else
        second="no body: $(head -c 200 "$TMP/once.out" 2>/dev/null)"
    fi
    if [ "${HIT_WARM[$t]%% *}" != 200 ] || [ "$second" != "200 hit" ]; then
        problem "cache hits on ${LABEL[$t]}: the warm request answered '${HIT_WARM[$t]:-nothing}', the next one '$second' (want 200, then 200 hit): its figures are not measured"
        PORT[$t]=""
    else
        log "cache warmed on $t: ${HIT_WARM[$t]}, then $second"
    fi
done

# ---------------------------------------------------------------- wrk
# parse_wrk FILE -> "rps p50_us p99_us requests non2xx socket_errors"
parse_wrk() {
    awk '
    function us(v) {
        if (v ~ /us$/) return v + 0
        if (v ~ /ms$/) return (v + 0) * 1000
        if (v ~ /s$/)  return (v + 0) * 1000000
        if (v ~ /m$/)  return (v + 0) * 60000000
        if (v ~ /h$/)  return (v + 0) * 3600000000
        return v + 0
    }
    $1 == "50%" { p50 = us($2) }
    $1 == "99%" { p99 = us($2) }
    /requests in/ { reqs = $1 }
    /Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(",", ""); sockerr = $4 + $6 + $8 + $10 }
    END {
        if (rps == "" || p50 == "" || p99 == "") { print "- - - - - -"; exit }
        printf "%.2f %.1f %.1f %d %d %d\n", rps, p50, p99, reqs, non2xx + 0, sockerr + 0
    }' "$1"
}

declare -A RPS P50 P99 NOTE        # key: target:conns:round
declare -A M_RPS M_P50 M_P99       # key: target:conns, medians over rounds
declare -A CPU_U CPU_S CPU_N       # key: target:conns:round - CPU ticks and requests
declare -A HIT_N HIT_REQS HIT_UP   # key: target:conns - hits counted, requests, upstream requests
wrk_cmd() { # target conns seconds
    local env="" lua=bench/chat.lua
    [ -n "${W_PROTO[$1]:-}" ] && env="SY_BENCH_PROTO=${W_PROTO[$1]} " && lua=bench/translated.lua
    echo "${env}SY_BENCH_MODEL=${MODEL[$1]} wrk -t1 -c$2 -d$3s --latency -s $lua http://127.0.0.1:${PORT[$1]}${W_PATH[$1]:-$PATH_CHAT}"
}

# Runs wrk against a target (round 1 after a warm-up). On a workers-1
# switchyard target it also reads the process's CPU time just before and
# after the measured run, for the CPU per request.
run_wrk() { # target conns round
    local t=$1 c=$2 r=$3 out=$TMP/wrk-$1-$2-$3.txt s pid cpu0 cpu1 url lua m p u0 s0 u1 s1 h0 h1 m0 m1
    ensure_sw "$t"
    [ -n "${PORT[$t]}" ] || return
    s=$(sy_of "$t")
    url="http://127.0.0.1:${PORT[$t]}${W_PATH[$t]:-$PATH_CHAT}"
    lua=${W_LUA[$t]:-$LUA}
    m=${MODEL[$t]} p=${W_PROTO[$t]:-openai}
    if [ "$r" = 1 ] && [ "$WARMUP" -gt 0 ]; then
        SY_BENCH_MODEL=$m SY_BENCH_PROTO=$p run_tracked timeout $((WARMUP + 30)) \
            wrk -t1 -c"$c" -d"${WARMUP}s" -s "$lua" "$url" >/dev/null 2>&1
    fi
    pid=""
    [ "$s" = sw1 ] && pid=${SY_PID[sw1]:-}
    [ "$t" = direct ] && pid=${MOCK_PID:-}
    # a cache-hit run: the entry must be there (also after a restart), and
    # /api/stats and the mock's count must show afterwards that all were hits
    h0="" m0=""
    if [ -n "${IS_HIT[$t]:-}" ]; then
        hit_request "$t" >/dev/null
        h0=$(stat_hits "${PORT[$t]}") m0=$(mock_requests)
    fi
    cpu0=""
    [ -n "$pid" ] && cpu0=$(cpu_ticks "$pid")
    SY_BENCH_MODEL=$m SY_BENCH_PROTO=$p run_tracked timeout $((DURATION + 30)) \
        wrk -t1 -c"$c" -d"${DURATION}s" --latency -s "$lua" "$url" >"$out" 2>&1
    cpu1=""
    [ -n "$pid" ] && cpu1=$(cpu_ticks "$pid")
    read -r rps p50 p99 reqs non2xx sockerr <<<"$(parse_wrk "$out")"
    if [ -n "$s" ] && [ -n "${SY_PID[$s]:-}" ] && ! sy_alive "$s"; then
        problem "${LABEL[$t]} stopped during the run at $c connections (round $r); that round is not counted"
        return
    fi
    if [ "$rps" = "-" ]; then
        problem "wrk against ${LABEL[$t]} at $c connections (round $r) gave no result: $(head -c 300 "$out")"
        return
    fi
    RPS[$t:$c:$r]=$rps
    P50[$t:$c:$r]=$p50
    P99[$t:$c:$r]=$p99
    if [ -n "${IS_HIT[$t]:-}" ]; then
        h1=$(stat_hits "${PORT[$t]}") m1=$(mock_requests)
        if is_num "$h0" && is_num "$h1" && is_num "$m0" && is_num "$m1"; then
            HIT_N[$t:$c]=$((${HIT_N[$t:$c]:-0} + h1 - h0))
            HIT_REQS[$t:$c]=$((${HIT_REQS[$t:$c]:-0} + reqs))
            HIT_UP[$t:$c]=$((${HIT_UP[$t:$c]:-0} + m1 - m0))
            if [ $((m1 - m0)) -gt 0 ] || [ $((h1 - h0)) -lt "$reqs" ]; then
                problem "${LABEL[$t]} at $c connections (round $r): /api/stats counted $((h1 - h0)) hits for the $reqs requests wrk completed, and sy-mock saw $((m1 - m0)) requests meanwhile (want at least $reqs hits and no upstream request)"
            fi
        else
            problem "${LABEL[$t]} at $c connections (round $r): could not read the hits from /api/stats or the requests from sy-mock's /__stats ('$h0' '$h1' '$m0' '$m1')"
        fi
    fi
    if [ -n "$cpu0" ] && [ -n "$cpu1" ] && [ "$reqs" -gt 0 ]; then
        read -r u0 s0 <<<"$cpu0"
        read -r u1 s1 <<<"$cpu1"
        CPU_U[$t:$c:$r]=$((u1 - u0)) CPU_S[$t:$c:$r]=$((s1 - s0)) CPU_N[$t:$c:$r]=$reqs
    fi
    if [ "$non2xx" -gt 0 ] || [ "$sockerr" -gt 0 ]; then
        NOTE[$t:$c]="${NOTE[$t:$c]:-}round $r: $non2xx non-2xx, $sockerr socket errors of $reqs; "
        problem "${LABEL[$t]} at $c connections (round $r): $non2xx non-2xx answers, $sockerr socket errors out of $reqs requests"
    fi
    log "$t c=$c round $r: $rps req/s, p50 ${p50} us, p99 ${p99} us"
}

median() { # numbers... ("-" ignored) -> median or "-"
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
              if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# the translated paths run right after the passthrough on the same switchyard,
# in the same rounds; the cache hits right after sy-mock direct, their baseline
RUN_ORDER=(direct "${HIT_TARGETS[@]}" nginx sw1 "${XTARGETS[@]}" swauto)
if command -v wrk >/dev/null; then
    for c in "${CONNS[@]}"; do
        for t in "${RUN_ORDER[@]}"; do
            [ -n "${PORT[$t]}" ] && CMDS+=("$(wrk_cmd "$t" "$c" "$DURATION")   # x$ROUNDS rounds; round 1 after a ${WARMUP} s warm-up run")
        done
    done
    for r in $(seq 1 "$ROUNDS"); do
        for c in "${CONNS[@]}"; do
            for t in "${RUN_ORDER[@]}"; do
                [ -n "${PORT[$t]}" ] || continue
                run_wrk "$t" "$c" "$r"
            done
        done
    done
fi
for c in "${CONNS[@]}"; do
    for t in "${RUN_ORDER[@]}"; do
        a=() b=() d=()
        for r in $(seq 1 "$ROUNDS"); do
            a+=("${RPS[$t:$c:$r]:--}") b+=("${P50[$t:$c:$r]:--}") d+=("${P99[$t:$c:$r]:--}")
        done
        M_RPS[$t:$c]=$(median "${a[@]}")
        M_P50[$t:$c]=$(median "${b[@]}")
        M_P99[$t:$c]=$(median "${d[@]}")
    done
done

# ---------------------------------------------------------------- streaming
# Like the wrk runs, the streams go in interleaved rounds (STREAM_N / ROUNDS
# requests per target per round); every sample is written raw and the
# percentiles are taken over the pooled samples of all rounds.
STREAM_TARGETS=(direct nginx swauto)
declare -A S_PATH S_MODEL S_CHUNKS S_ERRORS S_REQS S_NOTS S_RAN
S_PATH[direct]=$PATH_CHAT;        S_MODEL[direct]=mock-small
S_PATH[nginx]=/stream$PATH_CHAT;  S_MODEL[nginx]=mock-small
S_PATH[swauto]=$PATH_CHAT;        S_MODEL[swauto]=bench-stream
S_PER_ROUND=$(((STREAM_N + ROUNDS - 1) / ROUNDS))
jint() { sed -nE "s/.*\"$2\":([0-9]+).*/\1/p" <<<"$1"; } # json key -> top-level integer
jstr() { sed -nE "s/.*\"$2\":\"(([^\"\\]|\\.)*)\".*/\1/p" <<<"$1"; }
if [ -x "$STREAM" ]; then
    for t in "${STREAM_TARGETS[@]}"; do
        [ -n "${PORT[$t]}" ] || continue
        S_CHUNKS[$t]=0 S_ERRORS[$t]=0 S_REQS[$t]=0 S_NOTS[$t]=0
        : >"$TMP/stream-$t.raw"
        CMDS+=("$BUILD/sy-stream --port ${PORT[$t]} --path ${S_PATH[$t]} --model ${S_MODEL[$t]} -n $S_PER_ROUND -c $STREAM_C --tokens $STREAM_TOKENS --ttft-ms $STREAM_TTFT_MS --itl-ms $STREAM_ITL_MS --raw \$TMP/stream-$t-ROUND.raw   # x$ROUNDS rounds")
    done
    for r in $(seq 1 "$ROUNDS"); do
        for t in "${STREAM_TARGETS[@]}"; do
            ensure_sw "$t"
            [ -n "${PORT[$t]}" ] || continue
            run_tracked timeout 300 "$STREAM" --port "${PORT[$t]}" --path "${S_PATH[$t]}" \
                --model "${S_MODEL[$t]}" -n "$S_PER_ROUND" -c "$STREAM_C" --tokens "$STREAM_TOKENS" \
                --ttft-ms "$STREAM_TTFT_MS" --itl-ms "$STREAM_ITL_MS" --raw "$TMP/stream-$t-$r.raw" \
                >"$TMP/stream-$t-$r.json" 2>"$TMP/stream-$t-$r.err"
            rc=$?
            json=$(head -n1 "$TMP/stream-$t-$r.json")
            if [ -n "${SY_PID[$t]:-}" ] && ! sy_alive "$t"; then
                problem "${LABEL[$t]} stopped during stream round $r; that round is not counted"
                continue
            fi
            S_RAN[$t]=1
            n=$(jint "$json" chunks);            S_CHUNKS[$t]=$((S_CHUNKS[$t] + ${n:-0}))
            n=$(jint "$json" requests);          S_REQS[$t]=$((S_REQS[$t] + ${n:-0}))
            n=$(jint "$json" chunks_without_ts); S_NOTS[$t]=$((S_NOTS[$t] + ${n:-0}))
            errs=$(jint "$json" errors)
            [ -n "$errs" ] || errs=$S_PER_ROUND
            S_ERRORS[$t]=$((S_ERRORS[$t] + errs))
            cat "$TMP/stream-$t-$r.raw" >>"$TMP/stream-$t.raw" 2>/dev/null
            if [ "$rc" != 0 ]; then
                problem "sy-stream against ${LABEL[$t]} (round $r) exited $rc: $errs errors, first: $(jstr "$json" first_error) $(head -c 200 "$TMP/stream-$t-$r.err")"
            fi
            log "stream $t round $r: $json"
        done
    done
fi

# ---------------------------------------------------------------- translated streams
# The per-chunk cost: long streams (XS_TOKENS tokens, one every XS_ITL_MS ms,
# from the provider mock-long) through switchyard (workers 1) in each client
# API, in interleaved rounds. Around each sy-stream run the switchyard's CPU
# time is read from /proc/PID/stat; CPU / text chunks relayed is the cost per
# chunk (the stream's per-request work is spread over its XS_TOKENS chunks).
# sy-stream checks that every stream ended with its protocol's last event,
# and the text chunk count must be streams x tokens, so a path that drops,
# merges or cuts chunks shows as a problem rather than a fast number.
XS_TARGETS=(xs-openai xs-ollama xs-anthropic)
declare -A XS_PROTO XS_PATH XS_U XS_S XS_TEXT XS_EVENTS XS_REQS XS_ERRS XS_RAN
XS_PROTO[xs-openai]=openai;       XS_PATH[xs-openai]=$PATH_CHAT;         PORT[xs-openai]=${PORT[sw1]}
XS_PROTO[xs-ollama]=ollama;       XS_PATH[xs-ollama]=$PATH_OLLAMA;       PORT[xs-ollama]=${PORT[sw1oll]}
XS_PROTO[xs-anthropic]=anthropic; XS_PATH[xs-anthropic]=$PATH_ANTHROPIC; PORT[xs-anthropic]=${PORT[sw1ant]}
LABEL[xs-openai]=$XLABEL_PASS; LABEL[xs-ollama]=${LABEL[sw1oll]}; LABEL[xs-anthropic]=${LABEL[sw1ant]}
XS_PER_ROUND=$(((XS_N + ROUNDS - 1) / ROUNDS))
xs_args() { # target raw-file -> sy-stream arguments
    echo "--port ${PORT[$1]} --path ${XS_PATH[$1]} --proto ${XS_PROTO[$1]} --model bench-long" \
        "-n $XS_PER_ROUND -c $XS_C --warmup 0 --tokens $XS_TOKENS --ttft-ms 0 --itl-ms $XS_ITL_MS" \
        "--timeout-ms 5000 --raw $2"
}
if [ -x "$STREAM" ]; then
    for t in "${XS_TARGETS[@]}"; do
        [ -n "${PORT[$t]}" ] || continue
        XS_U[$t]=0 XS_S[$t]=0 XS_TEXT[$t]=0 XS_EVENTS[$t]=0 XS_REQS[$t]=0 XS_ERRS[$t]=0
        : >"$TMP/stream-$t.raw"
        CMDS+=("$BUILD/sy-stream $(xs_args "$t" "\$TMP/stream-$t-ROUND.raw")   # x$ROUNDS rounds")
    done
    for r in $(seq 1 "$ROUNDS"); do
        for t in "${XS_TARGETS[@]}"; do
            ensure_sw "$t"
            [ -n "${PORT[$t]}" ] || continue
            pid=${SY_PID[sw1]:-}
            cpu0=$(cpu_ticks "$pid")
            # shellcheck disable=SC2046
            run_tracked timeout 300 "$STREAM" $(xs_args "$t" "$TMP/stream-$t-$r.raw") \
                >"$TMP/stream-$t-$r.json" 2>"$TMP/stream-$t-$r.err"
            rc=$?
            cpu1=$(cpu_ticks "$pid")
            json=$(head -n1 "$TMP/stream-$t-$r.json")
            if ! sy_alive sw1; then
                problem "switchyard (workers 1) stopped during the long streams of ${LABEL[$t]} (round $r); that round is not counted"
                continue
            fi
            n=$(jint "$json" requests)
            text=$(jint "$json" text_chunks)
            errs=$(jint "$json" errors)
            [ -n "$errs" ] || errs=$XS_PER_ROUND
            if [ -n "$cpu0" ] && [ -n "$cpu1" ] && [ -n "$text" ]; then
                read -r u0 s0 <<<"$cpu0"
                read -r u1 s1 <<<"$cpu1"
                XS_RAN[$t]=1
                XS_U[$t]=$((XS_U[$t] + u1 - u0)) XS_S[$t]=$((XS_S[$t] + s1 - s0))
                XS_TEXT[$t]=$((XS_TEXT[$t] + text))
                n2=$(jint "$json" events); XS_EVENTS[$t]=$((XS_EVENTS[$t] + ${n2:-0}))
                XS_REQS[$t]=$((XS_REQS[$t] + ${n:-0}))
            else
                problem "long streams of ${LABEL[$t]} (round $r): no result or no CPU reading: $(head -c 200 "$TMP/stream-$t-$r.err")"
            fi
            XS_ERRS[$t]=$((XS_ERRS[$t] + errs))
            cat "$TMP/stream-$t-$r.raw" >>"$TMP/stream-$t.raw" 2>/dev/null
            if [ "$rc" != 0 ]; then
                problem "long streams of ${LABEL[$t]} (round $r): sy-stream exited $rc, $errs of $XS_PER_ROUND streams failed, first: $(jstr "$json" first_error) $(head -c 200 "$TMP/stream-$t-$r.err")"
            elif [ "${text:-0}" != $((XS_PER_ROUND * XS_TOKENS)) ]; then
                problem "long streams of ${LABEL[$t]} (round $r): $text text chunks arrived, $XS_PER_ROUND streams of $XS_TOKENS tokens make $((XS_PER_ROUND * XS_TOKENS))"
            fi
            log "long streams $t round $r: cpu $cpu0 -> $cpu1 ticks; $json"
        done
    done
fi

# pct TARGET KIND P -> the pooled P-th percentile (nearest rank) in us, or "-"
pct() {
    awk -v k="$2" '$1 == k { print $2 }' "$TMP/stream-$1.raw" 2>/dev/null | sort -n |
        awk -v p="$3" '{ v[NR] = $1 } END {
            if (NR == 0) { print "-"; exit }
            i = int(p / 100 * NR); if (i < p / 100 * NR) i++; if (i < 1) i = 1
            printf "%.1f\n", v[i] / 1000 }'
}
sget() { # target counter -> number or "-"
    local v
    case $2 in
    chunks) v=${S_CHUNKS[$1]:-} ;; errors) v=${S_ERRORS[$1]:-} ;; requests) v=${S_REQS[$1]:-} ;;
    esac
    is_num "$v" && echo "$v" || echo "-"
}
declare -A S_TTFT50 S_TTFT99 S_NET50 S_NET99 S_CH50 S_CH99
for t in "${STREAM_TARGETS[@]}"; do
    S_TTFT50[$t]=$(pct "$t" ttft 50)
    S_TTFT99[$t]=$(pct "$t" ttft 99)
    S_NET50[$t]=$(pct "$t" ttft_net 50)
    S_NET99[$t]=$(pct "$t" ttft_net 99)
    S_CH50[$t]=$(pct "$t" chunk 50)
    S_CH99[$t]=$(pct "$t" chunk 99)
    if [ -n "${S_RAN[$t]:-}" ] && [ "${S_CHUNKS[$t]}" = 0 ]; then
        problem "${LABEL[$t]}: no chunk carried mock_ts_ns (did the x-mock-* headers reach sy-mock?)"
    fi
done

# ---------------------------------------------------------------- dedup fan-out
# A third switchyard (workers auto), started only now so that its memory
# before and after is the fan-out's alone; its model bench-fanout has the
# exact cache and dedup on, and its provider makes sy-mock's stream slow
# (first token after FAN_TTFT_MS, then FAN_TOKENS tokens FAN_ITL_MS apart) so
# that FAN_N requests sent at once all overlap one upstream call. Each round:
# one stream alone (its own duration through the gateway), then FAN_N
# identical streams at once (bench/sy-fanout.c: one connection each, one
# epoll loop). The request text carries a fresh nonce for each run, so no run
# is a cache hit. sy-mock must see exactly one call for the FAN_N streams,
# and every waiter must get the whole stream: [DONE], FAN_TOKENS text chunks,
# the same text as every other waiter.
declare -A FAN
FAN_PORT="" FAN_PID="" FAN_RSS0="" FAN_HWM="" FAN_RSS1="" FAN_STARTED=""
fan_dist() { sed -nE "s/.*\"$2\":\\{[^}]*\"$3\":([0-9.]+).*/\\1/p" <<<"$1"; } # json dist key
fan_num() { sed -nE "s/.*\"$2\":(-?[0-9.]+).*/\\1/p" <<<"$1"; }              # json key (unique)
ms() { is_num "$1" && awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }' || echo "-"; }
if [ -x "$FANOUT" ] && [ -n "$MOCK_PORT" ] && [ -x "$SWITCHYARD" ] && [ "$FAN_ROUNDS" -gt 0 ]; then
    if start_switchyard swfan auto; then
        FAN_STARTED=1
        FAN_PORT=${SY_PORT[swfan]} FAN_PID=${SY_PID[swfan]}
        sleep 1
        FAN_RSS0=$(rss_mb "$FAN_PID")
        CMDS+=("$BUILD/sy-fanout --port $FAN_PORT --model bench-fanout -n 1 --nonce PID-ROUND-alone   # x$FAN_ROUNDS rounds: one stream alone")
        CMDS+=("$BUILD/sy-fanout --port $FAN_PORT --model bench-fanout -n $FAN_N --nonce PID-ROUND-fan --timeout-ms 60000   # x$FAN_ROUNDS rounds, right after the one alone")
    fi
    for r in $(seq 1 "$FAN_ROUNDS"); do
        [ -n "$FAN_STARTED" ] || break
        if ! sy_alive swfan; then
            problem "switchyard (fan-out, workers auto) stopped before fan-out round $r (last log line: $(sy_last_log swfan)); no more fan-out rounds"
            break
        fi
        run_tracked timeout 60 "$FANOUT" --port "$FAN_PORT" --model bench-fanout -n 1 \
            --nonce "$$-$r-alone" >"$TMP/fanout-alone-$r.json" 2>"$TMP/fanout-alone-$r.err"
        rc=$?
        json=$(head -n1 "$TMP/fanout-alone-$r.json")
        if [ "$rc" = 0 ]; then
            FAN[$r:alone]=$(fan_num "$json" wall_us)
        else
            problem "fan-out round $r: the stream alone failed (exit $rc): $(jstr "$json" first_error) $(head -c 200 "$TMP/fanout-alone-$r.err")"
        fi
        read -r j0 l0 <<<"$(stat_dedup "$FAN_PORT")"
        m0=$(mock_requests)
        cpu0=$(cpu_ticks "$FAN_PID")
        run_tracked timeout 120 "$FANOUT" --port "$FAN_PORT" --model bench-fanout -n "$FAN_N" \
            --nonce "$$-$r-fan" --timeout-ms 60000 >"$TMP/fanout-$r.json" 2>"$TMP/fanout-$r.err"
        rc=$?
        cpu1=$(cpu_ticks "$FAN_PID")
        m1=$(mock_requests)
        read -r j1 l1 <<<"$(stat_dedup "$FAN_PORT")"
        json=$(head -n1 "$TMP/fanout-$r.json")
        log "fan-out round $r: alone ${FAN[$r:alone]:-?} us; $json"
        if ! sy_alive swfan; then
            problem "switchyard (fan-out, workers auto) stopped during fan-out round $r (last log line: $(sy_last_log swfan))"
            break
        fi
        if [ -z "$json" ]; then
            problem "fan-out round $r: sy-fanout gave no result (exit $rc): $(head -c 300 "$TMP/fanout-$r.err")"
            continue
        fi
        FAN[$r:ran]=1
        if [ -n "$cpu0" ] && [ -n "$cpu1" ]; then
            read -r u0 s0 <<<"$cpu0"
            read -r u1 s1 <<<"$cpu1"
            FAN[$r:gw_cpu_us]=$(((u1 - u0 + s1 - s0) * 1000000 / CLK_TCK))
        fi
        is_num "$m0" && is_num "$m1" && FAN[$r:up]=$((m1 - m0))
        is_num "$j0" && is_num "$j1" && FAN[$r:joins]=$((j1 - j0))
        is_num "$l0" && is_num "$l1" && FAN[$r:leads]=$((l1 - l0))
        for k in completed errors leaders followers text_variants text_chunks_min text_chunks_max \
            events_min bytes_min bytes_max wall_us spread_us send_spread_us cpu_us; do
            FAN[$r:$k]=$(fan_num "$json" "$k")
        done
        for d in ttfb_us ttft_us done_us; do
            FAN[$r:$d:p50]=$(fan_dist "$json" "$d" p50)
            FAN[$r:$d:p99]=$(fan_dist "$json" "$d" p99)
            FAN[$r:$d:max]=$(fan_dist "$json" "$d" max)
        done
        if [ "${FAN[$r:up]:-?}" != 1 ]; then
            problem "fan-out round $r: sy-mock saw ${FAN[$r:up]:-an unknown number of} upstream requests for $FAN_N identical streams (want 1)"
        fi
        if [ "$rc" != 0 ] || [ "${FAN[$r:completed]}" != "$FAN_N" ]; then
            problem "fan-out round $r: ${FAN[$r:completed]:-?} of $FAN_N waiters got a whole stream (sy-fanout exit $rc), first error: $(jstr "$json" first_error)"
        fi
        if [ "${FAN[$r:text_chunks_min]}" != "$FAN_TOKENS" ] || [ "${FAN[$r:text_chunks_max]}" != "$FAN_TOKENS" ] ||
            [ "${FAN[$r:text_variants]}" != 1 ]; then
            problem "fan-out round $r: waiters got ${FAN[$r:text_chunks_min]}..${FAN[$r:text_chunks_max]} text chunks (want $FAN_TOKENS each) and ${FAN[$r:text_variants]} different texts (want 1)"
        fi
        if [ "${FAN[$r:leaders]}" != 1 ] || [ "${FAN[$r:followers]}" != $((FAN_N - 1)) ]; then
            problem "fan-out round $r: x-switchyard-dedup said leader ${FAN[$r:leaders]} times and follower ${FAN[$r:followers]} times (want 1 and $((FAN_N - 1)))"
        fi
    done
    if [ -n "$FAN_STARTED" ] && sy_alive swfan; then
        FAN_HWM=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$FAN_PID/status" 2>/dev/null)
        sleep 1
        FAN_RSS1=$(rss_mb "$FAN_PID")
    fi
fi
# the rounds' figures side by side, and their medians
fan_med() { # field
    local a=() r
    for r in $(seq 1 "$FAN_ROUNDS"); do a+=("${FAN[$r:$1]:--}"); done
    median "${a[@]}"
}
fan_all() { # field -> "v1, v2, v3" over the rounds that ran
    local out="" r
    for r in $(seq 1 "$FAN_ROUNDS"); do
        [ -n "${FAN[$r:ran]:-}" ] && out+="${FAN[$r:$1]:-?}, "
    done
    echo "${out%, }"
}

# ---------------------------------------------------------------- semantic cache
# Precision and recall of the semantic cache's built-in embedder on the
# labelled pairs (bench/semantic-eval.c): no server involved.
SEM_OUT=$TMP/semantic-eval.txt
SEM_THRESHOLD="" SEM_PREC="" SEM_RECALL="" SEM_HITS="" SEM_FALSE=""
if [ -x "$SEMEVAL" ]; then
    CMDS+=("$BUILD/semantic-eval --misses tests/data/semantic-pairs.tsv")
    run_tracked timeout 300 "$SEMEVAL" --misses "$ROOT/tests/data/semantic-pairs.tsv" \
        >"$SEM_OUT" 2>"$TMP/semantic-eval.err"
    rc=$?
    SEM_THRESHOLD=$(sed -nE 's/^at ([0-9.]+):$/\1/p' "$SEM_OUT" | head -n1)
    if [ "$rc" != 0 ] || [ -z "$SEM_THRESHOLD" ]; then
        problem "semantic-eval exited $rc: $(head -c 300 "$TMP/semantic-eval.err")"
    else
        row=$(grep -E "^\| $SEM_THRESHOLD \| yes \|" "$SEM_OUT" | head -n1)
        SEM_HITS=$(awk -F'|' '{ gsub(/ /, "", $4); print $4 }' <<<"$row")
        SEM_FALSE=$(awk -F'|' '{ gsub(/ /, "", $6); print $6 }' <<<"$row")
        SEM_PREC=$(awk -F'|' '{ gsub(/ /, "", $7); print $7 }' <<<"$row")
        SEM_RECALL=$(awk -F'|' '{ gsub(/ /, "", $8); print $8 }' <<<"$row")
        log "semantic-eval: threshold $SEM_THRESHOLD, precision $SEM_PREC, recall $SEM_RECALL"
    fi
fi

# ---------------------------------------------------------------- routing decision
# The routing decision's cost (bench/sy-route.c): sy_decide over 50 rules and
# the plan's pick among 100 deployments, timed one decision at a time; no
# server involved.
ROUTE_OUT=$TMP/sy-route.txt
ROUTE_P99_US=""
if [ -x "$ROUTE" ]; then
    CMDS+=("$BUILD/sy-route -n 200000")
    run_tracked timeout 300 "$ROUTE" -n 200000 >"$ROUTE_OUT" 2>"$TMP/sy-route.err"
    rc=$?
    p99=$(sed -nE 's/^decision .*p99_ns=([0-9]+).*/\1/p' "$ROUTE_OUT")
    if [ "$rc" != 0 ] || ! is_num "$p99"; then
        problem "sy-route exited $rc: $(head -c 300 "$TMP/sy-route.err")"
    else
        ROUTE_P99_US=$(calc "printf \"%.2f\", $p99 / 1000")
        log "sy-route: decision p99 $p99 ns"
    fi
fi

# ---------------------------------------------------------------- RSS after load
if [ -n "${SY_PID[swauto]:-}" ]; then
    sleep 1
    if [ "${SY_RESTARTS[swauto]:-0}" -gt 0 ]; then
        problem "switchyard (workers auto) was restarted during the run: no idle RSS after the whole load"
    elif sy_alive swauto; then
        RSS_AFTER=$(rss_mb "${SY_PID[swauto]}")
    fi
fi
for name in sw1 swauto swfan; do
    [ -n "${SY_PID[$name]:-}" ] && ! sy_alive "$name" &&
        problem "switchyard ($name) is no longer running at the end (last log line: $(sy_last_log "$name"))"
done
[ -n "${MOCK_PID:-}" ] && ! kill -0 "$MOCK_PID" 2>/dev/null && problem "sy-mock died during the run"
[ -n "${NGINX_PID:-}" ] && [ -n "$NGINX_PORT" ] && ! kill -0 "$NGINX_PID" 2>/dev/null && problem "nginx died during the run"

# ---------------------------------------------------------------- figures
fmt() { # number decimals -> formatted or "n/a"
    is_num "$1" && calc "printf \"%.${2}f\", $1" || echo "n/a"
}
fmt_k() { is_num "$1" && calc "printf \"%.0f\", $1" || echo "n/a"; }
sub() { is_num "$1" && is_num "$2" && calc "printf \"%.1f\", $1 - $2" || echo "-"; }
div() { is_num "$1" && is_num "$2" && calc "if ($2 != 0) printf \"%.2f\", $1 / $2; else print \"-\"" || echo "-"; }
ge() { calc "exit !($1 >= $2)"; }
le() { calc "exit !($1 <= $2)"; }

# ratios to nginx at each concurrency, added p50 at each concurrency
declare -A RATIO ADDED
for c in "${CONNS[@]}"; do
    for t in "${TARGETS[@]}"; do
        RATIO[$t:$c]=$(div "${M_RPS[$t:$c]}" "${M_RPS[nginx:$c]}")
        ADDED[$t:$c]=$(sub "${M_P50[$t:$c]}" "${M_P50[direct:$c]}")
    done
done
ADDED_RATIO_1=$(div "${ADDED[sw1:4]}" "${ADDED[nginx:4]}")
ADDED_RATIO_AUTO=$(div "${ADDED[swauto:4]}" "${ADDED[nginx:4]}")
declare -A S_ADD_TTFT50 S_ADD_TTFT99 S_ADD_NET50 S_ADD_NET99 S_ADD_CH50 S_ADD_CH99
for t in nginx swauto; do
    S_ADD_TTFT50[$t]=$(sub "${S_TTFT50[$t]}" "${S_TTFT50[direct]}")
    S_ADD_TTFT99[$t]=$(sub "${S_TTFT99[$t]}" "${S_TTFT99[direct]}")
    S_ADD_NET50[$t]=$(sub "${S_NET50[$t]}" "${S_NET50[direct]}")
    S_ADD_NET99[$t]=$(sub "${S_NET99[$t]}" "${S_NET99[direct]}")
    S_ADD_CH50[$t]=$(sub "${S_CH50[$t]}" "${S_CH50[direct]}")
    S_ADD_CH99[$t]=$(sub "${S_CH99[$t]}" "${S_CH99[direct]}")
done

# translated paths: CPU per request pooled over the rounds (sum of CPU / sum
# of requests), so that a slow round weighs by what it served
per_us() { # ticks count decimals -> microseconds per item, or "n/a"
    is_num "$1" && is_num "$2" && [ "$2" -gt 0 ] &&
        calc "printf \"%.${3}f\", $1 * 1000000 / $CLK_TCK / $2" || echo "n/a"
}
us_or_na() { [[ "$1" =~ ^[-+]?[0-9] ]] && echo "$1 us" || echo "not measured"; }
# total (user) -> "total (user user)", or the total alone when it is not measured
with_user() { [[ "$1" =~ ^[-+]?[0-9] ]] && echo "$1 (user $2)" || echo "$1"; }
subd() { is_num "$1" && is_num "$2" && calc "printf \"%+.${3}f\", $1 - $2" || echo "n/a"; }
declare -A XR_CPU XR_USER XR_N XR_COST XR_UCOST XR_RATIO
for c in "${CONNS[@]}"; do
    for t in sw1 "${XTARGETS[@]}"; do
        u=0 k=0 n=0
        for r in $(seq 1 "$ROUNDS"); do
            [ -n "${CPU_N[$t:$c:$r]:-}" ] || continue
            u=$((u + CPU_U[$t:$c:$r])) k=$((k + CPU_S[$t:$c:$r])) n=$((n + CPU_N[$t:$c:$r]))
        done
        XR_N[$t:$c]=$n
        XR_CPU[$t:$c]=$(per_us $((u + k)) "$n" 1)
        XR_USER[$t:$c]=$(per_us "$u" "$n" 1)
        XR_RATIO[$t:$c]=$(div "${M_RPS[$t:$c]}" "${M_RPS[sw1:$c]}")
        XR_COST[$t:$c]=$(subd "${XR_CPU[$t:$c]}" "${XR_CPU[sw1:$c]}" 1)
        XR_UCOST[$t:$c]=$(subd "${XR_USER[$t:$c]}" "${XR_USER[sw1:$c]}" 1)
    done
done
declare -A XC_CPU XC_USER XC_COST XC_UCOST XC_TTFT50 XC_TTFT99
for t in "${XS_TARGETS[@]}"; do
    XC_CPU[$t]=n/a XC_USER[$t]=n/a
    if [ -n "${XS_RAN[$t]:-}" ]; then
        XC_CPU[$t]=$(per_us $((XS_U[$t] + XS_S[$t])) "${XS_TEXT[$t]}" 2)
        XC_USER[$t]=$(per_us "${XS_U[$t]}" "${XS_TEXT[$t]}" 2)
    fi
    XC_TTFT50[$t]=$(pct "$t" ttft 50)
    XC_TTFT99[$t]=$(pct "$t" ttft 99)
done
for t in "${XS_TARGETS[@]}"; do
    XC_COST[$t]=$(subd "${XC_CPU[$t]}" "${XC_CPU[xs-openai]}" 2)
    XC_UCOST[$t]=$(subd "${XC_USER[$t]}" "${XC_USER[xs-openai]}" 2)
done

# cache hits: each row against sy-mock serving the same reply (the target
# "direct", run just before them in the same rounds); CPU per request of the
# workers-1 switchyard's hits and of sy-mock (one worker), pooled over rounds
declare -A HR_RPS HR_P50 HR_P99 HR_CPU HR_USER
for c in "${CONNS[@]}"; do
    for t in direct "${HIT_TARGETS[@]}"; do
        HR_RPS[$t:$c]=$(div "${M_RPS[$t:$c]}" "${M_RPS[direct:$c]}")
        HR_P50[$t:$c]=$(div "${M_P50[$t:$c]}" "${M_P50[direct:$c]}")
        HR_P99[$t:$c]=$(div "${M_P99[$t:$c]}" "${M_P99[direct:$c]}")
        u=0 k=0 n=0
        for r in $(seq 1 "$ROUNDS"); do
            [ -n "${CPU_N[$t:$c:$r]:-}" ] || continue
            u=$((u + CPU_U[$t:$c:$r])) k=$((k + CPU_S[$t:$c:$r])) n=$((n + CPU_N[$t:$c:$r]))
        done
        HR_CPU[$t:$c]=$(per_us $((u + k)) "$n" 1)
        HR_USER[$t:$c]=$(per_us "$u" "$n" 1)
    done
done

# dedup fan-out: per round and the medians of the rounds
FAN_RAN=0 FAN_DONE=0 FAN_UP_OK=1
for r in $(seq 1 "$FAN_ROUNDS"); do
    [ -n "${FAN[$r:ran]:-}" ] || continue
    FAN_RAN=$((FAN_RAN + 1))
    FAN_DONE=$((FAN_DONE + ${FAN[$r:completed]:-0}))
    [ "${FAN[$r:up]:-}" = 1 ] || FAN_UP_OK=0
    FAN[$r:ratio]=$(div "${FAN[$r:wall_us]:-}" "${FAN[$r:alone]:-}")
done
FAN_M_RATIO=$(fan_med ratio)
FAN_M_WALL=$(fan_med wall_us)
FAN_M_ALONE=$(fan_med alone)
FAN_GW=$(fan_med gw_cpu_us)
FAN_GW_WAITER="" FAN_GW_EVENT=""
if is_num "$FAN_GW" && is_num "${FAN[1:events_min]:-}" && [ "${FAN[1:events_min]}" -gt 0 ]; then
    FAN_GW_WAITER=$(calc "printf \"%.0f\", $FAN_GW / $FAN_N")
    FAN_GW_EVENT=$(calc "printf \"%.1f\", $FAN_GW / $FAN_N / ${FAN[1:events_min]}")
fi
FAN_GROWTH_KB=""
is_num "$FAN_HWM" && is_num "$FAN_RSS0" && [ "$FAN_N" -gt 0 ] &&
    FAN_GROWTH_KB=$(calc "printf \"%.1f\", ($FAN_HWM - $FAN_RSS0) * 1024 / $FAN_N")

# target rows: name, measured, goal, verdict
TARGET_ROWS=()
verdict() { # value op limit -> pass|miss|not measured
    if ! is_num "$1"; then echo "not measured"; return; fi
    if [ "$2" = ge ]; then ge "$1" "$3" && echo "pass" || echo "**miss**"
    else le "$1" "$3" && echo "pass" || echo "**miss**"; fi
}
add_target() { # label measured-display goal verdict
    TARGET_ROWS+=("| $1 | $2 | $3 | $4 |")
    [ "$4" = "not measured" ] && problem "target not measured: $1"
}
disp() { is_num "$1" && echo "$1$2" || echo "n/a"; } # value unit
v=${RATIO[sw1:64]}; add_target "throughput, workers 1, 64 connections" "$(disp "$v" "x nginx")" ">= 0.8x" "$(verdict "$v" ge 0.8)"
v=${RATIO[sw1:4]};  add_target "throughput, workers 1, 4 connections" "$(disp "$v" "x nginx")" ">= 0.8x" "$(verdict "$v" ge 0.8)"
v=$ADDED_RATIO_1;   add_target "added p50 latency, 4 connections (workers 1)" "$(disp "${ADDED[sw1:4]}" " us") = $(disp "$v" x) nginx's $(disp "${ADDED[nginx:4]}" " us")" "<= 1.2x nginx" "$(verdict "$v" le 1.2)"
v=${S_ADD_NET99[swauto]}; add_target "added TTFT p99, stream, net of the mock's wait (nginx: $(disp "${S_ADD_NET99[nginx]}" " us"))" "$(disp "$v" " us") (raw TTFT: $(disp "${S_ADD_TTFT99[swauto]}" " us"))" "<= 200 us" "$(verdict "$v" le 200)"
v=$RSS_START;       add_target "idle RSS right after start (workers auto)" "$(disp "$v" " MB")" "<= 10 MB" "$(verdict "$v" le 10)"
v=$RSS_AFTER;       add_target "idle RSS after the load (workers auto)" "$(disp "$v" " MB")" "<= 10 MB" "$(verdict "$v" le 10)"

for t in "${HIT_TARGETS[@]}"; do
    for c in 64 4; do
        v=${HR_RPS[$t:$c]}
        add_target "cache-hit req/s vs sy-mock serving the same reply, ${LABEL[$t]#cache hits, }, $c connections" \
            "$(disp "$v" x) (p99: $(disp "${HR_P99[$t:$c]}" x) sy-mock's)" ">= 1.0x" "$(verdict "$v" ge 1.0)"
    done
done
if [ "$FAN_RAN" -gt 0 ]; then
    v=pass
    [ "$FAN_UP_OK" = 1 ] || v="**miss**"
    add_target "dedup fan-out: upstream calls for $FAN_N identical streams (each round)" "$(fan_all up)" "1" "$v"
    v=pass
    [ "$FAN_DONE" = $((FAN_RAN * FAN_N)) ] || v="**miss**"
    add_target "dedup fan-out: waiters that got the whole stream" "$FAN_DONE of $((FAN_RAN * FAN_N))" "all" "$v"
else
    add_target "dedup fan-out: upstream calls for $FAN_N identical streams (each round)" "n/a" "1" "not measured"
fi
v=$FAN_M_RATIO; add_target "dedup fan-out: last of $FAN_N waiters done / one stream alone (median of rounds)" "$(disp "$v" x) ($(ms "$FAN_M_WALL") ms vs $(ms "$FAN_M_ALONE") ms)" "<= 1.5x" "$(verdict "$v" le 1.5)"
v=$ROUTE_P99_US; add_target "routing decision p99, 100 deployments and 50 rules (sy_decide + plan pick)" "$(disp "$v" " us")" "<= 2 us" "$(verdict "$v" le 2)"
v=$SEM_PREC; add_target "semantic cache precision at the default threshold (${SEM_THRESHOLD:-?}, guards on)" "$(disp "$v" "") (recall $(disp "$SEM_RECALL" ""))" ">= 0.99" "$(verdict "$v" ge 0.99)"

ELAPSED=$(($(date +%s) - START_TS))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
{
    echo "# Benchmarks"
    echo
    echo "Written by \`make bench\` (bench/run.sh); every run overwrites this file. How to run and"
    echo "read it: [docs/benchmarks.md](docs/benchmarks.md). All numbers come from one run on one"
    echo "shared, noisy machine; compare them as ratios within this run, not across runs."
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- Machine: $NPROC CPUs, $CPU_MODEL, Linux $KERNEL; load average $LOAD_START at the start,"
    echo "  $LOAD_END at the end (what else ran on the machine meanwhile: the higher, the noisier)"
    echo "- switchyard: \`$SY_VERSION\`"
    echo "- nginx: \`$NGINX_VERSION\`"
    echo "- wrk: \`$WRK_VERSION\`"
    echo "- Run: $ROUNDS interleaved rounds of ${DURATION} s per (target, connections), wrk with 1 thread;"
    echo "  the table shows the median of the rounds. Whole run: ${ELAPSED} s."
    echo "- switchyard runs with \`log.requests: false\` (no per-request log line), nginx with"
    echo "  \`access_log off\`; both proxy to the same sy-mock (1 worker thread)."
    echo
    if [ ${#PROBLEMS[@]} -gt 0 ]; then
        echo "## Problems in this run"
        echo
        echo "Some figures could not be measured or are suspect; \`make bench\` exited non-zero."
        echo
        for p in "${PROBLEMS[@]}"; do echo "- $p"; done
        echo
    fi
    echo "## Targets"
    echo
    echo "| target | measured | goal | result |"
    echo "|---|---|---|---|"
    for row in "${TARGET_ROWS[@]}"; do echo "$row"; done
    echo
    # what the profiles say: written by hand, kept beside this script
    if [ -f "$ROOT/bench/analysis.md" ]; then
        cat "$ROOT/bench/analysis.md"
        echo
    fi
    for c in "${CONNS[@]}"; do
        echo "## Non-streaming chat, $c connections"
        echo
        echo "~1.2 KB OpenAI chat request (system prompt + user message), 16-token reply, \`wrk -t1 -c$c\`."
        echo "Added p50 = p50 through the proxy - p50 direct to sy-mock."
        echo
        echo "| target | req/s | p50 (us) | p99 (us) | added p50 (us) | req/s vs nginx | req/s per round |"
        echo "|---|---:|---:|---:|---:|---:|---|"
        for t in "${TARGETS[@]}"; do
            rounds=""
            for r in $(seq 1 "$ROUNDS"); do
                rounds+="$(fmt_k "${RPS[$t:$c:$r]:--}") "
            done
            added=${ADDED[$t:$c]}
            [ "$t" = direct ] && added="(baseline)"
            ratio="${RATIO[$t:$c]}x"
            [ "$t" = direct ] && ratio="${RATIO[$t:$c]}x"
            [ "$t" = nginx ] && ratio="1.00x"
            is_num "${RATIO[$t:$c]}" || ratio="n/a"
            echo "| ${LABEL[$t]} | $(fmt_k "${M_RPS[$t:$c]}") | $(fmt "${M_P50[$t:$c]}" 0) | $(fmt "${M_P99[$t:$c]}" 0) | $added | $ratio | ${rounds% } |"
        done
        for t in "${TARGETS[@]}"; do
            [ -n "${NOTE[$t:$c]:-}" ] && echo && echo "Errors, ${LABEL[$t]}: ${NOTE[$t:$c]}"
        done
        echo
    done
    echo "Added p50 latency at 4 connections, switchyard / nginx: workers 1 **${ADDED_RATIO_1}x**,"
    echo "workers auto ${ADDED_RATIO_AUTO}x."
    echo
    echo "## Cache hits"
    echo
    echo "The model \`bench-cached\` (\`cache: { mode: exact, ttl_s: 86400 }\`, the same sy-mock upstream as"
    echo "\`bench\`) on the same two switchyards, sent the request of the wrk runs above (\`bench/chat.lua\`)."
    echo "The cache was warmed with one request of that exact body (\`bench/once.lua\`; it answered"
    echo "\`${HIT_WARM[sw1hit]:-${HIT_WARM[swautohit]:-n/a}}\`, the next one \`200 hit\`), so every request of the runs is a hit"
    echo "served from the memory tier. The baseline is sy-mock answering the same request directly (the"
    echo "sy-mock direct row above, in the same rounds, run right before the hits): a reply that"
    echo "needs no model, which sy-mock builds from the request (parse, hash, 16 words) and the"
    echo "cache replays from the stored canonical answer. Target: req/s vs sy-mock >= 1.0x, a hit"
    echo "costs no more than a static reply. Each measured run is checked: /api/stats must count at"
    echo "least as many hits as the requests wrk completed (wrk does not count the requests still in"
    echo "flight when it stops), and sy-mock's /__stats must not move. **CPU per request** is the"
    echo "process's utime + stime over the requests served, as in the translated paths below: sy-mock"
    echo "(one worker) per reply, the workers-1 switchyard per hit (not measured for workers auto)."
    echo
    for c in "${CONNS[@]}"; do
        echo "\`wrk -t1 -c$c\`:"
        echo
        echo "| target | req/s | p50 (us) | p99 (us) | req/s vs sy-mock | p50 vs sy-mock | p99 vs sy-mock | CPU per request (us) | of which user (us) | hits counted / requests | upstream requests | req/s per round |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        for t in direct "${HIT_TARGETS[@]}"; do
            rounds=""
            for r in $(seq 1 "$ROUNDS"); do
                rounds+="$(fmt_k "${RPS[$t:$c:$r]:--}") "
            done
            hits="-" up="-"
            if [ -n "${IS_HIT[$t]:-}" ]; then
                hits="${HIT_N[$t:$c]:-n/a} / ${HIT_REQS[$t:$c]:-n/a}"
                up=${HIT_UP[$t:$c]:-n/a}
            fi
            echo "| ${LABEL[$t]} | $(fmt_k "${M_RPS[$t:$c]}") | $(fmt "${M_P50[$t:$c]}" 0) | $(fmt "${M_P99[$t:$c]}" 0) | $(disp "${HR_RPS[$t:$c]}" x) | $(disp "${HR_P50[$t:$c]}" x) | $(disp "${HR_P99[$t:$c]}" x) | ${HR_CPU[$t:$c]} | ${HR_USER[$t:$c]} | $hits | $up | ${rounds% } |"
        done
        for t in "${HIT_TARGETS[@]}"; do
            [ -n "${NOTE[$t:$c]:-}" ] && echo && echo "Errors, ${LABEL[$t]}: ${NOTE[$t:$c]}"
        done
        echo
    done
    echo "## Streaming"
    echo
    echo "\`sy-stream\`: $((S_PER_ROUND * ROUNDS)) streaming chat requests per target ($ROUNDS interleaved rounds of $S_PER_ROUND,"
    echo "percentiles over the pooled samples) over $STREAM_C keep-alive connections (one request at a"
    echo "time each), sy-mock asked for $STREAM_TOKENS tokens, TTFT ${STREAM_TTFT_MS} ms, ${STREAM_ITL_MS} ms between tokens,"
    echo "each chunk stamped with the mock's CLOCK_MONOTONIC. Chunk latency = receipt - stamp."
    echo "TTFT = first text chunk received - request sent; it contains the mock's ${STREAM_TTFT_MS} ms wait and"
    echo "that wait's timer jitter. Net TTFT = TTFT - (stamp of the first text chunk - stamp of"
    echo "the first chunk, which the mock writes on receipt): the request's way to the mock plus"
    echo "the first token's way back, which is what a proxy can add. nginx relays with"
    echo "\`proxy_buffering off\` and passes the client's x-mock-* headers on; switchyard does not"
    echo "pass client headers on, so its stream model \`bench-stream\` uses a provider whose"
    echo "\`headers:\` add the same x-mock-* headers upstream (config below)."
    echo
    echo "| target | TTFT p50 (us) | TTFT p99 (us) | net TTFT p50 (us) | net TTFT p99 (us) | chunk p50 (us) | chunk p99 (us) | chunks | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in "${STREAM_TARGETS[@]}"; do
        echo "| ${LABEL[$t]} | $(fmt "${S_TTFT50[$t]}" 0) | $(fmt "${S_TTFT99[$t]}" 0) | $(fmt "${S_NET50[$t]}" 0) | $(fmt "${S_NET99[$t]}" 0) | $(fmt "${S_CH50[$t]}" 0) | $(fmt "${S_CH99[$t]}" 0) | $(sget "$t" chunks) | $(sget "$t" errors) |"
    done
    echo
    echo "Added by the proxy (through-proxy percentile - direct percentile, us):"
    echo
    echo "| proxy | TTFT p50 | TTFT p99 | net TTFT p50 | net TTFT p99 | chunk p50 | chunk p99 |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for t in nginx swauto; do
        echo "| ${LABEL[$t]} | ${S_ADD_TTFT50[$t]} | ${S_ADD_TTFT99[$t]} | ${S_ADD_NET50[$t]} | ${S_ADD_NET99[$t]} | ${S_ADD_CH50[$t]} | ${S_ADD_CH99[$t]} |"
    done
    echo
    echo "## Translated paths"
    echo
    echo "The same conversation sent to switchyard (workers 1) in three client APIs, all served by"
    echo "the same OpenAI-type provider (sy-mock): the OpenAI request is relayed as the client"
    echo "wrote it (the passthrough); the Ollama and Anthropic requests are decoded into the"
    echo "canonical form, encoded as OpenAI for the upstream, and the answer is translated back."
    echo "**Gateway CPU** is the switchyard process's utime + stime from /proc/PID/stat, read just"
    echo "before and after each run, divided by the requests (or text chunks) it served in that"
    echo "run and pooled over the rounds; it does not depend on how fast wrk or the mock ran, so it"
    echo "is the figure to trust on a busy machine. **Translation cost** = a path's gateway CPU -"
    echo "the passthrough's, in the same run; in brackets the same difference of user time alone,"
    echo "where translation runs (the kernel's share moves with the machine's load: loopback"
    echo "receive work is charged to whichever process is on the core)."
    echo
    echo "Translation cost per request, 4 / 64 connections: Ollama **$(us_or_na "${XR_COST[sw1oll:4]}") / $(us_or_na "${XR_COST[sw1oll:64]}")**"
    echo "(user ${XR_UCOST[sw1oll:4]} / ${XR_UCOST[sw1oll:64]}), Anthropic **$(us_or_na "${XR_COST[sw1ant:4]}") / $(us_or_na "${XR_COST[sw1ant:64]}")** (user ${XR_UCOST[sw1ant:4]} / ${XR_UCOST[sw1ant:64]})"
    echo "of gateway CPU (the passthrough: $(us_or_na "${XR_CPU[sw1:4]}") / $(us_or_na "${XR_CPU[sw1:64]}") a request);"
    echo "per stream chunk: Ollama **$(us_or_na "${XC_COST[xs-ollama]}")** (user $(us_or_na "${XC_UCOST[xs-ollama]}")), Anthropic **$(us_or_na "${XC_COST[xs-anthropic]}")** (user $(us_or_na "${XC_UCOST[xs-anthropic]}"))"
    echo "(the passthrough: $(us_or_na "${XC_CPU[xs-openai]}") a chunk)."
    echo
    echo "### Per request"
    echo
    echo "Non-streaming, the ~1.2 KB conversation of the wrk runs above (\`bench/chat.lua\`; the"
    echo "other APIs' bodies come from \`bench/translated.lua\`: Ollama \`/api/chat\` with"
    echo "\`\"stream\": false\`, Anthropic \`/v1/messages\` with \`max_tokens\`), 16-token reply, run right"
    echo "after the passthrough in each of the same rounds; req/s and latencies are medians of the"
    echo "rounds, the gateway CPU is pooled over them."
    echo
    for c in "${CONNS[@]}"; do
        echo "\`wrk -t1 -c$c\`:"
        echo
        echo "| path (client → upstream) | req/s | p50 (us) | p99 (us) | req/s vs passthrough | gateway CPU per request (us) | of which user (us) | translation cost (us CPU per request, user) | requests measured |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for t in sw1 "${XTARGETS[@]}"; do
            label=${LABEL[$t]}
            [ "$t" = sw1 ] && label=$XLABEL_PASS
            ratio="${XR_RATIO[$t:$c]}x"
            is_num "${XR_RATIO[$t:$c]}" || ratio="n/a"
            cost=$(with_user "${XR_COST[$t:$c]}" "${XR_UCOST[$t:$c]}")
            [ "$t" = sw1 ] && cost="(baseline)"
            echo "| $label | $(fmt_k "${M_RPS[$t:$c]}") | $(fmt "${M_P50[$t:$c]}" 0) | $(fmt "${M_P99[$t:$c]}" 0) | $ratio | ${XR_CPU[$t:$c]} | ${XR_USER[$t:$c]} | $cost | ${XR_N[$t:$c]} |"
        done
        for t in "${XTARGETS[@]}"; do
            [ -n "${NOTE[$t:$c]:-}" ] && echo && echo "Errors, ${LABEL[$t]}: ${NOTE[$t:$c]}"
        done
        echo
    done
    echo "### Per chunk (streams)"
    echo
    echo "\`sy-stream --proto openai|ollama|anthropic\`: $((XS_PER_ROUND * ROUNDS)) streams per path ($ROUNDS interleaved rounds"
    echo "of $XS_PER_ROUND, $XS_C at a time, new requests on kept-alive connections), model \`bench-long\`: its"
    echo "provider asks sy-mock for $XS_TOKENS tokens, one every ${XS_ITL_MS} ms, so the gateway wakes for each"
    echo "chunk as it would for a real model. The OpenAI client reads SSE up to \`data: [DONE]\`, the"
    echo "Ollama client NDJSON up to \`\"done\":true\`, the Anthropic client SSE up to \`message_stop\`; a"
    echo "stream that ends without it is an error, and the text chunks must add up to streams x"
    echo "$XS_TOKENS. Gateway CPU per chunk = CPU over the runs / text chunks relayed (each stream's"
    echo "request work is spread over its $XS_TOKENS chunks, well under 0.1 us a chunk). Events per"
    echo "stream = SSE events or NDJSON lines the client got, the closing ones included. TTFT ="
    echo "first text chunk received - request sent (the mock adds no wait here)."
    echo
    echo "| path (client ← upstream) | streams | text chunks | events per stream | errors | gateway CPU per chunk (us) | of which user (us) | translation cost (us CPU per chunk, user) | TTFT p50 (us) | TTFT p99 (us) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in "${XS_TARGETS[@]}"; do
        case $t in
        xs-openai) label="OpenAI SSE ← OpenAI (passthrough)" ;;
        xs-ollama) label="Ollama NDJSON ← OpenAI SSE" ;;
        xs-anthropic) label="Anthropic SSE ← OpenAI SSE" ;;
        esac
        eps=$(div "${XS_EVENTS[$t]:-}" "${XS_REQS[$t]:-}")
        is_num "$eps" && eps=$(fmt "$eps" 1)
        cost=$(with_user "${XC_COST[$t]}" "${XC_UCOST[$t]}")
        [ "$t" = xs-openai ] && cost="(baseline)"
        is_num "$eps" || eps=n/a
        echo "| $label | ${XS_REQS[$t]:-n/a} | ${XS_TEXT[$t]:-n/a} | $eps | ${XS_ERRS[$t]:-n/a} | ${XC_CPU[$t]} | ${XC_USER[$t]} | $cost | $(fmt "${XC_TTFT50[$t]}" 0) | $(fmt "${XC_TTFT99[$t]}" 0) |"
    done
    echo
    echo "## Dedup fan-out"
    echo
    echo "\`sy-fanout\` (\`bench/sy-fanout.c\`: one epoll loop, one connection per request) sends $FAN_N"
    echo "identical streaming chat requests at once to a third switchyard (workers auto, started for"
    echo "this alone), model \`bench-fanout\`: exact cache, \`dedup: on\`, and a provider that asks"
    echo "sy-mock for $FAN_TOKENS tokens, the first after ${FAN_TTFT_MS} ms, then one every ${FAN_ITL_MS} ms, so that the requests"
    echo "all overlap one upstream stream. Right before, in each round, one such stream alone gives the"
    echo "stream's own duration through the gateway. Each run's request text carries a fresh nonce, so"
    echo "nothing is a cache hit. **Upstream calls** = sy-mock's request count after - before; a waiter is"
    echo "**complete** when it got 200, SSE up to \`data: [DONE]\`, no error event, $FAN_TOKENS text chunks,"
    echo "and the same text as every other waiter. Times are from the first connect (**last done**,"
    echo "the wall time until the last waiter finished) or from each waiter's request (TTFB = first"
    echo "response byte, first token, done); **spread** = last completion - first completion; **sent"
    echo "within** = how long the client took to get all $FAN_N requests out. **CPU**: the fan-out"
    echo "switchyard's (utime + stime from /proc/PID/stat around the run) and sy-fanout's own (getrusage),"
    echo "in ms, both on the same $NPROC cores: when they add up to about the cores' time over the"
    echo "run, the wall time is bound by CPU, not by the fan-out's design."
    echo
    echo "| round | upstream calls | complete | leader / followers | dedup joins | one stream alone (ms) | last of $FAN_N done (ms) | ratio | spread (ms) | sent within (ms) | TTFB p50 / p99 (ms) | first token p50 / p99 (ms) | done p50 / p99 (ms) | CPU: gateway / client (ms) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in $(seq 1 "$FAN_ROUNDS"); do
        [ -n "${FAN[$r:ran]:-}" ] || { echo "| $r | not measured | | | | | | | | | | | | |"; continue; }
        echo "| $r | ${FAN[$r:up]:-n/a} | ${FAN[$r:completed]:-n/a} of $FAN_N | ${FAN[$r:leaders]:-?} / ${FAN[$r:followers]:-?} | ${FAN[$r:joins]:-n/a} | $(ms "${FAN[$r:alone]:-}") | $(ms "${FAN[$r:wall_us]}") | $(disp "${FAN[$r:ratio]}" x) | $(ms "${FAN[$r:spread_us]}") | $(ms "${FAN[$r:send_spread_us]}") | $(ms "${FAN[$r:ttfb_us:p50]}") / $(ms "${FAN[$r:ttfb_us:p99]}") | $(ms "${FAN[$r:ttft_us:p50]}") / $(ms "${FAN[$r:ttft_us:p99]}") | $(ms "${FAN[$r:done_us:p50]}") / $(ms "${FAN[$r:done_us:p99]}") | $(ms "${FAN[$r:gw_cpu_us]:-}") / $(ms "${FAN[$r:cpu_us]}") |"
    done
    echo
    echo "Gateway CPU per waiter (median of rounds): $(disp "$FAN_GW_WAITER" " us"), or $(disp "$FAN_GW_EVENT" " us") per event"
    echo "delivered (${FAN[1:events_min]:-n/a} events a waiter)."
    echo
    echo "Each waiter's stream: ${FAN[1:events_min]:-n/a} SSE events, ${FAN[1:bytes_min]:-n/a} bytes of body (round 1). Memory of"
    echo "the fan-out switchyard (VmRSS, MB = kB / 1024): ${FAN_RSS0:-n/a} before the first round, peak ${FAN_HWM:-n/a}"
    echo "(VmHWM after the last round), ${FAN_RSS1:-n/a} 1 s later; peak growth $(disp "$FAN_GROWTH_KB" " KB") per waiter (its"
    echo "connection, request and output buffers, and its share of the one fan-out buffer). Open files"
    echo "allowed to each process (\`ulimit -n\`, raised by the script when it was lower): $FD_LIMIT."
    echo
    echo "## Semantic cache: precision and recall"
    echo
    echo "\`build/semantic-eval\` (\`bench/semantic-eval.c\`) on the labelled pairs of"
    echo "\`tests/data/semantic-pairs.tsv\`: for each threshold, the pairs the cache would serve from one"
    echo "another (cosine similarity of the built-in embedder >= threshold, and with guards: no guard"
    echo "vetoes). Precision = true hits / hits, recall = true hits / the pairs that are the same"
    echo "question. The default threshold is ${SEM_THRESHOLD:-n/a}; the issue's target is precision >= 0.99 there."
    echo
    if [ -s "$SEM_OUT" ]; then
        head -n1 "$SEM_OUT"
        echo
        grep '^|' "$SEM_OUT"
        echo
        if [ -n "$SEM_THRESHOLD" ]; then
            echo "At ${SEM_THRESHOLD}: $(grep -c 'FALSE HIT' "$SEM_OUT") false hits, $(grep -c ' vetoed ' "$SEM_OUT") near-misses the guards vetoed,"
            echo "$(grep -c ' lost ' "$SEM_OUT") true pairs the guards vetoed, $(grep -c ' below ' "$SEM_OUT") true pairs below the threshold"
            echo "(\`build/semantic-eval --misses\` lists them by line)."
            echo
        fi
        grep -E '^(embedder|exact scan):' "$SEM_OUT" | sed 's/^/- /'
    else
        echo "Not measured (see Problems)."
    fi
    echo
    echo "## Routing decision"
    echo
    echo "\`build/sy-route\` (\`bench/sy-route.c\`): one decision is \`sy_decide\` over 50 rules (header,"
    echo "model, API, metadata, token and key conditions, four prompt regexes scoped to other models; the"
    echo "rule at index 47 matches) followed by \`sy_plan_init\`, the pick (\`sy_plan_next\`) among 100"
    echo "deployments (weighted) and \`sy_plan_end\`, on one thread, each timed with \`clock_gettime\`"
    echo "around it. \`decide\` is \`sy_decide\` alone; \`pick\` the plan and the weighted pick alone; \`walk\` is the plan and a pick that looks at all 100"
    echo "deployments (least_inflight: what any strategy but weighted does, and a weighted pick whose draw lands"
    echo "on a deployment that may not be called); \`regex\` is \`sy_decide\` when a prompt regex's cheap"
    echo "conditions hold and it scans ~1 KB of user text. The request's \"metadata\" and \"user\" members are found"
    echo "beforehand, as the OpenAI ingress finds them while checking the body. Nanoseconds; the issue's target"
    echo "is p99 <= 2 us for \`decision\`."
    echo
    if [ -s "$ROUTE_OUT" ]; then
        head -n1 "$ROUTE_OUT"
        echo
        echo "| measure | p50 (ns) | p99 (ns) | p999 (ns) | mean (ns) |"
        echo "|---|---:|---:|---:|---:|"
        sed -nE 's/^([a-z]+) +p50_ns=([0-9]+) p99_ns=([0-9]+) p999_ns=([0-9]+) mean_ns=([0-9]+)$/| \1 | \2 | \3 | \4 | \5 |/p' "$ROUTE_OUT"
    else
        echo "Not measured (see Problems)."
    fi
    echo
    echo "## Idle memory"
    echo
    echo "VmRSS of switchyard (workers auto = ${SY_WORKERS_AUTO:-?}) from /proc/PID/status, in MB (kB / 1024)."
    echo
    echo "| when | VmRSS (MB) |"
    echo "|---|---:|"
    echo "| 1 s after start | ${RSS_START:-n/a} |"
    echo "| 1 s after all its load (wrk + streaming) | ${RSS_AFTER:-n/a} |"
    echo
    echo "## Commands"
    echo
    echo "Run from the repo root; ports are the free ports this run picked; \$TMP is the run's"
    echo "temp dir. Each wrk line ran once per round; the first round of each was preceded by the"
    echo "same command without \`--latency\` for ${WARMUP} s (warm-up, not measured)."
    echo
    echo '```sh'
    for cmd in "${CMDS[@]}"; do echo "$cmd"; done
    echo '```'
    echo
    if [ -f "$TMP/switchyard-sw1.yaml" ]; then
        echo "switchyard config (workers 1; the other two, workers auto and the fan-out's, differ only in"
        echo "\`workers: auto\`):"
        echo
        echo '```yaml'
        grep -v '^#' "$TMP/switchyard-sw1.yaml"
        echo '```'
        echo
    fi
    if [ -f "$NGINX_DIR/nginx.conf" ]; then
        echo "nginx config (\$TMP stands for the run's temp dir):"
        echo
        echo '```nginx'
        grep -v '^#' "$NGINX_DIR/nginx.conf" | sed "s#$TMP#\$TMP#g"
        echo '```'
    fi
} >"$OUT"

log "wrote $OUT (${ELAPSED} s)"
if [ ${#PROBLEMS[@]} -gt 0 ]; then
    log "${#PROBLEMS[@]} problem(s); see $OUT"
    exit 1
fi
exit 0

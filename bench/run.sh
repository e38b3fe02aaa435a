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
#      served, gives the translation's cost beside the passthrough's.
# Everything is compared as ratios within this one run. Results go to
# BENCHMARKS.md at the repo root (overwritten). Every process started here is
# killed on exit, including on failure; a figure that could not be measured is
# written as such and the script exits non-zero after writing the report.
#
# Knobs (environment): BUILD (build), BENCH_ROUNDS (3), BENCH_DURATION (5 s per
# round), BENCH_WARMUP (2 s before the first round), BENCH_STREAM_REQUESTS
# (200), BENCH_STREAM_CONC (2), BENCH_XSTREAM_REQUESTS (120 long streams per
# path for the per-chunk cost), BENCH_XSTREAM_CONC (4), BENCH_OUT
# (BENCHMARKS.md), BENCH_KEEP=1 keeps the temp dir with logs and configs.
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
for bin in "$MOCK" "$STREAM"; do
    [ -x "$bin" ] || problem "$bin is missing (run make)"
done
[ -x "$SWITCHYARD" ] || problem "$SWITCHYARD is missing (run make)"
command -v wrk >/dev/null || problem "wrk is not installed (make deps)"
[ -x "$NGINX" ] || problem "$NGINX is not installed (make deps)"

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

# target -> the switchyard it runs on (sw1, swauto), or nothing
sy_of() {
    case $1 in sw1 | sw1oll | sw1ant | xs-*) echo sw1 ;; swauto) echo swauto ;; esac
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
wrk_cmd() { # target conns seconds
    local env="" lua=bench/chat.lua
    [ -n "${W_PROTO[$1]:-}" ] && env="SY_BENCH_PROTO=${W_PROTO[$1]} " && lua=bench/translated.lua
    echo "${env}SY_BENCH_MODEL=${MODEL[$1]} wrk -t1 -c$2 -d$3s --latency -s $lua http://127.0.0.1:${PORT[$1]}${W_PATH[$1]:-$PATH_CHAT}"
}

# Runs wrk against a target (round 1 after a warm-up). On a workers-1
# switchyard target it also reads the process's CPU time just before and
# after the measured run, for the CPU per request.
run_wrk() { # target conns round
    local t=$1 c=$2 r=$3 out=$TMP/wrk-$1-$2-$3.txt s pid cpu0 cpu1 url lua m p u0 s0 u1 s1
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
# in the same rounds
RUN_ORDER=(direct nginx sw1 "${XTARGETS[@]}" swauto)
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

# ---------------------------------------------------------------- RSS after load
if [ -n "${SY_PID[swauto]:-}" ]; then
    sleep 1
    if [ "${SY_RESTARTS[swauto]:-0}" -gt 0 ]; then
        problem "switchyard (workers auto) was restarted during the run: no idle RSS after the whole load"
    elif sy_alive swauto; then
        RSS_AFTER=$(rss_mb "${SY_PID[swauto]}")
    fi
fi
for name in sw1 swauto; do
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
        echo "switchyard config (workers 1; the other run differs only in \`workers: auto\`):"
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

#!/usr/bin/env bash
# Builds and runs the libFuzzer drivers in tests/fuzz/ (see docs/fuzzing.md).
#
#   scripts/fuzz.sh build            build every driver into build/fuzz/<name>
#   scripts/fuzz.sh regress          replay every corpus file, then a short
#                                    seeded fuzz (2000 runs, <= 10 s) per driver;
#                                    exits non-zero on any crash. `make test` runs it.
#   scripts/fuzz.sh run [SECONDS]    fuzz each driver SECONDS (default 60) on a
#                                    working copy of its corpus in build/fuzz/corpus/<name>;
#                                    prints exec/s and the crashes grouped by cause
#   scripts/fuzz.sh run SECONDS NAME ...   only the named drivers
#
# Each driver is compiled with its own modules only (clang, libFuzzer + ASan
# + UBSan). Crashes are written to build/fuzz/artifacts/<name>/; the seed
# corpus in tests/fuzz/corpus/ is read, never written. A parser of a few KB
# of input has no business using more than LIMIT_MB of memory: past it is a
# crash (an out-of-memory report).
set -uo pipefail
cd "$(dirname "$0")/.."

CC=${FUZZ_CC:-clang}
OUT=build/fuzz
CFLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter
        -Isrc)
DRIVERS=(sse jsonscan config ingress egress entry retry_after)
LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-1024}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The modules and libraries each driver needs.
sources() {
  case $1 in
    sse) echo "src/upstream/sse.c" ;;  # err.h only: the codes are an enum
    retry_after) echo "src/upstream/retry_after.c" ;;
    jsonscan) echo "src/core/jsonscan.c" ;;
    config) echo "src/config/config.c src/core/rx.c" ;;
    # the decoders, the stream parsers and the cache entries reach far enough
    # into the library that a list of their modules would rot: all of it
    ingress|egress|entry) find src -name '*.c' ! -path src/main.c | sort | tr '\n' ' ' ;;
  esac
}
pkgs() {
  case $1 in
    sse|retry_after) echo "" ;;
    jsonscan) echo "json-c" ;;
    config) echo "libfyaml" ;;
    ingress|egress|entry) echo "libevent libevent_pthreads json-c libfyaml libcrypto sqlite3 hiredis" ;;
  esac
}

build_one() {
  local name=$1 bin=$OUT/$1 src deps libs=()
  src="tests/fuzz/${name}_fuzz.c $(sources "$name")"
  # rebuild only when a source or header it may include changed
  deps="$src scripts/fuzz.sh $(find src -name '*.h' 2>/dev/null)"
  if [ -x "$bin" ] && [ -z "$(find $deps -newer "$bin" 2>/dev/null)" ]; then
    return 0
  fi
  if [ -n "$(pkgs "$name")" ]; then
    # shellcheck disable=SC2207
    libs=($(pkg-config --cflags --libs $(pkgs "$name"))) || return 1
  fi
  mkdir -p "$OUT"
  echo "fuzz: building $bin"
  # shellcheck disable=SC2086
  "$CC" "${CFLAGS[@]}" -o "$bin" $src "${libs[@]}" -lm -ldl -pthread
}

build_all() {
  if ! command -v "$CC" >/dev/null; then
    echo "fuzz: $CC not found (libFuzzer needs clang: apt-get install clang)" >&2
    return 1
  fi
  local name
  for name in "${DRIVERS[@]}"; do
    build_one "$name" || { echo "fuzz: FAILED to build $name" >&2; return 1; }
  done
}

# The last "stat::name: value" libFuzzer printed in a log.
stat() {
  sed -nE "s/^stat::$2: *([0-9]+).*/\1/p" "$1" | tail -1
}

# Where a crash was saved, from a libFuzzer log.
artifact() {
  sed -nE 's/.*Test unit written to (.*)$/\1/p' "$1" | tail -1
}

regress() {
  local name fail=0 log files tmp f
  build_all || return 1
  mkdir -p "$OUT/logs"
  for name in "${DRIVERS[@]}"; do
    log=$OUT/logs/$name-regress.log
    mapfile -t files < <(find "tests/fuzz/corpus/$name" -type f 2>/dev/null | sort)
    if [ ${#files[@]} -eq 0 ]; then
      echo "fuzz: regress $name: FAILED: tests/fuzz/corpus/$name/ is empty or missing"
      fail=1
      continue
    fi
    mkdir -p "$OUT/artifacts/$name"
    # 1. every corpus file once: the regression inputs
    if ! "$OUT/$name" -rss_limit_mb="$LIMIT_MB" -artifact_prefix="$OUT/artifacts/$name/" \
         "${files[@]}" >"$log" 2>&1; then
      tail -40 "$log"
      # libFuzzer stops at the first crash: name every corpus file that fails
      for f in "${files[@]}"; do
        "$OUT/$name" -rss_limit_mb="$LIMIT_MB" -artifact_prefix="$OUT/artifacts/$name/" "$f" \
          >/dev/null 2>&1 || echo "fuzz: regress $name: FAILED on $f: $(headline "$OUT/$name" "$f")"
      done
      echo "fuzz: regress $name: FAILED (log: $log)"
      fail=1
      continue
    fi
    # 2. a short, seeded fuzz from the corpus; new inputs go to a scratch dir
    tmp=$OUT/regress-corpus/$name
    rm -rf "$tmp"
    mkdir -p "$tmp"
    if ! "$OUT/$name" -seed=1 -runs=2000 -max_total_time=10 -timeout=10 -rss_limit_mb="$LIMIT_MB" \
         -artifact_prefix="$OUT/artifacts/$name/" -print_final_stats=1 \
         "$tmp" "tests/fuzz/corpus/$name" >>"$log" 2>&1; then
      tail -40 "$log"
      echo "fuzz: regress $name: FAILED while fuzzing; input saved as $(artifact "$log") (log: $log)"
      fail=1
      continue
    fi
    echo "fuzz: regress $name: ok (${#files[@]} corpus files, $(stat "$log" number_of_executed_units) runs)"
  done
  return $fail
}

# A corpus input that still crashes (a bug not fixed yet: `regress` fails on
# it) would stop libFuzzer before it fuzzes at all: move such inputs out of
# the working copy into build/fuzz/known-crashes/<name>/, say so, and
# return 1 (the run then fails, after fuzzing).
prune_crashers() {
  local name=$1 work=$2 tmp sum f g i moved=0
  tmp=$OUT/prune/$name
  for i in $(seq 1 20); do
    rm -rf "$tmp"
    mkdir -p "$tmp"
    if "$OUT/$name" -runs=0 -rss_limit_mb="$LIMIT_MB" -artifact_prefix="$tmp/" "$work" >"$tmp.log" 2>&1; then
      return $moved
    fi
    f=$(find "$tmp" -type f | head -1)
    [ -n "$f" ] || { tail -20 "$tmp.log"; echo "fuzz: $name: the corpus fails to load ($tmp.log)"; return 1; }
    sum=$(sha1sum <"$f" | cut -d' ' -f1)
    mkdir -p "$OUT/known-crashes/$name"
    for g in "$work"/*; do
      if [ "$(sha1sum <"$g" | cut -d' ' -f1)" = "$sum" ]; then
        echo "fuzz: $name: $(basename "$g") still crashes (a known bug, see regress); left out of this run"
        mv "$g" "$OUT/known-crashes/$name/"
        moved=1
        continue 2
      fi
    done
    echo "fuzz: $name: a crash while loading the corpus matches no file ($tmp.log)"
    return 1
  done
  return 1
}

# What went wrong in a crash, in one line: the sanitizer's or the driver's
# message, and for a sanitizer report the first frame in src/.
headline() {
  local out what where
  out=$("$1" -rss_limit_mb="$LIMIT_MB" "$2" 2>&1)
  what=$(printf '%s\n' "$out" |
    grep -m1 -E 'invariant failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' |
    sed -E 's/^==[0-9]+== *//; s/ on address 0x[0-9a-f]+.*//; s/ \(pc 0x[0-9a-f]+.*//')
  where=$(printf '%s\n' "$out" | grep -m1 -E '^ +#[0-9]+ .* in [^ ]+ .*/src/' |
    sed -E 's/.* in ([^ ]+) .*\/(src\/[^ ]*)/ in \1 \2/')
  printf '%s%s' "$what" "$where"
}

# Fuzz each driver in fork mode (-fork=1 -ignore_crashes=1): a crash is saved
# and fuzzing goes on, so one known bug does not end the run; at the end the
# crashes are grouped by what went wrong.
run() {
  local secs=${1:-60} name fail=0 log work dict names marker runs t new n f
  shift || true
  names=("$@")
  [ ${#names[@]} -eq 0 ] && names=("${DRIVERS[@]}")
  case $secs in '' | *[!0-9]*) echo "fuzz: run: SECONDS must be a number" >&2; return 2 ;; esac
  build_all || return 1
  mkdir -p "$OUT/logs"
  for name in "${names[@]}"; do
    [ -f "tests/fuzz/${name}_fuzz.c" ] || { echo "fuzz: no driver named $name" >&2; return 2; }
    log=$OUT/logs/$name-run.log
    work=$OUT/corpus/$name
    mkdir -p "$work" "$OUT/artifacts/$name"
    cp -n "tests/fuzz/corpus/$name"/* "$work"/ 2>/dev/null
    prune_crashers "$name" "$work" || fail=1
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    marker=$OUT/artifacts/$name/.run-start
    touch "$marker"
    echo "fuzz: $name for ${secs}s (corpus $work, log $log)"
    "$OUT/$name" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb="$LIMIT_MB" -artifact_prefix="$OUT/artifacts/$name/" \
      "${dict[@]}" "$work" >"$log" 2>&1
    # fork mode's status lines: "#RUNS: cov: .. corp: N .. time: Ts .."
    runs=$(sed -nE 's/^#([0-9]+): cov:.*/\1/p' "$log" | tail -1)
    t=$(sed -nE 's/^#[0-9]+: cov:.* time: ([0-9]+)s.*/\1/p' "$log" | tail -1)
    runs=${runs:-0}
    t=${t:-0}
    [ "$t" -gt 0 ] || t=1
    echo "fuzz: $name: $runs runs in ${t}s, $((runs / t)) exec/s, corpus $(find "$work" -type f | wc -l) files"
    new=$(find "$OUT/artifacts/$name" -type f -newer "$marker" ! -name '.*' | sort)
    if [ -n "$new" ]; then
      fail=1
      n=$(printf '%s\n' "$new" | wc -l)
      echo "fuzz: $name: $n crashing inputs in $OUT/artifacts/$name/, by cause$([ "$n" -gt 50 ] && echo ' (of the first 50)'):"
      for f in $(printf '%s\n' $new | head -50); do
        printf '%s\t%s\n' "$(headline "$OUT/$name" "$f")" "$f"
      done | sort | awk -F'\t' '{ n[$1]++; if (!($1 in ex)) ex[$1] = $2 }
        END { for (h in n) printf "  %4d x %s\n         e.g. %s\n", n[h], h, ex[h] }'
    fi
  done
  return $fail
}

case ${1:-} in
  build) build_all ;;
  regress) regress ;;
  run) shift; run "$@" ;;
  *) echo "usage: scripts/fuzz.sh build | regress | run [SECONDS [NAME ...]]" >&2; exit 2 ;;
esac

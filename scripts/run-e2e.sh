#!/usr/bin/env bash
# Runs the end-to-end suite (tests/e2e, node:test) against $BUILD/switchyard
# and $BUILD/sy-mock. `make e2e` calls it with BUILD=build or BUILD=build-asan.
# npm ci runs only when node_modules is missing or package-lock.json changed.
# node's TAP reporter prints the "# pass N" / "# fail N" summary lines.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
E2E=tests/e2e

for b in "$BUILD/switchyard" "$BUILD/sy-mock"; do
  if [ ! -x "$b" ]; then
    echo "e2e: $b is not built (run make BUILD=$BUILD)" >&2
    exit 1
  fi
done

stamp=$E2E/node_modules/.e2e-lock-sha256
want=$(sha256sum "$E2E/package-lock.json" | cut -d' ' -f1)
if [ ! -d "$E2E/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if ! out=$(cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error 2>&1); then
    printf '%s\n' "$out" >&2
    echo "e2e: npm ci failed" >&2
    exit 1
  fi
  printf '%s\n' "$want" >"$stamp"
fi

export BUILD
export SY_BIN="$PWD/$BUILD/switchyard"
export MOCK_BIN="$PWD/$BUILD/sy-mock"
case "$BUILD" in *asan*)
  # leaks are reported at exit; halt_on_error keeps the first report readable
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
  ;;
esac

# The whole suite runs once per upstream transport: the lean HTTP/1.1 client
# (auto, for the mock on 127.0.0.1) and libcurl. Both must pass the same tests.
rc=0
for transport in ${SY_TRANSPORTS:-auto curl}; do
  echo "e2e: transport $transport ($BUILD)"
  SY_TRANSPORT=$transport node --test --test-concurrency=2 --test-reporter=tap "$E2E/"
  r=$?
  if [ $r -ne 0 ]; then
    echo "e2e: FAILED ($BUILD, transport $transport); the processes' stderr is in $BUILD/e2e-logs/"
    rc=1
  else
    echo "e2e: passed ($BUILD, transport $transport)"
  fi
done
exit $rc

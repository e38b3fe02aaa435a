#!/usr/bin/env bash
# Runs every Criterion unit-test binary given, then prints one summary line.
set -uo pipefail
fail=0; passed=0; failed=0
for t in "$@"; do
  out=$("$t" --jobs=2 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | grep -E '^\[====\] Synthesis:' | tail -1)
  p=$(printf '%s' "$line" | sed -nE 's/.*Passing: ([0-9]+).*/\1/p'); p=${p:-0}
  f=$(printf '%s' "$line" | sed -nE 's/.*Failing: ([0-9]+).*Crashing: ([0-9]+).*/\1+\2/p'); f=$(( ${f:-0} ))
  passed=$((passed + p)); failed=$((failed + f))
  # Criterion's forked tests pass even when a sanitizer reports: read the reports
  san=$(printf '%s\n' "$out" | grep -cE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:')
  if [ $rc -ne 0 ] || [ -z "$line" ] || [ "$san" -ne 0 ]; then
    printf '%s\n' "$out"; echo "unit: FAILED $t (rc=$rc)"; fail=1; [ "$f" -eq 0 ] && failed=$((failed + 1))
  else
    echo "unit: $(basename "$t"): $line"
  fi
done
echo "unit: $passed passed, $failed failed"
exit $fail

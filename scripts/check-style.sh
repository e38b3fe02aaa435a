#!/usr/bin/env bash
# Bans the C library calls that overflow or hide errors (curl's checksrc idea).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atof|strtok)[[:space:]]*\(' \
      $(find src tools tests bench -name '*.c' -o -name '*.h' 2>/dev/null) || true)
if [ -n "$bad" ]; then
  echo "check-style: banned calls (use snprintf, strtol/strtoul, memcpy with lengths):"
  echo "$bad"
  exit 1
fi

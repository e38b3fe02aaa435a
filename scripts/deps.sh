#!/usr/bin/env bash
# Install what Switchyard needs to build, test and benchmark, from Debian's
# packages. Idempotent and quiet when everything is already there.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang libclang-rt-14-dev
  libevent-dev libcurl4-openssl-dev libjson-c-dev libfyaml-dev libssl-dev
  libsqlite3-dev libhiredis-dev redis-server libcriterion-dev
  nodejs npm wrk nginx-light curl
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # a package providing the command is as good (nginx instead of nginx-light, a newer node)
    case "$p" in
      nginx-light) command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && continue ;;
      nodejs|npm) command -v "${p/nodejs/node}" >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # the nginx package starts a system service on port 80; the bench runs its own
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; fi
  $SUDO pkill -x nginx >/dev/null 2>&1 || true
  # redis-server's package starts one on 6379 too; tests start their own on free ports
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
  $SUDO pkill -x redis-server >/dev/null 2>&1 || true
fi

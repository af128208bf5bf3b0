#!/usr/bin/env bash
# Install every Debian 12 package that the build, the tests and the
# quickstart need.  Idempotent: when everything is already present it does
# nothing, and it runs `apt-get update` only when a package is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates curl
  libmicrohttpd-dev libpq-dev libssl-dev libjansson-dev libcryptsetup-dev
  libcurl4-openssl-dev
  libjose-dev
  postgresql-15 postgresql-client-15
  cryptsetup-bin
  clang-14 libclang-rt-14-dev clang-format-14
  valgrind python3 python3-cryptography openssl procps util-linux
  chromium
  libgnutls28-dev testssl.sh
  libzxcvbn-dev
  python3-aiosmtpd
  glewlwyd sqlite3
  tzdata systemd
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# The web console test drives chromium with playwright-core from npm.  An
# image may already carry Node.js from elsewhere (npm bundled with it, no
# Debian npm package); only a machine without npm gets Debian's nodejs+npm.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent (fresh image) or stale; refresh once, and
# only because something has to be installed.
$SUDO apt-get update -qq
# postgresql-common would otherwise create and start a system-wide cluster;
# keyescrow runs its own private cluster under ./var instead.
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  $SUDO mkdir -p /etc/postgresql-common
  echo 'create_main_cluster = false' | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: done"

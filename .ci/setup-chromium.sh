#!/usr/bin/env bash
# Installs Debian's chromium for the headless-browser check of sweep reports (packages/cli sweep test).
# Idempotent, quiet, never fails the caller: without apt/root it prints a note and the browser check skips visibly.
# Usage: .ci/setup-chromium.sh   (env QUANTLAB_SKIP_CHROMIUM_SETUP=1 skips it)
set -u
start=$(date +%s)
note() { echo "setup-chromium: $*"; }
if [ -n "${QUANTLAB_SKIP_CHROMIUM_SETUP:-}" ]; then note "skipped (QUANTLAB_SKIP_CHROMIUM_SETUP set)"; exit 0; fi
if command -v chromium >/dev/null 2>&1; then note "already installed: $(chromium --version 2>/dev/null | head -n 1)"; exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then note "NOTE: no apt-get; the report browser check will skip"; exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    note "NOTE: not root and no passwordless sudo; the report browser check will skip"; exit 0
  fi
fi
log=$(mktemp -t setup-chromium.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
# setup-gpu.sh usually ran apt-get update just before; update again only if the install fails.
if ! timeout 600 $SUDO apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; then
  timeout 300 $SUDO apt-get update -qq >>"$log" 2>&1
  if ! timeout 600 $SUDO apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; then
    note "NOTE: apt-get install chromium failed after $(( $(date +%s) - start ))s; the report browser check will skip; log: $log"; exit 0
  fi
fi
note "installed $(chromium --version 2>/dev/null | head -n 1) in $(( $(date +%s) - start ))s"
rm -f "$log"
exit 0

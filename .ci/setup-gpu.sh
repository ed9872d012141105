#!/usr/bin/env bash
# Installs a software Vulkan driver so that Dawn (the `webgpu` npm package) finds a WebGPU adapter on a machine
# without a GPU: Mesa 25 lavapipe from bookworm-backports (Debian 12's own Mesa 22 lavapipe is rejected by Dawn).
# Idempotent and quiet: prints one line saying what it found or installed. Never fails the caller: when apt is
# unreachable (or we are not root) it prints a note and exits 0, and the GPU tests then skip visibly
# ("no WebGPU adapter: run .ci/setup-gpu.sh").
# Usage: .ci/setup-gpu.sh   (env QUANTLAB_SKIP_GPU_SETUP=1 skips it)
set -u
start=$(date +%s)
note() { echo "setup-gpu: $*"; }
elapsed() { echo "$(( $(date +%s) - start ))s"; }

if [ -n "${QUANTLAB_SKIP_GPU_SETUP:-}" ]; then note "skipped (QUANTLAB_SKIP_GPU_SETUP set)"; exit 0; fi

# Major version of the installed mesa-vulkan-drivers (empty if none).
mesa_major() { dpkg-query -W -f='${Status} ${Version}\n' mesa-vulkan-drivers 2>/dev/null | awk '/install ok installed/ { split($4, v, "."); print v[1] }'; }
have_loader() { dpkg-query -W -f='${Status}\n' libvulkan1 2>/dev/null | grep -q "install ok installed"; }
lvp_icd() { ls /usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -n 1; }

m=$(mesa_major)
if [ -n "$m" ] && [ "$m" -ge 24 ] && have_loader && [ -n "$(lvp_icd)" ]; then
  note "lavapipe (Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)) already installed: $(lvp_icd)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  note "NOTE: no apt-get here; no software Vulkan driver installed, GPU tests will skip"; exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    note "NOTE: not root and no passwordless sudo; no software Vulkan driver installed, GPU tests will skip"; exit 0
  fi
fi

log=$(mktemp -t setup-gpu.XXXXXX.log)
. /etc/os-release 2>/dev/null || true
codename=${VERSION_CODENAME:-bookworm}
list=/etc/apt/sources.list.d/${codename}-backports.list
if ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian ${codename}-backports main" | $SUDO tee "$list" >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
if ! timeout 300 $SUDO apt-get update -qq >>"$log" 2>&1; then
  note "NOTE: apt-get update failed (apt unreachable?) after $(elapsed); no software Vulkan driver installed, GPU tests will skip; log: $log"
  exit 0
fi
if ! timeout 600 $SUDO apt-get install -y -qq --no-install-recommends -t "${codename}-backports" \
  mesa-vulkan-drivers libvulkan1 >>"$log" 2>&1; then
  note "NOTE: apt-get install of mesa-vulkan-drivers from ${codename}-backports failed after $(elapsed); GPU tests will skip; log: $log"
  exit 0
fi
m=$(mesa_major)
if [ -n "$m" ] && [ "$m" -ge 24 ] && [ -n "$(lvp_icd)" ]; then
  note "installed lavapipe (Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)) in $(elapsed): $(lvp_icd)"
  rm -f "$log"
else
  note "NOTE: mesa-vulkan-drivers installed but no usable lavapipe (Mesa '${m}') after $(elapsed); GPU tests will skip; log: $log"
fi
exit 0

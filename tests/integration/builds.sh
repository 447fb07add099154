# The agent builds some integration tests use, each made once into $BUILD and
# shared. Sourced by lib.sh, and by tests/vm/leg, which makes them on the host
# before the 6.1 VMs start (make takes minutes under software emulation, and
# the VMs only read them). Each prints the binary's path, or fails with the
# build's output on stderr. Needs ROOT and BUILD.

# test points that kill the agent where a test asks (agent/testhooks.h) and
# sk_msg's decision window stretched to ~3 ms (race.t, firstload.t)
test_agent() {
  local tb=$BUILD/testbuild
  make -s -j"$(nproc)" -C "$ROOT" BUILD="$tb" EXTRA_DEFS="-DMC_TEST_HOOKS -DMC_TEST_WIDEN_WINDOW=400000" \
    "$tb/meshcut-agent" >"$tb.log" 2>&1 || { cat "$tb.log" >&2; return 1; }
  echo "$tb/meshcut-agent"
}

# the same code with the next map layout (lifecycle.t's upgrade)
layout_next_agent() {
  local cur vn=$BUILD/layout-next
  cur=$(sed -n 's/^#define MC_LAYOUT_VERSION \([0-9]*\)$/\1/p' "$ROOT/bpf/control.h")
  make -s -j"$(nproc)" -C "$ROOT" BUILD="$vn" EXTRA_DEFS="-DMC_LAYOUT_VERSION=$((cur + 1)) -DMC_LAYOUT_TEST_EXTRA" \
    "$vn/meshcut-agent" >"$vn.log" 2>&1 || { cat "$vn.log" >&2; return 1; }
  echo "$vn/meshcut-agent"
}

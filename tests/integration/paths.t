#!/usr/bin/env bash
# Wrong paths get an error that says what is wrong and how to fix it, before
# the agent loads or pins anything: a cgroup v1 directory as --cgroup (it used
# to fail late, "Bad file descriptor", after links were pinned), a --pin-dir
# that is not on a bpffs (it used to say "Operation not permitted", which
# reads like a missing capability).
. "$(dirname "$0")/lib.sh"
require_root
TEST_TMP=$(mktemp -d)
pins=/sys/fs/bpf/mcpaths-$$
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
cg=$cg2/mcpaths-$$
cleanup() { rmdir "$cg" 2>/dev/null; rm -rf "$pins" "$TEST_TMP"; }
trap cleanup EXIT
mkdir -p "$cg"
agent() { "$BUILD/meshcut-agent" --socket "$TEST_TMP/agent.sock" "$@" >"$TEST_TMP/out" 2>&1; echo $?; }

v1=$(awk '$3 == "cgroup" { print $2; exit }' /proc/mounts)
if [ -n "$v1" ]; then
  rc=$(agent --pin-dir "$pins" --cgroup "$v1")
  diag "cgroup v1: $(cat "$TEST_TMP/out")"
  expect_eq "a cgroup v1 directory as --cgroup: the agent exits 1" 1 "$rc"
  check "... saying it is not a cgroup v2 directory and where the cgroup2 mount is" \
    grep -q "is not a cgroup v2 directory.*$cg2" "$TEST_TMP/out"
  check "... before pinning anything ($pins was not created)" test ! -e "$pins"
else
  for _ in 1 2 3; do skip "no cgroup v1 hierarchy is mounted on this machine"; done
fi

rc=$(agent --pin-dir "$TEST_TMP/pins" --cgroup "$cg")
diag "pin dir on $(stat -f -c %T "$TEST_TMP"): $(cat "$TEST_TMP/out")"
expect_eq "a --pin-dir that is not on a bpffs: the agent exits 1" 1 "$rc"
check "... saying so and how to mount one" grep -q "not on a bpffs.*mount -t bpf" "$TEST_TMP/out"
check "... before creating anything there" test ! -e "$TEST_TMP/pins"

rc=$(agent --pin-dir "$pins" --cgroup "$TEST_TMP")
expect_eq "a --cgroup that is no cgroup at all (a plain directory): exit 1" 1 "$rc"
check "... with the same message" grep -q "is not a cgroup v2 directory" "$TEST_TMP/out"
check "... and nothing pinned" test ! -e "$pins"
tap_done

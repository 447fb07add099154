#!/usr/bin/env bash
# The parsers that read what pods send survive anything: builds the libFuzzer
# targets (tests/fuzz: mc_registration_parse; the IP, CIDR, port-list and MAC
# parsers) with ASan and UBSan and runs each for FUZZ_SECONDS (30 here; `make
# fuzz` runs 10 minutes) from the seed corpora. Any crash, leak, timeout or
# sanitizer report fails, with the input saved under build/fuzz/artifacts/.
# Needs no root and no cluster.
. "$(dirname "$0")/lib.sh"
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
export FUZZ_SECONDS
TEST_TMP=$(mktemp -d)
trap 'rm -rf "$TEST_TMP"' EXIT

lib=$("${CLANG:-clang}" -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)
if [ ! -e "$lib" ]; then
  echo "1..0 # SKIP no clang with the libFuzzer runtime (Debian: libclang-rt-14-dev)"
  exit 0
fi
if make -C "$ROOT" --no-print-directory BUILD="$BUILD" fuzz-build >"$TEST_TMP/build.log" 2>&1; then
  ok "fuzz targets build (clang -fsanitize=fuzzer,address,undefined)"
else
  not_ok "fuzz targets build"; sed 's/^/# /' "$TEST_TMP/build.log"; tap_done; exit 1
fi

# the sanitizers catch what they should: a planted overflow must be reported
cat >"$TEST_TMP/planted.c" <<'C'
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *p = malloc(n);
	if (n >= 3 && !memcmp(d, "BUG", 3))
		p[n] = 1; /* one byte past the end */
	free(p);
	return 0;
}
C
mkdir -p "$TEST_TMP/seed" && printf 'BUG' >"$TEST_TMP/seed/x"
"${CLANG:-clang}" -g -fsanitize=fuzzer,address,undefined -o "$TEST_TMP/planted" "$TEST_TMP/planted.c" 2>/dev/null
"$TEST_TMP/planted" -runs=10 -artifact_prefix="$TEST_TMP/" "$TEST_TMP/seed" >"$TEST_TMP/planted.log" 2>&1
check "a planted heap overflow is caught (the harness is not blind)" grep -q 'heap-buffer-overflow' "$TEST_TMP/planted.log"

# both at once (one per core), each for FUZZ_SECONDS
out=$("$ROOT/tests/fuzz/run" "$BUILD/fuzz/fuzz_registration" "$BUILD/fuzz/fuzz_addr" 2>&1); rc=$?
while IFS= read -r l; do diag "$l"; done <<<"$out"
for f in registration addr; do
  line=$(grep "^fuzz: $f " <<<"$out")
  case $line in
    "fuzz: $f ok:"*) ok "fuzz_$f: ${FUZZ_SECONDS}s without a crash, leak or timeout" ;;
    *) not_ok "fuzz_$f: failed (see above)" ;;
  esac
  execs=$(sed -n 's/.*: \([0-9]*\) executions.*/\1/p' <<<"$line")
  check "fuzz_$f ran a meaningful number of inputs (${execs:-0})" test "${execs:-0}" -ge 10000
done
[ $rc = 0 ] || diag "tests/fuzz/run exited $rc"
tap_done

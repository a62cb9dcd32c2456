#!/bin/bash
# tests/run.sh: run every unit test (cmocka binaries in $B/tests), the layout rules
# (tests/layout.sh) and every integration test (tests/integration/test_*.sh,
# tests/net/*/test.sh). Scripts exit 0 (pass), 77 (skip, with a reason on stdout) or
# anything else (fail). The last line is
# "N passed, N failed, N skipped". TESTS=pattern runs only matching tests.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
B=${B:-build}
export LK_TOP=$top
export LK_BIN=$top/$B
export SANITIZE=${SANITIZE:-0}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir=$top/$B/test-logs
rm -rf "$logdir"; mkdir -p "$logdir"
pass=0 fail=0 skip=0
failed_names=""
pattern=${TESTS:-}

want() { [ -z "$pattern" ] || [[ "$1" == *$pattern* ]]; }

for t in "$top/$B"/tests/test_*; do
	[ -x "$t" ] || continue
	name=unit/$(basename "$t")
	want "$name" || continue
	log=$logdir/$(basename "$t").log
	CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$log" 2>&1
	rc=$?
	# a binary may run several groups: add up every group's summary
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END{print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END{print s+0}')
	p=${p:-0}; f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	pass=$((pass + p)); fail=$((fail + f))
	if [ "$f" != 0 ]; then
		echo "FAIL $name ($f failed, see $log)"; failed_names="$failed_names $name"
		grep -E '^\[  (FAILED|  ERROR) \]|error|Error' "$log" | head -20 | sed 's/^/    /'
	else
		echo "ok   $name ($p)"
	fi
done

for t in "$top"/tests/layout.sh "$top"/tests/integration/test_*.sh "$top"/tests/net/*/test.sh; do
	[ -f "$t" ] || continue
	rel=${t#"$top"/tests/}
	want "$rel" || continue
	log=$logdir/$(echo "$rel" | tr '/' '_').log
	start=$(date +%s)
	timeout --kill-after=10 "${LK_TEST_TIMEOUT:-600}" bash "$t" >"$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	case $rc in
	0) pass=$((pass + 1)); echo "ok   $rel (${secs}s)";;
	77) skip=$((skip + 1)); echo "skip $rel: $(tail -1 "$log")";;
	*) fail=$((fail + 1)); failed_names="$failed_names $rel"
	   echo "FAIL $rel (exit $rc, ${secs}s, see $log)"; tail -25 "$log" | sed 's/^/    /';;
	esac
done

[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]

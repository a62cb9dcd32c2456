#!/bin/bash
# tests/run.sh: run every unit test (cmocka binaries in $B/tests), the registry's unit
# tests once more against a PostgreSQL server of their own (tests/pg.sh; reported as
# unit/<name>_pg), the layout rules (tests/layout.sh) and every integration test
# (tests/integration/test_*.sh, tests/net/*/test.sh). Scripts exit 0 (pass), 77 (skip, with a reason on stdout) or
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

# The unit tests whose registry fixture (tests/unit/testutil.c) also runs on PostgreSQL
# (test_revoked: the Kea hook's loader and LISTEN watcher; skipped on SQLite).
PG_UNITS="test_registry test_supersede test_revoked"
unset LK_TEST_PG

# run_unit BINARY NAME: one cmocka binary, its groups' results added up.
run_unit() {
	local t=$1 name=$2 log rc p f
	log=$logdir/${name#unit/}.log
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
}

for t in "$top/$B"/tests/test_*; do
	[ -x "$t" ] || continue
	name=unit/$(basename "$t")
	want "$name" || continue
	run_unit "$t" "$name"
done

# The same registry tests on PostgreSQL: a server started for them alone, stopped by its
# PID file on the way out, whatever happens. No server (not installed): they fail.
pg_names=""
for n in $PG_UNITS; do
	[ -x "$top/$B/tests/$n" ] && want "unit/${n}_pg" && pg_names="$pg_names $n"
done
if [ -n "$pg_names" ]; then
	. "$top/tests/pg.sh"
	trap pg_stop EXIT
	trap 'exit 130' INT TERM
	if pg_start >"$logdir/postgresql.log" 2>&1; then
		for n in $pg_names; do
			run_unit "$top/$B/tests/$n" "unit/${n}_pg"
		done
		pg_stop
	else
		for n in $pg_names; do
			fail=$((fail + 1)); failed_names="$failed_names unit/${n}_pg"
			echo "FAIL unit/${n}_pg (no PostgreSQL server, see $logdir/postgresql.log)"
			sed 's/^/    /' "$logdir/postgresql.log"
		done
	fi
fi

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

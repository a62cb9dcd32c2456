#!/bin/bash
# valgrind over every unit test binary (issue 10, "Faults and abuse"): each cmocka program
# in $LK_BIN/tests runs under memcheck with full leak checking; a memory error, a leak
# (definitely or possibly lost) or a failing test fails this script.
# Some tests fork (the signer, concurrent writers): children run under memcheck too but
# silently (--child-silent-after-fork=yes). A child that _exits still holds the parent's
# blocks (an inherited SQLite handle shows as "possibly lost"), so only definite leaks and
# memory errors change a process's exit status (a child's 99 fails its test); the parent's
# "possibly lost" records are counted from the log, which only the parent writes to.
# Two binaries at a time, each bounded in time.
# Skips (77) when valgrind is missing or the binaries are sanitizer builds.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
PER_BINARY=${LK_VALGRIND_TIMEOUT:-110}
command -v valgrind >/dev/null || { echo "valgrind not found"; exit 77; }
bins=()
for t in "$LK_BIN"/tests/test_*; do [ -x "$t" ] && [ -f "$t" ] && bins+=("$t"); done
[ "${#bins[@]}" -gt 0 ] || { echo "no unit test binaries in $LK_BIN/tests (build them first)"; exit 77; }
if [ "${SANITIZE:-0}" = 1 ] || nm "${bins[0]}" 2>/dev/null | grep -q '__asan_init\|__ubsan_handle'; then
	echo "sanitizer build: valgrind cannot run it"
	exit 77
fi
T=$(mktemp -d /tmp/lk-vg.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
cd "$LK_TOP" || exit 1

# one BINARY: run it under valgrind; its log in $T/NAME.log, its exit status in $T/NAME.rc
one() {
	local t=$1 name t0
	name=$(basename "$t")
	t0=$(date +%s)
	CMOCKA_MESSAGE_OUTPUT=stdout timeout -k 5 "$PER_BINARY" valgrind -q \
	    --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
	    --child-silent-after-fork=yes --num-callers=30 "$t" >"$T/$name.log" 2>&1
	echo $? >"$T/$name.rc"
	echo $(( $(date +%s) - t0 )) >"$T/$name.secs"
}
export -f one
export T PER_BINARY
start=$(date +%s)
# Longest first (by a native run, a few seconds in all), so that the two lanes end together.
for t in "${bins[@]}"; do
	t0=$(date +%s%N)
	timeout 60 "$t" >/dev/null 2>&1
	echo "$(( ($(date +%s%N) - t0) / 1000000 )) $t"
done | sort -rn | cut -d' ' -f2- | xargs -P 2 -I{} bash -c 'one "$1"' _ {}
nfail=0
for t in "${bins[@]}"; do
	name=$(basename "$t")
	rc=$(cat "$T/$name.rc" 2>/dev/null || echo none)
	passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$T/$name.log" | tail -1)
	failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$T/$name.log" | tail -1)
	leaks=$(grep -c 'are \(definitely\|possibly\) lost' "$T/$name.log")
	errs=$(grep -c '^==[0-9]*== \(Invalid\|Conditional\|Use of uninit\|Syscall param\|Mismatched\|Source and destination\|Argument\)' "$T/$name.log")
	what="${passed:-0} passed, ${failed:-0} failed, $errs memory errors, $leaks leak records,"
	what="$what $(cat "$T/$name.secs" 2>/dev/null)s"
	[ "$rc" = 0 ] && [ "$leaks" -gt 0 ] && rc=possibly-lost
	case $rc in
	0)	echo "ok   $name ($what)";;
	124|137) echo "FAIL $name: timed out after ${PER_BINARY}s"; nfail=$((nfail + 1));;
	*)	echo "FAIL $name (exit $rc: $what)"; nfail=$((nfail + 1))
		grep -E '^\[  (ERROR|FAILED)  \]|^\[   LINE   \]' "$T/$name.log" | head -8 |
		    sed 's/^/    /'
		# each memcheck finding: its headline and the first frames in our code
		awk '/^==[0-9]+== [A-Z0-9]/ { n++; show = n <= 5; if (show) print; k = 0; next }
		    show && /^==[0-9]+==    (at|by) / && k < 6 { print; k++ }' "$T/$name.log" |
		    sed 's/^/    /';;
	esac
done
echo "${#bins[@]} binaries under valgrind in $(( $(date +%s) - start )) s"
if [ "$nfail" -gt 0 ]; then echo "$nfail binary(ies) failed under valgrind"; exit 1; fi
echo "all clean under valgrind"

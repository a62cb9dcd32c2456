# tests/bench/lib.sh: what the benchmark scripts share. Source it; then
#   bench_tmp NAME   a fresh temporary directory /tmp/lk-NAME.XXXXXX in $T, mode 0711:
#                    latchkeyd started as root runs its workers as latchkey, who must
#                    reach the registry and keys below it
#   port             a free loopback TCP port (tests/tools/port.sh)
#   field NAME       the value after " NAME " in a bench_enroll result line (stdin)
#   median           the median of the numbers on stdin, one per line; "n/a" when none
# Each script keeps its own cleanup (what it started differs) and removes $T there.
bench_tmp() {
	T=$(mktemp -d "/tmp/lk-$1.XXXXXX")
	chmod 0711 "$T"
}
. "$(dirname "${BASH_SOURCE[0]}")/../tools/port.sh"
port() { free_port; }
field() { sed -n "s/.* $1 \([^ ]*\).*/\1/p"; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# CPU accounting, to split an enrollment's CPU between latchkeyd, the database and the
# clients (bench_enroll prints its own as cpu_ms):
#   tree_pids PID...   the processes and all their descendants
#   cpu_ms PID...      CPU time (user + system, every thread) of those trees so far, in ms
#   stat_busy          "busy total" jiffies of the whole machine so far (/proc/stat)
#   busy_pct A B       the machine's busy share between two stat_busy readings, in %
#   per_enr MS N       MS milliseconds spread over N enrollments, 3 decimals (0 when N is 0)
tree_pids() { local p; for p in "$@"; do echo "$p"; tree_pids $(pgrep -P "$p"); done; }
cpu_ms() {
	local p v t=0 hz
	hz=$(getconf CLK_TCK)
	for p in $(tree_pids "$@"); do
		# the fields after "(comm)", which may hold spaces: utime, stime, and the reaped
		# children's cutime and cstime are 12 to 15 (a process gone during the run
		# leaves its time to its parent, still counted)
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}')
		t=$((t + ${v:-0}))
	done
	echo $((t * 1000 / hz))
}
stat_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
busy_pct() {
	# shellcheck disable=SC2086
	set -- $1 $2
	awk -v b=$(($3 - $1)) -v t=$(($4 - $2)) 'BEGIN { printf "%.0f", (t > 0 ? 100 * b / t : 0) }'
}
per_enr() { awk -v c="$1" -v n="$2" 'BEGIN { printf "%.3f", (n > 0 ? c / n : 0) }'; }

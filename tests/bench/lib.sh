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

#!/bin/bash
# tests/bench/kea.sh: kea-dhcp4 without and with liblatchkey_kea.so (revoked snapshot of
# 100k devices loaded), perfdhcp at a fixed offered rate in a namespace test bed.
#
#   server (kea-dhcp4, pinned to one CPU) ---veth--- client (perfdhcp as a relay)
#
# Runs are interleaved (bare, hook, options-only, bare, ...) on a fresh Kea each time
# (in-memory leases); "options-only" is the hook without "registry", to tell the snapshot's
# cost from the rest of the hook's. Per run: DORA/s = completed 4-way exchanges / run time as perfdhcp reports them,
# Kea CPU = the sum of its threads' on-CPU time (/proc/PID/task/*/schedstat, ns) over the
# run, per completed DORA. Prints the medians and their ratios:
#   kea_dora_per_s bare X hook Y ratio Z; kea_cpu_us_per_dora bare A hook B ratio C
# Needs root (namespaces); otherwise prints a skip line and exits 0.
# Environment: B (build dir), KEA_BENCH_RATE (offered DORA/s, default 2000),
# KEA_BENCH_SECONDS (per run, default 6), KEA_BENCH_ROUNDS (pairs, default 3),
# KEA_BENCH_DEVICES (revoked devices in the snapshot, default 100000), KEA_BENCH_CG_DORAS
# (DORAs counted under callgrind, default 200).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
HOOK=${LK_HOOK:-$top/$B/liblatchkey_kea.so}
RATE=${KEA_BENCH_RATE:-2000}
SECS=${KEA_BENCH_SECONDS:-6}
ROUNDS=${KEA_BENCH_ROUNDS:-3}
NDEV=${KEA_BENCH_DEVICES:-100000}

skip() { echo "kea bench: SKIP: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for p in kea-dhcp4 perfdhcp sqlite3 ip; do
	command -v "$p" >/dev/null 2>&1 || skip "$p is missing (perfdhcp: package kea-admin)"
done
[ -f "$HOOK" ] || skip "$HOOK is not built"

LK_TOP=$top
LK_BIN=$top/$B
. "$top/tests/net/lib.sh"
tb_init
tb_ns_add server
tb_ns_add client
tb_link server 10.205.0.1/16 client 10.205.0.2/16
SIF=$(tb_if server)
CIF=$(tb_if client)
S=$TB_DIR/server

# The registry the hook reads: the two tables its query touches, with NDEV revoked devices,
# one MAC each (02:xx..., never what perfdhcp sends: every lookup walks the whole bsearch).
DB=$S/registry.db
sqlite3 "$DB" >/dev/null <<EOF || tb_fail "cannot build the bench registry"
PRAGMA journal_mode = WAL;
CREATE TABLE bindings (id INTEGER PRIMARY KEY, serial TEXT NOT NULL, state TEXT NOT NULL);
CREATE INDEX bindings_serial_state ON bindings(serial, state);
CREATE TABLE netids (serial TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
    reported_at INTEGER NOT NULL, PRIMARY KEY (kind, value));
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $NDEV)
INSERT INTO bindings (serial, state) SELECT 'B' || i, 'revoked' FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $NDEV)
INSERT INTO netids SELECT 'B' || i, 'mac', printf('02%010x', i), 0 FROM c;
EOF

conf() {	# conf FILE without|options|with|noop
	local hooks="" reg=""
	[ "$2" = with ] && reg=", \"registry\": \"$DB\""
	[ "$2" = with ] || [ "$2" = options ] && hooks="\"hooks-libraries\": [ { \"library\": \"$HOOK\", \"parameters\": {
		\"registrar-uris\": [ \"https://10.205.0.1:8443\" ]$reg } } ],"
	[ "$2" = noop ] && hooks="\"hooks-libraries\": [ { \"library\": \"$NOOP\" } ],"
	cat >"$1" <<EOF
{ "Dhcp4": {
	"interfaces-config": { "interfaces": [ "$SIF" ], "dhcp-socket-type": "raw" },
	"lease-database": { "type": "memfile", "persist": false },
	"valid-lifetime": 3600,
	"multi-threading": { "enable-multi-threading": false },
	$hooks
	"client-classes": [
		{ "name": "latchkey-revoked" },
		{ "name": "latchkey-ok",
		  "test": "not member('latchkey-revoked') and (member('KNOWN') or member('UNKNOWN'))" }
	],
	"subnet4": [ { "id": 1, "subnet": "10.205.0.0/16",
		"pools": [ { "pool": "10.205.1.0 - 10.205.250.255", "client-class": "latchkey-ok" },
			   { "pool": "10.205.251.0 - 10.205.251.255", "client-class": "latchkey-revoked" } ] } ],
	"loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
		"output_options": [ { "output": "stdout" } ] },
		{ "name": "kea-dhcp4.latchkey-hooks", "severity": "INFO",
		"output_options": [ { "output": "stdout" } ] } ]
} }
EOF
}
conf "$S/bare.conf" without
conf "$S/hook.conf" with
conf "$S/opts.conf" options
# A hook whose two callouts return at once: Kea's own cost of calling callouts there.
NOOP=$S/kea_noop_hook.so
g++ -std=c++17 -O2 -fPIC -shared -I/usr/include/kea -o "$NOOP" "$top/tests/bench/kea_noop_hook.cc" \
    -lkea-hooks -lkea-exceptions 2>"$S/noop.err" || NOOP=
[ -n "$NOOP" ] && conf "$S/noop.conf" noop
PIN=""
command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ] && PIN="taskset -c 1"

cpu_ns() {	# on-CPU time of every thread of PID, ns
	local t sum=0 v
	for t in /proc/$1/task/*/schedstat; do
		read -r v _ <"$t" 2>/dev/null && sum=$((sum + v))
	done
	echo "$sum"
}

declare -a R_bare=() R_hook=() R_opts=() C_bare=() C_hook=() C_opts=()
run() {	# run bare|hook|opts N
	local kind=$1 n=$2 name=kea-$1-$2 pid c0 c1 out rate acks
	mkdir -p "$S/$name"
	tb_bg server "$name" env KEA_PIDFILE_DIR="$S/$name" KEA_LOCKFILE_DIR="$S/$name" \
	    $PIN kea-dhcp4 -c "$S/$kind.conf"
	tb_wait_for "$name started" 20 tb_sh server "ss -Hlun | grep -q ':67 '"
	[ "$kind" = hook ] && tb_wait_log server "$name" "LATCHKEY_REVOKED_LOADED .* $NDEV revoked"
	sleep 0.3
	pid=$(tb_pid server "$name")
	c0=$(cpu_ns "$pid")
	out=$(tb_exec client perfdhcp -4 -l "$CIF" -r "$RATE" -p "$SECS" -R 1000000 \
	    10.205.0.1 2>&1)
	c1=$(cpu_ns "$pid")
	tb_stop server "$name"
	printf '%s\n' "$out" >"$S/$name.perfdhcp"
	rate=$(printf '%s\n' "$out" | sed -n 's/.*Rate: \([0-9.]*\) 4-way exchanges.*/\1/p' | head -1)
	# received packets of the second exchange (REQUEST/ACK)
	acks=$(printf '%s\n' "$out" | sed -n 's/^received packets: \([0-9]*\).*/\1/p' | sed -n 2p)
	[ -n "$rate" ] && [ -n "$acks" ] && [ "$acks" -gt 0 ] ||
	    tb_fail "perfdhcp gave no result for $name: $(printf '%s\n' "$out" | tail -5)"
	eval "R_$kind+=(\$rate)"
	eval "C_$kind+=(\$(echo \"scale=2; (\$c1 - \$c0) / 1000 / \$acks\" | bc))"
	printf 'kea bench: %s round %d: %s DORA/s, %s acks, %s us CPU per DORA\n' "$kind" "$n" \
	    "$rate" "$acks" "$(eval "echo \${C_$kind[-1]}")"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "kea bench: offered $RATE DORA/s for ${SECS}s, $ROUNDS interleaved pairs, $NDEV revoked devices in the hook's snapshot${PIN:+, Kea pinned (taskset -c 1)}"
for i in $(seq 1 "$ROUNDS"); do
	run bare "$i"
	run hook "$i"
	run opts "$i"
done
# Instructions per DORA under callgrind: deterministic where the timings above are not.
# Counted from just before perfdhcp starts to just after it ends (callgrind_control -z/-d),
# so start-up and the snapshot load are left out; "ours" is what ran inside our callouts,
# the rest of the difference is Kea's own cost of calling them (argument and handle set-up,
# its stopwatch around every callout).
run_cg() {	# run_cg bare|hook|opts|noop
	local kind=$1 name=kea-cg-$1 pid out acks f tot ours
	mkdir -p "$S/$name"
	tb_bg server "$name" env KEA_PIDFILE_DIR="$S/$name" KEA_LOCKFILE_DIR="$S/$name" \
	    valgrind --tool=callgrind --callgrind-out-file="$S/$name/cg.%p" \
	    kea-dhcp4 -c "$S/$kind.conf"
	tb_wait_for "$name started" 120 tb_sh server "ss -Hlun | grep -q ':67 '"
	[ "$kind" = hook ] && tb_wait_log server "$name" "LATCHKEY_REVOKED_LOADED .* $NDEV revoked"
	sleep 1
	pid=$(tb_pid server "$name")
	callgrind_control -z "$pid" >/dev/null
	out=$(tb_exec client perfdhcp -4 -l "$CIF" -r 50 -n "$CG_DORAS" -R 1000000 \
	    10.205.0.1 2>&1)
	callgrind_control -d "$pid" >/dev/null
	f=$(ls -t "$S/$name"/cg.*.1 2>/dev/null | head -1)
	acks=$(printf '%s\n' "$out" | sed -n 's/^received packets: \([0-9]*\).*/\1/p' | sed -n 2p)
	tot=$(sed -n 's/^summary: //p' "$f" 2>/dev/null)
	ours=$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null |
	    sed -n 's/^ *\([0-9,]*\) .*kea_hook\.cc:pkt4_\(send\|receive\) .*/\1/p' | tr -d , |
	    awk '{s += $1} END {print s + 0}')
	tb_stop server "$name"
	[ -n "$tot" ] && [ -n "$acks" ] && [ "$acks" -gt 0 ] ||
	    tb_fail "callgrind run $name gave no result: $(printf '%s\n' "$out" | tail -3)"
	eval "I_$kind=\$((tot / acks))"
	eval "O_$kind=\$((ours / acks))"
	printf 'kea bench: callgrind %s: %s acks, %s instructions per DORA, %s in our callouts\n' \
	    "$kind" "$acks" "$((tot / acks))" "$((ours / acks))"
}
CG_DORAS=${KEA_BENCH_CG_DORAS:-200}
if command -v valgrind >/dev/null 2>&1 && command -v callgrind_control >/dev/null 2>&1; then
	run_cg bare
	run_cg opts
	run_cg hook
	printf 'kea_instructions_per_dora bare %s options_only %s ratio %.3f hook %s ratio %.3f; in our callouts: options_only %s hook %s; Kea calling them: options_only %s hook %s\n' \
	    "$I_bare" "$I_opts" "$(echo "$I_opts / $I_bare" | bc -l)" "$I_hook" \
	    "$(echo "$I_hook / $I_bare" | bc -l)" "$O_opts" "$O_hook" \
	    "$((I_opts - I_bare - O_opts))" "$((I_hook - I_bare - O_hook))"
	if [ -n "$NOOP" ]; then
		run_cg noop
		printf 'kea_instructions_per_dora_noop_hook %s ratio %.3f (empty pkt4_receive and pkt4_send callouts)\n' \
		    "$I_noop" "$(echo "$I_noop / $I_bare" | bc -l)"
	fi
fi
rb=$(median "${R_bare[@]}"); rh=$(median "${R_hook[@]}"); ro=$(median "${R_opts[@]}")
cb=$(median "${C_bare[@]}"); ch=$(median "${C_hook[@]}"); co=$(median "${C_opts[@]}")
# For attribution: the hook without "registry" (options only, no snapshot, no lookups).
printf 'kea_options_only: dora_per_s %s ratio %.3f; cpu_us_per_dora %s ratio %.3f\n' \
    "$ro" "$(echo "$ro / $rb" | bc -l)" "$co" "$(echo "$co / $cb" | bc -l)"
printf 'kea_dora_per_s bare %s hook %s ratio %.3f; kea_cpu_us_per_dora bare %s hook %s ratio %.3f\n' \
    "$rb" "$rh" "$(echo "$rh / $rb" | bc -l)" "$cb" "$ch" "$(echo "$ch / $cb" | bc -l)"
tb_done >/dev/null

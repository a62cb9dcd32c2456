#!/bin/bash
# tests/bench/pg.sh: the PostgreSQL registry against SQLite, for BENCHMARKS.md (run.sh).
# One throwaway PostgreSQL server (tests/pg.sh, fsync on, Unix socket only) and one SQLite
# registry for the same domain; interleaved rounds of SECS seconds at 64 clients:
#   sqlite    one latchkeyd on the SQLite registry
#   pg        one latchkeyd on PostgreSQL
#   pg2       two latchkeyd instances on PostgreSQL (two ports; the same load generator,
#             its 64 clients alternating between them), the 2 cores split between them as
#             two hosts would have their own: workers = 1 each, 2 in all as in the others
#   pg2x      the same with each instance's default workers (one per core: 4 on 2 cores)
# all with registry-sync = normal. Also where the CPU goes (latchkeyd's, the PostgreSQL
# server's and the load generator's CPU time per enrollment), the database round trips
# per enrollment (the one pg instance's latchkeyd_registry_round_trips_total, read from
# its /metrics after each run) and the statements per enrollment (pg_stat_statements;
# several statements travel in one round trip when pipelined).
# Output: lines "pg_<what> ..." (medians over the rounds, ratios per round's sqlite run).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
export PATH=$top/$B:$top/$B/bench:$PATH
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
. "$top/tests/bench/lib.sh"
bench_tmp bpg
pids=()
. "$top/tests/pg.sh"
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
	pg_stop
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

PG_FSYNC=on PG_OPTS="-c shared_preload_libraries=pg_stat_statements" pg_start >"$T/pg.log" 2>&1 ||
    { echo "bench pg: no PostgreSQL: $(tail -1 "$T/pg.log")"; exit 1; }
pg_as "$PG_BIN/psql" -h "$PG_DIR" -U postgres -qc "CREATE DATABASE bench" >/dev/null
PGREG="host=$PG_DIR dbname=bench user=postgres"
psql_q() { pg_as "$PG_BIN/psql" -h "$PG_DIR" -U postgres -d bench -Atc "$1"; }
psql_q "CREATE EXTENSION pg_stat_statements" >/dev/null
# statements latchkeyd ran (each one round trip), not this script's
nstmt() { psql_q "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_roles r \
    ON r.oid = s.userid WHERE s.query NOT LIKE '%pg_stat%'"; }
# transactions in the bench database so far
nxact() { psql_q "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database \
    WHERE datname = 'bench'"; }

P1=$(port); P2=$(port); PA=$(port)
latchkeyctl lab-pki --out "$T/lab" --devices 64 --json >"$T/lab.json"
latchkeyctl init --domain bench.test --dir "$T/reg" --manufacturer-ca "$T/lab/manufacturer-ca.pem" \
    --listen "127.0.0.1:$P1" >/dev/null
jq -r '.devices[].serial' "$T/lab.json" >"$T/serials"
jq -r '.devices[] | "\(.serial) \(.cert) \(.key)"' "$T/lab.json" >"$T/devs"
latchkeyctl --db "$T/reg/registry.db" claim --file "$T/serials" >/dev/null
latchkeyctl --db "$PGREG" claim --file "$T/serials" >/dev/null
for c in sqlite pg1 pg2; do
	sed '/^registry-sync/d' "$T/reg/latchkeyd.conf" >"$T/reg/$c.conf"
	echo "registry-sync = normal" >>"$T/reg/$c.conf"
	echo "crl-file = $T/reg/crl-$c.der" >>"$T/reg/$c.conf"
	echo "audit-checkpoint-file = none" >>"$T/reg/$c.conf"
done
for c in pg1 pg2; do sed -i '/^registry[[:space:]]*=/d' "$T/reg/$c.conf"; echo "registry = $PGREG" >>"$T/reg/$c.conf"; done
sed -i "s/^listen = .*/listen = 127.0.0.1:$P2/" "$T/reg/pg2.conf"
for c in pg1 pg2; do sed '/^workers/d' "$T/reg/$c.conf" >"$T/reg/$c-half.conf"; echo "workers = 1" >>"$T/reg/$c-half.conf"; done
echo "admin-listen = 127.0.0.1:$PA" >>"$T/reg/pg1.conf"
# the pg instance's round trips so far (its workers publish every 250 ms)
rtt() { sleep 0.6; curl -s "http://127.0.0.1:$PA/metrics" | awk '/^latchkeyd_registry_round_trips_total / { print $2 }'; }

start() {	# start CONF PORT
	latchkeyd -d -f "$1" 2>>"$T/lkd.log" &
	pids+=($!)
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --cacert "$T/reg/domain-ca.pem" "https://127.0.0.1:$2/.well-known/est/cacerts" && return
		sleep 0.1
	done
	echo "bench pg: latchkeyd did not start"; tail -5 "$T/lkd.log"; exit 1
}
stop_all() { local p; for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done; pids=(); }
# Where the CPU goes: latchkeyd's (every instance, all processes) and the PostgreSQL
# server's (postmaster and its backends) CPU time over a run.
pm=$(head -1 "$PG_DIR/data/postmaster.pid")
# run KEY PORTS: round r's run KEY, 64 clients on PORTS (one port, or two alternating),
# into res[KEY,r]: bench_enroll's line and " lkd_ms L pg_ms P", each per enrollment
run() {
	local l0 p0 a n
	l0=$(cpu_ms "${pids[@]}"); p0=$(cpu_ms "$pm")
	a=$(bench_enroll load 127.0.0.1 "$2" "$SECS" 64 "$T/reg/domain-ca.pem" "$T/devs")
	n=$(echo "$a" | awk '{print $2}')
	res[$1,$r]="$a lkd_ms $(per_enr $(($(cpu_ms "${pids[@]}") - l0)) "$n") pg_ms $(per_enr \
	    $(($(cpu_ms "$pm") - p0)) "$n")"
}

declare -A res
stmts=0 xacts=0 enrolls=0 trips=0
for r in $(seq 1 "$ROUNDS"); do
	start "$T/reg/sqlite.conf" "$P1"
	run sqlite "$P1"; stop_all
	start "$T/reg/pg1.conf" "$P1"
	x0=$(nxact)
	s0=$(nstmt); t0=$(rtt)
	run pg "$P1"
	t1=$(rtt); stop_all
	x1=$(nxact)
	s1=$(nstmt)
	start "$T/reg/pg1-half.conf" "$P1"; start "$T/reg/pg2-half.conf" "$P2"
	run pg2 "$P1,$P2"; stop_all
	start "$T/reg/pg1.conf" "$P1"; start "$T/reg/pg2.conf" "$P2"
	run pg2x "$P1,$P2"; stop_all
	echo "round $r: sqlite: ${res[sqlite,$r]}" >&2
	echo "round $r: pg:     ${res[pg,$r]}" >&2
	echo "round $r: pg x2:  ${res[pg2,$r]}" >&2
	echo "round $r: pg x2, default workers: ${res[pg2x,$r]}" >&2
	trips=$((trips + t1 - t0)); stmts=$((stmts + s1 - s0)); xacts=$((xacts + x1 - x0)); enrolls=$((enrolls + $(echo "${res[pg,$r]}" | awk '{ print $2 }')))
done
# med KEY FIELD: the median over the rounds of KEY's FIELD
med() { local r; for r in $(seq 1 "$ROUNDS"); do echo "${res[$1,$r]}" | field "$2"; done | median; }
# ratio KEY [BASE]: the median over the rounds of KEY's rate / BASE's (sqlite) that round
ratio() { local r; for r in $(seq 1 "$ROUNDS"); do
	awk -v a="$(echo "${res[$1,$r]}" | field rate)" -v b="$(echo "${res[${2:-sqlite},$r]}" | field rate)" \
	    'BEGIN { printf "%.2f\n", a / b }'; done | median; }
errs() { local k=$1 r n=0; for r in $(seq 1 "$ROUNDS"); do n=$((n + $(echo "${res[$k,$r]}" | field errors))); done; echo $n; }
echo "pg_sqlite_rate $(med sqlite rate) errors $(errs sqlite)"
echo "pg_one_rate $(med pg rate) ratio_to_sqlite $(ratio pg) (goal >= 0.8) errors $(errs pg)"
echo "pg_two_rate $(med pg2 rate) ratio_to_sqlite $(ratio pg2) (goal >= 0.9) errors $(errs pg2) (workers = 1 each)"
echo "pg_two_default_workers_rate $(med pg2x rate) ratio_to_sqlite $(ratio pg2x) errors $(errs pg2x) (2 each: 4 on 2 cores)"
echo "pg_cpu_ms_per_enrollment sqlite: latchkeyd $(med sqlite lkd_ms) clients $(med sqlite cpu_ms);" \
    "pg one: latchkeyd $(med pg lkd_ms) PostgreSQL $(med pg pg_ms) clients $(med pg cpu_ms);" \
    "pg two: latchkeyd $(med pg2 lkd_ms) PostgreSQL $(med pg2 pg_ms) clients $(med pg2 cpu_ms);" \
    "pg two, default workers: latchkeyd $(med pg2x lkd_ms) PostgreSQL $(med pg2x pg_ms) clients $(med pg2x cpu_ms)" \
    "(medians; two/one rate $(ratio pg2 pg))"
awk -v r="$trips" -v s="$stmts" -v t="$xacts" -v e="$enrolls" 'BEGIN { printf "pg_round_trips_per_enrollment %.2f (goal <= 2; %d round trips, %d enrollments, one instance, its load runs only), statements %.2f, transactions %.2f (whole runs incl. start-up and health checks)\n", (e > 0 ? r / e : 0), r, e, (e > 0 ? s / e : 0), (e > 0 ? t / e : 0) }'
# Where PostgreSQL's time goes, per execution: the group commit's statement (one per
# enrollment), the admission read (one per parked request) and the writers' lock (one
# per commit; its time is mostly the wait for the other instance's commit).
psql_q "SELECT string_agg(k || ' ' || round((t / c * 1000)::numeric, 1), ' ' ORDER BY k)
    FROM (SELECT CASE WHEN query LIKE 'WITH adm AS%' THEN 'enroll'
        WHEN query LIKE 'SELECT count(b.id)%' THEN 'admission'
        WHEN query LIKE 'SELECT pg_advisory_xact_lock%' THEN 'writers_lock' END AS k,
        sum(total_exec_time) AS t, sum(calls) AS c FROM pg_stat_statements GROUP BY 1) s
    WHERE k IS NOT NULL" | sed 's/^/pg_statement_exec_us (mean, pg_stat_statements, all runs) /'

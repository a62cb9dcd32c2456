#!/bin/bash
# tests/bench/run.sh (make bench): every benchmark, written to BENCHMARKS.md.
# Ratios are against baselines measured in the same run. Bounded: each load runs a fixed time.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
BIN=$top/$B
export PATH=$BIN:$BIN/bench:$PATH
SECS=${BENCH_SECONDS:-5}
. "$top/tests/bench/lib.sh"
bench_tmp bench
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
out=${BENCH_OUT:-$top/BENCHMARKS.md}


start_registrar() {	# start_registrar full|normal [CONF]
	local conf=${2:-$T/reg/latchkeyd.conf}
	sed -i "/^registry-sync/d" "$conf"
	echo "registry-sync = $1" >>"$conf"
	latchkeyd -d -f "$conf" 2>>"$T/latchkeyd.log" &
	pid=$!
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --cacert "$T/reg/domain-ca.pem" "https://127.0.0.1:$PORT/.well-known/est/cacerts" && return
		sleep 0.1
	done
	echo "bench: latchkeyd did not start"; cat "$T/latchkeyd.log"; exit 1
}
stop_registrar() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

echo "bench: setting up a lab PKI, a domain and 64 claimed devices"
PORT=$(port)
latchkeyctl lab-pki --out "$T/lab" --devices 64 --json >"$T/lab.json"
latchkeyctl init --domain bench.test --dir "$T/reg" --manufacturer-ca "$T/lab/manufacturer-ca.pem" \
    --listen "127.0.0.1:$PORT" >/dev/null
jq -r '.devices[].serial' "$T/lab.json" >"$T/serials"
latchkeyctl --db "$T/reg/registry.db" claim --file "$T/serials" >/dev/null
jq -r '.devices[] | "\(.serial) \(.cert) \(.key)"' "$T/lab.json" >"$T/devs"
D0=$(jq -r '.devices[0].cert' "$T/lab.json"); K0=$(jq -r '.devices[0].key' "$T/lab.json")

# This machine's speed drifts (other tenants, frequency), so every figure is taken in
# ROUNDS interleaved rounds, each with its own ceiling run; the report gives medians and
# each run's ratio to the ceiling of its own round.
ROUNDS=${BENCH_ROUNDS:-3}
declare -A res
# Each run's line (bench_enroll's, with its own CPU per enrollment as cpu_ms) also gets the
# machine's busy share (busy, %) and, for a load run, latchkeyd's CPU per enrollment, all its
# processes (srv_ms): the rate's ratio to the ceiling splits into how much CPU an
# enrollment takes and how much of the machine's time was used.
ceiling() {
	local b0 out
	b0=$(stat_busy)
	out=$(bench_enroll ceiling "$SECS" 2 "$D0" "$K0" "$T/reg/domain-ca.pem" \
	    "$T/reg/domain-ca.key" "$T/reg/registrar.pem" "$T/reg/registrar.key")
	echo "$out busy $(busy_pct "$b0" "$(stat_busy)")"
}
load() {
	local b0 c0 out
	b0=$(stat_busy); c0=$(cpu_ms "$pid")
	out=$(bench_enroll load 127.0.0.1 "$PORT" "$SECS" "$1" "$T/reg/domain-ca.pem" "$T/devs")
	echo "$out srv_ms $(per_enr $(($(cpu_ms "$pid") - c0)) "$(echo "$out" | awk '{print $2}')")" \
	    "busy $(busy_pct "$b0" "$(stat_busy)")"
}
for r in $(seq 1 "$ROUNDS"); do
	echo "bench: round $r/$ROUNDS: in-process ceiling (handshake + CSR + check + sign, 2 threads, ${SECS}s)"
	res[ceil,$r]=$(ceiling)
	echo "  ${res[ceil,$r]}"
	start_registrar full
	for c in 1 8 64; do
		echo "bench: round $r: latchkeyd, registry-sync=full, $c concurrent clients, ${SECS}s"
		res[full$c,$r]=$(load "$c")
		echo "  ${res[full$c,$r]}"
	done
	stop_registrar
	start_registrar normal
	for c in 1 8 64; do
		echo "bench: round $r: latchkeyd, registry-sync=normal, $c concurrent clients, ${SECS}s"
		res[normal$c,$r]=$(load "$c")
		echo "  ${res[normal$c,$r]}"
	done
	stop_registrar
done
# Every worker logs at its stop how many enrollments its group commits carried.
gc=$(sed -n 's/.*; \([0-9]*\) enrollments in \([0-9]*\) commits.*/\1 \2/p' "$T/latchkeyd.log" |
    awk '{e += $1; c += $2} END {if (c > 0) printf "%d enrollments in %d transactions, %.1f per commit", e, c, e / c}')

# Registry scaling: a copy of the registry with 1,000,000 more bindings (and a certificate
# each), run alternately with the original, 64 clients, synchronous=full.
echo "bench: registry scaling, 1,000,000 existing bindings"
sqlite3 "$T/reg/registry.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
cp "$T/reg/registry.db" "$T/reg/big.db"
sed "s/^registry = .*/registry = big.db/" "$T/reg/latchkeyd.conf" >"$T/reg/big.conf"
sqlite3 "$T/reg/big.db" <<SQL >/dev/null
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
INSERT INTO bindings(serial, domain, idevid_fp, authorized_by, state, created_at)
SELECT printf('SCALE%07d', i), 'bench.test', '', 'claim', 'active', 1700000000 FROM n;
INSERT INTO certificates(cert_serial, binding_id, device_serial, not_before, not_after, issued_at, der)
SELECT printf('%032X', 5000000 + b.id), b.id, b.serial, 1700000000, 1800000000, 1700000000, x'00'
FROM bindings b WHERE b.serial LIKE 'SCALE%';
COMMIT;
SQL
# latchkeyd started as root opens the registry as its workers' user: the copy is theirs too
if [ "$(id -u)" = 0 ]; then
	chown --reference="$T/reg/registry.db" "$T/reg/big.db" "$T/reg"/big.db-* 2>/dev/null || true
fi
for r in 1 2; do
	start_registrar full
	res[small64,$r]=$(load 64)
	echo "  round $r: small registry: ${res[small64,$r]}"
	stop_registrar
	start_registrar full "$T/reg/big.conf"
	res[big64,$r]=$(load 64)
	echo "  round $r: 1M bindings:    ${res[big64,$r]}"
	stop_registrar
done
start_registrar full

# Memory: latchkeyd with 1,000 idle TLS connections (handshake done, no request), and the
# agent's peak for one enrollment.
echo "bench: memory with 1,000 idle TLS connections"
lkd_rss() {
	local t=0 p
	for p in $(tree_pids "$pid"); do
		t=$((t + $(awk '/VmRSS/{print $2}' /proc/"$p"/status 2>/dev/null || echo 0)))
	done
	echo "$t"
}
rss_idle0=$(lkd_rss)
# 100 connections first, then 1,000 more: the first ones also pay each worker's one-time
# set-up (OpenSSL's algorithm caches fill on a worker's first handshakes), the next 1,000
# only what a connection costs.
python3 - "$PORT" "$T/reg/domain-ca.pem" "$T/mem" <<'PY' &
import socket, ssl, sys, time, os
port, ca, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
conns = []
def hold(n, tag):
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        conns.append(ctx.wrap_socket(s, server_hostname="127.0.0.1"))
    open(d + "." + tag, "w").write(str(len(conns)))
    for _ in range(300):
        if os.path.exists(d + "." + tag + ".next"):
            return
        time.sleep(0.05)
hold(100, "a")
hold(1000, "b")
PY
mempy=$!
for _ in $(seq 1 300); do [ -s "$T/mem.a" ] && break; sleep 0.1; done
rss_idle100=$(lkd_rss)
touch "$T/mem.a.next"
for _ in $(seq 1 300); do [ -s "$T/mem.b" ] && break; sleep 0.1; done
rss_idle1100=$(lkd_rss)
touch "$T/mem.b.next"; wait "$mempy" 2>/dev/null || true
D1=$(jq -r '.devices[1].cert' "$T/lab.json"); K1=$(jq -r '.devices[1].key' "$T/lab.json")
agent_rss=$( { /usr/bin/time -f '%M' latchkey enroll -q --force --server "https://127.0.0.1:$PORT" \
    --idevid "$D1" --idevid-key "$K1" --ca "$T/reg/domain-ca.pem" --out "$T/agentmem" ; } 2>&1 | tail -1)
stop_registrar
echo "  latchkeyd RSS (all processes) idle ${rss_idle0} KiB, with $(cat "$T/mem.a" 2>/dev/null || echo 0) idle TLS connections ${rss_idle100} KiB, with $(cat "$T/mem.b" 2>/dev/null || echo 0) ${rss_idle1100} KiB; agent peak ${agent_rss} KiB"

# The other parts' figures, each from its own script (bounded; root-only ones skip);
# BENCH_ONLY=enroll leaves them out (while working on the enrollment path).
onboard_out= revoke_out= keacls_out= mdns_out= kea_out= pg_out= hsm_out= tpm_out=
part() {	# part VAR SCRIPT PATTERN DESCRIPTION: the script's figure lines into VAR
	local out
	echo "bench: $4"
	out=$(B=$B "tests/bench/$2" 2>&1 | grep -E "$3" || true)
	echo "$out"
	printf -v "$1" '%s' "$out"
}
if [ "${BENCH_ONLY:-}" != enroll ]; then
	part pg_out pg.sh '^pg_' "the PostgreSQL registry against SQLite, one and two instances"
	part hsm_out hsm.sh '^hsm_' "the domain CA key in SoftHSM2 against a file key"
	part revoke_out revoke.sh '^(revoke_|crl100k_)' "revocation propagation and the 100k CRL"
	part keacls_out kea_revoke.sh '^revoke_kea_class_ms' \
	    "revocation to the Kea class (namespaces, kea-dhcp4 + hook, real DISCOVERs)"
	part mdns_out mdns.sh '^mdns_' "mDNS discovery latency (namespaces, real avahi-daemon)"
	part kea_out kea.sh '^kea_' "Kea hook (perfdhcp, namespaces)"
	part onboard_out onboard.sh '^onboard_' "zero-touch onboarding, DHCP ACK to BOUND"
	part tpm_out tpm.sh '^tpm_' "the agent's enrollment with swtpm keys against file keys"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# fsync_ms: the median of 50 fsyncs of a 4 KiB write in the bench's directory
fsync_ms() {
	python3 - "$T/fsync.probe" <<'PY'
import os, sys, time
f = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
ts = []
for _ in range(50):
    os.write(f, b"x" * 4096)
    t = time.perf_counter(); os.fsync(f); ts.append(time.perf_counter() - t)
os.close(f); os.unlink(sys.argv[1])
ts.sort(); print("%.2f" % (ts[25] * 1000))
PY
}
# stat KEY FIELD [ROUNDS]: the field of every round's result for KEY, one per line
stat() { local r; for r in $(seq 1 "${3:-$ROUNDS}"); do echo "${res[$1,$r]}" | field "$2"; done; }
pratio() {	# per-round ratio of two keys' rates, one per line
	local r; for r in $(seq 1 "$ROUNDS"); do
		ratio "$(echo "${res[$1,$r]}" | field rate)" "$(echo "${res[$2,$r]}" | field rate)"; echo
	done
}
together() {	# together KEY ROUND: latchkeyd's and the clients' CPU per enrollment, summed
	awk -v a="$(echo "${res[$1,$2]}" | field srv_ms)" -v b="$(echo "${res[$1,$2]}" | field cpu_ms)" \
	    'BEGIN { printf "%.3f\n", a + b }'
}
cpurow() {	# cpurow LABEL KEY: where an enrollment's CPU went in KEY's runs
	local r
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(stat "$2" srv_ms | median)" \
	    "$(stat "$2" cpu_ms | median)" \
	    "$(for r in $(seq 1 "$ROUNDS"); do together "$2" "$r"; done | median)" \
	    "$(stat ceil cpu_ms | median)" \
	    "$(for r in $(seq 1 "$ROUNDS"); do
		ratio "$(echo "${res[ceil,$r]}" | field cpu_ms)" "$(together "$2" "$r")"; echo
	    done | median)" \
	    "$(stat "$2" busy | median)" "$(pratio "$2" ceil | median)"
}
row() {	# row LABEL KEY
	printf '| %s | %s | %s–%s | %s | %s | %s | %s |\n' "$1" "$(stat "$2" rate | median)" \
	    "$(stat "$2" rate | sort -g | head -1)" "$(stat "$2" rate | sort -g | tail -1)" \
	    "$(stat "$2" p50_ms | median)" "$(stat "$2" p99_ms | median)" \
	    "$(stat "$2" errors | awk '{s += $1} END {print s + 0}')" \
	    "$(if [ "$2" = ceil ]; then echo 1.00; else pratio "$2" ceil | median; fi)"
}
{
	echo "# latchkey benchmarks"
	echo
	echo "Generated by \`make bench\` (tests/bench/run.sh); do not edit. Regenerate with"
	echo "\`make bench\` (BENCH_SECONDS=$SECS per run, BENCH_ROUNDS=$ROUNDS rounds)."
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1)"
	echo "- $(openssl version), $(uname -sr)"
	echo
	echo "## Enrollment throughput"
	echo
	echo "A full enrollment: new TCP + TLS 1.3 handshake with the device's P-256 IDevID (the"
	echo "client checks the registrar's certificate), a CSR bound to that connection"
	echo "(tls-exporter), POST simpleenroll, IDevID chain + claim check, CSR check, LDevID signed"
	echo "by the signer process, binding + certificate + audit entry committed to SQLite before"
	echo "the answer. Clients run on the same 2 cores."
	echo "The ceiling is the same cryptography in-process with plain OpenSSL, 2 threads, no HTTP,"
	echo "no DB: both handshake sides over memory BIOs (the client checks the registrar's"
	echo "certificate against the domain CA, the server the IDevID's signature), the CSR made and"
	echo "checked, the LDevID signed."
	echo "The machine's speed drifts between runs, so the runs are interleaved in $ROUNDS rounds,"
	echo "each with its own ceiling run: rates are medians (and ranges) over the rounds, ratios"
	echo "the median of each round's rate over that round's ceiling."
	echo
	echo "| run | enrollments/s (median) | range | p50 ms | p99 ms | errors | ratio to ceiling |"
	echo "|---|---|---|---|---|---|---|"
	row "in-process ceiling (2 threads)" ceil
	row "latchkeyd, 1 client, sync=full" full1
	row "latchkeyd, 8 clients, sync=full" full8
	row "latchkeyd, 64 clients, sync=full" full64
	row "latchkeyd, 1 client, sync=normal" normal1
	row "latchkeyd, 8 clients, sync=normal" normal8
	row "latchkeyd, 64 clients, sync=normal" normal64
	echo
	echo "Durability: synchronous=full makes every answered enrollment survive power loss; the"
	echo "worker's committer thread commits the enrollments issued meanwhile together, one sync"
	echo "each batch. With synchronous=normal a commit syncs nothing and the worker commits in"
	echo "its event loop, the enrollments one loop pass finished together. Both, all runs:"
	echo "${gc:-no group commit figures}."
	echo "Cost of full over normal (median of the rounds' full/normal): 64 clients $(pratio full64 normal64 | median), 8 clients $(pratio full8 normal8 | median)."
	echo "One client's p50 latency over the ceiling's p50 (goal <= 1.3): sync=full $(ratio "$(stat full1 p50_ms | median)" "$(stat ceil p50_ms | median)"), sync=normal $(ratio "$(stat normal1 p50_ms | median)" "$(stat ceil p50_ms | median)") (sync=full waits for one fsync per commit: $(fsync_ms) ms median on this disk)."
	echo
	echo "Where the CPU goes (medians over the rounds): one enrollment's CPU time in latchkeyd (all"
	echo "its processes: parent, workers, signers) and in the load generator (bench_enroll, its"
	echo "own getrusage), against the ceiling's (both sides, one process; the 2 cores were"
	echo "$(stat ceil busy | median) % busy in its runs). The rate's ratio to the ceiling is about (ceiling / together)"
	echo "x (busy / the ceiling's busy): what an enrollment costs, then how much of the machine"
	echo "was used."
	echo
	echo "| run | latchkeyd ms | clients ms | together ms | ceiling ms | ceiling / together | busy % | ratio to ceiling |"
	echo "|---|---|---|---|---|---|---|---|"
	cpurow "8 clients, sync=normal" normal8
	cpurow "64 clients, sync=normal" normal64
	cpurow "8 clients, sync=full" full8
	cpurow "64 clients, sync=full" full64
	echo
	echo "## Registry scaling and memory"
	echo
	echo "64 clients, synchronous=full, alternating between the bench's registry and a copy of it"
	echo "with 1,000,000 more bindings (one certificate each), 2 rounds."
	echo
	echo "| run | enrollments/s (median) | range | p50 ms | p99 ms | errors | |"
	echo "|---|---|---|---|---|---|---|"
	ROUNDS=2 row "bench registry" small64 | sed 's/| [^|]* |$/| |/'
	ROUNDS=2 row "with 1,000,000 more bindings" big64 | sed 's/| [^|]* |$/| |/'
	echo
	echo "With 1M bindings / without: $(ratio "$(ROUNDS=2 stat big64 rate | median)" "$(ROUNDS=2 stat small64 rate | median)") (goal >= 0.9)."
	echo
	echo "- latchkeyd RSS, all processes (parent, workers, signers): ${rss_idle0} KiB idle;"
	echo "  ${rss_idle100} KiB holding $(cat "$T/mem.a" 2>/dev/null || echo 0) idle TLS connections (handshake done, no"
	echo "  request), ${rss_idle1100} KiB holding $(cat "$T/mem.b" 2>/dev/null || echo 0): each of the last 1,000 costs"
	echo "  $(awk -v a="$rss_idle100" -v b="$rss_idle1100" 'BEGIN{printf "%.1f", (b-a)/1000}') KiB (goal <= 16). The first 100 cost $(awk -v a="$rss_idle0" -v b="$rss_idle100" 'BEGIN{printf "%.1f", (b-a)/100}') KiB each: they"
	echo "  include each worker's one-time set-up on its first handshakes (OpenSSL's caches)."
	echo "- agent peak RSS for one enrollment (\`/usr/bin/time -f %M latchkey enroll\`): ${agent_rss} KiB."

	echo
	echo "## PostgreSQL registry (tests/bench/pg.sh)"
	echo
	echo "64 clients, registry-sync = normal, interleaved rounds: one latchkeyd on SQLite, one on"
	echo "PostgreSQL (fsync on, Unix socket), two on PostgreSQL. The two instances share one load"
	echo "generator, as the other runs have, its clients alternating between them; the 2 cores"
	echo "are split between them as two hosts would each have their own (workers = 1 each, 2 in"
	echo "all as in the other runs), and a second run gives each its default (a worker per"
	echo "core: 4 on 2 cores). Ratios per round to the SQLite run, medians. CPU per enrollment:"
	echo "latchkeyd's (every instance, all processes), the PostgreSQL server's (postmaster and"
	echo "backends) and the load generator's, medians; with the rate of two instances over one."
	echo "Round trips per enrollment of the one-instance runs:"
	echo "latchkeyd_registry_round_trips_total, counted by latchkeyd (a statement, a prepare or"
	echo "a pipeline's sync each count one; a group commit is one"
	echo "pipeline and its COMMIT); statements from pg_stat_statements beside it."
	echo
	echo '```'
	echo "${pg_out:-not run}"
	echo '```'
	echo
	echo "## CA key in a PKCS#11 token (tests/bench/hsm.sh)"
	echo
	echo "Enrollments/s with the domain CA key in SoftHSM2 (libp11's engine; the signers use"
	echo "the token one process at a time) against the same set-up with a PEM file key;"
	echo "registry-sync = normal, interleaved rounds, ratio = median of each round's"
	echo "token/file rate; hsm_sign_p256 is the key alone (bench_sign: signatures in a loop)."
	echo
	echo '```'
	echo "${hsm_out:-not run}"
	echo '```'
	echo
	echo "## Revocation (tests/bench/revoke.sh)"
	echo
	echo "Propagation from \`latchkeyctl revoke\` returning to: the device's next request refused"
	echo "(\`latchkey status\` exit 3, includes the tool's own start and TLS handshake), OCSP"
	echo "answering revoked (includes openssl's start), the CRL file listing the LDevID, the"
	echo "device's DISCOVER answered from Kea's quarantine pool; and"
	echo "latchkeyd building and serving a CRL of 100,000 revoked LDevIDs (cold), then cached."
	echo
	echo '```'
	echo "${revoke_out:-not run}"
	echo "${keacls_out:-revoke_kea_class_ms not run}"
	echo '```'
	echo
	echo "## mDNS discovery (tests/bench/mdns.sh)"
	echo
	echo "Browse start to first usable resolved answer, \`latchkey discover\` vs \`avahi-browse -rpt -1\`"
	echo "in the same run (two namespaces, real avahi-daemon each; needs root)."
	echo
	echo '```'
	echo "${mdns_out:-not run}"
	echo '```'
	echo
	echo "## Kea hook (tests/bench/kea.sh)"
	echo
	echo "perfdhcp against kea-dhcp4 without the hook, with it (revoked snapshot of 100k devices"
	echo "loaded) and with its options only. First line: instructions Kea executed per DORA"
	echo "under callgrind (deterministic), split into what ran inside our callouts and what Kea"
	echo "spent calling them. Then, at a fixed offered rate in interleaved runs, DORA/s and Kea"
	echo "CPU time per DORA from schedstat (noisy on this shared 2-core machine)."
	echo
	echo '```'
	echo "${kea_out:-not run}"
	echo '```'
	if [ -n "$onboard_out" ]; then
		echo
		echo "## Zero-touch onboarding (tests/bench/onboard.sh)"
		echo
		echo '```'
		echo "$onboard_out"
		echo '```'
	fi
	echo
	echo "## Device keys in a TPM (tests/bench/tpm.sh)"
	echo
	echo "One \`latchkey enroll\` process, start to exit, median of interleaved runs: IDevID key"
	echo "and --key-store tpm in swtpm (tpm2-openssl) against file keys, same registrar."
	echo
	echo '```'
	echo "${tpm_out:-not run}"
	echo '```'
} >"$out"
echo "bench: wrote $out"
cat "$out"

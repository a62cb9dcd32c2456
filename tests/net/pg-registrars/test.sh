#!/bin/bash
# pg-registrars: two latchkeyd registrars on two hosts share one PostgreSQL registry.
#
#   db  (PostgreSQL)  10.205.1.1 and 10.205.2.1: a throwaway server (initdb here, run as
#                     user postgres, trust for the test subnets only)
#   r1  (registrar)   10.205.1.2; latchkeyd with registry = host=10.205.1.1 ... and the
#                     domain CA (one CA key at every registrar: latchkeyd.conf(5))
#   r2  (registrar)   10.205.2.2; the same, registry over 10.205.2.1
#
# Phases: 2,000 enrollments split across the two (bench_enroll, 8 clients at each, at the
# same time) with no error, no duplicate certificate, one binding per device, and an intact
# audit chain (enrolled); a device revoked through r1's registrar host is refused by r2 and
# listed on r2's CRL, each within a second (measured; revoked).
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
. "$LK_TOP/tests/net/lib.sh"

tb_init
tb_require latchkey latchkeyctl latchkeyd ss setpriv curl jq
BENCH=${LK_BIN:-$LK_TOP/build}/bench/bench_enroll
[ -x "$BENCH" ] || tb_fail "$BENCH missing (make all builds it)"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ] || tb_fail "PostgreSQL server binaries missing \
(contrib/install-deps.sh installs postgresql)"
id postgres >/dev/null 2>&1 || tb_fail "no user postgres (the postgresql package makes it)"
N=${LK_PG_ENROLLMENTS:-2000}
D=$TB_DIR/pki
mkdir -p "$D"
PORT=$((20000 + RANDOM % 20000))

tb_ns_add db
tb_ns_add r1
tb_ns_add r2
tb_link db 10.205.1.1/24 r1 10.205.1.2/24
tb_link db 10.205.2.1/24 r2 10.205.2.2/24
tb_check_phase link

# ---- PostgreSQL in db ---------------------------------------------------------------------
PGD=$TB_DIR/pg
mkdir -p "$PGD" && chown postgres: "$PGD"
as_pg() { setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups -- "$@"; }
as_pg "$PGBIN/initdb" -D "$PGD/data" -A trust -U postgres >"$PGD/initdb.log" 2>&1 ||
    tb_fail "initdb failed: $(tail -1 "$PGD/initdb.log")"
echo "host all all 10.205.0.0/16 trust" >>"$PGD/data/pg_hba.conf"
tb_bg db postgres setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups -- \
    "$PGBIN/postgres" -D "$PGD/data" -c listen_addresses=10.205.1.1,10.205.2.1 \
    -c unix_socket_directories="$PGD" -c port=5432 -c max_connections=60 -c fsync=on
tb_wait_for "PostgreSQL accepting connections" "$TB_TIMEOUT" \
    tb_exec db "$PGBIN/pg_isready" -q -h "$PGD" -p 5432
as_pg "$PGBIN/createdb" -h "$PGD" -p 5432 latchkey || tb_fail "createdb failed"
REG1="host=10.205.1.1 port=5432 dbname=latchkey user=postgres"
REG2="host=10.205.2.1 port=5432 dbname=latchkey user=postgres"

# ---- the domain, one configuration per registrar -------------------------------------------
latchkeyctl lab-pki --out "$D/lab" --devices 200 --json >"$D/lab.json" 2>"$D/labpki.log" ||
    tb_fail "lab-pki failed: $(tail -1 "$D/labpki.log")"
latchkeyctl init --domain example.test --dir "$D/reg" \
    --manufacturer-ca "$D/lab/manufacturer-ca.pem" --listen "127.0.0.1:$PORT" \
    >"$D/init.log" 2>&1 || tb_fail "init failed: $(tail -1 "$D/init.log")"
for r in r1 r2; do
	mkdir -p "$D/$r"
	# the workers' user writes the CRL file here (as init makes its directory)
	chgrp latchkey "$D/$r" && chmod 1770 "$D/$r"
	# init's relative paths made absolute; the registry is PostgreSQL, reached from $r
	sed -E "s#^(ca-cert|ca-key|tls-cert|tls-key|manufacturer-ca) = ([^/])#\1 = $D/reg/\2#;
	    /^registry[[:space:]]*=/d" "$D/reg/latchkeyd.conf" >"$D/$r/latchkeyd.conf"
done
echo "registry = $REG1" >>"$D/r1/latchkeyd.conf"
echo "registry = $REG2" >>"$D/r2/latchkeyd.conf"
# the schema is made by the first read-write open; then every device is claimed
tb_exec r1 latchkeyctl --db "$REG1" claim --file "$D/lab/serials.txt" >"$D/claim.log" 2>&1 ||
    tb_fail "claim failed: $(tail -1 "$D/claim.log")"
tb_bg r1 latchkeyd latchkeyd -d -f "$D/r1/latchkeyd.conf"
tb_bg r2 latchkeyd latchkeyd -d -f "$D/r2/latchkeyd.conf"
for r in r1 r2; do
	tb_wait_for "$r latchkeyd listening" "$TB_TIMEOUT" \
	    tb_exec "$r" bash -c "ss -ltn | grep -q '127.0.0.1:$PORT'"
done

# ---- 2,000 enrollments across both --------------------------------------------------------
jq -r '.devices[] | "\(.serial) \(.cert) \(.key)"' "$D/lab.json" >"$D/devs.all"
head -100 "$D/devs.all" >"$D/devs.r1"
tail -n +101 "$D/devs.all" >"$D/devs.r2"
t0=$(date +%s%N)
tb_bg r1 load env ASAN_OPTIONS=detect_leaks=0 "$BENCH" load 127.0.0.1 "$PORT" 120 8 "$D/reg/domain-ca.pem" "$D/devs.r1" \
    $((N / 2))
tb_bg r2 load env ASAN_OPTIONS=detect_leaks=0 "$BENCH" load 127.0.0.1 "$PORT" 120 8 "$D/reg/domain-ca.pem" "$D/devs.r2" \
    $((N - N / 2))
for r in r1 r2; do
	pid=$(tb_pid "$r" load)
	for _ in $(seq 1 1500); do tb_alive "$r" load || break; sleep 0.1; done
	wait "$pid" 2>/dev/null
done
t1=$(date +%s%N)
echo "enrollments: r1: $(cat "$TB_DIR/r1/load.log" | tail -1)"
echo "             r2: $(cat "$TB_DIR/r2/load.log" | tail -1)"
echo "             $N in $(( (t1 - t0) / 1000000 )) ms across both"
sql() { tb_exec db "$PGBIN/psql" -h "$PGD" -p 5432 -U postgres -d latchkey -Atc "$1"; }
export D PGD PGBIN N REG1 REG2 TB_DIR
tb_check_phase enrolled

# ---- revoked at one, refused at the other -------------------------------------------------
S=$(head -1 "$D/lab/serials.txt")
CERT=$(sql "SELECT cert_serial FROM certificates WHERE device_serial = '$S' ORDER BY rowid DESC LIMIT 1")
enroll_r2() {
	tb_exec r2 latchkey enroll -q --force --server "https://127.0.0.1:$PORT" \
	    --idevid "$D/lab/devices/$S/idevid.pem" --idevid-key "$D/lab/devices/$S/idevid.key" \
	    --ca "$D/reg/domain-ca.pem" --out "$D/dev-$S" >"$D/enroll-r2.out" 2>&1
}
enroll_r2 || tb_fail "the device cannot enroll at r2 before the revocation: $(tail -1 "$D/enroll-r2.out")"
tb_exec r1 latchkeyctl --db "$REG1" revoke "$S" --reason keyCompromise >"$D/revoke.log" 2>&1 ||
    tb_fail "revoke failed: $(tail -1 "$D/revoke.log")"
t0=$(date +%s%N)
refused=""
for _ in $(seq 1 100); do
	if ! enroll_r2; then refused=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
	sleep 0.02
done
t0b=$(date +%s%N)
listed=""
for _ in $(seq 1 200); do
	if tb_exec r2 curl -sf --cacert "$D/reg/domain-ca.pem" \
	    "https://127.0.0.1:$PORT/.well-known/latchkey/crl" | openssl crl -inform DER -noout \
	    -text 2>/dev/null | grep -qi "$CERT"; then
		listed=$(( ($(date +%s%N) - t0) / 1000000 )); break
	fi
	sleep 0.02
done
echo "revoked through r1's host: refused by r2 after ${refused:-never} ms, on r2's CRL after ${listed:-never} ms"
echo "${refused:-never} ${listed:-never}" >"$D/revoke.times"
tb_check_phase revoked

tb_done

#!/bin/bash
# tests/bench/revoke.sh: revocation figures for BENCHMARKS.md (called by run.sh).
#  1. propagation: `latchkeyctl revoke` to (a) 403 on the device's next EST request and
#     `latchkey status` saying revoked, (b) OCSP answering revoked, (c) the CRL file listing
#     the LDevID; median and max over N revocations.
#  2. CRL with 100,000 revoked LDevIDs: time for latchkeyd to build and serve it (cold), and
#     a cached fetch, against the registry filled with 100k revoked certificates.
# Output: lines "revoke_<what>_ms median X max Y" and "crl100k_<what>_ms X".
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
export PATH=$top/$B:$PATH
N=${REVOKE_N:-20}
. "$top/tests/bench/lib.sh"
bench_tmp brev
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ms() { echo $(( $(date +%s%N) / 1000000 )); }
start() {
	latchkeyd -d -f "$T/reg/latchkeyd.conf" 2>>"$T/lkd.log" &
	pid=$!
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --cacert "$T/reg/domain-ca.pem" "$URL/.well-known/est/cacerts" && return
		sleep 0.1
	done
	echo "revoke bench: latchkeyd did not start" >&2; exit 1
}
stats() {	# stats NAME < values
	sort -n | awk -v n="$1" '{v[NR]=$1} END{printf "revoke_%s_ms median %d max %d\n", n, v[int((NR+1)/2)], v[NR]}'
}

PORT=$(port); URL=https://127.0.0.1:$PORT
latchkeyctl lab-pki --out "$T/lab" --devices "$N" --json >"$T/lab.json"
latchkeyctl init --domain bench.test --dir "$T/reg" --manufacturer-ca "$T/lab/manufacturer-ca.pem" \
    --listen "127.0.0.1:$PORT" >/dev/null
DB=$T/reg/registry.db
jq -r '.devices[].serial' "$T/lab.json" | latchkeyctl --db "$DB" claim --file - >/dev/null
start
: >"$T/a"; : >"$T/b"; : >"$T/c"
for i in $(seq 0 $((N - 1))); do
	s=$(jq -r ".devices[$i].serial" "$T/lab.json"); c=$(jq -r ".devices[$i].cert" "$T/lab.json")
	k=$(jq -r ".devices[$i].key" "$T/lab.json"); d=$T/dev$i
	latchkey enroll -q --server "$URL" --idevid "$c" --idevid-key "$k" --ca "$T/reg/domain-ca.pem" --out "$d"
	openssl ocsp -issuer "$T/reg/domain-ca.pem" -cert "$d/ldevid.pem" -reqout "$d/ocsp.req" >/dev/null 2>&1
	sn=$(openssl x509 -in "$d/ldevid.pem" -noout -serial | cut -d= -f2)
	t0=$(ms)
	latchkeyctl --db "$DB" revoke "$s" --reason superseded >/dev/null
	ta= tb= tc=
	for _ in $(seq 1 300); do
		now=$(ms)
		if [ -z "$ta" ]; then
			rc=0; latchkey status --out "$d" >/dev/null 2>&1 || rc=$?
			if [ "$rc" = 3 ]; then ta=$(( $(ms) - t0 )); fi
		fi
		if [ -z "$tb" ]; then
			curl -s --cacert "$T/reg/domain-ca.pem" -H 'Content-Type: application/ocsp-request' \
			    --data-binary @"$d/ocsp.req" -o "$d/ocsp.resp" "$URL/.well-known/latchkey/ocsp"
			if openssl ocsp -respin "$d/ocsp.resp" -issuer "$T/reg/domain-ca.pem" \
			    -cert "$d/ldevid.pem" -no_nonce -CAfile "$T/reg/domain-ca.pem" 2>/dev/null |
			    grep -q ': revoked'; then tb=$(( $(ms) - t0 )); fi
		fi
		if [ -z "$tc" ] && openssl crl -inform DER -in "$T/reg/crl.der" -noout -text 2>/dev/null |
		    grep -q "$sn"; then tc=$(( $(ms) - t0 )); fi
		if [ -n "$ta" ] && [ -n "$tb" ] && [ -n "$tc" ]; then break; fi
		if [ $(( $(ms) - now )) -lt 10 ]; then sleep 0.01; fi
	done
	echo "${ta:-99999}" >>"$T/a"; echo "${tb:-99999}" >>"$T/b"; echo "${tc:-99999}" >>"$T/c"
done
stats status_403 <"$T/a"
stats ocsp <"$T/b"
stats crl_file <"$T/c"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

# 100,000 revoked LDevIDs straight into the registry, then the CRL from latchkeyd.
sqlite3 "$DB" <<SQL >/dev/null
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO bindings(serial, domain, idevid_fp, authorized_by, state, created_at, revoked_at, reason, revoked_by)
SELECT printf('BENCH%06d', i), 'bench.test', '', 'claim', 'revoked', 1700000000, 1700000000 + i, 'superseded', 'bench' FROM n;
INSERT INTO certificates(cert_serial, binding_id, device_serial, not_before, not_after, issued_at, der, revoked_at, reason)
SELECT printf('%032X', 1000000 + b.id), b.id, b.serial, 1700000000, 1800000000, 1700000000, x'00', b.revoked_at, b.reason
FROM bindings b WHERE b.serial LIKE 'BENCH%';
COMMIT;
SQL
echo "crl-file = none" >>"$T/reg/latchkeyd.conf"
echo "workers = 1" >>"$T/reg/latchkeyd.conf"
start
cold=$(curl -s --cacert "$T/reg/domain-ca.pem" -o "$T/crl.der" -w '%{time_total}' "$URL/.well-known/latchkey/crl")
warm=$(curl -s --cacert "$T/reg/domain-ca.pem" -o /dev/null -w '%{time_total}' "$URL/.well-known/latchkey/crl")
cnt=$(openssl crl -inform DER -in "$T/crl.der" -noout -text | grep -c 'Serial Number:' || true)
echo "crl100k_cold_ms $(awk -v t="$cold" 'BEGIN{printf "%d", t*1000}') entries $cnt bytes $(stat -c %s "$T/crl.der")"
echo "crl100k_cached_ms $(awk -v t="$warm" 'BEGIN{printf "%d", t*1000}')"

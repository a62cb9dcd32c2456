#!/bin/bash
# tests/bench/hsm.sh: enrollments per second with the domain CA key in a PKCS#11 token
# (SoftHSM2 through libp11's engine, certs/keyref.h) against the same CA with a PEM file
# key, in the same run (called by run.sh; issue #19).
# Two domains from one lab, one latchkeyd each (default workers, registry-sync = normal so
# the signing, not the disk, is what differs); interleaved rounds of a fixed time each,
# `bench_enroll load` with 1 and 8 clients, and the key alone (`bench_sign`: ECDSA P-256
# signatures in a loop, one process, under keyref_lock as the signer takes it); the medians
# and the median of each round's token/file ratio.
# Output: lines "hsm_sign_p256 file R1/s softhsm R2/s ratio X (...)" and
# "hsm_enroll_<n>clients file R1/s softhsm R2/s ratio X (median of K rounds ...)".
# Skips (exit 0, one line saying so) without softhsm2 or libengine-pkcs11-openssl.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
export PATH=$top/$B:$top/$B/bench:$PATH
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
. "$top/tests/tools/softhsm.sh"
if ! softhsm_available; then
	echo "hsm_enroll skipped: softhsm2 or libengine-pkcs11-openssl not installed"
	exit 0
fi
. "$top/tests/bench/lib.sh"
bench_tmp bhsm
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

softhsm_token "$T/hsm" bench >/dev/null
URI=$(softhsm_uri "$T/hsm" bench domain-ca)
latchkeyctl lab-pki --out "$T/lab" --devices 32 --json -q >"$T/lab.json"
jq -r '.devices[].serial' "$T/lab.json" >"$T/serials"
jq -r '.devices[] | "\(.serial) \(.cert) \(.key)"' "$T/lab.json" >"$T/devs"
declare -A P
for k in file token; do
	P[$k]=$(port)
	extra=()
	[ "$k" = token ] && extra=(--ca-key "$URI")
	latchkeyctl init --domain bench.test --dir "$T/$k" --manufacturer-ca \
	    "$T/lab/manufacturer-ca.pem" --listen "127.0.0.1:${P[$k]}" "${extra[@]}" >/dev/null
	echo "registry-sync = normal" >>"$T/$k/latchkeyd.conf"
	latchkeyctl --db "$T/$k/registry.db" claim --file "$T/serials" >/dev/null
done
softhsm_give "$T/hsm" latchkey-signer

start() {	# start file|token
	latchkeyd -d -f "$T/$1/latchkeyd.conf" 2>>"$T/lkd-$1.log" &
	pid=$!
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --cacert "$T/$1/domain-ca.pem" \
		    "https://127.0.0.1:${P[$1]}/.well-known/est/cacerts" && return
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "hsm bench: latchkeyd ($1) did not start" >&2; cat "$T/lkd-$1.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
load() { bench_enroll load 127.0.0.1 "${P[$1]}" "$SECS" "$2" "$T/$1/domain-ca.pem" "$T/devs"; }

declare -A res
ref_file=$T/file/domain-ca.key
ref_token=$URI
for r in $(seq 1 "$ROUNDS"); do
	# the key alone: one process signing in a loop (bench_sign), file then token
	res[signfile,$r]=$(bench_sign 2 "$ref_file")
	res[signtoken,$r]=$(bench_sign 2 "$ref_token")
	echo "  round $r: signatures: file ${res[signfile,$r]}; token ${res[signtoken,$r]}" >&2
	for k in file token; do
		start "$k"
		for c in 1 8; do
			res[$k$c,$r]=$(load "$k" "$c")
			echo "  round $r: $k key, $c clients: ${res[$k$c,$r]}" >&2
		done
		stop
	done
done
f=$(for r in $(seq 1 "$ROUNDS"); do echo "${res[signfile,$r]}" | field rate; done | median)
t=$(for r in $(seq 1 "$ROUNDS"); do echo "${res[signtoken,$r]}" | field rate; done | median)
q=$(for r in $(seq 1 "$ROUNDS"); do
	awk -v a="$(echo "${res[signtoken,$r]}" | field rate)" \
	    -v b="$(echo "${res[signfile,$r]}" | field rate)" 'BEGIN{if (b > 0) printf "%.2f\n", a / b}'
done | median)
echo "hsm_sign_p256 file ${f}/s softhsm ${t}/s ratio $q (ECDSA P-256 signatures, one process, median of $ROUNDS rounds, 2s each)"
for c in 1 8; do
	f=$(for r in $(seq 1 "$ROUNDS"); do echo "${res[file$c,$r]}" | field rate; done | median)
	t=$(for r in $(seq 1 "$ROUNDS"); do echo "${res[token$c,$r]}" | field rate; done | median)
	q=$(for r in $(seq 1 "$ROUNDS"); do
		awk -v a="$(echo "${res[token$c,$r]}" | field rate)" \
		    -v b="$(echo "${res[file$c,$r]}" | field rate)" 'BEGIN{if (b > 0) printf "%.2f\n", a / b}'
	done | median)
	e=$(for r in $(seq 1 "$ROUNDS"); do echo "${res[token$c,$r]}" | field errors; done |
	    awk '{s += $1} END {print s + 0}')
	echo "hsm_enroll_${c}clients file ${f}/s softhsm ${t}/s ratio $q (median of $ROUNDS rounds, ${SECS}s each; softhsm errors $e)"
done

#!/bin/bash
# tests/bench/tpm.sh: the agent's enrollment time with its keys in a software TPM (swtpm,
# tpm2-openssl; IDevID key and --key-store tpm) against file keys, same registrar, same
# run, interleaved rounds (called by run.sh). Each figure is one `latchkey enroll` process,
# start to exit (--ca path). Output: "tpm_enroll_ms file MEDIAN tpm MEDIAN ratio R n N".
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
export PATH=$top/$B:$PATH TSS2_LOG=all+NONE
N=${TPM_BENCH_N:-10}
command -v swtpm >/dev/null || { echo "tpm bench: swtpm not installed"; exit 0; }
. "$top/tests/bench/lib.sh"
bench_tmp btpm
pid=
. "$top/tests/tools/swtpm.sh"
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
	swtpm_stop_all
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ns() { date +%s%N; }

swtpm_start "$T/tpm" >/dev/null || { echo "tpm bench: swtpm did not start"; exit 0; }
PORT=$(port)
latchkeyctl lab-pki --out "$T/lab" --devices "$N" --tpm "$SWTPM_TCTI" -q --json >"$T/tpm.json"
latchkeyctl lab-pki --out "$T/lab" --add "$N" -q --json >"$T/all.json"
latchkeyctl init --domain bench.test --dir "$T/reg" --manufacturer-ca "$T/lab/manufacturer-ca.pem" \
    --listen "127.0.0.1:$PORT" >/dev/null
jq -r '.devices[].serial' "$T/all.json" | latchkeyctl --db "$T/reg/registry.db" claim --file /dev/stdin >/dev/null
latchkeyd -d -f "$T/reg/latchkeyd.conf" 2>>"$T/lkd.log" &
pid=$!
for _ in $(seq 1 100); do
	curl -s -o /dev/null --cacert "$T/reg/domain-ca.pem" "https://127.0.0.1:$PORT/.well-known/est/cacerts" && break
	sleep 0.1
done
: >"$T/file.ms"; : >"$T/tpm.ms"
for i in $(seq 0 $((N - 1))); do
	for kind in file tpm; do
		if [ "$kind" = tpm ]; then j=$i; extra=(--key-store tpm --tpm "$SWTPM_TCTI")
		else j=$((N + i)); extra=(--key-store file); fi
		c=$(jq -r ".devices[$j].cert" "$T/all.json"); k=$(jq -r ".devices[$j].key" "$T/all.json")
		t0=$(ns)
		latchkey enroll -q --server "https://127.0.0.1:$PORT" --idevid "$c" --idevid-key "$k" \
		    --ca "$T/reg/domain-ca.pem" --out "$T/out-$kind-$i" "${extra[@]}" ||
		    { echo "tpm bench: $kind enroll failed"; exit 1; }
		echo $(( ($(ns) - t0) / 1000 )) >>"$T/$kind.ms"
	done
done
f=$(median <"$T/file.ms"); t=$(median <"$T/tpm.ms")
awk -v f="$f" -v t="$t" -v n="$N" 'BEGIN {printf "tpm_enroll_ms file %.1f tpm %.1f ratio %.2f n %d\n", f / 1000, t / 1000, t / f, n}'

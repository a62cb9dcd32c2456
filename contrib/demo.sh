#!/bin/sh
# demo.sh: the quick tour of README.md, run for real on 127.0.0.1 (make demo).
# Makes a lab manufacturer PKI, an owner domain, claims a device, starts latchkeyd, enrolls
# the device with `latchkey enroll`, lists the binding and verifies the LDevID with openssl.
# Everything lands in ./demo (removed first); latchkeyd is stopped by PID at the end.
set -eu
B=${B:-build}
BIN=$(cd "$B" && pwd)
PATH=$BIN:$PATH
D=${DEMO_DIR:-demo}
PORT=${DEMO_PORT:-8443}
if ss -Htln "sport = :$PORT" 2>/dev/null | grep -q .; then
	PORT=$((20000 + $(od -An -tu2 -N2 /dev/urandom | tr -d ' ') % 40000))
fi
rm -rf "$D"
mkdir -p "$D"
D=$(cd "$D" && pwd)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true; }
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step latchkeyctl lab-pki --out "$D/lab" --devices 3
SERIAL=$(ls "$D/lab/devices" | head -1)
step latchkeyctl init --domain example.test --dir "$D/reg" \
    --manufacturer-ca "$D/lab/manufacturer-ca.pem" --listen "127.0.0.1:$PORT"
step latchkeyctl --db "$D/reg/registry.db" claim "$SERIAL"
printf '\n\033[1m$ latchkeyd -d -f %s &\033[0m\n' "$D/reg/latchkeyd.conf"
latchkeyd -d -f "$D/reg/latchkeyd.conf" 2>"$D/latchkeyd.log" &
pid=$!
i=0
until curl -s -o /dev/null --cacert "$D/reg/domain-ca.pem" \
    "https://127.0.0.1:$PORT/.well-known/est/cacerts"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		cat "$D/latchkeyd.log"; echo "demo: latchkeyd did not start" >&2; exit 1
	fi
	sleep 0.1
done
step latchkey enroll --server "https://127.0.0.1:$PORT" \
    --idevid "$D/lab/devices/$SERIAL/idevid.pem" --idevid-key "$D/lab/devices/$SERIAL/idevid.key" \
    --ca "$D/reg/domain-ca.pem" --out "$D/dev1"
step latchkeyctl --db "$D/reg/registry.db" list
step openssl verify -CAfile "$D/reg/domain-ca.pem" "$D/dev1/ldevid.pem"
step openssl x509 -in "$D/dev1/ldevid.pem" -noout -subject -issuer -enddate -ext subjectAltName,extendedKeyUsage
step latchkeyctl --db "$D/reg/registry.db" audit
printf '\nlatchkeyd log:\n'; cat "$D/latchkeyd.log"
printf '\ndemo: device %s enrolled; files in %s\n' "$SERIAL" "$D"

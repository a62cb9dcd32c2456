#!/bin/bash
# Smaller BRSKI trust-model rows, each driven from outside on loopback:
#   - audit details are JSON built by a JSON library: a MASA URL with a quote and a
#     backslash still gives valid JSON naming it (registrar audit, voucher and 503 rows);
#   - the MASA refuses a prior-signed-voucher-request without proximity-registrar-cert
#     (RFC 8995 §5.5);
#   - MASA unreachable: the pledge gets a generic 503 body, the log keeps libcurl's words;
#   - a NUL byte in a request header is a 400 (RFC 9110 §5.5), the request is not served.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }

MASA_PORT=$(it_free_port)
MASA_URL=https://127.0.0.1:$MASA_PORT
# No id-pe-masa-url in these IDevIDs: the registrar uses its masa-url.
latchkeyctl lab-pki --out "$T/lab" --devices 3 --json >"$T/lab.json" ||
    { echo "lab-pki failed"; exit 1; }
for i in 0 1 2; do eval "S$i=\$(it_serial $i); D$i=\$(it_dev $i)"; done
bk_masa_start || exit 1
# userinfo the MASA ignores, with a quote and a backslash in it
ODD_URL='https://q"u\o@127.0.0.1:'$MASA_PORT
it_registrar "masa-url = $ODD_URL" "masa-timeout = 3" "masa-retry-after = 1" "workers = 1" ||
    exit 1
MDB=$T/masa/masa.db
msql() { sqlite3 -readonly "$MDB" "$1"; }
latchkeyctl masa authorize --serial "$S0" --serial "$S1" --serial "$S2" \
    --domain-ca "$T/reg/domain-ca.pem" --masa-db "$MDB" >/dev/null ||
    { echo "masa authorize failed"; exit 1; }
for s in "$S0" "$S1" "$S2"; do latchkeyctl --db "$DB" claim "$s" >/dev/null; done

# ---- audit details are JSON ------------------------------------------------------------
latchkey enroll -q --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --out "$T/dev0" >"$T/e0.out" 2>&1
check "voucher through the odd MASA URL" test "$(sql "SELECT count(*) FROM audit WHERE action='voucher' AND subject='$S0'")" = 1
sql "SELECT details FROM audit WHERE action='voucher' AND subject='$S0'" >"$T/d0.json"
cat "$T/d0.json"
check "voucher audit details: valid JSON" jq -e . "$T/d0.json"
check "voucher audit details: the MASA URL, quote and backslash intact" \
    test "$(jq -r .masa "$T/d0.json" 2>/dev/null)" = "$ODD_URL"
check "every registrar audit row's details is JSON or empty" test \
    "$(sql "SELECT count(*) FROM audit WHERE details IS NOT NULL AND details <> '' AND json_valid(details) = 0")" = 0
check "every MASA audit row's details is JSON or empty" test \
    "$(msql "SELECT count(*) FROM audit WHERE details IS NOT NULL AND details <> '' AND json_valid(details) = 0")" = 0

# ---- the MASA wants proximity-registrar-cert in the pledge's request -----------------------
bk_pledge_vr() {	# SERIAL NONCE WITH_PROXIMITY DEV OUT
	local prox=""
	[ "$3" = 1 ] && prox=",\"proximity-registrar-cert\":\"$(openssl x509 -in "$T/reg/registrar.pem" -outform DER | base64 -w0)\""
	printf '{"ietf-voucher-request:voucher":{"created-on":"%s","assertion":"proximity","serial-number":"%s","nonce":"%s"%s}}' \
	    "$(bk_now)" "$1" "$2" "$prox" >"$5.json"
	openssl cms -sign -in "$5.json" -signer "$4/idevid.pem" -inkey "$4/idevid.key" \
	    -certfile "$T/lab/manufacturer-ica.pem" -econtent_type "$VOUCHER_OID" -nodetach -binary \
	    -outform DER -out "$5"
}
# table: name, proximity in the pledge's request, expected status
while read -r name prox want; do
	bk_pledge_vr "$S1" "n-$name" "$prox" "$D1" "$T/pvr-$name.cms"
	bk_rvr "$S1" "n-$name" "$T/reg/registrar.pem" "$T/reg/registrar.key" "$T/rvr-$name.cms" \
	    "$T/pvr-$name.cms"
	bk_post_masa "$T/rvr-$name.cms" "$T/reg/registrar.pem" "$T/reg/registrar.key" \
	    requestvoucher >"$T/m-$name.out"
	check "MASA, pledge request $name: $want" test "$(head -1 "$T/m-$name.out")" = "$want"
done <<'EOT'
without-proximity 0 403
with-proximity 1 200
EOT
check "MASA, without proximity: the reason says so" \
    grep -q "no proximity-registrar-cert" "$T/m-without-proximity.out"
check "MASA, without proximity: audited" test \
    "$(msql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND subject='$S1' AND reason LIKE '%proximity-registrar-cert%'")" = 1

# ---- MASA unreachable: a generic answer ------------------------------------------------
it_stop_registrar
CLOSED=$(it_free_port)
DEAD_URL='https://q"u\o@127.0.0.1:'$CLOSED
grep -v '^masa-url = ' "$T/reg/latchkeyd.conf" >"$T/conf.new"
printf 'masa-url = %s\n' "$DEAD_URL" >>"$T/conf.new"
mv "$T/conf.new" "$T/reg/latchkeyd.conf"
it_registrar || exit 1
bk_pledge_vr "$S2" n-dead 1 "$D2" "$T/pvr-dead.cms"
bk_post_reg "$T/pvr-dead.cms" "$D2/idevid.pem" "$D2/idevid.key" requestvoucher "$VOUCHER_CT" \
    "" "$T/h-dead.out" >"$T/p-dead.out"
cat "$T/p-dead.out"
check "MASA down: 503" test "$(head -1 "$T/p-dead.out")" = 503
check "MASA down: Retry-After" grep -qi "^retry-after: 1" "$T/h-dead.out"
check "MASA down: the body is generic" test "$(tail -n +2 "$T/p-dead.out")" = "MASA unreachable; retry later"
check "MASA down: no libcurl text to the pledge" sh -c "! grep -Eqi 'connect|curl|port|127\.0\.0\.1' '$T/p-dead.out'"
check "MASA down: the log keeps the detail" wait_until 5 grep -Eq "Failed to connect|Couldn't connect" "$T/latchkeyd.log"
sql "SELECT details FROM audit WHERE action='voucher-masa-unavailable' AND subject='$S2'" >"$T/d2.json"
cat "$T/d2.json"
check "MASA down: audit details valid JSON with the URL and the error" \
    test "$(jq -r '.masa + "|" + (.error | length > 0 | tostring)' "$T/d2.json" 2>/dev/null)" = "$DEAD_URL|true"

# ---- NUL in a header ---------------------------------------------------------------------
# nul.py CA PORT: one request per table row over its own TLS connection; prints
# "NAME STATUS" for each (STATUS 0 when the server closed without an answer).
cat >"$T/nul.py" <<'EOP'
import socket, ssl, sys
ca, port = sys.argv[1], int(sys.argv[2])
GET = b"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
rows = [
    ("clean", GET + b"X-Test: abc\r\n\r\n"),
    ("nul-in-value", GET + b"X-Test: a\x00b\r\n\r\n"),
    ("nul-at-value-end", GET + b"X-Test: abc\x00\r\n\r\n"),
    ("nul-line", GET + b"\x00X-Smuggled: 1\r\n\r\n"),
    ("nul-in-name", GET + b"X-T\x00est: abc\r\n\r\n"),
    ("clean-after", GET + b"X-Test: abc\r\n\r\n"),
]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
for name, req in rows:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    t.sendall(req)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = t.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ssl.SSLError, ConnectionError):
        pass
    parts = data.split(b" ", 2)
    print(name, int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0)
    t.close()
EOP
python3 "$T/nul.py" "$T/reg/domain-ca.pem" "$PORT" >"$T/nul.out" 2>&1
cat "$T/nul.out"
while read -r name want; do
	check "header $name: $want" test "$(awk -v n="$name" '$1 == n {print $2}' "$T/nul.out")" = "$want"
done <<'EOT'
clean 200
nul-in-value 400
nul-at-value-end 400
nul-line 400
nul-in-name 400
clean-after 200
EOT

check "registrar audit chain verifies" latchkeyctl --db "$DB" audit --verify
check "latchkeyd still running" kill -0 "$LKD_PID"
it_done

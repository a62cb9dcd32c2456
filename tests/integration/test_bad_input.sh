#!/bin/bash
# Bad input gets the right HTTP status, a one-line reason, a log line and (for policy
# decisions) an audit entry; the server keeps serving. One table row per case of the
# enrollment issue: 401 403 400 413 415 405 404, idle clients dropped.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 4
S0=$(it_serial 0); D0=$(it_dev 0)	# claimed
S1=$(it_serial 1); D1=$(it_dev 1)	# never claimed
S2=$(it_serial 2); D2=$(it_dev 2)	# claimed, enrolled, then revoked
S3=$(it_serial 3); D3=$(it_dev 3)	# claimed, IDevID revoked by the manufacturer CRL
# A second manufacturer that the registrar does not know.
latchkeyctl lab-pki --out "$T/other" --devices 1 --json >"$T/other.json"
DX=$(dirname "$(jq -r '.devices[0].cert' "$T/other.json")")
SX=$(jq -r '.devices[0].serial' "$T/other.json")

# Manufacturer tooling with the openssl command line: an expired IDevID for device 0's serial
# and a CRL revoking device 3's IDevID, both from the manufacturer's issuing CA.
mkdir -p "$T/mca"; : >"$T/mca/index"; echo 1000 >"$T/mca/serial"
cat >"$T/mca/ca.cnf" <<CNF
[ca]
default_ca = mca
[mca]
database = $T/mca/index
new_certs_dir = $T/mca
serial = $T/mca/serial
certificate = $T/lab/manufacturer-ica.pem
private_key = $T/lab/manufacturer-ica.key
default_md = sha256
default_crl_days = 30
policy = any
unique_subject = no
[any]
serialNumber = optional
commonName = optional
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CNF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/expired.key" \
    -subj "/serialNumber=$S0/CN=$S0" -out "$T/expired.csr" 2>/dev/null
openssl ca -batch -config "$T/mca/ca.cnf" -extensions leaf -startdate 20200101000000Z \
    -enddate 20210101000000Z -in "$T/expired.csr" -out "$T/expired.pem" >/dev/null 2>&1
cat "$T/lab/manufacturer-ica.pem" >>"$T/expired.pem"
openssl x509 -in "$D3/idevid.pem" -out "$T/d3leaf.pem"
{ printf 'R\t99991231235959Z\t%s\t%s\tunknown\t/serialNumber=%s\n' \
    "$(date -u +%y%m%d%H%M%SZ)" "$(openssl x509 -in "$T/d3leaf.pem" -noout -serial | cut -d= -f2)" "$S3"; } >>"$T/mca/index"
openssl ca -batch -config "$T/mca/ca.cnf" -gencrl -out "$T/manufacturer.crl" >/dev/null 2>&1
test -s "$T/manufacturer.crl" || { echo "could not make the CRL"; exit 1; }

it_registrar "idle-timeout = 2" "manufacturer-crl = $T/manufacturer.crl" || exit 1
latchkeyctl --db "$DB" claim "$S0" "$S2" "$S3" >/dev/null

# Device 2 enrolls, then its binding is revoked.
latchkey enroll --server "$URL" --idevid "$D2/idevid.pem" --idevid-key "$D2/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/dev2" >/dev/null 2>&1 || echo "setup: enroll of $S2 failed"
latchkeyctl --db "$DB" revoke "$S2" --reason keyCompromise >/dev/null || echo "setup: revoke failed"

# CSRs made with the openssl command line.
mkcsr() {	# mkcsr OUT SERIAL [keyopts...]: DER CSR
	local out=$1 serial=$2; shift 2
	openssl req -new "$@" -nodes -keyout "$out.key" -subj "/serialNumber=$serial/CN=$serial" \
	    -outform DER -out "$out" 2>/dev/null
}
mkcsr "$T/good.der" "$S0" -newkey ec -pkeyopt ec_paramgen_curve:P-256
mkcsr "$T/other.der" "$S1" -newkey ec -pkeyopt ec_paramgen_curve:P-256
mkcsr "$T/rsa1024.der" "$S0" -newkey rsa:1024
base64 "$T/good.der" >"$T/good.b64"
base64 "$T/other.der" >"$T/mismatch.b64"
base64 "$T/rsa1024.der" >"$T/weak.b64"
# Tamper with the signature: flip a bit in the last byte of the DER.
cp "$T/good.der" "$T/badsig.der"
last=$(( $(stat -c %s "$T/badsig.der") - 1 ))
byte=$(od -An -tu1 -j "$last" -N1 "$T/badsig.der" | tr -d ' ')
printf "$(printf '\\%03o' $(( byte ^ 1 )))" | dd of="$T/badsig.der" bs=1 seek="$last" conv=notrunc 2>/dev/null
base64 "$T/badsig.der" >"$T/badsig.b64"
echo 'this is not base64 !!!' >"$T/notb64.b64"
head -c 300 /dev/urandom | base64 >"$T/notder.b64"
head -c 70000 /dev/zero | base64 -w0 >"$T/big.b64"
# A CSR with a challengePassword that is not this connection's binding.
cat >"$T/cp.cnf" <<CNF
[req]
distinguished_name = dn
attributes = attrs
prompt = no
[dn]
serialNumber = $S0
CN = $S0
[attrs]
challengePassword = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
CNF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/cp.key" \
    -config "$T/cp.cnf" -outform DER 2>/dev/null | base64 >"$T/wrongcb.b64"

E=$URL/.well-known/est
CA=(--cacert "$T/reg/domain-ca.pem")
ID0=(--cert "$D0/idevid.pem" --key "$D0/idevid.key")
PK=(-H "Content-Type:application/pkcs10")
# name | expected status | expected text in the body | curl arguments
rows=(
"no client certificate|401|client certificate|${CA[*]} ${PK[*]} --data-binary @$T/good.b64 $E/simpleenroll"
"unknown manufacturer|403|unknown manufacturer|${CA[*]} --cert $DX/idevid.pem --key $DX/idevid.key ${PK[*]} --data-binary @$T/good.b64 $E/simpleenroll"
"expired IDevID|403|expired|${CA[*]} --cert $T/expired.pem --key $T/expired.key ${PK[*]} --data-binary @$T/good.b64 $E/simpleenroll"
"IDevID on the manufacturer CRL|403|revoked|${CA[*]} --cert $D3/idevid.pem --key $D3/idevid.key ${PK[*]} --data-binary @$T/good.b64 $E/simpleenroll"
"device not claimed|403|not claimed|${CA[*]} --cert $D1/idevid.pem --key $D1/idevid.key ${PK[*]} --data-binary @$T/mismatch.b64 $E/simpleenroll"
"revoked binding|403|revoked: keyCompromise|${CA[*]} --cert $D2/idevid.pem --key $D2/idevid.key ${PK[*]} --data-binary @$T/good.b64 $E/simpleenroll"
"bad base64|400|base64|${CA[*]} ${ID0[*]} ${PK[*]} --data-binary @$T/notb64.b64 $E/simpleenroll"
"bad DER|400|bad CSR|${CA[*]} ${ID0[*]} ${PK[*]} --data-binary @$T/notder.b64 $E/simpleenroll"
"CSR signature invalid|400|signature|${CA[*]} ${ID0[*]} ${PK[*]} --data-binary @$T/badsig.b64 $E/simpleenroll"
"channel binding missing|403|channel binding missing|${CA[*]} ${ID0[*]} ${PK[*]} --data-binary @$T/good.b64 $E/simpleenroll"
"channel binding wrong|403|does not match this TLS connection|${CA[*]} ${ID0[*]} ${PK[*]} --data-binary @$T/wrongcb.b64 $E/simpleenroll"
"weak key|400|RSA|${CA[*]} ${ID0[*]} ${PK[*]} --data-binary @$T/weak.b64 $E/simpleenroll"
"body over 64 KiB|413||${CA[*]} ${ID0[*]} ${PK[*]} --data-binary @$T/big.b64 $E/simpleenroll"
"wrong content type|415|application/pkcs10|${CA[*]} ${ID0[*]} -H Content-Type:text/plain --data-binary @$T/good.b64 $E/simpleenroll"
"wrong method|405|use POST|${CA[*]} ${ID0[*]} $E/simpleenroll"
"wrong method on cacerts|405|use GET|${CA[*]} --data-binary x $E/cacerts"
"unknown path|404|not found|${CA[*]} $URL/.well-known/est/serverkeygen"
"unknown path outside EST|404|not found|${CA[*]} $URL/index.html"
)
for row in "${rows[@]}"; do
	IFS='|' read -r name want text args <<<"$row"
	# shellcheck disable=SC2086
	code=$(curl -sS -o "$T/body" -w '%{http_code}' $args 2>"$T/curlerr")
	if [ "$code" != "$want" ]; then
		fail "$name: HTTP $code, want $want ($(head -c 200 "$T/body") $(cat "$T/curlerr"))"
	elif [ -n "$text" ] && ! grep -qi -- "$text" "$T/body"; then
		fail "$name: body lacks '$text': $(head -c 200 "$T/body")"
	elif [ -n "$text" ] && [ "$(wc -l <"$T/body")" -gt 1 ]; then
		fail "$name: reason is more than one line"
	else
		ok "$name: $code $(head -1 "$T/body")"
	fi
done

# The agent's own code path with a wrong binding (the test client tests/tools/enroll_chanbind;
# the shipped latchkey has no such switch). Device 0 asking for a certificate with device 1's
# serial is what a CSR swap looks like.
"$LK_BIN/tools/enroll_chanbind" bad --server "$URL" --idevid "$D0/idevid.pem" \
    --idevid-key "$D0/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/cbbad" \
    >"$T/cbbad.out" 2>&1
check "agent with a wrong binding: refused 403" grep -q "403.*channel binding" "$T/cbbad.out"
"$LK_BIN/tools/enroll_chanbind" none --server "$URL" --idevid "$D0/idevid.pem" \
    --idevid-key "$D0/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/cbnone" \
    >"$T/cbnone.out" 2>&1
check "agent without a binding: refused 403" grep -q "403.*channel binding" "$T/cbnone.out"
check "the shipped agent has no binding switch" \
    sh -c "! latchkey enroll --help | grep -q channel-binding"
# serial mismatch: optional binding lets a curl CSR with another serial reach the check
it_stop_registrar
it_conf_set "$T/reg/latchkeyd.conf" "channel-binding = optional"
it_registrar || exit 1
code=$(curl -sS -o "$T/body" -w '%{http_code}' "${CA[@]}" "${ID0[@]}" "${PK[@]}" \
    --data-binary @"$T/mismatch.b64" "$E/simpleenroll")
check "serial mismatch: 403" test "$code" = 403
check "serial mismatch: reason" grep -q "does not match" "$T/body"

# Policy decisions are audited and logged with the serial.
for s in "$S1" "$S2"; do
	check "refusal of $s audited" test "$(sql "SELECT count(*) FROM audit WHERE action='enroll-refused' AND subject='$s'")" -ge 1
done
check "channel-binding refusal audited" test "$(sql "SELECT count(*) FROM audit WHERE action='enroll-refused' AND reason LIKE '%channel binding%'")" -ge 2
check "log names the unclaimed serial" grep -q "refused $S1" "$T/latchkeyd.log"
check "log names the expired IDevID's serial" grep -q "refused $S0.*expired" "$T/latchkeyd.log"
check "nothing issued to refused devices" test "$(sql "SELECT count(*) FROM certificates WHERE device_serial IN ('$S1','$SX','$S3')")" = 0

# A client that opens a connection and sends nothing is dropped after idle-timeout (2 s).
start=$(date +%s)
timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat <&3 >/dev/null"
rc=$?
secs=$(( $(date +%s) - start ))
check "silent client dropped by the server (rc $rc after ${secs}s)" test "$rc" != 124

# The server kept serving throughout.
code=$(curl -sS -o /dev/null -w '%{http_code}' "${CA[@]}" "${ID0[@]}" "${PK[@]}" \
    --data-binary @"$T/good.b64" "$E/simpleenroll")
check "still serving: a good enrollment after all that gets 200" test "$code" = 200
check "latchkeyd alive" kill -0 "$LKD_PID"
it_done

#!/bin/bash
# Hostile input (issue 10, "Faults and abuse", on top of the bad-input table of issue 3):
# truncated and garbage TLS, TLS 1.0/1.1 and non-ECDHE attempts, oversized and numerous
# headers, invalid UTF-8 in bodies, paths and headers, odd Content-Length and chunked
# bodies, client certificate chains 20 deep (unknown root; configured root via the ICA key;
# configured root via the root key), a CSR of almost 64 KiB. Every case gets a clean HTTP
# error or a closed connection; afterwards latchkeyd still enrolls a device and its workers
# are the same processes (nothing crashed).
. "$(dirname "$0")/lib.sh"
FAULTS=$(cd "$(dirname "$0")" && pwd)/faults
command -v python3 >/dev/null || { echo "python3 not found"; exit 77; }
it_init
IDLE=3
it_pki 3
S0=$(it_serial 0); D0=$(it_dev 0)	# the good enrollment at the end
S1=$(it_serial 1); D1=$(it_dev 1)	# deep chains and the big CSR
# channel-binding optional: curl-made CSRs reach the checks behind the binding
it_registrar "idle-timeout = $IDLE" "workers = 2" "channel-binding = optional" || exit 1
latchkeyctl --db "$DB" claim "$S0" "$S1" >/dev/null
mapfile -t W0 < <(pgrep -P "$LKD_PID")
echo "workers before: ${W0[*]}"
E=$URL/.well-known/est
CA=(--cacert "$T/reg/domain-ca.pem")
raw() { python3 "$FAULTS/tls_raw.py" --port "$PORT" "$@"; }
j() { jq -r "$1" <<<"$2"; }

# --- TLS -------------------------------------------------------------------------------------
# Truncated ClientHellos (record header only, cut in the middle, one byte short), then the
# client closes. Measured, not assumed: each connection was accepted and the bytes written
# (the helper reports no error), latchkeyd closed its side of every one (no socket of its
# port left in CLOSE-WAIT, i.e. holding a client that has gone), and it still answers.
sent=0
for n in 1 5 40 100 -1; do
	for i in 1 2 3 4 5; do
		r=$(raw --hello-prefix "$n" --wait 0 2>&1)
		[ "$(j .error "$r" 2>/dev/null)" = null ] && sent=$((sent + 1))
	done
done
check "25 truncated ClientHellos: connected and written ($sent/25)" test "$sent" = 25
close_wait() { ss -Htn state close-wait "( sport = :$PORT )" | wc -l; }
no_close_wait() { [ "$(close_wait)" = 0 ]; }
wait_until 2 no_close_wait
check "the truncated ClientHellos: latchkeyd closed every connection within 2 s ($(close_wait) left in CLOSE-WAIT)" \
    no_close_wait
check "after the truncated ClientHellos, latchkeyd answers /cacerts" \
    curl -sf -o /dev/null "${CA[@]}" "$E/cacerts"
r=$(raw --hello-full --wait $((IDLE + 5)))
check "a client silent after its ClientHello is dropped within idle-timeout + 2 s ($(j .elapsed "$r") s)" \
    awk -v c="$(j .closed_by_server "$r")" -v t="$(j .elapsed "$r")" -v i="$IDLE" \
    'BEGIN{exit !(c == "true" && t <= i + 2)}'
head -c 1024 /dev/urandom >"$T/garbage"
r=$(timeout 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat '$T/garbage' >&3; cat <&3 | wc -c")
check "1 KiB of random bytes: the server closes the connection (got $r bytes back)" test -n "$r"
r=$(printf 'GET /.well-known/est/cacerts HTTP/1.0\r\n\r\n' |
    timeout 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat >&3; cat <&3" | head -c 200 | tr -cd '[:print:]')
check "plain HTTP on the TLS port gets no HTTP answer" test "${r#HTTP/}" = "$r"

tls_try() {	# tls_try NAME EXPECT(ok|refused) s_client args...: one handshake
	local name=$1 want=$2 out got
	shift 2
	out=$(timeout 15 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	    -CAfile "$T/reg/domain-ca.pem" "$@" </dev/null 2>&1)
	if grep -q 'New, TLSv1\.[23]' <<<"$out" && ! grep -q 'Cipher is (NONE)' <<<"$out"; then
		got=ok
	else
		got=refused
	fi
	if [ "$got" = "$want" ]; then
		ok "$name: $got ($(grep -m1 -io 'alert [a-z ]*\|New, [A-Za-z0-9.]*' <<<"$out" | head -1))"
	else
		fail "$name: $got, want $want: $(grep -m2 -i 'alert\|error\|Protocol' <<<"$out" | tr '\n' ' ')"
	fi
	LAST_TLS=$out
}
tls_try "TLS 1.0" refused -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
check "TLS 1.0: refused by the server (protocol version alert)" \
    grep -qi 'alert protocol version\|unsupported protocol\|no protocols available' <<<"$LAST_TLS"
tls_try "TLS 1.1" refused -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
check "TLS 1.1: refused by the server (protocol version alert)" \
    grep -qi 'alert protocol version\|unsupported protocol\|no protocols available' <<<"$LAST_TLS"
tls_try "TLS 1.2 with RSA key exchange (no ECDHE)" refused -tls1_2 -cipher 'AES128-GCM-SHA256:AES256-GCM-SHA384'
tls_try "TLS 1.2 with finite-field DHE" refused -tls1_2 -cipher 'DHE-RSA-AES128-GCM-SHA256:DHE-ECDSA-AES128-GCM-SHA256'
tls_try "TLS 1.2 ECDHE (control)" ok -tls1_2
tls_try "TLS 1.3 (control)" ok -tls1_3

# --- HTTP ------------------------------------------------------------------------------------
req() {	# req FILE METHOD PATH [header lines...]: write a request head (no body)
	local f=$1 m=$2 p=$3 h
	shift 3
	{
		printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n' "$m" "$p"
		for h in "$@"; do printf '%s\r\n' "$h"; done
	} >"$f"
}
endhead() { printf '\r\n' >>"$1"; }
# oversized header, one of 9000 bytes
req "$T/h-big" GET /.well-known/est/cacerts "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)"; endhead "$T/h-big"
# 1000 small headers (about 13 KB: over the 8 KiB limit as a whole)
mapfile -t many < <(for i in $(seq 1000 1999); do echo "X-H$i:v"; done)
req "$T/h-1000" GET /.well-known/est/cacerts "${many[@]}"; endhead "$T/h-1000"
# 600 tiny headers (about 5 KB: under the limit)
mapfile -t many < <(for i in $(seq 100 699); do echo "X$i:v"; done)
req "$T/h-600" GET /.well-known/est/cacerts "${many[@]}"; endhead "$T/h-600"
# a 10 KB request line
req "$T/h-uri" GET "/.well-known/est/$(head -c 10000 /dev/zero | tr '\0' a)/cacerts"; endhead "$T/h-uri"
# invalid UTF-8 in a JSON body, in a base64 body, in the path, in a header
printf '{"serial": "\xff\xfe\xc3\x28", "nonce": "\xed\xa0\x80"}' >"$T/bad.json"
req "$T/u-json" POST /.well-known/est/simpleenroll "Content-Type: application/json" \
    "Content-Length: $(stat -c %s "$T/bad.json")"; endhead "$T/u-json"; cat "$T/bad.json" >>"$T/u-json"
printf 'MIIB\xff\xfe\xc3\x28AAAA\n' >"$T/bad.b64"
req "$T/u-b64" POST /.well-known/est/simpleenroll "Content-Type: application/pkcs10" \
    "Content-Length: $(stat -c %s "$T/bad.b64")"; endhead "$T/u-b64"; cat "$T/bad.b64" >>"$T/u-b64"
req "$T/u-path" GET "$(printf '/.well-known/est/\xff\xfe\x1b[31m/cacerts')"; endhead "$T/u-path"
req "$T/u-label" GET "$(printf '/.well-known/est/%%ff%%fe%%1b/cacerts')"; endhead "$T/u-label"
req "$T/u-hdr" POST /.well-known/est/simpleenroll "$(printf 'Content-Type: application/pkcs10\xff\xfe')" \
    "Content-Length: 8"; endhead "$T/u-hdr"; printf 'AAAAAAAA' >>"$T/u-hdr"
# bodies: Content-Length larger than sent; negative; absurd; chunked absurd; chunked too big;
# both Content-Length and chunked
req "$T/b-short" POST /.well-known/est/simpleenroll "Content-Type: application/pkcs10" \
    "Content-Length: 5000"; endhead "$T/b-short"; head -c 100 /dev/zero | tr '\0' A >>"$T/b-short"
req "$T/b-neg" POST /.well-known/est/simpleenroll "Content-Type: application/pkcs10" \
    "Content-Length: -1"; endhead "$T/b-neg"; printf 'AAAA' >>"$T/b-neg"
req "$T/b-huge" POST /.well-known/est/simpleenroll "Content-Type: application/pkcs10" \
    "Content-Length: 99999999999999999999999"; endhead "$T/b-huge"; printf 'AAAA' >>"$T/b-huge"
req "$T/c-huge" POST /.well-known/est/simpleenroll "Content-Type: application/pkcs10" \
    "Transfer-Encoding: chunked"; endhead "$T/c-huge"; printf 'FFFFFFFFFFFFFFFF\r\nAAAA\r\n' >>"$T/c-huge"
req "$T/c-big" POST /.well-known/est/simpleenroll "Content-Type: application/pkcs10" \
    "Transfer-Encoding: chunked"; endhead "$T/c-big"
for i in $(seq 1 20); do printf '1000\r\n%s\r\n' "$(head -c 4096 /dev/zero | tr '\0' A)"; done >>"$T/c-big"
printf '0\r\n\r\n' >>"$T/c-big"
req "$T/c-both" POST /.well-known/est/simpleenroll "Content-Type: application/pkcs10" \
    "Content-Length: 4" "Transfer-Encoding: chunked"; endhead "$T/c-both"
printf '4\r\nAAAA\r\n0\r\n\r\n' >>"$T/c-both"
# 200 pipelined requests in one write
: >"$T/p-200"
for i in $(seq 1 200); do printf 'GET /.well-known/est/csrattrs HTTP/1.1\r\nHost: x\r\n\r\n'; done >>"$T/p-200"
# NUL bytes in a header
printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\0c\r\n\r\n' >"$T/h-nul"

# name | file | client cert (- or 0 for device 0's IDevID) | allowed statuses, "closed" for a
# connection closed without an answer | extra tls_raw options
rows=(
"header of 9000 bytes|h-big|-|400 413 431 closed|"
"1000 small headers (13 KB)|h-1000|-|400 413 431 closed|"
"600 tiny headers (5 KB)|h-600|-|200|"
"request line of 10 KB|h-uri|-|400 404 414 closed|"
"invalid UTF-8 in a JSON body|u-json|0|400 415|"
"invalid UTF-8 in a base64 body|u-b64|0|400|"
"raw invalid UTF-8 and ESC in the path|u-path|-|400 404 closed|"
"percent-encoded invalid UTF-8 label|u-label|-|400 404|"
"invalid UTF-8 in Content-Type|u-hdr|0|400 415|"
"Content-Length 5000, 100 bytes sent|b-short|0|400 408 closed|--until-close --wait $((IDLE + 6))"
"Content-Length -1|b-neg|0|400 411 413 closed|"
"Content-Length 10^23|b-huge|0|400 413 closed|"
"chunk size 2^64-1|c-huge|0|400 413 closed|"
"chunked body of 80 KiB|c-big|0|413 closed|"
"Content-Length and chunked together|c-both|0|400 401 403 closed|"
"200 pipelined requests|p-200|-|200|"
"NUL bytes in a header value|h-nul|-|200 400 closed|"
)
for row in "${rows[@]}"; do
	IFS='|' read -r name file cert want extra <<<"$row"
	args=(--send-file "$T/$file")
	[ "$cert" = 0 ] && args+=(--cert "$D0/idevid.pem" --key "$D0/idevid.key")
	# shellcheck disable=SC2086
	r=$(raw "${args[@]}" $extra 2>&1)
	st=$(j '.status // "closed"' "$r" 2>/dev/null || echo "helper: $r")
	if [ "$st" = closed ] && [ "$(j .closed_by_server "$r" 2>/dev/null)" != true ]; then
		st="no answer, not closed"
	fi
	if [[ " $want " != *" $st "* ]]; then
		fail "$name: $st ($(j .error "$r" 2>/dev/null)), want one of: $want"
	elif [ "$st" != closed ] && [ "$(j .body_utf8 "$r")" != true ]; then
		fail "$name: $st, but the reason is not valid UTF-8"
	else
		ok "$name: $st $(j .body_line "$r") ($(j .elapsed "$r") s)"
	fi
	if [ "$file" = b-short ]; then
		check "Content-Length larger than sent: dropped within idle-timeout + 3 s ($(j .elapsed "$r") s)" \
		    awk -v t="$(j .elapsed "$r")" -v i="$IDLE" 'BEGIN{exit !(t <= i + 3)}'
	fi
done
# Request bytes in log lines (-v logs every request's path) must be escaped: a path with ESC
# sequences would otherwise drive the terminal of whoever reads the log.
check "the log holds no raw ESC byte from a request" test "$(grep -c $'\x1b' "$T/latchkeyd.log")" = 0
check "the log is valid UTF-8" iconv -f UTF-8 -t UTF-8 "$T/latchkeyd.log" -o /dev/null
grep -a $'\x1b' "$T/latchkeyd.log" | head -2 | cat -v | sed 's/^/    log: /'

# --- client certificate chains 20 deep -------------------------------------------------------
# mkca NAME ISSUER ISSUER_KEY: a CA certificate (no path length limit) signed by ISSUER
cat >"$T/ca.ext" <<EOF
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
mkca() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
	    -subj "/O=Deep Chain Test/CN=$1" -out "$T/$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$T/$1.csr" -CA "$2" -CAkey "$3" -set_serial "0x$(openssl rand -hex 8)" \
	    -days 30 -extfile "$T/ca.ext" -out "$T/$1.pem" 2>/dev/null
}
# deep PREFIX ROOT ROOT_KEY [EXTRA_CHAIN_FILE]: 20 CAs under ROOT, then device 1's IDevID
# (same subject, key and extensions) re-issued by the 20th; $T/PREFIX.pem = leaf + 20 CAs
# (+ EXTRA_CHAIN_FILE), $T/PREFIX-cas.pem the CAs alone
deep() {
	local p=$1 issuer=$2 ikey=$3 extra=${4:-} i
	for i in $(seq 1 20); do
		mkca "$p$i" "$issuer" "$ikey" || return 1
		issuer=$T/$p$i.pem ikey=$T/$p$i.key
	done
	openssl x509 -x509toreq -in "$D1/idevid.pem" -key "$D1/idevid.key" -copy_extensions copyall \
	    -out "$T/$p-leaf.csr" 2>/dev/null &&
	openssl x509 -req -in "$T/$p-leaf.csr" -CA "$issuer" -CAkey "$ikey" -copy_extensions copyall \
	    -set_serial "0x$(openssl rand -hex 8)" -days 30 -out "$T/$p-leaf.pem" 2>/dev/null || return 1
	{ for i in $(seq 20 -1 1); do cat "$T/$p$i.pem"; done
	  [ -z "$extra" ] || cat "$extra"; } >"$T/$p-cas.pem"
	cat "$T/$p-leaf.pem" "$T/$p-cas.pem" >"$T/$p.pem"
}
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/xroot.key" \
    -subj "/O=Deep Chain Test/CN=Unconfigured Root" -days 30 -out "$T/xroot.pem" 2>/dev/null
deep x "$T/xroot.pem" "$T/xroot.key" || fail "could not build the chain under the unknown root"
deep i "$T/lab/manufacturer-ica.pem" "$T/lab/manufacturer-ica.key" "$T/lab/manufacturer-ica.pem" ||
    fail "could not build the chain under the manufacturer ICA"
deep r "$T/lab/manufacturer-ca.pem" "$T/lab/manufacturer-ca.key" ||
    fail "could not build the chain under the manufacturer root"
openssl req -new -key "$D1/idevid.key" -subj "/serialNumber=$S1/CN=$S1" -outform DER 2>/dev/null |
    base64 -w0 >"$T/s1.b64"
# Sanity: the chains are sound as built (openssl verify's own depth limit is 100).
check "the 20-CA chain under the unknown root verifies with openssl" \
    openssl verify -CAfile "$T/xroot.pem" -untrusted "$T/x-cas.pem" "$T/x-leaf.pem"
check "the 20-CA chain under the manufacturer root verifies with openssl" \
    openssl verify -CAfile "$T/lab/manufacturer-ca.pem" -untrusted "$T/r-cas.pem" "$T/r-leaf.pem"
for c in "x|unknown root, 20 CAs" "i|manufacturer root, its ICA, then 20 CAs" \
    "r|manufacturer root (via its key), then 20 CAs"; do
	p=${c%%|*} name=${c#*|}
	code=$(curl -sS -o "$T/body" -w '%{http_code}' "${CA[@]}" --cert "$T/$p.pem" \
	    --key "$D1/idevid.key" -H 'Content-Type: application/pkcs10' \
	    --data-binary @"$T/s1.b64" "$E/simpleenroll" 2>"$T/curlerr")
	check "chain $(grep -c BEGIN "$T/$p.pem") certificates deep ($name): 403 ($code: $(head -c 120 "$T/body")$(head -c 120 "$T/curlerr"))" \
	    test "$code" = 403
done
check "nothing issued to device 1 through a deep chain" \
    test "$(sql "SELECT count(*) FROM certificates WHERE device_serial = '$S1'")" = 0

# --- a CSR of almost 64 KiB --------------------------------------------------------------------
# Device 1's key and serial, plus some thousands of DNS names as requested extensions; sized
# so that its base64 is between 60 KiB and 64 KiB less 200 bytes (max-body is 64 KiB).
bigcsr() {	# bigcsr NAMES: $T/big.b64
	{
		printf '[req]\ndistinguished_name = dn\nreq_extensions = ext\nprompt = no\n'
		printf '[dn]\nserialNumber = %s\nCN = %s\n[ext]\nsubjectAltName = @alt\n[alt]\n' "$S1" "$S1"
		seq 1 "$1" | awk '{printf "DNS.%d = host%06d.abuse.example.test\n", $1, $1}'
	} >"$T/big.cnf"
	openssl req -new -key "$D1/idevid.key" -config "$T/big.cnf" -outform DER 2>/dev/null |
	    base64 -w0 >"$T/big.b64"
}
bigcsr 1000
per=$(( $(stat -c %s "$T/big.b64") / 1000 ))
names=$(( (65536 - 400) / per ))
bigcsr "$names"
size=$(stat -c %s "$T/big.b64")
while [ "$size" -gt $((65536 - 200)) ]; do names=$((names - 5)); bigcsr "$names"; size=$(stat -c %s "$T/big.b64"); done
echo "big CSR: $names DNS names, base64 $size bytes"
code=$(curl -sS -o "$T/bigresp" -w '%{http_code}' "${CA[@]}" --cert "$D1/idevid.pem" \
    --key "$D1/idevid.key" -H 'Content-Type: application/pkcs10' --data-binary @"$T/big.b64" \
    "$E/simpleenroll" 2>"$T/curlerr")
if [ "$size" -lt $((60 * 1024)) ]; then
	fail "could not make a CSR of 60-64 KiB ($size bytes)"
elif [ "$code" = 200 ]; then
	base64 -d "$T/bigresp" | openssl pkcs7 -inform DER -print_certs -out "$T/big.pem" 2>/dev/null
	ok "CSR of $size bytes (base64): 200"
	check "the LDevID does not carry the CSR's $names DNS names" \
	    sh -c "! openssl x509 -in '$T/big.pem' -noout -ext subjectAltName 2>/dev/null | grep -q DNS:"
else
	check "CSR of $size bytes (base64): 200 or 400 ($code: $(head -c 150 "$T/bigresp")$(cat "$T/curlerr"))" \
	    test "$code" = 400
fi

# --- after all that --------------------------------------------------------------------------
check "latchkeyd still serves a good enrollment" latchkey enroll -q --server "$URL" \
    --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" --ca "$T/reg/domain-ca.pem" \
    --out "$T/final"
mapfile -t W1 < <(pgrep -P "$LKD_PID")
echo "workers after: ${W1[*]}"
check "the same workers, none crashed or was restarted" test "${W0[*]}" = "${W1[*]}"
check "no worker exit in the log" sh -c "! grep -q 'exited' '$T/latchkeyd.log'"
check "latchkeyd alive" kill -0 "$LKD_PID"
it_done

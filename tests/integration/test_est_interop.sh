#!/bin/bash
# Interop: curl and the openssl command line as the EST client (RFC 7030), against latchkeyd
# with channel-binding = optional (a command-line client cannot compute the TLS exporter).
# Then the same request against channel-binding = required is refused with 403.
# Bodies are base64 without line breaks both ways (RFC 8951 section 3, RFC 4648 section 3.1);
# requests are accepted unwrapped and wrapped, with LF or CRLF (RFC 8951 section 3.1).
. "$(dirname "$0")/lib.sh"
it_init
it_pki 2
S0=$(it_serial 0); D0=$(it_dev 0)
it_registrar "channel-binding = optional" || exit 1
latchkeyctl --db "$DB" claim "$S0" >/dev/null
CURL=(curl -sS --cacert "$T/reg/domain-ca.pem" --tlsv1.2)
# one_line FILE: a non-empty body of base64 characters only, no CR, LF or other space
one_line() { [ -s "$1" ] && [ "$(tr -d 'A-Za-z0-9+/=' <"$1" | wc -c)" = 0 ]; }

# cacerts: base64 certs-only PKCS#7 that openssl reads, holding the domain CA.
"${CURL[@]}" -D "$T/h1" -o "$T/cacerts.b64" "$URL/.well-known/est/cacerts"
check "cacerts: 200" grep -q "^HTTP/1.1 200" "$T/h1"
check "cacerts: Content-Type application/pkcs7-mime" grep -qi "^content-type: application/pkcs7-mime" "$T/h1"
check "cacerts: Content-Transfer-Encoding base64" grep -qi "^content-transfer-encoding: base64" "$T/h1"
check "cacerts: body is base64 without line breaks" one_line "$T/cacerts.b64"
base64 -d "$T/cacerts.b64" | openssl pkcs7 -inform DER -print_certs -out "$T/cacerts.pem"
check "cacerts: is the domain CA" cmp -s <(openssl x509 -in "$T/cacerts.pem" -outform DER) \
    <(openssl x509 -in "$T/reg/domain-ca.pem" -outform DER)

# csrattrs: application/csrattrs, asks for challengePassword.
"${CURL[@]}" -D "$T/h2" -o "$T/csrattrs.b64" "$URL/.well-known/est/csrattrs"
check "csrattrs: Content-Type application/csrattrs" grep -qi "^content-type: application/csrattrs" "$T/h2"
check "csrattrs: body is base64 without line breaks" one_line "$T/csrattrs.b64"
check "csrattrs: lists challengePassword" sh -c "base64 -d '$T/csrattrs.b64' | openssl asn1parse -inform DER | grep -q challengePassword"

# simpleenroll with an openssl-made CSR, authenticated by the IDevID (chain in the PEM).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" \
    -subj "/serialNumber=$S0/CN=$S0" -outform DER -out "$T/csr.der" 2>/dev/null
base64 "$T/csr.der" >"$T/csr.b64"
"${CURL[@]}" --cert "$D0/idevid.pem" --key "$D0/idevid.key" -D "$T/h3" -o "$T/cert.b64" \
    -H "Content-Type: application/pkcs10" --data-binary @"$T/csr.b64" \
    "$URL/.well-known/est/simpleenroll"
check "simpleenroll: 200" grep -q "^HTTP/1.1 200" "$T/h3"
check "simpleenroll: certs-only" grep -qi "^content-type: application/pkcs7-mime; smime-type=certs-only" "$T/h3"
check "simpleenroll: body is base64 without line breaks" one_line "$T/cert.b64"
base64 -d "$T/cert.b64" | openssl pkcs7 -inform DER -print_certs -out "$T/cert.pem"
check "issued certificate verifies (openssl verify)" openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/cert.pem"
check "issued certificate holds the CSR's key" test \
    "$(openssl x509 -in "$T/cert.pem" -noout -pubkey)" = "$(openssl pkey -in "$T/k.pem" -pubout)"

# The label segment (RFC 7030 §3.2.2) and a TLS 1.3-only client; the CSR unwrapped.
base64 -w0 "$T/csr.der" >"$T/csr1.b64"
"${CURL[@]}" --tlsv1.3 --cert "$D0/idevid.pem" --key "$D0/idevid.key" -o "$T/cert2.b64" \
    -w '%{http_code}' -H "Content-Type: application/pkcs10" --data-binary @"$T/csr1.b64" \
    "$URL/.well-known/est/lab-a/simpleenroll" >"$T/code2"
check "labelled simpleenroll over TLS 1.3, CSR unwrapped: 200" test "$(cat "$T/code2")" = 200
# A TLS 1.2 client is served too (minimum version), with ECDHE.
check "TLS 1.2 handshake with ECDHE" sh -c "echo | openssl s_client -connect 127.0.0.1:$PORT -tls1_2 -CAfile '$T/reg/domain-ca.pem' 2>/dev/null | grep -q 'Cipher is ECDHE'"
# The server's AEAD order: ChaCha20-Poly1305 first, AES-GCM for a client without it.
check "TLS 1.3: ChaCha20-Poly1305 chosen from openssl's default offer" sh -c "echo | openssl s_client -connect 127.0.0.1:$PORT -tls1_3 -CAfile '$T/reg/domain-ca.pem' 2>/dev/null | grep -q 'Cipher is TLS_CHACHA20_POLY1305_SHA256'"
check "TLS 1.3: a client offering only AES-128-GCM is served with it" sh -c "echo | openssl s_client -connect 127.0.0.1:$PORT -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256 -CAfile '$T/reg/domain-ca.pem' 2>/dev/null | grep -q 'Cipher is TLS_AES_128_GCM_SHA256'"
check "TLS 1.2: ECDHE-ECDSA-AES256-GCM only is served with it" sh -c "echo | openssl s_client -connect 127.0.0.1:$PORT -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384 -CAfile '$T/reg/domain-ca.pem' 2>/dev/null | grep -q 'Cipher is ECDHE-ECDSA-AES256-GCM-SHA384'"
check "TLS 1.1 refused" sh -c "! openssl s_client -connect 127.0.0.1:$PORT -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null >/dev/null 2>&1"
# The end of a connection (RFC 8446 6.1): close_notify before the close, so an OpenSSL 3
# client reads no "unexpected eof"; and an answer that fits one record comes in one: after
# the client's Finished, one record that is not an alert (s_client -msg shows each
# record's inner content type, then the alert's own line).
(printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'; sleep 1) |
    timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/reg/domain-ca.pem" \
    -msg -ign_eof >"$T/close.out" 2>&1
check "close: the answer arrives" grep -q "^HTTP/1.1 200" "$T/close.out"
check "close: the server sends close_notify" grep -q "^<<< TLS 1.3, Alert .*close_notify" "$T/close.out"
check "close: no unexpected eof at the client" sh -c "! grep -q 'unexpected eof' '$T/close.out'"
after_fin() { sed -n '/^>>> .*Finished/,$p' "$T/close.out" | grep -c "$1"; }
check "close: the answer in one record" test \
    $(($(after_fin '^<<< TLS 1.3, InnerContent') - $(after_fin '^<<< TLS 1.3, Alert'))) = 1

# Reenroll with the LDevID from curl: simplereenroll, the CSR wrapped at 64 with CRLF.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k2.pem" \
    -subj "/serialNumber=$S0/CN=$S0" -outform DER 2>/dev/null | base64 -w64 |
    sed 's/$/\r/' >"$T/csr2.b64"
code=$("${CURL[@]}" --cert "$T/cert.pem" --key "$T/k.pem" -o "$T/cert3.b64" -w '%{http_code}' \
    -H "Content-Type: application/pkcs10" --data-binary @"$T/csr2.b64" \
    "$URL/.well-known/est/simplereenroll")
check "simplereenroll with curl, CSR wrapped at 64 with CRLF: 200" test "$code" = 200
check "simplereenroll: CSR was CRLF-wrapped" test "$(grep -c $'\r$' "$T/csr2.b64")" -gt 1
check "simplereenroll: body is base64 without line breaks" one_line "$T/cert3.b64"
check "simplereenroll: certificate for the new key" test \
    "$(base64 -d "$T/cert3.b64" | openssl pkcs7 -inform DER -print_certs |
    openssl x509 -noout -pubkey)" = "$(openssl pkey -in "$T/k2.pem" -pubout)"
check "three certificates on one binding" test "$(sql "SELECT count(DISTINCT binding_id) || '/' || count(*) FROM certificates WHERE device_serial='$S0'")" = "1/3"

# Same curl request with channel binding required: refused, says why.
it_stop_registrar
sed -i 's/^channel-binding = optional/channel-binding = required/' "$T/reg/latchkeyd.conf"
it_registrar || exit 1
code=$("${CURL[@]}" --cert "$D0/idevid.pem" --key "$D0/idevid.key" -o "$T/refused.txt" \
    -w '%{http_code}' -H "Content-Type: application/pkcs10" --data-binary @"$T/csr.b64" \
    "$URL/.well-known/est/simpleenroll")
check "channel binding required: 403" test "$code" = 403
check "channel binding required: reason given" grep -q "channel binding missing" "$T/refused.txt"
it_done

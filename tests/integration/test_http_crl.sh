#!/bin/bash
# CRL and OCSP over plain HTTP (http-listen; latchkeyd.conf(5)), as a relying party without
# the domain CA would use them: the URLs come out of the LDevID itself (CRL distribution
# point, RFC 5280 4.2.1.13; authorityInfoAccess OCSP, RFC 6960), and curl and
# `openssl ocsp -url` fetch them with no trust set up for the transport.
#   - an LDevID issued with http-listen (and no crl-url / ocsp-url) carries http URLs on
#     that listener;
#   - the CRL fetched from its URL is DER, verifies against the domain CA, and lists the
#     device once its binding is revoked;
#   - `openssl ocsp -url` (POST) answers good, then revoked; the GET form (RFC 6960 A.1)
#     on the plain port too;
#   - the plain port serves nothing else (EST: 404), and refuses other methods (405);
#   - http-listen on a wildcard address without crl-url and ocsp-url is a configuration
#     error (no URL a device could use).
. "$(dirname "$0")/lib.sh"
it_init
it_pki 1
# the domain without the https crl-url and ocsp-url that init writes: http-listen then
# gives the defaults; idle-timeout for the slow-client deadline below
it_domain_http "idle-timeout = 2"
it_registrar || exit 1
S=$(it_serial 0)
check "enroll $S" it_enroll 0 "$T/dev"
L=$T/dev/ldevid.pem
openssl x509 -in "$L" -noout -ext crlDistributionPoints,authorityInfoAccess >"$T/ext.txt" 2>&1
cat "$T/ext.txt"
CRL_URL=$(sed -n 's/^ *URI:\(http:.*crl\)$/\1/p' "$T/ext.txt" | head -1)
OCSP_URL=$(sed -n 's/^ *OCSP - URI:\(http:.*\)$/\1/p' "$T/ext.txt" | head -1)
check "the LDevID's CRL distribution point is http on http-listen ($CRL_URL)" \
    test "$CRL_URL" = "http://127.0.0.1:$HPORT/.well-known/latchkey/crl"
check "its OCSP URL is http on http-listen ($OCSP_URL)" \
    test "$OCSP_URL" = "http://127.0.0.1:$HPORT/.well-known/latchkey/ocsp"

# ---- before the revocation ---------------------------------------------------------------
check "curl fetches the CRL over plain http" curl -sf -o "$T/crl1.der" "$CRL_URL"
check "it is DER and verifies against the domain CA" sh -c "openssl crl -inform DER \
    -in '$T/crl1.der' -CAfile '$T/reg/domain-ca.pem' -noout 2>&1 | grep -q 'verify OK'"
check "Content-Type application/pkix-crl" sh -c "curl -s -o /dev/null -w '%{content_type}' \
    '$CRL_URL' | grep -qi '^application/pkix-crl'"
openssl ocsp -url "$OCSP_URL" -issuer "$T/reg/domain-ca.pem" -cert "$L" \
    -CAfile "$T/reg/domain-ca.pem" >"$T/ocsp1.txt" 2>&1
cat "$T/ocsp1.txt"
check "openssl ocsp -url (http): good, response verifies" sh -c "grep -q ': good' '$T/ocsp1.txt' &&
    grep -q 'Response verify OK' '$T/ocsp1.txt'"

# ---- after the revocation ----------------------------------------------------------------
check "revoke $S" latchkeyctl --db "$DB" revoke "$S" --reason keyCompromise
CS=$(openssl x509 -in "$L" -noout -serial | cut -d= -f2)
check "the CRL at its URL lists the LDevID within 5 s" wait_until 5 sh -c "curl -sf '$CRL_URL' |
    openssl crl -inform DER -noout -text | grep -q '$CS'"
openssl ocsp -url "$OCSP_URL" -issuer "$T/reg/domain-ca.pem" -cert "$L" \
    -CAfile "$T/reg/domain-ca.pem" -reqout "$T/ocsp2.req" >"$T/ocsp2.txt" 2>&1
cat "$T/ocsp2.txt"
check "openssl ocsp -url: revoked, keyCompromise" sh -c "grep -q ': revoked' '$T/ocsp2.txt' &&
    grep -q 'Reason: keyCompromise' '$T/ocsp2.txt'"
code=$(curl -s -o "$T/ocspget.resp" -w '%{http_code}' \
    "$OCSP_URL/$(base64 -w0 "$T/ocsp2.req" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')")
check "the OCSP GET form on the plain port (HTTP $code): revoked" sh -c "openssl ocsp \
    -respin '$T/ocspget.resp' -issuer '$T/reg/domain-ca.pem' -cert '$L' -no_nonce \
    -CAfile '$T/reg/domain-ca.pem' 2>&1 | grep -q ': revoked'"

# ---- nothing else ------------------------------------------------------------------------
H=http://127.0.0.1:$HPORT
check "EST is not served on the plain port (404)" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "$H/.well-known/est/cacerts")" = 404
check "POST to the CRL: 405" \
    test "$(curl -s -o /dev/null -w '%{http_code}' -d x "$CRL_URL")" = 405
check "an OCSP body too large: refused (413)" test "$(head -c 20000 /dev/zero | curl -s -o /dev/null \
    -w '%{http_code}' -H 'Content-Type: application/ocsp-request' --data-binary @- "$OCSP_URL")" = 413
check "garbage OCSP: an OCSP malformedRequest, not a crash" sh -c "curl -s -H \
    'Content-Type: application/ocsp-request' --data-binary junk '$OCSP_URL' | openssl ocsp \
    -respin /dev/stdin -resp_text -noverify 2>&1 | grep -qi malformed"
# a client that trickles its request (a byte every 0.5 s: evhttp's idle timeout never fires)
# is cut off at the request deadline, 2 x idle-timeout, as on the TLS port
secs=$(python3 - "$HPORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
req = b"GET /.well-known/latchkey/crl HTTP/1.1\r\nX-Slow: " + b"a" * 200
t0 = time.time()
try:
    for b in req:
        s.sendall(bytes([b]))
        time.sleep(0.5)
        if time.time() - t0 > 30:
            break
    s.settimeout(1)
    print("%.1f" % (30 if s.recv(1) else time.time() - t0))
except (BrokenPipeError, ConnectionResetError, socket.timeout):
    print("%.1f" % (time.time() - t0))
PY
)
echo "trickling client cut off after ${secs:-?} s"
check "a trickling client is cut off by the request deadline (${secs:-?} s < 10 s)" \
    awk -v s="${secs:-99}" 'BEGIN { exit !(s < 10) }'
check "latchkeyd still runs" kill -0 "$LKD_PID"
it_stop_registrar

cp "$T/reg/latchkeyd.conf" "$T/reg/wild.conf"
it_conf_set "$T/reg/wild.conf" "http-listen = 0.0.0.0:$HPORT"
out=$(latchkeyd -n -f "$T/reg/wild.conf" 2>&1); rc=$?
echo "$out"
check "http-listen on 0.0.0.0 without crl-url/ocsp-url: refused" test "$rc" = 1
check "... saying to set them" grep -q "set crl-url and ocsp-url" <<<"$out"
it_done

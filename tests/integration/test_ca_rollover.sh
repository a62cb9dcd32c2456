#!/bin/bash
# Domain CA rollover (RFC 7030 4.1.3; latchkeyctl ca-rollover): devices of the old CA and of
# the new one enroll, renew and are revoked correctly before and after, and foreign tools
# (openssl verify, openssl crl, openssl ocsp, curl) agree:
#   - before: two devices enroll under the old CA, one is revoked;
#   - ca-rollover --reload: cacerts serves the new CA, NewWithOld, OldWithNew and the old
#     CA (one subject, two keys); `openssl verify -CAfile` with that bag verifies LDevIDs of
#     both CAs, and with the old CA alone plus NewWithOld a new one (the link's purpose);
#   - after: a device enrolls from the new CA, trusting only the new CA (the registrar's
#     certificate is still the old CA's: its TLS chain carries OldWithNew) or only the old
#     one; an old-CA device renews with its old LDevID and gets a new-CA one;
#   - each CA has its own CRL and OCSP answers: the old CA's at the plain URL its LDevIDs
#     carry, the new CA's at /crl/<key id>, which new LDevIDs carry; each lists only its
#     own revoked LDevIDs, and revocations after the rollover reach both;
#   - `latchkey status` answers for devices of both CAs (active, revoked);
#   - the retired CA issues nothing; a second rollover is refused while LDevIDs of the
#     previous CA are still valid; `audit --verify` checks checkpoints of both keys.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 5
# plain-http CRL and OCSP URLs (http-listen's defaults), so that the tools need no trust
it_domain_http "pid-file = $T/reg/latchkeyd.pid"
it_registrar || exit 1
H=http://127.0.0.1:$HPORT/.well-known/latchkey
OLDCA=$T/oldca.pem
cp "$T/reg/domain-ca.pem" "$OLDCA"
for i in 0 1 2 3 4; do latchkeyctl --db "$DB" claim "$(it_serial "$i")" >/dev/null; done
enroll() {	# enroll I CAFILE OUTDIR
	local d
	d=$(it_dev "$1")
	latchkey enroll -q --server "$URL" --idevid "$d/idevid.pem" --idevid-key "$d/idevid.key" \
	    --ca "$2" --out "$3"
}
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
aki_of() { openssl x509 -in "$1" -noout -ext authorityKeyIdentifier | tr -d ' :' |
    sed -n 's/^keyid//p; /^[0-9A-Fa-f]\{8,\}$/p' | tr 'A-F' 'a-f' | head -1; }
ski_of() { openssl x509 -in "$1" -noout -ext subjectKeyIdentifier | tr -d ' :' |
    grep -E '^[0-9A-Fa-f]+$' | tr 'A-F' 'a-f'; }
crl_lists() { curl -sf "$1" | openssl crl -inform DER -noout -text | grep -q "$2"; }
crl_verifies() { curl -sf -o "$T/c.der" "$1" && openssl crl -inform DER -in "$T/c.der" \
    -CAfile "$2" -noout 2>&1 | grep -q 'verify OK'; }

# ---- before: the old CA ------------------------------------------------------------------
check "device 0 enrolls under the old CA" enroll 0 "$OLDCA" "$T/d0"
check "device 1 enrolls under the old CA" enroll 1 "$OLDCA" "$T/d1"
check "device 3 enrolls under the old CA" enroll 3 "$OLDCA" "$T/d3"
OLDKID=$(ski_of "$OLDCA")
S1=$(serial_of "$T/d1/ldevid.pem")
check "revoke device 1 (old CA)" latchkeyctl --db "$DB" revoke "$(it_serial 1)" \
    --reason keyCompromise
check "the old CA's CRL lists it" wait_until 5 crl_lists "$H/crl" "$S1"

# ---- the rollover ------------------------------------------------------------------------
latchkeyctl ca-rollover --dir "$T/reg" --reload "$T/reg/latchkeyd.pid" --json \
    >"$T/roll.json" 2>"$T/roll.err"; rc=$?
cat "$T/roll.json" "$T/roll.err"
check "ca-rollover: exit 0" test "$rc" = 0
NEWKID=$(jq -r .new_kid "$T/roll.json")
check "the new CA has a new key, the same subject" sh -c "test '$NEWKID' != '$OLDKID' &&
    test \"\$(openssl x509 -in '$T/reg/domain-ca.pem' -noout -subject)\" = \
    \"\$(openssl x509 -in '$OLDCA' -noout -subject)\""
check "the previous CA's key is 0600" test "$(stat -c %a "$T/reg/domain-ca-previous.key")" = 600
check "the registry records the three LDevIDs of before under the old CA's key id" \
    test "$(sql "SELECT count(*) FROM certificates WHERE ca_kid = '$OLDKID'")" = 3
check "latchkeyd.conf names the previous CA (an absolute path)" grep -q "^previous-ca-cert = $T/reg/domain-ca-previous.pem$" "$T/reg/latchkeyd.conf"
check "the rollover is audited" test "$(sql "SELECT count(*) FROM audit WHERE
    action = 'ca-rollover'")" = 1
# the reload: once its new workers serve, cacerts holds four certificates. An old worker
# may still answer a request or two while it retires: five answers in a row must have
# them (new connections, spread over the workers), and the bag kept is one of those.
has4() {
	local i
	for i in 1 2 3 4 5; do
		curl -sf --cacert "$OLDCA" "$URL/.well-known/est/cacerts" | base64 -d |
		    openssl pkcs7 -inform DER -print_certs >"$T/bag.pem" 2>/dev/null
		test "$(grep -c '^-----BEGIN CERTIFICATE' "$T/bag.pem")" = 4 || return 1
	done
}
check "after the reload cacerts serves 4 certificates" wait_until 30 has4
awk -v p="$T/bag." '/-----BEGIN CERTIFICATE/ { f = sprintf("%s%02d", p, n++) }
    f != "" { print > f } /-----END CERTIFICATE/ { close(f); f = "" }' "$T/bag.pem"
check "cacerts: the new CA first" test "$(ski_of "$T/bag.00")" = "$NEWKID"
check "then NewWithOld (new key, signed by the old)" sh -c "test '$(ski_of "$T/bag.01")' = \
    '$NEWKID' && test '$(aki_of "$T/bag.01")' = '$OLDKID'"
check "then OldWithNew (old key, signed by the new)" sh -c "test '$(ski_of "$T/bag.02")' = \
    '$OLDKID' && test '$(aki_of "$T/bag.02")' = '$NEWKID'"
check "then the old CA" cmp -s <(openssl x509 -in "$T/bag.03" -outform DER) \
    <(openssl x509 -in "$OLDCA" -outform DER)

# ---- after: enroll, verify, renew ---------------------------------------------------------
check "device 2 enrolls trusting only the new CA" enroll 2 "$T/reg/domain-ca.pem" "$T/d2"
check "its LDevID comes from the new CA" test "$(aki_of "$T/d2/ldevid.pem")" = "$NEWKID"
check "device 4 enrolls trusting only the old CA" enroll 4 "$OLDCA" "$T/d4"
check "openssl verify, the served bag: a new-CA LDevID" \
    openssl verify -CAfile "$T/bag.pem" "$T/d2/ldevid.pem"
check "openssl verify, the served bag: an old-CA LDevID" \
    openssl verify -CAfile "$T/bag.pem" "$T/d3/ldevid.pem"
check "openssl verify, the old CA and NewWithOld: a new-CA LDevID" \
    openssl verify -CAfile "$OLDCA" -untrusted "$T/bag.01" "$T/d2/ldevid.pem"
check "openssl verify, the new CA and OldWithNew: an old-CA LDevID" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" -untrusted "$T/bag.02" "$T/d3/ldevid.pem"
check "the new LDevID names the new CA's CRL" sh -c "openssl x509 -in '$T/d2/ldevid.pem' \
    -noout -ext crlDistributionPoints | grep -q 'URI:$H/crl/$NEWKID\$'"
check "an old LDevID names the plain CRL URL" sh -c "openssl x509 -in '$T/d3/ldevid.pem' \
    -noout -ext crlDistributionPoints | grep -q 'URI:$H/crl\$'"
check "status of an old-CA device after the rollover: active (exit 0)" \
    latchkey status --out "$T/d3" --json
check "status of a new-CA device trusting only the new CA: active (exit 0)" \
    latchkey status --out "$T/d2" --json
latchkey status --out "$T/d1" --json >/dev/null 2>&1; rc=$?
check "status of the old-CA device revoked before: revoked (exit 3, got $rc)" test "$rc" = 3
S0OLD=$(serial_of "$T/d0/ldevid.pem")
check "device 0 renews with its old-CA LDevID" latchkey reenroll -q --out "$T/d0"
check "and gets a new-CA LDevID" test "$(aki_of "$T/d0/ldevid.pem")" = "$NEWKID"
check "its domain-ca.pem now holds the served bag (4)" \
    test "$(grep -c BEGIN "$T/d0/domain-ca.pem")" = 4
check "the new-CA LDevID authenticates: renews again" latchkey reenroll -q --out "$T/d0"
S0=$(serial_of "$T/d0/ldevid.pem")

# ---- the CRLs and OCSP of both CAs -------------------------------------------------------
check "the old CA's CRL verifies with the old CA" crl_verifies "$H/crl" "$OLDCA"
check "the new CA's CRL verifies with the new CA" crl_verifies "$H/crl/$NEWKID" \
    "$T/reg/domain-ca.pem"
check "the new CA's CRL by its upper-case key id too" crl_verifies \
    "$H/crl/$(tr 'a-f' 'A-F' <<<"$NEWKID")" "$T/reg/domain-ca.pem"
check "an unknown key id: 404" test "$(curl -s -o /dev/null -w '%{http_code}' \
    "$H/crl/0123abcd")" = 404
check "device 1 (revoked before) stays on the old CA's CRL" crl_lists "$H/crl" "$S1"
if crl_lists "$H/crl/$NEWKID" "$S1"; then fail "the new CA's CRL lists an old-CA LDevID"
else ok "the new CA's CRL does not list the old-CA LDevID"; fi
check "revoke device 2 (new CA)" latchkeyctl --db "$DB" revoke "$(it_serial 2)" \
    --reason keyCompromise
S2=$(serial_of "$T/d2/ldevid.pem")
check "the new CA's CRL lists device 2" wait_until 5 crl_lists "$H/crl/$NEWKID" "$S2"
if crl_lists "$H/crl" "$S2"; then fail "the old CA's CRL lists a new-CA LDevID"
else ok "the old CA's CRL does not list the new-CA LDevID"; fi
check "revoke device 0 (renewed: LDevIDs of both CAs)" latchkeyctl --db "$DB" revoke \
    "$(it_serial 0)" --reason cessationOfOperation
check "its new-CA LDevID on the new CA's CRL" wait_until 5 crl_lists "$H/crl/$NEWKID" "$S0"
check "its old-CA LDevID on the old CA's CRL" wait_until 5 crl_lists "$H/crl" "$S0OLD"
ocsp() {	# ocsp CERT ISSUER -> status line
	openssl ocsp -url "$H/ocsp" -issuer "$2" -cert "$1" -CAfile "$2" 2>&1
}
ocsp "$T/d2/ldevid.pem" "$T/reg/domain-ca.pem" >"$T/o2.txt"
check "OCSP, new CA: device 2 revoked, signed by the new CA" sh -c "grep -q ': revoked' \
    '$T/o2.txt' && grep -q 'Response verify OK' '$T/o2.txt'"
ocsp "$T/d1/ldevid.pem" "$OLDCA" >"$T/o1.txt"
check "OCSP, old CA: device 1 revoked, signed by the old CA" sh -c "grep -q ': revoked' \
    '$T/o1.txt' && grep -q 'Response verify OK' '$T/o1.txt'"
ocsp "$T/d3/ldevid.pem" "$OLDCA" >"$T/o3.txt"
check "OCSP, old CA: device 3 good" sh -c "grep -q ': good' '$T/o3.txt' &&
    grep -q 'Response verify OK' '$T/o3.txt'"
cat "$T/o1.txt" "$T/o2.txt" "$T/o3.txt"
check "the registrar refuses device 2's revoked LDevID (403)" sh -c "! latchkey reenroll -q \
    --out '$T/d2' 2>'$T/d2.err'"

# ---- the retired CA, the next rollover, the audit ----------------------------------------
check "a second rollover is refused while old-CA LDevIDs are valid" sh -c "! latchkeyctl \
    ca-rollover --dir '$T/reg' 2>'$T/roll2.err' && grep -q 'still valid\|neither expired' \
    '$T/roll2.err'"
cat "$T/roll2.err"
check "and left the CA files as they were" test "$(ski_of "$T/reg/domain-ca.pem")" = "$NEWKID"
check "audit --verify: intact (checkpoints of both keys)" latchkeyctl --db "$DB" audit --verify
check "latchkeyd -n accepts the rolled-over configuration" latchkeyd -n -f "$T/reg/latchkeyd.conf"
check "latchkeyd kept running" kill -0 "$LKD_PID"
it_done

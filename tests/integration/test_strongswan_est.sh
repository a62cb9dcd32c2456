#!/bin/bash
# Interop: strongSwan's EST client (`pki --estca`, `pki --est` of strongswan-pki) against
# latchkeyd. strongSwan decodes a body as base64 without line breaks (RFC 8951 section 3,
# RFC 4648 section 3.1: any CR or LF breaks its decoder), so this fails if latchkeyd wraps.
# - pki --estca fetches the domain CA (fingerprint equal to domain-ca.pem), DER and PEM; a
#   wrong TLS trust anchor gets nothing.
# - Renewal: a device enrolled with `latchkey enroll` renews its LDevID with pki --req and
#   pki --est --cert/--key (/simplereenroll), first with a new key, then, with the
#   certificate it got, for the same key; each certificate verifies against the domain CA,
#   names the device and is in the registry on the device's one binding.
# - pki cannot put the channel binding (RFC 7030 section 3.5) into its CSR, so latchkeyd runs
#   with channel-binding = optional; with required, pki's request is refused with 403.
# Skips only when pki is not installed.
. "$(dirname "$0")/lib.sh"
command -v pki >/dev/null 2>&1 || { echo "strongSwan's pki not installed (strongswan-pki)"; exit 77; }
it_init
it_pki 1
S0=$(it_serial 0); D0=$(it_dev 0)
it_registrar "channel-binding = optional" || exit 1
latchkeyctl --db "$DB" claim "$S0" >/dev/null
CA=$T/reg/domain-ca.pem
# pki prints its diagnostics on stderr (with libstrongswan plugin noise); keep them per step.
PKI=(timeout 60 pki)

# fp FORM FILE: the SHA-256 fingerprint of a certificate
fp() { openssl x509 -inform "$1" -in "$2" -noout -fingerprint -sha256 | cut -d= -f2; }
# show ERRFILE: pki's diagnostics of a step, for the log
show() { grep -v "TPM 2.0\|plugin 'tpm'" "$1" | sed 's/^/    pki: /'; }

# 1. cacerts (RFC 7030 section 4.1) with the domain CA as TLS trust anchor.
"${PKI[@]}" --estca --url "$URL/" --cacert "$CA" --caout "$T/estca.der" 2>"$T/estca.err"
rc=$?; show "$T/estca.err"
check "pki --estca exits 0" test "$rc" = 0
check "pki --estca: the CA certificate is trusted" grep -q "Root CA cert is trusted" "$T/estca.err"
check "pki --estca wrote the domain CA (DER, same fingerprint)" \
    test "$(fp DER "$T/estca.der" 2>/dev/null)" = "$(fp PEM "$CA")"
"${PKI[@]}" --estca --url "$URL" --cacert "$CA" --caout "$T/estca.pem" --outform pem \
    2>"$T/estca2.err"
check "pki --estca --outform pem (URL without a slash) wrote the domain CA" \
    test "$(fp PEM "$T/estca.pem" 2>/dev/null)" = "$(fp PEM "$CA")"
"${PKI[@]}" --estca --url "$URL/" --cacert "$T/lab/manufacturer-ca.pem" \
    --caout "$T/untrusted.der" 2>"$T/estca3.err"
rc=$?
check "pki --estca with a wrong TLS trust anchor fails, writes nothing" \
    test "$rc" != 0 -a ! -e "$T/untrusted.der"

# 2. A device enrolled by latchkey renews with strongSwan's pki (simplereenroll, section 4.2.2).
latchkey enroll -q --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --ca "$CA" --out "$T/dev0" || { echo "latchkey enroll failed"; exit 1; }
LSER=$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -serial | cut -d= -f2)

# renew N CERT KEY NEWKEY: CSR for NEWKEY, pki --est authenticated by CERT/KEY -> $T/new$N.pem
renew() {
	"${PKI[@]}" --req --in "$4" --type ecdsa --dn "serialNumber=$S0, CN=$S0" \
	    --outform der >"$T/req$1.der" 2>"$T/req$1.err" || { show "$T/req$1.err"; return 1; }
	"${PKI[@]}" --est --url "$URL/" --cacert "$CA" --cert "$2" --key "$3" \
	    --in "$T/req$1.der" --interval 1 --maxpolltime 10 --outform pem \
	    >"$T/new$1.pem" 2>"$T/est$1.err"
	local rc=$?
	show "$T/est$1.err"
	return "$rc"
}
# check_cert N KEY: the certificate of renewal N
check_cert() {
	local c=$T/new$1.pem ser
	check "renewal $1: verifies against the domain CA (openssl verify)" \
	    openssl verify -CAfile "$CA" "$c"
	check "renewal $1: subject serialNumber is $S0" \
	    sh -c "openssl x509 -in '$c' -noout -subject -nameopt multiline | grep -q 'serialNumber *= $S0\$'"
	check "renewal $1: holds the requested key" test \
	    "$(openssl x509 -in "$c" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$2" -pubout)"
	ser=$(openssl x509 -in "$c" -noout -serial 2>/dev/null | cut -d= -f2)
	check "renewal $1: a new certificate (serial ${ser:-none})" \
	    test -n "$ser" -a "$ser" != "$LSER"
	check "renewal $1: latchkeyctl show lists it on the device's binding" test \
	    "$(latchkeyctl --db "$DB" --json show "$S0" | jq --arg s "$ser" \
	    '[.bindings[] | select(.state == "active") | .certificates[].serial | ascii_upcase]
	    | index($s | ascii_upcase) != null')" = true
	check "renewal $1: audited as reenroll, channel binding absent by policy" test \
	    -n "$ser" -a "$(sql "SELECT count(*) FROM audit WHERE action='reenroll' AND
	    subject='$S0' AND upper(details) LIKE upper('%$ser%') AND
	    details LIKE '%policy optional%'")" = 1
	LAST=$ser
}

pki --gen --type ecdsa --size 256 --outform pem >"$T/k1.pem" 2>/dev/null
renew 1 "$T/dev0/ldevid.pem" "$T/dev0/ldevid.key" "$T/k1.pem"
check "pki --est with the LDevID, new key: exits 0" test $? = 0
check "pki --est: issued certificate is trusted" grep -q "Issued certificate is trusted" "$T/est1.err"
check_cert 1 "$T/k1.pem"
SER1=$LAST

# The certificate pki got authenticates the next renewal, for the same key.
renew 2 "$T/new1.pem" "$T/k1.pem" "$T/k1.pem"
check "pki --est with that certificate, same key: exits 0" test $? = 0
check_cert 2 "$T/k1.pem"
check "renewal 2: not the certificate of renewal 1" test "$LAST" != "$SER1"
check "all certificates on one binding (enroll + 2 renewals)" test \
    "$(sql "SELECT count(DISTINCT binding_id) || '/' || count(*) FROM certificates WHERE device_serial='$S0'")" = "1/3"
check "latchkeyd logged the renewals" test "$(grep -c "reenrolled $S0" "$T/latchkeyd.log")" = 2

# 3. With channel binding required, pki's CSR (no challengePassword) is refused.
it_stop_registrar
it_conf_set "$T/reg/latchkeyd.conf" "channel-binding = required"
it_registrar || exit 1
renew 3 "$T/new2.pem" "$T/k1.pem" "$T/k1.pem"
check "channel binding required: pki --est fails" test $? != 0
check "channel binding required: HTTP 403" grep -q "EST request failed: HTTP 403" "$T/est3.err"
check "channel binding required: nothing issued" test \
    "$(sql "SELECT count(*) FROM certificates WHERE device_serial='$S0'")" = 3
check "latchkeyd still running" kill -0 "$LKD_PID"
it_done

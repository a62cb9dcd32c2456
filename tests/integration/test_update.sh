#!/bin/bash
# Verified updates (issue #20): latchkeyd's update-dir serves signed manifests and payloads
# to enrolled devices; `latchkey update` installs only what it verified.
#   - latchkeyctl update-signer issues an update-signing certificate (EKU codeSigning,
#     the domain's http CRL URL) recorded in the registry; update-sign signs a manifest;
#   - a good update installs: the install command gets the verified payload, the package
#     state records the version, the decision is audited on the device and in the registry;
#   - each of these is refused with a clear reason and installs nothing (marker unchanged,
#     exit 3): a tampered payload, an unsigned manifest (plain JSON, and CMS without a
#     signer), a manifest signed by another domain's CA, an expired manifest, a downgrade,
#     more payload than the manifest's size (endless data), a manifest for another package
#     (mix-and-match), another device class, a signer without codeSigning (update-sign
#     refuses it, and so does the device), and a manifest
#     signed by a revoked signer (latchkeyctl revoke, then on the CRL the device fetches);
#   - the same version again is "already installed" (exit 0, nothing run);
#   - a CRL that cannot be fetched: a cached current CRL of the domain CA stands in, else
#     nothing is installed (fail closed, exit 1); the signer's OCSP responder answers
#     instead when it has one: good installs, revoked is refused.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 1
UPD=$T/updates
mkdir -p "$UPD/fw-core" "$UPD/other"
chmod -R a+rX "$UPD"
it_domain_http "update-dir = $UPD"
it_registrar || exit 1
S=$(it_serial 0)
check "enroll $S" it_enroll 0 "$T/dev"
CRL_URL=http://127.0.0.1:$HPORT/.well-known/latchkey/crl
BASE=$URL/.well-known/latchkey/update

# ---- the publisher ------------------------------------------------------------------------
check "update-signer issues a signing certificate" latchkeyctl --db "$DB" update-signer \
    --dir "$T/reg" --name release --crl-url "$CRL_URL" --out "$T/signer" --json
check "its key is 0600" test "$(stat -c %a "$T/signer.key")" = 600
check "it names codeSigning and the CRL URL" sh -c "openssl x509 -in '$T/signer.pem' -noout \
    -ext extendedKeyUsage,crlDistributionPoints | grep -q 'Code Signing' && openssl x509 \
    -in '$T/signer.pem' -noout -ext crlDistributionPoints | grep -q '$CRL_URL'"
check "it chains to the domain CA" openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/signer.pem"
check "the registry holds it as update-signer:release" sh -c \
    "latchkeyctl --db '$DB' show update-signer:release | grep -q active"

now=$(date +%s)
# manifest PKG VERSION PAYLOADFILE [EXPIRES] [TARGET] [SIZE]: manifest JSON on stdout
manifest() {
	local sha size
	sha=$(sha256sum "$3" | cut -d' ' -f1)
	size=${6:-$(stat -c %s "$3")}
	printf '{"manifest-version":1,"package":"%s","version":"%s","sha256":"%s","size":%s,"not-before":%s,"expires":%s,"targets":["%s"],"url":"%s"}' \
	    "$1" "$2" "$sha" "$size" $((now - 60)) "${4:-$((now + 3600))}" "${5:-sensor}" \
	    "$(basename "$3")"
}
# publish PKG VERSION [EXPIRES] [TARGET] [SIZE]: payload, signed manifest in update-dir
publish() {
	printf 'firmware %s %s\n' "$1" "$2" >"$UPD/$1/$1_$2.bin"
	manifest "$1" "$2" "$UPD/$1/$1_$2.bin" "${3:-}" "${4:-}" "${5:-}" >"$T/m.json"
	latchkeyctl update-sign --cert "${SIGNER:-$T/signer.pem}" --key "${SIGNKEY:-$T/signer.key}" \
	    --manifest "$T/m.json" --out "$UPD/$1/manifest.cms" --force >/dev/null
	chmod a+r "$UPD/$1"/*
}
MARK=$T/installed.txt
INSTALL="cp \"\$1\" '$MARK' && echo \"\$LATCHKEY_UPDATE_VERSION\" >>'$T/versions.txt'"
upd() {
	latchkey update -q --state-dir "$T/dev" --update-url "$BASE" --package "${PKG:-fw-core}" \
	    --class "${CLASS:-sensor}" --install-command "$INSTALL" "$@" 2>"$T/upd.err"
}
# refused DESC WANT: latchkey update exits 3, its line names WANT, nothing installed
refused() {
	local before rc
	before=$(cat "$MARK" 2>/dev/null)
	upd; rc=$?
	cat "$T/upd.err"
	check "$1: refused (exit $rc)" test "$rc" = 3
	check "$1: the reason names '$2'" grep -q -- "$2" "$T/upd.err"
	check "$1: nothing installed" test "$(cat "$MARK" 2>/dev/null)" = "$before"
}

# ---- a good update --------------------------------------------------------------------------
publish fw-core 1.0-1
upd --json >"$T/u1.json"; rc=$?
cat "$T/u1.json" "$T/upd.err"
check "1.0-1 installs (exit $rc)" test "$rc" = 0
check "the install command got the verified payload" cmp "$MARK" "$UPD/fw-core/fw-core_1.0-1.bin"
check "--json says installed, signer update-signer:release" sh -c "jq -e '.decision == \"installed\"
    and (.signer | test(\"update-signer:release\")) and .reported' '$T/u1.json' >/dev/null"
check "the package state records 1.0-1 (0600)" sh -c "jq -e '.version == \"1.0-1\"' \
    '$T/dev/update/fw-core.json' >/dev/null && test \$(stat -c %a '$T/dev/update/fw-core.json') = 600"
check "the device audit log has the decision" grep -q '"decision":"installed"' \
    "$T/dev/update/audit.jsonl"
n=$(sql "select count(*) from audit where action = 'update-installed' and subject = '$S'")
check "the registry audited the report ($n)" test "$n" = 1
upd; rc=$?
check "the same version again: already installed, exit 0 ($rc)" sh -c "test $rc = 0 &&
    test \$(wc -l <'$T/versions.txt') = 1"

# ---- refusals ---------------------------------------------------------------------------------
publish fw-core 2.0-1
cp "$UPD/fw-core/fw-core_2.0-1.bin" "$T/good.bin"
printf 'firmware fw-core 6.6-6\n' >"$UPD/fw-core/fw-core_2.0-1.bin"	# same length, other bytes
refused "tampered payload" "SHA-256 does not match"
cp "$T/good.bin" "$UPD/fw-core/fw-core_2.0-1.bin"
printf 'firmware fw-core 2.0-1 and more and more\n' >"$UPD/fw-core/fw-core_2.0-1.bin"
refused "endless data (payload longer than the manifest's size)" "more than the manifest"
cp "$T/good.bin" "$UPD/fw-core/fw-core_2.0-1.bin"

manifest fw-core 2.0-1 "$T/good.bin" >"$UPD/fw-core/manifest.cms"
refused "unsigned manifest (plain JSON)" "unsigned manifest"
openssl cms -sign -in "$T/m.json" -signer "$T/signer.pem" -inkey "$T/signer.key" -binary \
    -nodetach -outform DER -out "$T/signed.cms" 2>/dev/null
openssl crl2pkcs7 -nocrl -certfile "$T/signer.pem" -outform DER -out "$UPD/fw-core/manifest.cms"
refused "CMS without a signer" "no signer\|not a CMS\|unsigned"

# another domain's CA and signer
latchkeyctl init --domain other.test --dir "$T/reg2" \
    --manufacturer-ca "$T/lab/manufacturer-ca.pem" --listen 127.0.0.1:1 >/dev/null
latchkeyctl --db "$T/reg2/registry.db" update-signer --dir "$T/reg2" --name evil \
    --crl-url "$CRL_URL" --out "$T/evil" >/dev/null
SIGNER=$T/evil.pem SIGNKEY=$T/evil.key publish fw-core 2.0-1
refused "signed by another domain's CA" "does not chain to this device's domain CA"

publish fw-core 2.0-1 $((now - 10))
refused "expired manifest" "expired at"
publish fw-core 0.9-1
refused "downgrade" "older than the installed 1.0-1"
publish fw-core 2.0-1 "" gateway
refused "another device class" "device class sensor is not among its targets"
publish other 9.0
cp "$UPD/other/manifest.cms" "$UPD/fw-core/manifest.cms"
cp "$UPD/other/other_9.0.bin" "$UPD/fw-core/"
refused "mix-and-match (another package's manifest)" "for package other, not fw-core"

# a certificate of the domain without codeSigning (the device's own LDevID) cannot sign
latchkeyctl update-sign --cert "$T/dev/ldevid.pem" --key "$T/dev/ldevid.key" \
    --manifest "$T/m.json" --out "$T/x.cms" 2>"$T/sign.err"; rc=$?
cat "$T/sign.err"
check "update-sign refuses a certificate without codeSigning ($rc)" sh -c "test $rc = 1 &&
    grep -q 'not an update-signing certificate' '$T/sign.err' && ! test -f '$T/x.cms'"

# and a device-side check too: a manifest the LDevID signed (domain CA, not revoked, but no
# codeSigning) is refused
manifest fw-core 2.0-1 "$T/good.bin" >"$T/m2.json"
openssl cms -sign -in "$T/m2.json" -signer "$T/dev/ldevid.pem" -inkey "$T/dev/ldevid.key" \
    -binary -nodetach -outform DER -out "$UPD/fw-core/manifest.cms"
cp "$T/good.bin" "$UPD/fw-core/fw-core_2.0-1.bin"
refused "signed by a domain certificate without codeSigning" "not an update-signing certificate"

# revoked signer: after the revocation the CRL lists it, and the device refuses
publish fw-core 2.0-1
CS=$(openssl x509 -in "$T/signer.pem" -noout -serial | cut -d= -f2)
check "revoke update-signer:release" latchkeyctl --db "$DB" revoke update-signer:release \
    --reason keyCompromise
REVOKED_NS=$(date +%s%N)
# every worker rebuilds its CRL within a second (DESIGN.md, Revocation): ten fetches in a
# row (new connections, spread over the workers) must list it
on_crl() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		curl -sf "$CRL_URL" | openssl crl -inform DER -noout -text | grep -q "$CS" || return 1
	done
}
check "the CRL lists the signer within 5 s" wait_until 5 on_crl
# Each worker serves its CRL from a cache it checks at most once a second (DESIGN.md,
# Revocation: within a second): the device's own fetch may meet any worker, so the second
# since the revocation must be over too, not only the sampled workers' CRLs.
since_revoke_ms() { echo $(( ($(date +%s%N) - REVOKED_NS) / 1000000 )); }
a_second_passed() { [ "$(since_revoke_ms)" -ge 1100 ]; }
check "the second since the revocation is over" wait_until 3 a_second_passed
refused "manifest signed by a revoked signer" "signer certificate is revoked"

# a new signer, and the update goes through
check "a new update signer" latchkeyctl --db "$DB" update-signer --dir "$T/reg" --name release2 \
    --crl-url "$CRL_URL" --out "$T/signer2"
SIGNER=$T/signer2.pem SIGNKEY=$T/signer2.key publish fw-core 2.0-1
upd; rc=$?
cat "$T/upd.err"
check "2.0-1 signed by the new signer installs ($rc)" sh -c "test $rc = 0 && cmp '$MARK' \
    '$UPD/fw-core/fw-core_2.0-1.bin'"
n=$(sql "select count(*) from audit where action = 'update-refused' and subject = '$S'")
check "every refusal was reported and audited in the registry ($n of 11)" test "$n" = 11
check "the device audit log has one line per run" sh -c "test \$(wc -l <'$T/dev/update/audit.jsonl') -ge 13"

# the CRL cannot be fetched (a signer naming a closed port): a cached CRL of the domain CA
# that is still current stands in; without one, nothing is installed (fail closed, exit 1)
check "a signer whose CRL URL is a closed port" latchkeyctl --db "$DB" update-signer \
    --dir "$T/reg" --name nocrl --crl-url "http://127.0.0.1:1/crl" --out "$T/signer3"
SIGNER=$T/signer3.pem SIGNKEY=$T/signer3.key publish fw-core 3.0-1
mv "$T/dev/update/crl.der" "$T/crl-cache.der"
before=$(cat "$MARK")
upd; rc=$?
cat "$T/upd.err"
check "no CRL and none cached: error, exit 1 ($rc)" test "$rc" = 1
check "it says fail closed" grep -q "could not be fetched and no current one is cached" "$T/upd.err"
check "nothing installed" test "$(cat "$MARK")" = "$before"
mv "$T/crl-cache.der" "$T/dev/update/crl.der"
upd; rc=$?
cat "$T/upd.err"
check "with the cached current CRL 3.0-1 installs ($rc)" sh -c "test $rc = 0 && cmp '$MARK' \
    '$UPD/fw-core/fw-core_3.0-1.bin'"

# OCSP (RFC 6960) when no CRL can be had: a signer with an OCSP URL on http-listen
OCSP_URL=http://127.0.0.1:$HPORT/.well-known/latchkey/ocsp
check "a signer with an unreachable CRL and an OCSP URL" latchkeyctl --db "$DB" update-signer \
    --dir "$T/reg" --name ocsp --crl-url "http://127.0.0.1:1/crl" --ocsp-url "$OCSP_URL" \
    --out "$T/signer4"
SIGNER=$T/signer4.pem SIGNKEY=$T/signer4.key publish fw-core 4.0-1
rm -f "$T/dev/update/crl.der"
upd; rc=$?
cat "$T/upd.err"
check "no CRL, OCSP good: 4.0-1 installs ($rc)" sh -c "test $rc = 0 && cmp '$MARK' \
    '$UPD/fw-core/fw-core_4.0-1.bin'"
check "revoke update-signer:ocsp" latchkeyctl --db "$DB" revoke update-signer:ocsp \
    --reason keyCompromise
ocsp_revoked() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		openssl ocsp -url "$OCSP_URL" -issuer "$T/reg/domain-ca.pem" -cert "$T/signer4.pem" \
		    -CAfile "$T/reg/domain-ca.pem" 2>/dev/null | grep -q ': revoked' || return 1
	done
}
check "OCSP says revoked within 5 s" wait_until 5 ocsp_revoked
SIGNER=$T/signer4.pem SIGNKEY=$T/signer4.key publish fw-core 5.0-1
refused "no CRL, OCSP revoked" "revoked (OCSP)"

# updates are for enrolled devices only: no client certificate, no file
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/reg/domain-ca.pem" "$BASE/fw-core/manifest.cms")
check "without an LDevID the update server answers 401 ($code)" test "$code" = 401
it_done

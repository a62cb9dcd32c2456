#!/bin/bash
# The domain CA key and the MASA's voucher-signing key in PKCS#11 tokens (SoftHSM2, issue
# #19), named by RFC 7512 URIs, used through libp11's OpenSSL engine:
#   - `latchkeyctl lab-pki --masa-key pkcs11:...` and `latchkeyctl init --ca-key pkcs11:...`
#     generate the keys inside the tokens (sensitive, never extractable); init writes the
#     URI into latchkeyd.conf; `latchkeyd -n` accepts it;
#   - the MASA (role = masa) and the registrar run with them; a device enrolls on the
#     voucher path (no --ca): the voucher is signed by the token's MASA key (openssl cms
#     -verify, the signer's public key is the token object's), the LDevID verifies against
#     the domain CA (openssl verify), a revocation's CRL is signed by the token's CA key
#     (openssl crl -verify); the CA certificate's public key is the token object's;
#   - afterwards no file anywhere under the test's directories holds either private key
#     (every PEM "PRIVATE KEY" file is compared by public key), and neither key file exists;
#   - the error cases, each a clear one-line start-up error naming what is missing, exit 1 of
#     `latchkeyd -n` and of latchkeyd itself, the PIN never printed: wrong PIN, missing
#     token, missing object, no PIN, a PIN file others may read (refused), a module that
#     is not there, pin-value in the configuration (refused), a token the signer's user
#     cannot use; for the MASA's key a wrong PIN and a token its workers cannot use.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
. "$(dirname "$0")/../tools/softhsm.sh"
softhsm_available || { echo "softhsm2 or libengine-pkcs11-openssl not installed"; exit 77; }
command -v pkcs11-tool >/dev/null || { echo "opensc (pkcs11-tool) not installed"; exit 77; }
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
it_init

# Two tokens, one per key holder: the CA's is used by the signer (signer-user), the MASA's
# by the MASA's workers (user): each token directory belongs to that user when we are root.
CA_PIN=4711-ca
MASA_PIN=4711-masa
softhsm_token "$T/hsm-ca" lk-ca "$CA_PIN" >/dev/null || { echo "softhsm_token failed"; exit 1; }
CA_CONF=$SOFTHSM2_CONF
softhsm_token "$T/hsm-masa" lk-masa "$MASA_PIN" >/dev/null || { echo "softhsm_token failed"; exit 1; }
MASA_CONF=$SOFTHSM2_CONF
CA_URI=$(softhsm_uri "$T/hsm-ca" lk-ca domain-ca)
MASA_URI=$(softhsm_uri "$T/hsm-masa" lk-masa masa)
export SOFTHSM2_CONF=$CA_CONF

# ---- set-up: the keys made inside the tokens ---------------------------------------------
MASA_PORT=$(it_free_port)
MASA_URL=https://127.0.0.1:$MASA_PORT
SOFTHSM2_CONF=$MASA_CONF latchkeyctl lab-pki --out "$T/lab" --devices 2 --masa-url "$MASA_URL" \
    --masa-key "$MASA_URI" --json >"$T/lab.json" 2>"$T/lab.err"
check "lab-pki --masa-key: exit 0" test $? = 0
check "lab-pki --masa-key: JSON names the URI as the MASA key" \
    test "$(jq -r .masa_key "$T/lab.json")" = "$MASA_URI"
check "lab-pki --masa-key: no masa.key written" test ! -e "$T/lab/masa.key"
PORT=$(it_free_port)
latchkeyctl init --domain example.test --dir "$T/reg" --manufacturer-ca \
    "$T/lab/manufacturer-ca.pem" --listen "127.0.0.1:$PORT" --ca-key "$CA_URI" \
    --json >"$T/init.json" 2>"$T/init.err"
check "init --ca-key: exit 0" test $? = 0
cat "$T/init.err"
check "init --ca-key: JSON names the URI as the CA key" \
    test "$(jq -r .domain_ca_key "$T/init.json")" = "$CA_URI"
check "init --ca-key: no domain-ca.key written" test ! -e "$T/reg/domain-ca.key"
check "init --ca-key: latchkeyd.conf names the URI" grep -qxF "ca-key = $CA_URI" "$T/reg/latchkeyd.conf"
privkeys() {	# privkeys CONF TOKEN PIN: the token's private key objects
	SOFTHSM2_CONF=$1 pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$2" --login \
	    --pin "$3" --list-objects --type privkey 2>/dev/null
}
key_locked() {	# key_locked CONF TOKEN PIN LABEL: the private key may never leave the token
	privkeys "$1" "$2" "$3" | grep -A4 "label: *$4\$" |
	    grep -q 'Access: *sensitive, always sensitive, never extractable, local'
}
check "the CA key is in its token: sensitive, never extractable" \
    key_locked "$CA_CONF" lk-ca "$CA_PIN" domain-ca
check "the MASA key is in its token: sensitive, never extractable" \
    key_locked "$MASA_CONF" lk-masa "$MASA_PIN" masa
# token public key = certificate public key
token_pub() {	# token_pub CONF TOKEN LABEL: the public key object as PEM
	SOFTHSM2_CONF=$1 pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$2" --read-object \
	    --type pubkey --label "$3" -o "$T/pub.der" >/dev/null 2>&1 &&
	    openssl pkey -pubin -inform DER -in "$T/pub.der"
}
CA_PUB=$(openssl x509 -in "$T/reg/domain-ca.pem" -noout -pubkey)
MASA_PUB=$(openssl x509 -in "$T/lab/masa.pem" -noout -pubkey)
check "the domain CA certificate's public key is the token object's" \
    test "$(token_pub "$CA_CONF" lk-ca domain-ca)" = "$CA_PUB"
check "the MASA certificate's public key is the token object's" \
    test "$(token_pub "$MASA_CONF" lk-masa masa)" = "$MASA_PUB"
check "init --ca-key: the registrar certificate verifies against the token-signed CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/reg/registrar.pem"

# The token directories belong to the users that sign after their drop (root only).
softhsm_give "$T/hsm-ca" latchkey-signer
softhsm_give "$T/hsm-masa" latchkey

# ---- the MASA and the registrar run with token keys ---------------------------------------
bk_masa_conf "$T/lab/masa.pem" "$MASA_URI"
out=$(SOFTHSM2_CONF=$MASA_CONF latchkeyd -n -f "$T/masa/latchkeyd.conf" 2>&1)
check "latchkeyd -n accepts the MASA's masa-key URI" test $? = 0
echo "$out"
SOFTHSM2_CONF=$MASA_CONF bk_masa_start || exit 1
out=$(latchkeyd -n -f "$T/reg/latchkeyd.conf" 2>&1)
check "latchkeyd -n accepts the registrar's ca-key URI" test $? = 0
echo "$out"
it_registrar || exit 1
S0=$(it_serial 0)
D0=$(it_dev 0)
latchkeyctl masa authorize --serial "$S0" --domain-ca "$T/reg/domain-ca.pem" \
    --masa-db "$T/masa/masa.db" >/dev/null
latchkeyctl --db "$DB" claim "$S0" >/dev/null
latchkey enroll -q --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --out "$T/dev0" 2>"$T/enroll0.err"
rc=$?
cat "$T/enroll0.err"
check "a device enrolls on the voucher path (no --ca)" test "$rc" = 0
check "the LDevID verifies against the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/dev0/ldevid.pem"
check "openssl cms -verify accepts the voucher" openssl cms -verify -inform DER \
    -in "$T/dev0/voucher.cms" -CAfile "$T/lab/manufacturer-ca.pem" -binary -out "$T/v0.json"
openssl cms -cmsout -inform DER -in "$T/dev0/voucher.cms" -print_certs 2>/dev/null |
    awk '/BEGIN CERT/ { n++ } n == 1' >"$T/vsigner.pem"
openssl cms -verify -inform DER -in "$T/dev0/voucher.cms" -noverify -binary \
    -signer "$T/vsigner.pem" -out /dev/null 2>/dev/null
check "the voucher's signer key is the token's MASA key" \
    test "$(openssl x509 -in "$T/vsigner.pem" -noout -pubkey)" = "$MASA_PUB"
SER=$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -serial | cut -d= -f2)
check "revoke the device" latchkeyctl --db "$DB" revoke "$S0" --reason keyCompromise
crl_lists() { openssl crl -inform DER -in "$T/reg/crl.der" -noout -text | grep -q "$SER"; }
check "the CRL lists the LDevID" wait_until 10 crl_lists
check "the CRL verifies against the domain CA (signed by the token's key)" sh -c \
    "openssl crl -inform DER -in '$T/reg/crl.der' -CAfile '$T/reg/domain-ca.pem' -noout 2>&1 |
    grep -q 'verify OK'"
# Only the signers (the workers' children) have the PKCS#11 module mapped: not latchkeyd's
# parent, not its workers. (/proc/PID/maps of the non-dumpable signer needs root.)
maps_have() { grep -q libsofthsm2 "/proc/$1/maps" 2>/dev/null; }
only_signers_map() {
	local w s n=0
	maps_have "$LKD_PID" && return 1
	for w in $(pgrep -P "$LKD_PID"); do
		maps_have "$w" && return 1
		for s in $(pgrep -P "$w"); do maps_have "$s" && n=$((n + 1)); done
	done
	[ "$n" -ge 1 ]
}
if [ "$(id -u)" = 0 ]; then
	check "only the signer processes load the PKCS#11 module" only_signers_map
fi

# The registrar certificate reissued under the token's CA key (--ca-key), while latchkeyd's
# signers use the same token; without --ca-key the missing domain-ca.key is named; a CA
# rollover inside a token is refused with the reason.
out=$(latchkeyctl init --reissue-registrar-cert --dir "$T/reg" 2>&1); rc=$?
check "reissue without --ca-key: exit 1, names the missing key and the token ($out)" \
    sh -c "test $rc = 1 && echo '$out' | grep -q 'domain-ca.key: not there (a domain CA key in a PKCS#11 token'"
out=$(latchkeyctl init --reissue-registrar-cert --dir "$T/reg" --ca-key "$CA_URI" 2>&1); rc=$?
check "reissue --ca-key pkcs11:...: exit 0 ($out)" test "$rc" = 0
check "the reissued registrar certificate verifies against the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/reg/registrar.pem"
check "... and is a new one" sh -c "! cmp -s '$T/reg/registrar.pem' '$T/reg/registrar.pem.old'"
out=$(latchkeyctl --db "$DB" ca-rollover --dir "$T/reg" 2>&1); rc=$?
check "ca-rollover with the CA key in a token: exit 1, says why ($out)" \
    sh -c "test $rc = 1 && echo '$out' | grep -q 'is not rolled over by ca-rollover yet'"
it_stop_registrar
bk_masa_stop

# ---- no file holds either private key -------------------------------------------------------
leaked=""
while IFS= read -r f; do
	p=$(openssl pkey -in "$f" -pubout 2>/dev/null) || continue
	[ "$p" = "$CA_PUB" ] || [ "$p" = "$MASA_PUB" ] && leaked="$leaked $f"
done < <(grep -rl -- '-----BEGIN .*PRIVATE KEY-----' "$T" 2>/dev/null)
check "no PEM private key file of the CA or MASA key anywhere under $T" test -z "$leaked"
[ -n "$leaked" ] && echo "leaked:$leaked"
check "neither domain-ca.key nor masa.key exists" sh -c \
    "test -z \"\$(find '$T' -name domain-ca.key -o -name masa.key)\""
check "the lab's other keys are PEM files (the search above does find keys)" \
    grep -q -- '-----BEGIN PRIVATE KEY-----' "$T/reg/registrar.key"

# ---- error cases: clear start-up errors, exit 1, never the PIN -------------------------------
M=$SOFTHSM_MODULE
(umask 077 && echo "0000-wrong" >"$T/wrong.pin")
printf '%s\n' "$CA_PIN" >"$T/loose.pin"
chmod 0644 "$T/loose.pin"
bad_conf() {	# bad_conf NAME KEYWORD VALUE: a copy of the registrar's config with it replaced
	grep -v "^$2 *=" "$T/reg/latchkeyd.conf" >"$T/reg/$1.conf"
	printf '%s = %s\n' "$2" "$3" >>"$T/reg/$1.conf"
}
no_pin() { ! grep -qe "$CA_PIN" -e "$MASA_PIN" -e 0000-wrong <<<"$1"; }
# expect_fail NAME PATTERN [ENV...]: latchkeyd -n and latchkeyd both exit 1 with PATTERN
expect_fail() {
	local name=$1 pat=$2 out rc
	out=$(env "${@:3}" latchkeyd -n -f "$T/reg/$name.conf" 2>&1); rc=$?
	check "$name: latchkeyd -n exits 1" test "$rc" = 1
	check "$name: latchkeyd -n says: $pat" grep -q -- "$pat" <<<"$out"
	check "$name: one line" test "$(grep -c . <<<"$out")" = 1
	check "$name: no PIN in it" no_pin "$out"
	echo "  -n: $out"
	out=$(env "${@:3}" timeout 30 latchkeyd -d -f "$T/reg/$name.conf" 2>&1); rc=$?
	check "$name: latchkeyd exits 1 at start-up" test "$rc" = 1
	check "$name: latchkeyd says: $pat" grep -q -- "$pat" <<<"$out"
	check "$name: latchkeyd: no PIN in its output" no_pin "$out"
}
bad_conf wrong-pin ca-key "pkcs11:token=lk-ca;object=domain-ca?pin-source=$T/wrong.pin&module-path=$M"
expect_fail wrong-pin "pkcs11:token=lk-ca;object=domain-ca.*: PIN incorrect"
bad_conf no-pin ca-key "pkcs11:token=lk-ca;object=domain-ca?module-path=$M"
expect_fail no-pin "pkcs11:token=lk-ca;object=domain-ca.*: login failed: no PIN given"
bad_conf no-token ca-key "pkcs11:token=lk-gone;object=domain-ca?pin-source=$T/hsm-ca/pin&module-path=$M"
expect_fail no-token "pkcs11:token=lk-gone;object=domain-ca.*: token not found"
bad_conf no-object ca-key "pkcs11:token=lk-ca;object=gone?pin-source=$T/hsm-ca/pin&module-path=$M"
expect_fail no-object "pkcs11:token=lk-ca;object=gone.*: object not found"
bad_conf loose-pin ca-key "pkcs11:token=lk-ca;object=domain-ca?pin-source=$T/loose.pin&module-path=$M"
expect_fail loose-pin "pin-source $T/loose.pin.*\(mode 0644\|readable by user\)"
bad_conf no-module ca-key "pkcs11:token=lk-ca;object=domain-ca?pin-source=$T/hsm-ca/pin&module-path=$T/none.so"
expect_fail no-module "cannot load PKCS#11 module $T/none.so"
bad_conf pin-value ca-key "pkcs11:token=lk-ca;object=domain-ca?pin-value=$CA_PIN&module-path=$M"
expect_fail pin-value "ca-key: pkcs11 URI: pin-value puts the PIN in the configuration"
bad_conf no-conf ca-key "$CA_URI"
# the token directory SOFTHSM2_CONF names is another one: the token is not there
expect_fail no-conf "token not found" SOFTHSM2_CONF="$MASA_CONF"
if [ "$(id -u)" = 0 ]; then
	chown -R root "$T/hsm-ca/tokens"
	cp "$T/reg/latchkeyd.conf" "$T/reg/signer-user.conf"
	expect_fail signer-user "cannot sign as user latchkey-signer"
	chown -R latchkey-signer "$T/hsm-ca/tokens"
fi
# the MASA: a wrong PIN is its start-up error too
sed -e "s#^masa-key = .*#masa-key = pkcs11:token=lk-masa;object=masa?pin-source=$T/wrong.pin\&module-path=$M#" \
    "$T/masa/latchkeyd.conf" >"$T/masa/wrong-pin.conf"
out=$(SOFTHSM2_CONF=$MASA_CONF latchkeyd -n -f "$T/masa/wrong-pin.conf" 2>&1); rc=$?
echo "  -n: $out"
check "MASA wrong PIN: latchkeyd -n exits 1" test "$rc" = 1
check "MASA wrong PIN: says PIN incorrect" grep -q "pkcs11:token=lk-masa;object=masa.*: PIN incorrect" <<<"$out"
check "MASA wrong PIN: no PIN in it" no_pin "$out"
if [ "$(id -u)" = 0 ]; then
	# the MASA's workers sign with its key after their drop: a token they cannot use
	chown -R root "$T/hsm-masa/tokens"
	out=$(SOFTHSM2_CONF=$MASA_CONF timeout 30 latchkeyd -d -f "$T/masa/latchkeyd.conf" 2>&1)
	rc=$?
	check "MASA token unusable by the workers' user: latchkeyd exits 1" test "$rc" = 1
	check "MASA token unusable by the workers' user: says so" grep -q \
	    "masa-key pkcs11:token=lk-masa;object=masa.* cannot sign as user latchkey " <<<"$out"
	chown -R latchkey "$T/hsm-masa/tokens"
fi
# init refuses a pin-value (it would be written into latchkeyd.conf) and an existing key
latchkeyctl init --domain example.test --dir "$T/reg2" --manufacturer-ca \
    "$T/lab/manufacturer-ca.pem" --ca-key "pkcs11:token=lk-ca;object=x?pin-value=$CA_PIN" \
    >"$T/init2.out" 2>&1
check "init --ca-key with pin-value: usage error (exit 2)" test $? = 2
check "init --ca-key with pin-value: the PIN is not echoed" no_pin "$(cat "$T/init2.out")"
SOFTHSM2_CONF=$CA_CONF latchkeyctl init --domain example.test --dir "$T/reg3" --manufacturer-ca \
    "$T/lab/manufacturer-ca.pem" --ca-key "$CA_URI" >"$T/init3.out" 2>&1
check "init --ca-key naming an existing key: refused" test $? = 1
check "init --ca-key naming an existing key: says so" grep -q "exists already" "$T/init3.out"
it_done

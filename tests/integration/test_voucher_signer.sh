#!/bin/bash
# Who may sign a voucher (trust-model issue, item 1; enroll/common/voucher.h): only the
# MASA's signing identity. A "MASA" whose voucher-signing certificate is another device's
# IDevID without an EKU (IEEE 802.1AR allows that, so OpenSSL's S/MIME purpose check does
# not stop it) issues a voucher for device 0 pinning the registrar's domain: refused (the
# registrar relays nothing, the device writes nothing, no binding). The same device then
# enrolls through the real MASA, whose certificate is issued by the MASA CA that lab-pki
# gives devices as masa-anchor.pem.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }

MASA_PORT=$(it_free_port)
MASA_URL=https://127.0.0.1:$MASA_PORT
latchkeyctl lab-pki --out "$T/lab" --devices 2 --masa-url "$MASA_URL" --json >"$T/lab.json" ||
    { echo "lab-pki failed"; exit 1; }
S0=$(it_serial 0); D0=$(it_dev 0)
L=$T/lab

check "masa-anchor.pem is not the manufacturer root" sh -c \
    "! cmp -s '$D0/masa-anchor.pem' '$L/manufacturer-ca.pem'"
check "the masa anchor does not admit an IDevID" sh -c "! openssl verify -partial_chain \
    -CAfile '$D0/masa-anchor.pem' -untrusted '$L/manufacturer-ica.pem' '$D0/idevid.pem' \
    >/dev/null 2>&1"
check "the masa anchor admits the MASA certificate" sh -c "openssl verify -partial_chain \
    -CAfile '$D0/masa-anchor.pem' '$L/masa.pem' >/dev/null 2>&1"

# Another device's IDevID, 802.1AR profile but without an EKU, issued by the IDevID CA.
mkdir -p "$T/evil"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/evil/key.pem" \
    -subj "/serialNumber=LKEVIL000001/CN=LKEVIL000001/O=Latchkey Lab Manufacturer" \
    -out "$T/evil/csr.pem" 2>/dev/null || { echo "evil CSR failed"; exit 1; }
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' \
    >"$T/evil/ext.cnf"
openssl x509 -req -in "$T/evil/csr.pem" -CA "$L/manufacturer-ica.pem" \
    -CAkey "$L/manufacturer-ica.key" -CAcreateserial -days 30 -extfile "$T/evil/ext.cnf" \
    -out "$T/evil/leaf.pem" 2>/dev/null || { echo "evil IDevID failed"; exit 1; }
cat "$T/evil/leaf.pem" "$L/manufacturer-ica.pem" >"$T/evil/idevid.pem"
check "the EKU-less IDevID chains to the manufacturer root" sh -c "openssl verify \
    -CAfile '$L/manufacturer-ca.pem' -untrusted '$L/manufacturer-ica.pem' \
    '$T/evil/leaf.pem' >/dev/null 2>&1"
check "the EKU-less IDevID has no EKU" sh -c \
    "! openssl x509 -in '$T/evil/leaf.pem' -noout -ext extendedKeyUsage | grep -q Usage"

# The rogue MASA: latchkeyd role = masa signing with that IDevID.
bk_masa_conf "$T/evil/idevid.pem" "$T/evil/key.pem"
bk_masa_start || exit 1
it_registrar "masa-retry-after = 1" "masa-timeout = 3" "workers = 1" || exit 1
check "masa authorize $S0" latchkeyctl masa authorize --serial "$S0" \
    --domain-ca "$T/reg/domain-ca.pem" --masa-db "$T/masa/masa.db"
latchkeyctl --db "$DB" claim "$S0" >/dev/null

latchkey enroll --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --timeout 15 --out "$T/dev0" >"$T/e0.out" 2>&1
rc=$?; cat "$T/e0.out"
check "IDevID-signed voucher: enroll exits 1" test "$rc" = 1
check "IDevID-signed voucher: refused as not the MASA" \
    grep -q "voucher is not acceptable: voucher: signer is a device certificate (subject serialNumber), not the MASA" "$T/e0.out"
check "IDevID-signed voucher: no LDevID, no voucher, no pinned CA" \
    test ! -e "$T/dev0/ldevid.pem" -a ! -e "$T/dev0/voucher.cms" -a ! -e "$T/dev0/domain-ca.pem"
check "IDevID-signed voucher: no binding" \
    test "$(sql "SELECT count(*) FROM bindings WHERE serial='$S0'")" = 0
check "IDevID-signed voucher: registrar audit" test \
    "$(sql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND subject='$S0' AND reason LIKE '%not the MASA%'")" -ge 1

# The real MASA: the same device enrolls, its voucher verified under masa-anchor.pem.
bk_masa_stop
bk_masa_conf "$L/masa.pem" "$L/masa.key"
bk_masa_start || exit 1
latchkey enroll --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --timeout 30 --out "$T/dev0" >"$T/e1.out" 2>&1
rc=$?; cat "$T/e1.out"
check "MASA-signed voucher: enroll exits 0" test "$rc" = 0
check "MASA-signed voucher: accepted" grep -q "voucher accepted" "$T/e1.out"
check "MASA-signed voucher: binding active" \
    test "$(sql "SELECT state FROM bindings WHERE serial='$S0'")" = active
check "MASA-signed voucher: verifies under masa-anchor.pem" openssl cms -verify -inform DER \
    -in "$T/dev0/voucher.cms" -CAfile "$D0/masa-anchor.pem" -partial_chain -binary \
    -out /dev/null
check "MASA-signed voucher: verifies under the manufacturer root" openssl cms -verify \
    -inform DER -in "$T/dev0/voucher.cms" -CAfile "$L/manufacturer-ca.pem" -binary \
    -out /dev/null
it_done

#!/bin/bash
# The five-minute tour, checked: lab PKI, domain init, claim, latchkeyd on 127.0.0.1,
# `latchkey enroll`, `latchkeyctl list`; the LDevID verifies with `openssl verify` and has the
# 802.1AR LDevID profile; reenroll adds a certificate to the same binding; an unclaimed device
# is refused; operator pinning by fingerprint works; the audit chain verifies.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 3
S0=$(it_serial 0); D0=$(it_dev 0)
S1=$(it_serial 1); D1=$(it_dev 1)
it_registrar || exit 1
check "claim $S0" latchkeyctl --db "$DB" claim "$S0"

latchkey enroll --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/dev0" >"$T/enroll0.out" 2>&1
check "latchkey enroll exits 0" test $? = 0
cat "$T/enroll0.out"
check "LDevID verifies against the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/dev0/ldevid.pem"
check "LDevID key is mode 0600" test "$(stat -c %a "$T/dev0/ldevid.key")" = 600
openssl x509 -in "$T/dev0/ldevid.pem" -noout -text >"$T/ldevid.txt"
check "subject carries serialNumber $S0" grep -q "serialNumber = $S0" "$T/ldevid.txt"
check "issuer is the domain CA" grep -q "Issuer: .*example.test" "$T/ldevid.txt"
check "EKU clientAuth and serverAuth" grep -q "TLS Web Server Authentication, TLS Web Client Authentication\|TLS Web Client Authentication, TLS Web Server Authentication" "$T/ldevid.txt"
check "hardwareModuleName SAN copied" grep -q "othername" "$T/ldevid.txt"
check "CRL distribution point" grep -q "/.well-known/latchkey/crl" "$T/ldevid.txt"
check "the key matches the certificate" test \
    "$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -pubkey)" = \
    "$(openssl pkey -in "$T/dev0/ldevid.key" -pubout)"

latchkeyctl --db "$DB" list >"$T/list.out"; cat "$T/list.out"
check "list shows the active binding" grep -q "$S0.*active" "$T/list.out"
latchkeyctl --db "$DB" --json list >"$T/list.json"
check "list --json has one binding" test "$(jq '[.bindings[] | select(.serial=="'"$S0"'")] | length' "$T/list.json")" = 1
LSER=$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -serial | cut -d= -f2)
check "registry holds the LDevID serial" test "$(sql "SELECT count(*) FROM certificates WHERE upper(cert_serial)=upper('$LSER')")" = 1
check "audit has the enroll entry" test "$(sql "SELECT count(*) FROM audit WHERE action='enroll' AND subject='$S0'")" = 1

# Re-enrollment with the LDevID: new certificate, same binding.
latchkey reenroll --out "$T/dev0" >"$T/reenroll.out" 2>&1
check "latchkey reenroll exits 0" test $? = 0
cat "$T/reenroll.out"
LSER2=$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -serial | cut -d= -f2)
check "reenroll issued a new certificate" test "$LSER" != "$LSER2"
check "both certificates on one binding" test "$(sql "SELECT count(DISTINCT binding_id) || '/' || count(*) FROM certificates WHERE device_serial='$S0'")" = "1/2"
check "new LDevID verifies" openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/dev0/ldevid.pem"

# An unclaimed device is refused, with a reason, and nothing is written for it.
latchkey enroll --server "$URL" --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/dev1" >"$T/enroll1.out" 2>&1
rc=$?
cat "$T/enroll1.out"
check "unclaimed device: exit 1" test "$rc" = 1
check "unclaimed device: 403 not claimed" grep -q "403.*not claimed" "$T/enroll1.out"
check "unclaimed device: no LDevID written" test ! -e "$T/dev1/ldevid.pem"
check "unclaimed device: refusal audited" test "$(sql "SELECT count(*) FROM audit WHERE action='enroll-refused' AND subject='$S1'")" -ge 1

# Operator pinning of the registrar by fingerprint instead of a CA file.
latchkeyctl --db "$DB" claim "$S1" >/dev/null
FP=sha256:$(openssl x509 -in "$T/reg/registrar.pem" -outform DER | sha256sum | cut -d' ' -f1)
check "enroll with --trust-fingerprint" latchkey enroll --server "$URL" \
    --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" --trust-fingerprint "$FP" \
    --out "$T/dev1"
BAD=sha256:$(printf '%064d' 0)
latchkey enroll --server "$URL" --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" \
    --trust-fingerprint "$BAD" --out "$T/dev1b" >"$T/pin.out" 2>&1
check "a wrong pin is refused" test $? = 1
check "a wrong pin writes nothing" test ! -e "$T/dev1b/ldevid.pem"

check "audit chain verifies" latchkeyctl --db "$DB" audit --verify
check "latchkeyd still running" kill -0 "$LKD_PID"
it_done

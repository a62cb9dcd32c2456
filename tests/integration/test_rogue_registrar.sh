#!/bin/bash
# Who is a registrar (trust-model issue, item 2; DESIGN.md "Trust model"): a registrar's
# certificate carries id-kp-cmcRA (RFC 8995 §5.5, RFC 7030 §3.6.1), an LDevID never does.
# On loopback: a MASA, the domain's real registrar (made by `latchkeyctl init`) and a device
# that enrolled and then runs its own latchkeyd with its LDevID as TLS certificate and key
# (the rogue). Checks:
#   - init's registrar certificate has serverAuth, clientAuth and cmcRA; the LDevID has no
#     cmcRA; enrollment.json keeps the registrar certificate the device accepted;
#   - latchkeyd -n fails on the rogue's configuration and names the re-issue command; a
#     start only warns (the check is the operator's help, not the defence);
#   - (1) the MASA refuses the rogue's registrar-voucher-request, relayed by the rogue
#     latchkeyd for a pledge that talked to it, 403 and no voucher in the MASA database,
#     the refusal audited there; also a nonceless request and requestauditlog;
#   - (2) a pledge pointed at the rogue refuses the provisional TLS peer: no voucher
#     request, no CSR (the rogue's log and registry saw nothing of it), nothing written; the
#     same pledge then enrolls through the real registrar; a fingerprint pin of the rogue's
#     LDevID is refused too;
#   - `latchkey latch` without --remote-id names the registrar's subject only;
#   - the upgrade: a registrar.pem without cmcRA (an older init) is re-issued by
#     `latchkeyctl init --reissue-registrar-cert` with the same subject, SAN and key.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }

MASA_PORT=$(it_free_port)
MASA_URL=https://127.0.0.1:$MASA_PORT
latchkeyctl lab-pki --out "$T/lab" --devices 2 --masa-url "$MASA_URL" --json >"$T/lab.json" ||
    { echo "lab-pki failed"; exit 1; }
S0=$(it_serial 0); D0=$(it_dev 0)	# the device that turns rogue
S1=$(it_serial 1); D1=$(it_dev 1)	# a pledge

bk_masa_start || exit 1
it_registrar "masa-retry-after = 1" "masa-timeout = 3" "workers = 1" || exit 1
MDB=$T/masa/masa.db
msql() { sqlite3 -readonly "$MDB" "$1"; }
latchkeyctl masa authorize --serial "$S0" --serial "$S1" --domain-ca "$T/reg/domain-ca.pem" \
    --masa-db "$MDB" >/dev/null || { echo "masa authorize failed"; exit 1; }
latchkeyctl --db "$DB" claim "$S0" "$S1" >/dev/null
eku() { openssl x509 -in "$1" -noout -ext extendedKeyUsage 2>/dev/null | tail -n +2; }
der64() { openssl x509 -in "$1" -outform DER | base64 -w0; }

# ---- who carries cmcRA --------------------------------------------------------------------
echo "registrar EKU: $(eku "$T/reg/registrar.pem")"
check "init's registrar certificate: cmcRA" sh -c "openssl x509 -in '$T/reg/registrar.pem' \
    -noout -ext extendedKeyUsage | grep -q 'CMC Registration Authority'"
check "init's registrar certificate: serverAuth and clientAuth" sh -c "openssl x509 \
    -in '$T/reg/registrar.pem' -noout -ext extendedKeyUsage | \
    grep -q 'TLS Web Server Authentication, TLS Web Client Authentication'"
check "latchkeyd -n accepts init's registrar certificate" \
    latchkeyd -n -f "$T/reg/latchkeyd.conf"

# The device enrolls through the real registrar (voucher path) and becomes the rogue.
check "device 0 enrolls (voucher path)" latchkey enroll -q --server "$URL" \
    --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" --out "$T/dev0"
echo "LDevID EKU: $(eku "$T/dev0/ldevid.pem")"
check "the LDevID has no cmcRA" sh -c "! openssl x509 -in '$T/dev0/ldevid.pem' -noout \
    -ext extendedKeyUsage | grep -q 'CMC Registration Authority'"
check "enrollment.json keeps the registrar certificate" test \
    "$(jq -r .registrar_cert "$T/dev0/enrollment.json")" = "$(der64 "$T/reg/registrar.pem")"

# ---- the rogue: its own latchkeyd with the LDevID as TLS certificate and key ---------------
RPORT=$(it_free_port)
while [ "$RPORT" = "$PORT" ] || [ "$RPORT" = "$MASA_PORT" ]; do RPORT=$(it_free_port); done
RURL=https://127.0.0.1:$RPORT
latchkeyctl init --domain rogue.test --dir "$T/rogue" \
    --manufacturer-ca "$T/lab/manufacturer-ca.pem" --listen "127.0.0.1:$RPORT" >/dev/null ||
    { echo "rogue init failed"; exit 1; }
sed -i -e "s|^tls-cert = .*|tls-cert = $T/dev0/ldevid.pem|" \
    -e "s|^tls-key = .*|tls-key = $T/dev0/ldevid.key|" "$T/rogue/latchkeyd.conf"
printf 'workers = 1\nmasa-timeout = 3\nmasa-retry-after = 1\n' >>"$T/rogue/latchkeyd.conf"
# its workers (user latchkey when started as root) read the TLS key again to reach the MASA,
# as init's registrar.key allows them to (latchkeyd(8), PRIVILEGES)
if [ "$(id -u)" = 0 ] && id -u latchkey >/dev/null 2>&1; then
	chgrp latchkey "$T/dev0" "$T/dev0/ldevid.key" && chmod g+rx "$T/dev0" &&
	    chmod 0640 "$T/dev0/ldevid.key"
fi
RDB=$T/rogue/registry.db
rsql() { sqlite3 -readonly "$RDB" "$1"; }
latchkeyctl --db "$RDB" claim "$S1" >/dev/null	# it would relay and enroll S1

latchkeyd -n -f "$T/rogue/latchkeyd.conf" >"$T/rogue-n.out" 2>&1
rc=$?
cat "$T/rogue-n.out"
check "latchkeyd -n: an LDevID as tls-cert fails" test "$rc" = 1
check "latchkeyd -n: says cmcRA is missing" grep -q "lacks id-kp-cmcRA" "$T/rogue-n.out"
check "latchkeyd -n: names the re-issue command" \
    grep -q "latchkeyctl init --reissue-registrar-cert --dir $T/dev0" "$T/rogue-n.out"

latchkeyd -d -v -f "$T/rogue/latchkeyd.conf" >>"$T/rogue.log" 2>&1 &
ROGUE_PID=$!
IT_PIDS+=("$ROGUE_PID")
rogue_up() { curl -sk -o /dev/null "$RURL/.well-known/est/cacerts"; }
wait_until 10 rogue_up || { echo "rogue latchkeyd not up:"; cat "$T/rogue.log"; exit 1; }
check "the rogue latchkeyd's start warns (not silent)" grep -q "warning: .*lacks id-kp-cmcRA" "$T/rogue.log"

# ---- (1) the MASA refuses the rogue --------------------------------------------------------
# A pledge that accepted the rogue (an older agent): its voucher-request names the rogue's
# LDevID as proximity-registrar-cert; the rogue relays it to the MASA.
# (As bk_pvr, with the IDevID's issuing CA in the CMS so the MASA can chain the signer.)
printf '{"ietf-voucher-request:voucher":{"created-on":"%s","assertion":"proximity","serial-number":"%s","nonce":"%s","proximity-registrar-cert":"%s"}}' \
    "$(bk_now)" "$S1" "nonce-rogue-1" "$(der64 "$T/dev0/ldevid.pem")" >"$T/pvr1.json"
openssl cms -sign -in "$T/pvr1.json" -signer "$D1/idevid.pem" -inkey "$D1/idevid.key" \
    -certfile "$T/lab/manufacturer-ica.pem" -econtent_type "$VOUCHER_OID" -nodetach -binary \
    -outform DER -out "$T/pvr1.cms" || { echo "cms -sign failed"; exit 1; }
st=$(curl -sk --cert "$D1/idevid.pem" --key "$D1/idevid.key" -H "Content-Type: $VOUCHER_CT" \
    --data-binary @"$T/pvr1.cms" -o "$T/rogue-vr.body" -w '%{http_code}' \
    "$RURL/.well-known/brski/requestvoucher")
echo "rogue relay: HTTP $st: $(head -c 300 "$T/rogue-vr.body")"
check "rogue relay: no voucher for the pledge" test "$st" != 200
check "rogue relay: the MASA answered 403 for cmcRA" grep -q "403.*lacks id-kp-cmcRA" "$T/rogue.log"
check "MASA log: refused, not a registrar" grep -q "refused voucher-refused for $S1.*lacks id-kp-cmcRA" "$T/masa.log"
check "MASA database: no voucher for the pledge" test \
    "$(msql "SELECT count(*) FROM vouchers WHERE serial='$S1'")" = 0
check "MASA database: the refusal is audited" test \
    "$(msql "SELECT count(*) FROM audit WHERE subject='$S1' AND action='voucher-refused' AND reason LIKE '%cmcRA%'")" = 1
check "MASA database: audited with the rogue's fingerprint" sh -c "sqlite3 -readonly '$MDB' \
    \"SELECT details FROM audit WHERE subject='$S1' AND action='voucher-refused'\" | \
    grep -q '$(openssl x509 -in "$T/dev0/ldevid.pem" -outform DER | sha256sum | cut -d' ' -f1)'"

# Straight to the MASA with the LDevID: a nonceless voucher, the domain's audit log.
bk_rvr "$S1" "" "$T/dev0/ldevid.pem" "$T/dev0/ldevid.key" "$T/rvr-nl.cms"
bk_post_masa "$T/rvr-nl.cms" "$T/dev0/ldevid.pem" "$T/dev0/ldevid.key" requestvoucher >"$T/m1.out"
check "MASA: nonceless request signed by an LDevID: 403" test "$(head -1 "$T/m1.out")" = 403
check "MASA: the answer says why" grep -q "lacks id-kp-cmcRA" "$T/m1.out"
bk_rvr "$S0" "" "$T/dev0/ldevid.pem" "$T/dev0/ldevid.key" "$T/rvr-al.cms"
bk_post_masa "$T/rvr-al.cms" "$T/dev0/ldevid.pem" "$T/dev0/ldevid.key" requestauditlog >"$T/m2.out"
check "MASA: requestauditlog by an LDevID: 403" test "$(head -1 "$T/m2.out")" = 403
check "MASA: no events leave" sh -c "! grep -q events '$T/m2.out'"
check "MASA database: still no voucher for the pledge" test \
    "$(msql "SELECT count(*) FROM vouchers WHERE serial='$S1'")" = 0
# The real registrar, same request shape: the MASA's audit log is there for it.
bk_rvr "$S0" "" "$T/reg/registrar.pem" "$T/reg/registrar.key" "$T/rvr-al2.cms"
bk_post_masa "$T/rvr-al2.cms" "$T/reg/registrar.pem" "$T/reg/registrar.key" requestauditlog >"$T/m3.out"
check "MASA: requestauditlog by the registrar: 200" test "$(head -1 "$T/m3.out")" = 200

# ---- (2) a pledge pointed at the rogue refuses it ------------------------------------------
log_mark=$(stat -c %s "$T/rogue.log")
masa_mark=$(stat -c %s "$T/masa.log")
raudit=$(rsql "SELECT count(*) FROM audit")
latchkey enroll -v --server "$RURL" --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" \
    --out "$T/dev1r" >"$T/e1r.out" 2>&1
rc=$?
cat "$T/e1r.out"
check "pledge at the rogue: enroll fails" test "$rc" = 1
check "pledge at the rogue: says the peer is not a registrar" \
    grep -q "lacks id-kp-cmcRA.*not a registrar" "$T/e1r.out"
check "pledge at the rogue: no voucher request, no CSR sent" sh -c "! grep -Eq \
    'requestvoucher|simpleenroll|voucher accepted' '$T/e1r.out'"
check "pledge at the rogue: nothing written" test ! -e "$T/dev1r/voucher.cms" -a \
    ! -e "$T/dev1r/ldevid.pem" -a ! -e "$T/dev1r/domain-ca.pem"
sleep 0.3	# let the rogue's worker log what it saw (nothing, we check)
tail -c +"$((log_mark + 1))" "$T/rogue.log" >"$T/rogue-seen.log"
echo "rogue log since: $(wc -l <"$T/rogue-seen.log") line(s)"; cat "$T/rogue-seen.log"
check "rogue's log: no voucher request, no CSR, no serial" sh -c "! grep -Eq \
    'voucher|enroll|csr|$S1' '$T/rogue-seen.log'"
check "rogue's registry: nothing new (audit rows)" test "$(rsql "SELECT count(*) FROM audit")" = "$raudit"
check "rogue's registry: no binding, no voucher" test \
    "$(rsql "SELECT (SELECT count(*) FROM bindings) + (SELECT count(*) FROM vouchers)")" = 0
check "MASA saw nothing of it" sh -c "! tail -c +$((masa_mark + 1)) '$T/masa.log' | grep -q '$S1'"

# Pinned by fingerprint (an operator's mistake) the LDevID is still no registrar.
fp=sha256:$(openssl x509 -in "$T/dev0/ldevid.pem" -outform DER | sha256sum | cut -d' ' -f1)
latchkey enroll --server "$RURL" --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" \
    --trust-fingerprint "$fp" --out "$T/dev1p" >"$T/e1p.out" 2>&1
rc=$?
cat "$T/e1p.out"
check "pinned rogue: refused" test "$rc" = 1 -a ! -e "$T/dev1p/ldevid.pem"
check "pinned rogue: not a registrar" grep -q "lacks id-kp-cmcRA" "$T/e1p.out"

# The same pledge enrolls through the real registrar.
latchkey enroll -v --server "$URL" --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" \
    --out "$T/dev1" >"$T/e1.out" 2>&1
rc=$?
check "the pledge enrolls through the real registrar" test "$rc" = 0
check "... with a voucher" grep -q "voucher accepted" "$T/e1.out"
check "... its LDevID verifies under the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/dev1/ldevid.pem"
check "... the MASA issued exactly its voucher" test \
    "$(msql "SELECT count(*) FROM vouchers WHERE serial='$S1'")" = 1
check "... the MASA names the real registrar" test \
    "$(msql "SELECT registrar_fp FROM vouchers WHERE serial='$S1'")" = \
    "sha256:$(openssl x509 -in "$T/reg/registrar.pem" -outform DER | sha256sum | cut -d' ' -f1)"

# ---- latch: without --remote-id, only the registrar's identity -------------------------------
latchkey latch --peer 127.0.0.1 --ldevid "$T/dev1" --vici "unix://$T/no-charon.vici" \
    --timeout 1 >"$T/latch.out" 2>&1
cat "$T/latch.out"
check "latch: the default peer identity is the registrar's subject" \
    grep -q 'accepting only the registrar "CN=registrar.example.test"' "$T/latch.out"
jq 'del(.registrar_cert)' "$T/dev1/enrollment.json" >"$T/meta.tmp"
mkdir -p "$T/dev1old"
cp "$T/dev1/ldevid.pem" "$T/dev1/ldevid.key" "$T/dev1/domain-ca.pem" "$T/dev1old/"
cp "$T/meta.tmp" "$T/dev1old/enrollment.json"
latchkey latch --peer 127.0.0.1 --ldevid "$T/dev1old" --vici "unix://$T/no-charon.vici" \
    --timeout 1 >"$T/latch2.out" 2>&1
rc=$?
cat "$T/latch2.out"
check "latch: an older enrollment without the registrar certificate is refused" test "$rc" = 1
check "latch: ... naming --remote-id and reenroll" sh -c \
    "grep -q 'remote-id' '$T/latch2.out' && grep -q reenroll '$T/latch2.out'"
# An enrollment.json whose registrar_cert is an LDevID (edited by the rogue): refused.
jq --arg c "$(der64 "$T/dev0/ldevid.pem")" '.registrar_cert = $c' "$T/dev1/enrollment.json" \
    >"$T/dev1old/enrollment.json"
latchkey latch --peer 127.0.0.1 --ldevid "$T/dev1old" --vici "unix://$T/no-charon.vici" \
    --timeout 1 >"$T/latch3.out" 2>&1
cat "$T/latch3.out"
check "latch: an LDevID as the saved registrar is refused" grep -q "lacks id-kp-cmcRA" "$T/latch3.out"

# ---- the upgrade: a registrar certificate from an older init --------------------------------
OPORT=$(it_free_port)
latchkeyctl init --domain old.test --dir "$T/old" --manufacturer-ca "$T/lab/manufacturer-ca.pem" \
    --listen "127.0.0.1:$OPORT" >/dev/null || { echo "old init failed"; exit 1; }
# What the older init made: the same certificate with EKU serverAuth, clientAuth only.
san=$(openssl x509 -in "$T/old/registrar.pem" -noout -ext subjectAltName | tail -n +2 |
    sed 's/IP Address:/IP:/g; s/^ *//')
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n' \
    "$san" >"$T/old.ext"
openssl x509 -x509toreq -in "$T/old/registrar.pem" -signkey "$T/old/registrar.key" \
    -out "$T/old.csr" 2>/dev/null
openssl x509 -req -in "$T/old.csr" -CA "$T/old/domain-ca.pem" -CAkey "$T/old/domain-ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$T/old.ext" \
    -out "$T/old/registrar.pem" 2>/dev/null
check "older registrar certificate: no cmcRA" sh -c "! openssl x509 -in '$T/old/registrar.pem' \
    -noout -ext extendedKeyUsage | grep -q 'CMC Registration Authority'"
latchkeyd -n -f "$T/old/latchkeyd.conf" >"$T/old-n.out" 2>&1
rc=$?
cat "$T/old-n.out"
check "upgrade: latchkeyd -n fails on it" test "$rc" = 1
check "upgrade: ... naming the command for this directory" \
    grep -q "latchkeyctl init --reissue-registrar-cert --dir $T/old" "$T/old-n.out"
latchkeyctl init --reissue-registrar-cert --dir "$T/old" --json >"$T/reissue.json"
check "upgrade: re-issue exits 0" test $? = 0
check "upgrade: names both files" test "$(jq -r .tls_cert "$T/reissue.json")/$(jq -r .old_tls_cert "$T/reissue.json")" = \
    "$T/old/registrar.pem/$T/old/registrar.pem.old"
check "upgrade: the new certificate has cmcRA" sh -c "openssl x509 -in '$T/old/registrar.pem' \
    -noout -ext extendedKeyUsage | grep -q 'CMC Registration Authority'"
check "upgrade: same subject and SAN" test \
    "$(openssl x509 -in "$T/old/registrar.pem" -noout -subject -ext subjectAltName)" = \
    "$(openssl x509 -in "$T/old/registrar.pem.old" -noout -subject -ext subjectAltName)"
check "upgrade: same key" test \
    "$(openssl x509 -in "$T/old/registrar.pem" -noout -pubkey)" = \
    "$(openssl x509 -in "$T/old/registrar.pem.old" -noout -pubkey)"
check "upgrade: verifies under the domain CA" \
    openssl verify -CAfile "$T/old/domain-ca.pem" "$T/old/registrar.pem"
check "upgrade: latchkeyd -n accepts it" latchkeyd -n -f "$T/old/latchkeyd.conf"
check "upgrade: re-issue wants --dir only" sh -c "latchkeyctl init --reissue-registrar-cert \
    --dir '$T/old' --domain x.test >/dev/null 2>&1; test \$? = 2"

it_done

#!/bin/bash
# Renewal with a deploy hook (issue #17), and supersession of the old LDevID.
#   - `latchkey reenroll --deploy-hook CMD` runs CMD once, after the new LDevID, key (0600)
#     and CA are in place, with their paths and the serials in LATCHKEY_* variables; the
#     hook's stdout does not reach latchkey's stdout (--json stays one object);
#   - the agent then uses the new LDevID once: the registrar revokes the old one with
#     reason superseded (audited with both serials), the binding stays active, exactly one
#     LDevID of the device stays unrevoked; `latchkeyctl show`, the CRL file and OCSP say
#     so; the old LDevID is refused from then on and cannot harm the new one;
#   - two simpleenrolls with the IDevID (a resumed onboarding): using the older one
#     revokes nothing, the first use of the newer one revokes the older;
#   - a failing, or timed out, hook: a warning, exit status 5, the new LDevID installed;
#   - `latchkey onboard --deploy-hook` records the hook in onboard.json and
#     `latchkey onboard --renew` runs it (exit 5 when it fails).
. "$(dirname "$0")/lib.sh"
it_init
it_pki 2
S=$(it_serial 0); D=$(it_dev 0)
S1=$(it_serial 1); D1=$(it_dev 1)
it_registrar || exit 1
latchkeyctl --db "$DB" claim "$S" >/dev/null
latchkeyctl --db "$DB" claim "$S1" >/dev/null

serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
unrevoked() { sql "SELECT group_concat(cert_serial, ',') FROM (SELECT cert_serial FROM certificates WHERE device_serial='$1' AND coalesce(revoked_at, 0) = 0 ORDER BY cert_serial)"; }
ocsp() {	# ocsp CERT OUT: our responder's answer about CERT, checked by openssl
	openssl ocsp -issuer "$T/reg/domain-ca.pem" -cert "$1" -reqout "$2.req" >/dev/null 2>&1
	curl -sS --cacert "$T/reg/domain-ca.pem" -H 'Content-Type: application/ocsp-request' \
	    --data-binary @"$2.req" -o "$2.resp" "$URL/.well-known/latchkey/ocsp"
	openssl ocsp -respin "$2.resp" -reqin "$2.req" -CAfile "$T/reg/domain-ca.pem" >"$2" 2>&1
	openssl ocsp -respin "$2.resp" -issuer "$T/reg/domain-ca.pem" -cert "$1" -no_nonce \
	    -CAfile "$T/reg/domain-ca.pem" >>"$2" 2>&1
}
crl_lists() { openssl crl -inform DER -in "$T/reg/crl.der" -noout -text 2>/dev/null | grep -q "$1"; }

# The hook records its LATCHKEY_* environment and what the files held when it ran.
cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
n=$(cat "$HOOKLOG.count" 2>/dev/null || echo 0)
echo $((n + 1)) >"$HOOKLOG.count"
env | grep '^LATCHKEY_' | sort >"$HOOKLOG.env"
openssl x509 -in "$LATCHKEY_LDEVID_CERT" -noout -serial | cut -d= -f2 >"$HOOKLOG.cert"
stat -c %a "$LATCHKEY_LDEVID_KEY" >"$HOOKLOG.keymode"
if [ "$(openssl x509 -in "$LATCHKEY_LDEVID_CERT" -noout -pubkey)" = \
    "$(openssl pkey -in "$LATCHKEY_LDEVID_KEY" -pubout)" ]; then echo yes; else echo no; fi \
    >"$HOOKLOG.keymatch"
openssl verify -CAfile "$LATCHKEY_CA" "$LATCHKEY_LDEVID_CERT" >"$HOOKLOG.verify" 2>&1
ls "$LATCHKEY_DIR" >"$HOOKLOG.ls"
echo "hook output on stdout"
EOF
chmod 0755 "$T/hook.sh"
hookvar() { sed -n "s/^$2=//p" "$T/$1.env"; }

# ---- reenroll with a deploy hook -----------------------------------------------------
latchkey enroll -q --server "$URL" --idevid "$D/idevid.pem" --idevid-key "$D/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/dev" || { echo "enroll failed"; exit 1; }
OLD=$(serial_of "$T/dev/ldevid.pem")
cp -a "$T/dev" "$T/old"		# the old LDevID and key, to try them afterwards
echo "LATCHKEY_DHCP_CLIENT_ID=01aabbccddeeff" >"$T/dhcp.env"	# for the Kea hook's class
HOOKLOG=$T/h1 latchkey reenroll --out "$T/dev" --deploy-hook "$T/hook.sh" --json \
    --dhcp-env "$T/dhcp.env" >"$T/re1.json" 2>"$T/re1.err"; rc=$?
cat "$T/re1.err"; cat "$T/re1.json"
NEW=$(serial_of "$T/dev/ldevid.pem")
DIR=$(realpath "$T/dev")
check "reenroll with a deploy hook: exit 0" test "$rc" = 0
check "a new LDevID ($OLD -> $NEW)" test -n "$NEW" -a "$OLD" != "$NEW"
check "the hook ran once" test "$(cat "$T/h1.count")" = 1
check "the hook's stdout went to stderr" grep -q "hook output on stdout" "$T/re1.err"
check "stdout is one JSON object" test "$(jq -c . "$T/re1.json" | wc -l)" = 1
check "LATCHKEY_DIR" test "$(hookvar h1 LATCHKEY_DIR)" = "$DIR"
check "LATCHKEY_LDEVID_CERT" test "$(hookvar h1 LATCHKEY_LDEVID_CERT)" = "$DIR/ldevid.pem"
check "LATCHKEY_LDEVID_KEY" test "$(hookvar h1 LATCHKEY_LDEVID_KEY)" = "$DIR/ldevid.key"
check "LATCHKEY_CA" test "$(hookvar h1 LATCHKEY_CA)" = "$DIR/domain-ca.pem"
check "LATCHKEY_SERIAL" test "$(hookvar h1 LATCHKEY_SERIAL)" = "$S"
check "LATCHKEY_LDEVID_SERIAL is the new serial" test "$(hookvar h1 LATCHKEY_LDEVID_SERIAL)" = "$NEW"
check "LATCHKEY_OLD_LDEVID_SERIAL is the old serial" test "$(hookvar h1 LATCHKEY_OLD_LDEVID_SERIAL)" = "$OLD"
check "LATCHKEY_NOT_AFTER is the new notAfter" test "$(hookvar h1 LATCHKEY_NOT_AFTER)" = "$(jq -r .not_after "$T/re1.json")"
check "LATCHKEY_NOT_AFTER matches the certificate" test \
    "$(date -u -d "$(openssl x509 -in "$T/dev/ldevid.pem" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)" = "$(hookvar h1 LATCHKEY_NOT_AFTER)"
check "the hook saw the new LDevID in place" test "$(cat "$T/h1.cert")" = "$NEW"
check "the hook saw the key at mode 0600" test "$(cat "$T/h1.keymode")" = 600
check "the hook saw key and certificate matching" test "$(cat "$T/h1.keymatch")" = yes
check "the hook saw an LDevID that verifies against LATCHKEY_CA" grep -q ": OK" "$T/h1.verify"
check "no staged or temporary files were left for the hook" sh -c "! grep -qE '\\.new|\\.tmp' '$T/h1.ls'"
check "JSON: old_ldevid_serial, confirmed, superseded, deploy_hook" test \
    "$(jq -r '[.old_ldevid_serial, .confirmed, (.superseded | join(",")), .deploy_hook.ok, .deploy_hook.result] | join(" ")' "$T/re1.json")" = "$OLD true $OLD true exited 0"
check "stderr says the registrar confirmed and revoked the old one" grep -q "confirmed LDevID $NEW; revoked as superseded: $OLD" "$T/re1.err"

# ---- the registry, show, CRL and OCSP after the confirmation -------------------------
check "exactly one unrevoked LDevID, the new one" test "$(unrevoked "$S")" = "$NEW"
check "the old one revoked with reason superseded" test "$(sql "SELECT reason FROM certificates WHERE cert_serial='$OLD' AND revoked_at > 0")" = superseded
check "the binding stays active" test "$(sql "SELECT group_concat(state) FROM bindings WHERE serial='$S'")" = active
check "one binding, two certificates" test "$(sql "SELECT count(DISTINCT binding_id) || '/' || count(*) FROM certificates WHERE device_serial='$S'")" = 1/2
check "audited once, with both serials" test "$(sql "SELECT count(*) FROM audit WHERE action='ldevid-superseded' AND subject='$S' AND reason='superseded' AND details LIKE '%$OLD%' AND details LIKE '%$NEW%'")" = 1
latchkeyctl --db "$DB" --json show "$S" >"$T/show.json"
check "show --json: binding active, old superseded, new unrevoked" test \
    "$(jq -r '.bindings[0].state + " " + ([.bindings[0].certificates[] | .serial + ":" + (.reason // "valid")] | sort | join(","))' "$T/show.json")" = \
    "active $(printf '%s\n' "$NEW:valid" "$OLD:superseded" | sort | paste -sd,)"
latchkeyctl --db "$DB" show "$S" >"$T/show.txt"
check "show: the supersession in the audit history" grep -q "ldevid-superseded" "$T/show.txt"
check "latchkeyctl list: still active" grep -q "$S.*active" <(latchkeyctl --db "$DB" list)
# The Kea hook's revoked class, by its own query (dhcp-hook/revoked_db.h): not this device.
KEAQ=$(sed -n '/#define REVOKED_DB_QUERY/,/ORDER BY/p' "$LK_TOP/dhcp-hook/revoked_db.h" |
    grep -o '"[^"]*"' | tr -d '"' | tr -d '\n')
check "the device's client-id was reported" test "$(sql "SELECT serial FROM netids WHERE value='01aabbccddeeff'")" = "$S"
check "a superseded LDevID keeps the device out of the Kea hook's revoked class" test -z "$(sql "$KEAQ")"
check "the CRL file lists the old serial" wait_until 10 crl_lists "$OLD"
openssl crl -in "$T/reg/crl.der" -inform DER -noout -text >"$T/crl.txt" 2>&1
check "the CRL gives reason Superseded" grep -q "Superseded" "$T/crl.txt"
check "the CRL does not list the new serial" sh -c "! grep -q '$NEW' '$T/crl.txt'"
check "the CRL verifies" sh -c "openssl crl -inform DER -in '$T/reg/crl.der' -CAfile '$T/reg/domain-ca.pem' -noout 2>&1 | grep -q 'verify OK'"
ocsp "$T/old/ldevid.pem" "$T/ocsp-old"
check "OCSP: the old LDevID revoked, superseded" sh -c "grep -q 'Response verify OK' '$T/ocsp-old' && grep -q ': revoked' '$T/ocsp-old' && grep -q 'Reason: superseded' '$T/ocsp-old'"
ocsp "$T/dev/ldevid.pem" "$T/ocsp-new"
check "OCSP: the new LDevID good" sh -c "grep -q 'Response verify OK' '$T/ocsp-new' && grep -q ': good' '$T/ocsp-new'"

# ---- the old LDevID after the renewal: refused, and harmless -------------------------
latchkey status --out "$T/old" --json >"$T/st-old.json"; rc=$?
check "status with the old LDevID: exit 3, revoked: superseded" test \
    "$rc $(jq -r '.reason' "$T/st-old.json")" = "3 superseded"
latchkey status --out "$T/old" >"$T/st-old.txt"
check "status with the old LDevID says superseded" grep -q "this LDevID REVOKED by domain example.test at .*: superseded" "$T/st-old.txt"
latchkey reenroll --out "$T/old" >"$T/re-old.out" 2>&1; rc=$?
check "reenroll with the old LDevID: refused (exit 1, 403)" sh -c "test $rc = 1 && grep -q 403 '$T/re-old.out'"
check "the new LDevID is still the one unrevoked" test "$(unrevoked "$S")" = "$NEW"
latchkey status --out "$T/dev" >/dev/null
check "status with the new LDevID: exit 0" test $? = 0
check "no more supersessions" test "$(sql "SELECT count(*) FROM audit WHERE action='ldevid-superseded'")" = 1

# ---- resumed onboarding: two simpleenrolls with the IDevID ---------------------------
for x in a b; do
	latchkey enroll -q --server "$URL" --idevid "$D1/idevid.pem" \
	    --idevid-key "$D1/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/s1$x" ||
	    echo "enroll $x failed"
done
A=$(serial_of "$T/s1a/ldevid.pem"); B=$(serial_of "$T/s1b/ldevid.pem")
check "two LDevIDs on one binding, both unrevoked" test \
    "$(sql "SELECT count(DISTINCT binding_id) FROM certificates WHERE device_serial='$S1'") $(unrevoked "$S1")" = \
    "1 $(printf '%s\n' "$A" "$B" | sort | paste -sd,)"
latchkey status --out "$T/s1a" >/dev/null; rc=$?
check "using the older LDevID: still active (exit 0)" test "$rc" = 0
check "... and it revokes nothing (the newer stays)" test "$(unrevoked "$S1")" = "$(printf '%s\n' "$A" "$B" | sort | paste -sd,)"
latchkey status --out "$T/s1b" >/dev/null; rc=$?
check "first use of the newer LDevID: exit 0" test "$rc" = 0
check "... revokes the older: exactly one unrevoked" test "$(unrevoked "$S1")" = "$B"
check "... reason superseded" test "$(sql "SELECT reason FROM certificates WHERE cert_serial='$A'")" = superseded
check "... the binding stays active" test "$(sql "SELECT group_concat(state) FROM bindings WHERE serial='$S1'")" = active
check "the CRL file lists $A" wait_until 10 crl_lists "$A"

# ---- a failing hook, a hook that runs too long ---------------------------------------
P=$(serial_of "$T/dev/ldevid.pem")
latchkey reenroll --out "$T/dev" --deploy-hook 'echo failing >&2; exit 3' >"$T/re2.out" 2>&1; rc=$?
cat "$T/re2.out"
Q=$(serial_of "$T/dev/ldevid.pem")
check "failing hook: exit 5" test "$rc" = 5
check "failing hook: a warning with its status" grep -q "warning: deploy hook failed: exited 3" "$T/re2.out"
check "failing hook: the new LDevID is installed" test "$Q" != "$P"
check "failing hook: key and certificate match" test \
    "$(openssl x509 -in "$T/dev/ldevid.pem" -noout -pubkey)" = "$(openssl pkey -in "$T/dev/ldevid.key" -pubout)"
check "failing hook: still confirmed, one unrevoked LDevID" test "$(unrevoked "$S")" = "$Q"
start=$(date +%s)
latchkey reenroll --out "$T/dev" --deploy-hook "echo \$\$ >'$T/slow.pid'; exec sleep 60" \
    --deploy-hook-timeout 1 >"$T/re3.out" 2>&1; rc=$?
secs=$(( $(date +%s) - start ))
cat "$T/re3.out"
check "hook past its timeout: exit 5 after ${secs}s (< 20)" test "$rc" = 5 -a "$secs" -lt 20
check "hook past its timeout: says so" grep -q "timed out after 1 s" "$T/re3.out"
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*zombie' "/proc/$1/status" 2>/dev/null; }
check "hook past its timeout: killed, nothing left behind" wait_until 5 gone "$(cat "$T/slow.pid")"
check "--deploy-hook is not an enroll option (exit 2)" sh -c "latchkey enroll --server '$URL' \
    --idevid '$D/idevid.pem' --idevid-key '$D/idevid.key' --out '$T/x' --deploy-hook true \
    >/dev/null 2>&1; test \$? = 2"

# ---- onboard: the hook recorded in the state file, run by --renew --------------------
# A state directory as onboarding leaves it (the voucher path itself is test_brski's).
latchkey enroll -q --force --server "$URL" --idevid "$D/idevid.pem" \
    --idevid-key "$D/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/sd" || echo "enroll sd failed"
echo '{"version": 1, "state": "bound"}' >"$T/sd/onboard.json"
latchkey onboard --state-dir "$T/sd" --deploy-hook "$T/hook.sh" >"$T/ob1.out" 2>&1; rc=$?
cat "$T/ob1.out"
check "onboard --deploy-hook when bound: exit 0" test "$rc" = 0
check "the hook is recorded in onboard.json" test "$(jq -r .deploy_hook "$T/sd/onboard.json")" = "$T/hook.sh"
O1=$(serial_of "$T/sd/ldevid.pem")
HOOKLOG=$T/h2 latchkey onboard --renew --force --state-dir "$T/sd" --json >"$T/ob2.json" \
    2>"$T/ob2.err"; rc=$?
cat "$T/ob2.err"; cat "$T/ob2.json"
O2=$(serial_of "$T/sd/ldevid.pem")
check "onboard --renew: exit 0, renewed" test "$rc $(jq -r .result "$T/ob2.json")" = "0 renewed"
check "onboard --renew ran the recorded hook once" test "$(cat "$T/h2.count" 2>/dev/null)" = 1
check "... with the new and the old serial" test \
    "$(hookvar h2 LATCHKEY_LDEVID_SERIAL) $(hookvar h2 LATCHKEY_OLD_LDEVID_SERIAL)" = "$O2 $O1"
check "... and the state directory's files" test "$(hookvar h2 LATCHKEY_LDEVID_KEY)" = "$(realpath "$T/sd")/ldevid.key"
check "onboard --renew: JSON deploy_hook ok" test "$(jq -r .deploy_hook.ok "$T/ob2.json")" = true
check "onboard --renew: the old LDevID superseded" test "$(sql "SELECT reason FROM certificates WHERE cert_serial='$O1'")" = superseded
check "onboard --renew: exactly one unrevoked LDevID" test "$(unrevoked "$S")" = "$O2"
latchkey onboard --renew --force --state-dir "$T/sd" --deploy-hook 'exit 7' --json \
    >"$T/ob3.json" 2>"$T/ob3.err"; rc=$?
cat "$T/ob3.err"
O3=$(serial_of "$T/sd/ldevid.pem")
check "onboard --renew with a failing hook: exit 5" test "$rc" = 5
check "... the warning says how" grep -q "warning: deploy hook failed: exited 7" "$T/ob3.err"
check "... the new LDevID is installed and recorded" test "$O3" != "$O2" -a \
    "$(jq -r .ldevid_serial "$T/sd/onboard.json")" = "$O3"
check "... JSON: renewed, deploy_hook not ok" test "$(jq -r '.result + " " + (.deploy_hook.ok | tostring)' "$T/ob3.json")" = "renewed false"
latchkey onboard --state-dir "$T/sd" --deploy-hook '' >/dev/null 2>&1
check "--deploy-hook '' forgets the hook" test "$(jq -r '.deploy_hook // "none"' "$T/sd/onboard.json")" = none

# The control: revoking the device does put it into the Kea hook's class.
latchkeyctl --db "$DB" revoke "$S" --reason keyCompromise >/dev/null
check "a revoked binding is in the Kea hook's revoked class" test "$(sql "$KEAQ")" = "client-id|01aabbccddeeff"

check "audit chain verifies" latchkeyctl --db "$DB" audit --verify
check "latchkeyd still running" kill -0 "$LKD_PID"
it_done

#!/bin/bash
# BRSKI (RFC 8995) with vouchers (RFC 8366) on loopback: a MASA (latchkeyd, role = masa), a
# registrar (latchkeyd) and devices (latchkey enroll with neither --ca nor
# --trust-fingerprint). The device starts with only its IDevID and the factory MASA anchor,
# obtains a voucher, trusts the pinned domain CA and enrolls; registry and MASA database
# show binding, voucher and audit. Then every bad-input row of issue 4 that can be driven
# from outside: unauthorized domain, no sales record, voucher-request signed by another key
# (registrar and MASA), malformed CMS and JSON (registrar and MASA), voucher under a key not
# in the device's MASA anchors, MASA unreachable (503 + Retry-After, agent backs off
# doubling). Wrong serial / nonce / expiry / registrar-not-under-pin are in test_voucher.
# Last, approvals (pending = yes) on the voucher path: an unclaimed pledge's voucher-request
# gets 202 + Retry-After and a pending row, nothing goes to the MASA; `latchkey onboard`
# waits, is approved with latchkeyctl and ends BOUND without a restart; a denied pledge's
# onboarding fails with the administrator's reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }

MASA_PORT=$(it_free_port)
MASA_URL=https://127.0.0.1:$MASA_PORT
latchkeyctl lab-pki --out "$T/lab" --devices 9 --masa-url "$MASA_URL" --json >"$T/lab.json" ||
    { echo "lab-pki failed"; exit 1; }
for i in 0 1 2 3 4 5 6 7 8; do eval "S$i=\$(it_serial $i); D$i=\$(it_dev $i)"; done

bk_masa_start || exit 1
it_registrar "masa-retry-after = 1" "masa-timeout = 3" "workers = 1" || exit 1
MDB=$T/masa/masa.db
msql() { sqlite3 -readonly "$MDB" "$1"; }

# Sales records and claims.
check "masa authorize $S0" latchkeyctl masa authorize --serial "$S0" --serial "$S3" \
    --serial "$S4" --domain-ca "$T/reg/domain-ca.pem" --masa-db "$MDB"
printf '%s\n' "$S5" >"$T/sales.txt"
check "masa authorize --file" latchkeyctl masa authorize --file "$T/sales.txt" \
    --domain-ca "$T/reg/domain-ca.pem" --masa-db "$MDB"
for s in "$S0" "$S1" "$S2" "$S3" "$S4" "$S5"; do latchkeyctl --db "$DB" claim "$s" >/dev/null; done

# ---- the must-show run ------------------------------------------------------------------
check "device starts without a domain CA" test ! -e "$D0/domain-ca.pem"
latchkey enroll -v --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --out "$T/dev0" --json >"$T/enroll0.json" 2>"$T/enroll0.err"
rc=$?
cat "$T/enroll0.err"
check "voucher path enroll exits 0" test "$rc" = 0
check "progress names the provisional TLS" grep -q "provisional TLS" "$T/enroll0.err"
check "progress names the accepted voucher" grep -q "voucher accepted" "$T/enroll0.err"
check "JSON names the voucher file" test "$(jq -r .voucher "$T/enroll0.json")" = "$T/dev0/voucher.cms"
check "LDevID verifies against the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/dev0/ldevid.pem"
check "domain-ca.pem is the pinned domain CA" cmp -s "$T/dev0/domain-ca.pem" "$T/reg/domain-ca.pem"

# openssl cms -verify accepts the voucher the MASA issued; the JSON fields are right.
check "openssl cms -verify accepts the voucher" openssl cms -verify -inform DER \
    -in "$T/dev0/voucher.cms" -CAfile "$T/lab/manufacturer-ca.pem" -binary -out "$T/v0.json"
jq . "$T/v0.json"
V='."ietf-voucher:voucher"'
check "voucher serial-number" test "$(jq -r "$V.\"serial-number\"" "$T/v0.json")" = "$S0"
check "voucher assertion logged" test "$(jq -r "$V.assertion" "$T/v0.json")" = logged
check "voucher has a nonce" test "$(jq -r "$V.nonce | length" "$T/v0.json")" -gt 10
check "voucher created-on is RFC 3339" grep -Eq '"created-on":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"' "$T/v0.json"
check "voucher pins the domain CA" test "$(jq -r "$V.\"pinned-domain-cert\"" "$T/v0.json")" = \
    "$(openssl x509 -in "$T/reg/domain-ca.pem" -outform DER | base64 -w0)"
check "voucher idevid-issuer is the IDevID's AKI" test \
    "$(jq -r "$V.\"idevid-issuer\"" "$T/v0.json" | base64 -d | xxd -p | tr -d '\n')" = \
    "$(openssl x509 -in "$D0/idevid.pem" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' :' | tr 'A-F' 'a-f' | sed 's/^keyid//')"
check "voucher eContentType is id-ct-animaJSONVoucher" sh -c \
    "openssl cms -cmsout -inform DER -in '$T/dev0/voucher.cms' -print | grep -q 'eContentType: .*(1.2.840.113549.1.9.16.1.40)'"
openssl cms -verify -inform DER -in "$T/dev0/voucher.cms" -CAfile "$T/lab/manufacturer-ca.pem" \
    -binary -out /dev/null -signer "$T/v0.signer.pem" 2>/dev/null
check "voucher signed by the MASA certificate" test \
    "$(openssl x509 -in "$T/v0.signer.pem" -outform DER | sha256sum)" = \
    "$(openssl x509 -in "$T/lab/masa.pem" -outform DER | sha256sum)"
check "a foreign anchor does not verify it" sh -c "! openssl cms -verify -inform DER \
    -in '$T/dev0/voucher.cms' -CAfile '$T/reg/domain-ca.pem' -binary -out /dev/null 2>/dev/null"

# Registrar side: binding, voucher with telemetry, audit.
check "binding active" test "$(sql "SELECT state FROM bindings WHERE serial='$S0'")" = active
check "voucher stored" test "$(sql "SELECT count(*) FROM vouchers WHERE serial='$S0'")" = 1
check "voucher pinned fingerprint recorded" test "$(sql "SELECT pinned_fp FROM vouchers WHERE serial='$S0'")" = \
    "sha256:$(openssl x509 -in "$T/reg/domain-ca.pem" -outform DER | sha256sum | cut -d' ' -f1)"
check "voucher stored = voucher on the device" test \
    "$(sql "SELECT hex(der) FROM vouchers WHERE serial='$S0'")" = "$(xxd -p -u "$T/dev0/voucher.cms" | tr -d '\n')"
check "voucher_status success recorded" test "$(sql "SELECT voucher_status FROM vouchers WHERE serial='$S0'")" = success
check "enrollstatus success recorded" test "$(sql "SELECT enroll_status FROM vouchers WHERE serial='$S0'")" = success
for a in voucher voucher-status enroll enroll-status; do
	check "registrar audit: $a" test "$(sql "SELECT count(*) FROM audit WHERE action='$a' AND subject='$S0'")" = 1
done
check "registrar audit chain verifies" latchkeyctl --db "$DB" audit --verify
# MASA side: sales record, issued voucher, audit.
check "MASA logged the voucher" test "$(msql "SELECT count(*) FROM vouchers WHERE serial='$S0'")" = 1
check "MASA audit: authorize + voucher-issued" test \
    "$(msql "SELECT count(*) FROM audit WHERE subject='$S0' AND action IN ('authorize','voucher-issued')")" = 2
check "MASA logged the registrar" test "$(msql "SELECT registrar_fp FROM vouchers WHERE serial='$S0'")" = \
    "sha256:$(openssl x509 -in "$T/reg/registrar.pem" -outform DER | sha256sum | cut -d' ' -f1)"

# The MASA audit log for an authorized domain (RFC 8995 §5.8).
bk_rvr "$S0" "" "$T/reg/registrar.pem" "$T/reg/registrar.key" "$T/rvr.cms"
bk_post_masa "$T/rvr.cms" "$T/reg/registrar.pem" "$T/reg/registrar.key" requestauditlog >"$T/auditlog.out"
check "requestauditlog: 200" test "$(head -1 "$T/auditlog.out")" = 200
tail -n +2 "$T/auditlog.out" >"$T/auditlog.json"
check "requestauditlog: one event with the nonce" test \
    "$(jq -r '.events | length' "$T/auditlog.json")/$(jq -r '.events[0].nonce' "$T/auditlog.json")" = \
    "1/$(jq -r "$V.nonce" "$T/v0.json")"

# Reenroll keeps working with the voucher-pinned domain CA.
check "reenroll after the voucher path" latchkey reenroll -q --out "$T/dev0"
# The lab paths are still there.
check "enroll --ca still works" latchkey enroll -q --server "$URL" --idevid "$D5/idevid.pem" \
    --idevid-key "$D5/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/dev5"

# ---- bad input ----------------------------------------------------------------------------
# MASA refuses: no sales record for S1.
latchkey enroll --server "$URL" --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" \
    --out "$T/dev1" >"$T/e1.out" 2>&1
rc=$?; cat "$T/e1.out"
check "no sales record: exit 1" test "$rc" = 1
check "no sales record: 403 from the MASA" grep -q "403.*MASA refused.*no sales record" "$T/e1.out"
check "no sales record: nothing written" test ! -e "$T/dev1/ldevid.pem" -a ! -e "$T/dev1/voucher.cms"
check "no sales record: MASA audit" test "$(msql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND subject='$S1'")" -ge 1
check "no sales record: registrar audit" test "$(sql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND subject='$S1'")" -ge 1
check "no sales record: no binding" test "$(sql "SELECT count(*) FROM bindings WHERE serial='$S1'")" = 0

# MASA refuses: S2 is sold to another domain.
latchkeyctl init --domain other.test --dir "$T/reg2" --manufacturer-ca "$T/lab/manufacturer-ca.pem" \
    --listen 127.0.0.1:1 >/dev/null
latchkeyctl masa authorize --serial "$S2" --domain-ca "$T/reg2/domain-ca.pem" --masa-db "$MDB" >/dev/null
latchkey enroll --server "$URL" --idevid "$D2/idevid.pem" --idevid-key "$D2/idevid.key" \
    --out "$T/dev2" >"$T/e2.out" 2>&1
rc=$?; cat "$T/e2.out"
check "unauthorized domain: exit 1" test "$rc" = 1
check "unauthorized domain: 403 domain not authorized" grep -q "403.*domain not authorized" "$T/e2.out"
check "unauthorized domain: MASA audit" test "$(msql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND subject='$S2' AND reason LIKE 'domain not authorized%'")" = 1

# Voucher signed by a key not in the device's MASA anchors (the device trusts another
# manufacturer's MASA): refused, reported as voucher_status failure.
latchkeyctl lab-pki --out "$T/lab2" --devices 1 >/dev/null
latchkey enroll --server "$URL" --idevid "$D3/idevid.pem" --idevid-key "$D3/idevid.key" \
    --masa-anchor "$T/lab2/manufacturer-ca.pem" --out "$T/dev3" >"$T/e3.out" 2>&1
rc=$?; cat "$T/e3.out"
check "foreign MASA anchor: exit 1" test "$rc" = 1
check "foreign MASA anchor: voucher rejected" grep -q "voucher rejected: voucher: signer is not under the trusted anchors" "$T/e3.out"
check "foreign MASA anchor: nothing written" test ! -e "$T/dev3/ldevid.pem"
check "foreign MASA anchor: voucher_status failure recorded" test \
    "$(sql "SELECT voucher_status FROM vouchers WHERE serial='$S3' ORDER BY id DESC LIMIT 1")" = failure
check "foreign MASA anchor: no binding" test "$(sql "SELECT count(*) FROM bindings WHERE serial='$S3'")" = 0

# Voucher-request signed by another key than the TLS client certificate (registrar).
bk_pvr "$S4" nonce1 "$T/reg/registrar.pem" "$D3/idevid.pem" "$D3/idevid.key" "$T/pvr_other.cms"
bk_post_reg "$T/pvr_other.cms" "$D4/idevid.pem" "$D4/idevid.key" requestvoucher "$VOUCHER_CT" >"$T/p.out"
check "registrar: VR signed by another key: 403" test "$(head -1 "$T/p.out")" = 403
check "registrar: VR signed by another key: reason" grep -q "signed by a different key than the TLS client certificate" "$T/p.out"
check "registrar: VR signed by another key: audited" test "$(sql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND subject='$S4' AND reason LIKE '%different key%'")" = 1
# Malformed CMS and JSON (registrar).
head -c 300 /dev/urandom >"$T/junk.bin"
bk_post_reg "$T/junk.bin" "$D4/idevid.pem" "$D4/idevid.key" requestvoucher "$VOUCHER_CT" >"$T/p.out"
check "registrar: malformed CMS: 400" test "$(head -1 "$T/p.out")" = 400
printf 'not json' | openssl cms -sign -signer "$D4/idevid.pem" -inkey "$D4/idevid.key" \
    -econtent_type 1.2.840.113549.1.9.16.1.40 -nodetach -binary -outform DER -out "$T/badjson.cms"
bk_post_reg "$T/badjson.cms" "$D4/idevid.pem" "$D4/idevid.key" requestvoucher "$VOUCHER_CT" >"$T/p.out"
check "registrar: malformed JSON: 400" test "$(head -1 "$T/p.out")" = 400
check "registrar: malformed JSON: reason" grep -q "bad JSON" "$T/p.out"
bk_post_reg "$T/junk.bin" "$D4/idevid.pem" "$D4/idevid.key" voucher_status application/json >"$T/p.out"
check "registrar: malformed status JSON: 400" test "$(head -1 "$T/p.out")" = 400
bk_pvr "$S4" nonce1 "$T/reg/registrar.pem" "$D4/idevid.pem" "$D4/idevid.key" "$T/pvr4.cms"
bk_post_reg "$T/pvr4.cms" "$D4/idevid.pem" "$D4/idevid.key" requestvoucher text/plain >"$T/p.out"
check "registrar: wrong media type: 415" test "$(head -1 "$T/p.out")" = 415
# A voucher-request naming another registrar as proximity-registrar-cert.
bk_pvr "$S4" nonce1 "$T/reg2/registrar.pem" "$D4/idevid.pem" "$D4/idevid.key" "$T/pvr4b.cms"
bk_post_reg "$T/pvr4b.cms" "$D4/idevid.pem" "$D4/idevid.key" requestvoucher "$VOUCHER_CT" >"$T/p.out"
check "registrar: proximity cert of another registrar: 403" test "$(head -1 "$T/p.out")" = 403

# MASA: voucher-request signed by another key than the TLS client certificate.
bk_rvr "$S0" "" "$T/reg2/registrar.pem" "$T/reg2/registrar.key" "$T/rvr_other.cms"
bk_post_masa "$T/rvr_other.cms" "$T/reg/registrar.pem" "$T/reg/registrar.key" requestvoucher >"$T/m.out"
check "MASA: VR signed by another key: 403" test "$(head -1 "$T/m.out")" = 403
check "MASA: VR signed by another key: reason" grep -q "different key than the TLS client certificate" "$T/m.out"
check "MASA: VR signed by another key: audited" test "$(msql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND reason LIKE '%different key%'")" = 1
bk_post_masa "$T/junk.bin" "$T/reg/registrar.pem" "$T/reg/registrar.key" requestvoucher >"$T/m.out"
check "MASA: malformed CMS: 400" test "$(head -1 "$T/m.out")" = 400
printf '{"ietf-voucher-request:voucher":{"serial-number":7}}' | openssl cms -sign \
    -signer "$T/reg/registrar.pem" -inkey "$T/reg/registrar.key" \
    -econtent_type 1.2.840.113549.1.9.16.1.40 -nodetach -binary -outform DER -out "$T/badrvr.cms"
bk_post_masa "$T/badrvr.cms" "$T/reg/registrar.pem" "$T/reg/registrar.key" requestvoucher >"$T/m.out"
check "MASA: malformed JSON: 400" test "$(head -1 "$T/m.out")" = 400
# MASA: a prior-signed request by a device key, but the registrar's nonce differs.
bk_rvr "$S4" other-nonce "$T/reg/registrar.pem" "$T/reg/registrar.key" "$T/rvr_nonce.cms" "$T/pvr4.cms"
bk_post_masa "$T/rvr_nonce.cms" "$T/reg/registrar.pem" "$T/reg/registrar.key" requestvoucher >"$T/m.out"
check "MASA: nonce differs from the pledge's: 403" test "$(head -1 "$T/m.out")" = 403
# MASA: a nonceless request (no prior-signed) gets a voucher with expires-on.
bk_rvr "$S4" "" "$T/reg/registrar.pem" "$T/reg/registrar.key" "$T/rvr_nl.cms"
bk_post_masa "$T/rvr_nl.cms" "$T/reg/registrar.pem" "$T/reg/registrar.key" requestvoucher \
    "$T/nl.cms" >"$T/m.out"
check "MASA: nonceless request: 200" test "$(head -1 "$T/m.out")" = 200
openssl cms -verify -inform DER -in "$T/nl.cms" -CAfile "$T/lab/manufacturer-ca.pem" -binary \
    -out "$T/nl.json" 2>/dev/null
check "MASA: nonceless voucher has expires-on and no nonce" test \
    "$(jq -r "$V | (has(\"expires-on\") | tostring) + \"/\" + (has(\"nonce\") | tostring)" "$T/nl.json")" = "true/false"

# MASA unreachable: 503 with Retry-After at the registrar; the agent backs off doubling.
bk_masa_stop
bk_pvr "$S4" nonce2 "$T/reg/registrar.pem" "$D4/idevid.pem" "$D4/idevid.key" "$T/pvr4.cms"
bk_post_reg "$T/pvr4.cms" "$D4/idevid.pem" "$D4/idevid.key" requestvoucher "$VOUCHER_CT" \
    "" "$T/h.out" >"$T/p.out"
check "MASA down: registrar answers 503" test "$(head -1 "$T/p.out")" = 503
check "MASA down: Retry-After: 1" grep -qi "^retry-after: 1" "$T/h.out"
start=$(date +%s)
latchkey enroll --server "$URL" --idevid "$D4/idevid.pem" --idevid-key "$D4/idevid.key" \
    --timeout 9 --out "$T/dev4" >"$T/e4.out" 2>&1
rc=$?; secs=$(( $(date +%s) - start )); cat "$T/e4.out"
check "MASA down: agent exit 1" test "$rc" = 1
check "MASA down: waits 1, 2, 4 s" test "$(grep -o 'retrying in [0-9]* s' "$T/e4.out" | tr '\n' ,)" = \
    "retrying in 1 s,retrying in 2 s,retrying in 4 s,"
check "MASA down: gives up within the timeout ($secs s)" test "$secs" -le 10
check "MASA down: clear error" grep -q "503.*gave up after 4 attempts" "$T/e4.out"
check "MASA down: audited" test "$(sql "SELECT count(*) FROM audit WHERE action='voucher-masa-unavailable' AND subject='$S4'")" -ge 4
check "MASA down: nothing written" test ! -e "$T/dev4/ldevid.pem"
# The MASA is back: the same device now succeeds.
bk_masa_start || exit 1
check "MASA back: enroll succeeds" latchkey enroll -q --server "$URL" --idevid "$D4/idevid.pem" \
    --idevid-key "$D4/idevid.key" --out "$T/dev4"

# ---- approvals (pending = yes) on the voucher path -----------------------------------------
# S6, S7 and S8 are sold to this domain (a sales record at the MASA) but not claimed.
latchkeyctl masa authorize --serial "$S6" --serial "$S7" --serial "$S8" \
    --domain-ca "$T/reg/domain-ca.pem" --masa-db "$MDB" >/dev/null
it_stop_registrar
it_conf_set "$T/reg/latchkeyd.conf" "pending = yes"
it_conf_set "$T/reg/latchkeyd.conf" "pending-retry-after = 1"
it_registrar || exit 1
pj() { latchkeyctl --db "$DB" --json pending; }
# row SERIAL JQ: the pending row of SERIAL satisfies the jq expression
row() { pj | jq -e --arg s "$1" ".pending[] | select(.serial == \$s) | $2" >/dev/null; }
# onboard I [ARGS...]: device I onboards (state in $T/ob<I>), the registrar from DHCP option
# 143 (RFC 8572 8.3: a 2-byte length, then the URI)
printf 'LATCHKEY_DHCP_FAMILY=4\nLATCHKEY_DHCP_SZTP=%04x%s\n' "${#URL}" \
    "$(printf %s "$URL" | xxd -p | tr -d '\n')" >"$T/dhcp-ob.env"
onboard() {
	local d
	d=$(it_dev "$1")
	latchkey onboard --state-dir "$T/ob$1" --idevid "$d/idevid.pem" --idevid-key "$d/idevid.key" \
	    --masa-anchor "$d/masa-anchor.pem" --dhcp-env "$T/dhcp-ob.env" --no-mdns \
	    --max-backoff 1 "${@:2}"
}

# A foreign pledge (curl): 202 with Retry-After, recorded as pending, nothing to the MASA.
bk_pvr "$S8" nonce8 "$T/reg/registrar.pem" "$D8/idevid.pem" "$D8/idevid.key" "$T/pvr8.cms"
bk_post_reg "$T/pvr8.cms" "$D8/idevid.pem" "$D8/idevid.key" requestvoucher "$VOUCHER_CT" \
    "" "$T/h8.out" >"$T/p8.out"
cat "$T/p8.out"
check "pending: voucher-request answered 202" test "$(head -1 "$T/p8.out")" = 202
check "pending: Retry-After: 1" grep -qi "^retry-after: 1" "$T/h8.out"
check "pending: the body says it awaits an administrator" grep -q "awaits approval by an administrator" "$T/p8.out"
check "pending: recorded, one attempt" row "$S8" '.state == "pending" and .attempts == 1'
check "pending: audited as pending" test "$(sql "SELECT count(*) FROM audit WHERE action='pending' AND subject='$S8'")" = 1
check "pending: nothing sent to the MASA" test "$(msql "SELECT count(*) FROM audit WHERE subject='$S8' AND action<>'authorize'")" = 0
# latchkey enroll on the voucher path without --wait stops at the 202 (exit 3).
latchkey enroll --server "$URL" --idevid "$D8/idevid.pem" --idevid-key "$D8/idevid.key" \
    --out "$T/dev8" >"$T/e8.out" 2>&1
rc=$?; cat "$T/e8.out"
check "pending: enroll (voucher path, no --wait): exit 3" test "$rc" = 3
check "pending: ... says so" grep -q "enrollment pending: .*holds $S8 for an administrator's approval (HTTP 202" "$T/e8.out"
check "pending: ... counted" row "$S8" '.attempts == 2'

# latchkey onboard waits for the approval, then finishes: voucher, enrollment, BOUND.
onboard 6 --timeout 60 -v >"$T/ob6.out" 2>&1 &
OB6=$!
check "onboard: the waiting pledge is listed (second attempt)" wait_until 20 row "$S6" \
    '.state == "pending" and .attempts >= 2'
check "onboard: it says it waits for an administrator" grep -q \
    "latchkey: onboard: waiting for an administrator to approve $S6 at $URL; retrying in 1 s (attempt [0-9]*)" \
    "$T/ob6.out"
check "onboard: still running" kill -0 "$OB6"
check "onboard: nothing sent to the MASA while pending" \
    test "$(msql "SELECT count(*) FROM audit WHERE subject='$S6' AND action<>'authorize'")" = 0
check "onboard: no voucher yet" test ! -e "$T/ob6/voucher.cms"
check "approve the waiting pledge" latchkeyctl --db "$DB" approve "$S6"
check "onboard: finishes by itself" wait_until 30 sh -c "! kill -0 $OB6"
wait "$OB6"; rc=$?
cat "$T/ob6.out"
check "onboard: exit 0" test "$rc" = 0
N6=$(sed -n 's/.*the same voucher-request again (nonce \(.*\))$/\1/p' "$T/ob6.out" | sort -u)
check "onboard: the same voucher-request (nonce) asked again (RFC 8995 5.6)" \
    test -n "$N6" -a "$(printf '%s\n' "$N6" | wc -l)" = 1
check "onboard: ... and the voucher carries its nonce" test "$(openssl cms -verify -inform DER \
    -in "$T/ob6/voucher.cms" -CAfile "$T/lab/manufacturer-ca.pem" -binary 2>/dev/null |
    jq -r "$V.nonce")" = "$N6"
check "onboard: state bound" test "$(jq -r .state "$T/ob6/onboard.json")" = bound
check "onboard: the voucher came from the MASA" test "$(msql "SELECT count(*) FROM vouchers WHERE serial='$S6'")" = 1
check "onboard: voucher stored by the registrar" test "$(sql "SELECT count(*) FROM vouchers WHERE serial='$S6'")" = 1
check "onboard: LDevID verifies against the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/ob6/ldevid.pem"
check "onboard: binding by the approve's claim" test "$(sql "SELECT authorized_by FROM bindings WHERE serial='$S6' AND state='active'")" = claim
check "onboard: no longer pending" test "$(sql "SELECT count(*) FROM pending WHERE serial='$S6'")" = 0

# A denied pledge: 403 with the administrator's reason; onboarding gives up at --timeout.
bk_pvr "$S7" nonce7 "$T/reg/registrar.pem" "$D7/idevid.pem" "$D7/idevid.key" "$T/pvr7.cms"
bk_post_reg "$T/pvr7.cms" "$D7/idevid.pem" "$D7/idevid.key" requestvoucher "$VOUCHER_CT" >"$T/p7.out"
check "deny: pending first (202)" test "$(head -1 "$T/p7.out")" = 202
check "deny $S7" latchkeyctl --db "$DB" deny "$S7" --reason "not one of ours"
onboard 7 --timeout 4 >"$T/ob7.out" 2>&1; rc=$?
cat "$T/ob7.out"
check "deny: onboard exit 3 (not bound)" test "$rc" = 3
check "deny: 403 with the administrator's reason" grep -q \
    "voucher request refused: HTTP 403: denied by an administrator: not one of ours" "$T/ob7.out"
check "deny: not waiting" sh -c "! grep -q 'waiting for an administrator' '$T/ob7.out'"
check "deny: refusal audited" test "$(sql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND subject='$S7' AND reason LIKE 'denied by an administrator: not one of ours'")" -ge 1
check "deny: nothing sent to the MASA" test "$(msql "SELECT count(*) FROM audit WHERE subject='$S7' AND action<>'authorize'")" = 0
check "deny: no voucher, no binding" test "$(sql "SELECT (SELECT count(*) FROM vouchers WHERE serial='$S7') + (SELECT count(*) FROM bindings WHERE serial='$S7')")" = 0

check "registrar audit chain still verifies" latchkeyctl --db "$DB" audit --verify
check "latchkeyd still running" kill -0 "$LKD_PID"
it_done

#!/bin/bash
# Admin revocation of a binding: `latchkeyctl revoke` makes the binding revoked and every
# LDevID of the device revoked; the CRL (served and written to a file) lists them and the OCSP
# responder answers revoked, both accepted by the openssl command line; the device's next EST
# request gets 403 with the reason;
# `latchkey status` on the device reports the revocation and why; re-claiming later creates a
# new binding with its own audit entries and the history is kept; the audit chain verifies.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 1
S=$(it_serial 0); D=$(it_dev 0)
it_registrar || exit 1
it_enroll 0 "$T/dev" || { echo "enroll failed"; exit 1; }
cp "$T/dev/ldevid.pem" "$T/ldevid1.pem"
latchkey reenroll -q --out "$T/dev" || echo "reenroll failed"

latchkey status --out "$T/dev" >"$T/st1.out"; rc=$?
cat "$T/st1.out"
check "status before revocation: exit 0" test "$rc" = 0
check "status before revocation: active" grep -q "^binding    active" "$T/st1.out"

# OCSP before: good (request made and checked by the openssl command line, sent with curl)
ocsp() {	# ocsp CERT OUT: status line of CERT as our responder answers it
	openssl ocsp -issuer "$T/reg/domain-ca.pem" -cert "$1" -reqout "$2.req" >/dev/null 2>&1
	curl -sS --cacert "$T/reg/domain-ca.pem" -H 'Content-Type: application/ocsp-request' \
	    --data-binary @"$2.req" -o "$2.resp" "$URL/.well-known/latchkey/ocsp"
	# the signature and the nonce against our request, then the status of CERT
	openssl ocsp -respin "$2.resp" -reqin "$2.req" -CAfile "$T/reg/domain-ca.pem" >"$2" 2>&1
	openssl ocsp -respin "$2.resp" -issuer "$T/reg/domain-ca.pem" -cert "$1" -no_nonce \
	    -CAfile "$T/reg/domain-ca.pem" >>"$2" 2>&1
}
cp "$T/dev/ldevid.pem" "$T/ldevid2.pem"
ocsp "$T/ldevid2.pem" "$T/ocsp1"
check "OCSP before revocation: good, response verifies" sh -c "grep -q 'Response verify OK' '$T/ocsp1' && grep -q ': good' '$T/ocsp1'"

check "revoke exits 0" latchkeyctl --db "$DB" revoke "$S" --reason keyCompromise
t0=$(date +%s%N)
check "binding revoked with reason" test "$(sql "SELECT state || ':' || reason FROM bindings WHERE serial='$S'")" = "revoked:keyCompromise"
check "both LDevIDs revoked" test "$(sql "SELECT count(*) FROM certificates WHERE device_serial='$S' AND revoked_at > 0")" = 2
check "claim removed" test "$(sql "SELECT count(*) FROM claims WHERE serial='$S'")" = 0

# The CRL file follows within a second or two; the served CRL and OCSP at once.
for _ in $(seq 1 40); do
	[ -s "$T/reg/crl.der" ] && openssl crl -inform DER -in "$T/reg/crl.der" -noout -text 2>/dev/null |
	    grep -q "$(openssl x509 -in "$T/ldevid2.pem" -noout -serial | cut -d= -f2)" && break
	sleep 0.1
done
echo "CRL file updated after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
openssl crl -inform DER -in "$T/reg/crl.der" -noout -text >"$T/crlfile.txt" 2>&1
for c in "$T/ldevid1.pem" "$T/ldevid2.pem"; do
	sn=$(openssl x509 -in "$c" -noout -serial | cut -d= -f2)
	check "CRL file lists LDevID $sn" grep -q "$sn" "$T/crlfile.txt"
done
check "CRL file gives the reason" grep -q "Key Compromise" "$T/crlfile.txt"
check "CRL file verifies (openssl crl -CAfile)" sh -c "openssl crl -inform DER -in '$T/reg/crl.der' -CAfile '$T/reg/domain-ca.pem' -noout 2>&1 | grep -q 'verify OK'"
check "CRL has a nextUpdate" grep -q "Next Update:" "$T/crlfile.txt"
latchkeyctl --db "$DB" crl >"$T/ctlcrl.txt"; cat "$T/ctlcrl.txt"
# the first LDevID was already revoked as superseded when the reenrolled one was first used
check "latchkeyctl crl lists both LDevIDs with their reasons" test \
    "$(grep -c keyCompromise "$T/ctlcrl.txt"):$(grep -c superseded "$T/ctlcrl.txt")" = 1:1
check "latchkeyctl crl --json" test "$(latchkeyctl --db "$DB" --json crl | jq '.revoked | length')" = 2
curl -sS --cacert "$T/reg/domain-ca.pem" -D "$T/crl.h" -o "$T/crl.der" "$URL/.well-known/latchkey/crl"
check "served CRL: application/pkix-crl" grep -qi "^content-type: application/pkix-crl" "$T/crl.h"
check "served CRL verifies and lists the LDevID" sh -c "openssl crl -inform DER -in '$T/crl.der' -CAfile '$T/reg/domain-ca.pem' -noout -text 2>&1 | grep -q '$(openssl x509 -in "$T/ldevid2.pem" -noout -serial | cut -d= -f2)'"
ocsp "$T/ldevid2.pem" "$T/ocsp2"
check "OCSP after revocation: revoked, keyCompromise, response verifies" sh -c "grep -q 'Response verify OK' '$T/ocsp2' && grep -q ': revoked' '$T/ocsp2' && grep -q 'Reason: keyCompromise' '$T/ocsp2'"
# the GET form of RFC 6960 A.1
code=$(curl -sS --cacert "$T/reg/domain-ca.pem" -o "$T/ocspget.resp" -w '%{http_code}' \
    "$URL/.well-known/latchkey/ocsp/$(base64 -w0 "$T/ocsp2.req" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')")
check "OCSP GET form answers (HTTP $code)" sh -c "openssl ocsp -respin '$T/ocspget.resp' -issuer '$T/reg/domain-ca.pem' -cert '$T/ldevid2.pem' -no_nonce -CAfile '$T/reg/domain-ca.pem' 2>&1 | grep -q ': revoked'"

latchkey reenroll --out "$T/dev" >"$T/re.out" 2>&1; rc=$?
cat "$T/re.out"
check "reenroll after revocation: exit 1" test "$rc" = 1
check "reenroll after revocation: 403 with the reason" grep -q "403.*revoked: keyCompromise" "$T/re.out"
latchkey enroll --force --server "$URL" --idevid "$D/idevid.pem" --idevid-key "$D/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/dev2" >"$T/en.out" 2>&1
check "enroll with the IDevID after revocation: 403 with the reason" grep -q "403.*revoked: keyCompromise" "$T/en.out"

latchkey status --out "$T/dev" >"$T/st2.out"; rc=$?
cat "$T/st2.out"
check "status after revocation: exit 3" test "$rc" = 3
check "status says revoked and why" grep -q "REVOKED by domain example.test at .*: keyCompromise" "$T/st2.out"
latchkey status --out "$T/dev" --json >"$T/st2.json"
check "status --json: revoked, reason" test "$(jq -r '.binding + ":" + .reason' "$T/st2.json")" = "revoked:keyCompromise"

out=$(latchkeyctl --db "$DB" revoke "$S" --reason keyCompromise 2>&1); rc=$?
check "revoking again: clear error, exit 1 ($out)" test "$rc" = 1
out=$(latchkeyctl --db "$DB" revoke "$S" --reason sometimes 2>&1); rc=$?
check "unknown reason: usage error 2" test "$rc" = 2
out=$(latchkeyctl --db "$DB" revoke NOSUCHSERIAL --reason superseded 2>&1); rc=$?
check "unknown serial: exit 1 and says so" sh -c "test $rc = 1 && echo '$out' | grep -qi 'NOSUCHSERIAL'"

# A claim alone does not re-admit a revoked device; readmit does: a new binding, history kept.
out=$(latchkeyctl --db "$DB" claim "$S" 2>&1); rc=$?
check "claim of a revoked device: exit 1, points at readmit ($out)" \
    sh -c "test $rc = 1 && echo '$out' | grep -q readmit"
check "still refused after the claim" sh -c "! latchkey enroll -q --force --server '$URL' \
    --idevid '$D/idevid.pem' --idevid-key '$D/idevid.key' --ca '$T/reg/domain-ca.pem' \
    --out '$T/dev-refused' 2>/dev/null"
latchkeyctl --db "$DB" readmit "$S" --reason "replaced the key" >/dev/null
check "enroll after readmit" latchkey enroll -q --force --server "$URL" --idevid "$D/idevid.pem" \
    --idevid-key "$D/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/dev"
check "two bindings: one revoked, one active" test "$(sql "SELECT group_concat(state, ',') FROM (SELECT state FROM bindings WHERE serial='$S' ORDER BY id)")" = "revoked,active"
check "new binding has its own enroll audit entry" test "$(sql "SELECT count(*) FROM audit WHERE action='enroll' AND subject='$S'")" = 2
latchkeyctl --db "$DB" show "$S" >"$T/show.out"
check "show lists the history" grep -q "keyCompromise" "$T/show.out"
latchkey status --out "$T/dev" >/dev/null
check "status after re-enrollment: active again" test $? = 0
check "readmit audited" test "$(sql "SELECT count(*) FROM audit WHERE action='readmit' AND subject='$S'")" = 1
check "audit chain verifies" latchkeyctl --db "$DB" audit --verify
latchkeyctl --db "$DB" --json audit >"$T/audit.json"
check "audit --json lists the revoke with actor and reason" test "$(jq -r '[.entries[] | select(.action=="revoke")][0] | .reason' "$T/audit.json")" = keyCompromise

# Someone edits the history behind our back: --verify fails and names the entry.
bad=$(sql "SELECT id FROM audit WHERE action='revoke' LIMIT 1")
sqlite3 "$DB" "UPDATE audit SET reason='superseded' WHERE id=$bad"
out=$(latchkeyctl --db "$DB" audit --verify 2>&1); rc=$?
echo "$out"
check "audit --verify fails after a row was edited (exit 1)" test "$rc" = 1
check "audit --verify names entry $bad" grep -q "broken at entry $bad" <<<"$out"
it_done

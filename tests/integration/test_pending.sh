#!/bin/bash
# Approvals (issue #17). With "pending = yes" latchkeyd answers an authenticated (valid
# IDevID) but unclaimed device's simpleenroll with 202 and Retry-After (RFC 7030 4.2.3)
# instead of 403 and records it as pending; an administrator approves (a claim for the
# device's manufacturer) or denies it:
#   - `latchkey enroll` without --wait stops at the 202 (exit 3, says so); with --wait it
#     says it waits for an administrator and asks again; -q keeps it quiet;
#   - `latchkeyctl pending` (and --json) lists serial, manufacturer, first and last seen,
#     peer address and attempts;
#   - a device waiting with `latchkey enroll --wait 60` enrolls, without a restart, once
#     `latchkeyctl approve` ran; its LDevID verifies; approve is audited;
#   - `latchkeyctl deny --reason R`: the device's next enroll is refused with R (exit 1),
#     also with --wait; audited; a claim lifts the denial;
#   - approve/deny of an unknown serial fail (exit 1), bad arguments are usage errors (2);
#   - curl (a foreign EST client) sees 202 and a Retry-After header;
#   - /metrics counts the 202s as reason "pending";
#   - without pending = yes an unclaimed device still gets 403 and no pending row.
. "$(dirname "$0")/lib.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
it_pki 5
for i in 0 1 2 3 4; do eval "S$i=\$(it_serial $i)"; done
APORT=$(it_free_port)
it_registrar "pending = yes" "pending-retry-after = 1" "admin-listen = $APORT" || exit 1
FP=sha256:$(openssl x509 -in "$T/lab/manufacturer-ca.pem" -outform DER | sha256sum | cut -c1-64)
pj() { latchkeyctl --db "$DB" --json pending; }
# row SERIAL JQ: the pending row of SERIAL satisfies the jq expression
row() { pj | jq -e --arg s "$1" ".pending[] | select(.serial == \$s) | $2" >/dev/null; }

# ---- no --wait: the first 202 ends it, with exit 3 ------------------------------------------
it_enroll_dev 1 "$T/d1" >"$T/e1.out" 2>&1; rc=$?
cat "$T/e1.out"
check "unclaimed, no --wait: exit 3" test "$rc" = 3
check "... says the enrollment is pending an administrator's approval" \
    grep -q "enrollment pending: .*holds $S1 for an administrator's approval (HTTP 202" "$T/e1.out"
check "... and how to wait" grep -q -- "--wait SECONDS" "$T/e1.out"
check "... no LDevID written" test ! -e "$T/d1/ldevid.pem"
check "recorded as pending: one attempt, first seen = last seen" \
    row "$S1" '.state == "pending" and .attempts == 1 and .first_seen == .last_seen'
check "the pending request is audited" test "$(sql "SELECT count(*) FROM audit WHERE \
    action='pending' AND subject='$S1' AND actor='registrar'")" = 1
check "no claim and no binding for it" test "$(sql "SELECT (SELECT count(*) FROM claims WHERE \
    serial='$S1') + (SELECT count(*) FROM bindings WHERE serial='$S1')")" = 0

# ---- a device waits in the background; approve; it finishes ---------------------------------
it_enroll_dev 0 "$T/d0" --wait 60 >"$T/e0.out" 2>&1 &
E0=$!
check "the waiting device is listed with its second attempt" wait_until 20 row "$S0" '.attempts >= 2'
check "pending --json: serial, state, manufacturer (fingerprint and name)" \
    row "$S0" ".state == \"pending\" and .manufacturer == \"$FP\" and (.manufacturer_name | length > 0)"
check "pending --json: first and last seen, peer address, attempts" row "$S0" \
    '(.first_seen | test("^[0-9-]{10}T[0-9:]{8}Z$")) and (.last_seen | test("Z$")) and
     .last_seen_at >= .first_seen_at and .peer == "127.0.0.1" and (.attempts | type) == "number"'
check "pending --json: the IDevID fingerprint" row "$S0" '.idevid_fp | startswith("sha256:")'
latchkeyctl --db "$DB" pending >"$T/pending.txt"
cat "$T/pending.txt"
check "pending: a table with the columns" grep -q \
    "^SERIAL .*STATE .*MANUFACTURER .*FIRST-SEEN .*LAST-SEEN .*PEER .*ATTEMPTS" "$T/pending.txt"
check "pending: the waiting device's line" grep -q "^$S0 .*pending .*127.0.0.1" "$T/pending.txt"
check "the device says it waits for an administrator" grep -q \
    "latchkey: waiting for an administrator to approve $S0 at $URL; retrying in 1 s (attempt [0-9]*)" \
    "$T/e0.out"
check "still running" kill -0 "$E0"
latchkeyctl --db "$DB" approve "$S0" >"$T/approve.out" 2>&1; rc=$?
cat "$T/approve.out"
check "approve: exit 0" test "$rc" = 0
check "approve: says it claimed it for the manufacturer" \
    grep -q "approved $S0: claimed for manufacturer .*($FP)" "$T/approve.out"
check "the waiting device finishes by itself" wait_until 30 sh -c "! kill -0 $E0"
wait "$E0"; rc=$?
cat "$T/e0.out"
check "... with exit 0" test "$rc" = 0
check "... its LDevID verifies against the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/d0/ldevid.pem"
check "approved: claimed for the manufacturer, no longer pending" test "$(sql "SELECT \
    (SELECT anchor_fp FROM claims WHERE serial='$S0') || ' ' || \
    (SELECT count(*) FROM pending WHERE serial='$S0')")" = "$FP 0"
check "the binding is a claim's, for that manufacturer" test "$(sql "SELECT authorized_by || ' ' || \
    anchor_fp FROM bindings WHERE serial='$S0' AND state='active'")" = "claim $FP"
latchkeyctl --db "$DB" audit --action approve >"$T/audit.out"
cat "$T/audit.out"
check "latchkeyctl audit shows the approve entry" grep -q "approve.*$S0" "$T/audit.out"
check "... by an admin, with the manufacturer" test "$(sql "SELECT count(*) FROM audit WHERE \
    action='approve' AND subject='$S0' AND actor LIKE 'admin:%' AND details LIKE '%$FP%'")" = 1

# ---- deny ------------------------------------------------------------------------------------
latchkeyctl --db "$DB" deny "$S1" --reason "not one of ours" >"$T/deny.out" 2>&1; rc=$?
cat "$T/deny.out"
check "deny: exit 0, says so" sh -c "test $rc = 0 && grep -q '^denied $S1: not one of ours' '$T/deny.out'"
check "deny audited with the reason" test "$(sql "SELECT count(*) FROM audit WHERE \
    action='deny' AND subject='$S1' AND reason='not one of ours' AND actor LIKE 'admin:%'")" = 1
check "pending --json: denied, by whom, why" \
    row "$S1" '.state == "denied" and .reason == "not one of ours" and (.denied_by | startswith("admin:"))'
it_enroll_dev 1 "$T/d1" --wait 30 >"$T/e1b.out" 2>&1; rc=$?
cat "$T/e1b.out"
check "denied device: exit 1 (not 3)" test "$rc" = 1
check "denied device: 403 with the administrator's reason" \
    grep -q "enrollment refused: HTTP 403: denied by an administrator: not one of ours" "$T/e1b.out"
check "denied device: not waiting" sh -c "! grep -q 'waiting for an administrator' '$T/e1b.out'"
check "the refusal is audited" test "$(sql "SELECT count(*) FROM audit WHERE \
    action='enroll-refused' AND subject='$S1' AND reason LIKE 'denied by an administrator%'")" = 1
check "its attempts are still counted" row "$S1" '.attempts == 2'
check "an explicit claim lifts the denial" latchkeyctl --db "$DB" claim "$S1"
check "... the row is gone, audited" test "$(sql "SELECT (SELECT count(*) FROM pending WHERE \
    serial='$S1') || ' ' || (SELECT count(*) FROM audit WHERE action='pending-cleared' AND \
    subject='$S1')")" = "0 1"
check "... and the device enrolls" it_enroll_dev 1 "$T/d1" -q

# ---- errors ----------------------------------------------------------------------------------
for c in approve deny; do
	out=$(latchkeyctl --db "$DB" $c LKNOSUCH01 2>&1); rc=$?
	check "$c of an unknown serial: exit 1, says so ($out)" sh -c "test $rc = 1 && \
	    printf '%s' \"\$1\" | grep -q 'no pending request'" _ "$out"
	latchkeyctl --db "$DB" $c >/dev/null 2>&1
	check "$c without a serial: usage error" test $? = 2
	latchkeyctl --db "$DB" $c 'bad serial!' >/dev/null 2>&1
	check "$c of a bad serial: usage error" test $? = 2
done
out=$(latchkeyctl --db "$DB" approve "$S0" 2>&1); rc=$?
check "approve again: nothing pending, exit 1" test "$rc" = 1

# ---- --wait runs out; -q ---------------------------------------------------------------------
it_enroll_dev 3 "$T/d3" -q --wait 2 >"$T/e3.out" 2>&1; rc=$?
cat "$T/e3.out"
check "--wait ran out: exit 3" test "$rc" = 3
check "... says it is still pending" grep -q "still pending after [0-9]* attempts" "$T/e3.out"
check "-q: no progress lines" sh -c "! grep -q 'waiting for an administrator' '$T/e3.out'"
check "... it asked more than once" row "$S3" '.attempts >= 2'

# ---- curl, a foreign EST client --------------------------------------------------------------
D2=$(it_dev 2)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k2.pem" \
    -subj "/serialNumber=$S2/CN=$S2" -outform DER -out "$T/csr2.der" 2>/dev/null
base64 -w0 "$T/csr2.der" >"$T/csr2.b64"
curl -sS --cacert "$T/reg/domain-ca.pem" --cert "$D2/idevid.pem" --key "$D2/idevid.key" \
    -D "$T/h2" -o "$T/b2" -H "Content-Type: application/pkcs10" --data-binary @"$T/csr2.b64" \
    "$URL/.well-known/est/simpleenroll"
cat "$T/h2" "$T/b2"
check "curl: 202" grep -q "^HTTP/1.1 202" "$T/h2"
check "curl: Retry-After: 1" grep -qi "^retry-after: 1" "$T/h2"
check "curl: the body says it awaits an administrator" grep -q "awaits approval by an administrator" "$T/b2"
check "curl's device is pending" row "$S2" '.attempts == 1'

# ---- metrics ---------------------------------------------------------------------------------
curl -s "http://127.0.0.1:$APORT/metrics" >"$T/metrics.txt"
check "/metrics: the 202s are refusals with reason pending" test "$(sed -n \
    's/^latchkeyd_enrollment_refusals_total{op="simpleenroll",reason="pending"} //p' \
    "$T/metrics.txt")" -ge 5

# ---- without pending = yes: 403 as before, nothing recorded ----------------------------------
it_stop_registrar
it_conf_set "$T/reg/latchkeyd.conf" "pending = no"
it_registrar || exit 1
it_enroll_dev 4 "$T/d4" --wait 10 >"$T/e4.out" 2>&1; rc=$?
cat "$T/e4.out"
check "pending = no: exit 1" test "$rc" = 1
check "pending = no: 403 not claimed" grep -q "HTTP 403: device $S4 is not claimed" "$T/e4.out"
check "pending = no: no pending row" test "$(sql "SELECT count(*) FROM pending WHERE serial='$S4'")" = 0
before=$(sql "SELECT attempts FROM pending WHERE serial='$S3'")
it_enroll_dev 3 "$T/d3" >/dev/null 2>&1
check "pending = no: a pending device gets 403, its row untouched" \
    test "$(sql "SELECT attempts FROM pending WHERE serial='$S3'")" = "$before"
check "audit chain verifies" latchkeyctl --db "$DB" audit --verify
it_done

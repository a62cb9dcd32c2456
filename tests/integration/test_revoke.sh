#!/bin/bash
# Admin revocation of a binding: `latchkeyctl revoke` makes the binding revoked and every
# LDevID of the device revoked; the device's next EST request gets 403 with the reason;
# `latchkey status` on the device reports the revocation and why; re-claiming later creates a
# new binding with its own audit entries and the history is kept; the audit chain verifies.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 1
S=$(it_serial 0); D=$(it_dev 0)
it_registrar || exit 1
latchkeyctl --db "$DB" claim "$S" >/dev/null
latchkey enroll -q --server "$URL" --idevid "$D/idevid.pem" --idevid-key "$D/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/dev" || { echo "enroll failed"; exit 1; }
latchkey reenroll -q --out "$T/dev" || echo "reenroll failed"

latchkey status --out "$T/dev" >"$T/st1.out"; rc=$?
cat "$T/st1.out"
check "status before revocation: exit 0" test "$rc" = 0
check "status before revocation: active" grep -q "^binding    active" "$T/st1.out"

check "revoke exits 0" latchkeyctl --db "$DB" revoke "$S" --reason keyCompromise
check "binding revoked with reason" test "$(sql "SELECT state || ':' || reason FROM bindings WHERE serial='$S'")" = "revoked:keyCompromise"
check "both LDevIDs revoked" test "$(sql "SELECT count(*) FROM certificates WHERE device_serial='$S' AND revoked_at > 0")" = 2
check "claim removed" test "$(sql "SELECT count(*) FROM claims WHERE serial='$S'")" = 0

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

# Re-claim: a new binding, history kept.
latchkeyctl --db "$DB" claim "$S" >/dev/null
check "enroll after re-claim" latchkey enroll -q --force --server "$URL" --idevid "$D/idevid.pem" \
    --idevid-key "$D/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/dev"
check "two bindings: one revoked, one active" test "$(sql "SELECT group_concat(state, ',') FROM (SELECT state FROM bindings WHERE serial='$S' ORDER BY id)")" = "revoked,active"
check "new binding has its own enroll audit entry" test "$(sql "SELECT count(*) FROM audit WHERE action='enroll' AND subject='$S'")" = 2
latchkeyctl --db "$DB" show "$S" >"$T/show.out"
check "show lists the history" grep -q "keyCompromise" "$T/show.out"
latchkey status --out "$T/dev" >/dev/null
check "status after re-enrollment: active again" test $? = 0
check "audit chain verifies" latchkeyctl --db "$DB" audit --verify
it_done

#!/bin/bash
# Revocation sticks until an admin re-admits the device (DESIGN.md "Trust model"), and
# revoke takes only the reasons a full CRL can carry:
#   - `revoke --reason removeFromCRL` and `--reason certificateHold` are usage errors (exit 2)
#     and change nothing; --help and latchkeyctl(8) say so;
#   - after a revocation, `latchkeyctl claim` is refused (exit 1, pointing at readmit), and
#     the device gets 403 with the reason on simpleenroll and on requestvoucher, even with a
#     claim written behind latchkeyctl's back (as the old rules left them);
#   - `latchkeyctl readmit SERIAL --reason R` is audited, claims the device, and it enrolls
#     again into a new binding; readmit has nothing to do a second time (exit 1);
#   - `claim --manufacturer FILE|sha256:HEX`: the claim names the manufacturer, a bad one is
#     a usage error; the right device enrolls and its binding records the manufacturer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
it_pki 2
S=$(it_serial 0); D=$(it_dev 0)
S1=$(it_serial 1); D1=$(it_dev 1)
# a MASA nobody answers at: a voucher request that passes the registrar's checks fails later
it_registrar "masa-url = https://127.0.0.1:9" "masa-timeout = 1" || exit 1
enroll() {	# enroll OUTDIR: S's IDevID, output in OUTDIR.out
	latchkey enroll --force --server "$URL" --idevid "$D/idevid.pem" \
	    --idevid-key "$D/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$1" >"$1.out" 2>&1
}
latchkeyctl --db "$DB" claim "$S" >/dev/null
check "enroll" enroll "$T/dev"

# ---- CRL reasons: only those a full CRL can carry ----------------------------------------
for r in removeFromCRL certificateHold; do
	out=$(latchkeyctl --db "$DB" revoke "$S" --reason "$r" 2>&1); rc=$?
	echo "$out"
	check "revoke --reason $r: usage error, exit 2" test "$rc" = 2
	check "revoke --reason $r: says why in one line" sh -c "test \$(printf '%s\n' \"\$1\" | wc -l) = 1 && printf '%s' \"\$1\" | grep -q \"$r\"" _ "$out"
done
check "removeFromCRL: delta CRLs only, said" sh -c "latchkeyctl --db '$DB' revoke '$S' --reason removeFromCRL 2>&1 | grep -q 'delta CRL'"
check "nothing revoked by the refused reasons" test "$(sql "SELECT count(*) FROM certificates WHERE revoked_at > 0")" = 0
check "no revoke audited" test "$(sql "SELECT count(*) FROM audit WHERE action='revoke'")" = 0
latchkeyctl revoke --help >"$T/revoke.help"
check "revoke --help names the refused reasons" sh -c "grep -q removeFromCRL '$T/revoke.help' && grep -q certificateHold '$T/revoke.help' && grep -q 'delta CRL' '$T/revoke.help'"
check "revoke --help no longer offers them as valid" sh -c "! grep -A2 'CRLReason name' '$T/revoke.help' | grep -q 'certificateHold, removeFromCRL'"
MAN=$LK_TOP/man/latchkeyctl.8
check "latchkeyctl(8) says removeFromCRL is refused" grep -q 'removeFromCRL' "$MAN"
check "latchkeyctl(8) documents readmit" grep -q '^\.It Cm readmit' "$MAN"
latchkeyctl readmit --help >"$T/readmit.help"
check "readmit --help" grep -q 'readmit SERIAL \[--reason R\]' "$T/readmit.help"
latchkeyctl --help >"$T/help"
check "latchkeyctl --help lists readmit" grep -q 'latchkeyctl readmit SERIAL' "$T/help"

# ---- revoked: claim does not re-admit ------------------------------------------------------
check "revoke keyCompromise" latchkeyctl --db "$DB" revoke "$S" --reason keyCompromise
out=$(latchkeyctl --db "$DB" claim "$S" 2>&1); rc=$?
echo "$out"
check "claim after revocation: exit 1" test "$rc" = 1
check "claim after revocation: says revoked and points at readmit" sh -c "printf '%s' \"\$1\" | grep -q 'revoked: keyCompromise' && printf '%s' \"\$1\" | grep -q 'latchkeyctl readmit $S'" _ "$out"
check "claim after revocation: no claim written" test "$(sql "SELECT count(*) FROM claims WHERE serial='$S'")" = 0
enroll "$T/dev2"
cat "$T/dev2.out"
check "enroll after the refused claim: 403 revoked" grep -q "403.*revoked: keyCompromise" "$T/dev2.out"
# A claim the old rules could have left (or anyone with the database file) changes nothing.
sqlite3 "$DB" "INSERT INTO claims (serial, claimed_at, actor) VALUES ('$S', 1, 'admin:old')"
enroll "$T/dev3"
check "enroll with a stray claim: 403 revoked" grep -q "403.*revoked: keyCompromise" "$T/dev3.out"
bk_pvr "$S" nonce-r1 "$T/reg/registrar.pem" "$D/idevid.pem" "$D/idevid.key" "$T/pvr.cms"
bk_post_reg "$T/pvr.cms" "$D/idevid.pem" "$D/idevid.key" requestvoucher "$VOUCHER_CT" >"$T/v.out"
cat "$T/v.out"
check "voucher request with a stray claim: 403" test "$(head -1 "$T/v.out")" = 403
check "voucher request: the revocation is the reason" grep -q "revoked: keyCompromise" "$T/v.out"
check "the refusals are audited" test "$(sql "SELECT count(*) FROM audit WHERE subject='$S' AND action IN ('enroll-refused','voucher-refused') AND reason LIKE '%revoked: keyCompromise%'")" -ge 3
check "still one binding, revoked" test "$(sql "SELECT group_concat(state) FROM bindings WHERE serial='$S'")" = revoked

# ---- readmit ---------------------------------------------------------------------------------
out=$(latchkeyctl --db "$DB" readmit "$S" --reason "board replaced" 2>&1); rc=$?
echo "$out"
check "readmit: exit 0" test "$rc" = 0
check "readmit audited with actor and reason" test "$(sql "SELECT count(*) FROM audit WHERE action='readmit' AND subject='$S' AND reason='board replaced' AND actor LIKE 'admin:%'")" = 1
check "the revoked binding records the re-admission" test "$(sql "SELECT count(*) FROM bindings WHERE serial='$S' AND state='revoked' AND readmitted_at > 0 AND readmit_reason='board replaced'")" = 1
check "enroll after readmit" enroll "$T/dev4"
check "two bindings: revoked, active" test "$(sql "SELECT group_concat(state, ',') FROM (SELECT state FROM bindings WHERE serial='$S' ORDER BY id)")" = "revoked,active"
out=$(latchkeyctl --db "$DB" readmit "$S" 2>&1); rc=$?
check "readmit again: exit 1, says why ($out)" sh -c "test $rc = 1 && printf '%s' \"\$1\" | grep -q 'no revoked binding'" _ "$out"
latchkeyctl --db "$DB" show "$S" >"$T/show.out"
check "show: re-admitted, by whom and why" grep -q "re-admitted .* by admin:.*: board replaced" "$T/show.out"
check "show --json: readmit_reason" test "$(latchkeyctl --db "$DB" --json show "$S" | jq -r '.bindings[0].readmit_reason')" = "board replaced"
out=$(latchkeyctl --db "$DB" readmit 'bad serial!' 2>&1); rc=$?
check "readmit: bad serial is a usage error" test "$rc" = 2

# ---- claim --manufacturer ------------------------------------------------------------------
out=$(latchkeyctl --db "$DB" claim "$S1" --manufacturer sha256:1234 2>&1); rc=$?
check "claim --manufacturer sha256:1234: usage error ($out)" test "$rc" = 2
out=$(latchkeyctl --db "$DB" claim "$S1" --manufacturer "$T/nonexistent.pem" 2>&1); rc=$?
check "claim --manufacturer missing file: usage error" test "$rc" = 2
check "claim --manufacturer FILE" latchkeyctl --db "$DB" claim "$S1" --manufacturer "$T/lab/manufacturer-ca.pem"
FP=sha256:$(openssl x509 -in "$T/lab/manufacturer-ca.pem" -outform DER | sha256sum | cut -c1-64)
check "the claim names the manufacturer's root" test "$(sql "SELECT anchor_fp FROM claims WHERE serial='$S1'")" = "$FP"
latchkeyctl --db "$DB" show "$S1" >"$T/show1.out"
check "show: claimed for the manufacturer" grep -q "claimed for manufacturer $FP" "$T/show1.out"
check "the device of that manufacturer enrolls" latchkey enroll -q --server "$URL" \
    --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/d1"
check "its binding records the manufacturer and the IDevID" test "$(sql "SELECT anchor_fp || ' ' || (idevid_fp IS NOT NULL) FROM bindings WHERE serial='$S1'")" = "$FP 1"
out=$(latchkeyctl --db "$DB" claim "$S1" --manufacturer "sha256:$(printf '%064d' 0)" 2>&1); rc=$?
check "claim naming another manufacturer replaces it (exit 0)" test "$rc" = 0
latchkey reenroll -q --out "$T/d1" 2>"$T/re1.out"
check "re-enrollment (LDevID) is not affected" test $? = 0
latchkey enroll --force --server "$URL" --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/d1b" >"$T/d1b.out" 2>&1
check "IDevID enrollment under a claim for another manufacturer: 403" grep -q "403.*claimed for another manufacturer" "$T/d1b.out"
check "audit chain verifies" latchkeyctl --db "$DB" audit --verify
it_done

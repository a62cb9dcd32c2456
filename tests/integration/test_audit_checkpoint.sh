#!/bin/bash
# Tamper evidence of the audit log that does not trust the database writer (DESIGN.md "Trust
# model"): latchkeyd has its signer sign the audit chain's head at checkpoints, logs each
# ("audit checkpoint seq=N head=sha256:... sig=..."), appends it to audit-checkpoints.log
# beside the registry and stores it in the registry. An attacker with write access to the
# database deletes a revocation from the log and re-hashes the chain: `latchkeyctl audit
# --verify` names the truncation; once the checkpoint rows are deleted too, verifying
# against the exported file (or a head noted elsewhere) still does. latchkeyd itself refuses
# to sign a head that does not extend its last checkpoint. A v5 registry migrates to v6.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 1
S=$(it_serial 0)
it_registrar || exit 1
CK=$T/reg/audit-checkpoints.log
CA=$T/reg/domain-ca.pem

it_enroll 0 "$T/dev" || { echo "enroll failed"; exit 1; }
check "revoke exits 0" latchkeyctl --db "$DB" revoke "$S" --reason keyCompromise

# The head after the revocation, as an admin would note it elsewhere.
HEAD=$(latchkeyctl --db "$DB" audit --head)
echo "head: $HEAD"
check "audit --head prints SEQ:sha256:HEX" grep -Eq '^[0-9]+:sha256:[0-9a-f]{64}$' <<<"$HEAD"
SEQ=${HEAD%%:*}; HASH=${HEAD#*:sha256:}
check "the head is the revocation's entry" test "$(sql "SELECT action FROM audit WHERE id=$SEQ")" = revoke
check "audit --head --json" test "$(latchkeyctl --db "$DB" --json audit --head | jq -r '"\(.seq):\(.head)"')" = "$HEAD"

# A checkpoint of that head follows within REGISTRAR_CKPT_SECS (10 s) and the 1 s tick.
t0=$(date +%s%N)
if wait_until 20 grep -q "audit checkpoint seq=$SEQ head=sha256:$HASH " "$CK"; then
	ok "checkpoint of entry $SEQ in $CK after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
else
	fail "no checkpoint of entry $SEQ in $CK within 20 s"; cat "$CK" 2>/dev/null
	tail -20 "$T/latchkeyd.log"
fi
check "the daemon logged it" grep -q "audit checkpoint seq=$SEQ head=sha256:$HASH at=[0-9]* sig=[A-Za-z0-9+/=]* domain=example.test" "$T/latchkeyd.log"
# the file first, then the registry: a bounded wait for the row
ckpt_stored() { test "$(sql "SELECT count(*) FROM audit_checkpoints WHERE seq=$SEQ AND head='$HASH'")" = 1; }
check "stored in the registry" wait_until 5 ckpt_stored
check "registry schema v6 or later" test "$(sql "PRAGMA user_version")" -ge 6

# The signature is what signer.h documents, checked by the openssl command line alone.
line=$(grep "audit checkpoint seq=$SEQ " "$CK" | tail -1)
at=$(sed -n 's/.* at=\([0-9]*\) .*/\1/p' <<<"$line")
sed -n 's/.* sig=\([^ ]*\) .*/\1/p' <<<"$line" | base64 -d >"$T/sig.bin"
printf 'latchkey-audit-checkpoint v1\ndomain=%s\nseq=%s\nhead=sha256:%s\nat=%s\n' \
    example.test "$SEQ" "$HASH" "$at" >"$T/tbs.txt"
openssl x509 -in "$CA" -pubkey -noout >"$T/ca.pub"
check "signature verifies with openssl dgst and the domain CA's key" \
    sh -c "openssl dgst -sha256 -verify '$T/ca.pub' -signature '$T/sig.bin' '$T/tbs.txt' | grep -q 'Verified OK'"

out=$(latchkeyctl --db "$DB" audit --verify 2>&1); rc=$?
echo "$out"
check "audit --verify: intact, checkpoints verified" sh -c "test $rc = 0 && echo '$out' | grep -q 'audit log intact (.* [1-9][0-9]* checkpoints\{0,1\} verified)'"
check "audit --verify --head SEQ:HASH: intact" latchkeyctl --db "$DB" audit --verify --head "$HEAD"
check "audit --verify --checkpoints FILE: intact" latchkeyctl --db "$DB" audit --verify --checkpoints "$CK"
check "audit --verify --json counts checkpoints" test "$(latchkeyctl --db "$DB" --json audit --verify | jq '.intact and .checkpoints >= 1')" = true

n_before=$(grep -c "audit checkpoint" "$CK")
it_stop_registrar
check "latchkeyd stopped cleanly" grep -q "worker stopped" "$T/latchkeyd.log"
check "a clean stop adds no checkpoint of an unchanged head" test "$(grep -c "audit checkpoint" "$CK")" = "$n_before"

# --- the attacker: write access to the database, nothing else -------------------------
# A copy of the stopped registry: the online backup, since a plain cp of the main file can
# miss what the WAL still holds.
latchkeyctl --db "$DB" backup "$T/pristine.db" >/dev/null || { echo "backup failed"; exit 1; }
# rehash: recompute every prev_hash and hash in id order (the format registry.h documents:
# hex SHA-256 of prev|at|actor|action|subject|reason|details separated by 0x1f).
rehash() {
	local prev="" id rest hex h
	: >"$T/rehash.sql"
	sqlite3 "$DB" "SELECT id, hex(CAST(at AS TEXT)) || '1F' || hex(actor) || '1F' || \
	    hex(action) || '1F' || hex(coalesce(subject, '')) || '1F' || \
	    hex(coalesce(reason, '')) || '1F' || hex(coalesce(details, '')) FROM audit \
	    ORDER BY id" >"$T/rows"
	while IFS='|' read -r id rest; do
		hex=$(printf '%s' "$prev" | od -An -tx1 | tr -d ' \n')1F$rest
		h=$(printf '%b' "$(sed 's/../\\x&/g' <<<"$hex")" | sha256sum | cut -d' ' -f1)
		echo "UPDATE audit SET prev_hash='$prev', hash='$h' WHERE id=$id;" >>"$T/rehash.sql"
		prev=$h
	done <"$T/rows"
	sqlite3 "$DB" <"$T/rehash.sql"
}
sqlite3 "$DB" "DELETE FROM audit WHERE action='revoke' AND subject='$S'; \
    UPDATE bindings SET state='active', revoked_at=NULL, reason=NULL, revoked_by=NULL \
    WHERE serial='$S'; UPDATE certificates SET revoked_at=NULL, reason=NULL \
    WHERE device_serial='$S'"
rehash
check "the revocation is gone from the log" test "$(sql "SELECT count(*) FROM audit WHERE action='revoke'")" = 0
# What the chain alone says: nothing wrong (the old check, still part of --verify).
latchkeyctl --db "$DB" backup "$T/chainonly.db" >/dev/null || { echo "backup failed"; exit 1; }
sqlite3 "$T/chainonly.db" "DELETE FROM audit_checkpoints"
out=$(latchkeyctl --db "$T/chainonly.db" audit --verify 2>&1); rc=$?
check "without anchors the re-hashed chain verifies (why checkpoints are exported): $out" test "$rc" = 0

out=$(latchkeyctl --db "$DB" audit --verify 2>&1); rc=$?
echo "$out"
check "audit --verify fails (exit 1) after the revocation was deleted" test "$rc" = 1
check "audit --verify names the truncation" grep -q "audit log truncated: a checkpoint covers entry $SEQ but the log ends at entry $((SEQ - 1))" <<<"$out"
check "audit --verify: one line" test "$(wc -l <<<"$out")" = 1
out=$(latchkeyctl --db "$DB" --json audit --verify 2>/dev/null); rc=$?
check "audit --verify --json: intact false, reason" sh -c "test $rc = 1 && echo '$out' | jq -e '.intact == false and (.reason | test(\"truncated\"))' >/dev/null"

# The writer deletes the checkpoints too: the registry no longer knows; the export does.
sqlite3 "$DB" "DELETE FROM audit_checkpoints"
out=$(latchkeyctl --db "$DB" audit --verify --checkpoints "$CK" 2>&1); rc=$?
echo "$out"
check "audit --verify --checkpoints FILE fails (exit 1) with the checkpoint rows deleted" test "$rc" = 1
check "... and names the truncation and the file line" sh -c "echo '$out' | grep -q 'truncated: a checkpoint covers entry $SEQ' && echo '$out' | grep -q 'audit-checkpoints.log line'"
out=$(latchkeyctl --db "$DB" audit --verify --head "$HEAD" 2>&1); rc=$?
echo "$out"
check "audit --verify --head SEQ:HASH fails (exit 1): truncated" sh -c "test $rc = 1 && echo '$out' | grep -q 'truncated.*against the given head'"
out=$(latchkeyctl --db "$DB" audit --verify --head="$HEAD" 2>&1); rc=$?
check "--head=SEQ:HASH works as well" test "$rc" = 1

# A forged line in the file does not pass: the signature covers every field.
sed "s/seq=$SEQ head=sha256:$HASH/seq=$((SEQ - 1)) head=sha256:$(sql "SELECT hash FROM audit WHERE id=$((SEQ - 1))")/" "$CK" >"$T/forged.log"
out=$(latchkeyctl --db "$DB" audit --verify --checkpoints "$T/forged.log" 2>&1); rc=$?
echo "$out"
check "a forged checkpoint line: exit 1, forged" sh -c "test $rc = 1 && echo '$out' | grep -q forged"
out=$(latchkeyctl --db "$DB" audit --verify --checkpoints "$T/nonexistent.log" 2>&1); rc=$?
check "a missing checkpoint file: exit 1 with the reason ($out)" sh -c "test $rc = 1 && echo '$out' | grep -q 'nonexistent.log'"
out=$(latchkeyctl --db "$DB" audit --verify --head 2>&1); rc=$?
check "--verify --head without SEQ:HASH: usage error 2" test "$rc" = 2

# latchkeyd will not anchor the forged history: its last checkpoint (the file's) is not
# extended by the chain, so the new head is not signed and the daemon says why.
it_registrar || exit 1
latchkeyctl --db "$DB" claim LKNEWDEVICE >/dev/null
if wait_until 20 grep -q "not signing the audit head" "$T/latchkeyd.log"; then
	ok "latchkeyd refuses to sign a head that does not extend its last checkpoint"
else
	fail "latchkeyd did not refuse the forged head"; tail -5 "$T/latchkeyd.log"
fi
check "no checkpoint of the forged chain was written" test "$(grep -c "audit checkpoint" "$CK")" = "$n_before"
it_stop_registrar

# v5 -> v6: the pristine registry as v5 had it (no checkpoints table) migrates on the first
# read-write open and keeps its chain.
V5=$T/v5/registry.db
mkdir -p "$T/v5"; cp "$T/pristine.db" "$V5"; cp "$CA" "$T/v5/"
sqlite3 "$V5" "DROP TABLE audit_checkpoints; DROP TABLE IF EXISTS pending; ALTER TABLE certificates DROP COLUMN ca_kid; PRAGMA user_version = 5"
out=$(latchkeyctl --db "$V5" audit --verify 2>&1); rc=$?
check "a v5 registry is not migrated read-only ($out)" sh -c "test $rc = 1 && echo '$out' | grep -q 'needs migration'"
latchkeyctl --db "$V5" claim LKMIGRATE >/dev/null
check "v5 -> v6 (and later) on the first read-write open" test "$(sqlite3 "$V5" "PRAGMA user_version")" -ge 6
check "the migrated chain verifies" latchkeyctl --db "$V5" audit --verify
check "the migrated chain holds the noted head" latchkeyctl --db "$V5" audit --verify --head "$HEAD"
it_done

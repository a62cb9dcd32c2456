#!/bin/bash
# Online backup and restore (latchkeyctl(8), backup). 64 parallel `latchkey enroll` clients
# run while `latchkeyctl backup` copies the registry; what had been answered before the
# backup started (exit 0 and an LDevID) is recorded. After the load, latchkeyd is stopped
# and the backup restored as latchkeyctl(8) says; then:
#   - `audit --verify` passes on the restored registry, owned by the workers' user (when
#     run as root) and mode 0600;
#   - every enrollment answered before the backup started has its certificate in it;
#   - latchkeyd starts on it, a new enrollment succeeds, and a new head is signed;
#   - backup refuses an existing FILE without --force (exit 1, saying so), replaces it with;
#   - `audit --action enroll --json` lists only enroll entries.
. "$(dirname "$0")/lib.sh"
it_init
N=64
it_pki $((N + 1))	# device N enrolls after the restore
it_registrar || exit 1
jq -r '.devices[].serial' "$T/lab.json" >"$T/serials"
check "claim $((N + 1)) serials" sh -c "latchkeyctl --db '$DB' claim --file '$T/serials' >/dev/null"
jq -r ".devices[0:$N][] | \"\(.serial) \(.cert) \(.key)\"" "$T/lab.json" >"$T/devs"
mkdir -p "$T/out" "$T/bak"
BAK=$T/bak/registry-1.db

# nserial FILE: the certificate serial of an LDevID, as the registry compares it
nserial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr a-f A-F | sed 's/^0*//'; }
# answered: the serials whose client exited 0 with an LDevID
answered() {
	local f s
	for f in "$T"/out/*.rc; do
		[ -e "$f" ] || continue
		s=$(basename "$f" .rc)
		[ "$(cat "$f")" = 0 ] && [ -s "$T/out/$s/ldevid.pem" ] && echo "$s"
	done
	return 0
}

# ---- the load: N clients at once, each bounded; the exit status is written last ---------
xargs -P "$N" -L 1 sh -c 'timeout 120 latchkey enroll --server "$0" --idevid "$2" \
    --idevid-key "$3" --ca "$4" --out "$5/$1" --json >"$5/$1.json" 2>"$5/$1.err";
    echo $? >"$5/$1.rc.tmp"; mv "$5/$1.rc.tmp" "$5/$1.rc"' "$URL" <<EOF2 &
$(awk -v ca="$T/reg/domain-ca.pem" -v out="$T/out" '{print $1, $2, $3, ca, out}' "$T/devs")
EOF2
LOAD=$!
# the backup while the load runs: once the first client was answered
wait_until 60 sh -c "ls '$T'/out/*.rc >/dev/null 2>&1" || echo "no client answered yet"
answered | sort >"$T/before"
latchkeyctl --db "$DB" --json backup "$BAK" >"$T/backup.json" 2>"$T/backup.err"
rc=$?
during=$(ls "$T"/out/*.rc 2>/dev/null | wc -l)
cat "$T/backup.json" "$T/backup.err"
echo "answered before the backup: $(wc -l <"$T/before") of $N; finished by its end: $during"
check "backup during the load exits 0" test "$rc" = 0
check "backup --json names the file" test "$(jq -r .backup "$T/backup.json")" = "$BAK"
check "backup --json: audit_head SEQ:sha256:HEX" \
    grep -Eq '^[0-9]+:sha256:[0-9a-f]{64}$' <<<"$(jq -r .audit_head "$T/backup.json")"
check "backup --json: entries matches the head's seq" \
    test "$(jq -r .entries "$T/backup.json")" = "$(jq -r '.audit_head | split(":")[0]' "$T/backup.json")"
check "the backup is mode 0600" test "$(stat -c %a "$BAK")" = 600
check "no temporary file, -wal or -shm left beside it" test "$(ls -A "$T/bak")" = registry-1.db
check "the backup is in WAL mode, as the registry" \
    test "$(od -A n -t u1 -j 18 -N 2 "$BAK" | tr -s ' ')" = " 2 2"

for i in $(seq 1 150); do kill -0 "$LOAD" 2>/dev/null || break; sleep 1; done
kill -0 "$LOAD" 2>/dev/null && { fail "load still running after 150 s"; kill "$LOAD"; }
wait "$LOAD" 2>/dev/null
answered | sort >"$T/all"
check "all $N clients got an LDevID ($(wc -l <"$T/all"))" test "$(wc -l <"$T/all")" = "$N"
check "some were answered before the backup ($(wc -l <"$T/before"))" test -s "$T/before"

# ---- refusals and filters on the live registry ------------------------------------------
out=$(latchkeyctl --db "$DB" backup "$BAK" 2>&1); rc=$?
echo "backup over an existing file: exit $rc: $out"
check "backup refuses an existing FILE: exit 1" test "$rc" = 1
check "... saying it exists and that --force replaces it" \
    grep -q "latchkeyctl: backup: .*registry-1.db exists; --force replaces it" <<<"$out"
check "... and leaves it alone" \
    test "$(jq -r .audit_head "$T/backup.json")" = "$(latchkeyctl --db "$BAK" audit --head)"
echo junk >"$T/bak/registry-2.db"
check "backup --force replaces an existing FILE" \
    latchkeyctl --db "$DB" backup --force "$T/bak/registry-2.db"
check "... with the registry as it is now" test "$(latchkeyctl --db "$T/bak/registry-2.db" \
    audit --head)" = "$(latchkeyctl --db "$DB" audit --head)"
latchkeyctl --db "$DB" backup "$DB" >/dev/null 2>&1
check "backup onto the registry itself: refused" test $? = 1
latchkeyctl --db "$DB" audit --action enroll --json >"$T/enroll.json"
check "audit --action enroll --json: only enroll entries" \
    test "$(jq -r '.entries[].action' "$T/enroll.json" | sort -u)" = enroll
check "... all $N of them" test "$(jq '.entries | length' "$T/enroll.json")" = "$N"
check "audit --action claim,enroll: both kinds, nothing else" \
    test "$(latchkeyctl --db "$DB" --json audit --action claim,enroll --action enroll |
        jq -r '.entries[].action' | sort -u | tr '\n' ' ')" = "claim enroll "
check "audit --action enroll (text): $N lines, each an enroll" \
    test "$(latchkeyctl --db "$DB" audit --action enroll | awk '$4 == "enroll"' | wc -l)" = "$N"
check "audit --action with --since in the future: nothing" \
    test "$(latchkeyctl --db "$DB" --json audit --action enroll --since $(( $(date +%s) + 3600 )) |
        jq '.entries | length')" = 0
latchkeyctl --db "$DB" audit --action enroll --verify >/dev/null 2>&1
check "audit --action with --verify: usage error" test $? = 2

# ---- restore, as latchkeyctl(8) says ----------------------------------------------------
it_stop_registrar
owner=$(stat -c %U "$DB")
rm -f "$DB"	# as on a new machine: the copy is root's, so the chown below matters
cp "$BAK" "$DB"
rm -f "$DB-wal" "$DB-shm"
[ -e "$T/reg/audit-checkpoints.log" ] && mv "$T/reg/audit-checkpoints.log" \
    "$T/reg/audit-checkpoints.log.before-restore"
if [ "$(id -u)" = 0 ] && id -u latchkey >/dev/null 2>&1; then chown latchkey "$DB"; fi
chmod 0600 "$DB"
check "the restored registry keeps its owner ($owner), mode 0600" \
    test "$(stat -c '%U %a' "$DB")" = "$owner 600"
check "audit --verify passes on the restored registry" latchkeyctl --db "$DB" audit --verify
missing=0
while read -r s; do
	cs=$(nserial "$T/out/$s/ldevid.pem")
	[ "$(sql "SELECT count(*) FROM certificates WHERE upper(ltrim(cert_serial,'0'))='$cs'")" = 1 ] ||
	    { echo "answered before the backup, not restored: $s ($cs)"; missing=$((missing + 1)); }
done <"$T/before"
check "every enrollment answered before the backup is restored ($(wc -l <"$T/before"))" \
    test "$missing" = 0
echo "restored certificates: $(sql 'SELECT count(*) FROM certificates') of $N issued"

# ---- latchkeyd on the restored registry ---------------------------------------------------
it_registrar || exit 1
S=$(it_serial "$N"); D=$(it_dev "$N")
check "a new enrollment after the restore ($S)" latchkey enroll -q --server "$URL" \
    --idevid "$D/idevid.pem" --idevid-key "$D/idevid.key" --ca "$T/reg/domain-ca.pem" \
    --out "$T/new"
check "... its certificate is in the registry" test "$(sql "SELECT count(*) FROM certificates \
    WHERE upper(ltrim(cert_serial,'0'))='$(nserial "$T/new/ldevid.pem")'")" = 1
check "the registry is in WAL mode" test "$(sql 'PRAGMA journal_mode')" = wal
it_stop_registrar
check "audit --verify passes after the restart" latchkeyctl --db "$DB" audit --verify
check "latchkeyd signed the new head (audit --verify --checkpoints)" latchkeyctl --db "$DB" \
    audit --verify --checkpoints "$T/reg/audit-checkpoints.log"
check "latchkeyd refused no head" sh -c "! grep -q 'not signing' '$T/latchkeyd.log'"
it_done

#!/bin/bash
# Concurrency: 200 enrollments from 50 parallel `latchkey enroll` clients (each its own TLS
# connection and channel binding). Every certificate returned is in the registry exactly once,
# there is one binding per device, audit entries match and the chain verifies.
# LK_SYNC=normal (test_concurrency_normal.sh) runs it with registry-sync = normal, where each
# worker commits in its event loop instead of a committer thread.
. "$(dirname "$0")/lib.sh"
it_init
N=200 P=50
SYNC=${LK_SYNC:-full}
it_pki "$N"
it_registrar "registry-sync = $SYNC" || exit 1
# registry-sync = full: a committer thread beside each worker's event loop; normal: none
want_threads=2
[ "$SYNC" = normal ] && want_threads=1
threads=$(for w in $(pgrep -P "$LKD_PID"); do
	grep -qs '^Name:.*latchkeyd' /proc/"$w"/status && ls /proc/"$w"/task | wc -l
done | sort -u | tr '\n' ' ')
check "registry-sync = $SYNC: $want_threads thread(s) per worker ($threads)" \
    test "$threads" = "$want_threads "
jq -r '.devices[].serial' "$T/lab.json" >"$T/serials"
{ echo "# claims for the concurrency test"; cat "$T/serials"; } >"$T/claims"
check "claim --file with $N serials" latchkeyctl --db "$DB" claim --file "$T/claims"
check "$N claims recorded" test "$(sql 'SELECT count(*) FROM claims')" = "$N"

jq -r '.devices[] | "\(.serial) \(.cert) \(.key)"' "$T/lab.json" >"$T/devs"
mkdir -p "$T/out"
start=$(date +%s.%N)
# bounded: N jobs, P at a time, each with its own timeout
xargs -P "$P" -L 1 sh -c 'timeout 120 latchkey enroll --server "$0" --idevid "$2" \
    --idevid-key "$3" --ca "$4" --out "$5/$1" --json >"$5/$1.json" 2>"$5/$1.err"' \
    "$URL" <<EOF2 || true
$(awk -v ca="$T/reg/domain-ca.pem" -v out="$T/out" '{print $1, $2, $3, ca, out}' "$T/devs")
EOF2
end=$(date +%s.%N)
echo "$N enrollments, $P parallel: $(awk "BEGIN{printf \"%.2f\", $end - $start}") s"
got=$(ls "$T"/out/*/ldevid.pem 2>/dev/null | wc -l)
check "all $N clients got an LDevID ($got)" test "$got" = "$N"
for f in "$T"/out/*.err; do [ -s "$f" ] && grep -l "latchkey:.*\(refused\|error\|failed\)" "$f"; done | head -3
for d in "$T"/out/*/; do openssl x509 -in "$d/ldevid.pem" -noout -serial | cut -d= -f2; done |
    tr a-f A-F | sed 's/^0*//' | sort >"$T/issued"
check "$N distinct certificate serials returned" test "$(sort -u "$T/issued" | wc -l)" = "$N"
sql "SELECT upper(ltrim(cert_serial,'0')) FROM certificates" | sort >"$T/registered"
check "every returned certificate is in the registry exactly once" \
    test "$(join "$T/issued" <(uniq -c "$T/registered" | awk '$1==1{print $2}') | wc -l)" = "$N"
check "registry has exactly $N certificates" test "$(wc -l <"$T/registered")" = "$N"
check "one active binding per device" test "$(sql "SELECT count(DISTINCT serial) || '/' || count(*) FROM bindings WHERE state='active'")" = "$N/$N"
check "$N enroll audit entries" test "$(sql "SELECT count(*) FROM audit WHERE action='enroll'")" = "$N"
check "audit subjects match the bindings" test "$(sql "SELECT count(*) FROM audit a JOIN bindings b ON a.subject=b.serial WHERE a.action='enroll'")" = "$N"
check "no refusals" test "$(sql "SELECT count(*) FROM audit WHERE action='enroll-refused'")" = 0
check "audit chain verifies" latchkeyctl --db "$DB" audit --verify
check "latchkeyd alive" kill -0 "$LKD_PID"
# Group commit: each worker logs at its stop how many enrollments its commits carried.
it_stop_registrar
read -r enr com < <(sed -n 's/.*; \([0-9]*\) enrollments in \([0-9]*\) commits.*/\1 \2/p' \
    "$T/latchkeyd.log" | awk '{e += $1; c += $2} END {print e + 0, c + 0}')
echo "group commit: $enr enrollments in $com transactions"
check "every enrollment was answered after a group commit ($enr)" test "$enr" = "$N"
check "no more transactions than enrollments ($com)" test "$com" -ge 1 -a "$com" -le "$enr"
it_done

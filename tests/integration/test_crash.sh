#!/bin/bash
# Crash consistency (issue 10, "Faults and abuse"): 500 bounded enrollments from parallel
# `latchkey enroll` clients while latchkeyd's workers and its parent are SIGKILLed at random
# moments and the registrar is restarted on the same registry (registry-sync = full, the
# default). Afterwards: every certificate a client received is in the registry exactly once,
# no binding is half-written, the audit chain verifies, and the registrar still serves.
. "$(dirname "$0")/lib.sh"
FAULTS=$(cd "$(dirname "$0")" && pwd)/faults
it_init
NDEV=50 ROUNDS=10 P=2 TRIES=8 NWORKERS=3	# P=2: the run lasts long enough (~15 s) for every planned kill
N=$((NDEV * ROUNDS))
# Kinds of kill, in order: w = one worker (the parent restarts it), p = the parent, then its
# workers a moment later (we restart latchkeyd). Moments are random.
KILLS=(w p w w p w p w)
it_pki "$NDEV"
it_registrar "workers = $NWORKERS" || exit 1
jq -r '.devices[].serial' "$T/lab.json" >"$T/claims"
latchkeyctl --db "$DB" claim --file "$T/claims" >/dev/null || { echo "claim failed"; exit 1; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# workers_of PID: the parent's worker processes (its children), one per line
workers_of() { pgrep -P "$1" 2>/dev/null || true; }
# is_lkd PID: PID is a live latchkeyd process (not a zombie, not a reused PID)
is_lkd() {
	local s
	s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$s" != Z ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q latchkeyd
}
# gone PID...: none of them is a live latchkeyd any more
gone() {
	local p
	for p in "$@"; do ! is_lkd "$p" || return 1; done
}
# forget PID: it_cleanup must not signal a PID we killed and reaped (it may be reused)
forget() {
	local p keep=()
	for p in "${IT_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	IT_PIDS=("${keep[@]}")
}
# wait_port_free: nothing listens on $PORT any more (all workers gone), at most 10 s
wait_port_free() {
	local _
	for _ in $(seq 1 100); do
		ss -Htln "sport = :$PORT" | grep -q . || return 0
		sleep 0.1
	done
	return 1
}
# wait_workers N: the parent has N workers again, at most 10 s
wait_workers() {
	local _
	for _ in $(seq 1 100); do
		[ "$(workers_of "$LKD_PID" | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
declare -A BIRTH	# worker PID -> when we first saw it (ms)
ALL_WORKERS=()	# every worker PID seen, to make sure none outlives the test
seen_workers() {
	local p
	for p in $(workers_of "$LKD_PID"); do
		[ -n "${BIRTH[$p]:-}" ] && continue
		BIRTH[$p]=$(now_ms)
		ALL_WORKERS+=("$p")
	done
}
wait_workers "$NWORKERS" || { echo "latchkeyd has no $NWORKERS workers"; exit 1; }
seen_workers

# Jobs: device i, round r enrolls into out/SERIAL-r (a fresh LDevID each time).
mkdir -p "$T/out"
jq -r '.devices[] | "\(.serial) \(.cert) \(.key)"' "$T/lab.json" >"$T/devs"
for r in $(seq 1 "$ROUNDS"); do
	awk -v r="$r" -v o="$T/out" -v n="$TRIES" '{print o "/" $1 "-" r, $2, $3, n}' "$T/devs"
done >"$T/jobs"
start=$(now_ms)
xargs -P "$P" -L 1 sh -c '"$0" "$1" "$2" "$3" "$4" "$5" "$6"' "$FAULTS/enroll_retry.sh" \
    "$URL" "$T/reg/domain-ca.pem" <"$T/jobs" >/dev/null 2>&1 &
XPID=$!

wkills=0 pkills=0 restarts_ok=0 restart_ms=0
for kind in "${KILLS[@]}"; do
	# Pacing, not synchronisation: the kills land at random moments of the run.
	sleep "0.$((1 + RANDOM % 5))$((RANDOM % 10))"	# 0.10 .. 0.59 s: 500 enrollments take ~8 s
	kill -0 "$XPID" 2>/dev/null || break
	seen_workers
	if [ "$kind" = w ]; then
		# The parent refuses to restart a worker that dies within 2 s of starting (crash
		# loop guard): pick a worker older than 2.5 s (waiting if need be). That window
		# is checked on its own below.
		victim=""
		while [ -z "$victim" ] && kill -0 "$XPID" 2>/dev/null; do
			mapfile -t ws < <(workers_of "$LKD_PID")
			for p in "${ws[@]}"; do
				[ -n "${BIRTH[$p]:-}" ] || BIRTH[$p]=$(now_ms)
				[ $(( $(now_ms) - BIRTH[$p] )) -ge 2500 ] && victim=$p
			done
			[ -n "$victim" ] || sleep 0.1
		done
		[ -n "$victim" ] || break
		kill -KILL "$victim" 2>/dev/null && wkills=$((wkills + 1))
		echo "kill $((wkills + pkills)): SIGKILL worker $victim at +$(( $(now_ms) - start )) ms"
		if ! wait_workers "$NWORKERS"; then
			fail "parent $LKD_PID did not replace worker $victim"
			break
		fi
		seen_workers
	else
		mapfile -t ws < <(workers_of "$LKD_PID")
		kill -KILL "$LKD_PID" 2>/dev/null && pkills=$((pkills + 1))
		echo "kill $((wkills + pkills)): SIGKILL parent $LKD_PID at +$(( $(now_ms) - start )) ms" \
		    "(workers ${ws[*]} go on serving for a moment)"
		wait "$LKD_PID" 2>/dev/null
		forget "$LKD_PID"
		sleep "0.$((RANDOM % 5))"	# scenario: the orphaned workers serve on for a moment
		kill -KILL "${ws[@]}" 2>/dev/null
		t0=$(now_ms)
		wait_port_free || { fail "old workers still listen on $PORT"; break; }
		it_registrar "workers = $NWORKERS" || { fail "restart after kill"; break; }
		restarts_ok=$((restarts_ok + 1))
		restart_ms=$((restart_ms + $(now_ms) - t0))
		wait_workers "$NWORKERS" || { fail "restarted latchkeyd has no workers"; break; }
		seen_workers
	fi
done
wait "$XPID"
secs=$(awk -v ms=$(( $(now_ms) - start )) 'BEGIN{printf "%.1f", ms / 1000}')
kills=$((wkills + pkills))
attempts=$(cat "$T"/out/*.tries 2>/dev/null | awk '{s += $1} END{print s + 0}')
okjobs=$(ls "$T"/out/*.ok 2>/dev/null | wc -l)
echo "kills: $kills ($wkills workers, $pkills parents; $restarts_ok restarts," \
    "$([ "$restarts_ok" -gt 0 ] && echo "$((restart_ms / restarts_ok))" || echo 0) ms each)"
echo "enrollments: $okjobs of $N succeeded in ${secs} s with $attempts attempts ($P parallel)"
check "at least 5 kills happened during the enrollments ($kills)" test "$kills" -ge 5
check "every bounded client succeeded ($okjobs/$N)" test "$okjobs" = "$N"
for f in "$T"/out/*.err; do [ -s "$f" ] && cat "$f"; done | sed 's/[0-9A-F]\{16,\}/X/g' |
    sort | uniq -c | sort -rn | head -5 | sed 's/^/    client errors seen: /'

# What the clients hold.
ls "$T"/out/*/ldevid.pem 2>/dev/null >"$T/files"
while read -r f; do
	openssl x509 -in "$f" -noout -serial | cut -d= -f2
done <"$T/files" | tr a-f A-F | sed 's/^0*//' | sort >"$T/received"
nrecv=$(wc -l <"$T/received")
check "clients hold one LDevID per successful job ($nrecv/$okjobs)" test "$nrecv" = "$okjobs"
check "no certificate serial was handed out twice" test "$(sort -u "$T/received" | wc -l)" = "$nrecv"
sql "SELECT upper(ltrim(cert_serial,'0')) FROM certificates" | sort >"$T/registered"
nreg=$(wc -l <"$T/registered")
check "every received certificate is in the registry exactly once" \
    test "$(join "$T/received" <(uniq -c "$T/registered" | awk '$1==1{print $2}') | wc -l)" = "$nrecv"
# An answer lost to a kill after the commit leaves a certificate the client never got; there
# can be at most one such per failed attempt.
lost=$((nreg - nrecv))
echo "registry: $nreg certificates, $lost committed but never delivered; $((attempts - okjobs)) failed attempts"
check "undelivered certificates ($lost) bounded by failed attempts" \
    test "$lost" -ge 0 -a "$lost" -le $((attempts - okjobs))
check "registry integrity_check" test "$(sql 'PRAGMA integrity_check')" = ok
check "no binding without a certificate" test "$(sql "SELECT count(*) FROM bindings b WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.binding_id = b.id)")" = 0
check "no binding without an enroll audit entry" test "$(sql "SELECT count(*) FROM bindings b WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.action = 'enroll' AND a.subject = b.serial)")" = 0
check "no certificate without its binding" test "$(sql "SELECT count(*) FROM certificates c LEFT JOIN bindings b ON b.id = c.binding_id WHERE b.id IS NULL OR b.serial != c.device_serial")" = 0
check "one enroll audit entry per certificate" test "$(sql "SELECT count(*) FROM audit WHERE action = 'enroll'")" = "$nreg"
check "one active binding per device ($NDEV)" test "$(sql "SELECT count(DISTINCT serial) || '/' || count(*) FROM bindings WHERE state = 'active'")" = "$NDEV/$NDEV"
check "audit chain verifies" latchkeyctl --db "$DB" audit --verify

# After all that, a fresh enrollment works.
D0=$(it_dev 0)
check "latchkeyd still serves a good enrollment" latchkey enroll -q --server "$URL" \
    --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" --ca "$T/reg/domain-ca.pem" \
    --out "$T/final"

# A worker killed within 2 s of its start trips the parent's crash-loop guard: the parent
# exits. Whatever it decides, it must not leave workers running without a parent.
seen_workers
mapfile -t ws < <(workers_of "$LKD_PID")
# Scenario timing, not synchronisation: the worker must be past the 2 s crash-loop window
# (ends by itself: a wait of at most 2.5 s for the clock).
while [ $(( $(now_ms) - BIRTH[${ws[0]}] )) -lt 2500 ]; do sleep 0.1; done
kill -KILL "${ws[0]}"
# Wait for its replacement (a worker that was not there before; the killed one may still
# be listed, as a zombie, for a moment).
replaced() {
	local p
	for p in $(workers_of "$LKD_PID"); do [[ " ${ws[*]} " == *" $p "* ]] || return 0; done
	return 1
}
wait_until 10 replaced
wait_workers "$NWORKERS"
seen_workers
new=""
for p in $(workers_of "$LKD_PID"); do [[ " ${ws[*]} " == *" $p "* ]] || new=$p; done
if [ -n "$new" ]; then
	kill -KILL "$new"
	# Wait for the parent's decision: it has exited, or it has replaced the killed worker.
	decided() {
		! is_lkd "$LKD_PID" && return 0
		[ "$(workers_of "$LKD_PID" | wc -l)" -ge "$NWORKERS" ] &&
		    ! workers_of "$LKD_PID" | grep -qx "$new"
	}
	wait_until 10 decided
	if is_lkd "$LKD_PID"; then
		check "a fresh worker killed: the parent kept going with $NWORKERS workers" \
		    wait_workers "$NWORKERS"
	else
		wait "$LKD_PID" 2>/dev/null
		forget "$LKD_PID"
		grep -h "exited" "$T/latchkeyd.log" | tail -1 | sed 's/^/    latchkeyd: /'
		orphans=()
		for p in "${ALL_WORKERS[@]}"; do gone "$p" || orphans+=("$p"); done
		check "parent stopped on its crash-loop guard: no orphaned workers (${orphans[*]:-none})" \
		    test "${#orphans[@]}" = 0
	fi
else
	fail "the parent did not replace a killed worker"
fi

# Stop, by PID, any worker we saw that outlived its parent (it_cleanup stops the current
# parent, which stops its own workers).
for p in "${ALL_WORKERS[@]}"; do
	is_lkd "$p" || continue
	[ "$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)" = "$LKD_PID" ] && is_lkd "$LKD_PID" &&
	    continue
	kill -KILL "$p" 2>/dev/null
done
it_done

#!/bin/bash
# Slow and idle clients (issue 10, "Faults and abuse"): 500 connections that send nothing or
# trickle bytes (a TLS ClientHello, or an HTTP request after the handshake, two bytes a
# second) do not stop a new enrollment from completing; idle connections are dropped after
# idle-timeout; trickling ones within a bound too (a slow client must not hold a connection
# for ever). Then the same with latchkeyd's open-file limit (soft and hard: latchkeyd raises
# its soft limit to the hard one) at 256 per worker, which is what any limit looks like to a
# big enough crowd: the registrar must not spin on accept() and must recover once the slow
# clients' time is up.
. "$(dirname "$0")/lib.sh"
FAULTS=$(cd "$(dirname "$0")" && pwd)/faults
command -v python3 >/dev/null || { echo "python3 not found"; exit 77; }
python3 -c 'import ssl, selectors, resource' 2>/dev/null ||
    { echo "python3 lacks ssl/selectors/resource"; exit 77; }
it_init
IDLE=3
it_pki 2
S0=$(it_serial 0); D0=$(it_dev 0)
echo "open files: this shell soft $(ulimit -Sn), hard $(ulimit -Hn)"
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 700 ] ||
    { echo "hard open-file limit $(ulimit -Hn) < 700: cannot hold 600 connections"; exit 77; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# hold NAME HOLD_SECS HELPER_ARGS...: start the connection holder in the background
hold() {
	local name=$1 secs=$2 _
	shift 2
	rm -f "$T/$name.ready" "$T/$name.json"
	python3 "$FAULTS/hold_conns.py" --port "$PORT" --hold "$secs" --ready "$T/$name.ready" \
	    --out "$T/$name.json" "$@" &
	HOLD_PID=$!
	IT_PIDS+=("$HOLD_PID")
	for _ in $(seq 1 200); do [ -f "$T/$name.ready" ] && return 0; sleep 0.1; done
	return 1
}
# enroll_timed OUT LIMIT: one enrollment of device 0; sets ENROLL_MS and ENROLL_RC
enroll_timed() {
	local t0
	t0=$(now_ms)
	latchkey enroll -q --force --timeout "$2" --server "$URL" --idevid "$D0/idevid.pem" \
	    --idevid-key "$D0/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/$1" \
	    >"$T/$1.out" 2>&1
	ENROLL_RC=$?
	ENROLL_MS=$(( $(now_ms) - t0 ))
}
# unhold: wait for the holder and forget its PID
unhold() {
	local p keep=()
	wait "$HOLD_PID"
	for p in "${IT_PIDS[@]}"; do [ "$p" = "$HOLD_PID" ] || keep+=("$p"); done
	IT_PIDS=("${keep[@]}")
}
jqr() { jq -r "$1" "$2"; }
# workers_up N: latchkeyd has its N workers
workers_up() { [ "$(pgrep -P "$LKD_PID" | wc -l)" = "$1" ]; }
# backlog_empty: no connection waits in latchkeyd's listen queue (Recv-Q of a listening
# socket): every connection that reached the registrar has been accepted by a worker
backlog_empty() { [ "$(ss -Htln "( sport = :$PORT )" | awk '{ n += $1 } END { print n + 0 }')" = 0 ]; }
# fds_full N: every worker in W0 has N descriptors open (all it may have)
fds_full() {
	local p
	for p in "${W0[@]}"; do [ "$(ls "/proc/$p/fd" 2>/dev/null | wc -l)" -ge "$1" ] || return 1; done
}

it_registrar "idle-timeout = $IDLE" "workers = 2" || exit 1
latchkeyctl --db "$DB" claim "$S0" >/dev/null
wait_until 5 workers_up 2 || fail "latchkeyd does not have its 2 workers"
mapfile -t W0 < <(pgrep -P "$LKD_PID")
for p in "${W0[@]}"; do
	echo "worker $p: $(grep 'Max open files' "/proc/$p/limits" | awk '{print "open files soft", $4, "hard", $5}')"
done

# --- A: 500 slow connections, ordinary limits ----------------------------------------------
hold A $((3 * IDLE + 3)) --silent 200 --hello 150 --http 150 --rate 2 ||
    { fail "A: the holder did not get its connections open"; }
held=$(cat "$T/A.ready" 2>/dev/null || echo 0)
echo "A: $held connections held (200 silent, 150 trickling a ClientHello, 150 a request)"
check "A: 500 connections open at once" test "$held" = 500
check "A: the registrar has accepted them all (its listen queue is empty)" \
    wait_until 10 backlog_empty
enroll_timed A-enroll 20
echo "A: new enrollment with $held slow connections held: rc $ENROLL_RC, $ENROLL_MS ms"
check "A: a new enrollment completes within 5 s ($ENROLL_MS ms)" \
    test "$ENROLL_RC" = 0 -a "$ENROLL_MS" -le 5000
unhold
cat "$T/A.json"
check "A: every silent connection dropped ($(jqr .silent.closed_by_server "$T/A.json")/200)" \
    test "$(jqr .silent.closed_by_server "$T/A.json")" = 200
check "A: silent connections dropped after idle-timeout $IDLE s (min/median/max $(jqr '.silent.close_after|@csv' "$T/A.json") s)" \
    awk -v lo="$(jqr '.silent.close_after[0] // 0' "$T/A.json")" \
    -v hi="$(jqr '.silent.close_after[2] // 999' "$T/A.json")" -v t="$IDLE" \
    'BEGIN{exit !(lo >= t - 0.5 && hi <= t + 2)}'
for k in hello http; do
	check "A: clients trickling a $k are dropped within $((3 * IDLE)) s ($(jqr ".$k.closed_by_server" "$T/A.json")/150 dropped, $(jqr ".$k.bytes_sent" "$T/A.json") bytes sent)" \
	    test "$(jqr ".$k.closed_by_server" "$T/A.json")" = 150
done
mapfile -t W1 < <(pgrep -P "$LKD_PID")
check "A: same workers, none crashed (${W0[*]} / ${W1[*]})" test "${W0[*]}" = "${W1[*]}"

# --- B: the same crowd when latchkeyd may open only 256 files per worker -----------------------
it_stop_registrar
# Started here rather than by it_registrar: with a low limit, libevent logs every failed
# accept(); a filter counts those lines (into $T/accept-errors) instead of storing them all.
# The subshell lowers both limits only for latchkeyd and execs it, so $! is latchkeyd.
mkfifo "$T/log.fifo"
awk -v cnt="$T/accept-errors" '
	/accept\(\) call/ { if (++n % 10000 == 1) { print n > cnt; close(cnt) }
		if (n <= 3) print; next }
	{ print; fflush() }
	END { print n + 0 > cnt; close(cnt) }' <"$T/log.fifo" >>"$T/latchkeyd.log" &
AWK_PID=$!
(ulimit -Sn 256 && ulimit -Hn 256 && exec latchkeyd -d -v -f "$T/reg/latchkeyd.conf") >"$T/log.fifo" 2>&1 &
LKD_PID=$!
IT_PIDS+=("$LKD_PID" "$AWK_PID")	# in this order: the filter ends when latchkeyd has
for _ in $(seq 1 100); do
	curl -s -o /dev/null --cacert "$T/reg/domain-ca.pem" "$URL/.well-known/est/cacerts" && break
	kill -0 "$LKD_PID" 2>/dev/null || { echo "latchkeyd died"; tail "$T/latchkeyd.log"; exit 1; }
	sleep 0.1
done
wait_until 5 workers_up 2 || fail "B: latchkeyd does not have its 2 workers"
mapfile -t W0 < <(pgrep -P "$LKD_PID")
echo "B: workers ${W0[*]}: open files $(awk '/Max open files/{print "soft", $4, "hard", $5}' "/proc/${W0[0]}/limits")"
accept_errs() { cat "$T/accept-errors" 2>/dev/null || echo 0; }
cpu_all() { local p c=0; for p in "${W0[@]}"; do c=$((c + $(cpu_ticks "$p"))); done; echo "$c"; }

# B1: silent clients fill every descriptor (600 > 2 workers x 256); they time out and the
# registrar recovers.
e0=$(accept_errs) c0=$(cpu_all) t0=$(now_ms)
hold B1 $((2 * IDLE + 3)) --silent 600 || fail "B1: the holder did not start"
# The crowd is in once the workers have run out of descriptors (measured in /proc, not
# from the log: the filter above may hold its lines back).
check "B1: the 600 silent connections use up the workers' descriptors (256 open each)" \
    wait_until 10 fds_full 256
enroll_timed B1-enroll 20
e1=$(( $(accept_errs) - e0 )) c1=$(( ($(cpu_all) - c0) * 10 )) t1=$(( $(now_ms) - t0 ))
echo "B1: 600 silent connections, fd limit 256: enrollment rc $ENROLL_RC after $ENROLL_MS ms;" \
    "workers used $c1 ms CPU in $t1 ms; about $e1 accept() errors logged"
check "B1: a new enrollment completes within $((2 * IDLE + 5)) s ($ENROLL_MS ms)" \
    test "$ENROLL_RC" = 0 -a "$ENROLL_MS" -le $(( (2 * IDLE + 5) * 1000 ))
# Spinning on accept() would cost about a core per worker; pausing costs next to nothing.
check "B1: out of descriptors, the workers pause accepting instead of spinning ($e1 accept() errors, $c1 ms CPU in $t1 ms: under a quarter of one core)" \
    test "$e1" -lt 1000 -a $((c1 * 4)) -lt "$t1"
unhold

# B2: trickling clients fill every descriptor; a new enrollment must still get through once
# the slow ones have had their time.
e0=$(accept_errs) c0=$(cpu_all) t0=$(now_ms)
hold B2 $((3 * IDLE + 8)) --hello 300 --http 300 --rate 2 --connect-timeout 3 ||
    fail "B2: the holder did not start"
echo "B2: $(cat "$T/B2.ready" 2>/dev/null) of 600 trickling connections established"
enroll_timed B2-enroll $((3 * IDLE + 5))
c1=$(cpu_all)
echo "B2: 600 trickling connections, fd limit 256: enrollment rc $ENROLL_RC after $ENROLL_MS ms" \
    "($(head -1 "$T/B2-enroll.out")); workers used $(( (c1 - c0) * 10 )) ms CPU in" \
    "$(( $(now_ms) - t0 )) ms; about $(( $(accept_errs) - e0 )) accept() errors logged"
check "B2: a new enrollment completes within $((3 * IDLE + 5)) s ($ENROLL_MS ms)" \
    test "$ENROLL_RC" = 0 -a "$ENROLL_MS" -le $(( (3 * IDLE + 5) * 1000 ))
kill -TERM "$HOLD_PID" 2>/dev/null
unhold
cat "$T/B2.json" 2>/dev/null

enroll_timed final 20
check "after the crowd has gone, a new enrollment succeeds" test "$ENROLL_RC" = 0
mapfile -t W1 < <(pgrep -P "$LKD_PID")
check "B: same workers, none crashed (${W0[*]} / ${W1[*]})" test "${W0[*]}" = "${W1[*]}"
it_done

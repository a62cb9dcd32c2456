#!/bin/bash
# Failures of a PostgreSQL registry and of a registrar, under load (issue #18):
#   - PostgreSQL restarted (pg_ctl restart -m fast) while 8 clients enroll: what fails is
#     answered 503 with Retry-After, nothing else; every enrollment answered 200 is in the
#     registry (no answer before the commit), no binding without its certificate, the
#     audit chain intact; latchkeyd recovers by itself (the next enrollment works, same
#     process);
#   - one of two registrars on the same registry killed with SIGKILL (all its processes)
#     while both are loaded: the other answers every request, and every enrollment either
#     answered 200 is in the registry.
# A throwaway PostgreSQL server (tests/pg.sh, fsync on, Unix socket only); no server (not
# installed): this fails.
. "$(dirname "$0")/lib.sh"
it_init
PG_FSYNC=on it_pg lk_fail
it_pki 16
it_registrar "registry = $PGDB" "workers = 2" || exit 1
jq -r '.devices[].serial' "$T/lab.json" >"$T/serials"
latchkeyctl --db "$PGDB" claim --file "$T/serials" >/dev/null
jq -r '.devices[] | "\(.serial) \(.cert) \(.key)"' "$T/lab.json" >"$T/devs"
head -8 "$T/devs" >"$T/devs.a"; tail -8 "$T/devs" >"$T/devs.b"
field() { sed -n "s/.* $1 \([^ ]*\).*/\1/p" "$2"; }
ncerts() { sql "SELECT count(*) FROM certificates"; }
more_than() { test "$(ncerts)" -gt "$1"; }	# more than N certificates recorded

# ---- PostgreSQL restarted under load ------------------------------------------------------
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$LK_BIN/bench/bench_enroll" load 127.0.0.1 "$PORT" 8 8 "$T/reg/domain-ca.pem" "$T/devs" \
    >"$T/load1.out" 2>"$T/load1.err" &
LOAD=$!
IT_PIDS+=("$LOAD")
check "enrollments under way" wait_until 10 more_than 20
t0=$(date +%s%N)
pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 restart >"$T/restart.log" 2>&1
check "pg_ctl restart -m fast" test $? = 0
echo "PostgreSQL restarted in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
wait "$LOAD"
cat "$T/load1.out"; head -3 "$T/load1.err"
ok1=$(awk '{ print $2 }' "$T/load1.out"); e1=$(field errors "$T/load1.out")
r1=$(field retry503 "$T/load1.out")
ok1=${ok1:-0} e1=${e1:-no-result} r1=${r1:-none}	# no result line: the checks fail
check "enrollments before and after the restart ($ok1)" test "${ok1:-0}" -gt 40
check "every failed request was a 503 with Retry-After ($r1 of $e1)" test "$r1" = "$e1"
n=$(ncerts)
check "every enrollment answered 200 is in the registry ($n >= $ok1)" test "$n" -ge "$ok1" -a "$ok1" -gt 0
check "no binding without its certificate" test "$(sql "SELECT count(*) FROM bindings b
    WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.binding_id = b.id)")" = 0
check "audit chain intact" latchkeyctl --db "$PGDB" audit --verify --ca "$T/reg/domain-ca.pem"
d=$(it_dev 0)
check "latchkeyd recovered by itself: the next enrollment works" wait_until 10 \
    latchkey enroll -q --force --server "$URL" --idevid "$d/idevid.pem" \
    --idevid-key "$d/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/dev0"
check "the same latchkeyd (pid $LKD_PID) still runs" kill -0 "$LKD_PID"

# ---- one of two registrars killed ---------------------------------------------------------
PORT2=$(it_free_port)
sed -e "s/^listen = .*/listen = 127.0.0.1:$PORT2/" -e '/^crl-file/d' \
    -e '/^audit-checkpoint-file/d' "$T/reg/latchkeyd.conf" >"$T/reg/two.conf"
echo "crl-file = $T/reg/crl-two.der" >>"$T/reg/two.conf"
echo "audit-checkpoint-file = none" >>"$T/reg/two.conf"
latchkeyd -d -f "$T/reg/two.conf" >>"$T/latchkeyd2.log" 2>&1 &
LKD2=$!
IT_PIDS+=("$LKD2")
check "a second registrar on the same registry" wait_until 10 curl -sf -o /dev/null \
    --cacert "$T/reg/domain-ca.pem" "https://127.0.0.1:$PORT2/.well-known/est/cacerts"
before=$(ncerts)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$LK_BIN/bench/bench_enroll" load 127.0.0.1 "$PORT" 6 8 "$T/reg/domain-ca.pem" "$T/devs.a" \
    >"$T/load2a.out" 2>"$T/load2a.err" &
LA=$!
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$LK_BIN/bench/bench_enroll" load 127.0.0.1 "$PORT2" 6 8 "$T/reg/domain-ca.pem" "$T/devs.b" \
    >"$T/load2b.out" 2>"$T/load2b.err" &
LB=$!
IT_PIDS+=("$LA" "$LB")
check "both registrars enroll" wait_until 10 more_than $((before + 40))
# every process of the second registrar at once: parent, workers, signers, admin
procs="$LKD2 $(pgrep -P "$LKD2" | tr '\n' ' ')"
for p in $(pgrep -P "$LKD2"); do procs="$procs $(pgrep -P "$p" | tr '\n' ' ')"; done
kill -KILL $procs 2>/dev/null
wait "$LKD2" 2>/dev/null
echo "killed the second registrar: $procs"
wait "$LA" "$LB"
cat "$T/load2a.out" "$T/load2b.out"
oka=$(awk '{ print $2 }' "$T/load2a.out"); okb=$(awk '{ print $2 }' "$T/load2b.out")
oka=${oka:-999999} okb=${okb:-999999}	# no result line: the checks fail
check "the other registrar answered every request ($oka, errors $(field errors "$T/load2a.out"))" \
    test "$(field errors "$T/load2a.out")" = 0
n=$(( $(ncerts) - before ))
check "nothing answered is lost: $n new certificates >= $oka + $okb answered" \
    test "$n" -ge $((oka + okb))
check "no binding without its certificate" test "$(sql "SELECT count(*) FROM bindings b
    WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.binding_id = b.id)")" = 0
check "audit chain intact after the kill" latchkeyctl --db "$PGDB" audit --verify \
    --ca "$T/reg/domain-ca.pem"
check "the first registrar still runs" kill -0 "$LKD_PID"
it_done

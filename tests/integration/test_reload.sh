#!/bin/bash
# latchkeyd as a service (latchkeyd(8), SIGNALS; issue "Run latchkeyd as real
# infrastructure"): reload and readiness.
#   - SIGHUP under a 64-client enrollment load (bench_enroll): no enrollment fails, and the
#     re-issued TLS certificate is served after the reload;
#   - a broken configuration on SIGHUP is refused and logged, the old one keeps serving;
#   - sd_notify to a NOTIFY_SOCKET (as systemd's Type=notify gives it): READY=1 once the
#     workers serve, RELOADING=1 with MONOTONIC_USEC then READY=1 on SIGHUP, WATCHDOG=1
#     while WATCHDOG_USEC is set, STOPPING=1 on SIGTERM;
#   - without -d, start-up errors (a configuration error, a busy port) are printed on
#     standard error with exit 1; a good start returns 0 once the daemon serves;
#   - latchkeyd -n refuses a registry it could not write.
. "$(dirname "$0")/lib.sh"
it_init
N=16
it_pki "$N"
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }
APORT=$(it_free_port)

# A NOTIFY_SOCKET listener (a datagram socket, as systemd's): each message, one per line.
NOTIFY=$T/notify.sock
python3 - "$NOTIFY" "$T/notify.log" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(1.0)
end = time.time() + 300
with open(sys.argv[2], "a", buffering=1) as f:
    while time.time() < end:
        try:
            m = s.recv(4096)
        except socket.timeout:
            continue
        f.write(m.decode(errors="replace").replace("\n", " ") + "\n")
EOF
IT_PIDS+=($!)
wait_until 10 test -S "$NOTIFY" || fail "notify listener did not start"

export NOTIFY_SOCKET=$NOTIFY WATCHDOG_USEC=1000000
it_registrar "admin-listen = 127.0.0.1:$APORT" "workers = 2" "pid-file = $T/latchkeyd.pid" || exit 1
unset NOTIFY_SOCKET WATCHDOG_USEC
jq -r '.devices[].serial' "$T/lab.json" >"$T/serials"
latchkeyctl --db "$DB" claim --file "$T/serials" >/dev/null
jq -r '.devices[] | "\(.serial) \(.cert) \(.key)"' "$T/lab.json" >"$T/devs"
CONF=$T/reg/latchkeyd.conf

check "sd_notify: READY=1 once the workers serve" wait_until 10 grep -q '^READY=1' "$T/notify.log"
check "pid-file holds the parent's pid" test "$(cat "$T/latchkeyd.pid")" = "$LKD_PID"
check "sd_notify: WATCHDOG=1 while WATCHDOG_USEC is set" \
    wait_until 5 sh -c "test \$(grep -c '^WATCHDOG=1' '$T/notify.log') -ge 2"

# served_serial: the serial of the certificate latchkeyd's TLS serves now
served_serial() {
	openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/reg/domain-ca.pem" \
	    </dev/null 2>/dev/null | openssl x509 -noout -serial
}
file_serial() { openssl x509 -in "$T/reg/registrar.pem" -noout -serial; }
old=$(served_serial)
check "the served TLS certificate is the file's ($old)" test "$old" = "$(file_serial)"

# ---- SIGHUP under load ------------------------------------------------------------------
# (a load generator, not under test: its allocations live until it exits)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$LK_BIN/bench/bench_enroll" load 127.0.0.1 "$PORT" 8 64 "$T/reg/domain-ca.pem" "$T/devs" \
    >"$T/load.out" 2>"$T/load.err" &
LOAD=$!
sleep 2
# the renewal command: a new certificate from the domain CA, then SIGHUP through pid-file
latchkeyctl init --reissue-registrar-cert --dir "$T/reg" --reload "$T/latchkeyd.pid" \
    >"$T/reissue.out" 2>&1 || { cat "$T/reissue.out"; fail "reissue the registrar certificate"; }
cat "$T/reissue.out"
new=$(file_serial)
check "a new registrar certificate was written" test "$new" != "$old"
check "... and latchkeyd ($LKD_PID) told to reload" grep -q "latchkeyd (pid $LKD_PID) reloads" "$T/reissue.out"
served_is() { test "$(served_serial)" = "$1"; }
check "after SIGHUP the new certificate is served" wait_until 10 served_is "$new"
sleep 1
kill -HUP "$LKD_PID"	# a second reload under the same load
for i in $(seq 1 40); do kill -0 "$LOAD" 2>/dev/null || break; sleep 0.5; done
wait "$LOAD"
cat "$T/load.out" "$T/load.err"
n=$(awk '{print $2}' "$T/load.out")
e=$(awk '{print $NF}' "$T/load.out")
check "the load enrolled ($n) across two reloads" test "${n:-0}" -gt 0
check "no enrollment failed during the reloads (errors ${e:-?})" test "${e:-1}" = 0
check "latchkeyd is still the same process" kill -0 "$LKD_PID"
check "the log says the workers were replaced" grep -q "reloaded: 2 new workers serve" "$T/latchkeyd.log"
check "sd_notify: RELOADING=1 with MONOTONIC_USEC, then READY=1" \
    sh -c "grep -A3 '^RELOADING=1' '$T/notify.log' | grep -q '^READY=1' &&
        grep -q '^RELOADING=1 .*MONOTONIC_USEC=[0-9]' '$T/notify.log'"
# mval NAME: the value of one sample of /metrics now
mval() { curl -s "http://127.0.0.1:$APORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
check "metrics: two reloads" test "$(mval 'latchkeyd_reloads_total{result="ok"}')" = 2
check "metrics: none failed" test "$(mval 'latchkeyd_reloads_total{result="failed"}')" = 0
check "metrics: the enrollments of the load are counted (>= $n)" \
    test "$(mval 'latchkeyd_enrollments_total{op="simpleenroll"}')" -ge "${n:-1}"

# ---- a new manufacturer anchor by reload --------------------------------------------------
latchkeyctl lab-pki --out "$T/lab2" --devices 1 --json >"$T/lab2.json"
S2=$(jq -r '.devices[0].serial' "$T/lab2.json"); D2=$(dirname "$(jq -r '.devices[0].cert' "$T/lab2.json")")
latchkeyctl --db "$DB" claim "$S2" >/dev/null
enroll2() { latchkey enroll -q --server "$URL" --idevid "$D2/idevid.pem" \
    --idevid-key "$D2/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/m2$1" 2>"$T/m2$1.err"; }
enroll2 a
check "a second manufacturer's device is refused before the reload" grep -q 403 "$T/m2a.err"
echo "manufacturer-ca = $T/lab2/manufacturer-ca.pem" >>"$CONF"	# a list keyword
kill -HUP "$LKD_PID"
check "after SIGHUP it enrolls (the new anchor is loaded)" wait_until 15 enroll2 b
check "metrics: three reloads" test "$(mval 'latchkeyd_reloads_total{result="ok"}')" = 3

# ---- a broken configuration on SIGHUP ------------------------------------------------------
cp "$CONF" "$T/conf.good"
echo "ldevid-lifetime-days = forever" >>"$CONF"
kill -HUP "$LKD_PID"
check "a broken configuration is refused and logged" wait_until 10 \
    grep -q "reload refused, the running configuration stays: .*ldevid-lifetime-days" "$T/latchkeyd.log"
check "... the old one keeps serving" curl -sf -o /dev/null --cacert "$T/reg/domain-ca.pem" \
    "$URL/.well-known/est/cacerts"
check "... latchkeyd still runs" kill -0 "$LKD_PID"
D=$(it_dev 0)
check "... and enrolls" latchkey enroll -q --server "$URL" --idevid "$D/idevid.pem" \
    --idevid-key "$D/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/after-bad"
check "metrics: the refused reload is counted" \
    test "$(mval 'latchkeyd_reloads_total{result="failed"}')" = 1
check "metrics: the last reload was unsuccessful" \
    test "$(mval latchkeyd_config_last_reload_successful)" = 0
# a missing TLS key is refused as well (the new context is built before anything changes)
cp "$T/conf.good" "$CONF"
sed -i "s#^tls-key *=.*#tls-key = $T/reg/no-such.key#" "$CONF"
kill -HUP "$LKD_PID"
check "a missing tls-key on reload is refused" wait_until 10 \
    grep -q "reload refused, .*no-such.key" "$T/latchkeyd.log"
check "... the served certificate is unchanged" test "$(served_serial)" = "$new"
cp "$T/conf.good" "$CONF"

echo 1 >"$T/bogus.pid"
out=$(latchkeyctl init --reissue-registrar-cert --dir "$T/reg" --reload "$T/bogus.pid" 2>&1); rc=$?
echo "$out"
check "--reload refuses a pid that is not latchkeyd" sh -c "test $rc = 1 && grep -q 'not latchkeyd\|no process ID' <<EOF
$out
EOF"
it_stop_registrar
check "sd_notify: STOPPING=1 on SIGTERM" grep -q '^STOPPING=1' "$T/notify.log"
check "the pid-file is removed at the stop" test ! -e "$T/latchkeyd.pid"

# ---- start-up errors without -d ----------------------------------------------------------
cp "$T/conf.good" "$T/bad.conf"
echo "listen = 127.0.0.1:1" >>"$T/bad.conf"	# a duplicate keyword
out=$(latchkeyd -f "$T/bad.conf" 2>&1); rc=$?
echo "latchkeyd -f bad.conf: exit $rc: $out"
check "a configuration error without -d: exit 1" test "$rc" = 1
check "... printed on standard error" grep -q "listen" <<<"$out"
python3 -c 'import socket,time,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(30)' "$PORT" &
BUSY=$!
IT_PIDS+=("$BUSY")
wait_until 5 sh -c "ss -Hltn 'sport = :$PORT' | grep -q ." || fail "port holder did not start"
out=$(timeout 20 latchkeyd -f "$CONF" 2>&1); rc=$?
echo "latchkeyd with its port taken: exit $rc: $out"
check "a busy port without -d: exit 1" test "$rc" = 1
check "... saying so on standard error" grep -q "cannot listen on 127.0.0.1 port $PORT" <<<"$out"
kill "$BUSY"; wait "$BUSY" 2>/dev/null
wait_until 5 sh -c "! ss -Hltn 'sport = :$PORT' | grep -q ." || fail "port holder still there"
out=$(timeout 30 latchkeyd -f "$CONF" 2>&1); rc=$?
check "a good start without -d returns 0 once serving ($out)" test "$rc" = 0
# the daemon's parent: of the processes holding the port, the one whose own parent is
# no latchkeyd (the workers' parent is)
PARENT=
for p in $(ss -Hltnp "sport = :$PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
	pp=$(ps -o ppid= -p "$p" | tr -d ' ')
	[ "$(ps -o comm= -p "$pp")" = latchkeyd ] || PARENT=$p
done
if [ -n "$PARENT" ]; then
	IT_PIDS+=("$PARENT")
	check "the daemon serves" curl -sf -o /dev/null --cacert "$T/reg/domain-ca.pem" \
	    "$URL/.well-known/est/cacerts"
	kill -TERM "$PARENT"
	check "the daemon stops on SIGTERM" wait_until 10 sh -c "! kill -0 $PARENT"
else
	fail "no daemon listening after a good start"
fi

# ---- -n and an unwritable registry --------------------------------------------------------
if [ "$(id -u)" = 0 ] && id -u latchkey >/dev/null 2>&1; then
	chown root:root "$DB"; chmod 0644 "$DB"
	out=$(latchkeyd -n -f "$CONF" 2>&1); rc=$?
	echo "latchkeyd -n, registry root's: exit $rc: $out"
	check "-n refuses a registry the workers' user cannot write" test "$rc" = 1
	check "... naming it" grep -q "registry .*cannot read and write it" <<<"$out"
else
	chmod 0444 "$DB"
	out=$(latchkeyd -n -f "$CONF" 2>&1); rc=$?
	echo "latchkeyd -n, registry read-only: exit $rc: $out"
	check "-n refuses a registry it cannot write" test "$rc" = 1
	chmod 0600 "$DB"
fi
it_done

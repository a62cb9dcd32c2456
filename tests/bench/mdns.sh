#!/bin/bash
# tests/bench/mdns.sh: discovery latency over mDNS, latchkey against Avahi's own tool.
#
# Two network namespaces on one veth link, each with its own D-Bus bus and avahi-daemon
# (tests/net/lib.sh). The server publishes _brski-registrar._tcp with latchkey's TXT keys
# (avahi-publish: the announcer does not matter for the browse side). On the device, RUNS
# (default 20) times each, alternating:
#   latchkey discover --json --type _brski-registrar._tcp
#       "elapsed_ms": browse start (connecting to avahi-daemon included) to the first
#       usable resolved answer, measured inside latchkey;
#   avahi-browse -rpt _brski-registrar._tcp
#       process start to its first resolved ("=") line, measured around it in the same
#       namespace (so it also pays exec and dynamic linking, ~1-3 ms);
# and also the wall time of the whole latchkey process (it waits MDNS_BROWSE_GRACE_MS =
# 150 ms after the first answer for siblings before it prints).
# Runs are spaced by SPACING seconds (default 1.2): avahi-daemon does not answer a record
# it multicast less than 1 s earlier (RFC 6762 §6), which back-to-back runs would hit.
# Both tools see the device daemon's warm cache, the normal state (mDNS announcements are
# multicast unsolicited, RFC 6762 §8.3).
#
# Output (last lines):
#   mdns_latency_ms median X p95 Y; avahi_browse median X p95 Y
#   mdns_wall_ms median X p95 Y (latchkey process start to exit, includes the grace window)
# Needs root (namespaces); otherwise prints "mdns_latency_ms skipped: REASON" and exits 0.
# Environment: B or LK_BIN (build directory with latchkey), RUNS, SPACING.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
LK_BIN=${LK_BIN:-$top/$B}
LK_TOP=$top
RUNS=${RUNS:-20}
SPACING=${SPACING:-1.2}
. "$top/tests/net/lib.sh"

# A bench is not a test: a missing prerequisite is reported and is not an error.
tb_skip() {
	printf 'mdns_latency_ms skipped: %s\n' "$*"
	exit 0
}

tb_init
tb_require avahi-daemon avahi-browse avahi-publish dbus-daemon dbus-send jq stdbuf \
    "$LK_BIN/latchkey"
"$LK_BIN/latchkey" discover --help >/dev/null 2>&1 ||
    tb_skip "latchkey discover is not available in $LK_BIN/latchkey"

tb_ns_add server
tb_ns_add device
tb_link server 10.204.0.1/24 device 10.204.0.2/24
tb_avahi_start server device
tb_bg server publish avahi-publish -s "bench-$TB_ID" _brski-registrar._tcp 8443 \
    "txtvers=1" "rt=est-tls" "path=/.well-known/est" "pri=100" "dom=bench.test"
tb_wait_log server publish "Established under name 'bench-$TB_ID'"

# One measurement inside the device namespace: prints "LATCHKEY_MS WALL_MS" or "AVAHI_MS".
cat >"$TB_DIR/device/measure.sh" <<'EOF'
#!/bin/bash
now_us() { local t=${EPOCHREALTIME/./}; printf '%s\n' "$t"; }
if [ "$1" = latchkey ]; then
	t0=$(now_us)
	out=$("$2" discover --json --type _brski-registrar._tcp --timeout 5000)
	t1=$(now_us)
	ms=$(printf '%s\n' "$out" | jq -r '.elapsed_ms // "none"')
	echo "$ms $(( (t1 - t0) / 1000 ))"
else
	t0=$(now_us)
	stdbuf -oL avahi-browse -rpt _brski-registrar._tcp 2>/dev/null | {
		got=none
		while IFS= read -r line; do
			case $line in
			"="*) got=$(( ($(now_us) - t0) / 1000 )); break;;
			esac
		done
		echo "$got"
		cat >/dev/null
	}
fi
EOF
chmod +x "$TB_DIR/device/measure.sh"

# Warm-up: both tools once (the first run pays the device daemon's first query).
tb_exec device "$TB_DIR/device/measure.sh" latchkey "$LK_BIN/latchkey" >/dev/null
sleep "$SPACING"
tb_exec device "$TB_DIR/device/measure.sh" avahi >/dev/null
sleep "$SPACING"

: >"$TB_DIR/lk.txt"; : >"$TB_DIR/wall.txt"; : >"$TB_DIR/avahi.txt"
for i in $(seq 1 "$RUNS"); do
	read -r ms wall < <(tb_exec device "$TB_DIR/device/measure.sh" latchkey \
	    "$LK_BIN/latchkey")
	[ -n "${ms:-}" ] && [ "$ms" != none ] || tb_fail "run $i: latchkey discover found nothing"
	echo "$ms" >>"$TB_DIR/lk.txt"
	echo "$wall" >>"$TB_DIR/wall.txt"
	sleep "$SPACING"
	read -r ams < <(tb_exec device "$TB_DIR/device/measure.sh" avahi)
	[ -n "${ams:-}" ] && [ "$ams" != none ] || tb_fail "run $i: avahi-browse resolved nothing"
	echo "$ams" >>"$TB_DIR/avahi.txt"
	sleep "$SPACING"
done

# median (mean of the two middle values for an even count) and p95 (nearest rank).
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		if (NR % 2) med = v[(NR + 1) / 2]; else med = (v[NR / 2] + v[NR / 2 + 1]) / 2
		r = int(0.95 * NR); if (r < 0.95 * NR) r++
		printf "median %g p95 %g", med, v[r] }'
}
echo "mdns bench: $RUNS runs each, spaced ${SPACING}s, warm device cache"
echo "mdns_latency_ms $(stats "$TB_DIR/lk.txt"); avahi_browse $(stats "$TB_DIR/avahi.txt")"
echo "mdns_wall_ms $(stats "$TB_DIR/wall.txt") (latchkey process start to exit, includes the grace window)"

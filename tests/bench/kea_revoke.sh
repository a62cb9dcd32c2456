#!/bin/bash
# tests/bench/kea_revoke.sh: revocation propagation to the Kea class (issue 7), for
# BENCHMARKS.md (called by run.sh). Median and max over N >= 20 revocations.
#
#   server (10.207.0.1/24: latchkeyd, kea-dhcp4 + liblatchkey_kea.so) ---veth--- client
#   client: N veth interfaces (down, both ends there, never send anything) whose MACs are the devices' MACs,
#           and a DHCP probe that relays DISCOVERs for them from 10.207.0.2 (giaddr)
#
# Setup, all real: lab PKI with N devices, `latchkeyctl init`, every device claimed and
# enrolled with `latchkey enroll --netid-if dK` against latchkeyd (so the registry's netids
# table holds each device's MAC as the agent reported it), kea-dhcp4 with the hook reading
# that registry and the quarantine pool mapping of tests/net/kea-revoked.
# Then, one device at a time: its DISCOVER (chaddr = its MAC) must be answered from the
# normal pool; a random pause of 0..300 ms (so the revocations do not lock onto the hook's
# 250 ms stat tick, which would measure its worst case every time); t0; `latchkeyctl revoke`; a DISCOVER every 10 ms (each waits up to 50 ms for
# its OFFER) until an OFFER comes from the quarantine pool. The figure is t0 to the arrival
# of that OFFER: it includes latchkeyctl's own run (process start, commit), the hook's stat
# interval (250 ms) and snapshot reload, and up to one probe interval.
#
# Prints exactly one line:
#   revoke_kea_class_ms median X max Y (N revocations, <what was measured>)
# or "revoke_kea_class_ms skipped: <reason>" (exit 0; needs root, namespaces, kea-dhcp4,
# python3, ...), or "revoke_kea_class_ms failed: <reason>" (exit 1). Bounded (about 90 s at
# most); every daemon is stopped by PID and the namespaces removed (tests/net/lib.sh).
# Environment: B (build dir, default build), KEA_REVOKE_N (default 20, at least 20),
# LK_KEEP=1 keeps the files.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
BIN=$top/$B
HOOK=${LK_HOOK:-$BIN/liblatchkey_kea.so}
N=${KEA_REVOKE_N:-20}
NAME=revoke_kea_class_ms
BUDGET=85	# seconds for the whole run; the probe gets what is left of it

skip() { echo "$NAME skipped: $*"; exit 0; }
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 20 ] && [ "$N" -le 200 ] ||
    skip "KEA_REVOKE_N must be 20..200"
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for p in ip kea-dhcp4 python3 jq sqlite3; do
	command -v "$p" >/dev/null 2>&1 || skip "$p is missing"
done
[ -f "$HOOK" ] || skip "$HOOK is not built"
for p in latchkey latchkeyd latchkeyctl; do
	[ -x "$BIN/$p" ] || skip "$BIN/$p is not built"
done
probe=lkkr$$
ip netns add "$probe" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "$probe"

LK_TOP=$top
LK_BIN=$BIN
. "$top/tests/net/lib.sh"
# From here on, lib.sh's traps stop everything by PID and delete the namespaces.
die() {
	echo "$NAME failed: $*"
	TB_FAIL_MSG=
	exit 1
}
tb_init
tb_ns_add server
tb_ns_add client
tb_link server 10.207.0.1/24 client 10.207.0.2/24
S=$TB_DIR/server
C=$TB_DIR/client

# Devices: lab PKI, domain, claims, registrar on the server's veth address.
"$BIN/latchkeyctl" lab-pki --out "$S/lab" --devices "$N" --json >"$S/lab.json" 2>"$S/lab.err" ||
    die "latchkeyctl lab-pki: $(tail -1 "$S/lab.err")"
"$BIN/latchkeyctl" init --domain kea-revoke.test --dir "$S/reg" \
    --manufacturer-ca "$S/lab/manufacturer-ca.pem" --listen 10.207.0.1:8443 \
    >"$S/init.log" 2>&1 || die "latchkeyctl init: $(tail -1 "$S/init.log")"
DB=$S/reg/registry.db
jq -r '.devices[].serial' "$S/lab.json" >"$S/serials"
"$BIN/latchkeyctl" --db "$DB" claim --file "$S/serials" >"$S/claim.log" 2>&1 ||
    die "latchkeyctl claim: $(tail -1 "$S/claim.log")"
tb_bg server latchkeyd "$BIN/latchkeyd" -d -f "$S/reg/latchkeyd.conf"

# kea-dhcp4 with the hook (INFO: LATCHKEY_REVOKED_LOADED with Kea's millisecond timestamps).
cat >"$S/kea4.conf" <<EOF
{ "Dhcp4": {
	"interfaces-config": { "interfaces": [ "$(tb_if server)" ], "dhcp-socket-type": "raw" },
	"lease-database": { "type": "memfile", "persist": false },
	"valid-lifetime": 600,
	"hooks-libraries": [ { "library": "$HOOK", "parameters": {
		"registrar-uris": [ "https://10.207.0.1:8443" ], "registry": "$DB" } } ],
	"client-classes": [
		{ "name": "latchkey-revoked" },
		{ "name": "latchkey-ok",
		  "test": "not member('latchkey-revoked') and (member('KNOWN') or member('UNKNOWN'))" }
	],
	"subnet4": [ { "id": 1, "subnet": "10.207.0.0/24",
		"pools": [ { "pool": "10.207.0.100 - 10.207.0.199", "client-class": "latchkey-ok" },
			   { "pool": "10.207.0.240 - 10.207.0.250", "client-class": "latchkey-revoked" } ] } ],
	"loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
		"output_options": [ { "output": "stdout", "flush": true } ] },
		{ "name": "kea-dhcp4.dhcp4", "severity": "INFO",
		"output_options": [ { "output": "stdout", "flush": true } ] },
		{ "name": "kea-dhcp4.latchkey-hooks", "severity": "INFO",
		"output_options": [ { "output": "stdout", "flush": true } ] } ]
} }
EOF
mkdir -p "$S/kea"
tb_bg server kea4 env KEA_PIDFILE_DIR="$S/kea" KEA_LOCKFILE_DIR="$S/kea" kea-dhcp4 \
    -c "$S/kea4.conf"

# One interface per device in the client namespace: a MAC the agent reads from
# /sys/class/net/dK/address (the namespace's own sysfs under ip netns exec). A veth pair
# with both ends in the client namespace (this kernel may lack the dummy driver), never up.
: >"$C/devices"
for i in $(seq 0 $((N - 1))); do
	mac=$(printf '02:6c:6b:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))
	ip -n "$(tb_ns client)" link add "d$i" address "$mac" type veth peer name "p$i" ||
	    die "cannot create interface d$i"
done
tb_wait_for "latchkeyd listening" 20 tb_exec client bash -c \
    "exec 3<>/dev/tcp/10.207.0.1/8443"
for i in $(seq 0 $((N - 1))); do
	serial=$(jq -r ".devices[$i].serial" "$S/lab.json")
	cert=$(jq -r ".devices[$i].cert" "$S/lab.json")
	key=$(jq -r ".devices[$i].key" "$S/lab.json")
	tb_exec client "$BIN/latchkey" enroll --server https://10.207.0.1:8443 --idevid "$cert" \
	    --idevid-key "$key" --ca "$S/reg/domain-ca.pem" --out "$C/dev$i" --netid-if "d$i" \
	    >"$C/enroll$i.log" 2>&1 || die "enroll of device $i: $(tail -1 "$C/enroll$i.log")"
	grep -q 'reported 1 network identifier' "$C/enroll$i.log" ||
	    die "device $i did not report its MAC: $(tail -1 "$C/enroll$i.log")"
	mac=$(tb_exec client cat "/sys/class/net/d$i/address")
	printf '%s %s\n' "$serial" "$mac" >>"$C/devices"
done
n=$(sqlite3 "$DB" "SELECT count(*) FROM netids WHERE kind = 'mac'")
[ "$n" = "$N" ] || die "the registry holds $n MACs, expected $N"
tb_wait_log server kea4 'DHCP4_STARTED'
tb_wait_log server kea4 'LATCHKEY_REVOKED_LOADED'

left=$((BUDGET - SECONDS))
[ "$left" -ge 20 ] || die "setup took ${SECONDS}s, no time left to measure"

# The probe: a DHCP relay agent (RFC 2131 §4.1 giaddr; Kea answers to giaddr port 67).
tb_exec client timeout -k 2 "$left" python3 - "$BIN/latchkeyctl" "$DB" "$C/devices" \
    "$S/kea4.log" "$((left - 5))" >"$C/probe.out" 2>"$C/probe.err" <<'PY'
import os, socket, struct, subprocess, sys, time, datetime

lkctl, db, devfile, kealog, budget = sys.argv[1:6]
deadline = time.monotonic() + float(budget)
SERVER, RELAY = "10.207.0.1", "10.207.0.2"
NORMAL = range(100, 200)		# last octet of the pools in kea4.conf
QUARANTINE = range(240, 251)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((RELAY, 67))
xid = int.from_bytes(os.urandom(4), "big")

def discover(mac, wait):
	"""One relayed DISCOVER from chaddr mac; last octet of the OFFER's yiaddr or None."""
	global xid
	xid = (xid + 1) & 0xffffffff
	pkt = struct.pack("!BBBBIHH4s4s4s4s16s64s128sI", 1, 1, 6, 1, xid, 0, 0,
	    bytes(4), bytes(4), bytes(4), socket.inet_aton(RELAY), mac + bytes(10),
	    bytes(64), bytes(128), 0x63825363)
	pkt += bytes([53, 1, 1, 255])
	pkt += bytes(300 - len(pkt))
	s.sendto(pkt, (SERVER, 67))
	end = time.monotonic() + wait
	while True:
		t = end - time.monotonic()
		if t <= 0:
			return None
		s.settimeout(t)
		try:
			r = s.recv(2048)
		except socket.timeout:
			return None
		if len(r) < 240 or r[0] != 2 or struct.unpack("!I", r[4:8])[0] != xid:
			continue
		yi = r[16:20]
		if yi[:3] != socket.inet_aton(SERVER)[:3]:
			return None
		return yi[3]

res = []
for line in open(devfile):
	serial, mac_text = line.split()
	mac = bytes.fromhex(mac_text.replace(":", ""))
	first = discover(mac, 1.0)
	if first is None or first not in NORMAL:
		sys.exit("device %s: DISCOVER before the revocation got %s, not the normal pool"
		    % (serial, first))
	# The loop would otherwise lock onto the watcher's 250 ms tick (each round starts just
	# after a reload): revoke at a random phase, as an admin would.
	time.sleep(int.from_bytes(os.urandom(2), "big") / 65536 * 0.3)
	wall0 = time.time()
	t0 = time.monotonic()
	rc = subprocess.run([lkctl, "--db", db, "revoke", serial, "--reason", "superseded"],
	    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
	t1 = time.monotonic()
	if rc.returncode != 0:
		sys.exit("latchkeyctl revoke %s: %s" % (serial, rc.stderr.decode().strip()))
	probes = 0
	while True:
		tick = time.monotonic()
		if tick > deadline or tick - t0 > 5:
			sys.exit("device %s: no quarantine OFFER %.1f s after the revocation"
			    % (serial, tick - t0))
		probes += 1
		got = discover(mac, 0.05)
		if got is not None and got in QUARANTINE:
			t2 = time.monotonic()
			break
		time.sleep(max(0.0, 0.01 - (time.monotonic() - tick)))
	res.append((serial, wall0, (t2 - t0) * 1000, (t1 - t0) * 1000, probes))

# The hook's reloads, from Kea's log (local time, milliseconds): first reload after t0.
loads = []
for l in open(kealog, errors="replace"):
	if "LATCHKEY_REVOKED_LOADED" in l:
		try:
			d = datetime.datetime.strptime(l[:23], "%Y-%m-%d %H:%M:%S.%f")
			loads.append(d.timestamp())
		except ValueError:
			pass
for serial, wall0, cls, cmd, probes in res:
	after = [x for x in loads if x >= wall0 - 0.0005]
	rl = (after[0] - wall0) * 1000 if after else -1
	print("%s class_ms %.1f revoke_cmd_ms %.1f reload_ms %.0f probes %d"
	    % (serial, cls, cmd, rl, probes))
PY
rc=$?
[ "$rc" = 0 ] || die "probe: $(tail -1 "$C/probe.err" 2>/dev/null)${rc:+ (exit $rc)}"
[ "$(wc -l <"$C/probe.out")" = "$N" ] || die "probe gave $(wc -l <"$C/probe.out") results"
tb_alive server kea4 || die "kea-dhcp4 stopped during the run"

# Medians (lower middle for even N) and max.
stat() {	# stat FIELD: "median max"
	awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' "$C/probe.out" |
	    sort -g | awk '{ v[NR] = $1 } END { printf "%.0f %.0f\n", v[int((NR + 1) / 2)], v[NR] }'
}
read -r cm cx < <(stat class_ms)
read -r rm _ < <(stat reload_ms)
read -r km _ < <(stat revoke_cmd_ms)
echo "$NAME median $cm max $cx ($N revocations, latchkeyctl revoke start to the first" \
    "OFFER from the quarantine pool for the device's MAC, DISCOVER every 10 ms, random" \
    "phase to the hook's 250 ms stat tick; of it:" \
    "revoke command median $km ms, hook snapshot reload logged median $rm ms)"
tb_done >/dev/null

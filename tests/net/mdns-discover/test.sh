#!/bin/bash
# mdns-discover: discovery over mDNS/DNS-SD with real avahi-daemons (issue 5).
#
# Two hosts on one veth link, each with its own D-Bus bus and avahi-daemon:
#   server  10.202.0.1  latchkeyd with "mdns = yes" (announces _brski-registrar._tcp and
#                       _brski-proxy._tcp with TXT txtvers, rt, path, pri, dom, cafp)
#   device  10.202.0.2  latchkey discover, avahi-browse
# Shows:
#   1. latchkey discover on the device finds latchkeyd with the right host, address, port,
#      interface and TXT, and the URL it prints really serves EST; avahi-browse -rpt sees the
#      same records (interop: Avahi's tools read what we announce);
#   2. services published with avahi-publish are found by latchkey discover (interop the
#      other way), ordered by TXT pri; one with an unknown txtvers is skipped;
#   3. avahi-daemon in the server namespace is restarted while latchkeyd keeps running: the
#      announcement goes away and comes back by itself;
#   4. latchkeyd stops: the device sees the service removed (latchkey discover
#      --wait-removed, started while it was still there, and avahi-browse);
#   5. a name already taken on the link makes latchkeyd announce "NAME #2".
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
. "$LK_TOP/tests/net/lib.sh"

tb_init
tb_require avahi-daemon avahi-browse avahi-publish dbus-daemon dbus-send dbus-monitor jq curl \
    openssl
for p in latchkey latchkeyd latchkeyctl; do
	tb_require "$LK_BIN/$p"
done
# The glue (latchkey discover, latchkeyd's mdns keywords) may not be wired in yet.
"$LK_BIN/latchkey" discover --help >/dev/null 2>&1 ||
    tb_skip "latchkey discover is not available in $LK_BIN/latchkey"
export PATH=$LK_BIN:$PATH

tb_ns_add server
tb_ns_add device
tb_link server 10.202.0.1/24 device 10.202.0.2/24
srv_if=$(tb_if server)
dev_if=$(tb_if device)

# A registrar for the server namespace, announcing itself.
D=$TB_DIR/server
latchkeyctl lab-pki --out "$D/lab" --devices 1 >"$D/lab-pki.log" 2>&1 ||
    tb_fail "latchkeyctl lab-pki failed: $(tail -1 "$D/lab-pki.log")"
latchkeyctl init --domain example.test --dir "$D/reg" \
    --manufacturer-ca "$D/lab/manufacturer-ca.pem" --listen 10.202.0.1:8443 \
    >"$D/init.log" 2>&1 || tb_fail "latchkeyctl init failed: $(tail -1 "$D/init.log")"
name="latchkey test $TB_ID"
cat >>"$D/reg/latchkeyd.conf" <<EOF
mdns = yes
mdns-name = $name
EOF
latchkeyd -n -f "$D/reg/latchkeyd.conf" >"$D/check.log" 2>&1 ||
    tb_skip "latchkeyd does not take the mdns keywords yet: $(tail -1 "$D/check.log")"
cafp=sha256:$(openssl x509 -in "$D/reg/domain-ca.pem" -outform DER | sha256sum | cut -d' ' -f1)

tb_avahi_start server device
tb_bg server latchkeyd latchkeyd -d -v -f "$D/reg/latchkeyd.conf"
tb_wait_log server latchkeyd "mdns: announced as '$name'"

# Checks: tests/net/mdns-discover/checks (the names below are what it uses).
export NAME=$name D CAFP=$cafp DEV_IF=$dev_if
export RE_NAME=${name//./\\.}
export PNAME=${name// /\\\\032}	# avahi-browse -p escapes bytes of names: a space is \032
# disc: latchkey discover --json as one line per candidate,
# type|name|host|address|port|if|family|url, and one per TXT key, txt|type|key=value.
disc() {
	latchkey discover --json --timeout 5000 | jq -r '.candidates[] |
	    "\(.type)|\(.name)|\(.host)|\(.address)|\(.port)|\(.interface)|\(.family)|\(.url)",
	    (.type as $t | .txt | to_entries[] | "txt|\($t)|\(.key)=\(.value)")'
}
# disc_all: latchkey discover --all, name|port|pri|type per candidate.
disc_all() {
	latchkey discover --all --json --timeout 5000 |
	    jq -r '.candidates[] | "\(.name)|\(.port)|\(.pri)|\(.type)"'
}
export -f disc disc_all

# ---- 1. latchkey discover finds latchkeyd; avahi-browse sees the same ------------------
tb_check_phase announced 10
tb_check_phase est

# ---- 2. avahi-publish -> latchkey discover ---------------------------------------------
tb_bg server pub1 avahi-publish -s "pub-$TB_ID" _brski-registrar._tcp 9443 \
    "txtvers=1" "rt=est-tls" "pri=10" "dom=other.test"
tb_bg server pub2 avahi-publish -s "future-$TB_ID" _brski-registrar._tcp 9444 \
    "txtvers=2" "pri=1"
tb_bg server pub3 avahi-publish -s "posture-$TB_ID" _latchkey-posture._tcp 7443 "txtvers=1"
tb_wait_log server pub1 "Established under name 'pub-$TB_ID'"
tb_wait_log server pub2 "Established under name 'future-$TB_ID'"
tb_wait_log server pub3 "Established under name 'posture-$TB_ID'"
tb_check_phase published 10
tb_stop server pub1 pub2 pub3

# ---- 3. avahi-daemon restarts under a running latchkeyd --------------------------------
tb_stop server avahi
tb_wait_log server latchkeyd "mdns: avahi-daemon went away"
tb_check_phase avahi-stopped 10
# Same configuration as tb_avahi_start, a second process record ("avahi2").
tb_bg server avahi2 sh -c '
	mount --bind "$1" /run && mkdir -p /run/avahi-daemon &&
	mount -t tmpfs -o mode=0755 tmpfs /etc/avahi/services &&
	{ [ ! -e /etc/avahi/hosts ] || mount --bind "$2" /etc/avahi/hosts; } &&
	exec avahi-daemon --no-chroot --no-drop-root --no-rlimits -f "$3"' \
    sh "$D/run" "$D/avahi-hosts" "$D/avahi-daemon.conf"
tb_wait_log server avahi2 'Server startup complete'
announced_twice() {
	tb_alive server latchkeyd || tb_fail "latchkeyd died during the avahi-daemon restart"
	[ "$(grep -c "mdns: announced as '$name'" "$D/latchkeyd.log")" -ge 2 ]
}
tb_wait_for "latchkeyd to announce again after the avahi-daemon restart" 15 announced_twice
tb_check_phase avahi-restarted 10

# ---- 4. latchkeyd stops: the device sees it removed -----------------------------------
tb_check_phase still-announced
# The watcher must have seen the instance before latchkeyd goes (else it says "not
# announced"). It prints nothing then; what shows it is the ItemNew signal the device's
# avahi-daemon sends it, seen on the device's bus by a monitor started first.
tb_bg device itemnew dbus-monitor --system \
    "type='signal',interface='org.freedesktop.Avahi.ServiceBrowser',member='ItemNew'"
tb_wait_log device itemnew 'member=NameLost'	# it is a monitor from here on
tb_bg device waitrm latchkey discover --wait-removed "$name" --timeout 15000
tb_wait_log device itemnew "string \"$RE_NAME\"" 10
tb_stop device itemnew
tb_stop server latchkeyd
tb_wait_log device waitrm "was removed|not announced|still announced"
tb_check_phase removed
tb_check_phase gone 10

# ---- 5. name conflict: the device already uses the name -------------------------------
tb_bg device squat avahi-publish -s "$name" _brski-registrar._tcp 1234 "txtvers=1"
tb_wait_log device squat "Established under name '$name'"
tb_bg server latchkeyd2 latchkeyd -d -v -f "$D/reg/latchkeyd.conf"
tb_wait_log server latchkeyd2 "mdns: announced as '$name #2'" 15
tb_check_phase conflict 10

tb_done

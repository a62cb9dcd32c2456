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
tb_require avahi-daemon avahi-browse avahi-publish dbus-daemon dbus-send jq curl openssl
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

# avahi-browse -p escapes bytes of names: a space is \032.
pname=${name// /\\\\032}
re_name=${name//./\\.}

# ---- 1. latchkey discover finds latchkeyd; avahi-browse sees the same ------------------
# jq turns the JSON into one line per candidate: type|name|host|address|port|if|family|url
# and one per TXT key: txt|type|key=value.
q='.candidates[] | "\(.type)|\(.name)|\(.host)|\(.address)|\(.port)|\(.interface)|\(.family)|\(.url)", (.type as $t | .txt | to_entries[] | "txt|\($t)|\(.key)=\(.value)")'
disc="latchkey discover --json --timeout 5000 | jq -r '$q'"
tb_check_retry 10 <<EOF
device::$disc::^_brski-registrar\._tcp\|$re_name\|$TB_ID-server\.local\|10\.202\.0\.1\|8443\|$dev_if\|IPv4\|https://10\.202\.0\.1:8443/\.well-known/est$::YES
device::$disc::^_brski-proxy\._tcp\|$re_name\|$TB_ID-server\.local\|10\.202\.0\.1\|8443\|$dev_if\|IPv4\|::YES
device::$disc::^txt\|_brski-registrar\._tcp\|txtvers=1$::YES
device::$disc::^txt\|_brski-registrar\._tcp\|rt=est-tls,brski$::YES
device::$disc::^txt\|_brski-registrar\._tcp\|path=/\.well-known/est$::YES
device::$disc::^txt\|_brski-registrar\._tcp\|pri=100$::YES
device::$disc::^txt\|_brski-registrar\._tcp\|dom=example\.test$::YES
device::$disc::^txt\|_brski-registrar\._tcp\|cafp=$cafp$::YES
device::$disc::IPv6::NO
device::latchkey discover --json --timeout 5000 | jq -e '.elapsed_ms >= 0 and .elapsed_ms < 5000 and (.candidates | length) >= 2' && echo json-ok::^json-ok$::YES
device::latchkey discover --timeout 5000::^_brski-registrar\._tcp "$re_name" 10\.202\.0\.1 8443 if $dev_if IPv4 host $TB_ID-server\.local pri 100 url https://10\.202\.0\.1:8443/\.well-known/est txt txtvers=1 rt=est-tls::YES
device::avahi-browse -rpt _brski-registrar._tcp::^=;$dev_if;IPv4;$pname;_brski-registrar\._tcp;local;$TB_ID-server\.local;10\.202\.0\.1;8443;.*"txtvers=1"::YES
device::avahi-browse -rpt _brski-registrar._tcp::^=;$dev_if;IPv4;$pname;.*"cafp=$cafp"::YES
device::avahi-browse -rpt _brski-proxy._tcp::^=;$dev_if;IPv4;$pname;_brski-proxy\._tcp;local;$TB_ID-server\.local;10\.202\.0\.1;8443;::YES
EOF
# The URL discovered is a real EST endpoint (verified against the domain CA: in a real
# enrollment trust comes from a voucher or a pin, never from the mDNS answer).
url=$(tb_exec device latchkey discover --json --type _brski-registrar._tcp | jq -r '.candidates[0].url')
tb_check "device::curl -s -o /dev/null -w 'http=%{http_code}' --cacert $D/reg/domain-ca.pem $url/cacerts::^http=200$::YES"

# ---- 2. avahi-publish -> latchkey discover ---------------------------------------------
tb_bg server pub1 avahi-publish -s "pub-$TB_ID" _brski-registrar._tcp 9443 \
    "txtvers=1" "rt=est-tls" "pri=10" "dom=other.test"
tb_bg server pub2 avahi-publish -s "future-$TB_ID" _brski-registrar._tcp 9444 \
    "txtvers=2" "pri=1"
tb_bg server pub3 avahi-publish -s "posture-$TB_ID" _latchkey-posture._tcp 7443 "txtvers=1"
tb_wait_log server pub1 "Established under name 'pub-$TB_ID'"
tb_wait_log server pub2 "Established under name 'future-$TB_ID'"
tb_wait_log server pub3 "Established under name 'posture-$TB_ID'"
all="latchkey discover --all --json --timeout 5000 | jq -r '.candidates[] | \"\(.name)|\(.port)|\(.pri)|\(.type)\"'"
tb_check_retry 10 <<EOF
device::$all::^pub-$TB_ID\|9443\|10\|_brski-registrar\._tcp$::YES
device::$all::^posture-$TB_ID\|7443\|100\|_latchkey-posture\._tcp$::YES
device::$all | head -1::^pub-$TB_ID\|::YES
device::$all::future-$TB_ID::NO
device::latchkey discover --json --type _latchkey-posture._tcp | jq -r '.candidates[].name'::^posture-$TB_ID$::YES
device::latchkey discover --json --type _latchkey-posture._tcp | jq -r '.candidates[].name'::$re_name::NO
EOF
tb_stop server pub1 pub2 pub3

# ---- 3. avahi-daemon restarts under a running latchkeyd --------------------------------
tb_stop server avahi
tb_wait_log server latchkeyd "mdns: avahi-daemon went away"
tb_check_retry 10 <<EOF
device::avahi-browse -rpt _brski-registrar._tcp::$pname::NO
EOF
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
tb_check_retry 10 <<EOF
device::$disc::^_brski-registrar\._tcp\|$re_name\|$TB_ID-server\.local\|10\.202\.0\.1\|8443\|$dev_if\|::YES
device::avahi-browse -rpt _brski-registrar._tcp::^=;$dev_if;IPv4;$pname;.*;10\.202\.0\.1;8443;::YES
EOF

# ---- 4. latchkeyd stops: the device sees it removed -----------------------------------
tb_check "device::latchkey discover --wait-removed '$name' --timeout 1500; echo rc=\$?::still announced.*|rc=1::YES"
tb_bg device waitrm latchkey discover --wait-removed "$name" --timeout 15000
sleep 1		# let the watcher see the instance first
tb_stop server latchkeyd
tb_wait_log device waitrm "was removed|not announced|still announced"
tb_check <<EOF
device::cat $TB_DIR/device/waitrm.log::"$re_name" was removed::YES
EOF
tb_check_retry 10 <<EOF
device::avahi-browse -rpt _brski-registrar._tcp::$pname::NO
device::latchkey discover --timeout 1500; echo rc=\$?::^rc=1$::YES
EOF

# ---- 5. name conflict: the device already uses the name -------------------------------
tb_bg device squat avahi-publish -s "$name" _brski-registrar._tcp 1234 "txtvers=1"
tb_wait_log device squat "Established under name '$name'"
tb_bg server latchkeyd2 latchkeyd -d -v -f "$D/reg/latchkeyd.conf"
tb_wait_log server latchkeyd2 "mdns: announced as '$name #2'" 15
tb_check_retry 10 <<EOF
server::cat $D/latchkeyd2.log::mdns: name '$re_name' is taken on the link, trying '$re_name #2'::YES
device::$disc::^_brski-registrar\._tcp\|$re_name #2\|$TB_ID-server\.local\|10\.202\.0\.1\|8443\|::YES
device::$disc::^_brski-registrar\._tcp\|$re_name\|[^|]*\|10\.202\.0\.2\|1234\|::YES
EOF

tb_done

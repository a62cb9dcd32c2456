#!/bin/bash
# smoke-avahi: the namespace test bed itself works. Two hosts, server and device, on one
# veth link, each with its own D-Bus bus and avahi-daemon restricted to the veth. The server
# publishes _latchkey-smoke._tcp; the device must resolve it (name, address, port, TXT)
# over real mDNS; once the publisher stops, the device must lose it again.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
. "$LK_TOP/tests/net/lib.sh"

tb_init
tb_require avahi-daemon avahi-browse avahi-publish dbus-daemon dbus-send

tb_ns_add server
tb_ns_add device
tb_link server 10.201.0.1/24 device 10.201.0.2/24
tb_avahi_start server device

svc="smoke-$TB_ID"
srv_if=$(tb_if server)
dev_if=$(tb_if device)

# The link itself, and each daemon on its own bus (nothing published yet).
tb_check <<EOF
device::ping -c 1 -W 2 10.201.0.1::1 received::YES
device::avahi-browse -pt _latchkey-smoke._tcp::$svc::NO
EOF

tb_bg server publish avahi-publish -s "$svc" _latchkey-smoke._tcp 8443 "k=v" "txtvers=1"
tb_wait_log server publish "Established under name '$svc'"

# Resolved line (avahi-browse -p): =;IF;PROTO;NAME;TYPE;DOMAIN;HOST;ADDRESS;PORT;TXT
tb_check_retry 10 <<EOF
device::avahi-browse -rpt _latchkey-smoke._tcp::^=;$dev_if;IPv4;$svc;_latchkey-smoke\._tcp;local;$TB_ID-server\.local;10\.201\.0\.1;8443;.*"k=v"::YES
device::avahi-browse -rpt _latchkey-smoke._tcp::^=;$dev_if;IPv4;$svc;.*"txtvers=1"::YES
server::avahi-browse -rpt _latchkey-smoke._tcp::^=;$srv_if;IPv4;$svc;.*;10\.201\.0\.1;8443;::YES
device::avahi-browse -rpt _latchkey-smoke._tcp::^=;lo;::NO
EOF

# Withdrawn: the publisher's goodbye (TTL 0, RFC 6762 §10.1) empties the device's cache.
tb_stop server publish
tb_check_retry 10 <<EOF
device::avahi-browse -rpt _latchkey-smoke._tcp::$svc::NO
EOF

tb_done

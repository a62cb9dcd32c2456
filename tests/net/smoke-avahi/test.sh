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

# Checks: tests/net/smoke-avahi/checks.
export SVC="smoke-$TB_ID"
export SRV_IF DEV_IF
SRV_IF=$(tb_if server)
DEV_IF=$(tb_if device)

tb_check_phase link

tb_bg server publish avahi-publish -s "$SVC" _latchkey-smoke._tcp 8443 "k=v" "txtvers=1"
tb_wait_log server publish "Established under name '$SVC'"
tb_check_phase published 10

# Withdrawn: the device must lose it again.
tb_stop server publish
tb_check_phase withdrawn 10

tb_done

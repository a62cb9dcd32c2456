#!/bin/bash
# tests/net/kea-options: liblatchkey_kea.so in a real kea-dhcp4 / kea-dhcp6, real DHCP
# clients (busybox udhcpc, ISC dhclient -4 and -6) in a device namespace.
#
#   server (10.203.0.1/24, fd00:203::1/64) ---veth--- device (DHCP clients)
#
# Shows: the option 143 / 136 bytes each client hands its script are exactly the RFC 8572
# §8.3 encoding of the registrar URIs (expected bytes computed here in shell, not by our
# codec), the vendor options 125 / 17 exactly as documented in dhcp-hook/README.md; the
# contrib client scripts write the env file the agent reads, and the project's codec
# decodes the URIs from it; a client in the revoked class gets a lease but no options;
# `kea-dhcp4 -t` accepts the configuration, and a real start with a bad parameter fails
# with a log line naming the parameter; the contrib/kea examples pass -t. Exit 0 pass, 77 skip, 1 fail. Needs root.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
HERE=$LK_TOP/tests/net/kea-options
. "$LK_TOP/tests/net/lib.sh"

HOOK=$LK_BIN/liblatchkey_kea.so
[ -f "$HOOK" ] || tb_skip "$HOOK is not built (make $HOOK)"
tb_init
tb_require kea-dhcp4 kea-dhcp6 udhcpc dhclient cc od awk

# ---------------------------------------------------------------------------------------
# What the hook is configured with, and the bytes that must come out (RFC layouts).

REG1=https://10.203.0.1:8443
REG2=https://registrar.example.test/brski
POSTURE=https://posture.example.test/report
UPDATE=https://updates.example.test/v1
FP=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ENTERPRISE=32473
PARAMS="\"registrar-uris\": [ \"$REG1\", \"$REG2\" ], \"posture-uris\": [ \"$POSTURE\" ],
		\"update-uris\": [ \"$UPDATE\" ], \"ca-fingerprint\": \"$FP\""

hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# RFC 8572 §8.3: {uint16 uri-length, URI}...
sztp_hex() { local u; for u; do printf '%04x%s' "${#u}" "$(hexof "$u")"; done; }
# RFC 3925 §4 sub-option: code(1) len(1) data; RFC 8415 §21.17 sub-option: code(2) len(2).
sub4() { printf '%02x%02x%s' "$1" "${#2}" "$(hexof "$2")"; }
sub6() { printf '%04x%04x%s' "$1" "${#2}" "$(hexof "$2")"; }
SUBS4=$(sub4 1 "$POSTURE")$(sub4 2 "$UPDATE")$(sub4 3 "$FP")
SUBS6=$(sub6 1 "$POSTURE")$(sub6 2 "$UPDATE")$(sub6 3 "$FP")
WANT_SZTP=$(sztp_hex "$REG1" "$REG2")
WANT_V4VENDOR=$(printf '%08x%02x' "$ENTERPRISE" $((${#SUBS4} / 2)))$SUBS4
WANT_V6VENDOR=$(printf '%08x' "$ENTERPRISE")$SUBS6
# Spot-check the shell oracle against a few bytes written out by hand.
[[ $WANT_SZTP == 0017* ]] || tb_fail "oracle: first uri-length should be 0x0017"
[[ $WANT_V4VENDOR == 00007ed98f0123* ]] || tb_fail "oracle: v4 vendor header"
[[ $WANT_V6VENDOR == 00007ed90001002368747470733a2f2f* ]] || tb_fail "oracle: v6 vendor"

# ---------------------------------------------------------------------------------------
# Helpers (ours; lib.sh is shared).

# kea_start ALIAS NAME FAMILY CONF: start kea-dhcpFAMILY with CONF as process NAME and
# wait until it has started (lib.sh's tb_kea4_start fixes the name, we restart Kea).
kea_start() {
	local alias=$1 name=$2 fam=$3 conf=$4 dir
	dir=$(tb_hostdir "$alias")/$name
	mkdir -p "$dir"
	tb_bg "$alias" "$name" env KEA_PIDFILE_DIR="$dir" KEA_LOCKFILE_DIR="$dir" \
	    "kea-dhcp$fam" -c "$conf"
	tb_wait_log "$alias" "$name" "DHCP${fam}_STARTED"
}

# render TEMPLATE OUT [NAME=VALUE...]: the Kea config for the server host.
render() {
	local tpl=$1 out=$2
	shift 2
	tb_render "$HERE/$tpl" "$out" server HOOK="$HOOK" "$@"
}

# dhclient_hex FILE VAR: the value of VAR in FILE (dhclient's hex, "0:17:68") as plain
# two-digit hex ("001768"); the checks use it (exported below).
dhclient_hex() {
	sed -n "s/^$2=//p" "$1" |
	    awk -F: '{ for (i = 1; i <= NF; i++) printf "%s%s", length($i) == 1 ? "0" : "", $i
		print "" }'
}

# ---------------------------------------------------------------------------------------
# The network.

tb_ns_add server
tb_ns_add device
for h in server device; do
	tb_exec "$h" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 ||
	    tb_fail "cannot disable DAD in $h"
done
tb_link server 10.203.0.1/24 device -
SIF=$(tb_if server)
DIF=$(tb_if device)
ip -n "$(tb_ns server)" addr add fd00:203::1/64 dev "$SIF" nodad ||
    tb_fail "cannot add the server's IPv6 address"
D=$TB_DIR/device
RUNDIR=$D/run-latchkey
mkdir -p "$RUNDIR"
# What tests/net/kea-options/checks uses.
export D RUNDIR DIF HOOK REG1 REG2 POSTURE UPDATE FP WANT_SZTP WANT_V4VENDOR WANT_V6VENDOR
export -f dhclient_hex

# The agent-side decoder: the project's codec over the env file the client scripts write.
cc -std=c11 -D_GNU_SOURCE -Wall -Werror -I"$LK_TOP" -o "$TB_DIR/dhcp_decode" \
    "$HERE/dhcp_decode.c" "$LK_TOP/dhcp-hook/dhcpopt.c" 2>"$TB_DIR/cc.log" ||
    tb_fail "cannot build dhcp_decode: $(head -3 "$TB_DIR/cc.log")"

# udhcpc script: keep udhcpc's environment, then run the contrib script (no chaining to
# the distribution's script: we only look at what the client hands over).
cat >"$D/udhcpc.sh" <<EOF
#!/bin/sh
env | sort >"$D/udhcpc.\$1"
LATCHKEY_RUN_DIR=$RUNDIR LATCHKEY_UDHCPC_CHAIN=none exec sh "$LK_TOP/contrib/dhcp/udhcpc-latchkey.sh" "\$@"
EOF
# dhclient script: dhclient gives its script a fresh environment; keep it, then source the
# contrib exit hook the way dhclient-script does.
cat >"$D/dhclient.sh" <<EOF
#!/bin/sh
env | sort >"$D/dhclient.\$reason"
LATCHKEY_RUN_DIR=$RUNDIR
. "$LK_TOP/contrib/dhcp/dhclient-exit-hook.sh"
exit 0
EOF
chmod 0755 "$D/udhcpc.sh" "$D/dhclient.sh"

# ---------------------------------------------------------------------------------------
# 1. kea-dhcp4 with the hook; the configuration passes kea-dhcp4 -t.

render kea-dhcp4.conf.in "$TB_DIR/server/good4.conf" PARAMS="$PARAMS" CLASSES=""
tb_check_phase config-ok
kea_start server kea4 4 "$TB_DIR/server/good4.conf"
tb_check_phase loaded

# 2. udhcpc: lease, and the options' bytes exactly.
tb_exec device timeout 15 udhcpc -f -q -n -i "$DIF" -O 143 -O 125 -s "$D/udhcpc.sh" \
    -t 5 -T 1 >"$D/udhcpc.out" 2>&1
tb_check_phase udhcpc
rm -f "$RUNDIR/dhcp-$DIF.env"

# 3. ISC dhclient -4 with contrib/dhcp/dhclient-latchkey.conf.
tb_bg device dhclient4 dhclient -4 -1 -d -v -cf "$LK_TOP/contrib/dhcp/dhclient-latchkey.conf" \
    -lf "$D/dhclient4.leases" -pf "$D/dhclient4.pid" -sf "$D/dhclient.sh" "$DIF"
tb_wait_for "dhclient -4 lease" 20 tb__alive_and device dhclient4 test -s "$D/dhclient.BOUND"
tb_check_phase dhclient4
tb_stop device dhclient4

# 4. DHCPv6: kea-dhcp6 with the same parameters, dhclient -6: option 136 carries the same
#    list as option 143; option 17 has 2-octet sub-option codes and lengths.
tb_wait_for "device link-local address" 10 \
    tb_sh device "ip -6 addr show dev $DIF scope link | grep -q fe80"
render kea-dhcp6.conf.in "$TB_DIR/server/good6.conf" PARAMS="$PARAMS"
kea_start server kea6 6 "$TB_DIR/server/good6.conf"
tb_bg device dhclient6 dhclient -6 -1 -d -v -cf "$LK_TOP/contrib/dhcp/dhclient-latchkey.conf" \
    -lf "$D/dhclient6.leases" -pf "$D/dhclient6.pid" -sf "$D/dhclient.sh" "$DIF"
tb_wait_for "dhclient -6 lease" 20 tb__alive_and device dhclient6 test -s "$D/dhclient.BOUND6"
tb_check_phase dhclient6
tb_stop device dhclient6
tb_stop server kea6

# 5. A client in the revoked class gets a lease and no enrollment options. Until part 2
#    (the registry snapshot) the class comes from a Kea class test on the device's MAC.
tb_stop server kea4
MAC=$(ip -n "$(tb_ns device)" -o link show "$DIF" |
    sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
MACHEX=0x$(printf '%s' "$MAC" | tr -d :)
[ "${#MACHEX}" = 14 ] || tb_fail "cannot read the device's MAC address"
render kea-dhcp4.conf.in "$TB_DIR/server/revoked4.conf" PARAMS="$PARAMS" \
    CLASSES="\"client-classes\": [ { \"name\": \"latchkey-revoked\", \"test\": \"pkt4.mac == $MACHEX\" } ],"
kea_start server kea4revoked 4 "$TB_DIR/server/revoked4.conf"
rm -f "$D/udhcpc.bound" "$RUNDIR/dhcp-$DIF.env"
tb_exec device timeout 15 udhcpc -f -q -n -i "$DIF" -O 143 -O 125 -s "$D/udhcpc.sh" \
    -t 5 -T 1 >"$D/udhcpc-revoked.out" 2>&1
tb_check_phase revoked-class
tb_stop server kea4revoked

# 6. Big options: each fits 255 octets (a warning at load), together they do not fit the
#    576 octets udhcpc accepts. The hook adds option 143 and leaves option 125 out, and
#    udhcpc still gets its lease (a 376-octet option 143 from Kea 2.2 cost udhcpc its lease).
BIGREG=() BIGPOST=()
for i in 1 2 3 4; do BIGREG+=("https://registrar-$i.example.test/$(printf '%027d' 0)"); done
for i in 1 2 3; do BIGPOST+=("https://posture-$i.example.test/$(printf '%039d' 0)"); done
export WANT_BIG_SZTP
WANT_BIG_SZTP=$(sztp_hex "${BIGREG[@]}")
json_list() { local u out=""; for u; do out="$out${out:+, }\"$u\""; done; printf '[ %s ]' "$out"; }
render kea-dhcp4.conf.in "$TB_DIR/server/big4.conf" CLASSES="" \
    PARAMS="\"registrar-uris\": $(json_list "${BIGREG[@]}"), \"posture-uris\": $(json_list "${BIGPOST[@]}")"
kea_start server kea4big 4 "$TB_DIR/server/big4.conf"
rm -f "$D/udhcpc.bound"
tb_exec device timeout 15 udhcpc -f -q -n -i "$DIF" -O 143 -O 125 -s "$D/udhcpc.sh" \
    -t 5 -T 1 >"$D/udhcpc-big.out" 2>&1
tb_check_phase big
tb_stop server kea4big

# 7. Bad parameters: kea-dhcp4 -t does not call load() (so it accepts them), a real start
#    fails with a log line naming the parameter.
bad_start() {
	local name=$1 params=$2 dir=$TB_DIR/server/$1
	mkdir -p "$dir"
	render kea-dhcp4.conf.in "$dir/kea.conf" PARAMS="$params" CLASSES=""
	tb_exec server env KEA_PIDFILE_DIR="$dir" KEA_LOCKFILE_DIR="$dir" \
	    timeout 10 kea-dhcp4 -c "$dir/kea.conf" >"$dir/kea.log" 2>&1
	echo "rc=$?" >>"$dir/kea.log"
}
bad_start notlist '"registrar-uris": 5'
bad_start unknown "\"registrar-uri\": [ \"$REG1\" ]"
bad_start http '"registrar-uris": [ "http://10.203.0.1/" ]'
bad_start enterprise "\"registrar-uris\": [ \"$REG1\" ], \"vendor-enterprise\": \"32473\""
LONG=https://registrar.example.test/$(printf '%0200d' 0)
bad_start toolong "\"registrar-uris\": [ \"$LONG\", \"$LONG/2\" ]"
tb_check_phase bad-params

# 8. The contrib examples pass kea-dhcp4/6 -t (with this build's hook, and an "eth0" of
#    our own in the server namespace).
ip -n "$(tb_ns server)" link add eth0 type veth peer name eth0p ||
    tb_fail "cannot add eth0 in the server namespace"
for fam in 4 6; do
	sed "s|\"library\": \"[^\"]*\"|\"library\": \"$HOOK\"|" \
	    "$LK_TOP/contrib/kea/kea-dhcp$fam.conf" >"$TB_DIR/server/example$fam.conf"
done
tb_check_phase examples

tb_done

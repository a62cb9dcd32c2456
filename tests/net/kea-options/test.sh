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

# colon_to_plain "0:17:68": dhclient's hex to plain two-digit hex (as an oracle check).
colon_to_plain() {
	local b out="" IFS=:
	for b in $1; do
		[ "${#b}" = 1 ] && b=0$b
		out=$out$b
	done
	printf '%s\n' "$out"
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
tb_check <<EOF
server::kea-dhcp4 -t $TB_DIR/server/good4.conf; echo rc=\$?::^rc=0$::YES
EOF
kea_start server kea4 4 "$TB_DIR/server/good4.conf"
tb_check <<EOF
server::cat $TB_DIR/server/kea4.log::LATCHKEY_LOAD_OK .*2 registrar URI\(s\), 1 posture URI\(s\), 1 update URI\(s\), enterprise 32473; option data: 143/136 63, 125 148, 17 153 octets::YES
EOF

# 2. udhcpc: lease, and the options' bytes exactly.
tb_exec device timeout 15 udhcpc -f -q -n -i "$DIF" -O 143 -O 125 -s "$D/udhcpc.sh" \
    -t 5 -T 1 >"$D/udhcpc.out" 2>&1
tb_check <<EOF
device::cat $D/udhcpc.out::lease of 10\.203\.0\.1[0-5][0-9] obtained::YES
device::cat $D/udhcpc.bound::^ip=10\.203\.0\.1[0-5][0-9]$::YES
device::cat $D/udhcpc.bound::^opt143=$WANT_SZTP$::YES
device::cat $D/udhcpc.bound::^opt125=$WANT_V4VENDOR$::YES
device::cat $RUNDIR/dhcp-$DIF.env::^LATCHKEY_DHCP_SZTP=$WANT_SZTP$::YES
device::cat $RUNDIR/dhcp-$DIF.env::^LATCHKEY_DHCP_VENDOR=$WANT_V4VENDOR$::YES
device::$TB_DIR/dhcp_decode $RUNDIR/dhcp-$DIF.env | tr '\n' ' '::^sztp $REG1 sztp $REG2 posture $POSTURE update $UPDATE fingerprint $FP $::YES
server::cat $TB_DIR/server/kea4.log::LATCHKEY_OPTIONS_ADDED .*option 143, option 125 to DHCPACK::YES
EOF
rm -f "$RUNDIR/dhcp-$DIF.env"

# 3. ISC dhclient -4 with contrib/dhcp/dhclient-latchkey.conf.
tb_bg device dhclient4 dhclient -4 -1 -d -v -cf "$LK_TOP/contrib/dhcp/dhclient-latchkey.conf" \
    -lf "$D/dhclient4.leases" -pf "$D/dhclient4.pid" -sf "$D/dhclient.sh" "$DIF"
tb_wait_for "dhclient -4 lease" 20 tb__alive_and device dhclient4 test -s "$D/dhclient.BOUND"
RAW4=$(sed -n 's/^new_sztp_redirect=//p' "$D/dhclient.BOUND")
RAWV4=$(sed -n 's/^new_latchkey_vivso=//p' "$D/dhclient.BOUND")
tb_check <<EOF
device::cat $D/dhclient.BOUND::^new_ip_address=10\.203\.0\.1[0-5][0-9]$::YES
device::echo $(colon_to_plain "$RAW4")::^$WANT_SZTP$::YES
device::echo $(colon_to_plain "$RAWV4")::^$WANT_V4VENDOR$::YES
device::cat $RUNDIR/dhcp-$DIF.env::^LATCHKEY_DHCP_SZTP=$WANT_SZTP$::YES
device::cat $RUNDIR/dhcp-$DIF.env::^LATCHKEY_DHCP_VENDOR=$WANT_V4VENDOR$::YES
device::$TB_DIR/dhcp_decode $RUNDIR/dhcp-$DIF.env | tr '\n' ' '::^sztp $REG1 sztp $REG2 posture $POSTURE update $UPDATE fingerprint $FP $::YES
EOF
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
RAW6=$(sed -n 's/^new_dhcp6_sztp_redirect=//p' "$D/dhclient.BOUND6")
RAWV6=$(sed -n 's/^new_dhcp6_latchkey_vendor=//p' "$D/dhclient.BOUND6")
tb_check <<EOF
device::cat $D/dhclient.BOUND6::^new_ip6_address=fd00:203:{2}1[0-9a-f]{2}$::YES
device::echo $(colon_to_plain "$RAW6")::^$WANT_SZTP$::YES
device::echo $(colon_to_plain "$RAWV6")::^$WANT_V6VENDOR$::YES
device::cat $RUNDIR/dhcp6-$DIF.env::^LATCHKEY_DHCP_VENDOR=$WANT_V6VENDOR$::YES
device::$TB_DIR/dhcp_decode $RUNDIR/dhcp6-$DIF.env | tr '\n' ' '::^sztp $REG1 sztp $REG2 posture $POSTURE update $UPDATE fingerprint $FP $::YES
server::cat $TB_DIR/server/kea6.log::LATCHKEY_OPTIONS_ADDED .*option 136, option 17 to REPLY::YES
EOF
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
tb_check <<EOF
device::cat $D/udhcpc.bound::^ip=10\.203\.0\.1[0-5][0-9]$::YES
device::cat $D/udhcpc.bound::^opt14[3]=|^opt125=::NO
device::cat $RUNDIR/dhcp-$DIF.env::LATCHKEY_DHCP_(SZTP|VENDOR)::NO
server::cat $TB_DIR/server/kea4revoked.log::LATCHKEY_OPTIONS_ADDED::NO
EOF
tb_stop server kea4revoked

# 6. Big options: each fits 255 octets (a warning at load), together they do not fit the
#    576 octets udhcpc accepts. The hook adds option 143 and leaves option 125 out, and
#    udhcpc still gets its lease (a 376-octet option 143 from Kea 2.2 cost udhcpc its lease).
BIGREG=() BIGPOST=()
for i in 1 2 3 4; do BIGREG+=("https://registrar-$i.example.test/$(printf '%027d' 0)"); done
for i in 1 2 3; do BIGPOST+=("https://posture-$i.example.test/$(printf '%039d' 0)"); done
json_list() { local u out=""; for u; do out="$out${out:+, }\"$u\""; done; printf '[ %s ]' "$out"; }
render kea-dhcp4.conf.in "$TB_DIR/server/big4.conf" CLASSES="" \
    PARAMS="\"registrar-uris\": $(json_list "${BIGREG[@]}"), \"posture-uris\": $(json_list "${BIGPOST[@]}")"
kea_start server kea4big 4 "$TB_DIR/server/big4.conf"
rm -f "$D/udhcpc.bound"
tb_exec device timeout 15 udhcpc -f -q -n -i "$DIF" -O 143 -O 125 -s "$D/udhcpc.sh" \
    -t 5 -T 1 >"$D/udhcpc-big.out" 2>&1
tb_check <<EOF
server::cat $TB_DIR/server/kea4big.log::LATCHKEY_SIZE_WARNING .*options 143 and 125 take 473 octets together::YES
device::cat $D/udhcpc.bound::^ip=10\.203\.0\.1[0-5][0-9]$::YES
device::cat $D/udhcpc.bound::^opt143=$(sztp_hex "${BIGREG[@]}")$::YES
device::cat $D/udhcpc.bound::^opt125=::NO
server::cat $TB_DIR/server/kea4big.log::LATCHKEY_OPTIONS_TRIMMED .*DHCPACK.*at most 576 octets::YES
EOF
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
tb_check <<EOF
server::kea-dhcp4 -t $TB_DIR/server/notlist/kea.conf; echo rc=\$?::^rc=0$::YES
server::cat $TB_DIR/server/notlist/kea.log::^rc=0$::NO
server::cat $TB_DIR/server/notlist/kea.log::LATCHKEY_LOAD_FAILED .*parameter 'registrar-uris' must be a list of strings, not integer::YES
server::cat $TB_DIR/server/unknown/kea.log::LATCHKEY_LOAD_FAILED .*unknown parameter 'registrar-uri'::YES
server::cat $TB_DIR/server/http/kea.log::LATCHKEY_LOAD_FAILED .*parameter 'registrar-uris' item 1: URI scheme must be https::YES
server::cat $TB_DIR/server/enterprise/kea.log::LATCHKEY_LOAD_FAILED .*parameter 'vendor-enterprise' must be an integer, not string::YES
server::cat $TB_DIR/server/toolong/kea.log::LATCHKEY_LOAD_FAILED .*registrar-uris: option 143 would carry [0-9]+ octets::YES
server::cat $TB_DIR/server/toolong/kea.log::DHCP4_STARTED::NO
EOF

# 8. The contrib examples pass kea-dhcp4/6 -t (with this build's hook, and an "eth0" of
#    our own in the server namespace).
ip -n "$(tb_ns server)" link add eth0 type veth peer name eth0p ||
    tb_fail "cannot add eth0 in the server namespace"
for fam in 4 6; do
	sed "s|\"library\": \"[^\"]*\"|\"library\": \"$HOOK\"|" \
	    "$LK_TOP/contrib/kea/kea-dhcp$fam.conf" >"$TB_DIR/server/example$fam.conf"
done
tb_check <<EOF
server::grep -c '"library": "$HOOK"' $TB_DIR/server/example4.conf::^1$::YES
server::env KEA_PIDFILE_DIR=$TB_DIR/server KEA_LOCKFILE_DIR=$TB_DIR/server kea-dhcp4 -t $TB_DIR/server/example4.conf; echo rc=\$?::^rc=0$::YES
server::env KEA_PIDFILE_DIR=$TB_DIR/server KEA_LOCKFILE_DIR=$TB_DIR/server kea-dhcp6 -t $TB_DIR/server/example6.conf; echo rc=\$?::^rc=0$::YES
EOF

tb_done

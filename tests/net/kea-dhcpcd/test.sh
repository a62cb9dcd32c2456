#!/bin/bash
# tests/net/kea-dhcpcd: contrib/dhcp/dhcpcd-latchkey.sh with a real dhcpcd (Debian package
# dhcpcd-base) against a real kea-dhcp4 / kea-dhcp6 with liblatchkey_kea.so.
#
#   server (10.203.0.1/24, fd00:203::1/64: kea-dhcp4, kea-dhcp6) ---veth--- device (dhcpcd)
#
# Reuses tests/net/kea-options' Kea templates and its env-file decoder. Shows: with the
# dhcpcd.conf lines documented in the hook's header, dhcpcd hands the hook options 143/125
# (DHCPv4) and 136/17 (DHCPv6) as plain hex whose bytes are exactly the RFC 8572 §8.3 /
# RFC 3925 §4 / RFC 8415 §21.17 encodings (computed here in shell); the hook writes the env
# file (dhcp-<if>.env, dhcp6-<if>.env) that the project's codec decodes to the configured
# URIs; the file goes away when dhcpcd stops (reason STOP / STOP6).
# dhcpcd runs with our script (-c) instead of dhcpcd-run-hooks, so nothing outside the
# namespace is touched; /run and /var/lib/dhcpcd are private bind mounts.
# Exit 0 pass, 77 skip, 1 fail. Needs root.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
OPTS=$LK_TOP/tests/net/kea-options
. "$LK_TOP/tests/net/lib.sh"

HOOK=${LK_HOOK:-$LK_BIN/liblatchkey_kea.so}
[ -f "$HOOK" ] || tb_skip "$HOOK is not built (make $HOOK)"
tb_init
tb_require kea-dhcp4 kea-dhcp6 dhcpcd cc od awk

REG1=https://10.203.0.1:8443
REG2=https://registrar.example.test/brski
POSTURE=https://posture.example.test/report
UPDATE=https://updates.example.test/v1
FP=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ENTERPRISE=32473
PARAMS="\"registrar-uris\": [ \"$REG1\", \"$REG2\" ], \"posture-uris\": [ \"$POSTURE\" ],
		\"update-uris\": [ \"$UPDATE\" ], \"ca-fingerprint\": \"$FP\""

hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
sztp_hex() { local u; for u; do printf '%04x%s' "${#u}" "$(hexof "$u")"; done; }
sub4() { printf '%02x%02x%s' "$1" "${#2}" "$(hexof "$2")"; }
sub6() { printf '%04x%04x%s' "$1" "${#2}" "$(hexof "$2")"; }
SUBS4=$(sub4 1 "$POSTURE")$(sub4 2 "$UPDATE")$(sub4 3 "$FP")
SUBS6=$(sub6 1 "$POSTURE")$(sub6 2 "$UPDATE")$(sub6 3 "$FP")
WANT_SZTP=$(sztp_hex "$REG1" "$REG2")
WANT_V4VENDOR=$(printf '%08x%02x' "$ENTERPRISE" $((${#SUBS4} / 2)))$SUBS4
WANT_V6VENDOR=$(printf '%08x' "$ENTERPRISE")$SUBS6
[[ $WANT_SZTP == 0017* ]] || tb_fail "oracle: first uri-length should be 0x0017"
[[ $WANT_V4VENDOR == 00007ed98f0123* ]] || tb_fail "oracle: v4 vendor header"

kea_start() {	# kea_start NAME FAMILY CONF
	local dir=$TB_DIR/server/$1
	mkdir -p "$dir"
	tb_bg server "$1" env KEA_PIDFILE_DIR="$dir" KEA_LOCKFILE_DIR="$dir" "kea-dhcp$2" -c "$3"
	tb_wait_log server "$1" "DHCP${2}_STARTED"
}

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
mkdir -p "$RUNDIR" "$D/var-dhcpcd"
# What tests/net/kea-dhcpcd/checks uses.
export D RUNDIR DIF REG1 REG2 POSTURE UPDATE FP WANT_SZTP WANT_V4VENDOR WANT_V6VENDOR

cc -std=c11 -D_GNU_SOURCE -Wall -Werror -I"$LK_TOP" -o "$TB_DIR/dhcp_decode" \
    "$OPTS/dhcp_decode.c" "$LK_TOP/dhcp-hook/dhcpopt.c" 2>"$TB_DIR/cc.log" ||
    tb_fail "cannot build dhcp_decode: $(head -3 "$TB_DIR/cc.log")"

# dhcpcd.conf: exactly the lines the hook's header documents, plus test-bed settings.
sed -n 's/^#   \(define6\{0,1\} .*\|option .*sztp_redirect.*\)$/\1/p' \
    "$LK_TOP/contrib/dhcp/dhcpcd-latchkey.sh" >"$D/lk.conf"
[ "$(wc -l <"$D/lk.conf")" = 6 ] || tb_fail "cannot find the dhcpcd.conf lines in the hook's header"
conf() {	# conf FILE 4|6
	{
		echo "# latchkey test bed: dhcpcd for the device"
		cat "$D/lk.conf"
		echo "noipv4ll"
		echo "noarp"
		echo "nodelay"
		echo "timeout 15"
		if [ "$2" = 6 ]; then
			echo "ipv6only"
			echo "noipv6rs"
			echo "ia_na 1"
			echo "duid"
		else
			echo "ipv4only"
		fi
	} >"$1"
}
conf "$D/dhcpcd4.conf" 4
conf "$D/dhcpcd6.conf" 6

# dhcpcd's script: keep the environment of each event, then source the hook the way
# dhcpcd-run-hooks does.
cat >"$D/dhcpcd.sh" <<EOF
#!/bin/sh
env | sort >"$D/dhcpcd.\$reason"
LATCHKEY_RUN_DIR=$RUNDIR
. "$LK_TOP/contrib/dhcp/dhcpcd-latchkey.sh"
exit 0
EOF
chmod 0755 "$D/dhcpcd.sh"

dhcpcd_start() {	# dhcpcd_start NAME 4|6
	tb_bg device "$1" sh -c 'mount --bind "$1" /run && mount --bind "$2" /var/lib/dhcpcd &&
	    exec dhcpcd -B -"$3" -f "$4" -c "$5" "$6"' sh "$D/run" "$D/var-dhcpcd" "$2" \
	    "$D/dhcpcd$2.conf" "$D/dhcpcd.sh" "$DIF"
}

# 1. DHCPv4.
tb_render "$OPTS/kea-dhcp4.conf.in" "$TB_DIR/server/kea4.conf" server HOOK="$HOOK" \
    PARAMS="$PARAMS" CLASSES=""
kea_start kea4 4 "$TB_DIR/server/kea4.conf"
dhcpcd_start dhcpcd4 4
tb_wait_for "dhcpcd -4 lease" 20 tb__alive_and device dhcpcd4 test -s "$D/dhcpcd.BOUND"
tb_check_phase dhcpv4
tb_stop device dhcpcd4
tb_check_phase dhcpv4-stopped
tb_stop server kea4

# 2. DHCPv6.
tb_wait_for "device link-local address" 10 \
    tb_sh device "ip -6 addr show dev $DIF scope link | grep -q fe80"
tb_render "$OPTS/kea-dhcp6.conf.in" "$TB_DIR/server/kea6.conf" server HOOK="$HOOK" \
    PARAMS="$PARAMS"
kea_start kea6 6 "$TB_DIR/server/kea6.conf"
dhcpcd_start dhcpcd6 6
tb_wait_for "dhcpcd -6 lease" 20 tb__alive_and device dhcpcd6 test -s "$D/dhcpcd.BOUND6"
tb_check_phase dhcpv6
tb_stop device dhcpcd6
tb_check_phase dhcpv6-stopped

tb_done

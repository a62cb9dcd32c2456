#!/bin/sh
# udhcpc-latchkey.sh: udhcpc script that hands latchkey's discovery options to the agent.
#
#   udhcpc -i eth0 -O 143 -O 125 -s /usr/share/latchkey/udhcpc-latchkey.sh
#
# udhcpc passes options it has no name for as hex in opt<code> (opt143: RFC 8572 SZTP
# redirect, opt125: V-I vendor option, RFC 3925). On bound/renew this script writes
#   $LATCHKEY_RUN_DIR/dhcp-<interface>.env   (default /run/latchkey)
# with lines KEY=VALUE (values are hex, lower-case, two digits per octet):
#   LATCHKEY_DHCP_FAMILY=4
#   LATCHKEY_DHCP_IFACE=<interface>
#   LATCHKEY_DHCP_SERVER=<server id>
#   LATCHKEY_DHCP_SZTP=<option 143 data>        (absent when the server sent none)
#   LATCHKEY_DHCP_VENDOR=<option 125 data>      (absent when the server sent none)
# which the agent decodes with dhcp-hook/dhcpopt.c (dhcpopt_hex_decode, then
# dhcpopt_sztp_decode / dhcpopt_vendor4_decode), and removes it on deconfig, leasefail and
# nak. The option bytes are untrusted hints: the agent trusts a registrar only through its
# voucher or an explicit pin.
#
# It then runs the distribution's script to configure the interface:
# $LATCHKEY_UDHCPC_CHAIN (default /usr/share/udhcpc/default.script, or
# /etc/udhcpc/default.script); "none" skips it.
#
# Zero-touch onboarding (optional, off by default): when LATCHKEY_ONBOARD=yes is set in
# udhcpc's environment, or the flag file $LATCHKEY_ONBOARD_FLAG exists (default
# /etc/latchkey/onboard-on-dhcp), a bound/renew event that wrote the env file also starts
#   ${LATCHKEY_BIN:-latchkey} onboard --dhcp-env <env file> $LATCHKEY_ONBOARD_ARGS
# in the background (its own session, stdin /dev/null, output appended to
# $LATCHKEY_ONBOARD_LOG, default $LATCHKEY_RUN_DIR/onboard.log). udhcpc does not wait for
# it. It is safe to start on every lease: a bound device exits at once, and only one
# latchkey onboard runs per state directory (a second one exits with status 4).
# LATCHKEY_ONBOARD_ARGS is split on white space (e.g. "--state-dir /var/lib/latchkey
# --max-backoff 600").

event=${1:-}
dir=${LATCHKEY_RUN_DIR:-/run/latchkey}
iface=${interface:-}

chain=${LATCHKEY_UDHCPC_CHAIN:-}
if [ -z "$chain" ]; then
	for chain in /usr/share/udhcpc/default.script /etc/udhcpc/default.script none; do
		[ -x "$chain" ] && break
	done
fi
rc=0
if [ "$chain" != none ]; then
	"$chain" "$@"
	rc=$?
fi

# Only hex, at most 255 octets (what fits one DHCPv4 option).
lk_hex_ok() {
	case $1 in
	*[!0-9a-fA-F]*) return 1;;
	esac
	[ $((${#1} % 2)) -eq 0 ] && [ "${#1}" -le 510 ]
}

# Start latchkey onboard detached (see above); never blocks udhcpc.
lk_start_onboard() {
	lk_bin=${LATCHKEY_BIN:-latchkey}
	lk_log=${LATCHKEY_ONBOARD_LOG:-$dir/onboard.log}
	lk_setsid=
	command -v setsid >/dev/null 2>&1 && lk_setsid=setsid
	# shellcheck disable=SC2086	# LATCHKEY_ONBOARD_ARGS: word splitting wanted
	$lk_setsid "$lk_bin" onboard --dhcp-env "$file" ${LATCHKEY_ONBOARD_ARGS:-} \
	    </dev/null >>"$lk_log" 2>&1 &
}

case $iface in
''|*[!A-Za-z0-9_.@-]*)
	echo "udhcpc-latchkey: bad interface name" >&2
	exit "$rc";;
esac
file=$dir/dhcp-$iface.env

case $event in
bound|renew)
	umask 022
	mkdir -p "$dir" || exit "$rc"
	tmp=$file.tmp.$$
	if ! {
		echo "LATCHKEY_DHCP_FAMILY=4"
		echo "LATCHKEY_DHCP_IFACE=$iface"
		case ${serverid:-} in
		*[!0-9.]*|'') ;;
		*) echo "LATCHKEY_DHCP_SERVER=$serverid";;
		esac
		if [ -n "${opt143:-}" ]; then
			if lk_hex_ok "$opt143"; then
				echo "LATCHKEY_DHCP_SZTP=$(echo "$opt143" | tr 'A-F' 'a-f')"
			else
				echo "udhcpc-latchkey: ignoring malformed option 143" >&2
			fi
		fi
		if [ -n "${opt125:-}" ]; then
			if lk_hex_ok "$opt125"; then
				echo "LATCHKEY_DHCP_VENDOR=$(echo "$opt125" | tr 'A-F' 'a-f')"
			else
				echo "udhcpc-latchkey: ignoring malformed option 125" >&2
			fi
		fi
	} >"$tmp" || ! mv -f "$tmp" "$file"; then
		rm -f "$tmp"
	elif [ "${LATCHKEY_ONBOARD:-}" = yes ] ||
	    [ -e "${LATCHKEY_ONBOARD_FLAG:-/etc/latchkey/onboard-on-dhcp}" ]; then
		lk_start_onboard
	fi
	;;
deconfig|leasefail|nak)
	rm -f "$file"
	;;
esac
exit "$rc"

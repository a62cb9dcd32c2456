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
#   LATCHKEY_DHCP_CLIENT_ID=<option 61 data>    the client identifier udhcpc sent
#                                               (RFC 2132 §9.14, type octet first)
#   LATCHKEY_DHCP_DUID=<DUID>                   the DUID inside an RFC 4361 client-id
#                                               (type 255, IAID, DUID); absent otherwise
# which the agent decodes with dhcp-hook/dhcpopt.c (dhcpopt_hex_decode, then
# dhcpopt_sztp_decode / dhcpopt_vendor4_decode), and removes it on deconfig, leasefail and
# nak. The option bytes are untrusted hints: the agent trusts a registrar only through its
# voucher or an explicit pin. `latchkey enroll --dhcp-env FILE` reports CLIENT_ID and DUID
# to the registrar, so the Kea hook can put the device into its revoked class.
#
# udhcpc does not tell its script which client identifier it sent, so this script works it
# out the way busybox udhcpc (1.35) decides it, in this order:
#   1. $LATCHKEY_UDHCPC_CLIENT_ID in udhcpc's environment (which the script inherits):
#      the hex the caller passed with -x 0x3d:HEX, or "none" for -C without -x 0x3d;
#   2. udhcpc's own command line (/proc/$PPID/cmdline; the script is udhcpc's child):
#      the first -x 0x3d:HEX / -x 61:HEX (or --option) if any; else nothing when -C
#      (--clientid-none) was given; else udhcpc's default, 01 (Ethernet) + the interface's
#      MAC (/sys/class/net/<interface>/address);
#   3. when neither is available (the parent is not udhcpc): opt61, the server's echo of
#      the client identifier (RFC 6842; Kea echoes it by default).
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

# lk_norm_hex TEXT: TEXT as plain lower-case hex (':', '-' and blanks between octets
# dropped); fails unless that is 1..255 octets.
lk_norm_hex() {
	lk_n=$(printf '%s' "$1" | tr -d ': \t-' | tr 'A-F' 'a-f')
	lk_hex_ok "$lk_n" && [ -n "$lk_n" ] && printf '%s\n' "$lk_n"
}

# lk_cmdline_clientid PID: from udhcpc's argv (NUL-separated in /proc/PID/cmdline) print
# "x HEX" (the first -x 0x3d:/61: value), "C" (-C given, no -x 0x3d) or "default";
# fails when PID is not udhcpc. Short options may be clustered ("-fqCx0x3d:..").
lk_cmdline_clientid() {
	[ -r "/proc/$1/cmdline" ] || return 1
	tr '\000' '\n' <"/proc/$1/cmdline" | awk '
	    function num(s,   i, c, v, base, d) {	# strtoul(s, 0, 0); -1 if not a number
		base = 10; i = 1; v = 0
		if (s ~ /^0[xX]/) { base = 16; i = 3 } else if (s ~ /^0/) base = 8
		if (i > length(s)) return base == 8 ? 0 : -1
		for (; i <= length(s); i++) {
			c = tolower(substr(s, i, 1))
			d = index("0123456789abcdef", c) - 1
			if (d < 0 || d >= base) return -1
			v = v * base + d
		}
		return v
	    }
	    function xopt(v,   k) {			# one -x value
		k = index(v, ":")
		if (k > 1 && num(substr(v, 1, k - 1)) == 61 && cid == "")
			cid = substr(v, k + 1)
	    }
	    NR == 1 { n = split($0, a, "/")		# udhcpc, or busybox udhcpc
		      if (a[n] == "busybox") bb = 1; else if (a[n] != "udhcpc") bad = 1
		      next }
	    NR == 2 && bb { if ($0 != "udhcpc") bad = 1; next }
	    bad { exit }
	    want != "" { if (want == "x") xopt($0); want = ""; next }
	    ended { next }
	    $0 == "--" { ended = 1; next }
	    $0 == "--clientid-none" { C = 1; next }
	    $0 ~ /^--option=/ { xopt(substr($0, 10)); next }
	    $0 == "--option" { want = "x"; next }
	    $0 ~ /^--/ { if ($0 !~ /=/ && $0 ~ /^--(interface|pidfile|script|timeout|tryagain|retries|request|vendorclass|hostname|fqdn|request-option|option)$/) want = "o"
			 next }
	    $0 ~ /^-./ {
		for (i = 2; i <= length($0); i++) {
			c = substr($0, i, 1)
			if (c == "C") { C = 1; continue }
			if (c == "a") break		# -a[MSEC]: the rest is its argument
			if (index("ipstTArOxVFHhc", c)) {
				rest = substr($0, i + 1)
				if (rest == "") want = (c == "x" ? "x" : "o")
				else if (c == "x") xopt(rest)
				break
			}
		}
		next
	    }
	    END {
		if (bad || NR == 0) exit 1
		if (cid != "") print "x " cid
		else if (C) print "C"
		else print "default"
	    }'
}

# lk_client_id: print the client identifier udhcpc sent as plain hex (nothing: none).
lk_client_id() {
	case ${LATCHKEY_UDHCPC_CLIENT_ID:-} in
	none) return 0;;
	?*) lk_norm_hex "$LATCHKEY_UDHCPC_CLIENT_ID"; return;;
	esac
	if lk_how=$(lk_cmdline_clientid "$PPID") && [ -n "$lk_how" ]; then
		case $lk_how in
		"x "*) lk_norm_hex "${lk_how#x }";;
		C) ;;
		*)	lk_mac=$(cat "/sys/class/net/$iface/address" 2>/dev/null) &&
			    lk_mac=$(lk_norm_hex "$lk_mac") && [ "${#lk_mac}" -eq 12 ] &&
			    echo "01$lk_mac";;
		esac
		return 0
	fi
	[ -n "${opt61:-}" ] && lk_norm_hex "$opt61"
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
		if cid=$(lk_client_id) && [ -n "$cid" ]; then
			echo "LATCHKEY_DHCP_CLIENT_ID=$cid"
			# RFC 4361: type 255, 4-octet IAID, then the DUID (at least 2 octets).
			case $cid in
			ff????????????*) echo "LATCHKEY_DHCP_DUID=${cid#ff????????}";;
			esac
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

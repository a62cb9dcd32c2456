# dhcpcd-latchkey.sh: dhcpcd hook that hands latchkey's discovery options to the agent.
#
# Install as /usr/lib/dhcpcd/dhcpcd-hooks/70-latchkey (or /etc/dhcpcd.exit-hook):
# dhcpcd-run-hooks(8) sources it with $reason, $interface and new_<name> set, so there is no
# "exit" here. dhcpcd (Debian package dhcpcd-base, 9.x) passes an option to its hooks only
# under a name, so add these lines to /etc/dhcpcd.conf (RFC 8572 §8.1/§8.2 SZTP redirect;
# RFC 3925 V-I vendor option (v4) and RFC 8415 §21.17 vendor option (v6) carrying latchkey's
# sub-options, see dhcp-hook/README.md):
#
#   define 143 binhex sztp_redirect
#   define 125 binhex latchkey_vivso
#   define6 136 binhex sztp_redirect
#   define6 17 binhex latchkey_vendor
#   option sztp_redirect, latchkey_vivso
#   option dhcp6_sztp_redirect, dhcp6_latchkey_vendor
#
# The defines replace dhcpcd's own decoding of options 125 and 17 (vivso/vsio): the hooks
# then get the raw option data as hex. The "option" lines ask the server for them (Kea with
# liblatchkey_kea.so sends them anyway); DHCPv6 names take the dhcp6_ prefix there, and one
# "option" line must not mix the two families (dhcpcd 9.4 rejects the whole line). The hook
# variables are new_sztp_redirect, new_latchkey_vivso (DHCPv4) and new_dhcp6_sztp_redirect,
# new_dhcp6_latchkey_vendor (DHCPv6): the names the dhclient hook uses too.
#
# On BOUND, RENEW, REBIND, REBOOT, INFORM (and the *6 reasons) it writes
#   $LATCHKEY_RUN_DIR/dhcp-<interface>.env    (dhcp6-<interface>.env for DHCPv6;
#                                              default directory /run/latchkey)
# in the format of udhcpc-latchkey.sh (plain lower-case hex, two digits per octet):
#   LATCHKEY_DHCP_FAMILY=4|6
#   LATCHKEY_DHCP_IFACE=<interface>
#   LATCHKEY_DHCP_SERVER=<server identifier>    (DHCPv4, when dhcpcd reports one)
#   LATCHKEY_DHCP_SZTP=<option 143/136 data>     (absent when the server sent none)
#   LATCHKEY_DHCP_VENDOR=<option 125/17 data>    (absent when the server sent none)
#   LATCHKEY_DHCP_CLIENT_ID=<option 61 data>     (DHCPv4: the client identifier dhcpcd
#                                                 sent, RFC 2132 §9.14, type octet first)
#   LATCHKEY_DHCP_DUID=<DUID>                    (dhcpcd's DUID, RFC 8415 §11)
# and removes it when the lease goes away (EXPIRE, NAK, RELEASE, STOP, DEPARTED; EXPIRE6,
# RELEASE6, STOP6). The option bytes are untrusted hints: the agent trusts a registrar only
# through its voucher or an explicit pin. `latchkey enroll --dhcp-env FILE` reports
# CLIENT_ID and DUID to the registrar, so the Kea hook can put the device into its revoked
# class.
#
# Where the identifiers come from: dhcpcd hands its hooks the server's answer, not what it
# sent, and both protocols echo the client's identifier: new_dhcp_client_identifier is
# option 61 of the DHCPv4 ACK (RFC 6842: echoed unchanged; Kea does by default) and
# new_dhcp6_client_id option 1 of the DHCPv6 Reply (mandatory; dhcpcd drops a Reply whose
# client-id is not its own). With "duid" in dhcpcd.conf (Debian's default file has it)
# dhcpcd sends an RFC 4361 client-id, ff + IAID + DUID, and the DUID is the part after the
# IAID; without "duid" or "clientid" it sends no option 61. When no DUID is known that way
# it is read from dhcpcd's DUID file (/var/lib/dhcpcd/duid, or /etc/dhcpcd.duid of older
# versions; colon-separated hex, what `dhcpcd` logs as "DUID ..."), if there is one.

# shellcheck shell=sh disable=SC2154	# interface, reason, new_*: set by dhcpcd-run-hooks
lk_dir=${LATCHKEY_RUN_DIR:-/run/latchkey}

# lk_hex DATA: DATA as plain lower-case hex, two digits per octet, at most 255 octets (what
# fits one option). dhcpcd's binhex is plain hex; the colon form ("0:17:68", one or two
# digits per octet) is accepted too. Fails on anything else.
lk_hex() {
	printf '%s\n' "$1" | awk '
	    index($0, ":") {
		n = split($0, p, ":")
		out = ""
		for (i = 1; i <= n; i++) {
			if (p[i] !~ /^[0-9a-fA-F][0-9a-fA-F]?$/) exit 1
			out = out (length(p[i]) == 1 ? "0" : "") p[i]
		}
		$0 = out
	    }
	    { if ($0 !~ /^([0-9a-fA-F][0-9a-fA-F])+$/ || length($0) > 510) exit 1
	      print tolower($0) }'
}

# lk_duid_file: print dhcpcd's DUID from its DUID file as plain hex; fails if none.
lk_duid_file() {
	for lk_f in /var/lib/dhcpcd/duid /etc/dhcpcd.duid; do
		[ -r "$lk_f" ] || continue
		lk_d=$(sed -n '1{s/[[:space:]]//g;p;}' "$lk_f") &&
		    lk_d=$(lk_hex "$lk_d") && [ "${#lk_d}" -ge 4 ] && [ "${#lk_d}" -le 260 ] &&
		    printf '%s\n' "$lk_d" && return 0
	done
	return 1
}

# lk_write_env FAMILY FILE SERVER SZTP VENDOR CLIENTID: write FILE atomically (temp file +
# rename). CLIENTID: option 61 data (DHCPv4) or the DUID (DHCPv6), as dhcpcd passes it.
lk_write_env() {
	lk_tmp=$2.tmp.$$
	(
		umask 022
		mkdir -p "$lk_dir" || exit 1
		{
			echo "LATCHKEY_DHCP_FAMILY=$1"
			echo "LATCHKEY_DHCP_IFACE=$interface"
			case $3 in
			*[!0-9.]*|'') ;;
			*) echo "LATCHKEY_DHCP_SERVER=$3";;
			esac
			if [ -n "$4" ]; then
				if lk_h=$(lk_hex "$4"); then
					echo "LATCHKEY_DHCP_SZTP=$lk_h"
				else
					echo "dhcpcd-latchkey: ignoring malformed SZTP option" >&2
				fi
			fi
			if [ -n "$5" ]; then
				if lk_h=$(lk_hex "$5"); then
					echo "LATCHKEY_DHCP_VENDOR=$lk_h"
				else
					echo "dhcpcd-latchkey: ignoring malformed vendor option" >&2
				fi
			fi
			lk_duid=
			if [ -n "$6" ]; then
				if ! lk_h=$(lk_hex "$6"); then
					echo "dhcpcd-latchkey: ignoring malformed client identifier" >&2
				elif [ "$1" = 6 ]; then
					lk_duid=$lk_h
				else
					echo "LATCHKEY_DHCP_CLIENT_ID=$lk_h"
					# RFC 4361: type 255, 4-octet IAID, the DUID.
					case $lk_h in
					ff????????????*) lk_duid=${lk_h#ff????????};;
					esac
				fi
			fi
			[ -n "$lk_duid" ] || lk_duid=$(lk_duid_file) || lk_duid=
			[ -z "$lk_duid" ] || echo "LATCHKEY_DHCP_DUID=$lk_duid"
		} >"$lk_tmp" && mv -f "$lk_tmp" "$2"
	) || rm -f "$lk_tmp"
}

case ${interface:-} in
''|*[!A-Za-z0-9_.@-]*)
	;;
*)
	case ${reason:-} in
	BOUND|RENEW|REBIND|REBOOT|INFORM)
		lk_write_env 4 "$lk_dir/dhcp-$interface.env" \
		    "${new_dhcp_server_identifier:-}" "${new_sztp_redirect:-}" \
		    "${new_latchkey_vivso:-}" "${new_dhcp_client_identifier:-}";;
	BOUND6|RENEW6|REBIND6|REBOOT6|INFORM6)
		lk_write_env 6 "$lk_dir/dhcp6-$interface.env" "" \
		    "${new_dhcp6_sztp_redirect:-}" "${new_dhcp6_latchkey_vendor:-}" \
		    "${new_dhcp6_client_id:-}";;
	EXPIRE|NAK|RELEASE|STOP)
		rm -f "$lk_dir/dhcp-$interface.env";;
	EXPIRE6|RELEASE6|STOP6)
		rm -f "$lk_dir/dhcp6-$interface.env";;
	DEPARTED)
		rm -f "$lk_dir/dhcp-$interface.env" "$lk_dir/dhcp6-$interface.env";;
	esac;;
esac

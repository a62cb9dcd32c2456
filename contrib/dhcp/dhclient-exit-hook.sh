# dhclient-exit-hook.sh: ISC dhclient exit hook that hands latchkey's discovery options to
# the agent. Install as /etc/dhcp/dhclient-exit-hooks.d/latchkey (dhclient-script sources
# it: no "exit" here) and add contrib/dhcp/dhclient-latchkey.conf to dhclient.conf, which
# names the options so dhclient passes them on:
#   DHCPv4: new_sztp_redirect (option 143), new_latchkey_vivso (option 125)
#   DHCPv6: new_dhcp6_sztp_redirect (option 136), new_dhcp6_latchkey_vendor (option 17)
# dhclient prints them as colon-separated hex with one or two digits per octet
# ("0:17:68:..."). This hook writes $LATCHKEY_RUN_DIR/dhcp-<interface>.env (default
# /run/latchkey; dhcp6-<interface>.env for DHCPv6) in the same format as
# udhcpc-latchkey.sh (plain lower-case hex, two digits per octet):
#   LATCHKEY_DHCP_FAMILY=4|6, LATCHKEY_DHCP_IFACE, LATCHKEY_DHCP_SZTP, LATCHKEY_DHCP_VENDOR,
#   LATCHKEY_DHCP_CLIENT_ID=<option 61 data>  (DHCPv4: the client identifier dhclient sent,
#                                             RFC 2132 §9.14, type octet first)
#   LATCHKEY_DHCP_DUID=<DUID>                 (DHCPv6: dhclient's DUID, option 1 data;
#                                             DHCPv4: the DUID inside an RFC 4361 client-id)
# and removes it when the lease goes away. `latchkey enroll --dhcp-env FILE` reports
# CLIENT_ID and DUID to the registrar, so the Kea hook can put the device into its revoked
# class.
#
# dhclient does not hand its scripts the options it sent, only the server's answer, so the
# identifiers come from the server's echo of them: option 61 in the DHCPv4 ACK
# (new_dhcp_client_identifier; RFC 6842 servers echo it unchanged, Kea by default) and
# option 1 in the DHCPv6 Reply (new_dhcp6_client_id; mandatory, and dhclient drops a Reply
# whose client-id is not its own). dhclient 4.4 sends option 61 only when told to: with -i
# (as Debian's ifupdown runs it) an RFC 4361 client-id, ff + IAID + the DUID it keeps as
# default-duid in its lease file, or what `send dhcp-client-identifier` in dhclient.conf
# says; otherwise none, and the DHCPv4 env file has neither key. A DHCPv4 server that does
# not echo option 61 leaves both keys out too.

# shellcheck disable=SC2154	# interface, reason, new_*: set by dhclient-script
lk_dir=${LATCHKEY_RUN_DIR:-/run/latchkey}

# lk_plain_hex "0:17:68": "001768"; fails on anything else.
lk_plain_hex() {
	printf '%s\n' "$1" | awk -F: '
	    NF < 1 || NF > 2048 { exit 1 }
	    { for (i = 1; i <= NF; i++) {
		if ($i !~ /^[0-9a-fA-F][0-9a-fA-F]?$/) exit 1
		out = out (length($i) == 1 ? "0" : "") tolower($i)
	      }
	      print out }'
}

lk_write_env() {
	# $1 family, $2 file, $3 sztp (dhclient hex), $4 vendor (dhclient hex),
	# $5 client identifier (dhclient hex: option 61 data, or the DHCPv6 DUID)
	lk_tmp=$2.tmp.$$
	(
		umask 022
		mkdir -p "$lk_dir" || exit 1
		{
			echo "LATCHKEY_DHCP_FAMILY=$1"
			echo "LATCHKEY_DHCP_IFACE=$interface"
			if [ -n "$3" ]; then
				if h=$(lk_plain_hex "$3"); then
					echo "LATCHKEY_DHCP_SZTP=$h"
				else
					echo "latchkey hook: ignoring malformed SZTP option" >&2
				fi
			fi
			if [ -n "$4" ]; then
				if h=$(lk_plain_hex "$4"); then
					echo "LATCHKEY_DHCP_VENDOR=$h"
				else
					echo "latchkey hook: ignoring malformed vendor option" >&2
				fi
			fi
			if [ -n "$5" ]; then
				if ! h=$(lk_plain_hex "$5"); then
					echo "latchkey hook: ignoring malformed client identifier" >&2
				elif [ "$1" = 6 ]; then
					echo "LATCHKEY_DHCP_DUID=$h"
				else
					echo "LATCHKEY_DHCP_CLIENT_ID=$h"
					# RFC 4361: type 255, 4-octet IAID, the DUID.
					case $h in
					ff????????????*)
						echo "LATCHKEY_DHCP_DUID=${h#ff????????}";;
					esac
				fi
			fi
		} >"$lk_tmp" && mv -f "$lk_tmp" "$2"
	) || rm -f "$lk_tmp"
}

case ${interface:-} in
''|*[!A-Za-z0-9_.@-]*)
	;;
*)
	case ${reason:-} in
	BOUND|RENEW|REBIND|REBOOT)
		lk_write_env 4 "$lk_dir/dhcp-$interface.env" "${new_sztp_redirect:-}" \
		    "${new_latchkey_vivso:-}" "${new_dhcp_client_identifier:-}";;
	BOUND6|RENEW6|REBIND6|REBOOT6)
		lk_write_env 6 "$lk_dir/dhcp6-$interface.env" \
		    "${new_dhcp6_sztp_redirect:-}" "${new_dhcp6_latchkey_vendor:-}" \
		    "${new_dhcp6_client_id:-}";;
	EXPIRE|FAIL|RELEASE|STOP)
		rm -f "$lk_dir/dhcp-$interface.env";;
	EXPIRE6|RELEASE6|STOP6)
		rm -f "$lk_dir/dhcp6-$interface.env";;
	esac;;
esac

#!/bin/bash
# tests/net/netid-clients: the client identifiers and DUIDs that contrib/dhcp's scripts write
# for a real udhcpc, dhclient and dhcpcd, reported by `latchkey enroll --dhcp-env` and
# matched by liblatchkey_kea.so's revoked class.
#
#   server: bridge br0 10.207.0.1/24, kea-dhcp4 + liblatchkey_kea.so reading the registry
#           (pool .100-.150 for class latchkey-ok, .240-.250 for latchkey-revoked; leases
#           persisted to a CSV file), latchkeyd on 10.207.0.1:8443
#   u: busybox udhcpc  -s contrib/dhcp/udhcpc-latchkey.sh   (default client-id 01 + MAC)
#   c: ISC dhclient    -sf wrapper sourcing contrib/dhcp/dhclient-exit-hook.sh, the lines
#                      of contrib/dhcp/dhclient-latchkey.conf, -i as ifupdown runs it
#                      (RFC 4361 client-id ff + IAID + DUID)
#   p: dhcpcd          -c wrapper sourcing contrib/dhcp/dhcpcd-latchkey.sh, "duid" and the
#                      dhcpcd.conf lines of its header (RFC 4361 client-id)
#
# Shows, per client: it gets a lease from the normal pool; its script writes the env file
# with LATCHKEY_DHCP_CLIENT_ID equal to the option 61 Kea received (Kea's lease file) and,
# for RFC 4361 client-ids, LATCHKEY_DHCP_DUID equal to the DUID part (and to the DUID dhcpcd
# logs); `latchkey enroll --dhcp-env FILE` (no --netid-if: the MAC is never reported)
# stores exactly those in the registry's netids table; after `latchkeyctl revoke` the hook
# reloads, and the client's next exchange is classified into latchkey-revoked by its client
# identifier (Kea's log) and gets a quarantine address. Then dhcpcd -6 on p against a
# kea-dhcp6 with the hook (server also fd00:207::1/64): its DHCPv6 env file holds the DUID
# reported with the DHCPv4 lease, and kea-dhcp6 classifies it by that DUID into the
# quarantine pool. Checks: tests/net/netid-clients/checks (sections leases, enrolled,
# revoked, revoked6).
# Exit 0 pass, 77 skip, 1 fail. Needs root.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
HERE=$LK_TOP/tests/net/netid-clients
CONTRIB=$LK_TOP/contrib/dhcp
. "$LK_TOP/tests/net/lib.sh"

HOOK=${LK_HOOK:-$LK_BIN/liblatchkey_kea.so}
[ -f "$HOOK" ] || tb_skip "$HOOK is not built (make $HOOK)"
for p in latchkey latchkeyd latchkeyctl; do
	[ -x "$LK_BIN/$p" ] || tb_skip "$LK_BIN/$p is not built"
done
tb_init
tb_require kea-dhcp4 udhcpc dhclient dhcpcd jq sqlite3 awk
T0=$SECONDS

# ---- topology ----------------------------------------------------------------------------
tb_ns_add server
SNS=$(tb_ns server)
ip -n "$SNS" link add br0 type bridge || tb_fail "cannot create br0"
ip -n "$SNS" addr add 10.207.0.1/24 dev br0 || tb_fail "cannot address br0"
ip -n "$SNS" link set br0 up || tb_fail "cannot bring up br0"
tb_exec server sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 ||
    tb_fail "cannot disable DAD in the server"
ip -n "$SNS" addr add fd00:207::1/64 dev br0 nodad || tb_fail "cannot add br0's IPv6 address"
for dev in u c p; do
	tb_ns_add "$dev"
	tb_exec "$dev" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
	    net.ipv6.conf.default.accept_dad=0 || tb_fail "cannot disable DAD in $dev"
	tb_link server - "$dev" -
	ip -n "$SNS" link set "$TB_LINK_A" master br0 || tb_fail "cannot bridge $dev"
done
S=$TB_DIR/server U=$TB_DIR/u C=$TB_DIR/c P=$TB_DIR/p
UIF=$(tb_if u) CIF=$(tb_if c) PIF=$(tb_if p)
macof() { ip -n "$(tb_ns "$1")" -o link show "$2" |
    sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
MAC_U=$(macof u "$UIF") MAC_C=$(macof c "$CIF") MAC_P=$(macof p "$PIF")
MACHEX_U=$(printf '%s' "$MAC_U" | tr -d :)
[ "${#MACHEX_U}" = 12 ] || tb_fail "cannot read u's MAC address"
ENV_U=$U/run-latchkey/dhcp-$UIF.env
ENV_C=$C/run-latchkey/dhcp-$CIF.env
ENV_P=$P/run-latchkey/dhcp-$PIF.env
ENV6_P=$P/run-latchkey/dhcp6-$PIF.env
mkdir -p "$U/run-latchkey" "$C/run-latchkey" "$P/run-latchkey" "$C/dhclient" "$P/var-dhcpcd"

# ---- the domain: lab PKI, registry (three claimed devices), registrar --------------------
"$LK_BIN/latchkeyctl" lab-pki --out "$S/lab" --devices 3 --json >"$S/lab.json" ||
    tb_fail "latchkeyctl lab-pki failed"
"$LK_BIN/latchkeyctl" init --domain netid.test --dir "$S/reg" \
    --manufacturer-ca "$S/lab/manufacturer-ca.pem" --listen 10.207.0.1:8443 >"$S/init.log" ||
    tb_fail "latchkeyctl init failed"
DB=$S/reg/registry.db
SER_U=$(jq -r '.devices[0].serial' "$S/lab.json")
SER_C=$(jq -r '.devices[1].serial' "$S/lab.json")
SER_P=$(jq -r '.devices[2].serial' "$S/lab.json")
for s in "$SER_U" "$SER_C" "$SER_P"; do
	"$LK_BIN/latchkeyctl" --db "$DB" claim "$s" >/dev/null || tb_fail "claim $s failed"
done
tb_bg server latchkeyd "$LK_BIN/latchkeyd" -d -f "$S/reg/latchkeyd.conf"

# kea-dhcp4 with the hook reading the registry (-t first, then started; pid and lock files
# in the server's directory).
tb_render "$HERE/kea-dhcp4.conf.in" "$S/kea4.conf" server HOOK="$HOOK" REGISTRY="$DB"
mkdir -p "$S/kea"
tb_exec server env KEA_PIDFILE_DIR="$S/kea" KEA_LOCKFILE_DIR="$S/kea" kea-dhcp4 \
    -t "$S/kea4.conf" >"$S/kea4-check.log" 2>&1 || tb_fail "kea-dhcp4 -t rejected $S/kea4.conf"
tb_bg server kea4 env KEA_PIDFILE_DIR="$S/kea" KEA_LOCKFILE_DIR="$S/kea" kea-dhcp4 \
    -c "$S/kea4.conf"
tb_wait_log server kea4 'DHCP4_STARTED'
tb_wait_log server kea4 'LATCHKEY_REVOKED_LOADED .* 0 revoked network identifier'
tb_wait_for "latchkeyd listening" 10 tb_exec server bash -c \
    "exec 3<>/dev/tcp/10.207.0.1/8443"

# Names the checks file uses, and two helpers for it (exported functions reach bash -c).
export S U C P DB UIF CIF PIF MAC_U MAC_C MAC_P MACHEX_U ENV_U ENV_C ENV_P ENV6_P
export SER_U SER_C SER_P
# envkey FILE KEY: the value of KEY in env file FILE.
envkey() { sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -1; }
# keacid MAC: the client identifier (plain hex) of the newest lease Kea wrote for MAC.
keacid() { awk -F, -v m="$1" '$2 == m { c = $3 } END { gsub(":", "", c); print c }' \
    "$S/kea-leases4.csv"; }
# colons HEX: "01:aa:..." (how Kea prints identifiers in its log).
colons() { printf '%s\n' "$1" | sed 's/../&:/g; s/:$//'; }
# dhclient_duid LEASEFILE: dhclient's default-duid ("\000\001..." octal escapes) as hex.
dhclient_duid() {
	local s i=0 c h out=""
	s=$(sed -n 's/^default-duid "\(.*\)";$/\1/p' "$1" 2>/dev/null | head -1)
	while [ "$i" -lt "${#s}" ]; do
		c=${s:i:1}
		if [ "$c" = '\' ]; then
			if [[ ${s:i+1:3} =~ ^[0-7]{3}$ ]]; then
				printf -v h '%02x' $((8#${s:i+1:3}))
				out+=$h
				i=$((i + 4))
				continue
			fi
			i=$((i + 1))
			c=${s:i:1}
		fi
		printf -v h '%02x' "'$c"
		out+=$h
		i=$((i + 1))
	done
	printf '%s\n' "$out"
}
# regid SERIAL KIND: the identifier of KIND the registry holds for SERIAL.
regid() { sqlite3 -readonly "$DB" \
    "SELECT value FROM netids WHERE serial = '$1' AND kind = '$2'"; }
# since_revoke: Kea's log after the revocations were loaded ($KEA_LINES lines before).
since_revoke() { tail -n "+$((KEA_LINES + 1))" "$S/kea4.log"; }
export -f envkey keacid colons dhclient_duid regid since_revoke

# ---- the three clients -----------------------------------------------------------------
# u: udhcpc runs the contrib script itself; the script chains to one that sets the address
# (needed to reach the registrar) and keeps each event's environment.
cat >"$U/chain.sh" <<EOF
#!/bin/sh
env | sort >"$U/udhcpc.\$1"
if [ "\$1" = bound ]; then
	ip addr flush dev "\$interface"
	ip addr add "\$ip/\${mask:-24}" dev "\$interface"
fi
exit 0
EOF
chmod 0755 "$U/chain.sh"
tb_env u LATCHKEY_RUN_DIR="$U/run-latchkey" LATCHKEY_UDHCPC_CHAIN="$U/chain.sh" \
    LATCHKEY_ONBOARD_FLAG="$U/no-onboard-flag"
udhcpc_run() {	# one DORA, udhcpc exits once bound (-q); no release, so the env file stays
	tb_exec u timeout 20 udhcpc -f -q -n -i "$UIF" -s "$CONTRIB/udhcpc-latchkey.sh" \
	    -t 5 -T 1 >>"$U/udhcpc.out" 2>&1
}

# c: dhclient (foreground) with the contrib dhclient.conf lines and the options Debian's
# ifupdown gives it (-i: an RFC 4361 client-id from its DUID; -I, -df); its script sets the
# address and then sources the hook as Debian's dhclient-script sources its exit hooks.
cp "$CONTRIB/dhclient-latchkey.conf" "$C/dhclient.conf"
cat >"$C/dhclient-script" <<EOF
#!/bin/sh
env | sort >"$C/dhclient.\$reason"
case \$reason in
BOUND|RENEW|REBIND|REBOOT)
	ip addr flush dev "\$interface"
	ip addr add "\$new_ip_address/24" dev "\$interface";;
EXPIRE|FAIL|RELEASE|STOP)
	ip addr flush dev "\$interface";;
esac
LATCHKEY_RUN_DIR=$C/run-latchkey
. "$CONTRIB/dhclient-exit-hook.sh"
exit 0
EOF
chmod 0755 "$C/dhclient-script"
dhclient_start() {	# dhclient_start NAME
	tb_bg c "$1" dhclient -4 -d -v -i -I -df "$C/dhclient/leases6" \
	    -cf "$C/dhclient.conf" -lf "$C/dhclient/leases" -pf "$C/dhclient/pid" \
	    -sf "$C/dhclient-script" "$CIF"
}

# p: dhcpcd with the dhcpcd.conf lines of the hook's header, "duid" (Debian's default
# dhcpcd.conf has it: an RFC 4361 client-id) and test-bed settings; /run and
# /var/lib/dhcpcd are private bind mounts, so its DUID file stays in $P/var-dhcpcd.
{
	echo "# latchkey test bed: dhcpcd for device p"
	sed -n 's/^#   \(define6\{0,1\} .*\|option .*sztp_redirect.*\)$/\1/p' \
	    "$CONTRIB/dhcpcd-latchkey.sh"
	printf '%s\n' duid noipv4ll noarp nodelay "timeout 15"
} >"$P/dhcpcd.conf"
grep -q '^define 143 binhex sztp_redirect$' "$P/dhcpcd.conf" ||
    tb_fail "cannot find the dhcpcd.conf lines in the hook's header"
cat >"$P/dhcpcd-script" <<EOF
#!/bin/sh
env | sort >"$P/dhcpcd.\$reason"
LATCHKEY_RUN_DIR=$P/run-latchkey
. "$CONTRIB/dhcpcd-latchkey.sh"
exit 0
EOF
chmod 0755 "$P/dhcpcd-script"
dhcpcd_start() {	# dhcpcd_start NAME 4|6 (DHCPv6: stateful, no router solicitation)
	local extra=""
	[ "$2" = 6 ] && extra="noipv6rs
ia_na 1"
	printf '%s\n' "$extra" | cat "$P/dhcpcd.conf" - >"$P/dhcpcd$2.conf"
	tb_bg p "$1" sh -c 'mount --bind "$1" /run && mount --bind "$2" /var/lib/dhcpcd &&
	    exec dhcpcd -B -"$3" -f "$4" -c "$5" "$6"' sh "$P/run" "$P/var-dhcpcd" "$2" \
	    "$P/dhcpcd$2.conf" "$P/dhcpcd-script" "$PIF"
}

# ---- 1. leases: each script writes the identifiers its client sent ----------------------
udhcpc_run
dhclient_start dhclient1
dhcpcd_start dhcpcd1 4
tb_check_phase leases 20

# ---- 2. enrollment reports them (env file only, never the MAC) --------------------------
enroll() {	# enroll HOST IDX ENVFILE
	local d=$TB_DIR/$1
	tb_exec "$1" "$LK_BIN/latchkey" enroll --server https://10.207.0.1:8443 \
	    --idevid "$(jq -r ".devices[$2].cert" "$S/lab.json")" \
	    --idevid-key "$(jq -r ".devices[$2].key" "$S/lab.json")" \
	    --ca "$S/reg/domain-ca.pem" --out "$d/ldevid" --dhcp-env "$3" >"$d/enroll.out" 2>&1
}
enroll u 0 "$ENV_U"
enroll c 1 "$ENV_C"
enroll p 2 "$ENV_P"
tb_check_phase enrolled

# ---- 3. revoke all three; the hook reloads; each client's next exchange -----------------
for s in "$SER_U" "$SER_C" "$SER_P"; do
	"$LK_BIN/latchkeyctl" --db "$DB" revoke "$s" --reason keyCompromise \
	    >>"$S/revoke.log" 2>&1 || tb_fail "latchkeyctl revoke $s failed: $(tail -1 "$S/revoke.log")"
done
# u: 1 client-id; c, p: a client-id and a DUID each.
tb_wait_log server kea4 'LATCHKEY_REVOKED_LOADED .* 5 revoked network identifier' 10
KEA_LINES=$(wc -l <"$S/kea4.log")
export KEA_LINES
udhcpc_run
tb_stop c dhclient1
dhclient_start dhclient2
tb_stop p dhcpcd1
dhcpcd_start dhcpcd2 4
tb_check_phase revoked 20

# ---- 4. DHCPv6: dhcpcd's DUID, reported with its DHCPv4 lease, matches in kea-dhcp6 -------
tb_stop p dhcpcd2
tb_render "$HERE/kea-dhcp6.conf.in" "$S/kea6.conf" server HOOK="$HOOK" REGISTRY="$DB"
mkdir -p "$S/kea6"
tb_exec server env KEA_PIDFILE_DIR="$S/kea6" KEA_LOCKFILE_DIR="$S/kea6" kea-dhcp6 \
    -t "$S/kea6.conf" >"$S/kea6-check.log" 2>&1 || tb_fail "kea-dhcp6 -t rejected $S/kea6.conf"
# Kea binds its DHCPv6 sockets once, at start: the addresses must be past DAD (not
# tentative) by then, or it never listens on br0.
tb_wait_for "br0 link-local address past DAD" 20 \
    tb_sh server "ip -6 addr show dev br0 scope link | grep -q fe80 &&
	! ip -6 addr show dev br0 tentative | grep -q inet6"
tb_wait_for "p's link-local address past DAD" 20 \
    tb_sh p "ip -6 addr show dev $PIF scope link | grep -q fe80 &&
	! ip -6 addr show dev $PIF tentative | grep -q inet6"
tb_bg server kea6 env KEA_PIDFILE_DIR="$S/kea6" KEA_LOCKFILE_DIR="$S/kea6" kea-dhcp6 \
    -c "$S/kea6.conf"
tb_wait_log server kea6 'DHCP6_STARTED'
tb_wait_log server kea6 'LATCHKEY_REVOKED_LOADED .* 5 revoked network identifier'
dhcpcd_start dhcpcd6 6
tb_check_phase revoked6 20

tb_log "scenario took $((SECONDS - T0)) s"
tb_done

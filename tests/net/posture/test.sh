#!/bin/bash
# tests/net/posture: posture reports (issue #20) with a real registrar, a real kea-dhcp4
# with liblatchkey_kea.so, real DHCP clients and real avahi-daemons.
#
#   server (bridge br0 10.207.0.1/24): kea-dhcp4 + hook (vendor option: posture URI),
#          latchkeyd with posture-policy and mdns = yes, posture-url (announces
#          _latchkey-posture._tcp), avahi-daemon
#   d (DHCP): udhcpc with contrib's udhcpc script (env file only, no onboarding)
#   m (mDNS): 10.207.0.200, avahi-daemon, no DHCP at all
#
# Shows:
#   1. d gets a lease from the normal pool with the vendor option, enrolls and reports its
#      MAC; `latchkey report` finds the posture server in the DHCP env file, reports a
#      fake dpkg status with a forbidden package: noncompliant (exit 3, the reasons);
#   2. d's next DISCOVER, sent 0.8 s after the report returned, lands in the quarantine
#      pool (class latchkey-noncompliant; Kea not restarted);
#   3. d reports compliant; its next DISCOVER, 0.8 s later, is back in the normal pool;
#   4. m, with no DHCP, finds the posture server over mDNS and reports compliant;
#   5. m's binding is revoked: its report is refused (403 with the reason, exit 4).
# Exit 0 pass, 77 skip, 1 fail. Needs root.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
HERE=$LK_TOP/tests/net/posture
. "$LK_TOP/tests/net/lib.sh"

HOOK=${LK_HOOK:-$LK_BIN/liblatchkey_kea.so}
[ -f "$HOOK" ] || tb_skip "$HOOK is not built (make $HOOK)"
for p in latchkey latchkeyd latchkeyctl; do
	[ -x "$LK_BIN/$p" ] || tb_skip "$LK_BIN/$p is not built"
done
tb_init
tb_require kea-dhcp4 udhcpc jq sqlite3 bc avahi-daemon dbus-daemon
export PATH=$LK_BIN:$PATH

SUBNET=10.207.0
SIP=$SUBNET.1
tb_ns_add server
S=$(tb_hostdir server)
ns=$(tb_ns server)
ip -n "$ns" link add br0 type bridge || tb_fail "cannot create br0"
ip -n "$ns" addr add "$SIP/24" dev br0 || tb_fail "cannot address br0"
ip -n "$ns" link set br0 up || tb_fail "cannot bring up br0"
tb_ns_add d
tb_link server - d -
ip -n "$ns" link set "$TB_LINK_A" master br0 || tb_fail "cannot bridge d"
tb_ns_add m
tb_link server - m "$SUBNET.200/24"
ip -n "$ns" link set "$TB_LINK_A" master br0 || tb_fail "cannot bridge m"
D=$(tb_hostdir d)
M=$(tb_hostdir m)
DIF=$(tb_if d)
MAC=$(ip -n "$(tb_ns d)" -o link show "$DIF" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
MACHEX=$(printf '%s' "$MAC" | tr -d :)
[ "${#MACHEX}" = 12 ] || tb_fail "cannot read d's MAC address"

# The domain: lab PKI, registry, policy, registrar on br0's address.
latchkeyctl lab-pki --out "$S/lab" --devices 2 --json >"$S/lab.json" ||
    tb_fail "latchkeyctl lab-pki failed"
latchkeyctl init --domain posture.test --dir "$S/reg" \
    --manufacturer-ca "$S/lab/manufacturer-ca.pem" --listen "$SIP:8443" >"$S/init.log" ||
    tb_fail "latchkeyctl init failed"
SD=$(jq -r '.devices[0].serial' "$S/lab.json")
SM=$(jq -r '.devices[1].serial' "$S/lab.json")
DB=$S/reg/registry.db
latchkeyctl --db "$DB" claim "$SD" "$SM" >/dev/null || tb_fail "claim failed"
cat >"$S/policy.json" <<'P'
{"required": [{"name": "openssl", "min-version": "3.0.11-1~deb12u1"}], "forbidden": ["telnetd"]}
P
cat >>"$S/reg/latchkeyd.conf" <<EOC
posture-policy = $S/policy.json
mdns = yes
mdns-name = latchkey posture $TB_ID
posture-url = https://$SIP:8443/.well-known/latchkey/posture
EOC
stanza() {	# stanza NAME VERSION
	printf 'Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n' "$1" "$2"
}
{ stanza openssl 3.0.11-1~deb12u2; stanza telnetd 0.17-44; } >"$S/status.bad"
{ stanza openssl 3.0.11-1~deb12u2; stanza libc6 2.36-9; } >"$S/status.good"

TB_IFS[server]="${TB_IFS[server]} br0"	# avahi on the bridge (its ports have no address)
TB_AVAHI_IPV6=no tb_avahi_start server m
tb_render "$HERE/kea-dhcp4.conf.in" "$S/kea4.conf.in" server HOOK="$HOOK" REGISTRY="$DB" \
    SUBNET="$SUBNET" SERVER_IP="$SIP"
tb_kea4_start server "$S/kea4.conf.in"
tb_wait_log server kea4 'LATCHKEY_NONCOMPLIANT_LOADED .* 0 noncompliant network identifier'
KEAPID=$(tb_pid server kea4)
tb_bg server latchkeyd latchkeyd -d -v -f "$S/reg/latchkeyd.conf"
tb_wait_log server latchkeyd "mdns: announced as"
export S D M DB SD SM MACHEX KEAPID SIP

# d's DHCP client: contrib's udhcpc script writes the env file (no onboarding), the chained
# script configures the address.
cat >"$D/ifconfig.sh" <<'EOS'
#!/bin/sh
case $1 in
deconfig) ip addr flush dev "$interface" ;;
bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/${mask:-24}" dev "$interface" ;;
esac
exit 0
EOS
# -R releases the lease at exit (each DORA is judged afresh); the address and the env file
# stay, so the device can still reach the servers and find them.
cat >"$D/udhcpc.sh" <<EOS
#!/bin/sh
env | sort >"$D/udhcpc.\$1"
case "\$1" in deconfig|leasefail|nak) exit 0;; esac
LATCHKEY_RUN_DIR=$D/run-latchkey LATCHKEY_UDHCPC_CHAIN=$D/ifconfig.sh LATCHKEY_ONBOARD=no \\
    exec sh "$LK_TOP/contrib/dhcp/udhcpc-latchkey.sh" "\$@"
EOS
chmod 0755 "$D/ifconfig.sh" "$D/udhcpc.sh"
mkdir -p "$D/run-latchkey"
ENV=$D/run-latchkey/dhcp-$DIF.env
export ENV
dhcp() {	# dhcp NAME: one DORA; the bound environment in $D/NAME.bound
	rm -f "$D/udhcpc.bound"
	tb_exec d timeout 15 udhcpc -f -q -n -R -i "$DIF" -O 143 -O 125 \
	    -s "$D/udhcpc.sh" -t 5 -T 1 >"$D/$1.out" 2>&1
	cp "$D/udhcpc.bound" "$D/$1.bound" 2>/dev/null || : >"$D/$1.bound"
}
report() {	# report HOST NAME STATUS [args]: exit status in HOST/NAME.rc
	local h=$1 name=$2 st=$3 dir
	shift 3
	dir=$(tb_hostdir "$h")
	tb_exec "$h" latchkey report -v --state-dir "$dir/ldevid" --dpkg-status "$st" "$@" \
	    >"$dir/$name.out" 2>"$dir/$name.err"
	echo $? >"$dir/$name.rc"
}

# ---- 1. d: lease, enrollment, report found by DHCP: noncompliant ------------------------
dhcp first
tb_check_phase first
tb_exec d latchkey enroll --server "https://$SIP:8443" --idevid "$(jq -r '.devices[0].cert' "$S/lab.json")" \
    --idevid-key "$(jq -r '.devices[0].key' "$S/lab.json")" --ca "$S/reg/domain-ca.pem" \
    --out "$D/ldevid" --netid-if "$DIF" >"$D/enroll.out" 2>&1
report d bad "$S/status.bad" --dhcp-env "$ENV" --no-mdns
T0=$(date +%s.%N)

# ---- 2. quarantine: the next DISCOVER, 0.8 s after the verdict --------------------------
# Part of the scenario, not a wait for anything: the claim is that a DISCOVER sent 0.8 s
# after the report was answered is already classified, with no signal to Kea.
sleep 0.8
T1=$(date +%s.%N)
dhcp quarantined
tb_log "DISCOVER sent $(echo "$T1 - $T0" | bc) s after the noncompliant verdict"
[ "$(echo "$T1 - $T0 < 1" | bc)" = 1 ] || tb_fail "the DISCOVER was not sent within 1 s"
tb_check_phase noncompliant
tb_check_phase quarantined

# ---- 3. compliant again: released ------------------------------------------------------
report d good "$S/status.good" --dhcp-env "$ENV" --no-mdns
T0=$(date +%s.%N)
sleep 0.8
T1=$(date +%s.%N)
dhcp released
tb_log "DISCOVER sent $(echo "$T1 - $T0" | bc) s after the compliant verdict"
[ "$(echo "$T1 - $T0 < 1" | bc)" = 1 ] || tb_fail "the DISCOVER was not sent within 1 s"
tb_check_phase released

# ---- 4. m: no DHCP, the posture server found over mDNS ----------------------------------
tb_exec m latchkey enroll --server "https://$SIP:8443" --idevid "$(jq -r '.devices[1].cert' "$S/lab.json")" \
    --idevid-key "$(jq -r '.devices[1].key' "$S/lab.json")" --ca "$S/reg/domain-ca.pem" \
    --out "$M/ldevid" >"$M/enroll.out" 2>&1
# no DHCP env file exists on m (the named one is absent): discovery falls back to mDNS
report m mdns "$S/status.good" --dhcp-env "$M/no-dhcp.env"
tb_check_phase mdns

# ---- 5. revoked: refused ---------------------------------------------------------------
latchkeyctl --db "$DB" revoke "$SM" --reason cessationOfOperation >"$S/revoke.log" 2>&1 ||
    tb_fail "latchkeyctl revoke failed: $(cat "$S/revoke.log")"
report m revoked "$S/status.good" --posture-url "https://$SIP:8443"
tb_check_phase revoked

tb_done

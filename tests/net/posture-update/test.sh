#!/bin/bash
# tests/net/posture-update: after zero-touch onboarding, posture and verified updates
# together (issue #20), with real kea-dhcp4 + liblatchkey_kea.so, udhcpc, avahi-daemon and
# latchkeyd (MASA; registrar with posture-policy and update-dir), in namespaces.
#
#   server: bridge br0 10.208.0.1/24; kea-dhcp4 (option 143 = the registrar; vendor option
#           = the posture and the update server; a quarantine pool for the class
#           latchkey-noncompliant); the registrar announces both servers over mDNS
#   d: udhcpc, whose hook onboards the device (the servers from DHCP)
#   m: no DHCP at all: onboards over mDNS (the servers from _latchkey-posture._tcp and
#      _latchkey-update._tcp)
#
# Shows, in this order:
#   1. both devices onboard; the report onboarding sends once BOUND lists fw-core 1.0-1,
#      and the policy wants fw-core >= 2.0-1: noncompliant, with the reason;
#   2. d's next DISCOVER gets an address from the quarantine pool;
#   3. each runs `latchkey update` with no URL (the one its discovery stored): fw-core
#      2.0-1, signed by the domain's update signer, verifies and is installed (the install
#      command updates the device's package list); each reports again: compliant;
#   4. d's next DISCOVER is back in the normal pool;
#   5. refused, each with its reason, nothing installed: a tampered payload, an unsigned
#      manifest, a manifest signed by another domain, an expired one, a downgrade, and one
#      signed by the update signer after its revocation;
#   6. m's binding is revoked: its report is refused (403, exit 4), nothing stored.
# Exit 0 pass, 77 skip, 1 fail. Needs root.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
. "$LK_TOP/tests/net/lib.sh"
OB_SUBNET=10.208.0
. "$LK_TOP/tests/net/onboard/common.sh"
OB_HERE=$LK_TOP/tests/net/posture-update	# our kea-dhcp4.conf.in
tb_init
ob_require
tb_require avahi-daemon dbus-daemon bc
export PATH=$LK_BIN:$PATH
T0=$SECONDS

# stanza NAME VERSION: one package of a dpkg status file
stanza() { printf 'Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n' "$1" "$2"; }

ob_setup 2
# ob_setup's policy (posture-policy in latchkeyd.conf), made stricter
cat >"$OB_S/posture-policy.json" <<'P'
{"required": [{"name": "fw-core", "min-version": "2.0-1"}], "forbidden": ["telnetd"]}
P
echo "posture-url = $OB_URL/.well-known/latchkey/posture" >>"$OB_S/reg/latchkeyd.conf"
ob_update_server
# another domain's update signer (for the refusal)
latchkeyctl init --domain other.test --dir "$OB_S/reg2" \
    --manufacturer-ca "$OB_S/lab/manufacturer-ca.pem" --listen 127.0.0.1:1 >/dev/null ||
    tb_fail "init of the other domain"
latchkeyctl --db "$OB_S/reg2/registry.db" update-signer --dir "$OB_S/reg2" --name evil \
    --crl-url "$OB_URL/.well-known/latchkey/crl" --out "$OB_S/evil" >/dev/null 2>&1 ||
    tb_fail "update-signer of the other domain"
ob_publish 2.0-1

OB_ONBOARD_ARGS="--report-dpkg-status $TB_DIR/d/status"	# d's package list
ob_device d 0
OB_ONBOARD_ARGS=
ob_mdns_device m 1
D=$TB_DIR/d; M=$TB_DIR/m
for h in "$D" "$M"; do
	{ stanza fw-core 1.0-1; stanza libc6 2.36-9; } >"$h/status"
	# the device's installer: the payload in place, the package list says the new version
	cat >"$h/install.sh" <<EOS
#!/bin/sh
cp "\$1" "$h/installed.bin" || exit 1
{ printf 'Package: fw-core\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n' "\$LATCHKEY_UPDATE_VERSION"
  printf 'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n\n'; } >"$h/status"
EOS
	chmod 0755 "$h/install.sh"
done
ob_avahi m
ob_registrar_start
S_D=$(ob_serial 0); S_M=$(ob_serial 1)
export D M OB_S UPD S_D S_M
tb_log "test bed up after $((SECONDS - T0)) s"

# ---- 1. onboarding: d by DHCP, m by mDNS; the first report is noncompliant ----------------
ob_dhcp d
tb_wait_for "d: BOUND" 30 ob_bound d
ob_onboard_mdns m --report-dpkg-status "$M/status"
d_reported() { grep -q "posture reported to" "$D/onboard.log"; }
tb_wait_for "d: its first posture report" 15 d_reported
tb_check_phase noncompliant

# d's DHCP client for the pool checks: one DORA, the lease released at exit (each DORA is
# judged afresh), nothing else run.
cat >"$D/check.sh" <<EOS
#!/bin/sh
env | sort >"$D/check.\$1"
exit 0
EOS
chmod 0755 "$D/check.sh"
dora() {	# dora NAME: the address d is offered now, in $D/NAME.ip
	rm -f "$D/check.bound"
	tb_exec d timeout 15 udhcpc -f -q -n -R -i "$(tb_if d)" -s "$D/check.sh" -t 5 -T 1 \
	    >"$D/$1.out" 2>&1
	sed -n 's/^ip=//p' "$D/check.bound" 2>/dev/null >"$D/$1.ip"
}
# ---- 2. quarantined ---------------------------------------------------------------------
dora quarantined
tb_check_phase quarantined

# ---- 3. a verified update, then compliant ---------------------------------------------
# update HOST: latchkey update; the host's installer (install.sh) takes the payload
update() { ob_update "$1" "sh '$(tb_hostdir "$1")/install.sh' \"\$1\""; }
report() {	# report HOST NAME: latchkey report with the server discovery stored
	local h=$1 dir
	dir=$(tb_hostdir "$h")
	tb_exec "$h" latchkey report --state-dir "$dir/state" --dpkg-status "$dir/status" \
	    --json >"$dir/$2.json" 2>"$dir/$2.log"
	echo "rc=$?" >>"$dir/$2.log"
}
update d	# 1
update m	# 2
report d compliant
report m compliant
tb_check_phase updated

# ---- 4. released ----------------------------------------------------------------------
dora released
tb_check_phase released

# ---- 5. refusals, each with its reason, nothing installed --------------------------------
cp "$D/installed.bin" "$D/installed.good"; cp "$D/status" "$D/status.good"
ob_publish 3.0-1
printf 'fw-core firmware 6.6-6\n' >"$UPD/fw-core/fw-core_3.0-1.bin"	# same size, other bytes
update d	# 3: tampered payload
cp "$OB_S/m-3.0-1.json" "$UPD/fw-core/manifest.cms"
update d	# 4: unsigned (plain JSON)
ob_publish 3.0-1 "" "$OB_S/evil"
update d	# 5: another domain's signer
ob_publish 3.0-1 $(( $(date +%s) - 10 ))
update d	# 6: expired
ob_publish 1.5-1
update d	# 7: downgrade
ob_revoke_signer release "$OB_S/signer.pem"
ob_publish 3.0-1
update d	# 8: revoked signer
export KEEP_BIN=$D/installed.good KEEP_STATUS=$D/status.good
tb_check_phase refused

# ---- 6. a revoked device's report ----------------------------------------------------------
latchkeyctl --db "$OB_S/reg/registry.db" revoke "$S_M" --reason cessationOfOperation \
    >/dev/null || tb_fail "revoke m"
report m revoked
tb_check_phase revoked
tb_log "whole scenario $((SECONDS - T0)) s"
tb_done

#!/bin/bash
# tests/net/update: verified updates after zero-touch onboarding (issue #20), in namespaces.
#
#   server: bridge br0 10.207.0.1/24; kea-dhcp4 + liblatchkey_kea.so (option 143 = the
#           registrar, vendor option 125 sub-option update-uris = the update server);
#           the MASA; the registrar (latchkeyd, mdns = yes, update-url announced as
#           _latchkey-update._tcp, update-dir serving a signed manifest and its payload);
#           avahi-daemon
#   d: udhcpc, whose hook onboards the device: onboard.json keeps the update URL from DHCP
#   m: no DHCP options: onboards over mDNS and finds the update server as
#      _latchkey-update._tcp
#
# Shows: each device runs `latchkey update` with no URL (the one its discovery stored), the
# manifest verifies (signed by an update signer of the domain, CRL fetched from the
# registrar), the payload's hash matches and the install command installs it; the decisions
# are audited on the device and in the registry. Then a manifest signed by the now revoked
# signer is refused by both, and nothing more is installed.
# Exit 0 pass, 77 skip, 1 fail. Needs root.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
. "$LK_TOP/tests/net/lib.sh"
OB_SUBNET=10.207.0
. "$LK_TOP/tests/net/onboard/common.sh"
OB_HERE=$LK_TOP/tests/net/update	# our kea-dhcp4.conf.in: update-uris in the vendor option
tb_init
ob_require
tb_require avahi-daemon dbus-daemon
export PATH=$LK_BIN:$PATH
T0=$SECONDS

ob_setup 2
UPD=$OB_S/updates
mkdir -p "$UPD/fw-core"
cat >>"$OB_S/reg/latchkeyd.conf" <<EOC
update-dir = $UPD
update-url = $OB_URL/.well-known/latchkey/update
EOC
# The publisher: an update signer of the domain (CRL on the registrar), a signed manifest.
latchkeyctl --db "$OB_S/reg/registry.db" update-signer --dir "$OB_S/reg" --name release \
    --crl-url "$OB_URL/.well-known/latchkey/crl" --out "$OB_S/signer" >"$OB_S/signer.log" 2>&1 ||
    tb_fail "update-signer: $(tail -1 "$OB_S/signer.log")"
# publish VERSION [SIGNER]: payload and signed manifest for fw-core
publish() {
	local v=$1 s=${2:-$OB_S/signer} now
	now=$(date +%s)
	printf 'fw-core firmware %s\n' "$v" >"$UPD/fw-core/fw-core_$v.bin"
	printf '{"manifest-version":1,"package":"fw-core","version":"%s","sha256":"%s","size":%s,"not-before":%s,"expires":%s,"targets":["sensor"],"url":"fw-core_%s.bin"}' \
	    "$v" "$(sha256sum "$UPD/fw-core/fw-core_$v.bin" | cut -d' ' -f1)" \
	    "$(stat -c %s "$UPD/fw-core/fw-core_$v.bin")" $((now - 60)) $((now + 3600)) "$v" \
	    >"$OB_S/m-$v.json"
	latchkeyctl update-sign --cert "$s.pem" --key "$s.key" --manifest "$OB_S/m-$v.json" \
	    --out "$UPD/fw-core/manifest.cms" --force >/dev/null || tb_fail "update-sign $v"
	chmod -R a+rX "$UPD"
}
publish 1.0-1
ob_device d 0
ob_mdns_device m 1
ob_avahi m
ob_registrar_start
D=$TB_DIR/d; M=$TB_DIR/m
export D M OB_S UPD
S_D=$(ob_serial 0); S_M=$(ob_serial 1)
export S_D S_M
tb_log "test bed up after $((SECONDS - T0)) s"

# ---- d: DHCP --------------------------------------------------------------------------------
ob_dhcp d
tb_wait_for "d: BOUND" 30 ob_bound d
# ---- m: mDNS --------------------------------------------------------------------------------
ob_onboard_mdns m
tb_check_phase discovered

# update HOST: latchkey update with the URL discovery stored; output in HOST/update-N.*
NRUN=0
update() {
	local h=$1 dir
	dir=$(tb_hostdir "$h")
	NRUN=$((NRUN + 1))
	tb_exec "$h" latchkey update --state-dir "$dir/state" --package fw-core --class sensor \
	    --install-command "cp \"\$1\" '$dir/installed.bin'" --json \
	    >"$dir/update-$NRUN.json" 2>"$dir/update-$NRUN.log"
	echo "rc=$?" >>"$dir/update-$NRUN.log"
}
update d
update m
tb_check_phase installed

# ---- the signer is revoked: a new manifest it signed is refused by both ----------------------
ob_revoke_signer release "$OB_S/signer.pem"
publish 2.0-1
update d
update m
tb_check_phase revoked
tb_log "whole scenario $((SECONDS - T0)) s"
tb_done

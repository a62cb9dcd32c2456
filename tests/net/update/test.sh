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
ob_update_server
ob_publish 1.0-1
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

# update HOST: latchkey update; the installer copies the payload to HOST/installed.bin
update() { ob_update "$1" "cp \"\$1\" '$(tb_hostdir "$1")/installed.bin'"; }
update d
update m
tb_check_phase installed

# ---- the signer is revoked: a new manifest it signed is refused by both ----------------------
ob_revoke_signer release "$OB_S/signer.pem"
ob_publish 2.0-1
update d
update m
tb_check_phase revoked
tb_log "whole scenario $((SECONDS - T0)) s"
tb_done

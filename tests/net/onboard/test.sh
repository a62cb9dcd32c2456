#!/bin/bash
# tests/net/onboard: zero-touch onboarding (issue 9), everything real, in namespaces.
#
#   server: bridge br0 10.204.0.1/24, kea-dhcp4 + liblatchkey_kea.so (option 143 =
#           https://10.204.0.1:8443), the MASA (latchkeyd role = masa, 127.0.0.1), the
#           registrar (latchkeyd, mdns = yes), avahi-daemon
#   devices: one namespace each on br0, holding only IDevID + key + MASA anchor; udhcpc
#           with contrib/dhcp/udhcpc-latchkey.sh, which starts `latchkey onboard`
#
# Shows, in this order:
#   3. the registrar is down when the device boots: onboard retries with back-off and
#      is BOUND once latchkeyd starts, with no operator action;
#   1. a fresh device: udhcpc gets option 143, the client hook starts latchkey onboard, the
#      device reaches BOUND; the registry shows the binding, the certificate, the voucher
#      and the audit trail; latchkey status shows the onboarding state; a second run does
#      nothing and says so; once BOUND, onboarding sent one posture report to the posture
#      server of the DHCP vendor option (issue #20), judged compliant;
#   4. latchkey onboard is killed with SIGKILL (a) while the registrar waits for the MASA
#      (state voucher) and (b) right after the voucher was stored (state enroll): each
#      rerun resumes and ends BOUND with exactly one binding and one valid LDevID;
#   2. no DHCP options at all: the device finds the registrar over mDNS;
#   5. 20 devices onboard at once through DHCP: all BOUND, no duplicates.
# Exit 0 pass, 77 skip, 1 fail. Needs root.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
. "$LK_TOP/tests/net/lib.sh"
. "$LK_TOP/tests/net/onboard/common.sh"

NBULK=${OB_NBULK:-20}
tb_init
ob_require
tb_require avahi-daemon dbus-daemon
export PATH=$LK_BIN:$PATH
T0=$SECONDS

# Devices: r (registrar down), one (DHCP), kv/ke (SIGKILL), m (mDNS), b1..bN (bulk).
ob_setup $((5 + NBULK))
ob_device r 0
ob_device one 1
ob_device kv 2 no
ob_device ke 3 no
ob_mdns_device m 4
ob_avahi m
S_R=$(ob_serial 0); S_ONE=$(ob_serial 1); S_KV=$(ob_serial 2); S_KE=$(ob_serial 3)
S_M=$(ob_serial 4)
R=$TB_DIR/r; ONE=$TB_DIR/one; KV=$TB_DIR/kv; KE=$TB_DIR/ke; M=$TB_DIR/m
# What tests/net/onboard/checks uses.
export R ONE KV KE M OB_S OB_CAFP S_R S_ONE S_KV S_KE S_M NBULK
export R_ENV=$R/run-latchkey/dhcp-$(tb_if r).env
tb_log "test bed up after $((SECONDS - T0)) s"

# ---- 3. registrar down at boot ----------------------------------------------------------
ob_dhcp r
tb_wait_for "r: latchkey onboard started by the DHCP hook" 20 test -s "$R/state/onboard.json"
two_rounds() { [ "$(jq -r .rounds "$R/state/onboard.json" 2>/dev/null)" -ge 3 ]; }
tb_wait_for "r: three failed rounds" 30 two_rounds
tb_check_phase r-retrying
ob_registrar_start
t_up=$SECONDS
tb_wait_for "r: BOUND after the registrar came up" 15 ob_bound r
tb_log "r: bound $((SECONDS - t_up)) s after latchkeyd started"
tb_check_phase r-bound

# ---- 1. fresh device, DHCP option 143, the hook starts onboard ----------------------------
test ! -e "$ONE/state" || tb_fail "one: not fresh"
ob_dhcp one
tb_wait_for "one: BOUND" 20 ob_bound one
export LD1
LD1=$(jq -r .ldevid_serial "$ONE/state/onboard.json")	# what the device holds
ob_onboard_args one >"$ONE/args"
tb_check_phase one-bound
tb_check_phase one-posture 10

# ---- 4. SIGKILL during onboarding -------------------------------------------------------
# (a) while the registrar waits for the MASA: the MASA is stopped (SIGSTOP), so the device
#     sits in VOUCHER; kill it there, let the MASA go on, rerun.
for dev in kv ke; do
	ob_dhcp "$dev"
	tb_wait_for "$dev: lease" 20 test -s "$TB_DIR/$dev/run-latchkey/dhcp-$(tb_if "$dev").env"
done
read -ra KV_ARGS <<<"$(ob_onboard_args kv)"
read -ra KE_ARGS <<<"$(ob_onboard_args ke)"
# latchkeyd supervises even one worker: stop the parent and its workers (by PID).
MASA_PID=$(tb_pid server masa)
MASA_PIDS="$MASA_PID $(ps -o pid= --ppid "$MASA_PID" | tr '\n' ' ')"
# shellcheck disable=SC2086
kill -STOP $MASA_PIDS
tb_bg kv onboard latchkey onboard "${KV_ARGS[@]}"
in_voucher() { grep -q "provisional TLS" "$KV/onboard.log" 2>/dev/null &&
    [ "$(ob_state kv)" = voucher ]; }
tb_wait_for "kv: waiting for its voucher" 15 in_voucher
# The registrar has passed kv's request on: it sits unread in the stopped MASA's socket.
masa_has_request() {
	tb_exec server ss -Htn state established "( sport = :$OB_MASA_PORT )" |
	    awk '$1 > 0 { f = 1 } END { exit !f }'
}
tb_wait_for "the registrar's voucher request at the stopped MASA" 15 masa_has_request
pid=$(tb_pid kv onboard)
{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
# shellcheck disable=SC2086
kill -CONT $MASA_PIDS
tb_check_phase kv-killed
tb_exec kv latchkey onboard "${KV_ARGS[@]}" --json >"$KV/rerun.json" 2>"$KV/rerun.log"
echo "rc=$?" >>"$KV/rerun.log"

# (b) right after the voucher is stored (state enroll; the testing pause holds it there).
tb_bg ke onboard latchkey onboard "${KE_ARGS[@]}" --pause-after-voucher 30
in_enroll() { [ "$(ob_state ke)" = enroll ] && grep -q "testing: pausing" "$KE/onboard.log"; }
tb_wait_for "ke: voucher stored" 15 in_enroll
pid=$(tb_pid ke onboard)
{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
tb_check_phase ke-killed
tb_exec ke latchkey onboard "${KE_ARGS[@]}" --json >"$KE/rerun.json" 2>"$KE/rerun.log"
echo "rc=$?" >>"$KE/rerun.log"
export KV_LD KE_LD	# the LDevID serial each rerun reports
KV_LD=$(jq -r .ldevid_serial "$KV/rerun.json")
KE_LD=$(jq -r .ldevid_serial "$KE/rerun.json")
tb_check_phase kv-resumed
tb_check_phase ke-resumed

# ---- 2. no DHCP options: mDNS ------------------------------------------------------------
ob_onboard_mdns m
tb_check_phase mdns

# ---- 5. NBULK devices at once --------------------------------------------------------------
for ((i = 1; i <= NBULK; i++)); do
	ob_device "b$i" $((4 + i))
done
t_bulk=$SECONDS
for ((i = 1; i <= NBULK; i++)); do
	ob_dhcp "b$i"
done
all_bound() {
	local i
	for ((i = 1; i <= NBULK; i++)); do ob_bound "b$i" || return 1; done
}
tb_wait_for "$NBULK devices BOUND" 90 all_bound
bulk_s=$((SECONDS - t_bulk))
lat=()
for ((i = 1; i <= NBULK; i++)); do
	lat+=("$(ob_ack_to_bound "b$i")")
done
export IN	# the bulk devices' serials, as an SQL list
IN=$(sed -n "6,$((5 + NBULK))p" "$OB_S/serials.txt" | sed "s/.*/'&'/" | paste -sd,)
tb_check_phase bulk
tb_log "$NBULK devices bound in ${bulk_s}s; ack-to-bound ms: ${lat[*]}"
tb_log "whole scenario $((SECONDS - T0)) s"
tb_done

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
#      nothing and says so;
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
tb_ns_add m
tb_link server - m "$OB_SUBNET.250/24"
ip -n "$(tb_ns server)" link set "$TB_LINK_A" master br0 || tb_fail "cannot bridge m"
mkdir -p "$TB_DIR/m/factory"
cp "$(ob_devdir 4)"/{idevid.pem,idevid.key,masa-anchor.pem} "$TB_DIR/m/factory/"
ob_avahi m
S_R=$(ob_serial 0); S_ONE=$(ob_serial 1); S_KV=$(ob_serial 2); S_KE=$(ob_serial 3)
S_M=$(ob_serial 4)
R=$TB_DIR/r; ONE=$TB_DIR/one; KV=$TB_DIR/kv; KE=$TB_DIR/ke; M=$TB_DIR/m
tb_log "test bed up after $((SECONDS - T0)) s"

# ---- 3. registrar down at boot ----------------------------------------------------------
ob_dhcp r
tb_wait_for "r: latchkey onboard started by the DHCP hook" 20 test -s "$R/state/onboard.json"
two_rounds() { [ "$(jq -r .rounds "$R/state/onboard.json" 2>/dev/null)" -ge 3 ]; }
tb_wait_for "r: three failed rounds" 30 two_rounds
tb_check <<EOF
r::cat $R/run-latchkey/dhcp-$(tb_if r).env::^LATCHKEY_DHCP_SZTP=[0-9a-f]+$::YES
r::cat $R/onboard.log::DHCP: 1 registrar URI.*first https://10\.204\.0\.1:8443::YES
r::cat $R/onboard.log::round 1 failed; next round in (0\.[5-9]|1\.0)[0-9]* s::YES
r::cat $R/onboard.log::round 2 failed; next round in (1\.[0-9]|2\.0)[0-9]* s::YES
r::jq -r .last_error $R/state/onboard.json::10\.204\.0\.1:8443.*(onnect|refused)::YES
r::test -e $R/state/ldevid.pem && echo has-ldevid::has-ldevid::NO
EOF
ob_registrar_start
t_up=$SECONDS
tb_wait_for "r: BOUND after the registrar came up" 15 ob_bound r
tb_log "r: bound $((SECONDS - t_up)) s after latchkeyd started"
tb_check <<EOF
r::jq -r .state $R/state/onboard.json::^bound$::YES
r::cat $R/onboard.log::bound to https://10\.204\.0\.1:8443 \(domain example\.test\)::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT state FROM bindings WHERE serial='$S_R'"::^active$::YES
EOF

# ---- 1. fresh device, DHCP option 143, the hook starts onboard ----------------------------
test ! -e "$ONE/state" || tb_fail "one: not fresh"
ob_dhcp one
tb_wait_for "one: BOUND" 20 ob_bound one
LD1=$(jq -r .ldevid_serial "$ONE/state/onboard.json")
ob_onboard_args one >"$ONE/args"
tb_check <<EOF
one::cat $ONE/onboard.log::onboarding $S_ONE: starting::YES
one::cat $ONE/onboard.log::voucher: trying registrar https://10\.204\.0\.1:8443 \(from dhcp dhcp-::YES
one::cat $ONE/onboard.log::provisional TLS to https://10\.204\.0\.1:8443::YES
one::cat $ONE/onboard.log::voucher accepted::YES
one::cat $ONE/onboard.log::bound to https://10\.204\.0\.1:8443 \(domain example\.test\): LDevID $LD1::YES
one::jq -r '.state+" "+.source+" "+.ca_hint' $ONE/state/onboard.json::^bound dhcp $OB_CAFP$::YES
one::jq -r '.posture[0]' $ONE/state/onboard.json::^https://10\.204\.0\.1:9443/posture$::YES
one::stat -c %a $ONE/state/ldevid.key::^600$::YES
one::openssl verify -CAfile $OB_S/reg/domain-ca.pem $ONE/state/ldevid.pem::pem: OK$::YES
one::cmp $ONE/state/domain-ca.pem $OB_S/reg/domain-ca.pem && echo same::^same$::YES
one::latchkey status --out $ONE/state --offline::^onboard +bound \(registrar https://10\.204\.0\.1:8443 from dhcp, domain example\.test\)::YES
one::latchkey status --out $ONE/state --json | jq -r '.binding+" "+.onboard.state'::^active bound$::YES
one::latchkey onboard \$(cat $ONE/args) --json | jq -r .result; echo rc=\${PIPESTATUS[0]}::^already-bound$::YES
one::latchkey onboard \$(cat $ONE/args) 2>&1::already bound to https://10\.204\.0\.1:8443 .*nothing to do::YES
server::latchkeyctl --db $OB_S/reg/registry.db --json show $S_ONE | jq -r '.bindings[].state'::^active$::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT count(*)||' '||max(cert_serial) FROM certificates WHERE device_serial='$S_ONE'"::^1 $LD1$::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT voucher_status||' '||enroll_status FROM vouchers WHERE serial='$S_ONE'"::^success success$::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT group_concat(action,',') FROM (SELECT action FROM audit WHERE subject='$S_ONE' ORDER BY id)"::claim.*voucher.*enroll::YES
server::latchkeyctl --db $OB_S/reg/registry.db audit --verify; echo rc=\$?::^rc=0$::YES
EOF

# ---- 4. SIGKILL during onboarding -------------------------------------------------------
# (a) while the registrar waits for the MASA: the MASA is stopped (SIGSTOP), so the device
#     sits in VOUCHER; kill it there, let the MASA go on, rerun.
for dev in kv ke; do
	ob_dhcp "$dev"
	tb_wait_for "$dev: lease" 20 test -s "$TB_DIR/$dev/run-latchkey/dhcp-$(tb_if "$dev").env"
done
read -ra KV_ARGS <<<"$(ob_onboard_args kv)"
read -ra KE_ARGS <<<"$(ob_onboard_args ke)"
MASA_PID=$(tb_pid server masa)
kill -STOP "$MASA_PID"
tb_bg kv onboard latchkey onboard "${KV_ARGS[@]}"
in_voucher() { grep -q "provisional TLS" "$KV/onboard.log" 2>/dev/null &&
    [ "$(ob_state kv)" = voucher ]; }
tb_wait_for "kv: waiting for its voucher" 15 in_voucher
sleep 0.3
pid=$(tb_pid kv onboard)
{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
kill -CONT "$MASA_PID"
tb_check <<EOF
kv::jq -r .state $KV/state/onboard.json::^voucher$::YES
kv::ls $KV/state::ldevid::NO
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT count(*) FROM certificates WHERE device_serial='$S_KV'"::^0$::YES
EOF
tb_exec kv latchkey onboard "${KV_ARGS[@]}" --json >"$KV/rerun.json" 2>"$KV/rerun.log"
echo "rc=$?" >>"$KV/rerun.log"

# (b) right after the voucher is stored (state enroll; the testing pause holds it there).
tb_bg ke onboard latchkey onboard "${KE_ARGS[@]}" --pause-after-voucher 30
in_enroll() { [ "$(ob_state ke)" = enroll ] && grep -q "testing: pausing" "$KE/onboard.log"; }
tb_wait_for "ke: voucher stored" 15 in_enroll
pid=$(tb_pid ke onboard)
{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
tb_check <<EOF
ke::jq -r .state $KE/state/onboard.json::^enroll$::YES
ke::ls $KE/state::voucher\.cms::YES
ke::ls $KE/state::ldevid::NO
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT count(*) FROM certificates WHERE device_serial='$S_KE'"::^0$::YES
EOF
tb_exec ke latchkey onboard "${KE_ARGS[@]}" --json >"$KE/rerun.json" 2>"$KE/rerun.log"
echo "rc=$?" >>"$KE/rerun.log"
for dev in kv ke; do
	d=$TB_DIR/$dev
	s=$(ob_serial "$([ "$dev" = kv ] && echo 2 || echo 3)")
	tb_check <<EOF
$dev::cat $d/rerun.log::^rc=0$::YES
$dev::jq -r .result $d/rerun.json::^bound$::YES
$dev::cat $d/rerun.log::resuming onboarding of $s at $([ "$dev" = kv ] && echo voucher || echo enroll)::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT count(*) FROM bindings WHERE serial='$s'"::^1$::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT count(*) FROM certificates WHERE device_serial='$s' AND revoked_at IS NULL AND not_after > strftime('%s','now')"::^1$::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT cert_serial FROM certificates WHERE device_serial='$s'"::^$(jq -r .ldevid_serial "$d/rerun.json")$::YES
$dev::openssl verify -CAfile $OB_S/reg/domain-ca.pem $d/state/ldevid.pem::pem: OK$::YES
EOF
done
tb_check <<EOF
ke::cat $KE/rerun.log::voucher on file pins sha256:::YES
ke::cat $KE/rerun.log::enroll: trying registrar https://10\.204\.0\.1:8443 \(from dhcp state file\)::YES
EOF

# ---- 2. no DHCP options: mDNS ------------------------------------------------------------
tb_wait_log server latchkeyd "mdns: announced as" 15
tb_exec m latchkey onboard --state-dir "$M/state" --idevid "$M/factory/idevid.pem" \
    --idevid-key "$M/factory/idevid.key" --masa-anchor "$M/factory/masa-anchor.pem" \
    --dhcp-env "$M/none.env" --max-backoff 2 --timeout 40 -v --json \
    >"$M/onboard.json" 2>"$M/onboard.log"
echo "rc=$?" >>"$M/onboard.log"
tb_check <<EOF
m::cat $M/onboard.log::^rc=0$::YES
m::cat $M/onboard.log::mDNS: [0-9]+ registrar candidate.*first https://10\.204\.0\.1:8443::YES
m::jq -r '.result+" "+.source+" "+.registrar' $M/onboard.json::^bound mdns https://10\.204\.0\.1:8443$::YES
m::jq -r .domain $M/state/onboard.json::^example\.test$::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT state FROM bindings WHERE serial='$S_M'"::^active$::YES
EOF

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
	jq -r .ldevid_serial "$TB_DIR/b$i/state/onboard.json"
done >"$TB_DIR/bulk-ldevids.txt"
sort "$TB_DIR/bulk-ldevids.txt" | uniq -d >"$TB_DIR/bulk-dups.txt"
sed -n "6,$((5 + NBULK))p" "$OB_S/serials.txt" | sed "s/.*/'&'/" | paste -sd, >"$TB_DIR/bulk-serials.sql"
IN=$(cat "$TB_DIR/bulk-serials.sql")
tb_check <<EOF
server::wc -l <$TB_DIR/bulk-ldevids.txt::^$NBULK$::YES
server::cat $TB_DIR/bulk-dups.txt | wc -l::^0$::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT count(*), count(DISTINCT serial) FROM bindings WHERE serial IN ($IN)"::^$NBULK\|$NBULK$::YES
server::sqlite3 -readonly $OB_S/reg/registry.db "SELECT count(*), count(DISTINCT device_serial) FROM certificates WHERE device_serial IN ($IN)"::^$NBULK\|$NBULK$::YES
server::echo $bulk_s::^[0-9]+$::YES
EOF
tb_log "$NBULK devices bound in ${bulk_s}s; ack-to-bound ms: ${lat[*]}"
tb_log "whole scenario $((SECONDS - T0)) s"
tb_done

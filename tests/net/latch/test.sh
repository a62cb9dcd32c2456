#!/bin/bash
# latch: RFC 5660 connection latching over IKEv2/ESP with real LDevIDs and a real charon in
# every namespace.
#
#   reg  (registrar)  10.201.0.1 on bridge br0, inner 10.99.0.1/32 on lo; latchkeyd on its
#                     own loopback for enrollment; `latchkey latch --respond` (latchmgr)
#   dev  (device)     10.201.0.2, inner 10.99.0.2/32; `latchkey latch --peer --hold`
#   imp  (impostor)   no address until it takes 10.201.0.2 (and inner 10.99.0.2) with the
#                     second lab device's valid LDevID
#
# This kernel has no ESP: charon uses kernel-libipsec, tunnel mode between the inner /32s,
# ESP in UDP 4500 (DESIGN.md). Checks: latch ESTABLISHED on both sides and the SAs in
# list-sas; a TCP session between the inner addresses is on the wire only as UDP 4500;
# IKE and CHILD rekeys keep the latch and the TCP session; the impostor breaks the
# registrar's latch, the latched TCP connection is reset (default disposition) and a
# latch-aware caller gets "latch broken" (exit 3); `latchkeyctl revoke` of the device closes
# the latch in latchkeyd and removes its SAs within a second.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
. "$LK_TOP/tests/net/lib.sh"

tb_init
tb_require latchkey latchkeyctl latchkeyd socat tshark ss
tb_require_latch_charon

D=$TB_DIR/pki
mkdir -p "$D"
PORT=$((20000 + RANDOM % 20000))

# ---- Hosts and links -------------------------------------------------------------------
tb_ns_add reg
tb_ns_add dev
tb_ns_add imp
tb_link reg - dev 10.201.0.2/24
tb_link reg - imp -
REG_NS=$(tb_ns reg)
ip -n "$REG_NS" link add br0 type bridge || tb_fail "bridge"
ip -n "$REG_NS" link set "$(tb_if reg 0)" master br0
ip -n "$REG_NS" link set "$(tb_if reg 1)" master br0
ip -n "$REG_NS" addr add 10.201.0.1/24 dev br0
ip -n "$REG_NS" link set br0 up
ip -n "$REG_NS" addr add 10.99.0.1/32 dev lo
ip -n "$(tb_ns dev)" addr add 10.99.0.2/32 dev lo
tb_check_phase link

# ---- Domain and enrollment with the project's own tools (inside reg) -------------------
latchkeyctl lab-pki --out "$D/lab" --devices 2 >"$D/labpki.log" 2>&1 ||
    tb_fail "lab-pki failed: $(tail -1 "$D/labpki.log")"
latchkeyctl init --domain example.test --dir "$D/reg" \
    --manufacturer-ca "$D/lab/manufacturer-ca.pem" --listen "127.0.0.1:$PORT" \
    >"$D/init.log" 2>&1 || tb_fail "init failed: $(tail -1 "$D/init.log")"
mapfile -t SERIALS < <(ls "$D/lab/devices")
[ "${#SERIALS[@]}" = 2 ] || tb_fail "expected 2 lab devices"
DEV_SN=${SERIALS[0]}
IMP_SN=${SERIALS[1]}
latchkeyctl --db "$D/reg/registry.db" claim "$DEV_SN" "$IMP_SN" >/dev/null ||
    tb_fail "claim failed"
tb_bg reg latchkeyd latchkeyd -d -f "$D/reg/latchkeyd.conf"
tb_wait_for "latchkeyd listening" "$TB_TIMEOUT" \
    tb_exec reg bash -c "ss -ltn | grep -q '127.0.0.1:$PORT'"
for pair in "dev1:$DEV_SN" "dev2:$IMP_SN"; do
	out=${pair%%:*}
	sn=${pair#*:}
	tb_exec reg latchkey enroll -q --server "https://127.0.0.1:$PORT" \
	    --idevid "$D/lab/devices/$sn/idevid.pem" --idevid-key "$D/lab/devices/$sn/idevid.key" \
	    --ca "$D/reg/domain-ca.pem" --out "$D/$out" >"$D/enroll-$out.log" 2>&1 ||
	    tb_fail "enroll $sn failed: $(tail -1 "$D/enroll-$out.log")"
done
tb_stop reg latchkeyd
REG_ID=$(openssl x509 -in "$D/reg/registrar.pem" -noout -subject -nameopt RFC2253 |
    sed 's/^subject=//')

# ---- charon per namespace, driven by our VICI client ------------------------------------
tb_charon_start reg
tb_charon_start dev
tb_charon_start imp
VICI_REG="unix://$TB_DIR/reg/charon.vici"
VICI_DEV="unix://$TB_DIR/dev/charon.vici"
VICI_IMP="unix://$TB_DIR/imp/charon.vici"
REG_STATE=$D/reg/latch-state.json	# latchkeyd's default: beside the registry
DEV_STATE=$D/dev1/latch-state.json	# beside the LDevID: latchkey status shows it
REG_CTL=$TB_DIR/reg/latch.ctl

# The registrar side runs inside latchkeyd (latch = yes): worker 0 keeps the latches.
cat >>"$D/reg/latchkeyd.conf" <<CONF
latch = yes
vici-socket = $VICI_REG
latch-local = 10.201.0.1
latch-mode = tunnel
latch-local-ts = 10.99.0.1/32
latch-remote-ts = 10.99.0.0/24
latch-control = $REG_CTL
CONF
tb_bg reg registrar latchkeyd -d -f "$D/reg/latchkeyd.conf"
tb_wait_log reg registrar 'latch: manager connected to charon'


tb_bg dev latch latchkey latch --peer 10.201.0.1 --ldevid "$D/dev1" --vici "$VICI_DEV" \
    --local 10.201.0.2 --mode tunnel --local-ts 10.99.0.2/32 --remote-ts 10.99.0.1/32 \
    --remote-id "$REG_ID" --hold --json --state-file "$DEV_STATE" --timeout 20
tb_wait_log dev latch 'holding the latch' 30

# ---- Latched: both sides ESTABLISHED, SAs up (checks: tests/net/latch/checks) ---------------
export D DEV_SN DEV_STATE REG_STATE VICI_REG VICI_DEV
tb_check_phase latched 10

# ---- A TCP session over ESP ---------------------------------------------------------------
tb_bg dev capture tshark -n -q -i "$(tb_if dev)" -w "$TB_DIR/dev/veth.pcap"
tb_wait_log dev capture "Capturing on"
tb_bg reg tcpsrv socat -u TCP-LISTEN:7000,bind=10.99.0.1,reuseaddr \
    OPEN:"$TB_DIR/reg/rx.log",creat,append
export TCPSRV_PID
TCPSRV_PID=$(tb_pid reg tcpsrv)
tb_wait_for "tcp server" "$TB_TIMEOUT" \
    tb_exec reg bash -c "ss -ltn | grep -q '10.99.0.1:7000'"
# One record every 0.2 s (pacing of the traffic, not a wait for anything), at most 5 min.
tb_bg dev tcpcli bash -c 'for _ in $(seq 1 1500); do echo "latched-plaintext-$(date +%s%N)"; sleep 0.2; done |
    exec socat -u - TCP:10.99.0.1:7000,bind=10.99.0.2'
rx_records() { [ "$(grep -c latched-plaintext "$TB_DIR/reg/rx.log" 2>/dev/null)" -ge "$1" ]; }
tb_wait_for "five records over the latched session, captured" "$TB_TIMEOUT" rx_records 5
tb_stop dev capture
tb_check_phase over-esp

# ---- Rekeys keep the latch and the session ------------------------------------------------
tb_swanctl dev --rekey --ike latchkey >/dev/null 2>&1
tb_swanctl dev --rekey --child latchkey-child >/dev/null 2>&1
tb_swanctl reg --rekey --child latchkey-registrar-child >/dev/null 2>&1
export REKEYED_NS
REKEYED_NS=$(date +%s%N)
tb_check_phase rekeyed 10

# ---- Impostor takes the device's address with another valid LDevID ---------------------
ip -n "$(tb_ns dev)" addr del 10.201.0.2/24 dev "$(tb_if dev)"
ip -n "$(tb_ns imp)" addr add 10.201.0.2/24 dev "$(tb_if imp)"
ip -n "$(tb_ns imp)" addr add 10.99.0.2/32 dev lo
ip -n "$REG_NS" neigh flush all
tb_exec imp latchkey latch --peer 10.201.0.1 --ldevid "$D/dev2" --vici "$VICI_IMP" \
    --local 10.201.0.2 --mode tunnel --local-ts 10.99.0.2/32 --remote-ts 10.99.0.1/32 \
    --timeout 15 >"$TB_DIR/imp/latch.out" 2>&1
tb_check_phase impostor 10

# ---- Revocation: `latchkeyctl revoke` closes the device's latch, its SAs end, within 1 s ----
t0=$(date +%s%N)
latchkeyctl --db "$D/reg/registry.db" revoke "$DEV_SN" --reason keyCompromise >/dev/null ||
    tb_fail "latchkeyctl revoke failed"
for _ in $(seq 1 100); do	# a bounded poll (5 s), only to measure the latency
	grep -q '"state":"CLOSED"' "$REG_STATE" 2>/dev/null && break
	sleep 0.05
done
echo "revocation to latch CLOSED: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
tb_check_phase revoked 2
echo "revocation to latch CLOSED and SAs gone: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
tb_check_phase revoked-status

tb_done

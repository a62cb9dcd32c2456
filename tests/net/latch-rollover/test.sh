#!/bin/bash
# latch-rollover: latches across a domain CA rollover (latchkeyctl ca-rollover), against
# real charons.
#
#   reg   (registrar)  10.203.0.1 and 10.204.0.1, inner 10.97.0.1/32 on lo; latchkeyd with
#                      latch = yes after the rollover: previous-ca-cert and its CRL
#                      (crl-previous.der) reach charon beside the new CA's
#   old   (device)     10.203.0.2, inner 10.97.0.2/32: enrolled under the old CA, before the
#                      rollover; its domain-ca.pem holds the old CA only
#   new   (device)     10.204.0.2, inner 10.97.0.3/32: enrolled under the new CA, after,
#                      trusting only the new CA (the registrar's certificate is still the
#                      old CA's: its TLS chain carries OldWithNew)
#
# Phases: both latch at once (latched); the old-CA device is revoked: its latch closes, the
# other stays (revoked-old); it tries again and holds no latch (refused-old); the same for
# the new-CA device (revoked-new, refused-new); the old-CA device once more, when charon
# holds only the new CA's CRL (refused-old-again).
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
. "$LK_TOP/tests/net/lib.sh"

tb_init
tb_require latchkey latchkeyctl latchkeyd ss
tb_require_latch_charon revocation

D=$TB_DIR/pki
mkdir -p "$D"
PORT=$((20000 + RANDOM % 20000))

tb_ns_add reg
tb_ns_add old
tb_ns_add new
tb_link reg 10.203.0.1/24 old 10.203.0.2/24
tb_link reg 10.204.0.1/24 new 10.204.0.2/24
ip -n "$(tb_ns reg)" addr add 10.97.0.1/32 dev lo
ip -n "$(tb_ns old)" addr add 10.97.0.2/32 dev lo
ip -n "$(tb_ns new)" addr add 10.97.0.3/32 dev lo
tb_check_phase link

# ---- the domain; one device enrolls under the old CA, then the rollover, then the other ---
latchkeyctl lab-pki --out "$D/lab" --devices 2 --json >"$D/lab.json" 2>"$D/labpki.log" ||
    tb_fail "lab-pki failed: $(tail -1 "$D/labpki.log")"
latchkeyctl init --domain example.test --dir "$D/reg" \
    --manufacturer-ca "$D/lab/manufacturer-ca.pem" --listen "127.0.0.1:$PORT" \
    >"$D/init.log" 2>&1 || tb_fail "init failed: $(tail -1 "$D/init.log")"
OLD_SN=$(jq -r '.devices[0].serial' "$D/lab.json")
NEW_SN=$(jq -r '.devices[1].serial' "$D/lab.json")
latchkeyctl --db "$D/reg/registry.db" claim "$OLD_SN" "$NEW_SN" >/dev/null ||
    tb_fail "claim failed"
cp "$D/reg/domain-ca.pem" "$D/old-ca.pem"
enroll() {	# enroll SERIAL CAFILE OUT
	tb_exec reg latchkey enroll -q --server "https://127.0.0.1:$PORT" \
	    --idevid "$D/lab/devices/$1/idevid.pem" --idevid-key "$D/lab/devices/$1/idevid.key" \
	    --ca "$2" --out "$3" >"$3.log" 2>&1 || tb_fail "enroll $1 failed: $(tail -1 "$3.log")"
}
tb_bg reg latchkeyd1 latchkeyd -d -f "$D/reg/latchkeyd.conf"
tb_wait_for "latchkeyd listening" "$TB_TIMEOUT" \
    tb_exec reg bash -c "ss -ltn | grep -q '127.0.0.1:$PORT'"
enroll "$OLD_SN" "$D/old-ca.pem" "$D/old"
tb_stop reg latchkeyd1
latchkeyctl ca-rollover --dir "$D/reg" >"$D/rollover.log" 2>&1 ||
    tb_fail "ca-rollover failed: $(tail -1 "$D/rollover.log")"
tb_bg reg latchkeyd2 latchkeyd -d -f "$D/reg/latchkeyd.conf"
tb_wait_for "latchkeyd listening again" "$TB_TIMEOUT" \
    tb_exec reg bash -c "ss -ltn | grep -q '127.0.0.1:$PORT'"
enroll "$NEW_SN" "$D/reg/domain-ca.pem" "$D/new"
tb_stop reg latchkeyd2
REG_ID=$(openssl x509 -in "$D/reg/registrar.pem" -noout -subject -nameopt RFC2253 |
    sed 's/^subject=//')

# ---- charon per namespace; the registrar's latches inside latchkeyd ----------------------
tb_charon_start reg
tb_charon_start old
tb_charon_start new
VICI_REG="unix://$TB_DIR/reg/charon.vici"
REG_STATE=$D/reg/latch-state.json
cat >>"$D/reg/latchkeyd.conf" <<CONF
latch = yes
vici-socket = $VICI_REG
latch-local = 10.203.0.1,10.204.0.1
latch-mode = tunnel
latch-local-ts = 10.97.0.1/32
latch-remote-ts = 10.97.0.0/24
CONF
tb_bg reg registrar latchkeyd -d -f "$D/reg/latchkeyd.conf"
tb_wait_log reg registrar 'latch: manager connected to charon'
# dev_latch ALIAS NAME [--hold]: ALIAS's device latches to the registrar
dev_latch() {
	local alias=$1 name=$2 local=10.203.0.2 ts=10.97.0.2/32
	shift 2
	[ "$alias" = new ] && { local=10.204.0.2; ts=10.97.0.3/32; }
	latchkey latch --peer "${local%.2}.1" --ldevid "$D/$alias" \
	    --vici "unix://$TB_DIR/$alias/charon.vici" --local "$local" --mode tunnel \
	    --local-ts "$ts" --remote-ts 10.97.0.1/32 --remote-id "$REG_ID" --json \
	    --state-file "$D/$alias/$name.json" --timeout 20 "$@"
}
tb_bg old latch1 bash -c "$(declare -f dev_latch); D=$D TB_DIR=$TB_DIR REG_ID='$REG_ID' \
    dev_latch old latch1 --hold"
tb_bg new latch1 bash -c "$(declare -f dev_latch); D=$D TB_DIR=$TB_DIR REG_ID='$REG_ID' \
    dev_latch new latch1 --hold"
tb_wait_log old latch1 'holding the latch' 30
tb_wait_log new latch1 'holding the latch' 30
export D OLD_SN NEW_SN REG_STATE VICI_REG TB_DIR
tb_check_phase latched 10

# ---- revocation of the old-CA device, then of the new-CA one -----------------------------
again() {	# again ALIAS: the revoked device latches again (no --hold)
	tb_exec "$1" bash -c "$(declare -f dev_latch); D=$D TB_DIR=$TB_DIR REG_ID='$REG_ID' \
	    dev_latch $1 again --timeout 10" >"$TB_DIR/$1/again.out" 2>&1
	echo "rc=$?" >>"$TB_DIR/$1/again.out"
}
latchkeyctl --db "$D/reg/registry.db" revoke "$OLD_SN" --reason keyCompromise >/dev/null ||
    tb_fail "revoke $OLD_SN failed"
tb_check_phase revoked-old 10
again old
tb_check_phase refused-old 10
latchkeyctl --db "$D/reg/registry.db" revoke "$NEW_SN" --reason keyCompromise >/dev/null ||
    tb_fail "revoke $NEW_SN failed"
tb_check_phase revoked-new 10
again new
tb_check_phase refused-new 10
# charon keeps one CRL per issuer name: the two CAs share one (same subject), and the newer
# CRL, the new CA's now, displaced the old CA's. The old-CA device tries once more: whether
# charon still refuses it or the latch binds, latchkeyd closes it as it binds.
mv "$TB_DIR/old/again.out" "$TB_DIR/old/again1.out"
again old
tb_check_phase refused-old-again 10
# a restarted latchkeyd knows no closed latch: admission rests on charon's CRL and on the
# check as a latch binds
tb_stop reg registrar
tb_bg reg registrar2 latchkeyd -d -f "$D/reg/latchkeyd.conf"
tb_wait_log reg registrar2 'latch: manager connected to charon'
mv "$TB_DIR/old/again.out" "$TB_DIR/old/again2.out"
mv "$TB_DIR/new/again.out" "$TB_DIR/new/again1.out"
again old
again new
grep -h "binding is revoked\|certificate was revoked" "$TB_DIR/reg/registrar2.log" \
    "$TB_DIR/reg/charon.log" | tail -2
tb_check_phase refused-after-restart 10

tb_done

#!/bin/bash
# tests/net/onboard-hw: zero-touch first boot with every key in hardware (issue #19), the
# test bed of tests/net/onboard (real kea-dhcp4 with the hook, udhcpc, latchkeyd as MASA and
# registrar, namespaces):
#   - the MASA's voucher-signing key and the domain CA key are generated inside SoftHSM2
#     tokens (lab-pki --masa-key, init --ca-key: RFC 7512 URIs; one token per key holder,
#     each token directory owned by the user that signs after its privilege drop);
#   - the device's IDevID key lives in its own software TPM (swtpm, lab-pki --tpm), and
#     `latchkey onboard`, started by the DHCP client's hook from option 143, proves itself
#     with it (TLS, voucher-request) and generates its LDevID key in the TPM
#     (--key-store tpm);
#   - BOUND: the LDevID verifies against the token-signed domain CA and its public key is
#     the TPM's; the voucher's signer key is the MASA token's; the registry's audit chain
#     verifies; the device renews (reenroll) with the TPM LDevID;
#   - afterwards no private key of those four keys exists as a file anywhere under the
#     test bed (every PEM private key file is compared by public key; the device's key
#     files are TPM-wrapped blobs that openssl cannot read without the TPM), and
#     domain-ca.key and masa.key were never written;
#   - the latch with a TPM LDevID: refused with one clear line (charon's tpm plugin takes
#     persistent handles, our latch hands charon a key file: README, "Device keys in a TPM").
# Exit 0 pass, 77 skip, 1 fail. Needs root.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
. "$LK_TOP/tests/net/lib.sh"
. "$LK_TOP/tests/net/onboard/common.sh"
. "$LK_TOP/tests/tools/softhsm.sh"
. "$LK_TOP/tests/tools/swtpm.sh"

tb_init
ob_require
softhsm_available || tb_skip "softhsm2 or libengine-pkcs11-openssl not installed"
tb_require swtpm pkcs11-tool
[ -f "$(openssl version -m | sed -E 's/^MODULESDIR: "(.*)"$/\1/')/tpm2.so" ] ||
    tb_skip "tpm2-openssl not installed"
export PATH=$LK_BIN:$PATH
# tb_init's EXIT trap tears the test bed down; the TPM goes first (by its PID).
trap 'rc=$?; swtpm_stop_all; tb__on_exit $rc' EXIT
T0=$SECONDS
H=$TB_DIR/hw
mkdir -p "$H"

# Tokens: one per key holder (the MASA's workers sign as latchkey, the registrar's signer
# as latchkey-signer).
softhsm_token "$H/hsm-masa" lk-masa 2718-masa >/dev/null || tb_fail "softhsm_token (MASA)"
MASA_CONF=$SOFTHSM2_CONF
softhsm_token "$H/hsm-ca" lk-ca 2718-ca >/dev/null || tb_fail "softhsm_token (CA)"
CA_CONF=$SOFTHSM2_CONF
unset SOFTHSM2_CONF
MASA_URI=$(softhsm_uri "$H/hsm-masa" lk-masa masa)
CA_URI=$(softhsm_uri "$H/hsm-ca" lk-ca domain-ca)
# The device's TPM.
swtpm_start "$H/tpm" >"$H/swtpm.out" || tb_fail "swtpm: $(cat "$H/swtpm.out")"
TCTI=$SWTPM_TCTI

ob_hook_lab() { softhsm_give "$H/hsm-masa" latchkey; }
ob_hook_init() { softhsm_give "$H/hsm-ca" latchkey-signer; }
OB_LABPKI_ARGS="--masa-key $MASA_URI --tpm $TCTI"
OB_MASA_KEY=$MASA_URI
OB_MASA_ENV="SOFTHSM2_CONF=$MASA_CONF"
OB_LABPKI_ENV=$OB_MASA_ENV
OB_INIT_ENV="SOFTHSM2_CONF=$CA_CONF"
OB_INIT_ARGS="--ca-key $CA_URI"
OB_REG_ENV="SOFTHSM2_CONF=$CA_CONF"
OB_ONBOARD_ARGS="--key-store tpm --tpm $TCTI"
# lab-pki generates in the MASA's token, init in the CA's.
ob_setup 1 2>"$H/setup.err" || tb_fail "set-up: $(tail -3 "$H/setup.err")"
ob_device dev 0
D=$TB_DIR/dev
S=$(ob_serial 0)
export D S H TCTI OB_S CA_CONF MASA_CONF SOFTHSM_MODULE
tb_log "test bed up after $((SECONDS - T0)) s"
tb_check_phase keys-made

ob_registrar_start
ob_dhcp dev
tb_wait_for "dev: BOUND" 40 ob_bound dev
tb_log "dev: bound $((SECONDS - T0)) s into the test"
tb_check_phase bound

# A renewal signs its TLS handshake and CSR with the TPM LDevID and makes the new key there.
tb_exec dev latchkey reenroll --out "$D/state" --tpm "$TCTI" -q >"$H/reenroll.out" 2>&1
echo "rc=$?" >>"$H/reenroll.out"
tb_check_phase renewed

# No private key of the four, anywhere: collect every PEM private key file under the test
# bed and compare public keys with the certificates'.
pubs_of_certs() {
	openssl x509 -in "$OB_S/reg/domain-ca.pem" -noout -pubkey
	openssl x509 -in "$OB_S/lab/masa.pem" -noout -pubkey
	openssl x509 -in "$D/factory/idevid.pem" -noout -pubkey
	openssl x509 -in "$D/state/ldevid.pem" -noout -pubkey
}
pubs_of_certs >"$H/hw-pubs.pem"
: >"$H/key-files"
while IFS= read -r -d '' f; do
	grep -q -- "-----BEGIN .*PRIVATE KEY-----" "$f" 2>/dev/null || continue
	echo "$f" >>"$H/key-files"
	p=$(openssl pkey -in "$f" -pubout 2>/dev/null) || continue	# TSS2 blobs do not load
	if grep -qxF -- "$(echo "$p" | sed -n 2p)" "$H/hw-pubs.pem"; then
		echo "$f" >>"$H/leaked"
	fi
done < <(find "$TB_DIR" -type f -size -64k -print0 2>/dev/null)
export KEYFILES=$H/key-files
tb_check_phase no-key-files

# The latch with a TPM LDevID: refused, clearly.
tb_exec dev latchkey latch --ldevid "$D/state" --peer "$OB_SERVER_IP" >"$H/latch.out" 2>&1
echo "rc=$?" >>"$H/latch.out"
tb_check_phase latch
tb_log "whole scenario $((SECONDS - T0)) s"
tb_done

#!/bin/bash
# The device's keys in a TPM 2.0 (issue #19), with a real software TPM (swtpm, unix socket,
# no network) and the tpm2-openssl provider: lab-pki --tpm provisions lab IDevIDs into the
# TPM; a MASA and a registrar (latchkeyd, file keys) run on loopback; `latchkey enroll
# --idevid-key <TSS2 blob> --key-store tpm` takes the voucher path (the voucher-request is
# signed by the TPM IDevID key, the TLS client handshake is made with it) and gets an
# LDevID whose key was generated in the TPM; `latchkey onboard` (zero-touch, DHCP option
# from an env file) binds another device with --key-store tpm and renews it; reenroll authenticates with the TPM LDevID
# and renews into the TPM again; `latchkey status` asks the registrar with the TPM LDevID
# and says where the key lives. The LDevID's public key is the TPM key's (tpm2-openssl
# reads it); `openssl verify` accepts the LDevID; afterwards every key file of the device
# is a TSS2 blob that openssl without the tpm2 provider cannot read, and no other private
# key file is in its directories. A persistent handle (handle:0x81...) works as IDevID key
# too. Errors: swtpm not running (exit 1, names the TCTI, nothing written), a key blob of
# another TPM (another swtpm state), --key-store tpm with no TPM configured, a bad handle.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
. "$LK_TOP/tests/tools/swtpm.sh"
for c in swtpm jq tpm2_evictcontrol; do
	command -v "$c" >/dev/null || { echo "$c not installed (swtpm, tpm2-tools)"; exit 77; }
done
PROV=$(openssl version -m | sed -E 's/^MODULESDIR: "(.*)"$/\1/')/tpm2.so
[ -f "$PROV" ] || { echo "tpm2-openssl not installed (no $PROV)"; exit 77; }
it_init
trap 'swtpm_stop_all; it_cleanup' EXIT
export TSS2_LOG=all+NONE	# tpm2-tools: no libtss2 warnings in the log

swtpm_start "$T/tpm" || exit 1
TCTI=$SWTPM_TCTI
tpm_pem() { head -1 "$1" | grep -qx -- '-----BEGIN TSS2 PRIVATE KEY-----'; }
# the public key of a TPM key file, as tpm2-openssl reads it
tpm_pub() { TPM2OPENSSL_TCTI=$TCTI openssl pkey -provider tpm2 -provider default -in "$1" -pubout; }

MASA_PORT=$(it_free_port)
MASA_URL=https://127.0.0.1:$MASA_PORT
latchkeyctl lab-pki --out "$T/lab" --devices 3 --masa-url "$MASA_URL" --tpm "$TCTI" \
    --json >"$T/lab.json" 2>"$T/labpki.err"
check "lab-pki --tpm exits 0" test $? = 0
S0=$(it_serial 0); D0=$(it_dev 0); S1=$(it_serial 1); D1=$(it_dev 1); S2=$(it_serial 2); D2=$(it_dev 2)
check "lab IDevID key is a TSS2 blob (0600)" \
    eval 'tpm_pem "$D0/idevid.key" && test "$(stat -c %a "$D0/idevid.key")" = 600'
check "openssl without the TPM cannot read the IDevID key" \
    eval '! openssl pkey -in "$D0/idevid.key" -noout 2>/dev/null'
check "the IDevID certificate holds the TPM key's public key" test \
    "$(openssl x509 -in "$D0/idevid.pem" -noout -pubkey)" = "$(tpm_pub "$D0/idevid.key")"
check "lab CA keys stay files" eval 'head -1 "$T/lab/manufacturer-ica.key" | grep -q "BEGIN PRIVATE KEY"'

bk_masa_start || exit 1
it_registrar "workers = 1" || exit 1
MDB=$T/masa/masa.db
latchkeyctl masa authorize --serial "$S0" --serial "$S1" --serial "$S2" \
    --domain-ca "$T/reg/domain-ca.pem" --masa-db "$MDB" >/dev/null
for s in "$S0" "$S1" "$S2"; do latchkeyctl --db "$DB" claim "$s" >/dev/null; done

# ---- the voucher path with both keys in the TPM ---------------------------------------
latchkey enroll -v --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --key-store tpm --tpm "$TCTI" --out "$T/dev0" --json >"$T/enroll0.json" 2>"$T/enroll0.err"
rc=$?
cat "$T/enroll0.err"
check "enroll (TPM IDevID, --key-store tpm, voucher) exits 0" test "$rc" = 0
check "progress names the TPM" grep -q "using the TPM at $TCTI" "$T/enroll0.err"
check "progress names the accepted voucher" grep -q "voucher accepted" "$T/enroll0.err"
check "the key was generated inside the TPM" grep -q "inside the TPM" "$T/enroll0.err"
check "JSON says key_store tpm" test "$(jq -r .key_store "$T/enroll0.json")" = tpm
check "enrollment.json says key_store tpm" test "$(jq -r .key_store "$T/dev0/enrollment.json")" = tpm
check "LDevID verifies against the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/dev0/ldevid.pem"
check "LDevID key file is a TSS2 blob, mode 0600" \
    eval 'tpm_pem "$T/dev0/ldevid.key" && test "$(stat -c %a "$T/dev0/ldevid.key")" = 600'
check "LDevID public key = the TPM key's public key" test \
    "$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -pubkey)" = "$(tpm_pub "$T/dev0/ldevid.key")"
check "the voucher is kept" test -s "$(jq -r .voucher "$T/enroll0.json")"
LSER=$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -serial | cut -d= -f2)
check "the registry holds the LDevID" test \
    "$(sql "SELECT count(*) FROM certificates WHERE upper(cert_serial)=upper('$LSER')")" = 1

# ---- reenroll authenticated by the TPM LDevID, the new key in the TPM again ------------
cp "$T/dev0/ldevid.key" "$T/old-ldevid.key"
latchkey reenroll -v --out "$T/dev0" --tpm "$TCTI" >"$T/reenroll.out" 2>&1
rc=$?
cat "$T/reenroll.out"
check "reenroll with the TPM LDevID exits 0" test "$rc" = 0
LSER2=$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -serial | cut -d= -f2)
check "reenroll issued a new LDevID" test "$LSER" != "$LSER2"
check "reenroll kept the key in the TPM (new blob)" \
    eval 'tpm_pem "$T/dev0/ldevid.key" && ! cmp -s "$T/dev0/ldevid.key" "$T/old-ldevid.key"'
check "renewed LDevID public key = the new TPM key's" test \
    "$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -pubkey)" = "$(tpm_pub "$T/dev0/ldevid.key")"
check "renewed LDevID verifies" openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/dev0/ldevid.pem"
check "the old LDevID was superseded by a TLS handshake with the new TPM key" \
    grep -q "registrar confirmed LDevID $LSER2" "$T/reenroll.out"
rm -f "$T/old-ldevid.key"
latchkey status --out "$T/dev0" --tpm "$TCTI" >"$T/status.out" 2>&1
rc=$?
cat "$T/status.out"
check "status with the TPM LDevID asks the registrar: active (exit 0)" \
    eval 'test "$rc" = 0 && grep -q "binding    active" "$T/status.out"'
check "status says the key is in the TPM" grep -q "^key        tpm (inside the TPM at $TCTI" "$T/status.out"
check "status --json key_store tpm" test \
    "$(latchkey status --out "$T/dev0" --offline --json | jq -r .key_store)" = tpm

# latch (charon over VICI) cannot use a TPM LDevID: one clear line, exit 1
latchkey latch --peer 127.0.0.1 --ldevid "$T/dev0" >"$T/latch.out" 2>&1
rc=$?
cat "$T/latch.out"
check "latch with a TPM LDevID: exit 1, says it needs a key file" \
    eval 'test "$rc" = 1 && grep -q "is a TPM key; the latch needs the LDevID key as a file" "$T/latch.out"'

# ---- a persistent handle as the IDevID key; the LDevID key in a file on request --------
# tpm2-tools makes an ECDSA P-256 key under the owner's primary and persists it (no
# resource manager: flush the transient objects between the steps)
tt() { TPM2TOOLS_TCTI=$TCTI "$@" >/dev/null 2>&1 && swtpm_flush "$TCTI"; }
swtpm_flush "$TCTI"
tt tpm2_createprimary -Q -C o -g sha256 -G ecc -c "$T/p.ctx" &&
    tt tpm2_create -Q -C "$T/p.ctx" -G ecc256:ecdsa -u "$T/h.pub" -r "$T/h.priv" &&
    tt tpm2_load -Q -C "$T/p.ctx" -u "$T/h.pub" -r "$T/h.priv" -c "$T/h.ctx" &&
    tt tpm2_evictcontrol -Q -C o -c "$T/h.ctx" 0x81000011
check "tpm2-tools made a persistent key at 0x81000011" test $? = 0
rm -f "$T/p.ctx" "$T/h.ctx" "$T/h.priv"
# An IDevID for it: the handle's public key in a certificate is outside lab-pki; a
# mismatch is what the agent must catch. Device 1's certificate is not for this key:
latchkey enroll --server "$URL" --idevid "$D1/idevid.pem" --idevid-key handle:0x81000011 \
    --tpm "$TCTI" --ca "$T/reg/domain-ca.pem" --out "$T/devh" >"$T/devh.out" 2>&1
rc=$?
cat "$T/devh.out"
check "handle key: loaded from the TPM, refused as not the IDevID's key (exit 1)" \
    eval 'test "$rc" = 1 && grep -q "does not belong to" "$T/devh.out"'
check "handle key: nothing written" test ! -e "$T/devh"

# A factory-style IDevID for the persistent key: the CSR signed by the handle
# (tpm2-openssl), the certificate by the lab's IDevID issuing CA, leaf + CA as the chain.
SH=LKHANDLE0001
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid" >"$T/h.ext"
TPM2OPENSSL_TCTI=$TCTI openssl req -new -provider tpm2 -provider default \
    -key handle:0x81000011 -subj "/serialNumber=$SH/CN=$SH" -out "$T/h.csr" 2>/dev/null &&
openssl x509 -req -in "$T/h.csr" -CA "$T/lab/manufacturer-ica.pem" \
    -CAkey "$T/lab/manufacturer-ica.key" -CAcreateserial -days 30 -extfile "$T/h.ext" \
    -out "$T/h.pem" 2>/dev/null && cat "$T/lab/manufacturer-ica.pem" >>"$T/h.pem"
latchkeyctl --db "$DB" claim "$SH" >/dev/null
latchkey enroll --server "$URL" --idevid "$T/h.pem" --idevid-key handle:0x81000011 \
    --tpm "$TCTI" --key-store tpm --ca "$T/reg/domain-ca.pem" --out "$T/devh2" \
    >"$T/devh2.out" 2>&1
rc=$?
cat "$T/devh2.out"
check "IDevID key at a persistent handle: enroll exits 0, LDevID verifies" eval \
    'test "$rc" = 0 && openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/devh2/ldevid.pem" >/dev/null'

# Device 1 with its TPM IDevID, the LDevID key as a file (--key-store file), --ca path.
latchkey enroll --server "$URL" --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" \
    --tpm "$TCTI" --key-store file --ca "$T/reg/domain-ca.pem" --out "$T/dev1" \
    >"$T/dev1.out" 2>&1
rc=$?
cat "$T/dev1.out"
check "TPM IDevID + file LDevID key (--ca) exits 0" test "$rc" = 0
check "--key-store file wrote a PKCS#8 key" \
    eval 'head -1 "$T/dev1/ldevid.key" | grep -qx -- "-----BEGIN PRIVATE KEY-----"'
check "status says a file key is a file" eval \
    'latchkey status --out "$T/dev1" --offline | grep -q "^key        file"'
rm -rf "$T/dev1"

# ---- zero-touch: latchkey onboard (DHCP option 143 from an env file) with TPM keys ------
printf 'LATCHKEY_DHCP_FAMILY=4\nLATCHKEY_DHCP_SZTP=%04x%s\n' "${#URL}" \
    "$(printf %s "$URL" | xxd -p | tr -d '\n')" >"$T/dhcp.env"
latchkey onboard --state-dir "$T/ob2" --idevid "$D2/idevid.pem" --idevid-key "$D2/idevid.key" \
    --masa-anchor "$D2/masa-anchor.pem" --dhcp-env "$T/dhcp.env" --no-mdns --max-backoff 1 \
    --timeout 20 --key-store tpm --tpm "$TCTI" --json >"$T/ob2.json" 2>"$T/ob2.err"
rc=$?
cat "$T/ob2.err"
check "onboard with TPM keys: bound (exit 0)" \
    eval 'test "$rc" = 0 && test "$(jq -r .result "$T/ob2.json")" = bound'
check "onboard: the LDevID key is a TPM blob whose public key is the LDevID's" eval \
    'tpm_pem "$T/ob2/ldevid.key" && test "$(openssl x509 -in "$T/ob2/ldevid.pem" -noout -pubkey)" = "$(tpm_pub "$T/ob2/ldevid.key")"'
OSER=$(openssl x509 -in "$T/ob2/ldevid.pem" -noout -serial | cut -d= -f2)
latchkey onboard --state-dir "$T/ob2" --idevid "$D2/idevid.pem" --idevid-key "$D2/idevid.key" \
    --renew --force --tpm "$TCTI" >"$T/ob2r.out" 2>&1
rc=$?
cat "$T/ob2r.out"
check "onboard --renew with the TPM LDevID: exit 0, new LDevID, key still in the TPM" eval \
    'test "$rc" = 0 && test "$(openssl x509 -in "$T/ob2/ldevid.pem" -noout -serial | cut -d= -f2)" != "$OSER" && tpm_pem "$T/ob2/ldevid.key"'

# ---- no unwrapped private key of the device's keys on disk ----------------------------
leaks=0
for f in $(find "$T/dev0" "$D0" "$T/ob2" "$D2" -type f); do
	if grep -q "PRIVATE KEY" "$f"; then
		tpm_pem "$f" || { echo "not a TSS2 blob: $f"; leaks=1; }
		openssl pkey -in "$f" -noout 2>/dev/null && { echo "readable without the TPM: $f"; leaks=1; }
	fi
done
check "every private key file of devices 0 and 2 is a TSS2 blob openssl cannot read alone" test "$leaks" = 0

# ---- error cases ------------------------------------------------------------------------
# a) another TPM: device 2's IDevID blob belongs to the first TPM, not to a second swtpm
swtpm_start "$T/tpm2" || exit 1
TCTI2=$SWTPM_TCTI
latchkey enroll --server "$URL" --idevid "$D2/idevid.pem" --idevid-key "$D2/idevid.key" \
    --key-store tpm --tpm "$TCTI2" --out "$T/dev2" >"$T/other.out" 2>&1
rc=$?
cat "$T/other.out"
check "key of another TPM: exit 1" test "$rc" = 1
check "key of another TPM: the error names the TPM and the key" \
    grep -q "the TPM at $TCTI2 cannot load this key" "$T/other.out"
check "key of another TPM: nothing written" test ! -e "$T/dev2"
swtpm_stop "$T/tpm2"

# b) swtpm not running: one clear line naming the TCTI, exit 1, no key file
swtpm_stop "$T/tpm"
latchkey enroll --server "$URL" --idevid "$D2/idevid.pem" --idevid-key "$D2/idevid.key" \
    --key-store tpm --tpm "$TCTI" --out "$T/dev2" >"$T/down.out" 2>&1
rc=$?
cat "$T/down.out"
check "TPM down: exit 1" test "$rc" = 1
check "TPM down: the error names the TCTI" grep -q "TPM unavailable through TCTI $TCTI" "$T/down.out"
check "TPM down: one line" test "$(wc -l <"$T/down.out")" = 1
check "TPM down: no key file created" test ! -e "$T/dev2"
latchkey reenroll --out "$T/dev0" --tpm "$TCTI" >"$T/down2.out" 2>&1
rc=$?
check "TPM down: reenroll of a TPM LDevID fails (exit 1), no file-key fall-back" \
    eval 'test "$rc" = 1 && grep -q "TPM unavailable" "$T/down2.out" && tpm_pem "$T/dev0/ldevid.key"'
latchkey status --out "$T/dev0" --tpm "$TCTI" >"$T/sdown.out" 2>&1
rc=$?
check "TPM down: status exit 1 naming the TCTI" \
    eval 'test "$rc" = 1 && grep -q "TPM unavailable through TCTI $TCTI" "$T/sdown.out"'
check "TPM down: the LDevID stays the renewed one" test \
    "$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -serial | cut -d= -f2)" = "$LSER2"
latchkeyctl lab-pki --out "$T/lab2" --devices 1 --tpm "$TCTI" >"$T/labdown.out" 2>&1
rc=$?
check "TPM down: lab-pki --tpm exit 1 naming the TCTI" \
    eval 'test "$rc" = 1 && grep -q "TPM unavailable through TCTI $TCTI" "$T/labdown.out"'

# c) --key-store tpm with no TPM configured (no --tpm, no TPM2OPENSSL_TCTI, no /dev/tpmrm0)
if [ ! -e /dev/tpmrm0 ]; then
	env -u TPM2OPENSSL_TCTI latchkey enroll --server "$URL" --idevid "$T/lab/devices/$S2/idevid.pem" \
	    --idevid-key "$T/lab/manufacturer-ica.key" --key-store tpm --ca "$T/reg/domain-ca.pem" \
	    --out "$T/dev3" >"$T/none.out" 2>&1
	rc=$?
	cat "$T/none.out"
	check "no TPM configured: exit 1" test "$rc" = 1
	check "no TPM configured: the error says so" grep -q "no TPM configured" "$T/none.out"
	check "no TPM configured: nothing written" test ! -e "$T/dev3"
else
	ok "no TPM configured: skipped (this host has /dev/tpmrm0)"
fi

# d) a malformed handle and a non-persistent one are refused before anything happens
latchkey enroll --server "$URL" --idevid "$D2/idevid.pem" --idevid-key handle:0x80000001 \
    --tpm "$TCTI" --ca "$T/reg/domain-ca.pem" --out "$T/dev4" >"$T/h.out" 2>&1
rc=$?
check "transient handle refused (exit 1, names the range)" \
    eval 'test "$rc" = 1 && grep -q "0x81000000 to 0x81FFFFFF" "$T/h.out"'
check "transient handle: nothing written" test ! -e "$T/dev4"
it_done

#!/bin/bash
# The MASA anchors are scoped per manufacturer (trust-model issue, item 12): without
# masa-ca, a registrar that trusts manufacturers A and B verifies a voucher for A's device
# only under A's own anchors. Manufacturer B's MASA (reached through the global masa-url,
# which serves IDevIDs without id-pe-masa-url) signs a voucher for A's device: the
# registrar refuses to relay it and stores nothing. A's own MASA then vouches as usual.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }

MASA_PORT=$(it_free_port)
MASA_URL=https://127.0.0.1:$MASA_PORT
latchkeyctl lab-pki --out "$T/lab" --devices 1 --json >"$T/lab.json" ||
    { echo "lab-pki A failed"; exit 1; }
latchkeyctl lab-pki --out "$T/labB" --devices 1 --json >"$T/labB.json" ||
    { echo "lab-pki B failed"; exit 1; }
S0=$(it_serial 0); D0=$(it_dev 0)
L=$T/lab; LB=$T/labB

# The MASA's TLS certificate comes from A's root either way (bk_masa_conf), and the MASA
# takes A's pledges: what is tested is who signs the voucher.
bk_masa_conf "$LB/masa.pem" "$LB/masa.key"
bk_masa_start || exit 1
it_registrar "manufacturer-ca = $LB/manufacturer-ca.pem" "masa-url = $MASA_URL" \
    "masa-retry-after = 1" "masa-timeout = 3" "workers = 1" || exit 1
check "masa authorize $S0" latchkeyctl masa authorize --serial "$S0" \
    --domain-ca "$T/reg/domain-ca.pem" --masa-db "$T/masa/masa.db"
latchkeyctl --db "$DB" claim "$S0" >/dev/null
check "B's MASA chains to a manufacturer the registrar trusts (B's root)" openssl verify \
    -CAfile "$LB/manufacturer-ca.pem" -untrusted "$LB/masa.pem" "$LB/masa.pem"

latchkey enroll --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --timeout 15 --out "$T/dev0" >"$T/e0.out" 2>&1
rc=$?; cat "$T/e0.out"
check "B-signed voucher for A's device: enroll exits 1" test "$rc" = 1
check "B-signed voucher: the registrar relays nothing (HTTP 502)" grep -q "HTTP 502" "$T/e0.out"
check "B-signed voucher: not stored by the registrar" \
    test "$(sql "SELECT count(*) FROM vouchers WHERE serial='$S0'")" = 0
check "B-signed voucher: refusal audited" test "$(sql "SELECT count(*) FROM audit WHERE \
    action='voucher-refused' AND subject='$S0' AND reason LIKE '%voucher is not acceptable%'")" -ge 1
check "B-signed voucher: no binding" \
    test "$(sql "SELECT count(*) FROM bindings WHERE serial='$S0'")" = 0

# A's own MASA: the same device enrolls with two manufacturers configured.
bk_masa_stop
bk_masa_conf "$L/masa.pem" "$L/masa.key"
bk_masa_start || exit 1
latchkey enroll --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --timeout 30 --out "$T/dev0" >"$T/e1.out" 2>&1
rc=$?; cat "$T/e1.out"
check "A-signed voucher: enroll exits 0" test "$rc" = 0
check "A-signed voucher: stored" test "$(sql "SELECT count(*) FROM vouchers WHERE serial='$S0'")" = 1
check "A-signed voucher: binding active" \
    test "$(sql "SELECT state FROM bindings WHERE serial='$S0'")" = active
it_done

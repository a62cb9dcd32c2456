#!/bin/bash
# The admission read on a PostgreSQL registry (#18): latchkeyd parks each simpleenroll whose
# IDevID verified and, at the end of the event loop's pass, asks the registry about all of
# them in one round trip (registry_admission_many), then signs the admitted ones. Every
# answer must reach its own request:
#   - 16 devices, 8 of them claimed, under 16 concurrent clients (bench_enroll, 320
#     enrollments): certificates for the claimed devices only, every claimed device
#     enrolled, one certificate per answered enrollment, the others refused with 403
#     "not claimed" (each audited), the audit chain intact;
#   - refusals through the parked path, each with its reason: a revoked binding, a claim
#     for another manufacturer, an IDevID of an unknown manufacturer (refused before it
#     is parked);
#   - pending = yes: an unclaimed device gets 202 (latchkey enroll exits 3) and a pending
#     row, and enrolls once approved.
# No server to start (PostgreSQL not installed): this fails.
. "$(dirname "$0")/lib.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
BENCH=$LK_BIN/bench/bench_enroll
[ -x "$BENCH" ] || { echo "FAIL $BENCH missing (make all builds it)"; exit 1; }
it_pg lk_adm

it_pki 16
it_registrar "registry = $PGDB" || exit 1
jq -r '.devices[] | "\(.serial) \(.cert) \(.key)"' "$T/lab.json" >"$T/devs"
for i in 0 2 4 6 8 10 12 14; do it_serial "$i"; done >"$T/claimed"
latchkeyctl --db "$DB" claim --file "$T/claimed" >/dev/null
check "8 of the 16 devices claimed" test "$(sql "SELECT count(*) FROM claims")" = 8

# ---- 16 clients, half of them unclaimed ---------------------------------------------------
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$BENCH" load 127.0.0.1 "$PORT" 60 \
    16 "$T/reg/domain-ca.pem" "$T/devs" 320 >"$T/load.out" 2>"$T/load.err"
cat "$T/load.out"
ok_n=$(awk '{print $2}' "$T/load.out")
err_n=$(sed -n 's/.* errors \([0-9]*\).*/\1/p' "$T/load.out")
check "320 enrollments answered (${ok_n:-?} issued, ${err_n:-?} refused)" \
    test "$((ok_n + err_n))" = 320
check "the unclaimed half was refused" test "${err_n:-0}" -gt 0
check "... with 403 not claimed" grep -q "HTTP/1.1 403.*" "$T/load.err"
check "... and nothing else" sh -c "! grep -v 'HTTP/1.1 403' '$T/load.err' | grep -q 'HTTP/1.1'"
sql "SELECT DISTINCT device_serial FROM certificates ORDER BY 1" >"$T/issued"
check "certificates for the claimed devices only, each of them" \
    test "$(sort "$T/claimed")" = "$(cat "$T/issued")"
check "one certificate per issued enrollment" \
    test "$(sql "SELECT count(*) FROM certificates")" = "$ok_n"
check "every refusal audited (enroll-refused, not claimed)" \
    test "$(sql "SELECT count(*) FROM audit WHERE action = 'enroll-refused' AND reason LIKE \
    '%is not claimed by domain%'")" = "$err_n"
check "one active binding per claimed device" \
    test "$(sql "SELECT count(*) FROM bindings WHERE state = 'active'")" = 8
check "audit --verify" latchkeyctl --db "$DB" audit --verify --ca "$T/reg/domain-ca.pem"

# ---- refusals through the parked path -----------------------------------------------------------
S0=$(it_serial 0); S1=$(it_serial 1); S3=$(it_serial 3)
latchkeyctl --db "$DB" revoke "$S0" --reason keyCompromise >/dev/null
it_enroll_dev 0 "$T/d0" >"$T/e0.out" 2>&1; rc=$?
cat "$T/e0.out"
check "a revoked device is refused (exit 1)" test "$rc" = 1
check "... naming the revocation" grep -q "binding of $S0 revoked: keyCompromise" "$T/e0.out"
latchkeyctl lab-pki --out "$T/lab2" --devices 1 --json >"$T/lab2.json"
latchkeyctl --db "$DB" claim "$S1" --manufacturer "$T/lab2/manufacturer-ca.pem" >/dev/null
it_enroll_dev 1 "$T/d1" >"$T/e1.out" 2>&1; rc=$?
cat "$T/e1.out"
check "a device claimed for another manufacturer is refused (exit 1)" test "$rc" = 1
check "... saying so" grep -q "claimed for another manufacturer" "$T/e1.out"
D2=$(dirname "$(jq -r '.devices[0].cert' "$T/lab2.json")")
latchkey enroll --server "$URL" --idevid "$D2/idevid.pem" --idevid-key "$D2/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/dx" >"$T/ex.out" 2>&1; rc=$?
cat "$T/ex.out"
check "an IDevID of an unknown manufacturer is refused (exit 1)" test "$rc" = 1
check "... as such" grep -qi "certificate\|issuer\|verify" "$T/ex.out"
check "none of the three got a certificate" test "$(sql "SELECT count(*) FROM certificates \
    WHERE device_serial IN ('$S1', '$(jq -r '.devices[0].serial' "$T/lab2.json")') OR \
    (device_serial = '$S0' AND issued_at > (SELECT revoked_at FROM bindings WHERE \
    serial = '$S0' AND state = 'revoked'))")" = 0

# ---- approvals (pending = yes) ----------------------------------------------------------------
it_stop_registrar
it_conf_set "$T/reg/latchkeyd.conf" "pending = yes"
it_conf_set "$T/reg/latchkeyd.conf" "pending-retry-after = 1"
it_registrar || exit 1
it_enroll_dev 3 "$T/d3" >"$T/e3.out" 2>&1; rc=$?
cat "$T/e3.out"
check "pending = yes: an unclaimed device waits (exit 3)" test "$rc" = 3
check "... for an administrator's approval (HTTP 202)" grep -q "HTTP 202" "$T/e3.out"
check "... recorded as pending" test "$(sql "SELECT state FROM pending WHERE serial = '$S3'")" = pending
check "approve $S3" latchkeyctl --db "$DB" approve "$S3"
it_enroll_dev 3 "$T/d3" >"$T/e3b.out" 2>&1
check "once approved it enrolls" test $? = 0
check "... with an LDevID of the domain" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/d3/ldevid.pem"
check "audit --verify at the end" latchkeyctl --db "$DB" audit --verify --ca "$T/reg/domain-ca.pem"
it_done

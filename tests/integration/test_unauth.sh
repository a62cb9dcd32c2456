#!/bin/bash
# Unauthenticated requests write nothing permanent (DESIGN.md, Trust model). Bursts of
# BRSKI requests without a client certificate, and with a certificate from a CA nobody
# trusts, against the registrar (/.well-known/brski/requestvoucher, voucher_status) and the
# MASA (requestvoucher, requestauditlog): every one is refused, neither audit table grows,
# and the logs carry at most about one line a second about them, with the number held back.
# A refusal to an authenticated actor (a verified IDevID; a registrar under a sold domain)
# is still audited.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
command -v sqlite3 >/dev/null || { echo "sqlite3 not installed"; exit 77; }

N=200
MASA_PORT=$(it_free_port)
MASA_URL=https://127.0.0.1:$MASA_PORT
latchkeyctl lab-pki --out "$T/lab" --devices 2 --masa-url "$MASA_URL" --json >"$T/lab.json" ||
    { echo "lab-pki failed"; exit 1; }
S0=$(it_serial 0); D0=$(it_dev 0); S1=$(it_serial 1); D1=$(it_dev 1)
bk_masa_start || exit 1
it_registrar "masa-timeout = 3" "workers = 1" || exit 1
MDB=$T/masa/masa.db
msql() { sqlite3 -readonly "$MDB" "$1"; }
latchkeyctl masa authorize --serial "$S0" --domain-ca "$T/reg/domain-ca.pem" --masa-db "$MDB" \
    >/dev/null || { echo "masa authorize failed"; exit 1; }
latchkeyctl --db "$DB" claim "$S0" >/dev/null

# A client certificate from a CA nobody here trusts.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$T/rogue.key" -subj "/CN=rogue" -out "$T/rogue.pem" 2>/dev/null
head -c 300 /dev/urandom >"$T/junk.bin"
# Well-formed requests signed by the rogue key: a pledge's for S0, a registrar's for S0.
bk_pvr "$S0" n1 "$T/reg/registrar.pem" "$T/rogue.pem" "$T/rogue.key" "$T/rogue_pvr.cms"
bk_rvr "$S0" "" "$T/rogue.pem" "$T/rogue.key" "$T/rogue_rvr.cms"

# burst BASE OP BODY CACERT [CERT KEY]: N POSTs over one connection; prints the status
# codes, one a line.
burst() {
	local base=$1 op=$2 body=$3 ca=$4 i
	local cert=() cfg=$T/burst.cfg
	[ -n "${5:-}" ] && cert=(--cert "$5" --key "$6")
	for ((i = 0; i < N; i++)); do
		printf 'url = "%s/.well-known/brski/%s"\noutput = "/dev/null"\n' "$base" "$op"
	done >"$cfg"
	curl -s -K "$cfg" --cacert "$ca" "${cert[@]}" -H "Content-Type: $VOUCHER_CT" \
	    --data-binary @"$body" -w '%{http_code}\n'
}
# all_are CODE FILE: FILE has N lines, each CODE
all_are() { test "$(sort "$2" | uniq -c | awk '{print $1 "x" $2}')" = "${N}x$1"; }
loglines() { grep -c "$1" "$2" 2>/dev/null || true; }

a0=$(sql "SELECT count(*) FROM audit")
m0=$(msql "SELECT count(*) FROM audit")
r0=$(loglines "brski: refused" "$T/latchkeyd.log")
q0=$(loglines "masa: refused" "$T/masa.log")
start=$(date +%s)

RCA=$T/reg/domain-ca.pem
MCA=$T/lab/manufacturer-ca.pem
burst "$URL" requestvoucher "$T/junk.bin" "$RCA" >"$T/c1"
check "registrar, no certificate: $N x 401" all_are 401 "$T/c1"
burst "$URL" requestvoucher "$T/rogue_pvr.cms" "$RCA" "$T/rogue.pem" "$T/rogue.key" >"$T/c2"
check "registrar, unknown CA: $N x 403" all_are 403 "$T/c2"
printf '{"version":"1","status":true}' >"$T/st.json"
for ((i = 0; i < N; i++)); do
	printf 'url = "%s/.well-known/brski/voucher_status"\noutput = "/dev/null"\n' "$URL"
done >"$T/st.cfg"
curl -s -K "$T/st.cfg" --cacert "$RCA" -H "Content-Type: application/json" \
    --data-binary @"$T/st.json" -w '%{http_code}\n' >"$T/c3"
check "registrar voucher_status, no certificate: $N x 401" all_are 401 "$T/c3"
burst "$MASA_URL" requestvoucher "$T/junk.bin" "$MCA" >"$T/c4"
check "MASA, no certificate: $N x 401" all_are 401 "$T/c4"
burst "$MASA_URL" requestvoucher "$T/junk.bin" "$MCA" "$T/rogue.pem" "$T/rogue.key" >"$T/c5"
check "MASA, unknown CA, junk: $N x 400" all_are 400 "$T/c5"
burst "$MASA_URL" requestvoucher "$T/rogue_rvr.cms" "$MCA" "$T/rogue.pem" "$T/rogue.key" >"$T/c6"
check "MASA, unknown CA, signed request: $N x 403" all_are 403 "$T/c6"
burst "$MASA_URL" requestauditlog "$T/rogue_rvr.cms" "$MCA" "$T/rogue.pem" "$T/rogue.key" >"$T/c7"
check "MASA auditlog, unknown CA: $N x 403" all_are 403 "$T/c7"
secs=$(( $(date +%s) - start + 1 ))

check "registrar audit did not grow ($a0 -> $(sql "SELECT count(*) FROM audit"))" \
    test "$(sql "SELECT count(*) FROM audit")" = "$a0"
check "MASA audit did not grow ($m0 -> $(msql "SELECT count(*) FROM audit"))" \
    test "$(msql "SELECT count(*) FROM audit")" = "$m0"
r1=$(loglines "brski: refused" "$T/latchkeyd.log")
q1=$(loglines "masa: refused" "$T/masa.log")
echo "# $((3 * N)) registrar and $((4 * N)) MASA refusals in $secs s:" \
    "$((r1 - r0)) and $((q1 - q0)) log lines"
check "registrar log: at most one line a second" test $((r1 - r0)) -le $((secs + 1))
check "MASA log: at most one line a second" test $((q1 - q0)) -le $((secs + 1))

# The next line, a second later, says how many were held back.
sleep 1.1
curl -s -o /dev/null --cacert "$RCA" -H "Content-Type: $VOUCHER_CT" --data-binary @"$T/junk.bin" \
    "$URL/.well-known/brski/requestvoucher"
curl -s -o /dev/null --cacert "$MCA" -H "Content-Type: $VOUCHER_CT" --data-binary @"$T/junk.bin" \
    "$MASA_URL/.well-known/brski/requestvoucher"
check "registrar log counts the held-back refusals" \
    wait_until 5 grep -Eq "brski: refused.*\(([0-9]{3,}) more unauthenticated refusals not logged\)" "$T/latchkeyd.log"
check "MASA log counts the held-back refusals" \
    wait_until 5 grep -Eq "masa: refused.*\(([0-9]{3,}) more unauthenticated refusals not logged\)" "$T/masa.log"
check "still no registrar audit row" test "$(sql "SELECT count(*) FROM audit")" = "$a0"
check "still no MASA audit row" test "$(msql "SELECT count(*) FROM audit")" = "$m0"

# Authenticated actors are still audited: a verified IDevID of an unclaimed device at the
# registrar; at the MASA our registrar (under a domain CA sold S0) with a bad request, and a
# pledge's verified request for a serial nobody bought.
bk_pvr "$S1" n2 "$T/reg/registrar.pem" "$D1/idevid.pem" "$D1/idevid.key" "$T/pvr1.cms"
bk_post_reg "$T/pvr1.cms" "$D1/idevid.pem" "$D1/idevid.key" requestvoucher "$VOUCHER_CT" >"$T/p.out"
check "registrar: unclaimed device: 403" test "$(head -1 "$T/p.out")" = 403
check "registrar: unclaimed device: audited" test \
    "$(sql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND subject='$S1'")" = 1
bk_rvr "$S0" "" "$T/rogue.pem" "$T/rogue.key" "$T/rvr_other.cms"
bk_post_masa "$T/rvr_other.cms" "$T/reg/registrar.pem" "$T/reg/registrar.key" requestvoucher >"$T/m.out"
check "MASA: our registrar, request signed by another key: 403" test "$(head -1 "$T/m.out")" = 403
check "MASA: our registrar, request signed by another key: audited" test \
    "$(msql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND reason LIKE '%different key%'")" = 1
latchkeyctl --db "$DB" claim "$S1" >/dev/null
latchkey enroll --server "$URL" --idevid "$D1/idevid.pem" --idevid-key "$D1/idevid.key" \
    --out "$T/dev1" >"$T/e1.out" 2>&1
check "MASA: no sales record: refused" grep -q "403.*MASA refused.*no sales record" "$T/e1.out"
check "MASA: no sales record (verified pledge): audited" test \
    "$(msql "SELECT count(*) FROM audit WHERE action='voucher-refused' AND subject='$S1'")" = 1

check "registrar audit chain verifies" latchkeyctl --db "$DB" audit --verify
check "latchkeyd still running" kill -0 "$LKD_PID"
check "MASA still running" kill -0 "$MASA_PID"
it_done

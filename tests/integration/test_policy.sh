#!/bin/bash
# Registrar policy: several manufacturers configured at once; the lab policy auto-accept
# enrolls an unclaimed device of the named manufacturer (logged and audited as such) and
# nobody else's; `latchkeyd -n` checks a configuration and names the bad line.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 2
S0=$(it_serial 0); D0=$(it_dev 0)
latchkeyctl lab-pki --out "$T/m2" --devices 1 --json >"$T/m2.json"
S2=$(jq -r '.devices[0].serial' "$T/m2.json"); D2=$(dirname "$(jq -r '.devices[0].cert' "$T/m2.json")")
CN=$(openssl x509 -in "$T/lab/manufacturer-ca.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')
# Both lab manufacturers have the same root CA name: auto-accept must tell them apart by key.
it_registrar "manufacturer-ca = $T/m2/manufacturer-ca.pem" "auto-accept = manufacturer-ca.pem" || exit 1

# Manufacturer 1 is auto-accepted: no claim needed.
check "auto-accepted device enrolls without a claim" latchkey enroll --server "$URL" \
    --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/d0"
check "binding says auto-accept" test "$(sql "SELECT authorized_by FROM bindings WHERE serial='$S0'")" = "auto-accept:$CN"
check "audit records the auto-accept" test "$(sql "SELECT count(*) FROM audit WHERE action='enroll' AND subject='$S0' AND details LIKE '%auto-accept%'")" = 1
check "log records the lab policy" grep -q "auto-accepting $S0 by lab policy" "$T/latchkeyd.log"

# Manufacturer 2 is trusted but not auto-accepted: a claim is needed.
latchkey enroll --server "$URL" --idevid "$D2/idevid.pem" --idevid-key "$D2/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/d2" >"$T/d2.out" 2>&1
check "second manufacturer, unclaimed: refused" grep -q "403.*not claimed" "$T/d2.out"
latchkeyctl --db "$DB" claim "$S2" >/dev/null
check "second manufacturer, claimed: enrolls" latchkey enroll --server "$URL" \
    --idevid "$D2/idevid.pem" --idevid-key "$D2/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/d2"
check "its binding says claim" test "$(sql "SELECT authorized_by FROM bindings WHERE serial='$S2'")" = "claim"

# latchkeyd -n
check "latchkeyd -n accepts the configuration" latchkeyd -n -f "$T/reg/latchkeyd.conf"
cp "$T/reg/latchkeyd.conf" "$T/reg/bad.conf"
it_conf_set "$T/reg/bad.conf" "channel-binding = sometimes"
n=$(wc -l <"$T/reg/bad.conf")
out=$(latchkeyd -n -f "$T/reg/bad.conf" 2>&1); rc=$?
check "latchkeyd -n rejects a bad line (exit 1)" test "$rc" = 1
check "the error names file and line" grep -q "bad.conf:$n: channel-binding" <<<"$out"
# a keyword that is not a list one, given twice: both lines named (latchkeyd.conf(5))
cp "$T/reg/latchkeyd.conf" "$T/reg/dup.conf"
echo "listen = 127.0.0.1:1" >>"$T/reg/dup.conf"
n=$(wc -l <"$T/reg/dup.conf")
first=$(grep -n '^listen = ' "$T/reg/dup.conf" | head -1 | cut -d: -f1)
out=$(latchkeyd -n -f "$T/reg/dup.conf" 2>&1); rc=$?
check "latchkeyd -n rejects a second listen (exit 1)" test "$rc" = 1
check "... naming both lines ($out)" \
    grep -q "dup.conf:$n: listen is already set on line $first" <<<"$out"
it_done

#!/bin/bash
# latchkeyctl's small items (issue #17):
#   1. init --san and the wildcard --listen: no unspecified address (0.0.0.0, ::) ever goes
#      into the registrar certificate's subjectAltName; --san names are checked; without
#      --san a wildcard --listen gives this host's names (and says so); a registrar made so
#      serves TLS that verifies for 127.0.0.1 and localhost; --reissue-registrar-cert takes
#      --san and drops an old certificate's 0.0.0.0.
#   2. revoke reasons in any case, recorded and printed in RFC 5280's spelling.
#   3. lab-pki writes the MASA's TLS certificate (root-signed, serverAuth, key 0600, SAN
#      from --san and --masa-url), which the MASA of bk_masa_conf serves.
#   4. lab-pki --add: more devices for an existing lab, the old ones untouched; progress on
#      stderr for long runs only; -q.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/brski_helpers.sh"
it_init
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }

san() { openssl x509 -in "$1" -noout -ext subjectAltName | tail -n +2 | sed 's/^ *//'; }
it_pki 1 || { echo "lab-pki failed"; exit 1; }
MCA=$T/lab/manufacturer-ca.pem

# --- 1. init --san, wildcard --listen ---------------------------------------------------
P=$(it_free_port)
latchkeyctl init --domain example.test --dir "$T/w" --manufacturer-ca "$MCA" \
    --listen "0.0.0.0:$P" >"$T/w.out" 2>"$T/w.err"
check "init --listen 0.0.0.0: exit 0" test $? = 0
s=$(san "$T/w/registrar.pem")
check "wildcard listen: no 0.0.0.0 in the SAN ($s)" sh -c "! echo '$s' | grep -q '0\.0\.0\.0'"
check "wildcard listen: localhost, 127.0.0.1, ::1 and registrar.DOMAIN in the SAN" sh -c \
    "echo '$s' | grep -q 'DNS:localhost' && echo '$s' | grep -q 'IP Address:127.0.0.1' &&
     echo '$s' | grep -q 'IP Address:0:0:0:0:0:0:0:1' &&
     echo '$s' | grep -q 'DNS:registrar.example.test'"
check "wildcard listen: a note says which names were used" \
    grep -q "wildcard address.*localhost, 127.0.0.1, ::1.*give --san" "$T/w.err"
check "wildcard listen: init prints the names" grep -q "^registrar TLS names .*IP:127.0.0.1" \
    "$T/w.out"
check "wildcard listen: no 0.0.0.0 in the CRL and OCSP URLs" \
    sh -c "! grep -E '^(crl|ocsp)-url' '$T/w/latchkeyd.conf' | grep -q 0.0.0.0"
check "wildcard listen: latchkeyd listens on the wildcard" \
    grep -q "^listen = 0.0.0.0:$P\$" "$T/w/latchkeyd.conf"
latchkeyd -d -v -f "$T/w/latchkeyd.conf" >>"$T/w-latchkeyd.log" 2>&1 &
WPID=$!
IT_PIDS+=("$WPID")
wait_until 10 curl -s -o /dev/null --cacert "$T/w/domain-ca.pem" \
    "https://127.0.0.1:$P/.well-known/est/cacerts"
check "wildcard registrar: TLS verifies for 127.0.0.1" curl -sf -o /dev/null \
    --cacert "$T/w/domain-ca.pem" "https://127.0.0.1:$P/.well-known/est/cacerts"
check "wildcard registrar: TLS verifies for localhost" curl -sf -o /dev/null \
    --cacert "$T/w/domain-ca.pem" "https://localhost:$P/.well-known/est/cacerts"
kill -TERM "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null

latchkeyctl init --domain example.test --dir "$T/s" --manufacturer-ca "$MCA" \
    --listen "[::]:$P" --san reg.example.test --san 192.0.2.10 --san '[2001:db8::1]' \
    --json >"$T/s.json" 2>"$T/s.err"
check "init --listen [::] --san x3: exit 0" test $? = 0
s=$(san "$T/s/registrar.pem")
check "--san: exactly the names given and registrar.DOMAIN ($s)" test "$s" = \
    "DNS:reg.example.test, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:1, DNS:registrar.example.test"
check "--san: --json lists them" test "$(jq -c .tls_san "$T/s.json")" = \
    '["reg.example.test","192.0.2.10","2001:db8::1","registrar.example.test"]'
check "--san: no note" test ! -s "$T/s.err"
check "--san: the CRL URL uses the first --san" grep -q \
    "^crl-url = https://reg.example.test:$P/" "$T/s/latchkeyd.conf"

latchkeyctl init --domain example.test --dir "$T/l" --manufacturer-ca "$MCA" \
    --listen "127.0.0.1:$P" >/dev/null
check "init --listen 127.0.0.1 (no --san): as before" test "$(san "$T/l/registrar.pem")" = \
    "IP Address:127.0.0.1, DNS:localhost, DNS:registrar.example.test"

for bad in 0.0.0.0 :: '[::]' bad_name '*.example.test' 10.0.0 '[192.0.2.1]' ''; do
	out=$(latchkeyctl init --domain example.test --dir "$T/bad" --manufacturer-ca "$MCA" \
	    --listen "0.0.0.0:$P" --san "$bad" 2>&1); rc=$?
	check "--san '$bad': usage error, clear message, nothing written ($out)" sh -c \
	    "test $rc = 2 && echo \"\$1\" | grep -q -- '--san' && test ! -e '$T/bad'" _ "$out"
done
check "--san 0.0.0.0: says it names no host" sh -c "latchkeyctl init --domain example.test \
    --dir '$T/bad' --manufacturer-ca '$MCA' --san 0.0.0.0 2>&1 | grep -q 'unspecified address'"

# An older init given --listen 0.0.0.0 wrote IP 0.0.0.0; the upgrade drops it.
openssl req -new -key "$T/l/registrar.key" -subj /CN=registrar.example.test \
    -out "$T/old.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:0.0.0.0,DNS:registrar.example.test,DNS:localhost\n' \
    >"$T/old.cnf"
openssl x509 -req -in "$T/old.csr" -CA "$T/l/domain-ca.pem" -CAkey "$T/l/domain-ca.key" \
    -days 30 -extfile "$T/old.cnf" -out "$T/l/registrar.pem" 2>/dev/null
check "setup: an old registrar.pem with IP 0.0.0.0" sh -c \
    "openssl x509 -in '$T/l/registrar.pem' -noout -ext subjectAltName | grep -q 'IP Address:0.0.0.0'"
latchkeyctl init --reissue-registrar-cert --dir "$T/l" >"$T/re.out" 2>"$T/re.err"
check "reissue without --san: exit 0" test $? = 0
s=$(san "$T/l/registrar.pem")
check "reissue without --san: 0.0.0.0 gone, this host's names instead ($s)" sh -c \
    "! echo '$s' | grep -q '0\.0\.0\.0' && echo '$s' | grep -q 'IP Address:127.0.0.1' &&
     echo '$s' | grep -q 'DNS:registrar.example.test'"
check "reissue without --san: a note says so" grep -q "unspecified address" "$T/re.err"
latchkeyctl init --reissue-registrar-cert --dir "$T/l" --san reg.example.test \
    --san 192.0.2.10 >/dev/null
check "reissue --san: the names given and registrar.DOMAIN" \
    test "$(san "$T/l/registrar.pem")" = \
    "DNS:reg.example.test, IP Address:192.0.2.10, DNS:registrar.example.test"
check "reissue --san: id-kp-cmcRA" sh -c "openssl x509 -in '$T/l/registrar.pem' -noout \
    -ext extendedKeyUsage | grep -q 'CMC Registration Authority'"
check "reissue --san 0.0.0.0: usage error" sh -c "latchkeyctl init --reissue-registrar-cert \
    --dir '$T/l' --san 0.0.0.0 2>/dev/null; test \$? = 2"
check "reissue --listen: usage error" sh -c "latchkeyctl init --reissue-registrar-cert \
    --dir '$T/l' --listen 127.0.0.1:1 2>/dev/null; test \$? = 2"

# --- 2. revoke reasons in any case -------------------------------------------------------
S=$(it_serial 0)
it_registrar || exit 1
it_enroll 0 "$T/dev" || { echo "enroll failed"; exit 1; }
out=$(latchkeyctl --db "$DB" revoke "$S" --reason KEYcompromise 2>&1); rc=$?
check "revoke --reason KEYcompromise: exit 0 ($out)" test "$rc" = 0
check "revoke prints the RFC 5280 spelling" test "$out" = \
    "revoked $S (binding 1, reason keyCompromise)"
check "the registry records keyCompromise" \
    test "$(sql "SELECT reason FROM bindings WHERE serial='$S'")" = keyCompromise
check "the audit log records keyCompromise" test "$(sql "SELECT count(*) FROM audit WHERE \
    action='revoke' AND subject='$S' AND reason='keyCompromise'")" = 1
check "the CRL lists it as keyCompromise" wait_until 10 sh -c \
    "latchkeyctl --db '$DB' crl | grep -q 'keyCompromise'"
out=$(latchkeyctl --db "$DB" revoke "$S" --reason CertificateHold 2>&1); rc=$?
check "revoke --reason CertificateHold: still refused, usage error ($out)" \
    sh -c "test $rc = 2 && echo '$out' | grep -q 'certificateHold is not offered'"
out=$(latchkeyctl --db "$DB" revoke "$S" --reason removefromcrl 2>&1); rc=$?
check "revoke --reason removefromcrl: still refused, usage error" test "$rc" = 2
out=$(latchkeyctl --db "$DB" revoke "$S" --reason key-compromise 2>&1); rc=$?
check "revoke --reason key-compromise: unknown, usage error" \
    sh -c "test $rc = 2 && echo '$out' | grep -q 'unknown reason'"
it_stop_registrar

# --- 3. the MASA's TLS certificate -------------------------------------------------------
check "lab-pki --json names masa-tls.pem/.key" test \
    "$(jq -r '.masa_tls_cert + " " + .masa_tls_key' "$T/lab.json")" = \
    "$T/lab/masa-tls.pem $T/lab/masa-tls.key"
check "masa-tls.key is mode 0600" test "$(stat -c %a "$T/lab/masa-tls.key")" = 600
check "masa-tls.pem: signed by the manufacturer root, fit for a TLS server" openssl verify \
    -CAfile "$MCA" -purpose sslserver "$T/lab/masa-tls.pem"
check "masa-tls.pem: EKU serverAuth only" test "$(openssl x509 -in "$T/lab/masa-tls.pem" \
    -noout -ext extendedKeyUsage | tail -n +2 | sed 's/^ *//')" = "TLS Web Server Authentication"
check "masa-tls.pem: not a CA" sh -c "openssl x509 -in '$T/lab/masa-tls.pem' -noout \
    -ext basicConstraints | grep -q 'CA:FALSE'"
check "masa-tls.pem and key match" test "$(openssl x509 -in "$T/lab/masa-tls.pem" -noout \
    -pubkey)" = "$(openssl pkey -in "$T/lab/masa-tls.key" -pubout)"
s=$(san "$T/lab/masa-tls.pem")
check "masa-tls.pem without --san/--masa-url: this host's names ($s)" sh -c \
    "echo '$s' | grep -q 'DNS:localhost' && echo '$s' | grep -q 'IP Address:127.0.0.1'"
check "lab-pki --json: masa_tls_san" test "$(jq -c '.masa_tls_san[0:3]' "$T/lab.json")" = \
    '["localhost","127.0.0.1","::1"]'
MASA_PORT=$(it_free_port)
MASA_URL=https://127.0.0.1:$MASA_PORT
check "the MASA serves lab-pki's masa-tls.pem (verified under the manufacturer CA)" \
    bk_masa_start
bk_masa_stop
latchkeyctl lab-pki --out "$T/m" --masa-url https://masa.example.test:9443/x \
    --san 192.0.2.7 --san '[2001:db8::7]' >"$T/m.out"
check "masa-tls.pem: the --san names, then the --masa-url host" \
    test "$(san "$T/m/masa-tls.pem")" = \
    "IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:7, DNS:masa.example.test"
check "lab-pki prints the MASA TLS names" grep -q \
    "^MASA TLS names  *IP:192.0.2.7, IP:2001:db8::7, DNS:masa.example.test\$" "$T/m.out"
out=$(latchkeyctl lab-pki --out "$T/bad" --san :: 2>&1); rc=$?
check "lab-pki --san ::: usage error, nothing written ($out)" \
    sh -c "test $rc = 2 && test ! -e '$T/bad'"
# A lab from before masa-tls.pem existed: --add 0 makes it, once.
rm "$T/m/masa-tls.pem" "$T/m/masa-tls.key"
latchkeyctl lab-pki --out "$T/m" --add 0 --san masa.lab.test >"$T/m0.out"
check "--add 0 on a lab without masa-tls.pem writes it" test "$(san "$T/m/masa-tls.pem")" = \
    "DNS:masa.lab.test, DNS:masa.example.test"
check "--add 0: key 0600" test "$(stat -c %a "$T/m/masa-tls.key")" = 600
check "--add 0: prints only masa-tls and serials.txt" test "$(grep -c . "$T/m0.out")" = 4
out=$(latchkeyctl lab-pki --out "$T/m" --add 0 --san other.lab.test 2>&1); rc=$?
check "--add --san when masa-tls.pem exists: refused ($out)" \
    sh -c "test $rc = 1 && echo '$out' | grep -q 'masa-tls.pem exists'"

# --- 4. lab-pki --add, progress, -q --------------------------------------------------------
latchkeyctl lab-pki --out "$T/g" --devices 2 --key-type p384 \
    --masa-url https://masa.example.test:9443 --json >"$T/g1.json" 2>"$T/g1.err"
check "small lab: no progress on stderr" test ! -s "$T/g1.err"
(cd "$T/g" && find . -name '*.key' | sort | xargs sha256sum) >"$T/keys.before"
latchkeyctl lab-pki --out "$T/g" --add 3 --json >"$T/g2.json" 2>"$T/g2.err"
check "--add 3: exit 0" test $? = 0
check "--add 3: five devices" test "$(jq '.devices | length' "$T/g2.json")" = 5
check "--add 3: the first two are the old ones, in order" test \
    "$(jq -c '[.devices[0:2][].serial]' "$T/g2.json")" = "$(jq -c '[.devices[].serial]' "$T/g1.json")"
check "--add 3: added lists the three new ones" test \
    "$(jq -c '.added' "$T/g2.json")" = "$(jq -c '[.devices[2:][].serial]' "$T/g2.json")"
check "--add 3: five distinct serials" test \
    "$(jq -r '.devices[].serial' "$T/g2.json" | sort -u | wc -l)" = 5
check "--add 3: every old key untouched" sh -c "cd '$T/g' && sha256sum --quiet -c '$T/keys.before'"
check "--add 3: serials.txt lists all five in order" test \
    "$(cat "$T/g/serials.txt")" = "$(jq -r '.devices[].serial' "$T/g2.json")"
n=$(jq -r '.devices[4].cert' "$T/g2.json")
check "--add 3: a new IDevID chains to the lab's root" openssl verify -CAfile "$T/g/manufacturer-ca.pem" \
    -untrusted "$T/g/manufacturer-ica.pem" "$n"
check "--add 3: new devices get the lab's key type (P-384)" sh -c \
    "openssl pkey -in '$(dirname "$n")/idevid.key' -noout -text | grep -q 'P-384'"
check "--add 3: new devices get the lab's MASA URL" sh -c \
    "openssl x509 -in '$n' -noout -text | grep -q 'https://masa.example.test:9443'"
check "--add 3: new masa-anchor.pem is the lab's MASA CA" cmp "$T/g/masa-ca.pem" \
    "$(jq -r '.devices[4].masa_anchor' "$T/g2.json")"
latchkeyctl lab-pki --out "$T/g" --add 1 >"$T/g3.out"
check "--add text: the new device's files and serials.txt only" test "$(grep -c . "$T/g3.out")" = 4
check "--add text: serials.txt has six" test "$(grep -c . "$T/g/serials.txt")" = 6
out=$(latchkeyctl lab-pki --out "$T/g" --devices 3 2>&1); rc=$?
check "lab-pki on an existing lab: refused, points at --add ($out)" \
    sh -c "test $rc = 1 && echo '$out' | grep -q -- '--add'"
out=$(latchkeyctl lab-pki --out "$T/g" --devices 3 --add 1 2>&1); rc=$?
check "--devices with --add: usage error" test "$rc" = 2
out=$(latchkeyctl lab-pki --out "$T/none" --add 1 2>&1); rc=$?
check "--add where there is no lab: exit 1, says so ($out)" \
    sh -c "test $rc = 1 && echo '$out' | grep -q 'no lab here'"
out=$(latchkeyctl lab-pki --out "$T/g" --add 10001 2>&1); rc=$?
check "--add 10001: usage error" test "$rc" = 2

latchkeyctl lab-pki --out "$T/big" --devices 1000 -q >"$T/big1.out" 2>"$T/big1.err"
check "-q --devices 1000: exit 0, nothing on stdout or stderr" sh -c \
    "test $? = 0 && test ! -s '$T/big1.out' && test ! -s '$T/big1.err'"
latchkeyctl lab-pki --out "$T/big" --add 1000 >"$T/big2.out" 2>"$T/big2.err"
check "--add 1000 (stderr not a terminal): one progress line ($(head -3 "$T/big2.err"))" \
    test "$(cat "$T/big2.err")" = "latchkeyctl: lab-pki: 1000/1000 devices"
check "--add 1000: 2000 devices in serials.txt" test "$(grep -c . "$T/big/serials.txt")" = 2000
if command -v script >/dev/null; then
	script -qec "latchkeyctl lab-pki --out '$T/g' --add 60 >/dev/null" /dev/null >"$T/tty.out"
	tr '\r' '\n' <"$T/tty.out" | grep . >"$T/tty.lines"
	check "on a terminal: one line (\\r between updates, one newline at the end)" \
	    test "$(wc -l <"$T/tty.out")" = 1
	check "on a terminal: updates from 1/60 to 60/60" test \
	    "$(head -1 "$T/tty.lines") $(tail -1 "$T/tty.lines") $(wc -l <"$T/tty.lines")" = \
	    "latchkeyctl: lab-pki: 1/60 devices latchkeyctl: lab-pki: 60/60 devices 60"
	script -qec "latchkeyctl lab-pki --out '$T/g' --add 60 -q" /dev/null >"$T/ttyq.out"
	check "-q on a terminal: nothing" test ! -s "$T/ttyq.out"
else
	ok "(script(1) not installed: terminal progress not checked)"
fi

# --- help and man page ------------------------------------------------------------------
h=$(latchkeyctl help lab-pki); hi=$(latchkeyctl help init); hr=$(latchkeyctl help revoke)
m=$LK_TOP/man/latchkeyctl.8
check "help lab-pki documents --add, --san, -q and masa-tls.pem" sh -c "echo \"\$1\" |
    grep -q -- '--add N' && echo \"\$1\" | grep -q -- '--san' && echo \"\$1\" |
    grep -q -- '-q, --quiet' && echo \"\$1\" | grep -q masa-tls.pem" _ "$h"
check "help init documents --san with --reissue-registrar-cert" sh -c "echo \"\$1\" |
    grep -q -- '--reissue-registrar-cert --dir DIR \[--san' && echo \"\$1\" |
    grep -q 'never 0.0.0.0'" _ "$hi"
check "help revoke: any case" sh -c "echo \"\$1\" | grep -q 'in any case'" _ "$hr"
check "man page documents lab-pki --add, --san, -q, masa-tls.pem and serials.txt" sh -c \
    "grep -q 'Fl Fl add Ar n' '$m' && grep -q 'Fl Fl san' '$m' && grep -q '^\.Op Fl q' '$m' &&
     grep -q 'masa-tls.pem' '$m' && grep -q 'serials.txt' '$m'"
check "man page: init --reissue-registrar-cert with --san, revoke reasons in any case" sh -c \
    "grep -q '^\.It Cm init Fl Fl reissue-registrar-cert .*san' '$m' &&
     grep -q 'in any case' '$m'"
it_done

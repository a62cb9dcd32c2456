#!/bin/bash
# Posture (issue #20): latchkeyd with posture-policy judges `latchkey report`s, signed with
# the device's LDevID and sent over mutual TLS: a fake dpkg status with a forbidden
# package, an old version and a missing one is noncompliant with every reason; fixed, the
# same device is compliant; both are stored, audited and shown by latchkeyctl posture
# show/diff. A report signed by another key (a CMS made with another device's LDevID, sent
# with the first device's LDevID as TLS client certificate) is refused with 403; a revoked
# device's report is refused with 403 and the reason, and nothing is stored for it.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 2
S=$(it_serial 0); D=$(it_dev 0)
S2=$(it_serial 1); D2=$(it_dev 1)
cat >"$T/policy.json" <<'P'
{"required": ["openssh-server", {"name": "openssl", "min-version": "3.0.11-1~deb12u1"}],
 "forbidden": ["telnetd"],
 "files": [{"fs-name": "/HASHED", "sha256": "SHA"}]}
P
printf 'PermitRootLogin no\n' >"$T/sshd_config"
sed -i "s|/HASHED|$T/sshd_config|; s|SHA|$(sha256sum "$T/sshd_config" | cut -d' ' -f1)|" \
    "$T/policy.json"
APORT=$(it_free_port)
it_registrar "posture-policy = $T/policy.json" "max-body = 1048576" \
    "admin-listen = 127.0.0.1:$APORT" || exit 1
for i in 0 1; do
	s=$(it_serial $i); d=$(it_dev $i)
	latchkeyctl --db "$DB" claim "$s" >/dev/null
	latchkey enroll -q --server "$URL" --idevid "$d/idevid.pem" --idevid-key "$d/idevid.key" \
	    --ca "$T/reg/domain-ca.pem" --out "$T/dev$i" || { echo "enroll $i failed"; exit 1; }
done

stanza() {	# stanza NAME VERSION [STATUS]
	printf 'Package: %s\nStatus: %s\nPriority: optional\nArchitecture: amd64\nVersion: %s\nDescription: x\n continuation line\n\n' \
	    "$1" "${3:-install ok installed}" "$2"
}
{ stanza openssl 1.1.1n-0+deb11u5; stanza telnetd 0.17-44; stanza libc6 2.36-9
  stanza openssh-server 1:9.2p1-2 "deinstall ok config-files"; } >"$T/status.bad"
{ stanza openssl 3.0.11-1~deb12u2; stanza libc6 2.36-9; stanza openssh-server 1:9.2p1-2
  stanza telnetd 0.17-44 "deinstall ok config-files"; } >"$T/status.good"

report() {	# report DEV STATUS [extra args]: stdout to $T/out, exit status in $rc
	local dev=$1 st=$2
	shift 2
	latchkey report --posture-url "$URL" --state-dir "$dev" --dpkg-status "$st" \
	    --hash-file "$T/sshd_config" "$@" >"$T/out" 2>"$T/err"; rc=$?
	cat "$T/out" "$T/err"
}

report "$T/dev0" "$T/status.bad"
check "noncompliant report: exit 3" test "$rc" = 3
check "reason: forbidden telnetd" grep -q "forbidden package telnetd 0.17-44 installed" "$T/out"
check "reason: openssl too old" grep -q "package openssl 1.1.1n-0+deb11u5 older than the minimum 3.0.11-1~deb12u1" "$T/out"
check "reason: openssh-server missing (config-files only)" grep -q "required package openssh-server missing" "$T/out"
check "the file hash matches: no file reason" sh -c "! grep -q 'file ' '$T/out'"
check "registry: one report, noncompliant" test "$(sql "SELECT count(*) || ':' || max(compliant) FROM posture_reports WHERE serial='$S'")" = "1:0"
check "registry: latest verdict noncompliant" test "$(sql "SELECT compliant FROM posture WHERE serial='$S'")" = 0
check "registry: the signed CMS is stored" test "$(sql "SELECT length(cms) > 500 FROM posture_reports WHERE serial='$S'")" = 1
check "audited as posture/noncompliant" test "$(sql "SELECT reason FROM audit WHERE action='posture' AND subject='$S'")" = noncompliant

# the verdict with --json
report "$T/dev0" "$T/status.bad" --json
check "--json: compliant false, three reasons" test "$(jq -c '[.compliant, (.reasons|length), .serial]' "$T/out")" = "[false,3,\"$S\"]"

report "$T/dev0" "$T/status.good"
check "compliant report: exit 0" test "$rc" = 0
check "compliant report: one line" grep -q "^compliant (3 packages, 1 files reported to $URL, found by given)" "$T/out"
check "registry: latest verdict compliant" test "$(sql "SELECT compliant FROM posture WHERE serial='$S'")" = 1

latchkeyctl --db "$DB" posture show "$S" >"$T/show" 2>&1; rc=$?; cat "$T/show"
check "posture show: exit 0, compliant" sh -c "test $rc = 0 && grep -q '^$S: compliant (report 3' '$T/show'"
latchkeyctl --db "$DB" --json posture show "$S" >"$T/show.json"
check "posture show --json" test "$(jq -c '[.compliant, .packages, .files, .reasons]' "$T/show.json")" = "[true,3,1,[]]"
latchkeyctl --db "$DB" posture diff "$S" >"$T/diff" 2>&1; rc=$?; cat "$T/diff"
check "posture diff: exit 0" test "$rc" = 0
check "posture diff: openssl upgraded" grep -q "^~ openssl 1.1.1n-0+deb11u5 -> 3.0.11-1~deb12u2" "$T/diff"
check "posture diff: telnetd removed" grep -q "^- telnetd 0.17-44 amd64" "$T/diff"
check "posture diff: openssh-server added" grep -q "^+ openssh-server 1:9.2p1-2 amd64" "$T/diff"
latchkeyctl --db "$DB" --json posture diff "$S" >"$T/diff.json"
check "posture diff --json" test "$(jq -c '[(.added|length), (.removed|length), (.changed|length), .from_compliant, .to_compliant]' "$T/diff.json")" = "[1,1,1,false,true]"
latchkeyctl --db "$DB" posture show "$S2" >/dev/null 2>"$T/none"; rc=$?
check "posture show of a device that never reported: exit 1" sh -c "test $rc = 1 && grep -q 'no posture report from $S2' '$T/none'"

# an inventory command instead of dpkg
report "$T/dev0" /dev/null --inventory-command "printf 'openssl 3.0.13-1 amd64\nopenssh-server 1:9.2p1-2\n'" 
check "--dpkg-status with --inventory-command: usage error" test "$rc" = 2
latchkey report --posture-url "$URL" --state-dir "$T/dev0" --hash-file "$T/sshd_config" \
    --inventory-command "printf 'openssl 3.0.13-1 amd64\nopenssh-server 1:9.2p1-2\n'" >"$T/out"; rc=$?
check "--inventory-command: compliant" test "$rc:$(cat "$T/out" | cut -c1-9)" = "0:compliant"

# 5,000 packages: judged; 8,000 (about 1.3 MB signed): over max-body (1 MiB here), 413
# with what to change
big() { echo "seq 1 $1 | sed 's/^/pkg/; s/\$/ 1.0-1 amd64/'; echo 'openssl 3.0.13-1 amd64'"; }
latchkey report --posture-url "$URL" --state-dir "$T/dev0" --inventory-command "$(big 5000)" \
    --json >"$T/big.out" 2>"$T/big.err"; rc=$?
check "5,000 packages: judged (exit 3, openssh-server missing)" \
    test "$rc:$(jq -r '.reasons[0]' "$T/big.out")" = "3:required package openssh-server missing"
latchkeyctl --db "$DB" --json posture show "$S" >"$T/big.show"
check "5,000 packages: stored" test "$(jq -r .packages "$T/big.show")" = 5001
latchkey report --posture-url "$URL" --state-dir "$T/dev0" --inventory-command "$(big 8000)" \
    >/dev/null 2>"$T/big.err"; rc=$?; cat "$T/big.err"
check "8,000 packages: refused (exit 4), HTTP 413 naming max-body" \
    sh -c "test $rc = 4 && grep -q 'HTTP 413: the signed report (.* octets, 8001 packages) is larger than its max-body' '$T/big.err'"

# a report signed by another key: the CMS made with device 1's LDevID, sent with device 0's
openssl x509 -in "$T/dev0/ldevid.pem" -noout -serial | cut -d= -f2 >"$T/sn0"
jq -nc --arg s "$S" --arg l "$(cat "$T/sn0")" '{"report-version":1, serial:$s, "ldevid-serial":$l,
    time: 1, nonce: "00112233445566778899aabbccddeeff", software: [], file: []}' >"$T/forged.json"
openssl cms -sign -binary -nodetach -nosmimecap -outform DER -in "$T/forged.json" \
    -signer "$T/dev1/ldevid.pem" -inkey "$T/dev1/ldevid.key" -out "$T/forged.cms"
code=$(curl -sS -o "$T/forged.out" -w '%{http_code}' --cacert "$T/reg/domain-ca.pem" \
    --cert "$T/dev0/ldevid.pem" --key "$T/dev0/ldevid.key" -H 'Content-Type: application/cms' \
    --data-binary @"$T/forged.cms" "$URL/.well-known/latchkey/posture"); cat "$T/forged.out"
check "report signed by another LDevID: 403" test "$code" = 403
check "... says the signer is not this session's LDevID" grep -q "signer is not the LDevID of this TLS session" "$T/forged.out"
# the same JSON signed by the right key is accepted (the forged one failed for its signer)
openssl cms -sign -binary -nodetach -nosmimecap -outform DER -in "$T/forged.json" \
    -signer "$T/dev0/ldevid.pem" -inkey "$T/dev0/ldevid.key" -out "$T/right.cms"
code=$(curl -sS -o "$T/right.out" -w '%{http_code}' --cacert "$T/reg/domain-ca.pem" \
    --cert "$T/dev0/ldevid.pem" --key "$T/dev0/ldevid.key" -H 'Content-Type: application/cms' \
    --data-binary @"$T/right.cms" "$URL/.well-known/latchkey/posture"); cat "$T/right.out"; echo
check "the same report signed by its own LDevID (openssl cms): 200, noncompliant" \
    test "$code:$(jq -r .compliant "$T/right.out")" = "200:false"
# naming another device
jq -c --arg s "$S2" '.serial = $s' "$T/forged.json" >"$T/other.json"
openssl cms -sign -binary -nodetach -nosmimecap -outform DER -in "$T/other.json" \
    -signer "$T/dev0/ldevid.pem" -inkey "$T/dev0/ldevid.key" -out "$T/other.cms"
code=$(curl -sS -o "$T/other.out" -w '%{http_code}' --cacert "$T/reg/domain-ca.pem" \
    --cert "$T/dev0/ldevid.pem" --key "$T/dev0/ldevid.key" -H 'Content-Type: application/cms' \
    --data-binary @"$T/other.cms" "$URL/.well-known/latchkey/posture"); cat "$T/other.out"
check "a report naming another device: 403" test "$code" = 403
check "refusals audited as posture-refused" test "$(sql "SELECT count(*) FROM audit WHERE action='posture-refused' AND subject='$S'")" = 2
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/reg/domain-ca.pem" \
    --cert "$T/dev0/ldevid.pem" --key "$T/dev0/ldevid.key" -H 'Content-Type: application/json' \
    --data-binary @"$T/forged.json" "$URL/.well-known/latchkey/posture")
check "unsigned JSON: 415" test "$code" = 415
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/reg/domain-ca.pem" \
    -H 'Content-Type: application/cms' --data-binary @"$T/right.cms" \
    "$URL/.well-known/latchkey/posture")
check "without a client certificate: 401" test "$code" = 401

# a revoked device is refused, with the reason, and nothing is stored
n=$(sql "SELECT count(*) FROM posture_reports WHERE serial='$S2'")
latchkeyctl --db "$DB" revoke "$S2" --reason keyCompromise >/dev/null
report "$T/dev1" "$T/status.good"
check "revoked device: exit 4 (refused)" test "$rc" = 4
check "revoked device: HTTP 403 with the reason" grep -q "HTTP 403: binding of $S2 revoked: keyCompromise" "$T/err"
check "revoked device: nothing stored" test "$(sql "SELECT count(*) FROM posture_reports WHERE serial='$S2'")" = "$n"
check "revoked device: audited posture-refused" test "$(sql "SELECT count(*) FROM audit WHERE action='posture-refused' AND subject='$S2'")" = 1

# no posture URL known: a clear line
latchkey report --no-discover --state-dir "$T/dev0" --dpkg-status "$T/status.good" 2>"$T/err"; rc=$?
check "no posture server known: exit 1, one line" sh -c "test $rc = 1 && grep -q 'no posture server known' '$T/err'"
check "audit chain intact" latchkeyctl --db "$DB" audit --verify

# /metrics counts the reports by result (a 413 never reaches the registrar)
curl -sS "http://127.0.0.1:$APORT/metrics" >"$T/metrics"
metric() { sed -n "s/^latchkeyd_posture_reports_total{result=\"$1\"} //p" "$T/metrics"; }
check "metrics: compliant $(metric compliant), noncompliant $(metric noncompliant), refused $(metric refused)" \
    test "$(metric compliant):$(metric noncompliant):$(metric refused)" = "2:4:5"
if command -v promtool >/dev/null; then
	check "metrics: promtool check metrics" sh -c "promtool check metrics <'$T/metrics'"
fi

# SIGHUP reads the policy again: libc6 forbidden now
cp "$T/policy.json" "$T/policy.orig"
jq -c '.forbidden += ["libc6"]' "$T/policy.orig" >"$T/policy.json"
kill -HUP "$LKD_PID"
check "reloaded" wait_until 10 grep -q "reloaded: .* new workers serve" "$T/latchkeyd.log"
report "$T/dev0" "$T/status.good"
check "after SIGHUP the new policy judges: libc6 forbidden" \
    sh -c "test $rc = 3 && grep -q 'forbidden package libc6 2.36-9 installed' '$T/out'"

# a policy that does not parse: latchkeyd -n refuses it, naming the rule
echo '{"required": ["ok", {"name": "openssl", "min-version": "x"}]}' >"$T/bad-policy.json"
cp "$T/reg/latchkeyd.conf" "$T/reg/bad.conf"
it_conf_set "$T/reg/bad.conf" "posture-policy = $T/bad-policy.json"
latchkeyd -n -f "$T/reg/bad.conf" >"$T/n.out" 2>&1; rc=$?; cat "$T/n.out"
check "latchkeyd -n with a bad policy: exit 1, names the rule" \
    sh -c "test $rc = 1 && grep -q 'required rule 2: \"min-version\" is not a Debian version' '$T/n.out'"
it_done

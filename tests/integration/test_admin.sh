#!/bin/bash
# The admin listener (admin-listen; latchkeyd.conf(5)): /healthz and /metrics.
#   - /healthz is 200 while every worker can enroll; 503 naming the cause when the
#     registry is made unwritable (and 200 again when fixed), and when a worker's signer
#     is stopped (SIGSTOP: the worker is replaced and /healthz is 200 again by itself);
#   - /metrics passes `promtool check metrics`, and its counters match what this test did:
#     enrollments, refusals by reason, the signer restart;
#   - nothing else is served there (404, 405), and the EST port does not serve it.
. "$(dirname "$0")/lib.sh"
it_init
it_pki 5
APORT=$(it_free_port)
it_registrar "admin-listen = $APORT" "workers = 2" || exit 1
ADMIN=http://127.0.0.1:$APORT
for i in 0 1 2; do latchkeyctl --db "$DB" claim "$(it_serial $i)" >/dev/null; done

hz() { curl -s -o "$T/hz.body" -w '%{http_code}' "$ADMIN/healthz"; }
metric() { curl -s "$ADMIN/metrics" | sed -n "s/^$1 //p"; }

check "a bare port in admin-listen means loopback" \
    sh -c "ss -Hltn 'sport = :$APORT' | grep -q '127.0.0.1:$APORT'"
check "/healthz: 200 once the workers serve" wait_until 10 sh -c "test \$(curl -s -o /dev/null \
    -w '%{http_code}' $ADMIN/healthz) = 200"
hz >/dev/null
check "... saying what it checked" grep -q "^ok: 2 workers, registry writable" "$T/hz.body"
check "/healthz answers HEAD" test "$(curl -s -I -o /dev/null -w '%{http_code}' "$ADMIN/healthz")" = 200
check "/nothing: 404" test "$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN/nothing")" = 404
check "POST /metrics: 405" test "$(curl -s -o /dev/null -w '%{http_code}' -d x "$ADMIN/metrics")" = 405
check "the EST port does not serve /metrics" test "$(curl -s -o /dev/null -w '%{http_code}' \
    --cacert "$T/reg/domain-ca.pem" "$URL/metrics")" = 404

# ---- counters that match what we do ------------------------------------------------------
for i in 0 1 2; do
	D=$(it_dev $i)
	latchkey enroll -q --server "$URL" --idevid "$D/idevid.pem" --idevid-key "$D/idevid.key" \
	    --ca "$T/reg/domain-ca.pem" --out "$T/out$i" || fail "enroll device $i"
done
D=$(it_dev 3)	# not claimed
latchkey enroll -q --server "$URL" --idevid "$D/idevid.pem" --idevid-key "$D/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/out3" 2>/dev/null && fail "unclaimed device enrolled"
curl -s -o /dev/null --cacert "$T/reg/domain-ca.pem" -H 'Content-Type: application/pkcs10' \
    -d 'AAAA' "$URL/.well-known/est/simpleenroll"	# no client certificate
curl -s "$ADMIN/metrics" >"$T/metrics.txt"
if command -v promtool >/dev/null; then
	check "promtool check metrics passes" sh -c "promtool check metrics <'$T/metrics.txt'"
else
	fail "promtool missing (Debian's prometheus package; contrib/install-deps.sh)"
fi
check "/metrics Content-Type is the text format 0.0.4" sh -c "curl -s -o /dev/null -w \
    '%{content_type}' $ADMIN/metrics | grep -q 'text/plain; version=0.0.4'"
m() { sed -n "s/^$1 //p" "$T/metrics.txt"; }
check "enrollments_total{simpleenroll} = 3" test "$(m 'latchkeyd_enrollments_total{op="simpleenroll"}')" = 3
check "refusals: not-claimed = 1" \
    test "$(m 'latchkeyd_enrollment_refusals_total{op="simpleenroll",reason="not-claimed"}')" = 1
check "refusals: no-client-certificate = 1" \
    test "$(m 'latchkeyd_enrollment_refusals_total{op="simpleenroll",reason="no-client-certificate"}')" = 1
check "the latency histogram counts the 5 answers" \
    test "$(m latchkeyd_enrollment_duration_seconds_count)" = 5
check "the commit histogram holds the 3 enrollments" test "$(m latchkeyd_commit_batch_size_sum)" = 3
check "certificate expiry: the TLS certificate's notAfter" test "$(m \
    'latchkeyd_certificate_expiry_time_seconds{certificate="tls"}')" = "$(date -d "$(openssl x509 \
    -in "$T/reg/registrar.pem" -noout -enddate | cut -d= -f2)" +%s)"
check "the CRL's size is the file's" test "$(m latchkeyd_crl_bytes)" = "$(stat -c %s "$T/reg/crl.der")"
check "latchkeyd_up 1" test "$(m latchkeyd_up)" = 1

# ---- the registry made unwritable --------------------------------------------------------
if [ "$(id -u)" = 0 ] && ps -o user= --ppid "$LKD_PID" | grep -qx latchkey; then
	chown root:root "$DB"; chmod 0644 "$DB"
	undo="chown latchkey:latchkey '$DB'; chmod 0600 '$DB'"
elif [ "$(id -u)" != 0 ]; then
	chmod 0444 "$DB"
	undo="chmod 0600 '$DB'"
else
	undo=
	echo "running as root without the latchkey user: the writability case is skipped"
fi
if [ -n "$undo" ]; then
	# (a loaded machine may show another passing reason first, a worker's late beat: the
	# wait is for the answer that names the registry)
	check "/healthz: 503 naming the registry when it is unwritable" wait_until 5 sh -c \
	    "test \$(curl -s -o '$T/hz.body' -w '%{http_code}' $ADMIN/healthz) = 503 &&
	    grep -q 'registry .*is not writable' '$T/hz.body'"
	check "... and latchkeyd_up 0" test "$(metric latchkeyd_up)" = 0
	sh -c "$undo"
	check "/healthz: 200 again once fixed" wait_until 5 sh -c \
	    "test \$(curl -s -o /dev/null -w '%{http_code}' $ADMIN/healthz) = 200"
fi

# ---- a signer stopped ---------------------------------------------------------------------
W=$(ps -o pid= --ppid "$LKD_PID" | while read -r w; do
	[ -n "$(ps -o pid= --ppid "$w")" ] && echo "$w"; done | head -1)
S=$(ps -o pid= --ppid "$W" | head -1 | tr -d ' ')
if [ -n "$S" ]; then
	kill -STOP "$S"
	seen=0
	for i in $(seq 1 100); do
		c=$(curl -s -m 2 -o "$T/hz.body" -w '%{http_code}' "$ADMIN/healthz")
		[ "$c" != 200 ] && { seen=1; break; }
		sleep 0.05
	done
	check "/healthz: non-200 when a signer is stopped ($c: $(cat "$T/hz.body"))" test "$seen" = 1
	check "/healthz: 200 again once the worker was replaced" wait_until 15 sh -c \
	    "test \$(curl -s -o /dev/null -w '%{http_code}' $ADMIN/healthz) = 200"
	r=$(metric latchkeyd_signer_restarts_total)
check "metrics: one signer restart ($r)" test "$r" = 1
	kill -CONT "$S" 2>/dev/null
else
	fail "no signer process found under the workers"
fi
D=$(it_dev 4); latchkeyctl --db "$DB" claim "$(it_serial 4)" >/dev/null
check "enrollments go on after that" latchkey enroll -q --server "$URL" --idevid "$D/idevid.pem" \
    --idevid-key "$D/idevid.key" --ca "$T/reg/domain-ca.pem" --out "$T/out4"
check "... and are counted (4)" test "$(metric 'latchkeyd_enrollments_total{op="simpleenroll"}')" = 4
it_done

# tests/integration/brski_helpers.sh: helpers for test_brski.sh (source after lib.sh).
#   bk_masa_conf [CERT KEY]        the MASA's configuration in $T/masa (signing with CERT
#                                  and KEY; TLS certificate the lab's masa-tls.pem, which
#                                  latchkeyctl lab-pki made under the manufacturer root)
#   bk_masa_start / bk_masa_stop   the MASA: latchkeyd with role = masa on $MASA_PORT
#   bk_pvr SERIAL NONCE PROXIMITY_PEM CERT KEY OUT        a pledge voucher-request (CMS)
#   bk_rvr SERIAL NONCE CERT KEY OUT [PRIOR_CMS]          a registrar voucher-request
#   bk_post_reg FILE CERT KEY OP CTYPE [-] [HEADERS_OUT]  POST to the registrar's
#                                  /.well-known/brski/OP; prints the status, then the body
#   bk_post_masa FILE CERT KEY OP [BODY_OUT]              the same against the MASA
VOUCHER_CT=application/voucher-cms+json
VOUCHER_OID=1.2.840.113549.1.9.16.1.40

# bk_masa_conf [SIGNING-CERT KEY]: (re)write the MASA's configuration, signing vouchers
# with SIGNING-CERT and KEY (default the lab MASA's); its TLS certificate is the lab's
# masa-tls.pem (lab-pki: under the manufacturer root, serverAuth, SAN with 127.0.0.1).
bk_masa_conf() {
	local m=$T/masa
	mkdir -p "$m"
	[ -f "$T/lab/masa-tls.pem" ] && [ -f "$T/lab/masa-tls.key" ] ||
	    { echo "bk_masa_conf: no $T/lab/masa-tls.pem (latchkeyctl lab-pki makes it)"; return 1; }
	cat >"$m/latchkeyd.conf" <<EOC
role = masa
listen = 127.0.0.1:$MASA_PORT
tls-cert = $T/lab/masa-tls.pem
tls-key = $T/lab/masa-tls.key
masa-cert = ${1:-$T/lab/masa.pem}
masa-key = ${2:-$T/lab/masa.key}
masa-db = masa.db
manufacturer-ca = $T/lab/manufacturer-ca.pem
workers = 1
EOC
}

# bk_masa_start: start the MASA (configured by bk_masa_conf, the lab MASA's by default).
bk_masa_start() {
	local i m=$T/masa
	[ -f "$m/latchkeyd.conf" ] || bk_masa_conf || return 1
	latchkeyd -d -v -f "$m/latchkeyd.conf" >>"$T/masa.log" 2>&1 &
	MASA_PID=$!
	IT_PIDS+=("$MASA_PID")
	for i in $(seq 1 100); do
		if ! kill -0 "$MASA_PID" 2>/dev/null; then
			echo "MASA latchkeyd died:"; cat "$T/masa.log"; return 1
		fi
		curl -s -o /dev/null --cacert "$T/lab/manufacturer-ca.pem" "$MASA_URL/" && return 0
		sleep 0.1
	done
	echo "MASA not ready after 10 s"; cat "$T/masa.log"; return 1
}

bk_masa_stop() {
	kill -TERM "$MASA_PID" 2>/dev/null
	wait "$MASA_PID" 2>/dev/null || true
}

bk_now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

bk_pvr() {
	local prox
	prox=$(openssl x509 -in "$3" -outform DER | base64 -w0)
	printf '{"ietf-voucher-request:voucher":{"created-on":"%s","assertion":"proximity","serial-number":"%s","nonce":"%s","proximity-registrar-cert":"%s"}}' \
	    "$(bk_now)" "$1" "$2" "$prox" >"$6.json"
	openssl cms -sign -in "$6.json" -signer "$4" -inkey "$5" -econtent_type "$VOUCHER_OID" \
	    -nodetach -binary -outform DER -out "$6"
}

bk_rvr() {
	local nonce="" prior=""
	[ -n "$2" ] && nonce=",\"nonce\":\"$2\""
	[ -n "${6:-}" ] && prior=",\"prior-signed-voucher-request\":\"$(base64 -w0 "$6")\""
	printf '{"ietf-voucher-request:voucher":{"created-on":"%s","assertion":"proximity","serial-number":"%s"%s%s}}' \
	    "$(bk_now)" "$1" "$nonce" "$prior" >"$5.json"
	openssl cms -sign -in "$5.json" -signer "$3" -inkey "$4" -econtent_type "$VOUCHER_OID" \
	    -nodetach -binary -outform DER -out "$5"
}

bk_post_reg() {
	local hdr=${7:-/dev/null}
	curl -s --cacert "$T/reg/domain-ca.pem" --cert "$2" --key "$3" -H "Content-Type: $5" \
	    --data-binary @"$1" -D "$hdr" -o "$T/post.body" -w '%{http_code}\n' \
	    "$URL/.well-known/brski/$4"
	cat "$T/post.body"
}

bk_post_masa() {
	curl -s --cacert "$T/lab/manufacturer-ca.pem" --cert "$2" --key "$3" \
	    -H "Content-Type: $VOUCHER_CT" --data-binary @"$1" -o "$T/post.body" \
	    -w '%{http_code}\n' "$MASA_URL/.well-known/brski/$4"
	[ -n "${5:-}" ] && cp "$T/post.body" "$5"
	cat "$T/post.body"
}

# tests/net/onboard/common.sh: the onboarding test bed, shared by test.sh and
# tests/bench/onboard.sh. Source after tests/net/lib.sh and tb_init.
#
#   server (namespace): bridge br0 @SUBNET.1/24; kea-dhcp4 with liblatchkey_kea.so (option
#           143 = https://@SUBNET.1:8443); the MASA (latchkeyd role = masa) on 127.0.0.1;
#           the registrar (latchkeyd, mdns = yes) on @SUBNET.1:8443, started when a
#           scenario wants it; avahi-daemon when ob_avahi is called.
#   devices (one namespace each): a veth into br0, udhcpc with contrib's udhcpc script,
#           which starts `latchkey onboard` (LATCHKEY_ONBOARD=yes) unless told not to.
#           Each device holds only its IDevID, key and MASA anchor (from lab-pki).
#
#   ob_setup NDEVICES          PKI, MASA, domain, sales records, claims, kea-dhcp4
#   ob_device ALIAS IDX [no]   a device namespace using lab device IDX; "no": the DHCP
#                              hook does not start latchkey onboard
#   ob_registrar_start         start latchkeyd in the server, wait until it answers
#   ob_dhcp ALIAS              start udhcpc in ALIAS (background, exits after the lease)
#   ob_bound ALIAS             true once ALIAS's state directory says BOUND
#   ob_serial IDX, ob_state ALIAS, ob_onboard_args ALIAS
#   ob_sql QUERY               read-only query on the registry
#   ob_revoke_signer NAME CERT revoke an update signer and wait until no worker serves a
#                              CRL without it
#
# Keys elsewhere (tests/net/onboard-hw): set before ob_setup
#   OB_LABPKI_ARGS   more lab-pki arguments (--masa-key URI, --tpm TCTI)
#   OB_LABPKI_ENV, OB_INIT_ENV   environment (NAME=VALUE ...) for lab-pki and init
#   OB_MASA_KEY      the MASA's masa-key (default: the lab's masa.key)
#   OB_MASA_ENV      environment (NAME=VALUE ...) for the MASA's latchkeyd
#   OB_INIT_ARGS     more init arguments (--ca-key URI)
#   OB_REG_ENV       environment for the registrar's latchkeyd
#   OB_ONBOARD_ARGS  more `latchkey onboard` arguments (--key-store tpm --tpm TCTI)
#   ob_hook_lab, ob_hook_init   functions called (when defined) after lab-pki and after
#                    init, before the MASA and the registrar start
OB_SUBNET=${OB_SUBNET:-10.204.0}
OB_SERVER_IP=$OB_SUBNET.1
OB_PORT=8443
OB_URL=https://$OB_SERVER_IP:$OB_PORT
OB_HOOK=${OB_HOOK:-$LK_BIN/liblatchkey_kea.so}	# override: a hook built elsewhere
OB_HERE=$LK_TOP/tests/net/onboard
OB_NDEV=0

ob_require() {
	[ -f "$OB_HOOK" ] || tb_skip "$OB_HOOK is not built (make $OB_HOOK)"
	tb_require kea-dhcp4 udhcpc openssl jq sqlite3 curl od
	local p
	for p in latchkey latchkeyd latchkeyctl; do
		tb_require "$LK_BIN/$p"
	done
	"$LK_BIN/latchkey" onboard --help >/dev/null 2>&1 ||
	    tb_skip "latchkey onboard is not available in $LK_BIN/latchkey"
}

ob_serial() { jq -r ".devices[$1].serial" "$OB_S/lab.json"; }
ob_devdir() { dirname "$(jq -r ".devices[$1].cert" "$OB_S/lab.json")"; }
ob_sql() { sqlite3 -readonly "$OB_S/reg/registry.db" "$1"; }
ob_state() { jq -r .state "$(tb_hostdir "$1")/state/onboard.json" 2>/dev/null; }
ob_bound() { [ -e "$(tb_hostdir "$1")/state/bound" ]; }

ob_setup() {
	local n=$1 ns i m cafp
	tb_ns_add server
	OB_S=$(tb_hostdir server)
	ns=$(tb_ns server)
	ip -n "$ns" link add br0 type bridge || tb_fail "cannot create br0"
	ip -n "$ns" addr add "$OB_SERVER_IP/24" dev br0 || tb_fail "cannot address br0"
	ip -n "$ns" link set br0 up || tb_fail "cannot bring up br0"

	# Manufacturer: lab PKI with the MASA URL in every IDevID; the MASA itself.
	OB_MASA_PORT=$((20000 + RANDOM % 20000))
	# shellcheck disable=SC2086
	env ${OB_LABPKI_ENV:-} latchkeyctl lab-pki --out "$OB_S/lab" --devices "$n" \
	    --masa-url "https://127.0.0.1:$OB_MASA_PORT" ${OB_LABPKI_ARGS:-} --json \
	    >"$OB_S/lab.json" 2>"$OB_S/lab.err" ||
	    tb_fail "latchkeyctl lab-pki failed: $(tail -1 "$OB_S/lab.err")"
	! declare -F ob_hook_lab >/dev/null || ob_hook_lab
	m=$OB_S/masa
	mkdir -p "$m"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$m/masa-tls.key" -subj "/CN=MASA TLS" -out "$m/masa-tls.csr" 2>/dev/null ||
	    tb_fail "MASA TLS key"
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
	    >"$m/ext.cnf"
	openssl x509 -req -in "$m/masa-tls.csr" -CA "$OB_S/lab/manufacturer-ca.pem" \
	    -CAkey "$OB_S/lab/manufacturer-ca.key" -CAcreateserial -days 30 \
	    -extfile "$m/ext.cnf" -out "$m/masa-tls.pem" 2>/dev/null || tb_fail "MASA TLS cert"
	cat >"$m/latchkeyd.conf" <<EOC
role = masa
listen = 127.0.0.1:$OB_MASA_PORT
tls-cert = masa-tls.pem
tls-key = masa-tls.key
masa-cert = $OB_S/lab/masa.pem
masa-key = ${OB_MASA_KEY:-$OB_S/lab/masa.key}
masa-db = masa.db
manufacturer-ca = $OB_S/lab/manufacturer-ca.pem
workers = 1
EOC
	# shellcheck disable=SC2086
	tb_bg server masa env ${OB_MASA_ENV:-} latchkeyd -d -v -f "$m/latchkeyd.conf"
	tb_wait_for "the MASA to answer" "$TB_TIMEOUT" tb__alive_and server masa \
	    tb_exec server curl -s -o /dev/null --cacert "$OB_S/lab/manufacturer-ca.pem" \
	    "https://127.0.0.1:$OB_MASA_PORT/"

	# Owner: domain, registrar configuration (not started), sales records and claims.
	# shellcheck disable=SC2086
	env ${OB_INIT_ENV:-} latchkeyctl init --domain example.test --dir "$OB_S/reg" \
	    --manufacturer-ca "$OB_S/lab/manufacturer-ca.pem" --listen "$OB_SERVER_IP:$OB_PORT" \
	    ${OB_INIT_ARGS:-} >"$OB_S/init.log" 2>&1 ||
	    tb_fail "latchkeyctl init failed: $(tail -1 "$OB_S/init.log")"
	! declare -F ob_hook_init >/dev/null || ob_hook_init
	cat >>"$OB_S/reg/latchkeyd.conf" <<EOC
workers = 2
masa-timeout = 5
masa-retry-after = 1
mdns = yes
mdns-name = latchkey onboard $TB_ID
posture-policy = $OB_S/posture-policy.json
EOC
	# Posture (issue #20): the report onboarding sends once BOUND, from a small dpkg
	# status (the host's would exceed the default max-body).
	echo '{"forbidden": ["telnetd"]}' >"$OB_S/posture-policy.json"
	printf 'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n' \
	    >"$OB_S/dpkg-status"
	for ((i = 0; i < n; i++)); do
		printf '%s\n' "$(ob_serial "$i")"
	done >"$OB_S/serials.txt"
	latchkeyctl masa authorize --file "$OB_S/serials.txt" --domain-ca "$OB_S/reg/domain-ca.pem" \
	    --masa-db "$m/masa.db" >/dev/null || tb_fail "masa authorize failed"
	latchkeyctl --db "$OB_S/reg/registry.db" claim --file "$OB_S/serials.txt" >/dev/null ||
	    tb_fail "claim failed"

	# DHCP: option 143 names the registrar; the vendor option a posture URL and the CA hint.
	cafp=sha256:$(openssl x509 -in "$OB_S/reg/domain-ca.pem" -outform DER | sha256sum | cut -d' ' -f1)
	OB_CAFP=$cafp
	tb_render "$OB_HERE/kea-dhcp4.conf.in" "$OB_S/kea4.conf.in" server HOOK="$OB_HOOK" \
	    BRIDGE=br0 SUBNET="$OB_SUBNET" SERVER_IP="$OB_SERVER_IP" REGISTRAR="$OB_URL" \
	    CAFP="$cafp" REGISTRY="$OB_S/reg/registry.db"
	tb_kea4_start server "$OB_S/kea4.conf.in"
}

# ob_update_server: latchkeyd serves updates from $UPD ($OB_S/updates; fw-core/ made), and
# "release" is an update signer of the domain ($OB_S/signer.pem and .key, its CRL on the
# registrar). Before ob_registrar_start.
ob_update_server() {
	UPD=$OB_S/updates
	mkdir -p "$UPD/fw-core"
	cat >>"$OB_S/reg/latchkeyd.conf" <<EOC
update-dir = $UPD
update-url = $OB_URL/.well-known/latchkey/update
EOC
	latchkeyctl --db "$OB_S/reg/registry.db" update-signer --dir "$OB_S/reg" --name release \
	    --crl-url "$OB_URL/.well-known/latchkey/crl" --out "$OB_S/signer" \
	    >"$OB_S/signer.log" 2>&1 || tb_fail "update-signer: $(tail -1 "$OB_S/signer.log")"
}

# ob_publish VERSION [EXPIRES] [SIGNER]: the payload of fw-core VERSION (class sensor) in
# $UPD and its manifest, signed by SIGNER (.pem and .key; default release), valid from a
# minute ago until EXPIRES (default in an hour).
ob_publish() {
	local v=$1 now
	now=$(date +%s)
	printf 'fw-core firmware %s\n' "$v" >"$UPD/fw-core/fw-core_$v.bin"
	printf '{"manifest-version":1,"package":"fw-core","version":"%s","sha256":"%s","size":%s,"not-before":%s,"expires":%s,"targets":["sensor"],"url":"fw-core_%s.bin"}' \
	    "$v" "$(sha256sum "$UPD/fw-core/fw-core_$v.bin" | cut -d' ' -f1)" \
	    "$(stat -c %s "$UPD/fw-core/fw-core_$v.bin")" $((now - 60)) "${2:-$((now + 3600))}" \
	    "$v" >"$OB_S/m-$v.json"
	latchkeyctl update-sign --cert "${3:-$OB_S/signer}.pem" --key "${3:-$OB_S/signer}.key" \
	    --manifest "$OB_S/m-$v.json" --out "$UPD/fw-core/manifest.cms" --force >/dev/null ||
	    tb_fail "update-sign $v"
	chmod -R a+rX "$UPD"
}

# ob_update HOST INSTALL: `latchkey update` of fw-core (class sensor) in HOST, from the URL
# its discovery stored, with INSTALL as --install-command; HOST/update-N.json and .log
# (ending "rc=N"), N counting the runs of the scenario.
OB_NRUN=0
ob_update() {
	local dir
	dir=$(tb_hostdir "$1")
	OB_NRUN=$((OB_NRUN + 1))
	tb_exec "$1" latchkey update --state-dir "$dir/state" --package fw-core --class sensor \
	    --install-command "$2" --json >"$dir/update-$OB_NRUN.json" \
	    2>"$dir/update-$OB_NRUN.log"
	echo "rc=$?" >>"$dir/update-$OB_NRUN.log"
}

# ob_mdns_device ALIAS IDX: a device namespace on the bridge at .250, without DHCP (it finds
# the registrar by mDNS), holding device IDX's factory identity in $TB_DIR/ALIAS/factory.
ob_mdns_device() {
	tb_ns_add "$1"
	tb_link server - "$1" "$OB_SUBNET.250/24"
	ip -n "$(tb_ns server)" link set "$TB_LINK_A" master br0 || tb_fail "cannot bridge $1"
	mkdir -p "$TB_DIR/$1/factory"
	cp "$(ob_devdir "$2")"/{idevid.pem,idevid.key,masa-anchor.pem} "$TB_DIR/$1/factory/"
}

# ob_onboard_mdns ALIAS [ARG...]: once latchkeyd announces itself, `latchkey onboard` in
# ALIAS with its factory identity and no DHCP options (ARGs added); onboard.json and
# onboard.log (ending "rc=N") in $TB_DIR/ALIAS.
ob_onboard_mdns() {
	local a=$1 h=$TB_DIR/$1
	shift
	tb_wait_log server latchkeyd "mdns: announced as" 15
	tb_exec "$a" latchkey onboard --state-dir "$h/state" --idevid "$h/factory/idevid.pem" \
	    --idevid-key "$h/factory/idevid.key" --masa-anchor "$h/factory/masa-anchor.pem" \
	    --dhcp-env "$h/none.env" --max-backoff 2 --timeout 40 -v --json "$@" \
	    >"$h/onboard.json" 2>"$h/onboard.log"
	echo "rc=$?" >>"$h/onboard.log"
}

# ob_avahi ALIAS...: avahi-daemon in the server (on br0) and in the given devices.
ob_avahi() {
	# The server's veths are bridge ports without addresses: let avahi use br0.
	[[ " ${TB_IFS[server]} " == *" br0 "* ]] || TB_IFS[server]="${TB_IFS[server]} br0"
	TB_AVAHI_IPV6=no tb_avahi_start server "$@"
}

# ob_onboard_args ALIAS: what `latchkey onboard` gets on that device.
ob_onboard_args() {
	local d
	d=$(tb_hostdir "$1")
	printf -- '--state-dir %s --idevid %s --idevid-key %s --masa-anchor %s --dhcp-env %s --no-mdns --max-backoff 2 --attempt-timeout 20 --timeout 100 --report-dpkg-status %s -v%s' \
	    "$d/state" "$d/factory/idevid.pem" "$d/factory/idevid.key" \
	    "$d/factory/masa-anchor.pem" "$d/run-latchkey/dhcp-$(tb_if "$1").env" \
	    "$OB_S/dpkg-status" "${OB_ONBOARD_ARGS:+ $OB_ONBOARD_ARGS}"
}

ob_device() {
	local alias=$1 idx=$2 start=${3:-yes} d src
	tb_ns_add "$alias"
	tb_link server - "$alias" -
	ip -n "$(tb_ns server)" link set "$TB_LINK_A" master br0 ||
	    tb_fail "cannot add $TB_LINK_A to br0"
	d=$(tb_hostdir "$alias")
	src=$(ob_devdir "$idx")
	# The factory identity only: IDevID, its key, the MASA anchor.
	mkdir -p "$d/factory" "$d/run-latchkey"
	cp "$src/idevid.pem" "$src/idevid.key" "$src/masa-anchor.pem" "$d/factory/"
	# Configure the interface (never the distribution's script: it rewrites the host's
	# /etc/resolv.conf).
	cat >"$d/ifconfig.sh" <<'EOS'
#!/bin/sh
case $1 in
deconfig) ip addr flush dev "$interface" ;;
bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/${mask:-24}" dev "$interface" ;;
esac
exit 0
EOS
	cat >"$d/udhcpc.sh" <<EOS
#!/bin/sh
[ "\$1" = bound ] && date +%s%3N >"$d/ack_ms"
LATCHKEY_RUN_DIR=$d/run-latchkey LATCHKEY_UDHCPC_CHAIN=$d/ifconfig.sh \\
LATCHKEY_ONBOARD=$start LATCHKEY_BIN=$LK_BIN/latchkey \\
LATCHKEY_ONBOARD_LOG=$d/onboard.log \\
LATCHKEY_ONBOARD_ARGS="$(ob_onboard_args "$alias")" \\
    exec sh "$LK_TOP/contrib/dhcp/udhcpc-latchkey.sh" "\$@"
EOS
	chmod 0755 "$d/ifconfig.sh" "$d/udhcpc.sh"
	OB_NDEV=$((OB_NDEV + 1))
}

ob_dhcp() {
	local d
	d=$(tb_hostdir "$1")
	tb_bg "$1" udhcpc timeout 30 udhcpc -f -q -n -i "$(tb_if "$1")" -O 143 -O 125 \
	    -s "$d/udhcpc.sh" -t 10 -T 1
}

ob_registrar_start() {
	# shellcheck disable=SC2086
	tb_bg server latchkeyd env ${OB_REG_ENV:-} latchkeyd -d -v -f "$OB_S/reg/latchkeyd.conf"
	tb_wait_for "the registrar to answer" "$TB_TIMEOUT" tb__alive_and server latchkeyd \
	    tb_exec server curl -s -o /dev/null --cacert "$OB_S/reg/domain-ca.pem" \
	    "$OB_URL/.well-known/est/cacerts"
}

# ob_ack_to_bound ALIAS: ms from the DHCP ACK (the script's bound event) to BOUND.
ob_ack_to_bound() {
	local d ack bound
	d=$(tb_hostdir "$1")
	ack=$(cat "$d/ack_ms" 2>/dev/null) || return 1
	bound=$(jq -r .bound_at_ms "$d/state/onboard.json" 2>/dev/null) || return 1
	[ -n "$ack" ] && [ "$bound" -gt 0 ] 2>/dev/null || return 1
	echo $((bound - ack))
}

# ob_revoke_signer NAME CERT: revoke the update signer update-signer:NAME, then wait until a
# device (d) can no longer meet a CRL without it: ten CRL fetches in a row (new connections,
# spread over the workers) list it, and the second a worker may serve its cached CRL for
# (DESIGN.md, Revocation: within a second) is over.
ob_revoke_signer() {
	local cs t0
	latchkeyctl --db "$OB_S/reg/registry.db" revoke "update-signer:$1" --reason keyCompromise \
	    >/dev/null || tb_fail "revoke update-signer:$1"
	t0=$(date +%s%N)
	cs=$(openssl x509 -in "$2" -noout -serial | cut -d= -f2)
	ob__on_crl() {
		local i
		for i in 1 2 3 4 5 6 7 8 9 10; do
			tb_exec d curl -sf --cacert "$(tb_hostdir d)/state/domain-ca.pem" \
			    "$OB_URL/.well-known/latchkey/crl" | openssl crl -inform DER -noout -text |
			    grep -q "$cs" || return 1
		done
	}
	ob__second_over() { [ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 1100 ]; }
	tb_wait_for "the revoked signer on every worker's CRL" 10 ob__on_crl
	tb_wait_for "the second since the revocation" 3 ob__second_over
}

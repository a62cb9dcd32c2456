#!/bin/bash
# tests/net/kea-pg: Kea on hosts of its own. Two kea-dhcp4 servers (as a Kea HA pair would
# be; without the HA hook) each load liblatchkey_kea.so with registry = a PostgreSQL
# conninfo over TCP; the registry's NOTIFY (schema v9) makes both reload their revoked
# snapshot, with no query per packet and no restart.
#
#   db (PostgreSQL on 10.205.1.1 and 10.205.2.1)
#    |-- veth --- kea1 (10.205.1.2; kea-dhcp4 + hook, latchkeyd; LAN 10.206.1.1/24) --+
#    '-- veth --- kea2 (10.205.2.2; kea-dhcp4 + hook;            LAN 10.206.2.1/24) --+-- device
#   device: one veth to each server's LAN, both with the same MAC (udhcpc, latchkey)
#
# Shows: both servers load the empty set from PostgreSQL; the device gets a normal lease from
# each, enrolls with latchkeyd (whose registry is the same database) and reports its MAC;
# its posture report (issue #20) is noncompliant: both hooks reload their noncompliant set
# on the NOTIFY and put its next DISCOVER into the noncompliant pool; compliant again, it is
# released by both; after `latchkeyctl revoke` both hooks reload within a few seconds (the
# time from the revocation to each reload, from their logs, is printed and bounded) and
# both put the device's next DISCOVER into the quarantine pool. Exit 0 pass, 77 skip, 1
# fail. Needs root.
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
HERE=$LK_TOP/tests/net/kea-pg
. "$LK_TOP/tests/net/lib.sh"
. "$LK_TOP/tests/pg.sh"

RELOAD_MAX=5	# seconds from the revocation to both hooks' reload

HOOK=${LK_HOOK:-$LK_BIN/liblatchkey_kea.so}
[ -f "$HOOK" ] || tb_skip "$HOOK is not built (make $HOOK)"
for p in latchkey latchkeyd latchkeyctl; do
	[ -x "$LK_BIN/$p" ] || tb_skip "$LK_BIN/$p is not built"
done
tb_init
tb_require kea-dhcp4 udhcpc jq psql bc setpriv
PGBIN=$(pg_bindir) || tb_skip "PostgreSQL server not installed (initdb not found)"
id -u postgres >/dev/null 2>&1 || tb_skip "no user postgres to run PostgreSQL as"

tb_ns_add db
tb_ns_add kea1
tb_ns_add kea2
tb_ns_add device
tb_link db 10.205.1.1/24 kea1 10.205.1.2/24
tb_link db 10.205.2.1/24 kea2 10.205.2.2/24
tb_link kea1 10.206.1.1/24 device -
LAN1=$TB_LINK_A; DIF1=$TB_LINK_B
tb_link kea2 10.206.2.1/24 device -
LAN2=$TB_LINK_A; DIF2=$TB_LINK_B
MAC=$(ip -n "$(tb_ns device)" -o link show "$DIF1" |
    sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
MACHEX=$(printf '%s' "$MAC" | tr -d :)
[ "${#MACHEX}" = 12 ] || tb_fail "cannot read the device's MAC address"
ip -n "$(tb_ns device)" link set dev "$DIF2" address "$MAC" ||
    tb_fail "cannot give the second link the device's MAC"
S=$TB_DIR/kea1
D=$TB_DIR/device

# PostgreSQL in db, as the user postgres (setpriv execs in place: the recorded PID is the
# postmaster's), TCP on its two veth addresses only, trust for the test bed's subnets.
PGD=$TB_DIR/db/pg
mkdir -p "$PGD"
chown postgres "$PGD"
setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/initdb" -D "$PGD/data" \
    -U postgres -A trust --no-sync >"$TB_DIR/db/initdb.log" 2>&1 ||
    tb_fail "initdb failed: $(tail -3 "$TB_DIR/db/initdb.log")"
echo "host all postgres 10.205.0.0/16 trust" >>"$PGD/data/pg_hba.conf"
tb_bg db postgres setpriv --reuid=postgres --regid=postgres --init-groups \
    "$PGBIN/postgres" -D "$PGD/data" -k "$PGD" -c listen_addresses=10.205.1.1,10.205.2.1 \
    -c fsync=off -c max_connections=30
PGC="host=$PGD user=postgres dbname=lk"
tb_wait_for "PostgreSQL answering" "$TB_TIMEOUT" \
    tb__alive_and db postgres tb_exec db psql "host=$PGD user=postgres dbname=postgres" -qc 'SELECT 1'
tb_exec db psql "host=$PGD user=postgres dbname=postgres" -qc 'CREATE DATABASE lk' ||
    tb_fail "CREATE DATABASE failed"
REG1="host=10.205.1.1 port=5432 user=postgres dbname=lk"
REG2="host=10.205.2.1 port=5432 user=postgres dbname=lk"

# The domain: lab PKI, registrar in kea1 on its LAN address, registry on PostgreSQL (the
# claim, from kea1 over TCP, creates the schema).
"$LK_BIN/latchkeyctl" lab-pki --out "$S/lab" --devices 1 --json >"$S/lab.json" ||
    tb_fail "latchkeyctl lab-pki failed"
"$LK_BIN/latchkeyctl" init --domain pg.test --dir "$S/reg" \
    --manufacturer-ca "$S/lab/manufacturer-ca.pem" --listen 10.206.1.1:8443 >"$S/init.log" ||
    tb_fail "latchkeyctl init failed"
sed -i -E '/^[[:space:]]*registry[[:space:]]*=/d' "$S/reg/latchkeyd.conf"
printf 'registry = %s\n' "$REG1" >>"$S/reg/latchkeyd.conf"
printf 'posture-policy = %s\n' "$S/policy.json" >>"$S/reg/latchkeyd.conf"
echo '{"forbidden": ["telnetd"]}' >"$S/policy.json"
printf 'Package: telnetd\nStatus: install ok installed\nVersion: 0.17-44\n' >"$S/status.bad"
printf 'Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n' >"$S/status.good"
SERIAL=$(jq -r '.devices[0].serial' "$S/lab.json")
CERT=$(jq -r '.devices[0].cert' "$S/lab.json")
KEY=$(jq -r '.devices[0].key' "$S/lab.json")
tb_exec kea1 "$LK_BIN/latchkeyctl" --db "$REG1" claim "$SERIAL" >"$S/claim.log" 2>&1 ||
    tb_fail "claim failed: $(cat "$S/claim.log")"
tb_bg kea1 latchkeyd "$LK_BIN/latchkeyd" -d -f "$S/reg/latchkeyd.conf"

# The two kea-dhcp4 servers, each reading the registry over its own TCP link.
for n in 1 2; do
	h=kea$n
	reg=REG$n; lan=LAN$n
	tb_render "$HERE/kea-dhcp4.conf.in" "$TB_DIR/$h/kea4.conf" "$h" HOOK="$HOOK" \
	    REGISTRY="${!reg}" NET="10.206.$n" LAN="${!lan}"
	mkdir -p "$TB_DIR/$h/kea"
	tb_bg "$h" kea4 env KEA_PIDFILE_DIR="$TB_DIR/$h/kea" KEA_LOCKFILE_DIR="$TB_DIR/$h/kea" \
	    kea-dhcp4 -c "$TB_DIR/$h/kea4.conf"
done
for h in kea1 kea2; do
	tb_wait_log "$h" kea4 'DHCP4_STARTED'
	tb_wait_log "$h" kea4 'LATCHKEY_REVOKED_LOADED .* 0 revoked network identifier'
done
KEAPID1=$(tb_pid kea1 kea4)
KEAPID2=$(tb_pid kea2 kea4)
export D PGC SERIAL MACHEX	# for tests/net/kea-pg/checks
tb_check_phase loaded

cat >"$D/udhcpc.sh" <<EOF
#!/bin/sh
env | sort >"$D/udhcpc.\$1"
if [ "\$1" = bound ]; then
	ip addr flush dev "\$interface"
	ip addr add "\$ip/24" dev "\$interface"
fi
exit 0
EOF
chmod 0755 "$D/udhcpc.sh"
dhcp() {	# dhcp IF NAME: one DORA on IF; the bound environment in $D/NAME.bound
	rm -f "$D/udhcpc.bound"
	tb_exec device timeout 15 udhcpc -f -q -n -R -i "$1" -O 143 -O 125 \
	    -s "$D/udhcpc.sh" -t 5 -T 1 >"$D/$2.out" 2>&1
	cp "$D/udhcpc.bound" "$D/$2.bound" 2>/dev/null || : >"$D/$2.bound"
}

# 1. A lease from kea1, then enroll over it, reporting the MAC.
dhcp "$DIF1" first1
tb_wait_for "latchkeyd listening" 10 tb_exec device bash -c \
    "exec 3<>/dev/tcp/10.206.1.1/8443"
tb_exec device "$LK_BIN/latchkey" enroll --server https://10.206.1.1:8443 --idevid "$CERT" \
    --idevid-key "$KEY" --ca "$S/reg/domain-ca.pem" --out "$D/ldevid" \
    --netid-if "$DIF1" >"$D/enroll.out" 2>&1
tb_check_phase enrolled

# 2. Active: the normal pool from both servers.
dhcp "$DIF1" active1
dhcp "$DIF2" active2
tb_check_phase active

# 3. Posture: noncompliant, then compliant again; both hooks follow the NOTIFY.
# ncloaded HOST N COUNT: a noncompliant reload holding COUNT after the first N such lines
ncloaded() {
	grep 'LATCHKEY_NONCOMPLIANT_LOADED' "$TB_DIR/$1/kea4.log" | tail -n +$(($2 + 1)) |
	    grep -q "hook: $3 noncompliant network identifier"
}
report() {	# report NAME STATUS: exit status in $D/NAME.rc
	tb_exec device "$LK_BIN/latchkey" report --state-dir "$D/ldevid" \
	    --posture-url https://10.206.1.1:8443 --dpkg-status "$2" >"$D/$1.out" 2>&1
	echo "rc=$?" >>"$D/$1.out"
}
n1=$(grep -c 'LATCHKEY_NONCOMPLIANT_LOADED' "$TB_DIR/kea1/kea4.log")
n2=$(grep -c 'LATCHKEY_NONCOMPLIANT_LOADED' "$TB_DIR/kea2/kea4.log")
report bad "$S/status.bad"
tb_wait_for "kea1's hook reloading the noncompliant verdict" 10 ncloaded kea1 "$n1" 1
tb_wait_for "kea2's hook reloading the noncompliant verdict" 10 ncloaded kea2 "$n2" 1
dhcp "$DIF1" noncompliant1
dhcp "$DIF2" noncompliant2
tb_check_phase noncompliant
n1=$(grep -c 'LATCHKEY_NONCOMPLIANT_LOADED' "$TB_DIR/kea1/kea4.log")
n2=$(grep -c 'LATCHKEY_NONCOMPLIANT_LOADED' "$TB_DIR/kea2/kea4.log")
report good "$S/status.good"
tb_wait_for "kea1's hook reloading the compliant verdict" 10 ncloaded kea1 "$n1" 0
tb_wait_for "kea2's hook reloading the compliant verdict" 10 ncloaded kea2 "$n2" 0
dhcp "$DIF1" released1
dhcp "$DIF2" released2
tb_check_phase released

# 4. Revoke (from kea1 over TCP); both hooks reload on the NOTIFY.
n1=$(grep -c 'LATCHKEY_REVOKED_LOADED' "$TB_DIR/kea1/kea4.log")
n2=$(grep -c 'LATCHKEY_REVOKED_LOADED' "$TB_DIR/kea2/kea4.log")
T0=$(date +%s.%N)
tb_exec kea1 "$LK_BIN/latchkeyctl" --db "$REG1" revoke "$SERIAL" --reason keyCompromise \
    >"$S/revoke.log" 2>&1 || tb_fail "latchkeyctl revoke failed: $(cat "$S/revoke.log")"
T1=$(date +%s.%N)
# reloaded HOST N: the first reload holding 1 identifier after the first N reload lines
reloaded() {
	grep 'LATCHKEY_REVOKED_LOADED' "$TB_DIR/$1/kea4.log" | tail -n +$(($2 + 1)) |
	    grep -m1 ' 1 revoked network identifier'
}
tb_wait_for "kea1's hook reloading the revocation" 10 reloaded kea1 "$n1"
tb_wait_for "kea2's hook reloading the revocation" 10 reloaded kea2 "$n2"
# lat HOST N: seconds from T0 to that reload's time stamp in Kea's log
lat() {
	local line ts
	line=$(reloaded "$1" "$2")
	ts=$(date -d "$(printf '%s' "$line" | awk '{print $1 " " $2}')" +%s.%N) || return 1
	echo "$ts - $T0" | bc
}
L1=$(lat kea1 "$n1") || tb_fail "cannot read kea1's reload time"
L2=$(lat kea2 "$n2") || tb_fail "cannot read kea2's reload time"
tb_log "revoke took $(echo "$T1 - $T0" | bc) s"
echo "kea-pg: from latchkeyctl revoke to the hooks' reload: kea1 $L1 s, kea2 $L2 s"
[ "$(echo "$L1 < $RELOAD_MAX && $L2 < $RELOAD_MAX && $L1 > -0.5 && $L2 > -0.5" | bc)" = 1 ] ||
    tb_fail "a hook's reload was not within ${RELOAD_MAX}s of the revocation"

dhcp "$DIF1" revoked1
dhcp "$DIF2" revoked2
tb_check_phase revoked
{ [ "$(tb_pid kea1 kea4)" = "$KEAPID1" ] && tb_alive kea1 kea4; } || tb_fail "kea1 restarted"
{ [ "$(tb_pid kea2 kea4)" = "$KEAPID2" ] && tb_alive kea2 kea4; } || tb_fail "kea2 restarted"

tb_done

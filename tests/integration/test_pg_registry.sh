#!/bin/bash
# latchkeyd and latchkeyctl on a PostgreSQL registry (registry = a conninfo string, --db the
# same): a throwaway server (tests/pg.sh), an empty database the schema is created in on
# first use; claim, enroll, reenroll (supersession), list, revoke with the CRL file beside
# the configuration and the device refused after, the audit chain intact; backup refuses
# with a pointer to pg_dump. No server to start (PostgreSQL not installed): this fails.
. "$(dirname "$0")/lib.sh"
it_init
it_pg lk_it

it_pki 2
S0=$(it_serial 0); D0=$(it_dev 0)
it_registrar "registry = $PGDB" || exit 1
check "latchkeyd made the schema (v13)" test "$(sql "SELECT schema_version FROM registry_meta")" = 13
check "latchkeyd.conf keeps the conninfo as written" grep -qx "registry = $PGDB" "$T/reg/latchkeyd.conf"
check "claim $S0" latchkeyctl --db "$DB" claim "$S0"

latchkey enroll --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --ca "$T/reg/domain-ca.pem" --out "$T/dev0" >"$T/enroll0.out" 2>&1
check "latchkey enroll exits 0" test $? = 0
cat "$T/enroll0.out"
check "LDevID verifies against the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/dev0/ldevid.pem"
LSER=$(openssl x509 -in "$T/dev0/ldevid.pem" -noout -serial | cut -d= -f2)
check "registry holds the LDevID and its DER" test "$(sql "SELECT count(*) FROM certificates WHERE upper(cert_serial)=upper('$LSER') AND length(der) > 100")" = 1
check "the stored DER is the LDevID" test "$(sql "SELECT encode(der, 'hex') FROM certificates WHERE upper(cert_serial)=upper('$LSER')")" = "$(openssl x509 -in "$T/dev0/ldevid.pem" -outform DER | od -An -tx1 -v | tr -d ' \n')"
latchkeyctl --db "$DB" list >"$T/list.out"; cat "$T/list.out"
check "list shows the active binding" grep -q "$S0.*active" "$T/list.out"

latchkey reenroll --out "$T/dev0" >"$T/reenroll.out" 2>&1
check "latchkey reenroll exits 0" test $? = 0
check "both certificates on one binding" test "$(sql "SELECT count(DISTINCT binding_id) || '/' || count(*) FROM certificates WHERE device_serial='$S0'")" = "1/2"
cp "$T/dev0/ldevid.pem" "$T/ldevid2.pem"

check "revoke exits 0" latchkeyctl --db "$DB" revoke "$S0" --reason keyCompromise
check "both LDevIDs revoked" test "$(sql "SELECT count(*) FROM certificates WHERE device_serial='$S0' AND revoked_at > 0")" = 2
# the CRL file defaults to the configuration's directory; the registrar notices the
# revocation (another connection's commit: registry_data_version) within a few seconds
sn=$(openssl x509 -in "$T/ldevid2.pem" -noout -serial | cut -d= -f2)
crl_lists() {
	[ -s "$T/reg/crl.der" ] && openssl crl -inform DER -in "$T/reg/crl.der" -noout -text \
	    2>/dev/null | grep -q "$sn"
}
check "CRL file beside the configuration lists the revoked LDevID" wait_until 10 crl_lists
check "latchkeyctl crl reads it" sh -c "cd '$T/reg' && latchkeyctl --db '$DB' crl | grep -q keyCompromise"
latchkey reenroll --out "$T/dev0" >"$T/re.out" 2>&1
check "the revoked device is refused" test $? = 1

check "audit chain verifies (the domain CA named: no folder beside the registry)" \
    latchkeyctl --db "$DB" audit --verify --ca "$T/reg/domain-ca.pem"
check "audit has enroll, reenroll and revoke" test "$(sql "SELECT count(*) FROM audit WHERE action IN ('enroll', 'reenroll', 'revoke') AND subject='$S0'")" = 3
latchkeyctl --db "$DB" backup "$T/copy.db" >"$T/backup.out" 2>&1
check "backup of a PostgreSQL registry refuses" test $? = 1
check "and names pg_dump" grep -q pg_dump "$T/backup.out"
check "latchkeyd still running" kill -0 "$LKD_PID"
it_done

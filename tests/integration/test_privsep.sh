#!/bin/bash
# Privileges (trust-model issue, item 11; latchkeyd(8), PRIVILEGES). Started as root,
# latchkeyd's parent stays root (it binds, reads the TLS key and replaces workers), its
# workers run as `latchkey` and each worker's signer, the only holder of the CA key, as
# `latchkey-signer`:
#   - ps shows the parent as root, the workers as latchkey, the signers as latchkey-signer;
#     /proc/PID/status has all four uids of a worker set to latchkey (no way back to root);
#   - the workers' user cannot open the CA key (EACCES), and no worker has it open;
#   - `latchkeyctl init` as root made registry.db 0600 (not world-readable), owned by
#     latchkey, in a directory of group latchkey, mode 1770; the CA key root's, 0600;
#   - an enrollment works end to end;
#   - start-up refuses what would break the model: a CA key the workers' user could read, a
#     missing user, user and signer-user the same user; `user = root` runs with a warning.
# Processes are found from the parent's PID (/proc/PID/task/*/children), never by name.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then echo "needs root (latchkeyd drops from root)"; exit 77; fi
for u in latchkey latchkey-signer; do
	id -u "$u" >/dev/null 2>&1 || { echo "no user $u (contrib/install-deps.sh makes it)"; exit 77; }
done
command -v setpriv >/dev/null || { echo "setpriv missing (util-linux)"; exit 77; }
it_init
it_pki 2
it_registrar "workers = 2" || exit 1
S0=$(it_serial 0); D0=$(it_dev 0)
KEY=$T/reg/domain-ca.key

children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep .; }
user_of() { ps -o user= -p "$1" | tr -d ' '; }
uids_of() { awk '/^Uid:/{print $2, $3, $4, $5}' /proc/"$1"/status; }
gids_of() { awk '/^Gid:/{print $2, $3, $4, $5}' /proc/"$1"/status; }
LK_UID=$(id -u latchkey) LK_GID=$(id -g latchkey) SG_UID=$(id -u latchkey-signer)

# ---- who runs as whom ---------------------------------------------------------------------
wait_until 10 sh -c "[ \$(cat /proc/$LKD_PID/task/*/children | wc -w) = 2 ]"
WORKERS=$(children "$LKD_PID")
echo "ps -o user=,pid=,ppid=,args= (the parent, its workers and their signers):"
ps -o user=,pid=,ppid=,args= -p "$LKD_PID"
for w in $WORKERS; do
	ps -o user=,pid=,ppid=,args= -p "$w"
	for s in $(children "$w"); do ps -o user=,pid=,ppid=,args= -p "$s"; done
done
check "the parent runs as root" test "$(user_of "$LKD_PID")" = root
n=0
for w in $WORKERS; do
	n=$((n + 1))
	check "worker $w runs as latchkey" test "$(user_of "$w")" = latchkey
	check "worker $w: real, effective, saved and fs uid all latchkey ($(uids_of "$w"))" \
	    test "$(uids_of "$w")" = "$LK_UID $LK_UID $LK_UID $LK_UID"
	check "worker $w: gids all latchkey's" test "$(gids_of "$w")" = "$LK_GID $LK_GID $LK_GID $LK_GID"
	check "worker $w: no supplementary groups" \
	    test -z "$(awk '/^Groups:/{$1=""; print}' /proc/"$w"/status | tr -d ' ')"
	s=$(children "$w" | head -1)
	check "worker $w has a signer" test -n "$s"
	check "signer $s runs as latchkey-signer" test "$(user_of "$s")" = latchkey-signer
	check "signer $s: real and effective uid latchkey-signer ($(uids_of "$s"))" \
	    sh -c "set -- $(uids_of "$s"); [ \$1 = $SG_UID ] && [ \$2 = $SG_UID ] && [ \$4 = $SG_UID ]"
	check "signer $s: no uid 0 left ($(uids_of "$s"))" \
	    sh -c "! echo ' $(uids_of "$s") ' | grep -q ' 0 '"
	# the worker has no descriptor on the CA key (/proc/PID/fd as root)
	open_key=0
	for f in /proc/"$w"/fd/*; do [ "$(readlink "$f")" = "$KEY" ] && open_key=1; done
	check "worker $w has no descriptor on the CA key" test "$open_key" = 0
done
check "two workers" test "$n" = 2

# ---- the workers' user cannot read the CA key ----------------------------------------------
ls -l "$KEY"
out=$(setpriv --reuid latchkey --regid latchkey --clear-groups cat "$KEY" 2>&1 >/dev/null)
rc=$?
echo "setpriv --reuid latchkey ... cat $KEY: exit $rc: $out"
check "as latchkey, cat CA key fails" test "$rc" != 0
check "... with EACCES (Permission denied)" sh -c "echo '$out' | grep -q 'Permission denied'"
check "the CA key is root's, mode 0600" test "$(stat -c '%U %a' "$KEY")" = "root 600"
setpriv --reuid latchkey-signer --regid latchkey-signer --clear-groups cat "$KEY" >/dev/null 2>&1
check "as latchkey-signer too (it holds the key read as root, in memory only)" test $? != 0

# ---- the registry ---------------------------------------------------------------------------
ls -ld "$T/reg"; ls -l "$T/reg"
mode=$(stat -c '%a' "$DB")
check "registry.db is not world-readable (mode $mode)" test $((8#$mode & 8#004)) = 0
check "registry.db is owned by latchkey" test "$(stat -c '%U' "$DB")" = latchkey
check "the registry's directory: root:latchkey 1770" \
    test "$(stat -c '%U:%G %a' "$T/reg")" = "root:latchkey 1770"
for f in "$DB-wal" "$DB-shm"; do
	[ -e "$f" ] || continue
	check "$(basename "$f"): latchkey's, not world-readable" \
	    test "$(stat -c '%U' "$f")" = latchkey -a $((8#$(stat -c '%a' "$f") & 8#004)) = 0
done

# ---- an enrollment, end to end ------------------------------------------------------------------
latchkeyctl --db "$DB" claim "$S0" >/dev/null
check "enroll $S0 through the dropped workers" latchkey enroll -q --server "$URL" \
    --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" --ca "$T/reg/domain-ca.pem" \
    --out "$T/dev0"
check "its LDevID verifies under the domain CA" \
    openssl verify -CAfile "$T/reg/domain-ca.pem" "$T/dev0/ldevid.pem"
check "its binding is in the registry" \
    test "$(sql "SELECT count(*) FROM bindings WHERE serial='$S0'" 2>/dev/null || sql "SELECT count(*) FROM audit WHERE subject='$S0' AND action LIKE 'enroll%'")" -ge 1
crl_by_latchkey() { test "$(stat -c '%U' "$T/reg/crl.der" 2>/dev/null)" = latchkey; }
check "the CRL file, written by worker 0 as latchkey" wait_until 5 crl_by_latchkey
it_stop_registrar

# ---- start-up refusals ------------------------------------------------------------------------
C=$T/reg/latchkeyd.conf
chmod 0644 "$KEY"
latchkeyd -n -f "$C" >"$T/n1.out" 2>&1; rc=$?
cat "$T/n1.out"
check "a CA key the workers could read: refused" test "$rc" != 0
check "... naming the key and the user" grep -q "ca-key $KEY is readable by user latchkey" "$T/n1.out"
chmod 0600 "$KEY"
check "with the key 0600 again, -n passes" latchkeyd -n -f "$C"

cp "$C" "$T/reg/nouser.conf"; echo "user = lk-no-such-user" >>"$T/reg/nouser.conf"
latchkeyd -n -f "$T/reg/nouser.conf" >"$T/n2.out" 2>&1; rc=$?
cat "$T/n2.out"
check "a missing user: refused" test "$rc" != 0
check "... naming it and how to create it" \
    grep -q "user = lk-no-such-user: no such user.*useradd --system" "$T/n2.out"
check "... with the file and the keyword" grep -q "$T/reg/nouser.conf: user" "$T/n2.out"

cp "$T/reg/nouser.conf" "$T/reg/same.conf"
sed -i 's/^user = .*/user = latchkey\nsigner-user = latchkey/' "$T/reg/same.conf"
latchkeyd -n -f "$T/reg/same.conf" >"$T/n3.out" 2>&1; rc=$?
check "user and signer-user the same: refused" test "$rc" != 0 -a -n "$(grep 'the same user' "$T/n3.out")"

sed -i 's/^user = .*/user = root/' "$T/reg/nouser.conf"
latchkeyd -n -f "$T/reg/nouser.conf" >"$T/n4.out" 2>&1; rc=$?
cat "$T/n4.out"
check "user = root: accepted" test "$rc" = 0
check "... with a warning" grep -q "warning: user = root" "$T/n4.out"

it_done

#!/bin/bash
# The Debian package, for real: `make deb` builds it, `dpkg -i` installs it into the system
# (/usr, /lib/systemd/system, /etc/latchkey, /var/lib/latchkey), the files, users and
# modes are checked; the INSTALLED latchkeyctl makes a domain in /var/lib/latchkey and
# /etc/latchkey/latchkeyd.conf (README.md, "Operating latchkeyd"); the INSTALLED latchkeyd
# runs exactly as latchkeyd.service's ExecStart says, with the unit's capability bounding
# set and no_new_privs (setpriv), on 127.0.0.1:<free port>; the INSTALLED latchkey enrolls
# a device; latchkeyd stops by its PID; `systemd-analyze verify` passes on every installed
# unit; `dpkg --purge` leaves nothing behind but the two system users (Debian policy keeps
# users). Whatever happens, the exit trap stops latchkeyd and purges the package.
# Skips (77) unless root with dpkg-buildpackage and debhelper, in the sanitizer run (SANITIZE=1:
# the same package), and when a latchkey package,
# /etc/latchkey or /var/lib/latchkey is already on this machine (it would be purged).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "needs root (dpkg -i)"; exit 77; }
# The package is built from the sources by dpkg-buildpackage, never from $LK_BIN: under the
# sanitizer run it would build and check the very same package a second time.
[ "${SANITIZE:-0}" != 1 ] || { echo "sanitizer run: the package is built and checked by the plain run"; exit 77; }
for t in dpkg-buildpackage dh dpkg setpriv curl jq openssl; do
	command -v "$t" >/dev/null 2>&1 || { echo "$t missing (contrib/install-deps.sh)"; exit 77; }
done
for p in latchkey latchkey-kea-hook; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) in
	"" | *not-installed) ;;
	*) echo "package $p is already on this machine: not touching it"; exit 77;;
	esac
done
for d in /etc/latchkey /var/lib/latchkey /usr/bin/latchkey /usr/sbin/latchkeyd; do
	[ ! -e "$d" ] || { echo "$d exists: a purge would remove it; not touching it"; exit 77; }
done

it_init
UNITDIR=/lib/systemd/system
OURS=0
LKD_PID=
pkg_cleanup() {
	local i
	if [ -n "$LKD_PID" ] && kill -0 "$LKD_PID" 2>/dev/null; then
		kill -TERM "$LKD_PID" 2>/dev/null
		for i in $(seq 1 50); do kill -0 "$LKD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$LKD_PID" 2>/dev/null || true
	fi
	if [ "$OURS" = 1 ]; then
		dpkg --purge latchkey-kea-hook latchkey >"$T/purge-trap.log" 2>&1 ||
			{ echo "cleanup: dpkg --purge failed:"; cat "$T/purge-trap.log"; }
	fi
	it_cleanup
}
trap pkg_cleanup EXIT

# ---- build
start=$(date +%s)
LINTIAN=${LINTIAN:-1} make -s -C "$LK_TOP" deb DEB_OUT="$T/deb" >"$T/deb.out" 2>&1
rc=$?
cat "$T/deb.out"
check "make deb exits 0 ($(( $(date +%s) - start ))s)" test "$rc" = 0
DEB=$(ls "$T"/deb/latchkey_*.deb 2>/dev/null | head -1)
HOOKDEB=$(ls "$T"/deb/latchkey-kea-hook_*.deb 2>/dev/null | head -1)
[ -f "$DEB" ] || { fail "no latchkey .deb"; it_done; }
dpkg -c "$DEB"
VERSION=$(dpkg-deb -f "$DEB" Version)
check "package version is LATCHKEY_VERSION" \
    grep -q "LATCHKEY_VERSION[[:space:]]*\"$VERSION\"" "$LK_TOP/enroll/common/version.h"

# ---- install
OURS=1
debs=("$DEB")
[ -f "$HOOKDEB" ] && [ -d /usr/include/kea ] && debs+=("$HOOKDEB")
dpkg -i "${debs[@]}" >"$T/install.log" 2>&1
rc=$?
cat "$T/install.log"
check "dpkg -i exits 0" test "$rc" = 0
check "latchkey is installed" test "$(dpkg-query -W -f='${Status}' latchkey)" = "install ok installed"

for f in /usr/sbin/latchkeyd /usr/bin/latchkey /usr/bin/latchkeyctl; do
	check "$f installed, 0755 root" test "$(stat -c '%a %U' "$f" 2>&1)" = "755 root"
done
for m in latchkey latchkeyd latchkeyctl; do
	check "man page $m.8" test -f "/usr/share/man/man8/$m.8.gz"
done
for u in latchkeyd.service latchkey-onboard.service latchkey-renew.service latchkey-renew.timer \
    latchkey-report.service latchkey-report.timer; do
	check "unit $u in $UNITDIR" test -f "$UNITDIR/$u"
	check "unit $u not enabled" test -z "$(find /etc/systemd/system -name "$u" 2>/dev/null)"
done
for f in udhcpc-latchkey.sh dhclient-exit-hook.sh dhclient-latchkey.conf dhcpcd-latchkey.sh; do
	check "DHCP client hook $f" test -f "/usr/share/latchkey/dhcp/$f"
done
if [ "${#debs[@]}" = 2 ]; then
	MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
	check "Kea hook in Kea's hooks directory" test -f "/usr/lib/$MA/kea/hooks/liblatchkey_kea.so"
fi
for u in latchkey latchkey-signer; do
	check "system user $u, no login shell" \
	    test "$(getent passwd "$u" | cut -d: -f7)" = /usr/sbin/nologin
	check "user $u is a system user" test "$(id -u "$u")" -lt 1000
done
check "/etc/latchkey root:root 0755" test "$(stat -c '%U:%G %a' /etc/latchkey)" = "root:root 755"
check "/var/lib/latchkey root:latchkey 1770" \
    test "$(stat -c '%U:%G %a' /var/lib/latchkey)" = "root:latchkey 1770"
check "installed latchkey reports $VERSION" sh -c "/usr/bin/latchkey --version | grep -qx 'latchkey $VERSION'"
for u in latchkey-onboard.service latchkey-renew.service latchkeyd.service; do
	x=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$UNITDIR/$u")
	check "$u runs $x, which is installed" test -x "$x"
done
dpkg -L latchkey latchkey-kea-hook 2>/dev/null | sort -u >"$T/pkgfiles"

# ---- a domain, made by the installed latchkeyctl, the way README.md says
/usr/bin/latchkeyctl lab-pki --out "$T/lab" --devices 1 --json >"$T/lab.json"
check "installed latchkeyctl lab-pki" test $? = 0
S0=$(it_serial 0); D0=$(it_dev 0)
PORT=$(it_free_port)
/usr/bin/latchkeyctl init --domain package.test --dir /var/lib/latchkey \
    --manufacturer-ca "$T/lab/manufacturer-ca.pem" --listen "127.0.0.1:$PORT" >"$T/init.out" 2>&1
check "installed latchkeyctl init --dir /var/lib/latchkey" test $? = 0
cat "$T/init.out"
sed -E 's#^(ca-cert|ca-key|tls-cert|tls-key|registry|manufacturer-ca) = ([^/])#\1 = /var/lib/latchkey/\2#' \
    /var/lib/latchkey/latchkeyd.conf >/etc/latchkey/latchkeyd.conf &&
    rm /var/lib/latchkey/latchkeyd.conf
cat /etc/latchkey/latchkeyd.conf
check "CA key root 0600" test "$(stat -c '%U %a' /var/lib/latchkey/domain-ca.key)" = "root 600"
check "registry is latchkey's" test "$(stat -c '%U %a' /var/lib/latchkey/registry.db)" = "latchkey 600"
check "/var/lib/latchkey still root:latchkey 1770" \
    test "$(stat -c '%U:%G %a' /var/lib/latchkey)" = "root:latchkey 1770"
/usr/bin/latchkeyctl --db /var/lib/latchkey/registry.db claim "$S0" >/dev/null
check "claim $S0" test $? = 0

/usr/sbin/latchkeyd -n -f /etc/latchkey/latchkeyd.conf >"$T/check.out" 2>&1
check "installed latchkeyd -n accepts /etc/latchkey/latchkeyd.conf" test $? = 0
cat "$T/check.out"

# ---- latchkeyd exactly as latchkeyd.service starts it
EXEC=$(sed -n 's/^ExecStart=//p' "$UNITDIR/latchkeyd.service")
read -r -a ARGV <<<"$EXEC"
check "ExecStart is a plain command line: $EXEC" test "${#ARGV[@]}" -gt 1 -a -x "${ARGV[0]}"
CAPS=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNITDIR/latchkeyd.service")
BSET=-all
for c in $CAPS; do c=${c#CAP_}; BSET+=",+${c,,}"; done
NNP=()
grep -q '^NoNewPrivileges=yes' "$UNITDIR/latchkeyd.service" && NNP=(--no-new-privs)
echo "running: setpriv ${NNP[*]} --bounding-set $BSET ${ARGV[*]}"
(cd / && exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    setpriv "${NNP[@]}" --bounding-set "$BSET" --inh-caps=-all "${ARGV[@]}") \
    >>"$T/latchkeyd.log" 2>&1 </dev/null &
LKD_PID=$!
URL=https://127.0.0.1:$PORT
ready() { kill -0 "$LKD_PID" && curl -sf -o /dev/null --cacert /var/lib/latchkey/domain-ca.pem "$URL/.well-known/est/cacerts"; }
if wait_until 15 ready; then ok "latchkeyd (pid $LKD_PID) serves $URL"; else
	fail "latchkeyd not serving $URL"; cat "$T/latchkeyd.log"; it_done; fi
check "latchkeyd's workers run as latchkey" sh -c "ps -o user= --ppid $LKD_PID | grep -qx latchkey"
WORKERS=$(ps -o pid= --ppid "$LKD_PID" | tr -d ' ' | paste -sd, -)
check "its signers run as latchkey-signer" \
    sh -c "[ -n '$WORKERS' ] && ps -o user:20= --ppid '$WORKERS' | grep -qx latchkey-signer"

/usr/bin/latchkey enroll --server "$URL" --idevid "$D0/idevid.pem" --idevid-key "$D0/idevid.key" \
    --ca /var/lib/latchkey/domain-ca.pem --out "$T/dev0" >"$T/enroll.out" 2>&1
check "installed latchkey enroll exits 0" test $? = 0
cat "$T/enroll.out"
check "LDevID verifies against the domain CA" \
    openssl verify -CAfile /var/lib/latchkey/domain-ca.pem "$T/dev0/ldevid.pem"
/usr/bin/latchkeyctl --db /var/lib/latchkey/registry.db list >"$T/list.out" 2>&1
cat "$T/list.out"
check "the binding is active in the registry" grep -q "$S0.*active" "$T/list.out"
check "CRL written beside the registry" test -s /var/lib/latchkey/crl.der

kill -TERM "$LKD_PID"
if wait_until 15 sh -c "! kill -0 $LKD_PID"; then
	wait "$LKD_PID"; rc=$?
	check "latchkeyd stops on SIGTERM with status 0" test "$rc" = 0
else
	fail "latchkeyd still running 15 s after SIGTERM"
fi
LKD_PID=
echo "--- latchkeyd log"; cat "$T/latchkeyd.log"

# ---- the installed units
for u in $(grep -E "^$UNITDIR/latchkey.*\.(service|timer)$" "$T/pkgfiles"); do
	out=$(systemd-analyze verify "$u" 2>&1)
	rc=$?
	[ -z "$out" ] || echo "$out"
	check "systemd-analyze verify $(basename "$u")" test "$rc" = 0 -a -z "$out"
done
systemd-analyze security --offline=true latchkeyd.service 2>&1 | tail -1

# ---- purge
dpkg --purge latchkey-kea-hook latchkey >"$T/purge.log" 2>&1
rc=$?
cat "$T/purge.log"
check "dpkg --purge exits 0" test "$rc" = 0
OURS=0
st=$(dpkg-query -W -f='${Status}' latchkey 2>/dev/null)
check "latchkey is gone from dpkg's database${st:+ ($st)}" test -z "${st%%*not-installed}"
left=$(while read -r f; do [ -d "$f" ] || [ ! -e "$f" ] || echo "$f"; done <"$T/pkgfiles")
check "no file of the package is left${left:+: $left}" test -z "$left"
check "/var/lib/latchkey removed" test ! -e /var/lib/latchkey
check "/etc/latchkey removed" test ! -e /etc/latchkey
check "no unit state left" test -z "$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
    /var/lib/systemd/deb-systemd-helper-masked -name 'latchkey*' 2>/dev/null)"
getent passwd latchkey latchkey-signer >/dev/null &&
	echo "note: the users latchkey and latchkey-signer remain (Debian policy: purge keeps system users)"
it_done

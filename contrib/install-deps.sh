#!/bin/sh
# install-deps.sh: install every Debian package latchkey needs to build, test and run, and
# the two system users latchkeyd runs as.
# Idempotent and quiet on success; prints apt's output only when something fails.
# Services in these packages (avahi-daemon, kea, strongSwan, PostgreSQL) must never start in
# the root namespace: the tests start their own copies (inside network namespaces; PostgreSQL
# on a Unix socket of its own, tests/pg.sh). A policy-rc.d that refuses every start is put
# in place for the duration of the install when none exists.
set -eu

PKGS="build-essential pkg-config g++ clang libclang-rt-14-dev llvm
openssl libssl-dev ca-certificates
libevent-dev libcurl4-openssl-dev curl
libsqlite3-dev sqlite3 libpq-dev postgresql libsystemd-dev prometheus libjansson-dev libcmocka-dev
libavahi-client-dev avahi-daemon avahi-utils dbus
kea-dhcp4-server kea-dhcp6-server kea-dev kea-admin libboost-dev
strongswan-charon strongswan-swanctl strongswan-pki libcharon-extra-plugins libstrongswan-extra-plugins libstrongswan-standard-plugins socat
iproute2 iputils-ping procps psmisc udhcpc isc-dhcp-client dhcpcd-base tshark
mandoc jq bc time python3 valgrind
softhsm2 libengine-pkcs11-openssl libp11-kit-dev opensc
dpkg-dev debhelper lintian adduser man-db
tpm2-openssl swtpm swtpm-tools tpm2-tools"

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: must run as root (apt-get install)" >&2
	exit 1
fi

# latchkeyd started as root runs its workers as `latchkey` and its signers (the CA key's
# holders) as `latchkey-signer` (latchkeyd(8), PRIVILEGES): system users, no home, no shell.
for u in latchkey latchkey-signer; do
	id -u "$u" >/dev/null 2>&1 ||
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin "$u"
done

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

log=$(mktemp /tmp/latchkey-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
policy=/usr/sbin/policy-rc.d
ours=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	ours=1
fi
export DEBIAN_FRONTEND=noninteractive
rc=0
{ apt-get update -q && echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections &&
  apt-get install -y -q --no-install-recommends $missing; } >"$log" 2>&1 || rc=$?
[ "$ours" = 1 ] && rm -f "$policy"
if [ "$rc" != 0 ]; then
	cat "$log" >&2
	echo "install-deps: apt-get failed (exit $rc) installing:$missing" >&2
	exit 1
fi
exit 0

#!/bin/sh
# build-deb.sh [OUTDIR]: build the Debian packages (`make deb`). Copies what the build needs
# into a temporary source tree with this directory as debian/, writes debian/changelog
# with the version of LATCHKEY_VERSION in enroll/common/version.h (the one place it is
# kept), runs dpkg-buildpackage -b (no root needed: Rules-Requires-Root: no) and copies
# the .deb files to OUTDIR (default build/deb), printing their paths. LINTIAN=0 skips
# lintian; JOBS=N (default 2) parallel jobs.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-build/deb}
case $out in /*) ;; *) out=$top/$out;; esac

for t in dpkg-buildpackage dh; do
	command -v "$t" >/dev/null 2>&1 ||
		{ echo "build-deb: $t missing: apt-get install dpkg-dev debhelper (make deps)" >&2; exit 1; }
done
version=$(sed -n 's/^#define[[:space:]]*LATCHKEY_VERSION[[:space:]]*"\([^"]*\)".*/\1/p' \
    "$top/enroll/common/version.h")
[ -n "$version" ] || { echo "build-deb: no LATCHKEY_VERSION in enroll/common/version.h" >&2; exit 1; }

tmp=$(mktemp -d /tmp/latchkey-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
src=$tmp/latchkey-$version
mkdir "$src"
(cd "$top" && tar -cf - Makefile README.md LICENSE certs mdns dhcp-hook enroll man contrib) |
	tar -xf - -C "$src"
cp -R "$top/contrib/debian" "$src/debian"
rm -f "$src/debian/build-deb.sh"
maint=$(sed -n 's/^Maintainer: //p' "$src/debian/control")
when=$(git -C "$top" log -1 --format=%cD 2>/dev/null || date -R)
cat >"$src/debian/changelog" <<CHANGELOG
latchkey ($version) unstable; urgency=medium

  * Built from the latchkey source tree by make deb.

 -- $maint  $when
CHANGELOG

if ! (cd "$src" && dpkg-buildpackage -b -us -uc -j"${JOBS:-2}") >"$tmp/build.log" 2>&1; then
	tail -60 "$tmp/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed" >&2
	exit 1
fi
mkdir -p "$out"
for f in "$tmp"/*.deb; do
	cp "$f" "$out/"
	echo "$out/$(basename "$f")"
done
if [ "${LINTIAN:-1}" = 1 ] && command -v lintian >/dev/null 2>&1; then
	echo "lintian:"
	lintian --tag-display-limit 0 "$tmp"/*.changes 2>&1 | sed 's/^/  /' || true
fi

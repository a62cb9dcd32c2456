#!/bin/bash
# tests/layout.sh: the tree shows the architecture, and this keeps it true (README.md, Layout).
# A folder is a role; these are the rules between them. Exit 0 when every rule holds, 1 with
# one line per broken rule. Run by `make check` (tests/run.sh) and usable alone:
#   tests/layout.sh [BUILD_DIR]     (with a build dir, the programs' links are checked too)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
B=${1:-${B:-build}}
bad=0
fail() { echo "layout: $*"; bad=1; }

# What each folder may include from the project (a prefix of the quoted include path).
# A program's folder may use the libraries below it; libraries never use a program's folder.
declare -A may=(
	[certs]="certs/"
	[mdns]="mdns/"
	[dhcp-hook]="dhcp-hook/ enroll/store/db.h"
	[enroll/common]="enroll/common/ certs/"
	[enroll/store]="enroll/store/ enroll/common/ certs/"
	[enroll/latch]="enroll/latch/ enroll/common/ certs/"
	[enroll/agent]="enroll/agent/ enroll/common/ certs/ mdns/ dhcp-hook/dhcpopt.h"
	[enroll/latchkeyd]="enroll/latchkeyd/ enroll/store/ enroll/latch/ enroll/common/ certs/ mdns/"
	[enroll/latchkey]="enroll/latchkey/ enroll/agent/ enroll/latch/ enroll/common/ certs/ mdns/ dhcp-hook/dhcpopt.h"
	[enroll/latchkeyctl]="enroll/latchkeyctl/ enroll/store/ enroll/latch/ enroll/common/ certs/"
)
libraries="certs mdns dhcp-hook enroll/common enroll/store enroll/latch enroll/agent"

# 1. Nothing loose in enroll/: every source file sits in a role folder.
for f in enroll/*.c enroll/*.h enroll/*.cc; do
	[ -e "$f" ] && fail "$f sits directly in enroll/; put it in the folder of its role"
done
for d in enroll/*/; do
	d=${d%/}
	[ -n "${may[$d]+x}" ] || fail "$d is a folder with no rule in tests/layout.sh"
done

# 2. Includes stay within what a folder may use.
for d in "${!may[@]}"; do
	for f in "$d"/*.c "$d"/*.h "$d"/*.cc; do
		[ -e "$f" ] || continue
		while IFS= read -r inc; do
			ok=0
			for p in ${may[$d]}; do
				case $inc in "$p"*) ok=1;; esac
			done
			[ $ok = 1 ] || fail "$f includes \"$inc\", outside what $d may use (${may[$d]})"
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
done

# 3. Only the daemon logs: the logger is included from enroll/latchkeyd/ alone, and library
#    code neither prints, logs to syslog nor exits (errors go to the caller's buffer).
while IFS= read -r f; do
	case $f in enroll/latchkeyd/*) ;; *) fail "$f includes the daemon's logger";; esac
done < <(grep -rl --include='*.c' --include='*.h' --include='*.cc' \
	'#include "enroll/latchkeyd/log.h"' certs mdns dhcp-hook enroll tests/unit tests/fuzz tests/bench |
	grep -v '^tests/')
for d in $libraries; do
	grep -nE '(^|[^_a-zA-Z])(printf|puts|syslog|exit|abort)\(|fprintf\((stderr|stdout)' \
		"$d"/*.c 2>/dev/null | grep -v '_exit(' |
		while IFS= read -r hit; do echo "layout: library code prints or exits: $hit"; done |
		grep . && bad=1
done

# 4. SQLite lives in the registry backends (and the Kea hook's read-only snapshot loader).
while IFS= read -r f; do
	case $f in enroll/store/*|dhcp-hook/revoked_db.c) ;;
	*) fail "$f includes sqlite3.h; only enroll/store/ (and dhcp-hook/revoked_db.c) may";;
	esac
done < <(grep -rl --include='*.c' --include='*.h' --include='*.cc' '<sqlite3.h>' \
	certs mdns dhcp-hook enroll)
#    libpq (the PostgreSQL backend) in the registry's driver, and the Kea hook's read-only
#    snapshot loader (a registry on PostgreSQL: its query and LISTEN).
while IFS= read -r f; do
	case $f in enroll/store/*|dhcp-hook/revoked_db.c) ;;
	*) fail "$f includes libpq-fe.h; only enroll/store/ (and dhcp-hook/revoked_db.c) may";;
	esac
done < <(grep -rl --include='*.c' --include='*.h' --include='*.cc' '<libpq-fe.h>' \
	certs mdns dhcp-hook enroll)

# 5. No include cycle between modules (a module is folder/name: name.c and name.h).
edges=$(for f in certs/*.[ch] mdns/*.[ch] dhcp-hook/*.[ch] dhcp-hook/*.cc enroll/*/*.[ch]; do
	[ -e "$f" ] || continue
	from=${f%.*}
	sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)\.h".*/\1/p' "$f" |
		while IFS= read -r to; do [ "$to" != "$from" ] && echo "$from $to"; done
done | sort -u)
if ! printf '%s\n' "$edges" | tsort >/dev/null 2>/tmp/layout-tsort.$$; then
	fail "include cycle between modules: $(grep -v '^tsort: -: input contains a loop' /tmp/layout-tsort.$$ |
		sed 's/^tsort: //' | tr '\n' ' ')"
fi
rm -f /tmp/layout-tsort.$$

# 6. Each program links only what it uses: the device agent has no SQLite and no libpq,
#    the admin tool no event loop and no Avahi.
if [ -x "$B/latchkey" ] && command -v ldd >/dev/null; then
	ldd "$B/latchkey" | grep -q 'libsqlite3' && fail "$B/latchkey links SQLite"
	ldd "$B/latchkey" | grep -q 'libpq\.' && fail "$B/latchkey links libpq"
	ldd "$B/latchkeyctl" | grep -qE 'libevent|libavahi|libcurl' &&
		fail "$B/latchkeyctl links libevent, Avahi or libcurl"
	ldd "$B/latchkeyd" | grep -q 'libsqlite3' || fail "$B/latchkeyd does not link SQLite?"
	ldd "$B/latchkeyd" | grep -q 'libpq\.' || fail "$B/latchkeyd does not link libpq?"
else
	echo "layout: $B/latchkey not built; program links not checked"
fi
#    The Kea hook: its loader's SQLite and libpq, and no event loop, Avahi or libcurl.
if [ -f "$B/liblatchkey_kea.so" ] && command -v ldd >/dev/null; then
	ldd "$B/liblatchkey_kea.so" | grep -q 'libsqlite3' ||
		fail "$B/liblatchkey_kea.so does not link SQLite?"
	ldd "$B/liblatchkey_kea.so" | grep -q 'libpq\.' ||
		fail "$B/liblatchkey_kea.so does not link libpq?"
	ldd "$B/liblatchkey_kea.so" | grep -qE 'libevent|libavahi|libcurl' &&
		fail "$B/liblatchkey_kea.so links libevent, Avahi or libcurl"
fi

[ $bad = 0 ] && echo "layout: every rule holds"
exit $bad

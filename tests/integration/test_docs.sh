#!/bin/bash
# Every program answers --help with a usage text (exit 0), --version with the version of
# enroll/common/version.h and a bad flag with exit 2; every man page parses without mandoc
# warnings.
. "$(dirname "$0")/lib.sh"
version=$(sed -n 's/^#define[[:space:]]*LATCHKEY_VERSION[[:space:]]*"\([^"]*\)".*/\1/p' \
    "$LK_TOP/enroll/common/version.h")
for p in latchkeyd latchkey latchkeyctl; do
	out=$("$p" --help 2>&1); rc=$?
	check "$p --help exits 0" test "$rc" = 0
	check "$p --help is the usage text" grep -qiE "(usage|synopsis).*$p|^SYNOPSIS" <<<"$out"
	check "$p --help documents exit status" grep -qi "exit status" <<<"$out"
	out=$("$p" --version 2>&1); rc=$?
	check "$p --version: '$p $version', exit 0 ($out)" test "$rc:$out" = "0:$p $version"
	"$p" --no-such-flag >/dev/null 2>&1; rc=$?
	check "$p with a bad flag exits 2" test "$rc" = 2
	check "man/$p.8 exists" test -f "$LK_TOP/man/$p.8"
	check "man/$p.8 has no mandoc warnings" mandoc -T lint -W warning "$LK_TOP/man/$p.8"
done

# latchkeyd.conf(5) and latchkeyd --help document every keyword of the parser's table
# (enroll/latchkeyd/config.c: one { "keyword", KW_ONCE|KW_LIST } per line), the man page
# with an entry of its own (".It Ic keyword ...", list keywords marked "(list)"), the help
# on a keyword line ("  keyword = ..." or "  a, keyword, b = ...").
CONF5=$LK_TOP/man/latchkeyd.conf.5
table() {
	sed -n "s/^[[:space:]]*{ \"\([a-z0-9-]*\)\",[[:space:]]*KW_$1 },.*/\1/p" \
	    "$LK_TOP/enroll/latchkeyd/config.c"
}
KEYWORDS=$(table '\(ONCE\|LIST\)')
LISTS=$(table LIST)
check "config.c's keyword table read ($(wc -w <<<"$KEYWORDS") keywords)" \
    test "$(wc -w <<<"$KEYWORDS")" -gt 40
check "config.c's list keywords read ($(echo $LISTS))" test "$(wc -w <<<"$LISTS")" -ge 4
check "man/latchkeyd.conf.5 exists" test -f "$CONF5"
check "man/latchkeyd.conf.5 has no mandoc warnings" mandoc -T lint -W warning "$CONF5"
check "latchkeyd.8 refers to latchkeyd.conf(5)" grep -q '^\.Xr latchkeyd\.conf 5' \
    "$LK_TOP/man/latchkeyd.8"
HELP=$(latchkeyd --help 2>&1)
man_entry() { grep -q "^\.It Ic $1\( \|\$\)" "$CONF5"; }
man_list() { grep -A1 "^\.It Ic $1\( \|\$\)" "$CONF5" | grep -qx '\.Pq list'; }
help_entry() { grep -qE "^  ([a-z0-9-]+, )*$1(, [a-z0-9-]+)* = " <<<"$HELP"; }
for k in $KEYWORDS; do
	check "latchkeyd.conf(5) documents $k" man_entry "$k"
	check "latchkeyd --help documents $k" help_entry "$k"
done
for k in $LISTS; do
	check "latchkeyd.conf(5) marks $k (list)" man_list "$k"
done
it_done

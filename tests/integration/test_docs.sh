#!/bin/bash
# Every program answers --help with a usage text (exit 0) and a bad flag with exit 2; every
# man page parses without mandoc warnings.
. "$(dirname "$0")/lib.sh"
for p in latchkeyd latchkey latchkeyctl; do
	out=$("$p" --help 2>&1); rc=$?
	[ "$p" = latchkeyd ] && { out=$("$p" -h 2>&1); rc=$?; }
	check "$p --help exits 0" test "$rc" = 0
	check "$p --help documents exit status" grep -qi "exit status" <<<"$out"
	"$p" --no-such-flag >/dev/null 2>&1; rc=$?
	check "$p with a bad flag exits 2" test "$rc" = 2
	check "man/$p.8 exists" test -f "$LK_TOP/man/$p.8"
	check "man/$p.8 has no mandoc warnings" mandoc -T lint -W warning "$LK_TOP/man/$p.8"
done
it_done

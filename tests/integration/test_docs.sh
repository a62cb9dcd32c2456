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
it_done

#!/bin/bash
# latchkeyd's lines on standard error carry their severity (enroll/latchkeyd/log.h):
#  - to a file or terminal: "HH:MM:SS.mmm latchkeyd: warning: ..." ("fatal: ", "error: "),
#    info lines without a word, and never "warning: warning:" when the message says so;
#  - to the systemd journal, which systemd names in JOURNAL_STREAM=DEV:INODE (decimal
#    st_dev and st_ino of the stream): "<N>message", N the syslog priority (2 fatal,
#    4 warning, 6 info, 7 debug), without a timestamp (journald adds it);
#  - a JOURNAL_STREAM naming another file changes nothing.
# "user = root" makes a warning at every start: started as root "warning: user = root in
# ..." (the caller's own word), otherwise "not started as root: ... ignored".
. "$(dirname "$0")/lib.sh"
it_init
it_pki 1
it_registrar "user = root" "workers = 1" || exit 1
it_stop_registrar
C=$T/reg/latchkeyd.conf
TS='[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}'
WARN='(user = root in|not started as root: user and signer-user are ignored)'
stream() { stat -L -c '%d:%i' "$1"; }	# what systemd puts in JOURNAL_STREAM
no() { ! "$@"; }

# ---- a file: the human format
L=$T/latchkeyd.log
cat "$L"
check "file: a warning says so after the name" grep -qE "^$TS latchkeyd: warning: $WARN" "$L"
check "file: never 'warning: warning:'" no grep -q 'warning: warning:' "$L"
check "file: an info line has no severity word" grep -qE "^$TS latchkeyd: serving " "$L"
check "file: no line has a priority prefix" no grep -qE '^<[0-7]>' "$L"

# ---- the journal: a running daemon (-d -v), started with stderr on a known file
J=$T/journal.log
: >"$J"
JOURNAL_STREAM=$(stream "$J") latchkeyd -d -v -f "$C" 2>>"$J" &
LKD_PID=$!
IT_PIDS+=("$LKD_PID")
check "journal: latchkeyd serves" wait_until 10 curl -s -o /dev/null \
    --cacert "$T/reg/domain-ca.pem" "$URL/.well-known/est/cacerts"
check "journal: the info line is <6>" wait_until 5 grep -q '^<6>serving ' "$J"
it_stop_registrar
cat "$J"
check "journal: the warning is <4>" grep -qE "^<4>(warning: )?$WARN" "$J"
check "journal: debug lines are <7>" grep -q '^<7>' "$J"
check "journal: no timestamp" no grep -qE "$TS latchkeyd: " "$J"
check "journal: every line has its priority" no grep -qvE '^<[0-7]>' "$J"

# ---- a fatal error, in both formats
B=$T/reg/bad.conf
cp "$C" "$B"
echo "listen = 127.0.0.1:1" >>"$B"
latchkeyd -n -f "$B" 2>"$T/fatal.log"; rc=$?
cat "$T/fatal.log"
check "fatal: exit 1" test "$rc" = 1
check "fatal: file: 'fatal:' and the duplicate's lines" grep -qE \
    "^$TS latchkeyd: fatal: $B:[0-9]+: listen is already set on line [0-9]+\$" "$T/fatal.log"
: >"$T/fatal-j.log"
JOURNAL_STREAM=$(stream "$T/fatal-j.log") latchkeyd -n -f "$B" 2>>"$T/fatal-j.log"
cat "$T/fatal-j.log"
check "fatal: journal: <2>" grep -qE "^<2>$B:[0-9]+: listen is already set" "$T/fatal-j.log"

# ---- JOURNAL_STREAM of another file (a child whose stderr was redirected)
: >"$T/other"
JOURNAL_STREAM=$(stream "$T/other") latchkeyd -n -f "$C" 2>"$T/other.log"
check "another stream: the human format" grep -qE "^$TS latchkeyd: warning: $WARN" \
    "$T/other.log"
JOURNAL_STREAM=garbage latchkeyd -n -f "$C" 2>"$T/garbage.log"
check "a malformed JOURNAL_STREAM: the human format" \
    grep -qE "^$TS latchkeyd: warning: $WARN" "$T/garbage.log"
it_done

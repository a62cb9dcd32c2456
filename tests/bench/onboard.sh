#!/bin/bash
# tests/bench/onboard.sh: zero-touch onboarding time, from the DHCP ACK to BOUND.
#
# The test bed of tests/net/onboard (common.sh): a server namespace with kea-dhcp4 + our
# hook (option 143 = the registrar), the MASA and the registrar (latchkeyd, 2 workers,
# registry-sync full); N device namespaces on one bridge, each holding only IDevID, key and
# MASA anchor. Every device runs udhcpc with contrib/dhcp/udhcpc-latchkey.sh, which starts
# `latchkey onboard` (DHCP discovery, provisional TLS, voucher from the MASA through the
# registrar, EST simpleenroll, state written at every step).
#
# Per device: ACK = the time udhcpc ran its script for "bound" (the lease is in hand, taken
# in the script with date +%s%3N), BOUND = bound_at_ms in the device's state file, taken by
# latchkey onboard when the LDevID and the state are on disk.
#
#   1. all N devices start DHCP at once (a fleet powered up together);
#   2. SEQ more devices one after another (the unloaded latency).
#
# Output (last lines):
#   onboard_ack_to_bound_ms median X p95 Y (N devices)
#   onboard_ack_to_bound_ms_sequential median X p95 Y (SEQ devices)
# Needs root (namespaces); otherwise prints "onboard_ack_to_bound_ms skipped: REASON" and
# exits 0. Environment: B or LK_BIN (build directory), N (default 20), SEQ (default 10),
# OB_HOOK (the Kea hook, default $LK_BIN/liblatchkey_kea.so).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
LK_BIN=${LK_BIN:-$top/$B}
LK_TOP=$top
N=${N:-20}
SEQ=${SEQ:-10}
. "$top/tests/net/lib.sh"

# A bench is not a test: a missing prerequisite is reported and is not an error.
tb_skip() {
	printf 'onboard_ack_to_bound_ms skipped: %s\n' "$*"
	exit 0
}

. "$top/tests/net/onboard/common.sh"
tb_init
ob_require
export PATH=$LK_BIN:$PATH

# median (mean of the two middle values for an even count) and p95 (nearest rank).
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "median - p95 -"; exit }
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		r = int(0.95 * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR
		printf "median %g p95 %g", med, v[r] }'
}

echo "bench: setting up the server and $((N + SEQ)) devices"
ob_setup $((N + SEQ))
for ((i = 1; i <= N + SEQ; i++)); do
	ob_device "d$i" $((i - 1))
done
ob_registrar_start

bound_range() {
	local i
	for ((i = $1; i <= $2; i++)); do ob_bound "d$i" || return 1; done
}

echo "bench: $N devices at once"
for ((i = 1; i <= N; i++)); do ob_dhcp "d$i"; done
tb_wait_for "$N devices BOUND" 120 bound_range 1 "$N"
: >"$TB_DIR/conc.txt"
for ((i = 1; i <= N; i++)); do ob_ack_to_bound "d$i" >>"$TB_DIR/conc.txt"; done

echo "bench: $SEQ devices one after another"
: >"$TB_DIR/seq.txt"
for ((i = N + 1; i <= N + SEQ; i++)); do
	ob_dhcp "d$i"
	tb_wait_for "d$i BOUND" 60 ob_bound "d$i"
	ob_ack_to_bound "d$i" >>"$TB_DIR/seq.txt"
done

[ "$(wc -l <"$TB_DIR/conc.txt")" = "$N" ] || tb_fail "missing measurements"
echo "onboard_ack_to_bound_ms $(stats "$TB_DIR/conc.txt") ($N devices)"
echo "onboard_ack_to_bound_ms_sequential $(stats "$TB_DIR/seq.txt") ($SEQ devices)"
exit 0

#!/bin/bash
# tests/integration/faults/enroll_retry.sh URL CA OUTDIR CERT KEY TRIES
# One bounded enrollment with retries: run `latchkey enroll` into OUTDIR up to TRIES times
# (each attempt limited in time), pausing a little between attempts. Writes OUTDIR.tries
# (the number of attempts made) and OUTDIR.ok when an attempt succeeded; stderr of every
# attempt goes to OUTDIR.err. Used by test_crash.sh, where the registrar is being killed.
url=$1 ca=$2 out=$3 cert=$4 key=$5 tries=$6
n=0
while [ "$n" -lt "$tries" ]; do
	n=$((n + 1))
	if timeout -k 2 25 latchkey enroll --server "$url" --idevid "$cert" --idevid-key "$key" \
	    --ca "$ca" --out "$out" --force --timeout 15 -q --json >"$out.json" 2>>"$out.err"; then
		echo "$n" >"$out.tries"
		: >"$out.ok"
		exit 0
	fi
	sleep "0.$((RANDOM % 5 + 2))"	# back-off between attempts (pacing, not a wait)
done
echo "$n" >"$out.tries"
exit 1

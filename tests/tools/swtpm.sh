# tests/tools/swtpm.sh: a software TPM 2.0 (swtpm) for tests. Source it (bash), then
#   swtpm_start DIR        start swtpm with its state in DIR (created), listening on a
#                          unix socket DIR/tpm.sock (no network at all: libtss2 3.2's
#                          swtpm TCTI takes path=); sets SWTPM_TCTI
#                          ("swtpm:path=DIR/tpm.sock") and SWTPM_PID; returns 1 (and says
#                          why) when swtpm is missing or does not come up within 5 s
#   swtpm_stop DIR         stop the swtpm of DIR by the PID in DIR/swtpm.pid (TERM, then
#                          KILL after 5 s); the state stays in DIR (a later swtpm_start
#                          DIR is the same TPM, its keys still load)
#   swtpm_stop_all         stop every swtpm this shell started (for EXIT traps)
#   swtpm_flush TCTI       flush the TPM's transient objects (a process killed while it
#                          held a key leaves one behind; swtpm has no resource manager)
# Needs swtpm (Debian swtpm) and, for swtpm_flush, tpm2-tools. Every swtpm started here
# is stopped by its PID, never by name. Inside a network namespace nothing changes: the
# socket is a file.
SWTPM_DIRS=()

swtpm_start() {
	local d=$1 i
	command -v swtpm >/dev/null || { echo "swtpm not installed (Debian package swtpm)"; return 1; }
	mkdir -p "$d" && chmod 0700 "$d" || return 1
	rm -f "$d/tpm.sock" "$d/tpm.sock.ctrl" "$d/swtpm.pid"
	# --flags not-need-init,startup-clear: the TPM is powered on and TPM2_Startup done,
	# so clients use it at once; --daemon returns once the sockets exist.
	swtpm socket --tpm2 --tpmstate dir="$d" \
	    --server type=unixio,path="$d/tpm.sock" \
	    --ctrl type=unixio,path="$d/tpm.sock.ctrl" \
	    --flags not-need-init,startup-clear \
	    --pid file="$d/swtpm.pid" --log file="$d/swtpm.log" --daemon || {
		echo "swtpm did not start (see $d/swtpm.log)"; return 1; }
	for i in $(seq 1 50); do
		[ -S "$d/tpm.sock" ] && [ -s "$d/swtpm.pid" ] && break
		sleep 0.1
	done
	[ -S "$d/tpm.sock" ] && [ -s "$d/swtpm.pid" ] || { echo "swtpm: no socket after 5 s"; return 1; }
	SWTPM_PID=$(cat "$d/swtpm.pid")
	SWTPM_TCTI="swtpm:path=$d/tpm.sock"
	SWTPM_DIRS+=("$d")
	return 0
}

swtpm_stop() {
	local d=$1 pid i
	[ -s "$d/swtpm.pid" ] || return 0
	pid=$(cat "$d/swtpm.pid")
	kill -TERM "$pid" 2>/dev/null || { rm -f "$d/swtpm.pid"; return 0; }
	for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$d/swtpm.pid" "$d/tpm.sock" "$d/tpm.sock.ctrl"
}

swtpm_stop_all() {
	local d
	for d in "${SWTPM_DIRS[@]}"; do swtpm_stop "$d"; done
}

swtpm_flush() {
	TPM2TOOLS_TCTI=$1 TSS2_LOG=all+NONE tpm2_flushcontext -t >/dev/null 2>&1 || true
}

# tests/tools/port.sh: free_port prints a loopback TCP port no socket uses, below the
# kernel's ephemeral range: a client connection made before the server binds cannot take it
# (a port of that range can be some connection's local port by then). 1 when none found.
free_port() {
	local p lo=32768 i
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 11000 ] || lo=32768
	for i in $(seq 1 1000); do
		p=$((10000 + RANDOM % (lo - 10000)))
		ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null | grep -q . ||
		    { echo "$p"; return; }
	done
	echo "free_port: no free port" >&2
	return 1
}

# tests/net/lib.sh: network-namespace test bed for latchkey's integration scenarios.
#
# Sourced (bash) by tests/net/<scenario>/test.sh. A scenario builds a small network of named
# namespaces joined by veth pairs, starts real daemons inside them (a private D-Bus bus +
# avahi-daemon, kea-dhcp4, strongSwan charon, our own programs), runs checks written as data
# and exits 0 (pass), 77 (skip; the reason is the last line printed) or 1 (fail).
#
#   . "$LK_TOP/tests/net/lib.sh"
#   tb_init                                    # root/ip-netns checks, temp dir, traps
#   tb_require avahi-daemon avahi-browse       # skip (77) unless every program is there
#   tb_ns_add server; tb_ns_add device
#   tb_link server 10.201.0.1/24 device 10.201.0.2/24
#   tb_avahi_start server device
#   tb_bg server publish avahi-publish -s NAME _x._tcp 8443
#   tb_check_phase published 10                # section [published] of ./checks, retried
#   tb_done                                    # exit 0, or 1 when a check failed
#
# with the checks as data in tests/net/<scenario>/checks (see "Checks as data" below):
#   [published]
#   device::avahi-browse -rpt _x._tcp::;10\.201\.0\.1;8443;::YES
#
# Everything a run creates is named after $TB_ID ("lk" + pid%10000 + 4 random hex digits):
# namespaces "$TB_ID-<alias>", veths "${TB_ID}v<n>a|b" (<= 15 characters), and all files live
# in one mktemp -d directory $TB_DIR (one subdirectory per host). Two runs never collide.
#
# Teardown (trap on EXIT, INT, TERM): every daemon is stopped by the PID recorded when it was
# started (TERM, bounded wait, then KILL; a PID whose start time changed is left alone), then
# anything still running inside our own namespaces (ip netns pids), then the namespaces and
# veths are deleted and $TB_DIR removed (kept, and its path printed, with LK_KEEP=1). Nothing
# is ever killed by name.
#
# Environment: LK_TOP (repo root), LK_BIN (build directory) from tests/run.sh;
# LK_KEEP=1 keeps $TB_DIR; TB_TIMEOUT (default 20) bounds every readiness wait in seconds;
# TB_VERBOSE=1 traces the commands the library runs.

# ---------------------------------------------------------------------------------------
# State. Associative arrays keyed by host alias or by "alias/name".

declare -g TB_ID="" TB_DIR="" TB_SCENARIO="" TB_FAILS=0 TB_CHECKS=0 TB_CLEANED=0 TB_NLINKS=0
declare -g TB_TIMEOUT=${TB_TIMEOUT:-20}
declare -gA TB_NS=()		# alias -> namespace name
declare -gA TB_IFS=()		# alias -> space-separated veth names in that namespace
declare -gA TB_PID=()		# alias/name -> pid
declare -gA TB_PSTART=()	# alias/name -> start time (field 22 of /proc/PID/stat)
declare -ga TB_ORDER=()		# alias/name in start order (stopped in reverse)
declare -ga TB_VETHS=()		# every veth name we created (both ends)
declare -g TB_LAST_PID="" TB_TRAPPED="" TB_SKIP_MSG="" TB_FAIL_MSG="" TB_PROBE_NS=""
declare -g TB_PHASES_RUN=""	# sections of the checks file run so far (tb_check_phase)

# Repository and build directory (tests/run.sh exports both); our programs come first in
# PATH, inside the namespaces too.
LK_TOP=${LK_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
export LK_TOP LK_BIN
[ -d "$LK_BIN" ] && PATH="$LK_BIN:$PATH"

tb_log() { printf 'tb: %s\n' "$*" >&2; }

tb__trace() { [ "${TB_VERBOSE:-0}" = 1 ] && printf 'tb+ %s\n' "$*" >&2; return 0; }

# tb_skip MSG: skip the scenario (exit 77); MSG is the last line printed.
tb_skip() {
	TB_SKIP_MSG="SKIP: $*"
	[ -n "$TB_TRAPPED" ] || printf '%s\n' "$TB_SKIP_MSG"
	exit 77
}

# tb_fail MSG: stop the scenario now as failed (MSG is repeated as the last line).
# Call it from the main shell, not inside $(...).
tb_fail() {
	TB_FAIL_MSG="FAIL: $*"
	printf '%s\n' "$TB_FAIL_MSG" >&2
	exit 1
}

# tb__need_host ALIAS: fail unless ALIAS was created by tb_ns_add.
tb__need_host() {
	[ -n "${TB_NS[$1]:-}" ] || tb_fail "unknown host '$1'"
}

# tb_require PROGRAM...: skip unless every program is found (in PATH, or an absolute path).
tb_require() {
	local p
	for p in "$@"; do
		if [[ $p == /* ]]; then
			[ -x "$p" ] || tb_skip "required program $p is missing"
		else
			command -v "$p" >/dev/null 2>&1 || tb_skip "required program $p is missing"
		fi
	done
}

# tb_init: check we can build namespaces (else skip), make $TB_DIR, install the traps.
tb_init() {
	local probe
	[ "$(id -u)" = 0 ] || tb_skip "network namespace tests need root (uid $(id -u))"
	tb_require ip mktemp timeout mount
	ip netns list >/dev/null 2>&1 || tb_skip "ip netns is unavailable"
	TB_ID=$(printf 'lk%d%04x' $(($$ % 10000)) $((RANDOM % 65536)))
	TB_SCENARIO=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
	TB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-net.$TB_ID.XXXXXX") ||
	    tb_skip "cannot create a temporary directory"
	chmod 0755 "$TB_DIR"
	# Who owns this run (PID and start time): a later run removes what a run killed with
	# SIGKILL (no trap runs then) left behind.
	printf '%s %s\n' "$$" "$(tb__starttime $$)" >"$TB_DIR/owner"
	tb__sweep_stale
	export TB_ID TB_DIR		# for the commands of checks files (tb_check_phase)
	# Keep the original stdout/stderr: tb_fail may run under a redirection.
	exec {TB_OUT}>&1 {TB_ERR}>&2
	TB_TRAPPED=1
	trap 'tb__on_exit $?' EXIT
	trap 'TB_FAIL_MSG="FAIL: interrupted (SIGINT)"; exit 130' INT
	trap 'TB_FAIL_MSG="FAIL: terminated (SIGTERM)"; exit 143' TERM
	# Probe: can we really create a namespace here (containers may forbid it)?
	probe="$TB_ID-probe"
	TB_PROBE_NS=$probe
	if ! ip netns add "$probe" 2>"$TB_DIR/probe.err"; then
		TB_PROBE_NS=""
		tb_skip "cannot create network namespaces: $(head -1 "$TB_DIR/probe.err")"
	fi
	ip netns del "$probe" 2>/dev/null && TB_PROBE_NS=""
	tb_log "run $TB_ID in $TB_DIR"
}

# tb__sweep_stale: namespaces, veths and files of earlier runs whose owner is gone (killed
# with SIGKILL, so its trap never ran). A run is stale when the PID in its owner file is
# not running with the start time recorded there; what still runs inside its namespaces is
# stopped by PID (ip netns pids), never by name. A directory kept with LK_KEEP=1 stays.
tb__sweep_stale() {
	local f dir id pid st ns p
	for f in "${TMPDIR:-/tmp}"/latchkey-net.*/owner; do
		[ -f "$f" ] || continue
		dir=${f%/owner}
		[ "$dir" = "$TB_DIR" ] && continue
		read -r pid st <"$f" 2>/dev/null || continue
		[ -n "$pid" ] && [ "$(tb__starttime "$pid" 2>/dev/null)" = "$st" ] && continue
		id=${dir##*/latchkey-net.}
		id=${id%.*}
		[[ $id =~ ^lk[0-9a-f]+$ ]] || continue
		for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
			case $ns in "$id"-*) ;; *) continue;; esac
			for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
			ip netns del "$ns" 2>/dev/null
		done
		for p in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
			case $p in "${id}"v*) ip link del "$p" 2>/dev/null;; esac
		done
		[ -e "$dir/kept" ] || rm -rf -- "$dir"
		tb_log "removed what the killed run $id left behind"
	done
}

# tb_ns_add ALIAS: new namespace "$TB_ID-ALIAS" with lo up and a host directory.
tb_ns_add() {
	local alias=$1 ns
	[[ $alias =~ ^[a-z][a-z0-9]{0,15}$ ]] || tb_fail "bad host alias '$alias' ([a-z][a-z0-9]*)"
	[ -z "${TB_NS[$alias]:-}" ] || tb_fail "host $alias already exists"
	ns="$TB_ID-$alias"
	ip netns add "$ns" || tb_fail "ip netns add $ns failed"
	TB_NS[$alias]=$ns
	TB_IFS[$alias]=""
	mkdir -p "$TB_DIR/$alias/run"
	: >"$TB_DIR/$alias/env"
	ip -n "$ns" link set lo up || tb_fail "cannot bring up lo in $ns"
}

# tb_ns ALIAS: print the namespace name of host ALIAS.
tb_ns() {
	tb__need_host "$1"
	printf '%s\n' "${TB_NS[$1]}"
}

# tb_hostdir ALIAS: print the host's directory in $TB_DIR.
tb_hostdir() {
	tb__need_host "$1"
	printf '%s\n' "$TB_DIR/$1"
}

# tb_if ALIAS [N]: print the name of the host's N-th veth (0 = the first).
tb_if() {
	local -a ifs
	read -r -a ifs <<<"${TB_IFS[$1]:-}"
	[ -n "${ifs[${2:-0}]:-}" ] || tb_fail "host $1 has no interface ${2:-0}"
	printf '%s\n' "${ifs[${2:-0}]}"
}

# tb_link A ADDR_A B ADDR_B: a veth pair between hosts A and B (created directly inside the
# namespaces, never in ours), each end up and given its address ("-" for none; IPv6
# addresses skip duplicate address detection). Sets TB_LINK_A / TB_LINK_B to the names.
tb_link() {
	local a=$1 aaddr=$2 b=$3 baddr=$4 ia ib
	tb__need_host "$a"; tb__need_host "$b"
	TB_NLINKS=$((TB_NLINKS + 1))
	ia="${TB_ID}v${TB_NLINKS}a"
	ib="${TB_ID}v${TB_NLINKS}b"
	TB_VETHS+=("$ia" "$ib")
	ip -n "${TB_NS[$a]}" link add "$ia" type veth peer name "$ib" netns "${TB_NS[$b]}" ||
	    tb_fail "cannot create veth $ia/$ib"
	TB_IFS[$a]="${TB_IFS[$a]:+${TB_IFS[$a]} }$ia"
	TB_IFS[$b]="${TB_IFS[$b]:+${TB_IFS[$b]} }$ib"
	tb__ifup "$a" "$ia" "$aaddr"
	tb__ifup "$b" "$ib" "$baddr"
	TB_LINK_A=$ia
	TB_LINK_B=$ib
}

tb__ifup() {
	local ns=${TB_NS[$1]} ifname=$2 addr=$3
	if [ "$addr" != - ]; then
		if [[ $addr == *:* ]]; then
			ip -n "$ns" addr add "$addr" dev "$ifname" nodad
		else
			ip -n "$ns" addr add "$addr" dev "$ifname"
		fi || tb_fail "cannot add $addr to $ifname in $ns"
	fi
	ip -n "$ns" link set "$ifname" up || tb_fail "cannot bring up $ifname in $ns"
}

# tb_env ALIAS VAR=VALUE...: set variables for everything later run on host ALIAS
# (tb_exec, tb_bg, checks). A later value for the same VAR replaces the earlier one.
tb_env() {
	local alias=$1 kv f
	shift
	tb__need_host "$alias"
	f=$TB_DIR/$alias/env
	for kv in "$@"; do
		[[ $kv == [A-Za-z_]*=* ]] || tb_fail "tb_env: bad assignment '$kv'"
		grep -v "^${kv%%=*}=" "$f" >"$f.new"
		printf '%s\n' "$kv" >>"$f.new"
		mv "$f.new" "$f"
	done
}

# tb_exec ALIAS CMD...: run CMD inside host ALIAS's namespace with the host's environment.
tb_exec() {
	local alias=$1 ns
	local -a envs
	shift
	tb__need_host "$alias"
	ns=${TB_NS[$alias]}
	mapfile -t envs <"$TB_DIR/$alias/env"
	tb__trace "[$alias] $*"
	ip netns exec "$ns" env "${envs[@]}" "$@"
}

# tb_sh ALIAS 'shell command': tb_exec ALIAS bash -c '...' (pipes, redirections).
tb_sh() {
	local alias=$1
	shift
	tb_exec "$alias" bash -c "$*"
}

tb__starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }		# skip "pid (comm) ": comm may hold spaces
	set -- $stat
	printf '%s\n' "${20}"	# field 22 of the whole line
}

# tb_bg ALIAS NAME CMD...: start CMD in the background inside host ALIAS, stdout and stderr
# to $TB_DIR/ALIAS/NAME.log; record its PID (also in TB_LAST_PID and $TB_DIR/pids). The
# PID is the daemon's own: ip netns exec, env and "sh -c '... exec'" all exec in place.
tb_bg() {
	local alias=$1 name=$2 ns pid
	local -a envs
	shift 2
	tb__need_host "$alias"
	ns=${TB_NS[$alias]}
	[ -z "${TB_PID[$alias/$name]:-}" ] || tb_fail "$alias/$name already started"
	mapfile -t envs <"$TB_DIR/$alias/env"
	tb__trace "[$alias] bg $name: $*"
	ip netns exec "$ns" env "${envs[@]}" "$@" </dev/null >"$TB_DIR/$alias/$name.log" 2>&1 &
	pid=$!
	TB_PID[$alias/$name]=$pid
	TB_PSTART[$alias/$name]=$(tb__starttime "$pid")
	TB_ORDER+=("$alias/$name")
	TB_LAST_PID=$pid
	printf '%s %s\n' "$pid" "$alias/$name" >>"$TB_DIR/pids"
}

# tb_pid ALIAS NAME: print the recorded PID.
tb_pid() {
	[ -n "${TB_PID[$1/$2]:-}" ] || tb_fail "$1/$2 was not started"
	printf '%s\n' "${TB_PID[$1/$2]}"
}

# tb_alive ALIAS NAME: true while the recorded process runs (same PID and start time, not
# a zombie).
tb_alive() {
	local key=$1/$2 pid st state
	pid=${TB_PID[$key]:-}
	[ -n "$pid" ] || return 1
	st=$(tb__starttime "$pid") || return 1
	[ "$st" = "${TB_PSTART[$key]}" ] || return 1
	state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# tb_stop ALIAS NAME...: stop recorded processes: TERM, wait up to 5 s, then KILL.
tb_stop() {
	local alias=$1 name key deadline left
	local -a keys=()
	shift
	for name in "$@"; do
		key=$alias/$name
		if tb_alive "$alias" "$name"; then
			kill -TERM "${TB_PID[$key]}" 2>/dev/null
			keys+=("$key")
		fi
	done
	deadline=$((SECONDS + 5))
	while :; do
		left=0
		for key in "${keys[@]}"; do
			tb_alive "${key%%/*}" "${key#*/}" && left=1
		done
		[ "$left" = 0 ] && break
		if [ "$SECONDS" -ge "$deadline" ]; then
			for key in "${keys[@]}"; do
				if tb_alive "${key%%/*}" "${key#*/}"; then
					tb_log "$key (pid ${TB_PID[$key]}) ignored TERM, killing"
					kill -KILL "${TB_PID[$key]}" 2>/dev/null
				fi
			done
			break
		fi
		sleep 0.05
	done
	for key in "${keys[@]}"; do
		wait "${TB_PID[$key]}" 2>/dev/null
	done
	return 0
}

# tb_wait_for DESC TIMEOUT CMD...: poll CMD (a command or function, run in this shell, not in
# a namespace) every 0.1 s until it succeeds; fail the scenario after TIMEOUT seconds.
tb_wait_for() {
	local desc=$1 timeout=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			tb_fail "timed out after ${timeout}s waiting for $desc"
		fi
		sleep 0.1
	done
}

# tb_wait_log ALIAS NAME REGEX [TIMEOUT]: wait until NAME's log matches REGEX (ERE) while
# the process is alive; fail at once (showing the log) if it died.
tb_wait_log() {
	local alias=$1 name=$2 re=$3 timeout=${4:-$TB_TIMEOUT}
	tb_wait_for "$alias/$name: /$re/ in its log" "$timeout" \
	    tb__log_or_dead "$alias" "$name" "$re"
}

tb__log_or_dead() {
	local log="$TB_DIR/$1/$2.log"
	grep -Eq -- "$3" "$log" 2>/dev/null && return 0
	if ! tb_alive "$1" "$2"; then
		grep -Eq -- "$3" "$log" 2>/dev/null && return 0
		tb_fail "$1/$2 exited during start-up (see its log)"
	fi
	return 1
}

# tb__alive_and ALIAS NAME CMD...: CMD succeeds; fail at once if the process died.
tb__alive_and() {
	local alias=$1 name=$2
	shift 2
	tb_alive "$alias" "$name" || tb_fail "$alias/$name exited during start-up (see its log)"
	"$@"
}

# tb_render TEMPLATE OUT ALIAS [NAME=VALUE...]: copy TEMPLATE to OUT replacing @NAME@ by
# VALUE, and always @TB_DIR@, @TB_ID@, @HOSTDIR@ (host ALIAS's directory), @NS@, @HOST@
# (the alias), @IF@ / @IF0@, @IF1@... (the host's veths).
tb_render() {
	local tpl=$1 out=$2 alias=$3 kv i=0 ifname
	local -a args
	shift 3
	[ -r "$tpl" ] || tb_fail "template $tpl not readable"
	args=(TB_DIR="$TB_DIR" TB_ID="$TB_ID" HOSTDIR="$TB_DIR/$alias" NS="${TB_NS[$alias]}"
	    HOST="$alias")
	for ifname in ${TB_IFS[$alias]}; do
		[ "$i" = 0 ] && args+=(IF="$ifname")
		args+=(IF$i="$ifname")
		i=$((i + 1))
	done
	args+=("$@")
	cp "$tpl" "$out.tmp"
	for kv in "${args[@]}"; do
		tb__subst "$out.tmp" "${kv%%=*}" "${kv#*=}"
	done
	mv "$out.tmp" "$out"
}

tb__subst() {
	local f=$1 name=$2 val=$3 content
	content=$(cat "$f"; printf x)
	content=${content%x}
	# Quoted pattern and replacement: no globbing, no '&' substitution (bash 5.2).
	printf '%s' "${content//"@$name@"/"$val"}" >"$f"
}

# ---------------------------------------------------------------------------------------
# Daemons.

# tb_dbus_start ALIAS: a private D-Bus "system" bus for host ALIAS, listening on
# $TB_DIR/ALIAS/dbus.sock; sets DBUS_SYSTEM_BUS_ADDRESS in the host's environment.
tb_dbus_start() {
	local alias=$1 dir sock
	tb__need_host "$alias"
	dir=$TB_DIR/$alias
	sock=$dir/dbus.sock
	tb_require dbus-daemon dbus-send
	cat >"$dir/dbus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- latchkey test bed $TB_ID: private bus for host $alias -->
<busconfig>
  <type>system</type>
  <listen>unix:path=$sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
EOF
	tb_bg "$alias" dbus dbus-daemon --config-file="$dir/dbus.conf" --nofork --print-address
	tb_wait_for "$alias/dbus socket" "$TB_TIMEOUT" tb__alive_and "$alias" dbus test -S "$sock"
	tb_env "$alias" DBUS_SYSTEM_BUS_ADDRESS="unix:path=$sock"
}

# tb_avahi_start ALIAS...: private D-Bus bus (unless already running) + avahi-daemon for
# each host, restricted to the host's veths, host name "$TB_ID-ALIAS", no wide-area, no
# workstation record. Its /run is the host's run/ directory and /etc/avahi/services an empty
# tmpfs (and /etc/avahi/hosts an empty file), mounted in the mount namespace of its own
# ip netns exec. All daemons start at once (host name probing takes about a second each);
# returns once each log says "Server startup complete" and each daemon answers on its bus.
tb_avahi_start() {
	local alias
	tb_require avahi-daemon
	for alias in "$@"; do
		tb__avahi_launch "$alias"
	done
	for alias in "$@"; do
		tb_wait_log "$alias" avahi 'Server startup complete'
		tb_wait_for "$alias/avahi on D-Bus" "$TB_TIMEOUT" tb__alive_and "$alias" avahi \
		    tb_exec "$alias" dbus-send --system --print-reply \
		    --dest=org.freedesktop.Avahi / org.freedesktop.Avahi.Server.GetVersionString
	done
}

tb__avahi_launch() {
	local alias=$1 dir ifs
	tb__need_host "$alias"
	dir=$TB_DIR/$alias
	ifs=${TB_IFS[$alias]}
	[ -n "$ifs" ] || tb_fail "host $alias has no interface for avahi"
	[ -n "${TB_PID[$alias/dbus]:-}" ] || tb_dbus_start "$alias"
	cat >"$dir/avahi-daemon.conf" <<EOF
# latchkey test bed $TB_ID: avahi-daemon for host $alias
[server]
host-name=$TB_ID-$alias
domain-name=local
use-ipv4=yes
use-ipv6=${TB_AVAHI_IPV6:-yes}
allow-interfaces=${ifs// /,}
enable-dbus=yes
disallow-other-stacks=no
ratelimit-interval-usec=1000000
ratelimit-burst=1000

[wide-area]
enable-wide-area=no

[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
publish-domain=no
publish-aaaa-on-ipv4=no
publish-a-on-ipv6=no

[reflector]
enable-reflector=no
EOF
	: >"$dir/avahi-hosts"
	tb_bg "$alias" avahi sh -c '
		mount --bind "$1" /run && mkdir -p /run/avahi-daemon &&
		mount -t tmpfs -o mode=0755 tmpfs /etc/avahi/services &&
		{ [ ! -e /etc/avahi/hosts ] || mount --bind "$2" /etc/avahi/hosts; } &&
		exec avahi-daemon --no-chroot --no-drop-root --no-rlimits -f "$3"' \
	    sh "$dir/run" "$dir/avahi-hosts" "$dir/avahi-daemon.conf"
}

# tb_kea4_start ALIAS CONF_TEMPLATE: kea-dhcp4 in host ALIAS. The template is rendered with
# tb_render (use @HOSTDIR@ for the lease file "@HOSTDIR@/kea-leases4.csv" and the control
# socket "@HOSTDIR@/kea4.sock", @IF@ for the interface); pid and lock files go to the host
# directory (KEA_PIDFILE_DIR, KEA_LOCKFILE_DIR). Checks the config with -t first. Ready when
# the control socket named in the config exists (if any) and the log says DHCP4_STARTED.
tb_kea4_start() {
	local alias=$1 tpl=$2 dir conf sock
	tb__need_host "$alias"
	dir=$TB_DIR/$alias
	tb_require kea-dhcp4
	conf=$dir/kea-dhcp4.conf
	tb_render "$tpl" "$conf" "$alias"
	if ! tb_exec "$alias" env KEA_PIDFILE_DIR="$dir" KEA_LOCKFILE_DIR="$dir" \
	    kea-dhcp4 -t "$conf" >"$dir/kea4-check.log" 2>&1; then
		sed 's/^/    /' "$dir/kea4-check.log" | tail -20 >&2
		tb_fail "kea-dhcp4 -t rejected $conf"
	fi
	tb_bg "$alias" kea4 env KEA_PIDFILE_DIR="$dir" KEA_LOCKFILE_DIR="$dir" \
	    kea-dhcp4 -c "$conf"
	sock=$(sed -n 's/.*"socket-name"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$conf" |
	    head -1)
	if [ -n "$sock" ]; then
		tb_wait_for "$alias/kea4 control socket" "$TB_TIMEOUT" \
		    tb__alive_and "$alias" kea4 test -S "$sock"
	fi
	tb_wait_log "$alias" kea4 'DHCP4_STARTED'
}

# tb_charon_start ALIAS [CONFDIR]: strongSwan charon in host ALIAS with its own
# strongswan.conf (STRONGSWAN_CONF, set in the host's environment for swanctl too), VICI
# socket $TB_DIR/ALIAS/charon.vici, logging to its log, kernel-libipsec before
# kernel-netlink (this kernel has no ESP; see DESIGN.md). /run is the host's run/ directory
# (charon.pid is fixed at /run/charon.pid). CONFDIR (optional) is copied to
# $TB_DIR/ALIAS/swanctl/ (SWANCTL_DIR: swanctl.conf and its x509/, x509ca/, private/ ...
# directories) with every *.conf rendered by tb_render; a strongswan.conf in it is included
# after the generated settings (to add or override), and a swanctl.conf is loaded with
# swanctl --load-all once charon answers. TB_CHARON_PLUGINS overrides the plugin list
# (default: the list DESIGN.md gives, with the built-in crypto plugins instead of openssl
# when libstrongswan-standard-plugins is not installed).
# Sets TB_VICI_URI; use tb_swanctl ALIAS ARGS... to talk to it.
# tb_require_latch_charon [revocation]: skip unless charon can carry a latch in these test
# beds: its openssl plugin (ECDSA, AES-GCM), kernel-libipsec and /dev/net/tun (this kernel
# has no ESP), and with "revocation" its revocation plugin (CRLs).
tb_require_latch_charon() {
	tb_require /usr/lib/ipsec/charon swanctl
	[ -e /usr/lib/ipsec/plugins/libstrongswan-openssl.so ] ||
	    tb_skip "strongSwan openssl plugin (ECDSA, AES-GCM) missing"
	[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] ||
	    tb_skip "strongSwan kernel-libipsec plugin missing"
	[ "${1:-}" != revocation ] || [ -e /usr/lib/ipsec/plugins/libstrongswan-revocation.so ] ||
	    tb_skip "strongSwan revocation plugin missing"
	[ -c /dev/net/tun ] || tb_skip "/dev/net/tun missing (kernel-libipsec needs it)"
}

tb_charon_start() {
	local alias=$1 confdir=${2:-} dir conf f
	local crypto plugins swplugins
	# The openssl plugin (libstrongswan-standard-plugins) is needed for ECDSA certificates
	# and AES-GCM; without it fall back to the libstrongswan built-ins (RSA/PSK, AES-CBC,
	# SHA, x25519) so PSK and RSA scenarios still run.
	if [ -e /usr/lib/ipsec/plugins/libstrongswan-openssl.so ]; then
		crypto="random nonce openssl hmac sha2 kdf"
	else
		crypto="random nonce aes sha1 sha2 hmac gmp curve25519 kdf"
	fi
	plugins="$crypto pem pkcs1 pkcs8 x509 revocation constraints pubkey socket-default vici"
	plugins=${TB_CHARON_PLUGINS:-"$plugins kernel-libipsec kernel-netlink"}
	swplugins="$crypto pem pkcs1 pkcs8 x509 pubkey"
	tb__need_host "$alias"
	dir=$TB_DIR/$alias
	tb_require /usr/lib/ipsec/charon swanctl
	mkdir -p "$dir/swanctl"
	if [ -n "$confdir" ]; then
		[ -d "$confdir" ] || tb_fail "charon config dir $confdir missing"
		cp -R "$confdir/." "$dir/swanctl/"
		while IFS= read -r -d '' f; do
			tb_render "$f" "$f" "$alias"
		done < <(find "$dir/swanctl" -name '*.conf' -type f -print0)
	fi
	conf=$dir/strongswan.conf
	cat >"$conf" <<EOF
# latchkey test bed $TB_ID: strongSwan for host $alias
charon {
	load = $plugins
	install_routes = yes
	install_virtual_ip = yes
	plugins {
		vici {
			socket = unix://$dir/charon.vici
		}
		kernel-libipsec {
			allow_peer_ts = yes
		}
	}
	filelog {
		stderr {
			default = 1
			ike = 1
			time_format = %T
			flush_line = yes
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
swanctl {
	load = $swplugins
	socket = unix://$dir/charon.vici
}
EOF
	[ -f "$dir/swanctl/strongswan.conf" ] &&
	    printf 'include %s\n' "$dir/swanctl/strongswan.conf" >>"$conf"
	tb_env "$alias" STRONGSWAN_CONF="$conf" SWANCTL_DIR="$dir/swanctl"
	TB_VICI_URI="unix://$dir/charon.vici"
	tb_bg "$alias" charon sh -c 'mount --bind "$1" /run && exec /usr/lib/ipsec/charon' \
	    sh "$dir/run"
	tb_wait_for "$alias/charon VICI socket" "$TB_TIMEOUT" \
	    tb__alive_and "$alias" charon test -S "$dir/charon.vici"
	tb_wait_for "$alias/charon answering swanctl --stats" "$TB_TIMEOUT" \
	    tb__alive_and "$alias" charon tb_swanctl "$alias" --stats
	if [ -f "$dir/swanctl/swanctl.conf" ]; then
		tb_swanctl "$alias" --load-all --noprompt --file "$dir/swanctl/swanctl.conf" \
		    >"$dir/swanctl-load.log" 2>&1 || {
			sed 's/^/    /' "$dir/swanctl-load.log" | tail -20 >&2
			tb_fail "swanctl --load-all failed for $alias"
		}
	fi
}

# tb_swanctl ALIAS ARGS...: swanctl inside host ALIAS against its charon.
tb_swanctl() {
	local alias=$1
	shift
	tb_exec "$alias" swanctl "$@" --uri "unix://$TB_DIR/$alias/charon.vici"
}

# ---------------------------------------------------------------------------------------
# Checks as data, one per line:  host::command::regex::YES|NO
#
# The command runs with bash -c inside host's namespace and environment (stdin /dev/null,
# at most TB_CHECK_CMD_TIMEOUT = 15 s); its stdout+stderr must match the regex (grep -E,
# any line) for YES and must not for NO. The exit status of the command is not checked
# (use "cmd; echo rc=$?" and a regex for that). Fields are split at the first "::" and at
# the last two, so the command may contain "::" (IPv6 addresses) but the regex may not:
# write ":{2}" there. Blank lines and lines starting with '#' are skipped. Lines come from
# the arguments, or from stdin (a here-document) when there are none.

# tb_check [LINE...]: run each check once; print "ok"/"FAIL" per check. Returns 1 if any
# failed (and counts it for tb_done).
tb_check() {
	tb__checks 0 "$@"
}

# tb_check_retry TIMEOUT [LINE...]: like tb_check, but each check is retried every 0.5 s
# until it passes or TIMEOUT seconds have gone by (for eventually-consistent state).
tb_check_retry() {
	local timeout=$1
	shift
	tb__checks "$timeout" "$@"
}

# Checks live in the scenario's data file, apart from topology and actions, the way
# strongSwan's evaltest.dat does: tests/net/<scenario>/checks, in named sections that the
# scenario's test.sh runs at the point where they must hold:
#
#   # comment
#   [enrolled]                                  # a section: the checks of one phase
#   server::latchkeyctl --db $REG list::LK1::YES
#
# The commands see the variables (and functions, export -f) the scenario exported: the
# library does not expand the command, bash -c inside the host does (export REG=...; then
# "$REG" in the file). The regex is not run by a shell: the library replaces $NAME and
# ${NAME} in it by the value of the exported variable NAME (a value meant as literal text
# must already be escaped for ERE, e.g. RE_NAME=${name//./\\.}); a '$' not followed by a
# name is the ERE anchor, '\$' a literal dollar. A regex naming a variable that is not
# exported fails the check.
# Everything from [NAME] to the next section header belongs to section NAME; a name may be
# used once. TB_CHECKS_FILE overrides the file.

# tb_check_phase NAME [TIMEOUT]: run the checks of section [NAME] of the scenario's checks
# file; with TIMEOUT, retry each as tb_check_retry does (a bounded wait for state that must
# become true: no sleep before it). A missing or empty section is a failure.
tb_check_phase() {
	local name=$1 timeout=${2:-0} file=${TB_CHECKS_FILE:-$TB_SCENARIO/checks} line in=0 n=0
	local TB__EXPAND_RE=1	# seen by tb__check_one (dynamic scope)
	local -a lines=()
	[ -f "$file" ] || tb_fail "no checks file $file"
	[[ $timeout =~ ^[0-9]+$ ]] || tb_fail "tb_check_phase $name: bad timeout '$timeout'"
	[[ " $TB_PHASES_RUN " != *" $name "* ]] || tb_fail "checks section [$name] run twice"
	TB_PHASES_RUN+=" $name"
	while IFS= read -r line || [ -n "$line" ]; do
		if [[ $line =~ ^\[([A-Za-z0-9_.-]+)\][[:space:]]*$ ]]; then
			if [ "${BASH_REMATCH[1]}" = "$name" ]; then
				[ $in = 2 ] && tb_fail "section [$name] appears twice in $file"
				in=1
			elif [ $in = 1 ]; then
				in=2
			fi
			continue
		fi
		[ $in = 1 ] || continue
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		lines+=("$line")
		n=$((n + 1))
	done <"$file"
	if [ $n = 0 ]; then
		TB_CHECKS=$((TB_CHECKS + 1))
		TB_FAILS=$((TB_FAILS + 1))
		printf 'FAIL no checks in section [%s] of %s\n' "$name" "$file"
		return 1
	fi
	printf -- '-- checks [%s]\n' "$name"
	tb__checks "$timeout" "${lines[@]}"
}

tb__checks() {
	local timeout=$1 line rc=0
	local -a lines=()
	shift
	if [ "$#" -gt 0 ]; then
		lines=("$@")
	else
		mapfile -t lines
	fi
	for line in "${lines[@]}"; do
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		tb__check_one "$timeout" "$line" || rc=1
	done
	return "$rc"
}

# tb__expand_re TEXT: TEXT with $NAME / ${NAME} replaced by exported variables' values, in
# TB_EXPANDED; returns 1 (TB_EXPAND_ERR = the name) when one is not an exported variable.
tb__expand_re() {
	local s=$1 out="" name attrs
	while [[ $s == *'$'* ]]; do
		out+=${s%%'$'*}
		s=${s#*'$'}
		if [[ $out == *'\' ]]; then
			out+='$'		# \$: ERE's literal dollar
		elif [[ $s =~ ^\{([A-Za-z_][A-Za-z0-9_]*)\}(.*)$ ]] ||
		    [[ $s =~ ^([A-Za-z_][A-Za-z0-9_]*)(.*)$ ]]; then
			name=${BASH_REMATCH[1]}
			s=${BASH_REMATCH[2]}
			attrs=$(declare -p "$name" 2>/dev/null)	# "declare -x NAME=..."
			attrs=${attrs#declare -}
			if [[ ${attrs%% *} != *x* ]]; then
				TB_EXPAND_ERR=$name
				return 1
			fi
			out+=${!name}
		else
			out+='$'
		fi
	done
	TB_EXPANDED=$out$s
}

tb__check_one() {
	local timeout=$1 line=$2 host rest want re cmd out deadline tries=0 matched ok
	host=${line%%::*}
	rest=${line#*::}
	want=${rest##*::}
	rest=${rest%::*}
	re=${rest##*::}
	cmd=${rest%::*}
	if [ "$host" = "$line" ] || [ "$cmd" = "$rest" ] || [[ $want != YES && $want != NO ]] ||
	    [ -z "${TB_NS[$host]:-}" ]; then
		TB_CHECKS=$((TB_CHECKS + 1))
		TB_FAILS=$((TB_FAILS + 1))
		printf 'FAIL malformed check (host::command::regex::YES|NO, known host): %s\n' \
		    "$line"
		return 1
	fi
	if [ "${TB__EXPAND_RE:-0}" = 1 ]; then
		if ! tb__expand_re "$re"; then
			TB_CHECKS=$((TB_CHECKS + 1))
			TB_FAILS=$((TB_FAILS + 1))
			printf 'FAIL regex names $%s, which the scenario did not export: %s\n' \
			    "$TB_EXPAND_ERR" "$line"
			return 1
		fi
		re=$TB_EXPANDED
	fi
	deadline=$((SECONDS + timeout))
	while :; do
		tries=$((tries + 1))
		out=$(tb_exec "$host" timeout -k 2 "${TB_CHECK_CMD_TIMEOUT:-15}" bash -c "$cmd" \
		    </dev/null 2>&1)
		matched=NO
		grep -Eq -- "$re" <<<"$out" && matched=YES
		ok=0
		[ "$matched" = "$want" ] && ok=1
		[ "$ok" = 1 ] && break
		[ "$SECONDS" -lt "$deadline" ] || break
		sleep 0.5
	done
	TB_CHECKS=$((TB_CHECKS + 1))
	if [ "$ok" = 1 ]; then
		printf 'ok   %s: %s ~ /%s/ %s%s\n' "$host" "$cmd" "$re" "$want" \
		    "$([ "$tries" -gt 1 ] && echo " (try $tries)")"
		return 0
	fi
	TB_FAILS=$((TB_FAILS + 1))
	printf 'FAIL %s: %s ~ /%s/ %s (%d tries); output:\n' "$host" "$cmd" "$re" "$want" \
	    "$tries"
	printf '%s\n' "$out" | head -30 | sed 's/^/    | /'
	return 1
}

# tb_done: end the scenario: exit 0 when every check passed, 1 otherwise. A section of the
# checks file that tb_check_phase never ran counts as a failed check (a check nobody runs
# cannot fail).
tb_done() {
	local file=${TB_CHECKS_FILE:-$TB_SCENARIO/checks} sec
	if [ -n "$TB_PHASES_RUN" ] && [ -f "$file" ]; then
		for sec in $(sed -n 's/^\[\([A-Za-z0-9_.-]*\)\][[:space:]]*$/\1/p' "$file"); do
			[[ " $TB_PHASES_RUN " == *" $sec "* ]] && continue
			TB_CHECKS=$((TB_CHECKS + 1))
			TB_FAILS=$((TB_FAILS + 1))
			printf 'FAIL checks section [%s] of %s was never run\n' "$sec" "$file"
		done
	fi
	if [ "$TB_FAILS" -gt 0 ]; then
		tb_fail "$TB_FAILS of $TB_CHECKS checks failed"
	fi
	printf 'PASS: %d checks\n' "$TB_CHECKS"
	exit 0
}

# ---------------------------------------------------------------------------------------
# Teardown.

# tb_cleanup: stop everything we started (by PID), delete our namespaces and veths, remove
# $TB_DIR (unless LK_KEEP=1). Safe to call twice; runs from the EXIT trap.
tb_cleanup() {
	local i key alias ns pid deadline left
	local -a keys=() strays=()
	[ "$TB_CLEANED" = 1 ] && return 0
	TB_CLEANED=1
	trap '' INT TERM
	# 1. Recorded daemons, newest first, all at once: TERM, bounded wait, KILL.
	for ((i = ${#TB_ORDER[@]} - 1; i >= 0; i--)); do
		key=${TB_ORDER[i]}
		if tb_alive "${key%%/*}" "${key#*/}"; then
			kill -TERM "${TB_PID[$key]}" 2>/dev/null
			keys+=("$key")
		fi
	done
	deadline=$((SECONDS + 5))
	while [ "${#keys[@]}" -gt 0 ]; do
		left=()
		for key in "${keys[@]}"; do
			tb_alive "${key%%/*}" "${key#*/}" && left+=("$key")
		done
		keys=("${left[@]}")
		[ "${#keys[@]}" -eq 0 ] && break
		if [ "$SECONDS" -ge "$deadline" ]; then
			for key in "${keys[@]}"; do
				tb_log "$key (pid ${TB_PID[$key]}) ignored TERM, killing"
				kill -KILL "${TB_PID[$key]}" 2>/dev/null
			done
			break
		fi
		sleep 0.05
	done
	for key in "${TB_ORDER[@]}"; do
		wait "${TB_PID[$key]}" 2>/dev/null
	done
	# 2. Anything else still inside our own namespaces (a check's command cut off by a
	#    signal, a child a daemon forked): those PIDs can only be ours.
	for alias in "${!TB_NS[@]}"; do
		ns=${TB_NS[$alias]}
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			strays+=("$pid")
		done
	done
	if [ "${#strays[@]}" -gt 0 ]; then
		kill -TERM "${strays[@]}" 2>/dev/null
		deadline=$((SECONDS + 3))
		while [ "$SECONDS" -lt "$deadline" ]; do
			left=()
			for pid in "${strays[@]}"; do
				[ -d "/proc/$pid" ] && left+=("$pid")
			done
			[ "${#left[@]}" -eq 0 ] && break
			sleep 0.05
		done
		for alias in "${!TB_NS[@]}"; do
			for pid in $(ip netns pids "${TB_NS[$alias]}" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null
			done
		done
	fi
	# 3. Namespaces (their veths go with them), then any veth end left in ours.
	[ -n "$TB_PROBE_NS" ] && ip netns del "$TB_PROBE_NS" 2>/dev/null
	for alias in "${!TB_NS[@]}"; do
		ip netns del "${TB_NS[$alias]}" 2>/dev/null ||
		    tb_log "could not delete namespace ${TB_NS[$alias]}"
	done
	for i in "${TB_VETHS[@]}"; do
		ip link show "$i" >/dev/null 2>&1 && ip link del "$i" 2>/dev/null
	done
	# 4. Files.
	if [ -n "$TB_DIR" ] && [ -d "$TB_DIR" ]; then
		if [ "${LK_KEEP:-0}" = 1 ]; then
			: >"$TB_DIR/kept"
			tb_log "kept $TB_DIR (LK_KEEP=1)"
		else
			rm -rf -- "$TB_DIR"
		fi
	fi
}

tb__on_exit() {
	local rc=$1 f
	trap - EXIT
	exec 1>&"$TB_OUT" 2>&"$TB_ERR"
	# On failure show the tail of every daemon log before the files go.
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "$TB_DIR" ] && [ -d "$TB_DIR" ]; then
		for f in "$TB_DIR"/*/*.log; do
			[ -s "$f" ] || continue
			printf -- '--- %s (last 15 lines)\n' "${f#"$TB_DIR"/}"
			tail -15 "$f" | sed 's/^/    /'
		done
	fi
	tb_cleanup
	# The runner shows the last line: make it the reason.
	if [ "$rc" = 77 ]; then
		printf '%s\n' "${TB_SKIP_MSG:-SKIP}"
	elif [ "$rc" != 0 ]; then
		printf '%s\n' "${TB_FAIL_MSG:-FAIL: exit status $rc}"
	fi
	exit "$rc"
}

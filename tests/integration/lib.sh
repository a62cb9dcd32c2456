# tests/integration/lib.sh: shared setup for loopback integration tests. Source it, then
#   it_init                     temp dir $T, cleanup trap (daemons stopped by PID)
#   it_pki N                    lab PKI with N devices in $T/lab (JSON in $T/lab.json)
#   it_serial I / it_dev I      device I's serial / its directory
#   it_enroll I OUT             claim device I, then `latchkey enroll` it into OUT with its
#                               IDevID, the registrar verified against the domain CA
#   it_registrar [LINE...]      latchkeyctl init into $T/reg, extra config lines (each
#                               replacing init's line of the same keyword), start
#                               latchkeyd on a free loopback port ($PORT, $URL, $LKD_PID)
#   it_conf_set FILE LINE       set "keyword = value" in a latchkeyd.conf: append LINE,
#                               deleting earlier lines of a keyword that is not a list
#   it_domain_http [LINE...]    init the domain without init's https crl-url and ocsp-url,
#                               with http-listen on a free port ($HPORT): LDevIDs carry
#                               plain-http CRL and OCSP URLs; then it_registrar starts it
#   it_stop_registrar           stop it by PID
#   ok MSG / fail MSG           report a check
#   check DESC CMD...           ok when CMD exits 0, else fail
#   wait_until SECS CMD...      poll CMD every 0.1 s until it exits 0 (returns 0) or SECS
#                               have passed (returns 1): a bounded wait on the condition,
#                               never a fixed sleep
set -u
LK_TOP=${LK_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LK_BIN=${LK_BIN:-$LK_TOP/build}
export PATH="$LK_BIN:$PATH"
. "$LK_TOP/tests/tools/port.sh"
IT_PIDS=()
NFAIL=0

it_cleanup() {
	local pid i
	for pid in "${IT_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || continue
		for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "${LK_KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}

it_init() {
	T=$(mktemp -d /tmp/lk-it.XXXXXX)
	chmod 0711 "$T"	# latchkeyd's workers (user latchkey) reach $T/reg (latchkeyd(8))
	trap it_cleanup EXIT
	trap 'exit 1' INT TERM
}

ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; NFAIL=$((NFAIL + 1)); }
# check DESC CMD...: run CMD, ok when it exits 0
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# wait_until SECS CMD...: run CMD (quiet) every 0.1 s until it succeeds; 1 after SECS
# seconds (whole seconds; at most SECS * 20 + 1 tries).
wait_until() {
	local secs=$1 end i
	shift
	end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
	for ((i = 0; i <= secs * 20; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		[ $(( $(date +%s%N) / 1000000 )) -lt "$end" ] || return 1
		sleep 0.1
	done
	return 1
}
it_done() {
	if [ "$NFAIL" -gt 0 ]; then echo "$NFAIL check(s) failed"; exit 1; fi
	echo "all checks passed"; exit 0
}

it_pki() {
	latchkeyctl lab-pki --out "$T/lab" --devices "$1" --json >"$T/lab.json"
}
it_serial() { jq -r ".devices[$1].serial" "$T/lab.json"; }
it_dev() { dirname "$(jq -r ".devices[$1].cert" "$T/lab.json")"; }
# it_enroll_dev I OUT [ARGS...]: device I enrolls into OUT (latchkey enroll, more ARGS)
it_enroll_dev() {
	local d
	d=$(it_dev "$1")
	latchkey enroll --server "$URL" --idevid "$d/idevid.pem" --idevid-key "$d/idevid.key" \
	    --ca "$T/reg/domain-ca.pem" --out "$2" "${@:3}"
}
# it_enroll I OUT: claim device I, then it enrolls quietly into OUT
it_enroll() {
	latchkeyctl --db "$DB" claim "$(it_serial "$1")" >/dev/null && it_enroll_dev "$1" "$2" -q
}

# it_free_port: a TCP port nothing on this host uses, in any state, drawn below the
# kernel's ephemeral range so that no client connection can take it before we bind.
it_free_port() { free_port; }

# it_conf_set FILE LINE: append "keyword = value" LINE to the latchkeyd.conf FILE. A
# keyword that is not a list one may be set only once (latchkeyd.conf(5)): its earlier
# lines are deleted first, so LINE overrides them; list keywords accumulate.
it_conf_set() {
	local f=$1 line=$2 k
	k=$(sed -E 's/^[[:space:]]*([^=[:space:]]*).*/\1/' <<<"$line")
	case $k in
	manufacturer-ca | manufacturer-crl | auto-accept | masa-ca) ;;
	?*) sed -i -E "/^[[:space:]]*${k}[[:space:]]*=/d" "$f" ;;
	esac
	printf '%s\n' "$line" >>"$f"
}

# it_registrar [config line...]: init the domain (once) and start latchkeyd. Each line
# replaces the line init wrote for its keyword (it_conf_set).
it_registrar() {
	local i
	if [ ! -f "$T/reg/latchkeyd.conf" ]; then
		PORT=$(it_free_port)
		latchkeyctl init --domain example.test --dir "$T/reg" \
		    --manufacturer-ca "$T/lab/manufacturer-ca.pem" --listen "127.0.0.1:$PORT" \
		    >"$T/init.out"
		for i in "$@"; do it_conf_set "$T/reg/latchkeyd.conf" "$i"; done
	fi
	URL=https://127.0.0.1:$PORT
	DB=${PGDB:-$T/reg/registry.db}	# it_pg's database, else the SQLite file
	latchkeyd -d -v -f "$T/reg/latchkeyd.conf" >>"$T/latchkeyd.log" 2>&1 &
	LKD_PID=$!
	IT_PIDS+=("$LKD_PID")
	for i in $(seq 1 100); do
		if ! kill -0 "$LKD_PID" 2>/dev/null; then
			echo "latchkeyd died:"; cat "$T/latchkeyd.log"; return 1
		fi
		curl -s -o /dev/null --cacert "$T/reg/domain-ca.pem" "$URL/.well-known/est/cacerts" &&
		    return 0
		sleep 0.1
	done
	echo "latchkeyd not ready after 10 s"; cat "$T/latchkeyd.log"; return 1
}

it_domain_http() {
	local i
	HPORT=$(it_free_port)
	PORT=$(it_free_port)
	latchkeyctl init --domain example.test --dir "$T/reg" --manufacturer-ca \
	    "$T/lab/manufacturer-ca.pem" --listen "127.0.0.1:$PORT" >"$T/init.out"
	sed -i -E '/^(crl-url|ocsp-url)[[:space:]]*=/d' "$T/reg/latchkeyd.conf"
	it_conf_set "$T/reg/latchkeyd.conf" "http-listen = 127.0.0.1:$HPORT"
	for i in "$@"; do it_conf_set "$T/reg/latchkeyd.conf" "$i"; done
}

it_stop_registrar() {
	kill -TERM "$LKD_PID" 2>/dev/null
	wait "$LKD_PID" 2>/dev/null || true
}

# sql QUERY: one read-only query against the registry; it waits up to 5 s for a lock, as
# latchkeyd's own connections do (a reload's new workers open the registry while the test
# reads it: without the wait the CLI fails at once with "database is locked")
sql() { sqlite3 -readonly -cmd ".timeout 5000" "$DB" "$1"; }

# it_pg DBNAME (after it_init): a throwaway PostgreSQL server (tests/pg.sh; PG_FSYNC and
# PG_OPTS as there), stopped at exit, with an empty database DBNAME: PGDB is its conninfo
# and sql QUERY runs one query in it from then on. No server (not installed): the test
# fails here.
it_pg() {
	. "$LK_TOP/tests/pg.sh"
	trap 'it_cleanup; pg_stop' EXIT
	if ! pg_start; then
		echo "FAIL no PostgreSQL server (contrib/install-deps.sh installs it)"
		exit 1
	fi
	psql "$LK_TEST_PG dbname=postgres" -qc "CREATE DATABASE $1" || exit 1
	PGDB="$LK_TEST_PG dbname=$1"
	sql() { psql "$PGDB" -tAqc "$1"; }
}

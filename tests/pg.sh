#!/bin/bash
# tests/pg.sh: a throwaway PostgreSQL server for the tests that run the registry against
# PostgreSQL (the *_pg runs of tests/run.sh). initdb in a fresh temporary directory, one
# server listening on a Unix socket in it and on no TCP address, stopped by pg_ctl (its
# postmaster's PID file) when done, even on failure.
#
#   tests/pg.sh run CMD [ARGS...]   start a server, run CMD with LK_TEST_PG set, stop it;
#                                   exits with CMD's status (1 when no server could start)
#   . tests/pg.sh; pg_start; ...; pg_stop
#                                   the same from a script (run.sh); pg_start sets
#                                   LK_TEST_PG, or returns 1 with the reason on stdout
#
# PG_FSYNC=on gives the server fsync (benchmarks; the tests run without it), PG_OPTS more
# server options ("-c name=value ...").
# LK_TEST_PG is a libpq conninfo string without a dbname ("host=DIR user=postgres"): each
# test case makes its own database (tests/unit/testutil.c, tu_reg_setup).
# initdb refuses to run as root: as root, the server runs as the user postgres (the Debian
# package makes it) or else latchkey (contrib/install-deps.sh makes it).

pg_bindir() {
	local d
	d=$(pg_config --bindir 2>/dev/null)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
	command -v initdb >/dev/null && dirname "$(command -v initdb)" && return 0
	return 1
}

# as the server's user: "$@"
pg_as() {
	if [ -n "${PG_RUNAS:-}" ]; then
		runuser -u "$PG_RUNAS" -- "$@"
	else
		"$@"
	fi
}

pg_start() {
	local bin u
	PG_DIR=""
	if ! bin=$(pg_bindir); then
		echo "PostgreSQL server not installed (initdb not found): run contrib/install-deps.sh"
		return 1
	fi
	PG_BIN=$bin
	PG_RUNAS=""
	if [ "$(id -u)" = 0 ]; then
		for u in postgres latchkey; do
			id -u "$u" >/dev/null 2>&1 && { PG_RUNAS=$u; break; }
		done
		if [ -z "$PG_RUNAS" ]; then
			echo "running as root and no user postgres or latchkey to run PostgreSQL as"
			return 1
		fi
	fi
	PG_DIR=$(mktemp -d /tmp/lk-pg.XXXXXX) || return 1
	chmod 0755 "$PG_DIR"
	[ -n "$PG_RUNAS" ] && chown "$PG_RUNAS" "$PG_DIR"
	if ! pg_as "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync \
	    >"$PG_DIR/initdb.log" 2>&1; then
		echo "initdb failed:"; tail -5 "$PG_DIR/initdb.log"
		return 1
	fi
	# Unix socket in PG_DIR only: listen_addresses empty (no TCP at all).
	if ! pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
	    -o "-k $PG_DIR -c listen_addresses= -c fsync=${PG_FSYNC:-off} -c max_connections=50 ${PG_OPTS:-}" \
	    start >"$PG_DIR/pg_ctl.log" 2>&1; then
		echo "PostgreSQL did not start:"; tail -5 "$PG_DIR/server.log" 2>/dev/null
		pg_stop
		return 1
	fi
	export LK_TEST_PG="host=$PG_DIR user=postgres"
	return 0
}

pg_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop \
		    >>"$PG_DIR/pg_ctl.log" 2>&1 ||
			kill -9 "$(head -1 "$PG_DIR/data/postmaster.pid")" 2>/dev/null
	fi
	rm -rf "$PG_DIR"
	PG_DIR=""
	unset LK_TEST_PG
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	if [ "${1:-}" != run ] || [ $# -lt 2 ]; then
		echo "usage: tests/pg.sh run CMD [ARGS...]" >&2
		exit 2
	fi
	shift
	trap pg_stop EXIT
	trap 'exit 1' INT TERM
	pg_start || exit 1
	"$@"
	exit $?
fi

# A private PostgreSQL 15 cluster for tests (sourced; not a test).
#
#   source tests/services/pg.sh
#   pg_start DIR    # initdb into DIR/data, unix socket in DIR/sock only (no TCP),
#                   # database `ckptfs`; exports CKPT_TEST_PG (libpq conninfo)
#                   # and CKPT_TEST_PG_PID (the postmaster)
#   pg_stop         # stops exactly that cluster and removes DIR; idempotent
#
# DIR must not exist yet (or be empty). As root the server runs as the
# `postgres` user (PostgreSQL refuses root), so DIR's parents must be
# searchable by it. fsync is off: a test cluster is thrown away after a crash.
# Nothing outside DIR is touched: Debian's `main` cluster, if any, keeps its
# own socket directory and port. Knobs: PG_WAIT_S (start timeout, 60).

PG_DIR=
CKPT_TEST_PG_PID=

_pg_bin() {
	local b=${PG_BIN:-$(pg_config --bindir 2>/dev/null)}
	[ -x "$b/initdb" ] || b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -x "$b/initdb" ] || { echo "pg: no initdb found (install postgresql-15)" >&2; return 1; }
	echo "$b"
}

# _pg_as CMD...: runs CMD as the cluster's owner.
_pg_as() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# _pg_ours PID: true when PID is the postmaster of PG_DIR (not a reused pid).
_pg_ours() {
	[ -n "$1" ] && tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "-D $PG_DIR/data"
}

pg_start() {
	local dir=$1 bin
	[ -z "$PG_DIR" ] || { echo "pg: already running in $PG_DIR" >&2; return 1; }
	bin=$(_pg_bin) || return 1
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
	[ -z "$(ls -A "$dir")" ] || { echo "pg: $dir is not empty" >&2; return 1; }
	# the socket path (DIR/sock/.s.PGSQL.5432) must fit in sun_path
	[ ${#dir} -le 80 ] || { echo "pg: path too long for a unix socket: $dir" >&2; return 1; }
	PG_DIR=$dir
	mkdir "$dir/sock"
	[ "$(id -u)" != 0 ] || chown postgres: "$dir" "$dir/sock" || { pg_stop; return 1; }
	if ! _pg_as "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale \
		--no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
		echo "pg: initdb failed:" >&2; cat "$dir/initdb.log" >&2; pg_stop; return 1
	fi
	cat >>"$dir/data/postgresql.conf" <<-EOF
		listen_addresses = ''
		port = 5432
		unix_socket_directories = '$dir/sock'
		fsync = off
		full_page_writes = off
		shared_buffers = 32MB
		max_connections = 50
		logging_collector = off
	EOF
	if ! _pg_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "${PG_WAIT_S:-60}" \
		start >/dev/null 2>&1; then
		echo "pg: server did not start within ${PG_WAIT_S:-60} s:" >&2
		tail -n 20 "$dir/server.log" >&2; pg_stop; return 1
	fi
	CKPT_TEST_PG_PID=$(head -1 "$dir/data/postmaster.pid")
	export CKPT_TEST_PG_PID
	export CKPT_TEST_PG="host=$dir/sock port=5432 dbname=ckptfs user=postgres"
	if ! psql -X -q -v ON_ERROR_STOP=1 "host=$dir/sock port=5432 dbname=postgres user=postgres" \
		-c 'CREATE DATABASE ckptfs' >/dev/null; then
		echo "pg: cannot create database ckptfs" >&2; pg_stop; return 1
	fi
}

pg_stop() {
	local - # errexit off here: a trap must finish the teardown
	set +e
	[ -n "$PG_DIR" ] || return 0
	local bin i
	if [ -f "$PG_DIR/data/postmaster.pid" ] && bin=$(_pg_bin); then
		_pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 20 stop >/dev/null 2>&1 || true
	fi
	for ((i = 0; i < 50; i++)); do
		_pg_ours "$CKPT_TEST_PG_PID" || break
		sleep 0.1
	done
	if _pg_ours "$CKPT_TEST_PG_PID"; then
		echo "pg: postmaster $CKPT_TEST_PG_PID did not stop; killing it" >&2
		kill -KILL "$CKPT_TEST_PG_PID" 2>/dev/null || true
	fi
	rm -rf "$PG_DIR"
	PG_DIR='' CKPT_TEST_PG_PID=''
	unset CKPT_TEST_PG
	return 0
}

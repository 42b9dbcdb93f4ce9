# Starts a private PostgreSQL 15 server (Debian's postgresql-15) for a test;
# sourced after tests/lib/common.sh. The server runs as user postgres (it
# refuses root) from a directory of its own outside TEST_TMP (which is 0700
# root's), listening on a Unix socket there and on 127.0.0.1 with TLS.
#
#   pg_start             initdb + start; waits up to two minutes (a loaded CI
#                        machine). Sets PG_DIR, PG_SOCK (the socket directory),
#                        PG_PORT, PG_TLS_CA (the CA of the server's certificate,
#                        for "localhost" and 127.0.0.1), PG_LOG. Roles: postgres
#                        (trust, over the socket only) and p11e with the password
#                        in $PG_DIR/p11e.pw (scram-sha-256 over TCP; it owns the
#                        database "fleet"). Tries five ports before giving up.
#   pg_psql SQL          runs SQL as postgres in the database fleet (-At: bare
#                        values, one row a line).
#   pg_standby_start     a streaming standby of it (pg_basebackup -R) on another
#                        port of 127.0.0.1 and the same socket directory; sets
#                        PG_STANDBY_PORT; waits until it accepts connections.
#   pg_primary_stop      stops the primary at once (-m immediate: a crash).
#   pg_promote           promotes the standby (pg_ctl promote -w).
#   pg_primary_start     starts the primary again, on the same port.
#   pg_stop              stops both (immediate) and removes PG_DIR.
# pg_start arms an EXIT trap that calls pg_stop; a test that sets its own
# trap must call pg_stop itself.

PG_BIN=/usr/lib/postgresql/15/bin

pg_as() { (cd / && runuser -u postgres -- "$@"); }

pg_tls() {
	local d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj "/CN=postgres tls test CA" -keyout "$d/tls-ca.key" -out "$d/tls-ca.pem" \
		2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
			-keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/server.csr" -CA "$d/tls-ca.pem" -CAkey "$d/tls-ca.key" \
			-CAcreateserial -days 1 -out "$d/server.crt" 2>/dev/null \
			-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
}

pg_psql() {
	pg_as "$PG_BIN/psql" -X -q -At -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d fleet \
		-v ON_ERROR_STOP=1 -c "$1"
}

pg_start() {
	PG_DIR=$(mktemp -d /tmp/p11e-pg.XXXXXX)
	PG_SOCK=$PG_DIR/sock
	PG_LOG=$PG_DIR/server.log
	PG_TLS_CA=$PG_DIR/tls-ca.pem
	trap pg_stop EXIT
	mkdir -p "$PG_SOCK"
	pg_tls "$PG_DIR" || return 1
	# The role's password: a file, never a command line.
	(umask 077 && openssl rand -hex 16 | tr -d '\n' >"$PG_DIR/p11e.pw")
	chown -R postgres: "$PG_DIR"
	chmod 0600 "$PG_DIR/server.key"
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust \
		--auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 || return 1
	cat >>"$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_SOCK'
ssl = on
ssl_cert_file = '$PG_DIR/server.crt'
ssl_key_file = '$PG_DIR/server.key'
fsync = off
log_connections = on
CONF
	for _ in 1 2 3 4 5; do
		PG_PORT=$(free_port)
		if pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -o "-p $PG_PORT" -w -t 120 \
			start >/dev/null 2>&1; then
			# The role's password through a 0600 file, never a command line.
			(umask 077 && printf "CREATE ROLE p11e LOGIN PASSWORD '%s';\nCREATE DATABASE fleet OWNER p11e;\n" \
				"$(cat "$PG_DIR/p11e.pw")" >"$PG_DIR/init.sql") && chown postgres: "$PG_DIR/init.sql"
			pg_as "$PG_BIN/psql" -X -q -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres \
				-v ON_ERROR_STOP=1 -f "$PG_DIR/init.sql" >/dev/null || return 1
			rm -f "$PG_DIR/init.sql"
			return 0
		fi
	done
	return 1
}

pg_standby_start() {
	pg_as "$PG_BIN/pg_basebackup" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -D "$PG_DIR/standby" -c fast \
		-R >"$PG_DIR/basebackup.log" 2>&1 || return 1
	for _ in 1 2 3 4 5; do
		PG_STANDBY_PORT=$(free_port)
		pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -l "$PG_DIR/standby.log" \
			-o "-p $PG_STANDBY_PORT" -w -t 120 start >/dev/null 2>&1 && return 0
	done
	return 1
}

pg_primary_stop() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1
}

pg_promote() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -w -t 120 promote >/dev/null 2>&1
}

pg_stop() {
	local d
	for d in data standby; do
		[ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/$d/postmaster.pid" ] &&
			pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/$d" -m immediate stop >/dev/null 2>&1
	done
	[ -n "${PG_DIR:-}" ] && rm -rf "$PG_DIR"
	PG_DIR=""
}

# pg_primary_start: starts the primary again (after pg_primary_stop), on its port.
pg_primary_start() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -o "-p $PG_PORT" -w -t 120 \
		start >/dev/null 2>&1
}

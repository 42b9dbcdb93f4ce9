# Two `p11enroll serve` processes on one PostgreSQL store (a private PostgreSQL 15,
# tests/lib/postgres.sh) share sessions, sign-in counts and the CSRF key: the scenario
# of portal_shared.sh (tests/lib/portal_shared.sh) with the config's store a
# postgresql one. Sessions are rows of the documents table named by the token's
# SHA-256; the token is in no row and no file, and no session is left in STATE_DIR.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
. "$TESTS_DIR/lib/postgres.sh"
. "$TESTS_DIR/lib/portal_shared.sh"
setup_ca
W=$TEST_TMP/portal-shared-pg
mkdir -p "$W"
cd "$W" || exit 1
pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
SERVE_EXIT_TOO=pg_stop
(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=p11e password=%s sslmode=disable\n' \
	"$PG_PORT" "$(cat "$PG_DIR/p11e.pw")" >conninfo)
file_vault "$W" '"store": { "type": "postgresql", "conninfo_source": "file:'"$W"'/conninfo" },
  "portal": { "tls_cert": "tls.pem", "tls_key": "tls.key",
    "client_cas": "'"$CA_DIR"'/ca.pem", "session_minutes": 10, "workers": 2 }'
p11e store init >init.out 2>&1
status=$?
check_eq "store init ($(cat init.out))" 0 "$status"

store_sql() { pg_psql "$1"; }
portal_shared_pg_helpers

portal_shared_scenario
pg_stop
trap - EXIT
finish

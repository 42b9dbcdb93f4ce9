# Two `p11enroll serve` processes on one STATE_DIR (the file store) share sessions,
# sign-in counts and the CSRF key (issue 21: "two portals on one database share
# sessions"; docs/portal.md, Sessions): signed in at A, the cookie works at B; signed
# out at B, it is refused at A; a form from one is posted to the other; a client
# alternating between them meets one count; twenty failures at once over both are all
# counted; a portal started a day later sweeps the expired sessions. The token is never
# in the state directory, and a session's file is 0600 (under ctest's pgstore run, the same
# against that PostgreSQL: rows, and no session file). The scenario:
# tests/lib/portal_shared.sh (also run on PostgreSQL by portal_shared_pg.sh).
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
. "$TESTS_DIR/lib/portal_shared.sh"
setup_ca
W=$TEST_TMP/portal-shared
mkdir -p "$W"
cd "$W" || exit 1
file_vault "$W" '"portal": { "tls_cert": "tls.pem", "tls_key": "tls.key",
    "client_cas": "'"$CA_DIR"'/ca.pem", "session_minutes": 10, "workers": 2 }'

if [ "${P11ENROLL_STORE:-}" = postgresql ]; then # ctest's pgstore run: libpq's PG* environment
	store_sql() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
	portal_shared_pg_helpers
else
	portal_shared_file_helpers
fi

portal_shared_scenario
finish

# Two `p11enroll serve` processes on one STATE_DIR (the file store) share sessions,
# sign-in counts and the CSRF key (issue 21: "two portals on one database share
# sessions"; docs/portal.md, Sessions): signed in at A, the cookie works at B; signed
# out at B, it is refused at A; a form from one is posted to the other; a client
# alternating between them meets one count; twenty failures at once over both are all
# counted; a portal started a day later sweeps the expired sessions. The token is never
# in the state directory, and a session's file is 0600. The scenario:
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

store_holds() { grep -rqF -- "$1" "$P11ENROLL_STATE_DIR"; }
session_count() { find "$P11ENROLL_STATE_DIR/portal/sessions" -name '*.json' 2>/dev/null | wc -l; }
session_kept() {
	local f=$P11ENROLL_STATE_DIR/portal/sessions/$1.json
	[ -f "$f" ] && [ "$(stat -c %a "$f")" = 600 ] &&
		[ "$(stat -c %a "$P11ENROLL_STATE_DIR/portal/sessions")" = 700 ]
}

portal_shared_scenario
check_eq "the CSRF key is a 0600 file" 600 "$(stat -c %a "$P11ENROLL_STATE_DIR/portal/secrets/csrf.key")"
finish

# Two `p11enroll serve` processes on one store, as behind a load balancer
# without stickiness (issue 21; docs/portal.md, Sessions and several portals):
# sourced after tests/lib/common.sh and tests/lib/portal.sh by portal_shared.sh
# (the file store, or PostgreSQL under ctest's pgstore run) and
# portal_shared_pg.sh (a PostgreSQL of its own), which call
# portal_shared_file_helpers, or define store_sql SQL (psql, bare values) and
# call portal_shared_pg_helpers, then portal_shared_scenario with
# P11ENROLL_CONFIG naming the store (SERVE_EXIT_TOO: a command the EXIT trap
# runs as well, e.g. pg_stop). The helpers:
#
#   store_holds TEXT      succeeds when TEXT is anywhere in the store
#   session_count         the number of session documents in the store
#   session_kept HEX      succeeds when the session whose token's SHA-256 is HEX
#                         is kept as it must be (a 0600 file, a row) and nowhere else
#   csrf_key_kept         succeeds when the CSRF key is 32 bytes in the store (a 0600
#                         file, a row) and nowhere else
#
# Distinct clients are distinct loopback source addresses (curl --interface).

portal_shared_file_helpers() {
	store_holds() { grep -rqF -- "$1" "$P11ENROLL_STATE_DIR"; }
	session_count() { find "$P11ENROLL_STATE_DIR/portal/sessions" -name '*.json' 2>/dev/null | wc -l; }
	session_kept() {
		local f=$P11ENROLL_STATE_DIR/portal/sessions/$1.json
		[ -f "$f" ] && [ "$(stat -c %a "$f")" = 600 ] &&
			[ "$(stat -c %a "$P11ENROLL_STATE_DIR/portal/sessions")" = 700 ]
	}
	csrf_key_kept() {
		local f=$P11ENROLL_STATE_DIR/portal/secrets/csrf.key
		[ "$(stat -c %a:%s "$f")" = 600:32 ]
	}
}

portal_shared_pg_helpers() {
	docs() { store_sql "SELECT count(*) FROM p11enroll.documents WHERE $1"; }
	store_holds() {
		[ "$(docs "position(convert_to('$1', 'UTF8') in data) > 0 OR position('$1' in name) > 0")" != 0 ] ||
			grep -rqF -- "$1" "$P11ENROLL_STATE_DIR"
	}
	session_count() { docs "kind = 'session'"; }
	session_kept() {
		[ "$(docs "kind = 'session' AND name = '$1'")" = 1 ] &&
			[ ! -e "$P11ENROLL_STATE_DIR/portal/sessions" ]
	}
	csrf_key_kept() {
		[ "$(docs "kind = 'portal-secret' AND name = 'csrf' AND length(data) = 32")" = 1 ] &&
			[ ! -e "$P11ENROLL_STATE_DIR/portal/secrets" ]
	}
}

# serve_at NAME [ENV=VALUE...]: a serve with the log serve.NAME.log; sets
# PID_NAME and URL_NAME; killed when the test exits.
serve_at() {
	local name=$1
	shift
	env "$@" "$P11ENROLL" serve --listen 127.0.0.1:0 >"serve.$name.out" 2>"serve.$name.log" &
	local pid=$!
	SERVE_PIDS="${SERVE_PIDS:-} $pid"
	trap 'kill $SERVE_PIDS 2>/dev/null; ${SERVE_EXIT_TOO:-}' EXIT
	portal_wait "$pid" "serve.$name.log" || { bad "serve $name did not start: $(cat "serve.$name.log")"; finish; }
	printf -v "PID_$name" %s "$pid"
	printf -v "URL_$name" %s "$URL"
}

# stop_at NAME: SIGTERM, exit 0 checked.
stop_at() {
	local pid_var="PID_$1"
	kill -TERM "${!pid_var}"
	wait "${!pid_var}"
	check_eq "serve $1: SIGTERM, exit 0" 0 $?
}

# req OUT CLIENT_N [curl args...] URL: from 127.0.0.CLIENT_N; the body into OUT, the
# status on stdout (headers into OUT.h).
req() {
	local out=$1 n=$2
	shift 2
	curl -sS --max-time 120 --cacert tls.pem --interface "127.0.0.$n" -D "$out.h" -o "$out" \
		-w '%{http_code}' "$@" 2>>curl.err
}
JSON=(-H 'Content-Type: application/json')
# sign CLIENT_N URL EMAIL CODE [curl args]: POST /api/v1/session.
sign() {
	local n=$1 url=$2 email=$3 code=$4
	shift 4
	req s.json "$n" "${JSON[@]}" "$@" -d "{\"email\":\"$email\",\"code\":\"$code\"}" \
		"$url/api/v1/session"
}
header() { tr -d '\r' <"$1.h" | sed -n "s/^$2: //Ip" | head -1; }
not() { ! "$@"; }
csrf_field() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$1" | head -1; }

portal_shared_scenario() {
	portal_tls_cert
	serve_at A
	serve_at B
	check "two portals on two ports" test "$URL_A" != "$URL_B"

	# --- one session, two portals ---
	local ALICE=alice@example.com code token csrf
	code=$(p11e invite $ALICE)
	check_eq "alice signs in at A" 200 "$(sign 2 "$URL_A" $ALICE "$code" -c ajar)"
	csrf=$(jq -r .csrf s.json)
	token=$(awk '$6 == "p11e_session" {print $7}' ajar)
	check "A set a session cookie" test -n "$token"
	check_eq "her cookie at B: 200" 200 "$(req me.json 2 -b ajar "$URL_B/api/v1/me")"
	check_eq "B knows her" $ALICE "$(jq -r .user me.json)"
	check_eq "B gives the same CSRF token (one key for both)" "$csrf" "$(jq -r .csrf me.json)"
	check_eq "her page at B" 200 "$(req home.html 2 -b ajar "$URL_B/")"
	check_contains "B's page says when her session ends" "$(cat home.html)" 'id="session-ends"'
	check_eq "one session in the store" 1 "$(session_count)"
	check "the token is nowhere in the store" not store_holds "$token"
	check "the session is kept under its token's SHA-256" \
		session_kept "$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
	check "nor in either log" not grep -qF -- "$token" serve.A.log serve.B.log

	# The sign-in form fetched from B, posted to A (its csrf field is B's).
	local BOB=bob@example.com bcode scsrf
	bcode=$(p11e invite $BOB)
	req si.html 3 "$URL_B/" >/dev/null
	scsrf=$(csrf_field si.html)
	check "B's sign-in form has a csrf field" test -n "$scsrf"
	check_eq "posted to A: 303" 303 \
		"$(req x 3 -c bjar --data-urlencode "csrf=$scsrf" --data-urlencode "email=$BOB" \
			--data-urlencode "code=$bcode" "$URL_A/signin")"
	check_eq "bob's page at B" 200 "$(req b.html 3 -b bjar "$URL_B/")"
	check_contains "signed in as bob" "$(cat b.html)" "$BOB"
	# Bob signs out with the form of B's page, at A.
	check_eq "bob's sign-out form from B, posted to A: 303" 303 \
		"$(req x 3 -b bjar --data-urlencode "csrf=$(csrf_field b.html)" "$URL_A/signout")"
	check_eq "bob's cookie at B: the sign-in form again" 200 "$(req x 3 -b bjar "$URL_B/")"
	check_contains "the sign-in form" "$(cat x)" 'name="code"'

	# Sign-out at B ends alice's session at A.
	check_eq "alice signs out at B: 200" 200 \
		"$(req so.json 2 -b ajar -X DELETE -H "X-CSRF-Token: $csrf" "$URL_B/api/v1/session")"
	check_eq "her cookie at A: 401" 401 "$(req x 2 -b ajar "$URL_A/api/v1/me")"
	check_eq "and at B: 401" 401 "$(req x 2 -b ajar "$URL_B/api/v1/me")"
	check_eq "no session left in the store" 0 "$(session_count)"

	# --- failed sign-ins counted across both ---
	# Client .4 alternates between A and B for grace's address: each failure anywhere
	# makes the next try wait, at either portal.
	local GRACE=grace@example.com codes ra
	check_eq "client .4, a wrong code at A: 401" 401 "$(sign 4 "$URL_A" $GRACE wrong)"
	check_eq "at once at B: 429" 429 "$(sign 4 "$URL_B" $GRACE wrong)"
	check_eq "Retry-After 1" 1 "$(header s.json Retry-After)"
	sleep 1.2
	check_eq "after the delay, at B: 401" 401 "$(sign 4 "$URL_B" $GRACE wrong)"
	check_eq "at once at A: 429" 429 "$(sign 4 "$URL_A" $GRACE wrong)"
	ra=$(header s.json Retry-After)
	check "Retry-After after the second failure: 2 s, or 1 on a slow machine (got $ra)" \
		test "${ra:-0}" -le 2 -a "${ra:-0}" -ge 1
	# The client's cap, 20 failures over any addresses in 15 minutes, alternating.
	codes=""
	for i in $(seq 1 20); do
		if [ $((i % 2)) = 0 ]; then u=$URL_A; else u=$URL_B; fi
		codes="$codes $(sign 5 "$u" u$i@example.com wrong)"
	done
	check_eq "client .5: 20 failures, alternating A and B, each 401" \
		"$(printf ' 401%.0s' $(seq 1 20))" "$codes"
	local HEIDI=heidi@example.com hcode
	hcode=$(p11e invite $HEIDI)
	check_eq "client .5 at A, a valid code: 429" 429 "$(sign 5 "$URL_A" $HEIDI "$hcode")"
	check_eq "at B: 429" 429 "$(sign 5 "$URL_B" $HEIDI "$hcode")"
	check_eq "heidi from client .6: 200" 200 "$(sign 6 "$URL_B" $HEIDI "$hcode")"
	# 20 failures at once, 10 at each portal: none is lost between them.
	for i in $(seq 1 20); do
		if [ $((i % 2)) = 0 ]; then u=$URL_A; else u=$URL_B; fi
		req "p$i.json" 7 "${JSON[@]}" -d "{\"email\":\"p$i@example.com\",\"code\":\"wrong\"}" \
			"$u/api/v1/session" >"p$i.code" &
	done
	wait_jobs
	codes=$(for f in p*.code; do cat "$f"; echo; done | sort | uniq -c | awk '{print $1 "x" $2}' | tr '\n' ' ')
	check_eq "client .7: 20 failures at once, 10 at each: all 401" "20x401 " "$codes"
	check_eq "its 21st try, at either: 429 (all 20 counted)" "429 429" \
		"$(sign 7 "$URL_A" p21@example.com wrong) $(sign 7 "$URL_B" p22@example.com wrong)"

	# --- expiry: a portal whose clock is a day ahead sweeps at its start ---
	local CAROL=carol@example.com ccode
	ccode=$(p11e invite $CAROL)
	check_eq "carol signs in at A" 200 "$(sign 8 "$URL_A" $CAROL "$ccode" -c cjar)"
	check_eq "heidi's and carol's sessions in the store" 2 "$(session_count)"
	serve_at C P11ENROLL_TEST_NOW="$(($(date +%s) + 86400))"
	check_eq "C, a day later, swept both sessions at its start" 0 "$(session_count)"
	check_eq "carol's cookie at A: 401 (over everywhere)" 401 "$(req x 8 -b cjar "$URL_A/api/v1/me")"
	check_eq "client .5 at C: its failures are stale, so 401 again" 401 \
		"$(sign 5 "$URL_C" u99@example.com wrong)"
	stop_at C
	stop_at B
	stop_at A
	trap "${SERVE_EXIT_TOO:--}" EXIT
	check "the CSRF key is kept in the store, once" csrf_key_kept
}

# Waits for the test's background jobs (not the serve processes).
wait_jobs() {
	local j
	for j in $(jobs -p); do
		case " $SERVE_PIDS " in *" $j "*) ;; *) wait "$j" ;; esac
	done
}

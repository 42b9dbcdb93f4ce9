# For tests of `p11enroll serve`: sourced after tests/lib/common.sh.
#
#   portal_wait PID LOG   waits until the serve whose log is LOG says where it
#                         listens (it was started with --listen ADDR:0, so the
#                         kernel picked the port: no race over a port); sets ADDR
#                         (host:port) and URL (https://ADDR). Returns 1 if the
#                         process PID ends first or after 60 s (ASan on a loaded
#                         2-core machine).
#   portal_serve ARGS...  starts "$P11ENROLL" serve --listen 127.0.0.1:0 ARGS in
#                         the background (stdout serve.out, stderr serve.log),
#                         sets SERVE_PID, kills it when the test exits, waits as
#                         above, and ends the test as failed if it never listens.
#   portal_tls_cert       tls.key and tls.pem in the current directory: the server's
#                         own self-signed certificate for 127.0.0.1 (not the users' CA).
#   portal_stop           SIGTERM to the serve of portal_serve: it must exit 0 (a
#                         check), and the EXIT trap is dropped.

portal_tls_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key \
		-out tls.pem -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
}

portal_stop() {
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID"
	check_eq "SIGTERM: exit 0" 0 $?
	trap - EXIT
}

portal_wait() {
	local pid=$1 log=$2
	ADDR=""
	for _ in $(seq 1 600); do
		ADDR=$(sed -n 's|.*listening on https://\([^/]*\)/.*|\1|p' "$log" 2>/dev/null)
		[ -n "$ADDR" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	URL="https://$ADDR"
	[ -n "$ADDR" ]
}

portal_serve() {
	"$P11ENROLL" serve --listen 127.0.0.1:0 "$@" >serve.out 2>serve.log &
	SERVE_PID=$!
	trap 'kill $SERVE_PID 2>/dev/null' EXIT
	portal_wait "$SERVE_PID" serve.log || { bad "serve did not start: $(cat serve.log)"; finish; }
}

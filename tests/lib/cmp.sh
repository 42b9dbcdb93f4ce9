# The real CMP server in Debian's OpenSSL (`openssl cmp -port P`, its mock
# server: apps/lib/cmp_mock_srv.c), for the cmp backend's tests. Sourced after
# common.sh. It binds every interface, so the test runs in a private network
# namespace: call cmp_netns "$0" "$@" first thing (it re-executes the test
# there, with only loopback up). The mock answers every certificate request
# with its fixed -rsp_cert, whose public key the client checks against its
# request's: the test issues that certificate for the token key first
# (cmp_issue_for_csr), then starts the server with it.
#
#   cmp_start NAME OPTIONS...   starts `openssl cmp -port P OPTIONS...` (P from
#                               free_port), log in $CMP_DIR/NAME.log; sets
#                               CMP_PORT and CMP_PID; waits until it listens
#   cmp_stop                    stops the last one started
#   cmp_requests NAME TYPE      how many TYPE messages (IR, P10CR, KUR, RR,
#                               CERTCONF, POLLREQ) server NAME received

cmp_netns() {
	if [ -z "${CMP_NETNS:-}" ]; then
		local userns
		userns=$([ "$(id -u)" -eq 0 ] || echo --map-root-user)
		exec unshare --net $userns env CMP_NETNS=1 bash "$@"
	fi
}

CMP_DIR=$TEST_TMP/cmp
mkdir -p "$CMP_DIR"
CMP_PIDS=""
trap 'kill $CMP_PIDS 2>/dev/null' EXIT

cmp_start() {
	local name=$1
	shift
	CMP_PORT=${CMP_PORT:-$(free_port)}
	# -verbosity 7: the log names each message received ("received IR").
	openssl cmp -port "$CMP_PORT" -verbosity 7 "$@" >>"$CMP_DIR/$name.log" 2>&1 &
	CMP_PID=$!
	CMP_PIDS+=" $CMP_PID"
	for _ in $(seq 600); do # up to a minute: CI is a loaded machine
		(exec 3<>"/dev/tcp/127.0.0.1/$CMP_PORT") 2>/dev/null && return 0
		kill -0 "$CMP_PID" 2>/dev/null || break
		sleep 0.1
	done
	bad "openssl cmp server $name did not start: $(tail -3 "$CMP_DIR/$name.log")"
	finish
}

cmp_stop() {
	kill "$CMP_PID" 2>/dev/null
	wait "$CMP_PID" 2>/dev/null
}

cmp_requests() {
	grep -c "received $2\b" "$CMP_DIR/$1.log" 2>/dev/null || true
}

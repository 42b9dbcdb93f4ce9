# Starts a private CFSSL server (Debian's golang-cfssl) on 127.0.0.1 for a
# test; sourced after tests/lib/common.sh.
#
#   cfssl_start LOG CACERT SERVE_ARGS...
#       runs `cfssl serve -address 127.0.0.1 -port P SERVE_ARGS...` on a free
#       port in the background (five tries on other ports) and waits for its
#       /info, up to a minute a try: Go programs start slowly on a loaded CI
#       machine. CACERT non-empty: the server speaks TLS (-tls-cert in
#       SERVE_ARGS) under that CA. Sets CFSSL_PORT and CFSSL_PID; returns
#       non-zero, saying why on stderr, if it does not come up.
cfssl_start() {
	local log=$1 cacert=$2 p scheme=http
	local tls=()
	shift 2
	[ -n "$cacert" ] && { scheme=https; tls=(--cacert "$cacert"); }
	CFSSL_PORT=""
	for _ in 1 2 3 4 5; do
		p=$((20000 + RANDOM % 20000))
		cfssl serve -address 127.0.0.1 -port "$p" "$@" >"$log" 2>&1 &
		CFSSL_PID=$!
		for _ in $(seq 600); do
			if curl -s --max-time 10 "${tls[@]}" -d '{"label":""}' \
				"$scheme://127.0.0.1:$p/api/v1/cfssl/info" >/dev/null 2>&1; then
				CFSSL_PORT=$p
				return 0
			fi
			kill -0 "$CFSSL_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$CFSSL_PID" 2>/dev/null
		wait "$CFSSL_PID" 2>/dev/null
	done
	echo "cfssl serve did not start: $(tail -3 "$log")" >&2
	return 1
}

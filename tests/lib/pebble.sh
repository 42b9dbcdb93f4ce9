# Starts a private Pebble (Debian's `pebble`, the ACME test CA) on 127.0.0.1
# for a test; sourced after tests/lib/common.sh.
#
#   pebble_tls DIR                 a throwaway TLS CA (DIR/tls-ca.pem) and a
#                                  certificate for 127.0.0.1 (DIR/tls.pem, tls.key)
#   pebble_start DIR [JSON] [ENV=V...]
#                                  runs pebble with DIR/pebble.json (JSON: extra
#                                  members merged into its "pebble" object) on
#                                  random free ports, in the background, and waits
#                                  for its directory. Sets PEBBLE_PID, PEBBLE_URL
#                                  (the directory), PEBBLE_MGMT (https://...:PORT),
#                                  PEBBLE_LOG. ENV=V pairs go to pebble's
#                                  environment after the defaults
#                                  PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_WFE_NONCEREJECT=0
#                                  PEBBLE_VA_NOSLEEP=1.
#   pebble_root DIR                Pebble's root (new at every start) into DIR/root.pem
#   pebble_stop                    stops the last one started
# Returns non-zero (after five tries on other ports) if pebble does not come up.

pebble_tls() {
	local d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj "/CN=pebble tls test CA" -keyout "$d/tls-ca.key" -out "$d/tls-ca.pem" 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
			-keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/tls.csr" -CA "$d/tls-ca.pem" -CAkey "$d/tls-ca.key" \
			-CAcreateserial -days 1 -out "$d/tls.pem" 2>/dev/null \
			-extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
}

pebble_start() {
	local d=$1 extra=${2:-'{}'} try port mgmt
	shift 2 2>/dev/null || shift $#
	[ -f "$d/tls.pem" ] || pebble_tls "$d" || return 1
	for try in 1 2 3 4 5; do
		port=$(free_port)
		mgmt=$(free_port)
		jq -n --arg l "127.0.0.1:$port" --arg m "127.0.0.1:$mgmt" --arg c "$d/tls.pem" \
			--arg k "$d/tls.key" --argjson extra "$extra" \
			'{pebble: ({listenAddress: $l, managementListenAddress: $m, certificate: $c,
			  privateKey: $k, httpPort: 5002, tlsPort: 5001, ocspResponderURL: "",
			  externalAccountBindingRequired: false} + $extra)}' >"$d/pebble.json"
		PEBBLE_LOG=$d/pebble.log
		env PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_VA_NOSLEEP=1 "$@" \
			pebble -config "$d/pebble.json" ${PEBBLE_DNS:+-dnsserver "$PEBBLE_DNS"} \
			>>"$PEBBLE_LOG" 2>&1 &
		PEBBLE_PID=$!
		PEBBLE_URL=https://127.0.0.1:$port/dir
		PEBBLE_MGMT=https://127.0.0.1:$mgmt
		# Up to a minute: Go programs start slowly on a loaded CI machine.
		for _ in $(seq 600); do
			if curl -sf --max-time 10 --cacert "$d/tls-ca.pem" "$PEBBLE_URL" >/dev/null 2>&1 &&
				curl -sf --max-time 10 --cacert "$d/tls-ca.pem" "$PEBBLE_MGMT/roots/0" \
					>/dev/null 2>&1; then
				return 0
			fi
			kill -0 "$PEBBLE_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$PEBBLE_PID" 2>/dev/null
		wait "$PEBBLE_PID" 2>/dev/null
	done
	echo "pebble did not start: $(tail -3 "$PEBBLE_LOG")" >&2
	return 1
}

pebble_root() {
	curl -sf --cacert "$1/tls-ca.pem" "$PEBBLE_MGMT/roots/0" >"$1/root.pem"
}

pebble_stop() {
	[ -n "${PEBBLE_PID:-}" ] || return 0
	kill "$PEBBLE_PID" 2>/dev/null
	wait "$PEBBLE_PID" 2>/dev/null
	PEBBLE_PID=
}

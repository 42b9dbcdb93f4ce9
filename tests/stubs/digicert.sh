# The DigiCert CertCentral stub (digicert_stub.py) for the integration tests:
# sourced after tests/lib/common.sh. DC is the stub's directory (its CA, its
# orders.json, mode.json, requests.log), DC_KEY the API key it accepts.
DC=$TEST_TMP/digicert
mkdir -p "$DC"
openssl rand -hex 24 >"$DC/api.key"
DC_KEY=$(cat "$DC/api.key")
DC_PID=""
DC_PORT=0

# dc_start [PORT]: starts the stub (on PORT, else the last one, else a free
# one) and waits until it listens; sets DC_PID and DC_PORT.
dc_start() {
	local port=${1:-$DC_PORT}
	rm -f "$DC/port"
	python3 "$TESTS_DIR/stubs/digicert_stub.py" --dir "$DC" --api-key-file "$DC/api.key" \
		--port "$port" >>"$DC/stub.out" 2>&1 &
	DC_PID=$!
	DC_PORT=$(stub_wait digicert "$DC_PID" "$DC/port" "$DC/stub.out")
}
# dc_stop [SIGNAL]: stops the stub (SIGTERM, or e.g. KILL for a crash).
dc_stop() {
	stub_stop "$DC_PID" "${1:-TERM}"
	DC_PID=""
}
# dc_mode JSON: how the stub treats the next orders and requests.
dc_mode() { printf '%s\n' "$1" >"$DC/mode.json"; }
# Orders the stub holds for an address (all, or those with status $2).
dc_orders() {
	jq --arg e "$1" --arg s "${2:-}" \
		'[.orders[] | select(.certificate.emails | index($e)) | select($s == "" or .status == $s)] | length' \
		"$DC/orders.json" 2>/dev/null || echo 0
}
dc_url() { echo "http://127.0.0.1:$DC_PORT/services/v2"; }
trap 'dc_stop' EXIT

# The AD CS web enrollment stub (certsrv_stub.py) for the integration tests:
# sourced after tests/lib/common.sh. CS is the stub's directory (its CA,
# requests.json, mode.json, requests.log), CS_USER and CS/password the
# credentials it takes (Basic over TLS).
CS=$TEST_TMP/certsrv
mkdir -p "$CS"
CS_USER='EXAMPLE\enroll'
openssl rand -hex 16 >"$CS/password"
chmod 600 "$CS/password"
CS_PID=""
CS_PORT=0

# cs_start [PORT]: starts the stub (NTLM instead of Basic when CS_NTLM=1) (on PORT, else the last one, else a free
# one) and waits until it listens; sets CS_PID and CS_PORT.
cs_start() {
	local port=${1:-$CS_PORT}
	rm -f "$CS/port"
	python3 "$TESTS_DIR/stubs/certsrv_stub.py" --dir "$CS" --user "$CS_USER" \
		--password-file "$CS/password" --port "$port" ${CS_NTLM:+--ntlm} >>"$CS/stub.out" 2>&1 &
	CS_PID=$!
	CS_PORT=$(stub_wait certsrv "$CS_PID" "$CS/port" "$CS/stub.out")
}
cs_stop() {
	stub_stop "$CS_PID" "${1:-TERM}"
	CS_PID=""
}
# cs_mode JSON: how the stub treats the next requests.
cs_mode() { printf '%s\n' "$1" >"$CS/mode.json"; }
# The number of requests the stub holds: all, or those carrying p11enroll's
# request key $1 (the request attribute p11enroll-request).
cs_requests() {
	jq --arg k "${1:-}" '[.requests[] | select($k == "" or .attributes["p11enroll-request"] == $k)] | length' \
		"$CS/requests.json" 2>/dev/null || echo 0
}
cs_url() { echo "https://127.0.0.1:$CS_PORT/certsrv"; }
trap 'cs_stop' EXIT

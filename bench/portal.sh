#!/usr/bin/env bash
# The portal benchmark (issue 13): figures, never a pass/fail test.
# `p11enroll serve` (Release build) on 127.0.0.1 with a port the kernel picks,
# driven by bench_portal (bench/portal_load.c): C concurrent HTTPS clients
# with client certificates, bounded by N requests and T seconds each.
#
#   bash bench/portal.sh              N=2000 T=20, C in 1 8 32, workers 4 and 1
#   N=500 T=10 CS="1 8" WORKERS=4 GROW=0 bash bench/portal.sh
#   SERVE_WRAP="taskset -c 1" bash bench/portal.sh   (a command that execs serve)
#   OPS="home download" ...                          (the operations measured)
#   OPS="session home" ...                           (a session's cost per request)
#
# Measured for "download certificate" (GET .../certificate?format=pem) and
# "reveal password" (POST .../password with the X-CSRF-Token of /api/v1/me),
# over kept-alive connections and, at C=8, with a new TLS connection per
# request; with OPS=home also "home page" (GET / with the certificate: the
# HTTP, TLS and connection path with no audit append); with OPS=session
# "session" (GET /api/v1/me signed in by a session cookie from an invitation
# code, no certificate: the session looked up in the store on each request,
# docs/portal.md, Sessions). Each line also gives
# serve's CPU time per request (user + system, from /proc), which the load
# of a shared machine distorts less than the rate. serve runs with its
# defaults, so the connection caps are on (docs/portal.md, "Connections and
# limits": 32 per client address, which C=32 from 127.0.0.1 just fits).
# USERS software identities (client-auth profile, escrowed in a file
# vault read with a PEM officer key) share the clients: thread i is user
# i mod USERS. Every answer is audited before it is sent, so each figure
# starts from the same state directory (serve restarted on a copy, log empty);
# GROW rounds of N downloads then run without a reset to show what a longer
# log costs (an append once read the whole log: docs/performance.md).
# Needs the packages of scripts/deps.sh (run bench/run.sh once, or deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
T=${T:-20}
CS=${CS:-1 8 32}
WORKERS=${WORKERS:-4 1}
USERS=${USERS:-4}
OPS=${OPS:-download reveal}
GROW=${GROW:-5}
read -r -a WRAP <<<"${SERVE_WRAP:-}"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc)" --target p11enroll bench_portal >/dev/null
P=$PWD/build-bench/p11enroll
LOAD=$PWD/build-bench/bench_portal
W=$(mktemp -d)
SERVE_PID=""
stop_serve() {
	[ -n "$SERVE_PID" ] || return 0
	kill -TERM "$SERVE_PID" 2>/dev/null || true
	wait "$SERVE_PID" || echo "serve exited with status $? (log: $W/serve.log)" >&2
	SERVE_PID=""
}
trap 'stop_serve; rm -rf "$W"' EXIT
umask 077
cd "$W"
export P11ENROLL_STATE_DIR=$W/state.clean P11ENROLL_CONFIG=$W/config.json

# The users' CA, the server's own TLS certificate (not the users' CA), an
# escrow officer.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key \
	-out tls.pem -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout officer.key -out officers.pem \
	-subj "/CN=Escrow Officer" -days 2 -addext keyUsage=critical,keyEncipherment 2>/dev/null
config() { # workers -> config.json
	cat >config.json <<JSON
{ "default_ca": "local:$W/ca",
  "vault": { "type": "file", "dir": "$W/escrow", "officer_certs_file": "$W/officers.pem" },
  "profiles": { "soft-auth": { "base": "client-auth", "key_store": "software" } },
  "portal": { "tls_cert": "$W/tls.pem", "tls_key": "$W/tls.key",
    "client_cas": "$W/ca/ca.pem", "officer_key": "$W/officer.key", "workers": $1 } }
JSON
}
config 4
"$P" config check >/dev/null
"$P" ca init --dir "$W/ca" >/dev/null

# USERS software identities, each one PEM (key + certificate) for curl.
for i in $(seq "$USERS"); do
	u=u$i@example.com
	"$P" enroll --software --profile soft-auth --email "$u" >/dev/null
	openssl cms -decrypt -inform DER -in "escrow/$u.cms" -recip officers.pem \
		-inkey officer.key -out "$u.pw" 2>/dev/null
	openssl pkcs12 -in "state.clean/pfx/$u.p12" -passin "file:$u.pw" -nodes -out "$u.pem" \
		2>/dev/null
done

# serve on a fresh copy of the state directory; its CSRF tokens are per process.
start_serve() {
	rm -rf state
	cp -a state.clean state
	: >serve.log # emptied here: the child's own truncation may come after the first read
	P11ENROLL_STATE_DIR=$W/state "${WRAP[@]}" "$P" serve --listen 127.0.0.1:0 >serve.out 2>serve.log &
	SERVE_PID=$!
	ADDR=""
	for _ in $(seq 600); do
		ADDR=$(sed -n 's|.*listening on https://\([^/]*\)/.*|\1|p' serve.log)
		[ -n "$ADDR" ] && break
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$ADDR" ] || { echo "serve did not start: $(cat serve.log)" >&2; exit 1; }
	for i in $(seq "$USERS"); do
		u=u$i@example.com
		case " $OPS " in *" session "*)
			code=$(P11ENROLL_STATE_DIR=$W/state "$P" invite "s$i@example.com")
			curl -sS --max-time 60 --cacert tls.pem -c "$u.jar" -o /dev/null \
				-H 'Content-Type: application/json' \
				-d "{\"email\":\"s$i@example.com\",\"code\":\"$code\"}" \
				"https://$ADDR/api/v1/session"
			printf 'Cookie: p11e_session=%s\n' "$(awk '$6 == "p11e_session" {print $7}' "$u.jar")" \
				>"$u.cookie"
			;;
		esac
		csrf=$(curl -sS --max-time 60 --cacert tls.pem --cert "$u.pem" \
			"https://$ADDR/api/v1/me" | jq -r .csrf)
		printf 'X-CSRF-Token: %s\n' "$csrf" >"$u.csrf"
	done
}

# load OP C [bench_portal options] -> one line: OP, C, its figures, the load average
load() {
	local op=$1 c=$2 args=()
	shift 2
	for i in $(seq "$USERS"); do
		u=u$i@example.com
		[ "$op" = session ] || args+=(--cert "$u.pem")
		if [ "$op" = session ]; then
			args+=(--url "https://$ADDR/api/v1/me" --header-file "$u.cookie")
		elif [ "$op" = home ]; then
			args+=(--url "https://$ADDR/")
		elif [ "$op" = download ]; then
			args+=(--url "https://$ADDR/api/v1/identities/$u/certificate?format=pem")
		else
			args+=(--url "https://$ADDR/api/v1/identities/$u/password" --method POST
				--header-file "$u.csrf")
		fi
	done
	local cpu0 out n
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$SERVE_PID/stat")
	out=$("$LOAD" "${args[@]}" --cacert tls.pem -c "$c" -n "$N" -t "$T" --label "$op C=$c" "$@") ||
		out="$out
($op C=$c: some requests failed, above)"
	echo "$out"
	n=$(sed -n 's/.*: requests \([0-9]*\) .*/\1/p' <<<"$out" | head -1)
	awk -v t0="$cpu0" -v n="${n:-0}" -v hz="$(getconf CLK_TCK)" '{ if (n > 0)
		printf "  serve CPU per request: %.2f ms\n", ($14 + $15 - t0) * 1000 / hz / n }' \
		"/proc/$SERVE_PID/stat"
	echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
	"$(uname -r), OpenSSL $(openssl version | cut -d' ' -f2), libevent" \
	"$(pkg-config --modversion libevent 2>/dev/null)"
echo "N=$N T=${T}s USERS=$USERS, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# A sanity check before any figure: the reveal gives the escrowed password.
start_serve
got=$(curl -sS --max-time 60 --cacert tls.pem --cert u1@example.com.pem -X POST \
	-H @u1@example.com.csrf "https://$ADDR/api/v1/identities/u1@example.com/password" |
	jq -r .password)
[ "$got" = "$(cat u1@example.com.pw)" ] || { echo "the reveal does not give the password" >&2; exit 1; }
stop_serve

for workers in $WORKERS; do
	config "$workers"
	echo
	echo "## workers $workers, kept-alive connections"
	for op in $OPS; do
		for c in $CS; do
			start_serve
			load "$op" "$c"
			stop_serve
		done
	done
	echo "## workers $workers, a new TLS connection per request"
	for op in $OPS; do
		start_serve
		load "$op" 8 --fresh
		stop_serve
	done
done

if [ "$GROW" -gt 0 ]; then
	config 4
	echo
	echo "## the audit log growing: $GROW rounds of $N downloads, C=8, workers 4, no reset"
	start_serve
	for r in $(seq "$GROW"); do
		lines=0 kib=0
		if [ -f state/audit.jsonl ]; then
			lines=$(wc -l <state/audit.jsonl)
			kib=$(du -k state/audit.jsonl | cut -f1)
		fi
		echo "round $r, audit log before: $lines entries, $kib KiB"
		load download 8
	done
	stop_serve
fi

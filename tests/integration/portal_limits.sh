# The portal's connections and limits (issue 19; docs/portal.md, "Connections
# and limits"), one `serve` started with its descriptor limit lowered
# (prlimit --nofile=100), on 127.0.0.1 with a kernel-picked port; peers from
# other loopback addresses (127.0.0.2, ...: all local). Checked: the total cap
# is lowered to fit the limit and said so; connections over the per-client
# cap are closed at once while a client from another address is served; more
# connections than descriptors, and then accept() failing with EMFILE (the
# limit lowered under the running server), leave serve running without a
# spin (its log stays small, it takes little CPU) and it serves again once
# they close; a request trickled a byte a second and a connection that sends
# nothing are closed at the deadline (portal.request_timeout_seconds), well
# before they would end; libevent's own 400 and 413 carry the security
# headers; PUT, OPTIONS and HEAD get 405 with Allow; two pipelined requests
# are both answered, in order.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
setup_ca
W=$TEST_TMP/limits
mkdir -p "$W"
cd "$W" || exit 1
portal_tls_cert
file_vault "$W" '"portal": { "tls_cert": "tls.pem", "tls_key": "tls.key",
    "client_cas": "'"$CA_DIR"'/ca.pem", "workers": 2,
    "max_connections_per_client": 16, "request_timeout_seconds": 10 }'

p11e config check >/dev/null 2>&1
check_eq "config check knows the new keys" 0 $?
for bad in request_timeout_seconds=0 max_connections='"many"' max_connections_per_client=-1; do
	jq ".portal.$bad" config.json >bad.json
	out=$(P11ENROLL_CONFIG=$W/bad.json p11e serve --listen 127.0.0.1:0 2>&1)
	check_eq "$bad: serve refuses it (exit 8)" 8 $?
	check_contains "$bad: the message names the key" "$out" "portal.${bad%%=*} must be"
done

# conns.py MODE ...: the peers, with the stdlib only (socket, ssl).
cat >conns.py <<'PY'
import os, select, socket, ssl, sys, time
host, port = os.environ["ADDR"].rsplit(":", 1)
port = int(port)

def tcp(src):
    return socket.create_connection((host, port), timeout=30, source_address=(src, 0))

def tls(src):
    ctx = ssl.create_default_context(cafile="tls.pem")
    return ctx.wrap_socket(tcp(src), server_hostname=host)

def closed_within(s, seconds):
    """True if the server closed s (EOF or reset) within seconds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
        if r:
            try:
                if s.recv(4096) == b"":
                    return True
            except OSError:
                return True
    return False

def read_all(s, seconds):
    """Everything until EOF: (bytes, True) or (bytes, False) at the timeout."""
    s.settimeout(seconds)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return out, True
            out += b
    except socket.timeout:
        return out, False
    except OSError:
        return out, True

mode = sys.argv[1]
if mode == "hold":  # hold SRC... N SECONDS: N connections from each SRC
    srcs, n, hold = sys.argv[2:-2], int(sys.argv[-2]), float(sys.argv[-1])
    socks = []
    for src in srcs:
        for _ in range(n):
            try:
                socks.append(tcp(src))
            except OSError:
                pass
    # A refused connection is closed at its admission, at once; the held
    # ones stay until the deadline (10 s). Settled: no change for 1.5 s.
    still, t0, last = socks, time.monotonic(), time.monotonic()
    while time.monotonic() - last < 1.5 and time.monotonic() - t0 < 8:
        now = [s for s in still if not closed_within(s, 0.01)]
        if len(now) != len(still):
            last = time.monotonic()
        still = now
        time.sleep(0.1)
    print(f"connected={len(socks)} open={len(still)}", flush=True)
    open("held", "w").close()
    time.sleep(hold)
elif mode == "trickle":  # a request's header a byte a second, up to 40 s
    s = tls(sys.argv[2])
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 40:
        try:
            s.sendall(b"a")
        except OSError:
            break
        if closed_within(s, 1):
            break
    print(f"{time.monotonic() - t0:.0f}")
elif mode == "silent":  # connects, sends nothing; when is it closed
    s = tcp(sys.argv[2])
    t0 = time.monotonic()
    closed_within(s, 40)
    print(f"{time.monotonic() - t0:.0f}")
elif mode == "raw":  # raw SRC TEXT: TEXT (\r\n escapes) over TLS, the answer
    s = tls(sys.argv[2])
    s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
    out, eof = read_all(s, 30)
    sys.stdout.write(out.decode("latin-1"))
    print("" if eof else "\n(no end after 30 s)")
PY
peer() { ADDR=$ADDR python3 conns.py "$@"; }
log_size() { stat -c %s serve.log; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVE_PID/stat"; }
# served SRC: the home page answers 200 to curl from SRC (retried up to 30 s).
served() {
	for _ in $(seq 30); do
		code=$(curl -sS --max-time 20 --cacert tls.pem --interface "$1" -o /dev/null \
			-w '%{http_code}' "$URL/" 2>/dev/null)
		[ "$code" = 200 ] && return 0
		sleep 1
	done
	return 1
}

prlimit --nofile=100 -- "$P11ENROLL" serve --listen 127.0.0.1:0 >serve.out 2>serve.log &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null' EXIT
portal_wait "$SERVE_PID" serve.log || { bad "serve did not start: $(cat serve.log)"; finish; }
check_contains "the total cap lowered to fit 100 descriptors, said once" "$(cat serve.log)" \
	"portal.max_connections 512 lowered to"
check_eq "served from 127.0.0.1" 0 "$(served 127.0.0.1 && echo 0)"

# The deadline, in the background while the rest runs (other addresses).
peer trickle 127.0.0.20 >trickle.out &
TRICKLE=$!
peer silent 127.0.0.21 >silent.out &
SILENT=$!

# The per-client cap: 40 connections from 127.0.0.2, 16 held, 24 closed at once;
# meanwhile 127.0.0.3 is served; after they go, 127.0.0.2 is served too.
rm -f held
peer hold 127.0.0.2 40 4 >hold.out &
HOLDER=$!
for _ in $(seq 300); do [ -f held ] && break; sleep 0.1; done
check_eq "over the per-client cap: closed at once, 16 held" "connected=40 open=16" \
	"$(cat hold.out)"
check_eq "another address is served meanwhile" 0 "$(served 127.0.0.3 && echo 0)"
wait $HOLDER
check_eq "127.0.0.2 is served once its connections are gone" 0 \
	"$(served 127.0.0.2 && echo 0)"

# More connections than descriptors: 8 addresses x 15 = 120 against a limit of
# 100. No spin: the log stays small, little CPU; serve runs, and serves after.
rm -f held
size0=$(log_size)
peer hold 127.0.0.{4..11} 15 3 >hold.out &
HOLDER=$!
for _ in $(seq 300); do [ -f held ] && break; sleep 0.1; done
cpu0=$(cpu_ticks)
sleep 3
cpu=$(($(cpu_ticks) - cpu0))
echo "120 connections: $(cat hold.out); serve used $cpu ticks of CPU in 3 s"
open=$(sed -n 's/.*open=//p' hold.out)
check "120 connections: fewer held than descriptors ($open)" test "${open:-999}" -lt 100
check "120 connections: serve's log stays small ($(($(log_size) - size0)) bytes)" \
	test $(($(log_size) - size0)) -lt 4096
check "120 connections: no spin ($cpu ticks in 3 s)" test "$cpu" -lt 150
check "120 connections: serve still runs" kill -0 "$SERVE_PID"
wait $HOLDER
check_eq "served again once they close" 0 "$(served 127.0.0.1 && echo 0)"

# accept() itself failing (EMFILE): the limit lowered under the running serve
# to 2 above what it holds; 20 connections. One warning, no spin, recovery.
nfd=$(ls "/proc/$SERVE_PID/fd" | wc -l)
prlimit --pid "$SERVE_PID" --nofile=$((nfd + 2)):100
rm -f held
size0=$(log_size)
warned0=$(grep -c 'cannot accept connections: Too many open files' serve.log)
peer hold 127.0.0.12 20 4 >hold.out &
HOLDER=$!
for _ in $(seq 300); do [ -f held ] && break; sleep 0.1; done
cpu0=$(cpu_ticks)
sleep 3
cpu=$(($(cpu_ticks) - cpu0))
grown=$(($(log_size) - size0))
warned=$(($(grep -c 'cannot accept connections: Too many open files' serve.log) - warned0))
echo "EMFILE: $(cat hold.out); serve used $cpu ticks of CPU in 3 s"
check "EMFILE: the log stays small ($grown bytes)" test "$grown" -lt 2048
check_eq "EMFILE: one warning line" 1 "$warned"
check "EMFILE: no spin ($cpu ticks in 3 s)" test "$cpu" -lt 150
check "EMFILE: serve still runs" kill -0 "$SERVE_PID"
prlimit --pid "$SERVE_PID" --nofile=100:100
wait $HOLDER
check_eq "EMFILE: served again once the limit is back" 0 "$(served 127.0.0.1 && echo 0)"

# libevent's own answers carry the security headers; other methods get 405.
out=$(peer raw 127.0.0.13 'NONSENSE\r\n\r\n')
check_contains "malformed: 400" "$out" "HTTP/1.1 400"
for h in "Cache-Control: no-store" "Content-Security-Policy: default-src 'self'" \
	"Strict-Transport-Security: max-age" "X-Content-Type-Options: nosniff" \
	"X-Frame-Options: DENY" "Referrer-Policy: no-referrer"; do
	check_contains "400 has $h" "$out" "$h"
done
out=$(peer raw 127.0.0.13 'POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n')
check_contains "a body too large: 413" "$out" "HTTP/1.1 413"
check_contains "413 has the CSP" "$out" "Content-Security-Policy: default-src 'self'"
check_contains "413 has HSTS" "$out" "Strict-Transport-Security: max-age"
hdr() { curl -sS --max-time 60 --cacert tls.pem -o /dev/null -D - "$@" | tr -d '\r'; }
out=$(hdr -X PUT "$URL/api/v1/me")
check_contains "PUT /api/v1/me: 405" "$out" "HTTP/1.1 405"
check_contains "PUT /api/v1/me: Allow: GET" "$out" "Allow: GET"
check_contains "405 has the CSP" "$out" "Content-Security-Policy: default-src 'self'"
out=$(hdr -X OPTIONS "$URL/api/v1/session")
check_contains "OPTIONS /api/v1/session: 405" "$out" "HTTP/1.1 405"
check_contains "OPTIONS /api/v1/session: Allow: POST" "$out" "Allow: POST"
out=$(hdr -I "$URL/")
check_contains "HEAD /: 405 with Allow: GET" "$out" "Allow: GET"

# Two requests in one write on a kept-alive TLS connection: both answered, in order.
out=$(peer raw 127.0.0.14 'GET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
check_eq "pipelined: two answers, in order" "401 404" \
	"$(grep -o 'HTTP/1.1 [0-9]*' <<<"$out" | cut -d' ' -f2 | tr '\n' ' ' | sed 's/ $//')"
check_not_contains "pipelined: the connection ended" "$out" "no end after"

# The deadline: 10 s; without it the trickle ran 40 s and the silent one
# until evhttp's 60 s.
wait $TRICKLE
t=$(cat trickle.out)
check "trickling a byte a second: closed by the deadline (after $t s)" test "${t:-99}" -lt 30
wait $SILENT
t=$(cat silent.out)
check "sending nothing: closed by the deadline (after $t s)" test "${t:-99}" -lt 30
check "a closed connection is not counted: served" served 127.0.0.20

kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
check_eq "SIGTERM: exit 0" 0 $?
echo "serve.log: $(log_size) bytes"
finish

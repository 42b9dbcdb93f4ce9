# free_port, for the server helpers (pebble.sh, slapd.sh, postgres.sh); sourced
# by common.sh, and alone where a unit test starts a server without it.

# A port of 127.0.0.1 nothing listens on now, for a server that cannot take
# port 0 (a race remains: the caller retries on another).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

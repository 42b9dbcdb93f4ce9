# Python stubs (tests/stubs/*_stub.py) started in the background: how long to
# wait for one, and how to stop it, in one place. Sourced by tests/lib/common.sh.

# stub_wait NAME PID FILE LOG: waits (up to a minute: Python starts slowly on a
# loaded CI machine) until the stub PID has written its port into FILE, and
# prints it; if PID dies first or the minute passes, says so with LOG's tail on
# stderr and returns 1.
stub_wait() {
	local name=$1 pid=$2 file=$3 log=$4
	for _ in $(seq 1200); do
		if [ -s "$file" ]; then
			cat "$file"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "$name stub did not start: $(tail -5 "$log" 2>/dev/null)" >&2
	return 1
}

# stub_stop PID [SIGNAL]: stops the stub PID (SIGTERM, or e.g. KILL for a crash)
# and reaps it; nothing for an empty PID.
stub_stop() {
	[ -n "$1" ] || return 0
	kill "-${2:-TERM}" "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

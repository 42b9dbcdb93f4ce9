# Ctrl-C at the PIN prompt (issue 20, D): the process ends as interrupted
# (130, the shell's 128 + SIGINT, whether the signal ends it or, when it came
# in with SIGINT blocked as some supervisors start their children, the exit
# code says it), never as a usage error (2); the terminal's echo is back on
# afterwards and nothing was enrolled. The same in a batch: its first row's
# login prompt, Ctrl-C, exit 130 and the summary.
# A real terminal: python3's pty module; Ctrl-C is the byte the terminal
# turns into SIGINT for its foreground process group.
. "$TESTS_DIR/lib/common.sh"
setup_ca
if ! python3 -c 'import pty' 2>/dev/null; then
	bad "python3 with pty is needed for the prompt test"
	finish
fi
# ctrl_c_at_prompt ARGS...: runs p11enroll ARGS on a new terminal, types
# Ctrl-C once the prompt has turned echo off; prints what the terminal showed,
# then ECHO=on|off (the terminal's echo after the exit) and EXIT=<code> (as a
# shell shows it: 128 + N for a process that signal N ended). BLOCK=1: the
# child starts with SIGINT blocked.
ctrl_c_at_prompt() {
	python3 - "$P11ENROLL" "$@" <<'EOF'
import os, pty, select, signal, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    # Default signal actions, as an interactive shell gives its jobs.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if os.environ.get("BLOCK") == "1":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    os.execv(sys.argv[1], sys.argv[1:])
seen, typed, status = b"", False, None
deadline = time.time() + 300
while status is None and time.time() < deadline:
    if select.select([fd], [], [], 0.2)[0]:
        try:
            seen += os.read(fd, 1024)
        except OSError:
            pass
    if not typed and b"Enter " in seen and not termios.tcgetattr(fd)[3] & termios.ECHO:
        os.write(fd, b"\x03")
        typed = True
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
try:
    echo = "on" if termios.tcgetattr(fd)[3] & termios.ECHO else "off"
except termios.error:
    echo = "unknown"
sys.stdout.write(seen.decode(errors="replace"))
code = "timeout"
if status is not None:
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code
sys.stdout.write("\nECHO=%s\nEXIT=%s\n" % (echo, code))
EOF
}

out=$(ctrl_c_at_prompt enroll "$TEST_TOKEN_URI" --email cc@example.com --ca "local:$CA_DIR" \
	--pin-source prompt)
printf '%s\n' "$out" >&2
check_contains "enroll: the prompt was shown" "$out" "Enter "
check_contains "enroll: Ctrl-C at the prompt exits 130" "$out" "EXIT=130"
check_contains "enroll: echo is back on" "$out" "ECHO=on"
check "enroll: nothing enrolled" no_record cc@example.com
out=$(BLOCK=1 ctrl_c_at_prompt enroll "$TEST_TOKEN_URI" --email cc@example.com \
	--ca "local:$CA_DIR" --pin-source prompt)
printf '%s\n' "$out" >&2
check_contains "enroll, SIGINT blocked: exit 130" "$out" "EXIT=130"
check_contains "enroll, SIGINT blocked: says interrupted" "$out" "interrupted"
check_contains "enroll, SIGINT blocked: echo is back on" "$out" "ECHO=on"
check "enroll, SIGINT blocked: nothing enrolled" no_record cc@example.com

printf 'email\ncc1@example.com\ncc2@example.com\n' >"$TEST_TMP/r.csv"
out=$(ctrl_c_at_prompt batch "$TEST_TMP/r.csv" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source prompt)
printf '%s\n' "$out" >&2
check_contains "batch: Ctrl-C at the login prompt exits 130" "$out" "EXIT=130"
check_contains "batch: the summary says not tried" "$out" "2 not tried (interrupted)"
check_contains "batch: echo is back on" "$out" "ECHO=on"
finish

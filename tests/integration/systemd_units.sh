# The unattended renewal units (issue 11 item 8): contrib/p11enroll-renew.service
# and .timer pass `systemd-analyze verify` (in a private root holding the units,
# the system's own units and a stand-in /usr/bin/p11enroll, so the check needs
# neither the package installed nor a running systemd; any warning fails, not
# only errors); without systemd-analyze (a minimal root) a strict parse checks
# every line against the keys the units may use. Either way the timer is
# daily, randomized and persistent, the service a oneshot, and its ExecStart
# is a command the built binary accepts: with --dry-run it exits 0 on an
# empty state dir, and on a state dir with an identity not due.
. "$TESTS_DIR/lib/common.sh"
SERVICE=$SOURCE_DIR/contrib/p11enroll-renew.service
TIMER=$SOURCE_DIR/contrib/p11enroll-renew.timer
check "the service unit exists" test -f "$SERVICE"
check "the timer unit exists" test -f "$TIMER"
# value FILE SECTION KEY: the key's values in that section, one a line.
value() {
	awk -v s="[$2]" -v k="$3" '/^\[/ { in_s = ($0 == s) }
		in_s && index($0, k "=") == 1 { print substr($0, length(k) + 2) }' "$1"
}

if command -v systemd-analyze >/dev/null && [ -d /usr/lib/systemd/system ]; then
	ROOT=$TEST_TMP/root
	mkdir -p "$ROOT/usr/bin" "$ROOT/usr/lib/systemd"
	cp -a /usr/lib/systemd/system "$ROOT/usr/lib/systemd/"
	# A stand-in: verify checks that ExecStart's program is there and executable.
	printf '#!/bin/sh\nexit 0\n' >"$ROOT/usr/bin/p11enroll"
	chmod 755 "$ROOT/usr/bin/p11enroll"
	cp "$SERVICE" "$TIMER" "$ROOT/usr/lib/systemd/system/"
	out=$(systemd-analyze verify --man=no --root="$ROOT" \
		/usr/lib/systemd/system/p11enroll-renew.service \
		/usr/lib/systemd/system/p11enroll-renew.timer 2>&1)
	check_eq "systemd-analyze verify: exit 0 ($out)" 0 $?
	check_eq "systemd-analyze verify: not a word of warning" "" "$out"
	# The check itself catches a misspelt key (so an empty output means something).
	sed 's/^Persistent=/Persistant=/' "$TIMER" >"$ROOT/usr/lib/systemd/system/typo.timer"
	out=$(systemd-analyze verify --man=no --root="$ROOT" \
		/usr/lib/systemd/system/typo.timer 2>&1)
	check_contains "systemd-analyze verify sees a misspelt key" "$out" "Unknown key"
	out=$(systemd-analyze security --offline=yes --root="$ROOT" \
		/usr/lib/systemd/system/p11enroll-renew.service 2>&1 | tail -1)
	echo "systemd-analyze security: $out"
else
	echo "no systemd-analyze: the strict parse only"
fi

# The strict parse: every line a comment, a section or a known key of it.
strict() { # strict FILE ALLOWED: "Section:Key" words
	awk -v allowed="$2" 'BEGIN { n = split(allowed, a, " "); for (i = 1; i <= n; i++) ok[a[i]] = 1 }
		/^[ \t]*(#|;|$)/ { next }
		/^\[[A-Za-z]+\]$/ { s = substr($0, 2, length($0) - 2); next }
		/^[A-Za-z]+=/ { k = substr($0, 1, index($0, "=") - 1); if ((s ":" k) in ok) next }
		{ print FILENAME ":" NR ": " $0; bad = 1 }
		END { exit bad }' "$1"
}
unit_keys="Unit:Description Unit:Documentation Unit:After Unit:Wants"
out=$(strict "$SERVICE" "$unit_keys Service:Type Service:User Service:Group Service:Environment
	Service:ExecStart Service:StandardInput Service:Nice Service:IOSchedulingClass
	Service:LimitCORE Service:NoNewPrivileges Service:CapabilityBoundingSet
	Service:ProtectSystem Service:ReadWritePaths Service:ProtectHome Service:PrivateTmp
	Service:PrivateDevices Service:ProtectKernelTunables Service:ProtectKernelModules
	Service:ProtectKernelLogs Service:ProtectControlGroups Service:ProtectClock
	Service:ProtectHostname Service:RestrictAddressFamilies Service:RestrictNamespaces
	Service:RestrictRealtime Service:RestrictSUIDSGID Service:LockPersonality Service:UMask")
check_eq "service: every line known ($out)" 0 $?
out=$(strict "$TIMER" "$unit_keys Timer:OnCalendar Timer:RandomizedDelaySec Timer:Persistent
	Install:WantedBy")
check_eq "timer: every line known ($out)" 0 $?
check_eq "service: a oneshot" oneshot "$(value "$SERVICE" Service Type)"
check_eq "service: not installed to start by itself (the timer starts it)" "" \
	"$(value "$SERVICE" Install WantedBy)"
check_eq "service: the station's config" "P11ENROLL_CONFIG=/etc/p11enroll/config.json" \
	"$(value "$SERVICE" Service Environment | grep P11ENROLL_CONFIG)"
check_contains "service: STATE_DIR writable, and only it" \
	"$(value "$SERVICE" Service ProtectSystem) $(value "$SERVICE" Service ReadWritePaths)" \
	"strict /var/lib/p11enroll"
check_eq "timer: daily" daily "$(value "$TIMER" Timer OnCalendar)"
check_eq "timer: persistent" true "$(value "$TIMER" Timer Persistent)"
check "timer: a randomized delay" test -n "$(value "$TIMER" Timer RandomizedDelaySec)"
check_eq "timer: enabled into timers.target" timers.target "$(value "$TIMER" Install WantedBy)"

# ExecStart is a command the built binary accepts.
exec_start=$(value "$SERVICE" Service ExecStart)
check_eq "ExecStart: renew --all" "/usr/bin/p11enroll renew --all" "$exec_start"
read -r -a cmd <<<"${exec_start#/usr/bin/p11enroll }"
export P11ENROLL_CONFIG=$TEST_TMP/config.json
echo "{\"default_ca\": \"local:$CA_DIR\"}" >"$P11ENROLL_CONFIG"
out=$(p11e "${cmd[@]}" --dry-run </dev/null 2>&1)
check_eq "ExecStart --dry-run on an empty state dir: exit 0 ($out)" 0 $?
out=$(p11e "${cmd[@]}" </dev/null 2>&1)
check_eq "ExecStart on an empty state dir: exit 0, nothing due ($out)" 0 $?
setup_ca
p11e enroll "$TEST_TOKEN_URI" --email unit@example.com --pin-source "$PIN_SRC" >/dev/null 2>&1
out=$(p11e "${cmd[@]}" --dry-run </dev/null 2>&1)
check_eq "ExecStart --dry-run, one identity not due: exit 0 ($out)" 0 $?
check_contains "... which it names" "$out" "unit@example.com: not due"
finish

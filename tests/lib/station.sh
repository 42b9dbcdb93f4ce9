# A station's state for the import tests (store_import*.sh), sourced after
# common.sh: a config on a file store, records left at every step by crash
# points, software keys (one in progress, one delivered as a PFX), the file
# vault's entries and a counter; and how to compare two stores document by
# document through store_probe (tests/tools/store_probe.c).

# station DIR: DIR/station.json, a station on the file store DIR/state with
# the embedded CA ($CA_DIR) and the file vault in the store (DIR/state/escrow:
# no "dir" of its own). Explicitly the file store, also when the suite runs
# over PostgreSQL.
station() {
	local d=$1
	mkdir -p "$d/state" && chmod 700 "$d" "$d/state"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/officer.key" -out "$d/officers.pem" \
		-subj "/CN=Escrow Officer" -days 30 -addext keyUsage=critical,keyEncipherment 2>/dev/null
	printf '{ "state_dir": "%s/state", "store": { "type": "file" }, "default_ca": "local:%s",
  "vault": { "type": "file", "officer_certs_file": "officers.pem" },
  "profiles": { "soft": { "base": "smime", "key_store": "software" } } }\n' \
		"$d" "$CA_DIR" >"$d/station.json"
}

# station_enroll DIR EMAIL [POINT] [OPTIONS]: an enrollment at station DIR,
# cut by a crash after POINT ("-": none); the exit status.
station_enroll() {
	local d=$1 email=$2 point=$3
	shift 3
	if [ "$point" = - ]; then
		"$P11ENROLL" --config "$d/station.json" enroll --email "$email" --pin-source "$PIN_SRC" "$@"
	else
		P11ENROLL_TEST_CRASH_AFTER=$point "$P11ENROLL" --config "$d/station.json" enroll \
			--email "$email" --pin-source "$PIN_SRC" "$@"
	fi
}

# station_fill DIR PREFIX: records at every step of a token enrollment
# (new, key-pending, csr-built, issued, cert-written, done), a software one
# done (PFX, vault entry) and one cut at csr-built (its key in progress in
# keys/), each with its escrowed password (escrow, escrow-meta), and the
# counter PREFIX-serial at 5. Checks each exit status.
station_fill() {
	local d=$1 p=$2 point
	for point in new key-pending csr-built issued cert-written; do
		station_enroll "$d" "$p-$point@example.com" "$point" "$TEST_TOKEN_URI" --key ec:P-256 \
			>/dev/null 2>&1
		check_eq "$p: a record left at $point" 86 $?
	done
	station_enroll "$d" "$p-done@example.com" - "$TEST_TOKEN_URI" --key ec:P-256 >/dev/null 2>&1
	check_eq "$p: a token enrollment done" 0 $?
	station_enroll "$d" "$p-soft@example.com" - --software --profile soft >/dev/null 2>&1
	check_eq "$p: a software enrollment done (PFX)" 0 $?
	station_enroll "$d" "$p-softcut@example.com" csr-built --software --profile soft >/dev/null 2>&1
	check_eq "$p: a software key in progress" 86 $?
	"$STORE_PROBE" "$d/station.json" counter "$p-serial" 1 5 >/dev/null
	check_eq "$p: a counter at 5" "$p-serial 5" "$("$STORE_PROBE" "$d/station.json" counters)"
}

# import_workdir NAME: what both import tests start with: a test-hooks build (else the
# test ends, failed), the file store whatever P11E_TEST_STORE says, the work directory
# W (0700, the current directory) and the embedded CA.
import_workdir() {
	if [ "${TEST_HOOKS:-0}" != 1 ]; then
		bad "$1 needs a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
		finish
	fi
	unset P11ENROLL_STORE
	W=$TEST_TMP/import
	mkdir -p "$W" && chmod 700 "$W"
	cd "$W" || exit 1
	setup_ca
}
probe() { "$STORE_PROBE" "$@"; }
# imported JSON: "IMPORTED THERE CONFLICTS" summed over the kinds of store migrate --json.
imported() {
	jq -r '"\([.kinds[].imported] | add) \([.kinds[].already_there] | add) \([.kinds[].conflicts] | add)"' <<<"$1"
}
# resumed_on CONFIG EMAIL WHAT: EMAIL's enrollment resumed at the station CONFIG ends done,
# with one key and one certificate; its record in $rec.
resumed_on() {
	local out
	out=$(p11e --config "$1" enroll --email "$2" --pin-source "$PIN_SRC" 2>&1)
	check_eq "$3: exit 0 ($out)" 0 $?
	rec=$(probe "$1" get identity "$2")
	check_eq "... done" done "$(jq -r .step <<<"$rec")"
	check_eq "... one key" 1 "$(count_objects privkey "$(jq -r .key_id <<<"$rec")")"
	check_eq "... one certificate" 1 "$(count_objects cert "$(jq -r .key_id <<<"$rec")")"
}
# status_same FROM TO N WHERE: status --json at the station FROM lists N identities, and at
# TO (WHERE: which) exactly the same.
status_same() {
	local a b
	a=$(p11e --config "$1" --json status 2>&1)
	check_eq "status on the source: exit 0, $3 identities ($a)" "0 $3" "$? $(jq length <<<"$a")"
	b=$(p11e --config "$2" --json status 2>&1)
	check_eq "status $4 shows what it showed on the source" "$a" "$b"
}
# rerun_imports_nothing TO DIR N: store migrate --from file:DIR into the station TO again
# imports none of DIR's N documents (and its counter): all there; its output in $out.
rerun_imports_nothing() {
	out=$(p11e --config "$1" --json store migrate --from "file:$2" 2>&1)
	check_eq "rerun: exit 0 ($out)" 0 $?
	check_eq "rerun: nothing imported, all there" "0 $(($3 + 1)) 0" "$(imported "$out")"
}
# second_station DIR FROM: a second station DIR filled as station_fill does (prefix s2),
# plus FROM's record of s1-done@ under another name: a conflict for the import.
second_station() {
	station "$1"
	station_fill "$1" s2
	probe "$2" get identity s1-done@example.com | jq -c '.name = "Someone Else"' |
		probe "$1/station.json" put identity s1-done@example.com
}

# docs CONFIG: every document of every kind, "KIND NAME LEN" a line.
docs() {
	local k
	for k in $("$STORE_PROBE" "$1" kinds); do
		"$STORE_PROBE" "$1" list "$k" | sed "s/^/$k /"
	done
}

# same_docs FROM TO: every document FROM holds (configs) is in TO with the
# same bytes; prints "COUNT" or the first one that differs. A hashed name
# (SHA256-..., a name too long for a file) is not one get can take: the
# tests compare those by their names.
same_docs() {
	local k n _ count=0
	while read -r k n _; do
		"$STORE_PROBE" "$1" get "$k" "$n" >"$TEST_TMP/doc.a" 2>/dev/null &&
			"$STORE_PROBE" "$2" get "$k" "$n" >"$TEST_TMP/doc.b" 2>/dev/null &&
			cmp -s "$TEST_TMP/doc.a" "$TEST_TMP/doc.b" || {
			echo "$k $n differs"
			return 1
		}
		count=$((count + 1))
	done < <(docs "$1" | grep -v '^[a-z-]* SHA256-')
	echo "$count"
}

# tree_sum DIR: every file's path, mode and bytes under DIR, hashed: a
# directory left exactly as it was (nothing created, changed or removed).
tree_sum() {
	(cd "$1" && find . -printf '%p %m %s\n' | sort && find . -type f -print0 | sort -z |
		xargs -0 -r sha256sum) | sha256sum
}

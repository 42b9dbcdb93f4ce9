# store migrate --from file:DIR into PostgreSQL (docs/store.md, "Importing a
# station"), against a private PostgreSQL 15 (tests/lib/postgres.sh): a
# station with records at every step, software keys, a PFX and a counter is
# imported byte for byte (read back through the store and seen in psql),
# its directory left as it was; status from a station on the database
# shows what status showed on the file store; a half-done identity resumes
# on the database; a rerun imports nothing; a crash mid-import and the
# rerun finish; a second station merges, a conflicting record refused by
# name. And the store API the import stands on: create-only puts and
# counters raised, never lowered.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
. "$TESTS_DIR/lib/station.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "store_import needs a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
unset P11ENROLL_STORE
W=$TEST_TMP/import
mkdir -p "$W" && chmod 700 "$W"
cd "$W" || exit 1
setup_ca
pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
PW=$(cat "$PG_DIR/p11e.pw")
(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=p11e password=%s sslmode=disable connect_timeout=10\n' \
	"$PG_PORT" "$PW" >conninfo)
fleet() { # fleet NAME SCHEMA: W/NAME.json, a station on the database's schema SCHEMA, initialised
	printf '{ "state_dir": "%s/%s-state", "default_ca": "local:%s",
  "store": { "type": "postgresql", "conninfo_source": "file:%s/conninfo", "schema": "%s" } }\n' \
		"$W" "$1" "$CA_DIR" "$W" "$2" >"$W/$1.json"
	p11e --config "$W/$1.json" store init >/dev/null
}
probe() { "$STORE_PROBE" "$@"; }
imported() { # imported JSON: "IMPORTED THERE CONFLICTS" summed over the kinds
	jq -r '"\([.kinds[].imported] | add) \([.kinds[].already_there] | add) \([.kinds[].conflicts] | add)"' <<<"$1"
}
fleet db p11enroll

# --- the store API the import stands on ---
printf 'first' | probe db.json create key c@example.org
check_eq "a create-only put" "0 first" "$? $(probe db.json get key c@example.org)"
printf 'second' | probe db.json create key c@example.org 2>err
check_eq "... a second one: exit 9" 9 $?
check_eq "... the first left as it was" first "$(probe db.json get key c@example.org)"
probe db.json remove key c@example.org
check_eq "a counter raised from nothing" 7 "$(probe db.json raise r 7)"
check_eq "... raised further" 9 "$(probe db.json raise r 9)"
check_eq "... never lowered" 9 "$(probe db.json raise r 3)"
check_eq "... counts on past it" 10 "$(probe db.json counter r 1 1)"
check_eq "counters listed" "r 10" "$(probe db.json counters)"
pg_psql "DELETE FROM p11enroll.counters" >/dev/null

# --- the source station ---
station "$W/s1"
S1=$W/s1/station.json
station_fill "$W/s1" s1
N=$(docs "$S1" | wc -l)
check_eq "the source holds 14 documents" 14 "$N"
check_eq "... two vault entries and their metadata among them" "2 2" \
	"$(docs "$S1" | grep -c '^escrow ') $(docs "$S1" | grep -c '^escrow-meta ')"
before=$(tree_sum "$W/s1/state")

# --- the import ---
out=$(p11e --config db.json store migrate --from "file:$W/s1/state" 2>&1)
check_eq "store migrate --from into PostgreSQL: exit 0 ($out)" 0 $?
check_contains "text: the identities" "$out" "identity               8              0          0"
check_eq "every document in the database, byte for byte" "$N" "$(same_docs "$S1" db.json)"
check_eq "... as rows of documents" "$N" "$(pg_psql "SELECT count(*) FROM p11enroll.documents")"
check_eq "... the PFX's bytes in psql" \
	"$(sha256sum <"$W/s1/state/pfx/s1-soft@example.com.p12" | cut -d' ' -f1)" \
	"$(pg_psql "SELECT encode(sha256(data), 'hex') FROM p11enroll.documents WHERE kind = 'pfx'")"
check_eq "... the records in the identities view" "csr-built done issued key-pending new" \
	"$(pg_psql "SELECT string_agg(DISTINCT record->>'step', ' ' ORDER BY record->>'step') FROM p11enroll.identities")"
check_eq "the source left as it was" "$before" "$(tree_sum "$W/s1/state")"
check_eq "the counter in the database" 5 "$(pg_psql "SELECT value FROM p11enroll.counters WHERE name = 's1-serial'")"
check_eq "... its next value past the source's" 6 "$(probe db.json counter s1-serial 1 1)"
a=$(p11e --config "$S1" --json status 2>&1)
check_eq "status on the file store: exit 0, 8 identities" "0 8" "$? $(jq length <<<"$a")"
b=$(p11e --config db.json --json status 2>&1)
check_eq "status from a station on PostgreSQL shows the same" "$a" "$b"

# --- a rerun imports nothing ---
out=$(p11e --config db.json --json store migrate --from "file:$W/s1/state" 2>&1)
check_eq "rerun: exit 0 ($out)" 0 $?
check_eq "rerun: nothing imported, all there" "0 $((N + 1)) 0" "$(imported "$out")"
check_eq "... no row written again" 1 \
	"$(pg_psql "SELECT max(row_version) FROM p11enroll.documents")"

# --- a crash mid-import, then the rerun ---
fleet crash crashy
P11ENROLL_TEST_CRASH_AFTER=import-4 p11e --config crash.json store migrate \
	--from "file:$W/s1/state" >/dev/null 2>&1
check_eq "crash after the fourth document" 86 $?
check_eq "... four rows in" 4 "$(pg_psql "SELECT count(*) FROM crashy.documents")"
out=$(p11e --config crash.json --json store migrate --from "file:$W/s1/state" 2>&1)
check_eq "the rerun after the crash: exit 0 ($out)" 0 $?
check_eq "... imports the rest" "$((N + 1 - 4)) 4 0" "$(imported "$out")"
check_eq "... every document, byte for byte" "$N" "$(same_docs "$S1" crash.json)"

# --- a half-done identity resumes on the database ---
out=$(p11e --config db.json enroll --email s1-csr-built@example.com --pin-source "$PIN_SRC" 2>&1)
check_eq "resume from csr-built on PostgreSQL: exit 0 ($out)" 0 $?
rec=$(probe db.json get identity s1-csr-built@example.com)
check_eq "... done" done "$(jq -r .step <<<"$rec")"
check_eq "... one key" 1 "$(count_objects privkey "$(jq -r .key_id <<<"$rec")")"
check_eq "... one certificate" 1 "$(count_objects cert "$(jq -r .key_id <<<"$rec")")"
check_eq "... the CA issued once" 1 "$(grep -c "\"request_key\": *\"$(jq -r .request_key <<<"$rec")\"" "$CA_DIR/index.jsonl")"

# --- a second station merges; a conflict refused by name ---
station "$W/s2"
S2=$W/s2/station.json
station_fill "$W/s2" s2
probe "$S1" get identity s1-done@example.com | jq -c '.name = "Someone Else"' |
	probe "$S2" put identity s1-done@example.com
kept=$(probe db.json get identity s1-done@example.com)
p11e --config db.json --json store migrate --from "file:$W/s2/state" >out 2>err
check_eq "merge with a conflict: exit 9" 9 $?
check_eq "one line for the conflict, one for the summary" 2 "$(wc -l <err)"
check_contains "the record named" "$(head -1 err)" \
	"conflict: identity s1-done@example.com: differs from the one in the target"
check_eq "the database's record left as it was" "$kept" "$(probe db.json get identity s1-done@example.com)"
check_eq "counts: s2's documents and counter, 1 conflict" "15 0 1" "$(imported "$(cat out)")"
check_eq "s2's records in the identities view" 8 \
	"$(pg_psql "SELECT count(*) FROM p11enroll.identities WHERE identity LIKE 's2-%'")"
finish

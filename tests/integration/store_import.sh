# store migrate --from file:DIR into PostgreSQL (docs/store.md, "Importing a
# station"), against a private PostgreSQL 15 (tests/lib/postgres.sh): a
# station with records at every step, software keys, a PFX and a counter is
# imported byte for byte (read back through the store and seen in psql),
# its directory left as it was; status from a station on the database
# shows what status showed on the file store; a half-done identity resumes
# on the database; a rerun imports nothing; a crash mid-import and the
# rerun finish; a second station merges, a conflicting record refused by
# name. And the store API the import stands on: create-only puts and
# counters raised, never lowered. The audit chain re-chained into the
# database's (a rerun, a crash mid-audit-import, a broken source refused);
# a station's own embedded CA (STATE_DIR/ca): its index, an index.jsonl-only
# certificate and its CRL number in the database, so that a station there
# revokes what the file station issued and its CRL lists it.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
. "$TESTS_DIR/lib/station.sh"
import_workdir store_import
declare -A serial
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
status_same "$S1" db.json 8 "from a station on PostgreSQL"

# --- a rerun imports nothing ---
rerun_imports_nothing db.json "$W/s1/state" "$N"
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
resumed_on db.json s1-csr-built@example.com "resume from csr-built on PostgreSQL"
check_eq "... the CA issued once" 1 "$(grep -c "\"request_key\": *\"$(jq -r .request_key <<<"$rec")\"" "$CA_DIR/index.jsonl")"

# --- a second station merges; a conflict refused by name ---
second_station "$W/s2" "$S1"
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
# --- the audit chain into PostgreSQL: re-chained, never twice ---
shows() { # shows STATION N: N escrow shows at STATION, each an audit entry
	local i
	for i in $(seq 1 "$2"); do
		p11e --config "$W/$1/station.json" escrow show "$1-soft@example.com" \
			--officer-key "$W/$1/officer.key" >/dev/null 2>&1 || echo "show $i failed"
	done
}
audit_n() { p11e --config "$1" --json audit verify | jq -r '"\(.intact) \(.entries)"'; }
kind_n() { jq -r --arg k "$1" '.kinds[] | select(.kind == $k) | "\(.imported) \(.already_there)"' <<<"$2"; }
imported_lines() { p11e --config "$1" --json audit show | jq -r "select(.action == \"audit-import\") | .$2"; }
check_eq "three audited shows at s1" "" "$(shows s1 3)"
fleet au audit1
out=$(p11e --config au.json --json store migrate --from "file:$W/s1/state" 2>/dev/null)
check_eq "the audit chain into PostgreSQL: exit 0, three entries" "0 3 0" "$? $(kind_n audit "$out")"
check_eq "... the database's chain intact: 3 and the head entry" "true 4" "$(audit_n au.json)"
check_eq "... as rows" 4 "$(pg_psql "SELECT count(*) FROM audit1.audit")"
check_eq "... audit show has the source's lines, whole" "$(cat "$W/s1/state/audit.jsonl")" \
	"$(imported_lines au.json source_line)"
check_eq "... their seqs" "1 2 3" "$(imported_lines au.json source_seq | paste -sd' ')"
out=$(p11e --config au.json --json store migrate --from "file:$W/s1/state" 2>/dev/null)
check_eq "rerun: exit 0, appends nothing" "0 0 3 true 4" "$? $(kind_n audit "$out") $(audit_n au.json)"
fleet auc auditc
P11ENROLL_TEST_CRASH_AFTER=audit-2 p11e --config auc.json store migrate \
	--from "file:$W/s1/state" >/dev/null 2>&1
check_eq "crash after the second audit entry" "86 true 2" "$? $(audit_n auc.json)"
out=$(p11e --config auc.json --json store migrate --from "file:$W/s1/state" 2>/dev/null)
check_eq "the rerun: exit 0, the third entry and the head entry" "0 1 2 true 4" \
	"$? $(kind_n audit "$out") $(audit_n auc.json)"
check_eq "... each source entry once" "1 2 3" "$(imported_lines auc.json source_entry | paste -sd' ')"
cp -a "$W/s1" "$W/s3"
sed -i '2s/escrow-show/escrow-sh0w/' "$W/s3/state/audit.jsonl"
fleet aub auditb
p11e --config aub.json store migrate --from "file:$W/s3/state" >/dev/null 2>err
check_eq "a broken source chain: exit 1" 1 $?
check_contains "... saying so" "$(cat err)" "audit chain is broken, nothing imported"
check_eq "... nothing imported" "0 0" \
	"$(pg_psql "SELECT count(*) FROM auditb.documents") $(pg_psql "SELECT count(*) FROM auditb.audit")"

# --- the station's default embedded CA (STATE_DIR/ca) into PostgreSQL ---
station "$W/s5"
S5=$W/s5/station.json
C5=$W/s5/state/ca
jq --arg ca "local:$C5" '.default_ca = $ca' "$S5" >"$W/s5/j" && mv "$W/s5/j" "$S5"
p11e ca init --dir "$C5" >/dev/null
for who in old new; do
	station_enroll "$W/s5" "$who@example.com" - "$TEST_TOKEN_URI" --key ec:P-256 >/dev/null 2>&1
	check_eq "s5: $who@ enrolled at its own CA" 0 $?
	serial[$who]=$(probe "$S5" get identity "$who@example.com" | jq -r .cert_pem |
		openssl x509 -noout -serial | cut -d= -f2)
done
# old@ as before the index went into the store: only a line of index.jsonl
rm -f $(grep -il "${serial[old]}" "$C5"/ca-certs/* "$C5"/ca-requests/*)
check_eq "old@ only in index.jsonl" "1 1" \
	"$(grep -ic "${serial[old]}" "$C5/index.jsonl") $(ls "$C5/ca-certs" | wc -l)"
# ... and its request's answer only in the older layout, issued/REQUEST_KEY.pem
OLD_KEY=$(probe "$S5" get identity old@example.com | jq -r .request_key)
probe "$S5" get identity old@example.com | jq -r .cert_pem >"$C5/issued/$OLD_KEY.pem"
p11e --config "$S5" ca crl >/dev/null && p11e --config "$S5" ca crl >"$W/crl0.pem"
check_contains "two CRLs at s5" "$(openssl crl -in "$W/crl0.pem" -noout -text)" \
	"X509v3 CRL Number: "$'\n'"                2"
mkdir -m 700 "$W/pgca" && cp -p "$C5/ca.pem" "$C5/ca.key" "$W/pgca/"
onca() { # onca NAME SCHEMA: a station on the database with the CA's key and certificate only
	fleet "$1" "$2"
	jq --arg ca "local:$W/pgca" '.default_ca = $ca' "$W/$1.json" >"$W/j" && mv "$W/j" "$W/$1.json"
}
onca noca noca
p11e --config noca.json ca revoke --serial "${serial[old]}" --reason keyCompromise >/dev/null 2>&1
check_eq "without the import, the database's CA does not know old@: exit 10" 10 $?
onca cas cas
out=$(p11e --config cas.json store migrate --from "file:$W/s5/state" 2>&1)
check_eq "store migrate --from a station with its own CA: exit 0 ($out)" 0 $?
check_contains "... says the key was not moved" "$out" "Its key and certificate were not moved"
check_eq "... both certificates in the database's index" 2 \
	"$(pg_psql "SELECT count(*) FROM cas.documents WHERE kind = 'ca-cert'")"
old_answer() { # the database's answer to old@'s request (ca-request CAID/OLD_KEY)
	probe cas.json get ca-request "$(probe cas.json list ca-request | cut -d' ' -f1 | grep "/$OLD_KEY\$")"
}
check_eq "... new@'s request answer, and old@'s from issued/" 2 \
	"$(pg_psql "SELECT count(*) FROM cas.documents WHERE kind = 'ca-request'")"
check_eq "... old@'s answer: its serial and certificate, as the CA writes it" \
	"${serial[old],,} $(openssl x509 -in "$C5/issued/$OLD_KEY.pem" -noout -fingerprint -sha256)" \
	"$(old_answer | jq -r .serial | tr A-F a-f) $(old_answer | jq -r .pem |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null)"
out=$(p11e --config cas.json --json store migrate --from "file:$W/s5/state" 2>&1)
check_eq "rerun: the index-only certificate there already" "0 1" \
	"$(jq -r '"\(.embedded_ca.index_only_imported) \(.embedded_ca.index_only_already_there)"' <<<"$out")"
check_eq "rerun: the issued/ answer there already, nothing refused" "0 0" \
	"$(jq -r '[.kinds[] | select(.kind == "ca-request")][0] | "\(.imported) \(.conflicts)"' <<<"$out")"
# A second copy of the station whose issued/ answers old@'s request with another
# certificate: refused by name, the database's answer left as it was.
cp -a "$W/s5" "$W/s6"
probe "$S5" get identity new@example.com | jq -r .cert_pem >"$W/s6/state/ca/issued/$OLD_KEY.pem"
out=$(p11e --config cas.json store migrate --from "file:$W/s6/state" 2>&1)
check_eq "another answer to old@'s request: exit 9" 9 $?
check_contains "... refused by name" "$out" "/$OLD_KEY"
check_eq "... the database's answer unchanged" "${serial[old],,}" \
	"$(old_answer | jq -r .serial | tr A-F a-f)"
for who in old new; do
	out=$(p11e --config cas.json ca revoke --serial "${serial[$who]}" --reason keyCompromise 2>&1)
	check_eq "revoke $who@ (issued on the file station) from a PostgreSQL station ($out)" 0 $?
done
p11e --config cas.json ca crl >"$W/crl1.pem"
text=$(openssl crl -in "$W/crl1.pem" -noout -text)
check_contains "the CRL numbered past the file station's" "$text" \
	"X509v3 CRL Number: "$'\n'"                3"
for who in old new; do
	check_contains "... lists $who@" "${text,,}" "serial number: ${serial[$who],,}"
done
check "... signed by the CA" openssl crl -in "$W/crl1.pem" -CAfile "$C5/ca.pem" -noout

# --- an ACME CA's account, key, orders and chain (STATE_DIR/acme-HASH) ---
H=0123456789abcdef
acme_station() { # acme_station DIR KEYTEXT: DIR/state/acme-H as an ACME CA leaves it
	mkdir -p -m 700 "$1/state/acme-$H/orders"
	(umask 077 &&
		printf '{"kid":"https://acme.example/acct/1","url":"https://acme.example/dir"}' \
			>"$1/state/acme-$H/account.json" &&
		printf '%s' "$2" >"$1/state/acme-$H/account.key" &&
		printf '{"url":"https://acme.example/order/7"}' >"$1/state/acme-$H/orders/req7.json" &&
		cp "$C5/ca.pem" "$1/state/acme-$H/chain.pem")
}
acme_station "$W/s5" "the account key"
fleet ac acme_import
acme_kinds() { jq -r '[.kinds[] | select(.kind | startswith("acme-")) | "\(.kind)=\(.imported)/\(.already_there)/\(.conflicts)"] | join(" ")' <<<"$1"; }
out=$(p11e --config ac.json --json store migrate --from "file:$W/s5/state" 2>&1)
check_eq "ACME state imported: exit 0" 0 $?
check_eq "... account, key, order and chain, one each" \
	"acme-account=1/0/0 acme-key=1/0/0 acme-order=1/0/0 acme-chain=1/0/0" "$(acme_kinds "$out")"
for kn in "acme-account $H/account account.json" "acme-key $H/account account.key" \
	"acme-order $H/req7 orders/req7.json" "acme-chain $H/chain chain.pem"; do
	set -- $kn
	check_eq "... $1 $2 byte for byte" "$(cat "$W/s5/state/acme-$H/$3")" "$(probe ac.json get "$1" "$2")"
done
out=$(p11e --config ac.json --json store migrate --from "file:$W/s5/state" 2>&1)
check_eq "rerun: the ACME state there already" \
	"0 acme-account=0/1/0 acme-key=0/1/0 acme-order=0/1/0 acme-chain=0/1/0" "$? $(acme_kinds "$out")"
cp -a "$W/s5" "$W/s7" && rm -rf "$W/s7/state/ca"
(umask 077 && printf 'another station'"'"'s key' >"$W/s7/state/acme-$H/account.key")
out=$(p11e --config ac.json store migrate --from "file:$W/s7/state" 2>&1)
check_eq "another station's account key for the same CA: exit 9" 9 $?
check_contains "... refused by name" "$out" "acme-key $H/account"
check_eq "... the database's key unchanged" "the account key" "$(probe ac.json get acme-key "$H/account")"
finish

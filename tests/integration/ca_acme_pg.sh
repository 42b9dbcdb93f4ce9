# ACME account state in a PostgreSQL store (issue 21 item 1), against a real
# PostgreSQL 15 (tests/lib/postgres.sh) and a real Pebble (tests/lib/pebble.sh):
#  - station A (its own STATE_DIR) registers the account; station B (another
#    STATE_DIR, the same database) enrolls with that account: Pebble sees no
#    second newAccount, and nothing of the account is left in either
#    STATE_DIR (account, key, orders and chain are documents);
#  - a second ACME CA (another directory URL for the same Pebble) gets its own
#    documents, named apart by the URL's hash, and its own account;
#  - B's `ca cert` shows the chain from the store; an order A left pending
#    ("wait": 0) is finished by B, finalized with the CSR A saved: one order.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
. "$TESTS_DIR/lib/pebble.sh"
W=$TEST_TMP/acmepg
mkdir -p "$W/pb"
cd "$W" || exit 1

pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
# pg_start's EXIT trap, and Pebble's beside it.
trap 'pebble_stop; pg_stop' EXIT
pebble_start "$W/pb" || { bad "pebble"; finish; }
pebble_root "$W/pb" || bad "pebble root"
PW=$(cat "$PG_DIR/p11e.pw")
(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=p11e password=%s sslmode=disable\n' \
	"$PG_PORT" "$PW" >conninfo)
LISTEN=127.0.0.1:$(free_port)
# The same Pebble under a second directory URL (its certificate names both).
URL_B=${PEBBLE_URL/127.0.0.1/localhost}
for s in a b; do
	mkdir -p "$W/$s"
	cat >"$s.json" <<JSON
{ "state_dir": "$W/$s",
  "store": { "type": "postgresql", "conninfo_source": "file:$W/conninfo" },
  "cas": {
    "pebble":  { "type": "acme", "url": "$PEBBLE_URL", "ca_bundle": "$W/pb/tls-ca.pem",
                 "terms_agreed": true, "http01_listen": "$LISTEN" },
    "pebble-nowait": { "type": "acme", "url": "$PEBBLE_URL", "ca_bundle": "$W/pb/tls-ca.pem",
                 "terms_agreed": true, "http01_listen": "$LISTEN", "wait": 0 },
    "pebble2": { "type": "acme", "url": "$URL_B", "ca_bundle": "$W/pb/tls-ca.pem",
                 "terms_agreed": true, "http01_listen": "$LISTEN" } } }
JSON
done
enr() { # STATION NAME CA
	p11e --config "$W/$1.json" enroll "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" --dns "$2" \
		--ca "$3"
}
accounts() { grep -c "There are now [0-9]* accounts" "$PEBBLE_LOG"; }
orders() { grep -c "POST /order-plz" "$PEBBLE_LOG"; }
Q() { pg_psql "$1"; }
hash_of() { printf '%s' "$1" | sha256sum | cut -c1-16; }
HA=$(hash_of "$PEBBLE_URL")
HB=$(hash_of "$URL_B")

out=$(p11e --config a.json store init 2>&1)
check_contains "store init ($out)" "$out" "schema version 0 to 1"

# --- station A registers the account ---
n0=$(accounts)
out=$(enr a www.example.org pebble 2>&1)
check_eq "station A: enroll ($out)" 0 $?
check_eq "station A: one account made" $((n0 + 1)) "$(accounts)"
check_eq "the account, its key and the chain are documents named by the URL's hash" \
	"acme-account $HA/account|acme-chain $HA/chain|acme-key $HA/account" \
	"$(Q "SELECT kind || ' ' || name FROM p11enroll.documents
	      WHERE kind IN ('acme-account', 'acme-key', 'acme-chain') ORDER BY 1" | paste -sd'|')"
check_eq "one order saved, named HASH/REQUEST_KEY" 1 \
	"$(Q "SELECT count(*) FROM p11enroll.documents WHERE kind = 'acme-order'
	      AND name ~ '^$HA/[0-9a-f]{64}\$'")"
kid=$(Q "SELECT convert_from(data, 'UTF8')::json->>'account' FROM p11enroll.documents
	 WHERE kind = 'acme-account' AND name = '$HA/account'")
check_contains "the account URL is kept ($kid)" "$kid" "/my-account/"
check_contains "the key is a PEM private key" \
	"$(Q "SELECT convert_from(data, 'UTF8') FROM p11enroll.documents
	      WHERE kind = 'acme-key' AND name = '$HA/account'")" "PRIVATE KEY"
check_eq "station A: no ACME file under its STATE_DIR" "" \
	"$(find "$W/a" -path '*acme-*' \( -name '*.json' -o -name '*.key' -o -name '*.pem' \) )"

# --- station B: the same account, no second newAccount ---
out=$(enr b api.example.org pebble 2>&1)
check_eq "station B: enroll ($out)" 0 $?
check_eq "station B: no new account (Pebble's count unchanged)" $((n0 + 1)) "$(accounts)"
check_eq "station B: still one account document, the same account" "1 $kid" \
	"$(Q "SELECT count(*), min(convert_from(data, 'UTF8')::json->>'account')
	      FROM p11enroll.documents WHERE kind = 'acme-account' AND name LIKE '$HA/%'" | tr '|' ' ')"
check_eq "station B: its order beside A's" 2 \
	"$(Q "SELECT count(*) FROM p11enroll.documents WHERE kind = 'acme-order' AND name LIKE '$HA/%'")"
check_eq "station B: no ACME file under its STATE_DIR" "" \
	"$(find "$W/b" -path '*acme-*' \( -name '*.json' -o -name '*.key' -o -name '*.pem' \) )"
out=$(p11e --config b.json ca cert --ca pebble 2>&1)
check_contains "station B: ca cert shows the chain from the store" "$out" "BEGIN CERTIFICATE"

# --- an order started at station A, finished at station B ---
o=$(orders)
out=$(enr a later.example.org pebble-nowait 2>&1)
check_eq "station A, wait 0: pending ($out)" 7 $?
rid=$(Q "SELECT convert_from(data, 'UTF8')::json->>'request_id' FROM p11enroll.documents
	 WHERE kind = 'identity' AND name = 'later.example.org'")
check_contains "pending: the request_id is the order URL ($rid)" "$rid" "/my-order/"
# B polls the same order and finalizes it with the CSR A saved in the store.
# Up to two minutes of passes: Pebble validates at its own pace on a loaded machine.
for _ in $(seq 120); do
	out=$(enr b later.example.org pebble-nowait 2>&1)
	rc=$?
	[ "$rc" = 7 ] || break
	sleep 1
done
check_eq "station B finishes A's order ($out)" 0 "$rc"
check_eq "station B: one order in all" $((o + 1)) "$(orders)"
check_eq "station B: still the same account" $((n0 + 1)) "$(accounts)"

# --- a second directory URL: documents of its own, an account of its own ---
out=$(enr b mail.example.org pebble2 2>&1)
check_eq "second CA: enroll ($out)" 0 $?
check_eq "second CA: its own account at the CA" $((n0 + 2)) "$(accounts)"
check_eq "two CAs: two account documents, named apart" \
	"$(printf '%s\n' "$HA/account" "$HB/account" | LC_ALL=C sort | paste -sd' ')" \
	"$(Q "SELECT name FROM p11enroll.documents WHERE kind = 'acme-account'" | LC_ALL=C sort |
		paste -sd' ')"
out=$(enr a mail2.example.org pebble2 2>&1)
check_eq "second CA from station A ($out)" 0 $?
check_eq "second CA from station A: no new account" $((n0 + 2)) "$(accounts)"

pebble_stop
pg_stop
trap - EXIT
finish

# Two stations (two processes, two tokens, two STATE_DIRs, one PostgreSQL database) race
# for the first ACME registration (issue 21), against a real PostgreSQL 15
# (tests/lib/postgres.sh) and a real Pebble (tests/lib/pebble.sh): neither
# finds an account, so both would register one. The account is made under
# the store's lock "acme" named by the directory URL's hash (ca_acme_account.c):
# this test holds that very lock from a psql session while both stations
# start, waits (bounded, no timing asserted) until both are polling for it,
# then lets them go at once. Exactly one newAccount reaches Pebble, one
# account and one account key are stored, and both enrollments finish with
# that account.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
. "$TESTS_DIR/lib/pebble.sh"
W=$TEST_TMP/acmerace
mkdir -p "$W/pb"
cd "$W" || exit 1

pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
trap 'pebble_stop; kill "$HOLDER" 2>/dev/null; pg_stop' EXIT
pebble_start "$W/pb" || { bad "pebble"; finish; }
PW=$(cat "$PG_DIR/p11e.pw")
(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=p11e password=%s sslmode=disable\n' \
	"$PG_PORT" "$PW" >conninfo)
for s in a b; do
	mkdir -p "$W/$s"
	# Each station its own http-01 listener: both run at once.
	cat >"$s.json" <<JSON
{ "state_dir": "$W/$s",
  "store": { "type": "postgresql", "conninfo_source": "file:$W/conninfo" },
  "cas": {
    "pebble": { "type": "acme", "url": "$PEBBLE_URL", "ca_bundle": "$W/pb/tls-ca.pem",
                "terms_agreed": true, "http01_listen": "127.0.0.1:$(free_port)" } } }
JSON
done
accounts() { grep -c "There are now [0-9]* accounts" "$PEBBLE_LOG"; }
Q() { pg_psql "$1"; }
HASH=$(printf '%s' "$PEBBLE_URL" | sha256sum | cut -c1-16)

out=$(p11e --config a.json store init 2>&1)
check_contains "store init ($out)" "$out" "schema version 0 to 1"

# The advisory lock's two int4 keys, as store_pg_lock.c makes them: the
# first 8 bytes of SHA-256 over "SCHEMA\0KIND\0NAME", read as signed.
keys=$(printf 'p11enroll\0acme\0%s' "$HASH" | sha256sum | cut -c1-16)
k1=$(( 0x${keys:0:8} )); [ "$k1" -ge 2147483648 ] && k1=$((k1 - 4294967296))
k2=$(( 0x${keys:8:8} )); [ "$k2" -ge 2147483648 ] && k2=$((k2 - 4294967296))
# The holder: a psql session that takes the lock and sleeps with it; ended
# by pg_terminate_backend, which releases the lock.
pg_as env PGAPPNAME=race-holder "$PG_BIN/psql" -X -q -At -h "$PG_SOCK" -p "$PG_PORT" -U postgres \
	-d fleet -c "SELECT pg_advisory_lock($k1, $k2)" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
HOLDER=$!
held=0
for _ in $(seq 600); do
	held=$(Q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		  WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'race-holder'")
	[ "$held" = 1 ] && break
	sleep 0.1
done
check_eq "the test holds the account's lock" 1 "$held"

# A token each, as two desks have: SoftHSM 2.6.1 may fail a key generation
# (CKR_FUNCTION_FAILED) while another process generates on the same token.
softhsm2-util --init-token --free --label station-b --so-pin 12345678 --pin "$TEST_PIN" >/dev/null
token_a=$TEST_TOKEN_URI
token_b="pkcs11:token=station-b"
n0=$(accounts)
for s in a b; do
	eval "uri=\$token_$s"
	p11e --config "$W/$s.json" enroll "$uri" --pin-source "$PIN_SRC" \
		--dns "$s.example.org" --ca pebble >"$s.out" 2>&1 &
	eval "pid_$s=\$!"
done
# Both stations polling for the lock: their sessions' last statement is a
# pg_try_advisory_lock. Up to two minutes (a loaded machine); the race and
# what is asserted after it do not depend on this wait's outcome.
waiting=0
for _ in $(seq 1200); do
	waiting=$(Q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'p11enroll pid %'
		     AND query LIKE '%pg_try_advisory_lock%' AND state = 'idle'")
	[ "$waiting" -ge 2 ] && break
	sleep 0.1
done
echo "stations seen polling for the lock: $waiting"
check_eq "no account yet while the lock is held" "$n0" "$(accounts)"
check_eq "no account document yet" 0 \
	"$(Q "SELECT count(*) FROM p11enroll.documents WHERE kind = 'acme-account'")"
Q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'race-holder'" \
	>/dev/null
wait "$pid_a"
rc_a=$?
wait "$pid_b"
rc_b=$?
wait "$HOLDER" 2>/dev/null
check_eq "station A finishes ($(cat a.out))" 0 "$rc_a"
check_eq "station B finishes ($(cat b.out))" 0 "$rc_b"
check_eq "exactly one newAccount at Pebble" $((n0 + 1)) "$(accounts)"
check_eq "one account and one account key stored" "acme-account $HASH/account|acme-key $HASH/account" \
	"$(Q "SELECT kind || ' ' || name FROM p11enroll.documents
	      WHERE kind IN ('acme-account', 'acme-key') ORDER BY 1" | paste -sd'|')"
kid=$(Q "SELECT convert_from(data, 'UTF8')::json->>'account' FROM p11enroll.documents
	 WHERE kind = 'acme-account' AND name = '$HASH/account'")
check_contains "the account URL is kept ($kid)" "$kid" "/my-account/"
check_eq "two orders, one per station, on that account's CA" 2 \
	"$(Q "SELECT count(*) FROM p11enroll.documents WHERE kind = 'acme-order' AND name LIKE '$HASH/%'")"
for s in a b; do
	check_eq "$s.example.org done" done \
		"$(Q "SELECT convert_from(data, 'UTF8')::json->>'step' FROM p11enroll.documents
		      WHERE kind = 'identity' AND name = '$s.example.org'")"
done

pebble_stop
pg_stop
trap - EXIT
finish

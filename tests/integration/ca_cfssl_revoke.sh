# CFSSL revocation against a real `cfssl serve -db-config` (Debian's CFSSL
# 1.2.0) on 127.0.0.1 with its SQLite certificate database: `ca revoke --cert`
# and `--serial` mark the row revoked with the RFC 5280 reason code, as the
# database itself shows; a serial CFSSL never issued is exit 10.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/cfssl.sh"
CF=$TEST_TMP/cfssl
mkdir -p "$CF"
cd "$CF" || exit 1
echo '{"CN":"CFSSL Revoke CA","key":{"algo":"ecdsa","size":256}}' >ca-csr.json
cfssl gencert -initca ca-csr.json 2>/dev/null | cfssljson -bare ca
cat >config.json <<JSON
{"signing":{"default":{"expiry":"8760h","usages":["digital signature","email protection"]}}}
JSON
# CFSSL's certdb schema (its certdb/sqlite migration), made with Python's sqlite3.
python3 - "$CF/certs.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript("""
CREATE TABLE certificates (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,
  ca_label blob, status blob NOT NULL, reason int, expiry timestamp, revoked_at timestamp,
  pem blob NOT NULL, PRIMARY KEY(serial_number, authority_key_identifier));
CREATE TABLE ocsp_responses (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL,
  body blob NOT NULL, expiry timestamp, PRIMARY KEY(serial_number, authority_key_identifier));
""")
c.commit()
PY
echo "{\"driver\":\"sqlite3\",\"data_source\":\"$CF/certs.db\"}" >db.json
trap 'kill $CFSSL_PID 2>/dev/null' EXIT
cfssl_start serve.log "" -ca ca.pem -ca-key ca-key.pem -config config.json -db-config db.json ||
	{ bad "cfssl serve"; finish; }
port=$CFSSL_PORT
cat >p11enroll.json <<JSON
{ "cas": { "cfssl": { "type": "cfssl", "url": "http://127.0.0.1:$port" } } }
JSON
export P11ENROLL_CONFIG=$CF/p11enroll.json

for who in a b c; do
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$who@example.com" --ca cfssl \
		--pin-source "$PIN_SRC" 2>&1)
	check_eq "enroll $who through CFSSL ($out)" 0 $?
	record "$who@example.com" | jq -r .cert_pem >"$CF/$who.pem"
done
# The row of a certificate in CFSSL's database: "status reason".
row() {
	local dec
	dec=$(python3 -c 'import sys; print(int(sys.argv[1], 16))' \
		"$(openssl x509 -in "$CF/$1.pem" -noout -serial | cut -d= -f2)")
	python3 - "$CF/certs.db" "$dec" <<'PY'
import sqlite3, sys
for s, r in sqlite3.connect(sys.argv[1]).execute(
        "select status, reason from certificates where serial_number = ?", (sys.argv[2],)):
    print(s if isinstance(s, str) else s.decode(), r)
PY
}
check_eq "a is in CFSSL's database, good" "good 0" "$(row a)"

out=$(p11e ca revoke --ca cfssl --cert "$CF/a.pem" --reason keyCompromise 2>&1)
check_eq "ca revoke --cert ($out)" 0 $?
check_eq "CFSSL's database: a revoked, keyCompromise (1)" "revoked 1" "$(row a)"
check_eq "b untouched" "good 0" "$(row b)"

serial=$(openssl x509 -in "$CF/b.pem" -noout -serial)
out=$(p11e ca revoke --ca cfssl --serial "$serial" --reason affiliationChanged 2>&1)
check_eq "ca revoke --serial ($out)" 0 $?
check_eq "CFSSL's database: b revoked, affiliationChanged (3)" "revoked 3" "$(row b)"

out=$(p11e ca revoke --ca cfssl --serial 0a0b0c --reason superseded 2>&1)
check_eq "a serial CFSSL never issued: exit 10" 10 $?
check_contains "CFSSL's words" "$out" "not found"
check_eq "c untouched" "good 0" "$(row c)"
finish

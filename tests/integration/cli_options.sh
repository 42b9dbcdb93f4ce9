# The command line's edges: global options before the command, --json errors
# and `ca cert --json`, init-token's user PIN from the config's pin_source, and
# `list` printing UTF-8 subjects as UTF-8 with control characters neutralised.
. "$TESTS_DIR/lib/common.sh"
setup_ca
cat >"$TEST_TMP/config.json" <<JSON
{ "default_ca": "local:$CA_DIR", "pin_source": "file:$TEST_PIN_FILE" }
JSON

# Global options before the command, as git and curl users type them.
out=$(p11e --config "$TEST_TMP/config.json" enroll "$TEST_TOKEN_URI" --email ann@example.com 2>&1)
check_eq "--config before the command: enroll ($out)" 0 $?
out=$(p11e --config="$TEST_TMP/config.json" --json status 2>&1)
check_eq "--config=FILE --json before status: exit" 0 $?
check_eq "--json before the command: JSON" ann@example.com "$(jq -r '.[0].identity' <<<"$out")"
out=$(p11e --pin-source "$PIN_SRC" --module "$SOFTHSM_MODULE" list "$TEST_TOKEN_URI" --json 2>&1)
check_eq "--pin-source and --module before list: exit ($out)" 0 $?
check_eq "--pin-source before list: logged in (private key seen)" true \
	"$(jq -r '[.[] | select(.private_key)] | length > 0' <<<"$out")"
# After the command still works, and there it wins over the same option before it.
out=$(p11e --config /nonexistent/config.json status --config "$TEST_TMP/config.json" --json 2>&1)
check_eq "an option after the command overrides the one before ($out)" 0 $?
out=$(p11e --bogus status 2>&1)
check_eq "unknown option before the command: usage" 2 $?
check_contains "unknown option before the command: named" "$out" "unknown option '--bogus' before the command"
out=$(p11e --config 2>&1)
check_eq "--config without a value: usage" 2 $?
out=$(p11e --json 2>&1)
check_eq "global options without a command: usage" 2 $?
check_contains "--help still works" "$(p11e --help)" "Global options"
check_contains "--version still works" "$(p11e --version)" "p11enroll "
check_contains "COMMAND --help after global options" "$(p11e --json list --help)" "usage: p11enroll list"

# --json failures: one line of JSON on stderr instead of the plain line;
# stdout keeps only the command's own document (here: none).
p11e list "pkcs11:token=no-such-token" --json --pin-source "$PIN_SRC" >"$TEST_TMP/err.out" 2>"$TEST_TMP/err.err"
check_eq "--json failure: exit code" 5 $?
check_eq "--json failure: stderr is one JSON line" 1 "$(wc -l <"$TEST_TMP/err.err")"
check_eq "--json failure: the error object" "5 token-not-found list" \
	"$(jq -r '.error | "\(.code) \(.name) \(.command)"' "$TEST_TMP/err.err")"
check_contains "--json failure: message" "$(jq -r .error.message "$TEST_TMP/err.err")" "no-such-token"
check_eq "--json failure: nothing on stdout" 0 "$(wc -c <"$TEST_TMP/err.out")"
out=$(p11e --json status --no-such-option 2>&1 >/dev/null)
check_eq "--json usage error: exit" 2 $?
check_eq "--json usage error: JSON" usage "$(jq -r .error.name <<<"$out")"
out=$(p11e --json frobnicate 2>&1 >/dev/null)
check_eq "--json unknown command: JSON" 2 "$(jq -r .error.code <<<"$out")"
out=$(p11e status --config /nonexistent/config.json 2>&1 >/dev/null)
check_eq "without --json: the plain line" "p11enroll status: config" "${out:0:24}"
# A failing batch with --json: its report is still the one document on stdout.
printf 'email\nok1@example.com\nnot-an-email\n' >"$TEST_TMP/roster.csv"
p11e batch "$TEST_TMP/roster.csv" --token "$TEST_TOKEN_URI" --json --config "$TEST_TMP/config.json" \
	>"$TEST_TMP/batch.out" 2>"$TEST_TMP/batch.err"
check_eq "--json batch with a bad row: exit 1" 1 $?
check_eq "--json batch: stdout is its report alone" 1 "$(jq -s 'length' "$TEST_TMP/batch.out")"
check_eq "--json batch: the error on stderr" failure "$(jq -r .error.name "$TEST_TMP/batch.err")"

# Each part below puts its options after the command, so that it tests its own finding.
# ca cert --json: JSON, not PEM.
out=$(p11e ca cert --json --config "$TEST_TMP/config.json")
check_eq "ca cert --json: exit" 0 $?
check_eq "ca cert --json: one certificate" 1 "$(jq '.certificates | length' <<<"$out")"
jq -r '.certificates[0].pem' <<<"$out" >"$TEST_TMP/ca-json.pem"
ca_fp=$(openssl x509 -in "$CA_DIR/ca.pem" -noout -fingerprint -sha256)
check_eq "ca cert --json: the PEM is the CA's certificate" "$ca_fp" \
	"$(openssl x509 -in "$TEST_TMP/ca-json.pem" -noout -fingerprint -sha256)"
check_eq "ca cert --json: its sha256" "$(echo "${ca_fp#*=}" | tr -d : | tr A-F a-f)" \
	"$(jq -r '.certificates[0].sha256' <<<"$out")"
check_eq "ca cert --json: its subject" "$(openssl x509 -in "$CA_DIR/ca.pem" -noout -subject -nameopt compat | sed 's/^subject=//')" \
	"$(jq -r '.certificates[0].subject' <<<"$out")"
check_contains "ca cert without --json: PEM" "$(p11e ca cert --config "$TEST_TMP/config.json")" "BEGIN CERTIFICATE"

# init-token: the new user PIN from the config's pin_source (no prompt: no terminal here).
echo 87654321 >"$TEST_TMP/so2.pin"
out=$(p11e init-token "pkcs11:model=SoftHSM%20v2" --label second --config "$TEST_TMP/config.json" \
	--so-pin-source "file:$TEST_TMP/so2.pin" 2>&1 </dev/null)
check_eq "init-token: user PIN from the config's pin_source ($out)" 0 $?
check "init-token: the config's PIN logs in" pkcs11-tool --module "$SOFTHSM_MODULE" \
	--token-label second --login --pin env:TEST_PIN --list-objects

# list: UTF-8 subjects as UTF-8, in text and JSON.
out=$(p11e enroll "$TEST_TOKEN_URI" --email renee@example.com --name "Renée Éclair" \
	--config "$TEST_TMP/config.json" 2>&1)
check_eq "enroll with a UTF-8 name ($out)" 0 $?
text=$(p11e list "$TEST_TOKEN_URI" --pin-source "$PIN_SRC")
check_contains "list: UTF-8 subject as UTF-8" "$text" "CN=Renée Éclair"
check_not_contains "list: no \\x escapes of UTF-8" "$text" '\xC3'
json=$(p11e list "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" --json)
check_eq "list --json: UTF-8 subject" 1 \
	"$(jq '[.[] | select(.subject // "" | contains("CN=Renée Éclair"))] | length' <<<"$json")"

# ... while a terminal escape or a bidi override in a certificate or a label
# written by someone else is shown as an escape, never sent to the terminal.
python3 - "$TEST_TMP/evil.der" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil\x1b[31mred\u202eTXT.exe")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256()))
open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.DER))
PY
p11tool_opensc --write-object "$TEST_TMP/evil.der" --type cert --id 0e0e \
	--label "$(printf 'lab\033]0;title\007el')" >/dev/null
check_eq "a certificate with control characters written" 0 $?
text=$(p11e list "$TEST_TOKEN_URI" --pin-source "$PIN_SRC")
check_not_contains "list: no ESC reaches the terminal" "$text" $'\033'
check_not_contains "list: no BEL reaches the terminal" "$text" $'\007'
check_not_contains "list: no bidi override reaches the terminal" "$text" $'\u202e'
check_contains "list: the ESC shown as an escape" "$text" 'CN=evil\x1B[31mred\u202ETXT.exe'
check_contains "list: the label's controls shown as escapes" "$text" 'lab\x1B]0;title\x07el'
json=$(p11e list "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" --json)
check_eq "list --json: the same escapes" 'evil\x1B[31mred\u202ETXT.exe' \
	"$(jq -r '.[] | select(.id == "0e0e") | .subject | sub("^/CN="; "")' <<<"$json")"
finish

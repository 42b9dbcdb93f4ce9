# Shared by the integration tests (sourced; run inside tests/with-softhsm.sh).
# Assertions count and go on; finish prints "N passed, M failed" and sets the
# exit code.
set -uo pipefail
PASSED=0
FAILED=0
PKCS11_TOOL_MODULE=$SOFTHSM_MODULE
export TEST_PIN
TEST_PIN=$(cat "$TEST_PIN_FILE")   # for pkcs11-tool --pin env:TEST_PIN and GNUTLS_PIN
export GNUTLS_PIN=$TEST_PIN
PIN_SRC="file:$TEST_PIN_FILE"
CA_DIR=$TEST_TMP/ca

ok() { PASSED=$((PASSED + 1)); }
bad() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }
check() { # check "what" cmd...: passes when cmd succeeds
	local what=$1; shift
	if "$@" >/dev/null 2>&1; then ok; else bad "$what"; fi
}
check_eq() { # check_eq "what" expected actual
	if [ "$2" = "$3" ]; then ok; else bad "$1: expected '$2', got '$3'"; fi
}
check_contains() { # check_contains "what" haystack needle
	case "$2" in *"$3"*) ok ;; *) bad "$1: '$3' not in: $2" ;; esac
}
check_not_contains() {
	case "$2" in *"$3"*) bad "$1: '$3' found in: $2" ;; *) ok ;; esac
}
finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

p11e() { "$P11ENROLL" "$@"; }

. "${BASH_SOURCE[0]%/*}/ports.sh"
. "${BASH_SOURCE[0]%/*}/stub.sh"

# pkcs11-tool (OpenSC) on the test token, logged in, PIN from the environment.
p11tool_opensc() {
	pkcs11-tool --module "$PKCS11_TOOL_MODULE" --token-label test --login --pin env:TEST_PIN "$@" 2>/dev/null
}

setup_ca() { p11e ca init --dir "$CA_DIR" >/dev/null; }

# on_pg: the test runs over the PostgreSQL store (P11E_TEST_STORE=postgresql, set up by
# tests/with-softhsm.sh); the helpers below then read and write documents through the
# store (tests/tools/store_probe), not files under STATE_DIR.
on_pg() { [ "${P11ENROLL_STORE:-file}" = postgresql ]; }
# The record of an identity, as JSON. The file store keeps a record written since issue 21's
# item 6 in two checksummed slots (docs/store.md#durability): read through the store too.
record() {
	if on_pg || [ "$(head -c 8 "$P11ENROLL_STATE_DIR/identities/${1,,}.json" 2>/dev/null)" = p11eslot ]; then
		"$STORE_PROBE" "" get identity "${1,,}"
	else
		cat "$P11ENROLL_STATE_DIR/identities/${1,,}.json"
	fi
}
p11e_record_file() { echo "$P11ENROLL_STATE_DIR/identities/${1,,}.json"; }
# record_exists ID, no_record ID: the identity has a record, has none, in whichever store.
record_exists() { record "$1" >/dev/null 2>&1; }
no_record() { ! record_exists "$1"; }
# record_names: the identities that have a record, a line each (as the store names them;
# the file store's names unescaped only as far as these tests' addresses need).
record_names() {
	if on_pg; then
		"$STORE_PROBE" "" list identity | cut -d' ' -f1
	else
		ls "$P11ENROLL_STATE_DIR/identities" 2>/dev/null | sed -n 's/\.json$//p'
	fi
}
# audit_lines: the audit chain's entries as stored, a JSON line each (the file store's
# audit.jsonl; over PostgreSQL, `audit show --json`).
audit_lines() {
	if on_pg; then
		"$P11ENROLL" audit show --json
	else
		cat "$P11ENROLL_STATE_DIR/audit.jsonl"
	fi
}
# record_count: how many identities have a record.
record_count() {
	if on_pg; then
		"$STORE_PROBE" "" list identity | wc -l
	else
		ls "$P11ENROLL_STATE_DIR/identities" 2>/dev/null | grep -c '\.json$'
	fi
}
# store_names KIND: the names of the store's documents of KIND (identity, key, pfx, ...), a
# line each, in whichever store.
store_names() { "$STORE_PROBE" "" list "$1" | cut -d' ' -f1; }
# store_grep STRING: the documents of the store (every kind) holding STRING, as KIND/NAME a
# line each, in whichever store: a secret looked for in everything p11enroll keeps.
store_grep() {
	local kind line
	for kind in $("$STORE_PROBE" "" kinds); do
		"$STORE_PROBE" "" list "$kind" 2>/dev/null | while read -r line; do
			"$STORE_PROBE" "" get "$kind" "${line% *}" 2>/dev/null | grep -qF -- "$1" &&
				echo "$kind/${line% *}"
		done
	done
	return 0
}
# ca_docs KIND: the embedded CA's ($CA_DIR) documents of KIND (ca-cert, ca-request), one
# after the other: the file store keeps them in the CA's directory, PostgreSQL in the
# database. ca_doc_remove KIND SUFFIX: those whose name ends in SUFFIX removed.
ca_docs() {
	local line
	if on_pg; then
		"$STORE_PROBE" "" list "$1" | while read -r line; do
			"$STORE_PROBE" "" get "$1" "${line% *}"
			echo
		done
	else
		# Through a file store rooted at the CA's directory: its index
		# entries are kept in two slots (issue 21, item 6), not plain JSON.
		env -u P11ENROLL_CONFIG -u P11ENROLL_STORE P11ENROLL_STATE_DIR="$CA_DIR" \
			"$STORE_PROBE" "" list "$1" | while read -r line; do
			env -u P11ENROLL_CONFIG -u P11ENROLL_STORE P11ENROLL_STATE_DIR="$CA_DIR" \
				"$STORE_PROBE" "" get "$1" "${line% *}"
			echo
		done
	fi
}
ca_doc_remove() {
	local line
	if on_pg; then
		"$STORE_PROBE" "" list "$1" | while read -r line; do
			case ${line% *} in *"$2") "$STORE_PROBE" "" remove "$1" "${line% *}" ;; esac
		done
	else
		rm -f "$CA_DIR/${1}s"/*"$2".json
	fi
}
# all_records: every identity's record, one after the other.
all_records() {
	local id
	for id in $(record_names); do record "$id"; done
}
# record_put ID: the record from stdin, as a restore by hand would; record_remove ID.
record_put() {
	if on_pg; then
		"$STORE_PROBE" "" put identity "${1,,}"
	else
		cat >"$(p11e_record_file "$1").new" && chmod 600 "$(p11e_record_file "$1").new" &&
			mv "$(p11e_record_file "$1").new" "$(p11e_record_file "$1")"
	fi
}
record_remove() {
	if on_pg; then
		"$STORE_PROBE" "" remove identity "${1,,}"
	else
		rm "$(p11e_record_file "$1")"
	fi
}
# record_edit ID FILTER: the record rewritten by jq FILTER, as a hand edit would.
record_edit() {
	local json f
	json=$(record "$1" | jq "$2") || return 1
	if on_pg; then
		printf '%s\n' "$json" | "$STORE_PROBE" "" put identity "${1,,}"
	else
		f=$(p11e_record_file "$1")
		printf '%s\n' "$json" >"$f.new" && chmod 600 "$f.new" && mv "$f.new" "$f"
	fi
}
key_id() { record "$1" | jq -r .key_id; }

# The certificate under CKA_ID $1, read back from the token by pkcs11-tool, as PEM in $2.
token_cert() {
	p11tool_opensc --read-object --type cert --id "$1" -o "$2.der" &&
		openssl x509 -inform DER -in "$2.der" -out "$2"
}

# Objects of a type (privkey, pubkey, cert) under CKA_ID $2.
count_objects() {
	p11tool_opensc --list-objects --type "$1" | grep -ci "^ *ID: *$2\$" || true
}

# RFC 7512 percent-encoding of a hex ID.
pct_id() { echo "$1" | sed 's/../%&/g'; }

# file_vault DIR [MEMBERS]: an escrow officer (DIR/officer.key, DIR/officers.pem) and a
# config DIR/config.json, exported as P11ENROLL_CONFIG: the embedded CA by default and
# the file vault in DIR/escrow, plus MEMBERS (more top-level JSON, e.g. "profiles").
file_vault() {
	VAULT_DIR=$1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/officer.key" -out "$1/officers.pem" \
		-subj "/CN=Escrow Officer" -days 30 -addext keyUsage=critical,keyEncipherment 2>/dev/null
	printf '{ "default_ca": "local:%s",\n  "vault": { "type": "file", "dir": "escrow", "officer_certs_file": "officers.pem" }%s }\n' \
		"$CA_DIR" "${2:+,
  $2}" >"$1/config.json"
	export P11ENROLL_CONFIG=$1/config.json
}
# escrowed IDENTITY: its PFX password as an officer reads it, with any CMS tool.
# IDENTITY is spelled as the file vault names its file ("#" as %23). A vault without a
# "dir" keeps its entries in the config's store: over PostgreSQL, the "escrow" document
# of that name unescaped.
escrowed() {
	local in="$VAULT_DIR/escrow/${1,,}.cms"
	if [ ! -e "$in" ] && on_pg; then
		in=$TEST_TMP/escrowed.cms
		"$STORE_PROBE" "" get escrow "$(printf '%b' "${1//%/\\x}")" >"$in" 2>/dev/null
	fi
	openssl cms -decrypt -inform DER -in "$in" \
		-recip "$VAULT_DIR/officers.pem" -inkey "$VAULT_DIR/officer.key" 2>/dev/null
}
# p11e_logged ARGS...: p11enroll with its output in $OUT and appended to $LOG (which the
# tests search for secrets at the end).
p11e_logged() {
	OUT=$(p11e "$@" 2>&1)
	local rc=$?
	printf '%s\n' "$OUT" >>"$LOG"
	return $rc
}

# store_pfx_file PFX_PATH: the file a record's pfx_path names: a file's path as it is, and a
# PFX kept in the store, "store:NAME", where the file store keeps it (pfx/NAME.p12, the name
# escaped as record files are); over PostgreSQL, a copy of the store's document in TEST_TMP.
store_pfx_file() {
	case $1 in
	store:*) if on_pg; then # a copy, named without the "/" a name may hold
			local copy
			copy=$TEST_TMP/store-pfx/$(printf '%s' "${1#store:}" | tr / _).p12
			mkdir -p "$TEST_TMP/store-pfx"
			"$STORE_PROBE" "" get pfx "${1#store:}" >"$copy" && printf '%s\n' "$copy"
			return
		fi
		printf '%s/pfx/%s.p12\n' "$P11ENROLL_STATE_DIR" "$(printf '%s' "${1#store:}" |
		perl -pe 's/([^a-z0-9\@._+-])/sprintf("%%%02X",ord($1))/ge; s/^\./%2E/')" ;;
	*) printf '%s\n' "$1" ;;
	esac
}
# lock_hold KIND NAME: the store's lock KIND/NAME held by another process (a store_probe in
# the background, $LOCK_HOLDER) until lock_release, in whichever store: a run that needs it
# finds it busy.
lock_hold() {
	rm -f "$TEST_TMP/lock-hold.in" "$TEST_TMP/lock-hold.out" && mkfifo "$TEST_TMP/lock-hold.in"
	"$STORE_PROBE" "" hold "$1" "$2" <"$TEST_TMP/lock-hold.in" >"$TEST_TMP/lock-hold.out" &
	LOCK_HOLDER=$!
	exec 8>"$TEST_TMP/lock-hold.in"
	for _ in $(seq 1 600); do
		grep -q locked "$TEST_TMP/lock-hold.out" 2>/dev/null && return 0
		kill -0 "$LOCK_HOLDER" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
lock_release() { exec 8>&-; wait "$LOCK_HOLDER" 2>/dev/null; }
# state_layout_check WHAT: every file under STATE_DIR is one the file store's documented
# layout names (docs/store.md): nothing else appears there.
state_layout_check() {
	local stray
	stray=$(cd "$P11ENROLL_STATE_DIR" && find . -type f | sed 's|^\./||' | grep -Ev \
		'^(identities/[^/]+\.json|keys/[^/]+\.p8|pfx/[^/]+\.p12|locks/[a-z]+/[^/]+\.lock|audit\.(jsonl|head)|escrow/[^/]+\.(cms|meta)|portal/invites/[0-9a-f]{64}\.json|portal/(sessions|attempts)/[0-9a-f]{64}\.json|portal/secrets/csrf\.key|counters/[^/]+|portal/[^/]+|publish/.*|ca/.*)$')
	check_eq "$1: nothing in the state dir beyond its layout" "" "$stray"
}
# lsan_suppress LIB...: LeakSanitizer also ignores leaks inside these libraries
# (a module that keeps allocations until exit), on top of tests/lsan.supp.
lsan_suppress() {
	cat "$TESTS_DIR/lsan.supp" >"$TEST_TMP/lsan.supp"
	printf 'leak:%s\n' "$@" >>"$TEST_TMP/lsan.supp"
	export LSAN_OPTIONS="suppressions=$TEST_TMP/lsan.supp:print_suppressions=0"
}

# private_p11kit_registry DIR: inside a private mount namespace (unshare -m),
# p11-kit's registry (/usr/share/p11-kit/modules) becomes DIR and
# /etc/pkcs11/modules, where it exists, an empty directory: p11-kit-proxy then
# loads only the module files the test puts in DIR. Says why and fails if not.
private_p11kit_registry() {
	mkdir -p "$1" "$TEST_TMP/p11-kit-empty"
	mount --bind "$1" /usr/share/p11-kit/modules ||
		{ bad "cannot bind-mount a private p11-kit registry"; return 1; }
	if [ -d /etc/pkcs11/modules ]; then
		mount --bind "$TEST_TMP/p11-kit-empty" /etc/pkcs11/modules ||
			{ bad "cannot hide /etc/pkcs11/modules"; return 1; }
	fi
}

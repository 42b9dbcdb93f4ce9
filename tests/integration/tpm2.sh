# A TPM through tpm2-pkcs11 1.9 (Debian's libtpm2-pkcs11-1): swtpm on 127.0.0.1
# (free ports), tpm2-abrmd on a private D-Bus session bus, a tpm2-pkcs11 store
# in $TEST_TMP with one token made by tpm2_ptool; all stopped by a trap. The
# module is loaded directly with --module; TPM2_PKCS11_TCTI points it at our
# abrmd. Then: tokens, init-token (C_InitToken), enrollment for every built-in
# profile and every key type the TPM makes, each key with only its profile's
# usages and paired with its certificate as pkcs11-tool, p11tool and openssl
# see it, and a rerun after a crash at each token step.
TPM_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
TABRMD_TCTI_LIB=/usr/lib/x86_64-linux-gnu/libtss2-tcti-tabrmd.so.0
. "$TESTS_DIR/lib/common.sh"
# CI installs all of these (scripts/deps.sh --test): a missing one fails the test.
for tool in swtpm tpm2-abrmd tpm2_ptool tpm2_getcap dbus-daemon pkcs11-tool p11tool; do
	command -v "$tool" >/dev/null || bad "needs $tool (scripts/deps.sh --test)"
done
for lib in "$TPM_MODULE" "$TABRMD_TCTI_LIB"; do
	[ -e "$lib" ] || bad "needs $lib (scripts/deps.sh --test)"
done
[ "$FAILED" -eq 0 ] || finish

# tests/with-softhsm.sh keeps tpm2-pkcs11, which the package registers with
# p11-kit, out of the tests' registry (and points it at no TPM, quietly): the
# default module (p11-kit-proxy) then lists the other modules without TCTI
# noise (and never a TPM simulator someone runs on the default port 2321, or a
# tabrmd on the user's session bus).
err=$(p11e tokens 2>&1 >/dev/null)
check_not_contains "p11-kit-proxy: no TCTI noise on stderr" "$err" "tcti"
check_not_contains "p11-kit-proxy: no D-Bus noise on stderr" "$err" "dbus"

# The module's libraries (TSS, GLib, SQLite, YAML) keep allocations until exit.
cat "$TESTS_DIR/lsan.supp" >"$TEST_TMP/lsan.supp"
printf 'leak:%s\n' libtpm2_pkcs11 libtss2 libglib libgio libgobject libdbus libsqlite3 \
	libyaml libffi >>"$TEST_TMP/lsan.supp"
export LSAN_OPTIONS="suppressions=$TEST_TMP/lsan.supp:print_suppressions=0"

# --- the TPM: D-Bus session bus, swtpm, tpm2-abrmd, all ours --------------------
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
trap stop_all EXIT
# wait_for SECONDS CMD...: until CMD succeeds (generous: CI is a loaded 2-core machine).
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# A session bus of our own: the default session config wants things a fresh
# CI root may lack (XDG dirs, service files); this one needs only the socket.
BUS=$TEST_TMP/bus
cat >"$TEST_TMP/dbus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$BUS</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$TEST_TMP/dbus.conf" --nofork --nopidfile >"$TEST_TMP/dbus.log" 2>&1 &
PIDS+=($!)
wait_for 60 test -S "$BUS" || { bad "dbus-daemon did not start: $(cat "$TEST_TMP/dbus.log")"; finish; }
export DBUS_SESSION_BUS_ADDRESS=unix:path=$BUS

# swtpm on two free ports (commands, control); the tss2 swtpm TCTI speaks
# TCP only. A port taken between the check and the bind: swtpm exits, retry.
mkdir -p "$TEST_TMP/tpmstate"
SWTPM_PORT=""
for _ in 1 2 3 4 5; do
	port=$(free_port)
	(exec 3<>"/dev/tcp/127.0.0.1/$((port + 1))") 2>/dev/null && continue
	swtpm socket --tpm2 --tpmstate dir="$TEST_TMP/tpmstate" \
		--server type=tcp,port=$port,bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
		--flags not-need-init,startup-clear >>"$TEST_TMP/swtpm.log" 2>&1 &
	pid=$!
	if wait_for 60 bash -c "kill -0 $pid && exec 3<>/dev/tcp/127.0.0.1/$port"; then
		PIDS+=($pid)
		SWTPM_PORT=$port
		break
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
[ -n "$SWTPM_PORT" ] || { bad "swtpm did not start: $(cat "$TEST_TMP/swtpm.log")"; finish; }

# tpm2-abrmd: without a resource manager tpm2_ptool fails ("out of memory for
# object contexts"). It refuses to run as root unless told.
allow_root=$([ "$(id -u)" -eq 0 ] && echo --allow-root)
tpm2-abrmd --session $allow_root --tcti="swtpm:host=127.0.0.1,port=$SWTPM_PORT" \
	>"$TEST_TMP/abrmd.log" 2>&1 &
PIDS+=($!)
export TPM2TOOLS_TCTI=tabrmd:bus_type=session TPM2_PKCS11_TCTI=tabrmd:bus_type=session
wait_for 60 tpm2_getcap properties-fixed ||
	{ bad "tpm2-abrmd did not start: $(cat "$TEST_TMP/abrmd.log")"; finish; }

# The store and its token. Fixture only: tpm2_ptool takes PINs as arguments;
# p11enroll never does.
export TPM2_PKCS11_STORE=$TEST_TMP/tpm2-store
mkdir -p "$TPM2_PKCS11_STORE"
tpm2_ptool init >"$TEST_TMP/ptool.log" 2>&1 &&
	tpm2_ptool addtoken --pid=1 --label=test --sopin=12345678 --userpin="$TEST_PIN" \
		>>"$TEST_TMP/ptool.log" 2>&1 || { bad "tpm2_ptool: $(cat "$TEST_TMP/ptool.log")"; finish; }

# --- tokens and init-token ----------------------------------------------------
# The token is labelled "test" like the SoftHSM one, so common.sh's pkcs11-tool
# helpers (p11tool_opensc, count_objects, token_cert) work on it as they are.
TPM_URI="pkcs11:token=test"
setup_ca
tpm() { p11e "$@" --module "$TPM_MODULE"; }
PKCS11_TOOL_MODULE=$TPM_MODULE
out=$(tpm tokens 2>&1)
check_eq "tokens ($out)" 0 $?
check_contains "tokens: the tpm2_ptool token" "$out" "token:  test"
check_contains "tokens: its model" "$out" "model:  SW   TPM (IBM)"
# tpm2-pkcs11 always offers one more, uninitialised token: C_InitToken makes it.
check_contains "tokens: a blank token to initialise" "$out" "flags:  NOT initialised"
json=$(tpm tokens --json)
check_eq "tokens --json: the token is initialised" true \
	"$(echo "$json" | jq '[.modules[0].tokens[] | select(.label == "test")][0].initialized')"
# Through p11-kit-proxy too: the package's module file (tests/with-softhsm.sh
# keeps it out of every other test's registry), with our TCTI.
cp /dev/null "$HOME/.config/pkcs11/modules/tpm2_pkcs11.module" 2>/dev/null
printf 'module: libtpm2_pkcs11.so\ncritical: no\n' >"$P11KIT_TEST_MODULES/tpm2_pkcs11.module"
out=$(p11e tokens 2>&1)
check_contains "p11-kit-proxy lists the TPM's token" "$out" "model:  SW   TPM (IBM)"

printf '%s\n' 87654321 >"$TEST_TMP/so-pin2"
out=$(tpm init-token "pkcs11:model=SW%20%20%20TPM" --label second \
	--so-pin-source "file:$TEST_TMP/so-pin2" --pin-source "$PIN_SRC" 2>&1)
check_eq "init-token on the TPM's blank token ($out)" 0 $?
check_contains "init-token: done" "$out" "token initialised: pkcs11:token=second"
out=$(tpm tokens 2>&1)
check_contains "init-token: the new token is listed" "$out" "token:  second"
out=$(tpm init-token "pkcs11:token=test" --label again --so-pin-source "file:$TEST_TMP/so-pin2" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "init-token never wipes an initialised token" 9 $?
out=$(tpm enroll pkcs11:token=second --key ec:P-256 --email second@example.com \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll on the token init-token made" 0 $?

# --- enrollment: every profile, every key type the TPM makes ------------------
enroll_tpm() { # enroll_tpm KEY PROFILE [more options]
	local key=$1 profile=$2
	shift 2
	tpm enroll "$TPM_URI" --key "$key" --profile "$profile" --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" "$@" 2>&1
}
# The "Usage:" pkcs11-tool shows for the object of type $1 under CKA_ID $2.
token_usage() {
	p11tool_opensc --list-objects --type "$1" | awk -v id="$2" '
		/Object;/ { cur = "" } $1 == "ID:" { cur = $2 }
		$1 == "Usage:" && cur == id { sub(/^ *Usage: */, ""); print }'
}
# The token's public key under CKA_ID $1 is the one in certificate $2 (as
# SubjectPublicKeyInfo DER). pkcs11-tool for RSA and P-256; OpenSC 0.23 cannot
# rebuild other curves' keys, p11tool can (3 s a call here: only for those).
pubkeys_match() {
	local id=$1 pem=$2 want got
	want=$(openssl x509 -in "$pem" -noout -pubkey | openssl pkey -pubin -outform DER | od -An -tx1)
	if openssl x509 -in "$pem" -noout -text | grep -q 'P-256\|rsaEncryption'; then
		p11tool_opensc --read-object --type pubkey --id "$id" -o "$TEST_TMP/pub.der"
		got=$(od -An -tx1 "$TEST_TMP/pub.der")
	else
		got=$(p11tool --provider "$TPM_MODULE" --export-pubkey \
			"$TPM_URI;id=$(pct_id "$id");type=public" 2>/dev/null |
			openssl pkey -pubin -outform DER | od -An -tx1)
	fi
	[ -n "$want" ] && [ "$want" = "$got" ]
}
ENROLLED=()
# Every built-in profile (p11enroll(1), docs/config.md) with its wanted usages
# on the private key, as pkcs11-tool shows them (EC encryption is key agreement).
declare -A RSA_USAGE=([smime]="decrypt, sign, unwrap" [smime-sign]="sign"
	[smime-encrypt]="decrypt, unwrap" [client-auth]="sign" [tls-server]="sign")
declare -A EC_USAGE=([smime]="sign, derive" [smime-sign]="sign"
	[smime-encrypt]="derive" [client-auth]="sign" [tls-server]="sign")
# Every profile with P-256 and RSA 2048 (their usages differ); the larger
# sizes with smime, every usage at once (RSA 3072 takes swtpm 2-7 s).
ALL_PROFILES="smime smime-sign smime-encrypt client-auth tls-server"
for key in ec:P-256 rsa:2048 ec:P-384 rsa:3072; do
	profiles=$ALL_PROFILES
	case $key in ec:P-384 | rsa:3072) profiles=smime ;; esac
	for profile in $profiles; do
		name=$(echo "$profile-${key/:/-}" | tr A-Z a-z)
		if [ "$profile" = tls-server ]; then
			ident=$name.example.com
			out=$(enroll_tpm "$key" "$profile" --dns "$ident")
		else
			ident=$name@example.com
			out=$(enroll_tpm "$key" "$profile" --email "$ident")
		fi
		check_eq "enroll $key $profile ($out)" 0 $?
		ENROLLED+=("$ident")
		id=$(key_id "$ident")
		[ "${key%%:*}" = rsa ] && want=${RSA_USAGE[$profile]} || want=${EC_USAGE[$profile]}
		# pkcs11-tool prints usages in its own order: compare as sets.
		check_eq "$key $profile: the private key's usages are the profile's" \
			"$(echo "$want" | tr -d ' ' | tr , '\n' | sort | xargs)" \
			"$(token_usage privkey "$id" | tr -d ' ' | tr , '\n' | sort | xargs)"
		token_cert "$id" "$TEST_TMP/$name.pem"
		check "$key $profile: the token's public key is the certificate's" \
			pubkeys_match "$id" "$TEST_TMP/$name.pem"
	done
done

# tpm2-pkcs11 refuses the template that states unwanted usages (it says so on
# stderr, "attr mismatch"), after the TPM made the key: a process asks it so
# once, then for the wanted usages only.
printf '%s\n' email,profile,key batch-1@example.com,smime-sign,ec:P-256 \
	batch-2@example.com,smime-sign,ec:P-256 batch-3@example.com,client-auth,rsa:2048 \
	>"$TEST_TMP/roster.csv"
out=$(tpm batch "$TEST_TMP/roster.csv" --token "$TPM_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "batch of three rows on the TPM ($out)" 0 $?
check_eq "batch: the every-usage template was tried once" 1 "$(grep -c 'attr mismatch' <<<"$out")"
ENROLLED+=(batch-1@example.com batch-2@example.com batch-3@example.com)

# The others: a clear exit 11 where the mechanism says no.
out=$(enroll_tpm rsa:4096 smime-sign --email big@example.com)
check_eq "rsa:4096: the TPM makes RSA keys up to 3072 bits: exit 11" 11 $?
check_contains "... named" "$out" "makes RSA keys of 1024 to 3072 bits, not 4096"
out=$(enroll_tpm ed25519 smime-sign --email ed@example.com)
check_eq "ed25519: no EdDSA keygen: exit 11" 11 $?
check_contains "... named" "$out" "no CKM_EC_EDWARDS_KEY_PAIR_GEN"
# P-521: the mechanism allows it and the TPM makes the key, but tpm2-pkcs11
# 1.9 writes its CKA_EC_POINT with a broken DER length (04 85 04... for 133
# bytes, measured) and cannot sign with it either: the enrollment fails
# before any CSR, and forget removes the key.
out=$(enroll_tpm ec:P-521 smime-sign --email p521@example.com)
check_eq "ec:P-521: tpm2-pkcs11 1.9's point cannot be read: exit 1" 1 $?
check_contains "... named" "$out" "cannot read the public key"
out=$(tpm forget p521@example.com --pin-source "$PIN_SRC" 2>&1)
check_eq "ec:P-521: forget removes its key ($out)" 0 $?

# --- the certificate paired with its key, as other tools see it --------------
for ident in smime-ec-p-256@example.com smime-rsa-2048@example.com \
	smime-rsa-3072@example.com smime-ec-p-384@example.com tls-server-ec-p-256.example.com; do
	id=$(key_id "$ident")
	check_eq "pkcs11-tool: one private key under $ident's ID" 1 "$(count_objects privkey "$id")"
	check_eq "pkcs11-tool: one public key under $ident's ID" 1 "$(count_objects pubkey "$id")"
	check_eq "pkcs11-tool: one certificate under $ident's ID" 1 "$(count_objects cert "$id")"
	uri="$TPM_URI;id=$(pct_id "$id")"
	check_eq "p11tool: a private key under $ident's ID" 1 \
		"$(p11tool --provider "$TPM_MODULE" --login --list-privkeys "$uri" 2>/dev/null | grep -c '^Object')"
	check_eq "p11tool: a certificate under $ident's ID" 1 \
		"$(p11tool --provider "$TPM_MODULE" --list-all-certs "$uri" 2>/dev/null | grep -c '^Object')"
done

# OpenSSL verifies, with the certificate's public key, what the token key
# signs (pkcs11-tool). Not through the pkcs11 engine: measured, it cannot load
# a tpm2-pkcs11 key ("Could not start Auth Session with the TPM", then a
# segfault): `-engine` makes libp11 OpenSSL's default RSA method, and the
# module's TSS, in the same process, needs OpenSSL's own RSA for its session.
echo "signed on a TPM" >"$TEST_TMP/msg.txt"
for ident in smime-sign-ec-p-256@example.com smime-sign-rsa-2048@example.com; do
	id=$(key_id "$ident")
	pem=$TEST_TMP/${ident%@*}.pem
	[ "${ident#*rsa}" != "$ident" ] && mech=SHA256-RSA-PKCS || mech=ECDSA-SHA256
	check "$ident: the token signs ($mech)" \
		p11tool_opensc --sign --mechanism "$mech" --signature-format openssl --id "$id" \
		-i "$TEST_TMP/msg.txt" -o "$TEST_TMP/$id.sig"
	openssl x509 -in "$pem" -noout -pubkey >"$TEST_TMP/$id.pub"
	check "$ident: openssl verifies it with the certificate's key" \
		openssl dgst -sha256 -verify "$TEST_TMP/$id.pub" -signature "$TEST_TMP/$id.sig" \
		"$TEST_TMP/msg.txt"
	echo tampered >"$TEST_TMP/other.txt"
	openssl dgst -sha256 -verify "$TEST_TMP/$id.pub" -signature "$TEST_TMP/$id.sig" \
		"$TEST_TMP/other.txt" >/dev/null 2>&1
	check_eq "$ident: ... and not over other content" 1 $?
done

# --- a crash at each token step, then a rerun: one key, one certificate ------
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	for point in key-made key-renamed cert-written; do
		ident="crash-$point@example.com"
		P11ENROLL_TEST_CRASH_AFTER=$point enroll_tpm ec:P-256 smime --email "$ident" >/dev/null
		check_eq "$point: the injected crash happened" 86 $?
		out=$(enroll_tpm ec:P-256 smime --email "$ident")
		check_eq "$point: rerun finishes ($out)" 0 $?
		id=$(key_id "$ident")
		check_eq "$point: one private key" 1 "$(count_objects privkey "$id")"
		check_eq "$point: one public key" 1 "$(count_objects pubkey "$id")"
		check_eq "$point: one certificate" 1 "$(count_objects cert "$id")"
		ENROLLED+=("$ident")
	done
else
	bad "the crash tests need a build with -DP11ENROLL_TEST_HOOKS=ON"
fi
# Nothing orphaned: one private key on the token per enrolled identity.
check_eq "private keys on the TPM's token" "${#ENROLLED[@]}" \
	"$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')"
finish

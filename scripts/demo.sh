#!/usr/bin/env bash
# The main job, end to end, for a newcomer: installs the dependencies, builds
# p11enroll, creates a SoftHSM token (from softhsm-conf/) and an embedded CA in
# ./demo, enrolls alice@example.com onto the token and shows what landed there.
# Rerunning starts from a fresh ./demo.
#
# With --installed it builds nothing: it runs the p11enroll on the PATH (the
# Debian package's /usr/bin/p11enroll, scripts/package.sh) with the SoftHSM
# template the package installs, and needs only the demo's own tools.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--installed" ]; then
	bash scripts/deps.sh --demo-tools
	p11enroll=$(command -v p11enroll) || { echo "demo: no p11enroll installed" >&2; exit 1; }
	conf_template=/usr/share/p11enroll/softhsm-conf/softhsm2.conf.in
	echo "demo: the installed $p11enroll ($("$p11enroll" --version | head -1))"
else
	bash scripts/deps.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j"$(nproc)" >/dev/null
	p11enroll=$PWD/build/p11enroll
	conf_template=softhsm-conf/softhsm2.conf.in
fi

rm -rf demo
mkdir -p demo/tokens
umask 077
sed "s|@TOKENDIR@|$PWD/demo/tokens|" "$conf_template" >demo/softhsm2.conf
export SOFTHSM2_CONF=$PWD/demo/softhsm2.conf P11ENROLL_STATE_DIR=$PWD/demo/state
# Demo PINs, random, in 0600 files: p11enroll never takes a PIN as an argument.
openssl rand -hex 4 >demo/user.pin
openssl rand -hex 8 >demo/so.pin

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "p11enroll tokens  (default module: p11-kit-proxy)"
"$p11enroll" tokens
step "p11enroll init-token: label 'demo', PINs from files"
"$p11enroll" init-token "pkcs11:model=SoftHSM%20v2" --label demo \
	--so-pin-source file:demo/so.pin --pin-source file:demo/user.pin
step "p11enroll ca init: an embedded CA in demo/ca"
"$p11enroll" ca init --dir demo/ca --subject "/O=Example/CN=Example Mail CA"
step "p11enroll enroll: key on the token, CSR signed there, certificate back"
"$p11enroll" enroll "pkcs11:token=demo" --email alice@example.com --name "Alice Example" \
	--ca local:demo/ca --pin-source file:demo/user.pin
step "p11enroll list: what the token holds now"
"$p11enroll" list "pkcs11:token=demo" --pin-source file:demo/user.pin
step "pkcs11-tool (OpenSC) sees the same objects"
DEMO_PIN=$(cat demo/user.pin) # to pkcs11-tool through its environment, not its argv
export DEMO_PIN
pkcs11-tool --module /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so --token-label demo \
	--login --pin env:DEMO_PIN --list-objects 2>/dev/null | sed 's/^/  /'
step "openssl verify -purpose smimesign, on the certificate read back from the token"
id=$("$p11enroll" status --json | jq -r '.[0].key_id')
pkcs11-tool --module /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so --token-label demo \
	--read-object --type cert --id "$id" -o demo/alice.der >/dev/null 2>&1
openssl x509 -inform DER -in demo/alice.der -out demo/alice.pem
openssl verify -CAfile demo/ca/ca.pem -purpose smimesign demo/alice.pem
openssl x509 -in demo/alice.pem -noout -subject -ext subjectAltName,keyUsage,extendedKeyUsage
step "p11enroll status"
"$p11enroll" status
